/* The interposed allocation functions, and nothing else. The fast path of
 * each is a thread-local countdown and a branch; sampling, start-up and
 * recording live behind the ht_trace_* calls (trace.c), which are told
 * what they need as arguments. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "parts.h"

/* The stack pointer of the program's call into the exported function this
 * is written in, for the stack cache (stacks.c); taken where it is used:
 * held from the start, it cost the fast path a register and three
 * instructions. */
#define CALLER_CFA ((uintptr_t)__builtin_dwarf_cfa())

/* The unsampled path: the countdown, the thread's counts, and a jump into
 * the real allocator. A signal handler that interrupts the allocator and
 * allocates must not enter it again (it could wait forever on the lock its
 * thread holds): handlers run through the shim (signals.c), which counts
 * them in busy and lowers the countdown, so that what they allocate goes
 * to the slow path, and is served from the arena. room and cfa: as for
 * ht_trace_alloc. */
static inline void *alloc_at(size_t n, size_t align, enum ht_op op, size_t room, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;
	void *p;
	int err;

	if (ht_unlikely(ht_countdown(t, n)))
		return ht_trace_alloc(n, align, op, room, cfa);
	ht_count_alloc(t, n);
	if (op == HT_OP_MALLOC)
		return ht_hot.real.malloc(n);
	if (op == HT_OP_CALLOC)
		return ht_hot.real.calloc(1, n);
	err = ht_hot.real.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
	if (err) {
		errno = err;
		p = NULL;
	}
	return p;
}

/* NULL with errno ENOMEM; out of line, so that a function that may fail
 * so needs no stack frame on its fast path for the call to errno's
 * location. */
static __attribute__((noinline, cold)) void *no_memory(void)
{
	errno = ENOMEM;
	return NULL;
}

/* An allocation the program asked for, in the exported function it called. */
#define alloc(n, align, op) alloc_at(n, align, op, 0, CALLER_CFA)

HT_EXPORT void *malloc(size_t n)
{
	return alloc(n, 0, HT_OP_MALLOC);
}

/* free of an arena block: sampled, or a start-up, nested or plain one */
static __attribute__((noinline)) void free_in_arena(void *p)
{
	uint32_t f = ht_arena_flags(p);

	if (f & HT_BLK_SAMPLED) {
		ht_trace_free(p, f);
		return;
	}
	if (f & (HT_BLK_NESTED | HT_BLK_PLAIN))
		ht_count_free(&ht_tls);
	ht_arena_free(p);
}

/* free on a thread not set up yet, or by a signal handler, which may have
 * interrupted its thread inside the real allocator, holding the lock this
 * free would need: then it is freed by the thread's next slow path outside
 * a handler (ht_trace_alloc), or at its exit */
static __attribute__((noinline)) void free_rare(void *p)
{
	ht_count_free(&ht_tls);
	if (ht_tls.busy >= HT_IN_HANDLER)
		ht_signals_recheck(&ht_tls);
	if (ht_tls.busy) {
		*(void **)p = ht_tls.deferred;
		ht_tls.deferred = p;
		return;
	}
	ht_hot.real.free(p);
}

/* A countdown > 0 says the thread has its slot and is not busy (see
 * HT_CD_BIAS): one test for both. */
static inline void do_free(void *p)
{
	struct ht_tls *t = &ht_tls;

	if (ht_unlikely(ht_in_arena(p))) {
		free_in_arena(p);
		return;
	}
	if (!p)
		return;
	if (ht_unlikely(t->countdown <= 0)) {
		free_rare(p);
		return;
	}
	ht_bump(&t->slot->free_calls, 1);
	ht_hot.real.free(p);
}

HT_EXPORT void free(void *p)
{
	do_free(p);
}

HT_EXPORT void *calloc(size_t n, size_t m)
{
	size_t total;

	if (__builtin_mul_overflow(n, m, &total)) {
		return no_memory();
	}
	return alloc(total, 0, HT_OP_CALLOC);
}

/* Moves an arena block (or, when a sample is due, an ordinary one) to a
 * new block of n bytes: a new allocation and a free, as pprof counts it.
 * old is the usable size, not the requested one: programs (redis) write
 * up to malloc_usable_size and expect realloc to keep it. A new block in
 * the arena is marked grown if it grew; an arena block that grows again
 * gets, if sampled again, a slot with room for twice n, where it can grow
 * on in place (see ht_grow_room). cfa: realloc's caller's stack pointer,
 * for the stack cache. */
static void *move(void *p, size_t old, size_t n, uintptr_t cfa)
{
	int in_arena = ht_in_arena(p);
	size_t size = in_arena ? ht_arena_size(p) : old;
	uint32_t f = in_arena ? ht_arena_flags(p) : 0;
	size_t room = in_arena ? ht_grow_room(n, size, f) : 0;
	void *q = alloc_at(n, 0, HT_OP_MALLOC, room, cfa);

	if (!q)
		return NULL;
	if (ht_in_arena(q) && ht_grown(n, size, f))
		ht_arena_mark(q, HT_BLK_GROWN);
	HT_PART(HT_PART_COPY, old < n ? old : n, memcpy(q, p, old < n ? old : n));
	free(p);
	return q;
}

/* realloc of an arena block (sampled, or a start-up, nested or plain one) */
static __attribute__((noinline)) void *realloc_arena(void *p, size_t n, uintptr_t cfa)
{
	uint32_t f = ht_arena_flags(p);
	size_t usable = ht_arena_usable(p);

	if (f & HT_BLK_COUNTED)
		ht_count_realloc(&ht_tls);
	if (n == 0) {
		free(p);
		return NULL;
	}
	if (f & (HT_BLK_SAMPLED | HT_BLK_PLAIN)) {
		void *q;

		/* resized within its slot it stays put, unless it shrinks to
		 * less than half, which would hold the slot (a block that
		 * grows stays even then: one that moved was given room for
		 * twice its size, more after rounding to its class) */
		if (n <= usable && (n > usable / 2 || n >= ht_arena_size(p)) &&
		    ht_trace_realloc_in_place(p, n, cfa))
			return p;
		q = ht_trace_realloc_move(p, n, cfa);
		if (q)
			return q;
	}
	return move(p, usable, n, cfa);
}

/* The real realloc, counted: a block of n bytes made and one freed when
 * it succeeds (also when n is 0 and the allocator returns a block, as
 * some do); only the freeing when n is 0 and it returns NULL, as glibc
 * does; neither when it fails. */
static inline void *realloc_real(struct ht_tls *t, void *p, size_t n)
{
	void *q = ht_hot.real.realloc(p, n);
	struct ht_slot *s = t->slot;

	ht_bump(&s->realloc_calls, 1);
	if (ht_likely(q != NULL)) {
		ht_bump(&s->alloc_calls, 1);
		ht_bump(&s->alloc_bytes, n);
		ht_bump(&s->free_calls, 1);
	} else if (n == 0) {
		ht_bump(&s->free_calls, 1);
	}
	return q;
}

/* realloc of an ordinary block when the countdown (from which n was
 * taken) says no to the fast path: a sample is due, the thread is busy
 * (a signal handler, which may have interrupted its thread inside the
 * real allocator), or it is not set up yet. */
static __attribute__((noinline)) void *realloc_due(void *p, size_t n, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;

	t->countdown += (int64_t)n;
	if (ht_unlikely(!t->slot))
		ht_thread_attach(t);
	if (!t->busy) {
		/* a thread not set up yet samples nothing: before the shim's
		 * start-up ends, as when a library's constructor runs before
		 * the allocator's own, whose malloc_usable_size may know
		 * nothing yet (tcmalloc's said 0, and a move copied nothing) */
		if (!t->attached)
			return realloc_real(t, p, n);
		/* a thread just set up may have a countdown to spare */
		if (n == 0 || !ht_countdown(t, n))
			return realloc_real(t, p, n);
		t->countdown += (int64_t)n;
	} else if (n == 0) {
		ht_count_realloc(t);
		free(p);
		return NULL;
	}
	/* the copy goes through the slow path, which may place it in the
	 * arena (and a handler's always goes there) */
	ht_count_realloc(t);
	return move(p, ht_hot.real.malloc_usable_size(p), n, cfa);
}

/* A countdown above n says a sample is not due, the thread has its slot
 * and is not busy (see HT_CD_BIAS): one test for all three. */
HT_EXPORT void *realloc(void *p, size_t n)
{
	struct ht_tls *t = &ht_tls;

	if (!p)
		return malloc(n);
	if (ht_unlikely(ht_in_arena(p)))
		return realloc_arena(p, n, CALLER_CFA);
	if (ht_unlikely(ht_countdown(t, n)))
		return realloc_due(p, n, CALLER_CFA);
	return realloc_real(t, p, n);
}

HT_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t total;

	if (__builtin_mul_overflow(n, m, &total)) {
		return no_memory();
	}
	return realloc(p, total);
}

static int valid_align(size_t a)
{
	return a && (a & (a - 1)) == 0;
}

/* Alignments the underlying allocator treats its own way (0, not a power
 * of two: glibc rounds up, others fail) go to it untouched, counted but
 * never sampled, so the program sees exactly what it would see untraced. */
static void *odd_align(void *(*real)(size_t, size_t), size_t align, size_t n)
{
	struct ht_tls *t = &ht_tls;
	void *p;

	if (ht_startup_resolve() != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (ht_unlikely(!t->slot))
		ht_thread_attach(t);
	p = real(align, n);
	if (p)
		ht_count_alloc(t, n);
	return p;
}

HT_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;
	int saved = errno;

	if (!valid_align(align) || align % sizeof(void *))
		return EINVAL; /* what every allocator answers */
	p = alloc(n, align, HT_OP_ALIGNED);
	if (!p) {
		int err = errno ? errno : ENOMEM;

		errno = saved;
		return err;
	}
	*out = p;
	errno = saved;
	return 0;
}

HT_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!valid_align(align))
		return odd_align(ht_hot.real.aligned_alloc ? ht_hot.real.aligned_alloc : ht_hot.real.memalign,
				 align, n);
	return alloc(n, align, HT_OP_ALIGNED);
}

HT_EXPORT void *memalign(size_t align, size_t n)
{
	if (!valid_align(align))
		return odd_align(ht_hot.real.memalign, align, n);
	return alloc(n, align, HT_OP_ALIGNED);
}

HT_EXPORT void *valloc(size_t n)
{
	return alloc(n, (size_t)sysconf(_SC_PAGESIZE), HT_OP_ALIGNED);
}

HT_EXPORT void *pvalloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (n > SIZE_MAX - page) {
		return no_memory();
	}
	n = n ? (n + page - 1) & ~(page - 1) : page;
	return alloc(n, page, HT_OP_ALIGNED);
}

/* Called on every allocation and free by some programs (redis counts its
 * memory so): NULL, never in the arena, goes to the real allocator, which
 * answers 0 as every allocator does, and the test for it (three of eight
 * instructions here) is saved. */
HT_EXPORT size_t malloc_usable_size(void *p)
{
	if (ht_unlikely(ht_in_arena(p)))
		return ht_arena_usable(p);
	return ht_hot.real.malloc_usable_size(p);
}

/* ---- C++ operator new and delete ----------------------------------------
 * jemalloc and tcmalloc define operator new and delete themselves, which
 * then never call malloc: unwrapped, C++ programs over them were invisible.
 * So the shim defines the whole family (the Itanium ABI's names; the shim
 * is C). Where the next operator new is known to be malloc's kin (CXX_MALLOC:
 * libstdc++'s or libc++'s, which call malloc, or one defined by the object
 * that defines the next malloc, as jemalloc's and tcmalloc's are), new
 * allocates as malloc does here, counted and sampled once, through the
 * underlying allocator's malloc or posix_memalign (whose blocks its delete
 * and free both take); only when that fails does it call the next operator
 * new, which calls the new-handler and retries, throws bad_alloc or,
 * nothrow, returns NULL, as untraced. (Forwarding each call to the next
 * operator instead would count twice where that calls malloc, and walk a
 * frame of it into every stack.) Every delete is then free: a sampled
 * block goes back to the arena, never to the allocator's delete. The
 * wrappers' frames are the shim's, so a new site's stack starts at its
 * caller. Any other operator new (a library's own, with its own pool) is
 * the program's to keep (CXX_PASS): new and delete go to the next ones
 * untouched, counted only where they call malloc and free, as before the
 * shim defined them. */

enum { CXX_UNKNOWN, CXX_MALLOC, CXX_PASS };
static int cxx_mode;

/* The next definitions of the operators, found on first use. */
enum {
	NEW, NEWA, NEW_NT, NEWA_NT, NEW_AL, NEWA_AL, NEW_AL_NT, NEWA_AL_NT,
	DL, DA, DL_SZ, DA_SZ, DL_NT, DA_NT, DL_AL, DA_AL, DL_SZ_AL, DA_SZ_AL, DL_AL_NT, DA_AL_NT,
	CXX_OPS
};
static const char *const cxx_names[] = { HT_CXX_OPERATORS };
_Static_assert(sizeof(cxx_names) / sizeof(cxx_names[0]) == CXX_OPS,
	       "one name for each operator, in the enum's order");
static void *cxx_next[CXX_OPS];

/* The next definition of operator op, found on first use (dlsym may
 * allocate: those blocks are the shim's own, from the arena); NULL if the
 * process has none (then there was no C++ code to call this one either). */
static void *cxx_real(int op)
{
	struct ht_tls *t = &ht_tls;
	void *f = __atomic_load_n(&cxx_next[op], __ATOMIC_ACQUIRE);

	if (f)
		return f;
	ht_own_enter(t);
	f = ht_dl_next(cxx_names[op]);
	ht_own_leave(t);
	__atomic_store_n(&cxx_next[op], f, __ATOMIC_RELEASE);
	return f;
}

/* Whether a file name is libstdc++'s or libc++'s, whose operator new
 * calls malloc. */
static int cxx_runtime(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libstdc++.", 10) || !strncmp(base, "libc++.", 7);
}

/* Which way the operators go (see above), decided on first use. */
static __attribute__((noinline)) int cxx_decide(void)
{
	Dl_info nw, ml;
	void *next;
	int mode = CXX_MALLOC;

	if (ht_startup_resolve() != 0)
		return CXX_MALLOC; /* the shim is starting: its own blocks */
	next = cxx_real(NEW);
	if (next && dladdr(next, &nw) && nw.dli_fname && !cxx_runtime(nw.dli_fname) &&
	    !(dladdr((void *)ht_hot.real.malloc, &ml) && ml.dli_fbase == nw.dli_fbase))
		mode = CXX_PASS;
	__atomic_store_n(&cxx_mode, mode, __ATOMIC_RELAXED);
	return mode;
}

static inline int cxx_malloc(void)
{
	return ht_likely(__atomic_load_n(&cxx_mode, __ATOMIC_RELAXED) == CXX_MALLOC) ||
	       cxx_decide() == CXX_MALLOC;
}

/* new's allocation as malloc's (alloc), or NULL */
static inline void *new_alloc(size_t n, size_t align, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;
	void *p;
	int err;

	if (ht_unlikely(ht_countdown(t, n)))
		return ht_trace_alloc(n, align, align ? HT_OP_ALIGNED : HT_OP_MALLOC, 0, cfa);
	ht_count_alloc(t, n);
	if (!align)
		return ht_hot.real.malloc(n);
	err = ht_hot.real.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
	return err ? NULL : p;
}

typedef void *(*new_fn)(size_t);
typedef void *(*new_nt_fn)(size_t, const void *);
typedef void *(*new_al_fn)(size_t, size_t);
typedef void *(*new_al_nt_fn)(size_t, size_t, const void *);

/* ARGS: the parameters; CALL: the same, passed on; OK: whether the shim
 * may allocate (an alignment that is not a power of two is the next
 * operator's to judge: undefined behaviour, which libstdc++ rounds and
 * others refuse) */
#define NEW_OP(name, op, fn, ARGS, CALL, align, OK)                           \
	HT_EXPORT void *name ARGS                                             \
	{                                                                     \
		fn f;                                                         \
                                                                              \
		if (ht_likely(cxx_malloc() && (OK))) {                        \
			void *p = new_alloc(n, align, CALLER_CFA);            \
                                                                              \
			if (ht_likely(p != NULL))                             \
				return p;                                     \
		}                                                             \
		f = (fn)cxx_real(op);                                         \
		return f ? f CALL : NULL;                                     \
	}

/* the declarations -Wmissing-prototypes asks for: C++ declares them */
void *_Znwm(size_t);
void *_Znam(size_t);
void *_ZnwmRKSt9nothrow_t(size_t, const void *);
void *_ZnamRKSt9nothrow_t(size_t, const void *);
void *_ZnwmSt11align_val_t(size_t, size_t);
void *_ZnamSt11align_val_t(size_t, size_t);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t, size_t, const void *);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t, size_t, const void *);

NEW_OP(_Znwm, NEW, new_fn, (size_t n), (n), 0, 1)
NEW_OP(_Znam, NEWA, new_fn, (size_t n), (n), 0, 1)
NEW_OP(_ZnwmRKSt9nothrow_t, NEW_NT, new_nt_fn, (size_t n, const void *nt), (n, nt), 0, 1)
NEW_OP(_ZnamRKSt9nothrow_t, NEWA_NT, new_nt_fn, (size_t n, const void *nt), (n, nt), 0, 1)
NEW_OP(_ZnwmSt11align_val_t, NEW_AL, new_al_fn, (size_t n, size_t al), (n, al), al,
       valid_align(al))
NEW_OP(_ZnamSt11align_val_t, NEWA_AL, new_al_fn, (size_t n, size_t al), (n, al), al,
       valid_align(al))
NEW_OP(_ZnwmSt11align_val_tRKSt9nothrow_t, NEW_AL_NT, new_al_nt_fn,
       (size_t n, size_t al, const void *nt), (n, al, nt), al, valid_align(al))
NEW_OP(_ZnamSt11align_val_tRKSt9nothrow_t, NEWA_AL_NT, new_al_nt_fn,
       (size_t n, size_t al, const void *nt), (n, al, nt), al, valid_align(al))

/* Every delete, sized, aligned or nothrow: free (the size and alignment
 * they add are not needed), or the next delete of its name (CXX_PASS). */
#define DELETE_OP(name, op, ARGS, TYPES, CALL)                                \
	void name ARGS;                                                       \
	HT_EXPORT void name ARGS                                              \
	{                                                                     \
		void (*f) TYPES;                                              \
                                                                              \
		if (ht_likely(cxx_malloc())) {                                \
			do_free(p);                                           \
			return;                                               \
		}                                                             \
		f = (void (*) TYPES)cxx_real(op);                             \
		if (f)                                                        \
			f CALL;                                               \
	}

DELETE_OP(_ZdlPv, DL, (void *p), (void *), (p))
DELETE_OP(_ZdaPv, DA, (void *p), (void *), (p))
DELETE_OP(_ZdlPvm, DL_SZ, (void *p, size_t n), (void *, size_t), (p, n))
DELETE_OP(_ZdaPvm, DA_SZ, (void *p, size_t n), (void *, size_t), (p, n))
DELETE_OP(_ZdlPvRKSt9nothrow_t, DL_NT, (void *p, const void *nt), (void *, const void *), (p, nt))
DELETE_OP(_ZdaPvRKSt9nothrow_t, DA_NT, (void *p, const void *nt), (void *, const void *), (p, nt))
DELETE_OP(_ZdlPvSt11align_val_t, DL_AL, (void *p, size_t al), (void *, size_t), (p, al))
DELETE_OP(_ZdaPvSt11align_val_t, DA_AL, (void *p, size_t al), (void *, size_t), (p, al))
DELETE_OP(_ZdlPvmSt11align_val_t, DL_SZ_AL, (void *p, size_t n, size_t al),
	  (void *, size_t, size_t), (p, n, al))
DELETE_OP(_ZdaPvmSt11align_val_t, DA_SZ_AL, (void *p, size_t n, size_t al),
	  (void *, size_t, size_t), (p, n, al))
DELETE_OP(_ZdlPvSt11align_val_tRKSt9nothrow_t, DL_AL_NT, (void *p, size_t al, const void *nt),
	  (void *, size_t, const void *), (p, al, nt))
DELETE_OP(_ZdaPvSt11align_val_tRKSt9nothrow_t, DA_AL_NT, (void *p, size_t al, const void *nt),
	  (void *, size_t, const void *), (p, al, nt))

/* C23's free_sized and free_aligned_sized (which glibc 2.36 lacks: a
 * program that needs them from its C library then does not load, so
 * exporting them is safe): free itself, under another name, as the size
 * and alignment they add (in registers free does not read) are not needed. */
#define AS_FREE(name) HT_EXPORT void name(void *p) __attribute__((alias("free"), copy(free)));
AS_FREE(free_sized)
AS_FREE(free_aligned_sized)

/* Wrapped only to count unloads: a library unloaded, and another loaded at
 * its address, can put different code under a remembered stack. */
HT_EXPORT int dlclose(void *handle)
{
	static int (*real)(void *);
	int (*f)(void *) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	int r;

	if (!f) {
		f = (int (*)(void *))ht_dl_next("dlclose");
		if (!f)
			return -1; /* no dlclose underneath: nothing was loaded by one */
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	r = f(handle);
	__atomic_add_fetch(&ht_unloads, 1, __ATOMIC_ACQ_REL);
	return r;
}
