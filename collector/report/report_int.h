/* Internals shared by the report modules (report.c, pprof.c, flame.c,
 * series.c): the aggregation tables, value formatting and the renderers
 * that ht_report_write dispatches to. Not an API for the tools: the mains
 * use report.h only. Grouped by the file that defines each function. */
#ifndef HT_REPORT_INT_H
#define HT_REPORT_INT_H

#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>

#include "report/report.h"
#include "report/sampling.h"

/* ---- report.c ---- */

/* One stack of the aggregation, keyed by its names: ids[first .. first+n),
 * leaf first. v = side[1] - side[0]: what was added with a positive sign
 * (the current snapshot) minus what was added with a negative one (the
 * base). side_err is each side's own sampling error (sampling.h), from
 * which ht_report_stacks_finish makes err, the error of each v. */
struct agg_stack {
	uint32_t first, n;  /* into ids */
	uint64_t hash;
	double v[4];        /* by enum ht_index */
	double side[2][4];  /* [0]: base (added with sign < 0), [1]: current */
	struct ht_err side_err[2][4];
	struct ht_err err[4];
	int hidden;         /* left out by --focus/--ignore */
};

struct ht_report_stacks {
	struct ht_naming naming;
	/* interned names */
	char **names;
	uint32_t *name_len;   /* strlen, with bit 31 set if the name has a ';' */
	uint64_t *name_hash;
	unsigned char *name_match; /* filter results, see match_name */
	size_t nnames, names_cap;
	uint32_t *name_slots; /* open addressing: id + 1, 0 = empty */
	size_t name_mask;
	/* stacks */
	uint32_t *ids;
	size_t nids, ids_cap;
	struct agg_stack *st;
	size_t nst, st_cap;
	uint32_t *st_slots;
	size_t st_mask;
	/* --focus, --ignore */
	regex_t focus, ignore;
	int has_focus, has_ignore;
	size_t nhidden;
};

/* A double as an integer, for any double: decoded counters are at most
 * 2^63 (heaptrace(5)), but their sums, differences and quotients (an
 * average over a tiny object count) are not, and a cast of a value out of
 * the integer's range is undefined. NaN becomes 0, values beyond the range
 * its nearest end; llround is rounded to the nearest first. */
static inline uint64_t ht_report_to_u64(double v)
{
	if (!(v > 0))
		return 0;
	return v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
}

static inline int64_t ht_report_to_i64(double v)
{
	if (v != v)
		return 0;
	if (v >= 9223372036854775808.0)
		return INT64_MAX;
	return v <= -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
}

static inline int64_t ht_report_llround(double v)
{
	return ht_report_to_i64(round(v));
}

/* Whether s was recorded with every allocation (no sampling error). */
int ht_report_exact(const struct ht_snapshot *s);

/* v rounded to an integer, never "-0". */
double ht_report_rounded(double v);

/* Formats a figure of counter w: "1.50MB", "+1.50MB" (sign: for changes),
 * "1200". unit is ht_report_opts.unit (-1: scaled per figure). */
const char *ht_report_fmt_value(double v, enum ht_index w, int sign, int unit,
				char *buf, size_t len);

/* pprof's percentages: "100%", "12.50%", "0.5%", signed when negative. */
const char *ht_report_fmt_pct(double v, double total, char *buf, size_t len);

/* The 95% interval half-width of an error (ht_err_half), "±1.2MB", two or
 * three significant digits; "±0" when the figure is exact. */
const char *ht_report_fmt_interval(const struct ht_err *e, enum ht_index w, int unit,
				   char *buf, size_t len);

/* One row of the top table: a name, its flat and cum figures (of the
 * counter shown) and their errors. */
struct ht_report_row {
	uint32_t id;       /* ht_report_stacks_name */
	double flat, cum;
	struct ht_err flat_err, cum_err;
};

/* The rows of the top table of a, as the text format sorts them, cut by
 * o->top (all when it is the default), in a malloc'd *rows the caller
 * frees; *total is the sum of |figure| over every stack, as percentages
 * are taken of. Returns the number of rows. */
size_t ht_report_rows(const struct ht_report_stacks *a, const struct ht_report_opts *o,
		      struct ht_report_row **rows, double *total);

/* The error of the total of counter w over every stack of a. */
void ht_report_total_err(const struct ht_report_stacks *a, enum ht_index w, struct ht_err *e);

/* The total of counter w that s's exact call counts give, in *t: live
 * objects, blocks handed out, bytes requested. Returns 1, or 0 when they
 * give none (bytes in use: frees are not counted by size). */
int ht_report_exact_total(const struct ht_snapshot *s, enum ht_index w, double *t);

/* Sum of counter w over the stacks of s. */
double ht_report_snapshot_total(const struct ht_snapshot *s, enum ht_index w);

/* The header lines describing one snapshot, each starting with ind
 * (Exe, Command, PID, Snapshot, State, Sampling, Calls, Metrics and the
 * warnings). */
void ht_report_write_snapshot_info(FILE *out, const char *ind, const struct ht_snapshot *s);

/* The warnings about events the tracer could not record, one line each:
 * "<lead>warning: <what>N sampled events were dropped; figures are low". */
void ht_report_write_warnings(FILE *out, const char *lead, const char *what,
			      const struct ht_snapshot *s);

/* Builds the aggregation of cur (minus base) that every format starts
 * from, with o's naming and filters. Returns NULL with err set if a filter
 * does not compile. */
struct ht_report_stacks *ht_report_aggregate(const struct ht_snapshot *base,
					     const struct ht_snapshot *cur,
					     const struct ht_report_opts *o,
					     char *err, size_t errlen);

/* Whether name contains a character that needs a ';' replaced in collapsed
 * output; and a frame name that is an address rather than a symbol
 * ("0x7f12...", "libc.so.6+0x9a0f4"). */
int ht_report_name_is_address(const char *name);

/* ---- pprof.c ---- */

/* Writes cur as a gzip'd profile.proto; with base, the samples of cur and
 * those of base negated and labelled pprof::base=true (what pprof's
 * -diff_base builds). Honours o->focus and o->ignore. Returns 0, or -1
 * with err set. */
int ht_pprof_write(FILE *out, const struct ht_snapshot *base,
		   const struct ht_snapshot *cur, const struct ht_report_opts *o,
		   char *err, size_t errlen);

/* Writes cur in the legacy heap profile text format ("heap_v2/RATE"), with
 * the module map, for jeprof and google-pprof. Returns 0 or -1 with err. */
int ht_pprof_write_heap_v2(FILE *out, const struct ht_snapshot *cur,
			   const struct ht_report_opts *o, char *err, size_t errlen);

/* Rounds a sequence of estimates to integers whose running sum is always
 * the rounded running sum of the estimates: each result is within 1 of its
 * estimate and the results add up to the rounded total. Start with
 * *sum = 0 and *emitted = 0. Used in unit tests. */
int64_t ht_pprof_round(double v, double *sum, int64_t *emitted);

/* ---- flame.c ---- */

/* Writes the interactive SVG flame graph of a (cur, or cur minus base as a
 * differential flame graph). Returns 0, or -1 if out has an error. */
int ht_flame_write(FILE *out, const struct ht_report_stacks *a,
		   const struct ht_snapshot *base, const struct ht_snapshot *cur,
		   const struct ht_report_opts *o);

/* The head of a heaptrace SVG (also the series chart's): the <svg> element
 * (1200 px wide, height px high), the shared style, the script js (a
 * complete <script> element), the background, the title and subtitle. */
void ht_flame_svg_head(FILE *out, double height, const char *js, const char *title,
		       const char *sub);

/* Writes s as XML character data: escapes &<>"' and replaces bytes that
 * are not valid UTF-8 (and XML-forbidden characters) with '?'. */
void ht_flame_xml(FILE *out, const char *s, size_t n);

/* ---- series.c ---- */

/* Writes the series report of snaps[0..n) (text table, or an SVG chart
 * with o->format HT_FORMAT_SVG), in the order of ht_series_order, with a
 * note on it in the text. labels name the files. Returns 0, or -1 with
 * err set. */
int ht_series_write(FILE *out, struct ht_snapshot *const *snaps,
		    const char *const *labels, size_t n,
		    const struct ht_report_opts *o, char *err, size_t errlen);

/* The order of a series: order[0..n) gets the indices of snaps sorted by
 * process (by its start time, then pid) and then by the time each was
 * taken; *moved says whether that differs from the order given. Returns
 * the number of processes the snapshots come from. */
size_t ht_series_order(struct ht_snapshot *const *snaps, size_t n, size_t *order, int *moved);

/* One line, after lead, saying that the snapshots come from several
 * processes, or that they were reordered; nothing if neither. */
void ht_series_order_note(FILE *out, const char *lead, size_t procs, int moved);

/* Whether two snapshots come from one process (same pid and start). */
int ht_report_same_process(const struct ht_snapshot *a, const struct ht_snapshot *b);

/* Least-squares fit of y[0..n) against 0..n-1: the slope per step and the
 * coefficient of determination R^2 (0 when y is constant). Used in unit
 * tests. */
void ht_series_fit(const double *y, size_t n, double *slope, double *r2);

/* ---- json.c ---- */

/* The report of cur (minus base, when not NULL) as one JSON object: the
 * snapshots' facts, the total with its 95% interval and the exact count
 * beside it, the detection limit, and the top table's rows with their
 * intervals (heaptrace-report(1), FORMATS). Names are escaped. */
void ht_json_write(FILE *out, const struct ht_report_stacks *a, const struct ht_snapshot *base,
		   const struct ht_snapshot *cur, const struct ht_report_opts *o);

#endif
