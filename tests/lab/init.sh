#!/bin/sh
# /init of the lab VM (busybox sh, PID 1). Packed as /init by run.sh.
#
# Contract: mount the pseudo file systems, load the IPVS and netfilter modules, run every
# scenario named on the kernel command line (`lab.scenario=A,B`), print one line per scenario
#   LAB-RESULT <scenario> PASS            or
#   LAB-RESULT <scenario> FAIL <reason>
# and power off. `lab.shell=1` opens an interactive shell on the console after the scenarios
# (or instead of them). `lab.timeout=SECONDS` bounds each scenario (default 120).
# Nothing here may block forever: run.sh also kills the VM after its own deadline.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
export TERM=${TERM:-linux}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The initramfs has no /dev/console node (building it needs root), so the kernel started us
# without stdio: attach to the console now that devtmpfs provides it.
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
hostname lab

/usr/sbin/ip link set lo up

# The kernel runs /sbin/modprobe (a busybox link) to auto-load schedulers and netfilter
# pieces; busybox reads /lib/modules/$(uname -r)/modules.dep written by build.sh.
echo /sbin/modprobe >/proc/sys/kernel/modprobe
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_mh \
    xt_ipvs xt_CT iptable_raw iptable_nat iptable_filter iptable_mangle nf_nat nf_conntrack \
    nf_tables nft_compat nft_chain_nat veth dummy ipip bridge; do
    modprobe "$m" || echo "lab-init: modprobe $m failed"
done

arg() { # arg NAME: value of NAME=... on the kernel command line, empty if absent
    for word in $(cat /proc/cmdline); do
        case "$word" in "$1"=*) echo "${word#*=}"; return ;; esac
    done
}

scenarios=$(arg lab.scenario | tr ',' ' ')
want_shell=$(arg lab.shell)
timeout_s=$(arg lab.timeout)
timeout_s=${timeout_s:-120}

echo "lab-init: kernel $(uname -r), scenarios: ${scenarios:-none}"
first=1
for name in $scenarios; do
    # Clean kernel for every scenario but the first; the last one's namespaces, links and
    # IPVS tables stay for the shell (lab.shell=1) to inspect.
    [ "$first" = 1 ] || { [ -f /lab/scenarios/lib.sh ] && (. /lab/scenarios/lib.sh && lab_teardown); }
    first=0
    script=/lab/scenarios/$name.sh
    rm -f /tmp/lab-fail-reason
    echo "LAB-START $name"
    start=$(cut -d. -f1 /proc/uptime)
    if [ ! -f "$script" ]; then
        echo "no such scenario: $script" >/tmp/lab-fail-reason
        rc=127
    else
        # A scenario is a child shell: its `exit` or failure cannot kill PID 1.
        (cd /lab && timeout -s KILL "$timeout_s" sh "$script")
        rc=$?
    fi
    elapsed=$(($(cut -d. -f1 /proc/uptime) - start))
    if [ "$rc" = 0 ]; then
        echo "LAB-RESULT $name PASS (${elapsed}s)"
    else
        reason=$(head -n1 /tmp/lab-fail-reason 2>/dev/null)
        [ -n "$reason" ] || { [ "$rc" = 137 ] && reason="timed out after ${timeout_s}s"; }
        echo "LAB-RESULT $name FAIL ${reason:-exit status $rc}"
    fi
done

if [ "$want_shell" = 1 ]; then
    echo "lab-init: interactive shell; scenarios are in /lab/scenarios, helpers: . /lab/scenarios/lib.sh"
    echo "lab-init: leave with 'exit' (the VM powers off)"
    # The login shell loads the helpers, so `ip` is iproute2's and `in_ns`, `http_get`...
    # work; `fail` would end the shell, hence no EXIT trap and a hint.
    cat >/etc/profile <<'PROFILE'
. /lab/scenarios/lib.sh
trap - EXIT
PS1='lab:$PWD# '
echo "lab helpers loaded (ip = iproute2); namespaces: $(/usr/sbin/ip netns list | cut -d' ' -f1 | tr '\n' ' ')"
PROFILE
    setsid cttyhack sh -l
fi
sync
poweroff -f
