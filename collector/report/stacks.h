/* The report library's model: frames named as a report shows them, stacks
 * of one or more snapshots aggregated by those names (so two runs with
 * different address layouts line up), and the sampling error of a stack's
 * figures. Every renderer starts from it. */
#ifndef HT_REPORT_STACKS_H
#define HT_REPORT_STACKS_H

#include <stddef.h>
#include <stdint.h>

#include "report/sampling.h"
#include "snapshot/snapshot.h"

/* How a frame is named (pprof's granularity options). */
enum ht_granularity {
	HT_GRAN_LINES,     /* "function file.c:12" (file basename); the default */
	HT_GRAN_FUNCTIONS, /* "function" */
	HT_GRAN_FILES,     /* "path/of/file.c" as stored; the function if unknown */
	HT_GRAN_ADDRESSES, /* "function file.c:12 0x7f..." (absolute address) */
};

struct ht_naming {
	enum ht_granularity granularity;
	int no_demangle; /* name functions by ht_function.system_name */
};

/* ---- names.c ---- */

/* Frame naming. A location has max(nlines, 1) frames, innermost first: one
 * per line entry (an inlined callee is a frame of its own), or one for an
 * unsymbolized location, named "module+0xFILEADDR" (module basename, address
 * minus load bias) or "0xADDRESS" outside any module. Control characters in
 * names become '?'. */
static inline uint32_t ht_report_location_nframes(const struct ht_location *loc)
{
	return loc->nlines ? loc->nlines : 1;
}

/* Writes the name of frame k of location loc of s into *buf, NUL-terminated.
 * *buf is malloc'd (start with NULL and *cap 0) and grown as needed; the
 * caller frees it. s must be valid (decoded, or built by the appenders) and
 * k < ht_report_location_nframes. Names depend on nm (see enum
 * ht_granularity). Returns the length. If head is not NULL, *head gets the
 * length of the name's first part, what it names before the source
 * location or address that may follow: the function ("main" of "main
 * main.c:20"), the module and offset, or the file. Exits on out-of-memory. */
size_t ht_report_frame_name(const struct ht_snapshot *s, uint32_t loc, uint32_t k,
			    const struct ht_naming *nm, char **buf, size_t *cap, size_t *head);

/* ---- stacks.c ---- */

/* A set of stacks keyed by their frame names: stacks of one or more snapshots
 * whose names are equal share one entry and sum their counters. Names are
 * interned: a stack is a sequence of name ids, leaf first. A stack with no
 * frames is named "[unknown]". All functions exit on out-of-memory. */
struct ht_report_stacks;

/* The errors of counter index (what is shown) are kept, and those a diff
 * within one run needs for it; ht_report_stacks_err and
 * ht_report_total_err give no other's. */
struct ht_report_stacks *ht_report_stacks_new(const struct ht_naming *nm, enum ht_index index);
void ht_report_stacks_free(struct ht_report_stacks *a); /* NULL is fine */

/* Sets the --focus and --ignore regexes (either may be NULL). Call before
 * the first add. Returns 0, or -1 with err set if a regex does not compile. */
int ht_report_stacks_filter(struct ht_report_stacks *a, const char *focus,
			    const char *ignore, char *err, size_t errlen);

/* Names every stack of s and finds or creates its entry. Returns a malloc'd
 * array (the caller frees it) giving, for each stack of s, its entry's
 * index. Counters are not touched. */
size_t *ht_report_stacks_intern(struct ht_report_stacks *a, const struct ht_snapshot *s);

/* Adds every stack of s with its four counters multiplied by sign (1, or -1
 * for the base of a diff), and their sampling variances. Entries are never
 * removed, even if they sum to 0. */
void ht_report_stacks_add(struct ht_report_stacks *a, const struct ht_snapshot *s,
			  double sign);

size_t ht_report_stacks_count(const struct ht_report_stacks *a);

/* Stack i (< count): its name ids, leaf first, and their number in *n. The
 * pointer is valid until the next add. */
const uint32_t *ht_report_stacks_frames(const struct ht_report_stacks *a, size_t i,
					size_t *n);

/* Counter which of stack i, any of them, and its sampling error: valid
 * once ht_report_stacks_finish has run, and only of the counter the
 * aggregation was made for (ht_report_stacks_new); another aborts. */
double ht_report_stacks_value(const struct ht_report_stacks *a, size_t i,
			      enum ht_index which);
const struct ht_err *ht_report_stacks_err(const struct ht_report_stacks *a, size_t i,
					  enum ht_index which);

/* Makes each stack's error from what was added: for a report (diff 0)
 * the current snapshot's; for a diff, within one process (same: base and
 * current are snapshots of one run, base the older) only what changed in
 * between counts, else both sides' errors add. */
void ht_report_stacks_finish(struct ht_report_stacks *a, int diff, int same);

/* Whether stack i is left out by the filters (its counters still count in
 * the totals that percentages are taken of, as in pprof). */
int ht_report_stacks_hidden(const struct ht_report_stacks *a, size_t i);

/* Number of distinct names, and name id (< nnames), owned by a. */
size_t ht_report_stacks_nnames(const struct ht_report_stacks *a);
const char *ht_report_stacks_name(const struct ht_report_stacks *a, uint32_t id);

/* The length of the first part of name id (see ht_report_frame_name's
 * head): the whole name when no source location follows it. */
size_t ht_report_stacks_name_head(const struct ht_report_stacks *a, uint32_t id);

/* ---- stackerr.c ---- */

/* Whether base and current are snapshots of one run of one process, base
 * taken first, both with per-sample error sums: their samples are shared. */
int ht_report_same_run(const struct ht_snapshot *base, const struct ht_snapshot *cur);

/* Sampling error (sampling.h, sampling.c). A sampled block of size S
 * stands for 1/p blocks, p = 1 - exp(-S/rate). The variance of counter
 * which of st (a stack of s): the snapshot's per-sample sum when it has one
 * (stack_error), else, for files written before those sums, every sample
 * taken to have the stack's average size. 0 for exact snapshots (rate 1)
 * and empty stacks. */
double ht_report_stack_variance(const struct ht_snapshot *s, const struct ht_stack *st,
				enum ht_index which);

/* The error of counter which of st (a stack of s) on its own: estimate,
 * variance and largest share of one sample; all zero when exact. */
void ht_report_stack_err(const struct ht_snapshot *s, const struct ht_stack *st,
			 enum ht_index which, struct ht_err *e);

#endif
