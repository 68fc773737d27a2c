// SPDX-License-Identifier: GPL-2.0
/*
 * PLACEHOLDER, being written now (issue 4): it only lets the tree build.
 * The collector refuses to start a sink that is not built yet.
 */
#include <errno.h>

#include "lib/config.h"
#include "lib/log.h"
#include "sink.h"

struct sink *sink_kafka_new(const struct guarder_config *cfg)
{
	(void)cfg;
	log_error("kafka: this build has no Kafka sink yet");
	errno = ENOSYS;
	return NULL;
}

int sink_kafka_check_config(const struct guarder_config *cfg)
{
	(void)cfg;
	return -ENOSYS;
}
