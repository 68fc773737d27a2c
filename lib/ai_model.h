/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The model client: an OpenAI-compatible chat-completions endpoint
 * (OpenAI, Azure OpenAI, DeepSeek, Ollama, vLLM, LocalAI) reached with
 * libcurl, answers parsed with json-c. Used by guarder-ai (the worker) and
 * guarder-api (the /api/ai endpoints).
 *
 * The settings come from cfg->ai.model; the environment variables
 * OPENAI_API_KEY, OPENAI_ENDPOINT and AI_DEBUG override the file (the
 * reference documented them and never read them).
 *
 * Thread safety: one struct ai_model may be used by several threads at
 * once (every call uses its own curl handle; the settings are copied under
 * a lock at the start of a call, so ai_model_set_params() never disturbs a
 * call in flight). The calls-per-minute limit is per process: it counts
 * the calls of every struct ai_model of the process together.
 *
 * The API key is a secret: no function of this module logs it or returns
 * it (ai_model_get_params() blanks it); debug logging prints "REDACTED".
 */
#ifndef GUARDER_AI_MODEL_H
#define GUARDER_AI_MODEL_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "rule.h"

struct json_object;
struct ai_model;

/* the config file's limits (docs/config.md), each with its NUL */
#define AI_MODEL_URL_MAX      1025
#define AI_MODEL_KEY_MAX      1025
#define AI_MODEL_NAME_MAX     257
#define AI_MODEL_VERSION_MAX  65
#define AI_MODEL_ERR_LEN      512 /* enough for every error message */
#define AI_MODEL_MAX_RESPONSE (1u << 20) /* bytes of an HTTP answer kept */

/* The settings of a model client (a copy of cfg->ai.model, env applied). */
struct ai_model_params {
	/*
	 * The base URL ("https://api.openai.com/v1"; calls go to
	 * {endpoint}/chat/completions, Azure: {endpoint}/openai/deployments/
	 * {name}/chat/completions?api-version=...), or a full URL already
	 * ending in /chat/completions (the reference's form), used as is.
	 * "" = no model configured.
	 */
	char endpoint[AI_MODEL_URL_MAX];
	bool enabled; /* false: configured but switched off (POST /api/ai/config) */
	char api_key[AI_MODEL_KEY_MAX]; /* secret; "" = none */
	bool key_set; /* ai_model_get_params(): a key is set (api_key is blank) */
	char name[AI_MODEL_NAME_MAX];
	char api_version[AI_MODEL_VERSION_MAX]; /* Azure only; "" = unset */
	enum guarder_ai_provider provider;
	unsigned int timeout_ms; /* whole call, retries and waits included */
	unsigned int max_retries;
	unsigned int calls_per_minute;
	unsigned int max_tokens;
	int temperature_milli; /* 0..2000 = temperature * 1000; -1 = not sent (default) */
	bool debug;
};

/* What the last call did, for GET /api/ai/status. */
struct ai_model_stats {
	__u64 calls; /* ai_model_ask() calls that reached the network */
	__u64 failures; /* of those, the ones that returned an error */
	__u64 http_requests; /* HTTP requests sent, retries included */
	__u64 retries;
	__u64 rate_limited; /* refused by the local calls_per_minute limit */
	__u64 last_at; /* unix seconds of the end of the last call; 0 = none */
	unsigned int last_latency_ms;
	int last_rc; /* 0 or the negative errno of the last call */
	long last_http_status; /* 0 = no HTTP answer */
	char last_error[AI_MODEL_ERR_LEN]; /* "" after a success */
};

/*
 * ai_model_params_from_config - @out = cfg->ai.model with the environment
 * applied: OPENAI_API_KEY (key), OPENAI_ENDPOINT (endpoint), AI_DEBUG
 * ("1"/"true"/"yes" on, "0"/"false"/"no" off). An empty variable counts as
 * unset. Returns 0, or -EINVAL with the reason in @err (a value too long,
 * an endpoint url_check_http() refuses, named "ai.model.endpoint: ..." or
 * "OPENAI_ENDPOINT: ...", a bad AI_DEBUG).
 */
int ai_model_params_from_config(const struct guarder_config *cfg, struct ai_model_params *out,
				char *err, size_t errlen);

/*
 * ai_model_params_check - validate @p like the config file does (endpoint
 * empty or what url_check_http() accepts, key printable ASCII without spaces, name
 * non-empty, the limits of docs/config.md: timeout_ms 100..600000,
 * max_retries <= 10, calls_per_minute 1..10000, max_tokens 64..32768). Returns 0 or -EINVAL with "field: reason".
 */
int ai_model_params_check(const struct ai_model_params *p, char *err, size_t errlen);

/*
 * ai_model_new - a client with the settings of @cfg (see
 * ai_model_params_from_config). A client without an endpoint is valid:
 * ai_model_ask() then returns -ENOTCONN. Returns 0 and *@out, or a
 * negative errno (-EINVAL, -ENOMEM) with the reason in @err.
 */
int ai_model_new(const struct guarder_config *cfg, struct ai_model **out, char *err, size_t errlen);

/* ai_model_free - release @m (NULL is fine). No call may be in flight. */
void ai_model_free(struct ai_model *m);

/* ai_model_configured - whether @m has an endpoint (calls can be made). */
bool ai_model_configured(struct ai_model *m);

/*
 * ai_model_get_params - a copy of the current settings with api_key blank
 * and key_set saying whether a key is set.
 */
void ai_model_get_params(struct ai_model *m, struct ai_model_params *out);

/*
 * ai_model_set_params - replace the settings (calls in flight finish with
 * the old ones). The key: a non-empty p->api_key replaces it; an empty one
 * keeps the current key when p->key_set, else removes it (so
 * get_params + change + set_params keeps the key). Checked with
 * ai_model_params_check(). Returns 0 or -EINVAL with @err.
 */
int ai_model_set_params(struct ai_model *m, const struct ai_model_params *p, char *err,
			size_t errlen);

/* ai_model_get_stats - a copy of the counters and the last call's result. */
void ai_model_get_stats(struct ai_model *m, struct ai_model_stats *out);

/*
 * ai_model_ask - one chat completion: @system and @user as the system and
 * user messages, "response_format": {"type": "json_object"}, max_tokens.
 * Retries 429 and 5xx answers (and connection failures) with exponential
 * backoff (0.5 s, 1 s, 2 s, ... or the Retry-After seconds when given),
 * at most max_retries times, never beyond timeout_ms in total.
 * On success *@answer is the JSON found in choices[0].message.content
 * (see ai_model_parse_content); the caller owns it (json_object_put).
 * Returns 0 or, with a message for a human in @err:
 *   -ENOTCONN  no model configured (no endpoint, or enabled is false)
 *   -EHOSTUNREACH endpoint unreachable (DNS, connection refused, TLS)
 *   -ETIMEDOUT no complete answer within timeout_ms
 *   -EACCES    401/403: the model rejected the key
 *   -EBUSY     429 after the retries, or the local calls_per_minute
 *              limit (message says which and when to retry)
 *   -EIO       5xx after the retries, or another HTTP error status
 *   -EBADMSG   an answer that is not a usable chat completion / JSON
 *   -ECANCELED ai_model_abort() was called during the call
 *   -ENOMEM
 * Blocks for up to timeout_ms (+ a few ms): never call it while holding a
 * lock other threads need.
 */
int ai_model_ask(struct ai_model *m, const char *system, const char *user,
		 struct json_object **answer, char *err, size_t errlen);

/*
 * ai_model_abort - make every ai_model_ask() on @m that is in flight now
 * return -ECANCELED within about 50 ms (its transfer or backoff wait is cut
 * short); later calls are not affected. For a fast shutdown. Thread-safe.
 */
void ai_model_abort(struct ai_model *m);

/*
 * ai_model_retry_after_s - after ai_model_ask() returned -EBUSY: seconds
 * the caller should wait before asking again (>= 1). Thread-local: it
 * reports the calling thread's last call.
 */
unsigned int ai_model_retry_after_s(void);

/*
 * ai_model_last_tokens - usage.total_tokens of the calling thread's last
 * successful ai_model_ask() (0 when the endpoint did not say).
 */
unsigned long long ai_model_last_tokens(void);

/*
 * ai_model_parse_content - find the JSON value in a model's message text:
 * the whole text, else the first ```json (or ```) fenced block, else the
 * first balanced {...} or [...] inside prose. Returns 0 and *@out (an
 * object or an array; caller owns it) or -EBADMSG with the reason in @err.
 */
int ai_model_parse_content(const char *text, size_t len, struct json_object **out, char *err,
			   size_t errlen);

/* One proposed rule that could not be used, and why. */
struct ai_model_reject {
	size_t index; /* position in the answer's rule list */
	char reason[RULE_ERR_LEN];
};

/*
 * ai_model_rules_from_answer - the rules of a model answer: @answer is an
 * object with a "rules" array (also accepted: "suggestions"/"filters"/
 * "recommendations"), a bare array of rules, or a single rule object.
 * Each element is normalised before lib/rule.c's codec parses it strictly:
 * integers written as strings ("80", "100") become numbers, "port" ranges
 * stay strings, "id" is dropped (the API assigns ids), commentary keys
 * (reason, description, explanation, confidence, severity, title) are
 * dropped (reason/description becomes the comment when there is none),
 * "enabled" defaults to true, and expires_at is set to @expires_at (unix
 * seconds; 0 = keep what the model said). An element that still fails
 * rule_from_json goes to @rejects (at most @max_rejects kept, *@n_rejects
 * counts them all) with the codec's message.
 * Safety (ai_policy_check) is the caller's job: this only parses.
 * Returns 0 (even when every rule was rejected or the list is empty) with
 * *@n_rules (at most @max_rules; more is a reject "too many rules"), or
 * -EBADMSG when the answer holds no rule list at all (@err says why).
 */
int ai_model_rules_from_answer(struct json_object *answer, __u64 expires_at, struct rule *rules,
			       size_t max_rules, size_t *n_rules, struct ai_model_reject *rejects,
			       size_t max_rejects, size_t *n_rejects, char *err, size_t errlen);

/* ai_model_provider_name - "openai", "azure", "ollama" ("unknown" otherwise). */
const char *ai_model_provider_name(enum guarder_ai_provider p);

/* ai_model_provider_parse - the reverse; returns 0 or -EINVAL. */
int ai_model_provider_parse(const char *s, enum guarder_ai_provider *out);

#endif /* GUARDER_AI_MODEL_H */
