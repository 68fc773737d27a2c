/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the guarder-ai unit tests share: flow records written by the
 * collector's own formatter (lib/record.c), so the worker is tested on
 * exactly the text it will read, and a config with small thresholds.
 */
#ifndef GUARDER_TEST_AI_UTIL_H
#define GUARDER_TEST_AI_UTIL_H

#include <string.h>

#include "check.h"
#include "kernel/conn_tracker.h"
#include "lib/config.h"
#include "lib/record.h"

#define AI_NS 1000000000ull
#define AI_T0 1800000000u /* 2027-01-15T08:00:00Z: any fixed second */

struct test_flow {
	enum record_event ev;
	const char *node;
	const char *src, *dst;
	__u16 sport, dport;
	__u8 proto;
	__u64 fwd_packets, fwd_bytes, rev_packets, rev_bytes;
	__u8 fwd_flags, rev_flags;
	__u32 t; /* unix seconds of last_seen (first_seen one second before) */
	__u8 icmp_type, icmp_code;
};

/* test_record_text - @f as the collector would publish it; returns the length. */
static inline int test_record_text(const struct test_flow *f, char *buf, size_t len)
{
	struct flow_record r;
	__u32 s[4], d[4];
	int dir, n;

	memset(&r, 0, sizeof(r));
	test_addr(f->src, s);
	test_addr(f->dst, d);
	if (f->ev == REC_ICMP) {
		/* an error record: src is its sender; the key is that of the packet */
		dir = flow_key_make(&r.key, s, 0, d, 0, f->proto, strchr(f->src, ':') ? 6 : 4);
		r.icmp_type = f->icmp_type;
		r.icmp_code = f->icmp_code;
	} else {
		dir = flow_key_make(&r.key, s, f->sport, d, f->dport, f->proto,
				    strchr(f->src, ':') ? 6 : 4);
	}
	r.event = f->ev;
	r.end_reason = f->ev == REC_END ? REC_END_IDLE : REC_END_NONE;
	r.node = f->node ? f->node : "edge-1";
	r.iface = "veth0";
	r.initiator = (uint8_t)dir;
	r.value.initiator = (uint8_t)dir;
	r.value.dir[dir].packets = f->fwd_packets;
	r.value.dir[dir].bytes = f->fwd_bytes;
	r.value.dir[dir].tcp_flags = f->fwd_flags;
	r.value.dir[!dir].packets = f->rev_packets;
	r.value.dir[!dir].bytes = f->rev_bytes;
	r.value.dir[!dir].tcp_flags = f->rev_flags;
	r.first_seen_wall_ns = (__u64)(f->t - 1) * AI_NS + 5;
	r.last_seen_wall_ns = (__u64)f->t * AI_NS + 7;
	if (f->ev == REC_DROP)
		r.rule_id = 3;
	n = record_format_json(&r, buf, len);
	if (n < 0) {
		fprintf(stderr, "record_format_json failed\n");
		exit(1);
	}
	return n;
}

/* test_ai_config - defaults with small thresholds the tests can reach. */
static inline void test_ai_config(struct guarder_config *cfg)
{
	if (config_init(cfg)) {
		fprintf(stderr, "config_init failed\n");
		exit(1);
	}
	cfg->ai.window = 60;
	cfg->ai.max_tracked = 4096;
	cfg->ai.scan_ports = 100;
	cfg->ai.scan_hosts = 50;
	cfg->ai.syn_flood_syns = 200;
	cfg->ai.syn_flood_max_completed_pct = 20;
	cfg->ai.brute_force_attempts = 20;
	cfg->ai.icmp_flood_packets = 5000;
	cfg->ai.icmp_error_storm = 100;
	cfg->ai.reflection_bytes = 1000000;
}

#endif /* GUARDER_TEST_AI_UTIL_H */
