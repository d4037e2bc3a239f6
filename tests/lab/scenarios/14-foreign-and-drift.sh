#!/bin/sh
# 14-foreign-and-drift (issue 3, lab scenario 5): IPVS services outside the managed ranges
# (made by hand, including a fwmark service) and a foreign address on the VIP interface survive
# every sync untouched; a managed service deleted by hand comes back on the next sync, and a
# weight changed by hand is edited back in place.
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
lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_eq 3 "$(netlink_writes)" "writes to repair (1 service + 2 destinations)"
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1" "repaired table"

step "drift: a weight and a scheduler changed by hand are edited back in place"
in_ns director "$IPVSADM" -e -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 7
in_ns director "$IPVSADM" -E -t 10.0.0.101:80 -s wlc
lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_eq 2 "$(netlink_writes)" "writes to repair (one -E, one -e)"
assert_contains "$LBCTL_OUT" '"op": "edit_service"' "apply report"
assert_contains "$LBCTL_OUT" '"op": "edit_destination"' "apply report"
assert_not_contains "$LBCTL_OUT" '"op": "delete_' "apply report (no delete+add)"
assert_contains "$(ipvs_rules director)" "-A -t 10.0.0.101:80 -s rr" "scheduler repaired"
assert_contains "$(ipvs_rules director)" "-a -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 1" "weight repaired"

step "foreign state after all syncs"
assert_eq "$foreign_before" "$(foreign)" "foreign services at the end"
