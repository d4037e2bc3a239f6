#!/bin/sh
# 15-delete-guard (issue 3, lab scenario 6): an emptied ConfigMap does not empty the kernel:
# the delete guard refuses (exit 3) and changes nothing; --force applies the removal, draining
# and then deleting the managed services and their VIPs, and leaves foreign services alone.
# Issue 11: the guard also counts real servers: every service kept but 3 of the 7 real servers
# dropped is refused at max_delete_share = 0.25 (table unchanged) and applied at the default
# 0.5 (control). Mutation that makes it fail: a guard that counts services only applies the
# 0.25 case (exit 0, "removing 3 of 7 real servers" fails). And a managed range holding the
# director's 10.0.1.1 (br0) is refused before anything is written, even with --force and an
# empty ConfigMap (mutation: without the check in apply, the forced empty apply empties the
# table and the "refused settings" step fails).
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
in_ns director "$IPVSADM" -A -t 192.168.77.1:80 -s wlc

step "apply the lab ConfigMap"
lbctl_apply_ok --config "$LAB_CONFIGMAP"
before=$(ipvs_rules director)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lvs-vips, namespace: kube-system}\ndata: {}\n' >/tmp/empty.yaml

step "a managed range that holds a director address is refused, nothing written"
sed 's|^managed_vip_ranges = .*|managed_vip_ranges = ["10.0.0.96/28", "10.0.1.0/24"]|' \
    "$LAB_SETTINGS" >/tmp/settings-own.toml
vips_before=$(in_ns director "$IP" -o addr show dev lbvip0)
SETTINGS=/tmp/settings-own.toml lbctl_apply --config /tmp/empty.yaml --force
assert_eq 64 "$LBCTL_RC" "exit code with a range holding 10.0.1.1"
assert_contains "$LBCTL_OUT" "10.0.1.0/24 holds 10.0.1.1, an address of this director on br0"
assert_eq "$before" "$(ipvs_rules director)" "table after the refused settings"
assert_eq "$vips_before" "$(in_ns director "$IP" -o addr show dev lbvip0)" "lbvip0 after the refused settings"

step "apply an empty ConfigMap"
lbctl_apply --config /tmp/empty.yaml
assert_eq 3 "$LBCTL_RC" "exit code of the refused apply"
assert_contains "$LBCTL_OUT" "GUARD" "apply report"
assert_contains "$LBCTL_OUT" "--force" "the refusal says how to override"
assert_eq "$before" "$(ipvs_rules director)" "table after the refused apply"

step "a half-empty ConfigMap is within the guard's share only if at most half goes"
grep -v -e '10.0.0.101-80' -e '10.0.0.102-80' -e '10.0.0.100-53-udp' "$LAB_CONFIGMAP" >/tmp/quarter.yaml
lbctl_apply --config /tmp/quarter.yaml
assert_eq 3 "$LBCTL_RC" "removing 3 of 4 services (75% > 50%)"
assert_eq "$before" "$(ipvs_rules director)" "table after the second refused apply"

step "the guard counts real servers: 3 of 7 dropped, every service kept"
sed -e 's/, 10.0.1.12:80//' "$LAB_CONFIGMAP" >/tmp/one-rs.yaml
{ cat "$LAB_SETTINGS"; echo 'max_delete_share = 0.25'; } >/tmp/settings-quarter.toml
SETTINGS=/tmp/settings-quarter.toml lbctl_apply --config /tmp/one-rs.yaml
assert_eq 3 "$LBCTL_RC" "removing 3 of 7 real servers (43% > 25%)"
assert_contains "$LBCTL_OUT" "refusing to remove 3 of 7 managed real servers" "apply report"
assert_eq "$before" "$(ipvs_rules director)" "table after the real-server refusal"
# Control: within the default share (50%) the same removal is applied.
lbctl_apply_ok --config /tmp/one-rs.yaml
assert_not_contains "$(ipvs_rules director)" "10.0.1.12" "table after the allowed removal"

step "--force applies the removal"
lbctl_apply --config /tmp/empty.yaml --force
assert_eq 0 "$LBCTL_RC" "exit code of the forced apply"
# Idle services drain at once; a second pass deletes what the first quiesced.
lbctl_apply_ok --config /tmp/empty.yaml --force
left=$(ipvs_rules director)
echo "$left"
assert_eq "-A -t 192.168.77.1:80 -s wlc" "$left" "only the foreign service is left"
assert_not_contains "$(in_ns director "$IP" -o addr show dev lbvip0)" "10.0.0.10" "lbvip0 after the forced removal"
