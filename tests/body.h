/* Building snapshot bodies by hand (heaptrace(5)): the sections as the
 * format lays them out, for the readers' tests to feed them what the
 * encoder would refuse to write. Header-only, as tap.h. */
#ifndef HT_TEST_BODY_H
#define HT_TEST_BODY_H

#include <stdint.h>
#include <string.h>

#include "lib/util.h"

struct body {
	unsigned char *p;
	size_t n, cap;
};

static inline void b_bytes(struct body *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = ht_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static inline void b_u32(struct body *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8),
			       (unsigned char)(v >> 16), (unsigned char)(v >> 24) };

	b_bytes(b, x, 4);
}

static inline void b_u64(struct body *b, uint64_t v)
{
	b_u32(b, (uint32_t)v);
	b_u32(b, (uint32_t)(v >> 32));
}

static inline void b_f64(struct body *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	b_u64(b, u);
}

/* A section header: its tag and the length of the payload that follows. */
static inline void b_section(struct body *b, uint32_t tag, uint64_t len)
{
	b_u32(b, tag);
	b_u32(b, 0);
	b_u64(b, len);
}

/* The section tags of heaptrace(5). */
enum { T_STRINGS = 1, T_META, T_COUNTS, T_DROPS, T_METRICS, T_MODULES,
       T_FUNCTIONS, T_LINES, T_LOCATIONS, T_FRAMES, T_STACKS, T_STACK_ERROR, T_NOTE, T_PEAK,
       T_TEMP, T_CELLS };

#endif
