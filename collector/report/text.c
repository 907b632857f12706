/* The text formats' tables: pprof's top (flat and cum per frame name,
 * with their 95% intervals) and pprof's tree and peek (each row with its
 * callers and callees). The header above them is header.c's. */
#include "report/report_int.h"
#include "report/render.h"
#include "lib/hash.h"
#include "lib/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void write_showing(FILE *out, const struct ht_report_rows *r, size_t shown,
			  const struct ht_report_opts *o, int diff)
{
	char b1[64], b2[64], b3[64];
	double sum = 0;

	for (size_t i = 0; i < shown; i++)
		sum += r->r[i].flat;
	fprintf(out, "Showing nodes accounting for %s, %s of %s total\n",
		ht_report_fmt_figure(sum, o, diff, b1, sizeof(b1)),
		ht_report_fmt_pct(sum, r->total, b2, sizeof(b2)),
		ht_report_fmt_figure(r->total, o, 0, b3, sizeof(b3)));
	if (shown < r->n)
		fprintf(out, "Dropped %zu nodes; showing top %zu out of %zu\n",
			r->n - shown, shown, r->n);
}

/* Widens w[0..n) to hold the cells. */
static void widen(int *w, char (*cell)[64], int n)
{
	for (int c = 0; c < n; c++)
		if ((int)strlen(cell[c]) > w[c])
			w[c] = (int)strlen(cell[c]);
}

enum { C_FLAT, C_FLATI, C_FLATP, C_SUM, C_CUM, C_CUMI, C_CUMP, NCOLS };

void ht_text_write_top(FILE *out, const struct ht_report_stacks *a,
		       const struct ht_snapshot *base, const struct ht_snapshot *cur,
		       const struct ht_report_opts *o)
{
	static const char *const titles[NCOLS] = {
		"flat", "±95%", "flat%", "sum%", "cum", "±95%", "cum%",
	};
	int diff = base != NULL;
	int intervals = !ht_report_exact(cur) || (base && !ht_report_exact(base));
	struct ht_report_rows r;
	size_t shown;
	char cell[NCOLS][64];
	int w[NCOLS];
	double sum;

	ht_report_rows_make(&r, a, o, NULL);
	shown = ht_report_rows_shown(&r, o, 10);
	for (int c = 0; c < NCOLS; c++)
		w[c] = (int)strlen(titles[c]);

	/* two passes: measure the columns, then print */
	for (int pass = 0; pass < 2; pass++) {
		if (pass) {
			write_showing(out, &r, shown, o, diff);
			if (intervals && diff)
				fprintf(out, "±95%%: 95%% interval of the sampling error; ~: the "
					"change is within it (sampling noise)\n");
			else if (intervals)
				fprintf(out, "±95%%: 95%% interval of the sampling error (the "
					"larger side of it)\n");
			for (int c = 0; c < NCOLS; c++) {
				if ((c == C_FLATI || c == C_CUMI) && !intervals)
					continue;
				fprintf(out, "%s%*s%s", c ? " " : "", w[c], titles[c],
					(c == C_FLAT || c == C_CUM) && diff && intervals ? " " : "");
			}
			fprintf(out, "\n");
		}
		sum = 0;
		for (size_t i = 0; i < shown; i++) {
			const struct ht_report_row *n = &r.r[i];

			sum += n->flat;
			ht_report_fmt_figure(n->flat, o, diff, cell[C_FLAT], 64);
			ht_report_fmt_interval(&n->flat_err, o->index, o->unit, cell[C_FLATI], 64);
			ht_report_fmt_pct(n->flat, r.total, cell[C_FLATP], 64);
			ht_report_fmt_pct(sum, r.total, cell[C_SUM], 64);
			ht_report_fmt_figure(n->cum, o, diff, cell[C_CUM], 64);
			ht_report_fmt_interval(&n->cum_err, o->index, o->unit, cell[C_CUMI], 64);
			ht_report_fmt_pct(n->cum, r.total, cell[C_CUMP], 64);
			if (!pass) {
				widen(w, cell, NCOLS);
				continue;
			}
			for (int c = 0; c < NCOLS; c++) {
				if ((c == C_FLATI || c == C_CUMI) && !intervals)
					continue;
				fprintf(out, "%s%*s", c ? " " : "", w[c], cell[c]);
				if (diff && intervals && (c == C_FLAT || c == C_CUM)) {
					double v = c == C_FLAT ? n->flat : n->cum;
					const struct ht_err *e = c == C_FLAT ? &n->flat_err : &n->cum_err;

					v = ht_report_rounded(v);
					putc(v != 0 && ht_err_within(v, e) ? '~' : ' ', out);
				}
			}
			fprintf(out, "  %s\n", a->names.str[n->id]);
		}
	}
	ht_report_rows_free(&r);
}

/* ---- pprof's tree and peek ---- */

struct edge {
	uint64_t key;  /* caller << 32 | callee, + 1 so that 0 is empty */
	double v;
	size_t seen;   /* last stack counted, + 1 */
};

struct edges {
	struct edge *e;
	size_t mask, n;
};

static struct edge *edge_find(struct edges *t, uint32_t caller, uint32_t callee)
{
	uint64_t key = ((uint64_t)caller << 32 | callee) + 1;
	/* mixed: name ids are small consecutive numbers */
	size_t j = (size_t)ht_mix64(key) & t->mask;

	for (; t->e[j].key; j = (j + 1) & t->mask)
		if (t->e[j].key == key)
			return &t->e[j];
	if (2 * (t->n + 1) > t->mask) {
		struct edges bigger = { ht_xcalloc(2 * (t->mask + 1), sizeof(struct edge)),
					2 * (t->mask + 1) - 1, 0 };

		for (size_t i = 0; i <= t->mask; i++)
			if (t->e[i].key) {
				struct edge *d = edge_find(&bigger, (uint32_t)((t->e[i].key - 1) >> 32),
							   (uint32_t)(t->e[i].key - 1));
				d->v = t->e[i].v;
				d->seen = t->e[i].seen;
			}
		free(t->e);
		*t = bigger;
		return edge_find(t, caller, callee);
	}
	t->e[j].key = key;
	t->n++;
	return &t->e[j];
}

struct link {
	uint32_t other;
	double v;
};

static int cmp_links(const void *x, const void *y, void *ctx)
{
	const struct link *p = x, *q = y;
	const struct ht_report_stacks *a = ctx;
	double vp = fabs(ht_report_rounded(p->v)), vq = fabs(ht_report_rounded(q->v));

	if (vp != vq)
		return vp > vq ? -1 : 1;
	return strcmp(a->names.str[p->other], a->names.str[q->other]);
}

/* The callers and callees of the shown rows: by[1] the callers, by[0]
 * the callees, each row's in first[..][row] .. first[..][row + 1], sorted. */
struct adjacency {
	struct link *by[2];
	size_t *first[2];
};

static void make_adjacency(struct adjacency *adj, const struct edges *t,
			   const uint32_t *row_of, size_t nrows,
			   const struct ht_report_stacks *a)
{
	for (int in = 0; in < 2; in++) {
		size_t *first = ht_xcalloc(nrows + 2, sizeof(size_t)), total;
		size_t *fill = ht_xcalloc(nrows + 1, sizeof(size_t));

		/* count per row, then place */
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i <= t->mask; i++) {
				uint32_t caller, callee, r;

				if (!t->e[i].key || ht_report_rounded(t->e[i].v) == 0)
					continue;
				caller = (uint32_t)((t->e[i].key - 1) >> 32);
				callee = (uint32_t)(t->e[i].key - 1);
				if (!(r = row_of[in ? callee : caller]))
					continue;
				if (!pass)
					first[r]++; /* row r - 1, counted at r: prefix sums below */
				else
					adj->by[in][first[r - 1] + fill[r - 1]++] =
						(struct link){ in ? caller : callee, t->e[i].v };
			}
			if (!pass) {
				for (size_t r = 1; r <= nrows; r++)
					first[r] += first[r - 1];
				total = first[nrows];
				adj->by[in] = ht_xmalloc((total + 1) * sizeof(struct link));
			}
		}
		for (size_t r = 0; r < nrows; r++)
			if (first[r + 1] > first[r])
				qsort_r(adj->by[in] + first[r], first[r + 1] - first[r],
					sizeof(struct link), cmp_links, (void *)a);
		adj->first[in] = first;
		free(fill);
	}
}

static void free_adjacency(struct adjacency *adj)
{
	for (int in = 0; in < 2; in++) {
		free(adj->by[in]);
		free(adj->first[in]);
	}
}

/* The callers (in = 1) or callees (in = 0) of shown row r; *n of them. */
static const struct link *links_of(const struct adjacency *adj, size_t r, int in, size_t *n)
{
	*n = adj->first[in][r + 1] - adj->first[in][r];
	return adj->by[in] + adj->first[in][r];
}

enum { T_FLAT, T_FLATP, T_SUM, T_CUM, T_CUMP, T_CALLS, T_CALLSP, NTCOLS };

/* Counts, for every pair of adjacent frames of the shown stacks of a
 * where the caller or the callee is a shown row, the value of the stacks
 * that hold the pair (once per stack, even under recursion). */
static void count_edges(struct edges *t, const struct ht_report_stacks *a,
			const uint32_t *row_of, enum ht_index w)
{
	for (size_t i = 0; i < a->nst; i++) {
		const struct agg_stack *st = &a->st[i];
		const uint32_t *ids = a->ids + st->first;
		double v = st->v[w];

		if (st->hidden || v == 0)
			continue;
		for (uint32_t k = 0; k + 1 < st->n; k++) {
			struct edge *e;

			if (!row_of[ids[k + 1]] && !row_of[ids[k]])
				continue; /* no shown row needs this edge */
			e = edge_find(t, ids[k + 1], ids[k]);
			if (e->seen != i + 1) {
				e->seen = i + 1;
				e->v += v;
			}
		}
	}
}

/* The tree being written: its rows, their links and column widths. */
struct tree {
	const struct ht_report_stacks *a;
	const struct ht_report_opts *o;
	const struct ht_report_rows *r;
	struct adjacency adj;
	size_t shown;
	int diff;
	int w[NTCOLS];
};

/* Fills the cells of one line of row n's block: the row itself (e NULL),
 * or one of its callers or callees, e; sum is the flat sum so far.
 * Returns the line's name. */
static const char *tree_cells(const struct tree *t, const struct ht_report_row *n,
			      const struct link *e, double sum, char cell[NTCOLS][64])
{
	const struct ht_report_opts *o = t->o;

	for (int c = 0; c < NTCOLS; c++)
		cell[c][0] = '\0';
	if (e) {
		ht_report_fmt_figure(e->v, o, t->diff, cell[T_CALLS], 64);
		ht_report_fmt_pct(e->v, fabs(n->cum), cell[T_CALLSP], 64);
		return t->a->names.str[e->other];
	}
	ht_report_fmt_figure(n->flat, o, t->diff, cell[T_FLAT], 64);
	ht_report_fmt_pct(n->flat, t->r->total, cell[T_FLATP], 64);
	ht_report_fmt_pct(sum, t->r->total, cell[T_SUM], 64);
	ht_report_fmt_figure(n->cum, o, t->diff, cell[T_CUM], 64);
	ht_report_fmt_pct(n->cum, t->r->total, cell[T_CUMP], 64);
	return t->a->names.str[n->id];
}

/* "-----...+-------------", as wide as the columns. */
static void tree_rule(FILE *out, const struct tree *t)
{
	for (int c = 0; c < NTCOLS; c++)
		for (int k = 0; k <= t->w[c]; k++)
			putc('-', out);
	fprintf(out, "+-------------\n");
}

/* One pass over the rows' blocks (callers, the row, callees): with out
 * NULL it measures the columns, else it prints. */
static void tree_pass(FILE *out, struct tree *t)
{
	char cell[NTCOLS][64];
	double sum = 0;

	for (size_t i = 0; i < t->shown; i++) {
		const struct ht_report_row *n = &t->r->r[i];
		size_t nl[2];
		const struct link *l[2];

		sum += n->flat;
		l[0] = links_of(&t->adj, i, 1, &nl[0]);
		l[1] = links_of(&t->adj, i, 0, &nl[1]);
		for (int side = 0; side < 3; side++) {
			size_t cnt = side == 1 ? 1 : nl[side / 2];

			for (size_t k = 0; k < cnt; k++) {
				const char *name = tree_cells(t, n, side == 1 ? NULL : &l[side / 2][k],
							      sum, cell);

				if (!out) {
					widen(t->w, cell, NTCOLS);
					continue;
				}
				for (int c = 0; c < NTCOLS; c++)
					fprintf(out, "%s%*s", c ? " " : "", t->w[c], cell[c]);
				fprintf(out, " | %s%s\n", side == 1 ? "" : "  ", name);
			}
		}
		if (out)
			tree_rule(out, t);
	}
}

int ht_text_write_tree(FILE *out, const struct ht_report_stacks *a,
		       const struct ht_snapshot *base, const struct ht_report_opts *o,
		       char *err, size_t errlen)
{
	static const char *const titles[NTCOLS] = {
		"flat", "flat%", "sum%", "cum", "cum%", "calls", "calls%",
	};
	struct edges edges = { ht_xcalloc(1024, sizeof(struct edge)), 1023, 0 };
	struct tree t = { .a = a, .o = o, .diff = base != NULL };
	struct ht_report_rows r;
	uint32_t *row_of;
	regex_t peek;

	if (o->peek && ht_report_regcomp(&peek, "--peek", o->peek, err, errlen)) {
		free(edges.e);
		return -1;
	}
	ht_report_rows_make(&r, a, o, o->peek ? &peek : NULL);
	t.r = &r;
	t.shown = ht_report_rows_shown(&r, o, o->peek ? 0 : 10);
	row_of = ht_xcalloc(a->names.n + 1, sizeof(uint32_t));
	for (size_t i = 0; i < t.shown; i++)
		row_of[r.r[i].id] = (uint32_t)i + 1;
	count_edges(&edges, a, row_of, o->index);
	make_adjacency(&t.adj, &edges, row_of, t.shown, a);
	for (int c = 0; c < NTCOLS; c++)
		t.w[c] = (int)strlen(titles[c]);
	tree_pass(NULL, &t);
	write_showing(out, &r, t.shown, o, t.diff);
	tree_rule(out, &t);
	for (int c = 0; c < NTCOLS; c++)
		fprintf(out, "%s%*s", c ? " " : "", t.w[c], titles[c]);
	fprintf(out, " | context\n");
	tree_rule(out, &t);
	tree_pass(out, &t);
	if (o->peek)
		regfree(&peek);
	free_adjacency(&t.adj);
	free(row_of);
	ht_report_rows_free(&r);
	free(edges.e);
	return 0;
}
