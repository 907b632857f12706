/* A stack's histograms by time and size as the collector keeps them
 * (struct ht_cell in the snapshot): a short sorted vector of the cells it
 * has, never a bucket it has not, and the ages of the blocks in use,
 * counted afresh at each snapshot. */
#ifndef HT_CELLS_H
#define HT_CELLS_H

#include <stdint.h>

#include "snapshot/snapshot.h"

/* One cell: objects and space, the sums behind their error, samples. */
struct ht_pcell {
	uint16_t key;     /* kind << 8 | bucket: the order of the cells */
	uint8_t pad[6];
	uint64_t samples;
	double objects, space, var_objects, var_space;
};

/* A stack's cells, in (kind, bucket) order, and which (kind, bucket) it
 * has, a bit each in that order (see cells.c): a cell's place is the
 * count of the bits below its own, found without a search. All zero is
 * empty. */
struct ht_cellvec {
	struct ht_pcell *c;
	uint64_t bits[2]; /* life and age buckets; size buckets 0 to 63 */
	uint16_t n, cap;
	uint8_t top;      /* size bucket 64 */
};

/* Adds a sample of a block of size bytes and weight w (w(w-1) = e) to
 * the cell (kind, bucket) of v, made if new. Returns 0, or -1 on OOM or
 * for a kind or bucket there is no cell for (v unchanged). */
int ht_cellvec_add(struct ht_cellvec *v, int kind, unsigned bucket, uint64_t size, double w,
		   double e);
void ht_cellvec_free(struct ht_cellvec *v);

/* Appends v's cells to s as stack number stack's (after ones of a lower
 * kind there, before ones of a higher: see ht_snapshot_add_cell), those
 * of kind lo..hi only. Returns 0, or -1 on OOM. */
int ht_cellvec_emit(const struct ht_cellvec *v, struct ht_snapshot *s, uint32_t stack,
		    int lo, int hi);

#endif
