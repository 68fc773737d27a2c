// SPDX-License-Identifier: GPL-2.0
/*
 * One named test per "Kernel" defect of the tool we rebuild
 * (../shared/reference/original-review.md) that applies to this program,
 * each showing we do not have it. The filter defects (first pass with zeroed
 * fields, tcp rules matching other protocols, allow not stopping, ICMP
 * counted before the filter) are the defect_* cases of test_filter.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpftest.h"

/*
 * "ICMP error inner header read 8 bytes too far". The quote is built so
 * that reading 8 bytes further gives other, recognisable values: at +8
 * the "source address" would be the quoted UDP ports and the "protocol"
 * the quoted checksum's high byte.
 */
static bool test_defect_icmp_inner_offset_v4(struct tenv *e)
{
	struct icmp_value v;
	struct pkt inner, p;
	__u32 want_src[4], want_dst[4];

	pkt_init(&inner);
	pkt_ipv4(&inner, "192.0.2.10", "198.51.100.20", IPPROTO_UDP, 0x4242, 0);
	pkt_udp(&inner, 0x1111, 0x2222);
	pkt_payload(&inner, 16);
	pkt_finish(&inner);
	inner.len = 28;
	pkt_icmp_err4(&p, "203.0.113.1", "192.0.2.10", 3, 3, &inner);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") ||
	    !ASSERT_OK(icmp_get(e, "203.0.113.1", "192.0.2.10", 3, 3, 4, &v), "entry"))
		return false;
	pkt_addr("192.0.2.10", want_src);
	pkt_addr("198.51.100.20", want_dst);
	return ASSERT_EQ(v.inner.src[3], want_src[3], "inner src at offset 12 of the quote") &&
	       ASSERT_EQ(v.inner.dst[3], want_dst[3], "inner dst at offset 16") &&
	       ASSERT_EQ(v.inner.proto, IPPROTO_UDP, "inner proto at offset 9") &&
	       ASSERT_EQ(v.inner.sport, 0x1111, "inner sport right after the IHL") &&
	       ASSERT_EQ(v.inner.dport, 0x2222, "inner dport");
}

static bool test_defect_icmp_inner_offset_v6(struct tenv *e)
{
	struct icmp_value v;
	struct pkt inner, p;
	__u32 want[4];

	pkt_init(&inner);
	pkt_ipv6(&inner, "2001:db8::10", "2001:db8:1::20", IPPROTO_UDP);
	pkt_udp(&inner, 0x3333, 0x4444);
	pkt_finish(&inner);
	pkt_icmp_err6(&p, "2001:db8::1", "2001:db8::10", 1, 3, &inner);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict") ||
	    !ASSERT_OK(icmp_get(e, "2001:db8::1", "2001:db8::10", 1, 3, 6, &v), "entry"))
		return false;
	pkt_addr("2001:db8::10", want);
	if (!ASSERT_EQ(memcmp(v.inner.src, want, 16), 0, "inner src at offset 8 of the quote"))
		return false;
	pkt_addr("2001:db8:1::20", want);
	return ASSERT_EQ(memcmp(v.inner.dst, want, 16), 0, "inner dst at offset 24") &&
	       ASSERT_EQ(v.inner.proto, IPPROTO_UDP, "inner next header") &&
	       ASSERT_EQ(v.inner.sport, 0x3333, "inner sport") &&
	       ASSERT_EQ(v.inner.dport, 0x4444, "inner dport");
}

/* "Total packets double-counted for TCP and ICMP". */
static bool test_defect_packets_counted_once(struct tenv *e)
{
	struct global_stats s;
	__u64 total = 0, bytes = 0;
	struct pkt p;
	int i;

	pkt_tcp4(&p, "10.7.0.1", 1, "10.7.0.2", 2, PKT_SYN, 1, 0, 100, 0);
	if (!run_xdp_n(e, &p, 3))
		return false;
	pkt_echo4(&p, "10.7.0.1", "10.7.0.2", 8, 1, 1);
	if (!run_xdp_n(e, &p, 4))
		return false;
	pkt_udp6(&p, "fd00::1", 1, "fd00::2", 2, 0);
	if (!run_xdp_n(e, &p, 5))
		return false;
	read_stats(e, &s);
	for (i = 0; i < GUARDER_P_MAX; i++) {
		total += s.packets[i];
		bytes += s.bytes[i];
	}
	return ASSERT_EQ(s.packets[GUARDER_P_TCP], 3, "TCP once each") &&
	       ASSERT_EQ(s.packets[GUARDER_P_ICMP], 4, "ICMP once each") &&
	       ASSERT_EQ(s.packets[GUARDER_P_UDP], 5, "UDP once each") &&
	       ASSERT_EQ(total, 12, "total = packets sent") &&
	       ASSERT_EQ(bytes, 3 * 40 + 4 * 60 + 5 * 48, "total bytes");
}

/* Slots of icmp_counts that counted something (any CPU); -1 on error. */
static int icmp_counts_nonzero(struct tenv *e)
{
	int fd = bpf_map__fd(e->skel->maps.icmp_counts), ncpu = libbpf_num_possible_cpus();
	int n = 0, c;
	__u64 *per;
	__u32 i;

	if (ncpu < 1)
		return -1;
	per = calloc(ncpu, sizeof(*per));
	if (!per)
		return -1;
	for (i = 0; i < GUARDER_ICMP_COUNTS_SLOTS; i++) {
		if (bpf_map_lookup_elem(fd, &i, per)) {
			n = -1;
			break;
		}
		for (c = 0; c < ncpu; c++) {
			if (per[c]) {
				n++;
				break;
			}
		}
	}
	free(per);
	return n;
}

/* "every TCP packet bumps ICMP type 0". */
static bool test_defect_tcp_not_counted_as_icmp(struct tenv *e)
{
	struct global_stats s;
	struct pkt p;

	pkt_tcp4(&p, "10.7.0.1", 1, "10.7.0.2", 2, PKT_ACK, 1, 1, 100, 10);
	if (!run_xdp_n(e, &p, 10))
		return false;
	read_stats(e, &s);
	if (!ASSERT_EQ(icmp_counts_nonzero(e), 0, "no ICMP type/code counted") ||
	    !ASSERT_EQ(icmp_count_get(e, 4, 0, 0), 0, "ICMP type 0 untouched") ||
	    !ASSERT_EQ(s.packets[GUARDER_P_ICMP], 0, "no ICMP packets"))
		return false;
	/* The counters do work: one echo request fills exactly its own slot. */
	pkt_echo4(&p, "10.7.0.1", "10.7.0.2", 8, 7, 1);
	if (!run_xdp_n(e, &p, 1))
		return false;
	return ASSERT_EQ(icmp_counts_nonzero(e), 1, "one ICMP slot counted") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 8, 0), 1, "echo request counted") &&
	       ASSERT_EQ(icmp_count_get(e, 4, 0, 0), 0, "ICMP type 0 still untouched");
}

static bool bytes_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* "padding in map keys not zeroed": every key and event byte is written. */
static bool test_defect_key_padding_zeroed(struct tenv *e)
{
	struct flow_key fk, fnext;
	struct icmp_key ik, inext;
	struct pkt inner, p;
	void *prev = NULL;
	int fd, n = 0, i;

	pkt_tcp4(&p, "10.7.0.1", 1, "10.7.0.2", 2, PKT_SYN, 1, 0, 100, 0);
	if (!run_xdp_n(e, &p, 1))
		return false;
	pkt_echo6(&p, "fd00::1", "fd00::2", 128, 3, 1);
	if (!run_xdp_n(e, &p, 1))
		return false;
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.7.0.2", "10.7.0.9", IPPROTO_UDP, 1, 0);
	pkt_finish(&inner);
	pkt_icmp_err4(&p, "10.7.0.254", "10.7.0.2", 3, 0, &inner);
	if (!run_xdp_n(e, &p, 1))
		return false;

	fd = bpf_map__fd(e->skel->maps.flows);
	while (!bpf_map_get_next_key(fd, prev, &fnext)) {
		fk = fnext;
		prev = &fk;
		n++;
		if (!ASSERT_TRUE(bytes_zero(fk.pad, sizeof(fk.pad)), "flow_key padding"))
			return false;
	}
	if (!ASSERT_EQ(n, 2, "two flows (an ICMP error is not one)"))
		return false;
	prev = NULL;
	n = 0;
	fd = bpf_map__fd(e->skel->maps.icmp_flows);
	while (!bpf_map_get_next_key(fd, prev, &inext)) {
		ik = inext;
		prev = &ik;
		n++;
		if (!ASSERT_EQ(ik.pad, 0, "icmp_key padding"))
			return false;
	}
	if (!ASSERT_EQ(n, 2, "two ICMP view entries"))
		return false;
	drain_events(e);
	for (i = 0; i < e->nev; i++) {
		struct flow_event *ev = &e->ev[i];

		if (!ASSERT_TRUE(bytes_zero(ev->key.pad, sizeof(ev->key.pad)) && ev->pad == 0 && ev->pad2 == 0 &&
					 bytes_zero(ev->inner.pad, 2),
				 "event padding"))
			return false;
	}
	return ASSERT_EQ(e->nev, 3, "2 starts and 1 ICMP error");
}

/*
 * "u16 underflow on a malformed total length": a total length shorter
 * than the IP + TCP headers must not yield a 65,5xx-byte payload.
 */
static bool test_defect_total_length_underflow(struct tenv *e)
{
	struct global_stats s;
	struct pkt p;

	pkt_tcp4(&p, "10.7.0.1", 1, "10.7.0.2", 2, PKT_ACK, 1, 1, 100, 0);
	p.data[p.l3 + 2] = 0;
	p.data[p.l3 + 3] = 30; /* > IHL*4, < IHL*4 + TCP header */
	p.data[p.l3 + 10] = p.data[p.l3 + 11] = 0;
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	p.data[p.l3 + 3] = 8; /* < IHL*4 */
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "verdict"))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(s.malformed[GUARDER_M_L4_TRUNC], 1, "TCP header beyond total length") &&
	       ASSERT_EQ(s.malformed[GUARDER_M_IPV4_TOTLEN], 1, "total length below IHL") &&
	       ASSERT_EQ(s.bytes[GUARDER_P_TCP], 0, "no bytes accounted") &&
	       ASSERT_EQ(flow_count(e), 0, "not tracked");
}

struct hammer {
	int prog_fd;
	const struct pkt *p;
	int repeat;
	int cpu;
	pthread_barrier_t *start;
	int err;
};

/* Run the program on one CPU, starting together with the other thread. */
static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = h->p->data, .data_size_in = h->p->len,
		    .repeat = h->repeat);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(h->cpu, &set);
	/* Best effort: without it the threads may still overlap. */
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(h->start);
	h->err = bpf_prog_test_run_opts(h->prog_fd, &opts);
	return NULL;
}

/*
 * "Non-atomic counter updates on shared entries": two threads (two CPUs
 * on this machine) hit one flow at once; not one packet may be lost,
 * neither in the flow entry nor in the per-CPU global counters.
 */
static bool test_defect_shared_counters_exact(struct tenv *e)
{
	const int repeat = 1000000;
	pthread_barrier_t start;
	struct hammer h[2];
	pthread_t th[2];
	struct global_stats s;
	struct flow_value v;
	struct pkt a, b;
	int c, i;

	pkt_udp4(&a, "10.8.0.1", 1000, "10.8.0.2", 2000, 10);
	pkt_udp4(&b, "10.8.0.2", 2000, "10.8.0.1", 1000, 10);
	if (!run_xdp_n(e, &a, 1))
		return false;
	pthread_barrier_init(&start, NULL, 2);
	for (i = 0; i < 2; i++) {
		h[i] = (struct hammer){ .prog_fd = bpf_program__fd(e->skel->progs.xdp_conn_tracker),
					.p = &a,
					.repeat = repeat,
					.cpu = i % libbpf_num_possible_cpus(),
					.start = &start };
		if (!ASSERT_OK(pthread_create(&th[i], NULL, hammer_run, &h[i]), "thread"))
			return false; /* the first thread waits at the barrier forever: exit */
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < 2; i++)
		if (!ASSERT_OK(h[i].err, "test run"))
			return false;
	if (!run_xdp_n(e, &b, 1) ||
	    !ASSERT_OK(flow_get(e, "10.8.0.1", 1000, "10.8.0.2", 2000, IPPROTO_UDP, &v, &c),
		       "flow"))
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(bpf_map__type(e->skel->maps.stats), BPF_MAP_TYPE_PERCPU_ARRAY,
			 "global counters are per-CPU") &&
	       ASSERT_EQ(bpf_map__type(e->skel->maps.icmp_counts), BPF_MAP_TYPE_PERCPU_ARRAY,
			 "ICMP counts are per-CPU") &&
	       ASSERT_EQ(v.dir[c].packets, 1 + 2 * repeat, "flow packets exact") &&
	       ASSERT_EQ(v.dir[c].bytes, (1 + 2ULL * repeat) * 38, "flow bytes exact") &&
	       ASSERT_EQ(v.dir[!c].packets, 1, "reply") &&
	       ASSERT_EQ(s.packets[GUARDER_P_UDP], 2 + 2 * repeat, "global packets exact");
}

/*
 * The same for the ICMP view, whose counters take plain adds on the CPU
 * that created the entry and atomics on the others: two CPUs hit one
 * entry at once and not one packet may be lost; the packets of each
 * thread land in the entry's own half or its other half.
 */
static bool test_defect_icmp_view_counters_exact(struct tenv *e)
{
	const int repeat = 500000;
	pthread_barrier_t start;
	struct hammer h[2];
	pthread_t th[2];
	struct icmp_value v, raw;
	struct icmp_key k;
	struct pkt a;
	int i;

	pkt_echo4(&a, "10.8.1.1", "10.8.1.2", 8, 5, 1);
	if (!run_xdp_n(e, &a, 1))
		return false;
	pthread_barrier_init(&start, NULL, 2);
	for (i = 0; i < 2; i++) {
		h[i] = (struct hammer){ .prog_fd = bpf_program__fd(e->skel->progs.xdp_conn_tracker),
					.p = &a,
					.repeat = repeat,
					.cpu = i % libbpf_num_possible_cpus(),
					.start = &start };
		if (!ASSERT_OK(pthread_create(&th[i], NULL, hammer_run, &h[i]), "thread"))
			return false; /* the first thread waits at the barrier forever: exit */
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < 2; i++)
		if (!ASSERT_OK(h[i].err, "test run"))
			return false;
	memset(&k, 0, sizeof(k));
	pkt_addr("10.8.1.1", k.src);
	pkt_addr("10.8.1.2", k.dst);
	k.type = 8;
	k.family = 4;
	if (!ASSERT_OK(bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.icmp_flows), &k, &raw),
		       "raw entry") ||
	    !ASSERT_OK(icmp_get(e, "10.8.1.1", "10.8.1.2", 8, 0, 4, &v), "entry"))
		return false;
	return ASSERT_EQ(v.packets_own, 1 + 2 * repeat, "view packets exact") &&
	       ASSERT_EQ(v.bytes_own, (1 + 2ULL * repeat) * 60, "view bytes exact") &&
	       ASSERT_GE(raw.packets_own, 1, "the creating CPU counts in its own half") &&
	       (libbpf_num_possible_cpus() < 2 ||
		ASSERT_GE(raw.packets_other, 1, "the other CPU counts in the other half")) &&
	       ASSERT_EQ(icmp_count_get(e, 4, 8, 0), 1 + 2 * repeat, "type/code count exact");
}

/* "now - ktime gives roughly the boot time": we store the monotonic time. */
static bool test_defect_timestamps_are_event_time(struct tenv *e)
{
	struct timespec t0, t1;
	struct flow_value v;
	struct pkt p;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pkt_udp4(&p, "10.9.0.1", 1, "10.9.0.2", 2, 0);
	if (!run_xdp_n(e, &p, 1))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!ASSERT_OK(flow_get(e, "10.9.0.1", 1, "10.9.0.2", 2, IPPROTO_UDP, &v, NULL), "flow"))
		return false;
	return ASSERT_GE(v.first_seen_ns, t0.tv_sec * 1000000000ULL + t0.tv_nsec, "after t0") &&
	       ASSERT_GE(t1.tv_sec * 1000000000ULL + t1.tv_nsec, v.first_seen_ns, "before t1");
}

/* "Only ingress": the egress program tracks what the host sends. */
static bool test_defect_egress_tracked(struct tenv *e)
{
	struct flow_value v;
	struct pkt p;
	int c;

	pkt_tcp6(&p, "fd00::1", 2222, "fd00::2", 22, PKT_SYN, 1, 0, 100, 0);
	return ASSERT_EQ(run_tc(e, &p, 0, 0), 0, "tc verdict") &&
	       ASSERT_OK(flow_get(e, "fd00::1", 2222, "fd00::2", 22, IPPROTO_TCP, &v, &c),
			 "flow") &&
	       ASSERT_EQ(v.dir[c].packets, 1, "egress packet counted");
}

/* "retrans/dup-ack/out-of-order/malformed counters never written". */
static bool test_defect_anomaly_counters_written(struct tenv *e)
{
	struct global_stats s;
	struct pkt p;

	pkt_tcp4(&p, "10.9.0.1", 5, "10.9.0.2", 6, PKT_ACK, 100, 7, 0, 10);
	if (!run_xdp_n(e, &p, 2)) /* a retransmission, zero windows */
		return false;
	pkt_tcp4(&p, "10.9.0.1", 5, "10.9.0.2", 6, PKT_ACK, 500, 7, 10, 10);
	if (!run_xdp_n(e, &p, 1)) /* a gap */
		return false;
	pkt_tcp4(&p, "10.9.0.2", 6, "10.9.0.1", 5, PKT_ACK, 7, 100, 10, 0);
	if (!run_xdp_n(e, &p, 2)) /* a dup ACK */
		return false;
	p.len = 20;
	if (!run_xdp_n(e, &p, 1)) /* malformed */
		return false;
	read_stats(e, &s);
	return ASSERT_EQ(s.tcp_retransmits, 1, "retransmissions") &&
	       ASSERT_EQ(s.tcp_out_of_order, 1, "out of order") &&
	       ASSERT_EQ(s.tcp_dup_acks, 1, "dup acks") &&
	       ASSERT_EQ(s.tcp_zero_windows, 2, "zero windows") &&
	       ASSERT_EQ(s.malformed[GUARDER_M_IPV4_TRUNC], 1, "malformed");
}

int main(void)
{
	static const struct test_case cases[] = {
		TEST(defect_icmp_inner_offset_v4),  TEST(defect_icmp_inner_offset_v6),
		TEST(defect_packets_counted_once),  TEST(defect_tcp_not_counted_as_icmp),
		TEST(defect_key_padding_zeroed),    TEST(defect_total_length_underflow),
		TEST(defect_shared_counters_exact), TEST(defect_icmp_view_counters_exact),
		TEST(defect_timestamps_are_event_time),
		TEST(defect_egress_tracked),	    TEST(defect_anomaly_counters_written),
	};

	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}
