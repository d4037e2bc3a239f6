#!/usr/bin/env bash
# Benchmark: endpoint churn in Kubernetes mode at production size, in the lab VM. `lbctl run`
# (release) watches 10,000 Services and EndpointSlices over real HTTP list/watch (the fake API
# server, release build) and programs them; 20 EndpointSlice replacements are timed from the
# write to the kernel holding the change; then /metrics is scraped and the daemon's peak RSS
# reported. See bench/README.md.
#
# Usage: bench/kube-churn.sh [--services 1000|10000]
#   --services 1000    16 VIPs x 63 ports = 1,008 Services (the default)
#   --services 10000   40 VIPs x 250 ports = 10,000 Services (110,000 IPVS entries; a 2 GiB VM)
# Environment: BENCH_KERNEL_ARGS adds words to the VM's kernel command line, e.g.
#   bench.malloc_arenas=8 for the control run of the daemon's one malloc arena.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lab-size.sh

tests/install-deps.sh >/dev/null
cargo build --release -p lbctl --bin lbctl
cargo build --release -p lb-tests --bin fake-apiserver
cargo build --release -p lb-bench --bin http-scrape
export LBCTL_RELEASE_BIN=$PWD/target/release/lbctl FAKE_APISERVER_BIN=$PWD/target/release/fake-apiserver \
    HTTP_SCRAPE_BIN=$PWD/target/release/http-scrape
# The fake API server stands for a cluster's, which is not on the director: it gets its own
# GiB (about 520 MiB of objects at 10,000 Services), so the director's share stays lab-size's.
export LAB_SCENARIO_TIMEOUT=$timeout LAB_BOOT_TIMEOUT=$((timeout + 100)) LAB_MEM=$((mem + 1024))
# BENCH_KERNEL_ARGS adds to the scenario's arguments, e.g. bench.malloc_arenas=8 for the control
# run of the daemon's malloc arena limit (glibc's default on the VM's one CPU).
export LAB_KERNEL_ARGS="bench.vips=$vips bench.ports=$ports${BENCH_KERNEL_ARGS:+ $BENCH_KERNEL_ARGS}"
tests/lab/run.sh --keep-log bench-kube-churn >/dev/null 2>&1 || { tail -40 tests/lab/out/bench-kube-churn.log; exit 1; }
grep '^BENCH' tests/lab/out/bench-kube-churn.log | tr -d '\r'
