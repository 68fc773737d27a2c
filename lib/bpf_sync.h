/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Waiting from user space for the BPF programs in flight. After every
 * update of a map-in-map from user space the kernel waits for an RCU
 * grace period (maybe_wait_bpf_programs() in kernel/bpf/syscall.c): once
 * the update returns, no XDP or tc program that started before it is
 * still running. That is the one way user space has to know that no
 * packet still uses what it just switched away from (a rule-set half, a
 * drop_agg epoch).
 */
#ifndef GUARDER_BPF_SYNC_H
#define GUARDER_BPF_SYNC_H

struct bpf_sync {
	int outer; /* ARRAY_OF_MAPS of one element */
	int inner; /* the map it holds */
};

/*
 * bpf_sync_open - create the two small maps (@name names them in bpftool,
 * at most 8 bytes). Returns 0 or a negative errno; on failure *@s holds
 * nothing to close.
 */
int bpf_sync_open(struct bpf_sync *s, const char *name);

/* bpf_sync_wait - return once every program running now has finished. 0 or -errno. */
int bpf_sync_wait(const struct bpf_sync *s);

/* bpf_sync_close - release the maps; safe on a zeroed or closed @s with fds -1. */
void bpf_sync_close(struct bpf_sync *s);

#endif /* GUARDER_BPF_SYNC_H */
