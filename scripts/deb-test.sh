#!/usr/bin/env bash
# The Debian package as an admin meets it, on this machine (root, no TTY):
# build it, lint it, install it with dpkg -i, check every file it promises,
# run a real remote transcode through the installed /usr/lib/rffmpeg/ffmpeg
# on a loopback transcode host (the test rig's sshd on 127.0.0.2), then
# dpkg -r and dpkg -P and check that nothing of the package is left but what
# the admin made. Installs what it needs. Exits non-zero saying why.
#
#   bash scripts/deb-test.sh          (CI: after `make test`, or on its own)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
# The installed rffmpeg must read the installed /etc/rffmpeg/rffmpeg.yml.
unset RFFMPEG_CONFIG RFFMPEG_POSTGRES_USER RFFMPEG_POSTGRES_DB RFFMPEG_POSTGRES_PASS \
  RFFMPEG_POSTGRES_PORT RFFMPEG_POSTGRES_HOST

fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
ok() { echo "  ok  $*"; }

# check_files: the binary, the symlinks beside it (and not in $PATH), the
# conffile as shipped (all defaults).
check_files() {
  echo "== files"
  [ -x /usr/bin/rffmpeg ] || fail "/usr/bin/rffmpeg missing"
  case $(ldd /usr/bin/rffmpeg 2>&1 || true) in
    *"not a dynamic executable"*) ;;
    *) fail "/usr/bin/rffmpeg is not static: $(ldd /usr/bin/rffmpeg 2>&1)" ;;
  esac
  /usr/bin/rffmpeg --version >"$W/version.out" || fail "rffmpeg --version exited $?"
  head -1 "$W/version.out" | grep -qxF "rffmpeg $VERSION" || fail "--version says $(head -1 "$W/version.out"), want rffmpeg $VERSION"
  grep -q '^commit [0-9a-f]\{40\}$' "$W/version.out" || fail "--version names no commit: $(cat "$W/version.out")"
  ok "static /usr/bin/rffmpeg: $(tr '\n' ' ' <"$W/version.out")"
  for l in ffmpeg ffprobe; do
    [ "$(readlink -f /usr/lib/rffmpeg/$l)" = /usr/bin/rffmpeg ] || fail "/usr/lib/rffmpeg/$l does not lead to /usr/bin/rffmpeg"
  done
  [ "$(readlink -f "$(command -v ffmpeg)")" = "$system_ffmpeg" ] || fail "the package changed what 'ffmpeg' means in \$PATH"
  ok "/usr/lib/rffmpeg/{ffmpeg,ffprobe} -> /usr/bin/rffmpeg; ffmpeg in \$PATH is still $system_ffmpeg"
  dpkg-query -W -f='${Conffiles}' rffmpeg | grep -q '^ /etc/rffmpeg/rffmpeg.yml [0-9a-f]\{32\}$' ||
    fail "/etc/rffmpeg/rffmpeg.yml is not a conffile"
  /usr/bin/rffmpeg config >"$W/config.out" 2>"$W/config.err" || fail "rffmpeg config: $(cat "$W/config.err")"
  [ -s "$W/config.err" ] && fail "the sample configuration warns: $(cat "$W/config.err")"
  grep -q '^# configuration file: /etc/rffmpeg/rffmpeg.yml$' "$W/config.out" || fail "rffmpeg config did not read the conffile"
  grep -v '^#' "$W/config.out" | grep -v '# default$' && fail "the sample configuration changes a default"
  ok "conffile /etc/rffmpeg/rffmpeg.yml, read without a warning, every key at its default"
  unit=/lib/systemd/system/rffmpeg-serve@.service
  grep -qx 'ExecStart=/usr/bin/rffmpeg serve' "$unit" && grep -qx 'User=%i' "$unit" ||
    fail "$unit does not run 'rffmpeg serve' as the instance's account"
  code=0
  /usr/bin/rffmpeg serve --check >/dev/null || code=$?
  [ "$code" = 3 ] || fail "rffmpeg serve --check with no helper running exited $code, want 3"
  ok "state helper unit $unit (rffmpeg-serve@ACCOUNT); serve --check: none running"
}

# check_docs: the man page is found and renders; the completions parse and
# complete.
check_docs() {
  echo "== man page and completions"
  [ "$(man -w rffmpeg)" = /usr/share/man/man1/rffmpeg.1.gz ] || fail "man -w rffmpeg: $(man -w rffmpeg 2>&1)"
  zcat /usr/share/man/man1/rffmpeg.1.gz | groff -man -ww -Tutf8 -P-cbou -rLL=200n >"$W/man.txt" 2>"$W/man.err"
  [ -s "$W/man.err" ] && fail "groff warns: $(cat "$W/man.err")"
  for want in "rffmpeg add [-w N] [-n NAME]" "-w, --weight N" "rffmpeg doctor" "remote.host_keys" "rffmpeg $VERSION"; do
    grep -qF -- "$want" "$W/man.txt" || fail "rendered man page lacks '$want'"
  done
  ok "man -w rffmpeg finds the page; groff renders it with no warning ($(wc -l <"$W/man.txt") lines)"
  local bc=/usr/share/bash-completion/completions/rffmpeg
  bash -n "$bc" || fail "bash completion does not parse"
  got=$(bash -c 'source "$1"; COMP_WORDS=(rffmpeg add --we); COMP_CWORD=2; _rffmpeg; echo "${COMPREPLY[*]}"' _ "$bc")
  [ "$got" = --weight ] || fail "bash completes 'rffmpeg add --we' to '$got'"
  zsh -n /usr/share/zsh/vendor-completions/_rffmpeg || fail "zsh completion does not parse"
  fish -n /usr/share/fish/vendor_completions.d/rffmpeg.fish || fail "fish completion does not parse"
  got=$(fish -c 'complete -C "rffmpeg dra"' | cut -f1)
  [ "$got" = drain ] || fail "fish (finding the vendor completion by itself) completes 'rffmpeg dra' to '$got'"
  ok "bash, zsh and fish completions parse; bash and fish complete"
}

# free_port: a TCP port nothing listens on at the rig's loopback host.
free_port() {
  local p
  for p in $(seq 22600 22700); do
    (exec 3<>/dev/tcp/127.0.0.2/$p) 2>/dev/null || { echo "$p"; return; }
  done
  fail "no free port on 127.0.0.2"
}

# transcode: a loopback transcode host (the test rig's sshd on 127.0.0.2,
# user rffdeb), the conffile edited as an admin would, rffmpeg init and add,
# then a real ffmpeg job through the installed symlink. It must have run on
# the host: the log says so and the output file belongs to the remote user.
transcode() {
  PORT=$(free_port)
  mkdir -p "$W/persist" "$W/media"
  chmod 0755 "$W" && chmod 0700 "$W/persist"
  # The rig's one sshd configuration and readiness proof (a real login),
  # as the end-to-end tests, the demo and the benchmark use it.
  go build -o "$W/testrig" ./internal/testrig/cmd/rig || fail "build the test rig"
  RIG_UP=1
  out=$("$W/testrig" host up "$W/rig" "$PORT" rffdeb) || fail "the transcode host did not come up"
  eval "$out"
  chown rffdeb "$W/media"
  ok "transcode host: sshd on 127.0.0.2:$PORT, user rffdeb"

  cat >/etc/rffmpeg/rffmpeg.yml <<CFG
# edited by deb-test.sh, as an admin would
rffmpeg:
  logging:
    logfile: "$W/rffmpeg.log"
    debug: true
  directories:
    state: "$W/state"
    persist: "$W/persist"
    owner: root
    group: root
  remote:
    user: rffdeb
    args: ["-i", "$RIG_CLIENT_KEY", "-p", "$PORT"]
  commands:
    ffmpeg: /usr/bin/ffmpeg
    ffprobe: /usr/bin/ffprobe
    fallback_ffmpeg: /usr/bin/ffmpeg
    fallback_ffprobe: /usr/bin/ffprobe
    fallback: false
CFG
  rffmpeg init -y >/dev/null || fail "rffmpeg init"
  rffmpeg add -n debhost 127.0.0.2 >/dev/null || fail "rffmpeg add"
  /usr/bin/ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=size=320x240:rate=25:duration=2 \
    -c:v mpeg4 "$W/media/in.mkv"
  chmod 0644 "$W/media/in.mkv"
  local rc=0
  /usr/lib/rffmpeg/ffmpeg -nostdin -hide_banner -loglevel error -i "$W/media/in.mkv" -c:v mpeg4 \
    "$W/media/out.mp4" </dev/null >"$W/job.out" 2>"$W/job.err" || rc=$?
  [ "$rc" = 0 ] || fail "the job exited $rc: $(cat "$W/job.err"; tail -5 "$W/rffmpeg.log")"
  grep -q "Running command on host '127.0.0.2' (debhost)" "$W/rffmpeg.log" ||
    fail "the log does not say the job ran on the host: $(tail -5 "$W/rffmpeg.log")"
  [ "$(stat -c %U "$W/media/out.mp4" 2>/dev/null)" = rffdeb ] ||
    fail "out.mp4 was not written by the remote user rffdeb: $(ls -l "$W/media")"
  dur=$(/usr/lib/rffmpeg/ffprobe -v error -show_entries format=duration -of csv=p=0 "$W/media/out.mp4")
  case $dur in 2.0*|1.9*) ;; *) fail "ffprobe through the symlink says duration '$dur', want 2 s" ;; esac
  rffmpeg status >"$W/status.out" || fail "rffmpeg status"
  grep -q 'PID ' "$W/status.out" && fail "process rows left after the job: $(cat "$W/status.out")"
  ok "the job ran on 127.0.0.2 as rffdeb: '$(grep -m1 -o "Running command on host.*" "$W/rffmpeg.log")', out.mp4 ${dur}s"
  "$W/testrig" host down "$W/rig"
  RIG_UP=
  for s in "$W"/persist/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done
  return 0
}

# gone: none of the package's files and links is left, nor its own
# directories; the conffile stays while the package is only removed.
gone() {
  local how=$1 p
  for p in "${FILES[@]}" /usr/lib/rffmpeg /usr/share/doc/rffmpeg /etc/rffmpeg; do
    if [ "$how" = -r ]; then
      case $p in /etc/rffmpeg | /etc/rffmpeg/rffmpeg.yml) continue ;; esac
    fi
    if [ -e "$p" ] || [ -L "$p" ]; then fail "$p is still there after dpkg $how"; fi
  done
  return 0
}

check_remove() {
  echo "== dpkg -r"
  dpkg -r rffmpeg >/dev/null 2>&1 || fail "dpkg -r"
  dpkg-query -W -f='${Status}' rffmpeg | grep -q '^deinstall ok config-files$' || fail "status after dpkg -r: $(dpkg-query -W -f='${Status}' rffmpeg)"
  gone -r
  grep -q 'edited by deb-test.sh' /etc/rffmpeg/rffmpeg.yml || fail "dpkg -r did not keep the admin's configuration"
  ok "binary, symlinks, man page, completions and docs gone; the edited conffile kept"
}

check_purge() {
  echo "== dpkg -P"
  dpkg -P rffmpeg >/dev/null 2>&1 || fail "dpkg -P"
  dpkg-query -W rffmpeg >/dev/null 2>&1 && fail "dpkg still knows rffmpeg after dpkg -P"
  gone -P
  [ -e /etc/rffmpeg ] && fail "/etc/rffmpeg is still there after dpkg -P: $(ls -la /etc/rffmpeg)"
  [ -f "$W/state/rffmpeg.db" ] || fail "dpkg -P deleted the admin's state database"
  ok "nothing of the package left; the admin's state ($W/state/rffmpeg.db) untouched"
}
[ "$(id -u)" = 0 ] || fail "run as root: it installs the package and starts an sshd"

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/bin/ffmpeg ] || need+=(ffmpeg)
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
command -v lintian >/dev/null || need+=(lintian)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
command -v flock >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if grep -rqs '^path-exclude=\?\s*/usr/share/man' /etc/dpkg/dpkg.cfg.d/; then
  fail "dpkg is set to drop man pages here (path-exclude in /etc/dpkg/dpkg.cfg.d): the checks would lie"
fi

# Never touch an admin's own rffmpeg: a package of ours from an earlier run
# is purged, a configuration nobody's package owns stops the test.
if dpkg-query -W -f='${Status}' rffmpeg 2>/dev/null | grep -q 'installed\|config-files'; then
  echo "== purging rffmpeg left installed by an earlier run"
  dpkg -P rffmpeg >/dev/null
fi
[ -e /etc/rffmpeg ] && fail "/etc/rffmpeg exists and no rffmpeg package owns it: not overwriting it"

echo "== make deb"
rm -f build/rffmpeg_*.deb
make -s deb >/dev/null
DEB=$(ls build/rffmpeg_*_"$(dpkg --print-architecture)".deb)
VERSION=$(dpkg-deb -f "$DEB" Version)
echo "   $DEB"
first=$(sha256sum <"$DEB")
make -s deb >/dev/null
[ "$(sha256sum <"$DEB")" = "$first" ] || fail "a second build of the same tree is not the same bytes"
echo "  ok  reproducible: a second build is the same bytes"

echo "== lintian"
lintian --pedantic "$DEB" >build/lintian.txt 2>&1 || true
grep -v 'running with root privileges' build/lintian.txt || true
grep -q '^E:' build/lintian.txt && fail "lintian reports errors"
ok "no lintian errors"

W=$(mktemp -d /tmp/rffmpeg-debtest.XXXXXX)
RIG_UP=
cleanup() {
  [ -n "$RIG_UP" ] && "$W/testrig" host down "$W/rig" 2>/dev/null
  for s in "$W"/persist/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done
  if dpkg-query -W -f='${Status}' rffmpeg 2>/dev/null | grep -q 'installed\|config-files'; then
    dpkg -P rffmpeg >/dev/null 2>&1
  fi
  rm -rf "$W"
  return 0
}
trap cleanup EXIT

# The package's files and links, for the checks after removal.
mapfile -t FILES < <(dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\./|/|')
[ ${#FILES[@]} -gt 10 ] || fail "the package lists only ${#FILES[@]} files"
system_ffmpeg=$(readlink -f "$(command -v ffmpeg)")

# From install to purge, /etc/rffmpeg/rffmpeg.yml is the machine's
# configuration and the rig's sshd runs: hold the lock the end-to-end
# tests share, so no run of theirs sees either.
echo "== waiting for the e2e lock"
exec 9>/tmp/rffmpeg-e2e.lock
flock 9
echo "== dpkg -i"
dpkg -i "$DEB" >"$W/install.out" 2>&1 || { cat "$W/install.out"; fail "dpkg -i"; }
grep -q "rffmpeg init" "$W/install.out" || fail "postinst did not print the next step"
dpkg-query -W -f='${Status}' rffmpeg | grep -q '^install ok installed$' || fail "not installed"
ok "installed $VERSION; postinst says: $(grep -m1 'rffmpeg init' "$W/install.out")"

check_files
check_docs
echo "== a real remote transcode through /usr/lib/rffmpeg/ffmpeg"
transcode
echo "== dpkg -i again (an upgrade: the postinst restarts state helpers where systemd runs)"
dpkg -i "$DEB" >"$W/upgrade.out" 2>&1 || { cat "$W/upgrade.out"; fail "dpkg -i over the installed package"; }
grep -q "rffmpeg init" "$W/upgrade.out" && fail "the postinst printed the first-install steps on an upgrade"
ok "upgraded in place"
check_remove
check_purge
flock -u 9
echo "deb-test: PASS ($DEB)"
