// SPDX-License-Identifier: GPL-2.0
/*
 * The flow table: both directions in one entry, per-direction counters,
 * TCP flags, sequence tracking and the TCP anomaly counters, timestamps,
 * and the tc egress program (GSO super-packets count as their segments).
 */
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpftest.h"

#define CLI   "10.1.0.1"
#define SRV   "10.1.0.2"
#define CPORT 40001
#define SPORT 443

/* Client -> server segment. */
static bool c2s(struct tenv *e, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, size_t len)
{
	struct pkt p;

	pkt_tcp4(&p, CLI, CPORT, SRV, SPORT, flags, seq, ack, win, len);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict c2s");
}

static bool s2c(struct tenv *e, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, size_t len)
{
	struct pkt p;

	pkt_tcp4(&p, SRV, SPORT, CLI, CPORT, flags, seq, ack, win, len);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict s2c");
}

/* The flow entry and the client's direction index. */
static bool get(struct tenv *e, struct flow_value *v, int *cdir)
{
	return ASSERT_OK(flow_get(e, CLI, CPORT, SRV, SPORT, IPPROTO_TCP, v, cdir), "flow lookup");
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static bool handshake(struct tenv *e)
{
	return c2s(e, PKT_SYN, 1000, 0, 64000, 0) &&
	       s2c(e, PKT_SYN | PKT_ACK, 5000, 1001, 65000, 0) &&
	       c2s(e, PKT_ACK, 1001, 5001, 64000, 0);
}

static bool test_both_directions_one_entry(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	__u64 t0 = mono_ns(), t1;
	int c;

	if (!handshake(e) || !c2s(e, PKT_ACK | PKT_PSH, 1001, 5001, 64000, 100) ||
	    !s2c(e, PKT_ACK | PKT_PSH, 5001, 1101, 65000, 300))
		return false;
	t1 = mono_ns();
	if (!get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(flow_count(e), 1, "one entry for both directions") &&
	       ASSERT_EQ(s.flows_created, 1, "one insert") &&
	       ASSERT_EQ(v.dir[c].packets, 3, "client packets") &&
	       ASSERT_EQ(v.dir[!c].packets, 2, "server packets") &&
	       ASSERT_EQ(v.dir[c].bytes, 40 * 3 + 100, "client bytes") &&
	       ASSERT_EQ(v.dir[!c].bytes, 40 * 2 + 300, "server bytes") &&
	       ASSERT_EQ(v.initiator, c, "initiator is the client") &&
	       ASSERT_EQ(v.dir[c].tcp_flags, PKT_SYN | PKT_ACK | PKT_PSH, "client flags OR") &&
	       ASSERT_EQ(v.dir[!c].tcp_flags, PKT_SYN | PKT_ACK | PKT_PSH, "server flags OR") &&
	       ASSERT_GE(v.first_seen_ns, t0, "first seen after start") &&
	       ASSERT_GE(v.last_seen_ns, v.first_seen_ns, "last >= first") &&
	       ASSERT_GE(t1, v.last_seen_ns, "monotonic clock") &&
	       ASSERT_EQ(flow_value_verdict(&v), GUARDER_VERDICT_PASS, "verdict cached as pass");
}

static bool test_tcp_flags_or(struct tenv *e)
{
	struct flow_value v;
	int c;

	return c2s(e, PKT_SYN, 1, 0, 100, 0) && c2s(e, PKT_ACK, 2, 1, 100, 0) &&
	       c2s(e, PKT_FIN | PKT_ACK, 2, 1, 100, 0) && get(e, &v, &c) &&
	       ASSERT_EQ(v.dir[c].tcp_flags, PKT_SYN | PKT_ACK | PKT_FIN, "OR of flags") &&
	       ASSERT_EQ(v.dir[!c].tcp_flags, 0, "no flags the other way") &&
	       ASSERT_TRUE(v.dir[c].dflags & FLOW_DIR_FIN, "FIN seen in the client direction");
}

static bool test_seq_ack_window(struct tenv *e)
{
	struct flow_value v;
	int c;

	if (!handshake(e) || !c2s(e, PKT_ACK, 1001, 5001, 32000, 500) ||
	    !s2c(e, PKT_ACK, 5001, 1501, 12345, 0) || !get(e, &v, &c))
		return false;
	return ASSERT_EQ(v.dir[c].seq_next, 1501, "client seq_next: SYN + 500 bytes") &&
	       ASSERT_EQ(v.dir[c].ack, 5001, "client ack") &&
	       ASSERT_EQ(v.dir[c].window, 32000, "client window") &&
	       ASSERT_EQ(v.dir[!c].seq_next, 5001, "server seq_next: SYN") &&
	       ASSERT_EQ(v.dir[!c].ack, 1501, "server ack") &&
	       ASSERT_EQ(v.dir[!c].window, 12345, "server window") &&
	       ASSERT_EQ(v.ip_id, 1, "IP id");
}

static bool test_syn_fin_consume_seq(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	int c;

	if (!c2s(e, PKT_SYN, 100, 0, 100, 0) || !c2s(e, PKT_FIN | PKT_ACK, 101, 1, 100, 0) ||
	    !get(e, &v, &c))
		return false;
	if (!ASSERT_EQ(v.dir[c].seq_next, 102, "SYN and FIN each take one number") ||
	    !ASSERT_EQ(v.dir[c].retransmits, 0, "FIN in order is no retransmission"))
		return false;
	/* The same FIN again is a retransmission. */
	if (!c2s(e, PKT_FIN | PKT_ACK, 101, 1, 100, 0) || !get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(v.dir[c].retransmits, 1, "FIN retransmitted") &&
	       ASSERT_EQ(s.tcp_retransmits, 1, "global count");
}

static bool test_retransmission(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	int c;

	if (!handshake(e) || !c2s(e, PKT_ACK, 1001, 5001, 64000, 100) ||
	    /* exact copy */
	    !c2s(e, PKT_ACK, 1001, 5001, 64000, 100) ||
	    /* overlaps: starts inside what was seen, ends beyond */
	    !c2s(e, PKT_ACK, 1051, 5001, 64000, 100) || !get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(v.dir[c].retransmits, 2, "copy and overlap") &&
	       ASSERT_EQ(v.dir[c].seq_next, 1151, "advanced by the overlap") &&
	       ASSERT_EQ(v.out_of_order, 0, "no gap") &&
	       ASSERT_EQ(v.dir[!c].retransmits, 0, "other direction clean") &&
	       ASSERT_EQ(s.tcp_retransmits, 2, "global retransmissions") &&
	       ASSERT_EQ(s.tcp_out_of_order, 0, "global out of order");
}

static bool test_out_of_order(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	int c;

	if (!handshake(e) || !c2s(e, PKT_ACK, 1001, 5001, 64000, 100) ||
	    /* a gap: 1101..1200 missing */
	    !c2s(e, PKT_ACK, 1201, 5001, 64000, 100) || !get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(v.out_of_order, 1, "gap counted") &&
	       ASSERT_EQ(v.dir[c].seq_next, 1301, "seq_next is the highest end") &&
	       ASSERT_EQ(v.dir[c].retransmits, 0, "no retransmission") &&
	       ASSERT_EQ(s.tcp_out_of_order, 1, "global out of order");
}

static bool test_dup_ack(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	int c;

	if (!handshake(e) || !s2c(e, PKT_ACK, 5001, 1001, 65000, 0) ||
	    !s2c(e, PKT_ACK, 5001, 1001, 65000, 0) || !s2c(e, PKT_ACK, 5001, 1001, 65000, 0) ||
	    /* same ack, another window: a window update, no dup */
	    !s2c(e, PKT_ACK, 5001, 1001, 60000, 0) ||
	    /* same ack and window but data: no dup */
	    !s2c(e, PKT_ACK, 5001, 1001, 60000, 10) || !get(e, &v, &c))
		return false;
	read_stats(e, &s);
	/* SYN-ACK had ack 1001 win 65000: the first pure ACK repeats it too. */
	return ASSERT_EQ(v.dir[!c].dup_acks, 3, "three repeats of ack 1001/65000") &&
	       ASSERT_EQ(v.dir[c].dup_acks, 0, "client sent none") &&
	       ASSERT_EQ(s.tcp_dup_acks, 3, "global dup acks");
}

static bool test_zero_window(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	int c;

	if (!handshake(e) || !s2c(e, PKT_ACK, 5001, 1001, 0, 0) ||
	    !s2c(e, PKT_RST, 5001, 0, 0, 0) || !get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(v.zero_windows, 1, "zero window, RST not counted") &&
	       ASSERT_EQ(s.tcp_zero_windows, 1, "global zero windows");
}

/* Per-flow counters stop at 0xffff; the global counter stays exact. */
static bool test_anomaly_counter_saturates(struct tenv *e)
{
	const int n = 70000;
	struct global_stats s;
	struct flow_value v;
	struct pkt p;
	int c, err;

	if (!handshake(e) || !c2s(e, PKT_ACK, 1001, 5001, 64000, 10))
		return false;
	pkt_tcp4(&p, CLI, CPORT, SRV, SPORT, PKT_ACK, 1001, 5001, 64000, 10);
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p.data, .data_size_in = p.len,
			    .repeat = n);

		err = bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.xdp_conn_tracker),
					     &opts);
		if (!ASSERT_OK(err, "repeat run"))
			return false;
	}
	if (!get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(v.dir[c].retransmits, 0xffff, "per-flow saturates") &&
	       ASSERT_EQ(s.tcp_retransmits, n, "global exact") &&
	       ASSERT_EQ(v.dir[c].packets, 3 + n, "packets exact");
}

static bool test_ipv6_both_directions(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;
	int c;

	pkt_tcp6(&p, "fd00::10", 50000, "fd00::1", 22, PKT_SYN, 1, 0, 100, 0);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	pkt_tcp6(&p, "fd00::1", 22, "fd00::10", 50000, PKT_SYN | PKT_ACK, 9, 2, 100, 0);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	if (!ASSERT_OK(flow_get(e, "fd00::10", 50000, "fd00::1", 22, IPPROTO_TCP, &v, &c), "flow"))
		return false;
	return ASSERT_EQ(flow_count(e), 1, "one entry") &&
	       ASSERT_EQ(v.dir[c].packets, 1, "client") &&
	       ASSERT_EQ(v.dir[!c].packets, 1, "server") && ASSERT_EQ(v.initiator, c, "initiator");
}

/* Egress through tc, ingress through XDP: one flow. */
static bool test_tc_egress(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	struct pkt p;
	int c;

	pkt_tcp4(&p, CLI, CPORT, SRV, SPORT, PKT_SYN, 1000, 0, 64000, 0);
	if (!ASSERT_EQ(run_tc(e, &p, 0, 0), 0 /* TC_ACT_OK */, "tc verdict"))
		return false;
	if (!s2c(e, PKT_SYN | PKT_ACK, 5000, 1001, 65000, 0) || !get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(v.dir[c].packets, 1, "egress packet") &&
	       ASSERT_EQ(v.dir[!c].packets, 1, "ingress packet") &&
	       ASSERT_EQ(v.dir[c].bytes, 40, "egress bytes") &&
	       ASSERT_EQ(s.packets[GUARDER_P_TCP], 2, "stats");
}

/* A GSO super-packet counts as its segments, headers repeated in bytes. */
static bool test_tc_gso_segments(struct tenv *e)
{
	struct global_stats s;
	struct flow_value v;
	struct pkt p;
	int c;

	if (!c2s(e, PKT_SYN, 1000, 0, 64000, 0) || !s2c(e, PKT_SYN | PKT_ACK, 5000, 1001, 65000, 0))
		return false;
	pkt_tcp4(&p, CLI, CPORT, SRV, SPORT, PKT_ACK | PKT_PSH, 1001, 5001, 64000, 3000);
	if (!ASSERT_EQ(run_tc(e, &p, 3, 1000), 0, "tc verdict") || !get(e, &v, &c))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(v.dir[c].packets, 1 + 3, "3 segments") &&
	       ASSERT_EQ(v.dir[c].bytes, 40 + 3 * (40 + 1000), "each segment's IP length") &&
	       ASSERT_EQ(v.dir[c].seq_next, 4001, "all the payload") &&
	       ASSERT_EQ(s.packets[GUARDER_P_TCP], 2 + 3, "stats segments") &&
	       ASSERT_EQ(s.bytes[GUARDER_P_TCP], 80 + 3 * 1040, "stats bytes");
}

static bool test_udp_both_directions(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;
	int c;

	pkt_udp4(&p, "10.2.0.1", 5353, "10.2.0.9", 53, 30);
	if (!run_xdp_n(e, &p, 3))
		return false;
	pkt_udp4(&p, "10.2.0.9", 53, "10.2.0.1", 5353, 100);
	if (!run_xdp_n(e, &p, 2))
		return false;
	if (!ASSERT_OK(flow_get(e, "10.2.0.1", 5353, "10.2.0.9", 53, IPPROTO_UDP, &v, &c), "flow"))
		return false;
	return ASSERT_EQ(flow_count(e), 1, "one entry") &&
	       ASSERT_EQ(v.dir[c].packets, 3, "requests") &&
	       ASSERT_EQ(v.dir[c].bytes, 3 * 58, "bytes") &&
	       ASSERT_EQ(v.dir[!c].packets, 2, "replies") &&
	       ASSERT_EQ(v.dir[!c].bytes, 2 * 128, "reply bytes");
}

int main(void)
{
	static const struct test_case cases[] = {
		TEST(both_directions_one_entry),
		TEST(tcp_flags_or),
		TEST(seq_ack_window),
		TEST(syn_fin_consume_seq),
		TEST(retransmission),
		TEST(out_of_order),
		TEST(dup_ack),
		TEST(zero_window),
		TEST(anomaly_counter_saturates),
		TEST(ipv6_both_directions),
		TEST(tc_egress),
		TEST(tc_gso_segments),
		TEST(udp_both_directions),
	};

	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}
