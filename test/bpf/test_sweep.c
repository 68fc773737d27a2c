// SPDX-License-Identifier: GPL-2.0
/*
 * The collector's flow view against the real program: packets run through
 * the XDP program with bpf_prog_test_run_opts, its ring-buffer events go
 * to flow_view_on_event, and flow_view_sweep scans its real LRU flow
 * table. Time is moved by passing later "now" values to the sweep;
 * entries are also crafted or removed directly in the table to stage
 * restarts (adoption) and LRU evictions. Records go through the real file
 * sink into a temp file and are parsed back.
 */
#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "bpftest.h"
#include "collector/flow_view.h"
#include "collector/drop_view.h"
#include "collector/sink.h"
#include "lib/config.h"
#include "lib/stats.h"
#include "lib/timeconv.h"
#include "ruleenv.h"

#define NS	 1000000000ull
#define CLI	 "10.1.0.9" /* sorts after SRV: the initiator is direction 1 */
#define SRV	 "10.1.0.2"
#define REC_KEEP 64

/* A flow view publishing to a temp file, plus what was read back from it. */
struct vt {
	struct guarder_config cfg;
	struct flow_view *fv;
	struct sink *sink;
	FILE *rd;
	char path[64];
	int fed; /* events of the tenv already given to the view */
	int flows_fd;
	/* records of the last vt_read: the first REC_KEEP parsed, all counted */
	json_object *rec[REC_KEEP];
	int nrec;
	int n_event[6]; /* start update end drop icmp drops */
	int n_reason[5]; /* -, fin rst idle evicted */
	long long packets; /* sum of "packets" over all records read */
};

static const char *const event_names[] = { "start", "update", "end", "drop", "icmp", "drops" };
static const char *const reason_names[] = { "-", "fin", "rst", "idle", "evicted" };

static bool vt_open(struct vt *t, struct tenv *e, unsigned int max_flows)
{
	int fd;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "/tmp/gdr-v-sweep.XXXXXX");
	fd = mkstemp(t->path);
	if (!ASSERT_TRUE(fd >= 0, "mkstemp"))
		return false;
	close(fd);
	if (!ASSERT_OK(config_init(&t->cfg), "config_init"))
		return false;
	snprintf(t->cfg.node_name, sizeof(t->cfg.node_name), "sweep-test");
	t->cfg.collector.idle_timeout = 60;
	t->cfg.collector.active_timeout = 300;
	t->cfg.collector.close_linger = 2;
	t->cfg.collector.top_flows = 3;
	t->cfg.collector.max_flows = max_flows;
	t->sink = sink_file_new(t->path);
	t->rd = fopen(t->path, "r");
	if (!ASSERT_TRUE(t->sink && t->rd, "file sink"))
		return false;
	t->fv = flow_view_new(&t->cfg, &t->sink, 1);
	t->flows_fd = bpf_map__fd(e->skel->maps.flows);
	return ASSERT_TRUE(t->fv, "flow_view_new");
}

static void vt_clear(struct vt *t)
{
	int i;

	for (i = 0; i < t->nrec && i < REC_KEEP; i++)
		json_object_put(t->rec[i]);
	t->nrec = 0;
	t->packets = 0;
	memset(t->n_event, 0, sizeof(t->n_event));
	memset(t->n_reason, 0, sizeof(t->n_reason));
}

static void vt_close(struct vt *t)
{
	vt_clear(t);
	flow_view_free(t->fv);
	if (t->sink)
		sink_destroy(t->sink);
	if (t->rd)
		fclose(t->rd);
	unlink(t->path);
	config_free(&t->cfg);
}

/* Parse the records written since the last call. Returns how many. */
static int vt_read(struct vt *t)
{
	static char line[8192];
	json_object *o, *f;
	int i;

	vt_clear(t);
	clearerr(t->rd);
	while (fgets(line, sizeof(line), t->rd)) {
		o = json_tokener_parse(line);
		if (!ASSERT_TRUE(o, "record parses"))
			continue;
		if (json_object_object_get_ex(o, "event", &f))
			for (i = 0; i < 6; i++)
				t->n_event[i] += !strcmp(json_object_get_string(f), event_names[i]);
		/* same fixed-width format: text order is time order */
		ASSERT_TRUE(strcmp(json_object_get_string(json_object_object_get(o, "last_seen")),
				   json_object_get_string(
					   json_object_object_get(o, "first_seen"))) >= 0,
			    "last_seen >= first_seen");
		if (json_object_object_get_ex(o, "end_reason", &f))
			for (i = 1; i < 5; i++)
				t->n_reason[i] +=
					!strcmp(json_object_get_string(f), reason_names[i]);
		if (json_object_object_get_ex(o, "packets", &f))
			t->packets += json_object_get_int64(f);
		if (t->nrec < REC_KEEP)
			t->rec[t->nrec] = o;
		else
			json_object_put(o);
		t->nrec++;
	}
	return t->nrec;
}

/* Drain the ring buffer and give the new events to the view. */
static bool vt_feed(struct vt *t, struct tenv *e)
{
	if (!ASSERT_GE(drain_events(e), 0, "drain"))
		return false;
	for (; t->fed < e->nev; t->fed++)
		flow_view_on_event(t->fv, &e->ev[t->fed], sizeof(e->ev[t->fed]));
	return true;
}

static bool vt_sweep(struct vt *t, uint64_t now)
{
	return ASSERT_OK(flow_view_sweep(t->fv, t->flows_fd, now), "sweep");
}

static struct flow_view_stats vt_stats(struct vt *t)
{
	struct flow_view_stats st;

	flow_view_get_stats(t->fv, &st);
	return st;
}

static const char *rstr(json_object *o, const char *k1, const char *k2)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k1, &v))
		return "(absent)";
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return "(absent)";
	return v ? json_object_get_string(v) : "null";
}

static long long rnum(json_object *o, const char *k1, const char *k2)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, k1, &v))
		return -1;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return -1;
	return json_object_get_int64(v);
}

#define ASSERT_STR(got, want, name)                                                         \
	({                                                                                  \
		const char *___g = (got);                                                   \
		bool ___ok = !strcmp(___g, (want));                                         \
		if (!___ok)                                                                 \
			fprintf(stderr, "  %s:%d: %s: got \"%s\", want \"%s\"\n", __FILE__, \
				__LINE__, name, ___g, (want));                              \
		ASSERT_TRUE(___ok, name);                                                   \
	})

static bool tcp(struct tenv *e, const char *src, __u16 sport, const char *dst, __u16 dport,
		uint8_t flags, size_t len)
{
	struct pkt p;

	pkt_tcp4(&p, src, sport, dst, dport, flags, 1000, 1000, 1000, len);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "xdp");
}

static bool udp(struct tenv *e, const char *src, __u16 sport, const char *dst, __u16 dport)
{
	struct pkt p;

	pkt_udp4(&p, src, sport, dst, dport, 32);
	return ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "xdp");
}

static void key_of(struct flow_key *k, const char *src, __u16 sport, const char *dst, __u16 dport,
		   __u8 proto)
{
	__u32 s[4], d[4];

	pkt_addr(src, s);
	pkt_addr(dst, d);
	flow_key_make(k, s, sport, d, dport, proto, strchr(src, ':') ? 6 : 4);
}

/* Put a crafted entry in the kernel table, as if a packet had created it. */
static bool put_flow(struct tenv *e, const char *src, __u16 sport, const char *dst, __u16 dport,
		     __u8 proto, __u64 packets, __u64 last_seen, __u8 state)
{
	struct flow_value v;
	struct flow_key k;
	__u32 s[4], d[4];
	int dir;

	pkt_addr(src, s);
	pkt_addr(dst, d);
	dir = flow_key_make(&k, s, sport, d, dport, proto, strchr(src, ':') ? 6 : 4);
	memset(&v, 0, sizeof(v));
	v.dir[dir].packets = packets;
	v.dir[dir].bytes = packets * 100;
	v.first_seen_ns = last_seen - NS;
	v.last_seen_ns = last_seen;
	v.initiator = (__u8)dir;
	v.state = state;
	return ASSERT_OK(bpf_map_update_elem(bpf_map__fd(e->skel->maps.flows), &k, &v, BPF_ANY),
			 "insert crafted flow");
}

/* A full TCP conversation closed by FIN both ways, ended after the linger. */
static bool test_tcp_fin(struct tenv *e)
{
	char first_seen[64];
	struct flow_value v;
	struct vt t;
	uint64_t now;
	bool ok = false;
	int cdir;

	if (!vt_open(&t, e, 100))
		goto out;
	if (!(tcp(e, CLI, 40000, SRV, 80, PKT_SYN, 0) &&
	      tcp(e, SRV, 80, CLI, 40000, PKT_SYN | PKT_ACK, 0) &&
	      tcp(e, CLI, 40000, SRV, 80, PKT_ACK, 0) &&
	      tcp(e, CLI, 40000, SRV, 80, PKT_ACK | PKT_PSH, 100) &&
	      tcp(e, SRV, 80, CLI, 40000, PKT_ACK | PKT_PSH, 200) &&
	      tcp(e, CLI, 40000, SRV, 80, PKT_FIN | PKT_ACK, 0) &&
	      tcp(e, SRV, 80, CLI, 40000, PKT_FIN | PKT_ACK, 0) &&
	      tcp(e, CLI, 40000, SRV, 80, PKT_ACK, 0)))
		goto out;
	if (!vt_feed(&t, e))
		goto out;
	now = clock_mono_now_ns();

	/* the events gave one start record, for the client's SYN */
	ASSERT_EQ(vt_read(&t), 1, "records after the events");
	ASSERT_STR(rstr(t.rec[0], "event", NULL), "start", "event");
	ASSERT_STR(rstr(t.rec[0], "src_ip", NULL), CLI, "src is the client");
	ASSERT_EQ(rnum(t.rec[0], "src_port", NULL), 40000, "src_port");
	ASSERT_STR(rstr(t.rec[0], "tcp", "flags_str"), "SYN", "start flags");
	ASSERT_STR(rstr(t.rec[0], "iface", NULL), "lo", "iface");
	snprintf(first_seen, sizeof(first_seen), "%s", rstr(t.rec[0], "first_seen", NULL));

	/* closed, but within the linger: no end yet */
	if (!vt_sweep(&t, now))
		goto out;
	ASSERT_EQ(vt_read(&t), 0, "records within the linger");
	if (!ASSERT_OK(flow_get(e, CLI, 40000, SRV, 80, IPPROTO_TCP, &v, &cdir), "flow in table"))
		goto out;

	if (!vt_sweep(&t, now + 2 * NS + NS / 2))
		goto out;
	ASSERT_EQ(vt_read(&t), 1, "records after the linger");
	ASSERT_STR(rstr(t.rec[0], "event", NULL), "end", "event");
	ASSERT_STR(rstr(t.rec[0], "end_reason", NULL), "fin", "end_reason");
	ASSERT_STR(rstr(t.rec[0], "src_ip", NULL), CLI, "src");
	ASSERT_EQ(rnum(t.rec[0], "fwd", "packets"), 5, "client packets");
	ASSERT_EQ(rnum(t.rec[0], "rev", "packets"), 3, "server packets");
	ASSERT_EQ(rnum(t.rec[0], "fwd", "bytes"), v.dir[cdir].bytes, "client bytes");
	ASSERT_EQ(rnum(t.rec[0], "rev", "bytes"), v.dir[!cdir].bytes, "server bytes");
	ASSERT_STR(rstr(t.rec[0], "tcp", "flags_str"), "FIN|SYN|PSH|ACK", "flags");
	/* the same stamp converts to the same text in every record of the flow */
	ASSERT_STR(rstr(t.rec[0], "first_seen", NULL), first_seen, "first_seen stable");
	ASSERT_EQ(rnum(t.rec[0], "duration_ms", NULL), (v.last_seen_ns - v.first_seen_ns) / 1000000,
		  "duration");
	/* ended flows leave the kernel table and the view */
	ASSERT_EQ(flow_get(e, CLI, 40000, SRV, 80, IPPROTO_TCP, &v, NULL), -ENOENT,
		  "deleted from the table");
	ASSERT_EQ(vt_stats(&t).active, 0, "view empty");
	ASSERT_EQ(vt_stats(&t).ended, 1, "ended");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/* RST ends a flow after the linger with reason rst. */
static bool test_tcp_rst(struct tenv *e)
{
	struct flow_value v;
	struct vt t;
	uint64_t now;
	bool ok = false;

	if (!vt_open(&t, e, 100))
		goto out;
	if (!(tcp(e, CLI, 40001, SRV, 81, PKT_SYN, 0) &&
	      tcp(e, SRV, 81, CLI, 40001, PKT_RST | PKT_ACK, 0) && vt_feed(&t, e)))
		goto out;
	now = clock_mono_now_ns();
	vt_sweep(&t, now + NS);
	ASSERT_EQ(vt_read(&t), 1, "only the start before the linger");
	vt_sweep(&t, now + 3 * NS);
	ASSERT_EQ(vt_read(&t), 1, "end after the linger");
	ASSERT_STR(rstr(t.rec[0], "end_reason", NULL), "rst", "end_reason");
	ASSERT_EQ(rnum(t.rec[0], "packets", NULL), 2, "packets");
	ASSERT_EQ(flow_get(e, CLI, 40001, SRV, 81, IPPROTO_TCP, &v, NULL), -ENOENT, "deleted");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/* Active timeout gives updates with the kernel's counters; idle ends. */
static bool test_udp_update_idle(struct tenv *e)
{
	struct flow_value v;
	struct flow_key k;
	struct vt t;
	uint64_t now;
	bool ok = false;
	int cdir;

	if (!vt_open(&t, e, 100))
		goto out;
	if (!(udp(e, CLI, 5000, SRV, 53) && udp(e, SRV, 53, CLI, 5000) && vt_feed(&t, e)))
		goto out;
	now = clock_mono_now_ns();
	ASSERT_EQ(vt_read(&t), 1, "start");
	vt_sweep(&t, now + NS);
	ASSERT_EQ(vt_read(&t), 0, "nothing after 1 s");

	/* keep it busy: the kernel saw packets until 300 s from now */
	if (!ASSERT_OK(flow_get(e, CLI, 5000, SRV, 53, IPPROTO_UDP, &v, &cdir), "lookup"))
		goto out;
	v.dir[cdir].packets = 1000;
	v.dir[!cdir].packets = 900;
	v.last_seen_ns = now + 300 * NS;
	key_of(&k, CLI, 5000, SRV, 53, IPPROTO_UDP);
	if (!ASSERT_OK(bpf_map_update_elem(t.flows_fd, &k, &v, BPF_EXIST), "update"))
		goto out;

	vt_sweep(&t, now + 301 * NS);
	ASSERT_EQ(vt_read(&t), 1, "one update at the active timeout");
	ASSERT_STR(rstr(t.rec[0], "event", NULL), "update", "event");
	ASSERT_EQ(rnum(t.rec[0], "fwd", "packets"), 1000, "fwd packets (cumulative)");
	ASSERT_EQ(rnum(t.rec[0], "rev", "packets"), 900, "rev packets");
	ASSERT_STR(rstr(t.rec[0], "src_ip", NULL), CLI, "src");
	vt_sweep(&t, now + 302 * NS);
	ASSERT_EQ(vt_read(&t), 0, "no second update right after");

	/* 60 s without packets: idle */
	vt_sweep(&t, now + 360 * NS);
	ASSERT_EQ(vt_read(&t), 0, "not idle at exactly 60 s");
	vt_sweep(&t, now + 361 * NS);
	ASSERT_EQ(vt_read(&t), 1, "idle end");
	ASSERT_STR(rstr(t.rec[0], "end_reason", NULL), "idle", "end_reason");
	ASSERT_EQ(rnum(t.rec[0], "packets", NULL), 1900, "packets");
	ASSERT_EQ(flow_get(e, CLI, 5000, SRV, 53, IPPROTO_UDP, &v, NULL), -ENOENT, "deleted");
	ASSERT_EQ(vt_stats(&t).updated, 1, "updated");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/*
 * The ICMP view is expired too: an entry idle for longer than idle_timeout
 * is deleted from the kernel table, a fresh one stays.
 */
static bool test_icmp_expiry(struct tenv *e)
{
	int icmp_fd = bpf_map__fd(e->skel->maps.icmp_flows);
	struct icmp_value v;
	struct pkt p;
	struct vt t;
	uint64_t now;
	bool ok = false;

	if (!vt_open(&t, e, 100))
		goto out;
	pkt_echo4(&p, CLI, SRV, 8, 7, 1);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "old echo"))
		goto out;
	now = clock_mono_now_ns();
	ASSERT_EQ(flow_view_expire_icmp(t.fv, icmp_fd, now + 30 * NS), 0, "nothing idle at 30 s");
	/* a second entry, seen 40 s later than the first */
	pkt_echo4(&p, SRV, CLI, 0, 7, 1);
	if (!ASSERT_EQ(run_xdp(e, &p), XDP_PASS, "new echo reply"))
		goto out;
	if (!ASSERT_OK(icmp_get(e, SRV, CLI, 0, 0, 4, &v), "reply entry"))
		goto out;
	v.last_seen_ns = now + 40 * NS;
	{
		struct icmp_key k = { .type = 0, .code = 0, .family = 4 };

		pkt_addr(SRV, k.src);
		pkt_addr(CLI, k.dst);
		if (!ASSERT_OK(bpf_map_update_elem(icmp_fd, &k, &v, BPF_EXIST), "age reply"))
			goto out;
	}
	ASSERT_EQ(flow_view_expire_icmp(t.fv, icmp_fd, now + 61 * NS), 1, "the request expires");
	ASSERT_EQ(icmp_get(e, CLI, SRV, 8, 0, 4, &v), -ENOENT, "request deleted");
	ASSERT_OK(icmp_get(e, SRV, CLI, 0, 0, 4, &v), "reply kept");
	ASSERT_EQ(flow_view_expire_icmp(t.fv, icmp_fd, now + 101 * NS), 1, "then the reply");
	ASSERT_EQ(vt_stats(&t).icmp_expired, 2, "counted");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/*
 * A restarted collector finds flows without events: it adopts them with no
 * start record, then updates and ends them. A flow whose START event is
 * still queued when the sweep adopts it gets its start record once.
 */
static bool test_adopt(struct tenv *e)
{
	struct flow_view_stats st;
	struct vt t;
	uint64_t now = clock_mono_now_ns();
	bool ok = false;
	int i;

	if (!vt_open(&t, e, 100))
		goto out;
	if (!(put_flow(e, CLI, 1111, SRV, 22, IPPROTO_TCP, 10, now, 0) &&
	      put_flow(e, "fd00::9", 1, "fd00::1", 2, IPPROTO_UDP, 3, now, 0)))
		goto out;
	/* a live packet whose START event the view has not seen yet */
	if (!udp(e, CLI, 7777, SRV, 7))
		goto out;
	vt_sweep(&t, now + NS);
	ASSERT_EQ(vt_read(&t), 0, "adoption is silent");
	st = vt_stats(&t);
	ASSERT_EQ(st.adopted, 3, "adopted");
	ASSERT_EQ(st.active, 3, "active");

	if (!vt_feed(&t, e))
		goto out;
	ASSERT_EQ(vt_read(&t), 1, "the late start record");
	ASSERT_STR(rstr(t.rec[0], "event", NULL), "start", "late start");
	ASSERT_EQ(rnum(t.rec[0], "src_port", NULL), 7777, "late start port");
	/* the same event again changes nothing */
	flow_view_on_event(t.fv, &e->ev[e->nev - 1], sizeof(e->ev[0]));
	ASSERT_EQ(vt_read(&t), 0, "no duplicate start");

	/* adopted flows get their update and end records like any other */
	put_flow(e, CLI, 1111, SRV, 22, IPPROTO_TCP, 20, now + 300 * NS, 0);
	vt_sweep(&t, now + 302 * NS);
	vt_read(&t);
	ASSERT_EQ(t.n_event[1], 1, "update of the busy adopted flow");
	ASSERT_EQ(t.n_event[2], 2, "idle end of the two quiet ones");
	ASSERT_EQ(t.n_reason[3], 2, "reason idle");
	for (i = 0; i < t.nrec && i < REC_KEEP; i++)
		if (!strcmp(rstr(t.rec[i], "event", NULL), "update"))
			ASSERT_EQ(rnum(t.rec[i], "fwd", "packets"), 20, "update counters");
	ASSERT_EQ(flow_count(e), 1, "ended flows deleted");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/* An entry the kernel dropped (LRU) ends as evicted with the last counters read. */
static bool test_evicted(struct tenv *e)
{
	struct flow_value v;
	struct flow_key k;
	struct vt t;
	uint64_t now;
	bool ok = false;
	int cdir;

	if (!vt_open(&t, e, 100))
		goto out;
	if (!(udp(e, CLI, 6000, SRV, 123) && vt_feed(&t, e)))
		goto out;
	now = clock_mono_now_ns();
	ASSERT_EQ(vt_read(&t), 1, "start");
	if (!ASSERT_OK(flow_get(e, CLI, 6000, SRV, 123, IPPROTO_UDP, &v, &cdir), "lookup"))
		goto out;
	v.dir[cdir].packets = 7;
	key_of(&k, CLI, 6000, SRV, 123, IPPROTO_UDP);
	bpf_map_update_elem(t.flows_fd, &k, &v, BPF_EXIST);
	vt_sweep(&t, now + NS); /* reads 7 */
	ASSERT_EQ(vt_read(&t), 0, "nothing yet");

	if (!ASSERT_OK(bpf_map_delete_elem(t.flows_fd, &k), "evict"))
		goto out;
	vt_sweep(&t, now + 2 * NS);
	ASSERT_EQ(vt_read(&t), 1, "evicted end");
	ASSERT_STR(rstr(t.rec[0], "end_reason", NULL), "evicted", "reason");
	ASSERT_EQ(rnum(t.rec[0], "fwd", "packets"), 7, "last counters read");
	ASSERT_STR(rstr(t.rec[0], "iface", NULL), "lo", "iface kept");
	ASSERT_EQ(vt_stats(&t).ended_evicted, 1, "ended_evicted");
	ASSERT_EQ(vt_stats(&t).active, 0, "active");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/* A full view still expires what it cannot track, and counts the rest. */
static bool test_view_full(struct tenv *e)
{
	struct flow_view_stats st;
	struct vt t;
	uint64_t now = clock_mono_now_ns();
	bool ok = false;

	if (!vt_open(&t, e, 1))
		goto out;
	if (!(put_flow(e, CLI, 1, SRV, 1, IPPROTO_UDP, 1, now, 0) &&
	      put_flow(e, CLI, 2, SRV, 2, IPPROTO_UDP, 1, now, 0) &&
	      put_flow(e, CLI, 3, SRV, 3, IPPROTO_UDP, 1, now - 100 * NS, 0)))
		goto out;
	vt_sweep(&t, now);
	vt_read(&t);
	st = vt_stats(&t);
	ASSERT_EQ(st.active, 1, "active");
	ASSERT_GE(st.view_full, 1, "view_full");
	ASSERT_EQ(t.n_reason[3], 1, "the idle one ended");
	ASSERT_EQ(flow_count(e), 2, "only the idle one deleted");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/* Elapsed ms since @a, for the informational timings. */
static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * More flows than one batch: every one adopted; then a scattered third
 * goes idle and ends, and the rest must still be found in the view (not
 * adopted a second time, not called evicted) after all those removals
 * from its hash table; then the rest ends and the kernel table is empty.
 * With @batch false, the same through the key-by-key walk.
 */
static bool many(struct tenv *e, bool batch, int n)
{
	struct timespec a;
	struct vt t;
	uint64_t now = clock_mono_now_ns();
	bool ok = false;
	int i, quiet = 0;

	if (!vt_open(&t, e, 30000))
		goto out;
	flow_view_set_batch_ops(t.fv, batch);
	for (i = 0; i < n; i++) {
		/* a scattered third of the flows was last seen 30 s earlier */
		bool q = (i * 2654435761u) % 3 == 0;
		char src[32];

		snprintf(src, sizeof(src), "10.2.%d.%d", i / 250, i % 250 + 1);
		if (!put_flow(e, src, (__u16)(1024 + i), SRV, 443, IPPROTO_TCP, 2,
			      q ? now - 30 * NS : now, 0))
			goto out;
		quiet += q;
	}
	ASSERT_EQ(flow_count(e), n, "table filled");
	clock_gettime(CLOCK_MONOTONIC, &a);
	vt_sweep(&t, now + NS);
	fprintf(stderr, "  sweep of %d flows (adoption): %.1f ms\n", n, ms_since(&a));
	ASSERT_EQ(vt_stats(&t).adopted, n, "adopted");
	ASSERT_EQ(vt_stats(&t).active, n, "active");
	ASSERT_EQ(vt_read(&t), 0, "silent");
	clock_gettime(CLOCK_MONOTONIC, &a);
	vt_sweep(&t, now + 2 * NS);
	fprintf(stderr, "  sweep of %d flows (nothing to do): %.1f ms\n", n, ms_since(&a));
	ASSERT_EQ(vt_read(&t), 0, "still silent");

	vt_sweep(&t, now + 31 * NS);
	vt_read(&t);
	ASSERT_EQ(t.n_reason[3], quiet, "the quiet third ended idle");
	ASSERT_EQ(t.nrec, quiet, "and nothing else");
	ASSERT_EQ(flow_count(e), n - quiet, "and left the table");
	vt_sweep(&t, now + 32 * NS);
	ASSERT_EQ(vt_read(&t), 0, "the others are quiet");
	ASSERT_EQ(vt_stats(&t).adopted, n, "found again, not re-adopted");
	ASSERT_EQ(vt_stats(&t).ended_evicted, 0, "no false eviction");
	ASSERT_EQ(vt_stats(&t).active, n - quiet, "active");

	clock_gettime(CLOCK_MONOTONIC, &a);
	vt_sweep(&t, now + 62 * NS);
	fprintf(stderr, "  sweep of %d flows (all ended): %.1f ms\n", n - quiet, ms_since(&a));
	ASSERT_EQ(vt_read(&t), n - quiet, "end records");
	ASSERT_EQ(t.n_reason[3], n - quiet, "all idle");
	ASSERT_EQ(flow_count(e), 0, "table emptied");
	ASSERT_EQ(vt_stats(&t).active, 0, "view emptied");
	ok = true;
out:
	vt_close(&t);
	return ok;
}

static bool test_many(struct tenv *e)
{
	return many(e, true, 20000);
}

static bool test_many_walk(struct tenv *e)
{
	return many(e, false, 5000);
}

/* stats_read sums the per-CPU counters; the summary shows rates and flows. */
static bool test_stats_summary(struct tenv *e)
{
	struct global_stats mine, theirs;
	char *text = NULL;
	size_t len = 0;
	struct vt t;
	FILE *mem;
	bool ok = false;
	int fd = bpf_map__fd(e->skel->maps.stats), i;

	if (!vt_open(&t, e, 100))
		goto out;
	for (i = 0; i < 5; i++)
		if (!tcp(e, CLI, 40002, SRV, 443, PKT_ACK, 100))
			goto out;
	if (!udp(e, CLI, 40003, SRV, 53) || !vt_feed(&t, e))
		goto out;
	if (!ASSERT_OK(stats_read(fd, &mine), "stats_read") ||
	    !ASSERT_OK(read_stats(e, &theirs), "read_stats"))
		goto out;
	ASSERT_EQ(mine.packets[GUARDER_P_TCP], 5, "tcp packets");
	ASSERT_EQ(mine.packets[GUARDER_P_UDP], 1, "udp packets");
	ASSERT_TRUE(!memcmp(&mine, &theirs, sizeof(mine)), "same sums as the harness");
	ASSERT_TRUE(!strcmp(stats_proto_name(GUARDER_P_ICMPV6), "icmpv6"), "proto name");
	ASSERT_TRUE(!strcmp(stats_malformed_name(GUARDER_M_IPV4_IHL), "ipv4_bad_ihl"),
		    "malformed name");

	vt_sweep(&t, clock_mono_now_ns());
	mem = open_memstream(&text, &len);
	flow_view_summary(t.fv, fd, mem);
	/* a second one, after more traffic: rates */
	tcp(e, CLI, 40002, SRV, 443, PKT_ACK, 100);
	vt_feed(&t, e);
	vt_sweep(&t, clock_mono_now_ns());
	flow_view_summary(t.fv, fd, mem);
	fclose(mem);
	ASSERT_TRUE(strstr(text, "active 2"), "active flows");
	ASSERT_TRUE(strstr(text, "totals so far"), "first summary: totals");
	ASSERT_TRUE(strstr(text, "packets/s"), "second summary: rates");
	ASSERT_TRUE(strstr(text, CLI ":40002 -> " SRV ":443  packets 6"), "top flow");
	ASSERT_TRUE(strstr(text, "flows_created 2"), "kernel counters");
	if (getenv("SHOW_SUMMARY"))
		fputs(text, stderr);
	free(text);
	ok = true;
out:
	vt_close(&t);
	return ok;
}

/* The JSON field @name of record @o as an integer (-1 if absent). */
static long long rec_int(json_object *o, const char *name)
{
	json_object *f;

	return json_object_object_get_ex(o, name, &f) ? json_object_get_int64(f) : -1;
}

static const char *rec_str(json_object *o, const char *name)
{
	json_object *f;

	return json_object_object_get_ex(o, name, &f) ? json_object_get_string(f) : "";
}

/* A drop view of @e's maps, emitting through @t. */
static struct drop_view *dv_new(struct tenv *e, struct vt *t)
{
	return drop_view_new(t->fv, bpf_map__fd(e->skel->maps.drop_agg),
			     bpf_map__fd(e->skel->maps.tracker_cfg),
			     bpf_map__max_entries(e->skel->maps.drop_agg) / 2);
}

/*
 * What the filter dropped reaches the stream as one "drops" record per
 * (source, rule) and interval, with that interval's counts; drops leave
 * no flow state, so no start or drop record of a flow.
 */
static bool test_drop_records(struct tenv *e)
{
	struct drop_view *dv = NULL;
	struct rs_env s;
	struct vt t;
	struct pkt p;
	bool ok;
	int i, n;

	if (!vt_open(&t, e, 1024) || !setup(e, &s))
		return false;
	dv = dv_new(e, &t);
	ok = ASSERT_TRUE(dv, "drop_view_new") &&
	     add(&s, "{\"id\":42,\"action\":\"drop\",\"src_ip\":\"10.66.0.0/16\",\"enabled\":true}") &&
	     apply(&s);
	for (i = 0; ok && i < 3; i++) {
		pkt_tcp4(&p, "10.66.0.1", 1000 + i, SRV, 80, PKT_SYN, 1, 0, 100, 0);
		ok = ASSERT_EQ(xdp(e, &p), XDP_DROP, "dropped");
	}
	pkt_udp4(&p, "10.66.0.2", 53, SRV, 9999, 100);
	ok = ok && ASSERT_EQ(xdp(e, &p), XDP_DROP, "dropped");
	n = ok ? drop_view_sweep(dv, clock_mono_now_ns()) : -1;
	ok = ok && ASSERT_EQ(n, 2, "two aggregates reported") && vt_feed(&t, e) &&
	     ASSERT_EQ(vt_read(&t), 2, "two records") &&
	     ASSERT_EQ(t.n_event[5], 2, "both drops records") &&
	     ASSERT_EQ(t.n_event[0] + t.n_event[3], 0, "no start or drop record of a flow");
	for (i = 0; ok && i < t.nrec; i++) {
		json_object *o = t.rec[i];
		bool one = !strcmp(rec_str(o, "src_ip"), "10.66.0.1");

		ok = ASSERT_EQ(rec_int(o, "rule_id"), 42, "rule id") &&
		     ASSERT_TRUE(!strcmp(rec_str(o, "reason"), "rule"), "reason") &&
		     ASSERT_TRUE(!strcmp(rec_str(o, "hook"), "ingress"), "hook") &&
		     ASSERT_EQ(rec_int(o, "family"), 4, "family") &&
		     ASSERT_EQ(rec_int(o, "packets"), one ? 3 : 1, "packets of the interval") &&
		     ASSERT_TRUE(!strcmp(rec_str(o, "key"), one ? "drops|4|10.66.0.1" :
								"drops|4|10.66.0.2"),
				 "the key: one source's drops in one partition") &&
		     ASSERT_TRUE(strcmp(rec_str(o, "interval_end"),
					rec_str(o, "interval_start")) >= 0,
				 "interval_end >= interval_start");
	}
	/* Nothing new: nothing said. */
	n = ok ? drop_view_sweep(dv, clock_mono_now_ns()) : -1;
	ok = ok && ASSERT_EQ(n, 0, "an idle aggregate sends nothing");
	/* Two more drops of 10.66.0.1: the next record says 2, not 5. */
	for (i = 0; ok && i < 2; i++) {
		pkt_tcp4(&p, "10.66.0.1", 2000 + i, SRV, 80, PKT_SYN, 1, 0, 100, 0);
		ok = ASSERT_EQ(xdp(e, &p), XDP_DROP, "dropped");
	}
	n = ok ? drop_view_sweep(dv, clock_mono_now_ns()) : -1;
	ok = ok && ASSERT_EQ(n, 1, "one aggregate grew") && ASSERT_EQ(vt_read(&t), 1, "one record") &&
	     ASSERT_EQ(rec_int(t.rec[0], "packets"), 2, "the interval's drops only");
	drop_view_free(dv);
	done(&s);
	vt_close(&t);
	return ok;
}

/* Run the rest of the case on CPU @cpu (the test runs of BPF run where the caller does). */
static bool on_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return !sched_setaffinity(0, sizeof(set), &set);
}

/*
 * One source's drops counted on two CPUs, each in its own per-CPU slot,
 * are one record of the interval with both CPUs' packets.
 */
static bool test_drop_records_cpus(struct tenv *e)
{
	struct drop_view *dv = NULL;
	struct rs_env s;
	struct vt t;
	struct pkt p;
	bool ok;
	int i, n;

	if (libbpf_num_possible_cpus() < 2 || sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "  one CPU online: nothing to merge (skipped)\n");
		return true;
	}
	if (!vt_open(&t, e, 1024) || !setup(e, &s))
		return false;
	dv = dv_new(e, &t);
	ok = ASSERT_TRUE(dv, "drop_view_new") &&
	     add(&s, "{\"id\":5,\"action\":\"drop\",\"src_ip\":\"10.67.0.1\",\"enabled\":true}") &&
	     apply(&s);
	for (i = 0; ok && i < 5; i++) {
		ok = ASSERT_TRUE(on_cpu(i < 2 ? 0 : 1), "pinned to a CPU");
		pkt_tcp4(&p, "10.67.0.1", 3000 + i, SRV, 80, PKT_SYN, 1, 0, 100, 0);
		ok = ok && ASSERT_EQ(xdp(e, &p), XDP_DROP, "dropped");
	}
	n = ok ? drop_view_sweep(dv, clock_mono_now_ns()) : -1;
	ok = ok && ASSERT_EQ(n, 1, "one record for both CPUs") && vt_feed(&t, e) &&
	     ASSERT_EQ(vt_read(&t), 1, "one record") &&
	     ASSERT_EQ(rec_int(t.rec[0], "packets"), 5, "2 + 3 packets");
	on_cpu(0);
	drop_view_free(dv);
	done(&s);
	vt_close(&t);
	return ok;
}

/*
 * A spoofed flood: far more sources in one interval than the 256 slots
 * of a half. Every drop is counted (rule hits, stats), the sources that
 * found a slot are reported, the rest are counted in drop_agg_fail, and
 * nothing is counted twice. The next interval has every slot again.
 */
static bool test_drop_slots_full(struct tenv *e)
{
	struct drop_view *dv = NULL;
	struct global_stats st;
	struct rs_env s;
	char src[32];
	struct vt t;
	struct pkt p;
	__u64 fail = 0;
	bool ok;
	int i, n;

	if (!on_cpu(0) || !vt_open(&t, e, 1024) || !setup(e, &s))
		return false;
	dv = dv_new(e, &t);
	ok = ASSERT_TRUE(dv, "drop_view_new") &&
	     add(&s, "{\"id\":8,\"action\":\"drop\",\"src_ip\":\"10.128.0.0/9\",\"enabled\":true}") &&
	     apply(&s);
	for (i = 0; ok && i < 3000; i++) {
		snprintf(src, sizeof(src), "10.%d.%d.%d", 128 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
		pkt_tcp4(&p, src, 1024 + i, SRV, 80, PKT_SYN, 1, 0, 100, 0);
		if (xdp(e, &p) != XDP_DROP)
			ok = ASSERT_EQ(xdp(e, &p), XDP_DROP, "dropped");
	}
	n = ok ? drop_view_sweep(dv, clock_mono_now_ns()) : -1;
	ok = ok && ASSERT_GE(n, 200, "most of the 256 slots reported") &&
	     ASSERT_LE(n, 256, "at most a half's slots") && vt_feed(&t, e) &&
	     ASSERT_EQ(vt_read(&t), n, "one record per aggregate") && !read_stats(e, &st);
	fail = st.drop_agg_fail;
	ok = ok && ASSERT_EQ(t.packets + (long long)fail, 3000,
			     "reported + not attributed = dropped") &&
	     ASSERT_EQ(st.dropped, 3000, "every drop counted") &&
	     ASSERT_EQ(hits(&s, 8), 3000, "the rule's hits");
	/* The next interval: the same 100 sources again, each in a free slot. */
	for (i = 0; ok && i < 100; i++) {
		snprintf(src, sizeof(src), "10.%d.%d.%d", 128 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
		pkt_tcp4(&p, src, 1024 + i, SRV, 80, PKT_SYN, 1, 0, 100, 0);
		ok = ASSERT_EQ(xdp(e, &p), XDP_DROP, "dropped");
	}
	n = ok ? drop_view_sweep(dv, clock_mono_now_ns()) : -1;
	ok = ok && vt_feed(&t, e) && ASSERT_EQ(vt_read(&t), n, "records") && !read_stats(e, &st) &&
	     ASSERT_EQ(t.packets + (long long)(st.drop_agg_fail - fail), 100,
		       "reported + not attributed = dropped") &&
	     ASSERT_GE(t.packets, 90, "nearly all of 100 sources in 256 slots");
	/* Two intervals later the half is reused: stale slots are free. */
	for (i = 0; ok && i < 2; i++)
		ok = ASSERT_EQ(drop_view_sweep(dv, clock_mono_now_ns()), 0, "idle intervals");
	pkt_tcp4(&p, "10.200.0.1", 999, SRV, 80, PKT_SYN, 1, 0, 100, 0);
	ok = ok && ASSERT_EQ(xdp(e, &p), XDP_DROP, "dropped");
	n = ok ? drop_view_sweep(dv, clock_mono_now_ns()) : -1;
	ok = ok && ASSERT_EQ(n, 1, "a new source in a reused half") && vt_feed(&t, e) &&
	     ASSERT_EQ(vt_read(&t), 1, "one record") &&
	     ASSERT_EQ(rec_int(t.rec[0], "packets"), 1, "its one packet");
	drop_view_free(dv);
	done(&s);
	vt_close(&t);
	return ok;
}

int main(void)
{
	static const struct test_case cases[] = {
		TEST(tcp_fin),
		TEST(tcp_rst),
		TEST(udp_update_idle),
		TEST(icmp_expiry),
		TEST(adopt),
		TEST(evicted),
		TEST(view_full),
		TEST(many, .flows_max = 32768),
		TEST(many_walk, .flows_max = 8192),
		TEST(stats_summary),
		TEST(drop_records),
		TEST(drop_records_cpus),
		TEST(drop_slots_full, .drops_max = 256),
	};

	return run_tests(cases, sizeof(cases) / sizeof(cases[0]));
}

