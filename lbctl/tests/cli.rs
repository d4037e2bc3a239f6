//! CLI tests: `lbctl validate` and `lbctl plan` on the files in `examples/`.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn validate_accepts_the_example_configmap() {
    let out = lbctl(&["validate", "examples/configmap.yaml"]);
    assert_eq!(out.status.code(), Some(0), "stdout: {}", stdout(&out));
    assert!(
        stdout(&out).is_empty(),
        "no problem lines expected: {}",
        stdout(&out)
    );
}

#[test]
fn validate_reports_each_problem_as_key_position_message() {
    let out = lbctl(&["validate", "examples/configmap-bad.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "one line per problem: {text}");
    for line in &lines {
        let parts: Vec<&str> = line.splitn(3, ": ").collect();
        assert_eq!(parts.len(), 3, "`key: position: message` expected: {line}");
        assert!(!parts[0].is_empty() && !parts[2].is_empty(), "{line}");
    }
    assert!(
        text.contains("203.0.113.225-80: column 34: expected a port number"),
        "{text}"
    );
}

#[test]
fn validate_json_is_machine_readable() {
    let out = lbctl(&[
        "validate",
        "--output",
        "json",
        "examples/configmap-bad.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["valid"], false);
    let problems = doc["problems"].as_array().expect("problems array");
    assert!(problems.len() >= 3);
    assert!(
        problems
            .iter()
            .all(|p| p["key"].is_string() && p["message"].is_string())
    );
}

#[test]
fn validate_with_settings_rejects_vips_outside_managed_ranges() {
    // The lab settings manage 10.0.0.96/28 only; the example ConfigMap uses 203.0.113.0/24.
    let out = lbctl(&[
        "validate",
        "--settings",
        "examples/lab/settings.toml",
        "examples/configmap.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("203.0.113.225-80:"), "{text}");
    assert!(
        text.contains("10.0.0.96/28"),
        "the message names the managed ranges: {text}"
    );
}

#[test]
fn validate_missing_file_is_a_usage_error() {
    let out = lbctl(&["validate", "examples/does-not-exist.yaml"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.yaml"));
}

#[test]
fn plan_prints_ipvsadm_lines_for_every_service() {
    let out = lbctl(&[
        "plan",
        "--config",
        "examples/configmap.yaml",
        "--settings",
        "examples/settings.toml",
        "--endpoints",
        "examples/endpoints.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    // The original design's static entries, verbatim.
    assert!(text.contains("-A -t 203.0.113.225:80 -s rr\n"), "{text}");
    assert!(
        text.contains("-a -t 203.0.113.225:80 -r 198.51.100.130:80 -m -w 1\n"),
        "{text}"
    );
    assert!(
        text.contains("-a -t 203.0.113.225:443 -r 198.51.100.20:443 -m -w 1\n"),
        "{text}"
    );
    // A Service entry resolved through the endpoints file.
    assert!(
        text.contains("(gslb/nginx-ingress-controller-new-lb port http)"),
        "{text}"
    );
    assert!(text.contains("# VIPs: 203.0.113.225"), "{text}");
}

#[test]
fn plan_of_the_lab_example_is_exactly_the_expected_table() {
    let out = lbctl(&[
        "plan",
        "-c",
        "examples/lab/configmap.yaml",
        "-s",
        "examples/lab/settings.toml",
        "-e",
        "examples/lab/endpoints.yaml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let commands: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let expected = [
        "-A -t 10.0.0.100:80 -s rr",
        "-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1",
        "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1",
        "-A -u 10.0.0.100:53 -s rr",
        "-a -u 10.0.0.100:53 -r 10.0.1.11:53 -m -w 1",
        "-A -t 10.0.0.101:80 -s rr",
        "-a -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 1",
        "-a -t 10.0.0.101:80 -r 10.0.1.12:80 -g -w 1",
        "-A -t 10.0.0.102:80 -s rr",
        "-a -t 10.0.0.102:80 -r 10.0.1.11:80 -i -w 1 --tun-type ipip",
        "-a -t 10.0.0.102:80 -r 10.0.1.12:80 -i -w 1 --tun-type ipip",
    ];
    assert_eq!(commands, expected);
}

#[test]
fn plan_json_carries_the_desired_state() {
    let out = lbctl(&[
        "plan",
        "-o",
        "json",
        "-c",
        "examples/lab/configmap.yaml",
        "-s",
        "examples/lab/settings.toml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let vips = doc["desired"]["vips"].as_array().expect("vips");
    assert_eq!(vips.len(), 3);
}

#[test]
fn plan_with_bad_settings_names_the_field() {
    let dir = std::env::temp_dir().join(format!("lbctl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("bad.toml");
    std::fs::write(&settings, "managed_vip_rangez = [\"10.0.0.0/24\"]\n").unwrap();
    let out = lbctl(&[
        "plan",
        "-c",
        "examples/lab/configmap.yaml",
        "-s",
        settings.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("managed_vip_rangez"));
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in ["validate", "plan", "diff", "apply"] {
        let out = lbctl(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains("Example:"),
            "{cmd} --help lacks an example"
        );
    }
}

/// Without settings, `validate --endpoints` widens the managed ranges to everything (the range
/// check is skipped): the settings' refusal of `0.0.0.0/0` must not reach this path.
#[test]
fn validate_with_endpoints_and_no_settings_checks_everything_but_the_ranges() {
    let out = lbctl(&[
        "validate",
        "--endpoints",
        "examples/endpoints.yaml",
        "examples/lab/configmap.yaml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A managed range that holds one of this host's addresses (loopback, which every host has)
/// is refused before anything is written: exit 64, the clash named, no state or lock file.
/// Mutation: removing the check in `apply` makes it reach the writer lock (a file appears) and
/// fail on IPVS instead.
#[test]
fn apply_refuses_a_range_holding_an_own_address_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("lbctl-cli-own-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("own.toml");
    std::fs::write(
        &settings,
        format!(
            "managed_vip_ranges = [\"127.0.0.0/8\"]\nstate_file = \"{}\"\n",
            dir.join("state.json").display()
        ),
    )
    .unwrap();
    let out = lbctl(&[
        "apply",
        "-c",
        "examples/lab/configmap.yaml",
        "-s",
        settings.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("127.0.0.0/8 holds 127.0.0.1, an address of this director on lo"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("own.toml")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_refuse_a_managed_range_of_everything() {
    let dir = std::env::temp_dir().join(format!("lbctl-cli-wide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("wide.toml");
    std::fs::write(&settings, "managed_vip_ranges = [\"0.0.0.0/0\"]\n").unwrap();
    let out = lbctl(&[
        "plan",
        "-c",
        "examples/lab/configmap.yaml",
        "-s",
        settings.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0.0.0.0/0 is too wide"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
