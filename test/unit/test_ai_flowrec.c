// SPDX-License-Identifier: GPL-2.0
/*
 * The worker's record parser (ai/flowrec.c): records written by the
 * collector's formatter parse to the right fields; truncated, garbage,
 * wrongly typed and wrong-version records are refused with a reason,
 * never a crash (every prefix of a record, random bytes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ai/flowrec.h"
#include "test_ai_util.h"

static int parse(const char *s, struct ai_flow *f, char *err, size_t len)
{
	return ai_flow_parse(s, strlen(s), f, err, len);
}

static void test_good(void)
{
	struct test_flow tf = { .ev = REC_END,
				.node = "edge-\"1\"",
				.src = "10.0.0.9",
				.dst = "10.0.0.2",
				.sport = 40000,
				.dport = 80,
				.proto = 6,
				.fwd_packets = 5,
				.fwd_bytes = 360,
				.fwd_flags = 0x1b,
				.rev_packets = 3,
				.rev_bytes = 320,
				.rev_flags = 0x12,
				.t = AI_T0 };
	char buf[RECORD_JSON_MAX], err[128];
	struct ai_flow f;
	__u32 a[4];

	test_record_text(&tf, buf, sizeof(buf));
	CHECK(parse(buf, &f, err, sizeof(err)) == 0);
	CHECK(f.event == AI_EV_END);
	CHECK(!strcmp(f.node, "edge-\"1\""));
	CHECK(f.family == 4 && f.proto == 6);
	test_addr("10.0.0.9", a);
	CHECK(!memcmp(f.src, a, 16));
	test_addr("10.0.0.2", a);
	CHECK(!memcmp(f.dst, a, 16));
	CHECK(f.sport == 40000 && f.dport == 80);
	CHECK(f.fwd.packets == 5 && f.fwd.bytes == 360 && f.fwd.tcp_flags == 0x1b);
	CHECK(f.rev.packets == 3 && f.rev.bytes == 320 && f.rev.tcp_flags == 0x12);
	CHECK(f.last_ns == (__u64)AI_T0 * AI_NS + 7);
	CHECK(f.first_ns == (__u64)(AI_T0 - 1) * AI_NS + 5);

	/* IPv6, the initiator being the higher address (fwd/rev not swapped) */
	tf = (struct test_flow){ .ev = REC_START,
				 .src = "2001:db8::20",
				 .dst = "2001:db8::10",
				 .sport = 5353,
				 .dport = 53,
				 .proto = 17,
				 .fwd_packets = 1,
				 .fwd_bytes = 80,
				 .t = AI_T0 };
	test_record_text(&tf, buf, sizeof(buf));
	CHECK(parse(buf, &f, err, sizeof(err)) == 0);
	CHECK(f.family == 6 && f.proto == 17 && f.event == AI_EV_START);
	test_addr("2001:db8::20", a);
	CHECK(!memcmp(f.src, a, 16));
	CHECK(f.sport == 5353 && f.dport == 53 && f.fwd.bytes == 80 && f.rev.packets == 0);

	/* an ICMP error record */
	tf = (struct test_flow){ .ev = REC_ICMP,
				 .src = "192.0.2.254",
				 .dst = "10.0.0.1",
				 .proto = 1,
				 .fwd_packets = 1,
				 .fwd_bytes = 56,
				 .t = AI_T0,
				 .icmp_type = 3,
				 .icmp_code = 1 };
	test_record_text(&tf, buf, sizeof(buf));
	CHECK(parse(buf, &f, err, sizeof(err)) == 0);
	CHECK(f.event == AI_EV_ICMP && f.icmp_type == 3 && f.icmp_code == 1);

	/* unknown extra fields, whitespace, escapes and nesting are fine */
	CHECK(parse(" {\"x\":[1,{\"y\":null},\"\\u00e9\"],\"schema_version\":1,\"event\":\"start\","
		    "\"node\":\"n\\u00e9\\ud83d\\ude00\",\"proto_num\":6,\"family\":4,"
		    "\"src_ip\":\"1.2.3.4\",\"dst_ip\":\"5.6.7.8\",\"src_port\":1,"
		    "\"dst_port\":2,\"fwd\":{\"packets\":1,\"bytes\":2,\"tcp_flags\":2,"
		    "\"more\":true},\"rev\":{\"packets\":0,\"bytes\":0,\"tcp_flags\":0},"
		    "\"first_seen\":\"2026-11-27T00:46:53.123456789Z\",\"last_seen\":"
		    "\"2026-11-27T00:46:53Z\",\"future\":-1.5e3} \n",
		    &f, err, sizeof(err)) == 0);
	CHECK(!strcmp(f.node, "n\xc3\xa9\xf0\x9f\x98\x80"));
	CHECK(f.last_ns == 1795740413ull * AI_NS);

	/* ICMPv6 as this release writes it and as older collectors wrote it */
	{
		static const char *const names[] = { "icmpv6", "ipv6-icmp" };
		size_t i;

		for (i = 0; i < 2; i++) {
			snprintf(buf, sizeof(buf),
				 "{\"schema_version\":1,\"event\":\"end\",\"node\":\"n\","
				 "\"proto\":\"%s\",\"proto_num\":58,\"family\":6,"
				 "\"src_ip\":\"2001:db8::1\",\"dst_ip\":\"2001:db8::2\","
				 "\"src_port\":7,\"dst_port\":7,\"fwd\":{\"packets\":1,\"bytes\":2,"
				 "\"tcp_flags\":0},\"rev\":{\"packets\":0,\"bytes\":0,"
				 "\"tcp_flags\":0},\"first_seen\":\"2026-11-27T00:46:53Z\","
				 "\"last_seen\":\"2026-11-27T00:46:53Z\"}",
				 names[i]);
			CHECK(parse(buf, &f, err, sizeof(err)) == 0);
			CHECK(f.proto == 58 && f.family == 6);
		}
	}
}

static void expect_bad(const char *text, const char *want)
{
	char err[128] = "";
	struct ai_flow f;

	if (parse(text, &f, err, sizeof(err)) != -EINVAL || !strstr(err, want)) {
		fprintf(stderr, "accepted or wrong reason ('%s', wanted '%s'): %s\n", err, want,
			text);
		failures++;
	}
}

static void test_bad(void)
{
	struct test_flow tf = { .ev = REC_START,
				.src = "10.0.0.1",
				.dst = "10.0.0.2",
				.sport = 1,
				.dport = 2,
				.proto = 6,
				.fwd_packets = 1,
				.fwd_bytes = 60,
				.fwd_flags = 2,
				.t = AI_T0 };
	char buf[RECORD_JSON_MAX], mut[RECORD_JSON_MAX + 64], err[128];
	struct ai_flow f;
	size_t n, i;
	unsigned int seed = 1;

	n = (size_t)test_record_text(&tf, buf, sizeof(buf));
	/* every truncation is refused */
	for (i = 0; i < n; i++)
		CHECK(ai_flow_parse(buf, i, &f, err, sizeof(err)) == -EINVAL);

	expect_bad("", "not an object");
	expect_bad("garbage", "not an object");
	expect_bad("[1,2]", "not an object");
	expect_bad("{\"schema_version\":1} trailing", "trailing");
	expect_bad("{\"schema_version\":2}", "schema_version");
	expect_bad("{\"schema_version\":\"1\"}", "schema_version");
	expect_bad("{\"schema_version\":1.0}", "schema_version");
	expect_bad("{\"schema_version\":1,\"event\":\"begin\"}", "event");
	expect_bad("{\"schema_version\":1,\"event\":7}", "event");
	expect_bad("{\"schema_version\":1,\"src_port\":65536}", "src_port");
	expect_bad("{\"schema_version\":1,\"src_port\":-1}", "src_port");
	expect_bad("{\"schema_version\":1,\"src_ip\":\"10.0.0.300\"}", "src_ip");
	expect_bad("{\"schema_version\":1,\"src_ip\":\"10.0.0.1 \"}", "src_ip: not an IP address");
	expect_bad("{\"schema_version\":1,\"src_ip\":\"10.0.0.1/32\"}",
		   "src_ip: not an IP address");
	expect_bad("{\"schema_version\":1,\"dst_ip\":\"\"}", "dst_ip: not an IP address");
	expect_bad("{\"schema_version\":1,\"dst_ip\":\"10.0.0.1\\u0000x\"}",
		   "dst_ip: not an IP address");
	expect_bad("{\"schema_version\":1,\"fwd\":{\"packets\":\"5\"}}", "packets");
	expect_bad("{\"schema_version\":1,\"fwd\":[]}", "fwd");
	expect_bad("{\"schema_version\":1,\"last_seen\":\"yesterday\"}", "last_seen");
	expect_bad("{\"schema_version\":1,\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}", "deep");
	expect_bad("{\"schema_version\":1,}", "not a string");
	expect_bad("{\"schema_version\":1,\"a\":[1,]}", "not a JSON value");
	expect_bad("{\"schema_version\":1 \"event\":\"end\"}", "expected ','");
	expect_bad("{\"node\":\"a\x01\"}", "control character");

	/* a missing field, each in turn */
	{
		static const char *const fields[] = {
			"\"schema_version\"", "\"event\"",  "\"node\"",	  "\"proto_num\"",
			"\"family\"",	      "\"src_ip\"", "\"dst_ip\"", "\"src_port\"",
			"\"dst_port\"",	      "\"fwd\"",    "\"rev\"",	  "\"first_seen\"",
			"\"last_seen\""
		};

		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			char *p;

			snprintf(mut, sizeof(mut), "%s", buf);
			p = strstr(mut, fields[i]);
			CHECK(p != NULL);
			if (!p)
				continue;
			p[1] = 'X'; /* rename the key: an unknown field, the real one missing */
			CHECK(parse(mut, &f, err, sizeof(err)) == -EINVAL);
			CHECK(strstr(err, "missing") != NULL);
		}
	}

	/* random bytes and random corruptions of a good record never crash */
	for (i = 0; i < 20000; i++) {
		size_t k, len = n;

		memcpy(mut, buf, n);
		for (k = 0; k < 1 + i % 4; k++)
			mut[rand_r(&seed) % n] = (char)(rand_r(&seed) & 0xff);
		if (i % 7 == 0)
			len = (size_t)rand_r(&seed) % n;
		(void)ai_flow_parse(mut, len, &f, err, sizeof(err));
	}
}

static void test_time(void)
{
	uint64_t ns;

	CHECK(ai_parse_rfc3339("1970-01-01T00:00:00Z", 20, &ns) == 0 && ns == 0);
	CHECK(ai_parse_rfc3339("2000-03-01T00:00:01.5Z", 22, &ns) == 0 &&
	      ns == 951868801500000000ull);
	CHECK(ai_parse_rfc3339("2026-11-27T00:46:53.123456789Z", 30, &ns) == 0 &&
	      ns == 1795740413123456789ull);
	CHECK(ai_parse_rfc3339("2026-11-27T00:46:53.1234567891Z", 31, &ns) == -EINVAL);
	CHECK(ai_parse_rfc3339("2026-11-27T00:46:53+01:00", 25, &ns) == -EINVAL);
	CHECK(ai_parse_rfc3339("2026-13-27T00:46:53Z", 20, &ns) == -EINVAL);
	CHECK(ai_parse_rfc3339("2026-11-27T00:46:53.Z", 21, &ns) == -EINVAL);
}

/* The collector's drops records are read as such (1), not as bad flows. */
static void test_drops_record(void)
{
	struct flow_record r;
	char buf[RECORD_JSON_MAX], err[128];
	struct ai_flow f;

	memset(&r, 0, sizeof(r));
	r.event = REC_DROPS;
	r.node = "edge-1";
	test_addr("203.0.113.5", r.drop.src);
	r.drop.family = 4;
	r.drop.rule_id = 7;
	r.drop_packets = 10;
	CHECK(record_format_json(&r, buf, sizeof(buf)) > 0);
	CHECK(parse(buf, &f, err, sizeof(err)) == 1);
	CHECK(f.event == AI_EV_DROPS);
	/* ...but still checked: without its node it is refused */
	CHECK(parse("{\"schema_version\":1,\"event\":\"drops\",\"family\":4,"
		    "\"src_ip\":\"10.0.0.1\"}",
		    &f, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "node") != NULL);
}

int main(void)
{
	test_good();
	test_bad();
	test_time();
	test_drops_record();
	return check_report("test_ai_flowrec");
}
