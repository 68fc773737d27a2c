// SPDX-License-Identifier: GPL-2.0
/*
 * PLACEHOLDER, being written now (issue 4): it only lets the tree build.
 * The collector refuses to start a sink that is not built yet.
 */
#include <errno.h>

#include "lib/config.h"
#include "lib/log.h"
#include "sink.h"

struct sink *sink_ws_new(const struct guarder_config *cfg)
{
	(void)cfg;
	errno = ENOSYS;
	return NULL;
}
