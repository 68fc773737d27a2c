// SPDX-License-Identifier: GPL-2.0
/*
 * The streaming benchmark's event source: every run of this program writes
 * one synthetic struct flow_event into the collector's own ring buffer
 * (the pinned "events" map, reused by the driver before load), exactly as
 * the tracker's emit_event() would, and counts it in the collector's
 * pinned "stats" map (events / ringbuf_fail), so the collector and its
 * stats file see these events as kernel events.
 *
 * It is an XDP program only because BPF_PROG_TEST_RUN with "repeat" runs
 * XDP programs N times in one syscall; it is never attached and ignores
 * the packet it is given.
 *
 * The mix (docs/benchmarks.md, "Streaming"): FLOW_EV_DROP
 * for TCP and UDP flows and FLOW_EV_ICMP_ERROR, the two event types that
 * make exactly one record each and keep no state in the collector's view,
 * so a long run does not grow the view. Keys are spread over 2^24 client
 * addresses and 60,000 client ports so Kafka partitions fill evenly.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "kernel/conn_tracker.h"
/* events and stats: reused from the collector (bpf_map__reuse_fd); sizes come from the pins. */
#include "kernel/shared_maps.h"

/* Set by the driver before load. */
const volatile __u32 ifindex = 0; /* the veth the collector watches */
const volatile __u32 icmp_permille = 150; /* share of ICMP error events */

/* Read by the driver through the mmaped .bss: exact, whatever the CPU. */
__u64 seq = 0; /* events attempted */
__u64 written = 0; /* reserved and submitted */
__u64 failed = 0; /* reserve failed: ring buffer full */

/* A cheap 64-bit mix (splitmix64's finaliser): well spread keys from a counter. */
static __always_inline __u64 mix64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* ::ffff:a.b.c.d in network byte order, as the tracker stores IPv4. */
static __always_inline void v4mapped(__u32 a[4], __u32 host_order)
{
	a[0] = 0;
	a[1] = 0;
	a[2] = __builtin_bswap32(0x0000ffff);
	a[3] = __builtin_bswap32(host_order);
}

/*
 * Server ports of a realistic drop mix (ssh, dns, http, https, rdp, ...).
 * A global (not static) const: clang 14 emits BTF the kernel refuses for a
 * static one in .rodata.
 */
const volatile __u16 server_ports[8] = { 22, 53, 80, 443, 3389, 8080, 25, 123 };

SEC("xdp")
int evgen(struct xdp_md *ctx)
{
	struct global_stats *st;
	struct flow_event *e;
	__u32 zero = 0;
	__u64 n, h, h2;
	__u32 client;

	st = bpf_map_lookup_elem(&stats, &zero);
	n = __sync_fetch_and_add(&seq, 1);
	h = mix64(n);
	h2 = mix64(h); /* ports and kinds, independent of the addresses */

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&failed, 1);
		if (st)
			__sync_fetch_and_add(&st->ringbuf_fail, 1);
		return XDP_PASS;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	/* clients in 10.0.0.0/8 sort before servers in 198.18.0.0/15: key order is fixed */
	client = 0x0a000000 | (__u32)(h & 0xffffff);
	v4mapped(e->key.addr_lo, client);
	v4mapped(e->key.addr_hi, 0xc6120000 | (__u32)((h >> 24) & 0x1ffff));
	e->ifindex = ifindex;
	e->hook = GUARDER_HOOK_XDP;
	e->verdict = GUARDER_VERDICT_DROP;
	e->dir = 0; /* the client sent the packet */

	if (h2 % 1000 < icmp_permille) {
		/* a router says "port unreachable" about a UDP packet of the client */
		e->type = FLOW_EV_ICMP_ERROR;
		e->key.proto = IPPROTO_ICMP;
		e->verdict = GUARDER_VERDICT_PASS;
		e->dir = 1;
		e->pkt_len = 56 + (__u32)((h2 >> 10) & 0x3f);
		e->icmp_type = 3;
		e->icmp_code = 3;
		__builtin_memcpy(e->inner.src, e->key.addr_lo, sizeof(e->inner.src));
		__builtin_memcpy(e->inner.dst, e->key.addr_hi, sizeof(e->inner.dst));
		e->inner.sport = 1024 + (__u16)((h2 >> 16) % 60000);
		e->inner.dport = server_ports[(h2 >> 40) & 7];
		e->inner.proto = IPPROTO_UDP;
		e->inner.valid = 1;
	} else {
		e->type = FLOW_EV_DROP;
		e->key.port_lo = 1024 + (__u16)((h2 >> 16) % 60000);
		e->key.port_hi = server_ports[(h2 >> 40) & 7];
		e->rule_id = 1 + (__u32)((h2 >> 44) % 1000);
		if ((h2 >> 60) < 12) { /* 3/4 TCP SYNs, 1/4 UDP datagrams */
			e->key.proto = IPPROTO_TCP;
			e->tcp_flags = 0x02;
			e->pkt_len = 60;
		} else {
			e->key.proto = IPPROTO_UDP;
			e->pkt_len = 28 + (__u32)((h2 >> 50) & 0x1ff);
		}
	}
	bpf_ringbuf_submit(e, 0);
	__sync_fetch_and_add(&written, 1);
	if (st)
		__sync_fetch_and_add(&st->events, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
