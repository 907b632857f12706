/* Clearing a reused slot for calloc (ht_arena_clear): by itself below
 * 64 KiB, and from there on only on the pages the kernel's page map says
 * are in memory or in swap. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arena_int.h"

/* A page the program never wrote is not in memory and reads as zeros;
 * clearing it would fault it in (a block of 600 KiB the program touches
 * at its ends has 150 such pages), and sampling is by bytes, so big
 * blocks are many of the sampled ones (half of an allocation stress's
 * sampled bytes, whose process grew 15 MB more traced than untraced when
 * every reused slot was cleared whole, 0.5 MB now). So from PROBE_MIN on,
 * the kernel's page map says which of the slot's pages are in memory or
 * in swap, and only those are cleared: opening /proc/self/pagemap,
 * reading 8 bytes a page and closing it cost 2 to 3 us for 256 pages (the
 * first access to /proc in a process 10 us more), less than clearing 64
 * KiB of cold memory at 12 GB/s (5 us). Neither touches another thread's
 * view of memory (madvise(MADV_DONTNEED) would give zeros too, but its
 * shootdown of other cores' TLBs cost 17 us with a second thread
 * running). Where the page map cannot be read (no /proc, a sandbox),
 * every byte is cleared, and it is not asked again. Where it finds most
 * pages written, it costs more than it saves (a loop of calloc of 64 to
 * 88 KiB, each written whole and freed, ran 46% slower at rate 1): once
 * three quarters of the pages recent probes found were written, the next
 * PROBE_REST clears are whole, and it is asked again after them. One
 * probe alone does not decide: a block realloc moved into the arena was
 * copied whole, and an allocation stress whose reused slots held such
 * blocks among barely touched ones grew 13 MB again when a single probe
 * that found most pages written stopped the asking. pagemap_path,
 * pagemap_off, probe_rest and probe_full are seams for tests. */
#ifndef HT_CLEAR_OPENED /* a test's seam: with the page map open */
#define HT_CLEAR_OPENED() ((void)0)
#endif
#define PROBE_MIN ((size_t)64 << 10)
#define PROBE_BATCH 256 /* entries read at a time: 2 KiB of stack */
#define PROBE_REST 15
static const char *pagemap_path = "/proc/self/pagemap";
static int pagemap_off;
static int probe_rest; /* clears left before the page map is asked again */
/* the share of pages recent probes found written, in 1/1024: a moving
 * average, each probe an eighth of it */
static int probe_full;

/* The page map descriptors open now, each as its number + 1 (0: none), so
 * that a child forked meanwhile by another thread closes its copies (see
 * ht_arena_clear_forked), but not those of its own thread (a bit each in
 * ht_tls.clear_fds): in a child forked by a signal handler that interrupted a
 * clear, that clear goes on once the handler returns, and closes its own.
 * A fork in the few instructions between the open and the note of it
 * still leaves the child one; more than OPEN_FDS threads clearing at once
 * go unnoted. The bits change by one instruction each, whole to a signal
 * handler of the thread's that clears too. */
#define OPEN_FDS 8
static int open_fds[OPEN_FDS];
_Static_assert(OPEN_FDS <= 32, "a bit each in ht_tls.clear_fds");

/* Notes fd as open; returns where, or -1 if every place is taken. */
static int note_open(int fd)
{
	for (int i = 0; i < OPEN_FDS; i++) {
		int none = 0;

		if (__atomic_compare_exchange_n(&open_fds[i], &none, fd + 1, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			__atomic_fetch_or(&ht_tls.clear_fds, 1u << i, __ATOMIC_RELAXED);
			return i;
		}
	}
	return -1;
}

static void close_noted(int fd, int i)
{
	if (i >= 0) {
		__atomic_store_n(&open_fds[i], 0, __ATOMIC_RELEASE);
		__atomic_fetch_and(&ht_tls.clear_fds, ~(1u << i), __ATOMIC_RELAXED);
	}
	syscall(SYS_close, fd);
}

/* Whether a page, by its page map entry, may hold bytes other than zeros:
 * present (bit 63) or swapped (bit 62). */
static inline int page_written(uint64_t e)
{
	return (int)(e >> 62 & 3) != 0;
}

/* Clears the bytes of [lo, end) on pages that the page map fd says may
 * hold some; lo is a page's start. Returns how many pages it cleared, or
 * -1 with the rest not cleared (a short read). */
static long clear_written(int fd, uintptr_t lo, uintptr_t end)
{
	uint64_t e[PROBE_BATCH];
	size_t pg = ht_arena_page;
	long written = 0;

	while (lo < end) {
		size_t k = (end - lo + pg - 1) / pg, i = 0, j;

		if (k > PROBE_BATCH)
			k = PROBE_BATCH;
		if (syscall(SYS_pread64, fd, e, k * sizeof(e[0]), (off_t)(lo / pg * sizeof(e[0]))) !=
		    (long)(k * sizeof(e[0])))
			return -1;
		while (i < k) {
			for (; i < k && !page_written(e[i]); i++)
				;
			for (j = i; j < k && page_written(e[j]); j++)
				;
			if (j > i) {
				uintptr_t to = lo + j * pg < end ? lo + j * pg : end;

				memset((void *)(lo + i * pg), 0, to - (lo + i * pg));
				written += (long)(j - i);
			}
			i = j;
		}
		lo += k * pg;
	}
	return written;
}

/* Whether this clear of n bytes asks the page map: from PROBE_MIN on,
 * where it can be read, and not during a rest (which it counts down). */
static int asking(size_t n)
{
	int rest;

	if (n < PROBE_MIN || __atomic_load_n(&pagemap_off, __ATOMIC_RELAXED))
		return 0;
	rest = __atomic_load_n(&probe_rest, __ATOMIC_RELAXED);
	if (rest > 0) {
		__atomic_store_n(&probe_rest, rest - 1, __ATOMIC_RELAXED);
		return 0;
	}
	return 1;
}

/* Takes an ask that found written pages of pages into the moving average;
 * a rest begins once it reaches three quarters. */
static void learn(long written, long pages)
{
	int full = __atomic_load_n(&probe_full, __ATOMIC_RELAXED);

	full += (int)((written * 1024 / pages - full) / 8);
	__atomic_store_n(&probe_full, full, __ATOMIC_RELAXED);
	if (full >= 768)
		__atomic_store_n(&probe_rest, PROBE_REST, __ATOMIC_RELAXED);
}

void ht_arena_clear(uintptr_t p, size_t n)
{
	uintptr_t lo = (p + ht_arena_page - 1) & ~(uintptr_t)(ht_arena_page - 1);
	long written = -1;
	int err = errno, fd;

	if (!asking(n)) {
		memset((void *)p, 0, n);
		return;
	}
	memset((void *)p, 0, lo - p); /* the header's page: in memory */
	/* system calls of its own: nothing another library wraps runs here */
	fd = (int)syscall(SYS_openat, AT_FDCWD, pagemap_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		int at = note_open(fd);

		HT_CLEAR_OPENED();
		written = clear_written(fd, lo, p + n);
		close_noted(fd, at);
	}
	if (written >= 0) {
		learn(written, (long)((p + n - lo + ht_arena_page - 1) / ht_arena_page));
	} else {
		/* unreadable here for good, unless it was short of a resource */
		if (fd >= 0 || (errno != EMFILE && errno != ENFILE && errno != EINTR && errno != ENOMEM))
			__atomic_store_n(&pagemap_off, 1, __ATOMIC_RELAXED);
		memset((void *)lo, 0, p + n - lo);
	}
	errno = err;
}

void ht_arena_clear_forked(void)
{
	int err = errno;

	for (int i = 0; i < OPEN_FDS; i++) {
		int v;

		if (ht_tls.clear_fds & 1u << i)
			continue; /* this thread's: closed where it was opened */
		v = __atomic_exchange_n(&open_fds[i], 0, __ATOMIC_ACQ_REL);
		if (v)
			syscall(SYS_close, v - 1);
	}
	errno = err;
}
