/* Benchmark subject: allocation-heavy threads, as a busy server's are.
 * Each thread keeps a live set of blocks and replaces one at each step:
 * 70% of the sizes under 128 bytes, 29.8% up to 64 KiB, 0.2% from 64 KiB
 * to 1 MiB that are barely touched (their first and last bytes); made by
 * malloc, calloc or realloc, at call depths from 1 to 12. Prints a
 * checksum so nothing is optimised away. -R: free and malloc where it
 * would realloc (what realloc's moves in and out of the sample arena cost).
 *   mtalloc [-t THREADS] [-n OPS] [-l LIVE] [-R] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int no_realloc;

struct worker {
	pthread_t tid;
	uint64_t rng, sum;
	long ops;
	size_t live;
	void **slot;
	size_t *size;
};

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static size_t pick_size(uint64_t r)
{
	unsigned p = (unsigned)(r % 1000);

	if (p < 700)
		return 8 + (r >> 10) % 120;
	if (p < 998)
		return 128 + (r >> 10) % (64 * 1024 - 128);
	return 64 * 1024 + (r >> 10) % (960 * 1024);
}

/* The allocation, depth calls deep. */
__attribute__((noinline)) static void *make(struct worker *w, void *old, size_t n, int depth)
{
	void *p;

	if (depth > 0) {
		p = make(w, old, n, depth - 1);
		__asm__ volatile("" ::: "memory"); /* not a tail call */
		return p;
	}
	switch (w->rng % 3) {
	case 0:
		free(old);
		return malloc(n);
	case 1:
		free(old);
		return calloc(1, n);
	default:
		if (no_realloc) {
			free(old);
			return malloc(n);
		}
		return realloc(old, n);
	}
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->ops; i++) {
		uint64_t r = next_rand(&w->rng);
		size_t k = (size_t)(r >> 40) % w->live, n = pick_size(next_rand(&w->rng));
		unsigned char *p = make(w, w->slot[k], n, (int)(r % 12));

		if (!p)
			abort();
		p[0] = (unsigned char)i;
		p[n - 1] = (unsigned char)(i >> 8);
		if (n < 4096)
			memset(p, (int)(i & 0xff), n);
		w->sum += p[0] + p[n - 1];
		w->slot[k] = p;
		w->size[k] = n;
	}
	for (size_t k = 0; k < w->live; k++)
		free(w->slot[k]);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 2, opt;
	long ops = 1000000;
	size_t live = 4096;
	struct worker *w;
	uint64_t sum = 0;

	while ((opt = getopt(argc, argv, "t:n:l:R")) != -1) {
		if (opt == 't')
			threads = atoi(optarg);
		else if (opt == 'n')
			ops = atol(optarg);
		else if (opt == 'l')
			live = (size_t)atol(optarg);
		else if (opt == 'R')
			no_realloc = 1;
		else
			return 2;
	}
	if (threads < 1 || ops < 1 || live < 1)
		return 2;
	w = calloc((size_t)threads, sizeof(*w));
	for (int i = 0; i < threads; i++) {
		w[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		w[i].ops = ops;
		w[i].live = live;
		w[i].slot = calloc(live, sizeof(void *));
		w[i].size = calloc(live, sizeof(size_t));
		if (!w[i].slot || !w[i].size ||
		    pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
			return 1;
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		sum += w[i].sum;
		free(w[i].slot);
		free(w[i].size);
	}
	free(w);
	printf("%llu\n", (unsigned long long)sum);
	return 0;
}
