/* The sample arena: one reserved address range, cut into regions of
 * 256 MiB that size classes take on demand (a class as many as it needs)
 * and huge blocks take several at a time; sampled blocks are served from
 * them. free() knows a sampled block by a range compare, and the slot's
 * header (which only the shim writes) holds its size and flags. Lock-free
 * throughout: a signal handler that frees during an interrupted arena call
 * cannot deadlock. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "internal.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4 /* Linux 5.7; glibc before 2.32 lacks the name */
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define REGION_SHIFT 28 /* 256 MiB of address space per region */
#define REGION_SIZE ((uintptr_t)1 << REGION_SHIFT)
/* The range reserved: 8 times the machine's memory and swap, so that any
 * heap that fits in memory fits (slots waste up to a quarter, and a region
 * a class took stays its class's), at least 64 GiB, at most 16 TiB (the
 * address space of x86-64 is 128 TiB, and a PROT_NONE reservation costs
 * no memory), and no more than a quarter of RLIMIT_AS if that is set. */
#define REGIONS_MIN 256u
#define REGIONS_MAX (1u << 16)
#define REGIONS_LEAST 4u /* fewer could not be reserved: no arena */
/* Size classes: 32..128 in steps of 16, then CLASS_STEPS per doubling */
#define CLASS_STEPS 16
#define CLASS_SHIFT 4 /* log2(CLASS_STEPS) */
#define MAX_CLASSES 320
/* A region's tag (see tags): 0 free, else its class + 1 in the top bits
 * and the class's number for it below, or TAG_HUGE and how many regions
 * back the huge block starts. */
#define TAG_SHIFT 22
#define TAG_HUGE 0x3ffu
#define TAG_LOW ((1u << TAG_SHIFT) - 1)
_Static_assert(MAX_CLASSES < TAG_HUGE && REGIONS_MAX <= TAG_LOW, "tags hold classes and regions");
#define HDR 16          /* a large slot's header; user data follows */
#define SHDR 8          /* a small slot's (see struct class: lead) */
#define COMMIT_STEP ((uintptr_t)64 << 10)
#define RELEASE_MIN ((size_t)64 << 10) /* free slots this big may give pages back */
#define RETAIN_MIN ((uint64_t)8 << 20) /* ... once this much is kept for reuse, */
#define RETAIN_TOP ((uint64_t)128 << 20) /* or more (see retained), up to this */
#define BORROW 12 /* a large block may take a kept slot up to 12 classes bigger, */
#define BORROW_GROW 96 /* one that grows by realloc up to 96 (64 times its room) */
#define SPLIT_MAX 1024 /* slots holding moved pages at once (see move_pages) */
/* In a slot's flags, never seen outside this file: the slot holds pages
 * moved in by mremap, a mapping of its own (see move_pages). */
#define BLK_SPLIT 0x80000000u
/* The same, until the block is resized or freed: the slot was a kept one,
 * its pages are there (see ht_arena_move). */
#define BLK_KEPT 0x40000000u
/* A free large slot whose pages past the header's read as zeros (given
 * back, mapped afresh or moved away): calloc then clears only the rest of
 * the header's page, as glibc's calloc skips a fresh mmapped chunk;
 * clearing it all faulted every page in (128-512 KiB calloc blocks an
 * allocation stress never writes: a whole 1% of its instructions). */
#define BLK_CLEAN 0x20000000u
#define BLK_OWN (BLK_SPLIT | BLK_KEPT | BLK_CLEAN)

/* A large slot's header (and a huge block's). next links free slots:
 * slot index + 1, 0 = end; a huge block's holds its pages. */
struct blk {
	uint64_t size;
	uint32_t flags;
	uint32_t next;
};
_Static_assert(sizeof(struct blk) == HDR, "slot header size");
/* A small slot's header is one word, size | flags << SFLAG_SHIFT, as
 * glibc's chunk header is one: at rate 1 every block is in the arena, and
 * a 16-byte header cost python3's heap a fifth. Its slots start 8 bytes
 * into the region, so the user's bytes after the word are 16-aligned; a
 * free one links the list with the 4 bytes after the word. Small slots
 * never hold moved or kept pages: their flags fit 16 bits. */
#define SFLAG_SHIFT 48
#define SIZE_MASK (((uint64_t)1 << SFLAG_SHIFT) - 1)

struct class {
	uint64_t slot_size;   /* header included */
	/* offset in the region / slot_size = offset * div_mul >> div_shift,
	 * exactly for every offset below REGION_SIZE (a division costs
	 * 25-40 cycles, and a sampled free made four) */
	uint64_t div_mul;
	uint32_t div_shift;
	uint32_t nslots;      /* per region */
	uint32_t lead;        /* where the first slot starts: SHDR small, 0 large */
	/* A slot's index, in the free lists: the class's number for its
	 * region (ord, the order in which the class took them) above sbits
	 * bits of its place in the region; own[ord] is that region + 1 (0:
	 * not taken yet). Up to maxord regions, so that index + 1 fits 32
	 * bits: 128 GiB of the smallest slots, more of larger ones. */
	uint32_t sbits, maxord;
	uint32_t *own;
	uint64_t bump;        /* slots handed out from fresh memory (may overshoot) */
	uint64_t free_head;   /* (aba tag << 32) | (index + 1) */
	uint64_t kept_head;   /* free large slots that kept their pages, same form */
};

uint64_t ht_arena_live, ht_arena_committed;
/* Bytes of free large slots whose pages are kept: freeing a sampled large
 * block and getting it back soon is common (churn), and faulting its pages
 * in again cost more than the sampling (+15% on an allocation stress). A
 * large block takes a kept slot of its class, or of one of the next BORROW
 * classes, before fresh pages: sizes vary, and a kept slot that only its
 * own class could reuse would mostly wait. A block that grows by realloc
 * takes one up to BORROW_GROW classes bigger: a buffer grown again and
 * again from small to large then grows into the pages the last one left.
 * (16 classes were too few: whether the first 32 MiB buffer ended in a
 * 32 or a 64 MiB slot depended on where its samples fell, and a buffer
 * reached a 64 MiB one only past 2 MiB, after two or three more moves
 * into pages given back: 30 buffers took 13-22 mremaps or 83-105, and
 * faulted 350 or 780 pages each, at random, run to run.)
 * How much is kept follows the largest slot freed, as glibc's heap keeps
 * more once large blocks come back to it (its trim threshold follows its
 * mmap threshold, up to 64 MiB; slots are counted whole, and a grown
 * block's is up to twice its size, hence twice that here): a buffer of
 * 32 MiB grown and freed 50 times faulted in 395 thousand pages with
 * 8 MiB kept, 25 thousand with this (untraced, 16 thousand).
 * And as a heap stays about as big as it has been, with free room inside
 * it, the arena keeps pages while its live slots and kept ones add up to
 * at most its peak of live slots and RETAIN_MIN: a program whose sampled
 * large blocks come and go finds a kept slot of the class it asks for
 * more often. (An allocation stress program whose sampled blocks peak
 * at 11 MiB faulted 10-14 thousand pages into the arena with 8 MiB kept,
 * about 4 thousand with this, its pages of fresh slots: sys time 0.260 s
 * -> 0.235 s, untraced 0.253 s.) */
static uint64_t retained, retain_max = RETAIN_MIN, live_peak;
static struct class classes[MAX_CLASSES];
/* Slots that hold moved pages now; whether the kernel moves a range made
 * of several mappings (0 not known yet, 1 yes, -1 no); whether it moves
 * pages at all (MREMAP_DONTUNMAP, Linux 5.7). */
static uint32_t splits;
static int multi_ok;
static int remap_off;
static int nclasses;
static size_t page_size;
/* The regions: how many, each one's tag (see TAG_HUGE), the bytes from
 * its start that are read-write (a class's region), and a bit each for
 * those taken. */
static uint32_t nregions;
static uint32_t *tags;
static uint64_t *region_committed;
static uint64_t *taken;

/* Classes: 32..256 in steps of 16 (a slot size must keep the user's bytes
 * 16-aligned), then CLASS_STEPS per doubling up to a quarter of a region:
 * a slot wastes at most 1/CLASS_STEPS of itself above 256 bytes (a heap
 * of 4 KiB pages plus a header, as sqlite's page cache, lost 19% to four
 * steps), and every region holds >= 4 slots. */
#define SMALL_TOP 256
#define SMALL_CLASSES 15 /* 32, 48, ... 256 */
static void make_classes(void)
{
	uint64_t s;

	for (s = 32; s <= SMALL_TOP; s += 16)
		classes[nclasses++].slot_size = s;
	for (s = SMALL_TOP; nclasses < MAX_CLASSES; s *= 2) {
		uint64_t step = s / CLASS_STEPS, k;

		for (k = 1; k <= CLASS_STEPS && nclasses < MAX_CLASSES; k++) {
			uint64_t size = s + k * step;

			if (size > REGION_SIZE / 4)
				return;
			classes[nclasses++].slot_size = size;
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

int ht_arena_init(void)
{
	void *p = MAP_FAILED;
	char *meta;
	size_t own_total = 0, meta_size;
	uint32_t n;
	int i;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
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
		struct class *k = &classes[i];
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
		classes[i].own = (uint32_t *)(void *)meta;
		meta += (size_t)classes[i].maxord * sizeof(uint32_t);
	}
	nregions = n;
	ht_hot.arena_lo = (uintptr_t)p;
	__atomic_store_n(&ht_hot.arena_span, (uintptr_t)n << REGION_SHIFT, __ATOMIC_RELEASE);
	return 0;
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

static inline uintptr_t region_at(uint64_t r)
{
	return ht_hot.arena_lo + ((uintptr_t)r << REGION_SHIFT);
}

/* Class c's region number ord, taken now if it is not yet; -1 if no
 * region is free. */
static int64_t class_region(int c, uint32_t ord)
{
	struct class *k = &classes[c];
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
 * searched, since a search reads several classes[] entries, which
 * sampling, being rare, finds cold. Follows make_classes. */
static int class_for(size_t need)
{
	int c, e;
	uint64_t s;

	if (need <= 32)
		return 0;
	if (need <= SMALL_TOP)
		c = (int)((need - 32 + 15) / 16);
	else {
		e = 63 - __builtin_clzll((unsigned long long)need - 1); /* 2^e < need <= 2^(e+1) */
		s = (uint64_t)1 << e;
		c = SMALL_CLASSES + (e - 8) * CLASS_STEPS +
		    (int)((need - s + (s >> CLASS_SHIFT) - 1) >> (e - CLASS_SHIFT)) - 1;
	}
	return c < nclasses ? c : -1;
}

/* The index of the slot holding offset off (>= its lead) of class c's
 * region. */
static inline uint32_t slot_index(int c, uintptr_t off)
{
	return (uint32_t)(((off - classes[c].lead) * classes[c].div_mul) >> classes[c].div_shift);
}

/* A slot's header, in either layout (see SFLAG_SHIFT); c < 0: huge. */
static inline int small_class(int c)
{
	return c >= 0 && classes[c].lead;
}

static inline uint64_t blk_size(int c, const struct blk *b)
{
	return small_class(c) ? b->size & SIZE_MASK : b->size;
}

static inline uint32_t blk_flags(int c, const struct blk *b)
{
	return small_class(c) ? (uint32_t)(b->size >> SFLAG_SHIFT) : b->flags;
}

static inline void blk_set(int c, struct blk *b, uint64_t size, uint32_t flags)
{
	if (small_class(c)) {
		b->size = size | (uint64_t)flags << SFLAG_SHIFT;
	} else {
		b->size = size;
		b->flags = flags;
	}
}

/* Where a free slot's link lies: after a small slot's word, in what was
 * the user's. */
static inline uint32_t *blk_next(int c, struct blk *b)
{
	return small_class(c) ? (uint32_t *)(void *)((char *)b + SHDR) : &b->next;
}

static inline size_t blk_hdr(int c)
{
	return small_class(c) ? SHDR : HDR;
}

/* The slot of class c whose index (see struct class) is idx; its region
 * is taken. */
static inline struct blk *slot_at(int c, uint32_t idx)
{
	const struct class *k = &classes[c];
	uint32_t r = __atomic_load_n(&k->own[idx >> k->sbits], __ATOMIC_ACQUIRE) - 1;

	return (struct blk *)(region_at(r) + k->lead +
			      (uintptr_t)(idx & ((1u << k->sbits) - 1)) * k->slot_size);
}

/* The index of slot b of class c. */
static inline uint32_t index_of(int c, const struct blk *b)
{
	uintptr_t off = (uintptr_t)b - ht_hot.arena_lo;
	uint32_t ord = __atomic_load_n(&tags[off >> REGION_SHIFT], __ATOMIC_ACQUIRE) & TAG_LOW;

	return ord << classes[c].sbits | slot_index(c, off & (REGION_SIZE - 1));
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
	uint64_t bytes = (need + page_size - 1) & ~(uint64_t)(page_size - 1);
	uint64_t k = (bytes + REGION_SIZE - 1) >> REGION_SHIFT;
	int64_t r;
	struct blk *b;

	if (k > nregions || bytes / page_size > UINT32_MAX)
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
	b->next = (uint32_t)(bytes / page_size);
	return (void *)(((uintptr_t)b + HDR + align - 1) & ~(uintptr_t)(align - 1));
}

void *ht_arena_alloc_room(size_t n, size_t room, size_t align, uint32_t flags, int zero)
{
	uint64_t need, span = ht_hot.arena_span;
	struct blk *b;
	uintptr_t user;
	uint32_t was;
	int c, fresh = 0, kept = 0;

	if (!span)
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
	if (classes[c].slot_size >= RELEASE_MIN) {
		int k;

		int borrow = room > n ? BORROW_GROW : BORROW;

		for (k = c; !b && k <= c + borrow && k < nclasses; k++)
			b = pop(k, &classes[k].kept_head);
		if (b) {
			c = k - 1;
			kept = 1;
			__atomic_fetch_sub(&retained, classes[c].slot_size, __ATOMIC_RELAXED);
		}
	}
	if (!b)
		b = pop(c, &classes[c].free_head);
	if (!b) {
		/* a fresh slot: in the class's last region, or a new one */
		struct class *k = &classes[c];
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
	add_live(classes[c].slot_size);
	user = ((uintptr_t)b + blk_hdr(c) + align - 1) & ~(uintptr_t)(align - 1);
	if (zero && !fresh) {
		size_t dirty = n;

		if (was & BLK_CLEAN) {
			uintptr_t clean = ((uintptr_t)b + HDR + page_size - 1) & ~(uintptr_t)(page_size - 1);

			dirty = user >= clean ? 0 : clean - user < n ? clean - user : n;
		}
		memset((void *)user, 0, dirty);
	}
	return (void *)user;
}

/* The slot holding p, and its class (-1: a huge block). A pointer into a
 * region no block holds (a free of a block freed before) has none: NULL. */
static struct blk *blk_of(const void *p, int *cls)
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
	if (off < classes[c].lead)
		return NULL; /* before the first slot: no block's */
	return (struct blk *)(region_at(r) + classes[c].lead +
			      (uintptr_t)slot_index(c, off) * classes[c].slot_size);
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
static inline uint64_t slot_bytes(int c, const struct blk *b)
{
	uint64_t bytes, most;

	if (c >= 0)
		return classes[c].slot_size;
	bytes = (uint64_t)b->next * page_size;
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

	return b ? (uintptr_t)b + slot_bytes(c, b) - (uintptr_t)p : 0;
}

/* Whether one mremap moves a range made of several mappings (recent
 * kernels do; older ones refuse), tried once on a mapping of its own: a slot that received
 * moved pages is such a range when it moves on. An older kernel may
 * unmap the destination before it refuses, so a failed try leaves the
 * probe mapped, never unmapping what another thread may have mapped
 * into the hole meanwhile. */
static int probe_multi(void)
{
	size_t ps = page_size;
	char *m = mmap(NULL, 6 * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int ok = 0;

	if (m == MAP_FAILED)
		return 0;
	m[0] = 1;
	m[2 * ps] = 3;
	m[4 * ps] = 2;
	/* page 4 moved onto page 1 makes [0, 3) three mappings */
	if (mremap(m + 4 * ps, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		   m + ps) == m + ps &&
	    mremap(m, 3 * ps, 3 * ps, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		   m + 3 * ps) == m + 3 * ps)
		ok = m[3 * ps] == 1 && m[4 * ps] == 2 && m[5 * ps] == 3;
	if (ok)
		munmap(m, 6 * ps);
	return ok;
}

/* Maps [at, at + len) again if a failed mremap left it unmapped; a range
 * still mapped stays as it is. */
static void refill(void *at, size_t len)
{
	void *r = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);

	if (r != MAP_FAILED && r != at)
		munmap(r, len); /* a kernel before 4.17 took the address as a hint */
}

/* Moves the first len bytes of slot src to slot dst (both page aligned,
 * len a page multiple) by their pages. MREMAP_DONTUNMAP leaves src mapped
 * with its pages gone, so the arena never has a hole another mapping
 * could take. dst then holds a mapping of its own: at most SPLIT_MAX
 * slots do at once (each adds a few to the process's mappings, which the
 * kernel limits), and freeing one maps it afresh, which merges it back
 * into its region. Returns 0 if moved, -1 if the bytes must be copied. */
static int move_pages(struct blk *src, uint32_t src_flags, struct blk *dst, size_t len)
{
	int e;

	if (__atomic_load_n(&remap_off, __ATOMIC_RELAXED))
		return -1;
	if (src_flags & BLK_SPLIT) {
		int m = __atomic_load_n(&multi_ok, __ATOMIC_RELAXED);

		if (!m) {
			m = probe_multi() ? 1 : -1;
			__atomic_store_n(&multi_ok, m, __ATOMIC_RELAXED);
		}
		if (m < 0)
			return -1;
	}
	if (__atomic_add_fetch(&splits, 1, __ATOMIC_RELAXED) > SPLIT_MAX) {
		__atomic_fetch_sub(&splits, 1, __ATOMIC_RELAXED);
		return -1;
	}
	if (mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst) ==
	    (void *)dst)
		return 0;
	e = errno;
	__atomic_fetch_sub(&splits, 1, __ATOMIC_RELAXED);
	if (e == EINVAL)
		__atomic_store_n(&remap_off, 1, __ATOMIC_RELAXED); /* before Linux 5.7 */
	refill(dst, len);
	return -1;
}

/* Gives a huge block's regions back: mapped afresh, PROT_NONE, they hold
 * no pages and merge into the reservation again. If that fails (the
 * kernel's limit on mappings), they stay taken: the pages stay too, but
 * no block lands in a range that is not what it seems. bytes: its slot's
 * size (its header may be gone: see ht_arena_move). */
static void huge_release(struct blk *b, uint32_t flags, uint64_t bytes)
{
	uint64_t k = huge_regions(b);
	uint64_t r = ((uintptr_t)b - ht_hot.arena_lo) >> REGION_SHIFT;

	__atomic_sub_fetch(&ht_arena_live, bytes, __ATOMIC_RELAXED);
	if (mmap(b, k << REGION_SHIFT, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != (void *)b)
		return;
	if (flags & BLK_SPLIT)
		__atomic_fetch_sub(&splits, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&ht_arena_committed, bytes, __ATOMIC_RELAXED);
	give_regions(r, k);
}

/* Returns slot b of class c, whose flags were flags, to its free lists.
 * gone: its pages were moved away. A slot holding moved pages keeps them
 * while it is kept for reuse, and is mapped afresh when it gives them
 * back: its pages go, and it merges into its region again. */
static void release(int c, struct blk *b, uint32_t flags, int gone)
{
	size_t sz;
	uint32_t split = flags & BLK_SPLIT;
	uint64_t live;

	if (c < 0) {
		huge_release(b, flags, slot_bytes(c, b));
		return;
	}
	sz = classes[c].slot_size;
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
			push(c, &classes[c].kept_head, b);
			return;
		}
		__atomic_fetch_sub(&retained, sz, __ATOMIC_RELAXED);
	}
	if (split) {
		if (mmap(b, sz, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != (void *)b)
			return; /* it may be unmapped now: never handed out again */
		__atomic_fetch_sub(&splits, 1, __ATOMIC_RELAXED);
		b->flags = BLK_CLEAN;
	} else if (gone) {
		b->flags = flags & BLK_CLEAN; /* its pages went; the rest too? */
	} else if (sz >= RELEASE_MIN) {
		/* give the pages back but keep the header's page (locked pages
		 * are not given back: the slot stays as it is) */
		uintptr_t from = ((uintptr_t)b + HDR + page_size - 1) & ~(uintptr_t)(page_size - 1);
		uintptr_t to = ((uintptr_t)b + sz) & ~(uintptr_t)(page_size - 1);

		if (to > from && madvise((void *)from, to - from, MADV_DONTNEED) == 0 &&
		    to == (uintptr_t)b + sz)
			b->flags = BLK_CLEAN;
	}
	push(c, &classes[c].free_head, b);
}

void ht_arena_free(void *p)
{
	int c;
	struct blk *b = blk_of(p, &c);

	if (b)
		release(c, b, blk_flags(c, b), 0);
}

/* Copying into pages that are there costs less than moving pages up to
 * about 1 MiB; faulting pages in costs more than moving them from 64 KiB
 * on (2 vCPUs, Linux 6.18: a move and the remap that heals it 10-20 us at
 * any size to 8 MiB; a copy 1.2 us per 64 KiB into pages that are there,
 * 36 us into pages that are not). */
void ht_arena_move(void *p, void *q, size_t n)
{
	int cs, cd;
	struct blk *s = blk_of(p, &cs), *d = blk_of(q, &cd);
	uint64_t ss = slot_bytes(cs, s), ds = slot_bytes(cd, d);
	size_t usable = (uintptr_t)s + ss - (uintptr_t)p;
	size_t copy = n < usable ? n : usable;
	size_t len = (HDR + copy + page_size - 1) & ~(page_size - 1);
	uint32_t sflags = blk_flags(cs, s), dkept = blk_flags(cd, d) & BLK_KEPT;
	uint64_t dsize = blk_size(cd, d);
	uint32_t dflags = blk_flags(cd, d) & ~BLK_KEPT, dnext = d->next;

	/* data at the same offset in both large slots, whole pages in both */
	if (copy >= (dkept ? HT_MOVE_MIN : HT_MOVE_COLD_MIN) &&
	    (uintptr_t)p == (uintptr_t)s + HDR && (uintptr_t)q == (uintptr_t)d + HDR &&
	    ss % page_size == 0 && ds % page_size == 0 &&
	    move_pages(s, sflags, d, len) == 0) {
		/* the moved first page brought the old header along */
		d->size = dsize;
		d->flags = dflags | BLK_SPLIT;
		d->next = dnext;
		if (cs < 0) {
			huge_release(s, sflags, ss);
			return;
		}
		/* a block that shrank left the rest of its pages behind */
		if (len < ss && madvise((char *)s + len, ss - len, MADV_DONTNEED) != 0)
			sflags &= ~BLK_CLEAN;
		else
			sflags |= BLK_CLEAN;
		release(cs, s, sflags, 1);
		return;
	}
	blk_set(cd, d, dsize, dflags);
	memcpy(q, p, copy);
	release(cs, s, sflags, 0);
}
