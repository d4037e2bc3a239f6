#!/bin/sh
# 15-delete-guard (issue 3, lab scenario 6): an emptied ConfigMap does not empty the kernel:
# the delete guard refuses (exit 3) and changes nothing; --force applies the removal, draining
# and then deleting the managed services and their VIPs, and leaves foreign services alone.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
in_ns director "$IPVSADM" -A -t 192.168.77.1:80 -s wlc

step "apply the lab ConfigMap"
lbctl_apply_ok --config "$LAB_CONFIGMAP"
before=$(ipvs_rules director)

step "apply an empty ConfigMap"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lvs-vips, namespace: kube-system}\ndata: {}\n' >/tmp/empty.yaml
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

step "--force applies the removal"
lbctl_apply --config /tmp/empty.yaml --force
assert_eq 0 "$LBCTL_RC" "exit code of the forced apply"
# Idle services drain at once; a second pass deletes what the first quiesced.
lbctl_apply_ok --config /tmp/empty.yaml --force
left=$(ipvs_rules director)
echo "$left"
assert_eq "-A -t 192.168.77.1:80 -s wlc" "$left" "only the foreign service is left"
assert_not_contains "$(in_ns director "$IP" -o addr show dev lbvip0)" "10.0.0.10" "lbvip0 after the forced removal"
