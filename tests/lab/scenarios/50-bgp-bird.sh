#!/bin/sh
# 50-bgp-bird (issue 6): `lbctl run` announces its VIPs over BGP to a real BIRD 2 router in
# its own namespace, following health: the router learns each VIP with the expected next hop,
# AS path and community and reaches the service through it; a VIP whose real servers all fail
# their health check is withdrawn and comes back when they recover; `lbctl withdraw` withdraws
# everything and `--undo` restores it; SIGTERM tags GRACEFUL_SHUTDOWN, withdraws and closes
# before the daemon exits, and the IPVS table stays. With on_stop = "graceful_restart" a
# SIGTERM leaves the routes in BIRD (graceful-restart helper) and the next start claims the
# R-bit from the restart marker: BIRD shows it ("Restart recovery"; control: not after a
# withdrawing stop) and counts both VIPs received again over the new session (the routes it
# holds then are not only its stale copies). A withdrawal survives a restart of the daemon (made there with
# the former command name `lbctl drain`, which must keep working). A SIGHUP with a new
# [bgp.policy] changes the routes' attributes on the live session (no reset); a changed peer
# key is logged as needing a restart and changes nothing. `lbctl withdraw --vip` withdraws one
# VIP. `lbctl withdraw` goes through the daemon's Unix control socket (mode 0600); POST
# /withdraw on the TCP listener is refused and changes nothing. Settings use `withdraw_file`
# (42-http-flood still uses its former name `drain_file`).
# lab-needs: bird
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/bird.sh
set -e

# The checked VIP (rs1 + rs2, TCP check on their port 80) and an unchecked one (rs1).
VIP_CHECKED=10.0.0.100
VIP_PLAIN=10.0.0.103
CONTROL=/tmp/lbctl-50.sock

topology_nat
for ns in rs1 rs2; do rs_echo "$ns" 7000; done

bird_router 50

step "lbctl run with [bgp] towards the router"
# write_settings ON_STOP: the daemon's settings, SIGTERM doing ON_STOP to the routes.
write_settings() {
    cat >/tmp/settings-50.toml <<EOS
$(daemon_settings_head)

$(bgp_settings_head)
communities = ["64512:100"]
on_stop = "$1"
restart_marker = "/tmp/lbctl-bgp-restart-marker"
withdraw_file = "/tmp/lbctl-bgp-drained"
graceful_shutdown = { tag_community = true, wait_ms = 3000 }

$(bgp_peer_toml "$ROUTER_IP" 64513 "$DIRECTOR_ROUTER_IP")

[bgp.policy]
announce_at = 1
withdraw_below = 1
hold_down_ms = 1000
EOS
}
write_settings withdraw
write_configmap /tmp/cm-50.yaml <<EOS
$VIP_CHECKED-7000: $RS1_IP:7000, $RS2_IP:7000; check=tcp; check-port=80; check-interval=1; check-timeout=1; check-rise=1; check-fall=1
$VIP_PLAIN-7000: $RS1_IP:7000
EOS
lbctl_running() { [ -n "$(lbctl_pid)" ]; }
run_log() { tail -5 /tmp/lbctl-run-50.log | tr '\n' '|'; }
# start_lbctl: lbctl run in the director (log: /tmp/lbctl-run-50.log), sets LBCTL_PID.
start_lbctl() {
    in_ns director "$LBCTL" run --settings /tmp/settings-50.toml --config-file /tmp/cm-50.yaml \
        --log info >/tmp/lbctl-run-50.log 2>&1 &
    wait_until 10 lbctl_running || fail "lbctl run did not start: $(run_log)"
    LBCTL_PID=$(lbctl_pid | head -1)
}
start_lbctl

wait_until 30 established || fail "BGP session not established: $(birdc show protocols all director | tr '\n' ' ' | cut -c1-300) lbctl: $(run_log)"
wait_until 30 has_route "$VIP_CHECKED" || fail "$VIP_CHECKED not announced: $(routes | tr '\n' ' ') lbctl: $(run_log)"
wait_until 10 has_route "$VIP_PLAIN" || fail "$VIP_PLAIN not announced: $(routes | tr '\n' ' ')"

step "the router has the VIPs with the expected attributes"
all=$(routes)
echo "$all"
vip_route=$(echo "$all" | sed -n "/^$VIP_CHECKED\/32 /,/^[0-9]/p")
assert_contains "$vip_route" "BGP.next_hop: $DIRECTOR_ROUTER_IP" "route of $VIP_CHECKED"
assert_contains "$vip_route" "BGP.as_path: 64512" "route of $VIP_CHECKED"
assert_contains "$vip_route" "BGP.origin: IGP" "route of $VIP_CHECKED"
assert_contains "$vip_route" "BGP.community: (64512,100)" "route of $VIP_CHECKED"
assert_not_contains "$all" "10.0.0.102/32" "routes (a VIP without a ConfigMap entry)"

step "traffic from the router follows the BGP route to the VIP"
kernel_route() { in_ns router "$IP" route show "$VIP_CHECKED" | grep -q "via $DIRECTOR_ROUTER_IP"; }
wait_until 10 kernel_route ||
    fail "BIRD did not install $VIP_CHECKED in the router's kernel: $(in_ns router "$IP" route | tr '\n' ' ')"
greeting=$(echo | in_ns router timeout 5 nc -w 3 "$VIP_CHECKED" 7000 | head -1)
case "$greeting" in rs1 | rs2) log "ok: the router reached $VIP_CHECKED:7000 via BGP ($greeting)" ;;
    *) fail "no answer from $VIP_CHECKED:7000 through the BGP route: '$greeting'" ;; esac

step "status and metrics show the session"
metric() { http_get_held director 127.0.0.1 9469 /metrics | grep "^$1"; }
session_metric() { metric "lbctl_bgp_session_established{peer=\"$ROUTER_IP\"} 1"; }
wait_until 10 session_metric || fail "lbctl_bgp_session_established is not 1: $(metric lbctl_bgp | tr '\n' ' ')"
prefix_metric() { metric "lbctl_bgp_announced_prefixes{peer=\"$ROUTER_IP\"} 2"; }
wait_until 10 prefix_metric ||
    fail "lbctl_bgp_announced_prefixes: $(metric lbctl_bgp_announced | tr '\n' ' ')"
status=$(in_ns director "$LBCTL" status --address 127.0.0.1:9469 || true)
echo "$status"
assert_contains "$status" "bgp (speaker): announcing 2 prefix(es)" "lbctl status"
assert_contains "$status" "peer $ROUTER_IP AS64513  established" "lbctl status"

step "every real server of $VIP_CHECKED fails its check: its route is withdrawn"
for ns in rs1 rs2; do
    for pid in $("$IP" netns pids "$ns"); do
        [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = httpd ] && kill "$pid"
    done
done
start=$(_lab_now)
wait_until 15 no_route "$VIP_CHECKED" || fail "$VIP_CHECKED still announced: $(routes | tr '\n' ' ') lbctl: $(run_log)"
log "withdrawn after about $(($(_lab_now) - start)) s"
has_route "$VIP_PLAIN" || fail "$VIP_PLAIN (unchecked) was withdrawn too"
established || fail "the session went down on a health change"
in_ns director "$IPVSADM" -Sn | grep -q "^-A -t $VIP_CHECKED:7000" || fail "the IPVS service of $VIP_CHECKED is gone"

step "the real servers recover: the route comes back"
for ns in rs1 rs2; do rs_http "$ns" 80 "$ns"; done
wait_until 20 has_route "$VIP_CHECKED" || fail "$VIP_CHECKED not announced again: lbctl: $(run_log)"

step "operator actions: only on the 0600 control socket, refused over TCP"
assert_eq "srw-------" "$(stat -c %A "$CONTROL")" "mode of the control socket"
refused=$(printf 'POST /withdraw HTTP/1.0\r\nContent-Length: 0\r\n\r\n' |
    in_ns director timeout 5 nc -w 3 127.0.0.1 9469 2>/dev/null | tr -d '\r')
assert_contains "$refused" "403" "POST /withdraw over TCP"
assert_contains "$refused" "$CONTROL" "POST /withdraw over TCP (names the socket)"
has_route "$VIP_CHECKED" || fail "POST /withdraw over TCP withdrew $VIP_CHECKED"
[ ! -e /tmp/lbctl-bgp-drained ] || fail "POST /withdraw over TCP wrote the withdraw file"

step "lbctl withdraw withdraws everything, --undo announces again"
out=$(in_ns director "$LBCTL" withdraw --socket "$CONTROL" 2>&1) || fail "lbctl withdraw failed: $out"
echo "$out"
assert_contains "$out" "WITHDRAWN" "lbctl withdraw"
wait_until 10 no_route "$VIP_CHECKED" || fail "withdraw left $VIP_CHECKED announced"
wait_until 10 no_route "$VIP_PLAIN" || fail "withdraw left $VIP_PLAIN announced"
established || fail "the session went down on withdraw"
metric "lbctl_bgp_draining 1" >/dev/null || fail "lbctl_bgp_draining is not 1"
status=$(in_ns director "$LBCTL" status --address 127.0.0.1:9469 || true)
assert_contains "$status" "WITHDRAWN" "lbctl status while withdrawn"
out=$(in_ns director "$LBCTL" withdraw --undo --socket "$CONTROL" 2>&1) || fail "lbctl withdraw --undo failed: $out"
wait_until 10 has_route "$VIP_CHECKED" || fail "--undo did not announce $VIP_CHECKED again"
wait_until 10 has_route "$VIP_PLAIN" || fail "--undo did not announce $VIP_PLAIN again"

step "lbctl withdraw --vip withdraws one VIP; the other stays; --undo --vip brings it back"
out=$(in_ns director "$LBCTL" withdraw --vip "$VIP_CHECKED" --socket "$CONTROL" 2>&1) ||
    fail "lbctl withdraw --vip failed: $out"
echo "$out"
assert_contains "$out" "withdrawn VIPs (lbctl withdraw --vip): $VIP_CHECKED" "lbctl withdraw --vip"
# The command returns once the announcer withholds the VIP; the UPDATE reaches BIRD just after.
wait_until 10 no_route "$VIP_CHECKED" || fail "lbctl withdraw --vip left $VIP_CHECKED announced"
has_route "$VIP_PLAIN" || fail "a per-VIP withdrawal withdrew $VIP_PLAIN too"
established || fail "the session went down on a per-VIP withdrawal"
assert_contains "$(cat /tmp/lbctl-bgp-drained)" "$VIP_CHECKED" "withdraw file"
out=$(in_ns director "$LBCTL" withdraw --undo --vip "$VIP_CHECKED" --socket "$CONTROL" 2>&1) ||
    fail "lbctl withdraw --undo --vip failed: $out"
wait_until 10 has_route "$VIP_CHECKED" || fail "--undo --vip did not announce $VIP_CHECKED again"
[ ! -e /tmp/lbctl-bgp-drained ] || fail "the withdraw file outlived the last withdrawal"

step "SIGHUP with a new [bgp.policy]: new MED on the live session, no reset"
# No reset: BIRD's session start (in ms of the day; BIRD prints it with a ms of jitter) and our
# own count of session ups (`lbctl status`, refreshed every 2 s) stay the same.
ups() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 | sed -n "s/.*peer $ROUTER_IP .* up \([0-9]*\) time(s).*/\1/p"; }
session_since=$(session_start_ms)
session_ups=$(ups)
[ -n "$session_ups" ] || fail "no session count in lbctl status: $(in_ns director "$LBCTL" status --address 127.0.0.1:9469 | tr '\n' ' ')"
[ -n "$session_since" ] || fail "cannot read the session's start: $(birdc show protocols director | tr '\n' ' ')"
cp /tmp/settings-50.toml /tmp/settings-50.saved
cat >>/tmp/settings-50.toml <<EOS
vip_attributes = { "$VIP_CHECKED" = { med = 42 } }
EOS
kill -HUP "$LBCTL_PID"
med_is() { routes | sed -n "/^$VIP_CHECKED\/32 /,/^[0-9]/p" | grep -q "BGP.med: $1"; }
wait_until 10 med_is 42 || fail "the new MED did not reach BIRD: $(routes | tr '\n' ' ') lbctl: $(run_log)"
routes | sed -n "/^$VIP_PLAIN\/32 /,/^[0-9]/p" | grep -q "BGP.med:" && fail "$VIP_PLAIN got a MED it was not given"
same_session_start "$session_since" "after the reload"
# A peer key cannot change on a live session: logged, nothing else happens.
sed -i 's/^connect_retry_max_ms = 2000/connect_retry_max_ms = 3000/' /tmp/settings-50.toml
kill -HUP "$LBCTL_PID"
needs_restart() { grep -q "needs a restart.*\[bgp\] sessions\|\[bgp\] sessions.*needs a restart" /tmp/lbctl-run-50.log; }
wait_until 5 needs_restart || fail "no 'needs a restart' for the peer change: $(run_log)"
same_session_start "$session_since" "after a peer-key reload"
sleep 3
assert_eq "$session_ups" "$(ups)" "session ups (lbctl status) after both reloads"
med_is 42 || fail "the MED changed after the peer-key reload"
mv -f /tmp/settings-50.saved /tmp/settings-50.toml

step "SIGTERM: GRACEFUL_SHUTDOWN community, withdraw, close; IPVS stays"
before=$(ipvs_rules director)
kill -TERM "$LBCTL_PID"
tagged() { routes | grep -q "(65535,0)"; }
wait_until 3 tagged || fail "routes were not tagged GRACEFUL_SHUTDOWN (65535,0): $(routes | tr '\n' ' ')"
log "ok: routes tagged (65535,0) before the withdrawal"
wait_until 10 no_route "$VIP_CHECKED" || fail "$VIP_CHECKED still announced after SIGTERM"
no_route "$VIP_PLAIN" || fail "$VIP_PLAIN still announced after SIGTERM"
exited() { ! kill -0 "$LBCTL_PID" 2>/dev/null; }
wait_until 15 exited || fail "lbctl did not exit after SIGTERM"
grep -q "BGP announcer stopped" /tmp/lbctl-run-50.log || fail "no 'BGP announcer stopped' in the log: $(run_log)"
grep -q "IPVS keeps forwarding" /tmp/lbctl-run-50.log || fail "lbctl run did not stop cleanly: $(run_log)"
assert_eq "$before" "$(ipvs_rules director)" "IPVS table after SIGTERM"
! established || fail "the session is still up after lbctl exited"
[ ! -e /tmp/lbctl-bgp-restart-marker ] || fail "the restart marker survived a withdrawing stop"

step "graceful restart: on_stop = graceful_restart keeps the routes in BIRD across a restart"
write_settings graceful_restart
start_lbctl
wait_until 30 established || fail "BGP session not re-established: lbctl: $(run_log)"
wait_until 15 has_route "$VIP_CHECKED" || fail "$VIP_CHECKED not announced after the start"
if grep -q "R-bit" /tmp/lbctl-run-50.log; then fail "R-bit claimed although the last stop withdrew"; fi
# What BIRD itself saw: the R-bit is "Restart recovery" under the neighbour's capabilities;
# this start follows a withdrawing stop, so BIRD must not see it (the control of the check
# after the restart below).
r_bit_at_bird() { birdc show protocols all director | grep -q "Restart recovery"; }
if r_bit_at_bird; then fail "BIRD saw the R-bit although the last stop withdrew"; fi
# Updates BIRD has received from us (its channel statistics).
received() { birdc show protocols all director | awk '/Import updates:/ { print $3 }'; }
received_before=$(received)
kill -TERM "$LBCTL_PID"
wait_until 15 exited || fail "lbctl did not exit after SIGTERM"
! established || fail "the session is still up after lbctl exited"
has_route "$VIP_CHECKED" || fail "BIRD dropped $VIP_CHECKED: graceful restart did not keep it: $(routes | tr '\n' ' ')"
has_route "$VIP_PLAIN" || fail "BIRD dropped $VIP_PLAIN during the restart"
[ -e /tmp/lbctl-bgp-restart-marker ] || fail "no restart marker after a graceful-restart stop"
log "ok: routes kept while lbctl is down, marker present"
start_lbctl
wait_until 30 established || fail "BGP session not re-established after the restart: lbctl: $(run_log)"
grep -q "R-bit" /tmp/lbctl-run-50.log || fail "the restarted daemon did not claim the R-bit: $(run_log)"
r_bit_at_bird || fail "BIRD did not see the R-bit: $(birdc show protocols all director | tr '\n' ' ')"
# Routes present now could be the stale copies BIRD kept; the new session must have sent both
# again (BIRD counts them as received, then ignores them as unchanged).
reannounced() { [ "$(received)" -ge $((received_before + 2)) ]; }
wait_until 15 reannounced || fail "BIRD received $(received) updates, $received_before before the restart: the new session did not re-announce both VIPs"
has_route "$VIP_CHECKED" || fail "$VIP_CHECKED lost after the graceful restart"
has_route "$VIP_PLAIN" || fail "$VIP_PLAIN lost after the graceful restart"

step "a withdrawal by the former name lbctl drain survives a restart of the daemon"
out=$(in_ns director "$LBCTL" drain --socket "$CONTROL" 2>&1) || fail "lbctl drain failed: $out"
wait_until 10 no_route "$VIP_CHECKED" || fail "drain after the restart left $VIP_CHECKED announced"
[ -e /tmp/lbctl-bgp-drained ] || fail "lbctl drain left no drain file"
kill -TERM "$LBCTL_PID"
wait_until 15 exited || fail "lbctl did not exit after SIGTERM"
start_lbctl
wait_until 30 established || fail "BGP session not re-established: lbctl: $(run_log)"
sleep 3
no_route "$VIP_CHECKED" || fail "a restarted daemon forgot the withdrawal: $VIP_CHECKED announced"
no_route "$VIP_PLAIN" || fail "a restarted daemon forgot the withdrawal: $VIP_PLAIN announced"
status=$(in_ns director "$LBCTL" status --address 127.0.0.1:9469 || true)
assert_contains "$status" "WITHDRAWN" "lbctl status after the restart"
out=$(in_ns director "$LBCTL" withdraw --undo --socket "$CONTROL" 2>&1) || fail "lbctl withdraw --undo failed: $out"
wait_until 10 has_route "$VIP_CHECKED" || fail "--undo after the restart did not announce $VIP_CHECKED"
[ ! -e /tmp/lbctl-bgp-drained ] || fail "--undo left the withdraw file"
kill -TERM "$LBCTL_PID"
wait_until 15 exited || fail "lbctl did not exit after the last SIGTERM"
kill "$(cat /tmp/bird-50.pid)" 2>/dev/null || true
