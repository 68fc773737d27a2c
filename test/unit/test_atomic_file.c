// SPDX-License-Identifier: GPL-2.0
/*
 * The atomic file writer (lib/atomic_file.h): the content and the exact
 * mode, the parent directory made on request, the target untouched and
 * no temp file left when a write fails midway (RLIMIT_FSIZE cuts it) or
 * the rename cannot happen, a symlink planted at the temp name not
 * followed, and concurrent writers that never leave a mixed file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "check.h"

static char dir[64];

/* The whole file @path in @buf (NUL-terminated); its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + got, size - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return got;
}

/* How many entries of @d start with "@name.tmp." */
static int temps(const char *d, const char *name)
{
	char prefix[128];
	struct dirent *e;
	DIR *h = opendir(d);
	int n = 0;

	snprintf(prefix, sizeof(prefix), "%s.tmp.", name);
	while (h && (e = readdir(h)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (h)
		closedir(h);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? (mode_t)-1 : st.st_mode & 07777;
}

static void test_write_and_mode(void)
{
	char path[128], sub[128], buf[64], err[256];

	snprintf(path, sizeof(path), "%s/a.json", dir);
	umask(077);
	CHECK(atomic_file_write(path, "{\"v\":1}\n", 8, 0644, 0, err, sizeof(err)) == 0);
	CHECK(slurp(path, buf, sizeof(buf)) == 8 && !strcmp(buf, "{\"v\":1}\n"));
	CHECK(mode_of(path) == 0644); /* the umask does not take bits away */
	umask(0);
	CHECK(atomic_file_write(path, "x", 1, 0600, 0, err, sizeof(err)) == 0);
	CHECK(mode_of(path) == 0600 && slurp(path, buf, sizeof(buf)) == 1);
	CHECK(atomic_file_write(path, "", 0, 0640, 0, err, sizeof(err)) == 0);
	CHECK(mode_of(path) == 0640 && slurp(path, buf, sizeof(buf)) == 0);
	umask(022);
	CHECK(temps(dir, "a.json") == 0);

	/* the directory on request, with its own mode; otherwise it must exist */
	snprintf(sub, sizeof(sub), "%s/sub/b.json", dir);
	CHECK(atomic_file_write(sub, "b", 1, 0600, 0, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "cannot create a temp file") != NULL);
	CHECK(atomic_file_write(sub, "b", 1, 0600, 0700, err, sizeof(err)) == 0);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CHECK(mode_of(sub) == 0700);
	snprintf(sub, sizeof(sub), "%s/sub/b.json", dir);
	CHECK(atomic_file_write(sub, "c", 1, 0600, 0700, err, sizeof(err)) == 0); /* exists: fine */
	CHECK(slurp(sub, buf, sizeof(buf)) == 1 && buf[0] == 'c');
}

static void test_failures_leave_target(void)
{
	char path[128], inner[160], buf[64], big[8192], err[256];
	struct rlimit old, lim;

	snprintf(path, sizeof(path), "%s/keep.json", dir);
	CHECK(atomic_file_write(path, "old", 3, 0600, 0, err, sizeof(err)) == 0);

	/* a write cut short: the file size limit stops it after 4 KiB */
	memset(big, 'n', sizeof(big));
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK(atomic_file_write(path, big, sizeof(big), 0600, 0, err, sizeof(err)) == -EFBIG);
	setrlimit(RLIMIT_FSIZE, &old);
	CHECK(strstr(err, "cannot write") != NULL && strstr(err, "keep.json.tmp.") != NULL);
	CHECK(slurp(path, buf, sizeof(buf)) == 3 && !strcmp(buf, "old"));
	CHECK(temps(dir, "keep.json") == 0);

	/* the rename fails: the target is a non-empty directory */
	snprintf(path, sizeof(path), "%s/isdir", dir);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(inner, sizeof(inner), "%s/isdir/x", dir);
	CHECK(atomic_file_write(inner, "x", 1, 0600, 0, err, sizeof(err)) == 0);
	CHECK(atomic_file_write(path, "new", 3, 0600, 0, err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot rename") != NULL);
	CHECK(temps(dir, "isdir") == 0);

	/* a name too long for a temp name */
	memset(big, 'a', PATH_MAX - 4);
	big[PATH_MAX - 4] = '\0';
	CHECK(atomic_file_write(big, "x", 1, 0600, 0, err, sizeof(err)) == -ENAMETOOLONG);
}

static void test_symlink_not_followed(void)
{
	char path[128], victim[128], link[160], buf[64], err[256];
	int i;

	snprintf(path, sizeof(path), "%s/sl.json", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	CHECK(atomic_file_write(victim, "victim", 6, 0600, 0, err, sizeof(err)) == 0);
	/* the first temp name is a symlink to the victim: the next name is used */
	snprintf(link, sizeof(link), "%s.tmp.%d.0", path, (int)getpid());
	CHECK(symlink(victim, link) == 0);
	CHECK(atomic_file_write(path, "mine", 4, 0600, 0, err, sizeof(err)) == 0);
	CHECK(slurp(victim, buf, sizeof(buf)) == 6 && !strcmp(buf, "victim"));
	CHECK(slurp(path, buf, sizeof(buf)) == 4 && !strcmp(buf, "mine"));
	CHECK(mode_of(link) != (mode_t)-1); /* someone else's file: left alone */
	/* every name taken: -EEXIST, the target and the victim unchanged */
	for (i = 1; i < ATOMIC_FILE_TRIES; i++) {
		snprintf(link, sizeof(link), "%s.tmp.%d.%d", path, (int)getpid(), i);
		CHECK(symlink(victim, link) == 0);
	}
	CHECK(atomic_file_write(path, "again", 5, 0600, 0, err, sizeof(err)) == -EEXIST);
	CHECK(slurp(path, buf, sizeof(buf)) == 4 && !strcmp(buf, "mine"));
	CHECK(slurp(victim, buf, sizeof(buf)) == 6 && !strcmp(buf, "victim"));
	for (i = 0; i < ATOMIC_FILE_TRIES; i++) {
		snprintf(link, sizeof(link), "%s.tmp.%d.%d", path, (int)getpid(), i);
		unlink(link);
	}
}

#define WRITERS	   6
#define ROUNDS	   150
#define FILE_BYTES 32768

static char conc_path[128];
static volatile int writers_done;

static void *writer(void *arg)
{
	static char content[WRITERS][FILE_BYTES];
	long id = (long)arg;
	char err[256];
	int i, bad = 0;

	memset(content[id], 'A' + (int)id, FILE_BYTES);
	for (i = 0; i < ROUNDS; i++)
		bad += atomic_file_write(conc_path, content[id], FILE_BYTES, 0644, 0, err,
					 sizeof(err)) != 0;
	__atomic_add_fetch(&writers_done, 1, __ATOMIC_RELEASE);
	return (void *)(long)bad;
}

/* Every read while they write is one writer's whole content. */
static void test_concurrent_writers(void)
{
	static char buf[FILE_BYTES + 16];
	pthread_t t[WRITERS];
	long i, reads = 0, torn = 0;
	void *bad;

	snprintf(conc_path, sizeof(conc_path), "%s/conc.json", dir);
	for (i = 0; i < WRITERS; i++)
		CHECK(pthread_create(&t[i], NULL, writer, (void *)i) == 0);
	while (__atomic_load_n(&writers_done, __ATOMIC_ACQUIRE) < WRITERS) {
		ssize_t n = slurp(conc_path, buf, sizeof(buf));
		ssize_t k;

		if (n < 0)
			continue; /* before the first rename */
		reads++;
		for (k = 1; k < n && buf[k] == buf[0]; k++)
			;
		torn += n != FILE_BYTES || k != n;
	}
	for (i = 0; i < WRITERS; i++) {
		pthread_join(t[i], &bad);
		CHECK(bad == NULL);
	}
	CHECK(torn == 0);
	CHECK(reads > 0);
	CHECK(temps(dir, "conc.json") == 0);
	printf("concurrent writers: %ld reads, %ld torn\n", reads, torn);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/gdr-atomic-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_write_and_mode();
	test_failures_leave_target();
	test_symlink_not_followed();
	test_concurrent_writers();
	if (!failures) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return check_report("test_atomic_file");
}
