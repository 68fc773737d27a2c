// SPDX-License-Identifier: GPL-2.0
/*
 * The model client (ai_model.h): OpenAI-compatible chat completions over
 * libcurl, answers parsed with json-c.
 *
 * Each call makes its own curl easy handle, so calls from several threads
 * never share curl state; the settings are copied under the client's lock
 * at the start of a call and the lock is never held across the network.
 * Time: one deadline (timeout_ms) bounds the whole call: every HTTP try
 * gets only the time left (CURLOPT_TIMEOUT_MS) and a backoff or
 * Retry-After wait that would cross the deadline ends the call instead.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "ai_model.h"
#include "errmsg.h"
#include "log.h"
#include "url.h"

struct ai_model {
	pthread_mutex_t lock; /* guards p and st */
	struct ai_model_params p;
	struct ai_model_stats st;
	unsigned int abort_gen; /* ai_model_abort() count; atomic */
};

/* What a call in flight checks to end early (ai_model_abort). */
struct abort_check {
	struct ai_model *m;
	unsigned int gen; /* abort_gen when the call started */
};

static bool aborted(const struct abort_check *a)
{
	return __atomic_load_n(&a->m->abort_gen, __ATOMIC_ACQUIRE) != a->gen;
}

/* libcurl's progress callback: non-zero ends the transfer (CURLE_ABORTED_BY_CALLBACK). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return aborted(ud);
}

/* Thread-local results of the calling thread's last ai_model_ask(). */
static __thread unsigned int tl_retry_after_s;
static __thread unsigned long long tl_tokens;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

static unsigned long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ull +
	       (unsigned long long)ts.tv_nsec / 1000000ull;
}

/* Sleep @ms in steps of 50 ms; false when ai_model_abort() cut it short. */
static bool sleep_ms(unsigned long long ms, const struct abort_check *a)
{
	while (ms) {
		unsigned long long step = ms < 50 ? ms : 50;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000L };

		if (aborted(a))
			return false;
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		ms -= step;
	}
	return !aborted(a);
}

void ai_model_abort(struct ai_model *m)
{
	__atomic_add_fetch(&m->abort_gen, 1, __ATOMIC_ACQ_REL);
}

/* Copy @s into @dst of @size bytes; -EINVAL when it does not fit. */
static int copy_str(char *dst, size_t size, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= size)
		return -EINVAL;
	memcpy(dst, s ? s : "", n);
	dst[n] = '\0';
	return 0;
}

const char *ai_model_provider_name(enum guarder_ai_provider p)
{
	return config_enum_name("ai.model.provider", (int)p);
}

int ai_model_provider_parse(const char *s, enum guarder_ai_provider *out)
{
	int v;

	if (config_enum_parse("ai.model.provider", s, &v))
		return -EINVAL;
	*out = (enum guarder_ai_provider)v;
	return 0;
}

int ai_model_params_check(const struct ai_model_params *p, char *err, size_t errlen)
{
	char why[AI_MODEL_ERR_LEN - 16];
	const unsigned char *k;

	if (p->endpoint[0] && url_check_http(p->endpoint, why, sizeof(why)))
		return errmsg_inval(err, errlen, "endpoint: %s", why);
	if (strnlen(p->endpoint, sizeof(p->endpoint)) >= sizeof(p->endpoint))
		return errmsg_set(err, errlen, -EINVAL, "endpoint: longer than %zu bytes",
				  sizeof(p->endpoint) - 1);
	for (k = (const unsigned char *)p->api_key; *k; k++)
		if (*k <= ' ' || *k >= 0x7f)
			return errmsg_set(
				err, errlen, -EINVAL,
				"api_key: may only contain printable ASCII without spaces");
	if (!p->name[0])
		return errmsg_set(err, errlen, -EINVAL, "model: must not be empty");
	for (k = (const unsigned char *)p->name; *k; k++)
		if (*k <= ' ' || *k >= 0x7f || *k == '/' || *k == '?' || *k == '#')
			return errmsg_set(
				err, errlen, -EINVAL,
				"model: printable ASCII without spaces, '/', '?' or '#' only");
	for (k = (const unsigned char *)p->api_version; *k; k++)
		if (!isalnum(*k) && *k != '-' && *k != '.' && *k != '_')
			return errmsg_set(err, errlen, -EINVAL,
					  "api_version: letters, digits, '-', '.' and '_' only");
	if (p->provider != GUARDER_AI_OPENAI && p->provider != GUARDER_AI_AZURE &&
	    p->provider != GUARDER_AI_OLLAMA)
		return errmsg_set(err, errlen, -EINVAL,
				  "provider: must be openai, azure or ollama");
	if (p->timeout_ms < 100 || p->timeout_ms > 600000)
		return errmsg_set(err, errlen, -EINVAL, "timeout_ms: must be 100..600000");
	if (p->max_retries > 10)
		return errmsg_set(err, errlen, -EINVAL, "max_retries: must be 0..10");
	if (p->calls_per_minute < 1 || p->calls_per_minute > 10000)
		return errmsg_set(err, errlen, -EINVAL, "calls_per_minute: must be 1..10000");
	if (p->max_tokens < 64 || p->max_tokens > 32768)
		return errmsg_set(err, errlen, -EINVAL, "max_tokens: must be 64..32768");
	if (p->temperature_milli < -1 || p->temperature_milli > 2000)
		return errmsg_set(err, errlen, -EINVAL, "temperature: must be 0..2");
	return 0;
}

/* "1"/"true"/"yes"/"on" -> 1, "0"/"false"/"no"/"off" -> 0, else -EINVAL. */
static int parse_bool_env(const char *s)
{
	if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on"))
		return 1;
	if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
	    !strcasecmp(s, "off"))
		return 0;
	return -EINVAL;
}

int ai_model_params_from_config(const struct guarder_config *cfg, struct ai_model_params *out,
				char *err, size_t errlen)
{
	const char *endpoint = cfg->ai.model.endpoint, *key = cfg->ai.model.api_key;
	char why[AI_MODEL_ERR_LEN - 32];
	const char *env;
	int b;

	memset(out, 0, sizeof(*out));
	env = getenv("OPENAI_ENDPOINT");
	if (env && *env)
		endpoint = env;
	env = getenv("OPENAI_API_KEY");
	if (env && *env)
		key = env;
	out->debug = cfg->ai.model.debug;
	env = getenv("AI_DEBUG");
	if (env && *env) {
		b = parse_bool_env(env);
		if (b < 0)
			return errmsg_set(err, errlen, -EINVAL,
					  "AI_DEBUG: must be 1/true/yes/on or 0/false/no/off");
		out->debug = b;
	}
	if (copy_str(out->endpoint, sizeof(out->endpoint), endpoint))
		return errmsg_set(err, errlen, -EINVAL, "endpoint: longer than %zu bytes",
				  sizeof(out->endpoint) - 1);
	if (copy_str(out->api_key, sizeof(out->api_key), key))
		return errmsg_set(err, errlen, -EINVAL, "api_key: longer than %zu bytes",
				  sizeof(out->api_key) - 1);
	if (copy_str(out->name, sizeof(out->name),
		     cfg->ai.model.name ? cfg->ai.model.name : "gpt-4o-mini"))
		return errmsg_set(err, errlen, -EINVAL, "model: too long");
	if (copy_str(out->api_version, sizeof(out->api_version), cfg->ai.model.api_version))
		return errmsg_set(err, errlen, -EINVAL, "api_version: too long");
	out->key_set = out->api_key[0] != '\0';
	out->enabled = true;
	out->provider = cfg->ai.model.provider;
	out->timeout_ms = cfg->ai.model.timeout_ms;
	out->max_retries = cfg->ai.model.max_retries;
	out->calls_per_minute = cfg->ai.model.calls_per_minute;
	out->max_tokens = cfg->ai.model.max_tokens;
	out->temperature_milli = -1;
	if (out->endpoint[0] && url_check_http(out->endpoint, why, sizeof(why)))
		return errmsg_inval(err, errlen, "%s: %s",
				    endpoint == cfg->ai.model.endpoint ? "ai.model.endpoint" :
									 "OPENAI_ENDPOINT",
				    why);
	return ai_model_params_check(out, err, errlen);
}

int ai_model_new(const struct guarder_config *cfg, struct ai_model **out, char *err, size_t errlen)
{
	struct ai_model *m;
	int rc;

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc)
		return errmsg_set(err, errlen, curl_init_rc, "curl_global_init failed");
	m = calloc(1, sizeof(*m));
	if (!m)
		return errmsg_set(err, errlen, -ENOMEM, "out of memory");
	rc = ai_model_params_from_config(cfg, &m->p, err, errlen);
	if (rc) {
		free(m);
		return rc;
	}
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void ai_model_free(struct ai_model *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	/* The key is a secret: do not leave it in freed memory. */
	explicit_bzero(&m->p, sizeof(m->p));
	free(m);
}

bool ai_model_configured(struct ai_model *m)
{
	bool r;

	pthread_mutex_lock(&m->lock);
	r = m->p.endpoint[0] && m->p.enabled;
	pthread_mutex_unlock(&m->lock);
	return r;
}

void ai_model_get_params(struct ai_model *m, struct ai_model_params *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->p;
	pthread_mutex_unlock(&m->lock);
	out->key_set = out->api_key[0] != '\0';
	explicit_bzero(out->api_key, sizeof(out->api_key));
}

int ai_model_set_params(struct ai_model *m, const struct ai_model_params *p, char *err,
			size_t errlen)
{
	int rc = ai_model_params_check(p, err, errlen);
	char keep[AI_MODEL_KEY_MAX];

	if (rc)
		return rc;
	pthread_mutex_lock(&m->lock);
	memcpy(keep, m->p.api_key, sizeof(keep));
	m->p = *p;
	if (!p->api_key[0] && p->key_set)
		memcpy(m->p.api_key, keep, sizeof(keep));
	m->p.key_set = m->p.api_key[0] != '\0';
	pthread_mutex_unlock(&m->lock);
	explicit_bzero(keep, sizeof(keep));
	return 0;
}

void ai_model_get_stats(struct ai_model *m, struct ai_model_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->st;
	pthread_mutex_unlock(&m->lock);
}

unsigned int ai_model_retry_after_s(void)
{
	return tl_retry_after_s ? tl_retry_after_s : 1;
}

unsigned long long ai_model_last_tokens(void)
{
	return tl_tokens;
}

/*
 * The per-process calls-per-minute limit: the start times of the calls of
 * the last 60 s in a ring (10000 = the highest calls_per_minute).
 */
#define RATE_RING 10000
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long rate_ring[RATE_RING];
static size_t rate_head, rate_count; /* oldest at rate_head */

/* Take a slot, or return the seconds until one frees (> 0). */
static unsigned int rate_take(unsigned int per_minute)
{
	unsigned long long now = mono_ms();
	unsigned int wait = 0;

	pthread_mutex_lock(&rate_lock);
	while (rate_count && rate_ring[rate_head] + 60000 <= now) {
		rate_head = (rate_head + 1) % RATE_RING;
		rate_count--;
	}
	if (rate_count >= per_minute) {
		/* the slot of the (count - limit + 1)-th oldest frees first enough room */
		size_t i = (rate_head + rate_count - per_minute) % RATE_RING;

		wait = (unsigned int)((rate_ring[i] + 60000 - now + 999) / 1000);
		if (!wait)
			wait = 1;
	} else {
		rate_ring[(rate_head + rate_count) % RATE_RING] = now;
		rate_count++;
	}
	pthread_mutex_unlock(&rate_lock);
	return wait;
}

/* The answer buffer: bounded, so a runaway server cannot fill memory. */
struct resp {
	char *buf;
	size_t len;
	bool overflow;
	long retry_after; /* -1 = none */
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;
	char *nb;

	if (r->len + n > AI_MODEL_MAX_RESPONSE) {
		r->overflow = true;
		return 0; /* CURLE_WRITE_ERROR ends the transfer */
	}
	nb = realloc(r->buf, r->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, ptr, n);
	r->buf = nb;
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct resp *r = ud;
	size_t n = size * nmemb;

	/* A new response (a retry, a redirect) starts: forget the old header. */
	if (n >= 5 && !strncmp(ptr, "HTTP/", 5))
		r->retry_after = -1;
	if (n > 12 && !strncasecmp(ptr, "Retry-After:", 12)) {
		char tmp[32];
		size_t l = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
		char *end;
		long v;

		memcpy(tmp, ptr + 12, l);
		tmp[l] = '\0';
		v = strtol(tmp, &end, 10);
		/* Seconds only; an HTTP-date is ignored (the backoff applies). */
		while (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')
			end++;
		if (end != tmp && *end == '\0' && v >= 0)
			r->retry_after = v > 86400 ? 86400 : v;
	}
	return n;
}

/* The chat-completions URL of @p (see struct ai_model_params). */
static int build_url(const struct ai_model_params *p, char *url, size_t size)
{
	size_t n = strlen(p->endpoint);
	int w;

	while (n && p->endpoint[n - 1] == '/')
		n--;
	if (strstr(p->endpoint, "/chat/completions")) {
		bool has_q = strchr(p->endpoint, '?') != NULL;

		if (p->provider == GUARDER_AI_AZURE && p->api_version[0] &&
		    !strstr(p->endpoint, "api-version="))
			w = snprintf(url, size, "%s%capi-version=%s", p->endpoint,
				     has_q ? '&' : '?', p->api_version);
		else
			w = snprintf(url, size, "%s", p->endpoint);
	} else if (p->provider == GUARDER_AI_AZURE) {
		if (strstr(p->endpoint, "/openai/deployments/"))
			w = snprintf(url, size, "%.*s/chat/completions?api-version=%s", (int)n,
				     p->endpoint,
				     p->api_version[0] ? p->api_version : "2024-06-01");
		else
			w = snprintf(url, size,
				     "%.*s/openai/deployments/%s/chat/completions?api-version=%s",
				     (int)n, p->endpoint, p->name,
				     p->api_version[0] ? p->api_version : "2024-06-01");
	} else {
		w = snprintf(url, size, "%.*s/chat/completions", (int)n, p->endpoint);
	}
	return (w < 0 || (size_t)w >= size) ? -ENAMETOOLONG : 0;
}

static struct json_object *build_body(const struct ai_model_params *p, const char *system,
				      const char *user)
{
	struct json_object *body = json_object_new_object(), *msgs = json_object_new_array();
	struct json_object *m1 = json_object_new_object(), *m2 = json_object_new_object();
	struct json_object *rf = json_object_new_object();

	if (!body || !msgs || !m1 || !m2 || !rf) {
		json_object_put(body);
		json_object_put(msgs);
		json_object_put(m1);
		json_object_put(m2);
		json_object_put(rf);
		return NULL;
	}
	json_object_object_add(body, "model", json_object_new_string(p->name));
	json_object_object_add(m1, "role", json_object_new_string("system"));
	json_object_object_add(m1, "content", json_object_new_string(system ? system : ""));
	json_object_object_add(m2, "role", json_object_new_string("user"));
	json_object_object_add(m2, "content", json_object_new_string(user ? user : ""));
	json_object_array_add(msgs, m1);
	json_object_array_add(msgs, m2);
	json_object_object_add(body, "messages", msgs);
	json_object_object_add(rf, "type", json_object_new_string("json_object"));
	json_object_object_add(body, "response_format", rf);
	json_object_object_add(body, "max_tokens", json_object_new_int64(p->max_tokens));
	if (p->temperature_milli >= 0)
		json_object_object_add(body, "temperature",
				       json_object_new_double(p->temperature_milli / 1000.0));
	json_object_object_add(body, "stream", json_object_new_boolean(false));
	return body;
}

/* The error message of an OpenAI-style error body ({"error":{"message":...}}), if any. */
static void error_message(const struct resp *r, char *out, size_t size)
{
	struct json_object *j, *e, *msg;

	out[0] = '\0';
	if (!r->buf || !r->len)
		return;
	j = json_tokener_parse(r->buf);
	if (j && json_object_object_get_ex(j, "error", &e)) {
		if (json_object_is_type(e, json_type_string))
			msg = e;
		else if (!json_object_object_get_ex(e, "message", &msg))
			msg = NULL;
		if (msg && json_object_is_type(msg, json_type_string)) {
			const char *s = json_object_get_string(msg);

			errmsg_excerpt(out, size, s, strlen(s));
		}
	}
	json_object_put(j);
	if (!out[0])
		errmsg_excerpt(out, size, r->buf, r->len < 160 ? r->len : 160);
}

/* choices[0].message.content of a chat completion, parsed; usage.total_tokens. */
static int parse_completion(const struct resp *r, struct json_object **answer, char *err,
			    size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *j, *v, *c0, *msg, *content, *usage, *tt;
	const char *text;
	char ex[200];
	int rc;

	tok = json_tokener_new();
	if (!tok)
		return errmsg_set(err, errlen, -ENOMEM, "out of memory");
	j = json_tokener_parse_ex(tok, r->buf ? r->buf : "", (int)r->len);
	json_tokener_free(tok);
	if (!j || !json_object_is_type(j, json_type_object)) {
		errmsg_excerpt(ex, sizeof(ex), r->buf ? r->buf : "", r->len < 120 ? r->len : 120);
		json_object_put(j);
		return errmsg_set(err, errlen, -EBADMSG,
				  "the endpoint's answer is not a JSON chat completion: \"%s\"",
				  ex);
	}
	if (json_object_object_get_ex(j, "usage", &usage) &&
	    json_object_object_get_ex(usage, "total_tokens", &tt) &&
	    json_object_is_type(tt, json_type_int))
		tl_tokens = (unsigned long long)json_object_get_int64(tt);
	if (!json_object_object_get_ex(j, "choices", &v) ||
	    !json_object_is_type(v, json_type_array) || json_object_array_length(v) < 1) {
		json_object_put(j);
		return errmsg_set(err, errlen, -EBADMSG, "the answer has no choices[0]");
	}
	c0 = json_object_array_get_idx(v, 0);
	if (!json_object_object_get_ex(c0, "message", &msg) ||
	    !json_object_object_get_ex(msg, "content", &content) ||
	    !json_object_is_type(content, json_type_string)) {
		json_object_put(j);
		return errmsg_set(err, errlen, -EBADMSG,
				  "the answer has no choices[0].message.content string");
	}
	text = json_object_get_string(content);
	rc = ai_model_parse_content(text, (size_t)json_object_get_string_len(content), answer, err,
				    errlen);
	json_object_put(j);
	return rc;
}

static void debug_log_request(const struct ai_model_params *p, const char *url, const char *body)
{
	if (!p->debug)
		return;
	/* The key never goes to the log: only whether one is sent, and how. */
	log_info("ai model request: POST %s; %s: %s; body: %s", url,
		 p->provider == GUARDER_AI_AZURE ? "api-key" : "Authorization",
		 p->api_key[0] ? "REDACTED" : "(none)", body);
}

static void debug_log_answer(const struct ai_model_params *p, long status, const struct resp *r,
			     unsigned long long ms)
{
	char ex[4096];
	const char *k;

	if (!p->debug)
		return;
	errmsg_excerpt(ex, sizeof(ex), r->buf ? r->buf : "", r->len);
	/* A server that echoes the key back (some error pages do) must not leak it. */
	if (p->api_key[0]) {
		size_t kl = strlen(p->api_key);

		while ((k = strstr(ex, p->api_key)))
			memset((char *)k, '*', kl);
	}
	log_info("ai model answer: HTTP %ld after %llu ms, %zu bytes: %s", status, ms, r->len, ex);
}

/* One model call: what its HTTP tries share. */
struct call {
	struct ai_model *m;
	struct ai_model_params *p; /* the settings, copied once at the start */
	struct abort_check ab;
	char url[AI_MODEL_URL_MAX + AI_MODEL_NAME_MAX + 128];
	struct json_object *body;
	const char *body_text;
	struct curl_slist *hdrs;
	CURL *h;
	struct resp r; /* the answer of the last try */
	char cerr[CURL_ERROR_SIZE];
	long status; /* HTTP status of the last try; 0 = none */
	unsigned long long start, deadline, backoff;
	char *err;
	size_t errlen;
};

/* Why no call is made at all (no endpoint, disabled, the local rate limit), or 0. */
static int call_refused(struct call *c)
{
	unsigned int wait;

	if (!c->p->endpoint[0])
		return errmsg_set(c->err, c->errlen, -ENOTCONN,
				  "no model configured (ai.model.endpoint / OPENAI_ENDPOINT is "
				  "unset)");
	if (!c->p->enabled)
		return errmsg_set(c->err, c->errlen, -ENOTCONN,
				  "the model is disabled (enabled: false)");
	wait = rate_take(c->p->calls_per_minute);
	if (!wait)
		return 0;
	tl_retry_after_s = wait;
	pthread_mutex_lock(&c->m->lock);
	c->m->st.rate_limited++;
	pthread_mutex_unlock(&c->m->lock);
	return errmsg_set(c->err, c->errlen, -EBUSY,
			  "local limit of %u model calls per minute reached; retry in %u s",
			  c->p->calls_per_minute, wait);
}

/* The request headers; the key's header is wiped from the stack once copied. */
static struct curl_slist *headers_new(const struct ai_model_params *p)
{
	char auth[AI_MODEL_KEY_MAX + 32];
	struct curl_slist *h = NULL;

	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	if (h && p->api_key[0]) {
		if (p->provider == GUARDER_AI_AZURE)
			snprintf(auth, sizeof(auth), "api-key: %s", p->api_key);
		else
			snprintf(auth, sizeof(auth), "Authorization: Bearer %s", p->api_key);
		h = curl_slist_append(h, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	return h;
}

/* URL, body, headers and the curl handle of @c. Returns 0 or a negative errno. */
static int call_prepare(struct call *c, const char *system, const char *user)
{
	if (build_url(c->p, c->url, sizeof(c->url)))
		return errmsg_set(c->err, c->errlen, -EINVAL, "the model URL is too long");
	c->body = build_body(c->p, system, user);
	if (!c->body)
		return errmsg_set(c->err, c->errlen, -ENOMEM, "out of memory");
	c->body_text = json_object_to_json_string_ext(
		c->body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	c->hdrs = headers_new(c->p);
	if (!c->hdrs)
		return errmsg_set(c->err, c->errlen, -ENOMEM, "out of memory");
	c->h = curl_easy_init();
	if (!c->h)
		return errmsg_set(c->err, c->errlen, -ENOMEM, "curl_easy_init failed");
	debug_log_request(c->p, c->url, c->body_text);
	return 0;
}

/* One HTTP request with the time left before the deadline. */
static CURLcode http_try(struct call *c, unsigned int attempt, unsigned long long now)
{
	CURL *h = c->h;
	CURLcode cc;

	free(c->r.buf);
	c->r = (struct resp){ .retry_after = -1 };
	c->cerr[0] = '\0';
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body_text);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->deadline - now));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->deadline - now));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &c->r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->cerr);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "guarder-ai/1");
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &c->ab);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	pthread_mutex_lock(&c->m->lock);
	c->m->st.http_requests++;
	if (attempt)
		c->m->st.retries++;
	pthread_mutex_unlock(&c->m->lock);
	cc = curl_easy_perform(h);
	c->status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && c->r.overflow))
		debug_log_answer(c->p, c->status, &c->r, mono_ms() - c->start);
	return cc;
}

/* An HTTP error status as rc and message; *@retryable for 429 and 5xx. */
static int http_error(struct call *c, bool *retryable)
{
	char msg[256];
	long st = c->status;

	error_message(&c->r, msg, sizeof(msg));
	if (st == 401 || st == 403)
		return errmsg_set(c->err, c->errlen, -EACCES,
				  "model rejected the key (HTTP %ld%s%s)", st, msg[0] ? ": " : "",
				  msg);
	*retryable = st == 429 || st >= 500;
	if (st == 429)
		return errmsg_set(c->err, c->errlen, -EBUSY, "model rate limit (HTTP 429%s%s)",
				  msg[0] ? ": " : "", msg);
	if (st >= 500)
		return errmsg_set(c->err, c->errlen, -EIO, "model endpoint error (HTTP %ld%s%s)",
				  st, msg[0] ? ": " : "", msg);
	return errmsg_set(c->err, c->errlen, -EIO,
			  "model endpoint refused the request (HTTP %ld%s%s)", st,
			  msg[0] ? ": " : "", msg);
}

/* What one try ended in: 0 with *@answer, or the error; *@retryable when another try may help. */
static int try_outcome(struct call *c, CURLcode cc, struct json_object **answer, bool *retryable)
{
	char msg[256];
	int rc;

	*retryable = false;
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return errmsg_set(c->err, c->errlen, -ECANCELED,
				  "the model call was cancelled (stopping)");
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return errmsg_set(c->err, c->errlen, -ETIMEDOUT,
				  "the model did not answer within %u ms", c->p->timeout_ms);
	if (cc == CURLE_WRITE_ERROR && c->r.overflow)
		return errmsg_set(c->err, c->errlen, -EBADMSG,
				  "model answer not usable: larger than %u bytes",
				  AI_MODEL_MAX_RESPONSE);
	if (cc != CURLE_OK) {
		*retryable = cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
			     cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING;
		return errmsg_set(c->err, c->errlen, -EHOSTUNREACH,
				  "model endpoint unreachable: %s",
				  c->cerr[0] ? c->cerr : curl_easy_strerror(cc));
	}
	if (c->status < 200 || c->status >= 300)
		return http_error(c, retryable);
	rc = parse_completion(&c->r, answer, c->err, c->errlen);
	if (rc == -EBADMSG && c->err && c->errlen) {
		snprintf(msg, sizeof(msg), "%s", c->err);
		errmsg_set(c->err, c->errlen, -EBADMSG, "model answer not usable: %s", msg);
	}
	return rc;
}

/*
 * After a retryable failure @rc of try @attempt: wait (Retry-After, else
 * the doubling backoff) and return true to try again, or false to end
 * the call with *@rc (a wait that would cross the deadline ends it now).
 */
static bool retry_wait(struct call *c, unsigned int attempt, int *rc)
{
	unsigned long long w;

	if (attempt >= c->p->max_retries) {
		if (*rc == -EBUSY)
			tl_retry_after_s =
				c->r.retry_after > 0 ? (unsigned int)c->r.retry_after : 1;
		return false;
	}
	w = c->r.retry_after >= 0 ? (unsigned long long)c->r.retry_after * 1000 : c->backoff;
	if (mono_ms() + w >= c->deadline) {
		if (*rc == -EBUSY)
			tl_retry_after_s = (unsigned int)((w + 999) / 1000);
		if (c->err && c->errlen) {
			size_t l = strlen(c->err);

			snprintf(c->err + l, c->errlen - l,
				 "; not retried: waiting %llu ms would exceed the %u ms timeout", w,
				 c->p->timeout_ms);
		}
		return false;
	}
	if (!sleep_ms(w, &c->ab)) {
		*rc = errmsg_set(c->err, c->errlen, -ECANCELED,
				 "the model call was cancelled (stopping)");
		return false;
	}
	c->backoff *= 2;
	return true;
}

/* The tries of a prepared call, until an answer, a final error or the deadline. */
static int call_run(struct call *c, struct json_object **answer)
{
	unsigned int attempt;
	bool retryable;
	int rc;

	for (attempt = 0;; attempt++) {
		unsigned long long now = mono_ms();

		if (now >= c->deadline)
			return errmsg_set(c->err, c->errlen, -ETIMEDOUT,
					  "the model did not answer within %u ms",
					  c->p->timeout_ms);
		rc = try_outcome(c, http_try(c, attempt, now), answer, &retryable);
		if (!retryable || !retry_wait(c, attempt, &rc))
			return rc;
	}
}

/* The call's result in the client's stats (GET /api/ai/status). */
static void call_record(struct call *c, int rc)
{
	struct ai_model *m = c->m;

	pthread_mutex_lock(&m->lock);
	m->st.calls++;
	if (rc)
		m->st.failures++;
	m->st.last_at = (__u64)time(NULL);
	m->st.last_latency_ms = (unsigned int)(mono_ms() - c->start);
	m->st.last_rc = rc;
	m->st.last_http_status = c->status;
	snprintf(m->st.last_error, sizeof(m->st.last_error), "%s",
		 rc ? (c->err ? c->err : "") : "");
	pthread_mutex_unlock(&m->lock);
}

int ai_model_ask(struct ai_model *m, const char *system, const char *user,
		 struct json_object **answer, char *err, size_t errlen)
{
	struct call *c;
	int rc;

	*answer = NULL;
	tl_retry_after_s = 0;
	tl_tokens = 0;
	if (err && errlen)
		err[0] = '\0';
	/* On the heap: the settings hold the key and the URL buffers are large. */
	c = calloc(1, sizeof(*c));
	if (c)
		c->p = malloc(sizeof(*c->p));
	if (!c || !c->p) {
		free(c);
		return errmsg_set(err, errlen, -ENOMEM, "out of memory");
	}
	c->m = m;
	c->ab = (struct abort_check){ .m = m,
				      .gen = __atomic_load_n(&m->abort_gen, __ATOMIC_ACQUIRE) };
	c->err = err;
	c->errlen = errlen;
	c->backoff = 500;
	pthread_mutex_lock(&m->lock);
	*c->p = m->p;
	pthread_mutex_unlock(&m->lock);

	rc = call_refused(c);
	if (!rc) {
		pthread_once(&curl_once, curl_init_once);
		c->start = mono_ms();
		c->deadline = c->start + c->p->timeout_ms;
		rc = call_prepare(c, system, user);
		if (!rc)
			rc = call_run(c, answer);
		call_record(c, rc);
		if (rc) {
			json_object_put(*answer);
			*answer = NULL;
		}
		if (c->p->debug && rc)
			log_info("ai model call failed: %s", err ? err : "");
	}
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	json_object_put(c->body);
	free(c->r.buf);
	explicit_bzero(c->p, sizeof(*c->p));
	free(c->p);
	free(c);
	return rc;
}

/* Parse exactly [s, s+len) as one JSON object or array; NULL otherwise. */
static struct json_object *parse_exact(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *j;
	size_t off;

	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (!len || len > AI_MODEL_MAX_RESPONSE)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	j = json_tokener_parse_ex(tok, s, (int)len);
	off = json_tokener_get_parse_end(tok);
	if (!j && json_tokener_get_error(tok) == json_tokener_continue)
		j = NULL;
	json_tokener_free(tok);
	if (j && (off != len || (!json_object_is_type(j, json_type_object) &&
				 !json_object_is_type(j, json_type_array)))) {
		json_object_put(j);
		j = NULL;
	}
	return j;
}

/* The end (one past) of the balanced {...} or [...] starting at s[0], or 0. */
static size_t balanced_end(const char *s, size_t len)
{
	char stack[64];
	size_t i, depth = 0;
	bool in_str = false, esc = false;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (depth == sizeof(stack))
				return 0;
			stack[depth++] = c == '{' ? '}' : ']';
		} else if (c == '}' || c == ']') {
			if (!depth || stack[depth - 1] != c)
				return 0;
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

int ai_model_parse_content(const char *text, size_t len, struct json_object **out, char *err,
			   size_t errlen)
{
	const char *p, *end = text + len, *f;
	char ex[100];
	unsigned int tries = 0;

	*out = parse_exact(text, len);
	if (*out)
		return 0;
	/* A fenced block: ```json ... ``` (or ``` ... ```). */
	for (p = text; p < end && (f = memmem(p, (size_t)(end - p), "```", 3)); p = f + 3) {
		const char *body = f + 3, *close;

		while (body < end && *body != '\n' && *body != '{' && *body != '[')
			body++; /* the language tag */
		close = memmem(body, (size_t)(end - body), "```", 3);
		if (!close)
			break;
		*out = parse_exact(body, (size_t)(close - body));
		if (*out)
			return 0;
		f = close; /* the next fence opens after this one closes */
	}
	/* JSON inside prose: the first balanced {...} or [...] that parses. */
	for (p = text; p < end && tries < 64; p++) {
		size_t e;

		if (*p != '{' && *p != '[')
			continue;
		tries++;
		e = balanced_end(p, (size_t)(end - p));
		if (!e)
			continue;
		*out = parse_exact(p, e);
		if (*out)
			return 0;
	}
	errmsg_excerpt(ex, sizeof(ex), text, len < 80 ? len : 80);
	if (!len)
		return errmsg_set(err, errlen, -EBADMSG, "the model's message is empty");
	return errmsg_set(err, errlen, -EBADMSG, "no JSON object in the model's message (\"%s\")",
			  ex);
}

/* Keys a model adds to explain a rule; dropped before the strict codec. */
static const char *const commentary_keys[] = {
	"reason",   "description", "explanation", "confidence",
	"severity", "title",	   "rationale",	  NULL,
};

static bool in_list(const char *k, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(k, *list))
			return true;
	return false;
}

static const char *const int_keys[] = {
	"priority", "tcp_flags", "tcp_flags_mask", "icmp_type", "icmp_code", NULL,
};
static const char *const port_keys[] = {
	"src_port", "dst_port", "inner_src_port", "inner_dst_port", NULL,
};
static const char *const lower_keys[] = {
	"action", "rule_type", "protocol", "inner_protocol", NULL,
};

/* "80", " -5 " -> 1 and *out; otherwise 0. */
static bool str_to_int(const char *s, long long *out)
{
	char *e;
	long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	errno = 0;
	v = strtoll(s, &e, 10);
	if (errno || e == s)
		return false;
	while (isspace((unsigned char)*e))
		e++;
	if (*e)
		return false;
	*out = v;
	return true;
}

/* A copy of a model's rule object, normalised for rule_from_json (see the header). */
static struct json_object *normalise_rule(struct json_object *in, __u64 expires_at)
{
	struct json_object *o = json_object_new_object();
	const char *note = NULL;
	bool has_comment = false, has_enabled = false;

	if (!o)
		return NULL;
	json_object_object_foreach(in, k, v)
	{
		struct json_object *nv = NULL;
		long long x;

		if (!strcmp(k, "id") || !strcmp(k, "force"))
			continue; /* the API assigns ids; the model never forces */
		if (in_list(k, commentary_keys)) {
			if ((!strcmp(k, "reason") || !strcmp(k, "description")) && !note &&
			    json_object_is_type(v, json_type_string))
				note = json_object_get_string(v);
			continue;
		}
		if (!strcmp(k, "comment"))
			has_comment = true;
		if (!strcmp(k, "enabled"))
			has_enabled = true;
		if (!strcmp(k, "expires_at") && expires_at)
			continue;
		if (in_list(k, int_keys) || in_list(k, port_keys)) {
			if (json_object_is_type(v, json_type_string) &&
			    str_to_int(json_object_get_string(v), &x))
				nv = json_object_new_int64(x);
			else if (json_object_is_type(v, json_type_double)) {
				double d = json_object_get_double(v);

				if (d == (double)(long long)d)
					nv = json_object_new_int64((long long)d);
			}
		} else if (!strcmp(k, "enabled") && json_object_is_type(v, json_type_string)) {
			const char *s = json_object_get_string(v);

			if (!strcasecmp(s, "true"))
				nv = json_object_new_boolean(1);
			else if (!strcasecmp(s, "false"))
				nv = json_object_new_boolean(0);
		} else if (in_list(k, lower_keys) && json_object_is_type(v, json_type_string)) {
			char buf[32];
			const char *s = json_object_get_string(v);
			size_t i;

			if (strlen(s) < sizeof(buf)) {
				for (i = 0; s[i]; i++)
					buf[i] = (char)tolower((unsigned char)s[i]);
				buf[i] = '\0';
				nv = json_object_new_string(buf);
			}
		}
		json_object_object_add(o, k, nv ? nv : json_object_get(v));
	}
	if (!has_comment && note) {
		char c[RULE_COMMENT_MAX + 1];
		size_t i, n = 0;

		/* bounded, control characters out (the codec refuses them) */
		for (i = 0; note[i] && n < 200; i++)
			c[n++] = ((unsigned char)note[i] < 0x20 || note[i] == 0x7f) ? ' ' : note[i];
		/* do not cut a UTF-8 sequence in half */
		while (n && note[i] && ((unsigned char)c[n - 1] & 0xc0) == 0x80)
			n--;
		if (n && note[i] && ((unsigned char)c[n - 1] & 0xc0) == 0xc0)
			n--;
		c[n] = '\0';
		json_object_object_add(o, "comment", json_object_new_string(c));
	}
	if (!has_enabled)
		json_object_object_add(o, "enabled", json_object_new_boolean(1));
	if (expires_at)
		json_object_object_add(o, "expires_at", json_object_new_int64((int64_t)expires_at));
	return o;
}

static void add_reject(struct ai_model_reject *rejects, size_t max_rejects, size_t *n_rejects,
		       size_t index, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_reject(struct ai_model_reject *rejects, size_t max_rejects, size_t *n_rejects,
		       size_t index, const char *fmt, ...)
{
	va_list ap;

	if (*n_rejects < max_rejects && rejects) {
		rejects[*n_rejects].index = index;
		va_start(ap, fmt);
		vsnprintf(rejects[*n_rejects].reason, sizeof(rejects[*n_rejects].reason), fmt, ap);
		va_end(ap);
	}
	(*n_rejects)++;
}

/* Whether @a is an array whose first element is an object (a rule list). */
static bool is_object_list(struct json_object *a)
{
	return json_object_is_type(a, json_type_array) &&
	       (json_object_array_length(a) == 0 ||
		json_object_is_type(json_object_array_get_idx(a, 0), json_type_object));
}

int ai_model_rules_from_answer(struct json_object *answer, __u64 expires_at, struct rule *rules,
			       size_t max_rules, size_t *n_rules, struct ai_model_reject *rejects,
			       size_t max_rejects, size_t *n_rejects, char *err, size_t errlen)
{
	static const char *const list_keys[] = { "rules", "filters", "suggestions",
						 "recommendations", NULL };
	struct json_object *list = NULL, *single = NULL, *v;
	size_t i, n;
	const char *const *k;

	*n_rules = 0;
	*n_rejects = 0;
	if (!answer)
		return errmsg_set(err, errlen, -EBADMSG, "no answer");
	if (json_object_is_type(answer, json_type_array)) {
		list = answer;
	} else if (json_object_is_type(answer, json_type_object)) {
		for (k = list_keys; *k && !list; k++) {
			if (!json_object_object_get_ex(answer, *k, &v))
				continue;
			if (is_object_list(v))
				list = v;
			else if (!strcmp(*k, "rules") || !strcmp(*k, "filters"))
				return errmsg_set(err, errlen, -EBADMSG,
						  "\"%s\" is not a list of rule objects", *k);
		}
		if (!list && json_object_object_get_ex(answer, "action", &v))
			single = answer;
	}
	if (!list && !single)
		return errmsg_set(err, errlen, -EBADMSG,
				  "the answer holds no rule list (expected {\"rules\": [...]})");
	n = single ? 1 : json_object_array_length(list);
	for (i = 0; i < n; i++) {
		struct json_object *in = single ? single : json_object_array_get_idx(list, i), *o;
		char rerr[RULE_ERR_LEN];
		struct rule r;
		int rc;

		if (!json_object_is_type(in, json_type_object)) {
			add_reject(rejects, max_rejects, n_rejects, i,
				   "rule %zu: not a JSON object", i);
			continue;
		}
		if (*n_rules >= max_rules) {
			add_reject(rejects, max_rejects, n_rejects, i,
				   "rule %zu: too many rules (at most %zu)", i, max_rules);
			continue;
		}
		o = normalise_rule(in, expires_at);
		if (!o)
			return errmsg_set(err, errlen, -ENOMEM, "out of memory");
		rc = rule_from_json(o, 0, &r, NULL, rerr, sizeof(rerr));
		json_object_put(o);
		if (rc) {
			add_reject(rejects, max_rejects, n_rejects, i, "rule %zu: %s", i, rerr);
			continue;
		}
		rules[(*n_rules)++] = r;
	}
	return 0;
}
