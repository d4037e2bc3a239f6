#!/bin/sh
# 30-fullnat (issue 5): FullNAT emulated on a stock kernel by `lbctl apply` - IPVS masquerading
# plus SNAT of the forwarded traffic to the pool 10.0.1.200 (on the director's server-side
# bridge). The real servers have NO route back to the client: they only see (and answer) the
# pool address. Checked with both backends (iptables `-m ipvs` and nftables `ct original`):
# the client gets its replies, the real server's counting rule sees the pool source and never
# the client's, IPVS counters move, a second apply writes nothing, a foreign rule in the same
# tables survives every sync, the NAT service next to it stays tracked, vs/conntrack is 1, and
# `lbctl cleanup` removes exactly our rules.
# Sysctls we do not own (issue 11): control first - without the FullNAT service lbctl lowers
# vs/conntrack back to 0, because it raised it itself. Then someone else sets vs/conntrack=1
# (as kube-proxy's IPVS mode does) and lbctl, still without FullNAT, leaves it at 1; `lbctl
# diff` calls that in sync and names it. With netfilter_backend = "none" (manage_sysctls
# "auto") a FullNAT apply writes no sysctl. Fails with the old behaviour (every pass wrote
# conntrack=0; mutation: treat Need::Preferred like Need::Required) at "foreign vs/conntrack".
# Traffic control, at the end: the same FullNAT service with backend none (no SNAT rule) gets
# no answer, and the real servers count packets from the client, none from the pool.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

POOL=10.0.1.200
topology_nat
in_ns director "$IP" link del lbvip0
in_ns director "$IP" addr add "$POOL/32" dev br0
for ns in rs1 rs2; do
    in_ns "$ns" "$IP" route del default
    # Counting rules: who does the real server see as the source?
    in_ns "$ns" "$IPTABLES" -A INPUT -s "$POOL" -p tcp --dport 80 -m comment --comment from-pool
    in_ns "$ns" "$IPTABLES" -A INPUT -s "$CLIENT_IP" -p tcp --dport 80 -m comment --comment from-client
done

write_configmap /tmp/cm-fullnat.yaml <<'CM'
10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80; method=fullnat
10.0.0.101-8080: 10.0.1.11:80; method=nat
CM

step "foreign rules in the raw and nat tables, made by hand"
in_ns director "$IPTABLES" -t raw -A PREROUTING -s 192.0.2.9/32 -j ACCEPT
in_ns director "$IPTABLES" -t nat -A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE
in_ns director "$NFT" 'add table inet foreign; add chain inet foreign post { type nat hook postrouting priority srcnat + 5; }; add rule inet foreign post ip saddr 192.0.2.0/24 masquerade'
foreign() {
    in_ns director "$IPTABLES" -S -t raw | grep 192.0.2.9
    in_ns director "$IPTABLES" -S -t nat | grep 192.0.2.0/24
    in_ns director "$NFT" list table inet foreign
}
foreign_before=$(foreign)

run_backend() { # run_backend BACKEND
    step "$1: apply"
    cat >/tmp/settings-fullnat.toml <<EOS
managed_vip_ranges = ["10.0.0.96/28"]
vip_interface = "lbvip0"
state_file = "/tmp/lbctl-state.json"
fullnat_pool = ["$POOL/32"]
netfilter_backend = "$1"
EOS
    SETTINGS=/tmp/settings-fullnat.toml lbctl_apply_ok --config /tmp/cm-fullnat.yaml
    assert_contains "$LBCTL_OUT" "# netfilter ($1)" "apply report"
    assert_contains "$LBCTL_OUT" "net.ipv4.vs.conntrack=1" "apply report"
    assert_contains "$LBCTL_OUT" "no rule for 10.0.0.101:8080/tcp" "apply report (NAT stays tracked)"
    assert_contains "$LBCTL_OUT" "# conntrack: insert_failed" "apply report"
    assert_eq 1 "$(in_ns director cat /proc/sys/net/ipv4/vs/conntrack)" "vs/conntrack"
    in_ns director "$IPTABLES" -S -t nat || true
    in_ns director "$NFT" list ruleset || true

    step "$1: traffic through the FullNAT VIP"
    before=$(ipvs_stat director 10.0.0.100:80)
    bodies=$(http_get_n client 10.0.0.100 80 6)
    echo "$bodies"
    assert_eq 3 "$(echo "$bodies" | grep -c '^rs1$' || true)" "$1: answers from rs1 out of 6"
    assert_eq 3 "$(echo "$bodies" | grep -c '^rs2$' || true)" "$1: answers from rs2 out of 6"
    wait_ipvs_stat 10 $((${before:-0} + 6)) director 10.0.0.100:80 ||
        fail "$1: conns stayed at '$(ipvs_stat director 10.0.0.100:80)'"
    for ns in rs1 rs2; do
        assert_ge 3 "$(rule_packets "$ns" from-pool)" "$1: $ns packets from the pool"
        assert_eq 0 "$(rule_packets "$ns" from-client)" "$1: $ns packets from the client"
    done

    step "$1: a second apply writes nothing"
    SETTINGS=/tmp/settings-fullnat.toml lbctl_apply_ok --config /tmp/cm-fullnat.yaml
    assert_contains "$LBCTL_OUT" "unchanged" "second apply report"
    assert_eq "$foreign_before" "$(foreign)" "foreign rules after the $1 syncs"
}

run_backend iptables
assert_contains "$(in_ns director "$IPTABLES" -S -t nat)" "-A LBCTL-SNAT -m ipvs --vproto 6 --vaddr 10.0.0.100 --vport 80 -j SNAT --to-source 10.0.1.200 --random-fully" "iptables nat"

step "cleanup, then the same with nftables"
assert_ok "lbctl cleanup" in_ns director "$LBCTL" cleanup
assert_not_contains "$(in_ns director "$IPTABLES-save")" "LBCTL" "iptables after cleanup"
assert_eq "$foreign_before" "$(foreign)" "foreign rules after cleanup"
for ns in rs1 rs2; do in_ns "$ns" "$IPTABLES" -Z INPUT; done
run_backend nftables
assert_contains "$(in_ns director "$NFT" list table inet lbctl)" "snat ip to 10.0.1.200 fully-random" "nft table"

step "cleanup removes exactly ours"
assert_ok "lbctl cleanup" in_ns director "$LBCTL" cleanup
assert_not_contains "$(in_ns director "$NFT" list tables)" "lbctl" "nft tables after cleanup"
assert_eq "$foreign_before" "$(foreign)" "foreign rules after the last cleanup"

step "sysctls: control - lbctl lowers the vs/conntrack=1 it set itself once FullNAT is gone"
write_configmap /tmp/cm-nofullnat.yaml <<'CM'
10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80; method=nat
10.0.0.101-8080: 10.0.1.11:80; method=nat
CM
assert_eq 1 "$(in_ns director cat /proc/sys/net/ipv4/vs/conntrack)" "vs/conntrack after the FullNAT applies"
SETTINGS=/tmp/settings-fullnat.toml lbctl_apply_ok --config /tmp/cm-nofullnat.yaml
assert_contains "$LBCTL_OUT" "net.ipv4.vs.conntrack=0 (was 1)" "apply report"
assert_eq 0 "$(in_ns director cat /proc/sys/net/ipv4/vs/conntrack)" "control: lbctl's own vs/conntrack"

step "sysctls: a vs/conntrack=1 set by someone else is not lowered"
sysctl_set director net.ipv4.vs.conntrack 1
SETTINGS=/tmp/settings-fullnat.toml lbctl_apply_ok --config /tmp/cm-nofullnat.yaml
assert_contains "$LBCTL_OUT" "net.ipv4.vs.conntrack=1 (not set by lbctl, left" "apply report"
assert_eq 1 "$(in_ns director cat /proc/sys/net/ipv4/vs/conntrack)" "foreign vs/conntrack"
set +e
DIFF_OUT=$(in_ns director "$LBCTL" diff --config /tmp/cm-nofullnat.yaml \
    --settings /tmp/settings-fullnat.toml 2>&1)
DIFF_RC=$?
set -e
echo "$DIFF_OUT"
assert_eq 0 "$DIFF_RC" "lbctl diff exit code with a foreign vs/conntrack"
assert_contains "$DIFF_OUT" "left alone: net.ipv4.vs.conntrack=1" "lbctl diff"
assert_ok "lbctl cleanup" in_ns director "$LBCTL" cleanup

step "sysctls: netfilter_backend none (manage_sysctls auto) writes none"
sysctl_set director net.ipv4.vs.conntrack 0
sed -i 's/^netfilter_backend = .*/netfilter_backend = "none"/' /tmp/settings-fullnat.toml
SETTINGS=/tmp/settings-fullnat.toml lbctl_apply_ok --config /tmp/cm-fullnat.yaml
assert_contains "$LBCTL_OUT" "net.ipv4.vs.conntrack=0 (manage_sysctls off; the services want 1)" "apply report"
assert_eq 0 "$(in_ns director cat /proc/sys/net/ipv4/vs/conntrack)" "vs/conntrack with backend none"

step "FullNAT control: without the SNAT rule the client gets no answer, the real servers see it"
# backend none installed no rule: the same service and traffic as above, now unanswered (the
# real servers have no route back to the client), so the traffic checks above can fail.
for ns in rs1 rs2; do in_ns "$ns" "$IPTABLES" -Z INPUT; done
no_answer 10.0.0.100 "FullNAT without SNAT"
assert_ge 1 $(($(rule_packets rs1 from-client) + $(rule_packets rs2 from-client))) \
    "control: packets from the client at the real servers"
assert_eq 0 $(($(rule_packets rs1 from-pool) + $(rule_packets rs2 from-pool))) \
    "control: packets from the pool at the real servers"
