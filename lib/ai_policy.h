/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The safety policy every AI-proposed rule set passes, whether a built-in
 * detector or a language model proposed it: used by guarder-ai before it
 * publishes a suggestion and by guarder-api before it applies one.
 */
#ifndef GUARDER_AI_POLICY_H
#define GUARDER_AI_POLICY_H

#include <stddef.h>

#include "config.h"
#include "rule.h"

#define AI_POLICY_WHY_LEN 320 /* enough for every reason */

/*
 * ai_policy_check - whether @rules[0..@n) may be proposed/applied. In
 * order, the first failure wins:
 *  - 1 <= n <= cfg->ai.max_rules_per_suggestion (-EINVAL);
 *  - every rule passes rule_validate() (-EINVAL);
 *  - every rule carries an expiry, expires_at != 0 (-EINVAL): the caller
 *    sets it from cfg->ai.rule_ttl;
 *  - no rule is an enabled match-all drop, rule_is_match_all() (-EPERM);
 *  - no drop rule names a protected network or port: the config's
 *    rules.protected_networks / protected_ports and @extra_protected
 *    (the API's recent clients, the DNS resolvers) (-EPERM).
 * Returns 0, or the negative errno with a one-line reason for a human in
 * @why ("rule 2: dst_ip: 10.0.0.0/8 overlaps protected network ..."),
 * always NUL-terminated when @why_len > 0 ("" on success).
 */
int ai_policy_check(const struct guarder_config *cfg, const struct rule *rules, size_t n,
		    const struct net_prefix *extra_protected, size_t n_extra, char *why,
		    size_t why_len);

#endif /* GUARDER_AI_POLICY_H */
