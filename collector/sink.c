// SPDX-License-Identifier: GPL-2.0
/* What every sink shares (sink.h): the wrapper around its own state. */
#include <errno.h>
#include <stdlib.h>

#include "sink.h"

struct sink *sink_new(const struct sink_ops *ops, void *priv)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (!s) {
		ops->destroy(priv);
		errno = ENOMEM;
		return NULL;
	}
	s->ops = ops;
	s->priv = priv;
	return s;
}

void sink_destroy(struct sink *s)
{
	if (!s)
		return;
	s->ops->destroy(s->priv);
	free(s);
}
