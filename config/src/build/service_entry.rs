//! Resolving a Service entry (`VIP: ns/svc:PORTS`) into one virtual service per Service port.
//!
//! Pure. Real servers are the endpoints of the VIP's address family with the resolved target
//! port; ready endpoints get the weight, serving-but-terminating ones weight 0 (drain), the rest
//! are left out. Endpoints listed in several slices count once, with their best state.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::common::{Candidate, Resolved, empty_service, snat_pool, weigh};
use crate::desired::{Origin, RealServerState, ServiceOrigin};
use crate::endpoints::{
    AddressType, EndpointConditions, EndpointSlice, EndpointSnapshot, ServicePort, TargetPort,
};
use crate::entry::{Entry, PortSelector, ServiceRef};
use crate::health::HealthResults;
use crate::model::{Protocol, RealServerKey, ServiceKey};
use crate::problem::Problem;
use crate::settings::Settings;

pub(crate) fn resolve_service(
    entry: &Entry,
    service_ref: &ServiceRef,
    protocol: Option<Protocol>,
    settings: &Settings,
    snapshot: &EndpointSnapshot,
    health: &HealthResults,
) -> Resolved {
    let mut resolved = Resolved::default();
    let id = format!("{}/{}", service_ref.namespace, service_ref.name);
    let Some(svc) = snapshot.service(&service_ref.namespace, &service_ref.name) else {
        resolved.problems.push(Problem::warning(
            &entry.key,
            None,
            format!("Service {id} is not in the endpoint snapshot: the VIP serves nothing from it"),
        ));
        return resolved;
    };
    let mut ports: Vec<&ServicePort> = svc
        .ports
        .iter()
        .filter(|p| protocol.is_none_or(|proto| p.protocol == proto))
        .filter(|p| match &service_ref.ports {
            PortSelector::All => true,
            PortSelector::Name(name) => p.name.as_deref() == Some(name.as_str()),
            PortSelector::Number(n) => p.port == *n,
        })
        .collect();
    ports.sort_by_key(|p| (p.protocol, p.port));
    if ports.is_empty() {
        let names: Vec<String> = svc.ports.iter().map(port_label).collect();
        resolved.problems.push(Problem::warning(
            &entry.key,
            None,
            format!(
                "Service {id} has no port matching {} (its ports: {})",
                selector_text(&service_ref.ports, protocol),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
        return resolved;
    }
    let snat = snat_pool(entry, settings, &mut resolved.problems);
    let family = if entry.vip.is_ipv4() {
        AddressType::IPv4
    } else {
        AddressType::IPv6
    };
    let has_other_family = svc
        .slices
        .iter()
        .any(|s| s.address_type != family && s.endpoints.iter().any(|e| !e.addresses.is_empty()));
    let mut any_of_family = false;
    for sp in ports {
        let key = ServiceKey {
            vip: entry.vip,
            protocol: sp.protocol,
            port: sp.port,
        };
        let origin = Origin {
            config_key: entry.key.clone(),
            service: Some(ServiceOrigin {
                namespace: svc.namespace.clone(),
                name: svc.name.clone(),
                port: port_label(sp),
            }),
        };
        let mut service = empty_service(entry, settings, key, origin);
        let mut states: BTreeMap<RealServerKey, RealServerState> = BTreeMap::new();
        for slice in svc.slices.iter().filter(|s| s.address_type == family) {
            let Some(target) = target_port(sp, slice) else {
                continue;
            };
            for endpoint in &slice.endpoints {
                let Some(state) = ready_state(&endpoint.conditions) else {
                    continue;
                };
                for addr in endpoint
                    .addresses
                    .iter()
                    .filter(|a| same_family(**a, entry.vip))
                {
                    any_of_family = true;
                    let rs_key = RealServerKey {
                        addr: *addr,
                        port: target,
                    };
                    states
                        .entry(rs_key)
                        .and_modify(|s| *s = best(*s, state))
                        .or_insert(state);
                }
            }
        }
        for (rs_key, state) in states {
            if !service.forward.rewrites_port() && rs_key.port != sp.port {
                resolved.problems.push(Problem::error(
                    &entry.key,
                    None,
                    format!(
                        "Service {id} port {} sends to target port {}, but method={} cannot \
                         change ports",
                        port_label(sp),
                        rs_key.port,
                        service.forward
                    ),
                ));
                break;
            }
            let weight = entry.options.weight.unwrap_or(1);
            let real = weigh(&service, rs_key, weight, state, health);
            service.real_servers.insert(rs_key, real);
        }
        resolved.candidates.push(Candidate {
            service: Arc::new(service),
            snat_pool: snat.clone(),
        });
    }
    if !any_of_family && has_other_family {
        resolved.problems.push(Problem::warning(
            &entry.key,
            None,
            format!(
                "Service {id} has endpoints, but none of the VIP's family ({}): the VIP gets no \
                 real servers",
                if family == AddressType::IPv4 {
                    "IPv4"
                } else {
                    "IPv6"
                }
            ),
        ));
    }
    resolved
}

/// The pods' port for Service port `sp` in `slice` (`None` if the slice does not resolve it).
fn target_port(sp: &ServicePort, slice: &EndpointSlice) -> Option<u16> {
    match &sp.target_port {
        None => Some(sp.port),
        Some(TargetPort::Number(n)) => Some(*n),
        Some(TargetPort::Name(_)) => slice
            .ports
            .iter()
            .find(|p| {
                p.protocol == sp.protocol
                    && p.name.as_deref().unwrap_or("") == sp.name.as_deref().unwrap_or("")
            })
            .and_then(|p| p.port),
    }
}

/// Kubernetes semantics: terminating-but-serving drains, ready serves, anything else is out.
fn ready_state(c: &EndpointConditions) -> Option<RealServerState> {
    if c.is_terminating() {
        c.is_serving().then_some(RealServerState::Terminating)
    } else {
        c.is_ready().then_some(RealServerState::Active)
    }
}

/// The better of two states of one endpoint seen in two slices (order-independent).
fn best(a: RealServerState, b: RealServerState) -> RealServerState {
    let rank = |s| match s {
        RealServerState::Active => 2,
        RealServerState::Unhealthy => 1,
        RealServerState::Terminating => 0,
    };
    if rank(a) >= rank(b) { a } else { b }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn port_label(p: &ServicePort) -> String {
    match p.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => p.port.to_string(),
    }
}

fn selector_text(selector: &PortSelector, protocol: Option<Protocol>) -> String {
    let ports = match selector {
        PortSelector::All => "any port".to_owned(),
        PortSelector::Name(n) => format!("name {n:?}"),
        PortSelector::Number(n) => format!("number {n}"),
    };
    match protocol {
        Some(p) => format!("{ports} with protocol {p}"),
        None => ports,
    }
}
