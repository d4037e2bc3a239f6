//! The announcer task end to end in BIRD mode, with a stand-in `birdc` (a script that answers
//! like BIRD): desired state and serving VIPs in, the include file out. Covers health
//! withdrawal, the kernel gate, `lbctl withdraw`, a reloaded policy and the withdrawing stop without a
//! kernel or a router.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lb_bgp_announcer::bird::BirdOptions;
use lb_bgp_announcer::{AnnouncePolicy, PolicyConfig};
use tokio::sync::{oneshot, watch};

use super::control::BgpControl;
use super::settings::{AnnouncerConfig, StopMode};
use super::task::{TaskInputs, run};
use super::tests::desired;
use crate::metrics::ControllerMetrics;

const CONFIGMAP: &str =
    "10.0.0.100-80: 10.1.0.1:80; check=tcp\n10.0.0.101-80: 10.1.0.2:80; check=tcp\n";

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fake_birdc(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("birdc");
    std::fs::write(&script, "#!/bin/sh\necho 'Reconfigured'\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Waits (bounded) until the include file satisfies `test`.
async fn file_becomes(path: &Path, what: &str, test: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if !text.is_empty() && test(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "include file never became {what}: {:?}",
        std::fs::read_to_string(path)
    );
}

/// Waits (at most 5 s) until `holds`: the task updates its metrics and status right after the
/// include file is written, so a check made the moment the file changes can be early.
async fn settles(what: &str, holds: impl Fn() -> bool) {
    for _ in 0..100 {
        if holds() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never settled: {what}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn health_kernel_gate_withdraw_and_stop_reach_the_routes() {
    let dir = Dir(std::env::temp_dir().join(format!("lbctl-bgp-task-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let include = dir.0.join("vips.conf");
    let options = BirdOptions {
        birdc: fake_birdc(&dir.0).display().to_string(),
        ..BirdOptions::new(&include)
    };
    let config = PolicyConfig {
        hold_down_ms: 0,
        ..PolicyConfig::default()
    };
    let policy = AnnouncePolicy::new(config.clone()).unwrap();
    let (policy_tx, policy_rx) = watch::channel(config.clone());
    let (desired_tx, desired_rx) = watch::channel(Arc::new(desired(CONFIGMAP, &[])));
    let (serving_tx, serving_rx) = watch::channel(BTreeSet::from([ip("10.0.0.100")]));
    let announcer = AnnouncerConfig::Bird(options);
    let withdraw_file = dir.0.join("state").join("bgp-drained");
    let control = Arc::new(BgpControl::new(announcer.mode(), withdraw_file.clone()));
    let (synced_tx, synced_rx) = oneshot::channel::<()>();
    let (stop_tx, stop_rx) = oneshot::channel();
    let metrics = ControllerMetrics::new().unwrap();
    let task = tokio::spawn(run(
        announcer,
        policy,
        TaskInputs {
            desired: desired_rx,
            serving: serving_rx,
            withdrawals: control.withdraw_switch(),
            stop: stop_rx,
            first_sync: Box::pin(async move {
                let _ = synced_rx.await;
            }),
            policy: policy_rx,
        },
        Arc::clone(&control),
        metrics.clone(),
    ));
    let has = |vip: &'static str| move |t: &str| t.contains(&format!("route {vip}/32 "));

    // Nothing reaches BIRD before the daemon's first sync.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!include.exists(), "handed over before the first sync");
    synced_tx.send(()).unwrap();
    // Only the VIP the kernel serves is announced.
    let text = file_becomes(&include, "one route", has("10.0.0.100")).await;
    assert!(!text.contains("10.0.0.101/32"), "{text}");
    serving_tx.send_replace(BTreeSet::from([ip("10.0.0.100"), ip("10.0.0.101")]));
    file_becomes(&include, "two routes", has("10.0.0.101")).await;
    let prefixes = metrics.bgp_announced_prefixes.with_label_values(&["bird"]);
    settles("2 announced prefixes", || prefixes.get() == 2).await;

    // The only real server of .101 fails its check: withdrawn, .100 stays.
    desired_tx.send_replace(Arc::new(desired(CONFIGMAP, &["10.1.0.2:80"])));
    let text = file_becomes(&include, "without .101", |t| !has("10.0.0.101")(t)).await;
    assert!(has("10.0.0.100")(&text), "{text}");

    // Withdrawing everything empties the file and says so; undo restores.
    control.set_withdraw_all(true).unwrap();
    file_becomes(&include, "empty", |t| !t.contains("route ")).await;
    settles("withdrawn_all in the status", || {
        control.status().withdrawn_all
    })
    .await;
    settles("the withdrawn_all metric", || {
        metrics.bgp_withdrawn_all.get() == 1
    })
    .await;
    // Persisted: a daemon started now would begin withdrawn.
    assert!(BgpControl::new("bird", withdraw_file.clone()).is_withdrawn_all());
    control.set_withdraw_all(false).unwrap();
    assert!(!withdraw_file.exists());
    file_becomes(&include, "restored", has("10.0.0.100")).await;
    settles("10.0.0.100 announced in the status", || {
        control.status().announced == ["10.0.0.100/32"]
    })
    .await;

    // A SIGHUP with a new MED: the same route, new attributes.
    let mut reloaded = config;
    reloaded.default_attributes.med = Some(77);
    policy_tx.send_replace(reloaded);
    let text = file_becomes(&include, "with the new MED", |t| {
        t.contains("bgp_med = 77;")
    })
    .await;
    assert!(has("10.0.0.100")(&text), "{text}");

    // A per-VIP withdrawal withdraws that VIP only, is persisted, and its undo announces it again.
    desired_tx.send_replace(Arc::new(desired(CONFIGMAP, &[])));
    file_becomes(&include, "both again", has("10.0.0.101")).await;
    control.set_vip_withdrawn(ip("10.0.0.101"), true).unwrap();
    let text = file_becomes(&include, "without the withdrawn .101", |t| {
        !has("10.0.0.101")(t)
    })
    .await;
    assert!(has("10.0.0.100")(&text), "{text}");
    assert_eq!(control.status().withdrawn_vips, [ip("10.0.0.101")]);
    assert!(!control.status().withdrawn_all);
    let restarted = BgpControl::new("bird", withdraw_file.clone());
    assert_eq!(
        restarted.withdrawals().vips,
        BTreeSet::from([ip("10.0.0.101")])
    );
    assert!(
        !restarted.is_withdrawn_all(),
        "a per-VIP withdrawal does not withdraw everything"
    );
    control.set_vip_withdrawn(ip("10.0.0.101"), false).unwrap();
    file_becomes(&include, ".101 back", has("10.0.0.101")).await;
    assert!(!withdraw_file.exists(), "no withdrawal left: no file");

    // Stop (SIGTERM): the task hands the backend back; a withdrawing stop empties BIRD.
    stop_tx.send(()).unwrap();
    let backend = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .expect("the backend was started");
    backend.stop(StopMode::Withdraw).await;
    let text = std::fs::read_to_string(&include).unwrap();
    assert!(!text.contains("route "), "{text}");
}
