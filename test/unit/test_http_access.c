// SPDX-License-Identifier: GPL-2.0
/*
 * The access policy of guarder-api and the WebSocket feed
 * (lib/http_access.c): Host on loopback binds, the token (Bearer header,
 * the URL's ?token= where allowed), Origin and the CORS echo, preflights,
 * the order of the checks, and init's refusals.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "http_access.h"

#define TOKEN "s3cret-token-0123456789"
#define HOST  "127.0.0.1:8081" /* what the policies of most tests answer to */

static const char origins[2][GUARDER_ORIGIN_MAX] = { "https://dash.example.com",
						     "http://localhost:3000" };

/*
 * The feed's policy (?token= too, no preflights) or guarder-api's (Bearer
 * only, preflights answered), as the daemons set them up.
 */
static struct http_access policy(bool feed, unsigned int port, bool loopback, const char *token)
{
	const struct http_access_conf conf = {
		.service = feed ? "feed" : "API",
		.port = port,
		.loopback = loopback,
		.token = token,
		.origins = origins,
		.n_origins = 2,
		.origins_key = feed ? "websocket.origins" : "api.cors_origins",
		.query_token = feed,
		.preflight = !feed,
	};
	struct http_access a;

	if (http_access_init(&a, &conf)) {
		fprintf(stderr, "http_access_init refused a policy of the test\n");
		exit(1);
	}
	return a;
}

static struct http_access api_policy(unsigned int port, bool loopback, const char *token)
{
	return policy(false, port, loopback, token);
}

static struct http_access feed_policy(const char *token)
{
	return policy(true, 8081, true, token);
}

/* The result for a request with these headers (NULL: absent). */
static enum http_access_result result(const struct http_access *a, const char *host,
				      const char *origin, const char *auth, const char *query)
{
	const struct http_access_request req = {
		.host = host, .origin = origin, .authorization = auth, .query_token = query
	};

	return http_access_check(a, &req).result;
}

static const char *shown(const char *s)
{
	return s ? s : "(none)";
}

static void test_host(void)
{
	/* the policies: loopback on 8080, loopback on 80, not loopback */
	struct http_access p[3] = { api_policy(8080, true, NULL), api_policy(80, true, NULL),
				    api_policy(8080, false, NULL) };
	static const struct {
		int policy;
		const char *host;
		bool ok;
	} cases[] = {
		{ 0, "127.0.0.1:8080", true },
		{ 0, "localhost:8080", true },
		{ 0, "LocalHost:8080", true },
		{ 0, "[::1]:8080", true },
		{ 0, "127.0.0.1:8081", false },
		{ 0, "127.0.0.1:80800", false },
		{ 0, "127.0.0.1:808", false },
		{ 0, "127.0.0.1", false },
		{ 0, "localhost", false },
		{ 0, "[::1]", false },
		{ 0, "localhost:", false },
		{ 0, "127.0.0.1:8080 ", false },
		{ 0, "127.0.0.2:8080", false },
		{ 0, "::1:8080", false },
		{ 0, "localhost.evil.example:8080", false },
		{ 0, "evil.example:8080", false },
		{ 0, "", false },
		{ 0, NULL, false },
		/* port 80: the scheme's default, which clients leave out */
		{ 1, "localhost", true },
		{ 1, "127.0.0.1", true },
		{ 1, "[::1]", true },
		{ 1, "localhost:80", true },
		{ 1, "localhost:8080", false },
		{ 1, "evil.example", false },
		/* not loopback: Host is not checked (the token is what protects) */
		{ 2, "evil.example", true },
		{ 2, NULL, true },
	};
	const struct http_access_request req = { .host = "evil.example:8080" };
	struct http_access_verdict v;
	size_t i;
	bool ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok = result(&p[cases[i].policy], cases[i].host, NULL, NULL, NULL) == HTTP_ACCESS_OK;
		if (ok != cases[i].ok)
			fprintf(stderr, "Host %s, policy %d: %s\n", shown(cases[i].host),
				cases[i].policy, ok ? "accepted" : "refused");
		CHECK(ok == cases[i].ok);
	}

	v = http_access_check(&p[0], &req);
	CHECK(v.result == HTTP_ACCESS_BAD_HOST && v.status == 421);
	CHECK(v.message && strstr(v.message, "this API answers only to"));
	CHECK(v.message && strstr(v.message, "with port 8080"));
	CHECK(!v.origin);
}

/* Each case against guarder-api's policy (Bearer only) and the feed's (?token= too). */
static void test_token(void)
{
	struct http_access api = api_policy(8081, true, TOKEN), feed = feed_policy(TOKEN),
			   open = api_policy(8081, true, NULL);
	static const struct {
		const char *auth, *query;
		bool api_ok, feed_ok;
	} cases[] = {
		{ "Bearer " TOKEN, NULL, true, true },
		{ "bearer " TOKEN, NULL, true, true },
		{ "BEARER " TOKEN, NULL, true, true },
		{ "Bearer    " TOKEN, NULL, true, true },
		{ NULL, NULL, false, false },
		{ "", NULL, false, false },
		{ "Bearer", NULL, false, false },
		{ "Bearer ", NULL, false, false },
		{ "Bearer wrong-token-0123456789", NULL, false, false },
		{ "Bearer s3cret-token-012345678", NULL, false, false }, /* a prefix */
		{ "Bearer s3cret", NULL, false, false },
		{ "Bearer " TOKEN "0", NULL, false, false }, /* longer */
		{ "Bearer " TOKEN " ", NULL, false, false },
		{ "Bearer\t" TOKEN, NULL, false, false },
		{ "Bearer:" TOKEN, NULL, false, false },
		{ " Bearer " TOKEN, NULL, false, false },
		{ "Basic " TOKEN, NULL, false, false },
		{ TOKEN, NULL, false, false },
		/* the URL's token: the feed's only */
		{ NULL, TOKEN, false, true },
		{ NULL, "wrong", false, false },
		{ NULL, "s3cret-token-012345678", false, false },
		{ NULL, TOKEN "0", false, false },
		{ NULL, "", false, false },
		/* a Bearer header decides, right or wrong; another scheme leaves the URL's */
		{ "Bearer " TOKEN, "wrong", true, true },
		{ "Bearer wrong", TOKEN, false, false },
		{ "Basic dXNlcjpwYXNz", TOKEN, false, true },
		{ "", TOKEN, false, true },
	};
	struct http_access_request req = { .host = HOST, .authorization = "Bearer nope" };
	struct http_access_verdict v;
	size_t i;
	bool a, f;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = result(&api, HOST, NULL, cases[i].auth, cases[i].query) == HTTP_ACCESS_OK;
		f = result(&feed, HOST, NULL, cases[i].auth, cases[i].query) == HTTP_ACCESS_OK;
		if (a != cases[i].api_ok || f != cases[i].feed_ok)
			fprintf(stderr, "Authorization %s, ?token=%s: API %s, feed %s\n",
				shown(cases[i].auth), shown(cases[i].query),
				a ? "accepted" : "refused", f ? "accepted" : "refused");
		CHECK(a == cases[i].api_ok);
		CHECK(f == cases[i].feed_ok);
		/* no token set: nothing asked */
		CHECK(result(&open, HOST, NULL, cases[i].auth, cases[i].query) == HTTP_ACCESS_OK);
	}

	v = http_access_check(&api, &req);
	CHECK(v.result == HTTP_ACCESS_BAD_TOKEN && v.status == 401);
	CHECK(v.message &&
	      !strcmp(v.message, "missing or wrong bearer token (Authorization: Bearer ...)"));
	v = http_access_check(&feed, &req);
	CHECK(v.result == HTTP_ACCESS_BAD_TOKEN && v.status == 401);
	CHECK(v.message &&
	      !strcmp(v.message, "missing or wrong token (Authorization: Bearer ..., or ?token=)"));
	v = http_access_check(&open, &req);
	CHECK(v.result == HTTP_ACCESS_OK && v.status == 0 && !v.message);
}

static void test_origin(void)
{
	/* exact: no case folding, no trailing slash, no other scheme or suffix */
	static const char *const refused[] = { "https://Dash.example.com",
					       "https://dash.example.com/",
					       "http://dash.example.com",
					       "https://dash.example.co",
					       "https://dash.example.com.evil.example",
					       "null",
					       "" };
	size_t i;
	struct http_access a = api_policy(8081, true, TOKEN), feed = feed_policy(NULL);
	struct http_access_request req = { .host = HOST, .authorization = "Bearer " TOKEN };
	struct http_access_verdict v;

	v = http_access_check(&a, &req);
	CHECK(v.result == HTTP_ACCESS_OK && !v.origin);

	req.origin = "https://dash.example.com";
	v = http_access_check(&a, &req);
	CHECK(v.result == HTTP_ACCESS_OK && v.status == 0);
	CHECK(v.origin == origins[0]);
	req.origin = "http://localhost:3000";
	CHECK(http_access_check(&a, &req).origin == origins[1]);

	req.origin = "https://evil.example";
	v = http_access_check(&a, &req);
	CHECK(v.result == HTTP_ACCESS_BAD_ORIGIN && v.status == 403 && !v.origin);
	CHECK(v.message && !strcmp(v.message, "origin not allowed (see api.cors_origins)"));
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		CHECK(result(&a, HOST, refused[i], "Bearer " TOKEN, NULL) ==
		      HTTP_ACCESS_BAD_ORIGIN);

	req.origin = "https://evil.example";
	v = http_access_check(&feed, &req);
	CHECK(v.result == HTTP_ACCESS_BAD_ORIGIN);
	CHECK(v.message && !strcmp(v.message, "origin not allowed (see websocket.origins)"));

	CHECK(http_access_cors_origin(&a, "https://dash.example.com") == origins[0]);
	CHECK(http_access_cors_origin(&a, "https://evil.example") == NULL);
	CHECK(http_access_cors_origin(&a, NULL) == NULL);
}

/* Host, then Origin, then preflight, then token; CORS answers keep the origin. */
static void test_order(void)
{
	struct http_access a = api_policy(8081, true, TOKEN), feed = feed_policy(TOKEN);
	struct http_access_request req = { .host = "evil.example",
					   .origin = "https://evil.example" };
	struct http_access_verdict v;

	CHECK(http_access_check(&a, &req).result == HTTP_ACCESS_BAD_HOST);
	req.host = "localhost:8081";
	CHECK(http_access_check(&a, &req).result == HTTP_ACCESS_BAD_ORIGIN);
	req.options = true;
	CHECK(http_access_check(&a, &req).result == HTTP_ACCESS_BAD_ORIGIN);

	/* a preflight needs no token; the allowed origin is echoed */
	req.origin = "https://dash.example.com";
	v = http_access_check(&a, &req);
	CHECK(v.result == HTTP_ACCESS_PREFLIGHT && v.status == 204 && v.origin == origins[0]);
	req.origin = NULL;
	v = http_access_check(&a, &req);
	CHECK(v.result == HTTP_ACCESS_PREFLIGHT && !v.origin);
	req.host = "evil.example";
	CHECK(http_access_check(&a, &req).result == HTTP_ACCESS_BAD_HOST);

	/* the feed answers no preflight: OPTIONS needs the token like the rest */
	req.host = "localhost:8081";
	CHECK(http_access_check(&feed, &req).result == HTTP_ACCESS_BAD_TOKEN);

	/* a 401 to an allowed origin still carries CORS, so the page can read it */
	req.options = false;
	req.origin = "https://dash.example.com";
	v = http_access_check(&a, &req);
	CHECK(v.result == HTTP_ACCESS_BAD_TOKEN && v.origin == origins[0]);
}

static void test_init(void)
{
	const struct http_access_conf good = { .service = "feed",
					       .port = 8081,
					       .loopback = true,
					       .origins_key = "websocket.origins" };
	struct http_access_conf c;
	struct http_access a, before;
	char long_name[200];

	memset(&a, 0x5a, sizeof(a));
	memcpy(&before, &a, sizeof(a));
	c = good;
	c.service = NULL;
	CHECK(http_access_init(&a, &c) == -EINVAL);
	c = good;
	c.origins_key = NULL;
	CHECK(http_access_init(&a, &c) == -EINVAL);
	c = good;
	c.port = 65536;
	CHECK(http_access_init(&a, &c) == -EINVAL);
	c = good;
	c.token = "";
	CHECK(http_access_init(&a, &c) == -EINVAL);
	c = good;
	c.n_origins = 1;
	CHECK(http_access_init(&a, &c) == -EINVAL);
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	c = good;
	c.service = long_name;
	CHECK(http_access_init(&a, &c) == -EINVAL);
	CHECK(!memcmp(&a, &before, sizeof(a)));

	CHECK(http_access_init(&a, &good) == 0);
	CHECK(result(&a, "[::1]:8081", NULL, NULL, NULL) == HTTP_ACCESS_OK);
	c = good;
	c.port = 65535;
	CHECK(http_access_init(&a, &c) == 0);
	CHECK(result(&a, "localhost:65535", NULL, NULL, NULL) == HTTP_ACCESS_OK);
	CHECK(result(&a, "localhost:8081", NULL, NULL, NULL) == HTTP_ACCESS_BAD_HOST);
}

int main(void)
{
	test_host();
	test_token();
	test_origin();
	test_order();
	test_init();
	return check_report("test_http_access");
}
