#!/bin/sh
# 11-apply-traffic (issue 3, lab scenario 2): services programmed by `lbctl apply` in NAT, DR
# and IPIP-tunnel mode each carry real TCP connections from the client namespace through the
# VIP to both real servers, and the kernel's counters (as ipvsadm reads them) increase.
# Control: before the apply no VIP answers (the VIPs do not even exist yet), so every answer
# after it comes through the services lbctl wrote.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_dr_tun
in_ns director "$IP" link del lbvip0

step "control: before the apply no VIP answers"
for vip in "$VIP_NAT" "$VIP_DR" "$VIP_TUN"; do no_answer "$vip" "before the apply"; done

step "lbctl apply of the lab ConfigMap"
lbctl_apply_ok --config "$LAB_CONFIGMAP"

check_traffic() { # check_traffic VIP METHOD_NAME
    step "$2: 6 requests from the client to $1:80"
    answers "$1" 6
    wait_ipvs_stat 10 6 director "$1:80" ||
        fail "$2 service conns stayed at '$(ipvs_stat director "$1:80")', expected >= 6"
    in_ns director "$IPVSADM" -Ln --stats --exact -t "$1:80"
    assert_ge 3 "$(ipvs_stat director "$1:80" "$RS1_IP:80")" "$2 rs1 conns"
    assert_ge 3 "$(ipvs_stat director "$1:80" "$RS2_IP:80")" "$2 rs2 conns"
    assert_ge 6 "$(ipvs_stat director "$1:80" - inpkts)" "$2 service inpkts"
}

check_traffic "$VIP_NAT" NAT
# NAT replies pass the director, so it counts outgoing packets too.
assert_ge 6 "$(ipvs_stat director "$VIP_NAT:80" - outpkts)" "NAT service outpkts"
check_traffic "$VIP_DR" DR
check_traffic "$VIP_TUN" TUN
