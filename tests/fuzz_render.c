/* libFuzzer target for the readers and every renderer: an input that
 * decodes must render in each output format (text top, tree, peek,
 * collapsed, pprof, heap_v2, SVG flame graph, stats, the call graph in
 * DOT, Prometheus metrics, series text and SVG, and diffs against itself
 * and a fixed base) without a crash, a leak, a sanitizer report or a hang;
 * one that does not decode must say why. Options (counter, granularity,
 * unit, top, filters, the graph's fractions) are chosen from a hash of the
 * input, so mutations reach them too. `make fuzz-render` runs it for long,
 * tests/t_fuzz.sh briefly. As tests/fuzz_snapshot, a raw input is tried as
 * a whole file and as a body wrapped in a valid header and zstd frame. */
#include "report/report.h"
#include "report/render.h"
#include "report/report_int.h"
#include "snapshot/snapshot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;
static struct ht_snapshot *fixed_base;

/* A small base for diffs: two stacks, one symbolized, one an address. */
static struct ht_snapshot *make_base(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	struct ht_function f = { 0 };
	struct ht_line l = { 0, 12 };
	struct ht_location loc = { 0x1000, HT_NONE, 0, 1 };
	struct ht_stack st = { 0 };
	uint32_t fr[2] = { 0, 1 };

	f.name = f.system_name = ht_snapshot_strdup(s, "main");
	f.file = ht_snapshot_strdup(s, "main.c");
	s->exe = s->cmdline = ht_snapshot_strdup(s, "base");
	s->rate = 524288;
	s->time_ns = 2000000000;
	s->start_time_ns = 1000000000;
	ht_snapshot_add_function(s, &f);
	ht_snapshot_add_line(s, &l);
	ht_snapshot_add_location(s, &loc);
	loc.address = 0x2000;
	loc.nlines = 0;
	ht_snapshot_add_location(s, &loc);
	st.first_frame = ht_snapshot_add_frames(s, fr, 2);
	st.nframes = 2;
	st.inuse_objects = st.alloc_objects = 3;
	st.inuse_space = st.alloc_space = 3 << 20;
	st.inuse_samples = st.alloc_samples = 3;
	ht_snapshot_add_stack(s, &st);
	st.first_frame = ht_snapshot_add_frames(s, fr + 1, 1);
	st.nframes = 1;
	st.inuse_space = 0;
	st.inuse_objects = 0;
	ht_snapshot_add_stack(s, &st);
	return s;
}

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/* Cells (and temporary counters) for the stacks of s made from the input,
 * until snapshot files carry them from the collector: each stack gets up
 * to three cells of kinds and buckets taken from data, with values from
 * 0 to 2^63, so the views of the cells are fuzzed too. */
static void add_cells(struct ht_snapshot *s, const uint8_t *data, size_t size)
{
	static const double values[] = { 0, 1, 0.5, 3e3, 1e9, 9.2e18 };
	size_t at = 0;

	for (size_t i = 0; i < s->nstacks && i < 4096 && size; i++) {
		unsigned last = 0, kind_at = 0;

		s->stacks[i].temp_objects = values[data[at % size] % 6];
		s->stacks[i].temp_space = values[data[(at + 1) % size] % 6];
		s->stacks[i].temp_samples = data[(at + 2) % size] & 3;
		for (int k = 0; k < 3; k++, at += 4) {
			struct ht_cell c = { (uint32_t)i, 0, 0, 0, 0, 0, 0, 0, 0 };
			uint8_t b = data[at % size];

			c.kind = (uint8_t)(1 + (b & 3) % 3);
			c.bucket = (uint8_t)(data[(at + 1) % size] % (c.kind == HT_CELL_SIZE ?
								       HT_SIZE_BUCKETS : HT_TIME_BUCKETS));
			if (c.kind < kind_at || (c.kind == kind_at && c.bucket <= last))
				continue;
			kind_at = c.kind;
			last = c.bucket;
			c.objects = values[data[(at + 2) % size] % 6];
			c.space = values[data[(at + 3) % size] % 6];
			c.var_objects = c.objects * values[b >> 5 & 3];
			c.var_space = c.space * values[b >> 5 & 3];
			c.samples = b >> 6;
			ht_snapshot_add_cell(s, &c);
		}
	}
	s->has_cells = 1;
}

/* The views of the cells, --temporary-under, --color age. */
static void render_cells(struct ht_snapshot *s, struct ht_report_opts o)
{
	struct ht_snapshot *series[2] = { s, s };
	const char *labels[2] = { "a.heap", "b.heap" };
	char err[256];

	o.format = HT_FORMAT_TEXT;
	for (int v = HT_VIEW_LIFETIMES; v <= HT_VIEW_SIZES; v++) {
		o.view = (enum ht_view)v;
		ht_report_write(sink, NULL, s, &o);
	}
	o.view = HT_VIEW_NONE;
	o.format = HT_FORMAT_SVG;
	o.color_age = 1;
	ht_report_write(sink, NULL, s, &o);
	o.color_age = 0;
	o.index = HT_TEMP_SPACE;
	o.temp_under_ns = 1e6;
	o.temp_edge = 10;
	o.format = HT_FORMAT_PPROF;
	ht_report_write(sink, NULL, s, &o);
	ht_report_write(sink, s, s, &o);
	o.format = HT_FORMAT_TEXT;
	ht_report_write(sink, NULL, s, &o);
	o.index = HT_INUSE_SPACE;
	o.temp_under_ns = 0;
	o.series = 1;
	ht_series_write(sink, series, labels, 2, &o, err, sizeof(err));
}

static void render_all(struct ht_snapshot *s, uint64_t h)
{
	static const enum ht_format formats[] = {
		HT_FORMAT_TEXT, HT_FORMAT_TREE, HT_FORMAT_COLLAPSED, HT_FORMAT_PPROF,
		HT_FORMAT_SVG, HT_FORMAT_HEAP_V2, HT_FORMAT_STATS, HT_FORMAT_DOT,
		HT_FORMAT_TRACES,
	};
	/* --hide: the built-in list, none, every frame (stacks keep their leaf) */
	static const char *const hides[] = { NULL, "", ".", "^x|a" };
	static const char *const filters[] = { NULL, "main", "^0x", "[;]|a" };
	static const double fractions[] = { -1, 0, 0.01, 1 };
	struct ht_snapshot *series[3] = { s, fixed_base, s };
	const char *labels[3] = { "a.heap", "b.heap", "c.heap" };
	struct ht_report_opts o;
	char err[256];

	ht_report_opts_init(&o);
	o.index = (enum ht_index)(h % HT_NINDEX);
	o.naming.granularity = (enum ht_granularity)(h >> 2 & 3);
	o.naming.no_demangle = (int)(h >> 4 & 1);
	o.unit = (int)(h >> 5 & 7) - 1;
	if (o.unit > 4)
		o.unit = -1;
	o.top = (long)(h >> 8 & 7) - 1;
	o.focus = filters[h >> 11 & 3];
	o.ignore = filters[h >> 13 & 3];
	o.nodefraction = fractions[h >> 15 & 3];
	o.edgefraction = fractions[h >> 17 & 3];
	o.hide = hides[h >> 19 & 3];
	o.base_label = "base.heap";
	o.cur_label = "cur.heap";

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		o.format = formats[i];
		ht_report_write(sink, NULL, s, &o);
		if (o.format != HT_FORMAT_HEAP_V2) {
			ht_report_write(sink, s, s, &o);
			ht_report_write(sink, fixed_base, s, &o);
			ht_report_write(sink, s, fixed_base, &o);
		}
	}
	o.format = HT_FORMAT_TREE;
	o.peek = "a|main";
	ht_report_write(sink, NULL, s, &o);
	o.peek = NULL;
	o.series = 1;
	o.format = HT_FORMAT_TEXT;
	ht_series_write(sink, series, labels, 3, &o, err, sizeof(err));
	o.format = HT_FORMAT_SVG;
	ht_series_write(sink, series, labels, 3, &o, err, sizeof(err));
	ht_report_write_metrics(sink, s, (size_t)(h % 20));
	o.series = 0;
	render_cells(s, o);
}

static void try_render(const void *buf, size_t len, uint64_t h)
{
	struct ht_snapshot *s;
	char err[256];

	if (ht_snapshot_decode(buf, len, &s, err, sizeof(err)) == 0) {
		if (!s->has_cells && (h & 1))
			add_cells(s, buf, len);
		render_all(s, h);
		ht_snapshot_free(s);
	} else if (!err[0]) {
		abort(); /* a failure must say why */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h = hash(data, size);
	char err[256];
	void *img;
	size_t len;

	if (!sink) {
		sink = fopen("/dev/null", "w");
		fixed_base = make_base();
		if (!sink || !fixed_base)
			abort();
	}
	try_render(data, size, h);
	if (ht_snapshot_wrap_body(data, size, &img, &len, err, sizeof(err)) == 0) {
		try_render(img, len, h);
		free(img);
	}
	return 0;
}
