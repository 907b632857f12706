/* Reports over snapshots: naming the frames of a stack, aggregating stacks by
 * their names (so two runs with different address layouts line up), and the
 * output formats of heaptrace-report and heaptrace-diff (pprof-style text
 * "top", collapsed stacks). New formats build on the naming and aggregation. */
#ifndef HT_REPORT_H
#define HT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "snapshot.h"

/* How a frame is named (pprof's granularity options). */
enum ht_granularity {
	HT_GRAN_LINES,     /* "function file.c:12" (file basename); the default */
	HT_GRAN_FUNCTIONS, /* "function" */
	HT_GRAN_FILES,     /* "path/of/file.c" as stored; the function if unknown */
	HT_GRAN_ADDRESSES, /* "function file.c:12 0x7f..." (absolute address) */
};

enum ht_format {
	HT_FORMAT_TEXT,      /* header and pprof "top" table */
	HT_FORMAT_COLLAPSED, /* "root;...;leaf VALUE" lines, for flame graphs */
};

struct ht_naming {
	enum ht_granularity granularity;
	int no_demangle; /* name functions by ht_function.system_name */
};

struct ht_report_opts {
	enum ht_index index;     /* the counter shown; HT_INUSE_SPACE by default */
	enum ht_format format;
	struct ht_naming naming;
	long top;                /* text rows or collapsed lines kept; 0 = all,
				  * -1 = the format's default (10 rows, all lines) */
	const char *base_label;  /* file names shown in the text header; may be NULL */
	const char *cur_label;
	const char *output;      /* ht_report_emit: file to write; NULL or "-": stdout */
};

/* Sets the defaults: inuse_space, text, lines, top -1, no labels, stdout. */
void ht_report_opts_init(struct ht_report_opts *o);

/* Parses the options shared by heaptrace-report and heaptrace-diff (argv[0]
 * is skipped; options and files may be mixed; "--" ends options). Exactly
 * nfiles file names must remain; they are stored in files[]. Sets the labels
 * to the file names. Returns 0, 1 if --help was given, or -1 after printing
 * one line for a usage error (ht_error). */
int ht_report_parse_args(int argc, char **argv, int nfiles, const char **files,
			 struct ht_report_opts *o);

/* The name of a sample index ("inuse_space"), or NULL if out of range. */
const char *ht_report_index_name(enum ht_index which);

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
 * ht_granularity). Returns the length. Exits on out-of-memory. */
size_t ht_report_frame_name(const struct ht_snapshot *s, uint32_t loc, uint32_t k,
			    const struct ht_naming *nm, char **buf, size_t *cap);

/* A set of stacks keyed by their frame names: stacks of one or more snapshots
 * whose names are equal share one entry and sum their counters. Names are
 * interned: a stack is a sequence of name ids, leaf first. A stack with no
 * frames is named "[unknown]". All functions exit on out-of-memory. */
struct ht_report_stacks;

struct ht_report_stacks *ht_report_stacks_new(const struct ht_naming *nm);
void ht_report_stacks_free(struct ht_report_stacks *a); /* NULL is fine */

/* Adds every stack of s with its four counters multiplied by sign (1, or -1
 * for the base of a diff). Entries are never removed, even if they sum to 0. */
void ht_report_stacks_add(struct ht_report_stacks *a, const struct ht_snapshot *s,
			  double sign);

size_t ht_report_stacks_count(const struct ht_report_stacks *a);

/* Stack i (< count): its name ids, leaf first, and their number in *n. The
 * pointer is valid until the next add. */
const uint32_t *ht_report_stacks_frames(const struct ht_report_stacks *a, size_t i,
					size_t *n);

/* Counter which of stack i. */
double ht_report_stacks_value(const struct ht_report_stacks *a, size_t i,
			      enum ht_index which);

/* Number of distinct names, and name id (< nnames), owned by a. */
size_t ht_report_stacks_nnames(const struct ht_report_stacks *a);
const char *ht_report_stacks_name(const struct ht_report_stacks *a, uint32_t id);

/* Writes the report of cur (or of cur minus base, when base is not NULL) in
 * o->format to out. Returns 0, or -1 if out has its error flag set afterwards. */
int ht_report_write(FILE *out, const struct ht_snapshot *base,
		    const struct ht_snapshot *cur, const struct ht_report_opts *o);

/* Renders the report in memory, then writes it to o->output atomically (a
 * temporary file and rename: never a partial file) or to stdout. For formats
 * without a header (collapsed), the snapshot warnings (dropped events) go to
 * stderr. Returns 0, or -1 with a one-line message in err. */
int ht_report_emit(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		   const struct ht_report_opts *o, char *err, size_t errlen);

#endif
