/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Flow records: what the collector publishes (console file sink now,
 * Kafka and WebSocket later). One JSON object per record; the schema is
 * docs/records.md (schema_version 1).
 */
#ifndef GUARDER_RECORD_H
#define GUARDER_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/conn_tracker.h"

#define RECORD_SCHEMA_VERSION 1
#define RECORD_JSON_MAX	      2048 /* bound of one formatted record */
#define RECORD_KEY_MAX	      128  /* bound of one formatted canonical key */

enum record_event {
	REC_START = 0,
	REC_UPDATE,
	REC_END,
	REC_DROP,
	REC_ICMP,
	REC_DROPS, /* what the filter dropped per source and rule in an interval */
};

enum record_end_reason {
	REC_END_NONE = 0,
	REC_END_FIN,
	REC_END_RST,
	REC_END_IDLE,
	REC_END_EVICTED,
};

/*
 * One record. Endpoints are presented as the conversation's initiator
 * ("src") and responder ("dst"): "fwd" counters are src -> dst, "rev" the
 * other way, whatever the canonical key's order.
 */
struct flow_record {
	enum record_event event;
	enum record_end_reason end_reason;
	const char *node;
	const char *iface;
	struct flow_key key;	 /* canonical */
	uint8_t initiator;	 /* canonical direction of src -> dst */
	struct flow_value value; /* counters as last read from the kernel */
	uint64_t first_seen_wall_ns;
	uint64_t last_seen_wall_ns;
	/* REC_DROP */
	uint32_t rule_id;
	/* REC_ICMP: the error and the packet it quotes */
	uint8_t icmp_type;
	uint8_t icmp_code;
	struct icmp_inner inner;
	/*
	 * REC_DROPS: the aggregate (source, rule or reason, hook, interface),
	 * what it dropped in the interval, and the interval; first/last_seen
	 * are those of the aggregate's drops.
	 */
	struct drop_key drop;
	uint64_t drop_packets;
	uint64_t drop_bytes;
	uint64_t interval_start_wall_ns;
	uint64_t interval_end_wall_ns;
};

/*
 * record_format_json - write @rec as one line of JSON (no newline) into
 * @buf. Returns the length, or -ENOSPC if @len is too small.
 */
int record_format_json(const struct flow_record *rec, char *buf, size_t len);

/* Where a part of a formatted record lies in its buffer. */
struct record_span {
	size_t off;
	size_t len;
};

/*
 * record_format - record_format_json, and where the canonical key
 * (record_format_key's text, unquoted) lies in @buf when @key_span is not
 * NULL: the collector formats the key once for the record and the Kafka key.
 */
int record_format(const struct flow_record *rec, char *buf, size_t len,
		  struct record_span *key_span);

/*
 * record_format_key - the canonical flow key as text, identical for both
 * directions: "proto|addr_lo|port_lo|addr_hi|port_hi". The Kafka key.
 * Returns the length, or -ENOSPC.
 */
int record_format_key(const struct flow_key *key, char *buf, size_t len);

const char *record_event_name(enum record_event ev);
const char *record_end_reason_name(enum record_end_reason r);
/* "rule", "unparsed", "frag_tiny", "frag_overlap", "frag_unknown" (enum guarder_drop_reason). */
const char *record_drop_reason_name(unsigned int r);

/*
 * record_tcp_flags_str - TCP flag bits as "SYN|ACK|FIN" (bit order FIN,
 * SYN, RST, PSH, ACK, URG, ECE, CWR; "" for none). Returns the length, or
 * -ENOSPC (40 bytes always suffice).
 */
int record_tcp_flags_str(uint8_t flags, char *buf, size_t len);

#endif /* GUARDER_RECORD_H */
