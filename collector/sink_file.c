// SPDX-License-Identifier: GPL-2.0
/*
 * The file sink: every record as one JSON line, flushed per record so
 * that `tail -f` and tests see it at once. "-" writes to stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "sink.h"

struct sink_file {
	FILE *f;
	char *path;
	int is_stdout;
};

static int sink_file_emit(struct sink *s, const struct flow_record *rec, const char *json,
			  size_t json_len, const char *key, size_t key_len)
{
	struct sink_file *sf = s->priv;

	(void)rec;
	(void)key;
	(void)key_len;
	errno = 0;
	if (fwrite(json, 1, json_len, sf->f) != json_len || fputc('\n', sf->f) == EOF ||
	    fflush(sf->f)) {
		int err = errno ? -errno : -EIO;

		clearerr(sf->f);
		return err;
	}
	return 0;
}

static int sink_file_flush(struct sink *s, int timeout_ms)
{
	struct sink_file *sf = s->priv;

	(void)timeout_ms;
	return fflush(sf->f) ? -errno : 0;
}

static void sink_file_destroy(void *priv)
{
	struct sink_file *sf = priv;

	if (sf->is_stdout)
		fflush(sf->f);
	else if (fclose(sf->f))
		log_warn("sink file %s: close failed: %s", sf->path, strerror(errno));
	free(sf->path);
	free(sf);
}

static const struct sink_ops sink_file_ops = {
	.name = "file",
	.emit = sink_file_emit,
	.flush = sink_file_flush,
	.destroy = sink_file_destroy,
};

struct sink *sink_file_new(const char *path)
{
	struct sink_file *sf = calloc(1, sizeof(*sf));
	int err;

	if (sf)
		sf->path = strdup(path);
	if (!sf || !sf->path) {
		free(sf);
		errno = ENOMEM;
		return NULL;
	}
	if (!strcmp(path, "-")) {
		sf->f = stdout;
		sf->is_stdout = 1;
	} else {
		/* append: a restarted collector must not wipe the records so far */
		sf->f = fopen(path, "ae");
		if (!sf->f) {
			err = errno;
			log_error("sink file %s: cannot open: %s", path, strerror(err));
			free(sf->path);
			free(sf);
			errno = err;
			return NULL;
		}
	}
	return sink_new(&sink_file_ops, sf);
}
