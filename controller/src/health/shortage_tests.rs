//! A probe that fails for lack of a local resource (EMFILE, ENFILE, ENOBUFS, ENOMEM: the
//! director ran out, not the real server) gives no verdict: the state and the rise/fall
//! counts stay, the probe is counted as without verdict. Errors are injected into the
//! supervisor as its check tasks would report them.
//!
//! Mutation: without the `no_verdict_reason` branch in `Supervisor::on_report`, the EMFILE
//! failures count as failures and the healthy real server flips to failing.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use lb_config::{Protocol, RealServerKey, ServiceKey};

use super::check::{Check, CheckKey, ProbeSpec, Timing};
use super::probe::ProbeFailure;
use super::runner::FedSupervisor;
use crate::metrics::ControllerMetrics;

fn check() -> (CheckKey, Check) {
    let addr: SocketAddr = "192.0.2.10:80".parse().unwrap();
    let key = CheckKey {
        service: ServiceKey {
            vip: "203.0.113.5".parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        },
        real_server: RealServerKey {
            addr: addr.ip(),
            port: addr.port(),
        },
    };
    let check = Check {
        key,
        probe: ProbeSpec::Tcp { addr },
        timing: Timing {
            // The task's own probes must not interfere: the test feeds the outcomes.
            interval: Duration::from_secs(3600 * 24),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 2,
        },
    };
    (key, check)
}

fn connect_error(errno: i32) -> Result<(), ProbeFailure> {
    Err(ProbeFailure::Connect {
        addr: "192.0.2.10:80".parse().unwrap(),
        cause: io::Error::from_raw_os_error(errno),
    })
}

#[tokio::test]
async fn local_resource_shortages_give_no_verdict_and_keep_the_counts() {
    let (key, check) = check();
    let metrics = ControllerMetrics::new().unwrap();
    let (mut supervisor, results) = FedSupervisor::new([(key, check)].into(), metrics.clone());
    let verdict = || results.borrow().verdict(&key.service, &key.real_server);

    supervisor.feed(key, Ok(()));
    assert_eq!(verdict(), Some(true));
    for _ in 0..5 {
        supervisor.feed(key, connect_error(libc::EMFILE));
    }
    assert_eq!(verdict(), Some(true), "descriptor shortage: no verdict");

    // One real failure, shortages in between, then a second real failure: fall = 2 is
    // reached exactly there (the shortages neither counted nor reset the streak).
    supervisor.feed(key, connect_error(libc::ECONNREFUSED));
    for errno in [libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
        supervisor.feed(key, connect_error(errno));
    }
    assert_eq!(verdict(), Some(true));
    supervisor.feed(key, connect_error(libc::ECONNREFUSED));
    assert_eq!(verdict(), Some(false), "the real server's refusals count");

    // A failing server does not become healthy through shortages either.
    supervisor.feed(
        key,
        Err(ProbeFailure::Spawn {
            program: "/usr/bin/check".to_owned(),
            cause: io::Error::from_raw_os_error(libc::EMFILE),
        }),
    );
    assert_eq!(verdict(), Some(false));

    let counted = |reason: &str| {
        metrics
            .health_probes_without_verdict_total
            .with_label_values(&[reason])
            .get()
    };
    assert_eq!(counted("EMFILE"), 6);
    assert_eq!(counted("ENFILE"), 1);
    assert_eq!(counted("ENOBUFS"), 1);
    assert_eq!(counted("ENOMEM"), 1);
}

#[test]
fn only_local_resource_errors_are_shortages() {
    let failure = |errno| connect_error(errno).unwrap_err();
    assert_eq!(failure(libc::EMFILE).no_verdict_reason(), Some("EMFILE"));
    assert_eq!(failure(libc::ECONNREFUSED).no_verdict_reason(), None);
    assert_eq!(failure(libc::EHOSTUNREACH).no_verdict_reason(), None);
    assert_eq!(
        ProbeFailure::Timeout(Duration::from_secs(1)).no_verdict_reason(),
        None
    );
}
