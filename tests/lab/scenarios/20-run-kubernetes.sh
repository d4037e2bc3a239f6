#!/bin/sh
# 20-run-kubernetes (issue 4): `lbctl run --kubeconfig` against the fake Kubernetes API server
# (real HTTP list/watch) programs IPVS from a VIP ConfigMap, a dual-stack Service with a named
# and a numbered target port, and its EndpointSlices; real traffic reaches both pods; a
# ConfigMap edit, a scale-down (drain, not cut) and a terminating+serving endpoint (weight 0)
# reach the kernel; an API outage keeps the table and a live connection and reports not
# ready; changes made during the outage are applied once the API is back.
# Controls (in every run): before lbctl runs the kernel table is empty and 10.0.0.100/.101 do
# not answer (the exact table and the answers are lbctl's); before the ConfigMap edit
# 10.0.0.102 does not answer and the (readable) Event list has no InvalidKey; /readyz said
# ready and /metrics `lbctl_ready 1` before the outage, `lbctl status` exits non-zero during
# it (the final status check); the table while the API is still down equals the one before
# (the applied-after table differs); at the end, with lbctl stopped, stream a's real server
# deleted with ipvsadm -d stops echoing while stream b keeps echoing, so the "drained, not cut"
# and "connections stay during the outage" echo checks can fail.
# Mutations (product code, lbctl built in a worktree, each run once and seen to fail):
# - named target port resolved to the Service port (config/src/build/service_entry.rs
#   target_port) -> "initial lists: kernel table differs" (kernel had 10.0.1.1x:80 for :80);
# - terminating+serving endpoints weighted as ready (ready_state) -> "terminating endpoint:
#   kernel table differs" (10.0.1.11 -w 1 instead of -w 0);
# - a removed endpoint deleted at once instead of drained (ipvs-sync reconcile/plan.rs
#   remove_destination) -> "rs2 not drained on :9000" (10.0.1.12:9000 gone);
# - on disconnect the source publishes every endpoint as terminating (controller/src/kube/
#   source.rs set_connected) -> "kernel table during the outage: expected ..." (all -w 0). (The
#   same with the slices emptied instead did not change the table: something downstream held
#   it, probably the delete guard.);
# - the watch streams end at their first error (take_while ok in source.rs watcher()) ->
#   "changes made during the outage: kernel table differs" (kernel still rr on 10.0.0.102:80
#   and rs1 at -w 0: the table from before the outage).
# About 45 s in the VM on an idle host, 80 s on a busy one.
# lab-needs: fake-apiserver
# lab-timeout: 300
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/kube.sh
set -e

FIX=/lab/fixtures/20-run-kubernetes
HTTP=127.0.0.1:9469

topology_nat
# The pods: HTTP on their container port 8080 (named `web`), an echo server on 9000.
for ns in rs1 rs2; do
    rs_http "$ns" 8080 "$ns"
    rs_echo "$ns" 9000
done

readyz() { http_get_held director "${HTTP%:*}" "${HTTP#*:}" /readyz; }
is_ready() { [ "$(readyz)" = "ready" ]; }
not_ready() { case "$(readyz)" in "not ready: the API server is unreachable"*) true ;; *) false ;; esac; }

step "start the fake API server with the ConfigMap, Services and EndpointSlices"
start_fake_apiserver "$FIX"
SETTINGS_RUN=/tmp/run-settings.toml
{
    cat "$LAB_SETTINGS"
    echo "listen_address = \"$HTTP\""
    # Short, so that resyncs run during the outage below (they must not delete anything).
    echo "resync_period_secs = 3"
    echo "[kubernetes]"
    echo 'namespace = "lb-system"'
    echo 'configmap = "lab-vips"'
    # The fake API server speaks plain HTTP (refused without this, issue 11).
    echo 'allow_insecure_http = true'
} >"$SETTINGS_RUN"

step "control: before lbctl runs, no table and no answer"
assert_eq "" "$(ipvs_rules director)" "kernel table before lbctl run"
no_answer 10.0.0.100 "before lbctl run"
no_answer 10.0.0.101 "before lbctl run"

step "lbctl run --kubeconfig programs the Service's endpoints"
in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" --kubeconfig /tmp/kubeconfig --log info \
    >/tmp/run.log 2>&1 &
RUN_PID=$!
# Named target port `web` resolves through the slice port named after the Service port
# (`http` -> 8080), the numbered one (9000) directly; the IPv6 slice stays out of the IPv4
# VIP; the Service in namespace shop is not referenced and stays out.
expect_table <<EOF
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 1
-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 1
-A -t 10.0.0.100:9000 -s rr
-a -t 10.0.0.100:9000 -r 10.0.1.11:9000 -m -w 1
-a -t 10.0.0.100:9000 -r 10.0.1.12:9000 -m -w 1
-A -t 10.0.0.101:80 -s rr
-a -t 10.0.0.101:80 -r 10.0.1.11:80 -m -w 1
-a -t 10.0.0.101:80 -r 10.0.1.12:80 -m -w 1
EOF
wait_table 30 "initial lists"
wait_until 10 is_ready || fail "not ready after the first sync: $(readyz)"
log "ok: /readyz ready"

step "traffic reaches both endpoints"
assert_eq "2 rs1
2 rs2" "$(bodies 4 10.0.0.100 80)" "answers of 4 requests to 10.0.0.100:80 (rr)"
assert_eq "1 rs1
1 rs2" "$(bodies 2 10.0.0.101 80)" "answers of the static entry 10.0.0.101:80"

step "ConfigMap edit: a second VIP for the Service's http port, and a bad key"
# Control: before the edit the new VIP does not answer and no InvalidKey Event exists (the
# events list itself is readable, so the grep below could see one).
no_answer 10.0.0.102 "before the ConfigMap edit"
admin GET objects/events
if grep -q '"reason":"InvalidKey"' /tmp/admin.body; then
    fail "control: an InvalidKey Event before the bad key was written: $(cut -c1-300 /tmp/admin.body)"
fi
log "ok: control: no InvalidKey Event before the edit"
admin PUT objects "$FIX/configmap-second-vip.json"
expect_table <<EOF
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 1
-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 1
-A -t 10.0.0.100:9000 -s rr
-a -t 10.0.0.100:9000 -r 10.0.1.11:9000 -m -w 1
-a -t 10.0.0.100:9000 -r 10.0.1.12:9000 -m -w 1
-A -t 10.0.0.101:80 -s rr
-a -t 10.0.0.101:80 -r 10.0.1.11:80 -m -w 1
-a -t 10.0.0.101:80 -r 10.0.1.12:80 -m -w 1
-A -t 10.0.0.102:80 -s rr
-a -t 10.0.0.102:80 -r 10.0.1.11:8080 -m -w 1
-a -t 10.0.0.102:80 -r 10.0.1.12:8080 -m -w 1
EOF
wait_table 15 "ConfigMap edit"
assert_eq "1 rs1
1 rs2" "$(bodies 2 10.0.0.102 80)" "answers through the new VIP 10.0.0.102:80"
events_have_invalid_key() { admin_req GET objects/events && grep -q '"reason":"InvalidKey"' /tmp/admin.body; }
wait_until 15 events_have_invalid_key || {
    grep -i event /tmp/run.log | tail -n 5
    fail "no InvalidKey Event for 10.0.0.103-80: $(cut -c1-300 /tmp/admin.body)"
}
assert_contains "$(cat /tmp/admin.body)" "10.0.0.103-80" "the InvalidKey Event"

step "two long-lived connections, one to each pod"
open_stream a client 10.0.0.100 9000
open_stream b client 10.0.0.100 9000
wait_until 10 sh -c 'test -s /tmp/stream-a.out && test -s /tmp/stream-b.out' || fail "streams got no greeting"
first_a=$(head -1 /tmp/stream-a.out) first_b=$(head -1 /tmp/stream-b.out)
log "stream a is served by $first_a, stream b by $first_b"
case "$first_a $first_b" in
    "rs1 rs2") ON_RS1=a ON_RS2=b ;;
    "rs2 rs1") ON_RS1=b ON_RS2=a ;;
    *) fail "rr should spread two connections over rs1 and rs2, got '$first_a $first_b'" ;;
esac
echo_ok a hello-a
echo_ok b hello-b

step "scale down: rs2 leaves the EndpointSlice and is drained, not cut"
admin PUT objects "$FIX/slice-scaled-down.json"
rs2_drained() { [ "$(weight_of 10.0.0.100:9000 10.0.1.12:9000)" = 0 ]; }
wait_until 15 rs2_drained || fail "rs2 not drained on :9000: $(ipvs_rules director | tr '\n' '|')"
assert_eq 1 "$(weight_of 10.0.0.100:9000 10.0.1.11:9000)" "weight of rs1 on :9000"
# On :80 rs2 has no established connection: drained while TIME_WAIT entries last, else gone.
for svc in 10.0.0.100:80 10.0.0.102:80; do
    w=$(weight_of "$svc" 10.0.1.12:8080)
    [ -z "$w" ] || [ "$w" = 0 ] || fail "rs2 on $svc still has weight $w after the scale-down"
    assert_eq 1 "$(weight_of "$svc" 10.0.1.11:8080)" "weight of rs1 on $svc"
done
log "ok: rs2 drained (weight 0 or removed once idle)"
assert_eq "4 rs1" "$(bodies 4 10.0.0.100 80)" "answers after the scale-down"
echo_ok "$ON_RS2" still-on-rs2

step "rs1 terminating but serving: weight 0; rs2 back: weight 1"
admin PUT objects "$FIX/slice-rs1-terminating.json"
expect_table <<EOF
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 0
-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 1
-A -t 10.0.0.100:9000 -s rr
-a -t 10.0.0.100:9000 -r 10.0.1.11:9000 -m -w 0
-a -t 10.0.0.100:9000 -r 10.0.1.12:9000 -m -w 1
-A -t 10.0.0.101:80 -s rr
-a -t 10.0.0.101:80 -r 10.0.1.11:80 -m -w 1
-a -t 10.0.0.101:80 -r 10.0.1.12:80 -m -w 1
-A -t 10.0.0.102:80 -s rr
-a -t 10.0.0.102:80 -r 10.0.1.11:8080 -m -w 0
-a -t 10.0.0.102:80 -r 10.0.1.12:8080 -m -w 1
EOF
wait_table 15 "terminating endpoint"
assert_eq "4 rs2" "$(bodies 4 10.0.0.100 80)" "answers with rs1 terminating"
echo_ok "$ON_RS1" still-on-terminating-rs1

step "API server down: table and connections stay, not ready"
# Control of the readiness checks below: the same /metrics line reads 1 while the API is up.
assert_contains "$(http_get_held director "${HTTP%:*}" "${HTTP#*:}" /metrics)" "lbctl_ready 1"
BEFORE=$(ipvs_rules director)
admin POST down
down_at=$(_lab_now)
wait_until 15 not_ready || fail "/readyz did not report the outage: $(readyz)"
log "ok: /readyz says: $(readyz)"
# Stay down across several resyncs (resync_period_secs = 3).
while [ $(($(_lab_now) - down_at)) -lt 10 ]; do sleep 1; done
assert_eq "$BEFORE" "$(ipvs_rules director)" "kernel table during the outage"
echo_ok a during-outage-a
echo_ok b during-outage-b
assert_eq "4 rs2" "$(bodies 4 10.0.0.100 80)" "answers during the outage"
assert_contains "$(http_get_held director "${HTTP%:*}" "${HTTP#*:}" /metrics)" "lbctl_ready 0"
# Control of the final `lbctl status (ready)`: during the outage it exits non-zero.
if in_ns director "$LBCTL" status --address "$HTTP" >/dev/null 2>&1; then
    fail "control: lbctl status exited 0 during the API outage"
fi
log "ok: control: lbctl status exits non-zero during the outage"

step "changes made during the outage are applied after it"
admin PUT objects "$FIX/configmap-during-outage.json"
admin PUT objects "$FIX/slice-during-outage.json"
sleep 3
assert_eq "$BEFORE" "$(ipvs_rules director)" "kernel table while the API is still down"
admin POST up
expect_table <<EOF
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 1
-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 1
-A -t 10.0.0.100:9000 -s rr
-a -t 10.0.0.100:9000 -r 10.0.1.11:9000 -m -w 1
-a -t 10.0.0.100:9000 -r 10.0.1.12:9000 -m -w 1
-A -t 10.0.0.101:80 -s rr
-a -t 10.0.0.101:80 -r 10.0.1.11:80 -m -w 1
-a -t 10.0.0.101:80 -r 10.0.1.12:80 -m -w 1
-A -t 10.0.0.102:80 -s wlc
-a -t 10.0.0.102:80 -r 10.0.1.11:8080 -m -w 1
-a -t 10.0.0.102:80 -r 10.0.1.12:8080 -m -w 1
EOF
wait_table 45 "changes made during the outage"
wait_until 15 is_ready || fail "not ready after the API came back: $(readyz)"
log "ok: /readyz ready again $(($(_lab_now) - down_at)) s after the outage began"
echo_ok a after-outage-a
echo_ok b after-outage-b
assert_eq "2 rs1
2 rs2" "$(bodies 4 10.0.0.100 80)" "answers after the outage"
assert_ok "lbctl status (ready)" in_ns director "$LBCTL" status --address "$HTTP"

stop_lbctl_run
log "ok: stopped"

step "control: a real server deleted outright cuts its connection"
# What a scale-down or an outage without drain would do (the table stays after SIGTERM):
# stream a's real server is deleted from :9000 with ipvsadm -d; stream a stops echoing, while
# stream b (its real server still there) keeps echoing. So the echo checks above can fail.
case "$ON_RS1" in a) A_DEST=10.0.1.11:9000 ;; *) A_DEST=10.0.1.12:9000 ;; esac
log "expire_nodest_conn = $(in_ns director cat /proc/sys/net/ipv4/vs/expire_nodest_conn)"
stream_cut_by_delete a "-t 10.0.0.100:9000" "$A_DEST"
echo_ok b after-delete-b
stream_close a
stream_close b
