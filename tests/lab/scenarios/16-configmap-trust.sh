#!/bin/sh
# 16-configmap-trust (issue 11): whoever edits the ConfigMap is not root on the director.
# With settings that allow neither, a key asking for an exec check and a key asking for a
# SNAT pool outside the settings' ranges are each refused with their own error (in /status,
# in lbctl_config_problems, in `lbctl validate`), while the good key next to them is
# programmed and carries traffic: no program runs, no SNAT rule appears, and IPVS holds only
# the good service.
# Control run (what makes the refusal checks fail): the same ConfigMap with settings that
# allow the check directory and the pool range. Both keys are then programmed, the check
# program runs - as nobody (user ID 65534), the sandbox's user - and the SNAT rule appears.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
CHECKS=/usr/lib/lbctl-checks
mkdir -p "$CHECKS"
chmod 0755 / /usr /usr/lib "$CHECKS"
cat >"$CHECKS/whoami" <<'EOS'
#!/bin/sh
/usr/bin/id -u >/tmp/exec-check-uid
EOS
chmod 0755 "$CHECKS/whoami"

CM=/tmp/trust-cm.yaml
write_configmap "$CM" <<CM
10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80
10.0.0.101-80: 10.0.1.11:80; check=exec:$CHECKS/whoami; check-interval=1
10.0.0.102-80: 10.0.1.12:80; method=fullnat; pool=10.0.1.250
CM

REFUSING=/tmp/trust-refusing.toml
{ cat "$LAB_SETTINGS"; echo 'listen_address = "127.0.0.1:9469"'; } >"$REFUSING"
ALLOWING=/tmp/trust-allowing.toml
{
    cat "$LAB_SETTINGS"
    echo 'listen_address = "127.0.0.1:9469"'
    echo 'allowed_snat_ranges = ["10.0.1.248/29"]'
    printf '[exec_checks]\nenabled = true\nallowed_directories = ["%s"]\n' "$CHECKS"
} >"$ALLOWING"

start_daemon() { # start_daemon SETTINGS
    in_ns director "$LBCTL" run --settings "$1" --config-file "$CM" --log info >/tmp/run.log 2>&1 &
}
snat_rules() {
    { in_ns director "$IPTABLES" -S -t nat; in_ns director "$NFT" list ruleset; } 2>/dev/null
}
snat_has_pool() { snat_rules | grep -q 10.0.1.250; }
status_json() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 -o json; }
metrics() { http_get director 127.0.0.1 9469 /metrics; }

step "settings that allow neither: the two keys are refused, the good one serves"
start_daemon "$REFUSING"
wait_until 20 in_ns director "$IPVSADM" -Ln -t 10.0.0.100:80 ||
    fail "good key not programmed: $(tail -5 /tmp/run.log | tr '\n' '|')"
wait_until 10 status_json || fail "no /status"
BODIES=$(http_get_n client 10.0.0.100 80 2 | sort | tr '\n' ' ')
assert_eq "rs1 rs2 " "$BODIES" "answers through the good key"
# Several intervals of the 1 s check would have passed by now.
sleep 4
[ ! -e /tmp/exec-check-uid ] || fail "the refused exec check ran as uid $(cat /tmp/exec-check-uid)"
log "ok: no check program ran"
RULES=$(ipvs_rules director)
echo "$RULES"
assert_not_contains "$RULES" "10.0.0.101" "IPVS"
assert_not_contains "$RULES" "10.0.0.102" "IPVS"
assert_eq 1 "$(in_ns director "$IPVSADM" -Ln | grep -c '^TCP')" "services in IPVS"
assert_not_contains "$(snat_rules)" "10.0.1.250" "netfilter rules"
STATUS=$(status_json)
assert_contains "$STATUS" '"key": "10.0.0.101-80"'
assert_contains "$STATUS" '"message": "check=exec is disabled on this director'
assert_contains "$STATUS" '"key": "10.0.0.102-80"'
assert_contains "$STATUS" '"message": "pool= 10.0.1.250/32 is outside the SNAT source ranges'
M=$(metrics)
assert_contains "$M" 'lbctl_config_problems{key="10.0.0.101-80",severity="error"} 1'
assert_contains "$M" 'lbctl_config_problems{key="10.0.0.102-80",severity="error"} 1'
set +e
VALIDATE=$(in_ns director "$LBCTL" validate --settings "$REFUSING" "$CM" 2>&1)
VALIDATE_RC=$?
set -e
echo "$VALIDATE"
assert_eq 1 "$VALIDATE_RC" "lbctl validate exit code"
assert_contains "$VALIDATE" "10.0.0.101-80: check=exec is disabled"
assert_contains "$VALIDATE" "10.0.0.102-80: pool= 10.0.1.250/32 is outside"
stop_lbctl_run

step "control: settings that allow the directory and the range"
start_daemon "$ALLOWING"
wait_until 20 in_ns director "$IPVSADM" -Ln -t 10.0.0.102:80 ||
    fail "fullnat key not programmed: $(tail -5 /tmp/run.log | tr '\n' '|')"
wait_until 10 in_ns director "$IPVSADM" -Ln -t 10.0.0.101:80 || fail "exec key not programmed"
wait_until 10 test -s /tmp/exec-check-uid ||
    fail "the allowed check program never ran: $(grep -i exec /tmp/run.log | tail -3 | tr '\n' '|')"
assert_eq 65534 "$(cat /tmp/exec-check-uid)" "user ID of the check program"
wait_until 10 snat_has_pool || fail "no SNAT rule for the allowed pool"
assert_contains "$(snat_rules)" "10.0.1.250" "netfilter rules"
stop_lbctl_run
