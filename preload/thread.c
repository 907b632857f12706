/* Per-thread state: the thread-local block, each thread's slot of
 * counters in the shared memory (claimed on its first call, retired at its
 * exit), and the frees its signal handlers deferred. */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "parts.h"
#include "sample.h"

__thread struct ht_tls ht_tls __attribute__((aligned(64)));

/* Counts of a thread when tracing is off: they go nowhere, but each
 * thread's go to its own line (one line for all cost a program with two
 * threads dearly in cache-line transfers). */
static __thread struct ht_slot null_slot __attribute__((aligned(64)));

/* The key whose destructor retires a thread's slot at its exit. */
static struct {
	pthread_key_t slot_key;
	int slot_key_ok;
} keys;

void ht_thread_flush(struct ht_tls *t)
{
	if (ht_unlikely(t->deferred != NULL) && !t->busy) {
		t->busy = 1;
		ht_flush_deferred(t);
		t->busy = 0;
	}
}

void ht_thread_reset(struct ht_tls *t)
{
	t->slot = NULL;
	t->attached = 0;
	ht_countdown_set(t, 0);
}

void ht_thread_off(struct ht_tls *t)
{
	t->slot = &null_slot;
	t->attached = 1;
	/* heaptrace -p may attach again: then back to the slow path now and then */
	ht_countdown_set(t, ht_attach_late() ? HT_CD_RECHECK : HT_CD_MAX);
	t->hcount = HT_CD_MAX;
}

/* The thread's exit: its counts go to the shared totals, its slot to the
 * next thread. */
static void retire_slot(void *arg)
{
	struct ht_core *c = &ht_core;
	struct ht_slot *s = arg;

	ht_thread_flush(&ht_tls);
	ht_stacks_drop(&ht_tls);
	HT_PARTS_FOLD();
	if (!c->shm || s == &c->early_slot || s == &null_slot)
		return;
	__atomic_fetch_add(&c->shm->retired[0], s->alloc_calls, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->shm->retired[1], s->free_calls, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->shm->retired[2], s->realloc_calls, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->shm->retired[3], s->alloc_bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->shm->retired_walks[0], s->walks_fp, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->shm->retired_walks[1], s->walks_unwind, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->shm->retired_walks[2], s->walks_cut, __ATOMIC_RELAXED);
	__atomic_store_n(&s->alloc_calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->free_calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->realloc_calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->alloc_bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->walks_fp, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->walks_unwind, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->walks_cut, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->in_use, 0, __ATOMIC_RELEASE);
	/* later destructors may still allocate: start over on the next call */
	ht_thread_reset(&ht_tls);
}

int ht_thread_hooks(void)
{
	keys.slot_key_ok = pthread_key_create(&keys.slot_key, retire_slot) == 0;
	return keys.slot_key_ok ? 0 : -1;
}

static struct ht_slot *claim_slot(void)
{
	uint32_t n = __atomic_load_n(&ht_core.shm->next_slot, __ATOMIC_ACQUIRE), i;

	if (n > ht_core.slot_count)
		n = ht_core.slot_count;

	for (i = 0; i < n; i++) {
		uint32_t zero = 0;

		if (!__atomic_load_n(&ht_core.slots[i].in_use, __ATOMIC_RELAXED) &&
		    __atomic_compare_exchange_n(&ht_core.slots[i].in_use, &zero, 1, 0,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return &ht_core.slots[i];
	}
	i = __atomic_fetch_add(&ht_core.shm->next_slot, 1, __ATOMIC_ACQ_REL);
	if (i >= ht_core.slot_count) {
		__atomic_fetch_sub(&ht_core.shm->next_slot, 1, __ATOMIC_ACQ_REL);
		return NULL;
	}
	ht_core.slots[i].in_use = 1;
	return &ht_core.slots[i];
}

void ht_thread_attach(struct ht_tls *t)
{
	int tr = __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE);

	if (!t->rng)
		t->rng = ((uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull) ^
			 (uint64_t)syscall(SYS_gettid) << 32 ^ 0x5851f42d4c957f2dull;
	if (tr == HT_TR_ON) {
		struct ht_slot *s = claim_slot();

		if (!s) {
			/* more live threads than slots: count into the last
			 * one shared, still exact enough, rarely hit */
			s = &ht_core.slots[ht_core.slot_count - 1];
		}
		t->slot = s;
		t->attached = 1;
		ht_countdown_set(t, ht_sample_gap(&t->rng, ht_core.rate));
		t->hcount = ht_sample_gap(&t->rng, ht_core.rate);
		if (keys.slot_key_ok) {
			t->self++;
			pthread_setspecific(keys.slot_key, s);
			t->self--;
		}
	} else if (tr == HT_TR_STARTING || tr == HT_TR_BEFORE) {
		/* before start-up finishes: every call comes back here */
		t->slot = &ht_core.early_slot;
		t->attached = 0;
		ht_countdown_set(t, 0);
	} else {
		ht_thread_off(t);
	}
}

void ht_flush_deferred(struct ht_tls *t)
{
	void *q;

	while ((q = __atomic_exchange_n(&t->deferred, NULL, __ATOMIC_ACQ_REL)) != NULL)
		while (q) {
			void *next = *(void **)q;

			ht_hot.real.free(q);
			q = next;
		}
}
