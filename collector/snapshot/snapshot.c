/* The snapshot: building one in memory (a string pool and growable arrays),
 * its file form (a fixed header and one zstd frame of tagged sections, laid
 * out in heaptrace(5)), the validation of everything read back, and the
 * reading and writing of snapshot files (fileio.c writes them). */
#include "snapshot/snapshot.h"
#include "lib/fileio.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

/* ---- the file layout (heaptrace(5) is the reference) ---- */

static const unsigned char magic[8] = { 0x89, 'H', 'E', 'A', 'P', 'T', 'R', '\n' };

#define HEADER_SIZE  24 /* magic, u32 version, u32 flags, u64 body size */
#define SECTION_HEAD 16 /* u32 tag, u32 reserved, u64 payload length */
#define ZSTD_LEVEL   3

enum {
	SEC_STRINGS = 1,
	SEC_META,
	SEC_COUNTS,
	SEC_DROPS,
	SEC_METRICS,
	SEC_MODULES,
	SEC_FUNCTIONS,
	SEC_LINES,
	SEC_LOCATIONS,
	SEC_FRAMES,
	SEC_STACKS,
	SEC_STACK_ERROR,
	SEC_NOTE,
	SEC_PEAK,
	SEC_MAX
};

static const char *const sec_name[SEC_MAX] = {
	"", "strings", "meta", "counts", "drops", "metrics", "modules",
	"functions", "lines", "locations", "frames", "stacks", "stack error", "note",
	"peak",
};

/* Fixed payload sizes, and record sizes of the array sections. */
#define META_SIZE     56
#define COUNTS_SIZE   32
#define DROPS_SIZE    40
#define METRIC_SIZE   16
#define MODULE_SIZE   64
#define FUNCTION_SIZE 12
#define LINE_SIZE     8
#define LOCATION_SIZE 24
#define FRAME_SIZE    4
#define STACK_SIZE    56
#define STACK_ERROR_SIZE 88
#define PEAK_HEAD     8  /* i64 peak_time_ns, then an array of PEAK_SIZE records */
#define PEAK_SIZE     24

/* Bytes counted for a frame name beyond its strings: the line number, the
 * address, separators (see name_bytes). */
#define NAME_EXTRA 32

/* Every index is a u32 and HT_NONE is reserved, so no array may hold more. */
#define MAX_ELEMS ((size_t)HT_NONE - 1)

static inline void le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline void le64(unsigned char *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static inline double rdf64(const unsigned char *p)
{
	uint64_t u = rd64(p);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static inline uint64_t f64bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

/* ---- the pool: strings and array capacities ---- */

#define CHUNK_SIZE 65536

struct chunk {
	struct chunk *next;
	char data[];
};

struct strent {
	const char *str; /* NULL: empty slot */
	uint64_t hash;
	size_t len;
	uint32_t idx;    /* position in the encoder's string table */
};

/* Open addressing, linear probing, at most half full. */
struct strtab {
	struct strent *ent;
	size_t cap; /* 0 or a power of two */
	size_t n;
};

struct ht_snapshot_pool {
	struct chunk *chunks;
	char *cur;
	size_t left;
	struct strtab strings;
	size_t cap_metrics, cap_modules, cap_functions, cap_lines;
	size_t cap_locations, cap_frames, cap_stacks;
};

static uint64_t hash_str(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The slot holding str, or the empty slot where it belongs. */
static struct strent *strtab_slot(const struct strtab *t, const char *str,
				  size_t len, uint64_t h)
{
	size_t mask = t->cap - 1, i = (size_t)h & mask;

	for (;;) {
		struct strent *e = &t->ent[i];

		if (!e->str || (e->hash == h && e->len == len &&
				memcmp(e->str, str, len) == 0))
			return e;
		i = (i + 1) & mask;
	}
}

/* Makes room for one more entry; -1 on out-of-memory. */
static int strtab_reserve(struct strtab *t)
{
	struct strtab old = *t;
	size_t ncap, i;

	if ((t->n + 1) * 2 <= t->cap)
		return 0;
	if (t->cap > SIZE_MAX / 2 / sizeof(*t->ent))
		return -1;
	ncap = t->cap ? t->cap * 2 : 64;
	t->ent = calloc(ncap, sizeof(*t->ent));
	if (!t->ent) {
		*t = old;
		return -1;
	}
	t->cap = ncap;
	for (i = 0; i < old.cap; i++) {
		struct strent *e = &old.ent[i];

		if (e->str)
			*strtab_slot(t, e->str, e->len, e->hash) = *e;
	}
	free(old.ent);
	return 0;
}

static void *pool_chunk(struct ht_snapshot_pool *p, size_t size)
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

static char *pool_alloc(struct ht_snapshot_pool *p, size_t n)
{
	char *r;

	if (n > p->left) {
		/* Big strings get a chunk of their own; the current one stays. */
		if (n > CHUNK_SIZE / 4)
			return pool_chunk(p, n);
		r = pool_chunk(p, CHUNK_SIZE);
		if (!r)
			return NULL;
		p->cur = r;
		p->left = CHUNK_SIZE;
	}
	r = p->cur;
	p->cur += n;
	p->left -= n;
	return r;
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
	if (s->pool) {
		for (c = s->pool->chunks; c; c = next) {
			next = c->next;
			free(c);
		}
		free(s->pool->strings.ent);
		free(s->pool);
	}
	free(s);
}

const char *ht_snapshot_strdup(struct ht_snapshot *s, const char *str)
{
	struct ht_snapshot_pool *p = s->pool;
	struct strent *e;
	size_t len;
	uint64_t h;
	char *copy;

	if (!str)
		str = "";
	len = strlen(str);
	h = hash_str(str, len);
	if (strtab_reserve(&p->strings))
		return NULL;
	e = strtab_slot(&p->strings, str, len, h);
	if (e->str)
		return e->str;
	copy = pool_alloc(p, len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, str, len + 1);
	e->str = copy;
	e->hash = h;
	e->len = len;
	p->strings.n++;
	return copy;
}

/* Makes room for more elements after n in an array of capacity *cap (more
 * >= 1). Returns the array, possibly moved, or NULL (the old one intact). */
static void *grow(void *arr, size_t *cap, size_t n, size_t more, size_t elsize)
{
	size_t ncap;
	void *a;

	if (n > MAX_ELEMS || more > MAX_ELEMS - n)
		return NULL;
	if (n + more <= *cap)
		return arr;
	ncap = *cap ? *cap : 16;
	while (ncap < n + more)
		ncap = ncap > MAX_ELEMS / 2 ? MAX_ELEMS : ncap * 2;
	if (ncap > SIZE_MAX / elsize)
		return NULL;
	a = realloc(arr, ncap * elsize);
	if (!a)
		return NULL;
	*cap = ncap;
	return a;
}

uint32_t ht_snapshot_add_metric(struct ht_snapshot *s, const char *name, double value)
{
	struct ht_metric *a;
	const char *owned = ht_snapshot_strdup(s, name);

	if (!owned)
		return HT_NONE;
	a = grow(s->metrics, &s->pool->cap_metrics, s->nmetrics, 1, sizeof(*a));
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
	struct ht_module *a = grow(s->modules, &s->pool->cap_modules,
				   s->nmodules, 1, sizeof(*a));

	if (!a)
		return HT_NONE;
	s->modules = a;
	a[s->nmodules] = *x;
	return (uint32_t)s->nmodules++;
}

uint32_t ht_snapshot_add_function(struct ht_snapshot *s, const struct ht_function *x)
{
	struct ht_function *a = grow(s->functions, &s->pool->cap_functions,
				     s->nfunctions, 1, sizeof(*a));

	if (!a)
		return HT_NONE;
	s->functions = a;
	a[s->nfunctions] = *x;
	return (uint32_t)s->nfunctions++;
}

uint32_t ht_snapshot_add_line(struct ht_snapshot *s, const struct ht_line *x)
{
	struct ht_line *a = grow(s->lines, &s->pool->cap_lines, s->nlines, 1,
				 sizeof(*a));

	if (!a)
		return HT_NONE;
	s->lines = a;
	a[s->nlines] = *x;
	return (uint32_t)s->nlines++;
}

uint32_t ht_snapshot_add_location(struct ht_snapshot *s, const struct ht_location *x)
{
	struct ht_location *a = grow(s->locations, &s->pool->cap_locations,
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
	a = grow(s->frames, &s->pool->cap_frames, s->nframes, n, sizeof(*a));
	if (!a)
		return HT_NONE;
	s->frames = a;
	memcpy(a + first, locs, n * sizeof(*a));
	s->nframes += n;
	return (uint32_t)first;
}

uint32_t ht_snapshot_add_stack(struct ht_snapshot *s, const struct ht_stack *x)
{
	struct ht_stack *a = grow(s->stacks, &s->pool->cap_stacks, s->nstacks,
				  1, sizeof(*a));

	if (!a)
		return HT_NONE;
	s->stacks = a;
	a[s->nstacks] = *x;
	return (uint32_t)s->nstacks++;
}

double ht_stack_value(const struct ht_stack *st, enum ht_index which)
{
	switch (which) {
	case HT_INUSE_SPACE:   return st->inuse_space;
	case HT_INUSE_OBJECTS: return st->inuse_objects;
	case HT_ALLOC_SPACE:   return st->alloc_space;
	case HT_ALLOC_OBJECTS: return st->alloc_objects;
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

/* Checks every index and range in s; what prefixes the message ("corrupt
 * snapshot" when decoding, "invalid snapshot" when encoding). */
static int validate(const struct ht_snapshot *s, const char *what, char *err,
		    size_t errlen)
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
		if (check_counter(st->inuse_objects, "inuse_objects", i, what, err, errlen) ||
		    check_counter(st->inuse_space, "inuse_space", i, what, err, errlen) ||
		    check_counter(st->peak_objects, "peak_objects", i, what, err, errlen) ||
		    check_counter(st->peak_space, "peak_space", i, what, err, errlen) ||
		    check_counter(st->alloc_objects, "alloc_objects", i, what, err, errlen) ||
		    check_counter(st->alloc_space, "alloc_space", i, what, err, errlen))
			return -1;
		if (s->stack_error &&
		    (check_error(st->err.var[0], "error of inuse_space", i, what, err, errlen) ||
		     check_error(st->err.var[1], "error of inuse_objects", i, what, err, errlen) ||
		     check_error(st->err.var[2], "error of alloc_space", i, what, err, errlen) ||
		     check_error(st->err.var[3], "error of alloc_objects", i, what, err, errlen) ||
		     check_error(st->err.share_objects, "error share of objects", i, what, err, errlen) ||
		     check_error(st->err.share_space, "error share of bytes", i, what, err, errlen) ||
		     check_error(st->err.lump_mass, "missed blocks", i, what, err, errlen) ||
		     check_error(st->err.lump_one, "missed blocks", i, what, err, errlen)))
			return -1;
	}
	return 0;
}

/* ---- encoding: body bytes are staged and compressed as they come ---- */

#define STAGE_SIZE (1u << 17) /* one zstd block */

struct writer {
	ZSTD_CCtx *cc;
	unsigned char *stage;
	size_t n;              /* bytes staged */
	uint64_t total;        /* body bytes produced so far */
	unsigned char *out;    /* the file image */
	size_t outlen, outcap;
	int failed;
	char *err;
	size_t errlen;
};

static void w_flush(struct writer *w, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { w->stage, w->n, 0 };
	size_t room = ZSTD_CStreamOutSize(), r;

	while (!w->failed) {
		ZSTD_outBuffer ob;

		if (w->outcap - w->outlen < room) {
			size_t ncap = w->outcap * 2 + room;
			unsigned char *p = ncap > w->outcap ? realloc(w->out, ncap) : NULL;

			if (!p) {
				w->failed = ht_fail(w->err, w->errlen, "out of memory");
				break;
			}
			w->out = p;
			w->outcap = ncap;
		}
		ob.dst = w->out;
		ob.size = w->outcap;
		ob.pos = w->outlen;
		r = ZSTD_compressStream2(w->cc, &ob, &in, end);
		w->outlen = ob.pos;
		if (ZSTD_isError(r)) {
			w->failed = ht_fail(w->err, w->errlen, "cannot compress snapshot: %s",
					    ZSTD_getErrorName(r));
			break;
		}
		if (end == ZSTD_e_end ? r == 0 : in.pos == in.size)
			break;
	}
	w->n = 0;
}

/* Room for n (<= STAGE_SIZE) body bytes, which the caller must fill. */
static inline unsigned char *w_room(struct writer *w, size_t n)
{
	unsigned char *p;

	if (STAGE_SIZE - w->n < n)
		w_flush(w, ZSTD_e_continue);
	p = w->stage + w->n;
	w->n += n;
	w->total += n;
	return p;
}

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	const unsigned char *src = p;

	while (n) {
		size_t k = STAGE_SIZE - w->n;

		if (k == 0) {
			w_flush(w, ZSTD_e_continue);
			k = STAGE_SIZE;
		}
		if (k > n)
			k = n;
		memcpy(w_room(w, k), src, k);
		src += k;
		n -= k;
	}
}

static inline void w_u32(struct writer *w, uint32_t v)
{
	le32(w_room(w, 4), v);
}

static inline void w_u64(struct writer *w, uint64_t v)
{
	le64(w_room(w, 8), v);
}

static void w_section(struct writer *w, uint32_t tag, uint64_t len)
{
	unsigned char *p = w_room(w, SECTION_HEAD);

	le32(p, tag);
	le32(p + 4, 0);
	le64(p + 8, len);
}

/* n u32 values, a stage at a time. */
static void w_u32s(struct writer *w, const uint32_t *v, size_t n)
{
	while (n) {
		size_t k = (STAGE_SIZE - w->n) / 4, i;
		unsigned char *p;

		if (k == 0) {
			w_flush(w, ZSTD_e_continue);
			k = STAGE_SIZE / 4;
		}
		if (k > n)
			k = n;
		p = w_room(w, 4 * k);
		for (i = 0; i < k; i++)
			le32(p + 4 * i, v[i]);
		v += k;
		n -= k;
	}
}

/* The encoder's string table: each distinct string once, in first-use order. */
struct enc_strings {
	struct strtab tab;
	const char **list;
	size_t n, cap;
	uint64_t bytes; /* payload size of the strings section */
};

/* Returns the table index of str (NULL counts as ""), or HT_NONE on
 * out-of-memory or a string too long for the format. */
static uint32_t intern(struct enc_strings *es, const char *str)
{
	struct strent *e;
	size_t len;
	uint64_t h;
	const char **l;

	if (!str)
		str = "";
	len = strlen(str);
	if (len > UINT32_MAX)
		return HT_NONE;
	h = hash_str(str, len);
	if (strtab_reserve(&es->tab))
		return HT_NONE;
	e = strtab_slot(&es->tab, str, len, h);
	if (e->str)
		return e->idx;
	l = grow(es->list, &es->cap, es->n, 1, sizeof(*l));
	if (!l)
		return HT_NONE;
	es->list = l;
	l[es->n] = str;
	e->str = str;
	e->hash = h;
	e->len = len;
	e->idx = (uint32_t)es->n;
	es->tab.n++;
	es->bytes += 4 + len;
	return (uint32_t)es->n++;
}

static void write_body(struct writer *w, const struct ht_snapshot *s,
		       const struct enc_strings *es, const uint32_t *ids)
{
	const uint32_t *mid = ids + 2, *modid = mid + s->nmetrics;
	const uint32_t *fid = modid + s->nmodules;
	unsigned char *p;
	size_t i;

	w_section(w, SEC_STRINGS, 8 + es->bytes);
	w_u64(w, es->n);
	for (i = 0; i < es->n; i++) {
		size_t len = strlen(es->list[i]);

		w_u32(w, (uint32_t)len);
		w_bytes(w, es->list[i], len);
	}

	w_section(w, SEC_META, META_SIZE);
	p = w_room(w, META_SIZE);
	le32(p, s->flags);
	le32(p + 4, s->max_depth);
	le64(p + 8, (uint64_t)s->pid);
	le32(p + 16, ids[0]);
	le32(p + 20, ids[1]);
	le64(p + 24, (uint64_t)s->start_time_ns);
	le64(p + 32, (uint64_t)s->time_ns);
	le64(p + 40, s->rate);
	le32(p + 48, s->seq);
	le32(p + 52, 0);

	w_section(w, SEC_COUNTS, COUNTS_SIZE);
	p = w_room(w, COUNTS_SIZE);
	le64(p, s->counts.alloc_calls);
	le64(p + 8, s->counts.free_calls);
	le64(p + 16, s->counts.realloc_calls);
	le64(p + 24, s->counts.alloc_bytes);

	w_section(w, SEC_DROPS, DROPS_SIZE);
	p = w_room(w, DROPS_SIZE);
	le64(p, s->drops.alloc_events);
	le64(p + 8, s->drops.free_events);
	le64(p + 16, s->drops.other_events);
	le64(p + 24, s->drops.arena_full);
	le64(p + 32, s->drops.unmatched);

	w_section(w, SEC_METRICS, 8 + (uint64_t)s->nmetrics * METRIC_SIZE);
	w_u64(w, s->nmetrics);
	for (i = 0; i < s->nmetrics; i++) {
		p = w_room(w, METRIC_SIZE);
		le32(p, mid[i]);
		le32(p + 4, 0);
		le64(p + 8, f64bits(s->metrics[i].value));
	}

	w_section(w, SEC_MODULES, 8 + (uint64_t)s->nmodules * MODULE_SIZE);
	w_u64(w, s->nmodules);
	for (i = 0; i < s->nmodules; i++) {
		const struct ht_module *m = &s->modules[i];

		p = w_room(w, MODULE_SIZE);
		le32(p, modid[i]);
		le32(p + 4, m->build_id_len);
		le64(p + 8, m->start);
		le64(p + 16, m->end);
		le64(p + 24, m->bias);
		memset(p + 32, 0, sizeof(m->build_id));
		memcpy(p + 32, m->build_id, m->build_id_len);
	}

	w_section(w, SEC_FUNCTIONS, 8 + (uint64_t)s->nfunctions * FUNCTION_SIZE);
	w_u64(w, s->nfunctions);
	w_u32s(w, fid, 3 * s->nfunctions);

	w_section(w, SEC_LINES, 8 + (uint64_t)s->nlines * LINE_SIZE);
	w_u64(w, s->nlines);
	for (i = 0; i < s->nlines; i++) {
		p = w_room(w, LINE_SIZE);
		le32(p, s->lines[i].function);
		le32(p + 4, s->lines[i].line);
	}

	w_section(w, SEC_LOCATIONS, 8 + (uint64_t)s->nlocations * LOCATION_SIZE);
	w_u64(w, s->nlocations);
	for (i = 0; i < s->nlocations; i++) {
		const struct ht_location *l = &s->locations[i];

		p = w_room(w, LOCATION_SIZE);
		le64(p, l->address);
		le32(p + 8, l->module);
		le32(p + 12, l->first_line);
		le32(p + 16, l->nlines);
		le32(p + 20, 0);
	}

	w_section(w, SEC_FRAMES, 8 + (uint64_t)s->nframes * FRAME_SIZE);
	w_u64(w, s->nframes);
	w_u32s(w, s->frames, s->nframes);

	w_section(w, SEC_STACKS, 8 + (uint64_t)s->nstacks * STACK_SIZE);
	w_u64(w, s->nstacks);
	for (i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		p = w_room(w, STACK_SIZE);
		le32(p, st->first_frame);
		le32(p + 4, st->nframes);
		le64(p + 8, f64bits(st->inuse_objects));
		le64(p + 16, f64bits(st->inuse_space));
		le64(p + 24, f64bits(st->alloc_objects));
		le64(p + 32, f64bits(st->alloc_space));
		le64(p + 40, st->inuse_samples);
		le64(p + 48, st->alloc_samples);
	}

	if (s->stack_error) {
		w_section(w, SEC_STACK_ERROR, 8 + (uint64_t)s->nstacks * STACK_ERROR_SIZE);
		w_u64(w, s->nstacks);
		for (i = 0; i < s->nstacks; i++) {
			const struct ht_stack *st = &s->stacks[i];

			p = w_room(w, STACK_ERROR_SIZE);
			for (int k = 0; k < 4; k++)
				le64(p + 8 * k, f64bits(st->err.var[k]));
			le64(p + 32, f64bits(st->err.share_objects));
			le64(p + 40, f64bits(st->err.share_space));
			le64(p + 48, st->err.min_size);
			le64(p + 56, st->err.max_size);
			le64(p + 64, st->err.lump_size);
			le64(p + 72, f64bits(st->err.lump_mass));
			le64(p + 80, f64bits(st->err.lump_one));
		}
	}
	if (s->note && *s->note) {
		w_section(w, SEC_NOTE, strlen(s->note));
		w_bytes(w, s->note, strlen(s->note));
	}
	if (!s->peak_time_ns)
		return;
	w_section(w, SEC_PEAK, PEAK_HEAD + 8 + (uint64_t)s->nstacks * PEAK_SIZE);
	p = w_room(w, PEAK_HEAD);
	le64(p, (uint64_t)s->peak_time_ns);
	w_u64(w, s->nstacks);
	for (i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		p = w_room(w, PEAK_SIZE);
		le64(p, f64bits(st->peak_objects));
		le64(p + 8, f64bits(st->peak_space));
		le64(p + 16, st->peak_samples);
	}
}

static uint64_t body_size(const struct ht_snapshot *s, const struct enc_strings *es)
{
	return 11 * SECTION_HEAD + 8 + es->bytes + META_SIZE + COUNTS_SIZE +
	       DROPS_SIZE + 8 + (uint64_t)s->nmetrics * METRIC_SIZE +
	       8 + (uint64_t)s->nmodules * MODULE_SIZE +
	       8 + (uint64_t)s->nfunctions * FUNCTION_SIZE +
	       8 + (uint64_t)s->nlines * LINE_SIZE +
	       8 + (uint64_t)s->nlocations * LOCATION_SIZE +
	       8 + (uint64_t)s->nframes * FRAME_SIZE +
	       8 + (uint64_t)s->nstacks * STACK_SIZE +
	       (s->stack_error ? SECTION_HEAD + 8 + (uint64_t)s->nstacks * STACK_ERROR_SIZE : 0) +
	       (s->note && *s->note ? SECTION_HEAD + strlen(s->note) : 0) +
	       (s->peak_time_ns ? SECTION_HEAD + PEAK_HEAD + 8 +
				  (uint64_t)s->nstacks * PEAK_SIZE : 0);
}

static void put_header(unsigned char *p, uint64_t bodylen)
{
	memcpy(p, magic, sizeof(magic));
	le32(p + 8, HT_SNAPSHOT_VERSION);
	le32(p + 12, 0);
	le64(p + 16, bodylen);
}

/* Compresses a body produced by fill (or the raw bytes in body, if fill is
 * NULL) into a file image. */
static int compress_image(uint64_t bodylen, const void *body,
			  void (*fill)(struct writer *, const void *), const void *arg,
			  void **buf, size_t *len, char *err, size_t errlen)
{
	struct writer w = { .err = err, .errlen = errlen };
	size_t r;

	w.cc = ZSTD_createCCtx();
	w.stage = malloc(STAGE_SIZE);
	w.outcap = HEADER_SIZE + ZSTD_CStreamOutSize();
	w.out = malloc(w.outcap);
	if (!w.cc || !w.stage || !w.out) {
		w.failed = ht_fail(err, errlen, "out of memory");
		goto out;
	}
	w.outlen = HEADER_SIZE;
	put_header(w.out, bodylen);
	r = ZSTD_CCtx_setParameter(w.cc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(w.cc, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(w.cc, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setPledgedSrcSize(w.cc, bodylen);
	if (ZSTD_isError(r)) {
		w.failed = ht_fail(err, errlen, "cannot compress snapshot: %s",
				   ZSTD_getErrorName(r));
		goto out;
	}
	if (fill)
		fill(&w, arg);
	else
		w_bytes(&w, body, bodylen);
	if (!w.failed && w.total != bodylen)
		w.failed = ht_fail(err, errlen, "cannot encode snapshot: body is %llu bytes, expected %llu",
				   (unsigned long long)w.total, (unsigned long long)bodylen);
	w_flush(&w, ZSTD_e_end);
out:
	ZSTD_freeCCtx(w.cc);
	free(w.stage);
	if (w.failed) {
		free(w.out);
		return -1;
	}
	*buf = realloc(w.out, w.outlen);
	if (!*buf)
		*buf = w.out;
	*len = w.outlen;
	return 0;
}

struct body_args {
	const struct ht_snapshot *s;
	const struct enc_strings *es;
	const uint32_t *ids;
};

static void fill_body(struct writer *w, const void *arg)
{
	const struct body_args *a = arg;

	write_body(w, a->s, a->es, a->ids);
}

int ht_snapshot_encode(const struct ht_snapshot *s, void **buf, size_t *len,
		       char *err, size_t errlen)
{
	struct enc_strings es = { 0 };
	struct body_args args;
	uint32_t *ids = NULL, *p;
	size_t nids, i;
	int rc = -1;

	*buf = NULL;
	*len = 0;
	if (validate(s, "invalid snapshot", err, errlen))
		return -1;
	/* String indices, in write order: exe, cmdline, metric names, module
	 * paths, then name, system_name and file of each function. */
	if (s->nfunctions > (SIZE_MAX - 2 - s->nmetrics - s->nmodules) / 3 / sizeof(*ids))
		return ht_fail(err, errlen, "out of memory");
	nids = 2 + s->nmetrics + s->nmodules + 3 * s->nfunctions;
	ids = malloc(nids * sizeof(*ids));
	if (!ids)
		return ht_fail(err, errlen, "out of memory");
	p = ids;
	*p++ = intern(&es, s->exe);
	*p++ = intern(&es, s->cmdline);
	for (i = 0; i < s->nmetrics; i++)
		*p++ = intern(&es, s->metrics[i].name);
	for (i = 0; i < s->nmodules; i++)
		*p++ = intern(&es, s->modules[i].path);
	for (i = 0; i < s->nfunctions; i++) {
		*p++ = intern(&es, s->functions[i].name);
		*p++ = intern(&es, s->functions[i].system_name);
		*p++ = intern(&es, s->functions[i].file);
	}
	for (i = 0; i < nids; i++)
		if (ids[i] == HT_NONE) {
			ht_fail(err, errlen, "out of memory (or a string over 4 GiB)");
			goto out;
		}
	args.s = s;
	args.es = &es;
	args.ids = ids;
	rc = compress_image(body_size(s, &es), NULL, fill_body, &args, buf, len,
			    err, errlen);
out:
	free(ids);
	free(es.list);
	free(es.tab.ent);
	return rc;
}

int ht_snapshot_wrap_body(const void *body, size_t bodylen, void **buf, size_t *len,
			  char *err, size_t errlen)
{
	*buf = NULL;
	*len = 0;
	return compress_image(bodylen, body, NULL, NULL, buf, len, err, errlen);
}

/* ---- decoding ---- */

static int zstd_fail(size_t r, char *err, size_t errlen)
{
	char name[128];
	size_t i;

	if (ZSTD_getErrorCode(r) == ZSTD_error_srcSize_wrong)
		return ht_fail(err, errlen, "truncated snapshot");
	snprintf(name, sizeof(name), "%s", ZSTD_getErrorName(r));
	for (i = 0; name[i]; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] - 'A' + 'a');
	return ht_fail(err, errlen, "corrupt snapshot: compressed body: %s", name);
}

/* The body a file of srclen compressed bytes may have (heaptrace(5),
 * VALIDATION): snapshots compress some 10 to 50 times, zstd up to 32768. */
static int check_body_size(uint64_t bodylen, uint64_t srclen, char *err, size_t errlen)
{
	uint64_t cap = HT_SNAPSHOT_MAX_BODY;

	if (srclen < (HT_SNAPSHOT_MAX_BODY - HT_SNAPSHOT_BODY_FREE) / HT_SNAPSHOT_BODY_RATIO)
		cap = HT_SNAPSHOT_BODY_FREE + HT_SNAPSHOT_BODY_RATIO * srclen;
	if (bodylen > HT_SNAPSHOT_MAX_BODY || bodylen > SIZE_MAX)
		return ht_fail(err, errlen, "snapshot too large: a body of %llu bytes, more than the %llu accepted",
			       (unsigned long long)bodylen, (unsigned long long)HT_SNAPSHOT_MAX_BODY);
	if (bodylen > cap)
		return ht_fail(err, errlen, "snapshot too large: a body of %llu bytes from %llu compressed bytes, "
			       "more than the %llu accepted", (unsigned long long)bodylen,
			       (unsigned long long)srclen, (unsigned long long)cap);
	return 0;
}

/* Decompresses the single zstd frame in src into a malloc'd body of exactly
 * bodylen bytes. Memory grows with the output actually produced, so a header
 * that lies about the size costs nothing. */
static int inflate_body(const unsigned char *src, size_t srclen, uint64_t bodylen,
			unsigned char **body, char *err, size_t errlen)
{
	ZSTD_DCtx *d = NULL;
	ZSTD_inBuffer in;
	ZSTD_outBuffer ob = { NULL, 0, 0 };
	unsigned long long fcs;
	size_t csize, r;
	int rc = -1;

	*body = NULL;
	if (srclen < 4)
		return ht_fail(err, errlen, "truncated snapshot");
	if (rd32(src) != ZSTD_MAGICNUMBER)
		return ht_fail(err, errlen, "corrupt snapshot: body is not a zstd frame");
	csize = ZSTD_findFrameCompressedSize(src, srclen);
	if (ZSTD_isError(csize))
		return zstd_fail(csize, err, errlen);
	if (csize < srclen)
		return ht_fail(err, errlen, "corrupt snapshot: %zu stray bytes after the compressed body",
			       srclen - csize);
	/* Frame header descriptor, bit 2: content checksum present. */
	if (!(src[4] & 0x04))
		return ht_fail(err, errlen, "corrupt snapshot: compressed body has no checksum");
	fcs = ZSTD_getFrameContentSize(src, srclen);
	if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
		return ht_fail(err, errlen, "corrupt snapshot: compressed body does not record its size");
	if (fcs != bodylen)
		return ht_fail(err, errlen, "corrupt snapshot: header says %llu body bytes, compressed body says %llu",
			       (unsigned long long)bodylen, fcs);
	if (check_body_size(bodylen, srclen, err, errlen))
		return -1;

	d = ZSTD_createDCtx();
	ob.size = bodylen < (1u << 20) ? (size_t)bodylen : (1u << 20);
	ob.dst = malloc(ob.size ? ob.size : 1);
	if (!d || !ob.dst) {
		ht_fail(err, errlen, "out of memory");
		goto out;
	}
	in.src = src;
	in.size = srclen;
	in.pos = 0;
	for (;;) {
		size_t in_was = in.pos, out_was = ob.pos;

		if (ob.pos == ob.size && ob.size < bodylen) {
			size_t ncap = ob.size > bodylen / 2 ? (size_t)bodylen : ob.size * 2;
			void *p = realloc(ob.dst, ncap);

			if (!p) {
				ht_fail(err, errlen, "out of memory");
				goto out;
			}
			ob.dst = p;
			ob.size = ncap;
		}
		r = ZSTD_decompressStream(d, &ob, &in);
		if (ZSTD_isError(r)) {
			zstd_fail(r, err, errlen);
			goto out;
		}
		if (r == 0)
			break;
		if (in.pos == in_was && ob.pos == out_was) {
			if (ob.pos == bodylen)
				ht_fail(err, errlen, "corrupt snapshot: compressed body is larger than its header says");
			else
				ht_fail(err, errlen, "truncated snapshot");
			goto out;
		}
	}
	if (ob.pos != bodylen || in.pos != srclen) {
		ht_fail(err, errlen, "corrupt snapshot: body is %zu bytes, header says %llu",
			ob.pos, (unsigned long long)bodylen);
		goto out;
	}
	*body = ob.dst;
	ob.dst = NULL;
	rc = 0;
out:
	ZSTD_freeDCtx(d);
	free(ob.dst);
	return rc;
}

struct sect {
	const unsigned char *p;
	size_t len;
	int present;
};

struct reader {
	struct sect sec[SEC_MAX];
	const char **strs;
	uint32_t *lens;     /* strlen of each string */
	size_t nstrs;
	uint64_t *fweight;  /* name bytes of each function, see name_bytes */
	uint64_t *mweight;  /* and of each module */
	uint64_t listed;    /* of the metrics, modules and functions, each once */
	char *err;
	size_t errlen;
};

/* Resolves string index i, named by element k of kind what. */
static int get_str(struct reader *rd, uint32_t i, const char *what, size_t k,
		   const char **out)
{
	if (i >= rd->nstrs)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s %zu names string %u of %zu",
			       what, k, i, rd->nstrs);
	*out = rd->strs[i];
	return 0;
}

/* A fixed-size section: absent (returns 0, *p NULL) or exactly size bytes. */
static int fixed_section(struct reader *rd, int tag, size_t size,
			 const unsigned char **p)
{
	const struct sect *sc = &rd->sec[tag];

	*p = NULL;
	if (!sc->present)
		return 0;
	if (sc->len != size)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section is %zu bytes, expected %zu",
			       sec_name[tag], sc->len, size);
	*p = sc->p;
	return 0;
}

/* An array section: absent (no elements) or a u64 count followed by exactly
 * count records of recsize bytes. Sets *p to the first record. */
static int array_section(struct reader *rd, int tag, size_t recsize, size_t *n,
			 const unsigned char **p)
{
	const struct sect *sc = &rd->sec[tag];
	uint64_t count;

	*n = 0;
	*p = NULL;
	if (!sc->present)
		return 0;
	if (sc->len < 8)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section is %zu bytes, too short for its count",
			       sec_name[tag], sc->len);
	count = rd64(sc->p);
	if (count > (sc->len - 8) / recsize || count * recsize != sc->len - 8)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section holds %zu bytes for %llu entries of %zu",
			       sec_name[tag], sc->len - 8, (unsigned long long)count, recsize);
	if (count > MAX_ELEMS)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section has more entries than an index can name",
			       sec_name[tag]);
	*n = (size_t)count;
	*p = sc->p + 8;
	return 0;
}

/* Allocates an array of n elements (none when n is 0); -1 on out-of-memory.
 * n is bounded by the section that holds them, so this cannot be abused. */
static int alloc_array(struct reader *rd, void **arr, size_t *cap, size_t n, size_t elsize)
{
	*arr = NULL;
	*cap = 0;
	if (n == 0)
		return 0;
	*arr = malloc(n * elsize);
	if (!*arr)
		return ht_fail(rd->err, rd->errlen, "out of memory");
	*cap = n;
	return 0;
}

static int read_strings(struct reader *rd, struct ht_snapshot *s)
{
	const struct sect *sc = &rd->sec[SEC_STRINGS];
	const unsigned char *p;
	size_t left, i, space;
	uint64_t count;
	char *dst;

	if (sc->len < 8)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: strings section is %zu bytes, too short for its count",
			       sc->len);
	count = rd64(sc->p);
	left = sc->len - 8;
	if (count > left / 4 || count > MAX_ELEMS)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: strings section is too short for %llu strings",
			       (unsigned long long)count);
	rd->nstrs = (size_t)count;
	if (count) {
		rd->strs = malloc(rd->nstrs * sizeof(*rd->strs));
		rd->lens = malloc(rd->nstrs * sizeof(*rd->lens));
		if (!rd->strs || !rd->lens)
			return ht_fail(rd->err, rd->errlen, "out of memory");
	}
	/* Each string loses its 4-byte length and gains a NUL: a section
	 * that is well formed needs exactly this much storage. */
	space = left - 4 * rd->nstrs + rd->nstrs;
	dst = pool_chunk(s->pool, space ? space : 1);
	if (!dst)
		return ht_fail(rd->err, rd->errlen, "out of memory");
	p = sc->p + 8;
	for (i = 0; i < rd->nstrs; i++) {
		uint32_t len;

		if (left < 4)
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: string %zu runs past its section", i);
		len = rd32(p);
		p += 4;
		left -= 4;
		/* A string that leaves too little for the lengths of those
		 * after it would also overrun the storage. */
		if (len > left || (size_t)len + 1 > space)
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: string %zu runs past its section", i);
		if (memchr(p, 0, len))
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: string %zu holds a NUL byte", i);
		memcpy(dst, p, len);
		dst[len] = '\0';
		rd->strs[i] = dst;
		rd->lens[i] = len;
		dst += len + 1;
		space -= len + 1;
		p += len;
		left -= len;
	}
	if (left)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %zu stray bytes after the strings", left);
	return 0;
}

static int read_meta(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;

	if (fixed_section(rd, SEC_META, META_SIZE, &p))
		return -1;
	s->flags = rd32(p);
	s->max_depth = rd32(p + 4);
	s->pid = (int64_t)rd64(p + 8);
	if (get_str(rd, rd32(p + 16), "meta field", 0, &s->exe) ||
	    get_str(rd, rd32(p + 20), "meta field", 1, &s->cmdline))
		return -1;
	s->start_time_ns = (int64_t)rd64(p + 24);
	s->time_ns = (int64_t)rd64(p + 32);
	s->rate = rd64(p + 40);
	s->seq = rd32(p + 48);

	if (fixed_section(rd, SEC_COUNTS, COUNTS_SIZE, &p))
		return -1;
	if (p) {
		s->counts.alloc_calls = rd64(p);
		s->counts.free_calls = rd64(p + 8);
		s->counts.realloc_calls = rd64(p + 16);
		s->counts.alloc_bytes = rd64(p + 24);
	}
	if (fixed_section(rd, SEC_DROPS, DROPS_SIZE, &p))
		return -1;
	if (p) {
		s->drops.alloc_events = rd64(p);
		s->drops.free_events = rd64(p + 8);
		s->drops.other_events = rd64(p + 16);
		s->drops.arena_full = rd64(p + 24);
		s->drops.unmatched = rd64(p + 32);
	}
	return 0;
}

/* The peak profile (optional): its time, then one record per stack. */
static int read_peak(struct reader *rd, struct ht_snapshot *s)
{
	const struct sect *sc = &rd->sec[SEC_PEAK];
	uint64_t count;
	const unsigned char *p;

	if (!sc->present)
		return 0;
	if (sc->len < PEAK_HEAD + 8)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: peak section is %zu bytes, "
			       "too short for its time and count", sc->len);
	count = rd64(sc->p + PEAK_HEAD);
	if (count != s->nstacks || sc->len - PEAK_HEAD - 8 != count * PEAK_SIZE)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: peak section holds %zu bytes "
			       "for %llu entries of %d; there are %zu stacks", sc->len,
			       (unsigned long long)count, PEAK_SIZE, s->nstacks);
	s->peak_time_ns = (int64_t)rd64(sc->p);
	if (!s->peak_time_ns)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: peak section without a time");
	p = sc->p + PEAK_HEAD + 8;
	for (size_t i = 0; i < s->nstacks; i++, p += PEAK_SIZE) {
		s->stacks[i].peak_objects = rdf64(p);
		s->stacks[i].peak_space = rdf64(p + 8);
		s->stacks[i].peak_samples = rd64(p + 16);
	}
	return 0;
}

static int read_arrays(struct reader *rd, struct ht_snapshot *s)
{
	struct ht_snapshot_pool *pool = s->pool;
	const unsigned char *p;
	size_t i, n;
	void *a;

	if (array_section(rd, SEC_METRICS, METRIC_SIZE, &n, &p) ||
	    alloc_array(rd, &a, &pool->cap_metrics, n, sizeof(*s->metrics)))
		return -1;
	s->metrics = a;
	for (i = 0; i < n; i++, p += METRIC_SIZE) {
		if (get_str(rd, rd32(p), "metric", i, &s->metrics[i].name))
			return -1;
		rd->listed += (uint64_t)rd->lens[rd32(p)] + NAME_EXTRA;
		s->metrics[i].value = rdf64(p + 8);
		s->nmetrics++;
	}

	if (array_section(rd, SEC_MODULES, MODULE_SIZE, &n, &p) ||
	    alloc_array(rd, &a, &pool->cap_modules, n, sizeof(*s->modules)))
		return -1;
	s->modules = a;
	if (n && !(rd->mweight = malloc(n * sizeof(uint64_t))))
		return ht_fail(rd->err, rd->errlen, "out of memory");
	for (i = 0; i < n; i++, p += MODULE_SIZE) {
		struct ht_module *m = &s->modules[i];

		if (get_str(rd, rd32(p), "module", i, &m->path))
			return -1;
		rd->mweight[i] = (uint64_t)rd->lens[rd32(p)] + NAME_EXTRA;
		rd->listed += rd->mweight[i];
		m->build_id_len = rd32(p + 4);
		if (m->build_id_len > sizeof(m->build_id))
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: module %zu has a build id of %u bytes, more than %zu",
				       i, m->build_id_len, sizeof(m->build_id));
		m->start = rd64(p + 8);
		m->end = rd64(p + 16);
		m->bias = rd64(p + 24);
		memset(m->build_id, 0, sizeof(m->build_id));
		memcpy(m->build_id, p + 32, m->build_id_len);
		s->nmodules++;
	}

	if (array_section(rd, SEC_FUNCTIONS, FUNCTION_SIZE, &n, &p) ||
	    alloc_array(rd, &a, &pool->cap_functions, n, sizeof(*s->functions)))
		return -1;
	s->functions = a;
	if (n && !(rd->fweight = malloc(n * sizeof(uint64_t))))
		return ht_fail(rd->err, rd->errlen, "out of memory");
	for (i = 0; i < n; i++, p += FUNCTION_SIZE) {
		struct ht_function *f = &s->functions[i];
		uint32_t name, sys;

		if (get_str(rd, rd32(p), "function", i, &f->name) ||
		    get_str(rd, rd32(p + 4), "function", i, &f->system_name) ||
		    get_str(rd, rd32(p + 8), "function", i, &f->file))
			return -1;
		name = rd->lens[rd32(p)];
		sys = rd->lens[rd32(p + 4)];
		rd->fweight[i] = (uint64_t)(name > sys ? name : sys) + rd->lens[rd32(p + 8)] +
				 NAME_EXTRA;
		rd->listed += rd->fweight[i] + name;
		s->nfunctions++;
	}

	if (array_section(rd, SEC_LINES, LINE_SIZE, &n, &p) ||
	    alloc_array(rd, &a, &pool->cap_lines, n, sizeof(*s->lines)))
		return -1;
	s->lines = a;
	for (i = 0; i < n; i++, p += LINE_SIZE) {
		s->lines[i].function = rd32(p);
		s->lines[i].line = rd32(p + 4);
	}
	s->nlines = n;

	if (array_section(rd, SEC_LOCATIONS, LOCATION_SIZE, &n, &p) ||
	    alloc_array(rd, &a, &pool->cap_locations, n, sizeof(*s->locations)))
		return -1;
	s->locations = a;
	for (i = 0; i < n; i++, p += LOCATION_SIZE) {
		s->locations[i].address = rd64(p);
		s->locations[i].module = rd32(p + 8);
		s->locations[i].first_line = rd32(p + 12);
		s->locations[i].nlines = rd32(p + 16);
	}
	s->nlocations = n;

	if (array_section(rd, SEC_FRAMES, FRAME_SIZE, &n, &p) ||
	    alloc_array(rd, &a, &pool->cap_frames, n, sizeof(*s->frames)))
		return -1;
	s->frames = a;
	for (i = 0; i < n; i++, p += FRAME_SIZE)
		s->frames[i] = rd32(p);
	s->nframes = n;

	if (array_section(rd, SEC_STACKS, STACK_SIZE, &n, &p) ||
	    alloc_array(rd, &a, &pool->cap_stacks, n, sizeof(*s->stacks)))
		return -1;
	s->stacks = a;
	for (i = 0; i < n; i++, p += STACK_SIZE) {
		struct ht_stack *st = &s->stacks[i];

		st->first_frame = rd32(p);
		st->nframes = rd32(p + 4);
		st->inuse_objects = rdf64(p + 8);
		st->inuse_space = rdf64(p + 16);
		st->alloc_objects = rdf64(p + 24);
		st->alloc_space = rdf64(p + 32);
		st->inuse_samples = rd64(p + 40);
		st->alloc_samples = rd64(p + 48);
		st->peak_objects = st->peak_space = 0; /* unless a peak section says */
		st->peak_samples = 0;
	}
	s->nstacks = n;

	/* optional (files before it have none): one record per stack */
	if (!rd->sec[SEC_STACK_ERROR].present)
		return read_peak(rd, s);
	if (array_section(rd, SEC_STACK_ERROR, STACK_ERROR_SIZE, &n, &p))
		return -1;
	if (n != s->nstacks)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: stack error section has %zu "
			       "entries for %zu stacks", n, s->nstacks);
	for (i = 0; i < n; i++, p += STACK_ERROR_SIZE) {
		struct ht_stack *st = &s->stacks[i];

		for (int k = 0; k < 4; k++)
			st->err.var[k] = rdf64(p + 8 * k);
		st->err.share_objects = rdf64(p + 32);
		st->err.share_space = rdf64(p + 40);
		st->err.min_size = rd64(p + 48);
		st->err.max_size = rd64(p + 56);
		st->err.lump_size = rd64(p + 64);
		st->err.lump_mass = rdf64(p + 72);
		st->err.lump_one = rdf64(p + 80);
	}
	s->stack_error = 1;
	return read_peak(rd, s);
}

/* The note section, if any: one line of text for the reader. */
static int read_note(struct reader *rd, struct ht_snapshot *s)
{
	const struct sect *sc = &rd->sec[SEC_NOTE];
	char *tmp;

	if (!sc->present || sc->len == 0)
		return 0;
	if (sc->len > HT_NOTE_LIMIT)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: a note of %zu bytes, more than %d",
			       sc->len, HT_NOTE_LIMIT);
	if (memchr(sc->p, 0, sc->len))
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: the note holds a NUL byte");
	tmp = malloc(sc->len + 1);
	if (!tmp)
		return ht_fail(rd->err, rd->errlen, "out of memory");
	memcpy(tmp, sc->p, sc->len);
	tmp[sc->len] = 0;
	s->note = ht_snapshot_strdup(s, tmp);
	free(tmp);
	return s->note ? 0 : ht_fail(rd->err, rd->errlen, "out of memory");
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The bytes that writing out every frame name of every stack of s (valid)
 * takes, counted generously (heaptrace(5), VALIDATION), plus each
 * location's names once (they are made once per location) and the names
 * of each metric, module and function (listed or hashed once each, and
 * many may share one long string); saturates. Linear in the size of s,
 * as the stacks own their frames. */
static int name_bytes(struct reader *rd, const struct ht_snapshot *s, uint64_t *out)
{
	uint64_t *pre = malloc((s->nlines + 1) * sizeof(uint64_t));
	uint64_t *lw = malloc((s->nlocations + 1) * sizeof(uint64_t));
	uint64_t total = rd->listed;
	size_t i;

	if (!pre || !lw) {
		free(pre);
		free(lw);
		return ht_fail(rd->err, rd->errlen, "out of memory");
	}
	/* pre[i]: the name bytes of lines 0 .. i-1, so that a location's
	 * costs one subtraction however many locations share its lines */
	pre[0] = 0;
	for (i = 0; i < s->nlines; i++)
		pre[i + 1] = sat_add(pre[i], rd->fweight[s->lines[i].function]);
	for (i = 0; i < s->nlocations; i++) {
		const struct ht_location *l = &s->locations[i];

		if (l->nlines)
			lw[i] = pre[l->first_line + l->nlines] - pre[l->first_line];
		else
			lw[i] = l->module == HT_NONE ? NAME_EXTRA : rd->mweight[l->module];
		if (pre[l->first_line + l->nlines] == UINT64_MAX)
			lw[i] = UINT64_MAX;
		total = sat_add(total, lw[i]);
	}
	for (i = 0; i < s->nstacks && total < UINT64_MAX; i++) {
		const struct ht_stack *st = &s->stacks[i];

		total = sat_add(total, NAME_EXTRA);
		for (uint32_t k = 0; k < st->nframes; k++)
			total = sat_add(total, lw[s->frames[st->first_frame + k]]);
	}
	free(pre);
	free(lw);
	*out = total;
	return 0;
}

/* Refuses a snapshot whose rendering would cost more than a file of len
 * bytes can justify (heaptrace(5), VALIDATION). */
static int check_work(struct reader *rd, const struct ht_snapshot *s, uint64_t len)
{
	uint64_t cap = HT_SNAPSHOT_MAX_NAMES, have = 0;

	if (len < (HT_SNAPSHOT_MAX_NAMES - HT_SNAPSHOT_NAMES_FREE) / HT_SNAPSHOT_NAMES_RATIO)
		cap = HT_SNAPSHOT_NAMES_FREE + HT_SNAPSHOT_NAMES_RATIO * len;
	if (name_bytes(rd, s, &have))
		return -1;
	if (have > cap)
		return ht_fail(rd->err, rd->errlen, "snapshot too large: its names take %llu%s bytes to write out, "
			       "more than the %llu accepted for a file of %llu bytes",
			       (unsigned long long)have, have == UINT64_MAX ? " or more" : "",
			       (unsigned long long)cap, (unsigned long long)len);
	return 0;
}

/* Splits the body into sections, then reads them in dependency order. */
static int parse_body(const unsigned char *body, size_t len, uint64_t filelen,
		      struct ht_snapshot *s, char *err, size_t errlen)
{
	struct reader rd = { .err = err, .errlen = errlen };
	size_t off = 0;
	int rc = -1;

	while (off < len) {
		uint32_t tag;
		uint64_t plen;

		if (len - off < SECTION_HEAD)
			return ht_fail(err, errlen, "corrupt snapshot: section header at body offset %zu is cut short",
				       off);
		tag = rd32(body + off);
		plen = rd64(body + off + 8);
		if (plen > len - off - SECTION_HEAD)
			return ht_fail(err, errlen, "corrupt snapshot: section %u at body offset %zu runs past the end",
				       tag, off);
		if (tag > 0 && tag < SEC_MAX) {
			/* Unknown tags are skipped: later versions may add sections. */
			if (rd.sec[tag].present)
				return ht_fail(err, errlen, "corrupt snapshot: two %s sections",
					       sec_name[tag]);
			rd.sec[tag].present = 1;
			rd.sec[tag].p = body + off + SECTION_HEAD;
			rd.sec[tag].len = (size_t)plen;
		}
		off += SECTION_HEAD + (size_t)plen;
	}
	if (!rd.sec[SEC_STRINGS].present)
		return ht_fail(err, errlen, "corrupt snapshot: no strings section");
	if (read_strings(&rd, s))
		goto out;
	if (!rd.sec[SEC_META].present) {
		ht_fail(err, errlen, "corrupt snapshot: no meta section");
		goto out;
	}
	if (read_meta(&rd, s) || read_arrays(&rd, s) || read_note(&rd, s) ||
	    validate(s, "corrupt snapshot", err, errlen) || check_work(&rd, s, filelen))
		goto out;
	rc = 0;
out:
	free(rd.strs);
	free(rd.lens);
	free(rd.fweight);
	free(rd.mweight);
	return rc;
}

/* Checks the magic, the version and the length of the header of a file
 * image of len bytes, and the body size it declares. Returns 0 and
 * *bodylen, or -1 with err set. */
static int check_header(const unsigned char *b, size_t len, uint64_t *bodylen,
			char *err, size_t errlen)
{
	uint32_t version;

	if (len == 0)
		return ht_fail(err, errlen, "empty file, not a heaptrace snapshot");
	if (memcmp(b, magic, len < sizeof(magic) ? len : sizeof(magic)) != 0)
		return ht_fail(err, errlen, "not a heaptrace snapshot");
	if (len < 12)
		return ht_fail(err, errlen, "truncated snapshot");
	version = rd32(b + 8);
	if (version != HT_SNAPSHOT_VERSION)
		return ht_fail(err, errlen, "unsupported snapshot version %u", version);
	if (len < HEADER_SIZE)
		return ht_fail(err, errlen, "truncated snapshot");
	*bodylen = rd64(b + 16);
	if (*bodylen > HT_SNAPSHOT_MAX_BODY)
		return ht_fail(err, errlen, "snapshot too large: a body of %llu bytes, more than the %llu accepted",
			       (unsigned long long)*bodylen, (unsigned long long)HT_SNAPSHOT_MAX_BODY);
	return 0;
}

int ht_snapshot_decode(const void *buf, size_t len, struct ht_snapshot **out,
		       char *err, size_t errlen)
{
	const unsigned char *b = buf;
	struct ht_snapshot *s;
	unsigned char *body;
	uint64_t bodylen;

	*out = NULL;
	if (check_header(b, len, &bodylen, err, errlen))
		return -1;
	if (inflate_body(b + HEADER_SIZE, len - HEADER_SIZE, bodylen, &body, err, errlen))
		return -1;
	s = ht_snapshot_new();
	if (!s) {
		free(body);
		return ht_fail(err, errlen, "out of memory");
	}
	s->version = HT_SNAPSHOT_VERSION;
	if (parse_body(body, (size_t)bodylen, len, s, err, errlen)) {
		free(body);
		ht_snapshot_free(s);
		return -1;
	}
	free(body);
	*out = s;
	return 0;
}

/* ---- files ---- */

int ht_snapshot_write_file(const struct ht_snapshot *s, const char *path,
			   char *err, size_t errlen)
{
	char why[512];
	void *buf;
	size_t len;
	int rc;

	if (ht_snapshot_encode(s, &buf, &len, why, sizeof(why)))
		return ht_fail(err, errlen, "cannot write '%s': %s", path, why);
	rc = ht_write_file(path, buf, len, err, errlen);
	free(buf);
	return rc;
}

/* Reads up to n bytes (fewer only at the end of the input) into buf. Returns
 * the count, or -1 with errno set. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int ht_snapshot_read_file(const char *path, struct ht_snapshot **out,
			  char *err, size_t errlen)
{
	char why[512];
	struct stat st = { 0 };
	unsigned char *buf = NULL;
	uint64_t bodylen, limit;
	size_t len, cap;
	ssize_t r;
	int fd, e;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ht_fail(err, errlen, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size > HT_SNAPSHOT_MAX_FILE) {
		close(fd);
		return ht_fail(err, errlen, "'%s': %llu bytes, larger than the largest snapshot accepted (%llu)",
			       path, (unsigned long long)st.st_size,
			       (unsigned long long)HT_SNAPSHOT_MAX_FILE);
	}
	/* The header first: a file that is not a snapshot (a device, an
	 * endless pipe) is refused before more of it is read. */
	cap = HEADER_SIZE;
	buf = malloc(cap);
	if (!buf) {
		e = ENOMEM;
		goto fail;
	}
	r = read_full(fd, buf, HEADER_SIZE);
	if (r < 0) {
		e = errno;
		goto fail;
	}
	len = (size_t)r;
	if (len < HEADER_SIZE || check_header(buf, len, &bodylen, why, sizeof(why)))
		goto bad; /* decode says what is wrong */
	/* A zstd frame of bodylen bytes is never larger than its bound. */
	limit = bodylen <= HT_SNAPSHOT_MAX_BODY ?
		HEADER_SIZE + ZSTD_compressBound((size_t)bodylen) : HT_SNAPSHOT_MAX_FILE;
	if (limit > HT_SNAPSHOT_MAX_FILE)
		limit = HT_SNAPSHOT_MAX_FILE;
	for (;;) {
		size_t want;

		if (len == cap) {
			size_t ncap = cap < (1u << 16) ? (1u << 16) : cap * 2;
			unsigned char *p;

			if (S_ISREG(st.st_mode) && (uint64_t)st.st_size >= cap)
				ncap = (size_t)st.st_size + 1; /* +1: see EOF in one read */
			if (ncap > limit + 1)
				ncap = (size_t)limit + 1;
			p = realloc(buf, ncap);
			if (!p) {
				e = ENOMEM;
				goto fail;
			}
			buf = p;
			cap = ncap;
		}
		want = cap - len;
		r = read_full(fd, buf + len, want);
		if (r < 0) {
			e = errno;
			goto fail;
		}
		len += (size_t)r;
		if ((size_t)r < want)
			break;
		if (len > limit) {
			close(fd);
			free(buf);
			return ht_fail(err, errlen, "'%s': larger than the %llu bytes that a snapshot "
				       "of a %llu-byte body can take", path, (unsigned long long)limit,
				       (unsigned long long)bodylen);
		}
	}
bad:
	close(fd);
	if (ht_snapshot_decode(buf, len, out, why, sizeof(why))) {
		free(buf);
		return ht_fail(err, errlen, "'%s': %s", path, why);
	}
	free(buf);
	return 0;
fail:
	close(fd);
	free(buf);
	return ht_fail(err, errlen, "cannot read '%s': %s", path, strerror(e));
}
