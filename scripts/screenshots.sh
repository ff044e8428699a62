#!/usr/bin/env bash
# make screenshots: PNGs of `rffmpeg tui` for the README, from a seeded demo
# state. The real binary runs in a real terminal (a private tmux server);
# the captured screen goes through aha to HTML and headless Chromium to PNG.
# Not part of CI. Needs root for apt (tmux, aha, chromium, fonts-dejavu-core).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
need=()
for p in tmux aha chromium; do command -v $p >/dev/null 2>&1 || need+=($p); done
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
make -s build
W=${SHOT_COLS:-110} H=${SHOT_ROWS:-30}
D=$(mktemp -d /tmp/rffmpeg-shots.XXXX)
SOCK=rffmpeg-shots-$$
holders=()
cleanup() { tmux -L "$SOCK" kill-server 2>/dev/null || true; kill "${holders[@]}" 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
# The console shows the database and log paths. A private mount namespace
# lays empty tmpfs over /var/lib and /var/log (nothing on the machine
# changes), so they read as on a real install, not as a temporary directory.
cat >"$D/rffmpeg.yml" <<CFG
rffmpeg:
  logging:
    logfile: /var/log/jellyfin/rffmpeg.log
  directories:
    state: /var/lib/rffmpeg
    persist: $D
CFG
export RFFMPEG_CONFIG="$D/rffmpeg.yml"
# The frontend the demo's rows name (a bad mark's "who"), as on a real
# install, not this build machine's hostname.
export RFFMPEG_FRONTEND_ID=jellyfin
for _ in 1 2 3 4 5 6 7 8; do sleep 3600 & holders+=($!); done
go build -o "$D/seed" ./scripts/seed
PIDS=$(IFS=,; echo "${holders[*]}")
BIN=$PWD/bin/rffmpeg
export D W H SOCK PIDS BIN
unshare --mount --propagation private bash -euc '
  mount -t tmpfs rffmpeg-shots /var/lib
  mount -t tmpfs rffmpeg-shots /var/log
  mkdir -p /var/log/jellyfin
  "$BIN" init --no-root -y >/dev/null
  "$D/seed" -db /var/lib/rffmpeg/rffmpeg.db -log /var/log/jellyfin/rffmpeg.log -pids "$PIDS"
  # The tmux server forks from here and keeps the namespace.
  tmux -L "$SOCK" -f /dev/null new-session -d -x "$W" -y "$H" \
    "env RFFMPEG_CONFIG=$RFFMPEG_CONFIG RFFMPEG_FRONTEND_ID=$RFFMPEG_FRONTEND_ID TERM=xterm-256color COLORTERM=truecolor $BIN tui"
'
wait_for() { for _ in $(seq 1 200); do tmux -L "$SOCK" capture-pane -p | grep -q "$1" && return 0; sleep 0.05; done; echo "timeout waiting for $1" >&2; exit 1; }
render() { # render ANSI OUT SCALE: one captured screen as a PNG
  local ans=$1 out=$2 scale=$3
  aha --black --no-header <"$ans" >"$ans.body"
  {
    echo '<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
    echo 'body{margin:0;background:#14141c;} pre{margin:0;padding:14px 16px;font-family:"DejaVu Sans Mono",monospace;font-size:14px;line-height:1.18;color:#d8d8e0;background:#14141c;}'
    echo '</style></head><body><pre>'
    cat "$ans.body"
    echo '</pre></body></html>'
  } >"$ans.html"
  local pw=$(( W * 843 / 100 + 32 )) ph=$(( H * 1652 / 100 + 28 ))
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --disable-background-networking \
    --disable-component-update --no-first-run --disable-sync --user-data-dir="$D/chrome" \
    --force-device-scale-factor="$scale" --window-size="$pw,$ph" --screenshot="$out" \
    "file://$ans.html" >/dev/null 2>&1
}
shot() { # shot NAME: capture the pane as a PNG in screenshots/NAME.png
  local name=$1
  tmux -L "$SOCK" capture-pane -e -N -p >"$D/$name.ans"
  render "$D/$name.ans" "$PWD/screenshots/$name.png" 2
  echo "screenshots/$name.png"
}
# The animation: a frame per step of a short session, assembled at the end.
mkdir -p "$D/frames"
nframe=0
frame() { # frame [N]: capture the pane as the next N frames (default 1; more: it stays longer)
  for _ in $(seq 1 "${1:-1}"); do
    tmux -L "$SOCK" capture-pane -e -N -p >"$D/frames/$(printf %03d $nframe).ans"
    nframe=$((nframe + 1))
  done
}
keys() { tmux -L "$SOCK" send-keys "$@"; sleep 0.35; }
mkdir -p screenshots
wait_for "gpu-nvenc"
# The bad host selected: its reason, who marked it and when, in full.
tmux -L "$SOCK" send-keys j j
wait_for "› connection refused: ssh"
sleep 0.3
shot main
# The processes: the running jobs, and the call waiting for a full host.
tmux -L "$SOCK" send-keys Tab
wait_for "queued #1"
sleep 0.3
shot processes
# gpu-nvenc in detail: capacity, tags, hardware, the last hour's load,
# its jobs now and its recent ones.
tmux -L "$SOCK" send-keys BTab k k Enter
wait_for "peak "
sleep 0.3
shot detail
# old-i5, the bad host, in detail, scrolled to its health: the last
# hour's checks (the timeout that marked it, the refusals since) and the
# day's bad marks with who set them and why.
# (esc and the next key apart: together they read as alt+key)
tmux -L "$SOCK" send-keys Escape
sleep 0.2
tmux -L "$SOCK" send-keys j j Enter
wait_for "Bad marks, last day"
for _ in 1 2 3 4; do tmux -L "$SOCK" send-keys PageDown; done
sleep 0.3
shot detail-health
tmux -L "$SOCK" send-keys Escape
sleep 0.2
tmux -L "$SOCK" send-keys k k
sleep 0.2
tmux -L "$SOCK" send-keys h
wait_for "last finished first"
tmux -L "$SOCK" send-keys j j j
sleep 0.3
shot history
tmux -L "$SOCK" send-keys Escape
sleep 0.2
tmux -L "$SOCK" send-keys a
wait_for "Add a transcode host"
tmux -L "$SOCK" send-keys -l "gpu 4"
sleep 0.3
shot add-form
# A host that does not answer (nothing at 192.168.1.40 here: ssh times
# out after remote.connect_timeout): checked, then refused with the reason.
tmux -L "$SOCK" send-keys BSpace BSpace BSpace BSpace BSpace
tmux -L "$SOCK" send-keys -l "192.168.1.40"
tmux -L "$SOCK" send-keys Tab
tmux -L "$SOCK" send-keys -l "gpu-new"
tmux -L "$SOCK" send-keys Tab Enter
wait_for "checking 192.168.1.40"
shot add-checking
wait_for "not added"
sleep 0.2
shot add-refused
tmux -L "$SOCK" send-keys Escape
sleep 0.3
tmux -L "$SOCK" send-keys "?"
wait_for "Hosts pane"
shot help

# A short session for the animated image: the pool, the bad host, the
# processes and the queue, a host's detail, the history and its failures,
# a max_jobs change asked and declined with enter.
keys Escape
frame 2
keys j; keys j; frame 2
keys Tab; frame 2
keys BTab; keys k; keys k; keys Enter; wait_for "peak "; frame 3
keys PageDown; frame 2
keys Escape; keys h; wait_for "last finished first"; frame 2
keys f; wait_for "failed jobs only"; frame 2
keys Escape; keys m; keys BSpace; keys 2; frame
keys Enter; wait_for "y/N"; frame 2
keys Enter; wait_for "nothing changed"; frame 2
for a in "$D"/frames/*.ans; do render "$a" "${a%.ans}.png" 1; done
ffmpeg -loglevel error -y -framerate 1 -i "$D/frames/%03d.png" \
  -vf "split[a][b];[a]palettegen=stats_mode=diff:max_colors=64[p];[b][p]paletteuse=dither=none" \
  -loop 0 screenshots/console.gif
echo "screenshots/console.gif ($nframe frames)"
