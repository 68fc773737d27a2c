// SPDX-License-Identifier: GPL-2.0
/*
 * The rule store of guarder-api and the /api/filters endpoints.
 *
 * The rules live in three places: this array (sorted by id), the rules
 * file and the kernel's rule maps. Every mutation builds the next array,
 * then, under one write lock:
 *
 *   1. writes it to the rules file (atomic: temp file, fsync, rename);
 *   2. applies it to the kernel (rule_set_apply: atomic swap);
 *   3. on a kernel failure, writes the previous array back to the file;
 *   4. only then swaps the array in memory and answers.
 *
 * So once a response says 2xx, the file and the kernel hold the same set;
 * after a kill -9 at any point the file holds the old or the new set and
 * the collector (or this process) applies it on start.
 *
 * When the rule maps are not pinned (no collector has run with this pin
 * directory yet), mutations are written to the file only: the collector
 * applies the file when it loads the program. Each mutation tries to open
 * the pins again, so the first one after the collector starts applies.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "lib/json_strict.h"
#include "lib/log.h"
#include "lib/rule_set.h"
#include "lib/rules_file.h"
#include "lib/timeconv.h"

struct rule_store {
	pthread_rwlock_t lock; /* read: GETs; write: mutations, expiry */
	const struct guarder_config *cfg;
	struct rule *rules; /* sorted by id */
	char **text; /* per rule: its rule_to_json() text without the final '}' (or NULL) */
	size_t n;
	__u32 next_id;
	struct rule_set *rs; /* NULL while the rule maps are not pinned */
	struct rule_protect protect; /* rules.protected_*, as the kernel takes them */
	__u64 applied_at; /* unix seconds of the last apply (for expiry) */
	__u32 applied_gen; /* kernel rule-set generation of our last apply */
	time_t last_open_try; /* kernel_refresh rate limit */
	pthread_t sync_thread;
	bool sync_running;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping;
};

static __u64 now_unix(void)
{
	return (__u64)time(NULL);
}

static int cmp_id(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Index of rule @id in the sorted array, or -1. */
static long find(const struct rule_store *s, __u32 id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->rules[mid].id == id)
			return (long)mid;
		if (s->rules[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- the kernel side ---- */

/* Open the pinned rule maps if they appeared; 0 when open, -ENOENT when absent. */
static int kernel_open(struct rule_store *s)
{
	int err;
	struct rule_set *rs = NULL;

	if (s->rs)
		return 0;
	err = rule_set_open(s->cfg->bpf.pin_path, &rs);
	if (!err) {
		__atomic_store_n(&s->rs, rs, __ATOMIC_RELEASE);
		log_debug("rules: opened the rule maps under %s", s->cfg->bpf.pin_path);
	}
	return err;
}

/*
 * kernel_refresh - for readers: open the rule maps if the collector has
 * pinned them since (at most one try a second), so GETs show counters.
 */
static void kernel_refresh(struct rule_store *s)
{
	time_t now = time(NULL);

	if (__atomic_load_n(&s->rs, __ATOMIC_ACQUIRE) ||
	    __atomic_exchange_n(&s->last_open_try, now, __ATOMIC_RELAXED) == now)
		return;
	pthread_rwlock_wrlock(&s->lock);
	kernel_open(s);
	pthread_rwlock_unlock(&s->lock);
}

static int kernel_apply(struct rule_store *s, const struct rule *rules, size_t n, char *msg,
			size_t len)
{
	__u64 now = now_unix();
	int err;

	msg[0] = '\0';
	/*
	 * Open the pins afresh for every change: if the collector was started
	 * again on a new set of maps, a handle kept from before would update
	 * maps no program reads any more. (The rule set keeps no state of its
	 * own between applies: it reads it back from the maps.)
	 */
	if (s->rs) {
		rule_set_close(s->rs);
		__atomic_store_n(&s->rs, NULL, __ATOMIC_RELEASE);
	}
	err = kernel_open(s);
	if (err == -ENOENT)
		return 0; /* the collector applies the file when it loads */
	if (err) {
		snprintf(msg, len, "cannot open the rule maps under %s: %s", s->cfg->bpf.pin_path,
			 strerror(-err));
		return err;
	}
	err = rule_set_apply(s->rs, rules, n, &s->protect, now, msg, len);
	if (!err) {
		s->applied_at = now;
		s->applied_gen = rule_set_generation(s->rs);
	}
	return err;
}

/* rule_to_json() as text, without its closing brace, for the listing. */
static char *rule_text(const struct rule *r)
{
	struct json_object *o = rule_to_json(r);
	const char *t;
	size_t len;
	char *out;

	if (!o)
		return NULL;
	t = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	out = len ? strndup(t, len - 1) : NULL;
	json_object_put(o);
	return out;
}

/*
 * texts_for - the listing texts of @next (sorted by id), reusing those of
 * the current rules that did not change: a change costs one rule_to_json()
 * per changed rule, and a listing none. An entry is NULL when memory ran
 * out; the listing then builds that rule's text on the fly.
 */
static char **texts_for(struct rule_store *s, const struct rule *next, size_t n)
{
	char **text = calloc(n + 1, sizeof(*text));
	size_t i, j = 0;

	if (!text)
		return NULL;
	for (i = 0; i < n; i++) {
		while (j < s->n && s->rules[j].id < next[i].id)
			j++;
		if (j < s->n && s->text && s->text[j] &&
		    !memcmp(&s->rules[j], &next[i], sizeof(next[i]))) {
			text[i] = s->text[j];
			s->text[j] = NULL; /* moved */
		} else {
			text[i] = rule_text(&next[i]);
		}
	}
	return text;
}

static void texts_free(char **text, size_t n)
{
	size_t i;

	for (i = 0; text && i < n; i++)
		free(text[i]);
	free(text);
}

/*
 * commit - make @next (sorted by id, owned by the caller until success)
 * the rule set: file, then kernel, then memory. Called with the write lock
 * held. On success the store owns @next; on error a reply is in @rep.
 */
static int commit(struct rule_store *s, struct rule *next, size_t n, __u32 next_id,
		  struct api_reply *rep)
{
	char msg[RULE_ERR_LEN + 128], **text;
	int err, err2;

	err = rules_file_save(s->cfg->rules.file, next, n, next_id);
	if (err) {
		reply_error(rep, 500, "cannot write the rules file %s: %s; nothing changed",
			    s->cfg->rules.file, strerror(-err));
		return err;
	}
	err = kernel_apply(s, next, n, msg, sizeof(msg));
	if (err) {
		err2 = rules_file_save(s->cfg->rules.file, s->rules, s->n, s->next_id);
		if (err2)
			log_error("the kernel refused the new rule set and the rules file %s "
				  "could not be restored (%s): it holds a set the kernel does not; "
				  "fix the cause and restart guarder-api",
				  s->cfg->rules.file, strerror(-err2));
		if (err == -E2BIG)
			reply_error(rep, 409, "rule set too large for the kernel: %s", msg);
		else if (err == -EINVAL)
			reply_error(rep, 400, "%s", msg);
		else
			reply_error(rep, 500, "cannot apply the rules to the kernel: %s",
				    *msg ? msg : strerror(-err));
		return err;
	}
	text = texts_for(s, next, n);
	texts_free(s->text, s->n);
	s->text = text;
	free(s->rules);
	s->rules = next;
	s->n = n;
	s->next_id = next_id;
	return 0;
}

/* ---- once a second: expiries, and a kernel set changed by someone else ---- */

static __u64 next_expiry(const struct rule_store *s)
{
	__u64 best = 0;
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct rule *r = &s->rules[i];

		if (r->enabled && r->expires_at && r->expires_at > s->applied_at &&
		    (!best || r->expires_at < best))
			best = r->expires_at;
	}
	return best;
}

/*
 * kernel_sync - run once a second under the write lock. Re-apply the set
 * when a rule has expired since the last apply, and when the kernel's set
 * is no longer the one we applied (its generation moved). That happens
 * when a collector starts: it restores the rules file it read, and it may
 * have read it before our last save. Our set is the file's latest
 * content, so putting it back makes the kernel and the file agree again
 * within a second.
 */
static void kernel_sync(struct rule_store *s)
{
	char msg[RULE_ERR_LEN + 128];
	__u64 due = next_expiry(s), now = now_unix();
	struct rule_set *rs = NULL;
	__u32 gen, ours = s->applied_gen;

	if (rule_set_open(s->cfg->bpf.pin_path, &rs))
		return; /* no pins yet: the collector applies the file when it loads */
	gen = rule_set_generation(rs);
	rule_set_close(rs);
	if (gen == ours && !(due && due <= now))
		return;
	if (kernel_apply(s, s->rules, s->n, msg, sizeof(msg)))
		log_error("rules: re-applying the rule set failed: %s", msg);
	else if (gen != ours)
		log_info("rules: the kernel's rule set changed outside this API (generation %u); "
			 "applied the %zu rules of %s again",
			 gen, s->n, s->cfg->rules.file);
}

static void *sync_main(void *arg)
{
	struct rule_store *s = arg;

	pthread_mutex_lock(&s->stop_lock);
	while (!s->stopping) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until);
		if (s->stopping)
			break;
		pthread_rwlock_wrlock(&s->lock);
		kernel_sync(s);
		pthread_rwlock_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->stop_lock);
	return NULL;
}

/* ---- open / close ---- */

int store_open(const struct guarder_config *cfg, struct rule_store **out)
{
	struct rule_store *s = calloc(1, sizeof(*s));
	char msg[RULE_ERR_LEN + 256];
	int err;

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->stop_lock, NULL);
	pthread_cond_init(&s->stop_cond, NULL);
	err = rule_protect_from_config(cfg, &s->protect);
	if (err) {
		log_error("rules: cannot use the protected networks and ports: %s", strerror(-err));
		goto fail;
	}
	err = rules_file_load(cfg->rules.file, cfg->rules.max_rules, &s->rules, &s->n, &s->next_id,
			      msg, sizeof(msg));
	if (err) {
		log_error("rules: %s", msg);
		goto fail;
	}
	if (s->n) /* an empty file gives rules == NULL */
		qsort(s->rules, s->n, sizeof(*s->rules), cmp_id);
	s->text = texts_for(s, s->rules, s->n);
	err = kernel_apply(s, s->rules, s->n, msg, sizeof(msg));
	if (err) {
		log_error("rules: the kernel refused the rules of %s: %s", cfg->rules.file, msg);
		goto fail;
	}
	log_info("rules: %zu from %s, %s", s->n, cfg->rules.file,
		 s->rs ? "applied to the kernel" :
			 "not applied (no pinned rule maps yet: the collector applies them)");
	err = pthread_create(&s->sync_thread, NULL, sync_main, s);
	if (err) {
		err = -err;
		goto fail;
	}
	s->sync_running = true;
	*out = s;
	return 0;
fail:
	store_close(s);
	return err;
}

void store_close(struct rule_store *s)
{
	if (!s)
		return;
	if (s->sync_running) {
		pthread_mutex_lock(&s->stop_lock);
		s->stopping = true;
		pthread_cond_signal(&s->stop_cond);
		pthread_mutex_unlock(&s->stop_lock);
		pthread_join(s->sync_thread, NULL);
	}
	rule_set_close(s->rs);
	texts_free(s->text, s->n);
	free(s->rules);
	rule_protect_free(&s->protect);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->stop_lock);
	pthread_cond_destroy(&s->stop_cond);
	free(s);
}

/* ---- JSON out ---- */

/* A rule as the API shows it: rule_to_json() plus its kernel counters. */
static struct json_object *rule_out(struct rule_store *s, const struct rule *r,
				    const struct clock_base *cb)
{
	struct json_object *o = rule_to_json(r);
	struct rule_counters c = { 0 };
	char when[RFC3339_NS_LEN];

	if (!o)
		return NULL;
	if (s->rs)
		rule_set_counters(s->rs, r->id, &c); /* -ENOENT: not in the kernel, zeros */
	json_object_object_add(o, "active", json_object_new_boolean(rule_is_active(r, now_unix())));
	json_object_object_add(o, "expired",
			       json_object_new_boolean(r->expires_at && r->expires_at <= now_unix()));
	json_object_object_add(o, "packets", json_object_new_uint64(c.packets));
	json_object_object_add(o, "bytes", json_object_new_uint64(c.bytes));
	if (c.last_hit_ns &&
	    format_rfc3339_ns(clock_mono_to_wall_ns(cb, c.last_hit_ns), when, sizeof(when)) > 0)
		json_object_object_add(o, "last_hit", json_object_new_string(when));
	else
		json_object_object_add(o, "last_hit", NULL);
	return o;
}

static void reply_rule(struct rule_store *s, struct api_reply *rep, int status,
		       const struct rule *r)
{
	struct clock_base cb = { 0 };

	clock_base_sample(&cb);
	reply_json(rep, status, rule_out(s, r, &cb));
}

/* ---- checks every new or changed rule passes ---- */

/*
 * The query of a request that changes rules: only ?force=true, the
 * documented way to add an enabled drop-everything rule. 0 or -EINVAL
 * with the 400 in @rep.
 */
static int query_force(const struct api_request *req, bool *force, struct api_reply *rep)
{
	static const char *const known[] = { "force", NULL };
	const char *f;

	if (query_check_known(req, known, rep))
		return -EINVAL;
	f = query_str(req, "force");
	if (!f)
		return 0;
	if (!strcmp(f, "true") || !strcmp(f, "1") || !*f)
		*force = true;
	else if (strcmp(f, "false") && strcmp(f, "0")) {
		reply_error(rep, 400, "force: must be true or false");
		return -EINVAL;
	}
	return 0;
}

/* The safety policy: @prefix names the rule in a bulk ("rules[3]: "). */
static int policy_check(struct rule_store *s, const struct rule *r, bool force, const char *prefix,
			struct api_reply *rep)
{
	const struct guarder_config *cfg = s->cfg;
	char why[RULE_ERR_LEN];

	if (rule_touches_protected(r, cfg->rules.protected_networks,
				   cfg->rules.n_protected_networks, cfg->rules.protected_ports,
				   cfg->rules.n_protected_ports, why, sizeof(why))) {
		reply_error(rep, 400, "%s%s (rules.protected_networks/protected_ports)", prefix,
			    why);
		return -EINVAL;
	}
	if (!force && rule_is_match_all(r)) {
		reply_error(rep, 400,
			    "%saction: an enabled drop rule with no condition would drop all %s%s"
			    "traffic; add a condition, or send it again with ?force=true",
			    prefix,
			    r->protocol == RULE_PROTO_ANY ? "" : rule_proto_name(r->protocol),
			    r->protocol == RULE_PROTO_ANY ? "" : " ");
		return -EINVAL;
	}
	return 0;
}

/* A copy of the rules with room for @extra more, or NULL with the 500 in @rep. */
static struct rule *copy_rules(const struct rule_store *s, size_t extra, struct api_reply *rep)
{
	struct rule *next = malloc((s->n + extra + 1) * sizeof(*next));

	if (!next)
		reply_error(rep, 500, "out of memory");
	else if (s->n)
		memcpy(next, s->rules, s->n * sizeof(*next));
	return next;
}

/* The index of rule @id, or -1 with the 404 in @rep. */
static long find_or_404(const struct rule_store *s, __u32 id, struct api_reply *rep)
{
	long i = find(s, id);

	if (i < 0)
		reply_error(rep, 404, "no rule with id %u", id);
	return i;
}

/* ---- handlers ---- */

/*
 * list_rules - the rules by id, as one JSON array written from the cached
 * rule texts plus each rule's counters (no JSON objects per request).
 */
static void list_rules(struct rule_store *s, const struct api_request *req, struct api_reply *rep)
{
	static const char *const known[] = { "limit", "offset", NULL };
	unsigned long limit = s->cfg->rules.max_rules, offset = 0;
	struct clock_base cb = { 0 };
	struct reply_stream rs;
	bool failed = false;
	FILE *out;
	size_t i;
	__u64 now = now_unix();

	if (query_check_known(req, known, rep) ||
	    query_uint(req, "limit", 0, s->cfg->api.max_limit, &limit, rep) < 0 ||
	    query_uint(req, "offset", 0, RULE_ID_MAX, &offset, rep) < 0)
		return;
	kernel_refresh(s);
	clock_base_sample(&cb);
	out = reply_stream_open(&rs, rep);
	if (!out)
		return;
	fputc('[', out);
	pthread_rwlock_rdlock(&s->lock);
	for (i = offset; i < s->n && i - offset < limit; i++) {
		const struct rule *r = &s->rules[i];
		struct rule_counters c = { 0 };
		char when[RFC3339_NS_LEN] = "", *own = NULL;
		const char *text = s->text ? s->text[i] : NULL;

		if (!text)
			text = own = rule_text(r);
		if (!text) {
			failed = true;
			break;
		}
		if (s->rs)
			rule_set_counters(s->rs, r->id, &c); /* -ENOENT: not in the kernel */
		if (c.last_hit_ns)
			format_rfc3339_ns(clock_mono_to_wall_ns(&cb, c.last_hit_ns), when,
					  sizeof(when));
		fprintf(out,
			"%s%s,\"active\":%s,\"expired\":%s,\"packets\":%llu,\"bytes\":%llu,"
			"\"last_hit\":%s%s%s}",
			i > offset ? "," : "", text, rule_is_active(r, now) ? "true" : "false",
			r->expires_at && r->expires_at <= now ? "true" : "false",
			(unsigned long long)c.packets, (unsigned long long)c.bytes,
			*when ? "\"" : "", *when ? when : "null", *when ? "\"" : "");
		free(own);
	}
	rep->total = (long long)s->n;
	pthread_rwlock_unlock(&s->lock);
	fputc(']', out);
	reply_stream_end(&rs, rep, failed, NULL);
}

/*
 * The rule of a POST body, or with @old that of a PUT body applied onto
 * @old. Returns 0, or the error with the 400 (500: out of memory) in @rep.
 */
static int body_rule(const struct api_request *req, const struct rule *old, struct rule *r,
		     struct rule_parse_info *info, struct api_reply *rep)
{
	const char *text = req->body ? req->body : "";
	char err[RULE_ERR_LEN];
	int rc;

	if (old)
		rc = rule_patch_json_str(text, req->body_len, old, r, info, err, sizeof(err));
	else
		rc = rule_from_json_str(text, req->body_len, 0, r, info, err, sizeof(err));
	if (rc)
		reply_error(rep, rc == -ENOMEM ? 500 : 400, "%s",
			    rc == -ENOMEM ? "out of memory" : err);
	return rc;
}

static void create_rule(struct rule_store *s, const struct api_request *req, struct api_reply *rep)
{
	struct rule_parse_info info = { 0 };
	struct rule r, *next;
	bool force = false;
	__u32 next_id;
	size_t i;

	if (query_force(req, &force, rep))
		return;
	if (body_rule(req, NULL, &r, &info, rep))
		return;
	if (policy_check(s, &r, force || info.force, "", rep))
		return;
	pthread_rwlock_wrlock(&s->lock);
	if (info.has_id && find(s, r.id) >= 0) {
		reply_error(rep, 409, "id: rule %u already exists (PUT /api/filters/%u changes it)",
			    r.id, r.id);
		goto out;
	}
	if (s->n >= s->cfg->rules.max_rules) {
		reply_error(rep, 409, "the rule set is full: %u rules (rules.max_rules)",
			    s->cfg->rules.max_rules);
		goto out;
	}
	if (!info.has_id) {
		if (s->next_id > RULE_ID_MAX) {
			reply_error(rep, 409, "id: no rule ids left; give one explicitly");
			goto out;
		}
		r.id = s->next_id;
	}
	next_id = r.id >= s->next_id ? r.id + 1 : s->next_id;
	next = copy_rules(s, 1, rep);
	if (!next)
		goto out;
	/* insert in id order */
	for (i = s->n; i > 0 && next[i - 1].id > r.id; i--)
		next[i] = next[i - 1];
	next[i] = r;
	if (commit(s, next, s->n + 1, next_id, rep)) {
		free(next);
		goto out;
	}
	reply_rule(s, rep, 201, &r);
	{
		static __thread char loc[48];

		snprintf(loc, sizeof(loc), "/api/filters/%u", r.id);
		rep->location = loc;
	}
out:
	pthread_rwlock_unlock(&s->lock);
}

static void get_rule(struct rule_store *s, const struct api_request *req, struct api_reply *rep)
{
	long i;

	if (query_check_known(req, (const char *const[]){ NULL }, rep))
		return;
	kernel_refresh(s);
	pthread_rwlock_rdlock(&s->lock);
	i = find_or_404(s, req->id, rep);
	if (i >= 0)
		reply_rule(s, rep, 200, &s->rules[i]);
	pthread_rwlock_unlock(&s->lock);
}

/*
 * change_rule - PUT (a partial update from the body), enable or disable:
 * the changed rule passes the same policy as a new one.
 */
static void change_rule(struct rule_store *s, const struct api_request *req, struct api_reply *rep)
{
	struct rule_parse_info info = { 0 };
	struct rule r, *next;
	bool force = false;
	long i;

	if (query_force(req, &force, rep))
		return;
	pthread_rwlock_wrlock(&s->lock);
	i = find_or_404(s, req->id, rep);
	if (i < 0)
		goto out;
	if (req->route == ROUTE_FILTER) {
		if (body_rule(req, &s->rules[i], &r, &info, rep))
			goto out;
	} else {
		r = s->rules[i];
		r.enabled = req->route == ROUTE_FILTER_ENABLE;
	}
	if (policy_check(s, &r, force || info.force, "", rep))
		goto out;
	if (!memcmp(&r, &s->rules[i], sizeof(r))) {
		reply_rule(s, rep, 200, &r); /* nothing to change, nothing to write */
		goto out;
	}
	next = copy_rules(s, 0, rep);
	if (!next)
		goto out;
	next[i] = r;
	if (commit(s, next, s->n, s->next_id, rep)) {
		free(next);
		goto out;
	}
	reply_rule(s, rep, 200, &r);
out:
	pthread_rwlock_unlock(&s->lock);
}

static void delete_rule(struct rule_store *s, const struct api_request *req, struct api_reply *rep)
{
	struct json_object *o;
	struct rule *next;
	long i;

	if (query_check_known(req, (const char *const[]){ NULL }, rep))
		return;
	pthread_rwlock_wrlock(&s->lock);
	i = find_or_404(s, req->id, rep);
	if (i < 0)
		goto out;
	next = copy_rules(s, 0, rep);
	if (!next)
		goto out;
	memmove(next + i, next + i + 1, (s->n - (size_t)i - 1) * sizeof(*next));
	if (commit(s, next, s->n - 1, s->next_id, rep)) {
		free(next);
		goto out;
	}
	o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "id", json_object_new_int64(req->id));
		json_object_object_add(o, "deleted", json_object_new_boolean(1));
	}
	reply_json(rep, 200, o);
out:
	pthread_rwlock_unlock(&s->lock);
}

/* What a bulk body asks for. */
struct bulk_req {
	bool replace, force;
	struct json_object *rules; /* the body's array */
	struct rule *batch; /* the parsed rules, then their ids assigned */
	bool *has_id; /* per rule: the client chose its id */
	size_t n;
};

/* The body's own fields: mode, rules, force. Returns 0 or -EINVAL with a 400 in @rep. */
static int bulk_fields(struct json_object *body, struct bulk_req *b, struct api_reply *rep)
{
	bool have_mode = false;

	json_object_object_foreach(body, key, val)
	{
		if (!strcmp(key, "mode")) {
			const char *m = json_object_is_type(val, json_type_string) ?
						json_object_get_string(val) :
						"";

			if (strcmp(m, "replace") && strcmp(m, "add")) {
				reply_error(rep, 400, "mode: must be \"add\" or \"replace\"");
				return -EINVAL;
			}
			b->replace = !strcmp(m, "replace");
			have_mode = true;
		} else if (!strcmp(key, "rules")) {
			if (!json_object_is_type(val, json_type_array)) {
				reply_error(rep, 400, "rules: must be an array of rules");
				return -EINVAL;
			}
			b->rules = val;
		} else if (!strcmp(key, "force")) {
			if (!json_object_is_type(val, json_type_boolean)) {
				reply_error(rep, 400, "force: must be true or false");
				return -EINVAL;
			}
			b->force = b->force || json_object_get_boolean(val);
		} else {
			reply_error(rep, 400,
				    "%.64s: unknown field (bulk takes mode, rules, force)", key);
			return -EINVAL;
		}
	}
	if (!have_mode) {
		reply_error(rep, 400, "mode: required (\"add\" or \"replace\")");
		return -EINVAL;
	}
	if (!b->rules) {
		reply_error(rep, 400, "rules: required");
		return -EINVAL;
	}
	return 0;
}

/* Every rule parsed and checked against the policy, before any lock. */
static int bulk_rules(struct rule_store *s, struct bulk_req *b, struct api_reply *rep)
{
	char err[RULE_ERR_LEN], prefix[32];
	size_t i;

	b->n = json_object_array_length(b->rules);
	if (b->n > s->cfg->rules.max_rules) {
		reply_error(rep, 409, "rules: %zu rules, more than rules.max_rules (%u)", b->n,
			    s->cfg->rules.max_rules);
		return -EINVAL;
	}
	b->batch = calloc(b->n + 1, sizeof(*b->batch));
	b->has_id = calloc(b->n + 1, sizeof(*b->has_id));
	if (!b->batch || !b->has_id) {
		reply_error(rep, 500, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < b->n; i++) {
		struct rule_parse_info info = { 0 };
		int rc;

		snprintf(prefix, sizeof(prefix), "rules[%zu]: ", i);
		rc = rule_from_json(json_object_array_get_idx(b->rules, i), 0, &b->batch[i], &info,
				    err, sizeof(err));
		if (rc) {
			reply_error(rep, rc == -ENOMEM ? 500 : 400, "%s%s", prefix, err);
			return rc;
		}
		b->has_id[i] = info.has_id;
		if (policy_check(s, &b->batch[i], b->force || info.force, prefix, rep))
			return -EPERM;
	}
	return 0;
}

/*
 * The next rule set under the write lock: the current rules (add) and the
 * batch, whose rules without an id get one around the client-chosen ids.
 * Returns it (sorted by id, *@n_next rules) or NULL with the reply in @rep.
 */
static struct rule *bulk_merge(struct rule_store *s, struct bulk_req *b, size_t *n_next,
			       __u32 *next_id, struct api_reply *rep)
{
	size_t n = (b->replace ? 0 : s->n) + b->n, i;
	struct rule *next;

	if (n > s->cfg->rules.max_rules) {
		reply_error(rep, 409,
			    "the rule set would hold %zu rules, more than rules.max_rules (%u)", n,
			    s->cfg->rules.max_rules);
		return NULL;
	}
	*next_id = s->next_id;
	for (i = 0; i < b->n; i++) {
		if (!b->has_id[i])
			continue;
		if (!b->replace && find(s, b->batch[i].id) >= 0) {
			reply_error(rep, 409, "rules[%zu]: id: rule %u already exists", i,
				    b->batch[i].id);
			return NULL;
		}
		if (b->batch[i].id >= *next_id)
			*next_id = b->batch[i].id + 1;
	}
	for (i = 0; i < b->n; i++) {
		if (b->has_id[i])
			continue;
		if (*next_id > RULE_ID_MAX) {
			reply_error(rep, 409, "rules[%zu]: id: no rule ids left", i);
			return NULL;
		}
		b->batch[i].id = (*next_id)++;
	}
	next = malloc((n + 1) * sizeof(*next));
	if (!next) {
		reply_error(rep, 500, "out of memory");
		return NULL;
	}
	if (!b->replace && s->n)
		memcpy(next, s->rules, s->n * sizeof(*next));
	memcpy(next + (n - b->n), b->batch, b->n * sizeof(*next));
	qsort(next, n, sizeof(*next), cmp_id);
	for (i = 1; i < n; i++) {
		if (next[i].id == next[i - 1].id) {
			reply_error(rep, 409, "rules: id %u appears twice", next[i].id);
			free(next);
			return NULL;
		}
	}
	*n_next = n;
	return next;
}

/* The answer of a committed bulk: mode, count, total and the batch's ids. */
static void bulk_reply(const struct rule_store *s, const struct bulk_req *b, struct api_reply *rep)
{
	struct json_object *res = json_object_new_object();
	struct json_object *ids = json_object_new_array_ext((int)b->n);
	size_t i;

	for (i = 0; ids && i < b->n; i++)
		json_object_array_add(ids, json_object_new_int64(b->batch[i].id));
	if (res) {
		json_object_object_add(res, "mode",
				       json_object_new_string(b->replace ? "replace" : "add"));
		json_object_object_add(res, "count", json_object_new_int64((int64_t)b->n));
		json_object_object_add(res, "total", json_object_new_int64((int64_t)s->n));
		json_object_object_add(res, "ids", ids);
	} else {
		json_object_put(ids);
	}
	reply_json(rep, 200, res);
}

/*
 * bulk - {"mode": "add"|"replace", "rules": [...], "force": bool}: every
 * rule is checked first; one commit applies them all or nothing.
 */
static void bulk(struct rule_store *s, const struct api_request *req, struct api_reply *rep)
{
	struct bulk_req b = { 0 };
	struct json_object *body = NULL;
	char why[JSON_STRICT_ERR_LEN];
	struct rule *next;
	size_t n_next = 0;
	__u32 next_id;
	int rc;

	if (query_force(req, &b.force, rep))
		return;
	rc = json_strict_parse(req->body ? req->body : "", req->body_len, json_type_object, NULL,
			       &body, why, sizeof(why));
	if (rc) {
		reply_error(rep, rc == -ENOMEM ? 500 : 400, "body: %s", why);
		return;
	}
	if (bulk_fields(body, &b, rep) || bulk_rules(s, &b, rep))
		goto out;
	pthread_rwlock_wrlock(&s->lock);
	next = bulk_merge(s, &b, &n_next, &next_id, rep);
	if (next && commit(s, next, n_next, next_id, rep))
		free(next);
	else if (next) /* the store owns it */
		bulk_reply(s, &b, rep);
	pthread_rwlock_unlock(&s->lock);
out:
	free(b.batch);
	free(b.has_id);
	json_object_put(body);
}

void filters_handle(struct rule_store *s, const struct api_request *req, struct api_reply *rep)
{
	switch (req->route) {
	case ROUTE_FILTERS:
		if (req->method == M_POST)
			create_rule(s, req, rep);
		else
			list_rules(s, req, rep);
		break;
	case ROUTE_FILTERS_BULK:
		bulk(s, req, rep);
		break;
	case ROUTE_FILTER:
		if (req->method == M_GET)
			get_rule(s, req, rep);
		else if (req->method == M_PUT)
			change_rule(s, req, rep);
		else
			delete_rule(s, req, rep);
		break;
	case ROUTE_FILTER_ENABLE:
	case ROUTE_FILTER_DISABLE:
		change_rule(s, req, rep);
		break;
	default:
		reply_error(rep, 404, "no such endpoint");
		break;
	}
}

void store_metrics(struct rule_store *s, FILE *out)
{
	/* per rule, from struct rule_counters */
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{ "guarder_rule_hits_total", "Packets each rule decided.",
		  offsetof(struct rule_counters, packets) },
		{ "guarder_rule_bytes_total", "IP bytes of the packets each rule decided.",
		  offsetof(struct rule_counters, bytes) },
	};
	struct rule_counters *c = NULL;
	size_t i, m, enabled = 0;
	bool *have = NULL;

	pthread_rwlock_rdlock(&s->lock);
	for (i = 0; i < s->n; i++)
		enabled += s->rules[i].enabled;
	fprintf(out,
		"# HELP guarder_rules Filter rules in the rule set.\n# TYPE guarder_rules gauge\n"
		"guarder_rules{state=\"enabled\"} %zu\nguarder_rules{state=\"disabled\"} %zu\n",
		enabled, s->n - enabled);
	if (!s->rs)
		goto out;
	fprintf(out,
		"# HELP guarder_rule_set_generation Rule sets applied to the kernel.\n"
		"# TYPE guarder_rule_set_generation counter\n"
		"guarder_rule_set_generation %u\n",
		rule_set_generation(s->rs));
	/* One read of each rule's counters for both families. */
	c = calloc(s->n + 1, sizeof(*c));
	have = calloc(s->n + 1, sizeof(*have));
	if (!c || !have)
		goto out;
	for (i = 0; i < s->n; i++)
		have[i] = !rule_set_counters(s->rs, s->rules[i].id, &c[i]);
	for (m = 0; m < sizeof(counters) / sizeof(counters[0]); m++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", counters[m].name,
			counters[m].help, counters[m].name);
		for (i = 0; i < s->n; i++)
			if (have[i])
				fprintf(out, "%s{id=\"%u\",action=\"%s\"} %llu\n", counters[m].name,
					s->rules[i].id, rule_action_name(s->rules[i].action),
					(unsigned long long)*(const __u64 *)((const char *)&c[i] +
									     counters[m].off));
	}
out:
	pthread_rwlock_unlock(&s->lock);
	free(c);
	free(have);
}
