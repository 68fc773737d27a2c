// SPDX-License-Identifier: GPL-2.0
/* Harness of the 'bpf' suite; see bpftest.h. */
#include "bpftest.h"

#include <errno.h>
#include <linux/if_ether.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int failures;

void test_fail_here(const char *file, int line, const char *name, struct test_val got,
		    struct test_val want, const char *op)
{
	char g[48], w[48];

	test_val_format(got, g, sizeof(g));
	test_val_format(want, w, sizeof(w));
	fprintf(stderr, "  %s:%d: %s: got %s, want %s %s\n", file, line, name, g, op, w);
	failures++;
}

/* A harness step that could not do its job fails the case it serves. */
static void harness_fail(const char *what, int err)
{
	fprintf(stderr, "  %s failed: %s\n", what, strerror(-err));
	failures++;
}

/* May this process load BPF programs at all? 0 yes, 77 no (skip), 1 error. */
static int bpf_permitted(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "gdr_probe", "GPL", insns, 2, NULL);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EPERM || errno == EACCES) {
		fprintf(stderr, "no permission to load BPF programs (need CAP_BPF): skipped\n");
		return 77;
	}
	fprintf(stderr, "probe program load failed: %s\n", strerror(errno));
	return 1;
}

static int event_cb(void *ctx, void *data, size_t size)
{
	struct tenv *e = ctx;

	if (size != sizeof(struct flow_event)) {
		fprintf(stderr, "  ring buffer record of %zu bytes\n", size);
		failures++;
		return 0;
	}
	if (e->nev < TENV_EVENTS_MAX)
		memcpy(&e->ev[e->nev++], data, size);
	return 0;
}

static int tenv_open(struct tenv *e, const struct tenv_opts *o)
{
	struct tracker_cfg cfg = { 0 };
	struct conn_tracker *skel;
	__u32 zero = 0;
	int err;

	memset(e, 0, sizeof(*e));
	skel = conn_tracker__open();
	if (!skel)
		return -errno;
	bpf_map__set_max_entries(skel->maps.events, o->ringbuf_size ? o->ringbuf_size : 65536);
	bpf_map__set_max_entries(skel->maps.flows, o->flows_max ? o->flows_max : 1024);
	bpf_map__set_max_entries(skel->maps.icmp_flows, 256);
	bpf_map__set_max_entries(skel->maps.frag_cache, o->frags_max ? o->frags_max : 256);
	/* drop_agg: two halves of drops_max slots (a power of two). */
	bpf_map__set_max_entries(skel->maps.drop_agg, 2 * (o->drops_max ? o->drops_max : 1024));
	skel->rodata->drop_half_mask = (o->drops_max ? o->drops_max : 1024) - 1;
	err = conn_tracker__load(skel);
	if (err) {
		fprintf(stderr, "skeleton load failed: %d\n", err);
		conn_tracker__destroy(skel);
		return err;
	}
	/* The runtime knobs as the collector writes them by default. */
	cfg.icmp_event_interval_ns = o->icmp_event_interval_ns ? o->icmp_event_interval_ns :
								1000000000ULL;
	cfg.flags = o->unparsed_pass ? 0 : GUARDER_CFG_UNPARSED_DROP;
	cfg.abi = GUARDER_ABI;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.tracker_cfg), &zero, &cfg, 0)) {
		err = -errno;
		fprintf(stderr, "tracker_cfg write failed: %d\n", err);
		conn_tracker__destroy(skel);
		return err;
	}
	e->skel = skel;
	e->rb = ring_buffer__new(bpf_map__fd(skel->maps.events), event_cb, e, NULL);
	if (!e->rb) {
		err = -errno;
		conn_tracker__destroy(skel);
		e->skel = NULL;
		return err;
	}
	return 0;
}

static void tenv_close(struct tenv *e)
{
	ring_buffer__free(e->rb);
	conn_tracker__destroy(e->skel);
	e->rb = NULL;
	e->skel = NULL;
}

int run_tests(const struct test_case *cases, int n)
{
	int i, rc, failed_cases = 0;

	rc = bpf_permitted();
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		struct tenv *e = calloc(1, sizeof(*e));
		int before = failures;

		if (!e || tenv_open(e, &cases[i].opts)) {
			fprintf(stderr, "FAIL %s: environment setup\n", cases[i].name);
			free(e);
			failed_cases++;
			continue;
		}
		if (!cases[i].fn(e) || failures != before) {
			if (failures == before)
				fprintf(stderr, "  (test returned false)\n");
			fprintf(stderr, "FAIL %s\n", cases[i].name);
			failed_cases++;
		} else {
			fprintf(stderr, "ok   %s\n", cases[i].name);
		}
		tenv_close(e);
		free(e);
	}
	fprintf(stderr, "%d/%d passed\n", n - failed_cases, n);
	return failed_cases ? 1 : 0;
}

int run_xdp(struct tenv *e, const struct pkt *p)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->data, .data_size_in = p->len,
		    .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.xdp_conn_tracker), &opts);
	if (err)
		return -errno;
	return opts.retval;
}

bool run_xdp_n(struct tenv *e, const struct pkt *p, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!ASSERT_EQ(run_xdp(e, p), XDP_PASS, "xdp verdict"))
			return false;
	return true;
}

int run_tc(struct tenv *e, const struct pkt *p, __u32 gso_segs, __u32 gso_size)
{
	struct __sk_buff skb = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = p->data, .data_size_in = p->len,
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb), .repeat = 1);
	int err;

	skb.gso_segs = gso_segs;
	skb.gso_size = gso_size;
	err = bpf_prog_test_run_opts(bpf_program__fd(e->skel->progs.tc_egress_tracker), &opts);
	if (err)
		return -errno;
	return opts.retval;
}

int read_stats(struct tenv *e, struct global_stats *out)
{
	int ncpu = libbpf_num_possible_cpus(), i, err = 0;
	struct global_stats *per;
	__u32 zero = 0;
	size_t j;

	memset(out, 0, sizeof(*out));
	if (ncpu < 1) {
		harness_fail("read_stats: counting CPUs", ncpu ? ncpu : -EINVAL);
		return ncpu ? ncpu : -EINVAL;
	}
	per = calloc(ncpu, sizeof(*per));
	if (!per) {
		harness_fail("read_stats", -ENOMEM);
		return -ENOMEM;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.stats), &zero, per)) {
		err = -errno;
		harness_fail("read_stats: stats lookup", err);
		goto out;
	}
	/* struct global_stats is only __u64 counters: sum word by word. */
	for (i = 0; i < ncpu; i++)
		for (j = 0; j < sizeof(*out) / sizeof(__u64); j++)
			((__u64 *)out)[j] += ((__u64 *)&per[i])[j];
out:
	free(per);
	return err;
}

int flow_get(struct tenv *e, const char *src, __u16 sport, const char *dst, __u16 dport, __u8 proto,
	     struct flow_value *v, int *dir)
{
	__u32 s[4], d[4];
	struct flow_key k;
	int rc;

	pkt_addr(src, s);
	pkt_addr(dst, d);
	rc = flow_key_make(&k, s, sport, d, dport, proto, strchr(src, ':') ? 6 : 4);
	if (dir)
		*dir = rc;
	if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.flows), &k, v))
		return -errno;
	return 0;
}

int flow_count(struct tenv *e)
{
	struct flow_key k, next;
	int n = 0, fd = bpf_map__fd(e->skel->maps.flows);
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

int icmp_get(struct tenv *e, const char *src, const char *dst, __u8 type, __u8 code, __u8 family,
	     struct icmp_value *v)
{
	struct icmp_key k;

	memset(&k, 0, sizeof(k));
	pkt_addr(src, k.src);
	pkt_addr(dst, k.dst);
	k.type = type;
	k.code = code;
	k.family = family;
	if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.icmp_flows), &k, v))
		return -errno;
	/* Tests may run on any CPU: fold the two halves into the own ones. */
	v->packets_own = icmp_value_packets(v);
	v->bytes_own = icmp_value_bytes(v);
	v->packets_other = 0;
	v->bytes_other = 0;
	return 0;
}

__u64 icmp_count_get(struct tenv *e, __u8 family, __u8 type, __u8 code)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	__u32 k = icmp_count_index(family, type, code);
	__u64 *per, sum = 0;

	if (ncpu < 1) {
		harness_fail("icmp_count_get: counting CPUs", ncpu ? ncpu : -EINVAL);
		return 0;
	}
	per = calloc(ncpu, sizeof(*per));
	if (!per) {
		harness_fail("icmp_count_get", -ENOMEM);
		return 0;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.icmp_counts), &k, per))
		harness_fail("icmp_count_get: icmp_counts lookup", -errno);
	else
		for (i = 0; i < ncpu; i++)
			sum += per[i];
	free(per);
	return sum;
}

int drain_events(struct tenv *e)
{
	int before = e->nev, rc;

	rc = ring_buffer__consume(e->rb);
	if (rc < 0) {
		harness_fail("drain_events: ring_buffer__consume", rc);
		return rc;
	}
	return e->nev - before;
}

int events_of(struct tenv *e, __u8 type)
{
	int i, n = 0;

	for (i = 0; i < e->nev; i++)
		n += e->ev[i].type == type;
	return n;
}

int drop_agg_sum(struct tenv *e, const char *src, __u8 reason, __u32 rule_id, __u64 *packets,
		 __u64 *bytes)
{
	int fd = bpf_map__fd(e->skel->maps.drop_agg), ncpu = libbpf_num_possible_cpus();
	__u32 n = bpf_map__max_entries(e->skel->maps.drop_agg), epoch, i, zero = 0;
	struct tracker_cfg cfg;
	struct drop_slot *per;
	__u32 s[4];
	int found = 0, c;

	*packets = 0;
	*bytes = 0;
	if (ncpu < 1) {
		harness_fail("drop_agg_sum: counting CPUs", -EINVAL);
		return -EINVAL;
	}
	if (bpf_map_lookup_elem(bpf_map__fd(e->skel->maps.tracker_cfg), &zero, &cfg)) {
		harness_fail("drop_agg_sum: tracker_cfg", -errno);
		return -EIO;
	}
	epoch = cfg.drop_epoch;
	per = calloc(ncpu, sizeof(*per));
	if (!per) {
		harness_fail("drop_agg_sum", -ENOMEM);
		return -ENOMEM;
	}
	pkt_addr(src, s);
	/* The current epoch's half: what the kernel counts now. */
	for (i = (epoch & 1) * (n / 2); i < (epoch & 1) * (n / 2) + n / 2; i++) {
		if (bpf_map_lookup_elem(fd, &i, per)) {
			harness_fail("drop_agg_sum: lookup", -errno);
			found = -EIO;
			break;
		}
		for (c = 0; c < ncpu; c++) {
			const struct drop_slot *d = &per[c];

			if (d->epoch != epoch || !d->packets || memcmp(d->key.src, s, sizeof(s)) ||
			    d->key.reason != reason ||
			    (reason == GUARDER_DROP_RULE && d->key.rule_id != rule_id))
				continue;
			found++;
			*packets += d->packets;
			*bytes += d->bytes;
		}
	}
	free(per);
	return found;
}

int map_entries(int fd, size_t key_size)
{
	char k[128], next[128];
	void *prev = NULL;
	int n = 0;

	if (key_size > sizeof(k))
		return -EINVAL;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, key_size);
		prev = k;
		n++;
	}
	return n;
}
