/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the unit tests share: CHECK() counts a failure and goes on, so one
 * run reports every broken expectation; test_addr() parses an address the
 * way the kernel stores it; check_report() closes a test binary.
 */
#ifndef GUARDER_TEST_CHECK_H
#define GUARDER_TEST_CHECK_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/types.h>

static int failures;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                              \
		}                                                                                \
	} while (0)

/* An IPv4 or IPv6 address as 16 bytes, IPv4 mapped (::ffff:a.b.c.d). */
static inline void test_addr(const char *text, __u32 out[4])
{
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1) {
		out[0] = 0;
		out[1] = 0;
		out[2] = htonl(0xffff);
		out[3] = a4.s_addr;
		return;
	}
	if (inet_pton(AF_INET6, text, out) != 1) {
		fprintf(stderr, "bad address in test: %s\n", text);
		exit(1);
	}
}

/* check_report - the closing line; returns the exit status. */
static inline int check_report(const char *name)
{
	if (failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

#endif /* GUARDER_TEST_CHECK_H */
