//! The benchmark table, generated: `VIPS x PORTS` TCP services with `DESTS` masquerading real
//! servers each, exactly as `tests/lab/scenarios/bench-apply.sh` writes it (VIP `10.0.0.(96+v)`,
//! port `1000+p`, real server `10.2.v.(d+1)` on the service's port).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use lb_config::{
    AddressType, DesiredState, Endpoint, EndpointAddresses, EndpointConditions, EndpointPort,
    EndpointSlice, EndpointSnapshot, HealthResults, ParsedConfigMap, Protocol, ServiceEndpoints,
    ServicePort, Settings, TargetPort, build_desired_state, parse_configmap,
};
use lb_ipvs_sync::ServiceId;
use lb_ipvs_sync::wanted::{WantedService, wanted_table};

/// The size of a generated table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSize {
    /// Virtual IPs (at most 160: they are `10.0.0.96` and up).
    pub vips: u16,
    /// Ports per VIP (at most 64,535: they are `1000` and up).
    pub ports: u16,
    /// Real servers per service (at most 254).
    pub dests: u8,
}

impl TableSize {
    /// 16 VIPs x 63 ports = 1,008 services x 10 real servers: the lab bench's default.
    pub const SERVICES_1K: TableSize = TableSize {
        vips: 16,
        ports: 63,
        dests: 10,
    };
    /// 40 VIPs x 250 ports = 10,000 services x 10 real servers (110,000 IPVS entries): issue
    /// 13's production size.
    pub const SERVICES_10K: TableSize = TableSize {
        vips: 40,
        ports: 250,
        dests: 10,
    };

    /// Virtual services in the table.
    pub fn services(self) -> usize {
        usize::from(self.vips) * usize::from(self.ports)
    }

    /// IPVS entries: services plus destinations.
    pub fn entries(self) -> usize {
        self.services() * (1 + usize::from(self.dests))
    }
}

/// The daemon settings the generated ConfigMap needs: every generated VIP managed.
pub fn settings() -> Settings {
    // A literal this crate wrote: it parses, or every benchmark is wrong.
    #[allow(clippy::expect_used)]
    Settings::from_toml_str("managed_vip_ranges = [\"10.0.0.0/24\"]\n")
        .expect("the benchmark settings parse")
}

/// The `data` lines (`VIP-PORT: RS:PORT, ...`), one per service, without indentation.
pub fn data_lines(size: TableSize) -> String {
    let mut out = String::with_capacity(size.services() * (20 + 16 * usize::from(size.dests)));
    for v in 0..size.vips {
        for p in 0..size.ports {
            let port = 1000 + u32::from(p);
            let _ = write!(out, "10.0.0.{}-{port}: ", 96 + u32::from(v));
            for d in 0..size.dests {
                let sep = if d == 0 { "" } else { ", " };
                let _ = write!(out, "{sep}10.2.{v}.{}:{port}", u32::from(d) + 1);
            }
            out.push('\n');
        }
    }
    out
}

/// A ConfigMap manifest holding [`data_lines`], as the lab's `write_configmap` writes it.
pub fn configmap_text(size: TableSize) -> String {
    let mut out = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lvs-vips, namespace: kube-system}\ndata:\n",
    );
    for line in data_lines(size).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The ConfigMap's entries and problems (what `lbctl plan` reads first).
pub fn parsed(text: &str) -> ParsedConfigMap {
    parse_configmap(text)
}

/// The desired state of parsed entries with [`settings`], no endpoints and no health results.
pub fn desired(parsed: &ParsedConfigMap, settings: &Settings) -> DesiredState {
    build_desired_state(
        &parsed.entries,
        settings,
        &EndpointSnapshot::default(),
        &HealthResults::default(),
    )
    .state
}

/// The wanted table of a generated size, built the way `lbctl plan` builds it.
pub fn wanted(size: TableSize) -> BTreeMap<ServiceId, WantedService> {
    let parsed = parsed(&configmap_text(size));
    wanted_table(&desired(&parsed, &settings()))
}

/// Service-backed keys: `count` VIPs `10.1.(i/250).(i%250+1)`, each serving Service
/// `bench/svc-i` port 80 (endpoints: [`service_endpoints`]). The shape of a cluster's
/// ingress VIPs, one Service each.
pub fn service_configmap_text(count: usize) -> String {
    let mut out = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lvs-vips, namespace: kube-system}\ndata:\n",
    );
    for i in 0..count {
        let _ = writeln!(out, "  {}: bench/svc-{i}:80", service_vip(i));
    }
    out
}

/// The settings [`service_configmap_text`] needs: its VIPs managed.
pub fn service_settings() -> Settings {
    // A literal this crate wrote: it parses, or every benchmark is wrong.
    #[allow(clippy::expect_used)]
    Settings::from_toml_str("managed_vip_ranges = [\"10.1.0.0/16\"]\n")
        .expect("the benchmark settings parse")
}

fn service_vip(i: usize) -> String {
    format!("10.1.{}.{}", i / 250, i % 250 + 1)
}

/// The endpoints of Service `bench/svc-i`: one IPv4 slice of `dests` ready pods
/// `10.(3+d).(i/250).(i%250+1)` listening on 8080; with `first_draining`, Service 0's last pod
/// is terminating but still serving (weight 0), the change a churn bench makes.
pub fn service_endpoints(count: usize, dests: u8, first_draining: bool) -> EndpointSnapshot {
    (0..count)
        .map(|i| {
            let endpoints = (0..dests)
                .map(|d| Endpoint {
                    addresses: EndpointAddresses::from_buf([IpAddr::V4(Ipv4Addr::new(
                        10,
                        3 + d,
                        u8::try_from(i / 250).unwrap_or(u8::MAX),
                        u8::try_from(i % 250 + 1).unwrap_or(u8::MAX),
                    ))]),
                    conditions: if first_draining && i == 0 && d + 1 == dests {
                        EndpointConditions {
                            ready: Some(false),
                            serving: Some(true),
                            terminating: Some(true),
                        }
                    } else {
                        EndpointConditions::default()
                    },
                })
                .collect();
            ServiceEndpoints {
                namespace: "bench".to_owned(),
                name: format!("svc-{i}"),
                ports: vec![ServicePort {
                    name: Some("http".to_owned()),
                    port: 80,
                    protocol: Protocol::Tcp,
                    target_port: Some(TargetPort::Number(8080)),
                }],
                slices: vec![Arc::new(EndpointSlice {
                    address_type: AddressType::IPv4,
                    ports: vec![EndpointPort {
                        name: Some("http".to_owned()),
                        port: Some(8080),
                        protocol: Protocol::Tcp,
                    }],
                    endpoints,
                })],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated ConfigMap is clean and yields every service and real server: a bench of a
    /// ConfigMap with errors would time the error path. Mutation: a lost real server in
    /// `data_lines` (`1..size.dests`) or a missing `: ` after the key fails it.
    #[test]
    fn the_generated_table_is_clean_and_complete() {
        let size = TableSize {
            vips: 3,
            ports: 4,
            dests: 5,
        };
        let parsed = parsed(&configmap_text(size));
        assert_eq!(parsed.problems, vec![]);
        assert_eq!(parsed.entries.len(), 12);
        let wanted = wanted(size);
        assert_eq!(wanted.len(), size.services());
        let dests: usize = wanted.values().map(|w| w.destinations.len()).sum();
        assert_eq!(dests + wanted.len(), size.entries());
        assert_eq!(TableSize::SERVICES_10K.entries(), 110_000);
        assert!(data_lines(size).starts_with("10.0.0.96-1000: 10.2.0.1:1000, 10.2.0.2:1000"));
    }

    /// The Service-backed table is clean and complete, and the churn moves exactly one real
    /// server to weight 0. Mutation: dropping the `first_draining` condition fails it.
    #[test]
    fn the_service_backed_table_is_clean_and_its_churn_moves_one_real_server() {
        let parsed = parsed(&service_configmap_text(300));
        assert_eq!(parsed.problems, vec![]);
        let build = |draining| {
            build_desired_state(
                &parsed.entries,
                &service_settings(),
                &service_endpoints(300, 4, draining),
                &HealthResults::default(),
            )
        };
        let ready = build(false);
        assert_eq!(ready.problems, vec![]);
        let ready = wanted_table(&ready.state);
        assert_eq!(ready.len(), 300);
        assert!(ready.values().all(|s| s.destinations.len() == 4));
        let draining = wanted_table(&build(true).state);
        let moved: Vec<_> = ready
            .iter()
            .flat_map(|(id, s)| {
                let other = &draining[id];
                s.destinations
                    .iter()
                    .filter(move |(rs, d)| other.destinations.get(*rs) != Some(*d))
                    .map(|(rs, _)| *rs)
            })
            .collect();
        assert_eq!(moved.len(), 1, "{moved:?}");
    }
}
