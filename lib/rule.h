/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The filter rule model and its JSON codec, shared by guarder-api (REST),
 * the rule-set compiler (lib/rule_set.c) and the rules file.
 *
 * A struct rule is flat, fixed-size and pointer-free: it can be copied,
 * sorted and stored in arrays. Every struct rule that leaves this module
 * through rule_from_json() / rule_patch_json() has passed rule_validate(),
 * so consumers may rely on these invariants (docs/rules.md has the
 * operator's view):
 *
 *  - protocol is RULE_PROTO_ANY only on basic rules; a tcp rule has
 *    protocol TCP, a udp rule UDP, an icmp rule ICMP or ICMPV6.
 *  - RULE_PROTO_ICMP means ICMP over IPv4 only (IP protocol 1),
 *    RULE_PROTO_ICMPV6 means ICMPv6 only (58): icmp_type/code are compared
 *    raw against the packet's type/code, whose meanings differ by family.
 *  - Address fields (struct net_prefix, lib/net.h): family 0 = any (all
 *    other bytes 0). Otherwise addr is the network address in network
 *    byte order with the host bits zeroed, IPv4 mapped as ::ffff:a.b.c.d
 *    (like kernel/conn_tracker.h), and prefix counts over all 128 bits:
 *    IPv4 /n is 96 + n (96..128), IPv6 /n is n (0..128); an IPv6 address
 *    is never IPv4-mapped. A family-4 address matches IPv4 packets only and a
 *    family-6 one IPv6 packets only, even "::/0" (prefix 0, family 6).
 *    src and dst never have different families; ICMP rules have IPv4
 *    addresses (outer and inner) and ICMPv6 rules IPv6 ones.
 *  - Port fields: lo == 0 && hi == 0 = any; otherwise lo <= hi, inclusive.
 *    "0-65535" is stored as any. Ports are only set when the protocol is
 *    TCP or UDP (inner ports: inner_protocol TCP or UDP).
 *  - TCP flags: match when (flags & tcp_flags_mask) == tcp_flags; mask 0 =
 *    no flag condition; tcp_flags & ~mask == 0; only on TCP rules.
 *  - icmp_type/icmp_code: RULE_ICMP_ANY (255) = any; only on ICMP rules.
 *  - Inner fields (inner_src/dst, inner_protocol, inner ports) match only
 *    ICMP error messages (ICMPv4 types 3, 4, 5, 11, 12; ICMPv6 1..4) whose
 *    quoted packet was read; only on ICMP rules; when any inner field is
 *    set, icmp_type is any or an error type.
 *  - The rule is active when enabled and not expired (rule_is_active()).
 *    Active rules are evaluated by (priority, id) ascending; the first
 *    match decides; no match passes (rule_set_eval() is the reference).
 */
#ifndef GUARDER_RULE_H
#define GUARDER_RULE_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "net.h"

struct json_object;
struct guarder_port_range;

#define RULE_COMMENT_MAX      255 /* bytes, UTF-8, no control characters */
#define RULE_ID_MAX	      0x7fffffffu
#define RULE_PRIORITY_DEFAULT 100
#define RULE_PRIORITY_MIN     (-1000000)
#define RULE_PRIORITY_MAX     1000000
#define RULE_ICMP_ANY	      255
#define RULE_ERR_LEN	      256 /* enough for every error message */

/* IP protocol numbers as stored in struct rule.protocol / inner_protocol. */
#define RULE_PROTO_ANY	  0
#define RULE_PROTO_ICMP	  1
#define RULE_PROTO_TCP	  6
#define RULE_PROTO_UDP	  17
#define RULE_PROTO_ICMPV6 58

enum rule_type {
	RULE_TYPE_BASIC = 0,
	RULE_TYPE_ICMP,
	RULE_TYPE_TCP,
	RULE_TYPE_UDP,
};

/* Same values as enum guarder_verdict (PASS 0, DROP 1). */
enum rule_action {
	RULE_ACTION_ALLOW = 0,
	RULE_ACTION_DROP = 1,
};

struct rule_ports {
	__u16 lo, hi; /* host order, inclusive; 0,0 = any */
};

struct rule {
	__u32 id;
	enum rule_type type;
	enum rule_action action;
	__s32 priority;
	__u64 expires_at; /* unix seconds; 0 = never */
	struct net_prefix src, dst;
	struct rule_ports sport, dport;
	struct net_prefix inner_src, inner_dst;
	struct rule_ports inner_sport, inner_dport;
	__u8 protocol; /* RULE_PROTO_* */
	__u8 inner_protocol; /* RULE_PROTO_*; ANY = no condition */
	__u8 tcp_flags, tcp_flags_mask;
	__u8 icmp_type, icmp_code; /* RULE_ICMP_ANY = any */
	bool enabled;
	char comment[RULE_COMMENT_MAX + 1]; /* NUL-terminated */
};

/* What a parsed request body said besides the rule itself. */
struct rule_parse_info {
	bool has_id; /* the body carried "id" (client-chosen id) */
	bool force; /* the body carried "force": true (never stored) */
};

/* rule_from_json flags */
#define RULE_PARSE_STORED \
	(1u << 0) /* from the rules file: "id" required,
				     * expires_at in the past accepted,
				     * "force" rejected */

/*
 * rule_init - the defaults of a body with no fields: basic rule, protocol
 * any, everything wildcard, icmp type/code 255, action drop, enabled
 * false, priority RULE_PRIORITY_DEFAULT, no expiry, empty comment, id 0.
 * (A body must still name its action: the default only fills the struct.)
 */
void rule_init(struct rule *r);

/*
 * rule_from_json - parse a CREATE body (a JSON object) strictly into @out.
 * Unknown fields, wrong JSON types, out-of-range values, bad addresses or
 * ranges, bad enum values and inconsistent combinations are rejected;
 * "action" is required. Omitted fields take rule_init()'s defaults, then
 * protocol defaults from rule_type (and from the address family for icmp
 * rules) and tcp_flags_mask from tcp_flags. Without RULE_PARSE_STORED an
 * expires_at that is not in the future is rejected.
 * @info (may be NULL) says whether "id" and "force" were given.
 * Returns 0, or -EINVAL with "field: what is wrong" in @err (always
 * NUL-terminated when errlen > 0); @out is then unspecified.
 */
int rule_from_json(struct json_object *obj, unsigned int flags, struct rule *out,
		   struct rule_parse_info *info, char *err, size_t errlen);

/*
 * rule_from_json_str - rule_from_json() on @len bytes of JSON text, read
 * by json_strict_parse(): exactly one JSON object (whitespace around it
 * allowed); a duplicate key, trailing data, another JSON value, NUL bytes
 * or invalid UTF-8 are errors "body: ..." naming the byte offset.
 * Returns 0 or -EINVAL (message in @err); -ENOMEM when out of memory.
 */
int rule_from_json_str(const char *text, size_t len, unsigned int flags, struct rule *out,
		       struct rule_parse_info *info, char *err, size_t errlen);

/*
 * rule_patch_json - PUT semantics: apply only the fields present in @obj
 * onto a copy of @old, then validate the whole result into @out (@out may
 * alias @old only if the caller accepts it being modified on error: pass
 * a separate struct). "id", if present, must equal old->id. If "rule_type"
 * is given without "protocol", the protocol is derived again from the new
 * type (basic keeps the old protocol); "tcp_flags" without
 * "tcp_flags_mask" sets the mask to tcp_flags, as on create.
 * "expires_at": null removes the expiry. Returns 0 or -EINVAL with @err.
 */
int rule_patch_json(struct json_object *obj, const struct rule *old, struct rule *out,
		    struct rule_parse_info *info, char *err, size_t errlen);

/* rule_patch_json_str - rule_patch_json() on JSON text (see _from_json_str). */
int rule_patch_json_str(const char *text, size_t len, const struct rule *old, struct rule *out,
			struct rule_parse_info *info, char *err, size_t errlen);

/*
 * rule_validate - check every invariant listed at the top of this header
 * on a struct built in C (e.g. by the AI worker or a bulk load). Returns 0
 * or -EINVAL with "field: what is wrong" in @err.
 */
int rule_validate(const struct rule *r, char *err, size_t errlen);

/*
 * rule_to_json - a new JSON object with every field in canonical form:
 * id, rule_type, protocol ("any", "tcp", "udp", "icmp", "icmpv6"),
 * src_ip/dst_ip/inner_src_ip/inner_dst_ip ("" for any, "a.b.c.d" or
 * "x::y" for a full-length prefix, "net/len" otherwise), src_port/
 * dst_port/inner_src_port/inner_dst_port (0 any, a number for one port, a
 * "lo-hi" string for a range), tcp_flags, tcp_flags_mask, icmp_type,
 * icmp_code, inner_protocol, action, enabled, priority, expires_at (RFC
 * 3339 UTC string or null), comment. rule_from_json() of the result gives
 * back the same struct. The caller owns the object (json_object_put).
 * Returns NULL when out of memory.
 */
struct json_object *rule_to_json(const struct rule *r);

/*
 * rule_is_match_all - true when @r is an enabled drop rule that drops
 * every packet of at least one whole protocol (or of all traffic): no
 * address condition (an address that is any, 0.0.0.0/0 or ::/0 counts as
 * none), no port, TCP flag, ICMP type/code or inner condition. Examples:
 * {"rule_type":"basic","action":"drop"}, {"rule_type":"tcp",...} with no
 * other field, {"rule_type":"icmp"} with no icmp_type. The API refuses
 * them unless the request sets "force". Expiry does not matter.
 */
bool rule_is_match_all(const struct rule *r);

/* rule_equal - every field equal (padding ignored). */
bool rule_equal(const struct rule *a, const struct rule *b);

/* rule_is_active - enabled and (no expiry or expires_at > @now, unix s). */
bool rule_is_active(const struct rule *r, __u64 now);

/*
 * rule_cmp - qsort comparator over struct rule: priority, then id,
 * ascending (the evaluation order).
 */
int rule_cmp(const void *a, const void *b);

/*
 * rule_touches_protected - whether a DROP rule explicitly selects
 * protected traffic: a src or dst address condition (not any) that
 * overlaps one of @nets (either contains the other), or a src or dst port
 * range (not any) that shares a port with one of @ports, unless the rule
 * names one source host (an IPv4 /32 or IPv6 /128 outside @nets): one
 * attacker may be dropped on a protected port, the protected networks
 * never. Allow rules and disabled rules never touch. Wildcard fields do
 * not count: the kernel exempts protected traffic from every other rule
 * anyway (lib/rule_compile.c); this check refuses rules whose stated
 * intent is to drop it. Inner (quoted) fields do not count. @nets and
 * @ports are the config's rules.protected_networks / protected_ports
 * (lib/config.h). On true, @why (if @len > 0) names the rule field and the
 * protected entry, e.g. "dst_ip: 10.0.0.0/8 overlaps protected network
 * 10.1.0.0/16".
 */
bool rule_touches_protected(const struct rule *r, const struct net_prefix *nets, size_t n_nets,
			    const struct guarder_port_range *ports, size_t n_ports, char *why,
			    size_t len);

/*
 * rule_addr_parse - a rule's address field: "" or "any" (family 0), or
 * what net_parse() reads ("a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n",
 * nothing around it) with the host bits zeroed. IPv4-mapped IPv6 text
 * is rejected (write the IPv4 form). On error returns -EINVAL with
 * "@field: ..." in @err. Text forms: net_format(), which writes "" for
 * any and no "/n" for a single host.
 */
int rule_addr_parse(const char *field, const char *s, struct net_prefix *out, char *err,
		    size_t errlen);

/*
 * A packet as the rule matcher sees it: what kernel/parsing.h extracts.
 * Addresses network order, IPv4 mapped; ports host order.
 */
struct rule_packet {
	__u32 src[4], dst[4];
	__u8 family; /* 4 or 6 */
	__u8 proto; /* IP protocol of the L4 header */
	__u16 sport, dport;
	__u8 tcp_flags;
	__u8 icmp_type, icmp_code;
	bool inner_valid; /* an ICMP error whose quoted header was read */
	__u32 inner_src[4], inner_dst[4];
	__u8 inner_proto;
	__u16 inner_sport, inner_dport;
};

/*
 * rule_matches - whether @r's conditions match @p (ignores enabled,
 * expiry and action). The reference semantics for the kernel matcher.
 */
bool rule_matches(const struct rule *r, const struct rule_packet *p);

/*
 * rule_set_eval - the index in @rules (any order) of the rule that
 * decides @p: the active (@now) matching rule with the lowest (priority,
 * id); -1 when none matches (the packet passes). Linear: for tests and
 * as an oracle, not for the data path.
 */
long rule_set_eval(const struct rule *rules, size_t n, const struct rule_packet *p, __u64 now);

/* Text forms, for messages and output. */
const char *rule_type_name(enum rule_type t);
const char *rule_action_name(enum rule_action a);
const char *rule_proto_name(__u8 proto); /* "any" for 0, else net_proto_name() */

#endif /* GUARDER_RULE_H */
