// SPDX-License-Identifier: GPL-2.0
/*
 * The rule maps of the kernel program (see rule_set.h): open them, write
 * an image compiled by rule_compile.c into the inactive half and flip the
 * generation, read the per-rule counters.
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
#include "bpf_sync.h"
#include "lock_dir.h"
#include "log.h"
#include "errmsg.h"
#include "rule_compile.h"
#include "rules_file.h"

enum { M_CTL, M_SHAPES, M_MATCH, M_COMP, M_COUNTERS, M_PNETS, M_PPORTS, M_MAX };

static const char *const map_names[M_MAX] = {
	GUARDER_MAP_RULE_CTL,		GUARDER_MAP_RULE_SHAPES,   GUARDER_MAP_RULE_MATCH,
	GUARDER_MAP_RULE_COMP,		GUARDER_MAP_RULE_COUNTERS, GUARDER_MAP_RULE_PROTECT_NETS,
	GUARDER_MAP_RULE_PROTECT_PORTS,
};

struct rule_set {
	int fd[M_MAX];
	int lock_fd; /* flock'ed directory, -1 without pins */
	struct bpf_sync sync; /* waits for the packets in flight */
	int ncpu;
	struct rule_ctl *ctl; /* mmap of rule_ctl */
	struct rule_shape_set *shapes; /* mmap of rule_shapes, 2 elements */
	struct rule_comp *comp; /* mmap of rule_comp, 2 * RULE_SLOTS */
	__u64 *pports; /* mmap of rule_protect_ports */
	size_t len_ctl, len_shapes, len_comp, len_pports;
	/* id -> slot of the active half, rebuilt when the generation moved */
	struct rule_slot *index;
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
	bpf_sync_close(&rs->sync);
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
	return bpf_sync_open(&rs->sync, "rs");
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
	rs->sync.outer = -1;
	rs->sync.inner = -1;
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
	rs->lock_fd = lock_dir_open(path, 0700, "rule lock");
	return rs->lock_fd < 0 ? rs->lock_fd : 0;
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

static int cmp_slot_id(const void *a, const void *b)
{
	const struct rule_slot *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* Sorted (id, slot) of the valid rules of @half. */
static int half_index(struct rule_set *rs, __u32 half, struct rule_slot **out, size_t *n)
{
	const struct rule_comp *c = rs->comp + (size_t)half * RULE_SLOTS;
	struct rule_slot *v;
	size_t k = 0;
	__u32 s;

	v = malloc(sizeof(*v) * RULE_SLOTS);
	if (!v)
		return -ENOMEM;
	for (s = 0; s < RULE_SLOTS; s++)
		if (c[s].flags & RULE_C_VALID)
			v[k++] = (struct rule_slot){ .id = c[s].id, .slot = s };
	qsort(v, k, sizeof(*v), cmp_slot_id);
	*out = v;
	*n = k;
	return 0;
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
	s = gen ? rule_slot_find(rs->index, rs->n_index, rule_id) : -1;
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
		long s = gen ? rule_slot_find(rs->index, rs->n_index, ids[i]) : -1;

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

/* ---- writing a compiled half ---- */

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

/*
 * write_half - put the image @c into half @h of the maps: conditions,
 * shapes, protected ports and the expiry through mmap, rule_match and the
 * protected networks with syscalls, the counters of new slots zeroed.
 * The half is not live yet: the flip comes after.
 */
static int write_half(struct rule_set *rs, __u32 h, const struct rule_compiled *c, char *err,
		      size_t errlen)
{
	struct rule_comp *comp = rs->comp + (size_t)h * RULE_SLOTS;
	size_t i;
	__u8 one = 1;
	int rc;

	memset(comp, 0, sizeof(*comp) * RULE_SLOTS);
	for (i = 0; i < c->shapes.n_rules; i++)
		comp[c->comps[i].slot] = c->comps[i].comp;
	rs->shapes[h] = c->shapes;
	rc = match_clear_half(rs, h);
	if (rc) {
		errmsg_set(err, errlen, 0, "clearing the inactive rule table: %s", strerror(-rc));
		return rc;
	}
	if (c->n_keys) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 cnt = c->n_keys;

		if (bpf_map_update_batch(rs->fd[M_MATCH], c->keys, c->vals, &cnt, &bo)) {
			rc = -errno;
			errmsg_set(err, errlen, 0, "writing the rule table: %s", strerror(-rc));
			return rc;
		}
	}
	rc = pnets_clear_half(rs, h);
	for (i = 0; !rc && i < c->n_pnets; i++)
		if (bpf_map_update_elem(rs->fd[M_PNETS], &c->pnets[i], &one, BPF_ANY))
			rc = -errno;
	if (rc) {
		errmsg_set(err, errlen, 0, "protected networks: %s", strerror(-rc));
		return rc;
	}
	memcpy(rs->pports + (size_t)h * RULE_PROTECT_PORT_WORDS, c->pports, sizeof(c->pports));
	for (i = 0; i < c->n_new_slots; i++) {
		rc = zero_counters(rs, c->new_slots[i]);
		if (rc) {
			errmsg_set(err, errlen, 0, "zeroing rule counters: %s", strerror(-rc));
			return rc;
		}
	}
	rs->ctl->expiry_ns[h] = c->expiry_ns;
	return 0;
}

/* CLOCK_MONOTONIC - CLOCK_REALTIME now, in ns: the kernel's clock for expiries. */
static __s64 mono_minus_wall_ns(void)
{
	struct timespec m, w;

	clock_gettime(CLOCK_REALTIME, &w);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((__s64)m.tv_sec - w.tv_sec) * 1000000000LL + ((__s64)m.tv_nsec - w.tv_nsec);
}

/*
 * apply_locked - the apply under the locks:
 *  1. wait one RCU grace period, so no packet still uses the inactive
 *     half (it was the active one before the last flip);
 *  2. compile (rule_compile.c) against the active half's slots;
 *  3. write the inactive half;
 *  4. flip: one atomic store of gen + 1.
 * Any error before 4 leaves the active half, hence the kernel's set,
 * untouched.
 */
static int apply_locked(struct rule_set *rs, const struct rule *rules, size_t n,
			const struct rule_protect *protect, __u64 now, char *err, size_t errlen)
{
	struct rule_compile_in in = {
		.rules = rules,
		.n = n,
		.protect = protect,
		.now = now,
		.mono_minus_wall_ns = mono_minus_wall_ns(),
	};
	struct rule_compiled c;
	struct rule_slot *active = NULL;
	__u32 gen;
	int rc;

	rc = bpf_sync_wait(&rs->sync);
	if (rc) {
		errmsg_set(err, errlen, 0, "waiting for in-flight packets: %s", strerror(-rc));
		return rc;
	}
	gen = rule_set_generation(rs);
	if (gen) {
		rc = half_index(rs, gen & 1, &active, &in.n_active);
		if (rc) {
			errmsg_set(err, errlen, 0, "reading the active rule set: %s", strerror(-rc));
			return rc;
		}
	}
	in.active = active;
	in.half = (gen & 1) ^ 1;
	rc = rule_compile(&in, &c, err, errlen);
	free(active);
	if (rc)
		return rc;
	rc = write_half(rs, in.half, &c, err, errlen);
	rule_compiled_free(&c);
	if (rc)
		return rc;
	__atomic_store_n(&rs->ctl->gen, gen + 1, __ATOMIC_SEQ_CST);
	return 0;
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
		errmsg_set(err, errlen, 0, "rule lock: %s", strerror(-rc));
		pthread_mutex_unlock(&rs->lock);
		return rc;
	}
	rc = apply_locked(rs, rules, n, protect, now, err, errlen);
	if (rs->lock_fd >= 0)
		flock(rs->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&rs->lock);
	return rc;
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
