#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""syscalls.py STRACE_LOG FILTER FAMILIES: every system call in an
`strace -f` log must be allowed by a systemd SystemCallFilter= (allow list,
then ~deny lists, groups expanded with systemd-analyze), and every socket()
family must be in RestrictAddressFamilies=. Exit 1 naming what is not."""
import re
import subprocess
import sys


def groups():
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True,
                         capture_output=True, text=True).stdout
    g, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = g.setdefault(line.strip(), set())
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.add(line.strip())
    return g


def expand(name, g, seen=None):
    seen = seen or set()
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = set()
    for item in g.get(name, ()):
        out |= expand(item, g, seen)
    return out


def main():
    log, filt, fams = sys.argv[1], sys.argv[2].split(), set(sys.argv[3].split())
    g = groups()
    allowed = set()
    for item in filt:
        if item.startswith("~"):
            for x in item[1:].split():
                allowed -= expand(x, g)
        else:
            allowed |= expand(item, g)
    used, families = set(), set()
    for line in open(log, errors="replace"):
        m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
        if m and m.group(1) not in ("exit", "resumed"):
            used.add(m.group(1))
        m = re.search(r"\bsocket\((AF_[A-Z0-9]+)", line)
        if m:
            families.add(m.group(1))
    bad = sorted(used - allowed)
    badf = sorted(families - fams)
    print(f"  {log}: {len(used)} distinct system calls, families {sorted(families)}")
    if bad:
        print(f"FAIL: not in SystemCallFilter: {bad}", file=sys.stderr)
    if badf:
        print(f"FAIL: not in RestrictAddressFamilies: {badf}", file=sys.stderr)
    if not used:
        print("FAIL: no system call in the log", file=sys.stderr)
    sys.exit(1 if bad or badf or not used else 0)


if __name__ == "__main__":
    main()
