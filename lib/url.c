// SPDX-License-Identifier: GPL-2.0
/* The check of URLs guarder calls (url.h). */
#include <string.h>

#include "errmsg.h"
#include "url.h"

int url_check_http(const char *url, char *why, size_t why_len)
{
	const char *host, *p;
	size_t authority;

	if (!strncmp(url, "http://", 7))
		host = url + 7;
	else if (!strncmp(url, "https://", 8))
		host = url + 8;
	else
		return errmsg_inval(why, why_len, "must start with http:// or https://");
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("\"<>\\^`{|}", *p))
			return errmsg_inval(why, why_len,
					    "contains a character a URL cannot hold (byte %zu)",
					    (size_t)(p - url));
	authority = strcspn(host, "/?#");
	if (!authority)
		return errmsg_inval(why, why_len, "has no host");
	if (memchr(host, '@', authority))
		return errmsg_inval(why, why_len,
				    "must not hold a user name or password (user:password@host): "
				    "the key goes in ai.model.api_key");
	if (strchr(host, '#'))
		return errmsg_inval(why, why_len, "must not have a fragment (#...)");
	return 0;
}
