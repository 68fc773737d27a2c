// SPDX-License-Identifier: GPL-2.0
/*
 * The WebSocket feed's subscription filters (collector/ws_filter.c): URL
 * and JSON parsing, the errors a client is sent, matching on either
 * endpoint, and the canonical form echoed in "subscribed".
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "lib/record.h"
#include "ws_filter.h"

static struct ws_match rec(enum record_event ev, unsigned int proto, const char *a, unsigned int pa,
			   const char *b, unsigned int pb)
{
	struct ws_match m = { .event = (uint8_t)ev, .proto = (uint8_t)proto };
	__u32 x[4];

	test_addr(a, x);
	memcpy(m.addr[0], x, 16);
	test_addr(b, x);
	memcpy(m.addr[1], x, 16);
	m.port[0] = (uint16_t)pa;
	m.port[1] = (uint16_t)pb;
	return m;
}

static const char *canon(const struct ws_filter *f)
{
	static char buf[WS_FILTER_JSON_MAX];

	return ws_filter_json(f, buf, sizeof(buf)) < 0 ? "(too long)" : buf;
}

static void test_url(void)
{
	struct ws_filter f;
	char err[256];
	struct ws_match tcp = rec(REC_START, 6, "10.0.0.1", 40000, "10.0.0.2", 22);
	struct ws_match udp = rec(REC_END, 17, "2001:db8::1", 53, "2001:db8:1::9", 5353);

	ws_filter_init(&f);
	CHECK(!strcmp(canon(&f), "{}"));
	CHECK(ws_filter_match(&f, &tcp) && ws_filter_match(&f, &udp));

	CHECK(ws_filter_set(&f, "protocol", "tcp", err, sizeof(err)) == 0);
	CHECK(ws_filter_match(&f, &tcp) && !ws_filter_match(&f, &udp));
	CHECK(ws_filter_set(&f, "protocol", "17", err, sizeof(err)) == 0); /* repeated: OR */
	CHECK(ws_filter_match(&f, &udp));
	CHECK(!strcmp(canon(&f), "{\"protocol\":[\"tcp\",\"udp\"]}"));
	/* the old IANA keyword still selects ICMPv6; the echo names it icmpv6 */
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "protocol", "ipv6-icmp,icmpv6", err, sizeof(err)) == 0);
	CHECK(!strcmp(canon(&f), "{\"protocol\":[\"icmpv6\",\"icmpv6\"]}"));

	/* ip: either endpoint, IPv4 only against IPv4 */
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "10.0.0.2", err, sizeof(err)) == 0);
	CHECK(ws_filter_match(&f, &tcp) && !ws_filter_match(&f, &udp));
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "2001:db8:1::/48,192.168.0.0/16", err, sizeof(err)) == 0);
	CHECK(!ws_filter_match(&f, &tcp) && ws_filter_match(&f, &udp));
	CHECK(!strcmp(canon(&f), "{\"ip\":[\"2001:db8:1::/48\",\"192.168.0.0/16\"]}"));
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "10.0.0.4/31", err, sizeof(err)) == 0);
	CHECK(!ws_filter_match(&f, &tcp));
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "10.0.0.2/31", err, sizeof(err)) == 0); /* dst only */
	CHECK(ws_filter_match(&f, &tcp));
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "0.0.0.0/0", err, sizeof(err)) == 0);
	CHECK(ws_filter_match(&f, &tcp) && !ws_filter_match(&f, &udp));
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "::/0", err, sizeof(err)) == 0);
	/* ::/0 covers the mapped IPv4 form too: every address */
	CHECK(ws_filter_match(&f, &udp));

	/* port: either endpoint, ranges */
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "port", "22", err, sizeof(err)) == 0);
	CHECK(ws_filter_match(&f, &tcp) && !ws_filter_match(&f, &udp));
	CHECK(ws_filter_set(&f, "port", "5000-6000", err, sizeof(err)) == 0);
	CHECK(ws_filter_match(&f, &udp));
	CHECK(!strcmp(canon(&f), "{\"port\":[22,\"5000-6000\"]}"));

	/* event, and AND across fields */
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "event", "end,icmp", err, sizeof(err)) == 0);
	CHECK(!ws_filter_match(&f, &tcp) && ws_filter_match(&f, &udp));
	CHECK(ws_filter_set(&f, "protocol", "tcp", err, sizeof(err)) == 0);
	CHECK(!ws_filter_match(&f, &udp));
	CHECK(!strcmp(canon(&f), "{\"protocol\":[\"tcp\"],\"event\":[\"end\",\"icmp\"]}"));

	/* errors: -ENOENT for another name, -EINVAL with a message */
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "colour", "red", err, sizeof(err)) == -ENOENT);
	CHECK(ws_filter_set(&f, "port", "65536", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "65536") != NULL);
	CHECK(ws_filter_set(&f, "port", "9-1", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "port", "022", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "port", "", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "port", "22,", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "ip", "10.0.0.1/8", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "10.0.0.0/8") != NULL);
	CHECK(ws_filter_set(&f, "ip", "10.0.0.0/33", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "ip", "example.com", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "ip", "10.0.0.1 ", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "ip", "10.0.0.0/08", err, sizeof(err)) == -EINVAL);
	CHECK(!strchr(err, '"') && strstr(err, "'10.0.0.0/08'") != NULL);
	CHECK(ws_filter_set(&f, "protocol", " 6", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "protocol", "TCP", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "protocol", "256", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "protocol", "tcpx", err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_set(&f, "event", "explode", err, sizeof(err)) == -EINVAL);
	/* a quote in the input never reaches the message unescaped */
	CHECK(ws_filter_set(&f, "event", "x\"}\\", err, sizeof(err)) == -EINVAL);
	CHECK(!strchr(err, '"') && !strchr(err, '\\'));
}

/* A drops record is matched on its source; event=drops selects it. */
static void test_drops(void)
{
	struct flow_record r;
	struct ws_filter f;
	struct ws_match m;
	char err[256];
	__u32 a[4];

	memset(&r, 0, sizeof(r));
	r.event = REC_DROPS;
	test_addr("10.66.0.1", a);
	memcpy(r.drop.src, a, 16);
	r.drop.family = 4;
	ws_match_from_record(&r, &m);
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "event", "drops", err, sizeof(err)) == 0);
	CHECK(ws_filter_match(&f, &m));
	CHECK(!strcmp(canon(&f), "{\"event\":[\"drops\"]}"));
	CHECK(ws_filter_set(&f, "ip", "10.66.0.0/16", err, sizeof(err)) == 0);
	CHECK(ws_filter_match(&f, &m));
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "10.67.0.0/16", err, sizeof(err)) == 0);
	CHECK(!ws_filter_match(&f, &m));
	/* The zeroed flow key (::) is not what a drops record is about. */
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "ip", "::/128", err, sizeof(err)) == 0);
	CHECK(!ws_filter_match(&f, &m));
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "event", "start,update", err, sizeof(err)) == 0);
	CHECK(!ws_filter_match(&f, &m));
}

static void test_json(void)
{
	struct ws_filter f, g;
	char err[256];
	const char *ok = "{\"protocol\":[\"icmp\",58],\"ip\":\"10.0.0.0/8\",\"port\":[22,\"80\","
			 "\"1000-2000\"],\"event\":\"start,end\"}";
	struct ws_match m = rec(REC_END, 58, "10.1.2.3", 0, "10.1.2.4", 1500);

	ws_filter_init(&f);
	CHECK(ws_filter_parse_json(&f, ok, strlen(ok), err, sizeof(err)) == 0);
	CHECK(!strcmp(canon(&f), "{\"protocol\":[\"icmp\",\"icmpv6\"],\"ip\":[\"10.0.0.0/8\"],"
				 "\"port\":[22,80,\"1000-2000\"],\"event\":[\"start\",\"end\"]}"));
	CHECK(ws_filter_match(&f, &m));

	/* a failed parse leaves the old filter */
	g = f;
	CHECK(ws_filter_parse_json(&f, "{\"protocol\":\"nope\"}", 19, err, sizeof(err)) == -EINVAL);
	CHECK(!memcmp(&f, &g, sizeof(f)));
	CHECK(ws_filter_parse_json(&f, "{}", 2, err, sizeof(err)) == 0);
	CHECK(!strcmp(canon(&f), "{}"));

	CHECK(ws_filter_parse_json(&f, "[1]", 3, err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_parse_json(&f, "{\"x\":1}", 7, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "unknown filter field") != NULL);
	CHECK(ws_filter_parse_json(&f, "{\"port\":[]}", 11, err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_parse_json(&f, "{\"port\":-1}", 11, err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_parse_json(&f, "{\"port\":1.5}", 12, err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_parse_json(&f, "{\"event\":1}", 11, err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_parse_json(&f, "{\"ip\":true}", 11, err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_parse_json(&f, "{} {}", 5, err, sizeof(err)) == -EINVAL);
	CHECK(ws_filter_parse_json(&f, "{\"port\":22", 10, err, sizeof(err)) == -EINVAL);
	/* a field twice is refused, not merged or overwritten */
	g = f;
	CHECK(ws_filter_parse_json(&f, "{\"port\":22,\"port\":80}", 21, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "not one JSON object: duplicate key \"port\" at byte 11") != NULL);
	CHECK(!memcmp(&f, &g, sizeof(f)));
	CHECK(ws_filter_parse_json(&f, "[1]", 3, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "must be a JSON object like") != NULL);
}

static void test_limits(void)
{
	struct ws_filter f;
	char err[256], list[512] = "";
	int i;

	for (i = 0; i < WS_FILTER_MAX_ITEMS; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", i ? "," : "",
			 1000 + i);
	ws_filter_init(&f);
	CHECK(ws_filter_set(&f, "port", list, err, sizeof(err)) == 0);
	CHECK(ws_filter_set(&f, "port", "1", err, sizeof(err)) == -EINVAL);
	for (i = 0; i < WS_FILTER_MAX_ITEMS; i++)
		CHECK(ws_filter_set(&f, "ip", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", err,
				    sizeof(err)) == 0);
	for (i = 0; i < WS_FILTER_MAX_ITEMS; i++)
		CHECK(ws_filter_set(&f, "protocol", "ipv6-icmp", err, sizeof(err)) == 0);
	CHECK(ws_filter_set(&f, "event", "start,update,end,icmp,drop", err, sizeof(err)) == 0);
	/* the largest filter still fits the echo buffer */
	CHECK(strcmp(canon(&f), "(too long)") != 0);
}

int main(void)
{
	test_url();
	test_drops();
	test_json();
	test_limits();
	return check_report("test_ws_filter");
}
