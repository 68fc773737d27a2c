#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A real Apache Kafka broker (4.4.0, single-node KRaft, loopback only) for the
# tests and benchmarks. Source this file; one broker per shell.
#
#   source "$top/test/kafka/kafka.sh"
#   trap 'kafka_stop' EXIT           # or call kafka_stop from your own trap
#   kafka_fetch || exit 1
#   kafka_start "$tmpdir/kafka" || exit 1
#   kafka_create_topic guarder.flows 3 || exit 1
#   ... produce to "$KAFKA_BOOTSTRAP" ...
#   n=$(kafka_count guarder.flows)
#   kafka_consume guarder.flows "$tmpdir/out.tsv"
#
# Functions (all return 0 on success, non-zero with a message on stderr):
#
#   kafka_fetch
#       Fetch the broker jars from Maven Central with Maven (pom.xml next to
#       this file) into $KAFKA_JARS, once: a stamp file marks a complete
#       fetch and later calls return at once. Needs java and mvn. On failure
#       says why (no Maven, no network, Central refused) and returns 1.
#
#   kafka_start DIR
#       Start a broker whose config, data and broker.log live in DIR (created
#       if needed; must be empty of a previous broker's data). Picks two free
#       random loopback ports (PLAINTEXT, CONTROLLER), formats the storage,
#       starts the JVM in the background and waits until it answers a
#       metadata request. Exports KAFKA_BOOTSTRAP=127.0.0.1:PORT, KAFKA_PID,
#       KAFKA_PORT, KAFKA_CONTROLLER_PORT and KAFKA_DIR. Calls kafka_fetch.
#       Call it in the test's main shell (not in $(...)); the JVM is a
#       background child of that shell, so do not use a bare `wait`.
#       The broker is killed by a watchdog if the shell that started it dies
#       without calling kafka_stop.
#
#   kafka_stop
#       Stop the broker: SIGTERM, wait up to $KAFKA_STOP_TIMEOUT s (default
#       30), then SIGKILL. Safe to call twice, before a start, or from an EXIT
#       trap. Leaves DIR in place (broker.log for diagnosis); the caller
#       removes it.
#
#   kafka_pause_outage [--kill]
#       A broker outage: stop the broker process entirely (gracefully, or
#       with SIGKILL for a crash when --kill is given). Clients see refused
#       connections until kafka_resume.
#
#   kafka_resume
#       Restart the broker after kafka_pause_outage, on the SAME ports and data
#       dir, so clients reconnect on their own and no data is lost; waits
#       until it answers. Updates KAFKA_PID.
#
#   kafka_create_topic NAME PARTITIONS [CONFIG=VALUE...]
#       Create a topic with replication factor 1 (extra topic configs, e.g.
#       retention.ms=-1, are passed as --config) and wait until every
#       partition has a leader.
#
#   kafka_count TOPIC
#       Print the exact number of messages in TOPIC: the sum over partitions
#       of (end offset - start offset). Exact for non-transactional producers
#       (what Guarder and kcat use; transaction markers would also take
#       offsets).
#
#   kafka_consume TOPIC OUTFILE
#       Write every message of TOPIC, from the beginning up to the end at the
#       time of the call, to OUTFILE, one line per message:
#           PARTITION<TAB>KEY<TAB>VALUE<LF>
#       (kcat -f '%p\t%k\t%s\n'; a null key is an empty field). Values must
#       not contain a newline (Guarder's JSON records never do). Order is per
#       partition, partitions interleaved.
#
#   kafka_cleanup
#       kafka_stop; for a trap that wants a name saying what it is.
#
# Settings (environment, optional):
#   GUARDER_KAFKA_CACHE  where the jars go (default
#                        /var/cache/guarder-test/kafka-4.4.0 as root,
#                        ~/.cache/guarder-test/kafka-4.4.0 otherwise)
#   KAFKA_HEAP_OPTS      JVM heap (default -Xmx512m -Xms512m)
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 60)
#   KAFKA_STOP_TIMEOUT   seconds before SIGKILL in kafka_stop (default 30)
#   KAFKA_EXTRA_PROPS    extra server.properties lines (newline-separated),
#                        appended last so they override ours (e.g.
#                        num.io.threads=4 for a benchmark)
#   KAFKA_LISTEN_HOST    the address the broker listens on and advertises
#                        (default 127.0.0.1); KAFKA_BOOTSTRAP uses it. The
#                        caller makes it reachable from where its clients run
#                        (kafka.sh's own clients run in the caller's netns)
#   KAFKA_NETNS          run the broker JVM inside this network namespace
#                        (ip netns exec; default: none, the caller's), e.g. a
#                        broker that several netns "hosts" reach over veths
#   KAFKA_PYTHON         interpreter with confluent_kafka (default /usr/bin/python3,
#                        Debian's: a pyenv python3 in PATH lacks the Debian
#                        modules). Exported: use "$KAFKA_PYTHON" for your own
#                        confluent_kafka / websockets clients too.
# shellcheck shell=bash

KAFKA_VERSION=4.4.0
# The Debian packages python3-confluent-kafka and python3-websockets live in
# the system interpreter's dist-packages. A python3 earlier in PATH (pyenv
# on the dev machines) cannot import them, so clients must use this one.
KAFKA_PYTHON=${KAFKA_PYTHON:-/usr/bin/python3}
export KAFKA_PYTHON
KAFKA_HOME_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "${GUARDER_KAFKA_CACHE:-}" ]; then
	KAFKA_JARS=$GUARDER_KAFKA_CACHE
elif [ "$(id -u)" -eq 0 ]; then
	KAFKA_JARS=/var/cache/guarder-test/kafka-$KAFKA_VERSION
else
	KAFKA_JARS=${XDG_CACHE_HOME:-$HOME/.cache}/guarder-test/kafka-$KAFKA_VERSION
fi
KAFKA_DIR=
KAFKA_PID=
KAFKA_PORT=
KAFKA_CONTROLLER_PORT=
KAFKA_BOOTSTRAP=
_KAFKA_WATCHDOG=

_kafka_log() { printf '  kafka: %s\n' "$*" >&2; }
_kafka_err() { printf 'kafka: %s\n' "$*" >&2; }

# The Java tools print their own log lines; keep them off the test's output.
_kafka_java() {
	java -Dlog4j2.configurationFile="$KAFKA_HOME_DIR/log4j2-tools.properties" \
		-cp "$KAFKA_JARS/*" "$@"
}

kafka_fetch() {
	local stamp=$KAFKA_JARS/.complete tmp log

	[ -f "$stamp" ] && return 0
	if ! command -v java >/dev/null; then
		_kafka_err "java is not installed (scripts/setup.sh installs openjdk-17-jre-headless); cannot run the Kafka broker"
		return 1
	fi
	if ! command -v mvn >/dev/null; then
		_kafka_err "mvn is not installed (scripts/setup.sh installs maven); cannot fetch the Kafka broker jars"
		return 1
	fi
	if ! mkdir -p "$(dirname "$KAFKA_JARS")"; then
		_kafka_err "cannot create $(dirname "$KAFKA_JARS") (set GUARDER_KAFKA_CACHE to a writable dir)"
		return 1
	fi
	# Fetch into a fresh dir and rename it into place, so an interrupted
	# fetch never looks complete and two fetches at once do not mix.
	tmp=$(mktemp -d "$KAFKA_JARS.tmp.XXXXXX") || return 1
	log=$tmp.log
	_kafka_log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_JARS"
	if ! mvn -q -B -f "$KAFKA_HOME_DIR/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$tmp" >"$log" 2>&1; then
		_kafka_err "Maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central (no network or Central refused); the real broker cannot run here. Maven said:"
		tail -n 20 "$log" >&2
		rm -rf "$tmp" "$log"
		return 1
	fi
	rm -f "$log"
	if ! ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
		_kafka_err "Maven succeeded but kafka_2.13-$KAFKA_VERSION.jar is missing from $tmp"
		rm -rf "$tmp"
		return 1
	fi
	touch "$tmp/.complete"
	# mktemp made it 0700: a root-fetched cache must serve other users too.
	chmod -R a+rX "$tmp"
	# mv -T renames onto the cache dir only if it is absent or empty, so a
	# concurrent fetch that finished first is never replaced under a
	# running broker.
	mv -T "$tmp" "$KAFKA_JARS" 2>/dev/null && return 0
	if [ -f "$stamp" ]; then
		rm -rf "$tmp" # another fetch finished first
		return 0
	fi
	# A stale, incomplete cache dir (no stamp): replace it.
	if rm -rf "$KAFKA_JARS" && mv -T "$tmp" "$KAFKA_JARS"; then
		return 0
	fi
	_kafka_err "cannot move the fetched jars into $KAFKA_JARS"
	rm -rf "$tmp"
	return 1
}

# Two free loopback ports. Binding port 0 and closing leaves a small window
# in which another process may take one; kafka_start retries on that.
# Debian's python3, not a pyenv shim in PATH (a shell script that has been
# seen to print nothing under heavy load).
_kafka_free_ports() {
	"$KAFKA_PYTHON" -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
'
}

_kafka_write_config() {
	local dir=$1 host=${KAFKA_LISTEN_HOST:-127.0.0.1}

	cat >"$dir/server.properties" <<EOF
# Written by test/kafka/kafka.sh: single-node KRaft on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$host:$KAFKA_PORT,CONTROLLER://$host:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$host:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# Two shared cores: few threads.
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=-1
EOF
	if [ -n "${KAFKA_EXTRA_PROPS:-}" ]; then
		printf '%s\n' "$KAFKA_EXTRA_PROPS" >>"$dir/server.properties"
	fi
}

# Kill the broker if the shell that started it dies without kafka_stop
# (SIGKILL of the test, a crash): a failing test must never leave a JVM
# behind. Checks once a second; holds none of the test's output fds.
_kafka_watchdog_start() {
	local parent=$BASHPID pid=$KAFKA_PID

	(
		trap '' INT TERM HUP
		while kill -0 "$parent" 2>/dev/null; do
			kill -0 "$pid" 2>/dev/null || exit 0
			sleep 1
		done
		kill -KILL "$pid" 2>/dev/null
	) </dev/null >/dev/null 2>&1 &
	_KAFKA_WATCHDOG=$!
	disown "$_KAFKA_WATCHDOG" 2>/dev/null
}

_kafka_watchdog_stop() {
	if [ -n "$_KAFKA_WATCHDOG" ]; then
		kill -KILL "$_KAFKA_WATCHDOG" 2>/dev/null
		_KAFKA_WATCHDOG=
	fi
}

# True once the broker answers a metadata request with itself in it.
_kafka_answers() {
	kcat -L -b "$KAFKA_BOOTSTRAP" -m 2 2>/dev/null | grep -q "broker 1 at"
}

# Launch the JVM on the config already in KAFKA_DIR and wait until it
# answers. Returns 2 if the ports were taken (so kafka_start can retry on
# fresh ones), 1 on any other failure.
_kafka_launch() {
	local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-60})) in=()

	# ip netns exec execs the JVM: $! stays the broker's PID.
	[ -n "${KAFKA_NETNS:-}" ] && in=(ip netns exec "$KAFKA_NETNS")

	# Own session (setsid) is not used on purpose: Meson kills the test's
	# process group on timeout, and that must include the broker.
	# shellcheck disable=SC2086
	"${in[@]}" java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} -XX:+UseG1GC \
		-Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$KAFKA_HOME_DIR/log4j2-broker.properties" \
		-cp "$KAFKA_JARS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
		</dev/null >>"$KAFKA_DIR/broker.log" 2>&1 &
	KAFKA_PID=$!
	export KAFKA_PID
	_kafka_watchdog_start
	while ! _kafka_answers; do
		if ! kill -0 "$KAFKA_PID" 2>/dev/null; then
			wait "$KAFKA_PID" 2>/dev/null
			KAFKA_PID=
			_kafka_watchdog_stop
			if grep -q "Address already in use" "$KAFKA_DIR/broker.log"; then
				return 2
			fi
			_kafka_err "broker exited during start; last lines of $KAFKA_DIR/broker.log:"
			tail -n 30 "$KAFKA_DIR/broker.log" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			_kafka_err "broker did not answer on $KAFKA_BOOTSTRAP within ${KAFKA_START_TIMEOUT:-60} s; last lines of $KAFKA_DIR/broker.log:"
			tail -n 30 "$KAFKA_DIR/broker.log" >&2
			kafka_stop
			return 1
		fi
		sleep 0.2
	done
	return 0
}

kafka_start() {
	local dir=${1:?kafka_start DIR} attempt rc cluster t0=$SECONDS

	if [ -n "$KAFKA_PID" ] && kill -0 "$KAFKA_PID" 2>/dev/null; then
		_kafka_err "a broker is already running (pid $KAFKA_PID); one per shell"
		return 1
	fi
	command -v kcat >/dev/null || {
		_kafka_err "kcat is not installed (scripts/setup.sh installs it)"
		return 1
	}
	kafka_fetch || return 1
	mkdir -p "$dir" || return 1
	KAFKA_DIR=$(cd "$dir" && pwd)
	if [ -e "$KAFKA_DIR/data" ]; then
		_kafka_err "$KAFKA_DIR/data exists; kafka_start wants a fresh dir (kafka_resume restarts a paused broker)"
		return 1
	fi
	# A KRaft cluster id is 16 random bytes in URL-safe base64 without
	# padding. Made in the shell: an empty id (seen once from a python3
	# that printed nothing under heavy load) makes the format fail. One
	# that starts with "-" reads as an option to kafka-storage (seen in a
	# CI run; Kafka's own random ids avoid it too): draw again.
	cluster=-
	while [ "${cluster:0:1}" = "-" ]; do
		cluster=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
	done
	if [ ${#cluster} -ne 22 ]; then
		_kafka_err "cannot make a cluster id (got \"$cluster\")"
		return 1
	fi
	for attempt in 1 2 3; do
		read -r KAFKA_PORT KAFKA_CONTROLLER_PORT < <(_kafka_free_ports)
		if [[ ! "$KAFKA_PORT" =~ ^[0-9]+$ || ! "$KAFKA_CONTROLLER_PORT" =~ ^[0-9]+$ ]]; then
			_kafka_err "cannot pick free ports (got \"$KAFKA_PORT\" \"$KAFKA_CONTROLLER_PORT\")"
			return 1
		fi
		KAFKA_BOOTSTRAP=${KAFKA_LISTEN_HOST:-127.0.0.1}:$KAFKA_PORT
		export KAFKA_BOOTSTRAP KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_DIR
		rm -rf "$KAFKA_DIR/data"
		_kafka_write_config "$KAFKA_DIR"
		if ! _kafka_java kafka.tools.StorageTool format -t "$cluster" \
			-c "$KAFKA_DIR/server.properties" >>"$KAFKA_DIR/format.log" 2>&1; then
			_kafka_err "formatting the KRaft storage failed:"
			tail -n 20 "$KAFKA_DIR/format.log" >&2
			return 1
		fi
		_kafka_launch
		rc=$?
		[ $rc -eq 2 ] || break
		_kafka_log "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT was taken meanwhile; retrying"
		mv "$KAFKA_DIR/broker.log" "$KAFKA_DIR/broker.log.$attempt"
	done
	if [ "$rc" -ne 0 ]; then
		[ $rc -eq 2 ] && _kafka_err "no free ports after 3 attempts"
		return 1
	fi
	_kafka_log "broker up on $KAFKA_BOOTSTRAP (pid $KAFKA_PID) in $((SECONDS - t0)) s, dir $KAFKA_DIR"
	return 0
}

kafka_stop() {
	local i limit=$((${KAFKA_STOP_TIMEOUT:-30} * 10))

	_kafka_watchdog_stop
	[ -n "$KAFKA_PID" ] || return 0
	if kill -TERM "$KAFKA_PID" 2>/dev/null; then
		for ((i = 0; i < limit; i++)); do
			kill -0 "$KAFKA_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$KAFKA_PID" 2>/dev/null; then
			_kafka_log "broker pid $KAFKA_PID ignored SIGTERM for ${KAFKA_STOP_TIMEOUT:-30} s; SIGKILL"
			kill -KILL "$KAFKA_PID" 2>/dev/null
		fi
	fi
	wait "$KAFKA_PID" 2>/dev/null
	KAFKA_PID=
	return 0
}

kafka_cleanup() { kafka_stop; }

kafka_pause_outage() {
	if [ -z "$KAFKA_PID" ]; then
		_kafka_err "kafka_pause_outage: no broker running"
		return 1
	fi
	if [ "${1:-}" == "--kill" ]; then
		_kafka_watchdog_stop
		kill -KILL "$KAFKA_PID" 2>/dev/null
		wait "$KAFKA_PID" 2>/dev/null
		KAFKA_PID=
	else
		kafka_stop
	fi
	_kafka_log "broker stopped (outage) at $(date +%T.%N | cut -c1-12)"
	return 0
}

kafka_resume() {
	local t0=$SECONDS

	if [ -z "$KAFKA_DIR" ] || [ ! -f "$KAFKA_DIR/server.properties" ]; then
		_kafka_err "kafka_resume: no broker was started"
		return 1
	fi
	if [ -n "$KAFKA_PID" ]; then
		_kafka_err "kafka_resume: the broker is running (pid $KAFKA_PID)"
		return 1
	fi
	echo "=== kafka_resume $(date +%T)" >>"$KAFKA_DIR/broker.log"
	if ! _kafka_launch; then
		_kafka_err "kafka_resume: the broker did not come back on $KAFKA_BOOTSTRAP"
		return 1
	fi
	_kafka_log "broker back on $KAFKA_BOOTSTRAP (pid $KAFKA_PID) in $((SECONDS - t0)) s"
	return 0
}

kafka_create_topic() {
	local name=${1:?kafka_create_topic NAME PARTITIONS} parts=${2:?kafka_create_topic NAME PARTITIONS}
	local args=() c out i n

	shift 2
	for c in "$@"; do
		args+=(--config "$c")
	done
	if ! out=$(_kafka_java org.apache.kafka.tools.TopicCommand \
		--bootstrap-server "$KAFKA_BOOTSTRAP" --create --topic "$name" \
		--partitions "$parts" --replication-factor 1 "${args[@]}" 2>&1); then
		_kafka_err "creating topic $name failed: $out"
		return 1
	fi
	# Creation returns before every partition has a leader in the metadata
	# a client sees; wait for it so the first produce does not race.
	for ((i = 0; i < 100; i++)); do
		n=$(kcat -L -b "$KAFKA_BOOTSTRAP" -t "$name" -m 2 2>/dev/null |
			grep -c "partition [0-9]*, leader 1,")
		[ "$n" == "$parts" ] && return 0
		sleep 0.1
	done
	_kafka_err "topic $name: $n of $parts partitions have a leader after 10 s"
	return 1
}

# _kafka_topic_walk MODE TOPIC: walk the partitions of TOPIC. MODE count:
# the records it holds (sum of high - low watermarks). MODE last: the
# broker's append time (s since the epoch, ms precision) of its newest
# record, the latest over the partitions' last records (0: empty).
_kafka_topic_walk() {
	"$KAFKA_PYTHON" - "$KAFKA_BOOTSTRAP" "$1" "$2" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition

bootstrap, mode, topic = sys.argv[1], sys.argv[2], sys.argv[3]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kafka-sh-" + mode,
              "enable.auto.commit": False})
try:
    md = c.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        sys.exit(f"kafka {mode}: topic {topic}: {t.error if t else 'missing'}")
    total, last = 0, 0
    for p in t.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += hi - lo
        if mode != "last" or hi <= lo:
            continue
        c.assign([TopicPartition(topic, p, hi - 1)])
        m = c.consume(1, timeout=10)
        if not m or m[0].error():
            sys.exit(f"kafka last: {topic} [{p}]: nothing read")
        last = max(last, m[0].timestamp()[1])
    print(total if mode == "count" else f"{last / 1000:.3f}")
finally:
    c.close()
PY
}

# kafka_count TOPIC: the records TOPIC holds.
kafka_count() {
	_kafka_topic_walk count "${1:?kafka_count TOPIC}"
}

# kafka_last_append TOPIC: the broker's append time of TOPIC's newest record.
kafka_last_append() {
	_kafka_topic_walk last "${1:?kafka_last_append TOPIC}"
}

kafka_consume() {
	local topic=${1:?kafka_consume TOPIC OUTFILE} out=${2:?kafka_consume TOPIC OUTFILE}

	if ! kcat -C -q -b "$KAFKA_BOOTSTRAP" -t "$topic" -o beginning -e \
		-f '%p\t%k\t%s\n' >"$out"; then
		_kafka_err "kafka_consume: kcat failed reading $topic"
		return 1
	fi
	return 0
}
