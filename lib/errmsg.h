/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Error messages for a caller's buffer: the "field: what is wrong" text
 * that the parsers and checks of lib/ write next to the negative errno
 * they return, and the excerpt that quotes untrusted input in them.
 */
#ifndef GUARDER_ERRMSG_H
#define GUARDER_ERRMSG_H

#include <stddef.h>

/*
 * errmsg_set - format a message into @buf of @len bytes (nothing when @buf
 * is NULL or @len is 0; always NUL-terminated otherwise, cut to fit).
 * Returns @rc, so a check reads "return errmsg_set(err, len, -ENOMEM, ...)".
 */
int errmsg_set(char *buf, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* errmsg_inval - errmsg_set() with rc -EINVAL: the usual "bad input" case. */
int errmsg_inval(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * errmsg_excerpt - a piece of untrusted text that is safe to quote in a
 * message, even one a caller embeds in a JSON string by hand: at most
 * @size - 1 bytes in @dst, printable ASCII kept except '"' and '\\',
 * tab, CR and LF as ' ', every other byte (NUL, control, non-ASCII) as
 * '?', and "..." when @s[0..@len) did not fit. Returns @dst ("" when
 * @size is 0 it writes nothing).
 */
const char *errmsg_excerpt(char *dst, size_t size, const char *s, size_t len);

#endif /* GUARDER_ERRMSG_H */
