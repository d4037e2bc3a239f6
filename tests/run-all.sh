#!/usr/bin/env bash
# Runs every test of the project: unit, property, CLI and the real-kernel lab scenarios.
# On a fresh Debian 12 machine it first installs the lab's packages (needs root and apt).
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh
# Build every binary and example first: the lab packs target/debug/lbctl and the IPVS probe
# into the VM's initramfs.
cargo build --workspace --all-targets --locked
# The production-size lab scenarios (60-scale-10k, 61-scale-10k-kubernetes; `# lab-needs:
# lbctl-release`) run release builds: the debug ones take minutes per step there under
# emulation. 61 also serves its objects from the release fake API server and scrapes with the
# bench's client.
cargo build --release -p lbctl --bin lbctl --locked
cargo build --release -p lb-tests --bin fake-apiserver -p lb-bench --bin http-scrape --locked
# The lab tests may then skip their own cargo build.
export LB_LAB_NO_BUILD=1
mkdir -p target
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
# Every benchmark of bench/ once, in divan's test mode (each body runs once, nothing is timed or
# compared), so the benches build and run on every CI run and never rot (about 15 s).
cargo test --benches -p lb-bench --locked 2>&1 | tee target/bench-smoke.log
bench_status=${PIPESTATUS[0]}
set -e
# One summary line over all test binaries (cargo prints one `test result:` line per binary).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "summary: %d passed, %d failed, %d ignored (exit %d)\n", p, f, i, '"$status"' }' target/test-output.log
echo "benches (each run once): exit $bench_status"
[ "$status" -ne 0 ] || status=$bench_status
exit "$status"
