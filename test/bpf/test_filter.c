// SPDX-License-Identifier: GPL-2.0
/*
 * The filter, end to end: rules compiled by lib/rule_set.c into the real
 * program's maps, crafted frames through bpf_prog_test_run. Semantics of
 * every field, priorities, protected traffic, the verdict cache across
 * swaps, counters, drop events, the reference's filter defects, a
 * differential test against the reference matcher (rule_set_eval) and an
 * atomic swap under concurrent test runs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpftest.h"
#include "kernel/filter.h"
#include "lib/config.h"
#include "lib/rule.h"
#include "lib/rule_set.h"

#include "ruleenv.h"

#define PASS XDP_PASS
#define DROP XDP_DROP

/* ---- semantics of each field ---- */

static bool test_no_rules_pass(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	pkt_tcp4(&p, "10.0.0.1", 1000, "10.0.0.2", 80, PKT_SYN, 1, 0, 1000, 0);
	ok = ASSERT_EQ(rule_set_generation(s.rs), 0, "generation before any apply") &&
	     ASSERT_EQ(xdp(e, &p), PASS, "no set: pass") && apply(&s) &&
	     ASSERT_EQ(rule_set_generation(s.rs), 1, "generation after one apply") &&
	     ASSERT_EQ(xdp(e, &p), PASS, "empty set: pass") &&
	     ASSERT_EQ(dropped(e), 0, "nothing dropped");
	done(&s);
	return ok;
}

static bool test_src_cidr_v4_and_direction(struct tenv *e)
{
	struct rs_env s;
	struct pkt in, out, other;
	struct flow_value v;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s,
		 "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.1.0.0/16\",\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp4(&in, "10.1.2.3", 4000, "192.168.0.1", 80, PKT_ACK, 1, 1, 1000, 10);
	pkt_tcp4(&out, "192.168.0.1", 80, "10.1.2.3", 4000, PKT_ACK, 1, 1, 1000, 10);
	pkt_tcp4(&other, "10.2.0.1", 4000, "192.168.0.1", 80, PKT_ACK, 1, 1, 1000, 10);
	/* The reply direction of a dropped flow is not from 10.1/16: it passes. */
	ok = ok && ASSERT_EQ(xdp(e, &out), PASS, "to 10.1.2.3 passes") &&
	     ASSERT_EQ(xdp(e, &in), DROP, "from 10.1.2.3 dropped") &&
	     ASSERT_EQ(xdp(e, &in), DROP, "again (cached)") &&
	     ASSERT_EQ(xdp(e, &out), PASS, "reply still passes (cached per direction)") &&
	     ASSERT_EQ(xdp(e, &other), PASS, "10.2.0.1 passes") &&
	     ASSERT_EQ(dropped(e), 2, "2 dropped") && ASSERT_EQ(hits(&s, 1), 2, "rule hits");
	ok = ok &&
	     ASSERT_OK(flow_get(e, "10.1.2.3", 4000, "192.168.0.1", 80, IPPROTO_TCP, &v, NULL),
		       "flow entry") &&
	     ASSERT_EQ(flow_value_verdict(&v), GUARDER_VERDICT_DROP, "flow verdict") &&
	     ASSERT_EQ(v.dir[0].packets + v.dir[1].packets, 2, "only the 2 passed packets counted");
	done(&s);
	return ok;
}

static bool test_dst_cidr_and_boundaries(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s,
		 "{\"id\":1,\"action\":\"drop\",\"dst_ip\":\"172.16.4.0/22\",\"enabled\":true}") &&
	     apply(&s);
	pkt_udp4(&p, "10.0.0.1", 5, "172.16.3.255", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "below the /22");
	pkt_udp4(&p, "10.0.0.1", 5, "172.16.4.0", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "first of the /22");
	pkt_udp4(&p, "10.0.0.1", 5, "172.16.7.255", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "last of the /22");
	pkt_udp4(&p, "10.0.0.1", 5, "172.16.8.0", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "above the /22");
	done(&s);
	return ok;
}

static bool test_ports_and_ranges(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;
	int i;
	const struct {
		__u16 port;
		int udp;
		int want;
	} c[] = {
		{ 22, 0, DROP },   { 22, 1, PASS },   { 23, 0, PASS },
		{ 999, 1, PASS },  { 1000, 1, DROP }, { 1500, 1, DROP },
		{ 2000, 1, DROP }, { 2001, 1, PASS }, { 1500, 0, PASS },
	};

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"action\":\"drop\",\"dst_port\":22,"
		     "\"enabled\":true}") &&
	     add(&s,
		 "{\"id\":2,\"rule_type\":\"udp\",\"action\":\"drop\",\"dst_port\":\"1000-2000\","
		 "\"enabled\":true}") &&
	     add(&s, "{\"id\":3,\"rule_type\":\"tcp\",\"action\":\"drop\",\"src_port\":\"7-9\","
		     "\"enabled\":true}") &&
	     apply(&s);
	for (i = 0; ok && i < (int)(sizeof(c) / sizeof(c[0])); i++) {
		if (c[i].udp)
			pkt_udp4(&p, "10.0.0.1", 40000 + i, "10.0.0.2", c[i].port, 0);
		else
			pkt_tcp4(&p, "10.0.0.1", 40000 + i, "10.0.0.2", c[i].port, PKT_SYN, 1, 0,
				 100, 0);
		ok = ASSERT_EQ(xdp(e, &p), c[i].want, "port case");
		if (!ok)
			fprintf(stderr, "  case %d: port %u %s\n", i, c[i].port,
				c[i].udp ? "udp" : "tcp");
	}
	pkt_tcp4(&p, "10.0.0.1", 8, "10.0.0.2", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "src port range");
	pkt_tcp4(&p, "10.0.0.1", 10, "10.0.0.2", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "src port above the range");
	done(&s);
	return ok;
}

static bool test_priority_then_id(struct tenv *e)
{
	struct rs_env s;
	struct pkt a, b;
	bool ok;

	if (!setup(e, &s))
		return false;
	/* Drop has the lower id but the higher priority number: allow runs first. */
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"rule_type\":\"tcp\",\"priority\":100,"
		     "\"enabled\":true}") &&
	     add(&s, "{\"id\":2,\"action\":\"allow\",\"src_ip\":\"10.0.0.5\",\"priority\":10,"
		     "\"enabled\":true}") &&
	     /* Same priority: the lower id (3) wins over 4. */
	     add(&s, "{\"id\":4,\"action\":\"drop\",\"src_ip\":\"10.0.0.7\",\"priority\":5,"
		     "\"enabled\":true}") &&
	     add(&s, "{\"id\":3,\"action\":\"allow\",\"src_ip\":\"10.0.0.0/24\",\"priority\":5,"
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp4(&a, "10.0.0.5", 1, "10.9.0.1", 80, PKT_SYN, 1, 0, 100, 0);
	pkt_tcp4(&b, "10.0.1.6", 1, "10.9.0.1", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &a), PASS, "allow (prio 10 / then id 3) before drop") &&
	     ASSERT_EQ(xdp(e, &b), DROP, "others dropped by the tcp rule");
	pkt_tcp4(&a, "10.0.0.7", 1, "10.9.0.1", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &a), PASS, "id 3 before id 4 at equal priority") &&
	     ASSERT_EQ(hits(&s, 3), 2, "id 3 decided twice") &&
	     ASSERT_EQ(hits(&s, 4), 0, "id 4 never") && ASSERT_EQ(hits(&s, 1), 1, "id 1 once");
	done(&s);
	return ok;
}

static bool test_ipv6_and_family(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s,
		 "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"2001:db8:1::/48\",\"enabled\":true}") &&
	     add(&s, "{\"id\":2,\"action\":\"drop\",\"dst_ip\":\"::/0\",\"rule_type\":\"udp\","
		     "\"dst_port\":9,\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp6(&p, "2001:db8:1:2::1", 1, "2001:db8::2", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "v6 /48 source");
	pkt_tcp6(&p, "2001:db8:2::1", 1, "2001:db8::2", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "outside the /48");
	pkt_udp6(&p, "2001:db8:2::1", 1, "2001:db8::2", 9, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "::/0 matches IPv6");
	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 9, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "::/0 never matches IPv4");
	done(&s);
	return ok;
}

static bool test_disabled_and_expired_ignored(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.0.0.1\",\"enabled\":false}") &&
	     add(&s, "{\"id\":2,\"action\":\"drop\",\"src_ip\":\"10.0.0.1\",\"enabled\":true,"
		     "\"expires_at\":\"2001-01-01T00:00:00Z\"}") &&
	     add(&s, "{\"id\":3,\"action\":\"drop\",\"src_ip\":\"10.0.0.2\",\"enabled\":true,"
		     "\"expires_at\":\"2999-01-01T00:00:00Z\"}") &&
	     apply(&s);
	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.9", 9, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "disabled and expired rules ignored") &&
	     ASSERT_EQ(rule_set_counters(s.rs, 1, &(struct rule_counters){ 0 }), -ENOENT,
		       "a disabled rule has no counters in the kernel");
	pkt_udp4(&p, "10.0.0.2", 1, "10.0.0.9", 9, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "a rule expiring in the future applies");
	done(&s);
	return ok;
}

static bool test_protected_win(struct tenv *e)
{
	struct rs_env s;
	struct net_prefix nets[1];
	__u16 ports[1] = { 22 };
	struct rule_protect prot = { .nets = nets, .n_nets = 1, .ports = ports, .n_ports = 1 };
	char err[RULE_ERR_LEN];
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = ASSERT_OK(rule_addr_parse("net", "10.9.0.0/16", &nets[0], err, sizeof(err)), "net") &&
	     add(&s, "{\"id\":1,\"action\":\"drop\",\"enabled\":true}") && apply_p(&s, &prot);
	pkt_udp4(&p, "10.9.3.4", 1000, "10.0.0.1", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "from a protected network");
	pkt_udp4(&p, "10.0.0.1", 1000, "10.9.3.4", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "to a protected network");
	pkt_tcp4(&p, "10.0.0.1", 5555, "10.0.0.2", 22, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "to a protected port");
	/* Replies of this host's protected service leave through tc egress. */
	pkt_tcp4(&p, "10.0.0.2", 22, "10.0.0.1", 5555, PKT_SYN | PKT_ACK, 1, 2, 100, 0);
	ok = ok && ASSERT_EQ(run_tc(e, &p, 0, 0), TC_ACT_OK, "from a protected port (egress)");
	/* A remote source port is never protected: sending from 22 is no way in. */
	pkt_tcp4(&p, "10.0.0.2", 22, "10.0.0.1", 5555, PKT_SYN | PKT_ACK, 1, 2, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "a remote source port 22 is not protected");
	pkt_udp4(&p, "10.0.0.1", 1000, "10.0.0.2", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "everything else dropped") &&
	     ASSERT_EQ(hits(&s, 1), 2, "protected packets are no hits");
	/* Without protection the same traffic is dropped. */
	pkt_udp4(&p, "10.9.3.4", 1000, "10.0.0.1", 53, 0);
	ok = ok && apply(&s) && ASSERT_EQ(xdp(e, &p), DROP, "unprotected: dropped");
	done(&s);
	return ok;
}

/* ICMPv6: type rules, inner fields of an ICMPv6 error, a protected IPv6 network. */
static bool test_icmpv6_rules_and_protected_v6(struct tenv *e)
{
	struct rs_env s;
	struct net_prefix nets[1];
	struct rule_protect prot = { .nets = nets, .n_nets = 1 };
	char err[RULE_ERR_LEN];
	struct pkt p, inner;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = ASSERT_OK(rule_addr_parse("net", "2001:db8:99::/48", &nets[0], err, sizeof(err)),
		       "net") &&
	     add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"protocol\":\"icmpv6\",\"icmp_type\":128,"
		     "\"action\":\"drop\",\"enabled\":true}") &&
	     add(&s,
		 "{\"id\":2,\"rule_type\":\"icmp\",\"protocol\":\"icmpv6\","
		 "\"inner_dst_ip\":\"2001:db8:5::/64\",\"inner_protocol\":\"udp\",\"action\":\"drop\","
		 "\"enabled\":true}") &&
	     apply_p(&s, &prot);
	pkt_echo6(&p, "2001:db8::1", "2001:db8::2", 128, 3, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "ICMPv6 echo request dropped");
	pkt_echo6(&p, "2001:db8::2", "2001:db8::1", 129, 3, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "echo reply passes");
	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 128, 3, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "an icmpv6 rule never matches ICMPv4");
	pkt_echo6(&p, "2001:db8:99::1", "2001:db8::2", 128, 4, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "from a protected IPv6 network");
	pkt_init(&inner);
	pkt_ipv6(&inner, "2001:db8::2", "2001:db8:5::7", IPPROTO_UDP);
	pkt_udp(&inner, 4000, 53);
	pkt_finish(&inner);
	pkt_icmp_err6(&p, "2001:db8::1", "2001:db8::2", 1, 4, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "ICMPv6 error quoting UDP to 2001:db8:5::/64");
	pkt_init(&inner);
	pkt_ipv6(&inner, "2001:db8::2", "2001:db8:6::7", IPPROTO_UDP);
	pkt_udp(&inner, 4000, 53);
	pkt_finish(&inner);
	pkt_icmp_err6(&p, "2001:db8::1", "2001:db8::2", 1, 4, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "quoting another network passes");
	done(&s);
	return ok;
}

/* icmp_code, inner source address and inner source port. */
static bool test_icmp_code_and_inner_src(struct tenv *e)
{
	struct rs_env s;
	struct pkt p, inner;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"icmp_type\":3,\"icmp_code\":1,"
		     "\"action\":\"drop\",\"enabled\":true}") &&
	     add(&s,
		 "{\"id\":2,\"rule_type\":\"icmp\",\"inner_src_ip\":\"10.7.0.0/16\","
		 "\"inner_protocol\":\"tcp\",\"inner_src_port\":\"1000-1999\",\"action\":\"drop\","
		 "\"enabled\":true}") &&
	     apply(&s);
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.9.9.9", IPPROTO_UDP, 1, 0);
	pkt_udp(&inner, 5555, 53);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.0.0.2", 3, 1, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "host unreachable (3/1) dropped");
	pkt_icmp_err4(&p, "10.0.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "port unreachable (3/3) passes");
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.7.1.1", "10.9.9.9", IPPROTO_TCP, 1, 0);
	pkt_tcp(&inner, 1500, 80, 1, 0, PKT_SYN, 100);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.7.1.1", 11, 0, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "quote from 10.7.1.1:1500/tcp dropped");
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.7.1.1", "10.9.9.9", IPPROTO_TCP, 1, 0);
	pkt_tcp(&inner, 2500, 80, 1, 0, PKT_SYN, 100);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.7.1.1", 11, 0, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "inner source port outside the range passes");
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.8.1.1", "10.9.9.9", IPPROTO_TCP, 1, 0);
	pkt_tcp(&inner, 1500, 80, 1, 0, PKT_SYN, 100);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.8.1.1", 11, 0, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "inner source outside 10.7/16 passes");
	done(&s);
	return ok;
}

/* A dropped GSO super-packet counts as its segments, nowhere else. */
static bool test_tc_gso_drop_counts_segments(struct tenv *e)
{
	struct rs_env s;
	struct flow_value v;
	__u64 pk, by;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"dst_port\":443,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp4(&p, "10.0.0.1", 5000, "10.0.0.2", 443, PKT_ACK, 1, 1, 1000, 1000);
	ok = ok && ASSERT_EQ(run_tc(e, &p, 4, 250), TC_ACT_SHOT, "shot") &&
	     ASSERT_EQ(dropped(e), 4, "4 segments dropped") &&
	     ASSERT_EQ(hits(&s, 1), 4, "4 hits") &&
	     ASSERT_EQ(flow_get(e, "10.0.0.1", 5000, "10.0.0.2", 443, IPPROTO_TCP, &v, NULL),
		       -ENOENT, "a dropped unknown tuple leaves no flow") &&
	     ASSERT_EQ(drop_agg_sum(e, "10.0.0.1", GUARDER_DROP_RULE, 1, &pk, &by), 1,
		       "one drop aggregate") &&
	     ASSERT_EQ(pk, 4, "its 4 segments");
	done(&s);
	return ok;
}

/* ---- the reference's filter defects ---- */

/* "an ICMP rule with type 0 drops all ICMP" */
static bool test_defect_icmp_type0_rule(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;
	int i;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"icmp_type\":0,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 7, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "echo request (type 8) passes");
	pkt_echo4(&p, "10.0.0.2", "10.0.0.1", 0, 7, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "echo reply (type 0) dropped");
	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 7, 2);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "next request of the same flow passes");
	pkt_tcp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, PKT_ACK, 1, 1, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "TCP untouched");
	/* Many type rules with nothing else: more than one key's candidates. */
	for (i = 1; ok && i <= 20; i++) {
		char j[160];

		snprintf(j, sizeof(j),
			 "{\"id\":%d,\"rule_type\":\"icmp\",\"icmp_type\":%d,\"action\":\"drop\","
			 "\"enabled\":true}",
			 100 + i, 20 + i);
		ok = add(&s, j);
	}
	ok = ok && apply(&s);
	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 7, 3);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "type 8 still passes");
	pkt_echo4(&p, "10.0.0.2", "10.0.0.1", 0, 7, 3);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "type 0 still dropped");
	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 7, 4);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "type 8 again (not cached as the reply's verdict)");
	/*
	 * Messages that are neither echo nor errors share one flow per
	 * address pair and direction: a passed type 13 must not make the
	 * same direction's type 21 pass from the cache.
	 */
	for (i = 0; ok && i < 2; i++) {
		struct pkt q;

		pkt_init(&q);
		pkt_eth(&q, NULL, 0, 0x0800);
		pkt_ipv4(&q, "10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 1, 0);
		pkt_icmp(&q, 13, 0, 0, 0);
		pkt_finish(&q);
		ok = ASSERT_EQ(xdp(e, &q), PASS, "timestamp request passes");
		pkt_init(&q);
		pkt_eth(&q, NULL, 0, 0x0800);
		pkt_ipv4(&q, "10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 1, 0);
		pkt_icmp(&q, 21, 0, 0, 0);
		pkt_finish(&q);
		ok = ok && ASSERT_EQ(xdp(e, &q), DROP, "type 21 of the same flow dropped");
	}
	done(&s);
	return ok;
}

/* "a rule with an inner-header condition drops all ICMP" */
static bool test_defect_inner_rule(struct tenv *e)
{
	struct rs_env s;
	struct pkt p, inner;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"icmp\",\"inner_protocol\":\"udp\","
		     "\"inner_dst_ip\":\"10.5.0.0/16\",\"inner_dst_port\":53,\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_echo4(&p, "10.0.0.1", "10.5.0.2", 8, 7, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "echo passes");
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.5.1.1", IPPROTO_UDP, 1, 0);
	pkt_udp(&inner, 5555, 53);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "error quoting UDP to 10.5.1.1:53 dropped");
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.5.1.1", IPPROTO_UDP, 1, 0);
	pkt_udp(&inner, 5555, 54);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "quoting port 54 passes");
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.6.1.1", IPPROTO_UDP, 1, 0);
	pkt_udp(&inner, 5555, 53);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "quoting another network passes");
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.5.1.1", IPPROTO_TCP, 1, 0);
	pkt_tcp(&inner, 5555, 53, 1, 0, PKT_SYN, 100);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.0.0.1", "10.0.0.2", 3, 3, &inner);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "quoting TCP passes") &&
	     ASSERT_EQ(dropped(e), 1, "one drop") && ASSERT_EQ(hits(&s, 1), 1, "one hit");
	done(&s);
	return ok;
}

/* "a TCP rule with flags & mask == 0 drops all TCP" */
static bool test_defect_tcp_flags_zero(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	/* Segments without SYN, to port 80. */
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"dst_port\":80,\"tcp_flags\":0,"
		     "\"tcp_flags_mask\":2,\"action\":\"drop\",\"enabled\":true}") &&
	     /* SYN without ACK, to port 81. */
	     add(&s, "{\"id\":2,\"rule_type\":\"tcp\",\"dst_port\":81,\"tcp_flags\":2,"
		     "\"tcp_flags_mask\":18,\"action\":\"drop\",\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp4(&p, "10.0.0.1", 1000, "10.0.0.2", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "SYN to 80 passes");
	pkt_tcp4(&p, "10.0.0.1", 1000, "10.0.0.2", 80, PKT_ACK, 2, 1, 100, 5);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "ACK of the same flow dropped");
	pkt_tcp4(&p, "10.0.0.1", 1000, "10.0.0.2", 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "SYN again passes (verdict not cached)");
	pkt_tcp4(&p, "10.0.0.1", 1001, "10.0.0.2", 81, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "SYN to 81 dropped");
	pkt_tcp4(&p, "10.0.0.1", 1001, "10.0.0.2", 81, PKT_ACK, 2, 1, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "ACK to 81 passes");
	pkt_tcp4(&p, "10.0.0.1", 1002, "10.0.0.2", 81, PKT_SYN | PKT_ACK, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "SYN-ACK to 81 passes");
	pkt_tcp4(&p, "10.0.0.1", 1003, "10.0.0.2", 443, PKT_ACK, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "other TCP passes");
	done(&s);
	return ok;
}

/* "a tcp rule with protocol any also matches UDP/ICMP" */
static bool test_defect_tcp_rule_other_protocols(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"rule_type\":\"tcp\",\"protocol\":\"any\",\"action\":\"drop\","
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_tcp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "TCP dropped");
	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "UDP passes");
	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 1, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "ICMP passes");
	pkt_echo6(&p, "fd00::1", "fd00::2", 128, 1, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "ICMPv6 passes");
	done(&s);
	return ok;
}

/* "allow does nothing (a matching allow does not stop the scan)" */
static bool test_defect_allow_stops(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"allow\",\"src_ip\":\"10.0.0.1\",\"priority\":1,"
		     "\"enabled\":true}") &&
	     add(&s, "{\"id\":2,\"action\":\"drop\",\"src_ip\":\"10.0.0.0/8\",\"priority\":2,"
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "allowed") &&
	     ASSERT_EQ(xdp(e, &p), PASS, "cached") && ASSERT_EQ(hits(&s, 1), 2, "allow counted") &&
	     ASSERT_EQ(hits(&s, 2), 0, "drop not");
	pkt_udp4(&p, "10.0.0.3", 1, "10.0.0.2", 2, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "the drop still applies to others");
	done(&s);
	return ok;
}

/* "ICMP packets are counted before the filter runs, so dropped packets show as tracked" */
static bool test_defect_icmp_counted_before_filter(struct tenv *e)
{
	struct rs_env s;
	struct icmp_value iv;
	struct flow_value v;
	__u64 pk, by;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":9,\"rule_type\":\"icmp\",\"action\":\"drop\",\"enabled\":true}") &&
	     apply(&s);
	pkt_echo4(&p, "10.0.0.1", "10.0.0.2", 8, 77, 1);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "echo dropped") &&
	     ASSERT_EQ(xdp(e, &p), DROP, "echo dropped again") &&
	     ASSERT_EQ(icmp_get(e, "10.0.0.1", "10.0.0.2", 8, 0, 4, &iv), -ENOENT,
		       "not in the ICMP view") &&
	     ASSERT_EQ(icmp_count_get(e, 4, 8, 0), 0, "not in the ICMP counts") &&
	     ASSERT_EQ(dropped(e), 2, "counted as dropped") &&
	     ASSERT_EQ(flow_get(e, "10.0.0.1", 77, "10.0.0.2", 77, IPPROTO_ICMP, &v, NULL),
		       -ENOENT, "no flow entry for a dropped unknown tuple") &&
	     ASSERT_EQ(drop_agg_sum(e, "10.0.0.1", GUARDER_DROP_RULE, 9, &pk, &by), 1,
		       "one drop aggregate") &&
	     ASSERT_EQ(pk, 2, "both drops in it");
	done(&s);
	return ok;
}

/* ---- cache, counters, events ---- */

static bool test_cache_invalidated_by_swap(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	pkt_tcp4(&p, "10.0.0.1", 1000, "10.0.0.2", 443, PKT_ACK, 1, 1, 100, 10);
	ok = apply(&s) && run_xdp_n(e, &p, 3);
	ok = ok &&
	     add(&s, "{\"id\":5,\"action\":\"drop\",\"dst_port\":443,\"rule_type\":\"tcp\","
		     "\"enabled\":true}") &&
	     apply(&s) &&
	     ASSERT_EQ(xdp(e, &p), DROP, "established flow dropped right after apply") &&
	     ASSERT_EQ(xdp(e, &p), DROP, "and stays dropped");
	s.n = 0;
	ok = ok && apply(&s) && ASSERT_EQ(xdp(e, &p), PASS, "passes again once removed");
	/* Disabled instead of removed: same. */
	ok = ok &&
	     add(&s, "{\"id\":5,\"action\":\"drop\",\"dst_port\":443,\"rule_type\":\"tcp\","
		     "\"enabled\":true}") &&
	     apply(&s) && ASSERT_EQ(xdp(e, &p), DROP, "dropped");
	s.r[0].enabled = false;
	ok = ok && apply(&s) && ASSERT_EQ(xdp(e, &p), PASS, "passes once disabled");
	done(&s);
	return ok;
}

static bool test_counters_per_rule(struct tenv *e)
{
	struct rs_env s;
	struct rule_counters c;
	struct pkt p;
	bool ok;
	int i;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":7,\"action\":\"drop\",\"rule_type\":\"udp\",\"dst_port\":5000,"
		     "\"enabled\":true}") &&
	     apply(&s);
	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 5000, 72); /* IP length 100 */
	for (i = 0; ok && i < 5; i++)
		ok = ASSERT_EQ(xdp(e, &p), DROP, "dropped");
	ok = ok && ASSERT_OK(rule_set_counters(s.rs, 7, &c), "counters") &&
	     ASSERT_EQ(c.packets, 5, "packets") && ASSERT_EQ(c.bytes, 500, "bytes") &&
	     ASSERT_TRUE(c.last_hit_ns > 0, "last hit");
	/* Another apply with the same id and a new rule keeps the counters. */
	ok = ok &&
	     add(&s, "{\"id\":8,\"action\":\"drop\",\"src_ip\":\"10.7.0.1\",\"enabled\":true}") &&
	     apply(&s) && ASSERT_EQ(xdp(e, &p), DROP, "dropped") &&
	     ASSERT_EQ(hits(&s, 7), 6, "counters kept across applies") &&
	     ASSERT_EQ(hits(&s, 8), 0, "new rule starts at 0");
	/* The bulk read agrees, in both of its ways (few ids, many ids). */
	{
		__u32 ids[100];
		struct rule_counters m[100];
		bool have[100];

		for (i = 0; i < 100; i++)
			ids[i] = i % 2 ? 7 : 1000 + i;
		ok = ok && ASSERT_OK(rule_set_counters_many(s.rs, ids, 100, m, have), "many") &&
		     ASSERT_TRUE(have[1] && !have[0], "have") &&
		     ASSERT_EQ(m[1].packets, 6, "many: packets") &&
		     ASSERT_EQ(m[99].bytes, 600, "many: bytes") &&
		     ASSERT_EQ(m[0].packets, 0, "absent");
		ok = ok && ASSERT_OK(rule_set_counters_many(s.rs, ids, 2, m, have), "few") &&
		     ASSERT_TRUE(have[1] && !have[0], "have (few)") &&
		     ASSERT_EQ(m[1].packets, 6, "few: packets");
	}
	/* Removed and re-added: it starts from 0. */
	s.r[0].enabled = false;
	ok = ok && apply(&s);
	s.r[0].enabled = true;
	ok = ok && apply(&s) && ASSERT_EQ(hits(&s, 7), 0, "re-added rule counts from 0") &&
	     ASSERT_EQ(rule_set_counters(s.rs, 99, &c), -ENOENT, "unknown id");
	done(&s);
	return ok;
}

/*
 * Drops of unknown tuples create no state and no event, only their
 * per-source aggregate; a flow that already existed (it passed before
 * the rule came) gets its one FLOW_EV_DROP event.
 */
static bool test_drop_events_once_per_flow(struct tenv *e)
{
	struct rs_env s;
	struct pkt p, q, est;
	__u64 pk, by;
	bool ok;
	int i, n = 0;

	if (!setup(e, &s))
		return false;
	/* An established flow first, with no rule loaded. */
	pkt_tcp4(&est, "10.3.9.9", 2000, "10.0.0.2", 80, PKT_ACK, 1, 1, 100, 10);
	ok = ASSERT_EQ(xdp(e, &est), PASS, "established flow passes") &&
	     add(&s, "{\"id\":42,\"action\":\"drop\",\"src_ip\":\"10.3.0.0/16\",\"enabled\":true}") &&
	     apply(&s);
	drain_events(e);
	e->nev = 0;
	pkt_tcp4(&p, "10.3.0.1", 1000, "10.0.0.2", 80, PKT_SYN, 1, 0, 100, 0);
	pkt_tcp4(&q, "10.3.0.2", 1000, "10.0.0.2", 80, PKT_SYN, 1, 0, 100, 0);
	for (i = 0; ok && i < 4; i++)
		ok = ASSERT_EQ(xdp(e, &p), DROP, "dropped");
	ok = ok && ASSERT_EQ(xdp(e, &q), DROP, "second tuple dropped");
	for (i = 0; ok && i < 3; i++)
		ok = ASSERT_EQ(xdp(e, &est), DROP, "the established flow is dropped now");
	drain_events(e);
	for (i = 0; i < e->nev; i++) {
		if (e->ev[i].type != FLOW_EV_DROP)
			continue;
		n++;
		ok = ok && ASSERT_EQ(e->ev[i].rule_id, 42, "rule id in the event") &&
		     ASSERT_EQ(e->ev[i].verdict, GUARDER_VERDICT_DROP, "verdict in the event") &&
		     ASSERT_EQ(e->ev[i].hook, GUARDER_HOOK_XDP, "hook");
	}
	ok = ok && ASSERT_EQ(n, 1, "one drop event, for the established flow only") &&
	     ASSERT_EQ(events_of(e, FLOW_EV_START), 0, "no start for dropped tuples") &&
	     ASSERT_EQ(flow_count(e), 1, "no flow state for dropped tuples") &&
	     ASSERT_EQ(dropped(e), 8, "8 drops counted") &&
	     ASSERT_EQ(drop_agg_sum(e, "10.3.0.1", GUARDER_DROP_RULE, 42, &pk, &by), 1,
		       "an aggregate for 10.3.0.1") &&
	     ASSERT_EQ(pk, 4, "its 4 drops") &&
	     ASSERT_EQ(drop_agg_sum(e, "10.3.0.2", GUARDER_DROP_RULE, 42, &pk, &by), 1,
		       "an aggregate for 10.3.0.2") &&
	     ASSERT_EQ(pk, 1, "its drop") &&
	     ASSERT_EQ(drop_agg_sum(e, "10.3.9.9", GUARDER_DROP_RULE, 42, &pk, &by), 1,
		       "the established flow's drops aggregated too") &&
	     ASSERT_EQ(pk, 3, "its 3 drops");
	done(&s);
	return ok;
}

static bool test_tc_egress_drop(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"dst_ip\":\"10.8.0.1\",\"enabled\":true}") &&
	     apply(&s);
	pkt_udp4(&p, "10.0.0.1", 1, "10.8.0.1", 2, 0);
	ok = ok && ASSERT_EQ(run_tc(e, &p, 1, 0), TC_ACT_SHOT, "egress dropped");
	pkt_udp4(&p, "10.0.0.1", 1, "10.8.0.2", 2, 0);
	ok = ok && ASSERT_EQ(run_tc(e, &p, 1, 0), TC_ACT_OK, "egress passes");
	done(&s);
	return ok;
}

static bool test_apply_errors_keep_old_set(struct tenv *e)
{
	struct rs_env s;
	struct pkt p;
	char err[256];
	bool ok;
	int i, rc;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"drop\",\"src_ip\":\"10.0.0.1\",\"enabled\":true}") &&
	     apply(&s);
	/* 16 rules with one key: one more than a candidate list holds. */
	for (i = 0; ok && i < RULE_CAND_MAX + 1; i++) {
		char j[200];

		snprintf(
			j, sizeof(j),
			"{\"id\":%d,\"action\":\"drop\",\"rule_type\":\"tcp\",\"dst_port\":\"%d-%d\","
			"\"enabled\":true}",
			100 + i, 1000 + i, 2000 + i);
		ok = add(&s, j);
	}
	rc = rule_set_apply(s.rs, s.r, s.n, NULL, (__u64)time(NULL), err, sizeof(err));
	pkt_udp4(&p, "10.0.0.1", 1, "10.0.0.2", 2, 0);
	ok = ok && ASSERT_EQ(rc, -E2BIG, "too many rules on one key") &&
	     ASSERT_TRUE(strstr(err, "share") != NULL, "message says why") &&
	     ASSERT_EQ(rule_set_generation(s.rs), 1, "generation unchanged") &&
	     ASSERT_EQ(xdp(e, &p), DROP, "the old set still applies");
	/* A duplicate id. */
	s.n = 2;
	s.r[1] = s.r[0];
	rc = rule_set_apply(s.rs, s.r, s.n, NULL, (__u64)time(NULL), err, sizeof(err));
	ok = ok && ASSERT_EQ(rc, -EINVAL, "duplicate id refused") &&
	     ASSERT_EQ(rule_set_generation(s.rs), 1, "generation unchanged");
	done(&s);
	return ok;
}

/* ---- differential test against the reference matcher ---- */

static unsigned int rnd_state = 12345;

static unsigned int rnd(unsigned int n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static const char *const v4_addrs[] = { "10.0.0.1", "10.0.0.2", "10.0.1.1", "10.1.0.1" };
static const char *const v4_nets[] = {
	"", "10.0.0.1", "10.0.0.0/24", "10.0.0.0/16", "10.1.0.0/16", "0.0.0.0/0"
};
static const char *const v6_addrs[] = { "fd00::1", "fd00::2", "fd00:1::1", "fd01::1" };
static const char *const v6_nets[] = { "", "fd00::1", "fd00::/64", "fd00::/16", "::/0" };
static const __u16 port_pool[] = { 22, 53, 80, 1000, 1500 };

static void random_rule(struct rule *r, __u32 id)
{
	char err[RULE_ERR_LEN];
	int v6 = rnd(3) == 0;
	const char *const *nets = v6 ? v6_nets : v4_nets;
	unsigned int nn = v6 ? 5 : 6, t;

	for (;;) {
		rule_init(r);
		r->id = id;
		r->enabled = rnd(8) != 0;
		r->priority = rnd(4) * 10;
		r->action = rnd(3) ? RULE_ACTION_DROP : RULE_ACTION_ALLOW;
		rule_addr_parse("src", nets[rnd(nn)], &r->src, err, sizeof(err));
		rule_addr_parse("dst", nets[rnd(nn)], &r->dst, err, sizeof(err));
		t = rnd(4);
		r->type = t == 0 ? RULE_TYPE_BASIC :
			  t == 1 ? RULE_TYPE_TCP :
			  t == 2 ? RULE_TYPE_UDP :
				   RULE_TYPE_ICMP;
		r->protocol = t == 1 ? RULE_PROTO_TCP :
			      t == 2 ? RULE_PROTO_UDP :
			      t == 3 ? (v6 ? RULE_PROTO_ICMPV6 : RULE_PROTO_ICMP) :
				       RULE_PROTO_ANY;
		if (t == 1 || t == 2) {
			if (rnd(2)) {
				r->dport.lo = port_pool[rnd(5)];
				r->dport.hi = rnd(2) ? r->dport.lo : r->dport.lo + rnd(600);
			}
			if (rnd(4) == 0) {
				r->sport.lo = port_pool[rnd(5)];
				r->sport.hi = r->sport.lo;
			}
		}
		if (t == 1 && rnd(3) == 0) {
			r->tcp_flags_mask = rnd(2) ? 0x02 : 0x12;
			r->tcp_flags = rnd(2) ? 0x02 & r->tcp_flags_mask : 0;
		}
		if (t == 3) {
			if (rnd(2))
				r->icmp_type = v6 ? (rnd(2) ? 128 : 1) : (rnd(2) ? 8 : 3);
			if (!v6 && rnd(3) == 0) {
				r->inner_protocol = RULE_PROTO_UDP;
				r->inner_dport.lo = r->inner_dport.hi = 53;
				if (r->icmp_type != RULE_ICMP_ANY)
					r->icmp_type = 3;
			}
		}
		if (!rule_validate(r, err, sizeof(err)))
			return;
	}
}

struct tpkt {
	struct pkt p;
	struct rule_packet rp;
};

static void random_packet(struct tpkt *t)
{
	int v6 = rnd(3) == 0, k = rnd(4);
	const char *const *addrs = v6 ? v6_addrs : v4_addrs;
	const char *src = addrs[rnd(4)], *dst = addrs[rnd(4)];
	__u16 sp = port_pool[rnd(5)] + rnd(2) * rnd(600),
	      dp = port_pool[rnd(5)] + rnd(2) * rnd(600);
	__u8 flags = rnd(2) ? PKT_SYN : PKT_ACK;
	struct rule_packet *rp = &t->rp;

	memset(rp, 0, sizeof(*rp));
	pkt_addr(src, rp->src);
	pkt_addr(dst, rp->dst);
	rp->family = v6 ? 6 : 4;
	if (k == 0) {
		(v6 ? pkt_tcp6 : pkt_tcp4)(&t->p, src, sp, dst, dp, flags, 1, 1, 100, 0);
		rp->proto = IPPROTO_TCP;
		rp->sport = sp;
		rp->dport = dp;
		rp->tcp_flags = flags;
	} else if (k == 1) {
		(v6 ? pkt_udp6 : pkt_udp4)(&t->p, src, sp, dst, dp, 0);
		rp->proto = IPPROTO_UDP;
		rp->sport = sp;
		rp->dport = dp;
	} else if (k == 2 || v6) {
		__u8 type = v6 ? (rnd(2) ? 128 : 129) : (rnd(2) ? 8 : 0);

		(v6 ? pkt_echo6 : pkt_echo4)(&t->p, src, dst, type, 9, 1);
		rp->proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
		rp->icmp_type = type;
	} else {
		struct pkt inner;
		__u16 idp = rnd(2) ? 53 : 54;

		pkt_init(&inner);
		pkt_ipv4(&inner, dst, "10.0.0.2", IPPROTO_UDP, 1, 0);
		pkt_udp(&inner, 4444, idp);
		pkt_finish(&inner);
		pkt_icmp_err4(&t->p, src, dst, 3, 3, &inner);
		rp->proto = IPPROTO_ICMP;
		rp->icmp_type = 3;
		rp->icmp_code = 3;
		rp->inner_valid = true;
		pkt_addr(dst, rp->inner_src);
		pkt_addr("10.0.0.2", rp->inner_dst);
		rp->inner_proto = IPPROTO_UDP;
		rp->inner_sport = 4444;
		rp->inner_dport = idp;
	}
}

static bool test_differential_vs_reference(struct tenv *e)
{
	static struct tpkt pk[64];
	struct rs_env s;
	bool ok = true;
	int round, i, k, mismatches = 0;
	__u64 now = (__u64)time(NULL);

	if (!setup(e, &s))
		return false;
	for (i = 0; i < 64; i++)
		random_packet(&pk[i]);
	for (round = 0; ok && round < 30; round++) {
		s.n = 1 + rnd(24);
		for (i = 0; i < (int)s.n; i++)
			random_rule(&s.r[i], i + 1);
		ok = apply(&s);
		/* Twice: the first evaluates, the second may come from the cache. */
		for (k = 0; ok && k < 2; k++) {
			for (i = 0; i < 64; i++) {
				long w = rule_set_eval(s.r, s.n, &pk[i].rp, now);
				int want =
					w >= 0 && s.r[w].action == RULE_ACTION_DROP ? DROP : PASS;
				int got = xdp(e, &pk[i].p);

				if (got != want && mismatches++ < 5)
					fprintf(stderr,
						"  round %d pass %d packet %d: got %d want %d "
						"(deciding rule id %ld)\n",
						round, k, i, got, want,
						w >= 0 ? (long)s.r[w].id : -1L);
			}
		}
	}
	ok = ok && ASSERT_EQ(mismatches, 0, "kernel verdicts equal the reference matcher's");
	done(&s);
	return ok;
}

/* ---- the collector's restore from the rules file ---- */

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

/*
 * rule_set_restore_file() on maps pinned in a private bpffs directory, as
 * the collector runs it after the load: a valid file is enforced (also
 * over a live set), a damaged one is an error that leaves the live set.
 */
static bool test_restore_from_file(struct tenv *e)
{
	char dir[] = "/sys/fs/bpf/guarder-test-km-XXXXXX", fdir[] = "/tmp/gdr-km-XXXXXX";
	char path[256], file[256], cmd[600];
	struct guarder_config cfg;
	struct bpf_map *m;
	struct rule_set *rs = NULL;
	struct pkt p;
	bool ok = true;

	if (!mkdtemp(dir) || !mkdtemp(fdir))
		return ASSERT_TRUE(0, "temp dirs");
	bpf_object__for_each_map(m, e->skel->obj)
	{
		if (bpf_map__is_internal(m))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(m));
		ok = ok && ASSERT_OK(bpf_map__pin(m, path), "pin");
	}
	snprintf(file, sizeof(file), "%s/rules.json", fdir);
	ok = ok && ASSERT_OK(config_init(&cfg), "config_init");
	if (!ok)
		goto out;
	free(cfg.rules.file);
	cfg.rules.file = strdup(file);
	free(cfg.bpf.pin_path);
	cfg.bpf.pin_path = strdup(dir);
	cfg.rules.n_protected_ports = 1;
	cfg.rules.protected_ports[0].first = 22;
	cfg.rules.protected_ports[0].last = 23;
	cfg.rules.n_protected_networks = 1;
	net_parse("10.4.9.0/24", 0, &cfg.rules.protected_networks[0], NULL, 0);

	pkt_udp4(&p, "10.4.0.1", 1000, "10.0.0.2", 53, 0);
	ok = ASSERT_OK(rule_set_restore_file(&cfg), "missing file = empty set") &&
	     ASSERT_EQ(xdp(e, &p), PASS, "nothing dropped");
	ok = ok &&
	     write_file(file, "{\"version\":1,\"next_id\":2,\"rules\":[{\"id\":1,"
			      "\"action\":\"drop\",\"src_ip\":\"10.4.0.0/16\","
			      "\"enabled\":true}]}") &&
	     ASSERT_OK(rule_set_restore_file(&cfg), "valid file") &&
	     ASSERT_EQ(xdp(e, &p), DROP, "its rule is enforced");
	pkt_tcp4(&p, "10.4.0.1", 1000, "10.0.0.2", 23, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "protected port range from the config");
	pkt_udp4(&p, "10.4.9.7", 1000, "10.0.0.2", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), PASS, "protected network from the config");
	pkt_udp4(&p, "10.4.10.7", 1000, "10.0.0.2", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "next to it: dropped");
	ok = ok && ASSERT_OK(rule_set_open(dir, &rs), "open by pins") &&
	     ASSERT_EQ(rule_set_generation(rs), 2, "two applies");
	ok = ok &&
	     write_file(file, "{\"version\":1,\"next_id\":2,\"rules\":[{\"id\":1,"
			      "\"action\":\"dorp\"}]}") &&
	     ASSERT_EQ(rule_set_restore_file(&cfg), -EINVAL, "damaged file refused") &&
	     ASSERT_EQ(rule_set_generation(rs), 2, "live set untouched");
	pkt_udp4(&p, "10.4.0.1", 1000, "10.0.0.2", 53, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), DROP, "old rule still enforced");
	rule_set_close(rs);
	config_free(&cfg);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, fdir);
	if (system(cmd))
		ok = ASSERT_TRUE(0, "cleanup");
	return ok;
}

/* ---- atomic swap under concurrent runs ---- */

struct swap_ctx {
	struct tenv *e;
	struct pkt p;
	int stop;
	long pass, drop, bad;
};

/*
 * Reads counters through the same rule_set while another thread applies
 * (two readers: the id index is rebuilt after each swap).
 */
struct reader_ctx {
	struct rule_set *rs;
	int stop;
	long reads, errors;
};

static void *reader(void *arg)
{
	struct reader_ctx *c = arg;
	struct rule_counters rc[80];
	__u32 ids[80];
	int i;

	for (i = 0; i < 80; i++)
		ids[i] = 1 + i % 3;
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		struct rule_counters one;

		if (rule_set_counters(c->rs, 1, &one) ||
		    rule_set_counters_many(c->rs, ids, 80, rc, NULL))
			c->errors++;
		c->reads++;
	}
	return NULL;
}

static void *runner(void *arg)
{
	struct swap_ctx *c = arg;
	long pass = 0, drop = 0, bad = 0;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		int v = run_xdp(c->e, &c->p);

		if (v == XDP_PASS)
			pass++;
		else if (v == XDP_DROP)
			drop++;
		else
			bad++;
	}
	__atomic_add_fetch(&c->pass, pass, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->drop, drop, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->bad, bad, __ATOMIC_RELAXED);
	return NULL;
}

/*
 * Set A: allow (id 1) before drop (id 2); set B: the same two rules with
 * their priorities swapped, plus id 3 (drop, a third shape, ranked last
 * in both). Every packet is decided by exactly one rule of one set: the
 * passes equal id 1's hits, the drops id 2's hits and the global drop
 * counter, and id 3 never decides. A packet that mixed the halves (shapes
 * of one set, ranks of the other) would break one of these equalities
 * or be decided by id 3.
 */
static bool test_swap_counters_consistent(struct tenv *e)
{
	struct rs_env s;
	struct swap_ctx c = { .e = e };
	struct reader_ctx rd = { 0 }, rd2 = { 0 };
	pthread_t th[2], rth, rth2;
	int i, swaps = 0, rc = 0;
	bool ok;

	if (!setup(e, &s))
		return false;
	ok = add(&s, "{\"id\":1,\"action\":\"allow\",\"src_ip\":\"10.0.0.1\",\"priority\":1,"
		     "\"enabled\":true}") &&
	     add(&s,
		 "{\"id\":2,\"action\":\"drop\",\"dst_ip\":\"10.0.0.0/24\",\"rule_type\":\"udp\","
		 "\"priority\":2,\"enabled\":true}") &&
	     add(&s, "{\"id\":3,\"action\":\"drop\",\"src_ip\":\"10.0.0.0/8\",\"priority\":3,"
		     "\"enabled\":true}") &&
	     apply(&s);
	if (!ok) {
		done(&s);
		return false;
	}
	pkt_udp4(&c.p, "10.0.0.1", 1111, "10.0.0.2", 2222, 0);
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, runner, &c);
	rd.rs = s.rs;
	rd2.rs = s.rs;
	pthread_create(&rth, NULL, reader, &rd);
	pthread_create(&rth2, NULL, reader, &rd2);
	/* 60 swaps while the runners run. */
	while (swaps < 60) {
		s.r[0].priority = swaps % 2 ? 1 : 2;
		s.r[1].priority = swaps % 2 ? 2 : 1;
		rc = rule_set_apply(s.rs, s.r, s.n, NULL, (__u64)time(NULL), NULL, 0);
		if (rc)
			break;
		swaps++;
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&rd.stop, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&rd2.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_join(rth, NULL);
	pthread_join(rth2, NULL);
	fprintf(stderr, "  %d swaps, %ld passes, %ld drops, %ld counter reads\n", swaps, c.pass,
		c.drop, rd.reads);
	ok = ASSERT_OK(rc, "applies") && ASSERT_EQ(c.bad, 0, "runs failed") &&
	     ASSERT_EQ(rd.errors + rd2.errors, 0, "counter reads during the swaps") &&
	     ASSERT_EQ(swaps, 60, "60 swaps during the runs") &&
	     ASSERT_TRUE(c.pass + c.drop > 1000, "many runs") &&
	     ASSERT_EQ(hits(&s, 1), c.pass, "passes = hits of the allow rule") &&
	     ASSERT_EQ(hits(&s, 2), c.drop, "drops = hits of the drop rule") &&
	     ASSERT_EQ(hits(&s, 3), 0, "the last rule never decided") &&
	     ASSERT_EQ(dropped(e), c.drop, "global drop counter") &&
	     ASSERT_TRUE(c.pass > 0 && c.drop > 0, "both sets were seen");
	done(&s);
	return ok;
}

/*
 * Sets A and B drop the same packets through different rules, shapes and
 * keys: A by source address, B by destination address and port. Both
 * need the TCP flags, so no verdict is cached and every packet is
 * matched while the sets swap. Any view mixing the two halves (A's
 * shapes with B's table, a half being rewritten, a missing entry) finds
 * no rule and passes the packet: one pass fails the test. Writing the
 * live half in place, or flipping before writing, fails it.
 */
static bool test_atomic_swap_no_mixed_view(struct tenv *e)
{
	struct rs_env a, b;
	struct swap_ctx c = { .e = e };
	pthread_t th[2];
	int i, swaps = 0, rc = 0;
	bool ok;

	if (!setup(e, &a))
		return false;
	b = a;
	b.n = 0;
	ok = add(&a, "{\"id\":1,\"rule_type\":\"tcp\",\"src_ip\":\"10.0.0.1\",\"tcp_flags\":2,"
		     "\"action\":\"drop\",\"enabled\":true}") &&
	     add(&a, "{\"id\":3,\"action\":\"allow\",\"src_ip\":\"10.0.0.0/8\",\"priority\":200,"
		     "\"enabled\":true}") &&
	     add(&b, "{\"id\":2,\"rule_type\":\"tcp\",\"dst_ip\":\"10.0.0.2\",\"dst_port\":80,"
		     "\"tcp_flags\":2,\"action\":\"drop\",\"enabled\":true}") &&
	     add(&b, "{\"id\":4,\"action\":\"allow\",\"dst_ip\":\"10.0.0.0/16\",\"priority\":200,"
		     "\"enabled\":true}") &&
	     apply(&a);
	if (!ok) {
		done(&a);
		return false;
	}
	pkt_tcp4(&c.p, "10.0.0.1", 1111, "10.0.0.2", 80, PKT_SYN, 1, 0, 100, 0);
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, runner, &c);
	while (swaps < 60) {
		struct rs_env *s = swaps % 2 ? &a : &b;

		rc = rule_set_apply(a.rs, s->r, s->n, NULL, (__u64)time(NULL), NULL, 0);
		if (rc)
			break;
		swaps++;
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "  %d swaps, %ld passes, %ld drops\n", swaps, c.pass, c.drop);
	ok = ASSERT_OK(rc, "applies") && ASSERT_EQ(swaps, 60, "60 swaps during the runs") &&
	     ASSERT_EQ(c.bad, 0, "runs failed") && ASSERT_TRUE(c.drop > 1000, "many runs") &&
	     ASSERT_EQ(c.pass, 0, "no packet saw a mix of the two sets") &&
	     ASSERT_EQ(dropped(e), c.drop, "global drop counter");
	done(&a);
	return ok;
}

int main(void)
{
	static const struct test_case cases[] = {
		TEST(no_rules_pass),
		TEST(src_cidr_v4_and_direction),
		TEST(dst_cidr_and_boundaries),
		TEST(ports_and_ranges),
		TEST(priority_then_id),
		TEST(ipv6_and_family),
		TEST(disabled_and_expired_ignored),
		TEST(protected_win),
		TEST(icmpv6_rules_and_protected_v6),
		TEST(tc_gso_drop_counts_segments),
		TEST(icmp_code_and_inner_src),
		TEST(defect_icmp_type0_rule),
		TEST(defect_inner_rule),
		TEST(defect_tcp_flags_zero),
		TEST(defect_tcp_rule_other_protocols),
		TEST(defect_allow_stops),
		TEST(defect_icmp_counted_before_filter),
		TEST(cache_invalidated_by_swap),
		TEST(counters_per_rule),
		TEST(drop_events_once_per_flow),
		TEST(tc_egress_drop),
		TEST(apply_errors_keep_old_set),
		TEST(differential_vs_reference),
		TEST(swap_counters_consistent),
		TEST(atomic_swap_no_mixed_view),
		TEST(restore_from_file),
	};

	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}
