#!/bin/sh
# 40-metrics-prometheus: a real Prometheus scrapes `lbctl run` while traffic flows; every query
# of the shipped Grafana dashboard returns data for the test service, and the exported
# counters equal `ipvsadm -Ln --stats --exact` of the same moment. No fixed sleeps: it waits
# for a rate and for a scrape that caught up. Every compared ipvsadm value must be positive, so
# two empty reads never pass as equal (they used to: an equality of two empty strings).
# Controls (in every run): the same dashboard queries evaluated at Prometheus's clock minus
# 3600 s (before its first scrape) must each return no data (the 24 not padded with
# `or vector(0)`; the 4 padded ones return data by construction, and for them the status
# test is what can fail: a broken query must answer "status":"error"); at the end rs2's httpd
# is killed and lbctl_health_check_up of rs2 must turn 0 (the control of rs1's 1).
# Mutations (product code, run once each): lvs_endpoint_weight left out of the exposition
# (controller/src/metrics/ipvs/exposition.rs) -> "no data for dashboard query: max by
# (namespace, service, vip, vport, endpoint) (lvs_endpoint_weight{...})"; the inbytes and
# outbytes families reading each other's counter (families.rs FamilySpec::read) ->
# "service-inbytes: expected '17276', got '21544'".
# lab-needs: prometheus
# lab-mem: 1536
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

PROM=/usr/local/bin/prometheus
DASHBOARD=/lab/deploy/grafana/lbctl-dashboard.json
[ -x "$PROM" ] || fail "prometheus missing in the initramfs (run.sh packs it for lab-needs: prometheus)"
[ -f "$DASHBOARD" ] || fail "dashboard missing: run.sh copies deploy/ to /lab/deploy"

topology_nat

step "start lbctl run with a checked service"
cat >/tmp/settings-40.toml <<EOS
managed_vip_ranges = ["10.0.0.96/28"]
vip_interface = "lbvip0"
state_file = "/tmp/lbctl-state.json"
listen_address = "127.0.0.1:9469"
resync_period_secs = 5
EOS
write_configmap /tmp/cm-40.yaml <<EOS
10.0.0.100-80: $RS1_IP:80, $RS2_IP:80; check=tcp; check-interval=1; check-rise=1; check-fall=1
EOS
in_ns director "$LBCTL" run --settings /tmp/settings-40.toml --config-file /tmp/cm-40.yaml \
    >/tmp/lbctl-run-40.log 2>&1 &
metrics_up() { http_get director 127.0.0.1 9469 /metrics | grep -q '^lvs_service_stat_conns_total{'; }
wait_until 30 metrics_up || fail "lbctl run serves no lvs_ series: $(tail -5 /tmp/lbctl-run-40.log | tr '\n' ' ')"

step "start prometheus in the director namespace, scraping every second"
mkdir -p /tmp/prom-data
cat >/tmp/prometheus-40.yml <<EOS
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: lbctl
    static_configs: [{targets: ["127.0.0.1:9469"]}]
EOS
in_ns director "$PROM" --config.file=/tmp/prometheus-40.yml --storage.tsdb.path=/tmp/prom-data \
    --web.listen-address=127.0.0.1:9090 --log.level=warn >/tmp/prometheus-40.log 2>&1 &

# urlencode TEXT: every byte as %XX (valid for any query string).
urlencode() { printf '%s' "$1" | od -An -tx1 -v | tr -s ' \n' ' ' | sed 's/^ //; s/ $//; s/ /%/g; s/^/%/'; }
# promql EXPR: the JSON answer of an instant query.
promql() { http_get_held director 127.0.0.1 9090 "/api/v1/query?query=$(urlencode "$1")"; }
# prom_value EXPR: the value of the first sample of EXPR (empty if none).
prom_value() { promql "$1" | sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p' | head -n1; }
prom_ready() { promql 'up{job="lbctl"}' | grep -q '"value":\[[0-9.]*,"1"\]'; }
wait_until 60 prom_ready || fail "prometheus does not scrape lbctl: $(tail -5 /tmp/prometheus-40.log | tr '\n' ' ')"

step "traffic while prometheus scrapes"
http_get_n client "$VIP_NAT" 80 20 >/dev/null
wait_ipvs_stat 10 20 director "$VIP_NAT:80" || fail "IPVS counted fewer than 20 connections"
has_20() { v=$(prom_value 'sum(lvs_service_stat_conns_total{vip="10.0.0.100"})'); [ "${v%.*}" -ge 20 ] 2>/dev/null; }
wait_until 30 has_20 || fail "prometheus never saw 20 connections"
# Traffic keeps flowing in the background so that rate() windows have data.
(i=0; while [ $i -lt 60 ]; do http_get client "$VIP_NAT" 80 >/dev/null 2>&1 || true; sleep 0.5; i=$((i + 1)); done) &
TRAFFIC=$!
# rate() over the dashboard's 15 s window needs two samples of a moving counter.
rate_ready() { promql 'rate(lvs_service_stat_conns_total{vip="10.0.0.100"}[15s]) > 0' | grep -q '"value"'; }
wait_until 40 rate_ready || fail "prometheus never computed a connection rate for 10.0.0.100"

step "every dashboard query returns data"
# Optional: series that exist only with BGP configured.
optional='lbctl_bgp_session_established'
grep '"expr":' "$DASHBOARD" | sed 's/^ *"expr": "//; s/",\{0,1\}$//; s/\\"/"/g' |
    sed 's/\$__rate_interval/15s/g; s/\$namespace/.*/g; s/\$service/.*/g; s/\$vip/.*/g' >/tmp/queries-40
count=0
while IFS= read -r q; do
    count=$((count + 1))
    answer=$(promql "$q")
    echo "$answer" | grep -q '"status":"success"' || fail "query failed: $q: $answer"
    if echo "$answer" | grep -q '"result":\[\]'; then
        case "$q" in *"$optional"*) log "no data (optional): $q"; continue ;; esac
        fail "no data for dashboard query: $q"
    fi
done </tmp/queries-40
assert_ge 20 "$count" "dashboard queries checked"

step "control: the same queries an hour before lbctl was scraped return no data"
# Prometheus started with an empty database: at its clock minus 3600 s nothing was scraped, so
# every query that is not padded with `or vector(0)` must come back empty there: the data
# above is lbctl's, and the emptiness test above can fail. The four padded queries return data
# by construction; what can fail for them is the status test, and a broken query fails it.
prom_now=$(promql 'up{job="lbctl"}' | sed -n 's/.*"value":\[\([0-9]*\)[.0-9]*,.*/\1/p' | head -n1)
assert_ge 1 "${prom_now:-0}" "prometheus clock"
controlled=0
while IFS= read -r q; do
    case "$q" in *"or vector(0)"*) continue ;; esac
    answer=$(http_get_held director 127.0.0.1 9090 "/api/v1/query?query=$(urlencode "$q")&time=$((prom_now - 3600))")
    echo "$answer" | grep -q '"status":"success"' || fail "control query failed: $q: $answer"
    echo "$answer" | grep -q '"result":\[\]' || fail "control: data an hour before the first scrape: $q: $answer"
    controlled=$((controlled + 1))
done </tmp/queries-40
assert_ge 20 "$controlled" "control: queries empty an hour before"
assert_contains "$(promql 'sum by (vip) (rate(lvs_service_stat_conns_total[15s]')" '"status":"error"' \
    "control: a broken query's answer"
assert_eq 1 "$(prom_value 'lbctl_health_check_up{endpoint="10.0.1.11:80"}')" "health check of rs1"

step "counters equal ipvsadm --stats --exact"
kill "$TRAFFIC" 2>/dev/null || true
wait "$TRAFFIC" 2>/dev/null || true
# The kernel folds its per-CPU counters about every 2 s and Prometheus scrapes every second:
# wait until a scrape has caught up with ipvsadm on every column, then compare. Every exact
# value must be a positive number, so two empty reads can never pass as equal.
# stat_pairs: "WHAT EXACT PROMETHEUS" lines for the service and both endpoints, every column.
stat_pairs() {
    for col in conns inpkts outpkts inbytes outbytes; do
        echo "service-$col $(ipvs_stat director "$VIP_NAT:80" - "$col") $(prom_value "lvs_service_stat_${col}_total{vip=\"10.0.0.100\",vport=\"80\"}")"
        for rs in "$RS1_IP:80" "$RS2_IP:80"; do
            echo "endpoint-$rs-$col $(ipvs_stat director "$VIP_NAT:80" "$rs" "$col") $(prom_value "lvs_endpoint_stat_${col}_total{vip=\"10.0.0.100\",endpoint=\"$rs\"}")"
        done
    done
}
caught_up() { stat_pairs | awk '{ sub(/\..*/, "", $3) } $2 == "" || $2 != $3 { bad = 1 } END { exit bad }'; }
wait_until 20 caught_up || log "not caught up after 20 s; the comparison below names the column"
stat_pairs >/tmp/stat-pairs-40
while read -r what exact got; do
    assert_ge 1 "${exact:-0}" "ipvsadm's $what"
    assert_eq "$exact" "${got%.*}" "$what"
done </tmp/stat-pairs-40
assert_eq "10.0.0.100-80" \
    "$(promql 'lvs_service_stat_conns_total{vip="10.0.0.100"}' | sed -n 's/.*"service":"\([^"]*\)".*/\1/p' | head -n1)" \
    "static entry labelled with its ConfigMap key"

step "control: rs2's check fails, so lbctl_health_check_up can read 0"
# The health check of rs1 read 1 above; the same query for rs2 turns 0 once its httpd is gone.
for pid in $("$IP" netns pids rs2); do
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = httpd ] && kill "$pid"
done
rs2_down() { [ "$(prom_value 'lbctl_health_check_up{endpoint="10.0.1.12:80"}')" = 0 ]; }
wait_until 20 rs2_down || fail "control: lbctl_health_check_up of rs2 did not turn 0"
log "ok: control: lbctl_health_check_up of rs2 is 0 with its httpd gone"
log "dashboard queries: $count, counters match ipvsadm"
