// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the model client (lib/ai_model.c) without a model: the
 * answer parser (plain JSON, fenced, prose around it, numbers as strings,
 * wrong types, an all-wildcard rule, garbage), the settings (env
 * overrides, validation, the write-only key), the errors that need no
 * server (no model, unreachable, the local calls-per-minute limit) and
 * the debug log, which must never hold the key.
 * The HTTP cases (401, 429, 500, hang) are in test/integration/ai_api/.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lib/ai_model.h"
#include "lib/ai_policy.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/rule.h"
#include "lib/url.h"
#include "check.h"

static struct json_object *content(const char *text)
{
	struct json_object *o = NULL;
	char err[AI_MODEL_ERR_LEN];
	int rc = ai_model_parse_content(text, strlen(text), &o, err, sizeof(err));

	if (rc) {
		CHECK(o == NULL);
		CHECK(rc == -EBADMSG);
		CHECK(err[0] != '\0');
	}
	return o;
}

/* Parse @text and extract its rules; returns the number of rules (-1 = -EBADMSG). */
static long rules_of(const char *text, struct rule *rules, size_t max, size_t *n_rej,
		     struct ai_model_reject *rej, size_t max_rej, __u64 exp)
{
	struct json_object *o = content(text);
	char err[AI_MODEL_ERR_LEN];
	size_t n = 0;
	int rc;

	if (!o)
		return -2;
	rc = ai_model_rules_from_answer(o, exp, rules, max, &n, rej, max_rej, n_rej, err,
					sizeof(err));
	json_object_put(o);
	if (rc) {
		CHECK(rc == -EBADMSG);
		CHECK(err[0] != '\0');
		return -1;
	}
	return (long)n;
}

static void test_content(void)
{
	struct json_object *o;

	o = content("{\"rules\": []}");
	CHECK(o && json_object_is_type(o, json_type_object));
	json_object_put(o);

	o = content("  [1, 2]\n");
	CHECK(o && json_object_is_type(o, json_type_array));
	json_object_put(o);

	o = content("Here you go:\n```json\n{\"a\": 1}\n```\nThanks.");
	CHECK(o && json_object_is_type(o, json_type_object));
	json_object_put(o);

	/* a first fence with no JSON, the second one has it */
	o = content("```text\nhello\n```\n```\n{\"b\": \"}\"}\n```");
	CHECK(o && json_object_object_get_ex(o, "b", NULL));
	json_object_put(o);

	/* prose around, braces inside strings, a stray brace before */
	o = content("I think {this} is it: {\"rules\": [{\"comment\": \"x}{\"}]} -- done");
	CHECK(o && json_object_object_get_ex(o, "rules", NULL));
	json_object_put(o);

	/* garbage */
	CHECK(content("") == NULL);
	CHECK(content("I cannot help with that.") == NULL);
	CHECK(content("{\"rules\": [") == NULL);
	CHECK(content("42") == NULL);
	CHECK(content("```json\n{not json}\n```") == NULL);
}

static void test_rules(void)
{
	struct rule rules[8];
	struct ai_model_reject rej[8];
	size_t n_rej = 0;
	__u64 exp = (__u64)time(NULL) + 3600;
	long n;

	/* a good answer */
	n = rules_of("{\"analysis\": \"scan\", \"rules\": [{\"rule_type\": \"tcp\", \"src_ip\": "
		     "\"192.0.2.7\", \"dst_port\": 22, \"action\": \"drop\", \"id\": 99}]}",
		     rules, 8, &n_rej, rej, 8, exp);
	CHECK(n == 1 && n_rej == 0);
	if (n == 1) {
		CHECK(rules[0].type == RULE_TYPE_TCP);
		CHECK(rules[0].action == RULE_ACTION_DROP);
		CHECK(rules[0].dport.lo == 22 && rules[0].dport.hi == 22);
		CHECK(rules[0].expires_at == exp);
		CHECK(rules[0].enabled); /* defaults to true */
		CHECK(rules[0].id == 0); /* the model's id is dropped */
		CHECK(rules[0].src.family == 4 && rules[0].src.prefix == 128);
	}

	/* fenced, numbers as strings, upper-case enums, a reason as the comment */
	n = rules_of("Sure!\n```json\n{\"filters\": [{\"rule_type\": \"TCP\", \"src_ip\": "
		     "\"198.51.100.0/24\", \"dst_port\": \"80\", \"priority\": \"50\", \"action\": "
		     "\"Drop\", \"enabled\": \"true\", \"reason\": \"HTTP flood\", \"confidence\": "
		     "0.9}]}\n```",
		     rules, 8, &n_rej, rej, 8, exp);
	CHECK(n == 1 && n_rej == 0);
	if (n == 1) {
		CHECK(rules[0].dport.lo == 80);
		CHECK(rules[0].priority == 50);
		CHECK(!strcmp(rules[0].comment, "HTTP flood"));
		CHECK(rules[0].src.prefix == 96 + 24);
	}

	/* prose, a port range string, a bare array */
	n = rules_of(
		"The attacker is 203.0.113.9. [{\"rule_type\": \"udp\", \"src_ip\": "
		"\"203.0.113.9\", \"src_port\": \"1000-2000\", \"action\": \"drop\"}] Block it.",
		rules, 8, &n_rej, rej, 8, exp);
	CHECK(n == 1 && n_rej == 0);
	if (n == 1)
		CHECK(rules[0].sport.lo == 1000 && rules[0].sport.hi == 2000);

	/* wrong types: rejected one by one with the codec's message, good ones kept */
	n = rules_of("{\"rules\": [{\"rule_type\": \"tcp\", \"dst_port\": [22], \"action\": "
		     "\"drop\", \"src_ip\": \"192.0.2.1\"}, {\"rule_type\": \"tcp\", \"priority\": "
		     "\"high\", \"action\": \"drop\", \"src_ip\": \"192.0.2.2\"}, \"drop all\", "
		     "{\"rule_type\": \"tcp\", \"src_ip\": \"192.0.2.3\", \"action\": \"drop\", "
		     "\"colour\": \"red\"}, {\"rule_type\": \"tcp\", \"src_ip\": \"192.0.2.4\", "
		     "\"action\": \"drop\"}]}",
		     rules, 8, &n_rej, rej, 8, exp);
	CHECK(n == 1 && n_rej == 4);
	if (n_rej == 4) {
		CHECK(rej[0].index == 0 && strstr(rej[0].reason, "dst_port"));
		CHECK(rej[1].index == 1 && strstr(rej[1].reason, "priority"));
		CHECK(rej[2].index == 2 && strstr(rej[2].reason, "not a JSON object"));
		CHECK(rej[3].index == 3 && strstr(rej[3].reason, "colour"));
	}

	/* an all-wildcard drop parses (it is a valid rule) but the policy refuses it */
	n = rules_of(
		"{\"rules\": [{\"rule_type\": \"basic\", \"action\": \"drop\"}, {\"rule_type\": "
		"\"tcp\", \"action\": \"drop\", \"enabled\": \"true\"}]}",
		rules, 8, &n_rej, rej, 8, exp);
	CHECK(n == 2 && n_rej == 0);
	if (n == 2) {
		struct guarder_config cfg;
		char why[AI_POLICY_WHY_LEN];

		CHECK(rule_is_match_all(&rules[0]) && rule_is_match_all(&rules[1]));
		CHECK(config_init(&cfg) == 0);
		CHECK(ai_policy_check(&cfg, &rules[0], 1, NULL, 0, why, sizeof(why)) == -EPERM);
		CHECK(why[0] != '\0');
		CHECK(ai_policy_check(&cfg, &rules[1], 1, NULL, 0, why, sizeof(why)) == -EPERM);
		/* and a rule with a source passes the same policy */
		n = rules_of("{\"rules\": [{\"rule_type\": \"tcp\", \"src_ip\": \"192.0.2.5\", "
			     "\"action\": \"drop\"}]}",
			     rules, 8, &n_rej, rej, 8, exp);
		CHECK(n == 1);
		CHECK(ai_policy_check(&cfg, rules, 1, NULL, 0, why, sizeof(why)) == 0);
		config_free(&cfg);
	}

	/* too many rules: the extra ones are rejects */
	n = rules_of("{\"rules\": [{\"action\": \"drop\", \"src_ip\": \"192.0.2.1\"}, {\"action\": "
		     "\"drop\", \"src_ip\": \"192.0.2.2\"}, {\"action\": \"drop\", \"src_ip\": "
		     "\"192.0.2.3\"}]}",
		     rules, 2, &n_rej, rej, 8, exp);
	CHECK(n == 2 && n_rej == 1);
	if (n_rej == 1)
		CHECK(strstr(rej[0].reason, "too many"));

	/* a single rule object; expires_at from the model kept when the caller gives 0 */
	n = rules_of(
		"{\"action\": \"drop\", \"src_ip\": \"192.0.2.9\", \"expires_at\": 4102444800}",
		rules, 8, &n_rej, rej, 8, 0);
	CHECK(n == 1);
	if (n == 1)
		CHECK(rules[0].expires_at == 4102444800ull);

	/* no rule list at all */
	CHECK(rules_of("{\"analysis\": \"all fine\"}", rules, 8, &n_rej, rej, 8, exp) == -1);
	CHECK(rules_of("{\"rules\": \"none\"}", rules, 8, &n_rej, rej, 8, exp) == -1);
	CHECK(rules_of("{\"rules\": [1, 2]}", rules, 8, &n_rej, rej, 8, exp) == -1);
	/* an empty list is an answer: no rules */
	CHECK(rules_of("{\"rules\": []}", rules, 8, &n_rej, rej, 8, exp) == 0);
	/* "suggestions" as strings (the reference's shape) is prose, not rules */
	CHECK(rules_of("{\"suggestions\": [\"rate limit ssh\"]}", rules, 8, &n_rej, rej, 8, exp) ==
	      -1);
}

static void test_url(void)
{
	char why[128];

	CHECK(url_check_http("https://api.openai.com/v1", why, sizeof(why)) == 0);
	CHECK(url_check_http("http://[::1]:11434/v1", why, sizeof(why)) == 0);
	CHECK(url_check_http("https://x.openai.azure.com/openai/deployments/d/chat/completions"
			     "?api-version=2024-06-01",
			     why, sizeof(why)) == 0);
	CHECK(url_check_http("https://api.example/v1/@team", why, sizeof(why)) == 0);
	CHECK(url_check_http("HTTP://x", why, sizeof(why)) == -EINVAL);
	CHECK(!strcmp(why, "must start with http:// or https://"));
	CHECK(url_check_http("http://", why, sizeof(why)) == -EINVAL &&
	      !strcmp(why, "has no host"));
	CHECK(url_check_http("http:///v1", why, sizeof(why)) == -EINVAL);
	CHECK(url_check_http("http://u@h", why, sizeof(why)) == -EINVAL &&
	      strstr(why, "user name or password"));
	CHECK(url_check_http("http://u:p@h:1/v1?a=b", why, sizeof(why)) == -EINVAL);
	CHECK(url_check_http("http://h/v1#", why, sizeof(why)) == -EINVAL &&
	      strstr(why, "fragment"));
	CHECK(url_check_http("http://h/a b", why, sizeof(why)) == -EINVAL &&
	      strstr(why, "(byte 10)"));
	CHECK(url_check_http("http://h/\"x", why, sizeof(why)) == -EINVAL);
	CHECK(url_check_http("http://h/\x01", why, sizeof(why)) == -EINVAL);
}

static void test_params(void)
{
	struct guarder_config cfg;
	struct ai_model_params p;
	struct ai_model *m = NULL;
	char err[AI_MODEL_ERR_LEN];

	CHECK(config_init(&cfg) == 0);
	unsetenv("OPENAI_ENDPOINT");
	unsetenv("OPENAI_API_KEY");
	unsetenv("AI_DEBUG");
	CHECK(ai_model_params_from_config(&cfg, &p, err, sizeof(err)) == 0);
	CHECK(p.endpoint[0] == '\0' && !p.key_set && !p.debug);
	CHECK(!strcmp(p.name, "gpt-4o-mini"));

	setenv("OPENAI_ENDPOINT", "http://127.0.0.1:9/v1", 1);
	setenv("OPENAI_API_KEY", "sk-env-key", 1);
	setenv("AI_DEBUG", "1", 1);
	CHECK(ai_model_params_from_config(&cfg, &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.endpoint, "http://127.0.0.1:9/v1"));
	CHECK(!strcmp(p.api_key, "sk-env-key") && p.key_set);
	CHECK(p.debug);
	setenv("AI_DEBUG", "maybe", 1);
	CHECK(ai_model_params_from_config(&cfg, &p, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "AI_DEBUG") != NULL);
	setenv("AI_DEBUG", "0", 1);
	setenv("OPENAI_ENDPOINT", "ftp://x", 1);
	CHECK(ai_model_params_from_config(&cfg, &p, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "OPENAI_ENDPOINT: must start with http:// or https://") != NULL);
	/* start-up refuses what --check-config refuses (lib/url.h), with the same words */
	setenv("OPENAI_ENDPOINT", "http://user:pw@127.0.0.1:9/v1", 1);
	CHECK(ai_model_params_from_config(&cfg, &p, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "OPENAI_ENDPOINT: must not hold a user name or password") != NULL);
	unsetenv("OPENAI_ENDPOINT");
	cfg.ai.model.endpoint = "https://api.example/v1#frag";
	CHECK(ai_model_params_from_config(&cfg, &p, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "ai.model.endpoint: must not have a fragment") != NULL);
	cfg.ai.model.endpoint = NULL;
	setenv("OPENAI_ENDPOINT", "http://127.0.0.1:9/v1", 1);

	/* the key is write-only: get_params blanks it; set_params keeps it */
	CHECK(ai_model_new(&cfg, &m, err, sizeof(err)) == 0);
	if (m) {
		CHECK(ai_model_configured(m));
		ai_model_get_params(m, &p);
		CHECK(p.api_key[0] == '\0' && p.key_set);
		p.timeout_ms = 5000;
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == 0);
		ai_model_get_params(m, &p);
		CHECK(p.key_set && p.timeout_ms == 5000);
		p.key_set = false; /* remove the key */
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == 0);
		ai_model_get_params(m, &p);
		CHECK(!p.key_set);
		/* validation like the config file */
		p.timeout_ms = 50;
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "timeout_ms") != NULL);
		p.timeout_ms = 5000;
		snprintf(p.endpoint, sizeof(p.endpoint), "not a url");
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == -EINVAL);
		/* a credential in the URL would be shown and logged: refused */
		snprintf(p.endpoint, sizeof(p.endpoint), "https://user:sk-x@api.example/v1");
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "user:password@") != NULL);
		snprintf(p.endpoint, sizeof(p.endpoint), "https://api.example/v1#x");
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "endpoint: must not have a fragment") != NULL);
		/* an @ after the host is fine */
		snprintf(p.endpoint, sizeof(p.endpoint), "https://api.example/v1/@team");
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == 0);
		snprintf(p.name, sizeof(p.name), "gpt 4");
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == -EINVAL);
		snprintf(p.name, sizeof(p.name), "llama3.1:8b");
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == 0);
		snprintf(p.endpoint, sizeof(p.endpoint), "http://127.0.0.1:9/v1");
		snprintf(p.api_key, sizeof(p.api_key), "has space");
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == -EINVAL);
		p.api_key[0] = '\0';
		p.enabled = false;
		CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == 0);
		CHECK(!ai_model_configured(m));
		ai_model_free(m);
	}
	unsetenv("OPENAI_ENDPOINT");
	unsetenv("OPENAI_API_KEY");
	unsetenv("AI_DEBUG");
	config_free(&cfg);
}

/* A local port nobody listens on: bind, read the port, close. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &l))
		return 9;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_calls(void)
{
	static const char key[] = "sk-unit-SECRET-7d41c2";
	struct guarder_config cfg;
	struct ai_model *m = NULL;
	struct ai_model_params p;
	struct ai_model_stats st;
	struct json_object *ans = (struct json_object *)1;
	char err[AI_MODEL_ERR_LEN], logpath[] = "/tmp/test_ai_model_log.XXXXXX", buf[8192];
	int rc, fd, saved, i;
	ssize_t n;

	CHECK(config_init(&cfg) == 0);
	CHECK(ai_model_new(&cfg, &m, err, sizeof(err)) == 0);
	if (!m)
		return;
	/* no model configured */
	rc = ai_model_ask(m, "s", "u", &ans, err, sizeof(err));
	CHECK(rc == -ENOTCONN && ans == NULL);
	CHECK(strstr(err, "no model configured") != NULL);

	/* unreachable, with debug on: the log shows the request, never the key */
	ai_model_get_params(m, &p);
	snprintf(p.endpoint, sizeof(p.endpoint), "http://127.0.0.1:%d/v1", closed_port());
	snprintf(p.api_key, sizeof(p.api_key), "%s", key);
	p.debug = true;
	p.max_retries = 0;
	p.calls_per_minute = 3;
	p.timeout_ms = 2000;
	CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == 0);

	log_init("test_ai_model", LOG_LVL_INFO);
	fd = mkstemp(logpath);
	CHECK(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	rc = ai_model_ask(m, "system prompt", "user prompt", &ans, err, sizeof(err));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	CHECK(rc == -EHOSTUNREACH);
	CHECK(strstr(err, "unreachable") != NULL);
	CHECK(strstr(err, key) == NULL);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(logpath);
	CHECK(strstr(buf, "ai model request: POST http://127.0.0.1:") != NULL);
	CHECK(strstr(buf, "REDACTED") != NULL);
	CHECK(strstr(buf, "user prompt") != NULL);
	CHECK(strstr(buf, key) == NULL);
	CHECK(strstr(buf, "SECRET") == NULL);

	ai_model_get_stats(m, &st);
	CHECK(st.calls == 1 && st.failures == 1 && st.last_rc == -EHOSTUNREACH);
	CHECK(st.last_error[0] != '\0');

	/* the per-process limit: 3 per minute, the first call took one slot */
	p.debug = false;
	CHECK(ai_model_set_params(m, &p, err, sizeof(err)) == 0);
	for (i = 0; i < 2; i++)
		CHECK(ai_model_ask(m, "s", "u", &ans, err, sizeof(err)) == -EHOSTUNREACH);
	rc = ai_model_ask(m, "s", "u", &ans, err, sizeof(err));
	CHECK(rc == -EBUSY);
	CHECK(strstr(err, "per minute") != NULL);
	CHECK(ai_model_retry_after_s() >= 1 && ai_model_retry_after_s() <= 60);
	ai_model_get_stats(m, &st);
	CHECK(st.rate_limited == 1 && st.calls == 3);
	ai_model_free(m);
	config_free(&cfg);
}

int main(void)
{
	test_content();
	test_rules();
	test_url();
	test_params();
	test_calls();
	return check_report("test_ai_model");
}
