// SPDX-License-Identifier: GPL-2.0
/*
 * The model settings and the state of the /api/ai endpoints (api/ai.h):
 * GET/POST /api/ai/config (the key is write-only) and GET /api/ai/status.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ai.h"
#include "lib/log.h"

static struct json_object *config_json(struct ai_service *ai)
{
	struct json_object *o = json_object_new_object();
	struct ai_model_params p;

	if (!o)
		return NULL;
	ai_model_get_params(ai->model, &p);
	json_object_object_add(o, "configured", json_object_new_boolean(p.endpoint[0] != '\0'));
	json_object_object_add(o, "enabled", json_object_new_boolean(p.enabled));
	json_object_object_add(o, "endpoint", json_object_new_string(p.endpoint));
	json_object_object_add(o, "openai_endpoint", json_object_new_string(p.endpoint));
	json_object_object_add(o, "model", json_object_new_string(p.name));
	json_object_object_add(o, "provider",
			       json_object_new_string(ai_model_provider_name(p.provider)));
	json_object_object_add(o, "api_version", json_object_new_string(p.api_version));
	/* write-only: whether a key is set, never the key */
	json_object_object_add(o, "api_key_set", json_object_new_boolean(p.key_set));
	json_object_object_add(o, "timeout", json_object_new_int64((p.timeout_ms + 999) / 1000));
	json_object_object_add(o, "timeout_ms", json_object_new_int64(p.timeout_ms));
	json_object_object_add(o, "max_retries", json_object_new_int64(p.max_retries));
	json_object_object_add(o, "calls_per_minute", json_object_new_int64(p.calls_per_minute));
	json_object_object_add(o, "max_tokens", json_object_new_int64(p.max_tokens));
	json_object_object_add(o, "temperature",
			       p.temperature_milli < 0 ?
				       NULL :
				       json_object_new_double(p.temperature_milli / 1000.0));
	json_object_object_add(o, "debug", json_object_new_boolean(p.debug));
	json_object_object_add(o, "auto_apply", json_object_new_boolean(ai->cfg->ai.auto_apply));
	json_object_object_add(o, "auto_apply_min_confidence_pct",
			       json_object_new_int64(ai->cfg->ai.auto_apply_min_confidence_pct));
	json_object_object_add(o, "rule_ttl", json_object_new_int64(ai->cfg->ai.rule_ttl));
	json_object_object_add(o, "suggestions_topic",
			       json_object_new_string(ai->cfg->ai.suggestions_topic));
	explicit_bzero(&p, sizeof(p));
	return o;
}

static int set_uint(struct json_object *v, const char *name, unsigned long lo, unsigned long hi,
		    unsigned int *out, struct api_reply *rep)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int) ||
	    (x = json_object_get_int64(v)) < (int64_t)lo || x > (int64_t)hi) {
		ai_reply_error(rep, 400, 0, "%s: must be an integer from %lu to %lu", name, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned int)x;
	return 0;
}

static int set_str(struct json_object *v, const char *name, char *out, size_t size, bool nullable,
		   struct api_reply *rep)
{
	if (nullable && json_object_is_type(v, json_type_null)) {
		out[0] = '\0';
		return 0;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= size) {
		ai_reply_error(rep, 400, 0, "%s: must be a string of at most %zu bytes%s", name,
			       size - 1, nullable ? " (or null)" : "");
		return -EINVAL;
	}
	snprintf(out, size, "%s", json_object_get_string(v));
	return 0;
}

/*
 * POST /api/ai/config: a partial update, checked like the config file.
 * The whole API already needs the bearer token when api.token is set
 * (http.c), so nobody changes the endpoint or the key without it. And a
 * new endpoint without a new key in the same request drops the stored
 * key: a key is never sent to an endpoint other than the one it was given
 * for.
 */
/* What a POST /api/ai/config changes besides the settings themselves. */
struct config_change {
	bool new_key, new_endpoint;
};

/* One member of the body onto @p; 0 or -EINVAL with a 400 in @rep. */
static int config_field(struct ai_model_params *p, const struct ai_model_params *old, const char *k,
			struct json_object *v, struct config_change *ch, struct api_reply *rep)
{
	int rc = 0;

	if (!strcmp(k, "endpoint") || !strcmp(k, "openai_endpoint")) {
		rc = set_str(v, k, p->endpoint, sizeof(p->endpoint), true, rep);
		ch->new_endpoint = !rc && strcmp(p->endpoint, old->endpoint);
	} else if (!strcmp(k, "api_key")) {
		rc = set_str(v, k, p->api_key, sizeof(p->api_key), true, rep);
		ch->new_key = true;
		p->key_set = p->api_key[0] != '\0';
	} else if (!strcmp(k, "model") || !strcmp(k, "name")) {
		rc = set_str(v, k, p->name, sizeof(p->name), false, rep);
	} else if (!strcmp(k, "provider")) {
		if (!json_object_is_type(v, json_type_string) ||
		    ai_model_provider_parse(json_object_get_string(v), &p->provider)) {
			ai_reply_error(rep, 400, 0, "provider: must be openai, azure or ollama");
			rc = -EINVAL;
		}
	} else if (!strcmp(k, "api_version")) {
		rc = set_str(v, k, p->api_version, sizeof(p->api_version), true, rep);
	} else if (!strcmp(k, "timeout")) { /* the reference's seconds */
		unsigned int sec = 0;

		rc = set_uint(v, k, 1, 600, &sec, rep);
		p->timeout_ms = sec * 1000;
	} else if (!strcmp(k, "timeout_ms")) {
		rc = set_uint(v, k, 100, 600000, &p->timeout_ms, rep);
	} else if (!strcmp(k, "max_retries")) {
		rc = set_uint(v, k, 0, 10, &p->max_retries, rep);
	} else if (!strcmp(k, "calls_per_minute")) {
		rc = set_uint(v, k, 1, 10000, &p->calls_per_minute, rep);
	} else if (!strcmp(k, "max_tokens")) {
		rc = set_uint(v, k, 64, 32768, &p->max_tokens, rep);
	} else if (!strcmp(k, "temperature")) {
		double t = json_object_get_double(v);

		if (json_object_is_type(v, json_type_null)) {
			p->temperature_milli = -1;
		} else if ((!json_object_is_type(v, json_type_double) &&
			    !json_object_is_type(v, json_type_int)) ||
			   t < 0 || t > 2) {
			ai_reply_error(rep, 400, 0,
				       "temperature: must be a number from 0 to 2 (or null)");
			rc = -EINVAL;
		} else {
			p->temperature_milli = (int)(t * 1000 + 0.5);
		}
	} else if (!strcmp(k, "debug")) {
		rc = ai_body_bool(v, k, &p->debug, rep);
	} else if (!strcmp(k, "enabled")) {
		rc = ai_body_bool(v, k, &p->enabled, rep);
	} else {
		ai_reply_error(rep, 400, 0, "%.64s: unknown field (see GET /api/ai/config)", k);
		rc = -EINVAL;
	}
	return rc;
}

/*
 * POST /api/ai/config: a partial update, checked like the config file.
 * The whole API already needs the bearer token when api.token is set
 * (http.c), so nobody changes the endpoint or the key without it. And a
 * new endpoint without a new key in the same request drops the stored
 * key: a key is never sent to an endpoint other than the one it was given
 * for.
 */
static void post_config_body(struct ai_service *ai, struct json_object *body, struct api_reply *rep)
{
	struct json_object *o, *changed = json_object_new_array();
	struct config_change ch = { 0 };
	char err[AI_MODEL_ERR_LEN], list[256] = "";
	struct ai_model_params p, old;
	bool dropped;

	ai_model_get_params(ai->model, &p);
	old = p;
	json_object_object_foreach(body, k, v)
	{
		if (config_field(&p, &old, k, v, &ch, rep)) {
			json_object_put(changed);
			goto out;
		}
		json_object_array_add(
			changed,
			json_object_new_string(!strcmp(k, "openai_endpoint") ? "endpoint" : k));
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 list[0] ? ", " : "", k);
	}
	dropped = ch.new_endpoint && !ch.new_key && old.key_set;
	if (dropped) {
		/* never send the stored key to a new endpoint */
		p.api_key[0] = '\0';
		p.key_set = false;
	}
	if (ai_model_set_params(ai->model, &p, err, sizeof(err))) {
		json_object_put(changed);
		ai_reply_error(rep, 400, 0, "%s", err);
		goto out;
	}
	/* the names of the changed settings only: never a value (the key) */
	log_info("ai: model settings changed through the API: %s%s", list,
		 dropped ? " (the stored key was dropped: a new endpoint needs its key again)" :
			   "");
	o = config_json(ai);
	if (o) {
		json_object_object_add(o, "changed", changed);
		if (dropped)
			json_object_object_add(
				o, "note",
				json_object_new_string(
					"the endpoint changed without api_key: the "
					"stored key was dropped (send api_key again)"));
	} else {
		json_object_put(changed);
	}
	reply_json(rep, 200, o);
out:
	explicit_bzero(&p, sizeof(p));
	explicit_bzero(&old, sizeof(old));
}

void ai_post_config(struct ai_service *ai, const struct api_request *req, struct api_reply *rep)
{
	struct json_object *body;

	if (ai_body_object(req, &body, rep))
		return;
	if (!body) {
		ai_reply_error(rep, 400, 0,
			       "body: must be a JSON object of the settings to change");
		return;
	}
	post_config_body(ai, body, rep);
	json_object_put(body);
}

void ai_get_status(struct ai_service *ai, struct api_reply *rep)
{
	static const char *const cnames[] = { "off", "starting", "running", "error", "stopped" };
	struct json_object *o = json_object_new_object(), *m, *last, *sg, *w, *c;
	struct ai_model_stats st;
	struct ai_model_params p;
	size_t counts[S_MAX] = { 0 }, i;

	if (!o) {
		reply_error(rep, 500, "out of memory");
		return;
	}
	ai_model_get_params(ai->model, &p);
	ai_model_get_stats(ai->model, &st);
	m = json_object_new_object();
	json_object_object_add(m, "configured", json_object_new_boolean(p.endpoint[0] != '\0'));
	json_object_object_add(m, "enabled", json_object_new_boolean(p.enabled));
	json_object_object_add(m, "model", json_object_new_string(p.name));
	json_object_object_add(m, "provider",
			       json_object_new_string(ai_model_provider_name(p.provider)));
	json_object_object_add(m, "calls", json_object_new_int64((int64_t)st.calls));
	json_object_object_add(m, "failures", json_object_new_int64((int64_t)st.failures));
	json_object_object_add(m, "http_requests",
			       json_object_new_int64((int64_t)st.http_requests));
	json_object_object_add(m, "retries", json_object_new_int64((int64_t)st.retries));
	json_object_object_add(m, "rate_limited", json_object_new_int64((int64_t)st.rate_limited));
	if (st.last_at) {
		last = json_object_new_object();
		json_object_object_add(last, "at", json_object_new_int64((int64_t)st.last_at));
		json_object_object_add(last, "ok", json_object_new_boolean(st.last_rc == 0));
		json_object_object_add(last, "latency_ms",
				       json_object_new_int64(st.last_latency_ms));
		json_object_object_add(last, "http_status",
				       json_object_new_int64(st.last_http_status));
		json_object_object_add(last, "error", json_object_new_string(st.last_error));
	} else {
		last = NULL;
	}
	json_object_object_add(m, "last_call", last);
	json_object_object_add(o, "model", m);

	pthread_mutex_lock(&ai->qlock);
	w = json_object_new_object();
	json_object_object_add(w, "queued", json_object_new_int64((int64_t)ai->qlen));
	json_object_object_add(w, "busy", json_object_new_boolean(ai->busy));
	json_object_object_add(w, "completed", json_object_new_int64((int64_t)ai->jobs_done));
	json_object_object_add(w, "queue_max", json_object_new_int64(AI_QUEUE_MAX));
	pthread_mutex_unlock(&ai->qlock);
	json_object_object_add(o, "model_worker", w);

	pthread_mutex_lock(&ai->lock);
	for (i = 0; i < ai->ring_n; i++)
		counts[ai_sugg_at(ai, i)->state]++;
	sg = json_object_new_object();
	json_object_object_add(sg, "total", json_object_new_int64((int64_t)ai->ring_n));
	json_object_object_add(sg, "max", json_object_new_int64((int64_t)ai->ring_cap));
	json_object_object_add(
		sg, "proposed",
		json_object_new_int64((int64_t)(counts[S_PROPOSED] + counts[S_APPLYING])));
	json_object_object_add(sg, "rejected_by_policy",
			       json_object_new_int64((int64_t)counts[S_POLICY]));
	json_object_object_add(sg, "applied", json_object_new_int64((int64_t)counts[S_APPLIED]));
	json_object_object_add(sg, "rejected", json_object_new_int64((int64_t)counts[S_REJECTED]));
	json_object_object_add(sg, "auto_applied",
			       json_object_new_int64((int64_t)ai->auto_applied));
	json_object_object_add(sg, "apply_failures",
			       json_object_new_int64((int64_t)ai->apply_failures));
	json_object_object_add(o, "suggestions", sg);
	c = json_object_new_object();
	json_object_object_add(c, "state", json_object_new_string(cnames[ai->cstate]));
	json_object_object_add(c, "topic", json_object_new_string(ai->cfg->ai.suggestions_topic));
	json_object_object_add(c, "group_id", json_object_new_string(ai->group_id));
	json_object_object_add(c, "messages", json_object_new_int64((int64_t)ai->cmessages));
	json_object_object_add(c, "other_node", json_object_new_int64((int64_t)ai->cother_node));
	json_object_object_add(c, "bad_records", json_object_new_int64((int64_t)ai->cbad));
	json_object_object_add(c, "last_error", json_object_new_string(ai->clast_error));
	pthread_mutex_unlock(&ai->lock);
	json_object_object_add(o, "consumer", c);
	json_object_object_add(o, "auto_apply", json_object_new_boolean(ai->cfg->ai.auto_apply));
	json_object_object_add(o, "node", json_object_new_string(ai->cfg->node_name));
	explicit_bzero(&p, sizeof(p));
	reply_json(rep, 200, o);
}

void ai_get_config(struct ai_service *ai, struct api_reply *rep)
{
	reply_json(rep, 200, config_json(ai));
}
