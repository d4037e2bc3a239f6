#!/bin/sh
# bench-apply: how fast lbctl programs a large table compared with ipvsadm -R, in the same VM
# and the same run (see bench/README.md for the method). Not part of `run.sh all`.
#
# Each tool programs the same table into a FRESH network namespace (a fresh IPVS table: the
# kernel's destination trash list makes re-adding recently deleted destinations far slower).
# The raw-netlink baseline (ipvs-raw-apply, bench/src/bin) is the kernel-bound limit: one socket,
# one acknowledged message at a time, every request encoded before its clock starts.
# Size: BENCH_VIPS/BENCH_PORTS/BENCH_DESTS, or bench.vips=/bench.ports=/bench.dests= on the
# kernel command line (LAB_KERNEL_ARGS; bench/ipvs-apply.sh --services sets them).
# lab-needs: ipvs-raw-apply http-scrape
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

VIPS=${BENCH_VIPS:-$(cmdline_arg bench.vips)}
PORTS=${BENCH_PORTS:-$(cmdline_arg bench.ports)}
DESTS=${BENCH_DESTS:-$(cmdline_arg bench.dests)}
VIPS=${VIPS:-16}
PORTS=${PORTS:-63}
DESTS=${DESTS:-10}
# The settings below manage 10.0.0.0/24: every generated VIP (10.0.0.96 and up, at most 160).

step "generate $((VIPS * PORTS)) services x $DESTS destinations"
gen=/tmp/bench
mkdir -p $gen
: >$gen/rules
: >$gen/data
v=0
while [ $v -lt "$VIPS" ]; do
    vip=10.0.0.$((96 + v))
    p=0
    while [ $p -lt "$PORTS" ]; do
        port=$((1000 + p))
        echo "-A -t $vip:$port -s rr" >>$gen/rules
        list=""
        d=0
        while [ $d -lt "$DESTS" ]; do
            rs=10.2.$v.$((d + 1))
            echo "-a -t $vip:$port -r $rs:$port -m -w 1" >>$gen/rules
            list="$list${list:+, }$rs:$port"
            d=$((d + 1))
        done
        echo "$vip-$port: $list" >>$gen/data
        p=$((p + 1))
    done
    v=$((v + 1))
done
write_configmap $gen/cm.yaml <$gen/data
ops=$(wc -l <$gen/rules)
log "$ops operations"

fresh_ns() {
    ns_create "$1"
    in_ns "$1" "$IP" link add br0 type dummy
    in_ns "$1" "$IP" link set br0 up
    in_ns "$1" "$IP" route add 10.2.0.0/16 dev br0
}

step "ipvsadm -R"
fresh_ns bench-ipvsadm
t0=$(now_ms)
in_ns bench-ipvsadm "$IPVSADM" -R <$gen/rules
t1=$(now_ms)
ipvsadm_ms=$((t1 - t0))
assert_eq "$ops" "$(in_ns bench-ipvsadm "$IPVSADM" -Sn | wc -l)" "rules programmed by ipvsadm"

step "raw netlink: one socket, one acknowledged message at a time"
fresh_ns bench-raw
t0=$(now_ms)
raw_out=$(in_ns bench-raw /usr/local/bin/ipvs-raw-apply --vips "$VIPS" --ports "$PORTS" --dests "$DESTS")
t1=$(now_ms)
raw_ms=$((t1 - t0))
raw_write_ms=$(echo "$raw_out" | sed -n 's/.*raw_write_ms=\([0-9]*\).*/\1/p')
log "ipvs-raw-apply: $raw_out (process ${raw_ms} ms)"
assert_eq "$ops" "$(in_ns bench-raw "$IPVSADM" -Sn | wc -l)" "rules programmed by ipvs-raw-apply"

step "lbctl apply"
fresh_ns bench-lbctl
cat >/tmp/bench-settings.toml <<'EOT'
managed_vip_ranges = ["10.0.0.0/24"]
state_file = "/tmp/bench-state.json"
EOT
t0=$(now_ms)
in_ns bench-lbctl "$LBCTL" apply --no-vips -c $gen/cm.yaml -s /tmp/bench-settings.toml >/tmp/bench-apply.out
t1=$(now_ms)
lbctl_ms=$((t1 - t0))
# Where the apply's time went, by its own clock (prepare, netfilter, read, plan, write, ...).
echo "BENCH lbctl_apply_steps $(grep '^# time' /tmp/bench-apply.out)"
assert_eq "$ops" "$(in_ns bench-lbctl "$IPVSADM" -Sn | wc -l)" "rules programmed by lbctl"

step "lbctl apply again (nothing to change: one dump and a plan)"
t0=$(now_ms)
in_ns bench-lbctl "$LBCTL" apply --no-vips -c $gen/cm.yaml -s /tmp/bench-settings.toml >/tmp/bench-apply.out
t1=$(now_ms)
noop_ms=$((t1 - t0))
echo "BENCH lbctl_noop_apply_steps $(grep '^# time' /tmp/bench-apply.out)"

step "ipvsadm -Sn (one full dump by ipvsadm)"
t0=$(now_ms)
in_ns bench-lbctl "$IPVSADM" -Sn >/dev/null
t1=$(now_ms)
dump_ms=$((t1 - t0))

step "lbctl run: a full pass vs a focused pass for one changed key"
# The daemon adopts the table (a full pass: one dump, nothing to write), then one key's weight
# changes (a focused pass: that service read, one write, read again). Durations are the
# daemon's own, from /status. Netfilter off: this compares the IPVS work of the two passes.
cat >/tmp/bench-run.toml <<'EOT'
managed_vip_ranges = ["10.0.0.0/24"]
state_file = "/tmp/bench-run-state.json"
netfilter_backend = "none"
resync_period_secs = 3600
listen_address = "127.0.0.1:9470"
EOT
in_ns bench-lbctl "$LBCTL" run --no-vips -s /tmp/bench-run.toml --config-file $gen/cm.yaml \
    --log warn >/tmp/bench-run.log 2>&1 &
run_pid=$!
last_sync() {
    in_ns bench-lbctl "$LBCTL" status --address 127.0.0.1:9470 -o json 2>/dev/null |
        grep -A12 '"last_sync": {' | tr -d ' ,"' | tr '\n' ' '
}
passed() { last_sync | grep -q "pass:$1 "; }
wait_until_sparse 600 passed full || fail "no full pass: $(tail -3 /tmp/bench-run.log)"
full=$(last_sync)
# 20 changes of one key's weight, each timed from the file's replacement to the kernel
# holding the new weight (the daemon's file watch, parse, build, focused pass).
lat=/tmp/bench-latency
: >$lat
cp $gen/cm.yaml $gen/cm-base.yaml
i=2
while [ $i -le 21 ]; do
    sed "s/^\\(  10.0.0.96-1000: .*\\)\$/\\1; weight=$i/" $gen/cm-base.yaml >$gen/cm2.yaml
    t0=$(now_ms)
    mv -f $gen/cm2.yaml $gen/cm.yaml
    has_weight() { in_ns bench-lbctl "$IPVSADM" -Ln -t 10.0.0.96:1000 | grep -Eq "Masq +$i +"; }
    timed_wait $lat $t0 has_weight || fail "weight $i never reached the kernel: $(last_sync)"
    i=$((i + 1))
done
change_p50_ms=$(latency_p50 $lat)
change_max_ms=$(latency_max $lat)
wait_until 60 passed focused || fail "no focused pass: $(last_sync)"
focused=$(last_sync)
# The daemon's read side at this size: /metrics scraped by a lean client (http-scrape, bench/
# src/bin: 256 KiB reads, body discarded) as text and gzipped as Prometheus asks for it, and one
# `lbctl status` (the summary a large table gets), both from the table of the last pass.
scrape() { # scrape [--gzip]: "scrape_ms=N bytes=N encoding=E"
    in_ns bench-lbctl timeout 900 /usr/local/bin/http-scrape 127.0.0.1:9470 /metrics "$@"
}
plain_out=$(scrape) || fail "the plain scrape failed: $plain_out"
gzip_out=$(scrape --gzip) || fail "the gzip scrape failed: $gzip_out"
log "scrapes: plain $plain_out; gzip $gzip_out"
assert_contains "$gzip_out" "encoding=gzip"
scrape_ms=$(echo "$plain_out" | sed -n 's/.*scrape_ms=\([0-9]*\).*/\1/p')
scrape_bytes=$(echo "$plain_out" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
scrape_gzip_ms=$(echo "$gzip_out" | sed -n 's/.*scrape_ms=\([0-9]*\).*/\1/p')
scrape_gzip_bytes=$(echo "$gzip_out" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
t0=$(now_ms)
in_ns bench-lbctl "$LBCTL" status --address 127.0.0.1:9470 >/tmp/bench-status.txt ||
    fail "lbctl status failed: $(cat /tmp/bench-status.txt)"
t1=$(now_ms)
status_ms=$((t1 - t0))
kill -TERM "$run_pid"
log "full pass: $full"
log "focused pass: $focused"
assert_contains "$focused" "services_read:1 "
assert_contains "$focused" "dumps:0 "
full_ms=$(echo "$full" | sed 's/.*duration_secs:\([0-9.]*\).*/\1/' | awk '{ printf "%d", $1 * 1000 }')
focused_ms=$(echo "$focused" | sed 's/.*duration_secs:\([0-9.]*\).*/\1/' | awk '{ printf "%.1f", $1 * 1000 }')

echo "BENCH ops=$ops raw_netlink_write_ms=$raw_write_ms raw_netlink_process_ms=$raw_ms ipvsadm_restore_ms=$ipvsadm_ms lbctl_apply_ms=$lbctl_ms lbctl_noop_apply_ms=$noop_ms ipvsadm_dump_ms=$dump_ms run_full_pass_ms=$full_ms run_focused_pass_ms=$focused_ms scrape_ms=$scrape_ms scrape_bytes=$scrape_bytes scrape_gzip_ms=$scrape_gzip_ms scrape_gzip_bytes=$scrape_gzip_bytes status_ms=$status_ms change_to_kernel_p50_ms=$change_p50_ms change_to_kernel_max_ms=$change_max_ms"
awk -v a="$ipvsadm_ms" -v b="$lbctl_ms" -v c="$noop_ms" -v d="$dump_ms" -v r="$raw_write_ms" 'BEGIN {
    r = (r > 0 ? r : 1)
    printf "BENCH ratio lbctl_apply/raw_netlink_write = %.2f\n", b / r
    printf "BENCH ratio ipvsadm_restore/raw_netlink_write = %.1f\n", a / r
    printf "BENCH ratio ipvsadm_restore/lbctl_apply = %.1f\n", a / (b > 0 ? b : 1)
    printf "BENCH ratio ipvsadm_dump/lbctl_noop_apply = %.2f\n", d / (c > 0 ? c : 1)
    printf "BENCH ratio lbctl_apply/(raw_netlink_write+ipvsadm_dump) = %.2f\n", b / (r + d)
    printf "BENCH ratio lbctl_noop_apply/ipvsadm_dump = %.2f\n", c / (d > 0 ? d : 1) }'
awk -v f="$full_ms" -v g="$focused_ms" -v d="$dump_ms" -v s="$scrape_ms" -v z="$scrape_gzip_ms" 'BEGIN {
    printf "BENCH ratio run_full_pass/run_focused_pass = %.0f\n", f / (g > 0 ? g : 0.1)
    printf "BENCH ratio run_full_pass/ipvsadm_dump = %.2f\n", f / (d > 0 ? d : 1)
    printf "BENCH ratio scrape/ipvsadm_dump = %.2f\n", s / (d > 0 ? d : 1)
    printf "BENCH ratio scrape_gzip/ipvsadm_dump = %.2f\n", z / (d > 0 ? d : 1) }'
