/* Unit test of the sample arena (preload/arena.c, included whole): the
 * size class computed for a request is the smallest that holds it, and
 * freed slots are reused, small ones and large ones (whose pages are kept
 * up to a limit, or given back). */
#include <stdint.h>
#include <stdlib.h>

#include "../preload/arena.c"
#include "tap.h"

struct ht_hot ht_hot;

/* The smallest class whose slots hold need bytes, by looking. */
static int class_by_search(size_t need)
{
	int c;

	for (c = 0; c < nclasses; c++)
		if (classes[c].slot_size >= need)
			return c;
	return -1;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* Allocates n blocks of size bytes, frees them all, allocates n again:
 * the second round must reuse exactly the first round's slots, without
 * making more of the arena read-write. */
static void reuse(size_t size, int n, const char *what)
{
	uintptr_t *first = calloc((size_t)n, sizeof(*first));
	uintptr_t *again = calloc((size_t)n, sizeof(*again));
	uint64_t committed;
	int i, apart = 1, same = 1, zero = 1, got = 1;

	for (i = 0; i < n; i++) {
		first[i] = (uintptr_t)ht_arena_alloc(size, 0, HT_BLK_SAMPLED, 0);
		if (!first[i]) {
			got = 0;
			break;
		}
		memset((void *)first[i], 0xab, size);
	}
	ok(got, "%s: %d blocks of %zu bytes", what, n, size);
	if (!got)
		return;
	qsort(first, (size_t)n, sizeof(*first), cmp_ptr);
	for (i = 1; i < n; i++)
		if (first[i] - first[i - 1] < size)
			apart = 0;
	ok(apart, "%s: no two blocks overlap", what);
	ok(ht_arena_usable((void *)first[0]) >= size && ht_arena_size((void *)first[0]) == size &&
	   ht_arena_flags((void *)first[0]) == HT_BLK_SAMPLED,
	   "%s: the header knows size, usable size and flags", what);
	committed = ht_arena_committed;
	for (i = 0; i < n; i++)
		ht_arena_free((void *)first[i]);
	for (i = 0; i < n; i++) {
		again[i] = (uintptr_t)ht_arena_alloc(size, 0, HT_BLK_SAMPLED, 1);
		if (!again[i])
			break;
		if (((unsigned char *)again[i])[size - 1] || ((unsigned char *)again[i])[0])
			zero = 0;
	}
	qsort(again, (size_t)n, sizeof(*again), cmp_ptr);
	for (i = 0; i < n; i++)
		if (again[i] != first[i])
			same = 0;
	ok(same, "%s: freed slots are all reused", what);
	is_int(ht_arena_committed, committed, "%s: and no more of the arena is made read-write", what);
	ok(zero, "%s: a reused slot asked for zeros reads as zeros", what);
	for (i = 0; i < n; i++)
		ht_arena_free((void *)again[i]);
	free(first);
	free(again);
}

int main(void)
{
	size_t need, bad = 0, checked = 0;
	uint64_t top;

	ok(ht_arena_init() == 0, "the arena's address range is reserved");
	top = classes[nclasses - 1].slot_size;
	for (need = 1; need <= ((size_t)1 << 20); need++, checked++)
		if (class_for(need) != class_by_search(need))
			bad++;
	for (need = (size_t)1 << 20; need <= top + 1; need += 4093, checked++)
		if (class_for(need) != class_by_search(need))
			bad++;
	for (int c = 0; c < nclasses; c++) {
		uint64_t s = classes[c].slot_size;

		bad += class_for(s) != c;
		bad += class_for(s + 1) != class_by_search(s + 1);
		checked += 2;
	}
	ok(bad == 0, "the computed class is the smallest that holds the request (%zu sizes, %zu wrong)",
	   checked, bad);
	is_int(class_for(top + 1), -1, "a request past the largest class has none");

	{
		/* the slot index by multiplication, against division: around
		 * every slot edge of the first and last 4096 slots, at random
		 * offsets, and at the region's last byte */
		uint64_t rng = 0x9e3779b97f4a7c15ull;

		bad = checked = 0;
		for (int c = 0; c < nclasses; c++) {
			uint64_t d = classes[c].slot_size, k;

			for (k = 1; k <= 4096 && k * d <= REGION_SIZE; k++) {
				uint64_t edges[4] = { k * d - 1, k * d, k * d + 1,
						      REGION_SIZE - k * d };

				for (int j = 0; j < 4; j++)
					if (edges[j] < REGION_SIZE) {
						bad += slot_index(c, edges[j]) != edges[j] / d;
						checked++;
					}
			}
			for (k = 0; k < 20000; k++) {
				uint64_t off;

				rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
				off = rng & (REGION_SIZE - 1);
				bad += slot_index(c, off) != off / d;
				checked++;
			}
			bad += slot_index(c, REGION_SIZE - 1) != (REGION_SIZE - 1) / d;
			checked++;
		}
		ok(bad == 0, "slot index by multiplication = by division (%zu offsets, %zu wrong)",
		   checked, bad);
	}

	reuse(100, 3000, "small class");
	reuse(40000, 200, "40 kB class");
	reuse((size_t)3 << 20, 3, "3 MB class");
	return done_testing();
}
