// SPDX-License-Identifier: GPL-2.0
/*
 * Addresses, prefixes and protocol names (net.h): the one strict parser,
 * the one formatter and the one protocol table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "net.h"

#define QUOTE_MAX 64 /* bytes of the input a message quotes */

/*
 * @s as a message may quote it: the input may come from a remote client
 * and the message may end up in JSON, a log or a terminal.
 */
static const char *quote(const char *s, char buf[QUOTE_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
	}
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

bool net_addr_is_v4(const __u32 addr[4])
{
	return addr[0] == 0 && addr[1] == 0 && addr[2] == htonl(0xffff);
}

/* Dotted quad by hand: inet_ntop() is several times slower. */
static size_t format_v4(const __u32 *a, char *buf)
{
	const unsigned char *b = (const unsigned char *)a;
	char *p = buf;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned int v = b[i];

		if (i)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	*p = '\0';
	return (size_t)(p - buf);
}

size_t net_addr_format(const __u32 addr[4], char buf[NET_ADDR_STRLEN])
{
	if (net_addr_is_v4(addr))
		return format_v4(&addr[3], buf);
	if (!inet_ntop(AF_INET6, addr, buf, NET_ADDR_STRLEN)) {
		buf[0] = '\0';
		return 0;
	}
	return strlen(buf);
}

void net_mask(struct net_prefix *p)
{
	__u8 *b = (__u8 *)p->addr;
	unsigned int i, bits = p->prefix;

	for (i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		b[i] &= (__u8)(0xff00u >> bits);
		bits = 0;
	}
}

/*
 * Whether the first @bits bits of @a and @b are equal; by 32-bit words,
 * as the REST lists test every flow of the table with it.
 */
static bool prefix_equal(const __u32 a[4], const __u32 b[4], unsigned int bits)
{
	unsigned int i;

	for (i = 0; i < 4 && bits; i++) {
		__u32 m = bits >= 32 ? 0xffffffffu : htonl(~(0xffffffffu >> bits));

		if ((a[i] ^ b[i]) & m)
			return false;
		bits = bits >= 32 ? bits - 32 : 0;
	}
	return true;
}

bool net_contains(const struct net_prefix *p, const __u32 addr[4])
{
	return p->family == 0 || prefix_equal(p->addr, addr, p->prefix);
}

bool net_overlap(const struct net_prefix *a, const struct net_prefix *b)
{
	if (a->family == 0 || b->family == 0)
		return true;
	if (a->family != b->family)
		return false;
	return prefix_equal(a->addr, b->addr, a->prefix < b->prefix ? a->prefix : b->prefix);
}

int net_cmp(const struct net_prefix *a, const struct net_prefix *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c < 0 ? -1 : 1;
	return (a->prefix > b->prefix) - (a->prefix < b->prefix);
}

void net_from_addr(const __u32 addr[4], struct net_prefix *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->addr, addr, sizeof(out->addr));
	out->prefix = 128;
	out->family = net_addr_is_v4(addr) ? 4 : 6;
}

int net_from_sockaddr(const struct sockaddr *sa, struct net_prefix *out)
{
	__u32 a[4] = { 0, 0, htonl(0xffff), 0 };

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET)
		memcpy(&a[3], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else
		return -EAFNOSUPPORT;
	net_from_addr(a, out);
	return 0;
}

/* "0".."128": digits only, no leading zero. Returns 0 or -EINVAL. */
static int parse_plen(const char *s, unsigned int *out)
{
	unsigned int v = 0;
	size_t i;

	if (!s[0] || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 3)
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int net_parse(const char *s, unsigned int flags, struct net_prefix *out, char *err, size_t errlen)
{
	char buf[NET_ADDR_STRLEN], q[QUOTE_MAX + 4], net[NET_STRLEN];
	struct net_prefix p, m;
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max, plen;

	if (errlen)
		err[0] = '\0';
	memset(&p, 0, sizeof(p));
	if (alen == 0 || alen >= sizeof(buf) || (slash && (flags & NET_PARSE_NO_PREFIX)))
		goto bad_addr;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, &p.addr[3]) == 1) {
		p.addr[2] = htonl(0xffff);
		p.family = 4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, p.addr) == 1) {
		if ((flags & NET_PARSE_NO_MAPPED) && net_addr_is_v4(p.addr)) {
			snprintf(err, errlen,
				 "\"%s\" is an IPv4-mapped IPv6 address; write the IPv4 form",
				 quote(s, q));
			return -EINVAL;
		}
		p.family = 6;
		max = 128;
	} else {
		goto bad_addr;
	}
	plen = max;
	if (slash && parse_plen(slash + 1, &plen)) {
		snprintf(err, errlen, "\"%s\" is not an address/len: bad prefix length",
			 quote(s, q));
		return -EINVAL;
	}
	if (plen > max) {
		snprintf(err, errlen,
			 "prefix length /%u is over %u in \"%s\" (IPv%u prefix length must be "
			 "0..%u)",
			 plen, max, quote(s, q), p.family, max);
		return -EINVAL;
	}
	p.prefix = (__u8)(128 - max + plen);
	m = p;
	net_mask(&m);
	if (!(flags & NET_PARSE_MASK) && memcmp(m.addr, p.addr, sizeof(p.addr))) {
		net_format(&m, NET_FMT_PREFIX, net, sizeof(net));
		snprintf(err, errlen, "\"%s\" has host bits set after /%u (the network is %s)",
			 quote(s, q), plen, net);
		return -EINVAL;
	}
	*out = m;
	return 0;
bad_addr:
	snprintf(err, errlen, "\"%s\" is not an IPv4 or IPv6 address%s", quote(s, q),
		 (flags & NET_PARSE_NO_PREFIX) ? "" : " or CIDR");
	return -EINVAL;
}

int net_format(const struct net_prefix *p, unsigned int flags, char *buf, size_t len)
{
	char text[NET_ADDR_STRLEN];
	unsigned int plen, full;
	int n;

	if (p->family == 0) {
		if (len < 1)
			return -ENOSPC;
		buf[0] = '\0';
		return 0;
	}
	if (p->family == 4) {
		format_v4(&p->addr[3], text);
		plen = p->prefix - 96u;
		full = 32;
	} else if (p->family == 6) {
		if (!inet_ntop(AF_INET6, p->addr, text, sizeof(text)))
			return -EINVAL;
		plen = p->prefix;
		full = 128;
	} else {
		return -EINVAL;
	}
	if (plen == full && !(flags & NET_FMT_PREFIX))
		n = snprintf(buf, len, "%s", text);
	else
		n = snprintf(buf, len, "%s/%u", text, plen);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return n;
}

/* ---- protocols ---- */

static const char *const proto_names[256] = {
	[IPPROTO_ICMP] = "icmp",     [IPPROTO_TCP] = "tcp",   [IPPROTO_UDP] = "udp",
	[IPPROTO_GRE] = "gre",	     [IPPROTO_ESP] = "esp",   [IPPROTO_AH] = "ah",
	[IPPROTO_ICMPV6] = "icmpv6", [IPPROTO_SCTP] = "sctp",
};

/* Names read but never written: what older releases wrote. */
static const struct {
	const char *name;
	uint8_t proto;
} proto_aliases[] = {
	{ "ipv6-icmp", IPPROTO_ICMPV6 },
};

static char proto_numbers[256][4];
static unsigned char proto_name_lens[256];

__attribute__((constructor)) static void proto_table_init(void)
{
	int i, n;

	for (i = 0; i < 256; i++) {
		n = snprintf(proto_numbers[i], sizeof(proto_numbers[i]), "%d", i);
		proto_name_lens[i] =
			(unsigned char)(proto_names[i] ? strlen(proto_names[i]) : (size_t)n);
	}
}

const char *net_proto_name(uint8_t proto)
{
	return proto_names[proto] ? proto_names[proto] : proto_numbers[proto];
}

size_t net_proto_name_len(uint8_t proto)
{
	return proto_name_lens[proto];
}

static bool name_is(const char *name, const char *s, size_t n, unsigned int flags)
{
	if (strlen(name) != n)
		return false;
	return (flags & NET_PROTO_ICASE) ? !strncasecmp(name, s, n) : !strncmp(name, s, n);
}

int net_proto_parse(const char *s, size_t n, unsigned int flags, uint8_t *out)
{
	unsigned int v = 0, i;

	for (i = 0; i < 256; i++) {
		if (proto_names[i] && name_is(proto_names[i], s, n, flags)) {
			*out = (uint8_t)i;
			return 0;
		}
	}
	for (i = 0; i < sizeof(proto_aliases) / sizeof(proto_aliases[0]); i++) {
		if (name_is(proto_aliases[i].name, s, n, flags)) {
			*out = proto_aliases[i].proto;
			return 0;
		}
	}
	if (!(flags & NET_PROTO_NUMBER) || n == 0 || n > 3 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > 255)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}
