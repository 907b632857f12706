/* A stack's cells in the collector: a sorted vector of (kind, bucket)
 * entries, searched linearly (a stack has a few dozen at most), and
 * their way into a snapshot. */
#include "daemon/cells.h"

#include <stdlib.h>
#include <string.h>

int ht_cellvec_add(struct ht_cellvec *v, int kind, unsigned bucket, uint64_t size, double w,
		   double e)
{
	uint16_t key = (uint16_t)(kind << 8 | bucket);
	struct ht_pcell *c;
	double b = (double)size;
	unsigned i = 0, hi = v->n;

	/* the first cell whose key is not below key: a stack's cells are
	 * many (sizes, lifetimes), and each sample adds to one */
	while (i < hi) {
		unsigned mid = (i + hi) / 2;

		if (v->c[mid].key < key)
			i = mid + 1;
		else
			hi = mid;
	}
	if (i == v->n || v->c[i].key != key) {
		if (v->n == v->cap) {
			uint16_t cap = v->cap ? (uint16_t)(v->cap * 2) : 4;
			struct ht_pcell *n = realloc(v->c, cap * sizeof(*n));

			if (!n)
				return -1;
			v->c = n;
			v->cap = cap;
		}
		memmove(&v->c[i + 1], &v->c[i], (v->n - i) * sizeof(*c));
		memset(&v->c[i], 0, sizeof(*c));
		v->c[i].key = key;
		v->n++;
	}
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
