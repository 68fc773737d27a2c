/* SPDX-License-Identifier: GPL-2.0 */
/*
 * URLs guarder is given to call: the model endpoint (ai.model.endpoint,
 * OPENAI_ENDPOINT, POST /api/ai/config). One check, so that what
 * --check-config accepts is what the daemons start with.
 */
#ifndef GUARDER_URL_H
#define GUARDER_URL_H

#include <stddef.h>

/*
 * url_check_http - whether @url is an http:// or https:// URL guarder may
 * call and show: a scheme of those two (lower case), a non-empty host, no
 * "user:password@" before the host (GET /api/ai/config shows the endpoint
 * and debug logs print it: a credential belongs in ai.model.api_key), no
 * fragment ("#..."), and only printable ASCII other than space and
 * " < > \ ^ ` { | }. A path and a query are fine ("?api-version=...").
 * Returns 0, or -EINVAL with the reason in @why ("must start with http://
 * or https://", "has no host", ...), meant to follow the setting's name.
 */
int url_check_http(const char *url, char *why, size_t why_len);

#endif /* GUARDER_URL_H */
