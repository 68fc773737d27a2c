/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of the /api/ai endpoints share (api.h holds what the rest
 * of guarder-api sees of them; docs/api.md and docs/ai.md the user's view):
 *
 *   ai.c              the service: start and stop, routing, errors, bodies,
 *                     the addresses no AI rule may drop;
 *   ai_suggestions.c  the suggestions: list, apply, reject, the decisions
 *                     file, the Kafka consumer of cfg->ai.suggestions_topic;
 *   ai_jobs.c         the model calls (generate, analyze) and the model thread;
 *   ai_config.c       GET/POST /api/ai/config and GET /api/ai/status.
 *
 * Locks: ai->lock guards the suggestions, the decisions, the client
 * addresses and the counters; ai->qlock the model queue. Never both.
 */
#ifndef GUARDER_API_AI_H
#define GUARDER_API_AI_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include "api.h"
#include "lib/ai_model.h"

#define AI_QUEUE_MAX	  4 /* model jobs waiting besides the one running */
#define AI_ID_MAX	  40 /* bytes of a suggestion id, with its NUL */
#define AI_REASON_MAX	  256 /* bytes of a reject reason */
#define AI_FINDINGS_MAX	  20 /* detector findings in an analyze answer / summary */
#define AI_RECENT_CLIENTS 16 /* API client addresses protected from AI rules */
#define AI_MAX_RESOLVERS  8
#define AI_MAX_EXTRA	  (AI_RECENT_CLIENTS + AI_MAX_RESOLVERS)
#define AI_MAX_SUGG_RULES 256 /* = the config's highest max_rules_per_suggestion */

enum sugg_state {
	S_PROPOSED = 0,
	S_POLICY, /* rejected_by_policy (by the worker) */
	S_APPLYING,
	S_APPLIED,
	S_REJECTED, /* by the operator */
	S_MAX,
};

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

/* ---- ai.c ---- */

__u64 ai_now(void); /* unix seconds */

/* An error of these endpoints: {"success": false, "error": "...", "retry_after_s": N}. */
void ai_reply_error(struct api_reply *rep, int status, unsigned int retry_after, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

/*
 * ai_body_object - the request body as one JSON object, read by
 * json_strict_parse() (a key twice, trailing data: refused). Returns 0
 * with *@out (NULL when the request has no body), or -EINVAL / -ENOMEM
 * with a 400 / 500 "body: ..." already in @rep.
 */
int ai_body_object(const struct api_request *req, struct json_object **out, struct api_reply *rep);

/*
 * ai_reply_json - the JSON value another handler of this API answered
 * in @rep (filters_handle, flows_handle), or NULL.
 */
struct json_object *ai_reply_json(const struct api_reply *rep);

/* ai_body_bool - a body field that must be true or false; -EINVAL with a 400 in @rep. */
int ai_body_bool(struct json_object *v, const char *name, bool *out, struct api_reply *rep);

/*
 * ai_extra_protected - the addresses no AI rule may drop besides the
 * config's: the API's recent clients (@conn's included), then the DNS
 * resolvers. Fills at most @max of @out; returns how many.
 */
size_t ai_extra_protected(struct ai_service *ai, struct MHD_Connection *conn,
			  struct net_prefix *out, size_t max);

/* ---- ai_suggestions.c ---- */

const char *ai_state_name(enum sugg_state s); /* "proposed", "rejected_by_policy", ... */
/* The string member @key of @rec, or NULL. */
const char *ai_rec_str(struct json_object *rec, const char *key);
/* The @i-th oldest suggestion (i < ai->ring_n); caller holds ai->lock. */
struct sugg *ai_sugg_at(struct ai_service *ai, size_t i);
/* A suggestion as the API lists it (a new object, NULL when out of memory); caller holds ai->lock. */
struct json_object *ai_sugg_json(const struct sugg *s);
void ai_sugg_free(struct sugg *s);

/*
 * ai_take_record - keep a suggestion record, from Kafka or made here
 * (@local). A record without a usable id, node, origin, status or rules is
 * counted bad; another node's is counted and dropped; a re-delivery is
 * ignored. @auto_id gets the id when the record should be auto-applied
 * (config ai.auto_apply, a detector's, confident enough), else "".
 */
void ai_take_record(struct ai_service *ai, struct json_object *rec, bool local, char *auto_id,
		    size_t auto_len);

/* ai_decisions_load - read ai->decisions_path (missing or bad: no past decisions, logged). */
void ai_decisions_load(struct ai_service *ai);

void ai_list_suggestions(struct ai_service *ai, const struct api_request *req,
			 struct api_reply *rep);
/*
 * ai_apply_suggestion - apply suggestion @id through POST /api/filters/bulk's
 * code, after the safety policy (lib/ai_policy.h) with the extra protected
 * addresses. @conn: the operator's connection, NULL when @automatic. Fills
 * @rep: 200 with the rule ids, or the error.
 */
void ai_apply_suggestion(struct ai_service *ai, const char *id, struct MHD_Connection *conn,
			 bool automatic, struct api_reply *rep);
void ai_reject_suggestion(struct ai_service *ai, const struct api_request *req,
			  struct api_reply *rep);

/* ai_consumer_main - the thread reading cfg->ai.suggestions_topic until ai->cstop. */
void *ai_consumer_main(void *arg);

/* ---- ai_jobs.c ---- */

/* ai_worker_main - the model thread: runs the queued jobs until ai->qstop. */
void *ai_worker_main(void *arg);

/*
 * ai_queue_job - check a generate/analyze request and queue it for the
 * model thread, its connection suspended (*@pending = the job): true.
 * False with @rep filled when refused or answered at once (no model:
 * analyze answers with the detectors' findings).
 */
bool ai_queue_job(struct ai_service *ai, const struct api_request *req, struct api_reply *rep,
		  void **pending);

/* ---- ai_config.c ---- */

void ai_get_config(struct ai_service *ai, struct api_reply *rep);
void ai_post_config(struct ai_service *ai, const struct api_request *req, struct api_reply *rep);
void ai_get_status(struct ai_service *ai, struct api_reply *rep);

#endif /* GUARDER_API_AI_H */
