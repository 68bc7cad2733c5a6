#!/bin/bash
# Builds static release binaries of tvmeshd for the given Rust targets (default: all five) and
# prints a size table: stripped static binary per target, in KiB, with the build time.
# Usage: cross/build.sh [TARGET...]
# Env:   CROSS_BUDGET_KIB (default 600): fail if a box target's binary is larger (0 = don't check);
#        CROSS_STRICT=0: only flag it in the table (docs/CROSS.md says where the bytes go).
#        CROSS_PREBUILT_STD=1, CROSS_STD_FEATURES: how std is built (cross/targets.sh).
#        CROSS_ROOT_TARGETS: targets built with the root role (default: x86_64 only; the box
#        targets leave it out, cross/targets.sh).
#        CARGO (default cargo), CARGO_TARGET_DIR (default target).
set -eu
cd "$(dirname "$0")/.."
. cross/targets.sh
TDIR=${CARGO_TARGET_DIR:-target}
BUDGET=${CROSS_BUDGET_KIB:-600}
export CROSS_UNWIND_DIR=${CROSS_UNWIND_DIR:-$PWD/$TDIR/cross/unwind}

# shellcheck disable=SC2086 # word splitting of the list is intended
[ $# -gt 0 ] || set -- $CROSS_TARGETS
rows=() over=
for t in "$@"; do
    is_known "$t" || { echo "cross: unknown target $t (known: $CROSS_TARGETS)" >&2; exit 2; }
    start=$(date +%s%N)
    # shellcheck disable=SC2046 # features prints zero or one word
    cross_release "$t" build --release -p tvmeshd $(features "$t")
    secs=$(( ($(date +%s%N) - start) / 1000000 ))
    bin=$TDIR/$t/release/tvmeshd
    # A dynamic binary would have a PT_INTERP program header.
    if readelf -lW "$bin" | grep -q INTERP; then echo "cross: $bin is not static" >&2; exit 1; fi
    bytes=$(stat -c %s "$bin")
    kib=$(( (bytes + 1023) / 1024 ))
    note=
    if is_box "$t" && [ "$BUDGET" -gt 0 ] && [ "$kib" -gt "$BUDGET" ]; then note="OVER ${BUDGET} KiB budget"; over=1; fi
    roles=peer; has_root "$t" && roles=root+peer
    rows+=("$(printf '%-34s %-9s %8s %8s.%01d  %s' "$t" "$roles" "$kib" "$((secs / 1000))" "$((secs % 1000 / 100))" "$note")")
done

table=$(printf '%-34s %-9s %8s %10s\n' target roles KiB "build s"; printf '%s\n' "${rows[@]}")
mkdir -p "$TDIR/cross"
echo "$table" | tee "$TDIR/cross/sizes.txt"
if [ -n "$over" ]; then
    echo "cross: a box binary is over the ${BUDGET} KiB budget (docs/CROSS.md: where the bytes go)" >&2
    if [ "${CROSS_STRICT:-1}" = 1 ]; then exit 1; fi
fi
exit 0
