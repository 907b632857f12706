/* The decoder's reader, shared by decode.c (the body, its sections, the
 * symbols) and decode_stacks.c (the per-stack sections). Internal to
 * collector/snapshot. */
#ifndef HT_SNAPSHOT_DECODE_INT_H
#define HT_SNAPSHOT_DECODE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/format.h"

struct sect {
	const unsigned char *p;
	size_t len;
	int present;
};

struct reader {
	struct sect sec[SEC_MAX];
	const char **strs;
	uint32_t *lens;     /* strlen of each string */
	size_t nstrs;
	uint64_t *fweight;  /* name bytes of each function, see name_bytes */
	uint64_t *mweight;  /* and of each module */
	uint64_t listed;    /* of the metrics, modules and functions, each once */
	char *err;
	size_t errlen;
};

/* Each section's name, for messages. */
extern const char *const ht_decode_sec_name[SEC_MAX];

/* An array section: absent (no elements) or a u64 count followed by exactly
 * count records of recsize bytes. Sets *p to the first record. Returns 0,
 * or -1 with the message in rd. */
int ht_decode_array_section(struct reader *rd, int tag, size_t recsize, size_t *n,
			    const unsigned char **p);
/* Allocates an array of n elements (none when n is 0); -1 on out-of-memory.
 * n is bounded by the section that holds them, so this cannot be abused. */
int ht_decode_alloc_array(struct reader *rd, void **arr, size_t *cap, size_t n, size_t elsize);

/* The stacks and what each has: error sums, peak, temporary blocks, cells
 * (decode_stacks.c). Returns 0, or -1 with the message in rd. */
int ht_decode_stacks(struct reader *rd, struct ht_snapshot *s);

#endif
