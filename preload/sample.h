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

/* Natural log of u in (0, 1], to about 1e-9 relative: the sampled path
 * runs rarely, so libm's log (another library's code and tables) is cold
 * each time; this is a few multiplies on registers. u = m * 2^e with m in
 * [sqrt(1/2), sqrt(2)), and ln m = 2 atanh(t), t = (m - 1) / (m + 1),
 * |t| < 0.172, summed to t^13. */
static inline double ht_log_unit(double u)
{
	union { double d; uint64_t b; } x = { u };
	int e = (int)((x.b >> 52) & 0x7ff) - 1023;
	double m, t, t2;

	x.b = (x.b & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
	m = x.d;
	if (m > 1.4142135623730951) {
		m *= 0.5;
		e++;
	}
	t = (m - 1) / (m + 1);
	t2 = t * t;
	return e * 0.6931471805599453 +
	       2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 +
	       t2 * (1.0 / 11 + t2 * (1.0 / 13)))))));
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
	gap = -ht_log_unit(u) * (double)rate;
	if (gap < 1)
		return 1;
	if (gap > 2.8e17) /* under HT_CD_MAX (internal.h) */
		return (int64_t)2.8e17;
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
