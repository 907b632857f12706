/* The statistics view of snapshots: exact call counts, live objects, the
 * process's and the allocator's memory, and what was dropped, for one
 * snapshot or as the change between two. */
#ifndef HT_STATS_H
#define HT_STATS_H

#include <stdio.h>

#include "snapshot/snapshot.h"

/* Prints the statistics of cur, or with base not NULL, base, current and
 * the change, one line each. Returns 0, or -1 if writing failed. */
int ht_stats_write(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur);

/* The same, with the two columns named bname and cname. */
int ht_stats_write_as(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur,
		      const char *bname, const char *cname);

/* The rows of the table on memory only (RSS, the allocator's figures),
 * without a header: as ht_stats_write prints them. */
void ht_stats_memory(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur);

/* One line for a report's header: RSS, heap in use by the allocator's
 * count, and the gap, as far as s has them; nothing if it has none. */
void ht_stats_summary(FILE *out, const char *indent, const struct ht_snapshot *s);

/* For a snapshot of a process attached to (heaptrace -p): "Attached: at
 * TIME; heap in use then X ..., not attributed to stacks"; else nothing. */
void ht_stats_attach_line(FILE *out, const char *indent, const struct ht_snapshot *s);

/* A note, on one line, when s's live-object count is negative, saying why
 * it can be; nothing when it is not. */
void ht_stats_negative_note(FILE *out, const char *indent, const struct ht_snapshot *s);

#endif
