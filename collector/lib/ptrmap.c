/* The pointer map (see ptrmap.h). */
#include "lib/ptrmap.h"
#include "lib/hash.h"

#include <stdint.h>
#include <stdlib.h>

/* The entry of key, or the empty one where it belongs; m->cap > 0. */
static struct ht_ptrmap_entry *slot(const struct ht_ptrmap *m, const void *key)
{
	size_t mask = m->cap - 1;

	for (size_t i = ht_mix64((uintptr_t)key) & mask;; i = (i + 1) & mask)
		if (!m->e[i].key || m->e[i].key == key)
			return &m->e[i];
}

void *ht_ptrmap_get(const struct ht_ptrmap *m, const void *key)
{
	return m->cap ? slot(m, key)->val : NULL;
}

int ht_ptrmap_put(struct ht_ptrmap *m, const void *key, void *val)
{
	struct ht_ptrmap_entry *e;

	if ((m->n + 1) * 2 > m->cap) {
		struct ht_ptrmap old = *m;

		m->cap = old.cap ? old.cap * 2 : 64;
		if (m->cap > SIZE_MAX / sizeof(*m->e) || !(m->e = calloc(m->cap, sizeof(*m->e)))) {
			*m = old;
			return -1;
		}
		for (size_t i = 0; i < old.cap; i++)
			if (old.e[i].key)
				*slot(m, old.e[i].key) = old.e[i];
		free(old.e);
	}
	e = slot(m, key);
	m->n += !e->key;
	e->key = key;
	e->val = val;
	return 0;
}

void ht_ptrmap_free(struct ht_ptrmap *m)
{
	free(m->e);
	m->e = NULL;
	m->cap = m->n = 0;
}
