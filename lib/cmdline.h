/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Command-line flags of the Guarder programs, in the original tool's style:
 * "-name" or "--name", a value as the next argument or after "="
 * ("-api :8080", "--api=:8080"). One table per program.
 */
#ifndef GUARDER_CMDLINE_H
#define GUARDER_CMDLINE_H

#include <stdbool.h>

struct cmdline_opt {
	const char *name; /* "iface" */
	const char *alias; /* another name ("c" for "config"), or NULL */
	const char **value; /* set for a flag that takes a value, else NULL */
	bool *set; /* set for a switch (no value), else NULL */
};

/*
 * cmdline_parse - match argv[1..] against @opts (ended by a zeroed entry):
 * store each value in *value (the last one given wins) and set *set for
 * switches. Arguments that are not flags are refused.
 * Returns 0, or -EINVAL after one line "PROG: ..." on stderr.
 */
int cmdline_parse(const char *prog, int argc, char **argv, const struct cmdline_opt *opts);

#endif /* GUARDER_CMDLINE_H */
