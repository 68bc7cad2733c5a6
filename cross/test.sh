#!/bin/bash
# Runs tvmesh-core's unit tests for each target under qemu-user (the runners in cross/config.toml),
# then tvmesh-crypto's tests on aarch64 and armv7 (its NEON code), then tvmeshd's remote-input tests
# on armv7 and big-endian mips.
# Usage: cross/test.sh [TARGET...]        (default: aarch64, armv7, mipsel, mips)
# Env:   CROSS_TEST_SCOPE (default --lib: the unit tests; e.g. "--lib --tests" adds integration tests)
set -eu
cd "$(dirname "$0")/.."
. cross/targets.sh
TDIR=${CARGO_TARGET_DIR:-target}
export CROSS_UNWIND_DIR=${CROSS_UNWIND_DIR:-$PWD/$TDIR/cross/unwind}
SCOPE=${CROSS_TEST_SCOPE:---lib}

# shellcheck disable=SC2086 # word splitting of the list is intended
[ $# -gt 0 ] || set -- $CROSS_TEST_TARGETS
summary=()
for t in "$@"; do
    is_known "$t" || { echo "cross-test: unknown target $t" >&2; exit 2; }
    echo "== cross-test: tvmesh-core on $t (qemu-user)"
    start=$(date +%s)
    log=$(mktemp)
    # shellcheck disable=SC2086
    if ! cross_tests "$t" test -p tvmesh-core $SCOPE 2>&1 | tee "$log"; then
        rm -f "$log"; echo "cross-test: FAILED on $t" >&2; exit 1
    fi
    # cargo prints one `test result:` line per test binary; add them up.
    passed=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")
    rm -f "$log"
    summary+=("$(printf '%-34s %5s passed %5ss' "$t" "${passed:-0}" "$(( $(date +%s) - start ))")")
done
# The crypto kernels' own tests where they have NEON code (aarch64 intrinsics, armv7 asm chosen at
# run time): with `std` (the NEON paths, as tvmeshd runs them) and without (the portable ones).
for t in ${CROSS_CRYPTO_TARGETS-aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf}; do
    echo "== cross-test: tvmesh-crypto on $t (qemu-user)"
    start=$(date +%s)
    for f in "--features std" ""; do
        # shellcheck disable=SC2086 # $f is zero or two words
        if ! cross_tests "$t" test -p tvmesh-crypto $f; then
            echo "cross-test: tvmesh-crypto FAILED on $t ($f)" >&2; exit 1
        fi
    done
    summary+=("$(printf '%-34s crypto ok %5ss' "$t" "$(( $(date +%s) - start ))")")
done
# The box's remote inputs (key injection through a FIFO in every input_event layout, a fake lircd,
# the control socket) on 32-bit little- and big-endian boxes (issue 7). CROSS_SHELL_TARGETS= skips.
for t in ${CROSS_SHELL_TARGETS-armv7-unknown-linux-musleabihf mips-unknown-linux-gnu}; do
    echo "== cross-test: tvmeshd remote inputs on $t (qemu-user)"
    start=$(date +%s)
    # The box's own build (no root role, cross/targets.sh), as it ships.
    # shellcheck disable=SC2046 # features prints zero or one word
    if ! cross_tests "$t" test -p tvmeshd $(features "$t") --bins remote::; then
        echo "cross-test: tvmeshd remote inputs FAILED on $t" >&2; exit 1
    fi
    summary+=("$(printf '%-34s remote inputs ok %5ss' "$t" "$(( $(date +%s) - start ))")")
done
printf '%s\n' "== cross-test summary" "${summary[@]}"
