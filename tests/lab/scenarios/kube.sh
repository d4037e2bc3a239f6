# Helpers for the scenarios that run `lbctl run --kubeconfig` against our fake Kubernetes API
# server (`# lab-needs: fake-apiserver`); source after lib.sh and lbctl.sh.
#
# The fake serves the objects of FIXTURE/initial.json on API and takes changes on ADMIN
# (`admin PUT objects FILE`); the scenario starts `lbctl run` logging to /tmp/run.log and
# keeps its PID in RUN_PID.

FAKE=/usr/local/bin/fake-apiserver
API=127.0.0.1:6443
ADMIN=127.0.0.1:6444
[ -x "$FAKE" ] || fail "fake-apiserver missing in the initramfs (cargo build -p lb-tests --bins)"

# admin_req METHOD PATH [FILE]: one request to the fake's admin port (FILE as the JSON body);
# the response body goes to /tmp/admin.body; succeeds when the status is 200.
admin_req() {
    local len=0 resp
    [ -z "$3" ] || len=$(wc -c <"$3")
    resp=$({
        printf '%s /%s HTTP/1.0\r\nHost: admin\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n' "$1" "$2" "$len"
        [ -z "$3" ] || cat "$3"
    } | in_ns director timeout 5 nc -w 3 "${ADMIN%:*}" "${ADMIN#*:}" 2>/dev/null | tr -d '\r')
    echo "$resp" | sed '1,/^$/d' >/tmp/admin.body
    case "$(echo "$resp" | head -1)" in *" 200 "*) true ;; *) false ;; esac
}
# admin METHOD PATH [FILE]: admin_req that must succeed.
admin() {
    admin_req "$@" || fail "admin $1 /$2 failed: $(cut -c1-200 /tmp/admin.body)"
    log "admin $1 /$2 ${3:+$(basename "$3")}: 200"
}

# start_fake_apiserver FIXTURE_DIR: serve FIXTURE_DIR/initial.json from the director namespace
# and write /tmp/kubeconfig pointing at it (namespace lb-system).
start_fake_apiserver() {
    in_ns director "$FAKE" --listen "$API" --admin "$ADMIN" --load "$1/initial.json" \
        >/tmp/fake.out 2>/tmp/fake.log &
    wait_until 20 grep -q '^ready ' /tmp/fake.out ||
        fail "fake-apiserver did not start: $(tail -3 /tmp/fake.log | tr '\n' '|')"
    admin GET healthz
    cat >/tmp/kubeconfig <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "http://$API"}
contexts:
- name: lab
  context: {cluster: lab, user: lab, namespace: lb-system}
current-context: lab
users:
- name: lab
  user: {}
EOF
}

# expect_table < LINES: the `ipvsadm -Sn` lines the next wait_table expects (any order).
expect_table() { sort >/tmp/expected; }
table_is_expected() { [ "$(ipvs_rules director)" = "$(cat /tmp/expected)" ]; }
run_alive() { kill -0 "$RUN_PID" 2>/dev/null; }
table_settled() { table_is_expected || ! run_alive; }
# wait_table SECONDS WHAT: wait until the kernel table is the expected one; otherwise print
# both tables and the end of lbctl's log, and fail.
wait_table() {
    # `|| true`: under set -e a bare timed-out wait would end the scenario before the diff.
    wait_until "$1" table_settled || true
    table_is_expected || {
        echo "expected:"; cat /tmp/expected; echo "kernel:"; ipvs_rules director
        tail -n 15 /tmp/run.log
        run_alive || fail "$2: lbctl run exited: $(tail -n 1 /tmp/run.log | cut -c1-200)"
        fail "$2: kernel table differs from the expected one (see above)"
    }
    log "ok: kernel table as expected ($2)"
}
# weight_of SERVICE DEST: the weight of DEST in SERVICE in the kernel (empty when absent).
weight_of() {
    ipvs_rules director | awk -v s="$1" -v d="$2" \
        '$1 == "-a" && $3 == s && $5 == d { for (i = 6; i < NF; i++) if ($i == "-w") print $(i + 1) }'
}
# bodies N VIP PORT: N answers through VIP:PORT, sorted and counted ("N rs1" lines).
bodies() { http_get_n client "$2" "$3" "$1" | sort | uniq -c | sed 's/^ *//'; }
