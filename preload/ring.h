/* The shared-memory protocol between the shim and its collector: one memfd
 * holding a header, per-thread exact counters, and a multi-producer,
 * single-consumer ring of variable-length event records. Both sides include
 * this header; every layout is fixed-width and checked below. */
#ifndef HT_RING_H
#define HT_RING_H

#include <stddef.h>
#include <stdint.h>

#define HT_SHM_MAGIC   0x3168736d74726868ull /* "hhrtmsh1" */
#define HT_SHM_VERSION 10
#define HT_MAX_DEPTH   256  /* HEAPTRACE_DEPTH is clamped to this */
#define HT_PATH_MAX    1024 /* longest module path carried in an event */
#define HT_CMDLINE_MAX 2048
#define HT_SHM_HDR_SIZE 16384 /* bytes reserved for struct ht_shm */
#define HT_NOTE_MAX    512  /* longest note on why nothing is traced */

/* Per-thread exact counters. Each is written by one thread only (plain
 * relaxed stores) and read by the collector at snapshot time. A slot whose
 * thread has exited is folded into ht_shm.retired and reused. */
struct ht_slot {
	uint64_t alloc_calls;
	uint64_t free_calls;
	uint64_t realloc_calls;
	uint64_t alloc_bytes;
	uint32_t in_use;  /* 1 while a thread owns the slot */
	uint32_t pad0;
	uint64_t walks_fp;     /* stacks walked by frame pointers (stacks.c) */
	uint64_t walks_unwind; /* ... and by libunwind */
	uint64_t walks_cut;    /* ... cut short: libunwind not loaded (unwind.c) */
};
_Static_assert(sizeof(struct ht_slot) == 64, "ht_slot is one cache line");

/* Event kinds. */
enum {
	HT_EV_PAD = 1,    /* filler up to the end of the ring: skip */
	HT_EV_ALLOC = 2,  /* struct ht_ev_alloc + nframes uint64_t return addresses, leaf first */
	HT_EV_FREE = 3,   /* struct ht_ev_free; the header's nframes holds HT_FREE_* flags */
	HT_EV_MODULE = 4, /* struct ht_ev_module + path bytes (no NUL) */
	HT_EV_EXIT = 5,   /* no payload: the program is exiting normally */
	HT_EV_SNAPSHOT = 6, /* no payload: the program asks for a snapshot now (reserved) */
	HT_EV_STACK = 7,  /* struct ht_ev_stack + nframes return addresses: defines a stack id */
	HT_EV_ALLOC_ID = 8, /* struct ht_ev_alloc_id: an allocation at a stack defined before */
};

/* Stack ids are numbered from 1 by the shim, in the order it defines them;
 * a STACK event comes before (in ring order) every ALLOC_ID naming it. */
#define HT_MAX_STACK_ID (1u << 24)

/* Every record starts with this header and is a multiple of HT_RING_ALIGN bytes long.
 * A record is complete when its tag equals its absolute position in the
 * ring (the byte count written before it, which also serves as its sequence
 * number) plus one, so that zeroed memory never reads as a record; the
 * producer stores the tag last, with release order. */
struct ht_rec {
	uint64_t tag;
	uint32_t len;      /* whole record, header included */
	uint16_t kind;     /* HT_EV_* */
	uint16_t nframes;  /* HT_EV_ALLOC: frames that follow; HT_EV_FREE: HT_FREE_* */
};
_Static_assert(sizeof(struct ht_rec) == 16, "record header layout");

/* time_ns in the events of sampled blocks: CLOCK_MONOTONIC, which the
 * collector reads too, so that lifetimes and ages need no other clock. */
struct ht_ev_alloc {
	struct ht_rec h;
	uint64_t addr;  /* the pointer returned to the program */
	uint64_t size;  /* bytes requested */
	int64_t time_ns; /* when it was made */
};
_Static_assert(sizeof(struct ht_ev_alloc) == 40, "alloc event layout");

struct ht_ev_stack {
	struct ht_rec h;
	uint32_t id;
	uint32_t pad;
};
_Static_assert(sizeof(struct ht_ev_stack) == 24, "stack event layout");

struct ht_ev_alloc_id {
	struct ht_rec h;
	uint64_t addr;
	uint64_t size;
	uint32_t id;
	uint32_t pad;
	int64_t time_ns;
};
_Static_assert(sizeof(struct ht_ev_alloc_id) == 48, "alloc-by-id event layout");

struct ht_ev_free {
	struct ht_rec h;
	uint64_t addr;
	int64_t time_ns; /* when it was freed */
};
_Static_assert(sizeof(struct ht_ev_free) == 32, "free event layout");

/* A FREE's flags (in its header's nframes). */
enum {
	/* the block is temporary: freed by the thread that made it before
	 * that thread made any other allocation (a realloc's new block is
	 * one, so a realloc's free of the old block never is) */
	HT_FREE_TEMP = 1,
};

struct ht_ev_module {
	struct ht_rec h;
	uint64_t start, end;   /* mapped range of the module's loadable segments */
	uint64_t bias;         /* load bias (dlpi_addr) */
	uint8_t build_id[32];
	uint32_t build_id_len;
	uint32_t path_len;     /* bytes of path following this struct */
};
_Static_assert(sizeof(struct ht_ev_module) == 80, "module event layout");

/* The header at offset 0 of the shared memory. Fields written by one side
 * only are grouped; the hot atomics sit on their own cache lines. */
struct ht_shm {
	/* written once by the shim before the collector starts */
	uint64_t magic;
	uint32_t version;
	uint32_t max_depth;
	uint64_t size;           /* whole mapping */
	uint64_t ring_offset;    /* from the start of the mapping */
	uint64_t ring_size;      /* power of two */
	uint64_t slots_offset;
	uint64_t nslots;
	uint64_t rate;
	int64_t pid;
	int64_t start_time_ns;
	char exe[HT_PATH_MAX];
	char cmdline[HT_CMDLINE_MAX];
	char output[HT_PATH_MAX]; /* final snapshot path, absolute */
	uint32_t output_default;  /* 1: not chosen by the user, so never replace a file */
	uint32_t forked;          /* 1: a forked child (HEAPTRACE_FOLLOW_FORK); it frees
				   * blocks its parent sampled, which are not errors */
	char untraced[HT_NOTE_MAX]; /* "": the program's malloc is the shim's; else why
				     * it is not (one line: nothing is traced) */
	uint32_t attached;        /* 1: loaded into the running process (heaptrace -p);
				   * start_time_ns is the attach's time */
	uint32_t pad0;
	int64_t attach_heap;      /* then: the allocator's bytes in use, -1 unknown */

	/* producer reservation point (absolute byte count), shim threads only */
	_Alignas(64) uint64_t head;
	/* consumer position (absolute byte count), collector only */
	_Alignas(64) uint64_t tail;

	/* shim-side counters, atomics */
	_Alignas(64) uint64_t drop_alloc;
	uint64_t drop_free;
	uint64_t drop_other;
	uint64_t arena_full;
	uint64_t retired[4];     /* counts of exited threads: alloc, free, realloc, bytes */
	uint32_t next_slot;      /* slots handed out so far (high-water mark) */
	uint32_t exiting;        /* 1: the shim wrote HT_EV_EXIT and waits for done */
	uint32_t detached;       /* 1: heaptrace -p stopped tracing (with exiting, no
				  * EXIT event): the program runs on */
	uint32_t pad_detached;
	uint64_t retired_walks[3]; /* exited threads' walks_fp, walks_unwind, walks_cut */

	/* allocator statistics, refreshed by the shim at a sampled allocation
	 * when the collector asks (stats_wanted), and at exit; a seqlock:
	 * stats_seq is odd while the shim writes */
	_Alignas(64) uint64_t stats_seq;
	uint32_t allocator;      /* HT_ALLOCATOR_* */
	uint32_t pad1;
	int64_t stats_time_ns;   /* CLOCK_REALTIME of the last refresh */
	uint64_t stats[8];       /* see HT_GLIBC_* and HT_JEMALLOC_* */

	/* the signal-triggered snapshots asked for so far (HEAPTRACE_SIGNAL) */
	uint32_t snap_requests;

	/* the collector's sleep between drains: it sets sleeping before it
	 * waits; a writer that finds the ring a quarter full (or writes the
	 * EXIT event) clears it, bumps kick and wakes the futex on kick */
	_Alignas(64) uint32_t sleeping;
	uint32_t kick;

	/* collector-side */
	_Alignas(64) uint32_t done;  /* futex word: 1 when the final snapshot is on disk */
	uint32_t collector_ready;    /* 1 once the collector drains the ring */
	uint32_t stats_wanted;       /* 1: read the allocator's figures (shim clears it) */

	/* trimming (heaptrace-dump --trim): the collector sets trim_wanted
	 * and bumps trim_kick, a futex word the shim's helper thread waits
	 * on; whichever thread of the shim exchanges trim_wanted to 0 first
	 * trims, and the collector takes it back the same way when it stops
	 * waiting. The shim's record of its last trim is a seqlock (trim_seq
	 * odd while it writes); trim_count is the trims done so far. */
	_Alignas(64) uint32_t trim_wanted;
	uint32_t trim_kick;
	uint64_t trim_seq;
	uint32_t trim_count;
	uint32_t trim_what;          /* HT_TRIM_* done by the last one */
	int64_t trim_time_ns;        /* CLOCK_REALTIME when it began */
	int64_t trim_took_ns;        /* how long it took */
	uint64_t trim_rss_before, trim_rss_after; /* bytes */
	uint64_t trim_stats_before[8], trim_stats_after[8]; /* as stats[] */
};

/* What a trim did (ht_shm.trim_what). */
enum {
	HT_TRIM_GLIBC = 1,      /* malloc_trim(0) */
	HT_TRIM_JEMALLOC = 2,   /* arena.<all>.purge */
	HT_TRIM_TCMALLOC = 4,   /* MallocExtension_ReleaseFreeMemory */
	HT_TRIM_ARENA = 8,      /* the shim's arena gave its kept pages back */
};

/* What ht_shm.stats holds, by allocator. */
enum { HT_ALLOCATOR_UNKNOWN, HT_ALLOCATOR_GLIBC, HT_ALLOCATOR_JEMALLOC };
enum { HT_GLIBC_ARENA, HT_GLIBC_IN_USE, HT_GLIBC_FREE, HT_GLIBC_MMAP, HT_GLIBC_TOP_PAD };
enum { HT_JEMALLOC_ALLOCATED, HT_JEMALLOC_ACTIVE, HT_JEMALLOC_RESIDENT,
       HT_JEMALLOC_RETAINED, HT_JEMALLOC_MAPPED, HT_JEMALLOC_METADATA };
/* Sampled blocks live in the shim's arena, outside the allocator's figures. */
enum { HT_ARENA_LIVE = 6, HT_ARENA_COMMITTED = 7 };

#define HT_RING_ALIGN 16u /* so the space left before the ring's end always fits a header */

/* Bytes a record of payload size n takes in the ring. */
static inline uint32_t ht_rec_len(uint32_t n)
{
	return (n + HT_RING_ALIGN - 1) & ~(HT_RING_ALIGN - 1);
}

/* The longest record other than PAD: an ALLOC or a STACK with the most
 * frames, or a MODULE with the longest path. The collector copies each
 * record into a buffer of this size before it reads it. */
#define HT_REC_MAX 2096u
_Static_assert(HT_REC_MAX >= sizeof(struct ht_ev_alloc) + HT_MAX_DEPTH * 8 &&
	       HT_REC_MAX >= sizeof(struct ht_ev_stack) + HT_MAX_DEPTH * 8 &&
	       HT_REC_MAX >= sizeof(struct ht_ev_module) + HT_PATH_MAX &&
	       HT_REC_MAX % HT_RING_ALIGN == 0, "longest record");

/* One side's own view of the ring. The geometry is copied once, by the
 * shim when it lays the memory out and by the collector when it maps it,
 * and never read back from the shared header: the other process can
 * change that header at any time, and so can whoever may write to the
 * other process's memory (ptrace). Only head and tail are read from it,
 * and neither is trusted as an index. */
struct ht_ring {
	struct ht_shm *h; /* the shared header: head, tail */
	char *data;       /* the ring's first byte */
	uint64_t size;    /* bytes, a power of two, a multiple of HT_RING_ALIGN */
	/* producers: the tail as last read. The collector stores tail at
	 * every drain, so that reading it at every record costs a cache
	 * line from the other core; it is read again only when this one
	 * says the ring has no room (the tail only moves on). */
	uint64_t tail_seen;
};

/* Producer: tries once to reserve len bytes (a multiple of HT_RING_ALIGN,
 * at least a header and at most half the ring) in the ring rg. Returns
 * where to write the record, with *pos its position, or NULL if the ring
 * is full. Lock-free; any number of threads. If the record would run past
 * the ring's end, the rest of the ring is filled with a PAD record in the
 * same step. Whatever head and tail hold, the record returned lies inside
 * the ring: a head that is not a multiple of HT_RING_ALIGN (the header was
 * written by someone else) is rounded up, and the collector skips the gap
 * and counts it. */
static inline struct ht_rec *ht_ring_reserve(struct ht_ring *rg, uint32_t len,
					     uint64_t *pos)
{
	struct ht_shm *h = rg->h;
	uint64_t size = rg->size, mask = size - 1;
	uint64_t head = __atomic_load_n(&h->head, __ATOMIC_RELAXED);

	*pos = 0;
	if (len < sizeof(struct ht_rec) || len > size / 2 || len % HT_RING_ALIGN)
		return NULL;
	for (;;) {
		uint64_t start = (head + HT_RING_ALIGN - 1) & ~(uint64_t)(HT_RING_ALIGN - 1);
		uint64_t off = start & mask;
		uint64_t pad = off + len > size ? size - off : 0;
		uint64_t tail = __atomic_load_n(&rg->tail_seen, __ATOMIC_ACQUIRE);

		if (start + pad + len - tail > size) {
			tail = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
			if (start + pad + len - tail > size)
				return NULL;
			/* release: a thread that reads it writes after the
			 * collector read what it overwrites, as this one */
			__atomic_store_n(&rg->tail_seen, tail, __ATOMIC_RELEASE);
		}
		if (__atomic_compare_exchange_n(&h->head, &head, start + pad + len, 1,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			if (pad) {
				struct ht_rec *p = (struct ht_rec *)(rg->data + off);

				p->len = (uint32_t)pad;
				p->kind = HT_EV_PAD;
				p->nframes = 0;
				__atomic_store_n(&p->tag, start + 1, __ATOMIC_RELEASE);
			}
			*pos = start + pad;
			return (struct ht_rec *)(rg->data + ((start + pad) & mask));
		}
	}
}

/* Producer: publishes a record written at r (reserved at pos). */
static inline void ht_ring_commit(struct ht_rec *r, uint64_t pos, uint32_t len,
				  int kind, int nframes)
{
	r->len = len;
	r->kind = (uint16_t)kind;
	r->nframes = (uint16_t)nframes;
	__atomic_store_n(&r->tag, pos + 1, __ATOMIC_RELEASE);
}

/* Consumer: the complete record at position pos (a multiple of
 * HT_RING_ALIGN), or NULL if the record there is not complete yet (or
 * nothing is there). The record is the other process's memory: the caller
 * copies it before it checks it (see collector/ringread.h). */
static inline const struct ht_rec *ht_ring_peek(const struct ht_ring *rg, uint64_t pos)
{
	const struct ht_rec *r = (const struct ht_rec *)(rg->data + (pos & (rg->size - 1)));

	if (__atomic_load_n(&r->tag, __ATOMIC_ACQUIRE) != pos + 1)
		return NULL;
	return r;
}

#endif
