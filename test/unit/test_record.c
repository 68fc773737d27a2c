// SPDX-License-Identifier: GPL-2.0
/*
 * Flow record formatting, parsed back with json-c: fields, types, the
 * initiator's side as src, escaping of odd names, the buffer bound.
 *
 * "test_record --print" writes a set of sample records, one per line, for
 * test_record_schema.py to validate against docs/record.schema.json.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/net.h"
#include "lib/record.h"
#include "lib/timeconv.h"
#include "check.h"

#define NS 1000000000ull
#define T0 (1700000000ull * NS + 123456789ull) /* 2023-11-14T22:13:20.123456789Z */

/*
 * A record for a packet src:sport -> dst:dport (the initiator's first
 * packet), with counters: fwd (initiator -> responder) and rev.
 */
static void make_rec(struct flow_record *r, enum record_event ev, const char *src, __u16 sport,
		     const char *dst, __u16 dport, __u8 proto)
{
	__u32 s[4], d[4];
	int dir, f;

	memset(r, 0, sizeof(*r));
	test_addr(src, s);
	test_addr(dst, d);
	dir = flow_key_make(&r->key, s, sport, d, dport, proto, strchr(src, ':') ? 6 : 4);
	r->event = ev;
	r->node = "node-1";
	r->iface = "veth0";
	r->initiator = (uint8_t)dir;
	r->value.initiator = (uint8_t)dir;
	f = dir;
	r->value.dir[f].packets = 10;
	r->value.dir[f].bytes = 1000;
	r->value.dir[f].tcp_flags = 0x02 | 0x10 | 0x01; /* SYN ACK FIN */
	r->value.dir[f].retransmits = 2;
	r->value.dir[f].seq_next = 4000000000u;
	r->value.dir[f].ack = 77;
	r->value.dir[f].window = 65535;
	r->value.dir[f].dflags = FLOW_DIR_SEQ_VALID | FLOW_DIR_FIN;
	r->value.dir[!f].packets = 7;
	r->value.dir[!f].bytes = 5000;
	r->value.dir[!f].tcp_flags = 0x12; /* SYN ACK */
	r->value.dir[!f].dup_acks = 3;
	r->value.out_of_order = 4;
	r->value.zero_windows = 5;
	r->value.ip_id = 4242;
	r->first_seen_wall_ns = T0;
	r->last_seen_wall_ns = T0 + 2500000000ull; /* 2.5 s later */
}

static json_object *parse(const char *text)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)strlen(text)) {
		fprintf(stderr, "not one JSON value: %s\n", text);
		failures++;
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static json_object *get(json_object *o, const char *path)
{
	char buf[128], *save = NULL, *part;
	json_object *cur = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part && cur; part = strtok_r(NULL, ".", &save)) {
		if (!json_object_object_get_ex(cur, part, &cur))
			return NULL;
	}
	return cur;
}

static void want_int(json_object *o, const char *path, int64_t v)
{
	json_object *f = get(o, path);

	if (!f || !json_object_is_type(f, json_type_int) || json_object_get_int64(f) != v) {
		fprintf(stderr, "%s: got %s, want %lld\n", path,
			f ? json_object_to_json_string(f) : "(absent)", (long long)v);
		failures++;
	}
}

static void want_str(json_object *o, const char *path, const char *v)
{
	json_object *f = get(o, path);

	if (!f || !json_object_is_type(f, json_type_string) ||
	    strcmp(json_object_get_string(f), v)) {
		fprintf(stderr, "%s: got %s, want \"%s\"\n", path,
			f ? json_object_to_json_string(f) : "(absent)", v);
		failures++;
	}
}

static void want_null(json_object *o, const char *path)
{
	json_object *f;

	if (!json_object_object_get_ex(o, path, &f) || f != NULL) {
		fprintf(stderr, "%s: want null\n", path);
		failures++;
	}
}

static void want_absent(json_object *o, const char *path)
{
	if (get(o, path)) {
		fprintf(stderr, "%s: want absent\n", path);
		failures++;
	}
}

static json_object *format_parse(const struct flow_record *r)
{
	char buf[RECORD_JSON_MAX];
	int n = record_format_json(r, buf, sizeof(buf));

	CHECK(n > 0 && n == (int)strlen(buf));
	CHECK(!strchr(buf, '\n'));
	return n > 0 ? parse(buf) : NULL;
}

static void test_tcp_v4(int initiator_hi)
{
	struct flow_record r;
	json_object *o;

	/* initiator_hi: the client sorts after the server, so initiator = 1 */
	if (initiator_hi)
		make_rec(&r, REC_END, "10.0.0.9", 40000, "10.0.0.2", 80, 6);
	else
		make_rec(&r, REC_END, "10.0.0.1", 40000, "10.0.0.2", 80, 6);
	CHECK(r.initiator == (initiator_hi ? 1 : 0));
	r.end_reason = REC_END_FIN;
	o = format_parse(&r);
	if (!o)
		return;
	want_int(o, "schema_version", 1);
	want_str(o, "event", "end");
	want_str(o, "end_reason", "fin");
	want_str(o, "node", "node-1");
	want_str(o, "iface", "veth0");
	want_str(o, "key",
		 initiator_hi ? "6|10.0.0.2|80|10.0.0.9|40000" : "6|10.0.0.1|40000|10.0.0.2|80");
	want_str(o, "proto", "tcp");
	want_int(o, "proto_num", 6);
	want_int(o, "family", 4);
	want_str(o, "src_ip", initiator_hi ? "10.0.0.9" : "10.0.0.1");
	want_int(o, "src_port", 40000);
	want_str(o, "dst_ip", "10.0.0.2");
	want_int(o, "dst_port", 80);
	want_int(o, "fwd.packets", 10);
	want_int(o, "fwd.bytes", 1000);
	want_int(o, "fwd.tcp_flags", 0x13);
	want_int(o, "fwd.retransmits", 2);
	want_int(o, "fwd.dup_acks", 0);
	want_int(o, "rev.packets", 7);
	want_int(o, "rev.bytes", 5000);
	want_int(o, "rev.dup_acks", 3);
	want_int(o, "packets", 17);
	want_int(o, "bytes", 6000);
	want_int(o, "tcp.flags", 0x13);
	want_str(o, "tcp.flags_str", "FIN|SYN|ACK");
	want_int(o, "tcp.out_of_order", 4);
	want_int(o, "tcp.zero_windows", 5);
	want_int(o, "tcp.fwd.next_seq", 4000000000ll);
	want_int(o, "tcp.fwd.ack", 77);
	want_int(o, "tcp.fwd.window", 65535);
	want_null(get(o, "tcp.rev"), "next_seq");
	want_int(o, "ip_id", 4242);
	want_str(o, "first_seen", "2023-11-14T22:13:20.123456789Z");
	want_str(o, "last_seen", "2023-11-14T22:13:22.623456789Z");
	want_int(o, "duration_ms", 2500);
	want_str(o, "verdict", "pass");
	want_null(o, "rule_id");
	want_absent(o, "icmp");
	json_object_put(o);
}

static void test_udp_v6_update(void)
{
	struct flow_record r;
	json_object *o;

	make_rec(&r, REC_UPDATE, "2001:db8:0:0:0:0:0:20", 5353, "2001:db8::10", 53, 17);
	CHECK(r.initiator == 1);
	o = format_parse(&r);
	if (!o)
		return;
	want_str(o, "event", "update");
	want_absent(o, "end_reason");
	want_int(o, "family", 6);
	want_str(o, "proto", "udp");
	want_str(o, "src_ip", "2001:db8::20"); /* compressed */
	want_int(o, "src_port", 5353);
	want_str(o, "dst_ip", "2001:db8::10");
	want_int(o, "dst_port", 53);
	want_int(o, "fwd.packets", 10);
	want_int(o, "rev.bytes", 5000);
	want_absent(o, "tcp");
	want_absent(o, "ip_id");
	json_object_put(o);
}

static void test_icmp(void)
{
	struct flow_record r;
	json_object *o;

	/* a router 192.0.2.254 tells 10.0.0.1 its UDP to 198.51.100.7 died */
	make_rec(&r, REC_ICMP, "192.0.2.254", 0, "10.0.0.1", 0, 1);
	r.icmp_type = 11;
	r.icmp_code = 0;
	test_addr("10.0.0.1", r.inner.src);
	test_addr("198.51.100.7", r.inner.dst);
	r.inner.proto = 17;
	r.inner.sport = 33434;
	r.inner.dport = 33435;
	r.inner.valid = 1;
	o = format_parse(&r);
	if (!o)
		return;
	want_str(o, "event", "icmp");
	want_str(o, "proto", "icmp");
	want_str(o, "src_ip", "192.0.2.254");
	want_str(o, "dst_ip", "10.0.0.1");
	want_int(o, "icmp.type", 11);
	want_int(o, "icmp.code", 0);
	want_str(o, "icmp.inner.src_ip", "10.0.0.1");
	want_str(o, "icmp.inner.dst_ip", "198.51.100.7");
	want_str(o, "icmp.inner.proto", "udp");
	want_int(o, "icmp.inner.proto_num", 17);
	want_int(o, "icmp.inner.src_port", 33434);
	want_int(o, "icmp.inner.dst_port", 33435);
	json_object_put(o);

	/* ICMPv6 packet too big whose quote was unreadable */
	make_rec(&r, REC_ICMP, "2001:db8::1", 0, "2001:db8::2", 0, 58);
	r.icmp_type = 2;
	o = format_parse(&r);
	if (!o)
		return;
	want_str(o, "proto", "icmpv6");
	want_int(o, "icmp.type", 2);
	want_null(get(o, "icmp"), "inner");
	json_object_put(o);
}

static void test_drop(void)
{
	struct flow_record r;
	json_object *o;

	make_rec(&r, REC_DROP, "203.0.113.5", 1234, "10.0.0.1", 22, 6);
	r.rule_id = 7;
	o = format_parse(&r);
	if (!o)
		return;
	want_str(o, "event", "drop");
	want_str(o, "verdict", "drop");
	want_int(o, "rule_id", 7);
	json_object_put(o);
}

static void test_escaping(void)
{
	/* quote, backslash, control characters, valid UTF-8, then an invalid byte */
	static const char node[] = "we\"ird\\node\n\t\x01/é";
	struct flow_record r;
	json_object *o;

	make_rec(&r, REC_START, "10.0.0.1", 1, "10.0.0.2", 2, 17);
	r.node = node;
	r.iface = "eth\xff\xc3";
	o = format_parse(&r);
	if (!o)
		return;
	want_str(o, "node", node);
	want_str(o, "iface", "eth\xef\xbf\xbd\xef\xbf\xbd"); /* U+FFFD twice */
	json_object_put(o);

	/* an unknown interface is null, an absent node an empty string */
	r.node = NULL;
	r.iface = NULL;
	o = format_parse(&r);
	if (!o)
		return;
	want_str(o, "node", "");
	want_null(o, "iface");
	json_object_put(o);
}

static void test_bounds(void)
{
	char buf[RECORD_JSON_MAX], small[RECORD_JSON_MAX];
	struct flow_record r;
	int n, len;

	make_rec(&r, REC_END, "2001:db8::1", 1, "2001:db8::2", 2, 6);
	r.end_reason = REC_END_RST;
	r.node = "a-rather-long-node-name-that-still-fits-in-sixty-four-bytes-abc";
	n = record_format_json(&r, buf, sizeof(buf));
	CHECK(n > 0);
	/* every buffer shorter than n + 1 fails cleanly, n + 1 succeeds */
	for (len = 0; len <= n; len++) {
		memset(small, 'x', sizeof(small));
		if (record_format_json(&r, small, (size_t)len) != -ENOSPC ||
		    (len && small[0] != '\0')) {
			fprintf(stderr, "len %d: want -ENOSPC and an empty string\n", len);
			failures++;
			break;
		}
	}
	CHECK(record_format_json(&r, small, (size_t)n + 1) == n);
	CHECK(strcmp(small, buf) == 0);
}

static void test_names(void)
{
	char fs[40];

	CHECK(record_tcp_flags_str(0, fs, sizeof(fs)) == 0 && !strcmp(fs, ""));
	CHECK(record_tcp_flags_str(0xff, fs, sizeof(fs)) == 31 &&
	      !strcmp(fs, "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"));
	CHECK(record_tcp_flags_str(0x12, fs, 4) == -ENOSPC);
	CHECK(!strcmp(net_proto_name(6), "tcp"));
	CHECK(!strcmp(net_proto_name(58), "icmpv6"));
	CHECK(!strcmp(net_proto_name(253), "253"));
	CHECK(!strcmp(record_end_reason_name(REC_END_EVICTED), "evicted"));
	CHECK(!strcmp(record_event_name(REC_ICMP), "icmp"));
}

/* Sample records of every kind, for the schema test. */
static int print_samples(void)
{
	static const enum record_end_reason reasons[] = { REC_END_FIN, REC_END_RST, REC_END_IDLE,
							  REC_END_EVICTED };
	char buf[RECORD_JSON_MAX];
	struct flow_record r;
	size_t i;

#define EMIT()                                                    \
	do {                                                      \
		if (record_format_json(&r, buf, sizeof(buf)) < 0) \
			return 1;                                 \
		puts(buf);                                        \
	} while (0)

	make_rec(&r, REC_START, "10.0.0.1", 40000, "10.0.0.2", 80, 6);
	EMIT();
	make_rec(&r, REC_UPDATE, "2001:db8::20", 5353, "2001:db8::10", 53, 17);
	r.iface = NULL;
	EMIT();
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		make_rec(&r, REC_END, "10.0.0.9", 40000, "10.0.0.2", 443, 6);
		r.end_reason = reasons[i];
		EMIT();
	}
	make_rec(&r, REC_ICMP, "192.0.2.254", 0, "10.0.0.1", 0, 1);
	r.icmp_type = 3;
	r.icmp_code = 3;
	test_addr("10.0.0.1", r.inner.src);
	test_addr("198.51.100.7", r.inner.dst);
	r.inner.proto = 6;
	r.inner.valid = 1;
	EMIT();
	make_rec(&r, REC_ICMP, "2001:db8::1", 0, "2001:db8::2", 0, 58);
	r.icmp_type = 1;
	EMIT();
	make_rec(&r, REC_DROP, "203.0.113.5", 1234, "10.0.0.1", 22, 6);
	r.rule_id = 3;
	EMIT();
	make_rec(&r, REC_START, "10.0.0.1", 0, "10.0.0.2", 0, 47);
	r.node = "odd \"node\"\n";
	r.iface = "\xff";
	EMIT();
	/* An IPv6 flow between IPv4-mapped addresses keeps its IPv6 text. */
	make_rec(&r, REC_START, "10.9.9.9", 4000, "10.0.0.2", 80, 6);
	r.key.family = 6;
	EMIT();
	/* drops records: a rule's, and a reason's (no rule id) */
	memset(&r, 0, sizeof(r));
	r.event = REC_DROPS;
	r.node = "n1";
	r.iface = "eth0";
	test_addr("203.0.113.5", r.drop.src);
	r.drop.family = 4;
	r.drop.rule_id = 7;
	r.drop_packets = 1000;
	r.drop_bytes = 60000;
	r.first_seen_wall_ns = 1700000000000000000ull;
	r.last_seen_wall_ns = 1700000004000000000ull;
	r.interval_start_wall_ns = 1700000000000000000ull;
	r.interval_end_wall_ns = 1700000005000000000ull;
	EMIT();
	test_addr("2001:db8::bad", r.drop.src);
	r.drop.family = 6;
	r.drop.reason = GUARDER_DROP_FRAG_UNKNOWN;
	r.drop.hook = GUARDER_HOOK_TC_EGRESS;
	r.iface = NULL;
	EMIT();
	return 0;
}

/*
 * record_format's key span is exactly record_format_key's text, for IPv4
 * and IPv6; and the times stay right when records alternate between
 * seconds, days and years (the formatter caches the seconds part).
 */
static void test_key_span_and_times(void)
{
	static const uint64_t secs[] = {
		1700000000ull, 1700000001ull, 1700000000ull, 1700086400ull, 1700000001ull,
		0ull,	       4102444799ull, 4102444800ull, 1700000000ull, 951782400ull,
	};
	char buf[RECORD_JSON_MAX], key[RECORD_KEY_MAX], want[RFC3339_NS_LEN];
	struct record_span ks;
	struct flow_record r;
	json_object *o;
	size_t i;
	int n, kl;

	make_rec(&r, REC_UPDATE, "2001:db8::1", 5353, "2001:db8::2", 53, 17);
	n = record_format(&r, buf, sizeof(buf), &ks);
	kl = record_format_key(&r.key, key, sizeof(key));
	CHECK(n > 0 && kl > 0 && ks.len == (size_t)kl && ks.off + ks.len < (size_t)n);
	CHECK(!memcmp(buf + ks.off, key, (size_t)kl));
	CHECK(n > 0 && record_format_json(&r, key, sizeof(key)) == -ENOSPC);

	for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		make_rec(&r, REC_END, "10.1.2.3", 1000 + (__u16)i, "10.9.8.7", 443, 6);
		r.first_seen_wall_ns = secs[i] * NS + 5;
		r.last_seen_wall_ns = secs[(i + 3) % 10] * NS + 999999999ull;
		n = record_format(&r, buf, sizeof(buf), &ks);
		CHECK(n > 0);
		CHECK(ks.len == (size_t)record_format_key(&r.key, key, sizeof(key)) &&
		      !memcmp(buf + ks.off, key, ks.len));
		o = parse(buf);
		if (!o)
			continue;
		format_rfc3339_ns(r.first_seen_wall_ns, want, sizeof(want));
		want_str(o, "first_seen", want);
		format_rfc3339_ns(r.last_seen_wall_ns, want, sizeof(want));
		want_str(o, "last_seen", want);
		json_object_put(o);
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--print"))
		return print_samples();

	test_tcp_v4(0);
	test_tcp_v4(1);
	test_udp_v6_update();
	test_icmp();
	test_drop();
	test_escaping();
	test_bounds();
	test_names();
	test_key_span_and_times();

	return check_report("test_record");
}
