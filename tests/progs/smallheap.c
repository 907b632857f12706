/* Keeps N small blocks (1..120 bytes, a fixed pseudo-random mix), each
 * filled, then checks and frees them: the heap of small objects that an
 * interpreter or a tree of nodes makes. Prints a checksum.
 *   smallheap N */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000, i;
	unsigned char **v = malloc(n * sizeof(*v));
	uint64_t x = 0x9e3779b97f4a7c15ull, sum = 0;

	if (!v)
		return 1;
	for (i = 0; i < n; i++) {
		size_t sz;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		sz = 1 + x % 120;
		v[i] = malloc(sz);
		if (!v[i])
			return 1;
		memset(v[i], (int)(i & 0xff), sz);
		v[i][sz - 1] = (unsigned char)sz;
	}
	for (i = 0; i < n; i++) {
		sum = sum * 31 + v[i][0] + v[i][v[i][0] == (i & 0xff) ? 0 : 1];
		free(v[i]);
	}
	free(v);
	printf("%llu\n", (unsigned long long)sum);
	return 0;
}
