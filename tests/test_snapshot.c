/* Unit test of the snapshot module: building, encode/decode round trips,
 * atomic file writes, and decoding of empty, foreign, truncated, corrupt
 * and randomly mutated input (which must fail cleanly, never crash). */
#include "lib/fileio.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"
#include "body.h"
#include "tap.h"
#include "xorshift.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define ERRLEN 256

/* ---- a snapshot with every kind of element ---- */

static const uint8_t build_id[20] = {
	0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
};

static struct ht_snapshot *build_full(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	struct ht_module m = { 0 };
	struct ht_function f = { 0 };
	struct ht_line l;
	struct ht_location loc;
	struct ht_stack st = { 0 };
	uint32_t frames0[] = { 1, 0 }, frames1[] = { 2, 0, 1 };

	s->flags = HT_SNAP_FINAL | HT_SNAP_EXACT;
	s->pid = 4242;
	s->exe = ht_snapshot_strdup(s, "/usr/bin/app");
	s->cmdline = ht_snapshot_strdup(s, "app --threads 4 \"quoted\"");
	s->start_time_ns = 1700000000123456789LL;
	s->time_ns = 1700000042000000001LL;
	s->rate = 524288;
	s->max_depth = 64;
	s->seq = 3;
	s->peak_time_ns = 1700000001500000000ll;
	s->counts = (struct ht_counts){ 1000001, 999000, 77, 123456789012ULL };
	s->drops = (struct ht_drops){ 1, 2, 3, 4, 5 };

	ht_snapshot_add_metric(s, "rss_bytes", 123456789.0);
	ht_snapshot_add_metric(s, "jemalloc.stats.allocated", 0.5);

	m.path = ht_snapshot_strdup(s, "/usr/bin/app");
	m.start = 0x400000;
	m.end = 0x500000;
	m.bias = 0;
	memcpy(m.build_id, build_id, sizeof(build_id));
	m.build_id_len = sizeof(build_id);
	ht_snapshot_add_module(s, &m);
	memset(&m, 0, sizeof(m));
	m.path = ht_snapshot_strdup(s, "/lib/x86_64-linux-gnu/libc.so.6");
	m.start = 0x7f0000000000ULL;
	m.end = 0x7f0000200000ULL;
	m.bias = 0x7f0000000000ULL;
	ht_snapshot_add_module(s, &m);

	f.name = ht_snapshot_strdup(s, "main");
	f.system_name = f.name;
	f.file = ht_snapshot_strdup(s, "app.c");
	ht_snapshot_add_function(s, &f);
	f.name = ht_snapshot_strdup(s, "helper(int)");
	f.system_name = ht_snapshot_strdup(s, "_Z6helperi");
	f.file = ht_snapshot_strdup(s, "app.h");
	ht_snapshot_add_function(s, &f);
	f.name = ht_snapshot_strdup(s, "malloc");
	f.system_name = f.name;
	f.file = ht_snapshot_strdup(s, "");
	ht_snapshot_add_function(s, &f);

	l = (struct ht_line){ 1, 10 };  /* helper, inlined into main */
	ht_snapshot_add_line(s, &l);
	l = (struct ht_line){ 0, 42 };  /* main */
	ht_snapshot_add_line(s, &l);
	l = (struct ht_line){ 2, 0 };   /* malloc, line unknown */
	ht_snapshot_add_line(s, &l);

	loc = (struct ht_location){ 0x401234, 0, 0, 2 };
	ht_snapshot_add_location(s, &loc);
	loc = (struct ht_location){ 0x7f0000012345ULL, 1, 2, 1 };
	ht_snapshot_add_location(s, &loc);
	loc = (struct ht_location){ 0xdeadbeef, HT_NONE, 0, 0 };
	ht_snapshot_add_location(s, &loc);

	st.first_frame = ht_snapshot_add_frames(s, frames0, 2);
	st.nframes = 2;
	st.inuse_objects = 3.25;
	st.inuse_space = 1048576.5;
	st.alloc_objects = 10;
	st.alloc_space = 4194304;
	st.inuse_samples = 2;
	st.alloc_samples = 9;
	st.err = (struct ht_stack_error){ { 1.5e12, 3.5, 7e12, 12.25 }, 511.5, 1048064.25, 24,
					  1 << 20, 600000, 0.125, 0.0625 };
	st.peak_objects = 4.5;
	st.peak_space = 2097152.25;
	st.peak_samples = 3;
	ht_snapshot_add_stack(s, &st);
	st.first_frame = ht_snapshot_add_frames(s, frames1, 3);
	st.nframes = 3;
	st.inuse_objects = 0;
	st.inuse_space = 0;
	st.alloc_objects = 1e12;
	st.alloc_space = 1.0 / 3.0;
	st.inuse_samples = 0;
	st.alloc_samples = UINT64_MAX;
	st.peak_objects = 1;
	st.peak_space = 1.0 / 3.0;
	st.peak_samples = 1;
	ht_snapshot_add_stack(s, &st);
	memset(&st, 0, sizeof(st));
	s->stack_error = 1;
	st.first_frame = ht_snapshot_add_frames(s, NULL, 0); /* empty stack */
	st.alloc_objects = 1;
	ht_snapshot_add_stack(s, &st);
	return s;
}

static int same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Compares every field; returns the number of mismatches (each reported). */
static int compare(const struct ht_snapshot *a, const struct ht_snapshot *b)
{
	int before = tap_failed;
	size_t i;

	is_int(b->version, a->version, "version");
	is_int(b->flags, a->flags, "flags");
	is_int(b->pid, a->pid, "pid");
	is_str(b->exe, a->exe, "exe");
	is_str(b->cmdline, a->cmdline, "cmdline");
	is_int(b->start_time_ns, a->start_time_ns, "start_time_ns");
	is_int(b->time_ns, a->time_ns, "time_ns");
	is_int(b->rate, a->rate, "rate");
	is_int(b->max_depth, a->max_depth, "max_depth");
	is_int(b->seq, a->seq, "seq");
	ok(memcmp(&a->counts, &b->counts, sizeof(a->counts)) == 0, "counts");
	ok(memcmp(&a->drops, &b->drops, sizeof(a->drops)) == 0, "drops");

	is_int(b->nmetrics, a->nmetrics, "nmetrics");
	for (i = 0; i < a->nmetrics && i < b->nmetrics; i++) {
		is_str(b->metrics[i].name, a->metrics[i].name, "metric %zu name", i);
		ok(same_double(b->metrics[i].value, a->metrics[i].value), "metric %zu value", i);
	}
	is_int(b->nmodules, a->nmodules, "nmodules");
	for (i = 0; i < a->nmodules && i < b->nmodules; i++) {
		const struct ht_module *x = &a->modules[i], *y = &b->modules[i];

		is_str(y->path, x->path, "module %zu path", i);
		ok(x->start == y->start && x->end == y->end && x->bias == y->bias,
		   "module %zu range and bias", i);
		is_int(y->build_id_len, x->build_id_len, "module %zu build id length", i);
		ok(memcmp(x->build_id, y->build_id, x->build_id_len) == 0,
		   "module %zu build id", i);
	}
	is_int(b->nfunctions, a->nfunctions, "nfunctions");
	for (i = 0; i < a->nfunctions && i < b->nfunctions; i++) {
		is_str(b->functions[i].name, a->functions[i].name, "function %zu name", i);
		is_str(b->functions[i].system_name, a->functions[i].system_name,
		       "function %zu system name", i);
		is_str(b->functions[i].file, a->functions[i].file, "function %zu file", i);
	}
	is_int(b->nlines, a->nlines, "nlines");
	for (i = 0; i < a->nlines && i < b->nlines; i++)
		ok(a->lines[i].function == b->lines[i].function &&
		   a->lines[i].line == b->lines[i].line, "line %zu", i);
	is_int(b->nlocations, a->nlocations, "nlocations");
	for (i = 0; i < a->nlocations && i < b->nlocations; i++) {
		const struct ht_location *x = &a->locations[i], *y = &b->locations[i];

		ok(x->address == y->address && x->module == y->module &&
		   x->first_line == y->first_line && x->nlines == y->nlines,
		   "location %zu", i);
	}
	is_int(b->nframes, a->nframes, "nframes");
	ok(a->nframes == b->nframes &&
	   memcmp(a->frames, b->frames, a->nframes * sizeof(*a->frames)) == 0, "frames");
	is_int(b->nstacks, a->nstacks, "nstacks");
	for (i = 0; i < a->nstacks && i < b->nstacks; i++) {
		const struct ht_stack *x = &a->stacks[i], *y = &b->stacks[i];

		ok(x->first_frame == y->first_frame && x->nframes == y->nframes &&
		   same_double(x->inuse_objects, y->inuse_objects) &&
		   same_double(x->inuse_space, y->inuse_space) &&
		   same_double(x->alloc_objects, y->alloc_objects) &&
		   same_double(x->alloc_space, y->alloc_space) &&
		   x->inuse_samples == y->inuse_samples &&
		   x->alloc_samples == y->alloc_samples &&
		   same_double(x->peak_objects, y->peak_objects) &&
		   same_double(x->peak_space, y->peak_space) &&
		   x->peak_samples == y->peak_samples, "stack %zu", i);
		ok(memcmp(&x->err, &y->err, sizeof(x->err)) == 0, "stack %zu: its error sums", i);
	}
	is_int(b->stack_error, a->stack_error, "stack error section present as written");
	is_int(b->peak_time_ns, a->peak_time_ns, "peak_time_ns");
	return tap_failed - before;
}

/* Touches everything a decoded snapshot points to, so that a validation gap
 * shows up under ASan or valgrind. */
static size_t walk(const struct ht_snapshot *s)
{
	size_t i, j, k, sum = strlen(s->exe) + strlen(s->cmdline);

	for (i = 0; i < s->nmetrics; i++)
		sum += strlen(s->metrics[i].name);
	for (i = 0; i < s->nmodules; i++)
		sum += strlen(s->modules[i].path) + s->modules[i].build_id[s->modules[i].build_id_len ?
			s->modules[i].build_id_len - 1 : 0];
	for (i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		for (j = 0; j < st->nframes; j++) {
			const struct ht_location *l = &s->locations[s->frames[st->first_frame + j]];

			if (l->module != HT_NONE)
				sum += strlen(s->modules[l->module].path);
			for (k = 0; k < l->nlines; k++) {
				const struct ht_function *f =
					&s->functions[s->lines[l->first_line + k].function];

				sum += strlen(f->name) + strlen(f->system_name) + strlen(f->file);
			}
		}
	}
	return sum;
}

/* ---- building bodies by hand (heaptrace(5)) ---- */

/* Strings "" and "x", and a meta section naming them. */
static void b_minimal(struct body *b)
{
	b_section(b, T_STRINGS, 8 + 4 + 4 + 1);
	b_u64(b, 2);
	b_u32(b, 0);
	b_u32(b, 1);
	b_bytes(b, "x", 1);
	b_section(b, T_META, 56);
	b_u32(b, 0);    /* flags */
	b_u32(b, 8);    /* max_depth */
	b_u64(b, 77);   /* pid */
	b_u32(b, 1);    /* exe */
	b_u32(b, 0);    /* cmdline */
	b_u64(b, 1);    /* start_time_ns */
	b_u64(b, 2);    /* time_ns */
	b_u64(b, 512);  /* rate */
	b_u32(b, 0);    /* seq */
	b_u32(b, 0);
}

/* One function naming string fn, one line naming function lf, one location
 * (module mod, lines [fl, fl+nl)), one frame naming location fr, and one
 * stack over frames [ff, ff+nf) with inuse_space v. */
struct shape {
	uint32_t fn, lf, mod, fl, nl, fr, ff, nf;
	double v;
};

static const struct shape good = { 1, 0, HT_NONE, 0, 1, 0, 0, 1, 16 };

static void b_shape(struct body *b, const struct shape *sh)
{
	b_minimal(b);
	b_section(b, T_FUNCTIONS, 8 + 12);
	b_u64(b, 1);
	b_u32(b, sh->fn);
	b_u32(b, sh->fn);
	b_u32(b, 0);
	b_section(b, T_LINES, 8 + 8);
	b_u64(b, 1);
	b_u32(b, sh->lf);
	b_u32(b, 7);
	b_section(b, T_LOCATIONS, 8 + 24);
	b_u64(b, 1);
	b_u64(b, 0x1000);
	b_u32(b, sh->mod);
	b_u32(b, sh->fl);
	b_u32(b, sh->nl);
	b_u32(b, 0);
	b_section(b, T_FRAMES, 8 + 4);
	b_u64(b, 1);
	b_u32(b, sh->fr);
	b_section(b, T_STACKS, 8 + 56);
	b_u64(b, 1);
	b_u32(b, sh->ff);
	b_u32(b, sh->nf);
	b_f64(b, 1);
	b_f64(b, sh->v);
	b_f64(b, 1);
	b_f64(b, 16);
	b_u64(b, 1);
	b_u64(b, 1);
}

/* Wraps body and decodes it. Returns decode's result; the message is in err. */
static int decode_body(const struct body *b, char *err, struct ht_snapshot **out)
{
	void *img;
	size_t len;
	int rc;

	*out = NULL;
	if (ht_snapshot_wrap_body(b->p, b->n, &img, &len, err, ERRLEN)) {
		printf("# wrap failed: %s\n", err);
		return 99;
	}
	rc = ht_snapshot_decode(img, len, out, err, ERRLEN);
	free(img);
	return rc;
}

/* Decodes a hand-made body that must fail with a message starting with want. */
static void expect_body_error(struct body *b, const char *want, const char *what)
{
	char err[ERRLEN] = "";
	struct ht_snapshot *s;
	int rc = decode_body(b, err, &s);

	if (!ok(rc == -1 && s == NULL && strncmp(err, want, strlen(want)) == 0,
		"%s: fails", what))
		printf("#   rc %d, got '%s', want '%s...'\n", rc, err, want);
	else
		printf("#   %s\n", err);
	ht_snapshot_free(s);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void test_shape(struct shape sh, const char *want, const char *what)
{
	struct body b = { 0 };

	b_shape(&b, &sh);
	expect_body_error(&b, want, what);
}

static void test_hand_bodies(void)
{
	char err[ERRLEN] = "";
	struct ht_snapshot *s;
	struct body b = { 0 };
	struct shape sh;

	/* The minimal body decodes; absent sections mean empty or zero. */
	b_minimal(&b);
	if (!ok(decode_body(&b, err, &s) == 0 && s, "minimal body decodes"))
		printf("#   %s\n", err);
	if (s) {
		is_str(s->exe, "x", "minimal: exe");
		is_str(s->cmdline, "", "minimal: cmdline");
		is_int(s->pid, 77, "minimal: pid");
		is_int(s->rate, 512, "minimal: rate");
		ok(s->nstacks == 0 && s->nframes == 0 && s->nmodules == 0 &&
		   s->counts.alloc_calls == 0 && s->drops.unmatched == 0,
		   "minimal: absent sections are empty");
		/* A decoded snapshot stays appendable. */
		is_int(ht_snapshot_add_metric(s, "late", 1), 0, "decoded snapshot takes a metric");
		ht_snapshot_free(s);
	}
	/* An unknown section is skipped. */
	b_section(&b, 99, 5);
	b_bytes(&b, "hello", 5);
	if (!ok(decode_body(&b, err, &s) == 0, "unknown section is skipped"))
		printf("#   %s\n", err);
	ht_snapshot_free(s);
	free(b.p);
	memset(&b, 0, sizeof(b));

	b_shape(&b, &good);
	if (!ok(decode_body(&b, err, &s) == 0, "hand-made shape decodes"))
		printf("#   %s\n", err);
	if (s)
		ok(walk(s) > 0, "hand-made shape walks");
	ht_snapshot_free(s);
	free(b.p);
	memset(&b, 0, sizeof(b));

	/* the stack error section: one entry per stack, numbers >= 0 */
	b_shape(&b, &good);
	b_section(&b, T_STACK_ERROR, 8 + 88);
	b_u64(&b, 1);
	for (int k = 0; k < 6; k++)
		b_f64(&b, k + 0.5);
	b_u64(&b, 64);
	b_u64(&b, 128);
	b_u64(&b, 0);
	b_f64(&b, 0);
	b_f64(&b, 0);
	if (!ok(decode_body(&b, err, &s) == 0 && s && s->stack_error &&
		s->stacks[0].err.var[HT_ALLOC_SPACE] == 2.5 && s->stacks[0].err.min_size == 64,
		"stack error section decodes"))
		printf("#   %s\n", err);
	ht_snapshot_free(s);
	free(b.p);
	memset(&b, 0, sizeof(b));
	b_shape(&b, &good);
	b_section(&b, T_STACK_ERROR, 8);
	b_u64(&b, 0);
	expect_body_error(&b, "corrupt snapshot: stack error section has 0 entries for 1 stacks",
			  "stack error section of another length than the stacks");
	b_shape(&b, &good);
	b_section(&b, T_STACK_ERROR, 8 + 88);
	b_u64(&b, 1);
	b_f64(&b, -1);
	for (int k = 1; k < 6; k++)
		b_f64(&b, 0);
	b_u64(&b, 0);
	b_u64(&b, 0);
	b_u64(&b, 0);
	b_f64(&b, 0);
	b_f64(&b, 0);
	expect_body_error(&b, "corrupt snapshot: stack 0 error of inuse_space is -1",
			  "a negative variance");
	/* the peak section (tag 14): a time, then one record per stack */
	b_shape(&b, &good);
	b_section(&b, T_PEAK, 8 + 8 + 24);
	b_u64(&b, 1700000000000000000ull);
	b_u64(&b, 1);
	b_f64(&b, 2);
	b_f64(&b, 32);
	b_u64(&b, 2);
	if (!ok(decode_body(&b, err, &s) == 0 && s && s->peak_time_ns == 1700000000000000000ll &&
		s->stacks[0].peak_space == 32 && s->stacks[0].peak_objects == 2 &&
		s->stacks[0].peak_samples == 2, "a peak section decodes"))
		printf("#   %s\n", err);
	ht_snapshot_free(s);
	free(b.p);
	memset(&b, 0, sizeof(b));
	b_shape(&b, &good);
	b_section(&b, T_PEAK, 8 + 8 + 48);
	b_u64(&b, 1700000000000000000ull);
	b_u64(&b, 2);
	for (int i = 0; i < 6; i++)
		b_u64(&b, 0);
	expect_body_error(&b, "corrupt snapshot: peak section holds", "a peak record for a stack that is not there");
	b_shape(&b, &good);
	b_section(&b, T_PEAK, 8 + 8 + 24);
	b_u64(&b, 1);
	b_u64(&b, 1);
	b_f64(&b, 1);
	b_f64(&b, -32);
	b_u64(&b, 1);
	expect_body_error(&b, "corrupt snapshot: stack 0 peak_space is -32", "a negative peak counter");
	b_shape(&b, &good);
	b_section(&b, T_PEAK, 7);
	b_bytes(&b, "1234567", 7);
	expect_body_error(&b, "corrupt snapshot: peak section is 7 bytes", "a peak section cut short");

	sh = good; sh.fr = 900;
	test_shape(sh, "corrupt snapshot: frame 0 names location 900 of 1", "frame naming a missing location");
	sh = good; sh.fl = 1;
	test_shape(sh, "corrupt snapshot: location 0 names lines 1..2 of 1", "line range past the end");
	sh = good; sh.fl = UINT32_MAX; sh.nl = 2;
	test_shape(sh, "corrupt snapshot: location 0 names lines", "line range that wraps around");
	sh = good; sh.fn = 2;
	test_shape(sh, "corrupt snapshot: function 0 names string 2 of 2", "string index out of range");
	sh = good; sh.lf = 1;
	test_shape(sh, "corrupt snapshot: line 0 names function 1 of 1", "line naming a missing function");
	sh = good; sh.mod = 0;
	test_shape(sh, "corrupt snapshot: location 0 names module 0 of 0", "location naming a missing module");
	sh = good; sh.ff = 1;
	test_shape(sh, "corrupt snapshot: stack 0 names frames 1..2 of 1", "frame range past the end");
	sh = good; sh.ff = UINT32_MAX; sh.nf = 1;
	test_shape(sh, "corrupt snapshot: stack 0 names frames", "frame range that wraps around");
	sh = good; sh.v = -1;
	test_shape(sh, "corrupt snapshot: stack 0 inuse_space is -1", "negative counter");
	sh = good; sh.v = NAN;
	test_shape(sh, "corrupt snapshot: stack 0 inuse_space is nan", "NaN counter");
	sh = good; sh.v = INFINITY;
	test_shape(sh, "corrupt snapshot: stack 0 inuse_space is inf", "infinite counter");

	/* Sections that do not hold what they claim. */
	b_minimal(&b);
	b_section(&b, T_FRAMES, 8 + 4);
	b_u64(&b, 1ULL << 62);
	b_u32(&b, 0);
	expect_body_error(&b, "corrupt snapshot: frames section holds 4 bytes for 4611686018427387904",
			  "array count far beyond its section");
	b_minimal(&b);
	b_section(&b, T_FRAMES, 8 + 4);
	b_u64(&b, (1ULL << 62) + 1); /* count * 4 wraps to 4 */
	b_u32(&b, 0);
	expect_body_error(&b, "corrupt snapshot: frames section", "array count that overflows");
	b_minimal(&b);
	b_section(&b, T_STACKS, 7);
	b_bytes(&b, "1234567", 7);
	expect_body_error(&b, "corrupt snapshot: stacks section is 7 bytes", "array section without its count");
	b_section(&b, T_STRINGS, 8);
	b_u64(&b, 1ULL << 40);
	expect_body_error(&b, "corrupt snapshot: strings section is too short", "huge string count");
	b_section(&b, T_STRINGS, 8 + 4 + 3);
	b_u64(&b, 1);
	b_u32(&b, 4);
	b_bytes(&b, "abc", 3);
	expect_body_error(&b, "corrupt snapshot: string 0 runs past", "string longer than its section");
	/* Found by fuzzing: the first string eats the lengths of the others. */
	b_section(&b, T_STRINGS, 8 + 4 + 8);
	b_u64(&b, 3);
	b_u32(&b, 8);
	b_bytes(&b, "abcdefgh", 8);
	expect_body_error(&b, "corrupt snapshot: string 0 runs past", "string eating the lengths of the next");
	b_section(&b, T_STRINGS, 8 + 4 + 3);
	b_u64(&b, 1);
	b_u32(&b, 3);
	b_bytes(&b, "a\0c", 3);
	expect_body_error(&b, "corrupt snapshot: string 0 holds a NUL", "string with a NUL byte");
	b_section(&b, T_STRINGS, 8 + 4 + 3);
	b_u64(&b, 1);
	b_u32(&b, 1);
	b_bytes(&b, "abc", 3);
	expect_body_error(&b, "corrupt snapshot: 2 stray bytes after the strings", "stray bytes in strings");
	b_minimal(&b);
	b_minimal(&b);
	expect_body_error(&b, "corrupt snapshot: two strings sections", "duplicate sections");
	b_section(&b, T_STRINGS, 8);
	b_u64(&b, 0);
	expect_body_error(&b, "corrupt snapshot: no meta section", "missing meta");
	b.n = 0;
	expect_body_error(&b, "corrupt snapshot: no strings section", "empty body");
	b_minimal(&b);
	b_section(&b, T_COUNTS, 8);
	b_u64(&b, 1);
	expect_body_error(&b, "corrupt snapshot: counts section is 8 bytes, expected 32", "short counts");
	b_minimal(&b);
	b_section(&b, T_DROPS, 100);
	b_u64(&b, 1);
	expect_body_error(&b, "corrupt snapshot: section 4 at body offset", "section past the end of the body");
	b_minimal(&b);
	b_u32(&b, T_DROPS);
	expect_body_error(&b, "corrupt snapshot: section header at body offset", "partial section header");
	b_minimal(&b);
	b_section(&b, T_METRICS, 8 + 16);
	b_u64(&b, 1);
	b_u32(&b, 1);
	b_u32(&b, 0);
	b_f64(&b, NAN);
	expect_body_error(&b, "corrupt snapshot: metric 0 is nan", "NaN metric");
	b_minimal(&b);
	b_section(&b, T_METRICS, 8 + 16);
	b_u64(&b, 1);
	b_u32(&b, 5);
	b_u32(&b, 0);
	b_f64(&b, 1);
	expect_body_error(&b, "corrupt snapshot: metric 0 names string 5 of 2", "metric name out of range");
	b_minimal(&b);
	b_section(&b, T_MODULES, 8 + 64);
	b_u64(&b, 1);
	b_u32(&b, 0);
	b_u32(&b, 33);
	b_u64(&b, 0);
	b_u64(&b, 1);
	b_u64(&b, 0);
	b_bytes(&b, "0123456789abcdef0123456789abcdef", 32);
	expect_body_error(&b, "corrupt snapshot: module 0 has a build id of 33 bytes", "build id too long");
	b_minimal(&b);
	b_section(&b, T_MODULES, 8 + 64);
	b_u64(&b, 1);
	b_u32(&b, 0);
	b_u32(&b, 0);
	b_u64(&b, 2);
	b_u64(&b, 1);
	b_u64(&b, 0);
	b_bytes(&b, "0123456789abcdef0123456789abcdef", 32);
	expect_body_error(&b, "corrupt snapshot: module 0 starts after it ends", "module range backwards");
	b_section(&b, T_STRINGS, 8);
	b_u64(&b, 0);
	b_section(&b, T_META, 56);
	b_bytes(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
		    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 56);
	expect_body_error(&b, "corrupt snapshot: meta field 0 names string 0 of 0", "meta naming a missing string");
}

/* ---- whole-file inputs ---- */

/* The limits of heaptrace(5), VALIDATION: values no program has, stacks
 * that share frames, and names that would take far more to write out than
 * the file can justify. */
static void test_limits(void)
{
	struct ht_snapshot *s;
	char err[ERRLEN] = "";
	struct shape sh = good;
	struct body b = { 0 };
	char *name;
	int rc;

	sh.v = 1.7e308;
	test_shape(sh, "corrupt snapshot: stack 0 inuse_space is 1.7e+308, not a number from 0 to 2^63",
		   "a counter beyond 2^63");
	sh.v = 9223372036854775808.0;
	b_shape(&b, &sh);
	ok(decode_body(&b, err, &s) == 0, "a counter of 2^63 is accepted");
	ht_snapshot_free(s);
	free(b.p);
	memset(&b, 0, sizeof(b));

	b_minimal(&b);
	b_section(&b, T_METRICS, 8 + 16);
	b_u64(&b, 1);
	b_u32(&b, 1);
	b_u32(&b, 0);
	b_f64(&b, -1e300);
	expect_body_error(&b, "corrupt snapshot: metric 0 is -1e+300, not a number from -2^63 to 2^63",
			  "a metric beyond 2^63");

	/* the appender keeps figures from a traced process within a file's range */
	s = ht_snapshot_new();
	ht_snapshot_add_metric(s, "huge", 1e300);
	ht_snapshot_add_metric(s, "tiny", -1e300);
	ok(s->metrics[0].value == HT_SNAPSHOT_MAX_VALUE && s->metrics[1].value == -HT_SNAPSHOT_MAX_VALUE,
	   "a metric beyond 2^63 is stored as 2^63");
	{
		void *img = NULL;
		size_t len;

		ok(ht_snapshot_encode(s, &img, &len, err, ERRLEN) == 0, "and the snapshot is written");
		free(img);
	}
	ht_snapshot_free(s);

	/* b_minimal with a start time before 1970 */
	b_minimal(&b);
	memcpy(b.p + b.n - 56 + 24, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	expect_body_error(&b, "corrupt snapshot: a time before 1970", "a negative time");

	/* two stacks over the one frame there is */
	b_shape(&b, &good);
	b_section(&b, T_STACKS, 8 + 2 * 56);
	b.n -= 16 + 8 + 56 + 16; /* drop the one-stack section, rewrite it */
	b_section(&b, T_STACKS, 8 + 2 * 56);
	b_u64(&b, 2);
	for (int i = 0; i < 2; i++) {
		b_u32(&b, 0);
		b_u32(&b, 1);
		for (int k = 0; k < 4; k++)
			b_f64(&b, 1);
		b_u64(&b, 1);
		b_u64(&b, 1);
	}
	expect_body_error(&b, "corrupt snapshot: stacks 0..1 name 2 frames, more than the 1 there are",
			  "stacks that share frames");

	/* a 64 KiB name at 8192 frames: 512 MiB of names from a tiny file */
	name = ht_xmalloc(65536);
	memset(name, 'n', 65536);
	b_section(&b, T_STRINGS, 8 + 4 + 4 + 65536);
	b_u64(&b, 2);
	b_u32(&b, 0);
	b_u32(&b, 65536);
	b_bytes(&b, name, 65536);
	free(name);
	b_section(&b, T_META, 56);
	for (int k = 0; k < 14; k++)
		b_u32(&b, k == 1 ? 8 : 0);
	b_section(&b, T_FUNCTIONS, 8 + 12);
	b_u64(&b, 1);
	b_u32(&b, 1);
	b_u32(&b, 1);
	b_u32(&b, 0);
	b_section(&b, T_LINES, 8 + 8);
	b_u64(&b, 1);
	b_u32(&b, 0);
	b_u32(&b, 1);
	b_section(&b, T_LOCATIONS, 8 + 24);
	b_u64(&b, 1);
	b_u64(&b, 0x1000);
	b_u32(&b, HT_NONE);
	b_u32(&b, 0);
	b_u32(&b, 1);
	b_u32(&b, 0);
	b_section(&b, T_FRAMES, 8 + 4 * 8192);
	b_u64(&b, 8192);
	for (int k = 0; k < 8192; k++)
		b_u32(&b, 0);
	b_section(&b, T_STACKS, 8 + 56 * 8192);
	b_u64(&b, 8192);
	for (int i = 0; i < 8192; i++) {
		b_u32(&b, (uint32_t)i);
		b_u32(&b, 1);
		for (int k = 0; k < 4; k++)
			b_f64(&b, 1);
		b_u64(&b, 1);
		b_u64(&b, 1);
	}
	rc = decode_body(&b, err, &s);
	ok(rc == -1 && strstr(err, "snapshot too large: its names take 537591872 bytes to write out") != NULL,
	   "names far beyond what the file can justify are refused");
	printf("#   %s\n", err);
	ht_snapshot_free(s);
	free(b.p);
}

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	return xorshift64(&rng);
}

static void test_bad_files(const unsigned char *img, size_t len)
{
	char err[ERRLEN] = "";
	struct ht_snapshot *s;
	unsigned char *copy = ht_xmalloc(len);
	size_t i, failed = 0, messages = 0;
	uint32_t badsize;

	s = (void *)1;
	ok(ht_snapshot_decode("", 0, &s, err, ERRLEN) == -1 && s == NULL, "empty input fails");
	is_str(err, "empty file, not a heaptrace snapshot", "empty input message");
	ok(ht_snapshot_decode("GIF89a..........................", 32, &s, err, ERRLEN) == -1,
	   "foreign file fails");
	is_str(err, "not a heaptrace snapshot", "foreign file message");
	ok(ht_snapshot_decode("\x89HEA", 4, &s, err, ERRLEN) == -1, "4 bytes of magic fail");
	is_str(err, "truncated snapshot", "4 bytes of magic: truncated");

	memcpy(copy, img, len);
	copy[0] ^= 1;
	ok(ht_snapshot_decode(copy, len, &s, err, ERRLEN) == -1, "wrong magic fails");
	is_str(err, "not a heaptrace snapshot", "wrong magic message");

	memcpy(copy, img, len);
	copy[8] = 9;
	ok(ht_snapshot_decode(copy, len, &s, err, ERRLEN) == -1, "version 9 fails");
	is_str(err, "unsupported snapshot version 9", "version 9 message");
	memcpy(copy, img, len);
	copy[8] = 0;
	ok(ht_snapshot_decode(copy, len, &s, err, ERRLEN) == -1, "version 0 fails");
	is_str(err, "unsupported snapshot version 0", "version 0 message");

	for (i = 0; i < len; i++) {
		err[0] = '\0';
		s = (void *)1;
		if (ht_snapshot_decode(img, i, &s, err, ERRLEN) == -1 && s == NULL)
			failed++;
		if (err[0])
			messages++;
	}
	is_int(failed, len, "every truncation (0..%zu bytes) fails", len - 1);
	is_int(messages, len, "every truncation says why");
	ht_snapshot_decode(img, len / 2, &s, err, ERRLEN);
	is_str(err, "truncated snapshot", "truncation in the middle: message");

	/* One flipped bit in the checksum, then in the middle of the data. */
	memcpy(copy, img, len);
	copy[len - 1] ^= 0x10;
	ok(ht_snapshot_decode(copy, len, &s, err, ERRLEN) == -1 &&
	   strncmp(err, "corrupt snapshot: compressed body: ", 35) == 0,
	   "flipped checksum byte fails");
	printf("#   %s\n", err);
	memcpy(copy, img, len);
	copy[24 + (len - 24) / 2] ^= 0x10;
	ok(ht_snapshot_decode(copy, len, &s, err, ERRLEN) == -1 && err[0],
	   "flipped byte in the compressed body fails");
	printf("#   %s\n", err);

	/* The header's body size disagrees with the frame's. */
	memcpy(copy, img, len);
	badsize = copy[16] ^ 4;
	copy[16] = (unsigned char)badsize;
	ok(ht_snapshot_decode(copy, len, &s, err, ERRLEN) == -1 &&
	   strncmp(err, "corrupt snapshot: header says", 29) == 0, "wrong body size fails");
	printf("#   %s\n", err);
	/* A hand-made zstd frame that claims a huge content size but holds one
	 * RLE block of 1 byte: refused before any allocation of that size. */
	{
		unsigned char fake[24 + 4 + 1 + 8 + 3 + 1 + 4] = { 0x89, 'H', 'E', 'A', 'P', 'T', 'R', '\n', 1 };
		unsigned char *z = fake + 24;
		uint64_t claim = 1ULL << 40;
		int k;

		z[0] = 0x28; z[1] = 0xb5; z[2] = 0x2f; z[3] = 0xfd; /* zstd magic */
		z[4] = 0xe4; /* 8-byte content size, single segment, checksum */
		for (k = 0; k < 8; k++)
			fake[16 + k] = z[5 + k] = (unsigned char)(claim >> 8 * k);
		z[13] = 0x0b; /* last block, RLE, 1 byte */
		z[16] = 'a';
		ok(ht_snapshot_decode(fake, sizeof(fake), &s, err, ERRLEN) == -1 &&
		   strstr(err, "a body of 1099511627776 bytes") != NULL,
		   "a tiny file claiming a 1 TiB body is refused");
		printf("#   %s\n", err);
		claim = 100000;
		for (k = 0; k < 8; k++)
			fake[16 + k] = z[5 + k] = (unsigned char)(claim >> 8 * k);
		ok(ht_snapshot_decode(fake, sizeof(fake), &s, err, ERRLEN) == -1 &&
		   strncmp(err, "corrupt snapshot: ", 18) == 0,
		   "a frame holding less than its content size fails");
		printf("#   %s\n", err);
	}
	/* Trailing garbage. */
	copy = ht_xrealloc(copy, len + 3);
	memcpy(copy, img, len);
	memcpy(copy + len, "abc", 3);
	ok(ht_snapshot_decode(copy, len + 3, &s, err, ERRLEN) == -1 &&
	   strcmp(err, "corrupt snapshot: 3 stray bytes after the compressed body") == 0,
	   "trailing bytes fail");
	free(copy);
}

/* Random mutations of a valid file (mostly caught by the checksum) and of its
 * raw body (rewrapped, so they reach the section parser). Nothing may crash;
 * success or failure are both fine. */
static void test_mutations(const unsigned char *img, size_t len)
{
	char err[ERRLEN] = "";
	struct ht_snapshot *s;
	unsigned char *copy = ht_xmalloc(len), *body;
	unsigned long long blen = ZSTD_getFrameContentSize(img + 24, len - 24);
	size_t i, k, passed = 0, failed = 0;
	struct body b;

	for (i = 0; i < 3000; i++) {
		size_t nmut = 1 + rnd() % 4;

		memcpy(copy, img, len);
		for (k = 0; k < nmut; k++)
			copy[rnd() % len] = (unsigned char)rnd();
		err[0] = '\0';
		if (ht_snapshot_decode(copy, len, &s, err, ERRLEN) == 0) {
			walk(s);
			ht_snapshot_free(s);
			passed++;
		} else if (err[0]) {
			failed++;
		}
	}
	is_int(passed + failed, 3000, "3000 file mutations: each decodes or says why");
	printf("#   %zu decoded, %zu failed\n", passed, failed);

	body = ht_xmalloc(blen);
	ok(ZSTD_decompress(body, blen, img + 24, len - 24) == blen, "raw body recovered");
	b.p = ht_xmalloc(blen);
	b.cap = blen;
	passed = failed = 0;
	for (i = 0; i < 3000; i++) {
		size_t nmut = 1 + rnd() % 3;

		memcpy(b.p, body, blen);
		b.n = blen;
		for (k = 0; k < nmut; k++) {
			size_t at = rnd() % blen;

			switch (rnd() % 4) {
			case 0: b.p[at] = (unsigned char)rnd(); break;
			case 1: b.p[at] ^= (unsigned char)(1u << rnd() % 8); break;
			case 2: b.p[at] = 0xff; break;
			default: b.n = at; break; /* truncate */
			}
		}
		err[0] = '\0';
		if (decode_body(&b, err, &s) == 0) {
			walk(s);
			ht_snapshot_free(s);
			passed++;
		} else if (err[0]) {
			failed++;
		}
	}
	is_int(passed + failed, 3000, "3000 body mutations: each decodes or says why");
	printf("#   %zu decoded, %zu failed\n", passed, failed);
	for (i = 0, failed = 0, passed = 0; i < blen; i++) {
		memcpy(b.p, body, blen);
		b.n = i;
		err[0] = '\0';
		if (decode_body(&b, err, &s) == 0) {
			walk(s);
			ht_snapshot_free(s);
			passed++;
		} else if (err[0]) {
			failed++;
		}
	}
	/* a decode that fails must say why; one that succeeds on a cut body
	 * is walked above (under ASan in CI) */
	is_int(passed + failed, blen, "every body truncation (0..%llu bytes) decodes or says why "
	       "(%zu fail)", blen - 1, failed);
	ok(failed > 0, "truncations are noticed: %zu of %llu fail", failed, blen);
	free(b.p);
	free(body);
	free(copy);
}

/* Bodies of several zstd blocks, and strings longer than the pool's chunks
 * and the encoder's staging buffer. */
static void test_large(void)
{
	char err[ERRLEN] = "";
	struct ht_snapshot *s = ht_snapshot_new(), *back = NULL;
	struct ht_function f;
	struct ht_line l = { 0, 1 };
	struct ht_location loc = { 0, HT_NONE, 0, 1 };
	struct ht_stack st = { 0 };
	char *big = ht_xmalloc(300001);
	uint32_t fr[8];
	void *img;
	size_t len, i, j;
	int same = 1;

	memset(big, 'a', 300000);
	big[300000] = '\0';
	s->cmdline = ht_snapshot_strdup(s, big);
	f.name = ht_snapshot_strdup(s, big + 299900);
	f.system_name = f.name;
	f.file = ht_snapshot_strdup(s, "big.c");
	ht_snapshot_add_function(s, &f);
	ht_snapshot_add_line(s, &l);
	for (i = 0; i < 1000; i++) {
		loc.address = 0x1000 + i;
		ht_snapshot_add_location(s, &loc);
	}
	for (i = 0; i < 40000; i++) {
		for (j = 0; j < 8; j++)
			fr[j] = (uint32_t)((i * 7 + j * 13) % 1000);
		st.first_frame = ht_snapshot_add_frames(s, fr, 8);
		st.nframes = 8;
		st.alloc_space = (double)i;
		ht_snapshot_add_stack(s, &st);
	}
	if (!ok(ht_snapshot_encode(s, &img, &len, err, ERRLEN) == 0, "large snapshot encodes"))
		printf("#   %s\n", err);
	if (!ok(ht_snapshot_decode(img, len, &back, err, ERRLEN) == 0 && back, "large snapshot decodes"))
		printf("#   %s\n", err);
	if (back) {
		is_int(strlen(back->cmdline), 300000, "300 kB string survives");
		is_int(back->nstacks, 40000, "40000 stacks survive");
		for (i = 0; i < s->nframes && i < back->nframes; i++)
			same &= s->frames[i] == back->frames[i];
		for (i = 0; i < s->nstacks && i < back->nstacks; i++)
			same &= s->stacks[i].alloc_space == back->stacks[i].alloc_space;
		ok(same && back->nframes == s->nframes, "large snapshot: frames and stacks equal");
	}
	printf("#   %zu stacks: %zu bytes\n", s->nstacks, len);
	free(img);
	free(big);
	ht_snapshot_free(back);
	ht_snapshot_free(s);
}

/* ---- files ---- */

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_files(const struct ht_snapshot *full)
{
	const char *tmpdir = getenv("TMPDIR");
	char dir[512], path[600], bad[700], want[800], err[ERRLEN] = "";
	struct ht_snapshot *s = NULL, *inv;
	struct stat st;
	mode_t mask;
	uint32_t frame = 7;

	snprintf(dir, sizeof(dir), "%s/ht-snapshot-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!ok(mkdtemp(dir) != NULL, "temporary directory"))
		return;
	snprintf(path, sizeof(path), "%s/app.1.heap", dir);

	if (!ok(ht_snapshot_write_file(full, path, err, ERRLEN) == 0, "write_file"))
		printf("#   %s\n", err);
	/* Twice: the second write replaces the first. */
	ok(ht_snapshot_write_file(full, path, err, ERRLEN) == 0, "write_file over an existing file");
	is_int(count_entries(dir), 1, "no temporary file remains");
	mask = umask(022);
	umask(mask);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == (0644 & ~mask), "file mode is 0644 less umask");
	if (!ok(ht_snapshot_read_file(path, &s, err, ERRLEN) == 0 && s, "read_file"))
		printf("#   %s\n", err);
	if (s)
		is_int(compare(full, s), 0, "file round trip: every field equal");
	ht_snapshot_free(s);

	snprintf(bad, sizeof(bad), "%s/missing/x.heap", dir);
	ok(ht_snapshot_write_file(full, bad, err, ERRLEN) == -1, "write into a missing directory fails");
	snprintf(want, sizeof(want), "cannot write '%s': No such file or directory", bad);
	is_str(err, want, "missing directory message");
	is_int(count_entries(dir), 1, "failed write leaves nothing behind");

	/* The encoder refuses what the decoder would refuse. */
	inv = ht_snapshot_new();
	ht_snapshot_add_frames(inv, &frame, 1);
	snprintf(bad, sizeof(bad), "%s/invalid.heap", dir);
	ok(ht_snapshot_write_file(inv, bad, err, ERRLEN) == -1, "writing an invalid snapshot fails");
	snprintf(want, sizeof(want), "cannot write '%s': invalid snapshot: frame 0 names location 7 of 0", bad);
	is_str(err, want, "invalid snapshot message");
	is_int(count_entries(dir), 1, "refused write leaves nothing behind");
	ht_snapshot_free(inv);

	snprintf(bad, sizeof(bad), "%s/nothere.heap", dir);
	ok(ht_snapshot_read_file(bad, &s, err, ERRLEN) == -1 && s == NULL, "reading a missing file fails");
	snprintf(want, sizeof(want), "cannot open '%s': No such file or directory", bad);
	is_str(err, want, "missing file message");

	/* Several files, two at a time: each is read as it would be alone; a
	 * failure is that of the first file in order that failed (here the
	 * second, read by the other thread than the third, which fails too),
	 * and no snapshot is left. */
	{
		struct ht_snapshot *got[4];
		const char *paths[4];
		char second[700];
		void *want_img = NULL;
		size_t want_len = 0;
		int same = 1, none = 1;

		snprintf(second, sizeof(second), "%s/app.2.heap", dir);
		ok(ht_snapshot_write_file(full, second, err, ERRLEN) == 0, "read_files: a second file");
		paths[0] = path;
		paths[1] = second;
		paths[2] = path;
		paths[3] = second;
		ok(ht_snapshot_read_files(paths, 4, got, err, ERRLEN) == 0, "read_files: four files");
		ok(ht_snapshot_encode(full, &want_img, &want_len, err, ERRLEN) == 0, "read_files: the image written");
		for (int i = 0; i < 4; i++) {
			void *img = NULL;
			size_t len = 0;

			same &= got[i] && ht_snapshot_encode(got[i], &img, &len, err, ERRLEN) == 0 &&
				len == want_len && memcmp(img, want_img, len) == 0;
			free(img);
			ht_snapshot_free(got[i]);
		}
		free(want_img);
		ok(same, "read_files: each encodes as the snapshot written");
		paths[1] = bad; /* missing */
		paths[2] = dir; /* a directory */
		ok(ht_snapshot_read_files(paths, 4, got, err, ERRLEN) == -1, "read_files: two bad files fail");
		snprintf(want, sizeof(want), "cannot open '%s': No such file or directory", bad);
		is_str(err, want, "read_files: the first bad file's message");
		for (int i = 0; i < 4; i++)
			none &= got[i] == NULL;
		ok(none, "read_files: no snapshot left after a failure");
		unlink(second);
	}

	/* A truncated file names itself in the message. */
	ok(truncate(path, 30) == 0, "truncate the file");
	ok(ht_snapshot_read_file(path, &s, err, ERRLEN) == -1, "reading a truncated file fails");
	snprintf(want, sizeof(want), "'%s': truncated snapshot", path);
	is_str(err, want, "truncated file message");
	ok(ht_snapshot_read_file(dir, &s, err, ERRLEN) == -1, "reading a directory fails");
	printf("#   %s\n", err);
	unlink(path);

	/* A name the user did not choose never replaces a file. */
	{
		char name[700], first[700], taken[700];
		struct stat a, b;

		snprintf(first, sizeof(first), "%s/default.heap", dir);
		snprintf(name, sizeof(name), "%s", first);
		ok(ht_file_write_unique(name, sizeof(name), "one", 3, err, ERRLEN) == 0 &&
		   !strcmp(name, first), "write_unique: a free name is used as is");
		ok(ht_file_write_unique(name, sizeof(name), "two", 3, err, ERRLEN) == 0, "and again");
		snprintf(taken, sizeof(taken), "%s/default-1.heap", dir);
		is_str(name, taken, "a taken name gets a suffix");
		ok(stat(first, &a) == 0 && stat(taken, &b) == 0 && a.st_ino != b.st_ino,
		   "the first file is still there");
		snprintf(taken, sizeof(taken), "%s/link.heap", dir);
		ok(symlink(first, taken) == 0, "a symlink where the next file would go");
		snprintf(name, sizeof(name), "%s", taken);
		ok(ht_file_write_unique(name, sizeof(name), "three", 5, err, ERRLEN) == 0 &&
		   strcmp(name, taken) != 0, "a symlink counts as taken");
		ok(stat(first, &a) == 0 && a.st_size == 3, "its target is untouched");
		is_int(count_entries(dir), 4, "no temporary file remains");
		unlink(name);
		unlink(taken);
		unlink(first);
		snprintf(name, sizeof(name), "%s/default-1.heap", dir);
		unlink(name);
	}
	rmdir(dir);
}

/* The output policy (ht_file_save) and the names derived from a .heap path. */
static void test_save(const struct ht_snapshot *full)
{
	const char *tmpdir = getenv("TMPDIR");
	char dir[512], path[600], used[700], want[700], err[ERRLEN] = "";
	struct stat st;
	FILE *f;

	is_int(ht_file_heap_stem("d/app.heap"), 5, "heap stem: without .heap");
	is_int(ht_file_heap_stem("app"), 3, "heap stem: all of a name without .heap");
	is_int(ht_file_heap_stem(".heap"), 5, "heap stem: .heap alone is a name");
	is_int(ht_file_heap_stem("a.heap.gz"), 9, "heap stem: only a final .heap");
	ok(ht_file_heap_name(used, sizeof(used), "/d/app.heap", "peak") == 0, "heap name");
	is_str(used, "/d/app.peak.heap", "heap name: STEM.TAG.heap");
	ht_file_heap_name(used, sizeof(used), "/d/app", "0001");
	is_str(used, "/d/app.0001.heap", "heap name: .heap added");
	ok(ht_file_heap_name(used, 8, "/d/app.heap", "peak") == -1 && strlen(used) == 7,
	   "heap name: too long is -1, truncated");

	snprintf(dir, sizeof(dir), "%s/ht-save-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!ok(mkdtemp(dir) != NULL, "temporary directory"))
		return;
	snprintf(path, sizeof(path), "%s/out.heap", dir);
	ok(ht_file_save(path, HT_FILE_NAMED, used, sizeof(used), "one", 3, err, ERRLEN) == 0 &&
	   !strcmp(used, path), "save: a named path is written under its name");
	ok(ht_file_save(path, HT_FILE_NAMED, NULL, 0, "two!", 4, err, ERRLEN) == 0 &&
	   stat(path, &st) == 0 && st.st_size == 4, "save: a named path is replaced");
	ok(ht_file_save(path, HT_FILE_DEFAULT, used, sizeof(used), "three", 5, err, ERRLEN) == 0,
	   "save: a default name that is taken");
	snprintf(want, sizeof(want), "%s/out-1.heap", dir);
	is_str(used, want, "save: ... is never replaced: NAME-1.heap");
	ok(stat(path, &st) == 0 && st.st_size == 4, "save: the file there is untouched");
	unlink(used);
	ok(ht_file_save(path, HT_FILE_DEFAULT, NULL, 0, "x", 1, err, ERRLEN) == -1,
	   "save: a default name needs room for the name used");
	ok(ht_file_save(path, HT_FILE_DEFAULT, used, 8, "x", 1, err, ERRLEN) == -1 &&
	   strstr(err, "too long"), "save: a default name that does not fit is refused");
	ok(ht_file_save("/dev/null", HT_FILE_NAMED, NULL, 0, "x", 1, err, ERRLEN) == 0 &&
	   stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "save: /dev/null stays a device");
	fflush(stdout);
	ok(ht_file_save("-", HT_FILE_NAMED, NULL, 0, "# to standard output\n", 21, err,
			ERRLEN) == 0, "save: - is standard output");
	ok(ht_snapshot_save(full, path, HT_FILE_DEFAULT, path, sizeof(path), err, ERRLEN) == 0,
	   "snapshot save: the name used may be path itself");
	is_str(path, want, "snapshot save: the name used");
	ok((f = fopen(path, "rb")) != NULL, "snapshot save: written");
	if (f)
		fclose(f);
	unlink(path);
	snprintf(path, sizeof(path), "%s/out.heap", dir);
	unlink(path);
	is_int(count_entries(dir), 0, "save: no temporary file remains");
	rmdir(dir);
}

/* The note section (tag 13) and the untraced flag: round trip, and a
 * note with a NUL byte or over the limit refused. */
static void test_note(void)
{
	char err[ERRLEN] = "", big[HT_NOTE_LIMIT + 2];
	struct ht_snapshot *s = ht_snapshot_new(), *back = NULL;
	struct body b = { 0 };
	void *img = NULL;
	size_t len = 0;

	s->flags = HT_SNAP_FINAL | HT_SNAP_UNTRACED;
	s->note = ht_snapshot_strdup(s, "malloc of 'x.so' comes before the shim");
	if (!ok(ht_snapshot_encode(s, &img, &len, err, ERRLEN) == 0, "a note encodes"))
		printf("#   %s\n", err);
	ok(img && ht_snapshot_decode(img, len, &back, err, ERRLEN) == 0 && back, "a note decodes");
	if (back) {
		is_str(back->note, "malloc of 'x.so' comes before the shim", "the note reads back");
		is_int(back->flags, HT_SNAP_FINAL | HT_SNAP_UNTRACED, "the untraced flag reads back");
	}
	free(img);
	ht_snapshot_free(back);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	s->note = ht_snapshot_strdup(s, big);
	ok(ht_snapshot_encode(s, &img, &len, err, ERRLEN) == -1, "a note over %d bytes is not written",
	   HT_NOTE_LIMIT);
	ht_snapshot_free(s);

	b_minimal(&b);
	b_section(&b, T_NOTE, 3);
	b_bytes(&b, "a\0b", 3);
	expect_body_error(&b, "corrupt snapshot: the note holds a NUL byte", "a note with a NUL");
	b_minimal(&b);
	b_section(&b, T_NOTE, HT_NOTE_LIMIT + 1);
	b_bytes(&b, big, HT_NOTE_LIMIT + 1);
	expect_body_error(&b, "corrupt snapshot: a note of 4097 bytes", "a note over the limit");
	b_minimal(&b);
	b_section(&b, T_NOTE, 0);
	ok(decode_body(&b, err, &back) == 0 && back && !back->note, "an empty note section: no note");
	ht_snapshot_free(back);
	free(b.p);
}

int main(void)
{
	char err[ERRLEN] = "";
	struct ht_snapshot *full = build_full(), *back = NULL, *e;
	const char *a, *b;
	void *img = NULL, *img2 = NULL;
	size_t len = 0, len2 = 0;

	/* Building. */
	ok(full != NULL, "snapshot built");
	is_int(full->version, HT_SNAPSHOT_VERSION, "new snapshot has the current version");
	is_int(full->nmetrics, 2, "metrics appended");
	is_int(full->nmodules, 2, "modules appended");
	is_int(full->nfunctions, 3, "functions appended");
	is_int(full->nlines, 3, "lines appended");
	is_int(full->nlocations, 3, "locations appended");
	is_int(full->nframes, 5, "frames appended");
	is_int(full->nstacks, 3, "stacks appended");
	is_int(full->stacks[1].first_frame, 2, "add_frames returns the first index");
	is_int(full->stacks[2].first_frame, 5, "add_frames of none returns the end");
	a = ht_snapshot_strdup(full, "same");
	b = ht_snapshot_strdup(full, "same");
	ok(a && a == b, "equal strings share storage");
	ok(full->exe == full->modules[0].path, "exe and module path are one string");
	e = ht_snapshot_new();
	ok(e && ht_snapshot_add_frames(e, NULL, 0) == 0, "no frames in an empty snapshot: index 0");
	is_str(ht_snapshot_strdup(e, NULL), "", "strdup of NULL gives \"\"");
	ht_snapshot_free(e);
	ht_snapshot_free(NULL);

	ok(ht_stack_value(&full->stacks[0], HT_INUSE_SPACE) == 1048576.5, "stack value: inuse_space");
	ok(ht_stack_value(&full->stacks[0], HT_INUSE_OBJECTS) == 3.25, "stack value: inuse_objects");
	ok(ht_stack_value(&full->stacks[0], HT_ALLOC_SPACE) == 4194304, "stack value: alloc_space");
	ok(ht_stack_value(&full->stacks[0], HT_ALLOC_OBJECTS) == 10, "stack value: alloc_objects");

	/* Encode, decode, compare. */
	if (!ok(ht_snapshot_encode(full, &img, &len, err, ERRLEN) == 0 && img, "encode"))
		printf("#   %s\n", err);
	ok(len > 24 && memcmp(img, "\x89HEAPTR\n", 8) == 0, "image starts with the magic");
	if (!ok(ht_snapshot_decode(img, len, &back, err, ERRLEN) == 0 && back, "decode"))
		printf("#   %s\n", err);
	if (back) {
		is_int(compare(full, back), 0, "round trip: every field equal");
		ok(ht_snapshot_encode(back, &img2, &len2, err, ERRLEN) == 0 &&
		   len2 == len && memcmp(img, img2, len) == 0,
		   "re-encoding the decoded snapshot gives the same bytes");
		free(img2);
	}
	ht_snapshot_free(back);
	e = ht_snapshot_new();
	ok(ht_snapshot_encode(e, &img2, &len2, err, ERRLEN) == 0, "an empty snapshot encodes");
	ok(ht_snapshot_decode(img2, len2, &back, err, ERRLEN) == 0 && back &&
	   strcmp(back->exe, "") == 0 && back->nstacks == 0,
	   "an empty snapshot decodes, NULL strings as \"\"");
	free(img2);
	ht_snapshot_free(back);
	ht_snapshot_free(e);

	/* A snapshot without a peak profile writes no peak section, and a
	 * peak section must have a record for every stack. */
	{
		struct ht_snapshot *np = build_full();
		void *i1 = NULL, *i2 = NULL;
		size_t l1 = 0, l2 = 0;

		np->peak_time_ns = 0;
		ok(ht_snapshot_encode(np, &i1, &l1, err, ERRLEN) == 0 &&
		   ht_snapshot_decode(i1, l1, &back, err, ERRLEN) == 0 && back &&
		   back->peak_time_ns == 0 && back->stacks[0].peak_space == 0,
		   "no peak profile: none decoded, the peak counters zero");
		ht_snapshot_free(back);
		back = NULL;
		free(i1);
		i1 = NULL;
		np->peak_time_ns = 5;
		ok(ht_snapshot_encode(np, &i2, &l2, err, ERRLEN) == 0 && l2 > l1,
		   "with a peak profile: a longer file");
		np->stacks[1].peak_space = -1;
		ok(ht_snapshot_encode(np, &i1, &l1, err, ERRLEN) != 0 && strstr(err, "peak_space"),
		   "a negative peak counter is refused: %s", err);
		free(i1);
		free(i2);
		ht_snapshot_free(np);
	}

	test_bad_files(img, len);
	test_hand_bodies();
	test_note();
	test_limits();
	test_mutations(img, len);
	test_large();
	test_files(full);
	test_save(full);

	free(img);
	ht_snapshot_free(full);
	return done_testing();
}
