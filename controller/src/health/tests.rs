//! The health checker end to end against real local servers: rise/fall transitions, check
//! changes that keep state, removal, and bounded concurrency with thousands of checks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use lb_config::{
    DesiredState, ForwardMethod, HealthCheck, HealthCheckDefaults, HealthCheckKind, HealthResults,
    Origin, Protocol, RealServer, RealServerKey, RealServerState, Scheduler, SchedulerFlags,
    ServiceKey, VirtualService,
};
use prometheus::core::Collector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::ExecPolicy;
use super::check::{Check, CheckKey, ProbeSpec, Timing};
use super::runner::{HealthCheckerOptions, spawn_supervisor};
use super::spawn_health_checker;
use crate::metrics::ControllerMetrics;

/// An HTTP server whose status can be switched, that counts connections in flight.
struct Server {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    max_in_flight: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
}

async fn server(delay: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let status = Arc::new(AtomicU16::new(200));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let (s, i, m, c) = (
        status.clone(),
        in_flight.clone(),
        max_in_flight.clone(),
        served.clone(),
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (s, i, m, c) = (s.clone(), i.clone(), m.clone(), c.clone());
            tokio::spawn(async move {
                let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let code = s.load(Ordering::SeqCst);
                let answer = format!("HTTP/1.0 {code} X\r\n\r\nok\n");
                let _ = stream.write_all(answer.as_bytes()).await;
                i.fetch_sub(1, Ordering::SeqCst);
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Server {
        addr,
        status,
        max_in_flight,
        served,
    }
}

/// The published verdict of a check.
fn verdict(results: &HealthResults, key: &CheckKey) -> Option<bool> {
    results.verdict(&key.service, &key.real_server)
}

fn key(vport: u16, rs: SocketAddr) -> CheckKey {
    CheckKey {
        service: ServiceKey {
            vip: "203.0.113.5".parse().unwrap(),
            protocol: Protocol::Tcp,
            port: vport,
        },
        real_server: RealServerKey {
            addr: rs.ip(),
            port: rs.port(),
        },
    }
}

fn http_check(key: CheckKey, interval_ms: u64, rise: u32, fall: u32) -> Check {
    Check {
        key,
        probe: ProbeSpec::Http {
            addr: SocketAddr::new(key.real_server.addr, key.real_server.port),
            tls: false,
            path: "/".to_owned(),
            expect_status: 200,
            expect_body: None,
        },
        timing: Timing {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_secs(2),
            rise,
            fall,
        },
    }
}

type Checks = BTreeMap<CheckKey, Check>;

fn spawn(
    checks: Checks,
    options: HealthCheckerOptions,
) -> (
    watch::Sender<Checks>,
    watch::Receiver<HealthResults>,
    ControllerMetrics,
) {
    let metrics = ControllerMetrics::new().unwrap();
    let (tx, rx) = watch::channel(checks);
    let (results, _handle) = spawn_supervisor(rx, Checks::clone, metrics.clone(), options);
    (tx, results, metrics)
}

/// Waits until the published results satisfy `done`.
async fn wait_for(
    results: &mut watch::Receiver<HealthResults>,
    done: impl Fn(&HealthResults) -> bool,
) -> HealthResults {
    let waited = tokio::time::timeout(Duration::from_secs(20), results.wait_for(|r| done(r)));
    waited
        .await
        .expect("timed out")
        .expect("checker gone")
        .clone()
}

fn rs(addr: SocketAddr) -> RealServerKey {
    RealServerKey {
        addr: addr.ip(),
        port: addr.port(),
    }
}

/// How many `lbctl_health_check_up` series have `value`.
fn gauges_at(metrics: &ControllerMetrics, value: f64) -> usize {
    metrics.health_check_up.collect()[0]
        .get_metric()
        .iter()
        .filter(|m| m.get_gauge().get_value() == value)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rise_and_fall_flip_the_published_result_and_the_gauge() {
    let srv = server(Duration::ZERO).await;
    let k = key(80, srv.addr);
    let (_tx, mut results, metrics) = spawn(
        [(k, http_check(k, 50, 2, 2))].into(),
        HealthCheckerOptions::default(),
    );
    wait_for(&mut results, |r| verdict(r, &k) == Some(true)).await;
    assert_eq!(gauges_at(&metrics, 1.0), 1);

    srv.status.store(500, Ordering::SeqCst);
    wait_for(&mut results, |r| verdict(r, &k) == Some(false)).await;
    assert_eq!(gauges_at(&metrics, 0.0), 1);
    assert!(
        srv.served.load(Ordering::SeqCst) >= 4,
        "rise 2 + fall 2 need at least 4 probes"
    );

    srv.status.store(200, Ordering::SeqCst);
    wait_for(&mut results, |r| verdict(r, &k) == Some(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_that_stay_keep_their_state_and_removed_ones_disappear() {
    let srv = server(Duration::ZERO).await;
    let other = server(Duration::ZERO).await;
    other.status.store(503, Ordering::SeqCst);
    let k = key(80, srv.addr);
    let slow = http_check(k, 60_000, 1, 1); // one probe now-ish, then not for a minute
    let (tx, mut results, metrics) = spawn([(k, slow.clone())].into(), Default::default());
    // The first probe comes after the spread (< interval); wait for it via a fast copy.
    let fast = http_check(k, 50, 1, 1);
    tx.send([(k, fast.clone())].into()).unwrap();
    wait_for(&mut results, |r| verdict(r, &k) == Some(true)).await;

    // Add a failing check: the first one keeps its verdict (not reset to unknown).
    let k2 = key(81, other.addr);
    tx.send([(k, fast.clone()), (k2, http_check(k2, 50, 1, 1))].into())
        .unwrap();
    let r = wait_for(&mut results, |r| verdict(r, &k2).is_some()).await;
    assert_eq!(verdict(&r, &k), Some(true));
    assert_eq!(verdict(&r, &k2), Some(false));

    // Remove the failing one: its result and its gauge go away.
    tx.send([(k, fast)].into()).unwrap();
    let r = wait_for(&mut results, |r| verdict(r, &k2).is_none()).await;
    assert_eq!(r.by_check.len(), 1);
    assert_eq!(gauges_at(&metrics, 0.0), 0);
    assert_eq!(gauges_at(&metrics, 1.0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_check_keeps_the_verdict_until_the_new_check_flips_it() {
    let srv = server(Duration::ZERO).await;
    srv.status.store(503, Ordering::SeqCst);
    let k = key(80, srv.addr);
    let (tx, mut results, metrics) =
        spawn([(k, http_check(k, 50, 1, 1))].into(), Default::default());
    wait_for(&mut results, |r| verdict(r, &k) == Some(false)).await;

    // New timing (as after a SIGHUP that changed [health_check]): a new task, whose first
    // probe waits for its spread (up to a minute), so only a carried verdict can be published.
    tx.send([(k, http_check(k, 60_000, 1, 1))].into()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        verdict(&results.borrow(), &k),
        Some(false),
        "the failing real server stays quiesced"
    );
    assert_eq!(gauges_at(&metrics, 0.0), 1, "the gauge stays too");

    // The new check still decides: recovery under a fast timing flips it back.
    srv.status.store(200, Ordering::SeqCst);
    tx.send([(k, http_check(k, 50, 2, 1))].into()).unwrap();
    wait_for(&mut results, |r| verdict(r, &k) == Some(true)).await;
    assert_eq!(gauges_at(&metrics, 1.0), 1);
}

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_checks_run_as_tasks_with_bounded_concurrency() {
    const CHECKS: u16 = 2000;
    const LIMIT: usize = 64;
    let srv = server(Duration::from_millis(20)).await;
    let threads_before = threads();
    let checks: Checks = (1..=CHECKS)
        .map(|vport| {
            let k = key(vport, srv.addr);
            (k, http_check(k, 1000, 1, 1))
        })
        .collect();
    let (_tx, _results, metrics) = spawn(
        checks,
        HealthCheckerOptions {
            max_concurrent_probes: LIMIT,
            max_concurrent_execs: 1,
            exec: ExecPolicy::Disabled,
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while gauges_at(&metrics, 1.0) < usize::from(CHECKS) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {CHECKS} checks got a verdict",
            gauges_at(&metrics, 1.0)
        );
        assert!(
            threads() < threads_before + 50,
            "threads grew with the checks"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let max = srv.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max <= LIMIT,
        "{max} probes in flight at once, limit {LIMIT}"
    );
    assert!(max >= 8, "the probes did run concurrently ({max})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_seam_follows_the_desired_state() {
    let srv = server(Duration::ZERO).await;
    let rs_key = rs(srv.addr);
    let service_key = ServiceKey {
        vip: "203.0.113.7".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 80,
    };
    let service = |kind: HealthCheckKind| {
        let key = ServiceKey {
            vip: "203.0.113.7".parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        };
        let mut state = DesiredState::default();
        state.services.insert(
            key,
            std::sync::Arc::new(VirtualService {
                key,
                origin: Origin {
                    config_key: "203.0.113.7-80".to_owned(),
                    service: None,
                },
                scheduler: Scheduler::Rr,
                scheduler_flags: SchedulerFlags::default(),
                persistence: None,
                forward: ForwardMethod::Nat,
                tunnel: None,
                health_check: Some(HealthCheck {
                    kind,
                    interval_secs: 1,
                    timeout_secs: 1,
                    rise: 1,
                    fall: 1,
                }),
                real_servers: [(
                    rs_key,
                    RealServer {
                        key: rs_key,
                        weight: 1,
                        upper_threshold: 0,
                        lower_threshold: 0,
                        state: RealServerState::Active,
                    },
                )]
                .into(),
            }),
        );
        Arc::new(state)
    };
    let (tx, rx) = watch::channel(service(HealthCheckKind::Tcp { port: None }));
    let metrics = ControllerMetrics::new().unwrap();
    let (mut results, handle) = spawn_health_checker(
        rx,
        HealthCheckDefaults::default(),
        metrics.clone(),
        ExecPolicy::Disabled,
    );
    wait_for(&mut results, |r| {
        r.verdict(&service_key, &rs_key) == Some(true)
    })
    .await;

    // A changed check (HTTP expecting 204) replaces the check and fails.
    tx.send(service(HealthCheckKind::Http {
        tls: false,
        path: "/".to_owned(),
        expect_status: 204,
        port: None,
        expect_body: None,
    }))
    .unwrap();
    wait_for(&mut results, |r| {
        r.verdict(&service_key, &rs_key) == Some(false)
    })
    .await;

    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the checker stops when the desired state closes")
        .unwrap();
}
