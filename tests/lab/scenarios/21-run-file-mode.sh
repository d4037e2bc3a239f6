#!/bin/sh
# 21-run-file-mode (issue 4): `lbctl run --config-file` programs IPVS from a local ConfigMap
# file, applies an edit of that file within seconds, serves /healthz, /readyz, /status and
# /metrics, `lbctl status` renders the table, and SIGTERM stops it with the table kept.
# With 300 more services in the file, the edit of one service and the addition of another
# are a focused pass: two services read from the kernel (GET_SERVICE, one of them missing),
# not the whole table. The writer lock: `lbctl apply` while the daemon runs is refused with a
# message naming the daemon, and writes nothing; control: after the daemon stops, the same
# apply succeeds (so the refusal is the lock's doing).
# Controls (in every run): the first pass (from an empty kernel) is "full" with 0 services read
# and 2 dumps; after the focused pass, a SIGHUP with a changed setting (resync_period_secs)
# makes the next pass full over the same 302 services: last_sync then says "full", 302
# services read, 1 dump, and lbctl_sync_passes_total{pass="focused"} stays 1, so the focused
# counts can fail. The kept table: the same SIGTERM of a daemon run with --cleanup-on-exit
# leaves no rs2 line. The lock: see above.
# Mutation (product code, run once): next_pass (controller/src/daemon/view.rs) always reading
# the whole table -> "no focused pass: ... "pass": "full", "services_read": 301".
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
CM=/tmp/run-cm.yaml
SETTINGS_RUN=/tmp/run-settings.toml
cat "$LAB_SETTINGS" >"$SETTINGS_RUN"
echo 'listen_address = "127.0.0.1:9469"' >>"$SETTINGS_RUN"
echo 'resync_period_secs = 600' >>"$SETTINGS_RUN"
# 301 services: only the per-service series (docs/metrics.md, large tables).
printf '[metrics]\nendpoint_level = false\n' >>"$SETTINGS_RUN"
# filler: 300 services the edits below do not touch.
filler() {
    i=2000
    while [ "$i" -lt 2300 ]; do
        echo "10.0.0.110-$i: 10.0.1.11:80"
        i=$((i + 1))
    done
}
{ echo '10.0.0.100-80: 10.0.1.11:80'; filler; } | write_configmap "$CM"

status_ok() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 >/tmp/status.txt 2>&1; }
has_rs2() { in_ns director "$IPVSADM" -Ln -t 10.0.0.100:80 | grep -q 10.0.1.12:80; }
http_path() { http_get director 127.0.0.1 9469 "$1"; }

step "start lbctl run in file mode"
in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" --config-file "$CM" --log info \
    >/tmp/run.log 2>&1 &
wait_until 20 in_ns director "$IPVSADM" -Ln -t 10.0.0.100:80 || fail "service not programmed: $(tail -5 /tmp/run.log | tr '\n' '|')"
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1"
assert_eq rs1 "$(http_get client 10.0.0.100 80)" "traffic through the programmed service"

step "HTTP endpoint"
wait_until 10 status_ok || fail "daemon not ready: $(head -3 /tmp/status.txt | tr '\n' '|')"
cat /tmp/status.txt
assert_contains "$(cat /tmp/status.txt)" "10.0.0.100:80/tcp"
assert_contains "$(cat /tmp/status.txt)" "10.0.1.11:80"
assert_contains "$(in_ns director "$LBCTL" status --address 127.0.0.1:9469 -o json)" '"ready": true'
assert_contains "$(http_path /healthz)" "ok"
assert_contains "$(http_path /readyz)" "ready"
METRICS=$(http_path /metrics)
assert_contains "$METRICS" "lbctl_syncs_total"
assert_contains "$METRICS" 'lvs_service_stat_conns_total{'
case "$METRICS" in
*lvs_endpoint_stat_conns_total*) fail "[metrics] endpoint_level = false still exports endpoint series" ;;
esac

assert_eq 301 "$(in_ns director "$IPVSADM" -Ln | grep -c '^TCP')" "every service programmed"
json_status() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 -o json; }
assert_contains "$(json_status)" '"pass": "full"'
# From an empty kernel: nothing to read before planning, and the 301 services written are read
# back by one dump (cheaper than reading each): two dumps in all.
assert_contains "$(json_status)" '"services_read": 0'
assert_contains "$(json_status)" '"dumps": 2'

step "edit the file: a second real server, and a new service"
{
    echo '10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80'
    echo '10.0.0.100-81: 10.0.1.12:80'
    filler
} | write_configmap "$CM"
wait_until 15 has_rs2 || fail "edit not applied: $(tail -5 /tmp/run.log | tr '\n' '|')"
focused() { json_status | grep -q '"pass": "focused"'; }
wait_until 10 focused || fail "no focused pass: $(json_status | grep -A8 last_sync | tr '\n' ' ')"
SYNC=$(json_status | grep -A12 '"last_sync"')
echo "$SYNC"
assert_contains "$SYNC" '"services_read": 2'
assert_contains "$SYNC" '"applied": 3'
assert_contains "$SYNC" '"dumps": 0'
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:81 -r 10.0.1.12:80 -m -w 1"
assert_eq 302 "$(in_ns director "$IPVSADM" -Ln | grep -c '^TCP')" "filler untouched"
assert_contains "$(http_path /metrics)" 'lbctl_sync_passes_total{pass="focused"} 1'
log "ok: edit applied by a focused pass"

step "control: a pass that is not focused reads other counts"
# A SIGHUP with a changed setting (resync_period_secs) makes the next pass a full one (the
# settings differ from those of the last pass): with the same 302 services in the kernel, the
# same counters read from /status and /metrics then show a dump and no focused pass.
sed -i 's/^resync_period_secs = 600$/resync_period_secs = 599/' "$SETTINGS_RUN"
kill -HUP "$(lbctl_pid | head -1)"
second_full() { http_path /metrics | grep -q '^lbctl_sync_passes_total{pass="full"} 2$'; }
wait_until 20 second_full || fail "control: no full pass after the SIGHUP: $(http_path /metrics | grep lbctl_sync_passes_total | tr '\n' ' ')"
SYNC=$(json_status | grep -A12 '"last_sync"')
echo "$SYNC"
assert_contains "$SYNC" '"pass": "full"' "control: last_sync after the SIGHUP"
assert_not_contains "$SYNC" '"dumps": 0' "control: last_sync after the SIGHUP"
assert_not_contains "$SYNC" '"services_read": 2,' "control: last_sync after the SIGHUP"
assert_contains "$(http_path /metrics)" 'lbctl_sync_passes_total{pass="focused"} 1' "control: /metrics after the SIGHUP"

step "one writer: lbctl apply while the daemon runs is refused and writes nothing"
echo '10.0.0.100-80: 10.0.1.11:80' | write_configmap /tmp/other-cm.yaml
TABLE_BEFORE=$(ipvs_rules director)
SETTINGS=$SETTINGS_RUN lbctl_apply --config /tmp/other-cm.yaml
assert_eq 1 "$LBCTL_RC" "exit code of the second writer"
assert_contains "$LBCTL_OUT" "another lbctl is writing this director's IPVS table (lbctl run, pid"
assert_eq "$TABLE_BEFORE" "$(ipvs_rules director)" "IPVS table after the refused apply"

step "SIGTERM keeps the table"
stop_lbctl_run
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1"
log "ok: IPVS kept after stop"

step "control: with the daemon gone, the same apply takes the lock and writes"
SETTINGS=$SETTINGS_RUN lbctl_apply_ok --config /tmp/other-cm.yaml --force
[ "$(ipvs_rules director)" != "$TABLE_BEFORE" ] || fail "the apply after the daemon changed nothing"
log "ok: the apply wrote once the daemon had stopped"

step "control: with --cleanup-on-exit, SIGTERM does not keep the table"
# The same stop as above, but with the flag that deletes the managed services: rs2's line
# (present while it runs) is gone after SIGTERM, so the "table kept" check above can fail.
echo '10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80' | write_configmap /tmp/cleanup-cm.yaml
in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" --config-file /tmp/cleanup-cm.yaml \
    --cleanup-on-exit --log info >/tmp/run-cleanup.log 2>&1 &
wait_until 20 has_rs2 || fail "control daemon did not program rs2: $(tail -5 /tmp/run-cleanup.log | tr '\n' '|')"
stop_lbctl_run
assert_not_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:80 -r 10.0.1.12:80" "control: IPVS after SIGTERM with --cleanup-on-exit"
