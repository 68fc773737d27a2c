// SPDX-License-Identifier: GPL-2.0
/*
 * guarder-ai's detectors on crafted records (written by the collector's
 * formatter, parsed by the worker's parser): each attack gives exactly
 * the expected finding with the expected rule, traffic just below a
 * threshold and a normal mix give none, a finding is not repeated within
 * its window but is after it, windows expire, the tables never exceed
 * ai.max_tracked, and the suggestion record says what the finding says.
 *
 * "test_ai_detect --print" prints one suggestion of every kind (and a
 * policy-rejected one) for test_ai_suggestion_schema.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "ai/detect.h"
#include "ai/flowrec.h"
#include "ai/suggest.h"
#include "ai/summary.h"
#include "lib/ai_policy.h"
#include "test_ai_util.h"

#define MAX_FOUND 64

static struct ai_finding found[MAX_FOUND];
static size_t n_found;

static void collect(const struct ai_finding *f, void *ctx)
{
	(void)ctx;
	if (n_found < MAX_FOUND)
		found[n_found] = *f;
	n_found++;
}

static struct guarder_config cfg;
static struct ai_engine eng;

static void setup(void)
{
	ai_engine_free(&eng);
	if (ai_engine_init(&eng, &cfg, collect, NULL)) {
		fprintf(stderr, "ai_engine_init failed\n");
		exit(1);
	}
	n_found = 0;
}

static void feed(const struct test_flow *tf)
{
	char buf[RECORD_JSON_MAX], err[128];
	struct ai_flow f;
	int n = test_record_text(tf, buf, sizeof(buf));

	if (ai_flow_parse(buf, (size_t)n, &f, err, sizeof(err))) {
		fprintf(stderr, "the parser refused a formatted record (%s): %s\n", err, buf);
		failures++;
		return;
	}
	ai_engine_feed(&eng, &f);
}

static void v4(const char *fmt, unsigned int i, char *buf, size_t len)
{
	snprintf(buf, len, fmt, (i >> 8) & 0xff, i & 0xff);
}

/* check_host - @a is a full-length prefix of @text. */
static bool is_host(const struct net_prefix *a, const char *text)
{
	__u32 x[4];

	test_addr(text, x);
	return a->prefix == 128 && !memcmp(a->addr, x, 16) &&
	       a->family == (strchr(text, ':') ? 6 : 4);
}

static bool is_any(const struct net_prefix *a)
{
	return a->family == 0;
}

/* common - the invariants of every detector rule. */
static void check_rule_common(const struct rule *r)
{
	char err[RULE_ERR_LEN];
	__u64 now = (__u64)time(NULL);

	CHECK(rule_validate(r, err, sizeof(err)) == 0);
	CHECK(r->action == RULE_ACTION_DROP && r->enabled);
	CHECK(r->expires_at >= now + cfg.ai.rule_ttl - 5 &&
	      r->expires_at <= now + cfg.ai.rule_ttl + 5);
	CHECK(!rule_is_match_all(r));
}

static void check_one(enum ai_kind k, size_t n_rules)
{
	size_t i;

	CHECK(n_found == 1);
	if (n_found != 1) {
		fprintf(stderr, "  %zu findings for %s\n", n_found, ai_kind_name(k));
		return;
	}
	CHECK(found[0].kind == k);
	CHECK(found[0].n_rules == n_rules);
	CHECK(found[0].confidence >= 0.5 && found[0].confidence <= 0.99);
	CHECK(!strcmp(found[0].node, "edge-1"));
	for (i = 0; i < found[0].n_rules; i++)
		check_rule_common(&found[0].rules[i]);
}

static void scan_ports(const char *src, const char *dst, unsigned int first, unsigned int n,
		       __u32 t, __u8 proto)
{
	unsigned int p;

	for (p = first; p < first + n; p++) {
		struct test_flow tf = { .ev = REC_START,
					.src = src,
					.dst = dst,
					.sport = 40000,
					.dport = (__u16)p,
					.proto = proto,
					.fwd_packets = 1,
					.fwd_bytes = 60,
					.fwd_flags = proto == 6 ? 0x02 : 0,
					.t = t };

		feed(&tf);
	}
}

static void test_vertical_scan(void)
{
	const struct rule *r;

	setup();
	scan_ports("10.0.0.66", "10.0.0.2", 1, 85, AI_T0, 6);
	CHECK(n_found == 0); /* just below the threshold of 100 */
	scan_ports("10.0.0.66", "10.0.0.2", 1000, 200, AI_T0 + 2, 6);
	check_one(AI_PORT_SCAN_VERTICAL, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_TCP && r->protocol == RULE_PROTO_TCP);
	CHECK(is_host(&r->src, "10.0.0.66") && is_host(&r->dst, "10.0.0.2"));
	CHECK(r->sport.lo == 0 && r->dport.lo == 0 && r->dport.hi == 0);
	CHECK(!strcmp(found[0].offender, "10.0.0.66"));
	CHECK(found[0].confidence == 0.97); /* crossed 2 s into a 60 s window */

	/* the same scan again within the window: not re-proposed */
	scan_ports("10.0.0.66", "10.0.0.2", 2000, 300, AI_T0 + 30, 6);
	CHECK(n_found == 1);
	/* after the window it is a new finding */
	scan_ports("10.0.0.66", "10.0.0.2", 3000, 150, AI_T0 + 61, 6);
	CHECK(n_found == 2);

	/* UDP, IPv6 */
	setup();
	scan_ports("2001:db8::66", "2001:db8::2", 1, 150, AI_T0, 17);
	check_one(AI_PORT_SCAN_VERTICAL, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_UDP && is_host(&r->src, "2001:db8::66") &&
	      is_host(&r->dst, "2001:db8::2"));
}

static void test_window_expiry(void)
{
	setup();
	/* 70 ports, then 70 more 61 s later: never 100 within one window */
	scan_ports("10.0.0.67", "10.0.0.2", 1, 70, AI_T0, 6);
	scan_ports("10.0.0.67", "10.0.0.2", 500, 70, AI_T0 + 61, 6);
	CHECK(n_found == 0);
	/* ... but 70 + 70 within 59 s is a scan */
	scan_ports("10.0.0.67", "10.0.0.2", 1000, 70, AI_T0 + 61 + 59, 6);
	CHECK(n_found == 1);
}

static void test_horizontal_scan(void)
{
	char dst[32];
	unsigned int i;
	const struct rule *r;

	setup();
	for (i = 1; i <= 45; i++) {
		struct test_flow tf = { .ev = REC_START,
					.src = "10.9.9.9",
					.dst = dst,
					.sport = 50000,
					.dport = 445,
					.proto = 6,
					.fwd_packets = 1,
					.fwd_bytes = 60,
					.fwd_flags = 0x02,
					.t = AI_T0 };

		v4("10.1.%u.%u", i, dst, sizeof(dst));
		feed(&tf);
	}
	CHECK(n_found == 0); /* 45 < 50 */
	for (i = 100; i < 200; i++) {
		struct test_flow tf = { .ev = REC_START,
					.src = "10.9.9.9",
					.dst = dst,
					.sport = 50000,
					.dport = 445,
					.proto = 6,
					.fwd_packets = 1,
					.fwd_bytes = 60,
					.fwd_flags = 0x02,
					.t = AI_T0 + 1 };

		v4("10.1.%u.%u", i, dst, sizeof(dst));
		feed(&tf);
	}
	check_one(AI_PORT_SCAN_HORIZONTAL, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_TCP && is_host(&r->src, "10.9.9.9") && is_any(&r->dst));
	CHECK(r->dport.lo == 445 && r->dport.hi == 445);
}

/* half_open - @n TCP flows src -> dst:port that never completed. */
static void tcp_ends(const char *src, const char *dst, __u16 port, unsigned int n, bool complete,
		     __u32 t)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct test_flow tf = { .ev = REC_END,
					.src = src,
					.dst = dst,
					.sport = (__u16)(20000 + i),
					.dport = port,
					.proto = 6,
					.fwd_packets = complete ? 6 : 1,
					.fwd_bytes = complete ? 500 : 60,
					.fwd_flags = complete ? 0x1b : 0x02,
					.rev_packets = 1,
					.rev_bytes = 60,
					.rev_flags = complete ? 0x1b : 0x12,
					.t = t };

		feed(&tf);
	}
}

static void test_syn_flood(void)
{
	const struct rule *r;
	char src[32];
	unsigned int i;

	setup();
	tcp_ends("203.0.113.7", "10.0.0.2", 80, 199, false, AI_T0);
	CHECK(n_found == 0);
	tcp_ends("203.0.113.7", "10.0.0.2", 80, 1, false, AI_T0 + 3);
	check_one(AI_SYN_FLOOD, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_TCP && is_host(&r->src, "203.0.113.7") &&
	      is_host(&r->dst, "10.0.0.2") && r->dport.lo == 80 && r->dport.hi == 80);
	CHECK(r->tcp_flags_mask == 0);

	/* many handshakes completed: a busy service, not a flood */
	setup();
	tcp_ends("203.0.113.8", "10.0.0.2", 80, 100, true, AI_T0);
	tcp_ends("203.0.113.8", "10.0.0.2", 80, 300, false, AI_T0);
	CHECK(n_found == 0); /* 100 / 400 = 25% completed > 20% */

	/* spread over many sources: one rule for new handshakes to the service */
	setup();
	for (i = 0; i < 250; i++) {
		v4("198.18.%u.%u", i + 1, src, sizeof(src));
		tcp_ends(src, "10.0.0.2", 443, 1, false, AI_T0);
	}
	check_one(AI_SYN_FLOOD, 1);
	r = &found[0].rules[0];
	CHECK(is_any(&r->src) && is_host(&r->dst, "10.0.0.2") && r->dport.lo == 443);
	CHECK(r->tcp_flags == 0x02 && r->tcp_flags_mask == 0x12);
	CHECK(!strcmp(found[0].offender, "distributed"));
}

static void test_brute_force(void)
{
	const struct rule *r;

	setup();
	tcp_ends("192.0.2.50", "10.0.0.2", 22, 19, true, AI_T0);
	tcp_ends("192.0.2.50", "10.0.0.2", 80, 100, true, AI_T0); /* web: not remote access */
	CHECK(n_found == 0);
	tcp_ends("192.0.2.50", "10.0.0.2", 22, 1, true, AI_T0 + 10);
	check_one(AI_BRUTE_FORCE, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_TCP && is_host(&r->src, "192.0.2.50") &&
	      is_host(&r->dst, "10.0.0.2") && r->dport.lo == 22 && r->dport.hi == 22);
	/* 3389 is in the default list too */
	setup();
	tcp_ends("192.0.2.51", "10.0.0.3", 3389, 25, true, AI_T0);
	check_one(AI_BRUTE_FORCE, 1);
}

static void icmp_end(const char *src, const char *dst, __u8 proto, __u64 packets, __u32 t)
{
	struct test_flow tf = { .ev = REC_END,
				.src = src,
				.dst = dst,
				.sport = 77,
				.dport = 77,
				.proto = proto,
				.fwd_packets = packets,
				.fwd_bytes = packets * 84,
				.rev_packets = packets,
				.rev_bytes = packets * 84,
				.t = t };

	feed(&tf);
}

static void test_icmp_flood(void)
{
	const struct rule *r;

	setup();
	icmp_end("10.5.5.5", "10.0.0.2", 1, 4999, AI_T0);
	CHECK(n_found == 0);
	setup();
	icmp_end("10.5.5.5", "10.0.0.2", 1, 6000, AI_T0);
	check_one(AI_ICMP_FLOOD, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_ICMP && r->protocol == RULE_PROTO_ICMP);
	CHECK(is_host(&r->src, "10.5.5.5") && is_host(&r->dst, "10.0.0.2"));
	CHECK(r->icmp_type == RULE_ICMP_ANY);
	setup();
	icmp_end("2001:db8::5", "2001:db8::2", 58, 3000, AI_T0);
	icmp_end("2001:db8::5", "2001:db8::2", 58, 3000, AI_T0 + 5);
	check_one(AI_ICMP_FLOOD, 1);
	CHECK(found[0].rules[0].protocol == RULE_PROTO_ICMPV6);
}

static void icmp_errors(const char *src, const char *dst, __u8 type, unsigned int n, __u32 t)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct test_flow tf = { .ev = REC_ICMP,
					.src = src,
					.dst = dst,
					.proto = 1,
					.fwd_packets = 1,
					.fwd_bytes = 56,
					.t = t,
					.icmp_type = type };

		feed(&tf);
	}
}

static void test_icmp_error_storm(void)
{
	const struct rule *r;

	setup();
	icmp_errors("192.0.2.1", "10.0.0.1", 3, 99, AI_T0);
	icmp_errors("192.0.2.1", "10.0.0.1", 11, 99, AI_T0); /* another type: its own count */
	CHECK(n_found == 0);
	icmp_errors("192.0.2.1", "10.0.0.1", 3, 1, AI_T0 + 1);
	check_one(AI_ICMP_ERROR_STORM, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_ICMP && is_host(&r->src, "192.0.2.1") &&
	      is_host(&r->dst, "10.0.0.1") && r->icmp_type == 3);
}

static void udp_end(const char *src, __u16 sport, const char *dst, __u16 dport, __u64 fwd_bytes,
		    __u64 rev_bytes, __u32 t)
{
	struct test_flow tf = { .ev = REC_END,
				.src = src,
				.dst = dst,
				.sport = sport,
				.dport = dport,
				.proto = 17,
				.fwd_packets = fwd_bytes / 1000 + 1,
				.fwd_bytes = fwd_bytes,
				.rev_packets = rev_bytes ? 1 : 0,
				.rev_bytes = rev_bytes,
				.t = t };

	feed(&tf);
}

static void test_reflection(void)
{
	const struct rule *r;
	unsigned int i;

	setup();
	/* the victim's own queries with big answers are not reflection */
	for (i = 0; i < 50; i++)
		udp_end("10.0.0.1", (__u16)(30000 + i), "198.51.100.5", 53, 80, 400000, AI_T0);
	for (i = 0; i < 9; i++)
		udp_end("198.51.100.5", 53, "10.0.0.1", (__u16)(1000 + i), 100000, 0, AI_T0);
	CHECK(n_found == 0); /* 900,000 < 1,000,000 bytes */
	udp_end("198.51.100.5", 53, "10.0.0.1", 2000, 100000, 0, AI_T0 + 4);
	check_one(AI_UDP_REFLECTION, 1);
	r = &found[0].rules[0];
	CHECK(r->type == RULE_TYPE_UDP && is_host(&r->src, "198.51.100.5") &&
	      is_host(&r->dst, "10.0.0.1") && r->sport.lo == 53 && r->sport.hi == 53 &&
	      r->dport.lo == 0);
}

/* test_normal_mix - clients browsing, DNS, ping, SSH sessions: no finding. */
static void test_normal_mix(void)
{
	char cl[32];
	unsigned int c, k;

	setup();
	for (c = 1; c <= 200; c++) {
		v4("172.16.%u.%u", c, cl, sizeof(cl));
		for (k = 0; k < 5; k++) {
			struct test_flow tf = { .ev = REC_START,
						.src = cl,
						.dst = "10.0.0.80",
						.sport = (__u16)(40000 + k),
						.dport = k % 2 ? 443 : 80,
						.proto = 6,
						.fwd_packets = 1,
						.fwd_bytes = 60,
						.fwd_flags = 0x02,
						.t = AI_T0 + k };

			feed(&tf);
			tf.ev = REC_END;
			tf.fwd_packets = 12;
			tf.fwd_bytes = 1500;
			tf.fwd_flags = 0x1b;
			tf.rev_packets = 20;
			tf.rev_bytes = 30000;
			tf.rev_flags = 0x1b;
			tf.t = AI_T0 + k + 1;
			feed(&tf);
		}
		udp_end(cl, (__u16)(50000 + c), "10.0.0.53", 53, 80, 300, AI_T0 + 2);
		icmp_end(cl, "10.0.0.80", 1, 4, AI_T0 + 3);
		if (c % 20 == 0)
			tcp_ends(cl, "10.0.0.22", 22, 2, true, AI_T0 + 4);
	}
	/* some flows that failed: a few RSTs, not a flood */
	tcp_ends("172.16.0.9", "10.0.0.80", 8080, 10, false, AI_T0 + 5);
	CHECK(n_found == 0);
	if (n_found)
		fprintf(stderr, "  normal mix gave %s\n", found[0].summary);
}

static void test_memory_bound(void)
{
	struct guarder_config small = cfg;
	char src[32];
	unsigned int i;

	small.ai.max_tracked = 1024;
	ai_engine_free(&eng);
	CHECK(ai_engine_init(&eng, &small, collect, NULL) == 0);
	n_found = 0;
	for (i = 0; i < 10000; i++) {
		struct test_flow tf = { .ev = REC_START,
					.src = src,
					.dst = "10.0.0.2",
					.sport = 1234,
					.dport = 80,
					.proto = 6,
					.fwd_packets = 1,
					.fwd_bytes = 60,
					.fwd_flags = 2,
					.t = AI_T0 + i / 1000 };

		snprintf(src, sizeof(src), "10.%u.%u.%u", i >> 16, (i >> 8) & 0xff, i & 0xff);
		feed(&tf);
		if (eng.src.used > 1024 || eng.pair.used > 1024 || eng.srcport.used > 1024)
			break;
	}
	CHECK(eng.src.used == 1024 && eng.pair.used == 1024 && eng.srcport.used == 1024);
	CHECK(eng.dst.used == 1);
	CHECK(eng.src.evictions == 10000 - 1024); /* all inside the window: evictions */
	CHECK(eng.src.expiries == 0);
	CHECK(ai_engine_evictions(&eng) == 3 * (10000 - 1024));
	CHECK(n_found == 0);
	/* the most recent sources are the ones kept */
	{
		struct ai_key_host k = { 0 };

		test_addr("10.0.39.15", k.addr); /* i = 9999 */
		CHECK(ai_table_find(&eng.src, &k) != NULL);
		test_addr("10.0.0.1", k.addr); /* i = 1 */
		CHECK(ai_table_find(&eng.src, &k) == NULL);
	}
	/* stale entries are recycled as expiries, not evictions */
	for (i = 0; i < 100; i++) {
		struct test_flow tf = { .ev = REC_START,
					.src = src,
					.dst = "10.0.0.2",
					.sport = 1234,
					.dport = 80,
					.proto = 6,
					.fwd_packets = 1,
					.fwd_bytes = 60,
					.fwd_flags = 2,
					.t = AI_T0 + 1000 };

		snprintf(src, sizeof(src), "10.200.0.%u", i);
		feed(&tf);
	}
	CHECK(eng.src.expiries == 100 && eng.src.evictions == 10000 - 1024);
	CHECK(ai_engine_bytes(&eng) < 2 * 1024 * 1024); /* 6 tables x 1024 entries + nodes */
	setup();
}

static void test_drop_and_nodes(void)
{
	setup();
	/* drop records are ignored (the filter acts already) */
	{
		unsigned int p;

		for (p = 1; p <= 300; p++) {
			struct test_flow tf = { .ev = REC_DROP,
						.src = "10.0.0.66",
						.dst = "10.0.0.2",
						.sport = 1,
						.dport = (__u16)p,
						.proto = 6,
						.fwd_packets = 1,
						.fwd_bytes = 60,
						.fwd_flags = 2,
						.t = AI_T0 };

			feed(&tf);
		}
	}
	CHECK(n_found == 0);
	/* per node: 60 ports seen by each of two nodes are two non-scans */
	{
		unsigned int p;

		for (p = 1; p <= 120; p++) {
			struct test_flow tf = { .ev = REC_START,
						.node = p % 2 ? "a" : "b",
						.src = "10.0.0.66",
						.dst = "10.0.0.2",
						.sport = 1,
						.dport = (__u16)p,
						.proto = 6,
						.fwd_packets = 1,
						.fwd_bytes = 60,
						.fwd_flags = 2,
						.t = AI_T0 };

			feed(&tf);
		}
	}
	CHECK(n_found == 0);
}

static void test_suggestion(void)
{
	struct json_object *s, *v, *rules;
	struct rule back;
	char err[RULE_ERR_LEN];
	bool rejected = true;

	setup();
	tcp_ends("192.0.2.50", "10.0.0.2", 22, 20, true, AI_T0);
	CHECK(n_found == 1);
	if (n_found != 1)
		return;
	CHECK(ai_suggestion_from_finding(&cfg, &found[0], &s, &rejected) == 0);
	CHECK(!rejected);
	CHECK(json_object_object_get_ex(s, "status", &v) &&
	      !strcmp(json_object_get_string(v), "proposed"));
	CHECK(!json_object_object_get_ex(s, "policy_reason", &v));
	CHECK(json_object_object_get_ex(s, "kind", &v) &&
	      !strcmp(json_object_get_string(v), "brute_force"));
	CHECK(json_object_object_get_ex(s, "origin", &v) &&
	      !strcmp(json_object_get_string(v), "detector"));
	CHECK(json_object_object_get_ex(s, "node", &v) &&
	      !strcmp(json_object_get_string(v), "edge-1"));
	CHECK(json_object_object_get_ex(s, "id", &v) && strlen(json_object_get_string(v)) == 18);
	CHECK(json_object_object_get_ex(s, "rules", &rules) &&
	      json_object_array_length(rules) == 1);
	/* the rule is what POST /api/filters takes, without id, and it round-trips */
	v = json_object_array_get_idx(rules, 0);
	CHECK(!json_object_object_get_ex(v, "id", NULL));
	CHECK(rule_from_json(v, 0, &back, NULL, err, sizeof(err)) == 0);
	back.id = found[0].rules[0].id;
	CHECK(rule_equal(&back, &found[0].rules[0]));
	json_object_put(s);

	/* the offender is in a protected network: published as rejected, with the reason */
	CHECK(net_parse("192.0.2.0/24", 0, &cfg.rules.protected_networks[0], NULL, 0) == 0);
	cfg.rules.n_protected_networks = 1;
	CHECK(ai_suggestion_from_finding(&cfg, &found[0], &s, &rejected) == 0);
	CHECK(rejected);
	CHECK(json_object_object_get_ex(s, "status", &v) &&
	      !strcmp(json_object_get_string(v), "rejected_by_policy"));
	CHECK(json_object_object_get_ex(s, "policy_reason", &v) &&
	      strstr(json_object_get_string(v), "192.0.2.0/24") != NULL);
	json_object_put(s);
	cfg.rules.n_protected_networks = 0;
}

/* test_summary - what the model is sent stays bounded and holds no record. */
static void test_summary(void)
{
	struct json_object *sum, *arr, *o, *v;
	char src[32], node[AI_NODE_MAX];
	const char *text;
	unsigned int i, k;
	size_t n;

	setup();
	for (i = 1; i <= 500; i++) {
		v4("172.20.%u.%u", i, src, sizeof(src));
		for (k = 0; k < (i % 7) + 1; k++) {
			struct test_flow tf = { .ev = REC_START,
						.src = src,
						.dst = "10.0.0.80",
						.sport = (__u16)(1000 + k),
						.dport = 80,
						.proto = 6,
						.fwd_packets = 1,
						.fwd_bytes = 60,
						.fwd_flags = 2,
						.t = AI_T0 };

			feed(&tf);
		}
	}
	for (i = 0; i < 20; i++) { /* 20 scanners: more findings than are kept */
		v4("10.9.%u.%u", i + 1, src, sizeof(src));
		scan_ports(src, "10.0.0.2", 1, 120, AI_T0 + 1, 6);
	}
	CHECK(n_found == 20);
	sum = ai_summary_build(&eng, node, sizeof(node));
	CHECK(sum != NULL);
	if (!sum)
		return;
	CHECK(!strcmp(node, "edge-1"));
	CHECK(json_object_object_get_ex(sum, "top_sources", &arr));
	n = json_object_array_length(arr);
	CHECK(n == AI_SUMMARY_TOP);
	/* sorted by flows, busiest first */
	for (i = 1; i < n; i++) {
		struct json_object *a, *b;

		json_object_object_get_ex(json_object_array_get_idx(arr, i - 1), "flows", &a);
		json_object_object_get_ex(json_object_array_get_idx(arr, i), "flows", &b);
		CHECK(json_object_get_int64(a) >= json_object_get_int64(b));
	}
	CHECK(json_object_object_get_ex(sum, "recent_findings", &arr));
	CHECK(json_object_array_length(arr) == AI_RECENT_FINDINGS);
	o = json_object_array_get_idx(arr, AI_RECENT_FINDINGS - 1);
	CHECK(o && json_object_object_get_ex(o, "kind", &v) &&
	      !strcmp(json_object_get_string(v), "port_scan_vertical"));
	text = json_object_to_json_string_ext(sum, JSON_C_TO_STRING_PLAIN);
	CHECK(strlen(text) < 16384);
	CHECK(!strstr(text, "first_seen") && !strstr(text, "\"key\"") && !strstr(text, "|"));
	json_object_put(sum);
}

/* print_samples - one suggestion per kind, a rejected one and a model one. */
static int print_samples(void)
{
	struct json_object *s;
	bool rejected;
	size_t i;
	char src[32];
	struct rule mr;

	n_found = 0;
	setup();
	scan_ports("10.0.0.66", "10.0.0.2", 1, 150, AI_T0, 6);
	for (i = 1; i <= 60; i++) {
		struct test_flow tf = { .ev = REC_START,
					.src = "10.9.9.9",
					.dst = src,
					.sport = 5,
					.dport = 445,
					.proto = 6,
					.fwd_packets = 1,
					.fwd_bytes = 60,
					.fwd_flags = 2,
					.t = AI_T0 };

		v4("10.1.%u.%u", (unsigned int)i, src, sizeof(src));
		feed(&tf);
	}
	tcp_ends("203.0.113.7", "10.0.0.2", 80, 200, false, AI_T0);
	tcp_ends("192.0.2.50", "10.0.0.2", 22, 20, true, AI_T0);
	icmp_end("2001:db8::5", "2001:db8::2", 58, 6000, AI_T0);
	icmp_errors("192.0.2.1", "10.0.0.1", 3, 100, AI_T0);
	for (i = 0; i < 10; i++)
		udp_end("198.51.100.5", 53, "10.0.0.1", (__u16)(1000 + i), 100000, 0, AI_T0);
	for (i = 0; i < n_found && i < MAX_FOUND; i++) {
		if (ai_suggestion_from_finding(&cfg, &found[i], &s, &rejected))
			return 1;
		printf("%s\n", json_object_to_json_string_ext(
				       s, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(s);
	}
	/* a model proposal with a match-all drop: rejected by the policy */
	rule_init(&mr);
	mr.type = RULE_TYPE_TCP;
	mr.protocol = RULE_PROTO_TCP;
	mr.enabled = true;
	mr.expires_at = (__u64)time(NULL) + 3600;
	{
		struct ai_suggestion_in in = { .origin = "model",
					       .kind = "model",
					       .node = "edge-1",
					       .confidence = 0.6,
					       .summary = "drop all tcp",
					       .rules = &mr,
					       .n_rules = 1 };

		if (ai_suggestion_build(&cfg, &in, &s, &rejected) || !rejected)
			return 1;
		printf("%s\n", json_object_to_json_string_ext(
				       s, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(s);
	}
	ai_engine_free(&eng);
	config_free(&cfg);
	return 0;
}

int main(int argc, char **argv)
{
	test_ai_config(&cfg);
	if (argc > 1 && !strcmp(argv[1], "--print"))
		return print_samples();
	test_vertical_scan();
	test_window_expiry();
	test_horizontal_scan();
	test_syn_flood();
	test_brute_force();
	test_icmp_flood();
	test_icmp_error_storm();
	test_reflection();
	test_normal_mix();
	test_memory_bound();
	test_drop_and_nodes();
	test_suggestion();
	test_summary();
	ai_engine_free(&eng);
	config_free(&cfg);
	return check_report("test_ai_detect");
}
