/* Test subject for tests/t_life.sh: sites whose blocks live known times.
 * Usage: lifetimes TEMP TSIZE ROUNDS K SIZE
 *   site_temp   TEMP blocks of TSIZE bytes, each freed at once, before
 *               anything else is allocated: temporary
 *   site_short  ROUNDS times K blocks of SIZE bytes, freed after 5 ms
 *   site_long   K blocks of SIZE bytes, freed after 300 ms
 *   site_leak   one block of 64 bytes after each of those rounds (so that
 *               the last block of a round is not temporary), never freed
 *   site_churn  1000 blocks of 32 bytes through a ring of 16, the last 16
 *               in use at exit, all younger than the leaked blocks
 * and, TEMP times each, the other ways to allocate:
 *   site_calloc, site_align  a block by calloc, by posix_memalign, freed
 *               at once: temporary
 *   site_zero   a block, then malloc(0) (an allocation of no bytes), then
 *               both freed: the block is not temporary
 *   site_rbase, site_realloc  a block of 16 bytes grown to TSIZE by
 *               realloc, then freed at once: the block realloc made is
 *               temporary, the one it replaced is not
 * Prints "done" at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KMAX 1000
static char *blocks[KMAX];
static char *ring[16];
static void *volatile sink; /* so that the compiler keeps malloc(0) and its free */

__attribute__((noinline)) static char *site_temp(size_t n) { return malloc(n); }
__attribute__((noinline)) static char *site_short(size_t n) { return malloc(n); }
__attribute__((noinline)) static char *site_long(size_t n) { return malloc(n); }
__attribute__((noinline)) static char *site_leak(size_t n) { return malloc(n); }
__attribute__((noinline)) static char *site_churn(size_t n) { return malloc(n); }
__attribute__((noinline)) static char *site_calloc(size_t n) { return calloc(1, n); }
__attribute__((noinline)) static char *site_zero(size_t n) { return malloc(n); }
__attribute__((noinline)) static char *site_rbase(size_t n) { return malloc(n); }
__attribute__((noinline)) static char *site_realloc(char *p, size_t n) { return realloc(p, n); }

__attribute__((noinline)) static char *site_align(size_t n)
{
	void *p = NULL;

	return posix_memalign(&p, 64, n) == 0 ? p : NULL;
}

/* The other ways to allocate, n times each (see the top). */
static void others(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		char *p = site_calloc(size);

		free(p);
		p = site_align(size);
		*(volatile char *)p = 1;
		free(p);
		p = site_zero(size);
		sink = malloc(0);
		*(volatile char *)p = 1;
		free(p);
		free(sink);
		p = site_rbase(16);
		*(volatile char *)p = 1;
		p = site_realloc(p, size);
		*(volatile char *)p = 1;
		free(p);
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* K blocks from site, a leaked one, a wait of ms, then the K freed. */
static void hold(char *(*site)(size_t), int k, size_t size, long ms)
{
	for (int i = 0; i < k; i++) {
		blocks[i] = site(size);
		memset(blocks[i], 1, size);
	}
	*(volatile char *)site_leak(64) = 1;
	sleep_ms(ms);
	for (int i = 0; i < k; i++)
		free(blocks[i]);
}

int main(int argc, char **argv)
{
	long temp, rounds, k;
	size_t tsize, size;

	if (argc != 6) {
		fprintf(stderr, "usage: lifetimes TEMP TSIZE ROUNDS K SIZE\n");
		return 2;
	}
	temp = atol(argv[1]);
	tsize = (size_t)atol(argv[2]);
	rounds = atol(argv[3]);
	k = atol(argv[4]);
	size = (size_t)atol(argv[5]);
	if (k < 1 || k > KMAX || !tsize || !size) {
		fprintf(stderr, "lifetimes: K from 1 to %d, sizes above 0\n", KMAX);
		return 2;
	}
	for (long i = 0; i < temp; i++) {
		char *p = site_temp(tsize);

		*(volatile char *)p = 1;
		free(p);
	}
	others(temp, tsize);
	for (long r = 0; r < rounds; r++)
		hold(site_short, (int)k, size, 5);
	hold(site_long, (int)k, size, 300);
	for (int i = 0; i < 1000; i++) {
		free(ring[i % 16]);
		ring[i % 16] = site_churn(32);
	}
	printf("done\n");
	return 0;
}
