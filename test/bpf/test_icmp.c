// SPDX-License-Identifier: GPL-2.0
/*
 * The ICMP view (icmp_flows), the per-family type/code counters and the
 * quoted packet of ICMP and ICMPv6 errors, read at the right offsets.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "bpftest.h"

static bool addr_is(const __u32 *a, const char *text, const char *name)
{
	__u32 want[4];

	pkt_addr(text, want);
	if (memcmp(a, want, sizeof(want)) == 0)
		return true;
	return ASSERT_EQ(ntohl(a[3]), ntohl(want[3]), name) && ASSERT_TRUE(false, name);
}

/* UDP 10.0.0.2:5555 -> 10.0.0.9:53 as quoted by a router (IP + 8 bytes). */
static void quote_udp4(struct pkt *inner, int ihl_words)
{
	pkt_init(inner);
	pkt_ipv4(inner, "10.0.0.2", "10.0.0.9", IPPROTO_UDP, 7, 0);
	if (ihl_words > 5) {
		inner->data[0] = 0x40 | ihl_words;
		pkt_payload(inner,
			    (ihl_words - 5) * 4); /* options (NOPs would be 1s: zeros are EOL) */
	}
	pkt_udp(inner, 5555, 53);
	pkt_payload(inner, 100);
	pkt_finish(inner);
	inner->len = ihl_words * 4 + 8; /* the quote keeps 8 bytes of L4 */
}

static bool check_inner_udp4(const struct icmp_inner *in)
{
	return ASSERT_EQ(in->valid, 1, "inner valid") &&
	       addr_is(in->src, "10.0.0.2", "inner src") &&
	       addr_is(in->dst, "10.0.0.9", "inner dst") &&
	       ASSERT_EQ(in->proto, IPPROTO_UDP, "inner proto") &&
	       ASSERT_EQ(in->sport, 5555, "inner sport") && ASSERT_EQ(in->dport, 53, "inner dport");
}

static bool test_icmp4_dest_unreach_inner(struct tenv *e)
{
	struct icmp_value v;
	struct pkt inner, p;

	quote_udp4(&inner, 5);
	pkt_icmp_err4(&p, "10.0.0.254", "10.0.0.2", 3, 3, &inner);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") ||
	    !ASSERT_OK(icmp_get(e, "10.0.0.254", "10.0.0.2", 3, 3, 4, &v), "view entry"))
		return false;
	return check_inner_udp4(&v.inner) && ASSERT_EQ(v.packets_own, 1, "packets") &&
	       ASSERT_EQ(v.bytes_own, 20 + 8 + 28, "bytes") &&
	       ASSERT_EQ(flow_count(e), 0, "an error is not a flow of its own");
}

/* A quoted header with options: the ports follow IHL, not 20 bytes. */
static bool test_icmp4_inner_with_ip_options(struct tenv *e)
{
	struct icmp_value v;
	struct pkt inner, p;

	quote_udp4(&inner, 7);
	pkt_icmp_err4(&p, "10.0.0.254", "10.0.0.2", 11, 0, &inner);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") &&
	       ASSERT_OK(icmp_get(e, "10.0.0.254", "10.0.0.2", 11, 0, 4, &v), "view entry") &&
	       check_inner_udp4(&v.inner);
}

static bool test_icmp4_error_types(struct tenv *e)
{
	static const __u8 types[] = { 3, 4, 5, 11, 12 };
	struct icmp_value v;
	struct pkt inner, p;
	size_t i;

	quote_udp4(&inner, 5);
	for (i = 0; i < sizeof(types); i++) {
		pkt_icmp_err4(&p, "10.0.0.254", "10.0.0.2", types[i], 1, &inner);
		if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") ||
		    !ASSERT_OK(icmp_get(e, "10.0.0.254", "10.0.0.2", types[i], 1, 4, &v),
			       "entry") ||
		    !ASSERT_EQ(v.inner.valid, 1, "quote read for this type") ||
		    !ASSERT_EQ(icmp_count_get(e, 4, types[i], 1), 1, "type/code count"))
			return false;
	}
	return true;
}

/* A quote of the IP header alone: addresses and protocol, no ports. */
static bool test_icmp4_quote_without_ports(struct tenv *e)
{
	struct icmp_value v;
	struct pkt inner, p;

	quote_udp4(&inner, 5);
	inner.len = 20;
	pkt_icmp_err4(&p, "10.0.0.254", "10.0.0.2", 3, 1, &inner);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") &&
	       ASSERT_OK(icmp_get(e, "10.0.0.254", "10.0.0.2", 3, 1, 4, &v), "entry") &&
	       ASSERT_EQ(v.inner.valid, 1, "valid") &&
	       ASSERT_EQ(v.inner.proto, IPPROTO_UDP, "proto") &&
	       ASSERT_EQ(v.inner.sport, 0, "no sport") && ASSERT_EQ(v.inner.dport, 0, "no dport");
}

static bool test_icmp6_packet_too_big_inner(struct tenv *e)
{
	struct icmp_value v;
	struct pkt inner, p;

	pkt_init(&inner);
	pkt_ipv6(&inner, "fd00::2", "fd00::9", IPPROTO_TCP);
	pkt_tcp(&inner, 33000, 8443, 1, 1, PKT_ACK, 100);
	pkt_payload(&inner, 1200);
	pkt_finish(&inner);
	inner.len = 40 + 20 + 200; /* as much as fits in the minimum MTU */
	pkt_icmp_err6(&p, "fd00::fe", "fd00::2", 2, 0, &inner);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") ||
	    !ASSERT_OK(icmp_get(e, "fd00::fe", "fd00::2", 2, 0, 6, &v), "view entry"))
		return false;
	return ASSERT_EQ(v.inner.valid, 1, "valid") &&
	       addr_is(v.inner.src, "fd00::2", "inner src") &&
	       addr_is(v.inner.dst, "fd00::9", "inner dst") &&
	       ASSERT_EQ(v.inner.proto, IPPROTO_TCP, "inner proto") &&
	       ASSERT_EQ(v.inner.sport, 33000, "inner sport") &&
	       ASSERT_EQ(v.inner.dport, 8443, "inner dport") &&
	       ASSERT_EQ(icmp_count_get(e, 6, 2, 0), 1, "ICMPv6 type/code count");
}

static bool test_icmp6_error_types(struct tenv *e)
{
	static const __u8 types[] = { 1, 2, 3, 4 };
	struct icmp_value v;
	struct pkt inner, p;
	size_t i;

	pkt_init(&inner);
	pkt_ipv6(&inner, "fd00::2", "fd00::9", IPPROTO_UDP);
	pkt_udp(&inner, 1, 2);
	pkt_finish(&inner);
	for (i = 0; i < sizeof(types); i++) {
		pkt_icmp_err6(&p, "fd00::fe", "fd00::2", types[i], 0, &inner);
		if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") ||
		    !ASSERT_OK(icmp_get(e, "fd00::fe", "fd00::2", types[i], 0, 6, &v), "entry") ||
		    !ASSERT_EQ(v.inner.valid, 1, "quote read for this type") ||
		    !ASSERT_EQ(v.inner.dport, 2, "inner dport"))
			return false;
	}
	return true;
}

/* Echo request and reply: one flow, two view entries, last id/seq. */
static bool test_echo_flow_and_view(struct tenv *e)
{
	struct icmp_value req, rep;
	struct flow_value v;
	struct pkt p;
	int c, i;

	for (i = 1; i <= 3; i++) {
		pkt_echo4(&p, "10.3.0.1", "10.3.0.2", 8, 0x77, i);
		if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "request"))
			return false;
		if (i == 3)
			break;
		pkt_echo4(&p, "10.3.0.2", "10.3.0.1", 0, 0x77, i);
		if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "reply"))
			return false;
	}
	if (!ASSERT_OK(flow_get(e, "10.3.0.1", 0x77, "10.3.0.2", 0x77, IPPROTO_ICMP, &v, &c),
		       "echo flow") ||
	    !ASSERT_OK(icmp_get(e, "10.3.0.1", "10.3.0.2", 8, 0, 4, &req), "request entry") ||
	    !ASSERT_OK(icmp_get(e, "10.3.0.2", "10.3.0.1", 0, 0, 4, &rep), "reply entry"))
		return false;
	return ASSERT_EQ(flow_count(e), 1, "one flow") &&
	       ASSERT_EQ(v.dir[c].packets, 3, "requests") &&
	       ASSERT_EQ(v.dir[!c].packets, 2, "replies") &&
	       ASSERT_EQ(req.packets_own, 3, "view requests") &&
	       ASSERT_EQ(req.echo_id, 0x77, "echo id") && ASSERT_EQ(req.echo_seq, 3, "last seq") &&
	       ASSERT_EQ(rep.packets_own, 2, "view replies") &&
	       ASSERT_EQ(rep.echo_seq, 2, "reply seq") && ASSERT_EQ(req.bytes_own, 3 * 60, "bytes") &&
	       ASSERT_GE(req.last_seen_ns, req.first_seen_ns, "times") &&
	       ASSERT_EQ(req.inner.valid, 0, "no quote for echo") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 8, 0), 3, "type 8 count") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 0, 0), 2, "type 0 count");
}

static bool test_icmp6_echo_view(struct tenv *e)
{
	struct icmp_value v;
	struct pkt p;

	pkt_echo6(&p, "fd00::1", "fd00::2", 128, 5, 9);
	return run_xdp_n(e, &p, 2) &&
	       ASSERT_OK(icmp_get(e, "fd00::1", "fd00::2", 128, 0, 6, &v), "entry") &&
	       ASSERT_EQ(v.packets_own, 2, "packets") && ASSERT_EQ(v.echo_seq, 9, "seq") &&
	       ASSERT_EQ(icmp_count_get(e, 6, 128, 0), 2, "v6 count") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 128, 0), 0, "not a v4 count");
}

/*
 * The code clamp: codes 0..14 have their own slot, 15 and above share the
 * last one. Nothing can fail to be counted (icmp_count_fail stays 0).
 */
static bool test_icmp_counts_code_clamp(struct tenv *e)
{
	static const __u8 codes[] = { 0, 3, 14, 15, 16, 200, 255 };
	struct global_stats s;
	struct pkt p;
	unsigned int i;

	for (i = 0; i < sizeof(codes); i++) {
		pkt_init(&p);
		pkt_eth(&p, NULL, 0, 0x0800);
		pkt_ipv4(&p, "10.4.0.1", "10.4.0.2", IPPROTO_ICMP, 1, 0);
		pkt_icmp(&p, 13, codes[i], 0, 0); /* timestamp: not an error */
		pkt_payload(&p, 12);
		pkt_finish(&p);
		if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
			return false;
	}
	/* An ICMPv6 code above the clamp lands in the ICMPv6 half only. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "fd00::1", "fd00::2", IPPROTO_ICMPV6);
	pkt_icmp(&p, 13, 40, 0, 0);
	pkt_payload(&p, 12);
	pkt_finish(&p);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict v6"))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(icmp_count_get(e, 4, 13, 0), 1, "code 0 exact") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 13, 3), 1, "code 3 exact") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 13, 14), 1, "code 14 exact") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 13, 15), 4, "15, 16, 200, 255 share slot 15") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 13, 255), 4, "255 reads slot 15") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 13, 1), 0, "code 1 untouched") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 14, 0), 0, "next type untouched") &&
	       ASSERT_EQ(icmp_count_get(e, 6, 13, 15), 1, "ICMPv6 code 40 in its own half") &&
	       ASSERT_EQ(icmp_count_index(6, 255, 255), GUARDER_ICMP_COUNTS_SLOTS - 1,
			 "last slot is the last index") &&
	       ASSERT_EQ(s.icmp_count_fail, 0, "no count failures") &&
	       ASSERT_EQ(s.packets[GUARDER_P_ICMP], 7, "all counted as ICMP") &&
	       ASSERT_EQ(s.packets[GUARDER_P_ICMPV6], 1, "one ICMPv6");
}

int main(void)
{
	static const struct test_case cases[] = {
		TEST(icmp4_dest_unreach_inner),
		TEST(icmp4_inner_with_ip_options),
		TEST(icmp4_error_types),
		TEST(icmp4_quote_without_ports),
		TEST(icmp6_packet_too_big_inner),
		TEST(icmp6_error_types),
		TEST(echo_flow_and_view),
		TEST(icmp6_echo_view),
		TEST(icmp_counts_code_clamp),
	};

	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}
