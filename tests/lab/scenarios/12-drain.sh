#!/bin/sh
# 12-drain (issue 3, lab scenario 3): a real server removed from the ConfigMap while a
# long-lived connection to it is open keeps that connection working until it ends, gets no new
# connections (weight 0), and is deleted once drained.
# Control: the same kind of connection to a real server deleted outright (ipvsadm -d, what a
# sync without drain would do) stops echoing at once (lbctl sets expire_nodest_conn=1), so the
# "keeps working" checks above can fail.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
for ns in rs1 rs2; do rs_echo "$ns" 7000; done
SETTINGS=/tmp/drain-settings.toml
cat >"$SETTINGS" <<'EOT'
managed_vip_ranges = ["10.0.0.96/28"]
state_file = "/tmp/lbctl-state.json"
drain_timeout_secs = 30
EOT
echo '10.0.0.100-7000: 10.0.1.11:7000, 10.0.1.12:7000' | write_configmap /tmp/both.yaml

step "apply both real servers"
lbctl_apply_ok --config /tmp/both.yaml

step "open a long-lived connection"
open_stream a client "$VIP_NAT" 7000
wait_until 10 test -s /tmp/stream-a.out || fail "the long-lived connection got no greeting"
held=$(head -1 /tmp/stream-a.out)
case "$held" in rs1) held_ip=$RS1_IP; other=rs2 ;; rs2) held_ip=$RS2_IP; other=rs1 ;; *) fail "unexpected greeting '$held'" ;; esac
log "the long-lived connection is served by $held"
stream_send a "hello-1"
wait_until 5 stream_saw a "hello-1" || fail "no echo before the drain"

step "remove $held from the ConfigMap and apply"
other_ip=$([ "$other" = rs1 ] && echo "$RS1_IP" || echo "$RS2_IP")
echo "10.0.0.100-7000: $other_ip:7000" | write_configmap /tmp/one.yaml
lbctl_apply_ok --config /tmp/one.yaml
assert_contains "$LBCTL_OUT" "-e -t 10.0.0.100:7000 -r $held_ip:7000 -m -w 0" "apply report (drain quiesce)"
rules=$(ipvs_rules director)
assert_contains "$rules" "-a -t 10.0.0.100:7000 -r $held_ip:7000 -m -w 0" "ipvsadm -Sn (quiesced)"

step "the established connection keeps working"
stream_send a "hello-2"
wait_until 5 stream_saw a "hello-2" || fail "the drained connection stopped echoing"

step "new connections only go to $other"
i=0
while [ $i -lt 4 ]; do
    i=$((i + 1))
    greeting=$(echo | in_ns client timeout 5 nc -w 3 "$VIP_NAT" 7000 | head -1)
    assert_eq "$other" "$greeting" "new connection $i served by"
done

step "a sync while the connection is open keeps the draining server"
lbctl_apply_ok --config /tmp/one.yaml
assert_contains "$(ipvs_rules director)" "-r $held_ip:7000 -m -w 0" "ipvsadm -Sn (still draining)"
stream_send a "hello-3"
wait_until 5 stream_saw a "hello-3" || fail "the drained connection broke after a resync"

step "the connection ends; the server is deleted once drained"
stream_close a
deleted=no
i=0
while [ $i -lt 25 ]; do
    i=$((i + 1))
    lbctl_apply_ok --config /tmp/one.yaml >/dev/null
    if ! ipvs_rules director | grep -q -- "-r $held_ip:7000"; then deleted=yes; break; fi
    sleep 2
done
assert_eq yes "$deleted" "drained server deleted within 50 s"
assert_eq "-a -t 10.0.0.100:7000 -r $other_ip:7000 -m -w 1" "$(ipvs_rules director | grep -- '^-a ')" "remaining destination"

step "control: a real server deleted outright cuts its connection"
lbctl_apply_ok --config /tmp/both.yaml
assert_contains "$(ipvs_rules director)" "-r $held_ip:7000 -m -w 1" "ipvsadm -Sn (both back)"
# A connection to $held: open until one lands there (rr alternates).
landed=no
for name in b c; do
    open_stream "$name" client "$VIP_NAT" 7000
    wait_until 10 test -s "/tmp/stream-$name.out" || fail "stream $name got no greeting"
    if [ "$(head -1 "/tmp/stream-$name.out")" = "$held" ]; then landed=$name; break; fi
done
[ "$landed" != no ] || fail "no connection landed on $held"
stream_send "$landed" "before"
wait_until 5 stream_saw "$landed" "before" || fail "no echo before the hard delete"
in_ns director "$IPVSADM" -d -t "$VIP_NAT:7000" -r "$held_ip:7000"
stream_send "$landed" "after"
if wait_until 5 stream_saw "$landed" "after"; then
    fail "control: the connection still echoed after its real server was deleted outright"
fi
log "ok: control: no echo after a hard delete (the drain is what kept it)"
