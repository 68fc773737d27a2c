// SPDX-License-Identifier: GPL-2.0
/*
 * Every parse path of the kernel program, and every malformed-packet
 * reason that a crafted frame can reach: the packet must pass, be counted
 * once (as a protocol or as malformed, never both) and be tracked only
 * when well formed.
 */
#include <netinet/in.h>
#include <string.h>

#include "bpftest.h"

static const uint16_t tags_q[] = { 0x8100, 0x8100, 0x8100 };
static const uint16_t tags_ad_q[] = { 0x88a8, 0x8100 };

static __u64 packets_total(const struct global_stats *s)
{
	__u64 n = 0;
	int i;

	for (i = 0; i < GUARDER_P_MAX; i++)
		n += s->packets[i];
	return n;
}

static __u64 malformed_total(const struct global_stats *s)
{
	__u64 n = 0;
	int i;

	for (i = 0; i < GUARDER_M_MAX; i++)
		n += s->malformed[i];
	return n;
}

/* One frame, passed, counted once in @pclass and tracked. */
static bool expect_tracked(struct tenv *e, const struct pkt *p, int pclass)
{
	struct global_stats s;

	if (!ASSERT_EQ(run_xdp(e, p), XDP_PASS, "verdict"))
		return false;
	if (!ASSERT_OK(read_stats(e, &s), "read stats"))
		return false;
	return ASSERT_EQ(s.packets[pclass], 1, "packets of the class") &&
	       ASSERT_EQ(packets_total(&s), 1, "packets counted once") &&
	       ASSERT_EQ(malformed_total(&s), 0, "not malformed") &&
	       ASSERT_EQ(flow_count(e), 1, "one flow");
}

/* One frame, passed, counted only as malformed for @reason, not tracked. */
static bool expect_malformed(struct tenv *e, const struct pkt *p, int reason)
{
	struct global_stats s;

	if (!ASSERT_EQ(run_xdp(e, p), XDP_PASS, "verdict"))
		return false;
	if (!ASSERT_OK(read_stats(e, &s), "read stats"))
		return false;
	return ASSERT_EQ(s.malformed[reason], 1, "malformed reason") &&
	       ASSERT_EQ(malformed_total(&s), 1, "one malformed") &&
	       ASSERT_EQ(packets_total(&s), 0, "no protocol counted") &&
	       ASSERT_EQ(flow_count(e), 0, "not tracked") && ASSERT_EQ(s.events, 0, "no event");
}

static bool test_ipv4_tcp(struct tenv *e)
{
	struct flow_value v;
	struct global_stats s;
	struct pkt p;
	int dir;

	pkt_tcp4(&p, "10.0.0.1", 40000, "10.0.0.2", 80, PKT_SYN, 1000, 0, 65535, 0);
	if (!expect_tracked(e, &p, GUARDER_P_TCP))
		return false;
	read_stats(e, &s);
	ASSERT_EQ(s.bytes[GUARDER_P_TCP], 40, "bytes = IP length");
	if (!ASSERT_OK(flow_get(e, "10.0.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, &v, &dir),
		       "flow by 5-tuple"))
		return false;
	return ASSERT_EQ(v.dir[dir].packets, 1, "packets") &&
	       ASSERT_EQ(v.dir[dir].bytes, 40, "bytes") &&
	       ASSERT_EQ(v.dir[!dir].packets, 0, "other dir");
}

static bool test_ipv4_udp(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;
	int dir;

	pkt_udp4(&p, "10.0.0.1", 1234, "10.0.0.2", 53, 20);
	return expect_tracked(e, &p, GUARDER_P_UDP) &&
	       ASSERT_OK(flow_get(e, "10.0.0.1", 1234, "10.0.0.2", 53, IPPROTO_UDP, &v, &dir),
			 "udp flow") &&
	       ASSERT_EQ(v.dir[dir].bytes, 48, "bytes");
}

static bool test_ipv4_icmp_echo(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;

	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 0x1234, 1);
	return expect_tracked(e, &p, GUARDER_P_ICMP) &&
	       ASSERT_OK(
		       flow_get(e, "10.0.0.1", 0x1234, "10.0.0.2", 0x1234, IPPROTO_ICMP, &v, NULL),
		       "echo flow keyed by the echo id");
}

/* IPv4 options: the L4 header follows IHL, not 20 bytes. */
static bool test_ipv4_options(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;
	int dir;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 0);
	p.data[p.l3] = 0x46;
	pkt_append(&p, "\x01\x01\x01\x00", 4); /* NOP NOP NOP EOL */
	pkt_udp(&p, 6000, 7000);
	pkt_payload(&p, 10);
	pkt_finish(&p);
	return expect_tracked(e, &p, GUARDER_P_UDP) &&
	       ASSERT_OK(flow_get(e, "10.0.0.1", 6000, "10.0.0.2", 7000, IPPROTO_UDP, &v, &dir),
			 "ports after the options") &&
	       ASSERT_EQ(v.dir[dir].bytes, 24 + 8 + 10, "bytes include the options");
}

static bool test_vlan_one_tag(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, tags_q, 1, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 0);
	pkt_udp(&p, 1000, 2000);
	pkt_finish(&p);
	return expect_tracked(e, &p, GUARDER_P_UDP) &&
	       ASSERT_OK(flow_get(e, "10.0.0.1", 1000, "10.0.0.2", 2000, IPPROTO_UDP, &v, NULL),
			 "flow behind one tag");
}

static bool test_vlan_two_tags(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, tags_ad_q, 2, 0x86dd);
	pkt_ipv6(&p, "fd00::1", "fd00::2", IPPROTO_TCP);
	pkt_tcp(&p, 5000, 443, 1, 0, PKT_SYN, 1000);
	pkt_finish(&p);
	return expect_tracked(e, &p, GUARDER_P_TCP) &&
	       ASSERT_OK(flow_get(e, "fd00::1", 5000, "fd00::2", 443, IPPROTO_TCP, &v, NULL),
			 "flow behind QinQ");
}

static bool test_vlan_three_tags(struct tenv *e)
{
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, tags_q, 3, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 0);
	pkt_udp(&p, 1000, 2000);
	pkt_finish(&p);
	return expect_malformed(e, &p, GUARDER_M_VLAN_DEPTH);
}

static bool test_vlan_truncated(struct tenv *e)
{
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x8100);
	pkt_payload(&p, 2); /* half a tag */
	return expect_malformed(e, &p, GUARDER_M_VLAN_TRUNC);
}

static bool test_non_ip(struct tenv *e)
{
	struct global_stats s;
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0806); /* ARP */
	pkt_payload(&p, 28);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") &&
	       ASSERT_OK(read_stats(e, &s), "stats") &&
	       ASSERT_EQ(s.packets[GUARDER_P_NON_IP], 1, "non-IP counted") &&
	       ASSERT_EQ(packets_total(&s), 1, "once") &&
	       ASSERT_EQ(flow_count(e), 0, "not tracked");
}

static bool test_ipv6_tcp(struct tenv *e)
{
	struct flow_value v;
	struct global_stats s;
	struct pkt p;
	int dir;

	pkt_tcp6(&p, "fd00::1", 40000, "fd00::2", 80, PKT_SYN, 7, 0, 1000, 0);
	if (!expect_tracked(e, &p, GUARDER_P_TCP))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(s.bytes[GUARDER_P_TCP], 60, "bytes = IPv6 length") &&
	       ASSERT_OK(flow_get(e, "fd00::1", 40000, "fd00::2", 80, IPPROTO_TCP, &v, &dir),
			 "flow") &&
	       ASSERT_EQ(v.dir[dir].bytes, 60, "flow bytes");
}

static bool test_ipv6_udp(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;

	pkt_udp6(&p, "fd00::1", 5353, "fd00::2", 53, 10);
	return expect_tracked(e, &p, GUARDER_P_UDP) &&
	       ASSERT_OK(flow_get(e, "fd00::1", 5353, "fd00::2", 53, IPPROTO_UDP, &v, NULL),
			 "flow");
}

static bool test_ipv6_icmp_echo(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;

	pkt_echo6(&p, "fd00::1", "fd00::2", 128, 77, 1);
	return expect_tracked(e, &p, GUARDER_P_ICMPV6) &&
	       ASSERT_OK(flow_get(e, "fd00::1", 77, "fd00::2", 77, IPPROTO_ICMPV6, &v, NULL),
			 "echo flow keyed by the id");
}

static bool test_ipv6_ext_headers(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;
	int dir;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "fd00::1", "fd00::2", IPPROTO_HOPOPTS);
	pkt_ipv6_ext(&p, IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, 8, 0);
	pkt_ipv6_ext(&p, IPPROTO_DSTOPTS, IPPROTO_ROUTING, 16, 0);
	pkt_ipv6_ext(&p, IPPROTO_ROUTING, IPPROTO_AH, 24, 0);
	pkt_ipv6_ext(&p, IPPROTO_AH, IPPROTO_UDP, 12, 0);
	pkt_udp(&p, 7000, 8000);
	pkt_payload(&p, 4);
	pkt_finish(&p);
	return expect_tracked(e, &p, GUARDER_P_UDP) &&
	       ASSERT_OK(flow_get(e, "fd00::1", 7000, "fd00::2", 8000, IPPROTO_UDP, &v, &dir),
			 "ports read after 4 extension headers") &&
	       ASSERT_EQ(v.dir[dir].bytes, 40 + 8 + 16 + 24 + 12 + 8 + 4, "bytes");
}

static void ipv6_ext_chain(struct pkt *p, int n)
{
	int i;

	pkt_init(p);
	pkt_eth(p, NULL, 0, 0x86dd);
	pkt_ipv6(p, "fd00::1", "fd00::2", IPPROTO_DSTOPTS);
	for (i = 0; i < n; i++)
		pkt_ipv6_ext(p, IPPROTO_DSTOPTS, i == n - 1 ? IPPROTO_UDP : IPPROTO_DSTOPTS, 8, 0);
	pkt_udp(p, 1, 2);
	pkt_finish(p);
}

static bool test_ipv6_ext_at_limit(struct tenv *e)
{
	struct pkt p;

	ipv6_ext_chain(&p, GUARDER_IPV6_EXT_MAX);
	return expect_tracked(e, &p, GUARDER_P_UDP);
}

static bool test_ipv6_ext_too_many(struct tenv *e)
{
	struct pkt p;

	ipv6_ext_chain(&p, GUARDER_IPV6_EXT_MAX + 1);
	return expect_malformed(e, &p, GUARDER_M_IPV6_EXT_DEPTH);
}

static bool test_ipv6_ext_truncated(struct tenv *e)
{
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "fd00::1", "fd00::2", IPPROTO_HOPOPTS);
	pkt_ipv6_ext(&p, IPPROTO_HOPOPTS, IPPROTO_UDP, 8, 0);
	p.data[p.len - 8 + 1] = 3; /* claims 32 bytes, 8 present */
	pkt_finish(&p);
	return expect_malformed(e, &p, GUARDER_M_IPV6_EXT_TRUNC);
}

static bool test_ipv6_fragments(struct tenv *e)
{
	struct flow_value v;
	struct global_stats s;
	struct pkt p;

	/* First fragment (offset 0, M set): ports are read. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "fd00::1", "fd00::2", IPPROTO_FRAGMENT);
	pkt_ipv6_ext(&p, IPPROTO_FRAGMENT, IPPROTO_UDP, 8, 1);
	pkt_udp(&p, 3000, 4000);
	pkt_payload(&p, 16);
	pkt_finish(&p);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	/* Later fragment (offset 3 units): no L4 header, ports 0. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "fd00::1", "fd00::2", IPPROTO_FRAGMENT);
	pkt_ipv6_ext(&p, IPPROTO_FRAGMENT, IPPROTO_UDP, 8, 3 << 3);
	pkt_payload(&p, 8);
	pkt_finish(&p);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	read_stats(e, &s);
	if (!ASSERT_EQ(s.fragments, 2, "both fragments counted") ||
	    !ASSERT_EQ(s.packets[GUARDER_P_UDP], 2, "both as UDP") ||
	    !ASSERT_OK(flow_get(e, "fd00::1", 3000, "fd00::2", 4000, IPPROTO_UDP, &v, NULL),
		       "first fragment has ports") ||
	    !ASSERT_EQ(v.dir[0].packets + v.dir[1].packets, 2,
		       "the later fragment counted in its datagram's flow (frag_cache)") ||
	    !ASSERT_EQ(flow_count(e), 1, "one flow"))
		return false;
	/* A later fragment whose first fragment was not seen: ports 0. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "fd00::1", "fd00::2", IPPROTO_FRAGMENT);
	pkt_ipv6_frag(&p, IPPROTO_UDP, 3 << 3, 77);
	pkt_payload(&p, 8);
	pkt_finish(&p);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "orphan verdict (no rules)") &&
	       ASSERT_OK(flow_get(e, "fd00::1", 0, "fd00::2", 0, IPPROTO_UDP, &v, NULL),
			 "an orphan later fragment tracked with ports 0") &&
	       ASSERT_EQ(flow_count(e), 2, "two flows");
}

static bool test_ipv4_fragments(struct tenv *e)
{
	struct flow_value v;
	struct global_stats s;
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 42, 0x2000); /* MF, offset 0 */
	pkt_udp(&p, 3000, 4000);
	pkt_payload(&p, 16);
	pkt_finish(&p);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 42, 3); /* offset 24 bytes */
	/* Bytes that would read as ports 0x1111/0x2222 if parsed as UDP. */
	pkt_append(&p, "\x11\x11\x22\x22\0\0\0\0", 8);
	pkt_finish(&p);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	read_stats(e, &s);
	if (!ASSERT_EQ(s.fragments, 2, "both fragments counted") ||
	    !ASSERT_EQ(s.packets[GUARDER_P_UDP], 2, "both as UDP") ||
	    !ASSERT_OK(flow_get(e, "10.0.0.1", 3000, "10.0.0.2", 4000, IPPROTO_UDP, &v, NULL),
		       "first fragment has ports") ||
	    !ASSERT_EQ(v.dir[0].packets + v.dir[1].packets, 2,
		       "the later fragment counted in its datagram's flow, not with the bytes "
		       "that would read as ports") ||
	    !ASSERT_EQ(v.ip_id, 42, "IP id of the fragment") ||
	    !ASSERT_EQ(flow_count(e), 1, "one flow"))
		return false;
	/* Another datagram (id 43) whose first fragment was not seen: ports 0. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_UDP, 43, 3);
	pkt_append(&p, "\x11\x11\x22\x22\0\0\0\0", 8);
	pkt_finish(&p);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "orphan verdict (no rules)") &&
	       ASSERT_OK(flow_get(e, "10.0.0.1", 0, "10.0.0.2", 0, IPPROTO_UDP, &v, NULL),
			 "an orphan later fragment tracked with ports 0") &&
	       ASSERT_EQ(flow_count(e), 2, "two flows");
}

static bool test_ipv4_truncated(struct tenv *e)
{
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_payload(&p, 12);
	return expect_malformed(e, &p, GUARDER_M_IPV4_TRUNC);
}

static bool test_ipv4_bad_ihl(struct tenv *e)
{
	struct pkt p;

	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, 0);
	p.data[p.l3] = 0x44; /* IHL 4: 16 bytes */
	return expect_malformed(e, &p, GUARDER_M_IPV4_IHL);
}

static bool test_ipv4_ihl_beyond_frame(struct tenv *e)
{
	struct pkt p;

	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, 0);
	p.data[p.l3] = 0x4f; /* IHL 15: 60 bytes, frame holds 28 */
	return expect_malformed(e, &p, GUARDER_M_IPV4_IHL);
}

static bool test_ipv4_short_total_length(struct tenv *e)
{
	struct pkt p;

	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, 0);
	p.data[p.l3 + 2] = 0;
	p.data[p.l3 + 3] = 19; /* less than the header */
	return expect_malformed(e, &p, GUARDER_M_IPV4_TOTLEN);
}

static bool test_ipv4_total_length_beyond_frame(struct tenv *e)
{
	struct pkt p;

	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, 0);
	p.data[p.l3 + 2] = 0x05; /* 1300 > 28 */
	p.data[p.l3 + 3] = 0x14;
	return expect_malformed(e, &p, GUARDER_M_IPV4_TOTLEN);
}

static bool test_ipv6_truncated(struct tenv *e)
{
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_payload(&p, 30);
	p.data[14] = 0x60;
	return expect_malformed(e, &p, GUARDER_M_IPV6_TRUNC);
}

static bool test_ipv6_payload_beyond_frame(struct tenv *e)
{
	struct pkt p;

	pkt_udp6(&p, "fd00::1", 1, "fd00::2", 2, 0);
	p.data[p.l3 + 4] = 0x01; /* 256 + 8 */
	return expect_malformed(e, &p, GUARDER_M_IPV6_PAYLEN);
}

static bool test_tcp_truncated(struct tenv *e)
{
	struct pkt p;

	pkt_tcp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, PKT_ACK, 1, 1, 1, 0);
	p.len -= 8; /* 12 bytes of TCP header */
	pkt_finish(&p);
	return expect_malformed(e, &p, GUARDER_M_L4_TRUNC);
}

static bool test_udp_truncated(struct tenv *e)
{
	struct pkt p;

	pkt_udp6(&p, "fd00::1", 1, "fd00::2", 2, 0);
	p.len -= 4;
	p.udp = -1;
	pkt_finish(&p);
	return expect_malformed(e, &p, GUARDER_M_L4_TRUNC);
}

static bool test_icmp_truncated(struct tenv *e)
{
	struct pkt p;

	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 1, 1);
	p.len -= 32 + 4; /* 4 bytes of ICMP header left */
	pkt_finish(&p);
	return expect_malformed(e, &p, GUARDER_M_L4_TRUNC);
}

static bool test_tcp_doff_small(struct tenv *e)
{
	struct pkt p;

	pkt_tcp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, PKT_ACK, 1, 1, 1, 40);
	p.data[p.l3 + 20 + 12] = 4 << 4;
	return expect_malformed(e, &p, GUARDER_M_TCP_DOFF);
}

static bool test_tcp_doff_beyond_packet(struct tenv *e)
{
	struct pkt p;

	pkt_tcp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, PKT_ACK, 1, 1, 1, 20);
	p.data[p.l3 + 20 + 12] = 15 << 4; /* 60 bytes, 40 present */
	return expect_malformed(e, &p, GUARDER_M_TCP_DOFF);
}

static bool test_icmp_error_quoting_truncated_packet(struct tenv *e)
{
	struct pkt inner, p;

	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.0.0.9", IPPROTO_UDP, 1, 0);
	pkt_udp(&inner, 5555, 53);
	pkt_finish(&inner);
	inner.len = 12; /* less than an IPv4 header */
	pkt_icmp_err4(&p, "10.0.0.254", "10.0.0.2", 3, 3, &inner);
	return expect_malformed(e, &p, GUARDER_M_ICMP_INNER_TRUNC);
}

static bool test_icmp6_error_quoting_truncated_packet(struct tenv *e)
{
	struct pkt inner, p;

	pkt_init(&inner);
	pkt_ipv6(&inner, "fd00::2", "fd00::9", IPPROTO_UDP);
	inner.len = 30;
	pkt_icmp_err6(&p, "fd00::fe", "fd00::2", 1, 4, &inner);
	return expect_malformed(e, &p, GUARDER_M_ICMP_INNER_TRUNC);
}

static bool test_other_protocol(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_GRE, 1, 0);
	pkt_payload(&p, 24);
	pkt_finish(&p);
	return expect_tracked(e, &p, GUARDER_P_OTHER_IPV4) &&
	       ASSERT_OK(flow_get(e, "10.0.0.1", 0, "10.0.0.2", 0, IPPROTO_GRE, &v, NULL),
			 "GRE tracked with ports 0");
}

/* Ethernet padding of a short frame is not IP payload. */
static bool test_ethernet_padding_ignored(struct tenv *e)
{
	struct global_stats s;
	struct pkt p;

	pkt_tcp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, PKT_ACK, 1, 1, 1, 0);
	pkt_payload(&p, 6); /* 54 -> 60 bytes, after pkt_finish: not in IP length */
	return expect_tracked(e, &p, GUARDER_P_TCP) && !read_stats(e, &s) &&
	       ASSERT_EQ(s.bytes[GUARDER_P_TCP], 40, "IP length, not frame length");
}

int main(void)
{
	static const struct test_case cases[] = {
		TEST(ipv4_tcp),
		TEST(ipv4_udp),
		TEST(ipv4_icmp_echo),
		TEST(ipv4_options),
		TEST(vlan_one_tag),
		TEST(vlan_two_tags),
		TEST(vlan_three_tags),
		TEST(vlan_truncated),
		TEST(non_ip),
		TEST(ipv6_tcp),
		TEST(ipv6_udp),
		TEST(ipv6_icmp_echo),
		TEST(ipv6_ext_headers),
		TEST(ipv6_ext_at_limit),
		TEST(ipv6_ext_too_many),
		TEST(ipv6_ext_truncated),
		TEST(ipv6_fragments),
		TEST(ipv4_fragments),
		TEST(ipv4_truncated),
		TEST(ipv4_bad_ihl),
		TEST(ipv4_ihl_beyond_frame),
		TEST(ipv4_short_total_length),
		TEST(ipv4_total_length_beyond_frame),
		TEST(ipv6_truncated),
		TEST(ipv6_payload_beyond_frame),
		TEST(tcp_truncated),
		TEST(udp_truncated),
		TEST(icmp_truncated),
		TEST(tcp_doff_small),
		TEST(tcp_doff_beyond_packet),
		TEST(icmp_error_quoting_truncated_packet),
		TEST(icmp6_error_quoting_truncated_packet),
		TEST(other_protocol),
		TEST(ethernet_padding_ignored),
	};

	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}
