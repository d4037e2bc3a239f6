#!/bin/sh
# 70-failover-dr (issue 12): two directors behind one ECMP router (BIRD 2, multipath, L4
# hash), each running its own `lbctl run` (file mode) that announces the DR VIP over BGP
# (hold time 3 s); scheduler `mh mh-port` and `[failover] sloppy_tcp = true` (the daemon
# writes net.ipv4.vs.sloppy_tcp = 1 in its namespace, checked). With 200 long-lived echo
# flows (a line every 100 ms each, lost when a line is not back within 10 s; the emulated VM
# reaches about 1-2 lines per second per flow) spread over both directors (two next hops at
# the router, both IPVS tables count connections), director A dies: its link goes down first
# (so the router learns of the death only from its hold timer, as with a dead host), then its
# lbctl gets SIGKILL. No established flow is lost: the
# router drops A's route when the hold timer expires, A's flows reach B mid-connection, B
# accepts them (sloppy TCP) and sends them to the same real server (mh). New connections
# succeed after the convergence. The time from the kill to the router's route change is
# measured and printed (`convergence_ms`).
#
# Control (in this scenario; it shows the loss count can fail): A comes back, B's settings
# turn sloppy_tcp off (SIGHUP; the daemon writes 0 back over its own 1, checked), and the
# same failover must lose flows (lost > 0): B resets the flows it did not see start.
#
# Measuring another hold time: LAB_KERNEL_ARGS="fo.hold=9 fo.line_timeout=30" (the line
# timeout must exceed the stall); the defaults (3 s, 10 s) are the test. The same with IPIP
# tunnelling instead of DR: LAB_KERNEL_ARGS="fo.method=tunnel".
#
# Typical duration under TCG: about 2 minutes in the VM (2.5 with the boot).
# lab-needs: bird flow-traffic
# lab-timeout: 330
# lab-mem: 1024
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/failover.sh
set -e

# `fo.line_timeout=SECS` on the kernel command line: a longer line timeout, for measuring
# longer hold times (LAB_KERNEL_ARGS="fo.hold=9 fo.line_timeout=30"); the defaults are the test.
LINE_TIMEOUT=$(sed -n 's/.*fo\.line_timeout=\([0-9]*\).*/\1/p' /proc/cmdline)
TRAFFIC="--conns 200 --interval-ms 100 --line-timeout-secs ${LINE_TIMEOUT:-10} --connect-timeout-secs 5 --new-every-ms 200 --ramp-ms 4000"

fo_topology
fo_settings dira true withdraw
fo_settings dirb true withdraw
step "both directors run lbctl and announce $FO_VIP"
fo_up dira dirb
for d in dira dirb; do
    wait_until 10 fo_sloppy_is "$d" 1 || fail "sloppy_tcp in $d is $(fo_sloppy "$d"), expected 1 (written by lbctl)"
    log "ok: net.ipv4.vs.sloppy_tcp = 1 in $d"
    table=$(in_ns "$d" "$IPVSADM" -Ln -t "$FO_VIP:$FO_PORT")
    assert_contains "$table" "mh (mh-port)" "IPVS service in $d"
    case "$FO_METHOD" in
    dr) assert_contains "$table" "Route" "IPVS service in $d" ;;
    tunnel) assert_contains "$table" "Tunnel" "IPVS service in $d" ;;
    esac
done

fo_conns() { ipvs_stat "$1" "$FO_VIP:$FO_PORT"; }
# failover NAME: with traffic run NAME flowing through both directors, dira loses its link and
# its lbctl; prints the convergence time and waits for the run's summary.
failover() {
    local before_a before_b t0 t1 pid n
    before_a=$(fo_conns dira)
    before_b=$(fo_conns dirb)
    # 45 s: ramp and checks (~15 s), then 30 s after the kill (convergence plus the line
    # timeout, with room for retransmissions).
    fo_traffic "$1" $TRAFFIC --duration-secs 45
    wait_until 40 fo_traffic_ready "$1" || fail "run $1 never got its connections up: $(tail -3 "/tmp/fo-traffic-$1.err" | tr '\n' '|')"
    assert_eq 200 "$(fo_ready_count "$1" established)" "long-lived connections established ($1)"
    fo_hops_are 2 || fail "not two next hops before the kill: $(fo_route)"
    wait_ipvs_stat 10 $((before_a + 1)) dira "$FO_VIP:$FO_PORT" || fail "dira's IPVS counted no new connection"
    wait_ipvs_stat 10 $((before_b + 1)) dirb "$FO_VIP:$FO_PORT" || fail "dirb's IPVS counted no new connection"
    log "IPVS connections: dira $(fo_conns dira) (was $before_a), dirb $(fo_conns dirb) (was $before_b)"
    step "$1: dira dies (link down, SIGKILL to lbctl)"
    pid=$(lbctl_pid dira)
    t0=$(now_cs)
    in_ns dira "$IP" link set eth0 down
    kill -9 $pid
    # Bounded poll (about 30 s at most): when did the router drop dira's next hop?
    n=0
    while [ "$(fo_hops)" != 1 ] && [ $n -lt 300 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    t1=$(now_cs)
    fo_hops_are 1 || fail "the router still has $(fo_hops) next hops 30 s after the kill: $(fo_route)"
    CONVERGENCE_MS=$(((t1 - t0) * 10))
    log "convergence_ms=$CONVERGENCE_MS ($1: kill to the router's route change; route now: $(fo_route))"
    wait_until 15 fo_stopped dira || fail "lbctl in dira survived SIGKILL"
    fo_wait_traffic "$1" 90
}

step "failover with sloppy TCP and mh on both directors"
failover main
assert_eq 0 "$(fo_count main lost)" "established connections lost when dira died"
assert_eq 200 "$(fo_count main survived)" "connections that lasted the whole run"
spread=$(fo_count main spread)
for ns in rs1 rs2 rs3; do assert_contains "$spread" "$ns:" "spread over the real servers"; done
MAIN_CONV=$CONVERGENCE_MS
MAIN_NEW_FAILED=$(fo_count main new_failed)
log "new connections during the failover: ok $(fo_count main new_ok), failed $MAIN_NEW_FAILED"

step "new connections after the convergence all succeed (through dirb alone)"
fo_traffic after --conns 0 --new-every-ms 100 --duration-secs 5
fo_wait_traffic after 30
assert_eq 0 "$(fo_count after new_failed)" "new connections failed after the convergence"
assert_ge 20 "$(fo_count after new_ok)" "new connections after the convergence"

step "control: dira comes back; dirb turns sloppy_tcp off"
in_ns dira "$IP" link set eth0 up
in_ns dira "$IP" route replace default via "$FO_ROUTER_IP"
wait_until 10 in_ns dira ping -c1 -W1 "$FO_ROUTER_IP" || fail "dira cannot reach the router again"
fo_up dira
fo_settings dirb false withdraw
kill -HUP "$(lbctl_pid dirb)"
wait_until 20 fo_sloppy_is dirb 0 || fail "dirb still has sloppy_tcp $(fo_sloppy dirb) after the reload: $(fo_log dirb)"
log "ok: lbctl in dirb wrote sloppy_tcp back to 0"
failover control
CONTROL_LOST=$(fo_count control lost)
assert_ge 1 "$CONTROL_LOST" "established connections lost without sloppy TCP on dirb (control)"
log "control: lost $CONTROL_LOST ($(fo_count control lost_by)) of $(fo_count control established)"

log "RESULT 70-failover-dr (hold ${FO_HOLD} s, line timeout ${LINE_TIMEOUT:-10} s): main lost=0 new_failed=$MAIN_NEW_FAILED convergence_ms=$MAIN_CONV max_echo_ms=$(fo_count main max_echo_ms); control lost=$CONTROL_LOST new_failed=$(fo_count control new_failed) convergence_ms=$CONVERGENCE_MS"
kill "$(cat /tmp/bird-fo.pid)" 2>/dev/null || true
