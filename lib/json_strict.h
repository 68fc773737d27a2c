/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one parser of JSON that guarder reads from others: REST request
 * bodies, WebSocket subscription messages, the Kafka suggestion records,
 * the rules file and the collector's stats file. (A model's answer is not
 * one of them: lib/ai_model.c digs JSON out of prose on purpose.)
 *
 * The text must be exactly one JSON value as RFC 8259 writes it, checked
 * here before json-c builds the objects, because json-c alone lets
 * through what an attacker can use:
 *  - a key twice in one object, at any depth: json-c keeps the last value
 *    silently, so {"action":"drop","action":"allow"} would mean what the
 *    last reader of the text decides (keys are compared decoded, so
 *    "\u0061ction" is "action");
 *  - bytes after the value, NUL bytes, invalid UTF-8 (overlong forms,
 *    surrogates, above U+10FFFF), raw control characters in strings,
 *    NaN / Infinity, "1.", an escaped lone surrogate, "\u0000" in a key
 *    (json-c cuts keys at NUL, which merges "a\u0000b" with "a\u0000c");
 *  - nesting and size without a bound of the caller's choosing.
 */
#ifndef GUARDER_JSON_STRICT_H
#define GUARDER_JSON_STRICT_H

#include <stddef.h>

#include <json-c/json.h>

#define JSON_STRICT_MAX_BYTES (256u << 20) /* the default size limit, and the highest */
#define JSON_STRICT_MAX_DEPTH 16 /* the default depth limit */
#define JSON_STRICT_DEPTH_CAP 64 /* the highest depth limit */
#define JSON_STRICT_ERR_LEN   128 /* enough for every message */

/* json_strict_parse()'s @type for "any JSON value". */
#define JSON_STRICT_ANY ((enum json_type) - 1)

struct json_strict_limits {
	size_t max_bytes; /* of the text; 0 = JSON_STRICT_MAX_BYTES (higher: capped to it) */
	unsigned int max_depth; /* objects and arrays open at once ({} is 1); 0 = default */
};

/*
 * json_strict_parse - parse @text[0..@len) (no NUL needed at the end) as
 * exactly one JSON value, whitespace around it allowed, of @type (a
 * json_type, or JSON_STRICT_ANY) within @lim (NULL: the defaults).
 * Returns 0 with the value in *@out (the caller puts it; NULL for the JSON
 * value null), or with *@out NULL:
 *  -EINVAL  with a message in @err naming the problem and its byte offset
 *           ("duplicate key \"action\" at byte 21", "invalid JSON at byte 3:
 *           expected ',' or '}'", "truncated JSON at byte 17", "must be a
 *           JSON object, not a JSON array", "empty: no JSON value", ...). Keys
 *           and input are quoted through errmsg_excerpt(), so the message
 *           may go back to the sender as it is.
 *  -ENOMEM  "out of memory".
 * @err (@errlen > 0) is always NUL-terminated; callers prefix what the
 * text was ("body: ...").
 */
int json_strict_parse(const char *text, size_t len, enum json_type type,
		      const struct json_strict_limits *lim, struct json_object **out, char *err,
		      size_t errlen);

#endif /* GUARDER_JSON_STRICT_H */
