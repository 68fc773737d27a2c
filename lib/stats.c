// SPDX-License-Identifier: GPL-2.0
/* Summing the kernel's per-CPU counters, and their stable names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "stats.h"

/* Summing field by field relies on struct global_stats being only __u64. */
_Static_assert(sizeof(struct global_stats) % sizeof(__u64) == 0, "global_stats is __u64 only");

int stats_read(int stats_fd, struct global_stats *out)
{
	/* The kernel copies per-CPU values in slots rounded up to 8 bytes. */
	size_t slot = (sizeof(struct global_stats) + 7) & ~(size_t)7;
	size_t words = sizeof(struct global_stats) / sizeof(__u64);
	__u64 *sum = (__u64 *)out;
	int ncpu, cpu, err = 0;
	__u32 key = 0;
	char *buf;
	size_t i;

	ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0) {
		log_error("stats: cannot count possible CPUs: %s", strerror(-ncpu));
		return ncpu ? ncpu : -EINVAL;
	}
	buf = calloc((size_t)ncpu, slot);
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(stats_fd, &key, buf)) {
		err = -errno;
		log_error("stats: reading the per-CPU counters failed: %s", strerror(errno));
		goto out;
	}
	memset(out, 0, sizeof(*out));
	for (cpu = 0; cpu < ncpu; cpu++) {
		const __u64 *v = (const __u64 *)(buf + (size_t)cpu * slot);

		for (i = 0; i < words; i++)
			sum[i] += v[i];
	}
out:
	free(buf);
	return err;
}

/* These names become metric labels: never rename one, only add. */
static const char *const proto_names[GUARDER_P_MAX] = {
	[GUARDER_P_TCP] = "tcp",
	[GUARDER_P_UDP] = "udp",
	[GUARDER_P_ICMP] = "icmp",
	[GUARDER_P_ICMPV6] = "icmpv6",
	[GUARDER_P_OTHER_IPV4] = "other_ipv4",
	[GUARDER_P_OTHER_IPV6] = "other_ipv6",
	[GUARDER_P_NON_IP] = "non_ip",
};

static const char *const malformed_names[GUARDER_M_MAX] = {
	[GUARDER_M_ETH_TRUNC] = "eth_truncated",
	[GUARDER_M_VLAN_TRUNC] = "vlan_truncated",
	[GUARDER_M_VLAN_DEPTH] = "vlan_too_deep",
	[GUARDER_M_IPV4_TRUNC] = "ipv4_truncated",
	[GUARDER_M_IPV4_IHL] = "ipv4_bad_ihl",
	[GUARDER_M_IPV4_TOTLEN] = "ipv4_bad_total_length",
	[GUARDER_M_IPV6_TRUNC] = "ipv6_truncated",
	[GUARDER_M_IPV6_PAYLEN] = "ipv6_bad_payload_length",
	[GUARDER_M_IPV6_EXT_TRUNC] = "ipv6_ext_truncated",
	[GUARDER_M_IPV6_EXT_DEPTH] = "ipv6_ext_too_deep",
	[GUARDER_M_L4_TRUNC] = "l4_truncated",
	[GUARDER_M_TCP_DOFF] = "tcp_bad_data_offset",
	[GUARDER_M_ICMP_INNER_TRUNC] = "icmp_inner_truncated",
};

static const char *name_in(const char *const *names, unsigned int n, unsigned int i)
{
	return i < n && names[i] ? names[i] : "unknown";
}

const char *stats_proto_name(enum guarder_proto_class p)
{
	return name_in(proto_names, GUARDER_P_MAX, (unsigned int)p);
}

const char *stats_malformed_name(enum guarder_malformed m)
{
	return name_in(malformed_names, GUARDER_M_MAX, (unsigned int)m);
}
