// SPDX-License-Identifier: GPL-2.0
/*
 * The worker's record path without Kafka: parse (ai/flowrec.c) and feed
 * (ai/detect.c) records read from a file of KEY<TAB>VALUE lines (what
 * records.py writes), in memory, timed. Separates the worker's own cost
 * from librdkafka's in bench/ai/run.sh.
 *
 *   bench_ai FILE [REPEAT]   prints records, wall and CPU seconds and rates
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ai/detect.h"
#include "ai/flowrec.h"
#include "lib/config.h"

static unsigned long findings;

static void count(const struct ai_finding *f, void *ctx)
{
	(void)f;
	(void)ctx;
	findings++;
}

int main(int argc, char **argv)
{
	struct guarder_config cfg;
	struct ai_engine eng;
	struct timespec a, b, ca, cb;
	unsigned long n = 0, bad = 0;
	int repeat = argc > 2 ? atoi(argv[2]) : 1, r;
	char *buf = NULL, *p, *end;
	size_t len = 0;
	FILE *f;
	double s, cpu;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_ai FILE [REPEAT]\n");
		return 1;
	}
	f = fopen(argv[1], "r");
	if (!f || fseek(f, 0, SEEK_END) || (len = (size_t)ftell(f)) == 0 || fseek(f, 0, SEEK_SET) ||
	    !(buf = malloc(len)) || fread(buf, 1, len, f) != len) {
		perror(argv[1]);
		return 1;
	}
	fclose(f);
	if (config_init(&cfg) || ai_engine_init(&eng, &cfg, count, NULL)) {
		fprintf(stderr, "init failed\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
	for (r = 0; r < repeat; r++) {
		for (p = buf, end = buf + len; p < end;) {
			char *nl = memchr(p, '\n', (size_t)(end - p)), *tab;
			struct ai_flow fl;
			char err[64];

			if (!nl)
				nl = end;
			tab = memchr(p, '\t', (size_t)(nl - p));
			tab = tab ? tab + 1 : p;
			if (ai_flow_parse(tab, (size_t)(nl - tab), &fl, err, sizeof(err)))
				bad++;
			else
				ai_engine_feed(&eng, &fl);
			n++;
			p = nl + 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	cpu = (double)(cb.tv_sec - ca.tv_sec) + (double)(cb.tv_nsec - ca.tv_nsec) / 1e9;
	/* wall time counts other processes on a shared machine; CPU time does not */
	printf("records %lu bad %lu findings %lu wall %.3f s (%.0f/s) cpu %.3f s (%.0f/s, %.0f "
	       "ns/record)\n",
	       n, bad, findings, s, (double)n / s, cpu, (double)n / cpu, cpu * 1e9 / (double)n);
	ai_engine_free(&eng);
	config_free(&cfg);
	free(buf);
	return bad ? 1 : 0;
}
