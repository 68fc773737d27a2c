#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What the integration suites share: the network namespace + veth topology,
# the collector config, starting and stopping the collector, assertions and
# the cleanup that removes everything on exit. Sourced by run.sh and
# api/run.sh after they set COLLECTOR (absolute path of guarder-collector).
# shellcheck shell=bash

SKIP=77
# Every wait below is a deadline for something that normally happens in well
# under a second; the scale gives a loaded machine (CI, sanitizers, two
# shared cores) room without slowing a passing run.
WAIT_SCALE=${WAIT_SCALE:-3}
NETNS=()
LINKS=()
PINS=()
PIDS=()
TMP=
RUNS=0

log() { printf '  %s\n' "$*" >&2; }

cleanup() {
	local pid i n ns

	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		# A collector detaches on SIGTERM; give it a moment, then force.
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# Deleting a veth also removes any program left attached to it.
	for n in "${LINKS[@]}"; do
		ip link del "$n" 2>/dev/null
	done
	for ns in "${NETNS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	for n in "${PINS[@]}"; do
		rm -rf "$n"
	done
	# a suite that sourced test/kafka/kafka.sh: no broker outlives it
	declare -F kafka_stop >/dev/null && kafka_stop
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# fail MESSAGE: print what the collector and guarder-api said (and the
# record files), then stop the case.
fail() {
	local f

	echo "FAIL: $*" >&2
	for f in "$TMP"/collector.*.err "$TMP"/api.*.err "$TMP"/*.jsonl; do
		[ -s "$f" ] || continue
		echo "--- $f (last 30 lines)" >&2
		tail -n 30 "$f" >&2
	done
	exit 1
}

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
	[ "$2" == "$3" ] || fail "$1: got '$2', expected '$3'"
	log "ok: $1 = $3"
}

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# wait_for SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_for() {
	local deadline=$((SECONDS + $1 * WAIT_SCALE))

	shift
	while ! "$@"; do
		[ $SECONDS -ge "$deadline" ] && return 1
		sleep 0.1
	done
	return 0
}

preflight() {
	local probe

	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root (network namespaces, BPF)" >&2
		exit $SKIP
	fi
	for tool in ip tc jq bpftool python3 ping nc; do
		command -v "$tool" >/dev/null || {
			echo "SKIP: $tool not installed (scripts/setup.sh installs it)" >&2
			exit $SKIP
		}
	done
	probe=gdr-it-probe-$(rand_hex 4)
	if ! ip netns add "$probe" 2>/dev/null; then
		echo "SKIP: cannot create network namespaces" >&2
		exit $SKIP
	fi
	ip netns del "$probe"
	if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != "bpf_fs" ]; then
		echo "SKIP: no bpffs at /sys/fs/bpf (scripts/setup.sh mounts it)" >&2
		exit $SKIP
	fi
	TMP=$(mktemp -d /tmp/guarder-it.XXXXXX)
	chmod 755 "$TMP"
}

# new_pair: a netns and a veth pair; sets P_NS, P_VETH (root side),
# P_PEER, P_ROOT4/P_NS4 and P_ROOT6/P_NS6 (addresses of each end). A suite
# may set PAIR_TAG (names gdr-TAG-*, default "it") and PAIR_NET (addresses
# in 10.NET.0.0/16, default 199), so that a leftover is easy to attribute.
new_pair() {
	local id x tries=0 tag=${PAIR_TAG:-it} net=${PAIR_NET:-199}

	id=$(rand_hex 3)
	# A /30 of 10.NET.0.0/16 that no interface of the root namespace uses.
	while :; do
		x=$((RANDOM % 254 + 1))
		ip -4 -o addr show | grep -q " 10\.$net\.$x\." || break
		tries=$((tries + 1))
		[ $tries -lt 50 ] || fail "no free 10.$net.x.0/30"
	done
	P_NS=gdr-$tag-$id
	P_VETH=gd$tag${id}r
	P_PEER=gd$tag${id}n
	P_ROOT4=10.$net.$x.1
	P_NS4=10.$net.$x.2
	P_ROOT6=fd99:$net:$x::1
	P_NS6=fd99:$net:$x::2

	ip netns add "$P_NS" || fail "ip netns add $P_NS"
	NETNS+=("$P_NS")
	ip link add "$P_VETH" type veth peer name "$P_PEER" || fail "ip link add $P_VETH"
	LINKS+=("$P_VETH")
	ip link set "$P_PEER" netns "$P_NS"
	ip addr add "$P_ROOT4/30" dev "$P_VETH"
	ip -6 addr add "$P_ROOT6/64" dev "$P_VETH" nodad
	ip link set "$P_VETH" up
	ip -n "$P_NS" link set lo up
	ip -n "$P_NS" addr add "$P_NS4/30" dev "$P_PEER"
	ip -n "$P_NS" -6 addr add "$P_NS6/64" dev "$P_PEER" nodad
	ip -n "$P_NS" link set "$P_PEER" up
	wait_for 5 ip netns exec "$P_NS" ping -c 1 -W 1 -q "$P_ROOT4" >/dev/null ||
		fail "the veth pair does not pass traffic"
}

# new_dummy: an Ethernet interface with no traffic (one end of a veth
# pair: not every kernel has the dummy driver), for --check-config, which
# needs an interface that exists and may be attached to; sets DUMMY.
new_dummy() {
	DUMMY=gdr-dm-$(rand_hex 3)
	ip link add "$DUMMY" type veth peer name "${DUMMY}p" ||
		fail "ip link add $DUMMY type veth"
	LINKS+=("$DUMMY")
}

# req METHOD PATH [BODY [CURL ARGS...]]: an HTTP request to $BASE (the API
# under test); status code on stdout, body in $TMP/body, headers in
# $TMP/headers. JSON content type when there is a body. Time limit:
# REQ_TIMEOUT seconds (default 10).
req() {
	local method=$1 path=$2 body=${3-} args=()

	shift 3 2>/dev/null || shift $#
	[ -n "$body" ] && args+=(-H "Content-Type: application/json" --data-binary "$body")
	curl -s -S -m "${REQ_TIMEOUT:-10}" -X "$method" -o "$TMP/body" -D "$TMP/headers" \
		-w '%{http_code}' "${args[@]}" "$@" "$BASE$path"
}

# expect_req WHAT CODE METHOD PATH [BODY [CURL ARGS...]]
expect_req() {
	local what=$1 want=$2 got

	shift 2
	got=$(req "$@")
	[ "$got" = "$want" ] || fail "$what: HTTP $got, expected $want; body: $(head -c 600 "$TMP/body")"
	log "ok: $what -> $want"
}

body() { jq -r "$1" "$TMP/body"; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# new_config FILE [extra collector keys...]: a config with a unique pin
# directory, small maps and short timeouts, its own stats file, its own
# rules file and the WebSocket feed on a free loopback port, so that a test
# never reads or writes the state of a Guarder that runs on this machine;
# sets CONF, PIN, REC, STATS, RULES and WS_PORT.
new_config() {
	local key

	CONF=$1
	shift
	PIN=/sys/fs/bpf/guarder-it-$(rand_hex 4)
	PINS+=("$PIN")
	REC=$TMP/records.$((RUNS + 1)).jsonl
	STATS=$TMP/stats.$((RUNS + 1)).json
	WS_PORT=$(free_port)
	RULES=$TMP/rules-$(rand_hex 3)/rules.json
	{
		echo "node:"
		echo "  name: it-node"
		echo "bpf:"
		echo "  pin_path: $PIN"
		echo "  flow_table_size: 4096"
		echo "  icmp_table_size: 1024"
		echo "  ringbuf_size: 262144"
		echo "collector:"
		echo "  interval: 1"
		echo "  sweep_interval: 1"
		echo "  idle_timeout: 2"
		echo "  close_linger: 1"
		echo "  console: true"
		echo "  record_file: $REC"
		echo "  stats_file: $STATS"
		for key in "$@"; do
			echo "  $key"
		done
		echo "rules:"
		echo "  file: $RULES"
		# last, so that a suite may append websocket keys
		echo "websocket:"
		echo "  listen: 127.0.0.1:$WS_PORT"
	} >"$CONF"
}

# start_collector ARGS...: run it in the background and wait until it has
# attached everything; sets C_PID, C_OUT, C_ERR.
start_collector() {
	RUNS=$((RUNS + 1))
	C_OUT=$TMP/collector.$RUNS.out
	C_ERR=$TMP/collector.$RUNS.err
	"$COLLECTOR" "$@" >"$C_OUT" 2>"$C_ERR" &
	C_PID=$!
	PIDS+=("$C_PID")
	wait_for 15 collector_ready || fail "the collector did not start: $*"
}

collector_ready() {
	kill -0 "$C_PID" 2>/dev/null || fail "the collector exited during start-up"
	grep -q "Ctrl-C or SIGTERM stops" "$C_ERR"
}

# stop_collector [SIGNAL]: SIGTERM by default; expects exit status 0.
stop_collector() {
	local rc

	kill -"${1:-TERM}" "$C_PID"
	wait "$C_PID"
	rc=$?
	expect_eq "exit status after SIG${1:-TERM}" "$rc" 0
}

# run_collector_fails ARGS...: run it in the foreground, expect status 1;
# sets C_ERR to its stderr.
run_collector_fails() {
	local rc

	RUNS=$((RUNS + 1))
	C_OUT=$TMP/collector.$RUNS.out
	C_ERR=$TMP/collector.$RUNS.err
	timeout 20 "$COLLECTOR" "$@" >"$C_OUT" 2>"$C_ERR"
	rc=$?
	expect_eq "exit status of a failing run" "$rc" 1
}

expect_stderr() {
	grep -qF -- "$1" "$C_ERR" || fail "the collector did not say: $1"
	log "ok: says '$1'"
}

# The XDP mode attached to a link: 1 native, 2 generic, empty if none.
xdp_mode_of() { ip -j link show dev "$1" | jq -r '.[0].xdp.mode // empty'; }

expect_detached() {
	expect_eq "XDP program on $1" "$(xdp_mode_of "$1")" ""
	expect_eq "tc egress filters on $1" "$(tc filter show dev "$1" egress)" ""
}

# xdp_prog_of IFACE: the id of the XDP program attached there, or empty.
xdp_prog_of() { ip -j link show dev "$1" | jq -r '.[0].xdp.prog.id // empty'; }

# detach_collector [CONF]: guarder-collector --detach (default $CONF);
# expects status 0. Its output goes to $TMP/detach.N.err, so that C_ERR
# still holds the last collector's.
detach_collector() {
	local n=$((RUNS + 1)) rc

	timeout 20 "$COLLECTOR" -c "${1:-$CONF}" --detach >"$TMP/detach.$n.out" 2>"$TMP/detach.$n.err"
	rc=$?
	[ "$rc" = 0 ] || fail "--detach exited $rc: $(cat "$TMP/detach.$n.err")"
	log "ok: --detach"
}

# expect_kept IFACE...: the collector stopped, and its programs still
# filter every IFACE (the filter never fails open); --detach then removes
# them from all of them.
expect_kept() {
	local i

	for i in "$@"; do
		[ -n "$(xdp_mode_of "$i")" ] || fail "the XDP program left $i when the collector stopped"
		log "ok: XDP still attached to $i with no collector running"
	done
	detach_collector
	for i in "$@"; do
		expect_detached "$i"
	done
}

# record JQ_CONDITION: the last record matching, as one JSON line.
record() { jq -c "select($1)" "$REC" 2>/dev/null | tail -n 1; }

# wait_record SECONDS JQ_CONDITION: wait until a record matches; print it.
wait_record() {
	local r deadline=$((SECONDS + $1 * WAIT_SCALE))

	while :; do
		r=$(record "$2")
		[ -n "$r" ] && break
		[ $SECONDS -ge "$deadline" ] && fail "no record matching: $2"
		sleep 0.2
	done
	echo "$r"
}

# listening SS_FLAGS ADDR PORT: a socket of the root namespace is bound there.
listening() { ss -H "$1" "src $2:$3" | grep -q .; }
exited() { ! kill -0 "$1" 2>/dev/null; }

flow_cond() { # PROTO SRC DST -> jq condition for that flow and event
	echo ".proto==\"$1\" and .src_ip==\"$2\" and .dst_ip==\"$3\""
}

# snmp NS GROUP FIELD: a counter of the namespace's own IP stack.
snmp() {
	ip netns exec "$1" awk -v g="$2:" -v f="$3" '
		$1 == g && !hdr { for (i = 2; i <= NF; i++) col[$i] = i; hdr = 1; next }
		$1 == g && hdr { print $col[f]; exit }' /proc/net/snmp
}

# Sum of a per-CPU global counter in the pinned stats map.
stat_sum() { # JQ_PATH under .value, e.g. ".packets[2]"
	bpftool map dump pinned "$PIN/stats" -j | jq "[.[0].formatted.values[].value$1] | add"
}

# pinned_flow_packets ECHO_ID: "pkts_dir0 pkts_dir1" of that ICMP echo flow
# in the pinned flow table, read with bpftool (not with our code).
pinned_flow_packets() {
	bpftool map dump pinned "$PIN/flows" -j |
		jq -r --argjson p "$1" '.[] | .formatted | select(.key.proto == 1 and .key.port_lo == $p) |
			"\(.value.dir[0].packets) \(.value.dir[1].packets)"'
}

pinned_flow_is() { [ "$(pinned_flow_packets "$1")" = "$2" ]; }
icmp_total_is() { [ "$(stat_sum ".packets[2]")" = "$1" ]; }
