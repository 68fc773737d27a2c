#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The systemd units' privileges, for real: systemd is not PID 1 on the
# development machines, so this runs what the units would run, the way
# systemd would run it, with the values read from the unit files:
#   - guarder-prepare as root (ExecStartPre=+), over pins an earlier run
#     as root left behind: it must hand them to the service user; and in a
#     mount namespace without bpffs: it must mount one;
#   - guarder-collector and guarder-api as a non-root user, with exactly the
#     unit's AmbientCapabilities as ambient, inheritable and bounding set
#     and no_new_privs (setpriv), on a veth pair into a netns of our own;
#   - traffic is counted, a rule added through the API drops it (the rule
#     file written in the state directory as that user);
#   - guarder-ai runs with no capability at all;
#   - every system call and address family the daemons used is allowed by
#     the unit's SystemCallFilter and RestrictAddressFamilies (strace);
#   - one capability less (CAP_NET_ADMIN) and the collector fails cleanly.
# Usage: units.sh BUILD_DIR    (needs root; exits 77 without)
# shellcheck shell=bash
set -u
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
COLLECTOR=$build/collector/guarder-collector
API=$build/api/guarder-api
AI=$build/ai/guarder-ai
units=$build/deploy
source "$top/test/integration/lib.sh"

preflight
for bin in "$COLLECTOR" "$API" "$AI"; do
	[ -x "$bin" ] || fail "$bin not built"
done
for tool in setpriv curl; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing" >&2; exit $SKIP; }
done
have_strace=1
command -v strace >/dev/null || { have_strace=0; log "no strace: system calls not checked (scripts/setup.sh installs it)"; }
# LeakSanitizer refuses to run under ptrace, and the sanitizer runtime's
# own system calls are not the daemon's: the filters are checked on a build
# without sanitizers only.
if ldd "$COLLECTOR" "$API" | grep -q 'libasan\|libubsan'; then
	have_strace=0
	log "sanitized build: system calls not checked (a build without -Db_sanitize checks them)"
fi

get() { "$top/test/deploy/units.py" get "$units/$1.service" "$2" "$3"; }

# A uid/gid with no passwd entry stands for the user guarder: creating a
# real user would change this machine's /etc/passwd.
while :; do
	uid=$((61000 + RANDOM % 3000))
	getent passwd $uid >/dev/null || getent group $uid >/dev/null || break
done

# The host: a netns with a veth pair (our own names, removed on exit).
id=$(rand_hex 3)
ns=gdr-dp-$id
veth=gddp${id}r
peer=gddp${id}n
x=$((RANDOM % 200 + 20))
ip netns add $ns || fail "ip netns add"
NETNS+=($ns)
ip link add $veth type veth peer name $peer || fail "ip link add"
LINKS+=($veth)
ip link set $peer netns $ns
ip addr add 10.201.$x.1/30 dev $veth
ip link set $veth up
ip -n $ns addr add 10.201.$x.2/30 dev $peer
ip -n $ns link set $peer up
wait_for 5 ip netns exec $ns ping -c 1 -W 1 -q 10.201.$x.1 >/dev/null || fail "veth pair"

state=$TMP/var/lib/guarder
run=$TMP/run/guarder
mkdir -p "$state" "$run"
# What StateDirectory= and RuntimeDirectory= do before ExecStart.
chown $uid:$uid "$state" "$run"
# strace writes its log as the daemon's user.
touch "$TMP/collector.strace" "$TMP/api.strace" "$TMP/ai.strace"
chown $uid "$TMP/collector.strace" "$TMP/api.strace" "$TMP/ai.strace"
chmod 0750 "$state"
PIN=/sys/fs/bpf/guarder-test-dp-$(rand_hex 4)
PINS+=("$PIN")
port=$((20000 + RANDOM % 20000))
ws_port=$((port + 1))
# A broker address nobody listens on: librdkafka's threads still start and
# connect, so their system calls are in the trace (no JVM needed for that).
kafka_port=$((port + 2))
conf=$TMP/guarder.yaml
cat >"$conf" <<YAML
node:
  name: dp-units
bpf:
  pin_path: $PIN
  flow_table_size: 4096
  icmp_table_size: 1024
  ringbuf_size: 262144
collector:
  interfaces: [$veth]
  interval: 1
  idle_timeout: 5
  stats_file: $run/collector-stats.json
rules:
  file: $state/rules.json
api:
  listen: 127.0.0.1:$port
kafka:
  brokers: 127.0.0.1:$kafka_port
websocket:
  enabled: true
  listen: 127.0.0.1:$ws_port
YAML
chmod 644 "$conf"

# 1. An earlier collector as root left root-owned 0600 pins.
start_collector -c "$conf"
stop_collector
expect_eq "pins of the root run owned by root" "$(stat -c %u "$PIN/flows")" 0
# Its programs outlive it; the unit's runs below start from a bare interface.
detach_collector "$conf"
expect_detached $veth

# systemd hands StateDirectory= and RuntimeDirectory= to the unit's user.
chown -R $uid:$uid "$state" "$run"

# 2. ExecStartPre=+ guarder-prepare, as root (the unit's command line, our
#    config and user).
pre=$(get guarder-collector Service ExecStartPre)
[[ $pre == +*/guarder-prepare\ * ]] || fail "unexpected ExecStartPre: $pre"
GUARDER_API_BIN=$API sh "$units/guarder-prepare" -c "$conf" -u $uid:$uid ||
	fail "guarder-prepare failed"
expect_eq "files in the pin dir not owned by the user" \
	"$(find "$PIN" ! -uid $uid | wc -l)" 0
expect_eq "pin dir mode" "$(stat -c %a "$PIN")" 700

# 2b. No bpffs (a container, a minimal system): guarder-prepare mounts one.
#     In a private mount namespace, so this machine's bpffs is untouched.
out=$(unshare --mount --propagation private sh -c '
	umount -l /sys/fs/bpf || exit 2
	[ "$(stat -f -c %T /sys/fs/bpf)" != bpf_fs ] || exit 3
	GUARDER_API_BIN="$1" sh "$2" -c "$3" -u "$4" || exit 4
	echo "$(stat -f -c %T /sys/fs/bpf) $(stat -c %u "$5")"' _ "$API" "$units/guarder-prepare" "$conf" \
	$uid:$uid "$PIN")
expect_eq "bpffs mounted by guarder-prepare where none was, pin dir owner" "$out" "bpf_fs $uid"

caps_of() { # UNIT -> setpriv capability list (+bpf,+net_admin,...) or -all
	local c out=-all
	for c in $(get "$1" Service AmbientCapabilities); do
		c=${c#CAP_}
		out+=",+${c,,}"
	done
	echo "$out"
}
as_unit() { # UNIT CAPS CMD...: the unit's user, capabilities and no_new_privs
	local caps=$2
	shift 2
	exec setpriv --reuid=$uid --regid=$uid --clear-groups --no-new-privs \
		--inh-caps="$caps" --ambient-caps="$caps" --bounding-set="$caps" "$@"
}
# strace -o FILE, when we have it; it exits with its tracee's status.
tracer() { [ $have_strace = 1 ] && echo "strace -f -qq -o $1"; }
# The daemon under strace is strace's child: the cleanup must stop it too
# (a SIGTERM to strace alone detaches and leaves it running).
track_tracee() { [ $have_strace = 1 ] && PIDS+=($(pgrep -P "$1")); }

# 3. One capability less than the unit grants: refused, cleanly.
less=$(caps_of guarder-collector | sed 's/,+net_admin//')
RUNS=$((RUNS + 1))
C_ERR=$TMP/collector.$RUNS.err
timeout 20 bash -c "$(declare -f as_unit); uid=$uid; as_unit x '$less' '$COLLECTOR' -c '$conf'" \
	>/dev/null 2>"$C_ERR"
expect_eq "exit status without CAP_NET_ADMIN" $? 1
expect_stderr "Operation not permitted"
expect_eq "XDP left on $veth after the refused start" "$(xdp_mode_of $veth)" ""

# 4. The collector as the unit runs it.
ccaps=$(caps_of guarder-collector)
log "collector capabilities: $ccaps"
RUNS=$((RUNS + 1))
C_OUT=$TMP/collector.$RUNS.out
C_ERR=$TMP/collector.$RUNS.err
# shellcheck disable=SC2046
as_unit guarder-collector "$ccaps" $(tracer "$TMP/collector.strace") "$COLLECTOR" -c "$conf" \
	>"$C_OUT" 2>"$C_ERR" &
C_PID=$!
PIDS+=($C_PID)
wait_for 20 collector_ready || fail "the collector did not start as uid $uid with $ccaps"
track_tracee $C_PID
log "ok: the collector attached as uid $uid"
[ -n "$(xdp_mode_of $veth)" ] || fail "no XDP program on $veth"
wait_for 10 test -s "$run/collector-stats.json" || fail "no collector.stats_file in the runtime dir"
expect_eq "stats file owner" "$(stat -c %u "$run/collector-stats.json")" $uid

# 5. The API as its unit runs it.
acaps=$(caps_of guarder-api)
log "api capabilities: $acaps"
# shellcheck disable=SC2046
as_unit guarder-api "$acaps" $(tracer "$TMP/api.strace") "$API" -c "$conf" \
	>"$TMP/api.out" 2>"$TMP/api.err" &
A_PID=$!
PIDS+=($A_PID)
api() { curl -s -m 5 "$@"; }
wait_for 20 api -o /dev/null "http://127.0.0.1:$port/api/stats" ||
	fail "the API did not answer: $(cat "$TMP/api.err")"
track_tracee $A_PID

ip netns exec $ns ping -c 3 -i 0.2 -W 1 -q 10.201.$x.1 >/dev/null || fail "ping before the rule"
# A WebSocket handshake on the feed, so the trace has its accept path too.
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	"http://127.0.0.1:$ws_port/ws/flows")
expect_eq "WebSocket handshake on the collector's feed" "$code" 101
icmp=$(api "http://127.0.0.1:$port/api/stats" | jq '.packets.icmp')
[ "${icmp:-0}" -ge 6 ] || fail "the API (CAP_BPF only) reads icmp packets: $icmp"
log "ok: /api/stats read from the pins as uid $uid: $icmp ICMP packets"

code=$(api -o "$TMP/post.json" -w '%{http_code}' -X POST -H "Content-Type: application/json" \
	-d "{\"action\":\"drop\",\"enabled\":true,\"protocol\":\"icmp\",\"src_ip\":\"10.201.$x.2\",\"comment\":\"dp units\"}" \
	"http://127.0.0.1:$port/api/filters")
[ "$code" = 200 ] || [ "$code" = 201 ] || fail "POST /api/filters: $code $(cat "$TMP/post.json")"
expect_eq "rules.file owner" "$(stat -c %u "$state/rules.json")" $uid
grep -q "dp units" "$state/rules.json" || fail "the rule is not in rules.file"
if ip netns exec $ns ping -c 2 -i 0.2 -W 1 -q 10.201.$x.1 >/dev/null; then
	fail "ping passes a drop rule added through the unprivileged API"
fi
log "ok: the rule added by the API as uid $uid drops the ping"

# 5b. The AI worker as its unit runs it: no capability at all (its unit is a
#     DynamicUser; any uid without a passwd entry is what that gives).
# shellcheck disable=SC2046
as_unit guarder-ai "$(caps_of guarder-ai)" $(tracer "$TMP/ai.strace") "$AI" -c "$conf" \
	>"$TMP/ai.out" 2>"$TMP/ai.err" &
I_PID=$!
PIDS+=($I_PID)
sleep $((2 * WAIT_SCALE))
track_tracee $I_PID
kill -0 $I_PID 2>/dev/null || fail "guarder-ai exited without privileges: $(tail -5 "$TMP/ai.err")"
log "ok: guarder-ai runs with no capability"

# 6. Stop as systemd does (SIGTERM to the main process): clean exit, still attached.
stop_daemon() { # PID NAME: PID is the daemon, or strace tracing it
	local target=$1
	[ $have_strace = 1 ] && target=$(pgrep -P "$1" -n)
	kill -TERM "$target"
	wait "$1"
	expect_eq "$2 exit status after SIGTERM" $? 0
}
stop_daemon $I_PID guarder-ai
stop_daemon $A_PID guarder-api
stop_daemon $C_PID guarder-collector
# The programs outlive the collector (the filter never fails open); --detach removes them.
[ -n "$(xdp_mode_of $veth)" ] || fail "the XDP program left $veth when the collector stopped"
"$COLLECTOR" -c "$conf" --detach 2>"$TMP/detach.err" || fail "--detach: $(cat "$TMP/detach.err")"
expect_detached $veth

# 7. What they did against what the units allow.
if [ $have_strace = 1 ]; then
	for d in collector api ai; do
		python3 "$top/test/deploy/syscalls.py" "$TMP/$d.strace" \
			"$(get guarder-$d Service SystemCallFilter)" \
			"$(get guarder-$d Service RestrictAddressFamilies)" ||
			fail "guarder-$d used what its unit forbids"
	done
fi
echo "PASS: the units' privileges run the collector, the API and the AI worker"
