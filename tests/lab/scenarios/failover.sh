# Several directors behind one ECMP router, for the failover scenarios 70-71 (source after
# lib.sh and lbctl.sh; the scenario needs `# lab-needs: bird flow-traffic`).
#
#   client 10.0.8.2 (c0) --- (rc0) 10.0.8.1 router 10.0.1.1 (eth0) ---+ br0 (namespace sw)
#                                   BIRD 2, ECMP (merge paths, L4)    +--- dira 10.0.1.2  lbctl run
#                                                                     +--- dirb 10.0.1.3  lbctl run
#                                                                     +--- rs1-3 10.0.1.11-13
#
# Every director runs its own `lbctl run` (file mode) with its own settings, state file,
# control socket and BGP identity, and announces the VIP to BIRD (AS 64513, passive, hold
# time 3 s unless `fo.hold=SECS` is on the kernel command line). The VIP is DR with `mh mh-port`: both directors pick the same real server for a
# flow, so a flow that moves between them finds its server. The real servers hold the VIP on
# lo (arp_ignore/arp_announce) and reply straight to the router. Each real server runs
# `flow-traffic serve` on port 7000, greeting with its name.

FLOW=/usr/local/bin/flow-traffic
[ -x "$FLOW" ] || fail "flow-traffic missing in the initramfs (cargo build -p lb-tests --bins)"
BIRD=/usr/local/bin/bird
BIRDC=/usr/local/bin/birdc
FO_VIP=10.0.0.101
FO_PORT=7000
FO_CLIENT_IP=10.0.8.2
FO_ROUTER_CLIENT_IP=10.0.8.1
FO_ROUTER_IP=10.0.1.1
FO_CM=/tmp/fo-cm.yaml
FO_BIRD_SOCKET=/tmp/bird-fo.ctl
# BGP hold time on both sides: 3 s, or `fo.hold=SECS` on the kernel command line
# (LAB_KERNEL_ARGS) to measure another.
FO_HOLD=$(sed -n 's/.*fo\.hold=\([0-9]*\).*/\1/p' /proc/cmdline)
FO_HOLD=${FO_HOLD:-3}
# Forwarding method of the VIP: dr, or `fo.method=tunnel` on the kernel command line (the
# real servers then take the VIP on tunl0 and decapsulate IPIP).
FO_METHOD=$(sed -n 's/.*fo\.method=\([a-z]*\).*/\1/p' /proc/cmdline)
FO_METHOD=${FO_METHOD:-dr}
case "$FO_METHOD" in dr | tunnel) ;; *) fail "fo.method=$FO_METHOD: expected dr or tunnel" ;; esac
# The traffic runs at a lower priority (busybox has renice, not nice): with one emulated CPU
# saturated by it, lbctl's BGP keepalives were late enough for a 3 s hold timer to expire at
# the router. Not the lowest: at 19, a restarting lbctl starved the client for almost the
# 10 s line timeout.
FO_NICE='renice -n 10 -p $$ >/dev/null;'

# fo_ip DIRECTOR: the address of director dira or dirb.
fo_ip() { case "$1" in dira) echo 10.0.1.2 ;; dirb) echo 10.0.1.3 ;; *) fail "no director $1" ;; esac; }

# fo_attach NS ADDR: plug NS into the shared bridge as eth0 with ADDR/24.
fo_attach() {
    veth_pair "$1" eth0 sw "p-$1"
    in_ns sw "$IP" link set "p-$1" master br0
    in_ns "$1" "$IP" addr add "$2/24" dev eth0
}

# fo_topology: the namespaces, links, BIRD and the echo servers (no lbctl yet).
fo_topology() {
    local ns i
    step "topology: client, router (BIRD, ECMP), directors dira and dirb, rs1-3 on one bridge"
    for ns in sw client router dira dirb rs1 rs2 rs3; do ns_create "$ns"; done
    in_ns sw "$IP" link add br0 type bridge
    in_ns sw "$IP" link set br0 up
    veth_pair client c0 router rc0
    in_ns client "$IP" addr add "$FO_CLIENT_IP/24" dev c0
    in_ns client "$IP" route add default via "$FO_ROUTER_CLIENT_IP"
    in_ns router "$IP" addr add "$FO_ROUTER_CLIENT_IP/24" dev rc0
    fo_attach router "$FO_ROUTER_IP"
    sysctl_set router net.ipv4.ip_forward 1
    # ECMP by the L4 hash (addresses and ports): the flows of one client spread over both
    # directors, and each flow stays on one.
    sysctl_set router net.ipv4.fib_multipath_hash_policy 1
    for ns in dira dirb; do
        fo_attach "$ns" "$(fo_ip "$ns")"
        # Replies of the director's own stack (an RST for a flow it does not know) reach the client.
        in_ns "$ns" "$IP" route add default via "$FO_ROUTER_IP"
    done
    i=0
    for ns in rs1 rs2 rs3; do
        i=$((i + 1))
        fo_attach "$ns" "10.0.1.1$i"
        in_ns "$ns" "$IP" route add default via "$FO_ROUTER_IP"
        case "$FO_METHOD" in
        dr) rs_vip_dr "$ns" "$FO_VIP" ;;
        tunnel) rs_vip_tun "$ns" "$FO_VIP" ;;
        esac
        in_ns "$ns" sh -c "$FO_NICE exec $FLOW serve --listen 0.0.0.0:$FO_PORT --name $ns" \
            >"/tmp/fo-serve-$ns.log" 2>&1 &
    done
    for ns in dira dirb rs1 rs2 rs3; do
        wait_until 10 in_ns router ping -c1 -W1 "$(fo_addr "$ns")" || fail "router cannot ping $ns"
    done
    wait_until 10 in_ns client ping -c1 -W1 "$FO_ROUTER_IP" || fail "client cannot ping the router"
    fo_bird
    # The ConfigMap both directors read: DR (or tunnel), mh hashing addresses and ports, three
    # servers.
    write_configmap "$FO_CM" <<EOS
$FO_VIP-$FO_PORT: 10.0.1.11:$FO_PORT, 10.0.1.12:$FO_PORT, 10.0.1.13:$FO_PORT; scheduler=mh mh-port; method=$FO_METHOD
EOS
    log "topology ready"
}

fo_addr() { case "$1" in rs*) echo "10.0.1.1${1#rs}" ;; *) fo_ip "$1" ;; esac; }

# fo_bird: BIRD in the router: a passive eBGP session per director (hold time FO_HOLD, a failed
# session may come back after 1 s), learned routes merged into one multipath kernel route.
fo_bird() {
    cat >/tmp/bird-fo.conf <<EOS
log "/tmp/bird-fo.log" all;
router id $FO_ROUTER_IP;
protocol device { scan time 2; }
protocol kernel {
    ipv4 { import none; export all; };
    merge paths on;
}
template bgp director {
    local $FO_ROUTER_IP as 64513;
    passive on;
    hold time $FO_HOLD;
    error wait time 1, 2;
    ipv4 { import all; export none; };
}
protocol bgp dira from director { neighbor $(fo_ip dira) as 64512; }
protocol bgp dirb from director { neighbor $(fo_ip dirb) as 64512; }
EOS
    in_ns router "$BIRD" -c /tmp/bird-fo.conf -s "$FO_BIRD_SOCKET" -P /tmp/bird-fo.pid ||
        fail "bird did not start: $(tail -3 /tmp/bird-fo.log 2>/dev/null | tr '\n' ' ')"
    wait_until 10 fo_birdc show status || fail "birdc cannot reach bird"
}

fo_birdc() { in_ns router "$BIRDC" -s "$FO_BIRD_SOCKET" "$@"; }
fo_established() { fo_birdc show protocols "$1" | grep -q Established; }

# fo_settings DIRECTOR SLOPPY ON_STOP: write /tmp/fo-DIRECTOR.toml (sloppy_tcp = SLOPPY).
fo_settings() {
    cat >"/tmp/fo-$1.toml.tmp" <<EOS
managed_vip_ranges = ["10.0.0.96/28"]
vip_interface = "lbvip0"
state_file = "/tmp/fo-$1-state.json"
listen_address = "127.0.0.1:9469"
resync_period_secs = 5

[http]
control_socket = "/tmp/fo-$1.sock"

[failover]
sloppy_tcp = $2

[bgp]
enabled = true
local_as = 64512
router_id = "$(fo_ip "$1")"
hold_time_secs = $FO_HOLD
on_stop = "$3"
restart_marker = "/tmp/fo-$1-restart-marker"
withdraw_file = "/tmp/fo-$1-withdrawn"

[[bgp.peers]]
address = "$FO_ROUTER_IP"
remote_as = 64513
local_address = "$(fo_ip "$1")"
connect_retry_min_ms = 200
connect_retry_max_ms = 1000

[bgp.policy]
announce_at = 1
withdraw_below = 1
hold_down_ms = 1000
EOS
    mv -f "/tmp/fo-$1.toml.tmp" "/tmp/fo-$1.toml"
}

fo_running() { [ -n "$(lbctl_pid "$1")" ]; }
fo_stopped() { [ -z "$(lbctl_pid "$1")" ]; }
fo_log() { tail -5 "/tmp/fo-run-$1.log" 2>/dev/null | tr '\n' '|'; }

# fo_start DIRECTOR: `lbctl run` in that namespace (log appended to /tmp/fo-run-DIRECTOR.log).
fo_start() {
    in_ns "$1" "$LBCTL" run --settings "/tmp/fo-$1.toml" --config-file "$FO_CM" --log info \
        >>"/tmp/fo-run-$1.log" 2>&1 &
    wait_until 10 fo_running "$1" || fail "lbctl run did not start in $1: $(fo_log "$1")"
}

# fo_status DIRECTOR: `lbctl status -o json` of that director's daemon.
fo_status() { in_ns "$1" "$LBCTL" status --address 127.0.0.1:9469 -o json 2>/dev/null; }
# fo_last_sync DIRECTOR: the last_sync object of /status on one line (`key:value` words).
fo_last_sync() { fo_status "$1" | grep -A12 '"last_sync": {' | tr -d ' ,"' | tr '\n' ' '; }

# fo_sloppy DIRECTOR: net.ipv4.vs.sloppy_tcp in that director's namespace.
fo_sloppy() { in_ns "$1" cat /proc/sys/net/ipv4/vs/sloppy_tcp; }
fo_sloppy_is() { [ "$(fo_sloppy "$1")" = "$2" ]; }

# fo_hops: the number of next hops of the VIP's route in the router's kernel (0: no route).
fo_hops() {
    local r
    r=$(in_ns router "$IP" route show "$FO_VIP" 2>/dev/null)
    if [ -z "$r" ]; then echo 0; return; fi
    case "$r" in
        *nexthop*) echo "$r" | grep -c "nexthop via" ;;
        *) echo 1 ;;
    esac
}
fo_hops_are() { [ "$(fo_hops)" = "$1" ]; }
fo_route() { in_ns router "$IP" route show "$FO_VIP" | tr '\n' ' '; }

# fo_up DIRECTOR...: start each director and wait until the router has both next hops.
fo_up() {
    local d
    for d in "$@"; do fo_start "$d"; done
    for d in "$@"; do
        wait_until 40 fo_established "$d" || fail "BGP session of $d not established: $(fo_log "$d")"
    done
    wait_until 30 fo_hops_are 2 || fail "the router has not two next hops for $FO_VIP: $(fo_route)"
    log "router: $(fo_route)"
}

# fo_traffic NAME ARGS...: flow-traffic client towards the VIP in the background (output
# /tmp/fo-traffic-NAME.out, log .err); waits until its long-lived connections are up.
fo_traffic() {
    local name=$1
    shift
    rm -f "/tmp/fo-traffic-$name.out"
    in_ns client sh -c "$FO_NICE exec $FLOW client --target $FO_VIP:$FO_PORT $*" \
        >"/tmp/fo-traffic-$name.out" 2>"/tmp/fo-traffic-$name.err" &
}
fo_traffic_ready() { grep -q "^flow-traffic ready" "/tmp/fo-traffic-$1.out"; }
fo_traffic_done() { grep -q "^flow-traffic summary" "/tmp/fo-traffic-$1.out"; }
# fo_count NAME KEY: one count of the summary (or the ready line) of run NAME.
fo_count() {
    sed -n "s/^flow-traffic summary:.* $2=\([^ ]*\).*/\1/p" "/tmp/fo-traffic-$1.out"
}
fo_ready_count() {
    sed -n "s/^flow-traffic ready:.* $2=\([^ ]*\).*/\1/p" "/tmp/fo-traffic-$1.out"
}
# fo_wait_traffic NAME SECS: wait for run NAME's summary and print it.
fo_wait_traffic() {
    wait_until "$2" fo_traffic_done "$1" ||
        fail "traffic run $1 gave no summary within $2 s: $(tail -3 "/tmp/fo-traffic-$1.err" | tr '\n' '|')"
    grep "^flow-traffic summary" "/tmp/fo-traffic-$1.out"
}

# fo_bird_events: BIRD's recent session events (state changes, errors), for failure messages.
fo_bird_events() {
    grep -a "dir[ab]" /tmp/bird-fo.log | grep -a -i "state changed\|error\|hold\|closed\|notification" |
        tail -12 | tr '\n' '|'
}

# now_cs: centiseconds since boot (the resolution of /proc/uptime).
now_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }

# fo_watch_hops SECS FILE: in the background, poll the VIP's next-hop count and BIRD's session
# states about every 0.2 s for SECS seconds; append `CS HOPS dira:STATE dirb:STATE` to FILE
# whenever one of them changes, and `end` when done.
fo_watch_hops() {
    (
        end=$(($(now_cs) + $1 * 100))
        last=x
        while [ "$(now_cs)" -lt "$end" ]; do
            h="$(fo_hops) $(fo_birdc show protocols | awk '/^dir/ { printf "%s:%s ", $1, $6 }')"
            [ "$h" = "$last" ] || echo "$(now_cs) $h" >>"$2"
            last=$h
            sleep 0.2
        done
        echo "end" >>"$2"
    ) &
}
