/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one header shared by the BPF program and user space: map keys and
 * values, ring-buffer events and global counters. Fixed-width __u* types
 * only, no pointers, no implicit padding: every byte of a key is written.
 *
 * Addresses are 16 bytes in network byte order. IPv4 is stored as an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d), so one key type covers both
 * families. Ports are in host byte order.
 */
#ifndef GUARDER_CONN_TRACKER_H
#define GUARDER_CONN_TRACKER_H

#include <linux/types.h>

/* Names of the maps, as pinned under the configured bpffs directory. */
#define GUARDER_MAP_FLOWS	"flows"
#define GUARDER_MAP_ICMP	"icmp_flows"
#define GUARDER_MAP_STATS	"stats"
#define GUARDER_MAP_ICMP_COUNTS "icmp_counts"
#define GUARDER_MAP_EVENTS	"events"
#define GUARDER_MAP_FRAGS	"frag_cache"
#define GUARDER_MAP_DROPS	"drop_agg"
#define GUARDER_MAP_XDP_IFACES	"xdp_ifaces"
#define GUARDER_MAP_CFG		"tracker_cfg"

/* Default sizes; the collector overrides them from the config before load. */
#define GUARDER_FLOWS_DEFAULT	    (1u << 20)
#define GUARDER_ICMP_FLOWS_DEFAULT  (1u << 16)
#define GUARDER_RINGBUF_DEFAULT	    (8u << 20)
#define GUARDER_FRAGS_DEFAULT	    (1u << 14)
#define GUARDER_DROPS_DEFAULT	    (1u << 13) /* drop_agg slots per half */
/* Interfaces one collector attaches to (and xdp_ifaces holds). */
#define GUARDER_XDP_IFACES_MAX	    64
/* Upper bound of the IPv6 extension header walk. */
#define GUARDER_IPV6_EXT_MAX	    8

/*
 * Canonical (direction-independent) flow key. The endpoint that sorts
 * first is "lo": addresses compare as big-endian 128-bit numbers, then
 * ports numerically. Both directions of a conversation map to one key;
 * the direction of a packet is 0 when it goes lo -> hi and 1 otherwise.
 *
 * ICMP/ICMPv6 echo: both ports hold the echo identifier, so request and
 * reply share a flow. Other ICMP messages that are not errors: ports 0.
 * A non-first fragment has the ports of its datagram when the first
 * fragment was seen (frag_cache), else ports 0.
 *
 * The family is part of the key: an IPv6 packet between IPv4-mapped
 * addresses (::ffff:a.b.c.d) is never the IPv4 flow of a.b.c.d, so it
 * cannot share (and poison) that flow's verdict cache.
 */
struct flow_key {
	__u32 addr_lo[4];
	__u32 addr_hi[4];
	__u16 port_lo;
	__u16 port_hi;
	__u8 proto;
	__u8 family; /* 4 or 6 */
	__u8 pad[2];
};

/* flow_dir.dflags */
#define FLOW_DIR_SEQ_VALID (1u << 0) /* seq_next holds a sequence number */
#define FLOW_DIR_FIN	   (1u << 1) /* a FIN was seen in this direction */

/*
 * Per-direction part of a flow. Counters of TCP anomalies saturate at
 * 0xffff per flow; the global counters in struct global_stats are exact.
 */
struct flow_dir {
	__u64 packets;
	__u64 bytes;	   /* IP packet length (header + payload) */
	__u32 seq_next;	   /* highest seq + payload length seen (TCP) */
	__u32 ack;	   /* last acknowledgement number (TCP) */
	__u16 window;	   /* last raw window field (TCP) */
	__u8 tcp_flags;	   /* OR of the flags seen in this direction */
	__u8 dflags;	   /* FLOW_DIR_* */
	__u16 retransmits; /* segments at or below seq_next carrying data */
	__u16 dup_acks;	   /* pure ACKs repeating the last ack and window */
};

/* flow_value.state: bits, set once */
#define FLOW_STATE_RST	       (1u << 0)
#define FLOW_STATE_SYN_EVENT   (1u << 1) /* SYN-ACK event emitted */
#define FLOW_STATE_FIN_EVENT0  (1u << 2) /* FIN event emitted, direction 0 */
#define FLOW_STATE_FIN_EVENT1  (1u << 3) /* FIN event emitted, direction 1 */
#define FLOW_STATE_DROP_EVENT  (1u << 4) /* first-drop event emitted */

/* Verdicts, shared by the flow entry and events. */
enum guarder_verdict {
	GUARDER_VERDICT_PASS = 0,
	GUARDER_VERDICT_DROP = 1,
};

/*
 * flow_value.vcache: the filter's verdict cache and the flow's verdict in
 * one 64-bit word, so that a packet reading it never sees the slot of one
 * rule-set generation with the cache bits of another (it is written with
 * one store):
 *   bits  0..31  rule-set generation the cache belongs to
 *   bits 32..47  slot of the deciding rule (RULE_SLOT_NONE: none)
 *   bits 48..55  RC_* bits (kernel/filter.h)
 *   bits 56..63  enum guarder_verdict of the flow's last packet
 */
#define FLOW_VC_GEN(vc)	    ((__u32)(vc))
#define FLOW_VC_SLOT(vc)    ((__u16)((vc) >> 32))
#define FLOW_VC_RC(vc)	    ((__u8)((vc) >> 48))
#define FLOW_VC_VERDICT(vc) ((__u8)((vc) >> 56))
#define FLOW_VC_MAKE(gen, slot, rc, verdict)                                  \
	((__u64)(__u32)(gen) | (__u64)(__u16)(slot) << 32 | (__u64)(__u8)(rc) << 48 | \
	 (__u64)(__u8)(verdict) << 56)

/*
 * Value of the flow table (LRU hash keyed by struct flow_key). 96 bytes:
 * with the 40-byte key and the kernel's per-element overhead this keeps a
 * 1M-entry table under 200 bytes per flow.
 */
struct flow_value {
	struct flow_dir dir[2];
	__u64 first_seen_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 last_seen_ns;
	__u64 vcache;	     /* FLOW_VC_*: verdict cache and verdict */
	__u16 out_of_order;  /* segments starting beyond seq_next (a gap) */
	__u16 zero_windows;  /* segments advertising a zero window */
	__u16 ip_id;	     /* IPv4 identification of the last packet */
	__u8 initiator;	     /* direction of the first packet seen */
	__u8 state;	     /* FLOW_STATE_* */
};

/* The verdict of the flow's last packet (enum guarder_verdict). */
static __inline __u8 flow_value_verdict(const struct flow_value *v)
{
	return FLOW_VC_VERDICT(v->vcache);
}

/*
 * ICMP view: one entry per (src, dst, type, code), src and dst as sent
 * (not canonical). For error messages the quoted packet's fields are kept.
 */
struct icmp_key {
	__u32 src[4];
	__u32 dst[4];
	__u8 type;
	__u8 code;
	__u8 family; /* 4 or 6: ICMP or ICMPv6 */
	__u8 pad;
};

struct icmp_inner {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport; /* host order; 0 when the quote is too short */
	__u16 dport;
	__u8 proto;
	__u8 valid; /* 1 when addresses and proto were read */
	__u8 pad[2];
};

/*
 * The packets and bytes of an entry are split in two so that the common
 * case needs no atomic instruction: the CPU that created the entry
 * (owner_cpu) adds to packets_own/bytes_own with plain adds (only it ever
 * writes them, and BPF programs do not nest on a CPU), every other CPU
 * adds to packets_other/bytes_other atomically. The entry's counts are
 * the sums: read them with icmp_value_packets() / icmp_value_bytes().
 */
struct icmp_value {
	__u64 packets_own;
	__u64 bytes_own;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u64 last_event_ns; /* rate limit for ICMP error events */
	struct icmp_inner inner;
	__u16 echo_id;
	__u16 echo_seq;
	__u32 owner_cpu;
	__u64 packets_other;
	__u64 bytes_other;
};

/*
 * icmp_counts: packets per (family, ICMP type, code), a per-CPU array
 * indexed by icmp_count_index(). Codes 0..14 have a slot each; the last
 * slot counts codes 15 and above together (no ICMP/ICMPv6 error type
 * defines more than 16 codes; codes beyond 15 are rare and share it).
 * 2 families * 256 types * 16 codes = 8192 slots of 8 bytes per CPU.
 */
#define GUARDER_ICMP_CODE_SLOTS	  16
#define GUARDER_ICMP_CODE_CLAMP	  (GUARDER_ICMP_CODE_SLOTS - 1)
#define GUARDER_ICMP_COUNTS_SLOTS (2 * 256 * GUARDER_ICMP_CODE_SLOTS)

/*
 * icmp_count_index - slot of (@family, @type, @code) in icmp_counts.
 * @family is 4 (ICMP) or 6 (ICMPv6); @code is clamped to
 * GUARDER_ICMP_CODE_CLAMP. Always below GUARDER_ICMP_COUNTS_SLOTS.
 * Decoding: family = idx / (256 * 16) ? 6 : 4, type = idx / 16 % 256,
 * code = idx % 16.
 */
static __inline __u32 icmp_count_index(__u8 family, __u8 type, __u8 code)
{
	__u32 c = code < GUARDER_ICMP_CODE_CLAMP ? code : GUARDER_ICMP_CODE_CLAMP;

	return (((__u32)(family == 6) << 8) | type) * GUARDER_ICMP_CODE_SLOTS + c;
}

/* Protocol classes of the global counters. */
enum guarder_proto_class {
	GUARDER_P_TCP = 0,
	GUARDER_P_UDP,
	GUARDER_P_ICMP,
	GUARDER_P_ICMPV6,
	GUARDER_P_OTHER_IPV4,
	GUARDER_P_OTHER_IPV6,
	GUARDER_P_NON_IP,
	GUARDER_P_MAX,
};

/*
 * Reasons a packet is counted as malformed (unparsed). It is never tracked.
 * When its addresses were read (every reason from GUARDER_M_IPV6_EXT_TRUNC
 * on, and GUARDER_M_L4_TRUNC/TCP_DOFF/ICMP_INNER_TRUNC), the filter
 * evaluates it on what was read; then, and for the others, the
 * filter.unparsed policy (tracker_cfg) passes or drops it.
 */
enum guarder_malformed {
	GUARDER_M_ETH_TRUNC = 0,   /* shorter than an Ethernet header */
	GUARDER_M_VLAN_TRUNC,	   /* VLAN tag cut off */
	GUARDER_M_VLAN_DEPTH,	   /* more than two VLAN tags */
	GUARDER_M_IPV4_TRUNC,	   /* IPv4 header cut off */
	GUARDER_M_IPV4_IHL,	   /* IHL < 5 or header beyond the frame */
	GUARDER_M_IPV4_TOTLEN,	   /* total length < IHL*4 or beyond the frame */
	GUARDER_M_IPV6_TRUNC,	   /* IPv6 header cut off */
	GUARDER_M_IPV6_PAYLEN,	   /* payload length beyond the frame */
	GUARDER_M_IPV6_EXT_TRUNC,  /* extension header cut off */
	GUARDER_M_IPV6_EXT_DEPTH,  /* more than GUARDER_IPV6_EXT_MAX headers */
	GUARDER_M_L4_TRUNC,	   /* TCP/UDP/ICMP header cut off */
	GUARDER_M_TCP_DOFF,	   /* TCP data offset < 5 or beyond the packet */
	GUARDER_M_ICMP_INNER_TRUNC, /* error quote unreadable: short, wrong IP
				     * version, cut-off extension headers */
	GUARDER_M_MAX,
};

/* Why the filter dropped a packet: drop_agg keys and the stream's drop records. */
enum guarder_drop_reason {
	GUARDER_DROP_RULE = 0,	   /* a drop rule (drop_key.rule_id) */
	GUARDER_DROP_UNPARSED,	   /* filter.unparsed: drop */
	GUARDER_DROP_FRAG_TINY,	   /* a first fragment too short for its L4 header */
	GUARDER_DROP_FRAG_OVERLAP, /* a fragment that rewrites its datagram's L4 header */
	GUARDER_DROP_FRAG_UNKNOWN, /* a later fragment whose first fragment was not seen */
	GUARDER_DROP_MAX,
};

/* Per-CPU global counters: one element of a PERCPU_ARRAY. */
struct global_stats {
	__u64 packets[GUARDER_P_MAX];
	__u64 bytes[GUARDER_P_MAX];
	__u64 malformed[GUARDER_M_MAX];
	__u64 fragments;	/* IPv4/IPv6 fragments (all) */
	__u64 flows_created;	/* flow table inserts */
	__u64 flow_insert_fail; /* flow table inserts that failed */
	__u64 icmp_insert_fail;
	__u64 icmp_count_fail;	/* always 0: icmp_counts is an array that cannot
				 * fill up; kept for the layout and its readers */
	__u64 events;		/* ring buffer events submitted */
	__u64 ringbuf_fail;	/* ring buffer reserves that failed */
	__u64 tcp_retransmits;
	__u64 tcp_out_of_order;
	__u64 tcp_dup_acks;
	__u64 tcp_zero_windows;
	__u64 dropped;		/* packets dropped by the filter (every reason) */
	__u64 drops[GUARDER_DROP_MAX]; /* dropped, by enum guarder_drop_reason */
	__u64 frag_cache_fail;	/* first fragments frag_cache could not keep */
	__u64 drop_agg_fail;	/* drops drop_agg could not record (counted above) */
	__u64 forwarded;	/* tc egress packets already seen by XDP on this host */
};

/* Which hook saw a packet. */
enum guarder_hook {
	GUARDER_HOOK_XDP = 0, /* ingress */
	GUARDER_HOOK_TC_EGRESS = 1,
};

enum flow_event_type {
	FLOW_EV_START = 1,	 /* a flow entry was created */
	FLOW_EV_TCP_SYN,	 /* SYN-ACK of an existing flow (first one) */
	FLOW_EV_TCP_FIN,	 /* first FIN of a direction */
	FLOW_EV_TCP_RST,	 /* first RST */
	FLOW_EV_ICMP_ERROR,	 /* ICMP(v6) error, rate-limited per view entry */
	FLOW_EV_DROP,		 /* first drop of a flow (filter) */
	FLOW_EV_MAX,
};

/* Ring-buffer record. Fixed 112 bytes. */
struct flow_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	struct flow_key key;
	__u32 ifindex;
	__u32 rule_id;	/* FLOW_EV_DROP: id of the matching rule */
	__u32 pkt_len;	/* IP length of the packet that caused the event */
	__u8 type;	/* enum flow_event_type */
	__u8 dir;	/* direction of that packet: 0 lo->hi, 1 hi->lo */
	__u8 hook;	/* enum guarder_hook */
	__u8 tcp_flags;
	__u8 icmp_type; /* FLOW_EV_ICMP_ERROR */
	__u8 icmp_code;
	__u8 verdict;
	__u8 pad;
	struct icmp_inner inner; /* FLOW_EV_ICMP_ERROR */
	__u32 pad2;
};

/*
 * frag_cache: the first fragment of each fragmented datagram, keyed as the
 * datagram is (RFC 791/8200: source, destination, protocol, identification),
 * so that its later fragments, which carry no L4 header, get its ports, its
 * L4 fields and its verdict. An LRU hash: a datagram's fragments arrive
 * within a reassembly timeout, and a flood of first fragments only evicts
 * other first fragments.
 */
struct frag_key {
	__u32 src[4];
	__u32 dst[4];
	__u32 id; /* IPv4 identification, or the IPv6 fragment header's */
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

/* frag_value.flags */
#define FRAG_F_DROP (1u << 0) /* condemned: every later fragment is dropped (overlap) */

/*
 * What the first fragment said, for its datagram's later fragments: they
 * are filtered (and accounted) as if they carried these L4 fields. Only
 * first fragments that passed are kept: a dropped one leaves no state, and
 * its later fragments, orphans, are dropped (GUARDER_DROP_FRAG_UNKNOWN).
 */
struct frag_value {
	__u64 last_ns;
	__u16 sport; /* host order */
	__u16 dport;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 flags; /* FRAG_F_* */
	__u8 pad[8];
};

/*
 * drop_agg: what the filter dropped, per (source, rule or reason, hook,
 * interface), so that a drop never creates flow state and the stream
 * reports drops as per-rule, per-source aggregates. A per-CPU array of
 * two halves of drop_half_mask + 1 slots, direct-mapped by a hash of the
 * key with one more probe: a drop costs a hash and a compare, never an
 * allocation, however many sources a flood spoofs. The kernel writes the
 * half of tracker_cfg.drop_epoch; a slot whose epoch is another one is
 * free. The collector reads the other half: it moves the epoch on, waits
 * for an RCU grace period (no program still writes the old half), reads
 * it whole (collector/drop_view.c). What finds both slots taken by other
 * keys of the epoch is counted in global_stats.drop_agg_fail (the
 * global, reason and rule counters have it all).
 */
struct drop_key {
	__u32 src[4];
	__u32 ifindex;
	__u32 rule_id; /* GUARDER_DROP_RULE: the rule's id, else 0 */
	__u8 family;
	__u8 reason; /* enum guarder_drop_reason */
	__u8 hook;   /* enum guarder_hook */
	__u8 pad;
};

/*
 * drop_key_hash - the slot of @k (FNV-1a over its words, then murmur3's
 * finalizer: FNV alone carries a word's high bits only upwards, and IPv4
 * sources differ in the last bytes). The same on every CPU; the collector
 * uses it for its merge table too.
 */
static __inline __u32 drop_key_hash(const struct drop_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 2166136261u;
	int i;

	for (i = 0; i < (int)(sizeof(*k) / 4); i++)
		h = (h ^ w[i]) * 16777619u;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

struct drop_slot {
	struct drop_key key;
	__u32 epoch; /* the tracker_cfg.drop_epoch it counts for */
	__u64 packets;
	__u64 bytes;
	__u64 first_ns; /* coarse CLOCK_MONOTONIC */
	__u64 last_ns;
};

/*
 * tracker_cfg: the runtime knobs of the program, one element, written by
 * the collector at every start, so that an adopted (still attached)
 * program takes a new configuration without being replaced.
 */
#define GUARDER_CFG_UNPARSED_DROP (1u << 0) /* filter.unparsed: drop */

/*
 * The layout version of every map of this program (this header and
 * kernel/filter.h), kept in the pinned tracker_cfg: a collector that finds
 * another ABI in the pins gives its program fresh maps (collector/loader.c).
 * Raise it with any change of a map's key, value or meaning.
 */
#define GUARDER_ABI 2

struct tracker_cfg {
	__u64 icmp_event_interval_ns; /* between two ICMP error events of a view entry */
	__u32 flags;		      /* GUARDER_CFG_* */
	__u32 abi;		      /* GUARDER_ABI of the program that made the maps */
	__u32 drop_epoch;	      /* drop_agg: the half drops go to is drop_epoch & 1 */
	__u32 pad;
};

/* xdp_ifaces values: what the collector attached to the interface. */
#define GUARDER_REG_XDP	   (1u << 0)
#define GUARDER_REG_TC	   (1u << 1)
#define GUARDER_REG_CLSACT (1u << 2) /* the clsact qdisc is ours to remove */

_Static_assert(sizeof(struct flow_key) == 40, "flow_key layout");
_Static_assert(sizeof(struct frag_key) == 40, "frag_key layout");
_Static_assert(sizeof(struct frag_value) == 24, "frag_value layout");
_Static_assert(sizeof(struct drop_key) == 28, "drop_key layout");
_Static_assert(sizeof(struct drop_slot) == 64, "drop_slot layout");
_Static_assert(sizeof(struct tracker_cfg) == 24, "tracker_cfg layout");
_Static_assert(sizeof(struct flow_dir) == 32, "flow_dir layout");
_Static_assert(sizeof(struct flow_value) == 96, "flow_value layout");
_Static_assert(sizeof(struct icmp_value) == 104, "icmp_value layout");
_Static_assert(sizeof(struct flow_event) == 112, "flow_event layout");

/* Packets and bytes of an ICMP view entry (see struct icmp_value). */
static __inline __u64 icmp_value_packets(const struct icmp_value *v)
{
	return v->packets_own + v->packets_other;
}

static __inline __u64 icmp_value_bytes(const struct icmp_value *v)
{
	return v->bytes_own + v->bytes_other;
}

/*
 * flow_endpoint_cmp - order two endpoints the way the flow key does.
 * Returns <0, 0, >0. Addresses are in network byte order; the comparison
 * is on their big-endian value, so the order is the same on every host.
 */
static __inline int flow_endpoint_cmp(const __u32 *a, __u16 aport, const __u32 *b, __u16 bport)
{
	int i;

	for (i = 0; i < 4; i++) {
		__u32 x = __builtin_bswap32(a[i]), y = __builtin_bswap32(b[i]);

		if (x != y)
			return x < y ? -1 : 1;
	}
	if (aport != bport)
		return aport < bport ? -1 : 1;
	return 0;
}

/*
 * flow_key_make - fill @key canonically from one packet's endpoints and
 * its address @family (4 or 6). Writes every byte of @key (padding
 * included). Returns the packet's
 * direction: 0 when src is the "lo" endpoint, 1 otherwise.
 */
static __inline int flow_key_make(struct flow_key *key, const __u32 *src, __u16 sport,
				  const __u32 *dst, __u16 dport, __u8 proto, __u8 family)
{
	int dir = flow_endpoint_cmp(src, sport, dst, dport) > 0;
	const __u32 *lo = dir ? dst : src, *hi = dir ? src : dst;
	int i;

	for (i = 0; i < 4; i++) {
		key->addr_lo[i] = lo[i];
		key->addr_hi[i] = hi[i];
	}
	key->port_lo = dir ? dport : sport;
	key->port_hi = dir ? sport : dport;
	key->proto = proto;
	key->family = family;
	key->pad[0] = 0;
	key->pad[1] = 0;
	return dir;
}

#endif /* GUARDER_CONN_TRACKER_H */
