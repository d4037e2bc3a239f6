#!/bin/sh
# 42-http-flood (issue 11): `lbctl run` with health checks and a BGP session to BIRD, its
# descriptors limited to 256 (ulimit -n), gets a flood of 2000 idle connections on its HTTP
# port (a bounded loop of busybox nc that sends nothing). The listener holds at most
# [http] max_connections = 64 of them and closes the rest at once; the header-read timeout
# (3 s) clears the held ones. Meanwhile the real servers keep weight 1 (no health probe fails
# for lack of descriptors), the route stays in BIRD and the BGP session is not reset; after
# the flood /healthz answers and lbctl_http_connections_refused_total counts the refusals.
# Mutation checked: without the connection cap (and with EMFILE probes counted as failures)
# it fails at the refusal counter (the daemon then hits EMFILE on accept and backs off). The
# weight, route and session checks guard against the server of before issue 11 (no timer, no
# cap, no backoff: held connections never end), which was not re-run here.
# lab-needs: bird
# lab-timeout: 240
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/bird.sh
set -e

VIP=10.0.0.100
FLOOD=2000

topology_nat
for ns in rs1 rs2; do rs_echo "$ns" 7000; done

bird_router 42

step "lbctl run (ulimit -n 256) with TCP checks and [bgp]"
cat >/tmp/settings-42.toml <<EOS
$(daemon_settings_head)

[http]
max_connections = 64
header_read_timeout_secs = 3
control_socket = "/tmp/lbctl-42.sock"

[bgp]
enabled = true
local_as = 64512
router_id = "$DIRECTOR_ROUTER_IP"
hold_time_secs = 9
restart_marker = "/tmp/lbctl-bgp-restart-marker"
drain_file = "/tmp/lbctl-bgp-drained"

$(bgp_peer_toml "$ROUTER_IP" 64513 "$DIRECTOR_ROUTER_IP")
EOS
write_configmap /tmp/cm-42.yaml <<EOS
$VIP-7000: $RS1_IP:7000, $RS2_IP:7000; check=tcp; check-port=80; check-interval=1; check-timeout=1; check-rise=1; check-fall=1
EOS
in_ns director sh -c "ulimit -n 256 && exec $LBCTL run --settings /tmp/settings-42.toml \
    --config-file /tmp/cm-42.yaml --log info" >/tmp/lbctl-run-42.log 2>&1 &
run_log() { tail -5 /tmp/lbctl-run-42.log | tr '\n' '|'; }
weight_of() { in_ns director "$IPVSADM" -Sn | sed -n "s/^-a -t $VIP:7000 -r $1:7000 -m -w \([0-9]*\).*/\1/p"; }
weight_is() { [ "$(weight_of "$1")" = "$2" ]; }
wait_until 30 weight_is "$RS1_IP" 1 || fail "service not programmed: $(run_log)"
wait_until 10 weight_is "$RS2_IP" 1 || fail "rs2 not programmed: $(run_log)"
wait_until 30 established || fail "BGP session not established: $(run_log)"
wait_until 30 has_route "$VIP" || fail "$VIP not announced: $(run_log)"
since=$(session_start_ms)
[ -n "$since" ] || fail "cannot read the session's start: $(birdc show protocols director | tr '\n' ' ')"

step "a flood of $FLOOD idle HTTP connections; weights, route and session hold"
mkfifo /tmp/idle-42
# One writer keeps the fifo open: every nc reads nothing from it and so sends nothing.
sleep 25 >/tmp/idle-42 &
# One shell in the director namespace opens them one after the other and stops by itself;
# refused connections end at once, so the number of nc processes stays bounded.
in_ns director sh -c "i=0; while [ \$i -lt $FLOOD ]; do i=\$((i + 1)); \
    nc 127.0.0.1 9469 </tmp/idle-42 >/dev/null 2>&1 & done; wait" &
log "flood started: $FLOOD connections"
n=0
while [ $n -lt 30 ]; do
    n=$((n + 1))
    for rs in "$RS1_IP" "$RS2_IP"; do
        w=$(weight_of "$rs")
        [ "$w" = 1 ] || fail "real server $rs got weight '$w' during the flood (sample $n): $(run_log)"
    done
    has_route "$VIP" || fail "$VIP was withdrawn during the flood (sample $n): $(run_log)"
    sleep 0.5
done
log "ok: weights 1/1 and the route held for 15 s of flood"
[ -n "$(lbctl_pid)" ] || fail "lbctl run died under the flood: $(run_log)"

step "after the flood: /healthz answers, refusals counted, the session was never reset"
wait_until 30 http_get_held director 127.0.0.1 9469 /healthz || fail "/healthz does not answer after the flood: $(run_log)"
metrics=$(http_get_held director 127.0.0.1 9469 /metrics)
refused=$(echo "$metrics" | sed -n 's/^lbctl_http_connections_refused_total{listener="tcp"} \([0-9]*\)$/\1/p')
log "refused connections: ${refused:-none}"
[ -n "$refused" ] && [ "$refused" -gt 0 ] || fail "no refused connections counted: $(echo "$metrics" | grep lbctl_http | tr '\n' ' ')"
no_verdict=$(echo "$metrics" | grep -c '^lbctl_health_probes_without_verdict_total' || true)
log "probe results without verdict (series): $no_verdict"
established || fail "the BGP session is down after the flood"
same_session_start "$since" "during the flood"
weight_is "$RS1_IP" 1 && weight_is "$RS2_IP" 1 || fail "weights changed after the flood"
kill -TERM "$(lbctl_pid | head -1)"
stopped() { [ -z "$(lbctl_pid)" ]; }
wait_until 15 stopped || fail "lbctl did not stop on SIGTERM"
kill "$(cat /tmp/bird-42.pid)" 2>/dev/null || true
