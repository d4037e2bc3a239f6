#!/bin/sh
# 78-udp-sctp (issue 14): UDP and SCTP services programmed by `lbctl apply` carry real traffic,
# and a UDP drain ends by its timeout.
# lab-needs: flow-traffic
# lab-timeout: 240
#
# UDP: 10.0.0.100-5353-udp (NAT, rr) over rs1 and rs2, which run `flow-traffic udp-serve`
# (every datagram answered with the server's name). Four UDP flows from the client (3
# datagrams each, one socket per flow) are answered, each flow by one real server, two flows
# by each; the service's and each real server's conns, inpkts and outpkts move from 0.
# SCTP: 10.0.0.100-5000-sctp likewise with `flow-traffic sctp-serve`: four associations (3
# messages each), two per real server, counters from 0 (module sctp, packed by build.sh).
# Control of both: before the apply, the same clients get no answer from the VIP (exit 1), so
# the tool's answers come from the IPVS services, not from something else on the path.
# Mutations shown to fail (a throw-away copy of this script, run once): `counters` before any
# traffic ("conns stayed at '0'"); the flows with rs2 set to weight 0 by ipvsadm ("expected
# '2/2', got '4/0'", UDP and SCTP).
#
# UDP drain (udp_drain_timeout_secs = 20, drain_timeout_secs = 600): a flow from client port
# 40000 is held by one real server, which is then removed from the ConfigMap. The apply
# quiesces it (weight 0, deadline = now + 20 s in its JSON report and in the state file); the
# flow keeps being answered by it while new flows (new source ports) go to the other one.
# Control: an apply before the deadline keeps it at weight 0 with the same deadline (so a
# deletion later is the deadline's doing, not any apply's). After the deadline, with IPVS
# still counting the flow's connection on it (UDP entries only expire, after 5 minutes), the
# next apply deletes it. If lbctl used the TCP drain timeout (600 s) for UDP, the deadline
# check fails; if it restarted the deadline on every apply, the second apply's deadline
# differs; if it deleted at once (udp_drain_timeout_secs = 0, shown) the quiesce apply
# reports no draining destination; the final apply made without waiting for the deadline
# (shown) keeps the server ("apply report (deletion) does not contain '-d -u ...'").
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

FT=/usr/local/bin/flow-traffic
[ -x "$FT" ] || fail "flow-traffic missing in the initramfs (cargo build -p lb-tests --bins)"
UDP_TIMEOUT=20
FLOW_PORT=40000

topology_nat
modprobe sctp || fail "cannot load sctp (is kernel/net/sctp in build.sh's module list?)"

# udp_ask COUNT [SOURCE_PORT]: COUNT datagrams over one flow to VIP:5353, one answer (the real
# server's name) per line; non-zero when one is not answered within 3 s.
udp_ask() {
    in_ns client timeout 30 "$FT" udp-client --target "$VIP_NAT:5353" --count "$1" \
        --source-port "${2:-0}" --interval-ms 100 --timeout-ms 3000
}
# sctp_ask COUNT: COUNT messages over one association to VIP:5000, answers as udp_ask.
sctp_ask() {
    in_ns client timeout 30 "$FT" sctp-client --target "$VIP_NAT:5000" --count "$1" \
        --interval-ms 100 --timeout-ms 3000
}
# rs_ip NAME: the address of real server NAME.
rs_ip() { case "$1" in rs1) echo "$RS1_IP" ;; rs2) echo "$RS2_IP" ;; *) fail "unknown real server '$1'" ;; esac; }
# flows PROTO COUNT: four flows (UDP) or associations (SCTP) of COUNT messages each; each must
# be answered COUNT times by one real server, two of them by rs1 and two by rs2.
flows() {
    local i ans per_rs1=0 per_rs2=0
    i=0
    while [ $i -lt 4 ]; do
        i=$((i + 1))
        ans=$("${1}_ask" "$2") || fail "$1 flow $i got no answer: $(echo "$ans" | tr '\n' ' ')"
        assert_eq "$2" "$(echo "$ans" | grep -c .)" "$1 flow $i: answers"
        assert_eq 1 "$(echo "$ans" | sort -u | grep -c .)" "$1 flow $i: real servers answering it"
        case "$(echo "$ans" | head -n1)" in
            rs1) per_rs1=$((per_rs1 + 1)) ;;
            rs2) per_rs2=$((per_rs2 + 1)) ;;
            *) fail "$1 flow $i answered by '$ans'" ;;
        esac
    done
    assert_eq 2/2 "$per_rs1/$per_rs2" "$1 flows answered by rs1/rs2"
}
# counters PROTO PORT MSGS: the service's and each real server's IPVS counters after flows().
counters() {
    local rs col min
    in_ns director "$IPVSADM" -Ln --stats --exact
    wait_ipvs_stat_proto "$1" 10 4 director "$VIP_NAT:$2" ||
        fail "$1 service conns stayed at '$(ipvs_stat_proto "$1" director "$VIP_NAT:$2")', expected >= 4"
    for rs in "$RS1_IP" "$RS2_IP"; do
        for col in conns inpkts outpkts; do
            [ $col = conns ] && min=2 || min=$((2 * $3))
            wait_ipvs_stat_proto "$1" 10 "$min" director "$VIP_NAT:$2" "$rs:$2" "$col" ||
                fail "$1 $rs:$2 $col stayed at '$(ipvs_stat_proto "$1" director "$VIP_NAT:$2" "$rs:$2" "$col")', expected >= $min"
            log "ok: $1 $rs:$2 $col = $(ipvs_stat_proto "$1" director "$VIP_NAT:$2" "$rs:$2" "$col") (>= $min)"
        done
    done
}

step "real servers: flow-traffic udp-serve on 5353 and sctp-serve on 5000"
for ns in rs1 rs2; do
    in_ns "$ns" "$FT" udp-serve --listen 0.0.0.0:5353 --name "$ns" >"/tmp/udp-$ns.log" 2>&1 &
    in_ns "$ns" "$FT" sctp-serve --listen 0.0.0.0:5000 --name "$ns" >"/tmp/sctp-$ns.log" 2>&1 &
done
for ns in rs1 rs2; do
    ip_=$(rs_ip "$ns")
    wait_until 10 in_ns director "$FT" udp-client --target "$ip_:5353" --timeout-ms 500 ||
        fail "udp-serve on $ns does not answer: $(cat "/tmp/udp-$ns.log")"
    wait_until 10 in_ns director "$FT" sctp-client --target "$ip_:5000" --timeout-ms 1000 ||
        fail "sctp-serve on $ns does not answer: $(cat "/tmp/sctp-$ns.log")"
done
assert_eq rs1 "$(in_ns director "$FT" udp-client --target "$RS1_IP:5353")" "UDP answer of rs1 itself"
assert_eq rs2 "$(in_ns director "$FT" sctp-client --target "$RS2_IP:5000")" "SCTP answer of rs2 itself"

step "control: before the apply the VIP answers neither UDP nor SCTP"
if out=$(udp_ask 1 2>&1); then fail "control: UDP to $VIP_NAT:5353 answered before any service: $out"; fi
log "ok: control: no UDP answer before the apply ($out)"
if out=$(sctp_ask 1 2>&1); then fail "control: SCTP to $VIP_NAT:5000 answered before any service: $out"; fi
log "ok: control: no SCTP answer before the apply ($out)"

SETTINGS=/tmp/settings-78.toml
cat >"$SETTINGS" <<EOT
managed_vip_ranges = ["10.0.0.96/28"]
state_file = "/tmp/lbctl-state.json"
drain_timeout_secs = 600
udp_drain_timeout_secs = $UDP_TIMEOUT
EOT
CM=/tmp/cm-78.yaml
write_configmap "$CM" <<EOF
$VIP_NAT-5353-udp: $RS1_IP:5353, $RS2_IP:5353; scheduler=rr
$VIP_NAT-5000-sctp: $RS1_IP:5000, $RS2_IP:5000; scheduler=rr
EOF

step "lbctl apply: a UDP and an SCTP service"
lbctl_apply_ok --config "$CM"
rules=$(ipvs_rules director)
echo "$rules"
assert_contains "$rules" "-A -u $VIP_NAT:5353 -s rr" "ipvsadm -Sn"
assert_contains "$rules" "-a -u $VIP_NAT:5353 -r $RS2_IP:5353 -m -w 1" "ipvsadm -Sn"
assert_contains "$rules" "-A --sctp-service $VIP_NAT:5000 -s rr" "ipvsadm -Sn"
assert_contains "$rules" "-a --sctp-service $VIP_NAT:5000 -r $RS1_IP:5000 -m -w 1" "ipvsadm -Sn"
assert_eq 0 "$(ipvs_stat_proto udp director "$VIP_NAT:5353")" "UDP service conns before traffic"
assert_eq 0 "$(ipvs_stat_proto sctp director "$VIP_NAT:5000")" "SCTP service conns before traffic"

step "UDP: four flows through $VIP_NAT:5353, two per real server, counters move"
flows udp 3
counters udp 5353 3

step "SCTP: four associations through $VIP_NAT:5000, two per real server, counters move"
flows sctp 3
counters sctp 5000 3

step "UDP drain: a flow from client port $FLOW_PORT"
ans=$(udp_ask 2 "$FLOW_PORT") || fail "flow $FLOW_PORT got no answer: $ans"
held=$(echo "$ans" | sort -u)
case "$held" in rs1) other=rs2 ;; rs2) other=rs1 ;; *) fail "flow $FLOW_PORT answered by '$ans'" ;; esac
held_ip=$(rs_ip "$held")
other_ip=$(rs_ip "$other")
log "flow $FLOW_PORT is held by $held"

step "remove $held from the UDP key and apply: quiesced with a deadline $UDP_TIMEOUT s away"
CM_DRAIN=/tmp/cm-78-drain.yaml
write_configmap "$CM_DRAIN" <<EOF
$VIP_NAT-5353-udp: $other_ip:5353; scheduler=rr
$VIP_NAT-5000-sctp: $RS1_IP:5000, $RS2_IP:5000; scheduler=rr
EOF
before=$(date +%s)
lbctl_apply_ok --config "$CM_DRAIN" -o json >/dev/null
echo "$LBCTL_OUT" | grep -A12 '"draining"'
deadline=$(echo "$LBCTL_OUT" | sed -n 's/.*"deadline": *\([0-9]*\).*/\1/p' | head -n1)
[ -n "$deadline" ] || fail "the apply reports no draining destination"
assert_ge "$((before + UDP_TIMEOUT))" "$deadline" "drain deadline (apply started at $before)"
[ "$deadline" -le $((before + UDP_TIMEOUT + 15)) ] ||
    fail "drain deadline $deadline is not about $UDP_TIMEOUT s after $before (the TCP timeout?)"
assert_contains "$(ipvs_rules director)" "-a -u $VIP_NAT:5353 -r $held_ip:5353 -m -w 0" "ipvsadm -Sn (quiesced)"
assert_contains "$(cat /tmp/lbctl-state.json)" "$deadline" "state file (the drain deadline)"

step "the flow keeps its drained server; new flows go to $other"
assert_eq "$held" "$(udp_ask 1 "$FLOW_PORT")" "flow $FLOW_PORT after the quiesce"
for i in 1 2 3; do
    assert_eq "$other" "$(udp_ask 1)" "new UDP flow $i"
done

step "control: an apply before the deadline keeps $held (weight 0, same deadline)"
lbctl_apply_ok --config "$CM_DRAIN" -o json >/dev/null
now=$(date +%s)
[ "$now" -lt "$deadline" ] ||
    fail "inconclusive: the control apply ended at $now, not before the deadline $deadline (raise UDP_TIMEOUT)"
assert_contains "$(ipvs_rules director)" "-a -u $VIP_NAT:5353 -r $held_ip:5353 -m -w 0" "ipvsadm -Sn before the deadline"
assert_eq "$deadline" "$(echo "$LBCTL_OUT" | sed -n 's/.*"deadline": *\([0-9]*\).*/\1/p' | head -n1)" \
    "deadline reported by the second apply"

step "the flow stays with $held until the deadline passes"
i=0
while [ "$(date +%s)" -le "$deadline" ]; do
    i=$((i + 1))
    [ $i -le 30 ] || fail "the deadline $deadline did not pass within 30 rounds"
    assert_eq "$held" "$(udp_ask 1 "$FLOW_PORT")" "flow $FLOW_PORT while draining (round $i)"
    sleep 2
done

step "after the deadline the next apply deletes $held although IPVS still counts the flow"
in_ns director "$IPVSADM" -Ln -u "$VIP_NAT:5353"
conns=$(in_ns director "$IPVSADM" -Ln -u "$VIP_NAT:5353" |
    awk -v rs="$held_ip:5353" '$2 == rs { print $5 + $6 }')
assert_ge 1 "$conns" "connections IPVS counts on the drained $held"
entry=$(in_ns director "$IPVSADM" -Lnc |
    awk -v c="$CLIENT_IP:$FLOW_PORT" -v d="$held_ip:5353" '$1 == "UDP" && $4 == c && $6 == d')
[ -n "$entry" ] || fail "no IPVS connection entry of flow $FLOW_PORT to $held: $(in_ns director "$IPVSADM" -Lnc | tr '\n' '|')"
log "ok: flow entry: $entry"
lbctl_apply_ok --config "$CM_DRAIN"
assert_contains "$LBCTL_OUT" "-d -u $VIP_NAT:5353 -r $held_ip:5353" "apply report (deletion)"
assert_eq "-a -u $VIP_NAT:5353 -r $other_ip:5353 -m -w 1" "$(ipvs_rules director | grep -- '^-a -u ')" \
    "remaining UDP destination"
assert_eq "$other" "$(udp_ask 1)" "a new UDP flow after the deletion"
