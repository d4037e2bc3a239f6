#!/usr/bin/env bash
# Installs every system package the tests need on a Debian 12 machine (idempotent): the lab's
# (tests/lab/install-deps.sh) plus the packages listed in tests/packages.txt (routing daemons,
# Prometheus, ...), one per line, `#` comments allowed.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/lab/install-deps.sh
wanted=$(sed 's/#.*//' tests/packages.txt | tr -s ' \n' ' ')
missing=""
for pkg in $wanted; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    # shellcheck disable=SC2086 # word splitting of the list is intended
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi
