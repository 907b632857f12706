/* The top of the report wing: renders a report in the format asked for by
 * calling the renderer of that format (render.h) on the library's
 * aggregation, and writes it out whole. The only caller of the renderers. */
#include "report/report.h"
#include "report/render.h"
#include "report/report_int.h"
#include "report/stats.h"
#include "lib/fileio.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the text and tree show the peak profile of s: asked for
 * (--peak), or, for the in-use indexes, when the final snapshot holds
 * almost nothing (1% of the peak at most), as a program that frees
 * everything before it exits leaves it. */
static int show_peak(const struct ht_snapshot *s, const struct ht_report_opts *o)
{
	double now, peak = 0;

	if (!s->peak_time_ns || (o->index != HT_INUSE_SPACE && o->index != HT_INUSE_OBJECTS))
		return 0;
	/* traces are for scripts: the peak only when asked for */
	if (o->format == HT_FORMAT_TRACES)
		return o->peak;
	if (o->format != HT_FORMAT_TEXT && o->format != HT_FORMAT_TREE)
		return 0;
	if (o->peak)
		return 1;
	if (!(s->flags & HT_SNAP_FINAL) || (s->flags & HT_SNAP_PEAK))
		return 0;
	for (size_t i = 0; i < s->nstacks; i++)
		peak += s->stacks[i].peak_space;
	now = ht_report_snapshot_total(s, HT_INUSE_SPACE);
	return peak > 0 && now <= peak / 100;
}

/* The same snapshot as cur with the peak's in-use counters, in *view; its
 * stacks are malloc'd (the caller frees view->stacks). */
static void peak_view(struct ht_snapshot *view, const struct ht_snapshot *cur)
{
	*view = *cur;
	view->stacks = ht_xmalloc((cur->nstacks + 1) * sizeof(*view->stacks));
	for (size_t i = 0; i < cur->nstacks; i++) {
		view->stacks[i] = cur->stacks[i];
		view->stacks[i].inuse_objects = cur->stacks[i].peak_objects;
		view->stacks[i].inuse_space = cur->stacks[i].peak_space;
		view->stacks[i].inuse_samples = cur->stacks[i].peak_samples;
	}
	/* the error sums are of what is in use now, not at the peak:
	 * the peak's error is taken from its average sizes */
	view->stack_error = 0;
}

/* The formats that read the snapshots themselves, not the aggregation:
 * 1 if o's format is one (its result in *rc), else 0. */
static int render_direct(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur,
			 const struct ht_report_opts *o, char *err, size_t errlen, int *rc)
{
	switch (o->format) {
	case HT_FORMAT_STATS:
		/* the whole provenance, as --verbose gives it */
		ht_report_write_provenance(out, base, cur, o);
		fprintf(out, "\n");
		*rc = ht_stats_write(out, base, cur) != 0 ?
		      ht_fail(err, errlen, "cannot write the statistics") : 0;
		return 1;
	case HT_FORMAT_PPROF:
		*rc = ht_pprof_write(out, base, cur, o, err, errlen);
		return 1;
	case HT_FORMAT_HEAP_V2:
		*rc = base ? ht_fail(err, errlen, "format 'heap_v2' shows one snapshot, not a diff") :
		      ht_pprof_write_heap_v2(out, cur, o, err, errlen);
		return 1;
	default:
		return 0;
	}
}

/* The formats drawn from the aggregation a; peak: cur is the peak's view. */
static int render_aggregate(FILE *out, const struct ht_report_stacks *a,
			    const struct ht_snapshot *base, const struct ht_snapshot *cur,
			    const struct ht_report_opts *o, int peak, char *err, size_t errlen)
{
	switch (o->format) {
	case HT_FORMAT_TEXT:
	case HT_FORMAT_TREE:
		ht_report_write_header(out, a, base, cur, o);
		if (peak)
			ht_report_write_peak_note(out, cur, o);
		if (o->format == HT_FORMAT_TREE)
			return ht_text_write_tree(out, a, base, o, err, errlen);
		ht_text_write_top(out, a, base, cur, o);
		return 0;
	case HT_FORMAT_COLLAPSED:
		ht_collapsed_write(out, a, o);
		return 0;
	case HT_FORMAT_TRACES:
		ht_traces_write(out, a, base, cur, o, peak);
		return 0;
	case HT_FORMAT_SVG:
		ht_flame_write(out, a, base, cur, o);
		return 0;
	case HT_FORMAT_JSON:
		ht_json_write(out, a, base, cur, o);
		return 0;
	case HT_FORMAT_DOT:
		ht_dot_write(out, a, base, cur, o);
		return 0;
	default:
		return 0;
	}
}

static int render(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur,
		  const struct ht_report_opts *o, char *err, size_t errlen);

/* png and graph-svg: the dot format, drawn by Graphviz. */
static int render_drawn(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur,
			const struct ht_report_opts *o, char *err, size_t errlen)
{
	struct ht_report_opts d = *o;
	char *dot = NULL, *img = NULL;
	size_t len = 0, imglen = 0;
	FILE *mem = open_memstream(&dot, &len);
	int rc;

	if (!mem)
		return ht_fail(err, errlen, "cannot render the graph: %s", strerror(errno));
	d.format = HT_FORMAT_DOT;
	rc = render(mem, base, cur, &d, err, errlen);
	if (fclose(mem) && !rc)
		rc = ht_fail(err, errlen, "cannot render the graph: out of memory");
	if (!rc)
		rc = ht_graphviz_render(dot, len, o->format == HT_FORMAT_PNG ? "png" : "svg",
					&img, &imglen, err, errlen);
	if (!rc && fwrite(img, 1, imglen, out) != imglen)
		rc = ht_fail(err, errlen, "cannot write the graph: %s", strerror(errno));
	free(dot);
	free(img);
	return rc;
}

/* --temporary-under: the temp counters of base and cur from their
 * lifetimes, then the report. */
static int render_temp_under(FILE *out, const struct ht_snapshot *base,
			     const struct ht_snapshot *cur, const struct ht_report_opts *o,
			     char *err, size_t errlen)
{
	struct ht_snapshot vb, vc;
	struct ht_stack *sb = NULL, *sc;
	struct ht_report_opts d = *o;
	int rc;

	if ((base && ht_cells_check(base, "option '--temporary-under'", err, errlen)) ||
	    ht_cells_check(cur, "option '--temporary-under'", err, errlen))
		return -1;
	if (base)
		sb = ht_cells_temp_view(&vb, base, o->temp_edge);
	sc = ht_cells_temp_view(&vc, cur, o->temp_edge);
	d.temp_viewed = 1;
	rc = render(out, base ? &vb : NULL, &vc, &d, err, errlen);
	free(sb);
	free(sc);
	return rc;
}

static int render(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur,
		  const struct ht_report_opts *o, char *err, size_t errlen)
{
	struct ht_report_stacks *a;
	struct ht_snapshot view;
	struct ht_stack *peak_stacks = NULL;
	int rc = 0;

	if (o->view)
		return ht_lifeview_write(out, cur, o, err, errlen);
	if (o->color_age && ht_cells_check(cur, "option '--color age'", err, errlen))
		return -1;
	if (o->temp_under_ns > 0 && !o->temp_viewed)
		return render_temp_under(out, base, cur, o, err, errlen);
	if ((base && ht_report_check_index(base, o->index, o->base_label, err, errlen)) ||
	    ht_report_check_index(cur, o->index, o->cur_label, err, errlen))
		return -1;
	if (o->format == HT_FORMAT_PNG || o->format == HT_FORMAT_GRAPH_SVG)
		return render_drawn(out, base, cur, o, err, errlen);
	if (render_direct(out, base, cur, o, err, errlen, &rc))
		return rc;
	if (o->peak && !cur->peak_time_ns && (o->format == HT_FORMAT_TEXT ||
					      o->format == HT_FORMAT_TREE ||
					      o->format == HT_FORMAT_TRACES))
		return ht_fail(err, errlen, "option '--peak': the snapshot has no peak profile "
			       "(an older heaptrace wrote it)");
	if (!base && show_peak(cur, o)) {
		peak_view(&view, cur);
		peak_stacks = view.stacks;
		cur = &view;
	}
	a = ht_report_aggregate(base, cur, o, err, errlen);
	if (!a) {
		free(peak_stacks);
		return -1;
	}
	rc = render_aggregate(out, a, base, cur, o, peak_stacks != NULL, err, errlen);
	ht_report_stacks_free(a);
	free(peak_stacks);
	if (!rc && ferror(out))
		rc = ht_fail(err, errlen, "cannot write the report: %s", strerror(errno));
	return rc;
}

int ht_report_write(FILE *out, const struct ht_snapshot *base,
		    const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	char err[256];

	return render(out, base, cur, o, err, sizeof(err));
}

/* Writes a rendered report to o->output (atomically) or stdout. */
static int put_out(const char *buf, size_t len, const struct ht_report_opts *o,
		   char *err, size_t errlen)
{
	return ht_file_save(o->output ? o->output : "-", HT_FILE_NAMED, NULL, 0, buf, len, err,
			    errlen);
}

static int to_terminal(const struct ht_report_opts *o, char *err, size_t errlen)
{
	if ((o->format == HT_FORMAT_PPROF || o->format == HT_FORMAT_PNG) &&
	    (!o->output || strcmp(o->output, "-") == 0) && isatty(1))
		return ht_fail(err, errlen, "not writing %s to a terminal (use -o FILE)",
			       o->format == HT_FORMAT_PNG ? "a PNG image" : "a binary pprof profile");
	return 0;
}

/* What to render: the report of cur (minus base), or a series. */
struct rendering {
	const struct ht_snapshot *base, *cur;
	struct ht_snapshot *const *snaps; /* a series, when not NULL */
	const char *const *labels;
	size_t n;
};

/* Renders r into *buf (malloc'd; NULL after an error) and *len. */
static int render_to_memory(const struct rendering *r, const struct ht_report_opts *o,
			    char **buf, size_t *len, char *err, size_t errlen)
{
	FILE *mem = open_memstream(buf, len);
	int rc;

	if (!mem)
		return ht_fail(err, errlen, "cannot render the report: %s", strerror(errno));
	if (r->snaps)
		rc = ht_series_write(mem, r->snaps, r->labels, r->n, o, err, errlen);
	else
		rc = render(mem, r->base, r->cur, o, err, errlen);
	if (fclose(mem) && !rc)
		rc = ht_fail(err, errlen, "cannot render the report: out of memory");
	if (rc) {
		free(*buf);
		return -1;
	}
	return 0;
}

/* Writes the rendered buf and frees it. */
static int put_out_free(char *buf, size_t len, const struct ht_report_opts *o,
			char *err, size_t errlen)
{
	int rc = put_out(buf, len, o, err, errlen);

	free(buf);
	return rc;
}

int ht_report_emit(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		   const struct ht_report_opts *o, char *err, size_t errlen)
{
	struct rendering r = { base, cur, NULL, NULL, 0 };
	char *buf = NULL, lead[256];
	size_t len = 0;

	if (to_terminal(o, err, errlen) || render_to_memory(&r, o, &buf, &len, err, errlen))
		return -1;
	/* formats without a header: the warnings go to stderr */
	if (o->format != HT_FORMAT_TEXT && o->format != HT_FORMAT_TREE &&
	    o->format != HT_FORMAT_TRACES) {
		snprintf(lead, sizeof(lead), "%s: ", ht_progname);
		if (base)
			ht_report_reversed_warning(stderr, lead, base, cur);
		if (base)
			ht_report_write_warnings(stderr, lead, "base: ", base);
		ht_report_write_warnings(stderr, lead, base ? "current: " : "", cur);
	}
	return put_out_free(buf, len, o, err, errlen);
}

/* A series' notes and warnings, on stderr when its format has no room. */
static void series_warnings(struct ht_snapshot *const *snaps, const char *const *labels,
			    size_t n)
{
	size_t *order = ht_xmalloc(n * sizeof(*order)), procs;
	int moved;
	char lead[256], what[256];

	procs = ht_series_order(snaps, n, order, &moved);
	free(order);
	snprintf(lead, sizeof(lead), "%s: ", ht_progname);
	ht_series_order_note(stderr, lead, procs, moved);
	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "%s: ", labels[i]);
		ht_report_write_warnings(stderr, lead, what, snaps[i]);
	}
}

/* --temporary-under in a series: views[0..n) of snaps whose temp counters
 * are those of the limit, their stacks malloc'd. Returns 0, or -1 with
 * err set when a snapshot has no cells. */
static int series_temp_views(struct ht_snapshot *const *snaps, const char *const *labels,
			     size_t n, const struct ht_report_opts *o,
			     struct ht_snapshot *views, struct ht_snapshot **ptrs,
			     char *err, size_t errlen)
{
	char what[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "option '--temporary-under': '%s'", labels[i]);
		if (ht_cells_check(snaps[i], what, err, errlen)) {
			while (i--)
				free(views[i].stacks);
			return -1;
		}
		ht_cells_temp_view(&views[i], snaps[i], o->temp_edge);
		ptrs[i] = &views[i];
	}
	return 0;
}

int ht_report_emit_series(struct ht_snapshot *const *snaps, const char *const *labels,
			  size_t n, const struct ht_report_opts *o, char *err, size_t errlen)
{
	struct rendering r = { NULL, NULL, snaps, labels, n };
	struct ht_snapshot *views = NULL, **ptrs = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (o->temp_under_ns > 0) {
		views = ht_xcalloc(n + 1, sizeof(*views));
		ptrs = ht_xcalloc(n + 1, sizeof(*ptrs));
		if (series_temp_views(snaps, labels, n, o, views, ptrs, err, errlen)) {
			free(views);
			free(ptrs);
			return -1;
		}
		r.snaps = ptrs;
	}
	rc = render_to_memory(&r, o, &buf, &len, err, errlen);
	for (size_t i = 0; views && i < n; i++)
		free(views[i].stacks);
	free(views);
	free(ptrs);
	if (rc)
		return -1;
	if (o->format != HT_FORMAT_TEXT)
		series_warnings(snaps, labels, n);
	return put_out_free(buf, len, o, err, errlen);
}

int ht_report_write_metrics(FILE *out, const struct ht_snapshot *cur, size_t top)
{
	return ht_metrics_write(out, cur, top);
}
