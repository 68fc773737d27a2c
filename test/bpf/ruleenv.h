/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A rule set under construction for the filter tests: rules given as
 * stored JSON, compiled by lib/rule_set.c into the test program's maps.
 */
#ifndef GUARDER_TEST_RULEENV_H
#define GUARDER_TEST_RULEENV_H

#include <stdbool.h>
#include <stddef.h>

#include "bpftest.h"
#include "lib/rule.h"
#include "lib/rule_set.h"

#define MAXR 64

struct rs_env {
	struct rule_set *rs;
	struct rule r[MAXR];
	size_t n;
};

/* The rule maps of @e's program as a rule_set (NULL, reported, on error). */
struct rule_set *rs_open(struct tenv *e);
/* Add a rule given as stored JSON (it must carry "id"); false, reported, if it does not parse. */
bool add(struct rs_env *s, const char *json);
/* Apply the rules added so far, with @p protected (NULL: nothing); false on error. */
bool apply_p(struct rs_env *s, const struct rule_protect *p);
bool apply(struct rs_env *s);
/* Start with no rules on @e's maps; false on error. */
bool setup(struct tenv *e, struct rs_env *s);
void done(struct rs_env *s);
/* Run one frame through XDP: its verdict. */
int xdp(struct tenv *e, const struct pkt *p);
/* Packets the rule @id decided (0 when it has no counters). */
__u64 hits(struct rs_env *s, __u32 id);
/* The global dropped counter (~0 on a read error). */
__u64 dropped(struct tenv *e);

#endif /* GUARDER_TEST_RULEENV_H */
