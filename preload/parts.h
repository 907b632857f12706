/* The sampled path's parts, timed, for scripts/bench: a build of the shim
 * of its own (make preload/libheaptrace-parts.so, built with -DHT_PARTS)
 * counts the calls and the cycles (the TSC) of each part, each thread in
 * its own counters, folded into the process's at the thread's exit, and
 * prints them when the process ends (parts.c). The parts are disjoint:
 * none times another. The shim that make builds has none of it. */
#ifndef HT_PARTS_H
#define HT_PARTS_H

#include <stdint.h>

enum ht_part {
	HT_PART_ARENA_MALLOC, /* a sampled block's slot (malloc, realloc) */
	HT_PART_ARENA_CALLOC, /* the same for calloc, with its clearing */
	HT_PART_STACK,        /* its stack: the thread's cache, or a walk */
	HT_PART_ALLOC_EVENT,  /* its ALLOC record in the ring */
	HT_PART_FREE_EVENT,   /* its FREE record */
	HT_PART_ARENA_FREE,   /* its slot given back */
	HT_PART_COPY,         /* a realloc's copy into or out of the arena */
	HT_NPARTS
};

#ifdef HT_PARTS
uint64_t ht_part_now(void);
void ht_part_add(enum ht_part k, uint64_t since, uint64_t bytes);
void ht_parts_fold(void);
/* stmt, timed as part k (bytes: what it copied, 0 if nothing) */
#define HT_PART(k, bytes, stmt)                                                                    \
	do {                                                                                       \
		uint64_t part_t0_ = ht_part_now();                                                 \
		stmt;                                                                              \
		ht_part_add(k, part_t0_, bytes);                                                   \
	} while (0)
#define HT_PARTS_FOLD() ht_parts_fold()
#else
#define HT_PART(k, bytes, stmt)                                                                    \
	do {                                                                                       \
		stmt;                                                                              \
	} while (0)
#define HT_PARTS_FOLD() ((void)0)
#endif

#endif
