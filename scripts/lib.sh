# Shared by demo.sh and bench.sh: a loopback "transcode host" (an sshd of our
# own on 127.0.0.2 and 127.0.0.3) and an rffmpeg installation using it. The
# host is the test rig's (internal/testrig, through its command bin/testrig):
# the same sshd config and the same readiness proof as the end-to-end tests.
# Needs root: it installs packages and runs sshd.

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "run as root (sudo make $1): it installs packages and starts an sshd on 127.0.0.2" >&2
    exit 1
  fi
}

install_packages() {
  local need=()
  [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  [ -x /usr/bin/ffmpeg ] || need+=(ffmpeg)
  command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
  command -v ps >/dev/null 2>&1 || need+=(procps)
  command -v ss >/dev/null 2>&1 || need+=(iproute2)
  if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

# build_binary builds bin/rffmpeg and the rig's command bin/testrig.
build_binary() {
  export PATH="$PATH:/usr/local/go/bin"
  echo "== building rffmpeg"
  make -s build
  go build -o bin/testrig ./internal/testrig/cmd/rig
}

# setup_install DIR PORT [USER]: binary and symlinks in DIR/bin, the rig's
# keys and sshd in DIR/rig (serving 127.0.0.2 and 127.0.0.3:PORT, logging in
# USER, default: the current user; created with /bin/sh if missing), and
# DIR/rffmpeg.yml pointing at all of it. Fails, saying why, unless the rig
# proved that its own sshd answers on both addresses and logs USER in.
# Sets RIG_CLIENT_KEY, RIG_SSHD_PID and RIG_SSHD_LOG.
setup_install() {
  local dir=$1 port=$2 user=${3:-$(id -un)} out
  stop_host "$dir"
  rm -rf "$dir" && mkdir -p "$dir/bin" "$dir/state"
  chmod 0755 "$dir" # the remote user reads the rig's keys dir below it
  cp bin/rffmpeg "$dir/bin/rffmpeg"
  ln -s rffmpeg "$dir/bin/ffmpeg"
  ln -s rffmpeg "$dir/bin/ffprobe"
  if ! out=$(bin/testrig host up "$dir/rig" "$port" "$user"); then
    echo "the loopback transcode host did not come up (see above)" >&2
    return 1
  fi
  eval "$out"
  cat >"$dir/rffmpeg.yml" <<CFG
rffmpeg:
  logging:
    logfile: $dir/rffmpeg.log
    debug: true
  directories:
    state: $dir/state
    persist: $dir
  remote:
    user: $user
    args: ["-i", "$RIG_CLIENT_KEY", "-p", "$port"]
  commands:
    ffmpeg: /usr/bin/ffmpeg
    ffprobe: /usr/bin/ffprobe
    fallback_ffmpeg: /usr/bin/ffmpeg
    fallback_ffprobe: /usr/bin/ffprobe
CFG
  export RFFMPEG_CONFIG="$dir/rffmpeg.yml"
  "$dir/bin/rffmpeg" init --no-root -y >/dev/null
}

# stop_host DIR: the rig's sshd and the installation's ssh masters.
stop_host() {
  local dir=$1
  [ ! -d "$dir/rig" ] || bin/testrig host down "$dir/rig"
  for s in "$dir"/ssh-* "$dir"/rffmpeg-*/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done
  return 0
}
