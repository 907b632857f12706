/* A stack's cells in the collector: a vector of (kind, bucket) entries in
 * that order, and a bitmap of the keys it holds, whose count of bits below
 * a key's is the key's place (a binary search of a stack's few dozen
 * cells, at every sample, was a sixth of a collector's work at rate 1),
 * and their way into a snapshot. */
#include "daemon/cells.h"

#include <stdlib.h>
#include <string.h>

/* The bit of (kind, bucket), in key order: life buckets 0 to 31, age 32
 * to 63, size 64 to 128; -1 if there is no such cell. */
static int cell_bit(int kind, unsigned bucket)
{
	switch (kind) {
	case HT_CELL_LIFE:
		return bucket < HT_TIME_BUCKETS ? (int)bucket : -1;
	case HT_CELL_AGE:
		return bucket < HT_TIME_BUCKETS ? HT_TIME_BUCKETS + (int)bucket : -1;
	case HT_CELL_SIZE:
		return bucket < HT_SIZE_BUCKETS ? 2 * HT_TIME_BUCKETS + (int)bucket : -1;
	}
	return -1;
}
_Static_assert(2 * HT_TIME_BUCKETS == 64 && HT_SIZE_BUCKETS == 65,
	       "the bits: a word of life and age buckets, a word and one of sizes");

/* Bits set in x: the processor's instruction where it has one (a call of
 * twenty instructions otherwise, two or three at every sample). */
#if defined(__x86_64__)
static inline unsigned bits_in(uint64_t x)
{
	uint64_t r;

	/* the C runtime fills in what the processor has before main */
	if (!__builtin_cpu_supports("popcnt"))
		return (unsigned)__builtin_popcountll(x);
	__asm__("popcnt %1, %0" : "=r"(r) : "rm"(x) : "cc");
	return (unsigned)r;
}
#else
static inline unsigned bits_in(uint64_t x)
{
	return (unsigned)__builtin_popcountll(x);
}
#endif

/* The bits below bit b set in v, and whether b is. */
static inline unsigned cell_rank(const struct ht_cellvec *v, int b, int *has)
{
	if (b < 64) {
		*has = (int)(v->bits[0] >> b & 1);
		return bits_in(v->bits[0] & ((1ull << b) - 1));
	}
	if (b < 128) {
		*has = (int)(v->bits[1] >> (b - 64) & 1);
		return bits_in(v->bits[0]) + bits_in(v->bits[1] & ((1ull << (b - 64)) - 1));
	}
	*has = v->top;
	return bits_in(v->bits[0]) + bits_in(v->bits[1]);
}

/* Makes the empty cell (kind, bucket), of bit b, at place i: out of line,
 * as few samples make one. Returns 0, or -1 on OOM (v unchanged). */
static __attribute__((noinline)) int cell_insert(struct ht_cellvec *v, unsigned i, int kind,
						 unsigned bucket, int b)
{
	if (v->n == v->cap) {
		uint16_t cap = v->cap ? (uint16_t)(v->cap * 2) : 4;
		struct ht_pcell *n = realloc(v->c, cap * sizeof(*n));

		if (!n)
			return -1;
		v->c = n;
		v->cap = cap;
	}
	memmove(&v->c[i + 1], &v->c[i], (v->n - i) * sizeof(v->c[0]));
	memset(&v->c[i], 0, sizeof(v->c[0]));
	v->c[i].key = (uint16_t)(kind << 8 | bucket);
	v->n++;
	if (b < 64)
		v->bits[0] |= 1ull << b;
	else if (b < 128)
		v->bits[1] |= 1ull << (b - 64);
	else
		v->top = 1;
	return 0;
}

int ht_cellvec_add(struct ht_cellvec *v, int kind, unsigned bucket, uint64_t size, double w,
		   double e)
{
	int bit = cell_bit(kind, bucket), has;
	struct ht_pcell *c;
	double b = (double)size;
	unsigned i;

	if (bit < 0)
		return -1;
	i = cell_rank(v, bit, &has);
	if (!has && cell_insert(v, i, kind, bucket, bit) != 0)
		return -1;
	c = &v->c[i];
	c->samples++;
	c->objects += w;
	c->space += w * b;
	c->var_objects += e;
	c->var_space += e * b * b;
	return 0;
}

void ht_cellvec_free(struct ht_cellvec *v)
{
	free(v->c);
	memset(v, 0, sizeof(*v));
}

int ht_cellvec_emit(const struct ht_cellvec *v, struct ht_snapshot *s, uint32_t stack,
		    int lo, int hi)
{
	for (unsigned i = 0; i < v->n; i++) {
		const struct ht_pcell *c = &v->c[i];
		struct ht_cell x = { 0 };

		if (c->key >> 8 < lo || c->key >> 8 > hi)
			continue;
		x.stack = stack;
		x.kind = (uint8_t)(c->key >> 8);
		x.bucket = (uint8_t)c->key;
		x.objects = c->objects;
		x.space = c->space;
		x.var_objects = c->var_objects;
		x.var_space = c->var_space;
		x.samples = c->samples;
		if (ht_snapshot_add_cell(s, &x) == HT_NONE)
			return -1;
	}
	return 0;
}
