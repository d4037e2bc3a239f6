//! Desired state -> the wanted table: the kernel specs the reconciler aims for.
//!
//! Contract: pure. No I/O, no clock. The mapping from operator vocabulary (scheduler, flags,
//! persistence, forwarding method, tunnel type) to IPVS values lives here and only here, so the
//! planner compares like with like.
//!
//! Decisions:
//! - Plain IPIP tunnels map to `tunnel: None`: nothing tunnel-specific is sent, which every
//!   kernel accepts and which means IPIP (`tun_type` 0). Kernels >= 5.2 report `tun_type` 0 for
//!   such destinations, so comparisons go through [`normalized_tunnel`], which treats `None` and
//!   `Some(IPIP)` alike.
//! - Direct routing and tunnelling cannot rewrite ports, so their destinations use the virtual
//!   port (as ipvsadm does). If two real servers of one DR/TUN service then collide on the same
//!   address, the first in key order wins; the config layer is expected to reject that case.

use std::collections::BTreeMap;
use std::sync::Arc;

use lb_config::{DesiredState, ForwardMethod, RealServerKey, TunnelType, VirtualService};
use serde::{Deserialize, Serialize};

use crate::model::{
    DestinationSpec, IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2, KernelForward,
    ServiceId, ServiceSpec, TunnelSpec,
};

/// `IPVS_TUNNEL_TYPE_IPIP`: what the kernel reports for a tunnel destination without settings.
pub const TUNNEL_IPIP: TunnelSpec = TunnelSpec {
    tun_type: 0,
    port: 0,
    flags: 0,
};

/// One virtual service as it should be in the kernel, with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantedService {
    /// The service settings to program.
    pub spec: ServiceSpec,
    /// The destinations to program, by the key the kernel will report them under; shared, so
    /// that the wanted table after one changed service copies no other service's destinations.
    pub destinations: Arc<BTreeMap<RealServerKey, DestinationSpec>>,
}

impl WantedService {
    /// The destinations to change in place (copied first if another table shares them).
    pub fn destinations_mut(&mut self) -> &mut BTreeMap<RealServerKey, DestinationSpec> {
        Arc::make_mut(&mut self.destinations)
    }
}

/// Maps the desired state to the kernel table we want, keyed like a dump, so that planning is a
/// plain comparison of two maps.
pub fn wanted_table(desired: &DesiredState) -> BTreeMap<ServiceId, WantedService> {
    wanted_table_after(desired, None)
}

/// [`wanted_table`], mapping again only the services that are not the very ones (the same
/// shared value) of `previous`, a desired state and the wanted table made from it: after one
/// changed ConfigMap key the daemon maps one service instead of 10,000.
pub fn wanted_table_after(
    desired: &DesiredState,
    previous: Option<(&DesiredState, &BTreeMap<ServiceId, WantedService>)>,
) -> BTreeMap<ServiceId, WantedService> {
    desired
        .services
        .values()
        .map(|vs| {
            let id = ServiceId::Inet(vs.key);
            let same = previous.and_then(|(before, wanted)| {
                let was = before.services.get(&vs.key)?;
                if Arc::ptr_eq(was, vs) {
                    wanted.get(&id).cloned()
                } else {
                    None
                }
            });
            (id, same.unwrap_or_else(|| wanted_service(vs)))
        })
        .collect()
}

/// Maps one virtual service; public so that callers can show what one entry becomes.
pub fn wanted_service(vs: &VirtualService) -> WantedService {
    let mut destinations = BTreeMap::new();
    let forward = kernel_forward(vs.forward);
    let tunnel = tunnel_spec(vs.forward, vs.tunnel);
    for rs in vs.real_servers.values() {
        let key = RealServerKey {
            addr: rs.key.addr,
            port: if vs.forward.rewrites_port() {
                rs.key.port
            } else {
                vs.key.port
            },
        };
        destinations.entry(key).or_insert(DestinationSpec {
            key,
            forward,
            weight: rs.weight,
            upper_threshold: rs.upper_threshold,
            lower_threshold: rs.lower_threshold,
            tunnel,
        });
    }
    WantedService {
        spec: service_spec(vs),
        destinations: Arc::new(destinations),
    }
}

fn service_spec(vs: &VirtualService) -> ServiceSpec {
    let full_prefix = if vs.key.vip.is_ipv4() { 32 } else { 128 };
    let mut flags = 0;
    if vs.persistence.is_some() {
        flags |= IP_VS_SVC_F_PERSISTENT;
    }
    if vs.scheduler.takes_hash_flags() {
        if vs.scheduler_flags.fallback {
            flags |= IP_VS_SVC_F_SCHED1;
        }
        if vs.scheduler_flags.port {
            flags |= IP_VS_SVC_F_SCHED2;
        }
    }
    ServiceSpec {
        id: ServiceId::Inet(vs.key),
        scheduler: vs.scheduler.as_str().into(),
        flags,
        timeout: vs.persistence.map_or(0, |p| p.timeout_secs),
        netmask_prefix: vs
            .persistence
            .and_then(|p| p.prefix_len)
            .unwrap_or(full_prefix),
        pe_name: None,
    }
}

/// FullNAT is masquerading in the IPVS table; its SNAT half is a netfilter rule.
fn kernel_forward(method: ForwardMethod) -> KernelForward {
    match method {
        ForwardMethod::Nat | ForwardMethod::Fullnat => KernelForward::Masq,
        ForwardMethod::Dr => KernelForward::Route,
        ForwardMethod::Tunnel => KernelForward::Tunnel,
    }
}

fn tunnel_spec(method: ForwardMethod, tunnel: Option<TunnelType>) -> Option<TunnelSpec> {
    if method != ForwardMethod::Tunnel {
        return None;
    }
    match tunnel.unwrap_or(TunnelType::Ipip) {
        TunnelType::Ipip => None,
        TunnelType::Gue { port } => Some(TunnelSpec {
            tun_type: 1,
            port,
            flags: 0,
        }),
        TunnelType::Gre => Some(TunnelSpec {
            tun_type: 2,
            port: 0,
            flags: 0,
        }),
    }
}

/// The tunnel settings that matter for comparison: none unless the destination tunnels, and
/// IPIP when a tunnel destination carries no settings (old kernels, or our IPIP requests).
pub fn normalized_tunnel(dest: &DestinationSpec) -> Option<TunnelSpec> {
    match dest.forward {
        KernelForward::Tunnel => Some(dest.tunnel.unwrap_or(TUNNEL_IPIP)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use lb_config::test_util::{real_server, real_server_key, virtual_service, with_real_servers};
    use lb_config::{Persistence, RealServer, Scheduler, SchedulerFlags};

    use super::*;

    fn service(forward: ForwardMethod, tunnel: Option<TunnelType>) -> VirtualService {
        let real_servers = [("10.0.1.11", 8080), ("10.0.1.12", 8081)].map(|(a, p)| RealServer {
            weight: 3,
            upper_threshold: 100,
            lower_threshold: 10,
            ..real_server(real_server_key(a, p))
        });
        let plain = with_real_servers(virtual_service("10.0.0.100", 80, forward), real_servers);
        VirtualService {
            scheduler: Scheduler::Mh,
            scheduler_flags: SchedulerFlags {
                fallback: true,
                port: true,
            },
            persistence: Some(Persistence {
                timeout_secs: 300,
                prefix_len: Some(24),
            }),
            tunnel,
            ..plain
        }
    }

    #[test]
    fn nat_service_maps_flags_persistence_and_ports() {
        let vs = service(ForwardMethod::Fullnat, None);
        let t = wanted_service(&vs);
        assert_eq!(t.spec.scheduler, "mh");
        assert_eq!(
            t.spec.flags,
            IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2
        );
        assert_eq!((t.spec.timeout, t.spec.netmask_prefix), (300, 24));
        let ports: Vec<u16> = t.destinations.keys().map(|k| k.port).collect();
        assert_eq!(ports, vec![8080, 8081]);
        let d = t.destinations.values().next().unwrap();
        assert_eq!(d.forward, KernelForward::Masq);
        assert_eq!(
            (d.weight, d.upper_threshold, d.lower_threshold),
            (3, 100, 10)
        );
        assert_eq!(d.tunnel, None);
    }

    #[test]
    fn hash_flags_ignored_for_other_schedulers_and_no_persistence_defaults() {
        let mut vs = service(ForwardMethod::Nat, None);
        vs.scheduler = Scheduler::Rr;
        vs.persistence = None;
        let t = wanted_service(&vs);
        assert_eq!(
            (t.spec.flags, t.spec.timeout, t.spec.netmask_prefix),
            (0, 0, 32)
        );
        vs.key.vip = "2001:db8::1".parse().unwrap();
        assert_eq!(wanted_service(&vs).spec.netmask_prefix, 128);
    }

    #[test]
    fn dr_and_tunnel_use_the_virtual_port_and_tunnel_settings() {
        let t = wanted_service(&service(ForwardMethod::Dr, None));
        assert!(t.destinations.keys().all(|k| k.port == 80));
        assert!(
            t.destinations
                .values()
                .all(|d| d.forward == KernelForward::Route)
        );

        let ipip = wanted_service(&service(ForwardMethod::Tunnel, Some(TunnelType::Ipip)));
        let d = ipip.destinations.values().next().unwrap();
        assert_eq!((d.forward, d.tunnel), (KernelForward::Tunnel, None));
        assert_eq!(normalized_tunnel(d), Some(TUNNEL_IPIP));

        let gue = wanted_service(&service(
            ForwardMethod::Tunnel,
            Some(TunnelType::Gue { port: 6080 }),
        ));
        let d = gue.destinations.values().next().unwrap();
        assert_eq!(
            d.tunnel,
            Some(TunnelSpec {
                tun_type: 1,
                port: 6080,
                flags: 0
            })
        );

        let gre = wanted_service(&service(ForwardMethod::Tunnel, Some(TunnelType::Gre)));
        let d = gre.destinations.values().next().unwrap();
        assert_eq!(d.tunnel.map(|t| t.tun_type), Some(2));
    }

    #[test]
    fn colliding_dr_destinations_keep_the_first() {
        let mut vs = service(ForwardMethod::Dr, None);
        let a = real_server_key("10.0.1.11", 9999);
        vs.real_servers.insert(
            a,
            RealServer {
                weight: 9,
                ..real_server(a)
            },
        );
        let t = wanted_service(&vs);
        assert_eq!(t.destinations.len(), 2);
        let k = RealServerKey {
            addr: a.addr,
            port: 80,
        };
        assert_eq!(
            t.destinations[&k].weight, 3,
            "8080 sorts before 9999 and wins"
        );
    }

    #[test]
    fn table_is_keyed_by_inet_id() {
        let vs = service(ForwardMethod::Nat, None);
        let desired = DesiredState {
            services: BTreeMap::from([(vs.key, std::sync::Arc::new(vs.clone()))]),
            vips: BTreeSet::new(),
            netfilter: Default::default(),
        };
        let table = wanted_table(&desired);
        assert_eq!(
            table.keys().copied().collect::<Vec<_>>(),
            vec![ServiceId::Inet(vs.key)]
        );
    }

    /// Mapping against the state before gives what a full mapping gives, and shares the
    /// destinations of every service that is the same shared value. Mutation: reusing a wanted
    /// service by key alone (without the pointer check) fails the equality.
    #[test]
    fn mapping_after_an_edit_equals_a_full_mapping() {
        let a = service(ForwardMethod::Nat, None);
        let mut b = a.clone();
        b.key.port = 81;
        let before = lb_config::test_util::desired_state([a.clone(), b.clone()]);
        let wanted_before = wanted_table(&before);
        let mut after = before.clone();
        let mut edited = b.clone();
        edited
            .real_servers
            .values_mut()
            .for_each(|rs| rs.weight = 7);
        after.services.insert(b.key, Arc::new(edited));
        let mapped = wanted_table_after(&after, Some((&before, &wanted_before)));
        assert_eq!(mapped, wanted_table(&after));
        let id = |vs: &VirtualService| ServiceId::Inet(vs.key);
        assert!(Arc::ptr_eq(
            &mapped[&id(&a)].destinations,
            &wanted_before[&id(&a)].destinations
        ));
        assert!(!Arc::ptr_eq(
            &mapped[&id(&b)].destinations,
            &wanted_before[&id(&b)].destinations
        ));
    }
}
