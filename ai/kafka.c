// SPDX-License-Identifier: GPL-2.0
/* librdkafka configuration shared by the worker's consumer and producer. */
#include <errno.h>
#include <string.h>

#include "kafka.h"
#include "lib/log.h"

int ai_kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char err[512];

	if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		log_error("kafka: librdkafka refuses the property %s: %s", name, err);
		return -EINVAL;
	}
	return 0;
}

/* Properties of kafka.properties that only make sense for the collector's producer. */
static bool producer_only(const char *name)
{
	static const char *const p[] = { "acks",
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
					 "max.in.flight" };
	size_t i;

	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (!strcmp(name, p[i]))
			return true;
	return false;
}

rd_kafka_conf_t *ai_kafka_conf(const struct guarder_config *cfg, const char *client_id,
			       bool consumer)
{
	static const char *const sec[] = { "plaintext", "ssl", "sasl_plaintext", "sasl_ssl" };
	static const char *const mech[] = { "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" };
	const typeof(cfg->kafka) *k = &cfg->kafka;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	bool tls, sasl;
	size_t i;
	int err = 0;

	if (!conf) {
		log_error("kafka: out of memory");
		return NULL;
	}
	tls = k->security_protocol == GUARDER_SEC_SSL ||
	      k->security_protocol == GUARDER_SEC_SASL_SSL;
	sasl = k->security_protocol == GUARDER_SEC_SASL_PLAINTEXT ||
	       k->security_protocol == GUARDER_SEC_SASL_SSL;
	err |= ai_kafka_set(conf, "bootstrap.servers", k->brokers);
	err |= ai_kafka_set(conf, "client.id", client_id);
	err |= ai_kafka_set(conf, "security.protocol", sec[k->security_protocol]);
	if (tls && k->ssl_ca)
		err |= ai_kafka_set(conf, "ssl.ca.location", k->ssl_ca);
	if (tls && k->ssl_cert)
		err |= ai_kafka_set(conf, "ssl.certificate.location", k->ssl_cert);
	if (tls && k->ssl_key)
		err |= ai_kafka_set(conf, "ssl.key.location", k->ssl_key);
	if (tls && k->ssl_key_password)
		err |= ai_kafka_set(conf, "ssl.key.password", k->ssl_key_password);
	if (sasl) {
		err |= ai_kafka_set(conf, "sasl.mechanisms", mech[k->sasl_mechanism]);
		if (k->sasl_username)
			err |= ai_kafka_set(conf, "sasl.username", k->sasl_username);
		if (k->sasl_password)
			err |= ai_kafka_set(conf, "sasl.password", k->sasl_password);
	}
	if (consumer) {
		/*
		 * librdkafka 2.0 stops fetching once the prefetch queue reaches
		 * queued.min.messages or queued.max.messages.kbytes and looks again
		 * only a second later (2.1 made that fetch.queue.backoff.ms): a
		 * worker faster than the refill idles the rest of the second. With
		 * the defaults (100,000 messages / 64 MiB) one worker read about
		 * 95,000 records/s at a quarter of a CPU; a 256 MiB queue lets one
		 * refill cover a second of work (bench/ai, docs/ai.md). One fetch
		 * answer is bounded to 8 MiB (default 50). kafka.properties may
		 * lower them.
		 */
		err |= ai_kafka_set(conf, "queued.min.messages", "1000000");
		err |= ai_kafka_set(conf, "queued.max.messages.kbytes", "262144");
		err |= ai_kafka_set(conf, "fetch.max.bytes", "8388608");
	}
	for (i = 0; i < k->n_properties; i++) {
		if (consumer && producer_only(k->properties[i].name))
			continue;
		err |= ai_kafka_set(conf, k->properties[i].name, k->properties[i].value);
	}
	if (err) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}
