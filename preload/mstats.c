/* The underlying allocator's own figures (jemalloc's stats, glibc's
 * mallinfo2) and the arena's, copied into the shared memory when the
 * collector asks, so that a snapshot shows them next to the live heap. */
#include <dlfcn.h>
#include <string.h>
#include <time.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "internal.h"

struct glibc_mallinfo2 {
	size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks;
	size_t uordblks, fordblks, keepcost;
};

/* The allocator's functions for its figures; neither if it has none. */
static struct {
	struct glibc_mallinfo2 (*mallinfo2)(void);
	int (*mallctl)(const char *, void *, size_t *, void *, size_t);
} figs;

/* Which allocator is underneath: jemalloc if the real malloc lives in the
 * same object as a mallctl, glibc if mallinfo2 exists. */
void ht_mstats_find(void)
{
	Dl_info a, b;
	void *ctl = dlsym(RTLD_DEFAULT, "mallctl");

	if (ctl && dladdr((void *)ht_hot.real.malloc, &a) && dladdr(ctl, &b) &&
	    a.dli_fbase == b.dli_fbase) {
		figs.mallctl = (int (*)(const char *, void *, size_t *, void *, size_t))ctl;
		ht_core.shm->allocator = HT_ALLOCATOR_JEMALLOC;
		return;
	}
	/* glibc's figures only if glibc's malloc is the one underneath
	 * (not under tcmalloc, say, where they would describe an idle heap) */
	ctl = dlsym(RTLD_DEFAULT, "mallinfo2");
	if (ctl && dladdr((void *)ht_hot.real.malloc, &a) && dladdr(ctl, &b) &&
	    a.dli_fbase == b.dli_fbase) {
		figs.mallinfo2 = (struct glibc_mallinfo2 (*)(void))ctl;
		ht_core.shm->allocator = HT_ALLOCATOR_GLIBC;
	}
}

static uint64_t jemalloc_stat(const char *name)
{
	size_t v = 0, len = sizeof(v);

	return figs.mallctl(name, &v, &len, NULL, 0) == 0 ? v : 0;
}

/* Is this call made by a signal handler (is there a signal frame on the
 * stack)? The program's own calls into the allocator are not marked (that
 * would cost every call), so a handler may have interrupted one, holding
 * the allocator's locks. Handlers set through the shim are counted in
 * ht_tls.busy, but one set by the system call directly is not: this walks
 * the whole stack, so only for rare work; a stack it cannot walk to the
 * end counts as yes. */
static int in_signal_handler(void)
{
	unw_context_t uc;
	unw_cursor_t c;
	int i;

	if (unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
		return 1;
	for (i = 0; i < 4096; i++) {
		int r;

		if (unw_is_signal_frame(&c) > 0)
			return 1;
		r = unw_step(&c);
		if (r == 0)
			return 0;
		if (r < 0)
			return 1;
	}
	return 1;
}

/* Copies the allocator's own figures into the shared memory: when the
 * collector asks for them, before a snapshot (force 0: one thread of those
 * that find the request does it), or at exit (force 1). They cost locks
 * and a walk of every free chunk inside the allocator (and the caches it
 * empties), so they are read only when asked for. On the sampled path only, never from a signal handler
 * (it may have interrupted the allocator); the thread counts as busy
 * meanwhile, since a signal handler that interrupts this must not call
 * into the allocator. */
void ht_mstats_refresh(int force)
{
	struct timespec ts;
	uint64_t v[8] = { 0 };

	if (!ht_core.shm->allocator)
		return;
	if (!force && (!__atomic_load_n(&ht_core.shm->stats_wanted, __ATOMIC_RELAXED) ||
		       !__atomic_exchange_n(&ht_core.shm->stats_wanted, 0, __ATOMIC_ACQ_REL)))
		return;
	if (in_signal_handler()) {
		/* later, from a thread that is not in one */
		if (!force)
			__atomic_store_n(&ht_core.shm->stats_wanted, 1, __ATOMIC_RELEASE);
		return;
	}
	ht_tls.busy++;
	if (figs.mallctl) {
		uint64_t epoch = 1;
		size_t len = sizeof(epoch);

		figs.mallctl("epoch", &epoch, &len, &epoch, len);
		v[HT_JEMALLOC_ALLOCATED] = jemalloc_stat("stats.allocated");
		v[HT_JEMALLOC_ACTIVE] = jemalloc_stat("stats.active");
		v[HT_JEMALLOC_RESIDENT] = jemalloc_stat("stats.resident");
		v[HT_JEMALLOC_RETAINED] = jemalloc_stat("stats.retained");
		v[HT_JEMALLOC_MAPPED] = jemalloc_stat("stats.mapped");
		v[HT_JEMALLOC_METADATA] = jemalloc_stat("stats.metadata");
	} else {
		struct glibc_mallinfo2 mi = figs.mallinfo2();

		v[HT_GLIBC_ARENA] = mi.arena;
		v[HT_GLIBC_IN_USE] = mi.uordblks + mi.hblkhd;
		v[HT_GLIBC_FREE] = mi.fordblks;
		v[HT_GLIBC_MMAP] = mi.hblkhd;
		v[HT_GLIBC_TOP_PAD] = mi.keepcost;
	}
	ht_busy_leave(&ht_tls);
	v[HT_ARENA_LIVE] = __atomic_load_n(&ht_arena_live, __ATOMIC_RELAXED);
	v[HT_ARENA_COMMITTED] = __atomic_load_n(&ht_arena_committed, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME, &ts);
	__atomic_fetch_add(&ht_core.shm->stats_seq, 1, __ATOMIC_ACQ_REL);
	memcpy(ht_core.shm->stats, v, sizeof(v));
	ht_core.shm->stats_time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	__atomic_fetch_add(&ht_core.shm->stats_seq, 1, __ATOMIC_ACQ_REL);
}
