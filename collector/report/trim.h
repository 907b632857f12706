/* What a trim (heaptrace-dump --trim) did, as the snapshots that follow
 * it record it ("trim.*" metrics, heaptrace(5)): the dump's own summary
 * and table, and the line the --stats views print about it. */
#ifndef HT_TRIM_H
#define HT_TRIM_H

#include <stdio.h>

#include "snapshot/snapshot.h"

/* heaptrace-dump --trim: what the trim recorded in s (the snapshot taken
 * right after it) did: how long it took, what it called, RSS and the
 * allocator's figures before and after; with stats, as the --stats table
 * with a before and an after column. Returns 0, or -1 if s records no
 * trim (errno EINVAL) or writing failed. */
int ht_trim_print(FILE *out, const struct ht_snapshot *s, int stats);

/* The --stats line on trims: when cur records one that base (NULL: none)
 * does not, one paragraph saying when, and RSS before and after, so that
 * memory given back is not read as a leak fixed. Nothing otherwise. */
void ht_trim_note(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur);

#endif
