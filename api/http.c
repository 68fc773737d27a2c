// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP layer of guarder-api on GNU libmicrohttpd: every request goes
 * through the same checks, in this order, before a handler sees it:
 *
 *   1. Host header (loopback binds only): localhost, 127.0.0.1 or [::1]
 *      with our port, else 421. A DNS-rebinding page reaches us with its
 *      own host name in Host.
 *   2. Origin: a browser request from an origin not in api.cors_origins
 *      is refused (403), whatever its method: we serve no page of our own,
 *      so no legitimate browser request comes from elsewhere. Preflights
 *      (OPTIONS) of allowed origins are answered here.
 *   3. Authorization: with api.token set, "Bearer TOKEN", compared in
 *      constant time, else 401.
 *   4. The route and method: 404, 405 with Allow.
 *   5. Bodies: routes that take a JSON body need Content-Type
 *      application/json (415; a cross-site form cannot send it without a
 *      preflight) and at most api.max_body bytes (413).
 *
 * Steps 1-5 run on the first call for a request, before any of the body
 * is read, so a refused client cannot make us buffer anything.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "http.h"
#include "lib/log.h"
#include "lib/secret.h"

struct http_server {
	const struct guarder_config *cfg;
	struct MHD_Daemon *daemon;
	struct rule_store *store;
	struct flow_maps *maps;
	struct ai_service *ai;
	unsigned int port;
	bool loopback;
	char hosts[3][32]; /* Host values accepted on a loopback bind */
};

/* Per-request state, from the first call of the access handler to completion. */
struct req_ctx {
	struct timespec start;
	enum api_route route;
	enum api_method method;
	__u32 id;
	const char *origin; /* allowed Origin to echo back, or NULL */
	bool takes_body;
	bool too_large;
	void *job; /* an /api/ai model request waiting, suspended (ai.c) */
	char sid[40]; /* the suggestion {id} of /api/ai/suggestions/{id}/... */
	char *body;
	size_t len, cap;
};

static double elapsed_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- replies ---- */

void reply_json(struct api_reply *rep, int status, struct json_object *obj)
{
	const char *text;
	size_t len;

	rep->status = status;
	free(rep->body);
	rep->body = NULL;
	rep->len = 0;
	if (!obj) {
		rep->status = 500;
		rep->body = strdup("{\"error\":\"out of memory\"}");
		rep->len = rep->body ? strlen(rep->body) : 0;
		return;
	}
	text = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	rep->body = malloc(len + 1);
	if (rep->body) {
		memcpy(rep->body, text, len + 1);
		rep->len = len;
	} else {
		rep->status = 500;
	}
	json_object_put(obj);
}

void reply_error(struct api_reply *rep, int status, const char *fmt, ...)
{
	struct json_object *o;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = json_object_new_object();
	if (o)
		json_object_object_add(o, "error", json_object_new_string(msg));
	reply_json(rep, status, o);
}

/* ---- query arguments ---- */

const char *query_str(const struct api_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

int query_uint(const struct api_request *req, const char *name, unsigned long min,
	       unsigned long max, unsigned long *out, struct api_reply *rep)
{
	const char *s = query_str(req, name), *p;
	unsigned long v = 0;

	if (!s)
		return 1;
	if (!*s || (s[0] == '0' && s[1]))
		goto bad;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > max)
			goto bad;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	reply_error(rep, 400, "%s: must be an integer from %lu to %lu", name, min, max);
	return -EINVAL;
}

struct known_args {
	const char *const *known;
	const char *bad;
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct known_args *k = cls;
	size_t i;

	(void)kind;
	(void)value;
	for (i = 0; k->known[i]; i++)
		if (!strcmp(k->known[i], key))
			return MHD_YES;
	k->bad = key;
	return MHD_NO;
}

int query_check_known(const struct api_request *req, const char *const *known,
		      struct api_reply *rep)
{
	struct known_args k = { .known = known };
	char list[256] = "";
	size_t i;

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_arg, &k);
	if (!k.bad)
		return 0;
	for (i = 0; known[i]; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 known[i]);
	reply_error(rep, 400, "%.64s: unknown query parameter (this endpoint takes: %s)", k.bad,
		    *list ? list : "none");
	return -EINVAL;
}

/* ---- routing ---- */

static enum api_method method_of(const char *m)
{
	if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
		return M_GET;
	if (!strcmp(m, "POST"))
		return M_POST;
	if (!strcmp(m, "PUT"))
		return M_PUT;
	if (!strcmp(m, "DELETE"))
		return M_DELETE;
	if (!strcmp(m, "OPTIONS"))
		return M_OPTIONS;
	return M_OTHER;
}

/* "0", "17": a rule id; no sign, no leading zero, at most RULE_ID_MAX. */
static int parse_id(const char *s, size_t n, __u32 *out)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0 || n > 10 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (v > RULE_ID_MAX)
		return -EINVAL;
	*out = (__u32)v;
	return 0;
}

/* /api/ai/suggestions/{id}/apply|reject; {id}: 1..39 of [A-Za-z0-9_-]. */
static void ai_route_of(const char *url, enum api_route *route, char *sid, size_t len)
{
	const char *rest = url + strlen("/api/ai/suggestions/"), *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : 0, i;

	if (!slash || n == 0 || n >= len)
		return;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)rest[i]) && rest[i] != '-' && rest[i] != '_')
			return;
	if (!strcmp(slash, "/apply"))
		*route = ROUTE_AI_SUGGESTION_APPLY;
	else if (!strcmp(slash, "/reject"))
		*route = ROUTE_AI_SUGGESTION_REJECT;
	else
		return;
	memcpy(sid, rest, n);
	sid[n] = '\0';
}

/* The route of @url; -EINVAL for /api/filters/{not an id}. */
static int route_of(const char *url, enum api_route *route, __u32 *id, char *sid, size_t sid_len)
{
	static const struct {
		const char *path;
		enum api_route route;
	} fixed[] = {
		{ "/api/connections", ROUTE_CONNECTIONS },
		{ "/api/icmp", ROUTE_ICMP },
		{ "/api/stats", ROUTE_STATS },
		{ "/api/filters", ROUTE_FILTERS },
		{ "/api/filters/", ROUTE_FILTERS },
		{ "/api/filters/bulk", ROUTE_FILTERS_BULK },
		{ "/metrics", ROUTE_METRICS },
		{ "/api/openapi.json", ROUTE_OPENAPI },
		{ "/api/ai/config", ROUTE_AI_CONFIG },
		{ "/api/ai/status", ROUTE_AI_STATUS },
		{ "/api/ai/generate", ROUTE_AI_GENERATE },
		{ "/api/ai/analyze", ROUTE_AI_ANALYZE },
		{ "/api/ai/suggestions", ROUTE_AI_SUGGESTIONS },
	};
	const char *rest, *slash;
	size_t i;

	*route = ROUTE_NONE;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!strcmp(url, fixed[i].path)) {
			*route = fixed[i].route;
			return 0;
		}
	}
	if (!strncmp(url, "/api/ai/suggestions/", 20)) {
		ai_route_of(url, route, sid, sid_len);
		return 0;
	}
	if (strncmp(url, "/api/filters/", 13))
		return 0;
	rest = url + 13;
	slash = strchr(rest, '/');
	if (!slash) {
		*route = ROUTE_FILTER;
	} else if (!strcmp(slash, "/enable")) {
		*route = ROUTE_FILTER_ENABLE;
	} else if (!strcmp(slash, "/disable")) {
		*route = ROUTE_FILTER_DISABLE;
	} else {
		return 0;
	}
	return parse_id(rest, slash ? (size_t)(slash - rest) : strlen(rest), id);
}

/* The methods of each route, as sent in Allow. */
static const char *allowed(enum api_route r)
{
	switch (r) {
	case ROUTE_FILTERS:
		return "GET, HEAD, POST, OPTIONS";
	case ROUTE_FILTER:
		return "GET, HEAD, PUT, DELETE, OPTIONS";
	case ROUTE_FILTERS_BULK:
	case ROUTE_FILTER_ENABLE:
	case ROUTE_FILTER_DISABLE:
	case ROUTE_AI_GENERATE:
	case ROUTE_AI_ANALYZE:
	case ROUTE_AI_SUGGESTION_APPLY:
	case ROUTE_AI_SUGGESTION_REJECT:
		return "POST, OPTIONS";
	case ROUTE_AI_CONFIG:
		return "GET, HEAD, POST, OPTIONS";
	default:
		return "GET, HEAD, OPTIONS";
	}
}

static bool method_allowed(enum api_route r, enum api_method m)
{
	switch (r) {
	case ROUTE_FILTERS:
		return m == M_GET || m == M_POST;
	case ROUTE_FILTER:
		return m == M_GET || m == M_PUT || m == M_DELETE;
	case ROUTE_FILTERS_BULK:
	case ROUTE_FILTER_ENABLE:
	case ROUTE_FILTER_DISABLE:
	case ROUTE_AI_GENERATE:
	case ROUTE_AI_ANALYZE:
	case ROUTE_AI_SUGGESTION_APPLY:
	case ROUTE_AI_SUGGESTION_REJECT:
		return m == M_POST;
	case ROUTE_AI_CONFIG:
		return m == M_GET || m == M_POST;
	default:
		return m == M_GET;
	}
}

static bool takes_body(enum api_route r, enum api_method m)
{
	return (r == ROUTE_FILTERS && m == M_POST) || (r == ROUTE_FILTER && m == M_PUT) ||
	       r == ROUTE_FILTERS_BULK || (r == ROUTE_AI_CONFIG && m == M_POST) ||
	       r == ROUTE_AI_GENERATE || r == ROUTE_AI_ANALYZE;
}

const char *api_route_name(enum api_route r)
{
	static const char *const names[ROUTE_MAX] = {
		[ROUTE_NONE] = "unknown",
		[ROUTE_CONNECTIONS] = "/api/connections",
		[ROUTE_ICMP] = "/api/icmp",
		[ROUTE_STATS] = "/api/stats",
		[ROUTE_FILTERS] = "/api/filters",
		[ROUTE_FILTERS_BULK] = "/api/filters/bulk",
		[ROUTE_FILTER] = "/api/filters/{id}",
		[ROUTE_FILTER_ENABLE] = "/api/filters/{id}/enable",
		[ROUTE_FILTER_DISABLE] = "/api/filters/{id}/disable",
		[ROUTE_METRICS] = "/metrics",
		[ROUTE_OPENAPI] = "/api/openapi.json",
		[ROUTE_AI_CONFIG] = "/api/ai/config",
		[ROUTE_AI_STATUS] = "/api/ai/status",
		[ROUTE_AI_GENERATE] = "/api/ai/generate",
		[ROUTE_AI_ANALYZE] = "/api/ai/analyze",
		[ROUTE_AI_SUGGESTIONS] = "/api/ai/suggestions",
		[ROUTE_AI_SUGGESTION_APPLY] = "/api/ai/suggestions/{id}/apply",
		[ROUTE_AI_SUGGESTION_REJECT] = "/api/ai/suggestions/{id}/reject",
	};

	return (unsigned int)r < ROUTE_MAX ? names[r] : "unknown";
}

/* ---- checks ---- */

static bool token_ok(const struct http_server *srv, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

	if (!srv->cfg->api.token)
		return true;
	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	return secret_equal(h, srv->cfg->api.token);
}

static bool host_ok(const struct http_server *srv, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	size_t i;

	if (!srv->loopback)
		return true;
	if (!h)
		return false;
	for (i = 0; i < 3; i++)
		if (!strcasecmp(h, srv->hosts[i]))
			return true;
	/* Clients omit the port only when it is the scheme's default. */
	if (srv->port == 80)
		return !strcasecmp(h, "localhost") || !strcmp(h, "127.0.0.1") ||
		       !strcmp(h, "[::1]");
	return false;
}

/* The configured origin equal to the request's Origin, or NULL. */
static const char *origin_allowed(const struct http_server *srv, const char *origin)
{
	size_t i;

	for (i = 0; i < srv->cfg->api.n_cors_origins; i++)
		if (!strcmp(origin, srv->cfg->api.cors_origins[i]))
			return srv->cfg->api.cors_origins[i];
	return NULL;
}

static bool json_content_type(struct MHD_Connection *c)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	size_t n = strlen("application/json");

	if (!ct || strncasecmp(ct, "application/json", n))
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* ---- sending ---- */

static enum MHD_Result send_reply(struct MHD_Connection *c, struct req_ctx *ctx,
				  struct api_reply *rep)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char total[32];

	if (!rep->body && rep->status != 204) {
		/* every error is JSON; a handler that forgot a body gets {} */
		rep->body = strdup("{}");
		rep->len = rep->body ? 2 : 0;
	}
	resp = MHD_create_response_from_buffer(rep->len, rep->body ? rep->body : (void *)"",
					       rep->body ? MHD_RESPMEM_MUST_FREE :
							   MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(rep->body);
		return MHD_NO;
	}
	rep->body = NULL;
	if (rep->status != 204)
		MHD_add_response_header(resp, "Content-Type",
					rep->ctype ? rep->ctype : "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (rep->total >= 0) {
		snprintf(total, sizeof(total), "%lld", rep->total);
		MHD_add_response_header(resp, "X-Total-Count", total);
	}
	if (rep->allow)
		MHD_add_response_header(resp, "Allow", rep->allow);
	if (rep->location)
		MHD_add_response_header(resp, "Location", rep->location);
	if (rep->retry_after) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%u", rep->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (rep->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"guarder\"");
	if (ctx->origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", ctx->origin);
		MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Total-Count");
		MHD_add_response_header(resp, "Vary", "Origin");
	}
	ret = MHD_queue_response(c, (unsigned int)rep->status, resp);
	MHD_destroy_response(resp);
	metrics_observe(ctx->route, ctx->method, rep->status, elapsed_since(&ctx->start));
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, struct req_ctx *ctx, int status,
				  const char *allow, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static enum MHD_Result send_error(struct MHD_Connection *c, struct req_ctx *ctx, int status,
				  const char *allow, const char *fmt, ...)
{
	struct api_reply rep = { .total = -1, .allow = allow };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error(&rep, status, "%s", msg);
	return send_reply(c, ctx, &rep);
}

/* ---- the request ---- */

static void metrics_page(struct http_server *srv, struct api_reply *rep)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out) {
		reply_error(rep, 500, "out of memory");
		return;
	}
	metrics_http(out);
	flows_metrics(srv->maps, out);
	store_metrics(srv->store, out);
	if (fclose(out) || !text) {
		free(text);
		reply_error(rep, 500, "out of memory");
		return;
	}
	rep->status = 200;
	rep->body = text;
	rep->len = len;
	rep->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

static void dispatch(struct http_server *srv, struct MHD_Connection *c, struct req_ctx *ctx,
		     struct api_reply *rep)
{
	struct api_request req = {
		.route = ctx->route,
		.method = ctx->method,
		.id = ctx->id,
		.sid = ctx->sid,
		.body = ctx->len ? ctx->body : NULL,
		.body_len = ctx->len,
		.conn = c,
	};

	switch (ctx->route) {
	case ROUTE_CONNECTIONS:
	case ROUTE_ICMP:
	case ROUTE_STATS:
		flows_handle(srv->maps, &req, rep);
		break;
	case ROUTE_FILTERS:
	case ROUTE_FILTERS_BULK:
	case ROUTE_FILTER:
	case ROUTE_FILTER_ENABLE:
	case ROUTE_FILTER_DISABLE:
		filters_handle(srv->store, &req, rep);
		break;
	case ROUTE_METRICS:
		metrics_page(srv, rep);
		break;
	case ROUTE_AI_CONFIG:
	case ROUTE_AI_STATUS:
	case ROUTE_AI_GENERATE:
	case ROUTE_AI_ANALYZE:
	case ROUTE_AI_SUGGESTIONS:
	case ROUTE_AI_SUGGESTION_APPLY:
	case ROUTE_AI_SUGGESTION_REJECT:
		/* true: suspended until the model thread resumes it (ctx->job) */
		ai_handle(srv->ai, &req, rep, &ctx->job);
		break;
	case ROUTE_OPENAPI:
		rep->status = 200;
		rep->body = malloc(api_openapi_json_len + 1);
		if (!rep->body) {
			reply_error(rep, 500, "out of memory");
			break;
		}
		memcpy(rep->body, api_openapi_json, api_openapi_json_len + 1);
		rep->len = api_openapi_json_len;
		break;
	default:
		reply_error(rep, 404, "no such endpoint");
		break;
	}
}

/* The checks of the first call; returns MHD_YES with nothing queued to go on. */
static enum MHD_Result first_call(struct http_server *srv, struct MHD_Connection *c,
				  struct req_ctx *ctx, const char *url, const char *method)
{
	const char *origin, *cl;
	int err;

	ctx->method = method_of(method);
	err = route_of(url, &ctx->route, &ctx->id, ctx->sid, sizeof(ctx->sid));

	if (!host_ok(srv, c))
		return send_error(c, ctx, 421, NULL,
				  "Host header not accepted: on a loopback address this API "
				  "answers only to localhost, 127.0.0.1 or [::1] with port %u",
				  srv->port);

	origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if (origin) {
		ctx->origin = origin_allowed(srv, origin);
		if (!ctx->origin)
			return send_error(c, ctx, 403, NULL,
					  "origin not allowed (see api.cors_origins)");
	}
	if (ctx->method == M_OPTIONS) {
		struct MHD_Response *resp;
		enum MHD_Result ret;

		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, "Allow", allowed(ctx->route));
		if (ctx->origin) {
			MHD_add_response_header(resp, "Access-Control-Allow-Origin", ctx->origin);
			MHD_add_response_header(resp, "Access-Control-Allow-Methods",
						allowed(ctx->route));
			MHD_add_response_header(resp, "Access-Control-Allow-Headers",
						"Authorization, Content-Type");
			MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
			MHD_add_response_header(resp, "Vary", "Origin");
		}
		ret = MHD_queue_response(c, 204, resp);
		MHD_destroy_response(resp);
		metrics_observe(ctx->route, ctx->method, 204, elapsed_since(&ctx->start));
		return ret;
	}

	if (!token_ok(srv, c))
		return send_error(c, ctx, 401, NULL,
				  "missing or wrong bearer token (Authorization: Bearer ...)");

	if (err)
		return send_error(c, ctx, 400, NULL,
				  "id: must be a rule id, an integer from 0 to %u", RULE_ID_MAX);
	if (ctx->route == ROUTE_NONE)
		return send_error(c, ctx, 404, NULL, "no such endpoint: %.200s", url);
	if (!method_allowed(ctx->route, ctx->method))
		return send_error(c, ctx, 405, allowed(ctx->route),
				  "method %.16s not allowed on %s", method,
				  api_route_name(ctx->route));

	ctx->takes_body = takes_body(ctx->route, ctx->method);
	/* reject's body (a reason) is optional: read only when it is JSON */
	if (ctx->route == ROUTE_AI_SUGGESTION_REJECT)
		ctx->takes_body = json_content_type(c);
	if (ctx->takes_body && !json_content_type(c))
		return send_error(c, ctx, 415, NULL, "Content-Type must be application/json");
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > srv->cfg->api.max_body)
		return send_error(c, ctx, 413, NULL, "body larger than %u bytes (api.max_body)",
				  srv->cfg->api.max_body);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct req_ctx *ctx = *con_cls;
	struct api_reply rep = { .total = -1 };

	(void)version;
	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &ctx->start);
		*con_cls = ctx;
		return first_call(srv, c, ctx, url, method);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (ctx->too_large || !ctx->takes_body)
			return MHD_YES; /* bodies of bodiless routes are read and dropped */
		if (ctx->len + n > srv->cfg->api.max_body) {
			/* chunked: no Content-Length to refuse early */
			ctx->too_large = true;
			free(ctx->body);
			ctx->body = NULL;
			ctx->len = 0;
			return MHD_YES;
		}
		if (ctx->len + n + 1 > ctx->cap) {
			size_t cap = ctx->cap ? ctx->cap : 4096;
			char *grown;

			while (cap < ctx->len + n + 1)
				cap *= 2;
			grown = realloc(ctx->body, cap);
			if (!grown)
				return MHD_NO;
			ctx->body = grown;
			ctx->cap = cap;
		}
		memcpy(ctx->body + ctx->len, upload_data, n);
		ctx->len += n;
		ctx->body[ctx->len] = '\0';
		return MHD_YES;
	}
	if (ctx->job) {
		/* resumed by the model thread: its reply is ready */
		ai_job_reply(ctx->job, &rep);
		ctx->job = NULL;
		return send_reply(c, ctx, &rep);
	}
	if (ctx->too_large)
		return send_error(c, ctx, 413, NULL, "body larger than %u bytes (api.max_body)",
				  srv->cfg->api.max_body);
	dispatch(srv, c, ctx, &rep);
	if (ctx->job)
		return MHD_YES; /* suspended: nothing to send yet */
	return send_reply(c, ctx, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!ctx)
		return;
	ai_job_free(ctx->job); /* a client that left before the model answered */
	free(ctx->body);
	free(ctx);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http: %s", msg);
}

int http_start(const struct guarder_config *cfg, int listen_fd, unsigned int port, bool loopback,
	       struct rule_store *store, struct flow_maps *maps, struct ai_service *ai,
	       struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	/* suspend/resume: model calls wait outside the HTTP threads (ai.c) */
	unsigned int flags =
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

	if (!srv)
		return -ENOMEM;
	srv->cfg = cfg;
	srv->store = store;
	srv->maps = maps;
	srv->ai = ai;
	srv->port = port;
	srv->loopback = loopback;
	snprintf(srv->hosts[0], sizeof(srv->hosts[0]), "localhost:%u", port);
	snprintf(srv->hosts[1], sizeof(srv->hosts[1]), "127.0.0.1:%u", port);
	snprintf(srv->hosts[2], sizeof(srv->hosts[2]), "[::1]:%u", port);
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, cfg->api.threads > 1 ? cfg->api.threads : 0,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_END);
	if (!srv->daemon) {
		log_error("cannot start the HTTP server (libmicrohttpd)");
		free(srv);
		return -EIO;
	}
	*out = srv;
	return 0;
}

/* Longest wait at shutdown for replies already on their way (the AI's 503). */
#define HTTP_STOP_GRACE_MS 1000

void http_stop(struct http_server *srv)
{
	const union MHD_DaemonInfo *info;
	struct timespec ts = { .tv_nsec = 10 * 1000000 };
	int waited;

	if (!srv)
		return;
	/*
	 * A connection the model thread has just resumed still has its reply
	 * to send ("guarder-api is stopping"): stopping the daemon at once
	 * closed it unanswered. Let open connections finish, briefly.
	 */
	for (waited = 0; waited < HTTP_STOP_GRACE_MS; waited += 10) {
		info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!info || info->num_connections == 0)
			break;
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
