// SPDX-License-Identifier: GPL-2.0
/* The rule-set environment of the filter tests (see ruleenv.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ruleenv.h"

struct rule_set *rs_open(struct tenv *e)
{
	struct rule_set_fds f = {
		.ctl = bpf_map__fd(e->skel->maps.rule_ctl),
		.shapes = bpf_map__fd(e->skel->maps.rule_shapes),
		.match = bpf_map__fd(e->skel->maps.rule_match),
		.comp = bpf_map__fd(e->skel->maps.rule_comp),
		.counters = bpf_map__fd(e->skel->maps.rule_counters),
		.protect_nets = bpf_map__fd(e->skel->maps.rule_protect_nets),
		.protect_ports = bpf_map__fd(e->skel->maps.rule_protect_ports),
	};
	struct rule_set *rs = NULL;
	int rc = rule_set_open_fds(&f, &rs);

	ASSERT_OK(rc, "rule_set_open_fds");
	return rs;
}

bool add(struct rs_env *s, const char *json)
{
	char err[RULE_ERR_LEN];
	int rc;

	if (s->n == MAXR)
		return false;
	rc = rule_from_json_str(json, strlen(json), RULE_PARSE_STORED, &s->r[s->n], NULL, err,
				sizeof(err));
	if (rc) {
		fprintf(stderr, "  bad test rule %s: %s\n", json, err);
		return ASSERT_OK(rc, "test rule parses");
	}
	s->n++;
	return true;
}

bool apply_p(struct rs_env *s, const struct rule_protect *p)
{
	char err[256];
	int rc = rule_set_apply(s->rs, s->r, s->n, p, (__u64)time(NULL), err, sizeof(err));

	if (rc)
		fprintf(stderr, "  apply: %s\n", err);
	return ASSERT_OK(rc, "rule_set_apply");
}

bool apply(struct rs_env *s)
{
	return apply_p(s, NULL);
}

bool setup(struct tenv *e, struct rs_env *s)
{
	memset(s, 0, sizeof(*s));
	s->rs = rs_open(e);
	return s->rs != NULL;
}

void done(struct rs_env *s)
{
	rule_set_close(s->rs);
	s->rs = NULL;
}

int xdp(struct tenv *e, const struct pkt *p)
{
	return run_xdp(e, p);
}

__u64 hits(struct rs_env *s, __u32 id)
{
	struct rule_counters c;

	if (rule_set_counters(s->rs, id, &c))
		return 0;
	return c.packets;
}

__u64 dropped(struct tenv *e)
{
	struct global_stats st;

	if (read_stats(e, &st))
		return ~0ULL;
	return st.dropped;
}

