#!/bin/sh
# 41-health-quiesce (issue 7): `lbctl run` health-checks the real servers; one whose check
# fails is quiesced (weight 0: its established connection keeps working, new connections go
# elsewhere) and gets its weight back when it recovers. The verdicts show in /metrics and
# `lbctl status`. A changed check (new interval) keeps the quiesced server at weight 0, and a
# SIGHUP applies a new [metrics] section without a restart.
# Controls (in every run): rs2 also sits, without a check, in 10.0.0.102:7000 and keeps
# weight 1 there while quiesced in the checked service; before the failure two new
# connections go one to each real server, lbctl status has no "unhealthy" and
# lbctl_health_check_up of rs2 is 1 (0 while failing, 1 again after: each state is the other's
# control); before the SIGHUP /metrics has endpoint series and the log no reload line; at the
# end, with lbctl stopped, rs2 deleted with ipvsadm -d cuts the stream that the quiesce kept.
# Mutations (product code, run once each): a changed check forgetting its verdict
# (controller/src/health/runner.rs set_checks, RiseFall::default() instead of carried()) ->
# "rs2's weight became '1' after the check changed (sample 3)"; [metrics] treated as needing a
# restart (controller/src/daemon/run.rs reload_settings) -> "lbctl log unexpectedly contains
# 'needs a restart'"; the same without the warning -> "/metrics after SIGHUP (endpoint_level =
# false) unexpectedly contains 'lvs_endpoint_stat_conns_total'".
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
for ns in rs1 rs2; do rs_echo "$ns" 7000; done

step "lbctl run with a TCP check on port 80 of each real server"
cat >/tmp/settings-41.toml <<EOS
managed_vip_ranges = ["10.0.0.96/28"]
state_file = "/tmp/lbctl-state.json"
listen_address = "127.0.0.1:9469"
resync_period_secs = 2
EOS
write_configmap /tmp/cm-41.yaml <<EOS
10.0.0.100-7000: $RS1_IP:7000, $RS2_IP:7000; check=tcp; check-port=80; check-interval=1; check-timeout=1; check-rise=1; check-fall=1
10.0.0.102-7000: $RS2_IP:7000
EOS
in_ns director "$LBCTL" run --settings /tmp/settings-41.toml --config-file /tmp/cm-41.yaml \
    --log info >/tmp/lbctl-run-41.log 2>&1 &
weight_of() { in_ns director "$IPVSADM" -Sn | sed -n "s/^-a -t 10.0.0.100:7000 -r $1:7000 -m -w \([0-9]*\).*/\1/p"; }
weight_is() { [ "$(weight_of "$1")" = "$2" ]; }
wait_until 30 weight_is "$RS2_IP" 1 || fail "service not programmed: $(tail -5 /tmp/lbctl-run-41.log | tr '\n' '|')"
metric_up() { http_get_held director 127.0.0.1 9469 /metrics | grep -q "^lbctl_health_check_up{endpoint=\"$1:7000\".*} $2"; }
wait_until 15 metric_up "$RS2_IP" 1 || fail "no health metric for rs2"

step "a long-lived connection to rs2"
# Make rs2 the only choice for a moment, so the stream lands there.
in_ns director "$IPVSADM" -e -t 10.0.0.100:7000 -r "$RS1_IP:7000" -m -w 0
open_stream a client "$VIP_NAT" 7000
wait_until 10 test -s /tmp/stream-a.out || fail "no greeting on the long-lived connection"
assert_eq rs2 "$(head -1 /tmp/stream-a.out)" "long-lived connection served by"
# The next resync repairs rs1's weight (drift).
wait_until 20 weight_is "$RS1_IP" 1 || fail "rs1's weight was not repaired"
# Control of "new ones go to rs1" below: while rs2 is healthy, two new connections go one to
# each real server (rr), and lbctl status reports nothing unhealthy.
new_greetings() {
    j=0
    while [ $j -lt "$1" ]; do
        j=$((j + 1))
        echo | in_ns client timeout 5 nc -w 3 "$VIP_NAT" 7000 | head -1
    done
}
assert_eq "rs1 rs2" "$(new_greetings 2 | sort | tr '\n' ' ' | sed 's/ $//')" "control: two new connections while rs2 is healthy"
assert_not_contains "$(in_ns director "$LBCTL" status --address 127.0.0.1:9469)" "unhealthy" "control: lbctl status while all are healthy"

step "rs2's check fails (its port 80 stops answering): quiesced"
# Only rs2's httpd: network namespaces share one PID space, so pidof would find rs1's too.
for pid in $("$IP" netns pids rs2); do
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = httpd ] && kill "$pid"
done
wait_until 20 weight_is "$RS2_IP" 0 || fail "rs2 not quiesced: weight $(weight_of "$RS2_IP")"
wait_until 10 metric_up "$RS2_IP" 0 || fail "lbctl_health_check_up of rs2 is not 0"
# Control: the same real server in a service without a check keeps weight 1, so the weight 0
# above is the check's doing (not the kernel's, nor a side effect of the dead port).
assert_eq 1 "$(in_ns director "$IPVSADM" -Sn | sed -n "s/^-a -t 10.0.0.102:7000 -r $RS2_IP:7000 -m -w \([0-9]*\).*/\1/p")" \
    "control: weight of rs2 in the unchecked service 10.0.0.102:7000"
status=$(in_ns director "$LBCTL" status --address 127.0.0.1:9469)
echo "$status"
assert_contains "$status" "unhealthy" "lbctl status"

step "the established connection keeps working; new ones go to rs1"
stream_send a "still-here"
wait_until 5 stream_saw a "still-here" || fail "the quiesced server's connection broke"
i=0
while [ $i -lt 4 ]; do
    i=$((i + 1))
    greeting=$(echo | in_ns client timeout 5 nc -w 3 "$VIP_NAT" 7000 | head -1)
    assert_eq rs1 "$greeting" "new connection $i served by"
done

step "a changed check and a SIGHUP keep rs2 quiesced; [metrics] applies without a restart"
# The check's interval changes (a new probe task) and a second VIP shows when the edit is
# live; rs2's weight is sampled all along: a forgotten verdict would count as healthy and
# restore weight 1 until the new check failed again.
write_configmap /tmp/cm-41.yaml <<EOS
10.0.0.100-7000: $RS1_IP:7000, $RS2_IP:7000; check=tcp; check-port=80; check-interval=2; check-timeout=1; check-rise=1; check-fall=1
10.0.0.101-7000: $RS1_IP:7000
10.0.0.102-7000: $RS2_IP:7000
EOS
# Controls of the [metrics] and log checks below: before the SIGHUP, /metrics has endpoint
# series and the log has no reload line.
assert_contains "$(http_get_held director 127.0.0.1 9469 /metrics)" "lvs_endpoint_stat_conns_total" "control: /metrics before SIGHUP"
assert_not_contains "$(cat /tmp/lbctl-run-41.log)" "SIGHUP: settings reloaded" "control: lbctl log before SIGHUP"
cat >>/tmp/settings-41.toml <<EOS
[metrics]
endpoint_level = false
EOS
kill -HUP "$(lbctl_pid | head -1)"
second_vip() { in_ns director "$IPVSADM" -Ln | grep -q "10.0.0.101:7000"; }
i=0
seen=0
while [ $i -lt 100 ]; do
    i=$((i + 1))
    w=$(weight_of "$RS2_IP")
    [ "$w" = 0 ] || fail "rs2's weight became '$w' after the check changed (sample $i)"
    if second_vip; then seen=$((seen + 1)); fi
    # Keep sampling for 3 s (10 samples) after the edit is live.
    [ $seen -ge 10 ] && break
    sleep 0.3
done
[ $seen -ge 10 ] || fail "the edited ConfigMap was not applied"
log "ok: rs2 stayed at weight 0 through the check change ($i samples)"
assert_contains "$(cat /tmp/lbctl-run-41.log)" "SIGHUP: settings reloaded" "lbctl log"
assert_not_contains "$(cat /tmp/lbctl-run-41.log)" "needs a restart" "lbctl log"
metrics=$(http_get_held director 127.0.0.1 9469 /metrics)
assert_contains "$metrics" "lvs_service_stat_conns_total" "/metrics after SIGHUP"
assert_not_contains "$metrics" "lvs_endpoint_stat_conns_total" "/metrics after SIGHUP (endpoint_level = false)"

step "rs2 recovers: weight restored"
rs_http rs2 80 rs2
wait_until 20 weight_is "$RS2_IP" 1 || fail "rs2 not restored: weight $(weight_of "$RS2_IP")"
wait_until 10 metric_up "$RS2_IP" 1 || fail "lbctl_health_check_up of rs2 is not 1 again"

step "control: rs2 deleted outright cuts the connection the quiesce kept"
# lbctl stops (the table stays), then rs2 is deleted from the service with ipvsadm -d, what a
# health check that removed a failing real server would do: the stream stops echoing.
stop_lbctl_run
echo_ok a before-delete
stream_cut_by_delete a "-t 10.0.0.100:7000" "$RS2_IP:7000"
stream_close a
