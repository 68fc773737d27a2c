// SPDX-License-Identifier: GPL-2.0
/*
 * The suggestions of the /api/ai endpoints (api/ai.h): the ones guarder-ai
 * publishes on cfg->ai.suggestions_topic, read by a consumer thread, and
 * the ones POST /api/ai/generate or analyze makes here. Listed newest
 * first, applied through the bulk rule path, rejected by the operator;
 * the decisions survive a restart in ai->decisions_path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "ai.h"
#include "lib/ai_policy.h"
#include "lib/atomic_file.h"
#include "lib/json_strict.h"
#include "lib/kafka_conf.h"
#include "lib/log.h"

#define AI_MAX_DECISIONS    20000 /* entries of the decisions file */
#define AI_RECORD_MAX_BYTES (1u << 20) /* a suggestion record (Kafka's default message size) */

static const char *const state_names[S_MAX] = {
	[S_PROPOSED] = "proposed", [S_POLICY] = "rejected_by_policy", [S_APPLYING] = "applying",
	[S_APPLIED] = "applied",   [S_REJECTED] = "rejected",
};

const char *ai_state_name(enum sugg_state s)
{
	return (unsigned int)s < S_MAX ? state_names[s] : "proposed";
}

/* ---- decisions file ---- */

void ai_decisions_load(struct ai_service *ai)
{
	struct json_object *j = json_object_from_file(ai->decisions_path), *d;

	if (!j) {
		if (access(ai->decisions_path, F_OK) == 0)
			log_warn("ai: %s: not readable JSON (%s); starting without past decisions",
				 ai->decisions_path, json_util_get_last_err());
		ai->decisions = json_object_new_object();
		return;
	}
	if (json_object_object_get_ex(j, "decisions", &d) &&
	    json_object_is_type(d, json_type_object)) {
		ai->decisions = json_object_get(d);
	} else {
		log_warn("ai: %s: no \"decisions\" object; starting without past decisions",
			 ai->decisions_path);
		ai->decisions = json_object_new_object();
	}
	json_object_put(j);
}

/* Forget the oldest decisions (by "at") beyond AI_MAX_DECISIONS. */
static void decisions_trim(struct ai_service *ai)
{
	while (json_object_object_length(ai->decisions) > AI_MAX_DECISIONS) {
		const char *oldest = NULL;
		int64_t at_min = INT64_MAX;

		json_object_object_foreach(ai->decisions, k, v)
		{
			struct json_object *at;

			if (json_object_object_get_ex(v, "at", &at) &&
			    json_object_get_int64(at) < at_min) {
				at_min = json_object_get_int64(at);
				oldest = k;
			}
		}
		if (!oldest)
			break;
		json_object_object_del(ai->decisions, oldest);
	}
}

/* Write the decisions (0600 in a 0700 directory, atomic_file.h). Caller holds ai->lock. */
static int decisions_save(struct ai_service *ai)
{
	struct json_object *top;
	char err[PATH_MAX + 128];
	const char *text;
	size_t len;
	int rc;

	decisions_trim(ai);
	top = json_object_new_object();
	if (!top)
		return -ENOMEM;
	json_object_object_add(top, "version", json_object_new_int(1));
	json_object_object_add(top, "decisions", json_object_get(ai->decisions));
	text = json_object_to_json_string_length(top, JSON_C_TO_STRING_PLAIN, &len);
	rc = atomic_file_write(ai->decisions_path, text, len, 0600, 0700, err, sizeof(err));
	if (rc)
		log_error("ai: cannot write %s: %s (the decision holds until a restart)",
			  ai->decisions_path, err);
	json_object_put(top);
	return rc;
}

/* Record @s's decision; caller holds ai->lock. */
static void decision_record(struct ai_service *ai, const struct sugg *s)
{
	struct json_object *d = json_object_new_object();

	if (!d)
		return;
	json_object_object_add(d, "state", json_object_new_string(ai_state_name(s->state)));
	json_object_object_add(d, "at", json_object_new_int64((int64_t)s->decided_at));
	if (s->rule_ids)
		json_object_object_add(d, "rule_ids", json_object_get(s->rule_ids));
	if (s->reason[0])
		json_object_object_add(d, "reason", json_object_new_string(s->reason));
	if (s->auto_applied)
		json_object_object_add(d, "auto", json_object_new_boolean(1));
	json_object_object_add(ai->decisions, s->id, d);
	decisions_save(ai);
}

/* A known decision onto a (re)loaded suggestion; caller holds ai->lock. */
static bool decision_restore(struct ai_service *ai, struct sugg *s)
{
	struct json_object *d, *v;
	const char *st;

	if (!json_object_object_get_ex(ai->decisions, s->id, &d))
		return false;
	st = json_object_object_get_ex(d, "state", &v) ? json_object_get_string(v) : "";
	if (!strcmp(st, "applied"))
		s->state = S_APPLIED;
	else if (!strcmp(st, "rejected"))
		s->state = S_REJECTED;
	else
		return false;
	if (json_object_object_get_ex(d, "at", &v))
		s->decided_at = (__u64)json_object_get_int64(v);
	if (json_object_object_get_ex(d, "rule_ids", &v))
		s->rule_ids = json_object_get(v);
	if (json_object_object_get_ex(d, "reason", &v))
		snprintf(s->reason, sizeof(s->reason), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(d, "auto", &v))
		s->auto_applied = json_object_get_boolean(v);
	return true;
}

/* ---- the suggestions ---- */

void ai_sugg_free(struct sugg *s)
{
	if (s) {
		json_object_put(s->rec);
		json_object_put(s->rule_ids);
	}
	free(s);
}

struct sugg *ai_sugg_at(struct ai_service *ai, size_t i)
{
	return ai->ring[(ai->ring_head + i) % ai->ring_cap];
}

/* Caller holds ai->lock. */
static struct sugg *sugg_find(struct ai_service *ai, const char *id)
{
	size_t i;

	for (i = 0; i < ai->ring_n; i++) {
		struct sugg *s = ai_sugg_at(ai, i);

		if (!strcmp(s->id, id))
			return s;
	}
	return NULL;
}

/* Add @s (the ring keeps the newest ring_cap); caller holds ai->lock. */
static void sugg_add(struct ai_service *ai, struct sugg *s)
{
	if (ai->ring_n == ai->ring_cap) {
		ai_sugg_free(ai->ring[ai->ring_head]);
		ai->ring[ai->ring_head] = s;
		ai->ring_head = (ai->ring_head + 1) % ai->ring_cap;
		return;
	}
	ai->ring[(ai->ring_head + ai->ring_n) % ai->ring_cap] = s;
	ai->ring_n++;
}

const char *ai_rec_str(struct json_object *rec, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(rec, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The record plus the API's own state. */
struct json_object *ai_sugg_json(const struct sugg *s)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_foreach(s->rec, k, v)
	{
		if (!strcmp(k, "status"))
			continue;
		json_object_object_add(o, k, json_object_get(v));
	}
	/* "status" is the worker's word (proposed / rejected_by_policy), "state" the API's */
	json_object_object_add(
		o, "status",
		json_object_new_string(s->state == S_POLICY ? "rejected_by_policy" : "proposed"));
	json_object_object_add(o, "state", json_object_new_string(ai_state_name(s->state)));
	json_object_object_add(o, "source", json_object_new_string(s->local ? "api" : "kafka"));
	if (s->decided_at)
		json_object_object_add(o, "decided_at",
				       json_object_new_int64((int64_t)s->decided_at));
	if (s->rule_ids)
		json_object_object_add(o, "applied_rule_ids", json_object_get(s->rule_ids));
	if (s->state == S_APPLIED)
		json_object_object_add(o, "auto_applied", json_object_new_boolean(s->auto_applied));
	if (s->state == S_REJECTED && s->reason[0])
		json_object_object_add(o, "reject_reason", json_object_new_string(s->reason));
	return o;
}

/*
 * The rules of @rec as struct rule[], each with an expiry (now + rule_ttl
 * when the record has none). Returns the count or -EINVAL with @why.
 */
static long sugg_rules(struct ai_service *ai, struct json_object *rec, struct rule *out, size_t max,
		       char *why, size_t len)
{
	struct json_object *rules;
	char err[RULE_ERR_LEN];
	size_t i, n;

	if (!json_object_object_get_ex(rec, "rules", &rules) ||
	    !json_object_is_type(rules, json_type_array)) {
		snprintf(why, len, "the suggestion has no rules list");
		return -EINVAL;
	}
	n = json_object_array_length(rules);
	if (n > max) {
		snprintf(why, len, "%zu rules, more than %zu", n, max);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(rules, i), *copy;
		int rc;

		if (!json_object_is_type(r, json_type_object)) {
			snprintf(why, len, "rules[%zu]: not an object", i);
			return -EINVAL;
		}
		/* the API assigns ids: drop one the record might carry */
		copy = json_object_new_object();
		if (!copy) {
			snprintf(why, len, "out of memory");
			return -ENOMEM;
		}
		json_object_object_foreach(r, k, v)
		{
			if (strcmp(k, "id"))
				json_object_object_add(copy, k, json_object_get(v));
		}
		rc = rule_from_json(copy, 0, &out[i], NULL, err, sizeof(err));
		json_object_put(copy);
		if (rc) {
			snprintf(why, len, "rules[%zu]: %s", i, err);
			return -EINVAL;
		}
		if (!out[i].expires_at)
			out[i].expires_at = ai_now() + ai->cfg->ai.rule_ttl;
	}
	return (long)n;
}

/*
 * Suggestion @id moves from proposed to applying: returns its record (a
 * reference), or NULL with the 404 / 409 in @rep.
 */
static struct json_object *apply_claim(struct ai_service *ai, const char *id, struct api_reply *rep)
{
	struct json_object *rec = NULL;
	struct sugg *s;

	pthread_mutex_lock(&ai->lock);
	s = sugg_find(ai, id);
	if (!s)
		ai_reply_error(rep, 404, 0, "no such suggestion: %.40s", id);
	else if (s->state == S_POLICY)
		ai_reply_error(rep, 409, 0,
			       "suggestion %s was rejected by the safety policy (%s); it cannot be "
			       "applied",
			       id, ai_rec_str(s->rec, "policy_reason") ?: "no reason given");
	else if (s->state != S_PROPOSED)
		ai_reply_error(rep, 409, 0, "suggestion %s is already %s", id,
			       ai_state_name(s->state));
	else
		rec = json_object_get(s->rec);
	if (rec)
		s->state = S_APPLYING;
	pthread_mutex_unlock(&ai->lock);
	return rec;
}

/* {"mode": "add", "rules": [...]} of @rules without their ids, or NULL. */
static struct json_object *bulk_add_body(const struct rule *rules, size_t n)
{
	struct json_object *body = json_object_new_object(), *arr = json_object_new_array(), *o;
	size_t i;

	if (!body || !arr) {
		json_object_put(body);
		json_object_put(arr);
		return NULL;
	}
	json_object_object_add(body, "mode", json_object_new_string("add"));
	json_object_object_add(body, "rules", arr);
	for (i = 0; i < n; i++) {
		o = rule_to_json(&rules[i]);
		if (!o) {
			json_object_put(body);
			return NULL;
		}
		json_object_object_del(o, "id");
		json_object_array_add(arr, o);
	}
	return body;
}

/* Suggestion @id is applied as rules @ids: its state, the decisions file, the counters. */
static void apply_done(struct ai_service *ai, const char *id, struct json_object *ids,
		       bool automatic)
{
	struct sugg *s;

	pthread_mutex_lock(&ai->lock);
	s = sugg_find(ai, id);
	if (s) {
		s->state = S_APPLIED;
		s->auto_applied = automatic;
		s->decided_at = ai_now();
		s->rule_ids = json_object_get(ids);
		decision_record(ai, s);
	} else {
		/* pushed out of the list meanwhile: still remember the decision */
		struct sugg tmp = { .state = S_APPLIED,
				    .auto_applied = automatic,
				    .decided_at = ai_now(),
				    .rule_ids = ids };

		snprintf(tmp.id, sizeof(tmp.id), "%s", id);
		decision_record(ai, &tmp);
	}
	if (automatic)
		ai->auto_applied++;
	pthread_mutex_unlock(&ai->lock);
	log_info("ai: suggestion %s applied%s as rule(s) %s", id, automatic ? " automatically" : "",
		 json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN));
}

void ai_apply_suggestion(struct ai_service *ai, const char *id, struct MHD_Connection *conn,
			 bool automatic, struct api_reply *rep)
{
	struct net_prefix extra[AI_MAX_EXTRA];
	struct api_request breq = { .route = ROUTE_FILTERS_BULK, .method = M_POST };
	struct api_reply brep = { .total = -1 };
	struct json_object *rec, *body = NULL, *res = NULL, *ids = NULL, *o;
	struct rule *rules = NULL;
	char why[512];
	struct sugg *s;
	size_t n_extra;
	long n;

	rec = apply_claim(ai, id, rep);
	if (!rec)
		return;
	rules = calloc(AI_MAX_SUGG_RULES, sizeof(*rules));
	if (!rules) {
		ai_reply_error(rep, 500, 0, "out of memory");
		goto fail;
	}
	n = sugg_rules(ai, rec, rules, AI_MAX_SUGG_RULES, why, sizeof(why));
	if (n < 0) {
		ai_reply_error(rep, 409, 0, "suggestion %s cannot be applied: %s", id, why);
		goto fail;
	}
	n_extra = ai_extra_protected(ai, conn, extra, AI_MAX_EXTRA);
	if (ai_policy_check(ai->cfg, rules, (size_t)n, extra, n_extra, why, sizeof(why))) {
		ai_reply_error(rep, 422, 0, "suggestion %s refused by the safety policy: %s", id,
			       why);
		goto fail;
	}
	body = bulk_add_body(rules, (size_t)n);
	if (!body) {
		ai_reply_error(rep, 500, 0, "out of memory");
		goto fail;
	}
	breq.body = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, &breq.body_len);
	/* no connection: the bulk code reads no query argument (force stays off) */
	filters_handle(ai->store, &breq, &brep);
	if (brep.status != 200) {
		struct json_object *e = ai_reply_json(&brep), *m;

		ai_reply_error(
			rep, brep.status, 0, "suggestion %s: the rule set refused it: %s", id,
			e && json_object_object_get_ex(e, "error", &m) ? json_object_get_string(m) :
									 "unknown error");
		json_object_put(e);
		goto fail;
	}
	res = ai_reply_json(&brep);
	if (!res || !json_object_object_get_ex(res, "ids", &ids)) {
		ai_reply_error(rep, 500, 0, "the rule store's answer has no ids");
		goto fail;
	}
	apply_done(ai, id, ids, automatic);
	o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "state", json_object_new_string("applied"));
		json_object_object_add(o, "rule_ids", json_object_get(ids));
		json_object_object_add(o, "auto_applied", json_object_new_boolean(automatic));
	}
	reply_json(rep, 200, o);
	goto out;
fail:
	pthread_mutex_lock(&ai->lock);
	s = sugg_find(ai, id);
	if (s && s->state == S_APPLYING)
		s->state = S_PROPOSED;
	ai->apply_failures++;
	pthread_mutex_unlock(&ai->lock);
out:
	free(brep.body);
	free(rules);
	json_object_put(res);
	json_object_put(body);
	json_object_put(rec);
}

/* The "reason" of a reject body, control characters made spaces; 0 or -EINVAL with a 400. */
static int reject_reason(struct json_object *body, char *reason, struct api_reply *rep)
{
	struct json_object *v;
	const char *r;
	size_t i;

	json_object_object_foreach(body, k, val)
	{
		(void)val;
		if (strcmp(k, "reason")) {
			ai_reply_error(rep, 400, 0, "%.64s: unknown field (reject takes reason)",
				       k);
			return -EINVAL;
		}
	}
	if (!json_object_object_get_ex(body, "reason", &v))
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) >= AI_REASON_MAX) {
		ai_reply_error(rep, 400, 0, "reason: must be a string of at most %d bytes",
			       AI_REASON_MAX - 1);
		return -EINVAL;
	}
	r = json_object_get_string(v);
	for (i = 0; r[i]; i++)
		reason[i] = (unsigned char)r[i] < 0x20 ? ' ' : r[i];
	reason[i] = '\0';
	return 0;
}

void ai_reject_suggestion(struct ai_service *ai, const struct api_request *req,
			  struct api_reply *rep)
{
	char reason[AI_REASON_MAX] = "";
	struct json_object *body, *o;
	struct sugg *s;
	int rc;

	if (ai_body_object(req, &body, rep))
		return;
	rc = body ? reject_reason(body, reason, rep) : 0;
	json_object_put(body);
	if (rc)
		return;
	pthread_mutex_lock(&ai->lock);
	s = sugg_find(ai, req->sid);
	if (!s) {
		pthread_mutex_unlock(&ai->lock);
		ai_reply_error(rep, 404, 0, "no such suggestion: %.40s", req->sid);
		return;
	}
	if (s->state != S_PROPOSED && s->state != S_POLICY) {
		ai_reply_error(rep, 409, 0, "suggestion %s is already %s%s", s->id,
			       ai_state_name(s->state),
			       s->state == S_APPLIED ? " (delete its rules with DELETE "
						       "/api/filters/{id})" :
						       "");
		pthread_mutex_unlock(&ai->lock);
		return;
	}
	s->state = S_REJECTED;
	s->decided_at = ai_now();
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	decision_record(ai, s);
	o = ai_sugg_json(s);
	pthread_mutex_unlock(&ai->lock);
	log_info("ai: suggestion %s rejected by the operator", req->sid);
	reply_json(rep, 200, o);
}

void ai_list_suggestions(struct ai_service *ai, const struct api_request *req,
			 struct api_reply *rep)
{
	static const char *const known[] = { "limit", "offset", "state", "origin", NULL };
	unsigned long limit = ai->cfg->api.default_limit, offset = 0;
	const char *state, *origin;
	struct json_object *arr;
	size_t i, seen = 0;

	if (query_check_known(req, known, rep) ||
	    query_uint(req, "limit", 0, ai->cfg->api.max_limit, &limit, rep) < 0 ||
	    query_uint(req, "offset", 0, 100000000, &offset, rep) < 0)
		return;
	state = query_str(req, "state");
	origin = query_str(req, "origin");
	arr = json_object_new_array();
	if (!arr) {
		reply_error(rep, 500, "out of memory");
		return;
	}
	pthread_mutex_lock(&ai->lock);
	for (i = ai->ring_n; i-- > 0;) { /* newest first */
		struct sugg *s = ai_sugg_at(ai, i);
		const char *og = ai_rec_str(s->rec, "origin");

		if (state && strcmp(state, ai_state_name(s->state)))
			continue;
		if (origin && (!og || strcmp(origin, og)))
			continue;
		if (seen++ < offset || json_object_array_length(arr) >= limit)
			continue;
		json_object_array_add(arr, ai_sugg_json(s));
	}
	pthread_mutex_unlock(&ai->lock);
	rep->total = (long long)seen;
	reply_json(rep, 200, arr);
}

void ai_take_record(struct ai_service *ai, struct json_object *rec, bool local, char *auto_id,
		    size_t auto_len)
{
	const struct guarder_config *cfg = ai->cfg;
	const char *id = ai_rec_str(rec, "id"), *node = ai_rec_str(rec, "node");
	const char *status = ai_rec_str(rec, "status"), *origin = ai_rec_str(rec, "origin");
	struct json_object *v;
	struct sugg *s;
	double conf = -1;

	auto_id[0] = '\0';
	if (!id || !*id || strlen(id) >= AI_ID_MAX || !node || !status || !origin ||
	    !json_object_object_get_ex(rec, "rules", &v) ||
	    !json_object_is_type(v, json_type_array) ||
	    (strcmp(status, "proposed") && strcmp(status, "rejected_by_policy"))) {
		pthread_mutex_lock(&ai->lock);
		ai->cbad++;
		pthread_mutex_unlock(&ai->lock);
		log_warn(
			"ai: suggestion record without a usable id, node, origin, status or rules: "
			"ignored");
		return;
	}
	if (strcmp(node, cfg->node_name)) {
		pthread_mutex_lock(&ai->lock);
		ai->cother_node++;
		pthread_mutex_unlock(&ai->lock);
		return;
	}
	if (json_object_object_get_ex(rec, "confidence", &v) &&
	    (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
		conf = json_object_get_double(v);
	s = calloc(1, sizeof(*s));
	if (!s)
		return;
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->rec = json_object_get(rec);
	s->local = local;
	s->state = strcmp(status, "proposed") ? S_POLICY : S_PROPOSED;
	pthread_mutex_lock(&ai->lock);
	if (sugg_find(ai, id)) { /* a re-delivery */
		pthread_mutex_unlock(&ai->lock);
		ai_sugg_free(s);
		return;
	}
	sugg_add(ai, s);
	if (!decision_restore(ai, s) && s->state == S_PROPOSED && cfg->ai.auto_apply &&
	    !strcmp(origin, "detector") && conf >= cfg->ai.auto_apply_min_confidence_pct / 100.0)
		snprintf(auto_id, auto_len, "%s", id);
	pthread_mutex_unlock(&ai->lock);
}

/* ---- the suggestions consumer ---- */

/*
 * The suggestions consumer, logged and with the reason in @err on failure.
 * No committed offsets: every start reads the retained suggestions again.
 */
static rd_kafka_t *consumer_new(struct ai_service *ai, char *err, size_t errlen)
{
	const struct guarder_config *cfg = ai->cfg;
	/* a topic created after we start is found within seconds, not 5 minutes */
	const struct kafka_conf_prop tuning[] = {
		{ "topic.metadata.refresh.interval.ms", "2000", NULL },
	};
	const struct kafka_conf_prop group[] = {
		{ "group.id", ai->group_id, NULL },
		{ "auto.offset.reset", "earliest", NULL },
		{ "enable.auto.commit", "false", NULL },
		{ "enable.partition.eof", "false", NULL },
	};
	const struct kafka_conf_spec spec = {
		.role = KAFKA_CONF_CONSUMER,
		.client_id = ai->group_id,
		.defaults = KAFKA_CONF_PROPS(tuning),
		.fixed = KAFKA_CONF_PROPS(group),
	};
	rd_kafka_conf_t *conf;

	conf = kafka_conf_new(cfg, &spec, err, errlen);
	if (!conf)
		return NULL;
	return kafka_conf_client_new(cfg, KAFKA_CONF_CONSUMER, conf, err, errlen);
}

static void set_cstate(struct ai_service *ai, enum consumer_state st, const char *err)
{
	pthread_mutex_lock(&ai->lock);
	ai->cstate = st;
	if (err)
		snprintf(ai->clast_error, sizeof(ai->clast_error), "%s", err);
	pthread_mutex_unlock(&ai->lock);
}

/* One record from the topic: kept, auto-applied when it qualifies, or counted bad. */
static void consume_record(struct ai_service *ai, const rd_kafka_message_t *m)
{
	const struct json_strict_limits lim = { .max_bytes = AI_RECORD_MAX_BYTES };
	char why[JSON_STRICT_ERR_LEN], auto_id[AI_ID_MAX];
	struct api_reply rep = { .total = -1 };
	struct json_object *rec;

	pthread_mutex_lock(&ai->lock);
	ai->cmessages++;
	pthread_mutex_unlock(&ai->lock);
	if (json_strict_parse(m->payload ? (const char *)m->payload : "", m->len, json_type_object,
			      &lim, &rec, why, sizeof(why))) {
		pthread_mutex_lock(&ai->lock);
		ai->cbad++;
		pthread_mutex_unlock(&ai->lock);
		log_warn("ai: %s[%d]@%lld: not a suggestion record (%s), ignored",
			 ai->cfg->ai.suggestions_topic, (int)m->partition, (long long)m->offset,
			 why);
		return;
	}
	ai_take_record(ai, rec, false, auto_id, sizeof(auto_id));
	json_object_put(rec);
	if (!auto_id[0])
		return;
	ai_apply_suggestion(ai, auto_id, NULL, true, &rep);
	if (rep.status != 200)
		log_warn("ai: auto-apply of %s failed: %s", auto_id, rep.body ? rep.body : "");
	free(rep.body);
}

void *ai_consumer_main(void *arg)
{
	struct ai_service *ai = arg;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t kerr;
	char err[512];
	rd_kafka_t *rk;

	rk = consumer_new(ai, err, sizeof(err));
	if (!rk) {
		set_cstate(ai, C_ERROR, err);
		return NULL;
	}
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, ai->cfg->ai.suggestions_topic,
					  RD_KAFKA_PARTITION_UA);
	kerr = rd_kafka_subscribe(rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (kerr) {
		log_error("ai: cannot subscribe to %s: %s", ai->cfg->ai.suggestions_topic,
			  rd_kafka_err2str(kerr));
		set_cstate(ai, C_ERROR, rd_kafka_err2str(kerr));
		rd_kafka_destroy(rk);
		return NULL;
	}
	set_cstate(ai, C_RUNNING, NULL);
	log_info("ai: reading suggestions from %s (group %s) for node %s",
		 ai->cfg->ai.suggestions_topic, ai->group_id, ai->cfg->node_name);
	while (!__atomic_load_n(&ai->cstop, __ATOMIC_ACQUIRE)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (!m)
			continue;
		if (!m->err) {
			consume_record(ai, m);
		} else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			/* the topic may not exist yet: the worker creates it on its first publish */
			char e[256];

			kafka_conf_scrub(ai->cfg, rd_kafka_message_errstr(m), e, sizeof(e));
			log_debug("ai: suggestions consumer: %s", e);
			set_cstate(ai, C_RUNNING, e);
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	set_cstate(ai, C_STOPPED, NULL);
	return NULL;
}
