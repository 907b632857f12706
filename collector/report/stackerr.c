/* The sampling error of one snapshot's stacks, each on its own (the
 * aggregation, stacks.c, adds them up), and the totals of a snapshot that
 * a report's figures are checked against: the stacks' sum and the exact
 * call counts. */
#include "report/report_int.h"
#include "preload/sample.h"
#include "lib/util.h"

#include <string.h>

int ht_report_exact(const struct ht_snapshot *s)
{
	return s->rate <= 1 || (s->flags & HT_SNAP_EXACT);
}

/* The share of one sample (sampling.h) for a stack of average block size
 * avg, in files written before the per-sample sums. */
static double avg_share(const struct ht_snapshot *s, double avg, int bytes)
{
	double w = ht_sample_weight(avg < 1 ? 1 : ht_report_to_u64(avg), s->rate);

	return w > 1 ? (w - 1) * (bytes ? avg : 1) : 0;
}

/* The variance of an object count, from the samples' own weights, but,
 * at a stack of mixed sizes, no less than its byte count's error allows:
 * the samples say little of the blocks much smaller than those they hit,
 * each of which stands for many objects and is seldom sampled (a stack of
 * 16 B to 32 kB blocks draws few samples from its small third). No block
 * of the stack is smaller than the smallest sampled one, it is assumed,
 * so its objects are at most the upper end of its bytes over that size;
 * the variance is raised until the count's normal 97.5% end reaches that
 * far. A stack whose samples are all of one size (within a factor 2) is
 * taken at its word. */
static double objects_variance(const struct ht_stack *st, enum ht_index which)
{
	enum ht_index bw = which == HT_INUSE_OBJECTS ? HT_INUSE_SPACE : HT_ALLOC_SPACE;
	double v = st->err.var[which] > 0 ? st->err.var[which] : 0, y = ht_stack_value(st, which);
	double lo, hi, cap;

	if (!st->err.min_size || !(v > 0) || st->err.max_size <= 2 * st->err.min_size)
		return v;
	ht_interval(ht_stack_value(st, bw), st->err.var[bw], st->err.share_space, &lo, &hi);
	cap = hi / (double)st->err.min_size;
	if (cap > y && ((cap - y) / 1.96) * ((cap - y) / 1.96) > v)
		v = ((cap - y) / 1.96) * ((cap - y) / 1.96);
	return v;
}

static int is_temp(enum ht_index which)
{
	return which == HT_TEMP_SPACE || which == HT_TEMP_OBJECTS;
}

/* The samples, objects and bytes behind counter which of st. */
static void stack_part(const struct ht_stack *st, enum ht_index which, double *n,
		       double *objects, double *space)
{
	if (is_temp(which)) {
		*n = (double)st->temp_samples;
		*objects = st->temp_objects;
		*space = st->temp_space;
	} else if (which == HT_INUSE_SPACE || which == HT_INUSE_OBJECTS) {
		*n = (double)st->inuse_samples;
		*objects = st->inuse_objects;
		*space = st->inuse_space;
	} else {
		*n = (double)st->alloc_samples;
		*objects = st->alloc_objects;
		*space = st->alloc_space;
	}
}

double ht_report_stack_variance(const struct ht_snapshot *s, const struct ht_stack *st,
				enum ht_index which)
{
	double n, objects, space, avg, w, per_sample;

	stack_part(st, which, &n, &objects, &space);
	if (ht_report_exact(s) || n <= 0)
		return 0;
	/* the temporary counters come with their own sums (files that have
	 * them have cells) */
	if (is_temp(which) && s->has_cells) {
		double v = st->temp_var[which == HT_TEMP_SPACE ? 1 : 0];

		return v > 0 ? v : 0;
	}
	if (s->stack_error && !is_temp(which))
		return which == HT_INUSE_OBJECTS || which == HT_ALLOC_OBJECTS ?
		       objects_variance(st, which) : (st->err.var[which] > 0 ? st->err.var[which] : 0);
	if (!(objects > 0) || !(space > 0) || !isfinite(objects) || !isfinite(space))
		return 0;
	avg = space / objects;
	w = ht_sample_weight(avg < 1 ? 1 : ht_report_to_u64(avg), s->rate); /* 1/p */
	/* (1-p)/p^2 = w^2 - w */
	per_sample = w * w - w;
	if (!(per_sample > 0))
		return 0;
	if (ht_report_is_bytes(which))
		per_sample *= avg * avg;
	return n * per_sample;
}

/* The largest share of one sample of st in counter which (sampling.h):
 * a temporary block is one of the stack's allocations, so the share of
 * its allocations bounds it. */
static double stack_share(const struct ht_snapshot *s, const struct ht_stack *st,
			  enum ht_index which)
{
	int bytes = ht_report_is_bytes(which);

	if (ht_report_exact(s))
		return 0;
	if (s->stack_error)
		return bytes ? st->err.share_space : st->err.share_objects;
	if (!(st->alloc_objects > 0) || !(st->alloc_space > 0) ||
	    !isfinite(st->alloc_space / st->alloc_objects))
		return 0;
	return avg_share(s, st->alloc_space / st->alloc_objects, bytes);
}

void ht_report_stack_err(const struct ht_snapshot *s, const struct ht_stack *st,
			 enum ht_index which, struct ht_err *e)
{
	int bytes = ht_report_is_bytes(which);
	double n, objects, space;

	memset(e, 0, sizeof(*e));
	stack_part(st, which, &n, &objects, &space);
	if (ht_report_exact(s) || !(n > 0))
		return;
	e->up = ht_stack_value(st, which);
	e->up_var = ht_report_stack_variance(s, st, which);
	e->share = e->up_var > 0 ? stack_share(s, st, which) : 0;
	/* the lumps are of the stack's allocations; a temporary count is
	 * a part of them and is left with its variance alone */
	if (s->stack_error && st->err.lump_size && !is_temp(which)) {
		e->lump = bytes ? (double)st->err.lump_size : 1;
		e->lump_mass = st->err.lump_mass;
		e->lump_one = st->err.lump_one;
	}
}

int ht_report_same_run(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	return base && cur && base->stack_error && cur->stack_error && base->pid == cur->pid &&
	       base->start_time_ns == cur->start_time_ns && base->rate == cur->rate &&
	       base->time_ns <= cur->time_ns && strcmp(ht_report_str(base->exe), ht_report_str(cur->exe)) == 0;
}

double ht_report_snapshot_total(const struct ht_snapshot *s, enum ht_index w)
{
	double t = 0;

	for (size_t i = 0; i < s->nstacks; i++)
		t += ht_stack_value(&s->stacks[i], w);
	return t;
}

int ht_report_exact_total(const struct ht_snapshot *s, enum ht_index w, double *t)
{
	const struct ht_counts *c = &s->counts;

	switch (w) {
	case HT_INUSE_OBJECTS:
		*t = (double)(int64_t)(c->alloc_calls - c->free_calls);
		return 1;
	case HT_ALLOC_OBJECTS:
		*t = (double)c->alloc_calls;
		return 1;
	case HT_ALLOC_SPACE:
		*t = (double)c->alloc_bytes;
		return 1;
	default:
		return 0;
	}
}

int ht_report_check_index(const struct ht_snapshot *s, enum ht_index w, const char *label,
			  char *err, size_t errlen)
{
	if (!is_temp(w) || s->has_cells)
		return 0;
	if (label)
		return ht_fail(err, errlen, "sample index '%s': '%s' has no temporary blocks "
			       "(an older heaptrace wrote it)", ht_report_index_name(w), label);
	return ht_fail(err, errlen, "sample index '%s': the snapshot has no temporary blocks "
		       "(an older heaptrace wrote it)", ht_report_index_name(w));
}

int ht_report_same_process(const struct ht_snapshot *a, const struct ht_snapshot *b)
{
	return a->pid == b->pid && a->start_time_ns == b->start_time_ns;
}
