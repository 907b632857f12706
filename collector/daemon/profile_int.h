/* The collector's profile inside, shared by profile.c (events in) and
 * fill.c (the snapshot out): the stacks, the live blocks, the modules. */
#ifndef HT_PROFILE_INT_H
#define HT_PROFILE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/cells.h"
#include "daemon/profile.h"
#include "preload/sample.h"

/* A distinct stack and its unbiased counters. */
struct pstack {
	uint64_t hash;
	uint32_t first;   /* into frames */
	uint32_t n;
	double inuse_objects, inuse_space, alloc_objects, alloc_space;
	uint64_t inuse_samples, alloc_samples;
	struct ht_stack_error err;
	/* in use at the peak: equal to the inuse counters unless dirty */
	double peak_objects, peak_space;
	uint64_t peak_samples;
	int dirty;        /* changed since the peak was last copied */
	/* temporary blocks freed (see HT_FREE_TEMP), and the sums behind
	 * their error: of w(w-1) and of b^2 w(w-1) */
	double temp_objects, temp_space, temp_var[2];
	uint64_t temp_samples;
	struct ht_cellvec cells; /* lifetimes and sizes; ages come at snapshot time */
};

/* Block of size bytes at rate: its weight w (objects it stands for) and
 * its share of the variance of an object count, w(w-1) = (1-p)/p^2. */
static inline double ht_block_error(uint64_t size, uint64_t rate, double *w)
{
	*w = ht_sample_weight(size, rate);
	return *w > 1 ? *w * (*w - 1) : 0;
}

/* A live sampled block: 24 bytes, as at rate 1 there is one for every
 * block the program holds. A size of 4 GiB or more is kept aside (see
 * struct big). */
struct live {
	uint64_t addr;    /* 0 = empty slot */
	uint32_t stack;
	uint32_t size;    /* LIVE_BIG: in p->big */
	int64_t time_ns;  /* when it was made (CLOCK_MONOTONIC) */
};
#define LIVE_BIG UINT32_MAX

struct big {
	uint64_t addr, size;
};

struct pmodule {
	uint64_t stamp;          /* when last reported: the latest wins */
	char *path;
	uint64_t start, end, bias;
	uint8_t build_id[32];
	uint32_t build_id_len;
};

#define MOD_CACHE 4096

/* Which module held each page, as of module-list generation gen. */
struct modcache {
	uint64_t page;
	uint32_t mod;
	uint32_t gen;
};

struct ht_profile {
	uint64_t rate;
	uint32_t *fmods;         /* the module of each frame, when it was recorded */
	struct modcache mc[MOD_CACHE];
	uint32_t modgen;         /* bumped whenever the module map changes */
	uint64_t modstamp;
	struct pstack *stacks;
	size_t nstacks, capstacks;
	uint32_t *stack_index;   /* hash table of stack numbers + 1 */
	size_t stack_index_cap;  /* power of two */
	uint64_t *frames;
	size_t nframes, capframes;
	struct live *live;
	size_t nlive, live_cap;  /* power of two, at most 3/4 full */
	struct big *big;         /* the live blocks of LIVE_BIG bytes or more */
	size_t nbig, capbig;
	struct pmodule *modules;
	size_t nmodules, capmodules;
	uint64_t unmatched;
	double inuse_space;      /* sum over stacks, kept as events arrive */
	double peak_space;       /* the highest inuse_space so far (the peak profile's) */
	uint32_t *dirty;         /* stacks changed since the peak profile was copied */
	size_t ndirty, capdirty;
	int all_dirty;           /* the list ran out of memory: copy every stack */
	int inherited;           /* frees of blocks we never saw are expected */
	size_t warmed;           /* stacks whose frames were symbolized ahead */
	uint32_t *ids;           /* the shim's stack id -> stack number + 1 (0: unknown) */
	size_t capids;
};

/* The size of the live block in slot j (profile.c). */
uint64_t ht_profile_live_size(const struct ht_profile *p, size_t j);

#endif
