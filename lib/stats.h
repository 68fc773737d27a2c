/* SPDX-License-Identifier: GPL-2.0 */
/* Reading the pinned per-CPU counters of the kernel program. */
#ifndef GUARDER_STATS_H
#define GUARDER_STATS_H

#include "kernel/conn_tracker.h"

/*
 * stats_read - sum the per-CPU struct global_stats of the PERCPU_ARRAY
 * @stats_fd into @out. Returns 0 or a negative errno.
 */
int stats_read(int stats_fd, struct global_stats *out);

/* Names used in logs, the console summary and metrics. */
const char *stats_proto_name(enum guarder_proto_class p);	/* "tcp", "udp", ... */
const char *stats_malformed_name(enum guarder_malformed m); /* "ipv4_bad_ihl", ... */

#endif /* GUARDER_STATS_H */
