#!/bin/sh
# 74-migrate-keepalived (issue 16): migration from keepalived to lbctl without a blip.
# keepalived (checker only, started with --dont-release-ipvs) programs a realistic table from a
# keepalived.conf split over `include`d files: NAT and DR services, weights, wrr/wlc/rr,
# persistence with a granularity, a threshold, TCP_CHECK and HTTP_GET checkers. Long-lived
# echo flows run through the NAT VIP. `lbctl import` writes the ConfigMap and the managed
# ranges; `lbctl diff` plans no IPVS operation; keepalived is stopped the way
# docs/migration.md says (SIGTERM, no flush thanks to -I); `lbctl run` (file mode) adopts the
# table with 0 IPVS writes (/status last_sync.applied and lbctl_netlink_operations_total), the
# table is unchanged and no flow is lost. The same from an `ipvsadm -Sn` dump: the table
# restored with `ipvsadm -R` and flows running, imported, diffed, adopted with 0 writes.
# `ipvsadm -Sn` does not save connection thresholds: the import says so, and `lbctl diff`
# shows the one edit that would clear rs2's threshold until it is added to the ConfigMap.
#
# Controls: a ConfigMap with one weight changed makes `lbctl diff` plan exactly that edit
# (so an empty diff means something); keepalived started without -I and stopped with SIGTERM
# removes its services (so the docs' advice matters); the flows are counted in the echo
# service's IPVS connections (so they go through the table that is handed over).
# lab-needs: keepalived flow-traffic
# Typical duration under TCG: about 2 minutes.
# lab-timeout: 420
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

FLOW=/usr/local/bin/flow-traffic
KEEPALIVED=/usr/local/bin/keepalived
[ -x "$FLOW" ] || fail "flow-traffic missing in the initramfs (cargo build -p lb-tests --bins)"
[ -x "$KEEPALIVED" ] || fail "keepalived missing in the initramfs (Debian package keepalived)"
TRAFFIC="--conns 40 --interval-ms 200 --line-timeout-secs 10 --connect-timeout-secs 5 --new-every-ms 500 --ramp-ms 2000"

topology_dr_tun
for ns in rs1 rs2; do
    in_ns "$ns" sh -c "exec $FLOW serve --listen 0.0.0.0:7000 --name $ns" >/dev/null 2>&1 &
done

KA=/tmp/keepalived
mkdir -p "$KA/conf.d"
cat >"$KA/keepalived.conf" <<'EOS'
! Lab director: the IPVS part of a keepalived set-up (VRRP is not in this test).
global_defs {
    router_id lab-director
}
include conf.d/*.conf
EOS
cat >"$KA/conf.d/10-web.conf" <<'EOS'
# HTTP on the NAT VIP: rs1 takes three times the traffic
virtual_server 10.0.0.100 80 {
    delay_loop 2
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.11 80 {
        weight 3
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.0.1.12 80 {
        weight 1
        uthreshold 500
        notify_up /bin/true
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
EOS
cat >"$KA/conf.d/20-echo.conf" <<'EOS'
# Long-lived echo connections, persistent per client /24
virtual_server 10.0.0.100 7000 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    protocol TCP
    real_server 10.0.1.11 7000 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.0.1.12 7000 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
# Direct routing
virtual_server 10.0.0.101 80 {
    delay_loop 2
    lb_algo wlc
    lb_kind DR
    persistence_timeout 600
    protocol TCP
    real_server 10.0.1.11 80 {
        weight 2
        HTTP_GET {
            url {
                path /index.html
                status_code 200
            }
            connect_timeout 1
        }
    }
    real_server 10.0.1.12 80 {
        weight 2
        HTTP_GET {
            url {
                path /index.html
                status_code 200
            }
            connect_timeout 1
        }
    }
}
EOS

EXPECTED=$(sort <<'EOT'
-A -t 10.0.0.100:80 -s wrr
-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 3
-a -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1
-A -t 10.0.0.100:7000 -s rr -p 300 -M 255.255.255.0
-a -t 10.0.0.100:7000 -r 10.0.1.11:7000 -m -w 1
-a -t 10.0.0.100:7000 -r 10.0.1.12:7000 -m -w 1
-A -t 10.0.0.101:80 -s wlc -p 600
-a -t 10.0.0.101:80 -r 10.0.1.11:80 -g -w 2
-a -t 10.0.0.101:80 -r 10.0.1.12:80 -g -w 2
EOT
)

# keepalived_pids: the keepalived processes (parent and checker) in the director namespace.
keepalived_pids() {
    for pid in $("$IP" netns pids director); do
        [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = keepalived ] && echo "$pid"
    done
    true
}
no_keepalived() { [ -z "$(keepalived_pids)" ]; }
# start_keepalived ARGS...: keepalived's checker in the director namespace, in the foreground
# of a background job (log /tmp/keepalived.log).
start_keepalived() {
    in_ns director "$KEEPALIVED" --check --dont-fork --log-console --log-detail \
        --use-file "$KA/keepalived.conf" --pid /tmp/ka.pid --checkers_pid /tmp/ka-check.pid \
        "$@" >>/tmp/keepalived.log 2>&1 &
}
# stop_keepalived: SIGTERM to keepalived's parent (as `systemctl stop keepalived` does) and
# wait until every keepalived process is gone.
stop_keepalived() {
    kill -TERM "$(cat /tmp/ka.pid)"
    wait_until 20 no_keepalived || fail "keepalived did not stop on SIGTERM"
}
table_is_expected() { [ "$(ipvs_rules director)" = "$EXPECTED" ]; }
# `ipvsadm -Sn` does not save connection thresholds (ipvsadm 1.31): read them from -Ln.
rs2_threshold() { in_ns director "$IPVSADM" -Ln --thresholds -t 10.0.0.100:80 | awk '$2 == "10.0.1.12:80" { print $3 }'; }
# The lab ConfigMap's VIPs are in the lab's range; the import's settings manage exactly the
# imported VIPs, plus what lbctl run needs in the VM.
run_settings() {
    cat "$1"
    echo 'vip_interface = "lbvip0"'
    echo "state_file = \"/tmp/mig-state-$2.json\""
    echo 'listen_address = "127.0.0.1:9469"'
    echo 'resync_period_secs = 600'
}
status_json() { in_ns director "$LBCTL" status --address 127.0.0.1:9469 -o json 2>/dev/null; }
full_pass() { http_get director 127.0.0.1 9469 /metrics | grep -q '^lbctl_sync_passes_total{pass="full"} [1-9]'; }
ipvs_writes() {
    http_get director 127.0.0.1 9469 /metrics | awk '/^lbctl_netlink_operations_total/ { s += $2 } END { print s + 0 }'
}
traffic() {
    rm -f "/tmp/mig-traffic-$1.out"
    in_ns client sh -c "exec $FLOW client --target 10.0.0.100:7000 $TRAFFIC --duration-secs $2" \
        >"/tmp/mig-traffic-$1.out" 2>"/tmp/mig-traffic-$1.err" &
}
traffic_ready() { grep -q "^flow-traffic ready" "/tmp/mig-traffic-$1.out"; }
traffic_done() { grep -q "^flow-traffic summary" "/tmp/mig-traffic-$1.out"; }
traffic_count() { sed -n "s/^flow-traffic summary:.* $2=\([^ ]*\).*/\1/p" "/tmp/mig-traffic-$1.out"; }
ready_count() { sed -n "s/^flow-traffic ready:.* $2=\([^ ]*\).*/\1/p" "/tmp/mig-traffic-$1.out"; }
# echo_conns: the IPVS connections of the echo service (both real servers).
echo_conns() { in_ns director "$IPVSADM" -Ln -t 10.0.0.100:7000 | awk '$1 == "->" && $2 ~ /:7000$/ { s += $5 + $6 } END { print s + 0 }'; }
# adopt NAME CM SETTINGS: lbctl run adopts the table: a full pass with 0 writes, table unchanged.
adopt() {
    : >"/tmp/mig-run-$1.log"
    in_ns director "$LBCTL" run --settings "$3" --config-file "$2" --log info \
        >"/tmp/mig-run-$1.log" 2>&1 &
    wait_until 30 full_pass || fail "lbctl run made no full pass: $(tail -5 "/tmp/mig-run-$1.log" | tr '\n' '|')"
    SYNC=$(status_json | grep -A12 '"last_sync"')
    echo "$SYNC"
    assert_contains "$SYNC" '"applied": 0' "last_sync of lbctl run after the migration ($1)"
    # A few check intervals (2 s): the imported health checks pass and change no weight.
    sleep 6
    grep "pass done" "/tmp/mig-run-$1.log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-160
    assert_eq 0 "$(ipvs_writes)" "IPVS writes of lbctl run ($1), every pass so far"
    assert_eq "$EXPECTED" "$(ipvs_rules director)" "the IPVS table after lbctl run adopted it ($1)"
    assert_eq 500 "$(rs2_threshold)" "rs2's upper threshold after lbctl run adopted the table ($1)"
}

step "keepalived (--dont-release-ipvs) programs the table from keepalived.conf and its includes"
start_keepalived --dont-release-ipvs
wait_until 30 table_is_expected || fail "keepalived did not program the expected table: $(ipvs_rules director | tr '\n' '|') log: $(tail -5 /tmp/keepalived.log | tr '\n' '|')"
ipvs_rules director
assert_eq 500 "$(rs2_threshold)" "rs2's upper threshold, programmed by keepalived"
in_ns director "$IPVSADM" -Sn >/tmp/mig-dump.txt
http_ok() { case "$(http_get client 10.0.0.100 80)" in rs1 | rs2) true ;; *) false ;; esac; }
http_ok || fail "no HTTP answer through keepalived's NAT service"

step "long-lived flows through keepalived's table"
traffic keepalived 50
wait_until 40 traffic_ready keepalived || fail "the flows never came up: $(tail -3 /tmp/mig-traffic-keepalived.err | tr '\n' '|')"
assert_eq 40 "$(ready_count keepalived established)" "long-lived connections established"
assert_ge 40 "$(echo_conns)" "IPVS connections of the echo service (the flows go through it)"

step "lbctl import of the keepalived configuration"
set +e
IMPORT=$(in_ns director "$LBCTL" import --from keepalived "$KA/keepalived.conf" \
    --configmap-out /tmp/mig-cm.yaml --settings-out /tmp/mig-ranges.toml 2>&1)
rc=$?
set -e
echo "$IMPORT"
assert_eq 0 "$rc" "exit code of lbctl import"
assert_contains "$IMPORT" "$KA/conf.d/10-web.conf:17: not carried over: notify_up" "import notes"
assert_contains "$IMPORT" "$KA/keepalived.conf:2: not carried over: global_defs" "import notes"
cat /tmp/mig-cm.yaml /tmp/mig-ranges.toml
assert_contains "$(cat /tmp/mig-ranges.toml)" 'managed_vip_ranges = ["10.0.0.100/32", "10.0.0.101/32"]'
run_settings /tmp/mig-ranges.toml ka >/tmp/mig-settings.toml
in_ns director "$LBCTL" validate --settings /tmp/mig-settings.toml /tmp/mig-cm.yaml ||
    fail "the imported ConfigMap does not validate"

step "lbctl diff: no IPVS operation"
DIFF=$(in_ns director "$LBCTL" diff -c /tmp/mig-cm.yaml -s /tmp/mig-settings.toml || true)
echo "$DIFF"
assert_eq "" "$(echo "$DIFF" | grep -v '^#' || true)" "IPVS operations lbctl diff plans after the import"

step "control: one weight changed in the ConfigMap is the one operation diff plans"
sed 's/10.0.1.11:80 weight=3/10.0.1.11:80 weight=4/' /tmp/mig-cm.yaml >/tmp/mig-cm-wrong.yaml
WRONG=$(in_ns director "$LBCTL" diff -c /tmp/mig-cm-wrong.yaml -s /tmp/mig-settings.toml || true)
echo "$WRONG"
assert_eq "-e -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 4" "$(echo "$WRONG" | grep -v '^#')" "diff of the wrong import"

step "stop keepalived as docs/migration.md says: SIGTERM, the table stays (-I)"
stop_keepalived
assert_eq "$EXPECTED" "$(ipvs_rules director)" "the IPVS table after keepalived stopped"

step "lbctl run adopts the table with 0 IPVS writes while the flows run"
adopt keepalived /tmp/mig-cm.yaml /tmp/mig-settings.toml
! traffic_done keepalived || fail "the flows ended before lbctl took the table over (lengthen the run)"
http_ok || fail "no HTTP answer through the adopted NAT service"
wait_until 90 traffic_done keepalived || fail "the flows gave no summary: $(tail -3 /tmp/mig-traffic-keepalived.err | tr '\n' '|')"
grep "^flow-traffic summary" /tmp/mig-traffic-keepalived.out
assert_eq 0 "$(traffic_count keepalived lost)" "flows lost over the migration from keepalived"
stop_lbctl_run

step "control: keepalived without -I flushes its services on SIGTERM"
in_ns director "$IPVSADM" -C
start_keepalived
wait_until 30 table_is_expected || fail "keepalived (control) did not program the table"
stop_keepalived
assert_eq "" "$(ipvs_rules director)" "the IPVS table after keepalived without -I stopped"
log "ok: without --dont-release-ipvs, keepalived's stop empties the table"

step "the same from an ipvsadm -Sn dump: the table restored, flows running"
in_ns director "$IPVSADM" -R </tmp/mig-dump.txt
# The dump has no thresholds (ipvsadm -Sn does not save them): set rs2's again, as keepalived had.
in_ns director "$IPVSADM" -e -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1 -x 500
assert_eq "$EXPECTED" "$(ipvs_rules director)" "the table restored from the dump"
assert_eq 500 "$(rs2_threshold)" "rs2's upper threshold, set again"
traffic ipvsadm 50
wait_until 40 traffic_ready ipvsadm || fail "the flows never came up (ipvsadm)"
assert_eq 40 "$(ready_count ipvsadm established)" "long-lived connections established (ipvsadm)"
set +e
IMPORT=$(in_ns director "$IPVSADM" -Sn | in_ns director "$LBCTL" import --from ipvsadm \
    --configmap-out /tmp/mig-cm2.yaml --settings-out /tmp/mig-ranges2.toml 2>&1)
rc=$?
set -e
echo "$IMPORT"
assert_eq 0 "$rc" "exit code of lbctl import --from ipvsadm"
assert_contains "$IMPORT" "does not save connection thresholds" "import notes (ipvsadm)"
cat /tmp/mig-cm2.yaml
run_settings /tmp/mig-ranges2.toml dump >/tmp/mig-settings2.toml
# As docs/migration.md says: the diff shows what the dump could not carry (the threshold).
DIFF=$(in_ns director "$LBCTL" diff -c /tmp/mig-cm2.yaml -s /tmp/mig-settings2.toml || true)
echo "$DIFF"
assert_eq "-e -t 10.0.0.100:80 -r 10.0.1.12:80 -m -w 1" "$(echo "$DIFF" | grep -v '^#')" "diff of the dump's import (threshold lost by ipvsadm -Sn)"
sed -i 's/10.0.1.12:80 weight=1/10.0.1.12:80 weight=1 upper-threshold=500/' /tmp/mig-cm2.yaml
DIFF=$(in_ns director "$LBCTL" diff -c /tmp/mig-cm2.yaml -s /tmp/mig-settings2.toml || true)
echo "$DIFF"
assert_eq "" "$(echo "$DIFF" | grep -v '^#' || true)" "IPVS operations lbctl diff plans after adding the threshold"
adopt ipvsadm /tmp/mig-cm2.yaml /tmp/mig-settings2.toml
! traffic_done ipvsadm || fail "the flows ended before lbctl took the table over (lengthen the run)"
wait_until 90 traffic_done ipvsadm || fail "the flows gave no summary (ipvsadm)"
grep "^flow-traffic summary" /tmp/mig-traffic-ipvsadm.out
assert_eq 0 "$(traffic_count ipvsadm lost)" "flows lost over the migration from the dump"
stop_lbctl_run
log "ok: both migrations adopted the table with 0 IPVS writes and lost no flow"
