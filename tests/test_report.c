/* Unit tests of the report library (collector/report/): frame naming,
 * aggregation by name, the text top and collapsed formats, diffs, options.
 * "test_report --write-fixtures DIR" writes the snapshots used by t_cli.sh. */
#include "report/report.h"
#include "lib/fileio.h"
#include "snapshot/snapshot.h"
#include "build.h"
#include "tap.h"
#include "lib/util.h"
#include "preload/sample.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

/* The rendering is tested on the fixtures as they are: their xmalloc stays
 * a frame, as with --hide '' (the built-in list is tested on its own). */
#define ht_report_opts_init(o) (ht_report_opts_init(o), (o)->hide = "")

#define KB 1024.0
#define MB (1024.0 * 1024.0)

/* ---- building snapshots ---- */

/* The sample count behind an estimate of n objects of space bytes: n times
 * the chance that one is sampled, at least 1. */
static uint64_t samples(const struct ht_snapshot *s, double space, double n)
{
	double p, k;

	if (n <= 0 || s->rate <= 1)
		return (uint64_t)n;
	p = -expm1(-space / n / (double)s->rate);
	k = round(n * p);
	return k < 1 ? 1 : (uint64_t)k;
}

/* A stack of n locations, leaf first, with inuse/alloc space and objects.
 * Set the rate first: the sample counts follow from it. */
static void stack(struct ht_snapshot *s, double is, double io, double as, double ao,
		  int n, ...)
{
	struct ht_stack st = { 0 };
	uint32_t locs[64];
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		locs[i] = va_arg(ap, uint32_t);
	va_end(ap);
	st.first_frame = ht_snapshot_add_frames(s, locs, n);
	st.nframes = n;
	st.inuse_space = is;
	st.inuse_objects = io;
	st.alloc_space = as;
	st.alloc_objects = ao;
	st.inuse_samples = samples(s, is, io);
	st.alloc_samples = samples(s, as, ao);
	ht_snapshot_add_stack(s, &st);
}

static void header(struct ht_snapshot *s, uint32_t seq, int64_t at_s)
{
	s->pid = 4242;
	s->exe = ht_snapshot_strdup(s, "/usr/bin/demo");
	s->cmdline = ht_snapshot_strdup(s, "demo --serve");
	s->start_time_ns = 1700000000ll * 1000000000;
	s->time_ns = s->start_time_ns + at_s * 1000000000;
	s->rate = 524288;
	s->max_depth = 64;
	s->seq = seq;
}

/* The current snapshot: a call through an inlined helper, a recursion, a C++
 * name, a frame in libc without symbols and one outside any module. */
static struct ht_snapshot *make_cur(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	uint32_t exe, libc, f_main, f_parse, f_dup, f_xmalloc, f_walk, f_node, f_put;
	uint32_t l_main, l_parse, l_inl, l_xmalloc, l_walk, l_node, l_put, l_libc, l_anon;

	header(s, 2, 20);
	s->counts = (struct ht_counts){ 1000, 600, 50, 5000000 };
	ht_snapshot_add_metric(s, "process.rss_bytes", 8388608);
	ht_snapshot_add_metric(s, "process.rss_peak_bytes", 9437184);
	ht_snapshot_add_metric(s, "glibc.in_use_bytes", 6291456);
	ht_snapshot_add_metric(s, "process.rss_minus_heap_bytes", 2097152);
	exe = module(s, "/usr/bin/demo", 0x555555554000, 0x555555600000, 0x555555554000);
	libc = module(s, "/usr/lib/x86_64-linux-gnu/libc.so.6", 0x7ffff7d80000,
		      0x7ffff7f00000, 0x7ffff7d58000);
	f_main = fn(s, "main", NULL, "/src/demo/main.c");
	f_parse = fn(s, "parse_config", NULL, "/src/demo/config.c");
	f_dup = fn(s, "strdup_or_die", NULL, "/src/demo/util.c");
	f_xmalloc = fn(s, "xmalloc", NULL, "/src/demo/util.c");
	f_walk = fn(s, "walk", NULL, "/src/demo/tree.c");
	f_node = fn(s, "make_node", NULL, "/src/demo/tree.c");
	f_put = fn(s, "Cache::put(int)", "_ZN5Cache3putEi", "/src/demo/cache.cc");
	l_main = loc(s, 0x555555555100, exe, 1, f_main, 20);
	l_parse = loc(s, 0x555555555200, exe, 1, f_parse, 42);
	l_inl = loc(s, 0x555555555300, exe, 2, f_dup, 7, f_parse, 50);
	l_xmalloc = loc(s, 0x555555555400, exe, 1, f_xmalloc, 12);
	l_walk = loc(s, 0x555555555500, exe, 1, f_walk, 30);
	l_node = loc(s, 0x555555555600, exe, 1, f_node, 10);
	l_put = loc(s, 0x555555555700, exe, 1, f_put, 88);
	l_libc = loc(s, 0x7ffff7d99999, libc, 0);
	l_anon = loc(s, 0x7fffdeadbeef, HT_NONE, 0);

	stack(s, 1 * MB, 4, 2 * MB, 8, 3, l_xmalloc, l_parse, l_main);
	stack(s, 4 * KB, 2, 8 * KB, 4, 3, l_xmalloc, l_inl, l_main);
	stack(s, 512 * KB, 16, 1 * MB, 32, 5, l_node, l_walk, l_walk, l_walk, l_main);
	stack(s, 256 * KB, 1, 768 * KB, 3, 2, l_put, l_main);
	stack(s, 2 * KB, 1, 2 * KB, 1, 3, l_libc, l_put, l_main);
	stack(s, 1000, 1, 1000, 1, 2, l_anon, l_main);
	stack(s, 128 * KB, 4, 128 * KB, 4, 3, l_node, l_walk, l_main);
	return s;
}

/* The base: another run (other addresses, other table order). xmalloc via
 * parse_config grew since, the deep walk shrank, grow_list is gone, the
 * inlined and Cache::put stacks did not change. Two locations in main share
 * one line, so they are one frame. */
static struct ht_snapshot *make_base(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	uint32_t exe, f_main, f_parse, f_dup, f_xmalloc, f_walk, f_node, f_put, f_grow;
	uint32_t l_main, l_main2, l_parse, l_inl, l_xmalloc, l_walk, l_node, l_put, l_grow;

	header(s, 1, 10);
	s->counts = (struct ht_counts){ 500, 200, 10, 3000000 };
	s->drops.alloc_events = 3;
	exe = module(s, "/usr/bin/demo", 0x5600aa000000, 0x5600aa0ac000, 0x5600aa000000);
	f_grow = fn(s, "grow_list", NULL, "/src/demo/list.c");
	f_put = fn(s, "Cache::put(int)", "_ZN5Cache3putEi", "/src/demo/cache.cc");
	f_node = fn(s, "make_node", NULL, "/src/demo/tree.c");
	f_walk = fn(s, "walk", NULL, "/src/demo/tree.c");
	f_xmalloc = fn(s, "xmalloc", NULL, "/src/demo/util.c");
	f_dup = fn(s, "strdup_or_die", NULL, "/src/demo/util.c");
	f_parse = fn(s, "parse_config", NULL, "/src/demo/config.c");
	f_main = fn(s, "main", NULL, "/src/demo/main.c");
	l_grow = loc(s, 0x5600aa001800, exe, 1, f_grow, 5);
	l_put = loc(s, 0x5600aa001700, exe, 1, f_put, 88);
	l_node = loc(s, 0x5600aa001600, exe, 1, f_node, 10);
	l_walk = loc(s, 0x5600aa001500, exe, 1, f_walk, 30);
	l_xmalloc = loc(s, 0x5600aa001400, exe, 1, f_xmalloc, 12);
	l_inl = loc(s, 0x5600aa001300, exe, 2, f_dup, 7, f_parse, 50);
	l_parse = loc(s, 0x5600aa001200, exe, 1, f_parse, 42);
	l_main = loc(s, 0x5600aa001100, exe, 1, f_main, 20);
	l_main2 = loc(s, 0x5600aa001104, exe, 1, f_main, 20);

	stack(s, 512 * KB, 2, 1 * MB, 4, 3, l_xmalloc, l_parse, l_main);
	stack(s, 4 * KB, 2, 8 * KB, 4, 3, l_xmalloc, l_inl, l_main2);
	stack(s, 1 * MB, 32, 1 * MB, 32, 5, l_node, l_walk, l_walk, l_walk, l_main);
	stack(s, 128 * KB, 2, 128 * KB, 2, 3, l_node, l_walk, l_main2);
	stack(s, 256 * KB, 1, 768 * KB, 3, 2, l_put, l_main);
	stack(s, 64 * KB, 8, 64 * KB, 8, 2, l_grow, l_main2);
	return s;
}

/* A final snapshot of a run cut short, rate 1, with every kind of drop. */
static struct ht_snapshot *make_final(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	uint32_t exe = module(s, "/usr/bin/demo", 0x400000, 0x500000, 0);
	uint32_t f_main = fn(s, "main", NULL, "");
	uint32_t l_main = loc(s, 0x401000, exe, 1, f_main, 0);
	uint32_t l_leaf = loc(s, 0x402345, exe, 0);

	header(s, 0, 3);
	s->rate = 1;
	s->flags = HT_SNAP_FINAL | HT_SNAP_CUT_SHORT | HT_SNAP_EXACT;
	s->counts = (struct ht_counts){ 10, 4, 0, 4096 };
	s->drops = (struct ht_drops){ 1, 2, 3, 4, 5 };
	stack(s, 3000, 6, 4096, 10, 2, l_leaf, l_main);
	return s;
}

/* Step k (1..4) of a series: one process, snapshots 10 s apart. A leak
 * (many small blocks: the growth is far beyond sampling noise), a cache that
 * stays put, a spike at step 3, a few big blocks whose growth is within
 * noise, and a list that shrinks. */
static struct ht_snapshot *make_step(int k)
{
	static const double cache[] = { 8 * MB, 8 * MB - 64 * KB, 8 * MB + 64 * KB, 8 * MB };
	static const double big[] = { 512 * KB, 512 * KB, 1 * MB, 1 * MB };
	static const double list[] = { 3 * MB, 2 * MB, 1 * MB, 512 * KB };
	struct ht_snapshot *s = ht_snapshot_new();
	uint32_t exe, f_main, f_handle, f_xmalloc, f_put, f_parse, f_walk, f_node, f_grow;
	uint32_t l_main, l_handle, l_xmalloc, l_put, l_parse, l_walk, l_node, l_grow;

	header(s, (uint32_t)k, 10 * k);
	s->counts = (struct ht_counts){ 100000u * k, 90000u * k, 10, 200000000u * k };
	exe = module(s, "/usr/bin/demo", 0x555555554000, 0x555555600000, 0x555555554000);
	f_main = fn(s, "main", NULL, "/src/demo/main.c");
	f_handle = fn(s, "handle_request", NULL, "/src/demo/server.c");
	f_xmalloc = fn(s, "xmalloc", NULL, "/src/demo/util.c");
	f_put = fn(s, "Cache::put(int)", "_ZN5Cache3putEi", "/src/demo/cache.cc");
	f_parse = fn(s, "parse_config", NULL, "/src/demo/config.c");
	f_walk = fn(s, "walk", NULL, "/src/demo/tree.c");
	f_node = fn(s, "make_node", NULL, "/src/demo/tree.c");
	f_grow = fn(s, "grow_list", NULL, "/src/demo/list.c");
	l_main = loc(s, 0x555555555100, exe, 1, f_main, 20);
	l_handle = loc(s, 0x555555555800, exe, 1, f_handle, 40);
	l_xmalloc = loc(s, 0x555555555400, exe, 1, f_xmalloc, 12);
	l_put = loc(s, 0x555555555700, exe, 1, f_put, 88);
	l_parse = loc(s, 0x555555555200, exe, 1, f_parse, 42);
	l_walk = loc(s, 0x555555555500, exe, 1, f_walk, 30);
	l_node = loc(s, 0x555555555600, exe, 1, f_node, 10);
	l_grow = loc(s, 0x555555555900, exe, 1, f_grow, 5);

	stack(s, k * 16 * MB, k * 16384, k * 16 * MB, k * 16384, 3, l_xmalloc, l_handle, l_main);
	stack(s, cache[k - 1], cache[k - 1] / (64 * KB), 12 * MB, 192, 2, l_put, l_main);
	if (k == 3)
		stack(s, 6 * MB, 24, 6 * MB, 24, 2, l_parse, l_main);
	else
		stack(s, 0, 0, k > 3 ? 6 * MB : 0, k > 3 ? 24 : 0, 2, l_parse, l_main);
	stack(s, big[k - 1], big[k - 1] / (512 * KB), big[k - 1], big[k - 1] / (512 * KB),
	      3, l_node, l_walk, l_main);
	stack(s, list[k - 1], list[k - 1] / (4 * KB), 3 * MB, 768, 2, l_grow, l_main);
	return s;
}

static struct ht_snapshot *make_step1(void) { return make_step(1); }
static struct ht_snapshot *make_step2(void) { return make_step(2); }
static struct ht_snapshot *make_step3(void) { return make_step(3); }
static struct ht_snapshot *make_step4(void) { return make_step(4); }

/* ---- running reports ---- */

static char *run(const struct ht_snapshot *base, const struct ht_snapshot *cur,
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

/* From the line starting with "Showing" on (the table), or the whole text. */
static const char *table(const char *out)
{
	const char *p = strstr(out, "\nShowing ");

	return p ? p + 1 : out;
}

/* Compares whole outputs line by line; on a mismatch shows the first
 * differing line and the whole output. */
static void is_text(const char *got, const char *want, const char *name)
{
	const char *g = got, *w = want;
	int line = 1;

	while (*g && *g == *w) {
		if (*g == '\n')
			line++;
		g++, w++;
	}
	if (ok(*g == *w, "%s", name))
		return;
	printf("#   first difference on line %d\n", line);
	printf("#   got:\n");
	for (const char *p = got; *p; ) {
		const char *e = strchr(p, '\n');
		int n = e ? (int)(e - p) : (int)strlen(p);

		printf("#     |%.*s\n", n, p);
		p += n + (e != NULL);
	}
}

static void check(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		  const struct ht_report_opts *o, int whole, const char *want,
		  const char *name)
{
	char *out = run(base, cur, o);

	is_text(whole ? out : table(out), want, name);
	free(out);
}

static void test_top(const struct ht_snapshot *cur)
{
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	o.cur_label = "cur.heap";
	check(NULL, cur, &o, 1,
	      "File: cur.heap (demo, pid 4242), snapshot 2, taken 2023-11-14 22:13:40 UTC, 20.0s after start, running\n"
	      "Memory: RSS 8.00MB (peak 9.00MB), heap in use 6.00MB (glibc), RSS minus heap 2.00MB (--stats for more)\n"
	      "Type: inuse_space; one sample per 512.00kB allocated (estimates)\n"
	      "Total: 1.88MB ±4.2MB (95% interval 193.13kB to 6.08MB)\n"
	      "Detection limit: a stack holding less than 1.50MB has a 5% chance or more of no sample, and is then not listed\n"
	      "Showing nodes accounting for 1.88MB, 100% of 1.88MB total\n"
	      "±95%: 95% interval of the sampling error (the larger side of it)\n"
	      "    flat   ±95%  flat%   sum%      cum   ±95%   cum%\n"
	      "  1.00MB ±3.0MB 53.35% 53.35%   1.00MB ±3.0MB 53.35%  xmalloc util.c:12\n"
	      "640.00kB ±2.7MB 33.21% 86.56% 640.00kB ±2.7MB 33.21%  make_node tree.c:10\n"
	      "256.00kB ±2.1MB 13.29% 99.85% 258.00kB ±2.9MB 13.39%  Cache::put(int) cache.cc:88\n"
	      "  2.00kB ±2.5MB   0.1% 99.95%   2.00kB ±2.5MB   0.1%  libc.so.6+0x41999\n"
	      "   1000B ±2.5MB 0.051%   100%    1000B ±2.5MB 0.051%  0x7fffdeadbeef\n"
	      "       0     ±0     0%   100%   1.88MB ±4.2MB   100%  main main.c:20\n"
	      "       0     ±0     0%   100%   1.00MB ±2.3MB 53.14%  parse_config config.c:42\n"
	      "       0     ±0     0%   100% 640.00kB ±2.7MB 33.21%  walk tree.c:30\n"
	      "       0     ±0     0%   100%   4.00kB ±2.5MB  0.21%  parse_config config.c:50\n"
	      "       0     ±0     0%   100%   4.00kB ±2.5MB  0.21%  strdup_or_die util.c:7\n",
	      "top: header, flat/cum with recursion (walk) and an inlined location");

	o.verbose = 1;
	check(NULL, cur, &o, 1,
	      "File: cur.heap\n"
	      "Exe: /usr/bin/demo\n"
	      "Command: demo --serve\n"
	      "PID: 4242\n"
	      "Snapshot: 2, taken 2023-11-14 22:13:40 UTC, 20.0s after start\n"
	      "State: running\n"
	      "Sampling: one sample per 512.00kB allocated on average (figures are estimates)\n"
	      "Calls: 1000 allocs, 600 frees, 400 live, 50 reallocs, 4.77MB requested (exact)\n"
	      "Memory: RSS 8.00MB (peak 9.00MB), heap in use 6.00MB (glibc), RSS minus heap 2.00MB (--stats for more)\n"
	      "Type: inuse_space\n"
	      "Total: 1.88MB ±4.2MB (95% interval 193.13kB to 6.08MB)\n"
	      "Detection limit: a stack holding less than 1.50MB has a 5% chance or more of no sample, and is then not listed\n"
	      "Showing nodes accounting for 1.88MB, 100% of 1.88MB total\n"
	      "±95%: 95% interval of the sampling error (the larger side of it)\n"
	      "    flat   ±95%  flat%   sum%      cum   ±95%   cum%\n"
	      "  1.00MB ±3.0MB 53.35% 53.35%   1.00MB ±3.0MB 53.35%  xmalloc util.c:12\n"
	      "640.00kB ±2.7MB 33.21% 86.56% 640.00kB ±2.7MB 33.21%  make_node tree.c:10\n"
	      "256.00kB ±2.1MB 13.29% 99.85% 258.00kB ±2.9MB 13.39%  Cache::put(int) cache.cc:88\n"
	      "  2.00kB ±2.5MB   0.1% 99.95%   2.00kB ±2.5MB   0.1%  libc.so.6+0x41999\n"
	      "   1000B ±2.5MB 0.051%   100%    1000B ±2.5MB 0.051%  0x7fffdeadbeef\n"
	      "       0     ±0     0%   100%   1.88MB ±4.2MB   100%  main main.c:20\n"
	      "       0     ±0     0%   100%   1.00MB ±2.3MB 53.14%  parse_config config.c:42\n"
	      "       0     ±0     0%   100% 640.00kB ±2.7MB 33.21%  walk tree.c:30\n"
	      "       0     ±0     0%   100%   4.00kB ±2.5MB  0.21%  parse_config config.c:50\n"
	      "       0     ±0     0%   100%   4.00kB ±2.5MB  0.21%  strdup_or_die util.c:7\n",
	      "top --verbose: the whole provenance in the header");
	o.verbose = 0;

	o.top = 3;
	check(NULL, cur, &o, 0,
	      "Showing nodes accounting for 1.88MB, 99.85% of 1.88MB total\n"
	      "Dropped 7 nodes; showing top 3 out of 10\n"
	      "±95%: 95% interval of the sampling error (the larger side of it)\n"
	      "    flat   ±95%  flat%   sum%      cum   ±95%   cum%\n"
	      "  1.00MB ±3.0MB 53.35% 53.35%   1.00MB ±3.0MB 53.35%  xmalloc util.c:12\n"
	      "640.00kB ±2.7MB 33.21% 86.56% 640.00kB ±2.7MB 33.21%  make_node tree.c:10\n"
	      "256.00kB ±2.1MB 13.29% 99.85% 258.00kB ±2.9MB 13.39%  Cache::put(int) cache.cc:88\n",
	      "top: --top 3 cuts and says so");
}

static void test_indexes(const struct ht_snapshot *cur)
{
	struct ht_report_opts o;
	char *out;

	ht_report_opts_init(&o);
	o.top = 4;
	o.index = HT_INUSE_OBJECTS;
	out = run(NULL, cur, &o);
	ok(strstr(out, "\nType: inuse_objects; ") != NULL, "inuse_objects: Type line");
	is_text(table(out),
		"Showing nodes accounting for 28, 96.55% of 29 total\n"
		"Dropped 6 nodes; showing top 4 out of 10\n"
		"±95%: 95% interval of the sampling error (the larger side of it)\n"
		"flat  ±95%  flat%   sum% cum  ±95%   cum%\n"
		"  20   ±86 68.97% 68.97%  20   ±86 68.97%  make_node tree.c:10\n"
		"   6 ±1.3k 20.69% 89.66%   6 ±1.3k 20.69%  xmalloc util.c:12\n"
		"   1    ±8  3.45% 93.10%   2 ±1.3k  6.90%  Cache::put(int) cache.cc:88\n"
		"   1 ±2.6k  3.45% 96.55%   1 ±2.6k  3.45%  0x7fffdeadbeef\n",
		"inuse_objects: table");
	free(out);

	o.index = HT_ALLOC_SPACE;
	check(NULL, cur, &o, 0,
	      "Showing nodes accounting for 3.88MB, 100% of 3.89MB total\n"
	      "Dropped 6 nodes; showing top 4 out of 10\n"
	      "±95%: 95% interval of the sampling error (the larger side of it)\n"
	      "    flat   ±95%  flat%   sum%      cum   ±95%   cum%\n"
	      "  2.01MB ±3.1MB 51.67% 51.67%   2.01MB ±3.1MB 51.67%  xmalloc util.c:12\n"
	      "  1.12MB ±2.9MB 28.95% 80.62%   1.12MB ±2.9MB 28.95%  make_node tree.c:10\n"
	      "768.00kB ±1.9MB 19.30% 99.93% 770.00kB ±2.7MB 19.35%  Cache::put(int) cache.cc:88\n"
	      "  2.00kB ±2.5MB  0.05%   100%   2.00kB ±2.5MB  0.05%  libc.so.6+0x41999\n",
	      "alloc_space: table");

	o.index = HT_ALLOC_OBJECTS;
	o.top = 0;
	check(NULL, cur, &o, 0,
	      "Showing nodes accounting for 53, 100% of 53 total\n"
	      "±95%: 95% interval of the sampling error (the larger side of it)\n"
	      "flat  ±95%  flat%   sum% cum  ±95%   cum%\n"
	      "  36   ±94 67.92% 67.92%  36   ±94 67.92%  make_node tree.c:10\n"
	      "  12 ±1.3k 22.64% 90.57%  12 ±1.3k 22.64%  xmalloc util.c:12\n"
	      "   3    ±8  5.66% 96.23%   4 ±1.3k  7.55%  Cache::put(int) cache.cc:88\n"
	      "   1 ±2.6k  1.89% 98.11%   1 ±2.6k  1.89%  0x7fffdeadbeef\n"
	      "   1 ±1.3k  1.89%   100%   1 ±1.3k  1.89%  libc.so.6+0x41999\n"
	      "   0    ±0     0%   100%  53 ±2.9k   100%  main main.c:20\n"
	      "   0    ±0     0%   100%  36   ±94 67.92%  walk tree.c:30\n"
	      "   0    ±0     0%   100%   8   ±10 15.09%  parse_config config.c:42\n"
	      "   0    ±0     0%   100%   4 ±1.3k  7.55%  parse_config config.c:50\n"
	      "   0    ±0     0%   100%   4 ±1.3k  7.55%  strdup_or_die util.c:7\n",
	      "alloc_objects: table, --top 0 shows all");
}

static void test_collapsed(const struct ht_snapshot *cur)
{
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	o.format = HT_FORMAT_COLLAPSED;
	check(NULL, cur, &o, 1,
	      "main main.c:20;0x7fffdeadbeef 1000\n"
	      "main main.c:20;Cache::put(int) cache.cc:88 262144\n"
	      "main main.c:20;Cache::put(int) cache.cc:88;libc.so.6+0x41999 2048\n"
	      "main main.c:20;parse_config config.c:42;xmalloc util.c:12 1048576\n"
	      "main main.c:20;parse_config config.c:50;strdup_or_die util.c:7;xmalloc util.c:12 4096\n"
	      "main main.c:20;walk tree.c:30;make_node tree.c:10 131072\n"
	      "main main.c:20;walk tree.c:30;walk tree.c:30;walk tree.c:30;make_node tree.c:10 524288\n",
	      "collapsed: root first, inlined frames, sorted");

	o.naming.granularity = HT_GRAN_FUNCTIONS;
	o.index = HT_INUSE_OBJECTS;
	o.top = 2;
	check(NULL, cur, &o, 1,
	      "main;parse_config;xmalloc 4\n"
	      "main;walk;walk;walk;make_node 16\n",
	      "collapsed: --functions, inuse_objects, --top 2 keeps the heaviest");
}

static void test_diff(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	o.base_label = "base.heap";
	o.cur_label = "cur.heap";
	check(base, cur, &o, 1,
	      "Base: base.heap (demo, pid 4242), snapshot 1, taken 2023-11-14 22:13:30 UTC, 10.0s after start, running\n"
	      "  warning: 3 sampled events were dropped; figures are low\n"
	      "Current: cur.heap (demo, pid 4242), snapshot 2, taken 2023-11-14 22:13:40 UTC, 20.0s after start, running\n"
	      "Type: inuse_space, current minus base; one sample per 512.00kB allocated (estimates)\n"
	      "Total: base 1.94MB, current 1.88MB, change -61.02kB ±5.8MB (within sampling noise)\n"
	      "Detection limit: a stack holding less than 1.50MB has a 5% chance or more of no sample, and is then not listed\n"
	      "Showing nodes accounting for -61.02kB, -5.59% of 1.07MB total\n"
	      "±95%: 95% interval of the sampling error; ~: the change is within it (sampling noise)\n"
	      "     flat    ±95%   flat%    sum%       cum    ±95%    cum%\n"
	      "-512.00kB~ ±4.0MB -46.93% -46.93% -512.00kB~ ±4.0MB -46.93%  make_node tree.c:10\n"
	      "+512.00kB~ ±4.1MB  46.93%      0% +512.00kB~ ±4.1MB  46.93%  xmalloc util.c:12\n"
	      " -64.00kB~ ±3.1MB  -5.87%  -5.87%  -64.00kB~ ±3.1MB  -5.87%  grow_list list.c:5\n"
	      "  +2.00kB~ ±3.1MB   0.18%  -5.68%   +2.00kB~ ±3.1MB   0.18%  libc.so.6+0x41999\n"
	      "   +1000B~ ±3.1MB   0.09%  -5.59%    +1000B~ ±3.1MB   0.09%  0x7fffdeadbeef\n"
	      "        0      ±0      0%  -5.59% +512.00kB~ ±3.1MB  46.93%  parse_config config.c:42\n"
	      "        0      ±0      0%  -5.59% -512.00kB~ ±4.0MB -46.93%  walk tree.c:30\n"
	      "        0      ±0      0%  -5.59%  -61.02kB~ ±5.8MB  -5.59%  main main.c:20\n"
	      "        0  ±2.9MB      0%  -5.59%   +2.00kB~ ±3.7MB   0.18%  Cache::put(int) cache.cc:88\n",
	      "diff: grew, shrank, only in base, same names at other addresses");

	o.verbose = 1;
	{
		char *out = run(base, cur, &o);

		ok(strstr(out, "Base: base.heap\n  Exe: /usr/bin/demo\n  Command: demo --serve\n"
			       "  PID: 4242\n") &&
		   strstr(out, "\n  Calls: 1000 allocs, 600 frees, 400 live, 50 reallocs, "
			       "4.77MB requested (exact)\n") &&
		   strstr(out, "\nType: inuse_space, current minus base\n"),
		   "diff --verbose: each snapshot's whole provenance");
		free(out);
	}
	o.verbose = 0;

	o.format = HT_FORMAT_COLLAPSED;
	check(base, cur, &o, 1,
	      "main main.c:20;0x7fffdeadbeef 1000\n"
	      "main main.c:20;Cache::put(int) cache.cc:88;libc.so.6+0x41999 2048\n"
	      "main main.c:20;grow_list list.c:5 -65536\n"
	      "main main.c:20;parse_config config.c:42;xmalloc util.c:12 524288\n"
	      "main main.c:20;walk tree.c:30;walk tree.c:30;walk tree.c:30;make_node tree.c:10 -524288\n",
	      "diff collapsed: signed values, unchanged stacks omitted");

	o.format = HT_FORMAT_TEXT;
	o.naming.granularity = HT_GRAN_ADDRESSES;
	o.top = 2;
	check(base, cur, &o, 0,
	      "Showing nodes accounting for -124.00kB, -3.17% of 3.82MB total\n"
	      "Dropped 18 nodes; showing top 2 out of 20\n"
	      "±95%: 95% interval of the sampling error; ~: the change is within it (sampling noise)\n"
	      "   flat    ±95%   flat%    sum%     cum    ±95%    cum%\n"
	      "-1.12MB~ ±3.4MB -29.43% -29.43% -1.12MB~ ±3.4MB -29.43%  make_node tree.c:10 0x5600aa001600\n"
	      "+1.00MB~ ±3.5MB  26.26%  -3.17% +1.00MB~ ±3.5MB  26.26%  xmalloc util.c:12 0x555555555400\n",
	      "diff --addresses: nothing matches across address layouts");
}

static void test_granularity(const struct ht_snapshot *cur)
{
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	o.format = HT_FORMAT_COLLAPSED;
	o.naming.granularity = HT_GRAN_FUNCTIONS;
	check(NULL, cur, &o, 1,
	      "main;0x7fffdeadbeef 1000\n"
	      "main;Cache::put(int) 262144\n"
	      "main;Cache::put(int);libc.so.6+0x41999 2048\n"
	      "main;parse_config;strdup_or_die;xmalloc 4096\n"
	      "main;parse_config;xmalloc 1048576\n"
	      "main;walk;make_node 131072\n"
	      "main;walk;walk;walk;make_node 524288\n",
	      "--functions: inlined frames kept, lines merged");

	o.naming.no_demangle = 1;
	o.top = 1;
	o.index = HT_ALLOC_OBJECTS;
	o.format = HT_FORMAT_TEXT;
	check(NULL, cur, &o, 0,
	      "Showing nodes accounting for 36, 67.92% of 53 total\n"
	      "Dropped 8 nodes; showing top 1 out of 9\n"
	      "±95%: 95% interval of the sampling error (the larger side of it)\n"
	      "flat ±95%  flat%   sum% cum ±95%   cum%\n"
	      "  36  ±94 67.92% 67.92%  36  ±94 67.92%  make_node\n",
	      "--functions --no-demangle: table");
	o.format = HT_FORMAT_COLLAPSED;
	o.top = 0;
	o.index = HT_INUSE_SPACE;
	{
		char *out = run(NULL, cur, &o);

		ok(strstr(out, "\nmain;_ZN5Cache3putEi 262144\n") != NULL,
		   "--no-demangle: system names");
		free(out);
	}

	o.naming.no_demangle = 0;
	o.naming.granularity = HT_GRAN_FILES;
	check(NULL, cur, &o, 1,
	      "/src/demo/main.c;/src/demo/cache.cc 262144\n"
	      "/src/demo/main.c;/src/demo/cache.cc;libc.so.6+0x41999 2048\n"
	      "/src/demo/main.c;/src/demo/config.c;/src/demo/util.c 1048576\n"
	      "/src/demo/main.c;/src/demo/config.c;/src/demo/util.c;/src/demo/util.c 4096\n"
	      "/src/demo/main.c;/src/demo/tree.c;/src/demo/tree.c 131072\n"
	      "/src/demo/main.c;/src/demo/tree.c;/src/demo/tree.c;/src/demo/tree.c;/src/demo/tree.c 524288\n"
	      "/src/demo/main.c;0x7fffdeadbeef 1000\n",
	      "--files: full paths");

	o.naming.granularity = HT_GRAN_ADDRESSES;
	o.index = HT_INUSE_OBJECTS;
	check(NULL, cur, &o, 1,
	      "main main.c:20 0x555555555100;0x7fffdeadbeef 1\n"
	      "main main.c:20 0x555555555100;Cache::put(int) cache.cc:88 0x555555555700 1\n"
	      "main main.c:20 0x555555555100;Cache::put(int) cache.cc:88 0x555555555700;"
	      "libc.so.6+0x41999 0x7ffff7d99999 1\n"
	      "main main.c:20 0x555555555100;parse_config config.c:42 0x555555555200;"
	      "xmalloc util.c:12 0x555555555400 4\n"
	      "main main.c:20 0x555555555100;parse_config config.c:50 0x555555555300;"
	      "strdup_or_die util.c:7 0x555555555300;xmalloc util.c:12 0x555555555400 2\n"
	      "main main.c:20 0x555555555100;walk tree.c:30 0x555555555500;"
	      "make_node tree.c:10 0x555555555600 4\n"
	      "main main.c:20 0x555555555100;walk tree.c:30 0x555555555500;"
	      "walk tree.c:30 0x555555555500;walk tree.c:30 0x555555555500;"
	      "make_node tree.c:10 0x555555555600 16\n",
	      "--addresses: address after each frame");
}

/* Names of one location at every granularity, directly. */
static void test_naming(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	struct ht_naming nm = { HT_GRAN_LINES, 0 };
	uint32_t lib = module(s, "/opt/lib/libz.so.1", 0x7f0000001000, 0x7f0000100000,
			      0x7f0000000000);
	uint32_t nopath = module(s, "", 0x1000, 0x2000, 0x1000);
	uint32_t f_anon = fn(s, "", "", "/src/x.c");
	uint32_t f_ctl = fn(s, "bad\nname", NULL, "");
	uint32_t f_nofile = fn(s, "deflate", NULL, "");
	uint32_t l_lib = loc(s, 0x7f0000012345, lib, 0);
	uint32_t l_none = loc(s, 0xdeadbeef, HT_NONE, 0);
	uint32_t l_nopath = loc(s, 0x1234, nopath, 0);
	uint32_t l_anon = loc(s, 0x7f0000012000, lib, 1, f_anon, 9);
	uint32_t l_ctl = loc(s, 0x7f0000013000, lib, 1, f_ctl, 0);
	uint32_t l_nofile = loc(s, 0x7f0000014000, lib, 1, f_nofile, 3);
	char *buf = NULL;
	size_t cap = 0, len;

	len = ht_report_frame_name(s, l_lib, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "libz.so.1+0x12345", "unsymbolized: module basename + file address");
	is_int(len, strlen("libz.so.1+0x12345"), "name length returned");
	ht_report_frame_name(s, l_none, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "0xdeadbeef", "outside any module: absolute address");
	ht_report_frame_name(s, l_nopath, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "0x1234", "module without a path: absolute address");
	ht_report_frame_name(s, l_anon, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "libz.so.1+0x12000 x.c:9", "function without a name: module+offset, then file:line");
	ht_report_frame_name(s, l_ctl, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "bad?name", "control characters replaced, no line 0");
	ht_report_frame_name(s, l_nofile, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "deflate", "no file: function only");
	nm.granularity = HT_GRAN_FILES;
	ht_report_frame_name(s, l_nofile, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "deflate", "--files without a file: the function");
	ht_report_frame_name(s, l_anon, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "/src/x.c", "--files: the path as stored");
	nm.granularity = HT_GRAN_ADDRESSES;
	ht_report_frame_name(s, l_lib, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "libz.so.1+0x12345 0x7f0000012345", "--addresses, unsymbolized");
	ht_report_frame_name(s, l_none, 0, &nm, &buf, &cap, NULL);
	is_str(buf, "0xdeadbeef", "--addresses: a bare address is not repeated");
	free(buf);
	ht_snapshot_free(s);
}

/* Collapsed lines sort as C strings even when one name is a prefix of
 * another, and a ';' inside a name is shown as ':' (and then merges). */
static void test_collapsed_strings(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	struct ht_report_opts o;
	uint32_t f_main = fn(s, "main", NULL, ""), f_main2 = fn(s, "main2", NULL, "");
	uint32_t f_x = fn(s, "x", NULL, ""), f_semi = fn(s, "a;b", NULL, "");
	uint32_t f_colon = fn(s, "a:b", NULL, "");
	uint32_t l_main = loc(s, 0x10, HT_NONE, 1, f_main, 0);
	uint32_t l_main2 = loc(s, 0x20, HT_NONE, 1, f_main2, 0);
	uint32_t l_x = loc(s, 0x30, HT_NONE, 1, f_x, 0);
	uint32_t l_semi = loc(s, 0x40, HT_NONE, 1, f_semi, 0);
	uint32_t l_colon = loc(s, 0x50, HT_NONE, 1, f_colon, 0);

	stack(s, 1, 1, 1, 1, 2, l_x, l_main);
	stack(s, 2, 1, 2, 1, 2, l_x, l_main2);
	stack(s, 3, 1, 3, 1, 1, l_main);
	stack(s, 10, 1, 10, 1, 2, l_semi, l_main);
	stack(s, 5, 1, 5, 1, 2, l_colon, l_main);
	stack(s, 0.4, 1, 0.4, 1, 2, l_main2, l_main);
	ht_report_opts_init(&o);
	o.format = HT_FORMAT_COLLAPSED;
	check(NULL, s, &o, 1,
	      "main 3\n"
	      "main2;x 2\n"
	      "main;a:b 15\n"
	      "main;x 1\n",
	      "collapsed: C string order, ';' in a name shown as ':', 0.4 rounds away");
	ht_snapshot_free(s);
}

static void test_stacks_api(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	struct ht_naming nm = { HT_GRAN_LINES, 0 };
	struct ht_report_stacks *a = ht_report_stacks_new(&nm, HT_INUSE_SPACE);
	struct ht_snapshot *empty = ht_snapshot_new();
	size_t n, unchanged = 0;
	const uint32_t *ids;

	ht_report_stacks_add(a, cur, 1);
	is_int(ht_report_stacks_count(a), 7, "stacks: 7 distinct in cur");
	is_int(ht_report_stacks_nnames(a), 10, "stacks: 10 distinct names in cur");
	ids = ht_report_stacks_frames(a, 1, &n);
	is_int(n, 4, "stacks: the inlined location gives two frames");
	is_str(ht_report_stacks_name(a, ids[1]), "strdup_or_die util.c:7", "stacks: inlined callee first");
	is_str(ht_report_stacks_name(a, ids[2]), "parse_config config.c:50", "stacks: then its caller");
	ht_report_stacks_add(a, base, -1);
	is_int(ht_report_stacks_count(a), 8, "stacks: base adds only grow_list");
	for (size_t i = 0; i < ht_report_stacks_count(a); i++)
		if (ht_report_stacks_value(a, i, HT_INUSE_SPACE) == 0)
			unchanged++;
	is_int(unchanged, 3, "stacks: three stacks cancel out");

	{
		struct ht_stack st = { 0 };

		st.inuse_space = 100;
		st.inuse_objects = 1;
		ht_snapshot_add_stack(empty, &st);
	}
	ht_report_stacks_add(a, empty, 1);
	ids = ht_report_stacks_frames(a, ht_report_stacks_count(a) - 1, &n);
	ok(n == 1 && strcmp(ht_report_stacks_name(a, ids[0]), "[unknown]") == 0,
	   "stacks: an empty stack is [unknown]");
	ht_report_stacks_free(a);
	ht_snapshot_free(empty);
}

static void test_final(void)
{
	struct ht_snapshot *s = make_final();
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	check(NULL, s, &o, 1,
	      "File: - (demo, pid 4242), final snapshot, taken 2023-11-14 22:13:23 UTC, 3.0s after start, cut short (no clean exit)\n"
	      "warning: 1 sampled events were dropped; figures are low\n"
	      "warning: 2 frees of sampled blocks were dropped; in-use figures are high\n"
	      "warning: 4 sampled allocations went unrecorded (sample arena full); figures are low\n"
	      "warning: 3 module or control events were dropped; some frames may be unnamed\n"
	      "warning: 5 events did not match a live block; figures may be off\n"
	      "Type: inuse_space; every allocation recorded (exact)\n"
	      "Showing nodes accounting for 2.93kB, 100% of 2.93kB total\n"
	      "  flat flat% sum%    cum cum%\n"
	      "2.93kB  100% 100% 2.93kB 100%  demo+0x402345\n"
	      "     0    0% 100% 2.93kB 100%  main\n",
	      "final, cut short, exact, every drop warned about");
	ht_snapshot_free(s);

	s = ht_snapshot_new();
	check(NULL, s, &o, 0,
	      "Showing nodes accounting for 0, 0% of 0 total\n"
	      "flat flat% sum% cum cum%\n",
	      "empty snapshot: an empty table");
	ht_snapshot_free(s);
}

static int parse(struct ht_report_opts *o, int nfiles, const char **files, ...)
{
	char *argv[16] = { "prog" };
	int argc = 1;
	va_list ap;

	va_start(ap, files);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	ht_report_opts_init(o);
	return ht_report_parse_args(argc, argv, nfiles == 2 ? HT_MODE_DIFF : HT_MODE_REPORT,
				    files, o);
}

static void test_args(void)
{
	struct ht_report_opts o;
	const char *f[16];

	is_int(parse(&o, 1, f, "x.heap", NULL), 0, "args: one file");
	ok(o.index == HT_INUSE_SPACE && o.format == HT_FORMAT_TEXT && o.top == -1 &&
	   o.naming.granularity == HT_GRAN_LINES && !o.output, "args: defaults");
	is_str(o.cur_label, "x.heap", "args: label");
	is_int(parse(&o, 1, f, "--sample-index", "alloc_objects", "--top=3", "x.heap",
		     "--format=collapsed", "-o", "out.txt", "--functions", "--no-demangle",
		     NULL), 0, "args: all options, mixed with the file");
	ok(o.index == HT_ALLOC_OBJECTS && o.top == 3 && o.format == HT_FORMAT_COLLAPSED &&
	   o.naming.granularity == HT_GRAN_FUNCTIONS && o.naming.no_demangle &&
	   strcmp(o.output, "out.txt") == 0, "args: values stored");
	is_int(parse(&o, 1, f, "--sample-index=alloc_space", "--top", "0", "-oy",
		     "--addresses", "--", "-x.heap", NULL), 0, "args: = forms, --");
	ok(o.index == HT_ALLOC_SPACE && o.top == 0 && strcmp(o.output, "y") == 0 &&
	   o.naming.granularity == HT_GRAN_ADDRESSES && strcmp(f[0], "-x.heap") == 0,
	   "args: values stored, file after --");
	is_int(parse(&o, 2, f, "a", "--inuse_objects", "b", NULL), 0, "args: two files");
	ok(o.index == HT_INUSE_OBJECTS && strcmp(o.base_label, "a") == 0 &&
	   strcmp(o.cur_label, "b") == 0, "args: pprof shorthand, base and current");
	is_int(parse(&o, 1, f, "-h", NULL), 1, "args: -h");
	is_int(parse(&o, 1, f, "x", "--help", NULL), 1, "args: --help");
	fprintf(stderr, "# expected errors follow\n");
	is_int(parse(&o, 1, f, NULL), -1, "args: no file");
	is_int(parse(&o, 1, f, "a", "b", NULL), -1, "args: two files for one");
	is_int(parse(&o, 2, f, "a", NULL), -1, "args: one file for two");
	is_int(parse(&o, 1, f, "--bogus", "x", NULL), -1, "args: unknown option");
	is_int(parse(&o, 1, f, "--sample-index", "space", "x", NULL), -1, "args: bad index");
	is_int(parse(&o, 1, f, "--sample-index", NULL), -1, "args: missing value");
	is_int(parse(&o, 1, f, "--top", "-1", "x", NULL), -1, "args: negative --top");
	is_int(parse(&o, 1, f, "--top=ten", "x", NULL), -1, "args: bad --top");
	is_int(parse(&o, 1, f, "--format", "svgz", "x", NULL), -1, "args: unknown format");
	is_int(parse(&o, 1, f, "--lines=2", "x", NULL), -1, "args: flag with a value");
	is_int(parse(&o, 1, f, "-o", NULL), -1, "args: -o without a file");
	is_int(parse(&o, 1, f, "--topx", "x", NULL), -1, "args: prefix of no option");
	is_int(parse(&o, 1, f, "--focus", "a(", "x", NULL), -1, "args: bad --focus regex");
	is_int(parse(&o, 1, f, "--ignore=[z-a]", "x", NULL), -1, "args: bad --ignore regex");
	is_int(parse(&o, 1, f, "--unit", "parsecs", "x", NULL), -1, "args: bad --unit");
	is_int(parse(&o, 1, f, "--peek", "x", "--format", "collapsed", "x", NULL), -1,
	       "args: --peek with a format other than text or tree");
	is_int(parse(&o, 1, f, "--series", "a", "b", NULL), -1, "args: --series is for heaptrace-diff");
	is_int(parse(&o, 2, f, "--series", "a", NULL), -1, "args: --series of one file");
	is_int(parse(&o, 2, f, "--series", "--format", "pprof", "a", "b", NULL), -1,
	       "args: --series as pprof");
	is_int(parse(&o, 2, f, "--format", "heap_v2", "a", "b", NULL), -1, "args: heap_v2 of a diff");
	is_int(parse(&o, 1, f, "--nodecount", "x", NULL), -1, "args: --nodecount needs a number");

	is_int(parse(&o, 1, f, "--focus", "a|b", "--ignore=c", "--unit", "MiB", "--nodecount=7",
		     "--tree", "x", NULL), 0, "args: filters, unit, nodecount, tree");
	ok(strcmp(o.focus, "a|b") == 0 && strcmp(o.ignore, "c") == 0 && o.unit == 2 &&
	   o.top == 7 && o.format == HT_FORMAT_TREE && !o.peek, "args: their values");
	is_int(parse(&o, 1, f, "--peek", "^main$", "--unit=auto", "x", NULL), 0, "args: --peek");
	ok(o.format == HT_FORMAT_TREE && strcmp(o.peek, "^main$") == 0 && o.unit == -1,
	   "args: --peek implies the tree format");
	is_int(parse(&o, 1, f, "--format=pprof", "-o", "x.pb.gz", "x", NULL), 0, "args: pprof");
	ok(o.format == HT_FORMAT_PPROF, "args: pprof format");
	is_int(parse(&o, 1, f, "--format", "svg", "--unit", "B", "x", NULL), 0, "args: svg");
	ok(o.format == HT_FORMAT_SVG && o.unit == 0, "args: svg format, unit B");
	is_int(parse(&o, 1, f, "--format", "heap_v2", "x", NULL), 0, "args: heap_v2");
	is_int(parse(&o, 2, f, "--series", "a", "b", "c", "--format", "svg", NULL), 0,
	       "args: --series of three files");
	ok(o.series && o.nfiles == 3 && strcmp(f[2], "c") == 0 && o.format == HT_FORMAT_SVG,
	   "args: series files and format");

	/* pprof's spellings */
	is_int(parse(&o, 1, f, "-sample_index=alloc_objects", "-nodecount", "4", "-functions",
		     "-focus=a", "-top", "x", NULL), 0, "args: pprof's single-dash flags");
	ok(o.index == HT_ALLOC_OBJECTS && o.top == 4 && o.format == HT_FORMAT_TEXT &&
	   o.naming.granularity == HT_GRAN_FUNCTIONS && strcmp(o.focus, "a") == 0,
	   "args: their values");
	is_int(parse(&o, 2, f, "-base", "a", "b", NULL), 0, "args: -base BASE CURRENT");
	ok(strcmp(o.base_label, "a") == 0 && strcmp(o.cur_label, "b") == 0 &&
	   strcmp(f[0], "a") == 0 && strcmp(f[1], "b") == 0, "args: -base is the base");
	is_int(parse(&o, 2, f, "b", "--diff_base=a", NULL), 0, "args: --diff_base=BASE after CURRENT");
	ok(strcmp(o.base_label, "a") == 0 && strcmp(o.cur_label, "b") == 0, "args: the base first");
	is_int(parse(&o, 1, f, "--version", "x", NULL), 2, "args: --version");
	is_int(parse(&o, 1, f, "--verbose", "x", NULL), 0, "args: --verbose");
	ok(o.verbose, "args: verbose set");
	is_int(parse(&o, 1, f, "-png", "x", NULL), 0, "args: pprof's -png");
	ok(o.format == HT_FORMAT_PNG, "args: -png draws the graph as PNG");
	is_int(parse(&o, 1, f, "-svg", "x", NULL), 0, "args: pprof's -svg");
	ok(o.format == HT_FORMAT_GRAPH_SVG, "args: -svg is pprof's graph, not the flame graph");
	is_int(parse(&o, 2, f, "-dot", "-nodefraction=0.01", "--edgefraction", "0", "a", "b", NULL), 0,
	       "args: pprof's -dot and its fractions");
	ok(o.format == HT_FORMAT_DOT && o.nodefraction == 0.01 && o.edgefraction == 0,
	   "args: their values");
	is_int(parse(&o, 1, f, "--nodefraction", "0.1", "x", NULL), -1,
	       "args: --nodefraction with a format that is not a graph");
	is_int(parse(&o, 1, f, "--format=dot", "--edgefraction", "1.5", "x", NULL), -1,
	       "args: --edgefraction above 1");
	is_int(parse(&o, 1, f, "--format=dot", "--nodefraction", "0.1x", "x", NULL), -1,
	       "args: --nodefraction not a number");
	is_int(parse(&o, 1, f, "-pdf", "x", NULL), -1, "args: pprof's -pdf is not heaptrace's");
	is_int(parse(&o, 1, f, "-base", "a", "b", NULL), -1, "args: -base in heaptrace-report");
	is_int(parse(&o, 2, f, "-base", "a", "b", "c", NULL), -1, "args: -base and two more files");
}

static void test_write_error(const struct ht_snapshot *cur)
{
	struct ht_report_opts o;
	FILE *f = fopen("/dev/full", "w");

	/* /dev/full is part of every Linux system: its absence is a failure */
	if (!ok(f != NULL, "/dev/full opens for writing"))
		return;
	ht_report_opts_init(&o);
	setvbuf(f, NULL, _IONBF, 0);
	is_int(ht_report_write(f, NULL, cur, &o), -1, "write error is reported");
	fclose(f);
}

/* ---- sampling error ---- */

/* A snapshot with one stack of the given estimates and sample counts. */
static struct ht_snapshot *one_stack(uint64_t rate, double space, double objects,
				     uint64_t samples)
{
	struct ht_snapshot *s = ht_snapshot_new();
	struct ht_stack st = { 0 };

	s->rate = rate;
	st.inuse_space = st.alloc_space = space;
	st.inuse_objects = st.alloc_objects = objects;
	st.inuse_samples = st.alloc_samples = samples;
	ht_snapshot_add_stack(s, &st);
	return s;
}

static const uint64_t rng_state = 88172645463325252ull;

/* Samples nsizes kinds of blocks (count[i] blocks of size[i]) through the
 * product's own byte process and weights (preload/sample.h: the gap the
 * shim draws, its countdown, the weight the collector applies), and checks
 * the interval against the truth over many trials: the predicted variance
 * against the variance seen, the mean against the truth, and how often the
 * 95% interval holds the true value. */
static void simulate(const char *what, uint64_t rate, int nsizes, const double *size,
		     const int *count, int trials, double cover_lo, double cover_hi,
		     double var_tol)
{
	double truth = 0, sum = 0, sum2 = 0, sum_var = 0;
	int covered = 0;
	uint64_t rng = rng_state;
	int64_t countdown = ht_sample_gap(&rng, rate);

	for (int i = 0; i < nsizes; i++)
		truth += size[i] * count[i];
	for (int t = 0; t < trials; t++) {
		double space = 0, objects = 0, var, lo, hi;
		uint64_t n = 0;
		struct ht_snapshot *s;
		struct ht_err e;

		for (int i = 0; i < nsizes; i++) {
			uint64_t sz = (uint64_t)size[i];
			double w = ht_sample_weight(sz, rate);

			/* the shim's fast path: count down, sample at <= 0 */
			for (int b = 0; b < count[i]; b++) {
				countdown -= (int64_t)sz;
				if (countdown > 0)
					continue;
				countdown = ht_sample_gap(&rng, rate);
				n++;
				objects += w;
				space += (double)sz * w;
			}
		}
		s = one_stack(rate, space, objects, n);
		var = ht_report_stack_variance(s, &s->stacks[0], HT_INUSE_SPACE);
		ht_report_stack_err(s, &s->stacks[0], HT_INUSE_SPACE, &e);
		ht_err_bounds(&e, space, &lo, &hi);
		ht_snapshot_free(s);
		sum += space;
		sum2 += space * space;
		sum_var += var;
		covered += truth >= lo && truth <= hi;
	}
	{
		double mean = sum / trials, seen = sum2 / trials - mean * mean;
		double predicted = sum_var / trials, cover = (double)covered / trials;

		/* the mean of the trials has sd sqrt(seen / trials): a bias
		 * beyond 4.75 of those is the product's, not chance's */
		ok(fabs(mean - truth) < 4.75 * sqrt(seen / trials), "%s: the estimate is "
		   "unbiased (mean %.0f, truth %.0f, sd of the mean %.0f)", what, mean, truth,
		   sqrt(seen / trials));
		ok(fabs(predicted / seen - 1) < var_tol, "%s: predicted variance %.3g, "
		   "seen %.3g", what, predicted, seen);
		ok(cover >= cover_lo && cover <= cover_hi, "%s: the 95%% interval holds "
		   "the truth in %.1f%% of %d trials", what, 100 * cover, trials);
	}
}

static void test_variance(void)
{
	struct ht_snapshot *s;
	double p, want;

	/* the formula, by hand: 10 samples of 4096-byte blocks at 512 kB */
	s = one_stack(524288, 10 * 4096 / (1 - exp(-4096.0 / 524288)),
		      10 / (1 - exp(-4096.0 / 524288)), 10);
	p = 1 - exp(-4096.0 / 524288);
	want = 10 * (1 - p) / (p * p);
	ok(fabs(ht_report_stack_variance(s, &s->stacks[0], HT_INUSE_OBJECTS) / want - 1) < 1e-9,
	   "variance of objects: n (1-p)/p^2");
	ok(fabs(ht_report_stack_variance(s, &s->stacks[0], HT_ALLOC_SPACE) /
		(want * 4096.0 * 4096.0) - 1) < 1e-9, "variance of space: n (1-p)/p^2 size^2");
	ht_snapshot_free(s);

	s = one_stack(1, 4096, 1, 1);
	is_int(ht_report_stack_variance(s, &s->stacks[0], HT_INUSE_SPACE), 0,
	       "rate 1: no variance");
	ht_snapshot_free(s);
	s = one_stack(524288, 4096, 1, 1);
	s->flags = HT_SNAP_EXACT;
	is_int(ht_report_stack_variance(s, &s->stacks[0], HT_INUSE_SPACE), 0,
	       "exact flag: no variance");
	s->flags = 0;
	s->stacks[0].inuse_samples = 0;
	is_int(ht_report_stack_variance(s, &s->stacks[0], HT_INUSE_SPACE), 0,
	       "no samples: no variance");
	ht_snapshot_free(s);

	{
		static const double one[] = { 4096 };
		static const int n_one[] = { 20000 };
		static const double big[] = { 300000 };
		static const int n_big[] = { 40 };
		static const double mixed[] = { 1000, 100000 };
		static const int n_mixed[] = { 5000, 100 };
		static const double skewed[] = { 64, 1048576 };
		static const int n_skewed[] = { 100000, 5 };

		simulate("small blocks (about 150 samples)", 524288, 1, one, n_one, 2000,
			 0.93, 0.97, 0.1);
		simulate("big blocks (p = 0.44)", 524288, 1, big, n_big, 2000, 0.9, 0.975, 0.1);
		/* the average-size approximation: blocks of 1000 and 100000 bytes
		 * in one stack; the interval is then wider than it needs to be */
		simulate("mixed sizes", 524288, 2, mixed, n_mixed, 2000, 0.93, 1.0, 1.0);
		simulate("mostly tiny, a few huge", 524288, 2, skewed, n_skewed, 2000, 0.9, 1.0, 0.5);
	}
}

/* A diff marks a change within noise with '~', and not one beyond it. */
static void test_noise_marks(void)
{
	struct ht_snapshot *a = make_step(1), *b = make_step(4);
	struct ht_report_opts o;
	char *out;

	ht_report_opts_init(&o);
	o.top = 3;
	out = run(a, b, &o);
	is_text(table(out),
		"Showing nodes accounting for +46.00MB, 90.20% of 51.00MB total\n"
		"Dropped 3 nodes; showing top 3 out of 6\n"
		"±95%: 95% interval of the sampling error; ~: the change is within it (sampling noise)\n"
		"     flat    ±95%  flat%   sum%       cum    ±95%   cum%\n"
		" +48.00MB   ±14MB 94.12% 94.12%  +48.00MB   ±14MB 94.12%  xmalloc util.c:12\n"
		"  -2.50MB~ ±4.2MB -4.90% 89.22%   -2.50MB~ ±4.2MB -4.90%  grow_list list.c:5\n"
		"+512.00kB~ ±2.3MB  0.98% 90.20% +512.00kB~ ±2.3MB  0.98%  make_node tree.c:10\n",
		"diff: the leak is beyond noise, the small changes are marked '~'");
	ok(strstr(out, "\nTotal: base 27.50MB, current 73.50MB, change +46.00MB ±15MB\n") != NULL,
	   "diff: the total change with its interval, not noise");
	free(out);
	ht_snapshot_free(a);
	ht_snapshot_free(b);
	a = make_final();
	b = make_final();
	out = run(a, b, &o);
	ok(!strstr(out, "±") && !strstr(out, "~"), "exact snapshots: no intervals, no marks");
	free(out);
	ht_snapshot_free(a);
	ht_snapshot_free(b);
}

/* ---- tree, peek, filters, units ---- */

static void test_tree(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	o.format = HT_FORMAT_TREE;
	o.top = 3;
	check(NULL, cur, &o, 0,
	      "Showing nodes accounting for 1.88MB, 99.85% of 1.88MB total\n"
	      "Dropped 7 nodes; showing top 3 out of 10\n"
	      "-------------------------------------------------------+-------------\n"
	      "    flat  flat%   sum%      cum   cum%    calls calls% | context\n"
	      "-------------------------------------------------------+-------------\n"
	      "                                         1.00MB 99.61% |   parse_config config.c:42\n"
	      "                                         4.00kB  0.39% |   strdup_or_die util.c:7\n"
	      "  1.00MB 53.35% 53.35%   1.00MB 53.35%                 | xmalloc util.c:12\n"
	      "-------------------------------------------------------+-------------\n"
	      "                                       640.00kB   100% |   walk tree.c:30\n"
	      "640.00kB 33.21% 86.56% 640.00kB 33.21%                 | make_node tree.c:10\n"
	      "-------------------------------------------------------+-------------\n"
	      "                                       258.00kB   100% |   main main.c:20\n"
	      "256.00kB 13.29% 99.85% 258.00kB 13.39%                 | Cache::put(int) cache.cc:88\n"
	      "                                         2.00kB  0.78% |   libc.so.6+0x41999\n"
	      "-------------------------------------------------------+-------------\n",
	      "tree: callers above, callees below each of the top rows");
	o.top = -1;
	o.peek = "^walk|parse_config config.c:50";
	check(NULL, cur, &o, 0,
	      "Showing nodes accounting for 0, 0% of 1.88MB total\n"
	      "------------------------------------------------+-------------\n"
	      "flat flat% sum%      cum   cum%    calls calls% | context\n"
	      "------------------------------------------------+-------------\n"
	      "                                640.00kB   100% |   main main.c:20\n"
	      "                                512.00kB 80.00% |   walk tree.c:30\n"
	      "   0    0%   0% 640.00kB 33.21%                 | walk tree.c:30\n"
	      "                                640.00kB   100% |   make_node tree.c:10\n"
	      "                                512.00kB 80.00% |   walk tree.c:30\n"
	      "------------------------------------------------+-------------\n"
	      "                                  4.00kB   100% |   main main.c:20\n"
	      "   0    0%   0%   4.00kB  0.21%                 | parse_config config.c:50\n"
	      "                                  4.00kB   100% |   strdup_or_die util.c:7\n"
	      "------------------------------------------------+-------------\n",
	      "peek: only the rows matching, recursion shown as an edge to itself");
	o.peek = "xmalloc";
	check(base, cur, &o, 0,
	      "Showing nodes accounting for +512.00kB, 46.93% of 1.07MB total\n"
	      "----------------------------------------------------------+-------------\n"
	      "     flat  flat%   sum%       cum   cum%     calls calls% | context\n"
	      "----------------------------------------------------------+-------------\n"
	      "                                         +512.00kB   100% |   parse_config config.c:42\n"
	      "+512.00kB 46.93% 46.93% +512.00kB 46.93%                  | xmalloc util.c:12\n"
	      "----------------------------------------------------------+-------------\n",
	      "peek in a diff: signed values");
}

static void test_filters(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	struct ht_report_opts o;
	char *out;

	ht_report_opts_init(&o);
	o.focus = "walk";
	o.ignore = "tree.c:10$";
	out = run(NULL, cur, &o);
	ok(strstr(out, "\nActive filters: focus=walk ignore=tree.c:10$\n") != NULL,
	   "filters: named in the header");
	is_text(table(out),
		"Showing nodes accounting for 0, 0% of 1.88MB total\n"
		"±95%: 95% interval of the sampling error (the larger side of it)\n"
		"flat ±95% flat% sum% cum ±95% cum%\n",
		"filters: focus and ignore leave nothing; the total is of everything");
	free(out);

	o.ignore = NULL;
	o.focus = "parse_config";
	o.naming.granularity = HT_GRAN_FUNCTIONS;
	o.format = HT_FORMAT_COLLAPSED;
	check(NULL, cur, &o, 1,
	      "main;parse_config;strdup_or_die;xmalloc 4096\n"
	      "main;parse_config;xmalloc 1048576\n",
	      "focus: only the stacks through a matching frame");
	o.focus = NULL;
	o.ignore = "^(walk|main)$";
	check(NULL, cur, &o, 1, "", "ignore: a frame anywhere in the stack drops it");
	o.ignore = "Cache";
	o.format = HT_FORMAT_TEXT;
	check(base, cur, &o, 0,
	      "Showing nodes accounting for -63.02kB, -5.78% of 1.07MB total\n"
	      "±95%: 95% interval of the sampling error; ~: the change is within it (sampling noise)\n"
	      "     flat    ±95%   flat%    sum%       cum    ±95%    cum%\n"
	      "-512.00kB~ ±4.0MB -46.93% -46.93% -512.00kB~ ±4.0MB -46.93%  make_node\n"
	      "+512.00kB~ ±4.1MB  46.93%      0% +512.00kB~ ±4.1MB  46.93%  xmalloc\n"
	      " -64.00kB~ ±3.1MB  -5.87%  -5.87%  -64.00kB~ ±3.1MB  -5.87%  grow_list\n"
	      "   +1000B~ ±3.1MB   0.09%  -5.78%    +1000B~ ±3.1MB   0.09%  0x7fffdeadbeef\n"
	      "        0      ±0      0%  -5.78% +512.00kB~ ±4.1MB  46.93%  parse_config\n"
	      "        0      ±0      0%  -5.78% -512.00kB~ ±4.0MB -46.93%  walk\n"
	      "        0      ±0      0%  -5.78%  -63.02kB~ ±5.3MB  -5.78%  main\n",
	      "filters in a diff: percentages of the whole change");
}

static void test_units(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	o.unit = 0;
	o.top = 3;
	check(NULL, cur, &o, 0,
	      "Showing nodes accounting for 1970176B, 99.85% of 1973224B total\n"
	      "Dropped 7 nodes; showing top 3 out of 10\n"
	      "±95%: 95% interval of the sampling error (the larger side of it)\n"
	      "    flat      ±95%  flat%   sum%      cum      ±95%   cum%\n"
	      "1052672B ±3125939B 53.35% 53.35% 1052672B ±3125939B 53.35%  xmalloc util.c:12\n"
	      " 655360B ±2814065B 33.21% 86.56%  655360B ±2814065B 33.21%  make_node tree.c:10\n"
	      " 262144B ±2168346B 13.29% 99.85%  264192B ±3014653B 13.39%  Cache::put(int) cache.cc:88\n",
	      "--unit B: whole bytes");
	o.unit = 2;
	o.index = HT_INUSE_OBJECTS;
	check(base, cur, &o, 0,
	      "Showing nodes accounting for -20, -66.67% of 30 total\n"
	      "Dropped 6 nodes; showing top 3 out of 9\n"
	      "±95%: 95% interval of the sampling error; ~: the change is within it (sampling noise)\n"
	      "flat   ±95%   flat%    sum% cum   ±95%    cum%\n"
	      " -14~  ±121 -46.67% -46.67% -14~  ±121 -46.67%  make_node tree.c:10\n"
	      "  -8~  ±393 -26.67% -73.33%  -8~  ±393 -26.67%  grow_list list.c:5\n"
	      "  +2~ ±1813   6.67% -66.67%  +2~ ±1813   6.67%  xmalloc util.c:12\n",
	      "--unit MB: counts stay whole");
	o.index = HT_ALLOC_SPACE;
	check(base, cur, &o, 0,
	      "Showing nodes accounting for +0.94MB, 88.18% of 1.07MB total\n"
	      "Dropped 4 nodes; showing top 3 out of 7\n"
	      "±95%: 95% interval of the sampling error; ~: the change is within it (sampling noise)\n"
	      "   flat    ±95%  flat%   sum%     cum    ±95%   cum%\n"
	      "+1.00MB~ ±4.3MB 93.86% 93.86% +1.00MB~ ±4.3MB 93.86%  xmalloc util.c:12\n"
	      "-0.06MB~ ±3.1MB -5.87% 87.99% -0.06MB~ ±3.1MB -5.87%  grow_list list.c:5\n"
	      "+0.00MB~ ±3.1MB  0.18% 88.18% +0.00MB~ ±3.1MB  0.18%  libc.so.6+0x41999\n",
	      "--unit MB: bytes in MB, intervals too");
}

static int write_fixtures(const char *dir)
{
	struct { const char *name; struct ht_snapshot *(*make)(void); } fx[] = {
		{ "base.heap", make_base }, { "cur.heap", make_cur }, { "final.heap", make_final },
		{ "step1.heap", make_step1 }, { "step2.heap", make_step2 },
		{ "step3.heap", make_step3 }, { "step4.heap", make_step4 },
	};
	char path[4096], err[1024];

	for (size_t i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		struct ht_snapshot *s = fx[i].make();
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir, fx[i].name);
		rc = ht_snapshot_write_file(s, path, err, sizeof(err));
		ht_snapshot_free(s);
		if (rc)
			ht_die(1, "%s", err);
	}
	/* Not a snapshot: the same 4096 pseudo-random bytes every time. */
	{
		unsigned char junk[4096];
		uint32_t x = 12345;

		for (size_t i = 0; i < sizeof(junk); i++) {
			x = x * 1103515245 + 12345;
			junk[i] = (unsigned char)(x >> 16);
		}
		snprintf(path, sizeof(path), "%s/random.heap", dir);
		if (ht_file_write(path, junk, sizeof(junk), err, sizeof(err)))
			ht_die(1, "%s", err);
	}
	return 0;
}

/* --hide: the built-in list takes xmalloc out, a regex of one's own
 * replaces the list, a stack of hidden frames keeps its leaf; --traces. */
static void test_hide(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	struct ht_report_opts o;
	char *out;

	ht_report_opts_init(&o);
	o.hide = NULL;
	out = run(NULL, cur, &o);
	ok(strstr(out, "\nType: inuse_space; one sample per 512.00kB allocated (estimates)\n"
		    "Hidden: xmalloc (the built-in list; --hide '' shows them)\n") != NULL,
	   "hide: the built-in list is named in the header, after the type");
	ok(strstr(out, "xmalloc") == strstr(out, "Hidden: xmalloc") + 8 &&
	   strstr(out, "  1.00MB ±2.3MB 53.14% 53.14%   1.00MB ±2.3MB 53.14%  parse_config config.c:42\n"),
	   "hide: xmalloc is in no row; its flat is parse_config's");
	free(out);
	o.naming.granularity = HT_GRAN_FUNCTIONS;
	o.format = HT_FORMAT_COLLAPSED;
	o.focus = "parse_config";
	check(NULL, cur, &o, 1,
	      "main;parse_config 1048576\n"
	      "main;parse_config;strdup_or_die 4096\n",
	      "hide: collapsed, an inlined caller of xmalloc gets its figures");
	o.hide = "^parse_config$";
	check(NULL, cur, &o, 1, "", "hide: a hidden frame cannot be focused on");
	o.focus = NULL;
	o.hide = ".";
	o.top = 3;
	check(NULL, cur, &o, 1,
	      "Cache::put(int) 262144\n"
	      "make_node 655360\n"
	      "xmalloc 1052672\n",
	      "hide: a stack whose frames are all hidden keeps its leaf");
	o.top = -1;
	o.hide = "^parse_config$";
	o.format = HT_FORMAT_TEXT;
	out = run(base, cur, &o);
	ok(strstr(out, "\nHidden: parse_config (--hide '^parse_config$')\n") != NULL &&
	   !strstr(out, "parse_config config.c"), "hide: a regex of one's own, in a diff");
	free(out);
	o.hide = NULL;
	o.format = HT_FORMAT_TRACES;
	o.top = 1;
	check(NULL, cur, &o, 1,
	      "# File: - (demo, pid 4242), snapshot 2, taken 2023-11-14 22:13:40 UTC, 20.0s after start, running\n"
	      "# Memory: RSS 8.00MB (peak 9.00MB), heap in use 6.00MB (glibc), RSS minus heap 2.00MB (--stats for more)\n"
	      "# Type: inuse_space; one sample per 512.00kB allocated (estimates)\n"
	      "# Hidden: xmalloc (the built-in list; --hide '' shows them)\n"
	      "# Total: 1.88MB ±4.2MB (95% interval 193.13kB to 6.08MB)\n"
	      "# Detection limit: a stack holding less than 1.50MB has a 5% chance or more of no sample, and is then not listed\n"
	      "trace 1 value=1048576 interval=2446936 inuse_space=1048576 inuse_objects=4 alloc_space=2097152 alloc_objects=8\n"
	      "\tparse_config\n"
	      "\tmain\n",
	      "traces: the largest stack, whole, after the header");
}

int main(int argc, char **argv)
{
	struct ht_snapshot *cur, *base;

	ht_progname = "test_report";
	if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0)
		return write_fixtures(argv[2]);
	cur = make_cur();
	base = make_base();
	test_top(cur);
	test_indexes(cur);
	test_collapsed(cur);
	test_diff(base, cur);
	test_granularity(cur);
	test_naming();
	test_collapsed_strings();
	test_stacks_api(base, cur);
	test_final();
	test_variance();
	test_noise_marks();
	test_tree(base, cur);
	test_filters(base, cur);
	test_hide(base, cur);
	test_units(base, cur);
	test_args();
	test_write_error(cur);
	ht_snapshot_free(base);
	ht_snapshot_free(cur);
	return done_testing();
}
