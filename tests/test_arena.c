/* Unit test of the sample arena (preload/arena.c, arena_move.c and arena_clear.c, included whole): the
 * size class computed for a request is the smallest that holds it, and
 * freed slots are reused, small ones and large ones (whose pages are kept
 * up to a limit, or given back), and realloc's moves inside the arena
 * keep the bytes, moving large blocks by their pages; a trim gives the
 * kept pages back; a calloc's clearing reads the page map, and a child
 * forked meanwhile keeps none of its descriptor. */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* called by ht_arena_clear with the page map open (see calloc_fork) */
static void page_map_open(void);
#define HT_CLEAR_OPENED() page_map_open()

#include "../preload/arena.c"
#include "../preload/arena_move.c"
#include "../preload/arena_clear.c"
#include "tap.h"
#include "xorshift.h"

struct ht_hot ht_hot;
__thread struct ht_tls ht_tls;

/* a process the shim stays out of, or not */
static int untraced;
int ht_startup_untraced(void)
{
	return untraced;
}

/* The first blocks, from threads that race to reserve the arena. */
#define RACERS 8
static void *racer(void *arg)
{
	void *p = ht_arena_alloc(100, 0, 0, 0);

	*(uintptr_t *)arg = ht_hot.arena_lo;
	if (p)
		ht_arena_free(p);
	return p;
}

static void reserved_at_first_use(void)
{
	pthread_t t[RACERS];
	uintptr_t lo[RACERS];
	int got = 0, same = 0, i;

	ok(ht_hot.arena_span == 0 && nclasses == 0, "nothing is reserved before the first block");
	ok(ht_arena_trim() == 0, "a trim then gives nothing back");
	untraced = 1;
	ok(ht_arena_alloc(100, 0, 0, 0) == NULL && ht_hot.arena_span == 0,
	   "a process the shim stays out of reserves none");
	untraced = 0;
	/* as a forked child finds it when its parent was reserving: the
	 * parent's process id (1 is never this test's) */
	reserving = 1;
	for (i = 0; i < RACERS; i++)
		if (pthread_create(&t[i], NULL, racer, &lo[i]) != 0)
			break;
	while (i-- > 0) {
		void *p;

		pthread_join(t[i], &p);
		got += p != NULL;
		same += lo[i] == ht_hot.arena_lo;
	}
	is_int(got, RACERS, "threads racing to reserve it each get their first block");
	is_int(same, RACERS, "all in the one range reserved");
	ok(reserving == RESERVED && ht_hot.arena_span != 0,
	   "a reservation its owner left unfinished (in a forked child) is made again");
	ok(ht_arena_reserve() == ht_hot.arena_span, "and it is made once");
	/* forked between the range's span and the word that says it is done */
	lo[0] = ht_hot.arena_lo;
	reserving = 1;
	ok(ht_arena_reserve() == ht_hot.arena_span && ht_hot.arena_lo == lo[0] &&
	   reserving == RESERVED, "a range whole but not yet said so is kept, not made again");
}

/* The smallest class whose slots hold need bytes, by looking. */
static int class_by_search(size_t need)
{
	int c;

	for (c = 0; c < nclasses; c++)
		if (ht_arena_classes[c].slot_size >= need)
			return c;
	return -1;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static int zeros(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Pages of [p, p + n) in memory. */
static size_t resident(const void *p, size_t n)
{
	uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(ht_arena_page - 1);
	size_t pages = ((uintptr_t)p + n - lo + ht_arena_page - 1) / ht_arena_page, in = 0;
	unsigned char vec[1024];

	if (pages > sizeof(vec) || mincore((void *)lo, pages * ht_arena_page, vec) != 0)
		return (size_t)-1;
	for (size_t i = 0; i < pages; i++)
		in += vec[i] & 1;
	return in;
}

/* A large slot whose pages were given back is asked for zeros: they are
 * zeros without touching its pages past the header's (calloc of a large
 * block the program never writes faults nothing in). One whose pages
 * could not be given back (locked) is cleared whole. */
static void calloc_clean(void)
{
	size_t n = 200000; /* no slot kept by the tests above is near its class */
	unsigned char *p, *q;
	uint64_t kept = retained;

	retained = RETAIN_TOP; /* no room to keep it: its pages go back */
	p = ht_arena_alloc(n, 0, HT_BLK_SAMPLED, 0);
	ok(p != NULL, "calloc: a block of %zu bytes", n);
	if (!p)
		return;
	memset(p, 0xab, n);
	ht_arena_free(p);
	q = ht_arena_alloc(n, 0, HT_BLK_SAMPLED, 1);
	ok(q == p && resident(q, n) == 1,
	   "calloc: a slot given back is reused, with only its first page in memory (%zu)",
	   resident(q, n));
	ok(zeros(q, n), "calloc: and it reads as zeros");
	memset(q, 0xcd, n);
	/* the system call itself: the sanitizers make mlock() a no-op */
	ok(syscall(SYS_mlock, q, n) == 0, "calloc: its pages locked");
	ht_arena_free(q);
	is_int(resident(q, n), (n + (uintptr_t)q % ht_arena_page + ht_arena_page - 1) / ht_arena_page,
	       "calloc: a freed slot's locked pages stay");
	p = ht_arena_alloc(n, 0, HT_BLK_SAMPLED, 1);
	ok(p == q && zeros(p, n), "calloc: reused, the slot reads as zeros");
	syscall(SYS_munlock, p, n);
	ht_arena_free(p);
	retained = kept;
}

/* How the block before a calloc wrote its slot. */
enum { W_NONE, W_FIRST, W_LAST, W_THIRDS, W_ALL, W_ENDS };

/* One calloc of n bytes (aligned to align) in a kept slot whose pages
 * went back before the block that last held it wrote them as pat says.
 * The pages of the block in memory before the calloc and after it, in
 * *before and *after; returns 1 if the calloc reused the slot, 0 if not,
 * -1 if either allocation failed; *bad set if it did not read as zeros. */
static int calloc_again(size_t n, size_t align, int pat, size_t *before, size_t *after, int *bad)
{
	size_t pages = (n + ht_arena_page - 1) / ht_arena_page;
	unsigned char *p, *q;

	ht_arena_trim();
	retained = 0; /* room to keep it */
	p = ht_arena_alloc(n, align, HT_BLK_SAMPLED, 0);
	if (!p)
		return -1;
	for (size_t i = 0; i < pages; i++)
		if (pat == W_ALL || (pat == W_THIRDS && i % 3 == 0))
			memset(p + i * ht_arena_page, 0xab,
			       i + 1 < pages ? ht_arena_page : n - i * ht_arena_page);
	if (pat == W_FIRST || pat == W_ENDS)
		p[0] = 0xab;
	if (pat == W_LAST || pat == W_ENDS)
		p[n - 1] = 0xab;
	*before = resident(p, n);
	ht_arena_free(p);
	q = ht_arena_alloc(n, align, HT_BLK_SAMPLED, 1);
	if (!q)
		return -1;
	*after = resident(q, n);
	if (!zeros(q, n))
		*bad = 1;
	ht_arena_free(q);
	return q == p;
}

/* A kept slot asked for zeros is cleared where its pages are in memory
 * (or in swap), and only there: calloc of a large block the program
 * barely touches, in a slot the last one barely touched, faults nothing
 * in (it cleared every page: an allocation stress grew 15 MB for it).
 * Every size about the threshold, alignment and pattern of pages written:
 * zeros, and no page more in memory than before. */
static void calloc_kept(void)
{
	static const size_t sizes[] = { PROBE_MIN - 1, PROBE_MIN, PROBE_MIN + 1, 100000,
					250017, 1000000 };
	static const size_t aligns[] = { 0, 64, 4096 };
	const char *path = pagemap_path;
	uint64_t kept = retained;

	ok(!page_written(0) && page_written((uint64_t)1 << 63) && page_written((uint64_t)1 << 62) &&
	   !page_written((uint64_t)1 << 55 | 12345),
	   "a page in memory or in swap may hold bytes; one in neither reads as zeros");
	for (int probe = 1; probe >= 0; probe--) {
		size_t bad_zero = 0, bad_pages = 0, reused = 0, cases = 0, more = 0;

		pagemap_path = probe ? path : "/nonexistent/pagemap";
		__atomic_store_n(&pagemap_off, 0, __ATOMIC_RELAXED);
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			for (size_t a = 0; a < sizeof(aligns) / sizeof(aligns[0]); a++)
				for (int pat = W_NONE; pat <= W_ALL; pat++) {
					size_t n = sizes[s], before, after;
					int bad = 0, got;

					/* the page map asked (see calloc_futile) */
					__atomic_store_n(&probe_rest, 0, __ATOMIC_RELAXED);
					__atomic_store_n(&probe_full, 0, __ATOMIC_RELAXED);
					got = calloc_again(n, aligns[a], pat, &before, &after, &bad);
					if (got < 0) {
						bad_zero++;
						continue;
					}
					cases++;
					reused += (size_t)got;
					bad_zero += (size_t)bad;
					bad_pages += got && n >= PROBE_MIN && after > before;
					more += got && probe && n >= PROBE_MIN && pat < W_THIRDS &&
						after + 8 < (n + ht_arena_page - 1) / ht_arena_page;
				}
		ok(cases == 6 * 3 * 5 && bad_zero == 0,
		   "calloc in a kept slot, %s: zeros (%zu cases, %zu not)",
		   probe ? "pages asked of /proc" : "without /proc", cases, bad_zero);
		ok(reused == cases, "calloc: each kept slot is reused (%zu of %zu)", reused, cases);
		if (probe)
			ok(bad_pages == 0 && more == 5 * 3 * 3,
			   "calloc of %zu bytes or more: no page is brought into memory, and a "
			   "block written at most at one end keeps its pages out (%zu more, %zu "
			   "kept out)",
			   (size_t)PROBE_MIN, bad_pages, more);
		else
			ok(__atomic_load_n(&pagemap_off, __ATOMIC_RELAXED) == 1,
			   "calloc: without /proc, slots are cleared whole, and it is not asked again");
	}
	pagemap_path = path;
	__atomic_store_n(&pagemap_off, 0, __ATOMIC_RELAXED);
	retained = kept;
}

/* Asking the page map costs more than it saves where the program writes
 * its blocks whole (a loop of calloc of 64 to 88 KiB, each written and
 * freed, at rate 1: 46% slower than clearing each whole). Once most of
 * the pages recent probes found were written, the next PROBE_REST clears
 * are whole; then the page map is asked again. A block written whole now
 * and then (a realloc's copy) does not stop the asking. */
static void calloc_futile(void)
{
	size_t n = 300000, pages = (n + ht_arena_page - 1) / ht_arena_page, before, after;
	int bad = 0, stopped = 0, reused = 1, i, k;
	long more = 0, kept_out = 0;
	uint64_t kept = retained;

	__atomic_store_n(&probe_rest, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&probe_full, 0, __ATOMIC_RELAXED);
	for (i = 0; i < 40; i++) {
		reused &= calloc_again(n, 0, i % 4 == 3 ? W_ALL : W_ENDS, &before, &after, &bad) == 1;
		more += after > before;
		stopped |= probe_rest != 0;
	}
	ok(!bad && reused && !stopped && more == 0,
	   "futile: one slot in four written whole: the page map is still asked, and the "
	   "others bring no page in (%ld)", more);
	for (k = 1; k <= 32 && !probe_rest; k++)
		reused &= calloc_again(n, 0, W_ALL, &before, &after, &bad) == 1;
	ok(!bad && reused && probe_rest == PROBE_REST && k > 2 && k <= 17,
	   "futile: slot after slot written whole: after %d the next %d clears ask nothing",
	   k - 1, probe_rest);
	for (i = 0, more = 0; i <= PROBE_REST; i++) {
		reused &= calloc_again(n, 0, W_ENDS, &before, &after, &bad) == 1;
		if (i < PROBE_REST)
			more += after > before + pages / 2;
		else
			kept_out = after == before;
	}
	ok(!bad && reused && more == PROBE_REST && kept_out,
	   "futile: those %d are cleared whole (%ld), the next asks the page map again (%ld)",
	   PROBE_REST, more, kept_out);
	retained = kept;
}

/* Descriptors of this process open on a page map. */
static int page_maps_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], to[256];
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, to, sizeof(to) - 1);
		if (k > 0) {
			to[k] = 0;
			n += strstr(to, "/pagemap") != NULL;
		}
	}
	closedir(d);
	return n;
}

/* Forks at the next page map opened (see page_map_open): 1 from another
 * thread, 2 from the clearing thread itself, as a signal handler that
 * interrupted the clear would. */
static int fork_mode;
static int fork_status = -1; /* the child's exit status */
static int maps_at_fork = -2, in_child, kept_in_child = -2;

static void *fork_apart(void *arg)
{
	pid_t pid = fork();

	(void)arg;
	if (pid == 0) {
		ht_arena_clear_forked();
		_exit(page_maps_open() == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &fork_status, 0) != pid)
		fork_status = -1;
	return NULL;
}

/* The program forks while a thread clears a slot with the page map open.
 * Forked by another thread, the child has a copy of the descriptor and
 * not the thread that would close it: its fork handler closes it. Forked
 * by a signal handler of the clearing thread's, the child goes on with
 * the clear once the handler returns, which closes its own. */
static void page_map_open(void)
{
	int mode = fork_mode;
	pthread_t th;
	pid_t pid;

	fork_mode = 0;
	if (!mode)
		return;
	maps_at_fork = page_maps_open();
	if (mode == 1) {
		if (pthread_create(&th, NULL, fork_apart, NULL) == 0)
			pthread_join(th, NULL);
		return;
	}
	pid = fork();
	if (pid == 0) {
		ht_arena_clear_forked();
		in_child = 1;
		kept_in_child = page_maps_open();
		return; /* on with the clear, in the child */
	}
	if (pid < 0 || waitpid(pid, &fork_status, 0) != pid)
		fork_status = -1;
}

static void calloc_fork(void)
{
	static const char *const by[] = { "", "another thread", "the clearing thread" };
	size_t n = 3 * PROBE_MIN, before, after;
	uint64_t kept = retained;

	for (int mode = 1; mode <= 2; mode++) {
		int bad = 0, got;

		__atomic_store_n(&probe_rest, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&probe_full, 0, __ATOMIC_RELAXED);
		fork_mode = mode;
		fork_status = -1;
		got = calloc_again(n, 0, W_ENDS, &before, &after, &bad);
		if (in_child) /* forked by the clearing thread: the clear is done */
			_exit(kept_in_child == 1 && page_maps_open() == 0 && got == 1 && !bad &&
			      after <= before ? 0 : 1);
		ok(got == 1 && !bad && maps_at_fork == 1,
		   "fork by %s while a slot is cleared: the page map was open then (%d), and the "
		   "calloc reads as zeros", by[mode], maps_at_fork);
		ok(fork_status == 0,
		   mode == 1 ? "fork by another thread while a slot is cleared: the child closes "
			       "its copy of the page map"
			     : "fork by the clearing thread (a signal handler): the child keeps the "
			       "page map until its clear is done, then closes it");
		ok(page_maps_open() == 0, "fork by %s: the parent closes its own", by[mode]);
	}
	{
		int bad = 0, got = calloc_again(n, 0, W_ENDS, &before, &after, &bad);

		ok(got == 1 && !bad && after <= before && page_maps_open() == 0,
		   "after the forks, a clear asks the page map as before, and closes it");
	}
	retained = kept;
}

/* Allocates n blocks of size bytes, frees them all, allocates n again:
 * the second round must reuse exactly the first round's slots, without
 * making more of the arena read-write. */
static void reuse(size_t size, int n, const char *what)
{
	uintptr_t *first = calloc((size_t)n, sizeof(*first));
	uintptr_t *again = calloc((size_t)n, sizeof(*again));
	uint64_t committed;
	int i, apart = 1, same = 1, zero = 1, got = 1;

	for (i = 0; i < n; i++) {
		first[i] = (uintptr_t)ht_arena_alloc(size, 0, HT_BLK_SAMPLED, 0);
		if (!first[i]) {
			got = 0;
			break;
		}
		memset((void *)first[i], 0xab, size);
	}
	ok(got, "%s: %d blocks of %zu bytes", what, n, size);
	if (!got)
		return;
	qsort(first, (size_t)n, sizeof(*first), cmp_ptr);
	for (i = 1; i < n; i++)
		if (first[i] - first[i - 1] < size)
			apart = 0;
	ok(apart, "%s: no two blocks overlap", what);
	ok(ht_arena_usable((void *)first[0]) >= size && ht_arena_size((void *)first[0]) == size &&
	   ht_arena_flags((void *)first[0]) == HT_BLK_SAMPLED,
	   "%s: the header knows size, usable size and flags", what);
	committed = ht_arena_committed;
	for (i = 0; i < n; i++)
		ht_arena_free((void *)first[i]);
	for (i = 0; i < n; i++) {
		again[i] = (uintptr_t)ht_arena_alloc(size, 0, HT_BLK_SAMPLED, 1);
		if (!again[i])
			break;
		if (!zeros((unsigned char *)again[i], size))
			zero = 0;
	}
	qsort(again, (size_t)n, sizeof(*again), cmp_ptr);
	for (i = 0; i < n; i++)
		if (again[i] != first[i])
			same = 0;
	ok(same, "%s: freed slots are all reused", what);
	is_int(ht_arena_committed, committed, "%s: and no more of the arena is made read-write", what);
	ok(zero, "%s: a reused slot asked for zeros reads as zeros", what);
	for (i = 0; i < n; i++)
		ht_arena_free((void *)again[i]);
	free(first);
	free(again);
}

/* Mappings of this process that overlap the arena. */
static int arena_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < ht_hot.arena_lo + ht_hot.arena_span &&
		    hi > ht_hot.arena_lo)
			n++;
	}
	fclose(f);
	return n;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed + (i >> 12));
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31 + seed + (i >> 12)))
			return 0;
	return 1;
}

/* realloc's moves: a 4 MiB block grows to 12, then to 20 MiB (each move
 * from a slot the last one made a mapping of its own), then shrinks to
 * 100 kB; a small block moves too. With no room left to keep free slots
 * (retained at its limit), once all are freed the arena is back to its
 * mappings before. */
static void moves(void)
{
	size_t mb = (size_t)1 << 20, sizes[] = { 4 * mb, 12 * mb, 20 * mb, 100000, 1000 };
	int maps;
	unsigned char *p, *q, *r, *s, *z;
	uint32_t sp = ht_arena_splits;
	uint64_t kept = retained;

	retained = RETAIN_TOP;
	/* each class used made read-write first: that adds mappings too */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		ht_arena_free(ht_arena_alloc(sizes[i], 0, HT_BLK_SAMPLED, 0));
	maps = arena_maps();
	p = ht_arena_alloc(4 * mb, 0, HT_BLK_SAMPLED, 0);
	q = ht_arena_alloc(12 * mb, 0, HT_BLK_PLAIN, 0);
	ok(p && q, "moves: blocks of 4 and 12 MiB");
	if (!p || !q)
		return;
	fill(p, 4 * mb, 1);
	ht_arena_move(p, q, 12 * mb);
	ok(same(q, 4 * mb, 1), "moves: 4 MiB moved to a 12 MiB block keep their bytes");
	ok(ht_arena_size(q) == 12 * mb && ht_arena_flags(q) == HT_BLK_PLAIN,
	   "moves: the new block's header keeps its size and flags");
	is_int(ht_arena_splits, sp + (ht_arena_remap_off ? 0 : 1), "moves: by their pages (the kernel has MREMAP_DONTUNMAP: %s)",
	       ht_arena_remap_off ? "no" : "yes");
	ok(ht_arena_remap_off || arena_maps() > maps, "moves: the moved pages are a mapping of their own");

	fill(q, 12 * mb, 2);
	r = ht_arena_alloc(20 * mb, 0, HT_BLK_SAMPLED, 0);
	ok(r != NULL, "moves: a block of 20 MiB");
	if (!r)
		return;
	ht_arena_move(q, r, 20 * mb);
	ok(same(r, 12 * mb, 2), "moves: 12 MiB of two mappings moved on keep their bytes (several "
	   "mappings in one move: %s)", ht_arena_multi_ok > 0 ? "yes" : "no");
	ok(ht_arena_flags(r) == HT_BLK_SAMPLED, "moves: the header is the new block's");

	s = ht_arena_alloc(100000, 0, HT_BLK_SAMPLED, 0);
	ok(s != NULL, "moves: a block of 100 kB");
	if (!s)
		return;
	ht_arena_move(r, s, 100000);
	ok(same(s, 100000, 2), "moves: shrunk to 100 kB it keeps its first 100 kB");

	z = ht_arena_alloc(1000, 0, HT_BLK_SAMPLED, 0);
	fill(s, 1000, 3);
	sp = ht_arena_splits;
	ht_arena_move(s, z, 1000);
	ok(z && same(z, 1000, 3), "moves: a 1000-byte block is copied, not moved by pages");
	is_int(ht_arena_splits, sp - (ht_arena_remap_off ? 0 : 1), "moves: the 100 kB slot it left merged back");
	ht_arena_free(z);
	is_int(arena_maps(), maps, "moves: once all are freed the arena has the mappings it had");
	is_int(ht_arena_splits, 0, "moves: and no slot holds moved pages");

	/* a block that shrinks by a page move leaves no pages behind */
	p = ht_arena_alloc(4 * mb, 0, HT_BLK_SAMPLED, 0);
	fill(p, 4 * mb, 7);
	q = ht_arena_alloc(100000, 0, HT_BLK_SAMPLED, 0);
	ht_arena_move(p, q, 100000);
	{
		unsigned char vec[1024];
		size_t from = 128 << 10, pages = (4 * mb - from) / ht_arena_page, resident = 0;

		ok(same(q, 100000, 7) && pages <= sizeof(vec) &&
		   mincore(p + from - HDR, pages * ht_arena_page, vec) == 0,
		   "moves: 4 MiB shrunk to 100 kB keep their first 100 kB");
		for (size_t i = 0; i < pages && i < sizeof(vec); i++)
			resident += vec[i] & 1;
		is_int(resident, 0, "moves: and the old slot keeps none of its pages");
	}
	ht_arena_free(q);
	is_int(arena_maps(), maps, "moves: the arena has the mappings it had");

	/* at the limit of slots holding moved pages, the bytes are copied */
	p = ht_arena_alloc(4 * mb, 0, HT_BLK_SAMPLED, 0);
	q = ht_arena_alloc(12 * mb, 0, HT_BLK_SAMPLED, 0);
	fill(p, 4 * mb, 4);
	ht_arena_splits = SPLIT_MAX;
	ht_arena_move(p, q, 12 * mb);
	ok(same(q, 4 * mb, 4) && ht_arena_splits == SPLIT_MAX && arena_maps() == maps,
	   "moves: past %d slots holding moved pages they are copied", SPLIT_MAX);
	ht_arena_splits = 0;
	ht_arena_free(q);

	/* a slot whose pages moved out is reused, and reads as zeros */
	p = ht_arena_alloc(4 * mb, 0, HT_BLK_SAMPLED, 0);
	q = ht_arena_alloc(12 * mb, 0, HT_BLK_SAMPLED, 0);
	fill(p, 4 * mb, 5);
	ht_arena_move(p, q, 12 * mb);
	r = ht_arena_alloc(4 * mb, 0, HT_BLK_SAMPLED, 1);
	ok(r == p && r[0] == 0 && r[4 * mb - 1] == 0 && r[2 * mb] == 0,
	   "moves: the slot left behind is reused, and reads as zeros when asked");
	ht_arena_free(r);
	ht_arena_free(q);
	is_int(arena_maps(), maps, "moves: the arena has the mappings it had");
	retained = kept;
}

/* A 12 MiB slot freed is kept (more than 8 MiB are kept once slots that
 * big come back), and a block of 5 MiB that grows takes it and its pages;
 * one that does not grow does not. */
static void grow_reuse(void)
{
	size_t mb = (size_t)1 << 20;
	unsigned char *p = ht_arena_alloc(12 * mb, 0, HT_BLK_SAMPLED, 0), *q, *r;
	uint64_t kept = retained;

	retained = 0;
	ok(p != NULL, "grow: a block of 12 MiB");
	if (!p)
		return;
	memset(p, 1, 12 * mb);
	ht_arena_free(p);
	ok(retained > 12 * mb, "grow: its slot is kept, pages and all (%llu bytes kept)",
	   (unsigned long long)retained);
	q = ht_arena_alloc(5 * mb, 0, HT_BLK_SAMPLED, 0);
	ok(q && q != p, "grow: a block of 5 MiB that does not grow gets a slot of its size");
	r = ht_arena_alloc_room(5 * mb, 10 * mb, 0, HT_BLK_SAMPLED, 0);
	ok(r == p && r[5 * mb] == 1 && r[12 * mb - 1] == 1,
	   "grow: one given room to grow gets the kept 12 MiB slot, its pages still there");
	ht_arena_free(q);
	ht_arena_free(r);

	/* a block of 1 MiB that grows takes a kept 48 MiB slot (24 classes,
	 * six doublings, above its room), with no other slot kept (those
	 * kept so far are left out of the lists) */
	for (int c = 0; c < nclasses; c++)
		ht_arena_classes[c].kept_head = 0;
	retained = 0;
	p = ht_arena_alloc(48 * mb, 0, HT_BLK_SAMPLED, 0);
	ok(p != NULL, "grow: a block of 48 MiB");
	if (!p)
		return;
	p[48 * mb - 1] = 2;
	ht_arena_free(p);
	r = ht_arena_alloc_room(mb, 2 * mb, 0, HT_BLK_SAMPLED, 0);
	ok(r == p && r[48 * mb - 1] == 2,
	   "grow: one of 1 MiB given room to grow gets a kept 48 MiB slot, its pages still there");
	ht_arena_free(r);

	/* 100 kB moved into a kept slot, whose pages are there, are copied;
	 * into a slot whose pages are not, moved by their pages */
	retained = 0;
	q = ht_arena_alloc(400000, 0, HT_BLK_SAMPLED, 0);
	memset(q, 1, 400000);
	ht_arena_free(q);
	p = ht_arena_alloc(100000, 0, HT_BLK_SAMPLED, 0);
	fill(p, 100000, 6);
	r = ht_arena_alloc(400000, 0, HT_BLK_SAMPLED, 0);
	{
		uint32_t sp = ht_arena_splits;

		ht_arena_move(p, r, 400000);
		ok(r == q && same(r, 100000, 6) && ht_arena_splits == sp,
		   "grow: 100 kB moved into a kept slot are copied");
		p = ht_arena_alloc(400000, 0, HT_BLK_SAMPLED, 0);
		ht_arena_move(r, p, 400000);
		ok(same(p, 100000, 6) && ht_arena_splits == sp + (ht_arena_remap_off ? 0 : 1),
		   "grow: 100 kB moved into a fresh slot go by their pages");
		ht_arena_free(p);
	}
	retained = kept;
}

/* Freed large slots keep their pages while the arena's live and kept
 * slots add up to at most its peak of live ones and 8 MiB. 27 blocks of
 * 1 MiB (slots of 1 MiB and a page) freed all keep theirs: 27.1 MiB, where
 * 8 MiB alone would allow 7 of them. 12 blocks of 3 MiB (slots of 3 MiB
 * and a page, a new peak of 36.05 MiB) freed after that: 27.1 MiB kept
 * and 36.05 MiB live make 63.15 MiB, so the first ones freed give their
 * pages back, until live and kept fit in 44.05 MiB again: the last 5 keep
 * theirs (27.1 + 5 * 3.004 = 42.1), the first 7 do not. */
static void keep_to_peak(void)
{
	size_t mb = (size_t)1 << 20;
	unsigned char *one[27], *three[12];
	uint64_t kept = retained, peak = live_peak, lim = retain_max;
	int i, got = 1, all = 0, back = 0, still = 0;

	/* as if no slot were kept, none larger had been freed, and the live
	 * ones were at their peak */
	for (int c = 0; c < nclasses; c++)
		ht_arena_classes[c].kept_head = 0;
	retained = 0;
	retain_max = RETAIN_MIN;
	live_peak = ht_arena_live;
	for (i = 0; i < 27; i++) {
		one[i] = ht_arena_alloc(mb, 0, HT_BLK_SAMPLED, 0);
		if (!one[i]) {
			got = 0;
			break;
		}
		memset(one[i], 1, mb);
	}
	ok(got, "peak: 27 blocks of 1 MiB");
	if (!got)
		return;
	for (i = 0; i < 27; i++)
		ht_arena_free(one[i]);
	for (i = 0; i < 27; i++)
		all += resident(one[i], mb) == (mb + (uintptr_t)one[i] % ht_arena_page + ht_arena_page - 1) / ht_arena_page;
	is_int(all, 27, "peak: freed, all 27 keep their pages");
	for (i = 0; i < 12; i++) {
		three[i] = ht_arena_alloc(3 * mb, 0, HT_BLK_SAMPLED, 0);
		if (!three[i]) {
			got = 0;
			break;
		}
		memset(three[i], 3, 3 * mb);
	}
	ok(got, "peak: then 12 blocks of 3 MiB");
	if (!got)
		return;
	for (i = 0; i < 12; i++)
		ht_arena_free(three[i]);
	for (i = 0; i < 12; i++) {
		if (i < 7)
			back += resident(three[i], 3 * mb) == 1;
		else
			still += resident(three[i], 3 * mb) > 1;
	}
	is_int(back, 7, "peak: freed, the first 7 give their pages back but the header's");
	is_int(still, 5, "peak: the last 5 keep theirs");
	for (i = 0; i < 27; i++)
		all -= resident(one[i], mb) > 1;
	is_int(all, 0, "peak: the 27 kept before still have theirs");
	retained = kept;
	live_peak = peak;
	retain_max = lim;
}

/* The arena grows: a class whose region is full takes another, freed
 * slots of both are reused, and a block bigger than any class takes
 * regions of its own, given back when it is freed (its pages go, the
 * mappings merge back, and the next one reuses them); also when it moves
 * by its pages. */
static void regions(void)
{
	const size_t mb = (size_t)1 << 20, n = 300;
	int c = class_for(HDR + mb), maps;
	uintptr_t *b = malloc(n * sizeof(*b));
	uint64_t bump, committed, live = ht_arena_live, kept = retained;
	size_t i, bad = 0;
	unsigned char *h, *h2, *a;

	retained = RETAIN_TOP; /* no room to keep slots: each given back */
	ok(ht_arena_classes[c].nslots < n, "regions: %zu blocks of 1 MiB, more than a region holds (%u)",
	   n, ht_arena_classes[c].nslots);
	for (i = 0; i < n; i++) {
		b[i] = (uintptr_t)ht_arena_alloc(mb, 0, HT_BLK_SAMPLED, 0);
		bad += !b[i] || !ht_in_arena((void *)b[i]) || ht_arena_usable((void *)b[i]) < mb ||
		       ht_arena_size((void *)b[i]) != mb;
		if (b[i])
			*(char *)b[i] = (char)i;
	}
	ok(bad == 0, "regions: every one is served (%zu not)", bad);
	ok(ht_arena_classes[c].own[0] && ht_arena_classes[c].own[1] && ht_arena_classes[c].own[0] != ht_arena_classes[c].own[1],
	   "regions: from two regions of the class");
	qsort(b, n, sizeof(*b), cmp_ptr);
	for (i = 1, bad = 0; i < n; i++)
		bad += b[i] - b[i - 1] < mb;
	ok(bad == 0, "regions: none overlaps another");
	for (i = 0; i < n; i++)
		ht_arena_free((void *)b[i]);
	bump = ht_arena_classes[c].bump;
	committed = ht_arena_committed;
	for (i = 0, bad = 0; i < n; i++)
		bad += !(b[i] = (uintptr_t)ht_arena_alloc(mb, 0, HT_BLK_SAMPLED, 0));
	ok(bad == 0 && ht_arena_classes[c].bump == bump && ht_arena_committed == committed,
	   "regions: freed, their slots are reused, no more made read-write");
	for (i = 0; i < n; i++)
		ht_arena_free((void *)b[i]);

	maps = arena_maps();
	h = ht_arena_alloc(300 * mb, 0, HT_BLK_SAMPLED, 1);
	ok(h && ht_arena_usable(h) >= 300 * mb && ht_arena_size(h) == 300 * mb &&
	   ht_arena_flags(h) == HT_BLK_SAMPLED,
	   "huge: a block of 300 MiB, bigger than a region, bigger than any class");
	if (!h)
		goto out;
	ok(h[0] == 0 && h[300 * mb - 1] == 0, "huge: it reads as zeros");
	h[0] = 1;
	h[300 * mb - 1] = 2;
	ok(ht_arena_flags(h + 200 * mb) == HT_BLK_SAMPLED && ht_arena_usable(h + 200 * mb) ==
	   ht_arena_usable(h) - 200 * mb, "huge: a pointer into its second region finds its header");
	ht_arena_free(h);
	ok(arena_maps() == maps, "huge: freed, its regions merge back into the reservation");
	h2 = ht_arena_alloc(300 * mb, 0, HT_BLK_SAMPLED, 1);
	ok(h2 == h && h2[0] == 0 && h2[300 * mb - 1] == 0,
	   "huge: the next one reuses its regions, which hold no pages");
	/* moved by its pages into a bigger one, and that one freed */
	memset(h2, 7, 4 * mb);
	a = ht_arena_alloc(400 * mb, 0, HT_BLK_PLAIN, 0);
	ok(a != NULL, "huge: a block of 400 MiB");
	if (a) {
		ht_arena_move(h2, a, 400 * mb);
		ok(a[0] == 7 && a[4 * mb - 1] == 7 && a[4 * mb] == 0 && ht_arena_size(a) == 400 * mb &&
		   ht_arena_usable(a) >= 400 * mb, "huge: moved into it, the bytes went along");
		ht_arena_free(a);
	}
	ok(arena_maps() == maps, "huge: both freed, the arena has the mappings it had");
	h = ht_arena_alloc(10, (size_t)1 << 30, HT_BLK_SAMPLED, 0);
	ok(h && (uintptr_t)h % ((size_t)1 << 30) == 0 && ht_arena_usable(h) >= 10,
	   "huge: an alignment of 1 GiB");
	ht_arena_free(h);
	ok(ht_arena_alloc(ht_hot.arena_span, 0, HT_BLK_SAMPLED, 0) == NULL,
	   "huge: a block as big as the arena is refused");
out:
	is_int(ht_arena_live, live, "regions: the arena's live bytes are back where they were");
	retained = kept;
	free(b);
}

/* A block of a class of 1 KiB or more whose class has no free slot takes
 * a free one of the next two classes before a fresh one, and gives it
 * back to that class; a smaller one takes a fresh one. */
static void wander(void)
{
	enum { N = 200 };
	int c = class_for(SHDR + 3000);
	size_t small = ht_arena_classes[c].slot_size - SHDR; /* the most class c holds */
	size_t big = small + 1, far = ht_arena_classes[c + 2].slot_size - SHDR + 1;
	void *p[N], *last, *p2;
	uint64_t bump_c, bump_c1, committed;
	int i, bad = 0;

	ok(class_for(SHDR + big) == c + 1 && class_for(SHDR + far) == c + 3 &&
	   !ht_arena_classes[c].bump && !ht_arena_classes[c + 1].bump,
	   "wander: blocks of %zu and %zu bytes, in classes %d and %d, none made yet", small,
	   big, c, c + 1);
	for (i = 0; i < N; i++)
		p[i] = ht_arena_alloc(big, 0, HT_BLK_SAMPLED, 0);
	for (i = 0; i < N; i++)
		ht_arena_free(p[i]);
	bump_c1 = ht_arena_classes[c + 1].bump;
	committed = ht_arena_committed;
	for (i = 0; i < N; i++) {
		p[i] = ht_arena_alloc(small, 0, HT_BLK_SAMPLED, 0);
		bad += !p[i] || ht_arena_size(p[i]) != small || ht_arena_usable(p[i]) < big;
	}
	ok(bad == 0 && ht_arena_classes[c].bump == 0 && ht_arena_committed == committed,
	   "wander: %d blocks of the smaller class take the freed slots of the next", N);
	for (i = 0; i < N; i++)
		ht_arena_free(p[i]);
	for (i = 0; i < N; i++)
		p[i] = ht_arena_alloc(big, 0, HT_BLK_SAMPLED, 0);
	ok(ht_arena_classes[c + 1].bump == bump_c1 && ht_arena_classes[c].bump == 0,
	   "wander: freed, the slots went back to their own class");
	for (i = 0; i < N; i++)
		ht_arena_free(p[i]);
	/* N + 1 more: N take those slots again, and the last a fresh one of
	 * its own class, not the free one three classes up */
	p[0] = ht_arena_alloc(far, 0, HT_BLK_SAMPLED, 0);
	ht_arena_free(p[0]);
	bump_c = ht_arena_classes[c + 3].bump;
	for (i = 0; i < N; i++)
		p[i] = ht_arena_alloc(small, 0, HT_BLK_SAMPLED, 0);
	last = ht_arena_alloc(small, 0, HT_BLK_SAMPLED, 0);
	ok(last && ht_arena_classes[c].bump == 1 && ht_arena_usable(last) < big,
	   "wander: with none free in the next two classes, a fresh slot of its own");
	p2 = ht_arena_alloc(far, 0, HT_BLK_SAMPLED, 0);
	ok(p2 && ht_arena_classes[c + 3].bump == bump_c,
	   "wander: the slot three classes up stayed free");
	ht_arena_free(p2);
	for (i = 0; i < N; i++)
		ht_arena_free(p[i]);
	ht_arena_free(last);
	/* below 1 KiB: a fresh slot, the next class's free ones
	 * notwithstanding */
	c = class_for(SHDR + 600);
	small = ht_arena_classes[c].slot_size - SHDR;
	for (i = 0; i < 10; i++)
		p[i] = ht_arena_alloc(small + 1, 0, HT_BLK_SAMPLED, 0);
	for (i = 0; i < 10; i++)
		ht_arena_free(p[i]);
	bump_c = ht_arena_classes[c].bump;
	p[0] = ht_arena_alloc(small, 0, HT_BLK_SAMPLED, 0);
	ok(class_for(SHDR + small + 1) == c + 1 && ht_arena_classes[c + 1].slot_size < 1024 &&
	   ht_arena_classes[c].bump == bump_c + 1,
	   "wander: a block of %zu bytes takes a fresh slot of its class", small);
	ht_arena_free(p[0]);
}

/* ht_arena_trim gives the kept slots' pages back: the slots go to the
 * free lists, their pages are no longer resident, nothing stays counted
 * as kept, and a slot taken again reads as zeros. */
static void trim(void)
{
	size_t n = (size_t)3 << 20, i;
	unsigned char *p[3];
	uint64_t kept = retained, given;
	int in = 0;

	/* the slots kept by the tests above are left out of the lists */
	for (int c = 0; c < nclasses; c++)
		ht_arena_classes[c].kept_head = 0;
	retained = 0;
	for (i = 0; i < 3; i++) {
		p[i] = ht_arena_alloc(n, 0, HT_BLK_SAMPLED, 0);
		memset(p[i], 0x5a, n);
	}
	for (i = 0; i < 3; i++)
		ht_arena_free(p[i]);
	ok(retained >= 3 * n && resident(p[0] + 4096, n - 8192) > 0,
	   "trim: three freed 3 MiB slots are kept, pages and all (%llu bytes kept)",
	   (unsigned long long)retained);
	given = ht_arena_trim();
	for (i = 0; i < 3; i++)
		in += (int)resident(p[i] + 4096, n - 8192);
	ok(given >= 3 * n && retained == 0 && in == 0,
	   "trim: their pages are given back (%llu bytes, %d pages left, %llu kept)",
	   (unsigned long long)given, in, (unsigned long long)retained);
	is_int((int)ht_arena_trim(), 0, "trim: a second trim finds nothing kept");
	p[0] = ht_arena_alloc(n, 0, HT_BLK_SAMPLED, 1);
	ok(p[0] && zeros(p[0], n), "trim: a slot taken again after it reads as zeros");
	ht_arena_free(p[0]);
	ht_arena_trim();
	retained = kept;
}

int main(void)
{
	size_t need, bad = 0, checked = 0;
	uint64_t top;

	reserved_at_first_use();
	top = ht_arena_classes[nclasses - 1].slot_size;
	for (need = 1; need <= ((size_t)1 << 20); need++, checked++)
		if (class_for(need) != class_by_search(need))
			bad++;
	for (need = (size_t)1 << 20; need <= top + 1; need += 4093, checked++)
		if (class_for(need) != class_by_search(need))
			bad++;
	for (int c = 0; c < nclasses; c++) {
		uint64_t s = ht_arena_classes[c].slot_size;

		bad += class_for(s) != c;
		bad += class_for(s + 1) != class_by_search(s + 1);
		checked += 2;
	}
	ok(bad == 0, "the computed class is the smallest that holds the request (%zu sizes, %zu wrong)",
	   checked, bad);
	is_int(class_for(top + 1), -1, "a request past the largest class has none");
	{
		/* a block of a power of two bytes, as a doubling buffer asks
		 * for, takes the slot of its own size and a header's pad, not
		 * the next class's (a 16 KiB one took 18 KiB, 64 KiB 80 KiB);
		 * and no slot wastes more than a step and its pad */
		size_t over = 0;

		bad = 0;
		for (need = 512; need + HDR <= top; need *= 2) {
			int c = class_for(SHDR + need);

			if (c >= 0 && !small_class(c))
				c = class_for(HDR + need);
			bad += c < 0 || ht_arena_classes[c].slot_size - need >
						(need < MID_TOP ? MID_PAD : LARGE_PAD);
		}
		is_int((int)bad, 0, "a power of two takes the class of its size");
		for (need = SMALL_TOP + 1; need + HDR <= top; need += need / 61 + 1) {
			int c = class_for(HDR + need);
			uint64_t s = ht_arena_classes[c].slot_size;

			/* the class's own pad: a large slot's is a page */
			over += s - need > need / (need < MID_TOP ? CLASS_STEPS : LARGE_STEPS) +
						   (s - HDR < MID_TOP ? MID_PAD : LARGE_PAD);
		}
		is_int((int)over, 0, "no slot wastes more than a step of its class and its pad");
	}

	{
		/* the slot index by multiplication, against division: around
		 * every slot edge of the first and last 4096 slots, at random
		 * offsets, and at the region's last byte (slots start lead
		 * bytes into the region) */
		uint64_t rng = 0x9e3779b97f4a7c15ull;

		bad = checked = 0;
		for (int c = 0; c < nclasses; c++) {
			uint64_t d = ht_arena_classes[c].slot_size, lead = ht_arena_classes[c].lead, k;

			for (k = 1; k <= 4096 && k * d <= REGION_SIZE; k++) {
				uint64_t edges[4] = { lead + k * d - 1, lead + k * d, lead + k * d + 1,
						      REGION_SIZE - k * d };

				for (int j = 0; j < 4; j++)
					if (edges[j] < REGION_SIZE && edges[j] >= lead) {
						bad += slot_index(c, edges[j]) != (edges[j] - lead) / d;
						checked++;
					}
			}
			for (k = 0; k < 20000; k++) {
				uint64_t off;

				off = xorshift64(&rng) & (REGION_SIZE - 1);
				if (off < lead)
					continue;
				bad += slot_index(c, off) != (off - lead) / d;
				checked++;
			}
			bad += slot_index(c, REGION_SIZE - 1) != (REGION_SIZE - 1 - lead) / d;
			checked++;
		}
		ok(bad == 0, "slot index by multiplication = by division (%zu offsets, %zu wrong)",
		   checked, bad);
	}

	reuse(100, 3000, "small class");
	reuse(40000, 200, "40 kB class");
	reuse((size_t)3 << 20, 3, "3 MB class");
	moves();
	grow_reuse();
	keep_to_peak();
	calloc_clean();
	calloc_kept();
	calloc_futile();
	calloc_fork();
	regions();
	wander();
	trim();
	return done_testing();
}
