// SPDX-License-Identifier: GPL-2.0
/*
 * The strict JSON parser (lib/json_strict.h): what json-c alone accepts
 * and an attacker could use is refused with the place named: duplicate
 * keys at every depth (also spelt with escapes), trailing data, NUL
 * bytes, invalid UTF-8, the depth and size limits, the top-level type,
 * empty and whitespace-only text; good text gives the same value json-c
 * builds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "errmsg.h"
#include "json_strict.h"

/* Parse @text (strlen) as any value; the rc, the message in @err. */
static int parse(const char *text, char *err, size_t errlen)
{
	struct json_object *o = (struct json_object *)0x1;
	int rc = json_strict_parse(text, strlen(text), JSON_STRICT_ANY, NULL, &o, err, errlen);

	if (rc)
		CHECK(o == NULL);
	json_object_put(o);
	return rc;
}

static void expect_ok(const char *text)
{
	char err[JSON_STRICT_ERR_LEN];

	if (parse(text, err, sizeof(err))) {
		fprintf(stderr, "refused: %s: %s\n", text, err);
		failures++;
	}
}

/* Refused with -EINVAL and @want in the message. */
static void expect_bad(const char *text, size_t len, const char *want)
{
	char err[JSON_STRICT_ERR_LEN] = "unset";
	struct json_object *o = (struct json_object *)0x1;
	int rc = json_strict_parse(text, len, JSON_STRICT_ANY, NULL, &o, err, sizeof(err));

	if (rc != -EINVAL || o != NULL || !strstr(err, want)) {
		fprintf(stderr, "%.60s: rc %d, error \"%s\", expected \"%s\"\n", text, rc, err,
			want);
		failures++;
	}
	if (!rc)
		json_object_put(o);
}

#define BAD(text, want) expect_bad(text, strlen(text), want)

static void test_good(void)
{
	struct json_object *o, *v;
	char err[JSON_STRICT_ERR_LEN];

	expect_ok("{}");
	expect_ok(" \t\r\n{ } \n");
	expect_ok("[]");
	expect_ok("[1, -0, 0.5, -1.25e+3, 2E-2, 1e999, 99999999999999999999]");
	expect_ok(
		"\"caf\xc3\xa9 \xf0\x9f\x98\x80 \\u00e9 \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"");
	expect_ok("true");
	expect_ok("false");
	expect_ok("null");
	expect_ok("42");
	expect_ok("-7 ");
	/* the same key in sibling objects, or as a value, is no duplicate */
	expect_ok("[{\"a\":1},{\"a\":2}]");
	expect_ok("{\"a\":{\"a\":{\"a\":\"a\"}},\"b\":[\"a\",\"a\"]}");
	expect_ok("{\"a\":1,\"A\":2,\"a \":3,\"\":4}");
	/* \u0000 in a value: the field's own check names it (lib/rule.c) */
	expect_ok("{\"comment\":\"a\\u0000b\"}");

	CHECK(json_strict_parse("{\"a\":[1,{\"b\":\"x\"}]}", 19, json_type_object, NULL, &o, err,
				sizeof(err)) == 0);
	CHECK(o && json_object_object_get_ex(o, "a", &v) && json_object_array_length(v) == 2);
	CHECK(!strcmp(err, ""));
	json_object_put(o);
	/* no NUL needed after the text: the length is the end */
	CHECK(json_strict_parse("12345", 2, json_type_int, NULL, &o, err, sizeof(err)) == 0);
	CHECK(o && json_object_get_int(o) == 12);
	json_object_put(o);
	/* null is a value: rc 0, *out NULL */
	o = (struct json_object *)0x1;
	CHECK(json_strict_parse("null", 4, json_type_null, NULL, &o, err, sizeof(err)) == 0);
	CHECK(o == NULL);
	/* int and double are both "a number" */
	CHECK(json_strict_parse("1.5", 3, json_type_int, NULL, &o, err, sizeof(err)) == 0);
	json_object_put(o);
}

static void test_duplicates(void)
{
	char err[JSON_STRICT_ERR_LEN];

	BAD("{\"action\":\"drop\",\"action\":\"allow\"}", "duplicate key \"action\" at byte 17");
	BAD("{\"a\":{\"b\":1,\"b\":2}}", "duplicate key \"b\" at byte 12");
	BAD("{\"a\":[{\"x\":1},{\"c\":[{\"d\":1,\"e\":2,\"d\":3}]}]}",
	    "duplicate key \"d\" at byte 33");
	BAD("[[[{\"k\":1,\"k\":1}]]]", "duplicate key \"k\"");
	/* after a nested value, the outer object still knows its keys */
	BAD("{\"a\":{\"z\":1},\"b\":2,\"a\":3}", "duplicate key \"a\" at byte 19");
	/* keys compare decoded: escapes and raw UTF-8 name the same key */
	BAD("{\"action\":1,\"\\u0061ction\":2}", "duplicate key \"action\" at byte 12");
	BAD("{\"a/b\":1,\"a\\/b\":2}", "duplicate key \"a/b\"");
	BAD("{\"\xc3\xa9\":1,\"\\u00E9\":2}", "duplicate key \"??\"");
	BAD("{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}", "duplicate key");
	BAD("{\"\":1,\"\":2}", "duplicate key \"\" at byte 6");
	/* a key json-c would cut at the NUL, merging it with another */
	BAD("{\"a\\u0000b\":1,\"a\\u0000c\":2}", "\\u0000 in a key at byte 3");
	/* the key is quoted safely, and cut */
	CHECK(parse("{\"x\\\"y\\\\z\\n\":1,\"x\\\"y\\\\z\\n\":2}", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "duplicate key \"x?y?z \" at byte 15") != NULL);
	CHECK(parse("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1,"
		    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":2}",
		    err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "aaa...\" at byte 70") != NULL);
}

static void test_many_keys(void)
{
	size_t n = 100000, i, len = 0;
	char *text = malloc(n * 16 + 16), err[JSON_STRICT_ERR_LEN];
	struct json_object *o;

	if (!text) {
		CHECK(0);
		return;
	}
	text[len++] = '{';
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	text[len++] = '}';
	CHECK(json_strict_parse(text, len, json_type_object, NULL, &o, err, sizeof(err)) == 0);
	CHECK(o && json_object_object_length(o) == (int)n);
	json_object_put(o);
	/* the last key repeats the first */
	len--;
	len += (size_t)sprintf(text + len, ",\"k0\":1}");
	CHECK(json_strict_parse(text, len, json_type_object, NULL, &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "duplicate key \"k0\"") != NULL);
	free(text);
}

static void test_syntax(void)
{
	BAD("", "empty: no JSON value");
	BAD(" \t\r\n ", "empty: no JSON value");
	BAD("{} x", "unexpected data after the JSON value at byte 3");
	BAD("{}{}", "unexpected data after the JSON value at byte 2");
	BAD("1 2", "unexpected data after the JSON value at byte 2");
	BAD("\"a\" \"b\"", "unexpected data after the JSON value at byte 4");
	BAD("{\"a\":1", "truncated JSON at byte 6");
	BAD("{\"a\":\"xy", "truncated JSON at byte 8");
	BAD("[1,", "truncated JSON");
	BAD("tru", "truncated JSON");
	BAD("\"\\", "truncated JSON");
	BAD("{'a':1}", "invalid JSON at byte 1: expected a string key (found ''')");
	BAD("{\"a\":1,}", "invalid JSON at byte 7: expected a string key (found '}')");
	BAD("[1,]", "invalid JSON at byte 3: expected a JSON value");
	BAD("{\"a\" 1}", "expected ':' after the key");
	BAD("{\"a\":1 \"b\":2}", "expected ',' or '}'");
	BAD("[1 2]", "expected ',' or ']'");
	BAD("{a:1}", "expected a string key");
	/* what json-c alone lets through */
	BAD("[NaN]", "expected a JSON value (found 'N')");
	BAD("[Infinity]", "expected a JSON value");
	BAD("[-Infinity]", "a digit must follow '-'");
	BAD("[1.]", "a digit must follow '.'");
	BAD("[1e]", "a digit must follow the exponent");
	BAD("[01]", "expected ',' or ']'");
	BAD("[+1]", "expected a JSON value");
	BAD("[.5]", "expected a JSON value");
	BAD("[True]", "expected a JSON value");
	BAD("/*c*/{}", "expected a JSON value");
	BAD("{\"a\":\"x\ty\"}", "control character 0x09 in a string at byte 7");
	BAD("{\"a\":\"x\ny\"}", "control character 0x0a");
	BAD("\"\\x41\"", "bad escape");
	BAD("\"\\u12\"", "\\u needs four hex digits");
	BAD("\"\\ud800\"", "unpaired surrogate \\ud800 at byte 1");
	BAD("\"\\udc00\"", "unpaired surrogate \\udc00");
	BAD("\"\\ud800\\u0041\"", "unpaired surrogate \\ud800");
	/* a byte that is not ASCII outside a string */
	BAD("[\xc3\xa9]", "expected a JSON value (found byte 0xc3)");
}

static void test_nul_utf8(void)
{
	expect_bad("{\"a\":\"x\0y\"}", 11, "contains a NUL byte at byte 7");
	expect_bad("{}\0", 3, "contains a NUL byte at byte 2");
	expect_bad("\0", 1, "contains a NUL byte at byte 0");
	BAD("\"\xc0\x80\"", "invalid UTF-8 at byte 1"); /* overlong NUL */
	BAD("\"\xe0\x80\xaf\"", "invalid UTF-8 at byte 1"); /* overlong '/' */
	BAD("\"\xed\xa0\x80\"", "invalid UTF-8 at byte 1"); /* a surrogate */
	BAD("\"\xf4\x90\x80\x80\"", "invalid UTF-8 at byte 1"); /* above U+10FFFF */
	BAD("\"\xf5\x80\x80\x80\"", "invalid UTF-8"); /* no such lead byte */
	BAD("\"\x80\"", "invalid UTF-8"); /* a lone continuation byte */
	BAD("\"ab\xc3\"", "invalid UTF-8 at byte 3"); /* cut short */
	BAD("\"\xe2\x82\"", "invalid UTF-8"); /* cut short inside the string */
	BAD("{\"\xff\":1}", "invalid UTF-8 at byte 2"); /* in a key too */
	expect_ok("\"\xed\x9f\xbf \xee\x80\x80 \xf4\x8f\xbf\xbf \xc2\x80\""); /* the edges */
}

/* @n arrays inside each other, as text. */
static char *nested(unsigned int n)
{
	char *t = malloc(2 * n + 1);
	unsigned int i;

	if (!t)
		exit(1);
	for (i = 0; i < n; i++) {
		t[i] = '[';
		t[2 * n - 1 - i] = ']';
	}
	t[2 * n] = '\0';
	return t;
}

static void test_limits(void)
{
	struct json_strict_limits lim = { .max_depth = 3 };
	char err[JSON_STRICT_ERR_LEN], *t;
	struct json_object *o;

	CHECK(json_strict_parse("{\"a\":[{}]}", 10, JSON_STRICT_ANY, &lim, &o, err, sizeof(err)) ==
	      0);
	json_object_put(o);
	CHECK(json_strict_parse("{\"a\":[{\"b\":[]}]}", 16, JSON_STRICT_ANY, &lim, &o, err,
				sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "nested deeper than 3 levels at byte 11") != NULL);

	/* the default: JSON_STRICT_MAX_DEPTH */
	t = nested(JSON_STRICT_MAX_DEPTH);
	expect_ok(t);
	free(t);
	t = nested(JSON_STRICT_MAX_DEPTH + 1);
	BAD(t, "nested deeper than 16 levels at byte 16");
	free(t);
	/* the cap, which json-c must build too */
	lim.max_depth = JSON_STRICT_DEPTH_CAP;
	t = nested(JSON_STRICT_DEPTH_CAP);
	CHECK(json_strict_parse(t, strlen(t), json_type_array, &lim, &o, err, sizeof(err)) == 0);
	json_object_put(o);
	free(t);
	lim.max_depth = 1000; /* more than the cap: capped */
	t = nested(JSON_STRICT_DEPTH_CAP + 1);
	CHECK(json_strict_parse(t, strlen(t), json_type_array, &lim, &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "nested deeper than 64 levels") != NULL);
	free(t);

	lim = (struct json_strict_limits){ .max_bytes = 8 };
	CHECK(json_strict_parse("[1,2,3] ", 8, JSON_STRICT_ANY, &lim, &o, err, sizeof(err)) == 0);
	json_object_put(o);
	CHECK(json_strict_parse("[1,2,3]  ", 9, JSON_STRICT_ANY, &lim, &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "9 bytes, more than the limit of 8") != NULL);
}

static void test_type(void)
{
	char err[JSON_STRICT_ERR_LEN];
	struct json_object *o = (struct json_object *)0x1;

	CHECK(json_strict_parse("[]", 2, json_type_object, NULL, &o, err, sizeof(err)) == -EINVAL);
	CHECK(o == NULL && !strcmp(err, "must be a JSON object, not a JSON array"));
	CHECK(json_strict_parse("null", 4, json_type_object, NULL, &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(!strcmp(err, "must be a JSON object, not null"));
	CHECK(json_strict_parse("\"x\"", 3, json_type_array, NULL, &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(!strcmp(err, "must be a JSON array, not a JSON string"));
	CHECK(json_strict_parse("true", 4, json_type_string, NULL, &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(!strcmp(err, "must be a JSON string, not true or false"));
	CHECK(json_strict_parse("7", 1, json_type_object, NULL, &o, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(err, "must be a JSON object, not a JSON number"));
	/* a short buffer is cut and terminated */
	CHECK(json_strict_parse("[]", 2, json_type_object, NULL, &o, err, 5) == -EINVAL);
	CHECK(!strcmp(err, "must"));
	CHECK(json_strict_parse("[]", 2, json_type_object, NULL, &o, NULL, 0) == -EINVAL);
}

static void test_errmsg(void)
{
	char b[16];

	CHECK(errmsg_inval(b, sizeof(b), "%s: %d", "x", 5) == -EINVAL && !strcmp(b, "x: 5"));
	CHECK(errmsg_set(b, sizeof(b), -ENOMEM, "out of %s", "memory") == -ENOMEM &&
	      !strcmp(b, "out of memory"));
	CHECK(errmsg_set(b, 4, -EIO, "abcdef") == -EIO && !strcmp(b, "abc"));
	CHECK(errmsg_inval(NULL, 0, "nothing") == -EINVAL);
	CHECK(!strcmp(errmsg_excerpt(b, sizeof(b), "a\"b\\c\td\x01\xc3\xa9", 10), "a?b?c d???"));
	CHECK(!strcmp(errmsg_excerpt(b, sizeof(b), "0123456789abcdefXYZ", 19), "0123456789ab..."));
	CHECK(!strcmp(errmsg_excerpt(b, sizeof(b), "0123456789abcde", 15), "0123456789abcde"));
	CHECK(!strcmp(errmsg_excerpt(b, sizeof(b), "a\0b", 3), "a?b"));
	CHECK(!strcmp(errmsg_excerpt(b, 3, "abcdef", 6), "ab"));
}

int main(void)
{
	test_good();
	test_duplicates();
	test_many_keys();
	test_syntax();
	test_nul_utf8();
	test_limits();
	test_type();
	test_errmsg();
	return check_report("test_json_strict");
}
