#!/usr/bin/env bash
# Swarm simulator benchmark: the standard scenario at 1,000, 10,000 and 100,000 viewers.
# Prints a Markdown section for docs/BENCHMARKS.md (each row carries the command that made it).
# SIZES and DURATION (virtual seconds, default 60) override the defaults, e.g.
#   SIZES="1000 10000" DURATION=120 tools/sim/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZES=${SIZES:-"1000 10000 100000"}
DURATION=${DURATION:-60}
# The core the binary is built from (the tree may carry uncommitted edits: say so).
rev=$(git describe --always --dirty 2>/dev/null || echo unknown)
dirty_core=$(git status --porcelain -- daemon/core 2>/dev/null | wc -l)
cargo build -q --release -p tvmesh-sim
bin=target/release/tvmesh-sim
rows=()
for n in $SIZES; do
  d=$DURATION
  out=target/sim/standard-$n
  echo "running $n viewers for $d virtual seconds → $out" >&2
  "$bin" --scenario standard --viewers "$n" --duration "$d" --out "$out" --quiet >/dev/null
  rows+=("$(cat "$out/row.md")")
done
echo "### Swarm simulator, standard scenario ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
echo
echo "Command: \`make sim-bench\` (tools/sim/bench.sh), built at $rev$([ "$dirty_core" -gt 0 ] && echo " with $dirty_core uncommitted file(s) in daemon/core"). Targets: root egress ≤ 2×, continuity ≥ 99.5%,"
echo "p95 join ≤ 1 s, p95 lag ≤ 2 s, control ≤ 1%. Steady state: from 10 s after the 15 s join ramp."
echo
"$bin" --print-table-header
printf '%s\n' "${rows[@]}"
