// SPDX-License-Identifier: GPL-2.0
/*
 * Filter rules: the JSON codec (strict parse, partial update, canonical
 * output), validation of the invariants listed in rule.h, and the
 * reference matcher used by tests as an oracle for the kernel.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "errmsg.h"
#include "json_strict.h"
#include "rule.h"

/* 9999-12-31T23:59:59Z: the last instant RFC 3339 can write. */
#define RULE_EXPIRES_MAX 253402300799ull

/* Bits of the fields a body carried. */
enum {
	F_ID = 1u << 0,
	F_TYPE = 1u << 1,
	F_PROTOCOL = 1u << 2,
	F_SRC_IP = 1u << 3,
	F_DST_IP = 1u << 4,
	F_SRC_PORT = 1u << 5,
	F_DST_PORT = 1u << 6,
	F_TCP_FLAGS = 1u << 7,
	F_TCP_MASK = 1u << 8,
	F_ICMP_TYPE = 1u << 9,
	F_ICMP_CODE = 1u << 10,
	F_INNER_SRC_IP = 1u << 11,
	F_INNER_DST_IP = 1u << 12,
	F_INNER_PROTOCOL = 1u << 13,
	F_INNER_SRC_PORT = 1u << 14,
	F_INNER_DST_PORT = 1u << 15,
	F_ACTION = 1u << 16,
	F_ENABLED = 1u << 17,
	F_PRIORITY = 1u << 18,
	F_EXPIRES = 1u << 19,
	F_COMMENT = 1u << 20,
	F_FORCE = 1u << 21,
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Both ways: the output names and what the parser accepts. */
static const char *const type_names[] = {
	[RULE_TYPE_BASIC] = "basic",
	[RULE_TYPE_ICMP] = "icmp",
	[RULE_TYPE_TCP] = "tcp",
	[RULE_TYPE_UDP] = "udp",
};
static const char *const action_names[] = {
	[RULE_ACTION_ALLOW] = "allow",
	[RULE_ACTION_DROP] = "drop",
};

/* The index of @s in @names[0..@n), or -1. */
static int name_index(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

const char *rule_type_name(enum rule_type t)
{
	return (unsigned int)t < N_OF(type_names) ? type_names[t] : "?";
}

const char *rule_action_name(enum rule_action a)
{
	return (unsigned int)a < N_OF(action_names) ? action_names[a] : "?";
}

const char *rule_proto_name(__u8 proto)
{
	return proto == RULE_PROTO_ANY ? "any" : net_proto_name(proto);
}

static bool proto_known(__u8 p)
{
	return p == RULE_PROTO_ANY || p == RULE_PROTO_TCP || p == RULE_PROTO_UDP ||
	       p == RULE_PROTO_ICMP || p == RULE_PROTO_ICMPV6;
}

void rule_init(struct rule *r)
{
	memset(r, 0, sizeof(*r));
	r->type = RULE_TYPE_BASIC;
	r->protocol = RULE_PROTO_ANY;
	r->icmp_type = RULE_ICMP_ANY;
	r->icmp_code = RULE_ICMP_ANY;
	r->action = RULE_ACTION_DROP;
	r->enabled = false;
	r->priority = RULE_PRIORITY_DEFAULT;
}

/* ---- addresses ---- */

/* No condition in effect: any, 0.0.0.0/0 or ::/0. */
static bool addr_is_wild(const struct net_prefix *a)
{
	return a->family == 0 || (a->family == 4 && a->prefix == 96) ||
	       (a->family == 6 && a->prefix == 0);
}

int rule_addr_parse(const char *field, const char *s, struct net_prefix *out, char *err,
		    size_t errlen)
{
	char why[NET_ERR_LEN];

	memset(out, 0, sizeof(*out));
	if (s[0] == '\0' || strcmp(s, "any") == 0)
		return 0;
	if (net_parse(s, NET_PARSE_MASK | NET_PARSE_NO_MAPPED, out, why, sizeof(why)))
		return errmsg_inval(err, errlen, "%s: %s", field, why);
	return 0;
}

/* Whether a packet address of @family is inside @a ("::/0" is not IPv4). */
static bool addr_match(const struct net_prefix *a, const __u32 addr[4], __u8 family)
{
	return a->family == 0 || (a->family == family && net_contains(a, addr));
}

/* ---- ports ---- */

static bool ports_any(const struct rule_ports *p)
{
	return p->lo == 0 && p->hi == 0;
}

static bool ports_match(const struct rule_ports *p, __u16 port)
{
	return ports_any(p) || (port >= p->lo && port <= p->hi);
}

static int ports_format(const struct rule_ports *p, char *buf, size_t len)
{
	if (p->lo == p->hi)
		return snprintf(buf, len, "%u", p->lo);
	return snprintf(buf, len, "%u-%u", p->lo, p->hi);
}

/* "53", "1000-2000": digits only, each 0..65535. */
static int parse_port_text(const char *field, const char *s, struct rule_ports *out, char *err,
			   size_t errlen)
{
	unsigned long v[2] = { 0, 0 };
	const char *p = s;
	int i, n = 0;

	for (i = 0; i < 2; i++) {
		int digits = 0;

		v[i] = 0;
		while (*p >= '0' && *p <= '9') {
			if (++digits > 5)
				goto bad;
			v[i] = v[i] * 10 + (unsigned long)(*p - '0');
			p++;
		}
		if (!digits)
			goto bad;
		n++;
		if (*p != '-')
			break;
		p++;
	}
	if (*p != '\0')
		goto bad;
	if (v[0] > 65535 || (n == 2 && v[1] > 65535))
		return errmsg_inval(err, errlen, "%s: \"%.32s\" is out of range (0..65535)", field,
				    s);
	if (n == 1)
		v[1] = v[0];
	if (v[0] > v[1])
		return errmsg_inval(err, errlen, "%s: range \"%.32s\" starts above its end", field,
				    s);
	out->lo = (__u16)v[0];
	out->hi = (__u16)v[1];
	/* One form for "any": 0 and 0-65535 mean every port. */
	if ((out->lo == 0 && out->hi == 0) || (out->lo == 0 && out->hi == 65535))
		out->lo = out->hi = 0;
	return 0;
bad:
	return errmsg_inval(err, errlen,
			    "%s: \"%.32s\" is not a port (0..65535) or a range \"low-high\"", field,
			    s);
}

/* ---- text checks ---- */

/*
 * Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and no control
 * characters (C0, DEL, C1): a comment ends up in logs and terminals.
 */
static const char *text_problem(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned int c = s[i], cp, need, k;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return "contains a control character";
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return "is not valid UTF-8";
		}
		if (i + need >= len)
			return "is not valid UTF-8";
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return "is not valid UTF-8";
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return "is not valid UTF-8";
		if (cp >= 0x80 && cp <= 0x9f)
			return "contains a control character";
		i += need + 1;
	}
	return NULL;
}

/* ---- time ---- */

static int format_rfc3339_s(__u64 t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -EINVAL;
	return 0;
}

static int two(const char *p)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/*
 * RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM); the
 * fraction is dropped (rules expire on whole seconds).
 */
static int parse_rfc3339(const char *s, __u64 *out)
{
	int year, mon, day, hh, mm, ss, off = 0, i;
	const char *p;
	struct tm tm, chk;
	time_t t;

	if (strlen(s) < 20)
		return -EINVAL;
	for (i = 0; i < 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':')
		return -EINVAL;
	mon = two(s + 5);
	day = two(s + 8);
	hh = two(s + 11);
	mm = two(s + 14);
	ss = two(s + 17);
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
	    ss < 0 || ss > 60)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;

		/* Step by step: never read past a terminator. */
		oh = two(p + 1);
		if (oh < 0 || oh > 23 || p[3] != ':')
			return -EINVAL;
		om = two(p + 4);
		if (om < 0 || om > 59)
			return -EINVAL;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss == 60 ? 59 : ss; /* a leap second: the second before */
	t = timegm(&tm);
	/* timegm normalises Feb 30 into March: refuse dates that moved. */
	if (t == (time_t)-1 || !gmtime_r(&t, &chk) || chk.tm_mday != day || chk.tm_mon != mon - 1)
		return -EINVAL;
	t -= off;
	if (t <= 0)
		return -ERANGE;
	*out = (__u64)t;
	return 0;
}

/* ---- JSON field parsers ---- */

static int get_int(const char *field, struct json_object *v, int64_t lo, int64_t hi, int64_t *out,
		   char *err, size_t errlen)
{
	int64_t x;

	*out = 0;
	if (!json_object_is_type(v, json_type_int))
		return errmsg_inval(err, errlen, "%s: must be an integer (%lld..%lld)", field,
				    (long long)lo, (long long)hi);
	x = json_object_get_int64(v);
	/* A uint64 above INT64_MAX reads as INT64_MAX: out of range too. */
	if (x < lo || x > hi)
		return errmsg_inval(err, errlen, "%s: %s is out of range (%lld..%lld)", field,
				    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
				    (long long)lo, (long long)hi);
	*out = x;
	return 0;
}

static int get_string(const char *field, struct json_object *v, const char **out, size_t *len,
		      char *err, size_t errlen)
{
	/* Outputs are always written, so no caller reads them unset. */
	*out = "";
	*len = 0;
	if (!json_object_is_type(v, json_type_string))
		return errmsg_inval(err, errlen, "%s: must be a string", field);
	*out = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	if (strlen(*out) != *len)
		return errmsg_inval(err, errlen, "%s: contains a NUL character", field);
	return 0;
}

static int get_addr(const char *field, struct json_object *v, struct net_prefix *out, char *err,
		    size_t errlen)
{
	const char *s;
	size_t len;
	int rc;

	rc = get_string(field, v, &s, &len, err, errlen);
	if (rc)
		return rc;
	return rule_addr_parse(field, s, out, err, errlen);
}

static int get_ports(const char *field, struct json_object *v, struct rule_ports *out, char *err,
		     size_t errlen)
{
	const char *s;
	size_t len;
	int64_t x;
	int rc;

	if (json_object_is_type(v, json_type_string)) {
		rc = get_string(field, v, &s, &len, err, errlen);
		if (rc)
			return rc;
		return parse_port_text(field, s, out, err, errlen);
	}
	if (!json_object_is_type(v, json_type_int))
		return errmsg_inval(err, errlen,
				    "%s: must be a port number (0 = any) or a string \"low-high\"",
				    field);
	rc = get_int(field, v, 0, 65535, &x, err, errlen);
	if (rc)
		return rc;
	out->lo = out->hi = (__u16)x;
	return 0;
}

static int get_proto(const char *field, struct json_object *v, __u8 *out, char *err, size_t errlen)
{
	const char *s;
	size_t len;
	__u8 p;
	int rc;

	rc = get_string(field, v, &s, &len, err, errlen);
	if (rc)
		return rc;
	if (len == 0 || strcmp(s, "any") == 0) {
		*out = RULE_PROTO_ANY;
		return 0;
	}
	/* Names only: a number would make "6" and "tcp" two spellings. */
	if (net_proto_parse(s, len, 0, &p) == 0 && p != RULE_PROTO_ANY && proto_known(p)) {
		*out = p;
		return 0;
	}
	return errmsg_inval(err, errlen, "%s: \"%.32s\" is not one of tcp, udp, icmp, icmpv6, any",
			    field, s);
}

static int get_bool(const char *field, struct json_object *v, bool *out, char *err, size_t errlen)
{
	if (!json_object_is_type(v, json_type_boolean))
		return errmsg_inval(err, errlen, "%s: must be true or false", field);
	*out = json_object_get_boolean(v);
	return 0;
}

enum field_kind { K_U8, K_BOOL, K_PROTO, K_ADDR, K_PORTS };

/* The fields read by their kind alone: where each goes. */
static const struct plain_field {
	const char *name;
	unsigned int bit;
	enum field_kind kind;
	size_t off;
} plain_fields[] = {
	{ "protocol", F_PROTOCOL, K_PROTO, offsetof(struct rule, protocol) },
	{ "src_ip", F_SRC_IP, K_ADDR, offsetof(struct rule, src) },
	{ "dst_ip", F_DST_IP, K_ADDR, offsetof(struct rule, dst) },
	{ "src_port", F_SRC_PORT, K_PORTS, offsetof(struct rule, sport) },
	{ "dst_port", F_DST_PORT, K_PORTS, offsetof(struct rule, dport) },
	{ "tcp_flags", F_TCP_FLAGS, K_U8, offsetof(struct rule, tcp_flags) },
	{ "tcp_flags_mask", F_TCP_MASK, K_U8, offsetof(struct rule, tcp_flags_mask) },
	{ "icmp_type", F_ICMP_TYPE, K_U8, offsetof(struct rule, icmp_type) },
	{ "icmp_code", F_ICMP_CODE, K_U8, offsetof(struct rule, icmp_code) },
	{ "inner_src_ip", F_INNER_SRC_IP, K_ADDR, offsetof(struct rule, inner_src) },
	{ "inner_dst_ip", F_INNER_DST_IP, K_ADDR, offsetof(struct rule, inner_dst) },
	{ "inner_protocol", F_INNER_PROTOCOL, K_PROTO, offsetof(struct rule, inner_protocol) },
	{ "inner_src_port", F_INNER_SRC_PORT, K_PORTS, offsetof(struct rule, inner_sport) },
	{ "inner_dst_port", F_INNER_DST_PORT, K_PORTS, offsetof(struct rule, inner_dport) },
	{ "enabled", F_ENABLED, K_BOOL, offsetof(struct rule, enabled) },
};

static const struct plain_field *plain_field_of(const char *name)
{
	size_t i;

	for (i = 0; i < N_OF(plain_fields); i++)
		if (strcmp(plain_fields[i].name, name) == 0)
			return &plain_fields[i];
	return NULL;
}

static int get_plain(const struct plain_field *f, struct json_object *v, struct rule *r, char *err,
		     size_t errlen)
{
	void *p = (char *)r + f->off;
	int64_t x;
	int rc;

	switch (f->kind) {
	case K_U8:
		rc = get_int(f->name, v, 0, 255, &x, err, errlen);
		if (!rc)
			*(__u8 *)p = (__u8)x;
		return rc;
	case K_BOOL:
		return get_bool(f->name, v, p, err, errlen);
	case K_PROTO:
		return get_proto(f->name, v, p, err, errlen);
	case K_ADDR:
		return get_addr(f->name, v, p, err, errlen);
	case K_PORTS:
		return get_ports(f->name, v, p, err, errlen);
	}
	return errmsg_inval(err, errlen, "%s: unknown kind", f->name);
}

/*
 * Apply every field of @obj onto @r, recording which were present in
 * *@seen. No cross-field checks here: rule_validate() sees the result.
 */
static int apply_fields(struct json_object *obj, struct rule *r, unsigned int allowed,
			unsigned int *seen, bool *force, char *err, size_t errlen)
{
	struct json_object_iterator it, end;
	int64_t x;
	int rc = 0;

	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *k = json_object_iter_peek_name(&it);
		struct json_object *v = json_object_iter_peek_value(&it);
		const struct plain_field *pf = plain_field_of(k);
		unsigned int bit;

		if (pf) {
			bit = pf->bit;
			rc = get_plain(pf, v, r, err, errlen);
		} else if (strcmp(k, "id") == 0) {
			bit = F_ID;
			rc = get_int(k, v, 0, RULE_ID_MAX, &x, err, errlen);
			if (!rc)
				r->id = (__u32)x;
		} else if (strcmp(k, "rule_type") == 0) {
			const char *s;
			size_t len;
			int t;

			bit = F_TYPE;
			rc = get_string(k, v, &s, &len, err, errlen);
			if (rc)
				break;
			t = name_index(type_names, N_OF(type_names), s);
			if (t < 0)
				rc = errmsg_inval(
					err, errlen,
					"rule_type: \"%.32s\" is not one of basic, icmp, tcp, udp",
					s);
			else
				r->type = (enum rule_type)t;
		} else if (strcmp(k, "action") == 0) {
			const char *s;
			size_t len;
			int a;

			bit = F_ACTION;
			if (!json_object_is_type(v, json_type_string)) {
				rc = errmsg_inval(err, errlen,
						  "action: must be \"allow\" or \"drop\"");
				break;
			}
			rc = get_string(k, v, &s, &len, err, errlen);
			if (rc)
				break;
			a = name_index(action_names, N_OF(action_names), s);
			if (a < 0)
				rc = errmsg_inval(err, errlen,
						  "action: \"%.32s\" is not \"allow\" or \"drop\"",
						  s);
			else
				r->action = (enum rule_action)a;
		} else if (strcmp(k, "priority") == 0) {
			bit = F_PRIORITY;
			rc = get_int(k, v, RULE_PRIORITY_MIN, RULE_PRIORITY_MAX, &x, err, errlen);
			if (!rc)
				r->priority = (__s32)x;
		} else if (strcmp(k, "expires_at") == 0) {
			bit = F_EXPIRES;
			if (!v) {
				r->expires_at = 0;
			} else if (json_object_is_type(v, json_type_int)) {
				/* 0 = never, as in struct rule */
				rc = get_int(k, v, 0, (int64_t)RULE_EXPIRES_MAX, &x, err, errlen);
				if (!rc)
					r->expires_at = (__u64)x;
			} else if (json_object_is_type(v, json_type_string)) {
				const char *s;
				size_t len;

				rc = get_string(k, v, &s, &len, err, errlen);
				if (!rc && parse_rfc3339(s, &r->expires_at))
					rc = errmsg_inval(
						err, errlen,
						"expires_at: \"%.40s\" is not an RFC 3339 time "
						"(2026-12-31T23:59:59Z)",
						s);
			} else {
				rc = errmsg_inval(
					err, errlen,
					"expires_at: must be an RFC 3339 string, unix seconds or "
					"null");
			}
		} else if (strcmp(k, "comment") == 0) {
			const char *s, *why;
			size_t len;

			bit = F_COMMENT;
			rc = get_string(k, v, &s, &len, err, errlen);
			if (rc)
				break;
			if (len > RULE_COMMENT_MAX) {
				rc = errmsg_inval(err, errlen,
						  "comment: %zu bytes is over the limit of %d", len,
						  RULE_COMMENT_MAX);
				break;
			}
			why = text_problem((const unsigned char *)s, len);
			if (why) {
				rc = errmsg_inval(err, errlen, "comment: %s", why);
				break;
			}
			memset(r->comment, 0, sizeof(r->comment));
			memcpy(r->comment, s, len);
		} else if (strcmp(k, "force") == 0 && (allowed & F_FORCE)) {
			bool b = false;

			bit = F_FORCE;
			rc = get_bool(k, v, &b, err, errlen);
			if (!rc && force)
				*force = b;
		} else {
			rc = errmsg_inval(err, errlen, "%.64s: unknown field", k);
			break;
		}
		if (rc)
			break;
		/* A null anywhere else than expires_at is a type error above. */
		*seen |= bit;
	}
	return rc;
}

/* The protocol a rule of type @r->type gets when the body names none. */
static __u8 default_protocol(const struct rule *r, __u8 basic_proto)
{
	switch (r->type) {
	case RULE_TYPE_TCP:
		return RULE_PROTO_TCP;
	case RULE_TYPE_UDP:
		return RULE_PROTO_UDP;
	case RULE_TYPE_ICMP:
		if (r->src.family == 6 || r->dst.family == 6 || r->inner_src.family == 6 ||
		    r->inner_dst.family == 6)
			return RULE_PROTO_ICMPV6;
		return RULE_PROTO_ICMP;
	case RULE_TYPE_BASIC:
		break;
	}
	return basic_proto;
}

static void fill_defaults(struct rule *r, unsigned int seen, bool patch, __u8 old_proto)
{
	bool derive = false;

	if (!patch && !(seen & F_PROTOCOL))
		derive = true;
	if (patch && (seen & F_TYPE) && !(seen & F_PROTOCOL))
		derive = true;
	/* "any" on a typed rule means "whatever the type allows". */
	if ((seen & F_PROTOCOL) && r->protocol == RULE_PROTO_ANY && r->type != RULE_TYPE_BASIC)
		derive = true;
	if (derive)
		r->protocol = default_protocol(r, patch ? old_proto : RULE_PROTO_ANY);
	if ((seen & F_TCP_FLAGS) && !(seen & F_TCP_MASK))
		r->tcp_flags_mask = r->tcp_flags;
}

static bool icmp_is_error(__u8 proto, __u8 type)
{
	if (proto == RULE_PROTO_ICMP)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

static bool has_inner(const struct rule *r)
{
	return r->inner_src.family || r->inner_dst.family || r->inner_protocol ||
	       !ports_any(&r->inner_sport) || !ports_any(&r->inner_dport);
}

static int check_addr(const char *field, const struct net_prefix *a, char *err, size_t errlen)
{
	struct net_prefix m;

	if (a->pad[0] || a->pad[1])
		return errmsg_inval(err, errlen, "%s: padding bytes are not zero", field);
	if (a->family == 0) {
		if (a->prefix || a->addr[0] || a->addr[1] || a->addr[2] || a->addr[3])
			return errmsg_inval(err, errlen, "%s: \"any\" with an address or prefix",
					    field);
		return 0;
	}
	if (a->family == 4) {
		if (a->prefix < 96 || a->prefix > 128 || !net_addr_is_v4(a->addr))
			return errmsg_inval(err, errlen,
					    "%s: not an IPv4-mapped address with /96+n", field);
	} else if (a->family == 6) {
		if (a->prefix > 128)
			return errmsg_inval(err, errlen, "%s: prefix over 128", field);
		if (a->prefix >= 96 && net_addr_is_v4(a->addr))
			return errmsg_inval(err, errlen, "%s: IPv4-mapped IPv6 address", field);
	} else {
		return errmsg_inval(err, errlen, "%s: family %u is not 0, 4 or 6", field,
				    a->family);
	}
	m = *a;
	net_mask(&m);
	if (memcmp(m.addr, a->addr, sizeof(m.addr)))
		return errmsg_inval(err, errlen, "%s: host bits set beyond the prefix", field);
	return 0;
}

static int check_ports(const char *field, const struct rule_ports *p, char *err, size_t errlen)
{
	if (p->lo > p->hi)
		return errmsg_inval(err, errlen, "%s: range starts above its end", field);
	if (p->lo == 0 && p->hi == 65535)
		return errmsg_inval(err, errlen, "%s: 0-65535 must be written 0 (any)", field);
	return 0;
}

/* The address family a rule's addresses imply: 0 none, 4 or 6. */
static int family_of(const struct net_prefix *a, const struct net_prefix *b, const char *fa,
		     const char *fb, __u8 *fam, char *err, size_t errlen)
{
	*fam = a->family ? a->family : b->family;
	if (a->family && b->family && a->family != b->family)
		return errmsg_inval(err, errlen, "%s: an IPv%u address with an IPv%u %s", fb,
				    b->family, a->family, fa);
	return 0;
}

int rule_validate(const struct rule *r, char *err, size_t errlen)
{
	static const char *const addr_fields[4] = { "src_ip", "dst_ip", "inner_src_ip",
						    "inner_dst_ip" };
	static const char *const port_fields[4] = { "src_port", "dst_port", "inner_src_port",
						    "inner_dst_port" };
	const struct net_prefix *addrs[4] = { &r->src, &r->dst, &r->inner_src, &r->inner_dst };
	const struct rule_ports *ports[4] = { &r->sport, &r->dport, &r->inner_sport,
					      &r->inner_dport };
	bool tcp = r->protocol == RULE_PROTO_TCP, udp = r->protocol == RULE_PROTO_UDP;
	bool icmp = r->protocol == RULE_PROTO_ICMP || r->protocol == RULE_PROTO_ICMPV6;
	__u8 fam, ifam;
	size_t clen;
	const char *why;
	int i, rc;

	if (r->id > RULE_ID_MAX)
		return errmsg_inval(err, errlen, "id: %u is out of range (0..%u)", r->id,
				    RULE_ID_MAX);
	if (r->type > RULE_TYPE_UDP)
		return errmsg_inval(err, errlen, "rule_type: unknown value %d", (int)r->type);
	if (r->action != RULE_ACTION_ALLOW && r->action != RULE_ACTION_DROP)
		return errmsg_inval(err, errlen, "action: unknown value %d", (int)r->action);
	if (r->priority < RULE_PRIORITY_MIN || r->priority > RULE_PRIORITY_MAX)
		return errmsg_inval(err, errlen, "priority: %d is out of range (%d..%d)",
				    r->priority, RULE_PRIORITY_MIN, RULE_PRIORITY_MAX);
	if (r->expires_at > RULE_EXPIRES_MAX)
		return errmsg_inval(err, errlen, "expires_at: after year 9999");
	if (!proto_known(r->protocol))
		return errmsg_inval(err, errlen, "protocol: unknown value %u", r->protocol);
	if (!proto_known(r->inner_protocol))
		return errmsg_inval(err, errlen, "inner_protocol: unknown value %u",
				    r->inner_protocol);

	/* The type restricts the protocol: a tcp rule never matches UDP. */
	if ((r->type == RULE_TYPE_TCP && !tcp) || (r->type == RULE_TYPE_UDP && !udp) ||
	    (r->type == RULE_TYPE_ICMP && !icmp))
		return errmsg_inval(
			err, errlen, "protocol: %s does not fit rule_type %s (use %s or omit it)",
			rule_proto_name(r->protocol), rule_type_name(r->type),
			r->type == RULE_TYPE_ICMP ? "icmp, icmpv6" : rule_type_name(r->type));

	for (i = 0; i < 4; i++) {
		rc = check_addr(addr_fields[i], addrs[i], err, errlen);
		if (rc)
			return rc;
		rc = check_ports(port_fields[i], ports[i], err, errlen);
		if (rc)
			return rc;
	}
	rc = family_of(&r->src, &r->dst, "src_ip", "dst_ip", &fam, err, errlen);
	if (rc)
		return rc;
	rc = family_of(&r->inner_src, &r->inner_dst, "inner_src_ip", "inner_dst_ip", &ifam, err,
		       errlen);
	if (rc)
		return rc;
	if (r->protocol == RULE_PROTO_ICMP && fam == 6)
		return errmsg_inval(
			err, errlen,
			"protocol: icmp is ICMP over IPv4 and cannot match IPv6 %s; use icmpv6",
			r->src.family == 6 ? "src_ip" : "dst_ip");
	if (r->protocol == RULE_PROTO_ICMPV6 && fam == 4)
		return errmsg_inval(err, errlen, "protocol: icmpv6 cannot match IPv4 %s; use icmp",
				    r->src.family == 4 ? "src_ip" : "dst_ip");

	/* Ports exist only in TCP and UDP headers. */
	if (!tcp && !udp) {
		for (i = 0; i < 2; i++)
			if (!ports_any(ports[i]))
				return errmsg_inval(
					err, errlen,
					"%s: ports need protocol tcp or udp (this rule: %s)",
					port_fields[i], rule_proto_name(r->protocol));
	}
	if (r->inner_protocol != RULE_PROTO_TCP && r->inner_protocol != RULE_PROTO_UDP) {
		for (i = 2; i < 4; i++)
			if (!ports_any(ports[i]))
				return errmsg_inval(
					err, errlen,
					"%s: inner ports need inner_protocol tcp or udp",
					port_fields[i]);
	}

	if ((r->tcp_flags || r->tcp_flags_mask) && !tcp)
		return errmsg_inval(err, errlen, "%s: TCP flags need protocol tcp (this rule: %s)",
				    r->tcp_flags ? "tcp_flags" : "tcp_flags_mask",
				    rule_proto_name(r->protocol));
	if (r->tcp_flags & ~r->tcp_flags_mask)
		return errmsg_inval(
			err, errlen,
			"tcp_flags: %u has bits outside tcp_flags_mask %u, it could never match",
			r->tcp_flags, r->tcp_flags_mask);

	if (!icmp && r->icmp_type != RULE_ICMP_ANY)
		return errmsg_inval(err, errlen, "icmp_type: only on icmp rules (this rule: %s)",
				    rule_proto_name(r->protocol));
	if (!icmp && r->icmp_code != RULE_ICMP_ANY)
		return errmsg_inval(err, errlen, "icmp_code: only on icmp rules (this rule: %s)",
				    rule_proto_name(r->protocol));

	if (has_inner(r)) {
		const char *f = r->inner_protocol	    ? "inner_protocol" :
				r->inner_src.family	    ? "inner_src_ip" :
				r->inner_dst.family	    ? "inner_dst_ip" :
				!ports_any(&r->inner_sport) ? "inner_src_port" :
							      "inner_dst_port";
		__u8 want = r->protocol == RULE_PROTO_ICMPV6 ? 6 : 4;

		if (!icmp)
			return errmsg_inval(
				err, errlen,
				"%s: inner fields only match ICMP error messages, so only on "
				"icmp rules (this rule: %s)",
				f, rule_proto_name(r->protocol));
		if (r->icmp_type != RULE_ICMP_ANY && !icmp_is_error(r->protocol, r->icmp_type))
			return errmsg_inval(
				err, errlen,
				"%s: inner fields only match ICMP error messages and icmp_type "
				"%u is not one (%s)",
				f, r->icmp_type,
				r->protocol == RULE_PROTO_ICMP ? "3, 4, 5, 11, 12" : "1, 2, 3, 4");
		if (ifam && ifam != want)
			return errmsg_inval(err, errlen,
					    "%s: an %s error quotes an IPv%u packet, not IPv%u",
					    r->inner_src.family ? "inner_src_ip" : "inner_dst_ip",
					    rule_proto_name(r->protocol), want, ifam);
		if ((r->inner_protocol == RULE_PROTO_ICMP && want != 4) ||
		    (r->inner_protocol == RULE_PROTO_ICMPV6 && want != 6))
			return errmsg_inval(
				err, errlen, "inner_protocol: %s cannot be quoted by an %s error",
				rule_proto_name(r->inner_protocol), rule_proto_name(r->protocol));
	}

	clen = strnlen(r->comment, sizeof(r->comment));
	if (clen > RULE_COMMENT_MAX)
		return errmsg_inval(err, errlen, "comment: not terminated within %d bytes",
				    RULE_COMMENT_MAX);
	why = text_problem((const unsigned char *)r->comment, clen);
	if (why)
		return errmsg_inval(err, errlen, "comment: %s", why);
	return 0;
}

static int finish(struct rule *r, unsigned int seen, unsigned int flags, char *err, size_t errlen)
{
	int rc;

	rc = rule_validate(r, err, errlen);
	if (rc)
		return rc;
	/* A new expiry in the past is a mistake; a stored one just went by. */
	if (!(flags & RULE_PARSE_STORED) && (seen & F_EXPIRES) && r->expires_at &&
	    r->expires_at <= (__u64)time(NULL)) {
		char when[32];

		if (format_rfc3339_s(r->expires_at, when, sizeof(when)))
			when[0] = '\0';
		return errmsg_inval(err, errlen, "expires_at: %s is not in the future", when);
	}
	return 0;
}

/*
 * What create and update share: a create starts from rule_init() and
 * needs "action", an update (@old) starts from @old and keeps its id.
 */
static int parse_body(struct json_object *obj, unsigned int flags, const struct rule *old,
		      struct rule *out, struct rule_parse_info *info, char *err, size_t errlen)
{
	unsigned int seen = 0;
	bool force = false;
	struct rule r;
	int rc;

	if (info)
		memset(info, 0, sizeof(*info));
	if (errlen)
		err[0] = '\0';
	if (!json_object_is_type(obj, json_type_object))
		return errmsg_inval(err, errlen, "body: must be a JSON object");
	if (old)
		r = *old;
	else
		rule_init(&r);
	rc = apply_fields(obj, &r, (flags & RULE_PARSE_STORED) ? 0 : F_FORCE, &seen, &force, err,
			  errlen);
	if (rc)
		return rc;
	if (old && (seen & F_ID) && r.id != old->id)
		return errmsg_inval(err, errlen, "id: %u does not match the rule's id %u", r.id,
				    old->id);
	if (!old && !(seen & F_ACTION))
		return errmsg_inval(err, errlen, "action: required (allow or drop)");
	if ((flags & RULE_PARSE_STORED) && !(seen & F_ID))
		return errmsg_inval(err, errlen, "id: required in a stored rule");
	fill_defaults(&r, seen, old != NULL, old ? old->protocol : RULE_PROTO_ANY);
	rc = finish(&r, seen, flags, err, errlen);
	if (rc)
		return rc;
	*out = r;
	if (info) {
		info->has_id = seen & F_ID;
		info->force = force;
	}
	return 0;
}

int rule_from_json(struct json_object *obj, unsigned int flags, struct rule *out,
		   struct rule_parse_info *info, char *err, size_t errlen)
{
	return parse_body(obj, flags, NULL, out, info, err, errlen);
}

int rule_patch_json(struct json_object *obj, const struct rule *old, struct rule *out,
		    struct rule_parse_info *info, char *err, size_t errlen)
{
	return parse_body(obj, 0, old, out, info, err, errlen);
}

/* parse_body() on JSON text. */
static int parse_body_text(const char *text, size_t len, unsigned int flags, const struct rule *old,
			   struct rule *out, struct rule_parse_info *info, char *err, size_t errlen)
{
	char why[JSON_STRICT_ERR_LEN];
	struct json_object *obj;
	int rc;

	if (info)
		memset(info, 0, sizeof(*info));
	rc = json_strict_parse(text, len, json_type_object, NULL, &obj, why, sizeof(why));
	if (rc)
		return errmsg_set(err, errlen, rc, "body: %s", why);
	rc = parse_body(obj, flags, old, out, info, err, errlen);
	json_object_put(obj);
	return rc;
}

int rule_from_json_str(const char *text, size_t len, unsigned int flags, struct rule *out,
		       struct rule_parse_info *info, char *err, size_t errlen)
{
	return parse_body_text(text, len, flags, NULL, out, info, err, errlen);
}

int rule_patch_json_str(const char *text, size_t len, const struct rule *old, struct rule *out,
			struct rule_parse_info *info, char *err, size_t errlen)
{
	return parse_body_text(text, len, 0, old, out, info, err, errlen);
}

/* ---- output ---- */

static int add(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v && strcmp(k, "expires_at") != 0)
		return -ENOMEM;
	if (json_object_object_add(o, k, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *addr_json(const struct net_prefix *a)
{
	char buf[NET_STRLEN];

	if (net_format(a, 0, buf, sizeof(buf)) < 0)
		buf[0] = '\0';
	return json_object_new_string(buf);
}

static struct json_object *ports_json(const struct rule_ports *p)
{
	char buf[16];

	if (p->lo == p->hi)
		return json_object_new_int(p->lo);
	ports_format(p, buf, sizeof(buf));
	return json_object_new_string(buf);
}

struct json_object *rule_to_json(const struct rule *r)
{
	struct json_object *o = json_object_new_object();
	struct json_object *exp = NULL;
	char when[32];
	int rc = 0;

	if (!o)
		return NULL;
	if (r->expires_at) {
		if (format_rfc3339_s(r->expires_at, when, sizeof(when)) == 0)
			exp = json_object_new_string(when);
		if (!exp)
			goto err;
	}
	rc |= add(o, "id", json_object_new_int64(r->id));
	rc |= add(o, "rule_type", json_object_new_string(rule_type_name(r->type)));
	rc |= add(o, "protocol", json_object_new_string(rule_proto_name(r->protocol)));
	rc |= add(o, "src_ip", addr_json(&r->src));
	rc |= add(o, "dst_ip", addr_json(&r->dst));
	rc |= add(o, "src_port", ports_json(&r->sport));
	rc |= add(o, "dst_port", ports_json(&r->dport));
	rc |= add(o, "tcp_flags", json_object_new_int(r->tcp_flags));
	rc |= add(o, "tcp_flags_mask", json_object_new_int(r->tcp_flags_mask));
	rc |= add(o, "icmp_type", json_object_new_int(r->icmp_type));
	rc |= add(o, "icmp_code", json_object_new_int(r->icmp_code));
	rc |= add(o, "inner_src_ip", addr_json(&r->inner_src));
	rc |= add(o, "inner_dst_ip", addr_json(&r->inner_dst));
	rc |= add(o, "inner_protocol", json_object_new_string(rule_proto_name(r->inner_protocol)));
	rc |= add(o, "inner_src_port", ports_json(&r->inner_sport));
	rc |= add(o, "inner_dst_port", ports_json(&r->inner_dport));
	rc |= add(o, "action", json_object_new_string(rule_action_name(r->action)));
	rc |= add(o, "enabled", json_object_new_boolean(r->enabled));
	rc |= add(o, "priority", json_object_new_int(r->priority));
	rc |= add(o, "expires_at", exp);
	rc |= add(o, "comment", json_object_new_string(r->comment));
	if (rc)
		goto err;
	return o;
err:
	json_object_put(o);
	return NULL;
}

/* ---- predicates ---- */

bool rule_is_match_all(const struct rule *r)
{
	return r->enabled && r->action == RULE_ACTION_DROP && addr_is_wild(&r->src) &&
	       addr_is_wild(&r->dst) && ports_any(&r->sport) && ports_any(&r->dport) &&
	       r->tcp_flags_mask == 0 && r->icmp_type == RULE_ICMP_ANY &&
	       r->icmp_code == RULE_ICMP_ANY && !has_inner(r);
}

bool rule_equal(const struct rule *a, const struct rule *b)
{
	return a->id == b->id && a->type == b->type && a->action == b->action &&
	       a->priority == b->priority && a->expires_at == b->expires_at &&
	       net_cmp(&a->src, &b->src) == 0 && net_cmp(&a->dst, &b->dst) == 0 &&
	       memcmp(&a->sport, &b->sport, sizeof(a->sport)) == 0 &&
	       memcmp(&a->dport, &b->dport, sizeof(a->dport)) == 0 &&
	       net_cmp(&a->inner_src, &b->inner_src) == 0 &&
	       net_cmp(&a->inner_dst, &b->inner_dst) == 0 &&
	       memcmp(&a->inner_sport, &b->inner_sport, sizeof(a->inner_sport)) == 0 &&
	       memcmp(&a->inner_dport, &b->inner_dport, sizeof(a->inner_dport)) == 0 &&
	       a->protocol == b->protocol && a->inner_protocol == b->inner_protocol &&
	       a->tcp_flags == b->tcp_flags && a->tcp_flags_mask == b->tcp_flags_mask &&
	       a->icmp_type == b->icmp_type && a->icmp_code == b->icmp_code &&
	       a->enabled == b->enabled && strncmp(a->comment, b->comment, sizeof(a->comment)) == 0;
}

bool rule_is_active(const struct rule *r, __u64 now)
{
	return r->enabled && (r->expires_at == 0 || r->expires_at > now);
}

int rule_cmp(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

bool rule_touches_protected(const struct rule *r, const struct net_prefix *nets, size_t n_nets,
			    const struct guarder_port_range *ports, size_t n_ports, char *why,
			    size_t len)
{
	const struct net_prefix *addrs[2] = { &r->src, &r->dst };
	const struct rule_ports *rp[2] = { &r->sport, &r->dport };
	static const char *const af[2] = { "src_ip", "dst_ip" };
	static const char *const pf[2] = { "src_port", "dst_port" };
	char a[NET_STRLEN], b[NET_STRLEN], p[16];
	size_t i;
	int s;

	if (len)
		why[0] = '\0';
	if (r->action != RULE_ACTION_DROP || !r->enabled)
		return false;
	for (s = 0; s < 2; s++) {
		if (addr_is_wild(addrs[s]))
			continue;
		for (i = 0; i < n_nets; i++) {
			if (!nets[i].family || !net_overlap(addrs[s], &nets[i]))
				continue;
			if (len) {
				net_format(addrs[s], 0, a, sizeof(a));
				net_format(&nets[i], 0, b, sizeof(b));
				snprintf(why, len, "%s: %s overlaps protected network %s", af[s], a,
					 b);
			}
			return true;
		}
	}
	/*
	 * One named attacker (a single source host, outside the protected
	 * networks: checked above) may be dropped on a protected port; the
	 * kernel lets only such a rule through (RULE_C_NAMED_SRC).
	 */
	if (r->src.family && r->src.prefix == 128)
		return false;
	for (s = 0; s < 2; s++) {
		if (ports_any(rp[s]))
			continue;
		for (i = 0; i < n_ports; i++) {
			if (rp[s]->hi < ports[i].first || rp[s]->lo > ports[i].last)
				continue;
			if (len) {
				ports_format(rp[s], p, sizeof(p));
				if (ports[i].first == ports[i].last)
					snprintf(why, len, "%s: %s includes protected port %u",
						 pf[s], p, ports[i].first);
				else
					snprintf(why, len, "%s: %s overlaps protected ports %u-%u",
						 pf[s], p, ports[i].first, ports[i].last);
			}
			return true;
		}
	}
	return false;
}

bool rule_matches(const struct rule *r, const struct rule_packet *p)
{
	if (r->protocol != RULE_PROTO_ANY && r->protocol != p->proto)
		return false;
	if (!addr_match(&r->src, p->src, p->family) || !addr_match(&r->dst, p->dst, p->family))
		return false;
	if (!ports_match(&r->sport, p->sport) || !ports_match(&r->dport, p->dport))
		return false;
	if ((p->tcp_flags & r->tcp_flags_mask) != r->tcp_flags)
		return false;
	if (r->icmp_type != RULE_ICMP_ANY && r->icmp_type != p->icmp_type)
		return false;
	if (r->icmp_code != RULE_ICMP_ANY && r->icmp_code != p->icmp_code)
		return false;
	if (!has_inner(r))
		return true;
	/* Inner conditions look at the quoted packet of an ICMP error only. */
	if (!p->inner_valid || !icmp_is_error(p->proto, p->icmp_type))
		return false;
	if (r->inner_protocol != RULE_PROTO_ANY && r->inner_protocol != p->inner_proto)
		return false;
	return addr_match(&r->inner_src, p->inner_src, p->family) &&
	       addr_match(&r->inner_dst, p->inner_dst, p->family) &&
	       ports_match(&r->inner_sport, p->inner_sport) &&
	       ports_match(&r->inner_dport, p->inner_dport);
}

long rule_set_eval(const struct rule *rules, size_t n, const struct rule_packet *p, __u64 now)
{
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!rule_is_active(&rules[i], now) || !rule_matches(&rules[i], p))
			continue;
		if (best < 0 || rule_cmp(&rules[i], &rules[best]) < 0)
			best = (long)i;
	}
	return best;
}
