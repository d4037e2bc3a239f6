//! Throwaway network namespaces for the netfilter tests on the host (no IPVS needed).
//! Each test gets its own namespace, deleted on drop even when the test fails.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use lb_director::netfilter::ToolRunner;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace `lbnf-<pid>-<n>`, removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = format!(
            "lbnf-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add (needs root and iproute2)");
        assert!(status.success(), "ip netns add {name} failed (needs root)");
        Netns { name }
    }

    /// A runner that executes tools inside this namespace.
    pub fn runner(&self) -> ToolRunner {
        ToolRunner::with_prefix(["ip", "netns", "exec", self.name.as_str()])
    }

    /// Runs a shell command in the namespace; returns stdout; panics on failure.
    pub fn sh(&self, script: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .output()
            .expect("run ip netns exec");
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `iptables-save`-style output without the comment lines (which carry timestamps).
    pub fn save(&self, tool: &str) -> String {
        self.sh(tool)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// Whether a program is on PATH (the legacy tools may be missing on some hosts).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
