// SPDX-License-Identifier: GPL-2.0
/*
 * The flag parser (lib/cmdline.h): values after a space or "=", one or
 * two dashes, aliases, the last value winning, refusals of unknown flags,
 * stray arguments and missing or unwanted values; and the daemons' common
 * flags: -c/-config, -check-config, -v (log level to debug), -version and
 * -help served with 1, the program's own flags next to them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cmdline.h"
#include "log.h"

static int usage_calls;

static void usage(FILE *out)
{
	usage_calls++;
	fputs("usage text\n", out);
}

static int run(struct cmdline_daemon *d, const struct cmdline_opt *opts, int argc, char **argv)
{
	*d = (struct cmdline_daemon){ .prog = "prog", .version = "9.9 (libx 1.0)", .usage = usage };
	return cmdline_daemon_parse(d, argc, argv, opts);
}

/* Whether log_debug() prints now: stderr to a file for one line. */
static bool debug_prints(void)
{
	char path[] = "/tmp/test_cmdline.XXXXXX", buf[64] = "";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	if (fd < 0 || saved < 0)
		exit(1);
	fflush(stderr);
	dup2(fd, 2);
	log_debug("probe");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	return n > 0 && strstr(buf, "probe");
}

static void test_plain(void)
{
	const char *iface = NULL, *api = NULL;
	bool detach = false;
	const struct cmdline_opt opts[] = {
		{ .name = "iface", .value = &iface },
		{ .name = "api", .alias = "a", .value = &api },
		{ .name = "detach", .set = &detach },
		{ 0 },
	};
	char *ok[] = { "p", "-iface", "eth0", "--api=:8080", "-detach", "-iface=eth1", NULL };
	char *alias[] = { "p", "-a", ":1", NULL };
	char *stray[] = { "p", "eth0", NULL };
	char *dashes[] = { "p", "--", NULL };
	char *unknown[] = { "p", "-nope", NULL };
	char *no_value[] = { "p", "-iface", NULL };
	char *valued_switch[] = { "p", "-detach=yes", NULL };
	char *common[] = { "p", "-config", "x", NULL };

	CHECK(cmdline_parse("p", 6, ok, opts) == 0);
	CHECK(iface && !strcmp(iface, "eth1"));
	CHECK(api && !strcmp(api, ":8080"));
	CHECK(detach);
	CHECK(cmdline_parse("p", 3, alias, opts) == 0 && !strcmp(api, ":1"));
	CHECK(cmdline_parse("p", 2, stray, opts) == -EINVAL);
	CHECK(cmdline_parse("p", 2, dashes, opts) == -EINVAL);
	CHECK(cmdline_parse("p", 2, unknown, opts) == -EINVAL);
	CHECK(cmdline_parse("p", 2, no_value, opts) == -EINVAL);
	CHECK(cmdline_parse("p", 2, valued_switch, opts) == -EINVAL);
	/* the daemons' flags exist only through cmdline_daemon_parse */
	CHECK(cmdline_parse("p", 3, common, opts) == -EINVAL);
}

static void test_daemon(void)
{
	const char *stats = NULL;
	bool drain = false;
	const struct cmdline_opt opts[] = {
		{ .name = "stats-file", .value = &stats },
		{ .name = "drain", .set = &drain },
		{ 0 },
	};
	const struct cmdline_opt none[] = { { 0 } };
	struct cmdline_daemon d;
	char *all[] = { "p", "-c", "/a.yaml", "--stats-file=/s", "-check-config", "-drain", NULL };
	char *quiet[] = { "p", "-config=/b.yaml", NULL };
	char *verbose[] = { "p", "-v", NULL };
	char *help[] = { "p", "--help", "-nope", NULL };
	char *help_ok[] = { "p", "-h", NULL };
	char *version[] = { "p", "-version", NULL };
	char *valued[] = { "p", "-check-config=1", NULL };
	char *own[] = { "p", "-drain", NULL };

	log_init("test_cmdline", LOG_LVL_INFO);
	CHECK(run(&d, opts, 6, all) == 0);
	CHECK(d.config_path && !strcmp(d.config_path, "/a.yaml"));
	CHECK(stats && !strcmp(stats, "/s"));
	CHECK(d.check_config && drain && !d.verbose);
	CHECK(!debug_prints());

	CHECK(run(&d, opts, 2, quiet) == 0);
	CHECK(!strcmp(d.config_path, "/b.yaml") && !d.check_config);

	CHECK(run(&d, opts, 2, verbose) == 0);
	CHECK(d.verbose && !d.config_path);
	CHECK(debug_prints());
	log_set_level(LOG_LVL_INFO);

	/* a bad flag wins over -help: nothing printed, an error */
	usage_calls = 0;
	CHECK(run(&d, opts, 3, help) == -EINVAL);
	CHECK(usage_calls == 0);
	CHECK(run(&d, opts, 2, help_ok) == 1);
	CHECK(usage_calls == 1);
	CHECK(run(&d, opts, 2, version) == 1);
	CHECK(usage_calls == 1);
	CHECK(run(&d, opts, 2, valued) == -EINVAL);
	CHECK(run(&d, none, 2, own) == -EINVAL);
}

int main(void)
{
	test_plain();
	test_daemon();
	return check_report("test_cmdline");
}
