#!/bin/sh
# 76-tunnel-gre-gue (issue 14): the two tunnel encapsulations besides IPIP carry traffic.
# `lbctl apply` programs 10.0.0.103:80 with method=tunnel:gre and 10.0.0.104:80 with
# method=tunnel:gue:6080 over rs1 and rs2. The real servers decapsulate as a real server would:
# GRE on the ip_gre fallback device gre0, GUE with a fou listener on UDP 6080 whose inner IPIP
# packet lands on tunl0. Requests from the client are answered by both real servers, and the
# packets that reached each real server were GRE (IP protocol 47) or UDP to port 6080, counted
# by iptables on the real servers themselves (not by our code).
#
# Controls (each must make the traffic check fail, and does here): with gre0 down on the real
# servers, requests to the GRE VIP get no answer; with the fou listener removed, requests to
# the GUE VIP get no answer, although UDP 6080 packets still arrive. Each path is restored and
# answers again afterwards, so the failure came from the removed decapsulation alone.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

VIP_GRE=10.0.0.103
VIP_GUE=10.0.0.104
GUE_PORT=6080

topology_dr_tun
in_ns director "$IP" link del lbvip0
modprobe ip_gre || fail "cannot load ip_gre"
modprobe fou || fail "cannot load fou"

step "real servers: decapsulate GRE (gre0) and GUE (fou on UDP $GUE_PORT), carry both VIPs"
for ns in rs1 rs2; do
    in_ns "$ns" "$IP" link set gre0 up || fail "no gre0 in $ns (is ip_gre loaded?)"
    sysctl_set "$ns" net.ipv4.conf.gre0.rp_filter 0
    in_ns "$ns" "$IP" fou add port "$GUE_PORT" gue || fail "ip fou add in $ns"
    in_ns "$ns" "$IP" addr add "$VIP_GRE/32" dev lo
    in_ns "$ns" "$IP" addr add "$VIP_GUE/32" dev lo
    in_ns "$ns" iptables -w -A INPUT -p gre -m comment --comment gre-in
    in_ns "$ns" iptables -w -A INPUT -p udp --dport "$GUE_PORT" -m comment --comment gue-in
done

CM=/tmp/cm-76.yaml
write_configmap "$CM" <<EOF
$VIP_GRE-80: $RS1_IP:80, $RS2_IP:80; method=tunnel:gre
$VIP_GUE-80: $RS1_IP:80, $RS2_IP:80; method=tunnel:gue:$GUE_PORT
EOF

step "lbctl apply: one GRE and one GUE service"
lbctl_apply_ok --config "$CM" -o json
assert_eq 6 "$(netlink_writes)" "netlink writes (2 services + 4 real servers)"
rules=$(ipvs_rules director)
echo "$rules"
assert_contains "$rules" "-a -t $VIP_GRE:80 -r $RS1_IP:80 -i -w 1 --tun-type gre" "ipvsadm -Sn"
assert_contains "$rules" "-a -t $VIP_GUE:80 -r $RS2_IP:80 -i -w 1 --tun-type gue --tun-port $GUE_PORT" "ipvsadm -Sn"

# packets NS TAG: packets counted by the real server's iptables rule TAG.
packets() { rule_packets "$1" "$2"; }

step "GRE: requests through $VIP_GRE are answered by both real servers"
answers "$VIP_GRE" 4
for ns in rs1 rs2; do
    assert_ge 2 "$(packets "$ns" gre-in)" "GRE packets that reached $ns"
    assert_ge 2 "$(in_ns "$ns" cat /sys/class/net/gre0/statistics/rx_packets)" "$ns gre0 rx_packets"
    assert_eq 0 "$(packets "$ns" gue-in)" "UDP $GUE_PORT packets at $ns before any GUE traffic"
done

step "GUE: requests through $VIP_GUE are answered by both real servers"
tunl_before=$(in_ns rs1 cat /sys/class/net/tunl0/statistics/rx_packets)
answers "$VIP_GUE" 4
for ns in rs1 rs2; do
    assert_ge 2 "$(packets "$ns" gue-in)" "UDP $GUE_PORT (GUE) packets that reached $ns"
done
# The inner packet of GUE is IPIP (the kernel sets the GUE protocol field to 4), so after fou
# strips the UDP and GUE headers it arrives on the IPIP fallback device.
assert_ge $((tunl_before + 2)) "$(in_ns rs1 cat /sys/class/net/tunl0/statistics/rx_packets)" \
    "rs1 tunl0 rx_packets after GUE traffic"
wait_ipvs_stat 10 4 director "$VIP_GUE:80" ||
    fail "GUE service conns stayed at '$(ipvs_stat director "$VIP_GUE:80")', expected >= 4"

step "control: gre0 down on the real servers, the GRE VIP gets no answer"
for ns in rs1 rs2; do in_ns "$ns" "$IP" link set gre0 down; done
no_answer "$VIP_GRE" "GRE not decapsulated"
for ns in rs1 rs2; do in_ns "$ns" "$IP" link set gre0 up; done
answers "$VIP_GRE" 2

step "control: the fou listener removed, the GUE VIP gets no answer (packets still arrive)"
gue_before=$(packets rs1 gue-in)$(packets rs2 gue-in)
for ns in rs1 rs2; do in_ns "$ns" "$IP" fou del port "$GUE_PORT"; done
no_answer "$VIP_GUE" "GUE not decapsulated"
gue_after=$(packets rs1 gue-in)$(packets rs2 gue-in)
[ "$gue_after" != "$gue_before" ] ||
    fail "control (GUE not decapsulated): no UDP $GUE_PORT packet arrived, so the check proved nothing"
for ns in rs1 rs2; do in_ns "$ns" "$IP" fou add port "$GUE_PORT" gue; done
answers "$VIP_GUE" 2

step "a second apply is a no-op (the kernel kept both tunnel types as written)"
lbctl_apply_ok --config "$CM" -o json
assert_eq 0 "$(netlink_writes)" "netlink writes of the second apply"
