//! Runs the real-kernel lab scenarios (`tests/lab/scenarios/*.sh`) from `cargo test`.
//!
//! Contract: each `lab_*` test boots one qemu VM through `tests/lab/run.sh <scenario>` and
//! passes when the scenario reports `LAB-RESULT <scenario> PASS`. The host kernel has no IPVS,
//! so these tests are the only ones that exercise the real kernel; they are not faked.
//!
//! - Missing prerequisites (no `qemu-system-x86_64`) make every lab test FAIL with a message
//!   saying how to install them, unless `LB_LAB_SKIP=1`, which skips the lab tests (they
//!   print that they skipped). A silent skip would let CI go green without the kernel tests.
//! - `run.sh --cargo-build` first rebuilds `lbctl` and the `ipvs_probe` example, so the VM
//!   runs the code under test rather than a stale binary; `LB_LAB_NO_BUILD=1` turns that off
//!   (for callers that just built everything, like `tests/run-all.sh`).
//! - VMs never run in parallel: the machine has two cores and TCG emulation is CPU-bound, so
//!   parallel boots would slow each other past their deadlines. Each test takes a
//!   process-wide mutex instead of folding all scenarios into one test, so that each scenario
//!   keeps its own name, result and filter (`cargo test --test lab lab_01`).
//!
//! The pure checks at the end (every scenario has a test, the scripts parse) need no VM.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// Serialises VM boots across the tests of this binary (see the module docs).
static LAB_LOCK: Mutex<()> = Mutex::new(());

/// Declares one `#[test]` per scenario and the list `SCENARIOS` that the consistency test
/// compares with the files in `tests/lab/scenarios/`. Add new scenarios here.
macro_rules! lab_scenarios {
    ($($test:ident => $scenario:literal),* $(,)?) => {
        /// Every scenario that has a test, by file name without `.sh`.
        const SCENARIOS: &[&str] = &[$($scenario),*];
        $(
            #[test]
            fn $test() {
                run_scenario($scenario);
            }
        )*
    };
}

lab_scenarios! {
    lab_01_smoke => "01-smoke",
    lab_02_dr_tun_ipvsadm => "02-dr-tun-ipvsadm",
    lab_03_probe => "03-probe",
    lab_10_apply_table => "10-apply-table",
    lab_11_apply_traffic => "11-apply-traffic",
    lab_12_drain => "12-drain",
    lab_13_restart => "13-restart",
    lab_14_foreign_and_drift => "14-foreign-and-drift",
    lab_15_delete_guard => "15-delete-guard",
    lab_16_configmap_trust => "16-configmap-trust",
    lab_20_run_kubernetes => "20-run-kubernetes",
    lab_21_run_file_mode => "21-run-file-mode",
    lab_22_keep_last_good => "22-keep-last-good",
    lab_30_fullnat => "30-fullnat",
    lab_31_notrack => "31-notrack",
    lab_32_node_bypass => "32-node-bypass",
    lab_40_metrics_prometheus => "40-metrics-prometheus",
    lab_41_health_quiesce => "41-health-quiesce",
    lab_42_http_flood => "42-http-flood",
    lab_50_bgp_bird => "50-bgp-bird",
    lab_51_bgp_vip_gate => "51-bgp-vip-gate",
    lab_60_scale_10k => "60-scale-10k",
    lab_61_scale_10k_kubernetes => "61-scale-10k-kubernetes",
    lab_70_failover_dr => "70-failover-dr",
    lab_71_failover_restart_withdraw => "71-failover-restart-withdraw",
    lab_72_ospf_bird_mode => "72-ospf-bird-mode",
    lab_73_connection_sync => "73-connection-sync",
    lab_74_migrate_keepalived => "74-migrate-keepalived",
    lab_75_thresholds_persistence => "75-thresholds-persistence",
    lab_76_tunnel_gre_gue => "76-tunnel-gre-gue",
    lab_77_mh_weight_zero => "77-mh-weight-zero",
    lab_78_udp_sctp => "78-udp-sctp",
    lab_79_ipv6 => "79-ipv6",
    lab_80_health_http_exec => "80-health-http-exec",
    lab_81_bgp_peers_aggregate => "81-bgp-peers-aggregate",
    lab_82_kernel_refusals => "82-kernel-refusals",
    lab_83_dual_stack_service => "83-dual-stack-service",
    lab_84_bgp_ipv6 => "84-bgp-ipv6",
}

/// `tests/lab/` of this checkout.
fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab")
}

/// Whether `program` is an executable file in one of the `PATH` directories.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether the environment variable `name` is set to `1`.
fn env_is_1(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| value == "1")
}

/// Boots the lab VM for one scenario and asserts that it passed.
fn run_scenario(scenario: &str) {
    let _one_vm_at_a_time = LAB_LOCK.lock().unwrap_or_else(PoisonError::into_inner);

    if env_is_1("LB_LAB_SKIP") {
        println!("lab scenario {scenario}: SKIPPED because LB_LAB_SKIP=1");
        return;
    }
    assert!(
        on_path("qemu-system-x86_64"),
        "lab scenario {scenario}: qemu-system-x86_64 is not installed, so the real-kernel \
         tests cannot run. Install the lab's dependencies with `sudo tests/lab/install-deps.sh` \
         (Debian 12), or set LB_LAB_SKIP=1 to skip the lab tests knowingly."
    );

    let mut command = Command::new(lab_dir().join("run.sh"));
    if !env_is_1("LB_LAB_NO_BUILD") {
        command.arg("--cargo-build");
    }
    let output = command
        .arg(scenario)
        .output()
        .unwrap_or_else(|error| panic!("cannot start tests/lab/run.sh: {error}"));
    // Through print!, so the harness shows the lab's output only for failing tests.
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "lab scenario {scenario} failed ({}); console log: tests/lab/out/{scenario}.log",
        output.status
    );
}

/// Scenario names found in `tests/lab/scenarios/` (files `[0-9]*.sh`, without `.sh`).
fn scenario_files() -> BTreeSet<String> {
    let dir = lab_dir().join("scenarios");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
                .file_name()
        })
        .filter_map(|name| name.to_str().map(str::to_owned))
        .filter(|name| name.starts_with(|c: char| c.is_ascii_digit()))
        .filter_map(|name| name.strip_suffix(".sh").map(str::to_owned))
        .collect()
}

#[test]
fn every_scenario_file_has_a_test_and_every_test_a_file() {
    let files = scenario_files();
    let tested: BTreeSet<String> = SCENARIOS.iter().map(|s| (*s).to_owned()).collect();
    let untested: Vec<_> = files.difference(&tested).collect();
    let missing: Vec<_> = tested.difference(&files).collect();
    assert!(
        untested.is_empty(),
        "scenarios without a test (add them to lab_scenarios! in tests/tests/lab.rs): {untested:?}"
    );
    assert!(
        missing.is_empty(),
        "tests whose scenario file is missing: {missing:?}"
    );
}

#[test]
fn lab_scripts_parse() {
    let lab = lab_dir();
    let mut scripts: Vec<(PathBuf, &str)> = ["build.sh", "run.sh", "install-deps.sh"]
        .iter()
        .map(|name| (lab.join(name), "bash"))
        .collect();
    scripts.push((lab.join("init.sh"), "sh"));
    // Every helper and scenario file, numbered or not (lib.sh, lbctl.sh, ...).
    let scenarios_dir = lab.join("scenarios");
    let entries = std::fs::read_dir(&scenarios_dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", scenarios_dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", scenarios_dir.display()))
            .path();
        if path.extension().is_some_and(|ext| ext == "sh") {
            scripts.push((path, "sh"));
        }
    }
    assert!(scripts.len() > 5, "found too few lab scripts: {scripts:?}");
    for (script, shell) in scripts {
        let output = Command::new(shell)
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {shell} -n: {error}"));
        assert!(
            output.status.success(),
            "{} does not parse with `{shell} -n`: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
