/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The worker's view of one flow record (docs/records.md, schema_version
 * 1): only the fields the detectors use, parsed straight from the JSON
 * text without building a DOM (the worker's hot path; json-c's tree costs
 * several times more per record).
 */
#ifndef GUARDER_AI_FLOWREC_H
#define GUARDER_AI_FLOWREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AI_NODE_MAX 64 /* bytes of a node name, with its NUL (node.name's bound) */

enum ai_event {
	AI_EV_START = 0,
	AI_EV_UPDATE,
	AI_EV_END,
	AI_EV_ICMP,
	AI_EV_DROP,
	AI_EV_DROPS, /* what the filter dropped: not a flow (ai_flow_parse returns 1) */
};

struct ai_dir {
	uint64_t packets, bytes;
	uint8_t tcp_flags;
};

struct ai_flow {
	enum ai_event event;
	char node[AI_NODE_MAX];
	uint8_t family; /* 4 or 6 */
	uint8_t proto; /* IP protocol number */
	uint32_t src[4], dst[4]; /* network order, IPv4 mapped ::ffff:a.b.c.d */
	uint16_t sport, dport;
	struct ai_dir fwd, rev;
	uint64_t first_ns, last_ns; /* wall clock, ns since the epoch */
	uint8_t icmp_type, icmp_code; /* AI_EV_ICMP only */
};

/*
 * ai_flow_parse - parse the record in @text[0..@len) into @out. The text
 * must be one JSON object (whitespace around it allowed) with
 * schema_version 1 and the fields the worker needs, with the documented
 * JSON types: event, node, proto_num, family, src_ip, dst_ip, src_port,
 * dst_port, fwd and rev (packets, bytes, tcp_flags), first_seen,
 * last_seen, and icmp.type/code in "icmp" records. Unknown fields are
 * skipped (new optional fields do not change the schema version). A
 * "drops" record (the filter's drops per source, docs/records.md) is not a
 * flow: only its schema_version, event, node, family and src_ip are
 * checked, and 1 is returned. Returns 0 for a flow record, 1 for a drops
 * record, or -EINVAL with "field: what is wrong" in @err (never crashes on
 * any input; nesting deeper than 16 levels is refused).
 */
int ai_flow_parse(const char *text, size_t len, struct ai_flow *out, char *err, size_t errlen);

/*
 * ai_parse_rfc3339 - "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (UTC, up to nine
 * fraction digits) as ns since the epoch. Returns 0 or -EINVAL.
 */
int ai_parse_rfc3339(const char *s, size_t len, uint64_t *ns);

#endif /* GUARDER_AI_FLOWREC_H */
