// SPDX-License-Identifier: GPL-2.0
/*
 * The read endpoints served from the maps the collector pinned:
 * GET /api/connections (flows), GET /api/icmp (ICMP view), GET /api/stats
 * (per-CPU counters), and the kernel part of /metrics.
 *
 * The maps are opened on first use and again after a failure, so the API
 * may start before the collector; until the pins exist these endpoints
 * answer 503. A table is walked with batched lookups (one syscall per
 * few thousand entries); the entries that pass the filters go through a
 * heap that keeps only the best offset+limit of them, so memory follows
 * the page, not the table. The full match count goes in X-Total-Count.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "api.h"
#include "lib/json_strict.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/record.h"
#include "lib/stats.h"
#include "lib/timeconv.h"

#define BATCH 4096

struct flow_maps {
	pthread_mutex_t lock; /* opening */
	const struct guarder_config *cfg;
	int flows, icmp, stats, icmp_counts; /* -1 until open */
	time_t last_try;
	/* ICMP type/code slots known to be non-zero; see icmp_counts_json() */
	pthread_mutex_t icmp_lock;
	__u32 icmp_known[GUARDER_ICMP_COUNTS_SLOTS];
	unsigned int n_icmp_known;
	uint64_t icmp_scanned_ns; /* CLOCK_MONOTONIC of the last full scan; 0: never */
};

int flow_maps_init(const struct guarder_config *cfg, struct flow_maps **out)
{
	struct flow_maps *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->icmp_lock, NULL);
	m->cfg = cfg;
	m->flows = m->icmp = m->stats = m->icmp_counts = -1;
	*out = m;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void flow_maps_free(struct flow_maps *m)
{
	if (!m)
		return;
	close_fd(&m->flows);
	close_fd(&m->icmp);
	close_fd(&m->stats);
	close_fd(&m->icmp_counts);
	pthread_mutex_destroy(&m->icmp_lock);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int open_pin(const struct flow_maps *m, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", m->cfg->bpf.pin_path, name);
	return bpf_obj_get(path);
}

/* Open the four maps once; true when they are usable. */
static bool maps_ready(struct flow_maps *m)
{
	bool ok;

	if (__atomic_load_n(&m->icmp_counts, __ATOMIC_ACQUIRE) >= 0)
		return true;
	pthread_mutex_lock(&m->lock);
	if (m->icmp_counts < 0) {
		int f = open_pin(m, GUARDER_MAP_FLOWS), i = open_pin(m, GUARDER_MAP_ICMP),
		    s = open_pin(m, GUARDER_MAP_STATS), c = open_pin(m, GUARDER_MAP_ICMP_COUNTS);

		if (f >= 0 && i >= 0 && s >= 0 && c >= 0) {
			m->flows = f;
			m->icmp = i;
			m->stats = s;
			__atomic_store_n(&m->icmp_counts, c, __ATOMIC_RELEASE);
			log_info("maps: opened the pinned maps under %s", m->cfg->bpf.pin_path);
		} else {
			close_fd(&f);
			close_fd(&i);
			close_fd(&s);
			close_fd(&c);
		}
	}
	ok = m->icmp_counts >= 0;
	pthread_mutex_unlock(&m->lock);
	return ok;
}

static void reply_no_maps(struct flow_maps *m, struct api_reply *rep)
{
	reply_error(
		rep, 503,
		"the flow tracker is not loaded: no maps pinned under %s (start guarder-collector)",
		m->cfg->bpf.pin_path);
}

/* Called with each batch of entries read from a table. */
typedef int (*batch_fn)(const void *keys, const void *vals, size_t n, void *ctx);

/*
 * table_each - every entry of the hash @fd, handed to @fn a batch at a
 * time (one syscall per BATCH entries), so a million-entry table never
 * sits in memory whole. Returns 0, @fn's error, or a negative errno.
 */
static int table_each(int fd, size_t ksz, size_t vsz, batch_fn fn, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	char *k = malloc(BATCH * ksz), *v = malloc(BATCH * vsz);
	__u64 in_batch[8], out_batch[8]; /* opaque; a bucket index for hashes */
	bool first = true, last = false;
	int err = 0;

	if (!k || !v) {
		err = -ENOMEM;
		goto out;
	}
	while (!last) {
		__u32 count = BATCH;

		err = bpf_map_lookup_batch(fd, first ? NULL : in_batch, out_batch, k, v, &count,
					   &opts);
		if (err) {
			err = -errno;
			if (err != -ENOENT)
				goto out;
			err = 0;
			last = true; /* the final, partial batch */
		}
		if (count) {
			err = fn(k, v, count, ctx);
			if (err)
				goto out;
		}
		memcpy(in_batch, out_batch, sizeof(in_batch));
		first = false;
	}
out:
	free(k);
	free(v);
	return err;
}

/* ---- query: filters, sort, pagination ---- */

enum sort_by { SORT_LAST_SEEN = 0, SORT_BYTES, SORT_PACKETS };

struct list_query {
	unsigned long limit, offset;
	enum sort_by sort;
	bool has_ip;
	struct net_prefix ip; /* host bits masked; matched on the 128-bit form */
	bool has_port;
	__u16 port;
	int proto; /* -1: any */
};

static int parse_query(struct flow_maps *m, const struct api_request *req, struct list_query *q,
		       struct api_reply *rep)
{
	static const char *const known[] = { "limit", "offset",	  "sort", "ip",
					     "port",  "protocol", NULL };
	char why[NET_ERR_LEN];
	const char *s;
	unsigned long port;
	uint8_t proto;
	int rc;

	memset(q, 0, sizeof(*q));
	q->limit = m->cfg->api.default_limit;
	q->proto = -1;
	if (query_check_known(req, known, rep) ||
	    query_uint(req, "limit", 0, m->cfg->api.max_limit, &q->limit, rep) < 0 ||
	    query_uint(req, "offset", 0, 1UL << 31, &q->offset, rep) < 0)
		return -EINVAL;
	s = query_str(req, "sort");
	if (s) {
		if (!strcmp(s, "bytes"))
			q->sort = SORT_BYTES;
		else if (!strcmp(s, "packets"))
			q->sort = SORT_PACKETS;
		else if (!strcmp(s, "last_seen"))
			q->sort = SORT_LAST_SEEN;
		else {
			reply_error(rep, 400, "sort: must be bytes, packets or last_seen");
			return -EINVAL;
		}
	}
	s = query_str(req, "ip");
	if (s) {
		if (net_parse(s, NET_PARSE_MASK, &q->ip, why, sizeof(why))) {
			reply_error(rep, 400, "ip: %s", why);
			return -EINVAL;
		}
		q->has_ip = true;
	}
	rc = query_uint(req, "port", 1, 65535, &port, rep);
	if (rc < 0)
		return rc;
	if (!rc) {
		q->has_port = true;
		q->port = (__u16)port;
	}
	s = query_str(req, "protocol");
	if (s) {
		if (net_proto_parse(s, strlen(s), NET_PROTO_NUMBER | NET_PROTO_ICASE, &proto)) {
			reply_error(rep, 400,
				    "protocol: must be " NET_PROTO_NAMES " or a number 0..255");
			return -EINVAL;
		}
		q->proto = proto;
	}
	return 0;
}

/*
 * The best offset+limit entries seen so far, in a heap whose top is the
 * worst of them: a listing costs memory for the page, not for the table.
 */
struct item {
	__u64 sort_key;
	size_t index; /* position in the table walk: ties keep table order */
	union {
		struct flow_key flow;
		struct icmp_key icmp;
	} key;
	union {
		struct flow_value flow;
		struct icmp_value icmp;
	} val;
};

struct top {
	struct item *items;
	size_t n, cap, k;
	size_t seen, matched;
	const struct list_query *q;
	bool icmp;
};

/* Does @a come after @b in the listing (descending sort key, then table order)? */
static bool item_after(const struct item *a, const struct item *b)
{
	if (a->sort_key != b->sort_key)
		return a->sort_key < b->sort_key;
	return a->index > b->index;
}

static int item_cmp(const void *a, const void *b)
{
	return item_after(a, b) ? 1 : item_after(b, a) ? -1 : 0;
}

static void sift_down(struct top *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		struct item tmp;

		if (l < t->n && item_after(&t->items[l], &t->items[w]))
			w = l;
		if (r < t->n && item_after(&t->items[r], &t->items[w]))
			w = r;
		if (w == i)
			return;
		tmp = t->items[i];
		t->items[i] = t->items[w];
		t->items[w] = tmp;
		i = w;
	}
}

static int top_push(struct top *t, const struct item *it)
{
	size_t i;

	if (t->n < t->k) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 256;
			struct item *grown = realloc(t->items, cap * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			t->items = grown;
			t->cap = cap;
		}
		i = t->n++;
		t->items[i] = *it;
		while (i && item_after(&t->items[i], &t->items[(i - 1) / 2])) {
			struct item tmp = t->items[i];

			t->items[i] = t->items[(i - 1) / 2];
			t->items[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
	} else if (t->k && item_after(&t->items[0], it)) {
		t->items[0] = *it;
		sift_down(t, 0);
	}
	return 0;
}

/* batch_fn: filter a batch of flow or ICMP entries into the top list. */
static int top_batch(const void *keys, const void *vals, size_t n, void *ctx)
{
	struct top *t = ctx;
	const struct list_query *q = t->q;
	struct item it;
	size_t i;
	int err;

	for (i = 0; i < n; i++, t->seen++) {
		__u64 pk, by, last;

		if (t->icmp) {
			const struct icmp_key *k = (const struct icmp_key *)keys + i;
			const struct icmp_value *v = (const struct icmp_value *)vals + i;

			if (q->has_ip && !net_contains(&q->ip, k->src) &&
			    !net_contains(&q->ip, k->dst))
				continue;
			if (q->proto >= 0 && q->proto != (k->family == 6 ? 58 : 1))
				continue;
			if (q->has_port && !(v->inner.valid && (v->inner.sport == q->port ||
								v->inner.dport == q->port)))
				continue;
			pk = icmp_value_packets(v);
			by = icmp_value_bytes(v);
			last = v->last_seen_ns;
			it.key.icmp = *k;
			it.val.icmp = *v;
		} else {
			const struct flow_key *k = (const struct flow_key *)keys + i;
			const struct flow_value *v = (const struct flow_value *)vals + i;

			if (q->has_ip && !net_contains(&q->ip, k->addr_lo) &&
			    !net_contains(&q->ip, k->addr_hi))
				continue;
			if (q->proto >= 0 && q->proto != k->proto)
				continue;
			if (q->has_port && k->port_lo != q->port && k->port_hi != q->port)
				continue;
			pk = v->dir[0].packets + v->dir[1].packets;
			by = v->dir[0].bytes + v->dir[1].bytes;
			last = v->last_seen_ns;
			it.key.flow = *k;
			it.val.flow = *v;
		}
		t->matched++;
		it.index = t->seen;
		it.sort_key = q->sort == SORT_BYTES ? by : q->sort == SORT_PACKETS ? pk : last;
		err = top_push(t, &it);
		if (err)
			return err;
	}
	return 0;
}

/* ---- formatting ---- */

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_u64(struct json_object *o, const char *k, __u64 v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_time(struct json_object *o, const char *k, const struct clock_base *cb, __u64 mono)
{
	char t[RFC3339_NS_LEN];

	if (mono && format_rfc3339_ns(clock_mono_to_wall_ns(cb, mono), t, sizeof(t)) > 0)
		add_str(o, k, t);
	else
		json_object_object_add(o, k, NULL);
}

/* "2023-05-01T12:34:56Z": the reference's seconds precision, for info strings. */
static void time_seconds(const struct clock_base *cb, __u64 mono, char *buf, size_t len)
{
	char t[RFC3339_NS_LEN];

	if (!mono || format_rfc3339_ns(clock_mono_to_wall_ns(cb, mono), t, sizeof(t)) < 20) {
		snprintf(buf, len, "never");
		return;
	}
	snprintf(buf, len, "%.19sZ", t);
}

/* "1.2.3.4:80" or "[fd00::1]:80" */
static void endpoint_str(const __u32 addr[4], __u16 port, bool with_port, char *buf, size_t len)
{
	char a[NET_ADDR_STRLEN];

	net_addr_format(addr, a);
	if (!with_port)
		snprintf(buf, len, "%s", a);
	else if (strchr(a, ':'))
		snprintf(buf, len, "[%s]:%u", a, port);
	else
		snprintf(buf, len, "%s:%u", a, port);
}

/* The protocols the "key" text names ("TCP"); the others are numbers there. */
static const char *const proto_upper[256] = {
	[IPPROTO_TCP] = "TCP",
	[IPPROTO_UDP] = "UDP",
	[IPPROTO_ICMP] = "ICMP",
	[IPPROTO_ICMPV6] = "ICMPv6",
};

static void add_addr(struct json_object *o, const char *k, const __u32 addr[4])
{
	char a[NET_ADDR_STRLEN];

	net_addr_format(addr, a);
	add_str(o, k, a);
}

static struct json_object *dir_json(const struct flow_dir *d, bool tcp)
{
	struct json_object *o = json_object_new_object();
	char flags[48];

	if (!o)
		return NULL;
	add_u64(o, "packets", d->packets);
	add_u64(o, "bytes", d->bytes);
	if (tcp) {
		record_tcp_flags_str(d->tcp_flags, flags, sizeof(flags));
		add_u64(o, "tcp_flags", d->tcp_flags);
		add_str(o, "tcp_flags_names", flags);
		add_u64(o, "seq", d->seq_next);
		add_u64(o, "ack", d->ack);
		add_u64(o, "window", d->window);
		add_u64(o, "retransmits", d->retransmits);
		add_u64(o, "dup_acks", d->dup_acks);
	}
	return o;
}

static struct json_object *flow_json(const struct flow_key *k, const struct flow_value *v,
				     const struct clock_base *cb)
{
	struct json_object *o = json_object_new_object();
	unsigned int fwd = v->initiator ? 1 : 0;
	const __u32 *src = fwd ? k->addr_hi : k->addr_lo, *dst = fwd ? k->addr_lo : k->addr_hi;
	__u16 sport = fwd ? k->port_hi : k->port_lo, dport = fwd ? k->port_lo : k->port_hi;
	const struct flow_dir *f = &v->dir[fwd], *r = &v->dir[!fwd];
	bool tcp = k->proto == 6, ports = k->proto == 6 || k->proto == 17;
	char s[64], d[64], key[160], info[256], seen[32];
	const char *pu = proto_upper[k->proto];

	if (!o)
		return NULL;
	endpoint_str(src, sport, ports, s, sizeof(s));
	endpoint_str(dst, dport, ports, d, sizeof(d));
	if (pu)
		snprintf(key, sizeof(key), "%s -> %s (%s)", s, d, pu);
	else
		snprintf(key, sizeof(key), "%s -> %s (%u)", s, d, k->proto);
	time_seconds(cb, v->last_seen_ns, seen, sizeof(seen));
	if (tcp)
		snprintf(
			info, sizeof(info),
			"Packets: %llu, Bytes: %llu, TCP Flags: %u, Seq: %u, Ack: %u, Last Seen: %s",
			(unsigned long long)(f->packets + r->packets),
			(unsigned long long)(f->bytes + r->bytes), f->tcp_flags | r->tcp_flags,
			f->seq_next, f->ack, seen);
	else
		snprintf(info, sizeof(info), "Packets: %llu, Bytes: %llu, IP ID: %u, Last Seen: %s",
			 (unsigned long long)(f->packets + r->packets),
			 (unsigned long long)(f->bytes + r->bytes), v->ip_id, seen);
	add_str(o, "key", key);
	add_str(o, "info", info);
	add_addr(o, "src_ip", src);
	add_u64(o, "src_port", sport);
	add_addr(o, "dst_ip", dst);
	add_u64(o, "dst_port", dport);
	add_str(o, "protocol", net_proto_name(k->proto));
	add_u64(o, "packets", f->packets + r->packets);
	add_u64(o, "bytes", f->bytes + r->bytes);
	json_object_object_add(o, "fwd", dir_json(f, tcp));
	json_object_object_add(o, "rev", dir_json(r, tcp));
	if (tcp)
		add_u64(o, "tcp_flags", f->tcp_flags | r->tcp_flags);
	add_u64(o, "ip_id", v->ip_id);
	add_time(o, "first_seen", cb, v->first_seen_ns);
	add_time(o, "last_seen", cb, v->last_seen_ns);
	add_str(o, "verdict", flow_value_verdict(v) == GUARDER_VERDICT_DROP ? "drop" : "pass");
	return o;
}

static struct json_object *icmp_json(const struct icmp_key *k, const struct icmp_value *v,
				     const struct clock_base *cb)
{
	struct json_object *o = json_object_new_object(), *in;
	char s[64], d[64], key[200], info[320], seen[32], inner[160] = "";
	const char *pu = k->family == 6 ? "ICMPv6" : "ICMP";

	if (!o)
		return NULL;
	endpoint_str(k->src, 0, false, s, sizeof(s));
	endpoint_str(k->dst, 0, false, d, sizeof(d));
	snprintf(key, sizeof(key), "%s -> %s (%s type %u code %u)", s, d, pu, k->type, k->code);
	time_seconds(cb, v->last_seen_ns, seen, sizeof(seen));
	if (v->inner.valid) {
		char is[64], id[64];
		bool p = v->inner.proto == 6 || v->inner.proto == 17;

		endpoint_str(v->inner.src, v->inner.sport, p, is, sizeof(is));
		endpoint_str(v->inner.dst, v->inner.dport, p, id, sizeof(id));
		snprintf(inner, sizeof(inner), ", Inner: %s -> %s (%s)", is, id,
			 net_proto_name(v->inner.proto));
	}
	snprintf(info, sizeof(info),
		 "Packets: %llu, Bytes: %llu, Type: %u, Code: %u%s, Last Seen: %s",
		 (unsigned long long)icmp_value_packets(v), (unsigned long long)icmp_value_bytes(v),
		 k->type, k->code, inner, seen);
	add_str(o, "key", key);
	add_str(o, "info", info);
	add_addr(o, "src_ip", k->src);
	add_addr(o, "dst_ip", k->dst);
	add_str(o, "protocol", net_proto_name(k->family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP));
	add_u64(o, "icmp_type", k->type);
	add_u64(o, "icmp_code", k->code);
	add_u64(o, "packets", icmp_value_packets(v));
	add_u64(o, "bytes", icmp_value_bytes(v));
	add_time(o, "first_seen", cb, v->first_seen_ns);
	add_time(o, "last_seen", cb, v->last_seen_ns);
	if (k->type == 0 || k->type == 8 || k->type == 128 || k->type == 129) {
		add_u64(o, "echo_id", v->echo_id);
		add_u64(o, "echo_seq", v->echo_seq);
	}
	if (v->inner.valid) {
		in = json_object_new_object();
		if (in) {
			add_addr(in, "src_ip", v->inner.src);
			add_addr(in, "dst_ip", v->inner.dst);
			add_str(in, "protocol", net_proto_name(v->inner.proto));
			add_u64(in, "src_port", v->inner.sport);
			add_u64(in, "dst_port", v->inner.dport);
		}
		json_object_object_add(o, "inner", in);
	} else {
		json_object_object_add(o, "inner", NULL);
	}
	return o;
}

/* ---- endpoints ---- */

static void list_flows(struct flow_maps *m, const struct api_request *req, struct api_reply *rep,
		       bool icmp)
{
	struct list_query q;
	struct top t = { .icmp = icmp };
	struct json_object *arr = NULL;
	struct clock_base cb = { 0 };
	size_t i;
	int err;

	if (parse_query(m, req, &q, rep))
		return;
	if (!maps_ready(m)) {
		reply_no_maps(m, rep);
		return;
	}
	t.q = &q;
	t.k = q.offset + q.limit;
	err = icmp ? table_each(m->icmp, sizeof(struct icmp_key), sizeof(struct icmp_value),
				top_batch, &t) :
		     table_each(m->flows, sizeof(struct flow_key), sizeof(struct flow_value),
				top_batch, &t);
	if (err == -ENOMEM)
		goto nomem;
	if (err) {
		reply_error(rep, 500, "cannot read the %s table: %s", icmp ? "ICMP" : "flow",
			    strerror(-err));
		goto out;
	}
	if (t.n)
		qsort(t.items, t.n, sizeof(*t.items), item_cmp);
	clock_base_sample(&cb);
	arr = json_object_new_array();
	if (!arr)
		goto nomem;
	for (i = q.offset; i < t.n; i++) {
		const struct item *it = &t.items[i];
		struct json_object *o = icmp ? icmp_json(&it->key.icmp, &it->val.icmp, &cb) :
					       flow_json(&it->key.flow, &it->val.flow, &cb);

		if (!o || json_object_array_add(arr, o)) {
			json_object_put(o);
			goto nomem;
		}
	}
	rep->total = (long long)t.matched;
	reply_json(rep, 200, arr);
	arr = NULL;
	goto out;
nomem:
	reply_error(rep, 500, "out of memory");
out:
	json_object_put(arr);
	free(t.items);
}

/* One slot of the ICMP type/code counters as a JSON object; NULL when zero. */
static struct json_object *icmp_count_json(__u32 idx, const __u64 *per, int ncpu)
{
	struct json_object *o;
	__u64 sum = 0;
	int c;

	for (c = 0; c < ncpu; c++)
		sum += per[c];
	if (!sum || idx >= GUARDER_ICMP_COUNTS_SLOTS)
		return NULL;
	o = json_object_new_object();
	if (!o)
		return NULL;
	add_str(o, "protocol",
		net_proto_name(idx / (256 * GUARDER_ICMP_CODE_SLOTS) ? IPPROTO_ICMPV6 :
								       IPPROTO_ICMP));
	add_u64(o, "type", idx / GUARDER_ICMP_CODE_SLOTS % 256);
	add_u64(o, "code", idx % GUARDER_ICMP_CODE_SLOTS);
	add_u64(o, "count", sum);
	return o;
}

/*
 * icmp_scan - read every slot with one batched lookup, list the non-zero
 * ones into @arr and remember them in m->icmp_known. Called with
 * m->icmp_lock held.
 */
static void icmp_scan(struct flow_maps *m, int ncpu, struct json_object *arr)
{
	__u32 *keys, count = GUARDER_ICMP_COUNTS_SLOTS, out_batch, i;
	__u64 *vals;

	keys = calloc(GUARDER_ICMP_COUNTS_SLOTS, sizeof(*keys));
	vals = calloc((size_t)GUARDER_ICMP_COUNTS_SLOTS * (size_t)ncpu, sizeof(*vals));
	if (!keys || !vals)
		goto out;
	/* ENOENT: the walk reached the end; count says how many were read. */
	if (bpf_map_lookup_batch(m->icmp_counts, NULL, &out_batch, keys, vals, &count, NULL) &&
	    errno != ENOENT) {
		log_warn("cannot read the ICMP type/code counters: %s", strerror(errno));
		goto out;
	}
	m->n_icmp_known = 0;
	for (i = 0; i < count; i++) {
		struct json_object *o = icmp_count_json(keys[i], vals + (size_t)i * ncpu, ncpu);

		if (!o)
			continue;
		m->icmp_known[m->n_icmp_known++] = keys[i];
		json_object_array_add(arr, o);
	}
	m->icmp_scanned_ns = clock_mono_now_ns();
out:
	free(keys);
	free(vals);
}

/*
 * ICMP type/code counters: a per-CPU array indexed by icmp_count_index()
 * (kernel/conn_tracker.h) of 8192 slots, almost all zero. Reading all of
 * them copies every slot of every CPU (about 0.5 ms on 2 CPUs, more on
 * bigger hosts), too much for each GET /api/stats. A slot never goes back
 * to zero, so the slots seen non-zero are remembered: a request reads only
 * those (their counts are current), and a full scan that finds new ones
 * runs at most once per ICMP_RESCAN_NS. A type/code counted for the first
 * time is therefore listed within a second. Code 15 stands for "15 or
 * above".
 */
#define ICMP_RESCAN_NS 1000000000ull

static struct json_object *icmp_counts_json(struct flow_maps *m)
{
	int ncpu = libbpf_num_possible_cpus();
	struct json_object *arr = json_object_new_array();
	__u32 known[GUARDER_ICMP_COUNTS_SLOTS];
	unsigned int n, i;
	__u64 *per;

	if (!arr || ncpu <= 0)
		return arr;
	pthread_mutex_lock(&m->icmp_lock);
	if (!m->icmp_scanned_ns || clock_mono_now_ns() - m->icmp_scanned_ns >= ICMP_RESCAN_NS) {
		icmp_scan(m, ncpu, arr);
		pthread_mutex_unlock(&m->icmp_lock);
		return arr;
	}
	n = m->n_icmp_known;
	memcpy(known, m->icmp_known, n * sizeof(*known));
	pthread_mutex_unlock(&m->icmp_lock);

	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return arr;
	for (i = 0; i < n; i++) {
		struct json_object *o;

		if (bpf_map_lookup_elem(m->icmp_counts, &known[i], per))
			continue;
		o = icmp_count_json(known[i], per, ncpu);
		if (o)
			json_object_array_add(arr, o);
	}
	free(per);
	return arr;
}

/* Counters of struct global_stats as /api/stats names them, in its order. */
struct stat_field {
	const char *name;
	size_t off;
};

static const struct stat_field tcp_stats[] = {
	{ "retransmits", offsetof(struct global_stats, tcp_retransmits) },
	{ "out_of_order", offsetof(struct global_stats, tcp_out_of_order) },
	{ "dup_acks", offsetof(struct global_stats, tcp_dup_acks) },
	{ "zero_windows", offsetof(struct global_stats, tcp_zero_windows) },
	{ NULL, 0 },
};
static const struct stat_field table_stats[] = {
	{ "dropped", offsetof(struct global_stats, dropped) },
	{ "fragments", offsetof(struct global_stats, fragments) },
	{ "flows_created", offsetof(struct global_stats, flows_created) },
	{ "flow_insert_fail", offsetof(struct global_stats, flow_insert_fail) },
	{ "icmp_insert_fail", offsetof(struct global_stats, icmp_insert_fail) },
	{ "icmp_count_fail", offsetof(struct global_stats, icmp_count_fail) },
	{ "events", offsetof(struct global_stats, events) },
	{ "ringbuf_fail", offsetof(struct global_stats, ringbuf_fail) },
	{ NULL, 0 },
};

static void add_stats(struct json_object *o, const struct global_stats *st,
		      const struct stat_field *f)
{
	for (; f->name; f++)
		add_u64(o, f->name, *(const __u64 *)((const char *)st + f->off));
}

static void get_stats(struct flow_maps *m, const struct api_request *req, struct api_reply *rep)
{
	struct json_object *o, *pk, *by, *mal, *tcp;
	struct global_stats st;
	__u64 tp = 0, tb = 0;
	int i, err;

	if (query_check_known(req, (const char *const[]){ NULL }, rep))
		return;
	if (!maps_ready(m)) {
		reply_no_maps(m, rep);
		return;
	}
	err = stats_read(m->stats, &st);
	if (err) {
		reply_error(rep, 500, "cannot read the counters: %s", strerror(-err));
		return;
	}
	o = json_object_new_object();
	pk = json_object_new_object();
	by = json_object_new_object();
	mal = json_object_new_object();
	tcp = json_object_new_object();
	if (!o || !pk || !by || !mal || !tcp) {
		json_object_put(o);
		json_object_put(pk);
		json_object_put(by);
		json_object_put(mal);
		json_object_put(tcp);
		reply_error(rep, 500, "out of memory");
		return;
	}
	for (i = 0; i < GUARDER_P_MAX; i++) {
		add_u64(pk, stats_proto_name((enum guarder_proto_class)i), st.packets[i]);
		add_u64(by, stats_proto_name((enum guarder_proto_class)i), st.bytes[i]);
		tp += st.packets[i];
		tb += st.bytes[i];
	}
	for (i = 0; i < GUARDER_M_MAX; i++)
		add_u64(mal, stats_malformed_name((enum guarder_malformed)i), st.malformed[i]);
	add_stats(tcp, &st, tcp_stats);
	add_u64(o, "total_packets", tp);
	add_u64(o, "total_bytes", tb);
	json_object_object_add(o, "packets", pk);
	json_object_object_add(o, "bytes", by);
	add_stats(o, &st, table_stats);
	json_object_object_add(o, "tcp", tcp);
	json_object_object_add(o, "malformed", mal);
	json_object_object_add(o, "icmp_counts", icmp_counts_json(m));
	reply_json(rep, 200, o);
}

void flows_handle(struct flow_maps *m, const struct api_request *req, struct api_reply *rep)
{
	if (req->route == ROUTE_STATS)
		get_stats(m, req, rep);
	else
		list_flows(m, req, rep, req->route == ROUTE_ICMP);
}

static int count_batch(const void *keys, const void *vals, size_t n, void *ctx)
{
	(void)keys;
	(void)vals;
	*(long *)ctx += (long)n;
	return 0;
}

/* Entries of a hash map now, counted with batched reads; -1 on error. */
static long count_entries(int fd, size_t ksz, size_t vsz)
{
	long n = 0;

	return table_each(fd, ksz, vsz, count_batch, &n) ? -1 : n;
}

#define COLLECTOR_STATS_MAX (64 * 1024) /* bytes of collector.stats_file we read */

/* A JSON member name as a Prometheus name fragment: [a-z0-9_] only. */
static void metric_name(const char *in, char *out, size_t len)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < len; i++) {
		char ch = in[i];

		out[i] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch
			 : (ch >= 'A' && ch <= 'Z')			  ? (char)(ch - 'A' + 'a')
									  : '_';
	}
	out[i] = '\0';
}

static bool json_is_number(struct json_object *v)
{
	return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/*
 * Every sink's counters: all samples of one metric name together, as the
 * text format wants, although each sink names its own counters.
 */
static void collector_sink_metrics(struct json_object *sinks, FILE *out)
{
	const char *names[128];
	size_t n = 0, i;

	json_object_object_foreach(sinks, sname, sobj)
	{
		if (!json_object_is_type(sobj, json_type_object))
			continue;
		json_object_object_foreach(sobj, field, v)
		{
			(void)v;
			for (i = 0; i < n && strcmp(names[i], field); i++)
				;
			if (i == n && n < sizeof(names) / sizeof(names[0]))
				names[n++] = field;
		}
		(void)sname;
	}
	for (i = 0; i < n; i++) {
		char mn[96];
		bool header = false;

		metric_name(names[i], mn, sizeof(mn));
		json_object_object_foreach(sinks, sname, sobj)
		{
			struct json_object *v;
			char sn[64];

			if (!json_object_object_get_ex(sobj, names[i], &v))
				continue;
			metric_name(sname, sn, sizeof(sn));
			if (json_is_number(v)) {
				if (!header)
					fprintf(out, "# TYPE guarder_collector_sink_%s untyped\n", mn);
				header = true;
				fprintf(out, "guarder_collector_sink_%s{sink=\"%s\"} %.17g\n", mn, sn,
					json_object_get_double(v));
			} else if (json_object_is_type(v, json_type_string)) {
				char val[64];

				metric_name(json_object_get_string(v), val, sizeof(val));
				if (!header)
					fprintf(out, "# TYPE guarder_collector_sink_%s_info gauge\n", mn);
				header = true;
				fprintf(out, "guarder_collector_sink_%s_info{sink=\"%s\",value=\"%s\"} 1\n",
					mn, sn, val);
			}
		}
	}
}

/*
 * The collector's own counters (records, view, sinks: Kafka deliveries and
 * losses, WebSocket clients) from collector.stats_file, which it rewrites
 * every second. guarder_collector_stats_age_seconds tells a stalled or
 * stopped collector from a quiet one.
 */
static void collector_metrics(const struct guarder_config *cfg, FILE *out)
{
	struct json_object *root = NULL, *obj;
	const char *path = cfg->collector.stats_file;
	char *text = NULL, why[JSON_STRICT_ERR_LEN];
	struct stat st;
	ssize_t got;
	int fd;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !(text = malloc(COLLECTOR_STATS_MAX)))
		goto missing;
	got = read(fd, text, COLLECTOR_STATS_MAX);
	if (got <= 0)
		goto missing;
	if (json_strict_parse(text, (size_t)got, json_type_object, NULL, &root, why, sizeof(why))) {
		log_debug("collector.stats_file %s: %s", path, why);
		goto missing;
	}
	fprintf(out,
		"# HELP guarder_collector_stats_age_seconds Seconds since the collector last wrote "
		"its stats (every second while it runs).\n"
		"# TYPE guarder_collector_stats_age_seconds gauge\n"
		"guarder_collector_stats_age_seconds %.3f\n",
		difftime(time(NULL), st.st_mtime));
	if (json_object_object_get_ex(root, "records", &obj) &&
	    json_object_is_type(obj, json_type_object)) {
		fputs("# HELP guarder_collector_records_total Flow records the collector made, by "
		      "event.\n# TYPE guarder_collector_records_total counter\n",
		      out);
		json_object_object_foreach(obj, ev, v)
		{
			char mn[32];

			metric_name(ev, mn, sizeof(mn));
			if (json_is_number(v))
				fprintf(out, "guarder_collector_records_total{event=\"%s\"} %lld\n", mn,
					(long long)json_object_get_int64(v));
		}
	}
	if (json_object_object_get_ex(root, "view", &obj) &&
	    json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, field, v)
		{
			char mn[64];

			if (!json_is_number(v))
				continue;
			metric_name(field, mn, sizeof(mn));
			fprintf(out, "# TYPE guarder_collector_view_%s untyped\n"
				"guarder_collector_view_%s %lld\n",
				mn, mn, (long long)json_object_get_int64(v));
		}
	}
	if (json_object_object_get_ex(root, "sinks", &obj) &&
	    json_object_is_type(obj, json_type_object))
		collector_sink_metrics(obj, out);
	goto out;
missing:
	fputs("# HELP guarder_collector_stats_age_seconds Seconds since the collector last wrote "
	      "its stats; absent when collector.stats_file cannot be read.\n",
	      out);
out:
	json_object_put(root);
	free(text);
	if (fd >= 0)
		close(fd);
}

static const char *proto_class_name(unsigned int i)
{
	return stats_proto_name((enum guarder_proto_class)i);
}

static const char *malformed_name(unsigned int i)
{
	return stats_malformed_name((enum guarder_malformed)i);
}

/* A counter family with one label: HELP, TYPE, then a line per value. */
static void counter_family(FILE *out, const char *name, const char *help, const char *label,
			   const char *(*label_of)(unsigned int), const __u64 *v, unsigned int n)
{
	unsigned int i;

	fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < n; i++)
		fprintf(out, "%s{%s=\"%s\"} %llu\n", name, label, label_of(i),
			(unsigned long long)v[i]);
}

void flows_metrics(struct flow_maps *m, FILE *out)
{
	struct global_stats st;
	long flows, icmp;

	collector_metrics(m->cfg, out);

	fprintf(out,
		"# HELP guarder_kernel_up Whether the pinned maps of the flow tracker are open.\n"
		"# TYPE guarder_kernel_up gauge\nguarder_kernel_up %d\n",
		maps_ready(m));
	if (m->icmp_counts < 0 || stats_read(m->stats, &st))
		return;
	counter_family(out, "guarder_packets_total",
		       "Packets seen by the kernel program, by protocol.", "proto",
		       proto_class_name, st.packets, GUARDER_P_MAX);
	counter_family(out, "guarder_bytes_total",
		       "IP bytes seen by the kernel program, by protocol.", "proto",
		       proto_class_name, st.bytes, GUARDER_P_MAX);
	counter_family(out, "guarder_malformed_total",
		       "Malformed packets (passed, not tracked), by reason.", "reason",
		       malformed_name, st.malformed, GUARDER_M_MAX);
	fprintf(out,
		"# HELP guarder_dropped_total Packets dropped by filter rules.\n"
		"# TYPE guarder_dropped_total counter\nguarder_dropped_total %llu\n"
		"# HELP guarder_ringbuf_fail_total Ring buffer reservations that failed (lost events).\n"
		"# TYPE guarder_ringbuf_fail_total counter\nguarder_ringbuf_fail_total %llu\n"
		"# HELP guarder_events_total Events sent to the collector.\n"
		"# TYPE guarder_events_total counter\nguarder_events_total %llu\n"
		"# HELP guarder_flows_created_total Flows inserted in the kernel table.\n"
		"# TYPE guarder_flows_created_total counter\nguarder_flows_created_total %llu\n"
		"# HELP guarder_flow_insert_fail_total Flow inserts that failed.\n"
		"# TYPE guarder_flow_insert_fail_total counter\nguarder_flow_insert_fail_total %llu\n",
		(unsigned long long)st.dropped, (unsigned long long)st.ringbuf_fail,
		(unsigned long long)st.events, (unsigned long long)st.flows_created,
		(unsigned long long)st.flow_insert_fail);
	flows = count_entries(m->flows, sizeof(struct flow_key), sizeof(struct flow_value));
	icmp = count_entries(m->icmp, sizeof(struct icmp_key), sizeof(struct icmp_value));
	fputs("# HELP guarder_flows Entries in the kernel tables now.\n# TYPE guarder_flows gauge\n",
	      out);
	if (flows >= 0)
		fprintf(out, "guarder_flows{table=\"flows\"} %ld\n", flows);
	if (icmp >= 0)
		fprintf(out, "guarder_flows{table=\"icmp\"} %ld\n", icmp);
}
