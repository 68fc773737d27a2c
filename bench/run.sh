#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Build (if needed) and run the XDP benchmark. Needs root: it loads BPF
# programs and runs them with BPF_PROG_TEST_RUN (nothing is attached).
#   bench/run.sh [bench_xdp options]    e.g. bench/run.sh -r 5 -n 1000000
# BUILD_DIR overrides the build directory (default: build-bench).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build-bench}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: run as root (loads BPF programs)" >&2
	exit 1
fi
"$src/scripts/build.sh" "$build" --buildtype=release
exec "$build/bench/bench_xdp" "$@"
