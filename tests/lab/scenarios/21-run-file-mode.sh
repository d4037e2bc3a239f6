#!/bin/sh
# 21-run-file-mode (issue 4): `lbctl run --config-file` programs IPVS from a local ConfigMap
# file, applies an edit of that file within seconds, serves /healthz, /readyz, /status and
# /metrics, `lbctl status` renders the table, and SIGTERM stops it with the table kept.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
CM=/tmp/run-cm.yaml
SETTINGS_RUN=/tmp/run-settings.toml
cat "$LAB_SETTINGS" >"$SETTINGS_RUN"
echo 'listen_address = "127.0.0.1:9469"' >>"$SETTINGS_RUN"
echo '10.0.0.100-80: 10.0.1.11:80' | write_configmap "$CM"

status_ok() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 >/tmp/status.txt 2>&1; }
has_rs2() { in_ns director "$IPVSADM" -Ln -t 10.0.0.100:80 | grep -q 10.0.1.12:80; }
stopped() { ! kill -0 "$RUN_PID" 2>/dev/null; }
http_path() { http_get director 127.0.0.1 9469 "$1"; }

step "start lbctl run in file mode"
in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" --config-file "$CM" --log info \
    >/tmp/run.log 2>&1 &
RUN_PID=$!
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
assert_contains "$(http_path /metrics)" "lbctl_syncs_total"

step "edit the file: a second real server"
echo '10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80' | write_configmap "$CM"
wait_until 15 has_rs2 || fail "edit not applied: $(tail -5 /tmp/run.log | tr '\n' '|')"
log "ok: edit applied"

step "SIGTERM keeps the table"
kill -TERM "$RUN_PID"
wait_until 10 stopped || fail "lbctl run did not stop on SIGTERM"
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1"
log "ok: IPVS kept after stop"
