// SPDX-License-Identifier: GPL-2.0
/*
 * guarder-ai: the AI worker. Consumes the flow records of kafka.topic as a
 * member of the consumer group ai.group_id, feeds them to the detection
 * engine (detect.h), and publishes every finding as a suggestion on
 * ai.suggestions_topic after the safety policy. docs/ai.md is the manual.
 *
 * One thread: consume, detect, produce, commit, all in one loop, so the
 * offsets committed are always those of records fully processed.
 * Exit status 0 after SIGINT/SIGTERM (offsets committed, group left), 1 on
 * a start-up error.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>

#include "detect.h"
#include "flowrec.h"
#include "lib/cmdline.h"
#include "lib/config.h"
#include "lib/kafka_conf.h"
#include "lib/ai_model.h"
#include "lib/atomic_file.h"
#include "lib/log.h"
#include "suggest.h"
#include "summary.h"

#ifndef GUARDER_VERSION
#error "GUARDER_VERSION comes from meson.build (project version)"
#endif

#define MAX_PARTITIONS	   4096 /* offsets tracked per partition of kafka.topic */
#define COMMIT_INTERVAL_NS 1000000000ull
#define STATS_INTERVAL_NS  10000000000ull
#define BAD_LOG_BURST	   5 /* bad records logged one by one, then once per stats line */
#define SUGG_LOG_PER_SEC   20

struct options {
	struct cmdline_daemon cmd;
	const char *stats_file;
	const char *offset_reset;
	bool drain;
};

#define MODEL_MAX_RULES 256 /* the highest ai.max_rules_per_suggestion */

/*
 * The model call runs on its own thread: it may take ai.model.timeout_ms
 * (30 s by default) and the records must keep flowing meanwhile. The
 * main thread hands over a summary and later picks up the answer.
 */
struct model_runner {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct ai_model *model;
	const struct guarder_config *cfg;
	char *request; /* the summary to send; owned; NULL = nothing to do */
	bool busy, done, stop;
	/* the answer (valid while done) */
	int rc;
	char err[AI_MODEL_ERR_LEN];
	char node[AI_NODE_MAX];
	char analysis[200];
	struct rule rules[MODEL_MAX_RULES];
	size_t n_rules, n_rejects;
	uint64_t calls, failures;
};

struct worker {
	const struct guarder_config *cfg;
	const struct options *o;
	rd_kafka_t *consumer, *producer;
	struct ai_engine eng;
	struct model_runner *model; /* NULL: no model configured */

	/* offsets: next offset to commit per partition (-1 = nothing new) */
	int64_t next_offset[MAX_PARTITIONS];
	bool dirty[MAX_PARTITIONS];
	bool assigned[MAX_PARTITIONS];
	bool eof[MAX_PARTITIONS];
	char partitions[256]; /* the current assignment, as text */

	uint64_t records, bad, commits, commit_failures;
	uint64_t suggestions, rejected, produce_failed, delivered, delivery_failed;
	uint64_t sugg_log_sec, sugg_logged, sugg_log_suppressed;
	char last_bad[160];
	uint64_t bad_logged;
	uint64_t started_ns, first_ns, last_ns, drained_ns; /* first/last record read */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: guarder-ai [options]\n"
		"\n"
		"Read the flow records of kafka.topic as a member of the consumer group\n"
		"ai.group_id, detect attacks and publish rule suggestions to\n"
		"ai.suggestions_topic (docs/ai.md).\n"
		"\n"
		"Options (one or two leading dashes; -name value or -name=value):\n"
		"  -c, -config FILE       read FILE instead of %s\n"
		"  -check-config          validate the config, print the effective config\n"
		"                         (secrets redacted) and exit\n"
		"  -stats-file FILE       rewrite FILE with the counters as JSON every second\n"
		"  -offset-reset WHERE    where a group without committed offsets starts:\n"
		"                         latest (default) or earliest\n"
		"  -drain                 exit once every assigned partition is read to its end\n"
		"                         (benchmarks, replays)\n"
		"  -v, -verbose           debug logging\n"
		"  -version               print the version and exit\n"
		"  -h, -help              this text\n",
		GUARDER_CONFIG_DEFAULT_PATH);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static char version[128];
	const struct cmdline_opt opts[] = {
		{ .name = "stats-file", .value = &o->stats_file },
		{ .name = "offset-reset", .value = &o->offset_reset },
		{ .name = "drain", .set = &o->drain },
		{ 0 },
	};
	int err;

	snprintf(version, sizeof(version), "%s (librdkafka %s)", GUARDER_VERSION,
		 rd_kafka_version_str());
	o->cmd =
		(struct cmdline_daemon){ .prog = "guarder-ai", .version = version, .usage = usage };
	err = cmdline_daemon_parse(&o->cmd, argc, argv, opts);
	if (err)
		return err;
	if (!o->offset_reset)
		o->offset_reset = "latest";
	if (strcmp(o->offset_reset, "latest") && strcmp(o->offset_reset, "earliest")) {
		fprintf(stderr,
			"guarder-ai: -offset-reset: expected latest or earliest, got '%s'\n",
			o->offset_reset);
		return -EINVAL;
	}
	return 0;
}

/*
 * load_config - read the config. guarder-ai cannot start without
 * kafka.brokers; -check-config only says so (the file is valid, and one
 * file serves every daemon, most of which need no broker).
 */
static int load_config(struct guarder_config *cfg, const struct options *o)
{
	int err = config_open(cfg, o->cmd.config_path);

	if (err)
		return err;
	if (cfg->kafka.brokers)
		return 0;
	if (o->cmd.check_config) {
		log_warn("%s sets no kafka.brokers: guarder-ai needs them to start (it reads "
			 "the flow records from Kafka)",
			 cfg->source);
		return 0;
	}
	log_error("%s: kafka.brokers is not set: guarder-ai reads the flow records from Kafka",
		  cfg->source);
	config_free(cfg);
	return -EINVAL;
}

/* --- suggestions ------------------------------------------------------ */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct worker *w = opaque;

	(void)rk;
	if (m->err) {
		w->delivery_failed++;
		log_warn("suggestion not delivered to %s: %s", w->cfg->ai.suggestions_topic,
			 rd_kafka_err2str(m->err));
	} else {
		w->delivered++;
	}
}

/* publish - one suggestion record (owned by the caller) on the topic. */
static void publish(struct worker *w, struct json_object *s, const char *node, bool rejected)
{
	const char *text = json_object_to_json_string_ext(
		s, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	uint64_t sec = now_ns() / 1000000000ull;
	rd_kafka_resp_err_t err;

	w->suggestions++;
	if (rejected)
		w->rejected++;
	err = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->cfg->ai.suggestions_topic),
				RD_KAFKA_V_KEY(node, strlen(node)),
				RD_KAFKA_V_VALUE((void *)text, strlen(text)),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	if (err) {
		w->produce_failed++;
		log_warn("suggestion not queued for %s: %s", w->cfg->ai.suggestions_topic,
			 rd_kafka_err2str(err));
	}
	/* a burst of findings (many scanners at once) must not flood the log */
	if (sec != w->sugg_log_sec) {
		if (w->sugg_log_suppressed)
			log_info("... and %" PRIu64 " more suggestions in that second",
				 w->sugg_log_suppressed);
		w->sugg_log_sec = sec;
		w->sugg_logged = 0;
		w->sugg_log_suppressed = 0;
	}
	if (w->sugg_logged++ < SUGG_LOG_PER_SEC)
		log_info("suggestion %s", text);
	else
		w->sugg_log_suppressed++;
}

static void on_finding(const struct ai_finding *fd, void *ctx)
{
	struct worker *w = ctx;
	struct json_object *s;
	bool rejected;

	if (ai_suggestion_from_finding(w->cfg, fd, &s, &rejected)) {
		log_error("suggestion for %s: out of memory", ai_kind_name(fd->kind));
		return;
	}
	publish(w, s, fd->node, rejected);
	json_object_put(s);
}

/* --- offsets ------------------------------------------------------------ */

/* commit - the offsets of the records processed since the last commit. */
static void commit(struct worker *w, bool sync)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
	rd_kafka_resp_err_t err;
	int p;

	for (p = 0; p < MAX_PARTITIONS; p++) {
		if (!w->dirty[p])
			continue;
		rd_kafka_topic_partition_list_add(l, w->cfg->kafka.topic, p)->offset =
			w->next_offset[p];
		w->dirty[p] = false;
	}
	if (l->cnt) {
		err = rd_kafka_commit(w->consumer, l, sync ? 0 : 1);
		if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
			w->commit_failures++;
			log_warn("offset commit failed: %s", rd_kafka_err2str(err));
		} else {
			w->commits++;
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
}

static void describe(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < parts->cnt && n + 8 < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%d", i ? "," : "",
				      parts->elems[i].partition);
}

/* assigned_text - the current assignment as "0,2,3" for the stats. */
static void assigned_text(struct worker *w)
{
	size_t n = 0;
	int p;

	w->partitions[0] = '\0';
	for (p = 0; p < MAX_PARTITIONS && n + 8 < sizeof(w->partitions); p++)
		if (w->assigned[p])
			n += (size_t)snprintf(w->partitions + n, sizeof(w->partitions) - n, "%s%d",
					      n ? "," : "", p);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct worker *w = opaque;
	bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
	bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
	char list[256];
	int i, p;

	describe(parts, list, sizeof(list));
	/* hand over only what we processed: commit before letting go */
	if (!assign)
		commit(w, true);
	for (i = 0; i < parts->cnt; i++) {
		p = parts->elems[i].partition;
		if (p >= 0 && p < MAX_PARTITIONS) {
			w->assigned[p] = assign;
			if (assign)
				w->eof[p] = false;
		}
	}
	log_info("%s partitions of %s: [%s]", assign ? "assigned" : "revoked", w->cfg->kafka.topic,
		 list);
	if (coop)
		rd_kafka_error_destroy(assign ? rd_kafka_incremental_assign(rk, parts) :
						rd_kafka_incremental_unassign(rk, parts));
	else
		rd_kafka_assign(rk, assign ? parts : NULL);
	assigned_text(w);
}

/* --- model ------------------------------------------------------------- */

static void *model_thread(void *arg)
{
	struct model_runner *mr = arg;
	struct json_object *answer = NULL, *a;
	struct ai_model_reject rejects[8];
	char *request;
	size_t n, nrej;
	int rc;

	pthread_mutex_lock(&mr->lock);
	for (;;) {
		while (!mr->stop && !mr->request)
			pthread_cond_wait(&mr->wake, &mr->lock);
		if (mr->stop)
			break;
		request = mr->request;
		mr->request = NULL;
		pthread_mutex_unlock(&mr->lock);

		mr->err[0] = '\0';
		mr->analysis[0] = '\0';
		n = nrej = 0;
		rc = ai_model_ask(mr->model, ai_summary_system_prompt(), request, &answer, mr->err,
				  sizeof(mr->err));
		free(request);
		if (!rc) {
			rc = ai_model_rules_from_answer(
				answer, (__u64)time(NULL) + mr->cfg->ai.rule_ttl, mr->rules,
				MODEL_MAX_RULES, &n, rejects, 8, &nrej, mr->err, sizeof(mr->err));
			if (json_object_is_type(answer, json_type_object) &&
			    json_object_object_get_ex(answer, "analysis", &a) &&
			    json_object_is_type(a, json_type_string))
				snprintf(mr->analysis, sizeof(mr->analysis), "%s",
					 json_object_get_string(a));
			json_object_put(answer);
			answer = NULL;
		}

		pthread_mutex_lock(&mr->lock);
		mr->rc = rc;
		mr->n_rules = n;
		mr->n_rejects = nrej;
		mr->done = true;
	}
	pthread_mutex_unlock(&mr->lock);
	return NULL;
}

static int model_start(struct worker *w)
{
	struct model_runner *mr;
	char err[AI_MODEL_ERR_LEN];
	int rc;

	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	rc = ai_model_new(w->cfg, &mr->model, err, sizeof(err));
	if (rc) {
		log_error("model: %s", err);
		free(mr);
		return rc;
	}
	if (!ai_model_configured(mr->model) || !w->cfg->ai.model.interval) {
		log_info("model: %s; detectors only", ai_model_configured(mr->model) ?
							      "ai.model.interval is 0" :
							      "no endpoint configured");
		ai_model_free(mr->model);
		free(mr);
		return 0;
	}
	mr->cfg = w->cfg;
	pthread_mutex_init(&mr->lock, NULL);
	pthread_cond_init(&mr->wake, NULL);
	rc = pthread_create(&mr->thread, NULL, model_thread, mr);
	if (rc) {
		log_error("model: cannot start its thread: %s", strerror(rc));
		ai_model_free(mr->model);
		free(mr);
		return -rc;
	}
	w->model = mr;
	log_info("model: a summary every %u s (ai.model.interval)", w->cfg->ai.model.interval);
	return 0;
}

static void model_stop(struct worker *w)
{
	struct model_runner *mr = w->model;

	if (!mr)
		return;
	pthread_mutex_lock(&mr->lock);
	mr->stop = true;
	pthread_cond_signal(&mr->wake);
	pthread_mutex_unlock(&mr->lock);
	ai_model_abort(mr->model); /* a call in flight ends within 50 ms */
	pthread_join(mr->thread, NULL);
	free(mr->request);
	ai_model_free(mr->model);
	pthread_mutex_destroy(&mr->lock);
	pthread_cond_destroy(&mr->wake);
	free(mr);
	w->model = NULL;
}

/* model_ask - hand the current summary to the model thread (if idle). */
static void model_ask(struct worker *w)
{
	struct model_runner *mr = w->model;
	struct json_object *sum;
	char node[AI_NODE_MAX];
	char *text;

	pthread_mutex_lock(&mr->lock);
	if (mr->busy) {
		pthread_mutex_unlock(&mr->lock);
		log_warn("model: the previous analysis is still running; skipping this one");
		return;
	}
	pthread_mutex_unlock(&mr->lock);
	sum = ai_summary_build(&w->eng, node, sizeof(node));
	if (!sum)
		return;
	if (!node[0]) {
		json_object_put(sum); /* an empty window: nothing to ask about */
		return;
	}
	text = strdup(json_object_to_json_string_ext(sum, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(sum);
	if (!text)
		return;
	pthread_mutex_lock(&mr->lock);
	snprintf(mr->node, sizeof(mr->node), "%s", node);
	mr->request = text;
	mr->busy = true;
	mr->calls++;
	pthread_cond_signal(&mr->wake);
	pthread_mutex_unlock(&mr->lock);
}

/* model_collect - publish the model's answer, if one arrived. */
static void model_collect(struct worker *w)
{
	struct model_runner *mr = w->model;
	struct json_object *ev, *s;
	bool rejected;
	char summary[256];

	pthread_mutex_lock(&mr->lock);
	if (!mr->done) {
		pthread_mutex_unlock(&mr->lock);
		return;
	}
	mr->done = false;
	mr->busy = false;
	pthread_mutex_unlock(&mr->lock);

	if (mr->rc) {
		mr->failures++;
		log_warn("model: %s", mr->err);
		return;
	}
	if (mr->n_rules == 0) {
		log_info("model: no rule proposed (%zu unusable)%s%s", mr->n_rejects,
			 mr->analysis[0] ? ": " : "", mr->analysis);
		return;
	}
	ev = json_object_new_object();
	if (!ev)
		return;
	json_object_object_add(ev, "rules_unusable", json_object_new_int64((int64_t)mr->n_rejects));
	json_object_object_add(ev, "window_s", json_object_new_int64(w->cfg->ai.window));
	snprintf(summary, sizeof(summary), "model: %s",
		 mr->analysis[0] ? mr->analysis : "rules proposed from the traffic summary");
	{
		struct ai_suggestion_in in = {
			.origin = "model",
			.kind = "model",
			.node = mr->node,
			.confidence = 0.5, /* the model's own claims are not evidence */
			.summary = summary,
			.evidence = ev,
			.rules = mr->rules,
			.n_rules = mr->n_rules,
		};

		if (ai_suggestion_build(w->cfg, &in, &s, &rejected)) {
			log_error("model suggestion: out of memory");
			return;
		}
	}
	publish(w, s, mr->node, rejected);
	json_object_put(s);
}

/* --- records ------------------------------------------------------------ */

static void bad_record(struct worker *w, const rd_kafka_message_t *m, const char *why)
{
	w->bad++;
	snprintf(w->last_bad, sizeof(w->last_bad), "partition %d offset %" PRId64 ": %s",
		 m->partition, m->offset, why);
	if (w->bad_logged < BAD_LOG_BURST) {
		w->bad_logged++;
		log_warn("bad record skipped (%s)%s", w->last_bad,
			 w->bad_logged == BAD_LOG_BURST ? "; further ones are counted in the "
							  "stats line" :
							  "");
	}
}

static void handle(struct worker *w, const rd_kafka_message_t *m)
{
	struct ai_flow f;
	char err[128];
	int p = m->partition, rc;

	if (m->err) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (p >= 0 && p < MAX_PARTITIONS)
				w->eof[p] = true;
			return;
		}
		char text[KAFKA_CONF_TEXT_MAX];

		log_warn("consumer: %s",
			 kafka_conf_scrub(w->cfg, rd_kafka_message_errstr(m), text, sizeof(text)));
		return;
	}
	if (p >= 0 && p < MAX_PARTITIONS) {
		w->eof[p] = false;
		w->next_offset[p] = m->offset + 1;
		w->dirty[p] = true;
	}
	if (!w->records++)
		w->first_ns = now_ns();
	rc = m->payload ? ai_flow_parse(m->payload, m->len, &f, err, sizeof(err)) : -EINVAL;
	if (rc < 0) {
		bad_record(w, m, m->payload ? err : "empty message");
		return;
	}
	/* A drops record: already blocked, nothing to detect. */
	if (rc > 0)
		return;
	ai_engine_feed(&w->eng, &f);
}

static bool drained(const struct worker *w)
{
	bool any = false;
	int p;

	for (p = 0; p < MAX_PARTITIONS; p++) {
		if (!w->assigned[p])
			continue;
		if (!w->eof[p])
			return false;
		any = true;
	}
	return any;
}

/* --- stats ---------------------------------------------------------------- */

static long rss_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long v = -1;
	size_t n = strlen(field);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n)) {
			v = strtol(line + n, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The counters of -stats-file, rewritten whole every second (0644: for ops and tests). */
static void write_stats(struct worker *w)
{
	char *text = NULL, err[512];
	size_t len = 0;
	FILE *f;
	int k;

	if (!w->o->stats_file)
		return;
	f = open_memstream(&text, &len);
	if (!f) {
		log_warn("stats file %s: %s", w->o->stats_file, strerror(errno));
		return;
	}
	fprintf(f,
		"{\"records\":%" PRIu64 ",\"bad_records\":%" PRIu64 ",\"suggestions\":%" PRIu64
		",\"rejected_by_policy\":%" PRIu64 ",\"delivered\":%" PRIu64
		",\"delivery_failed\":%" PRIu64 ",\"produce_failed\":%" PRIu64
		",\"commits\":%" PRIu64 ",\"commit_failures\":%" PRIu64 ",\"evictions\":%" PRIu64
		",\"tracked\":{\"src\":%u,\"dst\":%u,\"pair\":%u,\"srcport\":%u,\"svc\":%u,"
		"\"conn\":%u},\"memory_bound_bytes\":%zu,\"vm_rss_kib\":%ld,\"vm_hwm_kib\":%ld,"
		"\"partitions\":[%s],\"drained\":%s,\"drain_seconds\":%.3f,"
		"\"seconds_first_to_last_record\":%.3f,\"findings\":{",
		w->records, w->bad, w->suggestions, w->rejected, w->delivered, w->delivery_failed,
		w->produce_failed, w->commits, w->commit_failures, ai_engine_evictions(&w->eng),
		w->eng.src.used, w->eng.dst.used, w->eng.pair.used, w->eng.srcport.used,
		w->eng.svc.used, w->eng.conn.used, ai_engine_bytes(&w->eng), rss_kib("VmRSS:"),
		rss_kib("VmHWM:"), w->partitions, w->drained_ns ? "true" : "false",
		w->drained_ns ? (double)(w->drained_ns - w->started_ns) / 1e9 : 0.0,
		w->last_ns > w->first_ns ? (double)(w->last_ns - w->first_ns) / 1e9 : 0.0);
	for (k = 0; k < AI_KIND_COUNT; k++)
		fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", ai_kind_name(k),
			w->eng.stats.findings[k]);
	fprintf(f, "}}\n");
	if (fclose(f))
		log_warn("stats file %s: %s", w->o->stats_file, strerror(errno));
	else if (atomic_file_write(w->o->stats_file, text, len, 0644, 0, err, sizeof(err)))
		log_warn("stats file %s: %s", w->o->stats_file, err);
	free(text);
}

static void stats_line(struct worker *w, uint64_t *last_records, uint64_t *last_ns)
{
	uint64_t now = now_ns(), findings = 0;
	double secs = (double)(now - *last_ns) / 1e9;
	int k;

	for (k = 0; k < AI_KIND_COUNT; k++)
		findings += w->eng.stats.findings[k];
	log_info("records %" PRIu64 " (%.0f/s), bad %" PRIu64 ", findings %" PRIu64
		 ", suggestions %" PRIu64 " (rejected %" PRIu64 ", delivered %" PRIu64
		 ", failed %" PRIu64 "), evictions %" PRIu64 ", rss %ld MiB (bound %zu MiB)%s%s",
		 w->records, secs > 0 ? (double)(w->records - *last_records) / secs : 0.0, w->bad,
		 findings, w->suggestions, w->rejected, w->delivered,
		 w->delivery_failed + w->produce_failed, ai_engine_evictions(&w->eng),
		 rss_kib("VmRSS:") / 1024, ai_engine_bytes(&w->eng) >> 20,
		 w->bad > w->bad_logged ? "; last bad: " : "",
		 w->bad > w->bad_logged ? w->last_bad : "");
	*last_records = w->records;
	*last_ns = now;
}

/* --- clients -------------------------------------------------------------- */

/* One client of @spec with its callbacks, @w their opaque; NULL after a logged error. */
static rd_kafka_t *client_new(struct worker *w, const struct kafka_conf_spec *spec)
{
	rd_kafka_conf_t *conf = kafka_conf_new(w->cfg, spec, NULL, 0);

	if (!conf)
		return NULL;
	rd_kafka_conf_set_opaque(conf, w);
	if (spec->role == KAFKA_CONF_CONSUMER)
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	else
		rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	return kafka_conf_client_new(w->cfg, spec->role, conf, NULL, 0);
}

static int open_clients(struct worker *w)
{
	const struct guarder_config *cfg = w->cfg;
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
	const struct kafka_conf_prop fetch[] = {
		{ "queued.min.messages", "1000000", NULL },
		{ "queued.max.messages.kbytes", "262144", NULL },
		{ "fetch.max.bytes", "8388608", NULL },
	};
	/* offsets are committed by commit(), for records fully processed */
	const struct kafka_conf_prop group[] = {
		{ "group.id", cfg->ai.group_id, NULL },
		{ "enable.auto.commit", "false", NULL },
		{ "enable.auto.offset.store", "false", NULL },
		{ "auto.offset.reset", w->o->offset_reset, NULL },
		{ "enable.partition.eof", "true", NULL },
	};
	const struct kafka_conf_prop suggestions[] = {
		{ "linger.ms", "50", NULL },
		{ "enable.idempotence", "true", NULL },
	};
	const struct kafka_conf_spec cspec = {
		.role = KAFKA_CONF_CONSUMER,
		.client_id = "guarder-ai",
		.defaults = KAFKA_CONF_PROPS(fetch),
		.fixed = KAFKA_CONF_PROPS(group),
	};
	const struct kafka_conf_spec pspec = {
		.role = KAFKA_CONF_PRODUCER,
		.client_id = "guarder-ai",
		.fixed = KAFKA_CONF_PROPS(suggestions),
	};
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t rc;

	w->consumer = client_new(w, &cspec);
	if (!w->consumer)
		return -EINVAL;
	w->producer = client_new(w, &pspec);
	if (!w->producer)
		return -EINVAL;

	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, cfg->kafka.topic, RD_KAFKA_PARTITION_UA);
	rc = rd_kafka_subscribe(w->consumer, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (rc) {
		log_error("kafka: cannot subscribe to %s: %s", cfg->kafka.topic,
			  rd_kafka_err2str(rc));
		return -EINVAL;
	}
	return 0;
}

static void close_clients(struct worker *w)
{
	if (w->consumer) {
		commit(w, true);
		rd_kafka_consumer_close(w->consumer);
		rd_kafka_destroy(w->consumer);
	}
	if (w->producer) {
		if (rd_kafka_flush(w->producer, 10000))
			log_warn("%d suggestion(s) still undelivered at exit",
				 rd_kafka_outq_len(w->producer));
		rd_kafka_destroy(w->producer);
	}
}

static void warn_thresholds(const struct guarder_config *cfg)
{
	if (cfg->ai.scan_ports > AI_DISTINCT_RELIABLE || cfg->ai.scan_hosts > AI_DISTINCT_RELIABLE)
		log_warn("ai.scan_ports/scan_hosts above %d: the distinct counters saturate near "
			 "3000, such a scan may never be reported (docs/ai.md)",
			 AI_DISTINCT_RELIABLE);
}

static void run(struct worker *w)
{
	uint64_t last_commit = now_ns(), last_stats = last_commit, last_file = last_commit;
	uint64_t stat_records = 0, stat_ns = last_commit, last_model = last_commit;

	w->started_ns = last_commit;
	while (!stop_signal) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 100);
		bool got = m != NULL;
		uint64_t now;
		int i;

		if (m) {
			handle(w, m);
			rd_kafka_message_destroy(m);
			/* drain what is already fetched without a clock read per record */
			for (i = 0; i < 255; i++) {
				m = rd_kafka_consumer_poll(w->consumer, 0);
				if (!m)
					break;
				handle(w, m);
				rd_kafka_message_destroy(m);
			}
		}
		now = now_ns();
		if (got)
			w->last_ns = now;
		w->eng.wall_now = (uint32_t)time(NULL);
		rd_kafka_poll(w->producer, 0);
		if (now - last_commit >= COMMIT_INTERVAL_NS) {
			commit(w, false);
			last_commit = now;
		}
		if (now - last_file >= 1000000000ull) {
			write_stats(w);
			last_file = now;
		}
		if (w->model) {
			model_collect(w);
			if (now - last_model >= w->cfg->ai.model.interval * 1000000000ull) {
				model_ask(w);
				last_model = now;
			}
		}
		if (now - last_stats >= STATS_INTERVAL_NS) {
			stats_line(w, &stat_records, &stat_ns);
			last_stats = now;
		}
		if (w->o->drain && drained(w)) {
			w->drained_ns = now;
			/*
			 * From the first to the last record: neither the group join
			 * before nor the end-of-partition wait after is consumption.
			 */
			log_info("drained: %" PRIu64 " records in %.3f s since start, %.3f s from "
				 "the first to the last record (%.0f records/s)",
				 w->records, (double)(now - w->started_ns) / 1e9,
				 (double)(w->last_ns - w->first_ns) / 1e9,
				 w->last_ns > w->first_ns ?
					 (double)w->records * 1e9 /
						 (double)(w->last_ns - w->first_ns) :
					 0.0);
			break;
		}
	}
	if (stop_signal)
		log_info("%s: stopping", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
	commit(w, true);
	stats_line(w, &stat_records, &stat_ns);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct guarder_config cfg;
	struct worker *w;
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	log_init("guarder-ai", LOG_LVL_INFO);
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 1;
	if (load_config(&cfg, &o))
		return 1;
	if (o.cmd.check_config) {
		config_dump(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	warn_thresholds(&cfg);
	w = calloc(1, sizeof(*w));
	if (!w) {
		log_error("out of memory");
		config_free(&cfg);
		return 1;
	}
	w->cfg = &cfg;
	w->o = &o;
	rc = 1;
	if (ai_engine_init(&w->eng, &cfg, on_finding, w)) {
		log_error("cannot allocate the feature tables (ai.max_tracked %u)",
			  cfg.ai.max_tracked);
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (open_clients(w) || model_start(w))
		goto out_clients;
	log_info("consuming %s from %s as group %s, suggestions to %s; window %u s, "
		 "max_tracked %u (tables at most %zu MiB); Ctrl-C or SIGTERM stops",
		 cfg.kafka.topic, cfg.kafka.brokers, cfg.ai.group_id, cfg.ai.suggestions_topic,
		 cfg.ai.window, cfg.ai.max_tracked, ai_engine_bytes(&w->eng) >> 20);
	run(w);
	write_stats(w);
	rc = 0;
out_clients:
	model_stop(w);
	close_clients(w);
	ai_engine_free(&w->eng);
out:
	free(w);
	config_free(&cfg);
	return rc;
}
