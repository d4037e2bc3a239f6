//! Interop with GoBGP (Debian package `gobgpd`: `gobgpd` and the `gobgp` CLI) over loopback.
//! Each test starts its own `gobgpd` (own config, BGP port and gRPC port in a temp dir) and
//! kills it on drop. It is passive and our speaker connects, except in the passive-mode test,
//! where gobgpd connects to our listener.
//!
//! GoBGP refuses loopback next hops (rightly), so these tests also exercise a configured
//! IPv4 next hop (`next_hop_v4 = 192.0.2.1`) instead of next-hop-self.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use lb_bgp_announcer::{Md5Password, ShutdownMode, Speaker, SpeakerConfig, State};
use tempfile::TempDir;

struct GoBgp {
    daemon: Daemon,
    dir: TempDir,
    conf: PathBuf,
    api_port: u16,
}

impl GoBgp {
    /// Passive gobgpd listening on `addr:port`, expecting us from `neighbor`.
    fn start(addr: Ipv4Addr, neighbor: Ipv4Addr, port: u16, password: Option<&str>) -> Self {
        Self::start_with(
            addr,
            neighbor,
            port,
            "    passive-mode = true\n",
            "",
            password,
        )
    }

    /// gobgpd on `addr` connecting to our listener at `neighbor:port`, retrying every second;
    /// its own listener is on a free port of `addr`.
    fn start_active(addr: Ipv4Addr, neighbor: Ipv4Addr, port: u16, password: Option<&str>) -> Self {
        let own_port = free_port(IpAddr::V4(addr));
        let transport = format!("    passive-mode = false\n    remote-port = {port}\n");
        let timers = "  [neighbors.timers.config]\n    connect-retry = 1\n";
        Self::start_with(addr, neighbor, own_port, &transport, timers, password)
    }

    /// `transport` goes into `[neighbors.transport.config]`, `tables` after it.
    fn start_with(
        addr: Ipv4Addr,
        neighbor: Ipv4Addr,
        port: u16,
        transport: &str,
        tables: &str,
        password: Option<&str>,
    ) -> Self {
        require_tool("gobgpd", "gobgpd");
        require_tool("gobgp", "gobgpd");
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("gobgpd.toml");
        let api_port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let password = password
            .map(|p| format!("    auth-password = \"{p}\"\n"))
            .unwrap_or_default();
        let family = |name: &str| {
            format!(
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      \
                 afi-safi-name = \"{name}\"\n    [neighbors.afi-safis.mp-graceful-restart.config]\n      \
                 enabled = true\n"
            )
        };
        std::fs::write(
            &conf,
            format!(
                "[global.config]\n  as = 65002\n  router-id = \"192.0.2.2\"\n  port = {port}\n  \
                 local-address-list = [\"{addr}\"]\n\
                 [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{neighbor}\"\n    \
                 peer-as = 65001\n{password}  [neighbors.transport.config]\n{transport}    \
                 local-address = \"{addr}\"\n{tables}  [neighbors.graceful-restart.config]\n    enabled = true\n    \
                 restart-time = 120\n{}{}",
                family("ipv4-unicast"),
                family("ipv6-unicast")
            ),
        )
        .unwrap();
        let mut gobgp = GoBgp {
            daemon: Daemon::spawn("gobgpd", &mut Command::new("true"), &dir.path().join("x")),
            dir,
            conf,
            api_port,
        };
        gobgp.spawn();
        gobgp
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("gobgpd.log");
        self.daemon = Daemon::spawn(
            "gobgpd",
            Command::new("gobgpd")
                .arg("-f")
                .arg(&self.conf)
                .arg("-p")
                .arg("--pprof-disable")
                .arg(format!("--api-hosts=127.0.0.1:{}", self.api_port)),
            &log,
        );
    }

    fn cli(&self, args: &[&str]) -> String {
        let port = self.api_port.to_string();
        let mut all = vec!["-p", port.as_str()];
        all.extend_from_slice(args);
        run("gobgp", &all)
    }

    fn rib(&self, family: &str) -> String {
        self.cli(&["global", "rib", "-a", family])
    }

    fn has(&self, family: &str, prefix: &str) -> bool {
        self.rib(family).contains(prefix)
    }

    fn established(&self) -> bool {
        self.cli(&["neighbor"]).contains("Establ")
    }

    /// Whether GoBGP saw the R-bit in our graceful-restart capability.
    fn saw_restart_flag(&self, ours: Ipv4Addr) -> bool {
        self.cli(&["neighbor", &ours.to_string()])
            .contains("restart flag set")
    }

    /// UPDATE messages GoBGP has received from us (its message statistics; End-of-RIB
    /// markers count too).
    fn received_updates(&self, ours: Ipv4Addr) -> u64 {
        self.cli(&["neighbor", &ours.to_string()])
            .lines()
            .find(|line| line.trim_start().starts_with("Updates:"))
            .and_then(|line| line.split_whitespace().nth(2)?.parse().ok())
            .unwrap_or(0)
    }
}

fn addrs(n: u8) -> (Ipv4Addr, Ipv4Addr) {
    (Ipv4Addr::new(127, 21, n, 1), Ipv4Addr::new(127, 21, n, 2))
}

fn config(ours: Ipv4Addr, theirs: Ipv4Addr, port: u16) -> SpeakerConfig {
    let mut config = speaker_config(ours, theirs, port);
    config.peers[0].next_hop_v4 = Some(Ipv4Addr::new(192, 0, 2, 1));
    config
}

#[tokio::test]
async fn gobgp_receives_routes_with_attributes_and_shutdown_withdraws_them() {
    let (ours, theirs) = addrs(1);
    let port = free_port(IpAddr::V4(theirs));
    let gobgp = GoBgp::start(theirs, ours, port, None);
    let handle = Speaker::start(config(ours, theirs, port)).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("routes in GoBGP", Duration::from_secs(5), || {
        (gobgp.has("ipv4", "10.0.0.1/32") && gobgp.has("ipv6", "2001:db8:1::1/128")).then_some(())
    })
    .await;
    let v4 = gobgp.rib("ipv4");
    let v6 = gobgp.rib("ipv6");
    for (rib, expected) in [
        (&v4, "192.0.2.1"),
        (&v4, "65001"),
        (&v4, "{Origin: i}"),
        (&v4, "{Med: 10}"),
        (&v4, "{Communities: 65000:100}"),
        (&v4, "65000:1:2"),
        (&v6, "2001:db8::1 "),
        (&v6, "{Med: 10}"),
    ] {
        assert!(rib.contains(expected), "missing {expected:?} in:\n{rib}");
    }
    handle.shutdown().await;
    wait_for("routes withdrawn", Duration::from_secs(5), || {
        (!gobgp.has("ipv4", "10.0.0.1/32") && !gobgp.has("ipv6", "2001:db8:1::1/128")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn gobgp_follows_changes_within_a_second_without_resetting_the_session() {
    let (ours, theirs) = addrs(2);
    let port = free_port(IpAddr::V4(theirs));
    let gobgp = GoBgp::start(theirs, ours, port, None);
    let handle = Speaker::start(config(ours, theirs, port)).await.unwrap();
    let all = sample_routes();
    handle.set_announcements(all.clone());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("announced", Duration::from_secs(5), || {
        gobgp.has("ipv4", "10.0.0.1/32").then_some(())
    })
    .await;

    let mut fewer = all.clone();
    fewer.retain(|net, _| net.is_ipv6());
    handle.set_announcements(fewer);
    wait_for("v4 withdrawn", Duration::from_secs(1), || {
        (!gobgp.has("ipv4", "10.0.0.1/32")).then_some(())
    })
    .await;
    assert!(gobgp.has("ipv6", "2001:db8:1::1/128"));
    handle.set_announcements(all);
    wait_for("v4 back", Duration::from_secs(1), || {
        gobgp.has("ipv4", "10.0.0.1/32").then_some(())
    })
    .await;
    assert_eq!(handle.status()[0].established_count, 1);
    assert!(gobgp.cli(&["neighbor"]).contains("Establ"));
    handle.shutdown().await;
}

#[tokio::test]
async fn gobgp_keeps_routes_across_our_graceful_restart() {
    let (ours, theirs) = addrs(3);
    let port = free_port(IpAddr::V4(theirs));
    let gobgp = GoBgp::start(theirs, ours, port, None);
    let cfg = config(ours, theirs, port);
    let handle = Speaker::start(cfg.clone()).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("routes", Duration::from_secs(5), || {
        gobgp.has("ipv4", "10.0.0.1/32").then_some(())
    })
    .await;

    // Control of the R-bit check below: a first start does not claim it.
    assert!(!gobgp.saw_restart_flag(ours), "R-bit on a first start");
    let received_before = gobgp.received_updates(ours);
    assert!(
        received_before >= 2,
        "GoBGP counted {received_before} updates"
    );

    handle.shutdown_with(ShutdownMode::GracefulRestart).await;
    wait_for("GoBGP notices", Duration::from_secs(5), || {
        (!gobgp.established()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        gobgp.has("ipv4", "10.0.0.1/32"),
        "route lost:\n{}",
        gobgp.rib("ipv4")
    );
    assert!(gobgp.has("ipv6", "2001:db8:1::1/128"));

    let mut restarted = cfg;
    restarted.graceful_restart.restarting = true;
    let handle = Speaker::start(restarted).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    assert!(gobgp.saw_restart_flag(ours), "GoBGP did not see the R-bit");
    // Present routes could be GoBGP's stale copies: the new session must have sent as many
    // UPDATEs as the first (the routes and the End-of-RIB markers).
    wait_for("both routes re-sent", Duration::from_secs(5), || {
        (gobgp.received_updates(ours) >= 2 * received_before).then_some(())
    })
    .await;
    assert!(gobgp.has("ipv4", "10.0.0.1/32"));
    assert!(gobgp.has("ipv6", "2001:db8:1::1/128"));
    handle.shutdown().await;
}

#[tokio::test]
async fn gobgp_restart_reestablishes_and_reannounces() {
    let (ours, theirs) = addrs(4);
    let port = free_port(IpAddr::V4(theirs));
    let mut gobgp = GoBgp::start(theirs, ours, port, None);
    let handle = Speaker::start(config(ours, theirs, port)).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    gobgp.daemon.kill();
    wait_for("our side notices", Duration::from_secs(15), || {
        (handle.status()[0].state != State::Established).then_some(())
    })
    .await;
    gobgp.spawn();
    wait_for("re-announced", Duration::from_secs(15), || {
        (gobgp.has("ipv4", "10.0.0.1/32") && gobgp.has("ipv6", "2001:db8:1::1/128")).then_some(())
    })
    .await;
    assert_eq!(handle.status()[0].established_count, 2);
    handle.shutdown().await;
}

#[tokio::test]
async fn gobgp_md5_mismatch_fails_cleanly_and_matching_keys_work() {
    let (ours, theirs) = addrs(5);
    let port = free_port(IpAddr::V4(theirs));
    let gobgp = GoBgp::start(theirs, ours, port, Some("right-key"));
    let mut cfg = config(ours, theirs, port);
    cfg.peers[0].md5_password = Some(Md5Password("wrong-key".to_owned()));
    let handle = Speaker::start(cfg.clone()).await.unwrap();
    let error = wait_for("a clear MD5 error", Duration::from_secs(15), || {
        handle.status()[0]
            .last_error
            .clone()
            .filter(|e| e.contains("MD5"))
    })
    .await;
    assert!(error.contains("timed out"), "{error}");
    assert!(!gobgp.established());
    handle.shutdown().await;

    cfg.peers[0].md5_password = Some(Md5Password("right-key".to_owned()));
    let handle = Speaker::start(cfg).await.unwrap();
    handle.set_announcements(sample_routes());
    wait_established(&handle, Duration::from_secs(10)).await;
    wait_for("routes with MD5", Duration::from_secs(5), || {
        gobgp.has("ipv4", "10.0.0.1/32").then_some(())
    })
    .await;
    handle.shutdown().await;
}

#[tokio::test]
async fn gobgp_connecting_to_our_listener_gets_routes() {
    let (ours, theirs) = addrs(6);
    let (handle, port) = start_listening(IpAddr::V4(ours), |port| {
        let mut config = config(ours, theirs, 179);
        config.listen = Some((IpAddr::V4(ours), port).into());
        config.peers[0].passive = true;
        config.peers[0].md5_password = Some(Md5Password("passive-key".to_owned()));
        config
    })
    .await;
    handle.set_announcements(sample_routes());
    let gobgp = GoBgp::start_active(theirs, ours, port, Some("passive-key"));
    wait_established(&handle, Duration::from_secs(15)).await;
    wait_for(
        "routes in the connecting GoBGP",
        Duration::from_secs(5),
        || {
            (gobgp.has("ipv4", "10.0.0.1/32") && gobgp.has("ipv6", "2001:db8:1::1/128"))
                .then_some(())
        },
    )
    .await;
    assert!(gobgp.established());
    let v4 = gobgp.rib("ipv4");
    assert!(v4.contains("{Communities: 65000:100}"), "{v4}");
    handle.shutdown().await;
    wait_for("routes withdrawn", Duration::from_secs(5), || {
        (!gobgp.has("ipv4", "10.0.0.1/32")).then_some(())
    })
    .await;
}
