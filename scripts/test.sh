#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# README command 2: install what is needed, build with AddressSanitizer and
# UndefinedBehaviorSanitizer, and run every test suite (unit, bpf,
# integration). Needs root for the bpf and integration suites.
#   scripts/test.sh [meson test options...]
set -Eeuo pipefail
# Silent on success, never on failure: the step that failed says so.
trap 'echo "test.sh: failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build-test
"$top/scripts/setup.sh"
"$top/scripts/build.sh" "$dir" -Db_sanitize=address,undefined -Db_lundef=false

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
meson test -C "$dir" --print-errorlogs --num-processes 1 "$@" || rc=$?

# One closing line that any CI reader understands.
python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            counts["OK"] += 1
        elif r == "SKIP":
            counts["SKIP"] += 1
        else:
            counts["FAIL"] += 1
print(f"{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit $rc
