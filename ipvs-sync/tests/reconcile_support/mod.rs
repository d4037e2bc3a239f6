//! Builders shared by the reconciler's integration tests: small targets and dumps in the
//! managed range 10.0.0.0/24, plus foreign services outside it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use lb_config::{Protocol, RealServerKey, ServiceKey};
use lb_ipvs_sync::reconcile::{PlanOptions, Scope};
use lb_ipvs_sync::target::TargetService;
use lb_ipvs_sync::{
    DestinationSpec, Family, IpvsTable, KernelForward, ObservedDestination, ObservedService,
    ServiceId, ServiceSpec, Stats,
};

pub type Target = BTreeMap<ServiceId, TargetService>;

pub const NOW: u64 = 1_700_000_000;

pub fn scope() -> Scope {
    Scope::new(vec!["10.0.0.0/24".parse().unwrap()])
}

pub fn options() -> PlanOptions {
    PlanOptions {
        max_delete_share: 0.5,
        force: false,
        drain_timeout_secs: 300,
        udp_drain_timeout_secs: 0,
    }
}

pub fn svc(vip: &str, protocol: Protocol, port: u16) -> ServiceId {
    ServiceId::Inet(ServiceKey {
        vip: vip.parse().unwrap(),
        protocol,
        port,
    })
}

/// TCP service on `10.0.0.<n>:80`.
pub fn tcp(n: u8) -> ServiceId {
    svc(&format!("10.0.0.{n}"), Protocol::Tcp, 80)
}

pub fn fwmark(mark: u32) -> ServiceId {
    ServiceId::Fwmark {
        family: Family::Inet,
        mark,
    }
}

pub fn rs(addr: &str, port: u16) -> RealServerKey {
    RealServerKey {
        addr: addr.parse().unwrap(),
        port,
    }
}

pub fn spec(id: ServiceId, scheduler: &str) -> ServiceSpec {
    let v4 = match id {
        ServiceId::Inet(k) => k.vip.is_ipv4(),
        ServiceId::Fwmark { family, .. } => family == Family::Inet,
    };
    ServiceSpec {
        id,
        scheduler: scheduler.into(),
        flags: 0,
        timeout: 0,
        netmask_prefix: if v4 { 32 } else { 128 },
        pe_name: None,
    }
}

pub fn dest(key: RealServerKey, weight: u32) -> DestinationSpec {
    DestinationSpec {
        key,
        forward: KernelForward::Masq,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
        tunnel: None,
    }
}

/// A round-robin NAT service with these `(address, weight)` real servers on port 8080.
pub fn target_service(id: ServiceId, dests: &[(&str, u32)]) -> TargetService {
    TargetService {
        spec: spec(id, "rr"),
        destinations: dests
            .iter()
            .map(|(addr, w)| (rs(addr, 8080), dest(rs(addr, 8080), *w)))
            .collect(),
    }
}

pub fn target(services: Vec<TargetService>) -> Target {
    services.into_iter().map(|t| (t.spec.id, t)).collect()
}

pub fn observed_dest(spec: DestinationSpec) -> ObservedDestination {
    ObservedDestination {
        spec,
        active_conns: 0,
        inactive_conns: 0,
        persist_conns: 0,
        stats: Stats::default(),
    }
}

pub fn observed_service(t: &TargetService) -> ObservedService {
    ObservedService {
        spec: t.spec.clone(),
        stats: Stats::default(),
        destinations: t
            .destinations
            .iter()
            .map(|(k, d)| (*k, observed_dest(d.clone())))
            .collect(),
    }
}

/// A dump equal to the target (what the kernel has after a successful sync).
pub fn observed(target: &Target) -> IpvsTable {
    IpvsTable {
        services: target
            .iter()
            .map(|(id, t)| (*id, observed_service(t)))
            .collect(),
    }
}

/// Foreign services: another VIP and a fwmark service, each with one destination.
pub fn foreign() -> IpvsTable {
    let other = target_service(
        svc("192.168.1.1", Protocol::Tcp, 443),
        &[("192.168.2.1", 1)],
    );
    let mut mark = target_service(fwmark(7), &[("192.168.2.2", 1)]);
    mark.spec.id = fwmark(7);
    observed(&target(vec![other, mark]))
}

pub fn with_conns(
    table: &mut IpvsTable,
    id: ServiceId,
    key: RealServerKey,
    active: u32,
    inactive: u32,
) {
    let d = table
        .services
        .get_mut(&id)
        .and_then(|s| s.destinations.get_mut(&key))
        .expect("destination exists");
    d.active_conns = active;
    d.inactive_conns = inactive;
}
