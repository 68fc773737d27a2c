/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The compiled rule set: the layouts shared by the kernel program's
 * matcher (conn_tracker.bpf.c) and the compiler (lib/rule_set.c).
 * docs/kernel.md ("The filter") explains the design.
 *
 * Tuple-space search. Every active rule has a *shape*: its source and
 * destination prefix lengths, its address family, and which of protocol,
 * single source port and single destination port it pins. A rule is one
 * entry of the hash rule_match, keyed by the packet fields masked by its
 * shape; rules whose keys coincide share the entry (up to RULE_CAND_MAX,
 * in evaluation order). A packet costs one hash lookup per shape, however
 * many rules there are, and shapes are visited by their best rank so the
 * walk stops as soon as no better rule can follow.
 *
 * Double buffering: every map but the counters has two halves. The
 * generation word rule_ctl.gen is read once per packet; its low bit names
 * the half that packet uses from start to end. The compiler writes the
 * other half, then increments gen.
 */
#ifndef GUARDER_FILTER_H
#define GUARDER_FILTER_H

#include <linux/types.h>

#define GUARDER_MAP_RULE_CTL	       "rule_ctl"
#define GUARDER_MAP_RULE_SHAPES	       "rule_shapes"
#define GUARDER_MAP_RULE_MATCH	       "rule_match"
#define GUARDER_MAP_RULE_COMP	       "rule_comp"
#define GUARDER_MAP_RULE_COUNTERS      "rule_counters"
#define GUARDER_MAP_RULE_PROTECT_NETS  "rule_protect_nets"
#define GUARDER_MAP_RULE_PROTECT_PORTS "rule_protect_ports"

/*
 * Compiled slots per half. A rule id keeps its slot from one set to the
 * next (so its counters live on); a set may hold 10,000 rules and a
 * replacement of all of them by new ids still finds free slots.
 */
#define RULE_SLOTS	      20480
#define RULE_SLOT_NONE	      0xffff
#define RULE_SHAPES_MAX	      32
#define RULE_CAND_MAX	      15
#define RULE_MATCH_ENTRIES    (2 * RULE_SLOTS)
#define RULE_PROTECT_NETS_MAX 256
#define RULE_RANK_NONE	      0xffffffffu

/*
 * The generation word; gen & 1 is the active half. 0: no set ever.
 * expiry_ns[h]: the earliest expiry (coarse CLOCK_MONOTONIC) of a rule of
 * half h, 0 if none expires. From then on a cached verdict may name an
 * expired rule, so the program re-evaluates every packet (skipping
 * expired rules) until a new set without that rule is applied: expiry
 * holds in the kernel even while guarder-api is down.
 */
struct rule_ctl {
	__u32 gen;
	__u32 pad;
	__u64 expiry_ns[2];
};

/* rule_shape.kflags: what the match key holds besides the addresses. */
#define RULE_K_PROTO	 (1u << 0)
#define RULE_K_SPORT	 (1u << 1) /* the port itself */
#define RULE_K_DPORT	 (1u << 2)
#define RULE_K_SPORT_BKT (1u << 3) /* port >> RULE_PORT_BKT_SHIFT: a narrow range */
#define RULE_K_DPORT_BKT (1u << 4)
#define RULE_K_ICMP_TYPE (1u << 5) /* the ICMP type, in the sport field */
#define RULE_K_PORTS	 (RULE_K_SPORT | RULE_K_DPORT | RULE_K_SPORT_BKT | RULE_K_DPORT_BKT)

/*
 * A port range spanning at most RULE_PORT_BKT_MAX buckets of 256 ports is
 * entered once per bucket, so range rules spread over many keys instead
 * of piling up in one candidate list; wider ranges stay out of the key.
 */
#define RULE_PORT_BKT_SHIFT 8
#define RULE_PORT_BKT_MAX   16

struct rule_shape {
	__u32 src_mask[4]; /* network order */
	__u32 dst_mask[4];
	__u32 best_rank; /* lowest rank of the rules of this shape */
	__u8 family; /* 0 any, 4, 6 */
	__u8 kflags; /* RULE_K_* */
	__u8 pad[2];
};

/* rule_shape_set.flags */
#define RULE_SS_PROTECT_NETS  (1u << 0)
#define RULE_SS_PROTECT_PORTS (1u << 1)
/*
 * Some rule of the half reads the L4 header (ports, TCP flags, ICMP
 * type/code, the inner fields of an ICMP error): a packet whose L4 header
 * cannot be read (a tiny, overlapping or orphan fragment) could hide from
 * it, so such fragments are dropped.
 */
#define RULE_SS_L4	      (1u << 2)

/* One half's shapes, sorted by best_rank. */
struct rule_shape_set {
	__u32 n_shapes;
	__u32 flags; /* RULE_SS_* */
	__u32 n_rules;
	__u32 pad;
	struct rule_shape shapes[RULE_SHAPES_MAX];
};

struct rule_match_key {
	__u32 src[4]; /* packet address & shape mask */
	__u32 dst[4];
	__u16 sport; /* port or bucket when the shape pins it, else 0 */
	__u16 dport;
	__u8 proto; /* 0 unless the shape pins it */
	__u8 shape; /* index in rule_shape_set.shapes */
	__u8 half;
	__u8 pad;
};

/* Candidates of one key, in evaluation order (rank ascending). */
struct rule_match_val {
	__u16 n;
	__u16 slot[RULE_CAND_MAX];
};

/* rule_comp.flags: conditions left to check after the key matched. */
#define RULE_C_VALID	  (1u << 0)
#define RULE_C_SPORT	  (1u << 1) /* a source port range */
#define RULE_C_DPORT	  (1u << 2)
#define RULE_C_TCP_FLAGS  (1u << 3) /* per packet */
#define RULE_C_ICMP_TYPE  (1u << 4) /* per packet */
#define RULE_C_ICMP_CODE  (1u << 5) /* per packet */
#define RULE_C_INNER	  (1u << 6) /* only ICMP errors: the inner fields */
#define RULE_C_ISPORT	  (1u << 7)
#define RULE_C_IDPORT	  (1u << 8)
/*
 * The rule names one source host (IPv4 /32, IPv6 /128) outside the
 * protected networks: it may drop traffic to a protected port, so that one
 * named attacker can be blocked on ssh while protected networks keep it.
 */
#define RULE_C_NAMED_SRC  (1u << 9)
#define RULE_C_PER_PACKET (RULE_C_TCP_FLAGS | RULE_C_ICMP_TYPE | RULE_C_ICMP_CODE)

/* A compiled rule, at index half * RULE_SLOTS + slot of rule_comp. */
struct rule_comp {
	__u64 expires_ns; /* coarse CLOCK_MONOTONIC; 0 = never */
	__u32 id;
	__u32 rank; /* position in (priority, id) order */
	__u16 flags;
	__u16 sport_lo, sport_hi;
	__u16 dport_lo, dport_hi;
	__u16 isport_lo, isport_hi;
	__u16 idport_lo, idport_hi;
	__u8 action; /* enum guarder_verdict */
	__u8 tcp_flags;
	__u8 tcp_mask;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 inner_proto; /* 0 = any */
	__u32 isrc[4], isrc_mask[4];
	__u32 idst[4], idst_mask[4];
};

/* Per-rule counters, per CPU, indexed by slot (both halves share them). */
struct rule_counter {
	__u64 packets;
	__u64 bytes;
	__u64 last_hit_ns; /* coarse CLOCK_MONOTONIC */
};

/*
 * Protected networks: LPM trie over (half, family, address). The family
 * keeps an IPv6 packet from ::ffff:a.b.c.d out of a protected IPv4 network.
 */
struct rule_protect_key {
	__u32 prefixlen; /* 16 + the network's prefix over 128 bits */
	__u8 half;
	__u8 family; /* 4 or 6 */
	__u8 addr[16];
	__u8 pad[2];
};

/*
 * Protected ports: one bit per port, 1024 64-bit words per half. A
 * protected port is a service of this host: packets to it (ingress
 * destination port), its replies (egress source port), and the ICMP errors
 * about either. A remote source port is never protected.
 */
#define RULE_PROTECT_PORT_WORDS 1024

/*
 * The RC_* bits of flow_value.vcache (FLOW_VC_RC): the verdict cache of
 * each direction d, valid while FLOW_VC_GEN equals rule_ctl.gen and no
 * rule of the half has expired. VALID(d): cached; SLOT(d): the rule in
 * FLOW_VC_SLOT decided it (else no rule matched: pass); DROP(d): that rule
 * drops; TC(d): decided at tc egress. A direction whose verdict depends
 * on per-packet fields (TCP flags, ICMP type/code) or on a packet that was
 * not read whole is never VALID.
 */
#define RC_VALID(d) (1u << (d))
#define RC_SLOT(d)  (4u << (d))
#define RC_DROP(d)  (16u << (d))
/*
 * RC_TC(d): the verdict was decided at the tc egress hook. Protection of a
 * port depends on the hook (destination port at ingress, source port at
 * egress), so a verdict holds only for packets of the hook it came from.
 */
#define RC_TC(d) (64u << (d))

_Static_assert(sizeof(struct rule_match_key) == 40, "rule_match_key layout");
_Static_assert(sizeof(struct rule_match_val) == 32, "rule_match_val layout");
_Static_assert(sizeof(struct rule_comp) == 104, "rule_comp layout");
_Static_assert(sizeof(struct rule_ctl) == 24, "rule_ctl layout");
_Static_assert(sizeof(struct rule_protect_key) == 24, "rule_protect_key layout");

#endif /* GUARDER_FILTER_H */
