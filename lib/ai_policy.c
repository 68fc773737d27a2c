// SPDX-License-Identifier: GPL-2.0
/*
 * The AI safety policy (ai_policy.h). It only refuses: it never rewrites a
 * proposal, so what an operator reviews is exactly what was proposed.
 */
#include <errno.h>
#include <stdio.h>

#include "ai_policy.h"

int ai_policy_check(const struct guarder_config *cfg, const struct rule *rules, size_t n,
		    const struct net_prefix *extra_protected, size_t n_extra, char *why,
		    size_t why_len)
{
	char msg[RULE_ERR_LEN + 64];
	size_t i;

	if (why_len)
		why[0] = '\0';
	if (n == 0) {
		snprintf(why, why_len, "no rules");
		return -EINVAL;
	}
	if (n > cfg->ai.max_rules_per_suggestion) {
		snprintf(why, why_len, "%zu rules, more than ai.max_rules_per_suggestion (%u)", n,
			 cfg->ai.max_rules_per_suggestion);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const struct rule *r = &rules[i];

		if (rule_validate(r, msg, sizeof(msg))) {
			snprintf(why, why_len, "rule %zu: invalid: %s", i, msg);
			return -EINVAL;
		}
		/*
		 * Only drops: an allow rule from a model or a detector could
		 * open a hole in the operator's own drop rules.
		 */
		if (r->action != RULE_ACTION_DROP) {
			snprintf(why, why_len,
				 "rule %zu: action %s: AI proposals may only drop (an allow could "
				 "undo the operator's drop rules)",
				 i, rule_action_name(r->action));
			return -EPERM;
		}
		if (r->expires_at == 0) {
			snprintf(why, why_len, "rule %zu: no expires_at (AI rules must expire)", i);
			return -EINVAL;
		}
		if (rule_is_match_all(r)) {
			snprintf(why, why_len,
				 "rule %zu: drops all %s%straffic (match-all drop refused)", i,
				 r->protocol == RULE_PROTO_ANY ? "" : rule_proto_name(r->protocol),
				 r->protocol == RULE_PROTO_ANY ? "" : " ");
			return -EPERM;
		}
		if (rule_touches_protected(r, cfg->rules.protected_networks,
					   cfg->rules.n_protected_networks,
					   cfg->rules.protected_ports, cfg->rules.n_protected_ports,
					   msg, sizeof(msg))) {
			snprintf(why, why_len, "rule %zu: %s", i, msg);
			return -EPERM;
		}
		if (n_extra && rule_touches_protected(r, extra_protected, n_extra, NULL, 0, msg,
						      sizeof(msg))) {
			snprintf(why, why_len, "rule %zu: %s (API client or DNS resolver)", i, msg);
			return -EPERM;
		}
	}
	return 0;
}
