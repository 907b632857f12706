/* Unit test of the collector's live profile (collector/daemon/profile.c) as the
 * ring feeds it: allocations with their frames or by stack id, frees, lost
 * and unknown events, and frames bound to the module loaded at the time of
 * the sample; their cells and temporary counters. At rate 1, so every
 * figure is exact, but for the cells, also at a rate that weighs them. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "daemon/profile.h"
#include "preload/ring.h"
#include "profile_fill.h"
#include "tap.h"

/* The stack of s whose leaf location has address leaf, or NULL. */
static const struct ht_stack *stack_at(const struct ht_snapshot *s, uint64_t leaf)
{
	for (size_t i = 0; i < s->nstacks; i++) {
		const struct ht_stack *k = &s->stacks[i];

		if (k->nframes && s->locations[s->frames[k->first_frame]].address == leaf)
			return k;
	}
	return NULL;
}

/* The path of the module of the leaf of stack k ("" if none). */
static const char *leaf_module(const struct ht_snapshot *s, const struct ht_stack *k)
{
	uint32_t m = s->locations[s->frames[k->first_frame]].module;

	return m == HT_NONE ? "" : s->modules[m].path;
}

/* The cell (kind, bucket) of stack k of s, or NULL. */
static const struct ht_cell *cell_at(const struct ht_snapshot *s, const struct ht_stack *k,
				     int kind, unsigned bucket)
{
	for (uint32_t i = 0; k && i < k->ncells; i++) {
		const struct ht_cell *c = &s->cells[k->first_cell + i];

		if (c->kind == kind && c->bucket == bucket)
			return c;
	}
	return NULL;
}

/* Cell c holds one sample of a block of b bytes at rate: w = 1/p objects,
 * w b bytes, w(w-1) and b^2 w(w-1) behind them. */
static int one_sample(const struct ht_cell *c, double b, uint64_t rate)
{
	double w = rate > 1 ? 1 / -expm1(-b / (double)rate) : 1, e = w * (w - 1);

	return c && c->samples == 1 && fabs(c->objects - w) < 1e-9 * w &&
	       fabs(c->space - w * b) < 1e-9 * w * b && fabs(c->var_objects - e) <= 1e-9 * e &&
	       fabs(c->var_space - e * b * b) <= 1e-9 * e * b * b;
}

/* Lifetimes, temporary blocks, sizes as events arrive, ages at the
 * snapshot, hand-fed with their times. */
static void test_cells(uint64_t rate)
{
	struct ht_profile *p = ht_profile_new(rate);
	const uint64_t a[] = { 0x1010 }, b[] = { 0x1040 };
	const int64_t t0 = 1000000000;
	const struct ht_stack *k;
	struct ht_snapshot *s;
	size_t i;
	int ordered = 1;

	ht_profile_module(p, "/lib/one.so", 11, 0x1000, 0x2000, 0x1000, NULL, 0);
	ht_profile_alloc(p, 0xa000, 100, t0, a, 1);
	ht_profile_release(p, 0xa000, t0 + 5000000, 0);   /* 5 ms */
	ht_profile_alloc(p, 0xa000, 48, t0 + 6000000, a, 1);
	ht_profile_release(p, 0xa000, t0 + 6000500, 1);   /* 500 ns, temporary */
	ht_profile_alloc(p, 0xb000, 5000, t0, b, 1);       /* in use, 2.5 s at the snapshot */
	ht_profile_alloc(p, 0xc000, 7, t0 + 2500000000ll - 3000, b, 1); /* 3 us */
	ht_profile_release(p, 0xd000, t0, 1);              /* unknown: nothing */
	s = ht_snapshot_new();
	ok(s && ht_profile_fill(p, s, NULL) == 0 && ht_profile_add_cells(p, s, t0 + 2500000000ll) == 0,
	   "rate %llu: a snapshot with cells", (unsigned long long)rate);
	ok(s->has_cells, "rate %llu: it says it has cells", (unsigned long long)rate);
	k = stack_at(s, 0x1010);
	ok(one_sample(cell_at(s, k, HT_CELL_LIFE, 12), 100, rate),
	   "rate %llu: a block freed after 5 ms: life bucket 12 (5 to 10 ms)", (unsigned long long)rate);
	ok(one_sample(cell_at(s, k, HT_CELL_LIFE, 0), 48, rate),
	   "rate %llu: one freed after 500 ns: life bucket 0", (unsigned long long)rate);
	ok(one_sample(cell_at(s, k, HT_CELL_SIZE, 7), 100, rate) &&
	   one_sample(cell_at(s, k, HT_CELL_SIZE, 6), 48, rate),
	   "rate %llu: sizes 100 and 48 in size buckets 7 and 6", (unsigned long long)rate);
	is_int(k ? k->ncells : 0, 4, "rate %llu: stack a has those 4 cells, no age (nothing in use)",
	       (unsigned long long)rate);
	{
		double w = rate > 1 ? 1 / -expm1(-48.0 / (double)rate) : 1;

		ok(k && k->temp_samples == 1 && fabs(k->temp_objects - w) < 1e-9 * w &&
		   fabs(k->temp_space - 48 * w) < 1e-9 * 48 * w &&
		   fabs(k->temp_var[0] - w * (w - 1)) <= 1e-9 * w * w &&
		   fabs(k->temp_var[1] - 48 * 48 * w * (w - 1)) <= 1e-9 * 48 * 48 * w * w,
		   "rate %llu: stack a's temporary block: one sample of 48 bytes", (unsigned long long)rate);
	}
	k = stack_at(s, 0x1040);
	ok(one_sample(cell_at(s, k, HT_CELL_AGE, ht_time_bucket(2500000000ull)), 5000, rate),
	   "rate %llu: a block in use for 2.5 s: age bucket %u", (unsigned long long)rate,
	   ht_time_bucket(2500000000ull));
	ok(one_sample(cell_at(s, k, HT_CELL_AGE, 2), 7, rate),
	   "rate %llu: one made 3 us before: age bucket 2 (2 to 5 us)", (unsigned long long)rate);
	ok(k && k->temp_samples == 0 && k->temp_objects == 0 && !cell_at(s, k, HT_CELL_LIFE, 0),
	   "rate %llu: stack b: nothing freed, nothing temporary", (unsigned long long)rate);
	for (i = 1; i < s->ncells; i++)
		if (s->cells[i - 1].stack > s->cells[i].stack ||
		    (s->cells[i - 1].stack == s->cells[i].stack &&
		     (s->cells[i - 1].kind * 256 + s->cells[i - 1].bucket >=
		      s->cells[i].kind * 256 + s->cells[i].bucket)))
			ordered = 0;
	ok(ordered && s->ncells == 8, "rate %llu: 8 cells (4 a stack), in (stack, kind, bucket) order",
	   (unsigned long long)rate);
	ht_snapshot_free(s);
	ht_profile_free(p);
}

/* The peak profile: the in-use counters of each stack when the total was
 * highest, however briefly, whatever came after. */
static void test_peak(void)
{
	struct ht_profile *p = ht_profile_new(1);
	const uint64_t a[] = { 0x1010 }, b[] = { 0x1040 }, c[] = { 0x1050 };
	const struct ht_stack *k;
	struct ht_snapshot *s;

	ht_profile_module(p, "/lib/one.so", 11, 0x1000, 0x2000, 0x1000, NULL, 0);
	ht_profile_alloc(p, 0x100, 1000, 0, a, 1);   /* 1000 */
	ht_profile_alloc(p, 0x200, 500, 0, b, 1);    /* 1500 */
	ht_profile_release(p, 0x100, 0, 0);             /* 500 */
	ht_profile_alloc(p, 0x300, 4000, 0, a, 1);   /* 4500: the peak */
	ht_profile_alloc(p, 0x400, 100, 0, b, 1);    /* 4600: no, this one */
	ht_profile_release(p, 0x300, 0, 0);             /* 600 */
	ht_profile_release(p, 0x200, 0, 0);             /* 100 */
	ht_profile_alloc(p, 0x500, 3000, 0, c, 1);   /* 3100: a stack born after the peak */
	ht_profile_alloc(p, 0x600, 1000, 0, a, 1);   /* 4100: high, not the highest */
	ht_profile_release(p, 0x600, 0, 0);
	is_int((long long)ht_profile_peak(p), 4600, "the peak: 4600 bytes in use, however briefly");
	is_int((long long)ht_profile_inuse(p), 3100, "in use now: 3100");
	s = fill(p);
	k = stack_at(s, 0x1010);
	ok(k && k->peak_space == 4000 && k->peak_objects == 1 && k->peak_samples == 1 &&
	   k->inuse_space == 0, "stack a: 4000 bytes at the peak, nothing now");
	k = stack_at(s, 0x1040);
	ok(k && k->peak_space == 600 && k->peak_objects == 2 && k->inuse_space == 100,
	   "stack b: 600 bytes in 2 objects at the peak, 100 now");
	k = stack_at(s, 0x1050);
	ok(k && k->peak_space == 0 && k->inuse_space == 3000,
	   "stack c, born after the peak: nothing at the peak");
	ht_snapshot_free(s);
	/* a higher peak, reached and still standing when the snapshot is taken */
	ht_profile_alloc(p, 0x700, 5000, 0, b, 1);   /* 8100 */
	s = fill(p);
	k = stack_at(s, 0x1040);
	ok(k && k->peak_space == 5100, "a new peak still standing is the peak (stack b 5100)");
	k = stack_at(s, 0x1010);
	ok(k && k->peak_space == 0, "and stack a has nothing at it");
	is_int((long long)ht_profile_peak(p), 8100, "the peak is now 8100");
	ht_snapshot_free(s);
	ht_profile_free(p);
}

/* The live table: a block of 4 GiB or more keeps its whole size, and
 * many blocks, freed in any order, come back out exactly, through the
 * table's growth and its deletions that move entries. */
static void test_live_sizes(void)
{
	struct ht_profile *p = ht_profile_new(1);
	const uint64_t a[] = { 0x1010 }, b[] = { 0x1040 };
	const uint64_t huge = (uint64_t)5 << 30, more = ((uint64_t)1 << 32) - 1;
	uint64_t sum = 0;
	int bad = 0;

	ht_profile_alloc(p, 0x10, huge, 0, a, 1);
	ht_profile_alloc(p, 0x20, more, 0, a, 1);
	ht_profile_alloc(p, 0x30, 7, 0, b, 1);
	is_int((int64_t)ht_profile_inuse(p), (int64_t)(huge + more + 7),
	       "live sizes: 5 GiB, 4 GiB - 1 and 7 bytes in use");
	ht_profile_release(p, 0x10, 0, 0);
	is_int((int64_t)ht_profile_inuse(p), (int64_t)(more + 7), "live sizes: the 5 GiB block freed");
	ht_profile_alloc(p, 0x40, huge + 1, 0, b, 1);
	ht_profile_release(p, 0x20, 0, 0);
	ht_profile_release(p, 0x30, 0, 0);
	is_int((int64_t)ht_profile_inuse(p), (int64_t)(huge + 1),
	       "live sizes: another big one kept aside, the others freed");
	ht_profile_release(p, 0x40, 0, 0);
	is_int((int64_t)ht_profile_inuse(p), 0, "live sizes: all freed");

	/* 100000 blocks (the table grows from 1024 slots), freed in an
	 * order unrelated to their addresses; every tenth of 4 GiB or more */
	for (uint64_t i = 1; i <= 100000; i++) {
		uint64_t size = i % 10 ? i : ((uint64_t)4 << 30) + i;

		ht_profile_alloc(p, i * 48, size, 0, a, 1);
		sum += size;
	}
	bad += (uint64_t)ht_profile_inuse(p) != sum;
	for (uint64_t k = 0; k < 100000; k++) {
		uint64_t i = (k * 7919) % 100000 + 1;

		ht_profile_release(p, i * 48, 0, 0);
		sum -= i % 10 ? i : ((uint64_t)4 << 30) + i;
		if (k % 9973 == 0)
			bad += (uint64_t)ht_profile_inuse(p) != sum;
	}
	ok(bad == 0 && ht_profile_inuse(p) == 0 && ht_profile_unmatched(p) == 0,
	   "live sizes: 100000 blocks in and out, the total exact all along (%d off)", bad);
	ht_profile_free(p);
}

int main(void)
{
	test_live_sizes();
	struct ht_profile *p = ht_profile_new(1);
	const uint64_t a[] = { 0x1010, 0x1020, 0x1030 }, b[] = { 0x1040, 0x1020, 0x1030 };
	const uint64_t c[] = { 0x1050 };
	const struct ht_stack *k;
	struct ht_snapshot *s;

	if (!ok(p != NULL, "a profile at rate 1"))
		return done_testing();
	ok(ht_profile_module(p, "/lib/one.so", 11, 0x1000, 0x2000, 0x1000, NULL, 0) == 0,
	   "a module at 0x1000-0x2000");

	/* frames sent in full, then by id */
	ok(ht_profile_alloc(p, 0xa000, 100, 0, a, 3) == 0, "an allocation with its frames");
	ok(ht_profile_stack(p, 1, a, 3) == 0, "stack id 1: the same frames");
	ok(ht_profile_stack(p, 2, b, 3) == 0, "stack id 2: other frames");
	ok(ht_profile_alloc_id(p, 0xa100, 200, 0, 1) == 0, "an allocation at stack 1");
	ok(ht_profile_alloc_id(p, 0xa200, 300, 0, 2) == 0, "an allocation at stack 2");
	ok(ht_profile_alloc_id(p, 0xa300, 400, 0, 2) == 0, "another at stack 2");
	ht_profile_release(p, 0xa300, 0, 0);
	is_int(ht_profile_unmatched(p), 0, "nothing unmatched so far");
	is_int((long long)ht_profile_inuse(p), 600, "in use: 100 + 200 + 300 bytes");

	s = fill(p);
	is_int(s->nstacks, 2, "two stacks: an id naming known frames is the same stack");
	k = stack_at(s, 0x1010);
	ok(k && k->inuse_space == 300 && k->inuse_objects == 2 && k->alloc_objects == 2,
	   "stack a: 2 objects, 300 bytes, in full and by id");
	k = stack_at(s, 0x1040);
	ok(k && k->inuse_space == 300 && k->alloc_space == 700 && k->inuse_objects == 1,
	   "stack b: 700 bytes allocated, 300 in use after one free");
	ht_snapshot_free(s);

	/* ids never defined, or out of range */
	ok(ht_profile_alloc_id(p, 0xb000, 50, 0, 7) == 0, "an allocation at an unknown id");
	is_int(ht_profile_unmatched(p), 1, "is counted as unmatched");
	is_int((long long)ht_profile_inuse(p), 600, "and adds nothing");
	ok(ht_profile_stack(p, 0, a, 3) != 0, "stack id 0 is refused");
	ok(ht_profile_stack(p, HT_MAX_STACK_ID + 1, a, 3) != 0, "an id over the maximum is refused");
	ok(ht_profile_stack(p, 100000, c, 1) == 0, "a sparse large id is accepted");
	ok(ht_profile_alloc_id(p, 0xb100, 10, 0, 100000) == 0, "and names its stack");

	/* a module unloaded and another loaded at its addresses: an id keeps
	 * the module it was defined under; a new id binds to the new one */
	ok(ht_profile_module(p, "/lib/two.so", 11, 0x1000, 0x2000, 0x1000, NULL, 0) == 0,
	   "another module at 0x1000-0x2000");
	ok(ht_profile_alloc_id(p, 0xb200, 1000, 0, 1) == 0, "an allocation at stack 1 after it");
	ok(ht_profile_stack(p, 3, a, 3) == 0, "stack id 3: stack a's frames, now");
	ok(ht_profile_alloc_id(p, 0xb300, 2000, 0, 3) == 0, "an allocation at stack 3");
	s = fill(p);
	{
		size_t i, old = 0, new = 0;

		for (i = 0; i < s->nstacks; i++) {
			k = &s->stacks[i];
			if (s->locations[s->frames[k->first_frame]].address != 0x1010)
				continue;
			if (!strcmp(leaf_module(s, k), "/lib/one.so"))
				old += (size_t)k->inuse_space;
			else if (!strcmp(leaf_module(s, k), "/lib/two.so"))
				new += (size_t)k->inuse_space;
		}
		is_int(old, 1300, "frames of id 1 stay bound to one.so (100 + 200 + 1000 bytes)");
		is_int(new, 2000, "frames of id 3 are bound to two.so (2000 bytes)");
	}
	ht_snapshot_free(s);
	ht_profile_free(p);
	test_peak();
	test_cells(1);
	test_cells(1024);
	return done_testing();
}
