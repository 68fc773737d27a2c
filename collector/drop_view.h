/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The filter's drops, as the stream reports them: the kernel adds every
 * dropped packet to a per-CPU aggregate (drop_agg: source, rule or reason,
 * hook, interface; kernel/conn_tracker.h) and keeps no flow state for it;
 * every collector.export_interval this view switches the kernel to the
 * other half of drop_agg, reads the half it left and emits one "drops"
 * record per aggregate, with what it dropped in the interval
 * (docs/records.md).
 */
#ifndef GUARDER_DROP_VIEW_H
#define GUARDER_DROP_VIEW_H

#include <stdint.h>

#include "flow_view.h"

struct drop_view;

struct drop_view_stats {
	uint64_t records;     /* drops records emitted */
	uint64_t aggregates;  /* distinct aggregates read, all sweeps */
	uint64_t sweeps;      /* sweeps that read their half */
	uint64_t read_errors; /* sweeps that could not switch or read the map */
};

/*
 * drop_view_new - a view of drop_agg (@drops_fd, @half_slots slots per
 * half) whose epoch is in tracker_cfg (@cfg_fd), emitting through @fv.
 * The fds stay the caller's. Returns NULL with errno set.
 */
struct drop_view *drop_view_new(struct flow_view *fv, int drops_fd, int cfg_fd,
				uint32_t half_slots);
void drop_view_free(struct drop_view *dv);

/*
 * drop_view_sweep - switch the kernel to drop_agg's other half, wait for
 * the packets in flight, and emit a record for every aggregate of the
 * half it left: what was dropped since the previous sweep (the first one
 * also reports drops made while no collector ran). @now_ns is
 * CLOCK_MONOTONIC. Returns the number of records or a negative errno
 * (logged once; what was read before the error is still emitted).
 */
int drop_view_sweep(struct drop_view *dv, uint64_t now_ns);

void drop_view_get_stats(const struct drop_view *dv, struct drop_view_stats *out);

#endif /* GUARDER_DROP_VIEW_H */
