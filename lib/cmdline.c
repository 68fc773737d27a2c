// SPDX-License-Identifier: GPL-2.0
/* Command-line flags of the Guarder programs (see cmdline.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "log.h"

static bool matches(const char *want, const char *name, size_t len)
{
	return want && strlen(want) == len && !strncmp(want, name, len);
}

/* The option called @name (@len bytes) in any of the @n tables, or NULL. */
static const struct cmdline_opt *find(const struct cmdline_opt *const *tables, size_t n,
				      const char *name, size_t len)
{
	const struct cmdline_opt *o;
	size_t t;

	for (t = 0; t < n; t++)
		for (o = tables[t]; o->name; o++)
			if (matches(o->name, name, len) || matches(o->alias, name, len))
				return o;
	return NULL;
}

static int parse(const char *prog, int argc, char **argv, const struct cmdline_opt *const *tables,
		 size_t n_tables)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq;
		const struct cmdline_opt *o;
		size_t len;

		if (arg[0] != '-' || arg[1] == '\0' || (arg[1] == '-' && arg[2] == '\0')) {
			fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, arg);
			return -EINVAL;
		}
		name = arg + (arg[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		o = find(tables, n_tables, name, len);
		if (!o) {
			fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, arg);
			return -EINVAL;
		}
		if (!o->value) {
			if (eq) {
				fprintf(stderr, "%s: option '-%s' takes no value\n", prog, o->name);
				return -EINVAL;
			}
			*o->set = true;
			continue;
		}
		if (eq) {
			*o->value = eq + 1;
		} else if (i + 1 < argc) {
			*o->value = argv[++i];
		} else {
			fprintf(stderr, "%s: option '-%s' needs a value\n", prog, o->name);
			return -EINVAL;
		}
	}
	return 0;
}

int cmdline_parse(const char *prog, int argc, char **argv, const struct cmdline_opt *opts)
{
	return parse(prog, argc, argv, &opts, 1);
}

int cmdline_daemon_parse(struct cmdline_daemon *d, int argc, char **argv,
			 const struct cmdline_opt *opts)
{
	bool help = false, version = false;
	const struct cmdline_opt common[] = {
		{ .name = "config", .alias = "c", .value = &d->config_path },
		{ .name = "check-config", .set = &d->check_config },
		{ .name = "verbose", .alias = "v", .set = &d->verbose },
		{ .name = "version", .set = &version },
		{ .name = "help", .alias = "h", .set = &help },
		{ 0 },
	};
	const struct cmdline_opt *const tables[] = { common, opts };
	int err = parse(d->prog, argc, argv, tables, 2);

	if (err)
		return err;
	if (help) {
		d->usage(stdout);
		return 1;
	}
	if (version) {
		printf("%s %s\n", d->prog, d->version);
		return 1;
	}
	if (d->verbose)
		log_set_level(LOG_LVL_DEBUG);
	return 0;
}
