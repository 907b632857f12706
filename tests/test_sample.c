/* Unit test of the sampling math (preload/sample.h): the gap between
 * samples has the right mean, and unbiased estimates over a simulated
 * allocation stream land within bounds taken from the sampling variance. */
#include <math.h>
#include <stdint.h>

#include "preload/sample.h"
#include "tap.h"

/* Runs the shim's countdown over n allocations of size bytes at rate and
 * returns the estimated objects and bytes, and the samples taken. */
static void simulate(uint64_t rate, uint64_t size, long n, double *objs, double *bytes,
		     long *samples)
{
	uint64_t rng = 0x1234567887654321ull;
	int64_t countdown = ht_sample_gap(&rng, rate);
	long i;

	*objs = *bytes = 0;
	*samples = 0;
	for (i = 0; i < n; i++) {
		countdown -= (int64_t)size;
		if (countdown <= 0) {
			double w = ht_sample_weight(size, rate);

			*objs += w;
			*bytes += w * (double)size;
			(*samples)++;
			countdown = ht_sample_gap(&rng, rate);
		}
	}
}

int main(void)
{
	uint64_t rng = 42;
	double sum = 0, objs, bytes;
	long i, n = 400000, samples;
	int64_t g, min = INT64_MAX;

	for (i = 0; i < n; i++) {
		g = ht_sample_gap(&rng, 524288);
		sum += (double)g;
		if (g < min)
			min = g;
	}
	/* the mean of n exponential draws has relative sd 1/sqrt(n) = 0.16% */
	ok(fabs(sum / n / 524288 - 1) < 0.01, "mean gap %.0f is within 1%% of 524288", sum / n);
	ok(min >= 1, "every gap is at least one byte (min %lld)", (long long)min);
	is_int(ht_sample_gap(&rng, 1), 0, "rate 1: gap 0, every allocation sampled");

	{
		/* the gap's log against libm's, over (0, 1] including both ends,
		 * powers of two and the values next to the switch at sqrt(2) */
		double worst = 0, u;
		static const double edge[] = { 1.0, 0.5, 0.25, 0x1p-53, 0.7071067811865475,
					       0.7071067811865476, 0.99999999, 1e-300 };

		for (i = 0; i < 200000; i++) {
			u = ((ht_rng_next(&rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
			if (fabs(ht_log_unit(u) - log(u)) > worst * fabs(log(u)) && u != 1)
				worst = fabs(ht_log_unit(u) - log(u)) / fabs(log(u));
		}
		ok(worst < 1e-9, "ht_log_unit is within 1e-9 of libm's log (worst %.1e)", worst);
		for (i = 0; i < (long)(sizeof(edge) / sizeof(edge[0])); i++)
			ok(fabs(ht_log_unit(edge[i]) - log(edge[i])) <= 1e-9 * fabs(log(edge[i])) + 1e-15,
			   "ht_log_unit(%a) = %.17g (libm %.17g)", edge[i], ht_log_unit(edge[i]), log(edge[i]));
	}

	ok(ht_sample_weight(100, 1) == 1.0, "rate 1: weight is exactly 1");
	ok(fabs(ht_sample_weight(4096, 4096) - 1 / (1 - exp(-1))) < 1e-12,
	   "size == rate: weight 1/(1-1/e)");
	ok(fabs(ht_sample_weight(1, 524288) - 524288.5) < 1,
	   "tiny block stands for ~rate/size objects (%.1f)", ht_sample_weight(1, 524288));
	ok(fabs(ht_sample_weight((uint64_t)1 << 30, 524288) - 1) < 1e-12,
	   "huge block stands for itself");
	is_int((long long)ht_sample_weight(0, 524288), 0, "size 0 carries no weight");

	/* rate 1 is exact */
	simulate(1, 24, 10000, &objs, &bytes, &samples);
	is_int(samples, 10000, "rate 1 samples every allocation");
	ok(objs == 10000 && bytes == 240000, "rate 1 estimates are exact");

	/* small blocks: ~24k samples, relative sd ~0.65%, bound 5% */
	simulate(4096, 100, 1000000, &objs, &bytes, &samples);
	ok(fabs(objs / 1e6 - 1) < 0.05, "small blocks: objects %.0f within 5%% of 1000000", objs);
	ok(fabs(bytes / 1e8 - 1) < 0.05, "small blocks: bytes %.0f within 5%% of 1e8", bytes);
	ok(samples > 20000 && samples < 28500, "sample count %ld near n*(1-e^-(S/R))", samples);

	/* blocks near the rate: p = 0.39, sd tiny; a wrong formula (weight
	 * rate/size, say) would be off by 27% here */
	simulate(65536, 32768, 100000, &objs, &bytes, &samples);
	ok(fabs(objs / 1e5 - 1) < 0.03, "mid blocks: objects %.0f within 3%% of 100000", objs);

	return done_testing();
}
