// SPDX-License-Identifier: GPL-2.0
/*
 * Monotonic to wall-clock conversion and RFC 3339 formatting.
 *
 * The kernel stamps flows with bpf_ktime_get_ns(), i.e. CLOCK_MONOTONIC.
 * The moment a stamp stands for is stamp + (REALTIME - MONOTONIC), with
 * the offset measured now. (The tool we rebuild computed now - stamp and
 * printed roughly the boot time.)
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "timeconv.h"

#define NSEC_PER_SEC  1000000000ull
#define CLOCK_SAMPLES 5

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * (int64_t)NSEC_PER_SEC + ts->tv_nsec;
}

int clock_base_sample(struct clock_base *cb)
{
	int64_t best_width = INT64_MAX, best_off = 0;
	int i;

	/*
	 * A pre-emption between the readings widens the window; the
	 * narrowest REALTIME/MONOTONIC/REALTIME triple is the best estimate.
	 */
	for (i = 0; i < CLOCK_SAMPLES; i++) {
		struct timespec r1, m, r2;
		int64_t width;

		if (clock_gettime(CLOCK_REALTIME, &r1) || clock_gettime(CLOCK_MONOTONIC, &m) ||
		    clock_gettime(CLOCK_REALTIME, &r2))
			return -errno;
		width = ts_ns(&r2) - ts_ns(&r1);
		if (width < 0) /* the clock was stepped between the reads */
			continue;
		if (width < best_width) {
			best_width = width;
			best_off = ts_ns(&r1) + width / 2 - ts_ns(&m);
		}
	}
	if (best_width == INT64_MAX)
		return -EAGAIN;
	cb->real_minus_mono_ns = best_off;
	return 0;
}

uint64_t clock_mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts_ns(&ts);
}

uint64_t clock_mono_to_wall_ns(const struct clock_base *cb, uint64_t mono_ns)
{
	int64_t off = cb->real_minus_mono_ns;

	/* A wall clock set before the epoch would go negative: clamp. */
	if (off < 0 && (uint64_t)-off > mono_ns)
		return 0;
	return mono_ns + (uint64_t)off;
}

/*
 * Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days). Hand-written because gmtime_r() takes glibc's time
 * zone lock on every call and records are formatted at high rates.
 */
static void civil_from_days(int64_t z, int *year, unsigned int *month, unsigned int *day)
{
	int64_t era, y;
	unsigned int doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned int)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*day = doy - (153 * mp + 2) / 5 + 1;
	*month = mp < 10 ? mp + 3 : mp - 9;
	*year = (int)(y + (*month <= 2));
}

static char *put_digits(char *p, unsigned int v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

int format_rfc3339_ns(uint64_t wall_ns, char *buf, size_t len)
{
	uint64_t secs = wall_ns / NSEC_PER_SEC;
	unsigned int frac = (unsigned int)(wall_ns % NSEC_PER_SEC);
	unsigned int sod = (unsigned int)(secs % 86400), month, day;
	int year;
	char *p = buf;

	if (len < RFC3339_NS_LEN) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	/* 2^64 ns is in the year 2554: four digits always suffice. */
	civil_from_days((int64_t)(secs / 86400), &year, &month, &day);
	p = put_digits(p, (unsigned int)year, 4);
	*p++ = '-';
	p = put_digits(p, month, 2);
	*p++ = '-';
	p = put_digits(p, day, 2);
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	*p++ = '.';
	p = put_digits(p, frac, 9);
	*p++ = 'Z';
	*p = '\0';
	return (int)(p - buf);
}
