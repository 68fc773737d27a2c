#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# guarder-ai's benchmark (docs/benchmarks.md, "AI worker"), with a real
# Kafka broker on this machine (test/kafka/kafka.sh):
#   1. throughput: N crafted records (records.py bench: a busy mix that
#      touches every detector's tables) are produced to a 3-partition topic
#      first; then one worker, every detector on, drains them (-drain) and
#      its records/s is reported, beside kcat -C reading the same topic
#      (the client floor) and bench_ai (parser + detectors without Kafka);
#   2. memory: M records from M distinct sources (records.py distinct), the
#      worker's peak RSS (VmHWM) after draining them with the default
#      ai.max_tracked, and its configured bound.
#
#   bench/ai/run.sh [-n RECORDS] [-m DISTINCT_SOURCES]
#       defaults: 1000000 and 1000000
#
# Environment: BUILD_DIR (default build-bench, a release build made if
# missing), KEEP=1 keeps the work directory. Needs java and mvn (the broker).
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$src/build-bench}
n=1000000
m=1000000
while getopts "n:m:h" o; do
	case $o in
	n) n=$OPTARG ;;
	m) m=$OPTARG ;;
	*) sed -n '/^#   bench/,/^# Env/p' "$0" >&2; exit 1 ;;
	esac
done

# shellcheck source=../../test/kafka/kafka.sh
source "$src/test/kafka/kafka.sh"
work=$(mktemp -d /tmp/guarder-ai-bench.XXXXXX)
cleanup() {
	[ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null
	kafka_stop
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$src/scripts/build.sh" "$build" --buildtype=release || exit 1
AI=$build/ai/guarder-ai
gen=$src/test/integration/ai/records.py

kafka_fetch || exit 1
kafka_start "$work/kafka" || exit 1

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

config() { # FILE TOPIC GROUP
	cat >"$1" <<EOC
node:
  name: bench
kafka:
  brokers: $KAFKA_BOOTSTRAP
  topic: $2
ai:
  group_id: $3
  suggestions_topic: bench.suggestions
EOC
}

# drain TOPIC NAME: one worker drains TOPIC; prints its stats file path.
drain() {
	local conf=$work/$2.yaml stats=$work/$2.stats.json t0 t1 cpu

	config "$conf" "$1" "bench-$2"
	t0=$(now)
	/usr/bin/time -f "%U %S" -o "$work/$2.time" \
		"$AI" -c "$conf" -drain -offset-reset earliest -stats-file "$stats" 2>"$work/$2.err"
	t1=$(now)
	cpu=$(awk '{ print $1 + $2 }' "$work/$2.time")
	echo "$stats $t0 $t1 $cpu"
}

echo "== throughput: $n records, one worker, every detector on"
kafka_create_topic bench.flows 3 || exit 1
kafka_create_topic bench.suggestions 1 || exit 1
"$KAFKA_PYTHON" "$gen" bench bench "$n" >"$work/bench.tsv" || exit 1
t0=$(now)
kcat -P -b "$KAFKA_BOOTSTRAP" -t bench.flows -K $'\t' -z lz4 <"$work/bench.tsv" || exit 1
t1=$(now)
echo "produced with kcat -P: $(kafka_count bench.flows) records, $(rate "$n" "$t0" "$t1") records/s"
t0=$(now)
got=$(kcat -C -b "$KAFKA_BOOTSTRAP" -t bench.flows -e -q -o beginning -f '%o\n' | wc -l)
t1=$(now)
echo "kcat -C (client floor): $got records in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s = $(rate "$got" "$t0" "$t1") records/s"
read -r stats t0 t1 cpu < <(drain bench.flows tput)
recs=$(jq .records "$stats")
secs=$(jq .seconds_first_to_last_record "$stats")
echo "guarder-ai -drain: $recs records (bad $(jq .bad_records "$stats")) in $secs s from the first to the last record (group join and end-of-topic wait excluded) = $(awk -v n="$recs" -v s="$secs" 'BEGIN{printf "%.0f", n/s}') records/s; process total $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s wall, $cpu s CPU ($(awk -v n="$recs" -v c="$cpu" 'BEGIN{printf "%.0f", n/c}') records per CPU second); findings $(jq -c .findings "$stats")"
grep "drained" "$work/tput.err"
echo "bench_ai (parser + detectors, no Kafka):"
"$build/bench/ai/bench_ai" "$work/bench.tsv" 1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== memory: $m distinct sources in the window, ai.max_tracked default"
kafka_create_topic bench.distinct 3 || exit 1
"$KAFKA_PYTHON" "$gen" distinct bench "$m" >"$work/distinct.tsv" || exit 1
kcat -P -b "$KAFKA_BOOTSTRAP" -t bench.distinct -K $'\t' -z lz4 <"$work/distinct.tsv" || exit 1
rm -f "$work/distinct.tsv" "$work/bench.tsv"
read -r stats t0 t1 cpu < <(drain bench.distinct mem)
echo "records $(jq .records "$stats"), tracked $(jq -c .tracked "$stats"), evictions $(jq .evictions "$stats")"
echo "VmHWM $(( $(jq .vm_hwm_kib "$stats") / 1024 )) MiB, bound (tables at most) $(( $(jq .memory_bound_bytes "$stats") >> 20 )) MiB"
