#!/bin/sh
# 03-probe: the first live test of our generic-netlink IPVS client. Runs the `ipvs_probe`
# example (built from the workspace, copied in by run.sh) in a fresh network namespace: it
# adds, reads back, dumps, edits and deletes its own service (TCP 10.0.0.100:80) and exits 0
# only when every read-back matched. This scenario also checks its output against ipvsadm
# (not our code): the GET_INFO line equals ipvsadm's header, the timeouts it reads equal the
# non-default ones ipvsadm set, and its dump shows a service ipvsadm made (scheduler, method,
# weight) exactly; that service is left exactly as it was and nothing of the probe remains.
#
# Controls (in this scenario):
# - the probe's key already made by ipvsadm: the probe must exit non-zero (EEXIST) and leave
#   that service untouched, so the exit-0 check sees the kernel refusing its write;
# - the timeouts: the control run reads the defaults (900 120 300), the same comparison with
#   ipvsadm after `ipvsadm --set 901 121 301` must show the new values;
# - none for the GET_INFO line (version and table size cannot change at run time).
# Mutations (shown once, by hand):
# - ipvs-sync netlink/convert/dest.rs: weight written +1 and read back -1 (a symmetric wire bug
#   the probe's own read-back cannot see): the probe still printed "ipvs_probe: OK", the
#   scenario failed with "the probe's dump does not show ipvsadm's service as ...
#   "weight":3}: ..."weight":2}";
# - ipvs_probe.rs: DEL_SERVICE and the probe's own "still present" check skipped: the probe
#   printed "ipvs_probe: OK", the scenario failed with "ipvsadm -Sn after the probe (foreign
#   service only): expected '-A -t 10.0.0.200:8080 -s wlc ...', got '-A -t 10.0.0.100:80 -s rr ...'".
. /lab/scenarios/lib.sh

step "ipvs_probe present"
[ -x "$IPVS_PROBE" ] || fail "ipvs_probe missing (build it: cargo build --example ipvs_probe, or set IPVS_PROBE_BIN)"

ns_create probe

# probe_rules: the probe namespace's IPVS table as ipvsadm commands, sorted.
probe_rules() { in_ns probe "$IPVSADM" -Sn | sort; }

# probe_timeouts: the namespace's timeouts read by ipvsadm, in the probe's Debug format.
probe_timeouts() {
    in_ns probe "$IPVSADM" -L --timeout |
        sed -n 's/^Timeout (tcp tcpfin udp): *\([0-9]*\) \([0-9]*\) \([0-9]*\).*/Timeouts { tcp: \1, tcp_fin: \2, udp: \3 }/p'
}

# run_probe OUT: run ipvs_probe in netns probe, its output in OUT; sets PROBE_RC.
run_probe() {
    # RUST_BACKTRACE for a readable panic; RUST_LOG in case the probe installs a tracing subscriber.
    in_ns probe env RUST_BACKTRACE=1 RUST_LOG=debug timeout 60 "$IPVS_PROBE" >"$1" 2>&1
    PROBE_RC=$?
    cat "$1"
}

step "control: the probe's service already exists (made by ipvsadm): the probe must fail and touch nothing"
in_ns probe "$IPVSADM" -A -t 10.0.0.100:80 -s wlc
in_ns probe "$IPVSADM" -a -t 10.0.0.100:80 -r 10.0.1.12:80 -g -w 3
before=$(probe_rules)
run_probe /tmp/probe-control.out
[ "$PROBE_RC" != 0 ] || fail "control: ipvs_probe exited 0 although its service already existed"
log "ok: control: ipvs_probe exited $PROBE_RC on the existing service"
assert_eq "$before" "$(probe_rules)" "control: ipvsadm -Sn after the refused probe"
# The timeouts still at their defaults here: the same comparison as below, other values.
assert_eq "Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }" "$(probe_timeouts)" "control: ipvsadm default timeouts"
assert_contains "$(cat /tmp/probe-control.out)" "timeouts: $(probe_timeouts)" "control: the probe's default timeouts"
in_ns probe "$IPVSADM" -D -t 10.0.0.100:80

step "a foreign service and non-default timeouts, made by ipvsadm"
in_ns probe "$IPVSADM" -A -t 10.0.0.200:8080 -s wlc
in_ns probe "$IPVSADM" -a -t 10.0.0.200:8080 -r 10.0.1.12:8080 -g -w 3
in_ns probe "$IPVSADM" --set 901 121 301
before=$(probe_rules)
echo "$before"

step "run ipvs_probe in netns probe"
run_probe /tmp/probe.out
rc=$PROBE_RC
step "kernel view after the probe (ipvsadm)"
in_ns probe ipvsadm -Ln || true
[ "$rc" = 0 ] || fail "ipvs_probe exited with status $rc: $(tail -n 3 /tmp/probe.out | tr '\n' ' ' | cut -c1-300)"
log "ipvs_probe exited 0"

step "the probe's output agrees with ipvsadm"
assert_contains "$(cat /tmp/probe.out)" "$(in_ns probe "$IPVSADM" -Ln | head -1)" "the probe's GET_INFO line"
assert_eq "Timeouts { tcp: 901, tcp_fin: 121, udp: 301 }" "$(probe_timeouts)" "ipvsadm timeouts"
assert_contains "$(cat /tmp/probe.out)" "timeouts: $(probe_timeouts)" "the probe's timeouts"
# The dump is pretty JSON with sorted keys; without blanks and newlines, the foreign
# service's and its destination's fields are fixed substrings.
flat=$(tr -d ' \n' </tmp/probe.out)
for want in \
    '"id":{"Inet":{"port":8080,"protocol":"tcp","vip":"10.0.0.200"}},"netmask_prefix":32,"pe_name":null,"scheduler":"wlc",' \
    '"spec":{"forward":"Route","key":{"addr":"10.0.1.12","port":8080},"lower_threshold":0,"tunnel":null,"upper_threshold":0,"weight":3}'; do
    case "$flat" in
        *"$want"*) log "ok: the probe's dump shows $want" ;;
        *) fail "the probe's dump does not show ipvsadm's service as $want: $(echo "$flat" | grep -o '"spec":{"forward":"[A-Za-z]*","key":{"addr":"10.0.1.12"[^}]*}[^}]*}' | head -1)" ;;
    esac
done
assert_eq "$before" "$(probe_rules)" "ipvsadm -Sn after the probe (foreign service only)"
