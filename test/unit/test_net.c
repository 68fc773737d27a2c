// SPDX-License-Identifier: GPL-2.0
/*
 * lib/net.c: the one address/prefix parser and formatter, the prefix
 * predicates, and the protocol vocabulary.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/net.h"
#include "check.h"

/* Parse @text with @flags, expecting success: the struct, or a zeroed one. */
static struct net_prefix ok(const char *text, unsigned int flags)
{
	struct net_prefix p;
	char err[NET_ERR_LEN];

	memset(&p, 0, sizeof(p));
	if (net_parse(text, flags, &p, err, sizeof(err))) {
		fprintf(stderr, "net_parse(\"%s\", %#x): %s\n", text, flags, err);
		failures++;
	}
	return p;
}

/* Parse @text with @flags, expecting -EINVAL, @out untouched and @why in the message. */
static void bad(const char *text, unsigned int flags, const char *why)
{
	struct net_prefix p, before;
	char err[NET_ERR_LEN] = "";
	int rc;

	memset(&p, 0xa5, sizeof(p));
	before = p;
	rc = net_parse(text, flags, &p, err, sizeof(err));
	if (rc != -EINVAL || memcmp(&p, &before, sizeof(p)) || !strstr(err, why)) {
		fprintf(stderr, "net_parse(\"%s\", %#x) = %d, \"%s\"; wanted -EINVAL with \"%s\"\n",
			text, flags, rc, err, why);
		failures++;
	}
}

/* @text parses to @family/@prefix and formats back to @canon (with @fmt). */
static void round_trip(const char *text, unsigned int flags, unsigned int family,
		       unsigned int prefix, unsigned int fmt, const char *canon)
{
	struct net_prefix p = ok(text, flags), q;
	char buf[NET_STRLEN];
	int n;

	CHECK(p.family == family);
	CHECK(p.prefix == prefix);
	CHECK(p.pad[0] == 0 && p.pad[1] == 0);
	n = net_format(&p, fmt, buf, sizeof(buf));
	if (n < 0 || (size_t)n != strlen(canon) || strcmp(buf, canon)) {
		fprintf(stderr, "net_format of \"%s\": %d \"%s\", wanted \"%s\"\n", text, n, buf,
			canon);
		failures++;
		return;
	}
	q = ok(buf, flags & ~NET_PARSE_MASK);
	CHECK(net_cmp(&p, &q) == 0 && !memcmp(&p, &q, sizeof(p)));
}

static void test_parse_format(void)
{
	struct net_prefix p;
	__u32 a[4];

	/* IPv4: family 4, mapped, the prefix counted over 128 bits */
	round_trip("192.0.2.1", 0, 4, 128, 0, "192.0.2.1");
	round_trip("192.0.2.1", 0, 4, 128, NET_FMT_PREFIX, "192.0.2.1/32");
	round_trip("192.0.2.1/32", 0, 4, 128, 0, "192.0.2.1");
	round_trip("192.0.2.0/24", 0, 4, 120, 0, "192.0.2.0/24");
	round_trip("192.0.2.0/31", 0, 4, 127, 0, "192.0.2.0/31");
	round_trip("128.0.0.0/1", 0, 4, 97, 0, "128.0.0.0/1");
	round_trip("0.0.0.0/0", 0, 4, 96, 0, "0.0.0.0/0");
	round_trip("0.0.0.0", 0, 4, 128, 0, "0.0.0.0");
	round_trip("255.255.255.255", 0, 4, 128, 0, "255.255.255.255");
	p = ok("10.1.2.3", 0);
	test_addr("10.1.2.3", a);
	CHECK(!memcmp(p.addr, a, 16) && net_addr_is_v4(p.addr));

	/* IPv6, canonical text on output */
	round_trip("2001:db8::1", 0, 6, 128, 0, "2001:db8::1");
	round_trip("2001:DB8:0:0::1", 0, 6, 128, 0, "2001:db8::1");
	round_trip("2001:db8::/32", 0, 6, 32, 0, "2001:db8::/32");
	round_trip("::/0", 0, 6, 0, 0, "::/0");
	round_trip("::", 0, 6, 128, 0, "::");
	round_trip("::1/128", 0, 6, 128, NET_FMT_PREFIX, "::1/128");
	round_trip("fe80::/10", 0, 6, 10, 0, "fe80::/10");
	round_trip("2001:db8::/127", 0, 6, 127, 0, "2001:db8::/127");
	p = ok("2001:db8::1", 0);
	test_addr("2001:db8::1", a);
	CHECK(!memcmp(p.addr, a, 16) && !net_addr_is_v4(p.addr));

	/* IPv4-mapped text: IPv6 text, the IPv4 bits, unless the caller refuses it */
	round_trip("::ffff:10.0.0.1", 0, 6, 128, 0, "::ffff:10.0.0.1");
	round_trip("::ffff:10.0.0.0/104", 0, 6, 104, 0, "::ffff:10.0.0.0/104");
	p = ok("::ffff:10.0.0.1", 0);
	test_addr("10.0.0.1", a);
	CHECK(!memcmp(p.addr, a, 16));
	bad("::ffff:10.0.0.1", NET_PARSE_NO_MAPPED, "is an IPv4-mapped IPv6 address");
	bad("::ffff:0:0/96", NET_PARSE_NO_MAPPED, "IPv4-mapped");
	round_trip("::fffe:0:0/95", NET_PARSE_NO_MAPPED, 6, 95, 0, "::fffe:0:0/95");
	/* a mapped address shorter than /96 has host bits in ffff */
	bad("::ffff:1.2.3.4/95", 0, "has host bits set after /95");
	bad("::ffff:0:0/80", 0, "host bits");

	/* prefix lengths at the family's bounds, digits only */
	bad("10.0.0.0/33", 0, "prefix length /33 is over 32");
	bad("10.0.0.0/33", 0, "prefix length must be 0..32");
	bad("10.0.0.0/128", 0, "prefix length /128 is over 32");
	bad("2001:db8::/129", 0, "prefix length /129 is over 128");
	bad("2001:db8::/129", 0, "prefix length must be 0..128");
	bad("10.0.0.0/", 0, "bad prefix length");
	bad("10.0.0.0/08", 0, "\"10.0.0.0/08\" is not an address/len: bad prefix length");
	bad("10.0.0.0/00", 0, "bad prefix length");
	bad("10.0.0.0/+8", 0, "bad prefix length");
	bad("10.0.0.0/-0", 0, "bad prefix length");
	bad("10.0.0.0/ 8", 0, "bad prefix length");
	bad("10.0.0.0/8 ", 0, "bad prefix length");
	bad("10.0.0.0/8/8", 0, "bad prefix length");
	bad("::/1000", 0, "bad prefix length");
	bad("::/0x10", 0, "bad prefix length");

	/* whitespace and junk: nothing but the address */
	bad("1.2.3.4 ", 0, "\"1.2.3.4 \" is not an IPv4 or IPv6 address or CIDR");
	bad(" 1.2.3.4", 0, "is not an IPv4 or IPv6 address");
	bad("1.2.3.4\n", 0, "\"1.2.3.4?\" is not");
	bad("\t::1", 0, "is not an IPv4");
	bad("::1 ", 0, "is not an IPv4");
	bad("", 0, "\"\" is not an IPv4 or IPv6 address or CIDR");
	bad("/8", 0, "is not an IPv4");
	bad("01.2.3.4", 0, "is not an IPv4");
	bad("1.2.3", 0, "is not an IPv4");
	bad("1.2.3.256", 0, "is not an IPv4");
	bad("1.2.3.4x", 0, "is not an IPv4");
	bad("0x1.2.3.4", 0, "is not an IPv4");
	bad("1::2::3", 0, "is not an IPv4");
	bad("fe80::1%eth0", 0, "is not an IPv4");
	bad("example.com", 0, "\"example.com\" is not an IPv4 or IPv6 address or CIDR");
	bad("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, "is not an IPv4");

	/* one address only */
	round_trip("10.0.0.1", NET_PARSE_NO_PREFIX, 4, 128, 0, "10.0.0.1");
	bad("10.0.0.1/32", NET_PARSE_NO_PREFIX, "\"10.0.0.1/32\" is not an IPv4 or IPv6 address");
	bad("10.0.0.1 ", NET_PARSE_NO_PREFIX, "is not an IPv4 or IPv6 address");
	{
		char err[NET_ERR_LEN];

		CHECK(net_parse("x", NET_PARSE_NO_PREFIX, &p, err, sizeof(err)) == -EINVAL &&
		      !strstr(err, "CIDR"));
	}

	/* host bits: refused with the network named, or masked */
	bad("10.0.0.1/8", 0,
	    "\"10.0.0.1/8\" has host bits set after /8 (the network is 10.0.0.0/8)");
	bad("2001:db8::1/64", 0, "the network is 2001:db8::/64");
	bad("192.0.2.129/25", 0, "the network is 192.0.2.128/25");
	round_trip("10.1.2.3/8", NET_PARSE_MASK, 4, 104, 0, "10.0.0.0/8");
	round_trip("192.0.2.255/25", NET_PARSE_MASK, 4, 121, 0, "192.0.2.128/25");
	round_trip("2001:db8:ff::1/32", NET_PARSE_MASK, 6, 32, 0, "2001:db8::/32");
	round_trip("255.255.255.255/0", NET_PARSE_MASK, 4, 96, 0, "0.0.0.0/0");

	/* messages never carry the input's quotes, backslashes or control bytes */
	{
		char err[NET_ERR_LEN], long_input[200];

		CHECK(net_parse("a\"b\\c\x01", 0, &p, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "\"a?b?c?\" is not") != NULL && !strchr(err, '\\'));
		memset(long_input, '1', sizeof(long_input) - 1);
		long_input[sizeof(long_input) - 1] = '\0';
		CHECK(net_parse(long_input, 0, &p, err, sizeof(err)) == -EINVAL);
		CHECK(strstr(err, "...\" is not") != NULL && strlen(err) < 64 + 60);
		/* a short buffer is still terminated; none is allowed */
		CHECK(net_parse("nope", 0, &p, err, 5) == -EINVAL && strlen(err) == 4);
		CHECK(net_parse("nope", 0, &p, NULL, 0) == -EINVAL);
	}

	/* net_format's own edges */
	{
		struct net_prefix any = { 0 }, odd = { .family = 5 };
		char buf[NET_STRLEN];

		strcpy(buf, "x");
		CHECK(net_format(&any, 0, buf, sizeof(buf)) == 0 && buf[0] == '\0');
		CHECK(net_format(&any, 0, buf, 0) == -ENOSPC);
		CHECK(net_format(&odd, 0, buf, sizeof(buf)) == -EINVAL);
		p = ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", 0);
		CHECK(net_format(&p, 0, buf, sizeof(buf)) == 43);
		CHECK(net_format(&p, 0, buf, 43) == -ENOSPC && buf[0] == '\0');
		CHECK(net_format(&p, 0, buf, 44) == 43);
	}
}

static void test_addr_format(void)
{
	char buf[NET_ADDR_STRLEN];
	__u32 a[4];

	test_addr("10.0.0.1", a);
	CHECK(net_addr_format(a, buf) == 8 && !strcmp(buf, "10.0.0.1"));
	test_addr("0.0.0.0", a);
	CHECK(net_addr_format(a, buf) == 7 && !strcmp(buf, "0.0.0.0"));
	test_addr("255.255.255.255", a);
	CHECK(net_addr_format(a, buf) == 15 && !strcmp(buf, "255.255.255.255"));
	test_addr("100.20.3.0", a);
	CHECK(net_addr_format(a, buf) == 10 && !strcmp(buf, "100.20.3.0"));
	test_addr("2001:db8::1", a);
	CHECK(net_addr_format(a, buf) == 11 && !strcmp(buf, "2001:db8::1"));
	test_addr("::", a);
	CHECK(net_addr_format(a, buf) == 2 && !strcmp(buf, "::"));
	test_addr("::fffe:1.2.3.4", a);
	CHECK(!net_addr_is_v4(a) && net_addr_format(a, buf) == 14 &&
	      !strcmp(buf, "::fffe:102:304"));
}

/* @net contains @addr, and the mapped form is what is compared. */
static bool has(const char *net, const char *addr)
{
	struct net_prefix p = ok(net, 0);
	__u32 a[4];

	test_addr(addr, a);
	return net_contains(&p, a);
}

static void test_contains(void)
{
	struct net_prefix any = { 0 };
	__u32 a[4];

	CHECK(has("10.0.0.0/8", "10.0.0.0"));
	CHECK(has("10.0.0.0/8", "10.255.255.255"));
	CHECK(!has("10.0.0.0/8", "9.255.255.255"));
	CHECK(!has("10.0.0.0/8", "11.0.0.0"));
	CHECK(has("192.0.2.128/25", "192.0.2.128"));
	CHECK(has("192.0.2.128/25", "192.0.2.255"));
	CHECK(!has("192.0.2.128/25", "192.0.2.127"));
	CHECK(has("192.0.2.6/31", "192.0.2.7"));
	CHECK(!has("192.0.2.6/31", "192.0.2.8"));
	CHECK(!has("192.0.2.6/31", "192.0.2.5"));
	CHECK(has("192.0.2.7", "192.0.2.7"));
	CHECK(!has("192.0.2.7", "192.0.2.6"));
	CHECK(!has("192.0.2.7/32", "192.0.2.8"));
	/* an IPv4 /0 is the mapped space only; "::/0" is everything */
	CHECK(has("0.0.0.0/0", "255.255.255.255"));
	CHECK(!has("0.0.0.0/0", "::1"));
	CHECK(!has("0.0.0.0/0", "::fffe:0:1"));
	CHECK(has("::/0", "10.0.0.1"));
	CHECK(has("::/0", "2001:db8::1"));
	CHECK(has("::ffff:10.0.0.0/104", "10.9.9.9"));
	CHECK(has("2001:db8::/127", "2001:db8::1"));
	CHECK(!has("2001:db8::/127", "2001:db8::2"));
	CHECK(has("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	CHECK(!has("2001:db8::/32", "2001:db9::"));
	CHECK(!has("2001:db8::/33", "2001:db8:8000::"));
	CHECK(has("2001:db8::/33", "2001:db8:7fff::"));
	CHECK(has("::1", "::1") && !has("::1", "::"));
	test_addr("2001:db8::1", a);
	CHECK(net_contains(&any, a));
}

static void test_overlap_cmp(void)
{
	struct net_prefix n8 = ok("10.0.0.0/8", 0), n16 = ok("10.1.0.0/16", 0),
			  o16 = ok("11.1.0.0/16", 0), v6 = ok("2001:db8::/32", 0),
			  all6 = ok("::/0", 0), host = ok("10.1.2.3", 0), any = { 0 }, x, y;

	CHECK(net_overlap(&n8, &n16) && net_overlap(&n16, &n8));
	CHECK(net_overlap(&n16, &host) && net_overlap(&host, &host));
	CHECK(!net_overlap(&n8, &o16) && !net_overlap(&o16, &n8));
	CHECK(!net_overlap(&n8, &v6));
	/* families never overlap, even ::/0 with an IPv4 network */
	CHECK(!net_overlap(&all6, &n8) && net_overlap(&all6, &v6));
	CHECK(net_overlap(&any, &v6) && net_overlap(&n8, &any));

	CHECK(net_cmp(&n8, &n8) == 0);
	CHECK(net_cmp(&n8, &n16) < 0 && net_cmp(&n16, &n8) > 0);
	CHECK(net_cmp(&n16, &o16) < 0);
	CHECK(net_cmp(&n8, &v6) < 0 && net_cmp(&v6, &n8) > 0); /* family 4 first */
	CHECK(net_cmp(&any, &n8) < 0);
	x = ok("10.0.0.0/8", 0);
	y = ok("10.0.0.0/16", 0);
	CHECK(net_cmp(&x, &y) < 0 && net_cmp(&y, &x) > 0);
	x.pad[0] = 1;
	CHECK(net_cmp(&x, &n8) == 0); /* padding ignored */
	x = ok("10.0.0.0/9", NET_PARSE_MASK);
	x.prefix = 104;
	CHECK(net_cmp(&x, &n8) == 0);
	x.addr[3] |= htonl(1);
	CHECK(net_cmp(&x, &n8) > 0);
	net_mask(&x);
	CHECK(net_cmp(&x, &n8) == 0);
}

static void test_from(void)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	struct net_prefix p, want;
	__u32 a[4];

	inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
	want = ok("192.0.2.7", 0);
	CHECK(net_from_sockaddr((struct sockaddr *)&s4, &p) == 0 && !memcmp(&p, &want, sizeof(p)));
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr);
	CHECK(net_from_sockaddr((struct sockaddr *)&s6, &p) == 0 && !memcmp(&p, &want, sizeof(p)));
	inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr);
	want = ok("2001:db8::7", 0);
	CHECK(net_from_sockaddr((struct sockaddr *)&s6, &p) == 0 && !memcmp(&p, &want, sizeof(p)));
	memset(&p, 0xa5, sizeof(p));
	CHECK(net_from_sockaddr((struct sockaddr *)&su, &p) == -EAFNOSUPPORT && p.family == 0);

	test_addr("10.0.0.9", a);
	want = ok("10.0.0.9", 0);
	net_from_addr(a, &p);
	CHECK(!memcmp(&p, &want, sizeof(p)));
	test_addr("fe80::9", a);
	want = ok("fe80::9", 0);
	net_from_addr(a, &p);
	CHECK(!memcmp(&p, &want, sizeof(p)));
}

static bool proto_is(const char *s, unsigned int flags, int want)
{
	uint8_t p = 77;
	int rc = net_proto_parse(s, strlen(s), flags, &p);

	if (want < 0)
		return rc == -EINVAL && p == 77;
	return rc == 0 && p == want;
}

static void test_protocols(void)
{
	static const struct {
		const char *name;
		int num;
	} names[] = { { "icmp", 1 }, { "tcp", 6 }, { "udp", 17 },    { "gre", 47 },
		      { "esp", 50 }, { "ah", 51 }, { "icmpv6", 58 }, { "sctp", 132 } };
	char num[8];
	size_t i;
	int p;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		CHECK(!strcmp(net_proto_name((uint8_t)names[i].num), names[i].name));
		CHECK(net_proto_name_len((uint8_t)names[i].num) == strlen(names[i].name));
		CHECK(proto_is(names[i].name, 0, names[i].num));
		CHECK(proto_is(names[i].name, NET_PROTO_NUMBER, names[i].num));
	}
	/* the IANA keyword of older records: read, never written */
	CHECK(proto_is("ipv6-icmp", 0, 58));
	CHECK(proto_is("ipv6-icmp", NET_PROTO_NUMBER, 58));
	CHECK(!strcmp(net_proto_name(58), "icmpv6"));

	/* every number: written as a name or in decimal, and read back */
	for (p = 0; p < 256; p++) {
		const char *name = net_proto_name((uint8_t)p);

		snprintf(num, sizeof(num), "%d", p);
		CHECK(proto_is(num, NET_PROTO_NUMBER, p));
		CHECK(net_proto_name_len((uint8_t)p) == strlen(name));
		CHECK(proto_is(name, NET_PROTO_NUMBER, p));
		if (name[0] >= '0' && name[0] <= '9')
			CHECK(!strcmp(name, num) && proto_is(num, 0, -1));
	}
	CHECK(!strcmp(net_proto_name(0), "0") && !strcmp(net_proto_name(253), "253"));

	/* numbers: digits only, 0..255, no leading zero */
	CHECK(proto_is("256", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("1000", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("-1", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("+6", NET_PROTO_NUMBER, -1));
	CHECK(proto_is(" 6", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("6 ", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("06", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("00", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("0", NET_PROTO_NUMBER, 0));
	CHECK(proto_is("", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("6", 0, -1)); /* names only without the flag */

	/* names: exact, case only with NET_PROTO_ICASE */
	CHECK(proto_is("tcpx", NET_PROTO_NUMBER, -1));
	CHECK(proto_is("tc", NET_PROTO_NUMBER, -1));
	CHECK(proto_is(" tcp", 0, -1));
	CHECK(proto_is("tcp ", 0, -1));
	CHECK(proto_is("TCP", 0, -1));
	CHECK(proto_is("TCP", NET_PROTO_ICASE, 6));
	CHECK(proto_is("IPv6-ICMP", NET_PROTO_ICASE, 58));
	CHECK(proto_is("ICMPv6", NET_PROTO_ICASE | NET_PROTO_NUMBER, 58));
	/* the length bounds the name: no terminator needed */
	{
		uint8_t v = 0;

		CHECK(net_proto_parse("udpx", 3, 0, &v) == 0 && v == 17);
		CHECK(net_proto_parse("1234", 2, NET_PROTO_NUMBER, &v) == 0 && v == 12);
		CHECK(net_proto_parse("tcp\0", 4, 0, &v) == -EINVAL);
	}
}

int main(void)
{
	test_parse_format();
	test_addr_format();
	test_contains();
	test_overlap_cmp();
	test_from();
	test_protocols();
	return check_report("test_net");
}
