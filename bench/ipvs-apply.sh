#!/usr/bin/env bash
# Benchmark: lbctl apply vs ipvsadm -R programming the same large IPVS table, in the lab VM,
# in the same run (ratios, not absolute times: the VM is emulated). See bench/README.md.
# Environment: BENCH_VIPS (16), BENCH_PORTS (63), BENCH_DESTS (10) size the table.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/install-deps.sh >/dev/null
cargo build --release -p lbctl
export LBCTL_BIN=$PWD/target/release/lbctl LAB_SCENARIO_TIMEOUT=900 LAB_BOOT_TIMEOUT=1000
tests/lab/run.sh --keep-log bench-apply >/dev/null 2>&1 || { tail -40 tests/lab/out/bench-apply.log; exit 1; }
grep '^BENCH' tests/lab/out/bench-apply.log | tr -d '\r'
