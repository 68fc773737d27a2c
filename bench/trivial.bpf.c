// SPDX-License-Identifier: GPL-2.0
// The team's shared yardstick, copied unchanged from ../shared/bench/trivial.bpf.c.
// The floor for per-packet cost: an XDP program that passes every packet.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";
