#!/bin/sh
# 51-bgp-vip-gate (issue 11): BGP announces a VIP only while the director can take its
# traffic. With both real servers healthy and the VIPs routed at a real BIRD, the VIP
# interface is replaced by a bridge of the same name (an operator's mistake, or another tool):
# the VIP step now fails (lbctl keeps VIPs only on a dummy link), so no VIP address is
# confirmed and both routes are withdrawn although IPVS still has healthy weights; the IPVS
# table is not flushed, the session stays up, and an address in the managed range that sits on
# the bridge is left alone. Control (in the scenario): removing the bridge lets the next pass
# recreate the dummy, and both routes come back. Mutation that makes it fail: announcing by
# IPVS weights alone (the former rule, `serving_vips` before the announce gate) keeps the
# routes at BIRD, and the "withdrawn" step times out.
# lab-needs: bird
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/bird.sh
set -e

VIP_A=10.0.0.100
VIP_B=10.0.0.103
topology_nat
bird_router 51

cat >/tmp/settings-51.toml <<EOS
$(daemon_settings_head)

[bgp]
enabled = true
local_as = 64512
router_id = "$DIRECTOR_ROUTER_IP"
hold_time_secs = 9

$(bgp_peer_toml "$ROUTER_IP" 64513 "$DIRECTOR_ROUTER_IP")

[bgp.policy]
announce_at = 1
withdraw_below = 1
hold_down_ms = 500
EOS
write_configmap /tmp/cm-51.yaml <<EOS
$VIP_A-80: $RS1_IP:80, $RS2_IP:80
$VIP_B-80: $RS1_IP:80
EOS
run_log() { tail -5 /tmp/lbctl-run-51.log | tr '\n' '|'; }

step "lbctl run announces both VIPs"
in_ns director "$LBCTL" run --settings /tmp/settings-51.toml --config-file /tmp/cm-51.yaml \
    --log info >/tmp/lbctl-run-51.log 2>&1 &
wait_until 30 established || fail "BGP session not established: $(run_log)"
wait_until 30 has_route "$VIP_A" || fail "$VIP_A not announced: $(routes | tr '\n' ' ') lbctl: $(run_log)"
wait_until 10 has_route "$VIP_B" || fail "$VIP_B not announced: $(routes | tr '\n' ' ')"
TABLE=$(ipvs_rules director)
# The session's start in milliseconds of the day: BIRD derives the shown time from a
# monotonic clock, so the same start may print 1 ms apart; a reset moves it by seconds.
up_since_ms() {
    birdc show protocols director |
        awk '/director/ && $4 == "up" { split($5, t, ":"); printf "%d\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 }'
}
UP_SINCE=$(up_since_ms)
[ -n "$UP_SINCE" ] || fail "no BGP session start time: $(birdc show protocols director | tr '\n' ' ')"

step "the VIP interface becomes a bridge: the routes are withdrawn, nothing else moves"
# The daemon recreates a missing lbvip0 at its next pass: rename a ready bridge into the
# name right after the delete, and retry (bounded) if the daemon was quicker.
in_ns director "$IP" link add lbvtmp type bridge
in_ns director "$IP" addr add 10.0.0.110/32 dev lbvtmp
swap_in_bridge() {
    in_ns director "$IP" link del lbvip0 2>/dev/null || true
    in_ns director "$IP" link set lbvtmp name lbvip0
}
wait_until 10 swap_in_bridge || fail "could not put the bridge in place of lbvip0"
in_ns director "$IP" link set lbvip0 up
wait_until 20 no_route "$VIP_A" ||
    fail "$VIP_A still announced with its address gone: $(routes | tr '\n' ' ') lbctl: $(run_log)"
wait_until 5 no_route "$VIP_B" || fail "$VIP_B still announced"
log "ok: both routes withdrawn"
assert_contains "$(cat /tmp/lbctl-run-51.log)" "is a bridge link, not a dummy" "lbctl log"
assert_eq "$TABLE" "$(ipvs_rules director)" "IPVS table (healthy weights, not flushed)"
assert_contains "$(in_ns director "$IP" -4 addr show dev lbvip0)" "10.0.0.110/32" "the bridge's address"
sleep 3
no_route "$VIP_A" || fail "$VIP_A came back while the interface is still a bridge"
NOW_SINCE=$(up_since_ms)
[ -n "$NOW_SINCE" ] && [ $((NOW_SINCE - UP_SINCE)) -le 100 ] && [ $((UP_SINCE - NOW_SINCE)) -le 100 ] ||
    fail "BGP session start moved (a reset): ${UP_SINCE} ms -> ${NOW_SINCE:-none} ms of the day"
log "ok: BGP session start unchanged (no reset)"

step "control: the bridge goes, the dummy comes back, and so do the routes"
in_ns director "$IP" link del lbvip0
wait_until 20 has_route "$VIP_A" || fail "$VIP_A not announced again: $(run_log)"
wait_until 10 has_route "$VIP_B" || fail "$VIP_B not announced again"
assert_contains "$(in_ns director "$IP" -d link show dev lbvip0)" "dummy" "the recreated VIP interface"
stop_lbctl_run
kill "$(cat /tmp/bird-51.pid)" 2>/dev/null || true
