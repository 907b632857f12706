/* The report library behind heaptrace-report and heaptrace-diff: option
 * parsing shared by both, frame naming, aggregation of stacks by name, and
 * the text (pprof "top") and collapsed-stack formats (see report.h). */
#include "report.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- options ---- */

static const char *const index_names[] = {
	[HT_INUSE_SPACE] = "inuse_space",
	[HT_INUSE_OBJECTS] = "inuse_objects",
	[HT_ALLOC_SPACE] = "alloc_space",
	[HT_ALLOC_OBJECTS] = "alloc_objects",
};

/* Indexed by enum ht_format; pprof, svg and others go here later. */
static const char *const format_names[] = {
	[HT_FORMAT_TEXT] = "text",
	[HT_FORMAT_COLLAPSED] = "collapsed",
};

const char *ht_report_index_name(enum ht_index which)
{
	if ((unsigned)which >= sizeof(index_names) / sizeof(index_names[0]))
		return NULL;
	return index_names[which];
}

void ht_report_opts_init(struct ht_report_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->index = HT_INUSE_SPACE;
	o->format = HT_FORMAT_TEXT;
	o->naming.granularity = HT_GRAN_LINES;
	o->top = -1;
}

static int lookup(const char *const *names, int n, const char *v)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	return -1;
}

/* Matches arg against a long option "--name" or "--name=value". Returns 0 if
 * it is another option, 1 if it matches; *val is then the value (from
 * "=value" or the next argument, consuming it) or NULL for flags. */
static int match_long(const char *arg, const char *name, int takes_value,
		      int argc, char **argv, int *i, const char **val, int *err)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
		return 0;
	*val = NULL;
	if (!takes_value) {
		if (arg[n] == '=') {
			ht_error("option '%s' takes no value", name);
			*err = 1;
		}
		return 1;
	}
	if (arg[n] == '=') {
		*val = arg + n + 1;
	} else if (*i + 1 < argc) {
		*val = argv[++*i];
	} else {
		ht_error("option '%s' needs a value", name);
		*err = 1;
	}
	return 1;
}

static int parse_one(const char *arg, int argc, char **argv, int *i,
		     struct ht_report_opts *o)
{
	static const struct { const char *name; enum ht_granularity g; } grans[] = {
		{ "--lines", HT_GRAN_LINES }, { "--functions", HT_GRAN_FUNCTIONS },
		{ "--files", HT_GRAN_FILES }, { "--addresses", HT_GRAN_ADDRESSES },
	};
	const char *v;
	int err = 0, k;
	uint64_t n;

	for (k = 0; k < (int)(sizeof(grans) / sizeof(grans[0])); k++)
		if (match_long(arg, grans[k].name, 0, argc, argv, i, &v, &err)) {
			o->naming.granularity = grans[k].g;
			return err ? -1 : 0;
		}
	if (match_long(arg, "--no-demangle", 0, argc, argv, i, &v, &err)) {
		o->naming.no_demangle = 1;
		return err ? -1 : 0;
	}
	/* pprof's shorthands: --inuse_space etc. */
	if (arg[0] == '-' && arg[1] == '-' &&
	    (k = lookup(index_names, 4, arg + 2)) >= 0) {
		o->index = (enum ht_index)k;
		return 0;
	}
	if (match_long(arg, "--sample-index", 1, argc, argv, i, &v, &err) ||
	    match_long(arg, "--sample_index", 1, argc, argv, i, &v, &err)) {
		if (err)
			return -1;
		if ((k = lookup(index_names, 4, v)) < 0)
			return ht_error("unknown sample index '%s' (expected inuse_space, "
					"inuse_objects, alloc_space or alloc_objects)", v);
		o->index = (enum ht_index)k;
		return 0;
	}
	if (match_long(arg, "--top", 1, argc, argv, i, &v, &err)) {
		if (err)
			return -1;
		if (ht_parse_u64(v, &n) || n > 1000000000)
			return ht_error("invalid --top value '%s' (expected a number, 0 for all)", v);
		o->top = (long)n;
		return 0;
	}
	if (match_long(arg, "--format", 1, argc, argv, i, &v, &err)) {
		if (err)
			return -1;
		k = lookup(format_names, sizeof(format_names) / sizeof(format_names[0]), v);
		if (k < 0)
			return ht_error("unknown format '%s' (supported: text, collapsed)", v);
		o->format = (enum ht_format)k;
		return 0;
	}
	if (match_long(arg, "--output", 1, argc, argv, i, &v, &err)) {
		if (err)
			return -1;
		o->output = v;
		return 0;
	}
	if (strncmp(arg, "-o", 2) == 0) {
		if (arg[2])
			o->output = arg + 2;
		else if (*i + 1 < argc)
			o->output = argv[++*i];
		else
			return ht_error("option '-o' needs a value");
		return 0;
	}
	return ht_error("unknown option '%s' (try --help)", arg);
}

int ht_report_parse_args(int argc, char **argv, int nfiles, const char **files,
			 struct ht_report_opts *o)
{
	int nf = 0, only_files = 0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (only_files || arg[0] != '-' || arg[1] == '\0') {
			if (nf < nfiles)
				files[nf] = arg;
			nf++;
		} else if (strcmp(arg, "--") == 0) {
			only_files = 1;
		} else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			return 1;
		} else if (parse_one(arg, argc, argv, &i, o)) {
			return -1;
		}
	}
	if (o->output && !*o->output)
		return ht_error("option '-o' needs a file name");
	if (nf != nfiles) {
		if (nfiles == 1)
			return ht_error("expected one snapshot file, got %d (try --help)", nf);
		return ht_error("expected %d snapshot files, got %d (try --help)", nfiles, nf);
	}
	if (nfiles == 1) {
		o->cur_label = files[0];
	} else if (nfiles == 2) {
		o->base_label = files[0];
		o->cur_label = files[1];
	}
	return 0;
}

/* ---- frame naming ---- */

struct sbuf {
	char **p;
	size_t *cap;
	size_t n;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(*b->p ? *b->p + b->n : NULL, *b->p ? *b->cap - b->n : 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if (!*b->p || b->n + len + 1 > *b->cap) {
		*b->cap = (b->n + len + 1) * 2;
		*b->p = ht_xrealloc(*b->p, *b->cap);
		va_start(ap, fmt);
		vsnprintf(*b->p + b->n, *b->cap - b->n, fmt, ap);
		va_end(ap);
	}
	b->n += len;
}

static const char *str(const char *s)
{
	return s ? s : "";
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

static void name_unsymbolized(struct sbuf *b, const struct ht_snapshot *s,
			      const struct ht_location *l, int with_address)
{
	const struct ht_module *m = NULL;

	if (l->module != HT_NONE && l->module < s->nmodules && str(s->modules[l->module].path)[0])
		m = &s->modules[l->module];
	if (!m) {
		sb_add(b, "0x%" PRIx64, l->address);
		return;
	}
	sb_add(b, "%s+0x%" PRIx64, base_name(m->path), l->address - m->bias);
	if (with_address)
		sb_add(b, " 0x%" PRIx64, l->address);
}

size_t ht_report_frame_name(const struct ht_snapshot *s, uint32_t loc, uint32_t k,
			    const struct ht_naming *nm, char **buf, size_t *cap)
{
	const struct ht_location *l = &s->locations[loc];
	struct sbuf b = { buf, cap, 0 };
	enum ht_granularity g = nm->granularity;

	sb_add(&b, "%s", "");
	if (l->nlines == 0) {
		name_unsymbolized(&b, s, l, g == HT_GRAN_ADDRESSES);
	} else {
		const struct ht_line *ln = &s->lines[l->first_line + k];
		const struct ht_function *f = &s->functions[ln->function];
		const char *fn = str(nm->no_demangle ? f->system_name : f->name);
		const char *file = str(f->file);

		if (!fn[0])
			fn = str(nm->no_demangle ? f->name : f->system_name);
		if (g == HT_GRAN_FILES && file[0]) {
			sb_add(&b, "%s", file);
		} else {
			if (fn[0])
				sb_add(&b, "%s", fn);
			else
				name_unsymbolized(&b, s, l, 0);
			if ((g == HT_GRAN_LINES || g == HT_GRAN_ADDRESSES) && file[0]) {
				sb_add(&b, " %s", base_name(file));
				if (ln->line)
					sb_add(&b, ":%" PRIu32, ln->line);
			}
			if (g == HT_GRAN_ADDRESSES)
				sb_add(&b, " 0x%" PRIx64, l->address);
		}
	}
	for (size_t i = 0; i < b.n; i++) {
		unsigned char c = (unsigned char)(*buf)[i];

		if (c < 0x20 || c == 0x7f)
			(*buf)[i] = '?';
	}
	return b.n;
}

/* ---- aggregation by name ---- */

struct agg_stack {
	uint32_t first, n; /* into ids */
	uint64_t hash;
	double v[4];       /* by enum ht_index */
};

struct ht_report_stacks {
	struct ht_naming naming;
	/* interned names */
	char **names;
	uint32_t *name_len;   /* strlen, with bit 31 set if the name has a ';' */
	uint64_t *name_hash;
	size_t nnames, names_cap;
	uint32_t *name_slots; /* open addressing: id + 1, 0 = empty */
	size_t name_mask;
	/* stacks */
	uint32_t *ids;
	size_t nids, ids_cap;
	struct agg_stack *st;
	size_t nst, st_cap;
	uint32_t *st_slots;
	size_t st_mask;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap : 16;
	while (*cap < need)
		*cap *= 2;
	return ht_xrealloc(p, *cap * size);
}

/* Rebuilds a slot table of 2*n..4*n slots from the stored hashes. */
static uint32_t *rehash(uint32_t *slots, size_t *mask, size_t n,
			const void *items, size_t stride, size_t hash_off)
{
	size_t size = 64;

	while (size < 4 * n)
		size *= 2;
	free(slots);
	slots = ht_xcalloc(size, sizeof(uint32_t));
	*mask = size - 1;
	for (size_t i = 0; i < n; i++) {
		uint64_t h;
		size_t j;

		memcpy(&h, (const char *)items + i * stride + hash_off, sizeof(h));
		for (j = h & *mask; slots[j]; j = (j + 1) & *mask)
			;
		slots[j] = (uint32_t)i + 1;
	}
	return slots;
}

#define SEMI 0x80000000u
#define SEMI_LEN 0x7fffffffu

static uint32_t intern(struct ht_report_stacks *a, const char *name, size_t len)
{
	uint64_t h = hash_bytes(name, len);
	size_t j;

	for (j = h & a->name_mask; a->name_slots[j]; j = (j + 1) & a->name_mask) {
		uint32_t id = a->name_slots[j] - 1;

		if (a->name_hash[id] == h && strcmp(a->names[id], name) == 0)
			return id;
	}
	a->names = grow(a->names, &a->names_cap, a->nnames + 1, sizeof(char *));
	a->name_hash = ht_xrealloc(a->name_hash, a->names_cap * sizeof(uint64_t));
	a->name_len = ht_xrealloc(a->name_len, a->names_cap * sizeof(uint32_t));
	a->names[a->nnames] = ht_xstrdup(name);
	a->name_len[a->nnames] = (uint32_t)(len & SEMI_LEN) |
				 (memchr(name, ';', len) ? SEMI : 0);
	a->name_hash[a->nnames] = h;
	a->name_slots[j] = (uint32_t)++a->nnames;
	if (2 * a->nnames > a->name_mask)
		a->name_slots = rehash(a->name_slots, &a->name_mask, a->nnames,
				       a->name_hash, sizeof(uint64_t), 0);
	return (uint32_t)(a->nnames - 1);
}

struct ht_report_stacks *ht_report_stacks_new(const struct ht_naming *nm)
{
	struct ht_report_stacks *a = ht_xcalloc(1, sizeof(*a));

	a->naming = *nm;
	a->name_slots = rehash(NULL, &a->name_mask, 0, NULL, 0, 0);
	a->st_slots = rehash(NULL, &a->st_mask, 0, NULL, 0, 0);
	return a;
}

void ht_report_stacks_free(struct ht_report_stacks *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nnames; i++)
		free(a->names[i]);
	free(a->names);
	free(a->name_hash);
	free(a->name_len);
	free(a->name_slots);
	free(a->ids);
	free(a->st);
	free(a->st_slots);
	free(a);
}

/* Finds or appends the stack key[0..n) and returns its index. */
static size_t find_stack(struct ht_report_stacks *a, const uint32_t *key, uint32_t n)
{
	uint64_t h = hash_bytes(key, n * sizeof(uint32_t));
	struct agg_stack *st;
	size_t j;

	for (j = h & a->st_mask; a->st_slots[j]; j = (j + 1) & a->st_mask) {
		st = &a->st[a->st_slots[j] - 1];
		if (st->hash == h && st->n == n &&
		    memcmp(a->ids + st->first, key, n * sizeof(uint32_t)) == 0)
			return a->st_slots[j] - 1;
	}
	a->ids = grow(a->ids, &a->ids_cap, a->nids + n, sizeof(uint32_t));
	memcpy(a->ids + a->nids, key, n * sizeof(uint32_t));
	a->st = grow(a->st, &a->st_cap, a->nst + 1, sizeof(*a->st));
	st = &a->st[a->nst];
	memset(st, 0, sizeof(*st));
	st->first = (uint32_t)a->nids;
	st->n = n;
	st->hash = h;
	a->nids += n;
	a->st_slots[j] = (uint32_t)++a->nst;
	if (2 * a->nst > a->st_mask)
		a->st_slots = rehash(a->st_slots, &a->st_mask, a->nst, a->st,
				     sizeof(*a->st), offsetof(struct agg_stack, hash));
	return a->nst - 1;
}

void ht_report_stacks_add(struct ht_report_stacks *a, const struct ht_snapshot *s,
			  double sign)
{
	/* Each location is named once: loc_first[l] indexes loc_ids. */
	uint32_t *loc_first = ht_xmalloc((s->nlocations + 1) * sizeof(uint32_t));
	uint32_t *loc_ids = NULL, *key = NULL;
	size_t nloc_ids = 0, loc_cap = 0, key_cap = 0, cap = 0;
	char *name = NULL;
	uint32_t unknown = HT_NONE;

	for (size_t l = 0; l < s->nlocations; l++)
		loc_first[l] = HT_NONE;
	for (size_t i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];
		struct agg_stack *as;
		size_t n = 0, j;

		for (uint32_t f = 0; f < st->nframes; f++) {
			uint32_t loc = s->frames[st->first_frame + f];
			uint32_t nf = ht_report_location_nframes(&s->locations[loc]);

			if (loc_first[loc] == HT_NONE) {
				loc_first[loc] = (uint32_t)nloc_ids;
				loc_ids = grow(loc_ids, &loc_cap, nloc_ids + nf, sizeof(uint32_t));
				for (uint32_t k = 0; k < nf; k++) {
					size_t len = ht_report_frame_name(s, loc, k, &a->naming,
									  &name, &cap);
					loc_ids[nloc_ids++] = intern(a, name, len);
				}
			}
			key = grow(key, &key_cap, n + nf, sizeof(uint32_t));
			memcpy(key + n, loc_ids + loc_first[loc], nf * sizeof(uint32_t));
			n += nf;
		}
		if (n == 0) {
			if (unknown == HT_NONE)
				unknown = intern(a, "[unknown]", 9);
			key = grow(key, &key_cap, 1, sizeof(uint32_t));
			key[n++] = unknown;
		}
		j = find_stack(a, key, (uint32_t)n); /* may move a->st */
		as = &a->st[j];
		for (int w = 0; w < 4; w++) {
			double v = ht_stack_value(st, (enum ht_index)w);

			/* a NaN would break every sort; the reader should refuse it */
			if (isfinite(v))
				as->v[w] += sign * v;
		}
	}
	free(name);
	free(key);
	free(loc_ids);
	free(loc_first);
}

size_t ht_report_stacks_count(const struct ht_report_stacks *a)
{
	return a->nst;
}

const uint32_t *ht_report_stacks_frames(const struct ht_report_stacks *a, size_t i,
					size_t *n)
{
	*n = a->st[i].n;
	return a->ids + a->st[i].first;
}

double ht_report_stacks_value(const struct ht_report_stacks *a, size_t i,
			      enum ht_index which)
{
	return a->st[i].v[which];
}

size_t ht_report_stacks_nnames(const struct ht_report_stacks *a)
{
	return a->nnames;
}

const char *ht_report_stacks_name(const struct ht_report_stacks *a, uint32_t id)
{
	return a->names[id];
}

/* ---- value formatting ---- */

/* Figures are estimates: anything that rounds to 0 is shown (and counted) as 0. */
static double rounded(double v)
{
	double r = round(v);

	return r == 0 ? 0 : r; /* no "-0" */
}

static int is_bytes(enum ht_index w)
{
	return w == HT_INUSE_SPACE || w == HT_ALLOC_SPACE;
}

/* "1.50MB", "+1.50MB" (signed, for diffs), "0". */
static const char *fmt_value(double v, enum ht_index w, int sign, char *buf, size_t len)
{
	char tmp[40];

	v = rounded(v);
	if (v == 0)
		return snprintf(buf, len, "0"), buf;
	if (is_bytes(w))
		ht_fmt_bytes(v, tmp, sizeof(tmp));
	else
		ht_fmt_count(v, tmp, sizeof(tmp));
	snprintf(buf, len, "%s%s", sign && v > 0 ? "+" : "", tmp);
	return buf;
}

/* pprof's percentages: "100%", "12.50%", "0.5%", signed when negative. */
static const char *fmt_pct(double v, double total, char *buf, size_t len)
{
	double r;

	v = rounded(v); /* no "-1e-12%" from the noise of summing estimates */
	r = total != 0 ? fabs(v) / total * 100 : 0;
	const char *minus = v < 0 && r != 0 ? "-" : "";

	if (r >= 99.95 && r <= 100.05)
		snprintf(buf, len, "%s100%%", minus);
	else if (r >= 1)
		snprintf(buf, len, "%s%.2f%%", minus, r);
	else
		snprintf(buf, len, "%s%.2g%%", minus, r);
	return buf;
}

/* ---- the text header ---- */

static double snapshot_total(const struct ht_snapshot *s, enum ht_index w)
{
	double t = 0;

	for (size_t i = 0; i < s->nstacks; i++)
		t += ht_stack_value(&s->stacks[i], w);
	return t;
}

static void fmt_time(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "%" PRId64 "ns", ns);
}

/* Lines a reader must not miss: "<lead>warning: <what>N ...". */
static void write_warnings(FILE *out, const char *lead, const char *what,
			   const struct ht_snapshot *s)
{
	const struct ht_drops *d = &s->drops;

	if (d->alloc_events)
		fprintf(out, "%swarning: %s%" PRIu64 " sampled events were dropped; "
			"figures are low\n", lead, what, d->alloc_events);
	if (d->free_events)
		fprintf(out, "%swarning: %s%" PRIu64 " frees of sampled blocks were "
			"dropped; in-use figures are high\n", lead, what, d->free_events);
	if (d->arena_full)
		fprintf(out, "%swarning: %s%" PRIu64 " sampled allocations went "
			"unrecorded (sample arena full); figures are low\n", lead, what,
			d->arena_full);
	if (d->other_events)
		fprintf(out, "%swarning: %s%" PRIu64 " module or control events were "
			"dropped; some frames may be unnamed\n", lead, what, d->other_events);
	if (d->unmatched)
		fprintf(out, "%swarning: %s%" PRIu64 " events did not match a live "
			"block; figures may be off\n", lead, what, d->unmatched);
}

static void write_snapshot_info(FILE *out, const char *ind, const struct ht_snapshot *s)
{
	const struct ht_counts *c = &s->counts;
	char b1[64], b2[64];

	if (str(s->exe)[0])
		fprintf(out, "%sExe: %s\n", ind, s->exe);
	if (str(s->cmdline)[0])
		fprintf(out, "%sCommand: %s\n", ind, s->cmdline);
	fprintf(out, "%sPID: %" PRId64 "\n", ind, s->pid);

	if (s->seq)
		fprintf(out, "%sSnapshot: %" PRIu32, ind, s->seq);
	else
		fprintf(out, "%sSnapshot: final", ind);
	if (s->time_ns) {
		fmt_time(s->time_ns, b1, sizeof(b1));
		fprintf(out, ", taken %s", b1);
		if (s->start_time_ns && s->time_ns >= s->start_time_ns)
			fprintf(out, ", %.1fs after start",
				(double)(s->time_ns - s->start_time_ns) / 1e9);
	}
	fprintf(out, "\n");
	if (s->flags & HT_SNAP_CUT_SHORT)
		fprintf(out, "%sState: cut short (the program ended without a clean exit)\n", ind);
	else if (s->flags & HT_SNAP_FINAL)
		fprintf(out, "%sState: final (the program exited)\n", ind);
	else
		fprintf(out, "%sState: running\n", ind);

	if (s->rate == 1 || (s->flags & HT_SNAP_EXACT))
		fprintf(out, "%sSampling: every allocation (figures are exact)\n", ind);
	else
		fprintf(out, "%sSampling: one sample per %s allocated on average "
			"(figures are estimates)\n", ind,
			ht_fmt_bytes((double)s->rate, b1, sizeof(b1)));
	fprintf(out, "%sCalls: %" PRIu64 " allocs, %" PRIu64 " frees, %" PRId64
		" live, %" PRIu64 " reallocs, %s requested (exact)\n", ind,
		c->alloc_calls, c->free_calls,
		(int64_t)(c->alloc_calls - c->free_calls), c->realloc_calls,
		ht_fmt_bytes((double)c->alloc_bytes, b2, sizeof(b2)));
	if (s->nmetrics) {
		fprintf(out, "%sMetrics:", ind);
		for (size_t i = 0; i < s->nmetrics; i++)
			fprintf(out, "%s %s=%.15g", i ? "," : "", str(s->metrics[i].name),
				s->metrics[i].value);
		fprintf(out, "\n");
	}
	write_warnings(out, ind, "", s);
}

static void write_header(FILE *out, const struct ht_snapshot *base,
			 const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	const char *idx = ht_report_index_name(o->index);
	char b1[64], b2[64], b3[64];
	double tb, tc;

	if (!base) {
		if (o->cur_label)
			fprintf(out, "File: %s\n", o->cur_label);
		write_snapshot_info(out, "", cur);
		fprintf(out, "Type: %s\n", idx);
		return;
	}
	fprintf(out, "Base: %s\n", o->base_label ? o->base_label : "(base)");
	write_snapshot_info(out, "  ", base);
	fprintf(out, "Current: %s\n", o->cur_label ? o->cur_label : "(current)");
	write_snapshot_info(out, "  ", cur);
	if (strcmp(str(base->exe), str(cur->exe)) != 0)
		fprintf(out, "note: base and current come from different executables\n");
	fprintf(out, "Type: %s, current minus base\n", idx);
	tb = snapshot_total(base, o->index);
	tc = snapshot_total(cur, o->index);
	fprintf(out, "Total: base %s, current %s, change %s\n",
		fmt_value(tb, o->index, 0, b1, sizeof(b1)),
		fmt_value(tc, o->index, 0, b2, sizeof(b2)),
		fmt_value(tc - tb, o->index, 1, b3, sizeof(b3)));
}

/* ---- text: pprof's top ---- */

struct node {
	uint32_t id;
	double flat, cum;
};

static int cmp_nodes(const void *x, const void *y, void *ctx)
{
	const struct node *p = x, *q = y;
	const struct ht_report_stacks *a = ctx;
	double fp = fabs(rounded(p->flat)), fq = fabs(rounded(q->flat));
	double cp = fabs(rounded(p->cum)), cq = fabs(rounded(q->cum));

	if (fp != fq)
		return fp > fq ? -1 : 1;
	if (cp != cq)
		return cp > cq ? -1 : 1;
	return strcmp(a->names[p->id], a->names[q->id]);
}

static void write_top(FILE *out, const struct ht_report_stacks *a,
		      const struct ht_report_opts *o, int diff)
{
	size_t nn = a->nnames, nrows = 0, shown;
	double *flat = ht_xcalloc(nn, sizeof(double));
	double *cum = ht_xcalloc(nn, sizeof(double));
	size_t *seen = ht_xcalloc(nn, sizeof(size_t));
	struct node *rows;
	double total = 0, shown_sum = 0, sum = 0;
	char b1[64], b2[64], b3[64], b4[64], b5[64];
	int w[5] = { 4, 5, 4, 3, 4 }; /* column widths: at least the titles */

	for (size_t i = 0; i < a->nst; i++) {
		const struct agg_stack *st = &a->st[i];
		double v = st->v[o->index];

		if (v == 0)
			continue;
		total += fabs(v);
		flat[a->ids[st->first]] += v;
		/* cum counts a name once per stack, even under recursion */
		for (uint32_t k = 0; k < st->n; k++) {
			uint32_t id = a->ids[st->first + k];

			if (seen[id] != i + 1) {
				seen[id] = i + 1;
				cum[id] += v;
			}
		}
	}
	rows = ht_xcalloc(nn, sizeof(*rows));
	for (size_t id = 0; id < nn; id++)
		if (rounded(flat[id]) != 0 || rounded(cum[id]) != 0)
			rows[nrows++] = (struct node){ (uint32_t)id, flat[id], cum[id] };
	qsort_r(rows, nrows, sizeof(*rows), cmp_nodes, (void *)a);
	shown = o->top > 0 && (size_t)o->top < nrows ? (size_t)o->top : nrows;
	if (o->top < 0 && nrows > 10)
		shown = 10;

	for (size_t r = 0; r < shown; r++) {
		int l[5];

		shown_sum += rows[r].flat;
		sum += rows[r].flat;
		l[0] = strlen(fmt_value(rows[r].flat, o->index, diff, b1, sizeof(b1)));
		l[1] = strlen(fmt_pct(rows[r].flat, total, b2, sizeof(b2)));
		l[2] = strlen(fmt_pct(sum, total, b3, sizeof(b3)));
		l[3] = strlen(fmt_value(rows[r].cum, o->index, diff, b4, sizeof(b4)));
		l[4] = strlen(fmt_pct(rows[r].cum, total, b5, sizeof(b5)));
		for (int c = 0; c < 5; c++)
			if (l[c] > w[c])
				w[c] = l[c];
	}
	fprintf(out, "Showing nodes accounting for %s, %s of %s total\n",
		fmt_value(shown_sum, o->index, diff, b1, sizeof(b1)),
		fmt_pct(shown_sum, total, b2, sizeof(b2)),
		fmt_value(total, o->index, 0, b3, sizeof(b3)));
	if (shown < nrows)
		fprintf(out, "Dropped %zu nodes; showing top %zu out of %zu\n",
			nrows - shown, shown, nrows);
	fprintf(out, "%*s %*s %*s %*s %*s\n", w[0], "flat", w[1], "flat%",
		w[2], "sum%", w[3], "cum", w[4], "cum%");
	sum = 0;
	for (size_t r = 0; r < shown; r++) {
		sum += rows[r].flat;
		fprintf(out, "%*s %*s %*s %*s %*s  %s\n",
			w[0], fmt_value(rows[r].flat, o->index, diff, b1, sizeof(b1)),
			w[1], fmt_pct(rows[r].flat, total, b2, sizeof(b2)),
			w[2], fmt_pct(sum, total, b3, sizeof(b3)),
			w[3], fmt_value(rows[r].cum, o->index, diff, b4, sizeof(b4)),
			w[4], fmt_pct(rows[r].cum, total, b5, sizeof(b5)),
			a->names[rows[r].id]);
	}
	free(rows);
	free(seen);
	free(cum);
	free(flat);
}

/* ---- collapsed stacks ---- */

/* Orders stacks i and j as their collapsed strings (root first, ';' between
 * frames, ';' inside a name shown as ':') would sort, without building them. */
static int cmp_collapsed(const void *x, const void *y, void *ctx)
{
	const struct ht_report_stacks *a = ctx;
	const struct agg_stack *si = &a->st[*(const size_t *)x];
	const struct agg_stack *sj = &a->st[*(const size_t *)y];
	const uint32_t *fi = a->ids + si->first, *fj = a->ids + sj->first;
	uint32_t ki = si->n, kj = sj->n; /* frames left, taken from the end */

	while (ki && kj) {
		uint32_t ii = fi[--ki], ij = fj[--kj];
		const unsigned char *p, *q;
		int cp, cq;

		if (ii == ij)
			continue;
		p = (const unsigned char *)a->names[ii];
		q = (const unsigned char *)a->names[ij];
		if (!((a->name_len[ii] | a->name_len[ij]) & SEMI)) {
			/* the common case, no ';' to show as ':': memcmp the
			 * common length, then compare where the shorter ends */
			uint32_t li = a->name_len[ii], lj = a->name_len[ij];
			int r = memcmp(p, q, li < lj ? li : lj);

			if (r)
				return r < 0 ? -1 : 1;
			if (li == lj)
				continue;
			p += li < lj ? li : lj;
			q += li < lj ? li : lj;
		}
		for (;; p++, q++) {
			/* past its end, a name continues with ';' or the end (-1) */
			cp = *p ? (*p == ';' ? ':' : *p) : ki ? ';' : -1;
			cq = *q ? (*q == ';' ? ':' : *q) : kj ? ';' : -1;
			if (cp != cq)
				return cp < cq ? -1 : 1;
			if (!*p || !*q)
				break;
		}
		/* the same shown name (only ';' and ':' differ): go on */
	}
	if (ki || kj)
		return ki ? 1 : -1;
	return 0;
}

struct line {
	size_t stack; /* the first stack of a run of equal strings */
	double v;
};

static int cmp_lines_by_value(const void *x, const void *y, void *ctx)
{
	const struct line *p = x, *q = y;
	double vp = fabs(rounded(p->v)), vq = fabs(rounded(q->v));

	if (vp != vq)
		return vp > vq ? -1 : 1;
	return cmp_collapsed(&p->stack, &q->stack, ctx);
}

static int cmp_lines_by_string(const void *x, const void *y, void *ctx)
{
	const struct line *p = x, *q = y;

	return cmp_collapsed(&p->stack, &q->stack, ctx);
}

static void write_collapsed(FILE *out, const struct ht_report_stacks *a,
			    const struct ht_report_opts *o)
{
	size_t *order = ht_xmalloc((a->nst + 1) * sizeof(size_t));
	struct line *lines = ht_xmalloc((a->nst + 1) * sizeof(*lines));
	size_t n = 0, nl = 0;

	for (size_t i = 0; i < a->nst; i++)
		if (a->st[i].v[o->index] != 0)
			order[n++] = i;
	qsort_r(order, n, sizeof(size_t), cmp_collapsed, (void *)a);
	for (size_t i = 0; i < n; i++) {
		if (nl && cmp_collapsed(&lines[nl - 1].stack, &order[i], (void *)a) == 0) {
			lines[nl - 1].v += a->st[order[i]].v[o->index];
			continue;
		}
		lines[nl++] = (struct line){ order[i], a->st[order[i]].v[o->index] };
	}
	n = 0;
	for (size_t i = 0; i < nl; i++)
		if (rounded(lines[i].v) != 0)
			lines[n++] = lines[i];
	if (o->top > 0 && (size_t)o->top < n) {
		qsort_r(lines, n, sizeof(*lines), cmp_lines_by_value, (void *)a);
		n = (size_t)o->top;
		qsort_r(lines, n, sizeof(*lines), cmp_lines_by_string, (void *)a);
	}
	for (size_t i = 0; i < n; i++) {
		const struct agg_stack *st = &a->st[lines[i].stack];

		for (uint32_t k = st->n; k-- > 0; ) {
			const char *name = a->names[a->ids[st->first + k]];

			if (strchr(name, ';')) {
				for (const char *p = name; *p; p++)
					putc(*p == ';' ? ':' : *p, out);
			} else {
				fputs(name, out);
			}
			putc(k ? ';' : ' ', out);
		}
		fprintf(out, "%.0f\n", rounded(lines[i].v));
	}
	free(lines);
	free(order);
}

/* ---- entry points ---- */

int ht_report_write(FILE *out, const struct ht_snapshot *base,
		    const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	struct ht_report_stacks *a = ht_report_stacks_new(&o->naming);

	if (base)
		ht_report_stacks_add(a, base, -1);
	ht_report_stacks_add(a, cur, 1);
	switch (o->format) {
	case HT_FORMAT_TEXT:
		write_header(out, base, cur, o);
		write_top(out, a, o, base != NULL);
		break;
	case HT_FORMAT_COLLAPSED:
		write_collapsed(out, a, o);
		break;
	}
	ht_report_stacks_free(a);
	return ferror(out) ? -1 : 0;
}

int ht_report_emit(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		   const struct ht_report_opts *o, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int rc = 0;

	if (!mem)
		return ht_fail(err, errlen, "cannot render the report: %s", strerror(errno));
	if (ht_report_write(mem, base, cur, o) | fclose(mem)) {
		free(buf);
		return ht_fail(err, errlen, "cannot render the report: out of memory");
	}
	if (o->format != HT_FORMAT_TEXT) {
		char lead[256];

		snprintf(lead, sizeof(lead), "%s: ", ht_progname);
		if (base)
			write_warnings(stderr, lead, "base: ", base);
		write_warnings(stderr, lead, base ? "current: " : "", cur);
	}
	if (o->output && strcmp(o->output, "-") != 0) {
		rc = ht_write_file_atomic(o->output, buf, len, err, errlen);
	} else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout)) {
		rc = ht_fail(err, errlen, "cannot write to standard output: %s",
			     strerror(errno));
	}
	free(buf);
	return rc;
}
