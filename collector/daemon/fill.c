/* The collector's profile turned into a snapshot: its modules, locations,
 * frames and stacks (symbolized), its cells, and the jobs that symbolize
 * new stacks ahead. */
#include "daemon/profile_int.h"

#include <stdlib.h>
#include <string.h>

#include "symbolize/symbolize.h"
#include "lib/hash.h"
#include "lib/util.h"

/* Locations of a snapshot being built, one per (address, module). */
struct locmap {
	uint64_t *addr;
	uint32_t *loc;  /* location index + 1; 0 = empty */
	size_t cap;
};

static int locmap_init(struct locmap *lm, size_t frames)
{
	lm->cap = 1024;
	while (lm->cap < frames * 2)
		lm->cap *= 2;
	lm->addr = calloc(lm->cap, sizeof(uint64_t));
	lm->loc = calloc(lm->cap, sizeof(uint32_t));
	return lm->addr && lm->loc ? 0 : -1;
}

static void locmap_free(struct locmap *lm)
{
	free(lm->addr);
	free(lm->loc);
}

/* The location of address a in module m in s, added if new; HT_NONE on
 * OOM. */
static uint32_t location_of(struct locmap *lm, struct ht_snapshot *s, uint64_t a, uint32_t m)
{
	size_t j = ht_mix64(a ^ (uint64_t)m << 48) & (lm->cap - 1);
	struct ht_location l = { 0 };
	uint32_t li;

	while (lm->loc[j] && (lm->addr[j] != a || s->locations[lm->loc[j] - 1].module != m))
		j = (j + 1) & (lm->cap - 1);
	if (lm->loc[j])
		return lm->loc[j] - 1;
	l.address = a;
	l.module = m;
	li = ht_snapshot_add_location(s, &l);
	if (li == HT_NONE)
		return HT_NONE;
	lm->addr[j] = a;
	lm->loc[j] = li + 1;
	return li;
}

/* Adds the profile's modules to s, in the profile's order. */
static int add_modules(const struct ht_profile *p, struct ht_snapshot *s)
{
	size_t i;

	for (i = 0; i < p->nmodules; i++) {
		struct ht_module m = { 0 };

		m.path = ht_snapshot_strdup(s, p->modules[i].path);
		m.start = p->modules[i].start;
		m.end = p->modules[i].end;
		m.bias = p->modules[i].bias;
		memcpy(m.build_id, p->modules[i].build_id, sizeof(m.build_id));
		m.build_id_len = p->modules[i].build_id_len;
		if (!m.path || ht_snapshot_add_module(s, &m) == HT_NONE)
			return -1;
	}
	return 0;
}

int ht_profile_fill(struct ht_profile *p, struct ht_snapshot *s,
		    struct ht_symbolizer *sym)
{
	struct locmap lm = { 0 };
	uint32_t *locs = NULL;
	size_t i, k, maxn = 0;
	int ret = -1;

	if (add_modules(p, s) != 0 || locmap_init(&lm, p->nframes) != 0)
		goto out;
	s->stack_error = 1;
	ht_profile_peak(p); /* the peak counters are current */
	for (i = 0; i < p->nstacks; i++)
		if (p->stacks[i].n > maxn)
			maxn = p->stacks[i].n;
	locs = malloc((maxn + 1) * sizeof(uint32_t));
	if (!locs)
		goto out;
	for (i = 0; i < p->nstacks; i++) {
		const struct pstack *ps = &p->stacks[i];
		struct ht_stack st = { 0 };

		for (k = 0; k < ps->n; k++) {
			locs[k] = location_of(&lm, s, p->frames[ps->first + k],
					      p->fmods[ps->first + k]);
			if (locs[k] == HT_NONE)
				goto out;
		}
		st.first_frame = ps->n ? ht_snapshot_add_frames(s, locs, ps->n) : 0;
		if (st.first_frame == HT_NONE)
			goto out;
		st.nframes = ps->n;
		st.inuse_objects = ps->inuse_objects;
		st.inuse_space = ps->inuse_space;
		st.alloc_objects = ps->alloc_objects;
		st.alloc_space = ps->alloc_space;
		st.inuse_samples = ps->inuse_samples;
		st.alloc_samples = ps->alloc_samples;
		st.err = ps->err;
		/* sums kept by subtraction may end a rounding error below 0 */
		for (k = 0; k < 4; k++)
			if (!(st.err.var[k] > 0))
				st.err.var[k] = 0;
		st.peak_objects = ps->peak_objects > 0 ? ps->peak_objects : 0;
		st.peak_space = ps->peak_space > 0 ? ps->peak_space : 0;
		st.peak_samples = ps->peak_samples;
		st.temp_objects = ps->temp_objects;
		st.temp_space = ps->temp_space;
		st.temp_samples = ps->temp_samples;
		st.temp_var[0] = ps->temp_var[0];
		st.temp_var[1] = ps->temp_var[1];
		if (ht_snapshot_add_stack(s, &st) == HT_NONE)
			goto out;
	}
	ret = sym ? ht_symbolize(sym, s) : 0;
out:
	locmap_free(&lm);
	free(locs);
	return ret;
}

int ht_profile_add_cells(struct ht_profile *p, struct ht_snapshot *s, int64_t now_ns)
{
	struct ht_cellvec *age;
	uint32_t base;
	size_t i;
	int ret = -1;

	if (s->nstacks < p->nstacks)
		return -1;
	base = (uint32_t)(s->nstacks - p->nstacks);
	age = calloc(p->nstacks ? p->nstacks : 1, sizeof(*age));
	if (!age)
		return -1;
	for (i = 0; now_ns >= 0 && i < p->live_cap; i++) {
		const struct live *b = &p->live[i];
		uint64_t size;
		double w, e;

		if (!b->addr)
			continue;
		size = ht_profile_live_size(p, i);
		e = ht_block_error(size, p->rate, &w);
		if (ht_cellvec_add(&age[b->stack], HT_CELL_AGE,
				   ht_time_bucket(now_ns > b->time_ns ?
						  (uint64_t)(now_ns - b->time_ns) : 0),
				   size, w, e) != 0)
			goto out;
	}
	for (i = 0; i < p->nstacks; i++) {
		const struct ht_cellvec *v = &p->stacks[i].cells;
		uint32_t si = base + (uint32_t)i;

		if (ht_cellvec_emit(v, s, si, HT_CELL_LIFE, HT_CELL_LIFE) != 0 ||
		    ht_cellvec_emit(&age[i], s, si, HT_CELL_AGE, HT_CELL_AGE) != 0 ||
		    ht_cellvec_emit(v, s, si, HT_CELL_SIZE, HT_CELL_SIZE) != 0)
			goto out;
	}
	s->has_cells = 1;
	ret = 0;
out:
	for (i = 0; i < p->nstacks; i++)
		ht_cellvec_free(&age[i]);
	free(age);
	return ret;
}

struct ht_snapshot *ht_profile_warm_job(struct ht_profile *p, size_t max)
{
	struct ht_snapshot *s;
	struct locmap lm = { 0 };
	size_t i, k, n = 0, end = p->warmed + max;

	if (end > p->nstacks)
		end = p->nstacks;
	if (p->warmed >= end || !(s = ht_snapshot_new()))
		return NULL;
	for (i = p->warmed; i < end; i++)
		n += p->stacks[i].n;
	if (add_modules(p, s) != 0 || locmap_init(&lm, n) != 0)
		goto fail;
	for (i = p->warmed; i < end; i++) {
		const struct pstack *ps = &p->stacks[i];

		for (k = 0; k < ps->n; k++)
			if (p->fmods[ps->first + k] != HT_NONE &&
			    location_of(&lm, s, p->frames[ps->first + k],
					p->fmods[ps->first + k]) == HT_NONE)
				goto fail;
	}
	p->warmed = end;
	locmap_free(&lm);
	return s;
fail:
	locmap_free(&lm);
	ht_snapshot_free(s);
	return NULL;
}
