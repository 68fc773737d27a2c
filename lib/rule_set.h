/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rule-set compiler: turns an array of struct rule (lib/rule.h) into
 * the kernel program's rule maps (kernel/filter.h) and swaps them in
 * atomically. Used by guarder-api (every mutation) and by the collector
 * (restore from the rules file right after it loads the program).
 *
 * The maps are double buffered: the program reads one generation word
 * per packet and uses only the half it names, so a packet sees the old
 * set or the new one, never a mix. rule_set_apply() writes the inactive
 * half, then flips the generation. Several processes may hold a rule_set
 * on the same pins: applies are serialised by a lock (flock on a
 * directory "rule_lock" under the pin directory).
 *
 * Per-rule counters survive applies as long as the rule id stays in the
 * set (the id keeps its compiled slot).
 *
 * A struct rule_set may be shared by the threads of a process: every
 * function but rule_set_close() takes its lock.
 */
#ifndef GUARDER_RULE_SET_H
#define GUARDER_RULE_SET_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "rule.h"
#include "rule_compile.h"

struct rule_set;

/*
 * rule_set_restore_file - what the collector runs after it loaded the
 * program: read the rules file @cfg->rules.file (rules_file_load, at most
 * cfg->rules.max_rules) and apply it with the configured protection to
 * the maps pinned under cfg->bpf.pin_path, even when a set is already
 * live (file and kernel must agree). A missing file is an empty set. A
 * damaged file or a failed apply is an error, logged with its reason:
 * the caller must not run without the operator's rules.
 * Returns 0 or a negative errno.
 */
int rule_set_restore_file(const struct guarder_config *cfg);

/* Per-rule counters, summed over CPUs. */
struct rule_counters {
	__u64 packets; /* packets this rule decided (allow or drop) */
	__u64 bytes; /* their IP bytes */
	__u64 last_hit_ns; /* CLOCK_MONOTONIC ns of the last hit; 0 = never */
};

/*
 * rule_set_open - open the rule maps pinned under @pin_dir (the
 * collector's bpf.pin_path) by the collector. Returns 0 and *@out, or
 * -ENOENT when the collector never ran with that pin directory (no
 * pins), or another negative errno (logged).
 */
int rule_set_open(const char *pin_dir, struct rule_set **out);

/*
 * Map fds of a loaded kernel program (e.g. from its skeleton), for
 * rule_set_open_fds(). The fds stay owned by the caller.
 */
struct rule_set_fds {
	int ctl, shapes, match, comp, counters, protect_nets, protect_ports;
};

/*
 * rule_set_open_fds - the same on maps given by fd (tests, benchmark).
 * No cross-process lock: the caller must not apply from two processes.
 * Returns 0 and *@out or a negative errno.
 */
int rule_set_open_fds(const struct rule_set_fds *fds, struct rule_set **out);

/*
 * rule_set_apply - compile @n rules (any order; each must pass
 * rule_validate()) plus @protect (may be NULL: nothing protected) and
 * swap them into the kernel atomically. Rules that are disabled or expired
 * at @now (unix seconds; rule_is_active()) are left out. When this returns
 * 0, every packet processed from then on sees the new set. On error the
 * kernel keeps the previous set untouched, and a message naming the
 * problem is in @err (if @errlen > 0): -EINVAL (invalid rule), -E2BIG
 * (more than RULE_SET_MAX_RULES active rules, or a limit of the compiled
 * form: too many distinct rule shapes, too many rules sharing one
 * address/protocol/port key), -ENOMEM, or the errno of a map operation.
 * Blocks until no packet can still be using the set that was replaced
 * before this call (one RCU grace period, a few ms).
 */
int rule_set_apply(struct rule_set *rs, const struct rule *rules, size_t n,
		   const struct rule_protect *protect, __u64 now, char *err, size_t errlen);

/*
 * rule_set_counters - counters of the rule @rule_id in the active set.
 * Returns 0, or -ENOENT when @rule_id is not in the active set (disabled,
 * expired, unknown), or a negative errno of the map read.
 */
int rule_set_counters(struct rule_set *rs, __u32 rule_id, struct rule_counters *out);

/*
 * rule_set_counters_many - rule_set_counters() for @n ids at once (for
 * lists and /metrics): out[i] gets the counters of ids[i], have[i] (may be
 * NULL) whether ids[i] is in the active set (out[i] is zero when not).
 * Reads the whole counter map in a few syscalls when @n is large.
 * Returns 0 or a negative errno.
 */
int rule_set_counters_many(struct rule_set *rs, const __u32 *ids, size_t n,
			   struct rule_counters *out, bool *have);

/*
 * rule_set_generation - the active generation (0: no set was ever
 * applied; +1 per successful apply). Returns 0 on a read error too.
 */
__u32 rule_set_generation(struct rule_set *rs);

/* rule_set_close - release @rs (the kernel keeps its set). NULL is fine. */
void rule_set_close(struct rule_set *rs);

#endif /* GUARDER_RULE_SET_H */
