/* Test subject: a retained heap whose truth is known, for the coverage of
 * the sampled intervals end to end (tests/t_interval.sh). Keeps:
 *   big_site    12 blocks of 300000 bytes (sampled almost surely)
 *   small_site  20000 blocks of 48 bytes (about 15 samples at 64 kB)
 *   mixed_site  3000 blocks of 16 B to 32 kB, log-uniform, the same sizes
 *               every run (about 200 samples at 64 kB)
 * and allocates and frees 100000 blocks of 100 bytes at churn_site. Prints
 * "SITE OBJECTS BYTES" for each kept site, then exits without freeing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *keep[40000];
static int nkeep;

__attribute__((noinline)) static void big_site(void)
{
	for (int i = 0; i < 12; i++)
		keep[nkeep++] = memset(malloc(300000), 1, 300000);
	printf("big_site 12 %d\n", 12 * 300000);
}

__attribute__((noinline)) static void small_site(void)
{
	for (int i = 0; i < 20000; i++)
		keep[nkeep++] = memset(malloc(48), 1, 48);
	printf("small_site 20000 %d\n", 20000 * 48);
}

__attribute__((noinline)) static void mixed_site(void)
{
	unsigned long long x = 88172645463325252ull, bytes = 0;

	for (int i = 0; i < 3000; i++) {
		size_t n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = (size_t)exp(log(16.0) + (double)(x >> 11) / 9007199254740992.0 * log(2048.0));
		keep[nkeep++] = memset(malloc(n), 1, n);
		bytes += n;
	}
	printf("mixed_site 3000 %llu\n", bytes);
}

__attribute__((noinline)) static void churn_site(void)
{
	for (int i = 0; i < 100000; i++) {
		volatile char *p = malloc(100);

		p[0] = 1;
		free((void *)p);
	}
}

int main(void)
{
	big_site();
	small_site();
	mixed_site();
	churn_site();
	return 0;
}
