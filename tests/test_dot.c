/* Unit tests of pprof's call graph (collector/report/dot.c): each node's
 * flat and cum (and intervals) equal the top table's rows, edges carry
 * what flows through them, recursion counts once, pruning by
 * --nodefraction, --nodecount and --edgefraction keeps pprof's nodes and
 * edges (residual, redundant), names are escaped so that Graphviz's own
 * parser reads them, a diff is coloured. (tests/t_dot.sh draws real runs.) */
#include "report/report.h"
#include "report/render.h"
#include "snapshot/snapshot.h"
#include "tap.h"
#include "lib/util.h"

#include <math.h>
#include <stdlib.h>

/* The rendering is tested on the fixtures as they are: their xmalloc stays
 * a frame, as with --hide '' (the built-in list is tested on its own). */
#define ht_report_opts_init(o) (ht_report_opts_init(o), (o)->hide = "")

/* The function named name in file (NULL: none), made once. */
static uint32_t function(struct ht_snapshot *s, const char *name, const char *file)
{
	struct ht_function f;

	for (uint32_t i = 0; i < s->nfunctions; i++)
		if (!strcmp(s->functions[i].name, name) && !strcmp(s->functions[i].file, file ? file : ""))
			return i;
	f.name = f.system_name = ht_snapshot_strdup(s, name);
	f.file = ht_snapshot_strdup(s, file ? file : "");
	return ht_snapshot_add_function(s, &f);
}

/* The location of line `line` of function f, made once. */
static uint32_t location(struct ht_snapshot *s, uint32_t f, uint32_t line)
{
	struct ht_location l = { 0x1000 + 16 * s->nlocations, 0, (uint32_t)s->nlines, 1 };
	struct ht_line ln = { f, line };

	for (uint32_t i = 0; i < s->nlocations; i++)
		if (s->lines[s->locations[i].first_line].function == f &&
		    s->lines[s->locations[i].first_line].line == line)
			return i;
	ht_snapshot_add_line(s, &ln);
	return ht_snapshot_add_location(s, &l);
}

/* Adds the stack "root;...;leaf" in use with space bytes in objects
 * blocks (and as many allocated). A frame is "name" or "name@file:line".
 * The sample count follows from the rate (1 when exact). */
static void add(struct ht_snapshot *s, const char *collapsed, double space, double objects)
{
	char buf[1024], *save = NULL;
	uint32_t locs[64], n = 0;
	struct ht_stack st = { 0 };
	double p = s->rate > 1 ? -expm1(-space / objects / (double)s->rate) : 1;

	if (s->nmodules == 0) {
		struct ht_module m = { ht_snapshot_strdup(s, "/bin/app"), 0x1000, 0x100000, 0, { 0 }, 0 };

		ht_snapshot_add_module(s, &m);
	}
	snprintf(buf, sizeof(buf), "%s", collapsed);
	for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *at = strchr(tok, '@'), *colon;
		uint32_t line = 0;

		if (at) {
			*at++ = '\0';
			if ((colon = strrchr(at, ':'))) {
				*colon = '\0';
				line = (uint32_t)atoi(colon + 1);
			}
		}
		locs[n++] = location(s, function(s, tok, at), line);
	}
	for (uint32_t i = 0; i < n / 2; i++) { /* leaf first */
		uint32_t t = locs[i];

		locs[i] = locs[n - 1 - i];
		locs[n - 1 - i] = t;
	}
	st.first_frame = ht_snapshot_add_frames(s, locs, n);
	st.nframes = n;
	st.inuse_space = st.alloc_space = space;
	st.inuse_objects = st.alloc_objects = objects;
	st.inuse_samples = st.alloc_samples = (uint64_t)fmax(1, round(objects * p));
	ht_snapshot_add_stack(s, &st);
}

static struct ht_snapshot *snap(uint64_t rate)
{
	struct ht_snapshot *s = ht_snapshot_new();

	s->rate = rate;
	s->pid = 9;
	s->exe = ht_snapshot_strdup(s, "/bin/app");
	s->time_ns = 1700000000ll * 1000000000;
	if (rate == 1)
		s->flags |= HT_SNAP_EXACT;
	return s;
}

static char *report(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		    const struct ht_report_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (ht_report_write(f, base, cur, o))
		printf("# ht_report_write failed\n");
	fclose(f);
	return buf;
}

/* Options for a graph: dot, nothing pruned unless asked, whole bytes. */
static void graph_opts(struct ht_report_opts *o)
{
	ht_report_opts_init(o);
	o->format = HT_FORMAT_DOT;
	o->nodefraction = 0;
	o->edgefraction = 0;
	o->unit = 0;
}

/* The value of attribute name of the DOT statement at line (up to its
 * end), still escaped, into buf; 0 if it has none. */
static int attr(const char *line, const char *name, char *buf, size_t len)
{
	char key[64];
	const char *p, *end = strchr(line, '\n');
	size_t n = 0;

	snprintf(key, sizeof(key), " %s=\"", name);
	if (!(p = strstr(line, key)) || (end && p > end))
		snprintf(key, sizeof(key), "[%s=\"", name);
	if (!(p = strstr(line, key)) || (end && p > end))
		return 0;
	for (p += strlen(key); *p && *p != '"' && n + 1 < len; p++) {
		if (*p == '\\' && p[1])
			buf[n++] = *p++;
		buf[n++] = *p;
	}
	buf[n] = '\0';
	return 1;
}

/* The number of the node whose tooltip is "name (...)", its line in *at;
 * 0 if there is none. */
static int node(const char *out, const char *name, const char **at)
{
	char tip[512];

	for (const char *p = out; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		int k;

		if (sscanf(p, "N%d [", &k) != 1 || !attr(p, "tooltip", tip, sizeof(tip)) ||
		    strncmp(tip, name, strlen(name)) || strncmp(tip + strlen(name), " (", 2))
			continue;
		if (at)
			*at = p;
		return k;
	}
	return 0;
}

/* The label (or other attribute) of node name; "" if none. */
static const char *node_attr(const char *out, const char *name, const char *a, char *buf,
			     size_t len)
{
	const char *at;

	buf[0] = '\0';
	if (node(out, name, &at))
		attr(at, a, buf, len);
	return buf;
}

/* The edge line from node src to node dst (by name), or NULL. */
static const char *edge(const char *out, const char *src, const char *dst)
{
	char key[64];
	int s = node(out, src, NULL), d = node(out, dst, NULL);

	if (!s || !d)
		return NULL;
	snprintf(key, sizeof(key), "\nN%d -> N%d [", s, d);
	return strstr(out, key);
}

static const char *edge_attr(const char *out, const char *src, const char *dst,
			     const char *a, char *buf, size_t len)
{
	const char *e = edge(out, src, dst);

	buf[0] = '\0';
	if (e)
		attr(e + 1, a, buf, len);
	return buf;
}

/* The whole line at at (NULL: ""), into buf. */
static const char *line_at(const char *at, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s", at ? (int)strcspn(at, "\n") : 0, at ? at : "");
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Whether Graphviz's dot reads out (dot -Tcanon). */
static int graphviz_reads(const char *out)
{
	char *img, err[256];
	size_t len;
	int rc = ht_graphviz_render(out, strlen(out), "canon", &img, &len, err, sizeof(err));

	if (rc)
		printf("# %s\n", err);
	free(img);
	return rc == 0;
}

/* The rows of the text top table of cur (every row): for each, the node
 * of the same name has the row's flat and cum, intervals, percentages. */
static void test_rows(void)
{
	struct ht_snapshot *s = snap(524288);
	struct ht_report_opts o;
	char *text, *dot, *line, *save = NULL, label[1024], want[512];
	int rows = 0, same = 0;

	add(s, "main@main.c:20;parse_config@config.c:42;xmalloc@util.c:12", 1 << 20, 4);
	add(s, "main@main.c:20;walk@tree.c:30;walk@tree.c:30;walk@tree.c:30;make_node@tree.c:10",
	    512 << 10, 16);
	add(s, "main@main.c:20;Cache::put(int)@cache.cc:88", 256 << 10, 1);
	add(s, "main@main.c:20;Cache::put(int)@cache.cc:88;malloc_usable", 3000, 30);
	add(s, "main@main.c:20;walk@tree.c:30;make_node@tree.c:10", 128 << 10, 4);
	ht_report_opts_init(&o);
	o.top = 0;
	text = report(NULL, s, &o);
	o.format = HT_FORMAT_DOT;
	o.nodefraction = 0;
	dot = report(NULL, s, &o);
	for (line = strtok_r(strstr(text, "\n    flat") + 1, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char f[32], fi[32], fp[32], sum[32], c[32], ci[32], cp[32];
		int name;

		if (sscanf(line, "%31s %31s %31s %31s %31s %31s %31s %n", f, fi, fp, sum, c, ci, cp,
			   &name) != 7 || !strcmp(f, "flat"))
			continue;
		rows++;
		if (!strcmp(f, "0"))
			snprintf(want, sizeof(want), "\\n0 of %s %s (%s)", c, ci, cp);
		else if (!strcmp(f, c))
			snprintf(want, sizeof(want), "\\n%s %s (%s)", f, fi, fp);
		else
			snprintf(want, sizeof(want), "\\n%s %s (%s)\\nof %s %s (%s)", f, fi, fp, c, ci, cp);
		node_attr(dot, line + name, "label", label, sizeof(label));
		same += strlen(label) >= strlen(want) &&
			!strcmp(label + strlen(label) - strlen(want), want);
		if (strlen(label) < strlen(want) || strcmp(label + strlen(label) - strlen(want), want))
			printf("#   %s: label '%s', want it to end '%s'\n", line + name, label, want);
	}
	ok(rows == 7 && same == rows, "rows: each node's flat, cum, ± and %% are its row's (%d of %d rows)",
	   same, rows);
	is_str(node_attr(dot, "Cache::put(int) cache.cc:88", "label", label, sizeof(label)),
	       "Cache\\nput(int)\\ncache.cc:88\\n256.00kB ±2.1MB (13.31%)\\nof 258.93kB ±2.9MB (13.47%)",
	       "rows: function and file:line on lines of their own, '::' breaks the function");
	ok(strstr(dot, "\\l±: 95% interval of the sampling error\\l") != NULL,
	   "rows: the legend says what ± is");
	ok(graphviz_reads(dot), "rows: Graphviz reads the graph");
	free(text);
	free(dot);
	ht_snapshot_free(s);
}

/* Edges: what flows from caller to callee, once per stack; recursion
 * makes no edge to itself and counts its stack once. */
static void test_edges(void)
{
	struct ht_snapshot *s = snap(1);
	struct ht_report_opts o;
	const char *at = NULL, *e;
	char *dot, b[512];

	add(s, "main;a;leaf", 3000, 3);
	add(s, "main;b", 1000, 1);
	add(s, "main;a;a;a;leaf", 500, 1);
	add(s, "main;c;leaf", 200, 2);
	graph_opts(&o);
	dot = report(NULL, s, &o);
	is_str(edge_attr(dot, "main", "a", "label", b, sizeof(b)), " 3500B",
	       "edges: main -> a carries both stacks through a");
	is_str(edge_attr(dot, "a", "leaf", "label", b, sizeof(b)), " 3500B",
	       "edges: a -> leaf counts the recursive stack once");
	is_str(edge_attr(dot, "main", "b", "label", b, sizeof(b)), " 1000B", "edges: main -> b");
	is_str(edge_attr(dot, "c", "leaf", "label", b, sizeof(b)), " 200B", "edges: c -> leaf");
	ok(edge(dot, "a", "a") == NULL && count(dot, " -> N") == 5,
	   "edges: five, none from a to itself");
	is_str(node_attr(dot, "a", "label", b, sizeof(b)), "a\\n0 of 3500B (74.47%)",
	       "edges: a's cum counts the recursive stack once");
	is_str(node_attr(dot, "leaf", "label", b, sizeof(b)), "leaf\\n3700B (78.72%)",
	       "edges: a leaf's flat is its cum");
	e = edge(dot, "main", "a");
	ok(strstr(line_at(e ? e + 1 : NULL, b, sizeof(b)), " weight=75 penwidth=4 color=\"#b20f00\" "),
	   "edges: pprof's weight (1 + percent), pen width (1 + fifths) and colour");
	ok(edge(dot, "main", "c") && !*edge_attr(dot, "main", "c", "penwidth", b, sizeof(b)),
	   "edges: a thin edge has the default pen");
	node(dot, "leaf", &at);
	ok(strstr(line_at(at, b, sizeof(b)), " fontsize=24 ") != NULL,
	   "edges: the largest flat is drawn at 24 points");
	node(dot, "b", &at);
	ok(strstr(line_at(at, b, sizeof(b)), " fontsize=17 ") != NULL,
	   "edges: a flat of 1000 of 3700 at 8 + 16 sqrt(1000/3700), rounded up");
	ok(count(dot, " fontsize=8 ") == 3, "edges: the nodes without flat at 8 points");
	ok(strstr(dot, "tooltip=\"main -> a (3500B)\" labeltooltip=\"main -> a (3500B)\"") != NULL,
	   "edges: tooltips name caller and callee");
	ok(graphviz_reads(dot), "edges: Graphviz reads the graph");
	free(dot);
	ht_snapshot_free(s);

	/* mutual recursion: x -> y twice in one stack */
	s = snap(1);
	add(s, "main;x;y;x;y", 100, 1);
	dot = report(NULL, s, &o);
	ok(!strcmp(edge_attr(dot, "x", "y", "label", b, sizeof(b)), " 100B") &&
	   !strcmp(edge_attr(dot, "y", "x", "label", b, sizeof(b)), " 100B") &&
	   !strcmp(node_attr(dot, "x", "label", b, sizeof(b)), "x\\n0 of 100B (100%)"),
	   "edges: an edge met twice in a stack counts it once, a node too");
	free(dot);
	ht_snapshot_free(s);
}

/* Pruning as pprof's: nodes under nodefraction of the total, then all but
 * --nodecount in entropy order (pass-through nodes first), residual edges
 * over what was left out, edges under edgefraction. */
static void test_prune(void)
{
	struct ht_snapshot *s = snap(1);
	struct ht_report_opts o;
	char *dot, b[512];

	add(s, "main;p;q;leaf1", 3000, 3);
	add(s, "main;s;leaf2", 1000, 1);
	add(s, "main;tiny", 10, 1);
	graph_opts(&o);
	o.top = 3;
	dot = report(NULL, s, &o);
	ok(node(dot, "main", NULL) == 1 && node(dot, "leaf1", NULL) == 2 &&
	   node(dot, "leaf2", NULL) == 3 && !node(dot, "p", NULL) && !strstr(dot, "\nN4 ["),
	   "nodecount 3: main, leaf1, leaf2 in entropy order; the pass-through nodes go");
	is_str(edge_attr(dot, "main", "leaf1", "style", b, sizeof(b)), "dotted",
	       "nodecount 3: a residual edge over p and q is dotted");
	is_str(edge_attr(dot, "main", "leaf1", "label", b, sizeof(b)), " 3000B",
	       "nodecount 3: it carries what went through them");
	is_str(edge_attr(dot, "main", "leaf1", "tooltip", b, sizeof(b)), "main ... leaf1 (3000B)",
	       "nodecount 3: its tooltip says it skips nodes");
	ok(strstr(dot, "\\lShowing top 3 nodes out of 7\\l") != NULL, "nodecount 3: the legend says so");
	free(dot);

	/* tiny (a leaf) outranks p, q and s */
	o.top = 5;
	dot = report(NULL, s, &o);
	ok(node(dot, "tiny", NULL) && node(dot, "p", NULL) && !node(dot, "q", NULL) &&
	   !node(dot, "s", NULL) &&
	   edge(dot, "main", "p") && !*edge_attr(dot, "main", "p", "style", b, sizeof(b)) &&
	   !strcmp(edge_attr(dot, "p", "leaf1", "style", b, sizeof(b)), "dotted"),
	   "nodecount 5: tiny and p come back; main -> p is solid, p ... leaf1 residual");
	free(dot);

	o.top = -1;
	o.nodefraction = -1;
	dot = report(NULL, s, &o);
	ok(!node(dot, "tiny", NULL) && node(dot, "q", NULL) && node(dot, "s", NULL),
	   "nodefraction 0.005: the node under 0.5%% of the total goes, the rest stay");
	ok(strstr(dot, "\\lDropped 1 node (cum <= 20B)\\l") != NULL &&
	   !strstr(dot, "Showing top"), "nodefraction: the legend says what was dropped");
	free(dot);

	o.nodefraction = 0;
	o.edgefraction = 0.3;
	dot = report(NULL, s, &o);
	ok(node(dot, "tiny", NULL) && !edge(dot, "main", "tiny") && !edge(dot, "main", "s") &&
	   !edge(dot, "s", "leaf2") && edge(dot, "q", "leaf1"),
	   "edgefraction 0.3: the edges under 30%% of the total go, their nodes stay");
	ok(strstr(dot, "\\lDropped 3 edges (freq <= 1203B)\\l") != NULL,
	   "edgefraction: the legend says so");
	free(dot);
	ht_snapshot_free(s);
}

/* pprof's last step: residual edges that another path makes redundant go,
 * the lightest first, none above an edge that is not residual. */
static void test_redundant(void)
{
	struct ht_snapshot *t = snap(1);
	struct ht_report_opts o;
	char *dot, b[512];

	/* c is dropped; main ... leaf over it is redundant: main -> a -> leaf */
	add(t, "main;a;leaf", 3000, 3);
	add(t, "main;c;leaf", 100, 1);
	graph_opts(&o);
	o.nodefraction = 0.05;
	dot = report(NULL, t, &o);
	ok(!node(dot, "c", NULL) && node(dot, "leaf", NULL) && !edge(dot, "main", "leaf") &&
	   edge(dot, "a", "leaf") && count(dot, " -> N") == 2,
	   "redundant: a residual edge another path covers is left out");
	free(dot);
	ht_snapshot_free(t);

	/* pass-through a, b, c rank by name: --nodecount 4 drops c; into leaf
	 * come a (3000), main over c (500, residual), b (50): pprof stops at the
	 * lightest, which is not residual, and keeps main ... leaf */
	t = snap(1);
	add(t, "main;a;leaf", 3000, 3);
	add(t, "main;c;leaf", 500, 1);
	add(t, "main;b;leaf", 50, 1);
	graph_opts(&o);
	o.top = 4;
	dot = report(NULL, t, &o);
	ok(!node(dot, "c", NULL) && node(dot, "b", NULL) &&
	   !strcmp(edge_attr(dot, "main", "leaf", "style", b, sizeof(b)), "dotted"),
	   "redundant: none removed above an edge that is not residual");
	free(dot);
	ht_snapshot_free(t);
}

/* Names as DOT strings: quotes, backslashes, control characters, bad
 * UTF-8 and entities; Graphviz must read them all. */
static void test_escape(void)
{
	static const char in[] = "a\"b\\c\nd&lt;e\x01 caf\xc3\xa9 \xff\\N";
	struct ht_snapshot *s = snap(1);
	struct ht_report_opts o;
	char *buf = NULL, *dot, b[512];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ht_dot_escape(f, in, sizeof(in) - 1);
	fclose(f);
	is_str(buf, "a\\\"b\\\\c?d&amp;lt;e? caf\xc3\xa9 ?\\\\N",
	       "escape: quote, backslash, control character, entity, bad byte");
	free(buf);

	s->exe = ht_snapshot_strdup(s, "/bin/we\"ird\nexe\\");
	add(s, "main;we\"ird\\fn\n}x@a\"b\\.c:7", 100, 1);
	add(s, "main;Cache::put(std::string const&)@c.cc:3", 50, 1);
	graph_opts(&o);
	o.focus = "\"|C";
	dot = report(NULL, s, &o);
	ok(strstr(dot, " [label=\"we\\\"ird\\\\fn?}x\\na\\\"b\\\\.c:7\\n100B (66.67%)\" ") != NULL,
	   "escape: a node's name and file with quotes, backslashes and a newline");
	ok(strstr(dot, "\"Cache\\nput(std::string const&amp;)\\nc.cc:3\\n") != NULL,
	   "escape: '::' inside brackets stays, '&' is an entity");
	ok(strstr(dot, "digraph \"we\\\"ird?exe\\\\\" {\n") != NULL &&
	   strstr(dot, "label=\"File: we\\\"ird?exe\\\\\\lType: ") != NULL,
	   "escape: the executable's name in the title and the legend");
	ok(strstr(dot, "\\lActive filters:\\l   focus=\\\"|C\\l") != NULL,
	   "escape: the filters in the legend");
	is_str(node_attr(dot, "main", "label", b, sizeof(b)), "main\\n0 of 150B (100%)",
	       "escape: the rest is plain");
	ok(graphviz_reads(dot), "escape: Graphviz reads the graph");
	free(dot);

	o.focus = "nothing matches this";
	dot = report(NULL, s, &o);
	ok(!strstr(dot, "N1 [") && strstr(dot, "Showing nodes accounting for 0, 0% of 150B total") &&
	   graphviz_reads(dot), "escape: an empty graph is the legend alone, and reads");
	free(dot);
	ht_snapshot_free(s);
}

/* pprof's colours: red for a large share, green for a large negative one
 * (what shrank, in a diff), grey near nothing. */
static void test_diff(void)
{
	struct ht_snapshot *b = snap(1), *c = snap(1);
	struct ht_report_opts o;
	char *dot, buf[512], col[16];

	is_str(ht_dot_color(1, 0, col, sizeof(col)), "#b20000", "colour: +1 is red");
	is_str(ht_dot_color(-1, 0, col, sizeof(col)), "#00b200", "colour: -1 is green");
	is_str(ht_dot_color(0, 0, col, sizeof(col)), "#b2b2b2", "colour: 0 is grey");
	is_str(ht_dot_color(0, 1, col, sizeof(col)), "#ededed", "colour: a grey fill");
	is_str(ht_dot_color(-7, 1, col, sizeof(col)), "#d5edd5", "colour: clamped to -1, light fill");
	is_str(ht_dot_color(0.5, 1, col, sizeof(col)), "#edd9d5", "colour: +0.5 a light red fill");

	add(b, "main;grow", 1000, 1);
	add(b, "main;shrink", 3000, 3);
	add(b, "main;same", 700, 1);
	add(c, "main;grow", 4000, 4);
	add(c, "main;shrink", 500, 1);
	add(c, "main;same", 700, 1);
	graph_opts(&o);
	dot = report(b, c, &o);
	is_str(node_attr(dot, "shrink", "label", buf, sizeof(buf)), "shrink\\n-2500B (-45.45%)",
	       "diff: a change, signed, of the total change");
	is_str(node_attr(dot, "shrink", "fillcolor", buf, sizeof(buf)), "#daedd5",
	       "diff: what shrank is green");
	is_str(node_attr(dot, "grow", "fillcolor", buf, sizeof(buf)), "#edd9d5",
	       "diff: what grew is red");
	is_str(node_attr(dot, "grow", "label", buf, sizeof(buf)), "grow\\n+3000B (54.55%)",
	       "diff: growth is signed");
	ok(!node(dot, "same", NULL), "diff: what did not change is no node");
	is_str(edge_attr(dot, "main", "shrink", "color", buf, sizeof(buf)), "#25b200",
	       "diff: an edge that lost is green");
	ok(strstr(dot, "\\lType: inuse_space, current minus base\\l") != NULL,
	   "diff: the legend says it is a diff");
	ok(graphviz_reads(dot), "diff: Graphviz reads the graph");
	free(dot);
	ht_snapshot_free(b);
	ht_snapshot_free(c);
}

/* Figures near the counters' limit of 2^63 (heaptrace(5)): their sums
 * and scores must neither overflow nor lose the order. */
static void test_huge(void)
{
	struct ht_snapshot *s = snap(1);
	struct ht_report_opts o;
	char *dot;

	add(s, "main;big", 9e18, 1);
	add(s, "main;other;bigger", 9.2e18, 1);
	add(s, "main;small", 1, 1);
	graph_opts(&o);
	dot = report(NULL, s, &o);
	ok(node(dot, "main", NULL) == 1 && node(dot, "bigger", NULL) == 2 &&
	   node(dot, "big", NULL) == 3 && node(dot, "small", NULL) && graphviz_reads(dot),
	   "huge: ranked by score, drawn, read by Graphviz");
	free(dot);
	ht_snapshot_free(s);
}

int main(void)
{
	ht_progname = "test_dot";
	test_rows();
	test_edges();
	test_prune();
	test_redundant();
	test_escape();
	test_diff();
	test_huge();
	return done_testing();
}
