#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The commands the README shows under "Building by hand" that a test can run
# as written (the others attach to eth0 or are this suite itself): every
# `--check-config` line is taken from the README and run from the top of
# the tree with ./build/ meaning this build, and must exit 0 with the
# example configuration. Then the README's own claims about that run.
#   commands.sh SOURCE_ROOT BUILD_ROOT
set -uo pipefail
src=$1
build=$2
cd "$src" || exit 1
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

mapfile -t lines < <(sed -n '/^## Building by hand/,/^```$/p' README.md | sed -n '/^```sh$/,/^```$/p' |
	grep -- '--check-config' | sed 's/[[:space:]]*#.*$//')
[ ${#lines[@]} -eq 3 ] || fail "expected 3 --check-config commands in the README, found ${#lines[@]}"
for line in "${lines[@]}"; do
	cmd=${line//.\/build\//$build/}
	out=$(bash -c "$cmd" 2>&1 >/dev/null)
	rc=$?
	[ "$rc" -eq 0 ] || fail "'$line' exited $rc: $out"
	echo "ok: $line"
	case $line in
	*guarder-collector*)
		grep -q 'sets no interface: start-up needs -iface' <<<"$out" ||
			fail "'$line' does not note the missing interface: $out" ;;
	*guarder-ai*)
		grep -q 'sets no kafka.brokers' <<<"$out" ||
			fail "'$line' does not note the missing kafka.brokers: $out" ;;
	esac
done

# Each daemon's --help answers, as docs/ tell users to try.
for d in collector/guarder-collector api/guarder-api ai/guarder-ai; do
	"$build/$d" --help >/dev/null 2>&1 || fail "$d --help"
done

# README and docs are written for a root shell: no sudo a minimal Debian lacks.
if grep -rn '\bsudo [./a-z]' README.md docs/*.md | grep -v 'prefixes it with `sudo`'; then
	fail "README or docs still tell the reader to use sudo"
fi
[ $fails -eq 0 ] || exit 1
echo "PASS: README commands"
