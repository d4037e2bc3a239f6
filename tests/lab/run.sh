#!/usr/bin/env bash
# Run lab scenarios: one qemu VM per scenario, booted from the cached base image plus an
# overlay with /init, the scenarios, examples/lab/ and our binaries. See README.md.
#
# Usage: tests/lab/run.sh [options] SCENARIO... | all
#   SCENARIO          a file name in tests/lab/scenarios/ without .sh (e.g. 01-smoke)
#   all               every scenario (files named [0-9]*.sh), in name order
# Options:
#   --keep-log        keep out/<scenario>.log of passing scenarios too (failures always keep it)
#   -v, --verbose     also stream each console to the terminal while it runs
#   --shell           boot one VM with an interactive shell on this terminal, after running
#                     the given scenarios (if any); no timeout, no log; leave with `exit`
#   --cargo-build     first build lbctl, the ipvs_probe example and the lb-tests binaries
#                     (fake-apiserver, flow-traffic; debug)
#   -h, --help        this text
# Environment:
#   LBCTL_BIN          lbctl binary to include      (default: target/debug/lbctl)
#   IPVS_PROBE_BIN     ipvs_probe binary to include (default: target/debug/examples/ipvs_probe)
#   FAKE_APISERVER_BIN fake Kubernetes API server for `# lab-needs: fake-apiserver`
#                      (default: target/debug/fake-apiserver, from the lb-tests crate)
#   FAKE_APISERVER_RELEASE_BIN  its release build, for `# lab-needs: fake-apiserver-release`
#                      (default: target/release/fake-apiserver)
#   LAB_BOOT_TIMEOUT   seconds before a VM is killed (default 180)
#   LAB_SCENARIO_TIMEOUT  seconds one scenario may run inside the VM (default 120; a scenario
#                      may ask for more with a header line `# lab-timeout: SECS`)
#   LAB_MEM            VM memory in MiB (default 768)
#   LAB_KERNEL_ARGS    extra words for the VM's kernel command line, which scenarios read from
#                      /proc/cmdline (e.g. `bench.vips=40 bench.ports=250` for bench-apply)
#   LBCTL_RELEASE_BIN  the release build of lbctl for `# lab-needs: lbctl-release`
#                      (default: target/release/lbctl; --cargo-build builds it, as it does
#                      the release builds of fake-apiserver-release and http-scrape)
#   FLOW_TRAFFIC_BIN   the failover traffic tool for `# lab-needs: flow-traffic`
#                      (default: target/debug/flow-traffic, from the lb-tests crate)
#   IPVS_RAW_APPLY_BIN the raw-netlink baseline for `# lab-needs: ipvs-raw-apply`
#                      (default: target/release/ipvs-raw-apply, from the lb-bench crate)
#   HTTP_SCRAPE_BIN    the bench's /metrics client for `# lab-needs: http-scrape`
#                      (default: target/release/http-scrape, from the lb-bench crate)
# Exit status: 0 all passed, 1 some failed, 2 usage or missing prerequisites.
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
CACHE="$LAB_DIR/.cache"
OUT="$LAB_DIR/out"
SCENARIOS="$LAB_DIR/scenarios"

BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-180}
SCENARIO_TIMEOUT=${LAB_SCENARIO_TIMEOUT:-120}
MEM=${LAB_MEM:-768}
LBCTL_BIN=${LBCTL_BIN:-$REPO/target/debug/lbctl}
IPVS_PROBE_BIN=${IPVS_PROBE_BIN:-$REPO/target/debug/examples/ipvs_probe}
FAKE_APISERVER_BIN=${FAKE_APISERVER_BIN:-$REPO/target/debug/fake-apiserver}
FAKE_APISERVER_RELEASE_BIN=${FAKE_APISERVER_RELEASE_BIN:-$REPO/target/release/fake-apiserver}
IPVS_RAW_APPLY_BIN=${IPVS_RAW_APPLY_BIN:-$REPO/target/release/ipvs-raw-apply}
HTTP_SCRAPE_BIN=${HTTP_SCRAPE_BIN:-$REPO/target/release/http-scrape}
FLOW_TRAFFIC_BIN=${FLOW_TRAFFIC_BIN:-$REPO/target/debug/flow-traffic}
LBCTL_RELEASE_BIN=${LBCTL_RELEASE_BIN:-$REPO/target/release/lbctl}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
log() { echo "lab: $*" >&2; }
die() { log "error: $*"; exit 2; }

keep_log=0 verbose=0 shell=0 cargo_build=0
names=()
while [ $# -gt 0 ]; do
    case "$1" in
        --keep-log) keep_log=1 ;;
        -v | --verbose) verbose=1 ;;
        --shell) shell=1 ;;
        --cargo-build) cargo_build=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option $1" ;;
        all)
            for f in "$SCENARIOS"/[0-9]*.sh; do
                [ -e "$f" ] && names+=("$(basename "$f" .sh)")
            done
            ;;
        *) names+=("${1%.sh}") ;;
    esac
    shift
done
[ ${#names[@]} -gt 0 ] || [ "$shell" = 1 ] || { usage >&2; die "no scenario given"; }
for name in "${names[@]}"; do
    [ -f "$SCENARIOS/$name.sh" ] || die "no such scenario: $name (files are in $SCENARIOS)"
done

command -v qemu-system-x86_64 >/dev/null ||
    die "qemu-system-x86_64 not found: run tests/lab/install-deps.sh (as root)"

# --- Binaries and base image ------------------------------------------------------------------
if [ "$cargo_build" = 1 ]; then
    log "building lbctl and the ipvs_probe example"
    CARGO=${CARGO:-cargo} # set by cargo for the tests it runs
    (cd "$REPO" && "$CARGO" build -q -p lbctl) || die "cargo build -p lbctl failed"
    probe_src=$(cd "$REPO" && ls -d */examples/ipvs_probe.rs 2>/dev/null | head -n1 || true)
    if [ -n "$probe_src" ]; then
        probe_pkg=$(awk -F'"' '/^name *=/ { print $2; exit }' "$REPO/${probe_src%%/*}/Cargo.toml")
        (cd "$REPO" && "$CARGO" build -q -p "$probe_pkg" --example ipvs_probe) ||
            die "cargo build -p $probe_pkg --example ipvs_probe failed"
    else
        log "no */examples/ipvs_probe.rs in the workspace: not building it"
    fi
    (cd "$REPO" && "$CARGO" build -q -p lb-tests --bins) ||
        die "cargo build -p lb-tests --bins failed"
fi

"$LAB_DIR/build.sh" || die "building the base image failed"
kernel_version=$(cat "$CACHE/kernel-version")

mkdir -p "$OUT"
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
cleanup() { rm -rf "$RUN"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Overlay: /init, scenarios, examples, our binaries and the libraries they add ------------
OVL="$RUN/overlay"
mkdir -p "$OVL/lab/scenarios" "$OVL/lab/examples" "$OVL/usr/local/bin"
install -m 0755 "$LAB_DIR/init.sh" "$OVL/init"
cp "$SCENARIOS"/*.sh "$OVL/lab/scenarios/"
[ ! -d "$REPO/examples/lab" ] || cp -r "$REPO/examples/lab/." "$OVL/lab/examples/"
# Objects for the fake API server and other scenario inputs, as /lab/fixtures/.
[ ! -d "$LAB_DIR/fixtures" ] || { mkdir -p "$OVL/lab/fixtures" && cp -r "$LAB_DIR/fixtures/." "$OVL/lab/fixtures/"; }
# Shipped monitoring files (dashboard, alert rules), for the scenarios that check them.
[ ! -d "$REPO/deploy" ] || { mkdir -p "$OVL/lab/deploy" && cp -r "$REPO/deploy/." "$OVL/lab/deploy/"; }

# add_binary SRC NAME: copy a host binary in, with the shared libraries the base lacks.
add_binary() {
    # Debug builds are mostly DWARF (lbctl: ~100 MB); the VM unpacks every byte under
    # emulation, so drop the debug sections (symbols stay, for readable backtraces).
    if command -v strip >/dev/null; then
        strip --strip-debug -o "$OVL/usr/local/bin/$2" "$1"
        chmod 0755 "$OVL/usr/local/bin/$2"
    else
        log "no strip (binutils): packing $1 with its debug info, boots get slower"
        install -m 0755 "$1" "$OVL/usr/local/bin/$2"
    fi
    ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
        if ! grep -qxF "$(basename "$lib")" "$CACHE/base.libs"; then
            mkdir -p "$OVL$(dirname "$lib")"
            cp -L "$lib" "$OVL$lib"
        fi
    done
    if ldd "$1" 2>/dev/null | grep 'not found' >/dev/null; then
        die "$1 needs libraries missing on this host: $(ldd "$1" | grep 'not found' | tr -s ' \t' ' ')"
    fi
}
if [ -x "$LBCTL_BIN" ]; then
    add_binary "$LBCTL_BIN" lbctl
else
    log "no lbctl at $LBCTL_BIN (build it, set LBCTL_BIN, or pass --cargo-build); scenarios using it will fail"
fi
# add_host_programs PACKAGE PROG...: pack the host's PROGs (from PATH, or /usr/sbin, which a
# non-root PATH may lack), installed by the Debian package PACKAGE (tests/packages.txt).
add_host_programs() {
    local package=$1 prog bin
    shift
    for prog in "$@"; do
        bin=$(command -v "$prog" || true)
        [ -n "$bin" ] || [ ! -x "/usr/sbin/$prog" ] || bin=/usr/sbin/$prog
        [ -n "$bin" ] || die "a scenario needs $prog: install the Debian package $package (tests/install-deps.sh)"
        add_binary "$bin" "$prog"
    done
}
# build_release PACKAGE BIN: with --cargo-build, (re)build the release binary BIN of PACKAGE
# (cargo does nothing when it is fresh), so a scenario never runs a stale one.
build_release() {
    [ "$cargo_build" = 1 ] || return 0
    log "building $2 (release)"
    (cd "$REPO" && "${CARGO:-cargo}" build -q --release -p "$1" --bin "$2") ||
        die "cargo build --release -p $1 --bin $2 failed"
}
# Extra tools a scenario asks for with a header line `# lab-needs: TOOL...` (host binaries from
# tests/packages.txt, packed only when a selected scenario needs them: prometheus is ~50 MB).
needs=$(for name in "${names[@]}"; do
    sed -n 's/^# lab-needs: *//p' "$SCENARIOS/$name.sh"
done | tr ' ' '\n' | sort -u)
for tool in $needs; do
    case "$tool" in
        prometheus)
            add_host_programs prometheus prometheus
            ;;
        fake-apiserver)
            # Our own test binary: missing means not built; the scenario then fails and says so.
            if [ -x "$FAKE_APISERVER_BIN" ]; then
                add_binary "$FAKE_APISERVER_BIN" fake-apiserver
            else
                log "no fake-apiserver at $FAKE_APISERVER_BIN (cargo build -p lb-tests --bins, or --cargo-build)"
            fi
            ;;
        fake-apiserver-release)
            # The same, release: at production size the debug build takes minutes to load and
            # serve the objects under emulation. Packed under the same name.
            build_release lb-tests fake-apiserver
            [ -x "$FAKE_APISERVER_RELEASE_BIN" ] ||
                die "a scenario needs the release build of fake-apiserver: cargo build --release -p lb-tests --bin fake-apiserver (or --cargo-build)"
            add_binary "$FAKE_APISERVER_RELEASE_BIN" fake-apiserver
            ;;
        flow-traffic)
            # Our own traffic tool (long-lived echo flows, lab 70-71): missing means not built.
            if [ -x "$FLOW_TRAFFIC_BIN" ]; then
                add_binary "$FLOW_TRAFFIC_BIN" flow-traffic
            else
                log "no flow-traffic at $FLOW_TRAFFIC_BIN (cargo build -p lb-tests --bins, or --cargo-build)"
            fi
            ;;
        bird)
            # BIRD 2 as the router of the BGP scenarios (and the directors' BIRD in 72, 81).
            add_host_programs bird2 bird birdc
            ;;
        gobgpd)
            # GoBGP as a second BGP router next to BIRD (scenario 81).
            add_host_programs gobgpd gobgpd gobgp
            ;;
        openssl)
            # A TLS server on the real servers for the HTTPS health check (scenario 80), with
            # a self-signed certificate it makes.
            add_host_programs openssl openssl
            ;;
        keepalived)
            # The old set-up of the migration scenario: it programs IPVS from a
            # keepalived.conf that `lbctl import` reads.
            add_host_programs keepalived keepalived
            ;;
        lbctl-release)
            # The release build, for scenarios at production size: the debug build's parse
            # and /metrics encoding are 10-20x slower, minutes per step under emulation.
            build_release lbctl lbctl
            [ -x "$LBCTL_RELEASE_BIN" ] ||
                die "a scenario needs the release build of lbctl: cargo build --release -p lbctl (or --cargo-build)"
            add_binary "$LBCTL_RELEASE_BIN" lbctl-release
            ;;
        ipvs-raw-apply)
            # The raw-netlink baseline of bench-apply (cargo build --release -p lb-bench).
            if [ -x "$IPVS_RAW_APPLY_BIN" ]; then
                add_binary "$IPVS_RAW_APPLY_BIN" ipvs-raw-apply
            else
                log "no ipvs-raw-apply at $IPVS_RAW_APPLY_BIN (cargo build --release -p lb-bench)"
            fi
            ;;
        http-scrape)
            # The bench's /metrics client (cargo build --release -p lb-bench).
            build_release lb-bench http-scrape
            if [ -x "$HTTP_SCRAPE_BIN" ]; then
                add_binary "$HTTP_SCRAPE_BIN" http-scrape
            else
                log "no http-scrape at $HTTP_SCRAPE_BIN (cargo build --release -p lb-bench)"
            fi
            ;;
        *) die "unknown lab-needs tool: $tool" ;;
    esac
done
if [ -x "$IPVS_PROBE_BIN" ]; then
    add_binary "$IPVS_PROBE_BIN" ipvs_probe
else
    log "no ipvs_probe at $IPVS_PROBE_BIN; scenario 03-probe will fail"
fi

(cd "$OVL" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$RUN/overlay.cpio.gz"
# Concatenated archives unpack in order: the overlay's files land on top of the base.
cat "$CACHE/base.cpio.gz" "$RUN/overlay.cpio.gz" >"$RUN/initrd.gz"

qemu_cmd() { # qemu_cmd KERNEL_ARGS [MEM]: sets the array QEMU to the command line
    # TCG only: KVM hung on these machines (design.md, kernel lab facts).
    QEMU=(qemu-system-x86_64 -accel tcg -m "${2:-$MEM}" -smp 1 -nographic -no-reboot -nic none
        -kernel "$CACHE/vmlinuz" -initrd "$RUN/initrd.gz"
        -append "console=ttyS0 quiet panic=-1 $1${LAB_KERNEL_ARGS:+ $LAB_KERNEL_ARGS}")
}

# --- Interactive shell ------------------------------------------------------------------------
if [ "$shell" = 1 ]; then
    list=$(IFS=,; echo "${names[*]}")
    log "booting kernel $kernel_version with a shell (Ctrl-A X kills the VM)"
    qemu_cmd "lab.shell=1 lab.timeout=$SCENARIO_TIMEOUT${list:+ lab.scenario=$list}"
    "${QEMU[@]}"
    exit $?
fi

# --- One VM per scenario ----------------------------------------------------------------------
passed=() failed=()
for name in "${names[@]}"; do
    logfile="$OUT/$name.log"
    # A scenario may ask for more time with `# lab-timeout: SECS` and more memory with
    # `# lab-mem: MIB` (never less than the defaults); the VM's deadline grows with its time.
    scenario_timeout=$(sed -n 's/^# lab-timeout: *\([0-9]*\).*/\1/p' "$SCENARIOS/$name.sh" | head -n1)
    [ -n "$scenario_timeout" ] && [ "$scenario_timeout" -gt "$SCENARIO_TIMEOUT" ] ||
        scenario_timeout=$SCENARIO_TIMEOUT
    boot_timeout=$((BOOT_TIMEOUT + scenario_timeout - SCENARIO_TIMEOUT))
    log "$name: booting kernel $kernel_version (timeout ${boot_timeout}s)"
    start=$(date +%s)
    scenario_mem=$(sed -n 's/^# lab-mem: *\([0-9]*\).*/\1/p' "$SCENARIOS/$name.sh" | head -n1)
    [ -n "$scenario_mem" ] && [ "$scenario_mem" -gt "$MEM" ] || scenario_mem=$MEM
    qemu_cmd "lab.scenario=$name lab.timeout=$scenario_timeout" "$scenario_mem"
    # The host-side deadline: a hung VM becomes a failure instead of a hung CI job.
    if [ "$verbose" = 1 ]; then
        timeout -k 10 "$boot_timeout" "${QEMU[@]}" </dev/null 2>&1 | tee "$logfile" || true
    else
        timeout -k 10 "$boot_timeout" "${QEMU[@]}" </dev/null >"$logfile" 2>&1 || true
    fi
    elapsed=$(($(date +%s) - start))
    result=$(tr -d '\r' <"$logfile" | grep -a "^LAB-RESULT $name " | tail -n1 || true)
    if [[ "$result" == "LAB-RESULT $name PASS"* ]]; then
        log "$name: PASS in ${elapsed}s"
        passed+=("$name")
        [ "$keep_log" = 1 ] || rm -f "$logfile"
    else
        reason=${result#"LAB-RESULT $name FAIL "}
        [ -n "$result" ] || reason="no result line after ${elapsed}s (VM hung, crashed or timed out)"
        log "$name: FAIL in ${elapsed}s: $reason"
        log "---- last 40 lines of $logfile ----"
        tr -d '\r' <"$logfile" | tail -n 40 >&2
        log "---- end of $logfile ----"
        failed+=("$name")
    fi
done

echo "lab: ${#passed[@]} passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
