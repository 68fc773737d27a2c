// SPDX-License-Identifier: GPL-2.0
/*
 * Guarder's kernel flow tracker. xdp_conn_tracker sees ingress,
 * tc_egress_tracker sees egress; both feed the same maps. The map and
 * program names are the contract with the collector (kernel/conn_tracker.h).
 *
 * Per packet: one parse (parsing.h) into a struct packet_meta, one lookup
 * of the per-CPU stats, one flow-table lookup for an established flow.
 * Events go to the ring buffer only on state changes, never per packet.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "kernel/conn_tracker.h"
#include "kernel/parsing.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARDER_FLOWS_DEFAULT);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARDER_ICMP_FLOWS_DEFAULT);
	__type(key, struct icmp_key);
	__type(value, struct icmp_value);
} icmp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct global_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, GUARDER_ICMP_COUNTS_MAX);
	__type(key, struct icmp_count_key);
	__type(value, __u64);
} icmp_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GUARDER_RINGBUF_DEFAULT);
} events SEC(".maps");

/* Minimum interval between two ICMP error events of one icmp_flows entry. */
const volatile __u64 icmp_event_interval_ns = 1000000000ULL;

/* How many bytes of headers the tc hook makes linear before parsing. */
#define TC_PULL_LEN 128

/* Everything about the packet being processed, shared by the helpers. */
struct track_ctx {
	struct packet_meta m;
	struct flow_key key;
	struct global_stats *st;
	__u64 now; /* coarse monotonic clock, see track_packet() */
	__u64 bytes; /* IP bytes of all segments */
	__u32 segs; /* packets this call accounts for (GSO segments) */
	__u32 ifindex;
	__u8 hook; /* enum guarder_hook */
	__u8 dir; /* 0: lo -> hi, 1: hi -> lo */
};

static __always_inline void sat_inc16(__u16 *c)
{
	if (*c != 0xffff)
		(*c)++;
}

/*
 * emit_event - one ring-buffer record. Out of line: only state changes
 * call it, and one copy keeps the program small. Every failed reserve is
 * counted, every submitted record too.
 */
static __noinline void emit_event(struct track_ctx *t, __u8 type)
{
	struct flow_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		t->st->ringbuf_fail++;
		return;
	}
	/* Ring-buffer memory is not zeroed: never leak old records. */
	__builtin_memset(e, 0, sizeof(*e));
	/* Events are rare: they get the precise clock. */
	e->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(&e->key, &t->key, sizeof(e->key));
	e->ifindex = t->ifindex;
	e->pkt_len = t->m.ip_len;
	e->type = type;
	e->dir = t->dir;
	e->hook = t->hook;
	e->tcp_flags = t->m.tcp_flags;
	e->verdict = GUARDER_VERDICT_PASS;
	if (type == FLOW_EV_ICMP_ERROR) {
		e->icmp_type = t->m.icmp_type;
		e->icmp_code = t->m.icmp_code;
		__builtin_memcpy(&e->inner, &t->m.inner, sizeof(e->inner));
	}
	bpf_ringbuf_submit(e, 0);
	t->st->events++;
}

/* Anomalies found in one segment (tcp_dir_update's return value). */
#define TCP_AN_RETRANS	(1u << 0)
#define TCP_AN_OOO	(1u << 1)
#define TCP_AN_DUP_ACK	(1u << 2)
#define TCP_AN_ZERO_WIN (1u << 3)

/*
 * tcp_dir_update - the TCP part of one direction @d of flow @v: sequence
 * tracking and the per-flow anomaly counters (definitions in
 * docs/kernel.md). Only TCP segments that are not fragments come here.
 * Returns the TCP_AN_* bits found, for the exact global counters.
 * Plain read-modify-write: a direction of a flow is normally handled by
 * one CPU at a time, and a lost update of a saturating per-flow counter
 * is harmless.
 */
static __always_inline __u32 tcp_dir_update(const struct packet_meta *m, struct flow_value *v,
					    struct flow_dir *d)
{
	__u8 fl = m->tcp_flags;
	__u32 seg_len = m->payload_len + !!(fl & TCPF_SYN) + !!(fl & TCPF_FIN);
	__u32 end = m->seq + seg_len;
	__u32 an = 0;

	if (!(d->dflags & FLOW_DIR_SEQ_VALID)) {
		if (!(fl & TCPF_RST)) {
			d->seq_next = end;
			d->dflags |= FLOW_DIR_SEQ_VALID;
		}
	} else if (!(fl & TCPF_RST)) {
		if (seg_len) {
			if ((__s32)(end - d->seq_next) <= 0 || (__s32)(m->seq - d->seq_next) < 0) {
				/* All or part of it was seen already. */
				sat_inc16(&d->retransmits);
				an |= TCP_AN_RETRANS;
			} else if (m->seq != d->seq_next) {
				/* It starts beyond what we saw: a gap. */
				sat_inc16(&v->out_of_order);
				an |= TCP_AN_OOO;
			}
			if ((__s32)(end - d->seq_next) > 0)
				d->seq_next = end;
		} else if ((fl & TCPF_ACK) && m->ack == d->ack && m->window == d->window) {
			/* A pure ACK (no data, SYN or FIN) repeating the last one. */
			sat_inc16(&d->dup_acks);
			an |= TCP_AN_DUP_ACK;
		}
	}
	if (m->window == 0 && !(fl & TCPF_RST)) {
		sat_inc16(&v->zero_windows);
		an |= TCP_AN_ZERO_WIN;
	}
	if (fl & TCPF_ACK)
		d->ack = m->ack;
	if (!(fl & TCPF_RST))
		d->window = m->window;
	d->tcp_flags |= fl;
	if (fl & TCPF_FIN)
		d->dflags |= FLOW_DIR_FIN;
	return an;
}

static __always_inline void tcp_count_anomalies(struct global_stats *st, __u32 an)
{
	if (an & TCP_AN_RETRANS)
		st->tcp_retransmits++;
	if (an & TCP_AN_OOO)
		st->tcp_out_of_order++;
	if (an & TCP_AN_DUP_ACK)
		st->tcp_dup_acks++;
	if (an & TCP_AN_ZERO_WIN)
		st->tcp_zero_windows++;
}

/* State bits whose event this packet triggers, given the flow's @state. */
static __always_inline __u8 tcp_new_state(const struct track_ctx *t, __u8 state)
{
	__u8 fl = t->m.tcp_flags, bits = 0;

	if ((fl & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK) &&
	    !(state & FLOW_STATE_SYN_EVENT))
		bits |= FLOW_STATE_SYN_EVENT;
	if (fl & TCPF_FIN) {
		__u8 fin = t->dir ? FLOW_STATE_FIN_EVENT1 : FLOW_STATE_FIN_EVENT0;

		if (!(state & fin))
			bits |= fin;
	}
	if ((fl & TCPF_RST) && !(state & FLOW_STATE_RST))
		bits |= FLOW_STATE_RST;
	return bits;
}

static __noinline void emit_tcp_events(struct track_ctx *t, __u8 bits)
{
	if (bits & FLOW_STATE_SYN_EVENT)
		emit_event(t, FLOW_EV_TCP_SYN);
	if (bits & (FLOW_STATE_FIN_EVENT0 | FLOW_STATE_FIN_EVENT1))
		emit_event(t, FLOW_EV_TCP_FIN);
	if (bits & FLOW_STATE_RST)
		emit_event(t, FLOW_EV_TCP_RST);
}

static __always_inline int meta_is_tcp_segment(const struct packet_meta *m)
{
	return m->proto == IPPROTO_TCP && m->frag == PKT_FRAG_NONE;
}

/*
 * flow_update - account the packet to an existing entry. packets/bytes
 * are atomic: ingress and egress of one flow run on different CPUs.
 */
static __always_inline void flow_update(struct track_ctx *t, struct flow_value *v)
{
	struct flow_dir *d = &v->dir[t->dir & 1];
	__u32 an;
	__u8 bits;

	__sync_fetch_and_add(&d->packets, t->segs);
	__sync_fetch_and_add(&d->bytes, t->bytes);
	/* The coarse clock may lag first_seen (precise) by a tick: never go back. */
	if (t->now > v->last_seen_ns)
		v->last_seen_ns = t->now;
	if (t->m.family == 4)
		v->ip_id = t->m.ip_id;
	if (t->m.proto != IPPROTO_TCP)
		return;
	if (meta_is_tcp_segment(&t->m)) {
		an = tcp_dir_update(&t->m, v, d);
		if (an)
			tcp_count_anomalies(t->st, an);
		/* Events only come from SYN, FIN and RST: skip the rest quickly. */
		if (t->m.tcp_flags & (TCPF_SYN | TCPF_FIN | TCPF_RST)) {
			bits = tcp_new_state(t, v->state);
			if (bits) {
				v->state |= bits;
				emit_tcp_events(t, bits);
			}
		}
	}
}

/*
 * flow_create - insert a new entry for the packet. When another CPU
 * inserted the same key first, account the packet to that entry instead.
 * Returns the entry the packet was accounted to, or NULL when the table
 * refused the insert (counted in flow_insert_fail).
 */
static __noinline struct flow_value *flow_create(struct track_ctx *t)
{
	struct flow_value nv = {};
	struct flow_value *v;
	__u64 now = bpf_ktime_get_ns();
	__u32 an = 0;
	__u8 bits = 0;
	int err;

	nv.dir[t->dir & 1].packets = t->segs;
	nv.dir[t->dir & 1].bytes = t->bytes;
	nv.first_seen_ns = now;
	nv.last_seen_ns = now;
	nv.initiator = t->dir;
	nv.verdict = GUARDER_VERDICT_PASS;
	if (t->m.family == 4)
		nv.ip_id = t->m.ip_id;
	if (meta_is_tcp_segment(&t->m)) {
		an = tcp_dir_update(&t->m, &nv, &nv.dir[t->dir & 1]);
		bits = tcp_new_state(t, 0);
		nv.state = bits;
	}
	err = bpf_map_update_elem(&flows, &t->key, &nv, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		/* Another CPU inserted it first: account to its entry. */
		v = bpf_map_lookup_elem(&flows, &t->key);
		if (v)
			flow_update(t, v);
		return v;
	}
	if (err) {
		t->st->flow_insert_fail++;
		return NULL;
	}
	t->st->flows_created++;
	if (an)
		tcp_count_anomalies(t->st, an);
	emit_event(t, FLOW_EV_START);
	if (bits)
		emit_tcp_events(t, bits);
	return bpf_map_lookup_elem(&flows, &t->key);
}

static __always_inline void icmp_count(struct track_ctx *t)
{
	struct icmp_count_key ck = {
		.family = t->m.family,
		.type = t->m.icmp_type,
		.code = t->m.icmp_code,
		.pad = 0,
	};
	__u64 *c, one = 1;

	c = bpf_map_lookup_elem(&icmp_counts, &ck);
	if (c) {
		*c += 1; /* per-CPU value */
		return;
	}
	if (bpf_map_update_elem(&icmp_counts, &ck, &one, BPF_NOEXIST)) {
		c = bpf_map_lookup_elem(&icmp_counts, &ck);
		if (c)
			*c += 1;
		else
			t->st->icmp_count_fail++;
	}
}

/*
 * icmp_view_update - the ICMP view entry of (src, dst, type, code,
 * family), plus the rate-limited FLOW_EV_ICMP_ERROR event: on creation,
 * then at most once per icmp_event_interval_ns per entry.
 */
static __noinline void icmp_view_update(struct track_ctx *t)
{
	const struct packet_meta *m = &t->m;
	struct icmp_key k;
	struct icmp_value *v;
	int err;

	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.src, m->src, sizeof(k.src));
	__builtin_memcpy(k.dst, m->dst, sizeof(k.dst));
	k.type = m->icmp_type;
	k.code = m->icmp_code;
	k.family = m->family;

	v = bpf_map_lookup_elem(&icmp_flows, &k);
	if (!v) {
		struct icmp_value nv = {};

		nv.packets = t->segs;
		nv.bytes = t->bytes;
		nv.first_seen_ns = bpf_ktime_get_ns();
		nv.last_seen_ns = nv.first_seen_ns;
		nv.echo_id = m->echo_id;
		nv.echo_seq = m->echo_seq;
		if (m->icmp_kind == PKT_ICMP_ERROR) {
			nv.last_event_ns = nv.first_seen_ns;
			__builtin_memcpy(&nv.inner, &m->inner, sizeof(nv.inner));
		}
		err = bpf_map_update_elem(&icmp_flows, &k, &nv, BPF_NOEXIST);
		if (!err) {
			if (m->icmp_kind == PKT_ICMP_ERROR)
				emit_event(t, FLOW_EV_ICMP_ERROR);
			return;
		}
		if (err != -17 /* EEXIST */) {
			t->st->icmp_insert_fail++;
			return;
		}
		v = bpf_map_lookup_elem(&icmp_flows, &k);
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->packets, t->segs);
	__sync_fetch_and_add(&v->bytes, t->bytes);
	if (t->now > v->last_seen_ns)
		v->last_seen_ns = t->now;
	if (m->icmp_kind == PKT_ICMP_ECHO) {
		v->echo_id = m->echo_id;
		v->echo_seq = m->echo_seq;
	} else if (m->icmp_kind == PKT_ICMP_ERROR) {
		__builtin_memcpy(&v->inner, &m->inner, sizeof(v->inner));
		/* Signed: last_event_ns may come from the precise clock. */
		if ((__s64)(t->now - v->last_event_ns) >= (__s64)icmp_event_interval_ns) {
			v->last_event_ns = t->now;
			emit_event(t, FLOW_EV_ICMP_ERROR);
		}
	}
}

/*
 * track_packet - parse, count and track one packet; the body shared by
 * both hooks. @frame_len is the real frame length, @segs the number of
 * packets it stands for (GSO). Returns an enum guarder_verdict.
 */
static __always_inline int track_packet(void *data, void *data_end, __u32 frame_len, __u32 segs,
					__u32 ifindex, __u8 hook)
{
	struct track_ctx t;
	struct flow_value *v = NULL;
	__u32 zero = 0;
	int rc;

	/*
	 * No memset of t: parse_packet() and the lines below write every
	 * field before it is read (zeroing ~200 bytes per packet costs ~5%).
	 */
	t.st = bpf_map_lookup_elem(&stats, &zero);
	if (!t.st)
		return GUARDER_VERDICT_PASS;

	rc = parse_packet(data, data_end, frame_len, segs > 1, &t.m);
	if (rc < 0) {
		__u32 reason = PARSE_REASON(rc);

		if (reason < GUARDER_M_MAX)
			t.st->malformed[reason]++;
		return GUARDER_VERDICT_PASS;
	}
	if (rc == PARSE_NON_IP) {
		t.st->packets[GUARDER_P_NON_IP] += segs;
		t.st->bytes[GUARDER_P_NON_IP] += frame_len;
		return GUARDER_VERDICT_PASS;
	}

	t.segs = segs;
	/* Every GSO segment repeats the IP and L4 headers. */
	t.bytes = t.m.ip_len + (__u64)(segs - 1) * t.m.hdr_len;
	t.ifindex = ifindex;
	t.hook = hook;
	/*
	 * bpf_ktime_get_ns() costs ~25 ns per call on a VM (a TSC read), more
	 * than half of the floor tracker. The established path only moves
	 * last_seen, which the coarse clock (CLOCK_MONOTONIC at tick
	 * granularity, same base) serves well; new entries and events read
	 * the precise clock themselves.
	 */
	t.now = bpf_ktime_get_coarse_ns();
	/* Each packet is counted once, in exactly one protocol class. */
	if (t.m.pclass < GUARDER_P_MAX) {
		t.st->packets[t.m.pclass] += segs;
		t.st->bytes[t.m.pclass] += t.bytes;
	}
	if (t.m.frag)
		t.st->fragments += segs;
	t.dir = flow_key_make(&t.key, t.m.src, t.m.sport, t.m.dst, t.m.dport, t.m.proto);

	/*
	 * An ICMP error belongs to the flow it quotes, not to a flow of its
	 * own: it lives in the ICMP view (and its event), not in flows.
	 */
	if (t.m.icmp_kind != PKT_ICMP_ERROR) {
		v = bpf_map_lookup_elem(&flows, &t.key);
		if (v)
			flow_update(&t, v);
		else
			v = flow_create(&t);
	}

	if (t.m.proto == IPPROTO_ICMP || t.m.proto == IPPROTO_ICMPV6) {
		if (t.m.frag != PKT_FRAG_LATER) {
			icmp_count(&t);
			icmp_view_update(&t);
		}
	}

	/*
	 * FILTER VERDICT POINT. The filter (a later issue) decides here, from
	 * t.m (the one parse) and the flow entry v (NULL for ICMP errors and
	 * when the table refused the insert), whose verdict cache
	 * (rule_gen, verdict, rule_slot) lets an established flow skip the
	 * rule lookup. There are no rules yet: every packet passes.
	 */
	return GUARDER_VERDICT_PASS;
}

SEC("xdp")
int xdp_conn_tracker(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	track_packet(data, data_end, data_end - data, 1, ctx->ingress_ifindex, GUARDER_HOOK_XDP);
	return XDP_PASS;
}

SEC("tc")
int tc_egress_tracker(struct __sk_buff *skb)
{
	__u32 segs = skb->gso_segs ? skb->gso_segs : 1;
	void *data, *data_end;

	/* Headers of an egress skb may sit in paged data: make them linear. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data_end - data < TC_PULL_LEN && skb->len > data_end - data)
		bpf_skb_pull_data(skb, skb->len < TC_PULL_LEN ? skb->len : TC_PULL_LEN);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	track_packet(data, data_end, skb->len, segs, skb->ifindex, GUARDER_HOOK_TC_EGRESS);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
