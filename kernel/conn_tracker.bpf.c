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
#include "kernel/shared_maps.h"
#include "kernel/filter.h"
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

/* Indexed by icmp_count_index(): a direct slot, no hash, never full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GUARDER_ICMP_COUNTS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} icmp_counts SEC(".maps");

/* The filter's maps: layouts and design in kernel/filter.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* written by lib/rule_set.c */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rule_ctl);
} rule_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* written by lib/rule_set.c */
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct rule_shape_set);
} rule_shapes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RULE_MATCH_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* sized for two full halves, mostly empty */
	__type(key, struct rule_match_key);
	__type(value, struct rule_match_val);
} rule_match SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* written by lib/rule_set.c */
	__uint(max_entries, 2 * RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct rule_comp);
} rule_comp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RULE_SLOTS);
	__type(key, __u32);
	__type(value, struct rule_counter);
} rule_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * RULE_PROTECT_NETS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_protect_key);
	__type(value, __u8);
} rule_protect_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* written by lib/rule_set.c */
	__uint(max_entries, 2 * RULE_PROTECT_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} rule_protect_ports SEC(".maps");

/* First fragments, for the later fragments of their datagram. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARDER_FRAGS_DEFAULT);
	__type(key, struct frag_key);
	__type(value, struct frag_value);
} frag_cache SEC(".maps");

/* What the filter dropped, per source and rule: drops leave no flow state. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * GUARDER_DROPS_DEFAULT);
	__type(key, __u32);
	__type(value, struct drop_slot);
} drop_agg SEC(".maps");

/* drop_agg's slots per half, less one (a power of two): set with its size. */
volatile const __u32 drop_half_mask = GUARDER_DROPS_DEFAULT - 1;

/*
 * The interfaces this program is attached to at XDP (ifindex -> 1). The
 * tc egress program skips a forwarded packet whose ingress interface is
 * one of them: it was counted and filtered there already.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GUARDER_XDP_IFACES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} xdp_ifaces SEC(".maps");

/* Runtime knobs, written by the collector (struct tracker_cfg). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tracker_cfg);
} tracker_cfg SEC(".maps");

/* How many bytes of headers the tc hook makes linear before parsing. */
#define TC_PULL_LEN 128

/* What filter_eval() decided (an object of its own, see filter_eval()). */
struct filter_res {
	__u32 rule_id; /* id of the deciding rule, 0 if none */
	__u16 slot; /* its slot or RULE_SLOT_NONE */
	__u8 verdict; /* enum guarder_verdict */
	__u8 cache_ok; /* the verdict holds for every packet of this direction */
	__u8 reason; /* enum guarder_drop_reason of a drop */
	__u8 pad[3];
};

/* Everything about the packet being processed, shared by the helpers. */
struct track_ctx {
	struct packet_meta m;
	struct flow_key key;
	__u64 now; /* coarse monotonic clock, see track_packet() */
	__u64 bytes; /* IP bytes of all segments */
	__u32 segs; /* packets this call accounts for (GSO segments) */
	__u32 ifindex;
	__u32 gen; /* rule_ctl.gen, read once: the rule-set half of this packet */
	__u32 rule_id; /* filter: id of the deciding rule, 0 if unknown */
	__u16 slot; /* filter: slot of the deciding rule or RULE_SLOT_NONE */
	__u8 verdict; /* enum guarder_verdict */
	__u8 cache_ok; /* the verdict holds for every packet of this direction */
	__u8 hook; /* enum guarder_hook */
	__u8 dir; /* 0: lo -> hi, 1: hi -> lo */
	__u8 reason; /* enum guarder_drop_reason of a drop */
	__u8 pad;
	struct filter_res fr; /* filter_eval()'s answer */
};

/*
 * The track_ctx of the packet this CPU is processing. On the stack it
 * would leave too little of the 512 bytes for the filter's call chain;
 * XDP and tc run with bottom halves off, so a CPU never processes two
 * packets at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct track_ctx);
} scratch SEC(".maps");

/* This CPU's global counters (a pointer cannot live in the scratch map). */
static __always_inline struct global_stats *stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

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
	struct global_stats *st = stats_get();
	struct flow_event *e;

	if (!st)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		st->ringbuf_fail++;
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
	e->verdict = t->verdict;
	if (type == FLOW_EV_DROP)
		e->rule_id = t->rule_id;
	if (type == FLOW_EV_ICMP_ERROR) {
		e->icmp_type = t->m.icmp_type;
		e->icmp_code = t->m.icmp_code;
		__builtin_memcpy(&e->inner, &t->m.inner, sizeof(e->inner));
	}
	bpf_ringbuf_submit(e, 0);
	st->events++;
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
static __always_inline void flow_update(struct track_ctx *t, struct flow_value *v,
					struct global_stats *st)
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
			tcp_count_anomalies(st, an);
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
	struct global_stats *st = stats_get();
	struct flow_value nv = {};
	struct flow_value *v;
	__u64 now = bpf_ktime_get_ns();
	__u32 an = 0;
	__u8 bits = 0;
	int err;

	/* Only packets that pass create entries: a drop leaves no flow state. */
	nv.first_seen_ns = now;
	nv.last_seen_ns = now;
	nv.initiator = t->dir;
	nv.vcache = FLOW_VC_MAKE(0, RULE_SLOT_NONE, 0, GUARDER_VERDICT_PASS);
	if (t->m.family == 4)
		nv.ip_id = t->m.ip_id;
	nv.dir[t->dir & 1].packets = t->segs;
	nv.dir[t->dir & 1].bytes = t->bytes;
	if (meta_is_tcp_segment(&t->m)) {
		an = tcp_dir_update(&t->m, &nv, &nv.dir[t->dir & 1]);
		bits = tcp_new_state(t, 0);
		nv.state = bits;
	}
	if (!st)
		return NULL;
	err = bpf_map_update_elem(&flows, &t->key, &nv, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		/* Another CPU inserted it first: account to its entry. */
		v = bpf_map_lookup_elem(&flows, &t->key);
		if (v)
			flow_update(t, v, st);
		return v;
	}
	if (err) {
		st->flow_insert_fail++;
		return NULL;
	}
	st->flows_created++;
	if (an)
		tcp_count_anomalies(st, an);
	emit_event(t, FLOW_EV_START);
	if (bits)
		emit_tcp_events(t, bits);
	return bpf_map_lookup_elem(&flows, &t->key);
}

/* Count the packet's (family, type, code): per-CPU slot, no atomics. */
static __always_inline void icmp_count(struct track_ctx *t)
{
	__u32 idx = icmp_count_index(t->m.family, t->m.icmp_type, t->m.icmp_code);
	__u64 *c;

	c = bpf_map_lookup_elem(&icmp_counts, &idx);
	if (c)
		*c += t->segs;
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

		nv.packets_own = t->segs;
		nv.bytes_own = t->bytes;
		nv.owner_cpu = bpf_get_smp_processor_id();
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
			struct global_stats *st = stats_get();

			if (st)
				st->icmp_insert_fail++;
			return;
		}
		v = bpf_map_lookup_elem(&icmp_flows, &k);
		if (!v)
			return;
	}
	/* Plain adds on the owner's CPU, atomics elsewhere: exact, see icmp_value. */
	if (v->owner_cpu == bpf_get_smp_processor_id()) {
		v->packets_own += t->segs;
		v->bytes_own += t->bytes;
	} else {
		__sync_fetch_and_add(&v->packets_other, t->segs);
		__sync_fetch_and_add(&v->bytes_other, t->bytes);
	}
	if (t->now > v->last_seen_ns)
		v->last_seen_ns = t->now;
	if (m->icmp_kind == PKT_ICMP_ECHO) {
		v->echo_id = m->echo_id;
		v->echo_seq = m->echo_seq;
	} else if (m->icmp_kind == PKT_ICMP_ERROR) {
		struct tracker_cfg *cfg;
		__u32 zero = 0;
		__u64 interval = 1000000000ULL;

		__builtin_memcpy(&v->inner, &m->inner, sizeof(v->inner));
		cfg = bpf_map_lookup_elem(&tracker_cfg, &zero);
		if (cfg && cfg->icmp_event_interval_ns)
			interval = cfg->icmp_event_interval_ns;
		/* Signed: last_event_ns may come from the precise clock. */
		if ((__s64)(t->now - v->last_event_ns) >= (__s64)interval) {
			v->last_event_ns = t->now;
			emit_event(t, FLOW_EV_ICMP_ERROR);
		}
	}
}

/*
 * The filter. What a packet looks like to the matcher, copied out of the
 * packet_meta so that the bpf_loop callback sees one flat stack object.
 */
struct rule_eval {
	__u64 now; /* coarse clock: rules expire in the kernel */
	__u32 src[4], dst[4];
	__u32 isrc[4], idst[4];
	__u32 best_rank; /* rank of the best matching rule so far */
	__u32 pp_rank; /* best rank of a per-packet rule that passed the rest */
	__u16 sport, dport, isport, idport;
	__u16 best_slot;
	__u16 best_flags; /* RULE_C_* of the best rule */
	__u8 half;
	__u8 family;
	__u8 proto;
	__u8 has_ports; /* the packet's ports are known */
	__u8 has_l4; /* the whole L4 header is known (TCP flags, ICMP type/code) */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 inner_valid; /* an ICMP error whose quoted header was read */
	__u8 inner_proto;
	__u8 best_action;
	__u8 pad;
};

static __always_inline int port_in(__u16 p, __u16 lo, __u16 hi)
{
	return p >= lo && p <= hi;
}

static __always_inline int addr_in(const __u32 *a, const __u32 *net, const __u32 *mask)
{
	return (a[0] & mask[0]) == net[0] && (a[1] & mask[1]) == net[1] &&
	       (a[2] & mask[2]) == net[2] && (a[3] & mask[3]) == net[3];
}

/* Conditions of @c that hold for every packet of the flow (and direction). */
static __always_inline int rule_flow_match(const struct rule_eval *ev, const struct rule_comp *c)
{
	__u16 f = c->flags;

	if (f & (RULE_C_SPORT | RULE_C_DPORT)) {
		if (!ev->has_ports)
			return 0;
		if ((f & RULE_C_SPORT) && !port_in(ev->sport, c->sport_lo, c->sport_hi))
			return 0;
		if ((f & RULE_C_DPORT) && !port_in(ev->dport, c->dport_lo, c->dport_hi))
			return 0;
	}
	if (f & RULE_C_INNER) {
		/* Inner fields exist only in ICMP errors, never in a flow. */
		if (!ev->inner_valid)
			return 0;
		if (c->inner_proto && c->inner_proto != ev->inner_proto)
			return 0;
		if (!addr_in(ev->isrc, c->isrc, c->isrc_mask) ||
		    !addr_in(ev->idst, c->idst, c->idst_mask))
			return 0;
		if ((f & RULE_C_ISPORT) && !port_in(ev->isport, c->isport_lo, c->isport_hi))
			return 0;
		if ((f & RULE_C_IDPORT) && !port_in(ev->idport, c->idport_lo, c->idport_hi))
			return 0;
	}
	return 1;
}

/* Conditions of @c on fields that change from packet to packet. */
static __always_inline int rule_packet_match(const struct rule_eval *ev, const struct rule_comp *c)
{
	__u16 f = c->flags;

	if (!ev->has_l4)
		return 0;
	if ((f & RULE_C_TCP_FLAGS) && (ev->tcp_flags & c->tcp_mask) != c->tcp_flags)
		return 0;
	if ((f & RULE_C_ICMP_TYPE) && ev->icmp_type != c->icmp_type)
		return 0;
	if ((f & RULE_C_ICMP_CODE) && ev->icmp_code != c->icmp_code)
		return 0;
	return 1;
}

/*
 * rule_candidate - check the rule in @slot of the packet's half against
 * the packet; on a match it becomes the best so far. An expired rule is
 * skipped. Returns 1 when the walk of this candidate list is over (a
 * match, or no better rank can follow), 0 to go on.
 */
static __always_inline int rule_candidate(struct rule_eval *ev, __u32 slot)
{
	struct rule_comp *c;
	__u32 idx;

	if (slot >= RULE_SLOTS)
		return 1;
	idx = (ev->half & 1) * RULE_SLOTS + slot;
	c = bpf_map_lookup_elem(&rule_comp, &idx);
	if (!c || c->rank >= ev->best_rank)
		return 1;
	if (c->expires_ns && ev->now >= c->expires_ns)
		return 0;
	if (!rule_flow_match(ev, c))
		return 0;
	if (c->flags & RULE_C_PER_PACKET) {
		if (c->rank < ev->pp_rank)
			ev->pp_rank = c->rank;
		if (!rule_packet_match(ev, c))
			return 0;
	}
	ev->best_rank = c->rank;
	ev->best_slot = slot;
	ev->best_flags = c->flags;
	ev->best_action = c->action;
	return 1;
}

/*
 * rule_candidates - walk the candidate list @mv (rank order) until a rule
 * matches or none can beat the best. Global (not static): the verifier
 * checks it once, not once per shape, candidate and caller state, which
 * keeps the program far below its instruction limit (and a global call
 * inside the callback's loop trips a precision-tracking bug of the 6.18
 * verifier).
 */
__noinline int rule_candidates(struct rule_eval *ev, const struct rule_match_val *mv)
{
	__u32 j, n;

	if (!ev || !mv)
		return 0;
	n = mv->n;
	for (j = 0; j < RULE_CAND_MAX; j++) {
		if (j >= n || rule_candidate(ev, mv->slot[j]))
			break;
	}
	return 0;
}

/*
 * rule_shape_cb - bpf_loop body: one shape of the active half. Builds the
 * packet's key masked by the shape, looks it up, and checks the
 * candidates (rank order) until one matches or none can beat the best.
 * Returns 1 (stop) when no later shape can hold a better rule.
 */
static long rule_shape_cb(__u32 i, void *ctx)
{
	struct rule_eval *ev = ctx;
	struct rule_match_key k;
	struct rule_match_val *mv;
	struct rule_shape_set *ss;
	struct rule_shape *sh;
	__u32 half = ev->half & 1, j;
	__u64 si;

	if (i >= RULE_SHAPES_MAX)
		return 1;
	ss = bpf_map_lookup_elem(&rule_shapes, &half);
	if (!ss)
		return 1;
	/*
	 * clang drops a plain mask after the check above; the verifier loses
	 * the bound on the copy it multiplies. An asm mask stays.
	 */
	si = i;
	asm volatile("%0 &= 31" : "+r"(si));
	sh = &ss->shapes[si];
	/* Shapes are sorted by their best rank. */
	if (sh->best_rank >= ev->best_rank)
		return 1;
	if (sh->family && sh->family != ev->family)
		return 0;
	if ((sh->kflags & RULE_K_PORTS) && !ev->has_ports)
		return 0;
	if (sh->kflags & RULE_K_ICMP_TYPE) {
		if (ev->proto != IPPROTO_ICMP && ev->proto != IPPROTO_ICMPV6)
			return 0;
		/*
		 * The type is in the key, so rules for the flow's other types
		 * are never candidates: the whole shape is per-packet for an
		 * ICMP flow, whether this packet's type could be read or not.
		 */
		if (sh->best_rank < ev->pp_rank)
			ev->pp_rank = sh->best_rank;
		if (!ev->has_l4)
			return 0;
	}
	for (j = 0; j < 4; j++) {
		k.src[j] = ev->src[j] & sh->src_mask[j];
		k.dst[j] = ev->dst[j] & sh->dst_mask[j];
	}
	k.sport = (sh->kflags & RULE_K_SPORT)	  ? ev->sport :
		  (sh->kflags & RULE_K_SPORT_BKT) ? ev->sport >> RULE_PORT_BKT_SHIFT :
		  (sh->kflags & RULE_K_ICMP_TYPE) ? ev->icmp_type :
						    0;
	k.dport = (sh->kflags & RULE_K_DPORT)	  ? ev->dport :
		  (sh->kflags & RULE_K_DPORT_BKT) ? ev->dport >> RULE_PORT_BKT_SHIFT :
						    0;
	k.proto = (sh->kflags & RULE_K_PROTO) ? ev->proto : 0;
	k.shape = si;
	k.half = half;
	k.pad = 0;
	mv = bpf_map_lookup_elem(&rule_match, &k);
	if (mv)
		rule_candidates(ev, mv);
	return 0;
}

static __always_inline int protected_net(const __u32 *a, __u32 half, __u8 family)
{
	struct rule_protect_key pk;

	pk.prefixlen = 16 + 128;
	pk.half = half;
	pk.family = family;
	pk.pad[0] = 0;
	pk.pad[1] = 0;
	__builtin_memcpy(pk.addr, a, 16);
	return bpf_map_lookup_elem(&rule_protect_nets, &pk) != NULL;
}

static __always_inline int protected_port(__u16 port, __u32 half)
{
	__u32 idx = half * RULE_PROTECT_PORT_WORDS + (port >> 6);
	__u64 *w = bpf_map_lookup_elem(&rule_protect_ports, &idx);

	return w && ((*w >> (port & 63)) & 1);
}

/* filter_eval()'s flags */
#define FE_EGRESS	 (1u << 0) /* the tc egress hook */
#define FE_UNPARSED	 (1u << 1) /* not read whole (PARSE_PARTIAL) */
#define FE_FRAG_TINY	 (1u << 2) /* a first fragment too short for its L4 header */
#define FE_FRAG_OVERLAP	 (1u << 3) /* a fragment rewriting its datagram's L4 header */
#define FE_FRAG_UNKNOWN	 (1u << 4) /* a later fragment of a datagram not seen */
#define FE_UNPARSED_DROP (1u << 5) /* filter.unparsed: drop */
#define FE_FRAG_BAD	 (FE_FRAG_TINY | FE_FRAG_OVERLAP | FE_FRAG_UNKNOWN)

/*
 * filter_protected - is the packet traffic no rule may drop? Protected
 * networks as source or destination; a protected port of this host (the
 * destination port of ingress, the source port of egress) unless @named
 * (the rule names one attacker); and an ICMP error about either (the
 * quoted packet went out from, or came in to, a protected service).
 */
static __always_inline int filter_protected(const struct rule_eval *ev,
					    const struct packet_meta *m, __u32 half, __u32 ssflags,
					    __u32 fl, int named)
{
	int egress = !!(fl & FE_EGRESS);

	if (ssflags & RULE_SS_PROTECT_NETS) {
		if (protected_net(m->src, half, ev->family) ||
		    protected_net(m->dst, half, ev->family))
			return 1;
		if (ev->inner_valid && (protected_net(m->inner.src, half, ev->family) ||
					protected_net(m->inner.dst, half, ev->family)))
			return 1;
	}
	if (!(ssflags & RULE_SS_PROTECT_PORTS) || named)
		return 0;
	if (ev->has_ports && protected_port(egress ? ev->sport : ev->dport, half))
		return 1;
	/*
	 * An ICMP error at ingress quotes a packet this host sent (its
	 * source port is ours); one at egress quotes a packet it received.
	 */
	if (ev->inner_valid && proto_has_ports(ev->inner_proto) &&
	    protected_port(egress ? ev->idport : ev->isport, half))
		return 1;
	return 0;
}


/*
 * filter_eval - evaluate the half @gen names for the packet @m at time
 * @now (FE_* @fl say how the packet was read and where). Fills @res;
 * cache_ok is 0 when a rule that ranks at or above the decision depends on
 * per-packet fields (TCP flags, ICMP type/code), and for a packet that
 * was not read whole. With no rule loaded nothing is dropped. Otherwise:
 * the best rule decides (protected traffic passes a drop rule); when none
 * matches, a tiny, overlapping or orphan fragment is dropped if some rule
 * reads L4 fields, and an unparsed packet if filter.unparsed says drop,
 * unless it is protected.
 * Global, so the verifier checks it once instead of once per parse path
 * reaching it. It is given the packet_meta and a result object, not the
 * whole track_ctx: what a global function reads and writes is then all
 * it is given.
 */
__noinline int filter_eval(const struct packet_meta *m, struct filter_res *res, __u32 gen,
			   __u64 now, __u32 fl)
{
	struct rule_shape_set *ss;
	struct rule_eval ev;
	__u32 half = gen & 1, n, i, idx;
	__u8 reason;

	if (!m || !res)
		return 0;
	res->verdict = GUARDER_VERDICT_PASS;
	res->slot = RULE_SLOT_NONE;
	res->rule_id = 0;
	res->reason = GUARDER_DROP_RULE;
	res->cache_ok = !(fl & (FE_UNPARSED | FE_FRAG_BAD));
	ss = bpf_map_lookup_elem(&rule_shapes, &half);
	if (!ss || !ss->n_rules)
		return 0;
	n = ss->n_shapes;
	if (n > RULE_SHAPES_MAX)
		n = RULE_SHAPES_MAX;

	/* Everything not set below is 0 (the inner fields, ICMP type and code). */
	__builtin_memset(&ev, 0, sizeof(ev));
	ev.now = now;
	__builtin_memcpy(ev.src, m->src, sizeof(ev.src));
	__builtin_memcpy(ev.dst, m->dst, sizeof(ev.dst));
	ev.best_rank = RULE_RANK_NONE;
	ev.pp_rank = RULE_RANK_NONE;
	ev.best_slot = RULE_SLOT_NONE;
	ev.best_action = GUARDER_VERDICT_PASS;
	ev.half = half;
	ev.family = m->family;
	ev.proto = m->proto;
	ev.has_l4 = m->l4_ok;
	ev.has_ports = m->ports_ok && proto_has_ports(m->proto);
	ev.sport = ev.has_ports ? m->sport : 0;
	ev.dport = ev.has_ports ? m->dport : 0;
	ev.tcp_flags = m->tcp_flags;
	if (ev.has_l4 && (m->proto == IPPROTO_ICMP || m->proto == IPPROTO_ICMPV6)) {
		ev.icmp_type = m->icmp_type;
		ev.icmp_code = m->icmp_code;
		if (m->icmp_kind == PKT_ICMP_ERROR && m->inner.valid) {
			ev.inner_valid = 1;
			ev.inner_proto = m->inner.proto;
			ev.isport = m->inner.sport;
			ev.idport = m->inner.dport;
			for (i = 0; i < 4; i++) {
				ev.isrc[i] = m->inner.src[i];
				ev.idst[i] = m->inner.dst[i];
			}
		}
	}

	if (n)
		bpf_loop(n, rule_shape_cb, &ev, 0);

	if (ev.pp_rank != RULE_RANK_NONE && ev.pp_rank <= ev.best_rank)
		res->cache_ok = 0;
	if (ev.best_slot < RULE_SLOTS) {
		/* Protected traffic: an implicit allow ahead of every drop rule. */
		if (ev.best_action == GUARDER_VERDICT_DROP &&
		    filter_protected(&ev, m, half, ss->flags, fl,
				     !!(ev.best_flags & RULE_C_NAMED_SRC)))
			return 0;
		res->slot = ev.best_slot;
		res->verdict = ev.best_action == GUARDER_VERDICT_DROP ? GUARDER_VERDICT_DROP :
									GUARDER_VERDICT_PASS;
		idx = half * RULE_SLOTS + ev.best_slot;
		{
			struct rule_comp *c = bpf_map_lookup_elem(&rule_comp, &idx);

			if (c)
				res->rule_id = c->id;
		}
		return 0;
	}
	/* No rule decided: what was not read whole may hide from one. */
	if ((fl & FE_FRAG_BAD) && (ss->flags & RULE_SS_L4))
		reason = (fl & FE_FRAG_TINY)	? GUARDER_DROP_FRAG_TINY :
			 (fl & FE_FRAG_OVERLAP) ? GUARDER_DROP_FRAG_OVERLAP :
						  GUARDER_DROP_FRAG_UNKNOWN;
	else if ((fl & FE_UNPARSED) && (fl & FE_UNPARSED_DROP))
		reason = GUARDER_DROP_UNPARSED;
	else
		return 0;
	if (filter_protected(&ev, m, half, ss->flags, fl, 0))
		return 0;
	res->verdict = GUARDER_VERDICT_DROP;
	res->reason = reason;
	return 0;
}

/*
 * filter_cache_store - remember this direction's verdict in the flow entry
 * (RC_* bits of kernel/filter.h), with one store of the whole vcache word.
 * Both directions share one slot: when they were decided by different
 * rules, this direction stays uncached.
 */
static __always_inline void filter_cache_store(struct track_ctx *t, struct flow_value *v)
{
	__u64 vc = v->vcache, nvc;
	__u8 d = t->dir & 1;
	__u8 rc = FLOW_VC_GEN(vc) == t->gen ? FLOW_VC_RC(vc) : 0;
	__u16 slot = FLOW_VC_SLOT(vc);
	__u8 valid = RC_VALID(d) | (t->hook == GUARDER_HOOK_TC_EGRESS ? RC_TC(d) : 0);
	__u8 verdict;

	rc &= ~(RC_VALID(d) | RC_SLOT(d) | RC_DROP(d) | RC_TC(d));
	if (t->cache_ok) {
		if (t->slot == RULE_SLOT_NONE) {
			rc |= valid;
		} else if (!(rc & RC_SLOT(d ^ 1)) || slot == t->slot) {
			rc |= valid | RC_SLOT(d);
			if (t->verdict == GUARDER_VERDICT_DROP)
				rc |= RC_DROP(d);
			slot = t->slot;
		}
	}
	verdict = (rc & (RC_DROP(0) | RC_DROP(1))) || t->verdict == GUARDER_VERDICT_DROP ?
			  GUARDER_VERDICT_DROP :
			  GUARDER_VERDICT_PASS;
	nvc = FLOW_VC_MAKE(t->gen, slot, rc, verdict);
	if (nvc != vc)
		v->vcache = nvc;
}

/* Count the packet to the rule that decided it (per-CPU, no atomics). */
static __always_inline void rule_hit(struct track_ctx *t)
{
	struct rule_counter *c;
	__u32 slot = t->slot;

	if (slot >= RULE_SLOTS)
		return;
	c = bpf_map_lookup_elem(&rule_counters, &slot);
	if (!c)
		return;
	c->packets += t->segs;
	c->bytes += t->bytes;
	c->last_hit_ns = t->now;
}

static __always_inline int drop_key_eq(const struct drop_key *a, const struct drop_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 d = 0;
	int i;

	for (i = 0; i < (int)(sizeof(*a) / 4); i++)
		d |= x[i] ^ y[i];
	return !d;
}

/*
 * drop_record - add the dropped packet to its (source, rule or reason,
 * hook, interface) aggregate: its slot in this epoch's half of drop_agg,
 * or the next one. Per CPU, no atomics, no allocation. A packet whose two
 * slots hold other keys of the epoch is counted in drop_agg_fail.
 */
static __noinline void drop_record(struct track_ctx *t, struct global_stats *st)
{
	struct tracker_cfg *cfg;
	struct drop_slot *s;
	struct drop_key k;
	__u32 zero = 0, epoch, mask = drop_half_mask, h, idx, probe;

	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.src, t->m.src, sizeof(k.src));
	k.ifindex = t->ifindex;
	k.rule_id = t->reason == GUARDER_DROP_RULE ? t->rule_id : 0;
	k.family = t->m.family;
	k.reason = t->reason;
	k.hook = t->hook;
	cfg = bpf_map_lookup_elem(&tracker_cfg, &zero);
	if (!cfg) {
		st->drop_agg_fail += t->segs;
		return;
	}
	epoch = *(volatile __u32 *)&cfg->drop_epoch;
	h = drop_key_hash(&k);
	for (probe = 0; probe < 2; probe++) {
		idx = (epoch & 1) * (mask + 1) + ((h + probe) & mask);
		s = bpf_map_lookup_elem(&drop_agg, &idx);
		if (!s)
			break;
		if (s->epoch != epoch || !s->packets) {
			s->key = k;
			s->epoch = epoch;
			s->packets = t->segs;
			s->bytes = t->bytes;
			s->first_ns = t->now;
			s->last_ns = t->now;
			return;
		}
		if (drop_key_eq(&s->key, &k)) {
			s->packets += t->segs;
			s->bytes += t->bytes;
			s->last_ns = t->now;
			return;
		}
	}
	st->drop_agg_fail += t->segs;
}

/*
 * filter_drop - account a dropped packet: the global, reason and rule
 * counters and its drop aggregate. Only a flow that already exists (it
 * passed before the rule came) keeps state: its verdict cache and its one
 * FLOW_EV_DROP event. A dropped packet of an unknown tuple creates
 * nothing, so a flood of spoofed tuples cannot evict real flows.
 */
static __noinline int filter_drop(struct track_ctx *t, struct flow_value *v, int cached)
{
	struct global_stats *st = stats_get();

	if (!st)
		return GUARDER_VERDICT_DROP;
	st->dropped += t->segs;
	if (t->reason < GUARDER_DROP_MAX)
		st->drops[t->reason] += t->segs;
	rule_hit(t);
	if (!t->rule_id && t->slot < RULE_SLOTS) {
		__u32 idx = (t->gen & 1) * RULE_SLOTS + t->slot;
		struct rule_comp *c = bpf_map_lookup_elem(&rule_comp, &idx);

		if (c)
			t->rule_id = c->id;
	}
	drop_record(t, st);
	if (!v)
		return GUARDER_VERDICT_DROP;
	if (!cached)
		filter_cache_store(t, v);
	if (t->now > v->last_seen_ns)
		v->last_seen_ns = t->now;
	if (!(v->state & FLOW_STATE_DROP_EVENT)) {
		v->state |= FLOW_STATE_DROP_EVENT;
		emit_event(t, FLOW_EV_DROP);
	}
	return GUARDER_VERDICT_DROP;
}

static __always_inline void frag_key_make(struct frag_key *k, const struct packet_meta *m)
{
	__builtin_memcpy(k->src, m->src, sizeof(k->src));
	__builtin_memcpy(k->dst, m->dst, sizeof(k->dst));
	k->id = m->frag_id;
	k->proto = m->proto;
	k->family = m->family;
	k->pad[0] = 0;
	k->pad[1] = 0;
}

/*
 * frag_later - a later fragment: give it the L4 fields of its datagram's
 * first fragment (frag_cache), or say why it cannot have them. Returns 0
 * when the fields were restored, FE_FRAG_UNKNOWN for an orphan, and
 * FE_FRAG_OVERLAP for a datagram already condemned or for a TCP fragment
 * (IPv4 or IPv6) at offset 1, which rewrites the TCP header's flags
 * (RFC 1858) and condemns its datagram.
 */
static __noinline __u32 frag_later(struct track_ctx *t)
{
	struct frag_key k;
	struct frag_value *fv;

	frag_key_make(&k, &t->m);
	fv = bpf_map_lookup_elem(&frag_cache, &k);
	if (t->m.proto == IPPROTO_TCP && t->m.frag_off == 1) {
		if (fv)
			fv->flags |= FRAG_F_DROP;
		return FE_FRAG_OVERLAP;
	}
	if (!fv)
		return FE_FRAG_UNKNOWN;
	if (fv->flags & FRAG_F_DROP)
		return FE_FRAG_OVERLAP;
	fv->last_ns = t->now;
	t->m.sport = fv->sport;
	t->m.dport = fv->dport;
	t->m.tcp_flags = fv->tcp_flags;
	t->m.icmp_type = fv->icmp_type;
	t->m.icmp_code = fv->icmp_code;
	t->m.ports_ok = proto_has_ports(t->m.proto);
	t->m.l4_ok = 1;
	return 0;
}

/*
 * frag_first - a first fragment. One already seen for the datagram with
 * other L4 fields means the reassembled datagram would say something else
 * than what was filtered: the datagram is condemned, and FE_FRAG_OVERLAP
 * returned. Otherwise, with @store (the fragment passed), its L4 fields
 * are kept for the later fragments, and 0 returned. A dropped first
 * fragment stores nothing: its later fragments are orphans.
 */
static __noinline __u32 frag_first(struct track_ctx *t, int store)
{
	struct frag_key k;
	struct frag_value *fv, nv = {};

	frag_key_make(&k, &t->m);
	fv = bpf_map_lookup_elem(&frag_cache, &k);
	if (fv) {
		if (fv->flags & FRAG_F_DROP)
			return FE_FRAG_OVERLAP;
		if (fv->sport != t->m.sport || fv->dport != t->m.dport ||
		    fv->tcp_flags != t->m.tcp_flags || fv->icmp_type != t->m.icmp_type ||
		    fv->icmp_code != t->m.icmp_code) {
			fv->flags |= FRAG_F_DROP;
			return FE_FRAG_OVERLAP;
		}
		fv->last_ns = t->now;
		return 0;
	}
	if (!store)
		return 0;
	nv.last_ns = t->now;
	nv.sport = t->m.sport;
	nv.dport = t->m.dport;
	nv.tcp_flags = t->m.tcp_flags;
	nv.icmp_type = t->m.icmp_type;
	nv.icmp_code = t->m.icmp_code;
	if (bpf_map_update_elem(&frag_cache, &k, &nv, BPF_NOEXIST)) {
		struct global_stats *st = stats_get();

		if (st)
			st->frag_cache_fail++;
	}
	return 0;
}

static __always_inline __u32 cfg_flags(void)
{
	struct tracker_cfg *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&tracker_cfg, &zero);
	return cfg && (cfg->flags & GUARDER_CFG_UNPARSED_DROP) ? FE_UNPARSED_DROP : 0;
}

/*
 * filter_unparsed - the verdict on a packet that could not be read whole:
 * PARSE_PARTIAL (its addresses are known: the rules see what was read) or
 * a malformed one with no readable IP header (only the policy applies).
 * Never tracked. Returns an enum guarder_verdict.
 */
static __always_inline int filter_unparsed(struct track_ctx *t, int partial,
					   struct global_stats *st)
{
	struct rule_shape_set *ss;
	__u32 fl, half = t->gen & 1;

	if (!t->gen)
		return GUARDER_VERDICT_PASS;
	fl = cfg_flags() | FE_UNPARSED | (t->hook == GUARDER_HOOK_TC_EGRESS ? FE_EGRESS : 0);
	if (!partial) {
		ss = bpf_map_lookup_elem(&rule_shapes, &half);
		if (!ss || !ss->n_rules || !(fl & FE_UNPARSED_DROP))
			return GUARDER_VERDICT_PASS;
		/* No address to aggregate by: the counters only. */
		st->dropped += t->segs;
		st->drops[GUARDER_DROP_UNPARSED] += t->segs;
		return GUARDER_VERDICT_DROP;
	}
	if (t->m.frag == PKT_FRAG_FIRST)
		fl |= FE_FRAG_TINY;
	filter_eval(&t->m, &t->fr, t->gen, t->now, fl);
	if (t->fr.verdict != GUARDER_VERDICT_DROP) {
		t->slot = t->fr.slot;
		rule_hit(t);
		return GUARDER_VERDICT_PASS;
	}
	t->slot = t->fr.slot;
	t->rule_id = t->fr.rule_id;
	t->reason = t->fr.reason;
	return filter_drop(t, NULL, 0);
}

/*
 * quote_xdp, quote_tc - parse_quote() for each hook, global so that the
 * verifier checks the quote's walk (IPv6 extension headers included)
 * once, not once per path through the outer headers.
 */
__noinline int quote_xdp(struct xdp_md *ctx, struct packet_meta *m)
{
	if (!m)
		return 0;
	return parse_quote((void *)(long)ctx->data, (void *)(long)ctx->data_end, m);
}

__noinline int quote_tc(struct __sk_buff *skb, struct packet_meta *m)
{
	if (!m)
		return 0;
	return parse_quote((void *)(long)skb->data, (void *)(long)skb->data_end, m);
}

/*
 * filter_verdict - set t->verdict (and slot, rule_id, reason, cache_ok)
 * for the packet of flow @v (NULL: none), with @fl its FE_* fragment
 * flags and @expiry the half's earliest rule expiry. An established
 * flow's cached verdict costs two compares; after a rule of the set has
 * expired, every packet is evaluated again until a new set is applied.
 * Returns 1 when the verdict came from the flow's cache.
 */
static __always_inline int filter_verdict(struct track_ctx *t, struct flow_value *v, __u64 expiry,
					  __u32 fl)
{
	int cached = 0;
	__u64 vc;

	t->verdict = GUARDER_VERDICT_PASS;
	t->cache_ok = 1;
	if (!t->gen)
		return 0;
	vc = v ? v->vcache : 0;
	/* Valid for this direction, decided at this hook. */
	if (v && !fl && FLOW_VC_GEN(vc) == t->gen &&
	    (FLOW_VC_RC(vc) & (RC_VALID(t->dir & 1) | RC_TC(t->dir & 1))) ==
		    (RC_VALID(t->dir & 1) |
		     (t->hook == GUARDER_HOOK_TC_EGRESS ? RC_TC(t->dir & 1) : 0)) &&
	    !(expiry && t->now >= expiry)) {
		cached = 1;
		if (FLOW_VC_RC(vc) & RC_SLOT(t->dir & 1)) {
			t->slot = FLOW_VC_SLOT(vc);
			if (FLOW_VC_RC(vc) & RC_DROP(t->dir & 1))
				t->verdict = GUARDER_VERDICT_DROP;
		}
	} else {
		fl |= t->hook == GUARDER_HOOK_TC_EGRESS ? FE_EGRESS : 0;
		filter_eval(&t->m, &t->fr, t->gen, t->now, fl);
		t->verdict = t->fr.verdict;
		t->slot = t->fr.slot;
		t->rule_id = t->fr.rule_id;
		t->reason = t->fr.reason;
		t->cache_ok = t->fr.cache_ok;
	}
	/* A fragment never stores a verdict for its flow. */
	if (t->m.frag)
		t->cache_ok = 0;
	return cached;
}

/*
 * track_packet - parse, count, filter and track one packet; the body
 * shared by both hooks. @frame_len is the real frame length, @segs the
 * number of packets it stands for (GSO). Returns an enum guarder_verdict.
 */
static __always_inline int track_packet(void *ctx, void *data, void *data_end, __u32 frame_len,
					__u32 segs, __u32 ifindex, __u8 hook)
{
	struct track_ctx *t;
	struct global_stats *st;
	struct flow_value *v = NULL;
	struct rule_ctl *ctl;
	__u64 expiry = 0;
	__u32 zero = 0, fl = 0;
	int rc, cached = 0;

	/*
	 * No memset of *t: parse_packet() and the lines below write every
	 * field before it is read (zeroing ~200 bytes per packet costs ~5%).
	 */
	t = bpf_map_lookup_elem(&scratch, &zero);
	if (!t)
		return GUARDER_VERDICT_PASS;
	st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return GUARDER_VERDICT_PASS;

	t->segs = segs;
	t->ifindex = ifindex;
	t->hook = hook;
	t->slot = RULE_SLOT_NONE;
	t->rule_id = 0;
	t->reason = GUARDER_DROP_RULE;
	/*
	 * bpf_ktime_get_ns() costs ~25 ns per call on a VM (a TSC read), more
	 * than half of the floor tracker. The established path only moves
	 * last_seen, which the coarse clock (CLOCK_MONOTONIC at tick
	 * granularity, same base) serves well; new entries and events read
	 * the precise clock themselves.
	 */
	t->now = bpf_ktime_get_coarse_ns();
	/*
	 * The generation is read once: this packet uses one half of the rule
	 * maps from here to the end.
	 */
	ctl = bpf_map_lookup_elem(&rule_ctl, &zero);
	t->gen = 0;
	if (ctl) {
		t->gen = *(volatile __u32 *)&ctl->gen;
		expiry = ctl->expiry_ns[t->gen & 1];
	}

	rc = parse_packet(data, data_end, frame_len, segs > 1, &t->m);
	if (rc == PARSE_IP && t->m.icmp_kind == PKT_ICMP_ERROR) {
		int qrc = hook == GUARDER_HOOK_XDP ? quote_xdp(ctx, &t->m) : quote_tc(ctx, &t->m);

		if (qrc < 0) {
			t->m.unparsed = PARSE_REASON(qrc);
			rc = PARSE_PARTIAL;
		}
	}
	if (rc < 0 || rc == PARSE_PARTIAL) {
		__u32 reason = rc < 0 ? PARSE_REASON(rc) : t->m.unparsed;

		if (reason < GUARDER_M_MAX)
			st->malformed[reason]++;
		t->bytes = frame_len;
		return filter_unparsed(t, rc == PARSE_PARTIAL, st);
	}
	if (rc == PARSE_NON_IP) {
		st->packets[GUARDER_P_NON_IP] += segs;
		st->bytes[GUARDER_P_NON_IP] += frame_len;
		return GUARDER_VERDICT_PASS;
	}

	/* Every GSO segment repeats the IP and L4 headers. */
	t->bytes = t->m.ip_len + (__u64)(segs - 1) * t->m.hdr_len;
	/* Each packet is counted once, in exactly one protocol class. */
	if (t->m.pclass < GUARDER_P_MAX) {
		st->packets[t->m.pclass] += segs;
		st->bytes[t->m.pclass] += t->bytes;
	}
	if (t->m.frag == PKT_FRAG_LATER)
		fl = frag_later(t);
	else if (t->m.frag == PKT_FRAG_FIRST)
		fl = frag_first(t, 0);
	if (t->m.frag)
		st->fragments += segs;
	t->dir = flow_key_make(&t->key, t->m.src, t->m.sport, t->m.dst, t->m.dport, t->m.proto,
			      t->m.family);

	/*
	 * An ICMP error belongs to the flow it quotes, not to a flow of its
	 * own: it lives in the ICMP view (and its event), not in flows.
	 */
	if (t->m.icmp_kind != PKT_ICMP_ERROR)
		v = bpf_map_lookup_elem(&flows, &t->key);

	/*
	 * FILTER VERDICT POINT: before anything but the protocol-class
	 * counters sees the packet, so a dropped packet is never accounted
	 * as tracked traffic.
	 */
	cached = filter_verdict(t, v, expiry, fl);
	/* A first fragment that passes speaks for its datagram's later ones. */
	if (t->m.frag == PKT_FRAG_FIRST && t->verdict == GUARDER_VERDICT_PASS)
		frag_first(t, 1);
	if (t->verdict == GUARDER_VERDICT_DROP)
		return filter_drop(t, v, cached);

	if (v)
		flow_update(t, v, st);
	else if (t->m.icmp_kind != PKT_ICMP_ERROR)
		v = flow_create(t);
	if (v && !cached && t->gen)
		filter_cache_store(t, v);
	if (t->slot != RULE_SLOT_NONE)
		rule_hit(t);

	if (t->m.proto == IPPROTO_ICMP || t->m.proto == IPPROTO_ICMPV6) {
		if (t->m.frag != PKT_FRAG_LATER) {
			icmp_count(t);
			icmp_view_update(t);
		}
	}
	return GUARDER_VERDICT_PASS;
}

SEC("xdp")
int xdp_conn_tracker(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (track_packet(ctx, data, data_end, data_end - data, 1, ctx->ingress_ifindex,
			 GUARDER_HOOK_XDP) == GUARDER_VERDICT_DROP)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("tc")
int tc_egress_tracker(struct __sk_buff *skb)
{
	__u32 segs = skb->gso_segs ? skb->gso_segs : 1;
	__u32 in = skb->ingress_ifindex;
	void *data, *data_end;

	/*
	 * A forwarded packet that came in through an interface we watch at
	 * XDP was counted and filtered there: one packet, one count.
	 */
	if (in && bpf_map_lookup_elem(&xdp_ifaces, &in)) {
		struct global_stats *st;
		__u32 zero = 0;

		st = bpf_map_lookup_elem(&stats, &zero);
		if (st)
			st->forwarded += segs;
		return TC_ACT_OK;
	}

	/* Headers of an egress skb may sit in paged data: make them linear. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data_end - data < TC_PULL_LEN && skb->len > data_end - data)
		bpf_skb_pull_data(skb, skb->len < TC_PULL_LEN ? skb->len : TC_PULL_LEN);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	if (track_packet(skb, data, data_end, skb->len, segs, skb->ifindex,
			 GUARDER_HOOK_TC_EGRESS) == GUARDER_VERDICT_DROP)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
