#!/usr/bin/env bash
# make bench-drm: the box's DRM + integrity cost per 8 Mbps stream-second (issue 6), counted in
# instructions under callgrind, plus wall time here. Prints a Markdown table for
# docs/BENCHMARKS.md ("DRM and integrity cost on a box").
#  - instructions: Ir(drm_cost box) - Ir(drm_cost root), and the same for box-mf (every manifest
#    before its chunks, hashed in batches) and box-mf1 (the same, one at a time); release
#    profile with symbols (not stripped) in its own target dir, so
#    `callgrind_annotate target/bench-drm/cg.box` gives the per-function split;
#  - wall time: best and median of N runs (DRM_RUNS, default 300).
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v valgrind >/dev/null || { echo "bench-drm: valgrind is not installed (make bench-drm installs it)" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/bench-drm}
export CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
cargo build -q --release -p tvmesh-core --example drm_cost
bin=$CARGO_TARGET_DIR/release/examples/drm_cost
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$CARGO_TARGET_DIR/cg.$1" "$bin" "$1" 2>&1 |
        sed -n 's/.*refs: *//p' | tr -d ,
}
root=$(ir root) box=$(ir box) mf=$(ir box-mf) mf1=$(ir box-mf1)
runs=${DRM_RUNS:-300}
t_box=$("$bin" time "$runs" | tail -1)
t_mf=$("$bin" time-mf "$runs" | tail -1)
t_mf1=$("$bin" time-mf1 "$runs" | tail -1)
m() { awk -v n="$1" 'BEGIN { printf "%.1f M", n / 1e6 }'; }
echo "### DRM + integrity cost on a box ($(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores)"
echo
echo "Command: \`make bench-drm\` (daemon/core/examples/drm_cost.sh)"
echo
echo "| box | instructions per 8 Mbps stream-second | wall time here |"
echo "|---|---|---|"
echo "| chunks before their manifest (held, hashed 8 side by side) | $(m $((box - root))) | ${t_box#* runs per stream-second: } |"
echo "| manifest before its chunks (batches of 8, as peer/integrity.rs does) | $(m $((mf - root))) | ${t_mf#* runs per stream-second: } |"
echo "| manifest before its chunks, each hashed alone (a box below 8 chunks per BATCH_WAIT) | $(m $((mf1 - root))) | ${t_mf1#* runs per stream-second: } |"

# Box targets (opt-in, each a cross build of minutes): DRM_TARGETS="aarch64-unknown-linux-musl
# armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl" make bench-drm. Guest instructions
# under qemu-user, counted by tools/qemu-insn (valgrind has no port here), box - root as above.
[ -n "${DRM_TARGETS:-}" ] || exit 0
. cross/targets.sh
plugin=$CARGO_TARGET_DIR/libinsn.so
cc -shared -fPIC -O2 -o "$plugin" tools/qemu-insn/insn.c
echo
echo "| target | box (chunks before manifest) | box-mf (batches) | box-mf1 (one at a time) |"
echo "|---|---|---|---|"
for t in $DRM_TARGETS; do
    CARGO_TARGET_DIR=target/bench-drm-cross cross_release "$t" build -q --release -p tvmesh-core --example drm_cost
    exe=target/bench-drm-cross/$t/release/examples/drm_cost
    case $t in aarch64*) q=qemu-aarch64 ;; arm*) q=qemu-arm ;; mipsel*) q=qemu-mipsel ;; mips*) q=qemu-mips ;; *) q=qemu-x86_64 ;; esac
    n() { "$q" -plugin "$plugin" -d plugin "$exe" "$1" 2>&1 | sed -n 's/^insns: //p'; }
    r=$(n root) b=$(n box) f=$(n box-mf) f1=$(n box-mf1)
    echo "| $t | $(m $((b - r))) | $(m $((f - r))) | $(m $((f1 - r))) |"
done
