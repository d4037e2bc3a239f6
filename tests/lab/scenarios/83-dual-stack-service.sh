#!/bin/sh
# 83-dual-stack-service (issue 14): one dual-stack Service behind an IPv4 VIP and an IPv6 VIP,
# through `lbctl run --kubeconfig` and the fake Kubernetes API server. The ConfigMap
# (fixtures/83-dual-stack-service/initial.json) has `10.0.0.100: web/frontend:s` and
# `2001_db8_100__20: web/frontend:s`; Service web/frontend has a named target port (`http`
# -> `web`, resolved through the slices' port `http` = 8080) and a numbered one (9000), an
# IPv4 EndpointSlice (10.0.1.11, 10.0.1.12) and an IPv6 one (fd00:1::11, fd00:1::12).
# docs/configmap.md: a key without a port gets the endpoints of the VIP's family.
#
#   client 10.0.0.2 + 2001:db8:c::2 --- director (dc0 10.0.0.1 + 2001:db8:c::1,
#       br0 10.0.1.1 + fd00:1::1) --- rs1 10.0.1.11 + fd00:1::11, rs2 10.0.1.12 + fd00:1::12
#   (lib.sh's topology_nat plus v6 addresses added here: nodad, accept_dad 0, forwarding 1,
#   bridge multicast snooping off so NDP reaches every port; NAT, real servers route back via
#   the director in both families; busybox httpd and nc listen dual-stack.)
#
# Proves, each with what makes it fail (the mutations were run once and seen to fail):
# 1. The exact `ipvsadm -Sn` table: 10.0.0.100:80/:9000 get only 10.0.1.11/12 (8080/9000),
#    [2001:db8:100::20]:80/:9000 only [fd00:1::11/12] (8080/9000), all `-m -w 1`. Fails if a
#    family leaks into the other VIP, if the named target port is not resolved through the
#    slice of the VIP's own family, or if lbctl never programs the v6 VIP. Mutation seen to
#    fail: the IPv6 slice's port `http` set to 8081 in initial.json -> "initial lists, both
#    families: kernel table differs" (kernel had [fd00:1::1x]:8081, the v4 lines still 8080).
# 2. Real traffic over both families: 4 requests to each VIP are answered 2/2 by rs1/rs2, and
#    the v6 service's IPVS counters move. Control (run, and seen to hold, in every run): before
#    lbctl runs the kernel table is empty and neither VIP answers (`no_answer` fails the
#    scenario if one does), so the answers afterwards come through lbctl's services.
# 3. The IPv6 slice scaled down to fd00:1::11 only (admin PUT of slice-v6-scaled-down.json):
#    fd00:1::12 drains (weight 0 on :9000, where a live v6 connection sits on it and keeps
#    echoing; weight 0, or removed once idle, on :80, as in 20); fd00:1::11 keeps weight 1;
#    v6 requests all go to rs1. The v6 change must be seen first (wait for the weight 0, then
#    the v6 lines must differ from those taken before the PUT), so the v4 comparison is not of
#    two stale tables. Mutation seen to fail: no PUT -> "[fd00:1::12]:9000 not drained". Then
#    the v4 lines are compared exactly with those taken before the PUT and with the literal
#    expected table, and v4 traffic is still answered 2/2. Mutation seen to fail: 20's
#    slice-scaled-down.json (the IPv4 slice without 10.0.1.12) PUT right after the v6 one ->
#    "v4 lines after the v6 slice change (exact)" (10.0.1.12:8080 -w 0, :9000 gone).
# About 40 s on an idle host (boot included).
# lab-needs: fake-apiserver
# lab-timeout: 240
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
. /lab/scenarios/kube.sh
set -e

FIX=/lab/fixtures/83-dual-stack-service
HTTP=127.0.0.1:9469
VIP4=10.0.0.100
VIP6=2001:db8:100::20
V6_CLIENT=2001:db8:c::2
V6_DIR_CLIENT=2001:db8:c::1
V6_DIR_SERVER=fd00:1::1
V6_RS1=fd00:1::11
V6_RS2=fd00:1::12

topology_nat

step "IPv6 on the same topology"
for ns in client director rs1 rs2; do
    sysctl_set "$ns" net.ipv6.conf.all.accept_dad 0
    sysctl_set "$ns" net.ipv6.conf.default.accept_dad 0
done
sysctl_set director net.ipv6.conf.lbvip0.accept_dad 0
in_ns client "$IP" -6 addr add "$V6_CLIENT/64" dev c0 nodad
in_ns client "$IP" -6 route add default via "$V6_DIR_CLIENT"
in_ns director "$IP" -6 addr add "$V6_DIR_CLIENT/64" dev dc0 nodad
in_ns director "$IP" link set br0 type bridge mcast_snooping 0
in_ns director "$IP" -6 addr add "$V6_DIR_SERVER/64" dev br0 nodad
sysctl_set director net.ipv6.conf.all.forwarding 1
in_ns rs1 "$IP" -6 addr add "$V6_RS1/64" dev eth0 nodad
in_ns rs2 "$IP" -6 addr add "$V6_RS2/64" dev eth0 nodad
for ns in rs1 rs2; do in_ns "$ns" "$IP" -6 route add default via "$V6_DIR_SERVER"; done
for addr in "$V6_RS1" "$V6_RS2"; do
    wait_until 15 in_ns director ping -6 -c1 -W1 "$addr" || fail "director cannot ping $addr"
done
wait_until 10 in_ns client ping -6 -c1 -W1 "$V6_RS1" || fail "client cannot ping $V6_RS1 through the director"
# The pods: HTTP on their container port 8080 (named `web`), an echo server on 9000.
for ns in rs1 rs2; do
    rs_http "$ns" 8080 "$ns"
    rs_echo "$ns" 9000
done
for addr in 10.0.1.11 10.0.1.12 "$V6_RS1" "$V6_RS2"; do
    wait_until 10 http_get director "$addr" 8080 || fail "httpd on $addr:8080 does not answer"
done
log "ok: httpd answers on 8080 over IPv4 and IPv6 on both real servers"

# v4_lines / v6_lines: the kernel table's lines of each family (v6 addresses are bracketed).
v4_lines() { ipvs_rules director | grep -v '\[' || true; }
v6_lines() { ipvs_rules director | grep '\[' || true; }

step "start the fake API server with the ConfigMap, the dual-stack Service and its two slices"
start_fake_apiserver "$FIX"
SETTINGS_RUN=/tmp/run-settings.toml
{
    echo 'managed_vip_ranges = ["10.0.0.96/28", "2001:db8:100::/120"]'
    echo 'vip_interface = "lbvip0"'
    echo 'state_file = "/tmp/lbctl-state.json"'
    echo "listen_address = \"$HTTP\""
    echo "resync_period_secs = 3"
    echo "[kubernetes]"
    echo 'namespace = "lb-system"'
    echo 'configmap = "lab-vips"'
    echo 'allow_insecure_http = true'
} >"$SETTINGS_RUN"

step "control: before lbctl runs, neither VIP answers"
assert_eq "" "$(ipvs_rules director)" "kernel table before lbctl run"
no_answer "$VIP4" "IPv4 VIP before lbctl run"
no_answer "$VIP6" "IPv6 VIP before lbctl run"

step "lbctl run --kubeconfig: each VIP gets the endpoints of its own family"
in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" --kubeconfig /tmp/kubeconfig --log info \
    >/tmp/run.log 2>&1 &
RUN_PID=$!
expect_table <<EOF
-A -t $VIP4:80 -s rr
-a -t $VIP4:80 -r 10.0.1.11:8080 -m -w 1
-a -t $VIP4:80 -r 10.0.1.12:8080 -m -w 1
-A -t $VIP4:9000 -s rr
-a -t $VIP4:9000 -r 10.0.1.11:9000 -m -w 1
-a -t $VIP4:9000 -r 10.0.1.12:9000 -m -w 1
-A -t [$VIP6]:80 -s rr
-a -t [$VIP6]:80 -r [$V6_RS1]:8080 -m -w 1
-a -t [$VIP6]:80 -r [$V6_RS2]:8080 -m -w 1
-A -t [$VIP6]:9000 -s rr
-a -t [$VIP6]:9000 -r [$V6_RS1]:9000 -m -w 1
-a -t [$VIP6]:9000 -r [$V6_RS2]:9000 -m -w 1
EOF
wait_table 45 "initial lists, both families"
ipvs_rules director
V4_EXPECTED=$(grep -v '\[' /tmp/expected)
vips=$(in_ns director "$IP" addr show dev lbvip0)
assert_contains "$vips" "inet6 $VIP6/128" "lbvip0 addresses"

step "traffic over IPv4 and IPv6 reaches both endpoints"
assert_eq "2 rs1
2 rs2" "$(bodies 4 "$VIP4" 80)" "answers of 4 requests to $VIP4:80"
assert_eq "2 rs1
2 rs2" "$(bodies 4 "$VIP6" 80)" "answers of 4 requests to [$VIP6]:80"
wait_ipvs_stat 10 4 director "[$VIP6]:80" ||
    fail "[$VIP6]:80 conns stayed at '$(ipvs_stat director "[$VIP6]:80")', expected >= 4"
assert_ge 2 "$(ipvs_stat director "[$VIP6]:80" "[$V6_RS2]:8080")" "conns of [$V6_RS2]:8080"
wait_ipvs_stat 10 4 director "$VIP4:80" ||
    fail "$VIP4:80 conns stayed at '$(ipvs_stat director "$VIP4:80")', expected >= 4"

step "two long-lived IPv6 connections to [$VIP6]:9000, one on each pod"
open_stream a client "$VIP6" 9000
open_stream b client "$VIP6" 9000
wait_until 10 sh -c 'test -s /tmp/stream-a.out && test -s /tmp/stream-b.out' || fail "v6 streams got no greeting"
first_a=$(head -1 /tmp/stream-a.out) first_b=$(head -1 /tmp/stream-b.out)
log "stream a is served by $first_a, stream b by $first_b"
case "$first_a $first_b" in
    "rs1 rs2") ON_RS2=b ;;
    "rs2 rs1") ON_RS2=a ;;
    *) fail "rr should spread two connections over rs1 and rs2, got '$first_a $first_b'" ;;
esac
echo_ok a hello-a
echo_ok b hello-b

step "the IPv6 slice scaled down: only the IPv6 VIP's services change"
V4_BEFORE=$(v4_lines)
V6_BEFORE=$(v6_lines)
assert_eq "$V4_EXPECTED" "$V4_BEFORE" "v4 lines before the v6 slice change"
admin PUT objects "$FIX/slice-v6-scaled-down.json"
rs2_v6_drained() { [ "$(weight_of "[$VIP6]:9000" "[$V6_RS2]:9000")" = 0 ]; }
wait_until 20 rs2_v6_drained ||
    fail "[$V6_RS2]:9000 not drained: $(ipvs_rules director | tr '\n' '|')"
ipvs_rules director
V6_AFTER=$(v6_lines)
[ "$V6_AFTER" != "$V6_BEFORE" ] || fail "the v6 lines did not change (stale table?)"
log "ok: the v6 lines changed"
assert_eq 1 "$(weight_of "[$VIP6]:9000" "[$V6_RS1]:9000")" "weight of [$V6_RS1]:9000"
assert_eq 1 "$(weight_of "[$VIP6]:80" "[$V6_RS1]:8080")" "weight of [$V6_RS1]:8080"
# On :80 rs2 has no established connection: drained while TIME_WAIT entries last, else gone.
w=$(weight_of "[$VIP6]:80" "[$V6_RS2]:8080")
[ -z "$w" ] || [ "$w" = 0 ] || fail "[$V6_RS2]:8080 still has weight $w after the scale-down"
log "ok: [$V6_RS2]:8080 on [$VIP6]:80 drained (weight '${w:-removed}')"
assert_eq "$V4_BEFORE" "$(v4_lines)" "v4 lines after the v6 slice change (exact)"
assert_eq "$V4_EXPECTED" "$(v4_lines)" "v4 lines after the v6 slice change (expected table)"
echo_ok "$ON_RS2" still-on-drained-v6-rs2
assert_eq "4 rs1" "$(bodies 4 "$VIP6" 80)" "answers of [$VIP6]:80 after the v6 scale-down"
assert_eq "2 rs1
2 rs2" "$(bodies 4 "$VIP4" 80)" "answers of $VIP4:80 after the v6 scale-down"

stream_close a
stream_close b
stop_lbctl_run
log "ok: stopped"
