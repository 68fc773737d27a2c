// SPDX-License-Identifier: GPL-2.0
/*
 * The drop aggregates' view (see drop_view.h): an open-addressing table of
 * what each aggregate had dropped at the previous sweep, so that a record
 * carries what was dropped in the interval. The kernel never resets an
 * aggregate; when its totals shrink, the LRU evicted it and a new one
 * began, whose totals are the interval's.
 */
#include "drop_view.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/log.h"

#define DV_BATCH 1024

struct dv_entry {
	struct drop_key key;
	uint32_t gen; /* the sweep that last saw it */
	uint64_t packets, bytes;
};

struct drop_view {
	struct flow_view *fv;
	struct dv_entry *tab; /* key.family 0: free */
	uint32_t mask;
	uint32_t used, max;
	uint32_t gen;
	int ncpu;
	uint64_t prev_ns; /* the previous sweep: the interval's start */
	struct drop_key *keys;
	struct drop_value *vals; /* DV_BATCH * ncpu */
	struct drop_view_stats st;
	bool warned;
};

static uint32_t dv_hash(const struct drop_key *k)
{
	const uint32_t *w = (const uint32_t *)k;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < sizeof(*k) / 4; i++)
		h = (h ^ w[i]) * 16777619u;
	return h ^ (h >> 15);
}

/* The entry of @k, or the free slot it goes to (NULL: table full). */
static struct dv_entry *dv_slot(struct drop_view *dv, const struct drop_key *k)
{
	uint32_t i = dv_hash(k) & dv->mask, n;

	for (n = 0; n <= dv->mask; n++, i = (i + 1) & dv->mask) {
		struct dv_entry *e = &dv->tab[i];

		if (!e->key.family || !memcmp(&e->key, k, sizeof(*k)))
			return e;
	}
	return NULL;
}

/* Backward-shift deletion, so that probe sequences stay unbroken. */
static void dv_remove(struct drop_view *dv, uint32_t i)
{
	uint32_t j = i, k;

	for (;;) {
		j = (j + 1) & dv->mask;
		if (!dv->tab[j].key.family)
			break;
		k = dv_hash(&dv->tab[j].key) & dv->mask;
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			dv->tab[i] = dv->tab[j];
			i = j;
		}
	}
	memset(&dv->tab[i], 0, sizeof(dv->tab[i]));
	dv->used--;
}

struct drop_view *drop_view_new(struct flow_view *fv, uint32_t max)
{
	struct drop_view *dv = calloc(1, sizeof(*dv));
	uint64_t n = 16;

	if (!dv)
		return NULL;
	dv->fv = fv;
	dv->max = max ? max : 1;
	while (n < 2 * (uint64_t)dv->max)
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
	dv->prev_ns = clock_mono_now_ns();
	return dv;
}

void drop_view_free(struct drop_view *dv)
{
	if (!dv)
		return;
	free(dv->tab);
	free(dv->keys);
	free(dv->vals);
	free(dv);
}

/* One aggregate read from the kernel (its per-CPU values @per). */
static int dv_visit(struct drop_view *dv, const struct drop_key *k, const struct drop_value *per,
		    uint64_t now_ns)
{
	struct dv_entry *e = dv_slot(dv, k);
	struct flow_record rec;
	uint64_t packets = 0, bytes = 0, first = 0, last = 0;
	int c;

	for (c = 0; c < dv->ncpu; c++) {
		packets += per[c].packets;
		bytes += per[c].bytes;
		if (per[c].first_ns && (!first || per[c].first_ns < first))
			first = per[c].first_ns;
		if (per[c].last_ns > last)
			last = per[c].last_ns;
	}
	if (!k->family || !e || (!e->key.family && dv->used >= dv->max))
		return 0; /* a key we cannot hold: its drops stay in the counters */
	if (!e->key.family) {
		e->key = *k;
		dv->used++;
	}
	e->gen = dv->gen;
	if (packets == e->packets && bytes == e->bytes)
		return 0;
	memset(&rec, 0, sizeof(rec));
	rec.event = REC_DROPS;
	rec.drop = *k;
	/* Smaller totals: evicted and begun again, all of it in this interval. */
	rec.drop_packets = packets >= e->packets ? packets - e->packets : packets;
	rec.drop_bytes = bytes >= e->bytes ? bytes - e->bytes : bytes;
	rec.first_seen_wall_ns = flow_view_wall_ns(dv->fv, first);
	rec.last_seen_wall_ns = flow_view_wall_ns(dv->fv, last ? last : first);
	rec.interval_start_wall_ns = flow_view_wall_ns(dv->fv, dv->prev_ns);
	rec.interval_end_wall_ns = flow_view_wall_ns(dv->fv, now_ns);
	e->packets = packets;
	e->bytes = bytes;
	flow_view_emit(dv->fv, &rec, k->ifindex);
	dv->st.records++;
	return 1;
}

int drop_view_sweep(struct drop_view *dv, int drops_fd, uint64_t now_ns)
{
	struct drop_key in_b, out_b;
	void *in = NULL;
	uint32_t i;
	int n = 0, err = 0, rc;

	dv->gen++;
	for (;;) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 cnt = DV_BATCH, j;

		rc = bpf_map_lookup_batch(drops_fd, in, &out_b, dv->keys, dv->vals, &cnt, &bo);
		if (rc && errno != ENOENT) {
			err = -errno;
			break;
		}
		for (j = 0; j < cnt; j++)
			n += dv_visit(dv, &dv->keys[j], dv->vals + (size_t)j * dv->ncpu, now_ns);
		if (rc)
			break; /* ENOENT: the last batch */
		in_b = out_b;
		in = &in_b;
	}
	if (err) {
		dv->st.read_errors++;
		if (!dv->warned)
			log_error("drops: cannot read the drop aggregates: %s", strerror(-err));
		dv->warned = true;
		return err;
	}
	/* What the kernel no longer holds: evicted since the last sweep. */
	for (i = 0; i <= dv->mask;) {
		if (dv->tab[i].key.family && dv->tab[i].gen != dv->gen) {
			dv_remove(dv, i);
			dv->st.gone++;
			continue; /* the slot holds a shifted entry now */
		}
		i++;
	}
	dv->prev_ns = now_ns;
	return n;
}

void drop_view_get_stats(const struct drop_view *dv, struct drop_view_stats *out)
{
	*out = dv->st;
	out->aggregates = dv->used;
}
