/* Unit test of the sampling error (collector/sampling.c): the gamma
 * quantile against tables, the interval's ends in the cases that have a
 * closed form, the detection limit against its probability, and the
 * coverage of the 95% intervals by simulation. The simulation runs the
 * product's own parts end to end: the shim's gap and countdown
 * (preload/sample.h), the collector's profile (daemon/profile.c) and the
 * report's errors (report/stacks.c), over synthetic heaps whose truth is known:
 * rows of about 1, 2, 5, 20 and 200 samples, one size or mixed sizes, in
 * reports, in diffs within one run and between two runs, and in totals.
 * Fixed seeds: the same figures every run. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/profile.h"
#include "report/report_int.h"
#include "report/sampling.h"
#include "preload/sample.h"
#include "tap.h"

#define RATE 65536
#define TRIALS 2000

static void test_quantiles(void)
{
	/* a = 1 is the exponential: -ln(1 - p) */
	ok(fabs(ht_gamma_quantile(0.975, 1) - 3.688879454) < 1e-8, "G(0.975, 1) = -ln 0.025");
	ok(fabs(ht_gamma_quantile(0.025, 1) - 0.025317808) < 1e-8, "G(0.025, 1) = -ln 0.975");
	/* chi-square tables: chi2(k, q) = 2 G(q, k/2) */
	ok(fabs(2 * ht_gamma_quantile(0.975, 2) - 11.1433) < 1e-4, "chi2(4, 0.975) = 11.1433");
	ok(fabs(2 * ht_gamma_quantile(0.025, 5) - 3.2470) < 1e-4, "chi2(10, 0.025) = 3.2470");
	ok(fabs(2 * ht_gamma_quantile(0.975, 30) - 83.2977) < 1e-4, "chi2(60, 0.975) = 83.2977");
	ok(fabs(2 * ht_gamma_quantile(0.025, 0.5) - 0.000982) < 1e-6, "chi2(1, 0.025) = 0.000982");
	ok(isnan(ht_gamma_quantile(0, 1)) && isnan(ht_gamma_quantile(0.5, 0)) &&
	   isnan(ht_gamma_quantile(1, 2)), "quantile: arguments outside the domain give NaN");
}

static void test_interval(void)
{
	double lo, hi, w = 8192;
	struct ht_err e = { 0 };

	/* one sample of weight w: the Poisson interval for one event, times w */
	ht_interval(w, w * (w - 1), w - 1, &lo, &hi);
	ok(fabs(lo / w - 0.0253) < 0.001 && fabs(hi / w - 5.5716) < 0.01,
	   "one sample of weight %.0f: [%.0f, %.0f], about w [0.0253, 5.57]", w, lo, hi);
	ht_interval(1000, 0, 0, &lo, &hi);
	ok(lo == 1000 && hi == 1000, "no variance: the interval is the figure");
	ht_interval(0, 5, 3, &lo, &hi);
	ok(lo == 0 && hi == 0, "a zero figure: [0, 0]");
	/* many samples: close to the normal interval, a little to the right */
	ht_interval(1000 * w, 1000 * w * (w - 1), w - 1, &lo, &hi);
	ok(fabs((hi - 1000 * w) / (1.96 * sqrt(1000 * w * (w - 1))) - 1) < 0.05 &&
	   hi - 1000 * w > 1000 * w - lo, "1000 samples: about 1.96 sd either side, wider above");

	e.up = 10 * w;
	e.up_var = 10 * w * (w - 1);
	e.share = w - 1;
	ht_err_bounds(&e, e.up, &lo, &hi);
	ok(fabs(ht_err_half(&e) - (hi - e.up)) < 1e-6, "report: the half-width is the upper side");
	e.down = 5 * w;
	e.down_var = 5 * w * (w - 1);
	ok(ht_err_half(&e) > 1.96 * sqrt(ht_err_var(&e)), "diff: the half-width is wider than the normal");
	ok(ht_err_within(ht_err_half(&e) * 0.99, &e) && !ht_err_within(ht_err_half(&e) * 1.01, &e),
	   "within noise: below the half-width, not above");
	memset(&e, 0, sizeof(e));
	ok(!ht_err_within(0.5, &e) && ht_err_half(&e) == 0, "an exact figure is never noise");
}

/* ---- the simulation ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double uniform(void)
{
	return (double)(ht_rng_next(&rng) >> 11) / 9007199254740992.0;
}

/* A size between lo and hi, uniform in its logarithm. */
static uint64_t log_uniform(double lo, double hi)
{
	return (uint64_t)exp(log(lo) + uniform() * (log(hi) - log(lo)));
}

/* One run of a traced program: the shim's countdown and the collector's
 * profile, fed with blocks at stacks that are numbered. */
struct run {
	struct ht_profile *prof;
	int64_t countdown;
	uint64_t next_addr;
	int pid;
};

struct block {
	uint64_t addr; /* 0: not sampled */
	uint64_t size;
};

static void run_start(struct run *r, int pid)
{
	r->prof = ht_profile_new(RATE);
	r->countdown = ht_sample_gap(&rng, RATE);
	r->next_addr = 0x10000;
	r->pid = pid;
}

/* A block of size bytes at stack k, sampled as the shim samples it. */
static struct block run_alloc(struct run *r, int k, uint64_t size)
{
	uint64_t frames[2] = { 0x1000 + (uint64_t)k * 16, 0x9000 };
	struct block b = { 0, size };

	r->countdown -= (int64_t)size;
	if (r->countdown > 0)
		return b;
	r->countdown = ht_sample_gap(&rng, RATE);
	b.addr = r->next_addr;
	r->next_addr += 16;
	ht_profile_alloc(r->prof, b.addr, size, 0, frames, 2);
	return b;
}

static void run_free(struct run *r, const struct block *b)
{
	if (b->addr)
		ht_profile_release(r->prof, b->addr, 0, 0);
}

static struct ht_snapshot *run_snapshot(struct run *r, int64_t t)
{
	struct ht_snapshot *s = ht_snapshot_new();

	s->rate = RATE;
	s->pid = r->pid;
	s->start_time_ns = 1;
	s->time_ns = t;
	s->exe = ht_snapshot_strdup(s, "/sim");
	s->cmdline = ht_snapshot_strdup(s, "sim");
	if (ht_profile_fill(r->prof, s, NULL) != 0)
		exit(!ok(0, "fill a snapshot"));
	return s;
}

/* The row classes: about so many samples' worth of bytes, in blocks of one
 * size or of mixed sizes. Class 0 allocates only blocks that it frees.
 * objects: whether the class's object counts are held to the 94% bar. An
 * object count rests on the sizes of the blocks sampled: where sizes span
 * orders of magnitude and samples are few, the small blocks that stand for
 * most of the objects are seldom seen, and no interval built from the
 * samples can know of them (heaptrace-report(1) says so). Those classes
 * are held to the bar for bytes; their object coverage is printed. */
#define NCLASS 9
static const struct {
	const char *name;
	double samples;     /* bytes = samples * RATE */
	double lo, hi;      /* block sizes, log-uniform (lo == hi: one size) */
	int objects;
} classes[NCLASS] = {
	{ "all freed", 5, 256, 256, 1 },
	{ "1 sample, 64 B blocks", 1, 64, 64, 1 },
	{ "2 samples, 256 B to 4 kB", 2, 256, 4096, 1 },
	{ "5 samples, 1 kB blocks", 5, 1024, 1024, 1 },
	{ "20 samples, 1 kB to 16 kB", 20, 1024, 16384, 1 },
	{ "200 samples, 512 B blocks", 200, 512, 512, 1 },
	{ "blocks of 4 rates", 8, 4.0 * RATE, 4.0 * RATE, 1 },
	{ "2 samples, 1 B to 16 kB", 2, 1, 16384, 0 },
	{ "20 samples, 64 B to 1 MB", 20, 64, 1048576, 0 },
};

/* What a class's stack truly holds and allocated: objects, bytes. */
struct truth {
	double inuse[2], alloc[2];
};

/* Allocates a class's blocks, about samples * RATE bytes; keeps them in
 * keep (NULL: frees each at once). Returns the number of blocks. */
static size_t fill_class(struct run *r, int k, struct block *keep, size_t cap, struct truth *t)
{
	double bytes = classes[k].samples * RATE, done = 0;
	size_t n = 0;

	while (done < bytes && n < cap) {
		uint64_t size = classes[k].lo == classes[k].hi ? (uint64_t)classes[k].lo :
				log_uniform(classes[k].lo, classes[k].hi);
		struct block b = run_alloc(r, k, size);

		done += (double)size;
		t->alloc[0] += 1;
		t->alloc[1] += (double)size;
		if (keep && k != 0) {
			keep[n++] = b;
			t->inuse[0] += 1;
			t->inuse[1] += (double)size;
		} else {
			run_free(r, &b);
		}
	}
	return n;
}

/* The stack of s for class k, or NULL when it drew no sample. */
static const struct ht_stack *class_stack(const struct ht_snapshot *s, int k)
{
	for (size_t i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		if (st->nframes && s->locations[s->frames[st->first_frame]].address ==
				   0x1000 + (uint64_t)k * 16)
			return st;
	}
	return NULL;
}

/* Coverage tallies: [class or NCLASS for the total][objects, bytes]. */
struct tally {
	int shown[NCLASS + 1][2], covered[NCLASS + 1][2];
	int same_run; /* diffs whose snapshots were taken as one run's */
};

static void count(struct tally *t, int k, int bytes, double truth, const struct ht_err *e,
		  double v)
{
	double lo, hi, slack = 1e-9 * (fabs(truth) + 1);

	ht_err_bounds(e, v, &lo, &hi);
	t->shown[k][bytes]++;
	t->covered[k][bytes] += truth >= lo - slack && truth <= hi + slack;
}

/* One report per trial: each class's in-use figures, and the total. */
static void report_trial(struct tally *t, struct block *keep, size_t cap)
{
	struct run r;
	struct truth tr[NCLASS] = { 0 };
	struct ht_snapshot *s;
	struct ht_err tot[2] = { 0 };
	double tv[2] = { 0 }, tt[2] = { 0 };

	run_start(&r, 1);
	for (int k = 0; k < NCLASS; k++)
		fill_class(&r, k, keep, cap, &tr[k]);
	s = run_snapshot(&r, 2);
	for (int k = 0; k < NCLASS; k++) {
		const struct ht_stack *st = class_stack(s, k);

		for (int b = 0; b < 2; b++) {
			enum ht_index w = b ? HT_INUSE_SPACE : HT_INUSE_OBJECTS;
			struct ht_err e;

			tt[b] += tr[k].inuse[b];
			if (!st || st->inuse_samples == 0) {
				/* not listed: only a class that holds nothing may
				 * show nothing and still count as covered */
				if (tr[k].inuse[b] == 0)
					t->covered[k][b]++, t->shown[k][b]++;
				continue;
			}
			ht_report_stack_err(s, st, w, &e);
			count(t, k, b, tr[k].inuse[b], &e, ht_stack_value(st, w));
			ht_err_add(&tot[b], &e);
			tv[b] += ht_stack_value(st, w);
		}
	}
	for (int b = 0; b < 2; b++)
		count(t, NCLASS, b, tt[b], &tot[b], tv[b]);
	ht_snapshot_free(s);
	ht_profile_free(r.prof);
}

/* The error of the aggregated stack for class k in a diff, and its value. */
static int diff_row(struct ht_report_stacks *a, int k, enum ht_index w, struct ht_err *e,
		    double *v)
{
	char want[32];

	snprintf(want, sizeof(want), "0x%" PRIx64, 0x1000 + (uint64_t)k * 16);
	for (size_t i = 0; i < ht_report_stacks_count(a); i++) {
		size_t n;
		const uint32_t *ids = ht_report_stacks_frames(a, i, &n);

		if (n && strstr(ht_report_stacks_name(a, ids[0]), want)) {
			*e = *ht_report_stacks_err(a, i, w);
			*v = ht_report_stacks_value(a, i, w);
			return 1;
		}
	}
	return 0;
}

/* One diff per trial: within one run (blocks kept, half of them freed,
 * new ones kept, between the two snapshots) or between two runs. */
static void diff_trial(struct tally *t, int same, struct block *keep, size_t cap)
{
	struct run r1, r2;
	struct truth base[NCLASS] = { 0 }, cur[NCLASS] = { 0 };
	struct ht_snapshot *sb, *sc;
	struct ht_report_opts o;
	struct ht_report_stacks *a;
	struct ht_err tot[2] = { 0 };
	double tv[2] = { 0 }, tt[2] = { 0 };
	char err[256];

	run_start(&r1, 1);
	if (same) {
		size_t *n = calloc(NCLASS, sizeof(size_t));
		struct block *kept = keep;

		for (int k = 0; k < NCLASS; k++) {
			n[k] = fill_class(&r1, k, kept, cap / (2 * NCLASS), &base[k]);
			kept += cap / (2 * NCLASS);
		}
		sb = run_snapshot(&r1, 2);
		kept = keep;
		for (int k = 0; k < NCLASS; k++) {
			cur[k] = base[k];
			for (size_t i = 0; i < n[k]; i += 2) {
				run_free(&r1, &kept[i]);
				cur[k].inuse[0] -= 1;
				cur[k].inuse[1] -= (double)kept[i].size;
			}
			fill_class(&r1, k, kept + n[k], cap / (2 * NCLASS) - n[k], &cur[k]);
			kept += cap / (2 * NCLASS);
		}
		sc = run_snapshot(&r1, 3);
		free(n);
	} else {
		run_start(&r2, 2);
		for (int k = 0; k < NCLASS; k++) {
			fill_class(&r1, k, keep, cap / 2, &base[k]);
			fill_class(&r2, k, keep + cap / 2, cap / 2, &cur[k]);
		}
		sb = run_snapshot(&r1, 2);
		sc = run_snapshot(&r2, 3);
		ht_profile_free(r2.prof);
	}
	t->same_run += ht_report_same_run(sb, sc);
	ht_report_opts_init(&o);
	/* an aggregation keeps the errors of the counter it shows */
	for (int b = 0; b < 2; b++) {
		enum ht_index w = b ? HT_INUSE_SPACE : HT_INUSE_OBJECTS;

		o.index = w;
		a = ht_report_aggregate(sb, sc, &o, err, sizeof(err));
		for (int k = 0; k < NCLASS; k++) {
			double truth = cur[k].inuse[b] - base[k].inuse[b], v;
			struct ht_err e;

			tt[b] += truth;
			if (!diff_row(a, k, w, &e, &v)) {
				if (truth == 0)
					t->covered[k][b]++, t->shown[k][b]++;
				continue;
			}
			count(t, k, b, truth, &e, v);
			ht_err_add(&tot[b], &e);
			tv[b] += v;
		}
		ht_report_stacks_free(a);
	}
	for (int b = 0; b < 2; b++)
		count(t, NCLASS, b, tt[b], &tot[b], tv[b]);
	ht_snapshot_free(sb);
	ht_snapshot_free(sc);
	ht_profile_free(r1.prof);
}

static void check(const char *what, const struct tally *t)
{
	for (int k = 0; k <= NCLASS; k++)
		for (int b = 0; b < 2; b++) {
			double c = t->shown[k][b] ? (double)t->covered[k][b] / t->shown[k][b] : 0;
			const char *name = k < NCLASS ? classes[k].name : "total";

			if (k < NCLASS && !b && !classes[k].objects) {
				printf("# %s, %s, objects (sizes too mixed to bound): %.1f%% of %d rows\n",
				       what, name, 100 * c, t->shown[k][b]);
				continue;
			}
			ok(t->shown[k][b] >= TRIALS / 2 && c >= 0.94,
			   "%s, %s, %s: the 95%% interval holds the truth in %.1f%% of %d rows",
			   what, name, b ? "bytes" : "objects", 100 * c, t->shown[k][b]);
		}
}

static void test_coverage(void)
{
	size_t cap = 1 << 20;
	struct block *keep = malloc(cap * sizeof(*keep));
	struct tally rep = { 0 }, same = { 0 }, two = { 0 };

	for (int i = 0; i < TRIALS; i++) {
		report_trial(&rep, keep, cap / NCLASS);
		diff_trial(&same, 1, keep, cap);
		diff_trial(&two, 0, keep, cap);
	}
	check("report", &rep);
	check("diff within one run", &same);
	check("diff of two runs", &two);
	is_int(same.same_run, TRIALS, "one run: its snapshots are known to share samples");
	is_int(two.same_run, 0, "two runs: their snapshots are known not to share samples");
	free(keep);
}

/* A stack of exactly the detection limit in small blocks goes unseen in
 * 5% of runs: e^(-ln 20). */
static void test_detection_limit(void)
{
	double limit = ht_detection_limit(RATE);
	int unseen = 0, runs = 4000;

	ok(fabs(limit - RATE * log(20.0)) < 1e-6 && ht_detection_limit(1) == 0,
	   "detection limit: rate ln 20, none at rate 1");
	for (int i = 0; i < runs; i++) {
		int64_t countdown = ht_sample_gap(&rng, RATE);
		int seen = 0;

		for (double done = 0; done < limit && !seen; done += 64) {
			countdown -= 64;
			seen = countdown <= 0;
		}
		unseen += !seen;
	}
	/* binomial(4000, 0.05): 200 +- 13.8; 4.75 sd either side */
	ok(unseen > 134 && unseen < 266, "a stack of the detection limit in 64-byte blocks: "
	   "unseen in %d of %d runs (5%% expected)", unseen, runs);
}

int main(void)
{
	test_quantiles();
	test_interval();
	test_detection_limit();
	test_coverage();
	return done_testing();
}
