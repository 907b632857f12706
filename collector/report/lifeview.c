/* heaptrace-report's views of time and size in the heap, from the cells:
 * --lifetimes (blocks freed, by how long they lived), --age (bytes in use,
 * by how old they are) and --sizes (blocks allocated, by requested size),
 * each a text table with the 95% intervals of its figures. */
#include "report/report_int.h"
#include "report/render.h"
#include "lib/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CELL 48

/* A table of text cells: the last column (the stack) is left-aligned,
 * the others right-aligned; a column whose title is NULL is left out. */
struct table {
	int ncols;
	const char *const *titles;
	char (*cell)[CELL];
	size_t nrows, cap;
	const char **names; /* per row: the last column */
	size_t *stack;      /* per row: a stack of the aggregation, or SIZE_MAX */
};

static char *row_cells(struct table *t, size_t *r)
{
	t->cell = ht_xgrow(t->cell, &t->cap, (t->nrows + 1) * (size_t)t->ncols, CELL);
	*r = t->nrows++;
	t->names = ht_xrealloc(t->names, t->nrows * sizeof(*t->names));
	t->stack = ht_xrealloc(t->stack, t->nrows * sizeof(*t->stack));
	t->names[*r] = NULL;
	t->stack[*r] = SIZE_MAX;
	return t->cell[*r * (size_t)t->ncols];
}

static void write_table(FILE *out, struct table *t, const struct ht_report_stacks *a,
			const char *last)
{
	int w[16] = { 0 };

	for (int c = 0; c < t->ncols; c++)
		if (t->titles[c])
			w[c] = (int)strlen(t->titles[c]);
	for (size_t r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++)
			if ((int)strlen(t->cell[r * t->ncols + c]) > w[c])
				w[c] = (int)strlen(t->cell[r * t->ncols + c]);
	for (int c = 0, first = 1; c < t->ncols; c++)
		if (t->titles[c]) {
			fprintf(out, "%s%*s", first ? "" : " ", w[c], t->titles[c]);
			first = 0;
		}
	fprintf(out, "  %s\n", last);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0, first = 1; c < t->ncols; c++)
			if (t->titles[c]) {
				fprintf(out, "%s%*s", first ? "" : " ", w[c], t->cell[r * t->ncols + c]);
				first = 0;
			}
		fprintf(out, "  ");
		if (t->names[r]) {
			fputs(t->names[r], out);
		} else {
			const struct agg_stack *st = &a->st[t->stack[r]];

			for (uint32_t k = 0; k < st->n; k++)
				fprintf(out, "%s%s", k ? " < " : "", a->names.str[a->ids[st->first + k]]);
		}
		fprintf(out, "\n");
	}
	free(t->cell);
	free(t->names);
	free(t->stack);
}

/* A count (objects or bytes) and its ± into two cells. */
static void put_count(char *v, char *pm, double y, double var, double share, int bytes,
		      const struct ht_report_opts *o)
{
	struct ht_err e = { .up = y, .up_var = var, .share = var > 0 ? share : 0 };
	enum ht_index w = bytes ? HT_ALLOC_SPACE : HT_ALLOC_OBJECTS;

	ht_report_fmt_value(y, w, 0, o->unit, v, CELL);
	ht_report_fmt_interval(&e, w, o->unit, pm, CELL);
}

/* A share of the total and its ±, the larger side of its interval:
 * "49.5%", "±3.1%". */
static void put_share(char *v, char *pm, const struct ht_cell_row *r, int kind, double f,
		      double var)
{
	double lo, hi;

	ht_cells_share_bounds(r, kind, 0, f, var, &lo, &hi);
	snprintf(v, CELL, "%.1f%%", 100 * f);
	snprintf(pm, CELL, "±%.1f%%", 100 * (hi - f > f - lo ? hi - f : f - lo));
}

/* A time quantile and its interval: "1.20ms", "0.9ms-1.9ms". */
static void put_time_quantile(char *v, char *iv, const struct ht_quantile *q)
{
	char b1[24], b2[24];

	if (!q->valid) {
		snprintf(v, CELL, "-");
		snprintf(iv, CELL, "-");
		return;
	}
	snprintf(v, CELL, "%s%s", q->open ? ">=" : "", ht_cells_fmt_ns(q->v, b1, sizeof(b1)));
	snprintf(iv, CELL, "%s-%s%s", ht_cells_fmt_ns(q->lo, b1, sizeof(b1)),
		 ht_cells_fmt_ns(q->hi, b2, sizeof(b2)), q->hi_open ? "+" : "");
}

static const char *const note_quantiles =
	"Times are interpolated within log-scale buckets (1, 2, 5 per decade): to within a bucket.\n";

static void write_intervals_note(FILE *out, int exact)
{
	if (!exact)
		fprintf(out, "±95%%: 95%% interval of the sampling error; 95%%: that of a "
			"quantile (Woodruff's, from the share's interval)\n");
}

/* One row of the lifetimes table for r, the stack st or every one. */
static void lifetime_row(struct table *t, const struct ht_cell_row *r, size_t st,
			 const char *name, const struct ht_report_opts *o)
{
	enum { FREED, FREEDI, BYTES, BYTESI, MED, MEDI, P90, P90I, SHORT, SHORTI };
	char *c = row_cells(t, &(size_t){ 0 });
	double vo, vs, y, f, fv;
	struct ht_quantile q;

	t->names[t->nrows - 1] = name;
	t->stack[t->nrows - 1] = st;
	y = ht_cells_total(r, HT_CELL_LIFE, 0, &vo);
	put_count(c + FREED * CELL, c + FREEDI * CELL, y, vo, r->share_objects, 0, o);
	y = ht_cells_total(r, HT_CELL_LIFE, 1, &vs);
	put_count(c + BYTES * CELL, c + BYTESI * CELL, y, vs, r->share_space, 1, o);
	ht_cells_quantile(r, HT_CELL_LIFE, 0, 0.5, &q);
	put_time_quantile(c + MED * CELL, c + MEDI * CELL, &q);
	ht_cells_quantile(r, HT_CELL_LIFE, 0, 0.9, &q);
	put_time_quantile(c + P90 * CELL, c + P90I * CELL, &q);
	ht_cells_share_below(r, HT_CELL_LIFE, 0, 1e6, &f, &fv);
	put_share(c + SHORT * CELL, c + SHORTI * CELL, r, HT_CELL_LIFE, f, fv);
}

static void write_lifetimes(FILE *out, const struct ht_cells *g, const struct ht_report_stacks *a,
			    const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	int exact = ht_report_exact(cur);
	const char *titles[10] = { "freed", "±95%", "bytes", "±95%", "median", "95%", "p90", "95%",
				   "<1ms", "±95%" };
	struct table t = { 10, titles, NULL, 0, 0, NULL, NULL };

	if (exact)
		titles[1] = titles[3] = titles[5] = titles[7] = titles[9] = NULL;
	ht_report_write_view_header(out, a, cur, o, "lifetimes of the blocks freed (objects)");
	fputs(note_quantiles, out);
	write_intervals_note(out, exact);
	if (g->n < g->ranked)
		fprintf(out, "Showing the top %zu of %zu stacks by blocks freed\n", g->n, g->ranked);
	lifetime_row(&t, &g->all, SIZE_MAX, "(all shown stacks)", o);
	for (size_t i = 0; i < g->n; i++)
		lifetime_row(&t, &g->rows[i], g->rows[i].stack, NULL, o);
	write_table(out, &t, a, "stack");
}

/* The age classes of --age: their ends in ns. */
static const double age_edges[5] = { 0, 1e9, 60e9, 3600e9, INFINITY };

static void age_row(struct table *t, const struct ht_cell_row *r, size_t st, const char *name,
		    const struct ht_report_opts *o)
{
	enum { INUSE, INUSEI, C1, C1I, C2, C2I, C3, C3I, C4, C4I, MED, MEDI };
	char *c = row_cells(t, &(size_t){ 0 });
	double v, y = ht_cells_total(r, HT_CELL_AGE, 1, &v);
	struct ht_quantile q;

	t->names[t->nrows - 1] = name;
	t->stack[t->nrows - 1] = st;
	put_count(c + INUSE * CELL, c + INUSEI * CELL, y, v, r->share_space, 1, o);
	for (int k = 0; k < 4; k++) {
		double part = ht_cells_between(r, HT_CELL_AGE, 1, age_edges[k], age_edges[k + 1], &v);

		put_count(c + (C1 + 2 * k) * CELL, c + (C1I + 2 * k) * CELL, part, v,
			  r->share_space, 1, o);
	}
	ht_cells_quantile(r, HT_CELL_AGE, 1, 0.5, &q);
	put_time_quantile(c + MED * CELL, c + MEDI * CELL, &q);
}

static void write_age(FILE *out, const struct ht_cells *g, const struct ht_report_stacks *a,
		      const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	int exact = ht_report_exact(cur);
	const char *titles[12] = { "inuse", "±95%", "<1s", "±95%", "1s-1min", "±95%", "1min-1h",
				   "±95%", ">1h", "±95%", "median", "95%" };
	struct table t = { 12, titles, NULL, 0, 0, NULL, NULL };

	if (exact)
		for (int k = 1; k < 12; k += 2)
			titles[k] = NULL;
	ht_report_write_view_header(out, a, cur, o, "age of the bytes in use");
	fputs(note_quantiles, out);
	fprintf(out, "1 min and 1 h fall inside buckets: their classes are split as the "
		"median is interpolated.\n");
	write_intervals_note(out, exact);
	if (g->n < g->ranked)
		fprintf(out, "Showing the top %zu of %zu stacks by bytes in use\n", g->n, g->ranked);
	age_row(&t, &g->all, SIZE_MAX, "(all shown stacks)", o);
	for (size_t i = 0; i < g->n; i++)
		age_row(&t, &g->rows[i], g->rows[i].stack, NULL, o);
	write_table(out, &t, a, "stack");
}

/* Size bucket k's range: "0", "1", "2-3", ..., "1024-2047", then "2.00kB-4.00kB". */
static const char *size_range(unsigned k, char *buf, size_t len)
{
	char b1[24], b2[24];

	if (k <= 1)
		snprintf(buf, len, "%u", k);
	else if (k >= 64)
		snprintf(buf, len, "%s-", ht_fmt_bytes(ldexp(1, 63), b1, sizeof(b1)));
	else if (k <= 20)
		snprintf(buf, len, "%.0f-%.0f", ldexp(1, (int)k - 1), ldexp(1, (int)k) - 1);
	else
		snprintf(buf, len, "%s-%s", ht_fmt_bytes(ldexp(1, (int)k - 1), b1, sizeof(b1)),
			 ht_fmt_bytes(ldexp(1, (int)k), b2, sizeof(b2)));
	return buf;
}

static void write_sizes(FILE *out, const struct ht_cells *g, const struct ht_report_stacks *a,
			const struct ht_snapshot *cur,
			const struct ht_report_opts *o)
{
	int exact = ht_report_exact(cur);
	const char *titles[6] = { "objects", "±95%", "objects%", "bytes", "±95%", "bytes%" };
	struct table t = { 6, titles, NULL, 0, 0, NULL, NULL };
	const struct ht_cell_row *r = &g->all;
	double to = ht_cells_total(r, HT_CELL_SIZE, 0, NULL);
	double ts = ht_cells_total(r, HT_CELL_SIZE, 1, NULL);
	char (*ranges)[CELL] = ht_xcalloc(HT_SIZE_BUCKETS, CELL);

	if (exact)
		titles[1] = titles[4] = NULL;
	ht_report_write_view_header(out, a, cur, o, "requested sizes of the blocks allocated");
	write_intervals_note(out, exact);
	for (unsigned k = 0; k < HT_SIZE_BUCKETS; k++) {
		const struct ht_cell_bucket *b = &r->h[k];
		char *c;

		if (!(b->objects > 0) && !(b->space > 0))
			continue;
		c = row_cells(&t, &(size_t){ 0 });
		put_count(c, c + CELL, b->objects, b->var_objects, r->share_objects, 0, o);
		ht_report_fmt_pct(b->objects, to, c + 2 * CELL, CELL);
		put_count(c + 3 * CELL, c + 4 * CELL, b->space, b->var_space, r->share_space, 1, o);
		ht_report_fmt_pct(b->space, ts, c + 5 * CELL, CELL);
		t.names[t.nrows - 1] = size_range(k, ranges[k], CELL);
	}
	if (t.nrows) {
		double vo, vs;
		char *c = row_cells(&t, &(size_t){ 0 });

		ht_cells_total(r, HT_CELL_SIZE, 0, &vo);
		ht_cells_total(r, HT_CELL_SIZE, 1, &vs);
		put_count(c, c + CELL, to, vo, r->share_objects, 0, o);
		ht_report_fmt_pct(to, to, c + 2 * CELL, CELL);
		put_count(c + 3 * CELL, c + 4 * CELL, ts, vs, r->share_space, 1, o);
		ht_report_fmt_pct(ts, ts, c + 5 * CELL, CELL);
		t.names[t.nrows - 1] = "(total)";
	}
	write_table(out, &t, NULL, "size (bytes)");
	free(ranges);
}

int ht_lifeview_write(FILE *out, const struct ht_snapshot *cur, const struct ht_report_opts *o,
		      char *err, size_t errlen)
{
	static const int kinds[] = { 0, HT_CELL_LIFE, HT_CELL_AGE, HT_CELL_SIZE };
	static const char *const opt[] = { "", "option '--lifetimes'", "option '--age'",
					   "option '--sizes'" };
	struct ht_report_stacks *a;
	struct ht_cells g;
	size_t top = o->top < 0 ? 10 : (size_t)o->top;

	if (ht_cells_check(cur, opt[o->view], err, errlen))
		return -1;
	a = ht_report_aggregate(NULL, cur, o, err, errlen);
	if (!a)
		return -1;
	/* lifetimes: ranked by blocks freed; ages: by bytes in use */
	ht_cells_gather(&g, a, cur, kinds[o->view], o->view == HT_VIEW_AGE, top);
	if (o->view == HT_VIEW_LIFETIMES)
		write_lifetimes(out, &g, a, cur, o);
	else if (o->view == HT_VIEW_AGE)
		write_age(out, &g, a, cur, o);
	else
		write_sizes(out, &g, a, cur, o);
	ht_cells_free(&g);
	ht_report_stacks_free(a);
	return 0;
}
