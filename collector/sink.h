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
	/* flush - deliver what is queued, waiting at most @timeout_ms. */
	int (*flush)(struct sink *s, int timeout_ms);
	/* destroy - flush nothing more, free everything. */
	void (*destroy)(struct sink *s);
};

struct sink {
	const struct sink_ops *ops;
	void *priv;
	/* both counted by the caller of emit (flow_view), not by the sink */
	unsigned long long emitted; /* records accepted */
	unsigned long long failed;  /* emit calls that returned an error */
};

/*
 * sink_file_new - a sink writing each record as a JSON line to @path
 * ("-" for stdout), flushed per record so that tools can tail it.
 * Returns NULL with errno set on failure.
 */
struct sink *sink_file_new(const char *path);

#endif /* GUARDER_SINK_H */
