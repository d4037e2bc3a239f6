#!/bin/sh
# 03-probe: the first live test of our generic-netlink IPVS client. Runs the `ipvs_probe`
# example (built from the workspace, copied in by run.sh) in a fresh network namespace and
# passes when it exits 0. The probe decides what it checks; this scenario only gives it a
# namespace where IPVS can work (lo up) and shows the kernel's view next to its output.
. /lab/scenarios/lib.sh

step "ipvs_probe present"
[ -x "$IPVS_PROBE" ] || fail "ipvs_probe missing (build it: cargo build --example ipvs_probe, or set IPVS_PROBE_BIN)"

ns_create probe

step "run ipvs_probe in netns probe"
# RUST_BACKTRACE for a readable panic; RUST_LOG in case the probe installs a tracing subscriber.
in_ns probe env RUST_BACKTRACE=1 RUST_LOG=debug timeout 60 "$IPVS_PROBE" >/tmp/probe.out 2>&1
rc=$?
cat /tmp/probe.out
step "kernel view after the probe (ipvsadm)"
in_ns probe ipvsadm -Ln || true
[ "$rc" = 0 ] || fail "ipvs_probe exited with status $rc: $(tail -n 3 /tmp/probe.out | tr '\n' ' ' | cut -c1-300)"
log "ipvs_probe exited 0"
