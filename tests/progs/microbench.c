/* Benchmark subject: times malloc(SIZE)+free pairs, the call pattern whose
 * cost a heap profiler's fast path adds to. Each thread runs the same loop
 * after a warm-up; prints one line with the nanoseconds per pair (wall time
 * of the timed loops divided by the pairs each thread made).
 *   microbench [-t THREADS] [-n PAIRS] [-s SIZE] [-d DEPTH] [-w]
 * With -d, the pairs are made DEPTH calls deeper (the cost of a sample
 * grows with the stack it walks). With -w too, each pair is made through
 * one of eight callers in turn, so that a profiler that remembers its last
 * stacks by the call must walk each.
 * With -g MAX, times instead buffers grown by realloc as a vector grows, by
 * an eighth at a time from 4 KiB to MAX bytes, writing each step's new
 * bytes, then freed: PAIRS buffers on one thread; prints the microseconds
 * per buffer.
 * With -c SIZE, times instead callocs of SIZE to SIZE + 24 KiB, each
 * written at its two ends (with -W, whole), eight live at once, the oldest
 * freed at each step: PAIRS callocs on one thread; prints the microseconds
 * per calloc (what clearing a reused block costs, where the program wrote
 * it or not). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long pairs = 20000000;
static size_t size = 32, grow_max, calloc_size;
static long depth;
static int walk_each, calloc_whole;
static pthread_barrier_t start;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static __attribute__((noinline)) void loop(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(size);

		/* the pointer escapes: the pair cannot be optimised away */
		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
}

static __attribute__((noinline)) void grow(long n)
{
	for (long i = 0; i < n; i++) {
		unsigned char *p = NULL;
		size_t have = 0, want = 4096;

		while (want <= grow_max) {
			unsigned char *q = realloc(p, want);

			if (!q) {
				fprintf(stderr, "microbench: realloc(%zu) failed\n", want);
				exit(1);
			}
			p = q;
			memset(p + have, (int)i, want - have);
			have = want;
			want += want / 8;
		}
		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
}

static __attribute__((noinline)) void callocs(long n)
{
	unsigned char *keep[8] = { NULL };

	for (long i = 0; i < n; i++) {
		size_t sz = calloc_size + (size_t)(i % 7) * 4096;
		unsigned char *p = calloc(1, sz);

		if (!p) {
			fprintf(stderr, "microbench: calloc(%zu) failed\n", sz);
			exit(1);
		}
		if (calloc_whole)
			memset(p, (int)i | 1, sz);
		p[0] = p[sz - 1] = (unsigned char)(i | 1);
		free(keep[i % 8]);
		keep[i % 8] = p;
	}
	for (int k = 0; k < 8; k++)
		free(keep[k]);
}

static __attribute__((noinline)) void pair_at(void)
{
	void *p = malloc(size);

	__asm__ volatile("" : : "r"(p) : "memory");
	free(p);
}

#define VIA(x)                                                             \
	static __attribute__((noinline)) void via_##x(void)                \
	{                                                                  \
		pair_at();                                                 \
		__asm__ volatile("" ::: "memory"); /* not a tail call */   \
	}
VIA(0) VIA(1) VIA(2) VIA(3) VIA(4) VIA(5) VIA(6) VIA(7)

/* loop, each pair through the next of eight callers: more than a
 * profiler's cache keeps for one call */
static __attribute__((noinline)) void loop_walked(long n)
{
	static void (*const via[8])(void) = { via_0, via_1, via_2, via_3,
					      via_4, via_5, via_6, via_7 };

	for (long i = 0; i < n; i++)
		via[i & 7]();
}

/* loop(n), d calls deeper. */
static __attribute__((noinline)) void deep(long d, long n)
{
	if (d > 0)
		deep(d - 1, n);
	else if (walk_each)
		loop_walked(n);
	else
		loop(n);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

static void *run(void *arg)
{
	(void)arg;
	deep(depth, 10000); /* first calls set up the thread's state */
	pthread_barrier_wait(&start);
	deep(depth, pairs);
	return NULL;
}

static long arg_long(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end || v <= 0) {
		fprintf(stderr, "microbench: %s must be a positive number, not '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long threads = 1;
	pthread_t tid[64];
	double t0, t1;
	int c;

	while ((c = getopt(argc, argv, "t:n:s:g:d:wc:W")) != -1) {
		switch (c) {
		case 't': threads = arg_long(optarg, "-t"); break;
		case 'n': pairs = arg_long(optarg, "-n"); break;
		case 's': size = (size_t)arg_long(optarg, "-s"); break;
		case 'g': grow_max = (size_t)arg_long(optarg, "-g"); break;
		case 'd': depth = arg_long(optarg, "-d"); break;
		case 'w': walk_each = 1; break;
		case 'c': calloc_size = (size_t)arg_long(optarg, "-c"); break;
		case 'W': calloc_whole = 1; break;
		default:
			fprintf(stderr, "usage: microbench [-t THREADS] [-n PAIRS] [-s SIZE] [-d DEPTH] "
				"[-w] [-g MAX] [-c SIZE [-W]]\n");
			return 2;
		}
	}
	if (grow_max) {
		grow(1); /* the first call sets up the thread's state */
		t0 = now();
		grow(pairs);
		t1 = now();
		printf("microbench: grow max=%zu buffers=%ld us_per_buffer=%.3f\n", grow_max, pairs,
		       (t1 - t0) * 1e6 / (double)pairs);
		return 0;
	}
	if (calloc_size) {
		callocs(8); /* the first calls set up the thread's state */
		t0 = now();
		callocs(pairs);
		t1 = now();
		printf("microbench: calloc size=%zu whole=%d callocs=%ld us_per_calloc=%.3f\n",
		       calloc_size, calloc_whole, pairs, (t1 - t0) * 1e6 / (double)pairs);
		return 0;
	}
	if (threads > 64) {
		fprintf(stderr, "microbench: at most 64 threads\n");
		return 2;
	}
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (long i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, run, NULL) != 0) {
			fprintf(stderr, "microbench: cannot start thread %ld\n", i);
			return 1;
		}
	pthread_barrier_wait(&start);
	t0 = now();
	for (long i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	t1 = now();
	printf("microbench: threads=%ld pairs=%ld size=%zu ns_per_pair=%.3f\n", threads, pairs,
	       size, (t1 - t0) * 1e9 / (double)pairs);
	return 0;
}
