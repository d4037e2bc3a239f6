#!/bin/sh
# 72-ospf-bird-mode (issue 12): the design's routing, OSPF through BIRD mode. Two directors
# run `lbctl run` with `[bgp] mode = "bird"`: lbctl writes the VIP into a BIRD include file
# and reloads the director's own BIRD, which exports it into OSPF. The router (BIRD, OSPF,
# `ecmp yes` and `merge external yes`, kernel `merge paths`, L4 multipath hashing) learns the VIP with both directors
# as next hops and spreads client connections over them. DR, `mh` and `[failover]
# sloppy_tcp`: when director A dies (SIGKILL of lbctl and BIRD, link down), OSPF's dead
# interval (3 s) moves the route to B, and long-lived connections that went through A keep
# working through B; new connections succeed. Then A comes back and the same failure is
# repeated with BFD (BIRD's, 200 ms x 3) watching the OSPF neighbours: the route moves in well
# under a second. The time from each kill until the router's route changes is printed (last
# runs: 3.4 s with the dead interval, 0.4 s with BFD). Controls: BFD must beat 2.5 s, or its
# setup is not in effect (the test failed that way while the router's LSA was held back by
# OSPF's 5 s MinLSInterval after A's return); before lbctl runs, the router has no route for the VIP (the
# route is lbctl's doing); after the kill the route has one next hop (the two-next-hop check
# tells them apart); a stream through A is required (retried with new streams) so the
# survival check is not vacuous. Typical duration: 60 s under TCG.
#
#   client 192.168.20.2 -- router 192.168.20.1 / 10.0.2.254 --(lan)--+-- A 10.0.2.1  (lbctl + BIRD)
#                                                                      +-- B 10.0.2.2  (lbctl + BIRD)
#                                                                      +-- rs1 10.0.2.11, rs2 10.0.2.12
# lab-needs: bird
# lab-timeout: 300
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

BIRD=/usr/local/bin/bird
BIRDC=/usr/local/bin/birdc
VIP=10.0.0.100

step "topology: client, router, LAN with two directors and two real servers"
for ns in client router sw dA dB rs1 rs2; do ns_create "$ns"; done
veth_pair client c0 router rc0
in_ns client "$IP" addr add 192.168.20.2/24 dev c0
in_ns client "$IP" route add default via 192.168.20.1
in_ns router "$IP" addr add 192.168.20.1/24 dev rc0
in_ns sw "$IP" link add lan type bridge
in_ns sw "$IP" link set lan up
lan_port() { # lan_port NS IF ADDR
    veth_pair "$1" "$2" sw "$1-$2"
    in_ns sw "$IP" link set "$1-$2" master lan
    in_ns "$1" "$IP" addr add "$3/24" dev "$2"
}
lan_port router rl0 10.0.2.254
lan_port dA a0 10.0.2.1
lan_port dB b0 10.0.2.2
lan_port rs1 eth0 10.0.2.11
lan_port rs2 eth0 10.0.2.12
sysctl_set router net.ipv4.ip_forward 1
sysctl_set router net.ipv4.fib_multipath_hash_policy 1
for rs in rs1 rs2; do
    in_ns "$rs" "$IP" route add default via 10.0.2.254
    rs_vip_dr "$rs" "$VIP"
    rs_http "$rs" 80 "$rs"
    rs_echo "$rs" 7000
done
wait_until 15 in_ns router ping -c1 -W1 10.0.2.11 || fail "router cannot reach rs1"
wait_until 15 in_ns dB ping -c1 -W1 10.0.2.12 || fail "B cannot reach rs2"

step "BIRD with OSPF on the router and both directors"
# BFD_MS: empty, or the BFD interval in ms (detection after three missed packets); the OSPF
# interfaces then ask BFD to watch their neighbours.
BFD_MS=
bird_conf() { # bird_conf NAME ROUTER-ID IFACE EXTRA-PROTOCOLS OSPF-CHANNEL
    cat <<EOF
log "/tmp/bird-72-$1.log" all;
debug protocols { states, events };
router id $2;
protocol device { scan time 1; }
$4
EOF
    if [ -n "$BFD_MS" ]; then
        echo "protocol bfd { interface \"$3\" { interval $BFD_MS ms; multiplier 3; }; }"
    fi
    cat <<EOF
protocol ospf v2 lan {
    ecmp yes;
    merge external yes;
    ipv4 { $5 };
    area 0 {
        interface "$3" { type broadcast; hello 1; dead 3; wait 2; $([ -n "$BFD_MS" ] && echo "bfd yes;") };
    };
}
EOF
}
write_confs() {
    # The router installs what OSPF learns, several next hops as one multipath route.
    bird_conf R 10.0.2.254 rl0 \
        'protocol kernel { merge paths yes; ipv4 { import none; export all; }; }' \
        'import all; export none;' >/tmp/bird-72-R.conf
    for d in A:10.0.2.1:a0 B:10.0.2.2:b0; do
        name=${d%%:*}; rest=${d#*:}; id=${rest%%:*}; ifc=${rest#*:}
        # The include file is lbctl's: its static protocols are what OSPF exports.
        bird_conf "$name" "$id" "$ifc" "include \"/tmp/bird-vips-$name.conf\";" \
            'import none; export where source = RTS_STATIC;' >"/tmp/bird-72-$name.conf"
    done
}
: >/tmp/bird-vips-A.conf
: >/tmp/bird-vips-B.conf
write_confs
bird_start() { # bird_start NAME NS
    in_ns "$2" "$BIRD" -c "/tmp/bird-72-$1.conf" -s "/tmp/bird-72-$1.ctl" -P "/tmp/bird-72-$1.pid" ||
        fail "bird $1 did not start: $(tail -3 "/tmp/bird-72-$1.log" 2>/dev/null | tr '\n' ' ')"
}
bird_start R router
bird_start A dA
bird_start B dB
birdc_in() { # birdc_in NS NAME ARGS...
    local ns=$1 name=$2
    shift 2
    in_ns "$ns" "$BIRDC" -s "/tmp/bird-72-$name.ctl" "$@"
}
vip_route() { in_ns router "$IP" route show "$VIP/32"; }
next_hops() { vip_route | grep -c "nexthop via" || true; }
full_ospf() { birdc_in router R show ospf neighbors | grep -c Full | grep -qx 2; }
wait_until 30 full_ospf || fail "OSPF adjacencies not full: $(birdc_in router R show ospf neighbors | tr '\n' '|')"
assert_eq "" "$(vip_route)" "control: no route for the VIP before lbctl runs"

step "lbctl in BIRD mode on both directors"
echo "$VIP-80: 10.0.2.11:80, 10.0.2.12:80; scheduler=mh; method=dr
$VIP-7000: 10.0.2.11:7000, 10.0.2.12:7000; scheduler=mh; method=dr" | write_configmap /tmp/cm-72.yaml
for d in A:dA B:dB; do
    name=${d%%:*}; ns=${d#*:}
    cat >"/tmp/settings-72-$name.toml" <<EOF
managed_vip_ranges = ["10.0.0.96/28"]
vip_interface = "lbvip0"
state_file = "/tmp/lbctl-72-$name.json"
listen_address = "127.0.0.1:9469"
[http]
control_socket = "/tmp/lbctl-72-$name.sock"
[failover]
sloppy_tcp = true
[bgp]
enabled = true
mode = "bird"
[bgp.bird]
path = "/tmp/bird-vips-$name.conf"
birdc = "$BIRDC"
socket = "/tmp/bird-72-$name.ctl"
EOF
done
start_lbctl() { # start_lbctl NAME NS
    in_ns "$2" "$LBCTL" run --settings "/tmp/settings-72-$1.toml" --config-file /tmp/cm-72.yaml \
        --log info >>"/tmp/run-72-$1.log" 2>&1 &
}
start_lbctl A dA
start_lbctl B dB
two_hops() { [ "$(next_hops)" = 2 ]; }
wait_until 40 two_hops ||
    fail "router has not two next hops: $(vip_route | tr '\n' '|') A: $(tail -3 /tmp/run-72-A.log | tr '\n' '|')"
vip_route
assert_contains "$(cat /tmp/bird-vips-A.conf)" "$VIP/32"
assert_eq 1 "$(in_ns dB cat /proc/sys/net/ipv4/vs/sloppy_tcp)" "B's sloppy_tcp set by lbctl"

step "connections spread over both directors"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    http_get client "$VIP" 80 >/dev/null || fail "request $i through the router failed"
done
conns() { in_ns "$1" "$IPVSADM" -Ln --stats -t "$VIP:80" | awk '$1 == "TCP" {print $3}'; }
# The kernel folds its per-CPU counters into what ipvsadm reads every 2 s: wait for all 12.
all_counted() { [ $(($(conns dA) + $(conns dB))) -ge 12 ]; }
wait_until 10 all_counted || fail "IPVS counted $(conns dA) + $(conns dB) of 12 connections"
log "connections: A $(conns dA), B $(conns dB)"
[ "$(conns dA)" -gt 0 ] && [ "$(conns dB)" -gt 0 ] || fail "ECMP did not use both directors: A $(conns dA), B $(conns dB)"

step "long-lived connections, one of them through A"
through_a() { in_ns dA "$IPVSADM" -Lnc | grep ESTABLISHED | grep -c "$VIP:7000" || true; }
# Stream a is reopened (new source port, new hash) until the router sent it through A:
# 8 tries, 1 in 256 that none does.
tries=0
while :; do
    tries=$((tries + 1))
    open_stream a client "$VIP" 7000
    stream_send a "a-1"
    wait_until 10 stream_saw a a-1 || fail "stream a not echoed"
    [ "$(through_a)" -gt 0 ] && break
    [ "$tries" -lt 8 ] || fail "8 streams in a row went through B: is A in the multipath route?"
    stream_close a
done
open_stream b client "$VIP" 7000
stream_send b "b-1"
wait_until 10 stream_saw b b-1 || fail "stream b not echoed"
opened="a b"
log "stream a through A after $tries tries; stream b through $([ "$(through_a)" -gt 1 ] && echo A || echo B)"

step "A dies: OSPF moves the route to B"
one_hop() { vip_route | grep -q "via 10.0.2.2" && [ "$(next_hops)" = 0 ]; }
# kill_a: SIGKILL A's BIRD and lbctl, take its link down, and set ELAPSED to the seconds
# until the router's route for the VIP has only B (polled every 0.1 s, at most 20 s).
kill_a() {
    local t0 t1 i=0
    t0=$(cut -d' ' -f1 /proc/uptime)
    kill -KILL "$(cat /tmp/bird-72-A.pid)"
    for pid in $(lbctl_pid dA); do kill -KILL "$pid"; done
    in_ns dA "$IP" link set a0 down
    while ! one_hop; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "route did not move to B: $(vip_route | tr '\n' '|')"
        usleep 100000
    done
    t1=$(cut -d' ' -f1 /proc/uptime)
    ELAPSED=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')
}
kill_a
OSPF_SECS=$ELAPSED
log "kill to route change: $OSPF_SECS s (OSPF hello 1 s, dead 3 s)"
vip_route
for s in $opened; do
    stream_send "$s" "$s-2"
    wait_until 20 stream_saw "$s" "$s-2" || fail "stream $s lost at the failover"
done
log "failover: every long-lived stream ($opened) kept"
for i in 1 2 3 4 5 6; do
    http_get client "$VIP" 80 >/dev/null || fail "new connection $i after the failover failed"
done
for s in $opened; do stream_close "$s"; done

step "the same failure with BFD (200 ms x 3) watching the OSPF neighbours"
in_ns dA "$IP" link set a0 up
BFD_MS=200
write_confs
bird_start A dA
start_lbctl A dA
for r in router:R dB:B; do birdc_in "${r%%:*}" "${r#*:}" configure >/dev/null; done
wait_until 40 two_hops || fail "A did not come back: $(vip_route | tr '\n' '|')"
bfd_up() { [ "$(birdc_in router R show bfd sessions | grep -c ' Up ')" = 2 ]; }
wait_until 20 bfd_up || fail "BFD sessions not up: $(birdc_in router R show bfd sessions | tr '\n' '|')"
birdc_in router R show bfd sessions
# OSPF originates an LSA at most every 5 s (MinLSInterval): A's return just made the router
# originate one, and a failure within 5 s of a change waits for that interval, BFD or not.
sleep 6
kill_a
log "kill to route change: $ELAPSED s with BFD (200 ms x 3), $OSPF_SECS s with the OSPF dead interval alone"
# Control: BFD must beat the 3 s dead interval it replaces, or the BFD setup is not in effect.
if ! echo "$ELAPSED" | awk '{ exit !($1 < 2.5) }'; then
    tail -30 /tmp/bird-72-R.log
    fail "with BFD the route moved after $ELAPSED s: BFD not in effect"
fi
http_get client "$VIP" 80 >/dev/null || fail "no new connection after the second failover"

for pid in $(lbctl_pid dB); do kill -TERM "$pid"; done
