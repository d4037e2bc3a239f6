//! Builders of IPVS model values for tests, in one place for every crate's tests (feature
//! `test-util`): service ids and specs, destinations, wanted tables, and kernel dumps equal to a
//! wanted table. The defaults are the kernel's (no flags, no timeout, a host netmask, masquerading,
//! no thresholds); a test that needs another value changes the one field it is about.
//!
//! The reconciler's fixtures live here too: the managed range 10.0.0.0/24 ([`scope`]), plan
//! options with a 50 % delete guard ([`options`]), a fixed time ([`NOW`]) and foreign services
//! outside the range ([`foreign`]).

// Builders parse literals the test wrote: a bad one is a bug in the test, so they unwrap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use lb_config::{Protocol, RealServerKey, ServiceKey};

use crate::model::{
    DestinationSpec, Family, IpvsTable, KernelForward, ObservedDestination, ObservedService,
    ServiceId, ServiceSpec, Stats,
};
use crate::reconcile::{PlanOptions, Scope};
use crate::wanted::WantedService;

/// A wanted table: what the reconciler is asked to make the kernel hold.
pub type Wanted = BTreeMap<ServiceId, WantedService>;

/// The time the reconciler tests pass as "now" (seconds since the epoch).
pub const NOW: u64 = 1_700_000_000;

/// The managed VIP range of the reconciler tests: 10.0.0.0/24.
pub fn scope() -> Scope {
    Scope::new(vec!["10.0.0.0/24".parse().unwrap()])
}

/// Plan options: deletes guarded at half the managed services, 300 s TCP drains, no UDP drains.
pub fn options() -> PlanOptions {
    PlanOptions {
        max_delete_share: 0.5,
        force: false,
        drain_timeout_secs: 300,
        udp_drain_timeout_secs: 0,
    }
}

/// The service `vip:port` over `protocol`.
pub fn svc(vip: &str, protocol: Protocol, port: u16) -> ServiceId {
    ServiceId::Inet(ServiceKey {
        vip: vip.parse().unwrap(),
        protocol,
        port,
    })
}

/// TCP service on `10.0.0.<n>:80` (inside [`scope`]).
pub fn tcp(n: u8) -> ServiceId {
    svc(&format!("10.0.0.{n}"), Protocol::Tcp, 80)
}

/// An IPv4 firewall-mark service.
pub fn fwmark(mark: u32) -> ServiceId {
    ServiceId::Fwmark {
        family: Family::Inet,
        mark,
    }
}

/// The real server `addr:port`.
pub fn rs(addr: &str, port: u16) -> RealServerKey {
    lb_config::test_util::real_server_key(addr, port)
}

/// A service with `scheduler`, no flags, no timeout and a host netmask (/32 or /128).
pub fn spec(id: ServiceId, scheduler: &str) -> ServiceSpec {
    let v4 = match id {
        ServiceId::Inet(k) => k.vip.is_ipv4(),
        ServiceId::Fwmark { family, .. } => family == Family::Inet,
    };
    ServiceSpec {
        id,
        scheduler: scheduler.to_owned().into(),
        flags: 0,
        timeout: 0,
        netmask_prefix: if v4 { 32 } else { 128 },
        pe_name: None,
    }
}

/// A masquerading destination with `weight`, no thresholds and no tunnel.
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
pub fn wanted_service(id: ServiceId, dests: &[(&str, u32)]) -> WantedService {
    WantedService {
        spec: spec(id, "rr"),
        destinations: std::sync::Arc::new(
            dests
                .iter()
                .map(|(addr, w)| (rs(addr, 8080), dest(rs(addr, 8080), *w)))
                .collect(),
        ),
    }
}

/// The wanted table of these services.
pub fn wanted(services: Vec<WantedService>) -> Wanted {
    services.into_iter().map(|t| (t.spec.id, t)).collect()
}

/// A destination as a dump shows it: no connections, zero counters.
pub fn observed_dest(spec: DestinationSpec) -> ObservedDestination {
    ObservedDestination {
        spec,
        active_conns: 0,
        inactive_conns: 0,
        persist_conns: 0,
        stats: Stats::default(),
    }
}

/// A service as a dump shows it after a sync to `t`.
pub fn observed_service(t: &WantedService) -> ObservedService {
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

/// A dump equal to the wanted table (what the kernel has after a successful sync).
pub fn observed(wanted: &Wanted) -> IpvsTable {
    IpvsTable {
        services: wanted
            .iter()
            .map(|(id, t)| (*id, std::sync::Arc::new(observed_service(t))))
            .collect(),
    }
}

/// Foreign services outside [`scope`]: another VIP and a fwmark service, each with one
/// destination.
pub fn foreign() -> IpvsTable {
    let other = wanted_service(
        svc("192.168.1.1", Protocol::Tcp, 443),
        &[("192.168.2.1", 1)],
    );
    let mark = wanted_service(fwmark(7), &[("192.168.2.2", 1)]);
    observed(&wanted(vec![other, mark]))
}

/// Sets the connection counts of one destination of a dump (the test's traffic).
pub fn with_conns(
    table: &mut IpvsTable,
    id: ServiceId,
    key: RealServerKey,
    active: u32,
    inactive: u32,
) {
    let d = table
        .service_mut(&id)
        .and_then(|s| s.destinations.get_mut(&key))
        .expect("destination exists");
    d.active_conns = active;
    d.inactive_conns = inactive;
}
