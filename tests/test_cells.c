/* Unit test of the snapshot's cells and temporary counters (version 2 of
 * heaptrace(5)): the model's order, the round trip through a file image,
 * version 1 files read without them, and every rule of their sections'
 * validation refused with its one-line reason; and the collector's cells
 * of a stack, added to in any order, against sums kept apart. */
#include "daemon/cells.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"
#include "body.h"
#include "tap.h"
#include "xorshift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ERRLEN 256

/* Three stacks (of one frame each), stacks 0 and 2 with temporary blocks
 * and cells, stack 1 with none. */
static struct ht_snapshot *build(void)
{
	struct ht_snapshot *s = ht_snapshot_new();
	struct ht_function f = { 0 };
	struct ht_line l = { 0, 3 };
	struct ht_location loc = { 0x1234, HT_NONE, 0, 1 };
	struct ht_stack st = { 0 };
	uint32_t fr = 0;

	s->exe = ht_snapshot_strdup(s, "app");
	s->cmdline = ht_snapshot_strdup(s, "app");
	s->rate = 4096;
	s->time_ns = 2;
	f.name = f.system_name = ht_snapshot_strdup(s, "site");
	f.file = ht_snapshot_strdup(s, "");
	ht_snapshot_add_function(s, &f);
	ht_snapshot_add_line(s, &l);
	ht_snapshot_add_location(s, &loc);
	for (int i = 0; i < 3; i++) {
		st.first_frame = ht_snapshot_add_frames(s, &fr, 1);
		st.nframes = 1;
		st.alloc_objects = 10;
		st.temp_objects = i == 1 ? 0 : 2.5 + i;
		st.temp_space = i == 1 ? 0 : 1e6 / 3;
		st.temp_samples = i == 1 ? 0 : 2;
		st.temp_var[0] = i == 1 ? 0 : 0.75;
		st.temp_var[1] = i == 1 ? 0 : 1e18;
		ht_snapshot_add_stack(s, &st);
	}
	return s;
}

static struct ht_cell cell(uint32_t stack, int kind, unsigned bucket, double o)
{
	struct ht_cell c = { 0 };

	c.stack = stack;
	c.kind = (uint8_t)kind;
	c.bucket = (uint8_t)bucket;
	c.objects = o;
	c.space = o * 100;
	c.var_objects = o / 7;
	c.var_space = o * 1e9;
	c.samples = 3;
	return c;
}

static void test_model(void)
{
	struct ht_snapshot *s = build();
	struct ht_cell c;

	c = cell(0, HT_CELL_LIFE, 0, 1);
	ok(ht_snapshot_add_cell(s, &c) == 0, "a cell: index 0");
	c = cell(0, HT_CELL_LIFE, 0, 1);
	ok(ht_snapshot_add_cell(s, &c) == HT_NONE, "the same triple again is refused");
	c = cell(0, HT_CELL_SIZE, 64, 1);
	ok(ht_snapshot_add_cell(s, &c) == 1, "size bucket 64, the last, after a life cell");
	c = cell(0, HT_CELL_AGE, 3, 1);
	ok(ht_snapshot_add_cell(s, &c) == HT_NONE, "an age cell after a size cell is refused");
	c = cell(2, HT_CELL_LIFE, HT_TIME_BUCKETS, 1);
	ok(ht_snapshot_add_cell(s, &c) == HT_NONE, "life bucket 32 is refused");
	c = cell(3, HT_CELL_LIFE, 0, 1);
	ok(ht_snapshot_add_cell(s, &c) == HT_NONE, "a stack there is not is refused");
	c = cell(2, 4, 0, 1);
	ok(ht_snapshot_add_cell(s, &c) == HT_NONE, "kind 4 is refused");
	ok(s->stacks[0].first_cell == 0 && s->stacks[0].ncells == 2 && s->stacks[1].ncells == 0,
	   "stack 0 has cells 0 and 1, stack 1 none");
	is_int(ht_time_bucket(999), 0, "999 ns: time bucket 0");
	is_int(ht_time_bucket(1000), 1, "1 us: time bucket 1");
	is_int(ht_time_bucket(5000000), 12, "5 ms: time bucket 12");
	is_int(ht_time_bucket(UINT64_MAX), 31, "forever: time bucket 31");
	{
		/* the edges as snapshot.h gives them: 1, 2, 5 times each power
		 * of ten from 1 us; each bucket starts at its edge */
		static const uint64_t step[3] = { 1, 2, 5 };
		int good = ht_time_edge_ns(0) == 0 && ht_time_edge_ns(HT_TIME_BUCKETS) == 0;

		for (unsigned k = 1; k < HT_TIME_BUCKETS; k++) {
			uint64_t e = 1000 * step[(k - 1) % 3];

			for (unsigned d = 0; d < (k - 1) / 3; d++)
				e *= 10;
			good &= ht_time_edge_ns(k) == e && ht_time_bucket(e) == k &&
				ht_time_bucket(e - 1) == k - 1;
		}
		ok(good, "every time bucket starts at its edge, 1, 2, 5 times a power of ten from 1 us");
	}
	is_int(ht_size_bucket(0), 0, "size 0: bucket 0");
	is_int(ht_size_bucket(255), 8, "size 255: bucket 8");
	is_int(ht_size_bucket(UINT64_MAX), 64, "the largest size: bucket 64");
	ht_snapshot_free(s);
}

static int same(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void test_round_trip(void)
{
	struct ht_snapshot *s = build(), *b = NULL;
	struct ht_cell c[] = { cell(0, HT_CELL_LIFE, 0, 1), cell(0, HT_CELL_LIFE, 31, 2.5),
			       cell(0, HT_CELL_AGE, 19, 1e12), cell(0, HT_CELL_SIZE, 0, 0),
			       cell(2, HT_CELL_SIZE, 64, 1.0 / 3) };
	char err[ERRLEN] = "";
	void *img = NULL;
	size_t len = 0, i;
	int good = 1;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ht_snapshot_add_cell(s, &c[i]);
	if (!ok(ht_snapshot_encode(s, &img, &len, err, ERRLEN) == 0, "a snapshot with cells encodes"))
		printf("#   %s\n", err);
	if (!ok(ht_snapshot_decode(img, len, &b, err, ERRLEN) == 0 && b, "and decodes")) {
		printf("#   %s\n", err);
		goto out;
	}
	is_int(b->version, 2, "of version 2");
	ok(b->has_cells && b->ncells == 5, "with its 5 cells");
	for (i = 0; i < 5 && i < b->ncells; i++)
		good &= memcmp(&b->cells[i], &s->cells[i], sizeof(c[0])) == 0;
	ok(good, "every field of every cell as written");
	for (i = 0; i < 3; i++) {
		const struct ht_stack *x = &s->stacks[i], *y = &b->stacks[i];

		ok(same(x->temp_objects, y->temp_objects) && same(x->temp_space, y->temp_space) &&
		   x->temp_samples == y->temp_samples && same(x->temp_var[0], y->temp_var[0]) &&
		   same(x->temp_var[1], y->temp_var[1]), "stack %zu: its temporary counters", i);
		ok(x->first_cell == y->first_cell && x->ncells == y->ncells, "stack %zu: its run of cells", i);
	}
	ht_snapshot_free(b);
	b = NULL;
	/* version 1: the same without cells, its header saying 1 */
	free(img);
	s->has_cells = 0;
	s->ncells = 0;
	for (i = 0; i < 3; i++) {
		s->stacks[i].ncells = 0;
		s->stacks[i].temp_objects = s->stacks[i].temp_space = 0;
		s->stacks[i].temp_var[0] = s->stacks[i].temp_var[1] = 0;
		s->stacks[i].temp_samples = 0;
	}
	ok(ht_snapshot_encode(s, &img, &len, err, ERRLEN) == 0, "a snapshot without cells encodes");
	((unsigned char *)img)[8] = 1;
	ok(ht_snapshot_decode(img, len, &b, err, ERRLEN) == 0 && b && b->version == 1 &&
	   !b->has_cells && b->ncells == 0 && b->stacks[0].temp_samples == 0,
	   "a version 1 file is read: no cells, nothing temporary");
	ht_snapshot_free(b);
	b = NULL;
	((unsigned char *)img)[8] = 3;
	ok(ht_snapshot_decode(img, len, &b, err, ERRLEN) == -1, "version 3 is refused");
	is_str(err, "unsupported snapshot version 3", "with its reason");
out:
	free(img);
	ht_snapshot_free(b);
	ht_snapshot_free(s);
}

/* ---- hand-made bodies: one stack (as test_snapshot's good shape) ---- */

static void b_base(struct body *b)
{
	b_section(b, T_STRINGS, 8 + 4 + 4 + 1);
	b_u64(b, 2);
	b_u32(b, 0);
	b_u32(b, 1);
	b_bytes(b, "x", 1);
	b_section(b, T_META, 56);
	b_u32(b, 0);
	b_u32(b, 8);
	b_u64(b, 77);
	b_u32(b, 1);
	b_u32(b, 0);
	b_u64(b, 1);
	b_u64(b, 2);
	b_u64(b, 512);
	b_u32(b, 0);
	b_u32(b, 0);
	b_section(b, T_STACKS, 8 + 56);
	b_u64(b, 1);
	b_u32(b, 0);
	b_u32(b, 0);
	for (int i = 0; i < 4; i++)
		b_f64(b, 1);
	b_u64(b, 1);
	b_u64(b, 1);
}

struct tcase {
	uint32_t stack, kind, bucket;
	double o, sp, vo, vs;
};

static void b_temp(struct body *b, int n, const struct tcase *t)
{
	b_section(b, T_TEMP, 8 + 48 * (uint64_t)n);
	b_u64(b, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		b_u32(b, t[i].stack);
		b_u32(b, 0);
		b_f64(b, t[i].o);
		b_f64(b, t[i].sp);
		b_f64(b, t[i].vo);
		b_f64(b, t[i].vs);
		b_u64(b, 1);
	}
}

static void b_cells(struct body *b, int n, const struct tcase *t)
{
	b_section(b, T_CELLS, 8 + 48 * (uint64_t)n);
	b_u64(b, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		b_u32(b, t[i].stack);
		b_u32(b, t[i].kind | t[i].bucket << 8);
		b_f64(b, t[i].o);
		b_f64(b, t[i].sp);
		b_f64(b, t[i].vo);
		b_f64(b, t[i].vs);
		b_u64(b, 1);
	}
}

/* Decodes body b: want NULL, it must decode; else fail with a message
 * that starts with want. */
static void expect(struct body *b, const char *want, const char *what)
{
	char err[ERRLEN] = "";
	struct ht_snapshot *s = NULL;
	void *img;
	size_t len;
	int rc = -2;

	if (ht_snapshot_wrap_body(b->p, b->n, &img, &len, err, ERRLEN) == 0) {
		rc = ht_snapshot_decode(img, len, &s, err, ERRLEN);
		free(img);
	}
	if (!want) {
		if (!ok(rc == 0, "%s: decodes", what))
			printf("#   %s\n", err);
	} else if (!ok(rc == -1 && strncmp(err, want, strlen(want)) == 0, "%s: refused", what)) {
		printf("#   rc %d, got '%s', want '%s...'\n", rc, err, want);
	} else {
		printf("#   %s\n", err);
	}
	ht_snapshot_free(s);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void temp_case(int n, const struct tcase *t, const char *want, const char *what)
{
	struct body b = { 0 };

	b_base(&b);
	b_temp(&b, n, t);
	expect(&b, want, what);
}

static void cell_case(int n, const struct tcase *t, const char *want, const char *what)
{
	struct body b = { 0 };

	b_base(&b);
	b_cells(&b, n, t);
	expect(&b, want, what);
}

static void test_validation(void)
{
	const double nan = NAN, inf = INFINITY;
	struct body b = { 0 };

	temp_case(1, (struct tcase[]){ { 0, 0, 0, 1, 2, 3, 4 } }, NULL, "a temporary entry");
	temp_case(1, (struct tcase[]){ { 1, 0, 0, 1, 2, 3, 4 } },
		  "corrupt snapshot: temporary entry 0 names stack 1 of 1", "temporary: a stack there is not");
	temp_case(2, (struct tcase[]){ { 0, 0, 0, 1, 2, 3, 4 }, { 0, 0, 0, 1, 2, 3, 4 } },
		  "corrupt snapshot: temporary entry 1 names stack 0 after stack 0", "temporary: a stack twice");
	temp_case(1, (struct tcase[]){ { 0, 0, 0, nan, 2, 3, 4 } },
		  "corrupt snapshot: stack 0 temp_objects is nan", "temporary: objects not a number");
	temp_case(1, (struct tcase[]){ { 0, 0, 0, 1, -2, 3, 4 } },
		  "corrupt snapshot: stack 0 temp_space is -2", "temporary: bytes below 0");
	temp_case(1, (struct tcase[]){ { 0, 0, 0, 1, 2, -3, 4 } },
		  "corrupt snapshot: stack 0 error of temp_objects is -3", "temporary: an error sum below 0");
	temp_case(1, (struct tcase[]){ { 0, 0, 0, 1, 2, 3, inf } },
		  "corrupt snapshot: stack 0 error of temp_space is inf", "temporary: an infinite error sum");
	b_base(&b);
	b_section(&b, T_TEMP, 8 + 47);
	b_u64(&b, 1);
	b_bytes(&b, "0123456789012345678901234567890123456789012345", 47);
	expect(&b, "corrupt snapshot: temporary section holds 47 bytes for 1 entries of 48",
	       "temporary: a record cut short");

	cell_case(3, (struct tcase[]){ { 0, 1, 31, 1, 2, 3, 4 }, { 0, 2, 0, 1, 2, 3, 4 },
				      { 0, 3, 64, 0, 0, 0, 0 } }, NULL, "cells of each kind, the last buckets");
	cell_case(1, (struct tcase[]){ { 1, 1, 0, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 0 names stack 1 of 1", "cells: a stack there is not");
	cell_case(1, (struct tcase[]){ { 0, 0, 0, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 0 is of kind 0, not 1 to 3", "cells: kind 0");
	cell_case(1, (struct tcase[]){ { 0, 4, 0, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 0 is of kind 4, not 1 to 3", "cells: kind 4");
	cell_case(1, (struct tcase[]){ { 0, 2, 32, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 0 is in bucket 32, past the 32 of its kind", "cells: age bucket 32");
	cell_case(1, (struct tcase[]){ { 0, 3, 65, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 0 is in bucket 65, past the 65 of its kind", "cells: size bucket 65");
	cell_case(2, (struct tcase[]){ { 0, 1, 5, 1, 2, 3, 4 }, { 0, 1, 5, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 1 is not after cell 0", "cells: a triple twice");
	cell_case(2, (struct tcase[]){ { 0, 1, 5, 1, 2, 3, 4 }, { 0, 1, 4, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 1 is not after cell 0", "cells: buckets out of order");
	cell_case(2, (struct tcase[]){ { 0, 3, 1, 1, 2, 3, 4 }, { 0, 1, 4, 1, 2, 3, 4 } },
		  "corrupt snapshot: cell 1 is not after cell 0", "cells: kinds out of order");
	cell_case(1, (struct tcase[]){ { 0, 1, 0, -1, 2, 3, 4 } },
		  "corrupt snapshot: cell 0 counts -1 objects", "cells: objects below 0");
	cell_case(1, (struct tcase[]){ { 0, 1, 0, 1, 1e300, 3, 4 } },
		  "corrupt snapshot: cell 0 counts 1 objects, 1e+300 bytes", "cells: bytes beyond 2^63");
	cell_case(1, (struct tcase[]){ { 0, 1, 0, 1, 2, nan, 4 } },
		  "corrupt snapshot: cell 0 has error sums nan", "cells: an error sum not a number");
	cell_case(1, (struct tcase[]){ { 0, 1, 0, 1, 2, 3, -inf } },
		  "corrupt snapshot: cell 0 has error sums 3, -inf", "cells: an error sum below 0");
	b_base(&b);
	b_section(&b, T_CELLS, 8);
	b_u64(&b, 2);
	expect(&b, "corrupt snapshot: cells section holds 0 bytes for 2 entries of 48",
	       "cells: a count the section does not hold");
	b_base(&b);
	b_section(&b, T_CELLS, 4);
	b_u32(&b, 0);
	expect(&b, "corrupt snapshot: cells section is 4 bytes, too short for its count",
	       "cells: no room for the count");
}

/* Samples added to random cells of a stack, in random order: its cells
 * stay in key order, one per key met, each with the samples and sums
 * added to it; a kind or bucket there is no cell for is refused, the
 * vector as it was. */
static void test_cellvec(void)
{
	static uint64_t want_n[4][HT_SIZE_BUCKETS];
	static double want_obj[4][HT_SIZE_BUCKETS], want_space[4][HT_SIZE_BUCKETS];
	static const struct {
		int kind;
		unsigned bucket;
	} bad[] = { { HT_CELL_LIFE, HT_TIME_BUCKETS }, { HT_CELL_AGE, HT_TIME_BUCKETS },
		    { HT_CELL_SIZE, HT_SIZE_BUCKETS }, { 0, 0 }, { 4, 0 }, { HT_CELL_LIFE, 255 } };
	struct ht_cellvec v = { 0 };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned keys = 0, k, order = 1, sums = 1, i, kinds = 0, last = 0;
	int round, failed = 0, refused = 1;

	for (round = 0; round < 20000; round++) {
		int kind;
		unsigned bucket;
		uint64_t size;

		xorshift64(&x);
		kind = HT_CELL_LIFE + (int)(x % 3);
		bucket = (unsigned)(x >> 8) % (kind == HT_CELL_SIZE ? HT_SIZE_BUCKETS : HT_TIME_BUCKETS);
		size = 1 + (x >> 20) % 5000;
		if (!want_n[kind][bucket])
			keys++;
		want_n[kind][bucket]++;
		want_obj[kind][bucket] += 2.0;
		want_space[kind][bucket] += 2.0 * (double)size;
		if (ht_cellvec_add(&v, kind, bucket, size, 2.0, 2.0) != 0)
			failed = 1;
		if (round % 1000 == 999) {
			/* now and then, one that has no cell */
			unsigned n = v.n;

			k = (unsigned)(x >> 40) % (sizeof(bad) / sizeof(bad[0]));
			refused &= ht_cellvec_add(&v, bad[k].kind, bad[k].bucket, 1, 1.0, 0.0) == -1 &&
				   v.n == n;
		}
	}
	ok(!failed, "every add succeeds");
	ok(refused, "a kind or bucket with no cell is refused, the cells as they were");
	is_int(v.n, (int)keys, "one cell per (kind, bucket) met");
	for (i = 0; i < v.n; i++) {
		k = v.c[i].key;
		if (i && last >= k)
			order = 0;
		last = k;
		kinds |= 1u << (k >> 8);
		if ((k >> 8) < HT_CELL_LIFE || (k >> 8) > HT_CELL_SIZE ||
		    (k & 0xff) >= ((k >> 8) == HT_CELL_SIZE ? HT_SIZE_BUCKETS : HT_TIME_BUCKETS) ||
		    v.c[i].samples != want_n[k >> 8][k & 0xff] ||
		    v.c[i].objects != want_obj[k >> 8][k & 0xff] ||
		    fabs(v.c[i].space - want_space[k >> 8][k & 0xff]) > 1e-6 * want_space[k >> 8][k & 0xff])
			sums = 0;
	}
	ok(order, "the cells are in (kind, bucket) order");
	ok(sums, "each cell has its samples, objects and space");
	ok(kinds == (1u << HT_CELL_LIFE | 1u << HT_CELL_AGE | 1u << HT_CELL_SIZE) &&
	   want_n[HT_CELL_SIZE][HT_SIZE_BUCKETS - 1] && want_n[HT_CELL_LIFE][0],
	   "the cells met span every kind, size bucket 64 and life bucket 0 among them");
	ht_cellvec_free(&v);
	ok(v.c == NULL && v.n == 0, "freed, the vector is empty");
}

int main(void)
{
	test_model();
	test_round_trip();
	test_validation();
	test_cellvec();
	return done_testing();
}
