# Shared by demo.sh and bench.sh: a loopback "transcode host" (an sshd of our
# own on 127.0.0.2 and 127.0.0.3) and an rffmpeg installation using it.
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
  if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

build_binary() {
  export PATH="$PATH:/usr/local/go/bin"
  echo "== building rffmpeg"
  make -s build
}

# setup_install DIR PORT [USER]: binary and symlinks in DIR/bin, keys, sshd
# on 127.0.0.2 and 127.0.0.3:PORT logging in USER (default: the current user;
# created with /bin/sh if missing) with a demo key, and DIR/rffmpeg.yml
# pointing at all of it.
setup_install() {
  local dir=$1 port=$2 user=${3:-$(id -un)}
  if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh "$user"
  fi
  [ "$user" = "$(id -un)" ] || usermod -p '*' "$user" # a locked account cannot log in without PAM
  stop_host "$dir"
  rm -rf "$dir" && mkdir -p "$dir/bin" "$dir/state"
  cp bin/rffmpeg "$dir/bin/rffmpeg"
  ln -s rffmpeg "$dir/bin/ffmpeg"
  ln -s rffmpeg "$dir/bin/ffprobe"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/hostkey"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/clientkey"
  cp "$dir/clientkey.pub" "$dir/authorized_keys"
  mkdir -p /run/sshd
  cat >"$dir/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.2
ListenAddress 127.0.0.3
HostKey $dir/hostkey
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
MaxStartups 1000
MaxSessions 1000
CFG
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.2/"$port") 2>/dev/null && break; sleep 0.1; done
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
    args: ["-i", "$dir/clientkey", "-p", "$port"]
  commands:
    ffmpeg: /usr/bin/ffmpeg
    ffprobe: /usr/bin/ffprobe
    fallback_ffmpeg: /usr/bin/ffmpeg
    fallback_ffprobe: /usr/bin/ffprobe
CFG
  export RFFMPEG_CONFIG="$dir/rffmpeg.yml"
  "$dir/bin/rffmpeg" init --no-root -y >/dev/null
}

stop_host() {
  local dir=$1
  if [ -f "$dir/sshd.pid" ]; then kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true; fi
  for s in "$dir"/ssh-*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done
  return 0
}
