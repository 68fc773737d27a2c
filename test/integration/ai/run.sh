#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Integration tests of guarder-ai with a real Apache Kafka broker
# (test/kafka/kafka.sh, one per case) and clients written by others (kcat
# produces the records, kcat and confluent-kafka read the suggestions and
# the committed offsets).
#
#   run.sh GUARDER_AI COLLECTOR CASE   (CASE: crafted, group, model, packets,
#                                       check_config)
#
#   crafted  records crafted by records.py, produced with kcat: one
#            suggestion per attack kind with the expected rule, none for a
#            normal mix from another node, bad records counted and skipped,
#            offsets committed up to the end at SIGTERM
#   group    two workers in one consumer group split a 4-partition topic:
#            disjoint non-empty sets that cover it, every record read once;
#            when one stops, the other takes over from its committed offsets
#   model    a model configured (the test-only stand-in of
#            test/integration/ai_api/model_server.py): every ai.model.interval
#            the worker sends a bounded summary (aggregates and findings,
#            no raw record), publishes the answer's rules as an origin
#            "model" suggestion, and a match-all drop as rejected_by_policy
#   check_config  -check-config prints the effective config with secrets
#            redacted and exits 0; a config without kafka.brokers, a bad
#            key and a bad flag exit 1 with a message naming the problem
#   packets  real packets through a veth pair into a netns, the collector
#            (Kafka sink on) attached to the root-side veth only: an nc port
#            scan, a burst of connections to a closed port, repeated
#            connections to a listener on port 22; each gives its suggestion
# Exit status: 0 pass, 1 fail, 77 skipped (packets needs root).
set -uo pipefail

AI=$(realpath "${1:?usage: run.sh GUARDER_AI COLLECTOR CASE}")
COLLECTOR=$(realpath "${2:?}")
CASE=${3:?}
HERE=$(dirname "$(realpath "$0")")
TOP=$(realpath "$HERE/../../..")
SCHEMA=$TOP/docs/suggestion.schema.json
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
# shellcheck source=../../kafka/kafka.sh
source "$TOP/test/kafka/kafka.sh"
trap 'kafka_stop; cleanup' EXIT
FLOWS=flows.$(rand_hex 3)
SUGG=suggestions.$(rand_hex 3)
GROUP=ai-$(rand_hex 3)

broker_up() { # PARTITIONS
	kafka_fetch || fail "the Kafka broker jars are not available (see above)"
	kafka_start "$TMP/kafka" || fail "the Kafka broker did not start"
	kafka_create_topic "$FLOWS" "$1" || fail "cannot create $FLOWS"
	kafka_create_topic "$SUGG" 1 || fail "cannot create $SUGG"
}

# ai_config FILE: the worker's config (thresholds of records.py's attacks).
ai_config() {
	cat >"$1" <<EOC
node:
  name: it-ai
kafka:
  brokers: $KAFKA_BOOTSTRAP
  topic: $FLOWS
ai:
  group_id: $GROUP
  suggestions_topic: $SUGG
  window: 60
  max_tracked: 100000
  scan_ports: 100
  scan_hosts: 50
  syn_flood_syns: 200
  brute_force_attempts: 20
  icmp_flood_packets: 5000
  icmp_error_storm: 100
  reflection_bytes: 1000000
EOC
}

# start_worker NAME CONF: guarder-ai in the background; W_PID, W_ERR, W_STATS.
start_worker() {
	W_ERR=$TMP/ai.$1.err
	W_STATS=$TMP/ai.$1.stats.json
	"$AI" -c "$2" -stats-file "$W_STATS" -offset-reset earliest 2>"$W_ERR" &
	W_PID=$!
	PIDS+=("$W_PID")
	wait_for 20 grep -q "assigned partitions" "$W_ERR" ||
		fail "guarder-ai $1 got no partitions: $(tail -n 5 "$W_ERR")"
}

# ws STATS JQ: a value of a worker's stats file.
ws() { jq -r "$2" "$1" 2>/dev/null; }
wsc() { jq -c "$2" "$1" 2>/dev/null; }
records_reach() { [ "$(ws "$1" .records)" -ge "$2" ] 2>/dev/null; }
delivered_reach() { [ "$(ws "$1" .delivered)" -ge "$2" ] 2>/dev/null; }

stop_worker() { # PID
	local rc

	kill -TERM "$1"
	wait "$1"
	rc=$?
	expect_eq "guarder-ai exit status after SIGTERM" "$rc" 0
}

produce() { # FILE: KEY<TAB>VALUE lines
	kcat -P -b "$KAFKA_BOOTSTRAP" -t "$FLOWS" -K $'\t' -z lz4 <"$1" ||
		fail "kcat could not produce $1"
}

committed_total() { # GROUP PARTITIONS
	"$KAFKA_PYTHON" "$HERE/committed.py" "$KAFKA_BOOTSTRAP" "$1" "$FLOWS" "$2" |
		awk '$2 >= 0 { s += $2 } END { print s + 0 }'
}

case_crafted() {
	local n_att n_norm n_bad total n_sugg

	TMP=$(mktemp -d /tmp/guarder-it-ai.XXXXXX)
	broker_up 3
	"$KAFKA_PYTHON" "$HERE/records.py" attacks node-attack >"$TMP/attacks.tsv"
	"$KAFKA_PYTHON" "$HERE/records.py" normal node-normal >"$TMP/normal.tsv"
	"$KAFKA_PYTHON" "$HERE/records.py" bad >"$TMP/bad.tsv"
	n_att=$(wc -l <"$TMP/attacks.tsv")
	n_norm=$(wc -l <"$TMP/normal.tsv")
	n_bad=$(wc -l <"$TMP/bad.tsv")
	total=$((n_att + n_norm + n_bad))
	produce "$TMP/normal.tsv"
	produce "$TMP/bad.tsv"
	produce "$TMP/attacks.tsv"
	expect_eq "records on $FLOWS" "$(kafka_count "$FLOWS")" "$total"

	ai_config "$TMP/ai.yaml"
	start_worker a "$TMP/ai.yaml"
	wait_for 30 records_reach "$W_STATS" "$total" ||
		fail "the worker read $(ws "$W_STATS" .records) of $total records"
	expect_eq "bad records counted" "$(ws "$W_STATS" .bad_records)" "$n_bad"
	grep -q "bad record skipped" "$W_ERR" || fail "no log line for a bad record"
	n_sugg=$("$KAFKA_PYTHON" -c 'import json,sys; print(len(json.loads(sys.argv[1])))' \
		"$("$KAFKA_PYTHON" "$HERE/records.py" --expect)")
	wait_for 20 delivered_reach "$W_STATS" "$n_sugg" ||
		fail "$(ws "$W_STATS" .delivered) suggestions delivered, expected $n_sugg"
	# what was published is exactly the attacks, each with its rule
	kafka_consume "$SUGG" "$TMP/sugg.tsv" || fail "kcat could not read $SUGG"
	"$KAFKA_PYTHON" "$HERE/check.py" "$SCHEMA" "$TMP/sugg.tsv" node-attack \
		"$("$KAFKA_PYTHON" "$HERE/records.py" --expect)" node-normal bad-node ||
		fail "the suggestions are not the expected ones"
	expect_eq "suggestions on $SUGG" "$(kafka_count "$SUGG")" "$n_sugg"

	stop_worker "$W_PID"
	expect_eq "offsets committed by $GROUP" "$(committed_total "$GROUP" 3)" "$total"
	# a restarted worker of the same group reads nothing again
	start_worker b "$TMP/ai.yaml"
	sleep 3
	expect_eq "records re-read after a restart" "$(ws "$W_STATS" .records)" 0
	stop_worker "$W_PID"
	expect_eq "suggestions after the restart" "$(kafka_count "$SUGG")" "$n_sugg"
}

case_group() {
	local pa pb total n1 n2 ra rb

	TMP=$(mktemp -d /tmp/guarder-it-ai.XXXXXX)
	broker_up 4
	ai_config "$TMP/ai.yaml"
	start_worker a "$TMP/ai.yaml"
	local a_pid=$W_PID a_stats=$W_STATS a_err=$W_ERR
	start_worker b "$TMP/ai.yaml"
	local b_pid=$W_PID b_stats=$W_STATS
	# the group settles: a gave up what b got
	wait_for 30 bash -c "[ \"\$(jq -r '.partitions | length' '$a_stats')\" -lt 4 ] &&
		[ \"\$(jq -r '.partitions | length' '$b_stats')\" -gt 0 ]" ||
		fail "the group did not split: a=$(wsc "$a_stats" .partitions) b=$(wsc "$b_stats" .partitions)"
	"$KAFKA_PYTHON" "$HERE/records.py" normal node-group >"$TMP/normal.tsv"
	produce "$TMP/normal.tsv"
	n1=$(wc -l <"$TMP/normal.tsv")
	wait_for 30 bash -c "[ \$((\$(jq .records '$a_stats') + \$(jq .records '$b_stats'))) -ge $n1 ]" ||
		fail "the workers read $(ws "$a_stats" .records) + $(ws "$b_stats" .records) of $n1"
	sleep 2
	pa=$(wsc "$a_stats" .partitions)
	pb=$(wsc "$b_stats" .partitions)
	log "worker a: partitions $pa, $(ws "$a_stats" .records) records; b: $pb, $(ws "$b_stats" .records) records"
	expect_eq "partitions of a and b: disjoint, non-empty, all 4" \
		"$(jq -nc --argjson a "$pa" --argjson b "$pb" \
			'[($a|length>0), ($b|length>0), ($a - ($a - $b) | length == 0), (($a + $b | sort) == [0,1,2,3])]')" \
		"[true,true,true,true]"
	ra=$(ws "$a_stats" .records)
	rb=$(ws "$b_stats" .records)
	[ "$ra" -gt 0 ] && [ "$rb" -gt 0 ] || fail "a worker read nothing: a=$ra b=$rb"
	expect_eq "records read by a + b" "$((ra + rb))" "$n1"

	# b leaves: a takes all partitions from b's committed offsets, no re-read
	stop_worker "$b_pid"
	wait_for 30 bash -c "[ \"\$(jq -r '.partitions | length' '$a_stats')\" -eq 4 ]" ||
		fail "a did not take over b's partitions: $(wsc "$a_stats" .partitions)"
	"$KAFKA_PYTHON" "$HERE/records.py" normal node-group2 >"$TMP/normal2.tsv"
	produce "$TMP/normal2.tsv"
	n2=$(wc -l <"$TMP/normal2.tsv")
	total=$((n1 + n2))
	wait_for 30 records_reach "$a_stats" "$((ra + n2))" ||
		fail "a read $(ws "$a_stats" .records), expected $((ra + n2))"
	sleep 2
	expect_eq "records read by a after the take-over (nothing twice)" \
		"$(ws "$a_stats" .records)" "$((ra + n2))"
	stop_worker "$a_pid"
	expect_eq "offsets committed by the group" "$(committed_total "$GROUP" 4)" "$total"
	expect_eq "suggestions for normal traffic" "$(kafka_count "$SUGG")" 0
	grep -q "revoked partitions" "$a_err" || fail "a never logged a revocation"
}

case_model() {
	local pf ms log req

	TMP=$(mktemp -d /tmp/guarder-it-ai.XXXXXX)
	pf=$TMP/model.port
	"$KAFKA_PYTHON" "$TOP/test/integration/ai_api/model_server.py" "$pf" &
	PIDS+=($!)
	wait_for 5 test -s "$pf" || fail "model_server.py did not start"
	ms=http://127.0.0.1:$(cat "$pf")
	# first answer: one precise rule, fenced and with prose; then a match-all drop
	curl -s -f -m 5 -X POST --data-binary "$(jq -cn '[
		{status: 200, content: ("Here you go:\n```json\n" + ({analysis: "10.66.0.1 scans 10.0.0.2",
			rules: [{rule_type: "tcp", src_ip: "10.66.0.1", dst_ip: "10.0.0.2",
			dst_port: "0", action: "drop", comment: "scanner"}]} | tojson) + "\n```")},
		{status: 200, content: ({rules: [{rule_type: "basic", action: "drop"}]} | tojson)}]')" \
		"$ms/_script" >/dev/null || fail "cannot script the model"
	broker_up 3
	ai_config "$TMP/ai.yaml"
	cat >>"$TMP/ai.yaml" <<EOC
  model:
    endpoint: $ms/v1
    api_key: sk-test-not-a-secret
    interval: 2
    timeout_ms: 5000
EOC
	"$KAFKA_PYTHON" "$HERE/records.py" attacks node-attack >"$TMP/attacks.tsv"
	produce "$TMP/attacks.tsv"
	start_worker a "$TMP/ai.yaml"
	wait_for 30 records_reach "$W_STATS" "$(wc -l <"$TMP/attacks.tsv")" || fail "records not read"
	# 7 detector suggestions, then the two model answers
	wait_for 30 delivered_reach "$W_STATS" 9 ||
		fail "$(ws "$W_STATS" .delivered) suggestions delivered, expected 9: $(grep -i model "$W_ERR" | tail -n 3)"
	stop_worker "$W_PID"
	kafka_consume "$SUGG" "$TMP/sugg.tsv" || fail "kcat could not read $SUGG"
	cut -f3 "$TMP/sugg.tsv" | jq -c 'select(.origin == "model")' >"$TMP/model.jsonl"
	expect_eq "model suggestions" "$(wc -l <"$TMP/model.jsonl")" 2
	expect_eq "first: proposed, its rule" \
		"$(head -n 1 "$TMP/model.jsonl" | jq -c '[.status, .kind, .node, .rules[0].src_ip, .rules[0].dst_ip, .rules[0].action, (.rules[0].expires_at != null), (.rules | length)]')" \
		'["proposed","model","node-attack","10.66.0.1","10.0.0.2","drop",true,1]'
	expect_eq "second: rejected by the policy" \
		"$(tail -n 1 "$TMP/model.jsonl" | jq -c '[.status, (.policy_reason | test("match-all"))]')" \
		'["rejected_by_policy",true]'
	grep -v '"origin":"model"' "$TMP/sugg.tsv" >"$TMP/detectors.tsv"
	"$KAFKA_PYTHON" "$HERE/check.py" "$SCHEMA" "$TMP/detectors.tsv" node-attack \
		"$("$KAFKA_PYTHON" "$HERE/records.py" --expect)" >/dev/null ||
		fail "the detector suggestions beside the model's are not the expected ones"
	"$KAFKA_PYTHON" -c 'import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
for line in open(sys.argv[2]):
    v.validate(json.loads(line))' "$SCHEMA" "$TMP/model.jsonl" || fail "a model suggestion is invalid"
	# what the model was sent: a bounded summary, not records
	log=$(curl -s -f -m 5 "$ms/_log") || fail "cannot read the model log"
	req=$(jq -r '.[0].body.messages[1].content' <<<"$log")
	expect_eq "summary parts" "$(jq -c 'keys' <<<"$req")" \
		'["newest_record_at","recent_findings","records","top_destinations","top_sources","top_tcp_services","window_s"]'
	expect_eq "top sources at most 10" "$(jq '.top_sources | length <= 10' <<<"$req")" true
	expect_eq "recent findings sent" "$(jq '.recent_findings | length' <<<"$req")" 7
	grep -q -e first_seen -e '"key"' -e 'schema_version' <<<"$req" && fail "the model was sent raw records"
	[ "${#req}" -lt 16384 ] || fail "the summary is ${#req} bytes"
	log "ok: the summary is ${#req} bytes"
	grep -q "sk-test-not-a-secret" "$W_ERR" && fail "the API key is in the worker's log"
	expect_eq "authorization sent" "$(jq -r '.[0].auth' <<<"$log")" "Bearer sk-test-not-a-secret"
}

case_check_config() {
	local out rc

	TMP=$(mktemp -d /tmp/guarder-it-ai.XXXXXX)
	KAFKA_BOOTSTRAP=127.0.0.1:9
	ai_config "$TMP/ai.yaml"
	printf '  model:\n    endpoint: http://127.0.0.1:9/v1\n    api_key: sk-very-secret-1234\n' >>"$TMP/ai.yaml"
	out=$("$AI" -c "$TMP/ai.yaml" -check-config 2>"$TMP/err")
	expect_eq "exit status of -check-config" "$?" 0
	grep -q "suggestions_topic: \"$SUGG\"" <<<"$out" || fail "-check-config does not print ai.suggestions_topic"
	grep -q "group_id: \"$GROUP\"" <<<"$out" || fail "-check-config does not print ai.group_id"
	grep -q "sk-very-secret" <<<"$out$(cat "$TMP/err")" && fail "-check-config printed the API key"
	grep -q "api_key: \"<redacted>\"" <<<"$out" || fail "the API key is not shown as <redacted>"
	log "ok: effective config printed, key redacted"

	# Without kafka.brokers the file is valid (a note), but the worker
	# cannot start.
	printf 'ai:\n  window: 60\n' >"$TMP/nobrokers.yaml"
	"$AI" -c "$TMP/nobrokers.yaml" -check-config >/dev/null 2>"$TMP/err"
	rc=$?
	expect_eq "-check-config status without kafka.brokers" "$rc" 0
	grep -q "sets no kafka.brokers: guarder-ai needs them to start" "$TMP/err" ||
		fail "no note about kafka.brokers: $(cat "$TMP/err")"
	timeout 20 "$AI" -c "$TMP/nobrokers.yaml" >/dev/null 2>"$TMP/err"
	rc=$?
	expect_eq "exit status of a start without kafka.brokers" "$rc" 1
	grep -q "kafka.brokers is not set" "$TMP/err" || fail "no message about kafka.brokers: $(cat "$TMP/err")"

	printf 'kafka:\n  brokers: 127.0.0.1:9\nai:\n  scan_portz: 5\n' >"$TMP/badkey.yaml"
	"$AI" -c "$TMP/badkey.yaml" -check-config >/dev/null 2>"$TMP/err"
	expect_eq "exit status with an unknown key" "$?" 1
	grep -q "scan_portz" "$TMP/err" || fail "the error does not name the key: $(cat "$TMP/err")"

	"$AI" -offset-reset middle >/dev/null 2>"$TMP/err"
	expect_eq "exit status with a bad -offset-reset" "$?" 1
	grep -q "offset-reset" "$TMP/err" || fail "the error does not name the flag"
	"$AI" -version | grep -q "^guarder-ai .*librdkafka" || fail "-version"
	"$AI" -h | grep -q -- "-check-config" || fail "-h does not list -check-config"
}

listening_in() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; }

case_packets() {
	local i expect

	preflight
	command -v nc >/dev/null || exit "$SKIP"
	broker_up 3
	new_pair
	new_config "$TMP/collector.yaml"
	{
		echo "kafka:"
		echo "  brokers: $KAFKA_BOOTSTRAP"
		echo "  topic: $FLOWS"
		echo "ai:"
		echo "  group_id: $GROUP"
		echo "  suggestions_topic: $SUGG"
		echo "  scan_ports: 100"
		echo "  syn_flood_syns: 100"
		echo "  brute_force_attempts: 15"
	} >>"$CONF"
	start_collector -c "$CONF" -iface "$P_VETH"
	start_worker a "$CONF"

	# normal traffic first: a few pings and one TCP exchange
	# a listener on port 22 in the netns: accept, read, close
	ip netns exec "$P_NS" "$KAFKA_PYTHON" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 22))
s.listen(64)
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        c.recv(100)
    except OSError:
        pass
    c.close()' "$P_NS4" &
	PIDS+=($!)
	wait_for 5 listening_in "$P_NS" 22 || fail "no listener on port 22 in $P_NS"
	ping -c 3 -i 0.2 -q "$P_NS4" >/dev/null || fail "ping through the veth pair"
	sleep 4
	expect_eq "suggestions after normal traffic" "$(kafka_count "$SUGG")" 0

	# a vertical scan: nc probes 150 closed ports
	nc -z -w 1 "$P_NS4" 1000-1149 2>/dev/null
	# a burst of connections to a closed port: SYN, RST, never completed
	for ((i = 0; i < 130; i++)); do
		nc -z -w 1 "$P_NS4" 9 2>/dev/null
	done
	# repeated connections to the listener on port 22
	for ((i = 0; i < 18; i++)); do
		echo x | nc -N -w 1 "$P_NS4" 22 >/dev/null 2>&1
	done

	expect=$(jq -nc --arg s "$P_ROOT4" --arg d "$P_NS4" '{
		port_scan_vertical: {src_ip: $s, dst_ip: $d, rule_type: "tcp"},
		syn_flood: {src_ip: $s, dst_ip: $d, dst_port: 9, rule_type: "tcp"},
		brute_force: {src_ip: $s, dst_ip: $d, dst_port: 22, rule_type: "tcp"}}')
	if ! wait_for 30 delivered_reach "$W_STATS" 3; then
		grep "suggestion" "$W_ERR" >&2
		fail "$(ws "$W_STATS" .delivered) suggestions delivered, expected 3"
	fi
	sleep 3
	kafka_consume "$SUGG" "$TMP/sugg.tsv" || fail "kcat could not read $SUGG"
	"$KAFKA_PYTHON" "$HERE/check.py" "$SCHEMA" "$TMP/sugg.tsv" it-node "$expect" ||
		fail "the suggestions are not the expected ones"
	stop_worker "$W_PID"
	stop_collector
}

case "$CASE" in
crafted | group | model | packets | check_config) "case_$CASE" ;;
*) fail "unknown case $CASE" ;;
esac
echo "PASS: $CASE"
