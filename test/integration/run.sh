#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Integration tests of guarder-collector: real packets through the real
# kernel program, in the style of xdp-tools' test runner (one function per
# case, the topology made and removed by the runner).
#
#   run.sh COLLECTOR OLD_OBJ CASE...  (CASE: ping4, ping6, udp, tcp, modes,
#                                  no_egress, multi_iface, restart, failclosed,
#                                  upgrade, abi_change, drops_stream, forwarded,
#                                  second_instance,
#                                  pin_mismatch, rollback, l3_device, check_config;
#                                  or "all")
# OLD_OBJ is a stand-in for an older version of the program (test/integration/
# old_tracker.bpf.c): its XDP and tc programs carry our names and pass all.
#
# Each case makes a network namespace joined to the root namespace by a
# veth pair, runs the collector in the ROOT namespace attached to the
# root-side veth only, and sends traffic between the two ends of the pair:
# XDP sees what arrives from the namespace, the tc egress program what
# goes back, so one flow gets both directions. Expected counts come from
# the traffic tools and the namespace's own /proc/net/snmp, never from the
# collector. Everything made is removed on exit, whatever happens.
# Exit status: 0 pass, 1 fail, 77 skipped (not root, no netns, no bpffs).
set -uo pipefail

COLLECTOR=${1:?usage: run.sh COLLECTOR OLD_OBJ CASE...}
OLD_OBJ=${2:?usage: run.sh COLLECTOR OLD_OBJ CASE...}
shift 2
COLLECTOR=$(realpath "$COLLECTOR")
OLD_OBJ=$(realpath "$OLD_OBJ")
ALL_CASES=(ping4 ping6 udp tcp modes no_egress multi_iface restart failclosed upgrade abi_change
	drops_stream forwarded second_instance pin_mismatch rollback l3_device check_config)

HERE=$(dirname "$(realpath "$0")")
# shellcheck source=lib.sh
source "$HERE/lib.sh"

# ping_case FAMILY: 3 echo requests from the namespace, 3 replies back.
ping_case() {
	local fam=$1 proto src dst out r

	new_pair
	new_config "$TMP/ping$fam.yaml"
	# The original tool's three flags, on a real run.
	start_collector -c "$CONF" -iface "$P_VETH" -interval 1 -api :8080
	expect_stderr "-api :8080 sets api.listen"
	if [ "$fam" = 4 ]; then
		proto=icmp src=$P_NS4 dst=$P_ROOT4
	else
		proto=icmpv6 src=$P_NS6 dst=$P_ROOT6
	fi
	out=$(ip netns exec "$P_NS" ping -"$fam" -c 3 -i 0.2 -q "$dst") || fail "ping -$fam failed"
	grep -q "3 received" <<<"$out" || fail "ping -$fam lost packets: $out"

	r=$(wait_record 5 "$(flow_cond $proto "$src" "$dst") and .event==\"start\"") || exit 1
	expect_eq "start record's interface" "$(jq -r .iface <<<"$r")" "$P_VETH"
	expect_eq "start record's echo id as ports" "$(jq '.src_port == .dst_port' <<<"$r")" true
	r=$(wait_record 8 "$(flow_cond $proto "$src" "$dst") and .event==\"end\"") || exit 1
	expect_eq "end reason" "$(jq -r .end_reason <<<"$r")" idle
	expect_eq "echo requests (fwd packets)" "$(jq .fwd.packets <<<"$r")" 3
	expect_eq "echo replies (rev packets)" "$(jq .rev.packets <<<"$r")" 3
	# 56 bytes of data + 8 ICMP header + the IP header (20 or 40).
	expect_eq "fwd bytes" "$(jq .fwd.bytes <<<"$r")" $((3 * (64 + (fam == 4 ? 20 : 40))))
	expect_eq "rev bytes" "$(jq .rev.bytes <<<"$r")" $((3 * (64 + (fam == 4 ? 20 : 40))))
	[ -s "$C_OUT" ] || fail "no console summary on stdout"
	stop_collector
	expect_kept "$P_VETH"
}

test_ping4() { ping_case 4; }
test_ping6() { ping_case 6; }

test_udp() {
	local n=25 port=$((20000 + RANDOM % 20000)) got before after r

	new_pair
	new_config "$TMP/udp.yaml"
	start_collector -c "$CONF" -iface "$P_VETH"
	# A listener in the root namespace, so no ICMP errors come back.
	python3 - "$P_ROOT4" "$port" "$n" >"$TMP/udp.count" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(5)
n = 0
try:
    while n < int(sys.argv[3]):
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n)
EOF
	PIDS+=($!)
	local listener=$!
	wait_for 5 listening -lun "$P_ROOT4" "$port" || fail "the UDP listener did not bind"
	before=$(snmp "$P_NS" Udp OutDatagrams)
	ip netns exec "$P_NS" python3 - "$P_ROOT4" "$port" "$n" <<'EOF' || fail "UDP sender failed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
    s.sendto(b"g" * 100, (sys.argv[1], int(sys.argv[2])))
EOF
	after=$(snmp "$P_NS" Udp OutDatagrams)
	wait "$listener"
	got=$(cat "$TMP/udp.count")
	expect_eq "datagrams the listener received" "$got" "$n"
	expect_eq "datagrams the namespace sent" "$((after - before))" "$n"

	r=$(wait_record 8 "$(flow_cond udp "$P_NS4" "$P_ROOT4") and .dst_port==$port and .event==\"end\"") || exit 1
	expect_eq "UDP fwd packets" "$(jq .fwd.packets <<<"$r")" "$n"
	expect_eq "UDP fwd bytes (IP length)" "$(jq .fwd.bytes <<<"$r")" $((n * 128))
	expect_eq "UDP rev packets" "$(jq .rev.packets <<<"$r")" 0

	# A datagram to a closed port: the root stack answers with an ICMP
	# port unreachable (seen on egress) that quotes our datagram.
	ip netns exec "$P_NS" python3 - "$P_ROOT4" $((port + 1)) <<'EOF' || fail "UDP sender failed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 40999))
s.sendto(b"?", (sys.argv[1], int(sys.argv[2])))
EOF
	r=$(wait_record 5 ".event==\"icmp\" and .icmp.type==3 and .icmp.code==3 and .icmp.inner.dst_port==$((port + 1))") || exit 1
	expect_eq "ICMP error: quoted source" "$(jq -r '"\(.icmp.inner.src_ip):\(.icmp.inner.src_port)"' <<<"$r")" "$P_NS4:40999"
	expect_eq "ICMP error: quoted protocol" "$(jq -r .icmp.inner.proto <<<"$r")" udp
	expect_eq "ICMP error: sent by" "$(jq -r .src_ip <<<"$r")" "$P_ROOT4"
	stop_collector
	expect_kept "$P_VETH"
}

test_tcp() {
	local port=$((20000 + RANDOM % 20000)) server r flags out0 in0 re0 out1 in1 re1

	new_pair
	new_config "$TMP/tcp.yaml"
	start_collector -c "$CONF" -iface "$P_VETH"
	head -c 600 /dev/urandom >"$TMP/tcp.sent"
	nc -l -d "$P_ROOT4" "$port" >"$TMP/tcp.recv" &
	server=$!
	PIDS+=("$server")
	wait_for 5 listening -ltn "$P_ROOT4" "$port" || fail "nc -l did not listen"

	# The namespace holds only this connection: its stack's segment
	# counters are an exact, independent count of both directions.
	out0=$(snmp "$P_NS" Tcp OutSegs) in0=$(snmp "$P_NS" Tcp InSegs)
	re0=$(snmp "$P_NS" Tcp RetransSegs)
	ip netns exec "$P_NS" nc -N -w 5 "$P_ROOT4" "$port" <"$TMP/tcp.sent" || fail "nc client failed"
	wait_for 5 exited "$server" || fail "nc -l did not see the close"
	cmp -s "$TMP/tcp.sent" "$TMP/tcp.recv" || fail "the payload did not arrive intact"
	sleep 0.5
	out1=$(snmp "$P_NS" Tcp OutSegs) in1=$(snmp "$P_NS" Tcp InSegs)
	re1=$(snmp "$P_NS" Tcp RetransSegs)
	expect_eq "retransmissions (so the counts below are exact)" "$((re1 - re0))" 0

	local cond
	cond="$(flow_cond tcp "$P_NS4" "$P_ROOT4") and .dst_port==$port"
	r=$(wait_record 5 "$cond and .event==\"start\"") || exit 1
	expect_eq "start record's interface" "$(jq -r .iface <<<"$r")" "$P_VETH"
	r=$(wait_record 8 "$cond and .event==\"end\"") || exit 1
	expect_eq "end reason" "$(jq -r .end_reason <<<"$r")" fin
	flags=$(jq .tcp.flags <<<"$r")
	# FIN 0x01, SYN 0x02, ACK 0x10 seen; no RST 0x04.
	expect_eq "SYN|ACK|FIN all seen" "$((flags & 0x13))" $((0x13))
	expect_eq "no RST" "$((flags & 0x04))" 0
	expect_eq "fwd packets = segments the namespace sent" "$(jq .fwd.packets <<<"$r")" $((out1 - out0))
	expect_eq "rev packets = segments the namespace received" "$(jq .rev.packets <<<"$r")" $((in1 - in0))
	# The client's data all went one way: 600 bytes plus headers.
	[ "$(jq .fwd.bytes <<<"$r")" -ge $((600 + 40 * (out1 - out0))) ] ||
		fail "fwd bytes too small: $r"
	expect_eq "flow removed from the kernel table after its end" \
		"$(bpftool map dump pinned "$PIN/flows" -j | jq --argjson p "$port" \
			'[.[] | select(.formatted.key.proto == 6 and (.formatted.key.port_lo == $p or .formatted.key.port_hi == $p))] | length')" 0
	stop_collector
	expect_kept "$P_VETH"
}

# Generic (skb) and native mode, each asked for explicitly and verified.
test_modes() {
	local mode want r

	new_pair
	for mode in generic native; do
		want=$([ $mode = native ] && echo 1 || echo 2)
		new_config "$TMP/mode-$mode.yaml" "xdp_mode: $mode"
		start_collector -c "$CONF" -iface "$P_VETH"
		expect_eq "$mode: XDP mode on the link" "$(xdp_mode_of "$P_VETH")" "$want"
		expect_stderr "attached in $mode mode"
		ip netns exec "$P_NS" ping -c 3 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
		r=$(wait_record 8 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .event==\"end\"") || exit 1
		expect_eq "$mode: echo requests" "$(jq .fwd.packets <<<"$r")" 3
		expect_eq "$mode: echo replies" "$(jq .rev.packets <<<"$r")" 3
		stop_collector
		expect_kept "$P_VETH"
	done
}

# collector.egress: false: XDP only, no tc filter, no clsact left behind.
test_no_egress() {
	local r

	new_pair
	new_config "$TMP/noegress.yaml" "egress: false"
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_eq "tc egress filters" "$(tc filter show dev "$P_VETH" egress)" ""
	expect_eq "clsact qdiscs" "$(tc qdisc show dev "$P_VETH" | grep -c clsact)" 0
	ip netns exec "$P_NS" ping -c 3 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	r=$(wait_record 8 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .event==\"end\"") || exit 1
	expect_eq "ingress only: packets fwd/rev" "$(jq -r '"\(.fwd.packets)/\(.rev.packets)"' <<<"$r")" 3/0
	stop_collector
	expect_kept "$P_VETH"
}

test_multi_iface() {
	local a_veth a_ns a_src a_dst r

	new_pair
	a_veth=$P_VETH a_ns=$P_NS a_src=$P_NS4 a_dst=$P_ROOT4
	new_pair
	new_config "$TMP/multi.yaml"
	# GNU-style spelling of the same flag.
	start_collector --config="$CONF" --iface="$a_veth,$P_VETH"
	expect_eq "XDP on the first interface" "$(xdp_mode_of "$a_veth")" 1
	expect_eq "XDP on the second interface" "$(xdp_mode_of "$P_VETH")" 1
	ip netns exec "$a_ns" ping -c 2 -i 0.2 -q "$a_dst" >/dev/null || fail "ping A failed"
	ip netns exec "$P_NS" ping -c 3 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping B failed"
	r=$(wait_record 5 "$(flow_cond icmp "$a_src" "$a_dst") and .event==\"start\"") || exit 1
	expect_eq "flow A's interface" "$(jq -r .iface <<<"$r")" "$a_veth"
	r=$(wait_record 5 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .event==\"start\"") || exit 1
	expect_eq "flow B's interface" "$(jq -r .iface <<<"$r")" "$P_VETH"
	r=$(wait_record 8 "$(flow_cond icmp "$a_src" "$a_dst") and .event==\"end\"") || exit 1
	expect_eq "flow A packets each way" "$(jq '"\(.fwd.packets)/\(.rev.packets)"' -r <<<"$r")" 2/2
	r=$(wait_record 8 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .event==\"end\"") || exit 1
	expect_eq "flow B packets each way" "$(jq '"\(.fwd.packets)/\(.rev.packets)"' -r <<<"$r")" 3/3
	stop_collector INT
	expect_kept "$a_veth" "$P_VETH"
}

# The programs stay attached when the collector stops, whether by SIGTERM
# or SIGKILL, and the next collector adopts them: the same program id, the
# same pinned maps, counters that go on.
test_restart() {
	local icmp1 icmp2 id r prog

	new_pair
	# Long idle timeout: the flow must still be in the table after restart.
	new_config "$TMP/restart.yaml"
	sed -i 's/idle_timeout: 2/idle_timeout: 120/' "$CONF"
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_stderr "0 reused"
	prog=$(xdp_prog_of "$P_VETH")
	ip netns exec "$P_NS" ping -c 2 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	r=$(wait_record 5 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .event==\"start\"") || exit 1
	id=$(jq .src_port <<<"$r")
	wait_for 3 pinned_flow_is "$id" "2 2" ||
		fail "the pinned flow table does not hold 2/2 packets of echo id $id"
	icmp1=$(stat_sum ".packets[2]")
	expect_eq "ICMP packets counted before the restart" "$icmp1" 4
	stop_collector
	expect_eq "XDP program kept with no collector running" "$(xdp_prog_of "$P_VETH")" "$prog"
	expect_eq "pinned flow kept while no collector runs" "$(pinned_flow_packets "$id")" "2 2"
	# With no collector, the kernel program still counts.
	ip netns exec "$P_NS" ping -c 1 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	wait_for 3 icmp_total_is $((icmp1 + 2)) || fail "nothing counted while no collector ran"

	start_collector -c "$CONF" -iface "$P_VETH"
	expect_stderr " 0 new"
	expect_stderr "is this program on these maps: kept attached"
	expect_eq "the same program adopted" "$(xdp_prog_of "$P_VETH")" "$prog"
	expect_eq "pinned flow kept by the new collector" "$(pinned_flow_packets "$id")" "2 2"
	ip netns exec "$P_NS" ping -c 2 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	wait_for 3 icmp_total_is $((icmp1 + 6)) ||
		fail "ICMP counter did not continue from $icmp1"
	icmp2=$(stat_sum ".packets[2]")

	kill -KILL "$C_PID"
	wait "$C_PID" 2>/dev/null
	expect_eq "XDP left attached by a killed collector" "$(xdp_prog_of "$P_VETH")" "$prog"
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_stderr "kept attached"
	expect_eq "tc egress filters after the adoption" \
		"$(tc filter show dev "$P_VETH" egress | grep -c 'tc_egress_track')" 1
	ip netns exec "$P_NS" ping -c 2 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	wait_for 3 icmp_total_is $((icmp2 + 4)) ||
		fail "the adopting collector does not count"
	log "ok: the adopting collector counts (ICMP packets $((icmp2 + 4)))"
	stop_collector
	expect_kept "$P_VETH"
}

# rules_file PATH RULE_JSON...: a rules file holding these rules.
rules_file() {
	local path=$1 id=0 r sep=""

	shift
	mkdir -p "$(dirname "$path")"
	{
		printf '{"version":1,"next_id":%d,"rules":[' $(($# + 1))
		for r in "$@"; do
			id=$((id + 1))
			printf '%s{"id":%d,%s}' "$sep" "$id" "${r#\{}" | sed 's/}}$/}/'
			sep=,
		done
		printf ']}\n'
	} >"$path"
}

ping_blocked() { ! ip netns exec "$P_NS" ping -c 1 -W 1 -q "$P_ROOT4" >/dev/null 2>&1; }
ping_passes() { ip netns exec "$P_NS" ping -c 1 -W 1 -q "$P_ROOT4" >/dev/null 2>&1; }

# The filter never fails open: a drop rule holds while the collector is
# stopped, killed, or restarted, and only --detach lets the traffic through.
test_failclosed() {
	new_pair
	new_config "$TMP/closed.yaml"
	rules_file "$RULES" "{\"rule_type\":\"icmp\",\"src_ip\":\"$P_NS4\",\"action\":\"drop\",\"enabled\":true}"
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_stderr "filter: 1 rules from $RULES applied"
	ping_blocked || fail "the drop rule does not hold"
	stop_collector
	ping_blocked || fail "the rule stopped holding when the collector stopped (SIGTERM)"
	log "ok: dropped with no collector (after SIGTERM)"
	start_collector -c "$CONF" -iface "$P_VETH"
	kill -KILL "$C_PID"
	wait "$C_PID" 2>/dev/null
	ping_blocked || fail "the rule stopped holding when the collector was killed"
	log "ok: dropped with no collector (after SIGKILL)"
	start_collector -c "$CONF" -iface "$P_VETH"
	ping_blocked || fail "the rule does not hold after the restart"
	stop_collector
	detach_collector
	expect_detached "$P_VETH"
	ping_passes || fail "traffic does not pass after --detach"
	log "ok: --detach lets it through"
	# --detach with nothing attached: nothing to do, status 0.
	detach_collector
}

# An older program of ours (here: one that passes everything) is replaced
# in one atomic step by the new collector's, on the same interface and
# hook, with no moment where neither filters.
test_upgrade() {
	local old_x old_t

	new_pair
	new_config "$TMP/upgrade.yaml"
	rules_file "$RULES" "{\"rule_type\":\"icmp\",\"src_ip\":\"$P_NS4\",\"action\":\"drop\",\"enabled\":true}"
	ip link set dev "$P_VETH" xdpgeneric obj "$OLD_OBJ" sec xdp ||
		fail "cannot attach the stand-in for an older version"
	tc qdisc add dev "$P_VETH" clsact || fail "clsact"
	tc filter add dev "$P_VETH" egress handle 0x4744 prio 0x4744 bpf da obj "$OLD_OBJ" sec tc ||
		fail "cannot attach the older tc program"
	old_x=$(xdp_prog_of "$P_VETH")
	ping_passes || fail "the older program passes everything"
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_stderr "replaced atomically by this collector's"
	expect_stderr "tc tc_egress_tracker (id "
	[ "$(xdp_prog_of "$P_VETH")" != "$old_x" ] || fail "the older XDP program is still attached"
	expect_eq "one tc egress filter" "$(tc filter show dev "$P_VETH" egress | grep -c 'tc_egress_track')" 1
	old_t=$(bpftool prog show id "$old_x" 2>/dev/null | grep -c xdp_conn_tracker)
	expect_eq "the older program is gone" "$old_t" 0
	ping_blocked || fail "the new program does not enforce the rule"
	stop_collector
	expect_kept "$P_VETH"
}

# Pins made by another version of the program (another layout, no
# tracker_cfg): the collector starts with fresh maps, says so, and keeps
# the old ones' names out of the way until it replaced the program.
test_abi_change() {
	new_pair
	new_config "$TMP/abi.yaml"
	mkdir -p "$PIN"
	bpftool map create "$PIN/stats" type percpu_array key 4 value 8 entries 1 name stats ||
		fail "cannot pin a map of another layout"
	start_collector -c "$CONF" -iface "$P_VETH"
	expect_stderr "were made by another version of the kernel program"
	expect_stderr "starting with fresh maps"
	[ ! -e "$PIN/replaced_maps" ] || fail "the old pins were not removed after the replacement"
	[ "$(bpftool map show pinned "$PIN/stats" -j | jq .bytes_value)" -gt 8 ] ||
		fail "the stats map was not replaced by one of this program's layout"
	ip netns exec "$P_NS" ping -c 2 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	wait_for 3 icmp_total_is 4 || fail "the fresh maps do not count"
	stop_collector
	expect_kept "$P_VETH"
}

# Dropped packets leave no flow: the stream reports them as one "drops"
# record per source and rule, once per collector.export_interval (the
# default 5 s here), with the interval's counts.
test_drops_stream() {
	local r i

	new_pair
	new_config "$TMP/drops.yaml"
	rules_file "$RULES" "{\"rule_type\":\"tcp\",\"src_ip\":\"$P_NS4\",\"dst_port\":9,\"action\":\"drop\",\"enabled\":true}"
	start_collector -c "$CONF" -iface "$P_VETH"
	for i in 1 2 3 4 5; do
		ip netns exec "$P_NS" nc -z -w 1 "$P_ROOT4" 9 >/dev/null 2>&1
	done
	r=$(wait_record 10 ".event==\"drops\" and .src_ip==\"$P_NS4\"") || exit 1
	expect_eq "drops record: rule" "$(jq -c '[.reason, .rule_id, .hook, .iface]' <<<"$r")" \
		"[\"rule\",1,\"ingress\",\"$P_VETH\"]"
	[ "$(jq .packets <<<"$r")" -ge 5 ] || fail "fewer drops than SYNs sent: $r"
	expect_eq "no flow record for the dropped tuples" \
		"$(jq -c "select(.event!=\"drops\" and .proto==\"tcp\" and .dst_port==9)" "$REC" | wc -l)" 0
	expect_eq "no flow in the kernel table for them" \
		"$(bpftool map dump pinned "$PIN/flows" -j | jq '[.[] | select(.formatted.key.proto == 6)] | length')" 0
	stop_collector
	expect_kept "$P_VETH"
}

# A router: XDP on the interface a packet comes in by, tc on the one it
# leaves by. Each forwarded packet is counted once, never again at egress
# (nor taken for a retransmission). The router is a namespace of its own,
# so that forwarding is never switched on for this machine.
test_forwarded() {
	local id=$(rand_hex 3) a b r ra rb r_rec n
	local net=10.197.$((RANDOM % 200 + 1))

	a=gdr-fa-$id b=gdr-fb-$id r=gdr-fr-$id ra=gdfra${id} rb=gdfrb${id}
	for n in $a $b $r; do
		ip netns add "$n" || fail "ip netns add $n"
		NETNS+=("$n")
	done
	ip -n "$r" link add "$ra" type veth peer name eth0 netns "$a" || fail "veth to $a"
	ip -n "$r" link add "$rb" type veth peer name eth0 netns "$b" || fail "veth to $b"
	ip -n "$r" addr add "$net.1/30" dev "$ra"
	ip -n "$r" addr add "$net.5/30" dev "$rb"
	ip -n "$a" addr add "$net.2/30" dev eth0
	ip -n "$b" addr add "$net.6/30" dev eth0
	for n in $a $b $r; do
		ip -n "$n" link set lo up
	done
	ip -n "$r" link set "$ra" up
	ip -n "$r" link set "$rb" up
	ip -n "$a" link set eth0 up
	ip -n "$b" link set eth0 up
	ip -n "$a" route add default via "$net.1"
	ip -n "$b" route add default via "$net.5"
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 || fail "forwarding in $r"
	wait_for 5 ip netns exec "$a" ping -c 1 -W 1 -q "$net.6" >/dev/null ||
		fail "the router does not forward"

	new_config "$TMP/router.yaml"
	r_rec=$REC
	RUNS=$((RUNS + 1))
	C_OUT=$TMP/collector.$RUNS.out
	C_ERR=$TMP/collector.$RUNS.err
	# nsenter, not ip netns exec: that one mounts a sysfs of its own, without bpffs.
	nsenter --net="/run/netns/$r" "$COLLECTOR" -c "$CONF" -iface "$ra,$rb" >"$C_OUT" 2>"$C_ERR" &
	C_PID=$!
	PIDS+=("$C_PID")
	wait_for 15 collector_ready || fail "the collector did not start in $r"
	ip netns exec "$a" ping -c 3 -i 0.2 -q "$net.6" >/dev/null || fail "ping through the router"
	n=$(wait_record 8 "$(flow_cond icmp "$net.2" "$net.6") and .event==\"end\"") || exit 1
	expect_eq "echo requests, counted once each" "$(jq .fwd.packets <<<"$n")" 3
	expect_eq "echo replies, counted once each" "$(jq .rev.packets <<<"$n")" 3
	[ "$(stat_sum .forwarded)" -ge 6 ] || fail "the second sightings were not counted as forwarded"
	log "ok: forwarded sightings skipped at egress: $(stat_sum .forwarded)"
	REC=$r_rec
	kill -TERM "$C_PID"
	wait "$C_PID"
	expect_eq "exit status after SIGTERM" "$?" 0
	nsenter --net="/run/netns/$r" "$COLLECTOR" -c "$CONF" --detach 2>"$TMP/detach.router.err" ||
		fail "--detach in $r: $(cat "$TMP/detach.router.err")"
}

# A device without an Ethernet header is refused at attach, never
# silently unfiltered.
test_l3_device() {
	local dev=gdr-it-l3$(rand_hex 2)

	if ! ip tuntap add dev "$dev" mode tun 2>/dev/null; then
		echo "SKIP: cannot create a tun device" >&2
		exit $SKIP
	fi
	LINKS+=("$dev")
	ip link set "$dev" up
	new_config "$TMP/l3.yaml"
	run_collector_fails -c "$CONF" -iface "$dev"
	expect_stderr "interface '$dev' is not an Ethernet device"
	expect_eq "nothing attached to $dev" "$(xdp_mode_of "$dev")" ""
	run_collector_fails -c "$CONF" -iface "$dev" --check-config
	expect_stderr "is not an Ethernet device"
}

# A second collector on the same pins is refused and changes nothing: it
# must not mistake the running collector's programs for stale ones.
test_second_instance() {
	local first r

	new_pair
	new_config "$TMP/second.yaml"
	start_collector -c "$CONF" -iface "$P_VETH"
	first=$C_PID
	run_collector_fails -c "$CONF" -iface "$P_VETH"
	expect_stderr "another guarder-collector is running with the pins under $PIN"
	kill -0 "$first" 2>/dev/null || fail "the first collector died"
	C_PID=$first
	expect_eq "XDP still attached for the first collector" "$(xdp_mode_of "$P_VETH")" 1
	ip netns exec "$P_NS" ping -c 2 -i 0.2 -q "$P_ROOT4" >/dev/null || fail "ping failed"
	r=$(wait_record 8 "$(flow_cond icmp "$P_NS4" "$P_ROOT4") and .event==\"end\"") || exit 1
	expect_eq "the first collector still counts" "$(jq -r '"\(.fwd.packets)/\(.rev.packets)"' <<<"$r")" 2/2
	stop_collector
	expect_kept "$P_VETH"
}

# A pinned map that no longer fits the config is an error that says what
# to do; nothing is deleted and nothing stays attached.
test_pin_mismatch() {
	new_pair
	new_config "$TMP/pins.yaml"
	start_collector -c "$CONF" -iface "$P_VETH"
	stop_collector
	sed -i 's/flow_table_size: 4096/flow_table_size: 8192/' "$CONF"
	run_collector_fails -c "$CONF" -iface "$P_VETH"
	expect_stderr "its size (max_entries) is 4096, this collector needs 8192"
	expect_stderr "set bpf.flow_table_size back to 4096"
	expect_stderr "rm -r $PIN"
	[ -e "$PIN/flows" ] || fail "the pinned flow table was removed"
	# The first collector's programs still filter: a refused start changes nothing.
	expect_kept "$P_VETH"
}

# Attach fails on the second interface (a foreign XDP program is there):
# the first one is rolled back, the foreign program is left alone.
test_rollback() {
	local a_veth

	new_pair
	a_veth=$P_VETH
	new_pair
	LIBXDP_SKIP_DISPATCHER=1 xdp-loader load -m skb -n xdp_pass "$P_VETH" \
		/usr/lib/"$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"/bpf/xdp-dispatcher.o ||
		{ echo "SKIP: cannot load a foreign XDP program with xdp-loader" >&2; exit $SKIP; }
	new_config "$TMP/rollback.yaml"
	run_collector_fails -c "$CONF" -iface "$a_veth,$P_VETH"
	expect_stderr "XDP program 'xdp_pass'"
	expect_stderr "is not ours"
	expect_stderr "rolling back"
	expect_detached "$a_veth"
	expect_eq "foreign program left in place" \
		"$(ip -j link show dev "$P_VETH" | jq -r '.[0].xdp.prog.name')" xdp_pass

	run_collector_fails -c "$CONF" -iface "gdr-it-nope0"
	expect_stderr "interface 'gdr-it-nope0' does not exist"
}

# --check-config: no privileges, no kernel; secrets redacted; errors name
# file:line.
test_check_config() {
	local secret rc bad

	new_dummy
	secret=s3cr3t-$(rand_hex 8)
	new_config "$TMP/check.yaml"
	cat >>"$CONF" <<'EOF'
api:
  token: ${GDR_IT_TOKEN}
EOF
	chmod 644 "$CONF"
	# A copy the unprivileged user can reach (the build tree may be under
	# a private home directory).
	install -m 755 "$COLLECTOR" "$TMP/guarder-collector"
	RUNS=$((RUNS + 1))
	C_OUT=$TMP/collector.$RUNS.out C_ERR=$TMP/collector.$RUNS.err
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env GDR_IT_TOKEN="$secret" "$TMP/guarder-collector" -c "$CONF" --check-config \
		-iface "$DUMMY" -interval 7 -api :9090 >"$C_OUT" 2>"$C_ERR"
	rc=$?
	expect_eq "--check-config status as an unprivileged user" "$rc" 0
	grep -q "<redacted>" "$C_OUT" || fail "the token is not shown as <redacted>"
	if grep -qF "$secret" "$C_OUT" "$C_ERR"; then
		fail "the secret token was printed"
	fi
	log "ok: token redacted, secret not printed"
	grep -Eq "^  interval: 7$" "$C_OUT" || fail "-interval 7 did not override the file"
	grep -q ":9090" "$C_OUT" || fail "-api :9090 did not set api.listen"
	log "ok: flags override the file"
	[ ! -e "$PIN" ] || fail "--check-config created the pin directory"

	bad=$TMP/bad.yaml
	printf 'collector:\n  interval: 5\n  idle_timeout: banana\n' >"$bad"
	run_collector_fails -c "$bad" --check-config -iface "$DUMMY"
	expect_stderr "$bad:3"
	expect_stderr "idle_timeout"

	printf 'collector:\n  bogus_key: 1\n' >"$bad"
	run_collector_fails -c "$bad" --check-config -iface "$DUMMY"
	expect_stderr "$bad:2"
	expect_stderr "bogus_key"

	run_collector_fails -c "$CONF" --check-config -iface "$DUMMY"
	expect_stderr "GDR_IT_TOKEN"

	# No interface in the file: valid, with a note; start-up refuses.
	printf 'collector:\n  interval: 5\n' >"$bad"
	RUNS=$((RUNS + 1))
	C_OUT=$TMP/collector.$RUNS.out C_ERR=$TMP/collector.$RUNS.err
	"$COLLECTOR" -c "$bad" --check-config >"$C_OUT" 2>"$C_ERR"
	expect_eq "--check-config status of a file without interfaces" "$?" 0
	expect_stderr "sets no interface: start-up needs -iface"
	run_collector_fails -c "$bad"
	expect_stderr "no interface to watch"
	run_collector_fails -c "$bad" --check-config -iface gdr-no-such-if0
	expect_stderr "interface 'gdr-no-such-if0' does not exist"
	run_collector_fails --check-config -iface "$DUMMY" -interval 0
	expect_stderr "-interval"
	# Loopback is no Ethernet device: refused before anything is attached.
	run_collector_fails --check-config -iface lo
	expect_stderr "interface 'lo' is not an Ethernet device"
}

preflight
[ $# -eq 0 ] && set -- all
[ "$1" = all ] && set -- "${ALL_CASES[@]}"
for case in "$@"; do
	declare -F "test_$case" >/dev/null || fail "no test case '$case'"
	echo "== $case" >&2
	"test_$case"
	echo "PASS: $case" >&2
done
