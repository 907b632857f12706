/* The shim's internal API, grouped by the file that defines each part.
 * Nothing here may allocate through the traced malloc. */
#ifndef HT_INTERNAL_H
#define HT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ring.h"

#define HT_EXPORT __attribute__((visibility("default")))
#define ht_likely(x) __builtin_expect(!!(x), 1)
#define ht_unlikely(x) __builtin_expect(!!(x), 0)

/* ---- arena.c: the sample arena ---------------------------------------- */

/* The underlying allocator, resolved with dlsym(RTLD_NEXT). The four entry
 * points every program calls come first, then malloc_usable_size, which
 * some call as often (redis, around each malloc and free): with the arena's
 * range, the five fill ht_hot's first cache line. */
struct ht_real {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	size_t (*malloc_usable_size)(void *);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
};

/* What every call reads, each written once: the arena's range when it is
 * reserved (see ht_in_arena) and the underlying allocator at start-up,
 * the hot part of both on one cache line, which a program that thrashes
 * its caches then misses once, not three times. */
struct ht_hot {
	uintptr_t arena_lo, arena_span;
	struct ht_real real;
} __attribute__((aligned(64)));
_Static_assert(offsetof(struct ht_hot, real.malloc_usable_size) + sizeof(void *) <= 64,
	       "the hot entry points share ht_hot's first cache line");
/* hidden, also where only declared: then the compiler addresses it
 * directly, not through its GOT entry (an instruction off each call) */
extern struct ht_hot ht_hot __attribute__((visibility("hidden")));

/* Sampled blocks, and the shim's own early blocks, live in one address
 * range [ht_hot.arena_lo, ht_hot.arena_lo + ht_hot.arena_span), so free()
 * tells them apart from the underlying allocator's blocks with one
 * compare. */

#define HT_BLK_SAMPLED  1u /* recorded: its free must be recorded too */
#define HT_BLK_INTERNAL 2u /* the shim's own: served before the real allocator
			    * was known, or while it works (ht_tls.own) */
#define HT_BLK_NESTED   4u /* served while this thread was inside the real
			    * allocator (to a signal handler): counted */
#define HT_BLK_PLAIN    8u /* a sampled block resized (in place, or moved
			    * within the arena when large) whose new size was
			    * not sampled, or one whose sampled event was
			    * dropped (full ring): counted, not recorded */
#define HT_BLK_GROWN   16u /* made by a realloc that grew the block: one that
			    * grows again is given room (see ht_grow_room) */
#define HT_BLK_COUNTED  (HT_BLK_SAMPLED | HT_BLK_NESTED | HT_BLK_PLAIN)
/* A sampled block's flags also hold, in HT_BLK_TAG, the tag of the thread
 * that made it (ht_tls.tag, 1 .. HT_BLK_TAG >> HT_BLK_TAG_SHIFT): a
 * thread's last block freed by another and made again there is then not
 * taken for its own (the tags of 2047 threads and more repeat). Small
 * slots keep 16 bits of flags. */
#define HT_BLK_TAG_SHIFT 5
#define HT_BLK_TAG      0xffe0u

/* The span first: it is stored last, once the arena is reserved, and
 * with a span seen the start is too (then 0, nothing is in the arena). */
static inline int ht_in_arena(const void *p)
{
	uintptr_t span = __atomic_load_n(&ht_hot.arena_span, __ATOMIC_ACQUIRE);

	return (uintptr_t)p - ht_hot.arena_lo < span;
}

/* Reserves the arena's address range, once, at its first use (from
 * ht_arena_alloc). Returns its span, or 0 if it cannot be reserved (then
 * every ht_arena_alloc fails). Thread-safe and safe before main; allocates
 * nothing. */
uintptr_t ht_arena_reserve(void);

/* Returns a block of at least n bytes aligned to align (a power of two,
 * or 0 for 16), tagged with flags, or NULL if the arena has no room.
 * Lock-free and async-signal-safe. zero: the block must read as zeros. */
void *ht_arena_alloc(size_t n, size_t align, uint32_t flags, int zero);

/* Same, in a slot with room for at least room bytes (room > n: a block
 * that grows by realloc, which then stays in place for a while). */
void *ht_arena_alloc_room(size_t n, size_t room, size_t align, uint32_t flags, int zero);

/* For p inside the arena: records a new requested size and flags. */
void ht_arena_retag(void *p, size_t n, uint32_t flags);

/* For p inside the arena, not yet seen by another thread: adds flags to
 * its own, keeping its size and the arena's marks. */
void ht_arena_mark(void *p, uint32_t flags);

/* For p inside the arena: its flags and requested size. */
uint32_t ht_arena_flags(const void *p);
size_t ht_arena_size(const void *p);
/* Bytes usable from p to the end of its slot. */
size_t ht_arena_usable(const void *p);

/* Returns p's slot to the arena. Lock-free and async-signal-safe. */
void ht_arena_free(void *p);

/* Blocks this big move by their pages (ht_arena_move); from the smaller
 * size on when the pages they move to are not there yet. */
#define HT_MOVE_MIN ((size_t)1 << 20)
#define HT_MOVE_COLD_MIN ((size_t)64 << 10)

/* realloc's copy inside the arena: moves arena block p's bytes (as many
 * as q's n bytes hold, up to p's usable size) to q, an arena block just
 * allocated (align 0), then returns p's slot. Large blocks move by their
 * pages (see HT_MOVE_MIN), as glibc's realloc moves a large block with mremap,
 * not by a copy. Lock-free and async-signal-safe. */
void ht_arena_move(void *p, void *q, size_t n);

/* Gives the pages of the free large slots the arena keeps for reuse back
 * to the system (as if they had not been kept); returns their bytes.
 * Lock-free: any thread, alongside allocations and frees; not async-
 * signal-safe in spirit (it makes system calls for every slot). */
uint64_t ht_arena_trim(void);

/* In a forked child (its fork handler): closes the copies of the page map
 * descriptors other threads had open to clear slots (arena_clear.c),
 * which the child, without those threads, would keep for good. */
void ht_arena_clear_forked(void);

/* Bytes of arena slots in use, and bytes of the arena made read-write. */
extern uint64_t ht_arena_live, ht_arena_committed;

/* ---- thread.c: per-thread state ---------------------------------------- */

#define HT_IN_HANDLER (1u << 16) /* in ht_tls.busy: a signal handler runs */
#define HT_HANDLER_FRAMES 4      /* handlers within handlers whose frames are known */

/* The countdown never exceeds HT_CD_MAX (tracing off: it starts there).
 * While the thread is busy (ht_tls.busy) it is lowered by HT_CD_BIAS, once
 * for each of the first HT_BIAS_LEVELS handlers running and once for the
 * shim's own stretches that allocate, so that it is <= 0 and every call
 * takes the slow path: the fast path of malloc tests the countdown alone,
 * and that of free tests that it is > 0 (which also says the thread has
 * its slot). Each lowering and raising is one instruction, which a signal
 * handler cannot split. */
#define HT_CD_MAX (1ll << 58)
#define HT_CD_BIAS (1ll << 60)
#define HT_BIAS_LEVELS 6
/* Tracing off in a process heaptrace -p may attach to again: the bytes
 * between two looks of a thread's slow path at whether it has */
#define HT_CD_RECHECK ((int64_t)1 << 20)

/* Per-thread state, in initial-exec TLS so the fast path is a few
 * instructions. countdown is the bytes left before the next sample; it is
 * <= 0 until the thread is set up, which sends the first call down the slow
 * path. */
struct ht_tls {
	int64_t countdown;    /* less the biases (see HT_CD_BIAS) */
	struct ht_slot *slot; /* exact counters; NULL until attached */
	uint64_t rng;
	uint32_t busy;        /* the shim's own calls into the real allocator under way
			       * (low 16 bits), and signal handlers running (the rest,
			       * HT_IN_HANDLER each): see ht_trace_alloc */
	void *deferred;       /* frees made meanwhile by signal handlers, linked through the blocks */
	uint32_t self;        /* doing the shim's own work: no sampling, no recursion */
	uint32_t attached;
	void *scache;         /* its last stacks (stacks.c), in the arena */
	uint32_t own;         /* allocations now are the shim's own (with busy): uncounted */
	int64_t hcount;       /* the countdown of allocations in signal handlers */
	uintptr_t handler_frame[HT_HANDLER_FRAMES]; /* the trampoline's frame of
						     * each handler running (signals.c),
						     * the outermost first */
	uint32_t gen;         /* ht_core.gen its slot belongs to */
	/* its last sampled block, to tell whether that is temporary (see
	 * ht_trace_free): the block, the slot and its alloc_calls just after
	 * it was made (every allocation bumps them, the fast path's too) */
	void *last_ptr;
	const struct ht_slot *last_slot;
	uint64_t last_calls;
	uint32_t tag;         /* this thread's mark on its sampled blocks (HT_BLK_TAG) */
	uint32_t clear_fds;   /* the page maps it has open to clear slots, a bit each
			       * (arena_clear.c) */
};
extern __thread struct ht_tls ht_tls __attribute__((aligned(64), visibility("hidden")));

/* libunwind is loaded when a walk first needs it (unwind.c; its functions
 * in unwind.h). 1 if they may be called: it is loaded, or this thread
 * loaded it now; 0 if it cannot be now, or ever. */
int ht_unw_ready(void);

/* 1 if it is loaded; never loads it (a signal handler may be running). */
int ht_unw_loaded(void);

/* The fork handler's: a loading that another thread had begun is not
 * going on in the child. */
void ht_unw_forked(void);

/* Before the process shuts itself in where the collector's program and
 * libunwind may be out of reach (chroot, and unshare and setns of a mount
 * namespace): the lazy collector starts, and libunwind is loaded. */
void ht_before_confine(void);

/* Sets up a thread: its slot of counters and its countdown, as tracing
 * now is (on, starting, off). Also for a thread that frees before it
 * allocates. */
void ht_thread_attach(struct ht_tls *t);

/* Makes t start over on its next call (its slot retired, or a forked
 * child that starts tracing anew). */
void ht_thread_reset(struct ht_tls *t);

/* Sets t's slot to one that counts nowhere, and its countdowns to never:
 * tracing is off for good in this process. */
void ht_thread_off(struct ht_tls *t);

/* Registers the key whose destructor retires a thread's slot at its exit.
 * Returns 0, or -1 if there is none (then a slot is kept to the end). */
int ht_thread_hooks(void);

/* Frees what signal handlers freed while this thread was inside the real
 * allocator (ht_tls.deferred); called with busy still set, so a handler
 * that interrupts these frees defers its own too. */
void ht_flush_deferred(struct ht_tls *t);

/* Same, when this thread is neither in a handler nor inside the allocator. */
void ht_thread_flush(struct ht_tls *t);

/* The biases the countdown holds for the handlers running on the thread. */
static inline int64_t ht_handler_bias(const struct ht_tls *t)
{
	uint32_t d = t->busy / HT_IN_HANDLER;

	return (int64_t)(d < HT_BIAS_LEVELS ? d : HT_BIAS_LEVELS) * HT_CD_BIAS;
}

/* Sets the countdown to v bytes, keeping the handlers' biases. */
static inline void ht_countdown_set(struct ht_tls *t, int64_t v)
{
	t->countdown = v - ht_handler_bias(t);
}

/* One bias more or less, each one instruction (see HT_CD_BIAS). */
static inline void ht_countdown_lower(struct ht_tls *t)
{
#if defined(__x86_64__)
	__asm__ __volatile__("subq %1, %0" : "+m"(t->countdown) : "r"(HT_CD_BIAS) : "memory");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->countdown -= HT_CD_BIAS;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static inline void ht_countdown_raise(struct ht_tls *t)
{
#if defined(__x86_64__)
	__asm__ __volatile__("addq %1, %0" : "+m"(t->countdown) : "r"(HT_CD_BIAS) : "memory");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	t->countdown += HT_CD_BIAS;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* True when this thread runs a signal handler, and not inside the shim's
 * own work: the handler may have interrupted the real allocator, so
 * nothing it asks for may call into it; it is sampled as ever. */
static inline int ht_handler_only(const struct ht_tls *t)
{
	return t->busy >= HT_IN_HANDLER && !(t->busy % HT_IN_HANDLER) && !t->self && !t->own;
}

/* Leaves a stretch inside the real allocator (busy++ before it). */
static inline void ht_busy_leave(struct ht_tls *t)
{
	if (ht_unlikely(t->deferred != NULL) && t->busy == 1)
		ht_flush_deferred(t);
	t->busy--;
}

/* A stretch of the shim's own work that may allocate (the loader, glibc's
 * thread attributes): what it allocates comes from the arena, neither
 * counted nor traced, then or when it is freed. */
static inline void ht_own_enter(struct ht_tls *t)
{
	t->busy++;
	t->own++;
	ht_countdown_lower(t);
}

static inline void ht_own_leave(struct ht_tls *t)
{
	ht_countdown_raise(t);
	t->own--;
	ht_busy_leave(t);
}

/* Adds d to one of this thread's counters, which only this thread writes
 * and the collector reads: one add to memory, not locked (a lock costs
 * some 20 cycles) and not a load and a store (two more instructions on
 * every call). An aligned 8-byte store is never seen half done. */
static inline void ht_bump(uint64_t *x, uint64_t d)
{
#if defined(__x86_64__)
	__asm__ __volatile__("addq %1, %0" : "+m"(*x) : "er"(d));
#else
	__atomic_store_n(x, *x + d, __ATOMIC_RELAXED);
#endif
}

/* Takes n bytes off the thread's countdown; true when it reaches zero or
 * less (a sample is due). One subtract from memory and its flags. */
static inline int ht_countdown(struct ht_tls *t, size_t n)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
	int due;

	__asm__ __volatile__("subq %2, %0" : "+m"(t->countdown), "=@ccle"(due) : "er"((int64_t)n));
	return due;
#else
	t->countdown -= (int64_t)n;
	return t->countdown <= 0;
#endif
}

static inline void ht_count_alloc(struct ht_tls *t, size_t n)
{
	struct ht_slot *s = t->slot;

	ht_bump(&s->alloc_calls, 1);
	ht_bump(&s->alloc_bytes, n);
}

static inline void ht_count_free(struct ht_tls *t)
{
	struct ht_slot *s;

	if (ht_unlikely(!t->slot))
		ht_thread_attach(t);
	s = t->slot;
	ht_bump(&s->free_calls, 1);
}

static inline void ht_count_realloc(struct ht_tls *t)
{
	struct ht_slot *s;

	if (ht_unlikely(!t->slot))
		ht_thread_attach(t);
	s = t->slot;
	ht_bump(&s->realloc_calls, 1);
}

/* ---- startup.c: start-up, the shared state, fork and exit --------------- */

/* ht_hot (above, with the arena's range) is defined in startup.c. */

enum { HT_ST_NEW, HT_ST_RESOLVING, HT_ST_RESOLVED }; /* ht_core.resolve_state */
/* BEFORE (0): the libraries' constructors run, not yet the shim's: counted as STARTING */
enum { HT_TR_BEFORE, HT_TR_OFF, HT_TR_STARTING, HT_TR_ON }; /* ht_core.tracing */

/* What belongs to one collector: a forked child that starts its own
 * starts these over (HT_RUN_INIT). */
struct ht_run {
	pid_t collector_pid;
	uint32_t stalled;  /* ring full with no progress: drop without waiting */
	int warned_dead;   /* said that the collector is gone */
	uint64_t dl_seen;  /* dlpi_adds + dlpi_subs when modules were last sent */
	uint64_t dl_sent;  /* ... and once they are all in the ring */
};
#define HT_RUN_INIT { .dl_seen = UINT64_MAX, .dl_sent = UINT64_MAX }

/* The state the shim's files share, written at start-up (and in a forked
 * child) before tracing is HT_TR_ON, then read. The layout of the shared
 * memory is kept here as this process made it: the collector, and whoever
 * may write to the collector's memory, can change the shared header, so no
 * index or size is ever read back from it. */
struct ht_core {
	int resolve_state;             /* HT_ST_* */
	int tracing;                   /* HT_TR_*: may events be written? */
	int fork_pending;              /* a forked child that starts its own collector */
	int depth;                     /* HEAPTRACE_DEPTH */
	int frame_pointers;            /* HEAPTRACE_FRAME_POINTERS: walk them where proven */
	uint64_t rate;                 /* HEAPTRACE_RATE */
	int trim_idle;                 /* HEAPTRACE_TRIM_IDLE: a helper thread even in a
					* program of one thread */
	int lazy;                      /* the collector is not started yet: the first
					* sample starts it (ht_lazy_start) */
	uintptr_t self_lo, self_hi;    /* the shim's own code: frames to skip */
	struct ht_shm *shm;
	struct ht_ring ring;           /* the ring's place and size */
	struct ht_slot *slots;         /* the per-thread counters */
	uint32_t slot_count;
	size_t shm_size;               /* the whole mapping */
	struct ht_slot early_slot;     /* counts made before the shared memory exists */
	struct ht_run run;
	uint32_t gen;                  /* bumped when heaptrace -p attaches again: every
					* thread takes a slot anew */
	char exe_path[HT_PATH_MAX];
};
extern struct ht_core ht_core __attribute__((visibility("hidden")));

/* One line on stderr, "heaptrace: " first, without stdio (which may
 * allocate or hold locks). */
void ht_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Resolves ht_hot.real if not done yet. Returns 0 once resolved, -1 while
 * resolution is under way on this thread (the caller then serves the
 * request from the arena). */
int ht_startup_resolve(void);
/* The program's pending dlerror() kept across the shim's own calls to the
 * loader (dlerr.c): found once, from the constructor or the attach (not
 * from the first malloc, which may come before libc is set up: an
 * AddressSanitizer program's preinit); put aside before such calls and
 * given back after; and the next definition of name, looked up so. */
void ht_dlerr_find(void);
void *ht_dlerr_aside(void);
void ht_dlerr_back(void *saved);
void *ht_dl_next(const char *name);

/* Returns 1 if the shim must stay out of this process altogether: it runs
 * in secure-execution mode (getauxval(AT_SECURE): set-user-ID or
 * set-group-ID, file capabilities), or its program is one of heaptrace's
 * own (the note of untraced.h). Then nothing starts, no variable is read,
 * nothing is said, and every call is passed on untouched. Decided on the
 * first call, from any thread, at any time (it neither allocates nor
 * takes a lock but the loader's); async-signal-safe after that. */
int ht_startup_untraced(void);

/* heaptrace -p, in the running process (attach.c calls them): starts
 * tracing as at a start, then redirects the program's modules to the shim
 * (got.c); 0, or -1 after one message (in ht_say_last). Stopping turns
 * tracing off for good, the hooks staying in place, inert, and asks the
 * collector for its final snapshot. */
int ht_startup_attach(void);
void ht_startup_detach(void);

/* The last line ht_say wrote, "heaptrace: " first. */
extern char ht_say_last[256];

/* ---- attach.c: loaded into a running process ---------------------------- */

/* 1 if the shim was loaded by dlopen after the program started (by
 * heaptrace-attach), not preloaded. Decided on the first call. */
int ht_attach_late(void);

/* The entry point of heaptrace -p (exported; see attach.c). */
int heaptrace_attach(const char *req, char *msg, size_t cap) __attribute__((visibility("default")));

/* The setting heaptrace-attach gave for HEAPTRACE_* name, or NULL; *given:
 * settings were given, and the environment's are not to be read. */
const char *ht_attach_env(const char *name, int *given);

/* The settings as "NAME=VALUE" strings into out (cap at most): how many. */
size_t ht_attach_envv(char **out, size_t cap);

/* ---- got.c: redirecting a running program's calls ----------------------- */

/* Finds the shim's functions and the ones the program is bound to. 0, or -1. */
int ht_got_init(void);

/* The function name as the program's calls are bound to it: the first
 * definition in the loader's order, the shim's aside; NULL if none. */
void *ht_got_real(const char *name);

/* Redirects every loaded module's calls to the malloc family and dlopen
 * (after ht_got_init). Thread-safe; takes the loader's lock. */
void ht_got_patch(void);

/* The first allocation of a forked child that is to be traced (with
 * ht_core.fork_pending taken): starts its collector. */
void ht_startup_forked(void);

/* ---- options.c: what the environment asks for --------------------------- */

/* The settings HEAPTRACE_* give. ht_options_read changes the ones set;
 * the others keep what o holds (the defaults, HT_OPTIONS_INIT, or what a
 * forked child's parent read); ring_size is made anew. A value out of
 * range is ignored with one message. */
struct ht_options {
	uint64_t rate;
	int depth;
	int frame_pointers;      /* HEAPTRACE_FRAME_POINTERS */
	int follow_fork;         /* HEAPTRACE_FOLLOW_FORK */
	int trim_idle;           /* HEAPTRACE_TRIM_IDLE */
	uint64_t ring_size;      /* bytes, a power of two */
	double exit_timeout;     /* seconds */
	int lazy;                /* start the collector at the first sample, not at
				  * start-up: no option needs it running from the start */
};
#define HT_OPTIONS_INIT { .rate = 524288, .depth = 64, .frame_pointers = 1, .exit_timeout = 30 }
void ht_options_read(struct ht_options *o);

/* getenv, which allocates nothing in glibc. */
const char *ht_options_env(const char *name);

/* Whether HEAPTRACE_DISABLE and HEAPTRACE_PID let this process be traced:
 * 1, with *only_me 1 if HEAPTRACE_PID names it (then its children are
 * never traced); 0 if not. A HEAPTRACE_PID that is no process id is
 * ignored with one message. */
int ht_options_wanted(int *only_me);

/* The final snapshot's path into out (cap bytes): HEAPTRACE_OUTPUT (with
 * %p and %e expanded), or heaptrace.EXE.PID.heap, made absolute against the
 * working directory; a forked child's named file gets .PID before .heap.
 * *is_default: no HEAPTRACE_OUTPUT. Returns 0, or -1 if it does not fit. */
int ht_options_output(char *out, size_t cap, int forked, int *is_default);

/* Starts the collector on the shared memory memfd (closed once it runs),
 * with the pipe whose end it watches to know that the program lives, for
 * the final snapshot's path ht_lazy_path(). Returns 0, or -1 after one
 * message. */
int ht_startup_spawn(int memfd);

/* ---- lazy.c: the collector started at the first sample ------------------ */

/* Keeps the final snapshot's path as the shim made it (the collector is
 * told this one, never the shared header's), and whether it is a default
 * name. */
void ht_lazy_output(const char *path, int is_default);
const char *ht_lazy_path(void);

/* A lazy start: keeps memfd for the collector, which the first sample
 * starts (ht_core.lazy is then 1). Returns 0, or -1 after one message. */
int ht_lazy_keep(int memfd);

/* Starts the collector of a process that started without one, at its
 * first sample: one thread starts it, the others go on (their events wait
 * in the ring). From a signal handler, only notes that one is due (the
 * next sample outside a handler, or the exit, starts it). */
void ht_lazy_start(void);

/* Whether this process, at its end, writes its final snapshot itself:
 * started lazily, no collector, and not a child of vfork. */
int ht_lazy_ends_here(void);

/* At the end of a process started lazily whose collector never started:
 * writes its final snapshot itself (final.c) and returns 1; 0 when a
 * collector runs (or was just started) that writes it. cut_short: the
 * process execs, or ends by _exit or abort. */
int ht_lazy_end(int cut_short);

/* An exec after which ht_lazy_end wrote the snapshot failed: the process
 * goes on traced, and its next snapshot replaces that file. */
void ht_lazy_exec_failed(void);

/* A forked child: the parent's descriptor closed (if still ours), and no
 * collector started or owed. */
void ht_lazy_forget(void);

/* ---- objects.c: which loaded object maps an address ------------------- */

/* A number that is the same for every address of one loaded object, 0 if
 * none maps addr. */
uintptr_t ht_objects_which(const void *addr);

/* Whether the object that maps a was loaded before the one that maps b
 * (the loader's order): 1 yes, 0 no, -1 if they are one object or either
 * is mapped by none. */
int ht_objects_before(const void *a, const void *b);

/* ---- spawn.c: starting the collector ------------------------------------ */

/* Starts the collector (not as the program's child) on the shared memory
 * memfd and the read end pipe_rd of the pipe it watches, for this process
 * and the final snapshot's path output; sets ht_core.run.collector_pid.
 * Returns 0, or -1 after one message. */
int ht_spawn_collector(int memfd, int pipe_rd, const char *output);

/* Whether the collector runs (a zombie does not); one not started yet (a
 * lazy start) is started first. Only called when the ring is full or at
 * exit. */
int ht_spawn_alive(void);

/* The collector is gone: says so once, and turns tracing off. */
void ht_spawn_lost(void);

/* Adds this image's record to the heaptrace launcher's file
 * (HEAPTRACE_REPORT_TO), if any; failures are silent. */
void ht_spawn_tell_launcher(void);

/* Adds the record "KIND PID WRITER TEXT" to the launcher's file (as
 * above); WRITER is the collector, or this process when there is none
 * (its final snapshot is its own, final.c). */
void ht_spawn_record(char kind, const char *text);

/* Finds the collector's program now, so that a start inside a sampled
 * allocation need not ask the loader. */
void ht_spawn_prepare(void);

/* ---- final.c: the final snapshot of a process without a collector ------- */

/* Writes the final snapshot of a process that never started its collector
 * (nothing sampled): counts, drops and figures from the shared memory, no
 * stacks, to output (is_default: never replacing a file; else replaced
 * atomically), and the launcher's records. cut_short: the program did not
 * exit (it execs). The name written goes to used (cap bytes). Allocates
 * nothing. Returns 0, or -1 after one message. */
int ht_final_write(const char *output, int is_default, int cut_short, char *used, size_t cap);

/* Says at start-up, in one line, that output's directory cannot be
 * written (as the collector says when it starts); ht_final_write is then
 * quiet about it. */
void ht_final_check_dir(const char *output);

/* Whether ht_final_check_dir said so (the collector, started later, is
 * then told not to say it again). */
int ht_final_dir_said(void);

/* ---- emit.c: the ring writer and module events -------------------------- */

/* Reserves len bytes in the ring at *pos, or returns NULL if it stays full
 * (then the caller counts its drop). May wait briefly for the collector. */
struct ht_rec *ht_emit_reserve(uint32_t len, uint64_t *pos);

/* Publishes a record reserved by ht_emit_reserve; wakes the collector
 * when the ring fills up and for the EXIT event. */
void ht_emit_commit(struct ht_rec *r, uint64_t pos, uint32_t len, int kind, int nframes);

/* Wakes the collector if it sleeps. Async-signal-safe. */
void ht_emit_kick(void);

/* Sends the module list if a library was loaded or unloaded since it was
 * last sent. Returns the loader's count of loads and unloads. */
uint64_t ht_emit_modules(void);

/* The events of the sampled path. ht_emit_alloc and ht_emit_stack return
 * 0, or -1 if the ring had no room (the caller counts the drop); the
 * others count their own. */
int ht_emit_alloc(void *p, size_t n, void *const *frames, int nf, uint32_t id);
int ht_emit_stack(uint32_t id, void *const *ips, int nf);
/* flags: HT_FREE_* */
void ht_emit_free(void *p, int flags);
void ht_emit_exit(void);

/* ---- mstats.c: the underlying allocator's own figures ------------------- */

/* Finds which allocator is underneath (jemalloc, glibc), for its figures. */
void ht_mstats_find(void);

/* Copies the allocator's figures into the shared memory when the
 * collector asked for them (force 0), or now (force 1, at exit). On the
 * sampled path only, never from a signal handler. */
void ht_mstats_refresh(int force);

/* Takes the collector's request for a trim, if there is one: 1 if this
 * thread is to do it now (ht_mstats_trim), 0 if none is asked for. */
int ht_mstats_trim_due(void);

/* Trims: gives back what the allocator underneath holds free (glibc's
 * malloc_trim(0), jemalloc's purge of every arena, tcmalloc's
 * ReleaseFreeMemory) and the arena's kept pages, and publishes the RSS and
 * the figures before and after, and how long it took. Only at a safe
 * point: on a thread that is neither inside the real allocator nor in a
 * signal handler (the sampled path checks; the helper thread is one). */
void ht_mstats_trim(void);

/* ---- helper.c: the thread that serves the collector on an idle process -- */

/* Starts the helper thread, if it is not running: it waits on the shared
 * memory's trim_kick and trims when asked (a program that makes no
 * allocation would never reach the sampled path). It blocks every signal
 * and allocates nothing. Called through ht_helper_resume from the
 * sampled path, never from a signal handler. Failures are silent and not
 * retried: a trim then waits for a sampled allocation. */
void ht_helper_start(void);

/* In a forked child: the helper did not come along. */
void ht_helper_forget(void);

/* Stops the helper and waits for it to end (the program is about to do
 * what a process with more than one thread may not: unshare or setns);
 * it is started again at the next sampled allocation. */
void ht_helper_stop(void);

/* Whether the helper was never started (nor could not be, nor stepped
 * aside), and the program has threads of its own or HEAPTRACE_TRIM_IDLE
 * is set: a sampled allocation then starts it. */
int ht_helper_wanted(void);

/* Starts the helper if it is not running: first at the first sampled
 * allocation, and after ht_helper_stop at a sampled allocation when a trim
 * is wanted; at a safe point: not in a signal handler, not inside the
 * real allocator. */
void ht_helper_resume(void);

/* ---- stacks.c: stack ids and the per-thread stack cache ----------------- */

/* Makes the table of stack ids anew (a new collector): ids start over.
 * Without memory for it, every stack is sent in full. */
void ht_stacks_init(void);

/* The stack of a sample, taken in the sampled path of this thread: frames
 * (in buf, HT_MAX_DEPTH + 8 entries, or in the stack cache), *nf of them,
 * and *id, its id, 0 if it has none (it is sent in full). cfa: the stack
 * pointer of the program's call into the allocator, 0 if not known (then
 * the stack is walked, not looked up). */
void *const *ht_stacks_get(uintptr_t cfa, void **buf, int *nf, uint32_t *id);

/* A thread's stack cache goes with it. */
void ht_stacks_drop(struct ht_tls *t);

/* The C++ allocation operators the shim defines, by their mangled names:
 * new, new[] (plain, nothrow, aligned, aligned nothrow), then delete and
 * delete[] (plain, sized, nothrow, aligned, sized aligned, aligned
 * nothrow). shim.c finds the next definitions by them, got.c redirects
 * them at attach. */
#define HT_CXX_OPERATORS \
	"_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", \
	"_ZnwmSt11align_val_t", "_ZnamSt11align_val_t", \
	"_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t", \
	"_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", \
	"_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", \
	"_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t", \
	"_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t"

/* dlclose calls so far (the wrapper in shim.c): a stack remembered before
 * one may name code that is gone. */
extern uint32_t ht_unloads;

/* ---- trace.c: the sampled path ------------------------------------------ */

/* Kinds of allocating call, for the slow path. */
enum ht_op { HT_OP_MALLOC, HT_OP_CALLOC, HT_OP_ALIGNED };

/* The slow path of every allocating call, after the caller took n off the
 * countdown: first call of a thread, a sample is due, the thread is busy
 * (a signal handler, the shim's own work) or the shim is not set up yet.
 * Returns what the call returns (NULL with errno ENOMEM on failure). For
 * HT_OP_ALIGNED, align is a valid power of two. room: the bytes a sampled
 * block gets room for, if more than n (ht_grow_room), else 0. cfa: the
 * stack pointer of the program's call into the allocator (its
 * __builtin_dwarf_cfa), for the stack cache, or 0. */
void *ht_trace_alloc(size_t n, size_t align, enum ht_op op, size_t room, uintptr_t cfa);

/* Frees a block inside the arena whose flags (ht_arena_flags) are f,
 * recording it if it was sampled. */
void ht_trace_free(void *p, uint32_t f);

/* realloc of an arena block (sampled or plain) to n bytes that fit in its
 * slot: counted and recorded as a move would be (the free of the old
 * block, an allocation of n bytes, sampled or not), without the copy.
 * Returns p, or NULL if it must move after all (tracing is not on).
 * cfa: as for ht_trace_alloc. */
void *ht_trace_realloc_in_place(void *p, size_t n, uintptr_t cfa);

/* realloc of a large arena block (sampled or plain) that must move: the
 * new block stays in the arena, sampled or plain as the draw says, and the
 * bytes move by their pages (ht_arena_move), not by a copy into the real
 * allocator and back. Counted and recorded as a move. Returns the new
 * block, or NULL if the block is small (under HT_MOVE_COLD_MIN, or under
 * HT_MOVE_MIN and not sampled), tracing is not on or the arena has no
 * room: then it moves as any block does. cfa: as for ht_trace_alloc. */
void *ht_trace_realloc_move(void *p, size_t n, uintptr_t cfa);

/* The room a block of size bytes and flags f that grows to n by moving is
 * given: twice n, so that a buffer grown step by step moves at every few
 * steps, if it grows to under HT_ROOM_SMALL (the room then costs two pages
 * at most, and small buffers, strings and lists, grow often), or if a
 * realloc grew it before (HT_BLK_GROWN) and it grows by at most twice now;
 * else n. A larger block resized at random is given no room it would hold
 * untouched: with room for every growth, a program that resized its
 * blocks at random had, at rate 1, a peak RSS 1.4 times its own. */
#define HT_ROOM_SMALL ((size_t)8 << 10)
static inline size_t ht_grow_room(size_t n, size_t size, uint32_t f)
{
	if (n <= size)
		return n;
	if (n < HT_ROOM_SMALL || ((f & HT_BLK_GROWN) && n / 2 <= size && n <= SIZE_MAX / 2))
		return 2 * n;
	return n;
}

/* Flags for the block a realloc of a block of size bytes and flags f to n
 * bytes makes: HT_BLK_GROWN if it grows, or grew before and stays. */
static inline uint32_t ht_grown(size_t n, size_t size, uint32_t f)
{
	return n > size ? HT_BLK_GROWN : f & HT_BLK_GROWN;
}

/* ---- signals.c: signal handlers, through the shim ----------------------- */

/* Finds the real sigaction, signal() family and longjmp family; called
 * with the allocator's, and again on first use if need be. */
void ht_signals_resolve(void);

/* Counts out of t->busy the handlers whose frames are gone (left by a jump
 * the longjmp wrappers did not see). */
void ht_signals_recheck(struct ht_tls *t);

/* ---- sample.h holds the sampling math (shared with the unit tests). --- */

#endif
