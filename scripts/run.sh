#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# README command 1: install what is needed, build, and watch the live flows
# of one interface on the console with the embedded default configuration.
#   scripts/run.sh [IFACE] [extra collector flags...]
# IFACE defaults to the interface of the default route. Stop with Ctrl-C.
# The collector leaves its programs attached when it stops (so that a
# service keeps filtering across restarts); this try-out then detaches
# them, leaving the interface as it found it.
set -Eeuo pipefail
# Silent on success, never on failure: the step that failed says so.
trap 'echo "run.sh: failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh"
"$top/scripts/build.sh" "$top/build"

iface=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$iface" ]; then
	iface=$(ip -o route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
	if [ -z "$iface" ]; then
		echo "run.sh: no default route; name an interface: scripts/run.sh IFACE" >&2
		exit 1
	fi
	echo "run.sh: watching $iface (the default route's interface)" >&2
fi
# Ctrl-C reaches the collector too; the script only waits for it, then detaches.
trap 'true' INT TERM
rc=0
"$top/build/collector/guarder-collector" -iface "$iface" -interval 5 "$@" || rc=$?
if ! "$top/build/collector/guarder-collector" -detach "$@"; then
	echo "run.sh: could not detach from $iface: run $top/build/collector/guarder-collector -detach" >&2
	exit 1
fi
exit "$rc"
