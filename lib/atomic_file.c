// SPDX-License-Identifier: GPL-2.0
/* Atomic replacement of a file (atomic_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "errmsg.h"

/* The directory part of @path ("." when there is none), in @buf. */
static int dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash) {
		if (len < 2)
			return -ENAMETOOLONG;
		strcpy(buf, ".");
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A new temp file next to @path, its name in @tmp; the fd or a negative errno. */
static int create_temp(const char *path, mode_t mode, char *tmp, size_t tmp_len)
{
	int i, fd = -EEXIST;

	for (i = 0; i < ATOMIC_FILE_TRIES && fd == -EEXIST; i++) {
		if (snprintf(tmp, tmp_len, "%s.tmp.%d.%d", path, (int)getpid(), i) >= (int)tmp_len)
			return -ENAMETOOLONG;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0)
			fd = -errno;
	}
	return fd;
}

/* Write, set the mode, fsync and close @fd. Returns 0 or a negative errno. */
static int fill_temp(int fd, const void *data, size_t len, mode_t mode, const char **step)
{
	int rc;

	*step = "cannot write";
	rc = write_all(fd, data, len);
	if (!rc) {
		*step = "cannot set the mode of";
		if (fchmod(fd, mode))
			rc = -errno;
	}
	if (!rc) {
		*step = "cannot fsync";
		if (fsync(fd))
			rc = -errno;
	}
	if (close(fd) && !rc) {
		*step = "cannot close";
		rc = -errno;
	}
	return rc;
}

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode, mode_t dir_mode,
		      char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *step;
	int fd, rc;

	rc = dir_of(path, dir, sizeof(dir));
	if (rc)
		return errmsg_set(err, errlen, rc, "path too long");
	if (dir_mode && mkdir(dir, dir_mode) && errno != EEXIST)
		return errmsg_set(err, errlen, -errno, "cannot create directory %s: %s", dir,
				  strerror(errno));
	fd = create_temp(path, mode, tmp, sizeof(tmp));
	if (fd == -ENAMETOOLONG)
		return errmsg_set(err, errlen, fd, "path too long");
	if (fd < 0)
		return errmsg_set(err, errlen, fd, "cannot create a temp file %s: %s", tmp,
				  strerror(-fd));
	rc = fill_temp(fd, data, len, mode, &step);
	if (rc) {
		unlink(tmp);
		return errmsg_set(err, errlen, rc, "%s %s: %s", step, tmp, strerror(-rc));
	}
	if (rename(tmp, path)) {
		rc = -errno;
		unlink(tmp);
		return errmsg_set(err, errlen, rc, "cannot rename %s over it: %s", tmp,
				  strerror(-rc));
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		rc = errmsg_set(err, errlen, -errno, "cannot fsync directory %s: %s", dir,
				strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}
