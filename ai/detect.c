// SPDX-License-Identifier: GPL-2.0
/*
 * Windowed features and the built-in detectors (detect.h).
 *
 * Tables (each at most ai.max_tracked entries, LRU-recycled):
 *   src      per source:                 flows, packets, bytes, half-open flows
 *   dst      per destination:            the same
 *   pair     per (src, dst, proto):      distinct dst ports (vertical scan),
 *                                        ICMP packets (ICMP flood)
 *   srcport  per (src, dst port, proto): distinct dst hosts (horizontal scan)
 *   svc      per (dst, port, proto, kind): TCP half-open vs completed flows
 *            (SYN flood), ICMP errors by type (error storm), bytes from a
 *            reflector port (UDP reflection), with the top sources
 *   conn     per (src, dst, port) on remote-access ports: completed
 *            connections (brute force)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

#define NODE_MAX    4096 /* distinct node names tracked */
#define NODE_SLOTS  8192
#define NODE_OTHER  0xffff
#define FUTURE_SKEW 60 /* seconds a record may be ahead of our clock */

/* reported bits (one per detector and table entry) */
#define R_VSCAN (1u << 0)
#define R_HSCAN (1u << 1)
#define R_SYN	(1u << 2)
#define R_BRUTE (1u << 3)
#define R_ICMP	(1u << 4)
#define R_STORM (1u << 5)
#define R_REFL	(1u << 6)

struct ai_node_table {
	char names[NODE_MAX][AI_NODE_MAX];
	uint32_t n;
	uint16_t slots[NODE_SLOTS]; /* index + 1 */
};

struct key_pair {
	uint32_t src[4], dst[4];
	uint16_t node;
	uint8_t proto;
	uint8_t pad;
};

struct pl_pair {
	struct ai_distinct ports;
	uint32_t flows;
	uint64_t icmp_packets;
};

struct key_srcport {
	uint32_t src[4];
	uint16_t node;
	uint16_t port;
	uint8_t proto;
	uint8_t pad[3];
};

struct pl_srcport {
	struct ai_distinct hosts;
	uint32_t flows;
};

struct key_conn {
	uint32_t src[4], dst[4];
	uint16_t node;
	uint16_t port;
	uint8_t proto;
	uint8_t pad[3];
};

struct pl_conn {
	uint32_t attempts;
};

static const char *const kind_names[AI_KIND_COUNT] = {
	[AI_PORT_SCAN_VERTICAL] = "port_scan_vertical",
	[AI_PORT_SCAN_HORIZONTAL] = "port_scan_horizontal",
	[AI_SYN_FLOOD] = "syn_flood",
	[AI_BRUTE_FORCE] = "brute_force",
	[AI_ICMP_FLOOD] = "icmp_flood",
	[AI_ICMP_ERROR_STORM] = "icmp_error_storm",
	[AI_UDP_REFLECTION] = "udp_reflection",
	[AI_MODEL] = "model",
};

const char *ai_kind_name(enum ai_kind k)
{
	return k < AI_KIND_COUNT ? kind_names[k] : "unknown";
}

/* --- distinct counting ------------------------------------------------ */

/*
 * Linear counting (Whang et al. 1990) over 512 bits: n = -m ln(zeros/m).
 * 64 bytes per set, about 3% error at 100 distinct values; it saturates
 * near 3,000 (every bit set), hence AI_DISTINCT_RELIABLE.
 */
static uint32_t lc_table[513];

static void lc_init(void)
{
	int z;

	for (z = 0; z <= 512; z++) {
		int zeros = 512 - z;

		lc_table[z] = zeros ? (uint32_t)lround(-512.0 * log((double)zeros / 512.0)) :
				      (uint32_t)lround(512.0 * log(512.0));
	}
}

static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	x *= 0x846ca68b;
	x ^= x >> 16;
	return x;
}

uint32_t ai_distinct_add(struct ai_distinct *d, uint32_t v)
{
	uint32_t b = mix32(v) & 511;

	if (!(d->bits[b >> 6] & (1ull << (b & 63)))) {
		d->bits[b >> 6] |= 1ull << (b & 63);
		d->set++;
	}
	return lc_table[d->set];
}

uint32_t ai_distinct_estimate(const struct ai_distinct *d)
{
	return lc_table[d->set > 512 ? 512 : d->set];
}

/* --- nodes ------------------------------------------------------------ */

static uint16_t node_id(struct ai_engine *eng, const char *name)
{
	struct ai_node_table *nt = eng->nodes;
	uint32_t h = ai_hash(name, strlen(name), 7), i;

	for (i = 0; i < NODE_SLOTS; i++) {
		uint32_t s = (h + i) & (NODE_SLOTS - 1);
		uint16_t v = nt->slots[s];

		if (!v) {
			if (nt->n >= NODE_MAX)
				break;
			snprintf(nt->names[nt->n], AI_NODE_MAX, "%s", name);
			nt->slots[s] = (uint16_t)++nt->n;
			return (uint16_t)(nt->n - 1);
		}
		if (!strcmp(nt->names[v - 1], name))
			return (uint16_t)(v - 1);
	}
	eng->stats.node_overflow++;
	return NODE_OTHER;
}

const char *ai_engine_node_name(const struct ai_engine *eng, uint16_t id)
{
	return id < eng->nodes->n ? eng->nodes->names[id] : "(other)";
}

/* --- engine ----------------------------------------------------------- */

static void set_ports(uint8_t *bm, const struct guarder_port_range *r, size_t n)
{
	size_t i;
	unsigned int p;

	for (i = 0; i < n; i++)
		for (p = r[i].first; p <= r[i].last; p++)
			bm[p >> 3] |= (uint8_t)(1u << (p & 7));
}

static bool port_in(const uint8_t *bm, uint16_t p)
{
	return bm[p >> 3] & (1u << (p & 7));
}

/* The engine's tables, so that setting up, freeing and sizing them walk one list. */
#define ENGINE_TABLE(field, key, payload)                                               \
	{                                                                               \
		offsetof(struct ai_engine, field), #field, sizeof(key), sizeof(payload) \
	}

static const struct {
	size_t offset; /* in struct ai_engine */
	const char *name;
	uint32_t key_size, payload_size;
} engine_tables[] = {
	ENGINE_TABLE(src, struct ai_key_host, struct ai_pl_host),
	ENGINE_TABLE(dst, struct ai_key_host, struct ai_pl_host),
	ENGINE_TABLE(pair, struct key_pair, struct pl_pair),
	ENGINE_TABLE(srcport, struct key_srcport, struct pl_srcport),
	ENGINE_TABLE(svc, struct ai_key_svc, struct ai_pl_svc),
	ENGINE_TABLE(conn, struct key_conn, struct pl_conn),
};

#define N_ENGINE_TABLES (sizeof(engine_tables) / sizeof(engine_tables[0]))

static struct ai_table *engine_table(struct ai_engine *eng, size_t i)
{
	return (struct ai_table *)((char *)eng + engine_tables[i].offset);
}

static const struct ai_table *engine_ctable(const struct ai_engine *eng, size_t i)
{
	return (const struct ai_table *)((const char *)eng + engine_tables[i].offset);
}

int ai_engine_init(struct ai_engine *eng, const struct guarder_config *cfg, ai_emit_fn emit,
		   void *ctx)
{
	size_t i;
	int err = 0;

	memset(eng, 0, sizeof(*eng));
	lc_init();
	eng->cfg = cfg;
	eng->emit = emit;
	eng->emit_ctx = ctx;
	set_ports(eng->remote_access, cfg->ai.remote_access_ports, cfg->ai.n_remote_access_ports);
	set_ports(eng->reflection, cfg->ai.reflection_ports, cfg->ai.n_reflection_ports);
	eng->nodes = calloc(1, sizeof(*eng->nodes));
	if (!eng->nodes)
		return -ENOMEM;
	for (i = 0; i < N_ENGINE_TABLES && !err; i++)
		err = ai_table_init(engine_table(eng, i), engine_tables[i].name,
				    cfg->ai.max_tracked, engine_tables[i].key_size,
				    engine_tables[i].payload_size);
	if (err)
		ai_engine_free(eng);
	return err;
}

void ai_engine_free(struct ai_engine *eng)
{
	size_t i;

	for (i = 0; i < N_ENGINE_TABLES; i++)
		ai_table_free(engine_table(eng, i));
	free(eng->nodes);
	eng->nodes = NULL;
}

size_t ai_engine_bytes(const struct ai_engine *eng)
{
	size_t bytes = sizeof(*eng->nodes), i;

	for (i = 0; i < N_ENGINE_TABLES; i++)
		bytes += ai_table_bytes(engine_ctable(eng, i));
	return bytes;
}

uint64_t ai_engine_evictions(const struct ai_engine *eng)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < N_ENGINE_TABLES; i++)
		n += engine_ctable(eng, i)->evictions;
	return n;
}

/* --- findings --------------------------------------------------------- */

static bool is_v4(const uint32_t a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == htonl(0xffff);
}

static void addr_text(const uint32_t a[4], char *buf, size_t len)
{
	if (is_v4(a))
		inet_ntop(AF_INET, &a[3], buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

/* The protocols detectors name and write rules for (RULE_PROTO_* are IP numbers). */
static const struct {
	uint8_t proto;
	const char *name;
	enum rule_type type;
} known_protos[] = {
	{ RULE_PROTO_TCP, "tcp", RULE_TYPE_TCP },
	{ RULE_PROTO_UDP, "udp", RULE_TYPE_UDP },
	{ RULE_PROTO_ICMP, "icmp", RULE_TYPE_ICMP },
	{ RULE_PROTO_ICMPV6, "ipv6-icmp", RULE_TYPE_ICMP },
};

#define N_KNOWN_PROTOS (sizeof(known_protos) / sizeof(known_protos[0]))

/* The row of known_protos[] for IP protocol @p, or N_KNOWN_PROTOS. */
static size_t known_proto(uint8_t p)
{
	size_t i;

	for (i = 0; i < N_KNOWN_PROTOS && known_protos[i].proto != p; i++)
		;
	return i;
}

static const char *proto_text(uint8_t p)
{
	size_t i = known_proto(p);

	return i < N_KNOWN_PROTOS ? known_protos[i].name : "ip";
}

static void host_addr(struct net_prefix *ra, const uint32_t a[4])
{
	memcpy(ra->addr, a, sizeof(ra->addr));
	ra->prefix = 128; /* IPv4 /32 is 96 + 32 */
	ra->family = is_v4(a) ? 4 : 6;
}

/* new_rule - an enabled drop rule for @proto, expiring after ai.rule_ttl. */
static struct rule *new_rule(struct ai_engine *eng, struct ai_finding *fd, uint8_t proto)
{
	struct rule *r;
	size_t p;

	if (fd->n_rules >= AI_FINDING_MAX_RULES)
		return NULL;
	r = &fd->rules[fd->n_rules++];
	rule_init(r);
	p = known_proto(proto);
	if (p < N_KNOWN_PROTOS) {
		r->type = known_protos[p].type;
		r->protocol = proto;
	}
	r->action = RULE_ACTION_DROP;
	r->enabled = true;
	r->expires_at = (__u64)time(NULL) + eng->cfg->ai.rule_ttl;
	snprintf(r->comment, sizeof(r->comment), "guarder-ai %s on %s", ai_kind_name(fd->kind),
		 fd->node);
	return r;
}

static void ev(struct ai_finding *fd, const char *name, uint64_t v)
{
	if (fd->n_ev < AI_FINDING_MAX_EV) {
		fd->ev[fd->n_ev].name = name;
		fd->ev[fd->n_ev].value = v;
		fd->n_ev++;
	}
}

/*
 * confidence = 0.5 + 0.49 * max(speed, excess), where
 *   speed  = 1 - (seconds from the window's opening to the crossing) / window
 *   excess = min(1, log2(observed / threshold))
 * A threshold reached at the very end of the window and only just gives
 * 0.5; reached within a second, or twice over, gives 0.99.
 */
static double confidence(uint32_t elapsed, uint32_t window, uint64_t observed, uint64_t threshold)
{
	double speed = 1.0 - (double)(elapsed > window ? window : elapsed) / (double)window;
	double excess = threshold ? log2((double)observed / (double)threshold) : 1.0;
	double m;

	if (excess > 1.0)
		excess = 1.0;
	m = speed > excess ? speed : excess;
	if (m < 0)
		m = 0;
	return round((0.5 + 0.49 * m) * 100.0) / 100.0;
}

static void start_finding(struct ai_engine *eng, struct ai_finding *fd, enum ai_kind k,
			  uint16_t node, uint32_t at, struct ai_entry *e, uint64_t observed,
			  uint64_t threshold)
{
	memset(fd, 0, offsetof(struct ai_finding, rules));
	fd->n_rules = 0;
	fd->kind = k;
	snprintf(fd->node, sizeof(fd->node), "%s", ai_engine_node_name(eng, node));
	fd->at = at;
	fd->confidence = confidence(at > e->t_start ? at - e->t_start : 0, eng->cfg->ai.window,
				    observed, threshold);
	ev(fd, "window_s", eng->cfg->ai.window);
	ev(fd, "elapsed_s", at > e->t_start ? at - e->t_start : 0);
	ev(fd, "threshold", threshold);
	ev(fd, "observed", observed);
}

static void emit(struct ai_engine *eng, struct ai_finding *fd)
{
	eng->stats.findings[fd->kind]++;
	eng->recent[eng->n_recent % AI_RECENT_FINDINGS] = *fd;
	eng->n_recent++;
	if (eng->emit)
		eng->emit(fd, eng->emit_ctx);
}

/* --- top sources (space-saving) ----------------------------------------- */

static void topk_add(struct ai_topk *t, const uint32_t a[4], uint64_t w)
{
	int i, min = 0;

	for (i = 0; i < AI_TOPK; i++) {
		if (t[i].count && !memcmp(t[i].addr, a, 16)) {
			t[i].count += w;
			return;
		}
	}
	for (i = 0; i < AI_TOPK; i++) {
		if (!t[i].count) {
			memcpy(t[i].addr, a, 16);
			t[i].count = w;
			t[i].err = 0;
			return;
		}
		if (t[i].count < t[min].count)
			min = i;
	}
	/* space-saving: the newcomer inherits the evicted count as its error */
	memcpy(t[min].addr, a, 16);
	t[min].err = t[min].count;
	t[min].count += w;
}

/*
 * top_sources - the sources that surely sent at least 10% of @total
 * (count - err, the space-saving lower bound). Returns how many; 0 means
 * the traffic is distributed (or spoofed).
 */
static size_t top_sources(const struct ai_topk *t, uint64_t total, const struct ai_topk **out)
{
	size_t n = 0;
	int i;

	for (i = 0; i < AI_TOPK; i++)
		if (t[i].count && (t[i].count - t[i].err) * 10 >= total)
			out[n++] = &t[i];
	return n;
}

/* --- detectors -------------------------------------------------------- */

/*
 * block_pair - a finding about traffic from @src to @dst: @src is the
 * offender, and the one rule drops @proto from @src to @dst. @d gets the
 * text of @dst. Returns the rule, for the detector to narrow.
 */
static struct rule *block_pair(struct ai_engine *eng, struct ai_finding *fd, const uint32_t src[4],
			       const uint32_t dst[4], uint8_t proto, char *d, size_t d_len)
{
	struct rule *r = new_rule(eng, fd, proto);

	addr_text(src, fd->offender, sizeof(fd->offender));
	addr_text(dst, d, d_len);
	host_addr(&r->src, src);
	host_addr(&r->dst, dst);
	return r;
}

/*
 * start_pair_finding - a finding about the traffic of @k, from its source
 * to its destination over its protocol (the target "DST/PROTO"), @observed
 * against @threshold. @d gets the destination's text.
 */
static void start_pair_finding(struct ai_engine *eng, struct ai_finding *fd, enum ai_kind kind,
			       const struct key_pair *k, struct ai_entry *e, uint32_t at,
			       uint64_t observed, uint64_t threshold, char *d, size_t d_len)
{
	start_finding(eng, fd, kind, k->node, at, e, observed, threshold);
	block_pair(eng, fd, k->src, k->dst, k->proto, d, d_len);
	snprintf(fd->target, sizeof(fd->target), "%s/%s", d, proto_text(k->proto));
}

/*
 * start_service_finding - a finding about the service @k, whose total
 * (payload) crossed @threshold. @d gets the service address's text.
 * Returns the payload.
 */
static struct ai_pl_svc *start_service_finding(struct ai_engine *eng, struct ai_finding *fd,
					       enum ai_kind kind, const struct ai_key_svc *k,
					       struct ai_entry *e, uint32_t at, uint64_t threshold,
					       char *d, size_t d_len)
{
	struct ai_pl_svc *pl = ai_entry_payload(&eng->svc, e);

	start_finding(eng, fd, kind, k->node, at, e, pl->total, threshold);
	addr_text(k->addr, d, d_len);
	return pl;
}

/* Narrows a rule against a service to its port (or ICMP type) in @k. */
typedef void (*aim_fn)(struct rule *r, const struct ai_key_svc *k);

static void aim_dport(struct rule *r, const struct ai_key_svc *k)
{
	r->dport.lo = r->dport.hi = k->port;
}

static void aim_sport(struct rule *r, const struct ai_key_svc *k)
{
	r->sport.lo = r->sport.hi = k->port;
}

static void aim_icmp_type(struct rule *r, const struct ai_key_svc *k)
{
	r->icmp_type = (__u8)k->port;
}

/*
 * block_sources - the rules of a finding about a service (@k, @pl): one
 * per source that surely sent a tenth of its traffic, from that source,
 * the first of them the offender; or, when none stands out (spoofed or
 * spread sources), one rule from anywhere, fd->rules[0], and the offender
 * "distributed". Each rule drops @proto to the service, narrowed by @aim.
 * Returns the number of sources blocked.
 */
static size_t block_sources(struct ai_engine *eng, struct ai_finding *fd,
			    const struct ai_key_svc *k, const struct ai_pl_svc *pl, uint8_t proto,
			    aim_fn aim)
{
	const struct ai_topk *top[AI_TOPK];
	size_t n = top_sources(pl->top, pl->total, top), i;
	struct rule *r;

	for (i = 0; i < n; i++) {
		r = new_rule(eng, fd, proto);
		host_addr(&r->src, top[i]->addr);
		host_addr(&r->dst, k->addr);
		aim(r, k);
	}
	if (n) {
		addr_text(top[0]->addr, fd->offender, sizeof(fd->offender));
		return n;
	}
	snprintf(fd->offender, sizeof(fd->offender), "distributed");
	r = new_rule(eng, fd, proto);
	host_addr(&r->dst, k->addr);
	aim(r, k);
	return 0;
}

static void vertical_scan(struct ai_engine *eng, const struct key_pair *k, struct ai_entry *e,
			  uint32_t est, uint32_t at)
{
	struct pl_pair *pl = ai_entry_payload(&eng->pair, e);
	struct ai_finding fd;
	char d[48];

	start_pair_finding(eng, &fd, AI_PORT_SCAN_VERTICAL, k, e, at, est, eng->cfg->ai.scan_ports,
			   d, sizeof(d));
	ev(&fd, "distinct_ports", est);
	ev(&fd, "flows", pl->flows);
	snprintf(fd.summary, sizeof(fd.summary),
		 "vertical port scan: %s tried about %u %s ports on %s within %u s", fd.offender,
		 est, proto_text(k->proto), d, at - e->t_start);
	emit(eng, &fd);
}

static void horizontal_scan(struct ai_engine *eng, const struct key_srcport *k, struct ai_entry *e,
			    uint32_t est, uint32_t at)
{
	struct pl_srcport *pl = ai_entry_payload(&eng->srcport, e);
	struct ai_finding fd;
	struct rule *r;

	start_finding(eng, &fd, AI_PORT_SCAN_HORIZONTAL, k->node, at, e, est,
		      eng->cfg->ai.scan_hosts);
	addr_text(k->src, fd.offender, sizeof(fd.offender));
	snprintf(fd.target, sizeof(fd.target), "*:%u/%s", k->port, proto_text(k->proto));
	ev(&fd, "distinct_hosts", est);
	ev(&fd, "port", k->port);
	ev(&fd, "flows", pl->flows);
	snprintf(fd.summary, sizeof(fd.summary),
		 "horizontal scan: %s tried %s port %u on about %u hosts within %u s", fd.offender,
		 proto_text(k->proto), k->port, est, at - e->t_start);
	r = new_rule(eng, &fd, k->proto);
	host_addr(&r->src, k->src);
	r->dport.lo = r->dport.hi = k->port;
	emit(eng, &fd);
}

static void syn_flood(struct ai_engine *eng, const struct ai_key_svc *k, struct ai_entry *e,
		      uint32_t at)
{
	struct ai_finding fd;
	char d[48];
	struct ai_pl_svc *pl = start_service_finding(eng, &fd, AI_SYN_FLOOD, k, e, at,
						     eng->cfg->ai.syn_flood_syns, d, sizeof(d));
	uint64_t seen = pl->total + pl->completed;
	size_t n;

	snprintf(fd.target, sizeof(fd.target), "%s:%u/tcp", d, k->port);
	ev(&fd, "half_open", pl->total);
	ev(&fd, "completed", pl->completed);
	ev(&fd, "completed_pct", seen ? pl->completed * 100 / seen : 0);
	ev(&fd, "port", k->port);
	n = block_sources(eng, &fd, k, pl, RULE_PROTO_TCP, aim_dport);
	if (n) {
		ev(&fd, "sources_blocked", n);
	} else {
		/* from anywhere: stop new handshakes only */
		fd.rules[0].tcp_flags = TCP_SYN;
		fd.rules[0].tcp_flags_mask = TCP_SYN | TCP_ACK;
	}
	snprintf(fd.summary, sizeof(fd.summary),
		 "SYN flood on %s:%u: %llu half-open flows, %llu completed, within %u s (%s)", d,
		 k->port, (unsigned long long)pl->total, (unsigned long long)pl->completed,
		 at - e->t_start, n ? "from a few sources" : "from many sources");
	emit(eng, &fd);
}

static void brute_force(struct ai_engine *eng, const struct key_conn *k, struct ai_entry *e,
			uint32_t attempts, uint32_t at)
{
	struct ai_finding fd;
	struct rule *r;
	char d[48];

	start_finding(eng, &fd, AI_BRUTE_FORCE, k->node, at, e, attempts,
		      eng->cfg->ai.brute_force_attempts);
	r = block_pair(eng, &fd, k->src, k->dst, RULE_PROTO_TCP, d, sizeof(d));
	r->dport.lo = r->dport.hi = k->port;
	snprintf(fd.target, sizeof(fd.target), "%s:%u/tcp", d, k->port);
	ev(&fd, "connections", attempts);
	ev(&fd, "port", k->port);
	snprintf(fd.summary, sizeof(fd.summary),
		 "brute force: %s opened %u connections to %s port %u within %u s", fd.offender,
		 attempts, d, k->port, at - e->t_start);
	emit(eng, &fd);
}

static void icmp_flood(struct ai_engine *eng, const struct key_pair *k, struct ai_entry *e,
		       uint64_t packets, uint32_t at)
{
	struct ai_finding fd;
	char d[48];

	start_pair_finding(eng, &fd, AI_ICMP_FLOOD, k, e, at, packets,
			   eng->cfg->ai.icmp_flood_packets, d, sizeof(d));
	ev(&fd, "packets", packets);
	snprintf(fd.summary, sizeof(fd.summary),
		 "ICMP flood: %s sent %llu ICMP packets to %s within %u s", fd.offender,
		 (unsigned long long)packets, d, at - e->t_start);
	emit(eng, &fd);
}

static void icmp_storm(struct ai_engine *eng, const struct ai_key_svc *k, struct ai_entry *e,
		       uint32_t at)
{
	struct ai_finding fd;
	char d[48];
	struct ai_pl_svc *pl = start_service_finding(eng, &fd, AI_ICMP_ERROR_STORM, k, e, at,
						     eng->cfg->ai.icmp_error_storm, d, sizeof(d));

	snprintf(fd.target, sizeof(fd.target), "%s/%s type %u", d, proto_text(k->proto), k->port);
	ev(&fd, "errors", pl->total);
	ev(&fd, "icmp_type", k->port);
	block_sources(eng, &fd, k, pl, k->proto, aim_icmp_type);
	snprintf(fd.summary, sizeof(fd.summary),
		 "ICMP error storm: %llu %s type %u errors to %s within %u s",
		 (unsigned long long)pl->total, proto_text(k->proto), k->port, d, at - e->t_start);
	emit(eng, &fd);
}

static void reflection(struct ai_engine *eng, const struct ai_key_svc *k, struct ai_entry *e,
		       uint32_t at)
{
	struct ai_finding fd;
	char d[48];
	struct ai_pl_svc *pl = start_service_finding(eng, &fd, AI_UDP_REFLECTION, k, e, at,
						     eng->cfg->ai.reflection_bytes, d, sizeof(d));

	snprintf(fd.target, sizeof(fd.target), "%s/udp from port %u", d, k->port);
	ev(&fd, "bytes", pl->total);
	ev(&fd, "flows", pl->flows);
	ev(&fd, "reflector_port", k->port);
	block_sources(eng, &fd, k, pl, RULE_PROTO_UDP, aim_sport);
	snprintf(fd.summary, sizeof(fd.summary),
		 "UDP reflection: %s received %llu unsolicited bytes from source port %u in %llu "
		 "flows within %u s",
		 d, (unsigned long long)pl->total, k->port, (unsigned long long)pl->flows,
		 at - e->t_start);
	emit(eng, &fd);
}

/* --- feeding ---------------------------------------------------------- */

static void hosts(struct ai_engine *eng, const struct ai_flow *f, uint16_t node, uint32_t t)
{
	struct ai_key_host k = { .node = node };
	struct ai_pl_host *pl;
	int side;

	for (side = 0; side < 2; side++) {
		struct ai_table *tab = side ? &eng->dst : &eng->src;

		memcpy(k.addr, side ? f->dst : f->src, sizeof(k.addr));
		pl = ai_entry_payload(tab, ai_table_touch(tab, &k, t, eng->cfg->ai.window));
		if (f->event == AI_EV_START) {
			pl->flows++;
		} else if (f->event == AI_EV_END || f->event == AI_EV_UPDATE) {
			pl->packets += f->fwd.packets + f->rev.packets;
			pl->bytes += f->fwd.bytes + f->rev.bytes;
			if (f->event == AI_EV_END && f->proto == 6 &&
			    (f->fwd.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
				pl->syn_only++;
		}
	}
}

static void scans(struct ai_engine *eng, const struct ai_flow *f, uint16_t node, uint32_t t)
{
	struct key_pair kp = { .node = node, .proto = f->proto };
	struct key_srcport ks = { .node = node, .port = f->dport, .proto = f->proto };
	struct pl_srcport *ps;
	struct pl_pair *pp;
	struct ai_entry *e;
	uint32_t est;

	memcpy(kp.src, f->src, 16);
	memcpy(kp.dst, f->dst, 16);
	e = ai_table_touch(&eng->pair, &kp, t, eng->cfg->ai.window);
	pp = ai_entry_payload(&eng->pair, e);
	pp->flows++;
	est = ai_distinct_add(&pp->ports, f->dport);
	if (est >= eng->cfg->ai.scan_ports && !(e->reported & R_VSCAN)) {
		e->reported |= R_VSCAN;
		vertical_scan(eng, &kp, e, est, t);
	}

	memcpy(ks.src, f->src, 16);
	e = ai_table_touch(&eng->srcport, &ks, t, eng->cfg->ai.window);
	ps = ai_entry_payload(&eng->srcport, e);
	ps->flows++;
	est = ai_distinct_add(&ps->hosts, ai_hash(f->dst, 16, 1));
	if (est >= eng->cfg->ai.scan_hosts && !(e->reported & R_HSCAN)) {
		e->reported |= R_HSCAN;
		horizontal_scan(eng, &ks, e, est, t);
	}
}

static void tcp_end(struct ai_engine *eng, const struct ai_flow *f, uint16_t node, uint32_t t)
{
	const struct guarder_config *cfg = eng->cfg;
	struct ai_key_svc ks = { .node = node, .port = f->dport, .proto = 6, .kind = AI_SVC_TCP };
	bool half_open = (f->fwd.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	bool completed = (f->fwd.tcp_flags & TCP_ACK) &&
			 (f->rev.tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);
	struct ai_pl_svc *pl;
	struct ai_entry *e;

	memcpy(ks.addr, f->dst, 16);
	e = ai_table_touch(&eng->svc, &ks, t, cfg->ai.window);
	pl = ai_entry_payload(&eng->svc, e);
	pl->flows++;
	if (half_open) {
		pl->total++;
		topk_add(pl->top, f->src, 1);
	} else if (completed) {
		pl->completed++;
	}
	if (half_open && pl->total >= cfg->ai.syn_flood_syns && !(e->reported & R_SYN) &&
	    pl->completed * 100 <=
		    (uint64_t)cfg->ai.syn_flood_max_completed_pct * (pl->total + pl->completed)) {
		e->reported |= R_SYN;
		syn_flood(eng, &ks, e, t);
	}

	if (completed && port_in(eng->remote_access, f->dport)) {
		struct key_conn kc = { .node = node, .port = f->dport, .proto = 6 };
		struct pl_conn *pc;

		memcpy(kc.src, f->src, 16);
		memcpy(kc.dst, f->dst, 16);
		e = ai_table_touch(&eng->conn, &kc, t, cfg->ai.window);
		pc = ai_entry_payload(&eng->conn, e);
		pc->attempts++;
		if (pc->attempts >= cfg->ai.brute_force_attempts && !(e->reported & R_BRUTE)) {
			e->reported |= R_BRUTE;
			brute_force(eng, &kc, e, pc->attempts, t);
		}
	}
}

static void udp_volume(struct ai_engine *eng, const struct ai_flow *f, uint16_t node, uint32_t t)
{
	const struct guarder_config *cfg = eng->cfg;
	struct ai_key_svc ks = {
		.node = node, .port = f->sport, .proto = 17, .kind = AI_SVC_REFLECT
	};
	struct ai_pl_svc *pl;
	struct ai_entry *e;

	/*
	 * Unsolicited traffic from a reflector port: the initiator (src) is
	 * the reflector, so the victim never asked. A reply to the victim's
	 * own query has the victim as initiator and is not counted.
	 */
	if (!port_in(eng->reflection, f->sport) || port_in(eng->reflection, f->dport))
		return;
	memcpy(ks.addr, f->dst, 16);
	e = ai_table_touch(&eng->svc, &ks, t, cfg->ai.window);
	pl = ai_entry_payload(&eng->svc, e);
	pl->total += f->fwd.bytes;
	pl->flows++;
	topk_add(pl->top, f->src, f->fwd.bytes);
	if (pl->total >= cfg->ai.reflection_bytes && !(e->reported & R_REFL)) {
		e->reported |= R_REFL;
		reflection(eng, &ks, e, t);
	}
}

static void icmp_volume(struct ai_engine *eng, const struct ai_flow *f, uint16_t node, uint32_t t)
{
	struct key_pair kp = { .node = node, .proto = f->proto };
	struct pl_pair *pp;
	struct ai_entry *e;

	memcpy(kp.src, f->src, 16);
	memcpy(kp.dst, f->dst, 16);
	e = ai_table_touch(&eng->pair, &kp, t, eng->cfg->ai.window);
	pp = ai_entry_payload(&eng->pair, e);
	pp->icmp_packets += f->fwd.packets;
	if (pp->icmp_packets >= eng->cfg->ai.icmp_flood_packets && !(e->reported & R_ICMP)) {
		e->reported |= R_ICMP;
		icmp_flood(eng, &kp, e, pp->icmp_packets, t);
	}
}

static void icmp_error(struct ai_engine *eng, const struct ai_flow *f, uint16_t node, uint32_t t)
{
	struct ai_key_svc ks = {
		.node = node, .port = f->icmp_type, .proto = f->proto, .kind = AI_SVC_ICMPERR
	};
	struct ai_pl_svc *pl;
	struct ai_entry *e;

	memcpy(ks.addr, f->dst, 16);
	e = ai_table_touch(&eng->svc, &ks, t, eng->cfg->ai.window);
	pl = ai_entry_payload(&eng->svc, e);
	pl->total++;
	pl->flows++;
	topk_add(pl->top, f->src, 1);
	if (pl->total >= eng->cfg->ai.icmp_error_storm && !(e->reported & R_STORM)) {
		e->reported |= R_STORM;
		icmp_storm(eng, &ks, e, t);
	}
}

void ai_engine_feed(struct ai_engine *eng, const struct ai_flow *f)
{
	uint32_t t = (uint32_t)(f->last_ns / 1000000000ull);
	uint16_t node;

	eng->stats.records++;
	if (eng->wall_now && t > eng->wall_now + FUTURE_SKEW) {
		eng->stats.future_clamped++;
		t = eng->wall_now;
	}
	if (t > eng->now)
		eng->now = t;
	if (f->event == AI_EV_DROP)
		return; /* the filter already handles it */
	node = node_id(eng, f->node);

	if (f->event == AI_EV_ICMP) {
		icmp_error(eng, f, node, t);
		return;
	}
	hosts(eng, f, node, t);
	switch (f->proto) {
	case 6:
	case 17:
		/*
		 * Every probe is a new flow with its start record: the scans need
		 * no other event, and skipping them halves the table work of
		 * end/update records (the worker's hot path).
		 */
		if (f->event == AI_EV_START)
			scans(eng, f, node, t);
		if (f->proto == 6 && f->event == AI_EV_END)
			tcp_end(eng, f, node, t);
		if (f->proto == 17 && (f->event == AI_EV_END || f->event == AI_EV_UPDATE))
			udp_volume(eng, f, node, t);
		break;
	case 1:
	case 58:
		if (f->event == AI_EV_END || f->event == AI_EV_UPDATE)
			icmp_volume(eng, f, node, t);
		break;
	}
}
