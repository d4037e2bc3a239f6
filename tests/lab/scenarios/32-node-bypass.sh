#!/bin/sh
# 32-node-bypass (issue 5): `lbctl node-bypass` on a "node" namespace that routes between a
# director-side link and a pod-side link, with a CNI-like chain that drops forwarded traffic and
# inserts itself at FORWARD position 1. Our FORWARD ACCEPT comes back to position 1 on the next
# pass of the loop, traffic from the director range to the pod flows, raw NOTRACK leaves no
# conntrack entry, and --cleanup removes only ours. Control: after the cleanup, the same
# traffic (let through by the CNI) leaves conntrack entries, and a missing conntrack table
# fails the count instead of reading as 0.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

step "topology: director 10.0.1.200 -- node -- pod 10.244.1.10"
for ns in director node pod; do ns_create "$ns"; done
veth_pair director d0 node n0
veth_pair node n1 pod p0
in_ns director "$IP" addr add 10.0.1.200/24 dev d0
in_ns director "$IP" route add 10.244.0.0/16 via 10.0.1.1
in_ns node "$IP" addr add 10.0.1.1/24 dev n0
in_ns node "$IP" addr add 10.244.1.1/24 dev n1
in_ns pod "$IP" addr add 10.244.1.10/24 dev p0
in_ns pod "$IP" route add default via 10.244.1.1
sysctl_set node net.ipv4.ip_forward 1
rs_http pod 80 pod
wait_until 10 in_ns director ping -c1 -W1 10.0.1.1 || fail "director cannot reach the node"

step "a CNI-like chain that drops forwarded traffic, first in FORWARD"
in_ns node "$IPTABLES" -N cali-FORWARD
# As real CNIs do, it matches on conntrack state: this turns connection tracking on in the
# node's namespace (the kernel tracks a namespace only once a rule there needs it), so the
# conntrack checks below count entries that would exist without our NOTRACK.
in_ns node "$IPTABLES" -A cali-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
in_ns node "$IPTABLES" -A cali-FORWARD -j DROP
in_ns node "$IPTABLES" -I FORWARD 1 -j cali-FORWARD
http_get director 10.244.1.10 80 && fail "the CNI chain should drop forwarded traffic"

step "node-bypass loop (1 s interval)"
in_ns node "$LBCTL" node-bypass --director-ranges 10.0.1.200/29 --pod-ranges 10.244.0.0/16 \
    --backend iptables --interval 1 >/tmp/bypass.log 2>&1 &
# `in_ns ... &` forks a shell whose child is lbctl: signal lbctl itself, by the namespace's pids.
bypass_pids() { "$IP" netns pids node; }
wait_until 5 sh -c "[ -n \"\$($IP netns pids node)\" ]" || fail "node-bypass did not start"
first_forward() { in_ns node "$IPTABLES" -S FORWARD | sed -n 2p; }
wait_until 10 sh -c "$IP netns exec node $IPTABLES -S FORWARD | sed -n 2p | grep -q LBCTL-NODE-FORWARD" ||
    fail "our jump is not first: $(first_forward)"
assert_eq "pod" "$(http_get director 10.244.1.10 80)" "traffic director -> pod"

step "the CNI inserts itself first again; the loop puts us back"
# The loop may put us back before a read right after the insert (TCG is slow), so the proof is
# the final order: the CNI's two jumps are both there and ours is ahead of both, which only a
# re-assert after the second insert can produce.
assert_ok "CNI insert" in_ns node "$IPTABLES" -I FORWARD 1 -j cali-FORWARD
wait_until 10 sh -c "$IP netns exec node $IPTABLES -S FORWARD | sed -n 2p | grep -q LBCTL-NODE-FORWARD" ||
    fail "our jump was not re-asserted: $(first_forward)"
forward=$(in_ns node "$IPTABLES" -S FORWARD | sed 1d)
assert_eq "-A FORWARD -j LBCTL-NODE-FORWARD
-A FORWARD -j cali-FORWARD
-A FORWARD -j cali-FORWARD" "$forward" "FORWARD after the re-assert"
assert_eq "pod" "$(http_get director 10.244.1.10 80)" "traffic after the re-assert"
# pod_ct_entries: the node's conntrack entries towards the pod. A missing table is an error,
# not 0 (it would make the check below pass without conntrack at all).
pod_ct_entries() {
    in_ns node test -r /proc/net/nf_conntrack || fail "no /proc/net/nf_conntrack in the node namespace"
    in_ns node cat /proc/net/nf_conntrack | grep -c "dst=10.244.1.10 " || true
}
assert_eq 0 "$(pod_ct_entries)" "node conntrack entries for the pod"
kill -TERM $(bypass_pids)
wait_until 5 sh -c "[ -z \"\$($IP netns pids node)\" ]" || fail "node-bypass ignored SIGTERM"
cat /tmp/bypass.log

step "cleanup removes only ours"
assert_ok "node-bypass --cleanup" in_ns node "$LBCTL" node-bypass --cleanup --backend iptables
rules=$(in_ns node "$IPTABLES-save")
assert_not_contains "$rules" "LBCTL" "node rules after cleanup"
assert_contains "$rules" "-A FORWARD -j cali-FORWARD" "node rules after cleanup"

step "control: without our rules the same traffic is tracked"
# The CNI accepts the flow now (our FORWARD ACCEPT is gone); with our NOTRACK gone too, the
# node tracks it: the count above was 0 because of the NOTRACK, not because nothing is tracked.
assert_ok "accept forwarded traffic" in_ns node "$IPTABLES" -I FORWARD 1 -j ACCEPT
assert_eq "pod" "$(http_get director 10.244.1.10 80)" "traffic without node-bypass"
assert_ge 1 "$(pod_ct_entries)" "node conntrack entries for the pod without NOTRACK"
