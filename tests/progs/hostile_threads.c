/* Test subject for tests/t_hostile.sh: a storm of short-lived threads.
 *   hostile_threads N CONC
 * starts N threads, at most CONC at a time, every other one detached. Each
 * thread keeps one 100-byte block (storm_keep), allocates and frees 20
 * blocks of 50 bytes (storm_churn) and exits. At rate 1 the profile must
 * show exactly N objects kept and 20*N churned. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void **kept;
static int finished;

__attribute__((noinline)) void *storm_keep(void)
{
	return malloc(100);
}

__attribute__((noinline)) void storm_churn(void)
{
	for (int i = 0; i < 20; i++) {
		volatile char *p = malloc(50);
		p[0] = 1;
		free((void *)p);
	}
}

static void *worker(void *arg)
{
	long i = (long)arg;

	kept[i] = storm_keep();
	memset(kept[i], 1, 100);
	storm_churn();
	__atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int conc = argc > 2 ? atoi(argv[2]) : 64;
	pthread_t *t;
	pthread_attr_t det;
	int started = 0, failed = 0, nkept = 0;

	if (n < 1 || conc < 1)
		return 2;
	kept = calloc((size_t)n, sizeof(void *));
	t = calloc((size_t)conc, sizeof(pthread_t));
	pthread_attr_init(&det);
	pthread_attr_setdetachstate(&det, PTHREAD_CREATE_DETACHED);
	while (started < n) {
		int wave = n - started < conc ? n - started : conc, joinable = 0;

		for (int i = 0; i < wave; i++) {
			long id = started + i;
			int err;

			if (id % 2)
				err = pthread_create(&t[joinable++], NULL, worker, (void *)id);
			else
				err = pthread_create(&(pthread_t){ 0 }, &det, worker, (void *)id);
			if (err) {
				failed++;
				__atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
				if (id % 2)
					joinable--;
			}
		}
		for (int i = 0; i < joinable; i++)
			pthread_join(t[i], NULL);
		started += wave;
	}
	/* the detached ones */
	while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < n)
		usleep(1000);
	for (int i = 0; i < n; i++)
		nkept += kept[i] != NULL;
	printf("storm: %d threads, %d failed to start, %d blocks kept\n", n, failed, nkept);
	return 0;
}
