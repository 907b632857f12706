/* The renderers that ht_report_emit and ht_report_write dispatch to
 * (emit.c), one per format, each given the report library's aggregation
 * or the snapshots themselves. Only emit.c calls them (and the unit
 * tests); they call the library (report_int.h), never back. */
#ifndef HT_REPORT_RENDER_H
#define HT_REPORT_RENDER_H

#include <stdio.h>

#include "report/options.h"
#include "report/stacks.h"

/* ---- text.c ---- */

/* pprof's top table of a (after the header): flat, cum, their
 * percentages and, for sampled snapshots, their 95% intervals. */
void ht_text_write_top(FILE *out, const struct ht_report_stacks *a,
		       const struct ht_snapshot *base, const struct ht_snapshot *cur,
		       const struct ht_report_opts *o);

/* pprof's tree (and peek, with o->peek): each shown row with its callers
 * above and callees below. Returns 0, or -1 with err set if the peek regex
 * does not compile. */
int ht_text_write_tree(FILE *out, const struct ht_report_stacks *a,
		       const struct ht_snapshot *base, const struct ht_report_opts *o,
		       char *err, size_t errlen);

/* ---- traces.c ---- */

/* pprof's traces: the text header (and with peak, cur being the peak's
 * view, the line that says so), each line after "# ", then each shown
 * stack with a non-zero counter, largest figure of o's index first (cut
 * by o->top when positive): a line "trace N value=V interval=I
 * inuse_space=.. inuse_objects=.. alloc_space=.. alloc_objects=.."
 * (integers, signed in a diff; I the 95% half-width of V), then one line
 * per frame, leaf first, each after a tab. */
void ht_traces_write(FILE *out, const struct ht_report_stacks *a,
		     const struct ht_snapshot *base, const struct ht_snapshot *cur,
		     const struct ht_report_opts *o, int peak);

/* ---- collapsed.c ---- */

/* "root;...;leaf VALUE" lines of the shown stacks of a, sorted as strings;
 * a ';' inside a name becomes ':'. With o->top, the largest that many. */
void ht_collapsed_write(FILE *out, const struct ht_report_stacks *a,
			const struct ht_report_opts *o);

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

/* ---- dot.c ---- */

/* pprof's call graph of a (cur, or cur minus base) in Graphviz's DOT
 * language, pruned by o->top (--nodecount, default 80), o->nodefraction
 * and o->edgefraction as pprof prunes, with pprof's legend. Node figures
 * are the top table's (ht_report_rows_make). */
void ht_dot_write(FILE *out, const struct ht_report_stacks *a, const struct ht_snapshot *base,
		  const struct ht_snapshot *cur, const struct ht_report_opts *o);

/* Writes s[0..n) as the inside of a DOT string: '"' and '\' escaped,
 * '&' as "&amp;" (Graphviz reads entities in labels), a control
 * character or a byte of invalid UTF-8 (what ht_char_printable refuses)
 * as '?'. Used in unit tests. */
void ht_dot_escape(FILE *out, const char *s, size_t n);

/* pprof's colour "#rrggbb" for score, a share of the total from -1 to 1
 * (clamped): red when positive, green when negative, grey near 0; the
 * light one for a fill with bg. Returns buf. Used in unit tests. */
const char *ht_dot_color(double score, int bg, char *buf, size_t len);

/* ---- graphviz.c ---- */

/* Draws the graph dot[0..len) with Graphviz's dot program (found in
 * PATH, run without a shell, "dot -T<type>"), the graph on its standard
 * input and its standard output, the image, in *img (malloc'd, *imglen
 * bytes; the caller frees it). Its standard error is ours. Returns 0, or
 * -1 with err set: dot not found ("cannot run Graphviz's 'dot' ..."),
 * failed, or killed. */
int ht_graphviz_render(const char *dot, size_t len, const char *type, char **img,
		       size_t *imglen, char *err, size_t errlen);

/* ---- lifeview.c ---- */

/* heaptrace-report's o->view of cur (--lifetimes, --age, --sizes) as a
 * text table: the top stacks (o->top, default 10) with the whole above
 * them, or for sizes the histogram of the shown stacks. Returns 0, or -1
 * with err set: cur has no cells (an older file), a filter is invalid. */
int ht_lifeview_write(FILE *out, const struct ht_snapshot *cur, const struct ht_report_opts *o,
		      char *err, size_t errlen);

/* ---- metrics.c ---- */

/* The figures of s (ht_stats_write's) in Prometheus's text exposition
 * format 0.0.4, each labelled pid and exe: the in-use estimate with its
 * 95% interval, exact calls and bytes, RSS, the allocator's figures,
 * events not recorded; and the in-use bytes of the top stacks (at most
 * top, by function, leaf first) as one gauge labelled stack. Returns 0,
 * or -1 if out has an error. */
int ht_metrics_write(FILE *out, const struct ht_snapshot *s, size_t top);

#endif
