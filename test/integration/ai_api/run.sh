#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Integration tests of guarder-api's /api/ai endpoints:
#
#   run.sh COLLECTOR API CASE...   (CASE: model, config, suggestions)
#
#  model        the model client through a stand-in OpenAI-compatible server
#               (model_server.py, test-only): a good answer, fenced JSON,
#               prose, wrong types, an all-wildcard rule, garbage, 401, 429
#               with Retry-After (the retry waits), 500 (retries, then an
#               error), a hang (timeout, while /api/stats and /api/filters
#               keep answering with api.threads 1), unreachable, no model.
#  config       GET/POST /api/ai/config: the key is write-only, never in a
#               body or a log; a new endpoint drops the stored key; with
#               api.token nothing changes without the token.
#  suggestions  a real Kafka broker (test/kafka/kafka.sh): suggestions
#               published on the topic are listed; apply makes the kernel
#               drop the traffic (netns + veth, the collector on the root
#               end); a second apply is 409; reject; the policy refuses a
#               rule against the API's own client; decisions survive a
#               restart; auto-apply takes only confident detector findings;
#               a kafka.properties entry the consumer's librdkafka refuses is
#               named in the log and the status, a secret never printed.
#
# Exit status: 0 pass, 1 fail, 77 skipped (not root, no netns, no bpffs, no Kafka).
set -uo pipefail

HERE=$(dirname "$(realpath "$0")")
TOP=$(realpath "$HERE/../../..")
COLLECTOR=$(realpath "${1:?usage: run.sh COLLECTOR API CASE...}")
API=$(realpath "${2:?usage: run.sh COLLECTOR API CASE...}")
shift 2
CASES=("$@")
[ "${CASES[0]:-all}" = all ] && CASES=(model config suggestions)

# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

API_RUNS=0
MS_PID=
# A key that must never show up in a body or a log.
KEY=sk-test-$(rand_hex 12)

# api_config FILE 'API KEYS' [lines...]: new_config + the API on a free
# port with the api keys given ("threads: 1|token: x", may be empty), then
# the given lines verbatim (whole sections); sets BASE (new_config sets
# RULES).
api_config() {
	local conf=$1 keys=$2 line k

	shift 2
	new_config "$conf"
	APORT=$(free_port)
	BASE=http://127.0.0.1:$APORT
	{
		echo "api:"
		echo "  listen: 127.0.0.1:$APORT"
		IFS='|' read -ra k <<<"$keys"
		for line in "${k[@]}"; do
			echo "  $line"
		done
		for line in "$@"; do
			echo "$line"
		done
	} >>"$conf"
}

start_api() {
	API_RUNS=$((API_RUNS + 1))
	A_ERR=$TMP/api.$API_RUNS.err
	"$API" "$@" >"$A_ERR" 2>&1 &
	A_PID=$!
	PIDS+=("$A_PID")
	wait_for 10 api_ready || fail "guarder-api did not start: $*"
}

api_ready() {
	kill -0 "$A_PID" 2>/dev/null || fail "guarder-api exited during start-up"
	grep -q "listening on" "$A_ERR" 2>/dev/null
}

stop_api() {
	kill -TERM "$A_PID"
	wait "$A_PID"
	expect_eq "guarder-api exit status after SIGTERM" "$?" 0
}

# requests wait for the model: lib.sh's req with a longer time limit
REQ_TIMEOUT=30

# schema_ok TEMPLATE METHOD STATUS: the last body is valid against what
# /api/openapi.json documents for that path, method and status.
schema_ok() {
	[ -s "$TMP/openapi.json" ] || curl -s -f -m 5 -o "$TMP/openapi.json" "${AUTH[@]}" "$BASE/api/openapi.json" ||
		fail "GET /api/openapi.json"
	python3 - "$TMP/openapi.json" "$1" "$2" "$3" "$TMP/body" <<'PY' || fail "$2 $1 ($3) does not match the OpenAPI document"
import json, sys, warnings
import jsonschema
warnings.filterwarnings("ignore", category=DeprecationWarning)
doc = json.load(open(sys.argv[1]))
resp = doc["paths"][sys.argv[2]][sys.argv[3].lower()]["responses"][sys.argv[4]]
schema = resp["content"]["application/json"]["schema"]
jsonschema.Draft202012Validator(schema, resolver=jsonschema.RefResolver.from_schema(doc)).validate(
    json.load(open(sys.argv[5])))
PY
	log "ok: $2 $1 $3 matches the OpenAPI document"
}
AUTH=()
body_has() { # WHAT JQ_CONDITION
	jq -e "$2" "$TMP/body" >/dev/null || fail "$1: $(head -c 600 "$TMP/body")"
	log "ok: $1"
}

# ping_ok: one ping from the namespace to the root end gets through
ping_ok() { ip netns exec "$P_NS" ping -c 1 -W 1 -q "$P_ROOT4" >/dev/null 2>&1; }

# ---- the stand-in model ----

start_model_server() {
	local pf=$TMP/model.port

	rm -f "$pf"
	python3 "$HERE/model_server.py" "$pf" &
	MS_PID=$!
	PIDS+=("$MS_PID")
	wait_for 5 test -s "$pf" || fail "model_server.py did not start"
	MS=http://127.0.0.1:$(cat "$pf")
}

ms_script() { # JSON list of steps
	curl -s -f -m 5 -X POST --data-binary "$1" "$MS/_script" >/dev/null || fail "model script"
}
ms_reset() { curl -s -f -m 5 -X POST "$MS/_reset" >/dev/null || fail "model reset"; }
ms_log() { curl -s -f -m 5 "$MS/_log"; }
ms_requests() { ms_log | jq length; }

# content JSON-STRING: a 200 step with that message content
step() { jq -cn --arg c "$1" '{status: 200, content: $c}'; }

GOOD_RULES='{"analysis": "SSH brute force from 203.0.113.7", "suggestions": ["block 203.0.113.7"], "rules": [{"rule_type": "tcp", "src_ip": "203.0.113.7", "dst_port": 22, "action": "drop", "comment": "ssh brute force"}]}'

GEN_BODY='{"analyze_type": "security"}'
generate() { # WHAT STATUS [BODY]
	expect_req "$1" "$2" POST /api/ai/generate "${3:-$GEN_BODY}"
}

# ---- cases ----

test_model() {
	local t0 t1 gap n

	start_model_server
	api_config "$TMP/model.yaml" "threads: 1" \
		"ai:" "  model:" "    endpoint: $MS/v1" "    api_key: $KEY" "    timeout_ms: 3000" \
		"    max_retries: 2" "    calls_per_minute: 1000" "    debug: true"
	# the collector on a veth pair: /api/stats reads real maps during the hang below
	new_pair
	start_collector -c "$TMP/model.yaml" -iface "$P_VETH"
	start_api -c "$TMP/model.yaml"

	# a good answer: the rule comes back with an expiry, as a suggestion
	ms_reset
	ms_script "[$(step "$GOOD_RULES")]"
	generate "good answer" 200
	body_has "one filter, none rejected" '.success == true and (.filters | length) == 1 and (.rejected | length) == 0'
	schema_ok /api/ai/generate POST 200
	body_has "the filter" '.filters[0].src_ip == "203.0.113.7" and .filters[0].dst_port == 22 and .filters[0].action == "drop" and .filters[0].expires_at != null and (.filters[0] | has("id") | not)'
	body_has "analysis and suggestions passed on" '.analysis == "SSH brute force from 203.0.113.7" and .suggestions == ["block 203.0.113.7"] and .tokens_used == 123'
	sid=$(body .suggestion_id)
	[[ $sid =~ ^s-[0-9a-f]{16}$ ]] || fail "suggestion_id: $sid"
	expect_eq "the model got the key" "$(ms_log | jq -r '.[0].auth')" "Bearer $KEY"
	ms_log | jq -e '.[0].body.response_format.type == "json_object" and .[0].body.max_tokens > 0 and (.[0].body.messages | length) == 2' >/dev/null ||
		fail "the request asks for JSON: $(ms_log | head -c 400)"
	log "ok: the request asks for a JSON object, with max_tokens"
	expect_req "the generated suggestion is listed" 200 GET "/api/ai/suggestions?origin=model"
	body_has "listed as proposed" ".[0].id == \"$sid\" and .[0].state == \"proposed\" and .[0].origin == \"model\""
	schema_ok /api/ai/suggestions GET 200
	# the record itself follows the worker's contract (docs/suggestion.schema.json)
	jq -c '.[0] | del(.state, .source, .decided_at, .applied_rule_ids, .auto_applied, .reject_reason)' \
		"$TMP/body" >"$TMP/rec.json"
	python3 -c '
import json, sys, jsonschema
jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))' \
		"$TOP/docs/suggestion.schema.json" "$TMP/rec.json" || fail "the model suggestion breaks the record schema: $(cat "$TMP/rec.json")"
	log "ok: the model suggestion is a valid suggestion record"

	# fenced JSON, prose around it
	ms_script "[$(step $'Here you are:\n```json\n'"$GOOD_RULES"$'\n```\nGood luck.')]"
	generate "fenced JSON" 200
	body_has "fenced: one filter" '(.filters | length) == 1 and .filters[0].src_ip == "203.0.113.7"'
	ms_script "[$(step "I looked at the flows. $GOOD_RULES That is all.")]"
	generate "prose around JSON" 200
	body_has "prose: one filter" '(.filters | length) == 1'
	# numbers written as strings are fine
	ms_script "[$(step '{"rules": [{"rule_type": "tcp", "src_ip": "203.0.113.8", "dst_port": "2222", "priority": "50", "action": "DROP"}]}')]"
	generate "numbers as strings" 200
	body_has "strings became numbers" '.filters[0].dst_port == 2222 and .filters[0].priority == 50'

	# wrong types: each bad rule listed with its reason, the good one kept
	ms_script "[$(step '{"rules": [{"rule_type": "tcp", "src_ip": "203.0.113.9", "dst_port": [22], "action": "drop"}, {"rule_type": "tcp", "src_ip": "203.0.113.9", "priority": "high", "action": "drop"}, {"rule_type": "udp", "src_ip": "203.0.113.10", "dst_port": 53, "action": "drop"}]}')]"
	generate "wrong types" 200
	body_has "wrong types: 1 kept, 2 rejected with the field" '(.filters | length) == 1 and (.rejected | length) == 2 and (.rejected[0].reason | test("dst_port")) and (.rejected[1].reason | test("priority"))'
	schema_ok /api/ai/generate POST 200

	# an all-wildcard rule: refused by the policy, never proposed
	ms_script "[$(step '{"rules": [{"rule_type": "basic", "action": "drop"}]}')]"
	generate "all-wildcard rule" 200
	body_has "all-wildcard refused by the policy" '(.filters | length) == 0 and (.rejected | length) == 1 and .rejected[0].policy == true and (has("suggestion_id") | not)'
	schema_ok /api/ai/generate POST 200

	# garbage
	ms_script "[$(step 'Sorry, I cannot help with that.')]"
	generate "garbage answer" 502
	body_has "garbage: a clear error" '.success == false and (.error | test("model answer not usable"))'
	schema_ok /api/ai/generate POST 502
	ms_script '[{"status": 200, "body": "<html>not json</html>"}]'
	generate "not a chat completion" 502
	body_has "not a completion: a clear error" '(.error | test("model answer not usable"))'

	# 401: no retry
	ms_reset
	ms_script '[{"status": 401, "message": "Incorrect API key provided"}]'
	generate "401 from the model" 502
	body_has "401: model rejected the key" '(.error | test("model rejected the key")) and (.error | test("Incorrect API key"))'
	expect_eq "401 is not retried" "$(ms_requests)" 1

	# 429 with Retry-After: 1, then a good answer: the retry waits >= 1 s
	ms_reset
	ms_script "[{\"status\": 429, \"headers\": {\"Retry-After\": \"1\"}}, $(step "$GOOD_RULES")]"
	generate "429 then a good answer" 200
	expect_eq "requests after a 429" "$(ms_requests)" 2
	gap=$(ms_log | jq '.[1].t - .[0].t')
	jq -en "$gap >= 0.95 and $gap < 2.5" >/dev/null || fail "the retry came $gap s after the 429, expected ~1 s"
	log "ok: the retry came $gap s after the 429 (Retry-After: 1)"
	# 429 every time: 429 with retry information; a Retry-After beyond the timeout ends at once
	ms_reset
	ms_script '[{"status": 429, "headers": {"Retry-After": "1"}}]'
	generate "429 every time" 429
	body_has "429: retry information" '(.error | test("429")) and .retry_after_s >= 1'
	schema_ok /api/ai/generate POST 429
	expect_eq "429 tried 1 + max_retries times" "$(ms_requests)" 3
	ms_reset
	ms_script '[{"status": 429, "headers": {"Retry-After": "60"}}]'
	t0=$(date +%s%N)
	generate "429 with Retry-After past the timeout" 429
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fail "a 60 s Retry-After was waited for"
	body_has "429: retry_after_s from the header" '.retry_after_s == 60 and (.error | test("timeout"))'
	expect_eq "429: Retry-After header" "$(tr -d '\r' <"$TMP/headers" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }')" 60

	# 500: retried with backoff, then an error
	ms_reset
	ms_script '[{"status": 500, "message": "overloaded"}]'
	generate "500 every time" 502
	body_has "500: a clear error" '(.error | test("HTTP 500")) and (.error | test("overloaded"))'
	expect_eq "500 tried 1 + max_retries times" "$(ms_requests)" 3
	gap=$(ms_log | jq '.[1].t - .[0].t')
	jq -en "$gap >= 0.45" >/dev/null || fail "no backoff between 500 retries ($gap s)"
	log "ok: backoff $gap s before the first retry"

	# a hang: 504 after timeout_ms; meanwhile the one HTTP thread serves the rest
	ms_reset
	ms_script '[{"status": 200, "content": "{}", "delay": 20}]'
	curl -s -m 30 -o "$TMP/hang.body" -w '%{http_code}' -H "Content-Type: application/json" \
		--data-binary '{"analyze_type": "balanced"}' "$BASE/api/ai/generate" >"$TMP/hang.status" &
	local hang=$!
	sleep 0.5
	t0=$(date +%s%N)
	n=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$BASE/api/stats")
	t1=$(date +%s%N)
	[ "$n" = 200 ] || fail "GET /api/stats during a hung model call: HTTP $n"
	[ $(((t1 - t0) / 1000000)) -lt 1000 ] || fail "GET /api/stats took $(((t1 - t0) / 1000000)) ms during a hung model call"
	log "ok: GET /api/stats answered $n in $(((t1 - t0) / 1000000)) ms during a hung model call"
	expect_req "filters during a hung model call" 200 GET /api/filters
	expect_req "status during a hung model call" 200 GET /api/ai/status
	body_has "status: the model thread is busy" '.model_worker.busy == true'
	wait "$hang"
	expect_eq "hung model call" "$(cat "$TMP/hang.status")" 504
	cp "$TMP/hang.body" "$TMP/body"
	body_has "hang: timeout error" '(.error | test("did not answer within 3000 ms"))'
	schema_ok /api/ai/generate POST 504

	# analyze really asks the model, with this node's summary
	ms_reset
	ms_script "[$(step "$GOOD_RULES")]"
	# a fresh flow (the test config expires idle flows after 2 s)
	ping_ok || fail "ping from the namespace"
	expect_req "analyze with a model" 200 POST /api/ai/analyze '{"custom_prompt": "look at ssh"}'
	body_has "analyze: from the model" '.source == "model" and (.filters | length) == 1'
	schema_ok /api/ai/analyze POST 200
	ms_log | jq -e '.[0].body.messages[1].content | test("Node: it-node") and test("look at ssh") and test("Counters: [{]\"total_packets\":[1-9]") and test("Top flows by bytes [(][1-9]")' >/dev/null ||
		fail "the summary sent: $(ms_log | jq -r '.[0].body.messages[1].content' | head -c 400)"
	log "ok: the model got the node's summary (counters and flows from the pinned maps) and the operator's prompt"

	# bad requests
	expect_req "custom without custom_prompt" 400 POST /api/ai/generate '{"analyze_type": "custom"}'
	expect_req "unknown analyze_type" 400 POST /api/ai/generate '{"analyze_type": "fast"}'
	expect_req "custom_prompt too long" 400 POST /api/ai/generate \
		"{\"analyze_type\": \"custom\", \"custom_prompt\": \"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
	expect_req "unknown field" 400 POST /api/ai/generate '{"analyse_type": "security"}'
	expect_req "a key twice" 400 POST /api/ai/generate \
		'{"analyze_type": "security", "analyze_type": "custom"}'
	body_has "a key twice: named" '.error == "body: duplicate key \"analyze_type\" at byte 29"'
	expect_req "status" 200 GET /api/ai/status
	body_has "status counts the calls" '.model.calls >= 10 and .model.failures >= 5 and .model.retries >= 4 and .model.last_call.ok == true'
	schema_ok /api/ai/status GET 200

	# the key in no log, though debug logging showed the requests
	grep -q "ai model request: POST $MS/v1/chat/completions" "$A_ERR" || fail "no debug log of the request"
	grep -q "REDACTED" "$A_ERR" || fail "the debug log does not say REDACTED"
	grep -qF "$KEY" "$A_ERR" && fail "the key is in the API's log"
	log "ok: debug log shows the requests, the key REDACTED"

	# unreachable, then no model at all
	expect_req "point at a closed port" 200 POST /api/ai/config \
		"{\"endpoint\": \"http://127.0.0.1:$(free_port)/v1\", \"max_retries\": 0}"
	generate "unreachable endpoint" 502
	body_has "unreachable: a clear error" '(.error | test("unreachable"))'
	expect_req "remove the endpoint" 200 POST /api/ai/config '{"endpoint": null}'
	generate "no model configured" 503
	body_has "no model: a clear error" '(.error | test("no model configured"))'
	schema_ok /api/ai/generate POST 503
	expect_req "analyze without a model" 200 POST /api/ai/analyze '{}'
	body_has "analyze falls back to the detectors, and says so" '.source == "detectors" and .model_used == false and (.note | test("no model configured")) and (.findings | type) == "array"'
	schema_ok /api/ai/analyze POST 200

	# SIGTERM during a hung call: the call is cancelled, the client gets 503, a fast exit
	expect_req "back to the stand-in, a long timeout" 200 POST /api/ai/config \
		"{\"endpoint\": \"$MS/v1\", \"timeout\": 60}"
	ms_script '[{"status": 200, "content": "{}", "delay": 30}]'
	curl -s -m 30 -o "$TMP/hang.body" -w '%{http_code}' -H "Content-Type: application/json" \
		--data-binary '{}' "$BASE/api/ai/generate" >"$TMP/hang.status" &
	hang=$!
	wait_for 5 eval '[ "$(curl -s -m 2 "$BASE/api/ai/status" | jq .model_worker.busy)" = true ]' ||
		fail "the hung call did not start"
	t0=$(date +%s%N)
	stop_api
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "SIGTERM took $(((t1 - t0) / 1000000)) ms with a hung model call"
	log "ok: stopped in $(((t1 - t0) / 1000000)) ms during a hung model call"
	wait "$hang"
	expect_eq "the hung request's answer at shutdown" "$(cat "$TMP/hang.status")" 503
	jq -e '.error | test("cancelled")' "$TMP/hang.body" >/dev/null || fail "at shutdown: $(cat "$TMP/hang.body")"
	grep -qF "$KEY" "$A_ERR" && fail "the key is in the API's log"
	true
}

test_config() {
	local tok

	start_model_server
	tok=$(rand_hex 16)
	api_config "$TMP/config.yaml" "token: $tok" \
		"ai:" "  model:" "    endpoint: $MS/v1" "    api_version: 2024-06-01"
	export OPENAI_API_KEY=$KEY AI_DEBUG=1
	start_api -c "$TMP/config.yaml"
	unset OPENAI_API_KEY AI_DEBUG
	local auth=(-H "Authorization: Bearer $tok")
	AUTH=("${auth[@]}")

	expect_req "GET without the token" 401 GET /api/ai/config '' 
	expect_req "GET /api/ai/config" 200 GET /api/ai/config '' "${auth[@]}"
	body_has "the key from OPENAI_API_KEY is set, never shown" '.api_key_set == true and .configured == true and .debug == true'
	grep -qF "$KEY" "$TMP/body" && fail "GET /api/ai/config returned the key"
	expect_req "change the endpoint without the token" 401 POST /api/ai/config \
		'{"endpoint": "http://127.0.0.1:1/v1"}'
	expect_req "change the key without the token" 401 POST /api/ai/config '{"api_key": "sk-evil"}'
	expect_req "config unchanged" 200 GET /api/ai/config '' "${auth[@]}"
	body_has "still the old endpoint" ".endpoint == \"$MS/v1\" and .api_key_set == true"

	# partial update, validated like the config file
	expect_req "partial update" 200 POST /api/ai/config \
		'{"model": "gpt-x", "timeout": 5, "temperature": 0.2, "calls_per_minute": 30}' "${auth[@]}"
	body_has "partial update applied, the rest kept" '.model == "gpt-x" and .timeout_ms == 5000 and .calls_per_minute == 30 and .api_key_set == true and .max_retries == 3 and (.changed | length) == 4'
	schema_ok /api/ai/config POST 200
	expect_req "a bad endpoint" 400 POST /api/ai/config '{"endpoint": "ftp://x"}' "${auth[@]}"
	body_has "a bad endpoint: the reason" '(.error | test("endpoint"))'
	schema_ok /api/ai/config POST 400
	expect_req "timeout_ms too small" 400 POST /api/ai/config '{"timeout_ms": 5}' "${auth[@]}"
	expect_req "unknown field" 400 POST /api/ai/config '{"api_keys": "x"}' "${auth[@]}"
	expect_req "a bad provider" 400 POST /api/ai/config '{"provider": "skynet"}' "${auth[@]}"
	expect_req "a key with a space" 400 POST /api/ai/config '{"api_key": "a b"}' "${auth[@]}"
	# a key twice: json-c alone would keep the last endpoint, and send it the key
	expect_req "a key twice" 400 POST /api/ai/config \
		'{"endpoint": "http://127.0.0.1:9/v1", "endpoint": "http://evil.example/v1"}' "${auth[@]}"
	body_has "a key twice: named" '(.error | test("^body: duplicate key \"endpoint\" at byte [0-9]+$"))'
	expect_req "unchanged after refusals" 200 GET /api/ai/config '' "${auth[@]}"
	body_has "refused updates changed nothing" '.model == "gpt-x" and .provider == "openai" and .api_key_set == true'

	# Azure: the api-key header and the deployment URL
	ms_reset
	ms_script "[$(step "$GOOD_RULES")]"
	expect_req "provider azure" 200 POST /api/ai/config '{"provider": "azure"}' "${auth[@]}"
	expect_req "generate through azure" 200 POST /api/ai/generate '{}' "${auth[@]}"
	[ "$(ms_log | jq -r '.[0].auth')" = "$KEY" ] || fail "azure: the api-key header is not the key"
	log "ok: azure: the key in the api-key header"
	expect_eq "azure: deployment URL" "$(ms_log | jq -r '.[0].path')" \
		"/v1/openai/deployments/gpt-x/chat/completions?api-version=2024-06-01"

	# a new endpoint without a new key drops the key: it never goes elsewhere
	expect_req "a new endpoint, no key" 200 POST /api/ai/config \
		"{\"endpoint\": \"$MS/other\", \"provider\": \"openai\"}" "${auth[@]}"
	body_has "the stored key was dropped" '.api_key_set == false and (.note | test("dropped"))'
	schema_ok /api/ai/config POST 200
	ms_reset
	expect_req "generate with no key" 200 POST /api/ai/generate '{}' "${auth[@]}"
	expect_eq "no key sent to the new endpoint" "$(ms_log | jq -r '.[0].auth')" null
	expect_req "set a key" 200 POST /api/ai/config "{\"api_key\": \"$KEY\"}" "${auth[@]}"
	body_has "key set" '.api_key_set == true'
	grep -qF "$KEY" "$TMP/body" && fail "POST /api/ai/config returned the key"
	# the reference's form: a full .../chat/completions URL is used as it is
	ms_reset
	expect_req "a full chat/completions URL" 200 POST /api/ai/config \
		"{\"openai_endpoint\": \"$MS/v1/chat/completions\", \"api_key\": \"$KEY\"}" "${auth[@]}"
	expect_req "generate through it" 200 POST /api/ai/generate '{}' "${auth[@]}"
	expect_eq "the URL used as given" "$(ms_log | jq -r '.[0].path')" /v1/chat/completions
	expect_req "disable" 200 POST /api/ai/config '{"enabled": false}' "${auth[@]}"
	expect_req "generate while disabled" 503 POST /api/ai/generate '{}' "${auth[@]}"
	stop_api
	grep -qF "$KEY" "$A_ERR" && fail "the key is in the API's log"
	grep -q "model settings changed through the API" "$A_ERR" || fail "config changes are not logged"
	log "ok: changes logged by name, the key in no log"
}

# ---- suggestions through Kafka ----

TOPIC=guarder.suggestions.$(rand_hex 3)

# suggestion ID NODE ORIGIN CONFIDENCE RULES-JSON: one record per the
# contract (docs/suggestion.schema.json): short rules get the fields the
# worker always writes (protocol, addresses, ports, enabled, an expiry).
suggestion() {
	local rec

	rec=$(jq -cn --arg id "$1" --arg node "$2" --arg origin "$3" --argjson c "$4" --argjson rules "$5" \
		--arg ts "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
		--arg exp "$(date -u -d '+10 minutes' +%Y-%m-%dT%H:%M:%SZ)" \
		'{schema_version: 1, id: $id, created_at: $ts, node: $node, origin: $origin,
		  kind: (if $origin == "model" then "model" else "port_scan_vertical" end),
		  confidence: $c, summary: ("test suggestion " + $id), evidence: {window_s: 60, observed: 120},
		  rules: [$rules[] | {protocol: ({basic: "any", tcp: "tcp", udp: "udp", icmp: "icmp"}[.rule_type]),
		                      src_ip: "", dst_ip: "", src_port: 0, dst_port: 0, enabled: true,
		                      expires_at: $exp} + .],
		  status: "proposed"}')
	if [ -f "$TOP/docs/suggestion.schema.json" ]; then
		python3 -c '
import json, sys, jsonschema
jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.loads(sys.argv[2]))' \
			"$TOP/docs/suggestion.schema.json" "$rec" >&2 || fail "the test record does not match the schema: $rec"
	fi
	printf '%s\n' "$rec"
}

publish() { # NODE JSON
	printf '%s\n' "$2" | kcat -P -b "$KAFKA_BOOTSTRAP" -t "$TOPIC" -k "$1" 2>>"$TMP/kcat.err" ||
		fail "kcat could not publish: $(tail -3 "$TMP/kcat.err")"
}

n_suggestions() { req GET /api/ai/suggestions >/dev/null && body length; }
suggestions_are() { [ "$(n_suggestions)" = "$1" ]; }
state_of() { req GET /api/ai/suggestions >/dev/null && body ".[] | select(.id == \"$1\") | .state"; }
state_is() { [ "$(state_of "$1")" = "$2" ]; }

test_suggestions() {
	local a b c g d e f dup ids port=$((20000 + RANDOM % 20000))

	command -v kcat >/dev/null || { echo "SKIP: kcat not installed" >&2; exit $SKIP; }
	# shellcheck source=../../kafka/kafka.sh
	source "$TOP/test/kafka/kafka.sh"
	trap 'kafka_stop; cleanup' EXIT
	kafka_fetch || { echo "SKIP: no Kafka jars (kafka_fetch failed)" >&2; exit $SKIP; }
	kafka_start "$TMP/kafka" || fail "the Kafka broker did not start"
	kafka_create_topic "$TOPIC" 2 || fail "cannot create $TOPIC"

	new_pair
	api_config "$TMP/sugg.yaml" "" "kafka:" "  brokers: $KAFKA_BOOTSTRAP" \
		"ai:" "  suggestions_topic: $TOPIC"
	# the collector streams nothing to Kafka here: its config has no brokers
	sed '/^kafka:/,+1d' "$TMP/sugg.yaml" >"$TMP/sugg-collector.yaml"
	start_collector -c "$TMP/sugg-collector.yaml" -iface "$P_VETH"
	start_api -c "$TMP/sugg.yaml"

	a=s-$(rand_hex 8)
	b=s-$(rand_hex 8)
	c=s-$(rand_hex 8)
	g=s-$(rand_hex 8)
	publish it-node "$(suggestion "$a" it-node detector 0.8 \
		"[{\"rule_type\": \"basic\", \"src_ip\": \"$P_NS4\", \"action\": \"drop\", \"comment\": \"scan from the namespace\"}]")"
	publish it-node "$(suggestion "$b" it-node detector 0.7 \
		'[{"rule_type": "tcp", "src_ip": "198.51.100.23", "dst_port": 22, "action": "drop", "enabled": true}]')"
	publish other-node "$(suggestion "$c" other-node detector 0.99 \
		'[{"rule_type": "basic", "src_ip": "198.51.100.24", "action": "drop", "enabled": true}]')"
	publish it-node "$(suggestion "$g" it-node model 0.9 \
		'[{"rule_type": "basic", "src_ip": "127.0.0.1", "action": "drop", "enabled": true}]')"
	# a key twice (json-c alone would keep the last "id" and take the record): bad
	dup=$(suggestion "s-$(rand_hex 8)" it-node detector 0.99 \
		'[{"rule_type": "basic", "src_ip": "198.51.100.25", "action": "drop", "enabled": true}]')
	publish it-node "${dup/\"id\":/\"id\":\"s-$(rand_hex 8)\",\"id\":}"
	wait_for 20 suggestions_are 3 || fail "expected 3 suggestions for it-node, got $(n_suggestions): $(head -c 600 "$TMP/body")"
	expect_req "list" 200 GET /api/ai/suggestions
	body_has "newest first, the other node's left out" ".[0].id == \"$g\" and .[2].id == \"$a\" and all(.[]; .node == \"it-node\" and .state == \"proposed\")"
	schema_ok /api/ai/suggestions GET 200
	expect_eq "X-Total-Count" "$(tr -d '\r' <"$TMP/headers" | awk -F': ' 'tolower($1) == "x-total-count" { print $2 }')" 3
	expect_req "limit/offset" 200 GET "/api/ai/suggestions?limit=1&offset=1"
	body_has "page 2 of 1" "length == 1 and .[0].id == \"$b\""
	expect_req "status" 200 GET /api/ai/status
	body_has "consumer running, one record of another node" '.consumer.state == "running" and .consumer.other_node == 1 and .suggestions.total == 3'
	wait_for 10 grep -q 'not a suggestion record (duplicate key "id" at byte' "$A_ERR" ||
		fail "the record with a key twice was not refused: $(req GET /api/ai/status >/dev/null; body .consumer)"
	expect_req "status" 200 GET /api/ai/status
	body_has "the record with a key twice counted bad" '.consumer.bad_records == 1'
	schema_ok /api/ai/status GET 200

	# apply: the kernel drops the namespace's traffic at once
	ping_ok || fail "ping does not pass before apply"
	expect_req "apply $a" 200 POST "/api/ai/suggestions/$a/apply"
	body_has "applied with rule ids" '.state == "applied" and (.rule_ids | length) == 1'
	schema_ok /api/ai/suggestions/{id}/apply POST 200
	ids=$(body '.rule_ids[0]')
	ping_ok && fail "ping passes the applied suggestion's rule"
	log "ok: ping from $P_NS4 dropped by the kernel"
	nc -l "$P_ROOT4" "$port" >/dev/null 2>&1 &
	local srv=$!
	wait_for 5 listening -ltn "$P_ROOT4" "$port" || fail "nc -l did not listen"
	ip netns exec "$P_NS" nc -z -w 2 "$P_ROOT4" "$port" >/dev/null 2>&1 && fail "TCP passes the applied rule"
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	log "ok: TCP from $P_NS4 dropped by the kernel"
	expect_req "the rule is a normal filter" 200 GET "/api/filters/$ids"
	body_has "with its expiry and packets counted" ".src_ip == \"$P_NS4\" and .expires_at != null and .packets >= 2"
	jq -e ".rules | map(.id) | index($ids) != null" "$RULES" >/dev/null || fail "the rule is not in the rules file"
	log "ok: persisted in the rules file"
	expect_req "apply $a again" 409 POST "/api/ai/suggestions/$a/apply"
	body_has "409 says why" '(.error | test("already applied"))'
	schema_ok /api/ai/suggestions/{id}/apply POST 409

	# reject, with a reason; then it cannot be applied
	expect_req "reject $b" 200 POST "/api/ai/suggestions/$b/reject" '{"reason": "our bastion"}'
	body_has "rejected with the reason" '.state == "rejected" and .reject_reason == "our bastion"'
	schema_ok /api/ai/suggestions/{id}/reject POST 200
	expect_req "apply a rejected one" 409 POST "/api/ai/suggestions/$b/apply"
	expect_req "reject an applied one" 409 POST "/api/ai/suggestions/$a/reject"
	expect_req "apply an unknown one" 404 POST "/api/ai/suggestions/s-0000000000000000/apply"
	# the policy: a rule against the API's own client (127.0.0.1) is refused
	expect_req "apply a rule against our client" 422 POST "/api/ai/suggestions/$g/apply"
	body_has "the policy's reason" '(.error | test("policy"))'
	schema_ok /api/ai/suggestions/{id}/apply POST 422
	expect_req "still proposed after the refusal" 200 GET /api/ai/suggestions
	state_is "$g" proposed || fail "state of $g after a refused apply: $(state_of "$g")"

	# a restart reads the topic again and remembers the decisions
	stop_api
	start_api -c "$TMP/sugg.yaml"
	wait_for 20 suggestions_are 3 || fail "after a restart: $(n_suggestions) suggestions"
	state_is "$a" applied || fail "after a restart $a is $(state_of "$a")"
	state_is "$b" rejected || fail "after a restart $b is $(state_of "$b")"
	log "ok: decisions survived the restart"
	ping_ok && fail "ping passes after the API restart"
	expect_req "delete the rule" 200 DELETE "/api/filters/$ids"
	ping_ok || fail "ping still dropped after the rule's delete"
	stop_api

	# auto-apply: only detector findings at or above the threshold, with an expiry
	sed -i 's/^  suggestions_topic: .*/&\n  auto_apply: true\n  auto_apply_min_confidence_pct: 90/' "$TMP/sugg.yaml"
	start_api -c "$TMP/sugg.yaml"
	wait_for 20 suggestions_are 3 || fail "auto-apply run: $(n_suggestions) suggestions"
	d=s-$(rand_hex 8)
	e=s-$(rand_hex 8)
	f=s-$(rand_hex 8)
	publish it-node "$(suggestion "$e" it-node detector 0.5 \
		"[{\"rule_type\": \"basic\", \"src_ip\": \"198.51.100.30\", \"action\": \"drop\", \"enabled\": true}]")"
	publish it-node "$(suggestion "$f" it-node model 0.99 \
		"[{\"rule_type\": \"basic\", \"src_ip\": \"198.51.100.31\", \"action\": \"drop\", \"enabled\": true}]")"
	publish it-node "$(suggestion "$d" it-node detector 0.95 \
		"[{\"rule_type\": \"icmp\", \"src_ip\": \"$P_NS4\", \"action\": \"drop\", \"enabled\": true}]")"
	wait_for 20 state_is "$d" applied || fail "the confident detector finding was not auto-applied: $(state_of "$d")"
	log "ok: $d auto-applied"
	state_is "$e" proposed || fail "a 0.5 finding was auto-applied: $(state_of "$e")"
	state_is "$f" proposed || fail "a model suggestion was auto-applied: $(state_of "$f")"
	state_is "$c" "" || fail "another node's suggestion is listed"
	state_is "$a" applied || fail "an old decision was auto-applied again"
	expect_req "list after auto-apply" 200 GET /api/ai/suggestions
	schema_ok /api/ai/suggestions GET 200
	log "ok: the unconfident finding and the model's stay proposed"
	ping_ok && fail "ping passes the auto-applied ICMP rule"
	log "ok: the auto-applied rule is enforced"
	req GET /api/ai/suggestions >/dev/null
	ids=$(body ".[] | select(.id == \"$d\") | .applied_rule_ids[0]")
	expect_req "the auto-applied rule" 200 GET "/api/filters/$ids"
	body_has "auto-applied rules expire" '.expires_at != null'
	expect_req "status" 200 GET /api/ai/status
	body_has "status counts the auto-apply" '.suggestions.auto_applied == 1 and .auto_apply == true'
	stop_api

	# kafka.properties applies to the consumer too: what librdkafka refuses is
	# named, in the log and the status; a secret under the wrong key (librdkafka
	# quotes an enum's value back) is never printed
	local secret
	secret=kp-$(rand_hex 8)
	api_config "$TMP/badprop.yaml" "" "kafka:" "  brokers: $KAFKA_BOOTSTRAP" \
		"  properties:" '    ssl.keystore.password: ${GDR_API_KAFKA_SECRET}' \
		'    debug: ${GDR_API_KAFKA_SECRET}' '    no.such.property: "1"' \
		"ai:" "  suggestions_topic: $TOPIC"
	export GDR_API_KAFKA_SECRET=$secret
	start_api -c "$TMP/badprop.yaml"
	unset GDR_API_KAFKA_SECRET
	wait_for 10 eval '[ "$(curl -s -m 2 "$BASE/api/ai/status" | jq -r .consumer.state)" = error ]' ||
		fail "a refused kafka.properties entry did not stop the consumer: $(curl -s -m 2 "$BASE/api/ai/status")"
	expect_req "status with a refused property" 200 GET /api/ai/status
	body_has "the status names the first refused property, the secret redacted" \
		'.consumer.last_error | test("librdkafka refuses the property debug: Invalid value \"<redacted>\"")'
	grep -qF 'kafka.properties: librdkafka refuses the property debug: Invalid value "<redacted>"' "$A_ERR" ||
		fail "the log does not name the refused property debug: $(grep kafka: "$A_ERR")"
	grep -q "kafka.properties: librdkafka refuses the property no.such.property" "$A_ERR" ||
		fail "the log does not name every refused property: $(grep kafka: "$A_ERR")"
	grep -qF "$secret" "$A_ERR" "$TMP/body" && fail "the secret is in the API's log or status"
	log "ok: kafka.properties refused by the consumer, named, the secret not printed"
	stop_api
}

preflight
for c in "${CASES[@]}"; do
	log "case $c"
	"test_$c"
done
echo "PASS: ${CASES[*]}" >&2
