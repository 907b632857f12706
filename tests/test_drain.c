/* Unit test of the collector's drain (collector/daemon/drain.c): whatever
 * the mix of records in the ring, and wherever the drain stops, the live
 * profile must end as it would with each record applied in ring order (the
 * drain holds frees and allocations back in small batches to load their
 * live-table slots first), and the records after the program's EXIT stay
 * unread. A seeded random mix: allocations by stack id and with frames,
 * ids defined and redefined, frees of live and unknown blocks, addresses
 * reused while live, temporary frees, drained at random points, each
 * record at its own time, which the lifetimes of freed blocks show. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/collector.h"
#include "profile_fill.h"
#include "tap.h"
#include "xorshift.h"

#define SIZE (64u << 10)
#define ADDRS 64
#define STACKS 6

static struct ht_shm *h;
static struct ht_ring rg;
static char *mem;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	return xorshift64(&rng);
}

/* Reserves a record of payload n; NULL (never here) if the ring is full. */
static void *reserve(uint32_t n, uint64_t *pos)
{
	return ht_ring_reserve(&rg, ht_rec_len(n), pos);
}

static void frames_of(unsigned k, uint64_t *f)
{
	f[0] = 0x401000 + 0x10 * k;
	f[1] = 0x402000 + 0x20 * (k % 3);
	f[2] = 0x403000;
}

/* Writes one random record into the ring and applies the same to ref, as
 * drain.c's apply does. Returns 0, or -1 if the ring had no room. */
static int one(struct ht_profile *ref, int64_t *now)
{
	uint64_t r = next(), pos, f[3];
	uint64_t addr = 0x10000 + 0x40 * (next() % ADDRS);
	uint64_t size = 1 + next() % 5000;
	unsigned k = (unsigned)(next() % STACKS);
	unsigned p = (unsigned)(r % 100);

	/* up to 20 ms apart: a record's time read wrong (another record's)
	 * lands its block's lifetime in another bucket */
	*now += (int64_t)(next() % 20000000);
	if (p < 35) {
		/* by id; id STACKS + 1 is never defined */
		uint32_t id = 1 + (uint32_t)(next() % (STACKS + 1));
		struct ht_ev_alloc_id *e = reserve(sizeof(*e), &pos);

		if (!e)
			return -1;
		e->addr = addr;
		e->size = size;
		e->id = id;
		e->pad = 0;
		e->time_ns = *now;
		ht_ring_commit(&e->h, pos, ht_rec_len(sizeof(*e)), HT_EV_ALLOC_ID, 0);
		ht_profile_alloc_id(ref, addr, size, *now, id);
	} else if (p < 45) {
		struct ht_ev_alloc *e = reserve(sizeof(*e) + sizeof(f), &pos);

		if (!e)
			return -1;
		frames_of(k, f);
		e->addr = addr;
		e->size = size;
		e->time_ns = *now;
		memcpy(e + 1, f, sizeof(f));
		ht_ring_commit(&e->h, pos, ht_rec_len(sizeof(*e) + sizeof(f)), HT_EV_ALLOC, 3);
		ht_profile_alloc(ref, addr, size, *now, f, 3);
	} else if (p < 50) {
		/* an id (re)defined: later allocations by it go elsewhere */
		uint32_t id = 1 + (uint32_t)(next() % STACKS);
		struct ht_ev_stack *e = reserve(sizeof(*e) + sizeof(f), &pos);

		if (!e)
			return -1;
		frames_of(k, f);
		e->id = id;
		e->pad = 0;
		memcpy(e + 1, f, sizeof(f));
		ht_ring_commit(&e->h, pos, ht_rec_len(sizeof(*e) + sizeof(f)), HT_EV_STACK, 3);
		ht_profile_stack(ref, id, f, 3);
	} else {
		int temp = next() % 4 == 0;
		struct ht_ev_free *e = reserve(sizeof(*e), &pos);

		if (!e)
			return -1;
		e->addr = addr;
		e->time_ns = *now;
		ht_ring_commit(&e->h, pos, ht_rec_len(sizeof(*e)), HT_EV_FREE,
			       temp ? HT_FREE_TEMP : 0);
		ht_profile_release(ref, addr, *now, temp);
	}
	return 0;
}

/* A snapshot of p with its cells: the lifetimes of the blocks freed and
 * the ages at now of those in use, which follow each record's time. */
static struct ht_snapshot *fill_cells(struct ht_profile *p, int64_t now)
{
	struct ht_snapshot *s = fill(p);

	if (ht_profile_add_cells(p, s, now) != 0) {
		ok(0, "add the cells to a snapshot");
		exit(1);
	}
	return s;
}

/* Whether the two profiles hold the same stacks with the same figures and
 * cells (the ages of blocks in use at now). */
static int same(struct ht_profile *a, struct ht_profile *b, int64_t now)
{
	struct ht_snapshot *x = fill_cells(a, now), *y = fill_cells(b, now);
	int eq = x->nstacks == y->nstacks && x->ncells == y->ncells && x->ncells > 0 &&
		 ht_profile_unmatched(a) == ht_profile_unmatched(b);

	for (size_t i = 0; eq && i < x->nstacks; i++) {
		const struct ht_stack *s = &x->stacks[i], *t = &y->stacks[i];

		eq = s->inuse_objects == t->inuse_objects && s->inuse_space == t->inuse_space &&
		     s->alloc_objects == t->alloc_objects && s->alloc_space == t->alloc_space &&
		     s->temp_objects == t->temp_objects && s->temp_space == t->temp_space &&
		     s->ncells == t->ncells;
	}
	for (size_t i = 0; eq && i < x->ncells; i++)
		eq = !memcmp(&x->cells[i], &y->cells[i], sizeof(x->cells[i]));
	ht_snapshot_free(x);
	ht_snapshot_free(y);
	return eq;
}

static void setup(struct collector *c, uint64_t rate)
{
	free(h);
	free(mem);
	h = calloc(1, sizeof(*h));
	mem = calloc(1, SIZE);
	rg.h = h;
	rg.data = mem;
	rg.size = SIZE;
	rg.tail_seen = 0;
	h->ring_size = SIZE;
	memset(c, 0, sizeof(*c));
	c->prof = ht_profile_new(rate);
	if (!c->prof || ht_ring_reader_init(&c->rd, h, mem, SIZE, 0) != 0) {
		ok(0, "set up a ring and a profile");
		exit(1);
	}
}

static void mix(uint64_t rate, const char *what)
{
	struct collector c;
	struct ht_profile *ref = ht_profile_new(rate);
	int64_t now = 1000;
	int good = 1, drains = 0;

	setup(&c, rate);
	for (int i = 0; i < 200000; i++) {
		if (one(ref, &now) != 0) {
			ok(0, "%s: the ring has room after a drain", what);
			return;
		}
		/* drained now and then, and whenever the ring is half full */
		if (next() % 64 == 0 || ht_ring_reader_pending(&c.rd) > SIZE / 2) {
			ht_collector_drain(&c, 0);
			drains++;
			if (drains % 97 == 0)
				good &= same(c.prof, ref, now);
		}
	}
	ht_collector_drain(&c, 0);
	ok(good && same(c.prof, ref, now) && ht_profile_unmatched(ref) > 0,
	   "%s: 200000 records in %d drains: the profile is the records' in ring order, "
	   "lifetimes and ages too (%llu unmatched on both sides)", what, drains,
	   (unsigned long long)ht_profile_unmatched(ref));
	ht_profile_free(ref);
	ht_profile_free(c.prof);
}

int main(void)
{
	struct collector c;
	struct ht_ev_free *e;
	struct ht_rec *x;
	uint64_t pos, after_exit;
	int64_t now = 1000;
	struct ht_profile *ref;

	mix(1, "rate 1");
	mix(4096, "rate 4096 (weighed samples)");

	/* the records after EXIT are not applied, nor read */
	setup(&c, 1);
	ref = ht_profile_new(1);
	for (int i = 0; i < 40; i++)
		one(ref, &now);
	x = reserve(sizeof(*x), &pos);
	ht_ring_commit(x, pos, ht_rec_len(sizeof(*x)), HT_EV_EXIT, 0);
	after_exit = pos + ht_rec_len(sizeof(*x));
	e = reserve(sizeof(*e), &pos);
	e->addr = 0x10000;
	e->time_ns = now;
	ht_ring_commit(&e->h, pos, ht_rec_len(sizeof(*e)), HT_EV_FREE, 0);
	ht_collector_drain(&c, 0);
	ok(c.exit_seen && c.rd.tail == after_exit && same(c.prof, ref, now),
	   "a drain stops at EXIT: the records before it applied, the one after left unread");
	ht_profile_free(ref);
	ht_profile_free(c.prof);
	free(h);
	free(mem);
	return done_testing();
}
