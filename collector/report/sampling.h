/* Sampling error: how far a figure of a sampled profile may be from the
 * truth, as a 95% interval that keeps its coverage down to one sample, and
 * the smallest stack a rate is sure to see. The derivations are in
 * sampling.c; heaptrace-report(1) states the results. */
#ifndef HT_SAMPLING_H
#define HT_SAMPLING_H

#include <stdint.h>

/* The error of one figure. A figure is a sum of samples' weights: `up`
 * adds them, `down` subtracts them (a diff's base, or in a diff within one
 * process what was freed in between). Each part has its estimate and the
 * unbiased estimate of its variance (the sum over its samples of w(w-1),
 * or b^2 w(w-1) for bytes). `share` is the largest part of one sample in
 * the error: w - 1 objects or b(w - 1) bytes, for the largest w among the
 * samples (see struct ht_stack). All zero: an exact figure. */
struct ht_err {
	double up, up_var;
	double down, down_var;
	double share;
	/* Blocks sampled with P > 1/2 are seen whole or missed whole, a lump
	 * that the variance does not describe: the largest such block (1 for
	 * an object count, its bytes for a byte count; 0: none), and the
	 * estimated number of them missed (the sum of their w - 1) with its
	 * largest term. */
	double lump, lump_mass, lump_one;
	int diff;   /* a diff's figure, down part or not: symmetric interval */
};

/* Adds e to *to: the parts' estimates, variances and missed lumps add,
 * shares and lumps take the largest; a diff's error makes the sum a
 * diff's. */
void ht_err_add(struct ht_err *to, const struct ht_err *e);

/* The variance of the figure up - down, its parts taken as independent. */
double ht_err_var(const struct ht_err *e);

/* Half the width of the 95% interval of the figure (0 for an exact
 * figure): what the reports print after "±". For a single part (a report),
 * the larger distance from the estimate to either end of its interval;
 * for a diff, the two parts' upper half-widths combined as independent
 * errors. */
double ht_err_half(const struct ht_err *e);

/* The 95% interval [*lo, *hi] of a figure v whose error is e. For a report
 * (no down part) it is asymmetric and never below 0; for a diff it is
 * v +- ht_err_half. An exact figure's interval is [v, v]. */
void ht_err_bounds(const struct ht_err *e, double v, double *lo, double *hi);

/* Whether a change (of a diff) is within its sampling error: nonzero
 * error, and |change| below the half-width. */
int ht_err_within(double change, const struct ht_err *e);

/* The 95% interval of a nonnegative sum of sampled weights with estimate
 * y, variance v and largest share m: Fay and Feuer's gamma interval
 * (see sampling.c). lo = hi = y when v is 0; [0, 0] when y is 0. */
void ht_interval(double y, double v, double m, double *lo, double *hi);

/* The p-quantile (0 < p < 1) of the gamma distribution of the given shape
 * (> 0) and scale 1; NaN for arguments outside those. Used in unit tests. */
double ht_gamma_quantile(double p, double shape);

/* Bytes that a stack may allocate (or hold in use) at this rate and still
 * go unseen, with no sample, with probability of at least 5%: rate ln 20,
 * whatever the sizes of its blocks. 0 for rate 1 (every allocation). */
double ht_detection_limit(uint64_t rate);

#endif
