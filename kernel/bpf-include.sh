#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# bpf-include.sh DIR MULTIARCH: make DIR the only system include directory of
# the BPF build. It holds links to the kernel's UAPI headers (linux/,
# asm-generic/, asm/ of MULTIARCH) and libbpf's bpf/, and nothing of libc, so
# that a BPF source that reaches for a libc header fails to compile on every
# machine, not only on those without the i386 libc headers (docs/kernel.md).
set -eu
dir=$1
multiarch=$2
mkdir -p "$dir"
link() { # NAME TARGET PACKAGE
	if [ ! -d "$2" ]; then
		echo "bpf-include.sh: $2 is missing: install $3 (scripts/setup.sh does)" >&2
		exit 1
	fi
	ln -sfn "$2" "$dir/$1"
}
link linux /usr/include/linux linux-libc-dev
link asm-generic /usr/include/asm-generic linux-libc-dev
link asm "/usr/include/$multiarch/asm" linux-libc-dev
link bpf /usr/include/bpf libbpf-dev
