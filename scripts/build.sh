#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Configure (once) and build Guarder into a build directory. Quiet when it
# works; when a step fails, says which and shows what meson or the compiler
# said, so the error reaches the user.
#   scripts/build.sh [BUILD_DIR] [meson setup options...]
set -Eeuo pipefail
# Silent on success, never on failure: the step that failed says so.
trap 'echo "build.sh: failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build}
shift || true
log=$(mktemp /tmp/guarder-build.XXXXXX.log)
trap 'rm -f "$log"' EXIT

# step WHAT COMMAND...: run COMMAND with its output in the log; on failure
# print the log's end and stop.
step() {
	local what=$1

	shift
	if ! "$@" >"$log" 2>&1; then
		echo "build.sh: $what failed: $*" >&2
		# ninja: from the first failed command on; meson: its last lines
		if grep -q '^FAILED: ' "$log"; then
			sed -n '/^FAILED: /,$p' "$log" | head -n 150 >&2
		else
			tail -n 60 "$log" >&2
		fi
		exit 1
	fi
}

for tool in meson ninja; do
	command -v "$tool" >/dev/null ||
		{ echo "build.sh: $tool is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
done
if [ ! -f "$dir/build.ninja" ]; then
	step "configuring $dir" meson setup "$dir" "$top" "$@"
fi
step "building in $dir" ninja -C "$dir"
