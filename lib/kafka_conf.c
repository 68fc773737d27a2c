// SPDX-License-Identifier: GPL-2.0
/* librdkafka configuration shared by every Guarder Kafka client (kafka_conf.h). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kafka_conf.h"
#include "log.h"

/*
 * librdkafka's reasons quote values (up to GUARDER_KAFKA_PROP_VAL_MAX):
 * room for a whole one, or a secret cut by librdkafka would not match.
 */
#define KAFKA_CONF_REASON_MAX (GUARDER_KAFKA_PROP_VAL_MAX + 512)
#define REDACTED	      "<redacted>"
#define N_ELEMS(a)	      (sizeof(a) / sizeof((a)[0]))

/*
 * The config whose secrets kafka_conf_log_cb scrubs: librdkafka's log
 * callback has no opaque of its own (the handle's belongs to the caller),
 * and each daemon has one config.
 */
static const struct guarder_config *log_cfg;

/* The TLS and SASL keys: used only by the protocols of their kind. */
#define SECURITY_KEY(field, prop, is_sasl)                                                   \
	{                                                                                    \
		"kafka." #field, prop, offsetof(struct guarder_config, kafka.field), is_sasl \
	}
static const struct {
	const char *origin, *name;
	size_t offset; /* of the char * in struct guarder_config */
	bool sasl;
} security_keys[] = {
	SECURITY_KEY(ssl_ca, "ssl.ca.location", false),
	SECURITY_KEY(ssl_cert, "ssl.certificate.location", false),
	SECURITY_KEY(ssl_key, "ssl.key.location", false),
	SECURITY_KEY(ssl_key_password, "ssl.key.password", false),
	SECURITY_KEY(sasl_username, "sasl.username", true),
	SECURITY_KEY(sasl_password, "sasl.password", true),
};
#undef SECURITY_KEY

/* Properties of kafka.properties that only make sense for the collector's producer. */
static const char *const producer_only[] = {
	"acks",
	"request.required.acks",
	"linger.ms",
	"queue.buffering.max.ms",
	"batch.size",
	"batch.num.messages",
	"compression.codec",
	"compression.type",
	"enable.idempotence",
	"queue.buffering.max.messages",
	"queue.buffering.max.kbytes",
	"message.timeout.ms",
	"delivery.timeout.ms",
	"retries",
	"message.send.max.retries",
	"max.in.flight",
};

static bool is_producer_only(const char *name)
{
	size_t i;

	for (i = 0; i < N_ELEMS(producer_only); i++)
		if (!strcmp(name, producer_only[i]))
			return true;
	return false;
}

/* The same test as lib/config.c's dump redaction: these values are secrets. */
static bool prop_is_secret(const char *name)
{
	return strstr(name, "password") || strstr(name, "secret") || strstr(name, "key");
}

static size_t add_secret(const char *s, const char **v, size_t *len, size_t n)
{
	if (!s || !*s)
		return n;
	v[n] = s;
	len[n] = strlen(s);
	return n + 1;
}

/* Every secret @cfg holds into @v (with its length in @len); returns how many. */
static size_t secrets_of(const struct guarder_config *cfg, const char **v, size_t *len)
{
	size_t i, n = 0;

	if (!cfg)
		return 0;
	n = add_secret(cfg->kafka.sasl_password, v, len, n);
	n = add_secret(cfg->kafka.ssl_key_password, v, len, n);
	for (i = 0; i < cfg->kafka.n_properties; i++)
		if (prop_is_secret(cfg->kafka.properties[i].name))
			n = add_secret(cfg->kafka.properties[i].value, v, len, n);
	return n;
}

char *kafka_conf_scrub(const struct guarder_config *cfg, const char *in, char *out, size_t len)
{
	const char *secret[2 + GUARDER_MAX_KAFKA_PROPS];
	size_t slen[2 + GUARDER_MAX_KAFKA_PROPS];
	size_t n, i, best, o = 0, r;
	char tmp[KAFKA_CONF_TEXT_MAX];
	size_t max = len < sizeof(tmp) ? len : sizeof(tmp);

	if (!len)
		return out;
	n = secrets_of(cfg, secret, slen);
	/* one pass from @in into @tmp: a cut at the end never leaves part of a secret */
	while (*in && o + 1 < max) {
		best = 0;
		for (i = 0; i < n; i++)
			if (slen[i] > best && !strncmp(in, secret[i], slen[i]))
				best = slen[i];
		if (!best) {
			tmp[o++] = *in++;
			continue;
		}
		r = strlen(REDACTED);
		if (r > max - 1 - o)
			r = max - 1 - o;
		memcpy(tmp + o, REDACTED, r);
		o += r;
		in += best;
	}
	tmp[o] = '\0';
	memcpy(out, tmp, o + 1);
	return out;
}

void kafka_conf_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	char text[KAFKA_CONF_TEXT_MAX];

	(void)rk;
	kafka_conf_scrub(__atomic_load_n(&log_cfg, __ATOMIC_ACQUIRE), buf, text, sizeof(text));
	log_msg(level <= 4 ? LOG_LVL_INFO : LOG_LVL_DEBUG, "kafka: librdkafka %s: %s", fac, text);
}

/* A configuration being built: the first refusal is kept, the others only logged. */
struct build {
	const struct guarder_config *cfg;
	rd_kafka_conf_t *conf;
	int err;
	char *errbuf;
	size_t errlen;
};

static void set(struct build *b, const char *origin, const char *name, const char *value)
{
	char reason[KAFKA_CONF_REASON_MAX], why[512], msg[KAFKA_CONF_TEXT_MAX];

	if (rd_kafka_conf_set(b->conf, name, value, reason, sizeof(reason)) == RD_KAFKA_CONF_OK)
		return;
	/* scrubbed whole, then cut (never inside a secret) to fit the message */
	kafka_conf_scrub(b->cfg, reason, why, sizeof(why));
	if (!origin)
		snprintf(msg, sizeof(msg), "librdkafka refuses the property %s: %s", name, why);
	else if (!strcmp(origin, "kafka.properties"))
		snprintf(msg, sizeof(msg),
			 "kafka.properties: librdkafka refuses the property %s: %s", name, why);
	else
		snprintf(msg, sizeof(msg), "%s (librdkafka property %s): refused: %s", origin, name,
			 why);
	log_error("kafka: %s", msg);
	if (b->err)
		return;
	b->err = -EINVAL;
	if (b->errbuf && b->errlen)
		snprintf(b->errbuf, b->errlen, "%s", msg);
}

static void set_list(struct build *b, const struct kafka_conf_props *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		set(b, p->v[i].origin, p->v[i].name, p->v[i].value);
}

/* security.protocol and the TLS or SASL keys it uses; a warning names the unused ones. */
static void set_security(struct build *b)
{
	const typeof(b->cfg->kafka) *k = &b->cfg->kafka;
	const char *proto = config_enum_name("kafka.security_protocol", (int)k->security_protocol);
	bool tls = k->security_protocol == GUARDER_SEC_SSL ||
		   k->security_protocol == GUARDER_SEC_SASL_SSL;
	bool sasl = k->security_protocol == GUARDER_SEC_SASL_PLAINTEXT ||
		    k->security_protocol == GUARDER_SEC_SASL_SSL;
	bool unused[2] = { false, false }; /* [sasl] */
	const char *v;
	size_t i;

	set(b, "kafka.security_protocol", "security.protocol", proto);
	if (sasl)
		set(b, "kafka.sasl_mechanism", "sasl.mechanisms",
		    config_enum_name("kafka.sasl_mechanism", (int)k->sasl_mechanism));
	for (i = 0; i < N_ELEMS(security_keys); i++) {
		v = *(char *const *)((const char *)b->cfg + security_keys[i].offset);
		if (!v)
			continue;
		if (security_keys[i].sasl ? sasl : tls)
			set(b, security_keys[i].origin, security_keys[i].name, v);
		else
			unused[security_keys[i].sasl] = true;
	}
	if (unused[0])
		log_warn("kafka: kafka.ssl_* keys are set but kafka.security_protocol is %s: "
			 "they are not used",
			 proto);
	if (unused[1])
		log_warn("kafka: kafka.sasl_* keys are set but kafka.security_protocol is %s: "
			 "they are not used",
			 proto);
}

rd_kafka_conf_t *kafka_conf_new(const struct guarder_config *cfg,
				const struct kafka_conf_spec *spec, char *err, size_t errlen)
{
	const typeof(cfg->kafka) *k = &cfg->kafka;
	struct build b = { .cfg = cfg, .errbuf = err, .errlen = errlen };
	size_t i;

	b.conf = rd_kafka_conf_new();
	if (!b.conf) {
		log_error("kafka: out of memory for the librdkafka configuration");
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	__atomic_store_n(&log_cfg, cfg, __ATOMIC_RELEASE);
	set(&b, "kafka.brokers", "bootstrap.servers", k->brokers ? k->brokers : "");
	set(&b, NULL, "client.id", spec->client_id);
	set_security(&b);
	set_list(&b, &spec->defaults);
	for (i = 0; i < k->n_properties; i++) {
		if (spec->role == KAFKA_CONF_CONSUMER && is_producer_only(k->properties[i].name))
			continue;
		set(&b, "kafka.properties", k->properties[i].name, k->properties[i].value);
	}
	set_list(&b, &spec->fixed);
	rd_kafka_conf_set_log_cb(b.conf, kafka_conf_log_cb);
	if (b.err) {
		rd_kafka_conf_destroy(b.conf);
		errno = -b.err;
		return NULL;
	}
	return b.conf;
}

rd_kafka_t *kafka_conf_client_new(const struct guarder_config *cfg, enum kafka_conf_role role,
				  rd_kafka_conf_t *conf, char *err, size_t errlen)
{
	bool consumer = role == KAFKA_CONF_CONSUMER;
	char reason[KAFKA_CONF_REASON_MAX];
	rd_kafka_t *rk;

	rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, reason,
			  sizeof(reason));
	if (!rk) {
		/* rd_kafka_new owns @conf on success only */
		rd_kafka_conf_destroy(conf);
		kafka_conf_scrub(cfg, reason, reason, sizeof(reason));
		log_error("kafka: cannot create the %s: %s", consumer ? "consumer" : "producer",
			  reason);
		if (err && errlen)
			snprintf(err, errlen, "%s", reason);
		return NULL;
	}
	if (consumer)
		rd_kafka_poll_set_consumer(rk);
	return rk;
}
