// SPDX-License-Identifier: GPL-2.0
/*
 * evgen: write synthetic flow events into a running collector's ring
 * buffer at a target rate, for the streaming benchmark (bench/stream/).
 *
 *   evgen -p PIN_DIR -i IFINDEX [-r RECORDS_PER_S] [-d SECONDS] [-b BATCH]
 *         [-I ICMP_PERMILLE]
 *
 * Loads evgen.bpf.c with the collector's pinned "events" ring buffer and
 * "stats" map reused, then runs it with BPF_PROG_TEST_RUN, "repeat" events
 * per syscall, paced so that by every moment t the number of events
 * attempted is rate * t (-r 0: as fast as it can). Prints one progress
 * line per second on stderr and a JSON summary on stdout:
 *   {"attempted":N,"written":N,"failed":N,"seconds":S,"rate":R,...}
 * where written events reached the ring buffer and failed ones did not
 * (ring buffer full; also counted in the collector's ringbuf_fail).
 * Exit status 0, or 1 on any error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "evgen.skel.h"
#include "lib/timeconv.h"

#define NSEC	1000000000ull
#define TICK_NS 1000000ull /* pacing granularity: 1 ms */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: evgen -p PIN_DIR -i IFINDEX [-r RECORDS_PER_S (0 = max)] [-d SECONDS]\n"
		"             [-b MAX_BATCH] [-I ICMP_PERMILLE]\n");
}

/*
 * reuse_pinned - point @map at the collector's pin @dir/@name before load,
 * so the program writes into the collector's own map. Returns 0 or a
 * negative errno (logged).
 */
static int reuse_pinned(struct bpf_map *map, const char *dir, const char *name)
{
	char path[512];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "evgen: cannot open %s: %s (is the collector running?)\n", path,
			strerror(-err));
		return err;
	}
	err = bpf_map__reuse_fd(map, fd);
	close(fd); /* reuse_fd keeps its own duplicate */
	if (err)
		fprintf(stderr, "evgen: cannot reuse %s: %s\n", path, strerror(-err));
	return err;
}

/*
 * run_batch - @n events in one BPF_PROG_TEST_RUN. The kernel may stop a
 * long repeat early on a signal (-EINTR); the .bss counters stay exact.
 */
static int run_batch(int prog_fd, uint32_t n)
{
	unsigned char pkt[64] = { 0 }; /* ignored by the program; XDP wants a frame */
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = n);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	const char *pin = NULL;
	double rate = 500000, seconds = 60;
	uint32_t ifindex = 0, max_batch = 20000, icmp_permille = 150;
	uint64_t t0, t, deadline, next_report, last_attempted = 0, target, done;
	struct evgen *skel;
	int opt, err, prog_fd;

	while ((opt = getopt(argc, argv, "p:i:r:d:b:I:h")) != -1) {
		switch (opt) {
		case 'p':
			pin = optarg;
			break;
		case 'i':
			ifindex = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			rate = strtod(optarg, NULL);
			break;
		case 'd':
			seconds = strtod(optarg, NULL);
			break;
		case 'b':
			max_batch = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'I':
			icmp_permille = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!pin || !ifindex || rate < 0 || seconds <= 0 || !max_batch || icmp_permille > 1000) {
		usage(stderr);
		return 1;
	}

	skel = evgen__open();
	if (!skel) {
		fprintf(stderr, "evgen: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->ifindex = ifindex;
	skel->rodata->icmp_permille = icmp_permille;
	err = reuse_pinned(skel->maps.events, pin, "events");
	if (!err)
		err = reuse_pinned(skel->maps.stats, pin, "stats");
	if (!err) {
		err = evgen__load(skel);
		if (err)
			fprintf(stderr, "evgen: cannot load the program: %s\n", strerror(-err));
	}
	if (err)
		goto out;
	prog_fd = bpf_program__fd(skel->progs.evgen);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	t0 = clock_mono_now_ns();
	deadline = t0 + (uint64_t)(seconds * NSEC);
	next_report = t0 + NSEC;
	while (!stop && (t = clock_mono_now_ns()) < deadline) {
		done = skel->bss->seq;
		if (rate > 0) {
			target = (uint64_t)((double)(t - t0) * rate / NSEC);
			if (done >= target) {
				/* ahead of the schedule: sleep a tick */
				struct timespec ts = { 0, TICK_NS };

				nanosleep(&ts, NULL);
				continue;
			}
			target -= done;
		} else {
			target = max_batch;
		}
		err = run_batch(prog_fd, target < max_batch ? (uint32_t)target : max_batch);
		if (err && err != -EINTR) {
			fprintf(stderr, "evgen: BPF_PROG_TEST_RUN: %s\n", strerror(-err));
			goto out;
		}
		err = 0;
		if (t >= next_report) {
			done = skel->bss->seq;
			fprintf(stderr, "evgen: %.0f s: %llu events/s, %llu failed so far\n",
				(double)(t - t0) / NSEC,
				(unsigned long long)(done - last_attempted),
				(unsigned long long)skel->bss->failed);
			last_attempted = done;
			next_report += NSEC;
		}
	}
	t = clock_mono_now_ns();
	printf("{\"attempted\":%llu,\"written\":%llu,\"failed\":%llu,\"seconds\":%.3f,"
	       "\"rate\":%.0f,\"target_rate\":%.0f}\n",
	       (unsigned long long)skel->bss->seq, (unsigned long long)skel->bss->written,
	       (unsigned long long)skel->bss->failed, (double)(t - t0) / NSEC,
	       (double)skel->bss->seq * NSEC / (double)(t - t0), rate);
	fflush(stdout);
out:
	evgen__destroy(skel);
	return err ? 1 : 0;
}
