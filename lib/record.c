// SPDX-License-Identifier: GPL-2.0
/*
 * Flow record formatting. Hand-written JSON into a caller's bounded buffer:
 * the collector formats every record once for all sinks, at rates where a
 * DOM library's allocations would dominate. test_record.c parses the
 * output back with json-c and test_record_schema.py validates it against
 * docs/record.schema.json.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "record.h"
#include "timeconv.h"

#define NSEC_PER_SEC 1000000000ull
#define N_OF(a)	     (sizeof(a) / sizeof((a)[0]))

/* A cursor over the output; once it overflows every write is a no-op. */
struct jw {
	char *p;
	char *end; /* last byte, kept for the NUL */
	bool overflow;
};

static inline void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->overflow || (size_t)(w->end - w->p) < n) {
		w->overflow = true;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

#define jw_lit(w, s) jw_raw((w), (s), sizeof(s) - 1)

static inline void jw_char(struct jw *w, char c)
{
	jw_raw(w, &c, 1);
}

static void jw_u64(struct jw *w, uint64_t v)
{
	char tmp[20];
	int i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jw_raw(w, tmp + i, sizeof(tmp) - (size_t)i);
}

/* Length of the well-formed UTF-8 sequence at @s (max @n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong, surrogate or beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A JSON string. Interface and node names are bytes chosen by whoever
 * configured the host: quote and control characters are escaped and
 * invalid UTF-8 becomes U+FFFD so that every consumer can parse the line.
 */
static void jw_str(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, run;

	jw_char(w, '"');
	while (i < n) {
		/* copy the longest stretch that needs no escaping at once */
		for (run = i;
		     run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\';
		     run++)
			;
		jw_raw(w, s + i, run - i);
		i = run;
		if (i >= n)
			break;
		if (u[i] == '"' || u[i] == '\\') {
			char esc[2] = { '\\', (char)u[i] };

			jw_raw(w, esc, 2);
			i++;
		} else if (u[i] < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 0xf] };

			jw_raw(w, esc, 6);
			i++;
		} else {
			size_t len = utf8_seq_len(u + i, n - i);

			if (len) {
				jw_raw(w, s + i, len);
				i += len;
			} else {
				jw_lit(w, "\\ufffd");
				i++;
			}
		}
	}
	jw_char(w, '"');
}

static void jw_quoted(struct jw *w, const char *s, size_t n)
{
	jw_char(w, '"');
	jw_raw(w, s, n);
	jw_char(w, '"');
}

static void jw_addr(struct jw *w, const __u32 addr[4])
{
	char tmp[NET_ADDR_STRLEN];

	jw_quoted(w, tmp, net_addr_format(addr, tmp));
}

static void jw_proto(struct jw *w, uint8_t proto)
{
	jw_raw(w, net_proto_name(proto), net_proto_name_len(proto));
}

/* ,"node":...,"iface":... (null when the record has no interface). */
static void jw_where(struct jw *w, const struct flow_record *rec)
{
	jw_lit(w, ",\"node\":");
	jw_str(w, rec->node ? rec->node : "");
	jw_lit(w, ",\"iface\":");
	if (rec->iface)
		jw_str(w, rec->iface);
	else
		jw_lit(w, "null");
}

static const char *const event_names[] = {
	[REC_START] = "start", [REC_UPDATE] = "update", [REC_END] = "end",
	[REC_DROP] = "drop",   [REC_ICMP] = "icmp",	[REC_DROPS] = "drops",
};
static const char *const drop_reason_names[] = {
	[GUARDER_DROP_RULE] = "rule",
	[GUARDER_DROP_UNPARSED] = "unparsed",
	[GUARDER_DROP_FRAG_TINY] = "frag_tiny",
	[GUARDER_DROP_FRAG_OVERLAP] = "frag_overlap",
	[GUARDER_DROP_FRAG_UNKNOWN] = "frag_unknown",
};
static const char *const end_reason_names[] = {
	[REC_END_NONE] = "none", [REC_END_FIN] = "fin",		[REC_END_RST] = "rst",
	[REC_END_IDLE] = "idle", [REC_END_EVICTED] = "evicted",
};

const char *record_event_name(enum record_event ev)
{
	return (unsigned int)ev < N_OF(event_names) ? event_names[ev] : "unknown";
}

const char *record_end_reason_name(enum record_end_reason r)
{
	return (unsigned int)r < N_OF(end_reason_names) ? end_reason_names[r] : "unknown";
}

const char *record_drop_reason_name(unsigned int r)
{
	return r < N_OF(drop_reason_names) ? drop_reason_names[r] : "unknown";
}

int record_tcp_flags_str(uint8_t flags, char *buf, size_t len)
{
	static const char *const names[8] = {
		"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"
	};
	struct jw w = { .p = buf, .end = buf + len - 1 };
	int i;

	if (!len)
		return -ENOSPC;
	for (i = 0; i < 8; i++) {
		if (!(flags & (1u << i)))
			continue;
		if (w.p != buf)
			jw_char(&w, '|');
		jw_raw(&w, names[i], 3);
	}
	if (w.overflow) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	*w.p = '\0';
	return (int)(w.p - buf);
}

/* Both addresses of a key as text, formatted once per record: [0] lo, [1] hi. */
struct key_addrs {
	char txt[2][NET_ADDR_STRLEN];
	size_t len[2];
};

/*
 * An address of a key of @family as text: an IPv6 flow between
 * IPv4-mapped addresses (family 6 in the key) keeps its IPv6 form, so
 * that it is never written like the IPv4 flow it is not.
 */
static size_t key_addr_format(const __u32 addr[4], __u8 family, char buf[NET_ADDR_STRLEN])
{
	char v4[NET_ADDR_STRLEN];
	size_t n;

	if (family != 6 || !net_addr_is_v4(addr))
		return net_addr_format(addr, buf);
	n = net_addr_format(addr, v4); /* a dotted quad: at most 15 bytes */
	memcpy(buf, "::ffff:", 7);
	memcpy(buf + 7, v4, n + 1);
	return n + 7;
}

static void key_addrs_init(struct key_addrs *a, const struct flow_key *key)
{
	a->len[0] = key_addr_format(key->addr_lo, key->family, a->txt[0]);
	a->len[1] = key_addr_format(key->addr_hi, key->family, a->txt[1]);
}

static void jw_key(struct jw *w, const struct flow_key *key, const struct key_addrs *a)
{
	jw_u64(w, key->proto);
	jw_char(w, '|');
	jw_raw(w, a->txt[0], a->len[0]);
	jw_char(w, '|');
	jw_u64(w, key->port_lo);
	jw_char(w, '|');
	jw_raw(w, a->txt[1], a->len[1]);
	jw_char(w, '|');
	jw_u64(w, key->port_hi);
}

int record_format_key(const struct flow_key *key, char *buf, size_t len)
{
	struct jw w = { .p = buf, .end = buf + len - 1 };
	struct key_addrs a;

	if (!len)
		return -ENOSPC;
	key_addrs_init(&a, key);
	jw_key(&w, key, &a);
	if (w.overflow) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	*w.p = '\0';
	return (int)(w.p - buf);
}

static void jw_dir(struct jw *w, const struct flow_dir *d)
{
	jw_lit(w, "{\"packets\":");
	jw_u64(w, d->packets);
	jw_lit(w, ",\"bytes\":");
	jw_u64(w, d->bytes);
	jw_lit(w, ",\"tcp_flags\":");
	jw_u64(w, d->tcp_flags);
	jw_lit(w, ",\"retransmits\":");
	jw_u64(w, d->retransmits);
	jw_lit(w, ",\"dup_acks\":");
	jw_u64(w, d->dup_acks);
	jw_char(w, '}');
}

static void jw_tcp_dir(struct jw *w, const struct flow_dir *d)
{
	jw_lit(w, "{\"next_seq\":");
	if (d->dflags & FLOW_DIR_SEQ_VALID)
		jw_u64(w, d->seq_next);
	else
		jw_lit(w, "null");
	jw_lit(w, ",\"ack\":");
	jw_u64(w, d->ack);
	jw_lit(w, ",\"window\":");
	jw_u64(w, d->window);
	jw_lit(w, ",\"fin\":");
	if (d->dflags & FLOW_DIR_FIN)
		jw_lit(w, "true");
	else
		jw_lit(w, "false");
	jw_char(w, '}');
}

/*
 * "YYYY-MM-DDTHH:MM:SS" of the last two whole seconds formatted, per
 * thread: a record's two times are nearly always in the same second or
 * in one seen just before, and the calendar arithmetic is a fifth of a
 * record's formatting otherwise.
 */
#define SECS_LEN 19
struct secs_cache {
	uint64_t secs[2];
	char txt[2][SECS_LEN];
	unsigned int next;
	bool valid[2];
};
static __thread struct secs_cache secs_cache;

static const char *secs_text(uint64_t secs)
{
	struct secs_cache *c = &secs_cache;
	char tmp[RFC3339_NS_LEN];
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (c->valid[i] && c->secs[i] == secs)
			return c->txt[i];
	i = c->next;
	c->next ^= 1;
	format_rfc3339_ns(secs * NSEC_PER_SEC, tmp, sizeof(tmp));
	memcpy(c->txt[i], tmp, SECS_LEN);
	c->secs[i] = secs;
	c->valid[i] = true;
	return c->txt[i];
}

/* "2026-11-27T05:29:18.123456789Z", as format_rfc3339_ns() writes it. */
static void jw_time(struct jw *w, uint64_t wall_ns)
{
	char tmp[1 + SECS_LEN + 1 + 9 + 2];
	unsigned int frac = (unsigned int)(wall_ns % NSEC_PER_SEC);
	int i;

	tmp[0] = '"';
	memcpy(tmp + 1, secs_text(wall_ns / NSEC_PER_SEC), SECS_LEN);
	tmp[1 + SECS_LEN] = '.';
	for (i = 9; i >= 1; i--) {
		tmp[1 + SECS_LEN + i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	tmp[1 + SECS_LEN + 10] = 'Z';
	tmp[1 + SECS_LEN + 11] = '"';
	jw_raw(w, tmp, sizeof(tmp));
}

/* A name from a fixed set, its length computed at compile time where it can be. */
static void jw_name(struct jw *w, const char *s)
{
	jw_raw(w, s, __builtin_strlen(s));
}

/*
 * A "drops" record: what the filter dropped from one source, for one rule
 * or reason, at one hook and interface, in one interval. Its key (the
 * Kafka key) is "drops|family|source", so one source's drops share a
 * partition.
 */
static int format_drops(const struct flow_record *rec, char *buf, size_t len,
			struct record_span *key_span)
{
	struct jw w = { .p = buf, .end = buf + len - 1 };
	const struct drop_key *k = &rec->drop;
	char src[NET_ADDR_STRLEN];
	size_t sl = key_addr_format(k->src, k->family, src);

	jw_lit(&w, "{\"schema_version\":");
	jw_u64(&w, RECORD_SCHEMA_VERSION);
	jw_lit(&w, ",\"event\":\"drops\"");
	jw_where(&w, rec);
	if (k->hook == GUARDER_HOOK_TC_EGRESS)
		jw_lit(&w, ",\"hook\":\"egress\"");
	else
		jw_lit(&w, ",\"hook\":\"ingress\"");
	jw_lit(&w, ",\"key\":\"");
	if (key_span)
		key_span->off = (size_t)(w.p - buf);
	jw_lit(&w, "drops|");
	jw_u64(&w, k->family);
	jw_char(&w, '|');
	jw_raw(&w, src, sl);
	if (key_span)
		key_span->len = (size_t)(w.p - buf) - key_span->off;
	jw_lit(&w, "\",\"family\":");
	jw_u64(&w, k->family);
	jw_lit(&w, ",\"src_ip\":");
	jw_quoted(&w, src, sl);
	jw_lit(&w, ",\"reason\":\"");
	jw_name(&w, record_drop_reason_name(k->reason));
	jw_lit(&w, "\",\"rule_id\":");
	if (k->reason == GUARDER_DROP_RULE)
		jw_u64(&w, k->rule_id);
	else
		jw_lit(&w, "null");
	jw_lit(&w, ",\"packets\":");
	jw_u64(&w, rec->drop_packets);
	jw_lit(&w, ",\"bytes\":");
	jw_u64(&w, rec->drop_bytes);
	jw_lit(&w, ",\"interval_start\":");
	jw_time(&w, rec->interval_start_wall_ns);
	jw_lit(&w, ",\"interval_end\":");
	jw_time(&w, rec->interval_end_wall_ns);
	jw_lit(&w, ",\"first_seen\":");
	jw_time(&w, rec->first_seen_wall_ns);
	jw_lit(&w, ",\"last_seen\":");
	jw_time(&w, rec->last_seen_wall_ns);
	jw_lit(&w, ",\"verdict\":\"drop\"}");
	if (w.overflow) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	*w.p = '\0';
	return (int)(w.p - buf);
}

int record_format(const struct flow_record *rec, char *buf, size_t len,
		  struct record_span *key_span)
{
	struct jw w = { .p = buf, .end = buf + len - 1 };
	const struct flow_value *v = &rec->value;
	/* src is the initiator: the endpoint that sent the first packet */
	int fwd = rec->initiator ? 1 : 0;
	const struct flow_dir *df = &v->dir[fwd], *dr = &v->dir[!fwd];
	struct key_addrs a;
	__u16 sport = fwd ? rec->key.port_hi : rec->key.port_lo;
	__u16 dport = fwd ? rec->key.port_lo : rec->key.port_hi;
	/* The key's family (0 only in keys built by hand: then the addresses say). */
	bool v4 = rec->key.family ? rec->key.family == 4 :
				    net_addr_is_v4(rec->key.addr_lo) && net_addr_is_v4(rec->key.addr_hi);
	uint8_t flags = df->tcp_flags | dr->tcp_flags;
	const char *verdict;

	if (!len)
		return -ENOSPC;
	if (rec->event == REC_DROPS)
		return format_drops(rec, buf, len, key_span);

	jw_lit(&w, "{\"schema_version\":");
	jw_u64(&w, RECORD_SCHEMA_VERSION);
	jw_lit(&w, ",\"event\":\"");
	jw_name(&w, record_event_name(rec->event));
	jw_char(&w, '"');
	if (rec->event == REC_END) {
		jw_lit(&w, ",\"end_reason\":\"");
		jw_name(&w, record_end_reason_name(rec->end_reason));
		jw_char(&w, '"');
	}
	jw_where(&w, rec);
	jw_lit(&w, ",\"key\":\"");
	if (key_span)
		key_span->off = (size_t)(w.p - buf);
	key_addrs_init(&a, &rec->key);
	jw_key(&w, &rec->key, &a);
	if (key_span)
		key_span->len = (size_t)(w.p - buf) - key_span->off;
	jw_lit(&w, "\",\"proto\":\"");
	jw_proto(&w, rec->key.proto);
	jw_lit(&w, "\",\"proto_num\":");
	jw_u64(&w, rec->key.proto);
	jw_lit(&w, ",\"family\":");
	jw_u64(&w, v4 ? 4 : 6);
	jw_lit(&w, ",\"src_ip\":");
	jw_quoted(&w, a.txt[fwd], a.len[fwd]); /* the key's side @fwd is src */
	jw_lit(&w, ",\"src_port\":");
	jw_u64(&w, sport);
	jw_lit(&w, ",\"dst_ip\":");
	jw_quoted(&w, a.txt[!fwd], a.len[!fwd]);
	jw_lit(&w, ",\"dst_port\":");
	jw_u64(&w, dport);
	jw_lit(&w, ",\"fwd\":");
	jw_dir(&w, df);
	jw_lit(&w, ",\"rev\":");
	jw_dir(&w, dr);
	jw_lit(&w, ",\"packets\":");
	jw_u64(&w, df->packets + dr->packets);
	jw_lit(&w, ",\"bytes\":");
	jw_u64(&w, df->bytes + dr->bytes);
	if (rec->key.proto == IPPROTO_TCP) {
		char fs[40];

		int fl = record_tcp_flags_str(flags, fs, sizeof(fs));

		jw_lit(&w, ",\"tcp\":{\"flags\":");
		jw_u64(&w, flags);
		jw_lit(&w, ",\"flags_str\":\"");
		jw_raw(&w, fs, fl > 0 ? (size_t)fl : 0);
		jw_lit(&w, "\",\"out_of_order\":");
		jw_u64(&w, v->out_of_order);
		jw_lit(&w, ",\"zero_windows\":");
		jw_u64(&w, v->zero_windows);
		jw_lit(&w, ",\"fwd\":");
		jw_tcp_dir(&w, df);
		jw_lit(&w, ",\"rev\":");
		jw_tcp_dir(&w, dr);
		jw_char(&w, '}');
	}
	if (v4) {
		jw_lit(&w, ",\"ip_id\":");
		jw_u64(&w, v->ip_id);
	}
	jw_lit(&w, ",\"first_seen\":");
	jw_time(&w, rec->first_seen_wall_ns);
	jw_lit(&w, ",\"last_seen\":");
	jw_time(&w, rec->last_seen_wall_ns);
	jw_lit(&w, ",\"duration_ms\":");
	jw_u64(&w, rec->last_seen_wall_ns > rec->first_seen_wall_ns ?
			   (rec->last_seen_wall_ns - rec->first_seen_wall_ns) / 1000000 :
			   0);
	verdict = rec->event == REC_DROP || flow_value_verdict(v) == GUARDER_VERDICT_DROP ? "drop" : "pass";
	jw_lit(&w, ",\"verdict\":\"");
	jw_name(&w, verdict);
	jw_lit(&w, "\",\"rule_id\":");
	if (rec->event == REC_DROP)
		jw_u64(&w, rec->rule_id);
	else
		jw_lit(&w, "null");
	if (rec->event == REC_ICMP) {
		const struct icmp_inner *in = &rec->inner;

		jw_lit(&w, ",\"icmp\":{\"type\":");
		jw_u64(&w, rec->icmp_type);
		jw_lit(&w, ",\"code\":");
		jw_u64(&w, rec->icmp_code);
		jw_lit(&w, ",\"inner\":");
		if (in->valid) {
			jw_lit(&w, "{\"src_ip\":");
			jw_addr(&w, in->src);
			jw_lit(&w, ",\"dst_ip\":");
			jw_addr(&w, in->dst);
			jw_lit(&w, ",\"proto\":\"");
			jw_proto(&w, in->proto);
			jw_lit(&w, "\",\"proto_num\":");
			jw_u64(&w, in->proto);
			jw_lit(&w, ",\"src_port\":");
			jw_u64(&w, in->sport);
			jw_lit(&w, ",\"dst_port\":");
			jw_u64(&w, in->dport);
			jw_char(&w, '}');
		} else {
			jw_lit(&w, "null");
		}
		jw_char(&w, '}');
	}
	jw_char(&w, '}');

	if (w.overflow) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	*w.p = '\0';
	return (int)(w.p - buf);
}

int record_format_json(const struct flow_record *rec, char *buf, size_t len)
{
	return record_format(rec, buf, len, NULL);
}
