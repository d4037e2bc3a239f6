//! `/status` over a generated table of the target size: 10,000 services (2,000 VIPs x 5
//! ports) x 10 real servers, plus one service only the kernel still has (leaving), one
//! desired service the kernel lacks, one leaving real server with a drain deadline and one
//! service whose health check fails on one real server. The tests check what the filters and
//! the summary contain, and the size of the whole document (docs/daemon.md quotes it).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lb_config::test_util::{real_server, virtual_service, with_real_servers};
use lb_config::{
    ForwardMethod, HealthCheck, HealthCheckKind, HealthResults, RealServerKey, ServiceKey,
    ServiceOrigin,
};
use lb_ipvs_sync::reconcile::{DrainBook, Scope};
use lb_ipvs_sync::test_util::{dest, observed_dest, spec};
use lb_ipvs_sync::{IpvsTable, ObservedService, ServiceId, Stats};

use super::*;

const VIPS: usize = 2_000;
const PORTS: [u16; 5] = [80, 443, 8080, 8443, 9000];
const REALS: u8 = 10;

fn vip(v: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, (v / 250) as u8, (v % 250 + 1) as u8))
}

fn real(service: usize, j: u8) -> RealServerKey {
    RealServerKey {
        addr: IpAddr::V4(Ipv4Addr::new(
            10,
            1 + j,
            (service / 256) as u8,
            (service % 256) as u8,
        )),
        port: 8080,
    }
}

/// The service whose check fails on its first real server (service number 7 x 5 + 1).
fn checked_key() -> ServiceKey {
    key(vip(7), 443)
}

fn key(vip: IpAddr, port: u16) -> ServiceKey {
    ServiceKey {
        vip,
        protocol: lb_config::Protocol::Tcp,
        port,
    }
}

/// The leaving service (kernel only).
fn leaving_key() -> ServiceKey {
    key(vip(3), 7000)
}

/// The desired service the kernel lacks.
fn missing_key() -> ServiceKey {
    key(vip(VIPS - 1), 9000)
}

fn snapshot() -> StatusSnapshot {
    let mut services = Vec::new();
    let mut observed = IpvsTable::default();
    for v in 0..VIPS {
        for (p, port) in PORTS.iter().enumerate() {
            let n = v * PORTS.len() + p;
            let mut svc = with_real_servers(
                virtual_service(&vip(v).to_string(), *port, ForwardMethod::Nat),
                (0..REALS).map(|j| real_server(real(n, j))),
            );
            svc.origin.service = Some(ServiceOrigin {
                namespace: format!("ns{}", v % 10),
                name: format!("web{v}"),
                port: format!("p{port}"),
            });
            if svc.key == checked_key() {
                svc.health_check = Some(HealthCheck {
                    kind: HealthCheckKind::Tcp { port: None },
                    interval_secs: 5,
                    timeout_secs: 1,
                    rise: 1,
                    fall: 1,
                });
            }
            let id = ServiceId::Inet(svc.key);
            if svc.key != missing_key() {
                observed.insert(ObservedService {
                    spec: spec(id, "rr"),
                    stats: Stats {
                        conns: n as u64,
                        ..Stats::default()
                    },
                    destinations: svc
                        .real_servers
                        .keys()
                        .map(|rs| (*rs, observed_dest(dest(*rs, 1))))
                        .collect(),
                });
            }
            services.push(svc);
        }
    }
    let desired = lb_config::test_util::desired_state(services);
    // A real server that left service 0 and drains; a whole service that left.
    let first = ServiceId::Inet(key(vip(0), 80));
    let gone = real(99_999, 0);
    observed
        .service_mut(&first)
        .unwrap()
        .destinations
        .insert(gone, observed_dest(dest(gone, 0)));
    let leaving = ServiceId::Inet(leaving_key());
    observed.insert(ObservedService {
        spec: spec(leaving, "wrr"),
        stats: Stats::default(),
        destinations: [(gone, observed_dest(dest(gone, 0)))].into_iter().collect(),
    });
    let mut drain = DrainBook::default();
    drain.destinations.insert((first, gone), 1_900_000_000);
    drain.services.insert(leaving, 1_900_000_100);
    let health: HealthResults = (0..REALS)
        .map(|j| ((checked_key(), real(36, j)), j != 0))
        .collect();
    StatusSnapshot {
        controller: ControllerStatus {
            ready: true,
            listed: true,
            connected: true,
            problems: (0..30)
                .map(|i| Problem::error(&format!("bad-{i}"), None, "broken"))
                .collect(),
            ..ControllerStatus::default()
        },
        desired: Arc::new(desired),
        health: Arc::new(health),
        drain,
        scope: Scope::new(vec!["10.0.0.0/16".parse().unwrap()]),
        last_table: Some(Arc::new(observed)),
        table_at: Some(SystemTime::now() - Duration::from_secs(3)),
    }
}

fn query(q: &str) -> StatusQuery {
    StatusQuery::parse(q).unwrap()
}

/// Mutation: drop the `take_while` on the VIP range and other VIPs' services come back.
#[test]
fn a_vip_filter_returns_that_vips_services_with_every_real_server() {
    let snap = snapshot();
    let doc = snap.filtered(&query("vip=10.0.0.4"), SystemTime::now());
    let names: Vec<&str> = doc.services.iter().map(|s| s.service.as_str()).collect();
    // 10.0.0.4's five desired services and, in key order, the one leaving the kernel.
    assert_eq!(
        names,
        [
            "10.0.0.4:80/tcp",
            "10.0.0.4:443/tcp",
            "10.0.0.4:7000/tcp",
            "10.0.0.4:8080/tcp",
            "10.0.0.4:8443/tcp",
            "10.0.0.4:9000/tcp",
        ]
    );
    assert_eq!(
        doc.controller.problems.len(),
        30,
        "the controller part is whole"
    );
    assert!(doc.table_age_secs.is_some());
    let desired: Vec<_> = doc
        .services
        .iter()
        .filter(|s| s.config_key.is_some())
        .collect();
    assert_eq!(desired.len(), 5);
    assert!(
        desired
            .iter()
            .all(|s| s.real_servers.len() == 10 && s.in_kernel)
    );
    let leaving = &doc.services[2];
    assert_eq!(leaving.service, leaving_key().to_string());
    assert_eq!(leaving.config_key, None);
    assert_eq!(leaving.scheduler, "wrr");
    assert_eq!(leaving.real_servers[0].state, "leaving");
    assert_eq!(leaving.real_servers[0].drain_deadline, Some(1_900_000_100));

    // A VIP with no service: an empty list, not an error.
    let doc = snap.filtered(&query("vip=192.0.2.1"), SystemTime::now());
    assert!(doc.services.is_empty());
}

#[test]
fn service_and_key_filters_select_by_origin() {
    let snap = snapshot();
    let now = SystemTime::now();
    let doc = snap.filtered(&query("service=ns4/web14"), now);
    assert_eq!(doc.services.len(), 5, "every port of the Service");
    assert!(doc.services.iter().all(|s| {
        s.kubernetes_service
            .as_deref()
            .unwrap()
            .starts_with("ns4/web14:")
    }));
    let doc = snap.filtered(&query("service=ns4/web14:p443"), now);
    assert_eq!(doc.services.len(), 1);
    assert_eq!(doc.services[0].service, "10.0.0.15:443/tcp");
    assert_eq!(
        snap.filtered(&query("service=ns5/web14"), now)
            .services
            .len(),
        0,
        "the namespace counts"
    );
    let doc = snap.filtered(&query("key=10.0.0.15-8080"), now);
    assert_eq!(doc.services.len(), 1);
    assert_eq!(doc.services[0].service, "10.0.0.15:8080/tcp");
    // Filters combine; a leaving service has no origin and matches neither.
    assert!(
        snap.filtered(&query("key=10.0.0.15-8080&vip=10.0.0.16"), now)
            .services
            .is_empty()
    );
    assert!(
        snap.filtered(&query("key=10.0.0.4-7000"), now)
            .services
            .is_empty()
    );
}

/// The row contents survive the split into the join: desired and kernel weight, state,
/// health, drain deadline, counters.
#[test]
fn rows_carry_health_drain_and_kernel_presence() {
    let snap = snapshot();
    let now = SystemTime::now();
    let doc = snap.filtered(&query("vip=10.0.0.8"), now);
    let checked = doc
        .services
        .iter()
        .find(|s| s.service == checked_key().to_string())
        .unwrap();
    let health: Vec<&str> = checked
        .real_servers
        .iter()
        .map(|r| r.health.as_str())
        .collect();
    assert_eq!(health.iter().filter(|h| **h == "failing").count(), 1);
    assert_eq!(health.iter().filter(|h| **h == "healthy").count(), 9);
    assert!(
        doc.services
            .iter()
            .filter(|s| s.service != checked_key().to_string())
            .all(|s| s.real_servers.iter().all(|r| r.health == "unchecked"))
    );

    let doc = snap.filtered(&query("vip=10.0.0.1"), now);
    let first = &doc.services[0];
    assert_eq!(first.real_servers.len(), 11);
    let gone = first
        .real_servers
        .iter()
        .find(|r| r.weight.is_none())
        .unwrap();
    assert_eq!(
        (gone.state.as_str(), gone.kernel_weight, gone.drain_deadline),
        ("leaving", Some(0), Some(1_900_000_000))
    );
    let kept = &first.real_servers[0];
    assert_eq!(
        (kept.state.as_str(), kept.weight, kept.kernel_weight),
        ("active", Some(1), Some(1))
    );

    let doc = snap.filtered(&query("key=10.0.7.250-9000"), now);
    assert_eq!(doc.services.len(), 1);
    assert!(!doc.services[0].in_kernel);
    assert!(
        doc.services[0]
            .real_servers
            .iter()
            .all(|r| r.kernel_weight.is_none())
    );
}

/// Mutation: count `leaving` services as not in the kernel, or drop the failing real server
/// from the health counts, and the numbers change.
#[test]
fn the_summary_counts_the_whole_table_without_rows() {
    let snap = snapshot();
    let summary = snap.summary(&StatusQuery::default(), SystemTime::now());
    let c = &summary.counts;
    assert_eq!(c.services, 10_001);
    assert_eq!(c.services_leaving, 1);
    assert_eq!(c.services_not_in_kernel, 1);
    assert_eq!(c.real_servers, 100_002);
    assert_eq!(c.real_servers_by_state["active"], 100_000);
    assert_eq!(c.real_servers_by_state["leaving"], 2);
    assert_eq!(c.real_servers_by_health["failing"], 1);
    assert_eq!(c.real_servers_by_health["healthy"], 9);
    assert_eq!(c.real_servers_by_health["unchecked"], 99_992);
    assert_eq!(c.real_servers_draining, 2);
    assert_eq!(
        c.real_servers_weight_pending, 10,
        "the missing service's servers"
    );
    assert_eq!((c.problem_errors, c.problem_warnings), (30, 0));
    assert_eq!(
        summary.controller.problems.len(),
        SUMMARY_LIST_LIMIT,
        "the list is cut, the count is not"
    );
    assert_eq!(summary.vips.len(), VIPS);
    let v = summary.vips.iter().find(|v| v.vip == "10.0.0.4").unwrap();
    assert_eq!(
        (v.services, v.real_servers, v.services_not_ready),
        (6, 51, 1)
    );
    let v = summary.vips.iter().find(|v| v.vip == "10.0.0.8").unwrap();
    assert_eq!(v.failing, 1);
    assert!(summary.table_age_secs.is_some());

    // The summary of one VIP counts only it.
    let one = snap.summary(&query("vip=10.0.0.2"), SystemTime::now());
    assert_eq!((one.counts.services, one.counts.real_servers), (5, 50));
    assert_eq!(one.vips.len(), 1);

    // Its JSON grows with the VIPs, not with the real servers.
    let body = snap
        .answer(&query("summary"), None, SystemTime::now())
        .unwrap();
    assert!(body.len() < 200 * VIPS, "summary is {} bytes", body.len());
    let back: StatusSummary = serde_json::from_slice(&body).unwrap();
    assert_eq!(back.counts, summary.counts);
}

/// The whole document of 10,000 services x 10 real servers, compact, has the size
/// docs/daemon.md gives: 300 to 340 bytes per service plus 200 to 225 per real server with
/// zero counters (about 2.5 kB per service of 10 real servers, 25 MB in all); pretty is about
/// twice that. Mutation: serialize pretty by default and it is over the bound.
#[test]
fn the_whole_document_of_the_target_table_has_the_documented_size() {
    let snap = snapshot();
    let now = SystemTime::now();
    let body = snap.answer(&StatusQuery::default(), None, now).unwrap();
    let services = 10_001;
    let reals = 100_002;
    assert!(
        (services * 300 + reals * 200..=services * 340 + reals * 225).contains(&body.len()),
        "{} bytes",
        body.len()
    );
    assert!(!body.contains(&b'\n'), "compact unless asked");
    let doc: StatusDocument = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc.services.len(), services);
    let pretty = snap
        .answer(&query("pretty&vip=10.0.0.1"), None, now)
        .unwrap();
    assert!(pretty.starts_with(b"{\n  \"controller\": {"));
}
