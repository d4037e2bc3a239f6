#!/bin/sh
# 80-health-http-exec (issue 14): the HTTP, HTTPS and exec health checks of docs/health-checks.md
# quiesce and restore real servers in the kernel, with traffic. `lbctl run` (file mode) serves
# three NAT VIPs over rs1 and rs2, each with one kind of check (interval 1 s, rise 1, fall 1):
#   10.0.0.100:80  check=http:/healthz:200; check-body=ok   (busybox httpd on the real servers)
#   10.0.0.101:80  check=https:/:200; check-port=8443       (`openssl s_server -www` on them)
#   10.0.0.102:80  check=exec:/usr/lib/lbctl-checks/flag    (exits 0 while a flag file exists)
# For each kind rs2 is made to fail and then fixed: its IPVS weight goes to 0 (ipvsadm -Sn),
# new requests to that VIP are answered by rs1 only and lbctl_health_check_up of rs2 is 0;
# after the fix the weight is 1 again and both real servers answer.
# Failures used: HTTP 404 (/healthz removed); HTTP 200 with another body (check-body); a plain
# HTTP server instead of TLS on 8443 (the HTTPS check must do a real handshake: a check that
# only connected would pass it); the exec check's flag file removed.
# The real servers' certificate is X.509 v1 (openssl without a config makes one, as old
# appliances serve): this scenario found that the HTTPS check refused such certificates
# (webpki: UnsupportedCertVersion) and quiesced every real server; the check now reads the
# public key itself (controller/src/health/probe/tls.rs).
# Controls: every weight-0 check is preceded by weight 1 on the same VIP and is caused by the
# one change made on rs2, and every restore is the undoing of that change; a check kind that
# did not run (or always passed) fails the quiesce step, one that always failed the restore.
# lab-needs: openssl
# lab-timeout: 240
. /lab/scenarios/lib.sh
. /lab/scenarios/lbctl.sh
set -e

OPENSSL=/usr/local/bin/openssl
[ -x "$OPENSSL" ] || fail "openssl missing in the initramfs (run.sh packs it for lab-needs: openssl)"
VIP_HTTP=10.0.0.100
VIP_HTTPS=10.0.0.101
VIP_EXEC=10.0.0.102

topology_nat
for ns in rs1 rs2; do echo ok >"/tmp/www-$ns-80/healthz"; done

step "real servers: TLS on 8443 (openssl s_server, self-signed)"
mkdir -p /tmp/tls
OPENSSL_CONF=/dev/null "$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -keyout /tmp/tls/key.pem -out /tmp/tls/cert.pem -days 2 -subj /CN=lab-rs \
    >/tmp/tls/req.log 2>&1 || fail "openssl req: $(tail -3 /tmp/tls/req.log | tr '\n' ' ')"
# tls_up NS: start the TLS test server in NS (answers any GET with 200).
tls_up() {
    in_ns "$1" env OPENSSL_CONF=/dev/null "$OPENSSL" s_server -quiet -www -accept 8443 \
        -cert /tmp/tls/cert.pem -key /tmp/tls/key.pem </dev/null >"/tmp/tls/$1.log" 2>&1 &
}
# kill_in NS COMM: kill the processes named COMM in NS.
kill_in() {
    local pid
    for pid in $("$IP" netns pids "$1"); do
        [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$2" ] && kill "$pid"
    done
    true
}
tls_up rs1
tls_up rs2

step "exec check program and its flag files"
CHECKS=/usr/lib/lbctl-checks
mkdir -p "$CHECKS" /tmp/health-flags
chmod 0755 / /usr /usr/lib "$CHECKS" /tmp/health-flags
cat >"$CHECKS/flag" <<'EOS'
#!/bin/sh
[ -e "/tmp/health-flags/$LB_REAL_SERVER_ADDR" ]
EOS
chmod 0755 "$CHECKS/flag"
for rs in "$RS1_IP" "$RS2_IP"; do touch "/tmp/health-flags/$rs"; done

step "lbctl run with an HTTP, an HTTPS and an exec check"
SETTINGS=/tmp/settings-80.toml
{
    cat "$LAB_SETTINGS"
    echo 'listen_address = "127.0.0.1:9469"'
    echo 'resync_period_secs = 2'
    printf '[exec_checks]\nenabled = true\nallowed_directories = ["%s"]\n' "$CHECKS"
} >"$SETTINGS"
TIMING="check-interval=1; check-timeout=1; check-rise=1; check-fall=1"
CM=/tmp/cm-80.yaml
write_configmap "$CM" <<EOF
$VIP_HTTP-80: $RS1_IP:80, $RS2_IP:80; check=http:/healthz:200; check-body=ok; $TIMING
$VIP_HTTPS-80: $RS1_IP:80, $RS2_IP:80; check=https:/:200; check-port=8443; $TIMING
$VIP_EXEC-80: $RS1_IP:80, $RS2_IP:80; check=exec:$CHECKS/flag; $TIMING
EOF
in_ns director "$LBCTL" run --settings "$SETTINGS" --config-file "$CM" --log info \
    >/tmp/lbctl-run-80.log 2>&1 &

# weight_of VIP RS: the IPVS weight of RS:80 in VIP:80.
weight_of() { in_ns director "$IPVSADM" -Sn | sed -n "s/^-a -t $1:80 -r $2:80 -m -w \([0-9]*\).*/\1/p"; }
weight_is() { [ "$(weight_of "$1" "$2")" = "$3" ]; }
# check_up VIP RS VALUE: lbctl_health_check_up of RS:80 behind VIP:80 is VALUE.
check_up() {
    http_get_held director 127.0.0.1 9469 /metrics |
        grep "^lbctl_health_check_up{" | grep "vip=\"$1\"" | grep -q "endpoint=\"$2:80\".*} $3$"
}
# expect_rs2 VIP WEIGHT UP WHY: wait until rs2's weight in VIP is WEIGHT and its check metric
# UP, then check who answers 4 requests (rs1 alone at weight 0, both at weight 1).
expect_rs2() {
    wait_until 20 weight_is "$1" "$RS2_IP" "$2" ||
        fail "$4: rs2's weight in $1 is '$(weight_of "$1" "$RS2_IP")', not $2 ($(tail -3 /tmp/lbctl-run-80.log | tr '\n' '|'))"
    wait_until 10 check_up "$1" "$RS2_IP" "$3" || fail "$4: lbctl_health_check_up of rs2 in $1 is not $3"
    assert_eq 1 "$(weight_of "$1" "$RS1_IP")" "$4: rs1's weight in $1"
    local answers
    answers=$(http_get_n client "$1" 80 4 | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
    if [ "$2" = 0 ]; then
        assert_eq " 4 rs1 " "$answers" "$4: answers from $1 with rs2 quiesced"
    else
        assert_eq " 2 rs1  2 rs2 " "$answers" "$4: answers from $1 with rs2 healthy"
    fi
}
for vip in "$VIP_HTTP" "$VIP_HTTPS" "$VIP_EXEC"; do
    wait_until 30 weight_is "$vip" "$RS2_IP" 1 || {
        cat /tmp/tls/*.log
        grep -a unhealthy /tmp/lbctl-run-80.log | tail -4
        fail "$vip not at weight 1: $(grep -a unhealthy /tmp/lbctl-run-80.log | tail -2 | tr '\n' '|')"
    }
    expect_rs2 "$vip" 1 1 "start"
done

step "HTTP: /healthz answers 404 on rs2 -> quiesced; back -> restored"
rm "/tmp/www-rs2-80/healthz"
expect_rs2 "$VIP_HTTP" 0 0 "http 404"
echo ok >"/tmp/www-rs2-80/healthz"
expect_rs2 "$VIP_HTTP" 1 1 "http 200 again"

step "HTTP check-body: 200 with another body on rs2 -> quiesced; ok -> restored"
echo sick >"/tmp/www-rs2-80/healthz"
expect_rs2 "$VIP_HTTP" 0 0 "http body mismatch"
# The other services do not check /healthz: still weight 1 there.
assert_eq 1 "$(weight_of "$VIP_HTTPS" "$RS2_IP")" "rs2's weight in the HTTPS-checked VIP meanwhile"
echo ok >"/tmp/www-rs2-80/healthz"
expect_rs2 "$VIP_HTTP" 1 1 "http body ok again"

step "HTTPS: plain HTTP instead of TLS on rs2:8443 -> quiesced; TLS again -> restored"
kill_in rs2 openssl
port_8443_free() { ! in_ns rs2 /usr/sbin/ss -Hltn 'sport = :8443' | grep -q .; }
wait_until 10 port_8443_free || fail "the TLS server on rs2 did not stop"
rs_http rs2 8443 rs2
expect_rs2 "$VIP_HTTPS" 0 0 "https against a plain HTTP server"
for pid in $("$IP" netns pids rs2); do
    case "$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)" in *"-p 8443"*) kill "$pid" ;; esac
done
tls_up rs2
expect_rs2 "$VIP_HTTPS" 1 1 "https handshake again"

step "exec: the flag file of rs2 removed -> quiesced; back -> restored"
rm "/tmp/health-flags/$RS2_IP"
expect_rs2 "$VIP_EXEC" 0 0 "exec check exits 1"
touch "/tmp/health-flags/$RS2_IP"
expect_rs2 "$VIP_EXEC" 1 1 "exec check exits 0 again"

stop_lbctl_run
