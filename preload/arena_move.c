/* Large arena blocks that move by their pages: realloc's copy inside the
 * arena (ht_arena_move) hands a big block's pages to its new slot with
 * mremap, as glibc's realloc moves a large mmapped chunk, instead of
 * copying them. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "arena_int.h"

/* Whether one mremap moves a range made of several mappings (recent
 * kernels do; older ones refuse), tried once on a mapping of its own: a slot that received
 * moved pages is such a range when it moves on. An older kernel may
 * unmap the destination before it refuses, so a failed try leaves the
 * probe mapped, never unmapping what another thread may have mapped
 * into the hole meanwhile. */
static int probe_multi(void)
{
	size_t ps = ht_arena_page;
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

	if (__atomic_load_n(&ht_arena_remap_off, __ATOMIC_RELAXED))
		return -1;
	if (src_flags & BLK_SPLIT) {
		int m = __atomic_load_n(&ht_arena_multi_ok, __ATOMIC_RELAXED);

		if (!m) {
			m = probe_multi() ? 1 : -1;
			__atomic_store_n(&ht_arena_multi_ok, m, __ATOMIC_RELAXED);
		}
		if (m < 0)
			return -1;
	}
	if (__atomic_add_fetch(&ht_arena_splits, 1, __ATOMIC_RELAXED) > SPLIT_MAX) {
		__atomic_fetch_sub(&ht_arena_splits, 1, __ATOMIC_RELAXED);
		return -1;
	}
	if (mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst) ==
	    (void *)dst)
		return 0;
	e = errno;
	__atomic_fetch_sub(&ht_arena_splits, 1, __ATOMIC_RELAXED);
	if (e == EINVAL)
		__atomic_store_n(&ht_arena_remap_off, 1, __ATOMIC_RELAXED); /* before Linux 5.7 */
	refill(dst, len);
	return -1;
}

/* Copying into pages that are there costs less than moving pages up to
 * about 1 MiB (HT_MOVE_MIN); faulting pages in costs more than moving
 * them from 64 KiB on (HT_MOVE_COLD_MIN): a move costs about the same at
 * any size, a copy grows with the size and more into absent pages. */
void ht_arena_move(void *p, void *q, size_t n)
{
	int cs, cd;
	struct blk *s = ht_arena_blk_of(p, &cs), *d = ht_arena_blk_of(q, &cd);
	uint64_t ss = ht_arena_slot_bytes(cs, s), ds = ht_arena_slot_bytes(cd, d);
	size_t usable = (uintptr_t)s + ss - (uintptr_t)p;
	size_t copy = n < usable ? n : usable;
	size_t len = (HDR + copy + ht_arena_page - 1) & ~(ht_arena_page - 1);
	uint32_t sflags = blk_flags(cs, s), dkept = blk_flags(cd, d) & BLK_KEPT;
	uint64_t dsize = blk_size(cd, d);
	uint32_t dflags = blk_flags(cd, d) & ~BLK_KEPT, dnext = d->next;

	/* data at the same offset in both large slots, whole pages in both */
	if (copy >= (dkept ? HT_MOVE_MIN : HT_MOVE_COLD_MIN) &&
	    (uintptr_t)p == (uintptr_t)s + HDR && (uintptr_t)q == (uintptr_t)d + HDR &&
	    ss % ht_arena_page == 0 && ds % ht_arena_page == 0 &&
	    move_pages(s, sflags, d, len) == 0) {
		/* the moved first page brought the old header along */
		d->size = dsize;
		d->flags = dflags | BLK_SPLIT;
		d->next = dnext;
		if (cs < 0) {
			ht_arena_huge_release(s, sflags, ss);
			return;
		}
		/* a block that shrank left the rest of its pages behind */
		if (len < ss && madvise((char *)s + len, ss - len, MADV_DONTNEED) != 0)
			sflags &= ~BLK_CLEAN;
		else
			sflags |= BLK_CLEAN;
		ht_arena_release(cs, s, sflags, 1);
		return;
	}
	blk_set(cd, d, dsize, dflags);
	memcpy(q, p, copy);
	ht_arena_release(cs, s, sflags, 0);
}
