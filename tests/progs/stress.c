/* Benchmark subject: a multi-threaded allocation stress test. Each thread
 * churns a live set of blocks of mixed sizes, made by malloc, calloc and
 * realloc (grown by doubling, as strings and vectors are) at varying stack
 * depths, writes what it allocates, and hands some blocks to the next
 * thread to free. Prints a checksum so nothing is optimised away.
 *   stress [-t THREADS] [-n OPS] [-l LIVE] [-s SEED]
 * OPS is per thread; LIVE is the live blocks per thread. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDOFF 256 /* blocks passed to the next thread in one batch */

struct worker {
	pthread_t tid;
	int id;
	long ops;
	size_t live;
	uint64_t rng;
	void **slot;
	size_t *slot_size;
	uint64_t sum;
	/* blocks this thread frees for its neighbour */
	pthread_mutex_t mu;
	void *inbox[HANDOFF];
	int ninbox;
	void *outbox[HANDOFF];
	int noutbox;
	struct worker *next;
};

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* Mostly small blocks, a tail of larger ones, now and then one past
 * glibc's mmap threshold: the shape of a typical heap's requests. */
static size_t pick_size(uint64_t r)
{
	unsigned k = (unsigned)(r % 1000);
	uint64_t v = r >> 10;

	if (k < 550)
		return 8 + v % 121;          /* 8..128 */
	if (k < 850)
		return 129 + v % 896;        /* 129..1024 */
	if (k < 980)
		return 1025 + v % 7168;      /* 1 KiB..8 KiB */
	if (k < 999)
		return 8193 + v % 57344;     /* 8 KiB..64 KiB */
	return 131072 + v % 393216;          /* 128 KiB..512 KiB */
}

/* Makes a block the way a program would. */
static __attribute__((noinline)) void *alloc_block(int kind, size_t n, uint64_t r)
{
	void *p;

	switch (kind) {
	case 0:
		p = malloc(n);
		if (p)
			memset(p, (int)r, n);
		return p;
	case 1:
		return calloc(1, n);
	default: {
		/* a buffer being appended to: its capacity doubles, from an
		 * eighth of the final size, until the contents fit */
		size_t have = 16, fill = n / 8;
		char *q;

		while (have < fill)
			have *= 2;
		q = malloc(have);
		if (!q)
			return NULL;
		memset(q, 'a', have);
		while (have < n) {
			size_t want = have * 2;
			char *nq = realloc(q, want);

			if (!nq) {
				free(q);
				return NULL;
			}
			q = nq;
			memset(q + have, 'b', want - have);
			have = want;
		}
		return q;
	}
	}
}

/* A chain of distinct functions, entered at a varying level, so that the
 * allocating calls sit at stacks of different depths and frames. The work
 * after each call keeps it a call rather than a jump. */
#define LEVEL(n, below)                                                        \
	static __attribute__((noinline)) void *level##n(int kind, size_t sz, uint64_t r) \
	{                                                                      \
		void *p = below(kind, sz, r);                                  \
		__asm__ volatile("" : : "r"(p) : "memory");                    \
		return p;                                                      \
	}
LEVEL(0, alloc_block) LEVEL(1, level0) LEVEL(2, level1) LEVEL(3, level2)
LEVEL(4, level3) LEVEL(5, level4) LEVEL(6, level5) LEVEL(7, level6)
LEVEL(8, level7) LEVEL(9, level8) LEVEL(10, level9) LEVEL(11, level10)
LEVEL(12, level11) LEVEL(13, level12) LEVEL(14, level13) LEVEL(15, level14)
LEVEL(16, level15) LEVEL(17, level16) LEVEL(18, level17) LEVEL(19, level18)
LEVEL(20, level19) LEVEL(21, level20) LEVEL(22, level21) LEVEL(23, level22)

static void *(*const entry[24])(int, size_t, uint64_t) = {
	level0, level1, level2, level3, level4, level5, level6, level7,
	level8, level9, level10, level11, level12, level13, level14, level15,
	level16, level17, level18, level19, level20, level21, level22, level23,
};

static void give(struct worker *w, void *p)
{
	struct worker *to = w->next;

	w->outbox[w->noutbox++] = p;
	if (w->noutbox < HANDOFF)
		return;
	pthread_mutex_lock(&to->mu);
	if (to->ninbox == 0) {
		memcpy(to->inbox, w->outbox, sizeof(w->outbox));
		__atomic_store_n(&to->ninbox, HANDOFF, __ATOMIC_RELAXED);
		w->noutbox = 0;
	}
	pthread_mutex_unlock(&to->mu);
	if (w->noutbox) {
		/* the neighbour has not emptied its inbox yet: free them here */
		for (int i = 0; i < w->noutbox; i++)
			free(w->outbox[i]);
		w->noutbox = 0;
	}
}

static void take(struct worker *w)
{
	void *batch[HANDOFF];
	int n;

	pthread_mutex_lock(&w->mu);
	n = w->ninbox;
	memcpy(batch, w->inbox, (size_t)n * sizeof(void *));
	__atomic_store_n(&w->ninbox, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < n; i++)
		free(batch[i]);
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (long i = 0; i < w->ops; i++) {
		uint64_t r = next_rand(&w->rng);
		size_t k = (size_t)(r % w->live);
		size_t n = pick_size(r >> 16);
		void *p = w->slot[k];

		if (p) {
			w->sum += ((unsigned char *)p)[0] + ((unsigned char *)p)[w->slot_size[k] - 1];
			if ((r >> 48) % 16 == 0 && w->next != w) {
				give(w, p);
			} else if ((r >> 48) % 16 == 1) {
				/* resize in place or move, as vectors do */
				void *q = realloc(p, n);

				if (q) {
					size_t old = w->slot_size[k];

					if (n > old)
						memset((char *)q + old, 'r', n - old);
					w->slot[k] = q;
					w->slot_size[k] = n;
					continue;
				}
				free(p);
			} else {
				free(p);
			}
		}
		{
			int kind = (r >> 56) % 8 < 6 ? 0 : (r >> 56) % 8 == 6 ? 1 : 2;
			int depth = (int)((r >> 40) % 24);

			p = entry[depth](kind, n, r);
		}
		w->slot[k] = p;
		w->slot_size[k] = p ? n : 0;
		if ((i & 1023) == 0 && __atomic_load_n(&w->ninbox, __ATOMIC_RELAXED))
			take(w);
	}
	for (size_t k = 0; k < w->live; k++)
		free(w->slot[k]);
	for (int i = 0; i < w->noutbox; i++)
		free(w->outbox[i]);
	w->noutbox = 0;
	return NULL;
}

static long arg_long(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == 0 || *end || v <= 0) {
		fprintf(stderr, "stress: %s must be a positive number, not '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long threads = 2, ops = 2000000, live = 8192, seed = 1;
	struct worker *w;
	uint64_t sum = 0;
	int c;

	while ((c = getopt(argc, argv, "t:n:l:s:")) != -1) {
		switch (c) {
		case 't': threads = arg_long(optarg, "-t"); break;
		case 'n': ops = arg_long(optarg, "-n"); break;
		case 'l': live = arg_long(optarg, "-l"); break;
		case 's': seed = arg_long(optarg, "-s"); break;
		default:
			fprintf(stderr, "usage: stress [-t THREADS] [-n OPS] [-l LIVE] [-s SEED]\n");
			return 2;
		}
	}
	w = calloc((size_t)threads, sizeof(*w));
	if (!w)
		return 1;
	for (long i = 0; i < threads; i++) {
		w[i].id = (int)i;
		w[i].ops = ops;
		w[i].live = (size_t)live;
		w[i].rng = (uint64_t)seed * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0x632be59bd9b4e019ull + 1;
		w[i].slot = calloc((size_t)live, sizeof(void *));
		w[i].slot_size = calloc((size_t)live, sizeof(size_t));
		w[i].next = &w[(i + 1) % threads];
		pthread_mutex_init(&w[i].mu, NULL);
		if (!w[i].slot || !w[i].slot_size)
			return 1;
	}
	for (long i = 0; i < threads; i++)
		if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0) {
			fprintf(stderr, "stress: cannot start thread %ld\n", i);
			return 1;
		}
	for (long i = 0; i < threads; i++)
		pthread_join(w[i].tid, NULL);
	for (long i = 0; i < threads; i++) {
		take(&w[i]);
		sum += w[i].sum;
		free(w[i].slot);
		free(w[i].slot_size);
	}
	free(w);
	printf("stress: %ld threads x %ld ops, checksum %llu\n", threads, ops,
	       (unsigned long long)sum);
	return 0;
}
