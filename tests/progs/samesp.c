/* Test subject for tests/t_e2e.sh: allocations from one call site, made
 * with the same stack pointer but through different callers, so that only
 * the frames above tell them apart (the shim's stack cache must see it).
 *   samesp N [realloc]
 * Keeps N blocks of 100 bytes: N/2 through via_a, N/2 through via_b
 * (alternating), and N/2 more through rec() at depths 3 and 4
 * (alternating); prints what it kept. With realloc, each block is made by
 * malloc(80), then realloc to 100 (a move), then to 90 (in place at rate
 * 1): three allocations at leaf_site, the last one kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void **kept;
static int nkept, grow;

__attribute__((noinline)) void *leaf_site(size_t n)
{
	void *p = malloc(grow ? n - 20 : n);

	if (p && grow) {
		void *q = realloc(p, n);

		if (!q)
			return NULL;
		p = realloc(q, n - 10);
		if (!p)
			return q;
		n -= 10;
	}

	if (p)
		memset(p, 1, n);
	return p;
}

/* via_a and via_b have the same frame: leaf_site runs at the same stack
 * pointer from either */
__attribute__((noinline)) void via_a(size_t n)
{
	void *p = leaf_site(n);

	kept[nkept++] = p;
}

__attribute__((noinline)) void via_b(size_t n)
{
	void *p = leaf_site(n);

	kept[nkept++] = p;
}

__attribute__((noinline)) void rec(int depth, size_t n)
{
	if (depth == 0) {
		void *p = leaf_site(n);

		kept[nkept++] = p;
		return;
	}
	rec(depth - 1, n);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, i;

	grow = argc > 2 && strcmp(argv[2], "realloc") == 0;

	kept = calloc((size_t)n * 2, sizeof(void *));
	if (!kept)
		return 1;
	for (i = 0; i < n; i++) {
		if (i % 2)
			via_a(100);
		else
			via_b(100);
	}
	for (i = 0; i < n; i++)
		rec(3 + i % 2, 100);
	printf("samesp: kept %d blocks\n", nkept);
	return 0;
}
