// SPDX-License-Identifier: GPL-2.0
/*
 * A strict, allocation-free JSON scanner for flow records. It walks the
 * text once, decodes the fields the detectors need and skips the rest
 * (validating their syntax), so a record costs well under a microsecond.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "flowrec.h"
#include "lib/net.h"

#define MAX_DEPTH 16

struct jp {
	const char *p, *e;
	char *err;
	size_t errlen;
};

enum field_bit {
	F_VERSION = 1u << 0,
	F_EVENT = 1u << 1,
	F_NODE = 1u << 2,
	F_PROTO = 1u << 3,
	F_FAMILY = 1u << 4,
	F_SRC = 1u << 5,
	F_DST = 1u << 6,
	F_SPORT = 1u << 7,
	F_DPORT = 1u << 8,
	F_FWD = 1u << 9,
	F_REV = 1u << 10,
	F_FIRST = 1u << 11,
	F_LAST = 1u << 12,
	F_ICMP = 1u << 13,
};

#define F_REQUIRED                                                                               \
	(F_VERSION | F_EVENT | F_NODE | F_PROTO | F_FAMILY | F_SRC | F_DST | F_SPORT | F_DPORT | \
	 F_FWD | F_REV | F_FIRST | F_LAST)

static int fail(struct jp *j, const char *field, const char *what)
{
	if (j->errlen)
		snprintf(j->err, j->errlen, "%s: %s", field, what);
	return -EINVAL;
}

static void ws(struct jp *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *p, unsigned int *out)
{
	unsigned int v = 0;
	int i, h;

	for (i = 0; i < 4; i++) {
		h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned int)h;
	}
	*out = v;
	return 0;
}

/*
 * plain_run - the end of the run of characters at @p that need no care in
 * a JSON string (not '"', '\\' nor a control character): 16 bytes per
 * step with SSE2, where the bytes of a record mostly go.
 */
static const char *plain_run(const char *p, const char *e)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);

	while (e - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* unsigned c <= 0x1f exactly when max(c, 0x1f) == 0x1f */
		__m128i m = _mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
			_mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
		int mask = _mm_movemask_epi8(m);

		if (mask)
			return p + __builtin_ctz((unsigned int)mask);
		p += 16;
	}
#endif
	while (p < e && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
		p++;
	return p;
}

/* put - append one code point as UTF-8; false when @buf is full. */
static bool put(char *buf, size_t cap, size_t *n, unsigned int cp)
{
	char tmp[4];
	size_t k;

	if (cp < 0x80) {
		tmp[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xc0 | cp >> 6);
		tmp[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xe0 | cp >> 12);
		tmp[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		tmp[0] = (char)(0xf0 | cp >> 18);
		tmp[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		tmp[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		tmp[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k >= cap)
		return false;
	memcpy(buf + *n, tmp, k);
	*n += k;
	return true;
}

/*
 * jstr - a JSON string at j->p. With @buf, its decoded text (NUL
 * terminated, at most @cap - 1 bytes, longer is an error); without, it is
 * only checked and skipped.
 */
static int jstr(struct jp *j, const char *field, char *buf, size_t cap, size_t *outlen)
{
	size_t n = 0;

	if (j->p >= j->e || *j->p != '"')
		return fail(j, field, "not a string");
	j->p++;
	for (;;) {
		const char *run = j->p;
		unsigned int cp;
		unsigned char c;

		/* the common case: a run of plain characters, copied at once */
		j->p = plain_run(j->p, j->e);
		if (buf) {
			size_t k = (size_t)(j->p - run);

			if (n + k >= cap)
				return fail(j, field, "too long");
			memcpy(buf + n, run, k);
			n += k;
		}
		if (j->p >= j->e)
			break;
		c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			if (buf)
				buf[n] = '\0';
			if (outlen)
				*outlen = n;
			return 0;
		}
		if (c < 0x20)
			return fail(j, field, "control character in a string");
		if (j->e - j->p < 2)
			break;
		switch (j->p[1]) {
		case '"':
		case '\\':
		case '/':
			cp = (unsigned char)j->p[1];
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (j->e - j->p < 6 || hex4(j->p + 2, &cp))
				return fail(j, field, "bad \\u escape");
			if (cp >= 0xd800 && cp < 0xdc00 && j->e - j->p >= 12 && j->p[6] == '\\' &&
			    j->p[7] == 'u') {
				unsigned int lo;

				if (!hex4(j->p + 8, &lo) && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					j->p += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd; /* a lone surrogate */
			j->p += 4;
			break;
		default:
			return fail(j, field, "bad escape");
		}
		j->p += 2;
		if (buf && !put(buf, cap, &n, cp))
			return fail(j, field, "too long");
	}
	return fail(j, field, "unterminated string");
}

/* jnum - a JSON number; only a non-negative integer up to @max is a value. */
static int jnum(struct jp *j, const char *field, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = j->p;

	while (j->p < j->e && *j->p >= '0' && *j->p <= '9') {
		unsigned int d = (unsigned int)(*j->p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return fail(j, field, "number too large");
		x = x * 10 + d;
		j->p++;
	}
	if (j->p == s)
		return fail(j, field, "not a non-negative integer");
	if (j->p < j->e && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return fail(j, field, "not an integer");
	if (j->p - s > 1 && *s == '0')
		return fail(j, field, "leading zero");
	if (x > max)
		return fail(j, field, "out of range");
	*v = x;
	return 0;
}

static int jlit(struct jp *j, const char *lit, size_t n)
{
	if ((size_t)(j->e - j->p) < n || memcmp(j->p, lit, n))
		return -1;
	j->p += n;
	return 0;
}

/*
 * jnext - before each item of an object or array ending in @close: 1 when
 * the container ends (@close consumed), 0 when an item follows (the ','
 * before any but the first consumed), -EINVAL on bad syntax.
 */
static int jnext(struct jp *j, const char *field, char close, bool *first)
{
	ws(j);
	if (j->p >= j->e)
		return fail(j, field, "truncated");
	if (*j->p == close) {
		j->p++;
		return 1;
	}
	if (!*first) {
		if (*j->p != ',')
			return fail(j, field, "expected ','");
		j->p++;
		ws(j);
	}
	*first = false;
	return 0;
}

/* jcolon - the ':' after a member's key. */
static int jcolon(struct jp *j, const char *field)
{
	ws(j);
	if (j->p >= j->e || *j->p != ':')
		return fail(j, field, "expected ':'");
	j->p++;
	ws(j);
	return 0;
}

static int jskip(struct jp *j, const char *field, int depth);

static int jskip_container(struct jp *j, const char *field, int depth, char close)
{
	bool first = true;
	int rc;

	if (depth >= MAX_DEPTH)
		return fail(j, field, "nested too deeply");
	j->p++;
	while (!(rc = jnext(j, field, close, &first))) {
		if (close == '}' && (jstr(j, field, NULL, 0, NULL) || jcolon(j, field)))
			return -EINVAL;
		if (jskip(j, field, depth + 1))
			return -EINVAL;
	}
	return rc < 0 ? rc : 0;
}

static int jskip(struct jp *j, const char *field, int depth)
{
	if (j->p >= j->e)
		return fail(j, field, "truncated");
	switch (*j->p) {
	case '"':
		return jstr(j, field, NULL, 0, NULL);
	case '{':
		return jskip_container(j, field, depth, '}');
	case '[':
		return jskip_container(j, field, depth, ']');
	case 't':
		return jlit(j, "true", 4) ? fail(j, field, "bad literal") : 0;
	case 'f':
		return jlit(j, "false", 5) ? fail(j, field, "bad literal") : 0;
	case 'n':
		return jlit(j, "null", 4) ? fail(j, field, "bad literal") : 0;
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
			const char *s = j->p;

			while (j->p < j->e &&
			       ((*j->p >= '0' && *j->p <= '9') || *j->p == '-' || *j->p == '+' ||
				*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
				j->p++;
			return j->p > s ? 0 : fail(j, field, "bad number");
		}
		return fail(j, field, "not a JSON value");
	}
}

/*
 * jobject - iterate an object's members: @member is called with each key
 * (decoded, or "" when too long to be one of ours) and must consume the
 * value.
 */
typedef int (*member_fn)(struct jp *j, const char *key, size_t klen, void *ctx);

/* KEY - the member's key is the literal @lit (length compared first: cheap) */
#define KEY(lit) (klen == sizeof(lit) - 1 && !memcmp(key, lit, sizeof(lit) - 1))

static int jobject(struct jp *j, const char *field, member_fn member, void *ctx)
{
	char key[24];
	size_t klen;
	bool first = true;
	int rc;

	ws(j);
	if (j->p >= j->e || *j->p != '{')
		return fail(j, field, "not an object");
	j->p++;
	while (!(rc = jnext(j, field, '}', &first))) {
		struct jp save = *j;

		if (jstr(j, field, key, sizeof(key), &klen)) {
			/* a long key: not one of ours, skip it */
			*j = save;
			if (jstr(j, field, NULL, 0, NULL))
				return -EINVAL;
			key[0] = '\0';
			klen = 0;
		}
		if (jcolon(j, field) || member(j, key, klen, ctx))
			return -EINVAL;
	}
	return rc < 0 ? rc : 0;
}

static int dir_member(struct jp *j, const char *key, size_t klen, void *ctx)
{
	struct ai_dir *d = ctx;
	uint64_t v;

	if (KEY("packets"))
		return jnum(j, "packets", UINT64_MAX, &d->packets);
	if (KEY("bytes"))
		return jnum(j, "bytes", UINT64_MAX, &d->bytes);
	if (KEY("tcp_flags")) {
		if (jnum(j, "tcp_flags", 255, &v))
			return -EINVAL;
		d->tcp_flags = (uint8_t)v;
		return 0;
	}
	return jskip(j, key, 2);
}

struct icmp_ctx {
	struct ai_flow *f;
	unsigned int seen;
};

static int icmp_member(struct jp *j, const char *key, size_t klen, void *ctx)
{
	struct icmp_ctx *c = ctx;
	uint64_t v;

	if (KEY("type") || KEY("code")) {
		if (jnum(j, key, 255, &v))
			return -EINVAL;
		if (key[0] == 't') {
			c->f->icmp_type = (uint8_t)v;
			c->seen |= 1;
		} else {
			c->f->icmp_code = (uint8_t)v;
			c->seen |= 2;
		}
		return 0;
	}
	return jskip(j, key, 2);
}

struct top_ctx {
	struct ai_flow *f;
	unsigned int seen;
};

static int addr_field(struct jp *j, const char *field, uint32_t out[4])
{
	char buf[NET_ADDR_STRLEN + 1];
	struct net_prefix p;
	size_t n;

	if (jstr(j, field, buf, sizeof(buf), &n))
		return -EINVAL;
	/* strlen: a "\u0000" must not cut the junk after it off */
	if (strlen(buf) != n || net_parse(buf, NET_PARSE_NO_PREFIX, &p, NULL, 0))
		return fail(j, field, "not an IP address");
	memcpy(out, p.addr, sizeof(p.addr));
	return 0;
}

static int time_field(struct jp *j, const char *field, uint64_t *ns)
{
	char buf[40];
	size_t n;

	if (jstr(j, field, buf, sizeof(buf), &n))
		return -EINVAL;
	if (ai_parse_rfc3339(buf, n, ns))
		return fail(j, field, "not an RFC 3339 UTC time");
	return 0;
}

static int top_member(struct jp *j, const char *key, size_t klen, void *ctx)
{
	static const char *const events[] = { "start", "update", "end", "icmp", "drop", "drops" };
	struct top_ctx *c = ctx;
	struct ai_flow *f = c->f;
	char buf[16];
	uint64_t v;
	size_t i;

	switch (key[0]) {
	case 's':
		if (KEY("schema_version")) {
			if (jnum(j, key, UINT64_MAX, &v))
				return -EINVAL;
			if (v != 1)
				return fail(j, key, "not 1 (unsupported version)");
			c->seen |= F_VERSION;
			return 0;
		}
		/* the src_ fields are read like the dst_ ones */
		__attribute__((fallthrough));
	case 'd':
		if (KEY("src_ip") || KEY("dst_ip")) {
			c->seen |= key[0] == 's' ? F_SRC : F_DST;
			return addr_field(j, key, key[0] == 's' ? f->src : f->dst);
		}
		if (KEY("src_port") || KEY("dst_port")) {
			c->seen |= key[0] == 's' ? F_SPORT : F_DPORT;
			if (jnum(j, key, 65535, &v))
				return -EINVAL;
			*(key[0] == 's' ? &f->sport : &f->dport) = (uint16_t)v;
			return 0;
		}
		break;
	case 'e':
		if (KEY("event")) {
			if (jstr(j, key, buf, sizeof(buf), NULL))
				return -EINVAL;
			for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
				if (!strcmp(buf, events[i]))
					break;
			if (i == sizeof(events) / sizeof(events[0]))
				return fail(j, key, "unknown event");
			f->event = (enum ai_event)i;
			c->seen |= F_EVENT;
			return 0;
		}
		break;
	case 'n':
		if (KEY("node")) {
			c->seen |= F_NODE;
			return jstr(j, key, f->node, sizeof(f->node), NULL);
		}
		break;
	case 'p':
		if (KEY("proto_num")) {
			if (jnum(j, key, 255, &v))
				return -EINVAL;
			f->proto = (uint8_t)v;
			c->seen |= F_PROTO;
			return 0;
		}
		break;
	case 'r':
	case 'l':
		/* rev and last_seen are read like fwd and first_seen */
		__attribute__((fallthrough));
	case 'f':
		if (KEY("family")) {
			if (jnum(j, key, 255, &v))
				return -EINVAL;
			if (v != 4 && v != 6)
				return fail(j, key, "not 4 or 6");
			f->family = (uint8_t)v;
			c->seen |= F_FAMILY;
			return 0;
		}
		if (KEY("fwd") || KEY("rev")) {
			c->seen |= key[0] == 'f' ? F_FWD : F_REV;
			return jobject(j, key, dir_member, key[0] == 'f' ? &f->fwd : &f->rev);
		}
		if (KEY("first_seen") || KEY("last_seen")) {
			c->seen |= key[0] == 'f' ? F_FIRST : F_LAST;
			return time_field(j, key, key[0] == 'f' ? &f->first_ns : &f->last_ns);
		}
		break;
	case 'i':
		if (KEY("icmp")) {
			struct icmp_ctx ic = { .f = f };

			if (!jlit(j, "null", 4))
				return 0;
			if (jobject(j, key, icmp_member, &ic))
				return -EINVAL;
			if (ic.seen != 3)
				return fail(j, key, "missing type or code");
			c->seen |= F_ICMP;
			return 0;
		}
		break;
	}
	return jskip(j, key[0] ? key : "(long key)", 1);
}

int ai_flow_parse(const char *text, size_t len, struct ai_flow *out, char *err, size_t errlen)
{
	struct jp j = { .p = text, .e = text + len, .err = err, .errlen = errlen };
	struct top_ctx c = { .f = out };
	static const struct {
		unsigned int bit;
		const char *name;
	} req[] = {
		{ F_VERSION, "schema_version" },
		{ F_EVENT, "event" },
		{ F_NODE, "node" },
		{ F_PROTO, "proto_num" },
		{ F_FAMILY, "family" },
		{ F_SRC, "src_ip" },
		{ F_DST, "dst_ip" },
		{ F_SPORT, "src_port" },
		{ F_DPORT, "dst_port" },
		{ F_FWD, "fwd" },
		{ F_REV, "rev" },
		{ F_FIRST, "first_seen" },
		{ F_LAST, "last_seen" },
	};
	size_t i;

	if (errlen)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (jobject(&j, "record", top_member, &c))
		return -EINVAL;
	ws(&j);
	if (j.p != j.e)
		return fail(&j, "record", "trailing bytes after the object");
	if (out->event == AI_EV_DROPS) {
		const unsigned int need = F_VERSION | F_EVENT | F_NODE | F_FAMILY | F_SRC;

		for (i = 0; i < sizeof(req) / sizeof(req[0]); i++)
			if ((need & req[i].bit) && !(c.seen & req[i].bit))
				return fail(&j, req[i].name, "missing");
		return 1;
	}
	if ((c.seen & F_REQUIRED) != F_REQUIRED) {
		for (i = 0; i < sizeof(req) / sizeof(req[0]); i++)
			if (!(c.seen & req[i].bit))
				return fail(&j, req[i].name, "missing");
	}
	if (out->event == AI_EV_ICMP && !(c.seen & F_ICMP))
		return fail(&j, "icmp", "missing in an icmp record");
	/* An IPv6 flow may run between IPv4-mapped addresses; an IPv4 one never leaves IPv4. */
	if (out->family == 4 && !net_addr_is_v4(out->src))
		return fail(&j, "src_ip", "does not match family");
	if (out->family == 4 && !net_addr_is_v4(out->dst))
		return fail(&j, "dst_ip", "does not match family");
	return 0;
}

/* days_from_civil - days since 1970-01-01 (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, unsigned int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (unsigned int)(s[i] - '0');
	}
	return 0;
}

int ai_parse_rfc3339(const char *s, size_t len, uint64_t *ns)
{
	unsigned int y, mo, d, h, mi, sec, frac = 0;
	size_t i = 19, nd = 0;
	int64_t days;

	if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
			if (nd >= 9)
				return -EINVAL;
			frac = frac * 10 + (unsigned int)(s[i] - '0');
		}
		if (nd == 0)
			return -EINVAL;
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (i + 1 != len || (s[i] != 'Z' && s[i] != 'z'))
		return -EINVAL;
	days = days_from_civil(y, mo, d);
	*ns = ((uint64_t)days * 86400 + h * 3600u + mi * 60u + sec) * 1000000000ull + frac;
	return 0;
}
