/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Subscription filters of the WebSocket feed (docs/websocket.md): which
 * records a subscriber wants, by protocol, address, port and event. Given
 * in the URL (?protocol=tcp&ip=10.0.0.0/8) or as a JSON message
 * ({"protocol":"tcp","ip":["10.0.0.0/8"]}). Fields combine with AND, the
 * values of one field with OR; a field left out matches everything.
 */
#ifndef GUARDER_WS_FILTER_H
#define GUARDER_WS_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/net.h"
#include "lib/record.h"

#define WS_FILTER_MAX_ITEMS 16 /* values of one field */
#define WS_FILTER_JSON_MAX  2048 /* ws_filter_json of a full filter fits */

/* What a filter looks at in one record: both endpoints, in any order. */
struct ws_match {
	uint8_t event; /* enum record_event */
	uint8_t proto;
	uint16_t port[2];
	uint32_t addr[2][4]; /* IPv4 as ::ffff:a.b.c.d, network byte order */
};

struct ws_filter {
	uint8_t protos[WS_FILTER_MAX_ITEMS];
	size_t n_protos;
	/* host bits zero; matched on the 128-bit form, so "::/0" is everything */
	struct net_prefix nets[WS_FILTER_MAX_ITEMS];
	size_t n_nets;
	uint16_t ports[WS_FILTER_MAX_ITEMS][2]; /* inclusive ranges */
	size_t n_ports;
	uint32_t events; /* bit per enum record_event; 0 = every event */
};

/* ws_filter_init - the filter that matches every record. */
void ws_filter_init(struct ws_filter *f);

/*
 * ws_filter_set - add the values of one URL parameter to @f: @name is
 * "protocol", "ip", "port" or "event"; @value a comma-separated list.
 * Repeating a parameter adds to its list. Returns 0, -ENOENT for another
 * name (@f unchanged), or -EINVAL with a message for the client in @err.
 */
int ws_filter_set(struct ws_filter *f, const char *name, const char *value, char *err,
		  size_t errlen);

/*
 * ws_filter_parse_json - a whole filter from a JSON object, replacing
 * @f only on success. Each member is a string (a comma-separated list
 * like the URL's), a number (port, protocol) or an array of those.
 * The text is read by json_strict_parse(): a member given twice, trailing
 * data or invalid UTF-8 is an error, as is an unknown member. Returns 0,
 * -EINVAL with a message in @err, or -ENOMEM.
 */
int ws_filter_parse_json(struct ws_filter *f, const char *text, size_t len, char *err,
			 size_t errlen);

/* ws_filter_match - whether @m passes @f. */
bool ws_filter_match(const struct ws_filter *f, const struct ws_match *m);

/*
 * ws_filter_json - @f as the JSON object the subscriber is sent back
 * ({} for everything). Returns the length or -ENOSPC.
 */
int ws_filter_json(const struct ws_filter *f, char *buf, size_t len);

/* ws_match_from_record - the fields of @rec that filters look at. */
void ws_match_from_record(const struct flow_record *rec, struct ws_match *m);

#endif /* GUARDER_WS_FILTER_H */
