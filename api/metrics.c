// SPDX-License-Identifier: GPL-2.0
/*
 * Request counts and latencies of the HTTP layer, for GET /metrics. Lock
 * free: relaxed atomic adds on fixed arrays indexed by route, method and
 * status, so observing costs a few atomic operations per request.
 */
#include <stdio.h>

#include "api.h"

/* The statuses this API sends; anything else is counted as "other". */
static const int codes[] = { 200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 421, 422, 429, 500, 502, 503, 504 };
#define N_CODES (sizeof(codes) / sizeof(codes[0]) + 1)

/* Latency buckets, seconds (upper bounds). */
static const double buckets[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
				  0.01,	  0.025,   0.05,   0.1,	  0.25,	  1 };
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static unsigned long long requests[ROUTE_MAX][M_MAX][N_CODES];
static unsigned long long lat_bucket[ROUTE_MAX][N_BUCKETS];
static unsigned long long lat_count[ROUTE_MAX];
static unsigned long long lat_sum_ns[ROUTE_MAX];

static const char *const method_names[M_MAX] = {
	[M_GET] = "GET",       [M_POST] = "POST",	[M_PUT] = "PUT",
	[M_DELETE] = "DELETE", [M_OPTIONS] = "OPTIONS", [M_OTHER] = "other",
};

static size_t code_index(int status)
{
	size_t i;

	for (i = 0; i < N_CODES - 1; i++)
		if (codes[i] == status)
			return i;
	return N_CODES - 1;
}

void metrics_observe(enum api_route route, enum api_method method, int status, double seconds)
{
	size_t b;

	if ((unsigned int)route >= ROUTE_MAX || (unsigned int)method >= M_MAX)
		return;
	__atomic_add_fetch(&requests[route][method][code_index(status)], 1, __ATOMIC_RELAXED);
	/* Buckets are stored non-cumulative and summed when printed. */
	for (b = 0; b < N_BUCKETS && seconds > buckets[b]; b++)
		;
	if (b < N_BUCKETS)
		__atomic_add_fetch(&lat_bucket[route][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&lat_count[route], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&lat_sum_ns[route], (unsigned long long)(seconds * 1e9),
			   __ATOMIC_RELAXED);
}

void metrics_http(FILE *out)
{
	size_t r, m, c, b;

	fputs("# HELP guarder_api_requests_total HTTP requests answered, by endpoint, method "
	      "and status.\n# TYPE guarder_api_requests_total counter\n",
	      out);
	for (r = 0; r < ROUTE_MAX; r++)
		for (m = 0; m < M_MAX; m++)
			for (c = 0; c < N_CODES; c++) {
				unsigned long long v =
					__atomic_load_n(&requests[r][m][c], __ATOMIC_RELAXED);
				char code[8];

				if (!v)
					continue;
				if (c < N_CODES - 1)
					snprintf(code, sizeof(code), "%d", codes[c]);
				else
					snprintf(code, sizeof(code), "other");
				fprintf(out,
					"guarder_api_requests_total{endpoint=\"%s\",method=\"%s\","
					"code=\"%s\"} %llu\n",
					api_route_name((enum api_route)r), method_names[m], code,
					v);
			}
	fputs("# HELP guarder_api_request_duration_seconds Time from the request headers to the "
	      "queued response, by endpoint.\n"
	      "# TYPE guarder_api_request_duration_seconds histogram\n",
	      out);
	for (r = 0; r < ROUTE_MAX; r++) {
		unsigned long long count = __atomic_load_n(&lat_count[r], __ATOMIC_RELAXED),
				   cum = 0;
		const char *name = api_route_name((enum api_route)r);

		if (!count)
			continue;
		for (b = 0; b < N_BUCKETS; b++) {
			cum += __atomic_load_n(&lat_bucket[r][b], __ATOMIC_RELAXED);
			fprintf(out,
				"guarder_api_request_duration_seconds_bucket{endpoint=\"%s\","
				"le=\"%g\"} %llu\n",
				name, buckets[b], cum);
		}
		fprintf(out,
			"guarder_api_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} "
			"%llu\n",
			name, count);
		fprintf(out, "guarder_api_request_duration_seconds_sum{endpoint=\"%s\"} %.9f\n",
			name, (double)__atomic_load_n(&lat_sum_ns[r], __ATOMIC_RELAXED) / 1e9);
		fprintf(out, "guarder_api_request_duration_seconds_count{endpoint=\"%s\"} %llu\n",
			name, count);
	}
}
