// SPDX-License-Identifier: GPL-2.0
/*
 * The rule-set compiler (see rule_compile.h): rules in, the image of one
 * half of the rule maps out. Steps, one function each:
 *  1. active rules, sorted by (priority, id): their index is their rank;
 *  2. slots: an id keeps its slot in the active half, a new id takes a
 *     slot the active half does not use;
 *  3. shapes: (prefix lengths, family, which of protocol/ports/ICMP type
 *     the key holds), visited by their best rank;
 *  4. compiled conditions and match entries (one per port bucket);
 *  5. candidate lists: the rules of one key in rank order;
 *  6. protected networks and ports.
 */
#include "rule_compile.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errmsg.h"
#include "kernel/conn_tracker.h"

/* A rule being compiled. */
struct crule {
	const struct rule *r;
	__u32 rank;
	__u32 slot;
	int shape;
};

/* What makes two rules share a shape (compared with memcmp: no padding). */
struct shape_def {
	__u8 src_plen;
	__u8 dst_plen;
	__u8 family;
	__u8 kflags;
};

/* One entry of rule_match for one rule (a rule has one per port bucket). */
struct mentry {
	struct rule_match_key key;
	__u32 rank;
	__u32 slot;
	__u32 id;
};

/* Everything the steps share. */
struct compiler {
	const struct rule_compile_in *in;
	struct rule_compiled *out;
	struct crule *cr;
	size_t n;
	struct shape_def shapes[RULE_SHAPES_MAX];
	int nshapes;
	struct mentry *me;
	size_t nme;
	char *err;
	size_t errlen;
};

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

/* How a port condition enters the key: RULE_K_<x>PORT, _BKT or nothing. */
static __u8 port_kflag(const struct rule_ports *p, __u8 exact, __u8 bkt)
{
	if (ports_any(p))
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

/* Does the rule read the L4 header or an ICMP error's quote? */
static bool rule_reads_l4(const struct rule *r)
{
	return !ports_any(&r->sport) || !ports_any(&r->dport) || r->tcp_flags_mask ||
	       r->icmp_type != RULE_ICMP_ANY || r->icmp_code != RULE_ICMP_ANY ||
	       !addr_any(&r->inner_src) || !addr_any(&r->inner_dst) ||
	       r->inner_protocol != RULE_PROTO_ANY || !ports_any(&r->inner_sport) ||
	       !ports_any(&r->inner_dport);
}

/* Does the rule name one source host outside the protected networks? */
static bool rule_names_src(const struct rule *r, const struct rule_protect *p)
{
	size_t i;

	if (addr_any(&r->src) || r->src.prefix != 128)
		return false;
	for (i = 0; p && i < p->n_nets; i++)
		if (p->nets[i].family == r->src.family && net_contains(&p->nets[i], r->src.addr))
			return false;
	return true;
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

long rule_slot_find(const struct rule_slot *v, size_t n, __u32 id)
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

/* 1. The active rules, validated, in evaluation order. */
/* Rule @id does not fit a limit of the kernel's tables: -E2BIG, "rule ID: why". */
static int too_big(struct compiler *c, __u32 id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int too_big(struct compiler *c, __u32 id, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return errmsg_set(c->err, c->errlen, -E2BIG, "rule %u: %s", id, why);
}

static int compile_active(struct compiler *c)
{
	const struct rule_compile_in *in = c->in;
	const struct rule **act;
	char why[RULE_ERR_LEN];
	size_t i, na = 0;
	int rc = 0;

	act = calloc(in->n ? in->n : 1, sizeof(*act));
	c->cr = calloc(in->n ? in->n : 1, sizeof(*c->cr));
	if (!act || !c->cr) {
		free(act);
		return errmsg_set(c->err, c->errlen, -ENOMEM, "out of memory");
	}
	for (i = 0; i < in->n; i++) {
		if (rule_validate(&in->rules[i], why, sizeof(why))) {
			rc = errmsg_set(c->err, c->errlen, -EINVAL, "rule %u: %s", in->rules[i].id,
					why);
			goto out;
		}
		if (rule_is_active(&in->rules[i], in->now))
			act[na++] = &in->rules[i];
	}
	if (na > RULE_SET_MAX_RULES) {
		rc = errmsg_set(c->err, c->errlen, -E2BIG, "%zu active rules, at most %d", na,
				RULE_SET_MAX_RULES);
		goto out;
	}
	qsort(act, na, sizeof(*act), cmp_rule_ptr);
	for (i = 0; i < na; i++) {
		if (i && act[i]->id == act[i - 1]->id) {
			rc = errmsg_set(c->err, c->errlen, -EINVAL, "rule id %u appears twice",
					act[i]->id);
			goto out;
		}
		c->cr[i].r = act[i];
		c->cr[i].rank = i;
	}
	c->n = na;
out:
	free(act);
	return rc;
}

/* 2. Slots: an id keeps its slot; new ids take slots the active half leaves free. */
static int compile_slots(struct compiler *c)
{
	const struct rule_compile_in *in = c->in;
	unsigned char *used;
	__u32 next_free = 0;
	size_t i;
	int rc = 0;

	used = calloc(RULE_SLOTS, 1);
	c->out->new_slots = calloc(c->n ? c->n : 1, sizeof(*c->out->new_slots));
	if (!used || !c->out->new_slots) {
		free(used);
		return errmsg_set(c->err, c->errlen, -ENOMEM, "out of memory");
	}
	for (i = 0; i < in->n_active; i++)
		if (in->active[i].slot < RULE_SLOTS)
			used[in->active[i].slot] = 1;
	for (i = 0; i < c->n; i++) {
		long s = rule_slot_find(in->active, in->n_active, c->cr[i].r->id);

		if (s >= 0) {
			c->cr[i].slot = s;
			continue;
		}
		while (next_free < RULE_SLOTS && used[next_free])
			next_free++;
		if (next_free >= RULE_SLOTS) {
			rc = errmsg_set(c->err, c->errlen, -E2BIG, "no free rule slot (%d in all)",
					RULE_SLOTS);
			break;
		}
		c->cr[i].slot = next_free;
		used[next_free] = 1;
		c->out->new_slots[c->out->n_new_slots++] = next_free;
	}
	free(used);
	return rc;
}

/* 3. Shapes, in order of first appearance, which is the order of best rank. */
static int compile_shapes(struct compiler *c)
{
	struct rule_shape_set *ss = &c->out->shapes;
	size_t i;
	int s;

	for (i = 0; i < c->n; i++) {
		const struct rule *r = c->cr[i].r;
		struct shape_def sd = {
			.src_plen = addr_any(&r->src) ? 0 : r->src.prefix,
			.dst_plen = addr_any(&r->dst) ? 0 : r->dst.prefix,
			.family = r->src.family ? r->src.family : r->dst.family,
			.kflags = (r->protocol != RULE_PROTO_ANY ? RULE_K_PROTO : 0) |
				  port_kflag(&r->sport, RULE_K_SPORT, RULE_K_SPORT_BKT) |
				  port_kflag(&r->dport, RULE_K_DPORT, RULE_K_DPORT_BKT) |
				  (r->icmp_type != RULE_ICMP_ANY ? RULE_K_ICMP_TYPE : 0),
		};

		for (s = 0; s < c->nshapes; s++)
			if (!memcmp(&c->shapes[s], &sd, sizeof(sd)))
				break;
		if (s == c->nshapes) {
			if (c->nshapes == RULE_SHAPES_MAX)
				return too_big(c, r->id,
					       "more than %d distinct rule shapes (combinations "
					       "of address prefix lengths, family, protocol given, "
					       "single ports given)",
					       RULE_SHAPES_MAX);
			c->shapes[s] = sd;
			plen_mask(sd.src_plen, ss->shapes[s].src_mask);
			plen_mask(sd.dst_plen, ss->shapes[s].dst_mask);
			/* ranks ascend: the shape's first rule is its best */
			ss->shapes[s].best_rank = c->cr[i].rank;
			ss->shapes[s].family = sd.family;
			ss->shapes[s].kflags = sd.kflags;
			c->nshapes++;
		}
		c->cr[i].shape = s;
	}
	ss->n_shapes = c->nshapes;
	return 0;
}

/*
 * The kernel's clock for a rule's expires_at (unix seconds); 0: never,
 * also for a time the kernel's 64-bit nanosecond clock cannot reach
 * (after 2262: guarder-api still removes the rule when it expires).
 */
static __u64 expiry_ns(const struct rule_compile_in *in, __u64 expires_at)
{
	__s64 ns;

	if (!expires_at || expires_at >= (__u64)INT64_MAX / 1000000000ULL - 1)
		return 0;
	ns = (__s64)(expires_at * 1000000000ULL) + in->mono_minus_wall_ns;
	return ns > 0 ? (__u64)ns : 1;
}

static void compile_inner(const struct rule *r, struct rule_comp *k)
{
	int i;

	k->flags |= RULE_C_INNER;
	k->inner_proto = r->inner_protocol;
	if (!addr_any(&r->inner_src)) {
		plen_mask(r->inner_src.prefix, k->isrc_mask);
		for (i = 0; i < 4; i++)
			k->isrc[i] = r->inner_src.addr[i] & k->isrc_mask[i];
	}
	if (!addr_any(&r->inner_dst)) {
		plen_mask(r->inner_dst.prefix, k->idst_mask);
		for (i = 0; i < 4; i++)
			k->idst[i] = r->inner_dst.addr[i] & k->idst_mask[i];
	}
	if (!ports_any(&r->inner_sport)) {
		k->flags |= RULE_C_ISPORT;
		k->isport_lo = r->inner_sport.lo;
		k->isport_hi = r->inner_sport.hi;
	}
	if (!ports_any(&r->inner_dport)) {
		k->flags |= RULE_C_IDPORT;
		k->idport_lo = r->inner_dport.lo;
		k->idport_hi = r->inner_dport.hi;
	}
}

/* The conditions the kernel checks once a rule's key matched. */
static void compile_comp(struct compiler *c, const struct crule *cr, struct rule_comp *k)
{
	const struct rule *r = cr->r;

	memset(k, 0, sizeof(*k));
	k->id = r->id;
	k->rank = cr->rank;
	k->expires_ns = expiry_ns(c->in, r->expires_at);
	k->flags = RULE_C_VALID;
	k->action = r->action == RULE_ACTION_DROP ? GUARDER_VERDICT_DROP : GUARDER_VERDICT_PASS;
	if (!ports_any(&r->sport) && !ports_single(&r->sport)) {
		k->flags |= RULE_C_SPORT;
		k->sport_lo = r->sport.lo;
		k->sport_hi = r->sport.hi;
	}
	if (!ports_any(&r->dport) && !ports_single(&r->dport)) {
		k->flags |= RULE_C_DPORT;
		k->dport_lo = r->dport.lo;
		k->dport_hi = r->dport.hi;
	}
	if (r->tcp_flags_mask) {
		k->flags |= RULE_C_TCP_FLAGS;
		k->tcp_flags = r->tcp_flags & r->tcp_flags_mask;
		k->tcp_mask = r->tcp_flags_mask;
	}
	if (r->icmp_type != RULE_ICMP_ANY) {
		k->flags |= RULE_C_ICMP_TYPE;
		k->icmp_type = r->icmp_type;
	}
	if (r->icmp_code != RULE_ICMP_ANY) {
		k->flags |= RULE_C_ICMP_CODE;
		k->icmp_code = r->icmp_code;
	}
	if (rule_names_src(r, c->in->protect))
		k->flags |= RULE_C_NAMED_SRC;
	if (!addr_any(&r->inner_src) || !addr_any(&r->inner_dst) ||
	    r->inner_protocol != RULE_PROTO_ANY || !ports_any(&r->inner_sport) ||
	    !ports_any(&r->inner_dport))
		compile_inner(r, k);
}

/* The match entries of one rule: one per (source, destination) port bucket. */
static int rule_entries(struct compiler *c, const struct crule *cr, size_t max)
{
	const struct rule *r = cr->r;
	const struct rule_shape *sh = &c->out->shapes.shapes[cr->shape];
	struct rule_match_key k;
	__u32 slo, shi, dlo, dhi, sp, dp;
	int j;

	memset(&k, 0, sizeof(k));
	for (j = 0; j < 4; j++) {
		k.src[j] = r->src.addr[j] & sh->src_mask[j];
		k.dst[j] = r->dst.addr[j] & sh->dst_mask[j];
	}
	k.proto = (sh->kflags & RULE_K_PROTO) ? r->protocol : 0;
	k.shape = cr->shape;
	k.half = c->in->half;
	port_keys(&r->sport, sh->kflags, RULE_K_SPORT, RULE_K_SPORT_BKT, &slo, &shi);
	port_keys(&r->dport, sh->kflags, RULE_K_DPORT, RULE_K_DPORT_BKT, &dlo, &dhi);
	if (sh->kflags & RULE_K_ICMP_TYPE)
		slo = shi = r->icmp_type; /* ICMP rules have no ports */
	for (sp = slo; sp <= shi; sp++) {
		for (dp = dlo; dp <= dhi; dp++) {
			if (c->nme == max)
				return too_big(c, r->id,
					       "the rule table is full (%zu entries; port ranges "
					       "take one per 256 ports they span)",
					       max);
			k.sport = sp;
			k.dport = dp;
			c->me[c->nme++] = (struct mentry){
				.key = k, .rank = cr->rank, .slot = cr->slot, .id = r->id
			};
		}
	}
	return 0;
}

/* 4. Compiled conditions, match entries, the half's flags and expiry. */
static int compile_entries(struct compiler *c)
{
	const size_t max = RULE_MATCH_ENTRIES / 2;
	struct rule_compiled *out = c->out;
	size_t i;
	int rc;

	out->comps = calloc(c->n ? c->n : 1, sizeof(*out->comps));
	c->me = calloc(max, sizeof(*c->me));
	if (!out->comps || !c->me)
		return errmsg_set(c->err, c->errlen, -ENOMEM, "out of memory");
	for (i = 0; i < c->n; i++) {
		struct rule_comp *k = &out->comps[i].comp;

		out->comps[i].slot = c->cr[i].slot;
		compile_comp(c, &c->cr[i], k);
		if (k->expires_ns && (!out->expiry_ns || k->expires_ns < out->expiry_ns))
			out->expiry_ns = k->expires_ns;
		if (rule_reads_l4(c->cr[i].r))
			out->shapes.flags |= RULE_SS_L4;
		rc = rule_entries(c, &c->cr[i], max);
		if (rc)
			return rc;
	}
	out->shapes.n_rules = c->n;
	return 0;
}

/* 5. Candidate lists: the rules sharing a key, in rank order. */
static int compile_lists(struct compiler *c)
{
	struct rule_compiled *out = c->out;
	size_t i;

	qsort(c->me, c->nme, sizeof(*c->me), cmp_mentry);
	out->keys = calloc(c->nme ? c->nme : 1, sizeof(*out->keys));
	out->vals = calloc(c->nme ? c->nme : 1, sizeof(*out->vals));
	if (!out->keys || !out->vals)
		return errmsg_set(c->err, c->errlen, -ENOMEM, "out of memory");
	for (i = 0; i < c->nme; i++) {
		struct rule_match_val *v;

		if (i == 0 || memcmp(&c->me[i].key, &c->me[i - 1].key, sizeof(c->me[i].key)))
			out->keys[out->n_keys++] = c->me[i].key;
		v = &out->vals[out->n_keys - 1];
		if (v->n == RULE_CAND_MAX)
			return too_big(c, c->me[i].id,
				       "more than %d rules share the same addresses, protocol and "
				       "ports (they differ only in wide port ranges, TCP flags or "
				       "ICMP fields)",
				       RULE_CAND_MAX);
		v->slot[v->n++] = c->me[i].slot;
	}
	return 0;
}

/* 6. Protected networks (family-aware LPM keys) and ports (a bitmap). */
static int compile_protect(struct compiler *c)
{
	const struct rule_protect *p = c->in->protect;
	struct rule_compiled *out = c->out;
	size_t i;
	int j;

	if (!p)
		return 0;
	if (p->n_nets > RULE_PROTECT_NETS_MAX)
		return errmsg_set(c->err, c->errlen, -E2BIG, "protected networks: %zu, at most %d",
				  p->n_nets, RULE_PROTECT_NETS_MAX);
	out->pnets = calloc(p->n_nets ? p->n_nets : 1, sizeof(*out->pnets));
	if (!out->pnets)
		return errmsg_set(c->err, c->errlen, -ENOMEM, "out of memory");
	for (i = 0; i < p->n_nets; i++) {
		const struct net_prefix *a = &p->nets[i];
		struct rule_protect_key *k = &out->pnets[out->n_pnets++];
		__u32 mask[4];

		k->half = c->in->half;
		k->family = a->family;
		k->prefixlen = 16 + a->prefix;
		plen_mask(a->prefix, mask);
		for (j = 0; j < 4; j++) {
			__u32 w = a->addr[j] & mask[j];

			memcpy(k->addr + 4 * j, &w, 4);
		}
		out->shapes.flags |= RULE_SS_PROTECT_NETS;
	}
	for (i = 0; i < p->n_ports; i++) {
		out->pports[p->ports[i] >> 6] |= 1ull << (p->ports[i] & 63);
		out->shapes.flags |= RULE_SS_PROTECT_PORTS;
	}
	return 0;
}

int rule_compile(const struct rule_compile_in *in, struct rule_compiled *out, char *err,
		 size_t errlen)
{
	struct compiler c = { .in = in, .out = out, .err = err, .errlen = errlen };
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	rc = compile_active(&c);
	if (!rc)
		rc = compile_slots(&c);
	if (!rc)
		rc = compile_shapes(&c);
	if (!rc)
		rc = compile_entries(&c);
	if (!rc)
		rc = compile_lists(&c);
	if (!rc)
		rc = compile_protect(&c);
	free(c.cr);
	free(c.me);
	if (rc)
		rule_compiled_free(out);
	return rc;
}

void rule_compiled_free(struct rule_compiled *c)
{
	if (!c)
		return;
	free(c->comps);
	free(c->keys);
	free(c->vals);
	free(c->pnets);
	free(c->new_slots);
	memset(c, 0, sizeof(*c));
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
