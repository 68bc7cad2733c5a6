#!/bin/sh
# Makes the zapping test/benchmark channels from tests/data/sample.ts: three short channels that
# differ in resolution (and audio tone), so a check can tell which one a sink segment came from.
#   a.ts 320x240 / 440 Hz   b.ts 640x360 / 660 Hz   c.ts 160x120 / 880 Hz   (8 s each, 1 s GOP)
# Usage: tools/make-zap-channels.sh OUTDIR   (skips files that exist)
set -eu
out=${1:?usage: make-zap-channels.sh OUTDIR}
here=$(dirname "$0")/..
mkdir -p "$out"
make_one() { # name size tone
  [ -s "$out/$1.ts" ] && return 0
  ffmpeg -hide_banner -loglevel error -y -t 8 -i "$here/tests/data/sample.ts" \
    -f lavfi -t 8 -i "sine=frequency=$3:sample_rate=48000" -map 0:v -map 1:a \
    -vf "scale=$2" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -b:v 400k -g 25 -keyint_min 25 \
    -sc_threshold 0 -c:a aac -b:a 48k -ac 2 -muxrate 600k -f mpegts "$out/$1.ts.tmp"
  mv "$out/$1.ts.tmp" "$out/$1.ts"
}
make_one a 320x240 440
make_one b 640x360 660
make_one c 160x120 880
