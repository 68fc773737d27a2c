/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Harness of the 'bpf' suite: loads the real conn_tracker skeleton (fresh,
 * unpinned maps for every test case), runs crafted frames through the XDP
 * and tc programs with bpf_prog_test_run_opts, and reads the maps and the
 * ring buffer back. ASSERT_* (bpftest_assert.h) return bool, in the style
 * of the kernel's BPF selftests, so a failed step can stop a test case
 * cleanly.
 */
#ifndef GUARDER_BPFTEST_H
#define GUARDER_BPFTEST_H

#include <stdbool.h>
#include <stdio.h>

#include "bpftest_assert.h"
#include "kernel/conn_tracker.h"
#include "conn_tracker.skel.h"
#include "pktbuild.h"

#define TENV_EVENTS_MAX 512

struct tenv_opts {
	__u32 ringbuf_size; /* 0: 64 KiB */
	__u32 flows_max; /* 0: 1024 */
	__u64 icmp_event_interval_ns; /* 0: the collector's (1 s) */
	bool unparsed_pass; /* filter.unparsed: pass (default drop, as the collector) */
	__u32 frags_max; /* 0: 256 */
	__u32 drops_max; /* 0: 1024 */
};

struct tenv {
	struct conn_tracker *skel;
	struct ring_buffer *rb;
	struct flow_event ev[TENV_EVENTS_MAX];
	int nev;
};

struct test_case {
	const char *name;
	bool (*fn)(struct tenv *e);
	struct tenv_opts opts;
};

/* A case named after its function test_<name>; optional tenv_opts fields. */
#define TEST(nm, ...)                                                 \
	{                                                             \
		.name = #nm, .fn = test_##nm, .opts = { __VA_ARGS__ } \
	}

/*
 * run_tests - main() of a test program: exits 77 (skipped) when this
 * process may not load BPF programs, otherwise runs every case with a
 * fresh environment and returns 0 when all passed, 1 otherwise.
 */
int run_tests(const struct test_case *cases, int n);

/* Run one frame through the XDP program. Returns its verdict or -errno. */
int run_xdp(struct tenv *e, const struct pkt *p);
/*
 * Run one frame through the tc egress program as an skb; @gso_segs > 1
 * makes it a GSO super-packet of that many segments of @gso_size bytes.
 * Returns the tc verdict or -errno.
 */
int run_tc(struct tenv *e, const struct pkt *p, __u32 gso_segs, __u32 gso_size);
/* Run @p @n times; returns false (after reporting) if any run failed. */
bool run_xdp_n(struct tenv *e, const struct pkt *p, int n);

/*
 * Sum of the per-CPU global counters. Returns 0 or -errno; a failure is
 * reported and fails the case (@out is then zeros), so a caller may ignore
 * the return value without asserting on counters it never read.
 */
int read_stats(struct tenv *e, struct global_stats *out);
/*
 * drop_agg_sum - packets and bytes of the drop aggregates of source @src
 * (text) with @reason and (for GUARDER_DROP_RULE) @rule_id, summed over
 * CPUs, interfaces and hooks, of the epoch the kernel counts in now.
 * Returns the number of per-CPU slots found
 * (0: none) or -errno (reported; the case fails).
 */
int drop_agg_sum(struct tenv *e, const char *src, __u8 reason, __u32 rule_id, __u64 *packets,
		 __u64 *bytes);
/* Entries of a map (by key size), or -errno. */
int map_entries(int fd, size_t key_size);

/*
 * Look the flow of a packet from src:sport to dst:dport up. Fills @v and
 * @dir (the direction of such a packet). Returns 0 or -ENOENT.
 */
int flow_get(struct tenv *e, const char *src, __u16 sport, const char *dst, __u16 dport, __u8 proto,
	     struct flow_value *v, int *dir);
/* Number of entries in the flow table. */
int flow_count(struct tenv *e);
/*
 * Look an ICMP view entry up; 0 or -errno. The counts come back folded:
 * packets_own/bytes_own hold the totals, the *_other fields 0.
 */
int icmp_get(struct tenv *e, const char *src, const char *dst, __u8 type, __u8 code, __u8 family,
	     struct icmp_value *v);
/*
 * Sum over CPUs of the icmp_counts slot of (family 4|6, type, code); codes
 * from GUARDER_ICMP_CODE_CLAMP up share one slot. 0 when unreadable, and
 * then the case fails (reported).
 */
__u64 icmp_count_get(struct tenv *e, __u8 family, __u8 type, __u8 code);
/*
 * Consume the ring buffer into e->ev; returns how many records arrived, or
 * -errno (reported, and the case fails).
 */
int drain_events(struct tenv *e);
/* Number of drained events of @type. */
int events_of(struct tenv *e, __u8 type);

#endif /* GUARDER_BPFTEST_H */
