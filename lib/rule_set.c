// SPDX-License-Identifier: GPL-2.0
/*
 * The rule-set compiler (see rule_set.h and kernel/filter.h).
 *
 * An apply, under the cross-process lock:
 *  1. wait one RCU grace period, so no packet still uses the inactive
 *     half (it was the active one before the last flip);
 *  2. compile: sort the active rules by (priority, id) into ranks, give
 *     each id a slot (the slot it has in the active half, else a slot
 *     the active half does not use), group them by shape and match key;
 *  3. write the inactive half: rule_comp, rule_shapes and the protected
 *     ports through mmap, rule_match and the protected networks with
 *     batch syscalls; zero the counters of newly used slots;
 *  4. flip: one atomic store of gen + 1.
 * Any error before 4 leaves the active half, hence the kernel's set,
 * untouched.
 */
#include "rule_set.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernel/conn_tracker.h"
#include "kernel/filter.h"
#include "log.h"
#include "rules_file.h"

enum { M_CTL, M_SHAPES, M_MATCH, M_COMP, M_COUNTERS, M_PNETS, M_PPORTS, M_MAX };

static const char *const map_names[M_MAX] = {
	GUARDER_MAP_RULE_CTL,		GUARDER_MAP_RULE_SHAPES,   GUARDER_MAP_RULE_MATCH,
	GUARDER_MAP_RULE_COMP,		GUARDER_MAP_RULE_COUNTERS, GUARDER_MAP_RULE_PROTECT_NETS,
	GUARDER_MAP_RULE_PROTECT_PORTS,
};

struct slot_id {
	__u32 id;
	__u32 slot;
};

struct rule_set {
	int fd[M_MAX];
	int lock_fd; /* flock'ed directory, -1 without pins */
	int sync_outer; /* ARRAY_OF_MAPS: an update waits for an RCU grace period */
	int sync_inner;
	int ncpu;
	struct rule_ctl *ctl; /* mmap of rule_ctl */
	struct rule_shape_set *shapes; /* mmap of rule_shapes, 2 elements */
	struct rule_comp *comp; /* mmap of rule_comp, 2 * RULE_SLOTS */
	__u64 *pports; /* mmap of rule_protect_ports */
	size_t len_ctl, len_shapes, len_comp, len_pports;
	/* id -> slot of the active half, rebuilt when the generation moved */
	struct slot_id *index;
	size_t n_index;
	__u32 index_gen;
	bool index_valid;
	/*
	 * Threads of one process share an rs (the API's workers): the lock
	 * covers the index and applies (flock does not exclude threads that
	 * share the lock fd).
	 */
	pthread_mutex_t lock;
};

static void set_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static size_t page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

static void *map_mmap(int fd, size_t elem, size_t n, size_t *len)
{
	void *p;

	/* Array elements are laid out every round_up(value_size, 8) bytes. */
	*len = page_round(((elem + 7) & ~(size_t)7) * n);
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

void rule_set_close(struct rule_set *rs)
{
	int i;

	if (!rs)
		return;
	if (rs->ctl)
		munmap(rs->ctl, rs->len_ctl);
	if (rs->shapes)
		munmap(rs->shapes, rs->len_shapes);
	if (rs->comp)
		munmap(rs->comp, rs->len_comp);
	if (rs->pports)
		munmap(rs->pports, rs->len_pports);
	for (i = 0; i < M_MAX; i++)
		if (rs->fd[i] >= 0)
			close(rs->fd[i]);
	if (rs->lock_fd >= 0)
		close(rs->lock_fd);
	if (rs->sync_outer >= 0)
		close(rs->sync_outer);
	if (rs->sync_inner >= 0)
		close(rs->sync_inner);
	free(rs->index);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
}

/* Check a map's shape against what this build of the compiler expects. */
static int check_map(int fd, const char *name, __u32 value_size, __u32 max_entries)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.value_size != value_size || info.max_entries != max_entries) {
		log_error("rule map %s: value size %u / %u entries, this build needs %u / %u "
			  "(collector and API from different versions?)",
			  name, info.value_size, info.max_entries, value_size, max_entries);
		return -EPROTO;
	}
	return 0;
}

/* Finish an rs whose fds are set: checks, mmaps, the RCU sync maps. */
static int rs_setup(struct rule_set *rs)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo);
	int err;

	rs->ncpu = libbpf_num_possible_cpus();
	if (rs->ncpu < 1)
		return rs->ncpu ? rs->ncpu : -EINVAL;
	err = check_map(rs->fd[M_CTL], map_names[M_CTL], sizeof(struct rule_ctl), 1);
	if (!err)
		err = check_map(rs->fd[M_SHAPES], map_names[M_SHAPES],
				sizeof(struct rule_shape_set), 2);
	if (!err)
		err = check_map(rs->fd[M_COMP], map_names[M_COMP], sizeof(struct rule_comp),
				2 * RULE_SLOTS);
	if (!err)
		err = check_map(rs->fd[M_COUNTERS], map_names[M_COUNTERS],
				sizeof(struct rule_counter), RULE_SLOTS);
	if (!err)
		err = check_map(rs->fd[M_PPORTS], map_names[M_PPORTS], sizeof(__u64),
				2 * RULE_PROTECT_PORT_WORDS);
	if (err)
		return err;
	rs->ctl = map_mmap(rs->fd[M_CTL], sizeof(struct rule_ctl), 1, &rs->len_ctl);
	rs->shapes = map_mmap(rs->fd[M_SHAPES], sizeof(struct rule_shape_set), 2, &rs->len_shapes);
	rs->comp =
		map_mmap(rs->fd[M_COMP], sizeof(struct rule_comp), 2 * RULE_SLOTS, &rs->len_comp);
	rs->pports = map_mmap(rs->fd[M_PPORTS], sizeof(__u64), 2 * RULE_PROTECT_PORT_WORDS,
			      &rs->len_pports);
	if (!rs->ctl || !rs->shapes || !rs->comp || !rs->pports) {
		err = -errno;
		log_error("cannot mmap the rule maps: %s", strerror(-err));
		return err;
	}
	/*
	 * The kernel waits for an RCU grace period after every update of a
	 * map-in-map from user space (maybe_wait_bpf_programs()): once it
	 * returns, no program that started before is still running. That is
	 * the only way user space can wait for in-flight packets.
	 */
	rs->sync_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "gdr_rs_inner", 4, 4, 1, NULL);
	if (rs->sync_inner < 0)
		return -errno;
	mo.inner_map_fd = rs->sync_inner;
	rs->sync_outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "gdr_rs_sync", 4, 4, 1, &mo);
	if (rs->sync_outer < 0)
		return -errno;
	return 0;
}

static struct rule_set *rs_alloc(void)
{
	struct rule_set *rs = calloc(1, sizeof(*rs));
	int i;

	if (!rs)
		return NULL;
	for (i = 0; i < M_MAX; i++)
		rs->fd[i] = -1;
	rs->lock_fd = -1;
	rs->sync_outer = -1;
	rs->sync_inner = -1;
	pthread_mutex_init(&rs->lock, NULL);
	return rs;
}

/*
 * The common end of the two opens: @err is how getting the fds of @rs
 * went. Sets @rs up when it went well; on any failure @rs is closed.
 * Returns 0 and *@out, or the negative errno.
 */
static int rs_finish(struct rule_set *rs, int err, struct rule_set **out)
{
	if (!err)
		err = rs_setup(rs);
	if (err) {
		rule_set_close(rs);
		return err;
	}
	*out = rs;
	return 0;
}

/* Open the pinned maps under @pin_dir and the apply lock into @rs. */
static int rs_open_pins(struct rule_set *rs, const char *pin_dir)
{
	char path[PATH_MAX];
	int i, err, n;

	for (i = 0; i < M_MAX; i++) {
		n = snprintf(path, sizeof(path), "%s/%s", pin_dir, map_names[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		rs->fd[i] = bpf_obj_get(path);
		if (rs->fd[i] < 0) {
			err = -errno;
			if (err != -ENOENT)
				log_error("cannot open the pinned rule map %s: %s", path,
					  strerror(-err));
			return err;
		}
	}
	/* bpffs takes directories: one is the lock of every apply on these pins. */
	snprintf(path, sizeof(path), "%s/rule_lock", pin_dir);
	if (mkdir(path, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("cannot create the rule lock %s: %s", path, strerror(-err));
		return err;
	}
	rs->lock_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rs->lock_fd < 0) {
		err = -errno;
		log_error("cannot open the rule lock %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

int rule_set_open(const char *pin_dir, struct rule_set **out)
{
	struct rule_set *rs = rs_alloc();

	if (!rs)
		return -ENOMEM;
	return rs_finish(rs, rs_open_pins(rs, pin_dir), out);
}

int rule_set_open_fds(const struct rule_set_fds *fds, struct rule_set **out)
{
	const int in[M_MAX] = { fds->ctl,      fds->shapes,	  fds->match,	     fds->comp,
				fds->counters, fds->protect_nets, fds->protect_ports };
	struct rule_set *rs;
	int i;

	rs = rs_alloc();
	if (!rs)
		return -ENOMEM;
	for (i = 0; i < M_MAX; i++) {
		rs->fd[i] = fcntl(in[i], F_DUPFD_CLOEXEC, 3);
		if (rs->fd[i] < 0)
			return rs_finish(rs, -errno, out);
	}
	return rs_finish(rs, 0, out);
}

__u32 rule_set_generation(struct rule_set *rs)
{
	return __atomic_load_n(&rs->ctl->gen, __ATOMIC_ACQUIRE);
}

static int rs_sync(struct rule_set *rs)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(rs->sync_outer, &zero, &rs->sync_inner, BPF_ANY))
		return -errno;
	return 0;
}

static int cmp_slot_id(const void *a, const void *b)
{
	const struct slot_id *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* Sorted (id, slot) of the valid rules of @half. */
static int half_index(struct rule_set *rs, __u32 half, struct slot_id **out, size_t *n)
{
	const struct rule_comp *c = rs->comp + (size_t)half * RULE_SLOTS;
	struct slot_id *v;
	size_t k = 0;
	__u32 s;

	v = malloc(sizeof(*v) * RULE_SLOTS);
	if (!v)
		return -ENOMEM;
	for (s = 0; s < RULE_SLOTS; s++)
		if (c[s].flags & RULE_C_VALID)
			v[k++] = (struct slot_id){ .id = c[s].id, .slot = s };
	qsort(v, k, sizeof(*v), cmp_slot_id);
	*out = v;
	*n = k;
	return 0;
}

static long index_find(const struct slot_id *v, size_t n, __u32 id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].id == id)
			return v[mid].slot;
		if (v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The id -> slot index of the active half, rebuilt when the generation moved. */
static int index_refresh(struct rule_set *rs, __u32 *gen)
{
	int err;

	*gen = rule_set_generation(rs);
	if (rs->index_valid && rs->index_gen == *gen)
		return 0;
	free(rs->index);
	rs->index = NULL;
	rs->index_valid = false;
	err = half_index(rs, *gen & 1, &rs->index, &rs->n_index);
	if (err)
		return err;
	rs->index_gen = *gen;
	rs->index_valid = true;
	return 0;
}

static void sum_cpus(const struct rule_counter *per, int ncpu, struct rule_counters *out)
{
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ncpu; i++) {
		out->packets += per[i].packets;
		out->bytes += per[i].bytes;
		if (per[i].last_hit_ns > out->last_hit_ns)
			out->last_hit_ns = per[i].last_hit_ns;
	}
}

static int counters_locked(struct rule_set *rs, __u32 rule_id, struct rule_counters *out)
{
	struct rule_counter *per;
	__u32 gen, slot;
	long s;
	int err;

	memset(out, 0, sizeof(*out));
	err = index_refresh(rs, &gen);
	if (err)
		return err;
	s = gen ? index_find(rs->index, rs->n_index, rule_id) : -1;
	if (s < 0)
		return -ENOENT;
	slot = (__u32)s;
	per = calloc(rs->ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(rs->fd[M_COUNTERS], &slot, per)) {
		err = -errno;
		free(per);
		return err;
	}
	sum_cpus(per, rs->ncpu, out);
	free(per);
	return 0;
}

int rule_set_counters(struct rule_set *rs, __u32 rule_id, struct rule_counters *out)
{
	int err;

	pthread_mutex_lock(&rs->lock);
	err = counters_locked(rs, rule_id, out);
	pthread_mutex_unlock(&rs->lock);
	return err;
}

static int counters_many_locked(struct rule_set *rs, const __u32 *ids, size_t n,
				struct rule_counters *out, bool *have)
{
	struct rule_counter *all = NULL;
	__u32 *keys = NULL, gen, done = 0, batch = 0;
	size_t i;
	int err;

	/* Few ids: one lookup each is cheaper than reading the whole map. */
	if (n < 64) {
		for (i = 0; i < n; i++) {
			err = counters_locked(rs, ids[i], &out[i]);
			if (err && err != -ENOENT)
				return err;
			if (have)
				have[i] = !err;
		}
		return 0;
	}
	err = index_refresh(rs, &gen);
	if (err)
		return err;
	all = calloc((size_t)RULE_SLOTS * rs->ncpu, sizeof(*all));
	keys = calloc(RULE_SLOTS, sizeof(*keys));
	if (!all || !keys) {
		err = -ENOMEM;
		goto out;
	}
	/* Array keys come in order: element k of the result is slot k. */
	while (done < RULE_SLOTS) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 next, cnt = RULE_SLOTS - done;
		int rc;

		/* in_batch is the last key of the previous batch (out_batch). */
		rc = bpf_map_lookup_batch(rs->fd[M_COUNTERS], done ? &batch : NULL, &next,
					  keys + done, all + (size_t)done * rs->ncpu, &cnt, &bo);
		if (rc && errno != ENOENT) {
			err = -errno;
			goto out;
		}
		done += cnt;
		batch = next;
		if (rc || !cnt)
			break;
	}
	for (i = 0; i < n; i++) {
		long s = gen ? index_find(rs->index, rs->n_index, ids[i]) : -1;

		if (s < 0 || (__u32)s >= done) {
			memset(&out[i], 0, sizeof(out[i]));
			if (have)
				have[i] = false;
			continue;
		}
		sum_cpus(all + (size_t)s * rs->ncpu, rs->ncpu, &out[i]);
		if (have)
			have[i] = true;
	}
	err = 0;
out:
	free(all);
	free(keys);
	return err;
}

int rule_set_counters_many(struct rule_set *rs, const __u32 *ids, size_t n,
			   struct rule_counters *out, bool *have)
{
	int err;

	pthread_mutex_lock(&rs->lock);
	err = counters_many_locked(rs, ids, n, out, have);
	pthread_mutex_unlock(&rs->lock);
	return err;
}

/* ---- compilation ---- */

struct shape_def {
	__u8 src_plen, dst_plen, family, kflags;
};

struct crule {
	const struct rule *r;
	__u32 rank;
	__u32 slot;
	int shape; /* index into the unsorted shape table, then the sorted one */
};

/* One entry of rule_match for one rule (a rule has one per port bucket). */
struct mentry {
	struct rule_match_key key;
	__u32 rank;
	__u32 slot;
	__u32 id;
};

/* How a port condition enters the key: RULE_K_<x>PORT, _BKT or nothing. */
static __u8 port_kflag(const struct rule_ports *p, __u8 exact, __u8 bkt)
{
	if (p->lo == 0 && p->hi == 0)
		return 0;
	if (p->lo == p->hi)
		return exact;
	if ((p->hi >> RULE_PORT_BKT_SHIFT) - (p->lo >> RULE_PORT_BKT_SHIFT) + 1 <=
	    RULE_PORT_BKT_MAX)
		return bkt;
	return 0;
}

/* First and last key value of a port condition under @kflags. */
static void port_keys(const struct rule_ports *p, __u8 kf, __u8 exact, __u8 bkt, __u32 *lo,
		      __u32 *hi)
{
	if (kf & exact) {
		*lo = *hi = p->lo;
	} else if (kf & bkt) {
		*lo = p->lo >> RULE_PORT_BKT_SHIFT;
		*hi = p->hi >> RULE_PORT_BKT_SHIFT;
	} else {
		*lo = *hi = 0;
	}
}

static void plen_mask(__u8 plen, __u32 *mask)
{
	int i;

	for (i = 0; i < 4; i++) {
		int bits = (int)plen - 32 * i;
		__u32 m;

		if (bits >= 32)
			m = 0xffffffffu;
		else if (bits <= 0)
			m = 0;
		else
			m = 0xffffffffu << (32 - bits);
		mask[i] = htobe32(m);
	}
}

static bool ports_single(const struct rule_ports *p)
{
	return p->lo == p->hi && p->lo != 0;
}

static bool ports_any(const struct rule_ports *p)
{
	return p->lo == 0 && p->hi == 0;
}

static bool addr_any(const struct net_prefix *a)
{
	return a->family == 0;
}

static int cmp_rule_ptr(const void *a, const void *b)
{
	return rule_cmp(*(const struct rule *const *)a, *(const struct rule *const *)b);
}

static int cmp_mentry(const void *a, const void *b)
{
	const struct mentry *x = a, *y = b;
	int c = memcmp(&x->key, &y->key, sizeof(x->key));

	if (c)
		return c;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

static void compile_comp(const struct crule *cr, struct rule_comp *c)
{
	const struct rule *r = cr->r;

	memset(c, 0, sizeof(*c));
	c->id = r->id;
	c->rank = cr->rank;
	c->flags = RULE_C_VALID;
	c->action = r->action == RULE_ACTION_DROP ? GUARDER_VERDICT_DROP : GUARDER_VERDICT_PASS;
	if (!ports_any(&r->sport) && !ports_single(&r->sport)) {
		c->flags |= RULE_C_SPORT;
		c->sport_lo = r->sport.lo;
		c->sport_hi = r->sport.hi;
	}
	if (!ports_any(&r->dport) && !ports_single(&r->dport)) {
		c->flags |= RULE_C_DPORT;
		c->dport_lo = r->dport.lo;
		c->dport_hi = r->dport.hi;
	}
	if (r->tcp_flags_mask) {
		c->flags |= RULE_C_TCP_FLAGS;
		c->tcp_flags = r->tcp_flags & r->tcp_flags_mask;
		c->tcp_mask = r->tcp_flags_mask;
	}
	if (r->icmp_type != RULE_ICMP_ANY) {
		c->flags |= RULE_C_ICMP_TYPE;
		c->icmp_type = r->icmp_type;
	}
	if (r->icmp_code != RULE_ICMP_ANY) {
		c->flags |= RULE_C_ICMP_CODE;
		c->icmp_code = r->icmp_code;
	}
	if (!addr_any(&r->inner_src) || !addr_any(&r->inner_dst) ||
	    r->inner_protocol != RULE_PROTO_ANY || !ports_any(&r->inner_sport) ||
	    !ports_any(&r->inner_dport)) {
		int i;

		c->flags |= RULE_C_INNER;
		c->inner_proto = r->inner_protocol;
		if (!addr_any(&r->inner_src)) {
			plen_mask(r->inner_src.prefix, c->isrc_mask);
			for (i = 0; i < 4; i++)
				c->isrc[i] = r->inner_src.addr[i] & c->isrc_mask[i];
		}
		if (!addr_any(&r->inner_dst)) {
			plen_mask(r->inner_dst.prefix, c->idst_mask);
			for (i = 0; i < 4; i++)
				c->idst[i] = r->inner_dst.addr[i] & c->idst_mask[i];
		}
		if (!ports_any(&r->inner_sport)) {
			c->flags |= RULE_C_ISPORT;
			c->isport_lo = r->inner_sport.lo;
			c->isport_hi = r->inner_sport.hi;
		}
		if (!ports_any(&r->inner_dport)) {
			c->flags |= RULE_C_IDPORT;
			c->idport_lo = r->inner_dport.lo;
			c->idport_hi = r->inner_dport.hi;
		}
	}
}

/* Remove every key of @half from the hash rule_match; returns 0 or -errno. */
static int match_clear_half(struct rule_set *rs, __u32 half)
{
	const __u32 chunk = 4096;
	struct rule_match_key *keys = NULL, *del = NULL;
	struct rule_match_val *vals = NULL;
	struct rule_match_key in_b, out_b;
	void *in = NULL;
	size_t ndel = 0, cap = RULE_MATCH_ENTRIES;
	int err = 0;

	keys = malloc(sizeof(*keys) * chunk);
	vals = malloc(sizeof(*vals) * chunk);
	del = malloc(sizeof(*del) * cap);
	if (!keys || !vals || !del) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 cnt = chunk, i;
		int rc;

		rc = bpf_map_lookup_batch(rs->fd[M_MATCH], in, &out_b, keys, vals, &cnt, &bo);
		if (rc && errno != ENOENT) {
			err = -errno;
			goto out;
		}
		for (i = 0; i < cnt && ndel < cap; i++)
			if (keys[i].half == half)
				del[ndel++] = keys[i];
		if (rc)
			break; /* ENOENT: that was the last batch */
		in_b = out_b;
		in = &in_b;
	}
	if (ndel) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 cnt = ndel;

		if (bpf_map_delete_batch(rs->fd[M_MATCH], del, &cnt, &bo))
			err = -errno;
	}
out:
	free(keys);
	free(vals);
	free(del);
	return err;
}

static int pnets_clear_half(struct rule_set *rs, __u32 half)
{
	struct rule_protect_key k, next, del[RULE_PROTECT_NETS_MAX * 2];
	size_t n = 0, i;
	void *prev = NULL;

	while (!bpf_map_get_next_key(rs->fd[M_PNETS], prev, &next)) {
		if (next.half == half && n < sizeof(del) / sizeof(del[0]))
			del[n++] = next;
		k = next;
		prev = &k;
	}
	if (errno != ENOENT)
		return -errno;
	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(rs->fd[M_PNETS], &del[i]) && errno != ENOENT)
			return -errno;
	return 0;
}

static int write_protect(struct rule_set *rs, __u32 half, const struct rule_protect *p,
			 __u32 *flags, char *err, size_t errlen)
{
	__u64 *bits = rs->pports + (size_t)half * RULE_PROTECT_PORT_WORDS;
	size_t i;
	int rc;

	rc = pnets_clear_half(rs, half);
	if (rc) {
		set_err(err, errlen, "protected networks: %s", strerror(-rc));
		return rc;
	}
	memset(bits, 0, sizeof(__u64) * RULE_PROTECT_PORT_WORDS);
	if (!p)
		return 0;
	if (p->n_nets > RULE_PROTECT_NETS_MAX) {
		set_err(err, errlen, "protected networks: %zu, at most %d", p->n_nets,
			RULE_PROTECT_NETS_MAX);
		return -E2BIG;
	}
	for (i = 0; i < p->n_nets; i++) {
		const struct net_prefix *a = &p->nets[i];
		struct rule_protect_key k;
		__u32 mask[4];
		__u8 one = 1;
		int j;

		memset(&k, 0, sizeof(k));
		k.half = half;
		/* "any" protects everything: prefix 0 of the address space. */
		k.prefixlen = 8 + (a->family ? a->prefix : 0);
		plen_mask(a->family ? a->prefix : 0, mask);
		for (j = 0; j < 4; j++) {
			__u32 w = a->addr[j] & mask[j];

			memcpy(k.addr + 4 * j, &w, 4);
		}
		if (bpf_map_update_elem(rs->fd[M_PNETS], &k, &one, BPF_ANY)) {
			rc = -errno;
			set_err(err, errlen, "protected networks: %s", strerror(-rc));
			return rc;
		}
		*flags |= RULE_SS_PROTECT_NETS;
	}
	for (i = 0; i < p->n_ports; i++) {
		__u16 port = p->ports[i];

		bits[port >> 6] |= 1ull << (port & 63);
		*flags |= RULE_SS_PROTECT_PORTS;
	}
	return 0;
}

static int zero_counters(struct rule_set *rs, __u32 slot)
{
	struct rule_counter *z = calloc(rs->ncpu, sizeof(*z));
	int err = 0;

	if (!z)
		return -ENOMEM;
	if (bpf_map_update_elem(rs->fd[M_COUNTERS], &slot, z, BPF_ANY))
		err = -errno;
	free(z);
	return err;
}

static int apply_locked(struct rule_set *rs, const struct rule *rules, size_t n,
			const struct rule_protect *protect, __u64 now, char *err, size_t errlen)
{
	const struct rule **act = NULL;
	struct crule *cr = NULL;
	struct slot_id *cur_idx = NULL;
	size_t n_cur = 0, na = 0, i, j;
	struct shape_def shapes[RULE_SHAPES_MAX];
	__u32 shape_best[RULE_SHAPES_MAX];
	int shape_order[RULE_SHAPES_MAX], shape_pos[RULE_SHAPES_MAX], nshapes = 0;
	unsigned char *used = NULL;
	struct rule_match_key *mkeys = NULL;
	struct rule_match_val *mvals = NULL;
	struct rule_shape_set *ss;
	struct rule_comp *half_comp;
	struct mentry *me = NULL;
	size_t nme = 0, max_me = RULE_MATCH_ENTRIES / 2;
	__u32 gen, cur, nh, next_free = 0, flags = 0, nkeys = 0;
	char why[RULE_ERR_LEN];
	int rc;

	/* 1. Nobody may still be reading the half we are about to write. */
	rc = rs_sync(rs);
	if (rc) {
		set_err(err, errlen, "waiting for in-flight packets: %s", strerror(-rc));
		return rc;
	}
	gen = rule_set_generation(rs);
	cur = gen & 1;
	nh = cur ^ 1;

	/* 2. The active rules, in evaluation order. */
	act = calloc(n ? n : 1, sizeof(*act));
	if (!act) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (rule_validate(&rules[i], why, sizeof(why))) {
			set_err(err, errlen, "rule %u: %s", rules[i].id, why);
			rc = -EINVAL;
			goto out;
		}
		if (rule_is_active(&rules[i], now))
			act[na++] = &rules[i];
	}
	if (na > RULE_SET_MAX_RULES) {
		set_err(err, errlen, "%zu active rules, at most %d", na, RULE_SET_MAX_RULES);
		rc = -E2BIG;
		goto out;
	}
	qsort(act, na, sizeof(*act), cmp_rule_ptr);
	for (i = 1; i < na; i++)
		if (act[i]->id == act[i - 1]->id) {
			set_err(err, errlen, "rule id %u appears twice", act[i]->id);
			rc = -EINVAL;
			goto out;
		}

	/* Slots: an id keeps its slot; new ids take slots the active half leaves free. */
	rc = half_index(rs, cur, &cur_idx, &n_cur);
	if (rc)
		goto out;
	if (!gen)
		n_cur = 0; /* never applied: half 0 is all zero anyway */
	used = calloc(RULE_SLOTS, 1);
	cr = calloc(na ? na : 1, sizeof(*cr));
	if (!used || !cr) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n_cur; i++)
		used[cur_idx[i].slot] = 1; /* 1: used by the active half */
	for (i = 0; i < na; i++) {
		long s = index_find(cur_idx, n_cur, act[i]->id);

		cr[i].r = act[i];
		cr[i].rank = i;
		if (s >= 0) {
			cr[i].slot = s;
			continue;
		}
		while (next_free < RULE_SLOTS && used[next_free])
			next_free++;
		if (next_free >= RULE_SLOTS) {
			set_err(err, errlen, "no free rule slot (%d in all)", RULE_SLOTS);
			rc = -E2BIG;
			goto out;
		}
		cr[i].slot = next_free;
		used[next_free] = 2; /* 2: newly used, counters to zero */
	}

	/* Shapes. */
	for (i = 0; i < na; i++) {
		const struct rule *r = cr[i].r;
		struct shape_def sd = {
			.src_plen = addr_any(&r->src) ? 0 : r->src.prefix,
			.dst_plen = addr_any(&r->dst) ? 0 : r->dst.prefix,
			.family = r->src.family ? r->src.family : r->dst.family,
			.kflags = (r->protocol != RULE_PROTO_ANY ? RULE_K_PROTO : 0) |
				  port_kflag(&r->sport, RULE_K_SPORT, RULE_K_SPORT_BKT) |
				  port_kflag(&r->dport, RULE_K_DPORT, RULE_K_DPORT_BKT) |
				  (r->icmp_type != RULE_ICMP_ANY ? RULE_K_ICMP_TYPE : 0),
		};
		int s;

		for (s = 0; s < nshapes; s++)
			if (!memcmp(&shapes[s], &sd, sizeof(sd)))
				break;
		if (s == nshapes) {
			if (nshapes == RULE_SHAPES_MAX) {
				set_err(err, errlen,
					"rule %u: more than %d distinct rule shapes (combinations "
					"of address prefix lengths, family, protocol given, single "
					"ports given)",
					r->id, RULE_SHAPES_MAX);
				rc = -E2BIG;
				goto out;
			}
			shapes[s] = sd;
			shape_best[s] = cr[i].rank; /* ranks ascend: the first is the best */
			nshapes++;
		}
		cr[i].shape = s;
	}
	/* Visit order: by best rank (already the order of first appearance). */
	for (i = 0; i < (size_t)nshapes; i++) {
		shape_order[i] = i;
		shape_pos[i] = i;
	}

	/* 3. Write the inactive half. */
	ss = &rs->shapes[nh];
	memset(ss, 0, sizeof(*ss));
	for (i = 0; i < (size_t)nshapes; i++) {
		struct rule_shape *sh = &ss->shapes[i];
		const struct shape_def *sd = &shapes[shape_order[i]];

		plen_mask(sd->src_plen, sh->src_mask);
		plen_mask(sd->dst_plen, sh->dst_mask);
		sh->best_rank = shape_best[shape_order[i]];
		sh->family = sd->family;
		sh->kflags = sd->kflags;
	}
	half_comp = rs->comp + (size_t)nh * RULE_SLOTS;
	memset(half_comp, 0, sizeof(*half_comp) * RULE_SLOTS);
	me = calloc(max_me, sizeof(*me));
	if (!me) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < na; i++) {
		const struct rule *r = cr[i].r;
		const struct rule_shape *sh;
		struct rule_match_key k;
		__u32 slo, shi, dlo, dhi, sp, dp;

		cr[i].shape = shape_pos[cr[i].shape];
		sh = &ss->shapes[cr[i].shape];
		compile_comp(&cr[i], &half_comp[cr[i].slot]);
		memset(&k, 0, sizeof(k));
		for (j = 0; j < 4; j++) {
			k.src[j] = r->src.addr[j] & sh->src_mask[j];
			k.dst[j] = r->dst.addr[j] & sh->dst_mask[j];
		}
		k.proto = (sh->kflags & RULE_K_PROTO) ? r->protocol : 0;
		k.shape = cr[i].shape;
		k.half = nh;
		port_keys(&r->sport, sh->kflags, RULE_K_SPORT, RULE_K_SPORT_BKT, &slo, &shi);
		port_keys(&r->dport, sh->kflags, RULE_K_DPORT, RULE_K_DPORT_BKT, &dlo, &dhi);
		if (sh->kflags & RULE_K_ICMP_TYPE)
			slo = shi = r->icmp_type; /* ICMP rules have no ports */
		for (sp = slo; sp <= shi; sp++) {
			for (dp = dlo; dp <= dhi; dp++) {
				if (nme == max_me) {
					set_err(err, errlen,
						"rule %u: the rule table is full (%zu entries; port "
						"ranges take one per 256 ports they span)",
						r->id, max_me);
					rc = -E2BIG;
					goto out;
				}
				k.sport = sp;
				k.dport = dp;
				me[nme].key = k;
				me[nme].rank = cr[i].rank;
				me[nme].slot = cr[i].slot;
				me[nme].id = r->id;
				nme++;
			}
		}
	}
	/* Candidate lists: rules sharing a key, in rank order. */
	qsort(me, nme, sizeof(*me), cmp_mentry);
	mkeys = calloc(nme ? nme : 1, sizeof(*mkeys));
	mvals = calloc(nme ? nme : 1, sizeof(*mvals));
	if (!mkeys || !mvals) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nme; i++) {
		struct rule_match_val *v;

		if (i == 0 || memcmp(&me[i].key, &me[i - 1].key, sizeof(me[i].key))) {
			mkeys[nkeys] = me[i].key;
			memset(&mvals[nkeys], 0, sizeof(mvals[nkeys]));
			nkeys++;
		}
		v = &mvals[nkeys - 1];
		if (v->n == RULE_CAND_MAX) {
			set_err(err, errlen,
				"rule %u: more than %d rules share the same addresses, protocol and "
				"ports (they differ only in wide port ranges, TCP flags or ICMP "
				"fields)",
				me[i].id, RULE_CAND_MAX);
			rc = -E2BIG;
			goto out;
		}
		v->slot[v->n++] = me[i].slot;
	}
	rc = match_clear_half(rs, nh);
	if (rc) {
		set_err(err, errlen, "clearing the inactive rule table: %s", strerror(-rc));
		goto out;
	}
	if (nkeys) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 cnt = nkeys;

		if (bpf_map_update_batch(rs->fd[M_MATCH], mkeys, mvals, &cnt, &bo)) {
			rc = -errno;
			set_err(err, errlen, "writing the rule table: %s", strerror(-rc));
			goto out;
		}
	}
	rc = write_protect(rs, nh, protect, &flags, err, errlen);
	if (rc)
		goto out;
	for (i = 0; i < RULE_SLOTS; i++) {
		if (used[i] != 2)
			continue;
		rc = zero_counters(rs, i);
		if (rc) {
			set_err(err, errlen, "zeroing rule counters: %s", strerror(-rc));
			goto out;
		}
	}
	ss->n_shapes = nshapes;
	ss->flags = flags;
	ss->n_rules = na;

	/* 4. The flip: from the next packet on, the new half. */
	__atomic_store_n(&rs->ctl->gen, gen + 1, __ATOMIC_SEQ_CST);
	rc = 0;
out:
	free(act);
	free(cr);
	free(cur_idx);
	free(used);
	free(mkeys);
	free(mvals);
	free(me);
	return rc;
}

int rule_set_apply(struct rule_set *rs, const struct rule *rules, size_t n,
		   const struct rule_protect *protect, __u64 now, char *err, size_t errlen)
{
	int rc;

	if (err && errlen)
		err[0] = '\0';
	pthread_mutex_lock(&rs->lock);
	if (rs->lock_fd >= 0 && flock(rs->lock_fd, LOCK_EX)) {
		rc = -errno;
		set_err(err, errlen, "rule lock: %s", strerror(-rc));
		pthread_mutex_unlock(&rs->lock);
		return rc;
	}
	rc = apply_locked(rs, rules, n, protect, now, err, errlen);
	if (rs->lock_fd >= 0)
		flock(rs->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&rs->lock);
	return rc;
}

int rule_protect_from_config(const struct guarder_config *cfg, struct rule_protect *out)
{
	struct net_prefix *nets = NULL;
	__u16 *ports = NULL;
	unsigned char *seen = NULL;
	size_t i, n = 0;
	unsigned int p;

	memset(out, 0, sizeof(*out));
	nets = calloc(cfg->rules.n_protected_networks + 1, sizeof(*nets));
	seen = calloc(65536, 1);
	ports = calloc(65536, sizeof(*ports));
	if (!nets || !seen || !ports) {
		free(nets);
		free(seen);
		free(ports);
		return -ENOMEM;
	}
	memcpy(nets, cfg->rules.protected_networks,
	       cfg->rules.n_protected_networks * sizeof(*nets));
	for (i = 0; i < cfg->rules.n_protected_ports; i++)
		for (p = cfg->rules.protected_ports[i].first;
		     p <= cfg->rules.protected_ports[i].last && p < 65536; p++)
			if (!seen[p]) {
				seen[p] = 1;
				ports[n++] = p;
			}
	free(seen);
	out->nets = nets;
	out->n_nets = cfg->rules.n_protected_networks;
	out->ports = ports;
	out->n_ports = n;
	return 0;
}

void rule_protect_free(struct rule_protect *p)
{
	if (!p)
		return;
	free((void *)p->nets);
	free((void *)p->ports);
	memset(p, 0, sizeof(*p));
}

int rule_set_restore_file(const struct guarder_config *cfg)
{
	struct rule_protect prot;
	struct rule_set *rs = NULL;
	struct rule *rules = NULL;
	char err[512];
	size_t n = 0;
	__u32 next_id = 0;
	int rc;

	rc = rules_file_load(cfg->rules.file, cfg->rules.max_rules, &rules, &n, &next_id, err,
			     sizeof(err));
	if (rc) {
		/* rules_file_load() logged the reason. */
		log_error("refusing to run without the filter rules of %s: fix the file (or "
			  "remove it to start with no rules)",
			  cfg->rules.file);
		return rc;
	}
	rc = rule_protect_from_config(cfg, &prot);
	if (rc) {
		free(rules);
		return rc;
	}
	rc = rule_set_open(cfg->bpf.pin_path, &rs);
	if (rc) {
		log_error("cannot open the rule maps under %s: %s", cfg->bpf.pin_path,
			  strerror(-rc));
		goto out;
	}
	rc = rule_set_apply(rs, rules, n, &prot, (__u64)time(NULL), err, sizeof(err));
	if (rc) {
		log_error("cannot apply the rules of %s: %s", cfg->rules.file, err);
		goto out;
	}
	log_info("filter: %zu rules from %s applied (generation %u), %zu protected networks, "
		 "%zu protected ports",
		 n, cfg->rules.file, rule_set_generation(rs), prot.n_nets, prot.n_ports);
out:
	rule_set_close(rs);
	rule_protect_free(&prot);
	free(rules);
	return rc;
}
