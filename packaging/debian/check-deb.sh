#!/usr/bin/env bash
# Installs the Debian package on this machine, checks it, and removes it again (CI runs this
# through tests/tests/debian_package.rs; it changes the machine, so it refuses to run where an
# lbctl package is already installed).
#   1. dpkg -i; `lbctl --version` is the package's version and /usr/bin/lbctl is stripped.
#   2. Completions: bash completes `lbctl ap` to `apply` through the installed script, fish
#      completes it through its vendor directory, zsh parses `_lbctl` and it declares lbctl.
#   3. `man lbctl` and `man lbctl-apply` render the installed pages.
#   4. `systemd-analyze verify` on the installed unit (ExecStart must be the installed binary).
#   5. The shipped settings parse and manage nothing (`lbctl apply` refuses them, exit 64).
#   6. dpkg -r keeps only the conffile; dpkg --purge then leaves none of the package's files,
#      nor what the daemon writes at run time (a state file is planted in /var/lib/lbctl).
# Mutations that fail it: the unit not rewritten to /usr/bin (step 4), postrm without its
# purge branch (step 6: /var/lib/lbctl/state.json stays), an unstripped binary (step 1).
# Usage: packaging/debian/check-deb.sh DEB
set -euo pipefail

deb=${1:?usage: check-deb.sh DEB}
[ "$(id -u)" = 0 ] || { echo "check-deb: needs root (dpkg -i)" >&2; exit 2; }
step() { echo "check-deb: $*"; }
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
if dpkg-query -W -f='${Status}' lbctl 2>/dev/null | grep -q 'installed\|config-files'; then
    fail "an lbctl package is already on this machine; this check installs and purges its own"
fi
version=$(dpkg-deb -f "$deb" Version)
files=$(mktemp)
cleanup() {
    rm -f "$files"
    # Never leave the package behind, whatever failed.
    dpkg --purge lbctl >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "1. dpkg -i $deb"
dpkg -i "$deb" >/dev/null
[ "$(command -v lbctl)" = /usr/bin/lbctl ] || fail "lbctl on PATH is $(command -v lbctl), not /usr/bin/lbctl"
got=$(lbctl --version)
[ "$got" = "lbctl $version" ] || fail "lbctl --version says '$got', the package is $version"
if readelf -SW /usr/bin/lbctl | grep -Eq '\.(debug_info|debug_line|symtab) '; then
    fail "/usr/bin/lbctl has debug or symbol sections (not stripped)"
fi
dpkg -L lbctl >"$files"

step "2. completions"
bash_words=$(bash -c 'source /usr/share/bash-completion/completions/lbctl
    COMP_WORDS=(lbctl ap); COMP_CWORD=1; COMP_LINE="lbctl ap"; COMP_POINT=8
    _lbctl lbctl ap lbctl; echo "${COMPREPLY[*]}"')
[ "$bash_words" = apply ] || fail "bash completes 'lbctl ap' to '$bash_words', not 'apply'"
bash_flags=$(bash -c 'source /usr/share/bash-completion/completions/lbctl
    COMP_WORDS=(lbctl apply --for); COMP_CWORD=2; COMP_LINE="lbctl apply --for"; COMP_POINT=17
    _lbctl lbctl --for apply; echo "${COMPREPLY[*]}"')
[ "$bash_flags" = --force ] || fail "bash completes 'lbctl apply --for' to '$bash_flags', not '--force'"
if command -v fish >/dev/null; then
    fish_words=$(fish -c 'complete -C "lbctl ap"' | cut -f1)
    [ "$fish_words" = apply ] || fail "fish completes 'lbctl ap' to '$fish_words', not 'apply'"
else
    fail "fish not installed (tests/packages.txt)"
fi
if command -v zsh >/dev/null; then
    zsh -n /usr/share/zsh/vendor-completions/_lbctl || fail "zsh cannot parse _lbctl"
    head -n1 /usr/share/zsh/vendor-completions/_lbctl | grep -qx '#compdef lbctl' ||
        fail "_lbctl does not start with '#compdef lbctl'"
else
    fail "zsh not installed (tests/packages.txt)"
fi

step "3. man pages"
[ "$(man -w lbctl)" = /usr/share/man/man1/lbctl.1.gz ] || fail "man -w lbctl: $(man -w lbctl 2>&1)"
MANPAGER=cat MANWIDTH=100 man lbctl 2>/dev/null | grep -q 'lbctl-apply(1)' ||
    fail "man lbctl does not list lbctl-apply(1)"
MANPAGER=cat MANWIDTH=100 man lbctl-apply 2>/dev/null | grep -q -- '--force' ||
    fail "man lbctl-apply does not document --force"

step "4. systemd-analyze verify /lib/systemd/system/lbctl.service"
grep -q '^ExecStart=/usr/bin/lbctl run ' /lib/systemd/system/lbctl.service ||
    fail "the installed unit does not start /usr/bin/lbctl"
verify=$(systemd-analyze verify /lib/systemd/system/lbctl.service 2>&1 || echo "(exit $?)")
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"

step "5. the shipped settings manage nothing"
[ "$(stat -c %a /var/lib/lbctl)" = 700 ] || fail "/var/lib/lbctl mode $(stat -c %a /var/lib/lbctl), not 700"
empty_cm=$(mktemp)
printf 'data: {}\n' >"$empty_cm"
set +e
apply_out=$(lbctl apply -c "$empty_cm" -s /etc/lbctl/settings.toml 2>&1)
apply_rc=$?
set -e
rm -f "$empty_cm"
[ "$apply_rc" = 64 ] && grep -q 'managed_vip_ranges' <<<"$apply_out" ||
    fail "lbctl apply with the shipped settings: exit $apply_rc, $apply_out (want 64, no managed ranges)"

step "6. dpkg -r, then dpkg --purge"
echo '{"planted": "as the daemon would"}' >/var/lib/lbctl/state.json
dpkg -r lbctl >/dev/null
[ ! -e /usr/bin/lbctl ] || fail "dpkg -r left /usr/bin/lbctl"
[ -f /etc/lbctl/settings.toml ] || fail "dpkg -r removed the conffile (it must stay until purge)"
dpkg-query -W -f='${Status}' lbctl | grep -q 'config-files' || fail "after dpkg -r: $(dpkg-query -W -f='${Status}' lbctl)"
dpkg --purge lbctl >/dev/null
left=""
while read -r path; do
    case "$path" in
        /. | /etc | /lib | /lib/systemd | /lib/systemd/system | /usr | /usr/bin | /usr/share | \
            /usr/share/doc | /usr/share/man | /usr/share/man/man1 | /var | /var/lib | \
            /usr/share/bash-completion | /usr/share/bash-completion/completions | \
            /usr/share/zsh | /usr/share/zsh/vendor-completions | /usr/share/fish | \
            /usr/share/fish/vendor_completions.d) ;; # shared with other packages
        *) [ ! -e "$path" ] || left="$left $path" ;;
    esac
done <"$files"
for path in /var/lib/lbctl /etc/lbctl /run/lbctl; do
    [ ! -e "$path" ] || left="$left $path"
done
[ -z "$left" ] || fail "dpkg --purge left:$left"
if dpkg-query -W lbctl >/dev/null 2>&1; then
    fail "dpkg still knows lbctl after --purge: $(dpkg-query -W -f='${Status}' lbctl)"
fi
step "OK: $deb installs, works and purges cleanly"
