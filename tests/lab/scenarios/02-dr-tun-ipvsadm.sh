#!/bin/sh
# 02-dr-tun-ipvsadm: the direct-routing and IPIP-tunnel data paths work in the lab. Services
# programmed with ipvsadm (not our code) carry real TCP from the client to both real servers
# (2/2), the IPVS counters move, the real servers' INPUT sees packets addressed to the VIP
# itself (not translated to their own address), and with TUN those arrive through tunl0.
#
# Controls (in this scenario):
# - before its service exists, each VIP gets no answer (the director has nothing on port 80);
# - before its traffic, each service's conns counter reads 0;
# - the NAT service's listing shows no "Route" (the forwarding-method check's string);
# - a NAT service (ipvsadm -m) on VIP_NAT answers 1/1, yet the real servers' rule for packets
#   to VIP_NAT:80 counts 0 (NAT rewrites the destination): the VIP-packet rule that must count
#   >= 1 for DR and TUN reads 0 where the VIP is translated;
# - tunl0 rx_packets on the real servers reads 0 after the NAT and DR traffic and only moves
#   with the TUN service.
. /lab/scenarios/lib.sh
set -e

topology_dr_tun

# vip_rule VIP: on rs1 and rs2, a counting rule (no target) for TCP packets to VIP:80.
vip_rule() {
    for ns in rs1 rs2; do
        in_ns "$ns" iptables -w -A INPUT -d "$1/32" -p tcp --dport 80 -m comment --comment "vip-$1"
    done
}

step "control: NAT service $VIP_NAT:80 (ipvsadm -m): answered, but no packet reaches a real server addressed to the VIP"
vip_rule "$VIP_NAT"
in_ns director ipvsadm -A -t "$VIP_NAT:80" -s rr
in_ns director ipvsadm -a -t "$VIP_NAT:80" -r "$RS1_IP:80" -m -w 1
in_ns director ipvsadm -a -t "$VIP_NAT:80" -r "$RS2_IP:80" -m -w 1
assert_not_contains "$(in_ns director ipvsadm -Ln -t "$VIP_NAT:80")" "Route" "control: NAT forwarding method"
answers "$VIP_NAT" 2
for ns in rs1 rs2; do
    assert_eq 0 "$(rule_packets "$ns" "vip-$VIP_NAT")" "control: $ns packets to $VIP_NAT:80 under NAT"
done

check_service() { # check_service VIP FLAG MODE_NAME
    step "$3: control: no answer from $1:80 before the service exists"
    no_answer "$1" "$3 VIP without a service"

    step "$3 service $1:80 rr over rs1, rs2 (ipvsadm $2)"
    in_ns director ipvsadm -A -t "$1:80" -s rr
    in_ns director ipvsadm -a -t "$1:80" -r "$RS1_IP:80" "$2" -w 1
    in_ns director ipvsadm -a -t "$1:80" -r "$RS2_IP:80" "$2" -w 1
    in_ns director ipvsadm -Ln -t "$1:80"
    vip_rule "$1"
    assert_contains "$(in_ns director ipvsadm -Ln -t "$1:80")" "$3" "forwarding method"
    assert_eq 0 "$(ipvs_stat director "$1:80")" "control: $3 conns counter before traffic"

    step "$3: requests from client"
    bodies=$(http_get_n client "$1" 80 4)
    echo "$bodies"
    assert_eq 2 "$(echo "$bodies" | grep -c '^rs1$' || true)" "$3 answers from rs1 out of 4"
    assert_eq 2 "$(echo "$bodies" | grep -c '^rs2$' || true)" "$3 answers from rs2 out of 4"

    step "$3: counters"
    wait_ipvs_stat 10 4 director "$1:80" ||
        fail "$3 service conns counter stayed at '$(ipvs_stat director "$1:80")', expected >= 4"
    in_ns director ipvsadm -Ln --stats --exact -t "$1:80"
    assert_ge 2 "$(ipvs_stat director "$1:80" "$RS1_IP:80")" "$3 rs1 conns"
    assert_ge 2 "$(ipvs_stat director "$1:80" "$RS2_IP:80")" "$3 rs2 conns"

    step "$3: the real servers received packets addressed to the VIP itself"
    # NAT rewrites the destination to the real server's address (the control above counts 0);
    # DR and TUN deliver the client's packet unchanged (TUN inside IPIP), so INPUT sees VIP:80.
    for ns in rs1 rs2; do
        assert_ge 1 "$(rule_packets "$ns" "vip-$1")" "$ns packets to $1:80"
    done
}

check_service "$VIP_DR" -g Route

step "control: no IPIP packet reached the real servers before the TUN service (NAT and DR traffic only)"
for ns in rs1 rs2; do
    assert_eq 0 "$(in_ns "$ns" cat /sys/class/net/tunl0/statistics/rx_packets)" "control: $ns tunl0 rx_packets"
done

check_service "$VIP_TUN" -i Tunnel

step "TUN: the real servers received IPIP packets"
for ns in rs1 rs2; do
    rx=$(in_ns "$ns" cat /sys/class/net/tunl0/statistics/rx_packets)
    assert_ge 1 "$rx" "$ns tunl0 rx_packets"
done
