// SPDX-License-Identifier: GPL-2.0
/*
 * guarder-collector: load the flow tracker into the kernel, attach it to
 * the configured interfaces, and turn its events and flow table into flow
 * records and a console summary until SIGINT or SIGTERM.
 *
 * One thread, one epoll set: the ring buffer, a sweep timer, a summary
 * timer and a signalfd. Exit status 0 after a clean signal shutdown, 1 on
 * any error.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "drop_view.h"
#include "flow_view.h"
#include "lib/cmdline.h"
#include "lib/atomic_file.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/log_libbpf.h"
#include "lib/rule_set.h"
#include "lib/timeconv.h"
#include "loader.h"
#include "sink.h"

#ifndef GUARDER_VERSION
#error "GUARDER_VERSION comes from meson.build (project version)"
#endif

#define SINK_FLUSH_TIMEOUT_MS 5000 /* at shutdown, for the Kafka queue to drain */
#define SINK_POLL_MS	      100  /* sinks' own work (delivery reports) at least this often */
#define STATS_PERIOD_S	      1	   /* stats object: stats_file and WebSocket stats frames */
#define STATS_JSON_MAX	      8192
/*
 * Events read per drain before the timers get their turn: a ring buffer
 * that never empties (a flood) must not starve delivery reports, the
 * stats file or the sweep. 16384 events take a few ms.
 */
#define DRAIN_BUDGET 16384
#define MAX_SINKS	      4

/* The config key that -iface sets (a comma-separated list). */
#define IFACES_KEY "collector.interfaces"

struct options {
	struct cmdline_daemon cmd;
	const char *iface;
	const char *interval;
	const char *api;
	bool detach;
};

/* The periodic work, one timerfd each: timer i comes out of epoll as TAG_TIMER + i. */
enum { TIMER_SWEEP, TIMER_EXPORT, TIMER_POLL, TIMER_STATS, TIMER_SUMMARY, N_TIMERS };
enum { TAG_RINGBUF = 1, TAG_SIGNAL, TAG_TIMER };

struct collector;

struct timer {
	int fd; /* -1: not armed (no console summary) */
	void (*run)(struct collector *c);
};

struct collector {
	const struct guarder_config *cfg;
	struct loader *ld;
	struct flow_view *fv;
	struct drop_view *dv;
	struct sink *sinks[MAX_SINKS];
	size_t n_sinks;
	struct ring_buffer *rb;
	int epfd;
	struct timer timers[N_TIMERS];
	int signal_fd;
	bool stats_file_warned;
	unsigned int drained; /* events of the current drain */
	unsigned int budget;  /* events one ring_buffer__consume may read */
	FILE *summary_out; /* stdout, or stderr when records go to stdout */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: guarder-collector [options]\n"
		"\n"
		"Track the flows of network interfaces with an XDP program (ingress)\n"
		"and a tc program (egress), and print a summary every interval.\n"
		"\n"
		"Options (one or two leading dashes; -name value or -name=value):\n"
		"  -c, -config FILE   read FILE instead of %s\n"
		"  -iface LIST        interfaces to watch, comma-separated (collector.interfaces)\n"
		"  -interval SECONDS  console summary period (collector.interval)\n"
		"  -api ADDR          listen address of guarder-api (api.listen); this\n"
		"                     process serves no API itself\n"
		"  -check-config      validate the config and flags, print the effective\n"
		"                     config (secrets redacted) and exit; needs no privileges\n"
		"  -detach            detach the programs from every interface a collector\n"
		"                     attached them to (with these pins) and exit\n"
		"  -v, -verbose       debug logging (libbpf and libxdp included)\n"
		"  -version           print the version and exit\n"
		"  -h, -help          this text\n"
		"\n"
		"Flags override the file. Without -c and without %s the built-in\n"
		"defaults are used. Stop with Ctrl-C or SIGTERM: the programs stay attached\n"
		"and keep filtering (the next collector adopts them); -detach removes them.\n",
		GUARDER_CONFIG_DEFAULT_PATH, GUARDER_CONFIG_DEFAULT_PATH);
}

/*
 * parse_args - the original tool's "-iface eth0 -interval 5 -api :8080"
 * next to GNU-style "--iface=eth0" (lib/cmdline.h). Returns 0 to run, 1
 * when --help or --version was served, or -EINVAL (message printed).
 */
static int parse_args(int argc, char **argv, struct options *o)
{
	static char version[128];
	const struct cmdline_opt opts[] = {
		{ .name = "iface", .value = &o->iface },
		{ .name = "interval", .value = &o->interval },
		{ .name = "api", .value = &o->api },
		{ .name = "detach", .set = &o->detach },
		{ 0 },
	};

	snprintf(version, sizeof(version), "%s (libbpf %u.%u)", GUARDER_VERSION,
		 libbpf_major_version(), libbpf_minor_version());
	o->cmd = (struct cmdline_daemon){ .prog = "guarder-collector",
					  .version = version,
					  .usage = usage };
	return cmdline_daemon_parse(&o->cmd, argc, argv, opts);
}

/*
 * load_config - defaults, then the file (-c, or the default path if it
 * exists), then the flags. Errors are printed by the config loader with
 * file:line or the flag's name. Returns 0 or a negative errno.
 */
static int load_config(struct guarder_config *cfg, const struct options *o)
{
	int err;

	err = config_open(cfg, o->cmd.config_path);
	if (err)
		return err;

	if (o->iface) {
		err = config_set(cfg, IFACES_KEY, o->iface, "-iface");
		if (err)
			return err;
	}
	if (o->interval) {
		err = config_set(cfg, "collector.interval", o->interval, "-interval");
		if (err)
			return err;
	}
	if (o->api) {
		err = config_set(cfg, "api.listen", o->api, "-api");
		if (err)
			return err;
		log_info("-api %s sets api.listen, the address guarder-api serves the REST "
			 "API on; the collector itself serves no API",
			 o->api);
	}
	return 0;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	int err = flow_view_on_event(c->fv, data, size);

	if (err)
		return err;
	/* libbpf stops the drain (this event consumed) on a negative return */
	return ++c->drained >= c->budget ? -EAGAIN : 0;
}

/*
 * Read at most @max events from the ring buffer, in slices of
 * DRAIN_BUDGET. Epoll reports the ring again while data is left.
 */
static void drain(struct collector *c, uint64_t max)
{
	uint64_t done = 0;
	int err;

	do {
		c->drained = 0;
		c->budget = max - done < DRAIN_BUDGET ? (unsigned int)(max - done) : DRAIN_BUDGET;
		err = ring_buffer__consume(c->rb);
		done += c->drained;
	} while (err == -EAGAIN && done < max);
	if (err < 0 && err != -EAGAIN)
		log_warn("reading the ring buffer: %s", strerror(-err));
}

static int timer_new_ms(unsigned int ms)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 },
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 },
	};
	int fd;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Expirations are not counted: a late tick just runs once. */
static void timer_drain(int fd)
{
	uint64_t n;

	while (read(fd, &n, sizeof(n)) == sizeof(n))
		;
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

/*
 * The sweep relies on having seen every start event of the flows it
 * finds, so the ring buffer is drained right before it.
 */
static void sweep(struct collector *c)
{
	uint64_t now;
	int err;

	/*
	 * As many events as the ring can hold: all that were in it when the
	 * sweep began, without chasing a flood that never lets it empty. A
	 * start event still in the ring is handled by the view's adoption.
	 */
	drain(c, c->cfg->bpf.ringbuf_size / (sizeof(struct flow_event) + 8 /* header */) + 1);
	now = clock_mono_now_ns();
	err = flow_view_sweep(c->fv, loader_flows_fd(c->ld), now);
	if (err)
		log_warn("sweeping the flow table: %s", strerror(-err));
	err = flow_view_expire_icmp(c->fv, loader_icmp_fd(c->ld), now);
	if (err < 0)
		log_warn("expiring the ICMP table: %s", strerror(-err));
}

static void export_drops(struct collector *c)
{
	drop_view_sweep(c->dv, clock_mono_now_ns());
}

static void print_summary(struct collector *c)
{
	flow_view_summary(c->fv, loader_stats_fd(c->ld), c->summary_out);
	fflush(c->summary_out);
}

static void sinks_poll(struct collector *c)
{
	size_t i;

	for (i = 0; i < c->n_sinks; i++)
		if (c->sinks[i]->ops->poll)
			c->sinks[i]->ops->poll(c->sinks[i]);
}

/*
 * Write @json to collector.stats_file through a temporary file and a
 * rename, so a reader (guarder-api's /metrics) never sees half of it.
 */
static void stats_file_write(struct collector *c, const char *json, size_t len)
{
	const char *path = c->cfg->collector.stats_file;
	char err[PATH_MAX + 64];
	int rc;

	if (!path)
		return;
	/* /run/guarder is gone after a reboot: made again, 0755 (others read it). */
	rc = atomic_file_write(path, json, len, 0644, 0755, err, sizeof(err));
	if (rc) {
		if (!c->stats_file_warned)
			log_warn("cannot write collector.stats_file: %s (warned once)", err);
		c->stats_file_warned = true;
		return;
	}
	if (c->stats_file_warned)
		log_info("collector.stats_file %s written again", path);
	c->stats_file_warned = false;
}

/* The periodic stats object: to the stats file and to every sink that wants it. */
static void stats_publish(struct collector *c)
{
	char json[STATS_JSON_MAX], extra[256];
	struct drop_view_stats ds;
	size_t i;
	int n;

	drop_view_get_stats(c->dv, &ds);
	snprintf(extra, sizeof(extra),
		 "\"drop_view\":{\"records\":%llu,\"aggregates\":%llu,\"sweeps\":%llu,"
		 "\"read_errors\":%llu}",
		 (unsigned long long)ds.records, (unsigned long long)ds.aggregates,
		 (unsigned long long)ds.sweeps, (unsigned long long)ds.read_errors);
	/* One byte kept for the file's closing newline. */
	n = flow_view_stats_json(c->fv, loader_stats_fd(c->ld), extra, json, sizeof(json) - 1);
	if (n < 0) {
		log_warn("the stats object is larger than %d bytes: not published", STATS_JSON_MAX);
		return;
	}
	json[n] = '\n';
	stats_file_write(c, json, (size_t)n + 1);
	json[n] = '\0';
	for (i = 0; i < c->n_sinks; i++)
		if (c->sinks[i]->ops->stats)
			c->sinks[i]->ops->stats(c->sinks[i], json, (size_t)n);
}

static int sink_add(struct collector *c, struct sink *s, const char *what)
{
	int err;

	if (!s) {
		err = errno ? -errno : -ENOMEM;
		log_error("cannot start %s: %s", what, strerror(-err));
		return err;
	}
	c->sinks[c->n_sinks++] = s;
	return 0;
}

static int setup_sinks(struct collector *c)
{
	const struct guarder_config *cfg = c->cfg;
	const char *path = cfg->collector.record_file;
	int err;

	if (path) {
		err = sink_add(c, sink_file_new(path), "the record file");
		if (err)
			return err;
		/* Keep stdout pure JSON lines when the records go there. */
		if (!strcmp(path, "-"))
			c->summary_out = stderr;
		log_info("records: JSON lines to %s", strcmp(path, "-") ? path : "stdout");
	}
	if (cfg->kafka.brokers) {
		err = sink_add(c, sink_kafka_new(cfg), "the Kafka sink");
		if (err)
			return err;
		log_info("records: Kafka topic %s on %s", cfg->kafka.topic, cfg->kafka.brokers);
	}
	if (cfg->websocket.enabled) {
		err = sink_add(c, sink_ws_new(cfg), "the WebSocket feed");
		if (err)
			return err;
		log_info("records: WebSocket feed ws://%s/ws/flows", cfg->websocket.listen);
	}
	return 0;
}

static int setup_events(struct collector *c)
{
	const struct guarder_config *cfg = c->cfg;
	const struct {
		unsigned int ms; /* 0: not armed */
		void (*run)(struct collector *c);
	} plan[N_TIMERS] = {
		[TIMER_SWEEP] = { cfg->collector.sweep_interval * 1000, sweep },
		[TIMER_EXPORT] = { cfg->collector.export_interval * 1000, export_drops },
		[TIMER_POLL] = { SINK_POLL_MS, sinks_poll },
		[TIMER_STATS] = { STATS_PERIOD_S * 1000, stats_publish },
		[TIMER_SUMMARY] = { cfg->collector.console ? cfg->collector.interval * 1000 : 0,
				    print_summary },
	};
	sigset_t mask;
	size_t i;
	int err;

	c->rb = ring_buffer__new(loader_events_fd(c->ld), on_sample, c, NULL);
	if (!c->rb) {
		err = -errno;
		log_error("cannot open the ring buffer: %s", strerror(-err));
		return err;
	}
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		err = -errno;
		log_error("epoll_create1: %s", strerror(-err));
		return err;
	}
	err = epoll_add(c->epfd, ring_buffer__epoll_fd(c->rb), TAG_RINGBUF);
	if (err)
		goto err;

	for (i = 0; i < N_TIMERS; i++) {
		if (!plan[i].ms)
			continue;
		c->timers[i].fd = timer_new_ms(plan[i].ms);
		if (c->timers[i].fd < 0) {
			err = c->timers[i].fd;
			goto err;
		}
		c->timers[i].run = plan[i].run;
		err = epoll_add(c->epfd, c->timers[i].fd, TAG_TIMER + (uint32_t)i);
		if (err)
			goto err;
	}

	/* The signals were blocked at start; they arrive here instead. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	c->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->signal_fd < 0) {
		err = -errno;
		goto err;
	}
	err = epoll_add(c->epfd, c->signal_fd, TAG_SIGNAL);
	if (err)
		goto err;
	return 0;
err:
	log_error("cannot set up the event loop: %s", strerror(-err));
	return err;
}

/* Returns 0 after a signal asked us to stop, or a negative errno. */
static int event_loop(struct collector *c)
{
	struct epoll_event evs[8];
	struct signalfd_siginfo si;
	struct timer *t;
	int i, n, err;

	for (;;) {
		n = epoll_wait(c->epfd, evs, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			log_error("epoll_wait: %s", strerror(-err));
			return err;
		}
		for (i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case TAG_RINGBUF:
				drain(c, DRAIN_BUDGET);
				sinks_poll(c);
				break;
			case TAG_SIGNAL:
				if (read(c->signal_fd, &si, sizeof(si)) != sizeof(si))
					break;
				log_info("%s received, shutting down", strsignal(si.ssi_signo));
				return 0;
			default:
				t = &c->timers[evs[i].data.u32 - TAG_TIMER];
				timer_drain(t->fd);
				t->run(c);
				break;
			}
		}
	}
}

/*
 * Account for what is in flight: the ring buffer, one last sweep, and the
 * sinks' queues. The programs stay attached: the filter keeps working
 * while no collector runs, and the next one adopts them.
 */
static void shutdown_collector(struct collector *c)
{
	struct flow_view_stats st;
	size_t i;

	if (c->rb && c->fv)
		sweep(c);
	if (c->dv)
		drop_view_sweep(c->dv, clock_mono_now_ns());
	if (c->fv)
		stats_publish(c);
	for (i = 0; i < c->n_sinks; i++)
		if (c->sinks[i]->ops->flush &&
		    c->sinks[i]->ops->flush(c->sinks[i], SINK_FLUSH_TIMEOUT_MS))
			log_warn("sink %s: records still queued after %d ms were lost",
				 c->sinks[i]->ops->name, SINK_FLUSH_TIMEOUT_MS);
	if (c->fv) {
		flow_view_get_stats(c->fv, &st);
		log_info("records: %llu start, %llu update, %llu end; %llu bad events, %llu "
			 "sink failures",
			 (unsigned long long)st.started, (unsigned long long)st.updated,
			 (unsigned long long)st.ended, (unsigned long long)st.bad_events,
			 (unsigned long long)st.sink_failures);
	}
}

static void collector_free(struct collector *c)
{
	size_t i;

	drop_view_free(c->dv);
	flow_view_free(c->fv);
	for (i = 0; i < c->n_sinks; i++)
		sink_destroy(c->sinks[i]);
	ring_buffer__free(c->rb);
	loader_destroy(c->ld);
	if (c->signal_fd >= 0)
		close(c->signal_fd);
	for (i = 0; i < N_TIMERS; i++)
		if (c->timers[i].fd >= 0)
			close(c->timers[i].fd);
	if (c->epfd >= 0)
		close(c->epfd);
}

static int run(const struct guarder_config *cfg)
{
	struct collector c = {
		.cfg = cfg,
		.epfd = -1,
		.signal_fd = -1,
		.summary_out = stdout,
	};
	size_t i;
	int err;

	for (i = 0; i < N_TIMERS; i++)
		c.timers[i].fd = -1;
	err = loader_check_ifaces(cfg);
	if (err)
		goto out;
	/*
	 * The pin directory's lock first: a second collector on the same pins
	 * must hear "another guarder-collector is running", not fail later
	 * on a port the first one's WebSocket feed holds.
	 */
	err = loader_open_load(cfg, &c.ld);
	if (err)
		goto out;
	err = setup_sinks(&c);
	if (err)
		goto out;
	c.fv = flow_view_new(cfg, c.sinks, c.n_sinks);
	if (!c.fv) {
		err = errno ? -errno : -ENOMEM;
		log_error("cannot create the flow view: %s", strerror(-err));
		goto out;
	}
	c.dv = drop_view_new(c.fv, loader_drops_fd(c.ld), loader_cfg_fd(c.ld),
			     cfg->bpf.drop_table_size);
	if (!c.dv) {
		err = errno ? -errno : -ENOMEM;
		log_error("cannot create the drop view: %s", strerror(-err));
		goto out;
	}
	/*
	 * The rules file into the kernel before the first packet is attached
	 * to, even over a set left live in reused pins: file and kernel agree.
	 */
	err = rule_set_restore_file(cfg);
	if (err)
		goto out;
	err = setup_events(&c);
	if (err)
		goto out;
	err = loader_attach(c.ld);
	if (err)
		goto out;

	for (i = 0; i < cfg->collector.n_ifaces; i++)
		log_info("watching %s", cfg->collector.ifaces[i]);
	log_info("egress %s; sweep every %u s; summary %s%u s; Ctrl-C or SIGTERM stops (the "
		 "programs stay attached; -detach removes them)",
		 cfg->collector.egress ? "on (tc)" : "off", cfg->collector.sweep_interval,
		 cfg->collector.console ? "every " : "off, would be every ",
		 cfg->collector.interval);

	err = event_loop(&c);
	shutdown_collector(&c);
out:
	collector_free(&c);
	return err;
}

int main(int argc, char **argv)
{
	struct guarder_config cfg = { 0 };
	struct options opts = { 0 };
	sigset_t mask;
	int err;

	/*
	 * librdkafka allocates and frees a block of about 1 KB per record, by
	 * the hundred thousand per second, and its batch buffers are around
	 * a megabyte. Keep freed heap for reuse instead of trimming it and
	 * faulting it back in, and keep those buffers off mmap. The heap's
	 * high-water mark is bounded by kafka.queue_max_kbytes.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	log_init("guarder-collector", LOG_LVL_INFO);
	err = parse_args(argc, argv, &opts);
	if (err)
		return err > 0 ? 0 : 1;
	log_libbpf_route();

	/*
	 * Block the stop signals before anything touches the kernel: a
	 * signal during attach then ends the run through the event loop
	 * (which drains and flushes, the programs staying attached) instead
	 * of killing us half attached.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	err = load_config(&cfg, &opts);
	if (err)
		goto out;

	if (opts.detach) {
		err = loader_detach_pinned(&cfg);
		goto out;
	}
	if (opts.cmd.check_config) {
		/*
		 * The file may leave the interfaces to -iface at start: a
		 * note, not an error. Named interfaces must exist here.
		 */
		if (!cfg.collector.n_ifaces)
			log_warn("%s sets no interface: start-up needs -iface NAME[,NAME...] "
				 "or collector.interfaces",
				 cfg.source ? cfg.source : "the config");
		else
			err = loader_check_ifaces(&cfg);
		if (!err && cfg.kafka.brokers)
			err = sink_kafka_check_config(&cfg);
		if (err)
			goto out;
		config_dump(&cfg, stdout);
		fflush(stdout);
		goto out;
	}
	err = run(&cfg);
out:
	config_free(&cfg);
	return err ? 1 : 0;
}
