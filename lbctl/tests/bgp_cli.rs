//! CLI tests of the BGP wiring that need no kernel: `lbctl run` refuses a bad `[bgp]` before
//! touching anything (exit 64, naming the key), `lbctl withdraw` (and its former name
//! `lbctl drain`) asks the daemon's control socket for `POST /withdraw`, and fails cleanly
//! without a daemon.

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
fn withdraw_without_a_daemon_fails_and_says_where_it_looked() {
    let dir = scratch("withdraw");
    let socket = dir.0.join("control.sock");
    for command in ["withdraw", "drain"] {
        let out = lbctl(&[command, "--socket", socket.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
        let want = format!(
            "cannot connect to the daemon's control socket {}",
            socket.display()
        );
        assert!(stderr(&out).contains(&want), "{}", stderr(&out));
        // Over TCP there is nothing to withdraw with: the old flag is gone.
        let out = lbctl(&[command, "--address", "127.0.0.1:9"]);
        assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    }
}

/// `lbctl withdraw` and its alias `lbctl drain` send `POST /withdraw` (with `undo` and `vip`)
/// and report the daemon's refusal. Mutation: drop the `visible_alias` (then `drain` is an
/// unknown command, exit 2) or send the old path.
#[test]
fn withdraw_and_its_alias_drain_post_to_withdraw() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    let dir = scratch("withdraw-path");
    let socket = dir.0.join("control.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&chunk[..n]);
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            lines.push(text.lines().next().unwrap_or_default().to_owned());
            stream
                .write_all(b"HTTP/1.0 409 Conflict\r\n\r\nBGP is not enabled\n")
                .unwrap();
        }
        lines
    });
    let path = socket.to_str().unwrap();
    let out = lbctl(&["withdraw", "--socket", path, "--vip", "10.0.0.1"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("BGP is not enabled"),
        "{}",
        stderr(&out)
    );
    let out = lbctl(&["drain", "--undo", "--socket", path]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let lines = server.join().unwrap();
    assert_eq!(
        lines,
        [
            "POST /withdraw?vip=10.0.0.1 HTTP/1.0",
            "POST /withdraw?undo HTTP/1.0"
        ]
    );
    let help = lbctl(&["--help"]);
    // Whitespace normalized: how clap wraps the line depends on its features, which a
    // workspace build unifies (divan, a bench's dependency, turns on clap's wrap_help).
    let text = String::from_utf8_lossy(&help.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("withdraw") && text.contains("[alias: drain]"),
        "{text}"
    );
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
