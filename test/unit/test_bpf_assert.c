// SPDX-License-Identifier: GPL-2.0
/*
 * The 'bpf' suite's ASSERT_* (test/bpf/bpftest_assert.h) without BPF: they
 * compare exactly whatever the operands' signedness, fail when they
 * should, say so once with both values, and evaluate each operand once.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <linux/types.h>

#include "check.h"
#include "test/bpf/bpftest_assert.h"

static int reports;
static char last_got[48], last_want[48], last_op[4];

/* The harness's reporter, recording instead of printing. */
void test_fail_here(const char *file, int line, const char *name, struct test_val got,
		    struct test_val want, const char *op)
{
	(void)file;
	(void)line;
	(void)name;
	reports++;
	test_val_format(got, last_got, sizeof(last_got));
	test_val_format(want, last_want, sizeof(last_want));
	snprintf(last_op, sizeof(last_op), "%s", op);
}

/* @held: what the ASSERT_* returned; @want: whether it should hold. */
static void expect(bool held, bool want, int line)
{
	static int seen;

	if (held != want)
		fprintf(stderr, "line %d: assertion %s, should have %s\n", line,
			held ? "held" : "failed", want ? "held" : "failed");
	CHECK(held == want);
	seen += !want;
	if (reports != seen)
		fprintf(stderr, "line %d: %d failure reports, want %d\n", line, reports, seen);
	CHECK(reports == seen);
	reports = seen;
}

#define HOLDS(a) expect((a), true, __LINE__)
#define FAILS(a) expect((a), false, __LINE__)

static void test_signedness_kept(void)
{
	int rc = -EINVAL;
	long long big = LLONG_MAX;
	__u32 all_ones = 0xffffffffu;

	FAILS(ASSERT_GE(rc, 0, "negative rc"));
	FAILS(ASSERT_GE(-1, 0u, "negative vs unsigned zero"));
	FAILS(ASSERT_EQ(all_ones, -1, "u32 all ones is not -1"));
	FAILS(ASSERT_EQ(-1, ULLONG_MAX, "-1 is not ULLONG_MAX"));
	FAILS(ASSERT_GE(LLONG_MIN, 0ull, "LLONG_MIN"));
	FAILS(ASSERT_GE(big, ULLONG_MAX, "LLONG_MAX below ULLONG_MAX"));
	FAILS(ASSERT_GE((signed char)-1, (unsigned char)0, "signed char"));
	FAILS(ASSERT_OK(-ENOENT, "error code"));
	FAILS(ASSERT_NEQ(3ull, 3, "equal across types"));
	FAILS(ASSERT_TRUE(0, "false"));
	HOLDS(ASSERT_GE(0u, -1, "unsigned zero above -1"));
	HOLDS(ASSERT_GE(ULLONG_MAX, big, "ULLONG_MAX above LLONG_MAX"));
	HOLDS(ASSERT_GE(-2, -3, "both negative"));
	HOLDS(ASSERT_EQ(3ull, 3, "3 is 3"));
	HOLDS(ASSERT_EQ((__u8)200, 200, "promoted u8"));
	HOLDS(ASSERT_EQ(true, 1, "bool"));
	HOLDS(ASSERT_NEQ(-1, ULLONG_MAX, "-1 and ULLONG_MAX differ"));
	HOLDS(ASSERT_OK(0, "zero"));
	HOLDS(ASSERT_TRUE(7, "non-zero"));
}

static void test_report(void)
{
	int rc = -EINVAL;

	FAILS(ASSERT_GE(rc, 0, "report"));
	CHECK(!strcmp(last_got, "-22"));
	CHECK(!strcmp(last_want, "0 (0x0)"));
	CHECK(!strcmp(last_op, ">="));
	FAILS(ASSERT_EQ(0xffffffffu, 1, "report"));
	CHECK(!strcmp(last_got, "4294967295 (0xffffffff)"));
	CHECK(!strcmp(last_want, "1 (0x1)"));
	CHECK(!strcmp(last_op, "=="));
	FAILS(ASSERT_EQ(ULLONG_MAX, LLONG_MIN, "report"));
	CHECK(!strcmp(last_got, "18446744073709551615 (0xffffffffffffffff)"));
	CHECK(!strcmp(last_want, "-9223372036854775808"));
}

static void test_evaluated_once(void)
{
	int i = 0, j = 5;

	HOLDS(ASSERT_EQ(i++, 0, "once"));
	FAILS(ASSERT_EQ(j--, 0, "once"));
	CHECK(i == 1);
	CHECK(j == 4);
}

int main(void)
{
	test_signedness_kept();
	test_report();
	test_evaluated_once();
	return check_report("test_bpf_assert");
}
