#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install everything Guarder needs to build, run and test on Debian 12, and
# mount bpffs if it is absent. Idempotent; needs root.
set -Eeuo pipefail
# Silent on success, never on failure: the step that failed says so.
trap 'echo "setup.sh: failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

packages=(
	# build
	meson ninja-build pkg-config gcc libc6-dev linux-libc-dev clang llvm bpftool
	libbpf-dev libxdp-dev libelf-dev zlib1g-dev
	libyaml-dev libjson-c-dev libmicrohttpd-dev
	# tests: sanitizers, traffic, clients
	iproute2 iputils-ping netcat-openbsd curl jq procps time
	python3 python3-jsonschema python3-yaml xdp-tools
	# Kafka sink and WebSocket feed, and the clients by others that test them
	librdkafka-dev libwebsockets-dev kcat python3-confluent-kafka python3-websockets
	# the AI model client (libcurl, issue 5)
	libcurl4-openssl-dev
	# deployment tests (test/deploy, test/multihost): the Ansible role, the
	# units (systemd-analyze, systemd-sysusers), their syscall filters
	ansible-core python3-apt strace systemd util-linux
	# benchmarks (PERF= profiles of bench/stream/run.sh also need linux-perf,
	# which must match the running kernel: not installed here)
	wrk
)
# The tests' Kafka broker: Java 17 runs it, Maven fetches its jars. A machine
# that already has both (any JDK, another Maven) keeps its own.
command -v java >/dev/null || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || packages+=(maven)

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: run as root (it installs packages and mounts bpffs)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp /tmp/guarder-setup.XXXXXX.log)
	# Quiet when it works; apt's own words when it does not.
	if ! apt-get update -qq >"$log" 2>&1; then
		echo "setup.sh: apt-get update failed:" >&2
		tail -n 30 "$log" >&2
		exit 1
	fi
	if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
		echo "setup.sh: apt-get install failed:" >&2
		tail -n 30 "$log" >&2
		exit 1
	fi
	rm -f "$log"
fi

if ! mountpoint -q /sys/fs/bpf && ! mount -t bpf bpf /sys/fs/bpf; then
	echo "setup.sh: /sys/fs/bpf is not bpffs and mounting it failed (the collector pins its maps there)" >&2
	exit 1
fi
