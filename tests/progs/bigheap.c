/* Test subject: a heap bigger than one size class of the shim's arena
 * held at once, and blocks bigger than any class.
 *   bigheap COUNT SIZE HUGE...   COUNT blocks of SIZE bytes, then one
 *   block of each HUGE size, all live at once (one byte of each page
 *   written at most: the pages stay untouched); half of the COUNT blocks
 *   are freed again, each huge block grown by realloc to twice its size,
 *   and the program exits with the rest live. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	long count, i;
	size_t size;
	char **p;
	int k;

	if (argc < 3)
		return 2;
	count = atol(argv[1]);
	size = (size_t)atoll(argv[2]);
	p = calloc((size_t)count + (size_t)argc, sizeof(*p));
	for (i = 0; i < count; i++) {
		p[i] = malloc(size);
		if (!p[i])
			return 1;
		p[i][0] = (char)i;
	}
	for (k = 3; k < argc; k++) {
		size_t n = (size_t)atoll(argv[k]);
		char *h = malloc(n);

		if (!h)
			return 1;
		h[0] = 1;
		h[n - 1] = 2;
		h = realloc(h, 2 * n);
		if (!h || h[0] != 1 || h[n - 1] != 2)
			return 1;
		p[count + k] = h;
	}
	for (i = 0; i < count; i += 2)
		if (p[i][0] != (char)i)
			return 1;
	for (i = 0; i < count; i += 2)
		free(p[i]);
	printf("%ld blocks held\n", count - count / 2);
	return 0;
}
