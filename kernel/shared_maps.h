/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The two maps the collector reads from any program that feeds it: the
 * ring buffer of struct flow_event and the per-CPU struct global_stats.
 * Defined once, for the tracker and for bench/stream's event generator
 * (which reuses the collector's pinned ones). BPF side only.
 */
#ifndef GUARDER_SHARED_MAPS_H
#define GUARDER_SHARED_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "kernel/conn_tracker.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GUARDER_RINGBUF_DEFAULT);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct global_stats);
} stats SEC(".maps");

#endif /* GUARDER_SHARED_MAPS_H */
