/* The rows of the top table: each frame name with its flat and cum
 * figures over the shown stacks, and their errors, sorted as pprof sorts
 * them. top, tree and json start from them. */
#include "report/report_int.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static int cmp_nodes(const void *x, const void *y, void *ctx)
{
	const struct ht_report_row *p = x, *q = y;
	const struct ht_report_stacks *a = ctx;
	double fp = fabs(ht_report_rounded(p->flat)), fq = fabs(ht_report_rounded(q->flat));
	double cp = fabs(ht_report_rounded(p->cum)), cq = fabs(ht_report_rounded(q->cum));

	if (fp != fq)
		return fp > fq ? -1 : 1;
	if (cp != cq)
		return cp > cq ? -1 : 1;
	return strcmp(a->names.str[p->id], a->names.str[q->id]);
}

void ht_report_rows_make(struct ht_report_rows *r, const struct ht_report_stacks *a,
			 const struct ht_report_opts *o, const regex_t *peek)
{
	size_t nn = a->names.n;
	size_t *seen = ht_xcalloc(nn, sizeof(size_t));
	struct ht_report_row *by = ht_xcalloc(nn + 1, sizeof(*by));

	r->total = 0;
	for (size_t i = 0; i < a->nst; i++) {
		const struct agg_stack *st = &a->st[i];
		double v = st->v[o->index];
		const struct ht_err *e = ht_report_stacks_err(a, i, o->index);

		if (v == 0 && ht_err_var(e) == 0)
			continue;
		r->total += fabs(v);
		if (st->hidden)
			continue;
		by[a->ids[st->first]].flat += v;
		ht_err_add(&by[a->ids[st->first]].flat_err, e);
		/* cum counts a name once per stack, even under recursion */
		for (uint32_t k = 0; k < st->n; k++) {
			uint32_t id = a->ids[st->first + k];

			if (seen[id] != i + 1) {
				seen[id] = i + 1;
				by[id].cum += v;
				ht_err_add(&by[id].cum_err, e);
			}
		}
	}
	r->r = ht_xcalloc(nn + 1, sizeof(*r->r));
	r->n = 0;
	for (size_t id = 0; id < nn; id++) {
		by[id].id = (uint32_t)id;
		if (ht_report_rounded(by[id].flat) == 0 && ht_report_rounded(by[id].cum) == 0)
			continue;
		if (peek && regexec(peek, a->names.str[id], 0, NULL, 0) != 0)
			continue;
		r->r[r->n++] = by[id];
	}
	qsort_r(r->r, r->n, sizeof(*r->r), cmp_nodes, (void *)a);
	r->by_id = by;
	free(seen);
}

void ht_report_rows_free(struct ht_report_rows *r)
{
	free(r->r);
	free(r->by_id);
}

size_t ht_report_rows_shown(const struct ht_report_rows *r, const struct ht_report_opts *o, size_t dflt)
{
	if (o->top > 0 && (size_t)o->top < r->n)
		return (size_t)o->top;
	if (o->top < 0 && dflt && r->n > dflt)
		return dflt;
	return r->n;
}

size_t ht_report_rows(const struct ht_report_stacks *a, const struct ht_report_opts *o,
		      struct ht_report_row **rows, double *total)
{
	struct ht_report_rows r;
	size_t n;

	ht_report_rows_make(&r, a, o, NULL);
	n = ht_report_rows_shown(&r, o, 0);
	*rows = ht_xcalloc(n + 1, sizeof(**rows));
	memcpy(*rows, r.r, n * sizeof(**rows));
	*total = r.total;
	ht_report_rows_free(&r);
	return n;
}

