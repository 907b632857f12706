/* A map from pointers, compared by address, to pointers: open addressing
 * over mixed addresses, at most half full. For caches keyed by an object
 * that outlives the map (a libdw unit, an interned string). */
#ifndef HT_PTRMAP_H
#define HT_PTRMAP_H

#include <stddef.h>

struct ht_ptrmap_entry {
	const void *key; /* NULL: empty */
	void *val;
};

/* All zero is an empty map. e[0 .. cap) may be walked (key NULL: empty). */
struct ht_ptrmap {
	struct ht_ptrmap_entry *e;
	size_t cap, n;
};

/* The value of key (not NULL), or NULL if it has none. */
void *ht_ptrmap_get(const struct ht_ptrmap *m, const void *key);

/* Sets the value of key (not NULL) to val (not NULL). Returns 0, or -1 on
 * out-of-memory (m unchanged). */
int ht_ptrmap_put(struct ht_ptrmap *m, const void *key, void *val);

/* Frees the table (not what keys and values point to) and empties m. */
void ht_ptrmap_free(struct ht_ptrmap *m);

#endif
