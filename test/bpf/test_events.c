// SPDX-License-Identifier: GPL-2.0
/*
 * Ring-buffer events: emitted on flow start, the first SYN-ACK, the first
 * FIN of each direction, the first RST and (rate-limited) ICMP errors;
 * never for the packets of an established flow; a full ring buffer is
 * counted, never silent.
 */
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "bpftest.h"

#define CLI "10.5.0.1"
#define SRV "10.5.0.2"

static bool seg(struct tenv *e, bool from_client, uint8_t flags, uint32_t seq, size_t len)
{
	struct pkt p;

	if (from_client)
		pkt_tcp4(&p, CLI, 41000, SRV, 80, flags, seq, 1, 1000, len);
	else
		pkt_tcp4(&p, SRV, 80, CLI, 41000, flags, seq, 1, 1000, len);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict");
}

static bool test_start_event_fields(struct tenv *e)
{
	struct flow_key want;
	struct flow_event *ev;
	struct timespec ts;
	__u32 s[4], d[4];
	int dir;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!seg(e, true, PKT_SYN, 100, 0) || !ASSERT_EQ(drain_events(e), 1, "one event"))
		return false;
	ev = &e->ev[0];
	pkt_addr(CLI, s);
	pkt_addr(SRV, d);
	dir = flow_key_make(&want, s, 41000, d, 80, IPPROTO_TCP, strchr(CLI, ':') ? 6 : 4);
	return ASSERT_EQ(ev->type, FLOW_EV_START, "start") &&
	       ASSERT_EQ(memcmp(&ev->key, &want, sizeof(want)), 0, "canonical key") &&
	       ASSERT_EQ(ev->dir, dir, "direction") &&
	       ASSERT_EQ(ev->hook, GUARDER_HOOK_XDP, "hook") &&
	       ASSERT_EQ(ev->tcp_flags, PKT_SYN, "flags") && ASSERT_EQ(ev->pkt_len, 40, "length") &&
	       ASSERT_GE(ev->ts_ns, ts.tv_sec * 1000000000ULL + ts.tv_nsec, "timestamp") &&
	       ASSERT_EQ(ev->verdict, GUARDER_VERDICT_PASS, "verdict");
}

static bool test_no_event_for_established(struct tenv *e)
{
	struct global_stats s;
	int i;

	if (!seg(e, true, PKT_SYN, 100, 0) || !seg(e, false, PKT_SYN | PKT_ACK, 900, 0) ||
	    !seg(e, true, PKT_ACK, 101, 0) || !ASSERT_EQ(drain_events(e), 2, "start + SYN-ACK"))
		return false;
	for (i = 0; i < 100; i++)
		if (!seg(e, i & 1, PKT_ACK | PKT_PSH, i & 1 ? 101 + 10 * i : 901 + 10 * i, 10))
			return false;
	read_stats(e, &s);
	return ASSERT_EQ(drain_events(e), 0, "nothing for 100 established packets") &&
	       ASSERT_EQ(s.events, 2, "events counter") &&
	       ASSERT_EQ(s.ringbuf_fail, 0, "no failure");
}

static bool test_syn_ack_event_once(struct tenv *e)
{
	return seg(e, true, PKT_SYN, 100, 0) && seg(e, false, PKT_SYN | PKT_ACK, 900, 0) &&
	       seg(e, false, PKT_SYN | PKT_ACK, 900, 0) &&
	       ASSERT_EQ(drain_events(e), 2, "events") &&
	       ASSERT_EQ(events_of(e, FLOW_EV_START), 1, "one start") &&
	       ASSERT_EQ(events_of(e, FLOW_EV_TCP_SYN), 1, "one SYN-ACK event") &&
	       ASSERT_EQ(e->ev[1].tcp_flags, PKT_SYN | PKT_ACK, "flags of the SYN-ACK");
}

static bool test_fin_event_per_direction(struct tenv *e)
{
	if (!seg(e, true, PKT_SYN, 100, 0) || !seg(e, true, PKT_FIN | PKT_ACK, 101, 0) ||
	    !seg(e, true, PKT_FIN | PKT_ACK, 101, 0) || !seg(e, false, PKT_FIN | PKT_ACK, 900, 0) ||
	    !seg(e, false, PKT_FIN | PKT_ACK, 900, 0))
		return false;
	drain_events(e);
	return ASSERT_EQ(events_of(e, FLOW_EV_TCP_FIN), 2, "one FIN event per direction") &&
	       ASSERT_NEQ(e->ev[1].dir, e->ev[2].dir, "both directions");
}

static bool test_rst_event_once(struct tenv *e)
{
	return seg(e, true, PKT_SYN, 100, 0) && seg(e, false, PKT_RST | PKT_ACK, 0, 0) &&
	       seg(e, false, PKT_RST, 0, 0) && seg(e, true, PKT_RST, 101, 0) &&
	       drain_events(e) == 2 && ASSERT_EQ(events_of(e, FLOW_EV_TCP_RST), 1, "one RST event");
}

/* A flow seen first through its RST: start and RST. */
static bool test_rst_on_new_flow(struct tenv *e)
{
	return seg(e, false, PKT_RST, 0, 0) && ASSERT_EQ(drain_events(e), 2, "two events") &&
	       ASSERT_EQ(e->ev[0].type, FLOW_EV_START, "start first") &&
	       ASSERT_EQ(e->ev[1].type, FLOW_EV_TCP_RST, "then RST");
}

static bool test_tc_event_hook(struct tenv *e)
{
	struct pkt p;

	pkt_udp6(&p, "fd00::1", 1000, "fd00::2", 2000, 8);
	return ASSERT_EQ(run_tc(e, &p, 0, 0), 0, "tc verdict") &&
	       ASSERT_EQ(drain_events(e), 1, "start") &&
	       ASSERT_EQ(e->ev[0].hook, GUARDER_HOOK_TC_EGRESS, "egress hook");
}

static void dest_unreach(struct pkt *p)
{
	struct pkt inner;

	pkt_init(&inner);
	pkt_ipv4(&inner, "10.5.0.1", "10.5.9.9", IPPROTO_UDP, 1, 0);
	pkt_udp(&inner, 4444, 53);
	pkt_finish(&inner);
	pkt_icmp_err4(p, "10.5.0.254", "10.5.0.1", 3, 1, &inner);
}

/* Default interval (1 s): one event for a burst of errors. */
static bool test_icmp_error_event_rate_limited(struct tenv *e)
{
	struct flow_event *ev = NULL;
	struct pkt p;
	int i;

	dest_unreach(&p);
	if (!run_xdp_n(e, &p, 20))
		return false;
	drain_events(e);
	for (i = 0; i < e->nev; i++)
		if (e->ev[i].type == FLOW_EV_ICMP_ERROR)
			ev = &e->ev[i];
	if (!ASSERT_EQ(events_of(e, FLOW_EV_ICMP_ERROR), 1, "one error event for 20 errors") ||
	    !ASSERT_TRUE(ev, "event"))
		return false;
	return ASSERT_EQ(ev->icmp_type, 3, "type") && ASSERT_EQ(ev->icmp_code, 1, "code") &&
	       ASSERT_EQ(ev->inner.valid, 1, "inner") &&
	       ASSERT_EQ(ev->inner.sport, 4444, "inner sport") &&
	       ASSERT_EQ(ev->inner.dport, 53, "inner dport") &&
	       ASSERT_EQ(ev->inner.proto, IPPROTO_UDP, "inner proto");
}

/*
 * With a 1 ns interval every error is reported, once the clock moved: the
 * kernel reads the coarse clock (one tick, at most 10 ms) on this path.
 */
static bool test_icmp_error_event_interval(struct tenv *e)
{
	const struct timespec tick = { 0, 30 * 1000 * 1000 };
	struct pkt p;
	int i;

	dest_unreach(&p);
	for (i = 0; i < 5; i++) {
		if (!run_xdp_n(e, &p, 1))
			return false;
		nanosleep(&tick, NULL);
	}
	return drain_events(e) > 0 &&
	       ASSERT_EQ(events_of(e, FLOW_EV_ICMP_ERROR), 5, "one per error");
}

/* 4 KiB of ring buffer hold 34 records: the rest are counted as failures. */
static bool test_ringbuf_full_counted(struct tenv *e)
{
	struct global_stats s;
	char src[32];
	struct pkt p;
	int i, got;

	for (i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "10.6.%d.%d", i / 200, i % 200 + 1);
		pkt_udp4(&p, src, 1000, "10.6.255.1", 53, 0);
		if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict even when the buffer is full"))
			return false;
	}
	got = drain_events(e);
	read_stats(e, &s);
	return ASSERT_EQ(flow_count(e), 100, "all flows tracked") &&
	       ASSERT_GE(s.ringbuf_fail, 1, "failures") &&
	       ASSERT_EQ(s.events, got, "every submitted event arrived") &&
	       ASSERT_EQ(s.events + s.ringbuf_fail, 100, "every start either submitted or counted");
}

int main(void)
{
	static const struct test_case cases[] = {
		TEST(start_event_fields),
		TEST(no_event_for_established),
		TEST(syn_ack_event_once),
		TEST(fin_event_per_direction),
		TEST(rst_event_once),
		TEST(rst_on_new_flow),
		TEST(tc_event_hook),
		TEST(icmp_error_event_rate_limited),
		TEST(icmp_error_event_interval, .icmp_event_interval_ns = 1),
		TEST(ringbuf_full_counted, .ringbuf_size = 4096),
	};

	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}
