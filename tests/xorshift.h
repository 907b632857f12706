/* The unit tests' random numbers: Marsaglia's xorshift64, one state per
 * sequence, seeded by the test, so that every run draws the same. */
#ifndef HT_TEST_XORSHIFT_H
#define HT_TEST_XORSHIFT_H

#include <stdint.h>

/* The next number of the sequence whose state is *s (never 0). */
static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif
