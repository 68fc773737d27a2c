// SPDX-License-Identifier: GPL-2.0
/*
 * The flow view's event path, without a kernel: crafted ring-buffer
 * samples go through flow_view_on_event into the real file sink (a temp
 * file) and the records are read back and parsed with json-c. A second
 * sink writes to /dev/full to check that a failing sink is counted and
 * does not disturb the others. (Sweeps need a BPF map: test/bpf/test_sweep.c.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "collector/flow_view.h"
#include "collector/sink.h"
#include "lib/config.h"
#include "lib/timeconv.h"
#include "check.h"

#define NS 1000000000ull

/* An event for a packet src:sport -> dst:dport, as the kernel builds it. */
static struct flow_event make_ev(__u8 type, const char *src, __u16 sport, const char *dst,
				 __u16 dport, __u8 proto, uint64_t ts)
{
	struct flow_event ev;
	__u32 s[4], d[4];

	memset(&ev, 0, sizeof(ev));
	test_addr(src, s);
	test_addr(dst, d);
	ev.dir = (__u8)flow_key_make(&ev.key, s, sport, d, dport, proto,
				      strchr(src, ':') ? 6 : 4);
	ev.type = type;
	ev.ts_ns = ts;
	ev.ifindex = 1; /* lo exists in every network namespace */
	ev.pkt_len = 60;
	return ev;
}

/* Records written to the file since the last call, parsed. */
struct records {
	json_object *r[64];
	int n;
};

static void read_new(FILE *f, struct records *out)
{
	char line[4096];

	clearerr(f); /* EOF is sticky: the writer may have added lines since */
	for (out->n = 0; out->n < 64 && fgets(line, sizeof(line), f); out->n++) {
		out->r[out->n] = json_tokener_parse(line);
		if (!out->r[out->n]) {
			fprintf(stderr, "unparsable record: %s", line);
			failures++;
			break;
		}
	}
}

static void free_records(struct records *rs)
{
	int i;

	for (i = 0; i < rs->n; i++)
		json_object_put(rs->r[i]);
	rs->n = 0;
}

static const char *str(json_object *o, const char *k1, const char *k2)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k1, &v))
		return "(absent)";
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return "(absent)";
	return v ? json_object_get_string(v) : "null";
}

static int64_t num(json_object *o, const char *k1, const char *k2)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k1, &v))
		return -1;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return -1;
	return json_object_get_int64(v);
}

/* RFC 3339 text back to ns since the epoch. */
static int64_t parse_time(const char *s)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p || *p != '.')
		return -1;
	return (int64_t)timegm(&tm) * (int64_t)NS + strtoll(p + 1, NULL, 10);
}

int main(void)
{
	struct guarder_config cfg;
	struct flow_view_stats st;
	struct flow_view *fv;
	struct sink *sinks[2];
	struct records rs = { .n = 0 };
	struct flow_event ev, bad;
	struct clock_base cb;
	char path[] = "/tmp/test_flow_view.XXXXXX";
	char *summary = NULL;
	size_t summary_len = 0;
	FILE *rd, *mem;
	uint64_t t0;
	int fd;

	fd = mkstemp(path);
	if (fd < 0 || config_init(&cfg)) {
		perror("setup");
		return 1;
	}
	close(fd);
	snprintf(cfg.node_name, sizeof(cfg.node_name), "test-node");
	cfg.collector.max_flows = 3;
	cfg.collector.top_flows = 2;
	sinks[0] = sink_file_new(path);
	sinks[1] = sink_file_new("/dev/full");
	rd = fopen(path, "r");
	if (!sinks[0] || !sinks[1] || !rd) {
		perror("sinks");
		return 1;
	}
	fv = flow_view_new(&cfg, sinks, 2);
	if (!fv) {
		perror("flow_view_new");
		return 1;
	}
	clock_base_sample(&cb);
	t0 = clock_mono_now_ns() - 5 * NS; /* the packets came 5 s ago */

	/* 1. a TCP SYN from the endpoint that sorts last: initiator 1 */
	ev = make_ev(FLOW_EV_START, "10.0.0.9", 40000, "10.0.0.2", 80, 6, t0);
	ev.tcp_flags = 0x02;
	CHECK(ev.dir == 1);
	CHECK(flow_view_on_event(fv, &ev, sizeof(ev)) == 0);
	read_new(rd, &rs);
	CHECK(rs.n == 1);
	if (rs.n == 1) {
		json_object *r = rs.r[0];
		int64_t first = parse_time(str(r, "first_seen", NULL));
		int64_t want = (int64_t)clock_mono_to_wall_ns(&cb, t0);

		CHECK(!strcmp(str(r, "event", NULL), "start"));
		CHECK(!strcmp(str(r, "node", NULL), "test-node"));
		CHECK(!strcmp(str(r, "iface", NULL), "lo"));
		CHECK(!strcmp(str(r, "src_ip", NULL), "10.0.0.9"));
		CHECK(num(r, "src_port", NULL) == 40000);
		CHECK(!strcmp(str(r, "dst_ip", NULL), "10.0.0.2"));
		CHECK(num(r, "fwd", "packets") == 1);
		CHECK(num(r, "fwd", "bytes") == 60);
		CHECK(num(r, "rev", "packets") == 0);
		CHECK(!strcmp(str(r, "tcp", "flags_str"), "SYN"));
		CHECK(!strcmp(str(r, "key", NULL), "6|10.0.0.2|80|10.0.0.9|40000"));
		/* the stamp is converted to when it was taken, 5 s ago */
		CHECK(first > want - 10000000 && first < want + 10000000);
		CHECK(!strcmp(str(r, "first_seen", NULL), str(r, "last_seen", NULL)));
	}
	free_records(&rs);

	/* 2. the same START again (same packet): no second start */
	flow_view_on_event(fv, &ev, sizeof(ev));
	/* nor from a stamp a few ms off (the kernel reads its clock twice) */
	ev.ts_ns = t0 + 5000000;
	flow_view_on_event(fv, &ev, sizeof(ev));
	/* nor from an older flow on the same key whose START comes late */
	ev.ts_ns = t0 - NS;
	flow_view_on_event(fv, &ev, sizeof(ev));
	ev.ts_ns = t0;
	/* SYN-ACK, FIN both ways: state only, no records until a sweep */
	ev.type = FLOW_EV_TCP_SYN;
	ev.dir = 0;
	ev.tcp_flags = 0x12;
	flow_view_on_event(fv, &ev, sizeof(ev));
	ev.type = FLOW_EV_TCP_FIN;
	ev.tcp_flags = 0x11;
	flow_view_on_event(fv, &ev, sizeof(ev));
	ev.dir = 1;
	flow_view_on_event(fv, &ev, sizeof(ev));
	read_new(rd, &rs);
	CHECK(rs.n == 0);
	free_records(&rs);

	/* 3. malformed samples are counted and ignored */
	bad = make_ev(FLOW_EV_START, "10.0.0.1", 1, "10.0.0.2", 2, 17, t0);
	CHECK(flow_view_on_event(fv, &bad, sizeof(bad) - 1) == 0);
	CHECK(flow_view_on_event(fv, &bad, 0) == 0);
	{
		char big[sizeof(bad) + 8];

		memset(big, 0, sizeof(big));
		memcpy(big, &bad, sizeof(bad));
		CHECK(flow_view_on_event(fv, big, sizeof(big)) == 0);
	}
	bad.type = 0;
	flow_view_on_event(fv, &bad, sizeof(bad));
	bad.type = FLOW_EV_MAX;
	flow_view_on_event(fv, &bad, sizeof(bad));
	bad.type = FLOW_EV_START;
	bad.dir = 2;
	flow_view_on_event(fv, &bad, sizeof(bad));
	read_new(rd, &rs);
	CHECK(rs.n == 0);
	free_records(&rs);

	/* 4. an ICMP error: src is the sender of the error */
	ev = make_ev(FLOW_EV_ICMP_ERROR, "192.0.2.254", 0, "10.0.0.1", 0, 1, t0 + NS);
	ev.icmp_type = 3;
	ev.icmp_code = 3;
	test_addr("10.0.0.1", ev.inner.src);
	test_addr("198.51.100.7", ev.inner.dst);
	ev.inner.proto = 17;
	ev.inner.sport = 5000;
	ev.inner.dport = 53;
	ev.inner.valid = 1;
	CHECK(ev.dir == 1);
	flow_view_on_event(fv, &ev, sizeof(ev));
	read_new(rd, &rs);
	CHECK(rs.n == 1);
	if (rs.n == 1) {
		json_object *r = rs.r[0], *icmp = NULL;

		CHECK(!strcmp(str(r, "event", NULL), "icmp"));
		CHECK(!strcmp(str(r, "src_ip", NULL), "192.0.2.254"));
		CHECK(!strcmp(str(r, "dst_ip", NULL), "10.0.0.1"));
		CHECK(json_object_object_get_ex(r, "icmp", &icmp));
		CHECK(num(icmp, "type", NULL) == 3 && num(icmp, "code", NULL) == 3);
		CHECK(!strcmp(str(icmp, "inner", "dst_ip"), "198.51.100.7"));
		CHECK(num(icmp, "inner", "dst_port") == 53);
	}
	free_records(&rs);

	/* 5. a drop of the known flow, seen from the server side */
	ev = make_ev(FLOW_EV_DROP, "10.0.0.2", 80, "10.0.0.9", 40000, 6, t0 + 2 * NS);
	ev.rule_id = 42;
	ev.verdict = GUARDER_VERDICT_DROP;
	flow_view_on_event(fv, &ev, sizeof(ev));
	read_new(rd, &rs);
	CHECK(rs.n == 1);
	if (rs.n == 1) {
		CHECK(!strcmp(str(rs.r[0], "event", NULL), "drop"));
		CHECK(num(rs.r[0], "rule_id", NULL) == 42);
		CHECK(!strcmp(str(rs.r[0], "verdict", NULL), "drop"));
		/* the initiator stays the client: the view knows the flow */
		CHECK(!strcmp(str(rs.r[0], "src_ip", NULL), "10.0.0.9"));
	}
	free_records(&rs);

	/* 6. a newer START for a key the view holds: the old flow is over */
	ev = make_ev(FLOW_EV_START, "10.0.0.9", 40000, "10.0.0.2", 80, 6, t0 + 3 * NS);
	ev.tcp_flags = 0x02;
	flow_view_on_event(fv, &ev, sizeof(ev));
	read_new(rd, &rs);
	CHECK(rs.n == 2);
	if (rs.n == 2) {
		CHECK(!strcmp(str(rs.r[0], "event", NULL), "end"));
		CHECK(!strcmp(str(rs.r[0], "end_reason", NULL), "evicted"));
		/* with what the view knew: SYN, SYN-ACK, both FINs */
		CHECK(num(rs.r[0], "tcp", "flags") == 0x13);
		CHECK(!strcmp(str(rs.r[1], "event", NULL), "start"));
		CHECK(num(rs.r[1], "fwd", "packets") == 1);
	}
	free_records(&rs);

	/* 7. view bound 3: the fourth flow is not tracked but still started */
	ev = make_ev(FLOW_EV_START, "2001:db8::1", 1111, "2001:db8::2", 53, 17, t0);
	flow_view_on_event(fv, &ev, sizeof(ev));
	ev = make_ev(FLOW_EV_START, "2001:db8::1", 2222, "2001:db8::2", 53, 17, t0);
	flow_view_on_event(fv, &ev, sizeof(ev));
	ev = make_ev(FLOW_EV_START, "2001:db8::1", 3333, "2001:db8::2", 53, 17, t0);
	flow_view_on_event(fv, &ev, sizeof(ev));
	read_new(rd, &rs);
	CHECK(rs.n == 3);
	if (rs.n == 3) {
		CHECK(!strcmp(str(rs.r[2], "event", NULL), "start"));
		CHECK(!strcmp(str(rs.r[2], "src_ip", NULL), "2001:db8::1"));
		CHECK(num(rs.r[2], "family", NULL) == 6);
	}
	free_records(&rs);

	flow_view_get_stats(fv, &st);
	CHECK(st.active == 3); /* tcp + two udp: ICMP error events track nothing */
	CHECK(st.view_full == 1);
	CHECK(st.started == 5);
	CHECK(st.ended == 1 && st.ended_evicted == 1);
	CHECK(st.bad_events == 6);
	CHECK(st.events[FLOW_EV_START] == 8);
	CHECK(st.events[FLOW_EV_TCP_SYN] == 1);
	CHECK(st.events[FLOW_EV_TCP_FIN] == 2);
	CHECK(st.events[FLOW_EV_ICMP_ERROR] == 1);
	CHECK(st.events[FLOW_EV_DROP] == 1);
	/* every record reached the file; every one failed on /dev/full */
	CHECK(sinks[0]->emitted == 8 && sinks[0]->failed == 0);
	CHECK(sinks[1]->emitted == 0 && sinks[1]->failed == 8);
	CHECK(st.sink_failures == 8);

	/* the console summary, without kernel counters */
	mem = open_memstream(&summary, &summary_len);
	flow_view_summary(fv, -1, mem);
	fclose(mem);
	CHECK(strstr(summary, "active 3") != NULL);
	CHECK(strstr(summary, "start 5") != NULL);
	CHECK(strstr(summary, "evicted 1") != NULL);
	CHECK(strstr(summary, "top 2 flows by bytes") != NULL);
	CHECK(strstr(summary, "10.0.0.9:40000 -> 10.0.0.2:80") != NULL);
	CHECK(strstr(summary, "SINK FAILURES 8") != NULL);
	if (failures)
		fputs(summary, stderr);
	free(summary);

	/* the next summary counts records since this one */
	summary = NULL;
	mem = open_memstream(&summary, &summary_len);
	flow_view_summary(fv, -1, mem);
	fclose(mem);
	CHECK(strstr(summary, "start 0") != NULL);
	free(summary);

	flow_view_free(fv);
	sink_destroy(sinks[0]);
	sink_destroy(sinks[1]);
	fclose(rd);
	unlink(path);
	config_free(&cfg);

	return check_report("test_flow_view");
}
