/* Test subject for tests/t_life.sh: blocks handed between two threads, so
 * that a thread frees, without allocating anything since, a block at the
 * address of its own last one, which the other thread made there after
 * freeing that: never temporary. Usage: handoff N. N rounds of
 *   thread b: p = site_give(48), hands p to a, waits
 *   thread a: frees p, q = site_back(48) (the arena gives p's slot again),
 *             hands q to b, waits
 *   thread b: frees q
 * Prints "same address N of M": how often q was at p's address. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static void *box;
static int turn; /* 0: b's (main's), 1: a's */
static long rounds, same;

__attribute__((noinline)) static void *site_give(size_t n) { return malloc(n); }
__attribute__((noinline)) static void *site_back(size_t n) { return malloc(n); }

/* Waits for turn t, takes the box. */
static void *await(int t)
{
	void *p;

	pthread_mutex_lock(&mu);
	while (turn != t)
		pthread_cond_wait(&cv, &mu);
	p = box;
	pthread_mutex_unlock(&mu);
	return p;
}

static void give(int t, void *p)
{
	pthread_mutex_lock(&mu);
	box = p;
	turn = t;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void *thread_a(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		void *p = await(1), *q;

		free(p);
		q = site_back(48);
		same += q == p;
		give(0, q);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t a;

	rounds = argc > 1 ? atol(argv[1]) : 1000;
	if (pthread_create(&a, NULL, thread_a, NULL) != 0)
		return 1;
	for (long i = 0; i < rounds; i++) {
		give(1, site_give(48));
		free(await(0));
	}
	pthread_join(a, NULL);
	printf("same address %ld of %ld\n", same, rounds);
	return 0;
}
