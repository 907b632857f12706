/* The string interner (see strtab.h): an open-addressed table of ids over
 * arrays by id, and the copies in chunks that never move. */
#include "lib/strtab.h"
#include "lib/hash.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE 65536

struct ht_strtab_chunk {
	struct ht_strtab_chunk *next;
	char data[];
};

/* The slot of s (len bytes, hash h): the one holding it, or the empty one
 * where it belongs. */
static uint32_t *slot_of(const struct ht_strtab *t, const char *s, size_t len, uint64_t h)
{
	for (size_t j = (size_t)h & t->mask;; j = (j + 1) & t->mask) {
		uint32_t id = t->slots[j] - 1;

		if (!t->slots[j] || (t->hash[id] == h && t->len[id] == len &&
				     memcmp(t->str[id], s, len) == 0))
			return &t->slots[j];
	}
}

/* Makes room for one more string: in the arrays by id, and in the slots
 * (rebuilt twice as large when half full). Returns 0, or -1 on OOM. */
static int reserve(struct ht_strtab *t)
{
	size_t mask;
	uint32_t *slots;

	if (t->n >= UINT32_MAX - 1)
		return -1;
	if (t->n == t->cap) {
		size_t cap = t->cap, cap2 = t->cap, cap3 = t->cap;
		const char **str = ht_grow(t->str, &cap, t->n + 1, sizeof(*str));
		size_t *len;
		uint64_t *hash;

		if (!str)
			return -1;
		t->str = str;
		len = ht_grow(t->len, &cap2, t->n + 1, sizeof(*len));
		if (!len)
			return -1;
		t->len = len;
		hash = ht_grow(t->hash, &cap3, t->n + 1, sizeof(*hash));
		if (!hash)
			return -1;
		t->hash = hash;
		t->cap = cap;
	}
	if (t->mask && 2 * (t->n + 1) <= t->mask + 1)
		return 0;
	slots = ht_slots_new(2 * (t->mask + 1), &mask);
	if (!slots)
		return -1;
	free(t->slots);
	t->slots = slots;
	t->mask = mask;
	for (size_t id = 0; id < t->n; id++)
		ht_slots_put(slots, mask, t->hash[id], (uint32_t)id);
	return 0;
}

/* A new chunk of size bytes, owned by t; NULL on OOM. */
static char *chunk(struct ht_strtab *t, size_t size)
{
	struct ht_strtab_chunk *c;

	if (size > SIZE_MAX - sizeof(*c) || !(c = malloc(sizeof(*c) + size)))
		return NULL;
	c->next = t->chunks;
	t->chunks = c;
	return c->data;
}

/* A copy of the len bytes at s, NUL-terminated, in t's chunks; NULL on
 * OOM. A long string gets a chunk of its own; the current one stays. */
static const char *copy(struct ht_strtab *t, const char *s, size_t len)
{
	size_t need = len + 1;
	char *p;

	if (!need)
		return NULL;
	if (need > CHUNK_SIZE / 4) {
		p = chunk(t, need);
	} else {
		if (need > t->left) {
			t->cur = chunk(t, CHUNK_SIZE);
			t->left = t->cur ? CHUNK_SIZE : 0;
		}
		p = t->cur;
		if (p) {
			t->cur += need;
			t->left -= need;
		}
	}
	if (p) {
		memcpy(p, s, len);
		p[len] = 0;
	}
	return p;
}

uint32_t ht_strtab_intern(struct ht_strtab *t, const char *s, size_t len)
{
	uint64_t h = ht_hash_bytes(s, len);
	uint32_t *slot;
	const char *str;

	if (reserve(t) != 0)
		return HT_STRTAB_NONE;
	slot = slot_of(t, s, len, h);
	if (*slot)
		return *slot - 1;
	str = t->borrow ? s : copy(t, s, len);
	if (!str)
		return HT_STRTAB_NONE;
	t->str[t->n] = str;
	t->len[t->n] = len;
	t->hash[t->n] = h;
	*slot = (uint32_t)++t->n;
	return *slot - 1;
}

uint32_t ht_strtab_xintern(struct ht_strtab *t, const char *s, size_t len)
{
	uint32_t id = ht_strtab_intern(t, s, len);

	if (id == HT_STRTAB_NONE)
		ht_die(2, "out of memory");
	return id;
}

uint32_t ht_strtab_find(const struct ht_strtab *t, const char *s, size_t len)
{
	if (!t->mask)
		return HT_STRTAB_NONE;
	return *slot_of(t, s, len, ht_hash_bytes(s, len)) - 1;
}

void ht_strtab_free(struct ht_strtab *t)
{
	struct ht_strtab_chunk *c, *next;
	int borrow = t->borrow;

	for (c = t->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(t->str);
	free(t->len);
	free(t->hash);
	free(t->slots);
	memset(t, 0, sizeof(*t));
	t->borrow = borrow;
}
