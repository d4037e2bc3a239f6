# Helpers for the scenarios that drive lbctl (source after lib.sh).
#
# lbctl runs in the director namespace with the lab settings (managed range 10.0.0.96/28,
# VIP interface lbvip0, state file /tmp/lbctl-state.json) unless a scenario passes its own.

[ -x "$LBCTL" ] || fail "lbctl missing in the initramfs (build it: cargo build -p lbctl)"

LAB_SETTINGS=$LAB_EXAMPLES/settings.toml
LAB_CONFIGMAP=$LAB_EXAMPLES/configmap.yaml

# lbctl_apply [ARGS...]: one `lbctl apply` in the director with the lab settings; prints its
# report; stores the exit code in LBCTL_RC and the report in LBCTL_OUT (never fails itself).
lbctl_apply() {
    set +e
    LBCTL_OUT=$(in_ns director "$LBCTL" apply --settings "${SETTINGS:-$LAB_SETTINGS}" "$@" 2>&1)
    LBCTL_RC=$?
    set -e
    echo "$LBCTL_OUT"
    log "lbctl apply exited $LBCTL_RC"
}

# lbctl_apply_ok [ARGS...]: lbctl_apply that must exit 0.
lbctl_apply_ok() {
    lbctl_apply "$@"
    [ "$LBCTL_RC" = 0 ] || fail "lbctl apply $* exited $LBCTL_RC: $(echo "$LBCTL_OUT" | tail -3 | tr '\n' ' ')"
}

# netlink_writes: the number of netlink writes of the last lbctl_apply run with `-o json`.
netlink_writes() {
    echo "$LBCTL_OUT" | sed -n 's/.*"netlink_writes": *\([0-9]*\).*/\1/p' | head -1
}

# nft_lookup_packets RULE: packets counted so far by the rule of the director's nft table
# (chain lb_bypass) that starts with RULE, e.g. "ip daddr . tcp dport @lb_to_v4_tcp"; 0 when
# the table or the rule does not exist.
nft_lookup_packets() {
    n=$(in_ns director "$NFT" list chain inet lbctl lb_bypass 2>/dev/null |
        awk -v rule="$1 counter packets" 'index($0, rule) {
            for (i = 1; i < NF; i++) if ($i == "packets") { print $(i + 1); exit } }')
    echo "${n:-0}"
}

# ipvs_rules NS [SERVICE-ARGS]: `ipvsadm -Sn` (the rules as ipvsadm commands), sorted.
ipvs_rules() {
    in_ns "$1" "$IPVSADM" -Sn | sort
}

# use_release_lbctl: LBCTL becomes the release build (`# lab-needs: lbctl-release`), through a
# link named lbctl, so that lbctl_pid (by the process's comm) finds it.
use_release_lbctl() {
    mkdir -p /opt/release
    ln -sf /usr/local/bin/lbctl-release /opt/release/lbctl
    LBCTL=/opt/release/lbctl
}

# lbctl_pid [NS]: the PID of the lbctl running in namespace NS (default: director; empty if
# none). Namespaces share one PID space, and the shell's $! of `in_ns ... &` may be a wrapper.
lbctl_pid() {
    local pid
    for pid in $("$IP" netns pids "${1:-director}"); do
        [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = lbctl ] && echo "$pid"
    done
    true
}

# stop_lbctl_run: SIGTERM every lbctl in the director namespace and wait (up to 20 s) until
# none is left. By PID from the namespace, not `$!`: that is the PID of the background
# subshell, and killing it leaves lbctl running.
stop_lbctl_run() {
    for pid in $(lbctl_pid); do kill -TERM "$pid"; done
    wait_until 20 no_lbctl_running || fail "lbctl did not stop on SIGTERM"
}
no_lbctl_running() { [ -z "$(lbctl_pid)" ]; }

# write_configmap FILE: write stdin as a ConfigMap manifest's data section to FILE, atomically
# (a temporary file renamed over FILE), as docs/daemon.md asks of writers of a watched file.
write_configmap() {
    {
        echo "apiVersion: v1"
        echo "kind: ConfigMap"
        echo "metadata: {name: lvs-vips, namespace: kube-system}"
        echo "data:"
        sed 's/^/  /'
    } >"$1.tmp"
    mv -f "$1.tmp" "$1"
}

# rs_echo NS PORT: a TCP echo server on PORT in NS that first says the namespace's name, then
# echoes every line back (busybox nc -ll -e); for long-lived connections.
rs_echo() {
    cat >"/tmp/echo-$1.sh" <<EOS
#!/bin/sh
echo $1
exec cat
EOS
    chmod +x "/tmp/echo-$1.sh"
    in_ns "$1" nc -ll -p "$2" -e "/tmp/echo-$1.sh" </dev/null >/dev/null 2>&1 &
}

# open_stream NAME NS ADDR PORT: open a long-lived TCP connection from NS to ADDR:PORT.
# Write lines with `stream_send NAME LINE`; what came back accumulates in /tmp/stream-NAME.out.
open_stream() {
    rm -f "/tmp/stream-$1.in" "/tmp/stream-$1.out"
    mkfifo "/tmp/stream-$1.in"
    in_ns "$2" nc "$3" "$4" <"/tmp/stream-$1.in" >"/tmp/stream-$1.out" 2>&1 &
    eval "STREAM_PID_$1=\$!"
    # Hold the fifo open for writing on a numbered descriptor named after the stream.
    eval "exec $(stream_fd "$1")>/tmp/stream-$1.in"
}

# stream_fd NAME: the shell descriptor that keeps stream NAME's input open (a, b or c).
stream_fd() {
    case "$1" in a) echo 7 ;; b) echo 8 ;; c) echo 9 ;; *) fail "stream names are a, b or c" ;; esac
}

# stream_send NAME LINE: send one line on stream NAME.
stream_send() {
    eval "echo \"\$2\" >&$(stream_fd "$1")"
}

# stream_close NAME: close stream NAME's input (nc sends FIN) and wait for nc to end.
stream_close() {
    eval "exec $(stream_fd "$1")>&-"
    eval "pid=\$STREAM_PID_$1"
    wait_until 10 sh -c "! kill -0 $pid" || kill "$pid" 2>/dev/null
    true
}

# stream_saw NAME TEXT: whether TEXT came back on stream NAME.
stream_saw() {
    grep -qx "$2" "/tmp/stream-$1.out"
}

# stream_cut_by_delete NAME SERVICE DEST: the control of "the connection stays": DEST is
# deleted from SERVICE (ipvsadm -d, e.g. `-t 10.0.0.100:80`) and stream NAME must stop
# echoing within 3 s; fails the scenario if it still echoes.
stream_cut_by_delete() {
    in_ns director "$IPVSADM" -d $2 -r "$3"
    stream_send "$1" "after-delete-$1"
    sleep 3
    if stream_saw "$1" "after-delete-$1"; then
        fail "control: stream $1 still echoed after its real server $3 was deleted"
    fi
    log "ok: control: stream $1 ($3 deleted) no longer echoes"
}

# echo_ok NAME TEXT: send TEXT on stream NAME; it must come back within 10 s.
echo_ok() {
    stream_send "$1" "$2"
    wait_until 10 stream_saw "$1" "$2" || fail "stream $1 did not echo '$2' (connection broken?)"
    log "ok: stream $1 echoed '$2'"
}

# daemon_settings_head: the top of a settings file for `lbctl run` in the director (the lab's
# managed range and state file, the HTTP API on 127.0.0.1:9469, resyncs every 2 s); a
# scenario's heredoc starts with `$(daemon_settings_head)` and adds its own sections.
daemon_settings_head() {
    cat <<EOS
managed_vip_ranges = ["10.0.0.96/28"]
state_file = "/tmp/lbctl-state.json"
listen_address = "127.0.0.1:9469"
resync_period_secs = 2
EOS
}
