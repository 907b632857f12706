/* The report library that the renderers share (the files of report/): the
 * aggregation's tables, number formatting, the text header and the rows
 * of the top table. Not an API for the tools: the mains use report.h.
 * Grouped by the file that defines each function. */
#ifndef HT_REPORT_INT_H
#define HT_REPORT_INT_H

#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>

#include "report/options.h"
#include "report/sampling.h"
#include "report/stacks.h"
#include "lib/strtab.h"

/* A string from a snapshot, "" for NULL. */
static inline const char *ht_report_str(const char *s)
{
	return s ? s : "";
}

/* ---- hide.c ---- */

/* --hide: which frames are taken out of the stacks, and which were. */
struct ht_hide {
	const regex_t *rx;      /* &own, or the built-in list's */
	regex_t own;            /* the user's, compiled */
	int active;             /* rx is to be applied */
	const char *re;         /* the user's regex; NULL: the built-in list */
	struct ht_strtab hit;   /* short names of the functions hidden */
	/* what was matched, for the last snapshot seen: by function, and
	 * by location for frames without a function name */
	const struct ht_snapshot *memo_s;
	const void *memo_functions, *memo_locations;
	unsigned char *memo_fn, *memo_loc;
	char *name;             /* scratch for frame names */
	size_t name_cap;
};

/* Sets up h for the regex re: NULL for the built-in list of allocation
 * wrappers, "" for none. Returns 0, or -1 with err set if re does not
 * compile ("invalid --hide regex ..."). Free with ht_hide_free. The
 * built-in list is compiled once per process and kept (not thread-safe:
 * the reader tools are single-threaded). */
int ht_hide_init(struct ht_hide *h, const char *re, char *err, size_t errlen);
void ht_hide_free(struct ht_hide *h);

/* Whether frame k of location loc of s is to be hidden: its function's
 * name (as nm names functions: demangled unless no_demangle; the module
 * and offset when it has none) matches. Each function is matched once per
 * snapshot. */
int ht_hide_frame(struct ht_hide *h, const struct ht_snapshot *s, uint32_t loc, uint32_t k,
		  const struct ht_naming *nm);

/* Whether every frame of location loc of s is to be hidden. */
int ht_hide_location(struct ht_hide *h, const struct ht_snapshot *s, uint32_t loc,
		     const struct ht_naming *nm);

/* Records that frame k of loc of s was taken out of a stack: its name,
 * without arguments and template arguments, joins the "Hidden:" line. */
void ht_hide_note(struct ht_hide *h, const struct ht_snapshot *s, uint32_t loc, uint32_t k,
		  const struct ht_naming *nm);

/* The short names of what was hidden, sorted, in *names (malloc'd; the
 * caller frees it, not the names, which are h's). Returns their number. */
size_t ht_hide_names(const struct ht_hide *h, const char ***names);

/* The "Hidden:" line below, without lead or newline, malloc'd (the caller
 * frees it); NULL if nothing was hidden. */
char *ht_hide_line(const struct ht_hide *h);

/* "<lead>Hidden: operator new, xmalloc (the built-in list; --hide '' shows
 * them)" or "(--hide 'RE')": one line naming what was hidden, sorted, at
 * most 8 names and a count of the others; nothing if nothing was. */
void ht_hide_write_line(FILE *out, const char *lead, const struct ht_hide *h);

/* A note, when the built-in list hid a function that regex re of
 * option opt ("--focus") matches (which it then cannot match in the
 * stacks): "note: --focus 'xmalloc' matches xmalloc, which the built-in
 * list hid: --hide '' shows it". Nothing if re is NULL. */
void ht_hide_filter_note(FILE *out, const struct ht_hide *h, const char *opt, const char *re);

/* ---- stacks.c ---- */

/* The counters whose errors an aggregation keeps: the one it shows and the
 * one a diff within a run bounds it by (partner in stacks.c). A stack's
 * errors of all six took 864 of its 1,032 bytes; with two, a diff of two
 * 110,000-stack snapshots went from 0.31 s to 0.245 s. */
#define HT_KEPT 2

/* One stack of the aggregation, keyed by its names: ids[first .. first+n),
 * leaf first. v = side[1] - side[0]: what was added with a positive sign
 * (the current snapshot) minus what was added with a negative one (the
 * base). side_err is each side's own sampling error (sampling.h), from
 * which ht_report_stacks_finish makes err, the error of v's shown counter. */
struct agg_stack {
	uint32_t first, n;  /* into ids */
	uint64_t hash;
	double v[HT_NINDEX];        /* by enum ht_index */
	double side[2][HT_NINDEX];  /* [0]: base (added with sign < 0), [1]: current */
	/* the sides' errors while snapshots are added, then the stack's, which
	 * ht_report_stacks_finish makes of them: one in place of the other,
	 * as a diff of 100,000 stacks touched 190 MB with both; of the kept
	 * counters only (struct ht_report_stacks: kept) */
	union {
		struct ht_err side_err[2][HT_KEPT];
		struct ht_err err[HT_KEPT];
	};
	int hidden;         /* left out by --focus/--ignore */
};

/* name_len: strlen, with this bit set if the name holds a ';' */
#define HT_NAME_SEMI 0x80000000u
#define HT_NAME_LEN 0x7fffffffu

struct ht_report_stacks {
	struct ht_naming naming;
	/* interned names: a name id is its id in names, names.str[id] the name */
	struct ht_strtab names;
	uint32_t *name_len;   /* by id: strlen | HT_NAME_SEMI */
	uint32_t *name_head;  /* by id: length of the first part (ht_report_frame_name) */
	unsigned char *name_match; /* by id: filter results, see match_name */
	size_t names_cap;     /* room in name_len, name_head and name_match */
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
	/* --hide */
	struct ht_hide hide;
	/* by enum ht_index: where its errors are in a stack's err[] and
	 * side_err[][], or -1 if they are not kept */
	signed char kept[HT_NINDEX];
	enum ht_index shown; /* the counter whose errors err[0] holds once finished */
};

/* A new aggregation with o's naming, filters and --hide. Returns NULL
 * with err set if a regex does not compile. */
struct ht_report_stacks *ht_report_stacks_for(const struct ht_report_opts *o, char *err,
					      size_t errlen);

/* Compiles the regex re of option opt ("--focus") into rx. Returns 0, or
 * -1 with err set ("invalid --focus regex 'a(': ..."). */
int ht_report_regcomp(regex_t *rx, const char *opt, const char *re, char *err, size_t errlen);

/* Builds the aggregation of cur (minus base) that every format starts
 * from, with o's naming and filters. Returns NULL with err set if a filter
 * does not compile. */
struct ht_report_stacks *ht_report_aggregate(const struct ht_snapshot *base,
					     const struct ht_snapshot *cur,
					     const struct ht_report_opts *o,
					     char *err, size_t errlen);

/* The error of the total of counter w over every stack of a. */
void ht_report_total_err(const struct ht_report_stacks *a, enum ht_index w, struct ht_err *e);

/* ---- stackerr.c ---- */

/* Whether s was recorded with every allocation (no sampling error). */
int ht_report_exact(const struct ht_snapshot *s);

/* Sum of counter w over the stacks of s. */
double ht_report_snapshot_total(const struct ht_snapshot *s, enum ht_index w);

/* The total of counter w that s's exact call counts give, in *t: live
 * objects, blocks handed out, bytes requested. Returns 1, or 0 when they
 * give none (bytes in use: frees are not counted by size). */
int ht_report_exact_total(const struct ht_snapshot *s, enum ht_index w, double *t);

/* Whether s carries counter w: the temporary ones came with the cells
 * (has_cells). Returns 0, or -1 with err set ("sample index 'temp_space':
 * 'x.heap' has no temporary blocks (an older heaptrace wrote it)"); label
 * names the file, or NULL: "the snapshot". */
int ht_report_check_index(const struct ht_snapshot *s, enum ht_index w, const char *label,
			  char *err, size_t errlen);

/* Whether two snapshots come from one process (same pid and start). */
int ht_report_same_process(const struct ht_snapshot *a, const struct ht_snapshot *b);

/* ---- names.c ---- */

/* The last component of path ("a/b.c" -> "b.c"); path itself if it ends
 * in '/'. */
const char *ht_report_base_name(const char *path);

/* Whether a frame name is an address rather than a symbol ("0x7f12...",
 * "libc.so.6+0x9a0f4"). */
int ht_report_name_is_address(const char *name);

/* ---- format.c ---- */

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

/* Whether counter w counts bytes (the space indexes). */
int ht_report_is_bytes(enum ht_index w);

/* v rounded to an integer, never "-0". */
double ht_report_rounded(double v);

/* Formats a figure of counter w: "1.50MB", "+1.50MB" (sign: for changes),
 * "1200". unit is ht_report_opts.unit (-1: scaled per figure). */
const char *ht_report_fmt_value(double v, enum ht_index w, int sign, int unit,
				char *buf, size_t len);

/* A figure of o's counter in o's unit (ht_report_fmt_value). */
const char *ht_report_fmt_figure(double v, const struct ht_report_opts *o, int sign,
				 char *buf, size_t len);

/* pprof's percentages: "100%", "12.50%", "0.5%", signed when negative. */
const char *ht_report_fmt_pct(double v, double total, char *buf, size_t len);

/* The 95% interval half-width of an error (ht_err_half), "±1.2MB", two or
 * three significant digits; "±0" when the figure is exact. */
const char *ht_report_fmt_interval(const struct ht_err *e, enum ht_index w, int unit,
				   char *buf, size_t len);

/* "2024-01-31 12:00:00 UTC" of a wall-clock time in ns. */
void ht_report_fmt_time(int64_t ns, char *buf, size_t len);

/* ---- header.c ---- */

/* The header of the text and tree formats: by default one line per
 * snapshot, its warnings, the memory line of a report, the sample index
 * and the sampling; with --verbose every detail of each snapshot. */
void ht_report_write_header(FILE *out, const struct ht_report_stacks *a,
			    const struct ht_snapshot *base, const struct ht_snapshot *cur,
			    const struct ht_report_opts *o);

/* The whole provenance of the snapshots, labelled with o's labels: "File:"
 * and the snapshot's lines, or "Base:" and "Current:" blocks for a diff. */
void ht_report_write_provenance(FILE *out, const struct ht_snapshot *base,
				const struct ht_snapshot *cur, const struct ht_report_opts *o);

/* The header lines describing one snapshot, each starting with ind
 * (Exe, Command, PID, Snapshot, State, Sampling, Calls, Metrics and the
 * warnings). */
void ht_report_write_snapshot_info(FILE *out, const char *ind, const struct ht_snapshot *s);

/* The warnings about events the tracer could not record, one line each:
 * "<lead>warning: <what>N sampled events were dropped; figures are low". */
void ht_report_write_warnings(FILE *out, const char *lead, const char *what,
			      const struct ht_snapshot *s);

/* A warning after lead when base was taken after cur by the same process:
 * the change shown is then the reverse of what happened. */
void ht_report_reversed_warning(FILE *out, const char *lead, const struct ht_snapshot *base,
				const struct ht_snapshot *cur);

/* The head of a view of the cells (--lifetimes etc.): the snapshot's
 * line, "Type: WHAT; <sampling>", the filters. */
void ht_report_write_view_header(FILE *out, const struct ht_report_stacks *a,
				 const struct ht_snapshot *cur,
				 const struct ht_report_opts *o, const char *what);

/* For the temp indexes, the line saying what counts as temporary. */
void ht_report_write_temp_note(FILE *out, const struct ht_report_opts *o);

/* The line saying that the table shows the peak of s, and when it was. */
void ht_report_write_peak_note(FILE *out, const struct ht_snapshot *s,
			       const struct ht_report_opts *o);

/* ---- rows.c ---- */

/* One row of the top table: a name, its flat and cum figures (of the
 * counter shown) and their errors. */
struct ht_report_row {
	uint32_t id;       /* ht_report_stacks_name */
	double flat, cum;
	struct ht_err flat_err, cum_err;
};

/* The rows of a by frame name: the base of top, tree and json. */
struct ht_report_rows {
	struct ht_report_row *r;    /* rows worth showing, sorted */
	size_t n;
	double total;               /* sum of |value| of every stack, filtered or not */
	struct ht_report_row *by_id; /* every name, indexed by id */
};

/* Sums flat and cum (with their errors) per name over the shown stacks of
 * a, keeps the names with a non-zero figure (and matching peek, if not
 * NULL), sorted by flat, then cum, then name. Free with
 * ht_report_rows_free. */
void ht_report_rows_make(struct ht_report_rows *r, const struct ht_report_stacks *a,
			 const struct ht_report_opts *o, const regex_t *peek);
void ht_report_rows_free(struct ht_report_rows *r);

/* The number of rows kept by --top: o->top, or by default dflt (0: all). */
size_t ht_report_rows_shown(const struct ht_report_rows *r, const struct ht_report_opts *o,
			    size_t dflt);

/* The rows of the top table of a, as the text format sorts them, cut by
 * o->top (all when it is the default), in a malloc'd *rows the caller
 * frees; *total is the sum of |figure| over every stack, as percentages
 * are taken of. Returns the number of rows. */
size_t ht_report_rows(const struct ht_report_stacks *a, const struct ht_report_opts *o,
		      struct ht_report_row **rows, double *total);

/* ---- cells.c ---- */

/* One histogram of a kind of cells (enum ht_cell_kind), summed over some
 * stacks: each bucket's estimates and their variance sums. */
struct ht_cell_bucket {
	double objects, space, var_objects, var_space;
};

struct ht_cell_row {
	size_t stack;         /* the aggregation's stack; SIZE_MAX: every shown one */
	struct ht_cell_bucket h[HT_SIZE_BUCKETS]; /* by bucket (time kinds use 32) */
	double share_objects, share_space; /* largest share of one sample */
	double samples;       /* the raw samples behind the cells */
};

/* The histograms of one kind over the shown stacks (all) and over the
 * top stacks by it (rows, n of ranked). */
struct ht_cells {
	int kind;
	struct ht_cell_row all;
	struct ht_cell_row *rows;
	size_t n, ranked;
};

/* A quantile of a histogram and its 95% interval [lo, hi]; open: the
 * value is in the last bucket, at least its lower end (hi_open: hi is). */
struct ht_quantile {
	int valid;   /* 0: nothing to take it of */
	double v, lo, hi;
	int open, hi_open;
};

/* The buckets of kind, and the lower end of bucket k (ns or bytes). */
unsigned ht_cells_nbuckets(int kind);
double ht_cells_lower(int kind, unsigned k);

/* 0 if s carries cells, else -1 with err: "WHAT: the snapshot has no
 * lifetimes, ages or sizes (an older heaptrace wrote it)". */
int ht_cells_check(const struct ht_snapshot *s, const char *what, char *err, size_t errlen);

/* Gathers the cells of kind of s (added to a: the stacks of s are
 * interned in it) into g: all over the shown stacks, and rows for the top
 * of them (0: all) ranked by bytes (bytes) or objects. Free with
 * ht_cells_free. Exits on out-of-memory. */
void ht_cells_gather(struct ht_cells *g, struct ht_report_stacks *a, const struct ht_snapshot *s,
		     int kind, int bytes, size_t top);
void ht_cells_free(struct ht_cells *g);

/* The sum of a row's buckets in bytes or objects, and its variance. */
double ht_cells_total(const struct ht_cell_row *r, int kind, int bytes, double *var);

/* That sum as an error (sampling.h), for its interval. */
void ht_cells_err(const struct ht_cell_row *r, int kind, int bytes, struct ht_err *e);

/* The part of bucket k of kind below the value t: 1 or 0, or for the
 * bucket t cuts, the part of its logarithmic width below t (of its width,
 * for bucket 0). */
double ht_cells_part_below(int kind, unsigned k, double t);

/* The share of a row below the value t (ns or bytes) into *f, a bucket
 * cut by t counted in part (evenly over the logarithm within it), and the
 * share's variance as a ratio estimate. */
void ht_cells_share_below(const struct ht_cell_row *r, int kind, int bytes, double t,
			  double *f, double *var);

/* The part of a row from the value lo to hi (buckets cut counted in part,
 * as ht_cells_share_below does), and its variance: a fixed sum of the
 * buckets, so the sum of their variances times the parts squared. */
double ht_cells_between(const struct ht_cell_row *r, int kind, int bytes, double lo, double hi,
			double *var);

/* The 95% interval [*lo, *hi] of a share f of a row with variance var
 * (ht_cells_share_below): Wilson's score interval for the sample size that
 * var implies (the row's samples when f is 0 or 1); [f, f] when the row
 * is exact (no variance at all). */
void ht_cells_share_bounds(const struct ht_cell_row *r, int kind, int bytes, double f,
			   double var, double *lo, double *hi);

/* The p-quantile (0 < p < 1) of a row, interpolated within its bucket,
 * with Woodruff's 95% interval (where the share's band, Wilson's, crosses
 * p). */
void ht_cells_quantile(const struct ht_cell_row *r, int kind, int bytes, double p,
		       struct ht_quantile *q);

/* The share of each stack's in-use figure (bytes or objects) in s that is
 * at least gap_ns old, from its AGE cells: kept[map[j]] for stack j of s
 * (kept[0..nst)), -1 for a stack without them. Returns 0 (and every
 * kept -1) when s has no cells. */
int ht_cells_kept(const struct ht_snapshot *s, double gap_ns, const size_t *map, size_t nst,
		  int bytes, double *kept);

/* A duration "1ms", "2.5s", "500us", "1min", "1h", "100ns" in ns into
 * *ns: 0, or -1 if it is not one (or not positive). */
int ht_cells_parse_duration(const char *s, double *ns);

/* "850ns", "12us", "1.50ms", "2.3s", "4.50min", "1.2h". Returns buf. */
const char *ht_cells_fmt_ns(double ns, char *buf, size_t len);

/* The time bucket edge (1..31) nearest ns on a logarithmic scale. */
unsigned ht_cells_edge_near(double ns);

/* The view of s whose temporary counters are the blocks freed younger
 * than time bucket edge (their LIFE cells below it): *view is s with
 * malloc'd stacks, returned for the caller to free. */
struct ht_stack *ht_cells_temp_view(struct ht_snapshot *view, const struct ht_snapshot *s,
				    unsigned edge);

#endif
