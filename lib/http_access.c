// SPDX-License-Identifier: GPL-2.0
/* The access policy of guarder's HTTP servers (http_access.h says which checks). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_access.h"
#include "secret.h"

/* The names a loopback bind answers to; a rebinding page's own name is none of them. */
static const char *const loopback_names[] = { "localhost", "127.0.0.1", "[::1]" };

int http_access_init(struct http_access *a, const struct http_access_conf *conf)
{
	struct http_access n = { .conf = *conf };
	int k;

	if (!conf->service || !conf->origins_key || conf->port > 65535 ||
	    (conf->token && !*conf->token) || (conf->n_origins && !conf->origins))
		return -EINVAL;
	snprintf(n.port_suffix, sizeof(n.port_suffix), ":%u", conf->port);
	k = snprintf(n.host_msg, sizeof(n.host_msg),
		     "Host header not accepted: on a loopback address this %s answers only to "
		     "localhost, 127.0.0.1 or [::1] with port %u",
		     conf->service, conf->port);
	if (k < 0 || (size_t)k >= sizeof(n.host_msg))
		return -EINVAL;
	k = snprintf(n.origin_msg, sizeof(n.origin_msg), "origin not allowed (see %s)",
		     conf->origins_key);
	if (k < 0 || (size_t)k >= sizeof(n.origin_msg))
		return -EINVAL;
	n.token_msg = conf->query_token ?
			      "missing or wrong token (Authorization: Bearer ..., or ?token=)" :
			      "missing or wrong bearer token (Authorization: Bearer ...)";
	*a = n;
	return 0;
}

static bool host_ok(const struct http_access *a, const char *host)
{
	size_t i, n;

	if (!a->conf.loopback)
		return true;
	if (!host)
		return false;
	for (i = 0; i < sizeof(loopback_names) / sizeof(loopback_names[0]); i++) {
		n = strlen(loopback_names[i]);
		if (strncasecmp(host, loopback_names[i], n))
			continue;
		if (!strcmp(host + n, a->port_suffix))
			return true;
		/* clients omit the port only when it is the scheme's default */
		if (!host[n] && a->conf.port == 80)
			return true;
	}
	return false;
}

const char *http_access_cors_origin(const struct http_access *a, const char *origin)
{
	size_t i;

	if (!origin)
		return NULL;
	for (i = 0; i < a->conf.n_origins; i++)
		if (!strcmp(origin, a->conf.origins[i]))
			return a->conf.origins[i];
	return NULL;
}

/*
 * A Bearer header decides, right or wrong; any other Authorization (or
 * none) leaves the URL's token, where that is allowed.
 */
static bool token_ok(const struct http_access *a, const struct http_access_request *req)
{
	const char *h = req->authorization;

	if (!a->conf.token)
		return true;
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		h += 7;
		while (*h == ' ')
			h++;
		return secret_equal(h, a->conf.token);
	}
	return a->conf.query_token && req->query_token &&
	       secret_equal(req->query_token, a->conf.token);
}

static struct http_access_verdict verdict(enum http_access_result result, unsigned int status,
					  const char *message, const char *origin)
{
	return (struct http_access_verdict){
		.result = result, .status = status, .message = message, .origin = origin
	};
}

struct http_access_verdict http_access_check(const struct http_access *a,
					     const struct http_access_request *req)
{
	const char *origin = http_access_cors_origin(a, req->origin);

	if (!host_ok(a, req->host))
		return verdict(HTTP_ACCESS_BAD_HOST, 421, a->host_msg, NULL);
	if (req->origin && !origin)
		return verdict(HTTP_ACCESS_BAD_ORIGIN, 403, a->origin_msg, NULL);
	if (req->options && a->conf.preflight)
		return verdict(HTTP_ACCESS_PREFLIGHT, 204, NULL, origin);
	if (!token_ok(a, req))
		return verdict(HTTP_ACCESS_BAD_TOKEN, 401, a->token_msg, origin);
	return verdict(HTTP_ACCESS_OK, 0, NULL, origin);
}
