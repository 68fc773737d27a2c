// SPDX-License-Identifier: GPL-2.0
/* Listen addresses from the config, shared by guarder-api and the WebSocket feed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/listen.h"
#include "lib/log.h"

int listen_resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
		   unsigned int *port, bool *loopback)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	char host[300];
	const char *colon = strrchr(listen, ':');
	size_t n;
	int rc;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - listen);
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen, n);
	host[n] = '\0';
	if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	*port = (unsigned int)strtoul(colon + 1, NULL, 10);
	if (!host[0]) {
		/* ":port": every address, IPv6 and IPv4 on one dual-stack socket */
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		memset(ss, 0, sizeof(*ss));
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;
		a->sin6_port = htons((uint16_t)*port);
		*sslen = sizeof(*a);
		*loopback = false;
		return 0;
	}
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		log_error("%s: cannot resolve %s: %s", listen, host, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		*loopback = (ntohl(((struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	else
		*loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ss)->sin6_addr);
	return 0;
}

