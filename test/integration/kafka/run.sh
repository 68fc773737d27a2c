#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Integration tests of the collector's Kafka sink: real traffic through a
# veth pair into a network namespace, the collector attached to the
# root-side veth only, a real Apache Kafka broker (test/kafka/kafka.sh, one
# per case, started and stopped by the case) and clients written by others
# (kcat, python3-confluent-kafka) reading the topic.
#
#   run.sh COLLECTOR CASE...   (CASE: records, outage, restart, shutdown,
#                               fatal, check_config; or "all")
#
# Expected numbers come from the traffic the case makes (flows it opened,
# datagrams it sent) and from the collector's own record file and stats
# file, never from the sink's view alone: the topic must hold exactly what
# the collector emitted. Exit status: 0 pass, 1 fail, 77 skipped (not root).
# A missing broker (no java, no Maven, no jars) is a failure, not a skip.
set -uo pipefail

COLLECTOR=${1:?usage: run.sh COLLECTOR CASE...}
shift
COLLECTOR=$(realpath "$COLLECTOR")
ALL_CASES=(records outage restart shutdown fatal check_config)

HERE=$(dirname "$(realpath "$0")")
TOP=$(realpath "$HERE/../../..")
SCHEMA=$TOP/docs/record.schema.json
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
# shellcheck source=../../kafka/kafka.sh
source "$TOP/test/kafka/kafka.sh"
trap 'kafka_stop; cleanup' EXIT
TOPIC=guarder.flows

# broker_up: a fresh broker for this case and the 3-partition topic $TOPIC.
broker_up() {
	kafka_fetch || fail "the Kafka broker jars are not available (see above)"
	kafka_start "$TMP/kafka.$CASE" || fail "the Kafka broker did not start"
	kafka_create_topic "$TOPIC" 3 || fail "cannot create $TOPIC"
}

# kafka_section [extra kafka keys...]: the kafka: section of $CONF.
kafka_section() {
	local key

	{
		echo "kafka:"
		echo "  brokers: $KAFKA_BOOTSTRAP"
		echo "  topic: $TOPIC"
		for key in "$@"; do
			echo "  $key"
		done
	} >>"$CONF"
}

# sj JQ: a value of the collector's stats file (jq -r), empty if unreadable.
sj() { jq -r "$1" "$STATS" 2>/dev/null; }

# Everything emitted to Kafka is accounted for: nothing queued, and
# delivered + failed + dropped == emitted (the identity the sink keeps).
kafka_settled() {
	[ "$(sj '.sinks.kafka | .queued == 0 and
		.emitted == .delivered + .delivery_failed + .dropped_queue_full')" = true ]
}

drained_after_full() { kafka_settled && [ "$(sj .sinks.kafka.queue_full)" = false ]; }

# sj_ge JQ N: a stats value is at least N (for wait_for: evaluated each time).
sj_ge() {
	local v

	v=$(sj "$1")
	[ -n "$v" ] && [ "$v" != null ] && [ "$v" -ge "$2" ]
}

# Records of all kinds the flow view made (what the sinks were handed).
records_total() { sj '.records | .start + .update + .end + .drop + .icmp'; }

# stop_and_account: SIGTERM the collector (exit 0), then account for every
# record from what it left: the stats file it wrote after its last sweep
# (FIN_E records emitted to Kafka) and the line its flush logged (FIN_D
# delivered, FIN_F delivery failures, FIN_X dropped). Checks that the view
# handed every record to the sink and that D + F + X = E exactly.
stop_and_account() {
	local line

	stop_collector
	line=$(grep -o "kafka: queue flushed in .*" "$C_ERR" | tail -n 1)
	[ -n "$line" ] || fail "the stop did not flush the Kafka queue: $(grep kafka: "$C_ERR" | tail -n 5)"
	read -r FIN_D FIN_F FIN_X < <(sed -E 's/.*in all ([0-9]+) delivered, ([0-9]+) delivery failures, ([0-9]+) dropped.*/\1 \2 \3/' <<<"$line")
	FIN_E=$(sj .sinks.kafka.emitted)
	log "final: $line; emitted $FIN_E"
	expect_eq "records emitted to Kafka = records the view made" "$FIN_E" "$(records_total)"
	expect_eq "records the Kafka sink refused" "$(sj .sinks.kafka.failed)" 0
	expect_eq "delivered + failed + dropped = emitted" $((FIN_D + FIN_F + FIN_X)) "$FIN_E"
}

# records_match JQ_CONDITION: how many lines of the record file match.
records_match() { jq -c "select($1)" "$REC" 2>/dev/null | wc -l; }
records_at_least() { [ "$(records_match "$1")" -ge "$2" ]; }

stderr_has() { grep -qF -- "$1" "$C_ERR"; }

# dump_both OUT: the topic read by kcat and by confluent-kafka; both must
# hold the same messages. OUT gets kcat's copy.
dump_both() {
	local out=$1 n

	kafka_consume "$TOPIC" "$out" || fail "kcat could not read $TOPIC"
	"$KAFKA_PYTHON" "$HERE/topic.py" dump "$KAFKA_BOOTSTRAP" "$TOPIC" "$out.py" >/dev/null ||
		fail "confluent-kafka could not read $TOPIC"
	n=$(wc -l <"$out")
	expect_eq "messages read by confluent-kafka (kcat read $n)" \
		"$(sort "$out.py" | md5sum)" "$(sort "$out" | md5sum)"
}

# check_topic DUMP ARGS...: topic.py check, failing the case on an error.
check_topic() {
	local out

	out=$("$KAFKA_PYTHON" "$HERE/topic.py" check "$@" 2>&1) || fail "topic check: $out"
	while IFS= read -r line; do log "ok: $line"; done <<<"$out"
}

# udp_listener PORT: a socket in the root namespace that takes datagrams
# (so that none is answered with an ICMP error); its pid in L_PID.
udp_listener() {
	python3 - "$P_ROOT4" "$1" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    s.recv(2048)
EOF
	L_PID=$!
	PIDS+=("$L_PID")
	wait_for 5 listening -lun "$P_ROOT4" "$1" || fail "the UDP listener did not bind"
}

# udp_flows PORT COUNT INTERVAL: COUNT new UDP flows from the namespace to
# the root side, one datagram each from its own source port (10000 + i:
# ephemeral ports could repeat a 5-tuple within the idle timeout and so
# make fewer flows), INTERVAL seconds apart. Prints how many were sent.
udp_flows() {
	ip netns exec "$P_NS" python3 - "$P_ROOT4" "$1" "$2" "$3" <<'EOF'
import socket, sys, time
dst, n, gap = (sys.argv[1], int(sys.argv[2])), int(sys.argv[3]), float(sys.argv[4])
sent, t0 = 0, time.monotonic()
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", 10000 + i))
    s.sendto(b"k" * 64, dst)
    s.close()
    sent += 1
    # a steady rate, whatever the scheduler does
    time.sleep(max(0.0, t0 + (i + 1) * gap - time.monotonic()))
print(sent)
EOF
}

# Real traffic of several kinds; records on the topic with exact counts,
# keys and partitions, read by kcat and by confluent-kafka.
test_records() {
	local port=$((20000 + RANDOM % 20000)) uport=$((20000 + RANDOM % 20000)) server out dump
	local nparts flows id4=$((1000 + RANDOM % 30000)) id6=$((31000 + RANDOM % 30000))

	new_pair
	broker_up
	nparts=$(kcat -L -b "$KAFKA_BOOTSTRAP" -t "$TOPIC" -m 5 | grep -c "partition [0-9]*, leader")
	expect_eq "partitions of $TOPIC" "$nparts" 3
	new_config "$TMP/records.yaml"
	kafka_section
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_stderr "records: Kafka topic $TOPIC on $KAFKA_BOOTSTRAP"

	# ICMP echo, v4 and v6: one flow each, told apart from neighbour
	# discovery by their echo identifiers (the records' ports).
	out=$(ip netns exec "$P_NS" ping -e "$id4" -c 3 -i 0.2 -q "$P_ROOT4") || fail "ping failed"
	grep -q "3 received" <<<"$out" || fail "ping lost packets: $out"
	out=$(ip netns exec "$P_NS" ping -6 -e "$id6" -c 2 -i 0.2 -q "$P_ROOT6") || fail "ping -6 failed"
	grep -q "2 received" <<<"$out" || fail "ping -6 lost packets: $out"

	# TCP: one connection from the namespace, 2000 bytes, closed.
	head -c 2000 /dev/urandom >"$TMP/tcp.sent"
	nc -l -d "$P_ROOT4" "$port" >"$TMP/tcp.recv" &
	server=$!
	PIDS+=("$server")
	wait_for 5 listening -ltn "$P_ROOT4" "$port" || fail "nc -l did not listen"
	ip netns exec "$P_NS" nc -N -w 5 "$P_ROOT4" "$port" <"$TMP/tcp.sent" || fail "nc client failed"
	wait_for 5 exited "$server" || fail "nc -l did not see the close"
	cmp -s "$TMP/tcp.sent" "$TMP/tcp.recv" || fail "the TCP payload did not arrive intact"

	# UDP both ways on one 5-tuple: first the namespace starts it, and once
	# that flow has ended the root side starts one with the ports swapped.
	# Two flows, initiators opposite: one canonical key, one partition.
	ip netns exec "$P_NS" python3 - "$P_ROOT4" "$uport" <<'EOF' || fail "UDP sender failed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", int(sys.argv[2]) + 1))
for _ in range(4):
    s.sendto(b"u" * 100, (sys.argv[1], int(sys.argv[2])))
EOF
	wait_record 10 "$(flow_cond udp "$P_NS4" "$P_ROOT4") and .dst_port==$uport and .event==\"end\"" >/dev/null
	python3 - "$P_ROOT4" "$P_NS4" "$uport" <<'EOF' || fail "UDP sender (root side) failed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[3])))
for _ in range(3):
    s.sendto(b"r" * 50, (sys.argv[2], int(sys.argv[3]) + 1))
EOF

	# Every flow ends (idle or FIN), then everything is delivered.
	wait_record 10 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .src_port==$id4 and .event==\"end\"" >/dev/null
	wait_record 10 "$(flow_cond icmpv6 "$P_NS6" "$P_ROOT6") and .src_port==$id6 and .event==\"end\"" >/dev/null
	wait_record 10 "$(flow_cond tcp "$P_NS4" "$P_ROOT4") and .dst_port==$port and .event==\"end\"" >/dev/null
	wait_record 10 "$(flow_cond udp "$P_ROOT4" "$P_NS4") and .src_port==$uport and .event==\"end\"" >/dev/null
	# The port unreachable for the reversed UDP flow (nothing listens in
	# the namespace) may still be on its way as an icmp record: let the
	# view settle one more sweep before comparing totals.
	sleep 1.5
	wait_for 20 kafka_settled || fail "not everything was delivered: $(sj .sinks.kafka)"
	log "kafka sink: $(jq -c .sinks.kafka "$STATS")"
	expect_eq "broker state" "$(sj .sinks.kafka.broker)" up
	stop_and_account
	expect_kept "$P_VETH"
	expect_eq "Kafka delivery failures" "$FIN_F" 0
	expect_eq "Kafka drops" "$FIN_X" 0
	expect_eq "messages on $TOPIC = delivered" "$(kafka_count "$TOPIC")" "$FIN_D"

	dump=$TMP/records.tsv
	dump_both "$dump"
	flows=$TMP/flows.json
	cat >"$flows" <<EOF
[
 {"name": "ping4", "match": {"proto": "icmp", "src_ip": "$P_NS4", "dst_ip": "$P_ROOT4", "src_port": $id4},
  "counts": {"start": 1, "end": 1}},
 {"name": "ping6", "match": {"proto": "icmpv6", "src_ip": "$P_NS6", "dst_ip": "$P_ROOT6", "src_port": $id6},
  "counts": {"start": 1, "end": 1}},
 {"name": "tcp", "match": {"proto": "tcp", "src_ip": "$P_NS4", "dst_ip": "$P_ROOT4", "dst_port": $port},
  "counts": {"start": 1, "end": 1}},
 {"name": "udp_fwd", "match": {"event": "start", "proto": "udp", "src_ip": "$P_NS4", "dst_port": $uport},
  "counts": {"start": 1}},
 {"name": "udp_rev", "match": {"event": "start", "proto": "udp", "src_ip": "$P_ROOT4", "src_port": $uport},
  "counts": {"start": 1}},
 {"name": "udp_both", "match": {"proto": "udp", "key": "17|$P_ROOT4|$uport|$P_NS4|$((uport + 1))"},
  "counts": {"start": 2, "end": 2}}
]
EOF
	check_topic "$dump" --schema "$SCHEMA" --node it-node --iface "$P_VETH" --records "$REC" \
		--flows "$flows" --same-key udp_fwd,udp_rev --unique
	# The TCP end record: 2000 bytes of payload went one way.
	out=$(grep -F "\"dst_port\":$port," "$dump" | cut -f3 | jq -c 'select(.event=="end")')
	expect_eq "TCP end reason on the topic" "$(jq -r .end_reason <<<"$out")" fin
	[ "$(jq .fwd.bytes <<<"$out")" -ge 2000 ] || fail "TCP fwd bytes < 2000: $out"
}

# wait_udp_ends PORT N: the record file holds N end records of flows to PORT.
udp_ends_are() {
	[ "$(records_match "$(flow_cond udp "$P_NS4" "$P_ROOT4") and .dst_port==$1 and .event==\"end\"")" -ge "$2" ]
}

# A 30 s broker outage during steady traffic: every record queued, then
# delivered exactly once; the collector says what happens. Then a tiny
# queue: losses beyond the bound are counted, exactly.
test_outage() {
	local port=$((20000 + RANDOM % 20000)) sender sent n q dump topic2

	new_pair
	broker_up
	new_config "$TMP/outage.yaml"
	kafka_section
	start_collector -c "$CONF" -iface "$P_VETH"
	udp_listener "$port"

	# 20 new flows a second for 45 s: each one a start and an end record.
	udp_flows "$port" 900 0.05 >"$TMP/sent.1" &
	sender=$!
	PIDS+=("$sender")
	sleep 5
	wait_for 10 records_at_least ".event==\"start\" and .dst_port==$port" 20 ||
		fail "no records before the outage"
	kafka_pause_outage || fail "kafka_pause_outage"
	wait_for 20 stderr_has "kafka: all brokers down, queuing" ||
		fail "the collector did not say the brokers are down"
	log "ok: says 'kafka: all brokers down, queuing'"
	sleep 20
	q=$(sj .sinks.kafka.queued)
	[ "$q" -gt 100 ] || fail "only $q records queued 20 s into the outage"
	expect_eq "broker state during the outage" "$(sj .sinks.kafka.broker)" down
	log "ok: $q records queued during the outage"
	sleep 10
	kill -0 "$C_PID" 2>/dev/null || fail "the collector died during the outage"
	kafka_resume || fail "kafka_resume"
	wait "$sender" || fail "the UDP sender failed"
	sent=$(cat "$TMP/sent.1")
	expect_eq "flows sent" "$sent" 900
	wait_for 15 udp_ends_are "$port" "$sent" || fail "not every flow ended"
	sleep 1.5
	# librdkafka reconnects at its next attempt (backoff up to 10 s).
	wait_for 30 kafka_settled || fail "the queue did not drain: $(sj .sinks.kafka)"
	expect_stderr "kafka: delivering again after"
	log "kafka sink: $(jq -c .sinks.kafka "$STATS")"
	expect_eq "outages seen" "$(sj .sinks.kafka.outages)" 1
	stop_and_account
	expect_kept "$P_VETH"
	expect_eq "Kafka delivery failures" "$FIN_F" 0
	expect_eq "Kafka drops (the queue bound was never reached)" "$FIN_X" 0
	expect_eq "messages on $TOPIC = delivered = emitted (exactly once)" \
		"$(kafka_count "$TOPIC")/$FIN_D" "$FIN_E/$FIN_E"
	dump=$TMP/outage.tsv
	dump_both "$dump"
	cat >"$TMP/flows.json" <<EOF
[{"name": "steady", "match": {"proto": "udp", "dst_port": $port},
  "counts": {"start": $sent, "end": $sent}, "keys": $sent}]
EOF
	check_topic "$dump" --schema "$SCHEMA" --node it-node --records "$REC" \
		--flows "$TMP/flows.json" --unique

	# A queue of 40 records through a 10 s outage: the rest is dropped
	# and counted; what the queue held is delivered.
	topic2=guarder.small
	kafka_create_topic "$topic2" 3 || fail "cannot create $topic2"
	new_config "$TMP/small.yaml"
	TOPIC=$topic2 kafka_section "queue_max_messages: 40" "queue_full_wait_ms: 20"
	start_collector -c "$CONF" -iface "$P_VETH"
	udp_flows "$port" 400 0.05 >"$TMP/sent.2" &
	sender=$!
	PIDS+=("$sender")
	sleep 3
	kafka_pause_outage || fail "kafka_pause_outage"
	wait_for 20 stderr_has "kafka: the local queue is full" ||
		fail "the collector did not say the queue is full: $(sj .sinks.kafka)"
	log "ok: says 'kafka: the local queue is full'"
	sleep 5
	kill -0 "$C_PID" 2>/dev/null || fail "the collector died with a full queue"
	kafka_resume || fail "kafka_resume"
	wait "$sender" || fail "the UDP sender failed"
	wait_for 15 udp_ends_are "$port" "$(cat "$TMP/sent.2")" || fail "not every flow ended"
	sleep 1.5
	# the episode ends when the queue drains, with or without new records
	wait_for 30 drained_after_full || fail "the queue did not drain: $(sj .sinks.kafka)"
	expect_stderr "kafka: the queue has room again"
	log "kafka sink: $(jq -c .sinks.kafka "$STATS")"
	stop_and_account
	expect_kept "$P_VETH"
	[ "$FIN_X" -gt 0 ] || fail "nothing was dropped with a queue of 40 through a 10 s outage"
	expect_eq "delivery failures" "$FIN_F" 0
	expect_eq "delivered + dropped = emitted" $((FIN_D + FIN_X)) "$FIN_E"
	expect_eq "messages on $topic2 = delivered" "$(kafka_count "$topic2")" "$FIN_D"
	log "ok: $FIN_D delivered, $FIN_X dropped (counted) of $FIN_E"
	TOPIC=$topic2 dump_both "$TMP/small.tsv"
	check_topic "$TMP/small.tsv" --schema "$SCHEMA" --node it-node --records "$REC" --unique \
		--subset
}

# A TCP connection that lives across a collector restart: one start
# record on the topic, from the first collector; its end from the second.
test_restart() {
	local port=$((20000 + RANDOM % 20000)) server client cond e1 e2

	new_pair
	broker_up
	new_config "$TMP/restart.yaml"
	sed -i 's/idle_timeout: 2/idle_timeout: 120/' "$CONF"
	kafka_section
	start_collector -c "$CONF" -iface "$P_VETH"

	nc -l -d "$P_ROOT4" "$port" >"$TMP/restart.recv" &
	server=$!
	PIDS+=("$server")
	wait_for 5 listening -ltn "$P_ROOT4" "$port" || fail "nc -l did not listen"
	mkfifo "$TMP/client.in"
	ip netns exec "$P_NS" nc -N "$P_ROOT4" "$port" <"$TMP/client.in" >/dev/null &
	client=$!
	PIDS+=("$client")
	exec 7>"$TMP/client.in"
	echo "before the restart" >&7
	cond="$(flow_cond tcp "$P_NS4" "$P_ROOT4") and .dst_port==$port"
	wait_record 5 "$cond and .event==\"start\"" >/dev/null
	stop_and_account
	e1=$FIN_E

	# fd 7 (the client's input) must not stay open in the collector
	start_collector -c "$CONF" -iface "$P_VETH" 7>&-
	wait_for 10 sj_ge .view.adopted 1 ||
		fail "the restarted collector did not adopt the live flow: $(sj .view)"
	echo "after the restart" >&7
	exec 7>&-
	wait_for 10 exited "$client" || fail "the nc client did not finish"
	wait_for 10 exited "$server" || fail "nc -l did not see the close"
	expect_eq "bytes that crossed the restart" "$(wc -l <"$TMP/restart.recv")" 2
	wait_record 10 "$cond and .event==\"end\"" >/dev/null
	stop_and_account
	expect_kept "$P_VETH"
	e2=$FIN_E
	expect_eq "messages on $TOPIC = emitted by both runs" "$(kafka_count "$TOPIC")" $((e1 + e2))
	dump_both "$TMP/restart.tsv"
	cat >"$TMP/flows.json" <<EOF
[{"name": "live", "match": {"proto": "tcp", "src_ip": "$P_NS4", "dst_port": $port},
  "counts": {"start": 1, "end": 1}}]
EOF
	check_topic "$TMP/restart.tsv" --schema "$SCHEMA" --node it-node --flows "$TMP/flows.json" --unique
	expect_eq "end reason of the live flow" \
		"$(cut -f3 "$TMP/restart.tsv" | jq -r "select($cond and .event==\"end\") | .end_reason")" fin
	log "ok: one start record for the live flow across the restart"
}

# SIGTERM flushes the queue: records made just before the stop reach the
# topic. With the broker away, the flush gives up after its timeout and
# says how many records were lost; the collector still exits 0.
test_shutdown() {
	local port=$((20000 + RANDOM % 20000)) t0 t rc n lost

	new_pair
	broker_up
	new_config "$TMP/shutdown.yaml"
	# A long linger: the records are surely still queued at the stop.
	kafka_section "linger_ms: 20000"
	start_collector -c "$CONF" -iface "$P_VETH"
	udp_listener "$port"
	expect_eq "flows sent" "$(udp_flows "$port" 50 0)" 50
	wait_for 10 records_at_least ".event==\"start\" and .dst_port==$port" 50 ||
		fail "the start records did not come"
	t0=$(date +%s%N)
	stop_and_account
	t=$((($(date +%s%N) - t0) / 1000000))
	expect_kept "$P_VETH"
	n=$(grep -o "kafka: flushing [0-9]* queued" "$C_ERR" | grep -o "[0-9]*")
	[ -n "$n" ] && [ "$n" -ge 50 ] || fail "the stop did not flush the 50 queued records: $(grep kafka: "$C_ERR")"
	log "ok: $n queued records flushed at the stop in $t ms"
	expect_eq "delivered at the stop = emitted" "$FIN_D" "$FIN_E"
	expect_eq "messages on $TOPIC = emitted" "$(kafka_count "$TOPIC")" "$FIN_E"
	dump_both "$TMP/shutdown.tsv"
	cat >"$TMP/flows.json" <<EOF
[{"name": "burst", "match": {"event": "start", "proto": "udp", "dst_port": $port},
  "counts": {"start": 50}, "keys": 50}]
EOF
	check_topic "$TMP/shutdown.tsv" --schema "$SCHEMA" --node it-node --records "$REC" \
		--flows "$TMP/flows.json" --unique

	# The broker away at the stop: the flush waits its 5 s, then gives up.
	kafka_create_topic guarder.lost 3 || fail "cannot create guarder.lost"
	kafka_pause_outage || fail "kafka_pause_outage"
	new_config "$TMP/shutdown2.yaml"
	TOPIC=guarder.lost kafka_section
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_eq "flows sent" "$(udp_flows "$port" 30 0)" 30
	wait_for 10 records_at_least ".event==\"start\" and .dst_port==$port" 30 ||
		fail "the start records did not come"
	wait_for 10 sj_ge .sinks.kafka.queued 30 || fail "records not queued: $(sj .sinks.kafka)"
	t0=$(date +%s%N)
	kill -TERM "$C_PID"
	wait "$C_PID"
	rc=$?
	t=$((($(date +%s%N) - t0) / 1000000))
	expect_eq "exit status after SIGTERM with the broker away" "$rc" 0
	lost=$(grep -o "kafka: [0-9]* records still queued after 5000 ms" "$C_ERR" | grep -o "[0-9]*" | head -n1)
	[ -n "$lost" ] || fail "the collector did not say how many records were lost: $(grep kafka: "$C_ERR")"
	expect_eq "records reported lost = emitted" "$lost" "$(sj .sinks.kafka.emitted)"
	[ "$t" -ge 4500 ] && [ "$t" -le $((5000 + 5000 * WAIT_SCALE)) ] ||
		fail "the stop took $t ms; the flush timeout is 5000 ms"
	log "ok: stop with the broker away took $t ms, $lost records reported lost"
	expect_kept "$P_VETH"
	expect_stderr "kafka: all brokers down, queuing"
	# Lost means lost: nothing of them turns up once the broker is back.
	kafka_resume || fail "kafka_resume"
	sleep 2
	expect_eq "messages on guarder.lost" "$(kafka_count guarder.lost)" 0
}

# A fatal error of the idempotent producer (fabricated: a real one cannot
# be provoked on purpose): said clearly, the collector stays up, every
# record after it is counted, none delivered twice.
test_fatal() {
	local port=$((20000 + RANDOM % 20000)) total

	new_pair
	broker_up
	new_config "$TMP/fatal.yaml"
	kafka_section
	GUARDER_KAFKA_TEST_FATAL_AFTER=20 start_collector -c "$CONF" -iface "$P_VETH"
	udp_listener "$port"
	expect_eq "flows sent" "$(udp_flows "$port" 60 0.02)" 60
	wait_for 10 stderr_has "kafka: fatal producer error" || fail "no fatal error was reported"
	expect_stderr "restart the collector"
	log "$(grep -m1 -o "kafka: fatal producer error.*" "$C_ERR")"
	wait_for 10 udp_ends_are "$port" 60 || fail "not every flow ended"
	sleep 1.5
	kill -0 "$C_PID" 2>/dev/null || fail "the collector died after the fatal error"
	expect_eq "fatal in the stats" "$(sj .sinks.kafka.fatal)" true
	stop_collector
	expect_kept "$P_VETH"
	total=$(records_total)
	[ "$total" -ge 120 ] || fail "only $total records for 60 flows"
	read -r FIN_D FIN_F FIN_X < <(grep -o "kafka: queue flushed in .*" "$C_ERR" |
		sed -E 's/.*in all ([0-9]+) delivered, ([0-9]+) delivery failures, ([0-9]+) dropped.*/\1 \2 \3/')
	[ -n "$FIN_D" ] || fail "the stop did not account for the queue"
	FIN_E=$(sj .sinks.kafka.emitted)
	expect_eq "accepted by librdkafka before the error" "$FIN_E" 20
	expect_eq "delivered + failed = accepted" $((FIN_D + FIN_F + FIN_X)) "$FIN_E"
	expect_eq "refused after the error (the sink's failed)" "$(sj .sinks.kafka.failed)" $((total - 20))
	expect_eq "messages on $TOPIC = delivered" "$(kafka_count "$TOPIC")" "$FIN_D"
	log "ok: $FIN_D delivered, $FIN_F failed, $((total - 20)) refused of $total"
}

# --check-config refuses what librdkafka would refuse, naming the
# property, and never prints a secret's value.
test_check_config() {
	local secret1 secret2 bad

	new_dummy
	secret1=kb-$(rand_hex 8)
	secret2=kb-$(rand_hex 8)
	new_config "$TMP/check.yaml"
	cat >>"$CONF" <<'EOF'
kafka:
  brokers: 127.0.0.1:9092
  security_protocol: sasl_plaintext
  sasl_username: guarder
  sasl_password: ${GDR_KB_SECRET1}
  properties:
    ssl.keystore.password: ${GDR_KB_SECRET2}
    socket.keepalive.enable: "true"
EOF
	export GDR_KB_SECRET1=$secret1 GDR_KB_SECRET2=$secret2
	RUNS=$((RUNS + 1))
	C_OUT=$TMP/collector.$RUNS.out C_ERR=$TMP/collector.$RUNS.err
	"$COLLECTOR" -c "$CONF" --check-config -iface "$DUMMY" >"$C_OUT" 2>"$C_ERR"
	expect_eq "--check-config status of a good Kafka config" "$?" 0
	grep -q "socket.keepalive.enable" "$C_OUT" || fail "the dump lacks kafka.properties"
	grep -qF "$secret1" "$C_OUT" "$C_ERR" && fail "the SASL password was printed"
	grep -qF "$secret2" "$C_OUT" "$C_ERR" && fail "a secret property was printed"
	log "ok: valid, secrets not printed"

	# An unknown property, a bad value, beside the secrets.
	bad=$TMP/bad.yaml
	sed 's/socket.keepalive.enable: "true"/no.such.property: 1\n    compression.codec: banana/' "$CONF" >"$bad"
	run_collector_fails -c "$bad" --check-config -iface "$DUMMY"
	expect_stderr "librdkafka refuses the property no.such.property"
	expect_stderr "librdkafka refuses the property compression.codec"
	expect_stderr "Invalid value \"banana\""
	grep -qF "$secret1" "$C_OUT" "$C_ERR" && fail "the SASL password was printed"
	grep -qF "$secret2" "$C_OUT" "$C_ERR" && fail "a secret property was printed"
	log "ok: secrets not printed"

	# A refused secret property: named, its value withheld.
	sed 's/socket.keepalive.enable: "true"/ssl.keystore.passwordx: ${GDR_KB_SECRET2}/' "$CONF" >"$bad"
	run_collector_fails -c "$bad" --check-config -iface "$DUMMY"
	expect_stderr "ssl.keystore.passwordx"
	grep -qF "$secret2" "$C_OUT" "$C_ERR" && fail "a refused secret property's value was printed"
	log "ok: a refused secret is named, its value not printed"

	# What only producer creation would catch: idempotence without acks=all.
	printf 'kafka:\n  brokers: 127.0.0.1:9092\n  acks: leader\n' >"$bad"
	run_collector_fails -c "$bad" --check-config -iface "$DUMMY"
	expect_stderr "kafka.idempotence is true but acks is 1"
	printf 'kafka:\n  brokers: 127.0.0.1:9092\n  acks: leader\n  idempotence: false\n' >"$bad"
	"$COLLECTOR" -c "$bad" --check-config -iface "$DUMMY" >/dev/null 2>&1 ||
		fail "acks: leader without idempotence was refused"
	log "ok: acks: leader is fine without idempotence"
	printf 'kafka:\n  brokers: 127.0.0.1:9092\n  properties:\n    acks: "1"\n' >"$bad"
	run_collector_fails -c "$bad" --check-config -iface "$DUMMY"
	expect_stderr "kafka.idempotence is true but acks is 1"
}

preflight
[ $# -eq 0 ] && set -- all
[ "$1" = all ] && set -- "${ALL_CASES[@]}"
for case in "$@"; do
	declare -F "test_$case" >/dev/null || fail "no test case '$case'"
	echo "== kafka $case" >&2
	CASE=$case
	"test_$case"
	kafka_stop
	echo "PASS: kafka $case" >&2
done
