/* The sample arena: one reserved address range, cut into regions of
 * 256 MiB that size classes take on demand (a class as many as it needs)
 * and huge blocks take several at a time; sampled blocks are served from
 * them. free() knows a sampled block by a range compare, and the slot's
 * header (which only the shim writes) holds its size and flags. Lock-free
 * throughout: a signal handler that frees during an interrupted arena call
 * cannot deadlock. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "arena_int.h"

uint64_t ht_arena_live, ht_arena_committed;
/* Bytes of free large slots whose pages are kept: a sampled large block
 * freed and asked for again soon (churn) would otherwise fault its pages
 * in again. A large block takes a kept slot of its class or of one of the
 * next BORROW classes (sizes vary), and one given room to grow
 * (ht_grow_room) one up to BORROW_GROW classes bigger, so a buffer grown
 * again and again grows into the pages the last one left. How much is
 * kept follows the largest slot freed, as glibc's trim threshold follows
 * its mmap threshold (twice it, as a grown block's slot is up to twice its
 * size), and the heap's peak: pages are kept while live and kept slots add
 * up to at most the peak of live ones and RETAIN_MIN, as a heap stays about
 * as big as it has been. */
static uint64_t retained, retain_max = RETAIN_MIN, live_peak;
struct class ht_arena_classes[MAX_CLASSES];
uint32_t ht_arena_splits; /* see arena_int.h */
int ht_arena_multi_ok, ht_arena_remap_off;
static int nclasses;
size_t ht_arena_page;
/* The regions: how many, each one's tag (see TAG_HUGE), the bytes from
 * its start that are read-write (a class's region), and a bit each for
 * those taken. */
static uint32_t nregions;
static uint32_t *tags;
static uint64_t *region_committed;
static uint64_t *taken;

/* Classes: 32..256 in steps of 16 (a slot size must keep the user's bytes
 * 16-aligned), then CLASS_STEPS per doubling up to 64 KiB: a slot wastes
 * at most 1/CLASS_STEPS of itself there (a heap of 4 KiB pages plus a
 * header, as sqlite's page cache, lost 19% to four steps); then
 * LARGE_STEPS per doubling up to a quarter of a region, so that a large
 * slot kept with its pages serves more sizes (see retained). Finer steps
 * cost memory too: with sixteen below 64 KiB, an allocation stress's
 * sampled blocks spread over more classes' pages (+3 MB). Every region
 * holds >= 4 slots. */
#define SMALL_TOP 256
#define SMALL_CLASSES 15 /* 32, 48, ... 256 */
#define MID_TOP ((uint64_t)64 << 10)
#define MID_CLASSES (SMALL_CLASSES + 8 * CLASS_STEPS) /* ... 64 KiB */
/* Above SMALL_TOP a slot holds its base size (s + k * step) and a header:
 * requests of a power of two, as a buffer that doubles makes, fit the
 * class of their size instead of the next (a 16 KiB one took an 18 KiB
 * slot, a 64 KiB one an 80 KiB slot). MID_PAD keeps slots 16-aligned,
 * LARGE_PAD keeps large slots whole pages (see give_pages). */
#define MID_PAD 16
#define LARGE_PAD ((uint64_t)4096)
static void make_classes(void)
{
	uint64_t s;

	for (s = 32; s <= SMALL_TOP; s += 16)
		ht_arena_classes[nclasses++].slot_size = s;
	for (s = SMALL_TOP; nclasses < MAX_CLASSES; s *= 2) {
		uint64_t steps = s < MID_TOP ? CLASS_STEPS : LARGE_STEPS, step = s / steps, k;

		for (k = 1; k <= steps && nclasses < MAX_CLASSES; k++) {
			uint64_t base = s + k * step;
			uint64_t size = base + (base < MID_TOP ? MID_PAD : LARGE_PAD);

			if (size > REGION_SIZE / 4)
				return;
			ht_arena_classes[nclasses++].slot_size = size;
		}
	}
}

/* How many regions to reserve (see REGIONS_MIN). */
static uint32_t regions_wanted(void)
{
	struct sysinfo si;
	struct rlimit rl;
	uint64_t want = REGIONS_MIN, mem;

	if (sysinfo(&si) == 0) {
		mem = ((uint64_t)si.totalram + si.totalswap) * (si.mem_unit ? si.mem_unit : 1);
		if (8 * (mem >> REGION_SHIFT) > want)
			want = 8 * (mem >> REGION_SHIFT);
	}
	if (want > REGIONS_MAX)
		want = REGIONS_MAX;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rl.rlim_cur / 4) >> REGION_SHIFT < want)
		want = (rl.rlim_cur / 4) >> REGION_SHIFT;
	return (uint32_t)want;
}

/* Reserves the range, sizes the classes and maps the tables. Returns 0, or
 * -1 if nothing can be reserved. Allocates nothing. */
static int reserve(void)
{
	void *p = MAP_FAILED;
	char *meta;
	size_t own_total = 0, meta_size;
	uint32_t n;
	int i;

	ht_arena_page = (size_t)sysconf(_SC_PAGESIZE);
	make_classes();
	/* PROT_NONE costs no memory and no commit charge until a region
	 * commits pages with mprotect; on failure (an address-space limit),
	 * less */
	for (n = regions_wanted(); n >= REGIONS_LEAST; n /= 2) {
		p = mmap(NULL, (size_t)n << REGION_SHIFT, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED)
			break;
	}
	if (p == MAP_FAILED)
		return -1;
	for (i = 0; i < nclasses; i++) {
		struct class *k = &ht_arena_classes[i];
		int l = 64 - __builtin_clzll(k->slot_size - 1); /* 2^l >= slot_size */

		k->lead = k->slot_size < RELEASE_MIN ? SHDR : 0;
		k->nslots = (uint32_t)((REGION_SIZE - k->lead) / k->slot_size);
		/* m = ceil(2^(28 + l) / d) has at most 29 bits, so offset * m
		 * fits in 64; and floor(n * m / 2^(28 + l)) = floor(n / d) for
		 * every n < 2^28 (Granlund and Montgomery, 1994) */
		k->div_shift = (uint32_t)(REGION_SHIFT + l);
		k->div_mul = (((uint64_t)1 << k->div_shift) + k->slot_size - 1) / k->slot_size;
		k->sbits = (uint32_t)(64 - __builtin_clzll(k->nslots - 1));
		k->maxord = (uint32_t)(((uint64_t)1 << (32 - k->sbits)) - 1);
		if (k->maxord > n)
			k->maxord = n;
		own_total += k->maxord;
	}
	/* the tables, touched only where used */
	meta_size = (size_t)n * (sizeof(*tags) + sizeof(*region_committed)) +
		    ((size_t)n + 63) / 64 * 8 + own_total * sizeof(uint32_t);
	meta = mmap(NULL, meta_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (meta == MAP_FAILED) {
		munmap(p, (size_t)n << REGION_SHIFT);
		return -1;
	}
	region_committed = (uint64_t *)(void *)meta;
	taken = region_committed + n;
	tags = (uint32_t *)(void *)(taken + (n + 63) / 64);
	meta = (char *)(tags + n);
	for (i = 0; i < nclasses; i++) {
		ht_arena_classes[i].own = (uint32_t *)(void *)meta;
		meta += (size_t)ht_arena_classes[i].maxord * sizeof(uint32_t);
	}
	nregions = n;
	ht_hot.arena_lo = (uintptr_t)p;
	__atomic_store_n(&ht_hot.arena_span, (uintptr_t)n << REGION_SHIFT, __ATOMIC_RELEASE);
	return 0;
}

/* The arena is reserved at its first use (a sample, or the shim's own
 * block), not at start: a program that samples nothing, as most of what a
 * shell script or a build runs, never pays for it. reserving holds
 * RESERVED, FAILED, or while one thread reserves, its process id: a
 * forked child finds its parent's there (the thread that was reserving is
 * not in the child) and starts over. Others wait the few microseconds;
 * the thread that reserves blocks signals meanwhile, so that a handler of
 * its own cannot wait for it. A process the shim stays out of reserves
 * none: that much address space less would count against its RLIMIT_AS,
 * which its caller sets (its loader's few early blocks are then refused
 * and it does without). */
#define RESERVED (-1)
#define FAILED   (-2)
static int reserving;

uintptr_t ht_arena_reserve(void)
{
	int st = __atomic_load_n(&reserving, __ATOMIC_ACQUIRE), me = 0;
	sigset_t all, old;
	int rc;

	for (;;) {
		if (st == RESERVED)
			return __atomic_load_n(&ht_hot.arena_span, __ATOMIC_ACQUIRE);
		if (st == FAILED || ht_startup_untraced())
			return 0; /* a process the shim stays out of reserves none */
		if (!me)
			me = (int)getpid(); /* not for those: their own blocks come here */
		if (st == 0 && __atomic_compare_exchange_n(&reserving, &st, me, 0, __ATOMIC_ACQ_REL,
							   __ATOMIC_ACQUIRE))
			break;
		if (st > 0 && st != me) {
			/* forked after the range was made but before it said
			 * so: it is whole (the span is stored last) */
			int to = __atomic_load_n(&ht_hot.arena_span, __ATOMIC_ACQUIRE) ? RESERVED : 0;

			__atomic_compare_exchange_n(&reserving, &st, to, 0, __ATOMIC_ACQ_REL,
						    __ATOMIC_ACQUIRE);
			continue;
		}
		if (st > 0) {
			sched_yield();
			st = __atomic_load_n(&reserving, __ATOMIC_ACQUIRE);
		}
	}
	sigfillset(&all);
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, sizeof(uint64_t));
	rc = reserve();
	__atomic_store_n(&reserving, rc == 0 ? RESERVED : FAILED, __ATOMIC_RELEASE);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(uint64_t));
	return rc == 0 ? __atomic_load_n(&ht_hot.arena_span, __ATOMIC_ACQUIRE) : 0;
}

/* Takes k free regions in a row. Returns the first one's number, or -1 if
 * there are no k in a row. Each is marked taken by an atomic or, and a
 * run another thread took part of meanwhile is given back: lock-free. */
static int64_t take_regions(uint64_t k)
{
	uint64_t i = 0, run = 0, j;

	while (i < nregions) {
		uint64_t w = __atomic_load_n(&taken[i / 64], __ATOMIC_RELAXED);

		if (i % 64 == 0 && w == ~(uint64_t)0) {
			run = 0;
			i += 64;
			continue;
		}
		if (w >> (i % 64) & 1) {
			run = 0;
			i++;
			continue;
		}
		if (++run < k) {
			i++;
			continue;
		}
		for (j = i + 1 - k; j <= i; j++) {
			uint64_t bit = (uint64_t)1 << (j % 64);

			if (__atomic_fetch_or(&taken[j / 64], bit, __ATOMIC_ACQ_REL) & bit)
				break;
		}
		if (j > i)
			return (int64_t)(i + 1 - k);
		for (uint64_t m = i + 1 - k; m < j; m++)
			__atomic_fetch_and(&taken[m / 64], ~((uint64_t)1 << (m % 64)), __ATOMIC_RELEASE);
		run = 0;
		i = j + 1;
	}
	return -1;
}

/* Gives back k regions from r on, their tags cleared first. */
static void give_regions(uint64_t r, uint64_t k)
{
	for (uint64_t j = r; j < r + k; j++)
		__atomic_store_n(&tags[j], 0, __ATOMIC_RELEASE);
	for (uint64_t j = r; j < r + k; j++)
		__atomic_fetch_and(&taken[j / 64], ~((uint64_t)1 << (j % 64)), __ATOMIC_RELEASE);
}

/* Class c's region number ord, taken now if it is not yet; -1 if no
 * region is free. */
static int64_t class_region(int c, uint32_t ord)
{
	struct class *k = &ht_arena_classes[c];
	uint32_t have = __atomic_load_n(&k->own[ord], __ATOMIC_ACQUIRE);
	int64_t r;

	if (have)
		return (int64_t)have - 1;
	r = take_regions(1);
	if (r < 0)
		return -1;
	__atomic_store_n(&tags[r], (uint32_t)(c + 1) << TAG_SHIFT | ord, __ATOMIC_RELEASE);
	if (__atomic_compare_exchange_n(&k->own[ord], &have, (uint32_t)r + 1, 0,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return r;
	give_regions((uint64_t)r, 1); /* another thread took one for it */
	return (int64_t)have - 1;
}

/* The smallest class whose slots hold need bytes, or -1: computed, not
 * searched, since a search reads several ht_arena_classes[] entries, which
 * sampling, being rare, finds cold. Follows make_classes. */
static int class_for(size_t need)
{
	int c, e;
	uint64_t s, b;

	if (need <= 32)
		return 0;
	if (need <= SMALL_TOP)
		return (int)((need - 32 + 15) / 16);
	/* the base size wanted: the slot less its pad */
	b = need < MID_TOP + MID_PAD ? need - MID_PAD : need - LARGE_PAD;
	if (b <= SMALL_TOP)
		b = SMALL_TOP + 1;
	e = 63 - __builtin_clzll((unsigned long long)b - 1); /* 2^e < b <= 2^(e+1) */
	s = (uint64_t)1 << e;
	if (b <= MID_TOP)
		c = SMALL_CLASSES + (e - 8) * CLASS_STEPS +
		    (int)((b - s + (s >> CLASS_SHIFT) - 1) >> (e - CLASS_SHIFT)) - 1;
	else
		c = MID_CLASSES + (e - 16) * LARGE_STEPS +
		    (int)((b - s + (s >> LARGE_SHIFT) - 1) >> (e - LARGE_SHIFT)) - 1;
	return c < nclasses ? c : -1;
}

/* The slot of class c whose index (see struct class) is idx; its region
 * is taken. */
static inline struct blk *slot_at(int c, uint32_t idx)
{
	const struct class *k = &ht_arena_classes[c];
	uint32_t r = __atomic_load_n(&k->own[idx >> k->sbits], __ATOMIC_ACQUIRE) - 1;

	return (struct blk *)(region_at(r) + k->lead +
			      (uintptr_t)(idx & ((1u << k->sbits) - 1)) * k->slot_size);
}

/* The index of slot b of class c. */
static inline uint32_t index_of(int c, const struct blk *b)
{
	uintptr_t off = (uintptr_t)b - ht_hot.arena_lo;
	uint32_t ord = __atomic_load_n(&tags[off >> REGION_SHIFT], __ATOMIC_ACQUIRE) & TAG_LOW;

	return ord << ht_arena_classes[c].sbits | slot_index(c, off & (REGION_SIZE - 1));
}

/* Makes [0, end) of class region r read-write. Whoever advances its
 * committed bytes has mprotect'ed everything it skips over, so all bytes
 * below are usable; racing threads may mprotect the same pages twice. */
static int commit(uint64_t r, uint64_t end)
{
	for (;;) {
		uint64_t have = __atomic_load_n(&region_committed[r], __ATOMIC_ACQUIRE);
		uint64_t want;

		if (end <= have)
			return 0;
		want = (end + COMMIT_STEP - 1) & ~(COMMIT_STEP - 1);
		if (want > REGION_SIZE)
			want = REGION_SIZE;
		if (mprotect((void *)(region_at(r) + have), want - have,
			     PROT_READ | PROT_WRITE) != 0)
			return -1;
		if (__atomic_compare_exchange_n(&region_committed[r], &have, want, 0,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED))
			__atomic_fetch_add(&ht_arena_committed, want - have, __ATOMIC_RELAXED);
	}
}

static struct blk *pop(int c, uint64_t *list)
{
	uint64_t head = __atomic_load_n(list, __ATOMIC_ACQUIRE);

	for (;;) {
		uint32_t idx1 = (uint32_t)head;
		struct blk *b;
		uint64_t next;

		if (!idx1)
			return NULL;
		b = slot_at(c, idx1 - 1);
		/* b stays mapped forever, so reading a stale next is safe; the
		 * tag makes the exchange fail if the list changed meanwhile */
		next = ((head >> 32) + 1) << 32 | __atomic_load_n(blk_next(c, b), __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(list, &head, next, 1,
						__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
			return b;
	}
}

static void push(int c, uint64_t *list, struct blk *b)
{
	uint32_t idx = index_of(c, b);
	uint64_t head = __atomic_load_n(list, __ATOMIC_RELAXED);

	for (;;) {
		uint64_t next = ((head >> 32) + 1) << 32 | (idx + 1);

		__atomic_store_n(blk_next(c, b), (uint32_t)head, __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(list, &head, next, 1,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;
	}
}

void *ht_arena_alloc(size_t n, size_t align, uint32_t flags, int zero)
{
	return ht_arena_alloc_room(n, n, align, flags, zero);
}

/* Adds bytes to the arena's live slots, and its peak. */
static void add_live(uint64_t bytes)
{
	uint64_t live = __atomic_add_fetch(&ht_arena_live, bytes, __ATOMIC_RELAXED);
	uint64_t peak = __atomic_load_n(&live_peak, __ATOMIC_RELAXED);

	while (live > peak &&
	       !__atomic_compare_exchange_n(&live_peak, &peak, live, 1, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* A block bigger than the largest class (need bytes with its header and
 * alignment, the slot it is given): regions of its own, as many as it
 * needs, read-write up to its last page; the slot's size in pages is in
 * its header's next (never on a free list). Its pages are fresh, zeros. */
static void *huge_alloc(size_t n, uint64_t need, size_t align, uint32_t flags)
{
	uint64_t bytes = (need + ht_arena_page - 1) & ~(uint64_t)(ht_arena_page - 1);
	uint64_t k = (bytes + REGION_SIZE - 1) >> REGION_SHIFT;
	int64_t r;
	struct blk *b;

	if (k > nregions || bytes / ht_arena_page > UINT32_MAX)
		return NULL;
	r = take_regions(k);
	if (r < 0)
		return NULL;
	for (uint64_t j = 0; j < k; j++)
		__atomic_store_n(&tags[r + j], TAG_HUGE << TAG_SHIFT | (uint32_t)j, __ATOMIC_RELEASE);
	b = (struct blk *)region_at((uint64_t)r);
	if (mprotect(b, bytes, PROT_READ | PROT_WRITE) != 0) {
		give_regions((uint64_t)r, k);
		return NULL;
	}
	__atomic_fetch_add(&ht_arena_committed, bytes, __ATOMIC_RELAXED);
	add_live(bytes);
	b->size = n;
	b->flags = flags;
	b->next = (uint32_t)(bytes / ht_arena_page);
	return (void *)(((uintptr_t)b + HDR + align - 1) & ~(uintptr_t)(align - 1));
}

void *ht_arena_alloc_room(size_t n, size_t room, size_t align, uint32_t flags, int zero)
{
	uint64_t need, span = __atomic_load_n(&ht_hot.arena_span, __ATOMIC_ACQUIRE);
	struct blk *b;
	uintptr_t user;
	uint32_t was;
	int c, fresh = 0, kept = 0;

	if (ht_unlikely(!span) && !(span = ht_arena_reserve()))
		return NULL;
	if (align < HDR)
		align = HDR;
	if (n >= span || align >= span)
		return NULL; /* more than the whole arena: it cannot be */
	if (room < n || room >= span)
		room = n;
	/* a block of 0 bytes takes 1: its pointer, rounded up to align,
	 * must still lie inside its slot (at the slot's end it would be the
	 * next slot's, which its free would free). After either header the
	 * user's bytes are 16-aligned: a larger align pads up to align - 16. */
	need = SHDR + (room ? room : 1) + (align - HDR);
	c = align > REGION_SIZE / 8 ? -1 : class_for(need);
	if (c < 0 || !small_class(c)) {
		need += HDR - SHDR; /* a large slot's header, or a huge block's */
		if (c >= 0)
			c = class_for(need);
	}
	if (c < 0)
		return huge_alloc(n, need, align, flags);
	b = NULL;
	if (ht_arena_classes[c].slot_size >= RELEASE_MIN) {
		int k;

		int borrow = room > n ? BORROW_GROW : BORROW;

		for (k = c; !b && k <= c + borrow && k < nclasses; k++)
			b = pop(k, &ht_arena_classes[k].kept_head);
		if (b) {
			c = k - 1;
			kept = 1;
			__atomic_fetch_sub(&retained, ht_arena_classes[c].slot_size, __ATOMIC_RELAXED);
		}
	}
	if (!b)
		b = pop(c, &ht_arena_classes[c].free_head);
	if (!b && ht_arena_classes[c].slot_size >= BORROW_FREE_MIN) {
		/* a free slot of the next classes before a fresh one (see
		 * BORROW_FREE) */
		int k;

		for (k = c + 1; !b && k <= c + BORROW_FREE && k < nclasses; k++)
			b = pop(k, &ht_arena_classes[k].free_head);
		if (b)
			c = k - 1;
	}
	if (!b) {
		/* a fresh slot: in the class's last region, or a new one */
		struct class *k = &ht_arena_classes[c];
		uint64_t i = __atomic_fetch_add(&k->bump, 1, __ATOMIC_RELAXED);
		uint64_t ord = i / k->nslots, at = (i % k->nslots) * k->slot_size;
		int64_t r;

		if (ord >= k->maxord || (r = class_region(c, (uint32_t)ord)) < 0)
			return NULL;
		b = (struct blk *)(region_at((uint64_t)r) + k->lead + at);
		if (commit((uint64_t)r, k->lead + at + k->slot_size) != 0)
			return NULL;
		fresh = 1; /* never-touched pages read as zeros */
	}
	/* a kept slot may hold moved pages; a fresh one is not read (reading
	 * an untouched page, then writing it, faults twice) */
	was = fresh ? 0 : blk_flags(c, b);
	blk_set(c, b, n, (was & BLK_SPLIT) | flags | (kept ? BLK_KEPT : 0));
	add_live(ht_arena_classes[c].slot_size);
	user = ((uintptr_t)b + blk_hdr(c) + align - 1) & ~(uintptr_t)(align - 1);
	if (zero && !fresh) {
		size_t dirty = n;

		if (was & BLK_CLEAN) {
			uintptr_t clean = ((uintptr_t)b + HDR + ht_arena_page - 1) & ~(uintptr_t)(ht_arena_page - 1);

			dirty = user >= clean ? 0 : clean - user < n ? clean - user : n;
		}
		ht_arena_clear(user, dirty);
	}
	return (void *)user;
}

/* The slot holding p, and its class (-1: a huge block). A pointer into a
 * region no block holds (a free of a block freed before) has none: NULL.
 * Inline in the accessors below, which a sampled free or realloc and
 * every malloc_usable_size of an arena block make several of (redis at
 * rate 1 made ten million lookups, a call each). */
static inline __attribute__((always_inline)) struct blk *blk_of(const void *p, int *cls)
{
	uintptr_t off = (uintptr_t)p - ht_hot.arena_lo;
	uint64_t r = off >> REGION_SHIFT;
	uint32_t tag = __atomic_load_n(&tags[r], __ATOMIC_ACQUIRE);
	int c;

	*cls = -1;
	if (!tag)
		return NULL;
	if (tag >> TAG_SHIFT == TAG_HUGE)
		return (struct blk *)region_at(r - (tag & TAG_LOW));
	c = (int)(tag >> TAG_SHIFT) - 1;
	*cls = c;
	off &= REGION_SIZE - 1;
	if (off < ht_arena_classes[c].lead)
		return NULL; /* before the first slot: no block's */
	return (struct blk *)(region_at(r) + ht_arena_classes[c].lead +
			      (uintptr_t)slot_index(c, off) * ht_arena_classes[c].slot_size);
}

struct blk *ht_arena_blk_of(const void *p, int *cls)
{
	return blk_of(p, cls);
}

/* The regions of the huge block whose header is b, by their tags (which
 * only the shim writes, unlike the header, which lies next to another
 * block's bytes that a program may overrun). */
static uint64_t huge_regions(const struct blk *b)
{
	uint64_t r = ((uintptr_t)b - ht_hot.arena_lo) >> REGION_SHIFT, k = 0;

	while (r + k < nregions &&
	       __atomic_load_n(&tags[r + k], __ATOMIC_ACQUIRE) == (TAG_HUGE << TAG_SHIFT | (uint32_t)k))
		k++;
	return k;
}

/* The bytes of slot b of class c (-1: huge), its header's included; a
 * huge block's never past its regions. */
uint64_t ht_arena_slot_bytes(int c, const struct blk *b)
{
	uint64_t bytes, most;

	if (c >= 0)
		return ht_arena_classes[c].slot_size;
	bytes = (uint64_t)b->next * ht_arena_page;
	most = huge_regions(b) << REGION_SHIFT;
	return bytes < most ? bytes : most;
}

void ht_arena_retag(void *p, size_t n, uint32_t flags)
{
	int c;
	struct blk *b = blk_of(p, &c);

	if (!b)
		return;
	blk_set(c, b, n, (blk_flags(c, b) & BLK_SPLIT) | flags);
}

void ht_arena_mark(void *p, uint32_t flags)
{
	int c;
	struct blk *b = blk_of(p, &c);

	if (b)
		blk_set(c, b, blk_size(c, b), blk_flags(c, b) | (flags & ~BLK_OWN));
}

uint32_t ht_arena_flags(const void *p)
{
	int c;
	struct blk *b = blk_of(p, &c);

	return b ? blk_flags(c, b) & ~BLK_OWN : 0;
}

size_t ht_arena_size(const void *p)
{
	int c;
	struct blk *b = blk_of(p, &c);

	return b ? blk_size(c, b) : 0;
}

size_t ht_arena_usable(const void *p)
{
	int c;
	struct blk *b = blk_of(p, &c);

	return b ? (uintptr_t)b + ht_arena_slot_bytes(c, b) - (uintptr_t)p : 0;
}

/* Gives a huge block's regions back: mapped afresh, PROT_NONE, they hold
 * no pages and merge into the reservation again. If that fails (the
 * kernel's limit on mappings), they stay taken: the pages stay too, but
 * no block lands in a range that is not what it seems. bytes: its slot's
 * size (its header may be gone: see ht_arena_move). */
void ht_arena_huge_release(struct blk *b, uint32_t flags, uint64_t bytes)
{
	uint64_t k = huge_regions(b);
	uint64_t r = ((uintptr_t)b - ht_hot.arena_lo) >> REGION_SHIFT;

	__atomic_sub_fetch(&ht_arena_live, bytes, __ATOMIC_RELAXED);
	if (mmap(b, k << REGION_SHIFT, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != (void *)b)
		return;
	if (flags & BLK_SPLIT)
		__atomic_fetch_sub(&ht_arena_splits, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&ht_arena_committed, bytes, __ATOMIC_RELAXED);
	give_regions(r, k);
}

static void give_pages(int c, struct blk *b, uint32_t flags, int gone);

/* Returns slot b of class c, whose flags were flags, to its free lists.
 * gone: its pages were moved away. A slot holding moved pages keeps them
 * while it is kept for reuse, and is mapped afresh when it gives them
 * back: its pages go, and it merges into its region again. */
void ht_arena_release(int c, struct blk *b, uint32_t flags, int gone)
{
	size_t sz;
	uint32_t split = flags & BLK_SPLIT;
	uint64_t live;

	if (c < 0) {
		ht_arena_huge_release(b, flags, ht_arena_slot_bytes(c, b));
		return;
	}
	sz = ht_arena_classes[c].slot_size;
	live = __atomic_sub_fetch(&ht_arena_live, sz, __ATOMIC_RELAXED);

	blk_set(c, b, blk_size(c, b), split);
	if (!gone && sz >= RELEASE_MIN) {
		uint64_t lim = __atomic_load_n(&retain_max, __ATOMIC_RELAXED);
		uint64_t peak = __atomic_load_n(&live_peak, __ATOMIC_RELAXED);
		uint64_t below = peak > live ? peak - live : 0;

		if (lim < 2 * sz && lim < RETAIN_TOP) {
			lim = 2 * sz < RETAIN_TOP ? 2 * sz : RETAIN_TOP;
			__atomic_store_n(&retain_max, lim, __ATOMIC_RELAXED);
		}
		if (below > RETAIN_TOP - RETAIN_MIN)
			below = RETAIN_TOP - RETAIN_MIN;
		if (lim < below + RETAIN_MIN)
			lim = below + RETAIN_MIN;
		if (__atomic_add_fetch(&retained, sz, __ATOMIC_RELAXED) <= lim) {
			push(c, &ht_arena_classes[c].kept_head, b);
			return;
		}
		__atomic_fetch_sub(&retained, sz, __ATOMIC_RELAXED);
	}
	give_pages(c, b, flags, gone);
}

/* The end of ht_arena_release for a slot that keeps no pages: they go
 * back to the system (the header's page stays), and the slot to the
 * class's free list. */
static void give_pages(int c, struct blk *b, uint32_t flags, int gone)
{
	size_t sz = ht_arena_classes[c].slot_size;
	uint32_t split = flags & BLK_SPLIT;

	if (split) {
		if (mmap(b, sz, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != (void *)b)
			return; /* it may be unmapped now: never handed out again */
		__atomic_fetch_sub(&ht_arena_splits, 1, __ATOMIC_RELAXED);
		b->flags = BLK_CLEAN;
	} else if (gone) {
		b->flags = flags & BLK_CLEAN; /* its pages went; the rest too? */
	} else if (sz >= RELEASE_MIN) {
		/* give the pages back but keep the header's page (locked pages
		 * are not given back: the slot stays as it is) */
		uintptr_t from = ((uintptr_t)b + HDR + ht_arena_page - 1) & ~(uintptr_t)(ht_arena_page - 1);
		uintptr_t to = ((uintptr_t)b + sz) & ~(uintptr_t)(ht_arena_page - 1);

		if (to > from && madvise((void *)from, to - from, MADV_DONTNEED) == 0 &&
		    to == (uintptr_t)b + sz)
			b->flags = BLK_CLEAN;
	}
	push(c, &ht_arena_classes[c].free_head, b);
}

uint64_t ht_arena_trim(void)
{
	uint64_t given = 0;
	int c;

	if (!__atomic_load_n(&ht_hot.arena_span, __ATOMIC_ACQUIRE))
		return 0; /* nothing reserved, or not yet all of it */
	for (c = 0; c < nclasses; c++) {
		uint64_t sz = ht_arena_classes[c].slot_size;
		/* at most the slots kept now: frees that come meanwhile may
		 * keep theirs (this never loops forever behind them) */
		uint64_t n = __atomic_load_n(&retained, __ATOMIC_RELAXED) / sz + 1;
		struct blk *b;

		if (sz < RELEASE_MIN)
			continue;
		while (n-- > 0 && (b = pop(c, &ht_arena_classes[c].kept_head)) != NULL) {
			__atomic_fetch_sub(&retained, sz, __ATOMIC_RELAXED);
			give_pages(c, b, blk_flags(c, b), 0);
			given += sz;
		}
	}
	return given;
}

void ht_arena_free(void *p)
{
	int c;
	struct blk *b = blk_of(p, &c);

	if (b)
		ht_arena_release(c, b, blk_flags(c, b), 0);
}

