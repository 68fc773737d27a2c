// SPDX-License-Identifier: GPL-2.0
/*
 * Loading, pinning and attaching the kernel program (see loader.h).
 *
 * The filter never fails open because the collector stops: the programs
 * stay attached when it exits, crashes or is upgraded, and a new collector
 * adopts them (the same program on the same maps) or replaces them in one
 * atomic step (XDP_FLAGS_REPLACE for XDP, a filter replace for tc). Only
 * --detach removes them. The pinned map xdp_ifaces is the registry of what
 * we attached where (REG_* bits), so that an interface dropped from the
 * config is detached by the next start and --detach finds everything.
 *
 * XDP attach: the program is loaded by the skeleton (so all its maps and
 * the tc program share one object) and attached alone with libbpf's
 * bpf_xdp_attach(), which can replace it atomically. libxdp's
 * multi-program dispatcher can only run component programs loaded as
 * freplace (BPF_PROG_TYPE_EXT), so a program loaded as plain XDP would end
 * up attached alone anyway; libxdp is what tells us whether a dispatcher
 * with other programs is attached, which we never evict.
 *
 * Map layouts: a pinned map made by another version of the program (its
 * ABI, tracker_cfg.abi, or its key/value layout differs) cannot serve this
 * one. Its pins are moved aside, this program gets fresh maps, the rules
 * file is restored into them, and the old program, still filtering on its
 * old maps, is replaced atomically; then the old pins go. A changed map
 * size in the config is refused instead: that loses the flows, so the
 * operator decides.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/magic.h>

#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "conn_tracker.skel.h"
#include "kernel/conn_tracker.h"
#include "lib/lock_dir.h"
#include "lib/log.h"
#include "loader.h"

#define XDP_PROG_NAME   "xdp_conn_tracker"
#define TC_PROG_NAME    "tc_egress_tracker"
#define DISPATCHER_NAME "xdp_dispatcher"

/*
 * Our tc egress filter's handle and priority. Fixed, so that a collector
 * started later finds the filter its predecessor left attached.
 */
#define TC_HANDLE   0x4744 /* "GD" */
#define TC_PRIORITY 0x4744

/* Between two ICMP error events of one ICMP view entry. */
#define ICMP_EVENT_INTERVAL_NS 1000000000ULL

/* Where the pins of an older program go while this one takes over. */
#define ASIDE_DIR "replaced_maps" /* bpffs refuses names with a dot */

struct loader_iface {
	char name[GUARDER_IFNAME_MAX];
	int ifindex;
	__u32 xdp_flags; /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE, as attached */
	__u32 reg;	 /* GUARDER_REG_* of this interface after this run */
	bool xdp_new;	 /* attached by this run (not adopted, not replaced) */
	bool tc_new;
};

/* A program as the kernel describes it. */
struct prog_desc {
	__u32 id;
	char name[BPF_OBJ_NAME_LEN];
	__u8 tag[BPF_TAG_SIZE];
	bool on_our_maps; /* it uses our pinned flows map */
};

struct loader {
	const struct guarder_config *cfg;
	struct conn_tracker *skel;
	int lock_fd; /* flock on the pin directory: one collector per pin set */
	struct loader_iface ifaces[GUARDER_MAX_IFACES];
	size_t n_ifaces;
	int maps_pinned;
	int maps_reused;
	bool fresh; /* the pins of an older program were moved aside */
	__u32 flows_id; /* our flows map */
	struct prog_desc xdp, tc; /* the programs this collector loaded */
};

/*
 * The config key that sizes a map, for error messages (NULL if none), and
 * into *@per the map's entries per unit of the key.
 */
static const char *map_size_key(const char *map_name, unsigned int *per)
{
	static const struct {
		const char *map, *key;
		unsigned int per;
	} keys[] = {
		{ GUARDER_MAP_FLOWS, "bpf.flow_table_size", 1 },
		{ GUARDER_MAP_ICMP, "bpf.icmp_table_size", 1 },
		{ GUARDER_MAP_EVENTS, "bpf.ringbuf_size", 1 },
		{ GUARDER_MAP_FRAGS, "bpf.frag_table_size", 1 },
		{ GUARDER_MAP_DROPS, "bpf.drop_table_size", 2 }, /* two halves */
	};
	size_t i;

	*per = 1;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(map_name, keys[i].map)) {
			*per = keys[i].per;
			return keys[i].key;
		}
	return NULL;
}

static const char *xdp_mode_str(__u32 flags)
{
	return flags & XDP_FLAGS_DRV_MODE ? "native" :
	       flags & XDP_FLAGS_SKB_MODE ? "generic" :
	       flags & XDP_FLAGS_HW_MODE  ? "offload" :
					    "none";
}

/*
 * The kernel keeps BPF_OBJ_NAME_LEN - 1 characters of a program name:
 * compare the prefix.
 */
static bool prog_name_is(const char *name, const char *ours)
{
	return name && !strncmp(name, ours, BPF_OBJ_NAME_LEN - 1);
}

/*
 * The ARPHRD_* type of interface @name, or -1. Asked of this network
 * namespace (an ioctl): /sys/class/net shows the namespace sysfs was
 * mounted in, which may be another one.
 */
static int iface_type(const char *name)
{
	struct ifreq ifr;
	int fd, type = -1;

	if (strlen(name) >= sizeof(ifr.ifr_name))
		return -1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	if (!ioctl(fd, SIOCGIFHWADDR, &ifr))
		type = ifr.ifr_hwaddr.sa_family;
	close(fd);
	return type;
}

int loader_check_ifaces(const struct guarder_config *cfg)
{
	size_t i, j;
	int type;

	if (!cfg->collector.n_ifaces) {
		log_error("no interface to watch: give -iface NAME[,NAME...] or set "
			  "collector.interfaces in %s",
			  cfg->source ? cfg->source : "the config");
		return -EINVAL;
	}
	for (i = 0; i < cfg->collector.n_ifaces; i++) {
		const char *name = cfg->collector.ifaces[i];

		if (!if_nametoindex(name)) {
			log_error("interface '%s' does not exist (ip link show lists the "
				  "interfaces of this namespace)",
				  name);
			return -ENODEV;
		}
		/*
		 * The program parses Ethernet frames: on a device without
		 * an Ethernet header (WireGuard, tun, loopback) it would
		 * read IP headers as MAC addresses and filter nothing.
		 */
		type = iface_type(name);
		if (type != ARPHRD_ETHER) {
			log_error("interface '%s' is not an Ethernet device (ARPHRD type %d: an "
				  "L3 device such as WireGuard or tun, or loopback); Guarder "
				  "parses Ethernet frames and will not attach where it would "
				  "filter nothing. Watch the Ethernet interface the tunnel "
				  "runs over instead",
				  name, type);
			return -EPROTONOSUPPORT;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(name, cfg->collector.ifaces[j])) {
				log_error("interface '%s' is listed twice", name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* mkdir -p with @mode for the components we create. */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path), i;

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

static int prepare_pin_dir(const char *dir)
{
	struct statfs st;
	int err;

	err = mkdir_p(dir, 0700);
	if (err) {
		log_error("cannot create the pin directory %s: %s", dir, strerror(-err));
		if (err == -EPERM || err == -EACCES)
			log_error("run as root (or with CAP_BPF and CAP_NET_ADMIN)");
		return err;
	}
	if (statfs(dir, &st)) {
		err = -errno;
		log_error("cannot stat %s: %s", dir, strerror(-err));
		return err;
	}
	if ((unsigned long)st.f_type != BPF_FS_MAGIC) {
		log_error("%s is not on a bpffs, so maps pinned there would not survive; "
			  "mount one (scripts/setup.sh does: mount -t bpf bpf /sys/fs/bpf) "
			  "or set bpf.pin_path under a bpffs",
			  dir);
		return -ENOTSUP;
	}
	return 0;
}

/* What check_pinned_map() found. */
enum pin_state { PIN_NONE, PIN_REUSE, PIN_LAYOUT };

/*
 * check_pinned_map - compare the map pinned at @path (if any) with @map.
 * Returns PIN_NONE, PIN_REUSE (compatible), PIN_LAYOUT (made by another
 * program version: type, key, value or flags differ), or -EEXIST when only
 * its size differs, which comes from the config: refused with what to do.
 * Other errors: a negative errno. Everything is logged.
 */
static int check_pinned_map(const struct bpf_map *map, const char *path, const char *pin_dir)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	unsigned int per;
	const char *key;
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return PIN_NONE;
		log_error("cannot open the pinned map %s: %s", path, strerror(-err));
		return err;
	}
	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err) {
		err = -errno;
		close(fd);
		log_error("cannot read the pinned map %s: %s", path, strerror(-err));
		return err;
	}
	close(fd);

	if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map) ||
	    info.map_flags != bpf_map__map_flags(map)) {
		log_info("the map pinned at %s has another layout (type %u, key %u, value %u, "
			 "flags 0x%x; this program: %u, %u, %u, 0x%x)",
			 path, info.type, info.key_size, info.value_size, info.map_flags,
			 bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
			 bpf_map__map_flags(map));
		return PIN_LAYOUT;
	}
	if (info.max_entries == bpf_map__max_entries(map))
		return PIN_REUSE;

	key = map_size_key(bpf_map__name(map), &per);
	log_error("the map pinned at %s cannot be reused: its size (max_entries) is %u, this "
		  "collector needs %u",
		  path, info.max_entries, bpf_map__max_entries(map));
	log_error("to keep the pinned flows and counters, set %s back to %u; to start afresh, "
		  "stop every Guarder process and remove the pins (rm -r %s), which loses the "
		  "flows and counters kept there",
		  key ? key : "its size", info.max_entries / per, pin_dir);
	return -EEXIST;
}

/* Size the maps from the config before load. */
static int size_maps(struct loader *ld)
{
	const struct guarder_config *cfg = ld->cfg;
	struct conn_tracker *skel = ld->skel;
	int err;

	err = bpf_map__set_max_entries(skel->maps.flows, cfg->bpf.flow_table_size);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.icmp_flows, cfg->bpf.icmp_table_size);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.events, cfg->bpf.ringbuf_size);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.frag_cache, cfg->bpf.frag_table_size);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.drop_agg, 2 * cfg->bpf.drop_table_size);
	if (!err) /* a power of two (config.c) */
		skel->rodata->drop_half_mask = cfg->bpf.drop_table_size - 1;
	if (err) {
		log_error("cannot size the maps: %s", strerror(-err));
		return err;
	}
	/* Without egress tracking the tc program is not needed at all. */
	if (!cfg->collector.egress) {
		err = bpf_program__set_autoload(skel->progs.tc_egress_tracker, false);
		if (err) {
			log_error("cannot disable the tc program: %s", strerror(-err));
			return err;
		}
	}
	return 0;
}

/*
 * Two collectors on one pin directory would share the maps and each take
 * the other's attachments for its own. The kernel drops a flock when its
 * holder dies, even by SIGKILL.
 */
static int lock_pin_dir(struct loader *ld, const char *dir)
{
	int err;

	ld->lock_fd = lock_dir_open(dir, 0, "pin directory");
	if (ld->lock_fd < 0)
		return ld->lock_fd;
	if (flock(ld->lock_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK) {
			log_error("another guarder-collector is running with the pins under %s; "
				  "stop it first",
				  dir);
			return -EBUSY;
		}
		log_error("cannot lock the pin directory %s: %s", dir, strerror(-err));
		return err;
	}
	return 0;
}

/* @dir/@name into @buf; -ENAMETOOLONG (logged) if it does not fit. */
static int join_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= len) {
		log_error("path too long: %s/%s", dir, name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The maps we pin, after @prev (NULL: the first): libbpf's internal ones are not. */
static struct bpf_map *next_pinned(const struct loader *ld, struct bpf_map *prev)
{
	struct bpf_map *map = prev;

	do
		map = bpf_object__next_map(ld->skel->obj, map);
	while (map && bpf_map__is_internal(map));
	return map;
}

/* The ABI of the program that made the pins under @dir: 0 if unknown. */
static __u32 pinned_abi(const char *dir)
{
	struct tracker_cfg tc;
	char path[PATH_MAX];
	__u32 zero = 0;
	int fd;

	if (join_path(path, sizeof(path), dir, GUARDER_MAP_CFG))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	memset(&tc, 0, sizeof(tc));
	if (bpf_map_lookup_elem(fd, &zero, &tc))
		tc.abi = 0;
	close(fd);
	return tc.abi;
}

/*
 * move_pins - rename the pins of our maps from @from to @to (an older
 * program keeps its maps, and keeps filtering on them, while they have
 * no name). Returns 0 or a negative errno (logged).
 */
static int move_pins(struct loader *ld, const char *from, const char *to)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct bpf_map *map;
	int err;

	for (map = next_pinned(ld, NULL); map; map = next_pinned(ld, map)) {
		err = join_path(src, sizeof(src), from, bpf_map__name(map));
		if (!err)
			err = join_path(dst, sizeof(dst), to, bpf_map__name(map));
		if (err)
			return err;
		if (rename(src, dst) && errno != ENOENT) {
			err = -errno;
			log_error("cannot move the pin %s to %s: %s", src, dst, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Remove the pins moved aside (the old maps go with their last user). */
static void drop_aside(struct loader *ld)
{
	char aside[PATH_MAX], path[PATH_MAX];
	struct bpf_map *map;

	if (join_path(aside, sizeof(aside), ld->cfg->bpf.pin_path, ASIDE_DIR))
		return;
	for (map = next_pinned(ld, NULL); map; map = next_pinned(ld, map)) {
		if (join_path(path, sizeof(path), aside, bpf_map__name(map)))
			continue;
		if (unlink(path) && errno != ENOENT)
			log_warn("cannot remove the old pin %s: %s", path, strerror(errno));
	}
	if (rmdir(aside) && errno != ENOENT)
		log_warn("cannot remove %s: %s", aside, strerror(errno));
}

/*
 * set_pin_paths - decide, map by map, between reusing the pins and a
 * fresh start: another ABI in the pins, or one map of another layout, and
 * every pin is moved aside (see the top of this file).
 */
static int set_pin_paths(struct loader *ld)
{
	const char *dir = ld->cfg->bpf.pin_path;
	char path[PATH_MAX], aside[PATH_MAX];
	struct bpf_map *map;
	int err, layout = 0, found = 0;
	__u32 abi;

	err = prepare_pin_dir(dir);
	if (!err)
		err = lock_pin_dir(ld, dir);
	if (err)
		return err;

	for (map = next_pinned(ld, NULL); map; map = next_pinned(ld, map)) {
		err = join_path(path, sizeof(path), dir, bpf_map__name(map));
		if (err)
			return err;
		err = check_pinned_map(map, path, dir);
		if (err < 0)
			return err;
		found += err != PIN_NONE;
		layout += err == PIN_LAYOUT;
	}
	abi = pinned_abi(dir);
	if (found && (layout || abi != GUARDER_ABI)) {
		log_warn("the maps pinned under %s were made by another version of the kernel "
			 "program (ABI %u, this one %u): starting with fresh maps; the old "
			 "program keeps filtering until this one replaces it, and its flows and "
			 "counters are not carried over (the rules are, from the rules file)",
			 dir, abi, GUARDER_ABI);
		err = join_path(aside, sizeof(aside), dir, ASIDE_DIR);
		if (err)
			return err;
		if (mkdir(aside, 0700) && errno != EEXIST) {
			err = -errno;
			log_error("cannot create %s: %s", aside, strerror(-err));
			return err;
		}
		err = move_pins(ld, dir, aside);
		if (err)
			return err;
		ld->fresh = true;
	}

	for (map = next_pinned(ld, NULL); map; map = next_pinned(ld, map)) {
		err = join_path(path, sizeof(path), dir, bpf_map__name(map));
		if (err)
			return err;
		ld->maps_reused += !ld->fresh && !access(path, F_OK);
		ld->maps_pinned++;
		err = bpf_map__set_pin_path(map, path);
		if (err) {
			log_error("cannot set the pin path %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The runtime knobs, written at every start (an adopted program reads them). */
static int write_tracker_cfg(struct loader *ld)
{
	struct tracker_cfg tc = {
		.icmp_event_interval_ns = ICMP_EVENT_INTERVAL_NS,
		.flags = ld->cfg->filter.unparsed == GUARDER_UNPARSED_DROP ?
				 GUARDER_CFG_UNPARSED_DROP :
				 0,
		.abi = GUARDER_ABI,
	};
	struct tracker_cfg old;
	__u32 zero = 0;
	int err, fd = bpf_map__fd(ld->skel->maps.tracker_cfg);

	/* Reused pins: the drops of the current epoch stay where the kernel counts them. */
	if (!bpf_map_lookup_elem(fd, &zero, &old) && old.abi == GUARDER_ABI)
		tc.drop_epoch = old.drop_epoch;
	err = bpf_map_update_elem(fd, &zero, &tc, 0);
	if (err) {
		err = -errno;
		log_error("cannot write the program's settings (tracker_cfg): %s",
			  strerror(-err));
	}
	return err;
}

/*
 * prog_describe - the kernel's description of program @fd (name, tag,
 * whether it uses the map with id @flows_id). Returns 0 or a negative
 * errno.
 */
static int prog_describe(int fd, __u32 flows_id, struct prog_desc *d)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info), ids[64], i;

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	memset(d, 0, sizeof(*d));
	d->id = info.id;
	snprintf(d->name, sizeof(d->name), "%s", info.name);
	memcpy(d->tag, info.tag, sizeof(d->tag));
	for (i = 0; i < info.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++)
		if (ids[i] == flows_id)
			d->on_our_maps = true;
	return 0;
}

/* prog_describe() of the program with id @id; its fd in *@fd (-1 on error). */
static int prog_describe_id(__u32 id, __u32 flows_id, struct prog_desc *d, int *fd)
{
	int err;

	*fd = bpf_prog_get_fd_by_id(id);
	if (*fd < 0)
		return -errno;
	err = prog_describe(*fd, flows_id, d);
	if (err) {
		close(*fd);
		*fd = -1;
	}
	return err;
}

/* Is @d the program @ours describes: same code on the same maps? */
static bool prog_same(const struct prog_desc *d, const struct prog_desc *ours)
{
	return d->on_our_maps && !memcmp(d->tag, ours->tag, sizeof(d->tag));
}

int loader_open_load(const struct guarder_config *cfg, struct loader **out)
{
	struct bpf_map_info mi;
	__u32 len = sizeof(mi);
	struct loader *ld;
	int err;

	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	ld->cfg = cfg;
	ld->lock_fd = -1;

	ld->skel = conn_tracker__open();
	if (!ld->skel) {
		err = -errno;
		log_error("cannot open the BPF skeleton: %s", strerror(-err));
		goto err;
	}
	err = size_maps(ld);
	if (!err)
		err = set_pin_paths(ld);
	if (err)
		goto err;

	err = conn_tracker__load(ld->skel);
	if (err) {
		log_error("cannot load the BPF program: %s", strerror(-err));
		if (err == -EPERM || err == -EACCES)
			log_error("loading BPF programs needs root (or CAP_BPF, CAP_PERFMON "
				  "and CAP_NET_ADMIN)");
		goto err;
	}
	err = write_tracker_cfg(ld);
	if (err)
		goto err;
	memset(&mi, 0, sizeof(mi));
	if (bpf_obj_get_info_by_fd(bpf_map__fd(ld->skel->maps.flows), &mi, &len)) {
		err = -errno;
		log_error("cannot read the flow table's id: %s", strerror(-err));
		goto err;
	}
	ld->flows_id = mi.id;
	err = prog_describe(bpf_program__fd(ld->skel->progs.xdp_conn_tracker), ld->flows_id,
			    &ld->xdp);
	if (!err && cfg->collector.egress)
		err = prog_describe(bpf_program__fd(ld->skel->progs.tc_egress_tracker),
				    ld->flows_id, &ld->tc);
	if (err) {
		log_error("cannot describe the loaded programs: %s", strerror(-err));
		goto err;
	}

	log_info("maps pinned under %s: %d reused from an earlier run, %d new", cfg->bpf.pin_path,
		 ld->maps_reused, ld->maps_pinned - ld->maps_reused);
	*out = ld;
	return 0;
err:
	if (ld->fresh && ld->skel) {
		char aside[PATH_MAX];

		/* Nothing replaced the old program: give its maps their names back. */
		if (!join_path(aside, sizeof(aside), cfg->bpf.pin_path, ASIDE_DIR) &&
		    !move_pins(ld, aside, cfg->bpf.pin_path))
			rmdir(aside);
	}
	loader_destroy(ld);
	return err;
}

/* ---- the registry of our attachments (the pinned xdp_ifaces) ---- */

static void reg_set(struct loader *ld, int ifindex, __u32 bits)
{
	__u32 key = ifindex;

	if (bpf_map_update_elem(bpf_map__fd(ld->skel->maps.xdp_ifaces), &key, &bits, 0))
		log_warn("cannot record the attachment to ifindex %d: %s", ifindex,
			 strerror(errno));
}

static void reg_del(int reg_fd, int ifindex)
{
	__u32 key = ifindex;

	if (bpf_map_delete_elem(reg_fd, &key) && errno != ENOENT)
		log_warn("cannot forget the attachment to ifindex %d: %s", ifindex,
			 strerror(errno));
}

/* ---- XDP ---- */

/*
 * A libxdp dispatcher is attached: it may run other programs we must not
 * evict. With none but ours (a component left by an older version), they
 * go and the dispatcher with them. Returns 0 when the interface is free,
 * or a negative errno (logged).
 */
static int xdp_clear_dispatcher(const struct loader_iface *ifc)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p;
	int err, foreign = 0;

	errno = 0;
	mp = xdp_multiprog__get_from_ifindex(ifc->ifindex);
	err = libxdp_get_error(mp);
	if (err || !mp) {
		log_error("%s: cannot query the libxdp dispatcher: %s", ifc->name,
			  strerror(err ? -err : ENOENT));
		return err ? err : -ENOENT;
	}
	for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
		if (!prog_name_is(xdp_program__name(p), XDP_PROG_NAME))
			foreign++;
	if (foreign) {
		log_error("%s: a libxdp dispatcher with %d other XDP program(s) is attached; "
			  "Guarder does not evict them. Inspect with xdp-loader status %s",
			  ifc->name, foreign, ifc->name);
		err = -EBUSY;
	} else {
		log_warn("%s: removing a libxdp dispatcher that holds only %s", ifc->name,
			 XDP_PROG_NAME);
		err = xdp_multiprog__detach(mp);
		if (err)
			log_error("%s: cannot remove the dispatcher: %s", ifc->name,
				  strerror(-err));
	}
	xdp_multiprog__close(mp);
	return err;
}

/* The configured mode's flag; 0 for auto (native, else generic). */
static __u32 xdp_mode_flags(enum guarder_xdp_mode mode)
{
	return mode == GUARDER_XDP_NATIVE  ? XDP_FLAGS_DRV_MODE :
	       mode == GUARDER_XDP_GENERIC ? XDP_FLAGS_SKB_MODE :
					     0;
}

static int xdp_attach_new(struct loader *ld, struct loader_iface *ifc)
{
	int fd = bpf_program__fd(ld->skel->progs.xdp_conn_tracker);
	__u32 want = xdp_mode_flags(ld->cfg->collector.xdp_mode);
	int err;

	if (want) {
		err = bpf_xdp_attach(ifc->ifindex, fd, want | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	} else {
		want = XDP_FLAGS_DRV_MODE;
		err = bpf_xdp_attach(ifc->ifindex, fd, want | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
		if (err == -EOPNOTSUPP || err == -EINVAL) {
			want = XDP_FLAGS_SKB_MODE;
			err = bpf_xdp_attach(ifc->ifindex, fd, want | XDP_FLAGS_UPDATE_IF_NOEXIST,
					     NULL);
		}
	}
	if (err) {
		log_error("%s: cannot attach the XDP program in %s mode: %s", ifc->name,
			  config_xdp_mode_name(ld->cfg->collector.xdp_mode), strerror(-err));
		if (want == XDP_FLAGS_DRV_MODE && err == -EOPNOTSUPP)
			log_error("%s: its driver has no native XDP; use collector.xdp_mode: "
				  "generic (or auto)",
				  ifc->name);
		return err;
	}
	ifc->xdp_flags = want;
	ifc->xdp_new = true;
	log_info("%s: XDP %s attached in %s mode", ifc->name, XDP_PROG_NAME,
		 xdp_mode_str(want));
	return 0;
}

/*
 * xdp_attach - make ours the XDP program of @ifc: attach it where there
 * is none, keep an identical one (adopt), replace an older one of ours in
 * one atomic step; never touch a foreign program.
 */
static int xdp_attach(struct loader *ld, struct loader_iface *ifc)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_xdp_attach_opts, ro);
	__u32 want = xdp_mode_flags(ld->cfg->collector.xdp_mode), cur;
	struct prog_desc d;
	int err, old_fd;

	err = bpf_xdp_query(ifc->ifindex, 0, &q);
	if (err) {
		log_error("%s: cannot query its XDP program: %s", ifc->name, strerror(-err));
		return err;
	}
	if (q.attach_mode == XDP_ATTACHED_NONE)
		return xdp_attach_new(ld, ifc);
	if (q.attach_mode == XDP_ATTACHED_MULTI || q.attach_mode == XDP_ATTACHED_HW) {
		log_error("%s: XDP programs are attached in several modes (or offloaded); "
			  "Guarder does not touch them. Inspect with ip link show %s",
			  ifc->name, ifc->name);
		return -EBUSY;
	}
	cur = q.attach_mode == XDP_ATTACHED_DRV ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	err = prog_describe_id(q.prog_id, ld->flows_id, &d, &old_fd);
	if (err) {
		log_error("%s: cannot inspect the attached XDP program (id %u): %s", ifc->name,
			  q.prog_id, strerror(-err));
		return err;
	}
	if (prog_name_is(d.name, DISPATCHER_NAME)) {
		close(old_fd);
		err = xdp_clear_dispatcher(ifc);
		return err ? err : xdp_attach_new(ld, ifc);
	}
	if (!prog_name_is(d.name, XDP_PROG_NAME)) {
		close(old_fd);
		log_error("%s: XDP program '%s' (id %u) is already attached and is not ours; "
			  "Guarder does not replace it. Remove it first if it may go "
			  "(xdp-loader unload %s --all)",
			  ifc->name, d.name, d.id, ifc->name);
		return -EBUSY;
	}
	ifc->xdp_flags = cur;
	if (want && want != cur) {
		/* The kernel cannot swap a program between modes atomically. */
		log_warn("%s: moving %s from %s to %s mode: the interface is unfiltered until "
			 "it is attached again",
			 ifc->name, XDP_PROG_NAME, xdp_mode_str(cur), xdp_mode_str(want));
		ro.old_prog_fd = old_fd;
		err = bpf_xdp_attach(ifc->ifindex, -1, cur | XDP_FLAGS_REPLACE, &ro);
		close(old_fd);
		return err ? err : xdp_attach_new(ld, ifc);
	}
	if (prog_same(&d, &ld->xdp)) {
		close(old_fd);
		log_info("%s: XDP %s (id %u, %s mode) is this program on these maps: kept "
			 "attached",
			 ifc->name, XDP_PROG_NAME, d.id, xdp_mode_str(cur));
		return 0;
	}
	ro.old_prog_fd = old_fd;
	err = bpf_xdp_attach(ifc->ifindex, bpf_program__fd(ld->skel->progs.xdp_conn_tracker),
			     cur | XDP_FLAGS_REPLACE, &ro);
	close(old_fd);
	if (err) {
		log_error("%s: cannot replace the XDP program (id %u): %s", ifc->name, d.id,
			  strerror(-err));
		return err;
	}
	log_info("%s: XDP %s (id %u) replaced atomically by this collector's (id %u), %s mode",
		 ifc->name, XDP_PROG_NAME, d.id, ld->xdp.id, xdp_mode_str(cur));
	return 0;
}

/* Whether @d, found attached to @name as the @what program, is ours; warns if not. */
static bool ours(const char *name, const char *what, const struct prog_desc *d,
		 const char *prog_name)
{
	if (prog_name_is(d->name, prog_name))
		return true;
	log_warn("%s: %s program '%s' is not ours: left attached", name, what, d->name);
	return false;
}

/*
 * The outcome of detaching the @what program from @name; on failure, the
 * command that does it by hand is @undo, the interface, then @undo_tail.
 */
static void log_detached(const char *name, const char *what, int err, const char *undo,
			 const char *undo_tail)
{
	if (err)
		log_error("%s: cannot detach the %s program: %s (%s %s%s removes it)", name, what,
			  strerror(-err), undo, name, undo_tail);
	else
		log_info("%s: %s program detached", name, what);
}

/*
 * xdp_detach_ours - detach the XDP program of @ifindex if it is ours
 * (and only then: XDP_FLAGS_REPLACE with the expected program).
 */
static void xdp_detach_ours(const char *name, int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_xdp_attach_opts, ro);
	struct prog_desc d;
	__u32 flags;
	int fd, err;

	if (bpf_xdp_query(ifindex, 0, &q) || q.attach_mode == XDP_ATTACHED_NONE ||
	    q.attach_mode == XDP_ATTACHED_MULTI || q.attach_mode == XDP_ATTACHED_HW)
		return;
	if (prog_describe_id(q.prog_id, 0, &d, &fd))
		return;
	if (!ours(name, "XDP", &d, XDP_PROG_NAME)) {
		close(fd);
		return;
	}
	flags = q.attach_mode == XDP_ATTACHED_DRV ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	ro.old_prog_fd = fd;
	err = bpf_xdp_attach(ifindex, -1, flags | XDP_FLAGS_REPLACE, &ro);
	close(fd);
	log_detached(name, "XDP", err, "xdp-loader unload", " --all");
}

/* ---- tc egress ---- */

/*
 * tc_attach - make ours the egress program of @ifc under our handle and
 * priority, as xdp_attach() does for XDP (tc replaces a filter in place).
 */
static int tc_attach(struct loader *ld, struct loader_iface *ifc, __u32 old_reg)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, query, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	struct prog_desc d;
	bool created = false;
	int err, fd;

	err = bpf_tc_hook_create(&hook);
	if (!err)
		created = true;
	else if (err != -EEXIST) {
		log_error("%s: cannot create the clsact qdisc for egress: %s", ifc->name,
			  strerror(-err));
		return err;
	}
	/* A clsact we made keeps the CLSACT bit across runs: ours to remove. */
	ifc->reg |= created || (old_reg & GUARDER_REG_CLSACT) ? GUARDER_REG_CLSACT : 0;

	/* A clsact we just created has no filters: nothing to find. */
	err = created ? -ENOENT : bpf_tc_query(&hook, &query);
	if (!err) {
		err = prog_describe_id(query.prog_id, ld->flows_id, &d, &fd);
		if (err) {
			log_error("%s: cannot inspect the tc egress program (id %u): %s",
				  ifc->name, query.prog_id, strerror(-err));
			return err;
		}
		close(fd);
		if (!prog_name_is(d.name, TC_PROG_NAME)) {
			log_error("%s: tc egress filter handle 0x%x prio %u holds program '%s' "
				  "(id %u), not ours; remove it (tc filter del dev %s egress)",
				  ifc->name, TC_HANDLE, TC_PRIORITY, d.name, d.id, ifc->name);
			return -EBUSY;
		}
		if (prog_same(&d, &ld->tc)) {
			log_info("%s: tc %s (id %u) is this program on these maps: kept attached",
				 ifc->name, TC_PROG_NAME, d.id);
			ifc->reg |= GUARDER_REG_TC;
			return 0;
		}
		opts.flags = BPF_TC_F_REPLACE;
	} else if (err != -ENOENT && err != -EINVAL) {
		/* EINVAL: the kernel's "no filter chain" on a fresh clsact. */
		log_error("%s: cannot query tc egress filters: %s", ifc->name, strerror(-err));
		return err;
	}

	opts.prog_fd = bpf_program__fd(ld->skel->progs.tc_egress_tracker);
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		log_error("%s: cannot attach the tc egress program: %s", ifc->name, strerror(-err));
		return err;
	}
	ifc->reg |= GUARDER_REG_TC;
	if (opts.flags & BPF_TC_F_REPLACE) {
		log_info("%s: tc %s (id %u) replaced atomically by this collector's (id %u)",
			 ifc->name, TC_PROG_NAME, d.id, ld->tc.id);
	} else {
		ifc->tc_new = true;
		log_info("%s: tc %s attached to egress (clsact %s)", ifc->name, TC_PROG_NAME,
			 created ? "created" : "already present");
	}
	return 0;
}

/* Remove our egress filter (and the clsact, when @reg says it is ours). */
static void tc_detach_ours(const char *name, int ifindex, __u32 reg)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, query, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	struct prog_desc d;
	int err, fd;

	if (!bpf_tc_query(&hook, &query) && !prog_describe_id(query.prog_id, 0, &d, &fd)) {
		close(fd);
		if (!ours(name, "tc egress", &d, TC_PROG_NAME))
			return;
		log_detached(name, "tc egress", bpf_tc_detach(&hook, &opts), "tc filter del dev",
			     " egress");
	}
	if (reg & GUARDER_REG_CLSACT) {
		/* Destroying a clsact hook removes both of its directions. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		err = bpf_tc_hook_destroy(&hook);
		if (err && err != -ENOENT)
			log_error("%s: cannot remove the clsact qdisc we created: %s", name,
				  strerror(-err));
	}
}

static void detach_iface(int reg_fd, const char *name, int ifindex, __u32 reg)
{
	if (reg & GUARDER_REG_TC || reg & GUARDER_REG_CLSACT)
		tc_detach_ours(name, ifindex, reg);
	if (reg & GUARDER_REG_XDP)
		xdp_detach_ours(name, ifindex);
	reg_del(reg_fd, ifindex);
}

/* The registry's bits for @ifindex, 0 if none. */
static __u32 reg_get(int reg_fd, int ifindex)
{
	__u32 key = ifindex, bits = 0;

	if (bpf_map_lookup_elem(reg_fd, &key, &bits))
		return 0;
	return bits;
}

static bool configured(const struct guarder_config *cfg, int ifindex)
{
	size_t i;

	for (i = 0; i < cfg->collector.n_ifaces; i++)
		if ((int)if_nametoindex(cfg->collector.ifaces[i]) == ifindex)
			return true;
	return false;
}

/*
 * detach_unlisted - what an earlier run attached to an interface this
 * config no longer names is detached (a deleted interface took its
 * programs with it: only the registry entry goes).
 */
static void detach_unlisted(const struct guarder_config *cfg, int reg_fd)
{
	__u32 key, next, bits, gone[GUARDER_XDP_IFACES_MAX];
	char name[IF_NAMESIZE];
	size_t n = 0, i;
	int err;

	for (err = bpf_map_get_next_key(reg_fd, NULL, &next); !err && n < GUARDER_XDP_IFACES_MAX;
	     err = bpf_map_get_next_key(reg_fd, &key, &next)) {
		key = next;
		if (!configured(cfg, key))
			gone[n++] = key;
	}
	for (i = 0; i < n; i++) {
		bits = reg_get(reg_fd, gone[i]);
		if (!if_indextoname(gone[i], name)) {
			reg_del(reg_fd, gone[i]);
			continue;
		}
		log_info("%s: no longer in collector.interfaces: detaching", name);
		detach_iface(reg_fd, name, gone[i], bits);
	}
}

int loader_attach(struct loader *ld)
{
	const struct guarder_config *cfg = ld->cfg;
	int reg_fd = bpf_map__fd(ld->skel->maps.xdp_ifaces);
	struct loader_iface *ifc;
	__u32 old;
	size_t i;
	int err = 0;

	for (i = 0; i < cfg->collector.n_ifaces && !err; i++) {
		ifc = &ld->ifaces[i];
		memset(ifc, 0, sizeof(*ifc));
		snprintf(ifc->name, sizeof(ifc->name), "%s", cfg->collector.ifaces[i]);
		ifc->ifindex = if_nametoindex(ifc->name);
		ld->n_ifaces = i + 1;
		if (!ifc->ifindex) {
			log_error("interface '%s' does not exist", ifc->name);
			err = -ENODEV;
			break;
		}
		old = reg_get(reg_fd, ifc->ifindex);
		err = xdp_attach(ld, ifc);
		if (err)
			break;
		ifc->reg |= GUARDER_REG_XDP;
		if (cfg->collector.egress) {
			err = tc_attach(ld, ifc, old);
		} else if (old & (GUARDER_REG_TC | GUARDER_REG_CLSACT)) {
			log_info("%s: collector.egress is off: detaching the tc program", ifc->name);
			tc_detach_ours(ifc->name, ifc->ifindex, old);
		}
		reg_set(ld, ifc->ifindex, ifc->reg);
	}
	if (err) {
		log_error("rolling back what this start attached anew (adopted and replaced "
			  "programs stay: they filter)");
		for (i = ld->n_ifaces; i-- > 0;) {
			ifc = &ld->ifaces[i];
			if (ifc->tc_new)
				tc_detach_ours(ifc->name, ifc->ifindex,
					       ifc->reg & GUARDER_REG_CLSACT);
			if (ifc->xdp_new)
				xdp_detach_ours(ifc->name, ifc->ifindex);
			if (ifc->xdp_new)
				reg_del(reg_fd, ifc->ifindex);
		}
		if (ld->fresh)
			log_error("the older program's maps stay pinned under %s/%s while it may "
				  "still run on an interface; the next start that attaches "
				  "everywhere removes them",
				  cfg->bpf.pin_path, ASIDE_DIR);
		return err;
	}
	detach_unlisted(cfg, reg_fd);
	/* Every interface runs this program: no older one needs its pins (this run's or a failed one's). */
	drop_aside(ld);
	return 0;
}

int loader_detach_pinned(const struct guarder_config *cfg)
{
	char path[PATH_MAX], name[IF_NAMESIZE];
	__u32 key, next, keys[GUARDER_XDP_IFACES_MAX], bits;
	struct loader lk = { .cfg = cfg, .lock_fd = -1 };
	size_t n = 0, i;
	int fd, err;

	err = join_path(path, sizeof(path), cfg->bpf.pin_path, GUARDER_MAP_XDP_IFACES);
	if (err)
		return err;
	if (access(cfg->bpf.pin_path, F_OK) == 0) {
		/* A running collector would take the detach for an outside change. */
		err = lock_pin_dir(&lk, cfg->bpf.pin_path);
		if (err) {
			if (err == -EBUSY)
				log_error("stop the running collector first (systemctl stop "
					  "guarder-collector), then detach");
			return err;
		}
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (lk.lock_fd >= 0)
			close(lk.lock_fd);
		if (err == -ENOENT) {
			log_info("nothing to detach: no %s (no collector attached with the pins "
				 "under %s)",
				 path, cfg->bpf.pin_path);
			return 0;
		}
		log_error("cannot open %s: %s", path, strerror(-err));
		return err;
	}
	for (err = bpf_map_get_next_key(fd, NULL, &next); !err && n < GUARDER_XDP_IFACES_MAX;
	     err = bpf_map_get_next_key(fd, &key, &next)) {
		key = next;
		keys[n++] = key;
	}
	for (i = 0; i < n; i++) {
		bits = reg_get(fd, keys[i]);
		if (if_indextoname(keys[i], name))
			detach_iface(fd, name, keys[i], bits);
		else
			reg_del(fd, keys[i]);
	}
	close(fd);
	if (lk.lock_fd >= 0)
		close(lk.lock_fd);
	log_info("detached from %zu interface(s); the pinned maps (rules, flows) stay under %s",
		 n, cfg->bpf.pin_path);
	return 0;
}

void loader_destroy(struct loader *ld)
{
	if (!ld)
		return;
	conn_tracker__destroy(ld->skel);
	if (ld->lock_fd >= 0)
		close(ld->lock_fd);
	free(ld);
}

int loader_flows_fd(const struct loader *ld)
{
	return bpf_map__fd(ld->skel->maps.flows);
}

int loader_icmp_fd(const struct loader *ld)
{
	return bpf_map__fd(ld->skel->maps.icmp_flows);
}

int loader_stats_fd(const struct loader *ld)
{
	return bpf_map__fd(ld->skel->maps.stats);
}

int loader_events_fd(const struct loader *ld)
{
	return bpf_map__fd(ld->skel->maps.events);
}

int loader_drops_fd(const struct loader *ld)
{
	return bpf_map__fd(ld->skel->maps.drop_agg);
}

int loader_cfg_fd(const struct loader *ld)
{
	return bpf_map__fd(ld->skel->maps.tracker_cfg);
}

int loader_maps_reused(const struct loader *ld)
{
	return ld->maps_reused;
}
