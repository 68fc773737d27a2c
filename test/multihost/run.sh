#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The multi-host integration test (issue 6): a fleet of three "hosts" on
# this machine, deployed by the Ansible playbook, all publishing to one
# real Kafka broker, with two AI workers in one consumer group.
#
# Topology (every namespace and link is made here and deleted on exit):
#
#   root ns ── gdmhIDr ─┐        netns gdr-mh-ID-k ("the Kafka host"):
#   (kcat, the test's    └─ br0 10.197.M.254/24, the broker listens there
#    clients; .253)        │ m1      │ m2      │ m3
#                       mgmt0 .1  mgmt0 .2  mgmt0 .3   (10.197.M.0/24)
#                     gdr-mh-ID-1 gdr-mh-ID-2 gdr-mh-ID-3   the hosts mh-1..3:
#                       data0      data0      data0     collector (XDP on
#                    10.196.1.2 10.196.2.2 10.196.3.2    data0 only), API,
#                        │          │          │         and on mh-1 and
#                       x1         x2         x3         mh-3 guarder-ai
#                    10.196.1.1 10.196.2.1 10.196.3.1
#                     netns gdr-mh-ID-x ("the outside": clients, scanner)
#
# Each host's daemons run inside its namespace (ip netns exec) from its
# own root directory ($TMP/hosts/mh-N), with the config and environment
# the playbook rendered there (per-host node name, pin path
# /sys/fs/bpf/guarder-test-mh-ID-N, the broker's address). Kafka and API
# traffic goes over mgmt0, which no collector watches; the test traffic
# comes from gdr-mh-ID-x over data0, so every record it makes is known.
#
# Checks:
#   1. ansible-playbook site.yml with test/multihost/inventory (connection
#      local, per-host root, pin path and namespace): every host changed,
#      none failed; each rendered guarder.yaml has the host's node name,
#      pin path, interfaces and the broker; guarder-ai only on mh-1, mh-3;
#      a second run reports changed=0 on every host;
#   2. the daemons start from what the playbook installed: each collector
#      pins its maps in its own directory and attaches to data0 only, in
#      the layered XDP mode (mh-1 native, mh-2 generic); the APIs' Kafka
#      consumers run; the two workers split the flows topic's 4 partitions
#      (disjoint, non-empty, all);
#   3. N TCP connections to each host (3, 5, 4) give exactly N start and N
#      end records on the broker under that host's node name (iface data0),
#      and no record of that traffic under another node;
#   4. a port scan of mh-2 (300 closed ports): exactly 300 start records
#      under edge-b; suggestions (port_scan_vertical, scanner -> mh-2) for
#      node edge-b only (1, or 2: one per worker); mh-2's API lists each of them at
#      GET /api/ai/suggestions; the APIs of mh-1 and mh-3 have read them
#      (consumer.other_node) and list none. Applied through mh-2's API,
#      the rule drops the scanner on mh-2; mh-1 still accepts it, and only
#      mh-2 has a filter;
#   5. every daemon exits 0 on SIGTERM and the collectors detach.
# Usage: run.sh BUILD_DIR   (root; 77 without root, ansible-playbook or nc)
set -uo pipefail

BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
HERE=$(dirname "$(realpath "$0")")
TOP=$(realpath "$HERE/../..")
PLAY=$TOP/deploy/ansible
COLLECTOR=$BUILD/collector/guarder-collector
# shellcheck source=../integration/lib.sh
source "$TOP/test/integration/lib.sh"
# shellcheck source=../kafka/kafka.sh
source "$TOP/test/kafka/kafka.sh"

HOSTS=(mh-1 mh-2 mh-3)
NODES=(edge-a edge-b core-c)
CONNS=(3 5 4)
FLOWS=guarder.flows
SUGG=guarder.suggestions
T0=$SECONDS

# The daemons stop before the broker (their flush at exit has a broker to
# talk to), then lib.sh's cleanup removes namespaces, pins and $TMP.
mh_cleanup() {
	local pid i

	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	PIDS=()
	kafka_stop
	cleanup
}
trap mh_cleanup EXIT

fail() {
	local f

	echo "FAIL: $*" >&2
	for f in "$TMP"/*.err "$TMP"/run*.log; do
		[ -s "$f" ] || continue
		echo "--- $f (last 25 lines)" >&2
		tail -n 25 "$f" >&2
	done
	[ -n "${KAFKA_DIR:-}" ] && [ -s "$KAFKA_DIR/broker.log" ] &&
		{ echo "--- broker.log (last 10 lines)" >&2; tail -n 10 "$KAFKA_DIR/broker.log" >&2; }
	exit 1
}
ok() { echo "  ok: $*"; }
step() { echo "== $* ($((SECONDS - T0)) s)"; }

preflight
command -v ansible-playbook >/dev/null || { echo "SKIP: ansible-playbook missing (scripts/setup.sh)" >&2; exit $SKIP; }
command -v kcat >/dev/null || { echo "SKIP: kcat missing (scripts/setup.sh)" >&2; exit $SKIP; }
for b in collector/guarder-collector api/guarder-api ai/guarder-ai; do
	[ -x "$BUILD/$b" ] || fail "$BUILD/$b is not built"
done

# --- the network -------------------------------------------------------
step "network: 3 hosts, the Kafka host, the outside"
ID=$(rand_hex 3)
NS_K=gdr-mh-$ID-k
NS_X=gdr-mh-$ID-x
# A /24 of 10.197.0.0/16 no interface of the root namespace uses (the root
# side of the management bridge lives there).
for ((t = 0; ; t++)); do
	M=$((RANDOM % 254 + 1))
	ip -4 -o addr show | grep -q " 10\.197\.$M\." || break
	[ $t -lt 50 ] || fail "no free 10.197.x.0/24"
done
BR_ADDR=10.197.$M.254
for ns in "$NS_K" "$NS_X"; do
	ip netns add "$ns" || fail "ip netns add $ns"
	NETNS+=("$ns")
	ip -n "$ns" link set lo up
done
ip -n "$NS_K" link add br0 type bridge || fail "bridge in $NS_K"
ip -n "$NS_K" addr add "$BR_ADDR/24" dev br0
ip -n "$NS_K" link set br0 up
ROOT_LINK=gdmh${ID}r
ip link add "$ROOT_LINK" type veth peer name uplink netns "$NS_K" || fail "ip link add $ROOT_LINK"
LINKS+=("$ROOT_LINK")
ip addr add "10.197.$M.253/24" dev "$ROOT_LINK"
ip link set "$ROOT_LINK" up
ip -n "$NS_K" link set uplink master br0 up
NS=() MGMT=() DATA=() OUT=()
for i in 1 2 3; do
	ns=gdr-mh-$ID-$i
	NS+=("$ns")
	MGMT+=("10.197.$M.$i")
	DATA+=("10.196.$i.2")
	OUT+=("10.196.$i.1")
	ip netns add "$ns" || fail "ip netns add $ns"
	NETNS+=("$ns")
	ip -n "$ns" link set lo up
	ip -n "$NS_K" link add "m$i" type veth peer name mgmt0 netns "$ns" || fail "mgmt0 of $ns"
	ip -n "$NS_K" link set "m$i" master br0 up
	ip -n "$ns" addr add "10.197.$M.$i/24" dev mgmt0
	ip -n "$ns" link set mgmt0 up
	ip -n "$NS_X" link add "x$i" type veth peer name data0 netns "$ns" || fail "data0 of $ns"
	ip -n "$NS_X" addr add "10.196.$i.1/30" dev "x$i"
	ip -n "$NS_X" link set "x$i" up
	ip -n "$ns" addr add "10.196.$i.2/30" dev data0
	ip -n "$ns" link set data0 up
done
for i in 0 1 2; do
	wait_for 5 ip netns exec "${NS[$i]}" ping -c 1 -W 1 -q "$BR_ADDR" >/dev/null ||
		fail "${HOSTS[$i]} does not reach the Kafka host"
	wait_for 5 ip netns exec "$NS_X" ping -c 1 -W 1 -q "${DATA[$i]}" >/dev/null ||
		fail "the outside does not reach ${HOSTS[$i]}'s data0"
done
ok "namespaces and links up"

# --- the broker ----------------------------------------------------------
step "Kafka broker in $NS_K"
kafka_fetch || fail "the Kafka broker jars are not available (see above)"
KAFKA_NETNS=$NS_K KAFKA_LISTEN_HOST=$BR_ADDR kafka_start "$TMP/kafka" || fail "the Kafka broker did not start"
kafka_create_topic "$FLOWS" 4 || fail "cannot create $FLOWS"
kafka_create_topic "$SUGG" 1 || fail "cannot create $SUGG"
ok "broker on $KAFKA_BOOTSTRAP, $FLOWS (4 partitions), $SUGG"

# --- Ansible ---------------------------------------------------------------
step "ansible-playbook site.yml, first run"
export GUARDER_API_TOKEN=mh-$(rand_hex 16)
export ANSIBLE_CONFIG=$PLAY/ansible.cfg ANSIBLE_LOCAL_TEMP=$TMP/ansible-local \
	ANSIBLE_REMOTE_TEMP=$TMP/ansible-remote ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
API_PORT=$(free_port)
/usr/bin/python3 - "$TMP" "$ID" "$BUILD" "$KAFKA_BOOTSTRAP" "$API_PORT" <<'PY' >"$TMP/local.yml" || fail "local inventory"
import sys, yaml
tmp, rid, build, bootstrap, port = sys.argv[1:]
hosts = {}
for i in (1, 2, 3):
    hosts[f"mh-{i}"] = {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "guarder_become": False,
        "guarder_root": f"{tmp}/hosts/mh-{i}",
        "guarder_pin_path": f"/sys/fs/bpf/guarder-test-mh-{rid}-{i}",
        "guarder_check_prefix": f"ip netns exec gdr-mh-{rid}-{i}",
        "guarder_manage_services": False,
        "guarder_build": False,
        "guarder_build_dir": build,
        "guarder_create_user": False,
    }
yaml.safe_dump({"all": {"vars": {"mh_kafka_bootstrap": bootstrap, "mh_api_port": int(port)},
                        "hosts": hosts}}, sys.stdout)
PY
for i in 1 2 3; do PINS+=("/sys/fs/bpf/guarder-test-mh-$ID-$i"); done

playbook() { # N: log in run$N.log, recap in recap$N
	(cd "$PLAY" && timeout 400 ansible-playbook -i "$HERE/inventory/hosts.yml" \
		-i "$TMP/local.yml" site.yml) >"$TMP/run$1.log" 2>&1
	local rc=$?
	sed -n '/^PLAY RECAP/,$p' "$TMP/run$1.log" >"$TMP/recap$1"
	return $rc
}
recap() { # N HOST FIELD
	awk -v h="$2" -v f="$3" '$1 == h { for (i = 3; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$TMP/recap$1"
}
t=$SECONDS
playbook 1 || fail "the first playbook run failed"
for h in "${HOSTS[@]}"; do
	[ "$(recap 1 "$h" failed)" = 0 ] || fail "$h failed in the first run"
	[ "$(recap 1 "$h" changed)" -gt 0 ] 2>/dev/null || fail "$h: the first run changed nothing"
done
ok "first run: 3 hosts deployed in $((SECONDS - t)) s"
for i in 0 1 2; do
	h=${HOSTS[$i]}
	r=$TMP/hosts/$h
	/usr/bin/python3 - "$r/etc/guarder/guarder.yaml" "${NODES[$i]}" "/sys/fs/bpf/guarder-test-mh-$ID-$((i + 1))" \
		"$KAFKA_BOOTSTRAP" "0.0.0.0:$API_PORT" <<'PY' || fail "$h: rendered config"
import sys, yaml
path, node, pin, brokers, listen = sys.argv[1:]
c = yaml.safe_load(open(path))
got = [c["node"]["name"], c["bpf"]["pin_path"], c["collector"]["interfaces"],
       c["kafka"]["brokers"], c["api"]["listen"], c["api"]["token"]]
want = [node, pin, ["data0"], brokers, listen, "${GUARDER_API_TOKEN}"]
if got != want:
    sys.exit(f"{path}: got {got}, expected {want}")
PY
	grep -qx "GUARDER_API_TOKEN=$GUARDER_API_TOKEN" "$r/etc/guarder/guarder.env" || fail "$h: no token in guarder.env"
	# What systemd would create (StateDirectory=, RuntimeDirectory=).
	mkdir -p "$r/var/lib/guarder" "$r/run/guarder"
done
[ -x "$TMP/hosts/mh-1/usr/sbin/guarder-ai" ] && [ -x "$TMP/hosts/mh-3/usr/sbin/guarder-ai" ] ||
	fail "guarder-ai not installed on mh-1 and mh-3"
[ -e "$TMP/hosts/mh-2/usr/sbin/guarder-ai" ] && fail "guarder-ai installed on mh-2 (not in guarder_ai)"
ok "each host's guarder.yaml: its node name, pin path, data0, the broker; token in guarder.env; guarder-ai on mh-1, mh-3"

step "ansible-playbook site.yml, second run"
t=$SECONDS
playbook 2 || fail "the second playbook run failed"
for h in "${HOSTS[@]}"; do
	[ "$(recap 2 "$h" changed)" = 0 ] || fail "$h: the second run changed $(recap 2 "$h" changed)"
	[ "$(recap 2 "$h" failed)" = 0 ] || fail "$h failed in the second run"
done
ok "second run: changed=0 on every host ($((SECONDS - t)) s)"

# --- the daemons, as deployed ------------------------------------------------
# daemon HOST_INDEX NAME ARGS...: $ROOT/usr/sbin/NAME -c $ROOT/etc/guarder/
# guarder.yaml in the host's network namespace, with guarder.env's
# environment (what the units' EnvironmentFile= gives); log
# $TMP/NAME.HOST.err. nsenter --net, not ip netns exec: that one also
# mounts a fresh /sys, without the machine's bpffs, where the pins live
# (like systemd's NetworkNamespacePath=, only the network is the host's).
daemon() {
	local i=$1 name=$2 r=$TMP/hosts/${HOSTS[$1]} envs

	shift 2
	mapfile -t envs < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$r/etc/guarder/guarder.env")
	nsenter --net="/run/netns/${NS[$i]}" env "${envs[@]}" "$r/usr/sbin/$name" \
		-c "$r/etc/guarder/guarder.yaml" "$@" >"$TMP/${name#guarder-}.${HOSTS[$i]}.err" 2>&1 &
	D_PID=$!
	PIDS+=("$D_PID")
	DAEMONS+=("$name.${HOSTS[$i]}:$D_PID")
}
DAEMONS=()
log_has() { # PID FILE TEXT
	kill -0 "$1" 2>/dev/null || fail "$(basename "$2" .err) exited during start-up"
	grep -q "$3" "$2" 2>/dev/null
}
api() { # HOST_INDEX PATH: GET, body on stdout
	curl -s -f -m 10 -H "Authorization: Bearer $GUARDER_API_TOKEN" "http://${MGMT[$1]}:$API_PORT$2"
}

step "daemons"
for i in 0 1 2; do
	h=${HOSTS[$i]}
	daemon "$i" guarder-collector
	wait_for 20 log_has "$D_PID" "$TMP/collector.$h.err" "Ctrl-C or SIGTERM stops" ||
		fail "the collector of $h did not start"
	daemon "$i" guarder-api
	wait_for 20 log_has "$D_PID" "$TMP/api.$h.err" "listening on" || fail "the API of $h did not start"
done
# Each collector in its own pin directory, its XDP mode the layered one
# (edge group native, mh-2's host var generic, mh-3 auto).
xdp_mode() { ip -n "$1" -j link show dev data0 | jq -r '.[0].xdp.mode // empty'; }
for i in 0 1 2; do
	pin=/sys/fs/bpf/guarder-test-mh-$ID-$((i + 1))
	bpftool map show pinned "$pin/flows" >/dev/null 2>&1 || fail "${HOSTS[$i]}: no flow table pinned in $pin"
done
expect_eq "XDP mode on data0 of mh-1 mh-2 (1 native, 2 generic)" "$(xdp_mode "${NS[0]}") $(xdp_mode "${NS[1]}")" "1 2"
[ -n "$(xdp_mode "${NS[2]}")" ] || fail "no XDP program on mh-3's data0"
for i in 0 1 2; do
	[ -z "$(ip -n "${NS[$i]}" -j link show dev mgmt0 | jq -r '.[0].xdp.mode // empty')" ] ||
		fail "XDP on ${HOSTS[$i]}'s mgmt0"
done
consumer_running() { [ "$(api "$1" /api/ai/status | jq -r .consumer.state)" = running ]; }
for i in 0 1 2; do
	wait_for 20 consumer_running "$i" || fail "${HOSTS[$i]}'s API: no suggestions consumer: $(api "$i" /api/ai/status)"
done
declare -A WSTATS
for i in 0 2; do
	h=${HOSTS[$i]}
	WSTATS[$h]=$TMP/ai.$h.stats.json
	daemon "$i" guarder-ai -stats-file "${WSTATS[$h]}" -offset-reset earliest
	wait_for 30 log_has "$D_PID" "$TMP/ai.$h.err" "assigned partitions" ||
		fail "guarder-ai on $h got no partitions"
done
parts() { jq -c '.partitions // []' "$1" 2>/dev/null; }
split_ok() {
	local a b
	a=$(parts "${WSTATS[mh-1]}") b=$(parts "${WSTATS[mh-3]}")
	[ -n "$a" ] && [ -n "$b" ] || return 1
	[ "$(jq -nc --argjson a "$a" --argjson b "$b" \
		'($a|length>0) and ($b|length>0) and (($a+$b|sort) == [0,1,2,3])')" = true ]
}
wait_for 30 split_ok ||
	fail "the workers did not split $FLOWS: mh-1 $(parts "${WSTATS[mh-1]}"), mh-3 $(parts "${WSTATS[mh-3]}")"
ok "3 collectors, 3 APIs (suggestion consumers running), 2 workers: mh-1 $(parts "${WSTATS[mh-1]}"), mh-3 $(parts "${WSTATS[mh-3]}")"

# --- traffic on each host -------------------------------------------------------
step "traffic: ${CONNS[*]} TCP connections to mh-1, mh-2, mh-3"
LPORT=$((20000 + RANDOM % 20000))
listening_in() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; }
for i in 0 1 2; do
	# A listener on data0's address: accept, read a line, close.
	ip netns exec "${NS[$i]}" /usr/bin/python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        c.recv(100)
    except OSError:
        pass
    c.close()' "${DATA[$i]}" "$LPORT" &
	PIDS+=($!)
	wait_for 5 listening_in "${NS[$i]}" "$LPORT" || fail "no listener in ${NS[$i]}"
done
for i in 0 1 2; do
	for ((n = 0; n < CONNS[i]; n++)); do
		echo x | ip netns exec "$NS_X" nc -N -w 2 "${DATA[$i]}" "$LPORT" >/dev/null 2>&1 ||
			fail "connection $n to ${HOSTS[$i]} failed"
	done
done

# counts FILE: per host, "start:end:other" of the test's flows to it:
# starts and ends under its node name, and records of them under any other
# node or from an interface other than data0.
counts() {
	local i out=()
	for i in 0 1 2; do
		out+=("$(cut -f3 "$1" | jq -s -r --arg ip "${DATA[$i]}" --argjson p "$LPORT" --arg node "${NODES[$i]}" '
			[.[] | select(.proto == "tcp" and .dst_ip == $ip and .dst_port == $p)] as $r
			| [([$r[] | select(.node == $node and .event == "start")] | length),
			   ([$r[] | select(.node == $node and .event == "end")] | length),
			   ([$r[] | select(.node != $node or .iface != "data0")] | length)] | join(":")')")
	done
	echo "${out[*]}"
}
ends_arrived() {
	local c i
	kafka_consume "$FLOWS" "$TMP/flows.tsv" 2>/dev/null || return 1
	read -ra c <<<"$(counts "$TMP/flows.tsv")"
	for i in 0 1 2; do
		[ "$(cut -d: -f2 <<<"${c[$i]}")" -ge "${CONNS[$i]}" ] 2>/dev/null || return 1
	done
}
wait_for 20 ends_arrived || fail "end records did not arrive: start:end:other per host $(counts "$TMP/flows.tsv")"
# Two more sweeps: a duplicate or a stray record would show now.
sleep 2
kafka_consume "$FLOWS" "$TMP/flows.tsv" || fail "kcat could not read $FLOWS"
expect_eq "start:end:other records of the test's flows per host (mh-1 mh-2 mh-3)" \
	"$(counts "$TMP/flows.tsv")" "$(for i in 0 1 2; do printf '%s ' "${CONNS[$i]}:${CONNS[$i]}:0"; done | sed 's/ $//')"
# Every node of the fleet is on the one broker, and only those.
expect_eq "nodes on $FLOWS" "$(cut -f3 "$TMP/flows.tsv" | jq -s -c '[.[].node] | unique')" \
	"$(printf '%s\n' "${NODES[@]}" | jq -R . | jq -s -c 'sort')"
ok "$(wc -l <"$TMP/flows.tsv") records on $FLOWS; each host's connections under its node name only"

# --- a scan of mh-2 --------------------------------------------------------------
step "port scan of mh-2 (300 closed ports) from ${OUT[1]}"
ip netns exec "$NS_X" nc -z -w 1 "${DATA[1]}" 1000-1299 2>/dev/null
# Every probe is on the broker first, as one start record of mh-2's node
# (the detector counts start records; a late one could still fire).
scan_starts() {
	kafka_consume "$FLOWS" "$TMP/flows.tsv" 2>/dev/null || return 1
	cut -f3 "$TMP/flows.tsv" | jq -s --arg s "${OUT[1]}" --arg d "${DATA[1]}" '[.[] | select(.event == "start"
		and .proto == "tcp" and .src_ip == $s and .dst_ip == $d and .dst_port >= 1000 and .dst_port <= 1299
		and .node == "edge-b")] | length'
}
scan_recorded() { [ "$(scan_starts)" -ge 300 ] 2>/dev/null; }
wait_for 30 scan_recorded || fail "$(scan_starts) start records of the scan's 300 probes on $FLOWS"
expect_eq "start records of the scan (edge-b)" "$(scan_starts)" 300
n_sugg() { kafka_count "$SUGG" 2>/dev/null; }
has_sugg() { [ "$(n_sugg)" -ge 1 ] 2>/dev/null; }
wait_for 30 has_sugg || fail "no suggestion after the scan: $(grep -h 'records' "$TMP"/ai.*.err | tail -n 2)"
# Both workers may find it (each saw about half of the probes). The topic
# is final once both have processed every record on the flows topic and
# delivered every suggestion they produced (one stats snapshot per worker:
# a finding is counted in .suggestions when its record is processed).
wstat() { jq -r '"\(.records // 0) \(.suggestions // 0) \(.delivered // 0)"' "$1" 2>/dev/null; }
settled() {
	local total r1 s1 d1 r3 s3 d3
	total=$(kafka_count "$FLOWS" 2>/dev/null) || return 1
	read -r r1 s1 d1 <<<"$(wstat "${WSTATS[mh-1]}")"
	read -r r3 s3 d3 <<<"$(wstat "${WSTATS[mh-3]}")"
	[ $((r1 + r3)) -ge "$total" ] && [ "$s1" = "$d1" ] && [ "$s3" = "$d3" ] &&
		[ $((d1 + d3)) = "$(n_sugg)" ]
}
wait_for 30 settled || fail "the workers did not settle: records+suggestions+delivered mh-1 $(wstat "${WSTATS[mh-1]}"), mh-3 $(wstat "${WSTATS[mh-3]}"); $FLOWS $(kafka_count "$FLOWS"), $SUGG $(n_sugg)"
N=$(n_sugg)
log "ok: every record processed; the $N suggestion(s) the workers produced are on $SUGG"
[ "$N" -ge 1 ] && [ "$N" -le 2 ] || fail "$N suggestions for one scan (expected 1, or 2: one per worker)"
kafka_consume "$SUGG" "$TMP/sugg.tsv" || fail "kcat could not read $SUGG"
expect_eq "every suggestion: node, key, kind, scanner -> mh-2, proposed" \
	"$(jq -R -s -c --arg s "${OUT[1]}" --arg d "${DATA[1]}" '[split("\n")[] | select(length > 0) | split("\t")
		| (.[2] | fromjson) as $v | [.[1], $v.node, $v.kind, $v.status, $v.rules[0].src_ip, $v.rules[0].dst_ip]] | unique' \
		"$TMP/sugg.tsv")" \
	"$(jq -n -c --arg s "${OUT[1]}" --arg d "${DATA[1]}" '[["edge-b","edge-b","port_scan_vertical","proposed",$s,$d]]')"
IDS=$(cut -f3 "$TMP/sugg.tsv" | jq -s -c '[.[].id] | sort')

step "the APIs"
listed() { api "$1" /api/ai/suggestions | jq -c '[.[].id] | sort'; }
other_node() { api "$1" /api/ai/status | jq -r .consumer.other_node; }
listed_all() { [ "$(listed 1)" = "$IDS" ]; }
wait_for 20 listed_all || fail "mh-2's API lists $(listed 1), expected $IDS"
api 1 /api/ai/suggestions >"$TMP/mh-2.sugg.json" || fail "GET /api/ai/suggestions on mh-2"
expect_eq "mh-2 lists them: node, state, origin" \
	"$(jq -c '[.[] | [.node, .state, .origin, .kind]] | unique' "$TMP/mh-2.sugg.json")" \
	'[["edge-b","proposed","detector","port_scan_vertical"]]'
ok "mh-2's API lists the $N suggestion(s) $IDS"
for i in 0 2; do
	# Read, and left out as another node's: then the empty list means it.
	wait_for 20 eval '[ "$(other_node '"$i"')" = "$N" ]' ||
		fail "${HOSTS[$i]}'s API read $(other_node "$i") suggestions of other nodes, expected $N"
	expect_eq "${HOSTS[$i]}'s API lists" "$(api "$i" /api/ai/suggestions | jq -c .)" "[]"
done
ok "the APIs of mh-1 and mh-3 read the $N suggestion(s) as another node's and list none"

# Applied on mh-2, its rule drops the scanner there, in mh-2's kernel only.
conn_ok() { echo x | ip netns exec "$NS_X" nc -N -w 2 "$1" "$LPORT" >/dev/null 2>&1; }
post() { # HOST_INDEX PATH: status code on stdout
	curl -s -m 30 -o "$TMP/post.body" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $GUARDER_API_TOKEN" "http://${MGMT[$1]}:$API_PORT$2"
}
S1=$(jq -r '.[0]' <<<"$IDS")
code=$(post 1 "/api/ai/suggestions/$S1/apply")
[ "$code" = 200 ] || fail "apply $S1 on mh-2: HTTP $code $(head -c 300 "$TMP/post.body")"
conn_ok "${DATA[1]}" && fail "the scanner still connects to mh-2 after the apply"
conn_ok "${DATA[0]}" || fail "mh-1 refuses a connection (the rule is mh-2's)"
expect_eq "filters on mh-1 mh-2 mh-3" \
	"$(for i in 0 1 2; do api "$i" /api/filters | jq -r length; done | tr '\n' ' ' | sed 's/ $//')" "0 1 0"
ok "$S1 applied on mh-2: its kernel drops the scanner; mh-1 and mh-3 have no rule"

step "stop"
# Every daemon stops cleanly on SIGTERM; the collectors' programs stay
# attached (the filter never fails open), and --detach removes them.
for d in "${DAEMONS[@]}"; do kill -TERM "${d#*:}"; done
for d in "${DAEMONS[@]}"; do
	wait "${d#*:}"
	expect_eq "exit status of ${d%:*} after SIGTERM" "$?" 0
done
conn_ok "${DATA[1]}" && fail "mh-2 let the scanner in once its collector stopped"
ok "mh-2 still drops the scanner with no collector running"
for i in 0 1 2; do
	[ -n "$(xdp_mode "${NS[$i]}")" ] || fail "the XDP program left ${HOSTS[$i]}'s data0 on SIGTERM"
	r=$TMP/hosts/${HOSTS[$i]}
	mapfile -t envs < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$r/etc/guarder/guarder.env")
	nsenter --net="/run/netns/${NS[$i]}" env "${envs[@]}" "$r/usr/sbin/guarder-collector" \
		-c "$r/etc/guarder/guarder.yaml" --detach >"$TMP/detach.${HOSTS[$i]}.err" 2>&1 ||
		fail "--detach on ${HOSTS[$i]}: $(cat "$TMP/detach.${HOSTS[$i]}.err")"
	[ -z "$(xdp_mode "${NS[$i]}")" ] || fail "XDP still attached to ${HOSTS[$i]}'s data0 after --detach"
done
ok "XDP kept through the stop, then detached from every data0 by --detach"

echo "PASS: multi-host fleet in $((SECONDS - T0)) s"
