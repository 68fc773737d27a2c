#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Integration tests of the collector's WebSocket feed /ws/flows with real
# traffic through a veth pair into a network namespace and real clients
# (Python's websockets library; curl and a raw socket where a client must
# misbehave):
#
#   run.sh COLLECTOR CASE...   (CASE: records, filters, auth, slow, stats_ping;
#                               or "all")
#
# The collector runs in the root namespace attached to the root-side veth
# only, with a record file: what the feed must carry is compared with
# what the record file got, never with numbers written here.
# Exit status: 0 pass, 1 fail, 77 skipped (not root, no netns, no bpffs).
set -uo pipefail

HERE=$(dirname "$(realpath "$0")")
COLLECTOR=${1:?usage: run.sh COLLECTOR CASE...}
shift
COLLECTOR=$(realpath "$COLLECTOR")
ALL_CASES=(records filters auth slow stats_ping)
CLIENT=$HERE/wsclient.py
CHECK=$HERE/check.py
SCHEMA=$HERE/../../../docs/record.schema.json

# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

# The Debian interpreter, which has the Debian packages python3-websockets
# and python3-jsonschema (scripts/setup.sh), whatever python3 is first in PATH.
PY=/usr/bin/python3

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

ws_preflight() {
	"$PY" -c 'import websockets, jsonschema' 2>/dev/null || {
		echo "SKIP: python3-websockets or python3-jsonschema missing (scripts/setup.sh)" >&2
		exit $SKIP
	}
	command -v curl >/dev/null || {
		echo "SKIP: curl missing" >&2
		exit $SKIP
	}
}

# lib.sh's new_pair with this suite's names (gdr-ws-*) and addresses
# (10.198/16), so that a leftover is easy to attribute.
PAIR_TAG=ws
PAIR_NET=198

# IPv4 only on the pair: no router solicitations or MLD reports, so every
# record of the case comes from its own traffic.
quiet_pair() {
	sysctl -qw "net.ipv6.conf.$P_VETH.disable_ipv6=1" || fail "cannot disable IPv6 on $P_VETH"
	ip netns exec "$P_NS" sysctl -qw "net.ipv6.conf.$P_PEER.disable_ipv6=1" ||
		fail "cannot disable IPv6 on $P_PEER"
}

# ws_config FILE [websocket keys...]: lib.sh's config (the feed on a free
# loopback port, WS_PORT) with this suite's pin directory and more keys in
# its websocket section, which comes last; sets URL.
ws_config() {
	local conf=$1 old key

	shift
	new_config "$conf"
	old=$PIN
	PIN=/sys/fs/bpf/guarder-test-ws-$(rand_hex 4)
	PINS[${#PINS[@]} - 1]=$PIN
	sed -i "s|pin_path: $old\$|pin_path: $PIN|" "$CONF"
	tail -n 2 "$CONF" | grep -q "^websocket:" || fail "lib.sh's config no longer ends with websocket:"
	for key in "$@"; do
		echo "  $key"
	done >>"$CONF"
	URL=ws://127.0.0.1:$WS_PORT/ws/flows
}

# client MODE NAME URL [ARGS...]: a client in the background, its files
# under $TMP/NAME.*; waits until it is subscribed (NAME.ready).
client() {
	local mode=$1 name=$2 url=$3

	shift 3
	"$PY" "$CLIENT" "$mode" "$url" "$TMP/$name" "$@" 2>"$TMP/$name.err" &
	PIDS+=($!)
	eval "PID_$name=$!"
	wait_for 10 test -e "$TMP/$name.ready" || {
		cat "$TMP/$name.err" >&2
		fail "client $name did not get subscribed"
	}
}

# stop_client NAME: SIGTERM, wait, and expect a clean exit.
stop_client() {
	local pid rc

	eval "pid=\$PID_$1"
	# closed by the server: it ends by itself
	[ -e "$TMP/$1.closed" ] && wait_for 5 exited "$pid"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" || {
		rc=$?
		cat "$TMP/$1.err" >&2
		fail "client $1 failed (exit status $rc)"
	}
}

lines() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# The traffic of the records and filters cases: ICMP echo over IPv4 and
# IPv6, one TCP connection and one UDP flow; sets TCP_PORT, UDP_PORT.
traffic() {
	local server

	TCP_PORT=${TCP_PORT:-$((20000 + RANDOM % 20000))}
	UDP_PORT=${UDP_PORT:-$((TCP_PORT + 1))}
	ip netns exec "$P_NS" ping -4 -c 2 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	ip netns exec "$P_NS" ping -6 -c 2 -i 0.2 -q "$P_ROOT6" >/dev/null || fail "ping -6 failed"
	head -c 5000 /dev/urandom >"$TMP/tcp.sent"
	nc -l -d "$P_ROOT4" "$TCP_PORT" >"$TMP/tcp.recv" &
	server=$!
	PIDS+=("$server")
	wait_for 5 listening -ltn "$P_ROOT4" "$TCP_PORT" || fail "nc -l did not listen"
	ip netns exec "$P_NS" nc -N -w 5 "$P_ROOT4" "$TCP_PORT" <"$TMP/tcp.sent" ||
		fail "nc client failed"
	wait_for 5 exited "$server" || fail "nc -l did not see the close"
	python3 - "$P_ROOT4" "$UDP_PORT" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(5)
for _ in range(3):
    s.recvfrom(2048)
EOF
	server=$!
	PIDS+=("$server")
	wait_for 5 listening -lun "$P_ROOT4" "$UDP_PORT" || fail "UDP listener did not bind"
	ip netns exec "$P_NS" python3 - "$P_ROOT4" "$UDP_PORT" <<'EOF' || fail "UDP sender failed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(b"x" * 100, (sys.argv[1], int(sys.argv[2])))
EOF
	wait "$server" || fail "the UDP listener missed datagrams"
	# every flow ended (idle timeout 2 s, FIN linger 1 s): all records are out
	wait_record 10 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .event==\"end\"" >/dev/null || exit 1
	wait_record 10 "$(flow_cond icmpv6 "$P_NS6" "$P_ROOT6") and .event==\"end\"" >/dev/null ||
		exit 1
	wait_record 10 "$(flow_cond tcp "$P_NS4" "$P_ROOT4") and .dst_port==$TCP_PORT and .event==\"end\"" \
		>/dev/null || exit 1
	wait_record 10 "$(flow_cond udp "$P_NS4" "$P_ROOT4") and .dst_port==$UDP_PORT and .event==\"end\"" \
		>/dev/null || exit 1
}

test_records() {
	local mark0 mark needed

	TCP_PORT= UDP_PORT=
	new_pair
	ws_config "$TMP/records.yaml" "stats_interval: 0"
	start_collector -c "$CONF" -iface "$P_VETH"
	mark0=$(lines "$REC")
	client collect all "$URL"
	mark=$(lines "$REC")
	traffic
	needed=$(lines "$REC")
	log "record file: $needed lines, $((needed - mark)) since the client subscribed"
	wait_for 10 "$PY" "$CHECK" same "$REC" "$TMP/all.records" "$mark0" "$mark" "$needed" \
		2>/dev/null || true
	stop_client all
	"$PY" "$CHECK" same "$REC" "$TMP/all.records" "$mark0" "$mark" "$needed" ||
		fail "the feed's records differ from the record file's"
	log "ok: the feed carried the record file's records, byte for byte, in order"
	"$PY" "$CHECK" schema "$SCHEMA" "$TMP/all.records" ||
		fail "a record of the feed does not validate against the schema"
	log "ok: every record validates against docs/record.schema.json"
	expect_eq "control messages" "$(jq -c . "$TMP/all.control")" '{"type":"subscribed","filter":{}}'
	stop_collector
}

test_filters() {
	local mark0 mark needed name f

	new_pair
	ws_config "$TMP/filters.yaml" "stats_interval: 0"
	start_collector -c "$CONF" -iface "$P_VETH"
	TCP_PORT=$((20000 + RANDOM % 20000))
	UDP_PORT=$((TCP_PORT + 1))
	mark0=$(lines "$REC")
	client collect tcp "$URL?protocol=tcp"
	client collect ns4 "$URL?ip=$P_NS4&event=start,end"
	client collect port "$URL?port=$TCP_PORT"
	client collect udp "$URL?protocol=udp&port=$UDP_PORT,1-1"
	client collect net6 "$URL?ip=${P_ROOT6%::1}::/64"
	# the old name of ICMPv6 still subscribes to it (the echo says icmpv6)
	client collect icmp "$URL" --send '{"protocol":["icmp","ipv6-icmp"]}'
	client collect msg "$URL" --send "{\"ip\":[\"$P_ROOT4\"],\"port\":[$TCP_PORT,\"$UDP_PORT-$UDP_PORT\"],\"event\":\"end\"}"
	mark=$(lines "$REC")
	traffic
	needed=$(lines "$REC")
	sleep 1
	for name in tcp ns4 port udp net6 icmp msg; do
		stop_client "$name"
		f=$(jq -c 'select(.type=="subscribed") | .filter' "$TMP/$name.control" | tail -n 1)
		"$PY" "$CHECK" filter "$REC" "$TMP/$name.records" "$mark0" "$mark" "$needed" "$f" ||
			fail "client $name ($f) did not get exactly the matching records"
		log "ok: $name got exactly the records matching $f ($(lines "$TMP/$name.records"))"
	done
	# each filter matched something, or the comparison proves little
	for name in tcp ns4 port udp net6 icmp msg; do
		[ "$(lines "$TMP/$name.records")" -gt 0 ] || fail "client $name got no record at all"
	done
	expect_eq "echoed URL filter" "$(jq -c 'select(.type=="subscribed") | .filter' "$TMP/udp.control")" \
		"{\"protocol\":[\"udp\"],\"port\":[$UDP_PORT,1]}"

	# bad filters: an error message, then close 1008
	bad_filter "$URL?port=99999" "" "port"
	bad_filter "$URL?colour=red" "" "unknown query parameter"
	bad_filter "$URL?a%22%5C%C3%A9=1" "" "unknown query parameter" # a"\é: still valid JSON
	bad_filter "$URL?ip=10.0.0.1/8" "" "host bits"
	bad_filter "$URL" '{"protocol":"bogus"}' "protocol"
	bad_filter "$URL" '{"event":["start","explode"]}' "event"
	bad_filter "$URL" 'not json' "not one JSON object"
	bad_filter "$URL" '{"port":[]}' "empty list"
	bad_filter "$URL" "{\"ip\":\"$(printf '%05000d' 0)\"}" "longer than 4096 bytes"
	stop_collector
}

# bad_filter URL MESSAGE EXPECTED_TEXT
bad_filter() {
	local name=bad$((++BAD)) send=()

	[ -n "$2" ] && send=(--send "$2")
	"$PY" "$CLIENT" collect "$1" "$TMP/$name" "${send[@]}" 2>"$TMP/$name.err" &
	PIDS+=($!)
	wait_for 10 test -e "$TMP/$name.closed" || fail "bad filter $1 $2: not closed"
	expect_eq "close of bad filter $1 $2" "$(cut -d' ' -f1 "$TMP/$name.closed")" 1008
	jq -e --arg t "$3" 'select(.type=="error") | .error | contains($t)' "$TMP/$name.control" \
		>/dev/null || fail "bad filter $1 $2: no error message containing '$3'"
	[ "$(lines "$TMP/$name.records")" = 0 ] || fail "bad filter $1 $2: got records"
	log "ok: error '$(jq -r 'select(.type=="error") | .error' "$TMP/$name.control")'"
}
BAD=0

ws_status() { # URL [ARGS...] -> the handshake's HTTP status
	"$PY" "$CLIENT" status "$@"
}

# An upgrade request by curl, which lets us set any Host.
curl_upgrade() { # URL [curl args...] -> HTTP status
	local url=${1/ws:/http:}

	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Connection: Upgrade' \
		-H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
		-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$@" "$url"
}

refused_is() { [ "$(jq .sinks.websocket.refused "$STATS" 2>/dev/null)" = "$1" ]; }

test_auth() {
	local token good=http://dash.example:8000 conf

	new_pair
	token=$(rand_hex 16)
	ws_config "$TMP/auth.yaml" "stats_interval: 0" "max_clients: 2" "origins: [$good]"
	printf 'api:\n  token: %s\n' "$token" >>"$CONF"
	start_collector -c "$CONF" -iface "$P_VETH"

	expect_eq "no token" "$(ws_status "$URL")" 401
	expect_eq "wrong token" "$(ws_status "$URL" --header "Authorization: Bearer x$token")" 401
	expect_eq "wrong token in the URL" "$(ws_status "$URL?token=x$token")" 401
	expect_eq "token of another length" "$(ws_status "$URL" --header "Authorization: Bearer ${token:0:8}")" 401
	expect_eq "right token" "$(ws_status "$URL" --header "Authorization: Bearer $token")" 101
	expect_eq "right token in the URL" "$(ws_status "$URL?token=$token")" 101
	expect_eq "unknown Origin" \
		"$(ws_status "$URL" --header "Authorization: Bearer $token" --origin http://evil.example)" 403
	expect_eq "unknown Origin without token" "$(ws_status "$URL" --origin http://evil.example)" 403
	expect_eq "configured Origin" \
		"$(ws_status "$URL?token=$token" --origin "$good")" 101
	expect_eq "another path" "$(ws_status "${URL%/flows}/other?token=$token")" 404
	expect_eq "DNS rebinding (Host)" \
		"$(curl_upgrade "$URL?token=$token" -H "Host: evil.example:$WS_PORT")" 421
	expect_eq "plain HTTP GET of the feed" \
		"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WS_PORT/ws/flows")" 426
	expect_eq "plain HTTP GET elsewhere" \
		"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WS_PORT/")" 404

	client collect one "$URL?token=$token"
	client collect two "$URL" --header "Authorization: Bearer $token"
	expect_eq "max_clients + 1" "$(ws_status "$URL?token=$token")" 503
	stop_client one
	wait_for 5 test "$(ws_status "$URL?token=$token")" = 101 ||
		fail "a place freed by a client is not offered again"
	log "ok: a freed place is taken again"
	stop_client two
	# 11 refused above: 4 x 401, 2 x 403, 2 x 404, 421, 426, 503
	wait_for 5 refused_is 11 || fail "refused handshakes not counted: $(jq -c .sinks.websocket "$STATS")"
	log "ok: feed counters $(jq -c .sinks.websocket "$STATS")"
	stop_collector
	expect_kept "$P_VETH"

	# not loopback, no token: the collector refuses to start, attaching nothing
	conf=$TMP/open.yaml
	ws_config "$conf"
	sed -i "s|listen: 127.0.0.1:$WS_PORT|listen: $P_ROOT4:$WS_PORT|" "$conf"
	run_collector_fails -c "$conf" -iface "$P_VETH"
	expect_stderr "websocket.listen $P_ROOT4:$WS_PORT is not a loopback address and api.token is unset"
	expect_stderr "cannot start the WebSocket feed"
	expect_detached "$P_VETH"

	# the port is taken: the collector says so and exits, leaking nothing
	conf=$TMP/busy.yaml
	ws_config "$conf"
	nc -l 127.0.0.1 "$WS_PORT" >/dev/null &
	PIDS+=($!)
	wait_for 5 listening -ltn 127.0.0.1 "$WS_PORT" || fail "nc -l did not listen"
	run_collector_fails -c "$conf" -iface "$P_VETH"
	expect_stderr "websocket: cannot listen on 127.0.0.1:$WS_PORT: Address already in use"
	grep -q LeakSanitizer "$C_ERR" && fail "a leak on the refusal path"
	expect_detached "$P_VETH"
}

# The collector's resident set, in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$C_PID/status"; }

test_slow() {
	local mark total waves=12 per=400 rss0 rss_mid rss1 i t

	new_pair
	quiet_pair
	# The ring holds one sweep's burst of end records (per < 1024) so that
	# a client that reads loses nothing; a client that stops is lapped.
	ws_config "$TMP/slow.yaml" "stats_interval: 0" "queue_records: 1024" "max_message: 4096" \
		"ping_interval: 600"
	# A sanitizer build keeps freed memory in quarantine; a small one lets RSS say
	# what is really kept.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4 \
		start_collector -c "$CONF" -iface "$P_VETH"
	client collect fast "$URL"
	client slow slow "$URL"
	client slow stuck "$URL" # never resumes: still stalled at shutdown
	mark=$(lines "$REC")
	rss0=$(rss_kb)
	for ((i = 0; i < waves; i++)); do
		# $per short UDP flows, one datagram each from its own port
		ip netns exec "$P_NS" python3 - "$P_ROOT4" "$per" <<'EOF' || fail "UDP flood failed"
import socket, sys
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", (sys.argv[1], 9))
    s.close()
EOF
		sleep 0.5
		[ $i = $((waves / 2)) ] && rss_mid=$(rss_kb)
	done
	# every flow that started has ended (idle timeout 2 s)
	wait_for 15 "$PY" "$CHECK" settled "$REC" "$mark" || fail "flows still open"
	[ "$(($(lines "$REC") - mark))" -ge "$((waves * per))" ] ||
		fail "only $(($(lines "$REC") - mark)) records for $((waves * per)) datagrams"
	total=$(($(lines "$REC") - mark))
	rss1=$(rss_kb)
	log "records since the clients subscribed: $total; collector RSS $rss0 -> $rss_mid (half way) -> $rss1 kB"
	# the ring is full from the first waves on: the second half adds nothing
	[ $((rss1 - rss_mid)) -lt 4096 ] || fail "the collector grew by $((rss1 - rss_mid)) kB in the second half"
	wait_for 10 test "$(lines "$TMP/fast.records")" -ge "$total" || true
	expect_eq "records of the fast client" "$(lines "$TMP/fast.records")" "$total"
	"$PY" "$CHECK" same "$REC" "$TMP/fast.records" "$mark" "$mark" "$((mark + total))" ||
		fail "the fast client's records differ from the file's"
	touch "$TMP/slow.resume"
	wait_for 20 "$PY" "$CHECK" slow "$REC" "$TMP/slow.records" "$TMP/slow.control" "$mark" \
		"$total" 2>/dev/null || true
	"$PY" "$CHECK" slow "$REC" "$TMP/slow.records" "$TMP/slow.control" "$mark" "$total" ||
		fail "the slow client's records + missed do not add up"
	stop_client fast
	stop_client slow
	# a stalled subscriber does not hold the shutdown (1 s flush, 1 s for the close)
	t=$SECONDS
	stop_collector
	[ $((SECONDS - t)) -le 4 ] || fail "the collector took $((SECONDS - t)) s to stop"
	log "ok: stopped in $((SECONDS - t)) s with a stalled subscriber"
	stop_client stuck
}

test_stats_ping() {
	local t n

	new_pair
	ws_config "$TMP/stats.yaml" "stats_interval: 2" "ping_interval: 1"
	start_collector -c "$CONF" -iface "$P_VETH"
	client collect live "$URL"
	client deaf deaf "$URL"
	sleep 7
	wait_for 5 test -e "$TMP/deaf.closed" || fail "a peer that never answers pings was not dropped"
	t=$(cat "$TMP/deaf.closed")
	log "the deaf peer got $(cat "$TMP/deaf.pings" 2>/dev/null || echo 0) pings, dropped after $t s"
	[ -s "$TMP/deaf.pings" ] || fail "the server sent no ping"
	python3 -c "import sys; t = float(sys.argv[1]); sys.exit(not 1.5 <= t <= 6)" "$t" ||
		fail "dropped after $t s; expected about 2 (two ping intervals)"
	[ ! -e "$TMP/live.closed" ] || fail "the client that answers pings was dropped: $(cat "$TMP/live.closed")"
	log "ok: the client that answers pings is still connected"
	n=$(jq -c 'select(.type=="stats")' "$TMP/live.control" | wc -l)
	[ "$n" -ge 3 ] && [ "$n" -le 6 ] || fail "$n stats frames in 8 to 10 s; expected 3 to 6 (every 2 s)"
	"$PY" "$CHECK" stats "$TMP/live.control" 2 || fail "stats frames"
	# shutdown: the subscriber is told "going away"
	stop_collector
	wait_for 5 test -e "$TMP/live.closed" || fail "no close frame at shutdown"
	expect_eq "close code at shutdown" "$(cut -d' ' -f1 "$TMP/live.closed")" 1001
	stop_client live
}

ws_preflight
preflight
[ $# -eq 0 ] && set -- all
[ "$1" = all ] && set -- "${ALL_CASES[@]}"
for case in "$@"; do
	declare -F "test_$case" >/dev/null || fail "no test case '$case'"
	echo "== $case" >&2
	"test_$case"
	echo "PASS: $case" >&2
done
