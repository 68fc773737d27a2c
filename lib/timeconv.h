/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wall-clock time for kernel timestamps. The BPF program stamps events and
 * flows with bpf_ktime_get_ns() (CLOCK_MONOTONIC); user space converts with
 * the offset between CLOCK_REALTIME and CLOCK_MONOTONIC sampled now, so
 * that a timestamp keeps the moment it was taken (not "now").
 */
#ifndef GUARDER_TIMECONV_H
#define GUARDER_TIMECONV_H

#include <stddef.h>
#include <stdint.h>

struct clock_base {
	int64_t real_minus_mono_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
};

/*
 * clock_base_sample - measure the offset, taking the tightest of a few
 * REALTIME/MONOTONIC/REALTIME readings. Returns 0 or a negative errno.
 * Call again periodically: the offset moves when the clock is stepped.
 */
int clock_base_sample(struct clock_base *cb);

/* clock_mono_now_ns - CLOCK_MONOTONIC now, in ns. */
uint64_t clock_mono_now_ns(void);

/* clock_mono_to_wall_ns - a bpf_ktime_get_ns() value as ns since the epoch. */
uint64_t clock_mono_to_wall_ns(const struct clock_base *cb, uint64_t mono_ns);

/*
 * format_rfc3339_ns - write @wall_ns as "2026-11-27T00:46:53.123456789Z"
 * (UTC, nine fraction digits). Returns the length written, or -ENOSPC when
 * @len is too small (buf then holds an empty string).
 */
int format_rfc3339_ns(uint64_t wall_ns, char *buf, size_t len);

#define RFC3339_NS_LEN 31 /* with the terminating NUL */

#endif /* GUARDER_TIMECONV_H */
