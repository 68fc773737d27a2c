// SPDX-License-Identifier: GPL-2.0
/*
 * The librdkafka configuration of every Kafka client (lib/kafka_conf.c):
 * what each role sets (read back with rd_kafka_conf_get), kafka.properties
 * in both roles, refused properties named, and secrets scrubbed from every
 * text that comes from librdkafka, its log lines included. No broker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lib/config.h"
#include "lib/kafka_conf.h"
#include "lib/log.h"

#define SASL_SECRET "sasl-Pw-7f3a"
#define KEY_SECRET  "keypass-91c2"
#define PROP_SECRET "oauth-Sec-55e0"

/* stderr into a file while a test runs, so that the log lines can be checked */
static int saved_stderr = -1;
static FILE *captured;

static void capture_begin(void)
{
	fflush(stderr);
	captured = tmpfile();
	if (!captured) {
		perror("tmpfile");
		exit(1);
	}
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(captured), STDERR_FILENO);
}

/* Ends the capture; returns what was written (the caller frees it). */
static char *capture_end(void)
{
	char *text;
	long n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	n = ftell(captured);
	text = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	if (!text) {
		perror("calloc");
		exit(1);
	}
	rewind(captured);
	if (n > 0 && fread(text, 1, (size_t)n, captured) != (size_t)n)
		text[0] = '\0';
	fclose(captured);
	return text;
}

static void set_key(struct guarder_config *cfg, const char *key, const char *value)
{
	if (config_set(cfg, key, value, "test")) {
		fprintf(stderr, "config_set %s %s refused\n", key, value);
		exit(1);
	}
}

static void add_prop(struct guarder_config *cfg, const char *name, const char *value)
{
	struct guarder_kafka_prop *p = &cfg->kafka.properties[cfg->kafka.n_properties++];

	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->value, sizeof(p->value), "%s", value);
}

static void base_config(struct guarder_config *cfg)
{
	if (config_init(cfg)) {
		fprintf(stderr, "config_init failed\n");
		exit(1);
	}
	set_key(cfg, "kafka.brokers", "127.0.0.1:1");
}

/* The value of @name in @conf, "(unknown)" when librdkafka has no such property. */
static const char *get(const rd_kafka_conf_t *conf, const char *name)
{
	static char buf[512];
	size_t n = sizeof(buf);

	if (rd_kafka_conf_get(conf, name, buf, &n) != RD_KAFKA_CONF_OK)
		return "(unknown)";
	return buf;
}

static bool prop_is(const rd_kafka_conf_t *conf, const char *name, const char *want)
{
	const char *got = get(conf, name);

	if (!strcmp(got, want))
		return true;
	fprintf(stderr, "%s is '%s', expected '%s'\n", name, got, want);
	return false;
}

/* Every {name, value} of @want (@n) in @conf; names each mismatch. */
static bool props_are(const rd_kafka_conf_t *conf, const char *const (*want)[2], size_t n)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < n; i++)
		ok &= prop_is(conf, want[i][0], want[i][1]);
	return ok;
}

#define PROPS_ARE(conf, want) props_are(conf, want, sizeof(want) / sizeof(want[0]))

/* librdkafka's own default of @name, for properties we must not set. */
static bool prop_is_default(const rd_kafka_conf_t *conf, const char *name)
{
	rd_kafka_conf_t *fresh = rd_kafka_conf_new();
	char want[512];
	bool ok;

	snprintf(want, sizeof(want), "%s", get(fresh, name));
	rd_kafka_conf_destroy(fresh);
	ok = prop_is(conf, name, want);
	return ok;
}

static const struct kafka_conf_prop tuning[] = {
	{ "linger.ms", "11", "kafka.linger_ms" },
	{ "fetch.wait.max.ms", "123", NULL },
};
static const struct kafka_conf_prop fixed[] = {
	{ "message.timeout.ms", "4321", NULL },
	{ "group.id", "the-group", NULL },
};

static struct kafka_conf_spec spec_of(enum kafka_conf_role role)
{
	const struct kafka_conf_spec spec = {
		.role = role,
		.client_id = "test-client",
		.defaults = KAFKA_CONF_PROPS(tuning),
		.fixed = KAFKA_CONF_PROPS(fixed),
	};

	return spec;
}

/* The test's conf of @role; its log lines into *@log (the caller frees them) unless NULL. */
static rd_kafka_conf_t *build(const struct guarder_config *cfg, enum kafka_conf_role role,
			      char **log)
{
	const struct kafka_conf_spec spec = spec_of(role);
	rd_kafka_conf_t *conf;

	if (log)
		capture_begin();
	conf = kafka_conf_new(cfg, &spec, NULL, 0);
	if (log)
		*log = capture_end();
	return conf;
}

/*
 * A build of @spec that must fail with EINVAL (checked), the first
 * refusal in @err; returns the log lines (the caller frees them).
 */
static char *refusal(const struct guarder_config *cfg, const struct kafka_conf_spec *spec,
		     char *err, size_t errlen)
{
	rd_kafka_conf_t *conf;
	char *log;

	err[0] = '\0';
	errno = 0;
	capture_begin();
	conf = kafka_conf_new(cfg, spec, err, errlen);
	log = capture_end();
	CHECK(conf == NULL);
	CHECK(errno == EINVAL);
	if (conf)
		rd_kafka_conf_destroy(conf);
	return log;
}

/* Every role: connection, security, the caller's properties, in their order. */
static void test_roles(void)
{
	enum kafka_conf_role roles[] = { KAFKA_CONF_PRODUCER, KAFKA_CONF_CONSUMER };
	static const char *const want[][2] = {
		{ "bootstrap.servers", "127.0.0.1:1" },
		{ "client.id", "test-client" },
		{ "security.protocol", "sasl_ssl" },
		{ "sasl.mechanisms", "SCRAM-SHA-512" },
		{ "sasl.username", "guarder" },
		{ "ssl.ca.location", "/etc/guarder/ca.pem" },
		{ "ssl.certificate.location", "/etc/guarder/cert.pem" },
		{ "ssl.key.location", "/etc/guarder/key.pem" },
		/* the caller's, in both lists */
		{ "linger.ms", "11" },
		{ "fetch.wait.max.ms", "123" },
		{ "message.timeout.ms", "4321" },
		{ "group.id", "the-group" },
	};
	struct guarder_config cfg;
	rd_kafka_conf_t *conf;
	size_t i;

	base_config(&cfg);
	set_key(&cfg, "kafka.security_protocol", "sasl_ssl");
	set_key(&cfg, "kafka.sasl_mechanism", "SCRAM-SHA-512");
	set_key(&cfg, "kafka.sasl_username", "guarder");
	set_key(&cfg, "kafka.sasl_password", SASL_SECRET);
	set_key(&cfg, "kafka.ssl_ca", "/etc/guarder/ca.pem");
	set_key(&cfg, "kafka.ssl_cert", "/etc/guarder/cert.pem");
	set_key(&cfg, "kafka.ssl_key", "/etc/guarder/key.pem");
	set_key(&cfg, "kafka.ssl_key_password", KEY_SECRET);
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		conf = build(&cfg, roles[i], NULL);
		CHECK(conf != NULL);
		if (!conf)
			continue;
		CHECK(PROPS_ARE(conf, want));
		rd_kafka_conf_destroy(conf);
	}
	config_free(&cfg);
}

/* A protocol without TLS or SASL sets none of their keys, and says so. */
static void test_unused_security(void)
{
	struct guarder_config cfg;
	rd_kafka_conf_t *conf;
	char *log;

	base_config(&cfg);
	set_key(&cfg, "kafka.ssl_ca", "/etc/guarder/ca.pem");
	set_key(&cfg, "kafka.sasl_password", SASL_SECRET);
	conf = build(&cfg, KAFKA_CONF_CONSUMER, &log);
	CHECK(conf != NULL);
	if (conf) {
		CHECK(prop_is(conf, "security.protocol", "plaintext"));
		CHECK(prop_is_default(conf, "ssl.ca.location"));
		CHECK(prop_is_default(conf, "sasl.mechanisms"));
		CHECK(prop_is_default(conf, "sasl.username"));
		rd_kafka_conf_destroy(conf);
	}
	CHECK(strstr(log, "kafka.ssl_* keys are set but kafka.security_protocol is plaintext"));
	CHECK(strstr(log, "kafka.sasl_* keys are set but kafka.security_protocol is plaintext"));
	free(log);
	/* TLS alone: the SASL keys are still unused */
	set_key(&cfg, "kafka.security_protocol", "ssl");
	conf = build(&cfg, KAFKA_CONF_PRODUCER, &log);
	CHECK(conf != NULL);
	if (conf) {
		CHECK(prop_is(conf, "ssl.ca.location", "/etc/guarder/ca.pem"));
		CHECK(prop_is_default(conf, "sasl.mechanisms"));
		rd_kafka_conf_destroy(conf);
	}
	CHECK(!strstr(log, "kafka.ssl_* keys"));
	CHECK(strstr(log, "kafka.sasl_* keys are set but kafka.security_protocol is ssl"));
	free(log);
	config_free(&cfg);
}

/*
 * kafka.properties in both roles: after the defaults (overriding them),
 * before the fixed properties; the producer-only ones skipped for a
 * consumer.
 */
static void test_properties(void)
{
	static const char *const producer[][2] = {
		{ "socket.keepalive.enable", "true" },
		{ "fetch.wait.max.ms", "77" },
		{ "linger.ms", "42" },
		{ "acks", "1" },
		{ "compression.codec", "gzip" },
		{ "message.timeout.ms", "4321" },
	};
	static const char *const consumer[][2] = {
		{ "socket.keepalive.enable", "true" },
		{ "fetch.wait.max.ms", "77" },
		/* producer-only: the caller's default stays */
		{ "linger.ms", "11" },
		{ "message.timeout.ms", "4321" },
	};
	struct guarder_config cfg;
	rd_kafka_conf_t *conf;

	base_config(&cfg);
	add_prop(&cfg, "socket.keepalive.enable", "true");
	add_prop(&cfg, "fetch.wait.max.ms", "77");
	add_prop(&cfg, "message.timeout.ms", "999");
	add_prop(&cfg, "linger.ms", "42");
	add_prop(&cfg, "acks", "1");
	add_prop(&cfg, "compression.codec", "gzip");

	conf = build(&cfg, KAFKA_CONF_PRODUCER, NULL);
	CHECK(conf != NULL);
	if (conf) {
		CHECK(PROPS_ARE(conf, producer));
		rd_kafka_conf_destroy(conf);
	}

	conf = build(&cfg, KAFKA_CONF_CONSUMER, NULL);
	CHECK(conf != NULL);
	if (conf) {
		CHECK(PROPS_ARE(conf, consumer));
		/* producer-only, and no default of the caller's: librdkafka's */
		CHECK(strcmp(get(conf, "acks"), "1"));
		CHECK(prop_is_default(conf, "compression.codec"));
		rd_kafka_conf_destroy(conf);
	}
	config_free(&cfg);
}

/*
 * A refused property fails the build with its name, each refusal logged;
 * values of secrets never printed, whether librdkafka quotes them or not.
 */
static void test_refused(void)
{
	const struct kafka_conf_spec producer = spec_of(KAFKA_CONF_PRODUCER);
	struct guarder_config cfg;
	rd_kafka_conf_t *conf;
	char err[512], *log;

	base_config(&cfg);
	set_key(&cfg, "kafka.sasl_password", SASL_SECRET);
	add_prop(&cfg, "ssl.keystore.password", PROP_SECRET);
	add_prop(&cfg, "no.such.property", "1");
	/* a secret under the wrong key: librdkafka quotes the value back */
	add_prop(&cfg, "debug", PROP_SECRET);
	add_prop(&cfg, "auto.offset.reset", SASL_SECRET);
	add_prop(&cfg, "ssl.keystore.passwordx", PROP_SECRET);
	add_prop(&cfg, "compression.codec", "banana");

	log = refusal(&cfg, &producer, err, sizeof(err));
	/* the first refusal, for callers that show it (guarder-api's status) */
	CHECK(strstr(err, "kafka.properties: librdkafka refuses the property no.such.property"));
	CHECK(strstr(log,
		     "kafka: kafka.properties: librdkafka refuses the property no.such.property"));
	CHECK(strstr(log, "refuses the property debug: Invalid value \"<redacted>\""));
	CHECK(strstr(log, "refuses the property auto.offset.reset: Invalid value \"<redacted>\""));
	CHECK(strstr(log, "refuses the property ssl.keystore.passwordx"));
	/* not a secret: shown as librdkafka says it */
	CHECK(strstr(log, "refuses the property compression.codec: Invalid value \"banana\""));
	CHECK(!strstr(log, PROP_SECRET));
	CHECK(!strstr(log, SASL_SECRET));
	free(log);

	/* a long secret, quoted back whole: librdkafka's reason must not cut it */
	{
		char *big = malloc(GUARDER_KAFKA_PROP_VAL_MAX);
		size_t i;

		if (!big) {
			perror("malloc");
			exit(1);
		}
		for (i = 0; i + 1 < GUARDER_KAFKA_PROP_VAL_MAX; i++)
			big[i] = "Lsecret-0123456789"[i % 18];
		big[i] = '\0';
		cfg.kafka.n_properties = 0;
		add_prop(&cfg, "ssl.keystore.password", big);
		add_prop(&cfg, "auto.offset.reset", big);
		log = refusal(&cfg, &producer, err, sizeof(err));
		big[32] = '\0';
		CHECK(strstr(
			log,
			"refuses the property auto.offset.reset: Invalid value \"<redacted>\""));
		CHECK(!strstr(log, big));
		CHECK(!strstr(err, big));
		free(log);
		free(big);
	}

	/* in the consumer role the refusal of a producer-only property does not come up */
	cfg.kafka.n_properties = 0;
	add_prop(&cfg, "linger.ms", "banana");
	conf = build(&cfg, KAFKA_CONF_CONSUMER, NULL);
	CHECK(conf != NULL);
	if (conf)
		rd_kafka_conf_destroy(conf);
	log = refusal(&cfg, &producer, err, sizeof(err));
	CHECK(strstr(err, "linger.ms"));
	CHECK(strstr(log, "refuses the property linger.ms"));
	free(log);

	/* a caller's own property names the config key it comes from */
	cfg.kafka.n_properties = 0;
	{
		const struct kafka_conf_prop bad[] = { { "batch.size", "-5", "kafka.batch_size" } };
		const struct kafka_conf_spec spec = {
			.role = KAFKA_CONF_PRODUCER,
			.client_id = "x",
			.defaults = KAFKA_CONF_PROPS(bad),
		};

		log = refusal(&cfg, &spec, err, sizeof(err));
		CHECK(strstr(log,
			     "kafka: kafka.batch_size (librdkafka property batch.size): refused"));
		free(log);
	}
	config_free(&cfg);
}

static void test_scrub(void)
{
	struct guarder_config cfg;
	char out[256];

	base_config(&cfg);
	set_key(&cfg, "kafka.sasl_password", "hunter2");
	set_key(&cfg, "kafka.ssl_key_password", KEY_SECRET);
	add_prop(&cfg, "sasl.oauthbearer.client.secret", "hunter2hunter2x");
	add_prop(&cfg, "ssl.keystore.password", PROP_SECRET);
	/* not a secret by its name: left alone */
	add_prop(&cfg, "client.rack", "rack-a");

	kafka_conf_scrub(&cfg, "no secret here, rack-a", out, sizeof(out));
	CHECK(!strcmp(out, "no secret here, rack-a"));
	kafka_conf_scrub(&cfg, "bad password hunter2 (hunter2), again:hunter2", out, sizeof(out));
	CHECK(!strcmp(out, "bad password <redacted> (<redacted>), again:<redacted>"));
	/* inside a longer word it is still the secret */
	kafka_conf_scrub(&cfg, "xhunter2y", out, sizeof(out));
	CHECK(!strcmp(out, "x<redacted>y"));
	/* a secret that begins with another: the longer one goes whole */
	kafka_conf_scrub(&cfg, "token hunter2hunter2x end", out, sizeof(out));
	CHECK(!strcmp(out, "token <redacted> end"));
	kafka_conf_scrub(&cfg, "key " KEY_SECRET " store " PROP_SECRET, out, sizeof(out));
	CHECK(!strcmp(out, "key <redacted> store <redacted>"));
	/* in place */
	snprintf(out, sizeof(out), "Invalid value \"%s\"", PROP_SECRET);
	CHECK(kafka_conf_scrub(&cfg, out, out, sizeof(out)) == out);
	CHECK(!strcmp(out, "Invalid value \"<redacted>\""));
	/* too long for the buffer: cut, but never in the middle of a secret */
	kafka_conf_scrub(&cfg, "ab hunter2 tail", out, 8);
	CHECK(!strcmp(out, "ab <red"));
	kafka_conf_scrub(&cfg, "abcdefghij", out, 5);
	CHECK(!strcmp(out, "abcd"));
	/* no config: nothing to scrub */
	kafka_conf_scrub(NULL, "hunter2", out, sizeof(out));
	CHECK(!strcmp(out, "hunter2"));
	config_free(&cfg);
}

/* librdkafka's log lines: scrubbed, one level down, with the facility. */
static void test_log_cb(void)
{
	struct guarder_config cfg;
	rd_kafka_conf_t *conf;
	char *log;

	base_config(&cfg);
	set_key(&cfg, "kafka.sasl_password", SASL_SECRET);
	add_prop(&cfg, "ssl.keystore.password", PROP_SECRET);
	/* the config whose secrets the log callback scrubs is the last one built */
	conf = build(&cfg, KAFKA_CONF_CONSUMER, NULL);
	CHECK(conf != NULL);
	if (conf)
		rd_kafka_conf_destroy(conf);

	capture_begin();
	kafka_conf_log_cb(NULL, 3, "FAIL",
			  "auth with " SASL_SECRET " failed; token " PROP_SECRET ", " SASL_SECRET);
	kafka_conf_log_cb(NULL, 4, "CONFWARN", "a warning line");
	kafka_conf_log_cb(NULL, 5, "BROKER", "a notice line");
	kafka_conf_log_cb(NULL, 7, "BROKER", "a debug line");
	log_set_level(LOG_LVL_DEBUG);
	kafka_conf_log_cb(NULL, 6, "CONF", "detail " PROP_SECRET);
	log_set_level(LOG_LVL_INFO);
	log = capture_end();
	CHECK(strstr(log, "INFO test_kafka_conf: kafka: librdkafka FAIL: auth with <redacted> "
			  "failed; token <redacted>, <redacted>\n"));
	CHECK(strstr(log, "INFO test_kafka_conf: kafka: librdkafka CONFWARN: a warning line\n"));
	CHECK(!strstr(log, "a notice line"));
	CHECK(!strstr(log, "a debug line"));
	CHECK(strstr(log, "DEBUG test_kafka_conf: kafka: librdkafka CONF: detail <redacted>\n"));
	CHECK(!strstr(log, SASL_SECRET));
	CHECK(!strstr(log, PROP_SECRET));
	free(log);
	config_free(&cfg);
}

/* A handle from the conf (no broker needed), and rd_kafka_new's reason scrubbed. */
static void test_client_new(void)
{
	struct guarder_config cfg;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512], *log;

	base_config(&cfg);
	conf = build(&cfg, KAFKA_CONF_CONSUMER, NULL);
	CHECK(conf != NULL);
	rk = conf ? kafka_conf_client_new(&cfg, KAFKA_CONF_CONSUMER, conf, NULL, 0) : NULL;
	CHECK(rk != NULL);
	if (rk)
		rd_kafka_destroy(rk);

	/* a SASL mechanism librdkafka only checks when the client is made */
	set_key(&cfg, "kafka.security_protocol", "sasl_plaintext");
	set_key(&cfg, "kafka.sasl_password", SASL_SECRET);
	add_prop(&cfg, "sasl.mechanisms", SASL_SECRET);
	conf = build(&cfg, KAFKA_CONF_PRODUCER, NULL);
	CHECK(conf != NULL);
	err[0] = '\0';
	capture_begin();
	rk = conf ? kafka_conf_client_new(&cfg, KAFKA_CONF_PRODUCER, conf, err, sizeof(err)) : NULL;
	log = capture_end();
	CHECK(rk == NULL);
	if (rk)
		rd_kafka_destroy(rk);
	CHECK(strstr(log, "kafka: cannot create the producer: "));
	CHECK(strstr(err, "<redacted>"));
	CHECK(!strstr(err, SASL_SECRET));
	CHECK(!strstr(log, SASL_SECRET));
	free(log);
	config_free(&cfg);
}

int main(void)
{
	log_init("test_kafka_conf", LOG_LVL_INFO);
	test_roles();
	test_unused_security();
	test_properties();
	test_refused();
	test_scrub();
	test_log_cb();
	test_client_new();
	return check_report("test_kafka_conf");
}
