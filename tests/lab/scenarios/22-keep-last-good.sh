#!/bin/sh
# 22-keep-last-good (issue 12): the state file keeps the last good version of each ConfigMap
# key, so `lbctl run` restarted while a key is invalid serves that key's previous table.
#
# `lbctl run --config-file` programs two keys (10.0.0.100-80 and 10.0.0.100-81) with traffic;
# SIGTERM; key -80 gets an invalid value and key -81 a second real server; start again. Then:
# the VIP service of -80 is unchanged in the kernel (`ipvsadm -Sn` lines before and after the
# restart equal), traffic through it still works, the only netlink write of the restart is the
# other key's new real server, -81's change is applied, /status and `lbctl status` show -80
# as kept "from the state file after a restart", `lbctl_configmap_kept_keys` is 1, the log
# says so once. Fixing -80 serves the new text (kept count 0) and persists it.
#
# Control, run at the end: the same restart with the state file removed (what lbctl did
# before the keys were persisted; or remove the `self.load_state` call in
# controller/src/daemon/pass.rs) drains -80: its real servers are quiesced (weight 0), then
# deleted with the service. The assertions
# of the restart step above fail under that mutation.
#
# `lbctl apply` keeps the last good version the same way: an apply of both keys good, then an
# apply with -80 invalid and -81 changed leaves -80's rules and traffic as they were (the
# apply says so on stderr and in `kept_keys` of its JSON), applies -81's change, and the
# state file keeps -80's good value. Control: the same apply with the state file removed (what apply did
# before it read the kept versions; or pass an empty map instead of `state.keys` in
# lbctl/src/commands/apply.rs) drains -80: weight 0, or deleted.
# lab-timeout: 240
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
CM=/tmp/klg-cm.yaml
STATE=/tmp/klg-state.json
SETTINGS_RUN=/tmp/klg-settings.toml
rm -f "$STATE"
sed '/^state_file/d' "$LAB_SETTINGS" >"$SETTINGS_RUN"
echo "state_file = \"$STATE\"" >>"$SETTINGS_RUN"
echo 'listen_address = "127.0.0.1:9469"' >>"$SETTINGS_RUN"
# The restarts below are full passes anyway; no periodic pass in between.
echo 'resync_period_secs = 600' >>"$SETTINGS_RUN"

GOOD_80='10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80'
BAD_80='10.0.0.100-80: 10.0.1.11:8o, 10.0.1.12:80'
FIXED_80='10.0.0.100-80: 10.0.1.11:80 weight=2, 10.0.1.12:80'
OLD_81='10.0.0.100-81: 10.0.1.12:80'
NEW_81='10.0.0.100-81: 10.0.1.12:80, 10.0.1.11:80'

start_run() {
    in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" --config-file "$CM" --log info \
        >>/tmp/klg-run.log 2>&1 &
}
json_status() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 -o json; }
ready() { json_status 2>/dev/null | grep -q '"ready": true'; }
metrics() { http_get director 127.0.0.1 9469 /metrics; }
rules_80() { ipvs_rules director | grep -e '-t 10.0.0.100:80 ' || true; }
has() { ipvs_rules director | grep -qF -- "$1"; }
# http_ok VIP PORT: an HTTP answer from a real server (rs1 or rs2) through the VIP.
http_ok() {
    body=$(http_get client "$1" "$2") || fail "no answer through $1:$2"
    case "$body" in rs1 | rs2) ;; *) fail "unexpected answer through $1:$2: $body" ;; esac
}

step "lbctl run programs two keys"
{ echo "$GOOD_80"; echo "$OLD_81"; } | write_configmap "$CM"
start_run
wait_until 20 has "-a -t 10.0.0.100:81 -r 10.0.1.12:80 -m -w 1" ||
    fail "not programmed: $(tail -5 /tmp/klg-run.log | tr '\n' '|')"
wait_until 10 ready || fail "not ready"
http_ok 10.0.0.100 80
assert_eq rs2 "$(http_get client 10.0.0.100 81)" "traffic through key -81"
assert_contains "$(cat "$STATE")" '"10.0.0.100-80"'
assert_contains "$(cat "$STATE")" '"value": "10.0.1.11:80, 10.0.1.12:80"'
BEFORE_80=$(rules_80)
echo "$BEFORE_80"
[ -n "$BEFORE_80" ] || fail "no rules for 10.0.0.100:80"

step "SIGTERM, key -80 made invalid, key -81 changed, start again"
stop_lbctl_run
{ echo "$BAD_80"; echo "$NEW_81"; } | write_configmap "$CM"
start_run
wait_until 20 has "-a -t 10.0.0.100:81 -r 10.0.1.11:80 -m -w 1" ||
    fail "key -81's change not applied: $(tail -5 /tmp/klg-run.log | tr '\n' '|')"
wait_until 10 ready || fail "not ready after the restart"

step "key -80 is served from the state file: its kernel rules are unchanged"
assert_eq "$BEFORE_80" "$(rules_80)" "ipvsadm -Sn of 10.0.0.100:80 across the restart"
http_ok 10.0.0.100 80
http_ok 10.0.0.100 81
STATUS=$(json_status)
echo "$STATUS" | grep -A8 '"kept"'
assert_contains "$STATUS" '"from": "state_file"'
assert_contains "$(echo "$STATUS" | grep -A2 '"kept_keys"')" '"10.0.0.100-80"'
assert_contains "$(in_ns director "$LBCTL" status --address 127.0.0.1:9469)" \
    "key 10.0.0.100-80: invalid now, running on its last good version (from the state file after a restart"
M=$(metrics)
assert_contains "$M" 'lbctl_configmap_kept_keys 1'
# Adoption: the restart's only write is key -81's new real server; nothing of -80 moved.
assert_contains "$M" 'lbctl_netlink_operations_total{kind="add_destination"} 1'
for kind in add_service edit_service delete_service edit_destination quiesce_destination delete_destination; do
    assert_not_contains "$M" "lbctl_netlink_operations_total{kind=\"$kind\"}"
done
assert_eq 1 "$(grep -c 'serving the last good version of a ConfigMap key' /tmp/klg-run.log)" \
    "log lines about the kept key (once, not per pass)"
assert_contains "$(cat "$STATE")" '"value": "10.0.1.11:80, 10.0.1.12:80"'
assert_not_contains "$(cat "$STATE")" '8o'
log "ok: the invalid key kept its table across the restart"

step "fix key -80: served from the new text, nothing kept"
{ echo "$FIXED_80"; echo "$NEW_81"; } | write_configmap "$CM"
wait_until 15 has "-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 2" ||
    fail "the fixed key is not applied: $(tail -5 /tmp/klg-run.log | tr '\n' '|')"
kept_zero() { metrics | grep -qx 'lbctl_configmap_kept_keys 0'; }
wait_until 10 kept_zero || fail "kept count not 0: $(metrics | grep kept_keys)"
assert_contains "$(json_status | grep -A1 '"kept_keys"')" '"kept_keys": []'
http_ok 10.0.0.100 80
assert_contains "$(cat "$STATE")" '"value": "10.0.1.11:80 weight=2, 10.0.1.12:80"'
log "ok: the fixed key is served and persisted"

step "control: the same restart without the state file drains key -80"
stop_lbctl_run
FIXED_RULES_80=$(rules_80)
{ echo "$BAD_80"; echo "$NEW_81"; } | write_configmap "$CM"
rm -f "$STATE"
start_run
drained_80() { [ -z "$(rules_80)" ] || has "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 0"; }
wait_until 20 drained_80 || fail "control: without the state file key -80 was still served: $(rules_80)"
[ "$(rules_80)" != "$FIXED_RULES_80" ] || fail "control: the rules of -80 did not change"
echo "$(rules_80)"
assert_contains "$(metrics)" 'lbctl_configmap_kept_keys 0'
stop_lbctl_run
log "ok: without the persisted version the VIP's service drains (the mutation the scenario catches)"

step "lbctl apply: an invalid key is applied from its last good version"
APPLY_STATE=/tmp/klg-apply-state.json
rm -f "$APPLY_STATE"
{ echo "$GOOD_80"; echo "$OLD_81"; } | write_configmap "$CM"
lbctl_apply_ok --config "$CM" --state-file "$APPLY_STATE"
assert_contains "$(cat "$APPLY_STATE")" '"value": "10.0.1.11:80, 10.0.1.12:80"'
GOOD_RULES_80=$(rules_80)
[ -n "$GOOD_RULES_80" ] || fail "apply programmed nothing for 10.0.0.100:80"
{ echo "$BAD_80"; echo "$NEW_81"; } | write_configmap "$CM"
lbctl_apply_ok --config "$CM" --state-file "$APPLY_STATE" -o json
assert_contains "$LBCTL_OUT" "key 10.0.0.100-80: invalid now, applying its last good version from the state file"
assert_contains "$(echo "$LBCTL_OUT" | grep -A6 '"kept_keys"')" '"key": "10.0.0.100-80"'
assert_eq "$GOOD_RULES_80" "$(rules_80)" "ipvsadm -Sn of 10.0.0.100:80 after the apply with the invalid key"
has "-a -t 10.0.0.100:81 -r 10.0.1.11:80 -m -w 1" || fail "key -81's change not applied"
http_ok 10.0.0.100 80
assert_contains "$(cat "$APPLY_STATE")" '"value": "10.0.1.11:80, 10.0.1.12:80"'
assert_not_contains "$(cat "$APPLY_STATE")" '8o'
log "ok: apply kept the invalid key's table"

step "control: the same apply without the state file drains key -80"
rm -f "$APPLY_STATE"
lbctl_apply_ok --config "$CM" --state-file "$APPLY_STATE"
assert_not_contains "$LBCTL_OUT" "applying its last good version"
[ "$(rules_80)" != "$GOOD_RULES_80" ] || fail "control: without the state file -80's rules did not change"
drained_80 || fail "control: -80 neither drained nor deleted: $(rules_80)"
log "ok: without the kept version apply drains the invalid key's service"
