#!/usr/bin/env bash
# make sim-seeds: the standard scenario over many seeds, one line per run and a summary line.
# The mesh figures in docs/BENCHMARKS.md quoted "over seeds 1-24" come from this.
#
#   tools/sim/seeds.sh VIEWERS "SEEDS" [tvmesh-sim options]
#   VIEWERS=1000 SEEDS="$(seq -s' ' 1 24)" make sim-seeds
#
# Each run is `tvmesh-sim --scenario standard --viewers V --duration 60 --seed K` (DURATION
# overrides 60; SIMBIN another binary, e.g. a build of a branch). Runs are deterministic: the
# same binary, arguments and seed give the same figures. One 1,000-viewer run takes ~15 s here,
# a 10,000-viewer run ~5 min.
#
# Summary: lowest and mean steady-state continuity, the mean over runs of the p95 join (all
# boxes, and boxes joining after the ramp), and the runs under the 99.5 % target.
set -euo pipefail
cd "$(dirname "$0")/../.."
V=${1:?viewers}
SEEDS=${2:?seeds}
shift 2
BIN=${SIMBIN:-target/release/tvmesh-sim}
if [[ -z ${SIMBIN:-} ]]; then
  cargo build -q --release -p tvmesh-sim
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in $SEEDS; do
  "$BIN" --scenario standard --viewers "$V" --duration "${DURATION:-60}" --seed "$s" \
    --out "$tmp/run" --quiet "$@" >"$tmp/out.txt" 2>&1
  # Figures from the summary table: "| figure | value | target |".
  awk -v s="$s" -F'|' '
    /root egress, steady/ { split($3, a, " "); root = a[1] }
    /continuity, steady/ { split($3, a, " "); cont = a[1] }
    /join → first bytes/ { split($3, a, " "); join = a[1] }
    /joining after the ramp/ { split($3, a, " "); after = a[1] }
    /lag behind the source/ { split($3, a, " "); lag = a[1] }
    END { printf "seed %s continuity %s p95_join_ms %s after_ramp_ms %s root_x %s p95_lag_ms %s\n",
          s, cont, join, after, root, lag }' "$tmp/out.txt"
done | tee "$tmp/lines"
awk '{ c = $4; sub("%", "", c); n++; sum += c; if (min == "" || c < min) min = c
       if (c < 99.5) bad++; js += $6; as += $8 }
     END { printf "runs %d continuity min %.3f%% mean %.3f%% p95 join mean %.0f ms (after the ramp %.0f ms) runs under 99.5%%: %d\n",
           n, min, sum / n, js / n, as / n, bad + 0 }' "$tmp/lines"
