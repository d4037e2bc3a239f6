#!/bin/sh
# 01-smoke: the lab itself works. Modules load, ipvsadm talks to the kernel, and a NAT
# service programmed with ipvsadm (not our code) carries real TCP from the client to both
# real servers in round robin, with the kernel's connection counter moving.
# Control: before the service exists the same request gets no answer (the VIP is only an
# address of the director, with nothing listening), so the answers come from IPVS.
. /lab/scenarios/lib.sh
set -e

step "ipvs module and ipvsadm"
grep -q '^ip_vs ' /proc/modules || fail "ip_vs is not loaded"
assert_ok "ipvsadm -Ln" ipvsadm -Ln
assert_contains "$(ipvsadm -Ln)" "IP Virtual Server version" "ipvsadm -Ln"

topology_nat

step "control: no service yet, no answer from $VIP_NAT:80"
no_answer "$VIP_NAT" "no service yet"

step "NAT service $VIP_NAT:80 rr over rs1, rs2 (ipvsadm)"
in_ns director ipvsadm -A -t "$VIP_NAT:80" -s rr
in_ns director ipvsadm -a -t "$VIP_NAT:80" -r "$RS1_IP:80" -m -w 1
in_ns director ipvsadm -a -t "$VIP_NAT:80" -r "$RS2_IP:80" -m -w 1
in_ns director ipvsadm -Ln

step "requests from client"
bodies=$(http_get_n client "$VIP_NAT" 80 6)
echo "$bodies"
rs1_count=$(echo "$bodies" | grep -c '^rs1$' || true)
rs2_count=$(echo "$bodies" | grep -c '^rs2$' || true)
assert_eq 3 "$rs1_count" "answers from rs1 out of 6 (round robin)"
assert_eq 3 "$rs2_count" "answers from rs2 out of 6 (round robin)"

step "counters"
wait_ipvs_stat 10 6 director "$VIP_NAT:80" ||
    fail "service conns counter stayed at '$(ipvs_stat director "$VIP_NAT:80")', expected >= 6"
in_ns director ipvsadm -Ln --stats --exact
assert_ge 3 "$(ipvs_stat director "$VIP_NAT:80" "$RS1_IP:80")" "rs1 conns"
assert_ge 3 "$(ipvs_stat director "$VIP_NAT:80" "$RS2_IP:80")" "rs2 conns"
assert_ge 1 "$(ipvs_stat director "$VIP_NAT:80" - inbytes)" "service inbytes"
