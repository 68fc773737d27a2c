// SPDX-License-Identifier: GPL-2.0
#include "bpf_sync.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <bpf/bpf.h>

int bpf_sync_open(struct bpf_sync *s, const char *name)
{
	LIBBPF_OPTS(bpf_map_create_opts, mo);
	char n[BPF_OBJ_NAME_LEN];
	int err;

	s->outer = -1;
	snprintf(n, sizeof(n), "gdr_%.8s_in", name);
	s->inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, n, 4, 4, 1, NULL);
	if (s->inner < 0)
		return -errno;
	mo.inner_map_fd = s->inner;
	snprintf(n, sizeof(n), "gdr_%.8s", name);
	s->outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, n, 4, 4, 1, &mo);
	if (s->outer < 0) {
		err = -errno;
		close(s->inner);
		s->inner = -1;
		return err;
	}
	return 0;
}

int bpf_sync_wait(const struct bpf_sync *s)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(s->outer, &zero, &s->inner, BPF_ANY))
		return -errno;
	return 0;
}

void bpf_sync_close(struct bpf_sync *s)
{
	if (s->outer >= 0)
		close(s->outer);
	if (s->inner >= 0)
		close(s->inner);
	s->outer = -1;
	s->inner = -1;
}
