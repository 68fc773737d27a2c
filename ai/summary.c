// SPDX-License-Identifier: GPL-2.0
/*
 * The model's view of the traffic (summary.h). A walk over the tables
 * keeps the top entries in small sorted arrays: O(entries x AI_SUMMARY_TOP)
 * once per ai.model.interval, never on the record path.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "summary.h"

struct top {
	struct ai_entry *e[AI_SUMMARY_TOP];
	uint64_t score[AI_SUMMARY_TOP];
	size_t n;
};

static void top_add(struct top *t, struct ai_entry *e, uint64_t score)
{
	size_t i;

	if (score == 0 || (t->n == AI_SUMMARY_TOP && score <= t->score[t->n - 1]))
		return;
	i = t->n < AI_SUMMARY_TOP ? t->n++ : t->n - 1;
	while (i > 0 && t->score[i - 1] < score) {
		t->e[i] = t->e[i - 1];
		t->score[i] = t->score[i - 1];
		i--;
	}
	t->e[i] = e;
	t->score[i] = score;
}

static void addr_text(const uint32_t a[4], char *buf, size_t len)
{
	if (a[0] == 0 && a[1] == 0 && a[2] == htonl(0xffff))
		inet_ntop(AF_INET, &a[3], buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

static bool live(const struct ai_engine *eng, const struct ai_entry *e)
{
	return e->t_last + eng->cfg->ai.window > eng->now;
}

static void add_int(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static void add_place(struct json_object *o, const struct ai_engine *eng, uint16_t node,
		      const uint32_t addr[4])
{
	char ip[INET6_ADDRSTRLEN];

	addr_text(addr, ip, sizeof(ip));
	json_object_object_add(o, "node", json_object_new_string(ai_engine_node_name(eng, node)));
	json_object_object_add(o, "ip", json_object_new_string(ip));
}

/* How a table's entries rank (0: left out) and what the model is shown of one. */
typedef uint64_t (*score_fn)(const struct ai_table *tab, struct ai_entry *e);
typedef void (*show_fn)(struct json_object *o, const struct ai_engine *eng,
			const struct ai_table *tab, struct ai_entry *e);

/*
 * ranked - the AI_SUMMARY_TOP live entries of @tab with the highest
 * @score, best first, as an array of objects filled by @show. *@first
 * (unless @first is NULL) is the entry of the array's first object, or
 * NULL when it has none.
 * Returns the array (NULL when out of memory).
 */
static struct json_object *ranked(const struct ai_engine *eng, const struct ai_table *tab,
				  score_fn score, show_fn show, struct ai_entry **first)
{
	struct json_object *arr = json_object_new_array(), *o;
	struct top t = { 0 };
	uint32_t i;
	size_t k;

	if (first)
		*first = NULL;
	for (i = 0; i < tab->used; i++) {
		struct ai_entry *e = ai_table_at(tab, i);

		if (live(eng, e))
			top_add(&t, e, score(tab, e));
	}
	for (k = 0; arr && k < t.n; k++) {
		o = json_object_new_object();
		if (!o)
			break;
		show(o, eng, tab, t.e[k]);
		json_object_array_add(arr, o);
		if (k == 0 && first)
			*first = t.e[0];
	}
	return arr;
}

static uint64_t host_score(const struct ai_table *tab, struct ai_entry *e)
{
	const struct ai_pl_host *pl = ai_entry_payload(tab, e);

	return (uint64_t)pl->flows + pl->syn_only + (pl->packets ? 1 : 0);
}

static void host_show(struct json_object *o, const struct ai_engine *eng,
		      const struct ai_table *tab, struct ai_entry *e)
{
	const struct ai_pl_host *pl = ai_entry_payload(tab, e);
	const struct ai_key_host *key = ai_entry_key(e);

	add_place(o, eng, key->node, key->addr);
	add_int(o, "flows", pl->flows);
	add_int(o, "packets", pl->packets);
	add_int(o, "bytes", pl->bytes);
	add_int(o, "half_open_tcp", pl->syn_only);
}

static struct json_object *hosts(const struct ai_engine *eng, const struct ai_table *tab,
				 char *busiest, size_t len)
{
	struct ai_entry *first;
	struct json_object *arr = ranked(eng, tab, host_score, host_show, &first);
	const struct ai_key_host *key;

	if (busiest && first) {
		key = ai_entry_key(first);
		snprintf(busiest, len, "%s", ai_engine_node_name(eng, key->node));
	}
	return arr;
}

/* TCP services only, half-open flows weighing most: what the model should look at. */
static uint64_t tcp_service_score(const struct ai_table *tab, struct ai_entry *e)
{
	const struct ai_key_svc *key = ai_entry_key(e);
	const struct ai_pl_svc *pl = ai_entry_payload(tab, e);

	return key->kind == AI_SVC_TCP ? pl->total * 1000 + pl->flows : 0;
}

static void tcp_service_show(struct json_object *o, const struct ai_engine *eng,
			     const struct ai_table *tab, struct ai_entry *e)
{
	const struct ai_key_svc *key = ai_entry_key(e);
	const struct ai_pl_svc *pl = ai_entry_payload(tab, e);

	add_place(o, eng, key->node, key->addr);
	add_int(o, "port", key->port);
	json_object_object_add(o, "proto", json_object_new_string("tcp"));
	add_int(o, "flows_ended", pl->flows);
	add_int(o, "half_open", pl->total);
	add_int(o, "completed", pl->completed);
}

static struct json_object *services(const struct ai_engine *eng)
{
	return ranked(eng, &eng->svc, tcp_service_score, tcp_service_show, NULL);
}

static struct json_object *findings(const struct ai_engine *eng)
{
	struct json_object *arr = json_object_new_array();
	size_t n = eng->n_recent < AI_RECENT_FINDINGS ? eng->n_recent : AI_RECENT_FINDINGS;
	size_t k;

	for (k = 0; arr && k < n; k++) {
		const struct ai_finding *f =
			&eng->recent[(eng->n_recent - n + k) % AI_RECENT_FINDINGS];
		struct json_object *o = json_object_new_object();

		if (!o)
			break;
		json_object_object_add(o, "kind", json_object_new_string(ai_kind_name(f->kind)));
		json_object_object_add(o, "node", json_object_new_string(f->node));
		json_object_object_add(o, "offender", json_object_new_string(f->offender));
		json_object_object_add(o, "target", json_object_new_string(f->target));
		json_object_object_add(o, "summary", json_object_new_string(f->summary));
		add_int(o, "at", f->at);
		json_object_array_add(arr, o);
	}
	return arr;
}

struct json_object *ai_summary_build(const struct ai_engine *eng, char *busiest_node,
				     size_t node_len)
{
	struct json_object *o = json_object_new_object();

	if (busiest_node && node_len)
		busiest_node[0] = '\0';
	if (!o)
		return NULL;
	add_int(o, "window_s", eng->cfg->ai.window);
	add_int(o, "records", eng->stats.records);
	add_int(o, "newest_record_at", eng->now);
	json_object_object_add(o, "top_sources", hosts(eng, &eng->src, busiest_node, node_len));
	json_object_object_add(o, "top_destinations", hosts(eng, &eng->dst, NULL, 0));
	json_object_object_add(o, "top_tcp_services", services(eng));
	json_object_object_add(o, "recent_findings", findings(eng));
	return o;
}

const char *ai_summary_system_prompt(void)
{
	return "You are the traffic analyst of Guarder, an XDP packet filter. You receive a JSON "
	       "summary of the last window of network flows seen by the filter's nodes: the "
	       "busiest sources, destinations and TCP services with their counters, and the "
	       "attacks the built-in detectors already found. Propose filter rules that drop "
	       "clearly malicious traffic only, as precisely as possible (a source address, "
	       "plus destination and port where it makes sense). Never propose a rule that "
	       "drops all traffic or a whole protocol. If nothing is clearly malicious, propose "
	       "no rule. Answer with one JSON object: {\"analysis\": \"one or two sentences\", "
	       "\"rules\": [{\"rule_type\": \"basic|tcp|udp|icmp\", \"protocol\": "
	       "\"any|tcp|udp|icmp|icmpv6\", \"src_ip\": \"a.b.c.d or net/len or empty\", "
	       "\"dst_ip\": \"...\", \"src_port\": 0, \"dst_port\": 0, \"action\": \"drop\", "
	       "\"comment\": \"why\"}]}.";
}
