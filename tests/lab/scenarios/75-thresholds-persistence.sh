#!/bin/sh
# 75-thresholds-persistence (issue 14): two scheduling options of docs/configmap.md, proven with
# traffic on the real kernel, each with a control.
#
# Thresholds: scheduler fo (weighted failover: the available real server of highest weight),
# rs1 (weight 100, upper-threshold=2 lower-threshold=1) before rs2 (weight 1).
# Two long-lived connections put rs1 at its upper threshold: new connections go to rs2 only.
# One is reset (a RST leaves IPVS in 10 s; a FIN would keep it counted in TIME_WAIT for 2
# minutes): rs1 is below its upper threshold but not below its lower one, and still gets none
# (hysteresis). The second is reset: rs1 is below its lower threshold and gets new
# connections again. Control: the first connection after the options are removed from the key
# (lbctl apply, same streams open) goes to rs1 although it holds two connections.
#
# Persistence: with persistence=4 every request of one client goes to one real server, and the
# kernel holds a persistence template (client port 0) for it. Control: the same key without
# persistence alternates (rr).
#
# Persistence netmask: six client addresses of one /24 (10.0.0.20-25, chosen by the route's
# source hint): with persistence=60/24 all six reach one real server (one template for the
# /24). Control: with persistence=60 (a /32 per client) the same six alternate, 3 and 3.
#
# Template expiry (persistence=15 on port 7000): connections opened 6 s apart over 18 s (past
# the timeout) all reach the first one's real server; each is ended by a RST (IPVS forgets it
# 10 s later; a FIN would hold it in TIME_WAIT for 2 minutes, and a template due while a
# connection it controls is still in the table is re-armed for 60 s by the kernel). 15 s
# after the last one the template leaves the kernel's table, and the next connection goes to
# the other real server (rr's next pick). Control: the kept real server while the template
# lives (rr would alternate); a template that never expired fails the last check.
# lab-timeout: 240
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
for ns in rs1 rs2; do rs_echo "$ns" 7000; done
CM=/tmp/cm-75.yaml

# first_line: the first line a new connection to VIP:7000 gets, i.e. the real server's name.
first_line() { echo | in_ns client timeout 5 nc -w 2 "$VIP_NAT" 7000 2>/dev/null | head -n1; }
# open_tracked_stream NAME: a long-lived connection to VIP:7000; records its client port (for
# abort_stream) and its greeting, the real server's name (stream_rs NAME).
open_tracked_stream() {
    local before after
    before=$(client_ports)
    open_stream "$1" client "$VIP_NAT" 7000
    wait_until 10 test -s "/tmp/stream-$1.out" || fail "stream $1 got no greeting"
    after=$(client_ports)
    eval "STREAM_PORT_$1=$(echo "$after" | grep -vxF "$before" | head -n1)"
}
# stream_rs NAME: the real server that greeted stream NAME.
stream_rs() { head -n1 "/tmp/stream-$1.out"; }
# open_rs1_stream NAME: a tracked stream that must land on rs1.
open_rs1_stream() {
    open_tracked_stream "$1"
    [ "$(stream_rs "$1")" = rs1 ] || fail "stream $1 did not land on rs1: $(cat "/tmp/stream-$1.out")"
}
# client_ports: local ports of the client's established connections to VIP:7000, one per line.
client_ports() {
    in_ns client /usr/sbin/ss -Htn state established dst "$VIP_NAT" | awk '{ n = split($3, a, ":"); print a[n] }' | sort
}
# abort_stream NAME: end stream NAME with a RST (ss -K on the client's socket). A FIN would
# leave the connection in IPVS's TIME_WAIT for 2 minutes, still counted against the
# thresholds; after a RST it is CLOSE and gone in 10 s.
abort_stream() {
    local port
    port=$(stream_port "$1")
    [ -n "$port" ] || fail "no client port for stream $1"
    in_ns client /usr/sbin/ss -K -tn dst "$VIP_NAT" sport = ":$port" >/dev/null
    stream_close "$1"
}
# stream_port NAME: the client port of stream NAME (recorded when it was opened).
stream_port() { eval "echo \$STREAM_PORT_$1"; }
# rs_conns RS: active + inactive connections IPVS counts on RS:7000 (what the thresholds see).
rs_conns() {
    in_ns director "$IPVSADM" -Ln -t "$VIP_NAT:7000" |
        awk -v rs="$1:7000" '$2 == rs { print $5 + $6 }'
}
# wait_rs1_conns N: wait (at most 25 s) until IPVS counts exactly N connections on rs1.
rs1_holds() { [ "$(rs_conns "$RS1_IP")" = "$1" ]; }
wait_rs1_conns() {
    wait_until 25 rs1_holds "$1" ||
        fail "rs1 still counts $(rs_conns "$RS1_IP") connections, not $1"
}

step "thresholds: rs1 at its upper threshold gets no new connection"
write_configmap "$CM" <<'CM'
10.0.0.100-7000: 10.0.1.11:7000 weight=100 upper-threshold=2 lower-threshold=1, 10.0.1.12:7000 weight=1; scheduler=fo
CM
lbctl_apply_ok --config "$CM"
# (`ipvsadm -Sn` of Debian 12 does not print thresholds; -L --thresholds does.)
thresholds=$(in_ns director "$IPVSADM" -Ln --thresholds -t "$VIP_NAT:7000" |
    awk -v rs="$RS1_IP:7000" '$2 == rs { print $3 "/" $4 }')
assert_eq 2/1 "$thresholds" "rs1's upper/lower threshold in the kernel"
open_rs1_stream a
open_rs1_stream b
assert_eq 2 "$(rs_conns "$RS1_IP")" "connections on rs1"
for i in 1 2 3; do
    assert_eq rs2 "$(first_line)" "new connection $i while rs1 is at its upper threshold"
done

step "thresholds: below the upper but not below the lower threshold, still none"
abort_stream a
wait_rs1_conns 1
for i in 1 2; do
    assert_eq rs2 "$(first_line)" "new connection $i with rs1 at 1 connection (lower threshold 1)"
done

step "thresholds: below the lower threshold, rs1 gets new connections again"
abort_stream b
wait_rs1_conns 0
open_rs1_stream c
abort_stream c
wait_rs1_conns 0

step "control: without the thresholds rs1 takes new connections while it holds two"
open_rs1_stream a
open_rs1_stream b
assert_eq rs2 "$(first_line)" "with the thresholds, a third connection goes to rs2"
write_configmap "$CM" <<'CM'
10.0.0.100-7000: 10.0.1.11:7000 weight=100, 10.0.1.12:7000 weight=1; scheduler=fo
CM
lbctl_apply_ok --config "$CM"
assert_eq rs1 "$(first_line)" "without the thresholds, the next connection goes to rs1"
abort_stream a
abort_stream b

step "persistence: one client keeps its real server"
# control first: no persistence, rr alternates.
write_configmap "$CM" <<'CM'
10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80; scheduler=rr
CM
lbctl_apply_ok --config "$CM" --force
answers=$(http_get_n client "$VIP_NAT" 80 6 | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
assert_eq " 3 rs1  3 rs2 " "$answers" "control: rr without persistence"
write_configmap "$CM" <<'CM'
10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80; scheduler=rr; persistence=4
CM
lbctl_apply_ok --config "$CM"
assert_contains "$(in_ns director "$IPVSADM" -Sn)" "-A -t $VIP_NAT:80 -s rr -p 4" "persistent service in the kernel"
answers=$(http_get_n client "$VIP_NAT" 80 6 | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
case "$answers" in
    " 6 rs1 " | " 6 rs2 ") log "ok: persistent answers:$answers" ;;
    *) fail "persistence did not keep the client on one real server: $answers" ;;
esac
# The template: a connection entry from the client with port 0 (ipvsadm -Lnc).
template() { in_ns director "$IPVSADM" -Lnc | grep -q " $CLIENT_IP:0 *$VIP_NAT:80 "; }
template || fail "no persistence template: $(in_ns director "$IPVSADM" -Lnc | tr '\n' '|')"

step "persistence: an active client keeps its real server past the timeout"
write_configmap "$CM" <<'CM'
10.0.0.100-7000: 10.0.1.11:7000, 10.0.1.12:7000; scheduler=rr; persistence=15
CM
lbctl_apply_ok --config "$CM"
# template_7000: the client's persistence template on VIP:7000 is in the kernel's table.
template_7000() { in_ns director "$IPVSADM" -Lnc | grep -q " $CLIENT_IP:0 *$VIP_NAT:7000 "; }
no_template_7000() { ! template_7000; }
open_tracked_stream a
kept=$(stream_rs a)
abort_stream a
template_7000 || fail "no persistence template on :7000: $(in_ns director "$IPVSADM" -Lnc | tr '\n' '|')"
for name in b c a; do
    sleep 6
    open_tracked_stream "$name"
    assert_eq "$kept" "$(stream_rs "$name")" "real server of a connection 6 s after the last"
    abort_stream "$name"
done

step "persistence: the template expires 15 s after the client's last connection"
wait_until 40 no_template_7000 ||
    fail "the persistence template is still there: $(in_ns director "$IPVSADM" -Lnc | tr '\n' '|')"
log "ok: the template left the kernel's table"
open_tracked_stream a
[ "$(stream_rs a)" != "$kept" ] ||
    fail "after the template expired the next connection still reached $kept (rr's next pick is the other)"
log "ok: after expiry the next connection reached $(stream_rs a), not $kept"
abort_stream a

step "persistence netmask: six addresses of one /24 share a real server"
for n in 20 21 22 23 24 25; do in_ns client "$IP" addr add "10.0.0.$n/24" dev c0; done
# six_clients: one request from each of 10.0.0.20-25 (the route's source hint picks the
# address; busybox nc cannot bind), the answers counted as " N rsX N rsY ".
six_clients() {
    local n
    for n in 20 21 22 23 24 25; do
        in_ns client "$IP" route replace "$VIP_NAT/32" via "$DIRECTOR_CLIENT_IP" dev c0 src "10.0.0.$n"
        http_get client "$VIP_NAT" 80 || echo none
    done | sort | uniq -c | tr -s ' ' | tr '\n' ' '
}
write_configmap "$CM" <<'CM'
10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80; scheduler=rr; persistence=60
CM
lbctl_apply_ok --config "$CM"
assert_eq " 3 rs1  3 rs2 " "$(six_clients)" "control: persistence per client (/32) alternates"
write_configmap "$CM" <<'CM'
10.0.0.100-80: 10.0.1.11:80, 10.0.1.12:80; scheduler=rr; persistence=60/24
CM
lbctl_apply_ok --config "$CM"
assert_contains "$(in_ns director "$IPVSADM" -Sn)" "-A -t $VIP_NAT:80 -s rr -p 60 -M 255.255.255.0" "persistent service with netmask in the kernel"
answers=$(six_clients)
case "$answers" in
    " 6 rs1 " | " 6 rs2 ") log "ok: one /24, one real server:$answers" ;;
    *) fail "persistence=60/24 did not keep the /24 on one real server: $answers" ;;
esac
in_ns client "$IP" route del "$VIP_NAT/32"
