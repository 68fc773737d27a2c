/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ASSERT_* of the 'bpf' suite, apart from the harness so that a unit
 * test (test/unit/test_bpf_assert.c) can check them without BPF. Operands
 * keep their signedness: ASSERT_GE(rc, 0) fails for rc = -EINVAL, and a
 * failure prints a negative value as one. The harness (or the unit test)
 * defines test_fail_here().
 */
#ifndef GUARDER_BPFTEST_ASSERT_H
#define GUARDER_BPFTEST_ASSERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * One operand of an ASSERT_*, its signedness kept: s when the operand's
 * type is signed, u when it is unsigned. Comparing two of them is exact
 * (test_val_cmp), so a negative error code is less than 0 and never equal
 * to an unsigned value, whatever the other operand's type.
 */
struct test_val {
	bool is_signed;
	union {
		long long s;
		unsigned long long u;
	};
};

static inline struct test_val test_val_s(long long v)
{
	return (struct test_val){ .is_signed = true, .s = v };
}

static inline struct test_val test_val_u(unsigned long long v)
{
	return (struct test_val){ .is_signed = false, .u = v };
}

static inline struct test_val test_val_char(char v)
{
	return (char)-1 < 0 ? test_val_s(v) : test_val_u((unsigned char)v);
}

/*
 * An integer operand as a struct test_val. Any other type (a pointer, a
 * double, a struct) does not compile: no association matches. One type a
 * line by hand: clang-format cannot lay _Generic out.
 */
/* clang-format off */
#define TEST_VAL(x)                                \
	_Generic((x),                              \
		char: test_val_char,               \
		signed char: test_val_s,           \
		short: test_val_s,                 \
		int: test_val_s,                   \
		long: test_val_s,                  \
		long long: test_val_s,             \
		_Bool: test_val_u,                 \
		unsigned char: test_val_u,         \
		unsigned short: test_val_u,        \
		unsigned int: test_val_u,          \
		unsigned long: test_val_u,         \
		unsigned long long: test_val_u)(x)
/* clang-format on */

/* test_val_cmp - <0, 0 or >0 as @a is mathematically below, equal to or above @b. */
static inline int test_val_cmp(struct test_val a, struct test_val b)
{
	bool a_neg = a.is_signed && a.s < 0, b_neg = b.is_signed && b.s < 0;

	if (a_neg != b_neg)
		return a_neg ? -1 : 1;
	if (a_neg)
		return a.s < b.s ? -1 : a.s > b.s;
	return a.u < b.u ? -1 : a.u > b.u; /* both >= 0: u holds s's value */
}

/*
 * test_val_format - @v as a failure report shows it: "-22" when negative,
 * "4294967295 (0xffffffff)" otherwise. Returns what snprintf returns.
 */
static inline int test_val_format(struct test_val v, char *buf, size_t len)
{
	if (v.is_signed && v.s < 0)
		return snprintf(buf, len, "%lld", v.s);
	return snprintf(buf, len, "%llu (0x%llx)", v.u, v.u);
}

/* Report a failed ASSERT_*: both values printed in their own signedness. */
void test_fail_here(const char *file, int line, const char *name, struct test_val got,
		    struct test_val want, const char *op);

/*
 * ASSERT_* compare integers of any types exactly (no conversion to a
 * common type), report a failure with both values, and return whether it
 * held, so that a test can stop at a failed step: return ASSERT_EQ(...).
 */
#define ASSERT_OP(got, want, op, name)                                             \
	({                                                                         \
		struct test_val ___g = TEST_VAL(got);                              \
		struct test_val ___w = TEST_VAL(want);                             \
		bool ___ok = test_val_cmp(___g, ___w) op 0;                        \
		if (!___ok)                                                        \
			test_fail_here(__FILE__, __LINE__, name, ___g, ___w, #op); \
		___ok;                                                             \
	})
#define ASSERT_EQ(got, want, name)  ASSERT_OP(got, want, ==, name)
#define ASSERT_NEQ(got, want, name) ASSERT_OP(got, want, !=, name)
#define ASSERT_GE(got, want, name)  ASSERT_OP(got, want, >=, name)
#define ASSERT_LE(got, want, name)  ASSERT_OP(got, want, <=, name)
#define ASSERT_TRUE(cond, name)	    ASSERT_OP(!!(cond), 1, ==, name)
#define ASSERT_OK(rc, name)	    ASSERT_OP(rc, 0, ==, name)

#endif /* GUARDER_BPFTEST_ASSERT_H */
