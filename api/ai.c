// SPDX-License-Identifier: GPL-2.0
/*
 * The /api/ai endpoints of guarder-api (docs/api.md, docs/ai.md):
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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>

#include "api.h"
#include "lib/ai_model.h"
#include "lib/kafka_conf.h"
#include "lib/log.h"
#include "lib/timeconv.h"

#if __has_include("lib/ai_policy.h")
#include "lib/ai_policy.h"
#define HAVE_AI_POLICY 1
#endif

#define AI_QUEUE_MAX	  4 /* model jobs waiting besides the one running */
#define AI_PROMPT_MAX	  4096 /* bytes of custom_prompt */
#define AI_REASON_MAX	  256 /* bytes of a reject reason */
#define AI_ID_MAX	  40 /* bytes of a suggestion id, with its NUL */
#define AI_TOP_FLOWS	  30 /* flows in the model's summary */
#define AI_FINDINGS_MAX	  20 /* detector findings in an analyze answer / summary */
#define AI_RECENT_CLIENTS 16 /* API client addresses protected from AI rules */
#define AI_MAX_RESOLVERS  8
#define AI_MAX_DECISIONS  20000 /* entries of the decisions file */
#define AI_MAX_SUGG_RULES 256 /* = the config's highest max_rules_per_suggestion */

enum sugg_state {
	S_PROPOSED = 0,
	S_POLICY, /* rejected_by_policy (by the worker) */
	S_APPLYING,
	S_APPLIED,
	S_REJECTED, /* by the operator */
};

static const char *state_name(enum sugg_state s)
{
	switch (s) {
	case S_PROPOSED:
		return "proposed";
	case S_POLICY:
		return "rejected_by_policy";
	case S_APPLYING:
		return "applying";
	case S_APPLIED:
		return "applied";
	case S_REJECTED:
		return "rejected";
	}
	return "proposed";
}

struct sugg {
	char id[AI_ID_MAX];
	struct json_object *rec; /* the record as published */
	enum sugg_state state;
	bool auto_applied;
	bool local; /* made by POST /api/ai/generate or analyze, not from Kafka */
	__u64 decided_at;
	struct json_object *rule_ids; /* applied: the rule ids; else NULL */
	char reason[AI_REASON_MAX]; /* operator's reject reason */
};

struct ai_job {
	struct ai_job *next;
	struct MHD_Connection *conn;
	enum api_route route;
	char analyze_type[16];
	char *custom_prompt;
	bool include_tcp, include_icmp, include_stats;
	struct api_reply rep;
};

enum consumer_state { C_OFF = 0, C_STARTING, C_RUNNING, C_ERROR, C_STOPPED };

struct ai_service {
	const struct guarder_config *cfg;
	struct rule_store *store;
	struct flow_maps *maps;
	struct ai_model *model;
	char decisions_path[PATH_MAX];

	pthread_mutex_t lock; /* the suggestions, decisions, clients, counters below */
	struct sugg **ring; /* arrival order, oldest at head */
	size_t ring_head, ring_n, ring_cap;
	struct json_object *decisions; /* id -> {state, at, rule_ids, reason, auto} */
	struct net_prefix clients[AI_RECENT_CLIENTS];
	size_t n_clients, next_client;
	struct net_prefix resolvers[AI_MAX_RESOLVERS];
	size_t n_resolvers;
	__u64 auto_applied, apply_failures;

	/* the model thread */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct ai_job *qhead, *qtail;
	size_t qlen;
	bool busy, qstop;
	__u64 jobs_done;
	pthread_t worker;
	bool worker_started;

	/* the suggestions consumer */
	pthread_t consumer;
	bool consumer_started;
	volatile int cstop;
	enum consumer_state cstate;
	char group_id[128];
	char clast_error[512];
	__u64 cmessages, cother_node, cbad;
};

static __u64 now_unix(void)
{
	return (__u64)time(NULL);
}

static void reply_ai_error(struct api_reply *rep, int status, unsigned int retry_after,
			   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Errors of these endpoints: {"success": false, "error": "...", "retry_after_s": N}. */
static void reply_ai_error(struct api_reply *rep, int status, unsigned int retry_after,
			   const char *fmt, ...)
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

/* The extra protected addresses: recent API clients, then the resolvers. */
static size_t extra_protected(struct ai_service *ai, struct MHD_Connection *conn,
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

/*
 * The safety policy over a rule set: lib/ai_policy.h when it is built in,
 * else the same checks from lib/rule.h. Returns 0 or -EPERM/-EINVAL + @why.
 */
static int policy(struct ai_service *ai, const struct rule *rules, size_t n,
		  const struct net_prefix *extra, size_t n_extra, char *why, size_t len)
{
#ifdef HAVE_AI_POLICY
	return ai_policy_check(ai->cfg, rules, n, extra, n_extra, why, len);
#else
	const struct guarder_config *cfg = ai->cfg;
	char err[RULE_ERR_LEN];
	size_t i;

	if (n < 1 || n > cfg->ai.max_rules_per_suggestion) {
		snprintf(why, len, "%zu rules: a suggestion holds 1 to %u", n,
			 cfg->ai.max_rules_per_suggestion);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (rule_validate(&rules[i], err, sizeof(err))) {
			snprintf(why, len, "rule %zu: %s", i, err);
			return -EINVAL;
		}
		if (!rules[i].expires_at) {
			snprintf(why, len, "rule %zu: expires_at: an AI rule must expire", i);
			return -EINVAL;
		}
		if (rule_is_match_all(&rules[i])) {
			snprintf(why, len, "rule %zu: an all-wildcard drop rule is never proposed",
				 i);
			return -EPERM;
		}
		if (rule_touches_protected(&rules[i], cfg->rules.protected_networks,
					   cfg->rules.n_protected_networks,
					   cfg->rules.protected_ports, cfg->rules.n_protected_ports,
					   err, sizeof(err)) ||
		    rule_touches_protected(&rules[i], extra, n_extra, NULL, 0, err, sizeof(err))) {
			snprintf(why, len, "rule %zu: %s", i, err);
			return -EPERM;
		}
	}
	return 0;
#endif
}

/* ---- decisions file ---- */

static void decisions_load(struct ai_service *ai)
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

/* Write the decisions atomically: temp file, fsync, rename. Caller holds ai->lock. */
static int decisions_save(struct ai_service *ai)
{
	char tmp[PATH_MAX + 32], dir[PATH_MAX];
	struct json_object *top;
	const char *text;
	size_t len, off = 0;
	int fd, rc = 0;

	/* bounded: forget the oldest decisions first (by "at") */
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
	top = json_object_new_object();
	if (!top)
		return -ENOMEM;
	json_object_object_add(top, "version", json_object_new_int(1));
	json_object_object_add(top, "decisions", json_object_get(ai->decisions));
	text = json_object_to_json_string_length(top, JSON_C_TO_STRING_PLAIN, &len);
	snprintf(dir, sizeof(dir), "%s", ai->decisions_path);
	mkdir(dirname(dir), 0700);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", ai->decisions_path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, ai->decisions_path))
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	if (rc)
		log_error("ai: cannot write %s: %s (the decision holds until a restart)",
			  ai->decisions_path, strerror(-rc));
	json_object_put(top);
	return rc;
}

/* Record @s's decision; caller holds ai->lock. */
static void decision_record(struct ai_service *ai, const struct sugg *s)
{
	struct json_object *d = json_object_new_object();

	if (!d)
		return;
	json_object_object_add(d, "state", json_object_new_string(state_name(s->state)));
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

static void sugg_free(struct sugg *s)
{
	if (!s)
		return;
	json_object_put(s->rec);
	json_object_put(s->rule_ids);
	free(s);
}

/* Caller holds ai->lock. */
static struct sugg *sugg_find(struct ai_service *ai, const char *id)
{
	size_t i;

	for (i = 0; i < ai->ring_n; i++) {
		struct sugg *s = ai->ring[(ai->ring_head + i) % ai->ring_cap];

		if (!strcmp(s->id, id))
			return s;
	}
	return NULL;
}

/* Add @s (the ring keeps the newest ring_cap); caller holds ai->lock. */
static void sugg_add(struct ai_service *ai, struct sugg *s)
{
	if (ai->ring_n == ai->ring_cap) {
		sugg_free(ai->ring[ai->ring_head]);
		ai->ring[ai->ring_head] = s;
		ai->ring_head = (ai->ring_head + 1) % ai->ring_cap;
		return;
	}
	ai->ring[(ai->ring_head + ai->ring_n) % ai->ring_cap] = s;
	ai->ring_n++;
}

static const char *rec_str(struct json_object *rec, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(rec, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A suggestion as the API lists it: the record plus the API's own state. */
static struct json_object *sugg_json(const struct sugg *s)
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
	json_object_object_add(o, "state", json_object_new_string(state_name(s->state)));
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
			out[i].expires_at = now_unix() + ai->cfg->ai.rule_ttl;
	}
	return (long)n;
}

/*
 * Apply suggestion @id through the bulk rule path. @conn: the operator's
 * connection (NULL for auto-apply). Fills @rep (200 with the rule ids, or
 * the error). The state moves proposed -> applying -> applied, or back.
 */
static void apply_suggestion(struct ai_service *ai, const char *id, struct MHD_Connection *conn,
			     bool automatic, struct api_reply *rep)
{
	struct net_prefix extra[AI_RECENT_CLIENTS + AI_MAX_RESOLVERS];
	struct api_request breq = { .route = ROUTE_FILTERS_BULK, .method = M_POST };
	struct api_reply brep = { .total = -1 };
	struct json_object *rec = NULL, *body = NULL, *arr, *res = NULL, *ids = NULL, *o;
	struct rule *rules = NULL;
	char why[512];
	size_t n_extra, i;
	struct sugg *s;
	long n;
	int rc;

	pthread_mutex_lock(&ai->lock);
	s = sugg_find(ai, id);
	if (!s) {
		pthread_mutex_unlock(&ai->lock);
		reply_ai_error(rep, 404, 0, "no such suggestion: %.40s", id);
		return;
	}
	if (s->state != S_PROPOSED) {
		const char *st = state_name(s->state);

		pthread_mutex_unlock(&ai->lock);
		if (s->state == S_POLICY)
			reply_ai_error(rep, 409, 0,
				       "suggestion %s was rejected by the safety policy (%s); it "
				       "cannot be applied",
				       id, rec_str(s->rec, "policy_reason") ?: "no reason given");
		else
			reply_ai_error(rep, 409, 0, "suggestion %s is already %s", id, st);
		return;
	}
	s->state = S_APPLYING;
	rec = json_object_get(s->rec);
	pthread_mutex_unlock(&ai->lock);

	rules = calloc(AI_MAX_SUGG_RULES, sizeof(*rules));
	if (!rules) {
		reply_ai_error(rep, 500, 0, "out of memory");
		goto fail;
	}
	n = sugg_rules(ai, rec, rules, AI_MAX_SUGG_RULES, why, sizeof(why));
	if (n < 0) {
		reply_ai_error(rep, 409, 0, "suggestion %s cannot be applied: %s", id, why);
		goto fail;
	}
	n_extra = extra_protected(ai, conn, extra, sizeof(extra) / sizeof(extra[0]));
	rc = policy(ai, rules, (size_t)n, extra, n_extra, why, sizeof(why));
	if (rc) {
		reply_ai_error(rep, 422, 0, "suggestion %s refused by the safety policy: %s", id,
			       why);
		goto fail;
	}
	body = json_object_new_object();
	arr = json_object_new_array();
	if (!body || !arr) {
		json_object_put(arr);
		reply_ai_error(rep, 500, 0, "out of memory");
		goto fail;
	}
	json_object_object_add(body, "mode", json_object_new_string("add"));
	json_object_object_add(body, "rules", arr);
	for (i = 0; i < (size_t)n; i++) {
		o = rule_to_json(&rules[i]);
		if (!o) {
			reply_ai_error(rep, 500, 0, "out of memory");
			goto fail;
		}
		json_object_object_del(o, "id");
		json_object_array_add(arr, o);
	}
	breq.body = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, &breq.body_len);
	/* no connection: the bulk code reads no query argument (force stays off) */
	filters_handle(ai->store, &breq, &brep);
	if (brep.status != 200) {
		struct json_object *e = brep.body ? json_tokener_parse(brep.body) : NULL, *m;

		reply_ai_error(
			rep, brep.status, 0, "suggestion %s: the rule set refused it: %s", id,
			e && json_object_object_get_ex(e, "error", &m) ? json_object_get_string(m) :
									 "unknown error");
		json_object_put(e);
		goto fail;
	}
	res = json_tokener_parse(brep.body);
	if (!res || !json_object_object_get_ex(res, "ids", &ids)) {
		reply_ai_error(rep, 500, 0, "the rule store's answer has no ids");
		goto fail;
	}
	pthread_mutex_lock(&ai->lock);
	s = sugg_find(ai, id);
	if (s) {
		s->state = S_APPLIED;
		s->auto_applied = automatic;
		s->decided_at = now_unix();
		s->rule_ids = json_object_get(ids);
		decision_record(ai, s);
	} else {
		/* pushed out of the list meanwhile: still remember the decision */
		struct sugg tmp = { .state = S_APPLIED,
				    .auto_applied = automatic,
				    .decided_at = now_unix(),
				    .rule_ids = ids };

		snprintf(tmp.id, sizeof(tmp.id), "%s", id);
		decision_record(ai, &tmp);
	}
	if (automatic)
		ai->auto_applied++;
	pthread_mutex_unlock(&ai->lock);
	log_info("ai: suggestion %s applied%s as rule(s) %s", id, automatic ? " automatically" : "",
		 json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN));
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

static void reject_suggestion(struct ai_service *ai, const struct api_request *req,
			      struct api_reply *rep)
{
	char reason[AI_REASON_MAX] = "";
	struct json_object *body = NULL, *v, *o;
	struct sugg *s;

	if (req->body) {
		body = json_tokener_parse(req->body);
		if (!body || !json_object_is_type(body, json_type_object)) {
			json_object_put(body);
			reply_ai_error(rep, 400, 0,
				       "body: must be a JSON object {\"reason\": ...}");
			return;
		}
		json_object_object_foreach(body, k, val)
		{
			if (strcmp(k, "reason")) {
				json_object_put(body);
				reply_ai_error(rep, 400, 0,
					       "%.64s: unknown field (reject takes reason)", k);
				return;
			}
			(void)val;
		}
		if (json_object_object_get_ex(body, "reason", &v)) {
			const char *r;
			size_t i;

			if (!json_object_is_type(v, json_type_string) ||
			    json_object_get_string_len(v) >= AI_REASON_MAX) {
				json_object_put(body);
				reply_ai_error(rep, 400, 0,
					       "reason: must be a string of at most %d bytes",
					       AI_REASON_MAX - 1);
				return;
			}
			r = json_object_get_string(v);
			for (i = 0; r[i]; i++)
				reason[i] = (unsigned char)r[i] < 0x20 ? ' ' : r[i];
			reason[i] = '\0';
		}
		json_object_put(body);
	}
	pthread_mutex_lock(&ai->lock);
	s = sugg_find(ai, req->sid);
	if (!s) {
		pthread_mutex_unlock(&ai->lock);
		reply_ai_error(rep, 404, 0, "no such suggestion: %.40s", req->sid);
		return;
	}
	if (s->state != S_PROPOSED && s->state != S_POLICY) {
		reply_ai_error(rep, 409, 0, "suggestion %s is already %s%s", s->id,
			       state_name(s->state),
			       s->state == S_APPLIED ? " (delete its rules with DELETE "
						       "/api/filters/{id})" :
						       "");
		pthread_mutex_unlock(&ai->lock);
		return;
	}
	s->state = S_REJECTED;
	s->decided_at = now_unix();
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	decision_record(ai, s);
	o = sugg_json(s);
	pthread_mutex_unlock(&ai->lock);
	log_info("ai: suggestion %s rejected by the operator", req->sid);
	reply_json(rep, 200, o);
}

static void list_suggestions(struct ai_service *ai, const struct api_request *req,
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
		struct sugg *s = ai->ring[(ai->ring_head + i) % ai->ring_cap];
		const char *og = rec_str(s->rec, "origin");

		if (state && strcmp(state, state_name(s->state)))
			continue;
		if (origin && (!og || strcmp(origin, og)))
			continue;
		if (seen++ < offset || json_object_array_length(arr) >= limit)
			continue;
		json_object_array_add(arr, sugg_json(s));
	}
	pthread_mutex_unlock(&ai->lock);
	rep->total = (long long)seen;
	reply_json(rep, 200, arr);
}

/*
 * Take one suggestion record from Kafka (or made locally). Returns the
 * suggestion's id when it should be auto-applied (@auto_id), else "".
 */
static void take_record(struct ai_service *ai, struct json_object *rec, bool local, char *auto_id,
			size_t auto_len)
{
	const struct guarder_config *cfg = ai->cfg;
	const char *id = rec_str(rec, "id"), *node = rec_str(rec, "node");
	const char *status = rec_str(rec, "status"), *origin = rec_str(rec, "origin");
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
		sugg_free(s);
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

static void *consumer_main(void *arg)
{
	struct ai_service *ai = arg;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t kerr;
	char err[512], auto_id[AI_ID_MAX];
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
		struct json_object *rec;

		if (!m)
			continue;
		if (m->err) {
			/* the topic may not exist yet: the worker creates it on its first publish */
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				char e[256];

				kafka_conf_scrub(ai->cfg, rd_kafka_message_errstr(m), e, sizeof(e));
				log_debug("ai: suggestions consumer: %s", e);
				set_cstate(ai, C_RUNNING, e);
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		pthread_mutex_lock(&ai->lock);
		ai->cmessages++;
		pthread_mutex_unlock(&ai->lock);
		/* the payload is not NUL-terminated: parse with its length */
		{
			struct json_tokener *tok = json_tokener_new();

			rec = tok ? json_tokener_parse_ex(
					    tok, m->payload ? (const char *)m->payload : "",
					    (int)m->len) :
				    NULL;
			json_tokener_free(tok);
		}
		if (!rec || !json_object_is_type(rec, json_type_object)) {
			pthread_mutex_lock(&ai->lock);
			ai->cbad++;
			pthread_mutex_unlock(&ai->lock);
			log_warn("ai: %s[%d]@%lld: not a JSON object, ignored",
				 ai->cfg->ai.suggestions_topic, (int)m->partition,
				 (long long)m->offset);
		} else {
			take_record(ai, rec, false, auto_id, sizeof(auto_id));
			if (auto_id[0]) {
				struct api_reply rep = { .total = -1 };

				apply_suggestion(ai, auto_id, NULL, true, &rep);
				if (rep.status != 200)
					log_warn("ai: auto-apply of %s failed: %s", auto_id,
						 rep.body ? rep.body : "");
				free(rep.body);
			}
		}
		json_object_put(rec);
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	set_cstate(ai, C_STOPPED, NULL);
	return NULL;
}

/* ---- the model calls ---- */

static const char *const type_focus[] = {
	"security",
	"Find attacks and abuse: port scans, SYN floods, brute force on remote-access "
	"ports, ICMP floods, UDP reflection. Propose drop rules for the offending "
	"sources only.",
	"performance",
	"Find traffic that wastes capacity: floods, retransmission storms, "
	"heavy hitters that look abusive. Propose rules only for clearly abusive "
	"sources.",
	"balanced",
	"Weigh security and availability: block clear attacks, never legitimate "
	"heavy users.",
	"custom",
	"Follow the operator's instructions below.",
};

static const char system_prompt[] =
	"You are the traffic analyst of Guarder, an XDP packet filter on one Linux host. You get "
	"a bounded summary of the host's traffic (counters, the top flows, detector findings). "
	"Answer with ONE JSON object and nothing else: {\"analysis\": string (a few sentences), "
	"\"suggestions\": [string], \"rules\": [rule]}. A rule is {\"rule_type\": \"basic\"|"
	"\"tcp\"|\"udp\"|\"icmp\", \"src_ip\": \"a.b.c.d or CIDR\", \"dst_ip\": \"...\", "
	"\"src_port\": number or \"low-high\", \"dst_port\": number or \"low-high\", \"action\": "
	"\"drop\", \"priority\": integer (lower first), \"comment\": short string}. "
	"Omit the fields you do not need. Only drop rules are accepted, and every one must name "
	"a source address or a port: never a rule that drops all traffic. Propose at most %u rules; an empty list is "
	"a good answer when nothing is wrong. Focus: %s";

/* Append a bounded summary of this node's traffic and findings to @out. */
static void build_summary(struct ai_service *ai, const struct ai_job *job, FILE *out)
{
	struct api_request req = { .method = M_GET };
	struct api_reply rep = { .total = -1 };
	struct json_object *j, *flows;
	size_t i, n;

	fprintf(out, "Node: %s. Time: %llu (unix).\n", ai->cfg->node_name,
		(unsigned long long)now_unix());
	if (job->include_stats) {
		req.route = ROUTE_STATS;
		flows_handle(ai->maps, &req, &rep);
		if (rep.status == 200 && rep.body)
			fprintf(out, "Counters: %.4000s\n", rep.body);
		else
			fprintf(out, "Counters: unavailable (the flow tracker is not loaded)\n");
		free(rep.body);
		rep = (struct api_reply){ .total = -1 };
	}
	if (job->include_tcp || job->include_icmp) {
		req.route = ROUTE_CONNECTIONS;
		flows_handle(ai->maps, &req, &rep);
		j = rep.status == 200 && rep.body ? json_tokener_parse(rep.body) : NULL;
		flows = j && json_object_is_type(j, json_type_array) ? j : NULL;
		if (!flows && j)
			json_object_object_get_ex(j, "connections", &flows);
		if (flows && json_object_is_type(flows, json_type_array)) {
			struct json_object **v;
			size_t kept = 0;

			n = json_object_array_length(flows);
			v = calloc(n + 1, sizeof(*v));
			for (i = 0; v && i < n; i++) {
				struct json_object *f = json_object_array_get_idx(flows, i), *p;
				const char *proto = json_object_object_get_ex(f, "protocol", &p) ?
							    json_object_get_string(p) :
							    "";
				bool icmp = !strncasecmp(proto, "icmp", 4);

				if ((icmp && job->include_icmp) || (!icmp && job->include_tcp))
					v[kept++] = f;
			}
			/* the heaviest flows by bytes: a selection sort of the top N */
			fprintf(out, "Top flows by bytes (%zu of %zu tracked):\n",
				kept < AI_TOP_FLOWS ? kept : AI_TOP_FLOWS, n);
			for (i = 0; v && i < kept && i < AI_TOP_FLOWS; i++) {
				size_t k, best = i;
				struct json_object *b, *f;

				for (k = i + 1; k < kept; k++) {
					struct json_object *x, *y;

					json_object_object_get_ex(v[k], "bytes", &x);
					json_object_object_get_ex(v[best], "bytes", &y);
					if (json_object_get_int64(x) > json_object_get_int64(y))
						best = k;
				}
				f = v[best];
				v[best] = v[i];
				v[i] = f;
				json_object_object_get_ex(f, "key", &b);
				{
					struct json_object *pk, *by;

					json_object_object_get_ex(f, "packets", &pk);
					json_object_object_get_ex(f, "bytes", &by);
					fprintf(out, "- %.120s packets=%lld bytes=%lld\n",
						json_object_get_string(b),
						(long long)json_object_get_int64(pk),
						(long long)json_object_get_int64(by));
				}
			}
			free(v);
		} else {
			fprintf(out, "Flows: unavailable (the flow tracker is not loaded)\n");
		}
		json_object_put(j);
		free(rep.body);
	}
	/* the detectors' recent findings for this node */
	pthread_mutex_lock(&ai->lock);
	n = 0;
	for (i = ai->ring_n; i-- > 0 && n < AI_FINDINGS_MAX;) {
		struct sugg *s = ai->ring[(ai->ring_head + i) % ai->ring_cap];
		const char *og = rec_str(s->rec, "origin"), *sum = rec_str(s->rec, "summary");

		if (!og || strcmp(og, "detector"))
			continue;
		if (!n++)
			fprintf(out, "Recent detector findings:\n");
		fprintf(out, "- %.40s: %.300s (state %s)\n", rec_str(s->rec, "kind") ?: "?",
			sum ?: "", state_name(s->state));
	}
	pthread_mutex_unlock(&ai->lock);
	if (!n)
		fprintf(out, "Recent detector findings: none.\n");
}

static void random_id(char *out, size_t len)
{
	unsigned long long r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32) ^
		    (unsigned long long)(uintptr_t)out;
	snprintf(out, len, "s-%016llx", r);
}

/* A JSON string of at most @max bytes of @s, never cutting a UTF-8 sequence. */
static struct json_object *string_cut(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max) {
		n = max;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* s[n] continues a sequence: cut before its lead byte */
	}
	return json_object_new_string_len(s, (int)n);
}

/* Status and message of a model error (see ai_model_ask). */
static void reply_model_error(struct api_reply *rep, int rc, const char *err)
{
	switch (rc) {
	case -ENOTCONN:
	case -ECANCELED:
		reply_ai_error(rep, 503, 0, "%s", err);
		break;
	case -EBUSY:
		reply_ai_error(rep, 429, ai_model_retry_after_s(), "%s", err);
		break;
	case -ETIMEDOUT:
		reply_ai_error(rep, 504, 0, "%s", err);
		break;
	case -ENOMEM:
	case -EINVAL:
		reply_ai_error(rep, 500, 0, "%s", err);
		break;
	default: /* -EHOSTUNREACH, -EACCES, -EIO, -EBADMSG: the upstream failed */
		reply_ai_error(rep, 502, 0, "%s", err);
		break;
	}
}

/* Run one generate/analyze job on the model thread: fills job->rep. */
static void run_job(struct ai_service *ai, struct ai_job *job)
{
	const struct guarder_config *cfg = ai->cfg;
	struct net_prefix extra[AI_RECENT_CLIENTS + AI_MAX_RESOLVERS];
	struct ai_model_reject rej[32];
	struct json_object *answer = NULL, *o = NULL, *filters, *rejected, *sugs, *v;
	struct ai_model_params p;
	struct rule *rules = NULL;
	char *user = NULL, *sys = NULL, err[AI_MODEL_ERR_LEN], why[512];
	size_t ulen = 0, slen = 0, n = 0, n_rej = 0, i, n_extra, n_ok = 0;
	const char *focus = "";
	struct timespec t0, t1;
	FILE *f;
	int rc;

	for (i = 0; i < sizeof(type_focus) / sizeof(type_focus[0]); i += 2)
		if (!strcmp(job->analyze_type, type_focus[i]))
			focus = type_focus[i + 1];
	f = open_memstream(&sys, &slen);
	if (f) {
		fprintf(f, system_prompt, cfg->ai.max_rules_per_suggestion, focus);
		fclose(f);
	}
	f = open_memstream(&user, &ulen);
	if (f) {
		if (job->custom_prompt)
			fprintf(f, "Operator's instructions: %s\n\n", job->custom_prompt);
		build_summary(ai, job, f);
		fclose(f);
	}
	if (!sys || !user) {
		reply_ai_error(&job->rep, 500, 0, "out of memory");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = ai_model_ask(ai->model, sys, user, &answer, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		reply_model_error(&job->rep, rc, err);
		goto out;
	}
	rules = calloc(AI_MAX_SUGG_RULES, sizeof(*rules));
	if (!rules) {
		reply_ai_error(&job->rep, 500, 0, "out of memory");
		goto out;
	}
	rc = ai_model_rules_from_answer(answer, now_unix() + cfg->ai.rule_ttl, rules,
					cfg->ai.max_rules_per_suggestion, &n, rej,
					sizeof(rej) / sizeof(rej[0]), &n_rej, err, sizeof(err));
	if (rc) {
		reply_ai_error(&job->rep, 502, 0, "model answer not usable: %s", err);
		goto out;
	}
	o = json_object_new_object();
	filters = json_object_new_array();
	rejected = json_object_new_array();
	sugs = json_object_new_array();
	if (!o || !filters || !rejected || !sugs) {
		json_object_put(filters);
		json_object_put(rejected);
		json_object_put(sugs);
		reply_ai_error(&job->rep, 500, 0, "out of memory");
		goto out;
	}
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "source", json_object_new_string("model"));
	json_object_object_add(o, "analyze_type", json_object_new_string(job->analyze_type));
	json_object_object_add(o, "analysis",
			       json_object_new_string(rec_str(answer, "analysis") ?: ""));
	if (json_object_is_type(answer, json_type_object) &&
	    json_object_object_get_ex(answer, "suggestions", &v) &&
	    json_object_is_type(v, json_type_array)) {
		for (i = 0; i < json_object_array_length(v) && i < 20; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);

			if (json_object_is_type(e, json_type_string))
				json_object_array_add(sugs,
						      string_cut(json_object_get_string(e), 500));
		}
	}
	json_object_object_add(o, "suggestions", sugs);
	for (i = 0; i < n_rej && i < sizeof(rej) / sizeof(rej[0]); i++) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "index", json_object_new_int64((int64_t)rej[i].index));
		json_object_object_add(r, "reason", json_object_new_string(rej[i].reason));
		json_object_array_add(rejected, r);
	}
	/* the policy, rule by rule: one bad rule does not hide the good ones */
	n_extra = extra_protected(ai, NULL, extra, sizeof(extra) / sizeof(extra[0]));
	for (i = 0; i < n; i++) {
		if (policy(ai, &rules[i], 1, extra, n_extra, why, sizeof(why))) {
			struct json_object *r = json_object_new_object(),
					   *rj = rule_to_json(&rules[i]);

			if (rj)
				json_object_object_del(rj, "id");
			json_object_object_add(r, "reason", json_object_new_string(why));
			json_object_object_add(r, "rule", rj);
			json_object_object_add(r, "policy", json_object_new_boolean(1));
			json_object_array_add(rejected, r);
			continue;
		}
		rules[n_ok++] = rules[i];
	}
	for (i = 0; i < n_ok; i++) {
		struct json_object *rj = rule_to_json(&rules[i]);

		if (rj)
			json_object_object_del(rj, "id");
		json_object_array_add(filters, rj);
	}
	json_object_object_add(o, "filters", filters);
	json_object_object_add(o, "rejected", rejected);
	/* usable rules become a local suggestion: reviewed and applied in one step */
	if (n_ok) {
		struct json_object *rec = json_object_new_object();
		char id[AI_ID_MAX], ts[64], auto_id[AI_ID_MAX];
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		format_rfc3339_ns((uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec, ts,
				  sizeof(ts));
		random_id(id, sizeof(id));
		json_object_object_add(rec, "schema_version", json_object_new_int(1));
		json_object_object_add(rec, "id", json_object_new_string(id));
		json_object_object_add(rec, "created_at", json_object_new_string(ts));
		json_object_object_add(rec, "node", json_object_new_string(cfg->node_name));
		json_object_object_add(rec, "origin", json_object_new_string("model"));
		json_object_object_add(rec, "kind", json_object_new_string("model"));
		json_object_object_add(rec, "confidence", json_object_new_double(0.5));
		json_object_object_add(
			rec, "summary",
			string_cut(rec_str(answer, "analysis") && *rec_str(answer, "analysis") ?
					   rec_str(answer, "analysis") :
					   "rules proposed by the model",
				   300));
		json_object_object_add(rec, "evidence", json_object_new_object());
		json_object_object_add(rec, "rules", json_object_get(filters));
		json_object_object_add(rec, "status", json_object_new_string("proposed"));
		take_record(ai, rec, true, auto_id, sizeof(auto_id)); /* model: never auto */
		json_object_put(rec);
		json_object_object_add(o, "suggestion_id", json_object_new_string(id));
	}
	ai_model_get_params(ai->model, &p);
	json_object_object_add(o, "model", json_object_new_string(p.name));
	json_object_object_add(o, "tokens_used",
			       json_object_new_int64((int64_t)ai_model_last_tokens()));
	json_object_object_add(o, "latency_ms",
			       json_object_new_int64((t1.tv_sec - t0.tv_sec) * 1000 +
						     (t1.tv_nsec - t0.tv_nsec) / 1000000));
	reply_json(&job->rep, 200, o);
	o = NULL;
out:
	json_object_put(o);
	json_object_put(answer);
	free(rules);
	free(sys);
	free(user);
}

static void job_free(struct ai_job *job)
{
	if (!job)
		return;
	free(job->custom_prompt);
	free(job->rep.body);
	free(job);
}

static void *worker_main(void *arg)
{
	struct ai_service *ai = arg;

	for (;;) {
		struct ai_job *job;

		pthread_mutex_lock(&ai->qlock);
		while (!ai->qhead && !ai->qstop)
			pthread_cond_wait(&ai->qcond, &ai->qlock);
		job = ai->qhead;
		if (job) {
			ai->qhead = job->next;
			if (!ai->qhead)
				ai->qtail = NULL;
			ai->qlen--;
			ai->busy = true;
		}
		pthread_mutex_unlock(&ai->qlock);
		if (!job)
			break; /* stopping and the queue is empty */
		if (ai->qstop)
			reply_ai_error(&job->rep, 503, 0, "guarder-api is stopping");
		else
			run_job(ai, job);
		pthread_mutex_lock(&ai->qlock);
		ai->busy = false;
		ai->jobs_done++;
		pthread_mutex_unlock(&ai->qlock);
		/* the last touch: from here the connection's thread owns the job */
		MHD_resume_connection(job->conn);
	}
	return NULL;
}

/* ---- requests ---- */

static int get_bool(struct json_object *v, const char *name, bool *out, struct api_reply *rep)
{
	if (!json_object_is_type(v, json_type_boolean)) {
		reply_ai_error(rep, 400, 0, "%s: must be true or false", name);
		return -EINVAL;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* Parse a generate/analyze body into @job. Returns 0 or -EINVAL with a 400 in @rep. */
static int parse_job(const struct api_request *req, struct ai_job *job, struct api_reply *rep)
{
	struct json_object *body = NULL;
	struct json_tokener *tok;
	bool generate = req->route == ROUTE_AI_GENERATE;
	int rc = -EINVAL;

	snprintf(job->analyze_type, sizeof(job->analyze_type), "%s",
		 generate ? "security" : "balanced");
	job->include_tcp = job->include_icmp = job->include_stats = true;
	if (!req->body)
		return 0;
	tok = json_tokener_new();
	if (!tok) {
		reply_ai_error(rep, 500, 0, "out of memory");
		return -ENOMEM;
	}
	body = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	if (!body || !json_object_is_type(body, json_type_object)) {
		reply_ai_error(rep, 400, 0, "body: must be one JSON object");
		goto out;
	}
	{
		json_object_object_foreach(body, k, v)
		{
			if (!strcmp(k, "analyze_type") && generate) {
				const char *t = json_object_is_type(v, json_type_string) ?
							json_object_get_string(v) :
							"";

				if (strcmp(t, "security") && strcmp(t, "performance") &&
				    strcmp(t, "balanced") && strcmp(t, "custom")) {
					reply_ai_error(
						rep, 400, 0,
						"analyze_type: must be security, performance, "
						"balanced or custom");
					goto out;
				}
				snprintf(job->analyze_type, sizeof(job->analyze_type), "%s", t);
			} else if (!strcmp(k, "custom_prompt")) {
				if (!json_object_is_type(v, json_type_string)) {
					reply_ai_error(rep, 400, 0,
						       "custom_prompt: must be a string");
					goto out;
				}
				if (json_object_get_string_len(v) > AI_PROMPT_MAX) {
					reply_ai_error(rep, 400, 0,
						       "custom_prompt: at most %d bytes",
						       AI_PROMPT_MAX);
					goto out;
				}
				free(job->custom_prompt);
				job->custom_prompt = strdup(json_object_get_string(v));
			} else if (!strcmp(k, "include_tcp")) {
				if (get_bool(v, k, &job->include_tcp, rep))
					goto out;
			} else if (!strcmp(k, "include_icmp")) {
				if (get_bool(v, k, &job->include_icmp, rep))
					goto out;
			} else if (!strcmp(k, "include_stats")) {
				if (get_bool(v, k, &job->include_stats, rep))
					goto out;
			} else {
				reply_ai_error(rep, 400, 0,
					       "%.64s: unknown field (this endpoint takes %s"
					       "custom_prompt, include_tcp, include_icmp, "
					       "include_stats)",
					       k, generate ? "analyze_type, " : "");
				goto out;
			}
		}
	}
	if (!strcmp(job->analyze_type, "custom") &&
	    (!job->custom_prompt || !job->custom_prompt[0])) {
		reply_ai_error(rep, 400, 0, "custom_prompt: required with analyze_type custom");
		goto out;
	}
	rc = 0;
out:
	json_object_put(body);
	json_tokener_free(tok);
	return rc;
}

/* POST /api/ai/analyze without a model: the detector findings, said so. */
static void analyze_fallback(struct ai_service *ai, struct api_reply *rep)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	size_t i, n = 0, total = 0;
	char msg[256];

	if (!o || !arr) {
		json_object_put(o);
		json_object_put(arr);
		reply_error(rep, 500, "out of memory");
		return;
	}
	pthread_mutex_lock(&ai->lock);
	for (i = ai->ring_n; i-- > 0;) {
		struct sugg *s = ai->ring[(ai->ring_head + i) % ai->ring_cap];
		const char *og = rec_str(s->rec, "origin");

		if (!og || strcmp(og, "detector"))
			continue;
		total++;
		if (n++ < AI_FINDINGS_MAX)
			json_object_array_add(arr, sugg_json(s));
	}
	pthread_mutex_unlock(&ai->lock);
	snprintf(msg, sizeof(msg), "%zu detector finding(s) for node %s%s", total,
		 ai->cfg->node_name, total > AI_FINDINGS_MAX ? " (the newest 20 listed)" : "");
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "source", json_object_new_string("detectors"));
	json_object_object_add(o, "model_used", json_object_new_boolean(0));
	json_object_object_add(
		o, "note",
		json_object_new_string("no model configured (ai.model.endpoint): "
				       "these are the built-in detectors' findings"));
	json_object_object_add(o, "analysis", json_object_new_string(msg));
	json_object_object_add(o, "findings", arr);
	reply_json(rep, 200, o);
}

/* Queue a model job and suspend its connection; false with @rep filled when refused. */
static bool queue_job(struct ai_service *ai, const struct api_request *req, struct api_reply *rep,
		      void **pending)
{
	struct ai_job *job = calloc(1, sizeof(*job));

	if (!job) {
		reply_ai_error(rep, 500, 0, "out of memory");
		return false;
	}
	job->route = req->route;
	job->rep.total = -1;
	if (parse_job(req, job, rep)) {
		job_free(job);
		return false;
	}
	if (!ai_model_configured(ai->model)) {
		job_free(job);
		if (req->route == ROUTE_AI_ANALYZE) {
			analyze_fallback(ai, rep);
			return false;
		}
		reply_ai_error(rep, 503, 0,
			       "no model configured: set ai.model.endpoint (or OPENAI_ENDPOINT, "
			       "or POST /api/ai/config); the detectors' findings are at "
			       "GET /api/ai/suggestions");
		return false;
	}
	if (!req->conn) {
		job_free(job);
		reply_ai_error(rep, 500, 0, "no connection to suspend");
		return false;
	}
	job->conn = req->conn;
	pthread_mutex_lock(&ai->qlock);
	if (ai->qstop || ai->qlen >= AI_QUEUE_MAX) {
		bool stopping = ai->qstop;

		pthread_mutex_unlock(&ai->qlock);
		job_free(job);
		if (stopping)
			reply_ai_error(rep, 503, 0, "guarder-api is stopping");
		else
			reply_ai_error(rep, 503, 5,
				       "the model is busy: %d requests already wait for it",
				       AI_QUEUE_MAX);
		return false;
	}
	/* suspend before the worker can see the job, so its resume always finds it suspended */
	MHD_suspend_connection(req->conn);
	*pending = job;
	job->next = NULL;
	if (ai->qtail)
		ai->qtail->next = job;
	else
		ai->qhead = job;
	ai->qtail = job;
	ai->qlen++;
	pthread_cond_signal(&ai->qcond);
	pthread_mutex_unlock(&ai->qlock);
	return true;
}

void ai_job_reply(void *pending, struct api_reply *rep)
{
	struct ai_job *job = pending;

	*rep = job->rep;
	job->rep.body = NULL;
	job_free(job);
}

void ai_job_free(void *pending)
{
	job_free(pending);
}

/* ---- config ---- */

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
		reply_ai_error(rep, 400, 0, "%s: must be an integer from %lu to %lu", name, lo, hi);
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
		reply_ai_error(rep, 400, 0, "%s: must be a string of at most %zu bytes%s", name,
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
static void post_config(struct ai_service *ai, const struct api_request *req, struct api_reply *rep)
{
	struct ai_model_params p, old;
	struct json_object *body = NULL, *o, *changed;
	char err[AI_MODEL_ERR_LEN], list[256] = "";
	bool new_key = false, new_endpoint = false;
	struct json_tokener *tok = json_tokener_new();

	if (!tok) {
		reply_error(rep, 500, "out of memory");
		return;
	}
	ai_model_get_params(ai->model, &p);
	old = p;
	body = req->body ? json_tokener_parse_ex(tok, req->body, (int)req->body_len) : NULL;
	if (!body || !json_object_is_type(body, json_type_object)) {
		reply_ai_error(rep, 400, 0, "body: must be one JSON object");
		goto out;
	}
	changed = json_object_new_array();
	{
		json_object_object_foreach(body, k, v)
		{
			int rc = 0;

			if (!strcmp(k, "endpoint") || !strcmp(k, "openai_endpoint")) {
				rc = set_str(v, k, p.endpoint, sizeof(p.endpoint), true, rep);
				new_endpoint = !rc && strcmp(p.endpoint, old.endpoint);
			} else if (!strcmp(k, "api_key")) {
				rc = set_str(v, k, p.api_key, sizeof(p.api_key), true, rep);
				new_key = true;
				p.key_set = p.api_key[0] != '\0';
			} else if (!strcmp(k, "model") || !strcmp(k, "name")) {
				rc = set_str(v, k, p.name, sizeof(p.name), false, rep);
			} else if (!strcmp(k, "provider")) {
				if (!json_object_is_type(v, json_type_string) ||
				    ai_model_provider_parse(json_object_get_string(v),
							    &p.provider)) {
					reply_ai_error(rep, 400, 0,
						       "provider: must be openai, azure or ollama");
					rc = -EINVAL;
				}
			} else if (!strcmp(k, "api_version")) {
				rc = set_str(v, k, p.api_version, sizeof(p.api_version), true, rep);
			} else if (!strcmp(k, "timeout")) { /* the reference's seconds */
				unsigned int s = 0;

				rc = set_uint(v, k, 1, 600, &s, rep);
				p.timeout_ms = s * 1000;
			} else if (!strcmp(k, "timeout_ms")) {
				rc = set_uint(v, k, 100, 600000, &p.timeout_ms, rep);
			} else if (!strcmp(k, "max_retries")) {
				rc = set_uint(v, k, 0, 10, &p.max_retries, rep);
			} else if (!strcmp(k, "calls_per_minute")) {
				rc = set_uint(v, k, 1, 10000, &p.calls_per_minute, rep);
			} else if (!strcmp(k, "max_tokens")) {
				rc = set_uint(v, k, 64, 32768, &p.max_tokens, rep);
			} else if (!strcmp(k, "temperature")) {
				double t = json_object_get_double(v);

				if (json_object_is_type(v, json_type_null)) {
					p.temperature_milli = -1;
				} else if ((!json_object_is_type(v, json_type_double) &&
					    !json_object_is_type(v, json_type_int)) ||
					   t < 0 || t > 2) {
					reply_ai_error(rep, 400, 0,
						       "temperature: must be a number from 0 to 2 "
						       "(or null)");
					rc = -EINVAL;
				} else {
					p.temperature_milli = (int)(t * 1000 + 0.5);
				}
			} else if (!strcmp(k, "debug")) {
				rc = get_bool(v, k, &p.debug, rep);
			} else if (!strcmp(k, "enabled")) {
				rc = get_bool(v, k, &p.enabled, rep);
			} else {
				reply_ai_error(rep, 400, 0,
					       "%.64s: unknown field (see GET /api/ai/config)", k);
				rc = -EINVAL;
			}
			if (rc) {
				json_object_put(changed);
				goto out;
			}
			json_object_array_add(
				changed, json_object_new_string(
						 !strcmp(k, "openai_endpoint") ? "endpoint" : k));
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? ", " : "", k);
		}
	}
	if (new_endpoint && !new_key && old.key_set) {
		/* never send the stored key to a new endpoint */
		p.api_key[0] = '\0';
		p.key_set = false;
	}
	if (ai_model_set_params(ai->model, &p, err, sizeof(err))) {
		json_object_put(changed);
		reply_ai_error(rep, 400, 0, "%s", err);
		goto out;
	}
	/* the names of the changed settings only: never a value (the key) */
	log_info("ai: model settings changed through the API: %s%s", list,
		 new_endpoint && !new_key && old.key_set ? " (the stored key was dropped: a new "
							   "endpoint needs its key again)" :
							   "");
	o = config_json(ai);
	if (o) {
		json_object_object_add(o, "changed", changed);
		if (new_endpoint && !new_key && old.key_set)
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
	json_object_put(body);
	json_tokener_free(tok);
}

static void get_status(struct ai_service *ai, struct api_reply *rep)
{
	static const char *const cnames[] = { "off", "starting", "running", "error", "stopped" };
	struct json_object *o = json_object_new_object(), *m, *last, *sg, *w, *c;
	struct ai_model_stats st;
	struct ai_model_params p;
	size_t counts[5] = { 0 }, i;

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
		counts[ai->ring[(ai->ring_head + i) % ai->ring_cap]->state]++;
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

bool ai_handle(struct ai_service *ai, const struct api_request *req, struct api_reply *rep,
	       void **pending)
{
	note_client(ai, req->conn);
	switch (req->route) {
	case ROUTE_AI_CONFIG:
		if (req->method == M_POST)
			post_config(ai, req, rep);
		else
			reply_json(rep, 200, config_json(ai));
		return false;
	case ROUTE_AI_STATUS:
		get_status(ai, rep);
		return false;
	case ROUTE_AI_GENERATE:
	case ROUTE_AI_ANALYZE:
		return queue_job(ai, req, rep, pending);
	case ROUTE_AI_SUGGESTIONS:
		list_suggestions(ai, req, rep);
		return false;
	case ROUTE_AI_SUGGESTION_APPLY:
		apply_suggestion(ai, req->sid, req->conn, false, rep);
		return false;
	case ROUTE_AI_SUGGESTION_REJECT:
		reject_suggestion(ai, req, rep);
		return false;
	default:
		reply_error(rep, 404, "no such endpoint");
		return false;
	}
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
	decisions_load(ai);
	if (!ai->decisions) {
		rc = -ENOMEM;
		goto fail;
	}
	read_resolvers(ai);
	snprintf(ai->group_id, sizeof(ai->group_id), "guarder-api-%s", cfg->node_name);
	rc = pthread_create(&ai->worker, NULL, worker_main, ai);
	if (rc) {
		rc = -rc;
		log_error("ai: cannot start the model thread: %s", strerror(-rc));
		goto fail;
	}
	ai->worker_started = true;
	if (cfg->kafka.brokers) {
		ai->cstate = C_STARTING;
		rc = pthread_create(&ai->consumer, NULL, consumer_main, ai);
		if (rc) {
			rc = -rc;
			log_error("ai: cannot start the suggestions consumer: %s", strerror(-rc));
			goto fail;
		}
		ai->consumer_started = true;
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
		sugg_free(ai->ring[(ai->ring_head + i) % ai->ring_cap]);
	free(ai->ring);
	json_object_put(ai->decisions);
	ai_model_free(ai->model);
	pthread_mutex_destroy(&ai->lock);
	pthread_mutex_destroy(&ai->qlock);
	pthread_cond_destroy(&ai->qcond);
	free(ai);
}
