/* Test subject for tests/t_e2e.sh: a buffer grown by realloc, a quarter
 * at a time, as string builders and vectors grow, from 1000 bytes to over
 * 4 MiB, its contents checked at every step; then shrunk a little and kept.
 *   regrow ROUNDS
 * Every round but the last frees its buffer. Prints "regrew N steps, M bad
 * bytes" (N reallocs in all).
 *   regrow edges N [huge]
 * N times: a block grown by realloc, realloc to 0 bytes (glibc frees the
 * block and returns NULL), and realloc of NULL: 3 allocations, 3 frees
 * and 2 reallocs (realloc of NULL is a malloc); with huge, also a realloc
 * that fails (too big), which must leave the block as it was. Prints
 * "edges N, M wrong".
 *   regrow room N
 * The room realloc leaves a block to grow in: a buffer grown a quarter at
 * a time from 1000 bytes to 4 MiB, N times, and how many of its steps
 * moved it; then N * 40 blocks of sizes drawn from 1 KiB to 512 KiB, each
 * grown once by realloc to a size drawn from there to 1 MiB, and the bytes
 * their slots hold past their sizes, as a share of their sizes. Prints
 * "room: N steps, M moved; K grown once, S% slack". */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) unsigned char *regrow_site(size_t *n, long *steps, long *bad)
{
	unsigned char *p = malloc(1000);

	if (!p)
		exit(2);
	memset(p, 0x5a, 1000);
	*n = 1000;
	while (*n < ((size_t)4 << 20)) {
		size_t m = *n + *n / 4 + 3, i;
		unsigned char *q = realloc(p, m);

		if (!q)
			exit(2);
		p = q;
		for (i = 0; i < *n; i += 512)
			*bad += p[i] != 0x5a;
		*bad += p[*n - 1] != 0x5a;
		memset(p + *n, 0x5a, m - *n);
		*n = m;
		++*steps;
	}
	/* shrink by a little: stays where it is */
	p = realloc(p, *n - 100);
	*n -= 100;
	++*steps;
	*bad += p[*n - 1] != 0x5a;
	return p;
}

static int edges(long n, int huge)
{
	long wrong = 0;

	for (long i = 0; i < n; i++) {
		char *p = malloc(100), *q;

		if (!p)
			return 2;
		p[0] = 'e';
		q = realloc(p, 200 + (size_t)(i % 64));
		if (!q)
			return 2;
		p = q;
		if (huge) {
			/* a size no allocator gives: fails, and leaves p as it
			 * was (through a volatile, or the compiler knows) */
			size_t volatile big = (size_t)-1 / 2;

			q = realloc(p, big);
			if (q) {
				wrong++;
				p = q;
			} else {
				wrong += p[0] != 'e';
			}
		}
		q = realloc(p, 0);
		wrong += q != NULL;
		free(q);
		q = realloc(NULL, 50);
		if (!q)
			return 2;
		free(q);
	}
	printf("edges %ld, %ld wrong\n", n, wrong);
	return wrong != 0;
}

static int room(long rounds)
{
	long steps = 0, moved = 0, resizes = rounds * 40;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	double size_sum = 0, slack_sum = 0;
	unsigned char *p;

	for (long r = 0; r < rounds; r++) {
		size_t n = 1000;

		p = malloc(n);
		if (!p)
			return 2;
		while (n < ((size_t)4 << 20)) {
			size_t m = n + n / 4 + 3;
			unsigned char *q = realloc(p, m);

			if (!q)
				return 2;
			moved += q != p;
			steps++;
			p = q;
			n = m;
		}
		free(p);
	}
	for (long i = 0; i < resizes; i++) {
		size_t n, m;
		unsigned char *q;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		n = 1024 + (size_t)(rng % (511u << 10));
		m = n + 1 + (size_t)((rng >> 32) % ((1u << 20) - n));
		p = malloc(n);
		if (!p)
			return 2;
		p[0] = p[n - 1] = 1;
		q = realloc(p, m);
		if (!q)
			return 2;
		q[m - 1] = 1;
		size_sum += (double)m;
		slack_sum += (double)(malloc_usable_size(q) - m);
		free(q);
	}
	printf("room: %ld steps, %ld moved; %ld grown once, %.0f%% slack\n", steps, moved,
	       resizes, 100 * slack_sum / size_sum);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "room"))
		return room(atol(argv[2]));
	if (argc > 2 && !strcmp(argv[1], "edges"))
		return edges(atol(argv[2]), argc > 3 && !strcmp(argv[3], "huge"));

	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	long steps = 0, bad = 0;
	unsigned char *keep = NULL;
	size_t n = 0;

	for (int r = 0; r < rounds; r++) {
		free(keep);
		keep = regrow_site(&n, &steps, &bad);
	}
	printf("regrew %ld steps, %ld bad bytes, kept %zu\n", steps, bad, n);
	return bad != 0;
}
