#!/bin/sh
# 60-scale-10k (issue 13): one director at production size. `lbctl run` (release build)
# programs 10,000 TCP services x 10 masquerading real servers (100,000 destinations) plus one
# service that carries real traffic, from an empty kernel, and then stays usable:
#   1. the whole table is programmed (ipvsadm -Sn counts every rule);
#   2. one dump per full pass: a restarted daemon adopts the table with exactly one IPVS dump
#      and no write (`last_sync.dumps` of /status; mutation: dumping the table again after the
#      pass, as before issue 13, makes it 2);
#   3. one real-server change is a focused pass: one service read, O(1) writes, no dump; after
#      five of them `lbctl_sync_dumps_total` still counts the adoption's one dump (mutation:
#      forcing a whole pass makes services_read 10,001 and the counter 6);
#   4. /metrics at 100,002 endpoints: every endpoint series is there, the gzip scrape decodes to
#      the same series, and three scrapes (two of them concurrent) keep the daemon's peak RSS
#      at most 150 MiB (issue 13's target) and grow it by at most 50 MiB (the peak is VmHWM,
#      reset just before the scrapes). Controls: the snapshot of whole ObservedServices (the
#      whole dump kept per scrape) measured 155 MiB peak / +57 MiB here (2026-12-03) and fails
#      both; the encoder before issue 13 grew past 1.6 GB and was OOM-killed;
#   5. `lbctl status` answers with a summary (the table is large) and with a --vip filter.
# Times (pass durations, scrape vs `ipvsadm -Sn`, status, the file-to-kernel latency of the
# changes) are printed as BENCH lines for bench/README.md; only counts and memory are asserted
# (absolute times under TCG emulation depend on the host).
# Runs the release build of lbctl (`lab-needs: lbctl-release`): the debug build spends minutes
# per step here under emulation (parsing 10,000 keys, encoding a 160 MB scrape).
# lab-needs: lbctl-release
# lab-timeout: 1800
# lab-mem: 2048
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e
use_release_lbctl

VIPS=16
PORTS=625
DESTS=10
SERVICES=$((VIPS * PORTS + 1))
RULES=$((VIPS * PORTS * (DESTS + 1) + 3))
# Five changes prove the focused pass; bench/ipvs-apply.sh --services 10000 times 20 of them.
CHANGES=5
ADDR=127.0.0.1:9469

topology_nat
CM=/tmp/scale-cm.yaml
SETTINGS_RUN=/tmp/scale-settings.toml
cat "$LAB_SETTINGS" >"$SETTINGS_RUN"
cat >>"$SETTINGS_RUN" <<EOS
listen_address = "$ADDR"
resync_period_secs = 3600
EOS
# The filler's real servers are addresses on a dummy link: IPVS needs no reply to hold them.
in_ns director "$IP" link add scalefill type dummy
in_ns director "$IP" link set scalefill up
in_ns director "$IP" route add 10.2.0.0/16 dev scalefill

step "generate $SERVICES services ($RULES ipvsadm rules)"
# filler [CHANGED]: 16 VIPs x 625 ports, 10 real servers each; with CHANGED=N the first
# service's weight is N (the changes below).
filler() {
    awk -v vips=$VIPS -v ports=$PORTS -v dests=$DESTS -v w="${1:-}" 'BEGIN {
        for (v = 0; v < vips; v++) for (p = 0; p < ports; p++) {
            line = "10.0.0." (96 + v) "-" (1000 + p) ": "
            for (d = 1; d <= dests; d++) line = line (d > 1 ? ", " : "") "10.2." v "." d ":" (1000 + p)
            if (w != "" && v == 0 && p == 0) line = line "; weight=" w
            print line
        }
    }'
}
configmap() { { echo "10.0.0.100-80: $RS1_IP:80, $RS2_IP:80"; filler "$@"; } | write_configmap "$CM"; }
configmap
log "$(wc -c <"$CM") bytes of ConfigMap"

json_status() { in_ns director "$LBCTL" status --address "$ADDR" --timeout 60 -o json "$@"; }
last_sync() { json_status --summary 2>/dev/null | grep -A12 '"last_sync": {' | tr -d ' ,"' | tr '\n' ' '; }
# http_get_raw PATH [HEADER]: the raw answer (head and body) to a GET over HTTP/1.0, with a
# long timeout (the body is 160 MB).
http_get_raw() {
    {
        printf 'GET %s HTTP/1.0\r\nHost: lab\r\n' "$1"
        [ -z "${2:-}" ] || printf '%s\r\n' "$2"
        printf '\r\n'
    } | in_ns director timeout 1200 nc -w 600 127.0.0.1 9469
}
# body_of FILE: the body of a raw answer, binary-safe; the head (without CRs) goes to FILE.head.
body_of() {
    head -c 4096 "$1" | tr -d '\r' | sed -n '1,/^$/p' >"$1.head"
    tail -c +$(($(wc -c <"$1.head") + $(wc -l <"$1.head") + 1)) "$1"
}
daemon_pid() { lbctl_pid | head -n1; }
rss_kib() { sed -n "s/^$1:[^0-9]*\([0-9]*\).*/\1/p" /proc/"$(daemon_pid)"/status; }
start_daemon() {
    in_ns director "$LBCTL" run --settings "$SETTINGS_RUN" --config-file "$CM" --log warn \
        >>/tmp/scale-run.log 2>&1 &
}
passed() { last_sync | grep -q "pass:$1 "; }
# start_until_full SECS WHAT: starts the daemon and waits up to SECS for its full pass, polling
# every 3 s (see wait_until_sparse; the pass's own duration is the daemon's clock); the time
# it took is left in $elapsed_ms (rounded up by the poll; not printed: a `fail` inside $(...)
# would end only a subshell).
start_until_full() {
    local t0
    t0=$(now_ms)
    start_daemon
    wait_until_sparse "$1" passed full || fail "no full pass $2: $(tail -5 /tmp/scale-run.log | tr '\n' '|')"
    elapsed_ms=$(($(now_ms) - t0))
}

step "lbctl run programs the table from an empty kernel"
start_until_full 1200 "from an empty kernel"
program_ms=$elapsed_ms
FIRST=$(last_sync)
log "first pass: $FIRST"
assert_eq "$RULES" "$(in_ns director "$IPVSADM" -Sn | wc -l)" "every rule programmed"
answer=$(http_get client 10.0.0.100 80) || true
case "$answer" in
    rs1 | rs2) log "traffic through the small service: answered by $answer" ;;
    *) fail "no answer through 10.0.0.100:80 (got '$answer')" ;;
esac

step "restart: the daemon adopts the table with one dump and no write"
stop_lbctl_run
: >/tmp/scale-run.log
start_until_full 600 "after the restart"
adopt_ms=$elapsed_ms
ADOPT=$(last_sync)
log "adoption pass: $ADOPT"
assert_contains "$ADOPT" "applied:0 "
assert_contains "$ADOPT" "services_read:$SERVICES "
assert_contains "$ADOPT" "dumps:1 "
full_ms=$(echo "$ADOPT" | sed 's/.*duration_secs:\([0-9.]*\).*/\1/' | awk '{ printf "%d", $1 * 1000 }')
# Where the adoption pass spent its time, by the daemon's own clock (last_sync.times_ms).
echo "BENCH scale_adopt_pass_steps $(json_status --summary 2>/dev/null | grep -A7 '"times_ms": {' | tr -d ' ,"{}' | tr '\n' ' ')"

step "one dump by ipvsadm -Sn, for the ratios"
t0=$(now_ms)
in_ns director "$IPVSADM" -Sn >/dev/null
t1=$(now_ms)
dump_ms=$((t1 - t0))

step "$CHANGES changes of one real server's weight: focused passes, file to kernel"
lat=/tmp/scale-latency
: >$lat
i=2
while [ $i -le $((CHANGES + 1)) ]; do
    configmap "$i"
    t0=$(now_ms)
    has_weight() { in_ns director "$IPVSADM" -Ln -t 10.0.0.96:1000 | grep -Eq "Masq +$i +"; }
    timed_wait $lat $t0 has_weight || fail "weight $i never reached the kernel: $(last_sync)"
    i=$((i + 1))
done
FOCUSED=$(last_sync)
log "last focused pass: $FOCUSED"
assert_contains "$FOCUSED" "pass:focused "
assert_contains "$FOCUSED" "services_read:1 "
assert_contains "$FOCUSED" "applied:10 "
assert_contains "$FOCUSED" "dumps:0 "
focused_ms=$(echo "$FOCUSED" | sed 's/.*duration_secs:\([0-9.]*\).*/\1/' | awk '{ printf "%.1f", $1 * 1000 }')
p99_ms=$(sort -n $lat | tail -n1)
p50_ms=$(sort -n $lat | sed -n "$(((CHANGES + 1) / 2))p")
step "/metrics at $(((SERVICES - 1) * DESTS + 2)) endpoints: peak RSS over three scrapes"
# The bodies are not kept (the VM's files live in its RAM) and only grep looks at them: busybox
# awk over 160 MB takes minutes under emulation. One plain scrape is timed; then a plain and a
# gzip scrape run together (one dump for both: the collector's single flight).
# scrape_lines: keeps the endpoint conns series and the sync dump counter of a scrape.
scrape_lines() {
    grep -e '^lvs_endpoint_stat_conns_total{' -e '^lbctl_sync_dumps_total '
}
before_kib=$(rss_kib VmRSS)
echo 5 >/proc/"$(daemon_pid)"/clear_refs # resets VmHWM to the current RSS
# Timed through busybox nc and a pipe into wc, which cost seconds of the VM's one vCPU at
# 150 MB: bench/ipvs-apply.sh times the scrape itself with a lean client (http-scrape).
t0=$(now_ms)
plain_bytes=$(http_get_raw /metrics | wc -c)
t1=$(now_ms)
scrape_nc_ms=$((t1 - t0))
http_get_raw /metrics | wc -c >/tmp/scale-scrape-2 &
second=$!
http_get_raw /metrics 'Accept-Encoding: gzip' >/tmp/scale-metrics.raw
wait "$second" # not a bare `wait`: the daemon is a background job of this shell too
peak_kib=$(rss_kib VmHWM)
body_of /tmp/scale-metrics.raw >/tmp/scale-metrics.gz
grep -qi '^content-encoding: gzip' /tmp/scale-metrics.raw.head ||
    fail "the scrape with Accept-Encoding: gzip is not gzipped: $(cat /tmp/scale-metrics.raw.head)"
gzip_bytes=$(wc -c </tmp/scale-metrics.gz)
gunzip -c /tmp/scale-metrics.gz | scrape_lines >/tmp/scale-lines
rm -f /tmp/scale-metrics.gz /tmp/scale-metrics.raw
series=$(grep -c '^lvs_endpoint_stat_conns_total{' /tmp/scale-lines)
sync_dumps=$(sed -n 's/^lbctl_sync_dumps_total //p' /tmp/scale-lines)
second_bytes=$(cat /tmp/scale-scrape-2)
log "RSS before the scrapes ${before_kib} KiB, peak during them ${peak_kib} KiB; $plain_bytes bytes per scrape, $gzip_bytes gzipped"
assert_eq $(((SERVICES - 1) * DESTS + 2)) "$series" "endpoint series in the gzip scrape"
# The concurrent plain scrape is the whole table too (only lbctl_* series may differ a little).
[ "$second_bytes" -gt $((plain_bytes * 99 / 100)) ] && [ "$plain_bytes" -gt 100000000 ] ||
    fail "short scrapes: $plain_bytes and $second_bytes bytes"
assert_eq 1 "$sync_dumps" "lbctl_sync_dumps_total after the adoption and $CHANGES focused passes"
# Issue 13's target: a peak of at most 150 MiB. The first scrape of the daemon's life adds
# state it keeps: the monotonic-counter state of 110,000 series (80 bytes each plus the map,
# grown once) and the label book (about 3 MiB). Each dump adds the compact snapshot (about 100
# bytes per IPVS entry: 11 MiB) and, while it runs, the services dump (a few MiB); the writing
# adds a few 64 KiB chunks per scrape and the gzip state. Measured 2026-12-04: 103 MiB before,
# 132 MiB peak (+29 MiB); with the snapshot of whole dumped services (2026-12-03) 98 -> 155 MiB
# (+57), and with the compact snapshot but the counter state of 112 bytes a series grown by
# doubling, 105 -> 147.5 MiB (+43). Bound: +50 MiB, peak 150 MiB.
[ $((peak_kib - before_kib)) -le $((50 * 1024)) ] ||
    fail "the scrapes grew the daemon by $((peak_kib - before_kib)) KiB (> 50 MiB)"
[ "$peak_kib" -le $((150 * 1024)) ] || fail "peak RSS during scrapes ${peak_kib} KiB > 150 MiB"

step "lbctl status: a summary for a large table, and one VIP"
t0=$(now_ms)
in_ns director "$LBCTL" status --address "$ADDR" >/tmp/scale-status.txt
t1=$(now_ms)
status_ms=$((t1 - t0))
head -20 /tmp/scale-status.txt
# The target is under 1 s (bench/README.md has the measurements); the bound here is 2 s so
# that a busy CI host does not fail it, while a dump per request (seconds here) does.
[ "$status_ms" -lt 2000 ] || fail "lbctl status took $status_ms ms"

assert_contains "$(cat /tmp/scale-status.txt)" "summary"
[ "$(wc -l </tmp/scale-status.txt)" -lt 200 ] || fail "the default status of a large table is not a summary"
VIPONE=$(in_ns director "$LBCTL" status --address "$ADDR" --vip 10.0.0.100)
assert_contains "$VIPONE" "10.0.0.100:80/tcp"
assert_not_contains "$VIPONE" "10.0.0.96:"

stop_lbctl_run

echo "BENCH scale services=$SERVICES rules=$RULES program_ms=$program_ms adopt_ms=$adopt_ms run_full_pass_ms=$full_ms ipvsadm_dump_ms=$dump_ms scrape_through_nc_ms=$scrape_nc_ms metrics_bytes=$plain_bytes metrics_gzip_bytes=$gzip_bytes rss_before_kib=$before_kib rss_peak_scrapes_kib=$peak_kib status_ms=$status_ms focused_pass_ms=$focused_ms change_to_kernel_p50_ms=$p50_ms change_to_kernel_max_ms=$p99_ms"
awk -v f="$full_ms" -v d="$dump_ms" -v s="$scrape_nc_ms" 'BEGIN {
    printf "BENCH ratio run_full_pass/ipvsadm_dump = %.2f\n", f / (d > 0 ? d : 1)
    printf "BENCH ratio scrape_through_nc/ipvsadm_dump = %.2f\n", s / (d > 0 ? d : 1) }'
log "ok: 10,000 services programmed, adopted with one dump, scraped and shown within bounds"
