/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where flow records go. The aggregation code (flow_view) hands every
 * record to each registered sink and knows nothing else about it; Kafka
 * and WebSocket outputs are new sinks, not changes to the aggregation.
 */
#ifndef GUARDER_SINK_H
#define GUARDER_SINK_H

#include <stddef.h>

#include "lib/record.h"

struct sink;

struct sink_ops {
	const char *name;
	/*
	 * emit - take one record. @json/@json_len is its formatted text and
	 * @key/@key_len its canonical key (both valid only during the call).
	 * Must not block the caller for long: a sink that cannot keep up
	 * applies its own documented policy and counts what it drops.
	 * Returns 0 or a negative errno (counted by the caller, never fatal).
	 */
	int (*emit)(struct sink *s, const struct flow_record *rec, const char *json,
		    size_t json_len, const char *key, size_t key_len);
	/*
	 * poll - serve the sink's own work (delivery reports, reconnects)
	 * without blocking. Optional. The collector calls it after every
	 * ring buffer batch and at least every 100 ms.
	 */
	void (*poll)(struct sink *s);
	/*
	 * stats_json - write the sink's counters as one JSON object (no
	 * newline) into @buf, e.g. {"queued":0,"delivered":12,...}. Optional.
	 * Returns the length or -ENOSPC. Names are documented in
	 * docs/collector.md; counters only grow, gauges say so.
	 */
	int (*stats_json)(struct sink *s, char *buf, size_t len);
	/*
	 * stats - the collector's periodic stats object (every
	 * collector.interval seconds; the same text is written to
	 * collector.stats_file). Optional: the WebSocket sink sends it to its
	 * clients. @json is valid only during the call.
	 */
	void (*stats)(struct sink *s, const char *json, size_t len);
	/* flush - deliver what is queued, waiting at most @timeout_ms. */
	int (*flush)(struct sink *s, int timeout_ms);
	/* destroy - flush nothing more, free the sink's own state @priv. */
	void (*destroy)(void *priv);
};

struct sink {
	const struct sink_ops *ops;
	void *priv;
	/* both counted by the caller of emit (flow_view), not by the sink */
	unsigned long long emitted; /* records accepted */
	unsigned long long failed;  /* emit calls that returned an error */
};

/*
 * sink_new - the sink of @ops whose own state is @priv, for the
 * constructors below. Returns it, or NULL with errno ENOMEM after
 * @ops->destroy(@priv): either way @priv is no longer the caller's.
 */
struct sink *sink_new(const struct sink_ops *ops, void *priv);

/* sink_destroy - @s->ops->destroy, then the sink itself; NULL is ignored. */
void sink_destroy(struct sink *s);

/*
 * sink_file_new - a sink writing each record as a JSON line to @path
 * ("-" for stdout), flushed per record so that tools can tail it.
 * Returns NULL with errno set on failure.
 */
struct sink *sink_file_new(const char *path);

struct guarder_config;

/*
 * sink_kafka_new - a librdkafka producer to cfg->kafka.topic, keyed by
 * the canonical flow key. Connects in the background: an unreachable
 * broker is not an error here (records queue up to the configured
 * bound). Returns NULL with errno set (-EINVAL: a property librdkafka
 * refuses, logged with its name) on failure.
 */
struct sink *sink_kafka_new(const struct guarder_config *cfg);

/*
 * sink_kafka_check_config - build (and free) the librdkafka configuration
 * from @cfg without connecting, so --check-config refuses what the
 * producer would. Returns 0 or -EINVAL (the message logged, naming the
 * property; secrets never printed).
 */
int sink_kafka_check_config(const struct guarder_config *cfg);

/*
 * sink_ws_new - the WebSocket feed on cfg->websocket.listen, served by
 * its own thread. Returns NULL with errno set (-EADDRINUSE, -EACCES:
 * non-loopback without api.token, ...) on failure, logged once.
 */
struct sink *sink_ws_new(const struct guarder_config *cfg);

#endif /* GUARDER_SINK_H */
