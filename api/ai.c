// SPDX-License-Identifier: GPL-2.0
/*
 * The /api/ai endpoints of guarder-api (docs/api.md, docs/ai.md), the
 * service part: start and stop, routing, errors and bodies, and the
 * addresses no AI rule may drop. api/ai.h lists the other files:
 *
 *  - the model settings (GET/POST /api/ai/config; the key is write-only),
 *  - the model calls (POST /api/ai/generate, /api/ai/analyze),
 *  - the suggestions guarder-ai publishes on cfg->ai.suggestions_topic
 *    (GET /api/ai/suggestions, POST .../{id}/apply, .../{id}/reject),
 *  - GET /api/ai/status.
 *
 * A model call may take up to ai.model.timeout_ms (30 s by default), and
 * libmicrohttpd serves every endpoint with only api.threads threads (1 is
 * allowed). So no HTTP thread ever waits for the model: the request is
 * checked, its connection suspended (MHD_suspend_connection), and the job
 * queued for one model thread, which fills the reply and resumes the
 * connection. The HTTP threads stay free for /api/stats and the rest
 * whatever the model does; a queue bound (AI_QUEUE_MAX) answers 503 at
 * once when too many calls wait. One model thread also serialises the
 * calls, which the endpoint's own rate limits favour anyway.
 *
 * Applying a suggestion goes through POST /api/filters/bulk's own code
 * (filters_handle): validation, the protected networks, persistence and
 * the atomic swap, exactly as an operator's bulk add. Before it the AI
 * safety policy (lib/ai_policy.h) checks the rules with the API's recent
 * clients and the DNS resolvers as extra protected addresses.
 *
 * Decisions (applied / rejected) are kept in a small JSON file next to
 * rules.file, written atomically, so a restart, which reads the topic
 * again from its start, does not forget them.
 */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "ai.h"
#include "lib/json_strict.h"
#include "lib/log.h"

__u64 ai_now(void)
{
	return (__u64)time(NULL);
}

void ai_reply_error(struct api_reply *rep, int status, unsigned int retry_after, const char *fmt,
		    ...)
{
	struct json_object *o = json_object_new_object();
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o) {
		json_object_object_add(o, "success", json_object_new_boolean(0));
		json_object_object_add(o, "error", json_object_new_string(msg));
		if (retry_after)
			json_object_object_add(o, "retry_after_s",
					       json_object_new_int64(retry_after));
	}
	reply_json(rep, status, o);
	rep->retry_after = retry_after;
}

int ai_body_object(const struct api_request *req, struct json_object **out, struct api_reply *rep)
{
	char why[JSON_STRICT_ERR_LEN];
	int rc;

	*out = NULL;
	if (!req->body)
		return 0;
	rc = json_strict_parse(req->body, req->body_len, json_type_object, NULL, out, why,
			       sizeof(why));
	if (rc)
		ai_reply_error(rep, rc == -ENOMEM ? 500 : 400, 0, "body: %s", why);
	return rc;
}

struct json_object *ai_reply_json(const struct api_reply *rep)
{
	char why[JSON_STRICT_ERR_LEN];
	struct json_object *o;

	if (!rep->body ||
	    json_strict_parse(rep->body, rep->len, JSON_STRICT_ANY, NULL, &o, why, sizeof(why)))
		return NULL;
	return o;
}

int ai_body_bool(struct json_object *v, const char *name, bool *out, struct api_reply *rep)
{
	if (!json_object_is_type(v, json_type_boolean)) {
		ai_reply_error(rep, 400, 0, "%s: must be true or false", name);
		return -EINVAL;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* ---- addresses protected from AI rules ---- */

/* Remember the client of an /api/ai request: no AI rule may drop it. */
static void note_client(struct ai_service *ai, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	struct net_prefix c;
	size_t i;

	if (!conn)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr || net_from_sockaddr(ci->client_addr, &c))
		return;
	pthread_mutex_lock(&ai->lock);
	for (i = 0; i < ai->n_clients; i++)
		if (!memcmp(&ai->clients[i], &c, sizeof(c)))
			goto out;
	ai->clients[ai->next_client] = c;
	ai->next_client = (ai->next_client + 1) % AI_RECENT_CLIENTS;
	if (ai->n_clients < AI_RECENT_CLIENTS)
		ai->n_clients++;
out:
	pthread_mutex_unlock(&ai->lock);
}

static void read_resolvers(struct ai_service *ai)
{
	FILE *f = fopen("/etc/resolv.conf", "r");
	char line[256], addr[128];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && ai->n_resolvers < AI_MAX_RESOLVERS) {
		if (sscanf(line, " nameserver %127s", addr) == 1 &&
		    !net_parse(addr, NET_PARSE_NO_PREFIX, &ai->resolvers[ai->n_resolvers], NULL, 0))
			ai->n_resolvers++;
	}
	fclose(f);
}

size_t ai_extra_protected(struct ai_service *ai, struct MHD_Connection *conn,
			  struct net_prefix *out, size_t max)
{
	size_t n = 0, i;

	note_client(ai, conn);
	pthread_mutex_lock(&ai->lock);
	for (i = 0; i < ai->n_clients && n < max; i++)
		out[n++] = ai->clients[i];
	for (i = 0; i < ai->n_resolvers && n < max; i++)
		out[n++] = ai->resolvers[i];
	pthread_mutex_unlock(&ai->lock);
	return n;
}

bool ai_handle(struct ai_service *ai, const struct api_request *req, struct api_reply *rep,
	       void **pending)
{
	note_client(ai, req->conn);
	switch (req->route) {
	case ROUTE_AI_CONFIG:
		if (req->method == M_POST)
			ai_post_config(ai, req, rep);
		else
			ai_get_config(ai, rep);
		return false;
	case ROUTE_AI_STATUS:
		ai_get_status(ai, rep);
		return false;
	case ROUTE_AI_GENERATE:
	case ROUTE_AI_ANALYZE:
		return ai_queue_job(ai, req, rep, pending);
	case ROUTE_AI_SUGGESTIONS:
		ai_list_suggestions(ai, req, rep);
		return false;
	case ROUTE_AI_SUGGESTION_APPLY:
		ai_apply_suggestion(ai, req->sid, req->conn, false, rep);
		return false;
	case ROUTE_AI_SUGGESTION_REJECT:
		ai_reject_suggestion(ai, req, rep);
		return false;
	default:
		reply_error(rep, 404, "no such endpoint");
		return false;
	}
}

/* Start @fn(@ai) as *@t; *@started once it runs. Returns 0 or a negative errno (logged). */
static int start_thread(struct ai_service *ai, pthread_t *t, void *(*fn)(void *), const char *what,
			bool *started)
{
	int rc = pthread_create(t, NULL, fn, ai);

	if (rc) {
		log_error("ai: cannot start %s: %s", what, strerror(rc));
		return -rc;
	}
	*started = true;
	return 0;
}

int ai_open(const struct guarder_config *cfg, struct rule_store *store, struct flow_maps *maps,
	    struct ai_service **out)
{
	struct ai_service *ai = calloc(1, sizeof(*ai));
	char err[AI_MODEL_ERR_LEN], dir[PATH_MAX];
	int rc;

	if (!ai)
		return -ENOMEM;
	ai->cfg = cfg;
	ai->store = store;
	ai->maps = maps;
	pthread_mutex_init(&ai->lock, NULL);
	pthread_mutex_init(&ai->qlock, NULL);
	pthread_cond_init(&ai->qcond, NULL);
	rc = ai_model_new(cfg, &ai->model, err, sizeof(err));
	if (rc) {
		log_error("ai: the model settings: %s", err);
		goto fail;
	}
	ai->ring_cap = cfg->ai.max_suggestions ? cfg->ai.max_suggestions : 1000;
	ai->ring = calloc(ai->ring_cap, sizeof(*ai->ring));
	if (!ai->ring) {
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(dir, sizeof(dir), "%s", cfg->rules.file);
	snprintf(ai->decisions_path, sizeof(ai->decisions_path), "%s/ai-decisions.json",
		 dirname(dir));
	ai_decisions_load(ai);
	if (!ai->decisions) {
		rc = -ENOMEM;
		goto fail;
	}
	read_resolvers(ai);
	snprintf(ai->group_id, sizeof(ai->group_id), "guarder-api-%s", cfg->node_name);
	rc = start_thread(ai, &ai->worker, ai_worker_main, "the model thread", &ai->worker_started);
	if (rc)
		goto fail;
	if (cfg->kafka.brokers) {
		ai->cstate = C_STARTING;
		rc = start_thread(ai, &ai->consumer, ai_consumer_main, "the suggestions consumer",
				  &ai->consumer_started);
		if (rc)
			goto fail;
	}
	if (ai_model_configured(ai->model)) {
		struct ai_model_params p;

		ai_model_get_params(ai->model, &p);
		log_info("ai: model %s at %s (%s, key %s)", p.name, p.endpoint,
			 ai_model_provider_name(p.provider), p.key_set ? "set" : "not set");
	}
	*out = ai;
	return 0;
fail:
	ai_quiesce(ai);
	ai_close(ai);
	return rc;
}

void ai_quiesce(struct ai_service *ai)
{
	if (!ai)
		return;
	pthread_mutex_lock(&ai->qlock);
	ai->qstop = true;
	pthread_cond_broadcast(&ai->qcond);
	pthread_mutex_unlock(&ai->qlock);
	/* a call in flight is cut short (503 "stopping"); queued jobs get 503 */
	if (ai->model)
		ai_model_abort(ai->model);
	if (ai->worker_started) {
		pthread_join(ai->worker, NULL);
		ai->worker_started = false;
	}
	if (ai->consumer_started) {
		__atomic_store_n(&ai->cstop, 1, __ATOMIC_RELEASE);
		pthread_join(ai->consumer, NULL);
		ai->consumer_started = false;
	}
}

void ai_close(struct ai_service *ai)
{
	size_t i;

	if (!ai)
		return;
	ai_quiesce(ai);
	for (i = 0; i < ai->ring_n; i++)
		ai_sugg_free(ai_sugg_at(ai, i));
	free(ai->ring);
	json_object_put(ai->decisions);
	ai_model_free(ai->model);
	pthread_mutex_destroy(&ai->lock);
	pthread_mutex_destroy(&ai->qlock);
	pthread_cond_destroy(&ai->qcond);
	free(ai);
}
