// SPDX-License-Identifier: GPL-2.0
/*
 * The AI safety policy (lib/ai_policy.c): a valid, expiring, precise drop
 * passes; an allow rule, an all-wildcard drop, a rule naming a protected network or
 * port (configured, or passed by the caller), too many rules, no rules, a
 * rule without expiry and an invalid rule are refused, each with its
 * errno and a reason naming the rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "lib/ai_policy.h"
#include "test_ai_util.h"

static struct rule drop_rule(const char *src, const char *dst, __u16 dport)
{
	struct rule r;
	char err[RULE_ERR_LEN];

	rule_init(&r);
	r.type = RULE_TYPE_TCP;
	r.protocol = RULE_PROTO_TCP;
	r.action = RULE_ACTION_DROP;
	r.enabled = true;
	r.expires_at = (__u64)time(NULL) + 3600;
	if (src && rule_addr_parse("src_ip", src, &r.src, err, sizeof(err)))
		fprintf(stderr, "%s\n", err), exit(1);
	if (dst && rule_addr_parse("dst_ip", dst, &r.dst, err, sizeof(err)))
		fprintf(stderr, "%s\n", err), exit(1);
	r.dport.lo = r.dport.hi = dport;
	return r;
}

static void expect(const struct guarder_config *cfg, const struct rule *r, size_t n,
		   const struct net_prefix *extra, size_t n_extra, int want, const char *why_has)
{
	char why[AI_POLICY_WHY_LEN];
	int rc = ai_policy_check(cfg, r, n, extra, n_extra, why, sizeof(why));

	if (rc != want || (why_has && !strstr(why, why_has)) || (!want && why[0])) {
		fprintf(stderr, "policy: got %d '%s', wanted %d '%s'\n", rc, why, want,
			why_has ? why_has : "");
		failures++;
	}
}

int main(void)
{
	struct guarder_config cfg;
	struct rule r[20], bad;
	struct net_prefix extra;
	size_t i;

	test_ai_config(&cfg);
	r[0] = drop_rule("203.0.113.7", "10.0.0.2", 80);
	expect(&cfg, r, 1, NULL, 0, 0, NULL);

	/* an allow, however precise, could undo an operator's drop */
	bad = drop_rule("203.0.113.7", "10.0.0.2", 80);
	bad.action = RULE_ACTION_ALLOW;
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "may only drop");

	/* all-wildcard drops: basic, tcp, icmp; with a /0 address too */
	bad = drop_rule(NULL, NULL, 0);
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "match-all");
	bad.type = RULE_TYPE_BASIC;
	bad.protocol = RULE_PROTO_ANY;
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "match-all");
	bad = drop_rule("0.0.0.0/0", NULL, 0);
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "match-all");
	/* ... in second place: the index is named */
	r[1] = drop_rule(NULL, NULL, 0);
	expect(&cfg, r, 2, NULL, 0, -EPERM, "rule 1");
	/* an allow-all would let everything in past the operator's drops */
	bad = drop_rule(NULL, NULL, 0);
	bad.action = RULE_ACTION_ALLOW;
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "may only drop");

	/* protected network and port from the config */
	CHECK(net_parse("10.0.0.0/16", 0, &cfg.rules.protected_networks[0], NULL, 0) == 0);
	cfg.rules.n_protected_networks = 1;
	cfg.rules.protected_ports[0] = (struct guarder_port_range){ 22, 22 };
	cfg.rules.n_protected_ports = 1;
	bad = drop_rule("10.0.5.5", "192.0.2.1", 0);
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "protected network 10.0.0.0/16");
	/* one named attacker may be dropped on a protected port (a brute force on ssh) */
	r[0] = drop_rule("203.0.113.7", "192.0.2.1", 22);
	expect(&cfg, r, 1, NULL, 0, 0, NULL);
	/* a network of sources may not */
	bad = drop_rule("203.0.113.0", "192.0.2.1", 22);
	bad.src.prefix = 96 + 24;
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "22");
	bad = drop_rule("203.0.113.0", "192.0.2.1", 0);
	bad.src.prefix = 96 + 24;
	bad.dport.lo = 20;
	bad.dport.hi = 30;
	expect(&cfg, &bad, 1, NULL, 0, -EPERM, "dst_port");
	r[0] = drop_rule("203.0.113.7", "192.0.2.1", 80);
	expect(&cfg, r, 1, NULL, 0, 0, NULL);

	/* the caller's extra protected addresses (API clients, DNS resolvers) */
	CHECK(net_parse("203.0.113.7", 0, &extra, NULL, 0) == 0);
	expect(&cfg, r, 1, &extra, 1, -EPERM, "API client or DNS resolver");
	expect(&cfg, r, 1, NULL, 0, 0, NULL);

	/* bounded number of rules */
	for (i = 0; i < 20; i++)
		r[i] = drop_rule("203.0.113.7", "192.0.2.1", (__u16)(1000 + i));
	cfg.ai.max_rules_per_suggestion = 16;
	expect(&cfg, r, 16, NULL, 0, 0, NULL);
	expect(&cfg, r, 17, NULL, 0, -EINVAL, "max_rules_per_suggestion");
	expect(&cfg, r, 0, NULL, 0, -EINVAL, "no rules");

	/* no expiry */
	bad = drop_rule("203.0.113.7", "192.0.2.1", 80);
	bad.expires_at = 0;
	expect(&cfg, &bad, 1, NULL, 0, -EINVAL, "expires_at");

	/* invalid: ports on a basic rule of protocol any, flags on udp */
	bad = drop_rule("203.0.113.7", "192.0.2.1", 80);
	bad.type = RULE_TYPE_BASIC;
	bad.protocol = RULE_PROTO_ANY;
	expect(&cfg, &bad, 1, NULL, 0, -EINVAL, "invalid");
	bad = drop_rule("203.0.113.7", "192.0.2.1", 80);
	bad.type = RULE_TYPE_UDP;
	bad.protocol = RULE_PROTO_UDP;
	bad.tcp_flags = bad.tcp_flags_mask = 2;
	expect(&cfg, &bad, 1, NULL, 0, -EINVAL, "invalid");

	config_free(&cfg);
	return check_report("test_ai_policy");
}
