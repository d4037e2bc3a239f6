#!/bin/sh
# 81-bgp-peers-aggregate (issue 14): the BGP announcer against two real routers at once, its
# aggregate mode as a router sees it, and BIRD mode feeding a real BIRD over BGP.
#
# 1. Two peers: one `lbctl run` with two [[bgp.peers]], BIRD 2 (AS 64513, namespace `router`)
#    and GoBGP (gobgpd, AS 64514, namespace `gobgp`). Both learn both VIPs (/32, next hop the
#    director's address on their link). A client behind the BIRD router (namespace `outside`,
#    192.168.30.2) reaches a VIP only along the route BIRD learned and installed in its
#    kernel. All real servers of the checked VIP fail their TCP check: its route is withdrawn at
#    BIRD and at GoBGP, the other VIP stays at both, both sessions stay up.
#    CONTROLS: before lbctl runs, neither router has a VIP route and the outside client's
#    connection fails (no route at the router); the unchecked VIP staying at both routers
#    shows the withdrawal is per VIP, not a session drop.
# 2. Aggregate mode: a SIGHUP switches [bgp.policy] to mode = "aggregate", ranges =
#    ["10.0.0.96/28"], require_healthy = true on the live sessions: BIRD and GoBGP show the /28
#    and neither /32, the outside client reaches the VIP through the /28 in BIRD's kernel
#    table. `lbctl withdraw --vip` of the last VIP still serving in the range (the checked one
#    is still failing) withdraws the /28 at both routers; `--undo --vip` brings it back.
#    CONTROLS: the same run before the SIGHUP (per_vip) showed the /32s and no /28 at both
#    routers; the /28 gone while no VIP in it can serve (require_healthy) and back after.
# 3. BIRD mode feeding a real BIRD: lbctl stops (withdrawing), the director starts its own BIRD
#    with a BGP session to the router's BIRD (same address and AS as the speaker had) and the
#    include file lbctl writes; `lbctl run` with [bgp] mode = "bird" writes the VIPs there and
#    reloads it, and the router learns them from the director's BIRD (AS path 64512, next hop
#    10.0.9.1) and forwards the outside client's traffic along that route. Health withdraws the
#    checked VIP at the router, the other stays; SIGTERM empties the include file and the
#    router loses the last route.
#    CONTROLS: with the director's BIRD session established but before lbctl runs, the router
#    has no VIP route (the routes are lbctl's doing); after lbctl's withdrawing stop, none.
# MUTATIONS seen to fail it (settings edits in this file, one run each): require_healthy =
# false -> "BIRD still has 10.0.0.96/28 with no VIP serving" (the pre-announce semantic);
# ranges = [RANGE, "VIP_PLAIN/32"] -> "BIRD still has 10.0.0.103/32 in aggregate mode";
# on_stop = "graceful_restart" in the BIRD-mode settings (include file left as is) -> "the
# router kept 10.0.0.103 after lbctl's withdrawing stop"; the same in the speaker settings
# (BIRD as graceful-restart helper) -> "BIRD kept 10.0.0.96/28 after lbctl stopped".
# Typical duration: 44 s in the VM, 51 s with the boot.
#
#   outside 192.168.30.2 -- 192.168.30.1 router (BIRD) 10.0.9.2 -- 10.0.9.1 director -- rs1, rs2
#                                              gobgp (GoBGP) 10.0.8.2 -- 10.0.8.1 director
# lab-needs: bird gobgpd
# lab-timeout: 240
# lab-mem: 1024
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/bird.sh
set -e

VIP_CHECKED=10.0.0.100
VIP_PLAIN=10.0.0.103
RANGE=10.0.0.96/28
CONTROL=/tmp/lbctl-81.sock
GOBGPD=/usr/local/bin/gobgpd
GOBGP=/usr/local/bin/gobgp
GOBGP_IP=10.0.8.2
DIRECTOR_GOBGP_IP=10.0.8.1
OUTSIDE_IP=192.168.30.2
T0=$(_lab_now)

topology_nat
for ns in rs1 rs2; do rs_echo "$ns" 7000; done
bird_router 81

step "a client behind the BIRD router"
ns_create outside
veth_pair outside o0 router ro0
in_ns outside "$IP" addr add "$OUTSIDE_IP/24" dev o0
in_ns outside "$IP" route add default via 192.168.30.1
in_ns router "$IP" addr add 192.168.30.1/24 dev ro0
sysctl_set router net.ipv4.ip_forward 1
# The director answers (NAT) towards the outside through the router.
in_ns director "$IP" route add 192.168.30.0/24 via "$ROUTER_IP"
wait_until 10 in_ns outside ping -c1 -W1 "$ROUTER_IP" || fail "outside cannot ping the router"

step "GoBGP (AS 64514, passive) linked to the director"
ns_create gobgp
veth_pair gobgp g0 director dg0
in_ns director "$IP" addr add "$DIRECTOR_GOBGP_IP/24" dev dg0
in_ns gobgp "$IP" addr add "$GOBGP_IP/24" dev g0
wait_until 10 in_ns gobgp ping -c1 -W1 "$DIRECTOR_GOBGP_IP" || fail "gobgp cannot ping the director"
cat >/tmp/gobgpd-81.toml <<EOS
[global.config]
  as = 64514
  router-id = "$GOBGP_IP"
  local-address-list = ["$GOBGP_IP"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$DIRECTOR_GOBGP_IP"
    peer-as = 64512
  [neighbors.transport.config]
    passive-mode = true
    local-address = "$GOBGP_IP"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
EOS
in_ns gobgp "$GOBGPD" -f /tmp/gobgpd-81.toml -p --pprof-disable --api-hosts=127.0.0.1:50051 \
    </dev/null >/tmp/gobgpd-81.log 2>&1 &
gobgp() { in_ns gobgp "$GOBGP" -u 127.0.0.1 -p 50051 "$@"; }
gobgp_rib() { gobgp global rib -a ipv4 2>&1; }
gobgp_has() { gobgp_rib | grep -qF " $1 "; }
gobgp_lacks() { ! gobgp_rib | grep -qF " $1 "; }
gobgp_established() { gobgp neighbor 2>&1 | grep -q "Establ"; }
wait_until 30 gobgp neighbor || fail "gobgp cannot reach gobgpd: $(tail -3 /tmp/gobgpd-81.log | tr '\n' ' ')"

# BIRD side (bird.sh: routes, has_route VIP, no_route VIP for /32s; these for any prefix).
bird_has() { routes | grep -q "^$1 "; }
bird_lacks() { ! routes | grep -q "^$1 "; }
# reach NS VIP: the greeting of an echo real server at VIP:7000 from NS (empty if none).
reach() { echo | in_ns "$1" timeout 5 nc -w 3 "$2" 7000 2>/dev/null | head -1; }
reached() { case "$(reach outside "$1")" in rs1 | rs2) return 0 ;; esac; return 1; }

step "control: before lbctl runs no router has a VIP route, the outside client gets nowhere"
for vip in "$VIP_CHECKED" "$VIP_PLAIN"; do
    no_route "$vip" || fail "control: BIRD has $vip before lbctl runs"
    gobgp_lacks "$vip/32" || fail "control: GoBGP has $vip before lbctl runs"
done
greeting=$(reach outside "$VIP_PLAIN")
[ -z "$greeting" ] || fail "control: the outside client reached $VIP_PLAIN without a route: '$greeting'"
log "ok: control: no VIP route at BIRD or GoBGP, the outside client cannot reach $VIP_PLAIN"

step "lbctl run with two [[bgp.peers]]: BIRD and GoBGP"
cat >/tmp/settings-81.toml <<EOS
$(daemon_settings_head)

$(bgp_settings_head)
restart_marker = "/tmp/lbctl-81-restart-marker"
withdraw_file = "/tmp/lbctl-81-withdrawn"
graceful_shutdown = { tag_community = false, wait_ms = 500 }

$(bgp_peer_toml "$ROUTER_IP" 64513 "$DIRECTOR_ROUTER_IP")

$(bgp_peer_toml "$GOBGP_IP" 64514 "$DIRECTOR_GOBGP_IP")

[bgp.policy]
announce_at = 1
withdraw_below = 1
hold_down_ms = 1000
EOS
write_configmap /tmp/cm-81.yaml <<EOS
$VIP_CHECKED-7000: $RS1_IP:7000, $RS2_IP:7000; check=tcp; check-port=80; check-interval=1; check-timeout=1; check-rise=1; check-fall=1
$VIP_PLAIN-7000: $RS1_IP:7000
EOS
run_log() { tail -5 "$1" | tr '\n' '|'; }
lbctl_running() { [ -n "$(lbctl_pid)" ]; }
in_ns director "$LBCTL" run --settings /tmp/settings-81.toml --config-file /tmp/cm-81.yaml \
    --log info >/tmp/lbctl-run-81.log 2>&1 &
wait_until 10 lbctl_running || fail "lbctl run did not start: $(run_log /tmp/lbctl-run-81.log)"
LBCTL_PID=$(lbctl_pid | head -1)
wait_until 30 established || fail "BIRD session not established: $(run_log /tmp/lbctl-run-81.log)"
wait_until 30 gobgp_established ||
    fail "GoBGP session not established: $(gobgp neighbor 2>&1 | tr '\n' ' ') lbctl: $(run_log /tmp/lbctl-run-81.log)"
for vip in "$VIP_CHECKED" "$VIP_PLAIN"; do
    wait_until 30 has_route "$vip" || fail "BIRD did not learn $vip: $(routes | tr '\n' ' ')"
    wait_until 15 gobgp_has "$vip/32" || fail "GoBGP did not learn $vip: $(gobgp_rib | tr '\n' ' ')"
done
echo "--- BIRD:"; routes
echo "--- GoBGP:"; gobgp_rib
assert_contains "$(routes | sed -n "/^$VIP_PLAIN\/32 /,/^[0-9]/p")" "BGP.next_hop: $DIRECTOR_ROUTER_IP" "BIRD's route of $VIP_PLAIN"
gobgp_line=$(gobgp_rib | grep -F " $VIP_PLAIN/32 ")
assert_contains "$gobgp_line" "$DIRECTOR_GOBGP_IP" "GoBGP's route of $VIP_PLAIN (next hop)"
assert_contains "$gobgp_line" "64512" "GoBGP's route of $VIP_PLAIN (AS path)"
# The control of the aggregate checks below: per VIP, no range is announced.
bird_lacks "$RANGE" || fail "BIRD has $RANGE in per_vip mode"
gobgp_lacks "$RANGE" || fail "GoBGP has $RANGE in per_vip mode"
status=$(in_ns director "$LBCTL" status --address 127.0.0.1:9469 || true)
echo "$status" | grep "bgp\|peer" || true
assert_contains "$status" "peer $ROUTER_IP AS64513  established" "lbctl status"
assert_contains "$status" "peer $GOBGP_IP AS64514  established" "lbctl status"
log "ok: BIRD and GoBGP both learned $VIP_CHECKED/32 and $VIP_PLAIN/32 from one lbctl"

step "traffic from the outside follows BIRD's route to the VIP"
kernel_route() { in_ns router "$IP" route show "$1" | grep -q "via $DIRECTOR_ROUTER_IP"; }
wait_until 10 kernel_route "$VIP_PLAIN" ||
    fail "BIRD did not install $VIP_PLAIN in the router's kernel: $(in_ns router "$IP" route | tr '\n' ' ')"
wait_until 10 reached "$VIP_PLAIN" || fail "the outside client did not reach $VIP_PLAIN:7000 through the router"
log "ok: outside -> router (BGP route) -> director -> $(reach outside "$VIP_PLAIN")"

step "every real server of $VIP_CHECKED fails its check: withdrawn at BIRD and at GoBGP"
kill_httpd() {
    for ns in rs1 rs2; do
        for pid in $("$IP" netns pids "$ns"); do
            [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = httpd ] && kill "$pid"
        done
    done
    true
}
kill_httpd
start=$(_lab_now)
wait_until 15 no_route "$VIP_CHECKED" || fail "BIRD still has $VIP_CHECKED: $(routes | tr '\n' ' ')"
wait_until 10 gobgp_lacks "$VIP_CHECKED/32" || fail "GoBGP still has $VIP_CHECKED: $(gobgp_rib | tr '\n' ' ')"
log "ok: $VIP_CHECKED withdrawn at both routers after about $(($(_lab_now) - start)) s"
has_route "$VIP_PLAIN" || fail "BIRD lost $VIP_PLAIN (unchecked) too"
gobgp_has "$VIP_PLAIN/32" || fail "GoBGP lost $VIP_PLAIN (unchecked) too"
established || fail "the BIRD session went down on a health change"
gobgp_established || fail "the GoBGP session went down on a health change"
log "ok: control: $VIP_PLAIN stays at both routers, both sessions up"

step "SIGHUP: aggregate mode ($RANGE, require_healthy) on the live sessions"
cat >>/tmp/settings-81.toml <<EOS
mode = "aggregate"
ranges = ["$RANGE"]
require_healthy = true
EOS
kill -HUP "$LBCTL_PID"
wait_until 15 bird_has "$RANGE" || fail "BIRD did not get $RANGE: $(routes | tr '\n' ' ') lbctl: $(run_log /tmp/lbctl-run-81.log)"
wait_until 10 no_route "$VIP_PLAIN" || fail "BIRD still has $VIP_PLAIN/32 in aggregate mode"
wait_until 10 gobgp_has "$RANGE" || fail "GoBGP did not get $RANGE: $(gobgp_rib | tr '\n' ' ')"
wait_until 10 gobgp_lacks "$VIP_PLAIN/32" || fail "GoBGP still has $VIP_PLAIN/32 in aggregate mode"
echo "--- BIRD:"; routes
echo "--- GoBGP:"; gobgp_rib
[ -z "$(routes | grep '/32 ')" ] || fail "BIRD still has a /32 in aggregate mode: $(routes | tr '\n' ' ')"
established || fail "the BIRD session went down on the SIGHUP"
gobgp_established || fail "the GoBGP session went down on the SIGHUP"
log "ok: BIRD and GoBGP show $RANGE and no /32 (control: /32s and no $RANGE before the SIGHUP)"
wait_until 10 kernel_route "$RANGE" || fail "BIRD did not install $RANGE: $(in_ns router "$IP" route | tr '\n' ' ')"
wait_until 10 reached "$VIP_PLAIN" || fail "the outside client did not reach $VIP_PLAIN through $RANGE"
log "ok: outside -> router ($RANGE) -> director -> $(reach outside "$VIP_PLAIN")"

step "require_healthy: no VIP in $RANGE can serve -> the aggregate is withdrawn"
out=$(in_ns director "$LBCTL" withdraw --vip "$VIP_PLAIN" --socket "$CONTROL" 2>&1) ||
    fail "lbctl withdraw --vip failed: $out"
echo "$out"
wait_until 10 bird_lacks "$RANGE" || fail "BIRD still has $RANGE with no VIP serving: $(routes | tr '\n' ' ')"
wait_until 10 gobgp_lacks "$RANGE" || fail "GoBGP still has $RANGE with no VIP serving"
log "ok: $RANGE withdrawn at both routers ($VIP_CHECKED failing, $VIP_PLAIN withdrawn)"
out=$(in_ns director "$LBCTL" withdraw --undo --vip "$VIP_PLAIN" --socket "$CONTROL" 2>&1) ||
    fail "lbctl withdraw --undo --vip failed: $out"
wait_until 10 bird_has "$RANGE" || fail "BIRD did not get $RANGE back: $(routes | tr '\n' ' ')"
wait_until 10 gobgp_has "$RANGE" || fail "GoBGP did not get $RANGE back"
log "ok: control: $RANGE back at both routers once $VIP_PLAIN may serve again"

step "lbctl stops (withdrawing): no route left at either router"
stop_lbctl_run
wait_until 10 bird_lacks "$RANGE" || fail "BIRD kept $RANGE after lbctl stopped"
wait_until 10 gobgp_lacks "$RANGE" || fail "GoBGP kept $RANGE after lbctl stopped"

step "BIRD mode: the director's own BIRD with a BGP session to the router"
for ns in rs1 rs2; do rs_http "$ns" 80 "$ns"; done
: >/tmp/bird-vips-81.conf
cat >/tmp/bird-81-d.conf <<EOS
log "/tmp/bird-81-d.log" all;
router id $DIRECTOR_ROUTER_IP;
protocol device { scan time 2; }
# lbctl's include file: one static protocol with the VIP routes (blackhole here).
include "/tmp/bird-vips-81.conf";
protocol bgp uplink {
    local $DIRECTOR_ROUTER_IP as 64512;
    neighbor $ROUTER_IP as 64513;
    hold time 9;
    connect delay time 1;
    connect retry time 2;
    error wait time 1, 4;
    ipv4 { import none; export where source = RTS_STATIC; };
}
EOS
in_ns director "$BIRD" -c /tmp/bird-81-d.conf -s /tmp/bird-81-d.ctl -P /tmp/bird-81-d.pid ||
    fail "the director's bird did not start: $(tail -3 /tmp/bird-81-d.log 2>/dev/null | tr '\n' ' ')"
dbirdc() { in_ns director "$BIRDC" -s /tmp/bird-81-d.ctl "$@"; }
wait_until 40 established ||
    fail "the router's session to the director's BIRD is not up: $(birdc show protocols director | tr '\n' ' ') director: $(dbirdc show protocols uplink | tr '\n' ' ')"
for vip in "$VIP_CHECKED" "$VIP_PLAIN"; do
    no_route "$vip" || fail "control: the router has $vip from the director's BIRD before lbctl runs"
done
bird_lacks "$RANGE" || fail "control: the router has $RANGE before lbctl runs"
log "ok: control: session to the director's BIRD up, no VIP route before lbctl runs"

step "lbctl run in BIRD mode: the router learns the VIPs from the director's BIRD"
cat >/tmp/settings-81-bird.toml <<EOS
$(daemon_settings_head)

[http]
control_socket = "$CONTROL"

[bgp]
enabled = true
mode = "bird"
withdraw_file = "/tmp/lbctl-81-withdrawn"

[bgp.policy]
hold_down_ms = 1000

[bgp.bird]
path = "/tmp/bird-vips-81.conf"
birdc = "$BIRDC"
socket = "/tmp/bird-81-d.ctl"
EOS
in_ns director "$LBCTL" run --settings /tmp/settings-81-bird.toml --config-file /tmp/cm-81.yaml \
    --log info >/tmp/lbctl-run-81-bird.log 2>&1 &
wait_until 10 lbctl_running || fail "lbctl run (BIRD mode) did not start: $(run_log /tmp/lbctl-run-81-bird.log)"
LBCTL_PID=$(lbctl_pid | head -1)
for vip in "$VIP_CHECKED" "$VIP_PLAIN"; do
    wait_until 30 has_route "$vip" ||
        fail "the router did not learn $vip: $(routes | tr '\n' ' ') include: $(tr '\n' ' ' </tmp/bird-vips-81.conf) lbctl: $(run_log /tmp/lbctl-run-81-bird.log)"
done
echo "--- include file:"; cat /tmp/bird-vips-81.conf
echo "--- router:"; routes
plain_route=$(routes | sed -n "/^$VIP_PLAIN\/32 /,/^[0-9]/p")
assert_contains "$plain_route" "BGP.next_hop: $DIRECTOR_ROUTER_IP" "router's route of $VIP_PLAIN"
assert_contains "$plain_route" "BGP.as_path: 64512" "router's route of $VIP_PLAIN"
assert_contains "$(dbirdc show route protocol lb_vips_ipv4)" "$VIP_PLAIN/32" "the director BIRD's static protocol"
wait_until 10 kernel_route "$VIP_PLAIN" ||
    fail "the router did not install $VIP_PLAIN: $(in_ns router "$IP" route | tr '\n' ' ')"
wait_until 10 reached "$VIP_PLAIN" || fail "the outside client did not reach $VIP_PLAIN through the BIRD-mode route"
log "ok: lbctl -> include file -> director BIRD -> BGP -> router BIRD -> outside reaches $(reach outside "$VIP_PLAIN")"

step "BIRD mode: health withdraws $VIP_CHECKED at the router, $VIP_PLAIN stays"
kill_httpd
wait_until 15 no_route "$VIP_CHECKED" || fail "the router still has $VIP_CHECKED: $(routes | tr '\n' ' ') include: $(tr '\n' ' ' </tmp/bird-vips-81.conf)"
has_route "$VIP_PLAIN" || fail "the router lost $VIP_PLAIN too"
assert_not_contains "$(cat /tmp/bird-vips-81.conf)" "$VIP_CHECKED/32" "include file"
log "ok: $VIP_CHECKED withdrawn at the router through the director's BIRD"

step "BIRD mode: SIGTERM empties the include file, the router loses the route"
stop_lbctl_run
wait_until 10 no_route "$VIP_PLAIN" || fail "the router kept $VIP_PLAIN after lbctl's withdrawing stop"
assert_not_contains "$(cat /tmp/bird-vips-81.conf)" "/32" "include file after SIGTERM"
established || fail "the session between the BIRDs dropped"
log "ok: control: no VIP route at the router after lbctl withdrew"
kill "$(cat /tmp/bird-81-d.pid)" 2>/dev/null || true
kill "$(cat /tmp/bird-81.pid)" 2>/dev/null || true
log "scenario time: $(($(_lab_now) - T0)) s"
