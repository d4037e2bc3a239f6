#!/bin/sh
# 71-failover-restart-withdraw (issue 12): the two-director topology of 70-failover-dr (BIRD
# ECMP router, `lbctl run` per director announcing a DR VIP with `mh mh-port`, sloppy TCP),
# with `[bgp] on_stop = "graceful_restart"`, under 200 long-lived echo flows (a line every
# 100 ms each, lost when a line is not back within 10 s):
#
# 1. Restart: SIGTERM to dira's lbctl, then a new process. 0 flows lost; the new process
#    adopts the kernel's table with 0 IPVS writes (/status `last_sync.applied` and the
#    process's lbctl_netlink_operations_total; the first start of each director, from an
#    empty kernel, shows that count is live: >= 4 writes); the
#    router keeps both next hops the whole time (polled every 0.2 s, together with BIRD's
#    session states: the watch must see dira's session go down and come back, so it covered
#    the restart; BIRD keeps the routes as a graceful-restart helper) and the new process
#    claims the R-bit.
# 2. `lbctl withdraw` on dirb: the router moves to one next hop (dira), dirb's flows continue
#    through dira (0 lost: sloppy TCP + mh there), and `lbctl withdraw --undo` brings the second
#    next hop back.
#
# Controls: the next-hop watch of step 1 runs again over step 2 and must record the drop to
# one next hop and the way back (else the scenario fails), so a watch that sees nothing
# cannot pass step 1. The loss count failing is shown by 70-failover-dr's control (sloppy TCP
# off on the surviving director: flows lost). The write count is live: see step 1.
#
# Typical duration under TCG: about 1 minute 50 s in the VM (2 minutes with the boot).
# lab-needs: bird flow-traffic
# lab-timeout: 330
# lab-mem: 1024
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/failover.sh
set -e

TRAFFIC="--conns 200 --interval-ms 100 --line-timeout-secs 10 --connect-timeout-secs 5 --new-every-ms 200 --ramp-ms 4000"

fo_topology
fo_settings dira true graceful_restart
fo_settings dirb true graceful_restart
step "both directors run lbctl (on_stop = graceful_restart) and announce $FO_VIP"
fo_up dira dirb
# ipvs_writes DIRECTOR: IPVS writes of that director's lbctl process so far (the sum of
# lbctl_netlink_operations_total). The first start, from an empty kernel, writes the service
# and its three real servers: the count is live.
ipvs_writes() {
    http_get_held "$1" 127.0.0.1 9469 /metrics | awk '/^lbctl_netlink_operations_total/ { s += $2 } END { print s + 0 }'
}
for d in dira dirb; do
    assert_ge 4 "$(ipvs_writes "$d")" "IPVS writes of the first lbctl in $d (empty kernel)"
done
for d in dira dirb; do
    wait_until 10 fo_sloppy_is "$d" 1 || fail "sloppy_tcp in $d is $(fo_sloppy "$d"), expected 1"
done

# hops_min FILE: the fewest next hops in the watcher's record FILE (once it has ended).
hops_min() { grep -v end "$1" | awk 'NR == 1 || $2 < m { m = $2 } END { print m }'; }
watch_end() { grep -q end "$1"; }

step "restart: SIGTERM to dira's lbctl under load, a new process adopts"
fo_traffic restart $TRAFFIC --duration-secs 40
wait_until 40 fo_traffic_ready restart || fail "run restart never got its connections up"
assert_eq 200 "$(fo_ready_count restart established)" "long-lived connections established (restart)"
rm -f /tmp/fo-hops-restart
fo_watch_hops 30 /tmp/fo-hops-restart
pid=$(lbctl_pid dira)
kill -TERM "$pid"
wait_until 20 fo_stopped dira || fail "lbctl in dira did not stop on SIGTERM"
log "dira's lbctl stopped; router: $(fo_route)"
[ -e /tmp/fo-dira-restart-marker ] || fail "no restart marker after a graceful-restart stop"
: >/tmp/fo-run-dira.log
fo_start dira
wait_until 40 fo_established dira || fail "dira's session did not come back: $(fo_log dira)"
synced() { fo_last_sync dira | grep -q "pass:full"; }
wait_until 20 synced || fail "the new lbctl in dira reports no full pass: $(fo_last_sync dira)"
ADOPT=$(fo_last_sync dira)
log "adoption pass: $ADOPT"
assert_contains "$ADOPT" "applied:0 " "last_sync of the new process in dira"
assert_eq 0 "$(ipvs_writes dira)" "IPVS writes of the new lbctl in dira"
grep -q "R-bit" /tmp/fo-run-dira.log || fail "the restarted lbctl did not claim the R-bit: $(fo_log dira)"
fo_wait_traffic restart 60
wait_until 40 watch_end /tmp/fo-hops-restart || fail "the next-hop watcher did not end"
log "next hops over the restart (centiseconds, count, sessions): $(tr '\n' ' ' </tmp/fo-hops-restart)"
log "BIRD: $(fo_bird_events)"
for d in dira dirb; do log "lbctl $d: $(grep -ai 'session\|hold' "/tmp/fo-run-$d.log" | tail -6 | cut -c1-220 | tr '\n' '|')"; done
# The watch covered the restart: it saw dira's session down (BIRD keeps the routes as a
# graceful-restart helper) and up again.
grep -v end /tmp/fo-hops-restart | grep -qv "dira:Established" || fail "the watch never saw dira's session down: $(tr '\n' ' ' </tmp/fo-hops-restart)"
assert_contains "$(grep -v end /tmp/fo-hops-restart | tail -1)" "dira:Established" "the watch's last record"
assert_eq 2 "$(hops_min /tmp/fo-hops-restart)" "fewest next hops at the router during the restart"
assert_eq 0 "$(fo_count restart lost)" "established connections lost over the restart"
RESTART_NEW_FAILED=$(fo_count restart new_failed)

step "lbctl withdraw on dirb under load: one next hop, flows continue; --undo: two again"
fo_traffic withdraw $TRAFFIC --duration-secs 40
wait_until 40 fo_traffic_ready withdraw || fail "run withdraw never got its connections up"
assert_eq 200 "$(fo_ready_count withdraw established)" "long-lived connections established (withdraw)"
fo_hops_are 2 || fail "not two next hops before the withdrawal: $(fo_route)"
rm -f /tmp/fo-hops-withdraw
fo_watch_hops 40 /tmp/fo-hops-withdraw
sleep 1
t0=$(now_cs)
out=$(in_ns dirb "$LBCTL" withdraw --socket /tmp/fo-dirb.sock 2>&1) || fail "lbctl withdraw failed: $out"
wait_until 15 fo_hops_are 1 || fail "the router kept two next hops after lbctl withdraw: $(fo_route)"
WITHDRAW_MS=$((($(now_cs) - t0) * 10))
assert_contains "$(fo_route)" "via $(fo_ip dira) " "the router's route after withdrawing dirb"
fo_established dirb || fail "dirb's session went down on withdraw"
log "withdrawn: one next hop after about $WITHDRAW_MS ms"
sleep 8
out=$(in_ns dirb "$LBCTL" withdraw --undo --socket /tmp/fo-dirb.sock 2>&1) || fail "lbctl withdraw --undo failed: $out"
wait_until 15 fo_hops_are 2 || fail "--undo did not bring the second next hop back: $(fo_route)"
log "router after --undo: $(fo_route)"
fo_wait_traffic withdraw 60
wait_until 40 watch_end /tmp/fo-hops-withdraw || fail "the next-hop watcher did not end"
log "next hops over withdraw and --undo: $(tr '\n' ' ' </tmp/fo-hops-withdraw)"
# Control of the restart's watch: the same watcher records this drop (and the way back).
assert_eq 1 "$(hops_min /tmp/fo-hops-withdraw)" "fewest next hops the watcher saw over withdraw (control)"
assert_eq 2 "$(grep -v end /tmp/fo-hops-withdraw | tail -1 | cut -d' ' -f2)" "next hops the watcher saw last"
assert_eq 0 "$(fo_count withdraw lost)" "established connections lost over withdraw and --undo"

log "RESULT 71-failover-restart-withdraw: restart lost=0 new_failed=$RESTART_NEW_FAILED hops_min=2; withdraw lost=0 new_failed=$(fo_count withdraw new_failed) route_change_ms=$WITHDRAW_MS"
kill "$(cat /tmp/bird-fo.pid)" 2>/dev/null || true
