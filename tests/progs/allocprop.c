/* Test subject: a property test of every allocation entry point. Random
 * sizes 0..2 MiB and alignments 1..64 KiB (valid and invalid) go through
 * malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc,
 * memalign, valloc, pvalloc, free and malloc_usable_size, with frees in
 * random order. Every block is filled with its own pattern and checked
 * before it is freed or resized; each result is checked for alignment,
 * usable size >= the size asked for, and overlap with every live block.
 *   allocprop SEED OPS
 * Prints one line and exits 0 when every check held; names the first
 * broken one and exits 1 otherwise. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIVE 256
#define MAX_SIZE ((size_t)2 << 20)

struct blk {
	unsigned char *p;
	size_t size;  /* asked for */
	size_t span;  /* bytes it owns: its usable size, at least 1 */
	uint64_t tag; /* its pattern */
	int filled;   /* its usable size was not 0 */
};

static struct blk live[MAX_LIVE]; /* in allocation order */
static int nlive;
static struct blk *by_addr[MAX_LIVE]; /* the same, sorted by address */
static uint64_t rng, seed;
static long op;
static size_t page;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what, const void *p, size_t size, size_t align)
{
	printf("allocprop: seed %llu op %ld: %s (p %p size %zu align %zu)\n",
	       (unsigned long long)seed, op, what, p, size, align);
	fflush(stdout);
	_exit(1);
}

/* Sizes: many small ones, some of every scale up to 2 MiB, and 0. */
static size_t rand_size(void)
{
	switch (next() % 8) {
	case 0:
		return 0;
	case 1:
	case 2:
		return next() % 65;
	case 3:
		return next() % 4097;
	case 4:
	case 5:
		return next() % (128 << 10);
	default:
		return next() % (MAX_SIZE + 1);
	}
}

/* Alignments 1..64 KiB: powers of two mostly, and some that are not. */
static size_t rand_align(int valid_only)
{
	static const size_t odd[] = { 3, 12, 24, 48, 100, 4095, 4097, 65535, 6 << 10 };

	if (valid_only || next() % 5)
		return (size_t)1 << (next() % 17);
	return odd[next() % (sizeof(odd) / sizeof(odd[0]))];
}

static int pow2(size_t a)
{
	return a && !(a & (a - 1));
}

static void fill(const struct blk *b)
{
	size_t i, words = b->span / 8;
	uint64_t *w = (uint64_t *)(void *)b->p;

	for (i = 0; i < words; i++)
		w[i] = b->tag ^ (i * 0x9e3779b97f4a7c15ull);
	for (i = words * 8; i < b->span; i++)
		b->p[i] = (unsigned char)(b->tag + i);
}

/* Whether the first n bytes of b hold its pattern. */
static int intact(const struct blk *b, size_t n)
{
	size_t i, words = n / 8;
	const uint64_t *w = (const uint64_t *)(const void *)b->p;

	for (i = 0; i < words; i++)
		if (w[i] != (b->tag ^ (i * 0x9e3779b97f4a7c15ull)))
			return 0;
	for (i = words * 8; i < n; i++) {
		uint64_t want = b->tag ^ ((i / 8) * 0x9e3779b97f4a7c15ull);

		if (i / 8 < b->span / 8) {
			if (b->p[i] != ((const unsigned char *)&want)[i % 8])
				return 0;
		} else if (b->p[i] != (unsigned char)(b->tag + i)) {
			return 0;
		}
	}
	return 1;
}

/* The place of address p among the live blocks sorted by address. */
static int find_addr(const unsigned char *p)
{
	int lo = 0, hi = nlive;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (by_addr[mid]->p < p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void unlink_addr(struct blk *b)
{
	int i = find_addr(b->p);

	if (i >= nlive || by_addr[i] != b)
		die("a live block is missing from the address set", b->p, b->size, 0);
	memmove(&by_addr[i], &by_addr[i + 1], (size_t)(nlive - 1 - i) * sizeof(by_addr[0]));
}

/* Checks a block just returned (alignment, usable size, no overlap with
 * a live one), fills it, and adds it to the live set. */
static void add(void *p, size_t size, size_t align, int zeroed)
{
	struct blk *b;
	size_t usable = malloc_usable_size(p);
	int i;

	if (nlive == MAX_LIVE)
		die("too many live blocks", p, size, align);
	if ((uintptr_t)p % (align ? align : 1))
		die("misaligned", p, size, align);
	if ((uintptr_t)p % (size >= 16 ? 16 : 8))
		die("less aligned than malloc's minimum", p, size, align);
	if (usable < size)
		die("usable size below the size asked for", p, size, align);
	if (zeroed)
		for (size_t k = 0; k < size; k++)
			if (((unsigned char *)p)[k])
				die("calloc's block is not zeroed", p, size, align);
	b = &live[nlive];
	b->p = p;
	b->size = size;
	b->span = usable ? usable : 1;
	b->tag = next();
	b->filled = usable != 0;
	i = find_addr(b->p);
	if (i < nlive && by_addr[i]->p < b->p + b->span)
		die("overlaps the live block after it", p, size, align);
	if (i > 0 && by_addr[i - 1]->p + by_addr[i - 1]->span > b->p)
		die("overlaps the live block before it", p, size, align);
	memmove(&by_addr[i + 1], &by_addr[i], (size_t)(nlive - i) * sizeof(by_addr[0]));
	by_addr[i] = b;
	nlive++;
	if (usable)
		fill(b);
}

/* Takes live block k out of the set (its memory is being freed or resized):
 * checks its pattern first. */
static struct blk take(int k)
{
	struct blk b = live[k];

	if (b.filled && !intact(&b, b.span))
		die("a block's contents changed", b.p, b.size, 0);
	if (malloc_usable_size(b.p) < b.size)
		die("usable size shrank", b.p, b.size, 0);
	unlink_addr(&live[k]);
	nlive--;
	/* the last one moves to k: fix its entry in the address set */
	if (k != nlive) {
		int i = find_addr(live[nlive].p);

		live[k] = live[nlive];
		by_addr[i] = &live[k];
	}
	return b;
}

static void do_realloc(int zero_size)
{
	int k = (int)(next() % (uint64_t)nlive);
	size_t n = zero_size ? 0 : rand_size();
	struct blk b = take(k);
	unsigned char *q;

	errno = 0;
	q = realloc(b.p, n);
	if (!q && n) {
		if (errno != ENOMEM)
			die("failed realloc without ENOMEM", b.p, n, 0);
		add(b.p, b.size, 0, 0); /* still there, unchanged */
		return;
	}
	if (!q)
		return; /* size 0: freed (glibc) */
	/* the bytes both sizes cover moved along */
	if (b.filled && !intact(&(struct blk){ q, n, b.span, b.tag, 1 }, b.size < n ? b.size : n))
		die("realloc lost the contents", q, n, 0);
	add(q, n, 0, 0);
}

static void one(void)
{
	size_t n = rand_size(), a;
	void *p = NULL;
	int r, k;

	if (nlive == MAX_LIVE || (nlive && next() % 3 == 0)) {
		struct blk b;

		k = (int)(next() % (uint64_t)nlive);
		b = take(k);
		free(b.p);
		return;
	}
	switch (next() % 16) {
	case 0:
	case 1:
	case 2:
		p = malloc(n);
		if (!p)
			die("malloc failed", p, n, 0);
		add(p, n, 0, 0);
		break;
	case 3: {
		size_t m = next() % 8 + 1;

		p = calloc(m, n / m);
		if (!p)
			die("calloc failed", p, n, 0);
		add(p, m * (n / m), 0, 1);
		break;
	}
	case 4:
		if (nlive)
			do_realloc(next() % 8 == 0);
		else if (!(p = realloc(NULL, n)))
			die("realloc(NULL) failed", p, n, 0);
		else
			add(p, n, 0, 0);
		break;
	case 5:
		if (nlive) {
			k = (int)(next() % (uint64_t)nlive);
			errno = 0;
			/* an overflowing count: fails, the block stays as it was */
			if (reallocarray(live[k].p, SIZE_MAX / 2, k + 3) != NULL || errno != ENOMEM)
				die("reallocarray overflow did not fail with ENOMEM", live[k].p, 0, 0);
			{
				struct blk b = take(k);
				size_t m = next() % 4 + 1;
				void *q = reallocarray(b.p, m, n / m);

				if (!q && m * (n / m) != 0)
					die("reallocarray failed", b.p, n, 0);
				if (q) {
					size_t keep = b.size < m * (n / m) ? b.size : m * (n / m);

					if (b.filled &&
					    !intact(&(struct blk){ q, 0, b.span, b.tag, 1 }, keep))
						die("reallocarray lost the contents", q, n, 0);
					add(q, m * (n / m), 0, 0);
				}
			}
		}
		break;
	case 6:
	case 7:
		a = rand_align(0);
		p = (void *)1;
		r = posix_memalign(&p, a, n);
		if (!pow2(a) || a % sizeof(void *)) {
			if (r != EINVAL || p != (void *)1)
				die("posix_memalign: a bad alignment not refused with EINVAL", p, n, a);
			break;
		}
		if (r)
			die("posix_memalign failed", p, n, a);
		add(p, n, a, 0);
		break;
	case 8:
	case 9:
		a = rand_align(0);
		p = aligned_alloc(a, n);
		if (!pow2(a)) {
			/* the allocator's call: glibc rounds up, others refuse */
			if (p)
				add(p, n, 0, 0);
			break;
		}
		if (!p)
			die("aligned_alloc failed", p, n, a);
		add(p, n, a, 0);
		break;
	case 10:
	case 11:
		a = rand_align(0);
		p = memalign(a, n);
		if (!pow2(a)) {
			if (p)
				add(p, n, 0, 0);
			break;
		}
		if (!p)
			die("memalign failed", p, n, a);
		add(p, n, a, 0);
		break;
	case 12:
		if (!(p = valloc(n)))
			die("valloc failed", p, n, page);
		add(p, n, page, 0);
		break;
	case 13:
		if (!(p = pvalloc(n)))
			die("pvalloc failed", p, n, page);
		add(p, n, page, 0); /* glibc's rounding up is its own */
		break;
	case 14:
		free(NULL);
		if (malloc_usable_size(NULL) != 0)
			die("malloc_usable_size(NULL) is not 0", NULL, 0, 0);
		errno = 0;
		if (calloc(SIZE_MAX / 2, nlive + 3) != NULL || errno != ENOMEM)
			die("calloc overflow did not fail with ENOMEM", NULL, 0, 0);
		break;
	default:
		/* the pattern of the report: an aligned block of size 0, a
		 * neighbour, the first freed, a new block */
		a = (size_t)64 << (next() % 9);
		p = aligned_alloc(a, 0);
		if (!p)
			die("aligned_alloc of 0 failed", p, 0, a);
		add(p, 0, a, 0);
		if (nlive < MAX_LIVE) {
			p = malloc(40);
			if (!p)
				die("malloc failed", p, 40, 0);
			add(p, 40, 0, 0);
		}
		break;
	}
}

int main(int argc, char **argv)
{
	long ops;

	if (argc != 3) {
		fprintf(stderr, "usage: allocprop SEED OPS\n");
		return 2;
	}
	seed = strtoull(argv[1], NULL, 10);
	ops = strtol(argv[2], NULL, 10);
	rng = seed * 2654435761u + 88172645463325252ull;
	page = (size_t)sysconf(_SC_PAGESIZE);
	for (op = 0; op < ops; op++)
		one();
	while (nlive) {
		struct blk b = take((int)(next() % (uint64_t)nlive));

		free(b.p);
	}
	printf("allocprop: seed %llu: %ld operations, every check held\n",
	       (unsigned long long)seed, ops);
	return 0;
}
