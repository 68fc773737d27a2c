/* SPDX-License-Identifier: GPL-2.0 */
/* The HTTP server of guarder-api: GNU libmicrohttpd, one listening socket. */
#ifndef GUARDER_API_HTTP_H
#define GUARDER_API_HTTP_H

#include "api.h"

struct http_server;

/*
 * http_start - serve the API on @listen_fd (bound and listening, owned by
 * the server from then on) with cfg->api.threads threads. @loopback says
 * whether the bind address is a loopback one: then the Host header must
 * name localhost, 127.0.0.1 or [::1] with @port (DNS rebinding). @ai
 * serves /api/ai (ai.c).
 * Returns 0 and *@out, or a negative errno (logged).
 */
int http_start(const struct guarder_config *cfg, int listen_fd, unsigned int port, bool loopback,
	       struct rule_store *store, struct flow_maps *maps, struct ai_service *ai,
	       struct http_server **out);

/* http_stop - stop serving, wait for the threads, free everything. */
void http_stop(struct http_server *srv);

#endif /* GUARDER_API_HTTP_H */
