/* --format dot: pprof's call graph in Graphviz's DOT language, as `go tool
 * pprof -dot` draws it. A node per frame name with its flat and cum (and
 * their 95% intervals, the top table's), edges from caller to callee
 * weighted by what flows through them, pruned by --nodefraction,
 * --nodecount and --edgefraction as pprof prunes, pprof's colours, sizes
 * and legend. Graphviz's dot program draws it (graphviz.c). */
#include "report/report_int.h"
#include "report/render.h"
#include "lib/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pprof's defaults for a graph */
#define DOT_NODECOUNT 80
#define DOT_NODEFRACTION 0.005
#define DOT_EDGEFRACTION 0.001

struct gnode {
	uint32_t id;          /* name id */
	double flat, cum;     /* rounded, as the top table shows them */
	double score;         /* pprof's entropy score, the sort key */
	double in_sum, out_sum, in_ent, out_ent; /* scoring */
	int nin, nout;
};

struct gedge {
	uint32_t src, dst;    /* name ids: caller, callee */
	double w;
	size_t seen;          /* the last stack counted, + 1 */
	int residual;         /* skips nodes that were left out */
	int gone;             /* trimmed, or redundant */
};

/* The graph over the rows of the top table: nodes in display order, and
 * the edges between them. */
struct graph {
	const struct ht_report_stacks *a;
	const struct ht_report_rows *r;
	struct gnode *n;
	size_t nn;
	uint32_t *slot;       /* name id -> node index + 1; 0: no node */
	struct gedge *e;
	size_t ne, ecap;
	uint32_t *eslot;      /* open addressing: edge index + 1 */
	size_t emask;
};

/* What the pruning left out, for the legend. */
struct pruned {
	double nodecut, edgecut;
	size_t dropped_nodes, dropped_edges, orig;
};

/* ---- escaping ---- */

void ht_dot_escape(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0, w; i < n; i += w ? w : 1) {
		w = ht_char_printable(s + i, n - i);
		if (!w)
			putc('?', out);
		else if (s[i] == '"' || s[i] == '\\')
			fprintf(out, "\\%c", s[i]);
		else if (s[i] == '&')
			fputs("&amp;", out); /* Graphviz reads entities in labels */
		else
			fwrite(s + i, 1, w, out);
	}
}

/* A function's name on lines of its own: a line break at each "::" that
 * is outside brackets (pprof breaks "Cache::put(int)" into "Cache" and
 * "put(int)"; its arguments' "std::string" stays whole). */
static void escape_function(FILE *out, const char *s, size_t n)
{
	size_t start = 0;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '(' || s[i] == '<' || s[i] == '[')
			depth++;
		else if ((s[i] == ')' || s[i] == '>' || s[i] == ']') && depth > 0)
			depth--;
		else if (!depth && s[i] == ':' && i + 1 < n && s[i + 1] == ':' && i > start) {
			ht_dot_escape(out, s + start, i - start);
			fputs("\\n", out);
			start = i + 2;
			i++;
		}
	}
	ht_dot_escape(out, s + start, n - start);
}

/* ---- the graph ---- */

static struct gedge *edge_find(struct graph *g, uint32_t src, uint32_t dst)
{
	uint64_t h = ((uint64_t)src << 32 | dst) + 1;
	size_t j;

	/* splitmix64's finalizer: name ids are small consecutive numbers */
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	for (j = (size_t)(h ^ (h >> 31)) & g->emask; g->eslot[j]; j = (j + 1) & g->emask) {
		struct gedge *e = &g->e[g->eslot[j] - 1];

		if (e->src == src && e->dst == dst)
			return e;
	}
	if (2 * (g->ne + 1) > g->emask) {
		size_t size = 2 * (g->emask + 1), ne = g->ne;

		free(g->eslot);
		g->eslot = ht_xcalloc(size, sizeof(uint32_t));
		g->emask = size - 1;
		g->ne = 0;
		for (size_t i = 0; i < ne; i++) { /* re-placed in order: same indexes */
			struct gedge old = g->e[i];

			*edge_find(g, old.src, old.dst) = old;
		}
		return edge_find(g, src, dst);
	}
	if (g->ne == g->ecap) {
		g->ecap = g->ecap ? 2 * g->ecap : 64;
		g->e = ht_xrealloc(g->e, g->ecap * sizeof(*g->e));
	}
	g->e[g->ne] = (struct gedge){ src, dst, 0, 0, 0, 0 };
	g->eslot[j] = (uint32_t)++g->ne;
	return &g->e[g->ne - 1];
}

/* Counts the edges between the graph's nodes over the shown stacks, as
 * pprof does: from the root to the leaf, an edge from each node to the
 * next node of the graph, residual if frames left out lie between them;
 * each edge once per stack (recursion), none from a node to itself. */
static void count_edges(struct graph *g, enum ht_index w)
{
	const struct ht_report_stacks *a = g->a;

	g->ne = 0;
	memset(g->eslot, 0, (g->emask + 1) * sizeof(uint32_t));
	for (size_t i = 0; i < a->nst; i++) {
		const struct agg_stack *st = &a->st[i];
		const uint32_t *ids = a->ids + st->first;
		uint32_t parent = HT_NONE;
		int residual = 0;

		if (st->hidden || st->v[w] == 0)
			continue;
		for (uint32_t k = st->n; k-- > 0;) {
			struct gedge *e;

			if (!g->slot[ids[k]]) {
				residual = 1;
				continue;
			}
			if (parent != HT_NONE && parent != ids[k]) {
				e = edge_find(g, parent, ids[k]);
				if (e->seen != i + 1) {
					e->seen = i + 1;
					e->w += st->v[w];
					e->residual |= residual;
				}
			}
			parent = ids[k];
			residual = 0;
		}
	}
}

static struct gnode *node_of(const struct graph *g, uint32_t id)
{
	return &g->n[g->slot[id] - 1];
}

/* One term of an entropy, -p log2 p, of the share p = part / sum; 0 where
 * p is not positive (an edge whose value cancelled out in a diff). */
static double entropy(double part, double sum)
{
	double p = sum != 0 ? part / sum : 0;

	return p > 0 ? -p * log2(p) : 0;
}

/* pprof's entropy score of every node: how much its edges branch, times
 * its cum, plus its flat; a node with no caller or no callee counts as
 * one branch there. Nodes whose edges just pass the value on score low
 * and are the first left out by --nodecount. */
static void score_nodes(struct graph *g)
{
	for (size_t i = 0; i < g->nn; i++) {
		struct gnode *n = &g->n[i];

		n->nin = n->nout = 0;
		n->in_sum = 0;
		n->out_sum = n->flat;
		n->in_ent = n->out_ent = 0;
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < g->ne; i++) {
			const struct gedge *e = &g->e[i];
			struct gnode *s = node_of(g, e->src), *d = node_of(g, e->dst);
			double w = fabs(ht_report_rounded(e->w));

			if (!pass) {
				s->nout++;
				d->nin++;
				s->out_sum += ht_report_rounded(e->w) > 0 ? w : 0;
				d->in_sum += ht_report_rounded(e->w) > 0 ? w : 0;
				continue;
			}
			d->in_ent += entropy(w, d->in_sum);
			s->out_ent += entropy(w, s->out_sum);
		}
	for (size_t i = 0; i < g->nn; i++) {
		struct gnode *n = &g->n[i];
		double score = n->nin ? n->in_ent : 1;

		if (!n->nout)
			score += 1;
		else
			score += n->out_ent + (n->flat > 0 ? entropy(n->flat, n->out_sum) : 0);
		/* pprof's int64(score * cum) + flat, as a double: near the
		 * counters' limit of 2^63 an integer would overflow */
		n->score = trunc(score * n->cum) + n->flat;
	}
}

static int cmp_score(const void *x, const void *y, void *ctx)
{
	const struct gnode *p = x, *q = y;
	const struct ht_report_stacks *a = ctx;
	double sp = fabs(p->score), sq = fabs(q->score);
	int c;

	if (sp != sq)
		return sp > sq ? -1 : 1;
	if ((c = strcmp(a->names.str[p->id], a->names.str[q->id])))
		return c;
	return fabs(p->flat) > fabs(q->flat) ? -1 : fabs(p->flat) < fabs(q->flat);
}

/* pprof's order of a graph's nodes (entropy order): counts the edges of
 * the nodes kept, scores and sorts them. */
static void arrange(struct graph *g, enum ht_index w)
{
	count_edges(g, w);
	score_nodes(g);
	qsort_r(g->n, g->nn, sizeof(*g->n), cmp_score, (void *)g->a);
	for (size_t i = 0; i < g->nn; i++)
		g->slot[g->n[i].id] = (uint32_t)i + 1;
}

/* Keeps the first k nodes of the graph. */
static void keep_first(struct graph *g, size_t k)
{
	for (size_t i = k; i < g->nn; i++)
		g->slot[g->n[i].id] = 0;
	g->nn = k;
}

static int cmp_edges(const void *x, const void *y, void *ctx)
{
	const struct gedge *p = *(const struct gedge *const *)x, *q = *(const struct gedge *const *)y;
	const struct ht_report_stacks *a = ctx;
	double wp = fabs(ht_report_rounded(p->w)), wq = fabs(ht_report_rounded(q->w));
	int c;

	if (wp != wq)
		return wp > wq ? -1 : 1;
	if ((c = strcmp(a->names.str[p->src], a->names.str[q->src])))
		return c;
	return strcmp(a->names.str[p->dst], a->names.str[q->dst]);
}

/* The edges not gone, heaviest first, in a malloc'd array; *n of them. */
static struct gedge **sorted_edges(const struct graph *g, size_t *n)
{
	struct gedge **l = ht_xmalloc((g->ne + 1) * sizeof(*l));

	*n = 0;
	for (size_t i = 0; i < g->ne; i++)
		if (!g->e[i].gone)
			l[(*n)++] = &g->e[i];
	qsort_r(l, *n, sizeof(*l), cmp_edges, (void *)g->a);
	return l;
}

/* The edges into each node, by node index: in[first[k] .. first[k+1]),
 * heaviest first. */
struct inbound {
	struct gedge **in;
	size_t *first;
};

static void make_inbound(struct inbound *ib, const struct graph *g)
{
	size_t n, *fill = ht_xcalloc(g->nn + 1, sizeof(size_t));
	struct gedge **l = sorted_edges(g, &n);

	ib->first = ht_xcalloc(g->nn + 2, sizeof(size_t));
	ib->in = ht_xmalloc((n + 1) * sizeof(*ib->in));
	for (size_t i = 0; i < n; i++)
		ib->first[g->slot[l[i]->dst]]++;
	for (size_t k = 1; k <= g->nn; k++)
		ib->first[k] += ib->first[k - 1];
	for (size_t i = 0; i < n; i++) {
		size_t k = g->slot[l[i]->dst] - 1;

		ib->in[ib->first[k] + fill[k]++] = l[i];
	}
	free(fill);
	free(l);
}

/* Whether e's callee is reached from its caller by another path. */
static int redundant(const struct graph *g, const struct inbound *ib, const struct gedge *e,
		     size_t *queue, unsigned char *seen)
{
	size_t head = 0, tail = 0, src = g->slot[e->src] - 1;
	int found = 0;

	memset(seen, 0, g->nn);
	queue[tail++] = g->slot[e->dst] - 1;
	seen[queue[0]] = 1;
	while (head < tail && !found) {
		size_t k = queue[head++];

		for (size_t j = ib->first[k]; j < ib->first[k + 1] && !found; j++) {
			const struct gedge *ie = ib->in[j];
			size_t from = g->slot[ie->src] - 1;

			if (ie == e || ie->gone || seen[from])
				continue;
			found = from == src;
			seen[from] = 1;
			queue[tail++] = from;
		}
	}
	return found;
}

/* pprof's last step: a residual edge goes if its callee is reached from
 * its caller another way; the lightest first, and none heavier than an
 * edge that is not residual. */
static void remove_redundant(struct graph *g)
{
	struct inbound ib;
	size_t *queue = ht_xmalloc((g->nn + 1) * sizeof(size_t));
	unsigned char *seen = ht_xmalloc(g->nn + 1);

	make_inbound(&ib, g);
	for (size_t k = g->nn; k-- > 0;)
		for (size_t j = ib.first[k + 1]; j-- > ib.first[k];) {
			struct gedge *e = ib.in[j];

			if (!e->residual)
				break;
			if (redundant(g, &ib, e, queue, seen))
				e->gone = 1;
		}
	free(ib.in);
	free(ib.first);
	free(queue);
	free(seen);
}

static double fraction(double f, double dflt)
{
	return f >= 0 ? f : dflt;
}

/* Prunes as pprof prunes a graph: the nodes whose cum is under
 * nodefraction of the total go, then all but the first --nodecount in
 * entropy order (the edges recounted without those left out, skipping
 * them: residual), then the edges under edgefraction of the total, then
 * the redundant residual edges. */
static void prune(struct graph *g, const struct ht_report_opts *o, struct pruned *p)
{
	const struct ht_report_rows *r = g->r;
	size_t count = o->top < 0 ? DOT_NODECOUNT : (size_t)o->top;

	memset(p, 0, sizeof(*p));
	p->nodecut = floor(fabs(r->total * fraction(o->nodefraction, DOT_NODEFRACTION)));
	p->edgecut = floor(fabs(r->total * fraction(o->edgefraction, DOT_EDGEFRACTION)));
	for (size_t i = 0; i < r->n; i++) {
		const struct ht_report_row *row = &r->r[i];
		double cum = ht_report_rounded(row->cum);

		if (p->nodecut > 0 && fabs(cum) < p->nodecut) {
			p->dropped_nodes++;
			continue;
		}
		g->n[g->nn] = (struct gnode){ .id = row->id, .flat = ht_report_rounded(row->flat),
					      .cum = cum };
		g->slot[row->id] = (uint32_t)++g->nn;
	}
	p->orig = g->nn;
	arrange(g, o->index);
	if (count > 0 && count < g->nn) {
		keep_first(g, count);
		arrange(g, o->index);
	}
	for (size_t i = 0; i < g->ne; i++)
		if (fabs(ht_report_rounded(g->e[i].w)) < p->edgecut) {
			g->e[i].gone = 1;
			p->dropped_edges++;
		}
	remove_redundant(g);
}

static void graph_init(struct graph *g, const struct ht_report_stacks *a,
		       const struct ht_report_rows *r)
{
	memset(g, 0, sizeof(*g));
	g->a = a;
	g->r = r;
	g->n = ht_xcalloc(r->n + 1, sizeof(*g->n));
	g->slot = ht_xcalloc(a->names.n + 1, sizeof(uint32_t));
	g->emask = 1023;
	g->eslot = ht_xcalloc(g->emask + 1, sizeof(uint32_t));
}

static void graph_free(struct graph *g)
{
	free(g->n);
	free(g->slot);
	free(g->e);
	free(g->eslot);
}

/* ---- writing it ---- */

/* pprof's colour of a share of the total, -1 to 1: red for a large
 * positive value, green for a large negative one, grey near 0; light
 * for a node's fill (bg), dark for its border and for edges. */
const char *ht_dot_color(double score, int bg, char *buf, size_t len)
{
	double sat = bg ? 0.1 : 1.0, val = bg ? 0.93 : 0.7, r, g, b;

	score = !(score > -1) ? -1 : score > 1 ? 1 : score;
	if (fabs(score) < 0.2)
		sat *= fabs(score) / 0.2; /* grey, not yellow, near 0 */
	/* away from grey: pprof's shift of 0.7 */
	score = score > 0 ? pow(score, 0.3) : score < 0 ? -pow(-score, 0.3) : 0;
	if (score < 0) {
		g = val;
		r = val * (1 + sat * score);
	} else {
		r = val;
		g = val * (1 - sat * score);
	}
	b = val * (1 - sat);
	snprintf(buf, len, "#%02x%02x%02x", (unsigned)(r * 255), (unsigned)(g * 255),
		 (unsigned)(b * 255));
	return buf;
}

/* What a report writes: its options and the total of the percentages. */
struct dotctx {
	const struct ht_report_stacks *a;
	const struct ht_report_rows *r;
	const struct ht_report_opts *o;
	int diff, intervals;
};

/* "1.50MB ±0.2MB (12.50%)": a figure, its interval where sampled (and
 * in a diff "~" after a change within it), its share of the total. */
static void write_figure(FILE *out, const struct dotctx *c, double v, const struct ht_err *e)
{
	char b[64];

	fputs(ht_report_fmt_figure(v, c->o, c->diff, b, sizeof(b)), out);
	if (c->diff && c->intervals && v != 0 && ht_err_within(v, e))
		putc('~', out);
	if (c->intervals)
		fprintf(out, " %s", ht_report_fmt_interval(e, c->o->index, c->o->unit, b, sizeof(b)));
	fprintf(out, " (%s)", ht_report_fmt_pct(v, c->r->total, b, sizeof(b)));
}

/* A node's label, as pprof's: the function, the file:line (what follows
 * the function in the name), flat and "of" cum when they differ. */
static void write_label(FILE *out, const struct dotctx *c, const struct gnode *n)
{
	const char *name = c->a->names.str[n->id];
	size_t len = c->a->name_len[n->id] & HT_NAME_LEN, head = c->a->name_head[n->id];
	const struct ht_report_row *row = &c->r->by_id[n->id];

	escape_function(out, name, head);
	fputs("\\n", out);
	if (head < len) {
		head += name[head] == ' ';
		ht_dot_escape(out, name + head, len - head);
		fputs("\\n", out);
	}
	if (n->flat != 0)
		write_figure(out, c, n->flat, &row->flat_err);
	else
		putc('0', out);
	if (n->cum != n->flat) {
		fputs(n->flat != 0 ? "\\nof " : " of ", out);
		write_figure(out, c, n->cum, &row->cum_err);
	}
}

static void write_node(FILE *out, const struct dotctx *c, const struct gnode *n, size_t k,
		       double maxflat)
{
	const char *name = c->a->names.str[n->id];
	double share = c->r->total != 0 ? n->cum / fabs(c->r->total) : 0;
	int size = 8;
	char b[64];

	/* 8 to 24 points, growing with the square root of flat */
	if (maxflat != 0 && n->flat != 0)
		size += (int)ceil(16 * sqrt(fabs(n->flat) / maxflat));
	fprintf(out, "N%zu [label=\"", k + 1);
	write_label(out, c, n);
	fprintf(out, "\" id=\"node%zu\" fontsize=%d shape=box tooltip=\"", k + 1, size);
	ht_dot_escape(out, name, c->a->name_len[n->id] & HT_NAME_LEN);
	fprintf(out, " (%s)\"", ht_report_fmt_figure(n->cum, c->o, c->diff, b, sizeof(b)));
	fprintf(out, " color=\"%s\"", ht_dot_color(share, 0, b, sizeof(b)));
	fprintf(out, " fillcolor=\"%s\"]\n", ht_dot_color(share, 1, b, sizeof(b)));
}

/* "caller -> callee (1.00MB)", "..." for a residual edge. */
static void write_edge_tip(FILE *out, const struct dotctx *c, const struct gedge *e,
			   const char *w)
{
	putc('"', out);
	ht_dot_escape(out, c->a->names.str[e->src], c->a->name_len[e->src] & HT_NAME_LEN);
	fputs(e->residual ? " ... " : " -> ", out);
	ht_dot_escape(out, c->a->names.str[e->dst], c->a->name_len[e->dst] & HT_NAME_LEN);
	fprintf(out, " (%s)\"", w);
}

static void write_edge(FILE *out, const struct dotctx *c, const struct graph *g,
		       const struct gedge *e)
{
	double w = ht_report_rounded(e->w), t = fabs(c->r->total);
	char fw[64], col[16];

	ht_report_fmt_figure(w, c->o, c->diff, fw, sizeof(fw));
	fprintf(out, "N%u -> N%u [label=\" %s\"", g->slot[e->src], g->slot[e->dst], fw);
	if (t != 0) {
		/* pprof's integer weights: 1 + the percent, pen 1 + a fifth of it */
		int weight = 1 + (int)fmin(floor(fabs(w) * 100 / t), 100);
		int pen = 1 + (int)fmin(floor(fabs(w) * 5 / t), 5);

		if (weight > 1)
			fprintf(out, " weight=%d", weight);
		if (pen > 1)
			fprintf(out, " penwidth=%d", pen);
		fprintf(out, " color=\"%s\"", ht_dot_color(w / t, 0, col, sizeof(col)));
	}
	fputs(" tooltip=", out);
	write_edge_tip(out, c, e, fw);
	fputs(" labeltooltip=", out);
	write_edge_tip(out, c, e, fw);
	fputs(e->residual ? " style=\"dotted\"]\n" : "]\n", out);
}

/* One line of the legend, ended by a NUL: a name in it (the executable's,
 * a filter) may hold any other byte, a newline too. */
static void line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(FILE *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	putc('\0', out);
}

/* "Time: Jan 2, 2006 at 3:04pm (UTC)", pprof's layout. */
static void write_time(FILE *out, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	char b[64];

	if (gmtime_r(&t, &tm) && strftime(b, sizeof(b), "%b %-d, %Y at %-I:%M%P (UTC)", &tm))
		line(out, "Time: %s", b);
}

/* "Dropped 3 nodes (cum <= 1.2kB)" */
static void write_dropped(FILE *out, const struct dotctx *c, size_t n, const char *what,
			  const char *by, double cut)
{
	char b[64];

	if (n)
		line(out, "Dropped %zu %s%s (%s <= %s)", n, what, n > 1 ? "s" : "", by,
			ht_report_fmt_figure(cut, c->o, 0, b, sizeof(b)));
}

/* The legend's lines, each ended by a NUL, raw (escaped when written). */
static void legend_lines(FILE *out, const struct dotctx *c, const struct graph *g,
			 const struct pruned *p, const struct ht_snapshot *cur)
{
	const struct ht_report_opts *o = c->o;
	char b1[64], b2[64], b3[64], *hidden;
	double shown = 0;

	if (ht_report_str(cur->exe)[0])
		line(out, "File: %s", ht_report_base_name(cur->exe));
	line(out, "Type: %s%s", ht_report_index_name(o->index),
		c->diff ? ", current minus base" : "");
	if (cur->time_ns)
		write_time(out, cur->time_ns);
	if (c->intervals)
		line(out, "±: 95%% interval of the sampling error%s",
			c->diff ? "; ~: the change is within it (sampling noise)" : "");
	if ((hidden = ht_hide_line(&c->a->hide)))
		line(out, "%s", hidden);
	free(hidden);
	if (o->focus || o->ignore)
		line(out, "Active filters:");
	if (o->focus)
		line(out, "   focus=%s", o->focus);
	if (o->ignore)
		line(out, "   ignore=%s", o->ignore);
	for (size_t i = 0; i < g->nn; i++)
		shown += g->n[i].flat;
	line(out, "Showing nodes accounting for %s, %s of %s total",
		ht_report_fmt_figure(shown, o, c->diff, b1, sizeof(b1)),
		ht_report_fmt_pct(shown, c->r->total, b2, sizeof(b2)),
		ht_report_fmt_figure(c->r->total, o, 0, b3, sizeof(b3)));
	if (c->r->total == 0)
		return;
	write_dropped(out, c, p->dropped_nodes, "node", "cum", p->nodecut);
	write_dropped(out, c, p->dropped_edges, "edge", "freq", p->edgecut);
	if (g->nn < p->orig)
		line(out, "Showing top %zu nodes out of %zu", g->nn, p->orig);
}

/* The title, the default node style and the legend box, as pprof's. */
static void write_head(FILE *out, const struct dotctx *c, const struct graph *g,
		       const struct pruned *p, const struct ht_snapshot *cur)
{
	const char *title = ht_report_str(cur->exe)[0] ? ht_report_base_name(cur->exe) : "unnamed";
	char *lines = NULL;
	size_t len = 0, first;
	FILE *mem = open_memstream(&lines, &len);

	if (mem) {
		legend_lines(mem, c, g, p, cur);
		if (fclose(mem))
			len = 0;
	}
	fputs("digraph \"", out);
	ht_dot_escape(out, title, strlen(title));
	fputs("\" {\nnode [style=filled fillcolor=\"#f8f8f8\"]\n", out);
	first = len ? strlen(lines) : 0;
	fputs("subgraph cluster_L { \"", out);
	ht_dot_escape(out, lines ? lines : "", first);
	fputs("\" [shape=box fontsize=16 label=\"", out);
	for (size_t i = 0, n; i < len; i += n + 1) {
		n = strlen(lines + i);
		ht_dot_escape(out, lines + i, n);
		fputs("\\l", out);
	}
	fputs("\" tooltip=\"", out);
	ht_dot_escape(out, title, strlen(title));
	fputs("\"] }\n", out);
	free(lines);
}

void ht_dot_write(FILE *out, const struct ht_report_stacks *a, const struct ht_snapshot *base,
		  const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	struct ht_report_rows r;
	struct graph g;
	struct pruned p;
	struct dotctx c = { a, &r, o, base != NULL,
			    !ht_report_exact(cur) || (base && !ht_report_exact(base)) };
	struct gedge **edges;
	size_t ne;
	double maxflat = 0;

	ht_report_rows_make(&r, a, o, NULL);
	graph_init(&g, a, &r);
	prune(&g, o, &p);
	write_head(out, &c, &g, &p, cur);
	for (size_t i = 0; i < g.nn; i++)
		maxflat = fmax(maxflat, fabs(g.n[i].flat));
	for (size_t i = 0; i < g.nn; i++)
		write_node(out, &c, &g.n[i], i, maxflat);
	edges = sorted_edges(&g, &ne);
	for (size_t i = 0; i < ne; i++)
		write_edge(out, &c, &g, edges[i]);
	fputs("}\n", out);
	free(edges);
	graph_free(&g);
	ht_report_rows_free(&r);
}
