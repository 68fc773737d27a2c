/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The collector's side of the kernel program: the libbpf-bootstrap life
 * cycle (open the skeleton, size the maps from the config, pin them, load,
 * attach, destroy) in small functions that main() calls in order.
 *
 * The programs stay attached when the collector exits (the filter keeps
 * working through restarts, crashes and upgrades); a new collector adopts
 * or atomically replaces them, and only loader_detach_pinned() (the
 * --detach command) removes them. collector/loader.c says how.
 */
#ifndef GUARDER_LOADER_H
#define GUARDER_LOADER_H

#include <stdbool.h>

#include "lib/config.h"

struct loader;

/*
 * loader_check_ifaces - check that every interface of @cfg exists and is an
 * Ethernet device, without touching BPF (so --check-config can use it
 * unprivileged). Logs one error naming the first bad interface. Returns
 * 0, -ENODEV, -EPROTONOSUPPORT (an L3 device: WireGuard, tun, loopback),
 * or -EINVAL when no interface is configured or one is listed twice.
 */
int loader_check_ifaces(const struct guarder_config *cfg);

/*
 * loader_open_load - open the skeleton, size its maps from @cfg, set their
 * pin paths under cfg->bpf.pin_path (created 0700 if absent; must be on a
 * bpffs; locked with flock until loader_destroy, so a second collector on
 * the same pins fails with -EBUSY), load, and write the program's runtime
 * settings (tracker_cfg). Pinned maps of this program's ABI are reused, so
 * flows, counters and rules survive a restart; pins of another ABI are
 * moved aside for fresh maps (the old program keeps filtering until
 * loader_attach replaces it); a map whose size the config changed is an
 * error that says what to do (nothing is deleted). @cfg must outlive the
 * loader. Returns 0 and *@out, or a negative errno (already logged).
 */
int loader_open_load(const struct guarder_config *cfg, struct loader **out);

/*
 * loader_attach - make this collector's programs the ones attached to each
 * configured interface: XDP in the configured mode and, when
 * cfg->collector.egress, tc egress. An identical program already attached
 * is kept, an older one of ours replaced atomically, a foreign one never
 * touched (-EBUSY). What an earlier run attached to interfaces no longer
 * configured is detached. On failure, what this call attached anew is
 * detached again; adopted and replaced programs stay. Returns 0 or a
 * negative errno (already logged).
 */
int loader_attach(struct loader *ld);

/*
 * loader_detach_pinned - the --detach command: detach our programs from
 * every interface the pinned registry (xdp_ifaces under cfg->bpf.pin_path)
 * names, and forget them; the pinned maps stay. Refuses with -EBUSY while
 * a collector holds the pins. Returns 0 (also when nothing was attached)
 * or a negative errno (logged).
 */
int loader_detach_pinned(const struct guarder_config *cfg);

/* loader_destroy - close everything and free @ld; the programs stay attached. */
void loader_destroy(struct loader *ld);

/* File descriptors of the pinned maps, valid until loader_destroy(). */
int loader_flows_fd(const struct loader *ld);
int loader_icmp_fd(const struct loader *ld);
int loader_stats_fd(const struct loader *ld);
int loader_events_fd(const struct loader *ld);
int loader_drops_fd(const struct loader *ld);
int loader_cfg_fd(const struct loader *ld); /* tracker_cfg */

/* How many maps were reused from an earlier run's pins. */
int loader_maps_reused(const struct loader *ld);

#endif /* GUARDER_LOADER_H */
