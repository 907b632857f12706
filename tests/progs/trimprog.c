/* A heap that the allocator holds but the program does not use, for
 * heaptrace-dump --trim: "keep" allocates ~200 MiB in 1 KiB blocks, frees
 * 19 of every 20, says "ready" on stderr, waits for a line on standard
 * input (idle: no allocation at all meanwhile) and prints a checksum of
 * the blocks it kept. "busy THREADS ROUNDS": each thread allocates,
 * writes and frees blocks of varied sizes for ROUNDS rounds (saying
 * "ready" once they run), and the checksum of it all is printed.
 * "alone": "keep" in a user namespace of its own. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS (200 * 1024)
#define BLOCK 1024

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ull;
}

static int keep(void)
{
	static unsigned char *b[BLOCKS];
	uint64_t h = 0xcbf29ce484222325ull;
	char line[64];
	size_t i;

	for (i = 0; i < BLOCKS; i++) {
		b[i] = malloc(BLOCK);
		if (!b[i])
			return 1;
		memset(b[i], (int)(i & 0xff), BLOCK);
	}
	for (i = 0; i < BLOCKS; i++)
		if (i % 20) {
			free(b[i]);
			b[i] = NULL;
		}
	fprintf(stderr, "ready\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (i = 0; i < BLOCKS; i += 20)
		h = mix(h, b[i][i % BLOCK]);
	printf("kept %d blocks, checksum %016llx\n", BLOCKS / 20, (unsigned long long)h);
	return 0;
}

static long rounds;
static pthread_barrier_t go;

static void *churn(void *arg)
{
	uint64_t h = 0xcbf29ce484222325ull, x = (uintptr_t)arg * 2654435761u + 1;
	unsigned char *live[64] = { 0 };
	long r;

	pthread_barrier_wait(&go);
	for (r = 0; r < rounds; r++) {
		int k = (int)(x % 64);
		size_t n;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		n = 16 + (size_t)(x >> 40) % (r % 97 == 0 ? 300000 : 4000);
		if (live[k]) {
			h = mix(h, live[k][0]);
			free(live[k]);
		}
		live[k] = malloc(n);
		if (!live[k])
			return NULL;
		memset(live[k], (int)(r & 0xff), n);
	}
	for (r = 0; r < 64; r++)
		free(live[r]);
	return (void *)(uintptr_t)h;
}

static int busy(int threads, long n)
{
	pthread_t t[64];
	uint64_t h = 0;
	int i;

	if (threads < 1 || threads > 64)
		return 2;
	rounds = n;
	pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
	for (i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)) != 0)
			return 1;
	pthread_barrier_wait(&go);
	fprintf(stderr, "ready\n");
	for (i = 0; i < threads; i++) {
		void *r;

		pthread_join(t[i], &r);
		h = mix(h, (uint64_t)(uintptr_t)r);
	}
	printf("%d threads, %ld rounds each, checksum %016llx\n", threads, n,
	       (unsigned long long)h);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "keep"))
		return keep();
	/* alone in a user namespace of its own first: the shim's helper
	 * thread steps aside for that, so nothing can trim it while it waits */
	if (argc == 2 && !strcmp(argv[1], "alone")) {
		/* sampled blocks first: the helper starts with the first */
		for (int i = 0; i < 64; i++)
			free(memset(malloc(1 << 20), 1, 1 << 20));
		return unshare(CLONE_NEWUSER) != 0 ? 3 : keep();
	}
	if (argc == 4 && !strcmp(argv[1], "busy"))
		return busy(atoi(argv[2]), atol(argv[3]));
	fprintf(stderr, "usage: trimprog keep | alone | busy THREADS ROUNDS\n");
	return 2;
}
