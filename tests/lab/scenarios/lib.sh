# Helpers for lab scenarios (busybox sh inside the lab VM). Source it first:
#
#     #!/bin/sh
#     . /lab/scenarios/lib.sh
#     topology_nat
#     ...
#
# Helpers keep their variables `local` (busybox ash supports it), so they never clobber a
# scenario's own variables.
#
# Contract: every helper is bounded in time (no unbounded loop, no blocking read without a
# timeout), prints what it does with `lab:` prefixes, and either returns a status or ends the
# scenario through `fail`. A scenario passes when it exits 0; `fail REASON` ends it with that
# reason, which /init reports as `LAB-RESULT <scenario> FAIL <reason>`. A scenario that exits
# non-zero without calling `fail` (e.g. under `set -e`) is reported with the step it was in.
#
# Busybox sh runs its own applets before PATH, so the real tools are called by absolute path
# through the variables and wrapper functions below (`ip` here is iproute2's, not busybox's).
# Commands run with `in_ns NS cmd...` are exec'd by iproute2 and found through PATH, where
# /usr/sbin (the real tools) comes first.

# --- Tools -----------------------------------------------------------------------------------

# Absolute paths of the real tools; use these (or the wrappers) instead of bare names.
IP=/usr/sbin/ip
IPVSADM=/usr/sbin/ipvsadm
IPTABLES=/usr/sbin/iptables
NFT=/usr/sbin/nft
# Our binaries, present when run.sh found them on the host (see README.md).
LBCTL=/usr/local/bin/lbctl
IPVS_PROBE=/usr/local/bin/ipvs_probe
# Files of examples/lab/ from the repository.
LAB_EXAMPLES=/lab/examples

# iproute2's ip: busybox's `ip` applet lacks netns and most of what the lab needs.
ip() { "$IP" "$@"; }
# ipvsadm in the current namespace (use `in_ns director ipvsadm ...` for the director).
ipvsadm() { "$IPVSADM" "$@"; }
# iptables (nft backend, as on a fresh Debian 12; iptables-legacy is also installed).
iptables() { "$IPTABLES" "$@"; }

# --- Logging and failing ---------------------------------------------------------------------

LAB_FAIL_FILE=/tmp/lab-fail-reason
LAB_STEP="start"

# log MESSAGE...: print a progress line to the console log.
log() { echo "lab: $*"; }

# step NAME: announce a phase of the scenario; an unexpected exit reports the last step.
step() {
    LAB_STEP="$*"
    echo "lab: --- $*"
}

# fail REASON...: end the scenario as failed with REASON (one line). Call it from the
# scenario's own shell, not inside $(...), where it could only end the subshell.
fail() {
    echo "lab: FAIL: $*"
    [ -s "$LAB_FAIL_FILE" ] || echo "$*" >"$LAB_FAIL_FILE"
    exit 1
}

# Records a reason when a scenario exits non-zero without `fail` (set -e, a bad command).
_lab_on_exit() {
    local rc=$1
    if [ "$rc" != 0 ] && [ ! -s "$LAB_FAIL_FILE" ]; then
        echo "exited with status $rc during step: $LAB_STEP" >"$LAB_FAIL_FILE"
    fi
}
trap '_lab_on_exit $?' EXIT

# --- Assertions ------------------------------------------------------------------------------

# assert_eq EXPECTED ACTUAL [WHAT]: fail unless the two strings are equal.
assert_eq() {
    [ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
    log "ok: ${3:-value} = '$2'"
}

# assert_contains HAYSTACK NEEDLE [WHAT]: fail unless NEEDLE occurs in HAYSTACK.
assert_contains() {
    case "$1" in
        *"$2"*) log "ok: ${3:-output} contains '$2'" ;;
        *) fail "${3:-output} does not contain '$2': $(echo "$1" | tr '\n' ' ' | cut -c1-300)" ;;
    esac
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]: fail if NEEDLE occurs in HAYSTACK.
assert_not_contains() {
    case "$1" in
        *"$2"*) fail "${3:-output} unexpectedly contains '$2': $(echo "$1" | tr '\n' ' ' | cut -c1-300)" ;;
        *) log "ok: ${3:-output} does not contain '$2'" ;;
    esac
}

# assert_ge MIN ACTUAL [WHAT]: fail unless the integer ACTUAL >= MIN.
assert_ge() {
    case "$2" in '' | *[!0-9]*) fail "${3:-value}: '$2' is not a number" ;; esac
    [ "$2" -ge "$1" ] || fail "${3:-value}: expected >= $1, got $2"
    log "ok: ${3:-value} = $2 (>= $1)"
}

# assert_ok WHAT CMD...: run CMD; fail with its output if it exits non-zero.
assert_ok() {
    local what=$1 out
    shift
    if ! out=$("$@" 2>&1); then
        fail "$what failed: $(echo "$out" | tr '\n' ' ' | cut -c1-300)"
    fi
    log "ok: $what"
}

# wait_until SECONDS CMD...: poll CMD (quietly) every 0.5 s until it succeeds; returns 1
# after SECONDS. It does not fail by itself: `wait_until 10 cmd || fail "why"`.
wait_until() { _wait_every 0.5 "$@"; }

# wait_until_fine SECS CMD...: wait_until, polling every 50 ms, for a time that is measured
# (the 0.5 s of wait_until would round a latency up by as much).
wait_until_fine() { _wait_every 0.05 "$@"; }

# wait_until_sparse SECS CMD...: wait_until, polling every 3 s, for a long wait on work that the
# poll must not slow down: on the VM's one vCPU each `lbctl status` costs about 0.4 s of CPU at
# 10,000 services, so a poll every 0.5 s takes most of the CPU from the pass it waits for.
wait_until_sparse() { _wait_every 3 "$@"; }

# _wait_every INTERVAL SECS CMD...: the loop of all three.
_wait_every() {
    local interval=$1 deadline=$(($(_lab_now) + $2))
    shift 2
    while ! "$@" >/dev/null 2>&1; do
        [ "$(_lab_now)" -lt "$deadline" ] || return 1
        sleep "$interval"
    done
}

# Seconds since boot (monotonic; the VM has no real-time clock worth trusting).
_lab_now() { cut -d. -f1 /proc/uptime; }

# Milliseconds since boot, for the durations scenarios print (10 ms resolution).
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
# cmdline_arg NAME: the value of NAME=... on the kernel command line, if any (the benches'
# sizes come as LAB_KERNEL_ARGS, e.g. bench.vips=40).
cmdline_arg() {
    for word in $(cat /proc/cmdline); do
        case "$word" in "$1"=*) echo "${word#*=}"; return ;; esac
    done
}
# timed_wait FILE T0 CMD...: wait_until_fine (up to 60 s) for CMD, then append the milliseconds
# since T0 (a now_ms taken before the change) to FILE. Returns 1 if CMD never succeeds:
# `timed_wait $lat $t0 cmd || fail "why"`.
timed_wait() {
    local file=$1 t0=$2
    shift 2
    wait_until_fine 60 "$@" || return 1
    echo $(($(now_ms) - t0)) >>"$file"
}
# latency_p50 FILE / latency_max FILE: the median and the largest of 20 timings, one per line.
latency_p50() { sort -n "$1" | sed -n 10p; }
latency_max() { sort -n "$1" | tail -n1; }

# --- Namespaces and links --------------------------------------------------------------------

# in_ns NS CMD...: run CMD in network namespace NS (exec'd by iproute2, found via PATH).
in_ns() {
    local ns=$1
    shift
    "$IP" netns exec "$ns" "$@"
}

# ns_create NS: create network namespace NS with `lo` up. IPVS needs lo up: without the
# local table it rejects every destination with EINVAL (design.md, kernel lab facts).
ns_create() {
    "$IP" netns add "$1" || fail "cannot create netns $1"
    in_ns "$1" "$IP" link set lo up
}

# veth_pair NS1 IF1 NS2 IF2: connect two namespaces with a veth pair, both ends up.
veth_pair() {
    "$IP" link add "$2" netns "$1" type veth peer name "$4" netns "$3" ||
        fail "cannot create veth $1/$2 <-> $3/$4"
    in_ns "$1" "$IP" link set "$2" up
    in_ns "$3" "$IP" link set "$4" up
}

# sysctl_set NS KEY VALUE: set a sysctl inside NS (KEY like net.ipv4.ip_forward).
sysctl_set() {
    in_ns "$1" sh -c "echo $3 > /proc/sys/$(echo "$2" | tr . /)" || fail "sysctl $2=$3 in $1"
}

# --- The standard topology -------------------------------------------------------------------
#
#   client 10.0.0.2/24 (c0) --- (dc0) 10.0.0.1/24 director 10.0.1.1/24 (br0) ---+--- rs1 10.0.1.11
#                                      lbvip0: VIPs 10.0.0.100-102/32          +--- rs2 10.0.1.12
#
# The real servers hang off a bridge in the director's namespace: one L2 segment, which DR
# needs, and a default route via 10.0.1.1, which NAT needs for the replies.

# Addresses of the standard topology, for scenarios to use by name.
CLIENT_IP=10.0.0.2
DIRECTOR_CLIENT_IP=10.0.0.1
DIRECTOR_SERVER_IP=10.0.1.1
RS1_IP=10.0.1.11
RS2_IP=10.0.1.12
VIP_NAT=10.0.0.100
VIP_DR=10.0.0.101
VIP_TUN=10.0.0.102

# topology_nat: build client, director (forwarding on, VIPs on dummy lbvip0) and rs1/rs2
# (each serving HTTP on port 80 with a body of its own name). Enough for NAT services.
topology_nat() {
    local ns rs_ip vip
    step "topology: client, director, rs1, rs2"
    for ns in client director rs1 rs2; do ns_create "$ns"; done

    veth_pair client c0 director dc0
    in_ns client "$IP" addr add "$CLIENT_IP/24" dev c0
    in_ns client "$IP" route add default via "$DIRECTOR_CLIENT_IP"
    in_ns director "$IP" addr add "$DIRECTOR_CLIENT_IP/24" dev dc0

    in_ns director "$IP" link add br0 type bridge
    in_ns director "$IP" link set br0 up
    in_ns director "$IP" addr add "$DIRECTOR_SERVER_IP/24" dev br0
    in_ns director "$IP" link add lbvip0 type dummy
    in_ns director "$IP" link set lbvip0 up
    for vip in "$VIP_NAT" "$VIP_DR" "$VIP_TUN"; do
        in_ns director "$IP" addr add "$vip/32" dev lbvip0
    done
    sysctl_set director net.ipv4.ip_forward 1

    rs_attach rs1 "$RS1_IP"
    rs_attach rs2 "$RS2_IP"
    # Bridge ports need a moment to reach forwarding; wait for real reachability instead.
    for rs_ip in "$RS1_IP" "$RS2_IP"; do
        wait_until 10 in_ns director ping -c1 -W1 "$rs_ip" || fail "director cannot ping $rs_ip"
    done
    wait_until 10 in_ns client ping -c1 -W1 "$DIRECTOR_CLIENT_IP" || fail "client cannot ping director"
    for ns in rs1 rs2; do rs_http "$ns" 80 "$ns"; done
    for rs_ip in "$RS1_IP" "$RS2_IP"; do
        wait_until 10 http_get director "$rs_ip" 80 || fail "httpd on $rs_ip does not answer"
    done
    log "topology ready"
}

# rs_attach NS ADDR: plug real server NS into the director's bridge with ADDR/24 and a
# default route via the director.
rs_attach() {
    veth_pair "$1" eth0 director "v-$1"
    in_ns director "$IP" link set "v-$1" master br0
    in_ns "$1" "$IP" addr add "$2/24" dev eth0
    in_ns "$1" "$IP" route add default via "$DIRECTOR_SERVER_IP"
}

# rs_http NS PORT BODY: serve BODY (one line) over HTTP on PORT in NS (busybox httpd,
# daemonised; lab_teardown kills it with the namespace's other processes).
rs_http() {
    local dir=/tmp/www-$1-$2
    mkdir -p "$dir"
    echo "$3" >"$dir/index.html"
    in_ns "$1" httpd -p "$2" -h "$dir" || fail "cannot start httpd in $1:$2"
}

# rs_vip_dr NS VIP: accept VIP on real server NS for direct routing: VIP/32 on lo, and ARP
# settings so that NS neither answers nor announces ARP for it (only the director may).
rs_vip_dr() {
    in_ns "$1" "$IP" addr add "$2/32" dev lo
    sysctl_set "$1" net.ipv4.conf.all.arp_ignore 1
    sysctl_set "$1" net.ipv4.conf.all.arp_announce 2
    sysctl_set "$1" net.ipv4.conf.eth0.arp_ignore 1
    sysctl_set "$1" net.ipv4.conf.eth0.arp_announce 2
}

# rs_vip_tun NS VIP: accept VIP on real server NS for IPIP tunnelling: VIP/32 on tunl0 (the
# ipip fallback device every namespace gets once `ipip` is loaded), reverse-path filter off
# because the inner source (the client) is not routed via tunl0, and the DR ARP settings.
rs_vip_tun() {
    in_ns "$1" "$IP" link set tunl0 up || fail "no tunl0 in $1 (is ipip loaded?)"
    in_ns "$1" "$IP" addr add "$2/32" dev tunl0
    sysctl_set "$1" net.ipv4.conf.all.rp_filter 0
    sysctl_set "$1" net.ipv4.conf.tunl0.rp_filter 0
    sysctl_set "$1" net.ipv4.conf.all.arp_ignore 1
    sysctl_set "$1" net.ipv4.conf.all.arp_announce 2
}

# topology_dr_tun: topology_nat plus VIP_DR on the real servers' lo and VIP_TUN on their
# tunl0. Replies leave the real servers with the VIP as source and are routed (not NATed)
# through the director, which must therefore accept packets from its own VIP addresses.
topology_dr_tun() {
    local ns dev
    topology_nat
    step "topology: DR and TUN VIPs on the real servers"
    for ns in rs1 rs2; do
        rs_vip_dr "$ns" "$VIP_DR"
        rs_vip_tun "$ns" "$VIP_TUN"
    done
    for dev in all br0; do
        sysctl_set director "net.ipv4.conf.$dev.accept_local" 1
        sysctl_set director "net.ipv4.conf.$dev.rp_filter" 0
    done
}

# --- Traffic ---------------------------------------------------------------------------------

# http_get NS ADDR PORT [PATH]: one HTTP/1.0 GET from NS with busybox nc (busybox wget
# crashes under `ip netns exec`); prints the response body; non-zero status when nothing
# came back within 5 s.
http_get() {
    local resp
    resp=$(printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "${4:-/}" "$2" |
        in_ns "$1" timeout 5 nc -w 3 "$2" "$3" 2>/dev/null | tr -d '\r')
    [ -n "$resp" ] || return 1
    echo "$resp" | sed '1,/^$/d'
}

# http_get_held NS ADDR PORT [PATH]: like http_get, but keeps the request's write side open
# until the answer has come (up to 10 s). Servers that treat a half-closed connection as a
# cancelled request (Go's net/http, e.g. Prometheus) need it; busybox nc half-closes at the
# end of its input.
http_get_held() {
    local _fifo _writer resp
    _fifo=/tmp/http-get-held.$$
    rm -f "$_fifo"
    mkfifo "$_fifo"
    { printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "${4:-/}" "$2"; sleep 10; } >"$_fifo" &
    _writer=$!
    resp=$(in_ns "$1" timeout 10 nc -w 3 "$2" "$3" <"$_fifo" 2>/dev/null | tr -d '\r')
    kill "$_writer" 2>/dev/null
    wait "$_writer" 2>/dev/null
    rm -f "$_fifo"
    [ -n "$resp" ] || return 1
    echo "$resp" | sed '1,/^$/d'
}

# http_get_n NS ADDR PORT COUNT: COUNT requests; prints one body per line and fails on the
# first request that gets no answer.
http_get_n() {
    local i=0 body
    while [ "$i" -lt "$4" ]; do
        i=$((i + 1))
        body=$(http_get "$1" "$2" "$3") || fail "request $i/$4 from $1 to $2:$3 got no answer"
        echo "$body"
    done
}

# answers VIP COUNT: COUNT requests from the client to VIP:80 are answered, half by rs1 and
# half by rs2 (rr over the two real servers); prints the bodies.
answers() {
    local bodies
    bodies=$(http_get_n client "$1" 80 "$2")
    echo "$bodies"
    assert_eq $(($2 / 2)) "$(echo "$bodies" | grep -c '^rs1$' || true)" "answers from rs1 via $1"
    assert_eq $(($2 / 2)) "$(echo "$bodies" | grep -c '^rs2$' || true)" "answers from rs2 via $1"
}

# no_answer VIP WHAT: a request from the client to VIP:80 gets no answer (the control of WHAT).
no_answer() {
    if http_get client "$1" 80 >/dev/null; then
        fail "control ($2): a request to $1 port 80 was answered"
    fi
    log "ok: control ($2): no answer from $1 port 80"
}

# --- IPVS ------------------------------------------------------------------------------------

# ipvs_stat NS SERVICE [DEST] [COLUMN]: one exact counter from `ipvsadm -Ln --stats --exact`
# in NS. SERVICE is "ADDR:PORT" (TCP), DEST the real server "ADDR:PORT" (omit or "-" for the
# service line), COLUMN one of conns (default), inpkts, outpkts, inbytes, outbytes.
# Prints the number, or nothing when the line is absent.
ipvs_stat() { ipvs_stat_proto tcp "$@"; }

# wait_ipvs_stat SECONDS MIN NS SERVICE [DEST] [COLUMN]: wait until the counter reaches MIN.
# The kernel refreshes these counters about every 2 s, so poll rather than read once.
wait_ipvs_stat() { wait_ipvs_stat_proto tcp "$@"; }

# ipvs_stat_proto PROTO NS SERVICE [DEST] [COLUMN]: ipvs_stat for a service of protocol PROTO
# (tcp, udp or sctp), whose ipvsadm option is -t, -u or --sctp-service.
ipvs_stat_proto() {
    local opt col
    case "$1" in
        tcp) opt=-t ;; udp) opt=-u ;; sctp) opt=--sctp-service ;;
        *) fail "ipvs_stat_proto: unknown protocol $1" ;;
    esac
    case "${5:-conns}" in
        conns) col=3 ;; inpkts) col=4 ;; outpkts) col=5 ;; inbytes) col=6 ;; outbytes) col=7 ;;
        *) fail "ipvs_stat_proto: unknown column $5" ;;
    esac
    in_ns "$2" "$IPVSADM" -Ln --stats --exact "$opt" "$3" 2>/dev/null |
        awk -v dest="${4:--}" -v col="$col" '
            $1 == "TCP" || $1 == "UDP" || $1 == "SCTP" { svc = 1; if (dest == "-") { print $(col); exit } }
            $1 == "->" && svc && $2 == dest { print $(col); exit }'
}

# wait_ipvs_stat_proto PROTO SECONDS MIN NS SERVICE [DEST] [COLUMN]: wait_ipvs_stat for a
# service of protocol PROTO (see ipvs_stat_proto).
wait_ipvs_stat_proto() {
    local value deadline=$(($(_lab_now) + $2))
    while :; do
        value=$(ipvs_stat_proto "$1" "$4" "$5" "${6:--}" "${7:-conns}")
        [ -n "$value" ] && [ "$value" -ge "$3" ] && return 0
        [ "$(_lab_now)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# --- Teardown --------------------------------------------------------------------------------

# lab_teardown: kill every process running in a lab namespace and delete the namespaces,
# which also drops their IPVS tables, links and rules. /init runs it between scenarios.
lab_teardown() {
    local ns pids
    for ns in $("$IP" netns list 2>/dev/null | cut -d' ' -f1); do
        pids=$("$IP" netns pids "$ns" 2>/dev/null)
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null
        "$IP" netns delete "$ns" 2>/dev/null
    done
    "$IPVSADM" -C 2>/dev/null
    true
}

# --- Netfilter -------------------------------------------------------------------------------

# rule_packets NS COMMENT [CHAIN] [TABLE]: packet counter of the iptables rule tagged with
# `-m comment --comment COMMENT` in CHAIN (default INPUT) of TABLE (default filter) in NS.
# A rule without a target only counts, so it is an easy probe of what reached a namespace.
rule_packets() {
    in_ns "$1" "$IPTABLES" -w -t "${4:-filter}" -nvxL "${3:-INPUT}" 2>/dev/null |
        awk -v tag="/* $2 */" 'index($0, tag) { print $1; exit }'
}

# --- IPv6 namespaces (79, 84) ---------------------------------------------------------------

# ns6 NS: a namespace without duplicate address detection (DAD would hold every new address
# "tentative" for a second or more).
ns6() {
    ns_create "$1"
    sysctl_set "$1" net.ipv6.conf.all.accept_dad 0
    sysctl_set "$1" net.ipv6.conf.default.accept_dad 0
}
# rs_attach6 NS ADDR: plug NS into the director's bridge with ADDR/64, default via the director
# ($V6_DIR_SERVER, the director's address on br0).
rs_attach6() {
    veth_pair "$1" eth0 director "v-$1"
    in_ns director "$IP" link set "v-$1" master br0
    in_ns "$1" "$IP" -6 addr add "$2/64" dev eth0 nodad
    in_ns "$1" "$IP" -6 route add default via "$V6_DIR_SERVER"
}
