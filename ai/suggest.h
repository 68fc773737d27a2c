/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Suggestions: a finding (a detector's or the model's) as the JSON record
 * published on ai.suggestions_topic (docs/suggestions.md, schema
 * docs/suggestion.schema.json), after the safety policy (lib/ai_policy.h).
 */
#ifndef GUARDER_AI_SUGGEST_H
#define GUARDER_AI_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "detect.h"
#include "lib/config.h"
#include "lib/rule.h"

struct json_object;

#define AI_SUGGESTION_SCHEMA_VERSION 1

struct ai_suggestion_in {
	const char *origin; /* "detector" or "model" */
	const char *kind; /* ai_kind_name() */
	const char *node;
	double confidence; /* clamped to 0..1 */
	const char *summary;
	struct json_object *evidence; /* an object, taken over (may be NULL: {}) */
	const struct rule *rules;
	size_t n_rules;
};

/*
 * ai_suggestion_build - the suggestion record of @in: a fresh random id,
 * created_at now, the rules in the REST codec's form without "id", and
 * status "proposed", or "rejected_by_policy" with "policy_reason" when
 * ai_policy_check(cfg, rules, n_rules, NULL, 0) refuses them (*@rejected
 * is set accordingly). Returns 0 and *@out (caller owns it), or -ENOMEM
 * (in->evidence is released on every path).
 */
int ai_suggestion_build(const struct guarder_config *cfg, const struct ai_suggestion_in *in,
			struct json_object **out, bool *rejected);

/* ai_suggestion_from_finding - ai_suggestion_build() for a detector finding. */
int ai_suggestion_from_finding(const struct guarder_config *cfg, const struct ai_finding *fd,
			       struct json_object **out, bool *rejected);

#endif /* GUARDER_AI_SUGGEST_H */
