// SPDX-License-Identifier: GPL-2.0
/* Directories as locks (see lock_dir.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "lock_dir.h"
#include "log.h"

int lock_dir_open(const char *path, mode_t mode, const char *what)
{
	int fd, err;

	if (mode && mkdir(path, mode) && errno != EEXIST) {
		err = -errno;
		log_error("cannot create the %s %s: %s", what, path, strerror(-err));
		return err;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("cannot open the %s %s: %s", what, path, strerror(-err));
		return err;
	}
	return fd;
}
