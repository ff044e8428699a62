#!/usr/bin/env bash
# make demo: build rffmpeg, start a loopback transcode host (the test rig's
# sshd on 127.0.0.2, logging in an account of its own), register it, and run
# a real transcode through the ffmpeg symlink, showing the remote side and
# `rffmpeg status` while it runs. It proves every claim it prints: the sshd
# is ours and up, the job ran on 127.0.0.2 (rffmpeg's log line, the remote
# ffmpeg process under our sshd as the remote user, the output files owned by
# that user) and succeeded; otherwise it exits 1 saying which check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_root demo
install_packages
build_binary
DIR=${DEMO_DIR:-/tmp/rffmpeg-demo}
PORT=${DEMO_PORT:-2022}
# Its own account, so the remote ffmpeg cannot be mistaken for a local one.
RUSER=${DEMO_USER:-rffmpegdemo}
HOST=127.0.0.2

fail() {
  echo "demo: FAILED: $*" >&2
  exit 1
}

job=
cleanup() {
  [ -z "$job" ] || kill "$job" 2>/dev/null || true
  stop_host "$DIR"
}
trap cleanup EXIT

echo "== starting the transcode host: sshd on $HOST and 127.0.0.3 port $PORT, user $RUSER"
setup_install "$DIR" "$PORT" "$RUSER" ||
  fail "the transcode host did not start (a port taken? choose another with DEMO_PORT=...)"
echo "   sshd pid $RIG_SSHD_PID answers on $HOST:$PORT with its own host key and logs $RUSER in"
R="$DIR/bin/rffmpeg"
echo "== configuration: $RFFMPEG_CONFIG"
"$R" add -n transcoder1 "$HOST"
echo "== making a 10 s test video"
/usr/bin/ffmpeg -nostdin -y -loglevel error -f lavfi -i testsrc=size=640x360:rate=25:duration=10 \
  -f lavfi -i sine=frequency=440:duration=10 -c:v libx264 -preset ultrafast -c:a aac "$DIR/input.mkv"
chmod 0644 "$DIR/input.mkv"
mkdir "$DIR/hls"
chown "$RUSER" "$DIR/hls" # the remote ffmpeg, running as $RUSER, writes here
echo "== transcoding to HLS through $DIR/bin/ffmpeg (should run on $HOST over SSH, in real time)"
"$DIR/bin/ffmpeg" -nostdin -hide_banner -loglevel warning -stats -re -i "$DIR/input.mkv" \
  -c:v libx264 -preset veryfast -g 50 -c:a aac -f hls -hls_time 2 -hls_playlist_type vod \
  -hls_segment_filename "$DIR/hls/seg%03d.ts" "$DIR/hls/index.m3u8" 2>"$DIR/transcode.stderr" &
job=$!

# The remote side. rffmpeg logs the job's remote PID; that process must be
# an ffmpeg of $RUSER, running our input, under the demo's own sshd.
remote= procs=
for _ in $(seq 1 100); do
  remote=$(sed -n "s/.*rffmpeg\[$job\].*Remote PID \([0-9]*\) on host '$HOST'.*/\1/p" "$DIR/rffmpeg.log" 2>/dev/null | head -1 || true)
  if [ -n "$remote" ] && procs=$(bin/testrig host procs "$DIR/rig" "$RUSER" 2>/dev/null) &&
    awk -v p="$remote" -v f="$DIR/input.mkv" '$1 == p && $5 == "/usr/bin/ffmpeg" && index($0, f) {ok=1} END {exit !ok}' <<<"$procs"; then
    break
  fi
  remote=
  # Fell back to running it here: no need to wait for the job to end.
  ! grep -q "rffmpeg\[$job\].*Running command on host 'localhost'" "$DIR/rffmpeg.log" 2>/dev/null || break
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$remote" ]; then
  echo "   rffmpeg's log says:" >&2
  grep "rffmpeg\[$job\]" "$DIR/rffmpeg.log" | tail -n 5 >&2 || true
  fail "no ffmpeg of $RUSER with the job's remote PID ran under the demo's sshd (pid $RIG_SSHD_PID) while the job ran: the job did not run on $HOST"
fi
echo "== the remote side, while it runs: $RUSER's processes under the demo's sshd (pid $RIG_SSHD_PID);"
echo "   rffmpeg's log names remote PID $remote"
# The session and the job (not the wrapper shell and its heartbeat loop).
awk 'NR == 1 || ($5 != "sh" && $5 != "sleep")' <<<"$procs" | cut -c1-150
echo "== rffmpeg status, while it runs"
"$R" status
code=0
wait "$job" || code=$?
job=
[ "$code" = 0 ] || fail "the transcode exited $code: $(tail -n 3 "$DIR/transcode.stderr")"
echo "== the transcode exited 0; ffmpeg's progress (stderr) ended with:"
tr '\r' '\n' <"$DIR/transcode.stderr" | grep -a 'time=' | tail -1

# What rffmpeg says it did must agree with what we saw.
grep -q "Running command on host '$HOST'" "$DIR/rffmpeg.log" ||
  fail "rffmpeg's log has no \"Running command on host '$HOST'\" line"
if grep -q "Running command on host 'localhost'" "$DIR/rffmpeg.log"; then
  fail "rffmpeg ran a command locally (fallback): $(grep -m1 "Running command on host 'localhost'" "$DIR/rffmpeg.log")"
fi
[ -s "$DIR/hls/seg000.ts" ] || fail "no output segment $DIR/hls/seg000.ts"
owner=$(stat -c %U "$DIR/hls/seg000.ts")
[ "$owner" = "$RUSER" ] || fail "the output was written by $owner, not by the remote user $RUSER"

echo "== playlist $DIR/hls/index.m3u8 ($(ls "$DIR"/hls/*.ts | wc -l) segments, written by $owner):"
cat "$DIR/hls/index.m3u8"
echo "== ffprobe of the first segment, through the ffprobe symlink:"
"$DIR/bin/ffprobe" -v error -show_entries stream=codec_name,width,height -of compact "$DIR/hls/seg000.ts"
echo "== rffmpeg status, after"
"$R" status
echo "== the log ($DIR/rffmpeg.log):"
tail -n 12 "$DIR/rffmpeg.log"
echo "== verified: the job ran on $HOST over SSH as $RUSER (remote ffmpeg pid $remote under sshd pid $RIG_SSHD_PID), logged as such, and succeeded"
