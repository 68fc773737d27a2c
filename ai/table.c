// SPDX-License-Identifier: GPL-2.0
/*
 * Bounded feature tables (table.h): chained hashing over index arrays
 * (4-byte links instead of pointers), LRU by a doubly linked index list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define ROUND8(x) (((x) + 7u) & ~7u)

uint32_t ai_hash(const void *key, size_t len, uint32_t seed)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (seed * 0xff51afd7ed558ccdull) ^ len;
	uint64_t v;

	/* 8 bytes at a time, each word mixed in with a multiply-xorshift */
	while (len >= 8) {
		memcpy(&v, p, 8);
		h ^= v * 0x87c37b91114253d5ull;
		h = (h << 31 | h >> 33) * 0x4cf5ad432745937full;
		p += 8;
		len -= 8;
	}
	v = 0;
	memcpy(&v, p, len);
	h ^= v * 0x87c37b91114253d5ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

int ai_table_init(struct ai_table *t, const char *name, uint32_t cap, uint32_t key_size,
		  uint32_t payload_size)
{
	uint32_t nb = 1;

	memset(t, 0, sizeof(*t));
	t->name = name;
	t->cap = cap;
	t->key_size = key_size;
	t->key_space = ROUND8(key_size);
	t->payload_size = ROUND8(payload_size);
	t->entry_size = (uint32_t)sizeof(struct ai_entry) + t->key_space + t->payload_size;
	while (nb < cap && nb < (1u << 31))
		nb <<= 1;
	t->mask = nb - 1;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	t->mem = calloc(cap, t->entry_size);
	if (!t->buckets || !t->mem) {
		ai_table_free(t);
		return -ENOMEM;
	}
	return 0;
}

void ai_table_free(struct ai_table *t)
{
	free(t->buckets);
	free(t->mem);
	t->buckets = NULL;
	t->mem = NULL;
}

size_t ai_table_bytes(const struct ai_table *t)
{
	return ((size_t)t->mask + 1) * sizeof(uint32_t) + (size_t)t->cap * t->entry_size;
}

static void lru_unlink(struct ai_table *t, struct ai_entry *e)
{
	if (e->prev)
		ai_table_at(t, e->prev - 1)->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		ai_table_at(t, e->next - 1)->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = 0;
}

static void lru_push_head(struct ai_table *t, struct ai_entry *e, uint32_t idx1)
{
	e->prev = 0;
	e->next = t->head;
	if (t->head)
		ai_table_at(t, t->head - 1)->prev = idx1;
	t->head = idx1;
	if (!t->tail)
		t->tail = idx1;
}

static void hash_unlink(struct ai_table *t, struct ai_entry *e, uint32_t idx1)
{
	uint32_t *link = &t->buckets[e->hash & t->mask];

	while (*link && *link != idx1)
		link = &ai_table_at(t, *link - 1)->hnext;
	if (*link)
		*link = e->hnext;
	e->hnext = 0;
}

struct ai_entry *ai_table_find(struct ai_table *t, const void *key)
{
	uint32_t h = ai_hash(key, t->key_size, 0), i = t->buckets[h & t->mask];

	while (i) {
		struct ai_entry *e = ai_table_at(t, i - 1);

		if (e->hash == h && !memcmp(e->data, key, t->key_size))
			return e;
		i = e->hnext;
	}
	return NULL;
}

static void reset(struct ai_table *t, struct ai_entry *e, uint32_t now)
{
	memset(e->data + t->key_space, 0, t->payload_size);
	e->reported = 0;
	e->t_start = now;
}

struct ai_entry *ai_table_touch(struct ai_table *t, const void *key, uint32_t now, uint32_t window)
{
	uint32_t h = ai_hash(key, t->key_size, 0), i = t->buckets[h & t->mask], idx1;
	struct ai_entry *e;

	while (i) {
		e = ai_table_at(t, i - 1);
		if (e->hash == h && !memcmp(e->data, key, t->key_size)) {
			if (now >= e->t_start + window)
				reset(t, e, now);
			if (now > e->t_last)
				e->t_last = now;
			if (t->head != i) {
				lru_unlink(t, e);
				lru_push_head(t, e, i);
			}
			return e;
		}
		i = e->hnext;
	}
	if (t->used < t->cap) {
		idx1 = ++t->used;
		e = ai_table_at(t, idx1 - 1);
	} else {
		idx1 = t->tail;
		e = ai_table_at(t, idx1 - 1);
		if (now >= e->t_last + window)
			t->expiries++;
		else
			t->evictions++;
		hash_unlink(t, e, idx1);
		lru_unlink(t, e);
	}
	memset(e->data, 0, t->key_space);
	memcpy(e->data, key, t->key_size);
	e->hash = h;
	e->t_last = now;
	reset(t, e, now);
	e->hnext = t->buckets[h & t->mask];
	t->buckets[h & t->mask] = idx1;
	lru_push_head(t, e, idx1);
	return e;
}
