/* Series of snapshots (heaptrace-diff --series): each stack's value in
 * every snapshot, as a table (one column per snapshot, like memory per test
 * step) or an SVG chart, and the stacks ranked by steady growth: the leak
 * suspects. Stacks are matched by their frame names, as in a diff. */
#include "report/report_int.h"
#include "report/render.h"
#include "report/svg.h"
#include "lib/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ht_series_fit(const double *y, size_t n, double *slope, double *r2)
{
	double mx = (double)(n - 1) / 2, my = 0, sxy = 0, sxx = 0, syy = 0;

	*slope = *r2 = 0;
	if (n < 2)
		return;
	for (size_t i = 0; i < n; i++)
		my += y[i];
	my /= (double)n;
	for (size_t i = 0; i < n; i++) {
		double dx = (double)i - mx, dy = y[i] - my;

		sxy += dx * dy;
		sxx += dx * dx;
		syy += dy * dy;
	}
	*slope = sxy / sxx;
	/* relative to the values, below rounding noise counts as constant */
	if (syy > 1e-18 * (my * my + 1) * (double)n)
		*r2 = sxy * sxy / (sxx * syy);
}

struct series {
	const struct ht_report_stacks *a;
	size_t n;          /* snapshots */
	size_t nst;        /* stacks */
	double *val;       /* [stack * n + snapshot] */
	struct ht_err *err; /* the error of each val, on its own */
	double *total;     /* per snapshot, every stack */
	double *peak, *slope, *r2, *score;
	int *suspect;
	/* in-use indexes with ages: the share of each stack's last figure
	 * already allocated at the snapshot before (-1: unknown) */
	int ages;
	double *kept;
};

/* Below this share kept from one snapshot to the next, a stack's growth
 * is of young blocks: churn, not a leak. */
#define CHURN_KEPT 0.1

#define VAL(s, i, k) ((s)->val[(i) * (s)->n + (k)])
#define ERR(s, i, k) ((s)->err[(i) * (s)->n + (k)])

static double change(const struct series *s, size_t i)
{
	return VAL(s, i, s->n - 1) - VAL(s, i, 0);
}

static int change_is_noise(const struct series *s, size_t i)
{
	/* first and last taken as independent: the wider, safe side when
	 * they share samples (one run) */
	struct ht_err e = ERR(s, i, s->n - 1);

	e.down = ERR(s, i, 0).up;
	e.down_var = ERR(s, i, 0).up_var;
	e.lump = fmax(e.lump, ERR(s, i, 0).lump);
	e.lump_mass += ERR(s, i, 0).lump_mass;
	e.lump_one = fmax(e.lump_one, ERR(s, i, 0).lump_one);
	e.diff = 1;
	if (ERR(s, i, 0).share > e.share)
		e.share = ERR(s, i, 0).share;
	return ht_err_within(ht_report_rounded(change(s, i)), &e);
}

static int cmp_peak(const void *x, const void *y, void *ctx)
{
	const struct series *s = ctx;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;

	if (s->peak[i] != s->peak[j])
		return s->peak[i] > s->peak[j] ? -1 : 1;
	return i < j ? -1 : i > j;
}

static int cmp_score(const void *x, const void *y, void *ctx)
{
	const struct series *s = ctx;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;

	if (s->score[i] != s->score[j])
		return s->score[i] > s->score[j] ? -1 : 1;
	return cmp_peak(x, y, ctx);
}

/* The rows of both tables: largest[0..*nl) by peak, suspects[0..*ns) by
 * score, each cut to --top (default 10). */
static void rank(const struct series *s, const struct ht_report_opts *o,
		 size_t *largest, size_t *nl, size_t *suspects, size_t *ns)
{
	size_t keep = o->top > 0 ? (size_t)o->top : o->top == 0 ? (size_t)-1 : 10;

	*nl = *ns = 0;
	for (size_t i = 0; i < s->nst; i++) {
		if (s->a->st[i].hidden || ht_report_rounded(s->peak[i]) == 0)
			continue;
		largest[(*nl)++] = i;
		if (s->suspect[i])
			suspects[(*ns)++] = i;
	}
	qsort_r(largest, *nl, sizeof(size_t), cmp_peak, (void *)s);
	qsort_r(suspects, *ns, sizeof(size_t), cmp_score, (void *)s);
	if (*nl > keep)
		*nl = keep;
	if (*ns > keep)
		*ns = keep;
}

/* The most values a series keeps (stacks times snapshots): each file is
 * bounded by the reader, but the table grows with their product. */
#define MAX_CELLS ((size_t)1 << 26)

static int build(struct series *s, struct ht_report_stacks *a,
		 struct ht_snapshot *const *snaps, size_t n, enum ht_index w,
		 char *err, size_t errlen)
{
	size_t **maps = ht_xmalloc(n * sizeof(size_t *));
	double *y;

	for (size_t k = 0; k < n; k++)
		maps[k] = ht_report_stacks_intern(a, snaps[k]);
	if (a->nst > MAX_CELLS / n) {
		for (size_t k = 0; k < n; k++)
			free(maps[k]);
		free(maps);
		return ht_fail(err, errlen, "series too large: %zu distinct stacks across %zu snapshots, "
			       "more than %zu values", a->nst, n, MAX_CELLS);
	}
	y = ht_xmalloc(n * sizeof(double));
	s->a = a;
	s->n = n;
	s->nst = a->nst;
	s->val = ht_xcalloc(s->nst * n + 1, sizeof(double));
	s->err = ht_xcalloc(s->nst * n + 1, sizeof(*s->err));
	s->total = ht_xcalloc(n, sizeof(double));
	s->peak = ht_xcalloc(s->nst + 1, sizeof(double));
	s->slope = ht_xcalloc(s->nst + 1, sizeof(double));
	s->r2 = ht_xcalloc(s->nst + 1, sizeof(double));
	s->score = ht_xcalloc(s->nst + 1, sizeof(double));
	s->suspect = ht_xcalloc(s->nst + 1, sizeof(int));
	s->kept = ht_xcalloc(s->nst + 1, sizeof(double));
	for (size_t k = 0; k < n; k++) {
		const struct ht_snapshot *sn = snaps[k];

		for (size_t j = 0; j < sn->nstacks; j++) {
			double v = ht_stack_value(&sn->stacks[j], w);
			struct ht_err e;

			if (!isfinite(v))
				continue;
			VAL(s, maps[k][j], k) += v;
			ht_report_stack_err(sn, &sn->stacks[j], w, &e);
			ht_err_add(&ERR(s, maps[k][j], k), &e);
			s->total[k] += v;
		}
		if (k == n - 1 && k && (w == HT_INUSE_SPACE || w == HT_INUSE_OBJECTS))
			s->ages = ht_cells_kept(sn, (double)(sn->time_ns - snaps[k - 1]->time_ns),
						maps[k], s->nst, w == HT_INUSE_SPACE, s->kept);
		free(maps[k]);
	}
	for (size_t i = 0; i < s->nst; i++) {
		for (size_t k = 0; k < n; k++) {
			y[k] = VAL(s, i, k);
			if (y[k] > s->peak[i])
				s->peak[i] = y[k];
		}
		ht_series_fit(y, n, &s->slope[i], &s->r2[i]);
		s->score[i] = s->slope[i] * s->r2[i];
		/* a leak keeps what it allocated: growth of young blocks ranks
		 * by the share of old ones */
		if (s->ages && s->kept[i] >= 0)
			s->score[i] *= s->kept[i];
		/* steady growth beyond sampling noise */
		s->suspect[i] = s->slope[i] > 0 && s->r2[i] > 0 &&
				ht_report_rounded(change(s, i)) > 0 && !change_is_noise(s, i);
	}
	free(y);
	free(maps);
	return 0;
}

static void free_series(struct series *s)
{
	free(s->val);
	free(s->err);
	free(s->total);
	free(s->peak);
	free(s->slope);
	free(s->r2);
	free(s->score);
	free(s->suspect);
	free(s->kept);
}

/* ---- text ---- */

/* One unit for a whole table, so that its columns compare: for bytes the
 * largest that keeps the largest figure at 1 or more, counts whole up to
 * ten million (or --unit). */
static int table_unit(const struct series *s, const struct ht_report_opts *o,
		      const size_t *rows, size_t nrows)
{
	double max = 0, base = ht_report_is_bytes(o->index) ? 1024 : 1000;
	int k = 0;

	if (o->unit >= 0)
		return o->unit;
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < s->n; c++)
			if (fabs(VAL(s, rows[r], c)) > max)
				max = fabs(VAL(s, rows[r], c));
	for (size_t c = 0; c < s->n; c++)
		if (s->total[c] > max)
			max = s->total[c];
	if (base == 1000) /* counts: whole numbers read best, up to millions */
		return max < 1e7 ? 0 : max < 1e10 ? 2 : 3;
	while (max >= base * pow(base, k) && k < 4)
		k++;
	return k;
}

static const char *fmt_in(double v, enum ht_index w, int unit, int sign, char *buf, size_t len)
{
	int bytes = ht_report_is_bytes(w);
	double r = ht_report_rounded(v);
	const char *plus = sign && r > 0 ? "+" : "";

	if (r != 0 && unit > 0 && fabs(r) / ht_unit_div(unit, bytes) < 0.05) {
		/* would show as 0.0 in the table's unit: take a unit of its own */
		unit = 0;
		while (unit < 4 && fabs(r) >= 999.95 * ht_unit_div(unit, bytes))
			unit++;
	}
	if (r == 0)
		snprintf(buf, len, "0");
	else if (unit == 0)
		snprintf(buf, len, "%s%.0f%s", plus, r, bytes ? "B" : "");
	else
		snprintf(buf, len, "%s%.1f%s", plus, r / ht_unit_div(unit, bytes),
			 ht_unit_name(unit, bytes));
	return buf;
}

/* Stack i, leaf first: "xmalloc util.c:12 < parse_config config.c:42 < main". */
static void write_stack(FILE *out, const struct ht_report_stacks *a, size_t i)
{
	const struct agg_stack *st = &a->st[i];

	for (uint32_t k = 0; k < st->n; k++)
		fprintf(out, "%s%s", k ? " < " : "", a->names.str[a->ids[st->first + k]]);
}

static void snapshot_line(FILE *out, size_t k, const char *label, const struct ht_snapshot *s)
{
	char when[64] = "";

	fprintf(out, "  #%zu ", k + 1);
	ht_fputs_escaped(out, label);
	fprintf(out, ": pid %" PRId64 ", ", s->pid);
	if (s->flags & HT_SNAP_PEAK)
		fprintf(out, "peak snapshot");
	else if (s->seq)
		fprintf(out, "snapshot %" PRIu32, s->seq);
	else
		fprintf(out, "final snapshot");
	if (s->time_ns) {
		time_t t = (time_t)(s->time_ns / 1000000000);
		struct tm tm;

		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(out, ", taken %s", when);
		if (s->start_time_ns && s->time_ns >= s->start_time_ns)
			fprintf(out, ", %.1fs after start",
				(double)(s->time_ns - s->start_time_ns) / 1e9);
	}
	fprintf(out, "\n");
}

/* The list of snapshots, their warnings and notes, above the tables. */
static void write_text_head(FILE *out, struct ht_snapshot *const *snaps,
			    const char *const *labels, size_t n, const struct ht_report_opts *o)
{
	int any_sampled = 0;
	char lead[64];

	for (size_t k = 0; k < n; k++) {
		snapshot_line(out, k, labels[k], snaps[k]);
		snprintf(lead, sizeof(lead), "  #%zu ", k + 1);
		ht_report_write_warnings(out, lead, "", snaps[k]);
		any_sampled |= !ht_report_exact(snaps[k]);
		if (k && strcmp(snaps[k]->exe ? snaps[k]->exe : "",
				snaps[0]->exe ? snaps[0]->exe : "") != 0)
			fprintf(out, "  note: #%zu comes from another executable than #1\n", k + 1);
	}
	if (any_sampled)
		fprintf(out, "Sampling: figures are estimates; '~' marks a change within "
			"sampling noise (inside its approximate 95%% interval)\n");
	if (o->focus || o->ignore)
		fprintf(out, "Active filters:%s%s%s%s\n", o->focus ? " focus=" : "",
			o->focus ? o->focus : "", o->ignore ? " ignore=" : "",
			o->ignore ? o->ignore : "");
}

/* Widens *w to hold v as the table shows it. */
static void widen(int *w, double v, const struct ht_report_opts *o, int unit, int sign)
{
	char b[64];

	if ((int)strlen(fmt_in(v, o->index, unit, sign, b, sizeof(b))) > *w)
		*w = (int)strlen(b);
}

/* The width of a figure's column: the widest figure of the rows, the
 * totals and their changes, and a space. */
static int column_width(const struct series *s, const struct ht_report_opts *o, int unit,
			const size_t *rows, size_t nrows)
{
	int w = 6;

	for (size_t c = 0; c < s->n; c++)
		widen(&w, s->total[c], o, unit, 0);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < s->n; c++)
			widen(&w, VAL(s, rows[r], c), o, unit, 0);
		widen(&w, change(s, rows[r]), o, unit, 1);
	}
	widen(&w, s->total[s->n - 1] - s->total[0], o, unit, 1);
	return w + 1;
}

/* "#1 #2 ... #N", each right-aligned in w. */
static void write_numbers(FILE *out, size_t n, int w)
{
	char b[32];

	for (size_t c = 0; c < n; c++) {
		snprintf(b, sizeof(b), "#%zu", c + 1);
		fprintf(out, "%*s", w, b);
	}
}

/* The table of the largest stacks, by their peak, with their change. */
static void write_largest(FILE *out, const struct series *s, const struct ht_report_opts *o,
			  int unit, int w, const size_t *largest, size_t nl)
{
	size_t n = s->n;
	char b[64];

	fprintf(out, "\nLargest stacks, by their peak:\n");
	write_numbers(out, n, w);
	fprintf(out, "%*s   stack\n", w, "change");
	for (size_t c = 0; c < n; c++)
		fprintf(out, "%*s", w, fmt_in(s->total[c], o->index, unit, 0, b, sizeof(b)));
	fprintf(out, "%*s   (total of all stacks)\n", w,
		fmt_in(s->total[n - 1] - s->total[0], o->index, unit, 1, b, sizeof(b)));
	for (size_t r = 0; r < nl; r++) {
		size_t i = largest[r];

		for (size_t c = 0; c < n; c++)
			fprintf(out, "%*s", w, fmt_in(VAL(s, i, c), o->index, unit, 0, b, sizeof(b)));
		fprintf(out, "%*s%c  ", w, fmt_in(change(s, i), o->index, unit, 1, b, sizeof(b)),
			ht_report_rounded(change(s, i)) != 0 && change_is_noise(s, i) ? '~' : ' ');
		write_stack(out, s->a, i);
		fprintf(out, "\n");
	}
}

/* The table of the leak suspects, by steady growth. */
static void write_suspects(FILE *out, const struct series *s, const struct ht_report_opts *o,
			   int unit, int w, const size_t *suspects, size_t ns)
{
	int ws = 9;
	char b[64];

	fprintf(out, "\nLeak suspects, by steady growth (slope per snapshot x fit R^2):\n");
	if (!ns) {
		fprintf(out, "  none: no stack grew beyond sampling noise\n");
		return;
	}
	for (size_t r = 0; r < ns; r++)
		if ((int)strlen(fmt_in(s->slope[suspects[r]], o->index, unit, 1, b,
				       sizeof(b))) + 1 > ws)
			ws = (int)strlen(b) + 1;
	if (s->ages)
		fprintf(out, "kept: the share of the last snapshot's figure already allocated at "
			"the one before; churn: under %.0f%%, young blocks\n", 100 * CHURN_KEPT);
	fprintf(out, "%*s %5s%s", ws, "per step", "fit", s->ages ? "  kept      " : "");
	write_numbers(out, s->n, w);
	fprintf(out, "  stack\n");
	for (size_t r = 0; r < ns; r++) {
		size_t i = suspects[r];

		fprintf(out, "%*s %5.2f", ws, fmt_in(s->slope[i], o->index, unit, 1, b,
						      sizeof(b)), s->r2[i]);
		if (s->ages && s->kept[i] >= 0)
			fprintf(out, " %4.0f%% %-5s", 100 * s->kept[i],
				s->kept[i] < CHURN_KEPT ? "churn" : "");
		else if (s->ages)
			fprintf(out, " %5s %-5s", "-", "");
		for (size_t c = 0; c < s->n; c++)
			fprintf(out, "%*s", w, fmt_in(VAL(s, i, c), o->index, unit, 0, b,
						      sizeof(b)));
		fprintf(out, "  ");
		write_stack(out, s->a, i);
		fprintf(out, "\n");
	}
}

static void write_text(FILE *out, const struct series *s, struct ht_snapshot *const *snaps,
		       const char *const *labels, const struct ht_report_opts *o)
{
	size_t *largest = ht_xmalloc((s->nst + 1) * sizeof(size_t));
	size_t *suspects = ht_xmalloc((s->nst + 1) * sizeof(size_t));
	size_t nl, ns;
	int unit, w;

	rank(s, o, largest, &nl, suspects, &ns);
	write_text_head(out, snaps, labels, s->n, o);
	ht_hide_write_line(out, "", &s->a->hide);
	unit = table_unit(s, o, largest, nl);
	w = column_width(s, o, unit, largest, nl);
	write_largest(out, s, o, unit, w, largest, nl);
	write_suspects(out, s, o, unit, w, suspects, ns);
	free(largest);
	free(suspects);
}

/* ---- the chart ---- */

static const char chart_script[] =
"<script type=\"text/ecmascript\"><![CDATA[\n"
"'use strict';\n"
"var root = document.documentElement, details, lines = [];\n"
"window.onerror = function (m) { root.setAttribute('data-ht-error', String(m)); };\n"
"function focusOn(k) {\n"
"  lines.forEach(function (l, i) {\n"
"    l.g.classList.toggle('fade', k !== null && i !== k);\n"
"    if (l.key) l.key.classList.toggle('fade', k !== null && i !== k);\n"
"  });\n"
"  details.textContent = k === null ? ' ' : lines[k].tip;\n"
"}\n"
"function init() {\n"
"  details = document.getElementById('details');\n"
"  var gs = document.querySelectorAll('g.line');\n"
"  for (var i = 0; i < gs.length; i++) {\n"
"    var g = gs[i], tip = g.querySelector('title').textContent;\n"
"    var l = { g: g, key: document.getElementById('key' + i), tip: tip.replace(/\\n/g, ' \\u2014 ') };\n"
"    lines.push(l);\n"
"    [g, l.key].forEach(function (el) {\n"
"      if (!el) return;\n"
"      el.addEventListener('mouseover', (function (k) { return function () { focusOn(k); }; })(i));\n"
"      el.addEventListener('mouseout', function () { focusOn(null); });\n"
"    });\n"
"  }\n"
"  root.setAttribute('data-ht-lines', String(lines.length));\n"
"  root.setAttribute('data-ht-ready', '1');\n"
"  if (location.hash === '#selftest') {\n"
"    var bad = [];\n"
"    if (lines.length) {\n"
"      focusOn(0);\n"
"      if (lines.length > 1 && !lines[1].g.classList.contains('fade')) bad.push('fade');\n"
"      if (details.textContent.length < 2) bad.push('details');\n"
"      focusOn(null);\n"
"    }\n"
"    root.setAttribute('data-ht-selftest', bad.length ? bad.join(', ') : 'ok');\n"
"  }\n"
"}\n"
"window.addEventListener('load', init);\n"
"]]></script>\n";

static const char *const palette[] = {
	"rgb(31,119,180)", "rgb(214,39,40)", "rgb(44,160,44)", "rgb(255,127,14)",
	"rgb(148,103,189)", "rgb(140,86,75)", "rgb(227,119,194)", "rgb(127,127,127)",
	"rgb(188,189,34)", "rgb(23,190,207)",
};

/* A round step for about 5 gridlines up to max. */
static double nice_step(double max)
{
	double raw = max / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;

	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Where the chart draws: the plot's edges (px) and the value at its top. */
struct chart {
	double left, right, top, bottom;
	double step, nticks, full; /* gridlines every step, nticks of them up to full */
	int unit;
};

static double chart_x(const struct chart *c, size_t k, size_t n)
{
	return n > 1 ? c->left + (c->right - c->left) * (double)k / (double)(n - 1) : c->left;
}

static double chart_y(const struct chart *c, double v)
{
	return c->bottom - (c->bottom - c->top) * v / c->full;
}

/* The chart's lines: the suspects first, then the largest stacks not
 * among them, in rows[0..return); is_suspect[stack] is set for those. */
static size_t chart_rows(const struct series *s, const struct ht_report_opts *o,
			 size_t *rows, int *is_suspect)
{
	size_t *largest = ht_xmalloc((s->nst + 1) * sizeof(size_t));
	size_t *suspects = ht_xmalloc((s->nst + 1) * sizeof(size_t));
	size_t nl, ns, nr = 0;

	rank(s, o, largest, &nl, suspects, &ns);
	for (size_t r = 0; r < ns; r++) {
		rows[nr++] = suspects[r];
		is_suspect[suspects[r]] = 1;
	}
	for (size_t r = 0; r < nl; r++)
		if (!is_suspect[largest[r]])
			rows[nr++] = largest[r];
	free(largest);
	free(suspects);
	return nr;
}

/* The value scale: the table's unit, and about 5 round gridlines up to
 * the largest peak of the rows. */
static void chart_scale(struct chart *c, const struct series *s, const struct ht_report_opts *o,
			const size_t *rows, size_t nr)
{
	double max = 0, unitdiv;

	for (size_t r = 0; r < nr; r++)
		if (s->peak[rows[r]] > max)
			max = s->peak[rows[r]];
	c->unit = table_unit(s, o, rows, nr);
	unitdiv = ht_unit_div(c->unit, ht_report_is_bytes(o->index));
	if (!(max > 0))
		max = unitdiv;
	c->step = nice_step(max / unitdiv) * unitdiv;
	/* a gridline per step up to full, counted: about 5 (nice_step), so no
	 * value can make the loop that draws them run on */
	if (!(c->step > 0 && isfinite(c->step)))
		c->step = max;
	c->nticks = max / c->step > 1 ? ceil(max / c->step) : 1;
	if (!(c->nticks <= 20)) {
		c->nticks = 1;
		c->step = max;
	}
	c->full = c->nticks * c->step;
}

/* The gridlines with their values, and a column per snapshot. */
static void chart_axes(FILE *out, const struct chart *c, const char *const *labels,
		       struct ht_snapshot *const *snaps, size_t n, const struct ht_report_opts *o)
{
	char b[64];

	for (int k = 0; k <= (int)c->nticks; k++) {
		double v = k * c->step, y = chart_y(c, v);

		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"rgb(220,220,220)\"/>\n", c->left, y, c->right, y);
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" style=\"text-anchor:end\">%s</text>\n",
			c->left - 6, y + 4, fmt_in(v, o->index, c->unit, 0, b, sizeof(b)));
	}
	for (size_t k = 0; k < n; k++) {
		double x = chart_x(c, k, n);

		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"rgb(220,220,220)\"/>\n", x, c->top, x, c->bottom);
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" style=\"text-anchor:middle\"><title>",
			x, c->bottom + 18);
		ht_svg_text(out, labels[k]);
		fprintf(out, "</title>#%zu</text>\n", k + 1);
		if (snaps[k]->start_time_ns && snaps[k]->time_ns >= snaps[k]->start_time_ns)
			fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" style=\"text-anchor:middle;"
				"fill:rgb(90,90,90)\">%.1fs</text>\n", x, c->bottom + 34,
				(double)(snaps[k]->time_ns - snaps[k]->start_time_ns) / 1e9);
	}
}

/* The line of stack i in color, with its tooltip: the stack, its values
 * and, for a suspect, its growth. */
static void chart_line(FILE *out, const struct chart *c, const struct series *s, size_t i,
		       const char *color, int suspect, const struct ht_report_opts *o)
{
	const struct agg_stack *st = &s->a->st[i];
	size_t n = s->n;
	char b[64];

	fprintf(out, "<g class=\"s line\"><title>");
	for (uint32_t k = 0; k < st->n; k++) {
		if (k)
			fputs(" &lt; ", out);
		ht_svg_text(out, s->a->names.str[s->a->ids[st->first + k]]);
	}
	fprintf(out, "\n");
	for (size_t k = 0; k < n; k++)
		fprintf(out, "%s#%zu %s", k ? ", " : "", k + 1,
			fmt_in(VAL(s, i, k), o->index, c->unit, 0, b, sizeof(b)));
	if (suspect)
		fprintf(out, "; leak suspect: %s per snapshot, fit %.2f",
			fmt_in(s->slope[i], o->index, c->unit, 1, b, sizeof(b)), s->r2[i]);
	fprintf(out, "</title><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
		"points=\"", color);
	for (size_t k = 0; k < n; k++)
		fprintf(out, "%s%.1f,%.1f", k ? " " : "", chart_x(c, k, n), chart_y(c, VAL(s, i, k)));
	fprintf(out, "\"/>");
	for (size_t k = 0; k < n; k++)
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>",
			chart_x(c, k, n), chart_y(c, VAL(s, i, k)), color);
	fprintf(out, "</g>\n");
}

/* Line r of the legend, for stack i: its color, and the stack cut to fit. */
static void chart_key(FILE *out, const struct chart *c, const struct series *s, size_t r,
		      size_t i, const char *color, int suspect)
{
	const struct agg_stack *st = &s->a->st[i];
	double y = c->bottom + 60 + 18 * (double)(r + 1);
	long room = (long)((c->right - c->left - 24) / HT_SVG_CHAR_W);
	char *name = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&name, &len);

	if (!m)
		return;
	if (suspect)
		fprintf(m, "[suspect %zu] ", r + 1);
	for (uint32_t k = 0; k < st->n; k++)
		fprintf(m, "%s%s", k ? " < " : "", s->a->names.str[s->a->ids[st->first + k]]);
	fclose(m);
	fprintf(out, "<g id=\"key%zu\" class=\"s key\"><rect x=\"%.1f\" y=\"%.1f\" width=\"14\" "
		"height=\"10\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">", r, c->left, y - 10,
		color, c->left + 22, y);
	ht_svg_text_cut(out, name, len, room);
	fprintf(out, "</text></g>\n");
	free(name);
}

static void write_chart(FILE *out, const struct series *s, const char *const *labels,
			struct ht_snapshot *const *snaps, const struct ht_report_opts *o)
{
	size_t *rows = ht_xmalloc((2 * s->nst + 1) * sizeof(size_t));
	int *is_suspect = ht_xcalloc(s->nst + 1, sizeof(int));
	struct chart c = { .left = 90, .right = 1180, .top = 60, .bottom = 420 };
	size_t nr, n = s->n, npal = sizeof(palette) / sizeof(palette[0]);
	double height;
	char title[512], sub[512], b[64], b2[64];

	nr = chart_rows(s, o, rows, is_suspect);
	chart_scale(&c, s, o, rows, nr);
	height = c.bottom + 60 + 18.0 * (double)nr + 30;
	snprintf(title, sizeof(title), "heaptrace series: %s across %zu snapshots",
		 ht_report_index_name(o->index), n);
	snprintf(sub, sizeof(sub), "total %s at #1, %s at #%zu; hover a line for its stack and values",
		 fmt_in(s->total[0], o->index, c.unit, 0, b, sizeof(b)),
		 fmt_in(s->total[n - 1], o->index, c.unit, 0, b2, sizeof(b2)), n);
	ht_svg_head(out, height, chart_script, title, sub);
	chart_axes(out, &c, labels, snaps, n, o);
	for (size_t r = 0; r < nr; r++)
		chart_line(out, &c, s, rows[r], palette[r % npal], is_suspect[rows[r]], o);
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", c.left, c.bottom + 60,
		nr ? "Stacks (leaf first; leak suspects marked, ranked by steady growth):" :
		"nothing to show: no stack has a value");
	for (size_t r = 0; r < nr; r++)
		chart_key(out, &c, s, r, rows[r], palette[r % npal], is_suspect[rows[r]]);
	fprintf(out, "<text id=\"details\" x=\"10\" y=\"%.0f\"> </text>\n", height - 12);
	fprintf(out, "</svg>\n");
	free(rows);
	free(is_suspect);
}

/* By process (its start, then its pid), then by the time each snapshot
 * was taken, then as given. */
static int cmp_taken(const void *x, const void *y, void *ctx)
{
	struct ht_snapshot *const *sn = ctx;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	const struct ht_snapshot *a = sn[i], *b = sn[j];

	if (!ht_report_same_process(a, b)) {
		if (a->start_time_ns != b->start_time_ns)
			return a->start_time_ns < b->start_time_ns ? -1 : 1;
		if (a->pid != b->pid)
			return a->pid < b->pid ? -1 : 1;
	}
	if (a->time_ns != b->time_ns)
		return a->time_ns < b->time_ns ? -1 : 1;
	return i < j ? -1 : i > j;
}

size_t ht_series_order(struct ht_snapshot *const *snaps, size_t n, size_t *order, int *moved)
{
	size_t procs = n ? 1 : 0;

	*moved = 0;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_taken, (void *)snaps);
	for (size_t i = 0; i < n; i++) {
		*moved |= order[i] != i;
		if (i && !ht_report_same_process(snaps[order[i - 1]], snaps[order[i]]))
			procs++;
	}
	return procs;
}

void ht_series_order_note(FILE *out, const char *lead, size_t procs, int moved)
{
	if (procs > 1)
		fprintf(out, "%snote: the snapshots come from %zu processes; ordered by "
			"process start, then by the time each was taken\n", lead, procs);
	else if (moved)
		fprintf(out, "%snote: ordered by the time each snapshot was taken, not as "
			"given\n", lead);
}

int ht_series_write(FILE *out, struct ht_snapshot *const *given,
		    const char *const *given_labels, size_t n,
		    const struct ht_report_opts *o, char *err, size_t errlen)
{
	struct ht_report_stacks *a;
	struct series s;
	struct ht_snapshot **snaps;
	const char **labels;
	size_t *order, procs;
	int moved;

	if (n < 2)
		return ht_fail(err, errlen, "a series needs two or more snapshots");
	for (size_t i = 0; i < n; i++)
		if (ht_report_check_index(given[i], o->index, given_labels[i], err, errlen))
			return -1;
	a = ht_report_stacks_for(o, err, errlen);
	if (!a)
		return -1;
	/* the order of the files named is the shell's (step10 before
	 * step2), not time's: the snapshots say when they were taken */
	order = ht_xmalloc(n * sizeof(*order));
	snaps = ht_xmalloc(n * sizeof(*snaps));
	labels = ht_xmalloc(n * sizeof(*labels));
	procs = ht_series_order(given, n, order, &moved);
	for (size_t i = 0; i < n; i++) {
		snaps[i] = given[order[i]];
		labels[i] = given_labels[order[i]];
	}
	memset(&s, 0, sizeof(s));
	if (build(&s, a, snaps, n, o->index, err, errlen)) {
		free(order);
		free(snaps);
		free(labels);
		ht_report_stacks_free(a);
		return -1;
	}
	if (o->format == HT_FORMAT_SVG) {
		write_chart(out, &s, labels, snaps, o);
	} else {
		fprintf(out, "Series: %zu snapshots, %s\n", n, ht_report_index_name(o->index));
		ht_report_write_temp_note(out, o);
		ht_series_order_note(out, "", procs, moved);
		write_text(out, &s, snaps, labels, o);
	}
	free(order);
	free(snaps);
	free(labels);
	free_series(&s);
	ht_report_stacks_free(a);
	if (ferror(out))
		return ht_fail(err, errlen, "cannot write the report");
	return 0;
}
