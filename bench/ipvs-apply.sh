#!/usr/bin/env bash
# Benchmark: lbctl apply vs ipvsadm -R vs the raw-netlink baseline programming the same large
# IPVS table, in the lab VM, in the same run (ratios, not absolute times: the VM is emulated).
# See bench/README.md.
#
# Usage: bench/ipvs-apply.sh [--services 1000|10000]
#   --services 1000    16 VIPs x 63 ports = 1,008 services (the default)
#   --services 10000   40 VIPs x 250 ports = 10,000 services (110,000 IPVS entries; a 2 GiB VM
#                      and up to an hour under TCG)
# Environment: BENCH_DESTS (10) real servers per service; BENCH_VIPS and BENCH_PORTS override
# the size given by --services.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lab-size.sh
vips=${BENCH_VIPS:-$vips}
ports=${BENCH_PORTS:-$ports}
dests=${BENCH_DESTS:-10}

tests/install-deps.sh >/dev/null
cargo build --release -p lbctl -p lb-bench --bins
export LBCTL_BIN=$PWD/target/release/lbctl IPVS_RAW_APPLY_BIN=$PWD/target/release/ipvs-raw-apply \
    HTTP_SCRAPE_BIN=$PWD/target/release/http-scrape
export LAB_SCENARIO_TIMEOUT=$timeout LAB_BOOT_TIMEOUT=$((timeout + 100)) LAB_MEM=$mem
export LAB_KERNEL_ARGS="bench.vips=$vips bench.ports=$ports bench.dests=$dests"
tests/lab/run.sh --keep-log bench-apply >/dev/null 2>&1 || { tail -40 tests/lab/out/bench-apply.log; exit 1; }
grep '^BENCH' tests/lab/out/bench-apply.log | tr -d '\r'
