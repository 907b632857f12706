/* Reports over snapshots, the API of heaptrace-report and heaptrace-diff:
 * their options (options.h), and the report rendered in the format asked
 * for and written out. The library below it names frames and aggregates
 * stacks by name (stacks.h); the renderers (render.h) draw text top and
 * tree, collapsed stacks, pprof protobuf, SVG flame graphs and series. */
#ifndef HT_REPORT_H
#define HT_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "report/options.h"
#include "report/sampling.h"
#include "report/stacks.h"
#include "snapshot/snapshot.h"

/* Writes the report of cur (or of cur minus base, when base is not NULL) in
 * o->format to out. Returns 0, or -1 if out has its error flag set
 * afterwards or the format failed (a filter that does not compile). */
int ht_report_write(FILE *out, const struct ht_snapshot *base,
		    const struct ht_snapshot *cur, const struct ht_report_opts *o);

/* Renders the report in memory, then writes it to o->output atomically (a
 * temporary file and rename: never a partial file) or to stdout. For formats
 * without a header (collapsed), the snapshot warnings (dropped events) go to
 * stderr. Returns 0, or -1 with a one-line message in err. */
int ht_report_emit(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		   const struct ht_report_opts *o, char *err, size_t errlen);

/* The series report of snaps[0..n) (n >= 2, oldest first; labels name
 * them), rendered and written like ht_report_emit: a table of each top
 * stack's value per snapshot and the stacks ranked by steady growth, or with
 * HT_FORMAT_SVG the same as a chart. Returns 0, or -1 with err set. */
int ht_report_emit_series(struct ht_snapshot *const *snaps, const char *const *labels,
			  size_t n, const struct ht_report_opts *o, char *err, size_t errlen);

/* The metrics of cur for Prometheus (ht_metrics_write in render.h): at
 * most top stacks. Returns 0, or -1 if out has an error. */
int ht_report_write_metrics(FILE *out, const struct ht_snapshot *cur, size_t top);

#endif
