/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guarder-api internals: the HTTP layer (http.c: security checks, routing,
 * responses), the rule store (filters.c), the map-backed read endpoints
 * (flows.c) and the metrics (metrics.c). docs/api.md is the user's view.
 */
#ifndef GUARDER_API_H
#define GUARDER_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "lib/config.h"
#include "lib/rule.h"

struct MHD_Connection;

/* The routes (their paths and methods: routes[] in http.c), also the metrics' "endpoint". */
enum api_route {
	ROUTE_NONE = 0, /* no such path: 404 */
	ROUTE_CONNECTIONS,
	ROUTE_ICMP,
	ROUTE_STATS,
	ROUTE_FILTERS,
	ROUTE_FILTERS_BULK,
	ROUTE_FILTER,
	ROUTE_FILTER_ENABLE,
	ROUTE_FILTER_DISABLE,
	ROUTE_METRICS,
	ROUTE_OPENAPI,
	ROUTE_AI_CONFIG, /* the /api/ai endpoints (ai*.c) */
	ROUTE_AI_STATUS,
	ROUTE_AI_GENERATE,
	ROUTE_AI_ANALYZE,
	ROUTE_AI_SUGGESTIONS,
	ROUTE_AI_SUGGESTION_APPLY,
	ROUTE_AI_SUGGESTION_REJECT,
	ROUTE_MAX,
};

enum api_method {
	M_GET = 0, /* HEAD too */
	M_POST,
	M_PUT,
	M_DELETE,
	M_OPTIONS,
	M_OTHER,
	M_MAX,
};

/* What a handler gives back: a status, a body, and a few headers. */
struct api_reply {
	int status;
	char *body; /* malloc'd; NULL = empty */
	size_t len;
	const char *ctype; /* default application/json */
	long long total; /* >= 0: X-Total-Count */
	const char *allow; /* 405: the Allow header */
	const char *location;
	unsigned int retry_after; /* > 0: a Retry-After header, seconds (429, 503) */
};

/* One request as the handlers see it. */
struct api_request {
	enum api_route route;
	enum api_method method;
	__u32 id; /* ROUTE_FILTER*: the {id} of the path */
	const char *sid; /* ROUTE_AI_SUGGESTION_*: the suggestion {id} of the path */
	const char *body; /* NUL-terminated; NULL when empty */
	size_t body_len;
	struct MHD_Connection *conn; /* for query arguments */
};

/* The rule store: rules in memory, in the file and in the kernel. */
struct rule_store;

/*
 * store_open - load cfg->rules.file and apply it to the kernel if the
 * rule maps are pinned (otherwise the collector applies the file when it
 * loads the program). Returns 0 and *@out, or a negative errno (logged):
 * a corrupt rules file stops the API rather than serving an empty set.
 */
int store_open(const struct guarder_config *cfg, struct rule_store **out);
void store_close(struct rule_store *s);

/* The filter endpoints: fill @rep from @req. */
void filters_handle(struct rule_store *s, const struct api_request *req, struct api_reply *rep);

/* store_metrics - rule counts and per-rule hits in Prometheus text, appended to @out. */
void store_metrics(struct rule_store *s, FILE *out);

/* The pinned maps of the flow tracker. */
struct flow_maps;

int flow_maps_init(const struct guarder_config *cfg, struct flow_maps **out);
void flow_maps_free(struct flow_maps *m);
void flows_handle(struct flow_maps *m, const struct api_request *req, struct api_reply *rep);
/* flows_metrics - kernel counters in Prometheus text, appended to @out. */
void flows_metrics(struct flow_maps *m, FILE *out);

/* Metrics of the HTTP layer. */
void metrics_observe(enum api_route route, enum api_method method, int status, double seconds);
void metrics_http(FILE *out);
const char *api_route_name(enum api_route r);

/* Helpers shared by the handlers. */
void reply_json(struct api_reply *rep, int status, struct json_object *obj); /* takes @obj */
void reply_error(struct api_reply *rep, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A reply body written with stdio: reply_stream_open(), fprintf..., reply_stream_end(). */
struct reply_stream {
	FILE *out;
	char *buf;
	size_t len;
};

/*
 * reply_stream_open - start a body in memory. Returns the stream to write
 * to, or NULL with a 500 already in @rep.
 */
FILE *reply_stream_open(struct reply_stream *rs, struct api_reply *rep);

/*
 * reply_stream_end - close @rs and make what was written the 200 body of
 * @rep, of type @ctype (NULL: JSON); a 500 instead when @failed (the
 * writer ran out of memory) or the stream did.
 */
void reply_stream_end(struct reply_stream *rs, struct api_reply *rep, bool failed,
		      const char *ctype);

/*
 * query_uint - the query argument @name as an unsigned integer in
 * [min, max]: 0 with *@out set, 1 when absent, or -EINVAL with a 400
 * already in @rep naming the parameter.
 */
int query_uint(const struct api_request *req, const char *name, unsigned long min,
	       unsigned long max, unsigned long *out, struct api_reply *rep);
const char *query_str(const struct api_request *req, const char *name);
/*
 * query_check_known - 400 for a query argument not in the NULL-terminated
 * @known, so a typo ("limt=5") is not silently ignored. Returns 0 or -EINVAL.
 */
int query_check_known(const struct api_request *req, const char *const *known,
		      struct api_reply *rep);

/* The /api/ai endpoints (ai.c and ai_*.c): model settings and calls, the suggestions. */
struct ai_service;

/*
 * ai_open - the model client (cfg->ai.model, env overrides), the model
 * thread, and the suggestions consumer when kafka.brokers is set.
 * Returns 0 and *@out or a negative errno (logged).
 */
int ai_open(const struct guarder_config *cfg, struct rule_store *store, struct flow_maps *maps,
	    struct ai_service **out);
/*
 * ai_quiesce - stop the model thread (a call in flight is cancelled;
 * it and the queued requests get 503 and are resumed) and the
 * consumer. Call it before http_stop: libmicrohttpd must not stop with
 * suspended connections.
 */
void ai_quiesce(struct ai_service *ai);
void ai_close(struct ai_service *ai); /* quiesce, then free (NULL is fine) */
/*
 * ai_handle - serve an /api/ai request. Returns false with @rep filled, or
 * true when the connection was suspended for the model thread: *@pending
 * then holds the job; once the connection is resumed, ai_job_reply() gives
 * its reply (and frees it), or ai_job_free() drops it if the request ends.
 */
bool ai_handle(struct ai_service *ai, const struct api_request *req, struct api_reply *rep,
	       void **pending);
void ai_job_reply(void *pending, struct api_reply *rep);
void ai_job_free(void *pending);

/* The OpenAPI document, compiled in (openapi.c, generated from openapi.json). */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

#endif /* GUARDER_API_H */
