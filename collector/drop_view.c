// SPDX-License-Identifier: GPL-2.0
/*
 * The drop aggregates' view (see drop_view.h). The kernel counts drops in
 * the half of drop_agg that tracker_cfg.drop_epoch names; a sweep moves
 * the epoch on, waits until no program still writes the old half, then
 * reads that half whole: it holds exactly what was dropped since the
 * previous sweep, so the view keeps no state between sweeps. The same key
 * may sit in a different slot on each CPU (its second probe); the sweep
 * merges the CPUs per key in an open-addressing table before it emits.
 */
#include "drop_view.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/bpf_sync.h"
#include "lib/log.h"

#define DV_BATCH 1024

struct dv_entry {
	struct drop_key key; /* key.family 0: free */
	uint64_t packets, bytes, first_ns, last_ns;
};

struct drop_view {
	struct flow_view *fv;
	int drops_fd, cfg_fd;
	uint32_t half; /* slots per half */
	struct bpf_sync sync;
	struct dv_entry *tab;
	uint32_t mask, used;
	int ncpu;
	uint64_t prev_ns; /* the previous sweep: the interval's start */
	__u32 *keys;
	struct drop_slot *vals; /* DV_BATCH * ncpu */
	struct drop_view_stats st;
	bool warned;
};

/* The entry of @k, or the free slot it goes to (NULL: table full). */
static struct dv_entry *dv_slot(struct drop_view *dv, const struct drop_key *k)
{
	uint32_t i = drop_key_hash(k) & dv->mask, n;

	for (n = 0; n <= dv->mask; n++, i = (i + 1) & dv->mask) {
		struct dv_entry *e = &dv->tab[i];

		if (!e->key.family || !memcmp(&e->key, k, sizeof(*k)))
			return e;
	}
	return NULL;
}

struct drop_view *drop_view_new(struct flow_view *fv, int drops_fd, int cfg_fd,
				uint32_t half_slots)
{
	struct drop_view *dv = calloc(1, sizeof(*dv));
	uint64_t n = 16;
	int err;

	if (!dv)
		return NULL;
	dv->fv = fv;
	dv->drops_fd = drops_fd;
	dv->cfg_fd = cfg_fd;
	dv->half = half_slots ? half_slots : 1;
	dv->sync.outer = dv->sync.inner = -1;
	/* Room for a half's worth of distinct keys at half load. */
	while (n < 2 * (uint64_t)dv->half)
		n <<= 1;
	dv->mask = (uint32_t)(n - 1);
	dv->ncpu = libbpf_num_possible_cpus();
	if (dv->ncpu < 1) {
		free(dv);
		errno = EINVAL;
		return NULL;
	}
	dv->tab = calloc(n, sizeof(*dv->tab));
	dv->keys = calloc(DV_BATCH, sizeof(*dv->keys));
	dv->vals = calloc((size_t)DV_BATCH * dv->ncpu, sizeof(*dv->vals));
	if (!dv->tab || !dv->keys || !dv->vals) {
		drop_view_free(dv);
		errno = ENOMEM;
		return NULL;
	}
	err = bpf_sync_open(&dv->sync, "dv");
	if (err) {
		drop_view_free(dv);
		errno = -err;
		return NULL;
	}
	dv->prev_ns = clock_mono_now_ns();
	return dv;
}

void drop_view_free(struct drop_view *dv)
{
	if (!dv)
		return;
	bpf_sync_close(&dv->sync);
	free(dv->tab);
	free(dv->keys);
	free(dv->vals);
	free(dv);
}

/* Emit one record per merged key, then empty the table. */
static int dv_flush(struct drop_view *dv, uint64_t now_ns)
{
	struct flow_record rec;
	uint32_t i;
	int n = 0;

	for (i = 0; i <= dv->mask && dv->used; i++) {
		struct dv_entry *e = &dv->tab[i];
		uint64_t start = dv->prev_ns;

		if (!e->key.family)
			continue;
		/* The first sweep may read drops from before this collector. */
		if (e->first_ns && e->first_ns < start)
			start = e->first_ns;
		memset(&rec, 0, sizeof(rec));
		rec.event = REC_DROPS;
		rec.drop = e->key;
		rec.drop_packets = e->packets;
		rec.drop_bytes = e->bytes;
		rec.first_seen_wall_ns = flow_view_wall_ns(dv->fv, e->first_ns);
		rec.last_seen_wall_ns = flow_view_wall_ns(dv->fv, e->last_ns);
		rec.interval_start_wall_ns = flow_view_wall_ns(dv->fv, start);
		rec.interval_end_wall_ns = flow_view_wall_ns(dv->fv, now_ns);
		flow_view_emit(dv->fv, &rec, e->key.ifindex);
		memset(e, 0, sizeof(*e));
		dv->used--;
		n++;
	}
	dv->st.records += n;
	return n;
}

/* One slot of one CPU, of epoch @epoch: merged into its key's entry. */
static int dv_merge(struct drop_view *dv, const struct drop_slot *s, uint64_t now_ns)
{
	struct dv_entry *e = dv_slot(dv, &s->key);
	int n = 0;

	if (!e || (!e->key.family && dv->used * 2 > dv->mask)) {
		/* More keys than the table holds at half load: emit what it has. */
		n = dv_flush(dv, now_ns);
		e = dv_slot(dv, &s->key);
		if (!e)
			return n;
	}
	if (!e->key.family) {
		e->key = s->key;
		dv->used++;
		dv->st.aggregates++;
	}
	e->packets += s->packets;
	e->bytes += s->bytes;
	if (s->first_ns && (!e->first_ns || s->first_ns < e->first_ns))
		e->first_ns = s->first_ns;
	if (s->last_ns > e->last_ns)
		e->last_ns = s->last_ns;
	return n;
}

/* Move the kernel to the other half; *@epoch is the one it left. */
static int dv_flip(struct drop_view *dv, __u32 *epoch)
{
	struct tracker_cfg tc;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dv->cfg_fd, &zero, &tc))
		return -errno;
	*epoch = tc.drop_epoch;
	tc.drop_epoch++;
	if (bpf_map_update_elem(dv->cfg_fd, &zero, &tc, BPF_EXIST))
		return -errno;
	/* No program that read the old epoch is still running after this. */
	return bpf_sync_wait(&dv->sync);
}

/* Read the @epoch's half and merge it; returns records emitted on the way or -errno. */
static int dv_read_half(struct drop_view *dv, __u32 epoch, uint64_t now_ns)
{
	__u32 first = (epoch & 1) * dv->half, left = dv->half, in_b, out_b;
	void *in = NULL;
	int n = 0;

	/* A batch starts after its in_batch key: the half's first index, less one. */
	if (first) {
		in_b = first - 1;
		in = &in_b;
	}
	while (left) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 cnt = left < DV_BATCH ? left : DV_BATCH, j;
		int c, rc;

		rc = bpf_map_lookup_batch(dv->drops_fd, in, &out_b, dv->keys, dv->vals, &cnt, &bo);
		if (rc && errno != ENOENT)
			return -errno;
		for (j = 0; j < cnt; j++) {
			for (c = 0; c < dv->ncpu; c++) {
				const struct drop_slot *s = &dv->vals[(size_t)j * dv->ncpu + c];

				if (s->epoch == epoch && s->packets && s->key.family)
					n += dv_merge(dv, s, now_ns);
			}
		}
		if (rc || !cnt)
			break; /* ENOENT: the map's last index */
		left -= cnt;
		in_b = out_b;
		in = &in_b;
	}
	return n;
}

int drop_view_sweep(struct drop_view *dv, uint64_t now_ns)
{
	__u32 epoch = 0;
	int n, err;

	err = dv_flip(dv, &epoch);
	if (!err) {
		n = dv_read_half(dv, epoch, now_ns);
		err = n < 0 ? n : 0;
	}
	if (err) {
		dv->st.read_errors++;
		if (!dv->warned)
			log_error("drops: cannot read the drop aggregates: %s", strerror(-err));
		dv->warned = true;
		/* What was merged before the error is reported, not lost. */
		dv_flush(dv, now_ns);
		dv->prev_ns = now_ns;
		return err;
	}
	n += dv_flush(dv, now_ns);
	dv->st.sweeps++;
	dv->prev_ns = now_ns;
	return n;
}

void drop_view_get_stats(const struct drop_view *dv, struct drop_view_stats *out)
{
	*out = dv->st;
}
