#!/usr/bin/env bash
# make bench: the figures in README.md's "Performance" section. Sets up the
# loopback transcode hosts (as make demo does) and runs scripts/bench.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_root bench
install_packages
build_binary
DIR=${BENCH_DIR:-/tmp/rffmpeg-bench}
PORT=${BENCH_PORT:-2023}
# An ordinary account with /bin/sh, as on a transcode host: root's login
# files here cost ~80 ms per command and would hide the shim's milliseconds.
setup_install "$DIR" "$PORT" "${BENCH_USER:-rffmpegbench}"
trap 'stop_host "$DIR"; for d in "$DIR"/bench-*; do stop_host "$d"; done' EXIT
go run ./scripts/bench -dir "$DIR" -port "$PORT" -user "${BENCH_USER:-rffmpegbench}" "$@"
