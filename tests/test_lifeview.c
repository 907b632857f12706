/* Unit tests of the reports of time in the heap (collector/report/): the
 * temporary-block indexes, lifetimes, ages and sizes, on snapshots built
 * by hand with known cells. */
#include "report/report.h"
#include "report/render.h"
#include "report/report_int.h"
#include "report/push.h"
#include "snapshot/snapshot.h"
#include "build.h"
#include "tap.h"
#include "lib/util.h"
#include "preload/sample.h"

#include <math.h>
#include <stdlib.h>

#define MS 1000000ull
#define SEC 1000000000ull

static char *run(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		 const struct ht_report_opts *o, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*rc = ht_report_write(f, base, cur, o);
	fclose(f);
	return buf;
}

static int has(const char *out, const char *want, const char *name)
{
	if (ok(out && strstr(out, want), "%s", name))
		return 1;
	printf("#   want '%s' in:\n", want);
	for (const char *p = out ? out : ""; *p; ) {
		const char *e = strchr(p, '\n');
		int n = e ? (int)(e - p) : (int)strlen(p);

		printf("#     |%.*s\n", n, p);
		p += n + (e != NULL);
	}
	return 0;
}

/* A cell of kind at the last stack of s: objects, bytes, their variance
 * sums, samples. */
static void cell(struct ht_snapshot *s, int kind, unsigned bucket, double objects,
		 double space, double vo, double vs)
{
	struct ht_cell c = { (uint32_t)s->nstacks - 1, (uint8_t)kind, (uint8_t)bucket, 0,
			     objects, space, vo, vs, objects > 0 ? (uint64_t)ceil(objects) : 0 };

	if (ht_snapshot_add_cell(s, &c) == HT_NONE)
		printf("# cell refused\n");
}

/* A stack main -> f (leaf f) with its counters. */
static void stack2(struct ht_snapshot *s, uint32_t leaf, uint32_t root, double inuse,
		   double inuse_obj, double alloc, double alloc_obj, double temp, double temp_obj)
{
	struct ht_stack st = { 0 };
	uint32_t locs[2] = { leaf, root };

	st.first_frame = ht_snapshot_add_frames(s, locs, 2);
	st.nframes = 2;
	st.inuse_space = inuse;
	st.inuse_objects = inuse_obj;
	st.alloc_space = alloc;
	st.alloc_objects = alloc_obj;
	st.inuse_samples = (uint64_t)inuse_obj;
	st.alloc_samples = (uint64_t)alloc_obj;
	st.temp_space = temp;
	st.temp_objects = temp_obj;
	st.temp_samples = (uint64_t)temp_obj;
	ht_snapshot_add_stack(s, &st);
}

/* Locations of the fixtures: main, churn, leak, keep. */
static uint32_t l_main, l_churn, l_leak, l_keep;

static struct ht_snapshot *base_snapshot(uint64_t rate)
{
	struct ht_snapshot *s = ht_snapshot_new();
	uint32_t exe;

	s->pid = 77;
	s->exe = ht_snapshot_strdup(s, "/usr/bin/server");
	s->cmdline = ht_snapshot_strdup(s, "server");
	s->start_time_ns = 1700000000ll * 1000000000;
	s->time_ns = s->start_time_ns + 3600ll * 1000000000;
	s->rate = rate;
	s->max_depth = 64;
	s->seq = 3;
	exe = module(s, "/usr/bin/server", 0x400000, 0x500000, 0);
	l_main = loc(s, 0x401000, exe, 1, fn(s, "main", NULL, "/src/main.c"), 10);
	l_churn = loc(s, 0x402000, exe, 1, fn(s, "churn", NULL, "/src/churn.c"), 20);
	l_leak = loc(s, 0x403000, exe, 1, fn(s, "leak", NULL, "/src/leak.c"), 30);
	l_keep = loc(s, 0x404000, exe, 1, fn(s, "keep", NULL, "/src/keep.c"), 40);
	return s;
}

/* Exact (rate 1): churn frees 100 blocks of 64 B, 60 of them temporary,
 * lifetimes: 50 under 1 us (bucket 0), 30 in [2 us, 5 us) (bucket 2), 20
 * in [1 ms, 2 ms) (bucket 10); 4 in use, 1 s to 2 s old (bucket 19).
 * leak: 10 blocks of 1000 B in use, 6 aged [5000 s, 10000 s) (bucket 30),
 * 4 [50 s, 100 s) (bucket 24); none freed. keep: 2 blocks of 4096 B, 1
 * freed after [10 ms, 20 ms) (bucket 13), 1 in use [500 s, 1000 s) old
 * (bucket 27). */
static struct ht_snapshot *exact_snapshot(int cells)
{
	struct ht_snapshot *s = base_snapshot(1);

	s->flags |= HT_SNAP_EXACT;
	stack2(s, l_churn, l_main, 4 * 64, 4, 104 * 64, 104, 60 * 64, 60);
	if (cells) {
		cell(s, HT_CELL_LIFE, 0, 50, 50 * 64, 0, 0);
		cell(s, HT_CELL_LIFE, 2, 30, 30 * 64, 0, 0);
		cell(s, HT_CELL_LIFE, 10, 20, 20 * 64, 0, 0);
		cell(s, HT_CELL_AGE, 19, 4, 4 * 64, 0, 0);
		cell(s, HT_CELL_SIZE, 7, 104, 104 * 64, 0, 0);
	}
	stack2(s, l_leak, l_main, 10000, 10, 10000, 10, 0, 0);
	if (cells) {
		cell(s, HT_CELL_AGE, 24, 4, 4000, 0, 0);
		cell(s, HT_CELL_AGE, 30, 6, 6000, 0, 0);
		cell(s, HT_CELL_SIZE, 10, 10, 10000, 0, 0);
	}
	stack2(s, l_keep, l_main, 4096, 1, 8192, 2, 0, 0);
	if (cells) {
		cell(s, HT_CELL_LIFE, 13, 1, 4096, 0, 0);
		cell(s, HT_CELL_AGE, 27, 1, 4096, 0, 0);
		cell(s, HT_CELL_SIZE, 13, 2, 8192, 0, 0);
	}
	return s;
}

static void test_temp_index(void)
{
	struct ht_snapshot *s = exact_snapshot(1), *old = exact_snapshot(0);
	struct ht_report_opts o;
	char *out;
	int rc;

	ht_report_opts_init(&o);
	o.index = HT_TEMP_OBJECTS;
	out = run(NULL, s, &o, &rc);
	is_int(rc, 0, "temp_objects: a report");
	has(out, "Type: temp_objects", "temp_objects: its Type line");
	has(out, "  60  100% 100%  60 100%  churn churn.c:20\n", "temp_objects: churn's 60");
	free(out);
	o.index = HT_TEMP_SPACE;
	o.format = HT_FORMAT_COLLAPSED;
	out = run(NULL, s, &o, &rc);
	is_str(out, "main main.c:10;churn churn.c:20 3840\n", "temp_space: collapsed");
	free(out);
	o.format = HT_FORMAT_JSON;
	out = run(NULL, s, &o, &rc);
	has(out, "\"type\": \"temp_space\", \"unit\": \"bytes\"", "temp_space: json names it, in bytes");
	has(out, "3840", "temp_space: json has churn's 3840 bytes");
	free(out);
	/* a diff: the base had 20 temporary blocks at churn */
	{
		struct ht_snapshot *b = exact_snapshot(1);

		b->stacks[0].temp_objects = 20;
		b->stacks[0].temp_space = 20 * 64;
		o.format = HT_FORMAT_TEXT;
		o.index = HT_TEMP_OBJECTS;
		out = run(b, s, &o, &rc);
		has(out, "+40", "temp_objects diff: +40 at churn");
		free(out);
		o.format = HT_FORMAT_SVG;
		out = run(NULL, s, &o, &rc);
		has(out, "churn churn.c:20\n60 (100%)", "temp_objects: the flame graph's frame");
		free(out);
		ht_snapshot_free(b);
	}
	o.format = HT_FORMAT_TEXT;
	out = run(NULL, old, &o, &rc);
	is_int(rc, -1, "temp_space of an old file: refused");
	free(out);
	ht_snapshot_free(s);
	ht_snapshot_free(old);
}

static void expect(const struct ht_snapshot *s, enum ht_view view, const char *focus,
		   const char *want, const char *name)
{
	struct ht_report_opts o;
	char *out;
	int rc;

	ht_report_opts_init(&o);
	o.view = view;
	o.focus = focus;
	out = run(NULL, s, &o, &rc);
	is_int(rc, 0, "%s: rendered", name);
	has(out, want, name);
	free(out);
}

static void test_views_exact(void)
{
	struct ht_snapshot *s = exact_snapshot(1), *old = exact_snapshot(0);
	struct ht_report_opts o;
	char *out;
	int rc;

	expect(s, HT_VIEW_LIFETIMES, NULL,
	       "freed   bytes median    p90  <1ms  stack\n"
	       "  101 10.25kB 2.03us 1.46ms 79.2%  (all shown stacks)\n"
	       "  100  6.25kB    1us 1.41ms 80.0%  churn churn.c:20 < main main.c:10\n"
	       "    1  4.00kB 14.1ms 18.7ms  0.0%  keep keep.c:40 < main main.c:10\n",
	       "--lifetimes: medians, p90 and shares, exact");
	expect(s, HT_VIEW_AGE, NULL,
	       "  inuse <1s 1s-1min 1min-1h    >1h  median  stack\n"
	       "14.02kB   0  1.28kB  6.88kB 5.86kB 13.7min  (all shown stacks)\n"
	       " 9.77kB   0  1.03kB  2.88kB 5.86kB   1.56h  leak leak.c:30 < main main.c:10\n",
	       "--age: the classes and medians, exact");
	expect(s, HT_VIEW_SIZES, NULL,
	       "objects objects%   bytes bytes%  size (bytes)\n"
	       "    104   89.66%  6.50kB 26.79%  64-127\n"
	       "     10    8.62%  9.77kB 40.24%  512-1023\n"
	       "      2    1.72%  8.00kB 32.97%  4096-8191\n"
	       "    116     100% 24.27kB   100%  (total)\n",
	       "--sizes: the whole heap");
	expect(s, HT_VIEW_SIZES, "leak",
	       "objects objects%  bytes bytes%  size (bytes)\n"
	       "     10     100% 9.77kB   100%  512-1023\n",
	       "--sizes --focus: the focused stack only");
	ht_report_opts_init(&o);
	o.view = HT_VIEW_AGE;
	out = run(NULL, old, &o, &rc);
	is_int(rc, -1, "--age of a file without cells: refused");
	free(out);
	ht_snapshot_free(s);
	ht_snapshot_free(old);
}

/* Sampled: a stack with lifetimes split between two buckets, known
 * variance sums. */
static void test_views_sampled(void)
{
	struct ht_snapshot *s = base_snapshot(524288);
	struct ht_cells g;
	struct ht_report_stacks *a;
	struct ht_report_opts o;
	struct ht_quantile q;
	double f, v;

	stack2(s, l_churn, l_main, 0, 0, 8192.0 * 64 * 100, 8192.0 * 100, 0, 0);
	cell(s, HT_CELL_LIFE, 4, 8192.0 * 60, 8192.0 * 60 * 64, 8192.0 * 8191 * 60,
	     8192.0 * 8191 * 60 * 64 * 64);
	cell(s, HT_CELL_LIFE, 13, 8192.0 * 40, 8192.0 * 40 * 64, 8192.0 * 8191 * 40,
	     8192.0 * 8191 * 40 * 64 * 64);
	/* in use: 40 samples of 64 B, half [1 s, 2 s) old, half [2000 s, 5000 s) */
	cell(s, HT_CELL_AGE, 19, 8192.0 * 20, 8192.0 * 20 * 64, 8192.0 * 8191 * 20,
	     8192.0 * 8191 * 20 * 64 * 64);
	cell(s, HT_CELL_AGE, 29, 8192.0 * 20, 8192.0 * 20 * 64, 8192.0 * 8191 * 20,
	     8192.0 * 8191 * 20 * 64 * 64);
	ht_report_opts_init(&o);
	a = ht_report_aggregate(NULL, s, &o, NULL, 0);
	ht_cells_gather(&g, a, s, HT_CELL_LIFE, 0, 10);
	is_int(g.n, 1, "gather: one stack with lifetimes");
	ht_cells_quantile(&g.all, HT_CELL_LIFE, 0, 0.5, &q);
	/* 60% in [10 us, 20 us): the median is 10 us * 2^(50/60) */
	ok(fabs(q.v - 1e4 * pow(2, 50.0 / 60)) < 1, "median interpolated in its bucket: %g", q.v);
	ok(q.lo < q.v && q.v < q.hi && q.lo >= 0, "median's interval around it: %g-%g", q.lo, q.hi);
	ht_cells_share_below(&g.all, HT_CELL_LIFE, 0, 1e6, &f, &v);
	ok(fabs(f - 0.6) < 1e-12, "share under 1 ms: %g", f);
	/* F = S/N: var = (R^2 vS + S^2 vR) / N^4 */
	ok(fabs(v - (0.4 * 0.4 * 60 + 0.6 * 0.6 * 40) * 8191.0 / (8192.0 * 100 * 100)) < 1e-12,
	   "its variance, a ratio estimate's: %g", v);
	ht_cells_free(&g);
	ht_report_stacks_free(a);
	o.view = HT_VIEW_LIFETIMES;
	{
		int rc;
		char *out = run(NULL, s, &o, &rc);

		has(out, "  freed  ±95%   bytes  ±95% median           95%    p90           95%  <1ms  ±95%  stack\n", "sampled --lifetimes: intervals shown");
		has(out, " 60.0% ±9.8%  churn", "sampled --lifetimes: the share with its ±");
		free(out);
		o.view = HT_VIEW_AGE;
		out = run(NULL, s, &o, &rc);
		has(out, "  inuse   ±95% <1s ±95% 1s-1min   ±95% 1min-1h   ±95%    >1h   ±95% median"
		    "           95%  stack\n"
		    "20.00MB ±7.2MB   0   ±0 10.00MB ±5.4MB  6.41MB ±3.8MB 3.59MB ±2.5MB     2s "
		    "1.71s-41.1min  (all shown stacks)\n", "sampled --age: each class with its ±");
		free(out);
	}
	ht_snapshot_free(s);
}

/* Samples blocks of size sz whose lifetimes fall in buckets bucket[0..4)
 * (count[i] of each, interleaved as a program would allocate them)
 * through the shim's byte process and weights, builds the LIFE cells the
 * collector would, and counts how often the 95% intervals of the median
 * and of the share under 1 ms hold the population's own (interpolated the
 * same way: the truth to within a bucket). */
static void simulate_lifetimes(const char *what, uint64_t rate, uint64_t sz, const int *count,
			       int trials, double cover_lo)
{
	static const unsigned bucket[4] = { 4, 8, 11, 14 };
	struct ht_cell_row truth_row = { 0 };
	struct ht_quantile truth, q;
	double truth_share, v, f, w = ht_sample_weight(sz, rate);
	uint64_t rng = 88172645463325252ull;
	int64_t countdown = ht_sample_gap(&rng, rate);
	int cov_med = 0, cov_share = 0, most = 0;

	for (int i = 0; i < 4; i++) {
		truth_row.h[bucket[i]].objects = count[i];
		most = count[i] > most ? count[i] : most;
	}
	ht_cells_quantile(&truth_row, HT_CELL_LIFE, 0, 0.5, &truth);
	ht_cells_share_below(&truth_row, HT_CELL_LIFE, 0, 1e6, &truth_share, &v);
	for (int t = 0; t < trials; t++) {
		struct ht_cell_row r = { 0 };
		double lo, hi;

		for (int b = 0; b < most; b++)
			for (int i = 0; i < 4; i++) {
				if (b >= count[i])
					continue;
				countdown -= (int64_t)sz;
				if (countdown > 0)
					continue;
				countdown = ht_sample_gap(&rng, rate);
				r.h[bucket[i]].objects += w;
				r.h[bucket[i]].var_objects += w * (w - 1);
				r.samples++;
			}
		ht_cells_quantile(&r, HT_CELL_LIFE, 0, 0.5, &q);
		cov_med += q.valid && truth.v >= q.lo && truth.v <= q.hi;
		ht_cells_share_below(&r, HT_CELL_LIFE, 0, 1e6, &f, &v);
		ht_cells_share_bounds(&r, HT_CELL_LIFE, 0, f, v, &lo, &hi);
		cov_share += truth_share >= lo && truth_share <= hi;
	}
	ok((double)cov_med / trials >= cover_lo, "%s: the median's 95%% interval holds the "
	   "truth in %.1f%% of %d trials", what, 100.0 * cov_med / trials, trials);
	ok((double)cov_share / trials >= cover_lo, "%s: the share under 1 ms's holds it in "
	   "%.1f%%", what, 100.0 * cov_share / trials);
}

static void test_coverage(void)
{
	static const int many[4] = { 3000, 2000, 1500, 1500 }, few[4] = { 300, 200, 150, 150 },
			 tiny[4] = { 75, 50, 38, 37 };

	/* about 480 samples, and about 48 */
	simulate_lifetimes("lifetimes, ~480 samples", 65536, 4096, many, 1000, 0.93);
	simulate_lifetimes("lifetimes, ~48 samples", 65536, 4096, few, 1000, 0.93);
	simulate_lifetimes("lifetimes, ~12 samples", 65536, 4096, tiny, 1000, 0.94);
}

static void test_durations(void)
{
	double ns;
	char b[32];

	ok(!ht_cells_parse_duration("1ms", &ns) && ns == 1e6, "1ms");
	ok(!ht_cells_parse_duration("2.5s", &ns) && ns == 2.5e9, "2.5s");
	ok(!ht_cells_parse_duration("1min", &ns) && ns == 60e9, "1min");
	ok(ht_cells_parse_duration("5", &ns) == -1, "a bare number is refused");
	ok(ht_cells_parse_duration("-1ms", &ns) == -1, "a negative one too");
	is_int(ht_cells_edge_near(1e6), 10, "1 ms is the edge of bucket 10");
	is_int(ht_cells_edge_near(1.2e6), 10, "1.2 ms rounds to 1 ms");
	is_int(ht_cells_edge_near(4e6), 12, "4 ms rounds to 5 ms");
	is_str(ht_cells_fmt_ns(1.5e6, b, sizeof(b)), "1.50ms", "1.50ms");
	is_str(ht_cells_fmt_ns(5400e9, b, sizeof(b)), "1.50h", "1.50h");
}

static void test_temp_under(void)
{
	struct ht_snapshot *s = exact_snapshot(1);
	struct ht_report_opts o;
	char *out;
	int rc;

	ht_report_opts_init(&o);
	o.index = HT_TEMP_OBJECTS;
	o.temp_under_ns = 1.2e6;
	o.temp_edge = ht_cells_edge_near(o.temp_under_ns);
	out = run(NULL, s, &o, &rc);
	is_int(rc, 0, "--temporary-under: a report");
	has(out, "Temporary: blocks freed within 1ms (--temporary-under 1.20ms, to the nearest "
	    "bucket edge)\n", "--temporary-under: the header says which edge");
	has(out, "  80  100% 100%  80 100%  churn churn.c:20\n",
	    "--temporary-under 1ms: churn's 80 freed under 1 ms");
	free(out);
	ht_snapshot_free(s);
}

/* Step k (0, 1, 2; a minute apart) of a server: leak holds 1000 B more
 * each step, all of it kept (older than a minute but the newest); churn
 * holds 2000 B more each step, all of it under a second old. */
static struct ht_snapshot *series_step(int k)
{
	struct ht_snapshot *s = base_snapshot(1);

	s->flags |= HT_SNAP_EXACT;
	s->seq = (uint32_t)k + 1;
	s->time_ns = s->start_time_ns + (int64_t)(60 * (k + 1)) * 1000000000;
	stack2(s, l_leak, l_main, 1000.0 * (k + 1), k + 1, 1000.0 * (k + 1), k + 1, 0, 0);
	cell(s, HT_CELL_AGE, 22, 1, 1000, 0, 0);              /* [10 s, 20 s) */
	if (k)
		cell(s, HT_CELL_AGE, 25, k, 1000.0 * k, 0, 0); /* [100 s, 200 s) */
	stack2(s, l_churn, l_main, 2000.0 * (k + 1), 2 * (k + 1), 1e6, 1000, 0, 0);
	cell(s, HT_CELL_AGE, 16, 2 * (k + 1), 2000.0 * (k + 1), 0, 0); /* [100 ms, 200 ms) */
	return s;
}

static void test_series_ages(void)
{
	struct ht_snapshot *snaps[3];
	const char *labels[3] = { "s1.heap", "s2.heap", "s3.heap" };
	struct ht_report_opts o;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char err[256];

	for (int k = 0; k < 3; k++)
		snaps[k] = series_step(k);
	ht_report_opts_init(&o);
	o.series = 1;
	is_int(ht_series_write(f, snaps, labels, 3, &o, err, sizeof(err)), 0, "series: written");
	fclose(f);
	has(buf, "kept: the share of the last snapshot's figure already allocated at the one "
	    "before; churn: under 10%, young blocks\n", "series: the kept column explained");
	/* churn grows faster, but keeps nothing: the leak ranks first */
	has(buf, " per step   fit  kept           #1     #2     #3  stack\n"
	    "   +1.0kB  1.00   67%        1.0kB  2.0kB  2.9kB  leak leak.c:30 < main main.c:10\n"
	    "   +2.0kB  1.00    0% churn  2.0kB  3.9kB  5.9kB  churn churn.c:20 < main main.c:10\n",
	    "series: the leak first, the churn marked");
	free(buf);
	/* the temporary blocks through a series: each step frees 10 more at
	 * once at churn */
	for (int k = 0; k < 3; k++) {
		snaps[k]->stacks[1].temp_objects = 10.0 * (k + 1);
		snaps[k]->stacks[1].temp_space = 640.0 * (k + 1);
	}
	o.index = HT_TEMP_OBJECTS;
	buf = NULL;
	f = open_memstream(&buf, &len);
	is_int(ht_series_write(f, snaps, labels, 3, &o, err, sizeof(err)), 0,
	       "series of temp_objects: written");
	fclose(f);
	has(buf, "Series: 3 snapshots, temp_objects\nTemporary: blocks freed before their "
	    "thread's next allocation\n", "series of temp_objects: the header says what counts");
	has(buf, " per step   fit     #1     #2     #3  stack\n      +10  1.00     10     20     30  churn churn.c:20",
	    "series of temp_objects: churn grows by 10 a step, no kept column");
	free(buf);
	for (int k = 0; k < 3; k++)
		ht_snapshot_free(snaps[k]);
}

/* The frame of name in an SVG flame graph: its title and fill. */
static void frame_of(const char *svg, const char *name, char *title, char *fill, size_t len)
{
	const char *p = strstr(svg, name), *e;

	*title = *fill = 0;
	if (!p || !(e = strstr(p, "</title>")))
		return;
	snprintf(title, len, "%.*s", (int)(e - p), p);
	if ((p = strstr(e, "fill=\"")) && (e = strchr(p + 6, '"')))
		snprintf(fill, len, "%.*s", (int)(e - p - 6), p + 6);
}

static void test_flame_age(void)
{
	struct ht_snapshot *s = exact_snapshot(1), *old = exact_snapshot(0);
	struct ht_report_opts o;
	char title[512], fill[512], *out;
	int rc;

	ht_report_opts_init(&o);
	o.format = HT_FORMAT_SVG;
	o.color_age = 1;
	out = run(NULL, s, &o, &rc);
	is_int(rc, 0, "--color age: an svg");
	has(out, "colour: the median age of the bytes in use", "--color age: the subtitle says so");
	frame_of(out, ">leak leak.c:30", title, fill, sizeof(title));
	has(title, "median age of the bytes in use: 1.56h", "the leak's median age in its tooltip");
	is_str(fill, "rgb(207,36,47)", "the leak, 1.56 h: dark red, near the old end");
	frame_of(out, ">churn churn.c:20", title, fill, sizeof(title));
	has(title, "median age of the bytes in use: 1.41s", "churn's median age");
	is_str(fill, "rgb(177,128,155)", "churn, 1.4 s: halfway between young and old");
	free(out);
	out = run(NULL, old, &o, &rc);
	is_int(rc, -1, "--color age of a file without cells: refused");
	free(out);
	ht_snapshot_free(s);
	ht_snapshot_free(old);
}

static void show(const struct ht_snapshot *s, enum ht_view view, const char *focus)
{
	struct ht_report_opts o;
	char *out;
	int rc;

	ht_report_opts_init(&o);
	o.view = view;
	o.focus = focus;
	out = run(NULL, s, &o, &rc);
	printf("%s", out);
	free(out);
}

/* Writes the pprof export of the exact fixture to DIR/cells.pb.gz (the
 * same without cells to DIR/nocells.pb.gz, and with --temporary-under 1ms
 * to DIR/under1ms.pb.gz) for t_lifeview.sh, which
 * reads them with go tool pprof: until snapshot files carry cells, the
 * export is made here. */
static int write_fixtures(const char *dir)
{
	struct ht_report_opts o;
	char path[4096];
	int rc = 0;

	ht_report_opts_init(&o);
	o.format = HT_FORMAT_PPROF;
	for (int with = 0; with < 3; with++) {
		struct ht_snapshot *s = exact_snapshot(with > 0);
		FILE *f;

		/* the third: temporary means freed within 1 ms */
		if (with == 2) {
			o.temp_under_ns = 1e6;
			o.temp_edge = ht_cells_edge_near(o.temp_under_ns);
		}
		snprintf(path, sizeof(path), "%s/%s.pb.gz", dir,
			 with == 2 ? "under1ms" : with ? "cells" : "nocells");
		f = fopen(path, "w");
		if (!f || ht_report_write(f, NULL, s, &o) || fclose(f))
			rc = 1;
		ht_snapshot_free(s);
	}
	return rc;
}

/* A push's delta takes the base's cumulative cells and temporary counts
 * off, as it does the allocation counters, and keeps the ages: else the
 * export splits the delta's allocations by the whole run's lifetimes. */
static void test_push_delta(void)
{
	struct ht_snapshot *base = exact_snapshot(1), *cur = exact_snapshot(1);
	const struct ht_stack *churn = &cur->stacks[0];
	const struct ht_cell *c = &cur->cells[churn->first_cell];
	char err[256] = "";

	cur->time_ns += 1000000000;
	cur->stacks[0].alloc_objects += 7;
	cur->stacks[0].alloc_space += 7 * 64;
	cur->stacks[0].temp_objects += 5;
	cur->stacks[0].temp_space += 5 * 64;
	cur->cells[churn->first_cell + 2].objects += 7; /* 7 more freed in [1 ms, 2 ms) */
	cur->cells[churn->first_cell + 2].space += 7 * 64;
	is_int(ht_push_delta(base, cur, err, sizeof(err)), 0, "push delta of a snapshot with cells");
	ok(churn->alloc_objects == 7 && churn->temp_objects == 5 && churn->temp_space == 5 * 64,
	   "push delta: the allocations and temporary blocks since the base (%g, %g)",
	   churn->alloc_objects, churn->temp_objects);
	ok(c[0].objects == 0 && c[1].objects == 0 && c[2].objects == 7 && c[2].space == 7 * 64,
	   "push delta: lifetimes since the base only (%g %g %g)", c[0].objects, c[1].objects,
	   c[2].objects);
	ok(c[3].kind == HT_CELL_AGE && c[3].objects == 4, "push delta: ages stay (%g)", c[3].objects);
	ok(c[4].kind == HT_CELL_SIZE && c[4].objects == 0, "push delta: sizes since the base (%g)",
	   c[4].objects);
	ht_snapshot_free(base);
	ht_snapshot_free(cur);
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "--write-fixtures"))
		return write_fixtures(argv[2]);
	if (argc > 1) {
		struct ht_snapshot *s = exact_snapshot(1);

		show(s, HT_VIEW_LIFETIMES, NULL);
		show(s, HT_VIEW_AGE, NULL);
		show(s, HT_VIEW_SIZES, NULL);
		show(s, HT_VIEW_SIZES, "leak");
		ht_snapshot_free(s);
		return 0;
	}
	test_temp_index();
	test_views_exact();
	test_views_sampled();
	test_coverage();
	test_durations();
	test_temp_under();
	test_series_ages();
	test_flame_age();
	test_push_delta();
	return done_testing();
}
