// SPDX-License-Identifier: GPL-2.0
/*
 * guarder-api: the REST API of Guarder. Serves the flows, ICMP view and
 * counters from the maps the collector pinned, and owns the filter rule
 * set (rules file + kernel rule maps). See docs/api.md.
 *
 * Safe by default: binds 127.0.0.1:8080; refuses to bind anything but a
 * loopback address without api.token. Exit status 0 after SIGINT/SIGTERM,
 * 1 on any start-up error.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "api.h"
#include "http.h"
#include "lib/cmdline.h"
#include "lib/listen.h"
#include "lib/log.h"
#include "lib/log_libbpf.h"

#ifndef GUARDER_VERSION
#error "GUARDER_VERSION comes from meson.build (project version)"
#endif

struct options {
	struct cmdline_daemon cmd;
	const char *api;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: guarder-api [options]\n"
		"\n"
		"Serve the Guarder REST API: flows and counters from the maps pinned by\n"
		"guarder-collector, and the filter rules (docs/api.md).\n"
		"\n"
		"Options (one or two leading dashes; -name value or -name=value):\n"
		"  -c, -config FILE   read FILE instead of %s\n"
		"  -api ADDR          listen address, host:port, [ipv6]:port or :port (api.listen)\n"
		"  -check-config      validate the config and flags, print the effective\n"
		"                     config (secrets redacted) and exit\n"
		"  -v, -verbose       debug logging\n"
		"  -version           print the version and exit\n"
		"  -h, -help          this text\n"
		"\n"
		"Binding an address other than loopback needs api.token.\n",
		GUARDER_CONFIG_DEFAULT_PATH);
}

/*
 * parse_args - the collector's flag syntax (lib/cmdline.h). Returns 0 to
 * run, 1 when --help or --version was served, or -EINVAL.
 */
static int parse_args(int argc, char **argv, struct options *o)
{
	static char version[128];
	const struct cmdline_opt opts[] = {
		{ .name = "api", .value = &o->api },
		{ 0 },
	};

	snprintf(version, sizeof(version), "%s (libmicrohttpd %s)", GUARDER_VERSION,
		 MHD_get_version());
	o->cmd = (struct cmdline_daemon){ .prog = "guarder-api",
					  .version = version,
					  .usage = usage };
	return cmdline_daemon_parse(&o->cmd, argc, argv, opts);
}

static int load_config(struct guarder_config *cfg, const struct options *o)
{
	int err = config_open(cfg, o->cmd.config_path);

	if (err)
		return err;
	if (o->api)
		err = config_set(cfg, "api.listen", o->api, "-api");
	if (!err && cfg->api.default_limit > cfg->api.max_limit) {
		log_error("%s: api.default_limit (%u) is above api.max_limit (%u)", cfg->source,
			  cfg->api.default_limit, cfg->api.max_limit);
		err = -EINVAL;
	}
	/* config_init succeeded: @cfg owns strings even when a later step failed. */
	if (err)
		config_free(cfg);
	return err;
}

static int open_listener(const struct sockaddr_storage *ss, socklen_t len, const char *where)
{
	int fd, one = 1, zero = 0, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 1024)) {
		err = -errno;
		log_error("cannot listen on %s: %s", where, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct guarder_config cfg;
	struct sockaddr_storage ss;
	struct rule_store *store = NULL;
	struct flow_maps *maps = NULL;
	struct http_server *srv = NULL;
	struct ai_service *ai = NULL;
	unsigned int port = 0;
	bool loopback = false;
	socklen_t sslen = 0;
	sigset_t set;
	int rc, fd, sig;

	log_init("guarder-api", LOG_LVL_INFO);
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 1;
	log_libbpf_route();
	if (load_config(&cfg, &o))
		return 1;
	if (listen_resolve(cfg.api.listen, &ss, &sslen, &port, &loopback)) {
		config_free(&cfg);
		return 1;
	}
	if (!loopback && !cfg.api.token) {
		log_error("refusing to listen on %s without api.token: every client on the "
			  "network could change the filter rules; set api.token (e.g. "
			  "token: ${GUARDER_API_TOKEN}) or listen on 127.0.0.1",
			  cfg.api.listen);
		config_free(&cfg);
		return 1;
	}
	if (o.cmd.check_config) {
		config_dump(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}

	/* Signals are taken with sigwait below; the HTTP threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = 1;
	if (store_open(&cfg, &store) || flow_maps_init(&cfg, &maps) ||
	    ai_open(&cfg, store, maps, &ai))
		goto out;
	fd = open_listener(&ss, sslen, cfg.api.listen);
	if (fd < 0)
		goto out;
	if (http_start(&cfg, fd, port, loopback, store, maps, ai, &srv)) {
		close(fd);
		goto out;
	}
	log_info("listening on http://%s (%s%s); Ctrl-C or SIGTERM stops", cfg.api.listen,
		 cfg.api.token ? "bearer token required" : "no token",
		 loopback ? ", loopback: Host header checked" : "");
	if (sigwait(&set, &sig) == 0)
		log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc = 0;
out:
	ai_quiesce(ai); /* no suspended connection may outlive the HTTP server */
	http_stop(srv);
	ai_close(ai);
	flow_maps_free(maps);
	store_close(store);
	config_free(&cfg);
	return rc;
}
