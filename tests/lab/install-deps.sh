#!/usr/bin/env bash
# Install what the lab needs on a Debian 12 host (what CI calls before tests/lab/run.sh).
#
# Idempotent: when every package is installed and apt's package lists know the cloud kernel,
# it changes nothing and needs no network; otherwise it runs apt-get update and install.
# The VM's own contents are not installed here: build.sh downloads them with apt-get download.
# Needs root (or sudo).
set -euo pipefail

# qemu-system-x86: the VM. cpio: pack the initramfs. kmod: depmod for the extracted modules.
# busybox-static, ipvsadm, iproute2, iptables, nftables: the same tools as in the VM, so a
# scenario's commands can be tried on the host first (the host kernel has no IPVS, though).
# binutils: strip, to pack our debug binaries without their DWARF. util-linux: flock.
# ca-certificates: https apt mirrors.
PACKAGES="qemu-system-x86 cpio kmod binutils busybox-static ipvsadm iproute2 iptables nftables util-linux ca-certificates"

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo)" >&2; exit 1; }
    SUDO=sudo
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
# build.sh resolves the kernel through apt's lists; a fresh image has none.
kernel_known=$(apt-cache policy linux-image-cloud-amd64 2>/dev/null | awk '/Candidate:/ { print $2 }')

if [ -z "$missing" ] && [ -n "$kernel_known" ] && [ "$kernel_known" != "(none)" ]; then
    echo "install-deps: all lab dependencies present"
    exit 0
fi

echo "install-deps: installing:${missing:- (nothing; refreshing package lists)}"
$SUDO apt-get update
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086 # word splitting of the list is intended
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
echo "install-deps: done"
