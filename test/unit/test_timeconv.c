// SPDX-License-Identifier: GPL-2.0
/*
 * Wall-clock conversion and RFC 3339 formatting. The defect we must not
 * repeat: converting a kernel stamp as "now - stamp" yields about the boot
 * time; a stamp taken 5 s ago must read as 5 s ago.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/timeconv.h"
#include "check.h"

#define NS UINT64_C(1000000000)

static void check_fmt(uint64_t wall_ns, const char *want)
{
	char buf[64];
	int n;

	memset(buf, 'x', sizeof(buf));
	n = format_rfc3339_ns(wall_ns, buf, sizeof(buf));
	if (n != (int)strlen(want) || strcmp(buf, want)) {
		fprintf(stderr, "format %" PRIu64 ": got '%s' (%d), want '%s'\n", wall_ns, buf, n,
			want);
		failures++;
	}
}

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * (int64_t)NS + ts.tv_nsec;
}

static int64_t absdiff(int64_t a, int64_t b)
{
	return a > b ? a - b : b - a;
}

/* Compare with glibc's gmtime_r/strftime over a spread of instants. */
static void check_against_gmtime(void)
{
	uint64_t s = 88172645463325252ull;
	int i;

	for (i = 0; i < 20000; i++) {
		char want[64], got[64], frac[16];
		struct tm tm;
		uint64_t wall;
		time_t t;

		/* xorshift: deterministic, covers 1970..2554 */
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		wall = s % 18446744073000000000ull;
		t = (time_t)(wall / NS);
		gmtime_r(&t, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(frac, sizeof(frac), ".%09" PRIu64 "Z", wall % NS);
		strcat(want, frac);
		format_rfc3339_ns(wall, got, sizeof(got));
		if (strcmp(want, got)) {
			fprintf(stderr, "format %" PRIu64 ": got '%s', want '%s'\n", wall, got,
				want);
			failures++;
			return;
		}
	}
}

int main(void)
{
	struct clock_base cb, cb2;
	int64_t real, mono, wall;
	char buf[RFC3339_NS_LEN];

	check_fmt(0, "1970-01-01T00:00:00.000000000Z");
	check_fmt(1, "1970-01-01T00:00:00.000000001Z");
	check_fmt(1709210096ull * NS + 123456789, "2024-02-29T12:34:56.123456789Z");
	check_fmt(951782400ull * NS, "2000-02-29T00:00:00.000000000Z");
	check_fmt(4107542400ull * NS - 1, "2100-02-28T23:59:59.999999999Z");
	check_fmt(4107542400ull * NS, "2100-03-01T00:00:00.000000000Z");
	check_fmt(946684799ull * NS + 999999999, "1999-12-31T23:59:59.999999999Z");
	check_fmt(2147483648ull * NS + 5, "2038-01-19T03:14:08.000000005Z");
	check_fmt(UINT64_MAX, "2554-07-21T23:34:33.709551615Z");
	check_against_gmtime();

	/* the buffer bound: 31 bytes fit, 30 do not, and nothing is left behind */
	CHECK(format_rfc3339_ns(0, buf, RFC3339_NS_LEN) == RFC3339_NS_LEN - 1);
	memset(buf, 'x', sizeof(buf));
	CHECK(format_rfc3339_ns(0, buf, RFC3339_NS_LEN - 1) == -ENOSPC);
	CHECK(buf[0] == '\0');
	CHECK(format_rfc3339_ns(0, buf, 0) == -ENOSPC);

	/* mono -> wall: the offset, not the age */
	CHECK(clock_base_sample(&cb) == 0);
	real = now_ns(CLOCK_REALTIME);
	mono = now_ns(CLOCK_MONOTONIC);
	wall = (int64_t)clock_mono_to_wall_ns(&cb, (uint64_t)mono);
	CHECK(absdiff(wall, real) < 5000000); /* 5 ms: generous for a loaded CI box */

	/* a stamp taken 5 s ago reads as now - 5 s ... */
	wall = (int64_t)clock_mono_to_wall_ns(&cb, (uint64_t)(mono - 5 * (int64_t)NS));
	CHECK(absdiff(wall, real - 5 * (int64_t)NS) < 5000000);
	/* ... and not as "now - stamp", which is about the boot time */
	CHECK(absdiff(wall, real - mono) > (int64_t)NS);

	/* clock_mono_now_ns is CLOCK_MONOTONIC */
	CHECK(absdiff((int64_t)clock_mono_now_ns(), now_ns(CLOCK_MONOTONIC)) < 5000000);

	/* two samples agree (the offset only moves when the clock is stepped) */
	CHECK(clock_base_sample(&cb2) == 0);
	CHECK(absdiff(cb.real_minus_mono_ns, cb2.real_minus_mono_ns) < 1000000);

	/* an offset that would go before the epoch clamps to 0 */
	cb2.real_minus_mono_ns = -1000;
	CHECK(clock_mono_to_wall_ns(&cb2, 999) == 0);
	CHECK(clock_mono_to_wall_ns(&cb2, 1500) == 500);

	return check_report("test_timeconv");
}
