/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The detection engine of guarder-ai: windowed features in bounded tables
 * (table.h) and the built-in detectors that read them. Each record goes
 * through ai_engine_feed(); a detector whose threshold is crossed emits
 * one finding (at most once per window per kind, offender and target),
 * with the rules that would stop it. docs/ai.md documents the features,
 * thresholds, confidence formula and memory bound.
 */
#ifndef GUARDER_AI_DETECT_H
#define GUARDER_AI_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowrec.h"
#include "lib/config.h"
#include "lib/rule.h"
#include "table.h"

enum ai_kind {
	AI_PORT_SCAN_VERTICAL = 0,
	AI_PORT_SCAN_HORIZONTAL,
	AI_SYN_FLOOD,
	AI_BRUTE_FORCE,
	AI_ICMP_FLOOD,
	AI_ICMP_ERROR_STORM,
	AI_UDP_REFLECTION,
	AI_MODEL,
	AI_KIND_COUNT,
};

#define AI_FINDING_MAX_RULES 8 /* of a detector finding; the policy caps it further */
#define AI_FINDING_MAX_EV    12
#define AI_TOPK		     4 /* heavy-hitter sources kept per service */
#define AI_RECENT_FINDINGS   16 /* kept for the model's summary */

struct ai_evidence {
	const char *name; /* a static string */
	uint64_t value;
};

struct ai_finding {
	enum ai_kind kind;
	char node[AI_NODE_MAX];
	double confidence; /* 0.5 .. 0.99 for detectors */
	uint32_t at; /* record time (unix s) of the crossing */
	char offender[48]; /* the source address, or "distributed" */
	char target[96]; /* "addr", "addr:port/proto", ... */
	char summary[256];
	struct ai_evidence ev[AI_FINDING_MAX_EV];
	size_t n_ev;
	struct rule rules[AI_FINDING_MAX_RULES];
	size_t n_rules;
};

typedef void (*ai_emit_fn)(const struct ai_finding *f, void *ctx);

struct ai_engine_stats {
	uint64_t records; /* fed */
	uint64_t findings[AI_KIND_COUNT];
	uint64_t node_overflow; /* records of nodes beyond the node table */
	uint64_t future_clamped; /* stamps ahead of the wall clock, clamped */
};

struct ai_node_table;

struct ai_engine {
	const struct guarder_config *cfg;
	struct ai_table src, dst, pair, srcport, svc, conn;
	struct ai_node_table *nodes;
	uint8_t remote_access[65536 / 8], reflection[65536 / 8]; /* port bitmaps */
	uint32_t now; /* highest record time seen (unix s) */
	uint32_t wall_now; /* wall clock for clamping; 0 = no clamp (tests) */
	ai_emit_fn emit;
	void *emit_ctx;
	struct ai_finding recent[AI_RECENT_FINDINGS];
	size_t n_recent; /* total emitted; recent[] is a ring */
	struct ai_engine_stats stats;
};

/*
 * ai_engine_init - tables of cfg->ai.max_tracked entries each, detector
 * thresholds from cfg->ai (the engine keeps @cfg: it must outlive it).
 * Findings go to @emit. Returns 0 or -ENOMEM.
 */
int ai_engine_init(struct ai_engine *eng, const struct guarder_config *cfg, ai_emit_fn emit,
		   void *ctx);

void ai_engine_free(struct ai_engine *eng);

/*
 * ai_engine_feed - account one parsed record and run the detectors it
 * concerns; findings are emitted synchronously from inside this call.
 * The record's time is its last_seen (docs/ai.md: event time), clamped
 * to wall_now + 60 s when wall_now is set.
 */
void ai_engine_feed(struct ai_engine *eng, const struct ai_flow *f);

/* ai_engine_bytes - the most memory the tables may take (the bound). */
size_t ai_engine_bytes(const struct ai_engine *eng);

/* ai_engine_evictions - evictions summed over the tables. */
uint64_t ai_engine_evictions(const struct ai_engine *eng);

const char *ai_kind_name(enum ai_kind k);

/* ai_engine_node_name - the node name of a table key's node id. */
const char *ai_engine_node_name(const struct ai_engine *eng, uint16_t id);

/* Table payloads, exposed for the summary and the tests. */
struct ai_distinct {
	uint64_t bits[8]; /* 512-bit linear-counting bitmap */
	uint32_t set; /* bits set */
};

/* ai_distinct_add - add one value (a 32-bit digest); returns the estimate. */
uint32_t ai_distinct_add(struct ai_distinct *d, uint32_t v);

/* ai_distinct_estimate - distinct values estimated from the bits set. */
uint32_t ai_distinct_estimate(const struct ai_distinct *d);

#define AI_DISTINCT_RELIABLE 1500 /* thresholds above this are warned about */

struct ai_key_host {
	uint32_t addr[4];
	uint16_t node;
	uint16_t pad;
};

struct ai_pl_host {
	uint64_t packets, bytes; /* from end/update records */
	uint32_t flows; /* start records */
	uint32_t syn_only; /* TCP flows that ended without an ACK from the initiator */
};

struct ai_key_svc {
	uint32_t addr[4]; /* the destination (victim, service) */
	uint16_t node;
	uint16_t port; /* service port, ICMP type, or reflector source port */
	uint8_t proto;
	uint8_t kind; /* AI_SVC_* */
	uint8_t pad[2];
};

enum { AI_SVC_TCP = 0, AI_SVC_ICMPERR, AI_SVC_REFLECT };

/* space-saving heavy hitters: count overestimates by at most err */
struct ai_topk {
	uint32_t addr[4];
	uint64_t count;
	uint64_t err;
};

struct ai_pl_svc {
	uint64_t total; /* half-open flows, ICMP errors, or reflected bytes */
	uint64_t flows; /* TCP flows ended (all), error records, reflected flows */
	uint64_t completed; /* TCP: handshakes completed */
	struct ai_topk top[AI_TOPK];
};

#endif /* GUARDER_AI_DETECT_H */
