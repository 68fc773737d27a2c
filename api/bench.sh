#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark of guarder-api on loopback (a benchmark, not a test):
#
#   api/bench.sh BUILD_DIR [SECONDS]
#
# Runs the collector on a veth pair into a network namespace (the
# integration tests' helpers) and the API beside it, then measures:
#   1. GET /api/stats with wrk (2 threads, 32 connections): req/s, p50, p99;
#   2. GET /api/filters with 100 rules, the same way;
#   3. POST /api/filters/bulk of 10,000 rules (replace): wall time, 3 runs;
#   4. POST-response-to-enforcement: a ping flood (2 ms apart) from the
#      namespace, a drop rule POSTed, and the time from the response to the
#      last echo reply; 5 runs. Negative or 0: enforced before the response;
#   5. GET /api/connections on a table filled with FLOWS synthetic flows
#      (default 500,000; api/bench_fill.py): time and the API's peak RSS.
# Needs root, wrk, curl, jq, python3.
set -uo pipefail

BUILD=$(realpath "${1:?usage: api/bench.sh BUILD_DIR [SECONDS]}")
DUR=${2:-10}
FLOWS=${FLOWS:-500000}
HERE=$(dirname "$(realpath "$0")")
API=$BUILD/api/guarder-api
COLLECTOR=$BUILD/collector/guarder-collector
# The integration tests' topology helpers (netns + veth, config, collector).
# shellcheck source=../test/integration/lib.sh
source "$HERE/../test/integration/lib.sh"

command -v wrk >/dev/null || { echo "wrk is not installed (scripts/setup.sh)" >&2; exit 1; }
preflight
new_pair
new_config "$TMP/bench.yaml"
sed -i "s/flow_table_size: .*/flow_table_size: $((FLOWS + 65536))/" "$TMP/bench.yaml"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
printf 'api:\n  listen: 127.0.0.1:%s\n  threads: 2\n' "$PORT" >>"$TMP/bench.yaml"
start_collector -c "$TMP/bench.yaml" -iface "$P_VETH"
"$API" -c "$TMP/bench.yaml" 2>"$TMP/api.err" &
API_PID=$!
PIDS+=($API_PID)
wait_for 10 grep -q "listening on" "$TMP/api.err" || fail "guarder-api did not start"
ip netns exec "$P_NS" ping -c 3 -i 0.2 -q "$P_ROOT4" >/dev/null

post() { curl -s -o "$TMP/out" -w '%{http_code} %{time_total}' -X POST -H 'Content-Type: application/json' --data-binary "@$2" "$BASE$1"; }

bench_wrk() { # PATH LABEL
	wrk -t2 -c32 -d"${DUR}s" --latency "$BASE$1" >"$TMP/wrk.out" 2>&1 || fail "wrk failed"
	awk -v l="$2" '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
		/Non-2xx/ { bad = $NF } END { printf "%-34s %10s req/s   p50 %8s   p99 %8s%s\n", l, rps, p50, p99, bad ? "   NON-2XX: " bad : "" }' "$TMP/wrk.out"
}

echo "== guarder-api on loopback, $(nproc) CPUs, wrk -t2 -c32 -d${DUR}s"
bench_wrk /api/stats "GET /api/stats"
python3 -c 'import json; print(json.dumps({"mode": "replace", "rules": [{"rule_type": "tcp", "dst_port": 1 + i, "action": "drop", "enabled": True} for i in range(100)]}))' >"$TMP/r100.json"
post /api/filters/bulk "$TMP/r100.json" >/dev/null
bench_wrk /api/filters "GET /api/filters (100 rules)"

python3 -c 'import json; print(json.dumps({"mode": "replace", "rules": [{"rule_type": "tcp", "src_ip": "10.%d.%d.0/24" % (i // 256, i % 256), "dst_port": 1 + i % 60000, "action": "drop", "enabled": True} for i in range(10000)]}))' >"$TMP/r10k.json"
for run in 1 2 3; do
	read -r code t < <(post /api/filters/bulk "$TMP/r10k.json")
	[ "$code" = 200 ] || fail "bulk load: HTTP $code $(head -c 300 "$TMP/out")"
	printf 'bulk load of 10,000 rules (replace), run %d: %6.0f ms (%s bytes)\n' "$run" \
		"$(awk -v t="$t" 'BEGIN { print t * 1000 }')" "$(stat -c %s "$TMP/r10k.json")"
done
bench_wrk "/api/filters?limit=100" "GET /api/filters?limit=100 (10k)"

# Enforcement: the replies stop no later than the response.
echo '{"mode":"replace","rules":[]}' >"$TMP/r0.json"
printf '{"rule_type":"icmp","icmp_type":8,"src_ip":"%s","action":"drop","enabled":true}' "$P_NS4" >"$TMP/drop.json"
for run in 1 2 3 4 5; do
	post /api/filters/bulk "$TMP/r0.json" >/dev/null
	ip netns exec "$P_NS" ping -D -i 0.002 -W 1 "$P_ROOT4" >"$TMP/ping.out" 2>&1 &
	pinger=$!
	sleep 0.5
	post /api/filters "$TMP/drop.json" >/dev/null
	t_resp=$(date +%s.%N)
	sleep 0.3
	kill -INT "$pinger"
	wait "$pinger" 2>/dev/null
	last=$(grep -o '^\[[0-9.]*\] [0-9]* bytes from' "$TMP/ping.out" | tail -n 1 | tr -d '[]' | cut -d' ' -f1)
	[ -n "$last" ] || fail "no echo reply before the rule"
	printf 'POST response -> last echo reply, run %d: %+.2f ms (ping every 2 ms)\n' "$run" \
		"$(awk -v a="$last" -v b="$t_resp" 'BEGIN { print (a - b) * 1000 }')"
done

# A big table: the listing walks it all, keeps one page.
python3 "$HERE/bench_fill.py" "$PIN" "$FLOWS" || fail "cannot fill the flow table"
for q in "" "?sort=bytes&limit=10" "?ip=10.0.0.0/16&sort=packets&limit=100"; do
	read -r code t < <(curl -s -o "$TMP/out" -D "$TMP/hdr" -w '%{http_code} %{time_total}' "$BASE/api/connections$q")
	[ "$code" = 200 ] || fail "GET /api/connections$q: HTTP $code"
	printf 'GET /api/connections%-40s %6.0f ms, %s of %s flows, %s bytes\n' "$q" \
		"$(awk -v t="$t" 'BEGIN { print t * 1000 }')" "$(jq length "$TMP/out")" \
		"$(tr -d '\r' <"$TMP/hdr" | awk -F': ' 'tolower($1) == "x-total-count" { print $2 }')" \
		"$(stat -c %s "$TMP/out")"
done
echo "guarder-api peak RSS: $(awk '/VmHWM/ { print $2, $3 }' /proc/$API_PID/status)"
