// SPDX-License-Identifier: GPL-2.0
/* Error messages for a caller's buffer (errmsg.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"

static void vset(char *buf, size_t len, const char *fmt, va_list ap)
{
	if (buf && len)
		vsnprintf(buf, len, fmt, ap);
}

int errmsg_set(char *buf, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(buf, len, fmt, ap);
	va_end(ap);
	return rc;
}

int errmsg_inval(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(buf, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char safe_char(unsigned char c)
{
	if (c == '\t' || c == '\n' || c == '\r')
		return ' ';
	if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
		return (char)c;
	return '?';
}

const char *errmsg_excerpt(char *dst, size_t size, const char *s, size_t len)
{
	size_t keep, i;

	if (!size)
		return dst;
	/* What does not fit ends in "...", when there is room for it. */
	if (len < size)
		keep = len;
	else
		keep = size > 4 ? size - 4 : size - 1;
	for (i = 0; i < keep; i++)
		dst[i] = safe_char((unsigned char)s[i]);
	if (keep < len && size > 4) {
		memcpy(dst + keep, "...", 3);
		keep += 3;
	}
	dst[keep] = '\0';
	return dst;
}
