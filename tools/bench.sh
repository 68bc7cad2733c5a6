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

# Join time: N boxes started one after another; each reports start -> first sink byte.
times=()
for i in $(seq 1 "$N"); do
  port=$((8200 + i))
  "$bin" peer --root 127.0.0.1:7100 --channel demo --http "127.0.0.1:$port" --sink "file:$run/j$i.ts" 2>/dev/null &
  p=$!
  for _ in $(seq 1 100); do
    j=$(field "$(json $port 2>/dev/null || true)" join_ms)
    if [ -n "$j" ] && [ "$j" != 0 ]; then break; fi
    sleep 0.05
  done
  times+=("${j:-NA}")
  kill -TERM $p; wait $p 2>/dev/null || true
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
p50=$(sed -n "$(( (N + 1) / 2 ))p" <<<"$sorted"); p95=$(sed -n "$(( (N * 95 + 99) / 100 ))p" <<<"$sorted")
echo "| join time, box start → first byte at the sink, loopback, $N joins | p50 $p50 ms, p95 $p95 ms, max $(tail -1 <<<"$sorted") ms |"
echo
echo "All join times (ms): ${times[*]}"
