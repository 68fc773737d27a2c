// SPDX-License-Identifier: GPL-2.0
/*
 * Guarder's kernel flow tracker. xdp_conn_tracker sees ingress,
 * tc_egress_tracker sees egress. Skeleton: maps and program names are the
 * contract with the collector (kernel/conn_tracker.h); the bodies follow.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "kernel/conn_tracker.h"
#include "kernel/parsing.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARDER_FLOWS_DEFAULT);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARDER_ICMP_FLOWS_DEFAULT);
	__type(key, struct icmp_key);
	__type(value, struct icmp_value);
} icmp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct global_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, GUARDER_ICMP_COUNTS_MAX);
	__type(key, struct icmp_count_key);
	__type(value, __u64);
} icmp_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GUARDER_RINGBUF_DEFAULT);
} events SEC(".maps");

/* Minimum interval between two ICMP error events of one icmp_flows entry. */
const volatile __u64 icmp_event_interval_ns = 1000000000ULL;

SEC("xdp")
int xdp_conn_tracker(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int tc_egress_tracker(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
