#!/usr/bin/env bash
# Runs every test of the project: unit, property, CLI and the real-kernel lab scenarios.
# On a fresh Debian 12 machine it first installs the lab's packages (needs root and apt).
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh
# Build every binary and example first: the lab packs target/debug/lbctl and the IPVS probe
# into the VM's initramfs.
cargo build --workspace --all-targets --locked
# The lab tests may then skip their own cargo build.
export LB_LAB_NO_BUILD=1
mkdir -p target
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# One summary line over all test binaries (cargo prints one `test result:` line per binary).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "summary: %d passed, %d failed, %d ignored (exit %d)\n", p, f, i, '"$status"' }' target/test-output.log
exit "$status"
