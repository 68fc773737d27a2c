// SPDX-License-Identifier: GPL-2.0
/*
 * The flood generator of bench_xdp: rewrites the IPv4 source (or the TCP
 * source port) of the test frame on every run, then tail-calls the
 * program under measurement. BPF_PROG_TEST_RUN keeps the frame's bytes
 * from one repeat to the next, so one test run of @repeat frames is a
 * flood of @repeat distinct tuples, timed by the kernel. The same wrapper
 * around the trivial program gives its own cost, which bench_xdp takes off.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

/* Set before load: 0 rewrites the source address, 1 the source port. */
volatile const __u32 vary_port;
/* Sources: base + (n & mask), host order. */
volatile const __u32 src_base;
volatile const __u32 src_mask;

__u32 runs;

SEC("xdp")
int xdp_mutate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(ip + 1);
	__u32 n = ++runs;

	if ((void *)(th + 1) > end)
		return XDP_ABORTED;
	if (vary_port)
		th->source = bpf_htons(1024 + n % 64000);
	else
		ip->saddr = bpf_htonl(src_base + (n & src_mask));
	bpf_tail_call(ctx, &target, 0);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
