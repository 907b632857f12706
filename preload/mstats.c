/* The underlying allocator's own figures (jemalloc's stats, glibc's
 * mallinfo2) and the arena's, copied into the shared memory when the
 * collector asks, so that a snapshot shows them next to the live heap;
 * and the trim that gives the allocator's free memory back, with the
 * figures and the RSS before and after it. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "internal.h"
#include "unwind.h"

struct glibc_mallinfo2 {
	size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks;
	size_t uordblks, fordblks, keepcost;
};

/* The allocator's functions for its figures; neither if it has none. */
static struct {
	struct glibc_mallinfo2 (*mallinfo2)(void);
	int (*mallctl)(const char *, void *, size_t *, void *, size_t);
	int (*malloc_trim)(size_t);            /* glibc's */
	void (*release_free)(void);            /* tcmalloc's MallocExtension_ReleaseFreeMemory */
} figs;

/* The object the real malloc comes from (0 if unknown), found once. */
static uintptr_t malloc_object;

/* Whether sym lives in the object the real malloc comes from. */
static int beside_malloc(void *sym)
{
	return sym && malloc_object && malloc_object == ht_objects_which(sym);
}

/* Which allocator is underneath: jemalloc if the real malloc lives in the
 * same object as a mallctl, glibc if mallinfo2 exists. */
/* dlsym of a name that is not there leaves an error message that a later
 * dlsym frees: the shim's own, from the arena, never the program's count. */
static void *lookup(const char *name)
{
	void *f, *saved;

	ht_own_enter(&ht_tls);
	saved = ht_dlerr_aside(); /* a forked child's, or an attach's: the program's kept */
	f = dlsym(RTLD_DEFAULT, name);
	ht_dlerr_back(saved);
	ht_own_leave(&ht_tls);
	return f;
}

void ht_mstats_find(void)
{
	void *ctl, *rel;

	malloc_object = ht_objects_which((void *)ht_hot.real.malloc);
	/* glibc's own malloc has neither jemalloc's nor tcmalloc's functions
	 * beside it: not looked for, since a lookup that fails costs tens of
	 * microseconds (the loader formats its error), at every start */
	if (!beside_malloc(lookup("gnu_get_libc_version"))) {
		ctl = lookup("mallctl");
		rel = lookup("MallocExtension_ReleaseFreeMemory");
		if (beside_malloc(rel))
			figs.release_free = (void (*)(void))rel;
		if (beside_malloc(ctl)) {
			figs.mallctl = (int (*)(const char *, void *, size_t *, void *,
						size_t))ctl;
			ht_core.shm->allocator = HT_ALLOCATOR_JEMALLOC;
			return;
		}
	}
	/* glibc's figures only if glibc's malloc is the one underneath
	 * (not under tcmalloc, say, where they would describe an idle heap) */
	ctl = lookup("mallinfo2");
	if (beside_malloc(ctl)) {
		figs.mallinfo2 = (struct glibc_mallinfo2 (*)(void))ctl;
		ht_core.shm->allocator = HT_ALLOCATOR_GLIBC;
		ctl = lookup("malloc_trim");
		if (beside_malloc(ctl))
			figs.malloc_trim = (int (*)(size_t))ctl;
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
 * ht_tls.busy, but one set by the system call directly is not: unless no
 * signal is blocked, this walks the whole stack, so only for rare work; a
 * stack it cannot walk to the end counts as yes. (Missed: a handler set by
 * the system call, with SA_NODEFER and an empty mask, that calls exit.) */
static int in_signal_handler(void)
{
	unw_context_t uc;
	unw_cursor_t c;
	sigset_t mask;
	int i, r;

	if (ht_tls.busy >= HT_IN_HANDLER)
		return 1; /* a handler set through the shim runs */
	/* any other runs with its signal blocked (but with SA_NODEFER and
	 * an empty sa_mask): nothing blocked, no walk, which costs more
	 * than the rest of a short program's end */
	if (pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 && sigisemptyset(&mask))
		return 0;
	if (!ht_unw_loaded())
		return 1; /* not loaded: not loaded here, where a handler may run */
	/* what libunwind allocates is the shim's own (see walk in stacks.c) */
	ht_own_enter(&ht_tls);
	r = ht_unw.getcontext(&uc) != 0 || ht_unw.init_local(&c, &uc) != 0 ? -1 : 1;
	for (i = 0; r > 0 && i < 4096; i++) {
		if (ht_unw.is_signal_frame(&c) > 0)
			r = -1;
		else
			r = ht_unw.step(&c);
	}
	ht_own_leave(&ht_tls);
	return r != 0;
}

/* Reads the allocator's figures and the arena's into v (zeros where
 * there are none), marked busy: a signal handler that interrupts this
 * must not call into the allocator. */
static void read_figures(uint64_t v[8])
{
	struct ht_tls *t = &ht_tls;

	memset(v, 0, 8 * sizeof(v[0]));
	t->busy++;
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
	} else if (figs.mallinfo2) {
		struct glibc_mallinfo2 mi = figs.mallinfo2();

		v[HT_GLIBC_ARENA] = mi.arena;
		v[HT_GLIBC_IN_USE] = mi.uordblks + mi.hblkhd;
		v[HT_GLIBC_FREE] = mi.fordblks;
		v[HT_GLIBC_MMAP] = mi.hblkhd;
		v[HT_GLIBC_TOP_PAD] = mi.keepcost;
	}
	ht_busy_leave(t);
	v[HT_ARENA_LIVE] = __atomic_load_n(&ht_arena_live, __ATOMIC_RELAXED);
	v[HT_ARENA_COMMITTED] = __atomic_load_n(&ht_arena_committed, __ATOMIC_RELAXED);
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Publishes figures v, read at time ns, for the collector (a seqlock). */
static void publish_figures(const uint64_t v[8], int64_t ns)
{
	struct ht_shm *shm = ht_core.shm;

	__atomic_fetch_add(&shm->stats_seq, 1, __ATOMIC_ACQ_REL);
	memcpy(shm->stats, v, 8 * sizeof(v[0]));
	shm->stats_time_ns = ns;
	__atomic_fetch_add(&shm->stats_seq, 1, __ATOMIC_ACQ_REL);
}

/* The process's resident bytes, from /proc/self/statm (no stdio, which
 * may allocate); 0 if unreadable. */
static uint64_t rss_now(void)
{
	char buf[128], *p;
	uint64_t res = 0;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strchr(buf, ' '); /* "size resident ..." in pages */
	if (!p)
		return 0;
	for (p++; *p >= '0' && *p <= '9'; p++)
		res = res * 10 + (uint64_t)(*p - '0');
	return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Gives back what the allocator underneath and the arena hold free;
 * returns what it did (HT_TRIM_*). */
static uint32_t trim_all(void)
{
	struct ht_tls *t = &ht_tls;
	uint32_t what = 0;

	t->busy++;
	if (figs.mallctl) {
		/* every arena: MALLCTL_ARENAS_ALL is 4096 in jemalloc 5 */
		if (figs.mallctl("arena.4096.purge", NULL, NULL, NULL, 0) == 0)
			what |= HT_TRIM_JEMALLOC;
	} else if (figs.malloc_trim) {
		figs.malloc_trim(0);
		what |= HT_TRIM_GLIBC;
	} else if (figs.release_free) {
		figs.release_free();
		what |= HT_TRIM_TCMALLOC;
	}
	ht_busy_leave(t);
	ht_arena_trim();
	return what | HT_TRIM_ARENA;
}

int ht_mstats_trim_due(void)
{
	struct ht_shm *shm = ht_core.shm;

	return shm && __atomic_load_n(&shm->trim_wanted, __ATOMIC_RELAXED) &&
	       __atomic_exchange_n(&shm->trim_wanted, 0, __ATOMIC_ACQ_REL);
}

void ht_mstats_trim(void)
{
	struct ht_shm *shm = ht_core.shm;
	uint64_t before[8], after[8], rss0, rss1;
	int64_t t0, t1;
	uint32_t what;

	read_figures(before);
	rss0 = rss_now();
	t0 = wall_ns();
	what = trim_all();
	t1 = wall_ns();
	read_figures(after);
	rss1 = rss_now();
	if (shm->allocator)
		publish_figures(after, t1);
	__atomic_fetch_add(&shm->trim_seq, 1, __ATOMIC_ACQ_REL);
	shm->trim_what = what;
	shm->trim_time_ns = t0;
	shm->trim_took_ns = t1 - t0;
	shm->trim_rss_before = rss0;
	shm->trim_rss_after = rss1;
	memcpy(shm->trim_stats_before, before, sizeof(before));
	memcpy(shm->trim_stats_after, after, sizeof(after));
	__atomic_fetch_add(&shm->trim_seq, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&shm->trim_count, 1, __ATOMIC_RELEASE);
}

/* Copies the allocator's own figures into the shared memory: when the
 * collector asks for them, before a snapshot (force 0: one thread of those
 * that find the request does it), or at exit (force 1). They cost locks
 * and a walk of every free chunk inside the allocator (and the caches it
 * empties), so they are read only when asked for. On the sampled path
 * only, never from a signal handler (it may have interrupted the
 * allocator). A trim asked for is done here too, on the same terms. */
static __attribute__((noinline)) void refresh(int force)
{
	uint64_t v[8];
	int stats;

	if (!force && __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) == HT_TR_ON &&
	    !ht_tls.busy) {
		int trim = __atomic_load_n(&ht_core.shm->trim_wanted, __ATOMIC_RELAXED) != 0;

		/* the helper starts with the first sample, not with the
		 * program: a short one that samples nothing has no extra
		 * thread (and an exec costs no thread's start); the walk
		 * that tells a signal handler is made only then, or for a
		 * trim, not at every sample */
		if ((trim || (!ht_core.shm->untraced[0] && ht_helper_wanted())) &&
		    !in_signal_handler()) {
			if (!ht_core.shm->untraced[0])
				ht_helper_resume();
			if (trim && ht_mstats_trim_due())
				ht_mstats_trim();
		}
	}
	if (!ht_core.shm->allocator)
		return;
	stats = force || (__atomic_load_n(&ht_core.shm->stats_wanted, __ATOMIC_RELAXED) &&
			  __atomic_exchange_n(&ht_core.shm->stats_wanted, 0, __ATOMIC_ACQ_REL));
	if (!stats)
		return;
	if (in_signal_handler()) {
		/* later, from a thread that is not in one */
		if (!force)
			__atomic_store_n(&ht_core.shm->stats_wanted, 1, __ATOMIC_RELEASE);
		return;
	}
	read_figures(v);
	publish_figures(v, wall_ns());
}

void ht_mstats_refresh(int force)
{
	/* at nearly every sample: nothing asked, the helper settled (out of
	 * line, the rest would save registers here) */
	if (!force && !__atomic_load_n(&ht_core.shm->trim_wanted, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&ht_core.shm->stats_wanted, __ATOMIC_RELAXED) && !ht_helper_wanted())
		return;
	refresh(force);
}
