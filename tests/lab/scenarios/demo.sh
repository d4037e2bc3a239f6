#!/bin/sh
# demo: the main job, end to end. lbctl programs a real kernel's IPVS from the lab ConfigMap
# (NAT, DR, IPIP tunnel), the client namespace sends real traffic through the VIPs, and the
# table is printed with its counters. Run it with tests/lab/demo.sh.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_dr_tun
in_ns director "$IP" link del lbvip0

echo "DEMO-BEGIN"
echo "== The ConfigMap"
grep -v '^#' "$LAB_CONFIGMAP"
echo
echo "== lbctl plan (the table the director should have)"
"$LBCTL" plan -c "$LAB_CONFIGMAP" -s "$LAB_SETTINGS"
echo
echo "== lbctl apply (programs IPVS over generic netlink, binds the VIPs on lbvip0)"
in_ns director "$LBCTL" apply -c "$LAB_CONFIGMAP" -s "$LAB_SETTINGS"
echo
echo "== traffic: 10 HTTP requests from the client namespace to each VIP"
for vip in "$VIP_NAT" "$VIP_DR" "$VIP_TUN"; do
    answers=$(http_get_n client "$vip" 80 10 | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
    echo "$vip:80 answered by:$answers"
done
for vip in "$VIP_NAT" "$VIP_DR" "$VIP_TUN"; do
    wait_ipvs_stat 10 10 director "$vip:80" || fail "counters of $vip:80 did not move"
done
echo
echo "== ipvsadm -Ln (weights, active/inactive connections)"
in_ns director "$IPVSADM" -Ln
echo
echo "== ipvsadm -Ln --stats --exact (the kernel's counters)"
in_ns director "$IPVSADM" -Ln --stats --exact
echo
echo "== VIPs on lbvip0"
in_ns director "$IP" -4 -br addr show dev lbvip0
echo
echo "== a second apply changes nothing"
in_ns director "$LBCTL" apply -c "$LAB_CONFIGMAP" -s "$LAB_SETTINGS" | grep "^# applied"
echo "DEMO-END"
