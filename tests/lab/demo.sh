#!/usr/bin/env bash
# The main job in one command: boot the IPVS lab VM (Debian's cloud kernel under qemu), let
# lbctl program IPVS from examples/lab/configmap.yaml, send traffic through the VIPs and print
# the table with its counters. Works on a fresh Debian 12 machine (installs what it needs).
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/lab/install-deps.sh
cargo build -p lbctl
tests/lab/run.sh --keep-log demo >/dev/null 2>&1 || status=$?
log=tests/lab/out/demo.log
# The demo's own output, without the kernel's and the lab's chatter.
sed -n '/^DEMO-BEGIN/,/^DEMO-END/p' "$log" | sed '1d;$d' | tr -d '\r'
if [ "${status:-0}" != 0 ]; then
    echo "demo failed; the VM's console log is $log:" >&2
    tail -30 "$log" >&2
    exit 1
fi
