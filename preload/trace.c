/* The sampled path: the slow path of every allocating call (a sample is
 * due, the thread is new or busy, the shim is starting), the sampled
 * blocks' place in the arena, their records, and realloc of arena blocks.
 * What the program calls is in shim.c; it comes here through the few
 * calls of internal.h's trace.c part. */
#include <errno.h>

#include "internal.h"
#include "parts.h"
#include "sample.h"

/* Sampled arena block p of n bytes whose event found the ring full: the
 * drop is counted, and p is retagged HT_BLK_PLAIN, so that its free is
 * counted but not sent, which the collector could match with nothing. */
static void drop_alloc(void *p, size_t n)
{
	__atomic_fetch_add(&ht_core.shm->drop_alloc, 1, __ATOMIC_RELAXED);
	ht_arena_retag(p, n, HT_BLK_PLAIN);
}

/* Records the sampled arena block p of n bytes. cfa: the stack pointer of
 * the program's function that called the allocator, when the shim knows it
 * (0 if not): then the stack may come from the thread's stack cache. */
static void record_alloc(void *p, size_t n, uintptr_t cfa)
{
	void *buf[HT_MAX_DEPTH + 8];
	void *const *frames;
	uint32_t id;
	int nf, r;

	HT_PART(HT_PART_STACK, 0, frames = ht_stacks_get(cfa, buf, &nf, &id));
	HT_PART(HT_PART_ALLOC_EVENT, 0, r = ht_emit_alloc(p, n, frames, nf, id));
	if (r != 0)
		drop_alloc(p, n);
}

/* A call of the shim's into the real allocator, marked busy: a signal
 * handler that interrupts it is served from the arena, as the shim's own. */
static void *real_alloc(struct ht_tls *t, size_t n, size_t align, enum ht_op op)
{
	void *p = NULL;
	int err;

	t->busy++;
	if (op == HT_OP_CALLOC)
		p = ht_hot.real.calloc(1, n);
	else if (op != HT_OP_ALIGNED)
		p = ht_hot.real.malloc(n);
	else if ((err = ht_hot.real.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n))) {
		errno = err;
		p = NULL;
	}
	ht_busy_leave(t);
	return p;
}

/* An unsampled block: from the real allocator, or from the arena in a
 * signal handler, which may have interrupted its thread inside the real
 * allocator (from that too if the arena is full). */
static void *plain_alloc(struct ht_tls *t, size_t n, size_t align, enum ht_op op)
{
	if (t->busy >= HT_IN_HANDLER) {
		void *p = ht_arena_alloc(n, align, HT_BLK_NESTED, op == HT_OP_CALLOC);

		if (p)
			return p;
	}
	return real_alloc(t, n, align, op);
}

/* A sampled block that the arena had no room for, made by the real
 * allocator, unrecorded: counted, and said once, loudly, as the arena
 * grows to any heap that fits in memory and this should not happen (the
 * address space reserved for it is used up, or none could be reserved). */
static void arena_full(void)
{
	static int said;

	__atomic_fetch_add(&ht_core.shm->arena_full, 1, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		ht_say("the sample arena %s: sampled allocations go unrecorded from now on, "
		       "figures are low%s",
		       __atomic_load_n(&ht_hot.arena_span, __ATOMIC_ACQUIRE) ? "is full" :
									 "cannot be reserved",
		       ht_core.rate <= 1 ? " (rate 1 is no longer exact)" : "");
}

/* The flags of a sampled block made by this thread: HT_BLK_SAMPLED and
 * the thread's tag, given on its first. */
static uint32_t sampled_flags(struct ht_tls *t)
{
	static uint32_t next;

	if (ht_unlikely(!t->tag))
		t->tag = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) %
			 (HT_BLK_TAG >> HT_BLK_TAG_SHIFT) + 1;
	return HT_BLK_SAMPLED | t->tag << HT_BLK_TAG_SHIFT;
}

/* p, just sampled, is this thread's last allocation until its slot's
 * alloc_calls move on (the allocation is counted before it is sampled). */
static void note_last(struct ht_tls *t, void *p)
{
	t->last_ptr = p;
	t->last_slot = t->slot;
	t->last_calls = t->slot ? __atomic_load_n(&t->slot->alloc_calls, __ATOMIC_RELAXED) : 0;
}

/* Whether the free of the sampled block p (flags f) on this thread is that
 * of a temporary block: this thread's last sampled one, its tag says this
 * thread made it, and the thread allocated nothing since. */
static int temporary(const struct ht_tls *t, const void *p, uint32_t f)
{
	return p == t->last_ptr && t->slot && t->slot == t->last_slot &&
	       __atomic_load_n(&t->slot->alloc_calls, __ATOMIC_RELAXED) == t->last_calls &&
	       (f & HT_BLK_TAG) == t->tag << HT_BLK_TAG_SHIFT;
}

/* A sampled block of n bytes (the caller is in the shim: t->self), room
 * bytes if more, from the arena; from plain_alloc if the arena is full.
 * cfa: the stack pointer of the program's call, for the stack cache. */
static void *sampled_alloc(struct ht_tls *t, size_t n, size_t room, size_t align, enum ht_op op,
			   uintptr_t cfa)
{
	void *p;

	HT_PART(op == HT_OP_CALLOC ? HT_PART_ARENA_CALLOC : HT_PART_ARENA_MALLOC, 0,
		p = ht_arena_alloc_room(n, room, align, sampled_flags(t), op == HT_OP_CALLOC));
	if (p) {
		record_alloc(p, n, cfa);
		if (ht_unlikely(__atomic_load_n(&ht_core.lazy, __ATOMIC_RELAXED)))
			ht_lazy_start(); /* the first sample: see lazy.c */
		ht_mstats_refresh(0);
		note_last(t, p);
		return p;
	}
	p = plain_alloc(t, n, align, op);
	if (p)
		arena_full();
	return p;
}

static void *alloc_nested(size_t n, size_t align, enum ht_op op, size_t room, uintptr_t cfa);

void *ht_trace_alloc(size_t n, size_t align, enum ht_op op, size_t room, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;
	void *p;

	if (t->busy) {
		/* lowered: a signal handler, or the shim's own work */
		t->countdown += (int64_t)n;
		return alloc_nested(n, align, op, room, cfa);
	}
	ht_thread_flush(t);

	if (ht_startup_resolve() != 0 || t->self) {
		/* the shim's own work, or dlsym during start-up: never sampled */
		t->countdown += (int64_t)n;
		if (__atomic_load_n(&ht_core.resolve_state, __ATOMIC_ACQUIRE) == HT_ST_RESOLVED) {
			/* counted, as its free will be: it may be a signal
			 * handler's allocation, not ours */
			if (t->slot)
				ht_count_alloc(t, n);
			return real_alloc(t, n, align, op);
		}
		p = ht_arena_alloc(n, align, HT_BLK_INTERNAL, op == HT_OP_CALLOC);
		if (!p)
			errno = ENOMEM;
		return p;
	}
	if (ht_unlikely(ht_core.fork_pending) &&
	    __atomic_exchange_n(&ht_core.fork_pending, 0, __ATOMIC_ACQ_REL)) {
		t->self++;
		ht_startup_forked();
		t->self--;
	}
	if (ht_unlikely(t->gen != __atomic_load_n(&ht_core.gen, __ATOMIC_ACQUIRE))) {
		/* attached again (heaptrace -p): its slot was the last collector's */
		t->gen = __atomic_load_n(&ht_core.gen, __ATOMIC_ACQUIRE);
		t->countdown += (int64_t)n;
		ht_thread_reset(t);
		t->countdown -= (int64_t)n;
	}
	if (!t->attached || t->slot == &ht_core.early_slot) {
		t->countdown += (int64_t)n; /* undo the caller's decrement */
		ht_thread_attach(t);
		t->countdown -= (int64_t)n;
		if (t->countdown > 0 || !t->attached) {
			ht_count_alloc(t, n);
			return real_alloc(t, n, align, op);
		}
	}
	ht_count_alloc(t, n);
	if (__atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON) {
		/* stopped by heaptrace -p, which may attach again: back here
		 * now and then to see */
		ht_countdown_set(t, ht_attach_late() ? HT_CD_RECHECK : HT_CD_MAX);
		return real_alloc(t, n, align, op);
	}
	t->self++;
	ht_countdown_set(t, ht_sample_gap(&t->rng, ht_core.rate));
	p = sampled_alloc(t, n, room, align, op, cfa);
	t->self--;
	return p;
}

/* A signal handler's allocation: counted, and sampled by its own countdown
 * (the thread's is lowered meanwhile); from the arena either way. */
static void *handler_alloc(struct ht_tls *t, size_t n, size_t align, enum ht_op op, uintptr_t cfa)
{
	void *p;

	if (t->slot)
		ht_count_alloc(t, n);
	t->hcount -= (int64_t)n;
	if (t->hcount > 0 || !t->attached || t->slot == &ht_core.early_slot ||
	    __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON)
		return plain_alloc(t, n, align, op);
	t->self++;
	t->hcount = ht_sample_gap(&t->rng, ht_core.rate);
	p = sampled_alloc(t, n, 0, align, op, cfa);
	t->self--;
	return p;
}

/* An allocation made while this thread is busy (the slow path sends it
 * here): by a signal handler, which may have interrupted the program's or
 * the shim's call into the real allocator, or by the shim's own work.
 * Calling the allocator again could deadlock on the lock the interrupted
 * call holds, so it is served from the arena, which takes no lock: a
 * handler's sampled as any other, the shim's own as HT_BLK_INTERNAL,
 * uncounted (ht_tls.own). Falls back to the real allocator if the arena
 * has no room. */
static void *alloc_nested(size_t n, size_t align, enum ht_op op, size_t room, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;
	void *p;

	if (ht_handler_only(t)) {
		ht_signals_recheck(t);
		if (t->busy)
			return handler_alloc(t, n, align, op, cfa);
		/* the handler was over: as the fast path */
		if (ht_countdown(t, n))
			return ht_trace_alloc(n, align, op, room, cfa);
		ht_count_alloc(t, n);
		return real_alloc(t, n, align, op);
	}
	p = ht_arena_alloc(n, align, t->own ? HT_BLK_INTERNAL : HT_BLK_NESTED, op == HT_OP_CALLOC);
	if (!p)
		return real_alloc(t, n, align, op);
	if (t->own)
		return p; /* the shim's own: neither counted nor recorded */
	if (ht_likely(t->slot != NULL))
		ht_count_alloc(t, n);
	return p;
}

void ht_trace_free(void *p, uint32_t f)
{
	struct ht_tls *t = &ht_tls;

	if (f & HT_BLK_SAMPLED) {
		int temp = temporary(t, p, f);

		if (p == t->last_ptr)
			t->last_ptr = NULL;
		/* recorded before the slot can be reused, so a thread that gets
		 * the same address next writes its ALLOC after this FREE */
		if (__atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) == HT_TR_ON) {
			t->self++;
			HT_PART(HT_PART_FREE_EVENT, 0, ht_emit_free(p, temp ? HT_FREE_TEMP : 0));
			t->self--;
		}
		ht_count_free(t);
	}
	HT_PART(HT_PART_ARENA_FREE, 0, ht_arena_free(p));
}

/* Whether a realloc of an arena block may be done here, counted and
 * recorded as a move (ht_trace_realloc_in_place, ht_trace_realloc_move): tracing is on,
 * the thread is set up, and it is neither in the shim nor the allocator. */
static int resize_here(const struct ht_tls *t)
{
	return __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) == HT_TR_ON && t->attached &&
	       t->slot != &ht_core.early_slot && !t->self && !t->busy;
}

/* Such a realloc's free of the old block p, before its slot can be reused
 * (the caller is in the shim: t->self). Never temporary: the realloc
 * made another block, its new one. */
static void resize_free(struct ht_tls *t, void *p)
{
	if (ht_arena_flags(p) & HT_BLK_SAMPLED)
		HT_PART(HT_PART_FREE_EVENT, 0, ht_emit_free(p, 0));
	if (p == t->last_ptr)
		t->last_ptr = NULL;
	ht_count_free(t);
}

/* Such a realloc's new block q of n bytes, when its draw sampled it. */
static void resize_sampled(struct ht_tls *t, void *q, size_t n, uintptr_t cfa)
{
	ht_countdown_set(t, ht_sample_gap(&t->rng, ht_core.rate));
	record_alloc(q, n, cfa);
	ht_mstats_refresh(0);
	note_last(t, q);
}

void *ht_trace_realloc_in_place(void *p, size_t n, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;
	uint32_t grown;

	if (!resize_here(t))
		return NULL;
	grown = ht_grown(n, ht_arena_size(p), ht_arena_flags(p));
	t->self++;
	/* the free of the old block, and an allocation of n bytes, sampled
	 * or not */
	resize_free(t, p);
	ht_count_alloc(t, n);
	t->countdown -= (int64_t)n;
	if (t->countdown > 0) {
		ht_arena_retag(p, n, HT_BLK_PLAIN | grown);
	} else {
		ht_arena_retag(p, n, sampled_flags(t) | grown);
		resize_sampled(t, p, n, cfa);
	}
	t->self--;
	return p;
}

void *ht_trace_realloc_move(void *p, size_t n, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;
	size_t usable = ht_arena_usable(p), bytes = n < usable ? n : usable, size;
	uint32_t f;
	int sampled;
	void *q;

	if (bytes < HT_MOVE_COLD_MIN || !resize_here(t))
		return NULL;
	t->countdown -= (int64_t)n;
	sampled = t->countdown <= 0;
	if (!sampled && bytes < HT_MOVE_MIN) {
		/* copied into the real allocator's pages, which are likely
		 * there, costs less (the draw repeats the same there) */
		t->countdown += (int64_t)n;
		return NULL;
	}
	t->self++;
	size = ht_arena_size(p);
	f = ht_arena_flags(p);
	HT_PART(HT_PART_ARENA_MALLOC, 0,
		q = ht_arena_alloc_room(n, n > usable ? ht_grow_room(n, size, f) : n, 0,
					(sampled ? sampled_flags(t) : HT_BLK_PLAIN) |
						ht_grown(n, size, f),
					0));
	if (!q) {
		t->countdown += (int64_t)n;
		t->self--;
		return NULL;
	}
	resize_free(t, p);
	HT_PART(HT_PART_COPY, bytes, ht_arena_move(p, q, n));
	ht_count_alloc(t, n);
	if (sampled)
		resize_sampled(t, q, n, cfa);
	t->self--;
	return q;
}
