/* Sampling math shared by the shim and the collector: the Poisson process
 * over allocated bytes and the per-allocation unbiasing (DESIGN.md).
 * Header-only so the unit tests check the very code that runs. */
#ifndef HT_SAMPLE_H
#define HT_SAMPLE_H

#include <math.h>
#include <stdint.h>

/* xorshift64*: fast, good enough for gaps, never returns 0 state. */
static inline uint64_t ht_rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Bytes until the next sample: an exponential draw with mean rate, so that
 * sampling is a Poisson process over bytes. rate 1 means every allocation
 * (returns 0). The result is at least 1 otherwise and is capped so that the
 * countdown never overflows. */
static inline int64_t ht_sample_gap(uint64_t *rng, uint64_t rate)
{
	double u, gap;

	if (rate <= 1)
		return 0;
	/* 53 random bits -> u in (0, 1] */
	u = ((ht_rng_next(rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
	gap = -log(u) * (double)rate;
	if (gap < 1)
		return 1;
	if (gap > 4e18)
		return (int64_t)4e18;
	return (int64_t)gap;
}

/* How many allocations one sampled allocation of size bytes stands for:
 * it was sampled with probability 1 - e^(-size/rate). */
static inline double ht_sample_weight(uint64_t size, uint64_t rate)
{
	double p;

	if (rate <= 1)
		return 1.0;
	p = -expm1(-(double)size / (double)rate);
	if (p <= 0)
		return 0; /* size 0 is never sampled by the byte process */
	return 1.0 / p;
}

#endif
