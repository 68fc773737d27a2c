/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Guarder configuration: one YAML file read by every process. Each
 * key, its default and its limits are documented in docs/config.md; the
 * table in config.c is the single source of truth for both.
 */
#ifndef GUARDER_CONFIG_H
#define GUARDER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "net.h"

#define GUARDER_CONFIG_DEFAULT_PATH "/etc/guarder/guarder.yaml"
#define GUARDER_MAX_IFACES	    64
#define GUARDER_IFNAME_MAX	    16 /* IFNAMSIZ */
#define GUARDER_NODE_NAME_MAX	    64
#define GUARDER_MAX_PROTECTED	    64  /* entries of each rules.protected_* list */
#define GUARDER_MAX_CORS_ORIGINS    16
#define GUARDER_ORIGIN_MAX	    256 /* bytes of one origin, with its NUL */
#define GUARDER_MAX_RULES_LIMIT	    65535 /* the highest rules.max_rules */
#define GUARDER_MAX_KAFKA_PROPS	    64	 /* entries of kafka.properties */
#define GUARDER_KAFKA_PROP_NAME_MAX 128	 /* bytes of one property name, with its NUL */
#define GUARDER_KAFKA_PROP_VAL_MAX  4096 /* bytes of one property value, with its NUL */

enum guarder_kafka_acks {
	GUARDER_ACKS_ALL = 0, /* "all": every in-sync replica (librdkafka acks=-1) */
	GUARDER_ACKS_LEADER,  /* "leader": acks=1 */
	GUARDER_ACKS_NONE,    /* "none": acks=0, no delivery report means nothing */
};

enum guarder_kafka_compression {
	GUARDER_COMP_NONE = 0,
	GUARDER_COMP_GZIP,
	GUARDER_COMP_SNAPPY,
	GUARDER_COMP_LZ4,
	GUARDER_COMP_ZSTD,
};

enum guarder_kafka_security {
	GUARDER_SEC_PLAINTEXT = 0,
	GUARDER_SEC_SSL,
	GUARDER_SEC_SASL_PLAINTEXT,
	GUARDER_SEC_SASL_SSL,
};

enum guarder_kafka_sasl {
	GUARDER_SASL_PLAIN = 0,
	GUARDER_SASL_SCRAM_SHA_256,
	GUARDER_SASL_SCRAM_SHA_512,
};

enum guarder_ai_provider {
	GUARDER_AI_OPENAI = 0, /* Authorization: Bearer; also DeepSeek, vLLM, LocalAI */
	GUARDER_AI_AZURE,      /* api-key header, ?api-version= */
	GUARDER_AI_OLLAMA,     /* OpenAI-compatible /v1 of Ollama; key optional */
};

/* One librdkafka property passed through as is (kafka.properties). */
struct guarder_kafka_prop {
	char name[GUARDER_KAFKA_PROP_NAME_MAX];
	char value[GUARDER_KAFKA_PROP_VAL_MAX];
};

enum guarder_xdp_mode {
	GUARDER_XDP_AUTO = 0,
	GUARDER_XDP_NATIVE,
	GUARDER_XDP_GENERIC,
};

/* filter.unparsed: what the filter does with a packet it cannot read whole. */
enum guarder_unparsed {
	GUARDER_UNPARSED_DROP = 0, /* default: while rules are loaded */
	GUARDER_UNPARSED_PASS,
};

/* An inclusive port range from the config; a single port has first == last. */
struct guarder_port_range {
	unsigned short first, last; /* 1..65535, first <= last */
};

struct guarder_config {
	char *source; /* file the config came from, or "<defaults>" */

	/* node: shared by every process */
	char node_name[GUARDER_NODE_NAME_MAX]; /* default: hostname */

	/* bpf: the kernel program's maps */
	struct {
		char *pin_path;		  /* default /sys/fs/bpf/guarder */
		unsigned int flow_table_size; /* entries; default 1048576 */
		unsigned int icmp_table_size; /* entries; default 65536 */
		unsigned int ringbuf_size;    /* bytes, power of two; default 8 MiB */
		unsigned int frag_table_size; /* first fragments kept; default 16384 */
		unsigned int drop_table_size; /* drop aggregates per CPU per interval; 8192 */
	} bpf;

	/* collector */
	struct {
		char ifaces[GUARDER_MAX_IFACES][GUARDER_IFNAME_MAX];
		size_t n_ifaces;
		enum guarder_xdp_mode xdp_mode; /* default auto */
		bool egress;			/* also track egress with tc; default true */
		unsigned int interval;		/* console summary, seconds; default 10 */
		unsigned int idle_timeout;	/* seconds; default 60 */
		unsigned int active_timeout;	/* seconds; default 300 */
		unsigned int close_linger;	/* seconds after FIN/RST; default 2 */
		unsigned int sweep_interval;	/* seconds between table scans; default 1 */
		unsigned int export_interval;	/* seconds between interval records; default 5 */
		unsigned int top_flows;		/* flows in the console summary; default 10 */
		unsigned int max_flows;		/* user-space flow view bound; default 1048576 */
		bool console;			/* print the summary; default true */
		char *record_file;		/* JSON lines of every record; "-" = stdout; NULL = off (default) */
		char *stats_file; /* collector counters as JSON, rewritten every interval;
				     default /run/guarder/collector-stats.json; NULL = off */
	} collector;

	/* rules: the filter rule set, shared by guarder-api and the collector */
	struct {
		char *file;		/* default /var/lib/guarder/rules.json */
		unsigned int max_rules; /* default 10000, at most 65535 */
		/* traffic no rule may drop: to or from these networks / ports */
		/* net_parse()d: host bits zero (the loader refuses "10.0.0.1/8") */
		struct net_prefix protected_networks[GUARDER_MAX_PROTECTED];
		size_t n_protected_networks; /* default 0 */
		struct guarder_port_range protected_ports[GUARDER_MAX_PROTECTED];
		size_t n_protected_ports; /* default 0 */
	} rules;

	/* filter: how the kernel program filters what it cannot read */
	struct {
		enum guarder_unparsed unparsed; /* default drop */
	} filter;

	/* api: read by guarder-api; the collector's -api flag sets listen */
	struct {
		char *listen; /* default 127.0.0.1:8080 */
		char *token;  /* secret; NULL = unset (default) */
		/* origins allowed by CORS, exact "scheme://host[:port]"; none by default */
		char cors_origins[GUARDER_MAX_CORS_ORIGINS][GUARDER_ORIGIN_MAX];
		size_t n_cors_origins;
		unsigned int max_body;	    /* request body bytes; default 8 MiB */
		unsigned int default_limit; /* list items when no ?limit=; default 1000 */
		unsigned int max_limit;	    /* highest ?limit=; default 100000 */
		unsigned int threads;	    /* HTTP worker threads; default 2 */
	} api;

	/*
	 * kafka: the collector's Kafka sink (librdkafka). Off while brokers
	 * is unset. Names in comments are the librdkafka properties set.
	 */
	struct {
		char *brokers;	 /* bootstrap.servers; NULL = Kafka off (default) */
		char *topic;	 /* default guarder.flows */
		char *client_id; /* client.id; default guarder-collector */
		enum guarder_kafka_acks acks;		     /* default all */
		enum guarder_kafka_compression compression; /* compression.codec; default lz4 */
		unsigned int linger_ms;			     /* linger.ms; default 5 */
		unsigned int batch_size;		     /* batch.size, bytes; default 1000000 */
		bool idempotence;			     /* enable.idempotence; default true */
		unsigned int queue_max_messages; /* queue.buffering.max.messages; default 1000000 */
		unsigned int queue_max_kbytes;	 /* queue.buffering.max.kbytes; default 524288 */
		unsigned int queue_full_wait_ms; /* wait for room before dropping; default 50 */
		unsigned int message_timeout_ms; /* message.timeout.ms; 0 = forever; default 0 */
		enum guarder_kafka_security security_protocol; /* default plaintext */
		char *ssl_ca;		/* ssl.ca.location (path); NULL = system store */
		char *ssl_cert;		/* ssl.certificate.location (path) */
		char *ssl_key;		/* ssl.key.location (path) */
		char *ssl_key_password; /* ssl.key.password; secret */
		enum guarder_kafka_sasl sasl_mechanism; /* sasl.mechanisms; default PLAIN */
		char *sasl_username;			/* sasl.username */
		char *sasl_password;			/* sasl.password; secret */
		/* anything else, applied last (may override the above) */
		struct guarder_kafka_prop properties[GUARDER_MAX_KAFKA_PROPS];
		size_t n_properties;
	} kafka;

	/*
	 * ai: guarder-ai (the worker) and the /api/ai endpoints of guarder-api.
	 * The worker reads kafka.brokers / kafka.topic and the same TLS/SASL
	 * settings; ratios and confidences are whole percents.
	 */
	struct {
		char *group_id;		 /* consumer group; default guarder-ai */
		char *suggestions_topic; /* default guarder.suggestions */
		unsigned int window;	 /* sliding window, seconds; default 60 */
		unsigned int max_tracked; /* entries per feature table (memory bound); default 1000000 */
		unsigned int scan_ports;  /* vertical scan: distinct ports src->dst; default 100 */
		unsigned int scan_hosts;  /* horizontal scan: distinct hosts src->port; default 50 */
		unsigned int syn_flood_syns;	      /* SYN-only flows to one service; default 500 */
		unsigned int syn_flood_max_completed_pct; /* completed handshakes below; default 20 */
		unsigned int brute_force_attempts;    /* connections src->remote-access port; default 20 */
		struct guarder_port_range remote_access_ports[GUARDER_MAX_PROTECTED];
		size_t n_remote_access_ports; /* default 22, 23, 3389, 5900, 5985-5986 */
		unsigned int icmp_flood_packets;      /* ICMP packets src->dst; default 5000 */
		unsigned int icmp_error_storm;	      /* ICMP error records to one dst; default 200 */
		unsigned int reflection_bytes;	      /* bytes from one reflector port to a dst; default 10000000 */
		struct guarder_port_range reflection_ports[GUARDER_MAX_PROTECTED];
		size_t n_reflection_ports; /* default 19, 53, 123, 161, 389, 1900, 11211 */
		unsigned int rule_ttl;	   /* seconds; expires_at of proposed rules; default 3600 */
		unsigned int max_rules_per_suggestion; /* default 16 */
		unsigned int max_suggestions;	       /* kept by the API, newest first; default 1000 */
		bool auto_apply;		       /* default false */
		unsigned int auto_apply_min_confidence_pct; /* default 90 */
		/* ai.model: an OpenAI-compatible chat-completions endpoint (optional) */
		struct {
			char *endpoint;	   /* base URL; NULL = no model (default); env OPENAI_ENDPOINT */
			char *api_key;	   /* secret; env OPENAI_API_KEY */
			char *name;	   /* model name; default gpt-4o-mini */
			char *api_version; /* Azure api-version; NULL unless Azure */
			enum guarder_ai_provider provider; /* default openai */
			unsigned int timeout_ms;	   /* whole request; default 30000 */
			unsigned int max_retries;	   /* on 429 and 5xx; default 3 */
			unsigned int calls_per_minute;	   /* default 10 */
			unsigned int interval;		   /* worker: seconds between analyses; 0 = never; default 300 */
			unsigned int max_tokens;	   /* answer bound; default 1024 */
			bool debug;			   /* log requests/answers, key redacted; env AI_DEBUG */
		} model;
	} ai;

	/* websocket: the collector's live feed /ws/flows (libwebsockets) */
	struct {
		bool enabled;	     /* default true */
		char *listen;	     /* default 127.0.0.1:8081; non-loopback needs api.token */
		char origins[GUARDER_MAX_CORS_ORIGINS][GUARDER_ORIGIN_MAX]; /* browser origins allowed */
		size_t n_origins;		/* none by default: only clients without Origin */
		unsigned int max_clients;	/* default 64 */
		unsigned int queue_records;	/* per-client backlog bound, records; default 16384 */
		unsigned int max_message;	/* bytes of one message (records batched); default 65536 */
		unsigned int stats_interval;	/* seconds between stats frames; 0 = off; default 5 */
		unsigned int ping_interval;	/* seconds between pings; default 20 */
	} websocket;
};

/*
 * config_init - fill @cfg with the documented defaults.
 * Returns 0 or a negative errno (only -ENOMEM).
 */
int config_init(struct guarder_config *cfg);

/*
 * config_load - read the YAML file @path into @cfg, over its defaults.
 * Expands ${VAR} in scalar values from the environment (an unset variable
 * is an error). On any error, prints one message naming file:line and the
 * key to stderr, leaves @cfg as it was, and returns a negative errno
 * (-ENOENT, -EINVAL, -ENOMEM, ...).
 */
int config_load(struct guarder_config *cfg, const char *path);

/*
 * config_open - what every daemon starts with: the defaults, then @path,
 * or GUARDER_CONFIG_DEFAULT_PATH when @path is NULL and that file exists.
 * Logs which file it read (or that it runs on the defaults). On error the
 * message has been printed and @cfg holds nothing (it is freed; calling
 * config_free on it again is harmless). Returns 0 or a negative errno.
 */
int config_open(struct guarder_config *cfg, const char *path);

/*
 * config_set - set one key from a command-line flag, with the same
 * validation as the file. @key is dotted ("collector.interval"), @origin
 * names the flag in error messages. Returns 0 or a negative errno; on
 * error @cfg is unchanged.
 */
int config_set(struct guarder_config *cfg, const char *key, const char *value, const char *origin);

/*
 * config_dump - write the effective config to @out as YAML that
 * config_load accepts, with every secret replaced by "<redacted>" (and an
 * unset one written as null). config_load refuses "<redacted>" as a
 * secret's value: put the real secret (or ${VAR}) back before loading.
 */
void config_dump(const struct guarder_config *cfg, FILE *out);

/* config_free - release what config_init/config_load allocated. */
void config_free(struct guarder_config *cfg);

/* config_xdp_mode_name - "auto", "native" or "generic" ("unknown" otherwise). */
const char *config_xdp_mode_name(enum guarder_xdp_mode mode);

/*
 * config_enum_name - the word the file uses for @value of the enum key
 * @key: config_enum_name("kafka.compression", GUARDER_COMP_LZ4) is "lz4".
 * Returns "unknown" for a value out of range or a key that is no enum.
 * The Kafka keys' words are librdkafka's own, so they are passed on as
 * they are.
 */
const char *config_enum_name(const char *key, int value);

/*
 * config_enum_parse - the reverse: the value of @word for the enum key
 * @key. Returns 0 with *@out set, or -EINVAL (@word is none of the key's
 * words, or @key no enum key) with *@out untouched.
 */
int config_enum_parse(const char *key, const char *word, int *out);

/*
 * config_print_keys - write the key reference (a Markdown table: key, type,
 * default, limits, meaning) generated from the key table. docs/config.md
 * embeds it verbatim and test_config checks that it is up to date.
 */
void config_print_keys(FILE *out);

/* config_key_count, config_key_name - walk the dotted names of every key. */
size_t config_key_count(void);
const char *config_key_name(size_t i);

#endif /* GUARDER_CONFIG_H */
