// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in for an older version of the kernel program in the upgrade
 * test: programs with our names that pass everything and use none of our
 * maps, so that a new collector must replace them (atomically) rather
 * than adopt them.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

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
