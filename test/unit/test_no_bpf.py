#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fail when a binary depends on libbpf or libxdp.

usage: test_no_bpf.py READELF NM BINARY

guarder-ai has no business with BPF (lib/meson.build keeps the BPF code in
guarder_bpf). Either way in which libbpf or libxdp could come back fails:
a DT_NEEDED entry (linked dynamically), or a libbpf/libxdp symbol in the
symbol table (linked statically, or referenced through a versioned
symbol). Prints what it found.
"""
import re
import subprocess
import sys

NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[(lib(?:bpf|xdp)\.so[^\]]*)\]")
SYMBOL = re.compile(r"^(?:libbpf_|libxdp_|bpf_|btf__|xdp_program__|xdp_multiprog__)|@LIB(?:BPF|XDP)_")


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    readelf, nm, binary = sys.argv[1:]
    found = ["DT_NEEDED " + m for m in NEEDED.findall(run([readelf, "-d", "-W", binary]))]
    for line in run([nm, "-a", binary]).splitlines():
        name = line.split()[-1] if line.split() else ""
        if SYMBOL.search(name):
            found.append("symbol " + name)
    if found:
        print("%s depends on libbpf/libxdp:" % binary, file=sys.stderr)
        for f in found:
            print("  " + f, file=sys.stderr)
        return 1
    print("%s: no libbpf, no libxdp" % binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
