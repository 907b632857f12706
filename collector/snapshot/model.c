/* The snapshot in memory: a pool that owns its strings (each distinct one
 * stored once) and arrays, the appenders that build it, and the checks of
 * what a valid snapshot holds, which the encoder and the decoder share. */
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_int.h"
#include "snapshot/format.h"
#include "lib/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the pool: strings and array capacities ---- */

void *ht_snapshot_pool_chunk(struct ht_snapshot_pool *p, size_t size)
{
	struct chunk *c;

	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = p->chunks;
	p->chunks = c;
	return c->data;
}

struct ht_snapshot *ht_snapshot_new(void)
{
	struct ht_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pool = calloc(1, sizeof(*s->pool));
	if (!s->pool) {
		free(s);
		return NULL;
	}
	s->version = HT_SNAPSHOT_VERSION;
	return s;
}

void ht_snapshot_free(struct ht_snapshot *s)
{
	struct chunk *c, *next;

	if (!s)
		return;
	free(s->metrics);
	free(s->modules);
	free(s->functions);
	free(s->lines);
	free(s->locations);
	free(s->frames);
	free(s->stacks);
	free(s->cells);
	if (s->pool) {
		for (c = s->pool->chunks; c; c = next) {
			next = c->next;
			free(c);
		}
		ht_strtab_free(&s->pool->strings);
		free(s->pool);
	}
	free(s);
}

const char *ht_snapshot_strdup(struct ht_snapshot *s, const char *str)
{
	struct ht_strtab *t = &s->pool->strings;
	uint32_t id;

	if (!str)
		str = "";
	id = ht_strtab_intern(t, str, strlen(str));
	return id == HT_STRTAB_NONE ? NULL : t->str[id];
}

void *ht_snapshot_grow(void *arr, size_t *cap, size_t n, size_t more, size_t elsize)
{
	if (n > MAX_ELEMS || more > MAX_ELEMS - n)
		return NULL;
	return ht_grow(arr, cap, n + more, elsize);
}

int ht_snapshot_metric(const struct ht_snapshot *s, const char *name, double *v)
{
	for (size_t i = 0; s && i < s->nmetrics; i++)
		if (!strcmp(s->metrics[i].name, name)) {
			*v = s->metrics[i].value;
			return 1;
		}
	return 0;
}

uint32_t ht_snapshot_add_metric(struct ht_snapshot *s, const char *name, double value)
{
	struct ht_metric *a;
	const char *owned = ht_snapshot_strdup(s, name);

	if (!owned)
		return HT_NONE;
	a = ht_snapshot_grow(s->metrics, &s->pool->cap_metrics, s->nmetrics, 1, sizeof(*a));
	if (!a)
		return HT_NONE;
	s->metrics = a;
	a[s->nmetrics].name = owned;
	/* Figures can come from the traced process's shared memory: one
	 * beyond what a file may hold must not cost the whole snapshot. */
	if (value > HT_SNAPSHOT_MAX_VALUE)
		value = HT_SNAPSHOT_MAX_VALUE;
	else if (value < -HT_SNAPSHOT_MAX_VALUE)
		value = -HT_SNAPSHOT_MAX_VALUE;
	a[s->nmetrics].value = value;
	return (uint32_t)s->nmetrics++;
}

uint32_t ht_snapshot_add_module(struct ht_snapshot *s, const struct ht_module *x)
{
	struct ht_module *a = ht_snapshot_grow(s->modules, &s->pool->cap_modules,
				   s->nmodules, 1, sizeof(*a));

	if (!a)
		return HT_NONE;
	s->modules = a;
	a[s->nmodules] = *x;
	return (uint32_t)s->nmodules++;
}

uint32_t ht_snapshot_add_function(struct ht_snapshot *s, const struct ht_function *x)
{
	struct ht_function *a = ht_snapshot_grow(s->functions, &s->pool->cap_functions,
				     s->nfunctions, 1, sizeof(*a));

	if (!a)
		return HT_NONE;
	s->functions = a;
	a[s->nfunctions] = *x;
	return (uint32_t)s->nfunctions++;
}

uint32_t ht_snapshot_add_line(struct ht_snapshot *s, const struct ht_line *x)
{
	struct ht_line *a = ht_snapshot_grow(s->lines, &s->pool->cap_lines, s->nlines, 1,
				 sizeof(*a));

	if (!a)
		return HT_NONE;
	s->lines = a;
	a[s->nlines] = *x;
	return (uint32_t)s->nlines++;
}

uint32_t ht_snapshot_add_location(struct ht_snapshot *s, const struct ht_location *x)
{
	struct ht_location *a = ht_snapshot_grow(s->locations, &s->pool->cap_locations,
				     s->nlocations, 1, sizeof(*a));

	if (!a)
		return HT_NONE;
	s->locations = a;
	a[s->nlocations] = *x;
	return (uint32_t)s->nlocations++;
}

uint32_t ht_snapshot_add_frames(struct ht_snapshot *s, const uint32_t *locs, size_t n)
{
	uint32_t *a;
	size_t first = s->nframes;

	if (n == 0)
		return first <= MAX_ELEMS ? (uint32_t)first : HT_NONE;
	a = ht_snapshot_grow(s->frames, &s->pool->cap_frames, s->nframes, n, sizeof(*a));
	if (!a)
		return HT_NONE;
	s->frames = a;
	memcpy(a + first, locs, n * sizeof(*a));
	s->nframes += n;
	return (uint32_t)first;
}

uint32_t ht_snapshot_add_stack(struct ht_snapshot *s, const struct ht_stack *x)
{
	struct ht_stack *a = ht_snapshot_grow(s->stacks, &s->pool->cap_stacks, s->nstacks,
				  1, sizeof(*a));

	if (!a)
		return HT_NONE;
	s->stacks = a;
	a[s->nstacks] = *x;
	return (uint32_t)s->nstacks++;
}

static int cell_before(const struct ht_cell *a, const struct ht_cell *b)
{
	if (a->stack != b->stack)
		return a->stack < b->stack;
	if (a->kind != b->kind)
		return a->kind < b->kind;
	return a->bucket < b->bucket;
}

uint32_t ht_snapshot_add_cell(struct ht_snapshot *s, const struct ht_cell *x)
{
	struct ht_cell *a;
	struct ht_stack *st;
	unsigned nb = x->kind == HT_CELL_SIZE ? HT_SIZE_BUCKETS : HT_TIME_BUCKETS;

	if (x->stack >= s->nstacks || x->kind < HT_CELL_LIFE || x->kind > HT_CELL_SIZE ||
	    x->bucket >= nb || (s->ncells && !cell_before(&s->cells[s->ncells - 1], x)))
		return HT_NONE;
	a = ht_snapshot_grow(s->cells, &s->pool->cap_cells, s->ncells, 1, sizeof(*a));
	if (!a)
		return HT_NONE;
	s->cells = a;
	a[s->ncells] = *x;
	st = &s->stacks[x->stack];
	if (!st->ncells)
		st->first_cell = (uint32_t)s->ncells;
	st->ncells++;
	s->has_cells = 1;
	return (uint32_t)s->ncells++;
}

/* The lower edges of the time buckets (see HT_TIME_BUCKETS): 1, 2, 5
 * times each power of ten from 1 us, in nanoseconds. A table, as the
 * collector finds the bucket of every sampled free. */
static const uint64_t time_edges[HT_TIME_BUCKETS] = {
	0, 1000ull, 2000ull, 5000ull, 10000ull, 20000ull, 50000ull,
	100000ull, 200000ull, 500000ull, 1000000ull, 2000000ull, 5000000ull,
	10000000ull, 20000000ull, 50000000ull, 100000000ull, 200000000ull, 500000000ull,
	1000000000ull, 2000000000ull, 5000000000ull, 10000000000ull, 20000000000ull,
	50000000000ull, 100000000000ull, 200000000000ull, 500000000000ull,
	1000000000000ull, 2000000000000ull, 5000000000000ull, 10000000000000ull,
};

uint64_t ht_time_edge_ns(unsigned k)
{
	return k < HT_TIME_BUCKETS ? time_edges[k] : 0;
}

/* The last bucket whose edge is <= t_ns (edge 0 always is): five steps
 * of a fixed search, which the compiler makes without branches, as the
 * lifetimes of a program's frees follow no pattern a predictor learns. */
_Static_assert(HT_TIME_BUCKETS == 32, "the search below takes 32 buckets");
unsigned ht_time_bucket(uint64_t t_ns)
{
	unsigned k = 0;

	k += (time_edges[k + 16] <= t_ns) * 16u;
	k += (time_edges[k + 8] <= t_ns) * 8u;
	k += (time_edges[k + 4] <= t_ns) * 4u;
	k += (time_edges[k + 2] <= t_ns) * 2u;
	k += (time_edges[k + 1] <= t_ns) * 1u;
	return k;
}

unsigned ht_size_bucket(uint64_t size)
{
	return size ? 64u - (unsigned)__builtin_clzll(size) : 0;
}

double ht_stack_value(const struct ht_stack *st, enum ht_index which)
{
	switch (which) {
	case HT_INUSE_SPACE:   return st->inuse_space;
	case HT_INUSE_OBJECTS: return st->inuse_objects;
	case HT_ALLOC_SPACE:   return st->alloc_space;
	case HT_ALLOC_OBJECTS: return st->alloc_objects;
	case HT_TEMP_SPACE:    return st->temp_space;
	case HT_TEMP_OBJECTS:  return st->temp_objects;
	}
	return 0;
}

int64_t ht_snapshot_live_objects(const struct ht_snapshot *s)
{
	/* two's complement: more frees than allocations is a small negative
	 * number, never 2^64 minus it */
	return (int64_t)(s->counts.alloc_calls - s->counts.free_calls);
}

/* ---- validation, shared by the encoder and the decoder ---- */

/* A counter must be a number from 0 to 2^63 (this also rejects NaN and
 * infinities): no program holds more bytes or objects, and sums of such
 * values stay far from overflowing a double. */
static int bad_counter(double v)
{
	return !(v >= 0 && v <= HT_SNAPSHOT_MAX_VALUE);
}

/* An error sum (struct ht_stack_error): finite and not negative, with no
 * bound of 2^63, since a variance is a square (a byte count's, at a rate of
 * a terabyte, passes 2^63) and no loop or allocation is sized by one. */
static int check_error(double v, const char *name, size_t i, const char *what,
		       char *err, size_t errlen)
{
	if (!(v >= 0) || !isfinite(v))
		return ht_fail(err, errlen, "%s: stack %zu %s is %g, not a finite number >= 0",
			       what, i, name, v);
	return 0;
}

static int check_counter(double v, const char *name, size_t i, const char *what,
			 char *err, size_t errlen)
{
	if (bad_counter(v))
		return ht_fail(err, errlen, "%s: stack %zu %s is %g, not a number from 0 to 2^63",
			       what, i, name, v);
	return 0;
}

/* The counters of stack i, and its error sums if it has them. */
static int check_values(const struct ht_stack *st, size_t i, int stack_error, const char *what,
			char *err, size_t errlen)
{
	if (check_counter(st->inuse_objects, "inuse_objects", i, what, err, errlen) ||
	    check_counter(st->inuse_space, "inuse_space", i, what, err, errlen) ||
	    check_counter(st->peak_objects, "peak_objects", i, what, err, errlen) ||
	    check_counter(st->peak_space, "peak_space", i, what, err, errlen) ||
	    check_counter(st->alloc_objects, "alloc_objects", i, what, err, errlen) ||
	    check_counter(st->alloc_space, "alloc_space", i, what, err, errlen))
		return -1;
	if (stack_error &&
	    (check_error(st->err.var[0], "error of inuse_space", i, what, err, errlen) ||
	     check_error(st->err.var[1], "error of inuse_objects", i, what, err, errlen) ||
	     check_error(st->err.var[2], "error of alloc_space", i, what, err, errlen) ||
	     check_error(st->err.var[3], "error of alloc_objects", i, what, err, errlen) ||
	     check_error(st->err.share_objects, "error share of objects", i, what, err, errlen) ||
	     check_error(st->err.share_space, "error share of bytes", i, what, err, errlen) ||
	     check_error(st->err.lump_mass, "missed blocks", i, what, err, errlen) ||
	     check_error(st->err.lump_one, "missed blocks", i, what, err, errlen)))
		return -1;
	return 0;
}

/* The temporary counters of stack i (zero in files without them). */
static int check_temp(const struct ht_stack *st, size_t i, const char *what, char *err,
		      size_t errlen)
{
	return check_counter(st->temp_objects, "temp_objects", i, what, err, errlen) ||
	       check_counter(st->temp_space, "temp_space", i, what, err, errlen) ||
	       check_error(st->temp_var[0], "error of temp_objects", i, what, err, errlen) ||
	       check_error(st->temp_var[1], "error of temp_space", i, what, err, errlen) ? -1 : 0;
}

/* Cell i: a stack there is, a kind and bucket there are, after the cell
 * before it in (stack, kind, bucket) order, counters and sums in range. */
static int check_cell(const struct ht_snapshot *s, size_t i, const char *what, char *err,
		      size_t errlen)
{
	const struct ht_cell *c = &s->cells[i], *b = i ? &s->cells[i - 1] : NULL;
	unsigned nb = c->kind == HT_CELL_SIZE ? HT_SIZE_BUCKETS : HT_TIME_BUCKETS;

	if (c->stack >= s->nstacks)
		return ht_fail(err, errlen, "%s: cell %zu names stack %u of %zu", what, i, c->stack,
			       s->nstacks);
	if (c->kind < HT_CELL_LIFE || c->kind > HT_CELL_SIZE)
		return ht_fail(err, errlen, "%s: cell %zu is of kind %u, not 1 to 3", what, i, c->kind);
	if (c->bucket >= nb)
		return ht_fail(err, errlen, "%s: cell %zu is in bucket %u, past the %u of its kind",
			       what, i, c->bucket, nb);
	if (b && !cell_before(b, c))
		return ht_fail(err, errlen, "%s: cell %zu is not after cell %zu (stack, kind, bucket)",
			       what, i, i - 1);
	if (bad_counter(c->objects) || bad_counter(c->space))
		return ht_fail(err, errlen, "%s: cell %zu counts %g objects, %g bytes, not numbers "
			       "from 0 to 2^63", what, i, c->objects, c->space);
	if (!(c->var_objects >= 0) || !isfinite(c->var_objects) || !(c->var_space >= 0) ||
	    !isfinite(c->var_space))
		return ht_fail(err, errlen, "%s: cell %zu has error sums %g, %g, not finite numbers >= 0",
			       what, i, c->var_objects, c->var_space);
	return 0;
}

/* The cells, and each stack's run of them (first_cell, ncells). */
static int check_cells(const struct ht_snapshot *s, const char *what, char *err, size_t errlen)
{
	size_t i, total = 0;

	if (s->ncells > MAX_ELEMS)
		return ht_fail(err, errlen, "%s: more elements than a 32-bit index can name", what);
	for (i = 0; i < s->ncells; i++)
		if (check_cell(s, i, what, err, errlen))
			return -1;
	for (i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		total += st->ncells;
		if (st->ncells && ((uint64_t)st->first_cell + st->ncells > s->ncells ||
				   s->cells[st->first_cell].stack != i ||
				   s->cells[st->first_cell + st->ncells - 1].stack != i))
			return ht_fail(err, errlen, "%s: stack %zu names cells %u..%llu, not its own",
				       what, i, st->first_cell,
				       (unsigned long long)st->first_cell + st->ncells);
	}
	if (total != s->ncells)
		return ht_fail(err, errlen, "%s: the stacks name %zu cells of %zu", what, total,
			       s->ncells);
	return 0;
}

int ht_snapshot_validate(const struct ht_snapshot *s, const char *what, char *err, size_t errlen)
{
	uint64_t stack_frames = 0;
	size_t i;

	if (s->nmetrics > MAX_ELEMS || s->nmodules > MAX_ELEMS ||
	    s->nfunctions > MAX_ELEMS || s->nlines > MAX_ELEMS ||
	    s->nlocations > MAX_ELEMS || s->nframes > MAX_ELEMS ||
	    s->nstacks > MAX_ELEMS)
		return ht_fail(err, errlen, "%s: more elements than a 32-bit index can name", what);
	if (s->note && strlen(s->note) > HT_NOTE_LIMIT)
		return ht_fail(err, errlen, "%s: a note of %zu bytes, more than %d", what,
			       strlen(s->note), HT_NOTE_LIMIT);
	if (s->start_time_ns < 0 || s->time_ns < 0)
		return ht_fail(err, errlen, "%s: a time before 1970 (start_time_ns %lld, time_ns %lld)",
			       what, (long long)s->start_time_ns, (long long)s->time_ns);
	for (i = 0; i < s->nmetrics; i++)
		if (!(fabs(s->metrics[i].value) <= HT_SNAPSHOT_MAX_VALUE))
			return ht_fail(err, errlen, "%s: metric %zu is %g, not a number from -2^63 to 2^63",
				       what, i, s->metrics[i].value);
	for (i = 0; i < s->nmodules; i++) {
		const struct ht_module *m = &s->modules[i];

		if (m->build_id_len > sizeof(m->build_id))
			return ht_fail(err, errlen, "%s: module %zu has a build id of %u bytes, more than %zu",
				       what, i, m->build_id_len, sizeof(m->build_id));
		if (m->start > m->end)
			return ht_fail(err, errlen, "%s: module %zu starts after it ends", what, i);
	}
	for (i = 0; i < s->nlines; i++)
		if (s->lines[i].function >= s->nfunctions)
			return ht_fail(err, errlen, "%s: line %zu names function %u of %zu",
				       what, i, s->lines[i].function, s->nfunctions);
	for (i = 0; i < s->nlocations; i++) {
		const struct ht_location *l = &s->locations[i];

		if (l->module != HT_NONE && l->module >= s->nmodules)
			return ht_fail(err, errlen, "%s: location %zu names module %u of %zu",
				       what, i, l->module, s->nmodules);
		if ((uint64_t)l->first_line + l->nlines > s->nlines)
			return ht_fail(err, errlen, "%s: location %zu names lines %u..%llu of %zu",
				       what, i, l->first_line,
				       (unsigned long long)l->first_line + l->nlines, s->nlines);
	}
	for (i = 0; i < s->nframes; i++)
		if (s->frames[i] >= s->nlocations)
			return ht_fail(err, errlen, "%s: frame %zu names location %u of %zu",
				       what, i, s->frames[i], s->nlocations);
	for (i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		if ((uint64_t)st->first_frame + st->nframes > s->nframes)
			return ht_fail(err, errlen, "%s: stack %zu names frames %u..%llu of %zu",
				       what, i, st->first_frame,
				       (unsigned long long)st->first_frame + st->nframes, s->nframes);
		/* Each stack owns its run of frames: runs that overlap would
		 * let a small file name more frames than it holds. */
		stack_frames += st->nframes;
		if (stack_frames > s->nframes)
			return ht_fail(err, errlen, "%s: stacks 0..%zu name %llu frames, more than the %zu there are",
				       what, i, (unsigned long long)stack_frames, s->nframes);
		if (check_values(st, i, s->stack_error, what, err, errlen) ||
		    check_temp(st, i, what, err, errlen))
			return -1;
	}
	return check_cells(s, what, err, errlen);
}
