/* The pprof exports: a snapshot (or a diff) as a gzip'd profile.proto, read
 * by go tool pprof and every tool that takes pprof, and the legacy
 * "heap_v2/RATE" text profile of jeprof and google-pprof. Owns a minimal
 * protobuf writer (varints and length-delimited fields) and the mapping of
 * the snapshot model onto pprof's: a location with several lines is an
 * address inside inlined calls, innermost first, as in the snapshot. */
#include "report/report_int.h"
#include "report/render.h"
#include "lib/strtab.h"
#include "lib/util.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- protobuf writing ---- */

struct pb {
	unsigned char *p;
	size_t n, cap;
};

enum { WT_VARINT = 0, WT_LEN = 2 };

static void pb_put(struct pb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->n + n)
			cap *= 2;
		b->p = ht_xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (unsigned char)v;
	pb_put(b, tmp, n);
}

static void pb_key(struct pb *b, int field, int wt)
{
	pb_varint(b, (uint64_t)field << 3 | (uint64_t)wt);
}

/* Scalar fields: proto3 leaves zeros out. int64 is the two's complement as
 * a 10-byte varint, as protobuf encodes negative int64. */
static void pb_uint(struct pb *b, int field, uint64_t v)
{
	if (!v)
		return;
	pb_key(b, field, WT_VARINT);
	pb_varint(b, v);
}

static void pb_int(struct pb *b, int field, int64_t v)
{
	pb_uint(b, field, (uint64_t)v);
}

static void pb_bytes(struct pb *b, int field, const void *d, size_t n)
{
	pb_key(b, field, WT_LEN);
	pb_varint(b, n);
	pb_put(b, d, n);
}

/* A nested message, taken from m, which is then emptied for reuse. */
static void pb_msg(struct pb *b, int field, struct pb *m)
{
	pb_bytes(b, field, m->p, m->n);
	m->n = 0;
}

/* ---- the string table ---- */

/* The index of s in the table, adding it. "" is always 0. */
static int64_t str_id(struct ht_strtab *t, const char *s)
{
	if (!s)
		s = "";
	if (!t->n)
		ht_strtab_xintern(t, "", 0); /* string_table[0] must be "" */
	return ht_strtab_xintern(t, s, strlen(s));
}

/* ---- rounding estimates to pprof's integers ---- */

int64_t ht_pprof_round(double v, double *sum, int64_t *emitted)
{
	int64_t r, target;

	if (isfinite(v))
		*sum += v;
	/* pprof's values are int64: sums beyond them stop at their ends */
	target = ht_report_llround(*sum);
	if (__builtin_sub_overflow(target, *emitted, &r))
		r = target > *emitted ? INT64_MAX : INT64_MIN; /* *emitted + r cannot overflow */
	*emitted += r;
	return r;
}

/* ---- profile.proto ---- */

/* Field numbers of profile.proto (github.com/google/pprof, proto/). */
enum {
	P_SAMPLE_TYPE = 1, P_SAMPLE, P_MAPPING, P_LOCATION, P_FUNCTION, P_STRING_TABLE,
	P_TIME_NANOS = 9, P_DURATION_NANOS, P_PERIOD_TYPE, P_PERIOD, P_COMMENT,
	P_DEFAULT_SAMPLE_TYPE,
	VT_TYPE = 1, VT_UNIT,
	S_LOCATION_ID = 1, S_VALUE, S_LABEL,
	L_KEY = 1, L_STR, L_NUM, L_NUM_UNIT,
	M_ID = 1, M_START, M_LIMIT, M_OFFSET, M_FILENAME, M_BUILD_ID, M_HAS_FUNCTIONS,
	M_HAS_FILENAMES, M_HAS_LINE_NUMBERS, M_HAS_INLINE_FRAMES,
	LOC_ID = 1, LOC_MAPPING_ID, LOC_ADDRESS, LOC_LINE,
	LN_FUNCTION_ID = 1, LN_LINE,
	F_ID = 1, F_NAME, F_SYSTEM_NAME, F_FILENAME,
};

/* Sample values, in Go's heap profile order, then the temporary blocks
 * (snapshots with cells only). */
static const struct { enum ht_index index; const char *type, *unit; } values[6] = {
	{ HT_ALLOC_OBJECTS, "alloc_objects", "count" },
	{ HT_ALLOC_SPACE, "alloc_space", "bytes" },
	{ HT_INUSE_OBJECTS, "inuse_objects", "count" },
	{ HT_INUSE_SPACE, "inuse_space", "bytes" },
	{ HT_TEMP_OBJECTS, "temp_objects", "count" },
	{ HT_TEMP_SPACE, "temp_space", "bytes" },
};
#define V_ALLOC 0 /* values[V_ALLOC], values[V_ALLOC + 1]: objects, bytes */
#define V_INUSE 2

struct pw {
	struct pb out;         /* the Profile message */
	struct pb m, sub, pk;  /* scratch for nested messages and packed fields */
	struct ht_strtab st;
	uint64_t next_mapping, next_location, next_function;
	int nvalues;           /* 4, or 6 with the temporary blocks */
	double sum[6];         /* ht_pprof_round's running sums, per value */
	int64_t emitted[6];
	uint64_t *mapping_of;  /* per module of the snapshot being written */
	int64_t *delta_of;     /* address shift of that module (diff base) */
	struct ht_report_stacks *a; /* the filters and --hide */
	const struct ht_naming *naming;
	unsigned char *loc_hidden; /* per location of that snapshot: --hide
				    * takes all its frames out */
};

static void value_type(struct pw *w, int field, const char *type, const char *unit)
{
	pb_int(&w->sub, VT_TYPE, str_id(&w->st, type));
	pb_int(&w->sub, VT_UNIT, str_id(&w->st, unit));
	pb_msg(&w->out, field, &w->sub);
}

static void comment(struct pw *w, const char *text)
{
	pb_int(&w->out, P_COMMENT, str_id(&w->st, text));
}

/* The text header's "Hidden:" line, as a comment. */
static void hidden_comment(struct pw *w, const struct ht_report_stacks *a)
{
	char *line = ht_hide_line(&a->hide);

	if (line)
		comment(w, line);
	free(line);
}

/* Every line of f as a comment. */
static void comments_from(struct pw *w, const char *buf, size_t len, const char *prefix)
{
	const char *p = buf, *end = buf + len;
	char line[1024];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		snprintf(line, sizeof(line), "%s%.*s", prefix, (int)n, p);
		comment(w, line);
		p += n + 1;
	}
}

/* The header of the text report, as comments: what the profile is of,
 * sampling, exact call counts, drops. */
static void snapshot_comments(struct pw *w, const struct ht_snapshot *s, const char *prefix)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	ht_report_write_snapshot_info(f, "", s);
	if (fclose(f) == 0)
		comments_from(w, buf, len, prefix);
	free(buf);
}

static int module_symbolized(const struct ht_snapshot *s, uint32_t m, int *files, int *lines)
{
	int all = 1, any = 0;

	*files = *lines = 0;
	for (size_t i = 0; i < s->nlocations; i++) {
		const struct ht_location *l = &s->locations[i];

		if (l->module != m)
			continue;
		if (!l->nlines)
			all = 0;
		for (uint32_t k = 0; k < l->nlines; k++) {
			const struct ht_line *ln = &s->lines[l->first_line + k];
			const struct ht_function *f = &s->functions[ln->function];

			any = 1;
			if (f->file && f->file[0])
				*files = 1;
			if (ln->line)
				*lines = 1;
		}
	}
	return all && any;
}

static void put_mapping(struct pw *w, const struct ht_snapshot *s, uint32_t m, uint64_t id)
{
	const struct ht_module *mod = &s->modules[m];
	char hex[2 * sizeof(mod->build_id) + 1];
	int files, lines, funcs = module_symbolized(s, m, &files, &lines);

	for (uint32_t i = 0; i < mod->build_id_len && i < sizeof(mod->build_id); i++)
		snprintf(hex + 2 * i, 3, "%02x", mod->build_id[i]);
	hex[2 * (mod->build_id_len < sizeof(mod->build_id) ? mod->build_id_len :
		 sizeof(mod->build_id))] = '\0';
	pb_uint(&w->m, M_ID, id);
	pb_uint(&w->m, M_START, mod->start);
	pb_uint(&w->m, M_LIMIT, mod->end);
	/* The snapshot keeps the load bias, not the file offset of the first
	 * mapped byte: start - bias is that offset when the module's first
	 * segment has p_vaddr == p_offset (true of what ld and lld produce). */
	pb_uint(&w->m, M_OFFSET, mod->start >= mod->bias ? mod->start - mod->bias : 0);
	pb_int(&w->m, M_FILENAME, str_id(&w->st, mod->path));
	pb_int(&w->m, M_BUILD_ID, str_id(&w->st, hex));
	pb_uint(&w->m, M_HAS_FUNCTIONS, funcs);
	pb_uint(&w->m, M_HAS_FILENAMES, funcs && files);
	pb_uint(&w->m, M_HAS_LINE_NUMBERS, funcs && lines);
	pb_uint(&w->m, M_HAS_INLINE_FRAMES, funcs);
	pb_msg(&w->out, P_MAPPING, &w->m);
}

static int module_is_exe(const struct ht_snapshot *s, uint32_t m)
{
	return s->exe && s->exe[0] && s->modules[m].path &&
	       strcmp(s->modules[m].path, s->exe) == 0;
}

/* The mappings of cur, the main executable first (pprof takes mapping[0]
 * as the main binary). */
static void put_mappings(struct pw *w, const struct ht_snapshot *s)
{
	for (int exe = 1; exe >= 0; exe--)
		for (uint32_t m = 0; m < s->nmodules; m++)
			if (module_is_exe(s, m) == exe) {
				w->mapping_of[m] = ++w->next_mapping;
				w->delta_of[m] = 0;
				put_mapping(w, s, m, w->mapping_of[m]);
			}
}

static uint64_t size_4k(const struct ht_module *m)
{
	return (m->end - m->start + 0xfff) & ~(uint64_t)0xfff;
}

/* The modules of a diff's base reuse the mapping of the same module in
 * cur (same build id, or same path when either has none; same size and
 * offset), with their addresses moved into it, as pprof's merge does;
 * the others get mappings of their own. */
static void put_base_mappings(struct pw *w, const struct ht_snapshot *b,
			      const struct ht_snapshot *c, const uint64_t *cur_ids)
{
	for (uint32_t m = 0; m < b->nmodules; m++) {
		const struct ht_module *bm = &b->modules[m];
		uint32_t k;

		for (k = 0; k < c->nmodules; k++) {
			const struct ht_module *cm = &c->modules[k];

			if (bm->build_id_len && cm->build_id_len) {
				if (bm->build_id_len != cm->build_id_len ||
				    memcmp(bm->build_id, cm->build_id, bm->build_id_len) != 0)
					continue;
			} else if (!bm->path || !cm->path || !bm->path[0] ||
				   strcmp(bm->path, cm->path) != 0) {
				continue;
			}
			if (size_4k(bm) == size_4k(cm) &&
			    bm->start - bm->bias == cm->start - cm->bias)
				break;
		}
		if (k < c->nmodules) {
			w->mapping_of[m] = cur_ids[k];
			w->delta_of[m] = (int64_t)(c->modules[k].start - bm->start);
		} else {
			w->mapping_of[m] = ++w->next_mapping;
			w->delta_of[m] = 0;
			put_mapping(w, b, m, w->mapping_of[m]);
		}
	}
}

/* The lines of location l (number i of s), innermost first, but those
 * --hide takes out; the innermost alone when it takes out all, which only
 * a stack that has no other frame keeps (as ht_report_stacks_intern
 * does). */
static void put_lines(struct pw *w, const struct ht_snapshot *s, size_t i, uint64_t fn_base)
{
	const struct ht_location *l = &s->locations[i];
	struct ht_hide *h = &w->a->hide;
	int all = ht_hide_location(h, s, (uint32_t)i, w->naming);

	w->loc_hidden[i] = (unsigned char)all;
	for (uint32_t k = 0; k < l->nlines; k++) {
		const struct ht_line *ln = &s->lines[l->first_line + k];
		const struct ht_function *f = &s->functions[ln->function];

		if (!(f->name && f->name[0]) && !(f->system_name && f->system_name[0]))
			continue;
		if (all ? k > 0 : ht_hide_frame(h, s, (uint32_t)i, k, w->naming))
			continue;
		pb_uint(&w->sub, LN_FUNCTION_ID, fn_base + ln->function + 1);
		pb_int(&w->sub, LN_LINE, ln->line);
		pb_msg(&w->m, LOC_LINE, &w->sub);
	}
}

/* Functions and locations of s, numbered from the current next ids; a
 * function without a name gives no line (pprof then shows the address). */
static void put_code(struct pw *w, const struct ht_snapshot *s, uint64_t *fn_base,
		     uint64_t *loc_base)
{
	free(w->loc_hidden);
	w->loc_hidden = ht_xcalloc(s->nlocations + 1, 1);
	*fn_base = w->next_function;
	*loc_base = w->next_location;
	for (size_t i = 0; i < s->nfunctions; i++) {
		const struct ht_function *f = &s->functions[i];
		const char *name = f->name && f->name[0] ? f->name : f->system_name;

		pb_uint(&w->m, F_ID, *fn_base + i + 1);
		pb_int(&w->m, F_NAME, str_id(&w->st, name));
		pb_int(&w->m, F_SYSTEM_NAME, str_id(&w->st, f->system_name && f->system_name[0] ?
							     f->system_name : name));
		pb_int(&w->m, F_FILENAME, str_id(&w->st, f->file));
		pb_msg(&w->out, P_FUNCTION, &w->m);
	}
	for (size_t i = 0; i < s->nlocations; i++) {
		const struct ht_location *l = &s->locations[i];

		pb_uint(&w->m, LOC_ID, *loc_base + i + 1);
		if (l->module != HT_NONE) {
			pb_uint(&w->m, LOC_MAPPING_ID, w->mapping_of[l->module]);
			pb_uint(&w->m, LOC_ADDRESS, l->address + (uint64_t)w->delta_of[l->module]);
		} else {
			pb_uint(&w->m, LOC_ADDRESS, l->address);
		}
		put_lines(w, s, i, *fn_base);
		pb_msg(&w->out, P_LOCATION, &w->m);
	}
	w->next_function += s->nfunctions;
	w->next_location += s->nlocations;
}

static void num_label(struct pw *w, const char *key, int64_t num, const char *unit)
{
	pb_int(&w->sub, L_KEY, str_id(&w->st, key));
	pb_int(&w->sub, L_NUM, num);
	if (unit)
		pb_int(&w->sub, L_NUM_UNIT, str_id(&w->st, unit));
	pb_msg(&w->m, S_LABEL, &w->sub);
}

/* The locations of stack st of s, leaf first, but those --hide takes
 * out; the leaf when it takes out all. */
static void put_locations(struct pw *w, const struct ht_snapshot *s, const struct ht_stack *st,
			  uint64_t loc_base)
{
	size_t n = 0;

	for (uint32_t f = 0; f < st->nframes; f++) {
		uint32_t loc = s->frames[st->first_frame + f];

		if (!w->loc_hidden[loc]) {
			pb_varint(&w->pk, loc_base + loc + 1);
			n++;
		}
	}
	if (n == 0 && st->nframes)
		pb_varint(&w->pk, loc_base + s->frames[st->first_frame] + 1);
}

/* The location "[unknown]" of stacks without frames: its id, made once. */
static uint64_t unknown_location(struct pw *w, uint64_t *unknown)
{
	if (*unknown)
		return *unknown;
	/* a function and a location of its own */
	*unknown = ++w->next_location;
	pb_uint(&w->m, F_ID, ++w->next_function);
	pb_int(&w->m, F_NAME, str_id(&w->st, "[unknown]"));
	pb_int(&w->m, F_SYSTEM_NAME, str_id(&w->st, "[unknown]"));
	pb_msg(&w->out, P_FUNCTION, &w->m);
	pb_uint(&w->m, LOC_ID, *unknown);
	pb_uint(&w->sub, LN_FUNCTION_ID, w->next_function);
	pb_msg(&w->m, LOC_LINE, &w->sub);
	pb_msg(&w->out, P_LOCATION, &w->m);
	return *unknown;
}

/* One part of a stack's figures: x[] by values[], and a time label
 * (key "age" or "lifetime", the bucket's lower edge in ns) or none. */
struct part {
	double x[6];
	const char *key;
	uint64_t ns;
};

/* Writes part p of stack st of s as a sample (rounded as the running sums
 * go; nothing if it rounds to zero). */
static void put_part(struct pw *w, const struct ht_snapshot *s, const struct ht_stack *st,
		     uint64_t loc_base, uint64_t *unknown, int base, const struct part *p)
{
	int64_t v[6];
	int any = 0;

	for (int k = 0; k < w->nvalues; k++) {
		v[k] = ht_pprof_round(base ? -p->x[k] : p->x[k], &w->sum[k], &w->emitted[k]);
		any |= v[k] != 0;
	}
	if (!any)
		return;
	if (st->nframes == 0)
		unknown_location(w, unknown);
	put_locations(w, s, st, loc_base);
	if (st->nframes == 0)
		pb_varint(&w->pk, *unknown);
	pb_msg(&w->m, S_LOCATION_ID, &w->pk);
	for (int k = 0; k < w->nvalues; k++)
		pb_varint(&w->pk, (uint64_t)v[k]);
	pb_msg(&w->m, S_VALUE, &w->pk);
	/* Go's heap profiles label each sample with the object size */
	if (st->alloc_objects > 0 && st->alloc_space > 0)
		num_label(w, "bytes", ht_report_llround(st->alloc_space / st->alloc_objects),
			  "bytes");
	if (p->key)
		num_label(w, p->key, (int64_t)p->ns, "nanoseconds");
	if (base) {
		pb_int(&w->sub, L_KEY, str_id(&w->st, "pprof::base"));
		pb_int(&w->sub, L_STR, str_id(&w->st, "true"));
		pb_msg(&w->m, S_LABEL, &w->sub);
	}
	pb_msg(&w->out, P_SAMPLE, &w->m);
}

/* The samples of stack st: with cells, the bytes in use one sample per
 * age bucket (label "age") and the blocks freed one per lifetime bucket
 * (label "lifetime", their allocation figures); what no cell holds, and
 * the temporary blocks, in one sample without a time label. */
static void put_stack(struct pw *w, const struct ht_snapshot *s, const struct ht_stack *st,
		      uint64_t loc_base, uint64_t *unknown, int base)
{
	struct part rest = { { 0 }, NULL, 0 };

	for (int k = 0; k < w->nvalues; k++) {
		rest.x[k] = ht_stack_value(st, values[k].index);
		if (!isfinite(rest.x[k]))
			rest.x[k] = 0;
	}
	for (uint32_t i = 0; s->has_cells && i < st->ncells &&
			     (size_t)st->first_cell + i < s->ncells; i++) {
		const struct ht_cell *c = &s->cells[st->first_cell + i];
		struct part p = { { 0 }, NULL, 0 };
		int at = c->kind == HT_CELL_AGE ? V_INUSE : V_ALLOC;

		if ((c->kind != HT_CELL_AGE && c->kind != HT_CELL_LIFE) ||
		    c->bucket >= HT_TIME_BUCKETS || !isfinite(c->objects) || !isfinite(c->space))
			continue;
		p.key = c->kind == HT_CELL_AGE ? "age" : "lifetime";
		p.ns = ht_time_edge_ns(c->bucket);
		p.x[at] = c->objects;
		p.x[at + 1] = c->space;
		rest.x[at] -= c->objects;
		rest.x[at + 1] -= c->space;
		put_part(w, s, st, loc_base, unknown, base, &p);
	}
	put_part(w, s, st, loc_base, unknown, base, &rest);
}

/* The samples of s (negated and labelled as the diff base when base),
 * leaving out the stacks hidden by the filters. An empty stack gets the
 * location "[unknown]", as heaptrace names it. */
static void put_samples(struct pw *w, const struct ht_snapshot *s, uint64_t loc_base,
			int base, const struct ht_report_stacks *a, const size_t *map)
{
	uint64_t unknown = 0;

	memset(w->sum, 0, sizeof(w->sum));
	memset(w->emitted, 0, sizeof(w->emitted));
	for (size_t i = 0; i < s->nstacks; i++) {
		if (a && ht_report_stacks_hidden(a, map[i]))
			continue;
		put_stack(w, s, &s->stacks[i], loc_base, &unknown, base);
	}
}

static int gzip_out(FILE *out, const struct pb *b, char *err, size_t errlen)
{
	z_stream z;
	unsigned char buf[65536];
	int rc;

	memset(&z, 0, sizeof(z));
	/* 15 + 16: a gzip wrapper; its time stamp is 0, so output is
	 * reproducible. Fastest, as Go's runtime/pprof: the string table and
	 * varints compress well anyway. */
	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return ht_fail(err, errlen, "cannot compress the profile: zlib init failed");
	z.next_in = b->p;
	z.avail_in = (uInt)b->n;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = deflate(&z, Z_FINISH);
		if (rc == Z_STREAM_ERROR) {
			deflateEnd(&z);
			return ht_fail(err, errlen, "cannot compress the profile: zlib error");
		}
		fwrite(buf, 1, sizeof(buf) - z.avail_out, out);
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
	if (ferror(out))
		return ht_fail(err, errlen, "cannot write the profile");
	return 0;
}

static void free_pw(struct pw *w)
{
	free(w->out.p);
	free(w->m.p);
	free(w->sub.p);
	free(w->pk.p);
	free(w->mapping_of);
	free(w->delta_of);
	free(w->loc_hidden);
	ht_strtab_free(&w->st);
}

int ht_pprof_write(FILE *out, const struct ht_snapshot *base,
		   const struct ht_snapshot *cur, const struct ht_report_opts *o,
		   char *err, size_t errlen)
{
	struct pw w;
	struct ht_report_stacks *a = NULL;
	size_t *map_cur = NULL, *map_base = NULL, nmods;
	uint64_t *cur_ids, fn_base, loc_base;
	char line[1024];
	int rc;

	memset(&w, 0, sizeof(w));
	/* the filters match frame names, so name every stack */
	a = ht_report_stacks_for(o, err, errlen);
	if (!a)
		return -1;
	map_cur = ht_report_stacks_intern(a, cur);
	if (base)
		map_base = ht_report_stacks_intern(a, base);
	w.a = a;
	w.naming = &o->naming;
	nmods = cur->nmodules;
	if (base && base->nmodules > nmods)
		nmods = base->nmodules;
	w.mapping_of = ht_xcalloc(nmods + 1, sizeof(uint64_t));
	w.delta_of = ht_xcalloc(nmods + 1, sizeof(int64_t));
	cur_ids = ht_xcalloc(cur->nmodules + 1, sizeof(uint64_t));

	w.nvalues = cur->has_cells && (!base || base->has_cells) ? 6 : 4;
	for (int k = 0; k < w.nvalues; k++)
		value_type(&w, P_SAMPLE_TYPE, values[k].type, values[k].unit);
	put_mappings(&w, cur);
	memcpy(cur_ids, w.mapping_of, cur->nmodules * sizeof(uint64_t));
	put_code(&w, cur, &fn_base, &loc_base);
	put_samples(&w, cur, loc_base, 0, a, map_cur);
	if (base) {
		put_base_mappings(&w, base, cur, cur_ids);
		put_code(&w, base, &fn_base, &loc_base);
		put_samples(&w, base, loc_base, 1, a, map_base);
	}

	pb_int(&w.out, P_TIME_NANOS, cur->time_ns);
	if (cur->start_time_ns && cur->time_ns > cur->start_time_ns)
		pb_int(&w.out, P_DURATION_NANOS, cur->time_ns - cur->start_time_ns);
	value_type(&w, P_PERIOD_TYPE, "space", "bytes");
	pb_int(&w.out, P_PERIOD, (int64_t)(cur->rate ? cur->rate : 1));
	pb_int(&w.out, P_DEFAULT_SAMPLE_TYPE, str_id(&w.st, ht_report_index_name(o->index)));
	if (base) {
		comment(&w, "heaptrace-diff: current minus base; the samples labelled "
			"pprof::base=true are the base, negated (as pprof -diff_base)");
		snapshot_comments(&w, base, "base: ");
		snapshot_comments(&w, cur, "current: ");
	} else {
		snapshot_comments(&w, cur, "");
	}
	if (!ht_report_exact(cur) || (base && !ht_report_exact(base)))
		comment(&w, "values are unbiased estimates from sampling, rounded to integers");
	if (o->focus || o->ignore) {
		snprintf(line, sizeof(line), "filtered:%s%s%s%s", o->focus ? " focus=" : "",
			 o->focus ? o->focus : "", o->ignore ? " ignore=" : "",
			 o->ignore ? o->ignore : "");
		comment(&w, line);
	}
	hidden_comment(&w, a);
	/* the string table goes last: every message above has added to it */
	for (size_t i = 0; i < w.st.n; i++)
		pb_bytes(&w.out, P_STRING_TABLE, w.st.str[i], w.st.len[i]);

	rc = gzip_out(out, &w.out, err, errlen);
	free(cur_ids);
	free(map_cur);
	free(map_base);
	ht_report_stacks_free(a);
	free_pw(&w);
	return rc;
}

/* ---- legacy heap_v2 text ---- */

/* pprof and jeprof unsample "count: bytes" of a heap_v2 profile by
 * 1/(1-exp(-avg/rate)), avg = bytes/count: by each stack's average size,
 * which undercounts a stack of mixed sizes (its small blocks stand for
 * more than the average does: jeprof read 30% low on python). So the
 * export carries our estimates, unsampled already, under rate 1, where
 * the readers' factor 1/(1-exp(-avg)) is 1 but for stacks whose average
 * is a few bytes: for those the count is lowered by that factor, so that
 * it scales back. */
static void raw_pair(double objects, double space, uint64_t *count, uint64_t *bytes)
{
	double avg;

	if (!(objects > 0) || !(space > 0)) {
		*count = *bytes = 0;
		return;
	}
	avg = space / objects;
	/* each rounded on its own: a count rounded, times the average, would
	 * move the bytes by up to half a block a stack */
	*count = ht_report_to_u64(round(objects * -expm1(-avg)));
	*bytes = ht_report_to_u64(round(space * -expm1(-avg)));
}

/* The addresses of stack st of s, but those of locations --hide takes
 * out whole (inlined frames cannot be taken out of an address); the leaf
 * when it takes out all. */
static void v2_stack(FILE *out, const struct ht_snapshot *s, const struct ht_stack *st,
		     struct ht_hide *h, const struct ht_naming *nm)
{
	size_t n = 0;

	for (uint32_t f = 0; f < st->nframes; f++) {
		uint32_t loc = s->frames[st->first_frame + f];

		if (ht_hide_location(h, s, loc, nm))
			continue;
		fprintf(out, " 0x%" PRIx64, s->locations[loc].address);
		n++;
	}
	if (n == 0 && st->nframes)
		fprintf(out, " 0x%" PRIx64, s->locations[s->frames[st->first_frame]].address);
}

int ht_pprof_write_heap_v2(FILE *out, const struct ht_snapshot *cur,
			   const struct ht_report_opts *o, char *err, size_t errlen)
{
	struct ht_report_stacks *a = NULL;
	size_t *map = NULL;
	uint64_t t[4] = { 0 }, (*rows)[4];

	a = ht_report_stacks_for(o, err, errlen);
	if (!a)
		return -1;
	map = ht_report_stacks_intern(a, cur);
	rows = ht_xcalloc(cur->nstacks + 1, sizeof(*rows));
	for (size_t i = 0; i < cur->nstacks; i++) {
		const struct ht_stack *st = &cur->stacks[i];

		if (ht_report_stacks_hidden(a, map[i]))
			continue;
		raw_pair(st->inuse_objects, st->inuse_space, &rows[i][0], &rows[i][1]);
		raw_pair(st->alloc_objects, st->alloc_space, &rows[i][2], &rows[i][3]);
		for (int k = 0; k < 4; k++)
			t[k] += rows[i][k];
	}
	fprintf(out, "heap profile: %" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64
		"] @ heap_v2/1\n", t[0], t[1], t[2], t[3]);
	for (size_t i = 0; i < cur->nstacks; i++) {
		const struct ht_stack *st = &cur->stacks[i];

		if (!(rows[i][0] | rows[i][1] | rows[i][2] | rows[i][3]))
			continue;
		fprintf(out, "%" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64 "] @",
			rows[i][0], rows[i][1], rows[i][2], rows[i][3]);
		v2_stack(out, cur, st, &a->hide, &o->naming);
		fprintf(out, "\n");
	}
	/* /proc/PID/maps lines; the offset as in the pprof export */
	fprintf(out, "\nMAPPED_LIBRARIES:\n");
	for (uint32_t m = 0; m < cur->nmodules; m++) {
		const struct ht_module *mod = &cur->modules[m];

		if (!mod->path || !mod->path[0])
			continue;
		/* the path is the traced program's: escaped, on one line */
		fprintf(out, "%012" PRIx64 "-%012" PRIx64 " r-xp %08" PRIx64 " 00:00 0 ",
			mod->start, mod->end,
			mod->start >= mod->bias ? mod->start - mod->bias : 0);
		ht_fputs_escaped(out, mod->path);
		putc('\n', out);
	}
	free(rows);
	free(map);
	ht_report_stacks_free(a);
	return ferror(out) ? ht_fail(err, errlen, "cannot write the profile") : 0;
}
