// SPDX-License-Identifier: GPL-2.0
/*
 * The model calls of the /api/ai endpoints (api/ai.h): POST
 * /api/ai/generate and /api/ai/analyze. The HTTP thread checks the body
 * and queues a job; the one model thread (ai_worker_main) builds the
 * prompts from a bounded summary of this node's traffic, asks the model,
 * keeps the rules that pass the safety policy as a local suggestion and
 * resumes the connection with the answer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ai.h"
#include "lib/ai_policy.h"
#include "lib/timeconv.h"

#define AI_PROMPT_MAX 4096 /* bytes of custom_prompt */
#define AI_TOP_FLOWS  30 /* flows in the model's summary */

static const char *const type_focus[] = {
	"security",
	"Find attacks and abuse: port scans, SYN floods, brute force on remote-access "
	"ports, ICMP floods, UDP reflection. Propose drop rules for the offending "
	"sources only.",
	"performance",
	"Find traffic that wastes capacity: floods, retransmission storms, "
	"heavy hitters that look abusive. Propose rules only for clearly abusive "
	"sources.",
	"balanced",
	"Weigh security and availability: block clear attacks, never legitimate "
	"heavy users.",
	"custom",
	"Follow the operator's instructions below.",
};

static const char system_prompt[] =
	"You are the traffic analyst of Guarder, an XDP packet filter on one Linux host. You get "
	"a bounded summary of the host's traffic (counters, the top flows, detector findings). "
	"Answer with ONE JSON object and nothing else: {\"analysis\": string (a few sentences), "
	"\"suggestions\": [string], \"rules\": [rule]}. A rule is {\"rule_type\": \"basic\"|"
	"\"tcp\"|\"udp\"|\"icmp\", \"src_ip\": \"a.b.c.d or CIDR\", \"dst_ip\": \"...\", "
	"\"src_port\": number or \"low-high\", \"dst_port\": number or \"low-high\", \"action\": "
	"\"drop\", \"priority\": integer (lower first), \"comment\": short string}. "
	"Omit the fields you do not need. Only drop rules are accepted, and every one must name "
	"a source address or a port: never a rule that drops all traffic. Propose at most %u rules; an empty list is "
	"a good answer when nothing is wrong. Focus: %s";

/* Append a bounded summary of this node's traffic and findings to @out. */
static void build_summary(struct ai_service *ai, const struct ai_job *job, FILE *out)
{
	struct api_request req = { .method = M_GET };
	struct api_reply rep = { .total = -1 };
	struct json_object *j, *flows;
	size_t i, n;

	fprintf(out, "Node: %s. Time: %llu (unix).\n", ai->cfg->node_name,
		(unsigned long long)ai_now());
	if (job->include_stats) {
		req.route = ROUTE_STATS;
		flows_handle(ai->maps, &req, &rep);
		if (rep.status == 200 && rep.body)
			fprintf(out, "Counters: %.4000s\n", rep.body);
		else
			fprintf(out, "Counters: unavailable (the flow tracker is not loaded)\n");
		free(rep.body);
		rep = (struct api_reply){ .total = -1 };
	}
	if (job->include_tcp || job->include_icmp) {
		req.route = ROUTE_CONNECTIONS;
		flows_handle(ai->maps, &req, &rep);
		j = rep.status == 200 ? ai_reply_json(&rep) : NULL;
		flows = j && json_object_is_type(j, json_type_array) ? j : NULL;
		if (!flows && j)
			json_object_object_get_ex(j, "connections", &flows);
		if (flows && json_object_is_type(flows, json_type_array)) {
			struct json_object **v;
			size_t kept = 0;

			n = json_object_array_length(flows);
			v = calloc(n + 1, sizeof(*v));
			for (i = 0; v && i < n; i++) {
				struct json_object *f = json_object_array_get_idx(flows, i), *p;
				const char *proto = json_object_object_get_ex(f, "protocol", &p) ?
							    json_object_get_string(p) :
							    "";
				bool icmp = !strncasecmp(proto, "icmp", 4);

				if ((icmp && job->include_icmp) || (!icmp && job->include_tcp))
					v[kept++] = f;
			}
			/* the heaviest flows by bytes: a selection sort of the top N */
			fprintf(out, "Top flows by bytes (%zu of %zu tracked):\n",
				kept < AI_TOP_FLOWS ? kept : AI_TOP_FLOWS, n);
			for (i = 0; v && i < kept && i < AI_TOP_FLOWS; i++) {
				size_t k, best = i;
				struct json_object *b, *f;

				for (k = i + 1; k < kept; k++) {
					struct json_object *x, *y;

					json_object_object_get_ex(v[k], "bytes", &x);
					json_object_object_get_ex(v[best], "bytes", &y);
					if (json_object_get_int64(x) > json_object_get_int64(y))
						best = k;
				}
				f = v[best];
				v[best] = v[i];
				v[i] = f;
				json_object_object_get_ex(f, "key", &b);
				{
					struct json_object *pk, *by;

					json_object_object_get_ex(f, "packets", &pk);
					json_object_object_get_ex(f, "bytes", &by);
					fprintf(out, "- %.120s packets=%lld bytes=%lld\n",
						json_object_get_string(b),
						(long long)json_object_get_int64(pk),
						(long long)json_object_get_int64(by));
				}
			}
			free(v);
		} else {
			fprintf(out, "Flows: unavailable (the flow tracker is not loaded)\n");
		}
		json_object_put(j);
		free(rep.body);
	}
	/* the detectors' recent findings for this node */
	pthread_mutex_lock(&ai->lock);
	n = 0;
	for (i = ai->ring_n; i-- > 0 && n < AI_FINDINGS_MAX;) {
		struct sugg *s = ai_sugg_at(ai, i);
		const char *og = ai_rec_str(s->rec, "origin"), *sum = ai_rec_str(s->rec, "summary");

		if (!og || strcmp(og, "detector"))
			continue;
		if (!n++)
			fprintf(out, "Recent detector findings:\n");
		fprintf(out, "- %.40s: %.300s (state %s)\n", ai_rec_str(s->rec, "kind") ?: "?",
			sum ?: "", ai_state_name(s->state));
	}
	pthread_mutex_unlock(&ai->lock);
	if (!n)
		fprintf(out, "Recent detector findings: none.\n");
}

static void random_id(char *out, size_t len)
{
	unsigned long long r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32) ^
		    (unsigned long long)(uintptr_t)out;
	snprintf(out, len, "s-%016llx", r);
}

/* A JSON string of at most @max bytes of @s, never cutting a UTF-8 sequence. */
static struct json_object *string_cut(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max) {
		n = max;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* s[n] continues a sequence: cut before its lead byte */
	}
	return json_object_new_string_len(s, (int)n);
}

/* Status and message of a model error (see ai_model_ask). */
static void reply_model_error(struct api_reply *rep, int rc, const char *err)
{
	switch (rc) {
	case -ENOTCONN:
	case -ECANCELED:
		ai_reply_error(rep, 503, 0, "%s", err);
		break;
	case -EBUSY:
		ai_reply_error(rep, 429, ai_model_retry_after_s(), "%s", err);
		break;
	case -ETIMEDOUT:
		ai_reply_error(rep, 504, 0, "%s", err);
		break;
	case -ENOMEM:
	case -EINVAL:
		ai_reply_error(rep, 500, 0, "%s", err);
		break;
	default: /* -EHOSTUNREACH, -EACCES, -EIO, -EBADMSG: the upstream failed */
		ai_reply_error(rep, 502, 0, "%s", err);
		break;
	}
}

/* The system and user texts of @job; -ENOMEM when out of memory. */
static int job_prompts(struct ai_service *ai, const struct ai_job *job, char **sys, char **user)
{
	const char *focus = "";
	size_t i, len = 0;
	FILE *f;

	for (i = 0; i < sizeof(type_focus) / sizeof(type_focus[0]); i += 2)
		if (!strcmp(job->analyze_type, type_focus[i]))
			focus = type_focus[i + 1];
	f = open_memstream(sys, &len);
	if (f) {
		fprintf(f, system_prompt, ai->cfg->ai.max_rules_per_suggestion, focus);
		fclose(f);
	}
	f = open_memstream(user, &len);
	if (f) {
		if (job->custom_prompt)
			fprintf(f, "Operator's instructions: %s\n\n", job->custom_prompt);
		build_summary(ai, job, f);
		fclose(f);
	}
	return *sys && *user ? 0 : -ENOMEM;
}

/* The model's "suggestions" (prose, at most 20 of 500 bytes), as an array; NULL when out of memory. */
static struct json_object *model_suggestions(struct json_object *answer)
{
	struct json_object *sugs = json_object_new_array(), *v;
	size_t i;

	if (!sugs || !json_object_is_type(answer, json_type_object) ||
	    !json_object_object_get_ex(answer, "suggestions", &v) ||
	    !json_object_is_type(v, json_type_array))
		return sugs;
	for (i = 0; i < json_object_array_length(v) && i < 20; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (json_object_is_type(e, json_type_string))
			json_object_array_add(sugs, string_cut(json_object_get_string(e), 500));
	}
	return sugs;
}

/* The answer's prose: {"success", "source", "analyze_type", "analysis", "suggestions"}. */
static struct json_object *answer_json(const struct ai_job *job, struct json_object *answer)
{
	struct json_object *o = json_object_new_object(), *sugs;

	if (!o)
		return NULL;
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "source", json_object_new_string("model"));
	json_object_object_add(o, "analyze_type", json_object_new_string(job->analyze_type));
	json_object_object_add(o, "analysis",
			       json_object_new_string(ai_rec_str(answer, "analysis") ?: ""));
	sugs = model_suggestions(answer);
	if (!sugs) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "suggestions", sugs);
	return o;
}

/* A rule as the answer shows it: rule_to_json() without the id (the API assigns one). */
static struct json_object *rule_shown(const struct rule *r)
{
	struct json_object *rj = rule_to_json(r);

	if (rj)
		json_object_object_del(rj, "id");
	return rj;
}

/*
 * The rules the model's answer held: those the codec refused (@rej) and
 * those the safety policy refuses, rule by rule so that one bad rule does
 * not hide the good ones, go to @rejected; the others to @filters, and
 * stay in @rules[0..return).
 */
static size_t sort_rules(struct ai_service *ai, struct rule *rules, size_t n,
			 const struct ai_model_reject *rej, size_t n_rej,
			 struct json_object *filters, struct json_object *rejected)
{
	struct net_prefix extra[AI_MAX_EXTRA];
	size_t i, n_extra, n_ok = 0;
	char why[512];

	for (i = 0; i < n_rej; i++) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "index", json_object_new_int64((int64_t)rej[i].index));
		json_object_object_add(r, "reason", json_object_new_string(rej[i].reason));
		json_object_array_add(rejected, r);
	}
	n_extra = ai_extra_protected(ai, NULL, extra, AI_MAX_EXTRA);
	for (i = 0; i < n; i++) {
		if (ai_policy_check(ai->cfg, &rules[i], 1, extra, n_extra, why, sizeof(why))) {
			struct json_object *r = json_object_new_object();

			json_object_object_add(r, "reason", json_object_new_string(why));
			json_object_object_add(r, "rule", rule_shown(&rules[i]));
			json_object_object_add(r, "policy", json_object_new_boolean(1));
			json_object_array_add(rejected, r);
			continue;
		}
		rules[n_ok++] = rules[i];
	}
	for (i = 0; i < n_ok; i++)
		json_object_array_add(filters, rule_shown(&rules[i]));
	return n_ok;
}

/*
 * The usable rules (@filters) as a local suggestion, reviewed and applied
 * like one from Kafka (never auto-applied: a model's). Returns its id in @id.
 */
static void local_suggestion(struct ai_service *ai, struct json_object *answer,
			     struct json_object *filters, char *id, size_t id_len)
{
	struct json_object *rec = json_object_new_object();
	const char *analysis = ai_rec_str(answer, "analysis");
	char ts[64], auto_id[AI_ID_MAX];
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	format_rfc3339_ns((uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec, ts,
			  sizeof(ts));
	random_id(id, id_len);
	json_object_object_add(rec, "schema_version", json_object_new_int(1));
	json_object_object_add(rec, "id", json_object_new_string(id));
	json_object_object_add(rec, "created_at", json_object_new_string(ts));
	json_object_object_add(rec, "node", json_object_new_string(ai->cfg->node_name));
	json_object_object_add(rec, "origin", json_object_new_string("model"));
	json_object_object_add(rec, "kind", json_object_new_string("model"));
	json_object_object_add(rec, "confidence", json_object_new_double(0.5));
	json_object_object_add(
		rec, "summary",
		string_cut(analysis && *analysis ? analysis : "rules proposed by the model", 300));
	json_object_object_add(rec, "evidence", json_object_new_object());
	json_object_object_add(rec, "rules", json_object_get(filters));
	json_object_object_add(rec, "status", json_object_new_string("proposed"));
	ai_take_record(ai, rec, true, auto_id, sizeof(auto_id));
	json_object_put(rec);
}

/* The answer of a model call: what the model said and the rules, sorted. */
static struct json_object *job_answer(struct ai_service *ai, const struct ai_job *job,
				      struct json_object *answer, struct rule *rules, size_t n,
				      const struct ai_model_reject *rej, size_t n_rej)
{
	struct json_object *o = answer_json(job, answer);
	struct json_object *filters = json_object_new_array(), *rejected = json_object_new_array();
	char id[AI_ID_MAX];

	if (!o || !filters || !rejected) {
		json_object_put(o);
		json_object_put(filters);
		json_object_put(rejected);
		return NULL;
	}
	n = sort_rules(ai, rules, n, rej, n_rej, filters, rejected);
	json_object_object_add(o, "filters", filters);
	json_object_object_add(o, "rejected", rejected);
	if (n) {
		local_suggestion(ai, answer, filters, id, sizeof(id));
		json_object_object_add(o, "suggestion_id", json_object_new_string(id));
	}
	return o;
}

/* Run one generate/analyze job on the model thread: fills job->rep. */
static void run_job(struct ai_service *ai, struct ai_job *job)
{
	const struct guarder_config *cfg = ai->cfg;
	struct ai_model_reject rej[32];
	struct json_object *answer = NULL, *o;
	char *user = NULL, *sys = NULL, err[AI_MODEL_ERR_LEN];
	size_t n = 0, n_rej = 0;
	struct ai_model_params p;
	struct rule *rules = NULL;
	struct timespec t0, t1;
	int rc;

	if (job_prompts(ai, job, &sys, &user)) {
		ai_reply_error(&job->rep, 500, 0, "out of memory");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = ai_model_ask(ai->model, sys, user, &answer, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		reply_model_error(&job->rep, rc, err);
		goto out;
	}
	rules = calloc(AI_MAX_SUGG_RULES, sizeof(*rules));
	if (!rules) {
		ai_reply_error(&job->rep, 500, 0, "out of memory");
		goto out;
	}
	rc = ai_model_rules_from_answer(answer, ai_now() + cfg->ai.rule_ttl, rules,
					cfg->ai.max_rules_per_suggestion, &n, rej,
					sizeof(rej) / sizeof(rej[0]), &n_rej, err, sizeof(err));
	if (rc) {
		ai_reply_error(&job->rep, 502, 0, "model answer not usable: %s", err);
		goto out;
	}
	if (n_rej > sizeof(rej) / sizeof(rej[0]))
		n_rej = sizeof(rej) / sizeof(rej[0]);
	o = job_answer(ai, job, answer, rules, n, rej, n_rej);
	if (!o) {
		ai_reply_error(&job->rep, 500, 0, "out of memory");
		goto out;
	}
	ai_model_get_params(ai->model, &p);
	json_object_object_add(o, "model", json_object_new_string(p.name));
	json_object_object_add(o, "tokens_used",
			       json_object_new_int64((int64_t)ai_model_last_tokens()));
	json_object_object_add(o, "latency_ms",
			       json_object_new_int64((t1.tv_sec - t0.tv_sec) * 1000 +
						     (t1.tv_nsec - t0.tv_nsec) / 1000000));
	reply_json(&job->rep, 200, o);
out:
	json_object_put(answer);
	free(rules);
	free(sys);
	free(user);
}

static void job_free(struct ai_job *job)
{
	if (!job)
		return;
	free(job->custom_prompt);
	free(job->rep.body);
	free(job);
}

void *ai_worker_main(void *arg)
{
	struct ai_service *ai = arg;

	for (;;) {
		struct ai_job *job;

		pthread_mutex_lock(&ai->qlock);
		while (!ai->qhead && !ai->qstop)
			pthread_cond_wait(&ai->qcond, &ai->qlock);
		job = ai->qhead;
		if (job) {
			ai->qhead = job->next;
			if (!ai->qhead)
				ai->qtail = NULL;
			ai->qlen--;
			ai->busy = true;
		}
		pthread_mutex_unlock(&ai->qlock);
		if (!job)
			break; /* stopping and the queue is empty */
		if (ai->qstop)
			ai_reply_error(&job->rep, 503, 0, "guarder-api is stopping");
		else
			run_job(ai, job);
		pthread_mutex_lock(&ai->qlock);
		ai->busy = false;
		ai->jobs_done++;
		pthread_mutex_unlock(&ai->qlock);
		/* the last touch: from here the connection's thread owns the job */
		MHD_resume_connection(job->conn);
	}
	return NULL;
}

/* ---- requests ---- */

/* One member of a generate/analyze body into @job; 0 or -EINVAL with a 400 in @rep. */
static int job_field(struct ai_job *job, bool generate, const char *k, struct json_object *v,
		     struct api_reply *rep)
{
	if (!strcmp(k, "analyze_type") && generate) {
		const char *t =
			json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";

		if (strcmp(t, "security") && strcmp(t, "performance") && strcmp(t, "balanced") &&
		    strcmp(t, "custom")) {
			ai_reply_error(rep, 400, 0,
				       "analyze_type: must be security, performance, balanced or "
				       "custom");
			return -EINVAL;
		}
		snprintf(job->analyze_type, sizeof(job->analyze_type), "%s", t);
		return 0;
	}
	if (!strcmp(k, "custom_prompt")) {
		if (!json_object_is_type(v, json_type_string)) {
			ai_reply_error(rep, 400, 0, "custom_prompt: must be a string");
			return -EINVAL;
		}
		if (json_object_get_string_len(v) > AI_PROMPT_MAX) {
			ai_reply_error(rep, 400, 0, "custom_prompt: at most %d bytes",
				       AI_PROMPT_MAX);
			return -EINVAL;
		}
		free(job->custom_prompt);
		job->custom_prompt = strdup(json_object_get_string(v));
		return 0;
	}
	if (!strcmp(k, "include_tcp"))
		return ai_body_bool(v, k, &job->include_tcp, rep);
	if (!strcmp(k, "include_icmp"))
		return ai_body_bool(v, k, &job->include_icmp, rep);
	if (!strcmp(k, "include_stats"))
		return ai_body_bool(v, k, &job->include_stats, rep);
	ai_reply_error(rep, 400, 0,
		       "%.64s: unknown field (this endpoint takes %scustom_prompt, include_tcp, "
		       "include_icmp, include_stats)",
		       k, generate ? "analyze_type, " : "");
	return -EINVAL;
}

/* Parse a generate/analyze body into @job. Returns 0 or -EINVAL with a 400 in @rep. */
static int parse_job(const struct api_request *req, struct ai_job *job, struct api_reply *rep)
{
	bool generate = req->route == ROUTE_AI_GENERATE;
	struct json_object *body;
	int rc;

	snprintf(job->analyze_type, sizeof(job->analyze_type), "%s",
		 generate ? "security" : "balanced");
	job->include_tcp = job->include_icmp = job->include_stats = true;
	rc = ai_body_object(req, &body, rep);
	if (rc || !body)
		return rc;
	json_object_object_foreach(body, k, v)
	{
		rc = job_field(job, generate, k, v, rep);
		if (rc)
			break;
	}
	json_object_put(body);
	if (!rc && !strcmp(job->analyze_type, "custom") &&
	    (!job->custom_prompt || !job->custom_prompt[0])) {
		ai_reply_error(rep, 400, 0, "custom_prompt: required with analyze_type custom");
		rc = -EINVAL;
	}
	return rc;
}

/* POST /api/ai/analyze without a model: the detector findings, said so. */
static void analyze_fallback(struct ai_service *ai, struct api_reply *rep)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	size_t i, n = 0, total = 0;
	char msg[256];

	if (!o || !arr) {
		json_object_put(o);
		json_object_put(arr);
		reply_error(rep, 500, "out of memory");
		return;
	}
	pthread_mutex_lock(&ai->lock);
	for (i = ai->ring_n; i-- > 0;) {
		struct sugg *s = ai_sugg_at(ai, i);
		const char *og = ai_rec_str(s->rec, "origin");

		if (!og || strcmp(og, "detector"))
			continue;
		total++;
		if (n++ < AI_FINDINGS_MAX)
			json_object_array_add(arr, ai_sugg_json(s));
	}
	pthread_mutex_unlock(&ai->lock);
	snprintf(msg, sizeof(msg), "%zu detector finding(s) for node %s%s", total,
		 ai->cfg->node_name, total > AI_FINDINGS_MAX ? " (the newest 20 listed)" : "");
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "source", json_object_new_string("detectors"));
	json_object_object_add(o, "model_used", json_object_new_boolean(0));
	json_object_object_add(
		o, "note",
		json_object_new_string("no model configured (ai.model.endpoint): "
				       "these are the built-in detectors' findings"));
	json_object_object_add(o, "analysis", json_object_new_string(msg));
	json_object_object_add(o, "findings", arr);
	reply_json(rep, 200, o);
}

/* The job is suspended before the worker can see it, so its resume always finds it suspended. */
bool ai_queue_job(struct ai_service *ai, const struct api_request *req, struct api_reply *rep,
		  void **pending)
{
	struct ai_job *job = calloc(1, sizeof(*job));

	if (!job) {
		ai_reply_error(rep, 500, 0, "out of memory");
		return false;
	}
	job->route = req->route;
	job->rep.total = -1;
	if (parse_job(req, job, rep)) {
		job_free(job);
		return false;
	}
	if (!ai_model_configured(ai->model)) {
		job_free(job);
		if (req->route == ROUTE_AI_ANALYZE) {
			analyze_fallback(ai, rep);
			return false;
		}
		ai_reply_error(rep, 503, 0,
			       "no model configured: set ai.model.endpoint (or OPENAI_ENDPOINT, "
			       "or POST /api/ai/config); the detectors' findings are at "
			       "GET /api/ai/suggestions");
		return false;
	}
	if (!req->conn) {
		job_free(job);
		ai_reply_error(rep, 500, 0, "no connection to suspend");
		return false;
	}
	job->conn = req->conn;
	pthread_mutex_lock(&ai->qlock);
	if (ai->qstop || ai->qlen >= AI_QUEUE_MAX) {
		bool stopping = ai->qstop;

		pthread_mutex_unlock(&ai->qlock);
		job_free(job);
		if (stopping)
			ai_reply_error(rep, 503, 0, "guarder-api is stopping");
		else
			ai_reply_error(rep, 503, 5,
				       "the model is busy: %d requests already wait for it",
				       AI_QUEUE_MAX);
		return false;
	}
	/* suspend before the worker can see the job, so its resume always finds it suspended */
	MHD_suspend_connection(req->conn);
	*pending = job;
	job->next = NULL;
	if (ai->qtail)
		ai->qtail->next = job;
	else
		ai->qhead = job;
	ai->qtail = job;
	ai->qlen++;
	pthread_cond_signal(&ai->qcond);
	pthread_mutex_unlock(&ai->qlock);
	return true;
}

void ai_job_reply(void *pending, struct api_reply *rep)
{
	struct ai_job *job = pending;

	*rep = job->rep;
	job->rep.body = NULL;
	job_free(job);
}

void ai_job_free(void *pending)
{
	job_free(pending);
}
