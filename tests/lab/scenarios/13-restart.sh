#!/bin/sh
# 13-restart (issue 3, lab scenario 4): lbctl stopped and started again mid-traffic resets no
# connection, and a start with nothing changed issues zero netlink writes: it adopts what the
# kernel has instead of deleting and re-adding it.
#
# lbctl apply is one process per sync, so every apply below is a fresh start against a kernel
# that is already programmed; one of them is killed with SIGKILL while traffic flows.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
for ns in rs1 rs2; do rs_echo "$ns" 7000; done
cat "$LAB_CONFIGMAP" >/tmp/cm.yaml
echo '  10.0.0.100-7000: 10.0.1.11:7000, 10.0.1.12:7000' >>/tmp/cm.yaml

step "first apply programs the table"
lbctl_apply_ok --config /tmp/cm.yaml -o json
assert_ge 1 "$(netlink_writes)" "netlink writes of the first apply"
before=$(ipvs_rules director)

step "a long-lived connection and a stream of short requests"
open_stream a client "$VIP_NAT" 7000
wait_until 10 test -s /tmp/stream-a.out || fail "the long-lived connection got no greeting"
# 40 short HTTP requests, one every 0.25 s, counting failures (bounded: about 10-20 s).
(
    failures=0
    i=0
    while [ $i -lt 40 ]; do
        i=$((i + 1))
        http_get client "$VIP_NAT" 80 >/dev/null || failures=$((failures + 1))
        sleep 0.25
    done
    echo "$failures" >/tmp/traffic-failures
) &
traffic=$!

step "restarts while traffic flows"
n=0
while [ $n -lt 3 ]; do
    n=$((n + 1))
    lbctl_apply_ok --config /tmp/cm.yaml -o json
    assert_eq 0 "$(netlink_writes)" "netlink writes of restart $n"
    stream_send a "after-restart-$n"
    wait_until 5 stream_saw a "after-restart-$n" || fail "long-lived connection broken after restart $n"
done

step "an apply killed with SIGKILL in the middle of its writes"
# 3,000 new services with two real servers each give the apply 9,000 writes to do; it is
# killed once the kernel holds some but not all of them. Control: the entries written at the
# kill must be strictly between 0 and 9,000, or the kill did not land mid-write and the step
# fails instead of proving nothing.
{
    cat /tmp/cm.yaml
    i=2000
    while [ "$i" -lt 5000 ]; do
        echo "  10.0.0.110-$i: 10.0.1.11:80, 10.0.1.12:80"
        i=$((i + 1))
    done
} >/tmp/cm-big.yaml
# new_entries: services (-A) and real servers (-a) of the new VIP in the kernel.
new_entries() { in_ns director "$IPVSADM" -Sn | grep -c " 10.0.0.110:" || true; }
new_services() { in_ns director "$IPVSADM" -Sn | grep -c "^-A -t 10.0.0.110:" || true; }
some_written() { [ "$(new_entries)" -ge 1 ]; }
in_ns director "$LBCTL" apply --config /tmp/cm-big.yaml --settings "$LAB_SETTINGS" >/dev/null 2>&1 &
killer=$!
wait_until 60 some_written || fail "the big apply wrote nothing within 60 s"
# The lbctl process itself, found in the namespace: `$!` is the background subshell, and
# killing only that left the apply running (it then held the writer lock against the next).
for pid in $(lbctl_pid); do kill -9 "$pid"; done
kill -9 "$killer" 2>/dev/null || true
wait "$killer" 2>/dev/null || true
wait_until 10 no_lbctl_running || fail "the killed apply is still running"
at_kill=$(new_entries)
log "entries written when the apply was killed: $at_kill of 9000"
[ "$at_kill" -gt 0 ] && [ "$at_kill" -lt 9000 ] ||
    fail "the kill did not land mid-write ($at_kill of 9000 entries written)"
stream_send a "after-kill"
wait_until 5 stream_saw a "after-kill" || fail "long-lived connection broken by the killed apply"
lbctl_apply_ok --config /tmp/cm-big.yaml -o json
# It adopts what the killed run wrote and writes exactly the rest.
assert_eq $((9000 - at_kill)) "$(netlink_writes)" "writes of the apply that finishes the killed one"
assert_eq 9000 "$(new_entries)" "new entries after the finishing apply"
lbctl_apply_ok --config /tmp/cm-big.yaml -o json
assert_eq 0 "$(netlink_writes)" "netlink writes of the next apply"
# Back to the small table (3,000 deletions: past the delete guard on purpose).
lbctl_apply_ok --config /tmp/cm.yaml --force -o json
assert_eq 0 "$(new_services)" "new services after going back"

step "traffic outcome"
wait "$traffic" || true
assert_eq 0 "$(cat /tmp/traffic-failures)" "failed short requests during restarts"
stream_send a "final"
wait_until 5 stream_saw a "final" || fail "long-lived connection broken at the end"
assert_eq "$before" "$(ipvs_rules director)" "kernel table after the restarts"
