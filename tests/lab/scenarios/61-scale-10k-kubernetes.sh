#!/bin/sh
# 61-scale-10k-kubernetes (issue 13): production size in Kubernetes mode, in CI. The
# bench-kube-churn scenario at 10,000 Services x 10 endpoints (40 VIPs x 250 ports; realistic
# objects, 49 MB of JSON, served over real list/watch by the release fake API server) with its
# assertions: the whole table programmed from the watch, 20 EndpointSlice changes each in the
# kernel within 60 s, focused passes after them (1 service read, 0 dumps), a gzip scrape that
# comes back gzipped; and here also issue 13's memory bound: the daemon's peak RSS over a plain
# and a gzip scrape of /metrics at most PEAK_RSS_LIMIT_MIB (measured 138 MiB, 2026-12-04).
# Controls (bench/README.md, "Endpoint churn in Kubernetes mode"): glibc's default malloc
# arenas (LAB_KERNEL_ARGS=bench.malloc_arenas=8) measured 172 MiB and fail; the caches of
# typed objects measured 461 MiB.
# lab-needs: fake-apiserver-release lbctl-release http-scrape
# lab-timeout: 1200
# lab-mem: 3072
BENCH_VIPS=40
BENCH_PORTS=250
PEAK_RSS_LIMIT_MIB=150
. /lab/scenarios/bench-kube-churn.sh
