/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GUARDER_LISTEN_H
#define GUARDER_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * listen_resolve - a checked listen address ("host:port", "[v6]:port",
 * ":port", as config.c's check_listen accepts) as a socket address to
 * bind. ":port" is every address on one dual-stack IPv6 socket.
 * *@loopback is true when the address is loopback (127/8 or ::1): the
 * only binds allowed without api.token. Returns 0, or -EINVAL when the
 * host does not resolve (logged with @listen).
 */
int listen_resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
		   unsigned int *port, bool *loopback);

#endif /* GUARDER_LISTEN_H */
