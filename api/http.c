// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP layer of guarder-api on GNU libmicrohttpd: every request goes
 * through the same checks, in this order, before a handler sees it:
 *
 *   1-3. Access (lib/http_access.h, shared with the WebSocket feed): Host
 *      on loopback binds (421); Origin, which must be in api.cors_origins
 *      (403), whatever the method: we serve no page of our own, so no
 *      legitimate browser request comes from elsewhere; preflights
 *      (OPTIONS) answered here (204); "Authorization: Bearer TOKEN" with
 *      api.token set (401).
 *   4. The route and method (the table routes[]): 404, 405 with Allow.
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
#include "lib/http_access.h"
#include "lib/log.h"

struct http_server {
	const struct guarder_config *cfg;
	struct MHD_Daemon *daemon;
	struct rule_store *store;
	struct flow_maps *maps;
	struct ai_service *ai;
	struct http_access access;
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
	void *job; /* an /api/ai model request waiting, suspended (ai_jobs.c) */
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

FILE *reply_stream_open(struct reply_stream *rs, struct api_reply *rep)
{
	rs->buf = NULL;
	rs->len = 0;
	rs->out = open_memstream(&rs->buf, &rs->len);
	if (!rs->out)
		reply_error(rep, 500, "out of memory");
	return rs->out;
}

void reply_stream_end(struct reply_stream *rs, struct api_reply *rep, bool failed,
		      const char *ctype)
{
	if (fclose(rs->out) || !rs->buf || failed) {
		free(rs->buf);
		reply_error(rep, 500, "out of memory");
		return;
	}
	rep->status = 200;
	rep->body = rs->buf;
	rep->len = rs->len;
	rep->ctype = ctype;
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

/* The methods, in the order Allow lists them; HEAD is served as GET. */
static const struct {
	const char *name;
	enum api_method method;
} methods[] = {
	{ "GET", M_GET }, { "HEAD", M_GET },	  { "POST", M_POST },
	{ "PUT", M_PUT }, { "DELETE", M_DELETE }, { "OPTIONS", M_OPTIONS },
};

/* A method's bit in a route's masks: method_bit(M_GET), M(GET) in the table. */
#define method_bit(m) (1u << (m))
#define M(name)	      method_bit(M_##name)

enum path_param {
	PARAM_NONE = 0, /* a literal path */
	PARAM_RULE_ID, /* {id} is a rule id; any other segment is a 400 on this route */
	PARAM_SUGGESTION, /* {id} is 1..39 of [A-Za-z0-9_-]; any other is no route (404) */
};

typedef void serve_fn(struct http_server *srv, struct req_ctx *ctx, struct api_request *req,
		      struct api_reply *rep);

static serve_fn serve_flows, serve_filters, serve_metrics, serve_openapi, serve_ai;

/*
 * Everything the HTTP layer knows of a route: where the Allow header, the
 * 404 and 405 answers, the body rules and the metrics' endpoint names come
 * from. A literal path wins over a pattern that also matches it
 * (/api/filters/bulk is no {id}).
 */
static const struct route_def {
	const char *path; /* with one "{id}" segment if param; also the name in metrics */
	unsigned int methods; /* M() of the methods served; OPTIONS always is */
	unsigned int body; /* methods that need a JSON body (415 without one) */
	serve_fn *serve;
	enum path_param param;
	const char *alias; /* another literal path of the route */
	unsigned int body_if_json; /* methods whose body is read only when it is JSON */
} routes[ROUTE_MAX] = {
	/* path, methods, those with a JSON body, handler, {id} */
	[ROUTE_NONE] = { NULL, M(GET), 0, NULL }, /* 404; an OPTIONS gets this Allow */
	[ROUTE_CONNECTIONS] = { "/api/connections", M(GET), 0, serve_flows },
	[ROUTE_ICMP] = { "/api/icmp", M(GET), 0, serve_flows },
	[ROUTE_STATS] = { "/api/stats", M(GET), 0, serve_flows },
	[ROUTE_FILTERS] = { "/api/filters", M(GET) | M(POST), M(POST), serve_filters,
			    .alias = "/api/filters/" },
	[ROUTE_FILTERS_BULK] = { "/api/filters/bulk", M(POST), M(POST), serve_filters },
	[ROUTE_FILTER] = { "/api/filters/{id}", M(GET) | M(PUT) | M(DELETE), M(PUT), serve_filters,
			   PARAM_RULE_ID },
	[ROUTE_FILTER_ENABLE] = { "/api/filters/{id}/enable", M(POST), 0, serve_filters,
				  PARAM_RULE_ID },
	[ROUTE_FILTER_DISABLE] = { "/api/filters/{id}/disable", M(POST), 0, serve_filters,
				   PARAM_RULE_ID },
	[ROUTE_METRICS] = { "/metrics", M(GET), 0, serve_metrics },
	[ROUTE_OPENAPI] = { "/api/openapi.json", M(GET), 0, serve_openapi },
	[ROUTE_AI_CONFIG] = { "/api/ai/config", M(GET) | M(POST), M(POST), serve_ai },
	[ROUTE_AI_STATUS] = { "/api/ai/status", M(GET), 0, serve_ai },
	[ROUTE_AI_GENERATE] = { "/api/ai/generate", M(POST), M(POST), serve_ai },
	[ROUTE_AI_ANALYZE] = { "/api/ai/analyze", M(POST), M(POST), serve_ai },
	[ROUTE_AI_SUGGESTIONS] = { "/api/ai/suggestions", M(GET), 0, serve_ai },
	[ROUTE_AI_SUGGESTION_APPLY] = { "/api/ai/suggestions/{id}/apply", M(POST), 0, serve_ai,
					PARAM_SUGGESTION },
	/* the body (a reason) is optional */
	[ROUTE_AI_SUGGESTION_REJECT] = { "/api/ai/suggestions/{id}/reject", M(POST), 0, serve_ai,
					 PARAM_SUGGESTION, .body_if_json = M(POST) },
};

static enum api_method method_of(const char *m)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(m, methods[i].name))
			return methods[i].method;
	return M_OTHER;
}

/* The Allow header of @r, in @buf. */
static const char *route_allow(enum api_route r, char *buf, size_t len)
{
	unsigned int mask = routes[r].methods | M(OPTIONS);
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]) && n < len; i++)
		if (mask & method_bit(methods[i].method))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
					      methods[i].name);
	return buf;
}

const char *api_route_name(enum api_route r)
{
	return (unsigned int)r < ROUTE_MAX && routes[r].path ? routes[r].path : "unknown";
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

static bool suggestion_id_ok(const char *s, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n >= max)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/*
 * Whether @url fits the pattern @path: the same text, but for the {id}
 * segment, which is any run of characters up to the next '/' (an empty
 * one too). Returns the segment in @seg and @n.
 */
static bool path_match(const char *path, const char *url, const char **seg, size_t *n)
{
	const char *open = strchr(path, '{'), *close = strchr(path, '}');
	size_t prefix = (size_t)(open - path);

	if (strncmp(url, path, prefix))
		return false;
	*seg = url + prefix;
	*n = strcspn(*seg, "/");
	return !strcmp(*seg + *n, close + 1);
}

/*
 * The route of @url, with the {id} of its path in *@id or @sid. Returns 0,
 * or -EINVAL for /api/filters/{not a rule id}: the route is set all the
 * same, so that its Allow header and metrics apply.
 */
static int route_of(const char *url, enum api_route *route, __u32 *id, char *sid, size_t sid_len)
{
	const struct route_def *d;
	const char *seg;
	size_t n;
	int r;

	*route = ROUTE_NONE;
	for (r = 0; r < ROUTE_MAX; r++) {
		d = &routes[r];
		if (d->path && !d->param &&
		    (!strcmp(url, d->path) || (d->alias && !strcmp(url, d->alias)))) {
			*route = (enum api_route)r;
			return 0;
		}
	}
	for (r = 0; r < ROUTE_MAX; r++) {
		d = &routes[r];
		if (!d->param || !path_match(d->path, url, &seg, &n))
			continue;
		if (d->param == PARAM_SUGGESTION) {
			if (!suggestion_id_ok(seg, n, sid_len))
				continue;
			memcpy(sid, seg, n);
			sid[n] = '\0';
		}
		*route = (enum api_route)r;
		return d->param == PARAM_RULE_ID ? parse_id(seg, n, id) : 0;
	}
	return 0;
}

/* ---- checks ---- */

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static bool json_content_type(struct MHD_Connection *c)
{
	const char *ct = header(c, "Content-Type");
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

static void serve_flows(struct http_server *srv, struct req_ctx *ctx, struct api_request *req,
			struct api_reply *rep)
{
	(void)ctx;
	flows_handle(srv->maps, req, rep);
}

static void serve_filters(struct http_server *srv, struct req_ctx *ctx, struct api_request *req,
			  struct api_reply *rep)
{
	(void)ctx;
	filters_handle(srv->store, req, rep);
}

static void serve_ai(struct http_server *srv, struct req_ctx *ctx, struct api_request *req,
		     struct api_reply *rep)
{
	/* true: suspended until the model thread resumes it (ctx->job) */
	ai_handle(srv->ai, req, rep, &ctx->job);
}

static void serve_metrics(struct http_server *srv, struct req_ctx *ctx, struct api_request *req,
			  struct api_reply *rep)
{
	struct reply_stream rs;
	FILE *out = reply_stream_open(&rs, rep);

	(void)ctx;
	(void)req;
	if (!out)
		return;
	metrics_http(out);
	flows_metrics(srv->maps, out);
	store_metrics(srv->store, out);
	reply_stream_end(&rs, rep, false, "text/plain; version=0.0.4; charset=utf-8");
}

static void serve_openapi(struct http_server *srv, struct req_ctx *ctx, struct api_request *req,
			  struct api_reply *rep)
{
	(void)srv;
	(void)ctx;
	(void)req;
	rep->status = 200;
	rep->body = malloc(api_openapi_json_len + 1);
	if (!rep->body) {
		reply_error(rep, 500, "out of memory");
		return;
	}
	memcpy(rep->body, api_openapi_json, api_openapi_json_len + 1);
	rep->len = api_openapi_json_len;
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

	if (routes[ctx->route].serve)
		routes[ctx->route].serve(srv, ctx, &req, rep);
	else
		reply_error(rep, 404, "no such endpoint");
}

/* A CORS preflight, or a plain OPTIONS: 204 with the route's methods. */
static enum MHD_Result send_preflight(struct MHD_Connection *c, struct req_ctx *ctx)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char allow[64];

	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	route_allow(ctx->route, allow, sizeof(allow));
	MHD_add_response_header(resp, "Allow", allow);
	if (ctx->origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", ctx->origin);
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
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

/* The checks of the first call; returns MHD_YES with nothing queued to go on. */
static enum MHD_Result first_call(struct http_server *srv, struct MHD_Connection *c,
				  struct req_ctx *ctx, const char *url, const char *method)
{
	struct http_access_request areq = {
		.host = header(c, "Host"),
		.origin = header(c, "Origin"),
		.authorization = header(c, "Authorization"),
	};
	struct http_access_verdict v;
	const struct route_def *d;
	unsigned int m;
	const char *cl;
	char allow[64];
	int err;

	ctx->method = method_of(method);
	err = route_of(url, &ctx->route, &ctx->id, ctx->sid, sizeof(ctx->sid));
	d = &routes[ctx->route];
	m = method_bit(ctx->method);

	areq.options = ctx->method == M_OPTIONS;
	v = http_access_check(&srv->access, &areq);
	ctx->origin = v.origin;
	if (v.result == HTTP_ACCESS_PREFLIGHT)
		return send_preflight(c, ctx);
	if (v.result != HTTP_ACCESS_OK)
		return send_error(c, ctx, (int)v.status, NULL, "%s", v.message);

	if (err)
		return send_error(c, ctx, 400, NULL,
				  "id: must be a rule id, an integer from 0 to %u", RULE_ID_MAX);
	if (ctx->route == ROUTE_NONE)
		return send_error(c, ctx, 404, NULL, "no such endpoint: %.200s", url);
	if (!(d->methods & m))
		return send_error(c, ctx, 405, route_allow(ctx->route, allow, sizeof(allow)),
				  "method %.16s not allowed on %s", method,
				  api_route_name(ctx->route));

	ctx->takes_body = (d->body & m) || ((d->body_if_json & m) && json_content_type(c));
	if ((d->body & m) && !json_content_type(c))
		return send_error(c, ctx, 415, NULL, "Content-Type must be application/json");
	cl = header(c, "Content-Length");
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
	/* suspend/resume: model calls wait outside the HTTP threads (ai_jobs.c) */
	unsigned int flags =
		MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	const struct http_access_conf conf = {
		.service = "API",
		.port = port,
		.loopback = loopback,
		.token = cfg->api.token,
		.origins = cfg->api.cors_origins,
		.n_origins = cfg->api.n_cors_origins,
		.origins_key = "api.cors_origins",
		.preflight = true,
	};
	struct http_access access;
	struct http_server *srv;
	int err;

	err = http_access_init(&access, &conf);
	if (err) {
		log_error("cannot set up the API's access checks: %s", strerror(-err));
		return err;
	}
	srv = malloc(sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	*srv = (struct http_server){
		.cfg = cfg, .store = store, .maps = maps, .ai = ai, .access = access
	};
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
