/* Unit test of the ring protocol (preload/ring.h): records come out in the
 * order they were reserved, wrap with a PAD record, a full ring refuses
 * instead of overwriting, and many producers lose nothing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "preload/ring.h"
#include "tap.h"

static struct ht_shm *h;
static struct ht_ring rg;

static void setup(uint64_t size)
{
	free(h);
	free(rg.data);
	h = calloc(1, sizeof(*h));
	rg.h = h;
	rg.data = calloc(1, size);
	rg.size = size;
	rg.tail_seen = 0;
}

static int put(uint64_t value, uint32_t len)
{
	uint64_t pos;
	struct ht_ev_free *e = (struct ht_ev_free *)ht_ring_reserve(&rg, len, &pos);

	if (!e)
		return -1;
	e->addr = value;
	ht_ring_commit(&e->h, pos, len, HT_EV_FREE, 0);
	return 0;
}

/* Takes the next non-PAD record's value; -1 if none is complete. */
static int64_t get(void)
{
	for (;;) {
		const struct ht_rec *r = ht_ring_peek(&rg, h->tail);
		int64_t v;

		if (!r)
			return -1;
		v = r->kind == HT_EV_FREE ? (int64_t)((const struct ht_ev_free *)r)->addr : -2;
		__atomic_store_n(&h->tail, h->tail + r->len, __ATOMIC_RELEASE);
		if (v != -2)
			return v;
	}
}

#define NPROD 4
#define PER 200000
#define DEADLINE 60 /* seconds: a lost record fails the test, it does not hang it */

static int stop; /* set when the consumer gives up: producers stop too */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *producer(void *arg)
{
	uint64_t id = (uintptr_t)arg, i;

	for (i = 0; i < PER; i++)
		while (put(id << 32 | i, 32) != 0)
			if (__atomic_load_n(&stop, __ATOMIC_RELAXED))
				return NULL;
	return NULL;
}

int main(void)
{
	uint64_t next[NPROD] = { 0 };
	pthread_t t[NPROD];
	int i, n, bad = 0, full_at;
	long got = 0, idle = 0;
	double give_up;

	setup(1024);
	is_int(get(), -1, "empty ring yields nothing");
	for (full_at = 0; put(full_at, 48) == 0; full_at++)
		;
	is_int(full_at, 1024 / 48, "a full ring refuses the next record (%d fit)", full_at);
	is_int(get(), 0, "first record out first");
	ok(put(999, 48) == 0, "after one is taken there is room again");
	for (i = 1, bad = 0; i < full_at; i++)
		if (get() != i)
			bad++;
	is_int(bad, 0, "records come out in order");
	is_int(get(), 999, "the wrapped record comes out after a PAD");
	is_int(get(), -1, "and then nothing");
	ok(h->head == h->tail, "head and tail meet");

	/* a reserved but unpublished record blocks the reader, not the writers */
	{
		uint64_t pos;
		struct ht_rec *r = ht_ring_reserve(&rg, 32, &pos);

		ok(put(7, 32) == 0, "a second writer goes on past an unpublished record");
		is_int(get(), -1, "the reader waits at the unpublished record");
		ht_ring_commit(r, pos, 32, HT_EV_PAD, 0);
		is_int(get(), 7, "once published, both come out in order");
	}

	setup(1 << 16);
	give_up = now() + DEADLINE;
	for (i = 0; i < NPROD; i++)
		pthread_create(&t[i], NULL, producer, (void *)(uintptr_t)i);
	for (bad = 0; got < (long)NPROD * PER;) {
		int64_t v = get();
		uint64_t id, seq;

		if (v < 0) {
			if (++idle % 4096 == 0 && now() > give_up) {
				printf("# gave up after %d s with %ld of %ld records\n", DEADLINE,
				       got, (long)NPROD * PER);
				break;
			}
			continue;
		}
		id = (uint64_t)v >> 32;
		seq = (uint64_t)v & 0xffffffff;
		if (id >= NPROD || seq != next[id])
			bad++;
		else
			next[id]++;
		got++;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < NPROD; i++)
		pthread_join(t[i], NULL);
	is_int(got, (long)NPROD * PER, "%d producers: every record arrives", NPROD);
	is_int(bad, 0, "each producer's records arrive in its order");
	for (i = 0, n = 0; i < NPROD; i++)
		n += next[i] == PER;
	is_int(n, NPROD, "no producer lost a record");
	return done_testing();
}
