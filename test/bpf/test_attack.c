// SPDX-License-Identifier: GPL-2.0
/*
 * The filter from the attacker's side: every way around a drop rule that a
 * review of the program found (issue 13), each as crafted frames through
 * bpf_prog_test_run against rules compiled by lib/rule_set.c. Each case
 * fails on the program before the fix: the frame the rules say to drop
 * was passed, or a drop left state behind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernel/filter.h"
#include "ruleenv.h"

#define PASS XDP_PASS
#define DROP XDP_DROP

static __u64 drops_of(struct tenv *e, int reason)
{
	struct global_stats st;

	if (read_stats(e, &st))
		return ~0ULL;
	return st.drops[reason];
}

/* An IPv4 fragment of @proto: @frag_off is the raw field (MF | offset in 8-byte units). */
static void frag4(struct pkt *p, const char *src, const char *dst, __u8 proto, __u16 id,
		  __u16 frag_off, const void *l4, size_t len)
{
	pkt_init(p);
	pkt_eth(p, NULL, 0, 0x0800);
	pkt_ipv4(p, src, dst, proto, id, frag_off);
	pkt_append(p, l4, len);
	pkt_finish(p);
}

/* The first @len bytes of a TCP header sport -> dport with @flags and @doff words. */
static void tcp_bytes(__u8 *b, __u16 sport, __u16 dport, __u8 flags, __u8 doff)
{
	memset(b, 0, 60);
	b[0] = sport >> 8;
	b[1] = sport;
	b[2] = dport >> 8;
	b[3] = dport;
	b[12] = doff << 4;
	b[13] = flags;
	b[14] = 0xff;
	b[15] = 0xff;
}

/* 1. A first fragment with 8 bytes of TCP still names its ports: the port rule holds. */
static bool test_frag_tiny_first_8_bytes(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	__u8 tcp[60];
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"dst_port\":23,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	tcp_bytes(tcp, 40000, 23, PKT_SYN, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 100, 0x2000, tcp, 8);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "8-byte TCP first fragment to port 23");
	/* Its later fragments are orphans: nothing passed for them to follow. */
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 100, 1 /* 8 bytes */, tcp + 8, 32);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "the rest of that datagram");
	/* A tiny first fragment claiming another port: its flags are unread. */
	tcp_bytes(tcp, 40000, 80, PKT_SYN, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 101, 0x2000, tcp, 8);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "a tiny first fragment with port rules loaded") &&
	     ASSERT_EQ(drops_of(e, GUARDER_DROP_FRAG_TINY), 1, "counted as tiny");
	done(&s);
	return ok;
}

/* 1. A TCP header claiming doff = 15 in a first fragment that holds 20 bytes of it. */
static bool test_frag_first_doff_15(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	__u8 tcp[60];
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"dst_port\":23,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	tcp_bytes(tcp, 40000, 23, PKT_SYN, 15);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 200, 0x2000, tcp, 20);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "doff 15 first fragment to port 23");
	/* The same header outside a fragment: unparsed, dropped by the default policy. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 201, 0);
	tcp_bytes(tcp, 40000, 80, PKT_SYN, 15);
	pkt_append(&p, tcp, 20);
	pkt_finish(&p);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "doff 15 whole packet: unparsed") &&
	     ASSERT_EQ(drops_of(e, GUARDER_DROP_UNPARSED), 1, "counted as unparsed");
	done(&s);
	return ok;
}

/* 1. Later fragments take the verdict, and the flow, of their datagram. */
static bool test_frag_later_follow_datagram(struct tenv *e)
{
	struct rs_env s;
	struct flow_value v;
	struct pkt p;
	__u8 tcp[60];
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"dst_port\":23,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	/* Datagram 300 to port 80 passes, all of it. */
	tcp_bytes(tcp, 40000, 80, PKT_ACK, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 300, 0x2000, tcp, 24);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "first fragment to 80");
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 300, 3, tcp, 16);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "its later fragment") &&
	     ASSERT_OK(flow_get(e, "10.7.0.1", 40000, "10.0.0.2", 80, IPPROTO_TCP, &v, NULL),
		       "the datagram's flow") &&
	     ASSERT_EQ(v.dir[0].packets + v.dir[1].packets, 2, "both fragments in it");
	/* Datagram 301 to port 23: the first fragment and every later one go. */
	tcp_bytes(tcp, 40000, 23, PKT_ACK, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 301, 0x2000, tcp, 24);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "first fragment to 23");
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 301, 3, tcp, 16);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "its later fragment (no ports in it)");
	/* A later fragment of a datagram never seen, with a port rule loaded. */
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 302, 3, tcp, 16);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "an orphan later fragment") &&
	     ASSERT_EQ(drops_of(e, GUARDER_DROP_FRAG_UNKNOWN), 2, "orphans counted");
	done(&s);
	return ok;
}

/* With address rules only, fragments need no L4 header and orphans pass. */
static bool test_frag_address_rules_only(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	__u8 tcp[60];
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.66.0.0/16\",\"enabled\":true}") &&
	     apply(&s);
	tcp_bytes(tcp, 40000, 80, PKT_ACK, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 400, 3, tcp, 16);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "an orphan from elsewhere passes");
	frag4(&p, "10.66.0.1", "10.0.0.2", IPPROTO_TCP, 401, 3, tcp, 16);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "an orphan from the dropped network") &&
	     ASSERT_EQ(drops_of(e, GUARDER_DROP_RULE), 1, "by the rule");
	done(&s);
	return ok;
}

/* 1. Overlapping fragments: a second first fragment, or TCP at offset 8. */
static bool test_frag_overlap(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	__u8 tcp[60];
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"dst_port\":23,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	tcp_bytes(tcp, 40000, 80, PKT_ACK, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 500, 0x2000, tcp, 24);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "first fragment to 80");
	/* A second first fragment rewriting the ports (reassembly may take it). */
	tcp_bytes(tcp, 40000, 81, PKT_ACK, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 500, 0x2000, tcp, 24);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "a second first fragment with other ports");
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 500, 3, tcp, 16);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "the condemned datagram's later fragment");
	/* RFC 1858: a TCP fragment at offset 8 rewrites the flags. */
	tcp_bytes(tcp, 40000, 80, PKT_ACK, 5);
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 501, 0x2000, tcp, 24);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "first fragment of 501");
	frag4(&p, "10.7.0.1", "10.0.0.2", IPPROTO_TCP, 501, 1, tcp + 8, 16);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "TCP at fragment offset 8") &&
	     ASSERT_EQ(drops_of(e, GUARDER_DROP_FRAG_OVERLAP), 3, "overlaps counted");
	done(&s);
	return ok;
}

/* 2. An address rule still holds behind 9 extension headers (the walk stops at 8). */
static bool test_ipv6_nine_ext_headers(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;
	int i, n;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"2001:db8:bad::1\",\"enabled\":true}") &&
	     add(&s, "{\"id\":2,\"rule_type\":\"udp\",\"dst_port\":9999,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	for (n = 8; ok && n <= 9; n++) {
		pkt_init(&p);
		pkt_eth(&p, NULL, 0, 0x86dd);
		pkt_ipv6(&p, "2001:db8:bad::1", "2001:db8::2", IPPROTO_DSTOPTS);
		for (i = 0; i < n; i++)
			pkt_ipv6_ext(&p, IPPROTO_DSTOPTS, i + 1 < n ? IPPROTO_DSTOPTS : IPPROTO_UDP,
				     8, 0);
		pkt_udp(&p, 1000, 53);
		pkt_finish(&p);
		ok = ASSERT_EQ(xdp(e, &p), DROP, n == 8 ? "8 headers, address rule" :
							  "9 headers, address rule");
	}
	/* Another source behind 9 headers: no rule reads it whole, the policy drops it. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "2001:db8:1::1", "2001:db8::2", IPPROTO_DSTOPTS);
	for (i = 0; i < 9; i++)
		pkt_ipv6_ext(&p, IPPROTO_DSTOPTS, i < 8 ? IPPROTO_DSTOPTS : IPPROTO_UDP, 8, 0);
	pkt_udp(&p, 1000, 9999);
	pkt_finish(&p);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "9 headers hiding a port: filter.unparsed drop") &&
	     ASSERT_EQ(drops_of(e, GUARDER_DROP_UNPARSED), 1, "counted as unparsed");
	done(&s);
	return ok;
}

/* filter.unparsed: pass lets what cannot be read through, still counted. */
static bool test_unparsed_policy_pass(struct tenv *e)
{
	struct rs_env s;
	struct global_stats st;
	struct pkt p;
	bool ok;
	int i;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":2,\"rule_type\":\"udp\",\"dst_port\":9999,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x86dd);
	pkt_ipv6(&p, "2001:db8:1::1", "2001:db8::2", IPPROTO_DSTOPTS);
	for (i = 0; i < 9; i++)
		pkt_ipv6_ext(&p, IPPROTO_DSTOPTS, i < 8 ? IPPROTO_DSTOPTS : IPPROTO_UDP, 8, 0);
	pkt_udp(&p, 1000, 9999);
	pkt_finish(&p);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "filter.unparsed: pass") && !read_stats(e, &st) &&
	     ASSERT_EQ(st.malformed[GUARDER_M_IPV6_EXT_DEPTH], 1, "counted by reason") &&
	     ASSERT_EQ(st.dropped, 0, "not dropped");
	done(&s);
	return ok;
}

/* With no rule loaded nothing is dropped, readable or not. */
static bool test_unparsed_no_rules_pass(struct tenv *e)
{
	struct pkt p;

	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", IPPROTO_TCP, 1, 0);
	pkt_append(&p, "\x01\x02\x03", 3);
	pkt_finish(&p);
	return ASSERT_EQ(xdp(e, &p), PASS, "no rules: a truncated TCP header passes");
}

/* 2. An ICMPv6 error quoting a packet with an extension header: inner rules see through it. */
static bool test_icmpv6_quote_with_ext_header(struct tenv *e)
{
	struct rs_env s;
	struct pkt p, inner;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"protocol\":\"icmpv6\",\"inner_protocol\":"
		     "\"udp\",\"inner_dst_port\":53,\"action\":\"drop\",\"enabled\":true}") &&
	     apply(&s);
	pkt_init(&inner);
	pkt_ipv6(&inner, "2001:db8::2", "2001:db8:53::53", IPPROTO_DSTOPTS);
	pkt_ipv6_ext(&inner, IPPROTO_DSTOPTS, IPPROTO_UDP, 8, 0);
	pkt_udp(&inner, 40000, 53);
	pkt_finish(&inner);
	pkt_icmp_err6(&p, "2001:db8:ff::1", "2001:db8::2", 1, 4, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "inner UDP 53 behind a destination options header");
	/* Behind a fragment header too. */
	pkt_init(&inner);
	pkt_ipv6(&inner, "2001:db8::2", "2001:db8:53::53", IPPROTO_FRAGMENT);
	pkt_ipv6_frag(&inner, IPPROTO_UDP, 1, 9);
	pkt_udp(&inner, 40000, 53);
	pkt_finish(&inner);
	pkt_icmp_err6(&p, "2001:db8:ff::1", "2001:db8::2", 1, 4, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "inner UDP 53 behind a fragment header");
	done(&s);
	return ok;
}

/* 3. Quotes that cannot be read: the sender's ICMP drop rule still holds. */
static bool test_icmp_unreadable_quotes(struct tenv *e)
{
	struct rs_env s;
	struct pkt p, inner;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"src_ip\":\"10.44.0.1\",\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_init(&inner);
	pkt_append(&inner, "\x45\0\0\x1c\0\0\0\0\x40\x11\0\0", 12);
	pkt_icmp_err4(&p, "10.44.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "a 12-byte quote");
	pkt_init(&inner);
	pkt_ipv6(&inner, "2001:db8::2", "2001:db8::3", IPPROTO_UDP);
	pkt_udp(&inner, 1, 2);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.44.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "an IPv6 header quoted by ICMPv4");
	/* From someone else: no rule, the default policy drops the unreadable error. */
	pkt_icmp_err4(&p, "10.45.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "an unreadable quote from elsewhere: unparsed");
	done(&s);
	return ok;
}

/* 4. An IPv6 frame between IPv4-mapped addresses cannot poison the IPv4 flow's cache. */
static bool test_mapped_ipv6_cache_poisoning(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.9.9.9\",\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp6(&p, "::ffff:10.9.9.9", 40000, "::ffff:10.0.0.2", 80, PKT_ACK, 1, 1, 100, 10);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "IPv6 between mapped addresses: not the v4 rule");
	pkt_tcp4(&p, "10.9.9.9", 40000, "10.0.0.2", 80, PKT_ACK, 1, 1, 100, 10);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "the IPv4 flow is still dropped") &&
	     ASSERT_EQ(flow_count(e), 1, "two families, two flows (only the passed one kept)");
	done(&s);
	return ok;
}

/* 5. A later ICMP fragment cannot cache a pass for the flow's other packets. */
static bool test_icmp_fragment_cache_poisoning(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"icmp_type\":13,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     add(&s, "{\"id\":2,\"rule_type\":\"icmp\",\"icmp_type\":8,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	/* An echo reply (no rule) with id 0 in two fragments: both pass. */
	frag4(&p, "10.5.0.1", "10.0.0.2", IPPROTO_ICMP, 600, 0x2000, "\0\0\0\0\0\0\0\0", 8);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "first fragment of an echo reply");
	frag4(&p, "10.5.0.1", "10.0.0.2", IPPROTO_ICMP, 600, 1, "\0\0\0\0\0\0\0\0", 8);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "its later fragment (no type in it)");
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_ipv4(&p, "10.5.0.1", "10.0.0.2", IPPROTO_ICMP, 601, 0);
	pkt_icmp(&p, 13, 0, 0, 0);
	pkt_payload(&p, 12);
	pkt_finish(&p);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "ICMP timestamp request after it");
	pkt_echo4(&p, "10.5.0.1", "10.0.0.2", 8, 0, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "echo request with id 0 after it");
	done(&s);
	return ok;
}

/* 6. Protected ports are this host's services: a remote source port is no way in. */
static bool test_protected_port_is_not_a_source_port(struct tenv *e)
{
	__u16 ports[1] = { 22 };
	struct rule_protect prot = { .ports = ports, .n_ports = 1 };
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	/* A network, not one named host: the protected-port exemption is consulted. */
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.66.0.0/16\",\"enabled\":true}") &&
	     apply_p(&s, &prot);
	pkt_tcp4(&p, "10.66.0.1", 22, "10.0.0.2", 5555, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "a blocked source sending from port 22");
	pkt_tcp4(&p, "10.66.0.1", 40000, "10.0.0.2", 22, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "the same network to this host's port 22");
	done(&s);
	return ok;
}

/*
 * 6. Who may be dropped on a protected port: one named attacker, yes; the
 * protected networks, never; a rule naming no single source, never.
 */
static bool test_protected_port_named_attacker(struct tenv *e)
{
	struct net_prefix nets[1];
	__u16 ports[1] = { 22 };
	struct rule_protect prot = { .nets = nets, .n_nets = 1, .ports = ports, .n_ports = 1 };
	char err[RULE_ERR_LEN];
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = ASSERT_OK(rule_addr_parse("net", "10.200.0.0/16", &nets[0], err, sizeof(err)), "net") &&
	     add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"src_ip\":\"10.66.0.1\",\"dst_port\":22,"
		     "\"action\":\"drop\",\"enabled\":true}") &&
	     add(&s, "{\"id\":2,\"rule_type\":\"tcp\",\"src_ip\":\"10.67.0.0/16\",\"dst_port\":22,"
		     "\"action\":\"drop\",\"enabled\":true}") &&
	     add(&s, "{\"id\":3,\"rule_type\":\"tcp\",\"src_ip\":\"10.200.0.9\",\"dst_port\":22,"
		     "\"action\":\"drop\",\"enabled\":true}") &&
	     apply_p(&s, &prot);
	pkt_tcp4(&p, "10.66.0.1", 40000, "10.0.0.2", 22, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "one named attacker on ssh");
	pkt_tcp4(&p, "10.67.0.5", 40000, "10.0.0.2", 22, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "a network rule cannot take ssh away");
	pkt_tcp4(&p, "10.200.0.9", 40000, "10.0.0.2", 22, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "a host of a protected network keeps ssh");
	done(&s);
	return ok;
}

/* 6. ICMP errors about protected traffic: PMTUD for an ssh session survives an ICMP drop. */
static bool test_protected_icmp_errors(struct tenv *e)
{
	__u16 ports[1] = { 22 };
	struct rule_protect prot = { .ports = ports, .n_ports = 1 };
	struct rs_env s;
	struct pkt p, inner;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"action\":\"drop\",\"enabled\":true}") &&
	     apply_p(&s, &prot);
	/* Fragmentation needed, about this host's reply from port 22. */
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.66.0.1", IPPROTO_TCP, 7, 0x4000);
	pkt_tcp(&inner, 22, 40000, 1, 1, PKT_ACK, 100);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.1.1.1", "10.0.0.2", 3, 4, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "frag-needed for the ssh session");
	/* The same error about another service is dropped. */
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.66.0.1", IPPROTO_TCP, 7, 0x4000);
	pkt_tcp(&inner, 8080, 40000, 1, 1, PKT_ACK, 100);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.1.1.1", "10.0.0.2", 3, 4, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "frag-needed for port 8080");
	done(&s);
	return ok;
}

/* 7. Not even an IPv4 header: dropped while rules are loaded (default policy). */
static bool test_unparsed_ipv4_header(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.66.0.1\",\"enabled\":true}") &&
	     apply(&s);
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0800);
	pkt_append(&p, "\x44\0\0\x14\0\0\0\0\x40\x06\0\0\x0a\x42\0\x01\x0a\0\0\x02", 20);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "IHL 4") &&
	     ASSERT_EQ(drops_of(e, GUARDER_DROP_UNPARSED), 1, "counted as unparsed");
	/* Not IP at all (ARP): never the filter's business. */
	pkt_init(&p);
	pkt_eth(&p, NULL, 0, 0x0806);
	pkt_payload(&p, 28);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "ARP passes");
	done(&s);
	return ok;
}

/* 8. A flood of dropped new tuples leaves every established flow in a small table. */
static bool test_drop_flood_keeps_flows(struct tenv *e)
{
	struct rs_env s;
	struct global_stats st;
	struct flow_value v;
	char src[32];
	struct pkt p;
	__u64 pk, by;
	bool ok = true;
	int i;

	if (!setup(e, &s))
		return false;
	for (i = 0; ok && i < 500; i++) {
		pkt_tcp4(&p, "10.0.0.1", 10000 + i, "10.0.0.2", 443, PKT_ACK, 1, 1, 100, 10);
		ok = ASSERT_EQ(xdp(e, &p), PASS, "established flow");
	}
	ok = ok && add(&s, "{\"id\":7,\"action\":\"drop\",\"src_ip\":\"10.128.0.0/9\",\"enabled\":true}") &&
	     apply(&s);
	/* 20,000 spoofed tuples into a 1,024-entry flow table. */
	for (i = 0; ok && i < 20000; i++) {
		snprintf(src, sizeof(src), "10.%d.%d.%d", 128 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
		pkt_tcp4(&p, src, 1024 + i % 60000, "10.0.0.2", 80, PKT_SYN, i, 0, 100, 0);
		if (xdp(e, &p) != DROP)
			ok = ASSERT_EQ(xdp(e, &p), DROP, "spoofed tuple dropped");
	}
	for (i = 0; ok && i < 500; i++)
		ok = ASSERT_OK(flow_get(e, "10.0.0.1", 10000 + i, "10.0.0.2", 443, IPPROTO_TCP, &v,
					NULL),
			       "every established flow still in the table");
	ok = ok && !read_stats(e, &st) && ASSERT_EQ(st.flows_created, 500, "no flow for drops") &&
	     ASSERT_EQ(st.dropped, 20000, "every drop counted") &&
	     ASSERT_EQ(st.events, 500, "no event for drops (500 starts)") &&
	     ASSERT_EQ(hits(&s, 7), 20000, "the rule's hits") &&
	     ASSERT_GE(drop_agg_sum(e, "10.128.0.1", GUARDER_DROP_RULE, 7, &pk, &by), 0,
		       "aggregates readable");
	done(&s);
	return ok;
}

/* 9. A forwarded packet counted at XDP ingress is not counted again at tc egress. */
static bool test_forwarded_counted_once(struct tenv *e)
{
	struct global_stats st;
	struct pkt p;
	__u32 ifx = 4242, one = 1;
	struct __sk_buff skb = { .ingress_ifindex = 4242 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &skb, .ctx_size_in = sizeof(skb),
		    .repeat = 1);
	bool ok;

	pkt_tcp4(&p, "10.0.0.1", 4000, "10.9.0.2", 80, PKT_ACK, 1, 1, 100, 100);
	opts.data_in = p.data;
	opts.data_size_in = p.len;
	ok = ASSERT_EQ(xdp(e, &p), PASS, "seen at ingress") &&
	     ASSERT_OK(bpf_map_update_elem(bpf_map__fd(e->skel->maps.xdp_ifaces), &ifx, &one, 0),
		       "interface 4242 is watched at XDP") &&
	     ASSERT_OK(bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.tc_egress_tracker),
					      &opts),
		       "forwarded out at tc egress") &&
	     ASSERT_EQ(opts.retval, TC_ACT_OK, "passed") && !read_stats(e, &st) &&
	     ASSERT_EQ(st.packets[GUARDER_P_TCP], 1, "one packet, one count") &&
	     ASSERT_EQ(st.forwarded, 1, "the second sighting counted as forwarded") &&
	     ASSERT_EQ(st.tcp_retransmits, 0, "not as a retransmission");
	/* From an interface not watched at XDP: egress is its only sighting. */
	skb.ingress_ifindex = 4343;
	ok = ok &&
	     ASSERT_OK(bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.tc_egress_tracker),
					      &opts),
		       "forwarded from elsewhere") &&
	     !read_stats(e, &st) && ASSERT_EQ(st.packets[GUARDER_P_TCP], 2, "counted at egress");
	return ok;
}

/* 11. An expired rule stops matching in the kernel, with no one to recompile the set. */
static bool test_expiry_in_kernel(struct tenv *e)
{
	char json[256];
	struct rs_env s;
	struct pkt p;
	bool ok;
	int i;

	if (!setup(e, &s))
		return false;
	snprintf(json, sizeof(json),
		 "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.66.0.1\",\"enabled\":true,"
		 "\"expires_at\":%lld}",
		 (long long)time(NULL) + 2);
	ok = add(&s, json) && apply(&s);
	pkt_tcp4(&p, "10.66.0.1", 4000, "10.0.0.2", 80, PKT_ACK, 1, 1, 100, 10);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "before the expiry") &&
	     ASSERT_EQ(xdp(e, &p), DROP, "again (from the flow's cache)");
	/* An established flow that passed caches its verdict too. */
	pkt_tcp4(&p, "10.1.0.1", 4000, "10.0.0.2", 80, PKT_ACK, 1, 1, 100, 10);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "another flow");
	sleep(3);
	pkt_tcp4(&p, "10.66.0.1", 4000, "10.0.0.2", 80, PKT_ACK, 1, 1, 100, 10);
	for (i = 0; ok && i < 3; i++)
		ok = ASSERT_EQ(xdp(e, &p), PASS, "after the expiry, the set unchanged");
	done(&s);
	return ok;
}

/*
 * 12. The verdict cache and its generation are one word: a packet reads
 * the slot, the cache bits and the generation they belong to in one load,
 * and a flip moves all three with one store.
 */
static bool test_vcache_one_word(struct tenv *e)
{
	struct rs_env s;
	struct flow_value v;
	struct pkt p;
	int d;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":5,\"action\":\"drop\",\"src_ip\":\"10.66.0.1\",\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp4(&p, "10.1.0.1", 4000, "10.0.0.2", 80, PKT_ACK, 1, 1, 100, 10);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "a flow no rule names") &&
	     ASSERT_OK(flow_get(e, "10.1.0.1", 4000, "10.0.0.2", 80, IPPROTO_TCP, &v, &d), "flow") &&
	     ASSERT_EQ(FLOW_VC_GEN(v.vcache), 1, "cached for generation 1") &&
	     ASSERT_EQ(FLOW_VC_RC(v.vcache) & (RC_VALID(d) | RC_SLOT(d)), RC_VALID(d),
		       "valid, no rule") &&
	     ASSERT_EQ(FLOW_VC_VERDICT(v.vcache), GUARDER_VERDICT_PASS, "verdict pass");
	ok = ok && add(&s, "{\"id\":6,\"action\":\"drop\",\"src_ip\":\"10.1.0.1\",\"enabled\":true}") &&
	     apply(&s) && ASSERT_EQ(xdp(e, &p), DROP, "the next set drops it") &&
	     ASSERT_OK(flow_get(e, "10.1.0.1", 4000, "10.0.0.2", 80, IPPROTO_TCP, &v, &d), "flow") &&
	     ASSERT_EQ(FLOW_VC_GEN(v.vcache), 2, "generation 2") &&
	     ASSERT_EQ(FLOW_VC_RC(v.vcache) & (RC_VALID(d) | RC_SLOT(d) | RC_DROP(d)),
		       RC_VALID(d) | RC_SLOT(d) | RC_DROP(d), "valid, a dropping rule") &&
	     ASSERT_EQ(FLOW_VC_VERDICT(v.vcache), GUARDER_VERDICT_DROP, "verdict drop");
	done(&s);
	return ok;
}

/* The frame sizes of "stack depth 120+24+..." in @log, in subprogram order. */
static int frames_of(const char *log, int *frame, int max)
{
	const char *at = strstr(log, "stack depth ");
	int n = 0;

	if (!at)
		return 0;
	for (at += strlen("stack depth "); n < max && sscanf(at, "%d", &frame[n]) == 1;) {
		n++;
		while (*at >= '0' && *at <= '9')
			at++;
		if (*at != '+')
			break;
		at++;
	}
	return n;
}

#define SUBPROGS_MAX 32

/* The subprogram (by BTF function info) that starts at instruction @at, or -1. */
static int subprog_at(const struct bpf_func_info *fi, int n, __u32 at)
{
	int k;

	for (k = 0; k < n; k++)
		if (fi[k].insn_off == at)
			return k;
	return -1;
}

/*
 * The deepest stack of any call chain of the loaded program @fd, given its
 * subprograms' frames in order. The call graph comes from its translated
 * instructions: BTF function info says where each subprogram starts; a
 * subprogram call jumps .off instructions ahead, and a bpf_loop callback
 * is loaded as a function pointer .imm instructions ahead. Returns bytes
 * or -errno.
 */
static int deepest_chain(int fd, const int *frame, int nframes)
{
	struct bpf_prog_info info = { 0 };
	struct bpf_func_info fi[SUBPROGS_MAX];
	__u32 len = sizeof(info), nins, i, k;
	struct bpf_insn *ins;
	int best[SUBPROGS_MAX], calls[SUBPROGS_MAX][SUBPROGS_MAX], ncalls[SUBPROGS_MAX] = { 0 };
	int n, s, cur, round, changed;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	n = info.nr_func_info;
	if (n < 1 || n > SUBPROGS_MAX || n != nframes)
		return -EINVAL;
	nins = info.xlated_prog_len / sizeof(*ins);
	ins = calloc(nins, sizeof(*ins));
	if (!ins)
		return -ENOMEM;
	memset(&info, 0, sizeof(info));
	info.nr_func_info = n;
	info.func_info_rec_size = sizeof(fi[0]);
	info.func_info = (__u64)(unsigned long)fi;
	info.xlated_prog_len = nins * sizeof(*ins);
	info.xlated_prog_insns = (__u64)(unsigned long)ins;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		free(ins);
		return -errno;
	}
	for (i = 0, cur = 0; i < nins; i++) {
		int callee = -1;

		while (cur + 1 < n && fi[cur + 1].insn_off <= i)
			cur++;
		if (ins[i].code == (BPF_JMP | BPF_CALL) && ins[i].src_reg == BPF_PSEUDO_CALL)
			callee = subprog_at(fi, n, i + ins[i].off + 1);
		else if (ins[i].code == (BPF_LD | BPF_IMM | BPF_DW) &&
			 ins[i].src_reg == BPF_PSEUDO_FUNC)
			callee = subprog_at(fi, n, i + ins[i].imm + 1);
		if (callee > 0 && ncalls[cur] < SUBPROGS_MAX)
			calls[cur][ncalls[cur]++] = callee;
	}
	free(ins);
	/* Longest path of a DAG by relaxation: best[s] = frame[s] + max over callees. */
	for (s = 0; s < n; s++)
		best[s] = frame[s];
	for (round = 0; round < n; round++) {
		changed = 0;
		for (s = 0; s < n; s++)
			for (k = 0; k < (__u32)ncalls[s]; k++)
				if (frame[s] + best[calls[s][k]] > best[s]) {
					best[s] = frame[s] + best[calls[s][k]];
					changed = 1;
				}
		if (!changed)
			break;
	}
	return best[0];
}

/*
 * 13. Verifier headroom, at the largest configuration: the deepest call
 * chain's stack stays at most 384 of the verifier's 512 bytes, and the
 * verifier needs at most half of its 1M-instruction budget.
 */
static bool test_verifier_headroom(struct tenv *e)
{
	static char logs[2][1 << 20];
	struct conn_tracker *skel;
	struct bpf_program *prog, *progs[2];
	int frame[SUBPROGS_MAX], i = 0, insns, nf, chain;
	bool ok;

	(void)e;
	skel = conn_tracker__open();
	if (!ASSERT_TRUE(skel != NULL, "open"))
		return false;
	bpf_map__set_max_entries(skel->maps.flows, 16777216);
	bpf_map__set_max_entries(skel->maps.icmp_flows, 1048576);
	bpf_map__set_max_entries(skel->maps.frag_cache, 1048576);
	bpf_map__set_max_entries(skel->maps.drop_agg, 2 * 262144);
	skel->rodata->drop_half_mask = 262144 - 1;
	bpf_map__set_max_entries(skel->maps.events, 1u << 30);
	bpf_object__for_each_program(prog, skel->obj)
	{
		bpf_program__set_log_level(prog, 4 /* BPF_LOG_STATS */);
		bpf_program__set_log_buf(prog, logs[i], sizeof(logs[i]));
		progs[i++] = prog;
	}
	ok = ASSERT_OK(conn_tracker__load(skel), "the largest configuration loads");
	for (i = 0; ok && i < 2; i++) {
		const char *at = strstr(logs[i], "processed ");

		nf = frames_of(logs[i], frame, SUBPROGS_MAX);
		chain = deepest_chain(bpf_program__fd(progs[i]), frame, nf);
		fprintf(stderr, "  %s: deepest call chain %d bytes of stack; %s",
			bpf_program__name(progs[i]), chain, at ? at : "(no verifier stats)\n");
		ok = ASSERT_TRUE(at && sscanf(at, "processed %d insns", &insns) == 1,
				 "the verifier reports its instructions") &&
		     ASSERT_LE(insns, 500000, "half of the 1M instruction budget left") &&
		     ASSERT_TRUE(nf > 1, "the verifier reports the frames") &&
		     ASSERT_GE(chain, 0, "the call graph is read") &&
		     ASSERT_LE(chain, 384, "the deepest chain leaves 128 of 512 stack bytes");
	}
	conn_tracker__destroy(skel);
	return ok;
}

static const struct test_case cases[] = {
	TEST(frag_tiny_first_8_bytes),
	TEST(frag_first_doff_15),
	TEST(frag_later_follow_datagram),
	TEST(frag_address_rules_only),
	TEST(frag_overlap),
	TEST(ipv6_nine_ext_headers),
	TEST(unparsed_policy_pass, .unparsed_pass = true),
	TEST(unparsed_no_rules_pass),
	TEST(icmpv6_quote_with_ext_header),
	TEST(icmp_unreadable_quotes),
	TEST(mapped_ipv6_cache_poisoning),
	TEST(icmp_fragment_cache_poisoning),
	TEST(protected_port_is_not_a_source_port),
	TEST(protected_port_named_attacker),
	TEST(protected_icmp_errors),
	TEST(unparsed_ipv4_header),
	TEST(drop_flood_keeps_flows),
	TEST(forwarded_counted_once),
	TEST(expiry_in_kernel),
	TEST(vcache_one_word),
	TEST(verifier_headroom),
};

int main(void)
{
	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}
