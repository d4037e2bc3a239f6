//! The shipped unit works under its own sandbox: `tests/unit-sandbox/run.sh` boots a Debian 12
//! container with systemd as its PID 1 (systemd-nspawn), installs deploy/lbctl.service
//! unchanged (a drop-in only switches ExecStart to file mode and lets the module load fail),
//! and checks that the daemon wrote the BGP graceful-restart marker under /run/lbctl, kept it
//! across a restart (the R-bit is claimed), bound the 0600 control socket, locked
//! /var/lib/lbctl, and ran with the unit's capability bounding set, seccomp and a read-only
//! /run. Its control run (`RuntimeDirectory=` reset) must show the marker not written.
//!
//! Fails (never skips silently) without root, systemd-nspawn or debootstrap:
//! tests/install-deps.sh installs them; `LB_UNIT_SANDBOX_SKIP=1` skips knowingly.
//! Mutations that make it fail: the unit without `ReadOnlyPaths=/run` (systemd 252 then leaves
//! /run writable, and the control writes the marker), `RuntimeDirectoryPreserve=no` (no R-bit
//! after the restart), a capability added to or removed from the bounding set.
//! Like the lab tests, it first rebuilds lbctl unless `LB_LAB_NO_BUILD=1`.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::Command;

/// The line run.sh prints when both runs showed what they must.
const PASS_LINE: &str = "unit-sandbox: PASS";

#[test]
fn shipped_unit_writes_the_restart_marker_under_its_sandbox() {
    if std::env::var("LB_UNIT_SANDBOX_SKIP").is_ok_and(|value| value == "1") {
        println!("unit sandbox test: SKIPPED because LB_UNIT_SANDBOX_SKIP=1");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("unit-sandbox/run.sh");
    let mut command = Command::new("bash");
    command.arg(&script);
    if !std::env::var("LB_LAB_NO_BUILD").is_ok_and(|value| value == "1") {
        command.arg("--cargo-build");
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Through print!, so the harness shows the script's output only for a failing test.
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        output.status.code() != Some(2),
        "tests/unit-sandbox/run.sh: a prerequisite is missing (below; tests/install-deps.sh, as \
         root, installs the packages; LB_UNIT_SANDBOX_SKIP=1 skips knowingly):\n{stderr}"
    );
    assert!(
        output.status.success() && stdout.lines().any(|line| line.starts_with(PASS_LINE)),
        "tests/unit-sandbox/run.sh failed ({}): the shipped unit does not do what its sandbox \
         check expects; rerun it with LB_SANDBOX_KEEP=1 to keep the containers' journals",
        output.status
    );
}
