#!/bin/sh
# 02-dr-tun-ipvsadm: the direct-routing and IPIP-tunnel data paths work in the lab. Services
# programmed with ipvsadm (not our code) carry real TCP from the client to both real servers,
# whose replies return without the director translating them, and the counters move.
. /lab/scenarios/lib.sh
set -e

topology_dr_tun

check_service() { # check_service VIP FLAG MODE_NAME
    step "$3 service $1:80 rr over rs1, rs2 (ipvsadm $2)"
    in_ns director ipvsadm -A -t "$1:80" -s rr
    in_ns director ipvsadm -a -t "$1:80" -r "$RS1_IP:80" "$2" -w 1
    in_ns director ipvsadm -a -t "$1:80" -r "$RS2_IP:80" "$2" -w 1
    in_ns director ipvsadm -Ln -t "$1:80"
    for ns in rs1 rs2; do
        in_ns "$ns" iptables -w -A INPUT -d "$1/32" -p tcp --dport 80 -m comment --comment "vip-$1"
    done
    assert_contains "$(in_ns director ipvsadm -Ln -t "$1:80")" "$3" "forwarding method"

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
    # NAT rewrites the destination to the real server's address; DR and TUN deliver the
    # client's packet unchanged (TUN inside IPIP), so the servers' INPUT sees VIP:80.
    for ns in rs1 rs2; do
        assert_ge 1 "$(rule_packets "$ns" "vip-$1")" "$ns packets to $1:80"
    done
}

check_service "$VIP_DR" -g Route
check_service "$VIP_TUN" -i Tunnel

step "TUN: the real servers received IPIP packets"
for ns in rs1 rs2; do
    rx=$(in_ns "$ns" cat /sys/class/net/tunl0/statistics/rx_packets)
    assert_ge 1 "$rx" "$ns tunl0 rx_packets"
done
