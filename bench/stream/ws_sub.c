// SPDX-License-Identifier: GPL-2.0
/*
 * ws_sub: N WebSocket subscribers of the collector's feed in one process,
 * for the streaming benchmark (bench/stream/run.sh). Counts the records
 * each connection receives and the "lagged" messages it is sent.
 *
 *   ws_sub -u HOST:PORT [-n CONNECTIONS] [-s STALLED] [-P PATH]
 *          [-d MAX_SECONDS] [-q IDLE_SECONDS] [-l]
 *
 * A message is a text frame of one or more newline-separated JSON lines.
 * A line with an "event" member is a flow record; any other line is a
 * control message ({"type":"stats",..}, {"type":"lagged","missed":N}): a
 * lagged message's first integer member (the records missed) is added up.
 * The first STALLED connections stop reading as soon as they are
 * established, like a client whose reader hangs: their socket buffers
 * fill and the collector must cope. When the run is over (IDLE_SECONDS
 * without a record) they read again for 3 s (raw engine), so each one's
 * lagged message tells how many records it missed.
 *
 * Two engines: by default RFC 6455 by hand on plain sockets and epoll
 * (HOST must be an IPv4 address); -l uses libwebsockets' client API
 * (lws_rx_flow_control stalls a client). libwebsockets parses a client's
 * payload a byte at a time, ~2 us per 700-byte record on the development
 * machine, so with -l this process, not the feed, is what 50 x 20,000
 * records/s measures.
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
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "lib/timeconv.h"

#define LINE_KEEP 96 /* bytes of each line kept: enough to classify it and read a lagged count */
#define TICK_US	  (100 * LWS_US_PER_MS)
#define RAW_READ  (256 * 1024) /* bytes per read() in the raw engine */

struct client {
	int id;
	bool stalled;
	bool established;
	bool closed;
	bool failed;
	struct lws *wsi;
	/* raw engine: socket and frame parser state */
	int fd;
	unsigned char hdr[14];
	size_t hdr_len;
	bool in_payload;
	uint64_t payload_left;
	unsigned char frame_op; /* opcode of the frame being read */
	bool fin;
	unsigned char ctl[126]; /* payload of a control frame */
	size_t ctl_len;
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
	char host_port[300];
	int port;
	const char *path;
	double max_s, idle_s;
	uint64_t t0, last_record, next_report;
	bool announced;
	bool lws; /* the lws engine */
	bool idle_done; /* IDLE_SECONDS passed without a record */
	bool resumed; /* the stalled clients read again */
	uint64_t resume_at; /* when to stop for good */
	double resume_s;
	lws_sorted_usec_list_t sul;
} g;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
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
		g.last_record = clock_mono_now_ns();
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
	i.host = g.host_port; /* the Host header names the port, as browsers send it */
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

/* Every 100 ms: progress and the stop conditions. */
static void tick_common(void)
{
	uint64_t t = clock_mono_now_ns(), min, max;

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
	if (g.idle_s > 0 && g.last_record && (double)(t - g.last_record) / 1e9 >= g.idle_s) {
		if (g.lws)
			stop = 1;
		g.idle_done = true;
	}
}

/* The lws engine's timer: also keeps lws_service returning. */
static void tick(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	tick_common();
	lws_sul_schedule(g.ctx, 0, &g.sul, tick, TICK_US);
}

/*
 * The raw engine: RFC 6455 by hand over plain sockets. libwebsockets'
 * client parses payload a byte at a time (~2 us per 700-byte record here),
 * so one lws process cannot read 50 x 20,000 records/s on these cores; a
 * subscriber this slow would measure itself, not the feed. Frames from a
 * server are never masked; our pong/close replies are (client frames must).
 */
static int raw_send_frame(struct client *c, unsigned char opcode, const unsigned char *p,
			  size_t len)
{
	unsigned char f[2 + 4 + 125];
	size_t i;

	if (len > 125)
		len = 125;
	f[0] = 0x80 | opcode;
	f[1] = 0x80 | (unsigned char)len;
	memset(f + 2, 0, 4); /* a zero mask: the payload goes as is */
	for (i = 0; i < len; i++)
		f[6 + i] = p[i];
	return send(c->fd, f, 6 + len, MSG_NOSIGNAL) == (ssize_t)(6 + len) ? 0 : -1;
}

static void raw_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->closed = true;
}

/* Connect and upgrade, blocking (loopback: instant). Returns 0 or -1. */
static int raw_connect(struct client *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g.port) };
	char req[512], resp[4096];
	size_t got = 0;
	ssize_t n;
	int len;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || inet_pton(AF_INET, g.host, &sa.sin_addr) != 1 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "ws_sub: connection %d: %s\n", c->id, strerror(errno));
		return -1;
	}
	len = snprintf(req, sizeof(req),
		       "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
		       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		       "Sec-WebSocket-Version: 13\r\n\r\n",
		       g.path, g.host_port);
	if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len)
		return -1;
	/* read the response header byte by byte: frames may follow it at once */
	while (got < sizeof(resp) - 1) {
		n = read(c->fd, resp + got, 1);
		if (n <= 0)
			break;
		got++;
		if (got >= 4 && !memcmp(resp + got - 4, "\r\n\r\n", 4))
			break;
	}
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.1 101", 12)) {
		fprintf(stderr, "ws_sub: connection %d refused: %.*s\n", c->id,
			(int)strcspn(resp, "\r\n"), resp);
		return -1;
	}
	c->established = true;
	g.established++;
	return 0;
}

/* The end of a frame: answer control frames, end a message's last line. */
static void raw_frame_done(struct client *c)
{
	c->in_payload = false;
	switch (c->frame_op) {
	case 9: /* ping */
		raw_send_frame(c, 10, c->ctl, c->ctl_len);
		break;
	case 8: /* close: echo its status code, then go */
		raw_send_frame(c, 8, c->ctl, c->ctl_len < 2 ? c->ctl_len : 2);
		raw_close(c);
		break;
	case 10: /* pong */
		break;
	default: /* text, binary, continuation */
		if (c->fin)
			line_done(c); /* a message ends its last line */
	}
}

/* Parse what arrived on @c: frame headers, payload into on_data(). */
static void raw_parse(struct client *c, const unsigned char *p, size_t len)
{
	size_t need, take, room;
	unsigned char l7;
	int i;

	while (len && c->fd >= 0) {
		if (!c->in_payload) {
			c->hdr[c->hdr_len++] = *p++;
			len--;
			if (c->hdr_len < 2)
				continue;
			l7 = c->hdr[1] & 0x7f;
			need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
			if (c->hdr_len < need)
				continue;
			c->fin = c->hdr[0] & 0x80;
			c->frame_op = c->hdr[0] & 0x0f;
			if (l7 < 126) {
				c->payload_left = l7;
			} else {
				c->payload_left = 0;
				for (i = 2; i < (int)need; i++)
					c->payload_left = (c->payload_left << 8) | c->hdr[i];
			}
			c->hdr_len = 0;
			c->ctl_len = 0;
			c->in_payload = true;
			if (!c->payload_left)
				raw_frame_done(c);
			continue;
		}
		take = len < c->payload_left ? len : (size_t)c->payload_left;
		if (c->frame_op >= 8) {
			room = sizeof(c->ctl) - c->ctl_len;
			memcpy(c->ctl + c->ctl_len, p, take < room ? take : room);
			c->ctl_len += take < room ? take : room;
		} else {
			on_data(c, (const char *)p, take, false);
		}
		p += take;
		len -= take;
		c->payload_left -= take;
		if (!c->payload_left)
			raw_frame_done(c);
	}
}

/*
 * When the run is over (idle), the stalled clients read again, so that
 * each learns from its lagged message how many records it missed: its
 * records + missed must then equal what the feed published. Returns true
 * when it just switched them on.
 */
static bool stop_reading_stalled_done(int ep)
{
	struct epoll_event ev;
	int i;

	if (!g.idle_done || g.resumed)
		return false;
	g.resumed = true;
	if (!g.n_stalled) {
		g.resume_at = clock_mono_now_ns();
		return true;
	}
	for (i = 0; i < g.n_stalled; i++) {
		struct client *c = &g.clients[i];

		if (c->fd < 0)
			continue;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	fprintf(stderr, "ws_sub: the stalled clients read again\n");
	g.resume_at = clock_mono_now_ns() + (uint64_t)(g.resume_s * 1e9);
	return true;
}

static int raw_run(void)
{
	static unsigned char buf[RAW_READ];
	struct epoll_event ev, evs[64];
	int ep, i, n;
	ssize_t r;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	for (i = 0; i < g.n; i++) {
		struct client *c = &g.clients[i];

		c->fd = -1;
		if (raw_connect(c)) {
			c->failed = true;
			raw_close(c);
			c->closed = false;
			continue;
		}
		if (c->stalled)
			continue; /* never read again: its socket buffers fill up */
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
			c->failed = true;
	}
	while (!stop) {
		if (g.resume_at && clock_mono_now_ns() >= g.resume_at)
			break;
		if (stop_reading_stalled_done(ep))
			continue;
		n = epoll_wait(ep, evs, 64, 100);
		for (i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;

			r = read(c->fd, buf, sizeof(buf));
			if (r > 0) {
				raw_parse(c, buf, (size_t)r);
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				raw_close(c);
			}
		}
		tick_common();
	}
	for (i = 0; i < g.n; i++)
		if (g.clients[i].fd >= 0)
			close(g.clients[i].fd);
	close(ep);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: ws_sub -u HOST:PORT [-n CONNECTIONS] [-s STALLED] [-P PATH]\n"
		     "              [-d MAX_SECONDS] [-q IDLE_SECONDS] [-l]\n");
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	char *url = NULL, *colon;
	uint64_t min, max;
	int opt, i, bad = 0;

	g.n = 1;
	g.resume_s = 3;
	g.path = "/ws/flows";
	while ((opt = getopt(argc, argv, "u:n:s:P:d:q:lh")) != -1) {
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
		case 'l':
			g.lws = true;
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
	snprintf(g.host_port, sizeof(g.host_port), "%s:%d", g.host, g.port);

	g.clients = calloc((size_t)g.n, sizeof(*g.clients));
	if (!g.clients) {
		fprintf(stderr, "ws_sub: out of memory\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	g.t0 = clock_mono_now_ns();
	g.next_report = g.t0 + 1000000000ull;
	for (i = 0; i < g.n; i++) {
		g.clients[i].id = i;
		g.clients[i].stalled = i < g.n_stalled;
		g.clients[i].fd = -1;
	}
	if (!g.lws) {
		if (raw_run()) {
			fprintf(stderr, "ws_sub: epoll: %s\n", strerror(errno));
			free(g.clients);
			return 1;
		}
	} else {
		lws_set_log_level(LLL_ERR, NULL);
		memset(&info, 0, sizeof(info));
		info.port = CONTEXT_PORT_NO_LISTEN;
		info.protocols = protocols;
		g.ctx = lws_create_context(&info);
		if (!g.ctx) {
			fprintf(stderr, "ws_sub: cannot create the lws context\n");
			free(g.clients);
			return 1;
		}
		for (i = 0; i < g.n; i++)
			connect_one(&g.clients[i]);
		lws_sul_schedule(g.ctx, 0, &g.sul, tick, TICK_US);
		while (!stop)
			if (lws_service(g.ctx, 0) < 0)
				break;
		lws_sul_cancel(&g.sul);
		lws_context_destroy(g.ctx);
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
	free(g.clients);
	return bad;
}
