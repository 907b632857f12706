/* Sampling error of the estimates: intervals, their combination in diffs,
 * the detection limit.
 *
 * The model. The shim samples each block of b bytes on its own, with
 * probability p = 1 - e^(-b/R) (the gap between samples is exponential,
 * and so memoryless), and a sample counts for w = 1/p objects and b w
 * bytes. A stack's estimate Y = sum of the sampled blocks' w is unbiased;
 * one block adds w^2 p (1 - p) = w - 1 to its variance, and the sum over
 * the samples of w (w - 1) estimates that variance without bias (each term
 * turns up with probability p). Bytes: the same with b w and b^2 w (w - 1).
 * The collector keeps those sums per stack (struct ht_stack's var).
 *
 * The interval. With many samples Y is nearly normal, and Y +- 1.96 sd
 * covers; with few it is skewed (one sample of a 64-byte block stands for
 * 8192 objects at the default rate), and the normal interval covered 83%
 * at two samples. Fay and Feuer's gamma interval (Statistics in Medicine
 * 16, 1997) for a weighted sum of Poisson counts keeps its coverage at or
 * above the nominal down to a single event: with estimate y, variance v
 * and largest weight m,
 *     lower = v / (2y) chi2(2 y^2 / v, 0.025)
 *     upper = (v + m^2) / (2 (y + m)) chi2(2 (y + m)^2 / (v + m^2), 0.975)
 * (chi2(k, q): the q-quantile of chi-square with k degrees of freedom; the
 * upper end takes in one more event of the largest weight). A sample here
 * is a Bernoulli draw, not a Poisson count: its Poisson analogue with the
 * same mean and variance per object has weight w - 1, so m is the largest
 * w - 1 (b (w - 1) for bytes). The interval then shrinks to the estimate
 * as p nears 1, where blocks are always sampled and known exactly.
 * chi2(k, q) = 2 G(q, k / 2) with G the gamma quantile, computed below.
 * test_report.c checks coverage by simulation of the shim's own sampler.
 *
 * Diffs. current - base is the difference of two such sums. Within one
 * process they share samples: what lived through both cancels, so the
 * parts are what was allocated in between and is still live (up) and what
 * was live at base and freed since (down), which are disjoint and so
 * independent; stacks.c bounds their estimates and variances from the
 * snapshots' cumulative sums. Each part's upper half-width (its upper end
 * minus its estimate) is at least its 97.5% quantile's distance, and the
 * two are combined as independent errors: sqrt(h_up^2 + h_down^2).
 *
 * Lumps. A block sampled with P > 1/2 (more than 0.69 rates) is seen
 * whole or missed whole: its w - 1 is small, so the variance, and the
 * interval, say little of the chance that one like it went unseen (two
 * blocks of 4 rates: one is missed 4% of the time). The blocks missed of
 * that kind are about Poisson with mean the sum of their w - 1; as Fay and
 * Feuer add one event, one more term is added (one more such block seen),
 * and the upper end is at least the estimate plus the 97.5% quantile of
 * that Poisson count times the largest such block.
 *
 * The detection limit. A stack whose blocks add up to B bytes draws no
 * sample with probability prod e^(-b/R) = e^(-B/R), whatever the sizes:
 * at least 5% while B < R ln 20 (about 3 R: 1.5 MB at the default rate). */
#include "report/sampling.h"

#include <math.h>

#define Z975 1.959963984540054

void ht_err_add(struct ht_err *to, const struct ht_err *e)
{
	to->up += e->up;
	to->up_var += e->up_var;
	to->down += e->down;
	to->down_var += e->down_var;
	if (e->share > to->share)
		to->share = e->share;
	if (e->lump > to->lump)
		to->lump = e->lump;
	to->lump_mass += e->lump_mass;
	if (e->lump_one > to->lump_one)
		to->lump_one = e->lump_one;
	to->diff |= e->diff;
}

double ht_err_var(const struct ht_err *e)
{
	return (e->up_var > 0 ? e->up_var : 0) + (e->down_var > 0 ? e->down_var : 0);
}

/* The regularized lower incomplete gamma function P(a, x), a > 0, x >= 0:
 * its series below a + 1, else its continued fraction (Lentz's method). */
static double gamma_p(double a, double x)
{
	double lead, sum, term, b, c, d, h;
	int i;

	if (!(x > 0))
		return 0;
	lead = exp(a * log(x) - x - lgamma(a));
	if (x < a + 1) {
		sum = term = 1 / a;
		for (i = 1; i < 1000; i++) {
			term *= x / (a + i);
			sum += term;
			if (term < sum * 1e-15)
				break;
		}
		return sum * lead;
	}
	b = x + 1 - a;
	c = 1e300;
	d = 1 / b;
	h = d;
	for (i = 1; i < 1000; i++) {
		double an = -i * (i - a), del;

		b += 2;
		d = an * d + b;
		if (fabs(d) < 1e-300)
			d = 1e-300;
		c = b + an / c;
		if (fabs(c) < 1e-300)
			c = 1e-300;
		d = 1 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-15)
			break;
	}
	return 1 - lead * h;
}

/* Inverts P(a, x) = p: Newton's steps from the Wilson-Hilferty
 * approximation, kept inside a shrinking bracket (bisection when a step
 * leaves it), to a relative 1e-12. */
double ht_gamma_quantile(double p, double a)
{
	double z, t, x, lo = 0, hi, lg;
	int i;

	if (!(p > 0 && p < 1 && a > 0) || !isfinite(a))
		return NAN;
	lg = lgamma(a);
	/* z = the normal quantile of p, to a few digits (enough for a start) */
	t = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
	z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
		(1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
	if (p < 0.5)
		z = -z;
	x = a * pow(1 - 1 / (9 * a) + z / (3 * sqrt(a)), 3);
	if (!(x > 0)) /* small shapes: P(a, x) ~ x^a / Gamma(a + 1) */
		x = exp((log(p) + lgamma(a + 1)) / a);
	hi = x > 1 ? 2 * x : 2;
	while (gamma_p(a, hi) < p && hi < 1e300)
		hi *= 2;
	for (i = 0; i < 200; i++) {
		double f = gamma_p(a, x) - p, dens, next;

		if (f < 0)
			lo = x;
		else
			hi = x;
		dens = exp((a - 1) * log(x) - x - lg);
		next = dens > 0 ? x - f / dens : (lo + hi) / 2;
		if (!(next > lo && next < hi))
			next = (lo + hi) / 2;
		if (fabs(next - x) <= 1e-12 * x || hi - lo <= 1e-12 * hi)
			return next;
		x = next;
	}
	return x;
}

void ht_interval(double y, double v, double m, double *lo, double *hi)
{
	double yu, vu;

	if (!(y > 0)) {
		*lo = *hi = 0;
		return;
	}
	if (!(v > 0)) {
		*lo = *hi = y;
		return;
	}
	if (!(m > 0))
		m = 0;
	/* (v / 2y) chi2(2 y^2 / v, q) = (v / y) G(q, y^2 / v) */
	*lo = v / y * ht_gamma_quantile(0.025, y * y / v);
	yu = y + m;
	vu = v + m * m;
	*hi = vu / yu * ht_gamma_quantile(0.975, yu * yu / vu);
	/* a variance far above y^2 makes a gamma of tiny shape, whose mass
	 * sits near 0 and whose upper quantile falls below the mean: the
	 * normal end is the least the upper end may be */
	if (!(*hi >= y + Z975 * sqrt(v)))
		*hi = y + Z975 * sqrt(v);
	if (!(*lo <= y))
		*lo = y;
}

/* The 97.5% quantile of a Poisson count of mean mu (capped at 10^6). */
static double poisson_q975(double mu)
{
	double term, sum;
	int k;

	if (!(mu > 0))
		return 0;
	if (mu > 1000) /* normal, a little to the right */
		return ceil(mu + Z975 * sqrt(mu) + 1);
	term = sum = exp(-mu);
	for (k = 0; sum < 0.975 && k < 1000000; ) {
		k++;
		term *= mu / k;
		sum += term;
	}
	return k;
}

/* The least upper end a part may have for the lumps it may miss. */
static double lump_half(const struct ht_err *e)
{
	return e->lump > 0 ? e->lump * poisson_q975(e->lump_mass + e->lump_one) : 0;
}

/* The distance from a part's estimate to the upper end of its interval.
 * A part of a diff may have drawn no sample where the other side did: its
 * upper end is then Fay and Feuer's for no event, about 3.7 m. */
static double upper_half(const struct ht_err *e, double y, double v)
{
	double lo, hi, yu, vu, m = e->share, lh = lump_half(e);

	if (y > 0) {
		ht_interval(y, v, m, &lo, &hi);
		return fmax(hi - y, lh);
	}
	if (!(m > 0))
		return lh;
	yu = m;
	vu = (v > 0 ? v : 0) + m * m;
	return fmax(vu / yu * ht_gamma_quantile(0.975, yu * yu / vu), lh);
}

double ht_err_half(const struct ht_err *e)
{
	double lo, hi, hu, hd;

	if (!e->diff) {
		ht_interval(e->up, e->up_var, e->share, &lo, &hi);
		hi = fmax(hi, e->up + lump_half(e));
		return hi - e->up > e->up - lo ? hi - e->up : e->up - lo;
	}
	hu = upper_half(e, e->up, e->up_var);
	hd = upper_half(e, e->down, e->down_var);
	return sqrt(hu * hu + hd * hd);
}

void ht_err_bounds(const struct ht_err *e, double v, double *lo, double *hi)
{
	double h;

	if (!e->diff && v > 0) {
		ht_interval(v, e->up_var, e->share, lo, hi);
		*hi = fmax(*hi, v + lump_half(e));
		return;
	}
	h = ht_err_half(e);
	*lo = v - h;
	*hi = v + h;
}

int ht_err_within(double change, const struct ht_err *e)
{
	double h = ht_err_half(e);

	return h > 0 && fabs(change) < h;
}

double ht_detection_limit(uint64_t rate)
{
	return rate > 1 ? (double)rate * log(20.0) : 0;
}
