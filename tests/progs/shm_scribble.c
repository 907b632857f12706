/* Test subject: a traced program that writes over its own shared memory
 * with heaptrace, as anyone who can write to the process (or to its
 * collector) could. Usage:
 *   shm_scribble PATH   header and ring scribbled on; PATH is written into
 *                       the header's output field, which must be ignored
 *   shm_scribble PATH early
 *                       PATH written into the output field at once, before
 *                       the collector has settled; then 500 ms of sleep,
 *                       "done", and a normal exit
 * It keeps 1000 blocks of 1000 bytes in before_scribble, waits (up to 10 s)
 * for the collector to read them, scribbles, then
 * keeps 1000 blocks of 2000 bytes in after_scribble (on a thread of its
 * own too), prints "done" and exits normally. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm_find.h"

static void *keep[4000];
static int nkeep;

__attribute__((noinline)) void before_scribble(void)
{
	for (int i = 0; i < 1000; i++)
		keep[nkeep++] = memset(malloc(1000), 1, 1000);
}

__attribute__((noinline)) void after_scribble(void)
{
	for (int i = 0; i < 1000; i++)
		keep[nkeep++] = memset(malloc(2000), 2, 2000);
}

static void *thread_main(void *arg)
{
	(void)arg;
	free(malloc(100)); /* the thread claims a counter slot */
	return NULL;
}

int main(int argc, char **argv)
{
	struct ht_shm *h;
	pthread_t t;
	char *ring;
	uint64_t size;

	h = find_shm();
	if (!h || h->magic != HT_SHM_MAGIC) {
		printf("no heaptrace shared memory\n");
		return 1;
	}
	if (argc > 2 && !strcmp(argv[2], "early")) {
		snprintf(h->output, sizeof(h->output), "%s", argv[1]);
		usleep(500000);
		printf("done\n");
		return 0;
	}
	before_scribble();
	/* the collector reads those events, and the modules, first */
	for (int i = 0; i < 1000 && __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE) !=
					__atomic_load_n(&h->head, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	ring = (char *)h + h->ring_offset;
	size = h->ring_size;
	/* every record in the ring, read or not, becomes nonsense... */
	memset(ring, 0x41, size);
	/* ...and so does the geometry in the header */
	h->ring_size = (uint64_t)1 << 40;
	h->ring_offset = (uint64_t)1 << 41;
	h->slots_offset = (uint64_t)1 << 42;
	h->nslots = (uint64_t)1 << 40;
	h->size = (uint64_t)1 << 44;
	h->next_slot = 1u << 31;
	/* far from where the ring is, and not a record's alignment */
	h->head = h->tail = ((uint64_t)1 << 38) + 8;
	h->max_depth = 100000;
	h->pid = 1;
	if (argc > 1)
		snprintf(h->output, sizeof(h->output), "%s", argv[1]);
	after_scribble();
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_join(t, NULL);
	printf("done\n");
	return 0;
}
