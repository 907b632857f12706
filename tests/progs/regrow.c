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
 * "edges N, M wrong". */
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

int main(int argc, char **argv)
{
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
