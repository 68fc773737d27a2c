// SPDX-License-Identifier: GPL-2.0
/*
 * The Kafka sink: every flow record as one message on cfg->kafka.topic,
 * keyed by the canonical flow key (both directions of a conversation get
 * the same key, so the same partition), produced with librdkafka.
 *
 * Everything runs on the collector's thread: delivery reports, errors and
 * librdkafka's own log lines are queued by librdkafka and served by
 * rd_kafka_poll() from emit (every KAFKA_POLL_EVERY records, and while
 * waiting for room), poll and flush. So the counters need no locks.
 *
 * Records are handed to librdkafka in batches (rd_kafka_produce_batch):
 * emit copies the record into the pending batch, which goes out when it is
 * full, and at every poll (after each ring buffer drain, and at least every
 * 100 ms) and flush. One batch takes librdkafka's topic lock and reads its
 * clocks once instead of once per record, part of what lets the collector
 * keep up with kcat -P sending the same records (docs/benchmarks.md).
 *
 * Accounting, exact at every moment (docs/kafka.md):
 *   records the sink accepted (the caller's "emitted")
 *     = delivered + delivery_failed + dropped_queue_full + queued
 * where queued includes the pending batch, and delivery_failed includes
 * records of a batch librdkafka refused. Records the sink refused at once
 * (the caller's "failed") are those that came after a fatal producer error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "lib/config.h"
#include "lib/kafka_conf.h"
#include "lib/log.h"
#include "lib/timeconv.h"
#include "sink.h"

#define KAFKA_ERRSTR_MAX    512
#define KAFKA_WAIT_SLICE_MS 10 /* poll slices while waiting for room in the queue */
/*
 * Serve delivery reports from emit every this many records: a long ring
 * buffer drain calls no poll op, and unserved reports keep their records'
 * memory and count against the queue bound.
 */
#define KAFKA_POLL_EVERY 1000
/* the same kind of error is logged again at most this often, with a count */
#define KAFKA_ERR_REPEAT_NS (60ULL * 1000000000ULL)
/*
 * The pending batch: at most this many records, or this many bytes of
 * record and key text. 1024 records of about 700 bytes: a batch is well
 * under the arena, and one ring buffer drain (16,384 events) fills 16.
 */
#define KAFKA_BATCH_MAX	  1024
#define KAFKA_BATCH_BYTES (1024 * 1024)

enum broker_state {
	BROKER_UNKNOWN = 0, /* nothing delivered and no error yet */
	BROKER_UP, /* the last news was a delivered record */
	BROKER_DOWN, /* librdkafka reported all brokers down since */
};

/* One kind of error, logged once and then counted until it repeats late. */
struct err_note {
	int code;
	uint64_t logged_ns;
	uint64_t suppressed;
};

struct sink_kafka {
	const struct guarder_config *cfg; /* its secrets are scrubbed from librdkafka's texts */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	unsigned int full_wait_ms;
	unsigned int since_poll; /* emits since the last rd_kafka_poll */

	/* the pending batch: @n messages pointing into @arena (@used bytes) */
	rd_kafka_message_t *msgs;
	char *arena;
	size_t used;
	unsigned int n;

	/* records librdkafka accepted; minus the reported ones, plus @n = queued */
	uint64_t accepted;
	uint64_t refused; /* of a batch, refused by librdkafka (in delivery_failed) */
	uint64_t delivered;
	uint64_t failed_timeout; /* message.timeout.ms passed */
	uint64_t failed_other; /* any other delivery error (incl. purged at exit) */
	uint64_t dropped_queue_full;
	uint64_t queue_full_episodes;

	/* full-queue policy: while @full, drop at once until queued <= @low_water */
	bool full;
	uint64_t low_water;
	uint64_t dropped_at_full; /* dropped_queue_full when the episode began */

	/*
	 * GUARDER_KAFKA_TEST_FATAL_AFTER=N: after N accepted records, raise
	 * a fabricated fatal error (rd_kafka_test_fatal_error), because a
	 * real one cannot be provoked on purpose. For tests only; 0 = off.
	 */
	uint64_t test_fatal_after;

	enum broker_state broker;
	uint64_t down_since_ns;
	uint64_t outages;
	bool fatal;

	struct err_note err_note; /* error_cb */
	struct err_note dr_note; /* failed delivery reports */
	struct err_note prod_note; /* records refused by rd_kafka_producev */
};

static uint64_t queued(const struct sink_kafka *ks)
{
	return ks->accepted + ks->n - ks->delivered - ks->failed_timeout - ks->failed_other;
}

/*
 * Whether a note for @code should be logged now: the first time, when the
 * kind changes, or when the same kind repeats after KAFKA_ERR_REPEAT_NS
 * (the line then says how many were not logged). Returns the number
 * suppressed since the last line through @suppressed.
 */
static bool note_due(struct err_note *n, int code, uint64_t *suppressed)
{
	uint64_t now = clock_mono_now_ns();

	if (n->logged_ns && n->code == code && now - n->logged_ns < KAFKA_ERR_REPEAT_NS) {
		n->suppressed++;
		return false;
	}
	*suppressed = n->code == code ? n->suppressed : 0;
	n->code = code;
	n->logged_ns = now;
	n->suppressed = 0;
	return true;
}

/* "; N more of this kind since the last report" when some were not logged. */
static const char *more(uint64_t suppressed, char *buf, size_t len)
{
	if (!suppressed)
		return "";
	snprintf(buf, len, "; %" PRIu64 " more of this kind since the last report", suppressed);
	return buf;
}

/*
 * What librdkafka would refuse only when the producer is created, checked
 * here so that --check-config refuses it too: idempotence needs acks=all.
 * Reads the final values (kafka.properties may have overridden ours).
 */
static int conf_check_final(rd_kafka_conf_t *conf)
{
	char idem[16] = "", acks[16] = "";
	size_t n;

	n = sizeof(idem);
	if (rd_kafka_conf_get(conf, "enable.idempotence", idem, &n) != RD_KAFKA_CONF_OK)
		return 0;
	n = sizeof(acks);
	if (rd_kafka_conf_get(conf, "acks", acks, &n) != RD_KAFKA_CONF_OK)
		return 0;
	if (!strcmp(idem, "true") && strcmp(acks, "-1")) {
		log_error("kafka: kafka.idempotence is true but acks is %s: an idempotent producer "
			  "needs kafka.acks: all (or set kafka.idempotence: false)",
			  acks);
		return -EINVAL;
	}
	return 0;
}

/* @v as text in @buf (for a property value). */
static const char *uint_text(char *buf, size_t len, unsigned int v)
{
	snprintf(buf, len, "%u", v);
	return buf;
}

/*
 * Build the producer's librdkafka configuration: the connection settings
 * (lib/kafka_conf.h), then our keys, then kafka.properties (which may
 * override them). Every refused property is logged. Returns the conf or
 * NULL with errno set.
 */
static rd_kafka_conf_t *conf_build(const struct guarder_config *cfg)
{
	static const char *const acks[] = {
		[GUARDER_ACKS_ALL] = "-1",
		[GUARDER_ACKS_LEADER] = "1",
		[GUARDER_ACKS_NONE] = "0",
	};
	const typeof(cfg->kafka) *k = &cfg->kafka;
	char linger[16], batch[16], qmsgs[16], qkb[16], timeout[16];
	const struct kafka_conf_prop tuning[] = {
		{ "acks", acks[k->acks], "kafka.acks" },
		{ "compression.codec", config_enum_name("kafka.compression", (int)k->compression),
		  "kafka.compression" },
		{ "linger.ms", uint_text(linger, sizeof(linger), k->linger_ms), "kafka.linger_ms" },
		{ "batch.size", uint_text(batch, sizeof(batch), k->batch_size),
		  "kafka.batch_size" },
		{ "enable.idempotence", k->idempotence ? "true" : "false", "kafka.idempotence" },
		{ "queue.buffering.max.messages",
		  uint_text(qmsgs, sizeof(qmsgs), k->queue_max_messages),
		  "kafka.queue_max_messages" },
		{ "queue.buffering.max.kbytes", uint_text(qkb, sizeof(qkb), k->queue_max_kbytes),
		  "kafka.queue_max_kbytes" },
		{ "message.timeout.ms", uint_text(timeout, sizeof(timeout), k->message_timeout_ms),
		  "kafka.message_timeout_ms" },
		/* librdkafka's log lines are served on our thread, by rd_kafka_poll */
		{ "log.queue", "true", NULL },
	};
	const struct kafka_conf_spec spec = {
		.role = KAFKA_CONF_PRODUCER,
		.client_id = k->client_id,
		.defaults = KAFKA_CONF_PROPS(tuning),
	};
	rd_kafka_conf_t *conf;

	conf = kafka_conf_new(cfg, &spec, NULL, 0);
	if (!conf)
		return NULL;
	if (conf_check_final(conf)) {
		rd_kafka_conf_destroy(conf);
		errno = EINVAL;
		return NULL;
	}
	return conf;
}

int sink_kafka_check_config(const struct guarder_config *cfg)
{
	rd_kafka_conf_t *conf;

	conf = conf_build(cfg);
	if (!conf)
		return -errno;
	rd_kafka_conf_destroy(conf);
	return 0;
}

static void broker_up(struct sink_kafka *ks)
{
	if (ks->broker == BROKER_DOWN)
		log_info("kafka: delivering again after %.1f s (%" PRIu64 " queued)",
			 (double)(clock_mono_now_ns() - ks->down_since_ns) / 1e9, queued(ks));
	ks->broker = BROKER_UP;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sink_kafka *ks = opaque;
	uint64_t sup = 0;
	char buf[80];

	(void)rk;
	if (!m->err) {
		ks->delivered++;
		broker_up(ks);
		return;
	}
	if (m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
		ks->failed_timeout++;
	else
		ks->failed_other++;
	/* purged at exit: flush has already said how many */
	if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		return;
	if (note_due(&ks->dr_note, m->err, &sup))
		log_warn("kafka: a record was not delivered: %s (%s); counted in delivery_failed%s",
			 rd_kafka_err2str(m->err), rd_kafka_err2name(m->err),
			 more(sup, buf, sizeof(buf)));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sink_kafka *ks = opaque;
	char fatal[KAFKA_ERRSTR_MAX], text[KAFKA_ERRSTR_MAX];
	rd_kafka_resp_err_t orig;
	uint64_t sup = 0;
	char buf[80];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		if (ks->fatal)
			return;
		ks->fatal = true;
		orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		kafka_conf_scrub(ks->cfg, fatal, fatal, sizeof(fatal));
		log_error(
			"kafka: fatal producer error %s: %s. The idempotent producer cannot go on: "
			"queued records fail and new ones are refused (all counted, see "
			"delivery_failed and the sink's failed); restart the collector",
			rd_kafka_err2name(orig), fatal);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		if (ks->broker != BROKER_DOWN) {
			ks->broker = BROKER_DOWN;
			ks->down_since_ns = clock_mono_now_ns();
			ks->outages++;
			log_warn("kafka: all brokers down, queuing (%" PRIu64 " queued)",
				 queued(ks));
		}
		return;
	}
	/* librdkafka retries by itself: say what happens, once per kind */
	if (note_due(&ks->err_note, err, &sup))
		log_warn("kafka: %s: %s%s", rd_kafka_err2name(err),
			 kafka_conf_scrub(ks->cfg, reason, text, sizeof(text)),
			 more(sup, buf, sizeof(buf)));
}

static int errno_of(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
		return -EMSGSIZE;
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
		return -ENOENT;
	default:
		return -EIO;
	}
}

/*
 * Whether a full-queue episode is over: the queue drained to its low-water
 * mark. Checked by emit and by poll, so that the gauge and the log line
 * follow the queue even when no record comes.
 */
static bool full_ended(struct sink_kafka *ks)
{
	if (queued(ks) > ks->low_water)
		return false;
	log_info("kafka: the queue has room again (%" PRIu64 " queued): %" PRIu64
		 " records were dropped while it was full",
		 queued(ks), ks->dropped_queue_full - ks->dropped_at_full);
	ks->full = false;
	return true;
}

/*
 * Hand @m[0..@n) to librdkafka. Counts what it took and what it refused
 * for good (the batch's records were emitted: they count in
 * delivery_failed). Returns the index of the first record it refused
 * because the queue is full (the rest were refused for the same reason),
 * or @n.
 */
static unsigned int produce_batch(struct sink_kafka *ks, rd_kafka_message_t *m, unsigned int n)
{
	uint64_t sup = 0;
	unsigned int i;
	char buf[80];

	rd_kafka_produce_batch(ks->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m, (int)n);
	for (i = 0; i < n; i++) {
		if (!m[i].err) {
			ks->accepted++;
			continue;
		}
		if (m[i].err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return i;
		ks->refused++;
		if (m[i].err != RD_KAFKA_RESP_ERR__FATAL &&
		    note_due(&ks->prod_note, m[i].err, &sup))
			log_warn("kafka: librdkafka refused a record: %s (%s); counted in "
				 "delivery_failed%s",
				 rd_kafka_err2str(m[i].err), rd_kafka_err2name(m[i].err),
				 more(sup, buf, sizeof(buf)));
	}
	return n;
}

/*
 * Send the pending batch, applying the full-queue policy (docs/kafka.md):
 * the first time the queue is full, wait up to kafka.queue_full_wait_ms
 * for room, serving delivery reports; if none comes, drop what is left of
 * the batch and every following record at once, without waiting again,
 * until the queue has drained by a tenth.
 */
static void batch_send(struct sink_kafka *ks)
{
	unsigned int n = ks->n, done;
	uint64_t deadline, now, q;
	int slice;

	if (!n)
		return;
	done = produce_batch(ks, ks->msgs, n);
	if (done < n && ks->full_wait_ms && !ks->full) {
		deadline = clock_mono_now_ns() + (uint64_t)ks->full_wait_ms * 1000000ULL;
		do {
			now = clock_mono_now_ns();
			if (now >= deadline)
				break;
			slice = (int)((deadline - now + 999999) / 1000000);
			rd_kafka_poll(ks->rk,
				      slice < KAFKA_WAIT_SLICE_MS ? slice : KAFKA_WAIT_SLICE_MS);
			done += produce_batch(ks, ks->msgs + done, n - done);
		} while (done < n);
	}
	ks->n = 0;
	ks->used = 0;
	if (ks->test_fatal_after && ks->accepted == ks->test_fatal_after)
		rd_kafka_test_fatal_error(ks->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
					  "GUARDER_KAFKA_TEST_FATAL_AFTER");
	if (done == n)
		return;
	ks->dropped_queue_full += n - done;
	if (ks->full)
		return;
	q = queued(ks);
	ks->full = true;
	/* a tenth of room, at least one record, before queuing again */
	ks->low_water = q > 1 ? q - (q / 10 ? q / 10 : 1) : 0;
	ks->dropped_at_full = ks->dropped_queue_full - (n - done);
	ks->queue_full_episodes++;
	log_warn("kafka: the local queue is full (%" PRIu64 " records; kafka.queue_max_messages, "
		 "kafka.queue_max_kbytes) and had no room after %u ms: dropping records "
		 "(counted in dropped_queue_full) until it drains to %" PRIu64,
		 q, ks->full_wait_ms, ks->low_water);
}

/*
 * Take one record into the pending batch (a copy: @json and @key are the
 * caller's buffer). While the queue is full, drop and count it. After a
 * fatal producer error, refuse it (the caller counts it in the sink's
 * failed).
 */
static int sink_kafka_emit(struct sink *s, const struct flow_record *rec, const char *json,
			   size_t json_len, const char *key, size_t key_len)
{
	struct sink_kafka *ks = s->priv;
	rd_kafka_message_t *m;

	(void)rec;
	if (++ks->since_poll >= KAFKA_POLL_EVERY) {
		ks->since_poll = 0;
		rd_kafka_poll(ks->rk, 0);
	}
	if (ks->full && !full_ended(ks)) {
		ks->dropped_queue_full++;
		return 0;
	}
	if (rd_kafka_fatal_error(ks->rk, NULL, 0))
		return errno_of(RD_KAFKA_RESP_ERR__FATAL);
	if (json_len + key_len > KAFKA_BATCH_BYTES)
		return -EMSGSIZE; /* cannot happen: records are bounded far below */
	if (ks->n == KAFKA_BATCH_MAX || ks->used + json_len + key_len > KAFKA_BATCH_BYTES) {
		batch_send(ks);
		if (ks->full) {
			ks->dropped_queue_full++;
			return 0;
		}
	}
	m = &ks->msgs[ks->n++];
	memset(m, 0, sizeof(*m));
	m->payload = ks->arena + ks->used;
	memcpy(m->payload, json, json_len);
	m->len = json_len;
	ks->used += json_len;
	m->key = ks->arena + ks->used;
	memcpy(m->key, key, key_len);
	m->key_len = key_len;
	ks->used += key_len;
	/* GUARDER_KAFKA_TEST_FATAL_AFTER: exactly that many records reach librdkafka */
	if (ks->test_fatal_after && ks->accepted + ks->n == ks->test_fatal_after)
		batch_send(ks);
	return 0;
}

static void sink_kafka_poll(struct sink *s)
{
	struct sink_kafka *ks = s->priv;

	batch_send(ks);
	ks->since_poll = 0;
	rd_kafka_poll(ks->rk, 0);
	if (ks->full)
		full_ended(ks);
}

static const char *broker_name(enum broker_state b)
{
	return b == BROKER_UP ? "up" : b == BROKER_DOWN ? "down" : "unknown";
}

static int sink_kafka_stats_json(struct sink *s, char *buf, size_t len)
{
	struct sink_kafka *ks = s->priv;
	int n;

	n = snprintf(buf, len,
		     "{\"queued\":%" PRIu64 ",\"delivered\":%" PRIu64
		     ",\"delivery_failed\":%" PRIu64 ",\"delivery_failed_timeout\":%" PRIu64
		     ",\"delivery_failed_other\":%" PRIu64 ",\"dropped_queue_full\":%" PRIu64
		     ",\"queue_full\":%s"
		     ",\"queue_full_episodes\":%" PRIu64 ",\"broker\":\"%s\",\"outages\":%" PRIu64
		     ",\"fatal\":%s}",
		     queued(ks), ks->delivered, ks->failed_timeout + ks->failed_other + ks->refused,
		     ks->failed_timeout, ks->failed_other + ks->refused, ks->dropped_queue_full,
		     ks->full ? "true" : "false", ks->queue_full_episodes, broker_name(ks->broker),
		     ks->outages, ks->fatal ? "true" : "false");
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/*
 * Deliver what is queued, waiting at most @timeout_ms (linger.ms does not
 * apply while flushing). Returns 0 when nothing is left, or -ETIMEDOUT
 * after saying how many records are still queued: they are lost when the
 * sink is destroyed.
 */
static int sink_kafka_flush(struct sink *s, int timeout_ms)
{
	struct sink_kafka *ks = s->priv;
	uint64_t q, t0 = clock_mono_now_ns();

	batch_send(ks);
	q = queued(ks);
	if (q)
		log_info("kafka: flushing %" PRIu64 " queued records (waiting at most %d ms)", q,
			 timeout_ms);
	rd_kafka_flush(ks->rk, timeout_ms);
	rd_kafka_poll(ks->rk, 0);
	q = queued(ks);
	if (q) {
		log_warn("kafka: %" PRIu64
			 " records still queued after %d ms (broker %s): they are "
			 "lost",
			 q, timeout_ms, broker_name(ks->broker));
		return -ETIMEDOUT;
	}
	log_info("kafka: queue flushed in %.2f s; in all %" PRIu64 " delivered, %" PRIu64
		 " delivery failures, %" PRIu64 " dropped (queue full)",
		 (double)(clock_mono_now_ns() - t0) / 1e9, ks->delivered,
		 ks->failed_timeout + ks->failed_other + ks->refused, ks->dropped_queue_full);
	return 0;
}

static void sink_kafka_free(void *priv)
{
	struct sink_kafka *ks = priv;

	if (ks->rk && queued(ks)) {
		/* fail what is left now: destroy must not wait for a broker */
		rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(ks->rk, 0);
	}
	if (ks->rkt)
		rd_kafka_topic_destroy(ks->rkt);
	if (ks->rk)
		rd_kafka_destroy(ks->rk);
	free(ks->msgs);
	free(ks->arena);
	free(ks);
}

static const struct sink_ops sink_kafka_ops = {
	.name = "kafka",
	.emit = sink_kafka_emit,
	.poll = sink_kafka_poll,
	.stats_json = sink_kafka_stats_json,
	.flush = sink_kafka_flush,
	.destroy = sink_kafka_free,
};

struct sink *sink_kafka_new(const struct guarder_config *cfg)
{
	struct sink_kafka *ks = calloc(1, sizeof(*ks));
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_resp_err_t kerr;
	const char *test;
	int err = 0;

	if (!ks) {
		errno = ENOMEM;
		return NULL;
	}
	ks->msgs = calloc(KAFKA_BATCH_MAX, sizeof(*ks->msgs));
	ks->arena = malloc(KAFKA_BATCH_BYTES);
	if (!ks->msgs || !ks->arena) {
		err = -ENOMEM;
		goto err;
	}
	ks->cfg = cfg;
	ks->full_wait_ms = cfg->kafka.queue_full_wait_ms;
	test = getenv("GUARDER_KAFKA_TEST_FATAL_AFTER");
	if (test && *test) {
		ks->test_fatal_after = strtoull(test, NULL, 10);
		log_warn(
			"kafka: GUARDER_KAFKA_TEST_FATAL_AFTER: a fabricated fatal error after %" PRIu64
			" records (for tests only)",
			ks->test_fatal_after);
	}

	conf = conf_build(cfg);
	if (!conf) {
		err = -errno;
		goto err;
	}
	rd_kafka_conf_set_opaque(conf, ks);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	ks->rk = kafka_conf_client_new(cfg, KAFKA_CONF_PRODUCER, conf, NULL, 0);
	if (!ks->rk) {
		err = -EINVAL;
		goto err;
	}
	kerr = rd_kafka_set_log_queue(ks->rk, NULL);
	if (kerr)
		log_warn("kafka: librdkafka's log lines stay on its own threads: %s",
			 rd_kafka_err2str(kerr));
	ks->rkt = rd_kafka_topic_new(ks->rk, cfg->kafka.topic, NULL);
	if (!ks->rkt) {
		err = errno ? -errno : -EINVAL;
		log_error("kafka: topic %s: %s", cfg->kafka.topic,
			  rd_kafka_err2str(rd_kafka_last_error()));
		goto err;
	}
	return sink_new(&sink_kafka_ops, ks);
err:
	sink_kafka_free(ks);
	errno = err < 0 ? -err : ENOMEM;
	return NULL;
}
