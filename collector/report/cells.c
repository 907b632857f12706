/* The time and size histograms of a snapshot's stacks (its cells) as the
 * reports read them: gathered per stack of the aggregation, their
 * quantiles and shares with 95% intervals, durations parsed and printed,
 * and the temporary blocks of a time limit (--temporary-under). */
#include "report/report_int.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define Z975 1.959963984540054

unsigned ht_cells_nbuckets(int kind)
{
	return kind == HT_CELL_SIZE ? HT_SIZE_BUCKETS : HT_TIME_BUCKETS;
}

double ht_cells_lower(int kind, unsigned k)
{
	if (kind == HT_CELL_SIZE)
		return k ? ldexp(1, (int)k - 1) : 0;
	return (double)ht_time_edge_ns(k);
}

/* The upper end of bucket k, or INFINITY for the last (open) one. */
static double upper(int kind, unsigned k)
{
	if (k + 1 >= ht_cells_nbuckets(kind))
		return INFINITY;
	return ht_cells_lower(kind, k + 1);
}

int ht_cells_check(const struct ht_snapshot *s, const char *what, char *err, size_t errlen)
{
	if (s->has_cells)
		return 0;
	return ht_fail(err, errlen, "%s: the snapshot has no lifetimes, ages or sizes (an older "
		       "heaptrace wrote it)", what);
}

/* The largest share of one sample of st (sampling.h): its allocations'. */
static void stack_shares(const struct ht_snapshot *s, const struct ht_stack *st, double *so,
			 double *ss)
{
	struct ht_err e;

	ht_report_stack_err(s, st, HT_ALLOC_OBJECTS, &e);
	*so = e.share;
	ht_report_stack_err(s, st, HT_ALLOC_SPACE, &e);
	*ss = e.share;
}

static void row_add(struct ht_cell_row *r, const struct ht_cell *c, double so, double ss)
{
	r->h[c->bucket].objects += c->objects;
	r->h[c->bucket].space += c->space;
	r->h[c->bucket].var_objects += c->var_objects > 0 ? c->var_objects : 0;
	r->h[c->bucket].var_space += c->var_space > 0 ? c->var_space : 0;
	r->samples += (double)c->samples;
	r->share_objects = fmax(r->share_objects, so);
	r->share_space = fmax(r->share_space, ss);
}

double ht_cells_total(const struct ht_cell_row *r, int kind, int bytes, double *var)
{
	double t = 0, v = 0;

	for (unsigned k = 0; k < ht_cells_nbuckets(kind); k++) {
		t += bytes ? r->h[k].space : r->h[k].objects;
		v += bytes ? r->h[k].var_space : r->h[k].var_objects;
	}
	if (var)
		*var = v;
	return t;
}

struct rank {
	size_t st;
	double v;
};

static int cmp_rank(const void *x, const void *y)
{
	const struct rank *p = x, *q = y;

	if (p->v != q->v)
		return p->v > q->v ? -1 : 1;
	return p->st < q->st ? -1 : p->st > q->st;
}

/* The stacks of a with cells of kind, ranked by their sum (bytes or
 * objects), largest first: malloc'd, *n of them. */
static struct rank *ranked(const struct ht_report_stacks *a, const struct ht_snapshot *s,
			   const size_t *map, int kind, int bytes, size_t *n)
{
	double *sum = ht_xcalloc(a->nst + 1, sizeof(double));
	struct rank *r = ht_xcalloc(a->nst + 1, sizeof(*r));

	for (size_t i = 0; i < s->ncells; i++) {
		const struct ht_cell *c = &s->cells[i];

		if (c->kind == kind && c->stack < s->nstacks)
			sum[map[c->stack]] += bytes ? c->space : c->objects;
	}
	*n = 0;
	for (size_t j = 0; j < a->nst; j++)
		if (!a->st[j].hidden && sum[j] > 0)
			r[(*n)++] = (struct rank){ j, sum[j] };
	qsort(r, *n, sizeof(*r), cmp_rank);
	free(sum);
	return r;
}

void ht_cells_gather(struct ht_cells *g, struct ht_report_stacks *a, const struct ht_snapshot *s,
		     int kind, int bytes, size_t top)
{
	size_t *map = ht_report_stacks_intern(a, s), nr;
	struct rank *r = ranked(a, s, map, kind, bytes, &nr);
	size_t *row_of = ht_xmalloc((a->nst + 1) * sizeof(size_t));

	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->n = top && top < nr ? top : nr;
	g->ranked = nr;
	g->rows = ht_xcalloc(g->n + 1, sizeof(*g->rows));
	for (size_t j = 0; j < a->nst; j++)
		row_of[j] = SIZE_MAX;
	for (size_t i = 0; i < g->n; i++) {
		g->rows[i].stack = r[i].st;
		row_of[r[i].st] = i;
	}
	g->all.stack = SIZE_MAX;
	for (size_t i = 0; i < s->ncells; i++) {
		const struct ht_cell *c = &s->cells[i];
		size_t j;
		double so, ss;

		if (c->kind != kind || c->stack >= s->nstacks ||
		    c->bucket >= ht_cells_nbuckets(kind))
			continue;
		j = map[c->stack];
		if (a->st[j].hidden)
			continue;
		stack_shares(s, &s->stacks[c->stack], &so, &ss);
		row_add(&g->all, c, so, ss);
		if (row_of[j] != SIZE_MAX)
			row_add(&g->rows[row_of[j]], c, so, ss);
	}
	free(row_of);
	free(r);
	free(map);
}

void ht_cells_free(struct ht_cells *g)
{
	free(g->rows);
}

void ht_cells_err(const struct ht_cell_row *r, int kind, int bytes, struct ht_err *e)
{
	memset(e, 0, sizeof(*e));
	e->up = ht_cells_total(r, kind, bytes, &e->up_var);
	e->share = e->up_var > 0 ? (bytes ? r->share_space : r->share_objects) : 0;
}

double ht_cells_part_below(int kind, unsigned k, double t)
{
	double lo = ht_cells_lower(kind, k), hi = upper(kind, k);

	if (t >= hi)
		return 1;
	if (t <= lo)
		return 0;
	if (lo <= 0)
		return t / hi;
	return log(t / lo) / log(hi / lo);
}

/* The share of the row's figure in buckets below t (a bucket that t cuts
 * counts in part, as if its values spread evenly over the logarithm of
 * the value, linearly in bucket 0), into *f, and the variance of that
 * share as a ratio of two sums of independent cells (delta method):
 * F = S / (S + R), var F = (R^2 var S + S^2 var R) / N^4. */
void ht_cells_share_below(const struct ht_cell_row *r, int kind, int bytes, double t,
			  double *f, double *var)
{
	double s = 0, vs = 0, rest = 0, vr = 0, n;

	for (unsigned k = 0; k < ht_cells_nbuckets(kind); k++) {
		double y = bytes ? r->h[k].space : r->h[k].objects;
		double v = bytes ? r->h[k].var_space : r->h[k].var_objects;
		double part = ht_cells_part_below(kind, k, t);

		s += part * y;
		vs += part * part * v;
		rest += (1 - part) * y;
		vr += (1 - part) * (1 - part) * v;
	}
	n = s + rest;
	*f = n > 0 ? s / n : 0;
	*var = n > 0 ? (rest * rest * vs + s * s * vr) / (n * n * n * n) : 0;
}

double ht_cells_between(const struct ht_cell_row *r, int kind, int bytes, double lo, double hi,
			double *var)
{
	double y = 0, v = 0;

	for (unsigned k = 0; k < ht_cells_nbuckets(kind); k++) {
		double part = ht_cells_part_below(kind, k, hi) - ht_cells_part_below(kind, k, lo);

		y += part * (bytes ? r->h[k].space : r->h[k].objects);
		v += part * part * (bytes ? r->h[k].var_space : r->h[k].var_objects);
	}
	*var = v;
	return y;
}

void ht_cells_share_bounds(const struct ht_cell_row *r, int kind, int bytes, double f,
			   double var, double *lo, double *hi)
{
	double n, z2 = Z975 * Z975, c, h;

	ht_cells_total(r, kind, bytes, &n);
	if (!(n > 0)) {
		/* every weight 1: an exact share */
		*lo = *hi = f;
		return;
	}
	/* the sample size that gives a proportion f the variance var; at 0
	 * or 1 (no variance), the samples themselves */
	n = var > 0 && f > 0 && f < 1 ? f * (1 - f) / var : r->samples;
	if (!(n > 0)) {
		*lo = 0;
		*hi = 1;
		return;
	}
	/* Wilson's score interval: it keeps its coverage with few samples
	 * and near 0 and 1, where f +- 1.96 sd does not */
	c = (f + z2 / (2 * n)) / (1 + z2 / n);
	h = Z975 / (1 + z2 / n) * sqrt(f * (1 - f) / n + z2 / (4 * n * n));
	*lo = c - h > 0 ? c - h : 0;
	*hi = c + h < 1 ? c + h : 1;
}

/* The value at which the cumulative share cdf[] (at each bucket's upper
 * end; cdf[-1] = 0) reaches p, interpolated within the bucket as
 * ht_cells_share_below spreads it. */
static double at_share(const double *cdf, int kind, double p, int *open)
{
	unsigned nb = ht_cells_nbuckets(kind);
	double prev = 0;

	*open = 0;
	for (unsigned k = 0; k < nb; k++) {
		double lo = ht_cells_lower(kind, k), hi = upper(kind, k), frac;

		if (cdf[k] < p || cdf[k] <= prev) {
			prev = cdf[k] > prev ? cdf[k] : prev;
			continue;
		}
		frac = (p - prev) / (cdf[k] - prev);
		frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
		if (isinf(hi)) {
			*open = 1;
			return lo;
		}
		if (lo <= 0)
			return frac * hi;
		return lo * pow(hi / lo, frac);
	}
	*open = 1;
	return ht_cells_lower(kind, nb - 1);
}

void ht_cells_quantile(const struct ht_cell_row *r, int kind, int bytes, double p,
		       struct ht_quantile *q)
{
	unsigned nb = ht_cells_nbuckets(kind);
	double cdf[HT_SIZE_BUCKETS], lo[HT_SIZE_BUCKETS], hi[HT_SIZE_BUCKETS];
	int open;

	memset(q, 0, sizeof(*q));
	if (!(ht_cells_total(r, kind, bytes, NULL) > 0))
		return;
	q->valid = 1;
	/* Woodruff's interval: the values where the cumulative share's 95%
	 * band crosses p */
	for (unsigned k = 0; k < nb; k++) {
		double f, v;

		ht_cells_share_below(r, kind, bytes, upper(kind, k), &f, &v);
		if (k + 1 == nb)
			f = 1, v = 0;
		cdf[k] = f;
		ht_cells_share_bounds(r, kind, bytes, f, v, &lo[k], &hi[k]);
	}
	lo[nb - 1] = hi[nb - 1] = 1;
	q->v = at_share(cdf, kind, p, &q->open);
	q->lo = at_share(hi, kind, p, &open);
	q->hi = at_share(lo, kind, p, &q->hi_open);
}

int ht_cells_kept(const struct ht_snapshot *s, double gap_ns, const size_t *map, size_t nst,
		  int bytes, double *kept)
{
	double *tot = ht_xcalloc(nst + 1, sizeof(double));

	for (size_t i = 0; i < nst; i++)
		kept[i] = 0;
	for (size_t i = 0; s->has_cells && i < s->ncells; i++) {
		const struct ht_cell *c = &s->cells[i];
		double y = bytes ? c->space : c->objects;

		if (c->kind != HT_CELL_AGE || c->stack >= s->nstacks || c->bucket >= HT_TIME_BUCKETS ||
		    !(y > 0))
			continue;
		tot[map[c->stack]] += y;
		kept[map[c->stack]] += y * (1 - ht_cells_part_below(HT_CELL_AGE, c->bucket, gap_ns));
	}
	for (size_t i = 0; i < nst; i++)
		kept[i] = tot[i] > 0 ? kept[i] / tot[i] : -1;
	free(tot);
	return s->has_cells;
}

/* ---- durations ---- */

int ht_cells_parse_duration(const char *s, double *ns)
{
	static const struct { const char *unit; double ns; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "µs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
		{ "min", 60e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	char *end;
	double v = strtod(s, &end);

	if (end == s || !(v > 0) || !isfinite(v))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			*ns = v * units[i].ns;
			return 0;
		}
	return -1;
}

const char *ht_cells_fmt_ns(double ns, char *buf, size_t len)
{
	static const struct { const char *unit; double ns; } units[] = {
		{ "h", 3600e9 }, { "min", 60e9 }, { "s", 1e9 }, { "ms", 1e6 }, { "us", 1e3 },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		double v = ns / units[i].ns;

		if (v >= 1) {
			if (v >= 99.95 || v == floor(v))
				snprintf(buf, len, "%.0f%s", v, units[i].unit);
			else
				snprintf(buf, len, "%.*f%s", v >= 9.995 ? 1 : 2, v, units[i].unit);
			return buf;
		}
	}
	snprintf(buf, len, "%.0fns", ns);
	return buf;
}

unsigned ht_cells_edge_near(double ns)
{
	unsigned best = 1;

	for (unsigned k = 2; k < HT_TIME_BUCKETS; k++)
		if (fabs(log(ns / (double)ht_time_edge_ns(k))) <
		    fabs(log(ns / (double)ht_time_edge_ns(best))))
			best = k;
	return best;
}

struct ht_stack *ht_cells_temp_view(struct ht_snapshot *view, const struct ht_snapshot *s,
				    unsigned edge)
{
	struct ht_stack *st = ht_xmalloc((s->nstacks + 1) * sizeof(*st));

	*view = *s;
	for (size_t i = 0; i < s->nstacks; i++) {
		st[i] = s->stacks[i];
		st[i].temp_objects = st[i].temp_space = 0;
		st[i].temp_var[0] = st[i].temp_var[1] = 0;
		st[i].temp_samples = 0;
	}
	for (size_t i = 0; i < s->ncells; i++) {
		const struct ht_cell *c = &s->cells[i];
		struct ht_stack *t;

		if (c->kind != HT_CELL_LIFE || c->bucket >= edge || c->stack >= s->nstacks)
			continue;
		t = &st[c->stack];
		t->temp_objects += c->objects;
		t->temp_space += c->space;
		t->temp_var[0] += c->var_objects > 0 ? c->var_objects : 0;
		t->temp_var[1] += c->var_space > 0 ? c->var_space : 0;
		t->temp_samples += c->samples;
	}
	view->stacks = st;
	return st;
}
