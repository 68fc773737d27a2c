#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# kafka_smoke: the test broker itself works end to end, with clients written
# by others. Fetch the jars (once), start a single-node KRaft broker, create
# a 3-partition topic, produce 1000 keyed messages with kcat, read them back
# with a confluent-kafka consumer group and with kafka_consume, and check the
# count, that each key stays on one partition and that values are intact.
# Then an outage: with the broker stopped a kcat produce fails, a
# confluent-kafka producer queues its messages and delivers them once
# kafka_resume brings the broker back on the same port; the consumer group
# resumes from its committed offsets; the total is exact.
# Needs java, mvn, kcat and python3-confluent-kafka; without them it fails
# (saying why) instead of skipping: the Kafka tests are not optional.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/kafka/kafka.sh
source "$here/kafka.sh"

TMP=$(mktemp -d /tmp/guarder-kafka-smoke.XXXXXX)
TOPIC=smoke.$$
GROUP=smoke-group-$$
N=1000    # before the outage
NQ=300    # queued by a producer during the outage
NA=200    # produced after the broker is back

cleanup() {
	kafka_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

log() { printf '  %s\n' "$*" >&2; }

fail() {
	echo "FAIL: $*" >&2
	if [ -n "${KAFKA_DIR:-}" ] && [ -s "$KAFKA_DIR/broker.log" ]; then
		echo "--- $KAFKA_DIR/broker.log (last 30 lines)" >&2
		tail -n 30 "$KAFKA_DIR/broker.log" >&2
	fi
	exit 1
}

expect_eq() {
	[ "$2" == "$3" ] || fail "$1: got '$2', expected '$3'"
	log "ok: $1 = $3"
}

for tool in java mvn kcat; do
	command -v "$tool" >/dev/null ||
		fail "$tool is not installed; run scripts/setup.sh as root (the Kafka tests need a real broker)"
done
"$KAFKA_PYTHON" -c 'import confluent_kafka' 2>/dev/null ||
	fail "$KAFKA_PYTHON cannot import confluent_kafka; run scripts/setup.sh as root (python3-confluent-kafka)"

kafka_fetch || fail "the Kafka broker jars are not available (see above)"
t0=$(date +%s%N)
kafka_start "$TMP/kafka" || fail "the broker did not start"
log "start took $((($(date +%s%N) - t0) / 1000000)) ms"
kafka_create_topic "$TOPIC" 3 || fail "cannot create $TOPIC"

# produce FIRST COUNT: messages FIRST..FIRST+COUNT-1 with kcat, key
# "key-(i % 10)", value a JSON object that repeats its own number and key,
# so a consumer can check it arrived intact and under the right key.
gen() {
	local i

	for ((i = $1; i < $1 + $2; i++)); do
		printf 'key-%d\t{"i":%d,"key":"key-%d","pad":"%s"}\n' $((i % 10)) "$i" $((i % 10)) \
			"é-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	done
}
gen 0 "$N" | kcat -P -q -b "$KAFKA_BOOTSTRAP" -t "$TOPIC" -K '\t' -X acks=all ||
	fail "kcat -P failed with the broker up"
expect_eq "messages in $TOPIC after kcat -P" "$(kafka_count "$TOPIC")" "$N"

# consume EXPECTED FIRST: read with a consumer group until EXPECTED messages
# came (or 60 s), then 2 s more to catch extras; check them. Prints a
# summary line; exits non-zero on any mismatch.
consume() {
	"$KAFKA_PYTHON" - "$KAFKA_BOOTSTRAP" "$TOPIC" "$GROUP" "$1" "$2" <<'PY'
import json, sys, time
from confluent_kafka import Consumer

bootstrap, topic, group = sys.argv[1:4]
expected, first = int(sys.argv[4]), int(sys.argv[5])
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([topic])
msgs, deadline, extra_until = [], time.time() + 60, None
while time.time() < (extra_until or deadline):
    m = c.poll(0.2)
    if m is None:
        if extra_until is None and len(msgs) >= expected:
            extra_until = time.time() + 2
        continue
    if m.error():
        sys.exit(f"consumer error: {m.error()}")
    msgs.append((m.partition(), m.key(), m.value()))
c.commit(asynchronous=False)
c.close()

errors = []
if len(msgs) != expected:
    errors.append(f"got {len(msgs)} messages, expected {expected}")
part_of, seen = {}, set()
for p, k, v in msgs:
    try:
        rec = json.loads(v.decode())
    except Exception as e:
        errors.append(f"value not JSON: {v!r} ({e})")
        continue
    i = rec["i"]
    want = {"i": i, "key": f"key-{i % 10}",
            "pad": f"é-{i}-" + "x" * 40}
    if rec != want:
        errors.append(f"value changed: {rec!r}")
    if k != f"key-{i % 10}".encode():
        errors.append(f"message {i} has key {k!r}")
    if i in seen:
        errors.append(f"message {i} twice")
    seen.add(i)
    if part_of.setdefault(k, p) != p:
        errors.append(f"key {k!r} on partitions {part_of[k]} and {p}")
if seen != set(range(first, first + expected)):
    errors.append(f"numbers {first}..{first + expected - 1} expected, "
                  f"missing {sorted(set(range(first, first + expected)) - seen)[:10]}")
if errors:
    sys.exit("; ".join(errors[:10]))
print(f"{len(msgs)} messages, {len(part_of)} keys on "
      f"{len(set(part_of.values()))} partitions")
PY
}

out=$(consume "$N" 0 2>&1) || fail "consumer group check: $out"
log "ok: consumer group: $out"
case $out in
*"on 1 partitions") fail "all 10 keys landed on one partition: the topic is not partitioned" ;;
esac

# The same messages through kafka_consume, with its documented format.
kafka_consume "$TOPIC" "$TMP/all.tsv" || fail "kafka_consume failed"
expect_eq "lines from kafka_consume" "$(wc -l <"$TMP/all.tsv")" "$N"
expect_eq "distinct key/partition pairs in kafka_consume output" \
	"$(cut -f1,2 "$TMP/all.tsv" | sort -u | wc -l)" 10
expect_eq "values from kafka_consume equal those produced" \
	"$(cut -f3 "$TMP/all.tsv" | sort | md5sum)" "$(gen 0 "$N" | cut -f2 | sort | md5sum)"

# Outage.
pid=$KAFKA_PID
kafka_pause_outage || fail "kafka_pause_outage"
kill -0 "$pid" 2>/dev/null && fail "broker pid $pid still running during the outage"
[ -z "$KAFKA_PID" ] || fail "KAFKA_PID still set during the outage"
if gen 5000 5 | kcat -P -q -b "$KAFKA_BOOTSTRAP" -t "$TOPIC" -K '\t' \
	-X message.timeout.ms=2000 2>/dev/null; then
	fail "kcat -P succeeded while the broker was down"
fi
log "ok: kcat -P fails while the broker is down"

# A producer that keeps its messages queued through the outage.
gen "$N" "$NQ" >"$TMP/queued.tsv"
"$KAFKA_PYTHON" - "$KAFKA_BOOTSTRAP" "$TOPIC" "$TMP/queued.tsv" >"$TMP/queued.out" 2>&1 <<'PY' &
import sys
from confluent_kafka import Producer

bootstrap, topic, path = sys.argv[1:4]
ok, failed = [0], [0]
def report(err, msg):
    if err:
        failed[0] += 1
    else:
        ok[0] += 1
p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 120000,
              "enable.idempotence": True, "log_level": 0})
with open(path, encoding="utf-8") as f:
    for line in f:
        k, v = line.rstrip("\n").split("\t", 1)
        p.produce(topic, key=k, value=v, on_delivery=report)
p.poll(1.0)
print(f"queued {len(p)} while down", flush=True)
left = p.flush(150)
print(f"delivered {ok[0]} failed {failed[0]} left {left}")
sys.exit(0 if left == 0 and failed[0] == 0 else 1)
PY
qpid=$!
# Python and librdkafka take a moment to start on a loaded machine.
for ((i = 0; i < 300; i++)); do
	[ -s "$TMP/queued.out" ] || ! kill -0 "$qpid" 2>/dev/null && break
	sleep 0.1
done
grep -q "queued $NQ while down" "$TMP/queued.out" ||
	fail "the producer did not queue its $NQ messages during the outage: $(cat "$TMP/queued.out")"
log "ok: $NQ messages queued while the broker is down"

t0=$(date +%s%N)
kafka_resume || fail "kafka_resume"
log "restart took $((($(date +%s%N) - t0) / 1000000)) ms"
wait "$qpid" || fail "queued producer: $(cat "$TMP/queued.out")"
expect_eq "queued producer after resume" "$(tail -n1 "$TMP/queued.out")" "delivered $NQ failed 0 left 0"
gen $((N + NQ)) "$NA" | kcat -P -q -b "$KAFKA_BOOTSTRAP" -t "$TOPIC" -K '\t' -X acks=all ||
	fail "kcat -P failed after kafka_resume"
expect_eq "messages in $TOPIC after the outage" "$(kafka_count "$TOPIC")" $((N + NQ + NA))

# The group's committed offsets survived the restart: it reads only the new ones.
out=$(consume $((NQ + NA)) "$N" 2>&1) || fail "consumer group after the outage: $out"
log "ok: consumer group after the outage: $out"

pid=$KAFKA_PID
kafka_stop
kill -0 "$pid" 2>/dev/null && fail "broker pid $pid still running after kafka_stop"
log "ok: broker stopped"
exit 0
