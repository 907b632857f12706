/* What the files of collector/snapshot share and nothing else sees: the
 * pool a snapshot owns its strings and arrays through, the array growth
 * within the format's limits, and the checks that the encoder and the
 * decoder both apply. Grouped by the file that defines them. */
#ifndef HT_SNAPSHOT_INT_H
#define HT_SNAPSHOT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"
#include "lib/strtab.h"

struct chunk {
	struct chunk *next;
	char data[];
};

struct ht_snapshot_pool {
	struct chunk *chunks;     /* ht_snapshot_pool_chunk's */
	struct ht_strtab strings; /* what ht_snapshot_strdup made */
	size_t cap_metrics, cap_modules, cap_functions, cap_lines;
	size_t cap_locations, cap_frames, cap_stacks, cap_cells;
};

/* model.c */

/* A new block of size bytes owned by pool p, freed with the snapshot.
 * Returns NULL on out-of-memory. */
void *ht_snapshot_pool_chunk(struct ht_snapshot_pool *p, size_t size);

/* Makes room for more elements after n in an array of capacity *cap (more
 * >= 1), never beyond what a u32 index can name (MAX_ELEMS): ht_grow
 * within the format's limit. Returns the array, possibly moved, or NULL
 * (the old one intact). */
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
