//! Interop with BIRD 2 (Debian package `bird2`) over loopback: each test starts its own
//! `bird` (foreground, own config, control socket and port in a temp dir) and kills it on
//! drop. BIRD is passive and our speaker connects to it, except in the passive-mode test where
//! BIRD connects to our listener; nothing leaves the machine.
//!
//! Needs root-free loopback only (127.0.0.0/8 is all local on Linux) and a kernel with
//! `CONFIG_TCP_MD5SIG` for the MD5 test.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use lb_bgp_announcer::{
    AnnouncePolicy, Md5Password, PolicyConfig, ShutdownMode, Speaker, State, VipServing,
};
use tempfile::TempDir;

struct Bird {
    daemon: Daemon,
    dir: TempDir,
    ctl: PathBuf,
    conf: PathBuf,
}

impl Bird {
    /// BIRD as AS 65002 on `addr:port`, passive, expecting AS 65001 from `neighbor`.
    fn start(addr: Ipv4Addr, neighbor: Ipv4Addr, port: u16, password: Option<&str>) -> Self {
        let session = format!(
            "  local {addr} port {port} as 65002;\n  neighbor {neighbor} as 65001;\n  passive on;\n"
        );
        Self::start_with(&session, password)
    }

    /// BIRD as AS 65002 on `addr` that connects to our listener at `neighbor:port` (we are the
    /// passive side), retrying every 2 s. BIRD always listens too: on a free port of its own,
    /// bound to `addr` only (`strict bind`), or two of them would fight over `0.0.0.0:179`.
    fn start_active(addr: Ipv4Addr, neighbor: Ipv4Addr, port: u16, password: Option<&str>) -> Self {
        let own_port = free_port(IpAddr::V4(addr));
        let session = format!(
            "  local {addr} port {own_port} as 65002;\n  strict bind on;\n  \
             neighbor {neighbor} port {port} as 65001;\n  \
             connect delay time 1;\n  connect retry time 2;\n  error wait time 1, 4;\n"
        );
        Self::start_with(&session, password)
    }

    fn start_with(session: &str, password: Option<&str>) -> Self {
        require_tool("bird", "bird2");
        require_tool("birdc", "bird2");
        let dir = tempfile::tempdir().unwrap();
        let ctl = dir.path().join("bird.ctl");
        let conf = dir.path().join("bird.conf");
        let password = password
            .map(|p| format!("  password \"{p}\";\n"))
            .unwrap_or_default();
        std::fs::write(
            &conf,
            format!(
                "router id 192.0.2.2;\n\
                 protocol device {{}}\n\
                 protocol bgp lb {{\n{session}  multihop;\n{password}  \
                 graceful restart on;\n  ipv4 {{ import all; export none; }};\n  \
                 ipv6 {{ import all; export none; }};\n}}\n"
            ),
        )
        .unwrap();
        let mut bird = Bird {
            daemon: Daemon::spawn("bird", &mut Command::new("true"), &dir.path().join("x")),
            dir,
            ctl,
            conf,
        };
        bird.spawn();
        bird
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("bird.log");
        self.daemon = Daemon::spawn(
            "bird",
            Command::new("bird")
                .arg("-f")
                .arg("-c")
                .arg(&self.conf)
                .arg("-s")
                .arg(&self.ctl),
            &log,
        );
    }

    fn birdc(&self, args: &[&str]) -> String {
        let mut all = vec!["-s", self.ctl.to_str().unwrap()];
        all.extend_from_slice(args);
        run("birdc", &all)
    }

    fn routes(&self) -> String {
        self.birdc(&["show", "route", "all"])
    }

    fn has(&self, prefix: &str) -> bool {
        self.birdc(&["show", "route", prefix]).contains(prefix)
    }

    fn established(&self) -> bool {
        self.birdc(&["show", "protocols", "lb"])
            .contains("Established")
    }

    /// Whether BIRD saw the R-bit in our graceful-restart capability ("Restart recovery"
    /// under the neighbour's capabilities).
    fn saw_restart_bit(&self) -> bool {
        self.birdc(&["show", "protocols", "all", "lb"])
            .contains("Restart recovery")
    }

    /// Route updates BIRD has received from us, over all channels (its import statistics).
    fn received_updates(&self) -> u64 {
        self.birdc(&["show", "protocols", "all", "lb"])
            .lines()
            .filter(|line| line.trim_start().starts_with("Import updates:"))
            .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok())
            .sum()
    }
}

fn addrs(n: u8) -> (Ipv4Addr, Ipv4Addr) {
    (Ipv4Addr::new(127, 20, n, 1), Ipv4Addr::new(127, 20, n, 2))
}

#[tokio::test]
async fn bird_receives_routes_with_attributes_and_shutdown_withdraws_them() {
    let (ours, theirs) = addrs(1);
    let port = free_port(IpAddr::V4(theirs));
    let bird = Bird::start(theirs, ours, port, None);
    let handle = Speaker::start(speaker_config(ours, theirs, port))
        .await
        .unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("both routes in BIRD", Duration::from_secs(5), || {
        (bird.has("10.0.0.1/32") && bird.has("2001:db8:1::1/128")).then_some(())
    })
    .await;
    let routes = bird.routes();
    for expected in [
        "BGP.as_path: 65001",
        "BGP.next_hop: 127.20.1.1",
        "BGP.next_hop: 2001:db8::1",
        "BGP.med: 10",
        "BGP.community: (65000,100)",
        "BGP.large_community: (65000, 1, 2)",
        "BGP.origin: IGP",
    ] {
        assert!(
            routes.contains(expected),
            "missing {expected:?} in:\n{routes}"
        );
    }
    let status = handle.status();
    assert_eq!(status[0].announced_prefixes, 2);
    assert!(status[0].updates_sent >= 4, "{status:?}");

    handle.shutdown().await;
    wait_for(
        "routes withdrawn on shutdown",
        Duration::from_secs(5),
        || (!bird.has("10.0.0.1/32") && !bird.has("2001:db8:1::1/128")).then_some(()),
    )
    .await;
    let proto = bird.birdc(&["show", "protocols", "all", "lb"]);
    assert!(proto.contains("Administrative shutdown"), "{proto}");
}

#[tokio::test]
async fn bird_follows_health_within_a_second_without_resetting_the_session() {
    let (ours, theirs) = addrs(2);
    let port = free_port(IpAddr::V4(theirs));
    let bird = Bird::start(theirs, ours, port, None);
    let handle = Speaker::start(speaker_config(ours, theirs, port))
        .await
        .unwrap();
    let mut policy = AnnouncePolicy::new(PolicyConfig {
        announce_at: 2,
        withdraw_below: 1,
        hold_down_ms: 0,
        ..PolicyConfig::default()
    })
    .unwrap();
    let vip: IpAddr = "10.0.2.10".parse().unwrap();
    let serving = |count| {
        BTreeMap::from([(
            vip,
            VipServing {
                serving: count,
                withdrawn: false,
            },
        )])
    };
    handle.set_announcements(policy.evaluate(&serving(3), Instant::now()));
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("VIP announced", Duration::from_secs(5), || {
        bird.has("10.0.2.10/32").then_some(())
    })
    .await;

    // Fewer serving real servers, still >= withdraw_below: stays (hysteresis).
    handle.set_announcements(policy.evaluate(&serving(1), Instant::now()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bird.has("10.0.2.10/32"));

    // None serving: withdrawn within a second.
    let t = Instant::now();
    handle.set_announcements(policy.evaluate(&serving(0), Instant::now()));
    wait_for("VIP withdrawn", Duration::from_secs(1), || {
        (!bird.has("10.0.2.10/32")).then_some(())
    })
    .await;
    let withdraw_took = t.elapsed();

    // Serving again: re-announced within a second.
    let t = Instant::now();
    handle.set_announcements(policy.evaluate(&serving(2), Instant::now()));
    wait_for("VIP re-announced", Duration::from_secs(1), || {
        bird.has("10.0.2.10/32").then_some(())
    })
    .await;
    let announce_took = t.elapsed();

    // Withdrawing everything and undoing it re-announces; none of this reset the session.
    handle.withdraw_all(true);
    wait_for("withdrawn", Duration::from_secs(1), || {
        (!bird.has("10.0.2.10/32")).then_some(())
    })
    .await;
    handle.withdraw_all(false);
    wait_for("announced again", Duration::from_secs(1), || {
        bird.has("10.0.2.10/32").then_some(())
    })
    .await;
    let status = handle.status();
    assert_eq!(
        status[0].established_count, 1,
        "session was reset: {status:?}"
    );
    assert_eq!(status[0].state, State::Established);
    eprintln!("withdraw took {withdraw_took:?}, re-announce took {announce_took:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn bird_keeps_routes_across_our_graceful_restart() {
    let (ours, theirs) = addrs(3);
    let port = free_port(IpAddr::V4(theirs));
    let bird = Bird::start(theirs, ours, port, None);
    let config = speaker_config(ours, theirs, port);
    let handle = Speaker::start(config.clone()).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("routes", Duration::from_secs(5), || {
        bird.has("10.0.0.1/32").then_some(())
    })
    .await;

    // Control of the R-bit check below: a first start does not claim it.
    assert!(!bird.saw_restart_bit(), "R-bit on a first start");
    let received_before = bird.received_updates();
    assert!(
        received_before >= 2,
        "BIRD counted {received_before} updates"
    );

    // The controller restarts: close without NOTIFICATION.
    handle.shutdown_with(ShutdownMode::GracefulRestart).await;
    wait_for("BIRD notices the restart", Duration::from_secs(5), || {
        (!bird.established()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        bird.has("10.0.0.1/32"),
        "route lost during restart:\n{}",
        bird.routes()
    );
    assert!(bird.has("2001:db8:1::1/128"));

    // Back with the R-bit; routes are refreshed and stay.
    let mut restarted = config;
    restarted.graceful_restart.restarting = true;
    let handle = Speaker::start(restarted).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    assert!(bird.saw_restart_bit(), "BIRD did not see the R-bit");
    // Present routes could be BIRD's stale copies: the new session must have sent as many
    // updates as the first (BIRD counts them received, then ignores them as unchanged).
    wait_for("both routes re-sent", Duration::from_secs(5), || {
        (bird.received_updates() >= 2 * received_before).then_some(())
    })
    .await;
    assert!(bird.has("10.0.0.1/32"), "{}", bird.routes());
    assert!(bird.has("2001:db8:1::1/128"), "{}", bird.routes());
    handle.shutdown().await;
}

#[tokio::test]
async fn bird_restart_reestablishes_and_reannounces() {
    let (ours, theirs) = addrs(4);
    let port = free_port(IpAddr::V4(theirs));
    let mut bird = Bird::start(theirs, ours, port, None);
    let handle = Speaker::start(speaker_config(ours, theirs, port))
        .await
        .unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("routes", Duration::from_secs(5), || {
        bird.has("10.0.0.1/32").then_some(())
    })
    .await;

    bird.daemon.kill();
    wait_for("our side notices", Duration::from_secs(15), || {
        (handle.status()[0].state != State::Established).then_some(())
    })
    .await;
    bird.spawn();
    wait_for(
        "re-established and re-announced",
        Duration::from_secs(15),
        || bird.has("10.0.0.1/32").then_some(()),
    )
    .await;
    assert_eq!(handle.status()[0].established_count, 2);
    assert!(handle.status()[0].last_error.is_some());
    handle.shutdown().await;
}

#[tokio::test]
async fn bird_md5_mismatch_fails_cleanly_and_matching_keys_work() {
    let (ours, theirs) = addrs(5);
    let port = free_port(IpAddr::V4(theirs));
    let bird = Bird::start(theirs, ours, port, Some("right-key"));
    let mut config = speaker_config(ours, theirs, port);
    config.peers[0].md5_password = Some(Md5Password("wrong-key".to_owned()));
    let handle = Speaker::start(config.clone()).await.unwrap();
    let error = wait_for("a clear MD5 error", Duration::from_secs(15), || {
        handle.status()[0]
            .last_error
            .clone()
            .filter(|e| e.contains("MD5"))
    })
    .await;
    assert_ne!(handle.status()[0].state, State::Established);
    assert!(!bird.established());
    assert!(error.contains("timed out"), "{error}");
    handle.shutdown().await;

    config.peers[0].md5_password = Some(Md5Password("right-key".to_owned()));
    let handle = Speaker::start(config).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("routes with MD5", Duration::from_secs(5), || {
        bird.has("10.0.0.1/32").then_some(())
    })
    .await;
    handle.shutdown().await;
}

#[tokio::test]
async fn bird_include_file_mode_reloads_bird_with_static_routes() {
    use lb_bgp_announcer::bird::{BirdOptions, apply, render};
    require_tool("bird", "bird2");
    require_tool("birdc", "bird2");
    let dir = tempfile::tempdir().unwrap();
    let ctl = dir.path().join("bird.ctl");
    let include = dir.path().join("vips.conf");
    let mut options = BirdOptions::new(&include);
    options.socket = Some(ctl.clone());
    std::fs::write(&include, render(&Default::default(), &options).unwrap()).unwrap();
    let conf = dir.path().join("bird.conf");
    std::fs::write(
        &conf,
        format!(
            "router id 192.0.2.9;\nprotocol device {{}}\ninclude \"{}\";\n",
            include.display()
        ),
    )
    .unwrap();
    let _bird = Daemon::spawn(
        "bird",
        Command::new("bird")
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&ctl),
        &dir.path().join("bird.log"),
    );
    let show = || {
        run(
            "birdc",
            &["-s", ctl.to_str().unwrap(), "show", "route", "all"],
        )
    };
    wait_for("BIRD up", Duration::from_secs(5), || {
        show().contains("ready").then_some(())
    })
    .await;

    let routes = sample_routes();
    assert!(
        apply(&routes, &options).await.unwrap(),
        "first apply must reload"
    );
    let table = show();
    assert!(table.contains("10.0.0.1/32"), "{table}");
    assert!(table.contains("2001:db8:1::1/128"), "{table}");
    assert!(table.contains("BGP.med: 10"), "{table}");
    assert!(table.contains("(65000,100)"), "{table}");
    assert!(
        !apply(&routes, &options).await.unwrap(),
        "unchanged file must not reload"
    );

    let mut fewer = routes;
    fewer.retain(|net, _| net.is_ipv6());
    assert!(apply(&fewer, &options).await.unwrap());
    let table = show();
    assert!(!table.contains("10.0.0.1/32"), "{table}");
    assert!(table.contains("2001:db8:1::1/128"), "{table}");
}

#[tokio::test]
async fn bird_connecting_to_our_listener_gets_routes_and_a_stranger_is_refused() {
    let (ours, theirs) = addrs(7);
    let stranger = Ipv4Addr::new(127, 20, 7, 3);
    let (handle, port) = start_listening(IpAddr::V4(ours), |port| {
        let mut config = speaker_config(ours, theirs, port);
        config.listen = Some((IpAddr::V4(ours), port).into());
        config.peers[0].passive = true;
        config.peers[0].port = 179;
        config.peers[0].md5_password = Some(Md5Password("passive-key".to_owned()));
        config
    })
    .await;
    handle.set_announcements(sample_routes());

    let bird = Bird::start_active(theirs, ours, port, Some("passive-key"));
    // Without MD5, so the kernel lets its SYN in and our accept loop is what refuses it.
    let intruder = Bird::start_active(stranger, ours, port, None);
    let deadline = Instant::now() + Duration::from_secs(15);
    while handle.status()[0].state != State::Established {
        assert!(
            Instant::now() < deadline,
            "no session within 15 s; ours: {:?}\nBIRD: {}",
            handle.status(),
            bird.birdc(&["show", "protocols", "all", "lb"])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for(
        "both routes in the connecting BIRD",
        Duration::from_secs(5),
        || (bird.has("10.0.0.1/32") && bird.has("2001:db8:1::1/128")).then_some(()),
    )
    .await;
    let routes = bird.routes();
    assert!(routes.contains("BGP.next_hop: 127.20.7.1"), "{routes}");
    assert!(routes.contains("BGP.community: (65000,100)"), "{routes}");

    // The stranger has had several connect attempts by now (delay 1 s, retry 2 s); none may
    // reach a session or a route, and our status knows only the configured peer.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !intruder.established(),
        "{}",
        intruder.birdc(&["show", "protocols", "all", "lb"])
    );
    assert!(!intruder.has("10.0.0.1/32"), "{}", intruder.routes());
    let status = handle.status();
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(status[0].state, State::Established, "{status:?}");

    handle.shutdown().await;
    wait_for(
        "routes withdrawn on shutdown",
        Duration::from_secs(5),
        || (!bird.has("10.0.0.1/32")).then_some(()),
    )
    .await;
}
