/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guarder-ai's Kafka clients: a group consumer of kafka.topic with manual
 * offset commits, and a producer of suggestions (librdkafka).
 */
#ifndef GUARDER_AI_KAFKA_H
#define GUARDER_AI_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "lib/config.h"

/*
 * ai_kafka_conf - a librdkafka configuration with the connection settings
 * of cfg->kafka (brokers, TLS, SASL, then kafka.properties) and
 * client.id @client_id. Properties that only apply to producers are
 * skipped for a consumer (@consumer) and vice versa, so librdkafka does
 * not warn. Returns the conf or NULL after one logged error.
 */
rd_kafka_conf_t *ai_kafka_conf(const struct guarder_config *cfg, const char *client_id,
			       bool consumer);

/*
 * ai_kafka_set - rd_kafka_conf_set with the refusal logged (secrets are
 * never printed: only the name). Returns 0 or -EINVAL.
 */
int ai_kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value);

#endif /* GUARDER_AI_KAFKA_H */
