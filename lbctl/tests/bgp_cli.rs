//! CLI tests of the BGP wiring that need no kernel: `lbctl run` refuses a bad `[bgp]` before
//! touching anything (exit 64, naming the key), and `lbctl drain` without a daemon fails
//! cleanly.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn lbctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lbctl"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run lbctl")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!("lbctl-bgp-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Dir(dir)
}

fn run_with_settings(dir: &Path, settings: &str) -> Output {
    let settings_file = dir.join("settings.toml");
    std::fs::write(&settings_file, settings).unwrap();
    let cm = dir.join("cm.yaml");
    std::fs::write(&cm, "10.0.0.100-80: 10.1.0.1:80\n").unwrap();
    lbctl(&[
        "run",
        "--settings",
        settings_file.to_str().unwrap(),
        "--config-file",
        cm.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
}

const BASE: &str = "managed_vip_ranges = [\"10.0.0.96/28\"]\n";

#[test]
fn run_refuses_a_bgp_typo_with_exit_64_naming_the_key() {
    let dir = scratch("typo");
    let settings = format!(
        "{BASE}[bgp]\nenabled = true\nlocal_as = 64512\nrouter_id = \"10.0.9.1\"\n\
         [[bgp.peers]]\naddress = \"10.0.9.2\"\nremote_as = 64513\nmd5_pasword = \"x\"\n"
    );
    let out = run_with_settings(&dir.0, &settings);
    assert_eq!(out.status.code(), Some(64), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("md5_pasword"), "{}", stderr(&out));
    assert!(stderr(&out).contains("[bgp]"), "{}", stderr(&out));
}

#[test]
fn run_refuses_inverted_policy_thresholds() {
    let dir = scratch("policy");
    let settings = format!(
        "{BASE}[bgp]\nenabled = true\nlocal_as = 64512\nrouter_id = \"10.0.9.1\"\npeers = []\n\
         [bgp.policy]\nannounce_at = 1\nwithdraw_below = 2\n"
    );
    let out = run_with_settings(&dir.0, &settings);
    assert_eq!(out.status.code(), Some(64), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("withdraw_below"), "{}", stderr(&out));
}

#[test]
fn drain_without_a_daemon_fails_and_says_where_it_looked() {
    let dir = scratch("drain");
    let socket = dir.0.join("control.sock");
    let out = lbctl(&["drain", "--socket", socket.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let want = format!(
        "cannot connect to the daemon's control socket {}",
        socket.display()
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    // Over TCP there is nothing to drain with: the old flag is gone.
    let out = lbctl(&["drain", "--address", "127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
}

#[test]
fn validate_with_settings_checks_the_bgp_table() {
    let dir = scratch("validate");
    let settings = dir.0.join("settings.toml");
    std::fs::write(
        &settings,
        format!(
            "{BASE}[bgp]\nenabled = true\nlocal_as = 64512\nrouter_id = \"10.0.9.1\"\n\
             [[bgp.peers]]\naddress = \"10.0.9.2\"\nremote_az = 64513\n"
        ),
    )
    .unwrap();
    let out = lbctl(&[
        "validate",
        "--settings",
        settings.to_str().unwrap(),
        "examples/lab/configmap.yaml",
    ]);
    assert_eq!(out.status.code(), Some(64), "stderr: {}", stderr(&out));
    assert!(stderr(&out).contains("remote_az"), "{}", stderr(&out));
}
