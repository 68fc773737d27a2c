// SPDX-License-Identifier: GPL-2.0
/*
 * The WebSocket feed /ws/flows (libwebsockets): every record, live, to
 * every subscriber, through one shared ring (docs/websocket.md).
 *
 * Two threads. The collector's thread (emit, stats) is the only producer:
 * it copies each record into the next slot of a ring of
 * websocket.queue_records slots and publishes its sequence number. It
 * never waits for a subscriber: a slot is a seqlock (its seq is 0 while
 * written, then the record's number), so readers detect a slot that was
 * overwritten under them instead of holding the writer up. With no
 * subscriber the ring is not even touched.
 *
 * The lws thread serves every connection. Each subscriber owns a cursor
 * (the next seq it gets) and reads the ring when lws says its socket is
 * writable, batching the records that pass its filter into one text
 * message of at most websocket.max_message bytes, so a slow socket gets
 * fewer, larger messages and never more memory than its one buffer. A
 * subscriber that the producer laps skips to the oldest record still in
 * the ring and is told exactly how many it missed. Memory is the ring
 * plus one message buffer per subscriber, whatever the rates.
 *
 * Waking: the lws thread sleeps in poll(). A subscriber that has sent
 * everything sets need_wake before it sleeps; the producer calls
 * lws_cancel_service() (a pipe write) only when it finds need_wake set,
 * so a busy feed costs no syscall per record and an idle one none at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "lib/config.h"
#include "lib/http_access.h"
#include "lib/listen.h"
#include "lib/log.h"
#include "sink.h"
#include "ws_filter.h"

#define WS_PATH		"/ws/flows"
#define WS_RX_MAX	4096 /* largest filter message a client may send */
#define WS_HDR_MAX	1024 /* longest header or query argument we read */
#define WS_TICK_US	(200 * 1000) /* backstop wake, and shutdown deadline checks */
#define WS_STOP_WAIT_US (1000 * 1000) /* for clients to take their 1001 close */
#define WS_FLUSH_MAX_MS 1000 /* at shutdown, for subscribers to get the last records */
#define WS_STATS_MAX	8192 /* the collector's stats object (main.c STATS_JSON_MAX) */
#define WS_ERR_MAX	256

/* Cache-line aligned: an emit touches the lines of its record only. */
struct ws_slot {
	_Atomic uint64_t seq; /* the record's number; 0 while being written */
	uint32_t len;
	struct ws_match match;
	char json[RECORD_JSON_MAX];
} __attribute__((aligned(64)));

struct ws_client;

struct ws_feed {
	const struct guarder_config *cfg;
	struct lws_context *ctx;
	pthread_t thread;
	bool thread_started;
	lws_retry_bo_t retry;
	struct lws_protocols protocols[2];
	char iface[INET6_ADDRSTRLEN];
	unsigned int port;
	bool loopback;
	struct http_access access;

	/* the ring: written by the producer only */
	struct ws_slot *ring;
	uint64_t mask;
	uint64_t size;
	uint64_t next_seq; /* producer's own */
	uint64_t wakes; /* producer's own: lws_cancel_service() calls */
	_Atomic uint64_t head; /* last published seq, 0: none yet */
	_Atomic int subscribers; /* clients with a cursor */
	_Atomic int need_wake; /* a caught-up client sleeps */
	_Atomic bool stop; /* destroy asked the lws thread to finish */
	_Atomic uint64_t flush_want; /* flush: every cursor past this seq */
	_Atomic uint64_t flushed; /* the lowest cursor - 1, when flush_want is set */

	/* the latest stats frame, handed from the producer to the lws thread */
	pthread_mutex_t stats_lock;
	char *stats_text; /* under stats_lock */
	size_t stats_len;
	_Atomic uint64_t stats_gen;
	int64_t stats_last_ms; /* producer's own: CLOCK_MONOTONIC of the last frame */

	/* counters for stats_json: written by the lws thread */
	_Atomic uint64_t n_clients, connections, refused, records_sent, messages_sent,
		lagged_records, lagged_messages, bad_filters;

	/* lws thread only */
	struct ws_client *clients;
	lws_sorted_usec_list_t tick;
	size_t buf_size;
};

/* Per connection (lws's per-session data, zeroed by lws). */
struct ws_client {
	struct ws_client *next, **pprev;
	struct lws *wsi;
	bool linked;
	bool waiting; /* caught up, asleep until need_wake fires */
	bool send_subscribed;
	bool send_error;
	bool close_policy; /* after the error message: close 1008 */
	bool going_away; /* collector stopping: close 1001 */
	uint64_t cursor; /* the next seq to send */
	uint64_t lag; /* records skipped, not yet reported */
	uint64_t stats_gen;
	uint64_t records, messages, missed;
	struct ws_filter filter;
	char err[WS_ERR_MAX];
	unsigned char *buf; /* LWS_PRE + buf_size */
	char *rx; /* the client message being assembled */
	size_t rx_len;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- the producer side (the collector's thread) ---- */

static int ws_emit(struct sink *s, const struct flow_record *rec, const char *json, size_t json_len,
		   const char *key, size_t key_len)
{
	struct ws_feed *f = s->priv;
	struct ws_slot *slot;
	uint64_t seq;

	(void)key;
	(void)key_len;
	if (!atomic_load_explicit(&f->subscribers, memory_order_relaxed))
		return 0;
	if (json_len > RECORD_JSON_MAX)
		return -EMSGSIZE;
	seq = ++f->next_seq;
	slot = &f->ring[seq & f->mask];
	atomic_store_explicit(&slot->seq, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	slot->len = (uint32_t)json_len;
	ws_match_from_record(rec, &slot->match);
	memcpy(slot->json, json, json_len);
	atomic_store_explicit(&slot->seq, seq, memory_order_release);
	/* seq_cst pairs with the reader's need_wake store + head load */
	atomic_store(&f->head, seq);
	if (atomic_load(&f->need_wake) && atomic_exchange(&f->need_wake, 0)) {
		f->wakes++;
		lws_cancel_service(f->ctx);
	}
	return 0;
}

static void ws_stats(struct sink *s, const char *json, size_t len)
{
	struct ws_feed *f = s->priv;
	char *copy;

	struct timespec now;
	int64_t ms;

	if (!f->cfg->websocket.stats_interval)
		return;
	/* by the clock, not by calls: whatever period the collector calls at */
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (ms - f->stats_last_ms < (int64_t)f->cfg->websocket.stats_interval * 1000 - 500)
		return;
	f->stats_last_ms = ms;
	/* the frame adds per-client counters before the final '}' */
	if (len < 2 || json[len - 1] != '}' || len > WS_STATS_MAX)
		return;
	copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, json, len);
	pthread_mutex_lock(&f->stats_lock);
	free(f->stats_text);
	f->stats_text = copy;
	f->stats_len = len;
	pthread_mutex_unlock(&f->stats_lock);
	atomic_fetch_add(&f->stats_gen, 1);
	lws_cancel_service(f->ctx);
}

static int ws_stats_json(struct sink *s, char *buf, size_t len)
{
	struct ws_feed *f = s->priv;
	int n;

	n = snprintf(buf, len,
		     "{\"clients\":%llu,\"connections\":%llu,\"refused\":%llu,\"bad_filters\":%llu,"
		     "\"sent\":%llu,\"messages\":%llu,\"lagged_records\":%llu,"
		     "\"lagged_messages\":%llu,\"wakeups\":%llu}",
		     (unsigned long long)get(&f->n_clients),
		     (unsigned long long)get(&f->connections), (unsigned long long)get(&f->refused),
		     (unsigned long long)get(&f->bad_filters),
		     (unsigned long long)get(&f->records_sent),
		     (unsigned long long)get(&f->messages_sent),
		     (unsigned long long)get(&f->lagged_records),
		     (unsigned long long)get(&f->lagged_messages), (unsigned long long)f->wakes);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* ---- access checks (lib/http_access.h, the policy guarder-api follows too) ---- */

/*
 * A header's value, or NULL when absent. One longer than @len allows is
 * "": present, and too long to be anything the checks accept.
 */
static const char *header(struct lws *wsi, enum lws_token_indexes h, char *buf, int len)
{
	if (lws_hdr_total_length(wsi, h) <= 0)
		return NULL;
	if (lws_hdr_copy(wsi, buf, len, h) < 0)
		return "";
	return buf;
}

/*
 * Walk the query arguments ("name=value", decoded by lws). Returns the
 * value of the @i-th one, its name in @name, or NULL after the last.
 */
static const char *query_arg(struct lws *wsi, int i, char *buf, int len, char **name)
{
	char *eq;

	if (lws_hdr_copy_fragment(wsi, buf, len, WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
		return NULL;
	*name = buf;
	eq = strchr(buf, '=');
	if (!eq)
		return buf + strlen(buf);
	*eq = '\0';
	return eq + 1;
}

/* The URL's token argument, in @out (WS_HDR_MAX bytes); the last one if repeated. */
static const char *query_token(struct lws *wsi, char *out)
{
	char buf[WS_HDR_MAX], *name;
	const char *v, *token = NULL;
	int i;

	for (i = 0; (v = query_arg(wsi, i, buf, sizeof(buf), &name)); i++) {
		if (!strcmp(name, "token")) {
			snprintf(out, WS_HDR_MAX, "%s", v);
			token = out;
		}
	}
	return token;
}

static bool path_ok(struct lws *wsi)
{
	char buf[WS_HDR_MAX];
	const char *p = header(wsi, WSI_TOKEN_GET_URI, buf, sizeof(buf));

	return p && !strcmp(p, WS_PATH);
}

static const char *reason_of(unsigned int code)
{
	switch (code) {
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 421:
		return "Misdirected Request";
	case 426:
		return "Upgrade Required";
	default:
		return "Service Unavailable";
	}
}

/*
 * Answer an HTTP request with @code and {"error": @msg}, and close. The
 * response is written whole: lws's header helpers would say HTTP/1.0
 * before the request is fully processed, which strict clients refuse.
 * Returns what the lws callback must return: 1 for a refused upgrade.
 */
static int http_refuse(struct ws_feed *f, struct lws *wsi, unsigned int code, const char *msg)
{
	unsigned char buf[LWS_PRE + 1024];
	char body[512];
	int n, b;

	count(&f->refused, 1);
	log_debug("websocket: refused with %u: %s", code, msg);
	b = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", msg);
	if (b < 0 || (size_t)b >= sizeof(body))
		return -1;
	n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
		     "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %d\r\nCache-Control: no-store\r\n%s"
		     "Connection: close\r\n\r\n%s",
		     code, reason_of(code), b,
		     code == 401 ? "WWW-Authenticate: Bearer realm=\"guarder\"\r\n" : "", body);
	if (n < 0 || (size_t)n >= sizeof(buf) - LWS_PRE)
		return -1;
	if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
		return -1;
	return 1;
}

/* The checks before a client may subscribe: access first, as in guarder-api. */
static int confirm_upgrade(struct ws_feed *f, struct lws *wsi)
{
	char host[WS_HDR_MAX], origin[WS_HDR_MAX], auth[WS_HDR_MAX], token[WS_HDR_MAX];
	const struct http_access_request req = {
		.host = header(wsi, WSI_TOKEN_HOST, host, sizeof(host)),
		.origin = header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin)),
		.authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, auth, sizeof(auth)),
		.query_token = query_token(wsi, token),
	};
	struct http_access_verdict v = http_access_check(&f->access, &req);

	if (v.result != HTTP_ACCESS_OK)
		return http_refuse(f, wsi, v.status, v.message);
	if (!path_ok(wsi))
		return http_refuse(f, wsi, 404, "no such endpoint: the feed is " WS_PATH);
	if (get(&f->n_clients) >= f->cfg->websocket.max_clients)
		return http_refuse(f, wsi, 503,
				   "too many subscribers (websocket.max_clients); try again later");
	return 0;
}

/* ---- subscribers (the lws thread) ---- */

static void client_writable(struct ws_client *c)
{
	c->waiting = false;
	lws_callback_on_writable(c->wsi);
}

/* The URL's filter; an error is sent as the first message, then 1008. */
static void client_url_filter(struct ws_feed *f, struct ws_client *c)
{
	char buf[WS_HDR_MAX], *name;
	const char *v;
	int i, err;

	for (i = 0; (v = query_arg(c->wsi, i, buf, sizeof(buf), &name)); i++) {
		if (!strcmp(name, "token"))
			continue;
		err = ws_filter_set(&c->filter, name, v, c->err, sizeof(c->err));
		if (err == -ENOENT)
			snprintf(c->err, sizeof(c->err),
				 "%.64s: unknown query parameter (this endpoint takes: protocol, "
				 "ip, port, event, token)",
				 name);
		if (err) {
			count(&f->bad_filters, 1);
			c->send_error = true;
			return;
		}
	}
}

static int client_open(struct ws_feed *f, struct ws_client *c, struct lws *wsi)
{
	char peer[64], flt[WS_FILTER_JSON_MAX];

	c->wsi = wsi;
	ws_filter_init(&c->filter);
	c->buf = malloc(LWS_PRE + f->buf_size);
	if (!c->buf) {
		log_warn("websocket: out of memory for a subscriber");
		return -1;
	}
	client_url_filter(f, c);
	c->send_subscribed = !c->send_error;
	c->stats_gen = atomic_load(&f->stats_gen);
	/* a live feed: the first record is the next one published */
	c->cursor = atomic_load(&f->head) + 1;
	atomic_fetch_add(&f->subscribers, 1);
	c->next = f->clients;
	c->pprev = &f->clients;
	if (f->clients)
		f->clients->pprev = &c->next;
	f->clients = c;
	c->linked = true;
	count(&f->n_clients, 1);
	count(&f->connections, 1);
	if (!lws_get_peer_simple(wsi, peer, sizeof(peer)))
		snprintf(peer, sizeof(peer), "?");
	if (ws_filter_json(&c->filter, flt, sizeof(flt)) < 0)
		snprintf(flt, sizeof(flt), "?");
	log_debug("websocket: %s subscribed (%s), %llu clients", peer,
		  c->send_error ? "bad filter" : flt, (unsigned long long)get(&f->n_clients));
	client_writable(c);
	return 0;
}

static void client_close(struct ws_feed *f, struct ws_client *c)
{
	if (c->linked) {
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		c->linked = false;
		atomic_fetch_sub(&f->subscribers, 1);
		atomic_fetch_sub(&f->n_clients, 1);
		log_debug(
			"websocket: a subscriber left after %llu records, %llu missed; %llu clients",
			(unsigned long long)c->records, (unsigned long long)c->missed,
			(unsigned long long)get(&f->n_clients));
	}
	free(c->buf);
	c->buf = NULL;
	free(c->rx);
	c->rx = NULL;
}

/* A text message from the client: a new filter (or an error and 1008). */
static int client_receive(struct ws_feed *f, struct ws_client *c, const void *in, size_t len)
{
	struct ws_filter nf;
	char *grown;

	if (c->send_error || c->close_policy)
		return 0; /* already refused, closing */
	if (lws_frame_is_binary(c->wsi)) {
		snprintf(c->err, sizeof(c->err), "binary messages are not filters: send JSON text");
		goto refuse;
	}
	if (c->rx_len + len > WS_RX_MAX) {
		snprintf(c->err, sizeof(c->err), "filter message longer than %d bytes", WS_RX_MAX);
		goto refuse;
	}
	grown = realloc(c->rx, c->rx_len + len + 1);
	if (!grown)
		return -1;
	c->rx = grown;
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (!lws_is_final_fragment(c->wsi))
		return 0;
	nf = c->filter;
	if (ws_filter_parse_json(&nf, c->rx, c->rx_len, c->err, sizeof(c->err)))
		goto refuse;
	c->filter = nf;
	c->rx_len = 0;
	/* records not yet sent are filtered with the new filter, after the ack */
	c->send_subscribed = true;
	client_writable(c);
	return 0;
refuse:
	count(&f->bad_filters, 1);
	c->send_error = true;
	c->rx_len = 0;
	client_writable(c);
	return 0;
}

/*
 * Read slot @seq into @dst if it still holds that record. Returns its
 * length and @m, 0 if it does not pass @filter (nothing copied), or -1 if
 * the producer overwrote it: then the record is lost to this client.
 */
static int ring_read(struct ws_feed *f, uint64_t seq, const struct ws_filter *filter, char *dst,
		     size_t room, bool *fits)
{
	struct ws_slot *slot = &f->ring[seq & f->mask];
	struct ws_match m;
	uint32_t len;
	bool pass;

	if (atomic_load_explicit(&slot->seq, memory_order_acquire) != seq)
		return -1;
	len = slot->len;
	m = slot->match;
	/* torn values are never used: the second seq check throws them away */
	pass = len <= RECORD_JSON_MAX && ws_filter_match(filter, &m);
	*fits = len <= room;
	if (pass && *fits)
		memcpy(dst, slot->json, len);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&slot->seq, memory_order_relaxed) != seq)
		return -1;
	return pass ? (int)len : 0;
}

/*
 * Fill the buffer with the records for @c: as many as fit in one
 * message, newline-separated. Stops before a gap so that the lagged
 * message comes between the records it separates. Returns the length.
 */
static size_t client_batch(struct ws_feed *f, struct ws_client *c, char *p, size_t max)
{
	size_t n = 0, sep;
	uint64_t head, oldest;
	bool fits;
	int len;

	for (;;) {
		head = atomic_load(&f->head);
		if (c->cursor > head)
			break;
		oldest = head >= f->size ? head - f->size + 1 : 1;
		if (c->cursor < oldest) {
			c->lag += oldest - c->cursor;
			c->cursor = oldest;
		}
		if (c->lag)
			break;
		sep = n ? 1 : 0;
		/* a batch that filled @max exactly: the next record waits */
		if (n + sep >= max)
			break;
		len = ring_read(f, c->cursor, &c->filter, p + n + sep, max - n - sep, &fits);
		if (len < 0) {
			c->lag++;
			c->cursor++;
			continue;
		}
		if (len > 0 && !fits)
			break;
		if (len > 0) {
			if (sep)
				p[n] = '\n';
			n += sep + (size_t)len;
			c->records++;
			count(&f->records_sent, 1);
		}
		c->cursor++;
	}
	return n;
}

/* The stats frame: the collector's object with this client's counters added. */
static size_t client_stats(struct ws_feed *f, struct ws_client *c, char *p, size_t max)
{
	size_t n = 0;
	int k;

	pthread_mutex_lock(&f->stats_lock);
	if (f->stats_text && f->stats_len - 1 < max) {
		memcpy(p, f->stats_text, f->stats_len - 1);
		n = f->stats_len - 1;
	}
	pthread_mutex_unlock(&f->stats_lock);
	if (!n)
		return 0;
	k = snprintf(p + n, max - n,
		     ",\"client\":{\"records\":%llu,\"missed\":%llu,\"messages\":%llu}}",
		     (unsigned long long)c->records, (unsigned long long)c->missed,
		     (unsigned long long)c->messages);
	return k < 0 || (size_t)k >= max - n ? 0 : n + (size_t)k;
}

static bool client_pending(struct ws_feed *f, struct ws_client *c)
{
	return c->going_away || c->send_error || c->close_policy || c->send_subscribed || c->lag ||
	       c->stats_gen != atomic_load(&f->stats_gen) || c->cursor <= atomic_load(&f->head);
}

/* Printable ASCII only: @s may quote the client's input, and goes into a JSON string. */
static void json_safe(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' ||
		    *s == '\\')
			*s = '?';
}

/* One message per writable callback; returns -1 to close the connection. */
static int client_write(struct ws_feed *f, struct ws_client *c)
{
	char *p = (char *)c->buf + LWS_PRE, filter[WS_FILTER_JSON_MAX];
	size_t max = f->buf_size, n = 0;
	int k;

	if (c->going_away) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_GOINGAWAY,
				 (unsigned char *)"collector stopping", 18);
		return -1;
	}
	if (c->close_policy) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				 (unsigned char *)"bad filter", 10);
		return -1;
	}
	if (c->send_error) {
		json_safe(c->err);
		k = snprintf(p, max, "{\"type\":\"error\",\"error\":\"%s\"}", c->err);
		n = k < 0 ? 0 : (size_t)k;
		c->send_error = false;
		c->close_policy = true;
	} else if (c->send_subscribed) {
		if (ws_filter_json(&c->filter, filter, sizeof(filter)) < 0)
			return -1;
		k = snprintf(p, max, "{\"type\":\"subscribed\",\"filter\":%s}", filter);
		n = k < 0 || (size_t)k >= max ? 0 : (size_t)k;
		c->send_subscribed = false;
	} else if (c->stats_gen != atomic_load(&f->stats_gen)) {
		c->stats_gen = atomic_load(&f->stats_gen);
		n = client_stats(f, c, p, max);
	}
	if (!n && !c->close_policy) {
		n = client_batch(f, c, p, f->cfg->websocket.max_message);
		if (!n && c->lag) {
			k = snprintf(p, max, "{\"type\":\"lagged\",\"missed\":%llu}",
				     (unsigned long long)c->lag);
			n = (size_t)k;
			c->missed += c->lag;
			count(&f->lagged_records, c->lag);
			count(&f->lagged_messages, 1);
			c->lag = 0;
		}
	}
	if (n) {
		if (lws_write(c->wsi, (unsigned char *)p, n, LWS_WRITE_TEXT) < (int)n)
			return -1;
		c->messages++;
		count(&f->messages_sent, 1);
	}
	if (client_pending(f, c)) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	/* caught up: ask the producer for a wake, then look once more */
	c->waiting = true;
	atomic_store(&f->need_wake, 1);
	if (c->cursor <= atomic_load(&f->head))
		client_writable(c);
	return 0;
}

/* After a wake, a tick or at stop: whoever has something to send asks to write. */
static void clients_wake(struct ws_feed *f)
{
	bool stop = atomic_load(&f->stop);
	struct ws_client *c;

	for (c = f->clients; c; c = c->next) {
		if (stop && !c->going_away) {
			c->going_away = true;
			client_writable(c);
		} else if (c->waiting && client_pending(f, c)) {
			client_writable(c);
		}
	}
}

static void flush_check(struct ws_feed *f)
{
	uint64_t want = atomic_load(&f->flush_want), low = UINT64_MAX;
	struct ws_client *c;

	if (!want)
		return;
	for (c = f->clients; c; c = c->next)
		if (c->cursor - 1 < low)
			low = c->cursor - 1;
	atomic_store(&f->flushed, low);
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct ws_feed *f = lws_container_of(sul, struct ws_feed, tick);

	clients_wake(f);
	flush_check(f);
	lws_sul_schedule(f->ctx, 0, &f->tick, tick, WS_TICK_US);
}

static int on_http(struct ws_feed *f, struct lws *wsi)
{
	int ret;

	if (path_ok(wsi))
		ret = http_refuse(f, wsi, 426, "this is a WebSocket endpoint: upgrade to it");
	else
		ret = http_refuse(f, wsi, 404, "no such endpoint: the feed is " WS_PATH);
	if (ret < 0 || lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	const struct lws_protocols *proto = lws_get_protocol(wsi);
	struct ws_feed *f = proto ? proto->user : NULL;
	struct ws_client *c = user;

	if (!f)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_http(f, wsi);
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(f, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		return client_open(f, c, wsi);
	case LWS_CALLBACK_RECEIVE:
		return client_receive(f, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!c->linked)
			return 0;
		return client_write(f, c);
	case LWS_CALLBACK_CLOSED:
		client_close(f, c);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		clients_wake(f);
		flush_check(f);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void *ws_thread(void *arg)
{
	struct ws_feed *f = arg;
	lws_usec_t deadline = 0;

	lws_sul_schedule(f->ctx, 0, &f->tick, tick, WS_TICK_US);
	for (;;) {
		if (lws_service(f->ctx, 0) < 0) {
			log_error("websocket: the service loop failed: the feed stops serving");
			/* the producer may still wake the context: keep it until destroy */
			while (!atomic_load(&f->stop))
				usleep(100 * 1000);
			break;
		}
		if (!atomic_load(&f->stop))
			continue;
		if (!deadline) {
			deadline = lws_now_usecs() + WS_STOP_WAIT_US;
			clients_wake(f);
		}
		if (!f->clients || lws_now_usecs() > deadline)
			break;
	}
	lws_sul_cancel(&f->tick);
	/* closes whoever did not take the 1001 in time; CLOSED frees them */
	lws_context_destroy(f->ctx);
	f->ctx = NULL;
	return NULL;
}

/* ---- life cycle ---- */

/*
 * Give the subscribers the records published so far: at shutdown, the
 * last sweep's end records. A stalled subscriber would hold the whole
 * shutdown, so this waits WS_FLUSH_MAX_MS at most, whatever @timeout_ms.
 */
static int ws_flush(struct sink *s, int timeout_ms)
{
	struct ws_feed *f = s->priv;
	uint64_t target = atomic_load(&f->head);
	int waited;

	if (!target || !f->ctx)
		return 0;
	if (timeout_ms > WS_FLUSH_MAX_MS)
		timeout_ms = WS_FLUSH_MAX_MS;
	atomic_store(&f->flushed, 0);
	atomic_store(&f->flush_want, target);
	for (waited = 0;; waited += 10) {
		lws_cancel_service(f->ctx);
		usleep(10 * 1000);
		if (atomic_load(&f->flushed) >= target)
			break;
		if (waited >= timeout_ms) {
			atomic_store(&f->flush_want, 0);
			return -ETIMEDOUT;
		}
	}
	atomic_store(&f->flush_want, 0);
	return 0;
}

static void ws_feed_free(struct ws_feed *f)
{
	if (f->thread_started) {
		atomic_store(&f->stop, true);
		lws_cancel_service(f->ctx);
		pthread_join(f->thread, NULL);
	} else if (f->ctx) {
		lws_context_destroy(f->ctx);
	}
	pthread_mutex_destroy(&f->stats_lock);
	free(f->stats_text);
	if (f->ring)
		munmap(f->ring, f->size * sizeof(*f->ring));
	free(f);
}

static void ws_destroy(void *priv)
{
	ws_feed_free(priv);
}

static const struct sink_ops sink_ws_ops = {
	.name = "websocket",
	.emit = ws_emit,
	.stats_json = ws_stats_json,
	.stats = ws_stats,
	.flush = ws_flush,
	.destroy = ws_destroy,
};

static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warn("websocket: lws: %.*s", (int)n, line);
	else
		log_debug("websocket: lws: %.*s", (int)n, line);
}

/*
 * Whether the address can be bound, asked before lws is: lws only logs
 * why it could not listen (and leaks a little on that path), while the
 * collector must say it and exit with the reason.
 */
static int bind_probe(const struct sockaddr_storage *ss, socklen_t sslen)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0, one = 1;

	if (fd < 0)
		return -errno;
	/* as lws does: a port in TIME_WAIT is not "in use" */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sslen))
		err = -errno;
	close(fd);
	return err;
}

static int feed_listen(struct ws_feed *f)
{
	const struct guarder_config *cfg = f->cfg;
	struct http_access_conf access_conf = {
		.service = "feed",
		.token = cfg->api.token,
		.origins = cfg->websocket.origins,
		.n_origins = cfg->websocket.n_origins,
		.origins_key = "websocket.origins",
		.query_token = true,
	};
	struct lws_context_creation_info info;
	struct sockaddr_storage ss;
	socklen_t sslen;
	const void *addr;
	int err;

	err = listen_resolve(cfg->websocket.listen, &ss, &sslen, &f->port, &f->loopback);
	if (err)
		return err;
	if (!f->loopback && !cfg->api.token) {
		log_error("websocket.listen %s is not a loopback address and api.token is unset: "
			  "refusing to serve flow records to the network without authentication "
			  "(set api.token, or listen on 127.0.0.1)",
			  cfg->websocket.listen);
		return -EACCES;
	}
	access_conf.port = f->port;
	access_conf.loopback = f->loopback;
	err = http_access_init(&f->access, &access_conf);
	if (err) {
		log_error("websocket: cannot set up its access checks: %s", strerror(-err));
		return err;
	}

	memset(&info, 0, sizeof(info));
	info.port = (int)f->port;
	if (ss.ss_family == AF_INET) {
		addr = &((struct sockaddr_in *)&ss)->sin_addr;
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	} else {
		addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	}
	/* ":port" (in6addr_any) is every address: lws's NULL iface, dual stack */
	if (ss.ss_family == AF_INET || !IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)addr)) {
		inet_ntop(ss.ss_family, addr, f->iface, sizeof(f->iface));
		info.iface = f->iface;
	}
	f->protocols[0] = (struct lws_protocols){
		.name = "guarder-flows",
		.callback = ws_callback,
		.per_session_data_size = sizeof(struct ws_client),
		.rx_buffer_size = WS_RX_MAX,
		.user = f,
		.tx_packet_size = cfg->websocket.max_message,
	};
	info.protocols = f->protocols;
	/* ping after ping_interval without a pong, hang up after another one */
	f->retry.secs_since_valid_ping = (uint16_t)cfg->websocket.ping_interval;
	f->retry.secs_since_valid_hangup = (uint16_t)(2 * cfg->websocket.ping_interval);
	info.retry_and_idle_policy = &f->retry;
	info.gid = -1;
	info.uid = -1;
	info.user = f;
	info.vhost_name = "guarder-ws";
	err = bind_probe(&ss, sslen);
	if (err) {
		log_error("websocket: cannot listen on %s: %s", cfg->websocket.listen,
			  strerror(-err));
		return err;
	}
	f->ctx = lws_create_context(&info);
	if (!f->ctx) {
		log_error("websocket: cannot listen on %s (libwebsockets said why above)",
			  cfg->websocket.listen);
		return -EIO;
	}
	return 0;
}

struct sink *sink_ws_new(const struct guarder_config *cfg)
{
	struct timespec now;
	struct ws_feed *f = NULL;
	int err;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	f = calloc(1, sizeof(*f));
	if (!f) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&f->stats_lock, NULL);
	f->cfg = cfg;
	clock_gettime(CLOCK_MONOTONIC, &now);
	f->stats_last_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	f->size = cfg->websocket.queue_records;
	f->mask = f->size - 1;
	/* zeroed (seq 0: no record), aligned, and only touched as records arrive */
	f->ring = mmap(NULL, f->size * sizeof(*f->ring), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->ring == MAP_FAILED) {
		f->ring = NULL;
		err = -ENOMEM;
		log_error("websocket: cannot allocate a ring of %llu records",
			  (unsigned long long)f->size);
		goto err;
	}
	f->buf_size = cfg->websocket.max_message > WS_STATS_MAX + 256 ? cfg->websocket.max_message :
									WS_STATS_MAX + 256;
	err = feed_listen(f);
	if (err)
		goto err;
	err = -pthread_create(&f->thread, NULL, ws_thread, f);
	if (err) {
		log_error("websocket: cannot start its thread: %s", strerror(-err));
		goto err;
	}
	f->thread_started = true;
	return sink_new(&sink_ws_ops, f);
err:
	ws_feed_free(f);
	errno = -err;
	return NULL;
}
