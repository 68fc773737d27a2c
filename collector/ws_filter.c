// SPDX-License-Identifier: GPL-2.0
/*
 * Subscription filters of the WebSocket feed: parsing (URL and JSON),
 * matching, and the canonical form echoed in "subscribed" messages.
 * Messages written to @err go to a remote client: they quote at most a
 * short, escaped piece of its input.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "lib/errmsg.h"
#include "lib/json_strict.h"
#include "ws_filter.h"

void ws_filter_init(struct ws_filter *f)
{
	memset(f, 0, sizeof(*f));
}

static bool parse_uint(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 10 || (s[0] == '0' && n > 1))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static int add_proto(struct ws_filter *f, const char *s, size_t n, char *err, size_t errlen)
{
	char q[48];

	if (f->n_protos >= WS_FILTER_MAX_ITEMS)
		return errmsg_inval(err, errlen, "protocol: at most %d values",
				    WS_FILTER_MAX_ITEMS);
	if (!net_proto_parse(s, n, NET_PROTO_NUMBER, &f->protos[f->n_protos])) {
		f->n_protos++;
		return 0;
	}
	return errmsg_inval(err, errlen,
			    "protocol: '%s' is not " NET_PROTO_NAMES " or a number from 0 to 255",
			    errmsg_excerpt(q, sizeof(q), s, n));
}

static int add_net(struct ws_filter *f, const char *s, size_t n, char *err, size_t errlen)
{
	char text[NET_STRLEN], why[NET_ERR_LEN], q[48], *p;

	if (f->n_nets >= WS_FILTER_MAX_ITEMS)
		return errmsg_inval(err, errlen, "ip: at most %d values", WS_FILTER_MAX_ITEMS);
	if (n >= sizeof(text) || memchr(s, '\0', n))
		return errmsg_inval(err, errlen, "ip: '%s' is not an IPv4 or IPv6 address or CIDR",
				    errmsg_excerpt(q, sizeof(q), s, n));
	memcpy(text, s, n);
	text[n] = '\0';
	if (!net_parse(text, 0, &f->nets[f->n_nets], why, sizeof(why))) {
		f->n_nets++;
		return 0;
	}
	/* The message travels inside a JSON string: no double quotes. */
	for (p = why; *p; p++)
		if (*p == '"')
			*p = '\'';
	return errmsg_inval(err, errlen, "ip: %s", why);
}

static int add_port(struct ws_filter *f, const char *s, size_t n, char *err, size_t errlen)
{
	const char *dash = memchr(s, '-', n);
	unsigned long a, b;
	char q[48];

	if (f->n_ports >= WS_FILTER_MAX_ITEMS)
		return errmsg_inval(err, errlen, "port: at most %d values", WS_FILTER_MAX_ITEMS);
	if (dash) {
		if (!parse_uint(s, (size_t)(dash - s), 65535, &a) ||
		    !parse_uint(dash + 1, n - (size_t)(dash - s) - 1, 65535, &b) || a > b)
			goto out_bad;
	} else {
		if (!parse_uint(s, n, 65535, &a))
			goto out_bad;
		b = a;
	}
	f->ports[f->n_ports][0] = (uint16_t)a;
	f->ports[f->n_ports][1] = (uint16_t)b;
	f->n_ports++;
	return 0;
out_bad:
	return errmsg_inval(err, errlen,
			    "port: '%s' is not a port or range from 0 to 65535 (22, 1000-2000)",
			    errmsg_excerpt(q, sizeof(q), s, n));
}

static int add_event(struct ws_filter *f, const char *s, size_t n, char *err, size_t errlen)
{
	char q[48];
	int e;

	for (e = REC_START; e <= REC_DROPS; e++) {
		const char *name = record_event_name((enum record_event)e);

		if (strlen(name) == n && !strncmp(name, s, n)) {
			f->events |= 1u << e;
			return 0;
		}
	}
	return errmsg_inval(err, errlen, "event: '%s' is not start, update, end, drop, icmp or drops",
			    errmsg_excerpt(q, sizeof(q), s, n));
}

typedef int (*add_fn)(struct ws_filter *f, const char *s, size_t n, char *err, size_t errlen);

static add_fn adder_of(const char *name)
{
	static const struct {
		const char *name;
		add_fn add;
	} adders[] = {
		{ "protocol", add_proto },
		{ "ip", add_net },
		{ "port", add_port },
		{ "event", add_event },
	};
	size_t i;

	for (i = 0; i < sizeof(adders) / sizeof(adders[0]); i++)
		if (!strcmp(name, adders[i].name))
			return adders[i].add;
	return NULL;
}

/* A comma-separated list; empty items are errors (a typo, not "anything"). */
static int add_list(struct ws_filter *f, add_fn add, const char *name, const char *value,
		    size_t len, char *err, size_t errlen)
{
	const char *p = value, *end = value + len, *comma;
	int ret;

	if (len == 0)
		return errmsg_inval(err, errlen, "%s: empty value", name);
	for (;;) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (!comma)
			comma = end;
		if (comma == p)
			return errmsg_inval(err, errlen, "%s: empty item in the list", name);
		ret = add(f, p, (size_t)(comma - p), err, errlen);
		if (ret)
			return ret;
		if (comma == end)
			return 0;
		p = comma + 1;
	}
}

int ws_filter_set(struct ws_filter *f, const char *name, const char *value, char *err,
		  size_t errlen)
{
	add_fn add = adder_of(name);

	if (!add)
		return -ENOENT;
	return add_list(f, add, name, value, strlen(value), err, errlen);
}

static int add_json_value(struct ws_filter *f, add_fn add, const char *name, struct json_object *v,
			  char *err, size_t errlen)
{
	char num[16];
	int n;

	switch (json_object_get_type(v)) {
	case json_type_string:
		return add_list(f, add, name, json_object_get_string(v),
				(size_t)json_object_get_string_len(v), err, errlen);
	case json_type_int:
		if ((add != add_port && add != add_proto) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > 65535)
			break;
		n = snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(v));
		return add(f, num, (size_t)n, err, errlen);
	default:
		break;
	}
	return errmsg_inval(err, errlen, "%s: expected %s, or a list of them", name,
			    add == add_port ?
				    "a port number or a string like \"22\" or \"1000-2000\"" :
			    add == add_proto ? "a protocol name or number" :
					       "a string");
}

int ws_filter_parse_json(struct ws_filter *out, const char *text, size_t len, char *err,
			 size_t errlen)
{
	char q[48], why[JSON_STRICT_ERR_LEN];
	struct json_object *obj = NULL;
	struct ws_filter f;
	int ret;

	ws_filter_init(&f);
	/* Any type here, so that a non-object gets the example below. */
	ret = json_strict_parse(text, len, JSON_STRICT_ANY, NULL, &obj, why, sizeof(why));
	if (ret)
		return errmsg_set(err, errlen, ret, "the filter message is not one JSON object: %s",
				  why);
	if (!json_object_is_type(obj, json_type_object)) {
		ret = errmsg_inval(
			err, errlen,
			"the filter message must be a JSON object like {\"protocol\":\"tcp\"}");
		goto out;
	}
	json_object_object_foreach(obj, key, val)
	{
		add_fn add = adder_of(key);
		size_t i, n;

		if (!add) {
			ret = errmsg_inval(
				err, errlen,
				"%s: unknown filter field (fields: protocol, ip, port, event)",
				errmsg_excerpt(q, sizeof(q), key, strlen(key)));
			goto out;
		}
		if (!json_object_is_type(val, json_type_array)) {
			ret = add_json_value(&f, add, key, val, err, errlen);
			if (ret)
				goto out;
			continue;
		}
		n = json_object_array_length(val);
		if (n == 0) {
			ret = errmsg_inval(err, errlen,
					   "%s: empty list (leave the field out to match all)",
					   key);
			goto out;
		}
		for (i = 0; i < n; i++) {
			ret = add_json_value(&f, add, key, json_object_array_get_idx(val, i), err,
					     errlen);
			if (ret)
				goto out;
		}
	}
	*out = f;
out:
	json_object_put(obj);
	return ret;
}

bool ws_filter_match(const struct ws_filter *f, const struct ws_match *m)
{
	size_t i;
	bool hit;

	if (f->events && !(f->events & (1u << m->event)))
		return false;
	if (f->n_protos) {
		for (hit = false, i = 0; i < f->n_protos && !hit; i++)
			hit = f->protos[i] == m->proto;
		if (!hit)
			return false;
	}
	if (f->n_ports) {
		for (hit = false, i = 0; i < f->n_ports && !hit; i++)
			hit = (m->port[0] >= f->ports[i][0] && m->port[0] <= f->ports[i][1]) ||
			      (m->port[1] >= f->ports[i][0] && m->port[1] <= f->ports[i][1]);
		if (!hit)
			return false;
	}
	if (f->n_nets) {
		for (hit = false, i = 0; i < f->n_nets && !hit; i++)
			hit = net_contains(&f->nets[i], m->addr[0]) ||
			      net_contains(&f->nets[i], m->addr[1]);
		if (!hit)
			return false;
	}
	return true;
}

struct out {
	char *buf;
	size_t len, o;
};

static void put(struct out *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->o >= w->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->buf + w->o, w->len - w->o, fmt, ap);
	va_end(ap);
	w->o = n < 0 ? w->len : w->o + (size_t)n;
}

int ws_filter_json(const struct ws_filter *f, char *buf, size_t len)
{
	struct out w = { .buf = buf, .len = len };
	char a[NET_STRLEN];
	const char *sep = "";
	size_t i;
	int e;

	put(&w, "{");
	if (f->n_protos) {
		put(&w, "\"protocol\":[");
		for (i = 0; i < f->n_protos; i++)
			put(&w, "%s\"%s\"", i ? "," : "", net_proto_name(f->protos[i]));
		put(&w, "]");
		sep = ",";
	}
	if (f->n_nets) {
		put(&w, "%s\"ip\":[", sep);
		for (i = 0; i < f->n_nets; i++) {
			net_format(&f->nets[i], 0, a, sizeof(a));
			put(&w, "%s\"%s\"", i ? "," : "", a);
		}
		put(&w, "]");
		sep = ",";
	}
	if (f->n_ports) {
		put(&w, "%s\"port\":[", sep);
		for (i = 0; i < f->n_ports; i++) {
			if (f->ports[i][0] == f->ports[i][1])
				put(&w, "%s%u", i ? "," : "", f->ports[i][0]);
			else
				put(&w, "%s\"%u-%u\"", i ? "," : "", f->ports[i][0],
				    f->ports[i][1]);
		}
		put(&w, "]");
		sep = ",";
	}
	if (f->events) {
		put(&w, "%s\"event\":[", sep);
		for (i = 0, e = REC_START; e <= REC_DROPS; e++)
			if (f->events & (1u << e))
				put(&w, "%s\"%s\"", i++ ? "," : "",
				    record_event_name((enum record_event)e));
		put(&w, "]");
	}
	put(&w, "}");
	return w.o >= len ? -ENOSPC : (int)w.o;
}

void ws_match_from_record(const struct flow_record *rec, struct ws_match *m)
{
	m->event = (uint8_t)rec->event;
	if (rec->event == REC_DROPS) {
		/* One source's drops: no protocol or port to match, its address twice. */
		m->proto = 0;
		m->port[0] = m->port[1] = 0;
		memcpy(m->addr[0], rec->drop.src, 16);
		memcpy(m->addr[1], rec->drop.src, 16);
		return;
	}
	m->proto = rec->key.proto;
	m->port[0] = rec->key.port_lo;
	m->port[1] = rec->key.port_hi;
	memcpy(m->addr[0], rec->key.addr_lo, 16);
	memcpy(m->addr[1], rec->key.addr_hi, 16);
}
