/* Unit tests of the reports of time in the heap (collector/report/): the
 * temporary-block indexes, lifetimes, ages and sizes, on snapshots built
 * by hand with known cells. */
#include "report/report.h"
#include "report/render.h"
#include "snapshot/snapshot.h"
#include "build.h"
#include "tap.h"
#include "lib/util.h"

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
	o.format = HT_FORMAT_TEXT;
	out = run(NULL, old, &o, &rc);
	is_int(rc, -1, "temp_space of an old file: refused");
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

int main(int argc, char **argv)
{
	(void)argv;
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
	return done_testing();
}
