// SPDX-License-Identifier: GPL-2.0
/*
 * The collector's view of flows (see flow_view.h and docs/records.md).
 *
 * Storage: a dense array of entries (so a sweep walks only live flows and
 * deletion is a swap with the last one) indexed by an open-addressing
 * hash table of 32-bit slots with linear probing, kept at most half full,
 * and backward-shift deletion (no tombstones). Both are sized once from
 * collector.max_flows; calloc'd pages cost memory only once touched.
 * An entry is 120 bytes, plus 8 bytes of slots: about 128 MB at 1M flows.
 *
 * The hash is seeded from getrandom(): flow keys are chosen by whoever
 * sends packets, and an unseeded hash would let them collide every key.
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <bpf/bpf.h>

#include "flow_view.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/record.h"
#include "lib/stats.h"

#define FV_BATCH     4096 /* kernel entries read per batch syscall */
#define FV_IFCACHE   64 /* interface names remembered */
#define NSEC_PER_SEC 1000000000ull
/* a REALTIME - MONOTONIC change beyond sampling noise: the clock was stepped */
#define FV_CLOCK_STEP_NS 1000000
/*
 * How far a START event's stamp may be from the entry's first_seen and
 * still be that flow's start: the kernel reads the clock twice (entry,
 * then event), microseconds apart. Later packets carry a coarse stamp
 * that can lag by a tick, so last_seen is no reference for this.
 */
#define FV_START_SLACK_NS 10000000
#ifndef ENOTSUPP
#define ENOTSUPP 524 /* kernel-internal, leaks to user space from bpf() */
#endif

/* fv_entry.flags */
#define FV_FIN0	   (1u << 0) /* FIN seen, direction 0 */
#define FV_FIN1	   (1u << 1) /* FIN seen, direction 1 */
#define FV_RST	   (1u << 2)
#define FV_CLOSING (1u << 3) /* FIN both ways or RST: end after the linger */
#define FV_ADOPTED (1u << 4) /* found by a sweep, no start record emitted */

struct fv_entry {
	struct flow_key key;
	uint64_t packets[2]; /* last counters read, per canonical direction */
	uint64_t bytes[2];
	uint64_t first_seen_ns; /* CLOCK_MONOTONIC, as the kernel stamps */
	uint64_t last_seen_ns;
	uint64_t last_record_ns; /* when the last start/update record was emitted */
	uint64_t close_ns; /* FV_CLOSING: when the flow closed */
	uint32_t hash;
	uint32_t ifindex; /* 0: unknown (adopted) */
	uint8_t tcp_flags[2];
	uint8_t initiator;
	uint8_t flags; /* FV_* */
	uint8_t gen; /* sweep generation in which the kernel had the entry */
	uint8_t verdict;
};

struct ifname_slot {
	uint32_t ifindex; /* 0: free */
	bool failed; /* if_indextoname failed: retry at the next sweep */
	uint8_t gen;
	char name[IF_NAMESIZE];
};

struct flow_view {
	char node[GUARDER_NODE_NAME_MAX];
	uint64_t idle_ns, active_ns, linger_ns;
	unsigned int top_n;

	struct sink **sinks;
	size_t n_sinks;

	struct fv_entry *entries;
	uint32_t n_entries, max_entries;
	uint32_t *slots; /* entry index + 1; 0 = empty */
	/*
	 * One bit per slot, set exactly when the slot is not empty (every
	 * write goes through slot_put). A lookup of a key the view does not
	 * hold, the usual case for drop events of a flood, then reads this
	 * bitmap (slots / 8 bytes: 256 KiB for a million flows, cache
	 * resident) instead of missing the cache on the slot array.
	 */
	uint64_t *occupied;
	uint32_t slot_mask;
	uint64_t seed;
	uint8_t gen;

	struct clock_base cb;

	/* reused by every sweep: no allocation per flow */
	struct flow_key *batch_keys;
	struct flow_value *batch_vals;
	struct flow_key *del_keys;
	size_t n_del, cap_del;
	bool no_lookup_batch, no_delete_batch;

	char json[RECORD_JSON_MAX];

	struct ifname_slot ifnames[FV_IFCACHE];
	unsigned int ifname_next;

	struct flow_view_stats st;
	uint64_t records[REC_DROPS + 1];
	uint64_t ends[REC_END_EVICTED + 1];

	/* console summary: what the previous one saw */
	uint32_t *top; /* heap of entry indices */
	uint64_t sum_prev_ns;
	uint64_t sum_prev_records[REC_DROPS + 1];
	uint64_t sum_prev_ends[REC_END_EVICTED + 1];
	struct global_stats sum_prev_gs;
	bool sum_prev_gs_valid;
};

static inline uint64_t mix64(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
	/* 32-bit targets: a weaker but still seeded mix */
	uint64_t r = (a ^ (b >> 29)) * (b | 1);

	return r ^ (r >> 32);
#endif
}

/* A seeded multiply-mix hash (wyhash style) over the 40-byte key. */
static uint32_t fv_hash(const struct flow_view *fv, const struct flow_key *key)
{
	uint64_t w[5], h = fv->seed;
	int i;

	memcpy(w, key, sizeof(w));
	for (i = 0; i < 5; i++)
		h = mix64(w[i] ^ 0xa0761d6478bd642full, h ^ 0xe7037ed1a0b428dbull);
	return (uint32_t)(mix64(h, 0x8ebc6af09c88c6e3ull) >> 32);
}

static bool slot_used(const struct flow_view *fv, uint32_t i)
{
	return fv->occupied[i / 64] >> (i % 64) & 1;
}

static void slot_put(struct flow_view *fv, uint32_t i, uint32_t v)
{
	fv->slots[i] = v;
	if (v)
		fv->occupied[i / 64] |= 1ull << (i % 64);
	else
		fv->occupied[i / 64] &= ~(1ull << (i % 64));
}

/* The slot holding @key, or the empty slot where it would go. */
static uint32_t fv_probe(const struct flow_view *fv, const struct flow_key *key, uint32_t hash)
{
	uint32_t i = hash & fv->slot_mask;

	for (;;) {
		uint32_t s;

		if (!slot_used(fv, i))
			return i;
		s = fv->slots[i];
		if (fv->entries[s - 1].hash == hash &&
		    !memcmp(&fv->entries[s - 1].key, key, sizeof(*key)))
			return i;
		i = (i + 1) & fv->slot_mask;
	}
}

static struct fv_entry *fv_find(const struct flow_view *fv, const struct flow_key *key)
{
	uint32_t i = fv_probe(fv, key, fv_hash(fv, key));

	return slot_used(fv, i) ? &fv->entries[fv->slots[i] - 1] : NULL;
}

/* A zeroed entry for @key (absent from the view), or NULL when full. */
static struct fv_entry *fv_insert(struct flow_view *fv, const struct flow_key *key)
{
	uint32_t hash = fv_hash(fv, key), slot;
	struct fv_entry *e;

	if (fv->n_entries >= fv->max_entries)
		return NULL;
	slot = fv_probe(fv, key, hash);
	e = &fv->entries[fv->n_entries];
	memset(e, 0, sizeof(*e));
	e->key = *key;
	e->hash = hash;
	e->gen = fv->gen;
	slot_put(fv, slot, ++fv->n_entries);
	return e;
}

/* Remove entry @idx: backward-shift its slot, then move the last entry into it. */
static void fv_remove(struct flow_view *fv, uint32_t idx)
{
	uint32_t mask = fv->slot_mask, i, j, last;

	i = fv_probe(fv, &fv->entries[idx].key, fv->entries[idx].hash);
	slot_put(fv, i, 0);
	for (j = (i + 1) & mask; slot_used(fv, j); j = (j + 1) & mask) {
		uint32_t home = fv->entries[fv->slots[j] - 1].hash & mask;

		/* an entry may move back to i only if i lies on its probe path */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			slot_put(fv, i, fv->slots[j]);
			slot_put(fv, j, 0);
			i = j;
		}
	}
	last = --fv->n_entries;
	if (idx != last) {
		struct fv_entry *m = &fv->entries[last];

		for (i = m->hash & mask; fv->slots[i] != last + 1; i = (i + 1) & mask)
			;
		fv->entries[idx] = *m;
		slot_put(fv, i, idx + 1);
	}
}

static uint64_t age_ns(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

/* Interface name for records; NULL when unknown. */
static const char *fv_ifname(struct flow_view *fv, uint32_t ifindex)
{
	struct ifname_slot *c;
	unsigned int i;

	if (!ifindex)
		return NULL;
	for (i = 0; i < FV_IFCACHE; i++) {
		c = &fv->ifnames[i];
		if (c->ifindex != ifindex)
			continue;
		if (!c->failed || c->gen == fv->gen)
			return c->name;
		goto resolve;
	}
	c = &fv->ifnames[fv->ifname_next];
	fv->ifname_next = (fv->ifname_next + 1) % FV_IFCACHE;
	c->ifindex = ifindex;
resolve:
	c->gen = fv->gen;
	c->failed = !if_indextoname(ifindex, c->name);
	if (c->failed)
		snprintf(c->name, sizeof(c->name), "if%u", ifindex);
	return c->name;
}

/* Hand one record to every sink; formatting happens once for all. */
static void fv_emit(struct flow_view *fv, struct flow_record *rec, uint32_t ifindex)
{
	struct record_span ks;
	int jl;
	size_t i;

	rec->node = fv->node;
	rec->iface = fv_ifname(fv, ifindex);
	fv->records[rec->event]++;
	switch (rec->event) {
	case REC_START:
		fv->st.started++;
		break;
	case REC_UPDATE:
		fv->st.updated++;
		break;
	case REC_END:
		fv->st.ended++;
		fv->ends[rec->end_reason]++;
		if (rec->end_reason == REC_END_EVICTED)
			fv->st.ended_evicted++;
		break;
	default:
		break;
	}
	jl = record_format(rec, fv->json, sizeof(fv->json), &ks);
	if (jl < 0) {
		/* cannot happen with the bounded fields; counted, not fatal */
		fv->st.sink_failures++;
		return;
	}
	for (i = 0; i < fv->n_sinks; i++) {
		struct sink *s = fv->sinks[i];

		if (s->ops->emit(s, rec, fv->json, (size_t)jl, fv->json + ks.off, ks.len) < 0) {
			s->failed++;
			fv->st.sink_failures++;
		} else {
			s->emitted++;
		}
	}
}

void flow_view_emit(struct flow_view *fv, struct flow_record *rec, uint32_t ifindex)
{
	fv_emit(fv, rec, ifindex);
}

uint64_t flow_view_wall_ns(const struct flow_view *fv, uint64_t mono_ns)
{
	return clock_mono_to_wall_ns(&fv->cb, mono_ns);
}

static void fv_record_from_value(struct flow_view *fv, struct flow_record *rec,
				 enum record_event ev, const struct flow_key *key,
				 const struct flow_value *v)
{
	memset(rec, 0, sizeof(*rec));
	rec->event = ev;
	rec->key = *key;
	rec->initiator = v->initiator & 1;
	rec->value = *v;
	rec->first_seen_wall_ns = clock_mono_to_wall_ns(&fv->cb, v->first_seen_ns);
	rec->last_seen_wall_ns = clock_mono_to_wall_ns(&fv->cb, v->last_seen_ns);
	/*
	 * first_seen may be the START event's stamp, read microseconds after
	 * the entry's: a one-packet flow must not end before it began.
	 */
	if (rec->last_seen_wall_ns < rec->first_seen_wall_ns)
		rec->last_seen_wall_ns = rec->first_seen_wall_ns;
}

/* The counters an entry remembers, as a kernel value (the rest zero). */
static void fv_entry_value(const struct fv_entry *e, struct flow_value *v)
{
	int d;

	memset(v, 0, sizeof(*v));
	for (d = 0; d < 2; d++) {
		v->dir[d].packets = e->packets[d];
		v->dir[d].bytes = e->bytes[d];
		v->dir[d].tcp_flags = e->tcp_flags[d];
		if (e->flags & (d ? FV_FIN1 : FV_FIN0))
			v->dir[d].dflags |= FLOW_DIR_FIN;
	}
	v->first_seen_ns = e->first_seen_ns;
	v->last_seen_ns = e->last_seen_ns;
	v->initiator = e->initiator;
	v->vcache = FLOW_VC_MAKE(0, 0, 0, e->verdict);
	if (e->flags & FV_RST)
		v->state |= FLOW_STATE_RST;
}

static void fv_entry_refresh(struct fv_entry *e, const struct flow_value *v)
{
	int d;

	for (d = 0; d < 2; d++) {
		e->packets[d] = v->dir[d].packets;
		e->bytes[d] = v->dir[d].bytes;
		e->tcp_flags[d] |= v->dir[d].tcp_flags;
	}
	if (v->dir[0].dflags & FLOW_DIR_FIN)
		e->flags |= FV_FIN0;
	if (v->dir[1].dflags & FLOW_DIR_FIN)
		e->flags |= FV_FIN1;
	if (v->state & FLOW_STATE_RST)
		e->flags |= FV_RST;
	/*
	 * A flow's first_seen is fixed by its first record: the START event's
	 * stamp, or the table's for an adopted flow. The kernel stamps the
	 * entry and the event a few microseconds apart, and every record of
	 * one flow must carry the same first_seen.
	 */
	if (!e->first_seen_ns)
		e->first_seen_ns = v->first_seen_ns;
	if (v->last_seen_ns > e->last_seen_ns)
		e->last_seen_ns = v->last_seen_ns;
	e->initiator = v->initiator & 1;
	e->verdict = flow_value_verdict(v);
}

static void fv_check_closing(struct fv_entry *e, uint64_t ts)
{
	if (e->flags & FV_CLOSING)
		return;
	if ((e->flags & FV_RST) || (e->flags & (FV_FIN0 | FV_FIN1)) == (FV_FIN0 | FV_FIN1)) {
		e->flags |= FV_CLOSING;
		e->close_ns = ts;
	}
}

static enum record_end_reason fv_end_reason(const struct flow_view *fv, const struct fv_entry *e,
					    uint64_t now)
{
	if ((e->flags & FV_CLOSING) && age_ns(now, e->close_ns) >= fv->linger_ns)
		return e->flags & FV_RST ? REC_END_RST : REC_END_FIN;
	if (age_ns(now, e->last_seen_ns) > fv->idle_ns)
		return REC_END_IDLE;
	return REC_END_NONE;
}

static int fv_queue_delete(struct flow_view *fv, const struct flow_key *key)
{
	if (fv->n_del == fv->cap_del) {
		size_t cap = fv->cap_del ? fv->cap_del * 2 : FV_BATCH;
		struct flow_key *k = realloc(fv->del_keys, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		fv->del_keys = k;
		fv->cap_del = cap;
	}
	fv->del_keys[fv->n_del++] = *key;
	return 0;
}

/* Delete the queued keys from the kernel table; already gone is fine. */
static void fv_flush_deletes(struct flow_view *fv, int flows_fd)
{
	size_t done = 0;

	while (done < fv->n_del) {
		__u32 count = (__u32)(fv->n_del - done);

		if (!fv->no_delete_batch) {
			LIBBPF_OPTS(bpf_map_batch_opts, opts);

			if (!bpf_map_delete_batch(flows_fd, &fv->del_keys[done], &count, &opts)) {
				done += count;
				continue;
			}
			if (errno == ENOENT) {
				/* deleted up to a key that is already gone: skip it */
				done += count + 1;
				continue;
			}
			if (errno == EINVAL || errno == ENOTSUPP || errno == EOPNOTSUPP) {
				fv->no_delete_batch = true;
				log_info(
					"flow view: batch delete unsupported, deleting one by one");
				continue;
			}
			log_warn("flow view: deleting ended flows failed: %s", strerror(errno));
			break;
		}
		if (bpf_map_delete_elem(flows_fd, &fv->del_keys[done]) && errno != ENOENT)
			log_debug("flow view: deleting an ended flow failed: %s", strerror(errno));
		done++;
	}
	fv->n_del = 0;
}

/* End a flow: the record, the kernel deletion (queued), the view entry. */
static void fv_end(struct flow_view *fv, const struct flow_key *key, const struct flow_value *v,
		   uint32_t ifindex, enum record_end_reason reason, bool delete_kernel)
{
	struct flow_record rec;

	fv_record_from_value(fv, &rec, REC_END, key, v);
	rec.end_reason = reason;
	fv_emit(fv, &rec, ifindex);
	if (delete_kernel && fv_queue_delete(fv, key))
		log_warn("flow view: out of memory queueing a deletion; the idle flow stays");
}

/*
 * One kernel entry read by a sweep: refresh, adopt if unknown, and decide
 * update or end. Returns 1 if the entry is gone from the view afterwards.
 */
static int fv_visit(struct flow_view *fv, const struct flow_key *key, const struct flow_value *v,
		    uint64_t now)
{
	enum record_end_reason reason;
	struct flow_record rec;
	struct flow_value vv;
	struct fv_entry *e;

	e = fv_find(fv, key);
	if (!e) {
		struct fv_entry tmp;

		e = fv_insert(fv, key);
		if (!e) {
			/* no room to track it, but expiry must still happen */
			memset(&tmp, 0, sizeof(tmp));
			fv_entry_refresh(&tmp, v);
			fv_check_closing(&tmp, v->last_seen_ns);
			reason = fv_end_reason(fv, &tmp, now);
			if (reason != REC_END_NONE)
				fv_end(fv, key, v, 0, reason, true);
			else
				fv->st.view_full++;
			return 1;
		}
		/* created while no collector ran (or its start is still queued) */
		e->flags = FV_ADOPTED;
		e->last_record_ns = now;
		fv->st.adopted++;
	}
	fv_entry_refresh(e, v);
	e->gen = fv->gen;
	fv_check_closing(e, v->last_seen_ns);
	reason = fv_end_reason(fv, e, now);
	if (reason != REC_END_NONE || age_ns(now, e->last_record_ns) >= fv->active_ns) {
		vv = *v;
		vv.first_seen_ns = e->first_seen_ns;
	}
	if (reason != REC_END_NONE) {
		fv_end(fv, key, &vv, e->ifindex, reason, true);
		fv_remove(fv, (uint32_t)(e - fv->entries));
		return 1;
	}
	if (age_ns(now, e->last_record_ns) >= fv->active_ns) {
		fv_record_from_value(fv, &rec, REC_UPDATE, key, &vv);
		fv_emit(fv, &rec, e->ifindex);
		e->last_record_ns = now;
	}
	return 0;
}

/* Read the whole kernel table with batch lookups. -EOPNOTSUPP: no batch ops. */
static int fv_scan_batch(struct flow_view *fv, int flows_fd, uint64_t now)
{
	__u32 in_tok = 0, out_tok = 0;
	bool first = true;

	for (;;) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 count = FV_BATCH, i;
		int err = 0;

		if (bpf_map_lookup_batch(flows_fd, first ? NULL : &in_tok, &out_tok, fv->batch_keys,
					 fv->batch_vals, &count, &opts)) {
			err = errno;
			if (err != ENOENT) {
				if (first &&
				    (err == EINVAL || err == ENOTSUPP || err == EOPNOTSUPP))
					return -EOPNOTSUPP;
				log_error("flow view: reading the flow table failed: %s",
					  strerror(err));
				return -err;
			}
		}
		for (i = 0; i < count; i++)
			fv_visit(fv, &fv->batch_keys[i], &fv->batch_vals[i], now);
		/* this batch's buckets are behind the cursor: safe to delete now */
		fv_flush_deletes(fv, flows_fd);
		if (err == ENOENT)
			return 0;
		in_tok = out_tok;
		first = false;
	}
}

/*
 * The same with get_next_key, for kernels without batch ops. Deletions
 * wait until the walk is over: deleting the cursor key would restart it.
 */
static int fv_scan_iter(struct flow_view *fv, int flows_fd, uint64_t now)
{
	struct flow_key cur, next;
	struct flow_value v;
	bool first = true;

	while (!bpf_map_get_next_key(flows_fd, first ? NULL : &cur, &next)) {
		if (!bpf_map_lookup_elem(flows_fd, &next, &v))
			fv_visit(fv, &next, &v, now);
		cur = next;
		first = false;
	}
	if (errno != ENOENT) {
		log_error("flow view: walking the flow table failed: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * REALTIME - MONOTONIC only changes when the wall clock is stepped (both
 * clocks run at the same, NTP-slewed, rate). A fresh sample differs from
 * the last by a few ns of measurement noise, which would make the
 * first_seen of one flow differ between its records: keep the old offset
 * unless the clock really moved.
 */
static void fv_clock_resample(struct flow_view *fv)
{
	struct clock_base cb;
	int64_t d;

	if (clock_base_sample(&cb)) {
		log_debug("flow view: clock sample failed, keeping the previous offset");
		return;
	}
	d = cb.real_minus_mono_ns - fv->cb.real_minus_mono_ns;
	if (d > FV_CLOCK_STEP_NS || d < -FV_CLOCK_STEP_NS) {
		log_info("flow view: wall clock stepped by %.3f s", (double)d / 1e9);
		fv->cb = cb;
	}
}

void flow_view_set_batch_ops(struct flow_view *fv, bool use)
{
	fv->no_lookup_batch = !use;
	fv->no_delete_batch = !use;
}

int flow_view_sweep(struct flow_view *fv, int flows_fd, uint64_t now_ns)
{
	struct flow_value v;
	uint32_t i;
	int err;

	fv_clock_resample(fv);
	fv->gen++;
	fv->n_del = 0;

	err = -EOPNOTSUPP;
	if (!fv->no_lookup_batch) {
		err = fv_scan_batch(fv, flows_fd, now_ns);
		if (err == -EOPNOTSUPP) {
			fv->no_lookup_batch = true;
			log_info(
				"flow view: batch lookup unsupported, walking the table key by key");
		}
	}
	if (err == -EOPNOTSUPP)
		err = fv_scan_iter(fv, flows_fd, now_ns);
	if (err) {
		/* an incomplete scan proves nothing about eviction */
		fv_flush_deletes(fv, flows_fd);
		return err;
	}

	/*
	 * Entries the scan did not see. A concurrent kernel update can hide
	 * an entry from a scan, so ask for it by key before calling it evicted.
	 */
	for (i = 0; i < fv->n_entries;) {
		struct fv_entry *e = &fv->entries[i];

		if (e->gen == fv->gen) {
			i++;
			continue;
		}
		if (!bpf_map_lookup_elem(flows_fd, &e->key, &v)) {
			struct flow_key key = e->key;

			/* whatever fv_visit does, this loop must move on */
			e->gen = fv->gen;
			if (!fv_visit(fv, &key, &v, now_ns))
				i++;
			continue;
		}
		if (errno != ENOENT) {
			log_warn("flow view: looking up a flow failed: %s", strerror(errno));
			e->gen = fv->gen;
			i++;
			continue;
		}
		fv_entry_value(e, &v);
		fv_end(fv, &e->key, &v, e->ifindex, REC_END_EVICTED, false);
		fv_remove(fv, i);
	}
	fv_flush_deletes(fv, flows_fd);
	return 0;
}

/* A record for one event's packet: 1 packet of pkt_len bytes in ev->dir. */
int flow_view_expire_icmp(struct flow_view *fv, int icmp_fd, uint64_t now_ns)
{
	struct icmp_key *stale = NULL, *grown, key;
	size_t n = 0, cap = 0, i;
	struct icmp_value v;
	int err = 0, deleted = 0;
	void *prev = NULL;

	/*
	 * Collect first, delete after the walk: deleting the key the walk
	 * stands on would restart get_next_key from the first entry.
	 */
	while (!bpf_map_get_next_key(icmp_fd, prev, &key)) {
		prev = &key;
		if (bpf_map_lookup_elem(icmp_fd, &key, &v) || age_ns(now_ns, v.last_seen_ns) <= fv->idle_ns)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(stale, cap * sizeof(*stale));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			stale = grown;
		}
		stale[n++] = key;
	}
	for (i = 0; i < n; i++) {
		if (!bpf_map_delete_elem(icmp_fd, &stale[i]))
			deleted++;
		else if (errno != ENOENT && !err)
			err = -errno;
	}
	free(stale);
	fv->st.icmp_expired += deleted;
	return err ? err : deleted;
}

static void fv_record_from_event(struct flow_view *fv, struct flow_record *rec,
				 enum record_event type, const struct flow_event *ev,
				 uint8_t initiator)
{
	struct flow_value *v = &rec->value;

	memset(rec, 0, sizeof(*rec));
	rec->event = type;
	rec->key = ev->key;
	rec->initiator = initiator & 1;
	v->dir[ev->dir].packets = 1;
	v->dir[ev->dir].bytes = ev->pkt_len;
	v->dir[ev->dir].tcp_flags = ev->tcp_flags;
	v->first_seen_ns = ev->ts_ns;
	v->last_seen_ns = ev->ts_ns;
	v->initiator = initiator & 1;
	v->vcache = FLOW_VC_MAKE(0, 0, 0, ev->verdict);
	rec->first_seen_wall_ns = clock_mono_to_wall_ns(&fv->cb, ev->ts_ns);
	rec->last_seen_wall_ns = rec->first_seen_wall_ns;
}

static void fv_entry_from_event(struct fv_entry *e, const struct flow_event *ev, uint64_t now)
{
	uint32_t hash = e->hash;
	struct flow_key key = e->key;

	memset(e, 0, offsetof(struct fv_entry, hash));
	e->key = key;
	e->hash = hash;
	e->packets[ev->dir] = 1;
	e->bytes[ev->dir] = ev->pkt_len;
	e->tcp_flags[ev->dir] = ev->tcp_flags;
	e->first_seen_ns = ev->ts_ns;
	e->last_seen_ns = ev->ts_ns;
	e->last_record_ns = now;
	e->ifindex = ev->ifindex;
	e->initiator = ev->dir;
	e->flags = 0;
	e->verdict = ev->verdict;
}

static void fv_on_start(struct flow_view *fv, const struct flow_event *ev)
{
	struct flow_record rec;
	struct flow_value v;
	struct fv_entry *e;

	e = fv_find(fv, &ev->key);
	if (e) {
		/* an older incarnation's START, read late: that flow is gone */
		if (ev->ts_ns + FV_START_SLACK_NS < e->first_seen_ns)
			return;
		if (ev->ts_ns <= e->first_seen_ns + FV_START_SLACK_NS) {
			/*
			 * This flow's own START (the kernel stamps the event
			 * just after first_seen). Either a repeat, or a sweep
			 * adopted the flow between our last drain and its
			 * scan and the start record is still due, once.
			 */
			if (!(e->flags & FV_ADOPTED))
				return;
			e->flags &= (uint8_t)~FV_ADOPTED;
			if (!e->ifindex)
				e->ifindex = ev->ifindex;
			fv_record_from_event(fv, &rec, REC_START, ev, ev->dir);
			fv_emit(fv, &rec, e->ifindex);
			return;
		}
		/* a newer flow under the same key: the kernel replaced ours */
		fv_entry_value(e, &v);
		fv_end(fv, &e->key, &v, e->ifindex, REC_END_EVICTED, false);
	} else {
		e = fv_insert(fv, &ev->key);
		if (!e)
			fv->st.view_full++;
	}
	if (e)
		fv_entry_from_event(e, ev, ev->ts_ns);
	fv_record_from_event(fv, &rec, REC_START, ev, ev->dir);
	fv_emit(fv, &rec, ev->ifindex);
}

int flow_view_on_event(struct flow_view *fv, const void *data, size_t size)
{
	struct flow_record rec;
	struct flow_event ev;
	struct fv_entry *e;

	if (size != sizeof(ev)) {
		fv->st.bad_events++;
		return 0;
	}
	/* the ring buffer only guarantees 8-byte alignment; copy anyway */
	memcpy(&ev, data, sizeof(ev));
	if (ev.type == 0 || ev.type >= FLOW_EV_MAX || ev.dir > 1) {
		fv->st.bad_events++;
		return 0;
	}
	fv->st.events[ev.type]++;

	if (ev.type == FLOW_EV_START) {
		fv_on_start(fv, &ev);
		return 0;
	}
	if (ev.type == FLOW_EV_ICMP_ERROR) {
		/* src is the sender of the error, i.e. this packet's source */
		fv_record_from_event(fv, &rec, REC_ICMP, &ev, ev.dir);
		rec.icmp_type = ev.icmp_type;
		rec.icmp_code = ev.icmp_code;
		rec.inner = ev.inner;
		fv_emit(fv, &rec, ev.ifindex);
		return 0;
	}

	e = fv_find(fv, &ev.key);
	if (ev.type == FLOW_EV_DROP) {
		fv_record_from_event(fv, &rec, REC_DROP, &ev, e ? e->initiator : ev.dir);
		rec.rule_id = ev.rule_id;
		if (e)
			e->verdict = GUARDER_VERDICT_DROP;
		fv_emit(fv, &rec, ev.ifindex);
		return 0;
	}
	/* SYN-ACK, FIN, RST of a flow we do not know: the next sweep adopts it */
	if (!e)
		return 0;
	e->tcp_flags[ev.dir] |= ev.tcp_flags;
	if (ev.ts_ns > e->last_seen_ns)
		e->last_seen_ns = ev.ts_ns;
	if (!e->ifindex)
		e->ifindex = ev.ifindex;
	if (ev.type == FLOW_EV_TCP_FIN)
		e->flags |= ev.dir ? FV_FIN1 : FV_FIN0;
	else if (ev.type == FLOW_EV_TCP_RST)
		e->flags |= FV_RST;
	fv_check_closing(e, ev.ts_ns);
	return 0;
}

struct flow_view *flow_view_new(const struct guarder_config *cfg, struct sink **sinks,
				size_t n_sinks)
{
	struct flow_view *fv;
	uint64_t nslots = 16;
	uint32_t max;
	int err;

	fv = calloc(1, sizeof(*fv));
	if (!fv)
		return NULL;
	snprintf(fv->node, sizeof(fv->node), "%s", cfg->node_name);
	fv->idle_ns = (uint64_t)cfg->collector.idle_timeout * NSEC_PER_SEC;
	fv->active_ns = (uint64_t)cfg->collector.active_timeout * NSEC_PER_SEC;
	fv->linger_ns = (uint64_t)cfg->collector.close_linger * NSEC_PER_SEC;
	fv->top_n = cfg->collector.top_flows;
	max = cfg->collector.max_flows ? cfg->collector.max_flows : 1;
	if (max > (1u << 30))
		max = 1u << 30;
	fv->max_entries = max;
	while (nslots < 2 * (uint64_t)max)
		nslots <<= 1;
	fv->slot_mask = (uint32_t)(nslots - 1);

	err = ENOMEM;
	if (n_sinks) {
		fv->sinks = calloc(n_sinks, sizeof(*fv->sinks));
		if (!fv->sinks)
			goto err;
		memcpy(fv->sinks, sinks, n_sinks * sizeof(*sinks));
		fv->n_sinks = n_sinks;
	}
	fv->entries = calloc(max, sizeof(*fv->entries));
	fv->slots = calloc(nslots, sizeof(*fv->slots));
	fv->occupied = calloc((nslots + 63) / 64, sizeof(*fv->occupied));
	fv->batch_keys = calloc(FV_BATCH, sizeof(*fv->batch_keys));
	fv->batch_vals = calloc(FV_BATCH, sizeof(*fv->batch_vals));
	fv->top = calloc(fv->top_n ? fv->top_n : 1, sizeof(*fv->top));
	if (!fv->entries || !fv->slots || !fv->occupied || !fv->batch_keys || !fv->batch_vals || !fv->top)
		goto err;
	if (getrandom(&fv->seed, sizeof(fv->seed), GRND_NONBLOCK) != sizeof(fv->seed))
		fv->seed = clock_mono_now_ns() ^ (uint64_t)(uintptr_t)fv;
	err = -clock_base_sample(&fv->cb);
	if (err) {
		log_error("flow view: cannot read the clocks: %s", strerror(err));
		goto err;
	}
	fv->sum_prev_ns = clock_mono_now_ns();
	return fv;
err:
	flow_view_free(fv);
	errno = err;
	return NULL;
}

void flow_view_free(struct flow_view *fv)
{
	if (!fv)
		return;
	free(fv->sinks);
	free(fv->entries);
	free(fv->slots);
	free(fv->occupied);
	free(fv->batch_keys);
	free(fv->batch_vals);
	free(fv->del_keys);
	free(fv->top);
	free(fv);
}

void flow_view_get_stats(const struct flow_view *fv, struct flow_view_stats *out)
{
	*out = fv->st;
	out->active = fv->n_entries;
}

/* snprintf that stops at the first overflow: the caller checks once. */
static size_t json_add(char *buf, size_t len, size_t o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t json_add(char *buf, size_t len, size_t o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o >= len)
		return len;
	va_start(ap, fmt);
	n = vsnprintf(buf + o, len - o, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len - o ? len : o + (size_t)n;
}

int flow_view_stats_json(struct flow_view *fv, int stats_fd, const char *extra, char *buf,
			 size_t len)
{
	char ts[RFC3339_NS_LEN], sub[1024];
	struct global_stats gs;
	size_t o = 0, i;
	int n;

	format_rfc3339_ns(clock_mono_to_wall_ns(&fv->cb, clock_mono_now_ns()), ts, sizeof(ts));
	o = json_add(buf, len, o,
		     "{\"type\":\"stats\",\"schema_version\":%d,\"node\":\"%s\",\"time\":\"%s\","
		     "\"records\":{\"start\":%" PRIu64 ",\"update\":%" PRIu64 ",\"end\":%" PRIu64
		     ",\"drop\":%" PRIu64 ",\"icmp\":%" PRIu64 ",\"drops\":%" PRIu64 "},"
		     "\"view\":{\"active\":%u,\"adopted\":%" PRIu64 ",\"view_full\":%" PRIu64
		     ",\"bad_events\":%" PRIu64 ",\"sink_failures\":%" PRIu64 "}",
		     RECORD_SCHEMA_VERSION, fv->node, ts, fv->records[REC_START],
		     fv->records[REC_UPDATE], fv->records[REC_END], fv->records[REC_DROP],
		     fv->records[REC_ICMP], fv->records[REC_DROPS], fv->n_entries, fv->st.adopted,
		     fv->st.view_full,
		     fv->st.bad_events, fv->st.sink_failures);
	if (stats_fd >= 0 && !stats_read(stats_fd, &gs)) {
		o = json_add(buf, len, o,
			     ",\"kernel\":{\"flows_created\":%llu,\"events\":%llu,"
			     "\"ringbuf_fail\":%llu,\"flow_insert_fail\":%llu,\"dropped\":%llu,"
			     "\"forwarded\":%llu,\"frag_cache_fail\":%llu,\"drop_agg_fail\":%llu,"
			     "\"drops\":{",
			     (unsigned long long)gs.flows_created, (unsigned long long)gs.events,
			     (unsigned long long)gs.ringbuf_fail,
			     (unsigned long long)gs.flow_insert_fail, (unsigned long long)gs.dropped,
			     (unsigned long long)gs.forwarded, (unsigned long long)gs.frag_cache_fail,
			     (unsigned long long)gs.drop_agg_fail);
		for (i = 0; i < GUARDER_DROP_MAX; i++)
			o = json_add(buf, len, o, "%s\"%s\":%llu", i ? "," : "",
				     record_drop_reason_name(i), (unsigned long long)gs.drops[i]);
		o = json_add(buf, len, o, "}}");
	}
	if (extra)
		o = json_add(buf, len, o, ",%s", extra);
	o = json_add(buf, len, o, ",\"sinks\":{");
	for (i = 0; i < fv->n_sinks; i++) {
		struct sink *s = fv->sinks[i];

		n = s->ops->stats_json ? s->ops->stats_json(s, sub, sizeof(sub)) : -ENOENT;
		if (n < 0)
			snprintf(sub, sizeof(sub), "{}");
		/* emitted/failed are counted here, the rest by the sink */
		o = json_add(buf, len, o, "%s\"%s\":{\"emitted\":%llu,\"failed\":%llu%s%s", i ? "," : "",
			     s->ops->name, s->emitted, s->failed, strlen(sub) > 2 ? "," : "",
			     strlen(sub) > 2 ? sub + 1 : "}");
	}
	o = json_add(buf, len, o, "}}");
	return o >= len ? -ENOSPC : (int)o;
}

/* "12.3 kB"-style SI units: operators compare magnitudes, not digits. */
static const char *human(double v, char *buf, size_t len)
{
	static const char *const units[] = { "", "k", "M", "G", "T", "P" };
	unsigned int u = 0;

	while (v >= 1000.0 && u < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.1f%s", v, units[u]);
	return buf;
}

/* Rates below 10 keep a decimal: "0.3" says more than "0" at 3 a.m. */
static const char *human_rate(double v, char *buf, size_t len)
{
	if (v < 10.0) {
		snprintf(buf, len, v > 0.0 ? "%.1f" : "0", v);
		return buf;
	}
	return human(v, buf, len);
}

static uint64_t entry_bytes(const struct fv_entry *e)
{
	return e->bytes[0] + e->bytes[1];
}

/* Min-heap on bytes of @n entry indices: the root is the smallest of the top. */
static void top_sift_down(const struct flow_view *fv, uint32_t *h, unsigned int n, unsigned int i)
{
	for (;;) {
		unsigned int l = 2 * i + 1, r = l + 1, m = i;
		uint32_t t;

		if (l < n && entry_bytes(&fv->entries[h[l]]) < entry_bytes(&fv->entries[h[m]]))
			m = l;
		if (r < n && entry_bytes(&fv->entries[h[r]]) < entry_bytes(&fv->entries[h[m]]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int top_cmp_desc(const void *a, const void *b, void *arg)
{
	const struct flow_view *fv = arg;
	uint64_t x = entry_bytes(&fv->entries[*(const uint32_t *)a]);
	uint64_t y = entry_bytes(&fv->entries[*(const uint32_t *)b]);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* "10.0.0.1:80" or "[2001:db8::1]:443" */
static const char *endpoint_str(const __u32 addr[4], __u16 port, char *buf, size_t len)
{
	char a[64];
	bool v6;

	net_addr_format(addr, a);
	v6 = strchr(a, ':') != NULL;
	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", a, v6 ? "]" : "", port);
	return buf;
}

static void summary_top(struct flow_view *fv, FILE *out)
{
	unsigned int n = 0, i;
	uint32_t idx;

	if (!fv->top_n || !fv->n_entries)
		return;
	/* O(flows x log N): one pass, a heap of the N largest so far */
	for (idx = 0; idx < fv->n_entries; idx++) {
		if (n < fv->top_n) {
			unsigned int c = n++;

			fv->top[c] = idx;
			while (c) {
				unsigned int p = (c - 1) / 2;
				uint32_t t;

				if (entry_bytes(&fv->entries[fv->top[p]]) <=
				    entry_bytes(&fv->entries[fv->top[c]]))
					break;
				t = fv->top[p];
				fv->top[p] = fv->top[c];
				fv->top[c] = t;
				c = p;
			}
		} else if (entry_bytes(&fv->entries[idx]) > entry_bytes(&fv->entries[fv->top[0]])) {
			fv->top[0] = idx;
			top_sift_down(fv, fv->top, n, 0);
		}
	}
	qsort_r(fv->top, n, sizeof(*fv->top), top_cmp_desc, fv);
	fprintf(out, "top %u flows by bytes (as of the last sweep)\n", n);
	for (i = 0; i < n; i++) {
		const struct fv_entry *e = &fv->entries[fv->top[i]];
		int f = e->initiator;
		char s[80], d[80], pk[16], by[16];

		endpoint_str(f ? e->key.addr_hi : e->key.addr_lo,
			     f ? e->key.port_hi : e->key.port_lo, s, sizeof(s));
		endpoint_str(f ? e->key.addr_lo : e->key.addr_hi,
			     f ? e->key.port_lo : e->key.port_hi, d, sizeof(d));
		fprintf(out, "  %-9s %s -> %s  packets %s  bytes %sB%s\n",
			net_proto_name(e->key.proto), s, d,
			human((double)(e->packets[0] + e->packets[1]), pk, sizeof(pk)),
			human((double)entry_bytes(e), by, sizeof(by)),
			e->flags & FV_CLOSING ? "  (closing)" : "");
	}
}

/* One "name value (+delta)" item of a counter line, when the value is not 0. */
static void counter_item(FILE *out, bool *first, const char *name, uint64_t now, uint64_t prev,
			 bool have_prev)
{
	if (!now)
		return;
	fprintf(out, "%s%s %" PRIu64, *first ? "" : ", ", name, now);
	if (have_prev && now >= prev)
		fprintf(out, " (+%" PRIu64 ")", now - prev);
	*first = false;
}

static void summary_kernel(struct flow_view *fv, int stats_fd, FILE *out, double secs)
{
	const struct global_stats *p = &fv->sum_prev_gs;
	bool have_prev = fv->sum_prev_gs_valid, first, any = false;
	struct global_stats gs;
	char pk[16], by[16];
	int i;

	if (stats_fd < 0 || stats_read(stats_fd, &gs)) {
		fprintf(out, "traffic   kernel counters unavailable\n");
		return;
	}
	if (!have_prev) {
		/* the counters are pinned and may predate us: no rate yet */
		fprintf(out, "traffic   rates from the next summary on; totals so far:\n");
	} else {
		fprintf(out, "traffic   %-11s %12s %12s\n", "", "packets/s", "bytes/s");
	}
	for (i = 0; i < GUARDER_P_MAX; i++) {
		double dp, db;

		if (!have_prev) {
			if (!gs.packets[i])
				continue;
			fprintf(out, "          %-11s %12s packets %10sB\n",
				stats_proto_name((enum guarder_proto_class)i),
				human((double)gs.packets[i], pk, sizeof(pk)),
				human((double)gs.bytes[i], by, sizeof(by)));
			any = true;
			continue;
		}
		if (gs.packets[i] <= p->packets[i])
			continue;
		dp = (double)(gs.packets[i] - p->packets[i]) / secs;
		db = (double)(gs.bytes[i] - p->bytes[i]) / secs;
		fprintf(out, "          %-11s %12s %10sB/s\n",
			stats_proto_name((enum guarder_proto_class)i),
			human_rate(dp, pk, sizeof(pk)), human_rate(db, by, sizeof(by)));
		any = true;
	}
	if (!any)
		fprintf(out, "          (no packets)\n");

	first = true;
	for (i = 0; i < GUARDER_M_MAX; i++) {
		if (!gs.malformed[i])
			continue;
		if (first)
			fprintf(out, "malformed ");
		counter_item(out, &first, stats_malformed_name((enum guarder_malformed)i),
			     gs.malformed[i], p->malformed[i], have_prev);
	}
	if (!first)
		fprintf(out, "\n");

	first = true;
	fprintf(out, "kernel    ");
	counter_item(out, &first, "flows_created", gs.flows_created, p->flows_created, have_prev);
	counter_item(out, &first, "events", gs.events, p->events, have_prev);
	counter_item(out, &first, "fragments", gs.fragments, p->fragments, have_prev);
	counter_item(out, &first, "dropped", gs.dropped, p->dropped, have_prev);
	fprintf(out, "%s\n", first ? "(no flows yet)" : "");

	first = true;
	if (gs.tcp_retransmits || gs.tcp_out_of_order || gs.tcp_dup_acks || gs.tcp_zero_windows)
		fprintf(out, "tcp       ");
	counter_item(out, &first, "retransmits", gs.tcp_retransmits, p->tcp_retransmits, have_prev);
	counter_item(out, &first, "out_of_order", gs.tcp_out_of_order, p->tcp_out_of_order,
		     have_prev);
	counter_item(out, &first, "dup_acks", gs.tcp_dup_acks, p->tcp_dup_acks, have_prev);
	counter_item(out, &first, "zero_windows", gs.tcp_zero_windows, p->tcp_zero_windows,
		     have_prev);
	if (!first)
		fprintf(out, "\n");

	/* losses: the line an operator must not miss */
	first = true;
	if (gs.ringbuf_fail || gs.flow_insert_fail || gs.icmp_insert_fail || gs.icmp_count_fail)
		fprintf(out, "LOSSES    ");
	counter_item(out, &first, "events lost (ringbuf_fail)", gs.ringbuf_fail, p->ringbuf_fail,
		     have_prev);
	counter_item(out, &first, "flow table full (flow_insert_fail)", gs.flow_insert_fail,
		     p->flow_insert_fail, have_prev);
	counter_item(out, &first, "icmp_insert_fail", gs.icmp_insert_fail, p->icmp_insert_fail,
		     have_prev);
	counter_item(out, &first, "icmp_count_fail", gs.icmp_count_fail, p->icmp_count_fail,
		     have_prev);
	if (!first)
		fprintf(out, "\n");

	fv->sum_prev_gs = gs;
	fv->sum_prev_gs_valid = true;
}

void flow_view_summary(struct flow_view *fv, int stats_fd, FILE *out)
{
	uint64_t now = clock_mono_now_ns(), r[REC_DROPS + 1], en[REC_END_EVICTED + 1];
	double secs = (double)age_ns(now, fv->sum_prev_ns) / 1e9;
	char ts[RFC3339_NS_LEN];
	bool first = true;
	size_t i;

	if (secs <= 0.0)
		secs = 1e-9;
	for (i = 0; i <= REC_DROPS; i++)
		r[i] = fv->records[i] - fv->sum_prev_records[i];
	for (i = 0; i <= REC_END_EVICTED; i++)
		en[i] = fv->ends[i] - fv->sum_prev_ends[i];
	format_rfc3339_ns(clock_mono_to_wall_ns(&fv->cb, now), ts, sizeof(ts));
	/* seconds are enough for a human: cut the fraction */
	ts[19] = 'Z';
	ts[20] = '\0';

	fprintf(out, "=== guarder %s  node %s  last %.1f s ===\n", ts, fv->node, secs);
	fprintf(out,
		"flows     active %u   start %" PRIu64 "  update %" PRIu64 "  end %" PRIu64
		" (fin %" PRIu64 ", rst %" PRIu64 ", idle %" PRIu64 ", evicted %" PRIu64
		")  icmp %" PRIu64 "  drop %" PRIu64 "  drops %" PRIu64 "\n",
		fv->n_entries, r[REC_START], r[REC_UPDATE], r[REC_END], en[REC_END_FIN],
		en[REC_END_RST], en[REC_END_IDLE], en[REC_END_EVICTED], r[REC_ICMP], r[REC_DROP],
		r[REC_DROPS]);
	summary_kernel(fv, stats_fd, out, secs);
	summary_top(fv, out);

	fprintf(out, "collector ");
	counter_item(out, &first, "adopted", fv->st.adopted, 0, false);
	counter_item(out, &first, "icmp_expired", fv->st.icmp_expired, 0, false);
	counter_item(out, &first, "VIEW FULL view_full", fv->st.view_full, 0, false);
	counter_item(out, &first, "bad_events", fv->st.bad_events, 0, false);
	counter_item(out, &first, "SINK FAILURES", fv->st.sink_failures, 0, false);
	for (i = 0; i < fv->n_sinks; i++)
		fprintf(out, "%ssink %s: %llu records, %llu failed", first && !i ? "" : ", ",
			fv->sinks[i]->ops->name, fv->sinks[i]->emitted, fv->sinks[i]->failed);
	fprintf(out, "%s\n", first && !fv->n_sinks ? "no sinks" : "");
	/* each sink's own counters (queue, deliveries, losses), as it names them */
	for (i = 0; i < fv->n_sinks; i++) {
		char sub[1024];
		struct sink *s = fv->sinks[i];

		if (s->ops->stats_json && s->ops->stats_json(s, sub, sizeof(sub)) > 0)
			fprintf(out, "%-9s %s\n", s->ops->name, sub);
	}
	fflush(out);

	memcpy(fv->sum_prev_records, fv->records, sizeof(fv->records));
	memcpy(fv->sum_prev_ends, fv->ends, sizeof(fv->ends));
	fv->sum_prev_ns = now;
	/* interface names can change: look them up again from time to time */
	memset(fv->ifnames, 0, sizeof(fv->ifnames));
}
