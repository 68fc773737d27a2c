// SPDX-License-Identifier: GPL-2.0
/* Command-line flags of the Guarder programs (see cmdline.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmdline.h"

static const struct cmdline_opt *find(const struct cmdline_opt *opts, const char *name, size_t len)
{
	for (; opts->name; opts++)
		if ((strlen(opts->name) == len && !strncmp(opts->name, name, len)) ||
		    (opts->alias && strlen(opts->alias) == len && !strncmp(opts->alias, name, len)))
			return opts;
	return NULL;
}

int cmdline_parse(const char *prog, int argc, char **argv, const struct cmdline_opt *opts)
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
		o = find(opts, name, len);
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
