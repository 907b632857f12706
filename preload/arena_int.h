/* The arena's insides, shared by arena.c (regions, classes, slots) and
 * arena_move.c (large blocks that move by their pages). Nothing here is
 * seen outside the arena: see internal.h for its API. */
#ifndef HT_ARENA_INT_H
#define HT_ARENA_INT_H

#include <stdint.h>
#include <stddef.h>

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
/* Size classes (see make_classes in arena.c) */
#define CLASS_STEPS 8 /* per doubling from 256 bytes to 64 KiB */
#define CLASS_SHIFT 3  /* log2(CLASS_STEPS) */
#define LARGE_STEPS 4  /* per doubling above */
#define LARGE_SHIFT 2
#define MAX_CLASSES 192
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
/* A block of a class of 1 KiB or more whose class has no free slot takes
 * one of the next 2 classes' before a fresh slot: each class's count of
 * live blocks wanders, and fresh slots would follow each one's own highest
 * (an allocation stress at rate 1 held 6.5 MB, a tenth of its RSS, more).
 * Smaller classes hold many blocks each, which wander less for their
 * number; from 512 bytes on, borrowing cost redis at rate 1 8 MB. */
#define BORROW_FREE 2
#define BORROW_FREE_MIN 1024
#define BORROW 3 /* a large block may take a kept slot up to 3 classes bigger, */
#define BORROW_GROW 24 /* one given room to grow up to 24 (64 times its room) */
#define SPLIT_MAX 1024 /* slots holding moved pages at once (see move_pages) */
/* In a slot's flags, never seen outside this file: the slot holds pages
 * moved in by mremap, a mapping of its own (see move_pages). */
#define BLK_SPLIT 0x80000000u
/* The same, until the block is resized or freed: the slot was a kept one,
 * its pages are there (see ht_arena_move). */
#define BLK_KEPT 0x40000000u
/* A free large slot whose pages past the header's read as zeros (given
 * back, mapped afresh or moved away): calloc then clears only the rest of
 * the header's page, as glibc's calloc skips a fresh mmapped chunk
 * (clearing it all would fault in every page of a block the program may
 * never touch). */
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

extern struct class ht_arena_classes[MAX_CLASSES];
extern size_t ht_arena_page;
/* Slots that hold moved pages now; whether the kernel moves a range made
 * of several mappings (0 not known yet, 1 yes, -1 no); whether it moves
 * pages at all (MREMAP_DONTUNMAP, Linux 5.7). */
extern uint32_t ht_arena_splits;
extern int ht_arena_multi_ok, ht_arena_remap_off;

static inline uintptr_t region_at(uint64_t r)
{
	return ht_hot.arena_lo + ((uintptr_t)r << REGION_SHIFT);
}

/* The index of the slot holding offset off (>= its lead) of class c's
 * region. */
static inline uint32_t slot_index(int c, uintptr_t off)
{
	return (uint32_t)(((off - ht_arena_classes[c].lead) * ht_arena_classes[c].div_mul) >> ht_arena_classes[c].div_shift);
}

/* A slot's header, in either layout (see SFLAG_SHIFT); c < 0: huge. */
static inline int small_class(int c)
{
	return c >= 0 && ht_arena_classes[c].lead;
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

/* The slot holding p, and its class (-1: a huge block); NULL if no block
 * holds p. */
struct blk *ht_arena_blk_of(const void *p, int *cls);
/* The bytes of slot b of class c (-1: huge), its header's included. */
uint64_t ht_arena_slot_bytes(int c, const struct blk *b);
/* Gives a huge block's regions back (bytes: its slot's size). */
void ht_arena_huge_release(struct blk *b, uint32_t flags, uint64_t bytes);
/* Returns slot b of class c, whose flags were flags, to its free lists;
 * gone: its pages were moved away. */
void ht_arena_release(int c, struct blk *b, uint32_t flags, int gone);
/* Clears [p, p + n) of a slot handed out again for calloc, n bytes of
 * it: those on pages that may hold bytes, from 64 KiB on (arena_clear.c).
 * Keeps errno; safe in a signal handler, as the rest of the arena. */
void ht_arena_clear(uintptr_t p, size_t n);

#endif
