/* Unit test of the shared memory against a hostile other side: a shared
 * header and records that someone else scribbled on. The shim's writer
 * (preload/ring.h) must only ever write inside its ring; the collector's
 * reader (collector/ringread.c) must hand out only records it checked on a
 * copy, skip the damage, count it, and go on reading. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/ringread.h"
#include "lib/util.h"
#include "tap.h"

#define SIZE 4096u
#define GUARD 4096u

static struct ht_shm *h;
static struct ht_ring rg;
static char *mem; /* GUARD bytes, the ring, GUARD bytes */

static void setup(void)
{
	free(h);
	free(mem);
	h = calloc(1, sizeof(*h));
	mem = malloc(GUARD + SIZE + GUARD);
	memset(mem, 0xa5, GUARD + SIZE + GUARD);
	memset(mem + GUARD, 0, SIZE);
	rg.h = h;
	rg.data = mem + GUARD;
	rg.size = SIZE;
	rg.tail_seen = 0;
	h->ring_size = SIZE;
}

static int guards_intact(void)
{
	for (unsigned i = 0; i < GUARD; i++)
		if ((unsigned char)mem[i] != 0xa5 || (unsigned char)mem[GUARD + SIZE + i] != 0xa5)
			return 0;
	return 1;
}

/* Writes a FREE record carrying v; 0, or -1 if the ring is full. */
static int put(uint64_t v)
{
	uint64_t pos;
	uint32_t len = ht_rec_len(sizeof(struct ht_ev_free));
	struct ht_ev_free *e = (struct ht_ev_free *)ht_ring_reserve(&rg, len, &pos);

	if (!e)
		return -1;
	e->addr = v;
	ht_ring_commit(&e->h, pos, len, HT_EV_FREE, 0);
	return 0;
}

/* Writes an ALLOC record with nf frames; returns where it went. */
static struct ht_ev_alloc *put_alloc(int nf)
{
	uint64_t pos;
	uint32_t len = ht_rec_len(sizeof(struct ht_ev_alloc) + (uint32_t)nf * 8);
	struct ht_ev_alloc *e = (struct ht_ev_alloc *)ht_ring_reserve(&rg, len, &pos);

	if (!e)
		return NULL;
	e->addr = 1;
	e->size = 2;
	for (int i = 0; i < nf; i++)
		((uint64_t *)(e + 1))[i] = 0x1000 + (uint64_t)i;
	ht_ring_commit(&e->h, pos, len, HT_EV_ALLOC, nf);
	return e;
}

/* Reads every record there now: the FREE values into got (up to cap), the
 * count as the result; every record handed out must pass the checks. */
static int take(struct ht_ring_reader *rd, int64_t now, uint64_t *got, int cap, int *bad)
{
	const struct ht_rec *r;
	int n = 0;

	while ((r = ht_ring_reader_next(rd, now))) {
		if (ht_ring_record_check(r) != 0 || r->len > HT_REC_MAX)
			(*bad)++;
		if (r->kind == HT_EV_FREE && n < cap)
			got[n] = ((const struct ht_ev_free *)r)->addr;
		n++;
	}
	ht_ring_reader_publish(rd);
	return n;
}

static void reader(struct ht_ring_reader *rd)
{
	ht_ring_reader_init(rd, h, rg.data, SIZE, __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE));
}

/* The record at position pos of the ring. */
static struct ht_rec *at(uint64_t pos)
{
	return (struct ht_rec *)(rg.data + (pos & (SIZE - 1)));
}

static volatile int flipping;

static void *flipper(void *arg)
{
	struct ht_ev_alloc *e = arg;

	while (__atomic_load_n(&flipping, __ATOMIC_RELAXED)) {
		__atomic_store_n(&e->h.nframes, 65535, __ATOMIC_RELAXED);
		__atomic_store_n(&e->h.nframes, 2, __ATOMIC_RELAXED);
		__atomic_store_n(&e->h.len, 0xfffffff0u, __ATOMIC_RELAXED);
		__atomic_store_n(&e->h.len, 64, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(void)
{
	static struct ht_ring_reader rd;
	uint64_t got[64], pos;
	int bad = 0, n, i, oob;

	/* ---- the shim's writer ---- */
	setup();
	h->ring_size = (uint64_t)1 << 40; /* ignored: the writer keeps its own */
	for (i = 0; i < 200; i++)
		put((uint64_t)i);
	ok(guards_intact(), "a scribbled ring_size moves no write outside the ring");

	setup();
	srand(7);
	for (i = 0, oob = 0; i < 20000; i++) {
		uint64_t v = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 7 ^ (uint64_t)rand();
		struct ht_rec *r;

		switch (i % 4) {
		case 0: h->head = v; break;                  /* anywhere, unaligned */
		case 1: h->tail = v; break;
		case 2: h->head = h->tail - (v & 0xffff); break;
		case 3: h->head = UINT64_MAX - (v & 0x3f); break; /* about to wrap */
		}
		r = ht_ring_reserve(&rg, 48, &pos);
		if (r) {
			if ((char *)r < rg.data || (char *)r + 48 > rg.data + SIZE ||
			    pos % HT_RING_ALIGN)
				oob++;
			else
				ht_ring_commit(r, pos, 48, HT_EV_FREE, 0);
		}
	}
	is_int(oob, 0, "whatever head and tail hold, a reserved record lies inside the ring");
	ok(guards_intact(), "and nothing, PAD records included, is written outside it");
	ok(ht_ring_reserve(&rg, SIZE, &pos) == NULL && ht_ring_reserve(&rg, 8, &pos) == NULL,
	   "a length no record has is refused");

	/* ---- the collector's reader ---- */
	setup();
	reader(&rd);
	for (i = 0; i < 10; i++)
		put((uint64_t)i);
	n = take(&rd, 0, got, 64, &bad);
	is_int(n, 10, "an intact ring: every record read");
	is_int(rd.damaged, 0, "and nothing counted as damaged");

	/* a record's length, then its kind, made nonsense */
	{
		static const uint32_t lens[] = { 0, 8, 24, HT_REC_MAX + 16, 5000, 0xfffffff0u,
						 SIZE - 16 };
		int lost = 0;

		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			setup();
			reader(&rd);
			put(1);
			put(2);
			put(3);
			at(32)->len = lens[k];
			n = take(&rd, 0, got, 64, &bad);
			lost += !(n == 2 && got[0] == 1 && got[1] == 3 && rd.damaged == 1);
		}
		is_int(lost, 0, "a record with a bad length is skipped, counted, and the next one read");
	}
	setup();
	reader(&rd);
	put(1);
	put(2);
	put(3);
	at(32)->kind = 99;
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 2 && got[1] == 3 && rd.damaged == 1, "a record of an unknown kind: skipped, counted");

	setup();
	reader(&rd);
	put_alloc(4)->h.nframes = 300;
	put(5);
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 1 && got[0] == 5 && rd.damaged == 1, "more frames than a stack has: skipped, counted");
	setup();
	reader(&rd);
	put_alloc(4)->h.nframes = 200; /* a depth that is allowed, but more than the record holds */
	put(5);
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 1 && rd.damaged == 1, "more frames than the record holds: skipped, counted");
	setup();
	reader(&rd);
	{
		uint64_t p;
		uint32_t len = ht_rec_len(sizeof(struct ht_ev_module) + 10);
		struct ht_ev_module *m = (struct ht_ev_module *)ht_ring_reserve(&rg, len, &p);

		memset(m, 0, len);
		m->path_len = 5000;
		m->build_id_len = 10;
		ht_ring_commit(&m->h, p, len, HT_EV_MODULE, 0);
	}
	put(6);
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 1 && got[0] == 6 && rd.damaged == 1, "a module path longer than its record: skipped");

	/* nframes and len changed while the reader copies: what it hands out
	 * is consistent with what it checked */
	setup();
	{
		pthread_t t;
		struct ht_ev_alloc *e = put_alloc(2);
		int wrong = 0, seen = 0;

		__atomic_store_n(&flipping, 1, __ATOMIC_RELAXED);
		pthread_create(&t, NULL, flipper, e);
		for (i = 0; i < 200000; i++) {
			const struct ht_rec *r;

			ht_ring_reader_init(&rd, h, rg.data, SIZE, 0);
			r = ht_ring_reader_next(&rd, 0);
			if (r) {
				seen++;
				if (r->kind != HT_EV_ALLOC || r->nframes > HT_MAX_DEPTH ||
				    r->len < sizeof(*e) + r->nframes * 8u || r->len > HT_REC_MAX)
					wrong++;
			}
		}
		__atomic_store_n(&flipping, 0, __ATOMIC_RELAXED);
		pthread_join(t, NULL);
		is_int(wrong, 0, "fields changed under the reader: each record handed out is the "
		       "checked copy (%d of %d reads handed one out)", seen, i);
	}

	/* the head moved behind the reader */
	setup();
	reader(&rd);
	for (i = 0; i < 5; i++)
		put((uint64_t)i);
	take(&rd, 0, got, 64, &bad);
	h->head -= 3 * SIZE;
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 0 && rd.damaged == 1, "a head behind the reader is counted as damage");
	put(42);
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 1 && got[0] == 42, "and the records written after it are read");

	/* the head moved much further than the ring is long */
	setup();
	reader(&rd);
	h->head = 10 * SIZE + 5;
	h->tail = h->head;
	put(43);
	put(44);
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 2 && got[0] == 43 && got[1] == 44 && rd.damaged == 1,
	   "a head far ahead: counted, and the records written since are read");
	put(45);
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 1 && got[0] == 45 && rd.damaged == 1, "and reading goes on");

	/* the head moved a little ahead (a gap no record fills) */
	setup();
	reader(&rd);
	h->head = 8;
	put(44);
	n = take(&rd, 1000, got, 64, &bad);
	is_int(n, 0, "a gap before the next record is waited on at first");
	n = take(&rd, 1000 + HT_RING_STUCK_NS, got, 64, &bad);
	ok(n == 1 && got[0] == 44 && rd.abandoned == 1 && rd.damaged == 0,
	   "and given up (counted) once it stays for %lld s", HT_RING_STUCK_NS / 1000000000);

	/* the clock read only for a record found incomplete */
	setup();
	reader(&rd);
	ht_ring_reserve(&rg, 32, &pos);
	put(46);
	{
		int64_t before = ht_now_ns(), after;

		n = take(&rd, HT_RING_NOW, got, 64, &bad);
		after = ht_now_ns();
		ok(n == 0 && rd.abandoned == 0 && rd.stuck_since >= before &&
		   rd.stuck_since <= after,
		   "HT_RING_NOW: an incomplete record is waited on from the clock's time");
		n = take(&rd, rd.stuck_since + HT_RING_STUCK_NS, got, 64, &bad);
		ok(n == 1 && got[0] == 46 && rd.abandoned == 1,
		   "and given up once it stays for %lld s", HT_RING_STUCK_NS / 1000000000);
	}

	/* a reserved record never completed, the process gone */
	setup();
	reader(&rd);
	ht_ring_reserve(&rg, 32, &pos);
	put(45);
	n = take(&rd, 5, got, 64, &bad);
	is_int(n, 0, "an incomplete record is waited on while the process lives");
	n = take(&rd, INT64_MAX, got, 64, &bad);
	ok(n == 1 && got[0] == 45 && rd.abandoned == 1 && rd.damaged == 0,
	   "and given up at once when it is gone (counted as abandoned, not damage); "
	   "the records after it are read");

	/* the tail in the header rewritten: the reader's own position wins */
	setup();
	reader(&rd);
	put(1);
	h->tail = 12345;
	n = take(&rd, 0, got, 64, &bad);
	ok(n == 1 && h->tail == rd.tail && rd.tail == 32, "a rewritten tail is put right at the next read");

	/* nonsense everywhere, with records in between */
	setup();
	reader(&rd);
	srand(11);
	for (i = 0, n = 0; i < 3000; i++) {
		int k = rand() % 8;

		if (k == 0)
			rg.data[rand() % SIZE] = (char)rand();
		else if (k == 1)
			((uint64_t *)rg.data)[rand() % (SIZE / 8)] = (uint64_t)rand() << 3 ^ rd.tail;
		else if (k == 2)
			h->head ^= (uint64_t)1 << (rand() % 64);
		else if (k == 3)
			h->tail = (uint64_t)rand();
		else if (k == 4)
			put_alloc(rand() % 8);
		else
			put((uint64_t)i);
		n += take(&rd, (int64_t)i * 1000000000, got, 64, &bad);
	}
	is_int(bad, 0, "under random scribbling, every record handed out passes the checks "
	       "(%d read, %llu damaged, %llu abandoned)", n, (unsigned long long)rd.damaged,
	       (unsigned long long)rd.abandoned);
	ok(rd.damaged > 0 && n > 1000, "damage is counted and reading goes on");
	ok(guards_intact(), "the writer never wrote outside the ring meanwhile");
	ok(ht_ring_reader_pending(&rd) <= SIZE, "what is pending is never more than the ring");
	free(h);
	free(mem);
	return done_testing();
}
