/* Encoding: a snapshot becomes a file image (heaptrace(5)): its strings
 * interned into one table, its sections staged a zstd block at a time and
 * compressed as they come, behind the fixed header. */
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_int.h"
#include "snapshot/format.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

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

/* The encoder's string table: each distinct string once, in first-use
 * order (the ids the file names them by), borrowed from the snapshot. */
struct enc_strings {
	struct ht_strtab tab;
	uint64_t bytes; /* payload size of the strings section */
};

/* Returns the table index of str (NULL counts as ""), or HT_NONE on
 * out-of-memory or a string too long for the format. */
static uint32_t intern(struct enc_strings *es, const char *str)
{
	size_t len, n = es->tab.n;
	uint32_t id;

	if (!str)
		str = "";
	len = strlen(str);
	if (len > UINT32_MAX)
		return HT_NONE;
	id = ht_strtab_intern(&es->tab, str, len);
	if (id != HT_STRTAB_NONE && es->tab.n > n)
		es->bytes += 4 + len;
	return id == HT_STRTAB_NONE ? HT_NONE : id;
}

static void write_strings(struct writer *w, const struct enc_strings *es)
{
	size_t i;

	w_section(w, SEC_STRINGS, 8 + es->bytes);
	w_u64(w, es->tab.n);
	for (i = 0; i < es->tab.n; i++) {
		w_u32(w, (uint32_t)es->tab.len[i]);
		w_bytes(w, es->tab.str[i], es->tab.len[i]);
	}
}

/* meta (exe and cmdline are strings ids[0] and ids[1]), counts, drops */
static void write_meta(struct writer *w, const struct ht_snapshot *s, const uint32_t *ids)
{
	unsigned char *p;

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
}

/* metrics and modules, named by the string ids mid[] and modid[] */
static void write_metrics_modules(struct writer *w, const struct ht_snapshot *s,
				  const uint32_t *mid, const uint32_t *modid)
{
	unsigned char *p;
	size_t i;

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
}

/* functions (three string ids each in fid[]), lines, locations, frames */
static void write_symbols(struct writer *w, const struct ht_snapshot *s, const uint32_t *fid)
{
	unsigned char *p;
	size_t i;

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
}

static void write_stacks(struct writer *w, const struct ht_snapshot *s)
{
	unsigned char *p;
	size_t i;

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
}

/* The optional section: the error sums of each stack. */
static void write_stack_error(struct writer *w, const struct ht_snapshot *s)
{
	unsigned char *p;
	size_t i;

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

/* The optional section: the peak profile's time and per-stack counters. */
static void write_peak(struct writer *w, const struct ht_snapshot *s)
{
	unsigned char *p;
	size_t i;

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

/* The stacks with temporary blocks. */
static uint64_t temp_count(const struct ht_snapshot *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->nstacks; i++)
		n += s->stacks[i].temp_samples > 0;
	return n;
}

/* The sections of version 2: temporary blocks (the stacks that have some)
 * and the cells. */
static void write_cells(struct writer *w, const struct ht_snapshot *s)
{
	unsigned char *p;
	size_t i;
	uint64_t nt = temp_count(s);

	w_section(w, SEC_TEMP, 8 + nt * TEMP_SIZE);
	w_u64(w, nt);
	for (i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];

		if (!st->temp_samples)
			continue;
		p = w_room(w, TEMP_SIZE);
		le32(p, (uint32_t)i);
		le32(p + 4, 0);
		le64(p + 8, f64bits(st->temp_objects));
		le64(p + 16, f64bits(st->temp_space));
		le64(p + 24, f64bits(st->temp_var[0]));
		le64(p + 32, f64bits(st->temp_var[1]));
		le64(p + 40, st->temp_samples);
	}
	w_section(w, SEC_CELLS, 8 + (uint64_t)s->ncells * CELL_SIZE);
	w_u64(w, s->ncells);
	for (i = 0; i < s->ncells; i++) {
		const struct ht_cell *c = &s->cells[i];

		p = w_room(w, CELL_SIZE);
		le32(p, c->stack);
		p[4] = c->kind;
		p[5] = c->bucket;
		p[6] = p[7] = 0;
		le64(p + 8, f64bits(c->objects));
		le64(p + 16, f64bits(c->space));
		le64(p + 24, f64bits(c->var_objects));
		le64(p + 32, f64bits(c->var_space));
		le64(p + 40, c->samples);
	}
}

/* The sections in the order heaptrace(5) gives; ids holds the string ids
 * in the order ht_snapshot_encode interned them. */
static void write_body(struct writer *w, const struct ht_snapshot *s,
		       const struct enc_strings *es, const uint32_t *ids)
{
	const uint32_t *mid = ids + 2, *modid = mid + s->nmetrics;
	const uint32_t *fid = modid + s->nmodules;

	write_strings(w, es);
	write_meta(w, s, ids);
	write_metrics_modules(w, s, mid, modid);
	write_symbols(w, s, fid);
	write_stacks(w, s);
	if (s->stack_error)
		write_stack_error(w, s);
	if (s->note && *s->note) {
		w_section(w, SEC_NOTE, strlen(s->note));
		w_bytes(w, s->note, strlen(s->note));
	}
	if (s->peak_time_ns)
		write_peak(w, s);
	if (s->has_cells)
		write_cells(w, s);
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
				  (uint64_t)s->nstacks * PEAK_SIZE : 0) +
	       (s->has_cells ? 2 * SECTION_HEAD + 8 + temp_count(s) * TEMP_SIZE +
			       8 + (uint64_t)s->ncells * CELL_SIZE : 0);
}

static void put_header(unsigned char *p, uint64_t bodylen)
{
	memcpy(p, MAGIC, MAGIC_SIZE);
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
	struct enc_strings es = { .tab = { .borrow = 1 } };
	struct body_args args;
	uint32_t *ids = NULL, *p;
	size_t nids, i;
	int rc = -1;

	*buf = NULL;
	*len = 0;
	if (ht_snapshot_validate(s, "invalid snapshot", err, errlen))
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
	ht_strtab_free(&es.tab);
	return rc;
}

int ht_snapshot_wrap_body(const void *body, size_t bodylen, void **buf, size_t *len,
			  char *err, size_t errlen)
{
	*buf = NULL;
	*len = 0;
	return compress_image(bodylen, body, NULL, NULL, buf, len, err, errlen);
}
