#!/usr/bin/env bash
# The zap benchmark (issue 7). A root with three channels (tools/make-zap-channels.sh), VIEWERS
# viewer boxes on them, and one box whose remote is a FIFO. ZAPS channel up/down keys go into the
# FIFO as input_event records, each one 100-400 ms after the box measured the previous zap (3 s
# at most), so zaps land at every point of the key-frame interval. The box measures each zap from
# the loop pass that read the key to the first byte of the new channel written to its sink (a
# random-access chunk: PAT, PMT, key frame; a fresh clock reading at the write) and lists the
# last 256 figures in status.json.
#
# Each network is run twice: pre-join off (every zap joins afresh) and on (every target is channel
# +1/-1/previous, held by a thin membership). Networks:
#   loopback  everything on 127.0.0.1;
#   netem     the root in one network namespace, the boxes in another, joined by a veth pair
#             with DELAY_MS (default 20) of netem delay each way (TEST-NET-2 addresses; needs
#             root and `ip netns`; skipped otherwise). The namespaces are removed at exit.
# Prints a Markdown section for docs/BENCHMARKS.md: p50 / p95 / max, a histogram, the box's RSS
# and the thin memberships' traffic per run.
# Usage: tools/zap-bench.sh   (env: ZAPS=200 VIEWERS=3 DELAY_MS=20 NETS="loopback netem"
#                              BIN=target/release/tvmeshd)
set -euo pipefail
cd "$(dirname "$0")/.."
ZAPS=${ZAPS:-200}
VIEWERS=${VIEWERS:-3}
DELAY_MS=${DELAY_MS:-20}
NETS=${NETS:-loopback netem}
bin=$PWD/${BIN:-target/release/tvmeshd}
[ -x "$bin" ] || cargo build -q --release -p tvmeshd
data=$PWD/target/zapdata
tools/make-zap-channels.sh "$data"
top=$PWD/target/zap-bench; rm -rf "$top"; mkdir -p "$top"
pids=()
ns_root=zapb-root-$$; ns_box=zapb-box-$$
stop_all() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
cleanup() {
  exec 3>&- 2>/dev/null || true
  stop_all
  ip netns del "$ns_root" 2>/dev/null || true
  ip netns del "$ns_box" 2>/dev/null || true
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
uport() { python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -1; }
# One key press + release as native input_event records (x86_64: 24 bytes), into fd 3.
key() { python3 -c 'import struct,sys; c=int(sys.argv[1]); r=lambda t,c,v: struct.pack("=qqHHi",0,0,t,c,v); sys.stdout.buffer.write(r(1,c,1)+r(0,0,0)+r(1,c,0)+r(0,0,0))' "$1" >&3; }

# net: sets IN_ROOT / IN_BOX (command prefixes), ROOT_IP, BOX_IP; false if it cannot.
net() {
  case $1 in
    loopback) IN_ROOT=(); IN_BOX=(); ROOT_IP=127.0.0.1; BOX_IP=127.0.0.1 ;;
    netem)
      ip netns add "$ns_root" 2>/dev/null && ip netns add "$ns_box" || return 1
      ip link add zbr$$ type veth peer name zbb$$ || return 1
      ip link set zbr$$ netns "$ns_root"; ip link set zbb$$ netns "$ns_box"
      ip -n "$ns_root" addr add 198.51.100.1/24 dev zbr$$
      ip -n "$ns_box" addr add 198.51.100.2/24 dev zbb$$
      ip -n "$ns_root" link set lo up; ip -n "$ns_box" link set lo up
      ip -n "$ns_root" link set zbr$$ up; ip -n "$ns_box" link set zbb$$ up
      tc -n "$ns_root" qdisc add dev zbr$$ root netem delay "${DELAY_MS}ms" 2>/dev/null || return 1
      tc -n "$ns_box" qdisc add dev zbb$$ root netem delay "${DELAY_MS}ms" 2>/dev/null || return 1
      IN_ROOT=(ip netns exec "$ns_root"); IN_BOX=(ip netns exec "$ns_box")
      ROOT_IP=198.51.100.1; BOX_IP=198.51.100.2 ;;
  esac
}

bench() { # NET prejoin(yes|no)
  local run=$top/$1-$2; mkdir -p "$run"
  local data_port; data_port=$(uport)
  "${IN_ROOT[@]}" "$bin" root --listen "$ROOT_IP:$data_port" \
    --channel "name=alpha,source=file:$data/a.ts,number=1" \
    --channel "name=bravo,source=file:$data/b.ts,number=2" \
    --channel "name=charlie,source=file:$data/c.ts,number=3" 2>"$run/root.log" &
  pids+=($!)
  sleep 0.5
  local chans=(alpha bravo charlie)
  for i in $(seq 1 "$VIEWERS"); do
    "${IN_BOX[@]}" "$bin" peer --root "$ROOT_IP:$data_port" --channel "${chans[$((i % 3))]}" \
      --listen "$BOX_IP:0" --sink "file:/dev/null" --upload-kbps 4000 2>"$run/viewer$i.log" &
    pids+=($!)
  done
  local fifo=$run/remote.fifo; mkfifo "$fifo"
  local box_http; box_http=$(port)
  "${IN_BOX[@]}" "$bin" peer --root "$ROOT_IP:$data_port" --channel alpha --sink "file:/dev/null" \
    --listen "$BOX_IP:0" --prejoin "$2" --upload-kbps 4000 --http "127.0.0.1:$box_http" \
    --remote "$fifo" --remote-grab no --remote-layout native 2>"$run/box.log" &
  pids+=($!)
  json() { "${IN_BOX[@]}" curl -s --max-time 2 "http://127.0.0.1:$box_http/status.json"; }
  exec 3<>"$fifo"   # read-write: never blocks, even before the box opens it
  for _ in $(seq 1 100); do
    json | grep -q '"directory_size":3' && break
    sleep 0.1
  done
  sleep 3
  local timeouts=0 i ok m
  for i in $(seq 1 "$ZAPS"); do
    if (( i % 2 )); then key 402; else key 403; fi   # up, down, up, ...
    ok=
    for _ in $(seq 1 150); do
      m=$(json | num measured)
      [ "${m:-0}" -ge "$i" ] && { ok=1; break; }
      sleep 0.02
    done
    [ -n "$ok" ] || timeouts=$((timeouts + 1))
    # status.json keeps the last 256: collect every 100 zaps.
    if (( i % 100 == 0 || i == ZAPS )); then
      json | sed -n 's/.*"latencies_us":\[\([0-9,]*\)\].*/\1/p' | tr ',' '\n' |
        tail -n "$(( i % 100 == 0 ? 100 : i % 100 ))" | awk NF >>"$run/latencies_us.txt"
    fi
    sleep "0.$(( 100 + RANDOM % 300 ))"
  done
  local st; st=$(json)
  local zaps pat hits up rss tin tup tctl n
  zaps=$(num zaps <<<"$st"); pat=$(num started_with_pat <<<"$st"); hits=$(num hits <<<"$st")
  up=$(num uptime_s <<<"$st"); rss=$(num rss_kb <<<"$st")
  tin=$(num bytes_in <<<"${st#*\"prejoin\"}"); tup=$(num bytes_uploaded <<<"${st#*\"prejoin\"}")
  tctl=$(num control_bytes <<<"${st#*\"prejoin\"}")
  exec 3>&-
  stop_all
  n=$(wc -l <"$run/latencies_us.txt")
  sort -n "$run/latencies_us.txt" >"$run/sorted.txt"
  pct() { awk -v p="$1" '{a[NR]=$1} END{i=int((NR*p+99)/100); if(i<1)i=1; printf "%.3f", a[i]/1000}' "$run/sorted.txt"; }
  kbps() { echo $(( ${1:-0} * 8 / ${up:-1} / 1000 )); }
  echo "#### $1, pre-join $2"
  echo
  echo "$n zaps measured of $zaps ($timeouts not within 3 s); $pat began with a PAT; ${hits:-0} went to a"
  echo "pre-joined channel. Zapping box RSS ${rss:-?} KiB; thin memberships over its ${up:-?} s: stream in"
  echo "$(kbps "$tin") kbit/s, chunks uploaded $(kbps "$tup") kbit/s, control out $(kbps "$tctl") kbit/s."
  echo
  echo "| p50 | p95 | max |"
  echo "|---|---|---|"
  echo "| $(pct 50) ms | $(pct 95) ms | $(pct 100) ms |"
  echo
  echo "| latency | zaps |"
  echo "|---|---|"
  awk 'BEGIN{split("0.05 0.1 0.5 1 2 5 10 20 50 100 200 300 500 1000 1e9",e," ");
             split("< 50 µs|50–100 µs|0.1–0.5 ms|0.5–1 ms|1–2 ms|2–5 ms|5–10 ms|10–20 ms|20–50 ms|50–100 ms|100–200 ms|200–300 ms|300–500 ms|0.5–1 s|≥ 1 s",l,"|")}
       {ms=$1/1000; for(k=1;k<=15;k++) if(ms<e[k]){c[k]++; break}}
       END{for(k=1;k<=15;k++) if(c[k]) print "| " l[k] " | " c[k] " |"}' "$run/sorted.txt"
  echo
}

echo "### Zap latency ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m))"
echo
echo "Command: \`make bench\` / \`tools/zap-bench.sh\` (ZAPS=$ZAPS, VIEWERS=$VIEWERS, DELAY_MS=$DELAY_MS)."
echo "Channel up/down keys written into the zapping box's FIFO remote (input_event records) → first"
echo "byte of the new channel's random-access chunk (PAT, PMT, key frame) written to its sink, measured"
echo "in the box. A root with 3 channels, $VIEWERS viewer boxes (upload_kbps 4000) and the zapping box."
echo
for n in $NETS; do
  if ! net "$n"; then
    echo "#### $n: skipped (needs root, \`ip netns\` and the kernel's netem qdisc)"; echo; continue
  fi
  bench "$n" no
  bench "$n" yes
done
