#!/bin/sh
# 10-apply-table (issue 3, lab scenario 1): from the lab ConfigMap, `lbctl apply` programs the
# table, creates the VIP interface and binds the VIPs; an independent `ipvsadm -Sn` shows
# exactly the expected services, destinations, schedulers, methods and weights; a second apply
# changes nothing. GUE and GRE tunnel destinations are kept by the kernel as written.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_nat
# lbctl must create the VIP interface itself.
in_ns director "$IP" link del lbvip0

step "lbctl apply of the lab ConfigMap"
lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_eq 11 "$(netlink_writes)" "netlink writes of the first apply (4 services + 7 destinations)"

step "the kernel table, read by ipvsadm"
actual=$(ipvs_rules director)
echo "$actual"
expected=$(sort <<'EOT'
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 1
-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1
-A -u 10.0.0.100:53 -s rr
-a -u 10.0.0.100:53 -r 10.0.1.11:53 -m -w 1
-A -t 10.0.0.101:80 -s rr
-a -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 1
-a -t 10.0.0.101:80 -r 10.0.1.12:80 -g -w 1
-A -t 10.0.0.102:80 -s rr
-a -t 10.0.0.102:80 -r 10.0.1.11:80 -i -w 1 --tun-type ipip
-a -t 10.0.0.102:80 -r 10.0.1.12:80 -i -w 1 --tun-type ipip
EOT
)
[ "$actual" = "$expected" ] || fail "ipvsadm -Sn differs from the expected table: $(echo "$actual" | tr '\n' '|')"
log "ok: ipvsadm -Sn equals the expected table"

step "lbctl plan agrees with the kernel"
planned=$("$LBCTL" plan -c "$LAB_CONFIGMAP" -s "$LAB_SETTINGS" | grep -v '^#' | sort)
assert_eq "$expected" "$planned" "lbctl plan"

step "VIP interface created and VIPs bound"
addrs=$(in_ns director "$IP" -4 -o addr show dev lbvip0)
echo "$addrs"
for vip in 10.0.0.100 10.0.0.101 10.0.0.102; do
    assert_contains "$addrs" "inet $vip/32" "lbvip0 addresses"
done

step "a second apply is a no-op"
lbctl_apply_ok --config "$LAB_CONFIGMAP" -o json
assert_eq 0 "$(netlink_writes)" "netlink writes of the second apply"
in_ns director "$LBCTL" diff --config "$LAB_CONFIGMAP" --settings "$LAB_SETTINGS" ||
    fail "lbctl diff reports pending changes after apply"

step "GUE and GRE tunnels: programmed, kept by the kernel (read-back), shown by ipvsadm"
# The kernel (6.1) has both (GUE since 5.2, GRE since 5.3); on older kernels lbctl refuses
# them before writing (ipvs-sync netlink/features.rs), since those would ignore the type.
cp "$LAB_CONFIGMAP" /tmp/cm-10-tunnels.yaml
cat >>/tmp/cm-10-tunnels.yaml <<'EOS'
  10.0.0.103-80: 10.0.1.11:80; method=tunnel:gue:6080
  10.0.0.104-80: 10.0.1.12:80; method=tunnel:gre
EOS
lbctl_apply_ok --config /tmp/cm-10-tunnels.yaml -o json
assert_eq 4 "$(netlink_writes)" "netlink writes for two tunnel services"
assert_not_contains "$LBCTL_OUT" "did not keep" "lbctl apply report (read-back)"
tunnels=$(ipvs_rules director | grep -e '10.0.0.103:80' -e '10.0.0.104:80')
echo "$tunnels"
assert_contains "$tunnels" "-a -t 10.0.0.103:80 -r 10.0.1.11:80 -i -w 1 --tun-type gue --tun-port 6080" "ipvsadm -Sn"
assert_contains "$tunnels" "-a -t 10.0.0.104:80 -r 10.0.1.12:80 -i -w 1 --tun-type gre" "ipvsadm -Sn"
lbctl_apply_ok --config /tmp/cm-10-tunnels.yaml -o json
assert_eq 0 "$(netlink_writes)" "netlink writes of a second apply with tunnels"
