# A router namespace running BIRD 2 for the BGP scenarios (source after lib.sh; the scenario
# needs the header `# lab-needs: bird`).
#
# bird_router N: namespace `router` linked to the director (router 10.0.9.2, director 10.0.9.1),
# BIRD with a passive BGP session to AS 64512 at the director (AS 64513, hold time 9) that
# installs the learned routes in the router's kernel table. Files: /tmp/bird-N.{conf,log,pid},
# socket /tmp/bird-N.ctl. Then `birdc`, `routes`, `has_route VIP`, `no_route VIP` and
# `established` query it.

BIRD=/usr/local/bin/bird
BIRDC=/usr/local/bin/birdc
ROUTER_IP=10.0.9.2
DIRECTOR_ROUTER_IP=10.0.9.1

bird_router() {
    step "router namespace with BIRD 2 (AS 64513, passive) linked to the director"
    ns_create router
    veth_pair router r0 director dr0
    in_ns director "$IP" addr add "$DIRECTOR_ROUTER_IP/24" dev dr0
    in_ns router "$IP" addr add "$ROUTER_IP/24" dev r0
    wait_until 10 in_ns router ping -c1 -W1 "$DIRECTOR_ROUTER_IP" || fail "router cannot ping the director"
    bird_start "$1"
}

# bird_start N [ipv6]: BIRD in the existing `router` namespace, as bird_router describes; with
# `ipv6`, also an ipv6 channel on the same (IPv4) session whose routes go into the router's
# kernel table too.
bird_start() {
    BIRD_SOCKET=/tmp/bird-$1.ctl
    kernel6='' channel6=''
    if [ "${2:-}" = ipv6 ]; then
        kernel6='protocol kernel { ipv6 { import none; export all; }; }'
        channel6='ipv6 { import all; export none; };'
    fi
    cat >"/tmp/bird-$1.conf" <<EOS
log "/tmp/bird-$1.log" all;
router id $ROUTER_IP;
protocol device { scan time 2; }
# Learned VIP routes go into the router namespace's kernel table: traffic follows BGP.
protocol kernel { ipv4 { import none; export all; }; }
$kernel6
protocol bgp director {
    local $ROUTER_IP as 64513;
    neighbor $DIRECTOR_ROUTER_IP as 64512;
    passive on;
    hold time 9;
    ipv4 { import all; export none; };
    $channel6
}
EOS
    in_ns router "$BIRD" -c "/tmp/bird-$1.conf" -s "$BIRD_SOCKET" -P "/tmp/bird-$1.pid" ||
        fail "bird did not start: $(cat "/tmp/bird-$1.log" 2>/dev/null | tail -3 | tr '\n' ' ')"
    wait_until 10 birdc show status || fail "birdc cannot reach bird"
}

birdc() { in_ns router "$BIRDC" -s "$BIRD_SOCKET" "$@"; }
routes() { birdc show route all 2>&1; }
has_route() { routes | grep -q "^$1/32 "; }
no_route() { ! routes | grep -q "^$1/32 "; }
established() { birdc show protocols director | grep -q Established; }
# session_start_ms: when BIRD's Established session `director` started, in ms of the day. BIRD
# prints it with a millisecond of jitter from one call to the next: compare it with
# same_session_start, never for equality.
session_start_ms() {
    birdc show protocols director |
        sed -n 's/.* \([0-9][0-9]\):\([0-9][0-9]\):\([0-9][0-9]\)\.\([0-9][0-9][0-9]\)  *Established.*/\1 \2 \3 \4/p' |
        awk '{ print (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }'
}
# same_session_start START WHEN: fails unless the session still started at START (within
# 5 ms): a reset starts a new session seconds later.
same_session_start() {
    now=$(session_start_ms)
    [ -n "$now" ] && [ $((now - $1)) -le 5 ] && [ $(($1 - now)) -le 5 ] ||
        fail "BIRD's session restarted $2: started at $1 ms, now $now ms"
    log "ok: BIRD's session start unchanged $2"
}

# bgp_settings_head: the control socket ($CONTROL) and the head of the `[bgp]` table of lbctl's
# settings for the lab router (AS 64512, router id the director's router-side address, hold
# time 9); the scenario adds its own `[bgp]` keys right after it.
bgp_settings_head() {
    cat <<EOS
[http]
control_socket = "$CONTROL"

[bgp]
enabled = true
local_as = 64512
router_id = "$DIRECTOR_ROUTER_IP"
hold_time_secs = 9
EOS
}

# bgp_peer_toml ADDRESS REMOTE_AS LOCAL_ADDRESS: a `[[bgp.peers]]` section of lbctl's settings
# for a peer in the lab (quick reconnects: 200 ms, at most 2 s).
bgp_peer_toml() {
    cat <<EOS
[[bgp.peers]]
address = "$1"
remote_as = $2
local_address = "$3"
connect_retry_min_ms = 200
connect_retry_max_ms = 2000
EOS
}
