#!/usr/bin/env bash
# Shows that the shipped unit deploy/lbctl.service works under its own sandbox: a Debian 12
# container (systemd-nspawn --boot, systemd as its PID 1) starts `lbctl run` from the unit
# installed unchanged in /etc/systemd/system and enabled, with [bgp] on and
# on_stop = "graceful_restart", every path at its default. A check unit ordered after it
# records what the daemon could do inside the sandbox, then powers the container off:
#   - the unit is active and was not restarted;
#   - the graceful-restart marker /run/lbctl/bgp-graceful-restart was written, and survives a
#     `systemctl restart` (RuntimeDirectoryPreserve=yes): the new start claims the R-bit;
#   - the control socket /run/lbctl/control.sock exists with mode 0600;
#   - the state directory /var/lib/lbctl is writable (the writer lock state.json.lock exists);
#   - the sandbox really applied: the daemon's capability bounding set is exactly
#     CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE, NoNewPrivs and seccomp are on, and /run
#     is read-only in its mount namespace while /run/lbctl is writable.
# Control (proves the check can fail): the same with a drop-in `RuntimeDirectory=` (reset)
# must leave the marker unwritten (/run is read-only for the daemon) and log "cannot write the
# restart marker". The control socket then moves to /var/lib/lbctl in the
# settings, so the daemon keeps running and the marker is the only thing that differs.
#
# The one drop-in both runs use changes only what a container without a cluster and without
# IPVS needs, never a sandbox property (docs/operations.md, "How the unit is checked"):
#   - ExecStart: file mode (--config-file /etc/lbctl/cm.yaml) instead of --kubeconfig;
#   - ExecStartPre: the module load may fail ("-"): a container cannot load modules and this
#     test needs no IPVS (the daemon connects to IPVS lazily and keeps running without it).
#
# The root file system (debootstrap --variant=minbase, ~250 MB, ~2 minutes) is cached in
# tests/unit-sandbox/.cache/rootfs (gitignored) and built only when missing; each boot runs
# on a volatile overlay, so the cache is never modified.
#
# Usage: tests/unit-sandbox/run.sh [--cargo-build]
#   --cargo-build   first build lbctl (debug), so the container runs the code under test
# Environment:
#   LBCTL_BIN             lbctl binary (default: target/debug/lbctl)
#   LB_SANDBOX_MIRROR     Debian mirror for debootstrap (default: the first bookworm "main"
#                         source of /etc/apt/sources.list*, else http://deb.debian.org/debian)
#   LB_SANDBOX_BOOT_SECS  deadline of one container boot (default 120)
# Prints "unit-sandbox: PASS ..." and exits 0 when both runs show what they must; exits 1 on a
# failed check, 2 when a prerequisite is missing (root, systemd-nspawn, debootstrap, lbctl).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/unit-sandbox
CACHE=$HERE/.cache
ROOTFS=$CACHE/rootfs
UNIT=deploy/lbctl.service
BOOT_SECS=${LB_SANDBOX_BOOT_SECS:-120}

log() { echo "unit-sandbox: $*"; }
die() { echo "unit-sandbox: $*" >&2; exit 2; }
failures=0
fail() { echo "unit-sandbox: FAIL: $*" >&2; failures=$((failures + 1)); }

case "${1:-}" in
    --cargo-build) cargo build -p lbctl --bin lbctl ;;
    "") ;;
    *) die "unknown argument $1 (usage: $0 [--cargo-build])" ;;
esac

[ "$(id -u)" = 0 ] || die "needs root (systemd-nspawn, debootstrap)"
for tool in systemd-nspawn debootstrap; do
    command -v "$tool" >/dev/null ||
        die "$tool not found: apt-get install systemd-container debootstrap (tests/install-deps.sh)"
done
LBCTL_BIN=$(realpath -m "${LBCTL_BIN:-target/debug/lbctl}")
[ -x "$LBCTL_BIN" ] || die "no lbctl binary at $LBCTL_BIN (cargo build -p lbctl, or --cargo-build)"

# The mirror apt uses here (a local one on CI machines), for the same packages debootstrap gets.
mirror() {
    if [ -n "${LB_SANDBOX_MIRROR:-}" ]; then
        echo "$LB_SANDBOX_MIRROR"
        return
    fi
    local found
    found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '/^deb / { line = $0; sub(/\[[^]]*\] */, "", line); split(line, f, " ")
                       if (f[3] == "bookworm") { print f[2]; exit } }
             /^URIs:/ { uri = $2 } /^Suites:/ && / bookworm( |$)/ && uri != "" { print uri; exit }') || true
    echo "${found:-http://deb.debian.org/debian}"
}

# One run at a time per checkout (the cache is built once, containers are named per run).
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9

# The cache is rebuilt when missing or when the package list below changes.
PACKAGES=systemd,systemd-sysv,dbus,iproute2,kmod
if [ ! -x "$ROOTFS/lib/systemd/systemd" ] || [ "$(cat "$CACHE/rootfs.packages" 2>/dev/null)" != "$PACKAGES" ]; then
    url=$(mirror)
    log "building the container root file system from $url (once; cached in $ROOTFS)"
    rm -rf "$ROOTFS.tmp" "$CACHE/rootfs.packages"
    started=$(date +%s)
    if ! debootstrap --variant=minbase --include="$PACKAGES" \
        bookworm "$ROOTFS.tmp" "$url" >"$CACHE/debootstrap.log" 2>&1; then
        tail -20 "$CACHE/debootstrap.log" >&2
        rm -rf "$ROOTFS.tmp"
        die "debootstrap failed (log: $CACHE/debootstrap.log)"
    fi
    rm -rf "$ROOTFS"
    mv "$ROOTFS.tmp" "$ROOTFS"
    echo "$PACKAGES" >"$CACHE/rootfs.packages"
    log "root file system built in $(($(date +%s) - started)) s"
fi

work=$(mktemp -d)
# LB_SANDBOX_KEEP=1 keeps the staged files, console logs and the containers' journals.
trap 'if [ "${LB_SANDBOX_KEEP:-}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi' EXIT

# stage CASE: the files one boot binds into the container, under $work/CASE.
stage() {
    local case=$1 dir=$work/$1
    mkdir -p "$dir/etc-lbctl" "$dir/out"
    # The rootfs's own enabled units, plus ours.
    cp -a "$ROOTFS/etc/systemd/system" "$dir/system"
    cp "$UNIT" "$dir/system/lbctl.service"
    # `systemctl enable lbctl`, as the unit's [Install] section says.
    grep -qx 'WantedBy=multi-user.target' "$UNIT" || die "$UNIT: no WantedBy=multi-user.target"
    ln -s ../lbctl.service "$dir/system/multi-user.target.wants/lbctl.service"

    # The drop-in: ExecStart in file mode, a module load that may fail. Derived from the
    # unit's own lines, so a change there is tested here.
    mkdir -p "$dir/system/lbctl.service.d"
    local exec_start
    exec_start=$(grep '^ExecStart=' "$UNIT" |
        sed 's#--kubeconfig /etc/lbctl/kubeconfig#--config-file /etc/lbctl/cm.yaml#')
    case "$exec_start" in
        *"--config-file /etc/lbctl/cm.yaml"*) ;;
        *) die "$UNIT: ExecStart has no '--kubeconfig /etc/lbctl/kubeconfig' to replace" ;;
    esac
    {
        echo "# tests/unit-sandbox: file mode (no cluster); this container cannot load modules."
        echo "[Service]"
        echo "ExecStart="
        echo "$exec_start"
        echo "ExecStartPre="
        grep '^ExecStartPre=' "$UNIT" | sed 's#^ExecStartPre=+/sbin/modprobe #ExecStartPre=-+/sbin/modprobe #'
    } >"$dir/system/lbctl.service.d/10-unit-sandbox.conf"

    # Settings: every path at its default (state file, control socket, restart marker).
    cat >"$dir/etc-lbctl/settings.toml" <<'EOF'
managed_vip_ranges = ["203.0.113.224/27"]
listen_address = "127.0.0.1:9469"

[bgp]
enabled = true
local_as = 64512
router_id = "192.0.2.1"
on_stop = "graceful_restart"
graceful_restart = { enabled = true, restart_time_secs = 120 }

# Unreachable in the container's private network: the speaker keeps retrying.
[[bgp.peers]]
address = "192.0.2.254"
remote_as = 64513
EOF
    cat >"$dir/etc-lbctl/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: lvs-vips, namespace: kube-system}
data:
  203.0.113.225-80: 10.0.1.11:80
EOF
    local socket=/run/lbctl/control.sock
    if [ "$case" = control ]; then
        printf '[Service]\nRuntimeDirectory=\n' >"$dir/system/lbctl.service.d/20-control-no-runtime-dir.conf"
        socket=/var/lib/lbctl/control.sock
        printf '\n[http]\ncontrol_socket = "%s"\n' "$socket" >>"$dir/etc-lbctl/settings.toml"
    fi

    cat >"$dir/system/lbctl-sandbox-check.service" <<EOF
[Unit]
Description=tests/unit-sandbox: record what lbctl could do under its sandbox
After=lbctl.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/bin/sh /etc/lbctl-check/check.sh $socket
EOF
    ln -s ../lbctl-sandbox-check.service "$dir/system/multi-user.target.wants/lbctl-sandbox-check.service"
    mkdir -p "$dir/check"
    cat >"$dir/check/check.sh" <<'EOF'
# Runs in the container after lbctl.service started; writes KEY=VALUE lines to /sandbox-out.
socket=$1
out=/sandbox-out/result
# The control socket is bound right before the BGP speaker starts (and writes its marker).
i=0
while [ ! -S "$socket" ] && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
# Long enough for a crash or a restart (RestartSec=2) to show.
sleep 3
pid=$(systemctl show -P MainPID lbctl.service)
{
    echo "active=$(systemctl is-active lbctl.service)"
    echo "nrestarts=$(systemctl show -P NRestarts lbctl.service)"
    echo "marker=$([ -f /run/lbctl/bgp-graceful-restart ] && echo present || echo absent)"
    echo "run_lbctl=$([ -d /run/lbctl ] && echo present || echo absent)"
    echo "socket_mode=$(stat -c '%F %a' "$socket" 2>/dev/null || echo missing)"
    echo "state_lock=$([ -f /var/lib/lbctl/state.json.lock ] && echo present || echo absent)"
    if [ "$pid" != 0 ]; then
        awk '$1 == "CapBnd:" { print "capbnd=" $2 } $1 == "NoNewPrivs:" { print "nonewprivs=" $2 }
             $1 == "Seccomp:" { print "seccomp=" $2 }' "/proc/$pid/status"
        # Mount options (field 6) of /run and /run/lbctl as the daemon sees them.
        awk '$5 == "/run" { print "run_mount=" $6 } $5 == "/run/lbctl" { print "run_lbctl_mount=" $6 }' \
            "/proc/$pid/mountinfo"
    fi
    # A restart (SIGTERM with on_stop = "graceful_restart", then a new start) must find the
    # marker, which RuntimeDirectoryPreserve=yes keeps across the stop: the R-bit is claimed.
    systemctl restart lbctl.service
    invocation=$(systemctl show -P InvocationID lbctl.service)
    started() { journalctl -q --no-pager -u lbctl.service "_SYSTEMD_INVOCATION_ID=$invocation" | grep -q "BGP speaker started"; }
    i=0
    while ! started && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if journalctl -q --no-pager -u lbctl.service "_SYSTEMD_INVOCATION_ID=$invocation" | grep -q "announcing the R-bit"; then
        echo "restart_rbit=yes"
    else
        echo "restart_rbit=no"
    fi
    echo "active_after_restart=$(systemctl is-active lbctl.service)"
} >"$out.tmp"
mv "$out.tmp" "$out"
journalctl --no-pager -o short-monotonic -u lbctl.service >/sandbox-out/journal.txt 2>&1
systemctl show lbctl.service >/sandbox-out/unit-properties.txt
[ "$pid" != 0 ] && cp /proc/$pid/mountinfo /sandbox-out/mountinfo.txt
journalctl --no-pager -o short-monotonic -b >/sandbox-out/journal-boot.txt 2>&1
EOF
}

# boot CASE: boots the container for CASE until the check unit powers it off.
boot() {
    local case=$1 dir=$work/$1 rc=0
    local started
    started=$(date +%s)
    # Without systemd as the host's PID 1 (no bus to ask for a scope) the container stays in
    # this process's cgroup; under systemd nspawn gets its own transient scope as usual.
    local scope=()
    [ -d /run/systemd/system ] || scope=(--keep-unit)
    timeout --kill-after=10 "$BOOT_SECS" systemd-nspawn --quiet --boot --register=no "${scope[@]}" \
        --private-network --volatile=overlay --directory="$ROOTFS" \
        --machine="lbctl-sandbox-$case-$$" \
        --bind-ro="$LBCTL_BIN:/usr/local/bin/lbctl" \
        --bind-ro="$dir/system:/etc/systemd/system" \
        --bind-ro="$dir/etc-lbctl/settings.toml:/etc/lbctl/settings.toml" \
        --bind-ro="$dir/etc-lbctl/cm.yaml:/etc/lbctl/cm.yaml" \
        --bind-ro="$dir/check:/etc/lbctl-check" \
        --bind="$dir/out:/sandbox-out" \
        ${LB_SANDBOX_INIT_ARGS:-} </dev/null >"$dir/console.log" 2>&1 || rc=$?
    log "$case: container ran $(($(date +%s) - started)) s (exit $rc)"
    if [ ! -f "$dir/out/result" ]; then
        tail -40 "$dir/console.log" >&2
        fail "$case: the check unit wrote no result (container exit $rc; deadline ${BOOT_SECS} s)"
        return
    fi
    sed "s/^/unit-sandbox: $case: /" "$dir/out/result"
}

# value CASE KEY: KEY's value in CASE's result.
value() { sed -n "s/^$2=//p" "$work/$1/out/result" 2>/dev/null | head -1; }
expect() { # expect CASE KEY WANTED
    local got
    got=$(value "$1" "$2")
    [ "$got" = "$3" ] || fail "$1: $2 is '${got}', expected '$3'"
}

stage unit
stage control
boot unit
boot control

# CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13).
expect unit active active
expect unit nrestarts 0
expect unit marker present
expect unit socket_mode "socket 600"
expect unit state_lock present
expect unit capbnd 0000000000003400
expect unit nonewprivs 1
expect unit seccomp 2
expect unit restart_rbit yes
expect unit active_after_restart active
case "$(value unit run_mount)" in ro,* | ro) ;; *) fail "unit: /run is not read-only for the daemon ($(value unit run_mount))" ;; esac
case "$(value unit run_lbctl_mount)" in rw,* | rw) ;; *) fail "unit: /run/lbctl is not writable for the daemon ($(value unit run_lbctl_mount))" ;; esac

expect control active active
expect control marker absent
expect control run_lbctl absent
expect control restart_rbit no
grep -q 'cannot write the restart marker' "$work/control/out/journal.txt" 2>/dev/null ||
    fail "control: the daemon did not report the unwritable marker"

if [ "$failures" -gt 0 ]; then
    for case in unit control; do
        echo "--- $case: journal of lbctl.service" >&2
        tail -30 "$work/$case/out/journal.txt" >&2 2>/dev/null || true
    done
    echo "unit-sandbox: FAIL ($failures checks)" >&2
    exit 1
fi
log "PASS: under deploy/lbctl.service the daemon wrote /run/lbctl/bgp-graceful-restart, bound /run/lbctl/control.sock (0600) and locked /var/lib/lbctl; without RuntimeDirectory= the marker is not written"
