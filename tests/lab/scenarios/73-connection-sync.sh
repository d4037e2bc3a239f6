#!/bin/sh
# 73-connection-sync (issue 12): two directors, each running `lbctl run` in its own network
# namespace with [failover.connection_sync] roles = ["master", "backup"], share a NAT VIP.
# lbctl starts both IPVS sync daemons in each director over generic netlink (ipvsadm --daemon
# lists them as configured: this checks our encoding against ipvsadm's decoding), reports them
# in /status and metrics, and repairs a daemon someone stopped at the next full pass. Long-lived
# TCP connections through director A show up in director B's connection table (synced), and
# survive a failover to B: A's lbctl is SIGKILLed and its links go down, the client's route
# and the real servers' gateway move to B, and every line sent afterwards comes back.
# Control (in the scenario): a connection opened while B's backup daemon is stopped is not in
# B's table and dies at the failover (B answers its mid-flow packets with a reset), so the
# survival of the synced ones is the sync's doing. Typical duration: 90 s under TCG.
#
#   client 192.168.10.2 --(fr)-- A a0 192.168.10.1   A a1 10.0.1.2 + gateway 10.0.1.1 --(bk)-- rs1 10.0.1.11
#                          \---- B b0 192.168.10.3   B b1 10.0.1.3 ---------------------/ \-- rs2 10.0.1.12
# The bridges fr and bk live in namespace sw; the sync daemons multicast on a1/b1 (bk).
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

VIP=10.0.0.100
PORT=7000
GATEWAY=10.0.1.1

step "topology: client, switch, two directors, rs1, rs2"
for ns in client sw dA dB rs1 rs2; do ns_create "$ns"; done
in_ns sw "$IP" link add fr type bridge
in_ns sw "$IP" link add bk type bridge
in_ns sw "$IP" link set fr up
in_ns sw "$IP" link set bk up
port() { # port NS IF BRIDGE: NS's IF plugged into the switch's BRIDGE
    veth_pair "$1" "$2" sw "$1-$2"
    in_ns sw "$IP" link set "$1-$2" master "$3"
}
port client c0 fr
port dA a0 fr
port dB b0 fr
port dA a1 bk
port dB b1 bk
port rs1 eth0 bk
port rs2 eth0 bk
in_ns client "$IP" addr add 192.168.10.2/24 dev c0
in_ns client "$IP" route add 10.0.0.96/28 via 192.168.10.1
in_ns dA "$IP" addr add 192.168.10.1/24 dev a0
in_ns dB "$IP" addr add 192.168.10.3/24 dev b0
in_ns dA "$IP" addr add 10.0.1.2/24 dev a1
in_ns dA "$IP" addr add "$GATEWAY/24" dev a1
in_ns dB "$IP" addr add 10.0.1.3/24 dev b1
for d in dA dB; do sysctl_set "$d" net.ipv4.ip_forward 1; done
for rs in rs1:10.0.1.11 rs2:10.0.1.12; do
    in_ns "${rs%%:*}" "$IP" addr add "${rs#*:}/24" dev eth0
    in_ns "${rs%%:*}" "$IP" route add default via "$GATEWAY"
    rs_echo "${rs%%:*}" "$PORT"
done
wait_until 15 in_ns dA ping -c1 -W1 10.0.1.11 || fail "A cannot reach rs1"
wait_until 15 in_ns dB ping -c1 -W1 10.0.1.12 || fail "B cannot reach rs2"
wait_until 15 in_ns client ping -c1 -W1 192.168.10.3 || fail "client cannot reach B"

CM=/tmp/cm-73.yaml
echo "$VIP-$PORT: 10.0.1.11:$PORT, 10.0.1.12:$PORT" | write_configmap "$CM"
settings() { # settings NAME SYNC-IF
    cat <<EOF
managed_vip_ranges = ["10.0.0.96/28"]
vip_interface = "lbvip0"
state_file = "/tmp/lbctl-73-$1.json"
listen_address = "127.0.0.1:9469"
resync_period_secs = 3
[http]
control_socket = "/tmp/lbctl-73-$1.sock"
[failover.connection_sync]
roles = ["master", "backup"]
interface = "$2"
sync_id = 5
refresh_period_secs = 30
sync_threshold = [2, 40]
EOF
}
settings A a1 >/tmp/settings-73-A.toml
settings B b1 >/tmp/settings-73-B.toml
start() { # start NS NAME
    in_ns "$1" "$LBCTL" run --settings "/tmp/settings-73-$2.toml" --config-file "$CM" \
        --log info >"/tmp/run-73-$2.log" 2>&1 &
}
gone() { [ -z "$(lbctl_pid "$1")" ]; }
json() { in_ns "$1" "$LBCTL" status --address 127.0.0.1:9469 -o json 2>/dev/null; }
in_line() { json "$1" | grep -q '"in_line": true'; }
metrics() { http_get "$1" 127.0.0.1 9469 /metrics; }
established() { # established NS: ESTABLISHED connections to the VIP in NS's IPVS table
    in_ns "$1" "$IPVSADM" -Lnc | grep ESTABLISHED | grep -c "$VIP:$PORT" || true
}

step "both directors start their sync daemons"
start dA A
start dB B
wait_until 30 in_line dA || fail "A's sync daemons not in line: $(tail -5 /tmp/run-73-A.log | tr '\n' '|')"
wait_until 30 in_line dB || fail "B's sync daemons not in line: $(tail -5 /tmp/run-73-B.log | tr '\n' '|')"
DAEMONS=$(in_ns dA "$IPVSADM" -L --daemon)
echo "$DAEMONS"
assert_contains "$DAEMONS" "master sync daemon (mcast=a1, syncid=5"
assert_contains "$DAEMONS" "backup sync daemon (mcast=a1, syncid=5"
assert_contains "$DAEMONS" "port=8848"
M=$(metrics dA)
assert_contains "$M" 'lbctl_connection_sync_daemon_up{role="master"} 1'
assert_contains "$M" 'lbctl_connection_sync_daemon_up{role="backup"} 1'
assert_contains "$M" 'lbctl_connection_sync_daemon_changes_total{op="start"} 2'
assert_contains "$(json dA)" '"sync_id": 5'
assert_eq 30 "$(in_ns dA cat /proc/sys/net/ipv4/vs/sync_refresh_period)" "sync_refresh_period set by lbctl"
assert_eq "2 40" "$(in_ns dA cat /proc/sys/net/ipv4/vs/sync_threshold | tr -s '\t ' '  ')" "sync_threshold set by lbctl"
assert_contains "$(in_ns dA "$LBCTL" status --address 127.0.0.1:9469)" \
    "connection sync: master on a1 (sync id 5) running, backup on a1 (sync id 5) running"

step "a stopped daemon is restarted by the next full pass"
in_ns dB "$IPVSADM" --stop-daemon backup
assert_not_contains "$(in_ns dB "$IPVSADM" -L --daemon)" "backup sync daemon"
restarted() { metrics dB | grep -q 'lbctl_connection_sync_daemon_changes_total{op="start"} 3'; }
wait_until 20 restarted || fail "B's backup daemon not restarted: $(metrics dB | grep connection_sync | tr '\n' '|')"
assert_contains "$(in_ns dB "$IPVSADM" -L --daemon)" "backup sync daemon (mcast=b1, syncid=5"

step "long-lived connections through A are synced to B"
open_stream a client "$VIP" "$PORT"
open_stream b client "$VIP" "$PORT"
for i in 1 2 3 4 5; do
    stream_send a "a-$i"
    stream_send b "b-$i"
done
wait_until 10 stream_saw a a-5 || fail "stream a not echoed: $(cat /tmp/stream-a.out | tr '\n' '|')"
wait_until 10 stream_saw b b-5 || fail "stream b not echoed"
synced_two() { [ "$(established dB)" -ge 2 ]; }
wait_until 15 synced_two || fail "B has $(established dB) synced connections: $(in_ns dB "$IPVSADM" -Lnc | tr '\n' '|')"
in_ns dB "$IPVSADM" -Lnc
assert_eq 0 "$(in_ns dB "$IPVSADM" -Ln --stats | awk '$1 == "TCP" {print $3}')" "B scheduled nothing itself"

step "control: a connection opened while B does not listen"
# B's lbctl stops first (SIGTERM leaves IPVS and the daemons), or its next full pass would
# restart the backup daemon before the control connection reaches the sync threshold.
kill -TERM "$(lbctl_pid dB)"
wait_until 20 gone dB || fail "B's lbctl did not stop on SIGTERM"
in_ns dB "$IPVSADM" --stop-daemon backup
open_stream c client "$VIP" "$PORT"
for i in 1 2 3 4 5; do stream_send c "c-$i"; done
wait_until 10 stream_saw c c-5 || fail "stream c not echoed"
three_on_a() { [ "$(established dA)" -ge 3 ]; }
wait_until 10 three_on_a || fail "A has $(established dA) connections"
assert_eq 2 "$(established dB)" "B holds only the synced connections"

step "failover: A dies, routes move to B"
kill -KILL "$(lbctl_pid dA)"
in_ns dA "$IP" link set a0 down
in_ns dA "$IP" link set a1 down
in_ns client "$IP" route replace 10.0.0.96/28 via 192.168.10.3
in_ns dB "$IP" addr add "$GATEWAY/24" dev b1
for rs in rs1 rs2; do in_ns "$rs" "$IP" neigh flush dev eth0; done
for i in 6 7 8; do
    stream_send a "a-$i"
    stream_send b "b-$i"
    # In a subshell: once B reset it, writing to c's closed pipe raises SIGPIPE.
    (stream_send c "c-$i") 2>/dev/null || true
done
wait_until 20 stream_saw a a-8 || fail "synced stream a lost at failover: $(tail -3 /tmp/stream-a.out | tr '\n' '|')"
wait_until 20 stream_saw b b-8 || fail "synced stream b lost at failover"
eval "C_PID=\$STREAM_PID_c"
c_ended() { ! kill -0 "$C_PID" 2>/dev/null; }
wait_until 15 c_ended || fail "control: the unsynced stream c is still open after the failover"
if stream_saw c c-6; then fail "control: the unsynced stream c survived: the check cannot tell"; fi
log "failover: 2 of 2 synced connections kept; the unsynced control connection lost"
in_ns dB "$IPVSADM" -Lnc

step "B's lbctl restarts and adopts the table"
start dB B
wait_until 30 in_line dB || fail "B's daemons not in line after restart"
assert_contains "$(json dB)" '"applied": 0'
stream_close a
stream_close b
stream_close c
kill -TERM "$(lbctl_pid dB)"
