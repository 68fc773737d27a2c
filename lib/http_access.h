/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Who may talk to guarder's HTTP servers: guarder-api (api/http.c) and the
 * collector's WebSocket feed (collector/sink_ws.c). One policy for both, so
 * that a security fix is made once. It knows no HTTP library: the caller
 * reads the headers and passes their values.
 *
 * A request passes these checks, in this order:
 *
 *   1. Host (loopback binds only): localhost, 127.0.0.1 or [::1] with our
 *      port, else 421. A DNS-rebinding page reaches us with its own host
 *      name in Host.
 *   2. Origin: absent is fine (tools send none); present, it must be one
 *      of the allowed origins, else 403, whatever the method.
 *   3. With preflight set, an OPTIONS request stops here: the caller
 *      answers it (204) without a token, as browsers send none on a
 *      preflight.
 *   4. With a token set: "Authorization: Bearer TOKEN" (or, with
 *      query_token set, ?token=TOKEN), compared in constant time, else 401.
 */
#ifndef GUARDER_HTTP_ACCESS_H
#define GUARDER_HTTP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* What a server allows; the strings are borrowed and must outlive the policy. */
struct http_access_conf {
	const char *service; /* what the 421 says answers: "API", "feed" */
	unsigned int port; /* the listening port, for Host */
	bool loopback; /* bound to a loopback address: Host is checked */
	const char *token; /* NULL: no token needed */
	const char (*origins)[GUARDER_ORIGIN_MAX]; /* browser origins allowed */
	size_t n_origins;
	const char *origins_key; /* the config key of @origins, named in the 403 */
	bool query_token; /* ?token= too: browsers cannot set Authorization on a WebSocket */
	bool preflight; /* CORS preflights (OPTIONS) are answered, before the token check */
};

/* A policy: set by http_access_init, then only read (by any thread), and copyable. */
struct http_access {
	struct http_access_conf conf;
	char port_suffix[8]; /* ":PORT" */
	char host_msg[192];
	char origin_msg[128];
	const char *token_msg;
};

/*
 * One request, as far as access goes: header values as received, NULL when
 * absent. A header too long for the caller to read is best passed as ""
 * (present, matches nothing). What else a check comes to need of a request
 * (say, the access level its route asks for) is a new field here.
 */
struct http_access_request {
	const char *host;
	const char *origin;
	const char *authorization;
	const char *query_token; /* the URL's token argument; only read with query_token */
	bool options; /* the method is OPTIONS */
};

enum http_access_result {
	HTTP_ACCESS_OK = 0, /* go on with the request */
	HTTP_ACCESS_PREFLIGHT, /* answer the CORS preflight: 204 */
	HTTP_ACCESS_BAD_HOST, /* 421 */
	HTTP_ACCESS_BAD_ORIGIN, /* 403 */
	HTTP_ACCESS_BAD_TOKEN, /* 401, with WWW-Authenticate: Bearer */
};

struct http_access_verdict {
	enum http_access_result result;
	unsigned int status; /* the HTTP status to answer with; 0 with HTTP_ACCESS_OK */
	const char *message; /* a refusal's reason, for the error body; NULL otherwise */
	const char *origin; /* the allowed origin to echo in CORS headers, or NULL */
};

/*
 * http_access_init - set up @a from @conf (copied; its strings are not).
 * Returns 0, or -EINVAL (and @a untouched) when @conf has no service or
 * origins key, a port above 65535, an empty token, or a service name too
 * long for the messages.
 */
int http_access_init(struct http_access *a, const struct http_access_conf *conf);

/*
 * http_access_check - the verdict on @req: HTTP_ACCESS_OK, a preflight to
 * answer, or a refusal with its status and message. The message and the
 * origin point into @a (or its conf) and live as long as it.
 */
struct http_access_verdict http_access_check(const struct http_access *a,
					     const struct http_access_request *req);

/*
 * http_access_cors_origin - the allowed origin equal to @origin (exact,
 * as browsers send it), which CORS answers echo in
 * Access-Control-Allow-Origin; NULL when @origin is NULL or not allowed.
 */
const char *http_access_cors_origin(const struct http_access *a, const char *origin);

#endif /* GUARDER_HTTP_ACCESS_H */
