#!/usr/bin/env bash
# Build the lab's base image: the Debian cloud kernel plus an initramfs with busybox, iproute2,
# ipvsadm, iptables, nftables, kmod, their libraries and the network kernel modules.
#
# Output (all under tests/lab/.cache/, gitignored):
#   vmlinuz            the kernel to boot
#   base.cpio.gz       the base initramfs (no /init: run.sh appends it with the scenarios)
#   base.libs          sonames present in the base (run.sh copies only the missing ones)
#   base.key           the cache key the two files above were built from
#   kernel-version     the `uname -r` of the kernel in the image
#   resolve.stamp      apt lists + script the package set was resolved from (fast path)
#   debs/              the downloaded .deb files (kept, so a rebuild needs no network)
#
# The cache key is the list of exact package versions plus this script's own hash, so a new
# Debian point release or an edit here rebuilds; anything else reuses the cache (about 1 s).
# Needs: apt-get (with an updated package list), dpkg-deb, cpio, gzip, depmod (kmod), flock.
# No root is needed: packages are only downloaded and extracted, never installed.
#
# Environment:
#   LAB_KERNEL_PKG   kernel package to use (default: what linux-image-cloud-amd64 depends on)
#   LAB_FORCE_BUILD  set to 1 to rebuild the base even if the key matches
set -euo pipefail

# depmod lives in /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE="$LAB_DIR/.cache"
DEBS="$CACHE/debs"
mkdir -p "$DEBS"

log() { echo "lab-build: $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in apt-get apt-cache dpkg-deb cpio gzip depmod flock; do
    command -v "$tool" >/dev/null || die "missing '$tool' (run tests/lab/install-deps.sh)"
done

# One build at a time per checkout: concurrent runs (two test binaries, two engineers) wait.
exec 9>"$CACHE/build.lock"
flock 9

# --- 0. Fast path ---------------------------------------------------------------------------
# Resolving the package set costs several apt-cache calls (~4 s). Its inputs are apt's package
# lists, this script and LAB_KERNEL_PKG: when none changed since the last build, reuse it.
lists_stamp=$( (ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null | grep '_Packages' || true
    sha256sum <"${BASH_SOURCE[0]}"; echo "kernel=${LAB_KERNEL_PKG:-}") | sha256sum | cut -d' ' -f1)
if [ "${LAB_FORCE_BUILD:-0}" != 1 ] && [ -f "$CACHE/resolve.stamp" ] &&
    [ "$(cat "$CACHE/resolve.stamp")" = "$lists_stamp" ] && [ -f "$CACHE/base.cpio.gz" ] &&
    [ -f "$CACHE/vmlinuz" ] && [ -f "$CACHE/kernel-version" ]; then
    log "base image up to date ($(cat "$CACHE/kernel-version"), package lists unchanged)"
    exit 0
fi

# --- 1. Resolve the package set -----------------------------------------------------------
kernel_pkg=${LAB_KERNEL_PKG:-}
if [ -z "$kernel_pkg" ]; then
    kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$kernel_pkg" ] || die "cannot resolve linux-image-cloud-amd64 (run apt-get update)"
fi
kernel_version=${kernel_pkg#linux-image-}

tool_pkgs="busybox-static iproute2 ipvsadm iptables nftables kmod netbase"

# Libraries the tools need, recursively, following only lib* packages (debconf, perl and
# friends are install-time dependencies the tools never load). One apt-cache call per level:
# each call costs ~0.4 s, so per-package calls made a cached run take 40 s.
declare -A seen=()
level="$tool_pkgs"
lib_pkgs=()
while [ -n "$level" ]; do
    next=""
    for dep in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances $level 2>/dev/null |
        awk '$1 == "Depends:" || $1 == "PreDepends:" { print $2 }' | grep -E '^(lib|zlib)' | sort -u || true); do
        if [ -z "${seen[$dep]:-}" ]; then
            seen[$dep]=1
            lib_pkgs+=("$dep")
            next="$next $dep"
        fi
    done
    level=$next
done

all_pkgs="$kernel_pkg $tool_pkgs ${lib_pkgs[*]}"

# --- 2. Download what is missing (apt-get download: no root, no install) --------------------
declare -A candidate=()
while read -r pkg version; do
    candidate[$pkg]=$version
done < <(apt-cache policy $all_pkgs | awk '/^[^ ]/ { sub(/:$/, "", $1); pkg = $1 }
    /^  Candidate:/ { print pkg, $2 }')
wanted=()   # exact file names of the debs this build uses
missing=()  # pkg=version specs to download
for pkg in $all_pkgs; do
    version=${candidate[$pkg]:-}
    [ -n "$version" ] && [ "$version" != "(none)" ] || die "no candidate version for $pkg"
    escaped=${version//:/%3a}
    found=$(cd "$DEBS" && ls "${pkg}_${escaped}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -n "$found" ]; then
        wanted+=("$found")
    else
        missing+=("$pkg=$version")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    log "downloading ${#missing[@]} packages"
    # apt warns that _apt cannot write here and downloads as the caller instead: harmless.
    (cd "$DEBS" && apt-get download -q "${missing[@]}" 2>&1 |
        { grep -v '^W: Download is performed unsandboxed' >&2 || true; }) ||
        die "apt-get download failed"
    for spec in "${missing[@]}"; do
        pkg=${spec%%=*}
        version=${spec#*=}
        found=$(cd "$DEBS" && ls "${pkg}_${version//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
        [ -n "$found" ] || die "download of $spec produced no file"
        wanted+=("$found")
    done
fi

# Old versions of the packages are of no further use: keep the cache at one version each.
# (A lookup table, not `printf | grep -q`: with pipefail, grep -q quitting early can fail the
# printf with EPIPE and delete a wanted file.)
declare -A keep=()
for name in "${wanted[@]}"; do
    keep[$name]=1
done
for deb in "$DEBS"/*.deb; do
    name=$(basename "$deb")
    [ -n "${keep[$name]:-}" ] || rm -f "$deb"
done

# --- 3. Cache check --------------------------------------------------------------------------
key=$( (printf '%s\n' "${wanted[@]}" | sort; sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) |
    sha256sum | cut -d' ' -f1)
if [ "${LAB_FORCE_BUILD:-0}" != 1 ] && [ -f "$CACHE/base.key" ] &&
    [ "$(cat "$CACHE/base.key")" = "$key" ] && [ -f "$CACHE/base.cpio.gz" ] &&
    [ -f "$CACHE/vmlinuz" ]; then
    log "base image up to date ($kernel_version)"
    echo "$lists_stamp" >"$CACHE/resolve.stamp"
    exit 0
fi
log "building base image for kernel $kernel_version"

# --- 4. Extract ------------------------------------------------------------------------------
WORK=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
POOL="$WORK/pool"   # every package extracted: the source of the files we pick
ROOT="$WORK/root"   # the initramfs tree
mkdir -p "$POOL" "$ROOT"
for deb in "${wanted[@]}"; do
    case "$deb" in
        linux-image-*) dpkg-deb -x "$DEBS/$deb" "$WORK/kernel" ;;
        *) dpkg-deb -x "$DEBS/$deb" "$POOL" ;;
    esac
done
[ -d "$WORK/kernel/lib/modules/$kernel_version" ] || die "kernel package has no modules for $kernel_version"

# --- 5. Kernel modules: a chosen subset plus its dependencies --------------------------------
# The .deb ships no modules.dep; depmod computes it (design.md: kernel lab facts).
depmod -b "$WORK/kernel" "$kernel_version"
KMOD_SRC="$WORK/kernel/lib/modules/$kernel_version"
wanted_modules=$(cd "$KMOD_SRC" && find kernel \( \
    -path 'kernel/net/netfilter/*' -o \
    -path 'kernel/net/ipv4/netfilter/*' -o \
    -path 'kernel/net/ipv6/netfilter/*' -o \
    -path 'kernel/net/bridge/*' -o \
    -path 'kernel/net/sched/*' -o \
    -path 'kernel/net/8021q/*' -o \
    -path 'kernel/net/sctp/*' -o \
    -path 'kernel/drivers/net/ipvlan/*' -o \
    -path 'kernel/drivers/net/vxlan/*' -o \
    -name 'veth.ko' -o -name 'dummy.ko' -o -name 'tun.ko' -o -name 'macvlan.ko' -o \
    -name 'vrf.ko' -o -name 'ifb.ko' -o \
    -name 'ipip.ko' -o -name 'tunnel4.ko' -o -name 'ip_tunnel.ko' -o -name 'gre.ko' -o \
    -name 'ip_gre.ko' -o -name 'fou.ko' -o -name 'udp_tunnel.ko' -o \
    -name 'ip6_tunnel.ko' -o -name 'tunnel6.ko' -o -name 'sit.ko' -o -name 'ip6_gre.ko' -o \
    -name 'inet_diag.ko' -o -name 'tcp_diag.ko' -o -name 'udp_diag.ko' -o -name 'raw_diag.ko' \
    \) -name '*.ko*' -print | sort)
[ -n "$wanted_modules" ] || die "no kernel modules matched"
# Close over modules.dep ("path: dep dep ...").
closure=$(printf '%s\n' $wanted_modules | awk -v depfile="$KMOD_SRC/modules.dep" '
    BEGIN {
        while ((getline line < depfile) > 0) {
            split(line, parts, ":"); deps[parts[1]] = parts[2]
        }
    }
    function visit(m,   list, n, i) {
        if (m in done) return
        done[m] = 1; print m
        n = split(deps[m], list, " ")
        for (i = 1; i <= n; i++) visit(list[i])
    }
    { visit($1) }' | sort -u)
KMOD_DST="$ROOT/lib/modules/$kernel_version"
mkdir -p "$KMOD_DST"
for m in $closure; do
    mkdir -p "$KMOD_DST/$(dirname "$m")"
    cp "$KMOD_SRC/$m" "$KMOD_DST/$m"
done
cp "$KMOD_SRC"/modules.builtin "$KMOD_SRC"/modules.builtin.modinfo "$KMOD_SRC"/modules.order "$KMOD_DST/"
depmod -b "$ROOT" "$kernel_version"
log "kept $(echo "$closure" | wc -l) kernel modules"
cp "$WORK/kernel/boot/vmlinuz-$kernel_version" "$WORK/vmlinuz"

# --- 6. Busybox and the real tools -----------------------------------------------------------
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,lib64,etc,proc,sys,dev,tmp,run,root,lab}
cp "$POOL/bin/busybox" "$ROOT/bin/busybox"

# Real tools live in /usr/sbin (first in PATH), so `ip netns exec NS ip ...` finds them.
install_tool() { # install_tool SRC_IN_POOL NAME
    [ -e "$POOL/$1" ] || die "tool $1 missing from the packages"
    cp -L "$POOL/$1" "$ROOT/usr/sbin/$2"
}
install_tool bin/ip ip
install_tool bin/ss ss
install_tool sbin/tc tc
install_tool sbin/bridge bridge
install_tool sbin/ipvsadm ipvsadm
install_tool sbin/ipvsadm-save ipvsadm-save
install_tool sbin/ipvsadm-restore ipvsadm-restore
install_tool usr/sbin/xtables-nft-multi xtables-nft-multi
install_tool usr/sbin/xtables-legacy-multi xtables-legacy-multi
install_tool usr/sbin/nft nft
install_tool bin/kmod kmod
# iptables is a Debian "alternative" (not in the .deb): point it at the nft backend as a
# fresh Debian 12 does, and keep the legacy backend reachable by its explicit name.
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -s xtables-nft-multi "$ROOT/usr/sbin/$t"
    ln -s xtables-nft-multi "$ROOT/usr/sbin/${t/tables/tables-nft}"
    ln -s xtables-legacy-multi "$ROOT/usr/sbin/${t/tables/tables-legacy}"
done
mkdir -p "$ROOT/usr/lib/x86_64-linux-gnu"
cp -a "$POOL/usr/lib/x86_64-linux-gnu/xtables" "$ROOT/usr/lib/x86_64-linux-gnu/"
cp -a "$POOL/etc/iproute2" "$ROOT/etc/" 2>/dev/null || true
cp "$POOL/etc/protocols" "$POOL/etc/services" "$ROOT/etc/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"

# Busybox applet links, except where a real tool already sits at that path.
for applet in $("$POOL/bin/busybox" --list-full); do
    [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done

# --- 7. Shared libraries: whatever the ELF files load, resolved against the packages ---------
LOADER="$POOL/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -e "$LOADER" ] || die "libc6 package has no loader"
LIBPATH="$POOL/lib/x86_64-linux-gnu:$POOL/usr/lib/x86_64-linux-gnu"
elves=$(find "$ROOT/usr/sbin" "$ROOT/usr/lib/x86_64-linux-gnu/xtables" -type f)
libs=$(for f in $elves; do
    "$LOADER" --library-path "$LIBPATH" --list "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u)
for lib in $libs; do
    case "$lib" in
        "$POOL"/*) rel=${lib#"$POOL"} ;;
        *) die "library $lib is not in the downloaded packages (add its package to tool_pkgs)" ;;
    esac
    mkdir -p "$ROOT/$(dirname "$rel")"
    cp -L "$lib" "$ROOT/$rel"
done
for f in $elves; do
    if "$LOADER" --library-path "$LIBPATH" --list "$f" 2>/dev/null | grep 'not found' >/dev/null; then
        die "unresolved library for $f"
    fi
done
cp -L "$LOADER" "$ROOT/lib64/ld-linux-x86-64.so.2"
cp -L "$LOADER" "$ROOT/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
(cd "$ROOT" && find lib usr/lib lib64 -name '*.so*' \( -type f -o -type l \) -printf '%f\n' | sort -u) >"$WORK/base.libs"

# --- 8. Pack ---------------------------------------------------------------------------------
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$WORK/base.cpio.gz"
mv "$WORK/vmlinuz" "$CACHE/vmlinuz"
mv "$WORK/base.cpio.gz" "$CACHE/base.cpio.gz"
mv "$WORK/base.libs" "$CACHE/base.libs"
echo "$kernel_version" >"$CACHE/kernel-version"
echo "$key" >"$CACHE/base.key"
echo "$lists_stamp" >"$CACHE/resolve.stamp"
log "base image: $(du -h "$CACHE/base.cpio.gz" | cut -f1) initramfs, kernel $kernel_version"
