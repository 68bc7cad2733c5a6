#!/usr/bin/env bash
# make bench: the spine's figures. Prints a Markdown section for docs/BENCHMARKS.md.
#  - stripped release binary size (x86_64, glibc; musl if its target is installed)
#  - RSS of a root and a box while streaming the sample
#  - heap allocations per chunk in steady state (core test with a counting allocator)
#  - join time: box start -> first byte at its sink, over N joins on loopback
set -euo pipefail
cd "$(dirname "$0")/.."
N=${JOINS:-20}
bin=target/release/tvmeshd
cargo build -q --release -p tvmeshd
run=target/bench; rm -rf "$run"; mkdir -p "$run"
pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
json() { curl -s --max-time 2 "http://127.0.0.1:$1/status.json"; }
field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$1" | head -1; }

echo "### Spine figures ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
echo
echo "Command: \`make bench\` (tools/bench.sh)"
echo
size_gnu=$(stat -c %s "$bin")
echo "| figure | value |"
echo "|---|---|"
echo "| stripped release binary, x86_64-unknown-linux-gnu | $((size_gnu / 1024)) KiB ($size_gnu B) |"
if rustup target list --installed 2>/dev/null | grep -q x86_64-unknown-linux-musl; then
  cargo build -q --release -p tvmeshd --target x86_64-unknown-linux-musl
  s=$(stat -c %s target/x86_64-unknown-linux-musl/release/tvmeshd)
  echo "| stripped static binary, x86_64-unknown-linux-musl | $((s / 1024)) KiB ($s B) |"
fi

"$bin" root --listen 127.0.0.1:7100 --http 127.0.0.1:8100 --channel name=demo,source=file:tests/data/sample.ts 2>"$run/root.log" &
pids+=($!)
sleep 0.5
"$bin" peer --root 127.0.0.1:7100 --channel demo --http 127.0.0.1:8101 --sink "file:$run/box.ts" 2>"$run/box.log" &
pids+=($!)
sleep 10
r=$(json 8100); b=$(json 8101)
echo "| RSS, root streaming the sample (1 channel, 4 MiB pool, 1 box), after 10 s | $(field "$r" rss_kb) KiB |"
echo "| RSS, box playing it into a file sink (4 MiB pool), after 10 s | $(field "$b" rss_kb) KiB |"
echo "| box continuity after 10 s | $(field "$b" continuity_ppm) ppm |"

allocs=$(cargo test -q --release -p tvmesh-core --test steady_state_no_alloc -- --nocapture 2>/dev/null | grep 'steady state' || true)
echo "| heap allocations per chunk, steady state, root + box (core test) | ${allocs#steady state: } |"

# Join time: N boxes started one after another against the running root. Two measures:
#  core: the box's own clock from state-machine start to the first byte handed to its sink (join_us);
#  wall: from launching the process to the sink file being non-empty (polled every 2 ms).
core=(); wall=()
for i in $(seq 1 "$N"); do
  port=$((8200 + i)); f="$run/j$i.ts"
  t0=$(date +%s%N)
  "$bin" peer --root 127.0.0.1:7100 --channel demo --http "127.0.0.1:$port" --sink "file:$f" 2>/dev/null &
  p=$!
  for _ in $(seq 1 2500); do [ -s "$f" ] && break; sleep 0.002; done
  t1=$(date +%s%N)
  wall+=($(( (t1 - t0) / 1000000 )))
  for _ in $(seq 1 100); do
    j=$(field "$(json $port 2>/dev/null || true)" join_us)
    [ -n "$j" ] && [ "$j" != 0 ] && break
    sleep 0.02
  done
  core+=("${j:-NA}")
  kill -TERM $p; wait $p 2>/dev/null || true
done
pct() { local s; s=$(printf '%s\n' "$@" | sort -n); echo "p50 $(sed -n "$(( ($# + 1) / 2 ))p" <<<"$s"), p95 $(sed -n "$(( ($# * 95 + 99) / 100 ))p" <<<"$s"), max $(tail -1 <<<"$s")"; }
echo "| join, core: box state machine start → first byte at the sink, loopback, $N joins | $(pct "${core[@]}") µs |"
echo "| join, wall: process launch → sink file non-empty (2 ms polling), $N joins | $(pct "${wall[@]}") ms |"
echo
echo "All joins, core (µs): ${core[*]}"
echo
echo "All joins, wall (ms): ${wall[*]}"
