/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Command-line flags of the Guarder programs, in the original tool's style:
 * "-name" or "--name", a value as the next argument or after "="
 * ("-api :8080", "--api=:8080"). One table per program.
 */
#ifndef GUARDER_CMDLINE_H
#define GUARDER_CMDLINE_H

#include <stdbool.h>
#include <stdio.h>

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

/*
 * What every daemon is told besides its own flags: the program describes
 * itself in the first three fields, cmdline_daemon_parse() fills the rest.
 */
struct cmdline_daemon {
	const char *prog; /* "guarder-api": error and version lines */
	const char *version; /* after @prog on the -version line: "1.0 (libfoo 2.3)" */
	void (*usage)(FILE *out); /* the -help text */
	const char *config_path; /* -c/-config FILE; NULL: the default path */
	bool check_config; /* -check-config */
	bool verbose; /* -v/-verbose: the log level is already debug */
};

/*
 * cmdline_daemon_parse - cmdline_parse() over the program's own @opts and
 * the flags every daemon takes: -c/-config, -check-config, -v/-verbose
 * (which also sets the log level to debug), -version and -h/-help (served
 * here, on stdout). @d's prog, version and usage must be set.
 * Returns 0 to run, 1 when help or the version was printed (exit 0), or
 * -EINVAL after one line on stderr.
 */
int cmdline_daemon_parse(struct cmdline_daemon *d, int argc, char **argv,
			 const struct cmdline_opt *opts);

#endif /* GUARDER_CMDLINE_H */
