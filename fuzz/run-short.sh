#!/usr/bin/env bash
# A short, bounded fuzz run of every target (CI): 20 s each on the committed corpus.
# Needs the nightly toolchain and cargo-fuzz; when either cannot be had, says so and succeeds,
# because the fuzz targets' seed inputs also run as ordinary tests (config/tests/parse_never_panics.rs).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
if ! rustup toolchain list 2>/dev/null | grep -q nightly; then
    echo "fuzz: no nightly toolchain; skipped"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    if ! timeout 600 cargo install --locked cargo-fuzz >/dev/null 2>&1; then
        echo "fuzz: cargo-fuzz could not be installed; skipped"
        exit 0
    fi
fi
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
    # A copy of the corpus so the committed seeds are not flooded with generated inputs.
    work=$(mktemp -d)
    cp -r "corpus/$target/." "$work/"
    log=$(mktemp)
    status=0
    cargo +nightly fuzz run "$target" "$work" -- -max_total_time="$SECONDS_PER_TARGET" \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^(stat::number_of_executed_units|Done|==.*ERROR|SUMMARY)" "$log" || tail -20 "$log"
    rm -rf "$work" "$log"
    [ "$status" = 0 ] || { echo "fuzz: $target found a crash (see fuzz/artifacts/$target)"; exit 1; }
done
echo "fuzz: all targets ran without a crash"
