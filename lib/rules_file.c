// SPDX-License-Identifier: GPL-2.0
/*
 * The rules file: atomic save (lib/atomic_file.h) and a strict load that
 * refuses a damaged file instead of starting with no rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "errmsg.h"
#include "json_strict.h"
#include "log.h"
#include "rules_file.h"

/*
 * A stored rule is well under 2 KiB even with a comment of escapes; this
 * bounds what a load reads before it looks at the content.
 */
#define RULES_FILE_BYTES_PER_RULE 4096
#define RULES_FILE_MAX_BYTES	  (256u << 20)

/*
 * The file text: one rule per line, so an operator can read and diff it,
 * and a damaged line is easy to find from the error's rules[i].
 */
static int build_text(const struct rule *rules, size_t n, __u32 next_id, char **out,
		      size_t *out_len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;
	size_t i;
	int rc = 0;

	f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "{\"version\":%d,\"next_id\":%u,\"rules\":[", RULES_FILE_VERSION, next_id);
	for (i = 0; i < n; i++) {
		struct json_object *o = rule_to_json(&rules[i]);

		if (!o) {
			rc = -ENOMEM;
			break;
		}
		fprintf(f, "%s\n%s", i ? "," : "",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	fprintf(f, "%s]}\n", n ? "\n" : "");
	if (fclose(f) && !rc)
		rc = -ENOMEM;
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_len = size;
	return 0;
}

int rules_file_save(const char *path, const struct rule *rules, size_t n, __u32 next_id)
{
	char err[RULE_ERR_LEN + PATH_MAX];
	char *text = NULL;
	size_t len = 0, i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = rule_validate(&rules[i], err, sizeof(err));
		if (rc) {
			log_error("rules file %s: not saved: rule %zu (id %u): %s", path, i,
				  rules[i].id, err);
			return rc;
		}
	}
	rc = build_text(rules, n, next_id, &text, &len);
	if (rc) {
		log_error("rules file %s: cannot build the text: %s", path, strerror(-rc));
		return rc;
	}
	/* 0600 in a 0700 directory: the rules may name internal hosts. */
	rc = atomic_file_write(path, text, len, 0600, 0700, err, sizeof(err));
	if (rc)
		log_error("rules file %s: %s", path, err);
	free(text);
	return rc;
}

static int read_file(const char *path, char **out, size_t *out_len, size_t limit, char *err,
		     size_t errlen)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		errmsg_inval(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > limit) {
		rc = -EINVAL;
		errmsg_inval(err, errlen, "%s: %lld bytes is more than %zu rules can take", path,
			     (long long)st.st_size, limit / RULES_FILE_BYTES_PER_RULE);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			free(buf);
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
out:
	close(fd);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* The whole document, checked; fills @rules (caller's array of @max). */
static int parse_doc(const char *path, const char *text, size_t len, size_t max, struct rule **out,
		     size_t *out_n, __u32 *out_next, char *err, size_t errlen)
{
	const struct json_strict_limits limits = { .max_bytes = RULES_FILE_MAX_BYTES };
	struct json_object *doc = NULL, *v, *arr = NULL;
	char rerr[RULE_ERR_LEN], why[JSON_STRICT_ERR_LEN];
	struct rule *rules = NULL;
	__u32 *ids = NULL;
	int64_t version = -1, next = -1;
	size_t n = 0, i;
	int rc;

	if (len == 0)
		return errmsg_inval(err, errlen, "%s: empty file", path);
	/* Any type: a file that is not an object gets this module's own message. */
	rc = json_strict_parse(text, len, JSON_STRICT_ANY, &limits, &doc, why, sizeof(why));
	if (rc)
		return errmsg_set(err, errlen, rc, "%s: %s", path, why);
	rc = -EINVAL;
	if (!json_object_is_type(doc, json_type_object)) {
		errmsg_inval(err, errlen, "%s: not a JSON object", path);
		goto out;
	}
	json_object_object_foreach(doc, key, val)
	{
		if (strcmp(key, "version") == 0 && json_object_is_type(val, json_type_int)) {
			version = json_object_get_int64(val);
		} else if (strcmp(key, "next_id") == 0 && json_object_is_type(val, json_type_int)) {
			next = json_object_get_int64(val);
		} else if (strcmp(key, "rules") == 0 && json_object_is_type(val, json_type_array)) {
			arr = val;
		} else {
			errmsg_inval(err, errlen, "%s: %.64s: unknown field or wrong type", path,
				     key);
			goto out;
		}
	}
	if (version != RULES_FILE_VERSION) {
		errmsg_inval(err, errlen, "%s: version: %s, this program reads version %d", path,
			     version < 0 ? "missing" : "unsupported", RULES_FILE_VERSION);
		goto out;
	}
	if (next < 0 || next > (int64_t)RULE_ID_MAX + 1) {
		errmsg_inval(err, errlen, "%s: next_id: missing or out of range (0..%llu)", path,
			     (unsigned long long)RULE_ID_MAX + 1);
		goto out;
	}
	if (!arr) {
		errmsg_inval(err, errlen, "%s: rules: missing", path);
		goto out;
	}
	n = json_object_array_length(arr);
	if (n > max) {
		errmsg_inval(err, errlen, "%s: rules: %zu rules, more than the limit of %zu", path,
			     n, max);
		goto out;
	}
	if (n) {
		rules = calloc(n, sizeof(*rules));
		ids = calloc(n, sizeof(*ids));
		if (!rules || !ids) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if (rule_from_json(v, RULE_PARSE_STORED, &rules[i], NULL, rerr, sizeof(rerr))) {
			errmsg_inval(err, errlen, "%s: rules[%zu]: %s", path, i, rerr);
			goto out;
		}
		ids[i] = rules[i].id;
	}
	if (n) {
		qsort(ids, n, sizeof(*ids), cmp_u32);
		for (i = 1; i < n; i++) {
			if (ids[i] == ids[i - 1]) {
				errmsg_inval(err, errlen, "%s: rules: id %u appears twice", path,
					     ids[i]);
				goto out;
			}
		}
		/* An id in use must never be handed out again. */
		if ((int64_t)ids[n - 1] >= next) {
			log_warn("rules file %s: next_id %lld is not above the highest id %u; "
				 "using %u",
				 path, (long long)next, ids[n - 1], ids[n - 1] + 1);
			next = (int64_t)ids[n - 1] + 1;
		}
	}
	*out = rules;
	*out_n = n;
	*out_next = (__u32)next;
	rules = NULL;
	rc = 0;
out:
	free(ids);
	free(rules);
	json_object_put(doc);
	return rc;
}

int rules_file_load(const char *path, size_t max, struct rule **rules, size_t *n, __u32 *next_id,
		    char *err, size_t errlen)
{
	size_t limit = max * RULES_FILE_BYTES_PER_RULE + 4096, len = 0;
	char *text = NULL, why[RULE_ERR_LEN + PATH_MAX];
	int rc;

	why[0] = '\0';
	if (max > RULES_FILE_MAX_BYTES / RULES_FILE_BYTES_PER_RULE)
		limit = RULES_FILE_MAX_BYTES;
	rc = read_file(path, &text, &len, limit, why, sizeof(why));
	if (rc == -ENOENT) {
		/* First start: no rules yet. */
		*rules = NULL;
		*n = 0;
		*next_id = 0;
		errmsg_set(err, errlen, 0, "%s", "");
		return 0;
	}
	if (!rc)
		rc = parse_doc(path, text, len, max, rules, n, next_id, why, sizeof(why));
	free(text);
	if (rc && !why[0])
		errmsg_set(why, sizeof(why), rc, "%s: %s", path, strerror(-rc));
	if (rc)
		log_error("rules file %s", why);
	return errmsg_set(err, errlen, rc, "%s", why);
}
