#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The streaming benchmark: kernel events -> guarder-collector -> Kafka
# (a real broker on this machine) and -> WebSocket subscribers. Needs root
# (BPF, a network namespace). Method and figures: docs/benchmarks.md,
# "Streaming".
#
#   bench/stream/run.sh [-r RATE] [-d SECONDS] [-k KCAT_SECONDS] [-K]
#       Kafka: records for kcat are captured first (KCAT_SECONDS of evgen,
#       default 10, with collector.record_file) and kcat -P produces them
#       twice to warm the broker's JVM up; then the collector publishes what
#       evgen writes into its ring buffer (RATE records/s, 0 = as fast as it
#       goes; default 500000) for SECONDS (default 60), every record
#       accounted for; then kcat -P produces the captured records to a
#       second topic. Rates end at the broker's append of the last record
#       (LogAppendTime). -K: no kcat and no warm-up.
#       -b BYTES: bpf.ringbuf_size (a power of two; default: the config's).
#   bench/stream/run.sh -w [-r RATE] [-d SECONDS] [-n SUBSCRIBERS]
#       WebSocket: SUBSCRIBERS (default 50) subscribers at RATE (default
#       20000) records/s for SECONDS (default 60), all reading; then the
#       same with the first one stalled (it stops reading). -M BYTES and
#       -Q RECORDS set websocket.max_message and websocket.queue_records.
#
# Environment: BUILD_DIR (default build-bench, a release build made if
# missing), KEEP=1 keeps the work directory (/tmp/guarder-stream.*),
# PERF=SECONDS profiles the collector with perf for that long (Kafka run),
# SINK_KAFKA="compression=none,queue_max_kbytes=65536" sets kafka.* keys of
# the collector (Kafka run) and the same settings of kcat -P, NICE=N runs
# the benchmark's processes (broker, collector, evgen, kcat, ws_sub) at that
# nice value, all alike (a shared machine's other load).
# Exit status: 0 when every check held, 1 otherwise.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$src/build-bench}
mode=kafka
rate=
seconds=60
kcat_seconds=10
subscribers=50
skip_kcat=0
partitions=6
ringbuf=
ws_extra=()

usage() { sed -n '/^#   bench/,/^# Exit/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1; }
while getopts "r:d:k:Kwn:b:M:Q:h" o; do
	case $o in
	r) rate=$OPTARG ;;
	d) seconds=$OPTARG ;;
	k) kcat_seconds=$OPTARG ;;
	K) skip_kcat=1 ;;
	w) mode=ws ;;
	n) subscribers=$OPTARG ;;
	b) ringbuf=$OPTARG ;;
	M) ws_extra+=("  max_message: $OPTARG") ;;
	Q) ws_extra+=("  queue_records: $OPTARG") ;;
	*) usage ;;
	esac
done
[ -n "$rate" ] || { [ $mode = ws ] && rate=20000 || rate=500000; }

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/stream/run.sh: run as root (BPF, network namespaces)" >&2
	exit 1
fi
if [ -n "${PERF:-}" ] && ! command -v perf >/dev/null; then
	echo "bench/stream/run.sh: PERF= needs perf: apt-get install linux-perf" >&2
	exit 1
fi
# NICE=-10: every process of the benchmark (broker included: all are our
# children) ahead of unrelated work on a shared machine, equally.
if [ -n "${NICE:-}" ]; then
	renice -n "$NICE" -p $$ >/dev/null || exit 1
fi
"$src/scripts/build.sh" "$build" --buildtype=release || exit 1
COLLECTOR=$build/collector/guarder-collector
EVGEN=$build/bench/stream/evgen
WS_SUB=$build/bench/stream/ws_sub

id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
NS=gdr-bs-$id
VETH=gdbs${id}r
PEER=gdbs${id}n
PIN=/sys/fs/bpf/guarder-test-bs-$id
W=$(mktemp -d /tmp/guarder-stream.XXXXXX)
C_PID=
FAILED=0
HZ=$(getconf CLK_TCK)

say() { printf '%s\n' "$*"; }
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; } # EXPRESSION [DECIMALS]
check() { # WHAT CONDITION-RESULT(0/1) DETAIL
	if [ "$2" -eq 0 ]; then
		say "  ok:   $1 ($3)"
	else
		say "  FAIL: $1 ($3)"
		FAILED=1
	fi
}

cleanup() {
	if [ -n "$C_PID" ]; then
		kill -TERM "$C_PID" 2>/dev/null
		wait "$C_PID" 2>/dev/null
	fi
	[ $mode = kafka ] && kafka_stop 2>/dev/null
	ip link del "$VETH" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$PIN"
	if [ "${KEEP:-0}" = 1 ]; then
		echo "work directory kept: $W" >&2
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A veth pair for the collector to attach to. No addresses and no IPv6 on
# either end: no real traffic, so every record comes from evgen.
setup_veth() {
	ip netns add "$NS" || exit 1
	ip link add "$VETH" type veth peer name "$PEER" || exit 1
	sysctl -qw "net.ipv6.conf.$VETH.disable_ipv6=1" || exit 1
	ip link set "$PEER" netns "$NS"
	ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$PEER.disable_ipv6=1" || exit 1
	ip link set "$VETH" up
	ip -n "$NS" link set "$PEER" up
	IFINDEX=$(cat "/sys/class/net/$VETH/ifindex")
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# write_config FILE [YAML lines appended at the top level...]
write_config() {
	local f=$1

	shift
	cat >"$f" <<EOF
node:
  name: bench-node
bpf:
  pin_path: $PIN
  flow_table_size: 65536
${ringbuf:+  ringbuf_size: $ringbuf}
rules:
  file: $W/rules.json
collector:
  interfaces: [$VETH]
  console: false
  stats_file: $W/stats.json
EOF
	printf '%s\n' "$@" >>"$f"
}

start_collector() { # CONFIG
	local i

	rm -f "$W/stats.json"
	"$COLLECTOR" -c "$1" >"$W/collector.out" 2>"$W/collector.err" &
	C_PID=$!
	for ((i = 0; i < 150; i++)); do
		grep -qs "Ctrl-C or SIGTERM stops" "$W/collector.err" && [ -s "$W/stats.json" ] &&
			return 0
		kill -0 "$C_PID" 2>/dev/null || break
		sleep 0.2
	done
	echo "the collector did not start:" >&2
	cat "$W/collector.err" >&2
	exit 1
}

# The collector must have survived the run: a crash is a failure, said once.
alive() {
	kill -0 "$C_PID" 2>/dev/null && return 0
	wait "$C_PID"
	say "  FAIL: the collector died during the run (exit status $?); its last words:"
	tail -n 5 "$W/collector.err"
	FAILED=1
	C_PID=
	say "RESULT: some checks FAILED"
	exit 1
}

stop_collector() {
	alive
	kill -TERM "$C_PID"
	wait "$C_PID"
	C_RC=$?
	C_PID=
}

stat_of() { jq -r "$1" "$W/stats.json"; }
records_total() { stat_of '[.records[]] | add'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; } # busy idle
# "TID COMM TICKS" of every thread of PID
threads_cpu() {
	local t

	for t in /proc/"$1"/task/*; do
		echo "${t##*/} $(tr ' ' _ <"$t/comm") $(awk '{print $14 + $15}' "$t/stat") $(cut -d' ' -f1-2 "$t/schedstat")"
	done
}
vm() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # PID VmHWM|VmRSS, kB

# drain WHAT-JQ: wait until the stats file's records total and WHAT stop
# moving for 3 s (at most 180 s), i.e. the collector and its sinks are done.
drain() {
	local prev= cur i still=0

	for ((i = 0; i < 720; i++)); do
		sleep 0.25
		cur="$(records_total) $(stat_of "$1")"
		if [ "$cur" == "$prev" ]; then
			still=$((still + 1))
			[ $still -ge 12 ] && return 0
		else
			still=0
		fi
		prev=$cur
	done
	echo "not drained after 180 s: $cur" >&2
	return 1
}

# sample_loop FILE: once a second, "t records delivered queued rss_kB" until killed.
sample_loop() {
	local t0=$SECONDS

	while sleep 1; do
		echo "$((SECONDS - t0)) $(jq -r '([.records[]] | add | tostring) + " " +
			((.sinks.kafka.delivered // 0) | tostring) + " " +
			((.sinks.kafka.queued // 0) | tostring)' "$W/stats.json" 2>/dev/null) \
			$(vm "$C_PID" VmRSS)"
	done
}

run_evgen() { # RATE SECONDS OUT-PREFIX
	local TIMEFORMAT='%R %U %S'

	{ time "$EVGEN" -p "$PIN" -i "$IFINDEX" -r "$1" -d "$2" >"$3.json" 2>"$3.err"; } 2>"$3.time"
	[ -s "$3.json" ] || {
		echo "evgen failed:" >&2
		cat "$3.err" >&2
		exit 1
	}
}

kafka_part() {
	local conf=$W/collector.yaml t0 c0 c1 k0 k1 m0 m1 s_pid
	local written failed attempted rb_fail recs ev_recs other topic kq kdel kdrop kfail
	local kacc ksfail hwm lost elapsed ctl rate_k t2 cpu_el e la rb0 kx=()

	# shellcheck source=../../test/kafka/kafka.sh
	source "$src/test/kafka/kafka.sh"
	kafka_start "$W/kafka" || exit 1
	# LogAppendTime: each record carries the broker's time of its append,
	# so "last record on the topic" is exact for both producers (kafka_last_append)
	kafka_create_topic guarder.flows "$partitions" message.timestamp.type=LogAppendTime ||
		exit 1
	kafka_create_topic guarder.kcat "$partitions" message.timestamp.type=LogAppendTime ||
		exit 1
	setup_veth
	IFS=',' read -ra kv <<<"${SINK_KAFKA:-}"
	if [ "$skip_kcat" != 1 ]; then
		capture_records
		warm_broker
	fi
	for e in "${kv[@]}"; do
		kx+=("  ${e%%=*}: ${e#*=}")
	done
	write_config "$conf" \
		"kafka:" "  brokers: $KAFKA_BOOTSTRAP" "  topic: guarder.flows" \
		"${kx[@]}" \
		"websocket:" "  enabled: true" "  listen: 127.0.0.1:$(free_port)"
	start_collector "$conf"
	# the kernel's counter lives in the pinned map: the capture run counted too
	rb0=$(stat_of .kernel.ringbuf_fail)

	say "== Kafka: evgen at $([ "$rate" = 0 ] && echo "max" || echo "$rate") records/s for $seconds s, $partitions partitions, broker $KAFKA_BOOTSTRAP"
	sample_loop >"$W/samples.txt" &
	s_pid=$!
	c0=$(cpu_ticks "$C_PID")
	k0=$(cpu_ticks "$KAFKA_PID")
	read -r m0 _ < <(machine_busy)
	threads_cpu "$C_PID" >"$W/threads.0"
	t0=$(date +%s.%N)
	if [ -n "${PERF:-}" ]; then
		# a flat profile of the collector (all its threads) while evgen runs
		perf record -q -F 997 -p "$C_PID" -o "$W/perf.data" -- sleep "$PERF" \
			>/dev/null 2>&1 &
	fi
	run_evgen "$rate" "$seconds" "$W/evgen"
	drain '.sinks.kafka.queued' || FAILED=1
	t2=$(date +%s.%N) # CPU counters below cover t0..t2
	c1=$(cpu_ticks "$C_PID")
	k1=$(cpu_ticks "$KAFKA_PID")
	read -r m1 _ < <(machine_busy)
	threads_cpu "$C_PID" >"$W/threads.1"
	kill "$s_pid" 2>/dev/null
	wait "$s_pid" 2>/dev/null
	alive
	hwm=$(vm "$C_PID" VmHWM)
	stop_collector
	check "collector exit status after SIGTERM" "$C_RC" "$C_RC"

	attempted=$(jq .attempted "$W/evgen.json")
	written=$(jq .written "$W/evgen.json")
	failed=$(jq .failed "$W/evgen.json")
	rb_fail=$(($(stat_of .kernel.ringbuf_fail) - rb0))
	recs=$(records_total)
	ev_recs=$(stat_of '.records.drop + .records.icmp')
	other=$((recs - ev_recs))
	kacc=$(stat_of .sinks.kafka.emitted)
	ksfail=$(stat_of .sinks.kafka.failed)
	kdel=$(stat_of .sinks.kafka.delivered)
	kq=$(stat_of .sinks.kafka.queued)
	kdrop=$(stat_of .sinks.kafka.dropped_queue_full)
	kfail=$(stat_of .sinks.kafka.delivery_failed)
	topic=$(kafka_count guarder.flows) || exit 1
	cpu_el=$(calc "$t2 - $t0" 3)

	say "-- accounting (records)"
	say "  evgen attempted         $attempted  ($(jq .rate "$W/evgen.json") /s over $(jq .seconds "$W/evgen.json") s)"
	say "  lost: ring buffer full  $failed (kernel ringbuf_fail $rb_fail)"
	say "  written to ring buffer  $written"
	say "  collector records       $recs (drop+icmp $ev_recs, other $other; bad events $(stat_of .view.bad_events))"
	say "  kafka sink accepted     $kacc, refused $ksfail"
	say "  lost: queue full        $kdrop"
	say "  lost: delivery failed   $kfail"
	say "  still queued            $kq"
	say "  delivered (reports)     $kdel"
	say "  on the topic (offsets)  $topic"
	lost=$((failed + ksfail + kdrop + kfail + kq))
	check "evgen attempted = written + ring buffer full" $((attempted != written + failed)) \
		"$attempted = $written + $failed"
	check "ring buffer losses = kernel ringbuf_fail" $((failed != rb_fail)) "$failed, $rb_fail"
	check "collector records from evgen = written" $((ev_recs != written)) "$ev_recs, $written"
	check "no record but evgen's" $((other != 0)) "$other"
	check "on topic = delivered reports" $((topic != kdel)) "$topic, $kdel"
	check "NO UNACCOUNTED LOSS: attempted = on topic + every counted loss" \
		$((attempted != topic - other + lost)) \
		"$attempted = $((topic - other)) + $lost (ring buffer $failed, refused $ksfail, queue full $kdrop, delivery failed $kfail, queued at exit $kq)"

	la=$(kafka_last_append guarder.flows) || exit 1
	elapsed=$(calc "$la - $t0" 3)
	rate_k=$(calc "$topic / $elapsed")
	# per-second deliveries while evgen ran, its first and last second left out
	ctl=$(awk -v end="$seconds" '$1 >= 2 && $1 <= end - 1 && p != "" { print $3 - p } { p = $3 }' \
		"$W/samples.txt" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[1], v[int((NR + 1) / 2)], v[NR]; else print "n/a" }')
	say "-- throughput"
	say "  into Kafka: $topic records in $elapsed s (evgen's start to the broker's append of the last record) = $rate_k records/s"
	say "  delivered per second while evgen ran (min median max): $ctl"
	say "  collector CPU: $(calc "100 * ($c1 - $c0) / $HZ / $cpu_el")% of one core;" \
		"broker $(calc "100 * ($k1 - $k0) / $HZ / $cpu_el")%;" \
		"evgen (real user sys) $(cat "$W/evgen.time");" \
		"machine busy $(calc "100 * ($m1 - $m0) / $HZ / $cpu_el / $(nproc)")% of $(nproc) cores (everyone's)"
	# schedstat: time on a CPU and time runnable but waiting for one
	say "  collector threads, % of the run on a CPU / waiting for a CPU: $(join "$W/threads.0" "$W/threads.1" |
		awk -v el="$cpu_el" '$8 > $4 { printf "%s %.0f/%.0f  ", $2, ($8 - $4) / 1e7 / el, ($9 - $5) / 1e7 / el }')"
	say "  CPU per record: collector $(calc "($c1 - $c0) * 1e6 / $HZ / $recs" 2) us, broker $(calc "($k1 - $k0) * 1e6 / $HZ / $recs" 2) us, evgen $(awk -v n="$attempted" '{ printf "%.2f", ($2 + $3) * 1e6 / n }' "$W/evgen.time") us"
	say "  collector peak RSS (VmHWM): $((hwm / 1024)) MiB; RSS over the run (MiB, max): $(awk '{ if ($5 > m) m = $5 } END { print int(m / 1024) }' "$W/samples.txt")"

	if [ -n "${PERF:-}" ]; then
		say "-- perf: the collector's samples by DSO, then the top symbols"
		perf report -i "$W/perf.data" --no-children --sort dso --stdio 2>/dev/null |
			grep -v '^#' | grep . | head -n 12
		perf report -i "$W/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null |
			grep -v '^#' | grep . | head -n 30
	fi
	[ "$skip_kcat" = 1 ] && return
	kcat_part
}

# kcat -P with the same records: capture them with collector.record_file
# (Kafka off), turn each line into KEY<TAB>JSON with the record's own key,
# and time kcat producing them with the sink's producer settings.
# Capture the records kcat will produce: collector.record_file (Kafka off)
# for KCAT_SECONDS of evgen at RATE, then KEY<TAB>JSON lines with each
# record's own key, in $W/records.tsv.
capture_records() {
	local conf=$W/collector-rec.yaml

	say "== capturing $kcat_seconds s of records for kcat -P"
	write_config "$conf" "  record_file: $W/records.jsonl" "websocket:" "  enabled: false"
	# record_file belongs to the collector section written last by write_config
	start_collector "$conf"
	run_evgen "$rate" "$kcat_seconds" "$W/evgen-rec"
	drain '.view.active' || FAILED=1
	stop_collector
	# KEY<TAB>JSON, the key cut out of the record's own "key" member
	awk '{ i = index($0, "\"key\":\""); r = substr($0, i + 7)
		print substr(r, 1, index(r, "\"") - 1) "\t" $0 }' "$W/records.jsonl" >"$W/records.tsv"
	rm -f "$W/records.jsonl"
	cat "$W/records.tsv" >/dev/null # page cache: kcat reads from memory, as the collector does
}

# The sink's setting KEY (kafka.KEY): from SINK_KAFKA, else its default.
sink_setting() { # KEY DEFAULT
	local e

	for e in "${kv[@]}"; do
		[ "${e%%=*}" = "$1" ] && { echo "${e#*=}"; return; }
	done
	echo "$2"
}

# kcat -P of $W/records.tsv to TOPIC with the sink's producer settings
# (its defaults, or what SINK_KAFKA changed of them).
kcat_produce() { # TOPIC
	(
		TIMEFORMAT='%R %U %S'
		time kcat -P -b "$KAFKA_BOOTSTRAP" -t "$1" -K $'\t' \
			-z "$(sink_setting compression lz4)" \
			-X linger.ms="$(sink_setting linger_ms 5)" \
			-X batch.size="$(sink_setting batch_size 1000000)" \
			-X acks=all -X enable.idempotence=true \
			-X queue.buffering.max.messages="$(sink_setting queue_max_messages 1000000)" \
			-X queue.buffering.max.kbytes="$(sink_setting queue_max_kbytes 131072)" \
			-l "$W/records.tsv" 2>"$W/kcat.err"
	) 2>"$W/kcat.time"
}

# The broker's JVM compiles its hot paths during the first tens of seconds
# of load: whichever producer ran first would pay for it. Both measured
# runs come after this warm-up (kcat -P of the captured records, twice).
warm_broker() {
	local t0

	t0=$(date +%s)
	kafka_create_topic guarder.warmup "$partitions" || exit 1
	kcat_produce guarder.warmup && kcat_produce guarder.warmup ||
		{ echo "kcat warm-up failed: $(tail -n 3 "$W/kcat.err")" >&2; exit 1; }
	say "== broker warmed up: kcat -P of the captured records, twice ($(($(date +%s) - t0)) s)"
}

kcat_part() {
	local n t0 t1 el topic2 rc k0 k1 ku ks la

	say "== kcat -P: the same records ($kcat_seconds s of them)"
	n=$(wc -l <"$W/records.tsv")
	k0=$(cpu_ticks "$KAFKA_PID")
	t0=$(date +%s.%N)
	kcat_produce guarder.kcat
	rc=$?
	t1=$(date +%s.%N)
	k1=$(cpu_ticks "$KAFKA_PID")
	check "kcat exit status" $rc "$rc $(tail -n 1 "$W/kcat.err")"
	topic2=$(kafka_count guarder.kcat) || exit 1
	la=$(kafka_last_append guarder.kcat) || exit 1
	el=$(calc "$la - $t0" 3)
	read -r _ ku ks <"$W/kcat.time"
	say "  kcat -P: $n records in $el s (its start to the broker's append of the last record; kcat exited after $(calc "$t1 - $t0" 3) s) = $(calc "$n / $el") records/s; on its topic: $topic2"
	say "  CPU per record: kcat $(calc "($ku + $ks) * 1e6 / $n" 2) us, broker $(calc "($k1 - $k0) * 1e6 / $HZ / $n" 2) us"
	check "kcat delivered every record" $((topic2 != n)) "$topic2 of $n"
	rm -f "$W/records.tsv"
}

# One WebSocket run: SUBSCRIBERS connections, STALLED of them not reading.
ws_run() { # STALLED
	local conf=$W/collector-ws.yaml port out s_pid hwm written recs wsem fast_min fast_max
	local c0 c1 t0 t1 t2 el maxrss lag

	port=$(free_port)
	write_config "$conf" "websocket:" "  enabled: true" "  listen: 127.0.0.1:$port" \
		"${ws_extra[@]}"
	start_collector "$conf"
	out=$W/ws_sub.$1
	: >"$out.err"
	(
		TIMEFORMAT='%R %U %S'
		time "$WS_SUB" -u "127.0.0.1:$port" -n "$subscribers" -s "$1" -q 5 \
			-d $((seconds + 120)) >"$out.json" 2>"$out.err"
	) 2>"$out.time" &
	local w_pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "$subscribers connected" "$out.err" && break
		sleep 0.1
	done
	grep -q "$subscribers connected" "$out.err" || {
		echo "the subscribers did not connect:" >&2
		cat "$out.err" >&2
		exit 1
	}
	sample_loop >"$W/samples-ws.$1.txt" &
	s_pid=$!
	c0=$(cpu_ticks "$C_PID")
	threads_cpu "$C_PID" >"$W/threads-ws.$1.0"
	t0=$(date +%s.%N)
	run_evgen "$rate" "$seconds" "$W/evgen-ws.$1"
	threads_cpu "$C_PID" >"$W/threads-ws.$1.1"
	t2=$(date +%s.%N)
	wait "$w_pid"
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$C_PID")
	kill "$s_pid" 2>/dev/null
	wait "$s_pid" 2>/dev/null
	alive
	hwm=$(vm "$C_PID" VmHWM)
	stop_collector
	el=$(calc "$t1 - $t0" 3)
	written=$(jq .written "$W/evgen-ws.$1.json")
	recs=$(records_total)
	wsem=$(stat_of '.sinks.websocket.emitted // .sinks.ws.emitted // 0')
	fast_min=$(jq .fast_min "$out.json")
	fast_max=$(jq .fast_max "$out.json")
	lag=$(jq -c '[.clients[] | select(.lagged_msgs > 0) | {id, records, lagged_msgs, lagged_records}]' "$out.json")
	maxrss=$(awk '{ if ($5 > m) m = $5 } END { print int(m / 1024) }' "$W/samples-ws.$1.txt")
	say "  evgen wrote $written ($(jq .failed "$W/evgen-ws.$1.json") ring buffer full); collector records $recs; websocket sink emitted $wsem"
	say "  fast clients received: min $fast_min, max $fast_max records; lagged clients: $lag"
	say "  collector CPU $(calc "100 * ($c1 - $c0) / $HZ / $el")% of one core; ws_sub (real user sys) $(cat "$out.time"); peak RSS (VmHWM) $((hwm / 1024)) MiB, max RSS sampled $maxrss MiB"
	say "  collector threads while evgen ran, % on a CPU / waiting for a CPU: $(join "$W/threads-ws.$1.0" "$W/threads-ws.$1.1" |
		awk -v el="$(calc "$t2 - $t0" 3)" '$8 > $4 { printf "%s %.0f/%.0f  ", $2, ($8 - $4) / 1e7 / el, ($9 - $5) / 1e7 / el }')"
	say "  websocket sink counters: $(stat_of '.sinks.websocket // .sinks.ws // {}' | jq -c .)"
	check "every fast client got every record" $((fast_min != recs || fast_max != recs)) \
		"min $fast_min max $fast_max of $recs"
	check "records = evgen written" $((recs != written)) "$recs, $written"
	check "every subscriber still connected: records + missed = published" \
		"$(jq --argjson n "$recs" '[.clients[] | select(.closed | not) |
			select(.records + .lagged_records != $n)] | length | if . == 0 then 0 else 1 end' "$out.json")" \
		"$(jq '[.clients[] | select(.closed | not)] | length' "$out.json") subscribers"
	check "no fast client lagged" \
		"$(jq "[.clients[] | select(.stalled | not) | .lagged_msgs] | add | . != 0 | if . then 1 else 0 end" "$out.json")" \
		"$(jq "[.clients[] | select(.stalled | not) | .lagged_msgs] | add" "$out.json") lagged messages"
	if [ "$1" -gt 0 ]; then
		say "  the stalled client: $(jq -c '.clients[0]' "$out.json")"
		if [ "$(jq '.clients[0].closed' "$out.json")" = true ]; then
			say "  (the feed disconnected it: a peer that reads nothing answers no ping;" \
				"websocket.ping_interval)"
		else
			check "the stalled client, reading again: records + missed = published" \
				$(($(jq '.clients[0] | .records + .lagged_records' "$out.json") != recs)) \
				"$(jq '.clients[0] | .records + .lagged_records' "$out.json") of $recs"
		fi
	fi
	WS_HWM[$1]=$hwm
}

ws_part() {
	setup_veth
	say "== WebSocket: $subscribers subscribers, evgen at $rate records/s for $seconds s (Kafka off)"
	ws_run 0
	say "== WebSocket: the same, subscriber 0 stops reading"
	ws_run 1
	say "  RSS with a stalled client: $((WS_HWM[1] / 1024)) MiB vs $((WS_HWM[0] / 1024)) MiB without"
}

declare -a WS_HWM
say "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1048576)}' /proc/meminfo) GiB, kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), nice ${NICE:-0}"
if [ $mode = kafka ]; then
	kafka_part
else
	ws_part
fi
[ $FAILED = 0 ] && say "RESULT: all checks held" || say "RESULT: some checks FAILED"
exit $FAILED
