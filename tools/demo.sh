#!/usr/bin/env bash
# make demo: a root playing the sample channel and three boxes, all on loopback.
# Prints where to look and what to open; Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/tvmeshd
run=target/demo
mkdir -p "$run"
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "stopped. logs and sink files are in $run/"
}
trap stop INT TERM EXIT

"$bin" root --listen 127.0.0.1:7000 --http 127.0.0.1:8000 \
  --channel name=demo,source=file:tests/data/sample.ts,bitrate=1100 2>"$run/root.log" &
pids+=($!)
sleep 0.3
for i in 1 2 3; do
  "$bin" peer --root 127.0.0.1:7000 --channel demo --http 127.0.0.1:800$i \
    --sink "file:$run/box$i.ts" 2>"$run/box$i.log" &
  pids+=($!)
done
cat <<MSG

tvmesh demo running: a root and three boxes on loopback, channel "demo" (the committed sample).

  root status:   http://127.0.0.1:8000/          (JSON: /status.json, Prometheus: /metrics)
  box 1 status:  http://127.0.0.1:8001/
  box 2 status:  http://127.0.0.1:8002/
  box 3 status:  http://127.0.0.1:8003/

  watch it:      vlc http://127.0.0.1:8001/stream/demo.ts
                 mpv http://127.0.0.1:8002/stream/demo.ts
                 ffplay http://127.0.0.1:8003/stream/demo.ts

Each box also writes its decoder sink to $run/boxN.ts. Press Ctrl-C to stop.
MSG
# Show a one-line summary every 5 s while running.
while sleep 5; do
  line=""
  for p in 8001 8002 8003; do
    j=$(curl -s --max-time 1 "http://127.0.0.1:$p/status.json" 2>/dev/null || true)
    c=$(sed -n 's/.*"continuity_ppm":\([0-9]*\).*/\1/p' <<<"$j")
    b=$(sed -n 's/.*"bytes_out":\([0-9]*\).*/\1/p' <<<"$j")
    line+="box$((p-8000)): ${b:-?} B, continuity ${c:-?} ppm   "
  done
  echo "$line"
done
