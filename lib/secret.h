/* SPDX-License-Identifier: GPL-2.0 */
/* Comparing secrets (api.token) without leaking them through timing. */
#ifndef GUARDER_SECRET_H
#define GUARDER_SECRET_H

#include <stdbool.h>
#include <string.h>

/*
 * secret_equal - whether @given equals @secret, in a time that depends only
 * on the length of @secret (not on where the first difference is). Used by
 * http_access.c for the token of guarder-api and of the WebSocket feed.
 */
static inline bool secret_equal(const char *given, const char *secret)
{
	size_t n = strlen(secret), g = strlen(given), i;
	unsigned char diff = g != n;

	for (i = 0; i < n; i++)
		diff |= (unsigned char)((i < g ? given[i] : 0) ^ secret[i]);
	return !diff;
}

#endif /* GUARDER_SECRET_H */
