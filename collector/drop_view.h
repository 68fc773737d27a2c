/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The filter's drops, as the stream reports them: the kernel adds every
 * dropped packet to a per-CPU aggregate (drop_agg: source, rule or reason,
 * hook, interface) and keeps no flow state for it; every
 * collector.export_interval this view reads the aggregates and emits one
 * "drops" record per aggregate that dropped something since the last one,
 * with what it dropped in the interval (docs/records.md).
 */
#ifndef GUARDER_DROP_VIEW_H
#define GUARDER_DROP_VIEW_H

#include <stdint.h>

#include "flow_view.h"

struct drop_view;

struct drop_view_stats {
	uint64_t records;     /* drops records emitted */
	uint64_t aggregates;  /* aggregates known now */
	uint64_t gone;	      /* aggregates the kernel's LRU evicted between two reads */
	uint64_t read_errors; /* sweeps that could not read the map */
};

/*
 * drop_view_new - an empty view for at most @max aggregates (the size of
 * drop_agg) that emits through @fv. Returns NULL with errno set.
 */
struct drop_view *drop_view_new(struct flow_view *fv, uint32_t max);
void drop_view_free(struct drop_view *dv);

/*
 * drop_view_sweep - read drop_agg (@drops_fd) and emit a record for every
 * aggregate whose counts grew since the previous sweep (the first sweep
 * reports what the pinned aggregates hold: drops while no collector ran).
 * @now_ns is CLOCK_MONOTONIC. Returns the number of records or a negative
 * errno (logged once; the view stays as it was).
 */
int drop_view_sweep(struct drop_view *dv, int drops_fd, uint64_t now_ns);

void drop_view_get_stats(const struct drop_view *dv, struct drop_view_stats *out);

#endif /* GUARDER_DROP_VIEW_H */
