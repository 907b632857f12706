/* Test subject for tests/t_e2e.sh: a buffer grown by realloc, a quarter
 * at a time, as string builders and vectors grow, from 1000 bytes to over
 * 4 MiB, its contents checked at every step; then shrunk a little and kept.
 *   regrow ROUNDS
 * Every round but the last frees its buffer. Prints "regrew N steps, M bad
 * bytes" (N reallocs in all). */
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

int main(int argc, char **argv)
{
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
