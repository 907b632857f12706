/* The statistics view of snapshots: exact call counts, live objects, the
 * process's and the allocator's memory, and what was dropped, for one
 * snapshot or as the change between two. */
#ifndef HT_STATS_H
#define HT_STATS_H

#include <stdio.h>

#include "snapshot.h"

/* Prints the statistics of cur, or with base not NULL, base, current and
 * the change, one line each. Returns 0, or -1 if writing failed. */
int ht_stats_write(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur);

#endif
