#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A demo that never touches this machine's own interfaces: it makes a
# network namespace joined to the root namespace by a veth pair, sends
# ping, TCP and UDP traffic across it, and runs the collector on the
# root-side veth. Everything it made is removed on exit.
#   scripts/demo.sh [SECONDS]   (default 30; Ctrl-C stops earlier)
set -Eeuo pipefail
# Silent on success, never on failure: the step that failed says so.
trap 'echo "demo.sh: failed (status $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
"$top/scripts/setup.sh"
"$top/scripts/build.sh" "$top/build"

ns=gdr-demo
veth=gdr-demo0
peer=gdr-demo1
pins=/sys/fs/bpf/guarder-demo
state=
traffic_pid=
listen_pid=

cleanup() {
	for pid in $traffic_pid $listen_pid; do
		kill "$pid" 2>/dev/null || true
	done
	ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip link del "$veth" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$pins" ${state:+"$state"}
}
trap cleanup EXIT
cleanup
# The demo's own state: it must not read or write a real Guarder's rules.
state=$(mktemp -d /tmp/guarder-demo.XXXXXX)
conf=$state/guarder.yaml

ip netns add "$ns"
ip link add "$veth" type veth peer name "$peer"
ip link set "$peer" netns "$ns"
ip addr add 10.253.0.1/30 dev "$veth"
ip -6 addr add fd00:253::1/64 dev "$veth" nodad
ip link set "$veth" up
ip -n "$ns" addr add 10.253.0.2/30 dev "$peer"
ip -n "$ns" -6 addr add fd00:253::2/64 dev "$peer" nodad
ip -n "$ns" link set "$peer" up
ip -n "$ns" link set lo up

cat >"$conf" <<YAML
node:
  name: demo
bpf:
  pin_path: $pins
  flow_table_size: 65536
rules:
  file: $state/rules.json
collector:
  interval: 5
  idle_timeout: 10
  stats_file: $state/collector-stats.json
YAML

# Traffic from the namespace to the root side of the veth, and back. UDP
# to a closed port brings ICMP port-unreachable errors back.
nc -l -k 10.253.0.1 8080 >/dev/null 2>&1 &
listen_pid=$!
(
	while :; do
		ip netns exec "$ns" ping -c 2 -i 0.2 -q 10.253.0.1 >/dev/null 2>&1 || true
		ip netns exec "$ns" ping -6 -c 2 -i 0.2 -q fd00:253::1 >/dev/null 2>&1 || true
		head -c 20000 /dev/urandom | ip netns exec "$ns" nc -q 0 -w 1 10.253.0.1 8080 >/dev/null 2>&1 || true
		echo hello | ip netns exec "$ns" nc -u -q 0 -w 1 10.253.0.1 5353 >/dev/null 2>&1 || true
		sleep 1
	done
) &
traffic_pid=$!

timeout --foreground -s INT "$secs" "$top/build/collector/guarder-collector" -c "$conf" -iface "$veth" || true
