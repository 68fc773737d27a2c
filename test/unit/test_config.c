// SPDX-License-Identifier: GPL-2.0
/*
 * The config loader on good and bad files. Runs from test/unit/ (meson's
 * workdir), so the shipped example and the docs are at ../../.
 *
 * Every bad file must fail with -EINVAL and exactly one error line naming
 * FILE:LINE and the key, and must leave the config it was loaded over
 * exactly as it was.
 *
 * With --keys-markdown it prints the key reference that docs/config.md
 * embeds, to regenerate that section after changing the key table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "lib/config.h"

#define EXAMPLE_CONFIG "../../config/guarder.yaml"
#define CONFIG_DOC     "../../docs/config.md"
#define PRODUCTION     "config/production.yaml"
#define TOKEN	       "s3cr3t-t0ken-abcdef-0123456789"

static unsigned int n_passed;
static char tmpdir[] = "/tmp/gdr-c-config-XXXXXX";

static void fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

static void fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%u passed, 1 failed\n", n_passed);
	exit(1);
}

#define CHECK(cond, ...)                                           \
	do {                                                       \
		if (!(cond))                                       \
			fail(__FILE__, __LINE__, __VA_ARGS__);     \
		n_passed++;                                        \
	} while (0)

/* ---- helpers ---- */

static char *write_tmp(const char *name, const char *text)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		fail(__FILE__, __LINE__, "asprintf");
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		fail(__FILE__, __LINE__, "cannot write %s", path);
	return path;
}

static char *read_all(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r"), *m;
	int c;

	if (!f)
		fail(__FILE__, __LINE__, "cannot open %s: %s", path, strerror(errno));
	m = open_memstream(&buf, &len);
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* The dump without its first line, which names the source file. */
static char *dump_body(const struct guarder_config *cfg)
{
	char *buf = NULL, *body;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	config_dump(cfg, m);
	fclose(m);
	body = strdup(strchr(buf, '\n') + 1);
	free(buf);
	return body;
}

static char *dump_all(const struct guarder_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	config_dump(cfg, m);
	fclose(m);
	return buf;
}

/* stderr goes to a file between capture_begin() and capture_end(). */
static int saved_stderr = -1;
static char capture_path[64];

static void capture_begin(void)
{
	int fd;

	snprintf(capture_path, sizeof(capture_path), "%s/stderr", tmpdir);
	fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	saved_stderr = dup(2);
	if (fd < 0 || saved_stderr < 0 || dup2(fd, 2) < 0)
		fail(__FILE__, __LINE__, "cannot redirect stderr");
	close(fd);
}

static char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	return read_all(capture_path);
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A config far from the defaults, with a token: what bad files must not touch. */
static const char *const full_config =
	"# every key away from its default\n"
	"node:\n"
	"  name: test-node.01_a\n"
	"bpf:\n"
	"  pin_path: /sys/fs/bpf/guarder-test\n"
	"  flow_table_size: 2048\n"
	"  icmp_table_size: 512\n"
	"  ringbuf_size: \"65536\"\n"
	"collector:\n"
	"  interfaces: [veth-a, \"veth-b\"]\n"
	"  xdp_mode: generic\n"
	"  egress: no\n"
	"  interval: 5\n"
	"  idle_timeout: 30\n"
	"  active_timeout: 120\n"
	"  close_linger: 0\n"
	"  sweep_interval: 2\n"
	"  top_flows: 0\n"
	"  max_flows: 4096\n"
	"  console: off\n"
	"  record_file: '/tmp/flows $$1 \"q\" \\.json'\n"
	"  stats_file: /tmp/gdr-stats.json\n"
	"rules:\n"
	"  file: /tmp/gdr-rules.json\n"
	"  max_rules: 65535\n"
	"  protected_networks: [10.1.0.0/16, \"fd00::/64\", 192.0.2.7]\n"
	"  protected_ports:\n"
	"    - 22\n"
	"    - 8000-8100\n"
	"api:\n"
	"  listen: \"[::1]:9090\"\n"
	"  token: ${GDR_C_TOKEN}\n"
	"  cors_origins: [\"https://ops.example.com\", \"http://127.0.0.1:3000\"]\n"
	"  max_body: 4096\n"
	"  default_limit: 50\n"
	"  max_limit: 500\n"
	"  threads: 8\n"
	"kafka:\n"
	"  brokers: \"k1.example:9092,[::1]:9093\"\n"
	"  topic: flows.test\n"
	"  client_id: gdr-test\n"
	"  acks: leader\n"
	"  compression: zstd\n"
	"  linger_ms: 0\n"
	"  batch_size: 65536\n"
	"  idempotence: false\n"
	"  queue_max_messages: 1000\n"
	"  queue_max_kbytes: 2048\n"
	"  queue_full_wait_ms: 0\n"
	"  message_timeout_ms: 30000\n"
	"  security_protocol: sasl_ssl\n"
	"  ssl_ca: /etc/ssl/ca.pem\n"
	"  ssl_cert: /etc/ssl/c.pem\n"
	"  ssl_key: /etc/ssl/k.pem\n"
	"  ssl_key_password: ${GDR_C_TOKEN}\n"
	"  sasl_mechanism: SCRAM-SHA-512\n"
	"  sasl_username: guarder\n"
	"  sasl_password: ${GDR_C_TOKEN}\n"
	"  properties:\n"
	"    socket.keepalive.enable: \"true\"\n"
	"    sasl.oauthbearer.client.secret: ${GDR_C_TOKEN}\n"
	"    debug: \"broker,topic=x\"\n"
	"ai:\n"
	"  group_id: gdr-ai-test\n"
	"  suggestions_topic: sugg.test\n"
	"  window: 30\n"
	"  max_tracked: 2048\n"
	"  scan_ports: 10\n"
	"  scan_hosts: 5\n"
	"  syn_flood_syns: 50\n"
	"  syn_flood_max_completed_pct: 5\n"
	"  brute_force_attempts: 3\n"
	"  remote_access_ports: [22, 2222-2223]\n"
	"  icmp_flood_packets: 100\n"
	"  icmp_error_storm: 7\n"
	"  reflection_bytes: 3000000000\n"
	"  reflection_ports: [53]\n"
	"  rule_ttl: 120\n"
	"  max_rules_per_suggestion: 4\n"
	"  max_suggestions: 20\n"
	"  auto_apply: true\n"
	"  auto_apply_min_confidence_pct: 95\n"
	"  model:\n"
	"    endpoint: \"http://127.0.0.1:9/v1\"\n"
	"    api_key: ${GDR_C_TOKEN}\n"
	"    name: test-model\n"
	"    api_version: 2024-06-01\n"
	"    provider: azure\n"
	"    timeout_ms: 500\n"
	"    max_retries: 0\n"
	"    calls_per_minute: 2\n"
	"    interval: 0\n"
	"    max_tokens: 64\n"
	"    debug: true\n"
	"websocket:\n"
	"  enabled: false\n"
	"  listen: \"[::1]:9091\"\n"
	"  origins: [\"https://dash.example.com\"]\n"
	"  max_clients: 5\n"
	"  queue_records: 128\n"
	"  max_message: 8192\n"
	"  stats_interval: 0\n"
	"  ping_interval: 7\n";

static void check_full(const struct guarder_config *c)
{
	CHECK(!strcmp(c->node_name, "test-node.01_a"), "node_name %s", c->node_name);
	CHECK(!strcmp(c->bpf.pin_path, "/sys/fs/bpf/guarder-test"), "pin_path %s", c->bpf.pin_path);
	CHECK(c->bpf.flow_table_size == 2048, "flow_table_size %u", c->bpf.flow_table_size);
	CHECK(c->bpf.icmp_table_size == 512, "icmp_table_size %u", c->bpf.icmp_table_size);
	CHECK(c->bpf.ringbuf_size == 65536, "ringbuf_size %u", c->bpf.ringbuf_size);
	CHECK(c->collector.n_ifaces == 2, "n_ifaces %zu", c->collector.n_ifaces);
	CHECK(!strcmp(c->collector.ifaces[0], "veth-a"), "iface0 %s", c->collector.ifaces[0]);
	CHECK(!strcmp(c->collector.ifaces[1], "veth-b"), "iface1 %s", c->collector.ifaces[1]);
	CHECK(c->collector.xdp_mode == GUARDER_XDP_GENERIC, "xdp_mode %d", c->collector.xdp_mode);
	CHECK(!c->collector.egress, "egress");
	CHECK(c->collector.interval == 5, "interval %u", c->collector.interval);
	CHECK(c->collector.idle_timeout == 30, "idle_timeout %u", c->collector.idle_timeout);
	CHECK(c->collector.active_timeout == 120, "active_timeout %u", c->collector.active_timeout);
	CHECK(c->collector.close_linger == 0, "close_linger %u", c->collector.close_linger);
	CHECK(c->collector.sweep_interval == 2, "sweep_interval %u", c->collector.sweep_interval);
	CHECK(c->collector.top_flows == 0, "top_flows %u", c->collector.top_flows);
	CHECK(c->collector.max_flows == 4096, "max_flows %u", c->collector.max_flows);
	CHECK(!c->collector.console, "console");
	/* single-quoted: \ is literal; $$ is our escape for one $ */
	CHECK(c->collector.record_file && !strcmp(c->collector.record_file, "/tmp/flows $1 \"q\" \\.json"),
	      "record_file %s", c->collector.record_file);
	CHECK(!strcmp(c->api.listen, "[::1]:9090"), "listen %s", c->api.listen);
	CHECK(c->api.token && !strcmp(c->api.token, TOKEN), "token not expanded");
	CHECK(!strcmp(c->rules.file, "/tmp/gdr-rules.json"), "rules.file %s", c->rules.file);
	CHECK(c->rules.max_rules == 65535, "max_rules %u", c->rules.max_rules);
	CHECK(c->rules.n_protected_networks == 3, "n_protected_networks %zu",
	      c->rules.n_protected_networks);
	{
		static const unsigned char v4[4] = { 10, 1, 0, 0 }, host[4] = { 192, 0, 2, 7 };
		unsigned char v6[16];

		inet_pton(AF_INET6, "fd00::", v6);
		CHECK(c->rules.protected_networks[0].family == 4 &&
			      c->rules.protected_networks[0].prefix == 96 + 16 &&
			      !memcmp(&c->rules.protected_networks[0].addr[3], v4, 4),
		      "protected network 0");
		CHECK(c->rules.protected_networks[1].family == 6 &&
			      c->rules.protected_networks[1].prefix == 64 &&
			      !memcmp(c->rules.protected_networks[1].addr, v6, 16),
		      "protected network 1");
		CHECK(c->rules.protected_networks[2].family == 4 &&
			      c->rules.protected_networks[2].prefix == 96 + 32 &&
			      !memcmp(&c->rules.protected_networks[2].addr[3], host, 4),
		      "a bare address is a /32");
	}
	CHECK(c->rules.n_protected_ports == 2 && c->rules.protected_ports[0].first == 22 &&
		      c->rules.protected_ports[0].last == 22 &&
		      c->rules.protected_ports[1].first == 8000 &&
		      c->rules.protected_ports[1].last == 8100,
	      "protected ports");
	CHECK(c->api.n_cors_origins == 2 && !strcmp(c->api.cors_origins[0], "https://ops.example.com") &&
		      !strcmp(c->api.cors_origins[1], "http://127.0.0.1:3000"),
	      "cors_origins");
	CHECK(c->api.max_body == 4096 && c->api.default_limit == 50 && c->api.max_limit == 500 &&
		      c->api.threads == 8,
	      "api numbers");
	CHECK(!strcmp(c->collector.stats_file, "/tmp/gdr-stats.json"), "stats_file");
	CHECK(!strcmp(c->kafka.brokers, "k1.example:9092,[::1]:9093"), "brokers %s", c->kafka.brokers);
	CHECK(!strcmp(c->kafka.topic, "flows.test") && !strcmp(c->kafka.client_id, "gdr-test"),
	      "topic, client_id");
	CHECK(c->kafka.acks == GUARDER_ACKS_LEADER && c->kafka.compression == GUARDER_COMP_ZSTD,
	      "acks, compression");
	CHECK(c->kafka.linger_ms == 0 && c->kafka.batch_size == 65536 && !c->kafka.idempotence,
	      "linger, batch, idempotence");
	CHECK(c->kafka.queue_max_messages == 1000 && c->kafka.queue_max_kbytes == 2048 &&
		      c->kafka.queue_full_wait_ms == 0 && c->kafka.message_timeout_ms == 30000,
	      "queue bounds");
	CHECK(c->kafka.security_protocol == GUARDER_SEC_SASL_SSL &&
		      c->kafka.sasl_mechanism == GUARDER_SASL_SCRAM_SHA_512,
	      "security");
	CHECK(!strcmp(c->kafka.ssl_ca, "/etc/ssl/ca.pem") && !strcmp(c->kafka.ssl_key, "/etc/ssl/k.pem") &&
		      !strcmp(c->kafka.ssl_cert, "/etc/ssl/c.pem"),
	      "ssl paths");
	CHECK(!strcmp(c->kafka.ssl_key_password, TOKEN) && !strcmp(c->kafka.sasl_password, TOKEN) &&
		      !strcmp(c->kafka.sasl_username, "guarder"),
	      "sasl credentials");
	CHECK(c->kafka.n_properties == 3, "n_properties %zu", c->kafka.n_properties);
	CHECK(!strcmp(c->kafka.properties[0].name, "socket.keepalive.enable") &&
		      !strcmp(c->kafka.properties[0].value, "true"),
	      "property 0");
	CHECK(!strcmp(c->kafka.properties[1].name, "sasl.oauthbearer.client.secret") &&
		      !strcmp(c->kafka.properties[1].value, TOKEN),
	      "property 1 (expanded)");
	CHECK(!strcmp(c->kafka.properties[2].value, "broker,topic=x"), "property 2 keeps , and =");
	CHECK(!c->websocket.enabled && !strcmp(c->websocket.listen, "[::1]:9091"), "ws listen");
	CHECK(c->websocket.n_origins == 1 && !strcmp(c->websocket.origins[0], "https://dash.example.com"),
	      "ws origins");
	CHECK(!strcmp(c->ai.group_id, "gdr-ai-test") && !strcmp(c->ai.suggestions_topic, "sugg.test"),
	      "ai names");
	CHECK(c->ai.window == 30 && c->ai.max_tracked == 2048 && c->ai.scan_ports == 10 &&
		      c->ai.scan_hosts == 5 && c->ai.syn_flood_syns == 50 &&
		      c->ai.syn_flood_max_completed_pct == 5 && c->ai.brute_force_attempts == 3 &&
		      c->ai.icmp_flood_packets == 100 && c->ai.icmp_error_storm == 7 &&
		      c->ai.reflection_bytes == 3000000000U && c->ai.rule_ttl == 120 &&
		      c->ai.max_rules_per_suggestion == 4 && c->ai.max_suggestions == 20 &&
		      c->ai.auto_apply && c->ai.auto_apply_min_confidence_pct == 95,
	      "ai numbers");
	CHECK(c->ai.n_remote_access_ports == 2 && c->ai.remote_access_ports[1].first == 2222 &&
		      c->ai.remote_access_ports[1].last == 2223 && c->ai.n_reflection_ports == 1,
	      "ai ports");
	CHECK(!strcmp(c->ai.model.endpoint, "http://127.0.0.1:9/v1") &&
		      !strcmp(c->ai.model.api_key, TOKEN) && !strcmp(c->ai.model.name, "test-model") &&
		      !strcmp(c->ai.model.api_version, "2024-06-01") &&
		      c->ai.model.provider == GUARDER_AI_AZURE,
	      "ai model");
	CHECK(c->ai.model.timeout_ms == 500 && c->ai.model.max_retries == 0 &&
		      c->ai.model.calls_per_minute == 2 && c->ai.model.interval == 0 &&
		      c->ai.model.max_tokens == 64 && c->ai.model.debug,
	      "ai model numbers");
	CHECK(c->websocket.max_clients == 5 && c->websocket.queue_records == 128 &&
		      c->websocket.max_message == 8192 && c->websocket.stats_interval == 0 &&
		      c->websocket.ping_interval == 7,
	      "ws numbers");
}

/* ---- good files ---- */

static void test_defaults(void)
{
	struct guarder_config c;
	char host[256] = "";

	CHECK(config_init(&c) == 0, "config_init");
	gethostname(host, sizeof(host) - 1);
	CHECK(!strcmp(c.node_name, host) || !strcmp(c.node_name, "localhost"), "node_name %s (host %s)",
	      c.node_name, host);
	CHECK(!strcmp(c.source, "<defaults>"), "source %s", c.source);
	CHECK(!strcmp(c.bpf.pin_path, "/sys/fs/bpf/guarder"), "pin_path %s", c.bpf.pin_path);
	CHECK(c.bpf.flow_table_size == 1048576, "flow_table_size");
	CHECK(c.bpf.icmp_table_size == 65536, "icmp_table_size");
	CHECK(c.bpf.ringbuf_size == 8388608, "ringbuf_size");
	CHECK(c.collector.n_ifaces == 0, "n_ifaces");
	CHECK(c.collector.xdp_mode == GUARDER_XDP_AUTO, "xdp_mode");
	CHECK(c.collector.egress, "egress");
	CHECK(c.collector.interval == 10, "interval");
	CHECK(c.collector.idle_timeout == 60, "idle_timeout");
	CHECK(c.collector.active_timeout == 300, "active_timeout");
	CHECK(c.collector.close_linger == 2, "close_linger");
	CHECK(c.collector.sweep_interval == 1, "sweep_interval");
	CHECK(c.collector.top_flows == 10, "top_flows");
	CHECK(c.collector.max_flows == 1048576, "max_flows");
	CHECK(c.collector.console, "console");
	CHECK(c.collector.record_file == NULL, "record_file");
	CHECK(!strcmp(c.api.listen, "127.0.0.1:8080"), "listen");
	CHECK(c.api.token == NULL, "token");
	CHECK(!strcmp(c.rules.file, "/var/lib/guarder/rules.json"), "rules.file");
	CHECK(c.rules.max_rules == 10000, "max_rules");
	CHECK(c.rules.n_protected_networks == 0 && c.rules.n_protected_ports == 0, "protected");
	CHECK(c.api.n_cors_origins == 0, "cors_origins");
	CHECK(c.api.max_body == 8388608, "max_body");
	CHECK(c.api.default_limit == 1000 && c.api.max_limit == 100000, "limits");
	CHECK(c.api.threads == 2, "threads");
	CHECK(!strcmp(config_xdp_mode_name(GUARDER_XDP_AUTO), "auto"), "mode name");
	CHECK(!strcmp(config_xdp_mode_name(GUARDER_XDP_NATIVE), "native"), "mode name");
	CHECK(!strcmp(config_xdp_mode_name(GUARDER_XDP_GENERIC), "generic"), "mode name");
	CHECK(!strcmp(config_xdp_mode_name((enum guarder_xdp_mode)7), "unknown"), "mode name");
	config_free(&c);
	config_free(&c); /* twice is harmless */
}

/* The words of enum keys, both ways, as the Kafka and model clients use them. */
static void test_enum_words(void)
{
	int v = -1;

	CHECK(!strcmp(config_enum_name("kafka.compression", GUARDER_COMP_LZ4), "lz4"), "lz4");
	CHECK(!strcmp(config_enum_name("kafka.security_protocol", GUARDER_SEC_SASL_SSL),
		      "sasl_ssl"),
	      "sasl_ssl");
	CHECK(!strcmp(config_enum_name("kafka.sasl_mechanism", GUARDER_SASL_SCRAM_SHA_512),
		      "SCRAM-SHA-512"),
	      "scram");
	CHECK(!strcmp(config_enum_name("ai.model.provider", GUARDER_AI_AZURE), "azure"), "azure");
	CHECK(!strcmp(config_enum_name("kafka.compression", 5), "unknown"), "past the last");
	CHECK(!strcmp(config_enum_name("kafka.compression", -1), "unknown"), "negative");
	CHECK(!strcmp(config_enum_name("kafka.linger_ms", 0), "unknown"), "not an enum");
	CHECK(!strcmp(config_enum_name("kafka.nope", 0), "unknown"), "no such key");

	CHECK(config_enum_parse("ai.model.provider", "ollama", &v) == 0 && v == GUARDER_AI_OLLAMA,
	      "parse ollama");
	CHECK(config_enum_parse("kafka.acks", "leader", &v) == 0 && v == GUARDER_ACKS_LEADER,
	      "parse leader");
	v = 42;
	CHECK(config_enum_parse("kafka.acks", "Leader", &v) == -EINVAL && v == 42, "case");
	CHECK(config_enum_parse("kafka.acks", "", &v) == -EINVAL && v == 42, "empty");
	CHECK(config_enum_parse("kafka.topic", "all", &v) == -EINVAL && v == 42, "not an enum");
}

/* The shipped example loads, and every value in it is the default. */
static void test_example(void)
{
	struct guarder_config def, c;
	char *a, *b;

	CHECK(config_init(&def) == 0 && config_init(&c) == 0, "config_init");
	CHECK(config_load(&c, EXAMPLE_CONFIG) == 0, "%s does not load", EXAMPLE_CONFIG);
	CHECK(!strcmp(c.source, EXAMPLE_CONFIG), "source %s", c.source);
	a = dump_body(&def);
	b = dump_body(&c);
	CHECK(!strcmp(a, b), "the example is not all defaults:\n%s\n---\n%s", a, b);
	free(a);
	free(b);
	config_free(&def);
	config_free(&c);
}

static void test_full_file(void)
{
	struct guarder_config c;
	char *path;

	setenv("GDR_C_TOKEN", TOKEN, 1);
	path = write_tmp("full.yaml", full_config);
	CHECK(config_init(&c) == 0, "config_init");
	CHECK(config_load(&c, path) == 0, "full config does not load");
	check_full(&c);
	CHECK(!strcmp(c.source, path), "source");
	config_free(&c);
	free(path);
}

/* A realistic file: what it sets changes, everything else stays default. */
static void test_production(void)
{
	struct guarder_config c;

	setenv("GDR_C_TOKEN", TOKEN, 1);
	CHECK(config_init(&c) == 0, "init");
	CHECK(config_load(&c, PRODUCTION) == 0, "%s does not load", PRODUCTION);
	CHECK(!strcmp(c.node_name, "edge-fra-01"), "node_name");
	CHECK(c.bpf.flow_table_size == 4194304 && c.bpf.ringbuf_size == 33554432, "bpf sizes");
	CHECK(c.bpf.icmp_table_size == 65536, "icmp_table_size not default");
	CHECK(!strcmp(c.bpf.pin_path, "/sys/fs/bpf/guarder"), "pin_path not default");
	CHECK(c.collector.n_ifaces == 2 && !strcmp(c.collector.ifaces[0], "ens1f0") &&
		      !strcmp(c.collector.ifaces[1], "ens1f1"),
	      "interfaces");
	CHECK(c.collector.xdp_mode == GUARDER_XDP_NATIVE, "xdp_mode");
	CHECK(c.collector.interval == 30 && !c.collector.console, "interval, console");
	CHECK(c.collector.egress && c.collector.idle_timeout == 60, "defaults kept");
	CHECK(!strcmp(c.collector.record_file, "/var/log/guarder/flows.jsonl"), "record_file");
	CHECK(!strcmp(c.api.listen, "[::]:8080"), "listen");
	CHECK(!strcmp(c.api.token, TOKEN), "token");
	config_free(&c);
}

/* Files that are valid although unusual. */
static void test_odd_but_good(void)
{
	struct guarder_config c;
	char *path;

	setenv("GDR_C_IFACES", "veth1, veth2,veth3", 1);
	setenv("GDR_C_EMPTY", "", 1);
	setenv("GDR_C_LOOP", "${GDR_C_TOKEN}", 1);

	/* empty file and comments only: defaults */
	CHECK(config_init(&c) == 0, "init");
	path = write_tmp("empty.yaml", "");
	CHECK(config_load(&c, path) == 0, "empty file");
	CHECK(c.collector.interval == 10, "empty file changed interval");
	free(path);
	path = write_tmp("comments.yaml", "# nothing\n\n# at all\n");
	CHECK(config_load(&c, path) == 0, "comments-only file");
	free(path);
	path = write_tmp("doc.yaml", "---\n...\n");
	CHECK(config_load(&c, path) == 0, "empty document");
	free(path);

	/* comma-separated interfaces from the environment, empty sections */
	path = write_tmp("odd.yaml",
			 "node:\n"
			 "  # all commented\n"
			 "collector:\n"
			 "  interfaces: ${GDR_C_IFACES}\n"
			 "  interval: \"${GDR_C_EMPTY}7\"\n"
			 "  egress: FALSE\n"
			 "  record_file: \"${GDR_C_EMPTY}\"\n"
			 "api:\n"
			 "  listen: :8080\n"
			 "  token: ~\n");
	CHECK(config_load(&c, path) == 0, "odd.yaml");
	CHECK(c.collector.n_ifaces == 3 && !strcmp(c.collector.ifaces[2], "veth3"), "ifaces from env");
	CHECK(c.collector.interval == 7, "interval %u", c.collector.interval);
	CHECK(!c.collector.egress, "egress");
	CHECK(c.collector.record_file == NULL, "empty record_file is off");
	CHECK(!strcmp(c.api.listen, ":8080"), "listen");
	free(path);

	/* no recursive expansion: the value of a variable is taken as is */
	path = write_tmp("norec.yaml", "collector:\n  record_file: /tmp/${GDR_C_LOOP}\n");
	CHECK(config_load(&c, path) == 0, "norec.yaml");
	CHECK(!strcmp(c.collector.record_file, "/tmp/${GDR_C_TOKEN}"), "expanded twice: %s",
	      c.collector.record_file);
	free(path);

	/* JSON is YAML too */
	path = write_tmp("json.yaml", "{\"collector\": {\"interval\": 8, \"egress\": true}}");
	CHECK(config_load(&c, path) == 0, "json.yaml");
	CHECK(c.collector.interval == 8, "interval from JSON");
	free(path);

	/* a lone $ stays; null interfaces empties the list; hostname-like node name */
	path = write_tmp("dollar.yaml",
			 "node: {name: a.b-c_d}\n"
			 "collector:\n  record_file: /tmp/a$b\n  interfaces:\n"
			 "api:\n  listen: \"localhost:1\"\n");
	CHECK(config_load(&c, path) == 0, "dollar.yaml");
	CHECK(!strcmp(c.collector.record_file, "/tmp/a$b"), "record_file %s", c.collector.record_file);
	CHECK(c.collector.n_ifaces == 0, "null interfaces");
	CHECK(!strcmp(c.node_name, "a.b-c_d"), "node name");
	free(path);

	/* exactly 64 interfaces is the limit, not beyond it */
	{
		char text[2048] = "collector:\n  interfaces:\n";
		int i;

		for (i = 0; i < 64; i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "    - v%d\n", i);
		path = write_tmp("ifaces64.yaml", text);
		CHECK(config_load(&c, path) == 0, "64 interfaces");
		CHECK(c.collector.n_ifaces == 64 && !strcmp(c.collector.ifaces[63], "v63"), "64 ifaces");
		free(path);
	}
	config_free(&c);
}

/* ---- config_set ---- */

static void test_set(void)
{
	struct guarder_config c;
	char *before, *err;

	CHECK(config_init(&c) == 0, "init");
	CHECK(config_set(&c, "collector.interfaces", "eth0,eth1", "-iface") == 0, "-iface");
	CHECK(config_set(&c, "rules.protected_ports", "22, 443,1000-2000", "flag") == 0 &&
		      c.rules.n_protected_ports == 3 && c.rules.protected_ports[2].last == 2000,
	      "ports from a flag");
	CHECK(config_set(&c, "rules.protected_ports", "", "flag") == 0 &&
		      c.rules.n_protected_ports == 0,
	      "empty ports");
	CHECK(config_set(&c, "rules.protected_networks", "::/0", "flag") == 0 &&
		      c.rules.n_protected_networks == 1 &&
		      c.rules.protected_networks[0].prefix == 0,
	      "::/0");
	CHECK(c.collector.n_ifaces == 2 && !strcmp(c.collector.ifaces[1], "eth1"), "-iface value");
	CHECK(config_set(&c, "collector.interfaces", "lo", "-iface") == 0, "-iface again");
	CHECK(c.collector.n_ifaces == 1 && !strcmp(c.collector.ifaces[0], "lo") &&
		      c.collector.ifaces[1][0] == '\0',
	      "-iface replaces the list");
	CHECK(config_set(&c, "collector.interval", "5", "-interval") == 0, "-interval");
	CHECK(c.collector.interval == 5, "interval");
	CHECK(config_set(&c, "api.listen", ":8080", "-api") == 0, "-api");
	CHECK(!strcmp(c.api.listen, ":8080"), "listen");
	CHECK(config_set(&c, "api.token", TOKEN, "--token") == 0, "token");
	CHECK(config_set(&c, "collector.xdp_mode", "native", "-mode") == 0, "mode");
	CHECK(c.collector.xdp_mode == GUARDER_XDP_NATIVE, "mode value");
	/* no ${VAR} expansion on the command line: the shell did that */
	CHECK(config_set(&c, "collector.record_file", "/tmp/${X}", "-record") == 0, "record");
	CHECK(!strcmp(c.collector.record_file, "/tmp/${X}"), "record value");

	{
		static const struct {
			const char *key, *value, *origin, *expect;
		} bad[] = {
			/* clang-format off */
			{ "collector.interval", "0", "-interval", "-interval: collector.interval: must be between 1 and 3600 (got \"0\")" },
			{ "collector.interval", "5s", "-interval", "-interval: collector.interval: must be a whole decimal number (got \"5s\")" },
			{ "collector.interfaces", "eth0,,eth1", "-iface", "-iface: collector.interfaces: has an empty interface name" },
			{ "collector.interfaces", "eth0,eth0", "-iface", "-iface: collector.interfaces: lists \"eth0\" twice" },
			{ "api.listen", "8080", "-api", "-api: api.listen: must be host:port" },
			{ "api.listen", ":99999", "-api", "-api: api.listen: port must be a number from 1 to 65535" },
			{ "api.token", "short", "--token", "--token: api.token: must be 16 to 256 bytes long (value hidden: secret)" },
			{ "collector.nope", "1", "-nope", "-nope: collector.nope: unknown key" },
			/* clang-format on */
		};
		size_t i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			before = dump_all(&c);
			capture_begin();
			CHECK(config_set(&c, bad[i].key, bad[i].value, bad[i].origin) == -EINVAL,
			      "config_set %s=%s accepted", bad[i].key, bad[i].value);
			err = capture_end();
			CHECK(strstr(err, bad[i].expect), "config_set %s=%s: message\n  %s\nlacks\n  %s",
			      bad[i].key, bad[i].value, err, bad[i].expect);
			CHECK(count_lines(err) == 1, "not one line: %s", err);
			CHECK(!strstr(err, "short") || strcmp(bad[i].key, "api.token"), "secret echoed");
			free(err);
			err = dump_all(&c);
			CHECK(!strcmp(before, err), "config_set %s changed cfg on error", bad[i].key);
			CHECK(!strcmp(c.api.token, TOKEN), "token changed");
			free(before);
			free(err);
		}
	}
	config_free(&c);
}

/* ---- dump ---- */

/* Every occurrence of @from replaced; at least one must be there. */
static char *replace_all(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0, o = 0;
	const char *p;
	char *out;

	for (p = strstr(s, from); p; p = strstr(p + fl, from))
		n++;
	if (!n)
		fail(__FILE__, __LINE__, "\"%s\" not found", from);
	out = malloc(strlen(s) + n * tl + 1);
	if (!out)
		fail(__FILE__, __LINE__, "malloc");
	while ((p = strstr(s, from))) {
		memcpy(out + o, s, (size_t)(p - s));
		o += (size_t)(p - s);
		memcpy(out + o, to, tl);
		o += tl;
		s = p + fl;
	}
	strcpy(out + o, s);
	return out;
}

static void test_dump_round_trip(void)
{
	struct guarder_config a, b;
	char *path, *dump, *text, *da, *db, *err;

	setenv("GDR_C_TOKEN", TOKEN, 1);
	path = write_tmp("full.yaml", full_config);
	CHECK(config_init(&a) == 0 && config_load(&a, path) == 0, "load full");
	free(path);
	dump = dump_all(&a);
	CHECK(!strstr(dump, TOKEN), "the secret is in the dump:\n%s", dump);
	CHECK(strstr(dump, "token: \"<redacted>\""), "no redaction:\n%s", dump);
	CHECK(strstr(dump, "$$1"), "$ not escaped:\n%s", dump);

	/* the redacted dump is refused as is, naming the key and line */
	path = write_tmp("dump.yaml", dump);
	CHECK(config_init(&b) == 0, "init");
	capture_begin();
	CHECK(config_load(&b, path) == -EINVAL, "redacted placeholder accepted");
	err = capture_end();
	CHECK(strstr(err, "api.token: is the placeholder of a redacted dump"), "message: %s", err);
	CHECK(!strstr(err, TOKEN), "secret echoed");
	free(err);
	free(path);

	/* with the secret put back, it loads into the same config */
	text = replace_all(dump, "\"<redacted>\"", "\"${GDR_C_TOKEN}\"");
	path = write_tmp("dump2.yaml", text);
	CHECK(config_load(&b, path) == 0, "dump does not load back:\n%s", text);
	check_full(&b);
	da = dump_body(&a);
	db = dump_body(&b);
	CHECK(!strcmp(da, db), "round trip differs:\n%s\n---\n%s", da, db);
	free(da);
	free(db);
	free(text);
	free(path);
	free(dump);
	config_free(&a);
	config_free(&b);

	/* defaults (no token, no interfaces): unset prints as null, loads back */
	CHECK(config_init(&a) == 0 && config_init(&b) == 0, "init");
	dump = dump_all(&a);
	CHECK(strstr(dump, "  token: null"), "unset token not null:\n%s", dump);
	CHECK(strstr(dump, "  interfaces: []"), "empty list:\n%s", dump);
	CHECK(strstr(dump, "  protected_networks: []"), "empty list:\n%s", dump);
	CHECK(strstr(dump, "  cors_origins: []"), "empty list:\n%s", dump);
	CHECK(strstr(dump, "  record_file: null"), "record_file:\n%s", dump);
	path = write_tmp("dump3.yaml", dump);
	CHECK(config_set(&b, "api.token", TOKEN, "t") == 0, "set token");
	CHECK(config_load(&b, path) == 0, "defaults dump does not load:\n%s", dump);
	CHECK(b.api.token == NULL, "null did not unset the token");
	da = dump_body(&a);
	db = dump_body(&b);
	CHECK(!strcmp(da, db), "defaults round trip differs:\n%s\n---\n%s", da, db);
	free(da);
	free(db);
	free(path);
	free(dump);
	config_free(&a);
	config_free(&b);
}

/* ---- bad files ---- */

struct bad_case {
	const char *name;
	const char *text;
	int line;	    /* expected line, 1-based */
	const char *key;    /* expected key, or NULL for a YAML-level error */
	const char *what;   /* a fragment of the message */
};

/* clang-format off: one case per line reads better than any wrapping */
static const struct bad_case bad_cases[] = {
	{ "unknown section", "nod:\n  name: x\n", 1, "nod", "unknown key (sections are: node, bpf, collector, rules, filter, api, kafka, ai, websocket)" },
	{ "unknown key", "bpf:\n  pin_path: /x/y\n  flow_tabel_size: 5\n", 3, "bpf.flow_tabel_size", "unknown key" },
	{ "mapping for a value", "collector:\n  interval:\n    a: 1\n", 3, "collector.interval", "expected a single value, got a mapping" },
	{ "list for a value", "collector:\n  interval: [1]\n", 2, "collector.interval", "got a list" },
	{ "not a number", "collector:\n  interval: abc\n", 2, "collector.interval", "must be a whole decimal number (got \"abc\")" },
	{ "trailing garbage", "collector:\n  interval: 10x\n", 2, "collector.interval", "(got \"10x\")" },
	{ "negative", "collector:\n  idle_timeout: -5\n", 2, "collector.idle_timeout", "must not be negative" },
	{ "overflow", "bpf:\n  flow_table_size: 99999999999999999999999999\n", 2, "bpf.flow_table_size", "must be between 1024 and 16777216" },
	{ "below min", "\ncollector:\n  interval: 0\n", 3, "collector.interval", "must be between 1 and 3600" },
	{ "above max", "collector:\n  top_flows: 101\n", 2, "collector.top_flows", "must be between 0 and 100" },
	{ "leading zero", "collector:\n  interval: 010\n", 2, "collector.interval", "leading zeros" },
	{ "not a power of two", "bpf:\n  ringbuf_size: 100000\n", 2, "bpf.ringbuf_size", "must be a power of two" },
	{ "bad enum", "collector:\n  xdp_mode: turbo\n", 2, "collector.xdp_mode", "must be auto, native or generic (got \"turbo\")" },
	{ "bad bool", "collector:\n  egress: maybe\n", 2, "collector.egress", "must be true or false" },
	{ "null for a number", "collector:\n  interval:\n", 2, "collector.interval", "needs a value" },
	{ "duplicate key", "collector:\n  interval: 5\n  interval: 6\n", 3, "collector.interval", "duplicate key (first on line 2)" },
	{ "duplicate section", "bpf:\n  pin_path: /a/b\napi:\n  listen: :1\nbpf:\n  ringbuf_size: 65536\n", 5, "bpf", "duplicate key (first on line 1)" },
	{ "interface too long", "collector:\n  interfaces: [eth0, abcdefghijklmnop]\n", 2, "collector.interfaces", "longer than 15 bytes" },
	{ "interface with a slash", "collector:\n  interfaces:\n    - eth0\n    - a/b\n", 4, "collector.interfaces", "forbidden character" },
	{ "duplicate interface", "collector:\n  interfaces: eth0, eth1,eth0\n", 2, "collector.interfaces", "lists \"eth0\" twice" },
	{ "interface is a mapping", "collector:\n  interfaces:\n    - {a: b}\n", 3, "collector.interfaces", "not a mapping" },
	{ "node name with a space", "node:\n  name: web 01\n", 2, "node.name", "may only contain" },
	{ "node name too long", "node:\n  name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 2, "node.name", "must be 1 to 63 bytes long" },
	{ "empty node name", "node:\n  name: \"\"\n", 2, "node.name", "must be 1 to 63 bytes long" },
	{ "listen without port", "api:\n  listen: 8080\n", 2, "api.listen", "must be host:port" },
	{ "listen bare ipv6", "api:\n  listen: \"::1:8080\"\n", 2, "api.listen", "must be in brackets" },
	{ "listen port 0", "api:\n  listen: \":0\"\n", 2, "api.listen", "port must be a number from 1 to 65535" },
	{ "listen port too big", "api:\n  listen: localhost:65536\n", 2, "api.listen", "port must be" },
	{ "listen bad ipv6", "api:\n  listen: \"[::g]:80\"\n", 2, "api.listen", "not an IPv6 address" },
	{ "relative pin path", "bpf:\n  pin_path: guarder\n", 2, "bpf.pin_path", "absolute path" },
	{ "token too short", "api:\n  token: hunter2\n", 2, "api.token", "must be 16 to 256 bytes long (value hidden: secret)" },
	{ "token empty from env", "api:\n  token: ${GDR_C_EMPTY}\n", 2, "api.token", "is empty" },
	{ "unset variable", "api:\n  listen: ${GDR_C_UNSET_VARIABLE}\n", 2, "api.listen", "environment variable GDR_C_UNSET_VARIABLE is not set" },
	{ "expanded value not echoed", "collector:\n  interval: ${GDR_C_HIDDEN}\n", 2, "collector.interval", "(got \"${GDR_C_HIDDEN}\"; the expanded value is not shown)" },
	{ "bad reference", "api:\n  listen: ${1X}:80\n", 2, "api.listen", "bad ${NAME} reference" },
	{ "unclosed reference", "api:\n  listen: ${HOME:80\n", 2, "api.listen", "bad ${NAME} reference" },
	{ "section is a value", "bpf: 5\n", 1, "bpf", "is a section: expected a mapping of keys, got a single value" },
	{ "section is a list", "collector:\n  - interval\n", 2, "collector", "got a list" },
	{ "dotted key", "collector.interval: 5\n", 1, "(top)", "is not a key name" },
	{ "list document", "- a\n- b\n", 1, NULL, "the file must be a mapping of sections" },
	{ "scalar document", "\n\nhello\n", 3, NULL, "the file must be a mapping of sections" },
	{ "two documents", "node:\n  name: a\n---\nnode:\n  name: b\n", 3, NULL, "only one YAML document" },
	{ "syntax: unclosed list", "bpf:\n  pin_path: /a\ncollector:\n  interfaces: [eth0\n", 5, NULL, "YAML syntax error" },
	{ "syntax: bad indentation", "collector:\n  interval: 5\n idle_timeout: 6\n", 3, NULL, "YAML syntax error" },
	{ "syntax: tab", "collector:\n\tinterval: 5\n", 2, NULL, "YAML syntax error" },
	{ "invalid UTF-8", "node:\n  name: a\ncollector:\n  record_file: /tmp/\xff\xfe\n", 4, NULL, "YAML syntax error" },
	{ "alias", "collector:\n  interval: &i 5\n  idle_timeout: *i\n", 2, NULL, "anchors and aliases are not supported" },
	{ "tag", "collector:\n  interval: !!int 5\n", 2, NULL, "tags are not supported" },
	{ "complex key", "? [a, b]\n: c\n", 1, NULL, "keys must be names" },
	{ "redacted token", "api:\n  token: \"<redacted>\"\n", 2, "api.token", "placeholder of a redacted dump" },
	{ "control character", "collector:\n  record_file: \"/tmp/a\\tb\"\n", 2, "collector.record_file", "control characters" },
	{ "cidr: not an address", "rules:\n  protected_networks: [10.0.0.0/8, host.example]\n", 2, "rules.protected_networks", "\"host.example\" is not an IPv4 or IPv6 address" },
	{ "cidr: prefix too long", "rules:\n  protected_networks:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n", 4, "rules.protected_networks", "prefix length must be 0..32" },
	{ "cidr: v6 prefix too long", "rules:\n  protected_networks: [\"fd00::/129\"]\n", 2, "rules.protected_networks", "prefix length must be 0..128" },
	{ "cidr: host bits", "rules:\n  protected_networks: [10.0.0.1/8]\n", 2, "rules.protected_networks", "has host bits set after /8" },
	{ "cidr: empty prefix", "rules:\n  protected_networks: [10.0.0.0/]\n", 2, "rules.protected_networks", "bad prefix length" },
	{ "cidr: leading zero prefix", "rules:\n  protected_networks: [10.0.0.0/08]\n", 2, "rules.protected_networks", "bad prefix length" },
	{ "cidr: twice", "rules:\n  protected_networks: 10.0.0.0/8, 10.0.0.0/8\n", 2, "rules.protected_networks", "lists \"10.0.0.0/8\" twice" },
	{ "cidr: empty item", "rules:\n  protected_networks: \"10.0.0.0/8,,fd00::/8\"\n", 2, "rules.protected_networks", "has an empty item" },
	{ "cidr: a mapping", "rules:\n  protected_networks:\n    - {a: 1}\n", 3, "rules.protected_networks", "not a mapping" },
	{ "port: zero", "rules:\n  protected_ports: [0]\n", 2, "rules.protected_ports", "is not a port 1..65535" },
	{ "port: too big", "rules:\n  protected_ports: [22, 65536]\n", 2, "rules.protected_ports", "\"65536\" is not a port" },
	{ "port: reversed range", "rules:\n  protected_ports:\n    - 100-10\n", 3, "rules.protected_ports", "first port is above its last" },
	{ "port: a name", "rules:\n  protected_ports: [ssh]\n", 2, "rules.protected_ports", "is not a port" },
	{ "origin: wildcard", "api:\n  cors_origins: [\"*\"]\n", 2, "api.cors_origins", "is not an origin" },
	{ "origin: wildcard host", "api:\n  cors_origins: [\"https://*.example.com\"]\n", 2, "api.cors_origins", "wildcards are not allowed" },
	{ "origin: path", "api:\n  cors_origins: [\"https://a.example/\"]\n", 2, "api.cors_origins", "no path, no trailing /" },
	{ "origin: uppercase", "api:\n  cors_origins: [\"https://A.example\"]\n", 2, "api.cors_origins", "must be lowercase" },
	{ "origin: no scheme", "api:\n  cors_origins: [a.example]\n", 2, "api.cors_origins", "is not an origin" },
	{ "max_rules above 65535", "rules:\n  max_rules: 65536\n", 2, "rules.max_rules", "must be between 1 and 65535" },
	{ "relative rules file", "rules:\n  file: rules.json\n", 2, "rules.file", "absolute path" },
	{ "max_body too small", "api:\n  max_body: 100\n", 2, "api.max_body", "must be between 4096" },
	{ "threads zero", "api:\n  threads: 0\n", 2, "api.threads", "must be between 1 and 64" },
	{ "brokers: no port", "kafka:\n  brokers: k1.example\n", 2, "kafka.brokers", "must be host:port" },
	{ "brokers: no host", "kafka:\n  brokers: \"k1:9092,:9092\"\n", 2, "kafka.brokers", "needs a host" },
	{ "brokers: empty item", "kafka:\n  brokers: \"k1:9092,,k2:9092\"\n", 2, "kafka.brokers", "empty or too long" },
	{ "topic: bad char", "kafka:\n  topic: \"a/b\"\n", 2, "kafka.topic", "A-Z a-z 0-9" },
	{ "acks: number", "kafka:\n  acks: 2\n", 2, "kafka.acks", "must be all, leader or none" },
	{ "compression: unknown", "kafka:\n  compression: brotli\n", 2, "kafka.compression", "must be none" },
	{ "sasl: lowercase", "kafka:\n  sasl_mechanism: plain\n", 2, "kafka.sasl_mechanism", "must be PLAIN" },
	{ "sasl password redacted", "kafka:\n  sasl_password: \"<redacted>\"\n", 2, "kafka.sasl_password", "placeholder of a redacted dump" },
	{ "property: bad name", "kafka:\n  properties:\n    Bad.Name: x\n", 3, "kafka.properties", "is not a property name" },
	{ "property: list value", "kafka:\n  properties:\n    a.b: [1]\n", 3, "kafka.properties", "a.b: expected a value, got a list" },
	{ "property: null value", "kafka:\n  properties:\n    a.b:\n", 3, "kafka.properties", "a.b: expected a value, got null" },
	{ "property: twice", "kafka:\n  properties:\n    a.b: x\n    a.b: y\n", 4, "kafka.properties", "sets a.b twice" },
	{ "property: redacted", "kafka:\n  properties:\n    sasl.password: \"<redacted>\"\n", 3, "kafka.properties", "placeholder of a redacted dump" },
	{ "property: control char", "kafka:\n  properties:\n    x.secret: \"hunter2\\n\"\n", 3, "kafka.properties", "control characters" },
	{ "ws: queue not pow2", "websocket:\n  queue_records: 1000\n", 2, "websocket.queue_records", "power of two" },
	{ "ws: origin wildcard", "websocket:\n  origins: [\"*\"]\n", 2, "websocket.origins", "is not an origin" },
	{ "ws: listen", "websocket:\n  listen: 8081\n", 2, "websocket.listen", "must be host:port" },
	{ "ai: endpoint scheme", "ai:\n  model:\n    endpoint: ftp://x/v1\n", 3, "ai.model.endpoint", "must start with http:// or https://" },
	{ "ai: endpoint no host", "ai:\n  model:\n    endpoint: \"https:///v1\"\n", 3, "ai.model.endpoint", "has no host" },
	/* what start-up refuses (lib/url.h), --check-config refuses too */
	{ "ai: endpoint credentials", "ai:\n  model:\n    endpoint: \"http://user:pw@host/v1\"\n", 3, "ai.model.endpoint", "must not hold a user name or password" },
	{ "ai: endpoint user only", "ai:\n  model:\n    endpoint: \"https://sk-123@api.example\"\n", 3, "ai.model.endpoint", "user:password@host" },
	{ "ai: endpoint fragment", "ai:\n  model:\n    endpoint: \"https://api.example/v1#x\"\n", 3, "ai.model.endpoint", "must not have a fragment" },
	{ "ai: endpoint query only", "ai:\n  model:\n    endpoint: \"https://?x=1\"\n", 3, "ai.model.endpoint", "has no host" },
	{ "ai: endpoint non-ASCII", "ai:\n  model:\n    endpoint: \"https://b\u00fccher.example/v1\"\n", 3, "ai.model.endpoint", "a character a URL cannot hold (byte 9)" },
	{ "ai: provider", "ai:\n  model:\n    provider: anthropic\n", 3, "ai.model.provider", "must be openai, azure or ollama" },
	{ "ai: pct above 100", "ai:\n  syn_flood_max_completed_pct: 101\n", 2, "ai.syn_flood_max_completed_pct", "between 0 and 100" },
	{ "ai: confidence below 50", "ai:\n  auto_apply_min_confidence_pct: 10\n", 2, "ai.auto_apply_min_confidence_pct", "between 50 and 100" },
	{ "ai: key with space", "ai:\n  model:\n    api_key: \"hunter2 x\"\n", 3, "ai.model.api_key", "printable ASCII" },
	{ "ai: unknown model key", "ai:\n  model:\n    temperature: 1\n", 3, "ai.model.temperature", "unknown key" },
	{ "stats_file relative", "collector:\n  stats_file: stats.json\n", 2, "collector.stats_file", "absolute path" },
	{ "error after good keys", "collector:\n  interval: 3\n  top_flows: 4\n  max_flows: 1\n", 4, "collector.max_flows", "between 1024" },
};
/* clang-format on */

static void test_bad_files(void)
{
	struct guarder_config c;
	char *path, *before, *after, *err, want[512];
	size_t i;

	setenv("GDR_C_TOKEN", TOKEN, 1);
	setenv("GDR_C_EMPTY", "", 1);
	unsetenv("GDR_C_UNSET_VARIABLE");
	setenv("GDR_C_HIDDEN", "hunter2-from-the-environment", 1);
	path = write_tmp("full.yaml", full_config);
	CHECK(config_init(&c) == 0 && config_load(&c, path) == 0, "load full");
	free(path);
	before = dump_all(&c);

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		int ret;

		path = write_tmp("bad.yaml", b->text);
		capture_begin();
		ret = config_load(&c, path);
		err = capture_end();
		CHECK(ret == -EINVAL, "[%s] returned %d, not -EINVAL", b->name, ret);
		snprintf(want, sizeof(want), "%s:%d: %s%s", path, b->line, b->key ? b->key : "",
			 b->key ? ": " : "");
		CHECK(strstr(err, want), "[%s] message\n  %s\nlacks\n  %s", b->name, err, want);
		CHECK(strstr(err, b->what), "[%s] message\n  %s\nlacks\n  %s", b->name, err, b->what);
		CHECK(count_lines(err) == 1, "[%s] not exactly one line:\n%s", b->name, err);
		CHECK(!strstr(err, "hunter2"), "[%s] secret echoed: %s", b->name, err);
		after = dump_all(&c);
		CHECK(!strcmp(before, after), "[%s] cfg changed on error:\n%s", b->name, after);
		CHECK(!strcmp(c.api.token, TOKEN), "[%s] token changed", b->name);
		CHECK(c.source && strstr(c.source, "full.yaml"), "[%s] source changed", b->name);
		free(after);
		free(err);
		free(path);
	}
	printf("%zu bad files rejected\n", i);

	/* a scalar longer than the limit */
	{
		char *text = malloc(5000 + 32);

		strcpy(text, "collector:\n  record_file: ");
		memset(text + strlen(text), 'a', 5000);
		strcpy(text + strlen("collector:\n  record_file: ") + 5000, "\n");
		path = write_tmp("long.yaml", text);
		capture_begin();
		CHECK(config_load(&c, path) == -EINVAL, "long scalar accepted");
		err = capture_end();
		CHECK(strstr(err, ":2: collector.record_file: value is longer than 4096 bytes"), "%s", err);
		free(err);
		free(path);
		free(text);
	}

	/* 65 interfaces: the 65th item is named */
	{
		char text[2048] = "collector:\n  interfaces:\n";
		int n;

		for (n = 0; n < 65; n++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "    - v%d\n", n);
		path = write_tmp("ifaces65.yaml", text);
		capture_begin();
		CHECK(config_load(&c, path) == -EINVAL, "65 interfaces accepted");
		err = capture_end();
		CHECK(strstr(err, ":67: collector.interfaces: lists more than 64 interfaces"), "%s", err);
		free(err);
		free(path);
	}

	/* 65 protected ports: the 65th item is named; 64 are fine */
	{
		char text[2048] = "rules:\n  protected_ports:\n";
		struct guarder_config ok;
		int n;

		for (n = 1; n <= 65; n++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "    - %d\n", n);
		path = write_tmp("ports65.yaml", text);
		capture_begin();
		CHECK(config_load(&c, path) == -EINVAL, "65 ports accepted");
		err = capture_end();
		CHECK(strstr(err, ":67: rules.protected_ports: lists more than 64 items"), "%s", err);
		free(err);
		free(path);
		*strstr(text, "    - 65\n") = '\0';
		path = write_tmp("ports64.yaml", text);
		CHECK(config_init(&ok) == 0 && config_load(&ok, path) == 0, "64 ports refused");
		CHECK(ok.rules.n_protected_ports == 64 && ok.rules.protected_ports[63].first == 64,
		      "64 ports");
		config_free(&ok);
		free(path);
	}

	/* a file too big, a directory, a missing file */
	{
		char *text = malloc(1024 * 1024 + 2);

		memset(text, '#', 1024 * 1024 + 1);
		text[1024 * 1024 + 1] = '\0';
		path = write_tmp("big.yaml", text);
		capture_begin();
		CHECK(config_load(&c, path) == -EFBIG, "1 MiB + 1 accepted");
		err = capture_end();
		CHECK(strstr(err, "larger than 1048576 bytes"), "%s", err);
		free(err);
		free(path);
		free(text);
	}
	capture_begin();
	CHECK(config_load(&c, tmpdir) == -EINVAL, "a directory accepted");
	err = capture_end();
	CHECK(strstr(err, "not a regular file"), "%s", err);
	free(err);
	capture_begin();
	CHECK(config_load(&c, "/nonexistent/gdr-c.yaml") == -ENOENT, "missing file");
	err = capture_end();
	CHECK(strstr(err, "/nonexistent/gdr-c.yaml: cannot open: No such file"), "%s", err);
	free(err);

	after = dump_all(&c);
	CHECK(!strcmp(before, after), "cfg changed by the file errors");
	free(after);
	free(before);
	config_free(&c);
}

/* ---- docs stay in sync with the key table ---- */

static void test_docs(void)
{
	char *doc = read_all(CONFIG_DOC), *example = read_all(EXAMPLE_CONFIG);
	char *keys = NULL, *begin, *end, needle[128];
	size_t len = 0, i;
	FILE *m;

	m = open_memstream(&keys, &len);
	config_print_keys(m);
	fclose(m);
	begin = strstr(doc, "<!-- keys:begin -->\n");
	end = strstr(doc, "<!-- keys:end -->");
	CHECK(begin && end && end > begin, "%s has no keys:begin/keys:end markers", CONFIG_DOC);
	begin += strlen("<!-- keys:begin -->\n");
	CHECK((size_t)(end - begin) == len && !strncmp(begin, keys, len),
	      "the key reference in %s is stale: regenerate it with\n"
	      "  test_config --keys-markdown\nand paste it between the markers", CONFIG_DOC);

	/* every key in the example, with a line "  leaf:" (or "  # leaf:") */
	for (i = 0; i < config_key_count(); i++) {
		const char *name = config_key_name(i), *leaf = strrchr(name, '.');

		leaf = leaf ? leaf + 1 : name;
		snprintf(needle, sizeof(needle), " %s:", leaf);
		CHECK(strstr(example, needle), "%s lacks key %s", EXAMPLE_CONFIG, name);
		snprintf(needle, sizeof(needle), "`%s`", name);
		CHECK(strstr(doc, needle), "%s lacks %s", CONFIG_DOC, name);
	}
	CHECK(config_key_name(config_key_count()) == NULL, "key past the end");
	free(keys);
	free(doc);
	free(example);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--keys-markdown")) {
		config_print_keys(stdout);
		return 0;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	atexit(cleanup);

	test_defaults();
	test_enum_words();
	test_example();
	test_full_file();
	test_production();
	test_odd_but_good();
	test_set();
	test_dump_round_trip();
	test_bad_files();
	test_docs();

	printf("%u passed, 0 failed\n", n_passed);
	return 0;
}
