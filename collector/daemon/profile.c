/* The collector's profile: a table of distinct stacks with unbiased
 * counters, a table of live sampled blocks (address -> stack, size), and
 * the module map, as events arrive. Hash tables use open addressing with
 * linear probing. What a snapshot gets of them is fill.c's. */
#include "daemon/profile_int.h"

#include <stdlib.h>
#include <string.h>

#include "preload/ring.h"
#include "lib/hash.h"
#include "lib/util.h"

/* Adds a sample of a block of size bytes, weight w and share of the
 * variance of an object count e, to a stack's error (struct ht_stack_error). */
static void note_sample(struct ht_stack_error *r, uint64_t size, double w, double e)
{
	double b = (double)size;

	r->var[HT_INUSE_OBJECTS] += e;
	r->var[HT_ALLOC_OBJECTS] += e;
	r->var[HT_INUSE_SPACE] += e * b * b;
	r->var[HT_ALLOC_SPACE] += e * b * b;
	if (w - 1 > r->share_objects)
		r->share_objects = w - 1;
	if ((w - 1) * b > r->share_space)
		r->share_space = (w - 1) * b;
	if (size && (!r->min_size || size < r->min_size))
		r->min_size = size;
	if (size > r->max_size)
		r->max_size = size;
	if (w < 2) {
		if (size > r->lump_size)
			r->lump_size = size;
		r->lump_mass += w - 1;
		if (w - 1 > r->lump_one)
			r->lump_one = w - 1;
	}
}

/* ht_grow in place: 0, or -1 on OOM with *arr intact. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	void *n = ht_grow(*arr, cap, need, elem);

	if (!n)
		return -1;
	*arr = n;
	return 0;
}

struct ht_profile *ht_profile_new(uint64_t rate)
{
	struct ht_profile *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->rate = rate;
	p->stack_index_cap = 1024;
	p->stack_index = calloc(p->stack_index_cap, sizeof(uint32_t));
	p->live_cap = 1024;
	p->live = calloc(p->live_cap, sizeof(struct live));
	if (!p->stack_index || !p->live) {
		ht_profile_free(p);
		return NULL;
	}
	return p;
}

void ht_profile_free(struct ht_profile *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nmodules; i++)
		free(p->modules[i].path);
	free(p->modules);
	for (i = 0; i < p->nstacks; i++)
		ht_cellvec_free(&p->stacks[i].cells);
	free(p->stacks);
	free(p->stack_index);
	free(p->frames);
	free(p->fmods);
	free(p->live);
	free(p->big);
	free(p->ids);
	free(p->dirty);
	free(p);
}

static int rehash_stacks(struct ht_profile *p)
{
	size_t mask, i;
	uint32_t *idx = ht_slots_new(p->stack_index_cap * 2, &mask);

	if (!idx)
		return -1;
	for (i = 0; i < p->nstacks; i++)
		ht_slots_put(idx, mask, p->stacks[i].hash, (uint32_t)i);
	free(p->stack_index);
	p->stack_index = idx;
	p->stack_index_cap = mask + 1;
	return 0;
}

/* The module holding addr now: the one reported last wins, so a library
 * loaded where an unloaded one was names the samples taken after it. */
static uint32_t module_of(struct ht_profile *p, uint64_t addr)
{
	struct modcache *c = &p->mc[(addr >> 12) % MOD_CACHE];
	size_t i = p->nmodules;

	if (c->gen == p->modgen + 1 && c->page == addr >> 12)
		return c->mod;
	c->page = addr >> 12;
	c->gen = p->modgen + 1;
	c->mod = HT_NONE;
	while (i-- > 0)
		if (addr >= p->modules[i].start && addr < p->modules[i].end &&
		    (c->mod == HT_NONE || p->modules[i].stamp > p->modules[c->mod].stamp))
			c->mod = (uint32_t)i;
	return c->mod;
}

/* Returns the stack number for frames, adding it if new, or -1 on OOM.
 * A stack is its addresses and the modules they were in when recorded. */
static int64_t intern_stack(struct ht_profile *p, const uint64_t *frames, uint32_t n)
{
	uint32_t mods[HT_MAX_DEPTH];
	uint64_t h;
	size_t j, i;
	struct pstack *s;

	if (n > HT_MAX_DEPTH)
		n = HT_MAX_DEPTH;
	h = ht_mix64(n + 1);
	for (i = 0; i < n; i++) {
		mods[i] = module_of(p, frames[i]);
		h = ht_mix64(h ^ frames[i] ^ (uint64_t)mods[i] << 48);
	}
	for (j = h & (p->stack_index_cap - 1); p->stack_index[j];
	     j = (j + 1) & (p->stack_index_cap - 1)) {
		s = &p->stacks[p->stack_index[j] - 1];
		if (s->hash == h && s->n == n &&
		    memcmp(&p->frames[s->first], frames, n * sizeof(uint64_t)) == 0 &&
		    memcmp(&p->fmods[s->first], mods, n * sizeof(uint32_t)) == 0)
			return p->stack_index[j] - 1;
	}
	if (grow((void **)&p->stacks, &p->capstacks, p->nstacks + 1, sizeof(*p->stacks)))
		return -1;
	if (p->nframes + n > p->capframes) {
		size_t cap = p->capframes;
		uint32_t *m;

		if (grow((void **)&p->frames, &cap, p->nframes + n, sizeof(uint64_t)))
			return -1;
		m = realloc(p->fmods, cap * sizeof(uint32_t));
		if (!m)
			return -1;
		p->fmods = m;
		p->capframes = cap;
	}
	s = &p->stacks[p->nstacks];
	memset(s, 0, sizeof(*s));
	s->hash = h;
	s->first = (uint32_t)p->nframes;
	s->n = n;
	memcpy(&p->frames[p->nframes], frames, n * sizeof(uint64_t));
	memcpy(&p->fmods[p->nframes], mods, n * sizeof(uint32_t));
	p->nframes += n;
	p->stack_index[j] = (uint32_t)++p->nstacks;
	if (p->nstacks * 2 > p->stack_index_cap && rehash_stacks(p) != 0)
		return -1;
	return (int64_t)p->nstacks - 1;
}

static size_t live_find(const struct ht_profile *p, uint64_t addr)
{
	size_t j = ht_mix64(addr) & (p->live_cap - 1);

	while (p->live[j].addr && p->live[j].addr != addr)
		j = (j + 1) & (p->live_cap - 1);
	return j;
}

void ht_profile_prefetch(const struct ht_profile *p, uint64_t addr)
{
	if (p->live_cap)
		__builtin_prefetch(&p->live[ht_mix64(addr) & (p->live_cap - 1)], 1);
}

uint64_t ht_profile_live_size(const struct ht_profile *p, size_t j)
{
	if (p->live[j].size != LIVE_BIG)
		return p->live[j].size;
	for (size_t i = 0; i < p->nbig; i++)
		if (p->big[i].addr == p->live[j].addr)
			return p->big[i].size;
	return 0; /* cannot be: every LIVE_BIG block is in big */
}

/* Sets slot j's size; -1 on out-of-memory (a big size with no room). */
static int live_set_size(struct ht_profile *p, size_t j, uint64_t size)
{
	if (size < LIVE_BIG) {
		p->live[j].size = (uint32_t)size;
		return 0;
	}
	if (p->nbig == p->capbig) {
		size_t cap = p->capbig ? 2 * p->capbig : 8;
		struct big *n = realloc(p->big, cap * sizeof(*n));

		if (!n)
			return -1;
		p->big = n;
		p->capbig = cap;
	}
	p->big[p->nbig].addr = p->live[j].addr;
	p->big[p->nbig++].size = size;
	p->live[j].size = LIVE_BIG;
	return 0;
}

/* Removes slot j by shifting later members of its probe run back. */
static void live_remove(struct ht_profile *p, size_t j)
{
	size_t mask = p->live_cap - 1, k = j;

	if (p->live[j].size == LIVE_BIG)
		for (size_t i = 0; i < p->nbig; i++)
			if (p->big[i].addr == p->live[j].addr) {
				p->big[i] = p->big[--p->nbig];
				break;
			}

	for (;;) {
		size_t home;

		k = (k + 1) & mask;
		if (!p->live[k].addr)
			break;
		home = ht_mix64(p->live[k].addr) & mask;
		/* move k into the hole j unless its home lies in (j, k] */
		if ((j < k) ? (home <= j || home > k) : (home <= j && home > k)) {
			p->live[j] = p->live[k];
			j = k;
		}
	}
	p->live[j].addr = 0;
	p->nlive--;
}

static int live_grow(struct ht_profile *p)
{
	size_t cap = p->live_cap * 2, i;
	struct live *n = calloc(cap, sizeof(*n)), *old = p->live;
	size_t oldcap = p->live_cap;

	if (!n)
		return -1;
	p->live = n;
	p->live_cap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i].addr)
			p->live[live_find(p, old[i].addr)] = old[i];
	free(old);
	return 0;
}

/* The peak profile, kept as tcmalloc keeps its peak-heap profile: the
 * in-use counters of every stack at the moment the in-use total was
 * highest. Only the stacks that changed since the last copy are copied,
 * so the cost is that of the events, not of the stacks. */
static void mark(struct ht_profile *p, size_t si)
{
	struct pstack *s = &p->stacks[si];

	if (s->dirty || p->all_dirty)
		return;
	if (grow((void **)&p->dirty, &p->capdirty, p->ndirty + 1, sizeof(uint32_t))) {
		p->all_dirty = 1;
		return;
	}
	s->dirty = 1;
	p->dirty[p->ndirty++] = (uint32_t)si;
}

static void copy_peak(struct pstack *s)
{
	s->peak_objects = s->inuse_objects;
	s->peak_space = s->inuse_space;
	s->peak_samples = s->inuse_samples;
	s->dirty = 0;
}

/* Records the current in-use counters as the peak profile. */
static void take_peak(struct ht_profile *p)
{
	size_t i;

	if (p->all_dirty) {
		for (i = 0; i < p->nstacks; i++)
			copy_peak(&p->stacks[i]);
		p->all_dirty = 0;
	} else {
		for (i = 0; i < p->ndirty; i++)
			copy_peak(&p->stacks[p->dirty[i]]);
	}
	p->ndirty = 0;
	p->peak_space = p->inuse_space;
}

static void retire(struct ht_profile *p, size_t j)
{
	struct live *b = &p->live[j];
	struct pstack *s = &p->stacks[b->stack];
	uint64_t size = ht_profile_live_size(p, j);
	double w, e = ht_block_error(size, p->rate, &w);

	/* the total only falls here: a new high just before is the peak */
	if (p->inuse_space > p->peak_space)
		take_peak(p);
	mark(p, b->stack);
	s->inuse_samples--;
	p->inuse_space -= w * (double)size;
	if (s->inuse_samples == 0) {
		/* exact zero, not the sum of rounding errors */
		s->inuse_objects = 0;
		s->inuse_space = 0;
		s->err.var[HT_INUSE_OBJECTS] = 0;
		s->err.var[HT_INUSE_SPACE] = 0;
	} else {
		s->inuse_objects -= w;
		s->inuse_space -= w * (double)size;
		s->err.var[HT_INUSE_OBJECTS] -= e;
		s->err.var[HT_INUSE_SPACE] -= e * (double)size * (double)size;
	}
	live_remove(p, j);
}

/* The allocation at addr of stack number si (or -1: out of memory),
 * made at time_ns. */
static int alloc_at(struct ht_profile *p, uint64_t addr, uint64_t size, int64_t time_ns,
		    int64_t si)
{
	size_t j;
	struct pstack *s;
	double w, e;
	int moved = 0;

	if (!addr)
		return 0;
	j = live_find(p, addr);
	if (p->live[j].addr) {
		p->unmatched++;
		retire(p, j);
		moved = 1; /* its removal may have shifted the probe run */
	}
	if (si < 0) {
		p->unmatched++;
		return -1;
	}
	if ((p->nlive + 1) * 4 > p->live_cap * 3) {
		if (live_grow(p) != 0) {
			p->unmatched++;
			return -1;
		}
		moved = 1;
	}
	if (moved)
		j = live_find(p, addr);
	p->live[j].addr = addr;
	p->live[j].stack = (uint32_t)si;
	p->live[j].time_ns = time_ns;
	if (live_set_size(p, j, size) != 0) {
		p->live[j].addr = 0;
		p->unmatched++;
		return -1;
	}
	p->nlive++;
	s = &p->stacks[si];
	mark(p, (size_t)si);
	e = ht_block_error(size, p->rate, &w);
	note_sample(&s->err, size, w, e);
	s->alloc_samples++;
	s->inuse_samples++;
	s->alloc_objects += w;
	s->alloc_space += w * (double)size;
	s->inuse_objects += w;
	s->inuse_space += w * (double)size;
	p->inuse_space += w * (double)size;
	/* a cell it had no memory for is missing from the histogram only */
	ht_cellvec_add(&s->cells, HT_CELL_SIZE, ht_size_bucket(size), size, w, e);
	return 0;
}

int ht_profile_alloc(struct ht_profile *p, uint64_t addr, uint64_t size, int64_t time_ns,
		     const uint64_t *frames, uint32_t nframes)
{
	return alloc_at(p, addr, size, time_ns, addr ? intern_stack(p, frames, nframes) : 0);
}

int ht_profile_stack(struct ht_profile *p, uint32_t id, const uint64_t *frames, uint32_t nframes)
{
	int64_t si;

	if (id == 0 || id > HT_MAX_STACK_ID)
		return -1;
	if (id >= p->capids) {
		size_t cap = p->capids;

		if (grow((void **)&p->ids, &cap, (size_t)id + 1, sizeof(uint32_t)))
			return -1;
		memset(p->ids + p->capids, 0, (cap - p->capids) * sizeof(uint32_t));
		p->capids = cap;
	}
	si = intern_stack(p, frames, nframes);
	if (si < 0)
		return -1;
	p->ids[id] = (uint32_t)si + 1;
	return 0;
}

int ht_profile_alloc_id(struct ht_profile *p, uint64_t addr, uint64_t size, int64_t time_ns,
			uint32_t id)
{
	if (id >= p->capids || !p->ids[id]) {
		/* its STACK event was never seen: count it, keep nothing */
		if (addr)
			p->unmatched++;
		return 0;
	}
	return alloc_at(p, addr, size, time_ns, (int64_t)p->ids[id] - 1);
}

void ht_profile_release(struct ht_profile *p, uint64_t addr, int64_t time_ns, int temp)
{
	size_t j = live_find(p, addr);
	struct pstack *s;
	uint64_t size;
	double w, e;

	if (!p->live[j].addr) {
		if (!p->inherited)
			p->unmatched++;
		return;
	}
	s = &p->stacks[p->live[j].stack];
	size = ht_profile_live_size(p, j);
	e = ht_block_error(size, p->rate, &w);
	/* a clock that went back (it cannot) counts as no time */
	ht_cellvec_add(&s->cells, HT_CELL_LIFE,
		       ht_time_bucket(time_ns > p->live[j].time_ns ?
				      (uint64_t)(time_ns - p->live[j].time_ns) : 0),
		       size, w, e);
	if (temp) {
		s->temp_objects += w;
		s->temp_space += w * (double)size;
		s->temp_samples++;
		s->temp_var[0] += e;
		s->temp_var[1] += e * (double)size * (double)size;
	}
	retire(p, j);
}

void ht_profile_set_inherited(struct ht_profile *p)
{
	p->inherited = 1;
}

int ht_profile_module(struct ht_profile *p, const char *path, uint32_t path_len,
		      uint64_t start, uint64_t end, uint64_t bias,
		      const uint8_t *build_id, uint32_t build_id_len)
{
	struct pmodule *m;
	size_t i;

	for (i = 0; i < p->nmodules; i++) {
		m = &p->modules[i];
		if (m->start == start && m->end == end && strlen(m->path) == path_len &&
		    memcmp(m->path, path, path_len) == 0) {
			/* loaded again (plugins taking turns at one address):
			 * it is the latest again, so it names what follows */
			m->stamp = ++p->modstamp;
			p->modgen++;
			return 0;
		}
	}
	if (grow((void **)&p->modules, &p->capmodules, p->nmodules + 1, sizeof(*m)))
		return -1;
	m = &p->modules[p->nmodules];
	memset(m, 0, sizeof(*m));
	m->path = malloc(path_len + 1);
	if (!m->path)
		return -1;
	memcpy(m->path, path, path_len);
	m->path[path_len] = 0;
	m->start = start;
	m->end = end;
	m->bias = bias;
	if (build_id_len > sizeof(m->build_id))
		build_id_len = 0;
	if (build_id_len) /* build_id may be NULL then */
		memcpy(m->build_id, build_id, build_id_len);
	m->build_id_len = build_id_len;
	m->stamp = ++p->modstamp;
	p->nmodules++;
	p->modgen++;
	return 0;
}

uint64_t ht_profile_unmatched(const struct ht_profile *p)
{
	return p->unmatched;
}

double ht_profile_inuse(const struct ht_profile *p)
{
	return p->nlive ? p->inuse_space : 0;
}

double ht_profile_peak(struct ht_profile *p)
{
	if (p->inuse_space > p->peak_space)
		take_peak(p);
	return p->peak_space > 0 ? p->peak_space : 0;
}
