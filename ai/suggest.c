// SPDX-License-Identifier: GPL-2.0
/*
 * Suggestion records (suggest.h). Built with json-c: a suggestion is rare
 * (at most one per window per finding), so clarity beats speed here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <json-c/json.h>

#include "lib/ai_policy.h"
#include "lib/timeconv.h"
#include "suggest.h"

static void suggestion_id(char *buf, size_t len)
{
	unsigned long long v = 0;

	/* getrandom never fails for 8 bytes once the pool is ready; else fall back */
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = (unsigned long long)ts.tv_sec * 1000000007ull ^ (unsigned long long)ts.tv_nsec;
	}
	snprintf(buf, len, "s-%016llx", v);
}

/* two decimals, printed as such (not 0.98999999999999999) */
static struct json_object *confidence_json(double c)
{
	char text[8];

	snprintf(text, sizeof(text), "%.2f", c);
	return json_object_new_double_s(strtod(text, NULL), text);
}

static int add(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, k, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int ai_suggestion_build(const struct guarder_config *cfg, const struct ai_suggestion_in *in,
			struct json_object **out, bool *rejected)
{
	struct json_object *o = json_object_new_object(), *rules = NULL;
	struct json_object *evidence = in->evidence;
	char id[24], when[RFC3339_NS_LEN], why[AI_POLICY_WHY_LEN];
	double conf = in->confidence;
	struct timespec ts;
	size_t i;
	int err = -ENOMEM;

	*out = NULL;
	if (!o)
		goto out;
	if (!evidence)
		evidence = json_object_new_object();
	suggestion_id(id, sizeof(id));
	clock_gettime(CLOCK_REALTIME, &ts);
	format_rfc3339_ns((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, when,
			  sizeof(when));
	if (conf < 0)
		conf = 0;
	if (conf > 1)
		conf = 1;
	if (add(o, "schema_version", json_object_new_int(AI_SUGGESTION_SCHEMA_VERSION)) ||
	    add(o, "id", json_object_new_string(id)) ||
	    add(o, "created_at", json_object_new_string(when)) ||
	    add(o, "node", json_object_new_string(in->node)) ||
	    add(o, "origin", json_object_new_string(in->origin)) ||
	    add(o, "kind", json_object_new_string(in->kind)) ||
	    add(o, "confidence", confidence_json(conf)) ||
	    add(o, "summary", json_object_new_string(in->summary)))
		goto out;
	err = add(o, "evidence", evidence);
	evidence = NULL;
	if (err)
		goto out;
	err = -ENOMEM;
	rules = json_object_new_array();
	if (!rules)
		goto out;
	for (i = 0; i < in->n_rules; i++) {
		struct json_object *r = rule_to_json(&in->rules[i]);

		if (!r)
			goto out;
		json_object_object_del(r, "id"); /* the API assigns ids */
		if (json_object_array_add(rules, r)) {
			json_object_put(r);
			goto out;
		}
	}
	err = add(o, "rules", rules);
	rules = NULL;
	if (err)
		goto out;
	*rejected = ai_policy_check(cfg, in->rules, in->n_rules, NULL, 0, why, sizeof(why)) != 0;
	err = add(o, "status",
		  json_object_new_string(*rejected ? "rejected_by_policy" : "proposed"));
	if (!err && *rejected)
		err = add(o, "policy_reason", json_object_new_string(why));
	if (err)
		goto out;
	*out = o;
	o = NULL;
out:
	json_object_put(rules);
	json_object_put(evidence);
	json_object_put(o);
	return err;
}

int ai_suggestion_from_finding(const struct guarder_config *cfg, const struct ai_finding *fd,
			       struct json_object **out, bool *rejected)
{
	struct json_object *ev = json_object_new_object();
	struct ai_suggestion_in in = {
		.origin = fd->kind == AI_MODEL ? "model" : "detector",
		.kind = ai_kind_name(fd->kind),
		.node = fd->node,
		.confidence = fd->confidence,
		.summary = fd->summary,
		.rules = fd->rules,
		.n_rules = fd->n_rules,
	};
	size_t i;

	if (!ev)
		return -ENOMEM;
	for (i = 0; i < fd->n_ev; i++)
		if (add(ev, fd->ev[i].name, json_object_new_int64((int64_t)fd->ev[i].value)))
			goto nomem;
	if (fd->offender[0] && add(ev, "offender", json_object_new_string(fd->offender)))
		goto nomem;
	if (fd->target[0] && add(ev, "target", json_object_new_string(fd->target)))
		goto nomem;
	in.evidence = ev;
	return ai_suggestion_build(cfg, &in, out, rejected);
nomem:
	json_object_put(ev);
	return -ENOMEM;
}
