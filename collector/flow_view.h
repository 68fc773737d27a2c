/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The collector's user-space view of flows. It learns of flows from
 * ring-buffer events and from periodic scans of the kernel flow table,
 * turns them into records (start, update on active timeout, end on
 * FIN/RST, idle timeout or eviction), hands records to the sinks, and
 * deletes ended flows from the kernel table.
 */
#ifndef GUARDER_FLOW_VIEW_H
#define GUARDER_FLOW_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kernel/conn_tracker.h"
#include "lib/config.h"
#include "lib/timeconv.h"
#include "sink.h"

struct flow_view;

struct flow_view_stats {
	uint64_t active;	 /* flows in the view now */
	uint64_t started;	 /* start records */
	uint64_t updated;	 /* update records */
	uint64_t ended;		 /* end records, all reasons */
	uint64_t ended_evicted;	 /* of which the kernel evicted the entry */
	uint64_t adopted;	 /* found in the kernel table without an event (restart) */
	uint64_t icmp_expired;	 /* ICMP view entries removed after idle_timeout */
	uint64_t view_full;	 /* flows not tracked: view at collector.max_flows */
	uint64_t events[FLOW_EV_MAX];
	uint64_t bad_events;	 /* events of the wrong size or type */
	uint64_t sink_failures;
};

/*
 * flow_view_new - an empty view configured from @cfg, publishing to
 * @sinks (borrowed; the caller destroys them after flow_view_free).
 * Returns NULL with errno set on failure.
 */
struct flow_view *flow_view_new(const struct guarder_config *cfg, struct sink **sinks,
				size_t n_sinks);
void flow_view_free(struct flow_view *fv);

/*
 * flow_view_on_event - one ring-buffer sample of @size bytes. Returns 0;
 * a malformed sample is counted in bad_events and ignored.
 */
int flow_view_on_event(struct flow_view *fv, const void *data, size_t size);

/*
 * flow_view_sweep - scan the kernel flow table @flows_fd: refresh
 * counters, adopt unknown entries, emit update records for flows past the
 * active timeout, end flows that are idle, closed (FIN both ways or RST,
 * after the linger) or gone from the table (evicted), and delete ended
 * flows from the kernel table. @now_ns is CLOCK_MONOTONIC.
 * Returns 0 or a negative errno (the view stays consistent).
 */
int flow_view_sweep(struct flow_view *fv, int flows_fd, uint64_t now_ns);

/*
 * flow_view_expire_icmp - delete the entries of the kernel ICMP view
 * @icmp_fd (struct icmp_key -> struct icmp_value) that saw no packet for
 * collector.idle_timeout, so that the table holds what is current and not
 * only what LRU eviction left. @now_ns is CLOCK_MONOTONIC. Returns the
 * number deleted, or a negative errno (what was deleted stays deleted).
 */
int flow_view_expire_icmp(struct flow_view *fv, int icmp_fd, uint64_t now_ns);

/*
 * flow_view_summary - print the console summary: rates since the last
 * summary, top flows by bytes, the kernel's counters (@stats_fd) and the
 * view's own.
 */
void flow_view_summary(struct flow_view *fv, int stats_fd, FILE *out);

void flow_view_get_stats(const struct flow_view *fv, struct flow_view_stats *out);

/*
 * flow_view_emit - hand @rec (node and interface filled from @ifindex
 * here) to every sink, formatted once, counted like the view's own
 * records. For records the view does not make itself (drop_view.c).
 */
void flow_view_emit(struct flow_view *fv, struct flow_record *rec, uint32_t ifindex);

/* flow_view_wall_ns - a CLOCK_MONOTONIC stamp of the kernel as wall-clock ns. */
uint64_t flow_view_wall_ns(const struct flow_view *fv, uint64_t mono_ns);

/*
 * flow_view_stats_json - the collector's counters as one JSON object (no
 * newline): {"type":"stats","schema_version":1,"node":..,"time":..,
 * "records":{..},"view":{..},"kernel":{..},<extra>,"sinks":{"kafka":{..},..}}.
 * Counters are totals since the collector started (the kernel's since the
 * maps were created). Documented in docs/collector.md. @stats_fd may be
 * -1 (no "kernel" object); @extra (may be NULL) is more members, e.g.
 * "\"drop_view\":{..}". Returns the length, or -ENOSPC.
 */
int flow_view_stats_json(struct flow_view *fv, int stats_fd, const char *extra, char *buf,
			 size_t len);

/*
 * flow_view_set_batch_ops - whether sweeps use the BPF batch syscalls
 * (default) or walk the table key by key. The walk is what kernels
 * without batch support get automatically; this switch exists so that
 * tests cover it, and as a way out should batch ops misbehave.
 */
void flow_view_set_batch_ops(struct flow_view *fv, bool use);

#endif /* GUARDER_FLOW_VIEW_H */
