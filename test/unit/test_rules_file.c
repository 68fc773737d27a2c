// SPDX-License-Identifier: GPL-2.0
/*
 * The rules file: round trip, a missing file is an empty set, a damaged
 * file is an error that changes nothing, a crash before the rename leaves
 * the old file (leftover temp files are ignored), mode 0600 in a 0700
 * directory, no temp file left after a failed save, 10,000 rules.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "rules_file.h"

static int passed;

#define EXPECT(cond)                             \
	do {                                     \
		int failures_before = failures;  \
		CHECK(cond);                     \
		if (failures == failures_before) \
			passed++;                \
	} while (0)

static char dir[64];

static void make_rule(struct rule *r, const char *body)
{
	char err[RULE_ERR_LEN];

	if (rule_from_json_str(body, strlen(body), RULE_PARSE_STORED, r, NULL, err, sizeof(err))) {
		fprintf(stderr, "test rule refused: %s: %s\n", body, err);
		exit(1);
	}
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Entries of @d whose name starts with @prefix. */
static int count_prefixed(const char *d, const char *prefix)
{
	DIR *dh = opendir(d);
	struct dirent *e;
	int n = 0;

	if (!dh)
		return -1;
	while ((e = readdir(dh)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dh);
	return n;
}

static struct rule set_a[3];

static void test_round_trip(void)
{
	char path[128], sub[96], err[RULE_ERR_LEN];
	struct rule *rules = (struct rule *)1;
	struct stat st;
	size_t n = 99, i;
	__u32 next = 99;

	/* Missing file: empty set, not an error. */
	snprintf(path, sizeof(path), "%s/absent.json", dir);
	EXPECT(rules_file_load(path, 100, &rules, &n, &next, err, sizeof(err)) == 0);
	EXPECT(rules == NULL && n == 0 && next == 0);

	make_rule(&set_a[0], "{\"id\":0,\"rule_type\":\"tcp\",\"dst_port\":23,\"action\":\"drop\","
			     "\"enabled\":true,\"comment\":\"Block Telnet\"}");
	make_rule(
		&set_a[1],
		"{\"id\":4,\"rule_type\":\"icmp\",\"icmp_type\":1,\"src_ip\":"
		"\"2001:db8::/32\",\"inner_protocol\":\"udp\",\"inner_dst_port\":"
		"\"53-54\",\"action\":\"drop\",\"priority\":-7,"
		"\"expires_at\":\"2099-01-01T00:00:00Z\",\"comment\":\"caf\xc3\xa9 \\\"q\\\" /\"}");
	make_rule(&set_a[2], "{\"id\":2,\"action\":\"allow\",\"enabled\":true,\"src_ip\":"
			     "\"10.0.0.0/8\",\"expires_at\":1000}");

	/* The parent directory is created, 0700; the file is 0600. */
	snprintf(sub, sizeof(sub), "%s/state", dir);
	snprintf(path, sizeof(path), "%s/rules.json", sub);
	EXPECT(rules_file_save(path, set_a, 3, 7) == 0);
	EXPECT(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	EXPECT(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
	EXPECT(count_prefixed(sub, "rules.json.tmp.") == 0);

	EXPECT(rules_file_load(path, 100, &rules, &n, &next, err, sizeof(err)) == 0);
	EXPECT(n == 3 && next == 7 && rules != NULL);
	for (i = 0; i < n && i < 3; i++)
		EXPECT(rule_equal(&rules[i], &set_a[i]));
	free(rules);

	/* Saving over it replaces it, an empty set included. */
	EXPECT(rules_file_save(path, set_a, 0, 9) == 0);
	EXPECT(rules_file_load(path, 100, &rules, &n, &next, err, sizeof(err)) == 0);
	EXPECT(n == 0 && next == 9 && rules == NULL);
	EXPECT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
}

/* A damaged file: -EINVAL, the reason, and outputs untouched. */
static void expect_corrupt(const char *text, const char *reason)
{
	char path[128], err[RULE_ERR_LEN + 256];
	struct rule *rules = (struct rule *)0x1;
	size_t n = 42;
	__u32 next = 43;
	int rc;

	snprintf(path, sizeof(path), "%s/corrupt.json", dir);
	write_text(path, text);
	rc = rules_file_load(path, 2, &rules, &n, &next, err, sizeof(err));
	if (rc != -EINVAL || !strstr(err, reason) || !strstr(err, path)) {
		fprintf(stderr, "corrupt file \"%s\": rc %d, error \"%s\", want \"%s\"\n", text, rc,
			err, reason);
		failures++;
		return;
	}
	passed++;
	EXPECT(rules == (struct rule *)0x1 && n == 42 && next == 43);
}

static void test_corrupt(void)
{
	expect_corrupt("", "empty file");
	expect_corrupt("{\"version\":1,\"next_id\":1,\"rules\":[", "truncated");
	expect_corrupt("{\"version\":1,\"next_id\":1,\"rules\":[]} x", "unexpected data");
	expect_corrupt("garbage", "at byte");
	expect_corrupt("[]", "not a JSON object");
	expect_corrupt("{\"version\":1,\"next_id\":1,\"rules\":[{\"id\":0,\"action\":\"drop\","
		       "\"action\":\"allow\"}]}",
		       "duplicate key \"action\" at byte 58");
	expect_corrupt("{\"version\":2,\"next_id\":1,\"rules\":[]}", "version: unsupported");
	expect_corrupt("{\"next_id\":1,\"rules\":[]}", "version: missing");
	expect_corrupt("{\"version\":1,\"rules\":[]}", "next_id: missing");
	expect_corrupt("{\"version\":1,\"next_id\":-1,\"rules\":[]}", "next_id: ");
	expect_corrupt("{\"version\":1,\"next_id\":1}", "rules: missing");
	expect_corrupt("{\"version\":1,\"next_id\":1,\"rules\":{}}",
		       "rules: unknown field or wrong type");
	expect_corrupt("{\"version\":1,\"next_id\":1,\"rules\":[],\"x\":0}", "x: unknown field");
	expect_corrupt("{\"version\":1,\"next_id\":5,\"rules\":[{\"id\":0,\"action\":\"drop\"},"
		       "{\"id\":1,\"action\":\"block\"}]}",
		       "rules[1]: action: \"block\" is not");
	expect_corrupt("{\"version\":1,\"next_id\":5,\"rules\":[{\"action\":\"drop\"}]}",
		       "rules[0]: id: required");
	expect_corrupt("{\"version\":1,\"next_id\":5,\"rules\":[{\"id\":3,\"action\":\"drop\"},"
		       "{\"id\":3,\"action\":\"allow\"}]}",
		       "id 3 appears twice");
	expect_corrupt("{\"version\":1,\"next_id\":5,\"rules\":[{\"id\":0,\"action\":\"drop\"},"
		       "{\"id\":1,\"action\":\"drop\"},{\"id\":2,\"action\":\"drop\"}]}",
		       "3 rules, more than the limit of 2");
	expect_corrupt("{\"version\":1,\"next_id\":5,\"rules\":[{\"id\":0,\"action\":\"drop\","
		       "\"rule_type\":\"tcp\",\"protocol\":\"udp\"}]}",
		       "rules[0]: protocol: udp does not fit rule_type tcp");
	expect_corrupt("{\"version\":1,\"next_id\":5,\"rules\":[7]}",
		       "rules[0]: body: must be a JSON object");
}

static void test_next_id_and_dir(void)
{
	char path[128], err[RULE_ERR_LEN + 256];
	struct rule *rules = NULL;
	size_t n = 0;
	__u32 next = 0;

	/* next_id below an id in use is raised, never handing an id out twice. */
	snprintf(path, sizeof(path), "%s/low.json", dir);
	write_text(path,
		   "{\"version\":1,\"next_id\":1,\"rules\":[{\"id\":9,\"action\":\"drop\"}]}\n");
	EXPECT(rules_file_load(path, 10, &rules, &n, &next, err, sizeof(err)) == 0);
	EXPECT(n == 1 && next == 10 && rules && rules[0].id == 9);
	free(rules);

	/* A directory is not a rules file. */
	EXPECT(rules_file_load(dir, 10, &rules, &n, &next, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "not a regular file") != NULL);
}

/*
 * A crash between the write of the temp file and the rename leaves the
 * old file and a temp file: the load reads the old set. A failed save
 * (invalid rule, or a rename that cannot happen) leaves the old file as
 * it was and no temp file.
 */
static void test_atomicity(void)
{
	char path[128], tmp[160], err[RULE_ERR_LEN + 256], before[1 << 12], *now;
	struct rule *rules = NULL, bad;
	size_t n = 0;
	__u32 next = 0;

	snprintf(path, sizeof(path), "%s/atomic.json", dir);
	EXPECT(rules_file_save(path, set_a, 2, 5) == 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp.Xy12Ab", path);
	write_text(tmp, "{\"version\":1,\"next_id\":9,\"rules\":[{\"id\":0,\"act");
	EXPECT(rules_file_load(path, 10, &rules, &n, &next, err, sizeof(err)) == 0);
	EXPECT(n == 2 && next == 5 && rules && rule_equal(&rules[1], &set_a[1]));
	free(rules);
	unlink(tmp);

	now = read_text(path);
	CHECK(now != NULL);
	snprintf(before, sizeof(before), "%s", now ? now : "");
	bad = set_a[0];
	bad.protocol = RULE_PROTO_UDP; /* a tcp rule that says udp */
	EXPECT(rules_file_save(path, &bad, 1, 6) == -EINVAL);
	now = read_text(path);
	EXPECT(now && strcmp(now, before) == 0);
	EXPECT(count_prefixed(dir, "atomic.json.tmp.") == 0);

	/* rename over a non-empty directory fails: the temp file goes away. */
	snprintf(tmp, sizeof(tmp), "%s/isdir.json", dir);
	CHECK(mkdir(tmp, 0700) == 0);
	snprintf(path, sizeof(path), "%s/isdir.json/keep", dir);
	write_text(path, "x");
	EXPECT(rules_file_save(tmp, set_a, 1, 1) < 0);
	EXPECT(count_prefixed(dir, "isdir.json.tmp.") == 0);
	unlink(path);
	rmdir(tmp);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_many(void)
{
	enum { N = 10000 };
	char path[128], err[RULE_ERR_LEN + 256];
	struct rule *rs = calloc(N, sizeof(*rs)), *back = NULL;
	struct timespec t0;
	size_t n = 0, i;
	__u32 next = 0;
	double save_ms, load_ms;

	CHECK(rs != NULL);
	if (!rs)
		return;
	for (i = 0; i < N; i++) {
		char body[256];

		snprintf(
			body, sizeof(body),
			"{\"id\":%zu,\"rule_type\":\"tcp\",\"src_ip\":\"10.%zu.%zu.0/24\","
			"\"dst_port\":%zu,\"action\":\"drop\",\"enabled\":true,\"comment\":\"r%zu\"}",
			i, i / 256, i % 256, 1 + i % 60000, i);
		make_rule(&rs[i], body);
	}
	snprintf(path, sizeof(path), "%s/many.json", dir);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	EXPECT(rules_file_save(path, rs, N, N) == 0);
	save_ms = ms_since(&t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	EXPECT(rules_file_load(path, N, &back, &n, &next, err, sizeof(err)) == 0);
	load_ms = ms_since(&t0);
	EXPECT(n == N && next == N && back);
	for (i = 0; back && i < n; i++)
		if (!rule_equal(&back[i], &rs[i]))
			break;
	EXPECT(back && i == N);
	printf("10000 rules: save %.1f ms, load %.1f ms\n", save_ms, load_ms);
	/* One rule more than the limit is refused. */
	EXPECT(rules_file_load(path, N - 1, &back, &n, &next, err, sizeof(err)) == -EINVAL);
	free(back);
	free(rs);
}

int main(void)
{
	char cmd[128];

	log_init("test_rules_file", LOG_LVL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/gdr-r-rules-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_round_trip();
	test_corrupt();
	test_next_id_and_dir();
	test_atomicity();
	test_many();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	printf("%d passed, %d failed\n", passed, failures);
	return check_report("test_rules_file");
}
