#!/bin/sh
# Regenerates tests/data/sample.ts: the committed demo/test channel.
# H.264 (640x360, 25 fps, 1 s GOP, no scene-cut key frames) + AAC (440 Hz tone) in MPEG-TS,
# about 1 Mbit/s and 20 s. The output is committed, so this runs only when the sample must change.
set -eu
out=${1:-tests/data/sample.ts}
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t 20 \
  -c:v libx264 -preset veryfast -profile:v main -pix_fmt yuv420p \
  -b:v 850k -maxrate 900k -bufsize 900k -g 25 -keyint_min 25 -sc_threshold 0 -x264-params nal-hrd=cbr \
  -c:a aac -b:a 64k -ac 2 \
  -muxrate 1100k -f mpegts "$out"
