// SPDX-License-Identifier: GPL-2.0
/*
 * Per-packet cost of the kernel program beside the team's yardsticks (the
 * floor tracker and a trivial XDP_PASS program), measured in one run with
 * bpf_prog_test_run_opts, plus the kernel memory of a 1M-flow table.
 *
 *   bench_xdp [-r ROUNDS] [-n REPEAT] [-f NEWFLOWS] [-m]
 *
 * Established packets: each program runs the same frame REPEAT times per
 * round (the kernel reports the mean), programs interleaved, ROUNDS
 * rounds, median reported. New flows: NEWFLOWS distinct frames per round,
 * one run each, kernel-reported durations summed. -m skips the memory part.
 * Rule scaling (-R skips it): the same two measurements with 0, 100,
 * 1,000 and 10,000 filter rules loaded (bench_rules()).
 * Needs root (CAP_BPF + CAP_NET_ADMIN for test runs).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernel/conn_tracker.h"
#include "lib/rule.h"
#include "lib/rule_set.h"
#include "lib/stats.h"
#include "conn_tracker.skel.h"
#include "floor.skel.h"
#include "trivial.skel.h"
#include "mutate.skel.h"
#include "test/bpf/pktbuild.h"

#define ROUNDS_MAX 21

enum { P_OURS, P_FLOOR, P_TRIVIAL, P_MAX };
static const char *const prog_names[P_MAX] = { "guarder", "floor", "trivial" };

struct bench {
	struct conn_tracker *ours;
	struct floor *floor;
	struct trivial *trivial;
	struct ring_buffer *rb;
	int fd[P_MAX];
};

static int events_discard(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

/* Mean ns per run of @repeat runs of @p, which must end in @verdict. */
static int time_run_v(int fd, const struct pkt *p, __u32 repeat, __u32 *ns, __u32 verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->data, .data_size_in = p->len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &opts)) {
		fprintf(stderr, "test run failed: %s\n", strerror(errno));
		return -errno;
	}
	if (opts.retval != verdict) {
		fprintf(stderr, "unexpected verdict %u (wanted %u)\n", opts.retval, verdict);
		return -EINVAL;
	}
	*ns = opts.duration;
	return 0;
}

/* Mean ns per run of @repeat runs of @p, as reported by the kernel (it passes). */
static int time_run(int fd, const struct pkt *p, __u32 repeat, __u32 *ns)
{
	return time_run_v(fd, p, repeat, ns, XDP_PASS);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench_open(struct bench *b)
{
	int err;

	memset(b, 0, sizeof(*b));
	b->ours = conn_tracker__open_and_load();
	b->floor = floor__open_and_load();
	b->trivial = trivial__open_and_load();
	if (!b->ours || !b->floor || !b->trivial) {
		err = -errno;
		fprintf(stderr, "loading the programs failed: %s (run as root)\n", strerror(-err));
		return err;
	}
	b->rb = ring_buffer__new(bpf_map__fd(b->ours->maps.events), events_discard, NULL, NULL);
	if (!b->rb)
		return -errno;
	b->fd[P_OURS] = bpf_program__fd(b->ours->progs.xdp_conn_tracker);
	b->fd[P_FLOOR] = bpf_program__fd(b->floor->progs.xdp_floor);
	b->fd[P_TRIVIAL] = bpf_program__fd(b->trivial->progs.xdp_pass);
	return 0;
}

static void bench_close(struct bench *b)
{
	ring_buffer__free(b->rb);
	conn_tracker__destroy(b->ours);
	floor__destroy(b->floor);
	trivial__destroy(b->trivial);
}

struct case_pkt {
	const char *name;
	struct pkt p;
};

static void build_cases(struct case_pkt *c)
{
	struct pkt inner;

	c[0].name = "established IPv4 TCP";
	pkt_tcp4(&c[0].p, "10.0.0.1", 40000, "10.0.0.2", 80, PKT_ACK, 1000, 2000, 65535, 20);
	c[1].name = "established IPv6 TCP";
	pkt_tcp6(&c[1].p, "fd00::1", 40000, "fd00::2", 80, PKT_ACK, 1000, 2000, 65535, 20);
	c[2].name = "UDP (IPv4)";
	pkt_udp4(&c[2].p, "10.0.0.1", 1234, "10.0.0.2", 53, 20);
	c[3].name = "ICMP echo";
	pkt_echo4(&c[3].p, "10.0.0.1", "10.0.0.2", 8, 1, 1);
	c[4].name = "ICMP error (port unreach.)";
	pkt_init(&inner);
	pkt_ipv4(&inner, "10.0.0.2", "10.0.0.9", IPPROTO_UDP, 1, 0);
	pkt_udp(&inner, 5555, 53);
	pkt_finish(&inner);
	pkt_icmp_err4(&c[4].p, "10.0.0.1", "10.0.0.2", 3, 3, &inner);
}

#define NCASES 5

/* Established: same frame, interleaved programs, median of rounds. */
static int bench_established(struct bench *b, int rounds, __u32 repeat, double res[][P_MAX])
{
	static double samples[NCASES][P_MAX][ROUNDS_MAX];
	struct case_pkt cases[NCASES];
	int r, c, i, err;
	__u32 ns = 0;

	build_cases(cases);
	/* Warm up: creates the flows, so every measured run is established. */
	for (c = 0; c < NCASES; c++)
		for (i = 0; i < P_MAX; i++)
			if ((err = time_run(b->fd[i], &cases[c].p, 1000, &ns)))
				return err;
	for (r = 0; r < rounds; r++) {
		for (c = 0; c < NCASES; c++) {
			for (i = 0; i < P_MAX; i++) {
				err = time_run(b->fd[i], &cases[c].p, repeat, &ns);
				if (err)
					return err;
				samples[c][i][r] = ns;
			}
			ring_buffer__consume(b->rb);
		}
	}
	printf("%-28s %9s %9s %9s %11s %13s\n", "packet (repeat per round)", "guarder", "floor",
	       "trivial", "guarder/", "guarder/floor");
	printf("%-28s %9s %9s %9s %11s %13s\n", "", "ns", "ns", "ns", "floor(same)", "(IPv4 TCP)");
	for (c = 0; c < NCASES; c++) {
		for (i = 0; i < P_MAX; i++)
			res[c][i] = median(samples[c][i], rounds);
	}
	for (c = 0; c < NCASES; c++)
		printf("%-28s %9.1f %9.1f %9.1f %10.2fx %12.2fx\n", cases[c].name, res[c][P_OURS],
		       res[c][P_FLOOR], res[c][P_TRIVIAL], res[c][P_OURS] / res[c][P_FLOOR],
		       res[c][P_OURS] / res[0][P_FLOOR]);
	return 0;
}

/* New flows: @per_round distinct SYNs per round, one run each, summed. */
static int bench_new_flows(struct bench *b, int rounds, int per_round, int base, double *res,
			   bool print)
{
	static double samples[P_MAX][ROUNDS_MAX];
	struct pkt *pk;
	char src[32];
	int r, i, k, err = 0;
	__u32 ns = 0;

	pk = calloc(per_round, sizeof(*pk));
	if (!pk)
		return -ENOMEM;
	for (r = 0; r < rounds && !err; r++) {
		for (k = 0; k < per_round; k++) {
			/* Distinct source address and port per flow and round. */
			snprintf(src, sizeof(src), "10.%d.%d.%d", base + r, (k >> 8) & 0xff,
				 k & 0xff);
			pkt_tcp4(&pk[k], src, 1024 + (k >> 16), "10.0.0.2", 80, PKT_SYN, k, 0,
				 65535, 0);
		}
		for (i = 0; i < P_MAX && !err; i++) {
			double sum = 0;

			for (k = 0; k < per_round; k++) {
				err = time_run(b->fd[i], &pk[k], 1, &ns);
				if (err)
					break;
				sum += ns;
				if (i == P_OURS && k % 1024 == 1023)
					ring_buffer__consume(b->rb);
			}
			samples[i][r] = sum / per_round;
		}
		ring_buffer__consume(b->rb);
	}
	free(pk);
	if (err)
		return err;
	for (i = 0; i < P_MAX; i++)
		res[i] = median(samples[i], rounds);
	if (!print)
		return 0;
	printf("%-28s %9.1f %9.1f %9.1f %10.2fx %12.2fx\n", "new flow (IPv4 TCP SYN)", res[P_OURS],
	       res[P_FLOOR], res[P_TRIVIAL], res[P_OURS] / res[P_FLOOR],
	       res[P_OURS] / res[P_FLOOR]);
	return 0;
}

/*
 * A realistic rule set of @n rules, none of which matches the benchmark's
 * flows (10.0.0.1:40000 -> 10.0.0.2:80 and the new flows from 10.x to
 * 10.0.0.2:80): 60% /32 source drops, 20% /24 source drops, 10% TCP
 * destination-port drops, 5% UDP port-range drops, 5% TCP-flag rules
 * (SYN to a port), a few allows. Priorities vary.
 */
static unsigned long long map_memlock(int fd);
static int bench_drops(struct bench *b, struct rule_set *rs, struct rule *rules, int rounds,
		       __u32 repeat, int per_round);

static int make_rules(struct rule *r, int n)
{
	char err[RULE_ERR_LEN], a[64];
	int i, k;

	for (i = 0; i < n; i++) {
		struct rule *x = &r[i];

		rule_init(x);
		x->id = i + 1;
		x->enabled = true;
		x->action = RULE_ACTION_DROP;
		x->priority = 100 + i % 7;
		k = i % 20;
		if (k < 12) {
			snprintf(a, sizeof(a), "172.%d.%d.%d", 16 + (i >> 16), (i >> 8) & 0xff,
				 i & 0xff);
			rule_addr_parse("src_ip", a, &x->src, err, sizeof(err));
		} else if (k < 16) {
			snprintf(a, sizeof(a), "192.%d.%d.0/24", 160 + (i >> 8), i & 0xff);
			rule_addr_parse("src_ip", a, &x->src, err, sizeof(err));
			if (k == 15)
				x->action = RULE_ACTION_ALLOW;
		} else if (k < 18) {
			x->type = RULE_TYPE_TCP;
			x->protocol = RULE_PROTO_TCP;
			x->dport.lo = x->dport.hi = 1000 + i % 30000;
		} else if (k < 19) {
			x->type = RULE_TYPE_UDP;
			x->protocol = RULE_PROTO_UDP;
			x->dport.lo = 40000 + i % 20000;
			x->dport.hi = x->dport.lo + 10;
		} else {
			x->type = RULE_TYPE_TCP;
			x->protocol = RULE_PROTO_TCP;
			x->dport.lo = x->dport.hi = 1000 + i % 30000;
			x->tcp_flags = 0x02;
			x->tcp_flags_mask = 0x12;
		}
		if (rule_validate(x, err, sizeof(err))) {
			fprintf(stderr, "bench rule %d: %s\n", i, err);
			return -EINVAL;
		}
	}
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * beside_floor - @p through our program (after a warm-up: the first packet
 * after a swap evaluates the set) and the floor, @repeat runs each, in
 * @rounds interleaved rounds; the medians into *@ours and *@floor.
 */
static int beside_floor(struct bench *b, const struct pkt *p, int rounds, __u32 repeat,
			double *ours, double *floor)
{
	static double est[ROUNDS_MAX], flo[ROUNDS_MAX];
	__u32 ns;
	int r, rc;

	if ((rc = time_run(b->fd[P_OURS], p, 1000, &ns)))
		return rc;
	for (r = 0; r < rounds; r++) {
		if ((rc = time_run(b->fd[P_OURS], p, repeat, &ns)))
			return rc;
		est[r] = ns;
		if ((rc = time_run(b->fd[P_FLOOR], p, repeat, &ns)))
			return rc;
		flo[r] = ns;
	}
	*ours = median(est, rounds);
	*floor = median(flo, rounds);
	return 0;
}

/* Rule @r: enabled, dropping, with @id and @priority; the caller adds what it matches. */
static void bench_rule(struct rule *r, __u32 id, int priority)
{
	rule_init(r);
	r->id = id;
	r->enabled = true;
	r->action = RULE_ACTION_DROP;
	r->priority = priority;
}

/*
 * Rule scaling: established IPv4 TCP and new flows with 0 (an empty set
 * applied), 100, 1,000 and 10,000 rules, beside the floor in the same
 * rounds; ratios to the floor and to the 0-rule cost.
 */
static int bench_rules(struct bench *b, int rounds, __u32 repeat, int newflows)
{
	static const int counts[] = { 0, 100, 1000, 10000 };
	double e_res[4], ef_res[4], n_res[4][P_MAX], ms[4], ue, uf;
	struct rule_set_fds f;
	struct rule_set *rs = NULL;
	struct rule *rules;
	struct pkt p;
	char err[256];
	int c, rc;

	rules = calloc(10000, sizeof(*rules));
	if (!rules)
		return -ENOMEM;
	rc = make_rules(rules, 10000);
	if (rc)
		goto out;
	f.ctl = bpf_map__fd(b->ours->maps.rule_ctl);
	f.shapes = bpf_map__fd(b->ours->maps.rule_shapes);
	f.match = bpf_map__fd(b->ours->maps.rule_match);
	f.comp = bpf_map__fd(b->ours->maps.rule_comp);
	f.counters = bpf_map__fd(b->ours->maps.rule_counters);
	f.protect_nets = bpf_map__fd(b->ours->maps.rule_protect_nets);
	f.protect_ports = bpf_map__fd(b->ours->maps.rule_protect_ports);
	rc = rule_set_open_fds(&f, &rs);
	if (rc)
		goto out;
	pkt_tcp4(&p, "10.0.0.1", 40000, "10.0.0.2", 80, PKT_ACK, 1000, 2000, 65535, 20);
	for (c = 0; c < 4; c++) {
		double t0 = now_ms();

		rc = rule_set_apply(rs, rules, counts[c], NULL, (__u64)time(NULL), err,
				    sizeof(err));
		ms[c] = now_ms() - t0;
		if (rc) {
			fprintf(stderr, "apply %d rules: %s\n", counts[c], err);
			goto out;
		}
		if ((rc = beside_floor(b, &p, rounds, repeat, &e_res[c], &ef_res[c])))
			goto out;
		rc = bench_new_flows(b, rounds, newflows, 140 + 20 * c, n_res[c], false);
		if (rc)
			goto out;
	}
	printf("\nrule scaling (guarder ns, floor ns in the same rounds; ratios to the floor and "
	       "to 0 rules)\n");
	printf("%-8s %10s | %9s %7s %8s %8s | %9s %7s %8s %8s\n", "rules", "apply ms", "estab.",
	       "floor", "/floor", "/0 rules", "new flow", "floor", "/floor", "/0 rules");
	for (c = 0; c < 4; c++)
		printf("%-8d %10.1f | %9.1f %7.1f %7.2fx %7.2fx | %9.1f %7.1f %7.2fx %7.2fx\n",
		       counts[c], ms[c], e_res[c], ef_res[c], e_res[c] / ef_res[c],
		       e_res[c] / e_res[0], n_res[c][P_OURS], n_res[c][P_FLOOR],
		       n_res[c][P_OURS] / n_res[c][P_FLOOR], n_res[c][P_OURS] / n_res[0][P_OURS]);
	/*
	 * A flow whose verdict cannot be cached: a TCP-flag rule (SYN to port
	 * 80, ranked first, in place of the last rule) matches its addresses
	 * and ports, so every packet of it is evaluated against the set.
	 */
	bench_rule(&rules[9999], 20000, 0);
	rules[9999].type = RULE_TYPE_TCP;
	rules[9999].protocol = RULE_PROTO_TCP;
	rules[9999].dport.lo = rules[9999].dport.hi = 80;
	rules[9999].tcp_flags = 0x02;
	rules[9999].tcp_flags_mask = 0x12;
	rc = rule_set_apply(rs, rules, 10000, NULL, (__u64)time(NULL), err, sizeof(err));
	if (rc) {
		fprintf(stderr, "apply: %s\n", err);
		goto out;
	}
	if ((rc = beside_floor(b, &p, rounds, repeat, &ue, &uf)))
		goto out;
	printf("10000, uncacheable flow (a TCP-flag rule on its port) |  %9.1f %7.1f %7.2fx %7.2fx\n",
	       ue, uf, ue / uf, ue / e_res[0]);
	printf("rule maps, kernel memory (fdinfo memlock) with 10,000 rules: rule_match %llu, "
	       "rule_comp %llu, rule_counters %llu, rule_shapes %llu, protect %llu + %llu bytes\n",
	       map_memlock(f.match), map_memlock(f.comp), map_memlock(f.counters),
	       map_memlock(f.shapes), map_memlock(f.protect_nets), map_memlock(f.protect_ports));
	rc = bench_drops(b, rs, rules, rounds, repeat, 10000);
out:
	rule_set_close(rs);
	free(rules);
	return rc;
}

/*
 * flood_run - @repeat runs of @p through the mutate wrapper, which gives
 * every run a tuple of its own (the source address base + (n & @mask), or
 * with @vary_port the source port) before it tail-calls @target_fd; every
 * run must end in @verdict. Mean ns per run into @ns.
 */
static int flood_run(int target_fd, const struct pkt *p, __u32 repeat, int vary_port,
		     __u32 base, __u32 mask, __u32 verdict, __u32 *ns)
{
	struct mutate *m = mutate__open();
	__u32 zero = 0;
	int rc;

	if (!m) {
		fprintf(stderr, "mutate: open failed: %s\n", strerror(errno));
		return -errno;
	}
	m->rodata->vary_port = vary_port;
	m->rodata->src_base = base;
	m->rodata->src_mask = mask;
	rc = mutate__load(m);
	if (rc) {
		fprintf(stderr, "mutate: load failed: %s\n", strerror(-rc));
		goto out;
	}
	rc = bpf_map_update_elem(bpf_map__fd(m->maps.target), &zero, &target_fd, BPF_ANY);
	if (rc) {
		rc = -errno;
		fprintf(stderr, "mutate: prog array: %s\n", strerror(errno));
		goto out;
	}
	rc = time_run_v(bpf_program__fd(m->progs.xdp_mutate), p, repeat, ns, verdict);
out:
	mutate__destroy(m);
	return rc;
}

/* The established flows a flood must not evict: 10.1.x.y:40000 -> 10.0.0.2:443. */
static int established_set(struct bench *b, int n, int check, int *present)
{
	char src[32];
	struct pkt p;
	__u32 ns;
	int k, rc;

	*present = 0;
	for (k = 0; k < n; k++) {
		struct flow_key key;
		struct flow_value v;
		__u32 s[4], d[4];

		snprintf(src, sizeof(src), "10.1.%d.%d", k >> 8, k & 0xff);
		pkt_tcp4(&p, src, 40000, "10.0.0.2", 443, check ? PKT_ACK : PKT_SYN, 1, 0, 65535, 0);
		if (!check) {
			if ((rc = time_run(b->fd[P_OURS], &p, 1, &ns)))
				return rc;
			continue;
		}
		pkt_addr(src, s);
		pkt_addr("10.0.0.2", d);
		flow_key_make(&key, s, 40000, d, 443, IPPROTO_TCP, 4);
		if (!bpf_map_lookup_elem(bpf_map__fd(b->ours->maps.flows), &key, &v))
			(*present)++;
	}
	return 0;
}

/*
 * Drops with 10,000 rules loaded (@rules, applied through @rs), all to
 * port 8080, which no per-packet rule of the set names (bench_rules()
 * leaves a TCP-flag rule on port 80 ranked first): a packet of an
 * established flow that a new rule drops (its verdict cached in the
 * flow), the same tuple never seen before (a dropped unknown tuple leaves
 * no state, so every repeat is a new tuple's drop), and floods of
 * @repeat distinct tuples, from distinct sources (spoofed) and from one
 * source's distinct ports. The floor takes the same flood (inserting a
 * flow per tuple: it drops nothing). Afterwards, every one of @keep
 * established flows must still be in the table.
 */
static int bench_drops(struct bench *b, struct rule_set *rs, struct rule *rules, int rounds,
		       __u32 repeat, int keep)
{
	static double cached[ROUNDS_MAX], unknown[ROUNDS_MAX], spread[ROUNDS_MAX], one[ROUNDS_MAX],
		fl[ROUNDS_MAX], triv[ROUNDS_MAX];
	struct pkt est, unk, syn;
	struct global_stats st;
	char err[256];
	__u64 flows_before, dropped_before;
	int r, rc, present;
	__u32 ns;

	if ((rc = established_set(b, keep, 0, &present)))
		return rc;
	/* The flow exists before the rule that drops it. */
	pkt_tcp4(&est, "10.200.0.1", 40000, "10.0.0.2", 8080, PKT_ACK, 1000, 2000, 65535, 20);
	if ((rc = time_run(b->fd[P_OURS], &est, 1, &ns)))
		return rc;
	bench_rule(&rules[9998], 30000, 50);
	rule_addr_parse("src_ip", "10.192.0.0/10", &rules[9998].src, err, sizeof(err));
	rc = rule_set_apply(rs, rules, 10000, NULL, (__u64)time(NULL), err, sizeof(err));
	if (rc) {
		fprintf(stderr, "apply: %s\n", err);
		return rc;
	}
	if ((rc = time_run_v(b->fd[P_OURS], &est, 1000, &ns, XDP_DROP)))
		return rc;
	if ((rc = stats_read(bpf_map__fd(b->ours->maps.stats), &st)))
		return rc;
	flows_before = st.flows_created;
	dropped_before = st.dropped;
	pkt_tcp4(&unk, "10.200.9.9", 40001, "10.0.0.2", 8080, PKT_SYN, 1, 0, 65535, 0);
	pkt_tcp4(&syn, "10.200.0.0", 40002, "10.0.0.2", 8080, PKT_SYN, 1, 0, 65535, 0);
	for (r = 0; r < rounds; r++) {
		__u32 base = 10u << 24 | 208u << 16; /* 10.208.0.0 + 20 bits: in 10.192/10 */

		if ((rc = time_run_v(b->fd[P_OURS], &est, repeat, &ns, XDP_DROP)))
			return rc;
		cached[r] = ns;
		if ((rc = time_run_v(b->fd[P_OURS], &unk, repeat, &ns, XDP_DROP)))
			return rc;
		unknown[r] = ns;
		if ((rc = flood_run(b->fd[P_TRIVIAL], &syn, repeat, 0, base, 0xfffff, XDP_PASS, &ns)))
			return rc;
		triv[r] = ns;
		if ((rc = flood_run(b->fd[P_OURS], &syn, repeat, 0, base, 0xfffff, XDP_DROP, &ns)))
			return rc;
		spread[r] = ns;
		if ((rc = flood_run(b->fd[P_OURS], &syn, repeat, 1, 0, 0, XDP_DROP, &ns)))
			return rc;
		one[r] = ns;
		if ((rc = flood_run(b->fd[P_FLOOR], &syn, repeat, 0, base, 0xfffff, XDP_PASS, &ns)))
			return rc;
		fl[r] = ns;
	}
	if ((rc = stats_read(bpf_map__fd(b->ours->maps.stats), &st)))
		return rc;
	if ((rc = established_set(b, keep, 1, &present)))
		return rc;
	{
		double c = median(cached, rounds), t1 = median(triv, rounds);

		printf("\ndrops with 10,000 rules, ns per packet (repeat %u per round; the floods "
		       "through a wrapper that gives each run its own tuple, the wrapper's %.1f ns "
		       "(around the trivial program) taken off)\n",
		       repeat, t1);
		printf("%-44s %9.1f\n", "established flow, cached drop", c);
		printf("%-44s %9.1f  %5.2fx the cached drop\n", "unknown tuple (repeated: no state)",
		       median(unknown, rounds), median(unknown, rounds) / c);
		printf("%-44s %9.1f  %5.2fx the cached drop\n", "new tuples, one source's ports",
		       median(one, rounds) - t1, (median(one, rounds) - t1) / c);
		printf("%-44s %9.1f  %5.2fx the cached drop\n", "new tuples, 1,048,576 sources",
		       median(spread, rounds) - t1, (median(spread, rounds) - t1) / c);
		printf("%-44s %9.1f  (inserting each as a flow)\n", "floor, the same flood",
		       median(fl, rounds) - t1);
	}
	printf("%llu dropped: flows created %llu; not attributed to a source (drop slots of "
	       "the epoch taken) %llu; established flows kept %d of %d\n",
	       (unsigned long long)(st.dropped - dropped_before),
	       (unsigned long long)(st.flows_created - flows_before),
	       (unsigned long long)st.drop_agg_fail, present, keep);
	return present == keep ? 0 : -EUCLEAN;
}

/* The "memlock:" line of /proc/self/fdinfo/<fd>, or 0. */
static unsigned long long map_memlock(int fd)
{
	unsigned long long v = 0;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int map_count(int fd, size_t key_size)
{
	char k[64], next[64];
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, key_size);
		prev = k;
		n++;
	}
	return n;
}

/* A table of 1M flows: fill it from user space and read its memory. */
static int bench_memory(void)
{
	const __u32 max = GUARDER_FLOWS_DEFAULT, chunk = 8192;
	struct flow_key *keys = NULL;
	struct flow_value *vals = NULL;
	struct conn_tracker *skel;
	unsigned long long mem;
	int fd, err = 0, n;
	__u32 i, j;

	skel = conn_tracker__open();
	if (!skel)
		return -errno;
	bpf_map__set_max_entries(skel->maps.flows, max);
	err = conn_tracker__load(skel);
	if (err)
		goto out;
	fd = bpf_map__fd(skel->maps.flows);
	keys = calloc(chunk, sizeof(*keys));
	vals = calloc(chunk, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < max; i += chunk) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 cnt = chunk;

		for (j = 0; j < chunk; j++) {
			__u32 s[4] = { 0, 0, htonl(0xffff), htonl(0x0a000000 | (i + j)) };
			__u32 d[4] = { 0, 0, htonl(0xffff), htonl(0xc0a80001) };

			flow_key_make(&keys[j], s, 40000, d, 443, IPPROTO_TCP, 4);
			vals[j].dir[0].packets = 1;
		}
		if (bpf_map_update_batch(fd, keys, vals, &cnt, &bo)) {
			err = -errno;
			fprintf(stderr, "batch update: %s\n", strerror(errno));
			goto out;
		}
	}
	n = map_count(fd, sizeof(struct flow_key));
	mem = map_memlock(fd);
	printf("\nflow table: max_entries %u, %d flows present after inserting %u\n", max, n, max);
	printf("kernel memory (fdinfo memlock): %llu bytes = %.1f bytes per flow "
	       "(key %zu + value %zu)\n",
	       mem, (double)mem / max, sizeof(struct flow_key), sizeof(struct flow_value));
out:
	free(keys);
	free(vals);
	conn_tracker__destroy(skel);
	return err;
}

int main(int argc, char **argv)
{
	double est[NCASES][P_MAX], nf[P_MAX];
	int rounds = 5, newflows = 20000, memory = 1, rules = 1, opt, err;
	__u32 repeat = 1000000;
	struct bench b;

	while ((opt = getopt(argc, argv, "r:n:f:mR")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'n':
			repeat = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			newflows = atoi(optarg);
			break;
		case 'm':
			memory = 0;
			break;
		case 'R':
			rules = 0;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-r ROUNDS] [-n REPEAT] [-f NEWFLOWS] [-m] [-R]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > ROUNDS_MAX || repeat < 1 || newflows < 1) {
		fprintf(stderr, "rounds 1..%d, repeat and newflows >= 1\n", ROUNDS_MAX);
		return 2;
	}
	/*
	 * One CPU for the whole run: the warm-up that creates the entries and
	 * the measured packets run where a NIC queue would deliver one flow's
	 * packets (RSS keeps a flow on one queue). This matters for the ICMP
	 * view, whose creating CPU counts without atomics (struct icmp_value).
	 */
	{
		cpu_set_t set;
		int cpu = sched_getcpu();

		CPU_ZERO(&set);
		CPU_SET(cpu < 0 ? 0 : cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			fprintf(stderr, "cannot pin to one CPU (%s): results may vary\n",
				strerror(errno));
	}
	err = bench_open(&b);
	if (err) {
		bench_close(&b);
		return 1;
	}
	printf("programs: %s, %s, %s; %d rounds, repeat %u, %d new flows per round, median\n\n",
	       prog_names[0], prog_names[1], prog_names[2], rounds, repeat, newflows);
	err = bench_established(&b, rounds, repeat, est);
	if (!err)
		err = bench_new_flows(&b, rounds, newflows, 100, nf, true);
	if (!err && rules)
		err = bench_rules(&b, rounds, repeat, newflows);
	bench_close(&b);
	if (!err && memory)
		err = bench_memory();
	if (err)
		fprintf(stderr, "benchmark failed: %s\n", strerror(-err));
	return err ? 1 : 0;
}
