// SPDX-License-Identifier: GPL-2.0
// The team's shared yardstick, copied unchanged from ../shared/bench/floor.bpf.c.
// The floor for a flow tracker: parse Ethernet/IPv4/TCP-UDP, look the 5-tuple up in an
// LRU hash (insert when new) and add packets/bytes. Any real tracker does at least this.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
struct key { __u32 s, d; __u16 sp, dp; __u8 p, pad[3]; };
struct val { __u64 pkts, bytes; };
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 1 << 20);
	 __type(key, struct key); __type(value, struct val); } flows SEC(".maps");
SEC("xdp") int xdp_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end) return XDP_PASS;
	struct key k = { .s = ip->saddr, .d = ip->daddr, .p = ip->protocol };
	__u16 *ports = (void *)ip + ip->ihl * 4;
	if ((void *)(ports + 2) > end) return XDP_PASS;
	k.sp = ports[0]; k.dp = ports[1];
	struct val *v = bpf_map_lookup_elem(&flows, &k);
	if (!v) { struct val n = { 1, end - data }; bpf_map_update_elem(&flows, &k, &n, BPF_NOEXIST); return XDP_PASS; }
	__sync_fetch_and_add(&v->pkts, 1); __sync_fetch_and_add(&v->bytes, end - data);
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
