// SPDX-License-Identifier: GPL-2.0
/*
 * ws_sub: N WebSocket subscribers of the collector's feed in one process,
 * for the streaming benchmark (bench/stream/run.sh). Counts the records
 * each connection receives and the "lagged" messages it is sent.
 *
 *   ws_sub -u HOST:PORT [-n CONNECTIONS] [-s STALLED] [-P PATH]
 *          [-d MAX_SECONDS] [-q IDLE_SECONDS]
 *
 * A message is a text frame of one or more newline-separated JSON lines.
 * A line with an "event" member is a flow record; any other line is a
 * control message ({"type":"stats",..}, {"type":"lagged",..}): a lagged
 * message's first integer member (the number of records missed) is added
 * up. The first STALLED connections stop reading as soon as they are
 * established (lws_rx_flow_control), like a client whose reader hangs:
 * their socket buffers fill and the collector must cope.
 *
 * Prints "ws_sub: N connected" on stderr once every connection is up, a
 * progress line per second, and, when it stops (SIGINT/SIGTERM,
 * MAX_SECONDS, or IDLE_SECONDS without a record after the first one), a
 * JSON summary on stdout:
 *   {"connections":N,"stalled":S,"fast_min":..,"fast_max":..,"clients":[
 *    {"id":0,"stalled":false,"records":..,"lagged_msgs":..,
 *     "lagged_records":..,"stats_msgs":..,"other_msgs":..,"closed":false},..]}
 * Exit status 0, or 1 when a connection failed or a fast one was closed.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#define LINE_KEEP 512 /* bytes of each line kept to classify and parse it */
#define TICK_US	  (100 * LWS_US_PER_MS)

struct client {
	int id;
	bool stalled;
	bool established;
	bool closed;
	bool failed;
	struct lws *wsi;
	uint64_t records;
	uint64_t lagged_msgs;
	uint64_t lagged_records;
	uint64_t stats_msgs;
	uint64_t other_msgs;
	char line[LINE_KEEP]; /* start of the current line */
	size_t line_len; /* bytes of it seen so far (may exceed LINE_KEEP) */
};

static struct {
	struct lws_context *ctx;
	struct client *clients;
	int n, n_stalled;
	int established;
	const char *host;
	int port;
	const char *path;
	double max_s, idle_s;
	uint64_t t0, last_record, next_report;
	bool announced;
	lws_sorted_usec_list_t sul;
} g;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The first unsigned integer after a ':' in @s, or 0. */
static uint64_t first_number(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++)
		if (s[i] == ':' && s[i + 1] >= '0' && s[i + 1] <= '9')
			return strtoull(s + i + 1, NULL, 10);
	return 0;
}

/* One complete line: a record or a control message. */
static void line_done(struct client *c)
{
	size_t keep = c->line_len < LINE_KEEP ? c->line_len : LINE_KEEP - 1;
	char *l = c->line;

	if (!c->line_len)
		return;
	l[keep] = '\0';
	if (memmem(l, keep, "\"event\":\"", 9)) {
		c->records++;
		g.last_record = now_ns();
	} else if (memmem(l, keep, "\"lagged\"", 8)) {
		c->lagged_msgs++;
		/* skip past "type":"lagged" to the counters */
		c->lagged_records += first_number(strstr(l, "\"lagged\"") + 8,
						  keep - (size_t)(strstr(l, "\"lagged\"") + 8 - l));
	} else if (memmem(l, keep, "\"stats\"", 7)) {
		c->stats_msgs++;
	} else {
		c->other_msgs++;
	}
	c->line_len = 0;
}

/* A chunk of a message: split it into lines, keep each line's start. */
static void on_data(struct client *c, const char *p, size_t len, bool final)
{
	const char *end = p + len, *nl;
	size_t seg, room;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = (size_t)((nl ? nl : end) - p);
		if (c->line_len < LINE_KEEP - 1) {
			/* a long line: only its start is kept, its length counted */
			room = LINE_KEEP - 1 - c->line_len;
			memcpy(c->line + c->line_len, p, seg < room ? seg : room);
		}
		c->line_len += seg;
		if (!nl)
			break;
		line_done(c);
		p = nl + 1;
	}
	if (final)
		line_done(c); /* a message ends its last line */
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct client *c = user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!c)
			break;
		c->established = true;
		g.established++;
		if (c->stalled)
			lws_rx_flow_control(wsi, 0); /* stop reading, for good */
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c)
			on_data(c, in, len,
				lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi));
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c) {
			fprintf(stderr, "ws_sub: connection %d failed: %s\n", c->id,
				in ? (const char *)in : "(no reason)");
			c->failed = true;
			c->wsi = NULL;
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			c->closed = true;
			c->wsi = NULL;
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ .name = "ws-sub", .callback = callback, .rx_buffer_size = 65536 },
	{ 0 },
};

static void connect_one(struct client *c)
{
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof(i));
	i.context = g.ctx;
	i.address = g.host;
	i.port = g.port;
	i.path = g.path;
	i.host = g.host;
	i.origin = NULL; /* like a non-browser client: no Origin header */
	i.protocol = NULL;
	i.local_protocol_name = protocols[0].name;
	i.userdata = c;
	i.pwsi = &c->wsi;
	if (!lws_client_connect_via_info(&i) && !c->failed) {
		fprintf(stderr, "ws_sub: cannot start connection %d\n", c->id);
		c->failed = true;
	}
}

static void fast_range(uint64_t *min, uint64_t *max)
{
	int i;

	*min = UINT64_MAX;
	*max = 0;
	for (i = g.n_stalled; i < g.n; i++) {
		if (g.clients[i].records < *min)
			*min = g.clients[i].records;
		if (g.clients[i].records > *max)
			*max = g.clients[i].records;
	}
	if (*min == UINT64_MAX)
		*min = 0;
}

/* Every 100 ms: progress, the stop conditions; keeps lws_service returning. */
static void tick(lws_sorted_usec_list_t *sul)
{
	uint64_t t = now_ns(), min, max;

	(void)sul;
	if (!g.announced && g.established == g.n) {
		fprintf(stderr, "ws_sub: %d connected\n", g.n);
		g.announced = true;
	}
	if (t >= g.next_report) {
		fast_range(&min, &max);
		fprintf(stderr, "ws_sub: %.0f s: fast clients %llu..%llu records\n",
			(double)(t - g.t0) / 1e9, (unsigned long long)min, (unsigned long long)max);
		g.next_report += 1000000000ull;
	}
	if (g.max_s > 0 && (double)(t - g.t0) / 1e9 >= g.max_s)
		stop = 1;
	if (g.idle_s > 0 && g.last_record && (double)(t - g.last_record) / 1e9 >= g.idle_s)
		stop = 1;
	lws_sul_schedule(g.ctx, 0, &g.sul, tick, TICK_US);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: ws_sub -u HOST:PORT [-n CONNECTIONS] [-s STALLED] [-P PATH]\n"
		     "              [-d MAX_SECONDS] [-q IDLE_SECONDS]\n");
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	char *url = NULL, *colon;
	uint64_t min, max;
	int opt, i, bad = 0;

	g.n = 1;
	g.path = "/ws/flows";
	while ((opt = getopt(argc, argv, "u:n:s:P:d:q:h")) != -1) {
		switch (opt) {
		case 'u':
			url = optarg;
			break;
		case 'n':
			g.n = atoi(optarg);
			break;
		case 's':
			g.n_stalled = atoi(optarg);
			break;
		case 'P':
			g.path = optarg;
			break;
		case 'd':
			g.max_s = strtod(optarg, NULL);
			break;
		case 'q':
			g.idle_s = strtod(optarg, NULL);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	colon = url ? strrchr(url, ':') : NULL;
	if (!colon || g.n < 1 || g.n_stalled < 0 || g.n_stalled > g.n) {
		usage(stderr);
		return 1;
	}
	*colon = '\0';
	g.host = url;
	g.port = atoi(colon + 1);

	g.clients = calloc((size_t)g.n, sizeof(*g.clients));
	if (!g.clients) {
		fprintf(stderr, "ws_sub: out of memory\n");
		return 1;
	}
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = 0;
	g.ctx = lws_create_context(&info);
	if (!g.ctx) {
		fprintf(stderr, "ws_sub: cannot create the lws context\n");
		free(g.clients);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	g.t0 = now_ns();
	g.next_report = g.t0 + 1000000000ull;
	for (i = 0; i < g.n; i++) {
		g.clients[i].id = i;
		g.clients[i].stalled = i < g.n_stalled;
		connect_one(&g.clients[i]);
	}
	lws_sul_schedule(g.ctx, 0, &g.sul, tick, TICK_US);
	while (!stop) {
		if (lws_service(g.ctx, 0) < 0)
			break;
	}

	fast_range(&min, &max);
	printf("{\"connections\":%d,\"stalled\":%d,\"fast_min\":%llu,\"fast_max\":%llu,"
	       "\"clients\":[",
	       g.n, g.n_stalled, (unsigned long long)min, (unsigned long long)max);
	for (i = 0; i < g.n; i++) {
		struct client *c = &g.clients[i];

		printf("%s{\"id\":%d,\"stalled\":%s,\"records\":%llu,\"lagged_msgs\":%llu,"
		       "\"lagged_records\":%llu,\"stats_msgs\":%llu,\"other_msgs\":%llu,"
		       "\"established\":%s,\"closed\":%s}",
		       i ? "," : "", c->id, c->stalled ? "true" : "false",
		       (unsigned long long)c->records, (unsigned long long)c->lagged_msgs,
		       (unsigned long long)c->lagged_records, (unsigned long long)c->stats_msgs,
		       (unsigned long long)c->other_msgs, c->established ? "true" : "false",
		       c->closed ? "true" : "false");
		if (c->failed || !c->established || (!c->stalled && c->closed))
			bad = 1;
	}
	printf("]}\n");
	fflush(stdout);
	lws_sul_cancel(&g.sul);
	lws_context_destroy(g.ctx);
	free(g.clients);
	return bad;
}
