// SPDX-License-Identifier: GPL-2.0
/*
 * The rule model: strict parsing (a table of bad bodies, each with the
 * error it must give), the reference README's bodies, defaults, CIDR and
 * ranges, partial update, canonical round trip, match-all, protected
 * overlap, sorting, and the reference matcher on the first-pass defects
 * of the original (an ICMP type 0 rule, inner conditions, TCP flags).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "rule.h"

static int passed;

#define EXPECT(cond)                             \
	do {                                     \
		int failures_before = failures;  \
		CHECK(cond);                     \
		if (failures == failures_before) \
			passed++;                \
	} while (0)

static int parse_stored(const char *body, struct rule *r, char *err)
{
	return rule_from_json_str(body, strlen(body), RULE_PARSE_STORED, r, NULL, err,
				  RULE_ERR_LEN);
}

static int parse(const char *body, struct rule *r, struct rule_parse_info *info, char *err)
{
	return rule_from_json_str(body, strlen(body), 0, r, info, err, RULE_ERR_LEN);
}

/* Each bad body and a substring its error must contain (the field first). */
static const struct {
	const char *body;
	const char *error;
} bad[] = {
	/* body shape */
	{ "", "body: " },
	{ "[]", "body: must be a JSON object" },
	{ "42", "body: must be a JSON object" },
	{ "\"drop\"", "body: must be a JSON object" },
	{ "null", "body: must be a JSON object" },
	{ "{\"action\":\"drop\"", "body: truncated" },
	{ "{\"action\":\"drop\"} x", "body: unexpected data" },
	{ "{\"action\":\"drop\"}{}", "body: unexpected data" },
	{ "{'action':'drop'}", "body: invalid JSON" },
	{ "{\"action\":\"drop\",}", "body: invalid JSON" },
	/* a repeated key: json-c alone would keep the last (issue 15) */
	{ "{\"action\":\"drop\",\"action\":\"allow\"}",
	  "body: duplicate key \"action\" at byte 17" },
	{ "{\"action\":\"drop\",\"\\u0061ction\":\"allow\"}", "body: duplicate key \"action\"" },
	{ "{\"action\":\"drop\",\"src_ip\":\"10.0.0.1\",\"src_ip\":\"\"}",
	  "body: duplicate key \"src_ip\" at byte 37" },
	{ "{\"action\":\"drop\",\"comment\":\"a\tb\"}", "body: control character 0x09" },
	{ "{\"action\":\"drop\",\"priority\":NaN}", "body: invalid JSON" },
	/* action */
	{ "{}", "action: required (allow or drop)" },
	{ "{\"rule_type\":\"icmp\",\"protocol\":\"icmp\",\"icmp_type\":3,\"inner_protocol\":\"udp\","
	  "\"inner_dst_ip\":\"\",\"comment\":\"Block ICMP errors exposing DNS queries\"}",
	  "action: required" },
	{ "{\"action\":\"block\"}", "action: \"block\" is not" },
	{ "{\"action\":\"DROP\"}", "action: " },
	{ "{\"action\":1}", "action: must be" },
	{ "{\"action\":null}", "action: must be" },
	/* unknown fields and types */
	{ "{\"action\":\"drop\",\"dst_prot\":80}", "dst_prot: unknown field" },
	{ "{\"action\":\"drop\",\"Action\":\"drop\"}", "Action: unknown field" },
	{ "{\"action\":\"drop\",\"hits\":0}", "hits: unknown field" },
	{ "{\"action\":\"drop\",\"id\":-1}", "id: " },
	{ "{\"action\":\"drop\",\"id\":\"3\"}", "id: must be an integer" },
	{ "{\"action\":\"drop\",\"id\":2147483648}", "id: 2147483648 is out of range" },
	{ "{\"action\":\"drop\",\"id\":1.5}", "id: must be an integer" },
	{ "{\"action\":\"drop\",\"enabled\":1}", "enabled: must be true or false" },
	{ "{\"action\":\"drop\",\"enabled\":\"true\"}", "enabled: must be true or false" },
	{ "{\"action\":\"drop\",\"rule_type\":\"ip\"}", "rule_type: \"ip\" is not one of" },
	{ "{\"action\":\"drop\",\"rule_type\":3}", "rule_type: must be a string" },
	{ "{\"action\":\"drop\",\"protocol\":\"sctp\"}", "protocol: \"sctp\" is not one of" },
	{ "{\"action\":\"drop\",\"protocol\":6}", "protocol: must be a string" },
	{ "{\"action\":\"drop\",\"priority\":\"1\"}", "priority: must be an integer" },
	{ "{\"action\":\"drop\",\"priority\":1000001}", "priority: 1000001 is out of range" },
	{ "{\"action\":\"drop\",\"priority\":-1000001}", "priority: -1000001 is out of range" },
	{ "{\"action\":\"drop\",\"force\":\"yes\"}", "force: must be true or false" },
	/* addresses */
	{ "{\"action\":\"drop\",\"src_ip\":\"10.0.0.300\"}",
	  "src_ip: \"10.0.0.300\" is not an IPv4 or IPv6 address or CIDR" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.0/33\"}",
	  "dst_ip: prefix length /33 is over 32" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"2001:db8::/129\"}", "dst_ip: prefix length /129" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.0/\"}", "dst_ip: \"10.0.0.0/\" is not" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.0/+8\"}", "dst_ip: " },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.0/ 8\"}", "dst_ip: " },
	{ "{\"action\":\"drop\",\"dst_ip\":\" 10.0.0.1\"}", "dst_ip: " },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.1 \"}",
	  "dst_ip: \"10.0.0.1 \" is not an IPv4 or IPv6 address or CIDR" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.0/8 \"}", "dst_ip: " },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.0/08\"}", "dst_ip: \"10.0.0.0/08\" is not" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"01.2.3.4\"}", "dst_ip: \"01.2.3.4\" is not" },
	{ "{\"action\":\"drop\",\"protocol\":\"6\"}", "protocol: \"6\" is not one of" },
	{ "{\"action\":\"drop\",\"protocol\":\"TCP\"}", "protocol: \"TCP\" is not one of" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"example.com\"}", "dst_ip: \"example.com\" is not" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"::ffff:10.0.0.1\"}",
	  "dst_ip: \"::ffff:10.0.0.1\" is an IPv4-mapped" },
	{ "{\"action\":\"drop\",\"dst_ip\":167772161}", "dst_ip: must be a string" },
	{ "{\"action\":\"drop\",\"dst_ip\":\"10.0.0.1\\u0000x\"}", "dst_ip: contains a NUL" },
	{ "{\"action\":\"drop\",\"src_ip\":\"10.0.0.1\",\"dst_ip\":\"2001:db8::1\"}",
	  "dst_ip: an IPv6 address with an IPv4 src_ip" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"protocol\":\"icmp\",\"dst_ip\":\"2001:db8::1\"}",
	  "protocol: icmp is ICMP over IPv4" },
	{ "{\"action\":\"drop\",\"protocol\":\"icmpv6\",\"dst_ip\":\"10.0.0.1\"}",
	  "protocol: icmpv6 cannot match IPv4" },
	{ "{\"action\":\"drop\",\"inner_src_ip\":\"10.0.0.x\",\"rule_type\":\"icmp\"}",
	  "inner_src_ip: " },
	/* ports */
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":65536}",
	  "dst_port: 65536 is out of range" },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":-1}",
	  "dst_port: -1 is out of range" },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":\"2000-1000\"}",
	  "dst_port: range \"2000-1000\" starts above its end" },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":\"1000-70000\"}",
	  "dst_port: \"1000-70000\" is out of range" },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":\"http\"}",
	  "dst_port: \"http\" is not a port" },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":\"1-2-3\"}",
	  "dst_port: \"1-2-3\" is not" },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":\"80 \"}", "dst_port: " },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":\"-80\"}", "dst_port: " },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":80.0}",
	  "dst_port: must be a port number" },
	{ "{\"action\":\"drop\",\"protocol\":\"tcp\",\"dst_port\":[80]}",
	  "dst_port: must be a port number" },
	{ "{\"action\":\"drop\",\"dst_port\":80}", "dst_port: ports need protocol tcp or udp" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"src_port\":80}",
	  "src_port: ports need protocol tcp or udp (this rule: icmp)" },
	/* type vs protocol */
	{ "{\"action\":\"drop\",\"rule_type\":\"tcp\",\"protocol\":\"udp\"}",
	  "protocol: udp does not fit rule_type tcp" },
	{ "{\"action\":\"drop\",\"rule_type\":\"udp\",\"protocol\":\"tcp\"}",
	  "protocol: tcp does not fit rule_type udp" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"protocol\":\"tcp\"}",
	  "protocol: tcp does not fit rule_type icmp" },
	{ "{\"action\":\"drop\",\"rule_type\":\"tcp\",\"protocol\":\"icmp\"}",
	  "protocol: icmp does not fit rule_type tcp" },
	/* TCP flags */
	{ "{\"action\":\"drop\",\"rule_type\":\"udp\",\"tcp_flags\":2}",
	  "tcp_flags: TCP flags need protocol tcp" },
	{ "{\"action\":\"drop\",\"tcp_flags_mask\":2}",
	  "tcp_flags_mask: TCP flags need protocol tcp" },
	{ "{\"action\":\"drop\",\"rule_type\":\"tcp\",\"tcp_flags\":18,\"tcp_flags_mask\":2}",
	  "tcp_flags: 18 has bits outside tcp_flags_mask 2" },
	{ "{\"action\":\"drop\",\"rule_type\":\"tcp\",\"tcp_flags\":256}",
	  "tcp_flags: 256 is out of range" },
	{ "{\"action\":\"drop\",\"rule_type\":\"tcp\",\"tcp_flags\":\"SYN\"}",
	  "tcp_flags: must be an integer" },
	/* ICMP */
	{ "{\"action\":\"drop\",\"rule_type\":\"tcp\",\"icmp_type\":8}",
	  "icmp_type: only on icmp rules" },
	{ "{\"action\":\"drop\",\"rule_type\":\"udp\",\"icmp_code\":0}",
	  "icmp_code: only on icmp rules" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_type\":256}",
	  "icmp_type: 256 is out of range" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_type\":\"8\"}",
	  "icmp_type: must be an integer" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_code\":-1}",
	  "icmp_code: -1 is out of range" },
	/* inner fields */
	{ "{\"action\":\"drop\",\"rule_type\":\"tcp\",\"inner_protocol\":\"udp\"}",
	  "inner_protocol: inner fields only match ICMP error messages" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_type\":8,\"inner_protocol\":\"udp\"}",
	  "inner_protocol: inner fields only match ICMP error messages and icmp_type 8 is not one" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_type\":0,\"inner_dst_ip\":\"10.0.0.1\"}",
	  "inner_dst_ip: inner fields only match ICMP error messages" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"inner_dst_port\":53}",
	  "inner_dst_port: inner ports need inner_protocol tcp or udp" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"protocol\":\"icmp\",\"inner_dst_ip\":\"2001:db8::1\"}",
	  "inner_dst_ip: an icmp error quotes an IPv4 packet" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"protocol\":\"icmp\",\"inner_protocol\":\"icmpv6\"}",
	  "inner_protocol: icmpv6 cannot be quoted by an icmp error" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"inner_src_ip\":\"10.0.0.1\",\"inner_dst_ip\":\"2001:db8::1\"}",
	  "inner_dst_ip: an IPv6 address with an IPv4 inner_src_ip" },
	{ "{\"action\":\"drop\",\"rule_type\":\"icmp\",\"inner_protocol\":\"gre\"}",
	  "inner_protocol: \"gre\" is not one of" },
	/* comment */
	{ "{\"action\":\"drop\",\"comment\":\"a\\nb\"}", "comment: contains a control character" },
	{ "{\"action\":\"drop\",\"comment\":\"\\u001b[31m\"}",
	  "comment: contains a control character" },
	{ "{\"action\":\"drop\",\"comment\":\"a\\u0000b\"}", "comment: contains a NUL" },
	{ "{\"action\":\"drop\",\"comment\":\"\\u0085\"}",
	  "comment: contains a control character" },
	{ "{\"action\":\"drop\",\"comment\":7}", "comment: must be a string" },
	/* expiry */
	{ "{\"action\":\"drop\",\"expires_at\":\"tomorrow\"}",
	  "expires_at: \"tomorrow\" is not an RFC 3339 time" },
	{ "{\"action\":\"drop\",\"expires_at\":\"2030-02-30T00:00:00Z\"}",
	  "expires_at: \"2030-02-30T00:00:00Z\" is not" },
	{ "{\"action\":\"drop\",\"expires_at\":\"2030-01-01 00:00:00\"}", "expires_at: " },
	{ "{\"action\":\"drop\",\"expires_at\":\"2030-01-01T00:00:00\"}", "expires_at: " },
	{ "{\"action\":\"drop\",\"expires_at\":\"2001-01-01T00:00:00Z\"}",
	  "expires_at: 2001-01-01T00:00:00Z is not in the future" },
	{ "{\"action\":\"drop\",\"expires_at\":1000}",
	  "expires_at: 1970-01-01T00:16:40Z is not in the future" },
	{ "{\"action\":\"drop\",\"expires_at\":-5}", "expires_at: -5 is out of range" },
	{ "{\"action\":\"drop\",\"expires_at\":true}", "expires_at: must be" },
	{ "{\"action\":\"drop\",\"expires_at\":\"2030-01-01T00:00:00+01\"}",
	  "expires_at: \"2030-01-01T00:00:00+01\" is not" },
	{ "{\"action\":\"drop\",\"expires_at\":\"2030-01-01T24:00:00Z\"}", "expires_at: " },
	{ "{\"action\":\"drop\",\"expires_at\":\"2030-01-01T00:00:00.Z\"}", "expires_at: " },
	{ "{\"action\":\"drop\",\"expires_at\":253402300800}",
	  "expires_at: 253402300800 is out of range" },
};

static void test_bad_table(void)
{
	char err[RULE_ERR_LEN];
	struct rule r;
	size_t i;

	CHECK(sizeof(bad) / sizeof(bad[0]) >= 50);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i].body, &r, NULL, err);

		if (rc != -EINVAL || !strstr(err, bad[i].error)) {
			fprintf(stderr, "bad body %zu: %s\n  rc %d, error \"%s\", want \"%s\"\n", i,
				bad[i].body, rc, err, bad[i].error);
			failures++;
			continue;
		}
		if (getenv("SHOW_ERRORS"))
			printf("%-70.70s -> %s\n", bad[i].body, err);
		passed++;
	}
}

/* Every body of the reference README that names an action. */
static const char *const readme_good[] = {
	"{ \"rule_type\": \"icmp\", \"protocol\": \"icmp\", \"icmp_type\": 8, \"icmp_code\": 0, \"action\": \"drop\", \"enabled\": false, \"comment\": \"Block all ICMP ping requests (Echo Request)\" }",
	"{ \"rule_type\": \"icmp\", \"protocol\": \"icmp\", \"icmp_type\": 3, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block ICMP Destination Unreachable messages\" }",
	"{ \"rule_type\": \"icmp\", \"protocol\": \"icmp\", \"icmp_type\": 4, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block ICMP Source Quench messages\" }",
	"{ \"rule_type\": \"icmp\", \"protocol\": \"icmp\", \"icmp_type\": 3, \"inner_protocol\": \"udp\", \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block ICMP Destination Unreachable with inner UDP packets\" }",
	"{ \"rule_type\": \"icmp\", \"protocol\": \"icmp\", \"icmp_type\": 11, \"inner_protocol\": \"udp\", \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block UDP traceroute attempts (ICMP Time Exceeded)\" }",
	"{ \"rule_type\": \"icmp\", \"protocol\": \"icmp\", \"icmp_type\": 8, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block all ICMP Echo Requests (comprehensive ping block)\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 23, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block Telnet (insecure remote access)\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 135, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block RPC Endpoint Mapper (Windows vulnerability)\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 445, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block SMB/CIFS (ransomware vector)\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 139, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block NetBIOS Session Service\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 1433, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block MS SQL Server (external access)\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 3306, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block MySQL (external access)\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 3389, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block RDP (brute force target)\" }",
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"dst_port\": 5900, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block VNC (insecure remote access)\" }",
	"{ \"rule_type\": \"icmp\", \"icmp_type\": 8, \"icmp_code\": 0, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block ICMP ping requests\" }",
	/* the AI response example's filter */
	"{ \"rule_type\": \"tcp\", \"protocol\": \"tcp\", \"tcp_flags\": 2, \"tcp_flags_mask\": 2, \"action\": \"drop\", \"enabled\": true, \"comment\": \"Block TCP SYN scanning attacks\" }",
};

static void test_readme_bodies(void)
{
	char err[RULE_ERR_LEN];
	struct rule r;
	size_t i;

	for (i = 0; i < sizeof(readme_good) / sizeof(readme_good[0]); i++) {
		int rc = parse(readme_good[i], &r, NULL, err);

		if (rc) {
			fprintf(stderr, "README body %zu refused: %s\n", i, err);
			failures++;
			continue;
		}
		passed++;
		EXPECT(r.action == RULE_ACTION_DROP);
		EXPECT(!rule_is_match_all(&r));
	}
	/* Example 1 in detail: type 8 code 0 exactly, disabled. */
	EXPECT(parse(readme_good[0], &r, NULL, err) == 0);
	EXPECT(r.type == RULE_TYPE_ICMP && r.protocol == RULE_PROTO_ICMP);
	EXPECT(r.icmp_type == 8 && r.icmp_code == 0 && !r.enabled);
	/* Example 4: Telnet. */
	EXPECT(parse(readme_good[6], &r, NULL, err) == 0);
	EXPECT(r.protocol == RULE_PROTO_TCP && r.dport.lo == 23 && r.dport.hi == 23 &&
	       r.sport.lo == 0 && r.sport.hi == 0 && r.enabled);
	/* The README's PUT body is a valid partial update (tested below). */
}

static void test_defaults(void)
{
	struct rule_parse_info info;
	char err[RULE_ERR_LEN];
	struct rule r;

	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"tcp\",\"dst_port\":22}", &r, &info,
		     err) == 0);
	EXPECT(r.protocol == RULE_PROTO_TCP); /* from rule_type */
	EXPECT(!r.enabled); /* omitted enabled is false */
	EXPECT(r.icmp_type == 255 && r.icmp_code == 255);
	EXPECT(r.priority == RULE_PRIORITY_DEFAULT && r.expires_at == 0);
	EXPECT(!info.has_id && !info.force);
	EXPECT(r.src.family == 0 && r.dst.family == 0 && r.comment[0] == '\0');

	EXPECT(parse("{\"action\":\"allow\",\"rule_type\":\"udp\"}", &r, NULL, err) == 0);
	EXPECT(r.protocol == RULE_PROTO_UDP && r.action == RULE_ACTION_ALLOW);
	/* A typed rule with protocol any gets the type's protocol: tcp never matches UDP. */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"tcp\",\"protocol\":\"any\"}", &r, NULL,
		     err) == 0);
	EXPECT(r.protocol == RULE_PROTO_TCP);
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"icmp\",\"protocol\":\"\"}", &r, NULL,
		     err) == 0);
	EXPECT(r.protocol == RULE_PROTO_ICMP);
	EXPECT(parse("{\"action\":\"drop\"}", &r, NULL, err) == 0);
	EXPECT(r.type == RULE_TYPE_BASIC && r.protocol == RULE_PROTO_ANY);
	/* icmp rule with IPv6 addresses: ICMPv6. */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_type\":128,\"src_ip\":"
		     "\"2001:db8::/32\"}",
		     &r, NULL, err) == 0);
	EXPECT(r.protocol == RULE_PROTO_ICMPV6);
	/* tcp_flags without a mask: mask = tcp_flags. */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"tcp\",\"tcp_flags\":18}", &r, NULL,
		     err) == 0);
	EXPECT(r.tcp_flags == 18 && r.tcp_flags_mask == 18);
	/* flags 0 under a mask: "SYN not set". */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"tcp\",\"tcp_flags\":0,"
		     "\"tcp_flags_mask\":2}",
		     &r, NULL, err) == 0);
	EXPECT(r.tcp_flags == 0 && r.tcp_flags_mask == 2);
	/* Client id, force. */
	EXPECT(parse("{\"action\":\"drop\",\"id\":7,\"force\":true}", &r, &info, err) == 0);
	EXPECT(info.has_id && info.force && r.id == 7);
	/* force is never part of a stored rule. */
	EXPECT(parse_stored("{\"id\":1,\"action\":\"drop\",\"force\":true}", &r, err) == -EINVAL);
	EXPECT(strstr(err, "force: unknown field") != NULL);
	EXPECT(parse_stored("{\"action\":\"drop\"}", &r, err) == -EINVAL);
	EXPECT(strstr(err, "id: required") != NULL);
	/* A stored rule whose expiry went by still loads. */
	EXPECT(parse_stored("{\"id\":1,\"action\":\"drop\",\"expires_at\":1000}", &r, err) == 0);
	EXPECT(r.expires_at == 1000 && !rule_is_active(&r, (__u64)time(NULL)));
	/* Whitespace around the body is fine. */
	EXPECT(parse(" \n{\"action\":\"drop\"}\r\n ", &r, NULL, err) == 0);
	/* 255 bytes of comment are fine, UTF-8 too. */
	{
		char body[400];
		char c[256];

		memset(c, 'x', 255);
		c[255] = '\0';
		snprintf(body, sizeof(body), "{\"action\":\"drop\",\"comment\":\"%s\"}", c);
		EXPECT(parse(body, &r, NULL, err) == 0 && strlen(r.comment) == 255);
		snprintf(body, sizeof(body), "{\"action\":\"drop\",\"comment\":\"%sx\"}", c);
		EXPECT(parse(body, &r, NULL, err) == -EINVAL);
		EXPECT(strstr(err, "comment: 256 bytes is over the limit of 255") != NULL);
		EXPECT(parse("{\"action\":\"drop\",\"comment\":\"caf\xc3\xa9 \xe2\x9c\x93\"}", &r,
			     NULL, err) == 0);
		EXPECT(strcmp(r.comment, "caf\xc3\xa9 \xe2\x9c\x93") == 0);
	}
	/* Invalid UTF-8 in the raw body. */
	EXPECT(parse("{\"action\":\"drop\",\"comment\":\"\xc3\x28\"}", &r, NULL, err) == -EINVAL);
	EXPECT(strstr(err, "body: ") != NULL);
	/* Expiry in both input forms, RFC 3339 offsets honoured. */
	EXPECT(parse("{\"action\":\"drop\",\"expires_at\":\"2099-01-01T01:00:00+01:00\"}", &r, NULL,
		     err) == 0);
	EXPECT(r.expires_at == 4070908800ull);
	EXPECT(parse("{\"action\":\"drop\",\"expires_at\":\"2099-01-01T00:00:00.999Z\"}", &r, NULL,
		     err) == 0);
	EXPECT(r.expires_at == 4070908800ull);
	EXPECT(parse("{\"action\":\"drop\",\"expires_at\":\"2098-12-31t19:00:00-05:00\"}", &r, NULL,
		     err) == 0);
	EXPECT(r.expires_at == 4070908800ull);
	EXPECT(parse("{\"action\":\"drop\",\"expires_at\":4070908800}", &r, NULL, err) == 0);
	EXPECT(r.expires_at == 4070908800ull);
	EXPECT(parse("{\"action\":\"drop\",\"expires_at\":null}", &r, NULL, err) == 0);
	EXPECT(r.expires_at == 0);
	EXPECT(parse("{\"action\":\"drop\",\"expires_at\":0}", &r, NULL, err) == 0);
	EXPECT(r.expires_at == 0);
	/* NUL inside the text is not JSON. */
	EXPECT(rule_from_json_str("{\"action\":\"drop\"}\0", 18, 0, &r, NULL, err, sizeof(err)) ==
	       -EINVAL);
	EXPECT(strstr(err, "body: contains a NUL") != NULL);
}

static void test_addresses_and_ports(void)
{
	char err[RULE_ERR_LEN], buf[NET_STRLEN];
	struct net_prefix a;
	struct rule r;
	__u32 want[4];

	EXPECT(rule_addr_parse("x", "10.1.2.3/8", &a, err, sizeof(err)) == 0);
	test_addr("10.0.0.0", want);
	EXPECT(a.family == 4 && a.prefix == 104 && memcmp(a.addr, want, 16) == 0);
	EXPECT(net_format(&a, 0, buf, sizeof(buf)) > 0 && strcmp(buf, "10.0.0.0/8") == 0);
	EXPECT(rule_addr_parse("x", "192.168.1.1", &a, err, sizeof(err)) == 0);
	EXPECT(a.family == 4 && a.prefix == 128);
	EXPECT(net_format(&a, 0, buf, sizeof(buf)) > 0 && strcmp(buf, "192.168.1.1") == 0);
	EXPECT(rule_addr_parse("x", "0.0.0.0/0", &a, err, sizeof(err)) == 0);
	EXPECT(a.family == 4 && a.prefix == 96);
	EXPECT(rule_addr_parse("x", "2001:db8:ff::1/32", &a, err, sizeof(err)) == 0);
	test_addr("2001:db8::", want);
	EXPECT(a.family == 6 && a.prefix == 32 && memcmp(a.addr, want, 16) == 0);
	EXPECT(net_format(&a, 0, buf, sizeof(buf)) > 0 && strcmp(buf, "2001:db8::/32") == 0);
	EXPECT(rule_addr_parse("x", "::/0", &a, err, sizeof(err)) == 0);
	EXPECT(a.family == 6 && a.prefix == 0);
	EXPECT(net_format(&a, 0, buf, sizeof(buf)) > 0 && strcmp(buf, "::/0") == 0);
	EXPECT(rule_addr_parse("x", "fe80::1", &a, err, sizeof(err)) == 0 && a.prefix == 128);
	EXPECT(rule_addr_parse("x", "", &a, err, sizeof(err)) == 0 && a.family == 0);
	EXPECT(rule_addr_parse("x", "any", &a, err, sizeof(err)) == 0 && a.family == 0);
	EXPECT(net_format(&a, 0, buf, sizeof(buf)) == 0 && buf[0] == '\0');
	EXPECT(net_format(&(struct net_prefix){ .family = 6,
						.prefix = 128,
						.addr = { 0xffffffff, 0xffffffff, 0xffffffff,
							  0xffffffff } },
			  0, buf, 8) == -ENOSPC);

	/* overlap */
	{
		struct net_prefix n8, n16, o16, v6;

		rule_addr_parse("x", "10.0.0.0/8", &n8, err, sizeof(err));
		rule_addr_parse("x", "10.1.0.0/16", &n16, err, sizeof(err));
		rule_addr_parse("x", "11.1.0.0/16", &o16, err, sizeof(err));
		rule_addr_parse("x", "2001:db8::/32", &v6, err, sizeof(err));
		EXPECT(net_overlap(&n8, &n16) && net_overlap(&n16, &n8));
		EXPECT(!net_overlap(&n8, &o16));
		EXPECT(!net_overlap(&n8, &v6));
		memset(&a, 0, sizeof(a));
		EXPECT(net_overlap(&a, &v6) && net_overlap(&n8, &a));
	}

	/* port ranges, numbers and strings */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"udp\",\"dst_port\":\"1000-2000\","
		     "\"src_port\":\"53\"}",
		     &r, NULL, err) == 0);
	EXPECT(r.dport.lo == 1000 && r.dport.hi == 2000 && r.sport.lo == 53 && r.sport.hi == 53);
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"udp\",\"dst_port\":\"0-65535\"}", &r,
		     NULL, err) == 0);
	EXPECT(r.dport.lo == 0 && r.dport.hi == 0);
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"udp\",\"dst_port\":\"0\"}", &r, NULL,
		     err) == 0);
	EXPECT(r.dport.lo == 0 && r.dport.hi == 0);
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"udp\",\"dst_port\":65535}", &r, NULL,
		     err) == 0);
	EXPECT(r.dport.lo == 65535 && r.dport.hi == 65535);
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"tcp\",\"dst_port\":\"0-1023\"}", &r,
		     NULL, err) == 0);
	EXPECT(r.dport.lo == 0 && r.dport.hi == 1023);
	/* inner ports */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_type\":3,"
		     "\"inner_protocol\":\"udp\",\"inner_dst_port\":53,\"inner_src_port\":"
		     "\"1024-65535\",\"inner_dst_ip\":\"8.8.8.0/24\"}",
		     &r, NULL, err) == 0);
	EXPECT(r.inner_dport.lo == 53 && r.inner_sport.lo == 1024 && r.inner_sport.hi == 65535);
	EXPECT(r.inner_protocol == RULE_PROTO_UDP && r.inner_dst.prefix == 120);
	/* IPv6 rule with ranges */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"tcp\",\"src_ip\":\"2001:db8::/48\","
		     "\"dst_ip\":\"2001:db8:1::1\",\"dst_port\":\"8000-8080\"}",
		     &r, NULL, err) == 0);
	EXPECT(r.src.family == 6 && r.src.prefix == 48 && r.dst.prefix == 128);
	/* the IANA keyword records used to carry is read as icmpv6, written as icmpv6 */
	EXPECT(parse("{\"action\":\"drop\",\"rule_type\":\"icmp\",\"protocol\":\"ipv6-icmp\","
		     "\"inner_protocol\":\"ipv6-icmp\",\"icmp_type\":1}",
		     &r, NULL, err) == 0);
	EXPECT(r.protocol == RULE_PROTO_ICMPV6 && r.inner_protocol == RULE_PROTO_ICMPV6);
	{
		struct json_object *o = rule_to_json(&r), *v;

		EXPECT(o && json_object_object_get_ex(o, "protocol", &v) &&
		       strcmp(json_object_get_string(v), "icmpv6") == 0);
		EXPECT(o && json_object_object_get_ex(o, "inner_protocol", &v) &&
		       strcmp(json_object_get_string(v), "icmpv6") == 0);
		json_object_put(o);
	}
}

static void test_patch(void)
{
	struct rule_parse_info info;
	char err[RULE_ERR_LEN];
	struct rule old, r;
	const char *put = "{ \"id\": 0, \"action\": \"drop\", \"enabled\": false, \"comment\": "
			  "\"Temporarily disabled\" }";

	/*
	 * The reference zeroed every field PUT did not name: its own README
	 * example turned "drop Telnet" into "drop everything". Here the match
	 * fields survive.
	 */
	EXPECT(parse("{\"id\":0,\"rule_type\":\"tcp\",\"protocol\":\"tcp\",\"dst_port\":23,"
		     "\"src_ip\":\"192.0.2.0/24\",\"action\":\"drop\",\"enabled\":true,"
		     "\"priority\":5,\"comment\":\"telnet\"}",
		     &old, NULL, err) == 0);
	EXPECT(rule_patch_json_str(put, strlen(put), &old, &r, &info, err, sizeof(err)) == 0);
	EXPECT(info.has_id);
	EXPECT(!r.enabled && strcmp(r.comment, "Temporarily disabled") == 0);
	EXPECT(r.type == RULE_TYPE_TCP && r.protocol == RULE_PROTO_TCP);
	EXPECT(r.dport.lo == 23 && r.dport.hi == 23);
	EXPECT(memcmp(&r.src, &old.src, sizeof(r.src)) == 0 && r.priority == 5);
	EXPECT(!rule_is_match_all(&r));

	/* id in the body must be the rule's own */
	EXPECT(rule_patch_json_str("{\"id\":1}", 8, &old, &r, NULL, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "id: 1 does not match the rule's id 0") != NULL);
	/* the whole result is validated */
	EXPECT(rule_patch_json_str("{\"icmp_type\":8}", 15, &old, &r, NULL, err, sizeof(err)) ==
	       -EINVAL);
	EXPECT(strstr(err, "icmp_type: only on icmp rules") != NULL);
	EXPECT(rule_patch_json_str("{\"bogus\":1}", 11, &old, &r, NULL, err, sizeof(err)) ==
	       -EINVAL);
	EXPECT(strstr(err, "bogus: unknown field") != NULL);
	/* rule_type without protocol re-derives the protocol */
	EXPECT(rule_patch_json_str("{\"rule_type\":\"udp\"}", 19, &old, &r, NULL, err,
				   sizeof(err)) == 0);
	EXPECT(r.type == RULE_TYPE_UDP && r.protocol == RULE_PROTO_UDP && r.dport.lo == 23);
	/* to icmp: the port no longer fits and is named */
	EXPECT(rule_patch_json_str("{\"rule_type\":\"icmp\"}", 20, &old, &r, NULL, err,
				   sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "dst_port: ports need protocol tcp or udp") != NULL);
	/* empty patch: unchanged; expires_at null clears it */
	EXPECT(rule_patch_json_str("{}", 2, &old, &r, NULL, err, sizeof(err)) == 0);
	EXPECT(rule_equal(&r, &old));
	old.expires_at = 4070908800ull;
	EXPECT(rule_patch_json_str("{\"expires_at\":null}", 19, &old, &r, NULL, err, sizeof(err)) ==
	       0);
	EXPECT(r.expires_at == 0);
	EXPECT(rule_patch_json_str("{\"force\":true,\"dst_port\":0}", 27, &old, &r, &info, err,
				   sizeof(err)) == 0);
	EXPECT(info.force && !info.has_id && rule_is_match_all(&r) == false); /* src_ip stays */
	EXPECT(rule_patch_json_str("[]", 2, &old, &r, NULL, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "body: must be a JSON object") != NULL);
}

static void round_trip(const char *body)
{
	char err[RULE_ERR_LEN];
	struct json_object *o;
	struct rule a, b;
	const char *text;

	if (parse(body, &a, NULL, err)) {
		fprintf(stderr, "round trip body refused: %s: %s\n", body, err);
		failures++;
		return;
	}
	o = rule_to_json(&a);
	CHECK(o != NULL);
	if (!o)
		return;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	EXPECT(rule_from_json_str(text, strlen(text), RULE_PARSE_STORED, &b, NULL, err,
				  sizeof(err)) == 0);
	if (!rule_equal(&a, &b))
		fprintf(stderr, "round trip differs: %s -> %s\n", body, text);
	EXPECT(rule_equal(&a, &b));
	json_object_put(o);
}

static void test_round_trip_and_output(void)
{
	char err[RULE_ERR_LEN];
	struct json_object *o, *v;
	struct rule r;

	round_trip("{\"id\":3,\"action\":\"drop\"}");
	round_trip("{\"id\":2147483647,\"action\":\"allow\",\"rule_type\":\"tcp\",\"src_ip\":"
		   "\"10.0.0.0/8\",\"dst_ip\":\"10.1.2.3\",\"src_port\":\"1024-65535\","
		   "\"dst_port\":443,\"tcp_flags\":2,\"tcp_flags_mask\":18,\"enabled\":true,"
		   "\"priority\":-1000000,\"comment\":\"caf\xc3\xa9\"}");
	round_trip("{\"action\":\"drop\",\"rule_type\":\"icmp\",\"icmp_type\":1,\"icmp_code\":4,"
		   "\"src_ip\":\"2001:db8::/32\",\"inner_dst_ip\":\"2001:db8::53\","
		   "\"inner_protocol\":\"udp\",\"inner_dst_port\":53,\"priority\":1000000,"
		   "\"expires_at\":\"2099-06-30T12:00:00Z\"}");
	round_trip("{\"action\":\"drop\",\"protocol\":\"udp\",\"dst_ip\":\"::/0\"}");

	EXPECT(parse("{\"id\":4,\"action\":\"drop\",\"rule_type\":\"udp\",\"dst_port\":"
		     "\"1000-2000\",\"src_port\":53,\"expires_at\":4070908800}",
		     &r, NULL, err) == 0);
	o = rule_to_json(&r);
	CHECK(o != NULL);
	if (!o)
		return;
	EXPECT(json_object_object_get_ex(o, "dst_port", &v) &&
	       strcmp(json_object_get_string(v), "1000-2000") == 0);
	EXPECT(json_object_object_get_ex(o, "src_port", &v) &&
	       json_object_is_type(v, json_type_int) && json_object_get_int(v) == 53);
	EXPECT(json_object_object_get_ex(o, "src_ip", &v) &&
	       strcmp(json_object_get_string(v), "") == 0);
	EXPECT(json_object_object_get_ex(o, "expires_at", &v) &&
	       strcmp(json_object_get_string(v), "2099-01-01T00:00:00Z") == 0);
	EXPECT(json_object_object_get_ex(o, "protocol", &v) &&
	       strcmp(json_object_get_string(v), "udp") == 0);
	EXPECT(json_object_object_get_ex(o, "inner_protocol", &v) &&
	       strcmp(json_object_get_string(v), "any") == 0);
	EXPECT(json_object_object_get_ex(o, "icmp_type", &v) && json_object_get_int(v) == 255);
	EXPECT(json_object_object_get_ex(o, "enabled", &v) && !json_object_get_boolean(v));
	EXPECT(json_object_object_length(o) == 21);
	json_object_put(o);
	r.expires_at = 0;
	o = rule_to_json(&r);
	EXPECT(o && json_object_object_get_ex(o, "expires_at", &v) && v == NULL);
	json_object_put(o);
}

static int parse_ok(const char *body, struct rule *r)
{
	char err[RULE_ERR_LEN];
	int rc = parse(body, r, NULL, err);

	if (rc)
		fprintf(stderr, "refused: %s: %s\n", body, err);
	return rc;
}

static void test_match_all(void)
{
	static const struct {
		const char *body;
		bool all;
	} cases[] = {
		{ "{\"action\":\"drop\",\"enabled\":true}", true },
		{ "{\"action\":\"drop\",\"enabled\":false}", false },
		{ "{\"action\":\"allow\",\"enabled\":true}", false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\"}", true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"udp\"}", true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"icmp\"}", true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"src_ip\":\"0.0.0.0/0\"}", true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"dst_ip\":\"::/0\"}", true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"src_ip\":\"\",\"dst_ip\":\"\"}", true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"priority\":-5,\"comment\":\"x\"}",
		  true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"expires_at\":4070908800}", true },
		{ "{\"action\":\"drop\",\"enabled\":true,\"src_ip\":\"0.0.0.0/1\"}", false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"dst_port\":1}",
		  false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"tcp_flags\":2}",
		  false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"tcp_flags\":0,"
		  "\"tcp_flags_mask\":2}",
		  false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"icmp\",\"icmp_type\":0}",
		  false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"icmp\",\"icmp_code\":0}",
		  false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"icmp\",\"inner_protocol\":\"udp\"}",
		  false },
		{ "{\"action\":\"drop\",\"enabled\":true,\"dst_ip\":\"10.0.0.1\"}", false },
	};
	struct rule r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse_ok(cases[i].body, &r)) {
			failures++;
			continue;
		}
		if (rule_is_match_all(&r) != cases[i].all)
			fprintf(stderr, "match-all case %zu: %s\n", i, cases[i].body);
		EXPECT(rule_is_match_all(&r) == cases[i].all);
	}
}

static void cidr(const char *text, struct net_prefix *c)
{
	CHECK(net_parse(text, 0, c, NULL, 0) == 0);
}

static void test_protected(void)
{
	struct net_prefix nets[2];
	struct guarder_port_range ports[2] = { { 22, 22 }, { 8000, 8010 } };
	char why[RULE_ERR_LEN];
	struct rule r;

	cidr("10.1.0.0/16", &nets[0]);
	cidr("2001:db8:aa::/48", &nets[1]);
	EXPECT(nets[0].family == 4 && nets[0].prefix == 112);

#define TOUCH(body) \
	(parse_ok(body, &r) == 0 && rule_touches_protected(&r, nets, 2, ports, 2, why, sizeof(why)))
	EXPECT(TOUCH("{\"action\":\"drop\",\"enabled\":true,\"dst_ip\":\"10.0.0.0/8\"}"));
	EXPECT(strcmp(why, "dst_ip: 10.0.0.0/8 overlaps protected network 10.1.0.0/16") == 0);
	EXPECT(TOUCH("{\"action\":\"drop\",\"enabled\":true,\"src_ip\":\"10.1.2.3\"}"));
	EXPECT(strstr(why, "src_ip: 10.1.2.3 overlaps protected network 10.1.0.0/16") != NULL);
	EXPECT(TOUCH("{\"action\":\"drop\",\"enabled\":true,\"src_ip\":\"2001:db8::/32\"}"));
	EXPECT(strstr(why, "2001:db8:aa::/48") != NULL);
	EXPECT(TOUCH(
		"{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"dst_port\":22}"));
	EXPECT(strcmp(why, "dst_port: 22 includes protected port 22") == 0);
	EXPECT(TOUCH(
		"{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"udp\",\"src_port\":\"1-1024\"}"));
	EXPECT(TOUCH(
		"{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"dst_port\":\"8010-9000\"}"));
	EXPECT(strcmp(why, "dst_port: 8010-9000 overlaps protected ports 8000-8010") == 0);
	/* no overlap, allow rules, disabled rules, wildcard fields */
	EXPECT(!TOUCH("{\"action\":\"drop\",\"enabled\":true,\"dst_ip\":\"10.2.0.0/16\"}"));
	EXPECT(!TOUCH("{\"action\":\"drop\",\"enabled\":true,\"dst_ip\":\"2001:db8:ab::/48\"}"));
	EXPECT(!TOUCH(
		"{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"dst_port\":23}"));
	EXPECT(!TOUCH(
		"{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"dst_port\":\"7000-7999\"}"));
	EXPECT(!TOUCH("{\"action\":\"allow\",\"enabled\":true,\"dst_ip\":\"10.1.0.1\"}"));
	EXPECT(!TOUCH("{\"action\":\"drop\",\"enabled\":false,\"dst_ip\":\"10.1.0.1\"}"));
	EXPECT(!TOUCH("{\"action\":\"drop\",\"enabled\":true,\"dst_ip\":\"0.0.0.0/0\"}"));
	EXPECT(!TOUCH(
		"{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"icmp\",\"icmp_type\":3,"
		"\"inner_dst_ip\":\"10.1.0.1\"}"));
	EXPECT(!rule_touches_protected(&r, nets, 0, ports, 0, why, sizeof(why)));
	/* One named attacker may be dropped on a protected port... */
	EXPECT(!TOUCH("{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\","
		      "\"src_ip\":\"203.0.113.7\",\"dst_port\":22}"));
	EXPECT(!TOUCH("{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\","
		      "\"src_ip\":\"2001:db8:bad::7\",\"dst_port\":22}"));
	/* ...not a network of them, and never a host of a protected network. */
	EXPECT(TOUCH("{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\","
		     "\"src_ip\":\"203.0.113.0/31\",\"dst_port\":22}"));
	EXPECT(strcmp(why, "dst_port: 22 includes protected port 22") == 0);
	EXPECT(TOUCH("{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\","
		     "\"src_ip\":\"10.1.0.9\",\"dst_port\":22}"));
	EXPECT(strstr(why, "overlaps protected network 10.1.0.0/16") != NULL);
#undef TOUCH
}

static int cmp_check(const char *a, const char *b)
{
	struct rule x, y;

	if (parse_ok(a, &x) || parse_ok(b, &y))
		return 99;
	return rule_cmp(&x, &y);
}

static void test_sort(void)
{
	struct rule rs[4];
	const char *bodies[4] = { "{\"id\":5,\"action\":\"drop\",\"priority\":10}",
				  "{\"id\":1,\"action\":\"drop\"}",
				  "{\"id\":2,\"action\":\"drop\",\"priority\":10}",
				  "{\"id\":0,\"action\":\"drop\",\"priority\":-3}" };
	int i;

	EXPECT(cmp_check("{\"id\":1,\"action\":\"drop\",\"priority\":5}",
			 "{\"id\":0,\"action\":\"drop\",\"priority\":6}") < 0);
	EXPECT(cmp_check("{\"id\":1,\"action\":\"drop\"}", "{\"id\":0,\"action\":\"drop\"}") > 0);
	EXPECT(cmp_check("{\"id\":1,\"action\":\"drop\"}", "{\"id\":1,\"action\":\"allow\"}") == 0);
	for (i = 0; i < 4; i++)
		CHECK(parse_ok(bodies[i], &rs[i]) == 0);
	qsort(rs, 4, sizeof(rs[0]), rule_cmp);
	EXPECT(rs[0].id == 0 && rs[1].id == 2 && rs[2].id == 5 && rs[3].id == 1);
}

static void pkt(struct rule_packet *p, const char *src, const char *dst, __u8 proto)
{
	memset(p, 0, sizeof(*p));
	test_addr(src, p->src);
	test_addr(dst, p->dst);
	p->family = strchr(src, ':') ? 6 : 4;
	p->proto = proto;
}

/*
 * The matcher on the original's first-pass defects: an ICMP type 0 rule
 * dropped all ICMP, an inner condition dropped all ICMP, a tcp rule with
 * flags & mask == 0 dropped all TCP, a tcp rule with protocol any matched
 * UDP, and allow did not stop evaluation.
 */
static void test_matcher(void)
{
	struct rule rs[3];
	struct rule_packet p;
	__u64 now = (__u64)time(NULL);

	/* ICMP type 0 (echo reply) does not match an echo request */
	CHECK(parse_ok(
		      "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"icmp\",\"icmp_type\":0}",
		      &rs[0]) == 0);
	pkt(&p, "10.0.0.1", "10.0.0.2", 1);
	p.icmp_type = 8;
	EXPECT(!rule_matches(&rs[0], &p));
	p.icmp_type = 0;
	EXPECT(rule_matches(&rs[0], &p));
	/* an inner condition matches only an ICMP error whose quote says so */
	CHECK(parse_ok("{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"icmp\","
		       "\"inner_protocol\":\"udp\",\"inner_dst_port\":53}",
		       &rs[0]) == 0);
	p.icmp_type = 8;
	EXPECT(!rule_matches(&rs[0], &p));
	p.icmp_type = 3;
	EXPECT(!rule_matches(&rs[0], &p)); /* quote not read */
	p.inner_valid = true;
	p.inner_proto = 17;
	p.inner_dport = 53;
	EXPECT(rule_matches(&rs[0], &p));
	p.inner_dport = 54;
	EXPECT(!rule_matches(&rs[0], &p));
	/* SYN rule does not match a plain ACK */
	CHECK(parse_ok(
		      "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"tcp_flags\":2,"
		      "\"tcp_flags_mask\":18}",
		      &rs[0]) == 0);
	pkt(&p, "10.0.0.1", "10.0.0.2", 6);
	p.tcp_flags = 0x10;
	EXPECT(!rule_matches(&rs[0], &p));
	p.tcp_flags = 0x02;
	EXPECT(rule_matches(&rs[0], &p));
	p.tcp_flags = 0x12;
	EXPECT(!rule_matches(&rs[0], &p));
	/* tcp rule, protocol any: never UDP */
	CHECK(parse_ok(
		      "{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\",\"protocol\":\"any\"}",
		      &rs[0]) == 0);
	pkt(&p, "10.0.0.1", "10.0.0.2", 17);
	EXPECT(!rule_matches(&rs[0], &p));
	/* CIDR, ranges, IPv6 and family */
	CHECK(parse_ok("{\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"udp\",\"src_ip\":"
		       "\"2001:db8::/32\",\"dst_port\":\"1000-2000\"}",
		       &rs[0]) == 0);
	pkt(&p, "2001:db8:5::1", "2001:db9::1", 17);
	p.dport = 1500;
	EXPECT(rule_matches(&rs[0], &p));
	p.dport = 2001;
	EXPECT(!rule_matches(&rs[0], &p));
	pkt(&p, "2001:db9::1", "2001:db8::1", 17);
	p.dport = 1000;
	EXPECT(!rule_matches(&rs[0], &p));
	CHECK(parse_ok("{\"action\":\"drop\",\"enabled\":true,\"dst_ip\":\"::/0\"}", &rs[0]) == 0);
	pkt(&p, "10.0.0.1", "10.0.0.2", 6);
	EXPECT(!rule_matches(&rs[0], &p)); /* ::/0 is every IPv6 address, not IPv4 */

	/* allow stops evaluation; priority then id; nothing matches: pass */
	CHECK(parse_ok("{\"id\":0,\"action\":\"drop\",\"enabled\":true,\"rule_type\":\"tcp\","
		       "\"dst_port\":80}",
		       &rs[0]) == 0);
	CHECK(parse_ok("{\"id\":1,\"action\":\"allow\",\"enabled\":true,\"src_ip\":\"10.0.0.0/24\","
		       "\"priority\":50}",
		       &rs[1]) == 0);
	CHECK(parse_ok("{\"id\":2,\"action\":\"drop\",\"enabled\":false,\"rule_type\":\"tcp\","
		       "\"priority\":0}",
		       &rs[2]) == 0);
	pkt(&p, "10.0.0.1", "10.0.1.1", 6);
	p.dport = 80;
	EXPECT(rule_set_eval(rs, 3, &p, now) == 1);
	pkt(&p, "10.0.9.1", "10.0.1.1", 6);
	p.dport = 80;
	EXPECT(rule_set_eval(rs, 3, &p, now) == 0);
	p.dport = 81;
	EXPECT(rule_set_eval(rs, 3, &p, now) == -1);
	rs[2].enabled = true;
	EXPECT(rule_set_eval(rs, 3, &p, now) == 2);
	rs[2].expires_at = now; /* expired: inactive */
	EXPECT(rule_set_eval(rs, 3, &p, now) == -1);
}

/* C-built rules go through the same invariants. */
static void test_validate(void)
{
	char err[RULE_ERR_LEN];
	struct rule r;

	rule_init(&r);
	EXPECT(rule_validate(&r, err, sizeof(err)) == 0);
	r.type = RULE_TYPE_TCP;
	EXPECT(rule_validate(&r, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "protocol: any does not fit rule_type tcp"));
	r.protocol = RULE_PROTO_TCP;
	r.dport.lo = 0;
	r.dport.hi = 65535;
	EXPECT(rule_validate(&r, err, sizeof(err)) == -EINVAL && strstr(err, "dst_port: 0-65535"));
	r.dport.hi = 0;
	r.src.family = 4;
	r.src.prefix = 128;
	EXPECT(rule_validate(&r, err, sizeof(err)) == -EINVAL && strstr(err, "src_ip: "));
	rule_addr_parse("src_ip", "10.0.0.0/8", &r.src, err, sizeof(err));
	EXPECT(rule_validate(&r, err, sizeof(err)) == 0);
	r.src.addr[3] |= htonl(1);
	EXPECT(rule_validate(&r, err, sizeof(err)) == -EINVAL && strstr(err, "src_ip: host bits"));
	r.src.addr[3] &= ~htonl(1);
	r.comment[0] = '\t';
	EXPECT(rule_validate(&r, err, sizeof(err)) == -EINVAL && strstr(err, "comment: "));
	r.comment[0] = '\0';
	r.protocol = 99;
	EXPECT(rule_validate(&r, err, sizeof(err)) == -EINVAL && strstr(err, "protocol: unknown"));
}

/*
 * Every prefix of every good body, and each byte replaced by a few
 * troublesome ones: the parser answers 0 or -EINVAL with a message that
 * starts with a field name, and never reads out of bounds (ASan).
 */
static void test_mutations(void)
{
	static const char subst[] = { '"', '{', '}', ',', ':', '\\', '0', '-', '/', '\x80', ' ' };
	char err[RULE_ERR_LEN], body[1024];
	struct rule r;
	size_t b, i, k, odd = 0, runs = 0;

	for (b = 0; b < sizeof(readme_good) / sizeof(readme_good[0]); b++) {
		size_t len = strlen(readme_good[b]);

		for (i = 0; i <= len; i++) {
			int rc = rule_from_json_str(readme_good[b], i, 0, &r, NULL, err,
						    sizeof(err));

			runs++;
			if ((rc != 0 && rc != -EINVAL) || (rc && !strchr(err, ':')))
				odd++;
			if (i == len)
				break;
			for (k = 0; k < sizeof(subst); k++) {
				memcpy(body, readme_good[b], len);
				body[i] = subst[k];
				rc = rule_from_json_str(body, len, 0, &r, NULL, err, sizeof(err));
				runs++;
				if ((rc != 0 && rc != -EINVAL) || (rc && !strchr(err, ':')))
					odd++;
			}
		}
	}
	if (odd)
		fprintf(stderr, "mutations: %zu of %zu runs gave no proper error\n", odd, runs);
	EXPECT(odd == 0 && runs > 10000);
}

int main(void)
{
	test_bad_table();
	test_readme_bodies();
	test_defaults();
	test_addresses_and_ports();
	test_patch();
	test_round_trip_and_output();
	test_match_all();
	test_protected();
	test_sort();
	test_matcher();
	test_validate();
	test_mutations();
	printf("%d passed, %d failed\n", passed, failures);
	return check_report("test_rule");
}
