//! The shipped Prometheus alert rules and Grafana dashboard, checked with the real `promtool`.
//!
//! - `promtool check rules` on deploy/prometheus/alerts.yaml;
//! - `promtool test rules` on every deploy/prometheus/tests/*.yaml (unit-test series);
//! - every query of deploy/grafana/lbctl-dashboard.json parses as PromQL (as a recording rule,
//!   with the dashboard variables substituted), and every series it names is documented in
//!   docs/metrics.md.
//!
//! `promtool` comes with the Debian package `prometheus` (tests/packages.txt); without it the
//! tests fail with that hint rather than skip.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs promtool with `args` in the repository root; panics with its output on failure.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install the Debian package `prometheus` \
                 (tests/install-deps.sh installs everything in tests/packages.txt)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_check() {
    let out = promtool(&["check", "rules", "deploy/prometheus/alerts.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn alert_rules_pass_their_unit_tests() {
    let dir = repo().join("deploy/prometheus/tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.strip_prefix(repo()).unwrap().display().to_string())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no unit tests in {}", dir.display());
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let out = promtool(&args);
    assert!(!out.contains("FAILED"), "{out}");
}

/// Every `expr` of the dashboard, with Grafana's variables replaced by what the lab and these
/// tests use (all values, a 1m rate window).
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/lbctl-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$namespace", ".*")
                .replace("$service", ".*")
                .replace("$vip", ".*");
            out.push((panel["title"].as_str().unwrap().to_owned(), expr));
        }
    }
    out
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "only {} queries", queries.len());
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        let quoted = serde_json::to_string(expr).unwrap();
        rules.push_str(&format!(
            "      - record: lbctl:dashboard_query_{i}\n        expr: {quoted}\n"
        ));
    }
    let file = std::env::temp_dir().join(format!("lbctl-dashboard-{}.yaml", std::process::id()));
    std::fs::write(&file, rules).unwrap();
    let out = promtool(&["check", "rules", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert!(
        out.contains(&format!("{} rules found", queries.len())),
        "{out}"
    );
}

#[test]
fn every_series_of_the_dashboard_and_alerts_is_documented() {
    let docs = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let alerts = std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yaml")).unwrap();
    let mut texts: Vec<String> = dashboard_queries().into_iter().map(|(_, e)| e).collect();
    texts.push(alerts);
    for text in texts {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let name = word
                .trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum");
            if (name.starts_with("lvs_") || name.starts_with("lbctl_")) && !docs.contains(name) {
                panic!("{name} is used but not documented in docs/metrics.md");
            }
        }
    }
}
