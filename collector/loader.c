// SPDX-License-Identifier: GPL-2.0
/*
 * Loading, pinning and attaching the kernel program (see loader.h).
 *
 * XDP attach: the program is loaded by the skeleton (so all its maps and
 * the tc program share one object) and handed to libxdp by fd. libxdp's
 * multi-program dispatcher can only run component programs loaded as
 * freplace (BPF_PROG_TYPE_EXT); for a program already loaded as plain XDP
 * libxdp always ends up attaching it alone, after first loading a
 * dispatcher and a compatibility probe for nothing (and, on kernels that
 * forbid freplace, logging alarming permission errors). So we ask libxdp
 * to skip the dispatcher, check for foreign programs ourselves (libxdp
 * would otherwise refuse or replace them), and ask libxdp afterwards what
 * was attached and in which mode.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "conn_tracker.skel.h"
#include "kernel/conn_tracker.h"
#include "lib/log.h"
#include "loader.h"

#define XDP_PROG_NAME "xdp_conn_tracker"
#define TC_PROG_NAME  "tc_egress_tracker"

/*
 * Our tc egress filter's handle and priority. Fixed, so that a collector
 * restarted after SIGKILL finds the filter its predecessor left behind.
 */
#define TC_HANDLE   0x4744 /* "GD" */
#define TC_PRIORITY 0x4744

struct loader_iface {
	char name[GUARDER_IFNAME_MAX];
	int ifindex;
	enum xdp_attach_mode xdp_mode; /* as attached */
	bool xdp_attached;
	bool tc_attached;
	bool tc_hook_created; /* we made the clsact qdisc, so we remove it */
};

struct loader {
	const struct guarder_config *cfg;
	struct conn_tracker *skel;
	struct xdp_program *xdp_prog;
	int lock_fd; /* flock on the pin directory: one collector per pin set */
	struct loader_iface ifaces[GUARDER_MAX_IFACES];
	size_t n_ifaces;
	int maps_pinned;
	int maps_reused;
};

/* The config key that sizes a map, for error messages; NULL if none. */
static const char *map_size_key(const char *map_name)
{
	if (!strcmp(map_name, GUARDER_MAP_FLOWS))
		return "bpf.flow_table_size";
	if (!strcmp(map_name, GUARDER_MAP_ICMP))
		return "bpf.icmp_table_size";
	if (!strcmp(map_name, GUARDER_MAP_EVENTS))
		return "bpf.ringbuf_size";
	return NULL;
}

static const char *xdp_mode_str(enum xdp_attach_mode mode)
{
	switch (mode) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "generic";
	case XDP_MODE_HW:
		return "offload";
	default:
		return "none";
	}
}

static enum xdp_attach_mode xdp_mode_from_config(enum guarder_xdp_mode mode)
{
	switch (mode) {
	case GUARDER_XDP_NATIVE:
		return XDP_MODE_NATIVE;
	case GUARDER_XDP_GENERIC:
		return XDP_MODE_SKB;
	default:
		return XDP_MODE_UNSPEC;
	}
}

/*
 * The kernel keeps BPF_OBJ_NAME_LEN - 1 characters of a program name, and
 * libxdp may or may not restore the rest from BTF: compare the prefix.
 */
static bool prog_name_is(const char *name, const char *ours)
{
	return name && !strncmp(name, ours, BPF_OBJ_NAME_LEN - 1);
}

int loader_check_ifaces(const struct guarder_config *cfg)
{
	size_t i, j;

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

/*
 * check_pinned_map - if a map is pinned at @path, check that libbpf can
 * reuse it for @map. libbpf would refuse an incompatible one with a terse
 * "parameter mismatch"; we say which parameter and what to do.
 * Returns 1 if a compatible map is pinned, 0 if none, or a negative errno.
 */
static int check_pinned_map(const struct bpf_map *map, const char *path, const char *pin_dir)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	const char *what = NULL, *key;
	unsigned int theirs = 0, ours = 0;
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
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

	if (info.type != bpf_map__type(map)) {
		what = "map type";
		theirs = info.type;
		ours = bpf_map__type(map);
	} else if (info.key_size != bpf_map__key_size(map)) {
		what = "key size";
		theirs = info.key_size;
		ours = bpf_map__key_size(map);
	} else if (info.value_size != bpf_map__value_size(map)) {
		what = "value size";
		theirs = info.value_size;
		ours = bpf_map__value_size(map);
	} else if (info.max_entries != bpf_map__max_entries(map)) {
		what = "size (max_entries)";
		theirs = info.max_entries;
		ours = bpf_map__max_entries(map);
	} else if (info.map_flags != bpf_map__map_flags(map)) {
		what = "flags";
		theirs = info.map_flags;
		ours = bpf_map__map_flags(map);
	}
	if (!what)
		return 1;

	key = map_size_key(bpf_map__name(map));
	log_error("the map pinned at %s cannot be reused: its %s is %u, this collector "
		  "needs %u",
		  path, what, theirs, ours);
	if (key && !strcmp(what, "size (max_entries)"))
		log_error("to keep the pinned flows and counters, set %s back to %u; to "
			  "start afresh, stop every Guarder process and remove the pins "
			  "(rm -r %s), which loses the flows and counters kept there",
			  key, theirs, pin_dir);
	else
		log_error("the pinned maps were made by a different version of the kernel "
			  "program; stop every Guarder process and remove the pins "
			  "(rm -r %s), which loses the flows and counters kept there",
			  pin_dir);
	return -EEXIST;
}

/* Size the maps from the config; runtime knobs must be set before load. */
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
 * Two collectors on one pin directory would share the maps and take each
 * other's attachments for stale ones. The kernel drops a flock when its
 * holder dies, even by SIGKILL, so a program left attached while nobody
 * holds the lock is really stale.
 */
static int lock_pin_dir(struct loader *ld, const char *dir)
{
	int err;

	ld->lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ld->lock_fd < 0) {
		err = -errno;
		log_error("cannot open the pin directory %s: %s", dir, strerror(-err));
		return err;
	}
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

static int set_pin_paths(struct loader *ld)
{
	const char *dir = ld->cfg->bpf.pin_path;
	char path[PATH_MAX];
	struct bpf_map *map;
	int err, n;

	err = prepare_pin_dir(dir);
	if (err)
		return err;
	err = lock_pin_dir(ld, dir);
	if (err)
		return err;

	bpf_object__for_each_map(map, ld->skel->obj)
	{
		/* .rodata and friends are per program load, not shared state. */
		if (bpf_map__is_internal(map))
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		if (n < 0 || (size_t)n >= sizeof(path)) {
			log_error("pin path too long: %s/%s", dir, bpf_map__name(map));
			return -ENAMETOOLONG;
		}
		err = check_pinned_map(map, path, dir);
		if (err < 0)
			return err;
		ld->maps_reused += err;
		ld->maps_pinned++;
		err = bpf_map__set_pin_path(map, path);
		if (err) {
			log_error("cannot set the pin path %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

int loader_open_load(const struct guarder_config *cfg, struct loader **out)
{
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
	if (err)
		goto err;
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

	/* See the top of this file; an operator's explicit setting wins. */
	setenv("LIBXDP_SKIP_DISPATCHER", "1", 0);
	ld->xdp_prog = xdp_program__from_fd(bpf_program__fd(ld->skel->progs.xdp_conn_tracker));
	err = libxdp_get_error(ld->xdp_prog);
	if (err) {
		ld->xdp_prog = NULL;
		log_error("libxdp cannot take the loaded XDP program: %s", strerror(-err));
		goto err;
	}

	log_info("maps pinned under %s: %d reused from an earlier run, %d new", cfg->bpf.pin_path,
		 ld->maps_reused, ld->maps_pinned - ld->maps_reused);
	*out = ld;
	return 0;
err:
	loader_destroy(ld);
	return err;
}

/* Name of the program with kernel id @id, into @buf; "" if unknown. */
static void prog_name_by_id(__u32 id, char *buf, size_t len)
{
	struct bpf_prog_info info;
	__u32 info_len = sizeof(info);
	int fd;

	buf[0] = '\0';
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &info_len))
		snprintf(buf, len, "%s", info.name);
	close(fd);
}

/*
 * Remove our own program if an earlier collector left it attached (killed
 * with SIGKILL, it could not detach). A foreign program is never touched.
 */
static int xdp_remove_stale(struct loader_iface *ifc)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p;
	int err = 0, foreign = 0;

	errno = 0;
	mp = xdp_multiprog__get_from_ifindex(ifc->ifindex);
	err = libxdp_get_error(mp);
	if (err == -ENOENT || (!mp && !err))
		return 0;
	if (err) {
		log_error("%s: cannot query the attached XDP program: %s", ifc->name,
			  strerror(-err));
		return err;
	}

	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (!prog_name_is(xdp_program__name(p), XDP_PROG_NAME)) {
			log_error("%s: XDP program '%s' (id %u) is already attached and is not "
				  "ours; Guarder does not replace it. Remove it first if it may go "
				  "(xdp-loader unload %s --all)",
				  ifc->name, xdp_program__name(p), xdp_program__id(p), ifc->name);
			err = -EBUSY;
			goto out;
		}
		log_warn("%s: replacing a stale %s (id %u, %s mode) left by an earlier "
			 "collector",
			 ifc->name, XDP_PROG_NAME, xdp_program__id(p),
			 xdp_mode_str(xdp_multiprog__attach_mode(mp)));
		err = xdp_multiprog__detach(mp);
		goto out;
	}

	for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
		if (!prog_name_is(xdp_program__name(p), XDP_PROG_NAME))
			foreign++;
	if (foreign) {
		/*
		 * Our program may end up attached alone (see the top of the
		 * file), which would evict the dispatcher and its programs.
		 */
		log_error("%s: a libxdp dispatcher with %d other XDP program(s) is attached; "
			  "Guarder does not evict them. Inspect with xdp-loader status %s",
			  ifc->name, foreign, ifc->name);
		err = -EBUSY;
		goto out;
	}
	for (p = xdp_multiprog__next_prog(NULL, mp); p && !err;
	     p = xdp_multiprog__next_prog(p, mp)) {
		log_warn("%s: removing a stale %s (id %u) from the libxdp dispatcher", ifc->name,
			 XDP_PROG_NAME, xdp_program__id(p));
		err = xdp_program__detach(p, ifc->ifindex, xdp_multiprog__attach_mode(mp), 0);
	}
out:
	if (err && err != -EBUSY)
		log_error("%s: cannot remove the stale XDP program: %s", ifc->name, strerror(-err));
	xdp_multiprog__close(mp);
	return err;
}

static int xdp_attach(struct loader *ld, struct loader_iface *ifc)
{
	enum xdp_attach_mode want = xdp_mode_from_config(ld->cfg->collector.xdp_mode);
	struct xdp_multiprog *mp;
	bool alone = true;
	int err;

	err = xdp_remove_stale(ifc);
	if (err)
		return err;

	err = xdp_program__attach(ld->xdp_prog, ifc->ifindex, want, 0);
	if (err) {
		log_error("%s: cannot attach the XDP program in %s mode: %s", ifc->name,
			  config_xdp_mode_name(ld->cfg->collector.xdp_mode), strerror(-err));
		if (want == XDP_MODE_NATIVE && err == -EOPNOTSUPP)
			log_error("%s: its driver has no native XDP; use collector.xdp_mode: "
				  "generic (or auto)",
				  ifc->name);
		return err;
	}
	ifc->xdp_attached = true;
	ifc->xdp_mode = xdp_program__is_attached(ld->xdp_prog, ifc->ifindex);

	errno = 0;
	mp = xdp_multiprog__get_from_ifindex(ifc->ifindex);
	if (!libxdp_get_error(mp) && mp) {
		alone = xdp_multiprog__is_legacy(mp);
		if (ifc->xdp_mode == XDP_MODE_UNSPEC)
			ifc->xdp_mode = xdp_multiprog__attach_mode(mp);
		xdp_multiprog__close(mp);
	}
	log_info("%s: XDP %s attached in %s mode (%s)", ifc->name, XDP_PROG_NAME,
		 xdp_mode_str(ifc->xdp_mode),
		 alone ? "alone: libxdp's dispatcher is not in use" :
			 "through libxdp's dispatcher");
	return 0;
}

static void xdp_detach(struct loader *ld, struct loader_iface *ifc)
{
	int err;

	if (!ifc->xdp_attached)
		return;
	err = xdp_program__detach(ld->xdp_prog, ifc->ifindex, ifc->xdp_mode, 0);
	if (err)
		log_error("%s: cannot detach the XDP program: %s (xdp-loader unload %s "
			  "--all removes it)",
			  ifc->name, strerror(-err), ifc->name);
	else
		log_info("%s: XDP program detached", ifc->name);
	ifc->xdp_attached = false;
}

static int tc_attach(struct loader *ld, struct loader_iface *ifc)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, query, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	char name[BPF_OBJ_NAME_LEN];
	int err;

	err = bpf_tc_hook_create(&hook);
	if (!err) {
		ifc->tc_hook_created = true;
	} else if (err != -EEXIST) {
		log_error("%s: cannot create the clsact qdisc for egress: %s", ifc->name,
			  strerror(-err));
		return err;
	}

	/* A clsact we just created has no filters: nothing stale to find. */
	err = ifc->tc_hook_created ? -ENOENT : bpf_tc_query(&hook, &query);
	if (!err) {
		prog_name_by_id(query.prog_id, name, sizeof(name));
		if (!prog_name_is(name, TC_PROG_NAME)) {
			log_error("%s: tc egress filter handle 0x%x prio %u holds program '%s' "
				  "(id %u), not ours; remove it (tc filter del dev %s egress)",
				  ifc->name, TC_HANDLE, TC_PRIORITY, name, query.prog_id,
				  ifc->name);
			err = -EBUSY;
			goto err;
		}
		log_warn("%s: replacing a stale tc egress program (id %u) left by an earlier "
			 "collector",
			 ifc->name, query.prog_id);
		opts.flags = BPF_TC_F_REPLACE;
	} else if (err != -ENOENT && err != -EINVAL) {
		/* EINVAL: the kernel's "no filter chain" on a fresh clsact. */
		log_error("%s: cannot query tc egress filters: %s", ifc->name, strerror(-err));
		goto err;
	}

	opts.prog_fd = bpf_program__fd(ld->skel->progs.tc_egress_tracker);
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		log_error("%s: cannot attach the tc egress program: %s", ifc->name, strerror(-err));
		goto err;
	}
	ifc->tc_attached = true;
	log_info("%s: tc %s attached to egress (clsact %s)", ifc->name, TC_PROG_NAME,
		 ifc->tc_hook_created ? "created" : "already present");
	return 0;
err:
	if (ifc->tc_hook_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
		ifc->tc_hook_created = false;
	}
	return err;
}

static void tc_detach(struct loader_iface *ifc)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	int err;

	if (ifc->tc_attached) {
		err = bpf_tc_detach(&hook, &opts);
		if (err)
			log_error("%s: cannot detach the tc egress program: %s (tc filter del "
				  "dev %s egress removes it)",
				  ifc->name, strerror(-err), ifc->name);
		else
			log_info("%s: tc egress program detached", ifc->name);
		ifc->tc_attached = false;
	}
	if (ifc->tc_hook_created) {
		/* Destroying a clsact hook removes both of its directions. */
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		err = bpf_tc_hook_destroy(&hook);
		if (err && err != -ENOENT)
			log_error("%s: cannot remove the clsact qdisc we created: %s", ifc->name,
				  strerror(-err));
		ifc->tc_hook_created = false;
	}
}

int loader_attach(struct loader *ld)
{
	const struct guarder_config *cfg = ld->cfg;
	struct loader_iface *ifc;
	size_t i;
	int err;

	for (i = 0; i < cfg->collector.n_ifaces; i++) {
		ifc = &ld->ifaces[i];
		snprintf(ifc->name, sizeof(ifc->name), "%s", cfg->collector.ifaces[i]);
		ifc->ifindex = if_nametoindex(ifc->name);
		ld->n_ifaces = i + 1;
		if (!ifc->ifindex) {
			log_error("interface '%s' does not exist", ifc->name);
			err = -ENODEV;
			goto err;
		}
		err = xdp_attach(ld, ifc);
		if (err)
			goto err;
		if (cfg->collector.egress) {
			err = tc_attach(ld, ifc);
			if (err)
				goto err;
		}
	}
	return 0;
err:
	log_error("rolling back the attachments made so far");
	loader_detach(ld);
	return err;
}

void loader_detach(struct loader *ld)
{
	size_t i;

	if (!ld)
		return;
	for (i = ld->n_ifaces; i-- > 0;) {
		tc_detach(&ld->ifaces[i]);
		xdp_detach(ld, &ld->ifaces[i]);
	}
	ld->n_ifaces = 0;
}

void loader_destroy(struct loader *ld)
{
	if (!ld)
		return;
	loader_detach(ld);
	xdp_program__close(ld->xdp_prog);
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

int loader_maps_reused(const struct loader *ld)
{
	return ld->maps_reused;
}
