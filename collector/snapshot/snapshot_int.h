/* What the files of collector/snapshot share and nothing else sees: the
 * pool a snapshot owns its strings and arrays through, the string table
 * the pool and the encoder intern with, and the checks that the encoder
 * and the decoder both apply. Grouped by the file that defines them. */
#ifndef HT_SNAPSHOT_INT_H
#define HT_SNAPSHOT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

struct chunk {
	struct chunk *next;
	char data[];
};

struct strent {
	const char *str; /* NULL: empty slot */
	uint64_t hash;
	size_t len;
	uint32_t idx;    /* position in the encoder's string table */
};

/* Open addressing, linear probing, at most half full. */
struct strtab {
	struct strent *ent;
	size_t cap; /* 0 or a power of two */
	size_t n;
};

struct ht_snapshot_pool {
	struct chunk *chunks;
	char *cur;
	size_t left;
	struct strtab strings;
	size_t cap_metrics, cap_modules, cap_functions, cap_lines;
	size_t cap_locations, cap_frames, cap_stacks;
};

/* model.c */

/* The FNV-1a hash of len bytes at s. */
uint64_t ht_snapshot_hash(const char *s, size_t len);

/* The slot of t holding str (len bytes, hash h), or the empty slot where
 * it belongs. t must have room (ht_strtab_reserve). */
struct strent *ht_strtab_slot(const struct strtab *t, const char *str, size_t len, uint64_t h);

/* Makes room in t for one more entry. Returns 0, or -1 on out-of-memory
 * (t unchanged). */
int ht_strtab_reserve(struct strtab *t);

/* A new block of size bytes owned by pool p, freed with the snapshot.
 * Returns NULL on out-of-memory. */
void *ht_snapshot_pool_chunk(struct ht_snapshot_pool *p, size_t size);

/* Makes room for more elements after n in an array of capacity *cap (more
 * >= 1), never beyond what a u32 index can name. Returns the array,
 * possibly moved, or NULL (the old one intact). */
void *ht_snapshot_grow(void *arr, size_t *cap, size_t n, size_t more, size_t elsize);

/* Checks every index, range, counter and time in s: a snapshot that passes
 * is safe to walk and to write. what prefixes the message ("corrupt
 * snapshot" when decoding, "invalid snapshot" when encoding). Returns 0,
 * or -1 with err set. */
int ht_snapshot_validate(const struct ht_snapshot *s, const char *what, char *err,
			 size_t errlen);

/* decode.c */

/* Checks the magic, the version and the length of the header of a file
 * image of len bytes, and the body size it declares. Returns 0 and
 * *bodylen, or -1 with err set. */
int ht_snapshot_check_header(const unsigned char *b, size_t len, uint64_t *bodylen,
			     char *err, size_t errlen);

#endif
