/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The librdkafka configuration of every Guarder Kafka client, built from
 * the kafka section of the config: the collector's records producer,
 * guarder-ai's flows consumer and suggestions producer, guarder-api's
 * suggestions consumer. Brokers, TLS, SASL and kafka.properties are set
 * here for all of them; each caller adds the properties of its own role.
 *
 * librdkafka quotes values back in its errors ("Invalid value "X" for
 * configuration property ..."), so every text that comes from librdkafka
 * goes through kafka_conf_scrub (its log lines through kafka_conf_log_cb)
 * before it is logged or shown: no secret of the config reaches a log line.
 */
#ifndef GUARDER_KAFKA_CONF_H
#define GUARDER_KAFKA_CONF_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/* The longest text kafka_conf_scrub returns, with its NUL. */
#define KAFKA_CONF_TEXT_MAX 2048

enum kafka_conf_role {
	KAFKA_CONF_PRODUCER,
	/* kafka.properties that only make sense for a producer are skipped */
	KAFKA_CONF_CONSUMER,
};

/* One librdkafka property a caller sets. */
struct kafka_conf_prop {
	const char *name; /* librdkafka's name */
	const char *value;
	/* the config key it comes from (kafka.linger_ms), for messages; NULL: the daemon's choice */
	const char *origin;
};

struct kafka_conf_props {
	const struct kafka_conf_prop *v;
	size_t n;
};

/* A kafka_conf_props of the array @a. */
#define KAFKA_CONF_PROPS(a)                     \
	{                                       \
		(a), sizeof(a) / sizeof((a)[0]) \
	}

/* What a caller's client needs besides the connection settings. */
struct kafka_conf_spec {
	enum kafka_conf_role role;
	const char *client_id; /* client.id */
	/* set before kafka.properties, which may override them: tuning */
	struct kafka_conf_props defaults;
	/* set after kafka.properties: what the caller's own logic relies on (group, offsets) */
	struct kafka_conf_props fixed;
};

/*
 * kafka_conf_new - a librdkafka configuration for one client of @spec's
 * role: bootstrap.servers (kafka.brokers), client.id, security.protocol
 * and the TLS or SASL keys the protocol uses (a warning names the keys set
 * but unused), @spec->defaults, kafka.properties (for a
 * consumer without the producer-only ones), @spec->fixed, and
 * kafka_conf_log_cb as the log callback. Every property librdkafka refuses
 * is logged with its name and librdkafka's reason, scrubbed; all are
 * tried, so one run names them all. @err (@errlen bytes, may be NULL)
 * receives the first refusal's text, scrubbed. @cfg becomes the config
 * whose secrets kafka_conf_log_cb scrubs: it must outlive every client
 * made from the result. Returns the conf (the caller's: rd_kafka_new or
 * rd_kafka_conf_destroy), or NULL with errno set: EINVAL (a refusal),
 * ENOMEM.
 */
rd_kafka_conf_t *kafka_conf_new(const struct guarder_config *cfg,
				const struct kafka_conf_spec *spec, char *err, size_t errlen);

/*
 * kafka_conf_client_new - rd_kafka_new for @role with @conf, which it
 * takes over in every case (freed on failure). A consumer's main queue is
 * redirected to its consumer queue (rd_kafka_poll_set_consumer), so that
 * rd_kafka_consumer_poll serves everything. On failure librdkafka's reason
 * is logged, scrubbed of @cfg's secrets, and copied to @err (@errlen
 * bytes, may be NULL). Returns the handle or NULL.
 */
rd_kafka_t *kafka_conf_client_new(const struct guarder_config *cfg, enum kafka_conf_role role,
				  rd_kafka_conf_t *conf, char *err, size_t errlen);

/*
 * kafka_conf_scrub - copy @in to @out (@len bytes, at most
 * KAFKA_CONF_TEXT_MAX are used) with every occurrence of a secret of
 * @cfg replaced by <redacted>: kafka.sasl_password, kafka.ssl_key_password
 * and the values of the kafka.properties whose names contain password,
 * secret or key (as config_dump redacts them). Occurrences inside longer
 * words count; where secrets overlap the longest wins. A text too long for
 * @out is cut, never in the middle of a secret. @in may be @out; @cfg may
 * be NULL (no secrets). Returns @out.
 */
char *kafka_conf_scrub(const struct guarder_config *cfg, const char *in, char *out, size_t len);

/*
 * kafka_conf_log_cb - librdkafka's log callback (rd_kafka_conf_set_log_cb),
 * set by kafka_conf_new: the line goes to lib/log.c as
 * "kafka: librdkafka FAC: TEXT", scrubbed of the secrets of the config
 * given to the last kafka_conf_new, one level down as log.c routes
 * libbpf's lines (syslog emerg..warning are INFO, the rest DEBUG: the
 * callers report what matters in their own words). Safe on any thread.
 */
void kafka_conf_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

#endif /* GUARDER_KAFKA_CONF_H */
