/* The report library behind heaptrace-report and heaptrace-diff: option
 * parsing shared by both, frame naming, aggregation of stacks by name, the
 * sampling error of estimates, the text formats (pprof's top, tree and
 * peek), collapsed stacks, and the dispatch to the other formats. */
#include "report/report.h"
#include "lib/fileio.h"
#include "report/stats.h"
#include "report/report_int.h"
#include "preload/sample.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- options ---- */

static const char *const index_names[] = {
	[HT_INUSE_SPACE] = "inuse_space",
	[HT_INUSE_OBJECTS] = "inuse_objects",
	[HT_ALLOC_SPACE] = "alloc_space",
	[HT_ALLOC_OBJECTS] = "alloc_objects",
};

/* Indexed by enum ht_format. */
static const char *const format_names[] = {
	[HT_FORMAT_TEXT] = "text",
	[HT_FORMAT_TREE] = "tree",
	[HT_FORMAT_COLLAPSED] = "collapsed",
	[HT_FORMAT_PPROF] = "pprof",
	[HT_FORMAT_SVG] = "svg",
	[HT_FORMAT_HEAP_V2] = "heap_v2",
	[HT_FORMAT_STATS] = "stats",
	[HT_FORMAT_JSON] = "json",
};

/* --unit: byte units by power of 1024 */
static const char *const unit_names[] = { "B", "kB", "MB", "GB", "TB" };

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
	o->unit = -1;
}

static int lookup(const char *const *names, int n, const char *v)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	return -1;
}

/* "auto" -> -1, "B"/"bytes" -> 0, "kB"/"KiB" -> 1 ... ; -2 if unknown. */
static int parse_unit(const char *v)
{
	static const char *const alt[] = { "bytes", "kib", "mib", "gib", "tib" };

	if (strcasecmp(v, "auto") == 0)
		return -1;
	for (int i = 0; i < 5; i++)
		if (strcasecmp(v, unit_names[i]) == 0 || strcasecmp(v, alt[i]) == 0)
			return i;
	return -2;
}

/* Matches arg against a long option "--name" or "--name=value". Returns 0 if
 * it is another option, 1 if it matches; *val is then the value (from
 * "=value" or the next argument, consuming it) or NULL for flags. pprof's
 * single-dash spelling "-name" matches too. */
static int match_long(const char *arg, const char *name, int takes_value,
		      int argc, char **argv, int *i, const char **val, int *err)
{
	size_t n = strlen(name);

	/* pprof spells its flags with one dash: "-focus=x" is "--focus=x" */
	if (arg[0] == '-' && arg[1] != '-') {
		name++;
		n--;
	}
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

/* Checks that re compiles; prints why not. */
static int check_regex(const char *opt, const char *re)
{
	regex_t rx;
	char why[256];
	int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);

	if (rc == 0) {
		regfree(&rx);
		return 0;
	}
	regerror(rc, &rx, why, sizeof(why));
	return ht_error("invalid %s regex '%s': %s", opt, re, why);
}

/* An option heaptrace does not have. pprof users get pointed to what
 * does the job here. */
static int unknown_option(const char *arg)
{
	static const char *const graphs[] = {
		"png", "pdf", "gif", "svg", "dot", "ps", "web", "gv", "eog", "evince",
		"callgrind", "weblist",
	};
	static const char *const longs[] = {
		"lines", "functions", "files", "addresses", "no-demangle", "tree", "stats",
		"verbose", "peak", "series", "sample_index", "top", "nodecount", "unit", "focus",
		"ignore", "peek", "format", "output", "base", "help", "version",
	};
	char word[32];
	size_t n;

	if (arg[0] != '-' || arg[1] == '-')
		return ht_error("unknown option '%s' (try --help)", arg);
	n = strcspn(arg + 1, "=");
	snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1),
		 arg + 1);
	for (size_t k = 0; k < sizeof(graphs) / sizeof(graphs[0]); k++)
		if (!strcmp(word, graphs[k]))
			return ht_error("unknown option '%s' (did you mean --format svg? heaptrace "
					"draws flame graphs, not call graphs)", arg);
	if (!strcmp(word, "traces") || !strcmp(word, "raw"))
		return ht_error("unknown option '%s' (did you mean --format collapsed?)", arg);
	/* a word that begins a long option: "-func" is "--functions" */
	for (size_t k = 0; n >= 3 && k < sizeof(longs) / sizeof(longs[0]); k++)
		if (!strncmp(longs[k], word, n))
			return ht_error("unknown option '%s' (did you mean --%s?)", arg, longs[k]);
	return ht_error("unknown option '%s' (heaptrace has no --%s either; try --help)",
			arg, word);
}

static int parse_one(const char *arg, int argc, char **argv, int *i,
		     struct ht_report_opts *o, int nfiles)
{
	static const struct { const char *name; enum ht_granularity g; } grans[] = {
		{ "--lines", HT_GRAN_LINES }, { "--functions", HT_GRAN_FUNCTIONS },
		{ "--files", HT_GRAN_FILES }, { "--addresses", HT_GRAN_ADDRESSES },
	};
	static const struct { const char *name; size_t off; } regexes[] = {
		{ "--focus", offsetof(struct ht_report_opts, focus) },
		{ "--ignore", offsetof(struct ht_report_opts, ignore) },
		{ "--peek", offsetof(struct ht_report_opts, peek) },
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
	if (match_long(arg, "--tree", 0, argc, argv, i, &v, &err)) {
		o->format = HT_FORMAT_TREE;
		return err ? -1 : 0;
	}
	if (nfiles == 1 && match_long(arg, "--peak", 0, argc, argv, i, &v, &err)) {
		o->peak = 1;
		return err ? -1 : 0;
	}
	if (match_long(arg, "--verbose", 0, argc, argv, i, &v, &err)) {
		o->verbose = 1;
		return err ? -1 : 0;
	}
	if (match_long(arg, "--stats", 0, argc, argv, i, &v, &err)) {
		o->format = HT_FORMAT_STATS;
		return err ? -1 : 0;
	}
	if (nfiles == 2 && match_long(arg, "--series", 0, argc, argv, i, &v, &err)) {
		o->series = 1;
		return err ? -1 : 0;
	}
	/* pprof's shorthands: --inuse_space etc. */
	if (arg[0] == '-' && (k = lookup(index_names, 4, arg + 1 + (arg[1] == '-'))) >= 0) {
		o->index = (enum ht_index)k;
		return 0;
	}
	/* pprof's names for the formats heaptrace has */
	if (!strcmp(arg, "-top") || !strcmp(arg, "-text")) {
		o->format = HT_FORMAT_TEXT;
		return 0;
	}
	if (!strcmp(arg, "-proto")) {
		o->format = HT_FORMAT_PPROF;
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
	if (match_long(arg, "--top", 1, argc, argv, i, &v, &err) ||
	    match_long(arg, "--nodecount", 1, argc, argv, i, &v, &err)) {
		if (err)
			return -1;
		if (ht_parse_u64(v, &n) || n > 1000000000)
			return ht_error("invalid %s value '%s' (expected a number, 0 for all)",
					strncmp(arg, "--top", 5) == 0 ? "--top" : "--nodecount", v);
		o->top = (long)n;
		return 0;
	}
	if (match_long(arg, "--unit", 1, argc, argv, i, &v, &err)) {
		if (err)
			return -1;
		if ((k = parse_unit(v)) < -1)
			return ht_error("unknown unit '%s' (expected auto, B, kB, MB, GB or TB)", v);
		o->unit = k;
		return 0;
	}
	for (k = 0; k < (int)(sizeof(regexes) / sizeof(regexes[0])); k++)
		if (match_long(arg, regexes[k].name, 1, argc, argv, i, &v, &err)) {
			if (err || check_regex(regexes[k].name, v))
				return -1;
			*(const char **)((char *)o + regexes[k].off) = v;
			return 0;
		}
	if (match_long(arg, "--format", 1, argc, argv, i, &v, &err)) {
		if (err)
			return -1;
		k = lookup(format_names, sizeof(format_names) / sizeof(format_names[0]), v);
		if (k < 0)
			return ht_error("unknown format '%s' (supported: text, tree, collapsed, "
					"pprof, svg, heap_v2, stats, json)", v);
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
	return unknown_option(arg);
}

/* Options that do not go together, once all are known. */
static int check_combination(struct ht_report_opts *o, int nfiles)
{
	if (o->peek) {
		if (o->format == HT_FORMAT_TEXT)
			o->format = HT_FORMAT_TREE;
		else if (o->format != HT_FORMAT_TREE)
			return ht_error("option '--peek' needs the text or tree format, not '%s'",
					format_names[o->format]);
	}
	if (o->series) {
		if (o->format != HT_FORMAT_TEXT && o->format != HT_FORMAT_SVG)
			return ht_error("option '--series' supports the text and svg formats, "
					"not '%s'", format_names[o->format]);
		if (o->nfiles < 2)
			return ht_error("option '--series' needs two or more snapshot files, "
					"got %d", o->nfiles);
	} else if (nfiles == 2 && o->format == HT_FORMAT_HEAP_V2) {
		return ht_error("format 'heap_v2' shows one snapshot, not a diff");
	}
	return 0;
}

int ht_report_parse_args(int argc, char **argv, int nfiles, const char **files,
			 struct ht_report_opts *o)
{
	int nf = 0, only_files = 0, err = 0;
	const char *base = NULL, *v;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (only_files || arg[0] != '-' || arg[1] == '\0') {
			files[nf++] = arg;
		} else if (strcmp(arg, "--") == 0) {
			only_files = 1;
		} else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 ||
			   strcmp(arg, "-help") == 0) {
			return 1;
		} else if (strcmp(arg, "--version") == 0 || strcmp(arg, "-version") == 0) {
			return 2;
		} else if (match_long(arg, "--base", 1, argc, argv, &i, &v, &err) ||
			   match_long(arg, "--diff_base", 1, argc, argv, &i, &v, &err)) {
			/* pprof -base BASE CURRENT */
			if (err)
				return -1;
			if (nfiles != 2)
				return ht_error("option '%s' compares two snapshots: use "
						"heaptrace-diff BASE CURRENT", arg);
			base = v;
		} else if (parse_one(arg, argc, argv, &i, o, nfiles)) {
			return -1;
		}
	}
	if (base) {
		if (o->series || nf != 1)
			return ht_error("with '-base BASE', give one more snapshot: the current one");
		files[1] = files[0];
		files[0] = base;
		nf = 2;
	}
	o->nfiles = nf;
	if (o->output && !*o->output)
		return ht_error("option '-o' needs a file name");
	if (o->series)
		return check_combination(o, nfiles);
	if (nf != nfiles) {
		if (nfiles == 1)
			return ht_error("expected one snapshot file, got %d (try --help)", nf);
		return ht_error("expected %d snapshot files, got %d (try --help)", nfiles, nf);
	}
	if (check_combination(o, nfiles))
		return -1;
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
	/* a name is shown raw: what a terminal would obey becomes '?' */
	for (size_t i = 0, w; i < b.n; i += w ? w : 1)
		if (!(w = ht_char_printable(*buf + i, b.n - i)))
			(*buf)[i] = '?';
	return b.n;
}

/* ---- sampling error ---- */

int ht_report_exact(const struct ht_snapshot *s)
{
	return s->rate <= 1 || (s->flags & HT_SNAP_EXACT);
}

/* The share of one sample (sampling.h) for a stack of average block size
 * avg, in files written before the per-sample sums. */
static double avg_share(const struct ht_snapshot *s, double avg, int bytes)
{
	double w = ht_sample_weight(avg < 1 ? 1 : ht_report_to_u64(avg), s->rate);

	return w > 1 ? (w - 1) * (bytes ? avg : 1) : 0;
}

/* The variance of an object count, from the samples' own weights, but,
 * at a stack of mixed sizes, no less than its byte count's error allows:
 * the samples say little of the blocks much smaller than those they hit,
 * each of which stands for many objects and is seldom sampled (a stack of
 * 16 B to 32 kB blocks draws few samples from its small third). No block
 * of the stack is smaller than the smallest sampled one, it is assumed,
 * so its objects are at most the upper end of its bytes over that size;
 * the variance is raised until the count's normal 97.5% end reaches that
 * far. A stack whose samples are all of one size (within a factor 2) is
 * taken at its word. */
static double objects_variance(const struct ht_stack *st, enum ht_index which)
{
	enum ht_index bw = which == HT_INUSE_OBJECTS ? HT_INUSE_SPACE : HT_ALLOC_SPACE;
	double v = st->err.var[which] > 0 ? st->err.var[which] : 0, y = ht_stack_value(st, which);
	double lo, hi, cap;

	if (!st->err.min_size || !(v > 0) || st->err.max_size <= 2 * st->err.min_size)
		return v;
	ht_interval(ht_stack_value(st, bw), st->err.var[bw], st->err.share_space, &lo, &hi);
	cap = hi / (double)st->err.min_size;
	if (cap > y && ((cap - y) / 1.96) * ((cap - y) / 1.96) > v)
		v = ((cap - y) / 1.96) * ((cap - y) / 1.96);
	return v;
}

double ht_report_stack_variance(const struct ht_snapshot *s, const struct ht_stack *st,
				enum ht_index which)
{
	int inuse = which == HT_INUSE_SPACE || which == HT_INUSE_OBJECTS;
	double n = (double)(inuse ? st->inuse_samples : st->alloc_samples);
	double objects = inuse ? st->inuse_objects : st->alloc_objects;
	double space = inuse ? st->inuse_space : st->alloc_space;
	double avg, w, per_sample;

	if (ht_report_exact(s) || n <= 0)
		return 0;
	if (s->stack_error)
		return which == HT_INUSE_OBJECTS || which == HT_ALLOC_OBJECTS ?
		       objects_variance(st, which) : (st->err.var[which] > 0 ? st->err.var[which] : 0);
	if (!(objects > 0) || !(space > 0) || !isfinite(objects) || !isfinite(space))
		return 0;
	avg = space / objects;
	w = ht_sample_weight(avg < 1 ? 1 : ht_report_to_u64(avg), s->rate); /* 1/p */
	/* (1-p)/p^2 = w^2 - w */
	per_sample = w * w - w;
	if (!(per_sample > 0))
		return 0;
	if (which == HT_INUSE_SPACE || which == HT_ALLOC_SPACE)
		per_sample *= avg * avg;
	return n * per_sample;
}

/* The largest share of one sample of st in counter which (sampling.h). */
static double stack_share(const struct ht_snapshot *s, const struct ht_stack *st,
			  enum ht_index which)
{
	int bytes = which == HT_INUSE_SPACE || which == HT_ALLOC_SPACE;

	if (ht_report_exact(s))
		return 0;
	if (s->stack_error)
		return bytes ? st->err.share_space : st->err.share_objects;
	if (!(st->alloc_objects > 0) || !(st->alloc_space > 0) ||
	    !isfinite(st->alloc_space / st->alloc_objects))
		return 0;
	return avg_share(s, st->alloc_space / st->alloc_objects, bytes);
}

void ht_report_stack_err(const struct ht_snapshot *s, const struct ht_stack *st,
			 enum ht_index which, struct ht_err *e)
{
	int bytes = which == HT_INUSE_SPACE || which == HT_ALLOC_SPACE;
	int inuse = which == HT_INUSE_SPACE || which == HT_INUSE_OBJECTS;

	memset(e, 0, sizeof(*e));
	if (ht_report_exact(s) || !(inuse ? st->inuse_samples : st->alloc_samples))
		return;
	e->up = ht_stack_value(st, which);
	e->up_var = ht_report_stack_variance(s, st, which);
	e->share = e->up_var > 0 ? stack_share(s, st, which) : 0;
	if (s->stack_error && st->err.lump_size) {
		e->lump = bytes ? (double)st->err.lump_size : 1;
		e->lump_mass = st->err.lump_mass;
		e->lump_one = st->err.lump_one;
	}
}

int ht_report_same_run(const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	return base && cur && base->stack_error && cur->stack_error && base->pid == cur->pid &&
	       base->start_time_ns == cur->start_time_ns && base->rate == cur->rate &&
	       base->time_ns <= cur->time_ns && strcmp(str(base->exe), str(cur->exe)) == 0;
}

/* ---- aggregation by name ---- */

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
	if (a->nnames == a->names_cap) { /* the parallel arrays grow together */
		a->names = grow(a->names, &a->names_cap, a->nnames + 1, sizeof(char *));
		a->name_hash = ht_xrealloc(a->name_hash, a->names_cap * sizeof(uint64_t));
		a->name_len = ht_xrealloc(a->name_len, a->names_cap * sizeof(uint32_t));
		a->name_match = ht_xrealloc(a->name_match, a->names_cap);
	}
	a->names[a->nnames] = ht_xstrdup(name);
	a->name_len[a->nnames] = (uint32_t)(len & SEMI_LEN) |
				 (memchr(name, ';', len) ? SEMI : 0);
	a->name_hash[a->nnames] = h;
	a->name_match[a->nnames] = 0;
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
	if (a->has_focus)
		regfree(&a->focus);
	if (a->has_ignore)
		regfree(&a->ignore);
	free(a->names);
	free(a->name_hash);
	free(a->name_len);
	free(a->name_match);
	free(a->name_slots);
	free(a->ids);
	free(a->st);
	free(a->st_slots);
	free(a);
}

static int compile(regex_t *rx, const char *opt, const char *re, char *err, size_t errlen)
{
	int rc = regcomp(rx, re, REG_EXTENDED | REG_NOSUB);
	char why[256];

	if (rc == 0)
		return 0;
	regerror(rc, rx, why, sizeof(why));
	return ht_fail(err, errlen, "invalid %s regex '%s': %s", opt, re, why);
}

int ht_report_stacks_filter(struct ht_report_stacks *a, const char *focus,
			    const char *ignore, char *err, size_t errlen)
{
	if (focus) {
		if (compile(&a->focus, "--focus", focus, err, errlen))
			return -1;
		a->has_focus = 1;
	}
	if (ignore) {
		if (compile(&a->ignore, "--ignore", ignore, err, errlen))
			return -1;
		a->has_ignore = 1;
	}
	return 0;
}

/* name_match bits: each name is matched once */
#define M_DONE 1
#define M_FOCUS 2
#define M_IGNORE 4

static unsigned match_name(struct ht_report_stacks *a, uint32_t id)
{
	unsigned m = a->name_match[id];

	if (!(m & M_DONE)) {
		m = M_DONE;
		if (a->has_focus && regexec(&a->focus, a->names[id], 0, NULL, 0) == 0)
			m |= M_FOCUS;
		if (a->has_ignore && regexec(&a->ignore, a->names[id], 0, NULL, 0) == 0)
			m |= M_IGNORE;
		a->name_match[id] = (unsigned char)m;
	}
	return m;
}

/* pprof's semantics: a stack is shown if a frame matches focus (or there
 * is no focus) and no frame matches ignore. */
static int filtered_out(struct ht_report_stacks *a, const uint32_t *key, uint32_t n)
{
	unsigned all = 0;

	if (!a->has_focus && !a->has_ignore)
		return 0;
	for (uint32_t k = 0; k < n; k++)
		all |= match_name(a, key[k]);
	return (a->has_focus && !(all & M_FOCUS)) || (all & M_IGNORE);
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
	st->hidden = filtered_out(a, key, n);
	a->nhidden += st->hidden != 0;
	a->nids += n;
	a->st_slots[j] = (uint32_t)++a->nst;
	if (2 * a->nst > a->st_mask)
		a->st_slots = rehash(a->st_slots, &a->st_mask, a->nst, a->st,
				     sizeof(*a->st), offsetof(struct agg_stack, hash));
	return a->nst - 1;
}

size_t *ht_report_stacks_intern(struct ht_report_stacks *a, const struct ht_snapshot *s)
{
	/* Each location is named once: loc_first[l] indexes loc_ids. */
	uint32_t *loc_first = ht_xmalloc((s->nlocations + 1) * sizeof(uint32_t));
	uint32_t *loc_ids = NULL, *key = NULL;
	size_t nloc_ids = 0, loc_cap = 0, key_cap = 0, cap = 0;
	size_t *map = ht_xmalloc((s->nstacks + 1) * sizeof(size_t));
	char *name = NULL;
	uint32_t unknown = HT_NONE;

	for (size_t l = 0; l < s->nlocations; l++)
		loc_first[l] = HT_NONE;
	for (size_t i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];
		size_t n = 0;

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
		map[i] = find_stack(a, key, (uint32_t)n);
	}
	free(name);
	free(key);
	free(loc_ids);
	free(loc_first);
	return map;
}

void ht_report_stacks_add(struct ht_report_stacks *a, const struct ht_snapshot *s,
			  double sign)
{
	size_t *map = ht_report_stacks_intern(a, s);
	int side = sign < 0 ? 0 : 1;

	for (size_t i = 0; i < s->nstacks; i++) {
		const struct ht_stack *st = &s->stacks[i];
		struct agg_stack *as = &a->st[map[i]];

		for (int w = 0; w < 4; w++) {
			double v = ht_stack_value(st, (enum ht_index)w);
			struct ht_err e;

			/* a NaN would break every sort; the reader should refuse it */
			if (!isfinite(v))
				continue;
			as->v[w] += sign * v;
			as->side[side][w] += fabs(sign) * v;
			ht_report_stack_err(s, st, (enum ht_index)w, &e);
			ht_err_add(&as->side_err[side][w], &e);
		}
	}
	free(map);
}

static double clamp0(double v)
{
	return v > 0 ? v : 0;
}

/* Within one run the samples of blocks that lived through both snapshots
 * cancel, and the error is that of what changed (sampling.c): the blocks
 * allocated in between and live at the current snapshot (up), and those
 * live at the base and freed since (down). Neither is in the snapshots as
 * such; each is bounded by two figures that hold it: up by the current
 * in-use and by what was allocated in between, down by the base's in-use
 * and by what was freed in between (alloc - inuse grew by it). The
 * allocation counters only grow: their change is the allocations in
 * between, exactly. */
static void same_run_err(const struct agg_stack *as, int w, struct ht_err *e)
{
	int bytes = w == HT_INUSE_SPACE || w == HT_ALLOC_SPACE;
	int aw = bytes ? HT_ALLOC_SPACE : HT_ALLOC_OBJECTS, iw = bytes ? HT_INUSE_SPACE : HT_INUSE_OBJECTS;
	double ab = as->side[0][aw], ac = as->side[1][aw], ib = as->side[0][iw], ic = as->side[1][iw];
	double vab = as->side_err[0][aw].up_var, vac = as->side_err[1][aw].up_var;
	double vib = as->side_err[0][iw].up_var, vic = as->side_err[1][iw].up_var;

	/* shares and lumps: the larger side's, which holds the other */
	*e = as->side_err[1][aw];
	ht_err_add(e, &as->side_err[0][aw]);
	e->lump_mass = fmax(as->side_err[0][aw].lump_mass, as->side_err[1][aw].lump_mass);
	e->diff = 1;
	if (w == aw) {
		e->up = clamp0(ac - ab);
		e->up_var = clamp0(vac - vab);
		e->down = e->down_var = 0;
		return;
	}
	e->up = clamp0(fmin(ic, ac - ab));
	e->up_var = clamp0(fmin(vic, vac - vab));
	e->down = clamp0(fmin(ib, (ac - ic) - (ab - ib)));
	e->down_var = clamp0(fmin(vib, (vac - vic) - (vab - vib)));
}

void ht_report_stacks_finish(struct ht_report_stacks *a, int diff, int same)
{
	for (size_t i = 0; i < a->nst; i++) {
		struct agg_stack *as = &a->st[i];

		for (int w = 0; w < 4; w++) {
			struct ht_err *e = &as->err[w];
			const struct ht_err *b = &as->side_err[0][w];

			if (same) {
				same_run_err(as, w, e);
				continue;
			}
			*e = as->side_err[1][w];
			e->down = b->up;
			e->down_var = b->up_var;
			e->share = fmax(e->share, b->share);
			e->lump = fmax(e->lump, b->lump);
			e->lump_mass += b->lump_mass;
			e->lump_one = fmax(e->lump_one, b->lump_one);
			e->diff = diff;
		}
	}
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

const struct ht_err *ht_report_stacks_err(const struct ht_report_stacks *a, size_t i,
					  enum ht_index which)
{
	return &a->st[i].err[which];
}

int ht_report_stacks_hidden(const struct ht_report_stacks *a, size_t i)
{
	return a->st[i].hidden;
}

size_t ht_report_stacks_nnames(const struct ht_report_stacks *a)
{
	return a->nnames;
}

const char *ht_report_stacks_name(const struct ht_report_stacks *a, uint32_t id)
{
	return a->names[id];
}

int ht_report_name_is_address(const char *name)
{
	const char *p = strstr(name, "+0x");

	if (strncmp(name, "0x", 2) == 0)
		p = name;
	else if (!p)
		return 0;
	for (p += p == name ? 2 : 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return *p == ' '; /* "libc.so.6+0x9a0f4 0x7f..." (--addresses) */
	return 1;
}

struct ht_report_stacks *ht_report_aggregate(const struct ht_snapshot *base,
					     const struct ht_snapshot *cur,
					     const struct ht_report_opts *o,
					     char *err, size_t errlen)
{
	struct ht_report_stacks *a = ht_report_stacks_new(&o->naming);

	if (ht_report_stacks_filter(a, o->focus, o->ignore, err, errlen)) {
		ht_report_stacks_free(a);
		return NULL;
	}
	if (base)
		ht_report_stacks_add(a, base, -1);
	ht_report_stacks_add(a, cur, 1);
	ht_report_stacks_finish(a, base != NULL, ht_report_same_run(base, cur));
	return a;
}

/* ---- value formatting ---- */

/* Figures are estimates: anything that rounds to 0 is shown (and counted) as 0. */
double ht_report_rounded(double v)
{
	double r = round(v);

	return r == 0 ? 0 : r; /* no "-0" */
}

static int is_bytes(enum ht_index w)
{
	return w == HT_INUSE_SPACE || w == HT_ALLOC_SPACE;
}

/* "1.50MB", "+1.50MB" (signed, for diffs), "0"; in a fixed unit "1536.00kB"
 * and whole counts. */
const char *ht_report_fmt_value(double v, enum ht_index w, int sign, int unit,
				char *buf, size_t len)
{
	char tmp[64];

	v = ht_report_rounded(v);
	if (v == 0)
		return snprintf(buf, len, "0"), buf;
	if (unit >= 0 && !is_bytes(w))
		snprintf(tmp, sizeof(tmp), "%.0f", v);
	else if (unit == 0)
		snprintf(tmp, sizeof(tmp), "%.0fB", v);
	else if (unit > 0)
		snprintf(tmp, sizeof(tmp), "%.2f%s", v / pow(1024, unit), unit_names[unit]);
	else if (is_bytes(w))
		ht_fmt_bytes(v, tmp, sizeof(tmp));
	else
		ht_fmt_count(v, tmp, sizeof(tmp));
	snprintf(buf, len, "%s%s", sign && v > 0 ? "+" : "", tmp);
	return buf;
}

/* A figure of the report's counter in its unit. */
static const char *fmt_value(double v, const struct ht_report_opts *o, int sign,
			     char *buf, size_t len)
{
	return ht_report_fmt_value(v, o->index, sign, o->unit, buf, len);
}

const char *ht_report_fmt_interval(const struct ht_err *e, enum ht_index w, int unit,
				   char *buf, size_t len)
{
	static const char *const cu[] = { "", "k", "M", "G", "T" };
	double v = ht_err_half(e), base = is_bytes(w) ? 1024 : 1000;
	int k = 0;

	if (!(v >= 0.5))
		return snprintf(buf, len, "±0"), buf;
	if (unit >= 0) {
		k = is_bytes(w) ? unit : 0;
	} else {
		/* at most three digits before the point: "±0.98MB", not "±1004kB" */
		while (v >= 999.5 * pow(base, k) && k < 4)
			k++;
	}
	v /= pow(base, k);
	/* an error bar needs two or three significant digits, no more */
	snprintf(buf, len, "±%.*f%s", v >= 9.95 || k == 0 ? 0 : v >= 0.995 ? 1 : 2, v,
		 is_bytes(w) ? unit_names[k] : cu[k]);
	return buf;
}

const char *ht_report_fmt_pct(double v, double total, char *buf, size_t len)
{
	double r;

	v = ht_report_rounded(v); /* no "-1e-12%" from the noise of summing estimates */
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

double ht_report_snapshot_total(const struct ht_snapshot *s, enum ht_index w)
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

/* ", taken TIME, Ns after start" of s, as far as it knows them. */
static void write_when(FILE *out, const struct ht_snapshot *s)
{
	char t[64];

	if (!s->time_ns)
		return;
	fmt_time(s->time_ns, t, sizeof(t));
	fprintf(out, ", taken %s", t);
	if (s->start_time_ns && s->time_ns >= s->start_time_ns)
		fprintf(out, ", %.1fs after start", (double)(s->time_ns - s->start_time_ns) / 1e9);
}

/* Lines a reader must not miss: "<lead>warning: <what>N ...". */
void ht_report_write_warnings(FILE *out, const char *lead, const char *what,
			      const struct ht_snapshot *s)
{
	const struct ht_drops *d = &s->drops;

	if (s->flags & HT_SNAP_UNTRACED)
		fprintf(out, "%swarning: %s%s\n", lead, what,
			s->note && *s->note ? s->note : "the program's malloc was not the "
			"shim's: nothing was traced");
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

/* "LEAD" and a name from outside (a file name, a program's) on one line. */
static void labelled(FILE *out, const char *lead, const char *name)
{
	fputs(lead, out);
	ht_fputs_escaped(out, name);
	putc('\n', out);
}

void ht_report_write_snapshot_info(FILE *out, const char *ind, const struct ht_snapshot *s)
{
	const struct ht_counts *c = &s->counts;
	char b1[64], b2[64];

	if (str(s->exe)[0]) {
		fputs(ind, out);
		labelled(out, "Exe: ", s->exe);
	}
	if (str(s->cmdline)[0]) {
		fputs(ind, out);
		labelled(out, "Command: ", s->cmdline);
	}
	fprintf(out, "%sPID: %" PRId64 "\n", ind, s->pid);

	if (s->flags & HT_SNAP_PEAK)
		fprintf(out, "%sSnapshot: peak", ind);
	else if (s->seq || !(s->flags & HT_SNAP_FINAL))
		fprintf(out, "%sSnapshot: %" PRIu32, ind, s->seq);
	else
		fprintf(out, "%sSnapshot: final", ind);
	write_when(out, s);
	fprintf(out, "\n");
	if (s->flags & HT_SNAP_CUT_SHORT)
		fprintf(out, "%sState: cut short (the program ended without a clean exit)\n", ind);
	else if (s->flags & HT_SNAP_FINAL)
		fprintf(out, "%sState: final (the program exited)\n", ind);
	else
		fprintf(out, "%sState: running\n", ind);

	if (ht_report_exact(s))
		fprintf(out, "%sSampling: every allocation (figures are exact)\n", ind);
	else
		fprintf(out, "%sSampling: one sample per %s allocated on average "
			"(figures are estimates)\n", ind,
			ht_fmt_bytes((double)s->rate, b1, sizeof(b1)));
	fprintf(out, "%sCalls: %" PRIu64 " allocs, %" PRIu64 " frees, %" PRId64
		" live, %" PRIu64 " reallocs, %s requested (exact)\n", ind,
		c->alloc_calls, c->free_calls,
		ht_snapshot_live_objects(s), c->realloc_calls,
		ht_fmt_bytes((double)c->alloc_bytes, b2, sizeof(b2)));
	ht_stats_negative_note(out, ind, s);
	ht_stats_summary(out, ind, s);
	ht_report_write_warnings(out, ind, "", s);
}

static void write_filters(FILE *out, const struct ht_report_opts *o)
{
	if (!o->focus && !o->ignore)
		return;
	fprintf(out, "Active filters:");
	if (o->focus)
		fprintf(out, " focus=%s", o->focus);
	if (o->ignore)
		fprintf(out, " ignore=%s", o->ignore);
	fprintf(out, "\n");
}

void ht_report_total_err(const struct ht_report_stacks *a, enum ht_index w, struct ht_err *e)
{
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < a->nst; i++)
		ht_err_add(e, &a->st[i].err[w]);
}

int ht_report_exact_total(const struct ht_snapshot *s, enum ht_index w, double *t)
{
	const struct ht_counts *c = &s->counts;

	switch (w) {
	case HT_INUSE_OBJECTS:
		*t = (double)(int64_t)(c->alloc_calls - c->free_calls);
		return 1;
	case HT_ALLOC_OBJECTS:
		*t = (double)c->alloc_calls;
		return 1;
	case HT_ALLOC_SPACE:
		*t = (double)c->alloc_bytes;
		return 1;
	default:
		return 0;
	}
}

/* What a sampled report can and cannot see: its total with the total's
 * interval, reconciled with the exact count beside it, and the detection
 * limit of its rate (sampling.h). Nothing for exact snapshots. */
static void write_sampling(FILE *out, const struct ht_report_stacks *a,
			   const struct ht_snapshot *base, const struct ht_snapshot *cur,
			   const struct ht_report_opts *o)
{
	char b1[64], b2[64], b3[64], b4[64];
	const char *idx = ht_report_index_name(o->index);
	int inuse = o->index == HT_INUSE_SPACE || o->index == HT_INUSE_OBJECTS;
	struct ht_err e;
	double t, x, xb, lo, hi;
	uint64_t rate;

	ht_report_total_err(a, o->index, &e);
	t = ht_report_snapshot_total(cur, o->index) - (base ? ht_report_snapshot_total(base, o->index) : 0);
	if (base) {
		fprintf(out, "Total: base %s, current %s, change %s",
			fmt_value(ht_report_snapshot_total(base, o->index), o, 0, b1, sizeof(b1)),
			fmt_value(ht_report_snapshot_total(cur, o->index), o, 0, b2, sizeof(b2)),
			fmt_value(t, o, 1, b3, sizeof(b3)));
		if (!ht_report_exact(base) || !ht_report_exact(cur))
			fprintf(out, " %s%s", ht_report_fmt_interval(&e, o->index, o->unit, b4, sizeof(b4)),
				ht_err_within(ht_report_rounded(t), &e) ? " (within sampling noise)" : "");
		fprintf(out, "\n");
		if ((!ht_report_exact(base) || !ht_report_exact(cur)) &&
		    ht_report_exact_total(cur, o->index, &x) && ht_report_exact_total(base, o->index, &xb))
			fprintf(out, "Exact change: %s %s (the call counts)\n",
				fmt_value(x - xb, o, 1, b1, sizeof(b1)), idx);
	} else if (!ht_report_exact(cur)) {
		ht_err_bounds(&e, t, &lo, &hi);
		fprintf(out, "Total: %s %s (95%% interval %s to %s)", fmt_value(t, o, 0, b1, sizeof(b1)),
			ht_report_fmt_interval(&e, o->index, o->unit, b2, sizeof(b2)),
			fmt_value(lo, o, 0, b3, sizeof(b3)), fmt_value(hi, o, 0, b4, sizeof(b4)));
		if (ht_report_exact_total(cur, o->index, &x)) {
			fprintf(out, "; exact %s (the call counts)", fmt_value(x, o, 0, b1, sizeof(b1)));
			if (ht_report_rounded(x) < lo || ht_report_rounded(x) > hi)
				fprintf(out, ", %s of it in no stack shown",
					fmt_value(x - t, o, 1, b2, sizeof(b2)));
		}
		fprintf(out, "\n");
	}
	rate = cur->rate;
	if (base && !ht_report_exact(base) && (ht_report_exact(cur) || base->rate > cur->rate))
		rate = base->rate;
	if (ht_report_exact(cur) && (!base || ht_report_exact(base)))
		return;
	fprintf(out, "Detection limit: a stack %s less than %s has a 5%% chance or more "
		"of no sample, and is then not listed\n", inuse ? "holding" : "that allocated",
		ht_fmt_bytes(ht_detection_limit(rate), b1, sizeof(b1)));
}

/* The compact header's line for one snapshot: "<lead>FILE (EXE, pid N),
 * KIND, taken TIME, Ns after start, STATE", then its warnings and notes,
 * one line each, after ind. */
static void write_snapshot_line(FILE *out, const char *lead, const char *ind,
				const char *label, const struct ht_snapshot *s)
{
	/* the label and the executable's name are data: escaped */
	fputs(lead, out);
	ht_fputs_escaped(out, label ? label : "-");
	fputs(" (", out);
	ht_fputs_escaped(out, str(s->exe)[0] ? base_name(s->exe) : "unknown executable");
	fprintf(out, ", pid %" PRId64 "), ", s->pid);
	if (s->flags & HT_SNAP_PEAK)
		fprintf(out, "peak snapshot");
	else if (s->seq || !(s->flags & HT_SNAP_FINAL))
		fprintf(out, "snapshot %" PRIu32, s->seq);
	else
		fprintf(out, "final snapshot");
	write_when(out, s);
	if (s->flags & HT_SNAP_CUT_SHORT)
		fprintf(out, ", cut short (no clean exit)\n");
	else if (s->flags & HT_SNAP_FINAL)
		fprintf(out, ", exited\n");
	else
		fprintf(out, ", running\n");
	ht_report_write_warnings(out, ind, "", s);
	ht_stats_negative_note(out, ind, s);
}

/* A warning when base was taken after cur by the same process: the
 * change shown is then the reverse of what happened. */
static void reversed_warning(FILE *out, const char *lead, const struct ht_snapshot *base,
			     const struct ht_snapshot *cur)
{
	if (ht_report_same_process(base, cur) && base->time_ns > cur->time_ns)
		fprintf(out, "%swarning: the base was taken %.1fs after the current snapshot "
			"(same process, pid %" PRId64 "): the change runs backwards in time\n",
			lead, (double)(base->time_ns - cur->time_ns) / 1e9, cur->pid);
}

/* "every allocation (exact)" or "one sample per 512.00kB (estimates)". */
static const char *sampling(const struct ht_snapshot *s, char *buf, size_t len)
{
	char b[48];

	if (ht_report_exact(s))
		snprintf(buf, len, "every allocation recorded (exact)");
	else
		snprintf(buf, len, "one sample per %s allocated (estimates)",
			 ht_fmt_bytes((double)s->rate, b, sizeof(b)));
	return buf;
}

/* The header: by default one line per snapshot, its warnings, the memory
 * line of a report, the sample index and the sampling (so that the table
 * starts within a dozen lines); with --verbose every detail of each
 * snapshot. */
static void write_header(FILE *out, const struct ht_report_stacks *a,
			 const struct ht_snapshot *base,
			 const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	const char *idx = ht_report_index_name(o->index);
	char s1[96], s2[96];

	if (!base && o->verbose) {
		if (o->cur_label)
			labelled(out, "File: ", o->cur_label);
		ht_report_write_snapshot_info(out, "", cur);
		fprintf(out, "Type: %s\n", idx);
		write_filters(out, o);
		write_sampling(out, a, NULL, cur, o);
		return;
	}
	if (!base) {
		write_snapshot_line(out, "File: ", "", o->cur_label, cur);
		ht_stats_summary(out, "", cur);
		fprintf(out, "Type: %s; %s\n", idx, sampling(cur, s1, sizeof(s1)));
		write_filters(out, o);
		write_sampling(out, a, NULL, cur, o);
		return;
	}
	if (o->verbose) {
		labelled(out, "Base: ", o->base_label ? o->base_label : "(base)");
		ht_report_write_snapshot_info(out, "  ", base);
		labelled(out, "Current: ", o->cur_label ? o->cur_label : "(current)");
		ht_report_write_snapshot_info(out, "  ", cur);
	} else {
		write_snapshot_line(out, "Base: ", "  ", o->base_label, base);
		write_snapshot_line(out, "Current: ", "  ", o->cur_label, cur);
	}
	if (strcmp(str(base->exe), str(cur->exe)) != 0)
		fprintf(out, "note: base and current come from different executables\n");
	reversed_warning(out, "", base, cur);
	if (o->verbose)
		fprintf(out, "Type: %s, current minus base\n", idx);
	else if (!strcmp(sampling(base, s1, sizeof(s1)), sampling(cur, s2, sizeof(s2))))
		fprintf(out, "Type: %s, current minus base; %s\n", idx, s1);
	else
		fprintf(out, "Type: %s, current minus base; base %s, current %s\n", idx, s1, s2);
	write_filters(out, o);
	write_sampling(out, a, base, cur, o);
}

/* ---- rows by frame name: the base of top and tree ---- */

struct node {
	uint32_t id;
	double flat, cum;
	struct ht_err flat_err, cum_err;
};

struct rows {
	struct node *r;    /* rows worth showing, sorted */
	size_t n;
	double total;      /* sum of |value| of every stack, filtered or not */
	struct node *by_id; /* every name, indexed by id */
};

static int cmp_nodes(const void *x, const void *y, void *ctx)
{
	const struct node *p = x, *q = y;
	const struct ht_report_stacks *a = ctx;
	double fp = fabs(ht_report_rounded(p->flat)), fq = fabs(ht_report_rounded(q->flat));
	double cp = fabs(ht_report_rounded(p->cum)), cq = fabs(ht_report_rounded(q->cum));

	if (fp != fq)
		return fp > fq ? -1 : 1;
	if (cp != cq)
		return cp > cq ? -1 : 1;
	return strcmp(a->names[p->id], a->names[q->id]);
}

/* Sums flat and cum (with their errors) per name over the shown stacks,
 * keeps the names with a non-zero figure (and matching peek, if given),
 * sorted by flat, then cum, then name. */
static void make_rows(struct rows *r, const struct ht_report_stacks *a,
		      const struct ht_report_opts *o, const regex_t *peek)
{
	size_t nn = a->nnames;
	size_t *seen = ht_xcalloc(nn, sizeof(size_t));
	struct node *by = ht_xcalloc(nn + 1, sizeof(*by));

	r->total = 0;
	for (size_t i = 0; i < a->nst; i++) {
		const struct agg_stack *st = &a->st[i];
		double v = st->v[o->index];
		const struct ht_err *e = &st->err[o->index];

		if (v == 0 && ht_err_var(e) == 0)
			continue;
		r->total += fabs(v);
		if (st->hidden)
			continue;
		by[a->ids[st->first]].flat += v;
		ht_err_add(&by[a->ids[st->first]].flat_err, e);
		/* cum counts a name once per stack, even under recursion */
		for (uint32_t k = 0; k < st->n; k++) {
			uint32_t id = a->ids[st->first + k];

			if (seen[id] != i + 1) {
				seen[id] = i + 1;
				by[id].cum += v;
				ht_err_add(&by[id].cum_err, e);
			}
		}
	}
	r->r = ht_xcalloc(nn + 1, sizeof(*r->r));
	r->n = 0;
	for (size_t id = 0; id < nn; id++) {
		by[id].id = (uint32_t)id;
		if (ht_report_rounded(by[id].flat) == 0 && ht_report_rounded(by[id].cum) == 0)
			continue;
		if (peek && regexec(peek, a->names[id], 0, NULL, 0) != 0)
			continue;
		r->r[r->n++] = by[id];
	}
	qsort_r(r->r, r->n, sizeof(*r->r), cmp_nodes, (void *)a);
	r->by_id = by;
	free(seen);
}

static void free_rows(struct rows *r)
{
	free(r->r);
	free(r->by_id);
}

/* Rows kept by --top (default: 10, or all when peeking). */
static size_t rows_shown(const struct rows *r, const struct ht_report_opts *o, size_t dflt)
{
	if (o->top > 0 && (size_t)o->top < r->n)
		return (size_t)o->top;
	if (o->top < 0 && dflt && r->n > dflt)
		return dflt;
	return r->n;
}

size_t ht_report_rows(const struct ht_report_stacks *a, const struct ht_report_opts *o,
		      struct ht_report_row **rows, double *total)
{
	struct rows r;
	size_t n;

	make_rows(&r, a, o, NULL);
	n = rows_shown(&r, o, 0);
	*rows = ht_xcalloc(n + 1, sizeof(**rows));
	for (size_t i = 0; i < n; i++) {
		(*rows)[i].id = r.r[i].id;
		(*rows)[i].flat = r.r[i].flat;
		(*rows)[i].cum = r.r[i].cum;
		(*rows)[i].flat_err = r.r[i].flat_err;
		(*rows)[i].cum_err = r.r[i].cum_err;
	}
	*total = r.total;
	free(r.r);
	free(r.by_id);
	return n;
}

static void write_showing(FILE *out, const struct rows *r, size_t shown,
			  const struct ht_report_opts *o, int diff)
{
	char b1[64], b2[64], b3[64];
	double sum = 0;

	for (size_t i = 0; i < shown; i++)
		sum += r->r[i].flat;
	fprintf(out, "Showing nodes accounting for %s, %s of %s total\n",
		fmt_value(sum, o, diff, b1, sizeof(b1)),
		ht_report_fmt_pct(sum, r->total, b2, sizeof(b2)),
		fmt_value(r->total, o, 0, b3, sizeof(b3)));
	if (shown < r->n)
		fprintf(out, "Dropped %zu nodes; showing top %zu out of %zu\n",
			r->n - shown, shown, r->n);
}

/* ---- text: pprof's top ---- */

enum { C_FLAT, C_FLATI, C_FLATP, C_SUM, C_CUM, C_CUMI, C_CUMP, NCOLS };

static void write_top(FILE *out, const struct ht_report_stacks *a,
		      const struct ht_snapshot *base, const struct ht_snapshot *cur,
		      const struct ht_report_opts *o)
{
	static const char *const titles[NCOLS] = {
		"flat", "±95%", "flat%", "sum%", "cum", "±95%", "cum%",
	};
	int diff = base != NULL;
	int intervals = !ht_report_exact(cur) || (base && !ht_report_exact(base));
	struct rows r;
	size_t shown;
	char cell[NCOLS][64];
	int w[NCOLS];
	double sum;

	make_rows(&r, a, o, NULL);
	shown = rows_shown(&r, o, 10);
	for (int c = 0; c < NCOLS; c++)
		w[c] = (int)strlen(titles[c]);

	/* two passes: measure the columns, then print */
	for (int pass = 0; pass < 2; pass++) {
		if (pass) {
			write_showing(out, &r, shown, o, diff);
			if (intervals && diff)
				fprintf(out, "±95%%: 95%% interval of the sampling error; ~: the "
					"change is within it (sampling noise)\n");
			else if (intervals)
				fprintf(out, "±95%%: 95%% interval of the sampling error (the "
					"larger side of it)\n");
			for (int c = 0; c < NCOLS; c++) {
				if ((c == C_FLATI || c == C_CUMI) && !intervals)
					continue;
				fprintf(out, "%s%*s%s", c ? " " : "", w[c], titles[c],
					(c == C_FLAT || c == C_CUM) && diff && intervals ? " " : "");
			}
			fprintf(out, "\n");
		}
		sum = 0;
		for (size_t i = 0; i < shown; i++) {
			const struct node *n = &r.r[i];

			sum += n->flat;
			fmt_value(n->flat, o, diff, cell[C_FLAT], 64);
			ht_report_fmt_interval(&n->flat_err, o->index, o->unit, cell[C_FLATI], 64);
			ht_report_fmt_pct(n->flat, r.total, cell[C_FLATP], 64);
			ht_report_fmt_pct(sum, r.total, cell[C_SUM], 64);
			fmt_value(n->cum, o, diff, cell[C_CUM], 64);
			ht_report_fmt_interval(&n->cum_err, o->index, o->unit, cell[C_CUMI], 64);
			ht_report_fmt_pct(n->cum, r.total, cell[C_CUMP], 64);
			if (!pass) {
				for (int c = 0; c < NCOLS; c++)
					if ((int)strlen(cell[c]) > w[c])
						w[c] = (int)strlen(cell[c]);
				continue;
			}
			for (int c = 0; c < NCOLS; c++) {
				if ((c == C_FLATI || c == C_CUMI) && !intervals)
					continue;
				fprintf(out, "%s%*s", c ? " " : "", w[c], cell[c]);
				if (diff && intervals && (c == C_FLAT || c == C_CUM)) {
					double v = c == C_FLAT ? n->flat : n->cum;
					const struct ht_err *e = c == C_FLAT ? &n->flat_err : &n->cum_err;

					v = ht_report_rounded(v);
					putc(v != 0 && ht_err_within(v, e) ? '~' : ' ', out);
				}
			}
			fprintf(out, "  %s\n", a->names[n->id]);
		}
	}
	free_rows(&r);
}

/* ---- text: pprof's tree and peek ---- */

struct edge {
	uint64_t key;  /* caller << 32 | callee, + 1 so that 0 is empty */
	double v;
	size_t seen;   /* last stack counted, + 1 */
};

struct edges {
	struct edge *e;
	size_t mask, n;
};

static struct edge *edge_find(struct edges *t, uint32_t caller, uint32_t callee)
{
	uint64_t key = ((uint64_t)caller << 32 | callee) + 1, h = key;
	size_t j;

	/* splitmix64's finalizer: name ids are small consecutive numbers */
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	j = (size_t)(h ^ (h >> 31)) & t->mask;

	for (; t->e[j].key; j = (j + 1) & t->mask)
		if (t->e[j].key == key)
			return &t->e[j];
	if (2 * (t->n + 1) > t->mask) {
		struct edges bigger = { ht_xcalloc(2 * (t->mask + 1), sizeof(struct edge)),
					2 * (t->mask + 1) - 1, 0 };

		for (size_t i = 0; i <= t->mask; i++)
			if (t->e[i].key) {
				struct edge *d = edge_find(&bigger, (uint32_t)((t->e[i].key - 1) >> 32),
							   (uint32_t)(t->e[i].key - 1));
				d->v = t->e[i].v;
				d->seen = t->e[i].seen;
			}
		free(t->e);
		*t = bigger;
		return edge_find(t, caller, callee);
	}
	t->e[j].key = key;
	t->n++;
	return &t->e[j];
}

struct link {
	uint32_t other;
	double v;
};

static int cmp_links(const void *x, const void *y, void *ctx)
{
	const struct link *p = x, *q = y;
	const struct ht_report_stacks *a = ctx;
	double vp = fabs(ht_report_rounded(p->v)), vq = fabs(ht_report_rounded(q->v));

	if (vp != vq)
		return vp > vq ? -1 : 1;
	return strcmp(a->names[p->other], a->names[q->other]);
}

/* The callers and callees of the shown rows: by[1] the callers, by[0]
 * the callees, each row's in first[..][row] .. first[..][row + 1], sorted. */
struct adjacency {
	struct link *by[2];
	size_t *first[2];
};

static void make_adjacency(struct adjacency *adj, const struct edges *t,
			   const uint32_t *row_of, size_t nrows,
			   const struct ht_report_stacks *a)
{
	for (int in = 0; in < 2; in++) {
		size_t *first = ht_xcalloc(nrows + 2, sizeof(size_t)), total;
		size_t *fill = ht_xcalloc(nrows + 1, sizeof(size_t));

		/* count per row, then place */
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i <= t->mask; i++) {
				uint32_t caller, callee, r;

				if (!t->e[i].key || ht_report_rounded(t->e[i].v) == 0)
					continue;
				caller = (uint32_t)((t->e[i].key - 1) >> 32);
				callee = (uint32_t)(t->e[i].key - 1);
				if (!(r = row_of[in ? callee : caller]))
					continue;
				if (!pass)
					first[r]++; /* row r - 1, counted at r: prefix sums below */
				else
					adj->by[in][first[r - 1] + fill[r - 1]++] =
						(struct link){ in ? caller : callee, t->e[i].v };
			}
			if (!pass) {
				for (size_t r = 1; r <= nrows; r++)
					first[r] += first[r - 1];
				total = first[nrows];
				adj->by[in] = ht_xmalloc((total + 1) * sizeof(struct link));
			}
		}
		for (size_t r = 0; r < nrows; r++)
			if (first[r + 1] > first[r])
				qsort_r(adj->by[in] + first[r], first[r + 1] - first[r],
					sizeof(struct link), cmp_links, (void *)a);
		adj->first[in] = first;
		free(fill);
	}
}

static void free_adjacency(struct adjacency *adj)
{
	for (int in = 0; in < 2; in++) {
		free(adj->by[in]);
		free(adj->first[in]);
	}
}

/* The callers (in = 1) or callees (in = 0) of shown row r; *n of them. */
static const struct link *links_of(const struct adjacency *adj, size_t r, int in, size_t *n)
{
	*n = adj->first[in][r + 1] - adj->first[in][r];
	return adj->by[in] + adj->first[in][r];
}

enum { T_FLAT, T_FLATP, T_SUM, T_CUM, T_CUMP, T_CALLS, T_CALLSP, NTCOLS };

static int write_tree(FILE *out, const struct ht_report_stacks *a,
		      const struct ht_snapshot *base, const struct ht_report_opts *o,
		      char *err, size_t errlen)
{
	static const char *const titles[NTCOLS] = {
		"flat", "flat%", "sum%", "cum", "cum%", "calls", "calls%",
	};
	int diff = base != NULL;
	struct edges t = { ht_xcalloc(1024, sizeof(struct edge)), 1023, 0 };
	struct adjacency adj;
	uint32_t *row_of;
	regex_t peek;
	struct rows r;
	size_t shown;
	char cell[NTCOLS][64];
	int w[NTCOLS], left;
	double sum;

	if (o->peek && compile(&peek, "--peek", o->peek, err, errlen)) {
		free(t.e);
		return -1;
	}
	make_rows(&r, a, o, o->peek ? &peek : NULL);
	shown = rows_shown(&r, o, o->peek ? 0 : 10);
	row_of = ht_xcalloc(a->nnames + 1, sizeof(uint32_t));
	for (size_t i = 0; i < shown; i++)
		row_of[r.r[i].id] = (uint32_t)i + 1;
	for (size_t i = 0; i < a->nst; i++) {
		const struct agg_stack *st = &a->st[i];
		const uint32_t *ids = a->ids + st->first;
		double v = st->v[o->index];

		if (st->hidden || v == 0)
			continue;
		for (uint32_t k = 0; k + 1 < st->n; k++) {
			struct edge *e;

			if (!row_of[ids[k + 1]] && !row_of[ids[k]])
				continue; /* no shown row needs this edge */
			e = edge_find(&t, ids[k + 1], ids[k]);

			if (e->seen != i + 1) { /* once per stack, even under recursion */
				e->seen = i + 1;
				e->v += v;
			}
		}
	}
	make_adjacency(&adj, &t, row_of, shown, a);
	for (int c = 0; c < NTCOLS; c++)
		w[c] = (int)strlen(titles[c]);
	for (int pass = 0; pass < 2; pass++) {
		if (pass) {
			left = 0;
			for (int c = 0; c < NTCOLS; c++)
				left += w[c] + 1;
			write_showing(out, &r, shown, o, diff);
			for (int k = 0; k < left; k++)
				putc('-', out);
			fprintf(out, "+-------------\n");
			for (int c = 0; c < NTCOLS; c++)
				fprintf(out, "%s%*s", c ? " " : "", w[c], titles[c]);
			fprintf(out, " | context\n");
			for (int k = 0; k < left; k++)
				putc('-', out);
			fprintf(out, "+-------------\n");
		}
		sum = 0;
		for (size_t i = 0; i < shown; i++) {
			const struct node *n = &r.r[i];
			size_t nl[2];
			const struct link *l[2];

			sum += n->flat;
			l[0] = links_of(&adj, i, 1, &nl[0]);
			l[1] = links_of(&adj, i, 0, &nl[1]);
			for (int side = 0; side < 3; side++) {
				size_t cnt = side == 1 ? 1 : nl[side / 2];

				for (size_t k = 0; k < cnt; k++) {
					const char *name;

					for (int c = 0; c < NTCOLS; c++)
						cell[c][0] = '\0';
					if (side == 1) {
						fmt_value(n->flat, o, diff, cell[T_FLAT], 64);
						ht_report_fmt_pct(n->flat, r.total, cell[T_FLATP], 64);
						ht_report_fmt_pct(sum, r.total, cell[T_SUM], 64);
						fmt_value(n->cum, o, diff, cell[T_CUM], 64);
						ht_report_fmt_pct(n->cum, r.total, cell[T_CUMP], 64);
						name = a->names[n->id];
					} else {
						const struct link *e = &l[side / 2][k];

						fmt_value(e->v, o, diff, cell[T_CALLS], 64);
						ht_report_fmt_pct(e->v, fabs(n->cum), cell[T_CALLSP], 64);
						name = a->names[e->other];
					}
					if (!pass) {
						for (int c = 0; c < NTCOLS; c++)
							if ((int)strlen(cell[c]) > w[c])
								w[c] = (int)strlen(cell[c]);
						continue;
					}
					for (int c = 0; c < NTCOLS; c++)
						fprintf(out, "%s%*s", c ? " " : "", w[c], cell[c]);
					fprintf(out, " | %s%s\n", side == 1 ? "" : "  ", name);
				}
			}
			if (pass) {
				for (int k = 0; k < left; k++)
					putc('-', out);
				fprintf(out, "+-------------\n");
			}
		}
	}
	if (o->peek)
		regfree(&peek);
	free_adjacency(&adj);
	free(row_of);
	free_rows(&r);
	free(t.e);
	return 0;
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
	double vp = fabs(ht_report_rounded(p->v)), vq = fabs(ht_report_rounded(q->v));

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
		if (a->st[i].v[o->index] != 0 && !a->st[i].hidden)
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
		if (ht_report_rounded(lines[i].v) != 0)
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
		fprintf(out, "%.0f\n", ht_report_rounded(lines[i].v));
	}
	free(lines);
	free(order);
}

/* ---- entry points ---- */

/* Whether the text and tree show the peak profile of s: asked for
 * (--peak), or, for the in-use indexes, when the final snapshot holds
 * almost nothing (1% of the peak at most), as a program that frees
 * everything before it exits leaves it. */
static int show_peak(const struct ht_snapshot *s, const struct ht_report_opts *o)
{
	double now, peak = 0;

	if (!s->peak_time_ns || (o->format != HT_FORMAT_TEXT && o->format != HT_FORMAT_TREE) ||
	    (o->index != HT_INUSE_SPACE && o->index != HT_INUSE_OBJECTS))
		return 0;
	if (o->peak)
		return 1;
	if (!(s->flags & HT_SNAP_FINAL) || (s->flags & HT_SNAP_PEAK))
		return 0;
	for (size_t i = 0; i < s->nstacks; i++)
		peak += s->stacks[i].peak_space;
	now = ht_report_snapshot_total(s, HT_INUSE_SPACE);
	return peak > 0 && now <= peak / 100;
}

static void peak_note(FILE *out, const struct ht_snapshot *s, const struct ht_report_opts *o)
{
	char b[64];

	fprintf(out, "Peak: %s in use at the peak",
		ht_fmt_bytes(ht_report_snapshot_total(s, HT_INUSE_SPACE), b, sizeof(b)));
	if (s->start_time_ns && s->peak_time_ns >= s->start_time_ns)
		fprintf(out, ", %.1fs after start",
			(double)(s->peak_time_ns - s->start_time_ns) / 1e9);
	fprintf(out, "; the table shows the peak%s\n",
		o->peak ? "" : " (nothing is in use at the end)");
}

static int render(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur,
		  const struct ht_report_opts *o, char *err, size_t errlen)
{
	struct ht_report_stacks *a;
	struct ht_snapshot view;
	struct ht_stack *peak_stacks = NULL;
	int rc = 0;

	switch (o->format) {
	case HT_FORMAT_STATS:
		/* the whole provenance, as --verbose gives it */
		if (base) {
			labelled(out, "Base: ", o->base_label ? o->base_label : "(base)");
			ht_report_write_snapshot_info(out, "  ", base);
			labelled(out, "Current: ", o->cur_label ? o->cur_label : "(current)");
			ht_report_write_snapshot_info(out, "  ", cur);
		} else {
			if (o->cur_label)
				labelled(out, "File: ", o->cur_label);
			ht_report_write_snapshot_info(out, "", cur);
		}
		fprintf(out, "\n");
		if (ht_stats_write(out, base, cur) != 0)
			return ht_fail(err, errlen, "cannot write the statistics");
		return 0;
	case HT_FORMAT_PPROF:
		return ht_pprof_write(out, base, cur, o, err, errlen);
	case HT_FORMAT_HEAP_V2:
		if (base)
			return ht_fail(err, errlen, "format 'heap_v2' shows one snapshot, not a diff");
		return ht_pprof_write_heap_v2(out, cur, o, err, errlen);
	default:
		break;
	}
	if (o->peak && !cur->peak_time_ns && (o->format == HT_FORMAT_TEXT ||
					      o->format == HT_FORMAT_TREE))
		return ht_fail(err, errlen, "option '--peak': the snapshot has no peak profile "
			       "(an older heaptrace wrote it)");
	if (!base && show_peak(cur, o)) {
		/* the same snapshot with the peak's in-use counters */
		view = *cur;
		view.stacks = ht_xmalloc((cur->nstacks + 1) * sizeof(*view.stacks));
		for (size_t i = 0; i < cur->nstacks; i++) {
			view.stacks[i] = cur->stacks[i];
			view.stacks[i].inuse_objects = cur->stacks[i].peak_objects;
			view.stacks[i].inuse_space = cur->stacks[i].peak_space;
			view.stacks[i].inuse_samples = cur->stacks[i].peak_samples;
		}
		/* the error sums are of what is in use now, not at the peak:
		 * the peak's error is taken from its average sizes */
		view.stack_error = 0;
		peak_stacks = view.stacks;
		cur = &view;
	}
	a = ht_report_aggregate(base, cur, o, err, errlen);
	if (!a) {
		free(peak_stacks);
		return -1;
	}
	switch (o->format) {
	case HT_FORMAT_TEXT:
		write_header(out, a, base, cur, o);
		if (peak_stacks)
			peak_note(out, cur, o);
		write_top(out, a, base, cur, o);
		break;
	case HT_FORMAT_TREE:
		write_header(out, a, base, cur, o);
		if (peak_stacks)
			peak_note(out, cur, o);
		rc = write_tree(out, a, base, o, err, errlen);
		break;
	case HT_FORMAT_COLLAPSED:
		write_collapsed(out, a, o);
		break;
	case HT_FORMAT_SVG:
		ht_flame_write(out, a, base, cur, o);
		break;
	case HT_FORMAT_JSON:
		ht_json_write(out, a, base, cur, o);
		break;
	default:
		break;
	}
	ht_report_stacks_free(a);
	free(peak_stacks);
	if (!rc && ferror(out))
		rc = ht_fail(err, errlen, "cannot write the report: %s", strerror(errno));
	return rc;
}

int ht_report_write(FILE *out, const struct ht_snapshot *base,
		    const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	char err[256];

	return render(out, base, cur, o, err, sizeof(err));
}

static int is_binary(const struct ht_report_opts *o)
{
	return o->format == HT_FORMAT_PPROF;
}

/* Writes a rendered report to o->output (atomically) or stdout. */
static int put_out(const char *buf, size_t len, const struct ht_report_opts *o,
		   char *err, size_t errlen)
{
	if (o->output && strcmp(o->output, "-") != 0)
		return ht_write_file(o->output, buf, len, err, errlen);
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout))
		return ht_fail(err, errlen, "cannot write to standard output: %s",
			       strerror(errno));
	return 0;
}

static int to_terminal(const struct ht_report_opts *o, char *err, size_t errlen)
{
	if (is_binary(o) && (!o->output || strcmp(o->output, "-") == 0) && isatty(1))
		return ht_fail(err, errlen, "not writing a binary %s profile to a terminal "
			       "(use -o FILE)", format_names[o->format]);
	return 0;
}

int ht_report_emit(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		   const struct ht_report_opts *o, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	if (to_terminal(o, err, errlen))
		return -1;
	mem = open_memstream(&buf, &len);
	if (!mem)
		return ht_fail(err, errlen, "cannot render the report: %s", strerror(errno));
	rc = render(mem, base, cur, o, err, errlen);
	if (fclose(mem) && !rc)
		rc = ht_fail(err, errlen, "cannot render the report: out of memory");
	if (rc) {
		free(buf);
		return -1;
	}
	if (o->format != HT_FORMAT_TEXT && o->format != HT_FORMAT_TREE) {
		char lead[256];

		snprintf(lead, sizeof(lead), "%s: ", ht_progname);
		if (base)
			reversed_warning(stderr, lead, base, cur);
		if (base)
			ht_report_write_warnings(stderr, lead, "base: ", base);
		ht_report_write_warnings(stderr, lead, base ? "current: " : "", cur);
	}
	rc = put_out(buf, len, o, err, errlen);
	free(buf);
	return rc;
}

int ht_report_emit_series(struct ht_snapshot *const *snaps, const char *const *labels,
			  size_t n, const struct ht_report_opts *o, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	mem = open_memstream(&buf, &len);
	if (!mem)
		return ht_fail(err, errlen, "cannot render the report: %s", strerror(errno));
	rc = ht_series_write(mem, snaps, labels, n, o, err, errlen);
	if (fclose(mem) && !rc)
		rc = ht_fail(err, errlen, "cannot render the report: out of memory");
	if (rc) {
		free(buf);
		return -1;
	}
	if (o->format != HT_FORMAT_TEXT) {
		size_t *order = ht_xmalloc(n * sizeof(*order)), procs;
		int moved;
		char lead0[256];

		procs = ht_series_order(snaps, n, order, &moved);
		free(order);
		snprintf(lead0, sizeof(lead0), "%s: ", ht_progname);
		ht_series_order_note(stderr, lead0, procs, moved);
		for (size_t i = 0; i < n; i++) {
			char lead[256], what[256];

			snprintf(lead, sizeof(lead), "%s: ", ht_progname);
			snprintf(what, sizeof(what), "%s: ", labels[i]);
			ht_report_write_warnings(stderr, lead, what, snaps[i]);
		}
	}
	rc = put_out(buf, len, o, err, errlen);
	free(buf);
	return rc;
}
