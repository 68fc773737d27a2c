// SPDX-License-Identifier: GPL-2.0
/*
 * The strict JSON parser (json_strict.h): a validator of RFC 8259 that
 * also finds duplicate keys, then json-c to build the objects from text
 * known to be good. The validator is recursive descent; the depth limit
 * (at most JSON_STRICT_DEPTH_CAP) bounds its stack.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "json_strict.h"

struct scan {
	const unsigned char *s;
	size_t len, pos;
	unsigned int depth, max_depth;
	bool in_key; /* the string being read is a key: decode it into key */
	char *key; /* NUL-terminated */
	size_t key_len, key_cap;
	char *err;
	size_t errlen;
};

static int value(struct scan *sc);

static bool at_end(const struct scan *sc)
{
	return sc->pos >= sc->len;
}

static void skip_ws(struct scan *sc)
{
	while (!at_end(sc) && (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' ||
			       sc->s[sc->pos] == '\n' || sc->s[sc->pos] == '\r'))
		sc->pos++;
}

/* A syntax error at the current position; the end of the text is "truncated". */
static int syntax(struct scan *sc, const char *what)
{
	unsigned char c;
	char q[8];

	if (at_end(sc))
		return errmsg_inval(sc->err, sc->errlen, "truncated JSON at byte %zu", sc->pos);
	c = sc->s[sc->pos];
	if (c >= 0x20 && c < 0x7f)
		return errmsg_inval(sc->err, sc->errlen,
				    "invalid JSON at byte %zu: %s (found '%s')", sc->pos, what,
				    errmsg_excerpt(q, sizeof(q), (const char *)&sc->s[sc->pos], 1));
	return errmsg_inval(sc->err, sc->errlen, "invalid JSON at byte %zu: %s (found byte 0x%02x)",
			    sc->pos, what, c);
}

/* The length of the UTF-8 sequence at @p (RFC 3629: no overlong form, no surrogate), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 1;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 2;
		lo = p[0] == 0xe0 ? 0xa0 : lo;
		hi = p[0] == 0xed ? 0x9f : hi;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 3;
		lo = p[0] == 0xf0 ? 0x90 : lo;
		hi = p[0] == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (n <= need || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return need + 1;
}

static int key_add(struct scan *sc, const void *bytes, size_t n)
{
	if (!sc->in_key)
		return 0; /* a value: json-c decodes it */
	if (sc->key_len + n + 1 > sc->key_cap) {
		size_t cap = (sc->key_len + n + 1) * 2;
		char *k = realloc(sc->key, cap);

		if (!k)
			return errmsg_set(sc->err, sc->errlen, -ENOMEM, "out of memory");
		sc->key = k;
		sc->key_cap = cap;
	}
	memcpy(sc->key + sc->key_len, bytes, n);
	sc->key_len += n;
	sc->key[sc->key_len] = '\0';
	return 0;
}

static int hex4(const unsigned char *p, unsigned int *out)
{
	unsigned int v = 0, i;

	for (i = 0; i < 4; i++) {
		unsigned char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* A \uXXXX escape at sc->pos (the backslash), a surrogate pair taken whole. */
static int unicode_escape(struct scan *sc)
{
	size_t at = sc->pos;
	unsigned int cp, lo;
	unsigned char u[4];
	size_t n;

	if (sc->len - at < 6 || hex4(sc->s + at + 2, &cp))
		return errmsg_inval(sc->err, sc->errlen,
				    "invalid JSON at byte %zu: \\u needs four hex digits", at);
	sc->pos += 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return errmsg_inval(sc->err, sc->errlen, "unpaired surrogate \\u%04x at byte %zu",
				    cp, at);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (sc->len - sc->pos < 6 || sc->s[sc->pos] != '\\' || sc->s[sc->pos + 1] != 'u' ||
		    hex4(sc->s + sc->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return errmsg_inval(sc->err, sc->errlen,
					    "unpaired surrogate \\u%04x at byte %zu", cp, at);
		sc->pos += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0 && sc->in_key)
		return errmsg_inval(sc->err, sc->errlen, "\\u0000 in a key at byte %zu", at);
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return key_add(sc, u, n);
}

/* The escape at sc->pos (the backslash). */
static int escape(struct scan *sc)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;

	if (sc->pos + 1 >= sc->len) {
		sc->pos = sc->len;
		return syntax(sc, "");
	}
	if (sc->s[sc->pos + 1] == 'u')
		return unicode_escape(sc);
	e = sc->s[sc->pos + 1] ? strchr(from, sc->s[sc->pos + 1]) : NULL;
	if (!e)
		return errmsg_inval(sc->err, sc->errlen, "invalid JSON at byte %zu: bad escape",
				    sc->pos);
	sc->pos += 2;
	return key_add(sc, &to[e - from], 1);
}

/* The string at sc->pos (its opening quote); a key is decoded into sc->key. */
static int string(struct scan *sc)
{
	int rc = 0;

	sc->pos++;
	while (!rc) {
		unsigned char c;
		size_t n;

		if (at_end(sc))
			return syntax(sc, "");
		c = sc->s[sc->pos];
		if (c == '"') {
			sc->pos++;
			return 0;
		}
		if (c == '\\') {
			rc = escape(sc);
			continue;
		}
		if (c < 0x20)
			return errmsg_inval(sc->err, sc->errlen,
					    "control character 0x%02x in a string at byte %zu "
					    "(write it as an escape)",
					    c, sc->pos);
		n = utf8_len(sc->s + sc->pos, sc->len - sc->pos);
		if (!n)
			return errmsg_inval(sc->err, sc->errlen, "invalid UTF-8 at byte %zu",
					    sc->pos);
		rc = key_add(sc, sc->s + sc->pos, n);
		sc->pos += n;
	}
	return rc;
}

static size_t digits(struct scan *sc)
{
	size_t start = sc->pos;

	while (!at_end(sc) && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
		sc->pos++;
	return sc->pos - start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(struct scan *sc)
{
	if (sc->s[sc->pos] == '-')
		sc->pos++;
	if (!at_end(sc) && sc->s[sc->pos] == '0')
		sc->pos++;
	else if (!digits(sc))
		return syntax(sc, "a digit must follow '-'");
	if (!at_end(sc) && sc->s[sc->pos] == '.') {
		sc->pos++;
		if (!digits(sc))
			return syntax(sc, "a digit must follow '.'");
	}
	if (!at_end(sc) && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
		sc->pos++;
		if (!at_end(sc) && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
			sc->pos++;
		if (!digits(sc))
			return syntax(sc, "a digit must follow the exponent");
	}
	return 0;
}

static int literal(struct scan *sc)
{
	static const char *const words[] = { "true", "false", "null" };
	size_t i, n, have = sc->len - sc->pos;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		n = strlen(words[i]);
		if (!memcmp(sc->s + sc->pos, words[i], have < n ? have : n)) {
			if (have < n) {
				sc->pos = sc->len;
				return syntax(sc, "");
			}
			sc->pos += n;
			return 0;
		}
	}
	return syntax(sc, "expected a JSON value");
}

static int nest(struct scan *sc)
{
	if (++sc->depth > sc->max_depth)
		return errmsg_inval(sc->err, sc->errlen, "nested deeper than %u levels at byte %zu",
				    sc->max_depth, sc->pos);
	sc->pos++;
	skip_ws(sc);
	return 0;
}

/* The key at sc->pos and its ':', the key checked against @seen (the object's keys so far). */
static int member_key(struct scan *sc, struct json_object *seen)
{
	size_t at = sc->pos;
	char q[48];
	int rc;

	if (at_end(sc) || sc->s[sc->pos] != '"')
		return syntax(sc, "expected a string key");
	sc->key_len = 0;
	if (!sc->key) {
		sc->key_cap = 64;
		sc->key = malloc(sc->key_cap);
		if (!sc->key)
			return errmsg_set(sc->err, sc->errlen, -ENOMEM, "out of memory");
	}
	sc->key[0] = '\0';
	sc->in_key = true;
	rc = string(sc);
	sc->in_key = false;
	if (rc)
		return rc;
	if (json_object_object_get_ex(seen, sc->key, NULL))
		return errmsg_inval(sc->err, sc->errlen, "duplicate key \"%s\" at byte %zu",
				    errmsg_excerpt(q, sizeof(q), sc->key, sc->key_len), at);
	if (json_object_object_add(seen, sc->key, NULL))
		return errmsg_set(sc->err, sc->errlen, -ENOMEM, "out of memory");
	skip_ws(sc);
	if (at_end(sc) || sc->s[sc->pos] != ':')
		return syntax(sc, "expected ':' after the key");
	sc->pos++;
	return 0;
}

/* Whether @close ends the open object or array here: then it is read and the depth drops. */
static bool closes(struct scan *sc, char close)
{
	if (at_end(sc) || sc->s[sc->pos] != close)
		return false;
	sc->pos++;
	sc->depth--;
	return true;
}

/* After a member: 1 when a ',' follows, 0 when @close does (both read), or the syntax error. */
static int next_member(struct scan *sc, char close)
{
	skip_ws(sc);
	if (!at_end(sc) && sc->s[sc->pos] == ',') {
		sc->pos++;
		skip_ws(sc);
		return 1;
	}
	if (closes(sc, close))
		return 0;
	return syntax(sc, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static int object(struct scan *sc)
{
	struct json_object *seen;
	int rc = nest(sc);

	if (rc || closes(sc, '}'))
		return rc;
	/* The keys as json-c will store them: its own hash table is the set. */
	seen = json_object_new_object();
	if (!seen)
		return errmsg_set(sc->err, sc->errlen, -ENOMEM, "out of memory");
	do {
		rc = member_key(sc, seen);
		if (!rc)
			rc = value(sc);
		if (!rc)
			rc = next_member(sc, '}');
	} while (rc == 1);
	json_object_put(seen);
	return rc;
}

static int array(struct scan *sc)
{
	int rc = nest(sc);

	if (rc || closes(sc, ']'))
		return rc;
	do {
		rc = value(sc);
		if (!rc)
			rc = next_member(sc, ']');
	} while (rc == 1);
	return rc;
}

static int value(struct scan *sc)
{
	unsigned char c;

	skip_ws(sc);
	if (at_end(sc))
		return syntax(sc, "");
	c = sc->s[sc->pos];
	if (c == '{')
		return object(sc);
	if (c == '[')
		return array(sc);
	if (c == '"')
		return string(sc);
	if (c == '-' || (c >= '0' && c <= '9'))
		return number(sc);
	return literal(sc);
}

/* The validated text as json-c objects. */
static int build(const char *text, size_t len, unsigned int max_depth, struct json_object **out,
		 char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new_ex((int)max_depth + 1);
	enum json_tokener_error jerr;
	struct json_object *obj;

	if (!tok)
		return errmsg_set(err, errlen, -ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!obj && jerr == json_tokener_continue) {
		/* A bare number ends only at a terminator: give it the NUL. */
		obj = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		/* Validated text that json-c refuses: only when it runs out of memory. */
		json_object_put(obj);
		return errmsg_set(err, errlen, -ENOMEM, "cannot build the JSON value: %s",
				  json_tokener_error_desc(jerr));
	}
	*out = obj;
	return 0;
}

/* How a message names each json_type. */
static const char *const type_names[] = {
	[json_type_null] = "null",
	[json_type_boolean] = "true or false",
	[json_type_double] = "a JSON number",
	[json_type_int] = "a JSON number",
	[json_type_object] = "a JSON object",
	[json_type_array] = "a JSON array",
	[json_type_string] = "a JSON string",
};

static const char *type_name(enum json_type t)
{
	return (unsigned int)t < sizeof(type_names) / sizeof(type_names[0]) && type_names[t] ?
		       type_names[t] :
		       "a JSON value";
}

/* Whether @got is what @want asks for; a number is a number, 1 or 1.5. */
static bool type_fits(enum json_type want, struct json_object *got)
{
	if (want == JSON_STRICT_ANY)
		return true;
	if (want == json_type_double || want == json_type_int)
		return json_object_is_type(got, json_type_double) ||
		       json_object_is_type(got, json_type_int);
	return json_object_is_type(got, want);
}

int json_strict_parse(const char *text, size_t len, enum json_type type,
		      const struct json_strict_limits *lim, struct json_object **out, char *err,
		      size_t errlen)
{
	size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : JSON_STRICT_MAX_BYTES;
	struct scan sc = {
		.s = (const unsigned char *)text, .len = len, .err = err, .errlen = errlen
	};
	const char *nul;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	sc.max_depth = lim && lim->max_depth ? lim->max_depth : JSON_STRICT_MAX_DEPTH;
	if (sc.max_depth > JSON_STRICT_DEPTH_CAP)
		sc.max_depth = JSON_STRICT_DEPTH_CAP;
	if (max_bytes > JSON_STRICT_MAX_BYTES)
		max_bytes = JSON_STRICT_MAX_BYTES;
	if (len > max_bytes)
		return errmsg_inval(err, errlen, "%zu bytes, more than the limit of %zu", len,
				    max_bytes);
	nul = len ? memchr(text, '\0', len) : NULL;
	if (nul)
		return errmsg_inval(err, errlen, "contains a NUL byte at byte %zu",
				    (size_t)(nul - text));
	skip_ws(&sc);
	if (at_end(&sc))
		return errmsg_inval(err, errlen, "empty: no JSON value");
	rc = value(&sc);
	free(sc.key);
	if (rc)
		return rc;
	skip_ws(&sc);
	if (!at_end(&sc))
		return errmsg_inval(err, errlen, "unexpected data after the JSON value at byte %zu",
				    sc.pos);
	rc = build(text, len, sc.max_depth, out, err, errlen);
	if (rc)
		return rc;
	if (!type_fits(type, *out)) {
		rc = errmsg_inval(err, errlen, "must be %s, not %s", type_name(type),
				  type_name(json_object_get_type(*out)));
		json_object_put(*out);
		*out = NULL;
	}
	return rc;
}
