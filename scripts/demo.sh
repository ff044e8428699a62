#!/usr/bin/env bash
# make demo: build rffmpeg, start a loopback transcode host (an sshd on
# 127.0.0.2), register it, and run a real transcode through the ffmpeg
# symlink, showing `rffmpeg status` while it runs and the result after.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_root demo
install_packages
build_binary
DIR=${DEMO_DIR:-/tmp/rffmpeg-demo}
PORT=${DEMO_PORT:-2022}
setup_install "$DIR" "$PORT"
trap 'stop_host "$DIR"' EXIT
R="$DIR/bin/rffmpeg"
echo "== configuration: $RFFMPEG_CONFIG"
"$R" add -n transcoder1 127.0.0.2
echo "== making a 10 s test video"
/usr/bin/ffmpeg -nostdin -y -loglevel error -f lavfi -i testsrc=size=640x360:rate=25:duration=10 \
  -f lavfi -i sine=frequency=440:duration=10 -c:v libx264 -preset ultrafast -c:a aac "$DIR/input.mkv"
chmod 0755 "$DIR"
echo "== transcoding to HLS through $DIR/bin/ffmpeg (runs on 127.0.0.2 over SSH, in real time)"
mkdir -p "$DIR/hls"
"$DIR/bin/ffmpeg" -nostdin -hide_banner -loglevel warning -stats -re -i "$DIR/input.mkv" \
  -c:v libx264 -preset veryfast -g 50 -c:a aac -f hls -hls_time 2 -hls_playlist_type vod \
  -hls_segment_filename "$DIR/hls/seg%03d.ts" "$DIR/hls/index.m3u8" 2>"$DIR/transcode.stderr" &
job=$!
sleep 3
echo "== rffmpeg status, while it runs"
"$R" status
wait "$job"
echo "== the transcode exited $? ; ffmpeg's progress (stderr) ended with:"
tr '\r' '\n' <"$DIR/transcode.stderr" | grep -a 'time=' | tail -1
echo "== playlist $DIR/hls/index.m3u8 ($(ls "$DIR"/hls/*.ts | wc -l) segments):"
cat "$DIR/hls/index.m3u8"
echo "== ffprobe of the first segment, through the ffprobe symlink:"
"$DIR/bin/ffprobe" -v error -show_entries stream=codec_name,width,height -of compact "$DIR/hls/seg000.ts"
echo "== rffmpeg status, after"
"$R" status
echo "== the log ($DIR/rffmpeg.log):"
tail -n 12 "$DIR/rffmpeg.log"
