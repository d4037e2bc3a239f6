#!/bin/sh
# 79-ipv6 (issue 14): IPv6 end to end, with real TCP from a v6 client namespace. Everything is
# built here (a v6 copy of lib.sh's topology, no IPv4 at all):
#
#   client 2001:db8:c::2/64 --- 2001:db8:c::1 director 2001:db8:1::1 (br0) ---+--- rs1 2001:db8:1::11
#      (routes 2001:db8:100::/120 via the director)  lbvip0: VIPs (lbctl)     +--- rs2 2001:db8:1::12
#
# The VIPs are routed to the director, not resolved by NDP: Linux answers a neighbour
# solicitation only for addresses on the interface it arrived on (unlike ARP), so a VIP on the
# dummy lbvip0 (or on a real server's lo) is never announced. That is checked below, and it is
# why a v6 DR real server needs no arp_ignore-like setting.
#
# 1. `lbctl apply` with managed range 2001:db8:100::/120 programs NAT (::10), DR (::11) and
#    tunnel (::12, IPVS encapsulates v6-in-v6; the real servers decapsulate on ip6_tunnel's
#    fallback device ip6tnl0): 3 services + 6 real servers = 9 netlink writes; `ipvsadm -Sn`
#    shows each forwarding method; the VIPs sit on lbvip0 as /128, not tentative; 6 requests
#    per VIP are answered 3/3 by rs1/rs2 and the kernel's counters move; DR requests reach the
#    real servers addressed to the VIP, tunnel requests as IP protocol 41 on ip6tnl0. A second
#    apply writes nothing (0 netlink writes, netfilter unchanged).
#    Controls: VIP_DR removed from the real servers' lo -> no answer; ip6tnl0 down -> no answer
#    from the tunnel VIP (each restored and answering again); a probe on the server segment
#    gets no NDP answer for VIP_DR (nobody announces it) - control: with the VIP on rs1's eth0
#    the same probe is answered, so the probe can see an answer.
# 2. NOTRACK for v6 (iptables, then nftables): lbctl's ip6tables/nft rules for the DR VIP exist
#    and DR traffic leaves no conntrack entry on the director even with vs/conntrack forced to
#    1; the NAT VIP's rule counts the NAT requests (IPVS untracks NAT itself at conntrack=0,
#    see 31-notrack). Control: the same DR traffic with backend none (no rules) leaves entries.
#    Each phase uses its own client source address (route src), so an entry of an earlier phase
#    can neither be counted nor expire in the middle of a count.
# 3. FullNAT for a v6 VIP (::13, fullnat_pool 2001:db8:1::200 on br0; the real servers lose
#    their default route): with iptables and nftables, the client is answered and the real
#    servers see only the pool address; a second apply writes nothing. Control: the same key
#    with backend none (no SNAT rule) gets no answer and the real server sees the client.
# 4. `lbctl run` (file mode): /metrics labels the v6 endpoints `endpoint="[v6]:port"`, with the
#    same conns value as `ipvsadm -Ln --stats --exact`.
# About 70 s on an idle host (boot included); more under load.
# lab-timeout: 300
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

V6_CLIENT=2001:db8:c::2
V6_CLIENT_NOTRACK_IPT=2001:db8:c::3
V6_CLIENT_NOTRACK_NFT=2001:db8:c::4
# Every client address (the source of a request depends on the route it takes).
V6_CLIENT_NET=2001:db8:c::/64
V6_DIR_CLIENT=2001:db8:c::1
V6_DIR_SERVER=2001:db8:1::1
V6_RS1=2001:db8:1::11
V6_RS2=2001:db8:1::12
V6_PROBE=2001:db8:1::99
V6_NAT=2001:db8:100::10
V6_DR=2001:db8:100::11
V6_TUN=2001:db8:100::12
V6_FNAT=2001:db8:100::13
V6_POOL=2001:db8:1::200
V6_RANGE=2001:db8:100::/120
SETTINGS6=/tmp/settings-79.toml
CM=/tmp/cm-79.yaml

modprobe ip6_tunnel || fail "cannot load ip6_tunnel"

# --- helpers (kept here: lib.sh is shared) ---------------------------------------------------

# ip6_packets NS COMMENT [CHAIN] [TABLE]: rule_packets for ip6tables.
ip6_packets() {
    in_ns "$1" ip6tables -w -t "${4:-filter}" -nvxL "${3:-INPUT}" 2>/dev/null |
        awk -v tag="/* $2 */" 'index($0, tag) { print $1; exit }'
}
# expand6 ADDR: ADDR in the uncompressed form /proc/net/nf_conntrack prints (%pI6), e.g.
# 2001:db8:c::2 -> 2001:0db8:000c:0000:0000:0000:0000:0002 (addresses with at most one "::").
expand6() {
    echo "$1" | awk -F'::' '
        function pad(s) { while (length(s) < 4) s = "0" s; return s }
        {
            n = split($1, h, ":"); m = (NF > 1 && $2 != "") ? split($2, t, ":") : 0
            out = ""
            for (i = 1; i <= n; i++) out = out (i > 1 ? ":" : "") pad(h[i])
            for (i = n + m; i < 8; i++) out = out ":0000"
            for (i = 1; i <= m; i++) out = out ":" pad(t[i])
            print out
        }'
}
# ct_entries SRC VIP: conntrack entries of the director that mention both the client address
# SRC and VIP (either direction). A missing table fails instead of reading 0.
ct_entries() {
    in_ns director test -r /proc/net/nf_conntrack ||
        fail "/proc/net/nf_conntrack is missing in the director (CONFIG_NF_CONNTRACK_PROCFS)"
    in_ns director cat /proc/net/nf_conntrack | grep "=$(expand6 "$1") " |
        grep -c "=$(expand6 "$2") " || true
}
# from_src VIP SRC: requests to VIP leave the client from SRC (the route's preferred source;
# busybox nc cannot bind).
from_src() {
    in_ns client "$IP" -6 route replace "$1/128" via "$V6_DIR_CLIENT" dev c0 src "$2"
}
# settings6 BACKEND [POOL]: lbctl settings with a v4 and a v6 managed range.
settings6() {
    {
        echo "managed_vip_ranges = [\"10.0.0.96/28\", \"$V6_RANGE\"]"
        echo 'vip_interface = "lbvip0"'
        echo 'state_file = "/tmp/lbctl-state.json"'
        echo "netfilter_backend = \"$1\""
        [ -z "$2" ] || echo "fullnat_pool = [\"$2/128\"]"
    } >"$SETTINGS6"
}
apply6() { SETTINGS=$SETTINGS6 lbctl_apply_ok --config "$CM" "$@"; }
# text_writes: the netlink writes of the last text-mode apply ("... with N netlink write(s)").
text_writes() {
    echo "$LBCTL_OUT" | sed -n 's/.* with \([0-9]*\) netlink write(s).*/\1/p' | head -1
}
# check_traffic6 VIP NAME: 6 requests, 3 answered by each real server, counters moved.
check_traffic6() {
    step "$2: 6 requests from the v6 client to [$1]:80"
    answers "$1" 6
    wait_ipvs_stat 10 6 director "[$1]:80" ||
        fail "$2 service conns stayed at '$(ipvs_stat director "[$1]:80")', expected >= 6"
    in_ns director "$IPVSADM" -Ln --stats --exact -t "[$1]:80"
    assert_ge 3 "$(ipvs_stat director "[$1]:80" "[$V6_RS1]:80")" "$2 rs1 conns"
    assert_ge 3 "$(ipvs_stat director "[$1]:80" "[$V6_RS2]:80")" "$2 rs2 conns"
    assert_ge 6 "$(ipvs_stat director "[$1]:80" - inpkts)" "$2 service inpkts"
}

# --- topology --------------------------------------------------------------------------------

step "v6 topology: client, director (bridge br0), rs1, rs2"
assert_eq 2001:0db8:000c:0000:0000:0000:0000:0002 "$(expand6 "$V6_CLIENT")" "expand6 $V6_CLIENT"
for ns in client director rs1 rs2; do ns6 "$ns"; done
veth_pair client c0 director dc0
for addr in "$V6_CLIENT" "$V6_CLIENT_NOTRACK_IPT" "$V6_CLIENT_NOTRACK_NFT"; do
    in_ns client "$IP" -6 addr add "$addr/64" dev c0 nodad
done
in_ns client "$IP" -6 route add default via "$V6_DIR_CLIENT"
in_ns director "$IP" -6 addr add "$V6_DIR_CLIENT/64" dev dc0 nodad
# No multicast snooping: NDP's multicast must reach every port without an MLD querier.
in_ns director "$IP" link add br0 type bridge mcast_snooping 0
in_ns director "$IP" link set br0 up
in_ns director "$IP" -6 addr add "$V6_DIR_SERVER/64" dev br0 nodad
sysctl_set director net.ipv6.conf.all.forwarding 1
rs_attach6 rs1 "$V6_RS1"
rs_attach6 rs2 "$V6_RS2"
for addr in "$V6_RS1" "$V6_RS2"; do
    wait_until 15 in_ns director ping -6 -c1 -W1 "$addr" || fail "director cannot ping $addr"
done
wait_until 10 in_ns client ping -6 -c1 -W1 "$V6_DIR_CLIENT" || fail "client cannot ping the director"
wait_until 10 in_ns client ping -6 -c1 -W1 "$V6_RS1" || fail "client cannot ping rs1 through the director"
for ns in rs1 rs2; do
    rs_http "$ns" 80 "$ns"
    # DR and tunnel: the VIPs as /128 on lo (lo never answers NDP for them on eth0), and
    # ip6_tunnel's fallback device up to decapsulate v6-in-v6.
    in_ns "$ns" "$IP" -6 addr add "$V6_DR/128" dev lo
    in_ns "$ns" "$IP" -6 addr add "$V6_TUN/128" dev lo
    in_ns "$ns" "$IP" link set ip6tnl0 up || fail "no ip6tnl0 in $ns (is ip6_tunnel loaded?)"
    # Counting rules: DR packets addressed to the VIP itself, tunnel packets (protocol 41).
    in_ns "$ns" ip6tables -w -A INPUT -d "$V6_DR" -p tcp --dport 80 -m comment --comment dr-in
    in_ns "$ns" ip6tables -w -A INPUT -p 41 -m comment --comment tun-in
done
for addr in "$V6_RS1" "$V6_RS2"; do
    wait_until 10 http_get director "$addr" 80 || fail "httpd on [$addr]:80 does not answer"
done
# Conntrack only runs for IPv6 in a namespace once something uses it there (31-notrack).
in_ns director ip6tables -w -A INPUT -m conntrack --ctstate NEW -m comment --comment ct-user6

write_configmap "$CM" <<EOF
2001_db8_100__10-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=nat"
2001_db8_100__11-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=dr"
2001_db8_100__12-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=tunnel"
EOF
cat "$CM"

# --- 1. NAT, DR, tunnel ----------------------------------------------------------------------

step "lbctl apply of three v6 services (backend none: no netfilter rules yet)"
settings6 none
apply6 -o json
assert_eq 9 "$(netlink_writes)" "netlink writes (3 services + 6 real servers)"
rules=$(ipvs_rules director)
echo "$rules"
assert_contains "$rules" "-A -t [$V6_NAT]:80 -s rr" "ipvsadm -Sn"
for rs in "$V6_RS1" "$V6_RS2"; do
    assert_contains "$rules" "-a -t [$V6_NAT]:80 -r [$rs]:80 -m -w 1" "ipvsadm -Sn"
    assert_contains "$rules" "-a -t [$V6_DR]:80 -r [$rs]:80 -g -w 1" "ipvsadm -Sn"
    assert_contains "$rules" "-a -t [$V6_TUN]:80 -r [$rs]:80 -i -w 1" "ipvsadm -Sn"
done
vips=$(in_ns director "$IP" -6 addr show dev lbvip0)
echo "$vips"
for vip in "$V6_NAT" "$V6_DR" "$V6_TUN"; do
    assert_contains "$vips" "inet6 $vip/128 scope global" "lbvip0 addresses"
done
assert_not_contains "$vips" "tentative" "lbvip0 addresses"
assert_not_contains "$vips" "dadfailed" "lbvip0 addresses"

sysctl_set director net.ipv4.vs.conntrack 0
check_traffic6 "$V6_NAT" NAT
assert_ge 6 "$(ipvs_stat director "[$V6_NAT]:80" - outpkts)" "NAT service outpkts"

# DR with vs/conntrack=1 and no rules: the control of part 2 (entries appear).
sysctl_set director net.ipv4.vs.conntrack 1
from_src "$V6_DR" "$V6_CLIENT"
check_traffic6 "$V6_DR" DR
for ns in rs1 rs2; do
    assert_ge 3 "$(ip6_packets "$ns" dr-in)" "DR packets addressed to the VIP at $ns"
done
in_ns director cat /proc/net/nf_conntrack | grep "$(expand6 "$V6_DR")" | head -4 || true
control_entries=$(ct_entries "$V6_CLIENT" "$V6_DR")
assert_ge 1 "$control_entries" "control: conntrack entries of DR traffic without NOTRACK rules"

check_traffic6 "$V6_TUN" TUN
for ns in rs1 rs2; do
    assert_ge 3 "$(ip6_packets "$ns" tun-in)" "IPv6-in-IPv6 (protocol 41) packets that reached $ns"
    assert_ge 3 "$(in_ns "$ns" cat /sys/class/net/ip6tnl0/statistics/rx_packets)" "$ns ip6tnl0 rx_packets"
done

step "control: VIP_DR removed from the real servers' lo, the DR VIP gets no answer"
for ns in rs1 rs2; do in_ns "$ns" "$IP" -6 addr del "$V6_DR/128" dev lo; done
no_answer "$V6_DR" "DR VIP not local on the real servers"
for ns in rs1 rs2; do in_ns "$ns" "$IP" -6 addr add "$V6_DR/128" dev lo; done
answers "$V6_DR" 2

step "control: ip6tnl0 down on the real servers, the tunnel VIP gets no answer"
for ns in rs1 rs2; do in_ns "$ns" "$IP" link set ip6tnl0 down; done
tun_before=$(ip6_packets rs1 tun-in)$(ip6_packets rs2 tun-in)
no_answer "$V6_TUN" "v6-in-v6 not decapsulated"
[ "$(ip6_packets rs1 tun-in)$(ip6_packets rs2 tun-in)" != "$tun_before" ] ||
    fail "control (v6-in-v6 not decapsulated): no protocol 41 packet arrived, so it proved nothing"
for ns in rs1 rs2; do in_ns "$ns" "$IP" link set ip6tnl0 up; done
answers "$V6_TUN" 2

step "NDP: nobody on the server segment answers a solicitation for VIP_DR"
ns6 probe
rs_attach6 probe "$V6_PROBE"
wait_until 10 in_ns probe ping -6 -c1 -W1 "$V6_DIR_SERVER" || fail "probe cannot ping the director"
in_ns probe "$IP" -6 route add "$V6_DR/128" dev eth0
if in_ns probe ping -6 -c1 -W2 "$V6_DR"; then
    fail "the probe reached $V6_DR on-link: someone answers NDP for the DR VIP"
fi
in_ns probe "$IP" -6 neigh show "$V6_DR" || true
assert_not_contains "$(in_ns probe "$IP" -6 neigh show "$V6_DR")" "lladdr" "probe's neighbour entry for $V6_DR"
in_ns rs1 "$IP" -6 addr add "$V6_DR/128" dev eth0 nodad
in_ns probe "$IP" -6 neigh flush dev eth0
wait_until 10 in_ns probe ping -6 -c1 -W1 "$V6_DR" ||
    fail "control: the probe got no answer with $V6_DR on rs1's eth0 (the probe cannot see one)"
log "ok: control: with $V6_DR on rs1's eth0 the probe resolves and reaches it"
in_ns rs1 "$IP" -6 addr del "$V6_DR/128" dev eth0
"$IP" netns delete probe

step "a second apply writes nothing"
apply6
assert_eq 0 "$(text_writes)" "netlink writes of the second apply"
assert_contains "$LBCTL_OUT" "backend none" "second apply report"

# --- 2. NOTRACK ------------------------------------------------------------------------------

notrack_phase() { # notrack_phase BACKEND CLIENT_SOURCE
    step "$1: NOTRACK rules for the v6 VIPs"
    settings6 "$1"
    sysctl_set director net.ipv4.vs.conntrack 0
    apply6
    assert_contains "$LBCTL_OUT" "# netfilter ($1)" "apply report"
    assert_contains "$LBCTL_OUT" "net.ipv4.vs.conntrack=0" "apply report"

    step "$1: NAT requests pass the NAT VIP's NOTRACK rule (vs/conntrack=0)"
    lookups_before=$(nft_lookup_packets "$NFT6_LOOKUP")
    answers "$V6_NAT" 4
    NAT_LOOKUPS=$(($(nft_lookup_packets "$NFT6_LOOKUP") - lookups_before))

    step "$1: DR traffic from $2 with vs/conntrack forced to 1 leaves no conntrack entry"
    sysctl_set director net.ipv4.vs.conntrack 1
    from_src "$V6_DR" "$2"
    assert_eq 0 "$(ct_entries "$2" "$V6_DR")" "$1: conntrack entries from $2 before its traffic"
    # The real servers count what arrives from $2: a 0 below must not come from traffic that
    # left the client from another address.
    for ns in rs1 rs2; do
        in_ns "$ns" ip6tables -w -A INPUT -s "$2" -d "$V6_DR" -p tcp --dport 80 -m comment --comment "src-$1"
    done
    lookups_before=$(nft_lookup_packets "$NFT6_LOOKUP")
    answers "$V6_DR" 4
    DR_LOOKUPS=$(($(nft_lookup_packets "$NFT6_LOOKUP") - lookups_before))
    wait_ipvs_stat 10 4 director "[$V6_DR]:80" || fail "$1: DR counters did not move"
    assert_ge 4 "$(($(ip6_packets rs1 "src-$1") + $(ip6_packets rs2 "src-$1")))" \
        "$1: DR packets from $2 at the real servers"
    assert_eq 0 "$(ct_entries "$2" "$V6_DR")" "$1: conntrack entries of DR traffic from $2"

    step "$1: a second apply writes nothing"
    sysctl_set director net.ipv4.vs.conntrack 0
    apply6
    assert_eq 0 "$(text_writes)" "$1: netlink writes of the second apply"
    assert_contains "$LBCTL_OUT" "unchanged" "$1: second apply report"
}

NFT6_LOOKUP="ip6 daddr . tcp dport @lb_to_v6_tcp"
notrack_phase iptables "$V6_CLIENT_NOTRACK_IPT"
raw6=$(in_ns director ip6tables-save -t raw)
echo "$raw6"
for vip in "$V6_DR" "$V6_TUN" "$V6_NAT"; do
    assert_contains "$raw6" "-A LBCTL-NOTRACK -d $vip/128 -p tcp -m tcp --dport 80 -j CT --notrack" "ip6tables raw"
done
for vip in "$V6_DR" "$V6_TUN"; do
    assert_contains "$raw6" "-A LBCTL-NOTRACK -s $vip/128 -p tcp -m tcp --sport 80 -j CT --notrack" "ip6tables raw"
done
assert_contains "$raw6" "-A PREROUTING -j LBCTL-NOTRACK" "ip6tables raw"
# IPVS untracks NAT itself at vs/conntrack=0, so for NAT the rule's counter is the proof.
in_ns director ip6tables -w -t raw -nvxL LBCTL-NOTRACK
nat_rule_packets=$(in_ns director ip6tables -w -t raw -nvxL LBCTL-NOTRACK |
    awk -v vip="$V6_NAT" 'index($0, vip) && /dpt:80/ { s += $1 } END { print s + 0 }')
assert_ge 4 "$nat_rule_packets" "packets the NOTRACK rule of the v6 NAT VIP matched"
dr_rule_packets=$(in_ns director ip6tables -w -t raw -nvxL LBCTL-NOTRACK |
    awk -v vip="$V6_DR" 'index($0, vip) && /dpt:80/ { s += $1 } END { print s + 0 }')
assert_ge 4 "$dr_rule_packets" "packets the NOTRACK rule of the v6 DR VIP matched"
assert_ok "lbctl cleanup" in_ns director "$LBCTL" cleanup
assert_not_contains "$(in_ns director ip6tables-save -t raw)" "LBCTL" "ip6tables raw after cleanup"

notrack_phase nftables "$V6_CLIENT_NOTRACK_NFT"
nft6=$(in_ns director "$NFT" -s list table inet lbctl)
echo "$nft6"
assert_contains "$nft6" "ip6 daddr . tcp dport @lb_to_v6_tcp counter notrack" "nft table"
assert_contains "$nft6" "ip6 saddr . tcp sport @lb_from_v6_tcp counter notrack" "nft table"
# As with ip6tables: IPVS untracks NAT itself at vs/conntrack=0, so the counter of the set's
# lookup rule, over the NAT requests alone (then the DR requests alone), is the proof that
# the VIP's element matched. Mutation (checked): the NAT VIP's element with port 81 counts 0.
in_ns director "$NFT" list chain inet lbctl lb_bypass
assert_ge 4 "$NAT_LOOKUPS" "packets the nft NOTRACK lookup matched for the v6 NAT VIP"
assert_ge 4 "$DR_LOOKUPS" "packets the nft NOTRACK lookup matched for the v6 DR VIP"
to_set=$(in_ns director "$NFT" -s list set inet lbctl lb_to_v6_tcp)
from_set=$(in_ns director "$NFT" -s list set inet lbctl lb_from_v6_tcp)
for vip in "$V6_DR" "$V6_TUN" "$V6_NAT"; do
    assert_contains "$to_set" "$vip . 80" "nft set of traffic to the v6 services"
done
for vip in "$V6_DR" "$V6_TUN"; do
    assert_contains "$from_set" "$vip . 80" "nft set of the v6 services' replies"
done
assert_not_contains "$from_set" "$V6_NAT" "nft set of replies (NAT's stay tracked by IPVS)"
assert_ok "lbctl cleanup" in_ns director "$LBCTL" cleanup
log "control had $control_entries tracked DR entries; with NOTRACK (iptables, nftables) none"

# --- 3. FullNAT ------------------------------------------------------------------------------

step "FullNAT: pool $V6_POOL on br0, the real servers lose their route to the client"
in_ns director "$IP" -6 addr add "$V6_POOL/128" dev br0 nodad
for ns in rs1 rs2; do
    in_ns "$ns" "$IP" -6 route del default
    in_ns "$ns" ip6tables -w -A INPUT -s "$V6_POOL" -p tcp --dport 80 -m comment --comment from-pool
    in_ns "$ns" ip6tables -w -A INPUT -s "$V6_CLIENT_NET" -p tcp --dport 80 -m comment --comment from-client
done
write_configmap "$CM" <<EOF
2001_db8_100__10-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=nat"
2001_db8_100__11-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=dr"
2001_db8_100__12-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=tunnel"
2001_db8_100__13-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=fullnat"
EOF

step "FullNAT control: backend none (no SNAT rule), the real server sees the client"
settings6 none "$V6_POOL"
apply6
assert_contains "$(ipvs_rules director)" "-a -t [$V6_FNAT]:80 -r [$V6_RS1]:80 -m -w 1" "ipvsadm -Sn"
no_answer "$V6_FNAT" "FullNAT without the SNAT rule"
assert_ge 1 "$(($(ip6_packets rs1 from-client) + $(ip6_packets rs2 from-client)))" \
    "control: packets from the client at the real servers"
assert_eq 0 "$(($(ip6_packets rs1 from-pool) + $(ip6_packets rs2 from-pool)))" \
    "control: packets from the pool at the real servers"

fullnat_phase() { # fullnat_phase BACKEND
    step "$1: FullNAT apply"
    for ns in rs1 rs2; do in_ns "$ns" ip6tables -w -Z INPUT; done
    settings6 "$1" "$V6_POOL"
    apply6
    assert_contains "$LBCTL_OUT" "# netfilter ($1)" "apply report"
    assert_contains "$LBCTL_OUT" "net.ipv4.vs.conntrack=1" "apply report"
    assert_eq 1 "$(in_ns director cat /proc/sys/net/ipv4/vs/conntrack)" "vs/conntrack"

    step "$1: traffic through the v6 FullNAT VIP"
    before=$(ipvs_stat director "[$V6_FNAT]:80")
    answers "$V6_FNAT" 4
    wait_ipvs_stat 10 $((${before:-0} + 4)) director "[$V6_FNAT]:80" ||
        fail "$1: conns stayed at '$(ipvs_stat director "[$V6_FNAT]:80")'"
    for ns in rs1 rs2; do
        assert_ge 2 "$(ip6_packets "$ns" from-pool)" "$1: $ns packets from the pool"
        assert_eq 0 "$(ip6_packets "$ns" from-client)" "$1: $ns packets from the client"
    done

    step "$1: a second apply writes nothing"
    apply6
    assert_eq 0 "$(text_writes)" "$1: netlink writes of the second apply"
    assert_contains "$LBCTL_OUT" "unchanged" "$1: second apply report"
}

fullnat_phase iptables
nat6=$(in_ns director ip6tables-save -t nat)
echo "$nat6"
assert_contains "$nat6" "-A LBCTL-SNAT -m ipvs --vproto 6 --vaddr $V6_FNAT --vport 80 -j SNAT --to-source $V6_POOL --random-fully" "ip6tables nat"
assert_ok "lbctl cleanup" in_ns director "$LBCTL" cleanup
fullnat_phase nftables
assert_contains "$(in_ns director "$NFT" list table inet lbctl)" "snat ip6 to $V6_POOL fully-random" "nft table"

# --- 4. metrics ------------------------------------------------------------------------------

step "lbctl run (file mode): /metrics labels the v6 endpoints"
echo 'listen_address = "127.0.0.1:9469"' >>"$SETTINGS6"
in_ns director "$LBCTL" run --settings "$SETTINGS6" --config-file "$CM" --log info \
    >/tmp/run-79.log 2>&1 &
# endpoint_conns VIP RS: lvs_endpoint_stat_conns_total of [RS]:80 behind VIP from /metrics.
endpoint_conns() {
    http_get director 127.0.0.1 9469 /metrics | grep -F 'lvs_endpoint_stat_conns_total{' |
        grep -F "vip=\"$1\"" | grep -F "endpoint=\"[$2]:80\"" | awk '{ print $NF }' | head -1
}
has_endpoint() { [ -n "$(endpoint_conns "$V6_FNAT" "$V6_RS1")" ]; }
wait_until 30 has_endpoint ||
    fail "no v6 endpoint series in /metrics: $(tail -5 /tmp/run-79.log | tr '\n' '|')"
http_get director 127.0.0.1 9469 /metrics | grep -F "vip=\"$V6_FNAT\"" | grep '^lvs_endpoint_stat_conns'
for rs in "$V6_RS1" "$V6_RS2"; do
    metric=$(endpoint_conns "$V6_FNAT" "$rs")
    kernel=$(ipvs_stat director "[$V6_FNAT]:80" "[$rs]:80")
    assert_ge 2 "$kernel" "ipvsadm conns of [$rs]:80"
    assert_eq "$kernel" "$metric" "lvs_endpoint_stat_conns_total{endpoint=\"[$rs]:80\"}"
done
assert_contains "$(http_get director 127.0.0.1 9469 /metrics | grep -F "vip=\"$V6_FNAT\"")" \
    'service="2001_db8_100__13-80"' "service label of the v6 key"
stop_lbctl_run
