/* Unit test of the shim's stacks (preload/stacks.c, included whole): a
 * stack gets one id, defined once in the ring, and ids start over with a
 * new table; a full ring or a half-full table sends stacks in full; the
 * per-thread stack cache finds a call's stack again while every frame's
 * return address is where it was, and not once one changed, a library
 * was unloaded or the ids started over. The cache is tried on a stack
 * made up in memory, so every address it reads is known; so is the rest
 * of a stack a walk by frame pointers stopped in. The verdicts on return
 * addresses are kept by address and unload count, and never mistaken for
 * another's when their table fills. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../preload/stacks.c"
#include "tap.h"

/* What stacks.c needs from the rest of the shim. */
__thread struct ht_tls ht_tls;
struct ht_core ht_core;

/* libunwind, linked here, as the shim loads it */
struct ht_unw ht_unw;

int ht_unw_ready(void)
{
	ht_unw.getcontext = unw_tdep_getcontext;
	ht_unw.init_local = unw_init_local;
	ht_unw.step = unw_step;
	ht_unw.get_reg = unw_get_reg;
	ht_unw.is_signal_frame = unw_is_signal_frame;
	ht_unw.backtrace = unw_backtrace;
	return 1;
}

static int ring_full;             /* ht_emit_stack fails */
static int defined;               /* STACK events written */
static uint32_t last_id;          /* the last one's id, frames and count */
static void *last_ips[HT_MAX_DEPTH];
static int last_nf;
static uint64_t loader_gen = 1;   /* what ht_emit_modules returns */

int ht_emit_stack(uint32_t id, void *const *ips, int nf)
{
	if (ring_full)
		return -1;
	defined++;
	last_id = id;
	last_nf = nf;
	memcpy(last_ips, ips, (size_t)nf * sizeof(void *));
	return 0;
}

uint64_t ht_emit_modules(void)
{
	return loader_gen;
}

void *ht_arena_alloc(size_t n, size_t align, uint32_t flags, int zero)
{
	(void)align;
	(void)flags;
	(void)zero;
	return calloc(1, n);
}

void ht_arena_free(void *p)
{
	free(p);
}

void ht_flush_deferred(struct ht_tls *t)
{
	(void)t;
}

static uint32_t id_of(void *const *ips, int nf)
{
	return stack_id(stack_hash(ips, nf, loader_gen), ips, nf);
}

static void test_ids(void)
{
	void *a[3] = { (void *)0x401000, (void *)0x402000, (void *)0x403000 };
	void *b[3] = { (void *)0x401000, (void *)0x402000, (void *)0x404000 };
	void *c[2] = { (void *)0x405000, (void *)0x406000 };
	uint32_t epoch;
	int i, got = 0;

	ok(stack_hash(a, 3, 1) != 0, "a hash is never 0 (a free entry)");
	ok(stack_hash(a, 3, 1) == stack_hash(a, 3, 1), "the hash of a stack is the same each time");
	ok(stack_hash(a, 3, 1) != stack_hash(a, 3, 2), "the loader's count changes the hash");
	ok(stack_hash(a, 3, 1) != stack_hash(a, 2, 1), "so does the depth");

	ht_core.rate = 524288;
	ht_stacks_init();
	ok(ids.tab != NULL, "the table is made");
	is_int(ids.mask, (1 << 13) - 1, "8192 entries at a sampling rate");
	is_int(id_of(a, 3), 1, "the first stack gets id 1");
	is_int(defined, 1, "its STACK event is written");
	is_int(last_id, 1, "with its id");
	ok(last_nf == 3 && !memcmp(last_ips, a, sizeof(a)), "and its frames");
	is_int(id_of(a, 3), 1, "the same stack, the same id");
	is_int(defined, 1, "not defined again");
	is_int(id_of(b, 3), 2, "another stack, the next id");
	is_int(defined, 2, "defined once");

	ring_full = 1;
	is_int(id_of(c, 2), 0, "a stack whose STACK event finds the ring full has no id");
	ring_full = 0;
	is_int(id_of(c, 2), 0, "nor later: it is sent in full");
	is_int(defined, 2, "and never defined");

	epoch = ids.epoch;
	ht_stacks_init();
	ok(ids.epoch != epoch, "a new table is a new epoch");
	is_int(id_of(b, 3), 1, "the ids start over");
	is_int(id_of(a, 3), 2, "for every stack");

	ht_core.rate = 1;
	ht_stacks_init();
	is_int(ids.mask, (1 << 16) - 1, "65536 entries at rate 1");
	ht_core.rate = 524288;
	ht_stacks_init();
	for (i = 0; i < 20000; i++) {
		void *s[2] = { (void *)(uintptr_t)(0x500000 + 16 * i), (void *)0x401000 };

		got += id_of(s, 2) != 0;
	}
	ok(got > 0 && ids.used <= ids.mask / 2, "half full, the table takes no more stacks");
	is_int(got, ids.used, "each stack taken has an id (%d of them)", got);
	is_int(id_of((void *[]){ (void *)0x900000 }, 1), 0, "a new stack then has none");
	is_int(id_of(((void *[]){ (void *)0x500000, (void *)0x401000 }), 2), 1,
	       "the first still has its own");
}

/* A stack made up in memory, to be the thread's stack for the cache. */
#define WORDS 512
static uintptr_t mem[WORDS];

/* The thread's cache (made on first use), its stack made mem; NULL if
 * there is none. */
static struct sc_head *cache_on_mem(void)
{
	struct sc_head *h = sc_head();

	if (h) {
		h->lo = (uintptr_t)mem;
		h->hi = (uintptr_t)(mem + WORDS);
	}
	return h;
}

static void test_cache(void)
{
	uintptr_t cfa = (uintptr_t)&mem[100];
	void *ips[3] = { (void *)0x1111, (void *)0x2222, (void *)0x3333 };
	void *buf[HT_MAX_DEPTH + 8];
	void *const *frames;
	struct sc_head *h;
	struct sc_ent *e, *again;
	uint32_t id;
	int hit, nf, i, gone = 0;

	ht_core.depth = 8;
	ht_core.rate = 524288;
	ht_stacks_init();
	h = cache_on_mem();
	ok(h != NULL && ht_tls.scache == h, "the thread's cache is made on first use");
	if (!h)
		return;
	/* the caller's return address just below its stack pointer, the
	 * others further up, each where its frame keeps it */
	mem[99] = 0x1111;
	mem[130] = 0x2222;
	mem[200] = 0x3333;

	ok(sc_find((uintptr_t)&ht_core, &hit) == NULL && !hit, "a call off the thread's stack is not cached");
	e = sc_find(cfa, &hit);
	ok(e != NULL && !hit, "a new call: an entry to fill");
	if (!e)
		return;
	sc_keep(e, cfa, ips, 3, 7);
	is_int(e->nf, 3, "its stack is kept");
	ok(sc_where(e)[0] == cfa - 8 && sc_where(e)[1] == (uintptr_t)&mem[130] &&
	   sc_where(e)[2] == (uintptr_t)&mem[200], "with where each return address is");

	again = sc_find(cfa, &hit);
	ok(again == e && hit, "the same call again: its stack holds");
	ok(!memcmp(sc_ips(e), ips, sizeof(ips)) && e->id == 7, "with its frames and id");

	mem[200] = 0x4444;
	again = sc_find(cfa, &hit);
	ok(again != NULL && !hit, "an outer frame changed: the stack does not hold");
	mem[200] = 0x3333;
	ok(sc_find(cfa, &hit) == e && hit, "changed back: it holds again");

	ht_unloads++;
	sc_find(cfa, &hit);
	ok(!hit, "a library was unloaded since: it does not hold");
	sc_keep(e, cfa, ips, 3, 7);
	ok(sc_find(cfa, &hit) == e && hit, "kept anew: it holds");
	ht_stacks_init();
	sc_find(cfa, &hit);
	ok(!hit, "the ids started over since: it does not hold");

	/* from the stack cache, an id is defined for a stack kept without */
	e = sc_find(cfa, &hit);
	sc_keep(e, cfa, ips, 3, 0);
	defined = 0;
	frames = ht_stacks_get(cfa, buf, &nf, &id);
	ok(frames == (void *const *)sc_ips(e) && nf == 3, "ht_stacks_get takes a stack that holds from the cache");
	ok(id == 1 && defined == 1 && e->id == 1, "and gives it an id, once");
	frames = ht_stacks_get(cfa, buf, &nf, &id);
	ok(id == 1 && defined == 1, "which it keeps");

	/* a walk that does not start at the caller is not cached */
	ips[0] = (void *)0x9999;
	sc_keep(e, cfa, ips, 3, 0);
	ok(sc_find(cfa, &hit) == NULL, "a stack that does not start at the caller is not cached");
	ips[0] = (void *)0x1111;

	/* a call made from callers that keep changing is not worth caching */
	cfa = (uintptr_t)&mem[300];
	mem[299] = 0x1111;
	for (i = 0; i < 64 && !gone; i++) {
		mem[330] = 0x2222;
		mem[400] = 0x5000 + (uintptr_t)i;
		ips[2] = (void *)mem[400];
		e = sc_find(cfa, &hit);
		if (!e)
			gone = 1;
		else
			sc_keep(e, cfa, ips, 3, 0);
	}
	ok(gone, "a call whose callers keep changing is not cached (after %d calls)", i);

	/* many calls at once, in every set: each found as kept right after,
	 * and later either found with its own frames or not at all */
	{
		int kept = 0, found = 0, wrong = 0, n = 96;

		ht_stacks_init();
		memset(mem, 0, sizeof(mem));
		mem[480] = 0x2222;
		for (i = 0; i < n; i++) {
			uintptr_t c = (uintptr_t)&mem[20 + 4 * i];
			void *f[2] = { (void *)(0x7000 + (uintptr_t)i), (void *)0x2222 };

			mem[20 + 4 * i - 1] = (uintptr_t)f[0];
			e = sc_find(c, &hit);
			if (e && !hit) {
				sc_keep(e, c, f, 2, 0);
				kept += sc_find(c, &hit) == e && hit;
			}
		}
		for (i = 0; i < n; i++) {
			e = sc_find((uintptr_t)&mem[20 + 4 * i], &hit);
			if (e && hit) {
				found++;
				wrong += sc_ips(e)[0] != (void *)(0x7000 + (uintptr_t)i) ||
					 sc_where(e)[1] != (uintptr_t)&mem[480];
			}
		}
		ok(kept == n && wrong == 0 && found >= 32 && found <= 64,
		   "%d calls: each found once kept (%d), %d of them later, none with another's "
		   "frames (%d)", n, kept, found, wrong);
	}

	frames = ht_stacks_get(0, buf, &nf, &id);
	ok(nf > 0 && nf <= ht_core.depth && frames >= (void *const *)buf, "without a stack pointer, the stack is walked");

	ht_stacks_drop(&ht_tls);
	ok(ht_tls.scache == NULL, "the cache goes with its thread");
}

/* The verdicts on return addresses: each found again as it was put, for
 * the loader's unload count it was learnt at; filled up, the table says it
 * is full and tells no address another's verdict. */
static void test_verdicts(void)
{
	uint64_t *tab;
	unsigned v, wrong = 0, known = 0;
	uintptr_t pc;

	ht_core.rate = 524288;
	tab = fv_table();
	ok(tab != NULL && fv_table() == tab, "the verdicts' table is made once");
	if (!tab)
		return;
	ok(fv_get(tab, 0x401234, 5) == FV_UNKNOWN, "an address never met is not known");
	fv_put(tab, 0x401234, 5, FV_FRAME);
	fv_put(tab, 0x401240, 5, FV_NONE);
	fv_put(tab, 0x401250, 5, FV_END);
	ok(fv_get(tab, 0x401234, 5) == FV_FRAME && fv_get(tab, 0x401240, 5) == FV_NONE &&
	   fv_get(tab, 0x401250, 5) == FV_END, "each address has the verdict it was given");
	ok(fv_get(tab, 0x401234, 6) == FV_UNKNOWN, "a library unloaded since: not known any more");
	fv_put(tab, 0x401234, 6, FV_NONE);
	ok(fv_get(tab, 0x401234, 6) == FV_NONE && fv_get(tab, 0x401234, 5) == FV_FRAME,
	   "learnt anew for the new count, the old verdict stays with the old one");
	fv_put(tab, (uintptr_t)1 << 48, 5, FV_FRAME);
	ok(fv_get(tab, (uintptr_t)1 << 48, 5) == FV_UNKNOWN, "an address beyond user space is never kept");
	ok(!fv_full, "not full yet");
	/* three times as many addresses as the table has room for */
	for (pc = 0x500000; pc < 0x500000 + 3 * ((uintptr_t)fv_mask + 1) * 16; pc += 16)
		fv_put(tab, pc, 5, (unsigned)(pc >> 4) % 3 + 1);
	for (pc = 0x500000; pc < 0x500000 + 3 * ((uintptr_t)fv_mask + 1) * 16; pc += 16) {
		v = fv_get(tab, pc, 5);
		if (v != FV_UNKNOWN)
			known++;
		if (v != FV_UNKNOWN && v != (unsigned)(pc >> 4) % 3 + 1)
			wrong++;
	}
	ok(fv_full, "filled up, it says so (then unknown addresses are not learnt)");
	is_int((int)wrong, 0, "no address has another's verdict");
	ok(known > fv_mask / 2, "and it held more than half of its room (%u of %u)", known, fv_mask + 1);
}

/* The rest of a stack from the frame a walk by frame pointers stopped at:
 * kept from libunwind's walk when the two walks agree on that frame and
 * the rest is whole, and found again while it holds. */
static void test_rest(void)
{
	uintptr_t at = (uintptr_t)&mem[50]; /* the stop: its return address at at - 8 */
	void *frames[5] = { (void *)0x7001, (void *)0x7002, (void *)0x7003, (void *)0x7004,
			    (void *)0x7005 };
	void *buf[HT_MAX_DEPTH + 8];
	struct fp_stop stop = { 2, at };
	int n;

	memset(mem, 0, sizeof(mem));
	ht_core.depth = 8;
	ok(cache_on_mem() != NULL, "a thread's cache for the rest");
	mem[49] = 0x7003;
	mem[60] = 0x7004;
	mem[90] = 0x7005;
	buf[0] = (void *)0x7001;
	buf[1] = (void *)0x7002;
	buf[2] = (void *)0x7003;
	ok(fp_rest(buf, 3, 8, &stop) == -1, "a rest never kept is not found");
	fp_keep_rest(frames, 5, 0, &stop);
	ok(fp_rest(buf, 3, 8, &stop) == -1, "a rest cut short by the depth limit is not kept");
	stop.k = 1;
	fp_keep_rest(frames, 5, 1, &stop);
	ok(fp_rest(buf, 3, 8, &stop) == -1, "nor one where the walks disagree on the stop");
	stop.k = 2;
	fp_keep_rest(frames, 5, 1, &stop);
	n = fp_rest(buf, 3, 8, &stop);
	ok(n == 5 && buf[3] == (void *)0x7004 && buf[4] == (void *)0x7005,
	   "the whole rest is kept, and found after the frames walked (%d frames)", n);
	n = fp_rest(buf, 3, 4, &stop);
	ok(n == 4 && buf[3] == (void *)0x7004, "up to the depth limit");
	mem[90] = 0x7777;
	ok(fp_rest(buf, 3, 8, &stop) == -1, "an outer frame changed: the rest does not hold");
}

/* A kept stack of every length up to the deepest holds while its return
 * addresses are where they were, and not once any one from the second on
 * changed, whichever of the four checked together it is (the first is the
 * caller's, which sc_find compares itself). */
static void test_holds(void)
{
	static uintptr_t saved[WORDS];
	void *ips[HT_MAX_DEPTH];
	uintptr_t where[HT_MAX_DEPTH];
	int nf, k, good = 1, cases = 0;

	_Static_assert(10 + HT_MAX_DEPTH <= WORDS, "the made-up stack holds the deepest");
	memcpy(saved, mem, sizeof(mem));

	for (nf = 1; nf <= HT_MAX_DEPTH; nf++) {
		for (k = 0; k < nf; k++) {
			mem[10 + k] = 0x100 + (uintptr_t)k;
			ips[k] = (void *)(0x100 + (uintptr_t)k);
			where[k] = (uintptr_t)&mem[10 + k];
		}
		good &= sc_holds(ips, where, nf) == 1;
		for (k = 0; k < nf; k++) {
			mem[10 + k] ^= 0x8000;
			good &= sc_holds(ips, where, nf) == (k == 0);
			mem[10 + k] ^= 0x8000;
			cases++;
		}
		good &= sc_holds(ips, where, nf) == 1;
	}
	memcpy(mem, saved, sizeof(mem));
	ok(good, "a stack of 1 to %d frames holds until any frame past the first changes "
	   "(%d cases)", HT_MAX_DEPTH, cases);
}

int main(void)
{
	test_ids();
	test_cache();
	test_holds();
	test_verdicts();
	test_rest();
	return done_testing();
}
