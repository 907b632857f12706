/* The collector's profile: a table of distinct stacks with unbiased
 * counters, a table of live sampled blocks (address -> stack, size), and
 * the module map. Hash tables use open addressing with linear probing. */
#include "daemon/profile.h"

#include <stdlib.h>
#include <string.h>

#include "preload/ring.h"
#include "preload/sample.h"
#include "symbolize/symbolize.h"
#include "lib/hash.h"
#include "lib/util.h"

struct pstack {
	uint64_t hash;
	uint32_t first;   /* into frames */
	uint32_t n;
	double inuse_objects, inuse_space, alloc_objects, alloc_space;
	uint64_t inuse_samples, alloc_samples;
	struct ht_stack_error err;
	/* in use at the peak: equal to the inuse counters unless dirty */
	double peak_objects, peak_space;
	uint64_t peak_samples;
	int dirty;        /* changed since the peak was last copied */
};

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

/* Block of size bytes at rate: its weight w (objects it stands for) and
 * its share of the variance of an object count, w(w-1) = (1-p)/p^2. */
static double block_error(uint64_t size, uint64_t rate, double *w)
{
	*w = ht_sample_weight(size, rate);
	return *w > 1 ? *w * (*w - 1) : 0;
}

/* A live sampled block: 16 bytes, as at rate 1 there is one for every
 * block the program holds. A size of 4 GiB or more is kept aside (see
 * struct big). */
struct live {
	uint64_t addr;    /* 0 = empty slot */
	uint32_t stack;
	uint32_t size;    /* LIVE_BIG: in p->big */
};
#define LIVE_BIG UINT32_MAX

struct big {
	uint64_t addr, size;
};

struct pmodule {
	uint64_t stamp;          /* when last reported: the latest wins */
	char *path;
	uint64_t start, end, bias;
	uint8_t build_id[32];
	uint32_t build_id_len;
};

#define MOD_CACHE 4096

/* Which module held each page, as of module-list generation gen. */
struct modcache {
	uint64_t page;
	uint32_t mod;
	uint32_t gen;
};

struct ht_profile {
	uint64_t rate;
	uint32_t *fmods;         /* the module of each frame, when it was recorded */
	struct modcache mc[MOD_CACHE];
	uint32_t modgen;         /* bumped whenever the module map changes */
	uint64_t modstamp;
	struct pstack *stacks;
	size_t nstacks, capstacks;
	uint32_t *stack_index;   /* hash table of stack numbers + 1 */
	size_t stack_index_cap;  /* power of two */
	uint64_t *frames;
	size_t nframes, capframes;
	struct live *live;
	size_t nlive, live_cap;  /* power of two, at most 3/4 full */
	struct big *big;         /* the live blocks of LIVE_BIG bytes or more */
	size_t nbig, capbig;
	struct pmodule *modules;
	size_t nmodules, capmodules;
	uint64_t unmatched;
	double inuse_space;      /* sum over stacks, kept as events arrive */
	double peak_space;       /* the highest inuse_space so far (the peak profile's) */
	uint32_t *dirty;         /* stacks changed since the peak profile was copied */
	size_t ndirty, capdirty;
	int all_dirty;           /* the list ran out of memory: copy every stack */
	int inherited;           /* frees of blocks we never saw are expected */
	size_t warmed;           /* stacks whose frames were symbolized ahead */
	uint32_t *ids;           /* the shim's stack id -> stack number + 1 (0: unknown) */
	size_t capids;
};

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

/* Removes slot j by shifting later members of its probe run back. */
/* The size of the live block in slot j. */
static uint64_t live_size(const struct ht_profile *p, size_t j)
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
	uint64_t size = live_size(p, j);
	double w, e = block_error(size, p->rate, &w);

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

/* The allocation at addr of stack number si (or -1: out of memory). */
static int alloc_at(struct ht_profile *p, uint64_t addr, uint64_t size, int64_t si)
{
	size_t j;
	struct pstack *s;
	double w, e;

	if (!addr)
		return 0;
	j = live_find(p, addr);
	if (p->live[j].addr) {
		p->unmatched++;
		retire(p, j);
	}
	if (si < 0) {
		p->unmatched++;
		return -1;
	}
	if ((p->nlive + 1) * 4 > p->live_cap * 3 && live_grow(p) != 0) {
		p->unmatched++;
		return -1;
	}
	j = live_find(p, addr);
	p->live[j].addr = addr;
	p->live[j].stack = (uint32_t)si;
	if (live_set_size(p, j, size) != 0) {
		p->live[j].addr = 0;
		p->unmatched++;
		return -1;
	}
	p->nlive++;
	s = &p->stacks[si];
	mark(p, (size_t)si);
	e = block_error(size, p->rate, &w);
	note_sample(&s->err, size, w, e);
	s->alloc_samples++;
	s->inuse_samples++;
	s->alloc_objects += w;
	s->alloc_space += w * (double)size;
	s->inuse_objects += w;
	s->inuse_space += w * (double)size;
	p->inuse_space += w * (double)size;
	return 0;
}

int ht_profile_alloc(struct ht_profile *p, uint64_t addr, uint64_t size,
		     const uint64_t *frames, uint32_t nframes)
{
	return alloc_at(p, addr, size, addr ? intern_stack(p, frames, nframes) : 0);
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

int ht_profile_alloc_id(struct ht_profile *p, uint64_t addr, uint64_t size, uint32_t id)
{
	if (id >= p->capids || !p->ids[id]) {
		/* its STACK event was never seen: count it, keep nothing */
		if (addr)
			p->unmatched++;
		return 0;
	}
	return alloc_at(p, addr, size, (int64_t)p->ids[id] - 1);
}

void ht_profile_release(struct ht_profile *p, uint64_t addr)
{
	size_t j = live_find(p, addr);

	if (!p->live[j].addr) {
		if (!p->inherited)
			p->unmatched++;
		return;
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
		if (ht_snapshot_add_stack(s, &st) == HT_NONE)
			goto out;
	}
	ret = sym ? ht_symbolize(sym, s) : 0;
out:
	locmap_free(&lm);
	free(locs);
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
