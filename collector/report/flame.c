/* Flame graphs: one self-contained SVG (no external files, no network) with
 * the frames drawn statically, so any viewer shows them, and a small script
 * for the interaction: hover for the full name and value, click to zoom,
 * search by regular expression. A diff gives a differential flame graph:
 * red frames grew, blue ones shrank, pale ones changed within noise. */
#include "report/report_int.h"
#include "report/render.h"
#include "report/svg.h"
#include "lib/hash.h"
#include "lib/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH HT_SVG_WIDTH
#define PAD 10.0       /* left and right margins */
#define ROW 17.0       /* height of a row of frames, a 1 px gap included */
#define TOP 56.0       /* first row */
#define CHAR_W HT_SVG_CHAR_W
#define MIN_W 0.1      /* frames narrower than this (px) are left out */

struct fnode {
	uint32_t name;        /* name id in the aggregation; root: HT_NONE */
	uint32_t parent, child, next;
	uint32_t depth;
	double w;             /* width basis: the value (diff: max(base, cur)) */
	double b, c;          /* diff: base and current values */
	struct ht_err err;    /* the sampling error of the node's figure */
	double x;             /* layout, px */
};

struct ftree {
	struct fnode *n;
	size_t nn, cap;
	uint32_t *slots;      /* (parent, name) -> node + 1 */
	size_t mask;
	uint32_t maxdepth;
};

static uint64_t node_hash(uint32_t parent, uint32_t name)
{
	/* mixed: parents are often consecutive numbers */
	return ht_mix64((uint64_t)parent << 32 | name);
}

static void ft_rehash(struct ftree *t)
{
	free(t->slots);
	t->slots = ht_slots_new(4 * t->nn, &t->mask);
	if (!t->slots)
		ht_die(2, "out of memory");
	for (size_t i = 1; i < t->nn; i++)
		ht_slots_put(t->slots, t->mask, node_hash(t->n[i].parent, t->n[i].name), (uint32_t)i);
}

static uint32_t ft_child(struct ftree *t, uint32_t parent, uint32_t name)
{
	size_t j = node_hash(parent, name) & t->mask;
	struct fnode *n;

	for (; t->slots[j]; j = (j + 1) & t->mask) {
		n = &t->n[t->slots[j] - 1];
		if (n->parent == parent && n->name == name)
			return t->slots[j] - 1;
	}
	t->n = ht_xgrow(t->n, &t->cap, t->nn + 1, sizeof(*t->n));
	n = &t->n[t->nn];
	memset(n, 0, sizeof(*n));
	n->name = name;
	n->parent = parent;
	n->child = n->next = HT_NONE;
	n->depth = t->n[parent].depth + 1;
	if (n->depth > t->maxdepth)
		t->maxdepth = n->depth;
	t->slots[j] = (uint32_t)++t->nn;
	if (2 * t->nn > t->mask)
		ft_rehash(t);
	return (uint32_t)(t->nn - 1);
}

/* The child name of parent, or HT_NONE if there is none. */
static uint32_t ft_find(const struct ftree *t, uint32_t parent, uint32_t name)
{
	for (size_t j = node_hash(parent, name) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
		const struct fnode *n = &t->n[t->slots[j] - 1];

		if (n->parent == parent && n->name == name)
			return t->slots[j] - 1;
	}
	return HT_NONE;
}

static void ft_add(struct fnode *n, double w, double b, double c, const struct ht_err *e)
{
	n->w += w;
	n->b += b;
	n->c += c;
	ht_err_add(&n->err, e);
}

/* The tree of the shown stacks, root first. */
static void build(struct ftree *t, const struct ht_report_stacks *a, enum ht_index w, int diff)
{
	t->cap = 1024;
	t->n = ht_xcalloc(t->cap, sizeof(*t->n));
	t->nn = 1;
	t->n[0].name = HT_NONE;
	t->n[0].parent = t->n[0].child = t->n[0].next = HT_NONE;
	ft_rehash(t);
	for (size_t i = 0; i < a->nst; i++) {
		const struct agg_stack *st = &a->st[i];
		double b = diff ? st->side[0][w] : 0, c = diff ? st->side[1][w] : st->v[w];
		double width = b > c ? b : c;
		const struct ht_err *e;
		uint32_t at = 0;

		if (st->hidden || !(width > 0))
			continue;
		e = ht_report_stacks_err(a, i, w);
		ft_add(&t->n[0], width, b, c, e);
		for (uint32_t k = st->n; k-- > 0; ) {
			at = ft_child(t, at, a->ids[st->first + k]);
			ft_add(&t->n[at], width, b, c, e);
		}
	}
}

struct sort_ctx {
	const struct ftree *t;
	const struct ht_report_stacks *a;
};

static int cmp_children(const void *x, const void *y, void *ctx)
{
	const struct sort_ctx *c = ctx;
	const struct fnode *p = &c->t->n[*(const uint32_t *)x], *q = &c->t->n[*(const uint32_t *)y];

	if (p->w != q->w)
		return p->w > q->w ? -1 : 1;
	return strcmp(c->a->names.str[p->name], c->a->names.str[q->name]);
}

/* Links the children of every node, widest first, and places them. */
static void layout(struct ftree *t, const struct ht_report_stacks *a)
{
	uint32_t *order = ht_xmalloc((t->nn + 1) * sizeof(uint32_t));
	uint32_t *count = ht_xcalloc(t->nn + 1, sizeof(uint32_t));
	uint32_t *start = ht_xcalloc(t->nn + 2, sizeof(uint32_t));
	struct sort_ctx ctx = { t, a };
	double scale = t->n[0].w > 0 ? (WIDTH - 2 * PAD) / t->n[0].w : 0;

	/* bucket the children by parent, sort each bucket */
	for (size_t i = 1; i < t->nn; i++)
		count[t->n[i].parent]++;
	for (size_t i = 0; i < t->nn; i++)
		start[i + 1] = start[i] + count[i];
	memset(count, 0, (t->nn + 1) * sizeof(uint32_t));
	for (size_t i = 1; i < t->nn; i++) {
		uint32_t p = t->n[i].parent;

		order[start[p] + count[p]++] = (uint32_t)i;
	}
	for (size_t p = 0; p < t->nn; p++) {
		if (!count[p])
			continue;
		qsort_r(order + start[p], count[p], sizeof(uint32_t), cmp_children, &ctx);
		for (uint32_t k = 0; k + 1 < count[p]; k++)
			t->n[order[start[p] + k]].next = order[start[p] + k + 1];
		t->n[p].child = order[start[p]];
	}
	/* parents come before their children in node order */
	t->n[0].x = PAD;
	for (size_t p = 0; p < t->nn; p++) {
		double x = t->n[p].x;

		for (uint32_t c = t->n[p].child; c != HT_NONE; c = t->n[c].next) {
			t->n[c].x = x;
			x += t->n[c].w * scale;
		}
	}
	free(order);
	free(count);
	free(start);
}

/* The label that fits w px: the name, or its start and "..". */
static void label(FILE *out, const char *name, double w)
{
	double chars = (w - 6) / CHAR_W; /* w is at most the graph's width, or NaN */
	long fit = chars >= 3 && chars <= WIDTH ? (long)chars : 0;

	if (fit >= 3)
		ht_svg_text_cut(out, name, strlen(name), fit);
}

/* The colour's hash of a name: FNV-1a with its own final step, kept as
 * it is so that a name keeps its colour from one version to the next. */
static uint64_t hash_name(const char *s)
{
	uint64_t h = ht_fnv1a(s, strlen(s));

	return h ^ (h >> 31);
}

/* flamegraph.pl's "hot" palette, the same colour for the same name in
 * every graph; addresses without symbols grey. */
static void color_plain(char *buf, size_t len, const char *name)
{
	uint64_t h = hash_name(name);
	double v1 = (double)(h & 0xffff) / 65536, v2 = (double)(h >> 16 & 0xffff) / 65536;
	double v3 = (double)(h >> 32 & 0xffff) / 65536;

	if (ht_report_name_is_address(name))
		snprintf(buf, len, "rgb(%d,%d,%d)", 180 + (int)(30 * v1), 180 + (int)(30 * v1),
			 190 + (int)(30 * v1));
	else
		snprintf(buf, len, "rgb(%d,%d,%d)", 205 + (int)(50 * v3), (int)(230 * v1),
			 (int)(55 * v2));
}

/* Differential: red grew, blue shrank, by the share of the largest change;
 * a change within sampling noise stays pale. */
static void color_diff(char *buf, size_t len, const struct fnode *n, double maxabs)
{
	double d = ht_report_rounded(n->c - n->b), t = maxabs > 0 ? fabs(d) / maxabs : 0;
	int lo;

	if (d == 0) {
		snprintf(buf, len, "rgb(215,215,215)");
		return;
	}
	if (ht_err_within(d, &n->err) && t > 0.12)
		t = 0.12;
	if (!(t <= 1)) /* NaN, from an infinite change */
		t = 1;
	t = 0.15 + 0.85 * t;
	lo = (int)lround(225 * (1 - t));
	if (d > 0)
		snprintf(buf, len, "rgb(255,%d,%d)", lo, lo);
	else
		snprintf(buf, len, "rgb(%d,%d,255)", lo, lo);
}

static const char script[] =
"<script type=\"text/ecmascript\"><![CDATA[\n"
"'use strict';\n"
"var W = 1200, PAD = 10, frames = [], details, matched, unzoomBtn, searchBtn;\n"
"var root = document.documentElement, searching = null, zoomed = null;\n"
"window.onerror = function (m) { root.setAttribute('data-ht-error', String(m)); };\n"
"function fit(f, x, w) {\n"
"  f.r.setAttribute('x', x.toFixed(1)); f.r.setAttribute('width', w.toFixed(1));\n"
"  f.t.setAttribute('x', (x + 3).toFixed(1));\n"
"  var n = Math.floor((w - 6) / 7.2);\n"
"  f.t.textContent = n < 3 ? '' : f.name.length <= n ? f.name : f.name.substr(0, n - 2) + '..';\n"
"}\n"
"function show(f, on) { f.g.style.display = on ? '' : 'none'; }\n"
"function zoom(z) {\n"
"  var s = (W - 2 * PAD) / z.w, e = 0.01;\n"
"  zoomed = z;\n"
"  frames.forEach(function (f) {\n"
"    if (f.y < z.y) {\n"
"      var anc = f.x <= z.x + e && f.x + f.w >= z.x + z.w - e;\n"
"      show(f, anc); if (anc) { fit(f, PAD, W - 2 * PAD); f.g.classList.add('parent'); }\n"
"    } else if (f.x >= z.x - e && f.x + f.w <= z.x + z.w + e) {\n"
"      show(f, true); f.g.classList.remove('parent'); fit(f, PAD + (f.x - z.x) * s, f.w * s);\n"
"    } else show(f, false);\n"
"  });\n"
"  unzoomBtn.style.opacity = 1;\n"
"}\n"
"function unzoom() {\n"
"  zoomed = null;\n"
"  frames.forEach(function (f) { show(f, true); f.g.classList.remove('parent'); fit(f, f.x, f.w); });\n"
"  unzoomBtn.style.opacity = 0;\n"
"}\n"
"function search(text) {\n"
"  var re = new RegExp(text), iv = [], sum = 0, end = -1;\n"
"  searching = text;\n"
"  frames.forEach(function (f) {\n"
"    var m = f.y > 56 && re.test(f.name);\n"
"    f.r.setAttribute('fill', m ? 'rgb(230,0,230)' : f.fill);\n"
"    if (m) iv.push([f.x, f.x + f.w]);\n"
"  });\n"
"  iv.sort(function (a, b) { return a[0] - b[0]; });\n"
"  iv.forEach(function (v) {\n"
"    if (v[0] >= end) { sum += v[1] - v[0]; end = v[1]; }\n"
"    else if (v[1] > end) { sum += v[1] - end; end = v[1]; }\n"
"  });\n"
"  var pct = 100 * sum / (W - 2 * PAD);\n"
"  matched.textContent = 'Matched: ' + (pct > 99.95 ? '100' : pct.toFixed(1)) + '%';\n"
"  searchBtn.textContent = 'Reset search';\n"
"  return pct;\n"
"}\n"
"function resetSearch() {\n"
"  searching = null;\n"
"  frames.forEach(function (f) { f.r.setAttribute('fill', f.fill); });\n"
"  matched.textContent = ''; searchBtn.textContent = 'Search';\n"
"}\n"
"function searchPrompt() {\n"
"  if (searching !== null) { resetSearch(); return; }\n"
"  var t = prompt('Search for (regular expression):', '');\n"
"  if (t) { try { search(t); } catch (e) { matched.textContent = 'Bad expression'; } }\n"
"}\n"
"function selftest() {\n"
"  var bad = [], z = null;\n"
"  frames.forEach(function (f) { if (f.y > 56 && f.w > 2 && (!z || f.y > z.y)) z = f; });\n"
"  if (z) {\n"
"    zoom(z);\n"
"    if (Math.abs(+z.r.getAttribute('width') - (W - 2 * PAD)) > 0.5) bad.push('zoom width');\n"
"    if (z.g.style.display === 'none') bad.push('zoomed frame hidden');\n"
"    unzoom();\n"
"    if (Math.abs(+z.r.getAttribute('width') - z.w) > 0.5) bad.push('unzoom width');\n"
"  }\n"
"  if (frames.length > 1 && search('.') < 99.9) bad.push('search');\n"
"  resetSearch();\n"
"  root.setAttribute('data-ht-selftest', bad.length ? bad.join(', ') : 'ok');\n"
"}\n"
"function init() {\n"
"  details = document.getElementById('details');\n"
"  matched = document.getElementById('matched');\n"
"  unzoomBtn = document.getElementById('unzoom');\n"
"  searchBtn = document.getElementById('search');\n"
"  var gs = document.querySelectorAll('g.f');\n"
"  for (var i = 0; i < gs.length; i++) {\n"
"    var g = gs[i], r = g.querySelector('rect'), tip = g.querySelector('title').textContent;\n"
"    var f = { g: g, r: r, t: g.querySelector('text'), x: +r.getAttribute('x'),\n"
"      w: +r.getAttribute('width'), y: +r.getAttribute('y'), fill: r.getAttribute('fill'),\n"
"      name: tip.split('\\n')[0], tip: tip.replace(/\\n/g, ' \\u2014 ') };\n"
"    frames.push(f);\n"
"    g.addEventListener('mouseover', (function (f) { return function () { details.textContent = f.tip; }; })(f));\n"
"    g.addEventListener('mouseout', function () { details.textContent = ' '; });\n"
"    g.addEventListener('click', (function (f) { return function () { zoom(f); }; })(f));\n"
"  }\n"
"  unzoomBtn.addEventListener('click', unzoom);\n"
"  searchBtn.addEventListener('click', searchPrompt);\n"
"  window.addEventListener('keydown', function (e) {\n"
"    if (e.keyCode === 114 || (e.ctrlKey && e.keyCode === 70)) { e.preventDefault(); searchPrompt(); }\n"
"    else if (e.keyCode === 27) { unzoom(); resetSearch(); }\n"
"  });\n"
"  root.setAttribute('data-ht-frames', String(frames.length));\n"
"  root.setAttribute('data-ht-ready', '1');\n"
"  if (location.hash === '#selftest') selftest();\n"
"}\n"
"window.addEventListener('load', init);\n"
"]]></script>\n";

/* The graph's title and subtitle. */
static void titles(char *title, char *sub, size_t len, const struct ht_snapshot *base,
		   const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	const char *idx = ht_report_index_name(o->index);

	if (base) {
		snprintf(title, len, "heaptrace differential flame graph: %s, %s minus %s",
			 idx, o->cur_label ? o->cur_label : "current",
			 o->base_label ? o->base_label : "base");
		snprintf(sub, len, "width: the larger of base and current; red: grew, "
			 "blue: shrank, pale: within sampling noise; click to zoom, Ctrl-F to search");
		return;
	}
	snprintf(title, len, "heaptrace flame graph: %s of %s (pid %" PRId64 ")",
		 idx, ht_report_str(cur->exe)[0] ? cur->exe : o->cur_label ? o->cur_label : "?",
		 cur->pid);
	snprintf(sub, len, "%s%s%s%s%s; click a frame to zoom, Ctrl-F to search",
		 ht_report_exact(cur) ? "every allocation recorded" :
		 "sampled (figures are estimates)",
		 o->focus ? "; focus=" : "", o->focus ? o->focus : "",
		 o->ignore ? "; ignore=" : "", o->ignore ? o->ignore : "");
}

/* --color age: the median age of the bytes in use under each frame drawn
 * (their AGE cells), kept only for the frames drawn. */
struct ages {
	uint32_t *slot;                 /* by node: its row + 1, 0: not drawn */
	struct ht_cell_row *row;
	double *median;                 /* by row: ns, or -1 (no bytes in use) */
};

/* Whether node i of t is drawn (as frames() decides). */
static int drawn(const struct ftree *t, size_t i, double scale)
{
	const struct fnode *n = &t->n[i];

	return n->w * scale >= MIN_W && (n->parent == HT_NONE || t->n[n->parent].w * scale >= MIN_W);
}

static void ages_make(struct ages *g, const struct ftree *t, const struct ht_report_stacks *a,
		      const struct ht_snapshot *cur, enum ht_index w)
{
	double scale = t->n[0].w > 0 ? (WIDTH - 2 * PAD) / t->n[0].w : 0;
	/* interning a snapshot already added finds its entries: a is unchanged */
	size_t *map = ht_report_stacks_intern((struct ht_report_stacks *)a, cur), nrows = 0;

	g->slot = ht_xcalloc(t->nn + 1, sizeof(uint32_t));
	for (size_t i = 0; i < t->nn; i++)
		if (drawn(t, i, scale))
			g->slot[i] = (uint32_t)++nrows;
	g->row = ht_xcalloc(nrows + 1, sizeof(*g->row));
	g->median = ht_xcalloc(nrows + 1, sizeof(double));
	for (size_t i = 0; i < cur->ncells; i++) {
		const struct ht_cell *c = &cur->cells[i];
		const struct agg_stack *st;
		uint32_t at = 0;

		if (c->kind != HT_CELL_AGE || c->stack >= cur->nstacks || c->bucket >= HT_TIME_BUCKETS)
			continue;
		st = &a->st[map[c->stack]];
		/* the stacks the graph draws, as build() takes them */
		if (st->hidden || !(st->v[w] > 0))
			continue;
		for (uint32_t k = st->n + 1; k-- > 0 && at != HT_NONE && g->slot[at]; ) {
			g->row[g->slot[at] - 1].h[c->bucket].space += c->space;
			at = k ? ft_find(t, at, a->ids[st->first + k - 1]) : HT_NONE;
		}
	}
	for (size_t r = 0; r < nrows; r++) {
		struct ht_quantile q;

		ht_cells_quantile(&g->row[r], HT_CELL_AGE, 1, 0.5, &q);
		g->median[r] = q.valid ? q.v : -1;
	}
	free(map);
}

static void ages_free(struct ages *g)
{
	free(g->slot);
	free(g->row);
	free(g->median);
}

/* Young (1 ms or less) light blue to old (3 h or more) dark red, on the
 * logarithm of the median age; grey for no bytes in use. */
static void color_age(char *buf, size_t len, double ns)
{
	double f = (log10(ns > 1 ? ns : 1) - 6) / 7;

	if (ns < 0) {
		snprintf(buf, len, "rgb(220,220,220)");
		return;
	}
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	snprintf(buf, len, "rgb(%d,%d,%d)", (int)(150 + 60 * f), (int)(210 - 180 * f),
		 (int)(250 - 210 * f));
}

/* The tooltip of frame n after its name: its figures and their error;
 * total is the root's width. */
static void frame_tip(FILE *out, const struct fnode *n, double total, int diff,
		      const struct ht_report_opts *o)
{
	char b1[64], b2[64], b3[64], b4[64];

	if (diff) {
		double d = ht_report_rounded(n->c - n->b);

		fprintf(out, "\nbase %s, current %s, change %s",
			ht_report_fmt_value(n->b, o->index, 0, o->unit, b1, sizeof(b1)),
			ht_report_fmt_value(n->c, o->index, 0, o->unit, b2, sizeof(b2)),
			ht_report_fmt_value(d, o->index, 1, o->unit, b3, sizeof(b3)));
		if (ht_err_var(&n->err) > 0)
			fprintf(out, " %s%s", ht_report_fmt_interval(&n->err, o->index, o->unit,
								     b4, sizeof(b4)),
				ht_err_within(d, &n->err) ? " (within sampling noise)" : "");
		return;
	}
	fprintf(out, "\n%s (%s)",
		ht_report_fmt_value(n->w, o->index, 0, o->unit, b1, sizeof(b1)),
		ht_report_fmt_pct(n->w, total, b2, sizeof(b2)));
	if (ht_err_var(&n->err) > 0)
		fprintf(out, " %s", ht_report_fmt_interval(&n->err, o->index, o->unit,
							   b3, sizeof(b3)));
}

/* The buttons and text lines around the frames. */
static void controls(FILE *out, double height)
{
	fprintf(out, "<text id=\"unzoom\" class=\"btn\" x=\"%.0f\" y=\"24\" style=\"opacity:0\">"
		"Reset zoom</text>\n", PAD);
	fprintf(out, "<text id=\"search\" class=\"btn\" x=\"%.0f\" y=\"24\" "
		"style=\"text-anchor:end\">Search</text>\n", WIDTH - PAD);
	fprintf(out, "<text id=\"details\" x=\"%.0f\" y=\"%.0f\"> </text>\n", PAD, height - 14);
	fprintf(out, "<text id=\"matched\" x=\"%.0f\" y=\"%.0f\" style=\"text-anchor:end\"></text>\n",
		WIDTH - PAD, height - 14);
}

/* Writes the frames of t wide enough to see, preorder from the node list
 * (a parent always precedes its children). Returns how many. */
static size_t frames(FILE *out, const struct ftree *t, const struct ht_report_stacks *a,
		     int diff, const struct ht_report_opts *o, const struct ages *g)
{
	double scale = t->n[0].w > 0 ? (WIDTH - 2 * PAD) / t->n[0].w : 0, maxabs = 0;
	size_t nframes = 0;
	char fill[64], age[32];

	for (size_t i = 1; i < t->nn; i++)
		if (fabs(t->n[i].c - t->n[i].b) > maxabs)
			maxabs = fabs(t->n[i].c - t->n[i].b);
	for (size_t i = 0; i < t->nn; i++) {
		const struct fnode *n = &t->n[i];
		const char *name = n->name == HT_NONE ? "all" : a->names.str[n->name];
		double w = n->w * scale, y = TOP + n->depth * ROW;

		if (!(w >= MIN_W) || (n->parent != HT_NONE && t->n[n->parent].w * scale < MIN_W))
			continue;
		nframes++;
		if (g)
			color_age(fill, sizeof(fill), g->median[g->slot[i] - 1]);
		else if (diff)
			color_diff(fill, sizeof(fill), n, maxabs);
		else if (i == 0)
			snprintf(fill, sizeof(fill), "rgb(200,200,200)");
		else
			color_plain(fill, sizeof(fill), name);
		fprintf(out, "<g class=\"f\"><title>");
		ht_svg_text(out, name);
		frame_tip(out, n, t->n[0].w, diff, o);
		if (g && g->median[g->slot[i] - 1] >= 0)
			fprintf(out, "\nmedian age of the bytes in use: %s",
				ht_cells_fmt_ns(g->median[g->slot[i] - 1], age, sizeof(age)));
		fprintf(out, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\" rx=\"2\"/><text x=\"%.1f\" y=\"%.1f\">", n->x, y, w, ROW - 1,
			fill, n->x + 3, y + 12);
		label(out, name, w);
		fprintf(out, "</text></g>\n");
	}
	return nframes;
}

int ht_flame_write(FILE *out, const struct ht_report_stacks *a,
		   const struct ht_snapshot *base, const struct ht_snapshot *cur,
		   const struct ht_report_opts *o)
{
	struct ftree t;
	struct ages g;
	int diff = base != NULL, by_age = o->color_age && !diff && cur->has_cells;
	double height;
	char title[1024], sub[1024], *hidden;
	size_t nframes;

	memset(&t, 0, sizeof(t));
	build(&t, a, o->index, diff);
	layout(&t, a);
	if (by_age)
		ages_make(&g, &t, a, cur, o->index);
	height = TOP + (t.maxdepth + 1) * ROW + 34;
	titles(title, sub, sizeof(title), base, cur, o);
	if (by_age)
		snprintf(sub, sizeof(sub), "colour: the median age of the bytes in use, light blue "
			 "1 ms or younger to dark red 3 h or older, grey none; click to zoom, "
			 "Ctrl-F to search");
	if ((hidden = ht_hide_line(&a->hide))) {
		size_t len = strlen(sub);

		snprintf(sub + len, sizeof(sub) - len, "; %s", hidden);
		free(hidden);
	}
	ht_svg_head(out, height, script, title, sub);
	controls(out, height);
	fprintf(out, "<g id=\"frames\">\n");
	nframes = frames(out, &t, a, diff, o, by_age ? &g : NULL);
	if (by_age)
		ages_free(&g);
	fprintf(out, "</g>\n");
	if (nframes <= 1)
		fprintf(out, "<text x=\"%.0f\" y=\"%.0f\">nothing to show: no %s in the %s</text>\n",
			PAD, TOP + 2 * ROW + 12, ht_report_index_name(o->index), diff ? "diff" : "snapshot");
	fprintf(out, "</svg>\n");
	free(t.n);
	free(t.slots);
	return ferror(out) ? -1 : 0;
}
