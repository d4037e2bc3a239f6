#!/bin/sh
# demo: the main job, end to end. lbctl programs a real kernel's IPVS from the lab ConfigMap
# (NAT, DR, IPIP tunnel), the client namespace sends real traffic through the VIPs, and the
# table is printed with its counters. Then the daemon (`lbctl run`) takes the same table over
# from a ConfigMap that names a Kubernetes Service, with zero IPVS writes, and shows what only
# it shows: `lbctl status` with the Service names and health, and the per-endpoint counters of
# /metrics. Run it with tests/lab/demo.sh.
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

topology_dr_tun
in_ns director "$IP" link del lbvip0

# traffic_round TOTAL: 10 HTTP requests from the client to each VIP, who answered, and a wait
# until each VIP's connection counter in the kernel reaches TOTAL.
traffic_round() {
    for vip in "$VIP_NAT" "$VIP_DR" "$VIP_TUN"; do
        answers=$(http_get_n client "$vip" 80 10 | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
        echo "$vip:80 answered by:$answers"
    done
    for vip in "$VIP_NAT" "$VIP_DR" "$VIP_TUN"; do
        wait_ipvs_stat 10 "$1" director "$vip:80" || fail "counters of $vip:80 did not reach $1"
    done
}

echo "DEMO-BEGIN"
echo "== The ConfigMap"
grep -v '^#' "$LAB_CONFIGMAP"
echo
echo "== lbctl plan (the table the director should have)"
"$LBCTL" plan -c "$LAB_CONFIGMAP" -s "$LAB_SETTINGS"
echo
echo "== lbctl apply (programs IPVS over generic netlink, binds the VIPs on lbvip0)"
in_ns director "$LBCTL" apply -c "$LAB_CONFIGMAP" -s "$LAB_SETTINGS"
echo
echo "== traffic: 10 HTTP requests from the client namespace to each VIP"
traffic_round 10
echo
echo "== ipvsadm -Ln (weights, active/inactive connections)"
in_ns director "$IPVSADM" -Ln
echo
echo "== ipvsadm -Ln --stats --exact (the kernel's counters)"
in_ns director "$IPVSADM" -Ln --stats --exact
echo
echo "== VIPs on lbvip0"
in_ns director "$IP" -4 -br addr show dev lbvip0
echo
echo "== a second apply changes nothing"
in_ns director "$LBCTL" apply -c "$LAB_CONFIGMAP" -s "$LAB_SETTINGS" | grep "^# applied"
echo
echo "== lbctl run: the daemon takes over from configmap-services.yaml, the same table as a"
echo "   cluster would write it (NAT and DR VIPs fed by the Service shop/web, TCP health checks)"
grep -v '^#' "$LAB_EXAMPLES/configmap-services.yaml" | sed -n '/^data:/,$p'
SETTINGS_RUN=/tmp/demo-settings.toml
cat "$LAB_SETTINGS" >"$SETTINGS_RUN"
echo 'listen_address = "127.0.0.1:9469"' >>"$SETTINGS_RUN"
# /status shows the table of the last full read: a short resync keeps its counters fresh here.
echo 'resync_period_secs = 5' >>"$SETTINGS_RUN"
in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" \
    --config-file "$LAB_EXAMPLES/configmap-services.yaml" \
    --endpoints-file "$LAB_EXAMPLES/endpoints.yaml" >/tmp/demo-run.log 2>&1 &
# Ready, and every health check has answered: the four real servers of shop/web are healthy
# (the static entries have no check: "unchecked").
all_checked() {
    in_ns director "$LBCTL" status --address 127.0.0.1:9469 >/tmp/demo-status.txt 2>&1 &&
        [ "$(grep -c ' healthy ' /tmp/demo-status.txt)" -ge 4 ]
}
wait_until 30 all_checked ||
    fail "daemon not ready: $(tail -5 /tmp/demo-status.txt /tmp/demo-run.log | tr '\n' '|')"
# metrics: one scrape of /metrics (a second try when a read came back empty).
metrics() {
    http_get_held director 127.0.0.1 9469 /metrics || { sleep 1; http_get_held director 127.0.0.1 9469 /metrics; }
}
writes=$(metrics | awk '/^lbctl_netlink_operations_total/ { s += $2 } END { print s + 0 }')
echo "IPVS writes of the daemon when it adopted the table: $writes"
[ "$writes" = 0 ] || fail "the daemon rewrote an identical table ($writes IPVS writes)"
echo
echo "== traffic again: 10 HTTP requests to each VIP"
traffic_round 20
echo
echo "== lbctl status (what the daemon programmed: Kubernetes names, health, connections)"
# Once a resync has read the counters of the second round of traffic (20 connections).
status_fresh() {
    in_ns director "$LBCTL" status --address 127.0.0.1:9469 >/tmp/demo-status.txt 2>&1 &&
        grep -q "^$VIP_NAT:80/tcp .* conns 20 " /tmp/demo-status.txt
}
wait_until 20 status_fresh || fail "lbctl status did not catch up: $(grep "^$VIP_NAT:80" /tmp/demo-status.txt)"
cat /tmp/demo-status.txt
echo
echo "== GET /metrics: per-endpoint counters of the NAT VIP (lvs_endpoint_stat_*)"
# The kernel folds its per-CPU counters into what it reports about every 2 s: wait until the
# exported connection counter of the NAT VIP's endpoints has caught up with the traffic.
nat_conns() {
    metrics | awk -v vip="$VIP_NAT" '/^lvs_endpoint_stat_conns_total/ && index($0, "\"" vip "\"") { s += $2 } END { print s + 0 }'
}
nat_caught_up() { [ "$(nat_conns)" -ge 20 ]; }
wait_until 10 nat_caught_up || fail "lvs_endpoint_stat_conns_total of $VIP_NAT is $(nat_conns), expected >= 20"
scrape=$(metrics) || fail "GET /metrics answered nothing"
echo "$scrape" | grep -E '^lvs_endpoint_stat_(conns|inbytes|outbytes)_total' | grep "\"$VIP_NAT\"" |
    grep 'vport="80"' || fail "no lvs_endpoint_stat_* series of $VIP_NAT:80 in /metrics"

stop_lbctl_run
echo "DEMO-END"
