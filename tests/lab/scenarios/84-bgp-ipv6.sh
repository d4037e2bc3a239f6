#!/bin/sh
# 84-bgp-ipv6 (issues 6 and 14): a v6 VIP announced over BGP becomes a route at a real BIRD 2
# and carries traffic. `lbctl run` (file mode) programs a NAT service on the v6 VIP
# 2001:db8:100::10 (rs1, rs2 as in 79) and announces 2001:db8:100::10/128 to BIRD in the
# router namespace. Session type: the one docs/bgp.md documents, IPv6 routes over the IPv4
# session (MP-BGP, MP_REACH_NLRI) with `next_hop_v6` = the director's v6 address on the
# router link; BIRD has an ipv4 and an ipv6 channel on that session and exports master6 into
# the router's kernel table. Nothing else routes the VIP: the router has no static route (and
# no default route), the client's only route is its default via the router, so a client
# answer can only come along the route BIRD learned:
#
#   client 2001:db8:c::2 --- 2001:db8:c::1 router (BIRD, AS 64513)  10.0.9.2 + 2001:db8:9::2 (r0)
#     (default via the router)                                         |  BGP over IPv4
#   rs1 2001:db8:1::11 ---+--- 2001:db8:1::1 (br0) director (AS 64512)  10.0.9.1 + 2001:db8:9::1 (dr0)
#   rs2 2001:db8:1::12 ---+          lbvip0: 2001:db8:100::10/128 (lbctl; default via the router)
#
# Checks, each with the control that makes it fail:
# 1. Before lbctl runs: BIRD has no v6 route, the router's kernel has no route to the VIP and
#    the client gets no answer, while the client does reach the director's 2001:db8:9::1
#    through the router (so the path is there and only the VIP route is missing).
# 2. Control "not announced" (lbctl running, the IPVS service programmed, the session up):
#    the same peer without `next_hop_v6` carries no v6 route (docs: required for IPv6 routes
#    over an IPv4 session): `lbctl status` says "announcing 1 prefix(es)" but the peer line
#    "0 prefix(es)" with "NOT announced to this peer: 2001:db8:100::10/128 (... needs
#    next_hop_v6 ...)", the log warns once, BIRD has no route and the client gets no answer.
#    This is the control that makes checks 3 and 4 fail when the route is missing; check 3's
#    "no NOT announced line, no warning" has this step as its control. (Before this scenario
#    lbctl dropped such a prefix silently; the peer's prefix count was the only sign.)
# 3. With `next_hop_v6`: BIRD shows 2001:db8:100::10/128 `via 2001:db8:9::1 on r0` with
#    `BGP.next_hop: 2001:db8:9::1` and AS path 64512; the router's kernel has the /128 via
#    2001:db8:9::1 (proto bird); the peer line says 1 prefix.
# 4. Traffic along the route: 6 requests from the client are answered 3/3 by rs1 and rs2, the
#    service's IPVS conns and inpkts move by >= 6 (rs1 and rs2 >= 3 each).
# 5. Control "withdrawn" (`lbctl withdraw --vip` with the v6 VIP): BIRD's route and the kernel
#    route go, the session and the IPVS service stay, the client gets no answer; `--undo
#    --vip` brings route and answers back (after hold_down_ms).
# 6. Control "withdrawing stop" (SIGTERM, on_stop = "withdraw"): BIRD's route and the kernel
#    route go, the IPVS table stays exactly as it was, the client gets no answer.
# Typical duration: 27 s in the VM, 32 s with the boot (on a host busy with another CI run).
# lab-needs: bird
# lab-timeout: 180
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/bird.sh
set -e

VIP6=2001:db8:100::10
V6_RANGE=2001:db8:100::/120
V6_CLIENT=2001:db8:c::2
V6_ROUTER_CLIENT=2001:db8:c::1
V6_ROUTER=2001:db8:9::2
V6_DIR_ROUTER=2001:db8:9::1
V6_DIR_SERVER=2001:db8:1::1
V6_RS1=2001:db8:1::11
V6_RS2=2001:db8:1::12
CONTROL=/tmp/lbctl-84.sock
SETTINGS=/tmp/settings-84.toml
CM=/tmp/cm-84.yaml
RUN_LOG=/tmp/lbctl-run-84.log
T0=$(_lab_now)

# --- helpers (kept here: lib.sh and bird.sh are shared) --------------------------------------

# BIRD's v6 table and the VIP's block in it.
routes6() { birdc show route all table master6 2>&1; }
vip_block() { routes6 | sed -n "/^$VIP6\/128 /,/^[0-9a-f]*:/p"; }
bird_has_vip() { routes6 | grep -q "^$VIP6/128 "; }
bird_lacks_vip() { ! routes6 | grep -q "^$VIP6/128 "; }
# The router's kernel route to the VIP (installed by BIRD, nothing else).
kroute() { in_ns router "$IP" -6 route show "$VIP6/128"; }
kernel_has_vip() { kroute | grep -q "via $V6_DIR_ROUTER dev r0"; }
kernel_lacks_vip() { [ -z "$(kroute)" ]; }
# answers6 COUNT / no_answer6 WHAT: lib.sh's answers/no_answer, from the client to the VIP.
answers6() { answers "$VIP6" "$1"; }
no_answer6() { no_answer "$VIP6" "$1"; }
lbctl_running() { [ -n "$(lbctl_pid)" ]; }
run_log() { tail -5 "$RUN_LOG" | tr '\n' '|'; }
status() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 2>&1; }
peer_prefixes() { status | grep -q "peer $ROUTER_IP AS64513  established  $1 prefix(es)"; }
announcing_vip() { status | grep -q "bgp (speaker): announcing 1 prefix(es): $VIP6/128"; }
bird_state() { birdc show protocols all director 2>&1 | tr '\n' ' ' | cut -c1-400; }
# write_settings [NEXT_HOP_V6]: lbctl's settings, the peer with next_hop_v6 when given.
write_settings() {
    cat >"$SETTINGS" <<EOS
managed_vip_ranges = ["$V6_RANGE"]
vip_interface = "lbvip0"
state_file = "/tmp/lbctl-state.json"
listen_address = "127.0.0.1:9469"
resync_period_secs = 2
netfilter_backend = "none"

$(bgp_settings_head)
on_stop = "withdraw"
restart_marker = "/tmp/lbctl-84-restart-marker"
withdraw_file = "/tmp/lbctl-84-withdrawn"
graceful_shutdown = { tag_community = false, wait_ms = 500 }

$(bgp_peer_toml "$ROUTER_IP" 64513 "$DIRECTOR_ROUTER_IP")
$([ -z "$1" ] || echo "next_hop_v6 = \"$1\"")

[bgp.policy]
announce_at = 1
withdraw_below = 1
hold_down_ms = 1000
EOS
}
start_lbctl() {
    in_ns director "$LBCTL" run --settings "$SETTINGS" --config-file "$CM" --log info \
        >"$RUN_LOG" 2>&1 &
    wait_until 10 lbctl_running || fail "lbctl run did not start: $(run_log)"
    wait_until 30 established || fail "BGP session not established: $(bird_state) lbctl: $(run_log)"
}

# --- topology --------------------------------------------------------------------------------

step "v6 topology: client -> router -> director (bridge br0) -> rs1, rs2"
for ns in client router director rs1 rs2; do ns6 "$ns"; done
veth_pair client c0 router rc0
in_ns client "$IP" -6 addr add "$V6_CLIENT/64" dev c0 nodad
in_ns client "$IP" -6 route add default via "$V6_ROUTER_CLIENT"
in_ns router "$IP" -6 addr add "$V6_ROUTER_CLIENT/64" dev rc0 nodad
veth_pair router r0 director dr0
in_ns router "$IP" addr add "$ROUTER_IP/24" dev r0
in_ns router "$IP" -6 addr add "$V6_ROUTER/64" dev r0 nodad
in_ns director "$IP" addr add "$DIRECTOR_ROUTER_IP/24" dev dr0
in_ns director "$IP" -6 addr add "$V6_DIR_ROUTER/64" dev dr0 nodad
# The director answers (NAT) towards the client through the router.
in_ns director "$IP" -6 route add default via "$V6_ROUTER"
sysctl_set router net.ipv6.conf.all.forwarding 1
sysctl_set director net.ipv6.conf.all.forwarding 1
# No multicast snooping: NDP's multicast must reach every port without an MLD querier.
in_ns director "$IP" link add br0 type bridge mcast_snooping 0
in_ns director "$IP" link set br0 up
in_ns director "$IP" -6 addr add "$V6_DIR_SERVER/64" dev br0 nodad
rs_attach6 rs1 "$V6_RS1"
rs_attach6 rs2 "$V6_RS2"
for addr in "$V6_RS1" "$V6_RS2"; do
    wait_until 15 in_ns director ping -6 -c1 -W1 "$addr" || fail "director cannot ping $addr"
done
wait_until 10 in_ns router ping -c1 -W1 "$DIRECTOR_ROUTER_IP" || fail "router cannot ping the director (v4)"
wait_until 10 in_ns client ping -6 -c1 -W1 "$V6_DIR_ROUTER" ||
    fail "the client cannot ping the director's $V6_DIR_ROUTER through the router"
log "ok: client -> router -> director ($V6_DIR_ROUTER) works without any VIP route"
for ns in rs1 rs2; do rs_http "$ns" 80 "$ns"; done
for addr in "$V6_RS1" "$V6_RS2"; do
    wait_until 10 http_get director "$addr" 80 || fail "httpd on [$addr]:80 does not answer"
done
client_routes=$(in_ns client "$IP" -6 route)
echo "$client_routes"
assert_not_contains "$client_routes" "2001:db8:100" "the client's routes (only the default via the router)"

step "router namespace with BIRD 2 (AS 64513, passive; ipv4 + ipv6 channels on one IPv4 session)"
bird_start 84 ipv6

write_configmap "$CM" <<EOF
2001_db8_100__10-80: "[$V6_RS1]:80, [$V6_RS2]:80; method=nat"
EOF
cat "$CM"

# --- 1. before lbctl runs --------------------------------------------------------------------

step "control: before lbctl runs the router has no route to $VIP6, the client gets no answer"
bird_lacks_vip || fail "control: BIRD has $VIP6 before lbctl runs: $(routes6 | tr '\n' ' ')"
kernel_lacks_vip || fail "control: the router's kernel has a route to $VIP6: $(kroute)"
if in_ns router "$IP" -6 route get "$VIP6" >/dev/null 2>&1; then
    fail "control: the router can route $VIP6 before lbctl runs: $(in_ns router "$IP" -6 route get "$VIP6")"
fi
no_answer6 "no route at the router before lbctl runs"

# --- 2. running, programmed, but not announced (no next_hop_v6) ------------------------------

step "control: lbctl run without next_hop_v6: service programmed, session up, no v6 route"
write_settings
start_lbctl
wait_until 30 announcing_vip || fail "lbctl does not announce $VIP6: $(status | tr '\n' ' ') lbctl: $(run_log)"
wait_until 10 peer_prefixes 0 || fail "peer line not at 0 prefixes: $(status | tr '\n' ' ')"
status | grep "bgp\|peer" || true
# lbctl names the prefix it cannot send and the setting (it used to drop it silently).
assert_contains "$(status)" "NOT announced to this peer: $VIP6/128 (no IPv6 next hop: an IPv6 prefix over an IPv4 session needs next_hop_v6 for this peer)" "lbctl status"
assert_contains "$(cat "$RUN_LOG")" "a VIP is not announced to this BGP peer" "lbctl run's log"
assert_contains "$(ipvs_rules director)" "-A -t [$VIP6]:80 -s rr" "ipvsadm -Sn (service programmed)"
assert_contains "$(in_ns director "$IP" -6 addr show dev lbvip0)" "inet6 $VIP6/128" "lbvip0 addresses"
sleep 1
bird_lacks_vip || fail "BIRD has $VIP6 from a peer without next_hop_v6: $(vip_block | tr '\n' ' ')"
kernel_lacks_vip || fail "the router's kernel has $VIP6 from a peer without next_hop_v6: $(kroute)"
no_answer6 "IPVS serves the VIP but it is not announced (no next_hop_v6)"
stop_lbctl_run

# --- 3. announced with next_hop_v6 -----------------------------------------------------------

step "lbctl run with next_hop_v6 = $V6_DIR_ROUTER: BIRD learns $VIP6/128"
write_settings "$V6_DIR_ROUTER"
grep -n "next_hop_v6" "$SETTINGS"
start_lbctl
start=$(_lab_now)
wait_until 30 bird_has_vip ||
    fail "BIRD did not learn $VIP6/128: $(routes6 | tr '\n' ' ') bird: $(tail -3 /tmp/bird-84.log | tr '\n' ' ') lbctl: $(run_log)"
log "BIRD has the route about $(($(_lab_now) - start)) s after the start"
block=$(vip_block)
echo "$block"
assert_contains "$block" "via $V6_DIR_ROUTER on r0" "BIRD's route of $VIP6"
assert_contains "$block" "BGP.next_hop: $V6_DIR_ROUTER" "BIRD's route of $VIP6"
assert_contains "$block" "BGP.as_path: 64512" "BIRD's route of $VIP6"
wait_until 10 peer_prefixes 1 || fail "peer line not at 1 prefix: $(status | tr '\n' ' ')"
assert_not_contains "$(status)" "NOT announced" "lbctl status with next_hop_v6"
assert_not_contains "$(cat "$RUN_LOG")" "a VIP is not announced to this BGP peer" "lbctl run's log with next_hop_v6"
wait_until 10 kernel_has_vip || fail "BIRD did not install $VIP6 in the router's kernel: $(in_ns router "$IP" -6 route | tr '\n' ' ')"
kroute
assert_contains "$(kroute)" "proto bird" "the router's kernel route to $VIP6"

# --- 4. traffic along the route --------------------------------------------------------------

step "traffic: client -> router (BGP route) -> director (IPVS NAT) -> rs1/rs2"
answers6 6
wait_ipvs_stat 10 6 director "[$VIP6]:80" ||
    fail "service conns stayed at '$(ipvs_stat director "[$VIP6]:80")', expected >= 6"
in_ns director "$IPVSADM" -Ln --stats --exact -t "[$VIP6]:80"
assert_ge 3 "$(ipvs_stat director "[$VIP6]:80" "[$V6_RS1]:80")" "rs1 conns"
assert_ge 3 "$(ipvs_stat director "[$VIP6]:80" "[$V6_RS2]:80")" "rs2 conns"
assert_ge 6 "$(ipvs_stat director "[$VIP6]:80" - inpkts)" "service inpkts"

# --- 5. lbctl withdraw --vip -----------------------------------------------------------------

step "control: lbctl withdraw --vip $VIP6: the route goes, the service stays, no answer"
out=$(in_ns director "$LBCTL" withdraw --vip "$VIP6" --socket "$CONTROL" 2>&1) ||
    fail "lbctl withdraw --vip $VIP6 failed: $out"
echo "$out"
assert_contains "$out" "withdrawn VIPs (lbctl withdraw --vip): $VIP6" "lbctl withdraw --vip"
wait_until 10 bird_lacks_vip || fail "BIRD still has $VIP6 after lbctl withdraw --vip: $(vip_block | tr '\n' ' ')"
wait_until 10 kernel_lacks_vip || fail "the router's kernel kept $VIP6 after the withdrawal: $(kroute)"
established || fail "the session went down on a per-VIP withdrawal"
assert_contains "$(ipvs_rules director)" "-A -t [$VIP6]:80 -s rr" "ipvsadm -Sn while withdrawn"
no_answer6 "$VIP6 withdrawn, IPVS still serving it"
out=$(in_ns director "$LBCTL" withdraw --undo --vip "$VIP6" --socket "$CONTROL" 2>&1) ||
    fail "lbctl withdraw --undo --vip $VIP6 failed: $out"
wait_until 10 bird_has_vip || fail "--undo --vip did not bring $VIP6 back to BIRD"
wait_until 10 kernel_has_vip || fail "--undo --vip: no kernel route to $VIP6 at the router"
answers6 2
log "ok: route and answers back after --undo --vip"

# --- 6. withdrawing stop ---------------------------------------------------------------------

step "control: SIGTERM (on_stop = withdraw): the route goes, IPVS stays, no answer"
before=$(ipvs_rules director)
stop_lbctl_run
wait_until 10 bird_lacks_vip || fail "BIRD kept $VIP6 after lbctl's withdrawing stop"
wait_until 10 kernel_lacks_vip || fail "the router's kernel kept $VIP6 after lbctl's withdrawing stop: $(kroute)"
assert_eq "$before" "$(ipvs_rules director)" "IPVS table after the withdrawing stop"
no_answer6 "lbctl stopped and withdrew $VIP6 (IPVS table unchanged)"
kill "$(cat /tmp/bird-84.pid)" 2>/dev/null || true
log "scenario time: $(($(_lab_now) - T0)) s"
