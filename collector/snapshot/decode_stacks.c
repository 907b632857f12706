/* Decoding the per-stack sections: the stacks' counters, and what each
 * may add (error sums, the peak, temporary blocks, cells), each bounded
 * before it is read; the values are checked by ht_snapshot_validate. */
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_int.h"
#include "snapshot/decode_int.h"
#include "lib/util.h"

#include <string.h>

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

static int read_stacks(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;
	size_t i, n;
	void *a;

	if (ht_decode_array_section(rd, SEC_STACKS, STACK_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &s->pool->cap_stacks, n, sizeof(*s->stacks)))
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
		st->temp_objects = st->temp_space = 0; /* unless a temporary section does */
		st->temp_var[0] = st->temp_var[1] = 0;
		st->temp_samples = 0;
		st->first_cell = st->ncells = 0;
		memset(&st->err, 0, sizeof(st->err));
	}
	s->nstacks = n;
	return 0;
}

/* The error sums (optional: files before it have none): one record per
 * stack. */
static int read_stack_error(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;
	size_t i, n;

	if (!rd->sec[SEC_STACK_ERROR].present)
		return 0;
	if (ht_decode_array_section(rd, SEC_STACK_ERROR, STACK_ERROR_SIZE, &n, &p))
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
	return 0;
}

/* Temporary blocks (optional: files before version 2 have none): one
 * record per stack that has some, in the order of the stacks. */
static int read_temp(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;
	size_t i, n;
	uint32_t last = 0;

	if (ht_decode_array_section(rd, SEC_TEMP, TEMP_SIZE, &n, &p))
		return -1;
	for (i = 0; i < n; i++, p += TEMP_SIZE) {
		uint32_t k = rd32(p);
		struct ht_stack *st;

		if (k >= s->nstacks)
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: temporary entry %zu names "
				       "stack %u of %zu", i, k, s->nstacks);
		if (i && k <= last)
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: temporary entry %zu "
				       "names stack %u after stack %u", i, k, last);
		last = k;
		st = &s->stacks[k];
		st->temp_objects = rdf64(p + 8);
		st->temp_space = rdf64(p + 16);
		st->temp_var[0] = rdf64(p + 24);
		st->temp_var[1] = rdf64(p + 32);
		st->temp_samples = rd64(p + 40);
	}
	return 0;
}

/* The cells (optional: files before version 2 have none), sorted by
 * stack, kind and bucket; each stack's run is found here, its order and
 * values are checked by ht_snapshot_validate. */
static int read_cells(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;
	size_t i, n;
	void *a;

	if (!rd->sec[SEC_CELLS].present)
		return 0;
	if (ht_decode_array_section(rd, SEC_CELLS, CELL_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &s->pool->cap_cells, n, sizeof(*s->cells)))
		return -1;
	s->cells = a;
	for (i = 0; i < n; i++, p += CELL_SIZE) {
		struct ht_cell *c = &s->cells[i];

		memset(c, 0, sizeof(*c));
		c->stack = rd32(p);
		c->kind = p[4];
		c->bucket = p[5];
		c->objects = rdf64(p + 8);
		c->space = rdf64(p + 16);
		c->var_objects = rdf64(p + 24);
		c->var_space = rdf64(p + 32);
		c->samples = rd64(p + 40);
		if (c->stack >= s->nstacks)
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: cell %zu names stack %u of %zu",
				       i, c->stack, s->nstacks);
		if (!s->stacks[c->stack].ncells)
			s->stacks[c->stack].first_cell = (uint32_t)i;
		s->stacks[c->stack].ncells++;
	}
	s->ncells = n;
	s->has_cells = 1;
	return 0;
}

int ht_decode_stacks(struct reader *rd, struct ht_snapshot *s)
{
	return read_stacks(rd, s) || read_stack_error(rd, s) || read_peak(rd, s) ||
	       read_temp(rd, s) || read_cells(rd, s) ? -1 : 0;
}
