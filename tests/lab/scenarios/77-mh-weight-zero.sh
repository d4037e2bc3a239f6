#!/bin/sh
# 77-mh-weight-zero (issue 14): the Maglev scheduler's flags of docs/configmap.md, proven with
# traffic. 10.0.0.105:80 is `scheduler=mh mh-fallback` over rs1, rs2, rs3 (NAT); 24 client
# addresses each make one request, which fixes the address -> real server map (the kernel's
# Maglev hash keys are constants, so the map is the same on every run).
#
# - Weight 0 moves only its own share: rs3 set to `weight=0` in the key; every address that
#   rs1 or rs2 served before is served by the same real server, every address of rs3 now by
#   rs1 or rs2. (IPVS keeps a weight-0 server's slots in the Maglev table, and `mh-fallback`
#   looks past an unavailable one.) Control: the same key without `mh-fallback`: rs3's
#   addresses get no answer (the kernel schedules them to rs3, which is unavailable), the
#   others still their old real server; so the flag is what the kernel obeyed.
# - `mh-port` hashes the client's port too: 12 connections of one client address (new source
#   ports each) reach more than one real server. Control: without `mh-port` the same 12 reach
#   exactly one.
# About 80 s on an idle host (150 requests through TCG).
# lab-timeout: 240
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

VIP_MH=10.0.0.105
RS3_IP=10.0.1.13
# 24 client addresses 10.0.0.20-43, on the client's link.
CLIENT_ADDRS=$(seq 20 43 | sed 's/^/10.0.0./')

topology_nat
ns_create rs3
rs_attach rs3 "$RS3_IP"
wait_until 10 in_ns director ping -c1 -W1 "$RS3_IP" || fail "director cannot ping $RS3_IP"
rs_http rs3 80 rs3
for addr in $CLIENT_ADDRS; do in_ns client "$IP" addr add "$addr/24" dev c0; done

CM=/tmp/cm-77.yaml
# apply_mh SCHEDULER RS3_WEIGHT: the key with that scheduler line and rs3's weight, applied.
apply_mh() {
    write_configmap "$CM" <<EOF
$VIP_MH-80: $RS1_IP:80, $RS2_IP:80, $RS3_IP:80 weight=$2; scheduler=$1
EOF
    lbctl_apply_ok --config "$CM"
}
# from ADDR: the body of one request to VIP_MH:80 from client address ADDR ("none" when it
# gets no answer). The route's preferred source picks the address (busybox nc cannot bind).
from() {
    in_ns client "$IP" route replace "$VIP_MH/32" via "$DIRECTOR_CLIENT_IP" dev c0 src "$1"
    http_get client "$VIP_MH" 80 || echo none
}
# address_map: "ADDR BODY" for every client address, one per line.
address_map() {
    local addr
    for addr in $CLIENT_ADDRS; do echo "$addr $(from "$addr")"; done
}
# served_by MAP ADDR: the real server of ADDR in MAP.
served_by() { echo "$1" | awk -v a="$2" '$1 == a { print $2 }'; }
# distinct_servers N: how many different real servers answer N requests from 10.0.0.20.
distinct_servers() {
    local i=0
    while [ "$i" -lt "$1" ]; do
        i=$((i + 1))
        from 10.0.0.20
    done | sort -u | tee /tmp/mh-distinct | wc -l
}

step "mh mh-fallback over three real servers: the address map"
apply_mh "mh mh-fallback" 1
before=$(address_map)
echo "$before"
assert_not_contains "$before" none "address map (every request answered)"
for rs in rs1 rs2 rs3; do
    assert_ge 1 "$(echo "$before" | grep -c " $rs$" || true)" "addresses served by $rs"
done
rs3_share=$(echo "$before" | grep -c ' rs3$' || true)

step "control of mh-port: without it, one client address always reaches one real server"
assert_eq 1 "$(distinct_servers 12)" "real servers of 12 connections from 10.0.0.20 (no mh-port)"

step "rs3 weight 0 with mh-fallback: only rs3's addresses move"
apply_mh "mh mh-fallback" 0
assert_contains "$(ipvs_rules director)" "-a -t $VIP_MH:80 -r $RS3_IP:80 -m -w 0" "ipvsadm -Sn"
after=$(address_map)
echo "$after"
moved=0
for addr in $CLIENT_ADDRS; do
    was=$(served_by "$before" "$addr")
    now=$(served_by "$after" "$addr")
    case "$was" in
        rs3)
            case "$now" in rs1 | rs2) moved=$((moved + 1)) ;;
                *) fail "$addr (rs3's share) is served by '$now' after rs3 went to weight 0" ;; esac ;;
        *) [ "$now" = "$was" ] || fail "$addr moved from $was to $now although $was kept its weight" ;;
    esac
done
assert_eq "$rs3_share" "$moved" "addresses that moved (rs3's share)"

step "control of mh-fallback: without it, rs3's addresses get no answer, the others stay"
apply_mh "mh" 0
nofallback=$(address_map)
echo "$nofallback"
for addr in $CLIENT_ADDRS; do
    was=$(served_by "$before" "$addr")
    now=$(served_by "$nofallback" "$addr")
    if [ "$was" = rs3 ]; then
        [ "$now" = none ] || fail "control: $addr (rs3's share) answered by '$now' without mh-fallback"
    else
        [ "$now" = "$was" ] || fail "control: $addr moved from $was to $now without mh-fallback"
    fi
done
log "ok: control: $rs3_share addresses unanswered without mh-fallback, the others unchanged"

step "mh-port: one client address reaches more than one real server"
apply_mh "mh mh-fallback mh-port" 1
spread=$(distinct_servers 12)
cat /tmp/mh-distinct
assert_ge 2 "$spread" "real servers of 12 connections from 10.0.0.20 (mh-port)"
