// SPDX-License-Identifier: GPL-2.0
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kernel/conn_tracker.h"
#include "kernel/parsing.h"
SEC("xdp") int xdp_conn_tracker(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";
