/* The collector's live profile: events from the ring folded into stacks
 * with the four counters, the blocks still live, and the module map, and
 * turned into a snapshot on demand. Single-threaded: the collector's loop
 * owns it. */
#ifndef HT_PROFILE_H
#define HT_PROFILE_H

#include <stdint.h>

#include "snapshot/snapshot.h"

struct ht_profile;
struct ht_symbolizer;

/* New empty profile for a process sampled at rate bytes. NULL on OOM. */
struct ht_profile *ht_profile_new(uint64_t rate);
void ht_profile_free(struct ht_profile *p);

/* A sampled allocation of size bytes at addr, made at time_ns
 * (CLOCK_MONOTONIC), with its stack (return addresses, leaf first). An
 * ALLOC over a live address means its FREE was lost: the old block is
 * retired and counted as unmatched. Returns 0, or -1 on out-of-memory (the
 * event is counted as unmatched). Its stack's size cell counts it. */
int ht_profile_alloc(struct ht_profile *p, uint64_t addr, uint64_t size, int64_t time_ns,
		     const uint64_t *frames, uint32_t nframes);

/* Stack id (1 .. HT_MAX_STACK_ID) of the shim names these frames from now
 * on, bound to the modules loaded now. Returns 0, or -1 on a bad id or OOM. */
int ht_profile_stack(struct ht_profile *p, uint32_t id, const uint64_t *frames, uint32_t nframes);

/* As ht_profile_alloc, at the stack of a stack id. An id never defined
 * counts the event as unmatched. */
int ht_profile_alloc_id(struct ht_profile *p, uint64_t addr, uint64_t size, int64_t time_ns,
			uint32_t id);

/* The free of a sampled block at time_ns; temp: the shim found it
 * temporary (HT_FREE_TEMP). Its stack's lifetime cell counts it, and its
 * temp_* counters if temp. A FREE of an address with no live block is
 * counted as unmatched and otherwise ignored. */
void ht_profile_release(struct ht_profile *p, uint64_t addr, int64_t time_ns, int temp);

/* A hint only: addr's event comes soon, so its slot of the live table is
 * loaded meanwhile (at rate 1 the table is far bigger than the caches,
 * and each event's lookup would wait for memory). */
void ht_profile_prefetch(const struct ht_profile *p, uint64_t addr);

/* A module of the traced process (see HT_EV_MODULE). Duplicates (same path
 * and range) are ignored. Returns 0, or -1 on OOM. */
int ht_profile_module(struct ht_profile *p, const char *path, uint32_t path_len,
		      uint64_t start, uint64_t end, uint64_t bias,
		      const uint8_t *build_id, uint32_t build_id_len);

/* The process started with blocks sampled by another (a forked child's
 * parent): frees of unknown blocks are not counted as unmatched. */
void ht_profile_set_inherited(struct ht_profile *p);

/* FREE or ALLOC events that did not match, so far. */
uint64_t ht_profile_unmatched(const struct ht_profile *p);

/* The estimated bytes in use now (the sum of inuse_space over stacks). */
double ht_profile_inuse(const struct ht_profile *p);

/* The highest estimate of bytes in use so far, however briefly: the total
 * of the peak profile, which the profile keeps as events arrive (the
 * in-use counters of every stack when the total was highest). */
double ht_profile_peak(struct ht_profile *p);

/* Adds modules, locations, frames and stacks (every stack that ever
 * allocated, with its in-use counters at the peak in the peak_* fields)
 * to s, and symbolizes them with sym if it is not NULL. The caller fills
 * in the header fields, peak_time_ns among them. Returns 0, or -1 on OOM. */
int ht_profile_fill(struct ht_profile *p, struct ht_snapshot *s,
		    struct ht_symbolizer *sym);

/* Adds to s, which ht_profile_fill filled (its stacks the profile's, in
 * order, last), every stack's cells: lifetimes and sizes as counted so
 * far, and the ages of the blocks in use at now_ns (CLOCK_MONOTONIC; none
 * if now_ns < 0). Sets s->has_cells. Returns 0, or -1 on OOM (cells may
 * be missing). */
int ht_profile_add_cells(struct ht_profile *p, struct ht_snapshot *s, int64_t now_ns);

/* A snapshot holding the modules and the distinct locations of up to max
 * stacks recorded since the last call, and nothing else: symbolizing it
 * ahead (ht_symbolize caches every answer) makes a later snapshot, the
 * final one which the program waits for, quick. NULL if there is nothing
 * new (or no memory). The caller frees it. */
struct ht_snapshot *ht_profile_warm_job(struct ht_profile *p, size_t max);

#endif
