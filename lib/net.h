/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Addresses, network prefixes and IP protocol names, written once for
 * every process: the rules, the config's protected networks, the REST
 * list filters, the WebSocket subscription filters, flow records and
 * guarder-ai's record parser all read and write them through here.
 *
 * One form for an address or a prefix: the 128-bit form the kernel keys
 * its maps with (kernel/conn_tracker.h), IPv4 mapped as ::ffff:a.b.c.d,
 * and a prefix length counted over all 128 bits, so an IPv4 /24 is 120.
 * The family says how the text was written: 4 for a dotted quad, 6 for
 * IPv6 text (even "::ffff:a.b.c.d", which callers may refuse), 0 for "no
 * address" (a rule's wildcard; never produced by net_parse()).
 */
#ifndef GUARDER_NET_H
#define GUARDER_NET_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

struct net_prefix {
	__u32 addr[4]; /* network order, IPv4 as ::ffff:a.b.c.d; host bits zero */
	__u8 prefix; /* over 128 bits: IPv4 /n is 96 + n, IPv6 /n is n */
	__u8 family; /* 0 (none), 4 or 6 */
	__u8 pad[2]; /* zero, so that structs compare with memcmp */
};

#define NET_ADDR_STRLEN 46 /* net_addr_format() of any address (INET6_ADDRSTRLEN) */
#define NET_STRLEN	(NET_ADDR_STRLEN + 4) /* net_format() of any prefix: "/128" more */
#define NET_ERR_LEN	192 /* every net_parse() message fits */

/* net_parse flags */
#define NET_PARSE_MASK	    (1u << 0) /* zero host bits ("10.1.2.3/8" is 10.0.0.0/8) */
#define NET_PARSE_NO_PREFIX (1u << 1) /* one address: "/n" is refused */
#define NET_PARSE_NO_MAPPED (1u << 2) /* refuse "::ffff:a.b.c.d": write the IPv4 form */

/*
 * net_parse - @s, exactly "a.b.c.d" or IPv6 text as inet_pton() reads
 * them, optionally followed by "/n" (decimal, no sign, no leading zero,
 * 0..32 for IPv4, 0..128 for IPv6); no whitespace or anything else around
 * it. An address without "/n" is a single host (prefix 128). Host bits
 * set after the prefix are refused unless @flags has NET_PARSE_MASK.
 * Returns 0 with @out filled, or -EINVAL with @out unchanged and a
 * message in @err (NUL-terminated when @errlen > 0; @err may be NULL
 * when @errlen is 0) that quotes at most 64 bytes of @s, with quotes,
 * backslashes and control bytes shown as '?'. The messages read, for
 * "10.0.0.0/33":
 *   prefix length /33 is over 32 in "..." (IPv4 prefix length must be 0..32)
 * and otherwise `"..." is not an IPv4 or IPv6 address[ or CIDR]`,
 * `"..." is not an address/len: bad prefix length`,
 * `"..." has host bits set after /8 (the network is 10.0.0.0/8)`,
 * `"..." is an IPv4-mapped IPv6 address; write the IPv4 form`.
 */
int net_parse(const char *s, unsigned int flags, struct net_prefix *out, char *err, size_t errlen);

/* net_format flags */
#define NET_FMT_PREFIX (1u << 0) /* write "/n" even for a single host */

/*
 * net_format - @p as text: "a.b.c.d" for family 4, RFC 5952 text for
 * family 6, "" for family 0; "/n" (counted for the family: an IPv4 /24
 * is "/24") when the prefix is not a single host or @flags has
 * NET_FMT_PREFIX. net_parse() reads the result back to the same struct.
 * Returns the length, -ENOSPC when @len is too small (NET_STRLEN always
 * suffices; @buf is then "" if @len > 0), -EINVAL for another family.
 */
int net_format(const struct net_prefix *p, unsigned int flags, char *buf, size_t len);

/*
 * net_addr_format - one 128-bit address as text: a mapped address as a
 * dotted quad, anything else as IPv6 text. Fast (the record writer's
 * path). Returns the length written to @buf.
 */
size_t net_addr_format(const __u32 addr[4], char buf[NET_ADDR_STRLEN]);

/* net_addr_is_v4 - whether @addr is IPv4-mapped (::ffff:0:0/96). */
bool net_addr_is_v4(const __u32 addr[4]);

/* net_from_addr - @addr as a single host; family 4 when it is mapped. */
void net_from_addr(const __u32 addr[4], struct net_prefix *out);

/*
 * net_from_sockaddr - the address of @sa (AF_INET or AF_INET6; an
 * IPv4-mapped AF_INET6 address is family 4) as a single host.
 * Returns 0, or -EAFNOSUPPORT for another family (@out zeroed).
 */
int net_from_sockaddr(const struct sockaddr *sa, struct net_prefix *out);

/* net_mask - zero the bits of @p->addr after @p->prefix. */
void net_mask(struct net_prefix *p);

/*
 * net_contains - whether the 128-bit @addr lies inside @p, comparing
 * bits only: "::/0" contains every IPv4-mapped address too. Family 0
 * contains everything. Callers that keep families apart check them.
 */
bool net_contains(const struct net_prefix *p, const __u32 addr[4]);

/*
 * net_overlap - whether some address lies inside both @a and @b: family
 * 0 overlaps everything, families 4 and 6 never overlap each other.
 */
bool net_overlap(const struct net_prefix *a, const struct net_prefix *b);

/*
 * net_cmp - order by family, then address (as a 128-bit big-endian
 * number), then prefix; the padding is ignored. <0, 0 or >0.
 */
int net_cmp(const struct net_prefix *a, const struct net_prefix *b);

/*
 * Protocol names: one vocabulary, name <-> number. The canonical names
 * (net_proto_name) are tcp, udp, icmp, icmpv6, gre, esp, ah and sctp;
 * every other number is written in decimal. "ipv6-icmp", the IANA
 * keyword records carried before, is still read as 58.
 */
#define NET_PROTO_NAMES "tcp, udp, icmp, icmpv6 (or ipv6-icmp), gre, esp, ah, sctp"

/* net_proto_parse flags */
#define NET_PROTO_NUMBER (1u << 0) /* also "0".."255" (no sign, no leading zero) */
#define NET_PROTO_ICASE	 (1u << 1) /* names in any case ("TCP") */

/*
 * net_proto_name - the canonical name of @proto, or its number in
 * decimal ("253"). Never NULL; the string is static.
 */
const char *net_proto_name(uint8_t proto);

/* net_proto_name_len - strlen(net_proto_name(@proto)), from a table. */
size_t net_proto_name_len(uint8_t proto);

/*
 * net_proto_parse - @s[0..@n) as a protocol: a canonical name or an
 * alias, or (with NET_PROTO_NUMBER) a number 0..255. Nothing else: no
 * whitespace, no "+6", no "06". Returns 0 with @out set, or -EINVAL with
 * @out unchanged.
 */
int net_proto_parse(const char *s, size_t n, unsigned int flags, uint8_t *out);

#endif /* GUARDER_NET_H */
