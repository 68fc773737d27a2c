/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rule-set compiler proper: a pure function from rules to the image of
 * one half of the kernel's rule maps (kernel/filter.h), with no BPF in it,
 * so that guarder-ai could use it and tests can check it without a
 * kernel. lib/rule_set.c writes the image into the maps and flips the
 * generation.
 *
 * What it decides: the active rules in evaluation order (ranks), each
 * rule id's slot (an id keeps the slot it has in the active half, so its
 * counters live on), the shapes and their match keys with candidate
 * lists, the compiled conditions, the protected networks and ports, the
 * half's flags (RULE_SS_*) and its earliest expiry on the kernel's clock.
 */
#ifndef GUARDER_RULE_COMPILE_H
#define GUARDER_RULE_COMPILE_H

#include <linux/types.h>
#include <stddef.h>

#include "kernel/filter.h"
#include "net.h"
#include "rule.h"

/* Most rules one set may hold (active rules; disabled/expired ones are free). */
#define RULE_SET_MAX_RULES 10000

/*
 * Protected traffic: an implicit allow evaluated before every rule.
 * Packets from or to one of @nets, and packets to one of @ports of this
 * host (and its replies from them), are never dropped by a rule, except,
 * for the ports, by a rule that names one source host outside @nets
 * (RULE_C_NAMED_SRC): one attacker can be blocked on a protected port.
 */
struct rule_protect {
	const struct net_prefix *nets;
	size_t n_nets;
	const __u16 *ports;
	size_t n_ports;
};

struct guarder_config;

/*
 * rule_protect_from_config - @out from the config's rules.protected_networks
 * and rules.protected_ports (port ranges expanded). Arrays are malloc'd;
 * free them with rule_protect_free(). Returns 0 or -ENOMEM.
 */
int rule_protect_from_config(const struct guarder_config *cfg, struct rule_protect *out);
void rule_protect_free(struct rule_protect *p);

/* A rule id and its slot in the half that is active. */
struct rule_slot {
	__u32 id;
	__u32 slot;
};

struct rule_compile_in {
	const struct rule *rules; /* any order; each must pass rule_validate() */
	size_t n;
	const struct rule_protect *protect; /* NULL: nothing protected */
	__u64 now;			    /* unix seconds: which rules are active */
	__s64 mono_minus_wall_ns; /* CLOCK_MONOTONIC - CLOCK_REALTIME, for expiries */
	const struct rule_slot *active; /* the active half's slots, sorted by id */
	size_t n_active;
	__u32 half; /* the half the image is for (0 or 1) */
};

/* One compiled rule: its slot and what the kernel checks. */
struct rule_compiled_comp {
	__u32 slot;
	struct rule_comp comp;
};

/* The image of one half. */
struct rule_compiled {
	struct rule_shape_set shapes; /* n_shapes, flags, n_rules, shapes[] */
	struct rule_compiled_comp *comps; /* n_rules of them */
	struct rule_match_key *keys;	  /* rule_match, n_keys entries */
	struct rule_match_val *vals;
	size_t n_keys;
	struct rule_protect_key *pnets; /* rule_protect_nets */
	size_t n_pnets;
	__u64 pports[RULE_PROTECT_PORT_WORDS]; /* rule_protect_ports */
	__u32 *new_slots; /* slots no rule of the active half holds: counters to zero */
	size_t n_new_slots;
	__u64 expiry_ns; /* earliest expiry, CLOCK_MONOTONIC ns; 0: none */
};

/*
 * rule_compile - compile @in into @out. Rules disabled or expired at
 * in->now are left out. Returns 0, or -EINVAL (an invalid rule, an id
 * twice), -E2BIG (more than RULE_SET_MAX_RULES active rules, or a limit
 * of the compiled form: too many distinct shapes, too many rules on one
 * key, no free slot, too many protected networks) or -ENOMEM, with a
 * message in @err (if @errlen > 0). On error @out holds nothing to free.
 */
int rule_compile(const struct rule_compile_in *in, struct rule_compiled *out, char *err,
		 size_t errlen);

/* rule_compiled_free - free what rule_compile() allocated in @c. */
void rule_compiled_free(struct rule_compiled *c);

/*
 * rule_slot_find - the slot of @id in @v (@n entries sorted by id), or -1.
 */
long rule_slot_find(const struct rule_slot *v, size_t n, __u32 id);

#endif /* GUARDER_RULE_COMPILE_H */
