// SPDX-License-Identifier: GPL-2.0
/*
 * The Guarder configuration loader.
 *
 * Every key lives in one table (config_keys[] below): its dotted name, its
 * type, where it is stored, its default, its limits, whether it is secret and
 * a one-line description. config_init(), config_load(), config_set(),
 * config_dump() and config_print_keys() (which generates the key reference
 * of docs/config.md) all walk that table, so adding a key is one row.
 *
 * The file is read with libyaml's event parser rather than its document
 * loader: events carry the line of every key and value, and let us refuse
 * anchors and aliases before they can expand into anything large.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <yaml.h>

#include "config.h"
#include "errmsg.h"
#include "log.h"
#include "url.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Bounds on what we read: documented in docs/config.md. */
#define CONFIG_MAX_FILE	  (1024 * 1024) /* bytes */
#define CONFIG_MAX_SCALAR 4096		/* bytes, before and after ${VAR} expansion */
#define GOT_MAX		  80		/* bytes of an offending value quoted back */

#define REDACTED "<redacted>"

enum key_type {
	KT_UINT,    /* unsigned int, decimal, in [min, max] */
	KT_BOOL,    /* bool: true/false, yes/no, on/off */
	KT_ENUM,    /* int-sized enum, one of names[] */
	KT_STRING,  /* char *, strdup'ed, length in [min, max]; NULL when unset */
	KT_NAMEBUF, /* char[aux], length in [min, max] */
	KT_IFLIST,  /* char[GUARDER_MAX_IFACES][GUARDER_IFNAME_MAX], count at aux */
	/* lists of parsed items: an array of max items, count (size_t) at aux */
	KT_CIDRLIST,   /* struct net_prefix[] */
	KT_PORTLIST,   /* struct guarder_port_range[] */
	KT_ORIGINLIST, /* char[][GUARDER_ORIGIN_MAX] */
	/* name: value pairs (struct guarder_kafka_prop[]), count (size_t) at aux */
	KT_PROPMAP,
};

enum key_flags {
	KEY_SECRET = 1 << 0,	       /* never printed: dumps and errors hide it */
	KEY_OPTIONAL = 1 << 1,	       /* KT_STRING: null or "" leaves it unset */
	KEY_POW2 = 1 << 2,	       /* KT_UINT: must be a power of two */
	KEY_DEFAULT_HOSTNAME = 1 << 3, /* KT_NAMEBUF: default is gethostname() */
};

/* A check refines the generic validation of a string; it fills @why. */
typedef int (*check_fn)(const char *text, char *why, size_t why_len);

struct config_key {
	const char *name; /* dotted: "section.key" */
	enum key_type type;
	size_t offset;		  /* of the field in struct guarder_config */
	size_t aux;		  /* KT_NAMEBUF: buffer size; KT_IFLIST: offset of count */
	const char *def;	  /* default, as it would be written in the file */
	unsigned long min, max;	  /* KT_UINT: value; KT_STRING/KT_NAMEBUF: length;
				     KT_*LIST (not IFLIST): max = capacity in items */
	unsigned int flags;	  /* enum key_flags */
	const char *const *names; /* KT_ENUM: the accepted words, by value */
	check_fn check;		  /* extra validation of KT_STRING/KT_NAMEBUF */
	const char *limits;	  /* docs: the rule when min..max does not say it all */
	const char *doc;	  /* docs: one line */
};

static int check_node_name(const char *text, char *why, size_t why_len);
static int check_abs_path(const char *text, char *why, size_t why_len);
static int check_listen(const char *text, char *why, size_t why_len);
static int check_token(const char *text, char *why, size_t why_len);
static int check_brokers(const char *text, char *why, size_t why_len);
static int check_topic(const char *text, char *why, size_t why_len);

static const char *const xdp_mode_names[] = {
	[GUARDER_XDP_AUTO] = "auto",
	[GUARDER_XDP_NATIVE] = "native",
	[GUARDER_XDP_GENERIC] = "generic",
	NULL,
};

static const char *const unparsed_names[] = {
	[GUARDER_UNPARSED_DROP] = "drop",
	[GUARDER_UNPARSED_PASS] = "pass",
	NULL,
};

static const char *const acks_names[] = {
	[GUARDER_ACKS_ALL] = "all",
	[GUARDER_ACKS_LEADER] = "leader",
	[GUARDER_ACKS_NONE] = "none",
	NULL,
};

static const char *const compression_names[] = {
	[GUARDER_COMP_NONE] = "none", [GUARDER_COMP_GZIP] = "gzip",
	[GUARDER_COMP_SNAPPY] = "snappy", [GUARDER_COMP_LZ4] = "lz4",
	[GUARDER_COMP_ZSTD] = "zstd", NULL,
};

static const char *const security_names[] = {
	[GUARDER_SEC_PLAINTEXT] = "plaintext",
	[GUARDER_SEC_SSL] = "ssl",
	[GUARDER_SEC_SASL_PLAINTEXT] = "sasl_plaintext",
	[GUARDER_SEC_SASL_SSL] = "sasl_ssl",
	NULL,
};

static const char *const sasl_names[] = {
	[GUARDER_SASL_PLAIN] = "PLAIN",
	[GUARDER_SASL_SCRAM_SHA_256] = "SCRAM-SHA-256",
	[GUARDER_SASL_SCRAM_SHA_512] = "SCRAM-SHA-512",
	NULL,
};

static const char *const provider_names[] = {
	[GUARDER_AI_OPENAI] = "openai",
	[GUARDER_AI_AZURE] = "azure",
	[GUARDER_AI_OLLAMA] = "ollama",
	NULL,
};

#define OFF(field) offsetof(struct guarder_config, field)

/* Grouped by section: config_dump() opens a section when the prefix changes. */
static const struct config_key config_keys[] = {
	{ .name = "node.name", .type = KT_NAMEBUF, .offset = OFF(node_name),
	  .aux = GUARDER_NODE_NAME_MAX, .min = 1, .max = GUARDER_NODE_NAME_MAX - 1,
	  .flags = KEY_DEFAULT_HOSTNAME, .check = check_node_name,
	  .limits = "1..63 characters of `A-Z a-z 0-9 . _ -`",
	  .doc = "Name of this machine in flow records and alerts." },

	{ .name = "bpf.pin_path", .type = KT_STRING, .offset = OFF(bpf.pin_path),
	  .def = "/sys/fs/bpf/guarder", .min = 2, .max = 200, .check = check_abs_path,
	  .limits = "absolute path, at most 200 bytes",
	  .doc = "bpffs directory where the maps are pinned, so a restarted collector "
		 "and the API find them." },
	{ .name = "bpf.flow_table_size", .type = KT_UINT, .offset = OFF(bpf.flow_table_size),
	  .def = "1048576", .min = 1024, .max = 16777216,
	  .doc = "Entries of the kernel flow table (LRU: when full, the least recently "
		 "seen flow is evicted)." },
	{ .name = "bpf.icmp_table_size", .type = KT_UINT, .offset = OFF(bpf.icmp_table_size),
	  .def = "65536", .min = 256, .max = 1048576,
	  .doc = "Entries of the kernel ICMP table, one per (source, destination, type, code)." },
	{ .name = "bpf.ringbuf_size", .type = KT_UINT, .offset = OFF(bpf.ringbuf_size),
	  .def = "8388608", .min = 65536, .max = 1073741824, .flags = KEY_POW2,
	  .doc = "Bytes of the ring buffer that carries flow events to the collector." },
	{ .name = "bpf.frag_table_size", .type = KT_UINT, .offset = OFF(bpf.frag_table_size),
	  .def = "16384", .min = 256, .max = 1048576,
	  .doc = "First fragments the kernel keeps (LRU), so that the later fragments of "
		 "their datagram get its ports and verdict." },
	{ .name = "bpf.drop_table_size", .type = KT_UINT, .offset = OFF(bpf.drop_table_size),
	  .def = "8192", .min = 256, .max = 262144, .flags = KEY_POW2,
	  .doc = "Drop aggregates (one per source, rule or reason, hook and interface) each "
		 "CPU counts per export interval; drops past that are counted, not "
		 "attributed to a source. Kernel memory: 128 bytes per slot per CPU." },

	{ .name = "collector.interfaces", .type = KT_IFLIST, .offset = OFF(collector.ifaces),
	  .aux = OFF(collector.n_ifaces), .def = "",
	  .limits = "at most 64 distinct names, each 1..15 bytes, no `/ : ,` or spaces",
	  .doc = "Interfaces to attach to: a list, or one comma-separated string. "
		 "Empty: `-iface` is required." },
	{ .name = "collector.xdp_mode", .type = KT_ENUM, .offset = OFF(collector.xdp_mode),
	  .def = "auto", .names = xdp_mode_names,
	  .doc = "How to attach XDP: `native` (driver), `generic` (skb), `auto` (native, else generic)." },
	{ .name = "collector.egress", .type = KT_BOOL, .offset = OFF(collector.egress),
	  .def = "true",
	  .doc = "Also count egress traffic with a tc program." },
	{ .name = "collector.interval", .type = KT_UINT, .offset = OFF(collector.interval),
	  .def = "10", .min = 1, .max = 3600,
	  .doc = "Seconds between console summaries." },
	{ .name = "collector.idle_timeout", .type = KT_UINT, .offset = OFF(collector.idle_timeout),
	  .def = "60", .min = 1, .max = 86400,
	  .doc = "Seconds without a packet after which a flow ends." },
	{ .name = "collector.active_timeout", .type = KT_UINT, .offset = OFF(collector.active_timeout),
	  .def = "300", .min = 1, .max = 86400,
	  .doc = "Seconds between update records of a long-lived flow." },
	{ .name = "collector.close_linger", .type = KT_UINT, .offset = OFF(collector.close_linger),
	  .def = "2", .min = 0, .max = 300,
	  .doc = "Seconds a TCP flow is kept after FIN or RST, to count the last packets." },
	{ .name = "collector.sweep_interval", .type = KT_UINT, .offset = OFF(collector.sweep_interval),
	  .def = "1", .min = 1, .max = 60,
	  .doc = "Seconds between scans of the kernel table for expired flows." },
	{ .name = "collector.export_interval", .type = KT_UINT,
	  .offset = OFF(collector.export_interval), .def = "5", .min = 1, .max = 3600,
	  .doc = "Seconds between interval records: what the filter dropped, per source and "
		 "rule, is reported once per interval." },
	{ .name = "collector.top_flows", .type = KT_UINT, .offset = OFF(collector.top_flows),
	  .def = "10", .min = 0, .max = 100,
	  .doc = "Flows listed in each console summary (0: counters only)." },
	{ .name = "collector.max_flows", .type = KT_UINT, .offset = OFF(collector.max_flows),
	  .def = "1048576", .min = 1024, .max = 16777216,
	  .doc = "Flows the collector keeps in memory; beyond it new flows are counted "
		 "(`view_full`), not tracked." },
	{ .name = "collector.console", .type = KT_BOOL, .offset = OFF(collector.console),
	  .def = "true",
	  .doc = "Print the summary on the console." },
	{ .name = "collector.record_file", .type = KT_STRING, .offset = OFF(collector.record_file),
	  .def = NULL, .min = 1, .max = PATH_MAX - 1, .flags = KEY_OPTIONAL,
	  .limits = "a path, or `-` for standard output",
	  .doc = "Append every flow record to this file as JSON lines. Unset or empty: off." },
	{ .name = "collector.stats_file", .type = KT_STRING, .offset = OFF(collector.stats_file),
	  .def = "/run/guarder/collector-stats.json", .min = 2, .max = PATH_MAX - 1,
	  .flags = KEY_OPTIONAL, .check = check_abs_path, .limits = "absolute path",
	  .doc = "The collector's counters (records, Kafka, WebSocket) as one JSON object, "
		 "rewritten atomically every `collector.interval`; guarder-api exports them on "
		 "`/metrics`. Unset or empty: off." },

	{ .name = "rules.file", .type = KT_STRING, .offset = OFF(rules.file),
	  .def = "/var/lib/guarder/rules.json", .min = 2, .max = PATH_MAX - 1,
	  .check = check_abs_path, .limits = "absolute path",
	  .doc = "The rules file: every filter rule, rewritten atomically on each change, "
		 "loaded into the kernel when the API or the collector starts." },
	{ .name = "rules.max_rules", .type = KT_UINT, .offset = OFF(rules.max_rules),
	  .def = "10000", .min = 1, .max = GUARDER_MAX_RULES_LIMIT,
	  .doc = "Most filter rules the rule set may hold; the API refuses more." },
	{ .name = "rules.protected_networks", .type = KT_CIDRLIST,
	  .offset = OFF(rules.protected_networks), .aux = OFF(rules.n_protected_networks),
	  .def = "", .max = GUARDER_MAX_PROTECTED,
	  .limits = "at most 64 distinct `addr` or `addr/len` (IPv4 or IPv6), host bits zero",
	  .doc = "Networks no drop rule may touch (management access): rules whose source or "
		 "destination may fall in one are refused." },
	{ .name = "rules.protected_ports", .type = KT_PORTLIST,
	  .offset = OFF(rules.protected_ports), .aux = OFF(rules.n_protected_ports),
	  .def = "", .max = GUARDER_MAX_PROTECTED,
	  .limits = "at most 64 distinct ports `N` or ranges `N-M`, 1..65535",
	  .doc = "This host's own services no drop rule may touch (e.g. 22): packets to "
		 "them and their replies pass every rule, except a rule naming one single "
		 "source host (one attacker); other rules on them are refused." },

	{ .name = "filter.unparsed", .type = KT_ENUM, .offset = OFF(filter.unparsed),
	  .def = "drop", .names = unparsed_names,
	  .doc = "A packet the filter cannot read whole (truncated or malformed headers, a "
		 "cut-off IPv6 extension chain, an unreadable ICMP quote): `drop` it while "
		 "rules are loaded and none allows it, or `pass` it. Counted by reason either "
		 "way (docs/rules.md)." },

	{ .name = "api.listen", .type = KT_STRING, .offset = OFF(api.listen),
	  .def = "127.0.0.1:8080", .min = 2, .max = 300, .check = check_listen,
	  .limits = "`host:port`, `[ipv6]:port` or `:port` (all addresses); port 1..65535",
	  .doc = "Address of the REST API. The collector's `-api` flag sets it." },
	{ .name = "api.token", .type = KT_STRING, .offset = OFF(api.token),
	  .def = NULL, .min = 16, .max = 256, .flags = KEY_SECRET | KEY_OPTIONAL, .check = check_token,
	  .limits = "16..256 printable ASCII characters, no spaces",
	  .doc = "Bearer token that API clients must send. Secret: give it as `${GUARDER_API_TOKEN}`." },
	{ .name = "api.cors_origins", .type = KT_ORIGINLIST, .offset = OFF(api.cors_origins),
	  .aux = OFF(api.n_cors_origins), .def = "", .max = GUARDER_MAX_CORS_ORIGINS,
	  .limits = "at most 16 distinct `http(s)://host[:port]`, lowercase, no path, no `*`",
	  .doc = "Web origins allowed to call the API from a browser (CORS). Empty: none." },
	{ .name = "api.max_body", .type = KT_UINT, .offset = OFF(api.max_body),
	  .def = "8388608", .min = 4096, .max = 268435456,
	  .doc = "Largest request body in bytes (413 beyond); a bulk load of 10,000 rules "
		 "takes about 2 MiB." },
	{ .name = "api.default_limit", .type = KT_UINT, .offset = OFF(api.default_limit),
	  .def = "1000", .min = 1, .max = 1000000,
	  .doc = "Items a list endpoint returns when the request gives no `limit`." },
	{ .name = "api.max_limit", .type = KT_UINT, .offset = OFF(api.max_limit),
	  .def = "100000", .min = 1, .max = 1000000,
	  .doc = "Highest `limit` a request may ask for (400 beyond); at least `api.default_limit`." },
	{ .name = "api.threads", .type = KT_UINT, .offset = OFF(api.threads),
	  .def = "2", .min = 1, .max = 64,
	  .doc = "Threads serving HTTP requests." },

	{ .name = "kafka.brokers", .type = KT_STRING, .offset = OFF(kafka.brokers),
	  .def = NULL, .min = 3, .max = 1024, .flags = KEY_OPTIONAL, .check = check_brokers,
	  .limits = "comma-separated `host:port` or `[ipv6]:port`",
	  .doc = "Kafka bootstrap servers. Unset or empty: the collector publishes nothing to Kafka." },
	{ .name = "kafka.topic", .type = KT_STRING, .offset = OFF(kafka.topic),
	  .def = "guarder.flows", .min = 1, .max = 249, .check = check_topic,
	  .limits = "1..249 characters of `A-Z a-z 0-9 . _ -`",
	  .doc = "Topic of the flow records." },
	{ .name = "kafka.client_id", .type = KT_STRING, .offset = OFF(kafka.client_id),
	  .def = "guarder-collector", .min = 1, .max = 255,
	  .doc = "Client id the broker sees (quotas, logs)." },
	{ .name = "kafka.acks", .type = KT_ENUM, .offset = OFF(kafka.acks),
	  .def = "all", .names = acks_names,
	  .doc = "Acknowledgement a record waits for: every in-sync replica, the partition leader, "
		 "or none (a record is then counted delivered once sent)." },
	{ .name = "kafka.compression", .type = KT_ENUM, .offset = OFF(kafka.compression),
	  .def = "lz4", .names = compression_names,
	  .doc = "Compression of record batches." },
	{ .name = "kafka.linger_ms", .type = KT_UINT, .offset = OFF(kafka.linger_ms),
	  .def = "5", .min = 0, .max = 900000,
	  .doc = "Milliseconds a batch waits for more records before it is sent." },
	{ .name = "kafka.batch_size", .type = KT_UINT, .offset = OFF(kafka.batch_size),
	  .def = "1000000", .min = 1, .max = 2147483647,
	  .doc = "Largest batch in bytes." },
	{ .name = "kafka.idempotence", .type = KT_BOOL, .offset = OFF(kafka.idempotence),
	  .def = "true",
	  .doc = "Idempotent producer: retries never write a record twice nor reorder a "
		 "partition (needs `acks: all`)." },
	{ .name = "kafka.queue_max_messages", .type = KT_UINT,
	  .offset = OFF(kafka.queue_max_messages), .def = "1000000", .min = 1, .max = 10000000,
	  .doc = "Records the local queue holds while the broker is slow or away; beyond it "
		 "records are dropped and counted (`kafka.queue_full_wait_ms`)." },
	{ .name = "kafka.queue_max_kbytes", .type = KT_UINT, .offset = OFF(kafka.queue_max_kbytes),
	  .def = "131072", .min = 1, .max = 2097151,
	  .doc = "The same bound in KiB of record data; whichever is reached first applies. "
		 "The collector's memory grows by up to this much while the broker is away." },
	{ .name = "kafka.queue_full_wait_ms", .type = KT_UINT,
	  .offset = OFF(kafka.queue_full_wait_ms), .def = "50", .min = 0, .max = 10000,
	  .doc = "When the queue is full, how long the collector waits for room before it drops "
		 "records (counted); while the queue stays full it drops without waiting again." },
	{ .name = "kafka.message_timeout_ms", .type = KT_UINT,
	  .offset = OFF(kafka.message_timeout_ms), .def = "0", .min = 0, .max = 2147483647,
	  .doc = "How long a queued record may wait for delivery before it is counted failed; "
		 "0: no limit (records wait out any outage while the queue has room)." },
	{ .name = "kafka.security_protocol", .type = KT_ENUM,
	  .offset = OFF(kafka.security_protocol), .def = "plaintext", .names = security_names,
	  .doc = "Transport to the brokers: TLS (`ssl`), SASL, both, or neither." },
	{ .name = "kafka.ssl_ca", .type = KT_STRING, .offset = OFF(kafka.ssl_ca),
	  .def = NULL, .min = 2, .max = PATH_MAX - 1, .flags = KEY_OPTIONAL,
	  .check = check_abs_path, .limits = "absolute path",
	  .doc = "CA certificate(s) to verify the brokers (PEM file). Unset: the system's store." },
	{ .name = "kafka.ssl_cert", .type = KT_STRING, .offset = OFF(kafka.ssl_cert),
	  .def = NULL, .min = 2, .max = PATH_MAX - 1, .flags = KEY_OPTIONAL,
	  .check = check_abs_path, .limits = "absolute path",
	  .doc = "Client certificate (PEM file) for mutual TLS." },
	{ .name = "kafka.ssl_key", .type = KT_STRING, .offset = OFF(kafka.ssl_key),
	  .def = NULL, .min = 2, .max = PATH_MAX - 1, .flags = KEY_OPTIONAL,
	  .check = check_abs_path, .limits = "absolute path",
	  .doc = "Private key of the client certificate (PEM file)." },
	{ .name = "kafka.ssl_key_password", .type = KT_STRING,
	  .offset = OFF(kafka.ssl_key_password), .def = NULL, .min = 1, .max = 1024,
	  .flags = KEY_SECRET | KEY_OPTIONAL,
	  .doc = "Password of `kafka.ssl_key`. Secret: give it as a `${VAR}`." },
	{ .name = "kafka.sasl_mechanism", .type = KT_ENUM, .offset = OFF(kafka.sasl_mechanism),
	  .def = "PLAIN", .names = sasl_names,
	  .doc = "SASL mechanism, used with `sasl_plaintext` and `sasl_ssl`." },
	{ .name = "kafka.sasl_username", .type = KT_STRING, .offset = OFF(kafka.sasl_username),
	  .def = NULL, .min = 1, .max = 1024, .flags = KEY_OPTIONAL,
	  .doc = "SASL user name." },
	{ .name = "kafka.sasl_password", .type = KT_STRING, .offset = OFF(kafka.sasl_password),
	  .def = NULL, .min = 1, .max = 1024, .flags = KEY_SECRET | KEY_OPTIONAL,
	  .doc = "SASL password. Secret: give it as a `${VAR}`." },
	{ .name = "kafka.properties", .type = KT_PROPMAP, .offset = OFF(kafka.properties),
	  .aux = OFF(kafka.n_properties), .def = "", .max = GUARDER_MAX_KAFKA_PROPS,
	  .limits = "at most 64 `name: value` pairs; names `[a-z0-9._-]`, values up to 4095 "
		    "bytes on one line",
	  .doc = "Any other librdkafka producer property, applied last (it overrides the keys "
		 "above). Values of names containing `password`, `secret` or `key` are "
		 "redacted in dumps." },

	{ .name = "ai.group_id", .type = KT_STRING, .offset = OFF(ai.group_id),
	  .def = "guarder-ai", .min = 1, .max = 249, .check = check_topic,
	  .limits = "1..249 characters of `A-Z a-z 0-9 . _ -`",
	  .doc = "Kafka consumer group of the AI workers: workers in one group share the "
		 "partitions of `kafka.topic`." },
	{ .name = "ai.suggestions_topic", .type = KT_STRING, .offset = OFF(ai.suggestions_topic),
	  .def = "guarder.suggestions", .min = 1, .max = 249, .check = check_topic,
	  .limits = "1..249 characters of `A-Z a-z 0-9 . _ -`",
	  .doc = "Topic the workers publish rule suggestions to and guarder-api reads." },
	{ .name = "ai.window", .type = KT_UINT, .offset = OFF(ai.window),
	  .def = "60", .min = 5, .max = 3600,
	  .doc = "Seconds of traffic the detectors look at (sliding window)." },
	{ .name = "ai.max_tracked", .type = KT_UINT, .offset = OFF(ai.max_tracked),
	  .def = "1000000", .min = 1024, .max = 50000000,
	  .doc = "Entries each feature table may hold (sources, destinations, services); the "
		 "worker's memory is bounded by it whatever the traffic (oldest evicted, counted)." },
	{ .name = "ai.scan_ports", .type = KT_UINT, .offset = OFF(ai.scan_ports),
	  .def = "100", .min = 2, .max = 65535,
	  .doc = "Vertical port scan: distinct destination ports one source tries on one host "
		 "within the window." },
	{ .name = "ai.scan_hosts", .type = KT_UINT, .offset = OFF(ai.scan_hosts),
	  .def = "50", .min = 2, .max = 1000000,
	  .doc = "Horizontal scan: distinct hosts one source tries on one port within the window." },
	{ .name = "ai.syn_flood_syns", .type = KT_UINT, .offset = OFF(ai.syn_flood_syns),
	  .def = "500", .min = 10, .max = 100000000,
	  .doc = "SYN flood: flows to one service that never got past SYN, within the window." },
	{ .name = "ai.syn_flood_max_completed_pct", .type = KT_UINT,
	  .offset = OFF(ai.syn_flood_max_completed_pct), .def = "20", .min = 0, .max = 100,
	  .doc = "...and at most this percent of that service's flows completed the handshake." },
	{ .name = "ai.brute_force_attempts", .type = KT_UINT, .offset = OFF(ai.brute_force_attempts),
	  .def = "20", .min = 2, .max = 1000000,
	  .doc = "Brute force: connections from one source to one remote-access port within the "
		 "window." },
	{ .name = "ai.remote_access_ports", .type = KT_PORTLIST,
	  .offset = OFF(ai.remote_access_ports), .aux = OFF(ai.n_remote_access_ports),
	  .def = "22, 23, 3389, 5900, 5985-5986", .max = GUARDER_MAX_PROTECTED,
	  .limits = "at most 64 distinct ports `N` or ranges `N-M`",
	  .doc = "Ports the brute-force detector watches (SSH, telnet, RDP, VNC, WinRM)." },
	{ .name = "ai.icmp_flood_packets", .type = KT_UINT, .offset = OFF(ai.icmp_flood_packets),
	  .def = "5000", .min = 10, .max = 100000000,
	  .doc = "ICMP flood: ICMP packets from one source to one host within the window." },
	{ .name = "ai.icmp_error_storm", .type = KT_UINT, .offset = OFF(ai.icmp_error_storm),
	  .def = "200", .min = 2, .max = 100000000,
	  .doc = "ICMP error storm: ICMP error records towards one host within the window." },
	{ .name = "ai.reflection_bytes", .type = KT_UINT, .offset = OFF(ai.reflection_bytes),
	  .def = "10000000", .min = 1000, .max = 4000000000U,
	  .doc = "UDP reflection/amplification: bytes one host receives from reflector ports "
		 "within the window." },
	{ .name = "ai.reflection_ports", .type = KT_PORTLIST,
	  .offset = OFF(ai.reflection_ports), .aux = OFF(ai.n_reflection_ports),
	  .def = "19, 53, 123, 161, 389, 1900, 11211", .max = GUARDER_MAX_PROTECTED,
	  .limits = "at most 64 distinct ports `N` or ranges `N-M`",
	  .doc = "UDP source ports of known reflectors (chargen, DNS, NTP, SNMP, CLDAP, SSDP, "
		 "memcached)." },
	{ .name = "ai.rule_ttl", .type = KT_UINT, .offset = OFF(ai.rule_ttl),
	  .def = "3600", .min = 60, .max = 2592000,
	  .doc = "Seconds a proposed rule lives once applied (its `expires_at`)." },
	{ .name = "ai.max_rules_per_suggestion", .type = KT_UINT,
	  .offset = OFF(ai.max_rules_per_suggestion), .def = "16", .min = 1, .max = 256,
	  .doc = "Most rules one suggestion may carry; a larger proposal is rejected by the policy." },
	{ .name = "ai.max_suggestions", .type = KT_UINT, .offset = OFF(ai.max_suggestions),
	  .def = "1000", .min = 10, .max = 100000,
	  .doc = "Suggestions guarder-api keeps (newest first); older ones are forgotten." },
	{ .name = "ai.auto_apply", .type = KT_BOOL, .offset = OFF(ai.auto_apply),
	  .def = "false",
	  .doc = "Apply detector suggestions without an operator (never model ones), if their "
		 "confidence reaches `auto_apply_min_confidence_pct`; always with `rule_ttl`." },
	{ .name = "ai.auto_apply_min_confidence_pct", .type = KT_UINT,
	  .offset = OFF(ai.auto_apply_min_confidence_pct), .def = "90", .min = 50, .max = 100,
	  .doc = "Lowest confidence (percent) of an auto-applied suggestion." },
	{ .name = "ai.model.endpoint", .type = KT_STRING, .offset = OFF(ai.model.endpoint),
	  .def = NULL, .min = 8, .max = 1024, .flags = KEY_OPTIONAL,
	  .check = url_check_http, /* the check start-up applies too */
	  .limits = "`http://` or `https://` URL",
	  .doc = "Base URL of an OpenAI-compatible API (`https://api.openai.com/v1`, "
		 "`http://127.0.0.1:11434/v1`, an Azure deployment URL). Unset: detectors only. "
		 "`OPENAI_ENDPOINT` overrides it." },
	{ .name = "ai.model.api_key", .type = KT_STRING, .offset = OFF(ai.model.api_key),
	  .def = NULL, .min = 1, .max = 1024, .flags = KEY_SECRET | KEY_OPTIONAL,
	  .check = check_token, .limits = "printable ASCII without spaces",
	  .doc = "Key of the model API. Secret: give it as `${VAR}`; `OPENAI_API_KEY` overrides it." },
	{ .name = "ai.model.name", .type = KT_STRING, .offset = OFF(ai.model.name),
	  .def = "gpt-4o-mini", .min = 1, .max = 256,
	  .doc = "Model (or Azure deployment) name." },
	{ .name = "ai.model.api_version", .type = KT_STRING, .offset = OFF(ai.model.api_version),
	  .def = NULL, .min = 1, .max = 64, .flags = KEY_OPTIONAL,
	  .doc = "Azure's `api-version` query parameter (e.g. `2024-06-01`)." },
	{ .name = "ai.model.provider", .type = KT_ENUM, .offset = OFF(ai.model.provider),
	  .def = "openai", .names = provider_names,
	  .doc = "How to authenticate: `openai` (Bearer; also DeepSeek, vLLM, LocalAI), `azure` "
		 "(api-key header), `ollama` (key optional)." },
	{ .name = "ai.model.timeout_ms", .type = KT_UINT, .offset = OFF(ai.model.timeout_ms),
	  .def = "30000", .min = 100, .max = 600000,
	  .doc = "Time limit of one model request, connection included." },
	{ .name = "ai.model.max_retries", .type = KT_UINT, .offset = OFF(ai.model.max_retries),
	  .def = "3", .min = 0, .max = 10,
	  .doc = "Retries on 429 and 5xx, with backoff; `Retry-After` is honoured." },
	{ .name = "ai.model.calls_per_minute", .type = KT_UINT,
	  .offset = OFF(ai.model.calls_per_minute), .def = "10", .min = 1, .max = 10000,
	  .doc = "Most model requests per minute (per process); more are refused with an error." },
	{ .name = "ai.model.interval", .type = KT_UINT, .offset = OFF(ai.model.interval),
	  .def = "300", .min = 0, .max = 86400,
	  .doc = "Seconds between the worker's model analyses of its window; 0: never." },
	{ .name = "ai.model.max_tokens", .type = KT_UINT, .offset = OFF(ai.model.max_tokens),
	  .def = "1024", .min = 64, .max = 32768,
	  .doc = "Longest answer asked of the model." },
	{ .name = "ai.model.debug", .type = KT_BOOL, .offset = OFF(ai.model.debug),
	  .def = "false",
	  .doc = "Log model requests and answers (the key redacted). `AI_DEBUG=1` turns it on." },

	{ .name = "websocket.enabled", .type = KT_BOOL, .offset = OFF(websocket.enabled),
	  .def = "true",
	  .doc = "Serve the live feed `/ws/flows` from the collector." },
	{ .name = "websocket.listen", .type = KT_STRING, .offset = OFF(websocket.listen),
	  .def = "127.0.0.1:8081", .min = 2, .max = 300, .check = check_listen,
	  .limits = "`host:port`, `[ipv6]:port` or `:port` (all addresses); port 1..65535",
	  .doc = "Address of the WebSocket feed. A non-loopback address needs `api.token`, "
		 "which clients then send like API clients do." },
	{ .name = "websocket.origins", .type = KT_ORIGINLIST, .offset = OFF(websocket.origins),
	  .aux = OFF(websocket.n_origins), .def = "", .max = GUARDER_MAX_CORS_ORIGINS,
	  .limits = "at most 16 distinct `http(s)://host[:port]`, lowercase, no path, no `*`",
	  .doc = "Web pages (origins) allowed to open the feed from a browser. Empty: only "
		 "clients that send no `Origin` (scripts, tools)." },
	{ .name = "websocket.max_clients", .type = KT_UINT, .offset = OFF(websocket.max_clients),
	  .def = "64", .min = 1, .max = 1024,
	  .doc = "Subscribers served at once; more are refused with HTTP 503." },
	{ .name = "websocket.queue_records", .type = KT_UINT,
	  .offset = OFF(websocket.queue_records), .def = "16384", .min = 64, .max = 1048576,
	  .flags = KEY_POW2,
	  .doc = "Records a subscriber may fall behind before it skips ahead and is told how "
		 "many it missed (a `lagged` message). Memory is shared by all subscribers." },
	{ .name = "websocket.max_message", .type = KT_UINT, .offset = OFF(websocket.max_message),
	  .def = "65536", .min = 4096, .max = 16777216,
	  .doc = "Largest WebSocket message in bytes; records are batched into messages up to it." },
	{ .name = "websocket.stats_interval", .type = KT_UINT,
	  .offset = OFF(websocket.stats_interval), .def = "5", .min = 0, .max = 3600,
	  .doc = "Seconds between `stats` messages to every subscriber; 0: none." },
	{ .name = "websocket.ping_interval", .type = KT_UINT,
	  .offset = OFF(websocket.ping_interval), .def = "20", .min = 1, .max = 3600,
	  .doc = "Seconds between pings; a subscriber that does not answer within another "
		 "interval is disconnected." },
};

static void *field_of(struct guarder_config *cfg, const struct config_key *k)
{
	return (char *)cfg + k->offset;
}

static const void *cfield_of(const struct guarder_config *cfg, const struct config_key *k)
{
	return (const char *)cfg + k->offset;
}

static const struct config_key *key_find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(config_keys); i++)
		if (!strcmp(config_keys[i].name, name))
			return &config_keys[i];
	return NULL;
}

/* Is @prefix a section, i.e. do some keys start with "@prefix."? */
static bool key_is_section(const char *prefix)
{
	size_t n = strlen(prefix), i;

	for (i = 0; i < ARRAY_SIZE(config_keys); i++)
		if (!strncmp(config_keys[i].name, prefix, n) && config_keys[i].name[n] == '.')
			return true;
	return false;
}

/* ---- checks on values ---- */

static int check_node_name(const char *text, char *why, size_t why_len)
{
	const char *p;

	for (p = text; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return errmsg_inval(why, why_len, "may only contain A-Z a-z 0-9 . _ -");
	return 0;
}

static int check_abs_path(const char *text, char *why, size_t why_len)
{
	if (text[0] != '/')
		return errmsg_inval(why, why_len, "must be an absolute path");
	if (!strcmp(text, "/"))
		return errmsg_inval(why, why_len, "must not be the root directory");
	return 0;
}

static int parse_port(const char *text, char *why, size_t why_len)
{
	unsigned long port = 0;
	const char *p;

	if (!*text)
		return errmsg_inval(why, why_len,
				    "has no port (write host:port, [ipv6]:port or :port)");
	for (p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return errmsg_inval(why, why_len, "port must be a number from 1 to 65535");
		port = port * 10 + (unsigned long)(*p - '0');
		if (port > 65535)
			break;
	}
	if (port < 1 || port > 65535)
		return errmsg_inval(why, why_len, "port must be a number from 1 to 65535");
	return 0;
}

static int check_listen(const char *text, char *why, size_t why_len)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	const char *colon, *p;
	size_t n;

	if (text[0] == '[') {
		const char *end = strchr(text, ']');

		if (!end || end[1] != ':')
			return errmsg_inval(why, why_len, "must be [ipv6]:port");
		n = (size_t)(end - text - 1);
		if (n == 0 || n >= sizeof(host))
			return errmsg_inval(why, why_len, "is not an IPv6 address in brackets");
		memcpy(host, text + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return errmsg_inval(why, why_len, "is not an IPv6 address in brackets");
		return parse_port(end + 2, why, why_len);
	}
	colon = strrchr(text, ':');
	if (!colon)
		return errmsg_inval(why, why_len, "must be host:port, [ipv6]:port or :port");
	if (memchr(text, ':', (size_t)(colon - text)))
		return errmsg_inval(why, why_len,
				    "an IPv6 address must be in brackets: [addr]:port");
	for (p = text; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return errmsg_inval(why, why_len, "host must be a name or an address");
	return parse_port(colon + 1, why, why_len);
}

static int check_token(const char *text, char *why, size_t why_len)
{
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return errmsg_inval(why, why_len,
					    "may only contain printable ASCII without spaces");
	return 0;
}

/* "host:port,host:port": each item as an address to connect to (a host is required). */
static int check_brokers(const char *text, char *why, size_t why_len)
{
	char item[301];
	const char *p = text, *end;
	size_t n;
	int err;

	for (;;) {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		if (!n || n >= sizeof(item))
			return errmsg_inval(why, why_len,
					    "has an empty or too long broker address");
		memcpy(item, p, n);
		item[n] = '\0';
		if (item[0] == ':')
			return errmsg_inval(why, why_len, "\"%s\": a broker address needs a host",
					    item);
		err = check_listen(item, why, why_len);
		if (err)
			return err;
		if (!end)
			return 0;
		p = end + 1;
	}
}

/* Kafka's own rule for topic names. */
static int check_topic(const char *text, char *why, size_t why_len)
{
	const char *p;

	if (!strcmp(text, ".") || !strcmp(text, ".."))
		return errmsg_inval(why, why_len, "cannot be \".\" or \"..\"");
	for (p = text; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return errmsg_inval(why, why_len, "may only contain A-Z a-z 0-9 . _ -");
	return 0;
}

/* Linux's own rule (dev_valid_name): no '/', ':' or whitespace, not "." or "..". */
static int check_ifname(const char *name, size_t n, char *why, size_t why_len)
{
	size_t i;

	if (n == 0)
		return errmsg_inval(why, why_len, "has an empty interface name");
	if (n >= GUARDER_IFNAME_MAX)
		return errmsg_inval(why, why_len, "interface name \"%.*s\" is longer than %d bytes",
				    (int)n, name, GUARDER_IFNAME_MAX - 1);
	if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
		return errmsg_inval(why, why_len, "\"%.*s\" is not an interface name", (int)n,
				    name);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '/' || c == ':' || c == ',' || c <= ' ' || c == 0x7f)
			return errmsg_inval(why, why_len,
					    "interface name \"%.*s\" has a forbidden character",
					    (int)n, name);
	}
	return 0;
}

/* ---- setters: validate @text, then store it; @cfg is untouched on error ---- */

static int set_uint(const struct config_key *k, struct guarder_config *cfg, const char *text,
		    char *why, size_t why_len)
{
	unsigned long long v = 0;
	const char *p;

	if (text[0] == '-')
		return errmsg_inval(why, why_len, "must not be negative");
	if (!*text)
		return errmsg_inval(why, why_len, "must be a number");
	for (p = text; *p; p++)
		if (*p < '0' || *p > '9')
			return errmsg_inval(why, why_len, "must be a whole decimal number");
	/* A leading zero would be octal to some YAML readers: refuse the doubt. */
	if (text[0] == '0' && text[1])
		return errmsg_inval(why, why_len, "must be a decimal number without leading zeros");
	/* Saturate past max so a huge number cannot wrap into range. */
	for (p = text; *p && v <= k->max; p++)
		v = v * 10 + (unsigned long long)(*p - '0');
	if (v < k->min || v > k->max)
		return errmsg_inval(why, why_len, "must be between %lu and %lu", k->min, k->max);
	if ((k->flags & KEY_POW2) && (v & (v - 1)))
		return errmsg_inval(why, why_len, "must be a power of two");
	*(unsigned int *)field_of(cfg, k) = (unsigned int)v;
	return 0;
}

static int set_bool(const struct config_key *k, struct guarder_config *cfg, const char *text,
		    char *why, size_t why_len)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(text, yes[i])) {
			*(bool *)field_of(cfg, k) = true;
			return 0;
		}
		if (!strcasecmp(text, no[i])) {
			*(bool *)field_of(cfg, k) = false;
			return 0;
		}
	}
	return errmsg_inval(why, why_len, "must be true or false");
}

static int set_enum(const struct config_key *k, struct guarder_config *cfg, const char *text,
		    char *why, size_t why_len)
{
	char list[128] = "";
	size_t i;

	for (i = 0; k->names[i]; i++) {
		if (!strcmp(text, k->names[i])) {
			*(int *)field_of(cfg, k) = (int)i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i ? (k->names[i + 1] ? ", " : " or ") : "", k->names[i]);
	}
	return errmsg_inval(why, why_len, "must be %s", list);
}

static int check_string(const struct config_key *k, const char *text, char *why, size_t why_len)
{
	size_t n = strlen(text), i;

	if (n < k->min || n > k->max)
		return errmsg_inval(why, why_len, "must be %lu to %lu bytes long", k->min, k->max);
	for (i = 0; i < n; i++)
		if ((unsigned char)text[i] < ' ' || text[i] == 0x7f)
			return errmsg_inval(why, why_len, "must not contain control characters");
	return k->check ? k->check(text, why, why_len) : 0;
}

static int set_string(const struct config_key *k, struct guarder_config *cfg, const char *text,
		      char *why, size_t why_len)
{
	char **field = field_of(cfg, k);
	char *copy = NULL;
	int err;

	if ((k->flags & KEY_SECRET) && !strcmp(text, REDACTED))
		return errmsg_inval(
			why, why_len,
			"is the placeholder of a redacted dump; give the real secret or a ${VAR}");
	if (!*text && (k->flags & KEY_OPTIONAL)) {
		/* An empty secret is almost always an empty ${VAR}: say so. */
		if (k->flags & KEY_SECRET)
			return errmsg_inval(why, why_len,
					    "is empty (leave the key out, or null, to unset it)");
	} else {
		err = check_string(k, text, why, why_len);
		if (err)
			return err;
		copy = strdup(text);
		if (!copy)
			return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

static int set_namebuf(const struct config_key *k, struct guarder_config *cfg, const char *text,
		       char *why, size_t why_len)
{
	int err = check_string(k, text, why, why_len);

	if (err)
		return err;
	snprintf(field_of(cfg, k), k->aux, "%s", text);
	return 0;
}

/* A comma-separated list; spaces around names are ignored. */
static int set_iflist(const struct config_key *k, struct guarder_config *cfg, const char *text,
		      char *why, size_t why_len)
{
	char names[GUARDER_MAX_IFACES][GUARDER_IFNAME_MAX];
	const char *p = text, *end, *s, *e;
	size_t n = 0, i, len;
	int err;

	while (*p == ' ')
		p++;
	if (*p) {
		for (;;) {
			end = strchr(p, ',');
			if (!end)
				end = p + strlen(p);
			for (s = p; s < end && *s == ' '; s++)
				;
			for (e = end; e > s && e[-1] == ' '; e--)
				;
			len = (size_t)(e - s);
			err = check_ifname(s, len, why, why_len);
			if (err)
				return err;
			if (n == GUARDER_MAX_IFACES)
				return errmsg_inval(why, why_len, "lists more than %d interfaces",
						    GUARDER_MAX_IFACES);
			memcpy(names[n], s, len);
			names[n][len] = '\0';
			for (i = 0; i < n; i++)
				if (!strcmp(names[i], names[n]))
					return errmsg_inval(why, why_len, "lists \"%s\" twice",
							    names[n]);
			n++;
			if (!*end)
				break;
			p = end + 1;
		}
	}
	memcpy(field_of(cfg, k), names, n * sizeof(names[0]));
	memset((char *)field_of(cfg, k) + n * sizeof(names[0]), 0,
	       (GUARDER_MAX_IFACES - n) * sizeof(names[0]));
	*(size_t *)((char *)cfg + k->aux) = n;
	return 0;
}

/* ---- lists of parsed items (CIDRs, ports, origins) ---- */

static int parse_cidr(const char *text, void *slot, char *why, size_t why_len)
{
	/* Host bits set is almost always a typo for another network: refuse it. */
	return net_parse(text, 0, slot, why, why_len);
}

static int parse_port_number(const char *s, size_t n, unsigned short *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5 || (s[0] == '0'))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*out = (unsigned short)v;
	return 0;
}

static int parse_port_range(const char *text, void *slot, char *why, size_t why_len)
{
	struct guarder_port_range *r = slot;
	const char *dash = strchr(text, '-');
	size_t n = dash ? (size_t)(dash - text) : strlen(text);

	if (parse_port_number(text, n, &r->first) ||
	    parse_port_number(dash ? dash + 1 : text, dash ? strlen(dash + 1) : n, &r->last))
		return errmsg_inval(why, why_len,
				    "\"%s\" is not a port 1..65535 or a range N-M of them", text);
	if (r->first > r->last)
		return errmsg_inval(why, why_len,
				    "\"%s\": the range's first port is above its last", text);
	return 0;
}

/* "http(s)://host[:port]" exactly as a browser sends it in Origin. */
static int parse_origin(const char *text, void *slot, char *why, size_t why_len)
{
	const char *host, *p;
	size_t n = strlen(text);

	if (n >= GUARDER_ORIGIN_MAX)
		return errmsg_inval(why, why_len, "an origin is longer than %d bytes",
				    GUARDER_ORIGIN_MAX - 1);
	if (!strncmp(text, "http://", 7))
		host = text + 7;
	else if (!strncmp(text, "https://", 8))
		host = text + 8;
	else
		return errmsg_inval(why, why_len,
				    "\"%s\" is not an origin (http://host[:port] or https://...)",
				    text);
	if (!*host || *host == ':')
		return errmsg_inval(why, why_len, "\"%s\" has no host", text);
	for (p = host; *p; p++) {
		if (*p == '*')
			return errmsg_inval(why, why_len,
					    "\"%s\": wildcards are not allowed; list each origin",
					    text);
		if (*p >= 'A' && *p <= 'Z')
			return errmsg_inval(why, why_len,
					    "\"%s\" must be lowercase, as browsers send it", text);
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '-' || *p == ':' || *p == '[' || *p == ']'))
			return errmsg_inval(why, why_len,
					    "\"%s\" is not an origin (no path, no trailing /)",
					    text);
	}
	memset(slot, 0, GUARDER_ORIGIN_MAX);
	memcpy(slot, text, n);
	return 0;
}

typedef int (*parse_item_fn)(const char *text, void *slot, char *why, size_t why_len);

static parse_item_fn list_parser(const struct config_key *k, size_t *item_size)
{
	switch (k->type) {
	case KT_CIDRLIST:
		*item_size = sizeof(struct net_prefix);
		return parse_cidr;
	case KT_PORTLIST:
		*item_size = sizeof(struct guarder_port_range);
		return parse_port_range;
	case KT_ORIGINLIST:
		*item_size = GUARDER_ORIGIN_MAX;
		return parse_origin;
	default:
		*item_size = 0;
		return NULL;
	}
}

static bool type_is_list(enum key_type t)
{
	return t == KT_IFLIST || t == KT_CIDRLIST || t == KT_PORTLIST || t == KT_ORIGINLIST;
}

/*
 * A comma-separated list (also what a YAML list is joined into); spaces
 * around items are ignored. Items are parsed into a zeroed scratch array,
 * so duplicates compare with memcmp, then copied over the field at once.
 */
static int set_list(const struct config_key *k, struct guarder_config *cfg, const char *text,
		    char *why, size_t why_len)
{
	size_t size, n = 0, i, len;
	parse_item_fn parse = list_parser(k, &size);
	const char *p = text, *end, *s, *e;
	char *items, item[CONFIG_MAX_SCALAR + 1];
	int err = 0;

	items = calloc(k->max, size);
	if (!items)
		return -ENOMEM;
	while (*p == ' ')
		p++;
	while (*p) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		for (s = p; s < end && *s == ' '; s++)
			;
		for (e = end; e > s && e[-1] == ' '; e--)
			;
		len = (size_t)(e - s);
		if (!len) {
			err = errmsg_inval(why, why_len, "has an empty item");
			goto out;
		}
		if (n == k->max) {
			err = errmsg_inval(why, why_len, "lists more than %lu items", k->max);
			goto out;
		}
		memcpy(item, s, len);
		item[len] = '\0';
		err = parse(item, items + n * size, why, why_len);
		if (err)
			goto out;
		for (i = 0; i < n; i++)
			if (!memcmp(items + i * size, items + n * size, size)) {
				err = errmsg_inval(why, why_len, "lists \"%s\" twice", item);
				goto out;
			}
		n++;
		if (!*end)
			break;
		p = end + 1;
	}
	memcpy(field_of(cfg, k), items, k->max * size);
	*(size_t *)((char *)cfg + k->aux) = n;
out:
	free(items);
	return err;
}

/* A property name as librdkafka spells them. */
static int check_prop_name(const char *name, char *why, size_t why_len)
{
	size_t n = strlen(name), i;

	if (!n || n >= GUARDER_KAFKA_PROP_NAME_MAX)
		return errmsg_inval(why, why_len, "property names are 1 to %d bytes long",
				    GUARDER_KAFKA_PROP_NAME_MAX - 1);
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '.' || name[i] == '_' || name[i] == '-'))
			return errmsg_inval(why, why_len,
					    "\"%s\" is not a property name ([a-z0-9._-])", name);
	return 0;
}

static int check_prop_value(const char *name, const char *value, char *why, size_t why_len)
{
	size_t n = strlen(value), i;

	if (n >= GUARDER_KAFKA_PROP_VAL_MAX)
		return errmsg_inval(why, why_len, "%s: values are at most %d bytes", name,
				    GUARDER_KAFKA_PROP_VAL_MAX - 1);
	for (i = 0; i < n; i++)
		if ((unsigned char)value[i] < ' ' || value[i] == 0x7f)
			return errmsg_inval(why, why_len,
					    "%s: values must not contain control characters", name);
	if (!strcmp(value, REDACTED))
		return errmsg_inval(
			why, why_len,
			"%s: is the placeholder of a redacted dump; give the real value or a "
			"${VAR}",
			name);
	return 0;
}

/* Names whose values are secrets in librdkafka's vocabulary. */
static bool prop_is_secret(const char *name)
{
	return strstr(name, "password") || strstr(name, "secret") || strstr(name, "key");
}

/*
 * "name=value" items separated by newlines (what a YAML mapping is joined
 * into; the value may hold '=' and ','). Parsed into a scratch array and
 * copied over the field at once, so an error leaves the field unchanged.
 */
static int set_propmap(const struct config_key *k, struct guarder_config *cfg, const char *text,
		       char *why, size_t why_len)
{
	struct guarder_kafka_prop *items;
	const char *p = text, *end, *eq;
	size_t n = 0, i, nl, vl;
	int err = 0;

	items = calloc(k->max, sizeof(*items));
	if (!items)
		return -ENOMEM;
	while (*p) {
		end = strchr(p, '\n');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq) {
			err = errmsg_inval(why, why_len, "items must be name=value");
			goto out;
		}
		if (n == k->max) {
			err = errmsg_inval(why, why_len, "has more than %lu properties", k->max);
			goto out;
		}
		nl = (size_t)(eq - p);
		vl = (size_t)(end - eq - 1);
		if (nl >= GUARDER_KAFKA_PROP_NAME_MAX || vl >= GUARDER_KAFKA_PROP_VAL_MAX) {
			err = errmsg_inval(why, why_len, "a property name or value is too long");
			goto out;
		}
		memcpy(items[n].name, p, nl);
		memcpy(items[n].value, eq + 1, vl);
		err = check_prop_name(items[n].name, why, why_len);
		if (!err)
			err = check_prop_value(items[n].name, items[n].value, why, why_len);
		if (err)
			goto out;
		for (i = 0; i < n; i++)
			if (!strcmp(items[i].name, items[n].name)) {
				err = errmsg_inval(why, why_len, "sets %s twice", items[n].name);
				goto out;
			}
		n++;
		if (!*end)
			break;
		p = end + 1;
	}
	memcpy(field_of(cfg, k), items, k->max * sizeof(*items));
	*(size_t *)((char *)cfg + k->aux) = n;
out:
	free(items);
	return err;
}

/* One item of a list key, alone: to name the line of a bad YAML list item. */
static int check_list_item(const struct config_key *k, const char *text, char *why,
			   size_t why_len)
{
	size_t size;
	parse_item_fn parse;
	char *slot;
	int err;

	if (k->type == KT_IFLIST)
		return check_ifname(text, strlen(text), why, why_len);
	parse = list_parser(k, &size);
	if (strchr(text, ','))
		return errmsg_inval(why, why_len, "\"%s\": an item cannot contain a comma", text);
	slot = calloc(1, size);
	if (!slot)
		return -ENOMEM;
	err = parse(text, slot, why, why_len);
	free(slot);
	return err;
}

static int key_set(const struct config_key *k, struct guarder_config *cfg, const char *text,
		   char *why, size_t why_len)
{
	switch (k->type) {
	case KT_UINT:
		return set_uint(k, cfg, text, why, why_len);
	case KT_BOOL:
		return set_bool(k, cfg, text, why, why_len);
	case KT_ENUM:
		return set_enum(k, cfg, text, why, why_len);
	case KT_STRING:
		return set_string(k, cfg, text, why, why_len);
	case KT_NAMEBUF:
		return set_namebuf(k, cfg, text, why, why_len);
	case KT_IFLIST:
		return set_iflist(k, cfg, text, why, why_len);
	case KT_CIDRLIST:
	case KT_PORTLIST:
	case KT_ORIGINLIST:
		return set_list(k, cfg, text, why, why_len);
	case KT_PROPMAP:
		return set_propmap(k, cfg, text, why, why_len);
	}
	return errmsg_inval(why, why_len, "has an unknown type");
}

/* A YAML null (`key:`, `~`, `null`): unset where that means something. */
static int key_set_null(const struct config_key *k, struct guarder_config *cfg, char *why,
			size_t why_len)
{
	if (type_is_list(k->type) || k->type == KT_PROPMAP)
		return key_set(k, cfg, "", why, why_len);
	if (k->type == KT_STRING && (k->flags & KEY_OPTIONAL)) {
		char **field = field_of(cfg, k);

		free(*field);
		*field = NULL;
		return 0;
	}
	return errmsg_inval(why, why_len, "needs a value");
}

/* ---- error reporting ---- */

/*
 * Quote @text back into @out, escaped and cut to GOT_MAX bytes, so one line
 * of error stays one line whatever the value holds.
 */
static void quote_got(const char *text, char *out, size_t out_len)
{
	size_t o = 0, i;

	for (i = 0; text[i] && o + 5 < out_len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (i == GOT_MAX) {
			o += (size_t)snprintf(out + o, out_len - o, "...");
			break;
		}
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, out_len - o, "\\%c", c);
		else if (c < ' ' || c == 0x7f)
			o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* The one error line: "FILE:LINE: KEY: what", or "ORIGIN: KEY: what" (line 0). */
static void report(const char *origin, size_t line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(const char *origin, size_t line, const char *key, const char *fmt, ...)
{
	char where[32] = "", what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(where, sizeof(where), ":%zu", line);
	log_error("%s%s: %s%s%s", origin, where, key ? key : "", key ? ": " : "", what);
}

/*
 * A bad value: the error line ends with (got "TEXT"). A secret is never
 * printed, and neither is what ${VAR} expanded to (@text differs from @raw):
 * a variable put under the wrong key may well hold a secret.
 */
static void report_value(const char *origin, size_t line, const struct config_key *k,
			 const char *raw, const char *text, const char *why)
{
	char quoted[GOT_MAX * 4 + 8];

	if (k->flags & KEY_SECRET) {
		report(origin, line, k->name, "%s (value hidden: secret)", why);
		return;
	}
	quote_got(raw, quoted, sizeof(quoted));
	if (text && strcmp(raw, text))
		report(origin, line, k->name, "%s (got \"%s\"; the expanded value is not shown)", why,
		       quoted);
	else
		report(origin, line, k->name, "%s (got \"%s\")", why, quoted);
}

/* ---- ${VAR} expansion ---- */

/*
 * Expand ${NAME} from the environment and $$ to $; any other $ stays as it
 * is. The result is not scanned again, so a variable's value is taken
 * literally. Returns 0, -EINVAL with @why filled, or -ENOMEM.
 */
static int expand_env(const char *in, char **out, char *why, size_t why_len)
{
	size_t cap = CONFIG_MAX_SCALAR + 1, o = 0;
	const char *p = in;
	char *buf;

	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	while (*p) {
		const char *add = p;
		size_t add_len = 1;

		if (p[0] == '$' && p[1] == '$') {
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *name = p + 2, *end = name;
			char var[256];

			while ((*end >= 'A' && *end <= 'Z') || (*end >= 'a' && *end <= 'z') ||
			       (*end >= '0' && *end <= '9' && end > name) || *end == '_')
				end++;
			if (*end != '}' || end == name || (size_t)(end - name) >= sizeof(var)) {
				free(buf);
				return errmsg_inval(
					why, why_len,
					"has a bad ${NAME} reference (write $$ for a literal $)");
			}
			memcpy(var, name, (size_t)(end - name));
			var[end - name] = '\0';
			add = getenv(var);
			if (!add) {
				free(buf);
				return errmsg_inval(why, why_len,
						    "environment variable %s is not set", var);
			}
			add_len = strlen(add);
			p = end + 1;
		} else {
			p++;
		}
		if (o + add_len > CONFIG_MAX_SCALAR) {
			free(buf);
			return errmsg_inval(why, why_len, "is longer than %d bytes after expansion",
					    CONFIG_MAX_SCALAR);
		}
		memcpy(buf + o, add, add_len);
		o += add_len;
	}
	buf[o] = '\0';
	*out = buf;
	return 0;
}

/* ---- copying and freeing ---- */

static void config_strings_clear(struct guarder_config *cfg)
{
	size_t i;

	cfg->source = NULL;
	for (i = 0; i < ARRAY_SIZE(config_keys); i++)
		if (config_keys[i].type == KT_STRING)
			*(char **)field_of(cfg, &config_keys[i]) = NULL;
}

void config_free(struct guarder_config *cfg)
{
	size_t i;

	free(cfg->source);
	for (i = 0; i < ARRAY_SIZE(config_keys); i++)
		if (config_keys[i].type == KT_STRING)
			free(*(char **)field_of(cfg, &config_keys[i]));
	config_strings_clear(cfg);
}

/* Deep copy: @dst owns its own strings. On -ENOMEM @dst holds nothing. */
static int config_copy(struct guarder_config *dst, const struct guarder_config *src)
{
	size_t i;

	memcpy(dst, src, sizeof(*dst));
	config_strings_clear(dst);
	if (src->source && !(dst->source = strdup(src->source)))
		goto nomem;
	for (i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];
		const char *s;
		char **d;

		if (k->type != KT_STRING)
			continue;
		s = *(char *const *)cfield_of(src, k);
		d = field_of(dst, k);
		if (s && !(*d = strdup(s)))
			goto nomem;
	}
	return 0;
nomem:
	config_free(dst);
	return -ENOMEM;
}

/* ---- defaults ---- */

static void default_hostname(char *buf, size_t len)
{
	char host[256] = "";
	char why[128];

	/* Hostnames are [A-Za-z0-9.-]; anything odd falls back to a fixed name. */
	if (gethostname(host, sizeof(host) - 1) || !host[0] || strlen(host) >= len ||
	    check_node_name(host, why, sizeof(why)))
		snprintf(host, sizeof(host), "localhost");
	snprintf(buf, len, "%s", host);
}

int config_init(struct guarder_config *cfg)
{
	char why[256];
	size_t i;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	cfg->source = strdup("<defaults>");
	if (!cfg->source)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (k->flags & KEY_DEFAULT_HOSTNAME) {
			default_hostname(field_of(cfg, k), k->aux);
			continue;
		}
		if (!k->def)
			continue; /* unset: NULL from the memset */
		/* Defaults go through the same validation as the file. */
		err = key_set(k, cfg, k->def, why, sizeof(why));
		if (err) {
			if (err == -EINVAL)
				report_value("<defaults>", 0, k, k->def, NULL, why);
			config_free(cfg);
			return err;
		}
	}
	return 0;
}

/* ---- the YAML file ---- */

struct seen_key {
	char *path;
	size_t line;
};

struct loader {
	const char *file;
	const char *text; /* the file's bytes, for reader error lines */
	yaml_parser_t parser;
	struct guarder_config *cfg;
	struct seen_key *seen;
	size_t n_seen;
};

static size_t event_line(const yaml_event_t *ev)
{
	return ev->start_mark.line + 1;
}

static int next_event(struct loader *l, yaml_event_t *ev)
{
	const char *anchor = NULL, *tag = NULL;

	if (!yaml_parser_parse(&l->parser, ev)) {
		const yaml_parser_t *p = &l->parser;
		size_t line = p->problem_mark.line + 1, i;
		char started[48] = "";

		if (p->error == YAML_MEMORY_ERROR) {
			report(l->file, 0, NULL, "out of memory");
			return -ENOMEM;
		}
		if (p->error == YAML_READER_ERROR) {
			/* reader errors carry a byte offset, not a mark */
			line = 1;
			for (i = 0; i < p->problem_offset && l->text[i]; i++)
				line += l->text[i] == '\n';
		}
		if (p->context && p->context_mark.line + 1 != line)
			snprintf(started, sizeof(started), " started on line %zu",
				 p->context_mark.line + 1);
		report(l->file, line, NULL, "YAML syntax error: %s%s%s%s",
		       p->problem ? p->problem : "unknown", p->context ? " " : "",
		       p->context ? p->context : "", started);
		return -EINVAL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		anchor = "";
		break;
	case YAML_SCALAR_EVENT:
		anchor = (const char *)ev->data.scalar.anchor;
		tag = (const char *)ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = (const char *)ev->data.sequence_start.anchor;
		tag = (const char *)ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = (const char *)ev->data.mapping_start.anchor;
		tag = (const char *)ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	/* Keys are typed by the table; anchors and tags would only blur that. */
	if (anchor || tag) {
		report(l->file, event_line(ev), NULL, "YAML %s are not supported here",
		       anchor ? "anchors and aliases" : "tags");
		yaml_event_delete(ev);
		return -EINVAL;
	}
	return 0;
}

static const char *raw_of(const yaml_event_t *ev)
{
	return (const char *)ev->data.scalar.value;
}

static bool scalar_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *event_kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	default:
		return "a single value";
	}
}

/* Scalar text: bounded, no NUL inside, then ${VAR}-expanded into @out. */
static int scalar_text(struct loader *l, const yaml_event_t *ev, const char *key,
		       const struct config_key *k, char **out)
{
	const char *raw = (const char *)ev->data.scalar.value;
	char why[256];
	int err;

	if (ev->data.scalar.length > CONFIG_MAX_SCALAR) {
		report(l->file, event_line(ev), key, "value is longer than %d bytes",
		       CONFIG_MAX_SCALAR);
		return -EINVAL;
	}
	if (strlen(raw) != ev->data.scalar.length) {
		report(l->file, event_line(ev), key, "value contains a NUL byte");
		return -EINVAL;
	}
	err = expand_env(raw, out, why, sizeof(why));
	if (err == -EINVAL)
		report_value(l->file, event_line(ev), k, raw, NULL, why);
	return err;
}

static int apply_scalar(struct loader *l, const struct config_key *k, const yaml_event_t *ev)
{
	char why[256], *text = NULL;
	int err;

	if (scalar_is_null(ev)) {
		err = key_set_null(k, l->cfg, why, sizeof(why));
		if (err == -EINVAL)
			report(l->file, event_line(ev), k->name, "%s", why);
		return err;
	}
	err = scalar_text(l, ev, k->name, k, &text);
	if (err)
		return err;
	err = key_set(k, l->cfg, text, why, sizeof(why));
	if (err == -EINVAL)
		report_value(l->file, event_line(ev), k, raw_of(ev), text, why);
	free(text);
	return err;
}

/* A YAML list: items checked one by one (to name their line), then stored as one. */
static int apply_sequence(struct loader *l, const struct config_key *k, const yaml_event_t *start)
{
	size_t len = 0, n = 0, cap = k->type == KT_IFLIST ? GUARDER_MAX_IFACES : k->max;
	char why[256], *joined, *text = NULL, *grown;
	yaml_event_t ev;
	int err;

	joined = malloc(1);
	if (!joined)
		return -ENOMEM;
	joined[0] = '\0';
	for (;;) {
		err = next_event(l, &ev);
		if (err)
			goto out;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type != YAML_SCALAR_EVENT || scalar_is_null(&ev)) {
			report(l->file, event_line(&ev), k->name,
			       "list items must be %s, not %s",
			       k->type == KT_IFLIST ? "interface names" : "single values",
			       ev.type == YAML_SCALAR_EVENT ? "null" : event_kind(&ev));
			err = -EINVAL;
			goto out_event;
		}
		err = scalar_text(l, &ev, k->name, k, &text);
		if (err)
			goto out_event;
		err = check_list_item(k, text, why, sizeof(why));
		if (!err && ++n > cap)
			err = k->type == KT_IFLIST ? errmsg_inval(why, sizeof(why),
								  "lists more than %d interfaces",
								  GUARDER_MAX_IFACES) :
						     errmsg_inval(why, sizeof(why),
								  "lists more than %zu items", cap);
		if (err == -EINVAL)
			report_value(l->file, event_line(&ev), k, raw_of(&ev), text, why);
		if (err)
			goto out_event;
		grown = realloc(joined, len + strlen(text) + 2);
		if (!grown) {
			err = -ENOMEM;
			goto out_event;
		}
		joined = grown;
		len += (size_t)sprintf(joined + len, "%s%s", len ? "," : "", text);
		free(text);
		text = NULL;
		yaml_event_delete(&ev);
	}
	err = key_set(k, l->cfg, joined, why, sizeof(why));
	if (err == -EINVAL)
		report(l->file, event_line(start), k->name, "%s", why);
	goto out;
out_event:
	yaml_event_delete(&ev);
out:
	free(text);
	free(joined);
	return err;
}

/* Whether the "name=value\n..." text @joined already sets @name. */
static bool prop_listed(const char *joined, const char *name)
{
	size_t n = strlen(name);
	const char *p = joined;

	while (*p) {
		if (!strncmp(p, name, n) && p[n] == '=')
			return true;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return false;
}

/*
 * A YAML mapping of librdkafka properties: names may hold dots, so this is
 * not a section. Each pair is checked on its own line, then all are set at once.
 */
static int apply_propmap(struct loader *l, const struct config_key *k, const yaml_event_t *start)
{
	char why[256], *joined, *name = NULL, *value = NULL, *grown;
	size_t len = 0, n = 0, line;
	yaml_event_t ev;
	int err;

	joined = calloc(1, 1);
	if (!joined)
		return -ENOMEM;
	for (;;) {
		err = next_event(l, &ev);
		if (err)
			goto out;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		line = event_line(&ev);
		if (ev.type != YAML_SCALAR_EVENT || strlen(raw_of(&ev)) != ev.data.scalar.length) {
			report(l->file, line, k->name, "property names must be single values");
			err = -EINVAL;
			goto out_event;
		}
		name = strdup(raw_of(&ev));
		yaml_event_delete(&ev);
		if (!name) {
			err = -ENOMEM;
			goto out;
		}
		err = check_prop_name(name, why, sizeof(why));
		if (!err && prop_listed(joined, name))
			err = errmsg_inval(why, sizeof(why), "sets %s twice", name);
		if (!err && ++n > k->max)
			err = errmsg_inval(why, sizeof(why), "has more than %lu properties",
					   k->max);
		if (err) {
			report(l->file, line, k->name, "%s", why);
			goto out;
		}
		err = next_event(l, &ev);
		if (err)
			goto out;
		if (ev.type != YAML_SCALAR_EVENT || scalar_is_null(&ev)) {
			report(l->file, event_line(&ev), k->name, "%s: expected a value, got %s", name,
			       ev.type == YAML_SCALAR_EVENT ? "null" : event_kind(&ev));
			err = -EINVAL;
			goto out_event;
		}
		err = scalar_text(l, &ev, k->name, k, &value);
		if (err)
			goto out_event;
		err = check_prop_value(name, value, why, sizeof(why));
		if (err) {
			/* never quote the value back: it may be a secret */
			report(l->file, event_line(&ev), k->name, "%s", why);
			goto out_event;
		}
		yaml_event_delete(&ev);
		grown = realloc(joined, len + strlen(name) + strlen(value) + 3);
		if (!grown) {
			err = -ENOMEM;
			goto out;
		}
		joined = grown;
		len += (size_t)sprintf(joined + len, "%s%s=%s", len ? "\n" : "", name, value);
		free(name);
		free(value);
		name = value = NULL;
	}
	err = key_set(k, l->cfg, joined, why, sizeof(why));
	if (err == -EINVAL)
		report(l->file, event_line(start), k->name, "%s", why);
	goto out;
out_event:
	yaml_event_delete(&ev);
out:
	free(name);
	free(value);
	free(joined);
	return err;
}

/* "unknown key" with the keys that section does know, to spot the typo. */
static void report_unknown(struct loader *l, size_t line, const char *path, const char *prefix)
{
	size_t plen = prefix ? strlen(prefix) : 0, i, o = 0, last_n = 0;
	const char *last = NULL;
	char known[512] = "";

	for (i = 0; i < ARRAY_SIZE(config_keys) && o < sizeof(known) - 1; i++) {
		const char *name = config_keys[i].name, *rest, *dot;
		size_t n;

		if (plen && (strncmp(name, prefix, plen) || name[plen] != '.'))
			continue;
		rest = plen ? name + plen + 1 : name;
		dot = strchr(rest, '.');
		n = dot ? (size_t)(dot - rest) : strlen(rest);
		/* the table is grouped by section: a section repeats only in a row */
		if (last && n == last_n && !strncmp(rest, last, n))
			continue;
		last = rest;
		last_n = n;
		o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%.*s", o ? ", " : "", (int)n,
				      rest);
	}
	report(l->file, line, path, "unknown key (%s: %s)",
	       plen ? "this section has" : "sections are", known);
}

static int parse_mapping(struct loader *l, const char *prefix);

/* The value of @path, which the table says is a section or a key. */
static int parse_value(struct loader *l, const char *path, const char *prefix, size_t key_line)
{
	const struct config_key *k = key_find(path);
	yaml_event_t ev;
	int err;

	if (!k && !key_is_section(path)) {
		report_unknown(l, key_line, path, prefix);
		return -EINVAL;
	}
	err = next_event(l, &ev);
	if (err)
		return err;
	if (!k) {
		if (ev.type == YAML_MAPPING_START_EVENT)
			err = parse_mapping(l, path);
		else if (ev.type == YAML_SCALAR_EVENT && scalar_is_null(&ev))
			err = 0; /* a section whose keys are all commented out */
		else {
			report(l->file, event_line(&ev), path,
			       "is a section: expected a mapping of keys, got %s", event_kind(&ev));
			err = -EINVAL;
		}
	} else if (ev.type == YAML_SCALAR_EVENT) {
		err = apply_scalar(l, k, &ev);
	} else if (ev.type == YAML_SEQUENCE_START_EVENT && type_is_list(k->type)) {
		err = apply_sequence(l, k, &ev);
	} else if (ev.type == YAML_MAPPING_START_EVENT && k->type == KT_PROPMAP) {
		err = apply_propmap(l, k, &ev);
	} else {
		report(l->file, event_line(&ev), path, "expected a single value, got %s",
		       event_kind(&ev));
		err = -EINVAL;
	}
	yaml_event_delete(&ev);
	return err;
}

static int seen_add(struct loader *l, const char *path, size_t line)
{
	struct seen_key *s;
	size_t i;

	for (i = 0; i < l->n_seen; i++) {
		if (!strcmp(l->seen[i].path, path)) {
			report(l->file, line, path, "duplicate key (first on line %zu)",
			       l->seen[i].line);
			return -EINVAL;
		}
	}
	s = realloc(l->seen, (l->n_seen + 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	l->seen = s;
	s[l->n_seen].path = strdup(path);
	if (!s[l->n_seen].path)
		return -ENOMEM;
	s[l->n_seen++].line = line;
	return 0;
}

/* A mapping whose MAPPING_START was consumed; @prefix is NULL at the top. */
static int parse_mapping(struct loader *l, const char *prefix)
{
	char *path = NULL;
	yaml_event_t ev;
	size_t line;
	int err;

	for (;;) {
		const char *key;

		err = next_event(l, &ev);
		if (err)
			return err;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		line = event_line(&ev);
		if (ev.type != YAML_SCALAR_EVENT) {
			report(l->file, line, prefix, "keys must be names, not %s",
			       event_kind(&ev));
			err = -EINVAL;
			break;
		}
		key = (const char *)ev.data.scalar.value;
		/* "bpf.pin_path:" at the top would alias the nested key: refuse it */
		if (!*key || strchr(key, '.') || strlen(key) != ev.data.scalar.length ||
		    ev.data.scalar.length > 64) {
			char shown[GOT_MAX * 4 + 8];

			quote_got(key, shown, sizeof(shown));
			report(l->file, line, prefix ? prefix : "(top)",
			       "\"%s\" is not a key name (nest sections instead of writing a.b)",
			       shown);
			err = -EINVAL;
			break;
		}
		if (asprintf(&path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", key) < 0) {
			path = NULL;
			err = -ENOMEM;
			break;
		}
		yaml_event_delete(&ev);
		err = seen_add(l, path, line);
		if (!err)
			err = parse_value(l, path, prefix, line);
		free(path);
		path = NULL;
		if (err)
			return err;
	}
	yaml_event_delete(&ev);
	return err;
}

static int parse_stream(struct loader *l)
{
	yaml_event_t ev;
	int err;

	err = next_event(l, &ev); /* STREAM_START */
	if (err)
		return err;
	yaml_event_delete(&ev);
	err = next_event(l, &ev);
	if (err)
		return err;
	if (ev.type == YAML_STREAM_END_EVENT) {
		/* empty file, or only comments: every key at its default */
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev); /* DOCUMENT_START */
	err = next_event(l, &ev);
	if (err)
		return err;
	if (ev.type == YAML_MAPPING_START_EVENT) {
		yaml_event_delete(&ev);
		err = parse_mapping(l, NULL);
		if (err)
			return err;
	} else if (ev.type == YAML_SCALAR_EVENT && scalar_is_null(&ev)) {
		yaml_event_delete(&ev);
	} else {
		report(l->file, event_line(&ev), NULL,
		       "the file must be a mapping of sections (node:, bpf:, ...), not %s",
		       event_kind(&ev));
		yaml_event_delete(&ev);
		return -EINVAL;
	}
	err = next_event(l, &ev); /* DOCUMENT_END */
	if (err)
		return err;
	yaml_event_delete(&ev);
	err = next_event(l, &ev);
	if (err)
		return err;
	if (ev.type != YAML_STREAM_END_EVENT) {
		report(l->file, event_line(&ev), NULL,
		       "only one YAML document is allowed");
		err = -EINVAL;
	}
	yaml_event_delete(&ev);
	return err;
}

/* Read all of @path, refusing what is not a regular file or is too big. */
static int read_file(const char *path, char **text, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	char *buf;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		report(path, 0, NULL, "cannot open: %s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		report(path, 0, NULL, "cannot stat: %s", strerror(-err));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		report(path, 0, NULL, "not a regular file");
		err = -EINVAL;
		goto out_close;
	}
	buf = malloc(CONFIG_MAX_FILE + 2);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	/* Read one byte past the limit so a file that grew is caught too. */
	while (got <= CONFIG_MAX_FILE) {
		n = read(fd, buf + got, CONFIG_MAX_FILE + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			report(path, 0, NULL, "cannot read: %s", strerror(-err));
			free(buf);
			goto out_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > CONFIG_MAX_FILE) {
		report(path, 0, NULL, "larger than %d bytes", CONFIG_MAX_FILE);
		free(buf);
		err = -EFBIG;
		goto out_close;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	err = 0;
out_close:
	close(fd);
	return err;
}

int config_open(struct guarder_config *cfg, const char *path)
{
	int err = config_init(cfg);

	if (err) {
		log_error("cannot initialise the config: %s", strerror(-err));
		return err;
	}
	if (!path && access(GUARDER_CONFIG_DEFAULT_PATH, F_OK) == 0)
		path = GUARDER_CONFIG_DEFAULT_PATH;
	if (!path) {
		log_info("config: no %s, using the built-in defaults", GUARDER_CONFIG_DEFAULT_PATH);
		return 0;
	}
	err = config_load(cfg, path);
	if (err) {
		config_free(cfg);
		return err;
	}
	log_info("config: %s", path);
	return 0;
}

int config_load(struct guarder_config *cfg, const char *path)
{
	struct guarder_config next;
	struct loader l = { .file = path };
	char *text = NULL, *source;
	size_t len = 0, i;
	int err;

	err = read_file(path, &text, &len);
	if (err)
		return err;
	source = strdup(path);
	err = source ? config_copy(&next, cfg) : -ENOMEM;
	if (err) {
		free(source);
		free(text);
		return err;
	}
	free(next.source);
	next.source = source;
	l.text = text;
	l.cfg = &next;
	if (!yaml_parser_initialize(&l.parser)) {
		err = -ENOMEM;
	} else {
		yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, len);
		err = parse_stream(&l);
		yaml_parser_delete(&l.parser);
	}
	if (err == -ENOMEM)
		report(path, 0, NULL, "out of memory");
	for (i = 0; i < l.n_seen; i++)
		free(l.seen[i].path);
	free(l.seen);
	free(text);
	if (err) {
		config_free(&next);
		return err;
	}
	config_free(cfg);
	*cfg = next;
	return 0;
}

int config_set(struct guarder_config *cfg, const char *key, const char *value, const char *origin)
{
	const struct config_key *k = key_find(key);
	char why[256];
	int err;

	if (!origin)
		origin = key;
	if (!k) {
		report(origin, 0, key, "unknown key");
		return -EINVAL;
	}
	if (!value) {
		report(origin, 0, key, "needs a value");
		return -EINVAL;
	}
	if (strlen(value) > CONFIG_MAX_SCALAR) {
		report(origin, 0, key, "value is longer than %d bytes", CONFIG_MAX_SCALAR);
		return -EINVAL;
	}
	err = key_set(k, cfg, value, why, sizeof(why));
	if (err == -EINVAL)
		report_value(origin, 0, k, value, NULL, why);
	return err;
}

/* ---- dump ---- */

/* A double-quoted YAML string that reads back as @s, with $ doubled. */
static void dump_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '$')
			fputs("$$", out);
		else if (c < ' ' || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void dump_value(FILE *out, const struct guarder_config *cfg, const struct config_key *k)
{
	const void *f = cfield_of(cfg, k);
	size_t i, n;

	switch (k->type) {
	case KT_UINT:
		fprintf(out, "%u", *(const unsigned int *)f);
		break;
	case KT_BOOL:
		fputs(*(const bool *)f ? "true" : "false", out);
		break;
	case KT_ENUM:
		fputs(k->names[*(const int *)f], out);
		break;
	case KT_NAMEBUF:
		dump_quoted(out, f);
		break;
	case KT_STRING:
		if (!*(char *const *)f)
			fputs("null # unset", out);
		else if (k->flags & KEY_SECRET)
			fputs("\"" REDACTED "\"", out);
		else
			dump_quoted(out, *(char *const *)f);
		break;
	case KT_IFLIST:
		n = *(const size_t *)((const char *)cfg + k->aux);
		fputc('[', out);
		for (i = 0; i < n; i++) {
			if (i)
				fputs(", ", out);
			dump_quoted(out, (const char *)f + i * GUARDER_IFNAME_MAX);
		}
		fputc(']', out);
		break;
	case KT_CIDRLIST:
	case KT_PORTLIST:
	case KT_ORIGINLIST:
		n = *(const size_t *)((const char *)cfg + k->aux);
		fputc('[', out);
		for (i = 0; i < n; i++) {
			char buf[GUARDER_ORIGIN_MAX + 8];

			if (k->type == KT_CIDRLIST) {
				net_format((const struct net_prefix *)f + i, NET_FMT_PREFIX, buf,
					   sizeof(buf));
			} else if (k->type == KT_PORTLIST) {
				const struct guarder_port_range *r =
					(const struct guarder_port_range *)f + i;

				if (r->first == r->last)
					snprintf(buf, sizeof(buf), "%u", r->first);
				else
					snprintf(buf, sizeof(buf), "%u-%u", r->first, r->last);
			} else {
				snprintf(buf, sizeof(buf), "%s", (const char *)f + i * GUARDER_ORIGIN_MAX);
			}
			fputs(i ? ", " : "", out);
			dump_quoted(out, buf);
		}
		fputc(']', out);
		break;
	case KT_PROPMAP: {
		const struct guarder_kafka_prop *pr = f;

		n = *(const size_t *)((const char *)cfg + k->aux);
		fputc('{', out);
		for (i = 0; i < n; i++) {
			fputs(i ? ", " : "", out);
			dump_quoted(out, pr[i].name);
			fputs(": ", out);
			if (prop_is_secret(pr[i].name))
				fputs("\"" REDACTED "\"", out);
			else
				dump_quoted(out, pr[i].value);
		}
		fputc('}', out);
		break;
	}
	}
}

void config_dump(const struct guarder_config *cfg, FILE *out)
{
	const char *prev = "";
	size_t i;

	fputs("# Effective Guarder configuration, from ", out);
	dump_quoted(out, cfg->source ? cfg->source : "<defaults>");
	fputs("\n", out);
	for (i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const char *name = config_keys[i].name, *a = name, *b = prev, *seg;
		int depth = 0;

		/* Skip the sections shared with the previous key... */
		for (;;) {
			const char *da = strchr(a, '.'), *db = strchr(b, '.');

			if (!da || !db || da - a != db - b || strncmp(a, b, (size_t)(da - a)))
				break;
			a = da + 1;
			b = db + 1;
			depth++;
		}
		/* ...then open the new ones, then write the key. */
		for (seg = a;; depth++) {
			const char *dot = strchr(seg, '.');

			fprintf(out, "%*s%.*s:", depth * 2, "", dot ? (int)(dot - seg) : (int)strlen(seg),
				seg);
			if (!dot)
				break;
			fputc('\n', out);
			seg = dot + 1;
		}
		fputc(' ', out);
		dump_value(out, cfg, &config_keys[i]);
		fputc('\n', out);
		prev = name;
	}
}

const char *config_xdp_mode_name(enum guarder_xdp_mode mode)
{
	return config_enum_name("collector.xdp_mode", (int)mode);
}

const char *config_enum_name(const char *key, int value)
{
	const struct config_key *k = key_find(key);
	int i;

	if (!k || k->type != KT_ENUM)
		return "unknown";
	for (i = 0; k->names[i]; i++)
		if (i == value)
			return k->names[i];
	return "unknown";
}

int config_enum_parse(const char *key, const char *word, int *out)
{
	const struct config_key *k = key_find(key);
	int i;

	if (!k || k->type != KT_ENUM)
		return -EINVAL;
	for (i = 0; k->names[i]; i++) {
		if (!strcmp(k->names[i], word)) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- the key reference for docs/config.md ---- */

static const char *type_name(const struct config_key *k)
{
	switch (k->type) {
	case KT_UINT:
		return "integer";
	case KT_BOOL:
		return "boolean";
	case KT_ENUM:
		return "word";
	case KT_STRING:
		return k->flags & KEY_SECRET ? "string, secret" : "string";
	case KT_NAMEBUF:
		return "string";
	case KT_IFLIST:
		return "list of names";
	case KT_CIDRLIST:
		return "list of networks";
	case KT_PORTLIST:
		return "list of ports";
	case KT_ORIGINLIST:
		return "list of origins";
	case KT_PROPMAP:
		return "mapping";
	}
	return "?";
}

void config_print_keys(FILE *out)
{
	size_t i, j;

	fputs("| key | type | default | limits | meaning |\n", out);
	fputs("|---|---|---|---|---|\n", out);
	for (i = 0; i < ARRAY_SIZE(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		fprintf(out, "| `%s` | %s | ", k->name, type_name(k));
		if (k->flags & KEY_DEFAULT_HOSTNAME)
			fputs("the host name", out);
		else if (!k->def)
			fputs("unset", out);
		else if (!*k->def)
			fputs("empty", out);
		else
			fprintf(out, "`%s`", k->def);
		fputs(" | ", out);
		if (k->limits) {
			fputs(k->limits, out);
		} else if (k->type == KT_UINT) {
			fprintf(out, "%lu..%lu%s", k->min, k->max,
				k->flags & KEY_POW2 ? ", a power of two" : "");
		} else if (k->type == KT_ENUM) {
			for (j = 0; k->names[j]; j++)
				fprintf(out, "%s`%s`", j ? ", " : "", k->names[j]);
		} else if (k->type == KT_BOOL) {
			fputs("`true` or `false`", out);
		}
		fprintf(out, " | %s |\n", k->doc);
	}
}

size_t config_key_count(void)
{
	return ARRAY_SIZE(config_keys);
}

const char *config_key_name(size_t i)
{
	return i < ARRAY_SIZE(config_keys) ? config_keys[i].name : NULL;
}
