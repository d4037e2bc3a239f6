//! The shipped systemd unit passes `deploy/check-unit.sh`: `systemd-analyze verify`, an
//! exposure score from `systemd-analyze security --offline=yes` no worse than the threshold,
//! and the lines each documented feature needs. Fails (never skips) without `systemd-analyze`:
//! tests/install-deps.sh installs it. Mutation: the unit before issue 11 (no
//! RuntimeDirectory, CAP_SYS_MODULE in the bounding set, exposure 6.9) fails every part.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]

use lb_tests::repo_script::run_repo_script;

#[test]
fn shipped_unit_passes_check_unit() {
    let (output, text) = run_repo_script("deploy/check-unit.sh", &[]);
    assert!(
        output.status.success(),
        "deploy/check-unit.sh failed ({}):\n{text}",
        output.status
    );
}
