/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A bounded feature table: a hash table of at most @cap fixed-size
 * entries, each a key and a payload of window counters, kept in LRU order.
 * Its memory is allocated once (calloc: pages are only touched as entries
 * are used) and never grows: when full, the least recently updated entry
 * is recycled (an "eviction" when it was still inside its window, an
 * "expiry" otherwise).
 *
 * Windows are per entry: an entry's window opens with the first record
 * that touches it; a record at least @window seconds after that opening
 * resets the payload (zeroes it) and opens a new window. docs/ai.md says
 * why (cheap, and it anchors on the offender's first move).
 */
#ifndef GUARDER_AI_TABLE_H
#define GUARDER_AI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ai_entry {
	uint32_t hnext; /* next index + 1 in the hash chain; 0 = end */
	uint32_t prev, next; /* LRU list, index + 1; 0 = none */
	uint32_t hash;
	uint32_t t_start; /* unix seconds: this window opened */
	uint32_t t_last; /* unix seconds: last record */
	uint32_t reported; /* detector bits that fired in this window (dedup) */
	uint32_t pad;
	unsigned char data[]; /* key (key_size, padded to 8), then the payload */
};

struct ai_table {
	const char *name;
	uint32_t cap, used; /* entries allocated, in use */
	uint32_t mask; /* hash buckets - 1 */
	uint32_t key_size, key_space, payload_size, entry_size;
	uint32_t *buckets; /* index + 1 of the first entry; 0 = empty */
	unsigned char *mem;
	uint32_t head, tail; /* LRU: head most recent; index + 1 */
	uint64_t evictions; /* entries dropped while their window was open */
	uint64_t expiries; /* stale entries recycled */
};

/*
 * ai_table_init - a table of at most @cap entries with @key_size-byte keys
 * (compared with memcmp: zero the padding) and @payload_size bytes of
 * counters. Returns 0 or -ENOMEM.
 */
int ai_table_init(struct ai_table *t, const char *name, uint32_t cap, uint32_t key_size,
		  uint32_t payload_size);

void ai_table_free(struct ai_table *t);

/*
 * ai_table_touch - the entry of @key for a record at @now (unix s), made
 * the most recent: found, or created (recycling the LRU tail when the
 * table is full). When the entry is new or its window (@window s) is
 * over, its payload and reported bits are zeroed and t_start = @now.
 * A record older than t_start (late) counts into the open window.
 * Never fails.
 */
struct ai_entry *ai_table_touch(struct ai_table *t, const void *key, uint32_t now, uint32_t window);

/* ai_table_find - the entry of @key or NULL; changes nothing. */
struct ai_entry *ai_table_find(struct ai_table *t, const void *key);

static inline void *ai_entry_key(struct ai_entry *e)
{
	return e->data;
}

static inline void *ai_entry_payload(const struct ai_table *t, struct ai_entry *e)
{
	return e->data + t->key_space;
}

/* ai_table_at - entry @i (0 <= i < used), for walks (summary, tests). */
static inline struct ai_entry *ai_table_at(const struct ai_table *t, uint32_t i)
{
	return (struct ai_entry *)(t->mem + (size_t)i * t->entry_size);
}

/* ai_table_bytes - the memory the table may use at most. */
size_t ai_table_bytes(const struct ai_table *t);

/* ai_hash - the hash the tables use (64-bit mix of the key bytes). */
uint32_t ai_hash(const void *key, size_t len, uint32_t seed);

#endif /* GUARDER_AI_TABLE_H */
