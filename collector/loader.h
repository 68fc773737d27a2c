/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The collector's side of the kernel program: the libbpf-bootstrap life
 * cycle (open the skeleton, size the maps from the config, pin them, load,
 * attach, detach, destroy) in small functions that main() calls in order.
 *
 * XDP is attached with libxdp to every configured interface; egress is
 * tracked by a tc (clsact) program attached with libbpf. Everything that
 * loader_attach() attached is detached by loader_detach(), also after a
 * partial failure.
 */
#ifndef GUARDER_LOADER_H
#define GUARDER_LOADER_H

#include <stdbool.h>

#include "lib/config.h"

struct loader;

/*
 * loader_check_ifaces - check that every interface of @cfg exists, without
 * touching BPF (so --check-config can use it unprivileged). Logs one error
 * naming the first missing interface. Returns 0, -ENODEV, or -EINVAL when
 * no interface is configured.
 */
int loader_check_ifaces(const struct guarder_config *cfg);

/*
 * loader_open_load - open the skeleton, size its maps from @cfg, set their
 * pin paths under cfg->bpf.pin_path (created 0700 if absent; must be on a
 * bpffs; locked with flock until loader_destroy, so a second collector on
 * the same pins fails with -EBUSY), check that any maps already pinned
 * there are compatible, and load. Compatible pinned maps are reused, so flows and counters survive a
 * restart; an incompatible one is an error that says what differs and how
 * to fix it (nothing is deleted). @cfg must outlive the loader.
 * Returns 0 and *@out, or a negative errno (already logged).
 */
int loader_open_load(const struct guarder_config *cfg, struct loader **out);

/*
 * loader_attach - attach the XDP program to each configured interface in
 * the configured mode, replacing a stale attachment of our own program
 * (left by a collector killed with SIGKILL) but never a foreign program,
 * and, when cfg->collector.egress, the tc egress program. On failure every
 * attachment made so far is rolled back. Returns 0 or a negative errno
 * (already logged).
 */
int loader_attach(struct loader *ld);

/*
 * loader_detach - detach everything loader_attach() attached, in reverse
 * order. Safe to call more than once. Errors are logged, not returned:
 * detaching continues with the next interface.
 */
void loader_detach(struct loader *ld);

/* loader_destroy - detach if still attached, close everything, free @ld. */
void loader_destroy(struct loader *ld);

/* File descriptors of the loaded (pinned) maps, owned by the loader. */
int loader_flows_fd(const struct loader *ld);
int loader_icmp_fd(const struct loader *ld);
int loader_stats_fd(const struct loader *ld);
int loader_events_fd(const struct loader *ld);

/* loader_maps_reused - how many pinned maps were found and reused at load. */
int loader_maps_reused(const struct loader *ld);

#endif /* GUARDER_LOADER_H */
