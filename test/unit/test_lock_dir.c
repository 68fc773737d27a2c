// SPDX-License-Identifier: GPL-2.0
/*
 * Directories as locks (lib/lock_dir.h): made with the mode asked for,
 * an existing one reused, a missing one refused when not to be made, a
 * regular file refused, and a second exclusive flock refused while the
 * first descriptor holds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "lock_dir.h"
#include "log.h"

int main(void)
{
	char dir[] = "/tmp/test_lock_dir.XXXXXX", path[128], file[128];
	struct stat st;
	int fd, fd2;

	log_init("test_lock_dir", LOG_LVL_ERROR);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/lock", dir);
	snprintf(file, sizeof(file), "%s/file", dir);

	CHECK(lock_dir_open(path, 0, "test lock") == -ENOENT);
	CHECK(stat(path, &st) == -1);

	umask(0);
	fd = lock_dir_open(path, 0710, "test lock");
	CHECK(fd >= 0);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0710);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* made already: opened again, a second description of the same directory */
	fd2 = lock_dir_open(path, 0700, "test lock");
	CHECK(fd2 >= 0);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
	CHECK(flock(fd2, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK);
	close(fd);
	CHECK(flock(fd2, LOCK_EX | LOCK_NB) == 0);
	close(fd2);

	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(lock_dir_open(file, 0, "test lock") == -ENOTDIR);
	CHECK(lock_dir_open(file, 0700, "test lock") == -ENOTDIR);

	unlink(file);
	rmdir(path);
	rmdir(dir);
	return check_report("test_lock_dir");
}
