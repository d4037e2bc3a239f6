#!/bin/sh
# 82-kernel-refusals (issue 14): what the kernel refuses is reported by name, and the rest of the
# table is applied. The lab's kernel (6.1) has no `twos` scheduler (Linux 6.2), so a key asking
# for it is a real kernel refusal (ENOENT on NEW_SERVICE / SET_SERVICE, which on its own says
# only "No such file or directory").
#
# - `lbctl apply`: an existing service edited to twos and a new one asking for it are refused;
#   the report names the scheduler, the module and the kernel it needs; the edited service keeps
#   its old scheduler in the kernel and still answers; a new good key in the same apply is
#   programmed and answers. Exit code 1.
# - `lbctl run`: the same refusal in /status, `lbctl status` (the service NOT IN KERNEL),
#   /readyz 503 and lbctl_syncs_total{result="failed"}; the file fixed (twos -> rr), the next
#   pass programs it and the daemon is ready.
# - Thresholds the kernel would refuse with ERANGE (lower above upper) are caught before it:
#   `lbctl validate` names the key and the column.
# Controls: the first apply of the same keys with rr programs them all (so the refusals come
# from twos alone); the fixed file is programmed by the daemon and answers.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
CM=/tmp/cm-82.yaml
# keys SCHEDULER_B SCHEDULER_D [EXTRA]: the ConfigMap: A and C plain, B and D with the given
# schedulers (D only when SCHEDULER_D is not "-"), and EXTRA lines.
keys() {
    {
        echo "10.0.0.100-80: $RS1_IP:80, $RS2_IP:80"
        echo "10.0.0.101-80: $RS1_IP:80, $RS2_IP:80; scheduler=$1"
        echo "10.0.0.102-80: $RS1_IP:80 upper-threshold=5 lower-threshold=1, $RS2_IP:80"
        [ "$2" = - ] || echo "10.0.0.103-80: $RS1_IP:80, $RS2_IP:80; scheduler=$2"
        [ -z "$3" ] || echo "$3"
    } | write_configmap "$CM"
}
REFUSAL="this kernel has no scheduler twos (module ip_vs_twos missing; twos needs Linux 6.2)"

step "control: the keys with rr are programmed"
keys rr -
lbctl_apply_ok --config "$CM"
for vip in 10.0.0.100 10.0.0.101 10.0.0.102; do answers "$vip" 4; done

step "apply: B edited to twos, D new with twos, E new and good"
keys twos twos "10.0.0.104-80: $RS1_IP:80, $RS2_IP:80"
lbctl_apply --config "$CM"
assert_eq 1 "$LBCTL_RC" "exit code of an apply with refused operations"
assert_contains "$LBCTL_OUT" "FAILED: kernel refused SET_SERVICE on TCP  10.0.0.101:80: No such file or directory: $REFUSAL (errno 2)" "apply report (edit)"
assert_contains "$LBCTL_OUT" "FAILED: kernel refused NEW_SERVICE on TCP  10.0.0.103:80: No such file or directory: $REFUSAL (errno 2)" "apply report (new service)"
rules=$(ipvs_rules director)
echo "$rules"
assert_contains "$rules" "-A -t 10.0.0.101:80 -s rr" "ipvsadm -Sn (B keeps its scheduler)"
assert_not_contains "$rules" "10.0.0.103:80" "ipvsadm -Sn (D not created)"
assert_contains "$rules" "-a -t 10.0.0.104:80 -r $RS2_IP:80 -m -w 1" "ipvsadm -Sn (E programmed)"
for vip in 10.0.0.100 10.0.0.101 10.0.0.104; do answers "$vip" 4; done

step "validate: thresholds the kernel refuses are named before any write"
echo "10.0.0.102-80: $RS1_IP:80 upper-threshold=1 lower-threshold=5, $RS2_IP:80" | write_configmap /tmp/cm-82-thresholds.yaml
set +e
out=$(in_ns director "$LBCTL" validate /tmp/cm-82-thresholds.yaml --settings "$LAB_SETTINGS" 2>&1)
rc=$?
set -e
echo "$out"
assert_eq 1 "$rc" "exit code of lbctl validate"
assert_contains "$out" "10.0.0.102-80: column 48: lower-threshold=5 is above upper-threshold=1" "lbctl validate"

step "lbctl run: the refusal in /status, lbctl status, /readyz and the sync metric"
SETTINGS=/tmp/settings-82.toml
{
    cat "$LAB_SETTINGS"
    echo 'listen_address = "127.0.0.1:9469"'
    echo 'resync_period_secs = 2'
} >"$SETTINGS"
keys twos twos
in_ns director "$LBCTL" run --settings "$SETTINGS" --config-file "$CM" --log info \
    >/tmp/lbctl-run-82.log 2>&1 &
api() { http_get_held director 127.0.0.1 9469 "$1"; }
failed_sync() { api /metrics | grep -q '^lbctl_syncs_total{.*result="failed".*} [1-9]'; }
wait_until 30 failed_sync || fail "no failed sync counted: $(tail -3 /tmp/lbctl-run-82.log | tr '\n' '|')"
assert_contains "$(api /status)" "$REFUSAL" "/status"
assert_contains "$(api /readyz)" "not ready: the last sync failed" "/readyz"
status=$(in_ns director "$LBCTL" status --settings "$SETTINGS" 2>&1 || true)
echo "$status"
assert_contains "$status" "$REFUSAL" "lbctl status"
assert_contains "$(echo "$status" | grep '^10.0.0.103:80/tcp')" "NOT IN KERNEL" "lbctl status of D"
answers 10.0.0.101 4

step "control: the file fixed, the next pass programs D and the daemon is ready"
keys rr rr
d_programmed() { ipvs_rules director | grep -q -- "-a -t 10.0.0.103:80 -r $RS2_IP:80 -m -w 1"; }
wait_until 30 d_programmed || fail "D not programmed after the fix: $(tail -3 /tmp/lbctl-run-82.log | tr '\n' '|')"
ready() {
    local r
    r=$(api /readyz) && [ -n "$r" ] && ! echo "$r" | grep -q "not ready"
}
wait_until 20 ready || fail "not ready after the fix: $(api /readyz)"
answers 10.0.0.103 4
stop_lbctl_run
