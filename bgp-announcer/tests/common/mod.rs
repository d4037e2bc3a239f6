//! Helpers shared by the interop tests: required tools, free ports, daemons killed on drop,
//! bounded waits, and speaker configs on loopback addresses.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lb_bgp_announcer::{
    Announcements, Community, LargeCommunity, PeerConfig, RouteAttributes, Speaker, SpeakerConfig,
    SpeakerError, SpeakerHandle, State,
};

/// Fails (never skips) when a tool is missing, naming the Debian package to install.
pub fn require_tool(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` not found: install the Debian package `{package}` \
         (tests/install-deps.sh installs everything listed in tests/packages.txt)"
    );
}

/// A TCP port that was free a moment ago on `ip`.
pub fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A speaker listening on a free port of `ip`, and that port. `free_port` only says a port was
/// free a moment ago: another process may take it before the speaker binds it (seen in CI:
/// EADDRINUSE), so a taken port is replaced by a fresh one, at most five times.
pub async fn start_listening(
    ip: IpAddr,
    config_for: impl Fn(u16) -> SpeakerConfig,
) -> (SpeakerHandle, u16) {
    let mut attempt = 1;
    loop {
        let port = free_port(ip);
        match Speaker::start(config_for(port)).await {
            Ok(handle) => return (handle, port),
            Err(SpeakerError::Listen { cause, .. })
                if cause.kind() == std::io::ErrorKind::AddrInUse && attempt < 5 =>
            {
                attempt += 1;
            }
            Err(err) => panic!("the speaker did not start on {ip}:{port}: {err}"),
        }
    }
}

/// A child process killed (and reaped) when dropped, also when the test fails.
pub struct Daemon {
    pub name: &'static str,
    child: Option<Child>,
}

impl Daemon {
    pub fn spawn(name: &'static str, command: &mut Command, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log fd"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon {
            name,
            child: Some(child),
        }
    }

    /// SIGKILL now (a crash, as far as the BGP peer can tell).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every peer of `handle` is Established.
pub async fn wait_established(handle: &SpeakerHandle, timeout: Duration) {
    wait_for("BGP session established", timeout, || {
        let status = handle.status();
        status
            .iter()
            .all(|s| s.state == State::Established)
            .then_some(())
    })
    .await;
}

/// Runs a command and returns stdout (panics with stderr on failure).
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Our speaker on `local`, one active eBGP peer at `peer:port`.
pub fn speaker_config(local: Ipv4Addr, peer: Ipv4Addr, port: u16) -> SpeakerConfig {
    let mut config = SpeakerConfig::new(65001, Ipv4Addr::new(192, 0, 2, 1));
    config.graceful_shutdown.tag_community = false;
    config.graceful_restart.restart_time_secs = 60;
    let mut p = PeerConfig::new(IpAddr::V4(peer), 65002);
    p.port = port;
    p.local_address = Some(IpAddr::V4(local));
    p.next_hop_v6 = Some("2001:db8::1".parse().expect("v6"));
    p.connect_retry_min_ms = 200;
    p.connect_retry_max_ms = 1000;
    p.hold_time_secs = Some(9);
    config.peers.push(p);
    config
}

/// The routes most tests announce: one IPv4 VIP with MED and communities, one IPv6 VIP.
pub fn sample_routes() -> Announcements {
    let attrs = RouteAttributes {
        med: Some(10),
        local_pref: None,
        communities: [Community::new(65000, 100)].into(),
        large_communities: [LargeCommunity {
            global: 65000,
            local1: 1,
            local2: 2,
        }]
        .into(),
    };
    [
        ("10.0.0.1/32".parse().expect("v4"), attrs.clone()),
        ("2001:db8:1::1/128".parse().expect("v6"), attrs),
    ]
    .into()
}
