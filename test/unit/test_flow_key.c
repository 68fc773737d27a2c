// SPDX-License-Identifier: GPL-2.0
/*
 * flow_key_make(): both directions of a conversation give one key, byte
 * for byte (padding included), ordered by the big-endian value of the
 * addresses and then by port; and record_format_key() agrees.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/conn_tracker.h"
#include "lib/record.h"
#include "check.h"

/*
 * Make the key for a -> b and for b -> a, in buffers pre-filled with
 * different garbage, and check they are identical. Returns the a -> b dir.
 */
static int both_ways(const char *a, __u16 ap, const char *b, __u16 bp, __u8 proto,
		     struct flow_key *out)
{
	__u32 x[4], y[4];
	struct flow_key k1, k2;
	int d1, d2;

	test_addr(a, x);
	test_addr(b, y);
	memset(&k1, 0xaa, sizeof(k1));
	memset(&k2, 0x55, sizeof(k2));
	d1 = flow_key_make(&k1, x, ap, y, bp, proto, strchr(a, ':') ? 6 : 4);
	d2 = flow_key_make(&k2, y, bp, x, ap, proto, strchr(a, ':') ? 6 : 4);
	CHECK(d1 == 0 || d1 == 1);
	/* a flow from an endpoint to itself is direction 0 both ways */
	if (ap == bp && !memcmp(x, y, sizeof(x)))
		CHECK(d1 == 0 && d2 == 0);
	else
		CHECK(d2 == !d1);
	CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0);
	CHECK(k1.pad[0] == 0 && k1.pad[1] == 0);
	CHECK(k1.proto == proto);
	CHECK(k1.family == (strchr(a, ':') ? 6 : 4));
	*out = k1;
	return d1;
}

static void check_lo(const struct flow_key *k, const char *lo, __u16 lport, const char *hi,
		     __u16 hport)
{
	__u32 l[4], h[4];

	test_addr(lo, l);
	test_addr(hi, h);
	CHECK(memcmp(k->addr_lo, l, sizeof(l)) == 0);
	CHECK(memcmp(k->addr_hi, h, sizeof(h)) == 0);
	CHECK(k->port_lo == lport);
	CHECK(k->port_hi == hport);
}

static void check_key_text(const char *a, __u16 ap, const char *b, __u16 bp, __u8 proto,
			   const char *want)
{
	char t1[RECORD_KEY_MAX], t2[RECORD_KEY_MAX];
	__u32 x[4], y[4];
	struct flow_key k1, k2;
	int n1, n2;

	test_addr(a, x);
	test_addr(b, y);
	flow_key_make(&k1, x, ap, y, bp, proto, strchr(a, ':') ? 6 : 4);
	flow_key_make(&k2, y, bp, x, ap, proto, strchr(a, ':') ? 6 : 4);
	n1 = record_format_key(&k1, t1, sizeof(t1));
	n2 = record_format_key(&k2, t2, sizeof(t2));
	CHECK(n1 > 0 && n1 == n2);
	CHECK(strcmp(t1, t2) == 0);
	if (strcmp(t1, want)) {
		fprintf(stderr, "key text: got '%s', want '%s'\n", t1, want);
		failures++;
	}
	CHECK(n1 == (int)strlen(want));
	/* one byte short of the terminating NUL is too small */
	CHECK(record_format_key(&k1, t1, strlen(want)) == -ENOSPC);
	CHECK(t1[0] == '\0');
}

int main(void)
{
	struct flow_key k;

	/* dir: 0 when the source sorts first */
	CHECK(both_ways("10.0.0.1", 40000, "10.0.0.2", 80, 6, &k) == 0);
	check_lo(&k, "10.0.0.1", 40000, "10.0.0.2", 80);
	CHECK(both_ways("10.0.0.2", 80, "10.0.0.1", 40000, 6, &k) == 1);
	check_lo(&k, "10.0.0.1", 40000, "10.0.0.2", 80);

	/*
	 * Big-endian order: 1.0.0.2 < 2.0.0.1 as numbers, although the
	 * raw little-endian words compare the other way round.
	 */
	CHECK(both_ways("2.0.0.1", 1, "1.0.0.2", 2, 17, &k) == 1);
	check_lo(&k, "1.0.0.2", 2, "2.0.0.1", 1);
	CHECK(both_ways("10.0.0.255", 9, "10.0.1.0", 9, 17, &k) == 0);
	check_lo(&k, "10.0.0.255", 9, "10.0.1.0", 9);
	/* a difference only in the last 32-bit word of an IPv6 address */
	CHECK(both_ways("2001:db8::1:0", 5, "2001:db8::ff", 5, 6, &k) == 1);
	check_lo(&k, "2001:db8::ff", 5, "2001:db8::1:0", 5);

	/* IPv4-mapped (::ffff:a.b.c.d) sorts after ::1 and before 2001:db8:: */
	CHECK(both_ways("192.0.2.1", 1000, "2001:db8::1", 53, 17, &k) == 0);
	check_lo(&k, "192.0.2.1", 1000, "2001:db8::1", 53);
	CHECK(both_ways("192.0.2.1", 1000, "::1", 53, 17, &k) == 1);
	check_lo(&k, "::1", 53, "192.0.2.1", 1000);

	/* equal addresses: the port decides, numerically (host order) */
	CHECK(both_ways("127.0.0.1", 256, "127.0.0.1", 255, 6, &k) == 1);
	check_lo(&k, "127.0.0.1", 255, "127.0.0.1", 256);
	CHECK(both_ways("::1", 1, "::1", 2, 6, &k) == 0);
	/* a flow to itself: same endpoint both ways, dir 0 */
	CHECK(both_ways("10.1.1.1", 7, "10.1.1.1", 7, 17, &k) == 0);

	/* the protocol separates flows with the same endpoints */
	{
		struct flow_key t, u;

		both_ways("10.0.0.1", 53, "10.0.0.2", 53, 6, &t);
		both_ways("10.0.0.1", 53, "10.0.0.2", 53, 17, &u);
		CHECK(memcmp(&t, &u, sizeof(t)) != 0);
	}

	check_key_text("10.0.0.2", 80, "10.0.0.1", 40000, 6, "6|10.0.0.1|40000|10.0.0.2|80");
	check_key_text("2001:db8::1", 53, "2001:db8::2", 33333, 17,
		       "17|2001:db8::1|53|2001:db8::2|33333");
	/* An IPv6 key keeps a mapped address in its IPv6 form (never the IPv4 flow's text). */
	check_key_text("fe80::1", 0, "192.168.1.1", 0, 58, "58|::ffff:192.168.1.1|0|fe80::1|0");
	check_key_text("10.0.0.2", 80, "10.0.0.1", 40000, 17, "17|10.0.0.1|40000|10.0.0.2|80");

	return check_report("test_flow_key");
}
