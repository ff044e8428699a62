#!/usr/bin/env bash
# Runs every test on real parts: installs what is missing (Debian, as root),
# starts a PostgreSQL server for the state-store and CLI tests, then go vet
# and go test. Missing prerequisites fail the run instead of skipping tests:
# as root, the sshd, PostgreSQL and network-namespace tests must run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null 2>&1; then
  echo "go not found: install Go $(sed -n 's/^go //p' go.mod) (https://go.dev/dl) in /usr/local/go" >&2
  exit 1
fi

need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/bin/ffmpeg ] || need+=(ffmpeg)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v git >/dev/null 2>&1 || need+=(git)
command -v useradd >/dev/null 2>&1 || need+=(passwd)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates) # go downloads modules over HTTPS
# The generated completions are run by the shells they are for, the man
# page rendered by groff.
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
command -v groff >/dev/null 2>&1 || need+=(groff-base)
# The sqlite3 tool holds the database as another program would (e2e).
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${need[*]} (run as root, or: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "== installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PostgreSQL: the packaged cluster, a role for the tests.
if [ "$(id -u)" = 0 ]; then
  ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | grep -q "^$ver main"; then
    pg_createcluster "$ver" main >/dev/null
  fi
  pg_ctlcluster "$ver" main start 2>/dev/null || true
  for _ in $(seq 1 50); do
    su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.2
  done
  su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='rffmpeg_test'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"create role rffmpeg_test login createdb password 'rffmpeg_test'\""
  export RFFMPEG_TEST_PG_HOST=127.0.0.1 RFFMPEG_TEST_PG_USER=rffmpeg_test RFFMPEG_TEST_PG_PASS=rffmpeg_test
  # Where namespaces work (root), the freeze/partition tests must not
  # skip silently: a failure to make a namespace host fails the run.
  export RFFMPEG_TEST_REQUIRE_PG=1 RFFMPEG_TEST_REQUIRE_SSH=1 RFFMPEG_TEST_REQUIRE_NETNS=1
  export RFFMPEG_TEST_REQUIRE_SHELLS=1
else
  echo "not root: PostgreSQL and sshd tests are skipped unless RFFMPEG_TEST_PG_HOST is set" >&2
fi

echo "== gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
echo "== go test"
# The end-to-end suite times real calls (a frozen host must cost a call at
# most its own bound): run it alone, after the rest, so the other packages'
# tests do not compete with it for the CPU. It and the rig's own tests hold
# the machine's e2e lock (sshd rigs, namespaces and the test user are shared
# by every checkout on the machine).
go test -count=1 -timeout 20m $(go list ./... | grep -v -e '/e2e$' -e '/internal/testrig')
# -o: the lock stays with flock; a process the tests leave behind must not
# hold it for every later run.
flock -o /tmp/rffmpeg-e2e.lock go test -count=1 -timeout 20m ./internal/testrig/... ./e2e/
if [ "$(id -u)" = 0 ]; then
  # The Debian package: built, installed with dpkg, a real remote transcode
  # through the installed files, removed and purged.
  echo "== Debian package"
  bash scripts/deb-test.sh
fi
