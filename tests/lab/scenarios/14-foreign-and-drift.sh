#!/bin/sh
# 14-foreign-and-drift (issue 3, lab scenario 5): IPVS services outside the managed ranges
# (made by hand, including a fwmark service) and a foreign address on the VIP interface survive
# every sync untouched; a managed service deleted by hand comes back on the next sync, and a
# weight changed by hand is edited back in place.
#
# Controls (in this scenario):
# - at the end, the same apply with managed ranges widened over the foreign services and the
#   foreign address (10.0.0.96/27, 192.168.77.0/24, 192.0.2.48/29): its report names
#   10.0.0.120 and 192.168.77.1 and has '"op": "delete_', `foreign` differs (both gone, only
#   the fwmark service left) and 192.0.2.50 leaves lbvip0; so the "untouched" checks and the
#   "no delete" report check can see a removal;
# - before each repair, ipvsadm -Sn shows the drift (the deleted service's line missing; wlc
#   and -w 7), and the delete repair's report has no '"op": "edit_' (it adds).
# Mutations (shown once, by hand):
# - ipvs-sync reconcile/plan.rs: a changed service deleted and added again instead of edited:
#   the repair apply of the scheduler/weight step exited 1, "read back after the sync: the
#   kernel does not hold what was written, still pending: -A -t 10.0.0.101:80 -s rr; ...".
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat

step "foreign services and a foreign address, made by hand"
in_ns director "$IPVSADM" -A -t 192.168.77.1:80 -s wlc
in_ns director "$IPVSADM" -a -t 192.168.77.1:80 -r 10.0.1.11:80 -m -w 3
in_ns director "$IPVSADM" -A -f 5 -s rr
in_ns director "$IPVSADM" -A -t 10.0.0.120:80 -s rr   # just outside 10.0.0.96/28
in_ns director "$IP" addr add 192.0.2.50/32 dev lbvip0
foreign() { ipvs_rules director | grep -e 192.168.77.1 -e '-f 5' -e 10.0.0.120 ; }
foreign_before=$(foreign)
echo "$foreign_before"

step "apply"
lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_not_contains "$LBCTL_OUT" "192.168.77.1" "apply report"
assert_not_contains "$LBCTL_OUT" "10.0.0.120" "apply report"
assert_eq "$foreign_before" "$(foreign)" "foreign services after apply"
assert_contains "$(in_ns director "$IP" -o addr show dev lbvip0)" "192.0.2.50/32" "lbvip0 keeps the foreign address"

step "drift: a managed service deleted by hand"
in_ns director "$IPVSADM" -D -t 10.0.0.100:80
assert_not_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1" "control: table after the hand delete"
lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_eq 3 "$(netlink_writes)" "writes to repair (1 service + 2 destinations)"
assert_not_contains "$LBCTL_OUT" '"op": "edit_' "control: apply report of the re-add"
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1" "repaired table"

step "drift: a weight and a scheduler changed by hand are edited back in place"
in_ns director "$IPVSADM" -e -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 7
in_ns director "$IPVSADM" -E -t 10.0.0.101:80 -s wlc
assert_contains "$(ipvs_rules director)" "-A -t 10.0.0.101:80 -s wlc" "control: scheduler after the hand edit"
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 7" "control: weight after the hand edit"
lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_eq 2 "$(netlink_writes)" "writes to repair (one -E, one -e)"
assert_contains "$LBCTL_OUT" '"op": "edit_service"' "apply report"
assert_contains "$LBCTL_OUT" '"op": "edit_destination"' "apply report"
assert_not_contains "$LBCTL_OUT" '"op": "delete_' "apply report (no delete+add)"
assert_contains "$(ipvs_rules director)" "-A -t 10.0.0.101:80 -s rr" "scheduler repaired"
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 1" "weight repaired"

step "foreign state after all syncs"
assert_eq "$foreign_before" "$(foreign)" "foreign services at the end"
assert_contains "$(in_ns director "$IP" -o addr show dev lbvip0)" "192.0.2.50/32" "lbvip0 keeps the foreign address at the end"

step "control: the same apply with managed ranges over the foreign state removes it"
sed 's|^managed_vip_ranges = .*|managed_vip_ranges = ["10.0.0.96/27", "192.168.77.0/24", "192.0.2.48/29"]|' \
    "$LAB_SETTINGS" >/tmp/settings-14-wide.toml
grep -q '"192.0.2.48/29"' /tmp/settings-14-wide.toml || fail "control: widened settings not written"
SETTINGS=/tmp/settings-14-wide.toml lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_contains "$LBCTL_OUT" "192.168.77.1" "control: apply report"
assert_contains "$LBCTL_OUT" "10.0.0.120" "control: apply report"
assert_contains "$LBCTL_OUT" '"op": "delete_' "control: apply report"
foreign_after=$(foreign || true)
[ "$foreign_after" != "$foreign_before" ] || fail "control: foreign services unchanged by an apply that manages them"
assert_eq "-A -f 5 -s rr" "$foreign_after" "control: what is left of the foreign services (the fwmark one)"
assert_not_contains "$(in_ns director "$IP" -o addr show dev lbvip0)" "192.0.2.50/32" "control: lbvip0 addresses"
