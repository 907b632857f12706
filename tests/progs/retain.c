/* Test subject: retains known bytes at known stacks, frees others, and
 * optionally pauses so it can be dumped. Usage:
 *   retain [N]           N rounds (default 1)
 *   retain -t THREADS N  the same work on THREADS threads at once
 *   retain -s N          N rounds of site_a and site_c only (no site_b): the
 *                        statistical test's many rounds at little memory
 * Per round: site_a keeps 100 blocks of 1000 bytes, site_b keeps 10 blocks
 * of 100000 bytes, site_c allocates and frees 1000 blocks of 64 bytes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *keep[1 << 20];
static int nkeep;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void stash(void *p)
{
	pthread_mutex_lock(&mu);
	keep[nkeep++] = p;
	pthread_mutex_unlock(&mu);
}

__attribute__((noinline)) void site_a(void)
{
	for (int i = 0; i < 100; i++) {
		char *p = malloc(1000);
		memset(p, 1, 1000);
		stash(p);
	}
}

__attribute__((noinline)) void site_b(void)
{
	for (int i = 0; i < 10; i++) {
		char *p = calloc(1, 100000);
		stash(p);
	}
}

__attribute__((noinline)) void site_c(void)
{
	for (int i = 0; i < 1000; i++) {
		volatile char *p = malloc(64);
		p[0] = 1;
		free((void *)p);
	}
}

static int rounds = 1, no_b;

static void *work(void *arg)
{
	(void)arg;
	for (int r = 0; r < rounds; r++) {
		site_a();
		if (!no_b)
			site_b();
		site_c();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 0;

	if (argc > 1 && !strcmp(argv[1], "-s")) {
		no_b = 1;
		argv++;
		argc--;
	} else if (argc > 2 && !strcmp(argv[1], "-t")) {
		threads = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc > 1)
		rounds = atoi(argv[1]);
	if (threads > 0) {
		pthread_t t[64];
		for (int i = 0; i < threads && i < 64; i++)
			pthread_create(&t[i], NULL, work, NULL);
		for (int i = 0; i < threads && i < 64; i++)
			pthread_join(t[i], NULL);
	} else {
		work(NULL);
	}
	printf("retained %d blocks\n", nkeep);
	return 0;
}
