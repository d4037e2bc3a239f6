//! A `birdc` that hangs is killed at `reload_timeout_secs` and the reload fails with
//! `BirdError::Timeout`. Mutation: without the timeout in `bird::apply` the test runs 60 s and
//! gets no timeout error; without `kill_on_drop` the stand-in birdc is still running after.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use lb_bgp_announcer::BirdError;
use lb_bgp_announcer::bird::{BirdOptions, apply};

/// Whether `pid` runs no more (gone, or a zombie not reaped yet).
fn is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn a_hung_birdc_is_killed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let birdc = dir.path().join("birdc");
    std::fs::write(
        &birdc,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 60\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&birdc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut options = BirdOptions::new(dir.path().join("bird-vips.conf"));
    options.birdc = birdc.display().to_string();
    options.reload_timeout_secs = 1;

    let started = Instant::now();
    let error = apply(&Default::default(), &options).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    match &error {
        BirdError::Timeout { program, after } => {
            assert_eq!(program, &options.birdc);
            assert_eq!(*after, Duration::from_secs(1));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(error.to_string().contains("configure"), "{error}");

    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let pid = pid.trim();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(is_gone(pid), "the stand-in birdc {pid} still runs");
}
