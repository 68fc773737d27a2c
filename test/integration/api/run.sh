#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Integration tests of guarder-api with the real collector and kernel
# program, real traffic and real clients (curl):
#
#   run.sh COLLECTOR API CASE...   (CASE: drop, restart, readme, security,
#                                   rest, bulk, protected, openapi; or "all")
#
# The topology helpers (network namespace + veth pair, config, collector
# start/stop, cleanup on exit) are the collector tests' own, in ../lib.sh,
# so both suites make and remove their namespaces the same way.
# Exit status: 0 pass, 1 fail, 77 skipped (not root, no netns, no bpffs,
# or port 8080 busy for the README case).
set -uo pipefail

HERE=$(dirname "$(realpath "$0")")
COLLECTOR=${1:?usage: run.sh COLLECTOR API CASE...}
API=$(realpath "${2:?usage: run.sh COLLECTOR API CASE...}")
shift 2
CASES=("$@")
ALL_API_CASES=(drop restart readme security rest bulk protected openapi)

COLLECTOR=$(realpath "$COLLECTOR")
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

API_RUNS=0
# Under -Db_sanitize=address,undefined, undefined behaviour stops the
# process, so the exit status checks of the cases catch it.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# api_config FILE [api keys...]: new_config plus the API on a free loopback
# port; sets APORT and BASE (new_config sets RULES).
api_config() {
	local conf=$1 key

	shift
	new_config "$conf"
	APORT=${APORT_FIXED:-$(free_port)}
	BASE=http://127.0.0.1:$APORT
	{
		echo "api:"
		echo "  listen: 127.0.0.1:$APORT"
		for key in "$@"; do
			echo "  $key"
		done
	} >>"$conf"
}

# start_api ARGS...: run guarder-api in the background until it listens.
start_api() {
	API_RUNS=$((API_RUNS + 1))
	A_ERR=$TMP/api.$API_RUNS.err
	"$API" "$@" >"$A_ERR" 2>&1 &
	A_PID=$!
	PIDS+=("$A_PID")
	wait_for 10 api_ready || fail "guarder-api did not start: $*"
}

stop_api() {
	kill -TERM "$A_PID"
	wait "$A_PID"
	expect_eq "guarder-api exit status after SIGTERM" "$?" 0
}

api_ready() {
	kill -0 "$A_PID" 2>/dev/null || fail "guarder-api exited during start-up"
	grep -q "listening on" "$A_ERR"
}

# icmp_count_in_body PROTO TYPE CODE: that counter of the last /api/stats body (0: absent).
icmp_count_in_body() {
	jq --arg p "$1" --argjson t "$2" --argjson c "$3" \
		'[.icmp_counts[] | select(.protocol == $p and .type == $t and .code == $c) | .count] | add // 0' \
		"$TMP/body"
}
icmp_count_is() { [ "$(req GET /api/stats)" = 200 ] && [ "$(icmp_count_in_body "$1" "$2" "$3")" = "$4" ]; }
header() { tr -d '\r' <"$TMP/headers" | awk -v h="$(tr 'A-Z' 'a-z' <<<"$1")" -F': ' 'tolower($1) == h { print $2 }'; }

# The three kinds of traffic from the namespace to the root end; each
# returns 0 when it got through.
ping_ok() { ip netns exec "$P_NS" ping -c 1 -W 1 -q "$P_ROOT4" >/dev/null 2>&1; }

tcp_ok() { # PORT: a connection to a listener in the root namespace
	local port=$1 srv rc

	nc -l "$P_ROOT4" "$port" >/dev/null 2>&1 &
	srv=$!
	wait_for 5 listening -ltn "$P_ROOT4" "$port" || fail "nc -l did not listen"
	ip netns exec "$P_NS" nc -z -w 2 "$P_ROOT4" "$port" >/dev/null 2>&1
	rc=$?
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	return $rc
}

udp_ok() { # PORT: 5 datagrams to a listener in the root namespace; all arrive?
	local port=$1 got

	python3 - "$P_ROOT4" "$port" >"$TMP/udp.count" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(1.5)
n = 0
try:
    while n < 5:
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n)
EOF
	local listener=$!
	wait_for 5 listening -lun "$P_ROOT4" "$port" || fail "the UDP listener did not bind"
	ip netns exec "$P_NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(b"g" * 100, (sys.argv[1], int(sys.argv[2])))' "$P_ROOT4" "$port"
	wait "$listener"
	got=$(cat "$TMP/udp.count")
	[ "$got" = 5 ]
}

rule_packets() { req GET "/api/filters/$1" >/dev/null && body .packets; }

# ---- cases ----

# A drop rule added with curl stops ping, TCP and UDP from the namespace
# at once, its counters move; disabled, everything passes again.
test_drop() {
	local id port=$((20000 + RANDOM % 20000)) before

	new_pair
	api_config "$TMP/drop.yaml"
	start_collector -c "$TMP/drop.yaml" -iface "$P_VETH"
	start_api -c "$TMP/drop.yaml"
	ping_ok || fail "ping does not pass before any rule"
	tcp_ok "$port" || fail "TCP does not pass before any rule"
	udp_ok "$port" || fail "UDP does not pass before any rule"

	expect_req "add a drop rule for the namespace" 201 POST /api/filters \
		"{\"rule_type\":\"basic\",\"src_ip\":\"$P_NS4\",\"action\":\"drop\",\"enabled\":true,\"comment\":\"it\"}"
	id=$(body .id)
	expect_eq "Location" "$(header Location)" "/api/filters/$id"
	# No wait: the rule must hold as soon as the response is in.
	ping_ok && fail "ping passes the drop rule"
	log "ok: ping dropped"
	tcp_ok "$port" && fail "TCP passes the drop rule"
	log "ok: TCP dropped"
	udp_ok "$port" && fail "UDP passes the drop rule"
	log "ok: UDP dropped"
	before=$(rule_packets "$id")
	# ping 1 + TCP SYN and retries (>= 1) + 5 datagrams
	[ "$before" -ge 7 ] || fail "the rule counted $before packets, expected at least 7"
	log "ok: rule $id counted $before packets"
	[ "$(body .bytes)" -gt 0 ] || fail "no bytes counted"
	[ "$(body .last_hit)" != null ] || fail "no last_hit"
	expect_req "stats" 200 GET /api/stats
	[ "$(body .dropped)" -ge "$before" ] || fail "stats.dropped $(body .dropped) < $before"
	log "ok: stats.dropped = $(body .dropped)"
	expect_req "metrics" 200 GET /metrics
	grep -q "^guarder_rule_hits_total{id=\"$id\",action=\"drop\"} [1-9]" "$TMP/body" ||
		fail "no hits of rule $id in /metrics"
	grep -q '^guarder_dropped_total [1-9]' "$TMP/body" || fail "no drops in /metrics"

	expect_req "disable it" 200 POST "/api/filters/$id/disable"
	expect_eq "enabled after disable" "$(body .enabled)" false
	ping_ok || fail "ping still dropped after disable"
	tcp_ok "$port" || fail "TCP still dropped after disable"
	udp_ok "$port" || fail "UDP still dropped after disable"
	log "ok: ping, TCP and UDP pass again"
	# A disabled rule leaves the kernel set, and its counters with it.
	expect_eq "counters of a disabled rule" "$(rule_packets "$id")" 0

	expect_req "enable it again" 200 POST "/api/filters/$id/enable"
	expect_eq "counters start again from 0" "$(rule_packets "$id")" 0
	ping_ok && fail "ping passes the re-enabled rule"
	expect_eq "the re-enabled rule counts" "$(rule_packets "$id")" 1
	expect_req "delete it" 200 DELETE "/api/filters/$id"
	ping_ok || fail "ping dropped after delete"
	expect_req "deleted rule is gone" 404 GET "/api/filters/$id"

	# A rule with an expiry leaves the kernel when it expires.
	expect_req "a rule expiring in 3 s" 201 POST /api/filters \
		"{\"rule_type\":\"basic\",\"src_ip\":\"$P_NS4\",\"action\":\"drop\",\"enabled\":true,\"expires_at\":\"$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)\"}"
	id=$(body .id)
	ping_ok && fail "ping passes the rule before it expires"
	wait_for 8 ping_ok || fail "the rule is still enforced after its expiry"
	log "ok: ping passes again once the rule expired"
	expect_req "the expired rule is still listed" 200 GET "/api/filters/$id"
	expect_eq "active after expiry" "$(body '"\(.enabled) \(.active)"')" "true false"
	stop_api
}

# kill -9 of both processes loses nothing: after a restart the rules are
# listed with the same ids and still enforced.
test_restart() {
	local port=$((20000 + RANDOM % 20000)) ids

	new_pair
	api_config "$TMP/restart.yaml"
	start_collector -c "$TMP/restart.yaml" -iface "$P_VETH"
	start_api -c "$TMP/restart.yaml"
	expect_req "ping block" 201 POST /api/filters \
		"{\"rule_type\":\"icmp\",\"icmp_type\":8,\"src_ip\":\"$P_NS4\",\"action\":\"drop\",\"enabled\":true}"
	expect_req "TCP port block" 201 POST /api/filters \
		"{\"rule_type\":\"tcp\",\"dst_port\":$port,\"action\":\"drop\",\"enabled\":true}"
	expect_req "a disabled rule" 201 POST /api/filters \
		'{"rule_type":"udp","dst_port":53,"action":"drop","enabled":false,"comment":"kept"}'
	expect_req "list" 200 GET /api/filters
	ids=$(body '[.[].id] | join(",")')
	jq -e '.rules | length == 3' "$RULES" >/dev/null || fail "the rules file does not hold 3 rules"
	ping_ok && fail "ping passes"

	kill -KILL "$A_PID" "$C_PID"
	wait "$A_PID" "$C_PID" 2>/dev/null
	ping_ok && fail "ping passes while both processes are dead"
	log "ok: still enforced with both processes killed"

	start_collector -c "$TMP/restart.yaml" -iface "$P_VETH"
	ping_ok && fail "ping passes after the collector restarted"
	tcp_ok "$port" && fail "TCP passes after the collector restarted"
	start_api -c "$TMP/restart.yaml"
	expect_req "list after restart" 200 GET /api/filters
	expect_eq "ids after restart" "$(body '[.[].id] | join(",")')" "$ids"
	expect_eq "the disabled rule" "$(body '.[2] | "\(.enabled) \(.comment)"')" "false kept"
	ping_ok && fail "ping passes after both restarted"
	tcp_ok "$port" && fail "TCP passes after both restarted"
	log "ok: enforced after both restarted"
	expect_req "a new rule gets a fresh id" 201 POST /api/filters \
		'{"rule_type":"udp","dst_port":54,"action":"drop"}'
	expect_eq "fresh id" "$(body .id)" 3

	# A collector that restores an older rules file (as one that read the
	# file just before the API's last save would): within a second or
	# two the API puts its own set, the file's latest, back.
	stop_collector
	mkdir -p "$TMP/stale"
	sed "s|^  file: .*|  file: $TMP/stale/rules.json|" "$TMP/restart.yaml" >"$TMP/stale.yaml"
	start_collector -c "$TMP/stale.yaml" -iface "$P_VETH"
	expect_stderr "filter: 0 rules from $TMP/stale/rules.json applied"
	# The API checks every second; 15 s leaves room for a loaded CI machine.
	wait_for 15 ping_dropped || fail "the API did not put its rules back"
	grep -q "changed outside this API" "$A_ERR" || fail "the API did not say why it re-applied"
	log "ok: the API restored its rules over a stale restore"
	tcp_ok "$port" && fail "TCP passes after the API re-applied"
	stop_api
}

ping_dropped() { ! ping_ok; }

# ex WHAT JQ_CHECK < COMMAND: run a command of the reference README as it
# is written, then check what it printed (the response body).
ex() {
	local what=$1 check=$2

	bash -e >"$TMP/out" 2>"$TMP/out.err" || fail "$what: the command failed: $(cat "$TMP/out.err")"
	jq -e "$check" "$TMP/out" >/dev/null || fail "$what: printed $(head -c 400 "$TMP/out"), which fails: $check"
	log "ok: $what"
}

# The README's curl examples, verbatim, against localhost:8080.
test_readme() {
	if ss -H -ltn 'sport = :8080' | grep -q .; then
		echo "SKIP: port 8080 is in use here; the README examples need localhost:8080" >&2
		exit $SKIP
	fi
	new_pair
	APORT_FIXED=8080 api_config "$TMP/readme.yaml"
	start_collector -c "$TMP/readme.yaml" -iface "$P_VETH"
	start_api -c "$TMP/readme.yaml"
	ip netns exec "$P_NS" ping -c 2 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"

	ex "Get Connections" 'type == "array" and (.[0] | has("key") and has("info"))' <<'EOF'
curl http://localhost:8080/api/connections
EOF
	ex "Get ICMP Traffic" 'type == "array" and length >= 1 and (.[0].key | test("ICMP"))' <<'EOF'
curl http://localhost:8080/api/icmp
EOF
	ex "Get Performance Statistics" '.total_packets >= 4' <<'EOF'
curl http://localhost:8080/api/stats
EOF
	ex "Get All Filters (none yet)" '. == []' <<'EOF'
curl http://localhost:8080/api/filters
EOF
	ex "1. Block All ICMP Ping Requests (disabled)" '.id == 0 and .icmp_type == 8 and .enabled == false' <<'EOF'
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "protocol": "icmp",
    "icmp_type": 8,
    "icmp_code": 0,
    "action": "drop",
    "enabled": false,
    "comment": "Block all ICMP ping requests (Echo Request)"
  }'
EOF
	ping_ok || fail "a disabled rule drops ping"
	ex "2. Block ICMP Destination Unreachable" '.id == 1 and .icmp_type == 3 and .icmp_code == 255' <<'EOF'
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "protocol": "icmp",
    "icmp_type": 3,
    "action": "drop",
    "enabled": true,
    "comment": "Block ICMP Destination Unreachable messages"
  }'
EOF
	ex "2. Block ICMP Source Quench" '.id == 2 and .icmp_type == 4' <<'EOF'
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "protocol": "icmp",
    "icmp_type": 4,
    "action": "drop",
    "enabled": true,
    "comment": "Block ICMP Source Quench messages"
  }'
EOF
	ex "8. Block ICMP errors containing UDP" '.id == 3 and .inner_protocol == "udp"' <<'EOF'
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "protocol": "icmp",
    "icmp_type": 3,
    "inner_protocol": "udp",
    "action": "drop",
    "enabled": true,
    "comment": "Block ICMP Destination Unreachable with inner UDP packets"
  }'
EOF
	ex "9. first command: no action, so a clear 400" '.error | test("^action: ")' <<'EOF'
# Block ICMP errors containing DNS traffic (inner UDP port 53)
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "protocol": "icmp",
    "icmp_type": 3,
    "inner_protocol": "udp",
    "inner_dst_ip": "",
    "comment": "Block ICMP errors exposing DNS queries"
  }'
EOF
	ex "9. Block UDP traceroute (Time Exceeded)" '.id == 4 and .icmp_type == 11' <<'EOF'
# Block ICMP Time Exceeded with inner UDP (traceroute detection)
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "protocol": "icmp",
    "icmp_type": 11,
    "inner_protocol": "udp",
    "action": "drop",
    "enabled": true,
    "comment": "Block UDP traceroute attempts (ICMP Time Exceeded)"
  }'
EOF
	ping_ok || fail "ping dropped before example 10"
	ex "10. Block All ICMP Echo Requests" '.id == 5 and .enabled == true' <<'EOF'
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "protocol": "icmp",
    "icmp_type": 8,
    "action": "drop",
    "enabled": true,
    "comment": "Block all ICMP Echo Requests (comprehensive ping block)"
  }'
EOF
	ping_ok && fail "example 10 does not block ping"
	log "ok: example 10 blocks ping"
	local port comment n=6
	for spec in "23|Block Telnet (insecure remote access)" \
		"135|Block RPC Endpoint Mapper (Windows vulnerability)" \
		"445|Block SMB/CIFS (ransomware vector)" "139|Block NetBIOS Session Service" \
		"1433|Block MS SQL Server (external access)" "3306|Block MySQL (external access)" \
		"3389|Block RDP (brute force target)" "5900|Block VNC (insecure remote access)"; do
		port=${spec%%|*} comment=${spec#*|}
		# Examples 4 to 7 differ only in port and comment: the same text.
		ex "4-7. $comment" ".id == $n and .dst_port == $port and .protocol == \"tcp\"" <<EOF
curl -X POST http://localhost:8080/api/filters \\
  -H "Content-Type: application/json" \\
  -d '{
    "rule_type": "tcp",
    "protocol": "tcp",
    "dst_port": $port,
    "action": "drop",
    "enabled": true,
    "comment": "$comment"
  }'
EOF
		n=$((n + 1))
	done
	tcp_ok 3306 && fail "example 6 does not block MySQL"
	tcp_ok 8081 || fail "TCP to an unlisted port is blocked"
	ex "Check if filter was added successfully" "length == $n" <<'EOF'
curl http://localhost:8080/api/filters
EOF
	ex "Update Filter: partial, keeps the match fields" \
		'.id == 0 and .icmp_type == 8 and .rule_type == "icmp" and .enabled == false and .comment == "Temporarily disabled"' <<'EOF'
curl -X PUT http://localhost:8080/api/filters/0 \
  -H "Content-Type: application/json" \
  -d '{
    "id": 0,
    "action": "drop",
    "enabled": false,
    "comment": "Temporarily disabled"
  }'
EOF
	ex "Enable" '.id == 0 and .enabled == true' <<'EOF'
# Enable
curl -X POST http://localhost:8080/api/filters/0/enable
EOF
	ex "Disable" '.id == 0 and .enabled == false' <<'EOF'
# Disable
curl -X POST http://localhost:8080/api/filters/0/disable
EOF
	ex "Delete Filter" '.id == 0 and .deleted == true' <<'EOF'
curl -X DELETE http://localhost:8080/api/filters/0
EOF
	ex "deleted" '.error | test("no rule")' <<'EOF'
curl http://localhost:8080/api/filters/0
EOF
	ex "Add ICMP filter (Testing and Debugging)" '.rule_type == "icmp" and .protocol == "icmp" and .enabled' <<'EOF'
# Add ICMP filter
curl -X POST http://localhost:8080/api/filters \
  -H "Content-Type: application/json" \
  -d '{
    "rule_type": "icmp",
    "icmp_type": 8,
    "icmp_code": 0,
    "action": "drop",
    "enabled": true,
    "comment": "Block ICMP ping requests"
  }'
EOF
	# "ping -c 1 target_ip (should be blocked)", with the namespace's target
	ip netns exec "$P_NS" ping -c 1 -W 1 "$P_ROOT4" >/dev/null 2>&1 && fail "ping not blocked"
	log "ok: ping -c 1 target_ip is blocked"
	ex "Check if service is running" '.dropped >= 1' <<'EOF'
# Check if service is running
curl http://localhost:8080/api/stats
EOF
}

# The security defaults.
test_security() {
	local token=gdr-a-$(rand_hex 12) big

	api_config "$TMP/sec.yaml" "max_body: 4096" "cors_origins: [\"https://ops.example.com\"]"
	# Not loopback, no token: refuses to start.
	API_RUNS=$((API_RUNS + 1))
	timeout 10 "$API" -c "$TMP/sec.yaml" -api "0.0.0.0:$APORT" >"$TMP/api.$API_RUNS.err" 2>&1
	expect_eq "exit status on 0.0.0.0 without a token" "$?" 1
	grep -q "refusing to listen on 0.0.0.0:$APORT without api.token" "$TMP/api.$API_RUNS.err" ||
		fail "no clear refusal: $(cat "$TMP/api.$API_RUNS.err")"
	timeout 10 "$API" -c "$TMP/sec.yaml" -api ":$APORT" >"$TMP/api.$API_RUNS.err" 2>&1
	expect_eq "exit status on :PORT without a token" "$?" 1
	timeout 10 "$API" -c "$TMP/sec.yaml" --check-config >"$TMP/check.out" 2>&1
	expect_eq "--check-config" "$?" 0
	# The collector's flag forms: -name value, --name=value; bad flags stop it.
	timeout 10 "$API" --config="$TMP/sec.yaml" -api "127.0.0.1:1" --check-config >"$TMP/flags.out" 2>&1
	expect_eq "--config=FILE -api ADDR --check-config" "$?" 0
	grep -q 'listen: "127.0.0.1:1"' "$TMP/flags.out" || fail "-api did not set api.listen"
	timeout 10 "$API" -c "$TMP/sec.yaml" --api=127.0.0.1:2 -check-config >"$TMP/flags.out" 2>&1
	grep -q 'listen: "127.0.0.1:2"' "$TMP/flags.out" || fail "--api= did not set api.listen"
	timeout 10 "$API" -c "$TMP/sec.yaml" --colour >"$TMP/flags.out" 2>&1
	expect_eq "exit status with an unknown flag" "$?" 1
	grep -q "unknown option '--colour'" "$TMP/flags.out" || fail "no clear error for a bad flag"
	timeout 10 "$API" -c "$TMP/sec.yaml" -api >"$TMP/flags.out" 2>&1
	expect_eq "exit status with -api and no value" "$?" 1
	timeout 10 "$API" -c "$TMP/sec.yaml" -api 127.0.0.1:0 >"$TMP/flags.out" 2>&1
	expect_eq "exit status with port 0" "$?" 1
	grep -q -- "-api: api.listen: port must be" "$TMP/flags.out" || fail "no clear error: $(cat "$TMP/flags.out")"
	sed 's/^  max_body: 4096/  max_body: 4096\n  default_limit: 500\n  max_limit: 100/' "$TMP/sec.yaml" >"$TMP/limits.yaml"
	timeout 10 "$API" -c "$TMP/limits.yaml" --check-config >"$TMP/limits.out" 2>&1
	expect_eq "--check-config with default_limit above max_limit" "$?" 1
	grep -q "api.default_limit (500) is above api.max_limit (100)" "$TMP/limits.out" ||
		fail "no clear error: $(cat "$TMP/limits.out")"
	grep -q "max_body: 4096" "$TMP/check.out" || fail "--check-config does not print the config"

	start_api -c "$TMP/sec.yaml"
	# DNS rebinding: a page at evil.example resolving to 127.0.0.1.
	expect_req "foreign Host" 421 GET /api/filters "" -H "Host: evil.example:$APORT"
	expect_req "Host without our port" 421 GET /api/filters "" -H "Host: localhost"
	expect_req "Host localhost:PORT" 200 GET /api/filters "" -H "Host: localhost:$APORT"
	expect_req "Host [::1]:PORT" 200 GET /api/filters "" -H "Host: [::1]:$APORT"
	# CORS
	expect_req "unknown Origin" 403 GET /api/filters "" -H "Origin: https://evil.example"
	[ -z "$(header Access-Control-Allow-Origin)" ] || fail "CORS header for an unknown origin"
	expect_req "unknown Origin, simple POST" 403 POST /api/filters/0/enable "" \
		-H "Origin: https://evil.example"
	expect_req "allowed Origin" 200 GET /api/filters "" -H "Origin: https://ops.example.com"
	expect_eq "ACAO for the allowed origin" "$(header Access-Control-Allow-Origin)" https://ops.example.com
	expect_req "preflight" 204 OPTIONS /api/filters "" -H "Origin: https://ops.example.com" \
		-H "Access-Control-Request-Method: POST"
	header Access-Control-Allow-Methods | grep -q POST || fail "preflight without methods"
	header Access-Control-Allow-Headers | grep -q Content-Type || fail "preflight without headers"
	expect_req "preflight from an unknown origin" 403 OPTIONS /api/filters "" \
		-H "Origin: https://evil.example"
	[ -z "$(header Access-Control-Allow-Origin)" ] || fail "CORS header on a refused preflight"
	# Content type and size
	expect_req "text/plain POST" 415 POST /api/filters "" -H "Content-Type: text/plain" \
		--data-binary '{"rule_type":"tcp","dst_port":1,"action":"drop"}'
	expect_req "form POST" 415 POST /api/filters "" \
		--data '{"rule_type":"tcp","dst_port":1,"action":"drop"}'
	big=$(python3 -c 'print("{\"comment\":\"" + "x" * 5000 + "\"}")')
	expect_req "oversized body" 413 POST /api/filters "$big"
	expect_req "oversized chunked body" 413 POST /api/filters "" \
		-H "Content-Type: application/json" -H "Transfer-Encoding: chunked" --data-binary "$big"
	expect_req "nothing was added" 200 GET /api/filters
	expect_eq "rules after the refusals" "$(body length)" 0
	stop_api

	# With a token: every endpoint needs it.
	printf '  token: %s\n' '${GDR_A_TOKEN}' >>"$TMP/sec.yaml"
	GDR_A_TOKEN=$token start_api -c "$TMP/sec.yaml"
	grep -q "$token" "$A_ERR" && fail "the token is in the log"
	for path in /api/filters /api/stats /api/connections /metrics /api/openapi.json /api/filters/1; do
		expect_req "no token on $path" 401 GET "$path"
		expect_eq "WWW-Authenticate" "$(header WWW-Authenticate | cut -d' ' -f1)" Bearer
	done
	expect_req "wrong token" 401 GET /api/filters "" -H "Authorization: Bearer ${token}x"
	expect_req "token prefix" 401 GET /api/filters "" -H "Authorization: Bearer ${token:0:10}"
	expect_req "Basic auth" 401 GET /api/filters "" -H "Authorization: Basic $token"
	expect_req "no token on a mutation" 401 POST /api/filters \
		'{"rule_type":"tcp","dst_port":2,"action":"drop"}'
	expect_req "right token" 200 GET /api/filters "" -H "Authorization: Bearer $token"
	expect_req "right token, mutation" 201 POST /api/filters \
		'{"rule_type":"tcp","dst_port":2,"action":"drop"}' -H "Authorization: Bearer $token"
	stop_api
	# With a token, any address is allowed.
	GDR_A_TOKEN=$token start_api -c "$TMP/sec.yaml" -api "0.0.0.0:$APORT"
	expect_req "0.0.0.0 with a token, no Host check" 200 GET /api/filters "" \
		-H "Authorization: Bearer $token" -H "Host: api.example.net"
	stop_api
}


# REST conventions: codes, Allow, [], X-Total-Count, pagination, sorting.
test_rest() {
	local i

	new_pair
	api_config "$TMP/rest.yaml" "default_limit: 3" "max_limit: 50"
	start_api -c "$TMP/rest.yaml"
	expect_req "stats before the collector" 503 GET /api/stats
	expect_req "connections before the collector" 503 GET /api/connections
	expect_req "filters work without the collector" 200 GET /api/filters
	expect_eq "empty list is []" "$(cat "$TMP/body")" "[]"
	expect_eq "X-Total-Count" "$(header X-Total-Count)" 0
	expect_req "client-chosen id" 201 POST /api/filters \
		'{"id":7,"rule_type":"udp","dst_port":9,"action":"drop","enabled":true}'
	expect_req "the same id again" 409 POST /api/filters \
		'{"id":7,"rule_type":"udp","dst_port":10,"action":"drop"}'
	expect_req "rule 7 unchanged" 200 GET /api/filters/7
	expect_eq "dst_port of 7" "$(body .dst_port)" 9
	expect_req "next id after 7" 201 POST /api/filters '{"rule_type":"udp","dst_port":11,"action":"allow"}'
	expect_eq "assigned id" "$(body .id)" 8
	expect_req "unknown field" 400 POST /api/filters '{"rule_type":"udp","action":"drop","colour":"red"}'
	body .error | grep -q '^colour' || fail "the error does not name the field: $(body .error)"
	expect_req "bad port" 400 POST /api/filters '{"rule_type":"udp","dst_port":70000,"action":"drop"}'
	body .error | grep -q '^dst_port' || fail "the error does not name dst_port: $(body .error)"
	expect_req "not JSON" 400 POST /api/filters '{"rule_type":'
	# a key twice: json-c alone would keep the last one, "allow" (issue 15)
	expect_req "a key twice" 400 POST /api/filters \
		'{"rule_type":"udp","dst_port":12,"action":"drop","action":"allow"}'
	body .error | grep -q '^body: duplicate key "action" at byte 49$' ||
		fail "the error does not name the repeated key: $(body .error)"
	expect_req "a key twice in a PUT" 400 PUT /api/filters/7 '{"comment":"a","comment":"b"}'
	body .error | grep -q 'duplicate key "comment"' ||
		fail "the PUT error does not name the repeated key: $(body .error)"
	expect_req "match-all drop" 400 POST /api/filters '{"rule_type":"tcp","action":"drop","enabled":true}'
	body .error | grep -q 'force=true' || fail "the error does not say how to force"
	expect_req "match-all drop, forced" 201 POST '/api/filters?force=true' \
		'{"rule_type":"tcp","action":"drop","enabled":false}'
	expect_req "enabling a match-all drop" 400 POST "/api/filters/$(body .id)/enable"
	expect_req "no such rule" 404 GET /api/filters/12345
	expect_req "PUT no such rule" 404 PUT /api/filters/12345 '{"comment":"x"}'
	expect_req "DELETE no such rule" 404 DELETE /api/filters/12345
	expect_req "enable no such rule" 404 POST /api/filters/12345/enable
	expect_req "bad id" 400 GET /api/filters/abc
	expect_req "no such path" 404 GET /api/nothing
	expect_req "no such sub-path" 404 POST /api/filters/7/explode
	expect_req "PATCH" 405 PATCH /api/filters/7 '{"comment":"x"}'
	expect_eq "Allow" "$(header Allow)" "GET, HEAD, PUT, DELETE, OPTIONS"
	expect_req "DELETE the list" 405 DELETE /api/filters
	expect_eq "Allow" "$(header Allow)" "GET, HEAD, POST, OPTIONS"
	expect_req "POST stats" 405 POST /api/stats '{}'
	expect_req "HEAD" 200 HEAD /api/filters "" --head
	expect_eq "HEAD: X-Total-Count" "$(header X-Total-Count)" 3
	expect_req "PUT partial" 200 PUT /api/filters/7 '{"comment":"only this"}'
	expect_eq "partial update keeps the rest" "$(body '"\(.dst_port) \(.rule_type) \(.enabled) \(.comment)"')" "9 udp true only this"
	expect_req "PUT with another id" 400 PUT /api/filters/7 '{"id":8}'
	expect_req "rule 7 alone" 200 GET /api/filters/7
	jq -S . "$TMP/body" >"$TMP/one.json"
	expect_req "rule 7 in the list" 200 GET /api/filters
	expect_eq "a rule reads the same alone and in the list" \
		"$(jq -S '.[] | select(.id == 7)' "$TMP/body")" "$(cat "$TMP/one.json")"
	jq -e '[.rules[] | select(.id == 7)][0].comment == "only this"' "$RULES" >/dev/null ||
		fail "the rules file does not hold the update"
	expect_req "unknown query parameter" 400 GET "/api/filters?limt=2"
	expect_req "limit over max_limit" 400 GET "/api/filters?limit=51"

	# Flows: 4 UDP flows of 1..4 datagrams of different sizes, 1 ping.
	start_collector -c "$TMP/rest.yaml" -iface "$P_VETH"
	for i in 1 2 3 4; do
		ip netns exec "$P_NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"u" * (50 * int(sys.argv[2])), (sys.argv[1], 9000 + int(sys.argv[2])))' "$P_ROOT4" "$i"
	done
	ip netns exec "$P_NS" ping -c 1 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	sleep 0.3
	expect_req "connections, default limit" 200 GET "/api/connections?protocol=udp"
	expect_eq "default limit (3)" "$(body length)" 3
	expect_eq "X-Total-Count of udp flows" "$(header X-Total-Count)" 4
	expect_req "sort by bytes" 200 GET "/api/connections?protocol=udp&sort=bytes&limit=10"
	expect_eq "ports by bytes, descending" "$(body '[.[].dst_port] | join(",")')" "9004,9003,9002,9001"
	expect_eq "structured fields" "$(body '.[0] | "\(.src_ip) \(.dst_ip) \(.protocol) \(.packets) \(.fwd.packets)"')" \
		"$P_NS4 $P_ROOT4 udp 4 4"
	expect_eq "reference key" "$(body '.[0].key')" "$P_NS4:$(body '.[0].src_port') -> $P_ROOT4:9004 (UDP)"
	body '.[0].info' | grep -q '^Packets: 4, Bytes: ' || fail "info: $(body '.[0].info')"
	body '.[0].last_seen' | grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T.*Z$' || fail "last_seen not RFC 3339"
	expect_req "sort by packets, offset" 200 GET "/api/connections?protocol=udp&sort=packets&limit=2&offset=1"
	expect_eq "page 2 by packets" "$(body '[.[].dst_port] | join(",")')" "9003,9002"
	# Only our UDP flows: the link's own IPv6 traffic (MLD, router
	# solicitations) adds flows at any moment.
	local all pages="" off
	expect_req "all UDP flows by last_seen" 200 GET "/api/connections?protocol=udp&limit=50"
	all=$(body '[.[].key] | join(";")')
	for off in $(seq 0 $(($(body length) - 1))); do
		expect_req "page $off of 1" 200 GET "/api/connections?protocol=udp&limit=1&offset=$off"
		pages+="${pages:+;}$(body '.[0].key')"
	done
	expect_eq "one-entry pages = the whole list" "$pages" "$all"
	expect_req "offset past the end" 200 GET "/api/connections?offset=1000"
	expect_eq "past the end is []" "$(cat "$TMP/body")" "[]"
	expect_req "port filter" 200 GET "/api/connections?port=9002"
	expect_eq "one flow on port 9002" "$(header X-Total-Count)" 1
	expect_req "ip filter" 200 GET "/api/connections?ip=$P_NS4&protocol=icmp"
	expect_eq "one ping flow from the namespace" "$(header X-Total-Count)" 1
	expect_req "ip filter, CIDR, nothing" 200 GET "/api/connections?ip=192.0.2.0/24"
	expect_eq "nothing matches is []" "$(cat "$TMP/body")" "[]"
	ip netns exec "$P_NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b"six", (sys.argv[1], 9600))' "$P_ROOT6"
	sleep 0.3
	expect_req "IPv6 flow" 200 GET "/api/connections?ip=$P_NS6&port=9600"
	expect_eq "IPv6 key" "$(body '.[0].key')" "[$P_NS6]:$(body '.[0].src_port') -> [$P_ROOT6]:9600 (UDP)"
	expect_eq "IPv6 addresses" "$(body '.[0] | "\(.src_ip) \(.dst_ip)"')" "$P_NS6 $P_ROOT6"
	expect_req "bad sort" 400 GET "/api/connections?sort=size"
	expect_req "bad limit" 400 GET "/api/connections?limit=-1"
	expect_req "bad ip" 400 GET "/api/connections?ip=10.0.0.300"
	expect_req "bad protocol" 400 GET "/api/connections?protocol=sctpx"
	expect_req "icmp view" 200 GET "/api/icmp?ip=$P_NS4"
	expect_eq "echo request from the namespace" "$(body '[.[] | select(.icmp_type == 8)] | length')" 1
	expect_req "stats with the collector" 200 GET /api/stats
	[ "$(body .packets.udp)" -ge 10 ] || fail "stats: udp packets $(body .packets.udp)"
	# ICMP type/code counts: the one echo request above; then 3 more, read
	# fresh; then a first ICMPv6 echo, listed within a second (docs/api.md).
	expect_eq "echo requests counted" "$(icmp_count_in_body icmp 8 0)" 1
	ip netns exec "$P_NS" ping -c 3 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	expect_req "stats after 3 more pings" 200 GET /api/stats
	expect_eq "echo requests counted, current" "$(icmp_count_in_body icmp 8 0)" 4
	ip netns exec "$P_NS" ping -6 -c 1 -q "$P_ROOT6" >/dev/null || fail "ping -6 failed"
	wait_for 3 icmp_count_is icmpv6 128 0 1 || fail "the ICMPv6 echo request is not listed in /api/stats"
	expect_req "metrics" 200 GET /metrics
	grep -q '^guarder_api_requests_total{endpoint="/api/filters/{id}",method="GET",code="404"} [1-9]' "$TMP/body" ||
		fail "no request count in /metrics"
	grep -q '^guarder_api_request_duration_seconds_bucket{endpoint="/api/stats",le="+Inf"} [1-9]' "$TMP/body" ||
		fail "no latency histogram in /metrics"
	grep -q '^guarder_ringbuf_fail_total ' "$TMP/body" || fail "no ring buffer losses in /metrics"
	grep -q '^guarder_malformed_total{reason=' "$TMP/body" || fail "no malformed counters in /metrics"
	grep -q '^guarder_flows{table="flows"} [1-9]' "$TMP/body" || fail "no flow count in /metrics"
	# the collector's own counters, from its collector.stats_file
	jq -e '.records.start > 0' "$STATS" >/dev/null || fail "no start records in $STATS"
	grep -q '^guarder_collector_records_total{event="start"} [1-9]' "$TMP/body" ||
		fail "no collector record counts in /metrics"
	grep -Eq '^guarder_collector_stats_age_seconds [0-2](\.|$)' "$TMP/body" ||
		fail "collector stats missing or stale in /metrics"
	grep -q '^guarder_collector_sink_emitted{sink="file"} [1-9]' "$TMP/body" ||
		fail "no file sink counters in /metrics"
	stop_api
}

# Bulk: all or nothing.
test_bulk() {
	local rules

	api_config "$TMP/bulk.yaml"
	start_api -c "$TMP/bulk.yaml"
	rules=$(python3 -c 'import json; print(json.dumps({"mode": "add", "rules": [{"rule_type": "tcp", "dst_port": 1000 + i, "action": "drop", "enabled": True} for i in range(500)]}))')
	expect_req "bulk add 500" 200 POST /api/filters/bulk "$rules"
	expect_eq "count" "$(body .count)" 500
	expect_req "list" 200 GET "/api/filters?limit=1"
	expect_eq "X-Total-Count after bulk" "$(header X-Total-Count)" 500
	rules=$(python3 -c 'import json; r = [{"rule_type": "udp", "dst_port": 5, "action": "drop"}] * 3; r[1] = {"rule_type": "udp", "dst_port": 99999, "action": "drop"}; print(json.dumps({"mode": "replace", "rules": r}))')
	expect_req "bulk with one bad rule" 400 POST /api/filters/bulk "$rules"
	body .error | grep -q '^rules\[1\]: dst_port' || fail "bulk error does not name the rule: $(body .error)"
	expect_req "bulk with a key twice in a rule" 400 POST /api/filters/bulk \
		'{"mode":"replace","rules":[{"rule_type":"udp","dst_port":5,"action":"drop","dst_port":6}]}'
	body .error | grep -q '^body: duplicate key "dst_port"' ||
		fail "bulk error does not name the repeated key: $(body .error)"
	expect_req "nothing changed" 200 GET "/api/filters?limit=1"
	expect_eq "X-Total-Count after a failed bulk" "$(header X-Total-Count)" 500
	expect_req "bulk with an existing id" 409 POST /api/filters/bulk \
		'{"mode":"add","rules":[{"id":3,"rule_type":"udp","dst_port":5,"action":"drop"}]}'
	expect_req "bulk with a duplicate id" 409 POST /api/filters/bulk \
		'{"mode":"replace","rules":[{"id":3,"rule_type":"udp","dst_port":5,"action":"drop"},{"id":3,"rule_type":"udp","dst_port":6,"action":"drop"}]}'
	expect_req "bulk without mode" 400 POST /api/filters/bulk '{"rules":[]}'
	expect_req "bulk with an unknown field" 400 POST /api/filters/bulk '{"mode":"add","rules":[],"x":1}'
	expect_req "bulk with a match-all drop" 400 POST /api/filters/bulk \
		'{"mode":"add","rules":[{"rule_type":"basic","action":"drop","enabled":true}]}'
	expect_req "bulk replace" 200 POST /api/filters/bulk \
		'{"mode":"replace","rules":[{"rule_type":"udp","dst_port":5,"action":"drop"}]}'
	expect_req "list after replace" 200 GET /api/filters
	expect_eq "one rule left" "$(body length)" 1
	jq -e '.rules | length == 1' "$RULES" >/dev/null || fail "the rules file was not replaced"
	stop_api
}

# Protected traffic: rules aimed at it are refused, and even a forced
# drop-everything rule leaves it alone in the kernel.
test_protected() {
	local port=$((20000 + RANDOM % 20000))

	new_pair
	api_config "$TMP/prot.yaml"
	sed -i "s|^rules:|rules:\n  protected_networks: [\"$P_ROOT4\"]\n  protected_ports: [22, $port]|" "$TMP/prot.yaml"
	start_collector -c "$TMP/prot.yaml" -iface "$P_VETH"
	start_api -c "$TMP/prot.yaml"
	expect_req "drop to a protected port" 400 POST /api/filters \
		'{"rule_type":"tcp","dst_port":22,"action":"drop","enabled":true}'
	body .error | grep -q '^dst_port: .*protected' || fail "error: $(body .error)"
	expect_req "drop a range with a protected port" 400 POST /api/filters \
		'{"rule_type":"tcp","dst_port":"20-30","action":"drop","enabled":true}'
	expect_req "drop to a protected address" 400 POST /api/filters \
		"{\"rule_type\":\"basic\",\"dst_ip\":\"$P_ROOT4\",\"action\":\"drop\",\"enabled\":true}"
	body .error | grep -q '^dst_ip: .*protected' || fail "error: $(body .error)"
	expect_req "allow to a protected port" 201 POST /api/filters \
		'{"rule_type":"tcp","dst_port":22,"action":"allow","enabled":true}'
	expect_req "drop to another port" 201 POST /api/filters \
		'{"rule_type":"tcp","dst_port":23,"action":"drop","enabled":true}'
	expect_req "a forced drop of everything" 201 POST '/api/filters?force=true' \
		'{"rule_type":"basic","action":"drop","enabled":true}'
	ping_ok || fail "the protected address is dropped"
	tcp_ok "$port" || fail "the protected address and port are dropped"
	log "ok: protected traffic passes a forced drop-everything rule"
	ip netns exec "$P_NS" ping -6 -c 1 -W 1 -q "$P_ROOT6" >/dev/null 2>&1 &&
		fail "the drop-everything rule does not drop unprotected traffic (IPv6)"
	log "ok: unprotected traffic (IPv6) is dropped"
	stop_api
}

# The OpenAPI document describes the real responses.
test_openapi() {
	new_pair
	api_config "$TMP/openapi.yaml"
	start_collector -c "$TMP/openapi.yaml" -iface "$P_VETH"
	start_api -c "$TMP/openapi.yaml"
	ip netns exec "$P_NS" ping -c 1 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	python3 "$HERE/openapi_check.py" "$BASE" || fail "responses do not match the OpenAPI document"
	stop_api
}

preflight
[ ${#CASES[@]} -eq 0 ] && CASES=(all)
[ "${CASES[0]}" = all ] && CASES=("${ALL_API_CASES[@]}")
for case in "${CASES[@]}"; do
	declare -F "test_$case" >/dev/null || fail "no test case '$case'"
	echo "== api $case" >&2
	"test_$case"
	echo "PASS: api $case" >&2
done
