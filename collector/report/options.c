/* The options of heaptrace-report and heaptrace-diff: each entry of the
 * reader tools' table (lib/parseopt.c) given its meaning here, the checks
 * of options that do not go together, and the usage printed from the
 * table. */
#include "report/options.h"
#include "report/push.h"
#include "report/report_int.h"
#include "lib/parseopt.h"
#include "lib/util.h"
#include "lib/version.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const index_names[] = {
	[HT_INUSE_SPACE] = "inuse_space",
	[HT_INUSE_OBJECTS] = "inuse_objects",
	[HT_ALLOC_SPACE] = "alloc_space",
	[HT_ALLOC_OBJECTS] = "alloc_objects",
	[HT_TEMP_SPACE] = "temp_space",
	[HT_TEMP_OBJECTS] = "temp_objects",
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
	[HT_FORMAT_DOT] = "dot",
	[HT_FORMAT_PNG] = "png",
	[HT_FORMAT_GRAPH_SVG] = "graph-svg",
	[HT_FORMAT_TRACES] = "traces",
};

/* Indexed by enum ht_granularity: the flags that choose one. */
static const char *const naming_names[] = {
	[HT_GRAN_LINES] = "lines",
	[HT_GRAN_FUNCTIONS] = "functions",
	[HT_GRAN_FILES] = "files",
	[HT_GRAN_ADDRESSES] = "addresses",
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Indexed by enum ht_view. */
static const char *const view_names[] = {
	[HT_VIEW_NONE] = "none",
	[HT_VIEW_LIFETIMES] = "lifetimes",
	[HT_VIEW_AGE] = "age",
	[HT_VIEW_SIZES] = "sizes",
};

const char *ht_report_index_name(enum ht_index which)
{
	if ((unsigned)which >= (unsigned)COUNT(index_names))
		return NULL;
	return index_names[which];
}

const char *ht_report_format_name(enum ht_format f)
{
	if ((unsigned)f >= (unsigned)COUNT(format_names))
		return NULL;
	return format_names[f];
}

void ht_report_opts_init(struct ht_report_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->index = HT_INUSE_SPACE;
	o->format = HT_FORMAT_TEXT;
	o->naming.granularity = HT_GRAN_LINES;
	o->top = -1;
	o->unit = -1;
	o->nodefraction = -1;
	o->edgefraction = -1;
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
	for (int i = 0; i < HT_NUNITS; i++)
		if (strcasecmp(v, ht_unit_name(i, 1)) == 0 || strcasecmp(v, alt[i]) == 0)
			return i;
	return -2;
}

/* Checks that re compiles; prints why not. */
static int check_regex(const char *opt, const char *re)
{
	regex_t rx;
	char why[512];

	if (ht_report_regcomp(&rx, opt, re, why, sizeof(why)))
		return ht_error("%s", why);
	regfree(&rx);
	return 0;
}

/* An option heaptrace does not have. pprof users get pointed to what
 * does the job here. */
static int unknown_option(const char *arg)
{
	static const char *const graphs[] = {
		"pdf", "gif", "ps", "web", "gv", "eog", "evince", "callgrind", "weblist",
	};
	const char *guess;
	char word[32];
	size_t n;

	if (arg[0] != '-' || arg[1] == '-')
		return ht_error("unknown option '%s' (try --help)", arg);
	n = strcspn(arg + 1, "=");
	snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1),
		 arg + 1);
	for (int k = 0; k < COUNT(graphs); k++)
		if (!strcmp(word, graphs[k]))
			return ht_error("unknown option '%s' (did you mean --format png? heaptrace "
					"draws pprof's graph as dot, png or graph-svg)", arg);
	if (!strcmp(word, "raw"))
		return ht_error("unknown option '%s' (did you mean --format collapsed?)", arg);
	/* a word that begins a long option: "-func" is "--functions" */
	if (n >= 3 && (guess = ht_opt_guess(HT_TOOL_REPORT | HT_TOOL_DIFF, word, n)))
		return ht_error("unknown option '%s' (did you mean --%s?)", arg, guess);
	return ht_error("unknown option '%s' (heaptrace has no --%s either; try --help)",
			arg, word);
}

/* The value v of an option that names one of names[0..n) into *to. */
static int set_named(int *to, const char *const *names, int n, const char *v)
{
	int k = lookup(names, n, v);

	if (k >= 0)
		*to = k;
	return k;
}

static int set_top(struct ht_report_opts *o, const char *name, const char *v)
{
	uint64_t n;

	if (ht_parse_u64(v, &n) || n > 1000000000)
		return ht_error("invalid %s value '%s' (expected a number, 0 for all)",
				strstr(name, "top") ? "--top" : "--nodecount", v);
	o->top = (long)n;
	return 0;
}

/* A share of the total, 0 to 1: "0.005", "1e-3". */
static int set_fraction(double *to, const char *name, const char *v)
{
	char *end;
	double f;

	f = strtod(v, &end);
	if (!*v || *end || !(f >= 0 && f <= 1))
		return ht_error("invalid --%s value '%s' (expected a share of the total, "
				"0 to 1)", name + strspn(name, "-"), v);
	*to = f;
	return 0;
}

static int set_regex(const char **to, const char *name, const char *v)
{
	char opt[64];

	/* named as the long option, however it was spelled */
	snprintf(opt, sizeof(opt), "--%s", name + strspn(name, "-"));
	if (check_regex(opt, v))
		return -1;
	*to = v;
	return 0;
}

/* The options of time in the heap: --lifetimes, --age, --sizes (a view),
 * --temporary-under (a duration, rounded to the nearest time bucket
 * edge), --color. */
static int set_time_option(struct ht_report_opts *o, int id, const char *v)
{
	int k;

	switch (id) {
	case HT_OPT_VIEW:
		if (set_named(&k, view_names, COUNT(view_names), v) > 0)
			o->view = (enum ht_view)k;
		return 0;
	case HT_OPT_TEMP_UNDER:
		if (ht_cells_parse_duration(v, &o->temp_under_ns))
			return ht_error("invalid --temporary-under value '%s' (expected a "
					"duration: 100us, 1ms, 2s, 1min)", v);
		o->temp_edge = ht_cells_edge_near(o->temp_under_ns);
		return 0;
	default:
		if (strcmp(v, "age") && strcmp(v, "name"))
			return ht_error("unknown colouring '%s' (expected age or name)", v);
		o->color_age = !strcmp(v, "age");
		return 0;
	}
}

/* Gives option id (parsed by p) its meaning in o. Returns 0 or -1. */
static int set_option(struct ht_report_opts *o, const struct ht_opt_parser *p, int id)
{
	const char *v = p->value;
	int k;

	switch (id) {
	case HT_OPT_INDEX:
		if (set_named(&k, index_names, COUNT(index_names), v) < 0)
			return ht_error("unknown sample index '%s' (expected inuse_space, "
					"inuse_objects, alloc_space, alloc_objects, temp_space "
					"or temp_objects)", v);
		o->index = (enum ht_index)k;
		return 0;
	case HT_OPT_FORMAT:
		if (set_named(&k, format_names, COUNT(format_names), v) < 0)
			return ht_error("unknown format '%s' (supported: text, tree, collapsed, "
					"pprof, svg, heap_v2, stats, json, dot, png, graph-svg, "
					"traces)", v);
		o->format = (enum ht_format)k;
		return 0;
	case HT_OPT_NAMING:
		if (set_named(&k, naming_names, COUNT(naming_names), v) >= 0)
			o->naming.granularity = (enum ht_granularity)k;
		return 0;
	case HT_OPT_UNIT:
		if ((k = parse_unit(v)) < -1)
			return ht_error("unknown unit '%s' (expected auto, B, kB, MB, GB or TB)", v);
		o->unit = k;
		return 0;
	case HT_OPT_TOP:
		return set_top(o, p->name, v);
	case HT_OPT_NODEFRACTION:
		return set_fraction(&o->nodefraction, p->name, v);
	case HT_OPT_EDGEFRACTION:
		return set_fraction(&o->edgefraction, p->name, v);
	case HT_OPT_FOCUS:
		return set_regex(&o->focus, p->name, v);
	case HT_OPT_IGNORE:
		return set_regex(&o->ignore, p->name, v);
	case HT_OPT_PEEK:
		return set_regex(&o->peek, p->name, v);
	case HT_OPT_HIDE:
		/* '' hides nothing: not a regex to check */
		return v[0] ? set_regex(&o->hide, p->name, v) : (o->hide = v, 0);
	case HT_OPT_NO_DEMANGLE:
		o->naming.no_demangle = 1;
		return 0;
	case HT_OPT_VERBOSE:
		o->verbose = 1;
		return 0;
	case HT_OPT_PEAK:
		o->peak = 1;
		return 0;
	case HT_OPT_VIEW:
	case HT_OPT_TEMP_UNDER:
	case HT_OPT_COLOR:
		return set_time_option(o, id, v);
	case HT_OPT_SERIES:
		o->series = 1;
		return 0;
	case HT_OPT_OUTPUT:
		o->output = v;
		return 0;
	case HT_OPT_PUSH:
		o->push = v;
		return 0;
	case HT_OPT_PUSH_BASE:
		o->push_base = v;
		return 0;
	case HT_OPT_PUSH_APP:
		o->push_app = v;
		return 0;
	case HT_OPT_PUSH_LABELS:
		o->push_labels = v;
		return 0;
	case HT_OPT_PUSH_AUTH:
		o->push_auth = v;
		return 0;
	default:
		return unknown_option(p->arg);
	}
}

/* Options that do not go together, once all are known. */
/* --push and its settings. */
static int check_push(const struct ht_report_opts *o)
{
	char err[512];

	if (!o->push) {
		if (o->push_base || o->push_app || o->push_labels || o->push_auth)
			return ht_error("options '--push-base', '--app', '--labels' and "
					"'--push-auth-file' go with '--push URL'");
		return 0;
	}
	if (strncmp(o->push, "http://", 7) != 0 && strncmp(o->push, "https://", 8) != 0)
		return ht_error("bad push URL '%s': want http://HOST[:PORT][/PATH] or https://...",
				o->push);
	if (o->output)
		return ht_error("option '--push' sends the snapshot away; it takes no -o");
	if (o->push_labels && ht_push_check_labels(o->push_labels, err, sizeof(err)) != 0)
		return ht_error("%s", err);
	return 0;
}

/* The views of the cells, --temporary-under and --color age. */
static int check_cells(const struct ht_report_opts *o)
{
	if (o->view && o->format != HT_FORMAT_TEXT)
		return ht_error("option '--%s' shows a text table, not format '%s'",
				view_names[o->view], format_names[o->format]);
	if (o->view && (o->peak || o->push))
		return ht_error("option '--%s' does not go with '--%s'", view_names[o->view],
				o->peak ? "peak" : "push");
	if (o->color_age && o->format != HT_FORMAT_SVG)
		return ht_error("option '--color age' colours the svg flame graph, not format "
				"'%s'", format_names[o->format]);
	if (o->temp_under_ns > 0 && o->index != HT_TEMP_SPACE && o->index != HT_TEMP_OBJECTS &&
	    o->format != HT_FORMAT_PPROF)
		return ht_error("option '--temporary-under' goes with the sample index "
				"temp_space or temp_objects");
	return 0;
}

static int check_combination(struct ht_report_opts *o, enum ht_report_mode mode)
{
	if (check_push(o) || check_cells(o))
		return -1;
	if (o->peek) {
		if (o->format == HT_FORMAT_TEXT)
			o->format = HT_FORMAT_TREE;
		else if (o->format != HT_FORMAT_TREE)
			return ht_error("option '--peek' needs the text or tree format, not '%s'",
					format_names[o->format]);
	}
	if ((o->nodefraction >= 0 || o->edgefraction >= 0) && !ht_report_format_is_graph(o->format))
		return ht_error("option '--%s' applies to the graph formats (dot, png, "
				"graph-svg), not '%s'", o->nodefraction >= 0 ? "nodefraction" :
				"edgefraction", format_names[o->format]);
	if (o->series) {
		if (o->format != HT_FORMAT_TEXT && o->format != HT_FORMAT_SVG)
			return ht_error("option '--series' supports the text and svg formats, "
					"not '%s'", format_names[o->format]);
		if (o->nfiles < 2)
			return ht_error("option '--series' needs two or more snapshot files, "
					"got %d", o->nfiles);
	} else if (mode == HT_MODE_DIFF && o->format == HT_FORMAT_HEAP_V2) {
		return ht_error("format 'heap_v2' shows one snapshot, not a diff");
	}
	return 0;
}

/* The files once all arguments are read: "-base BASE CURRENT" puts BASE
 * first; the count must be the mode's. */
static int check_files(struct ht_report_opts *o, enum ht_report_mode mode,
		       const char **files, int nf, const char *base)
{
	int want = mode == HT_MODE_DIFF ? 2 : 1;

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
		return check_combination(o, mode);
	if (nf != want) {
		if (want == 1)
			return ht_error("expected one snapshot file, got %d (try --help)", nf);
		return ht_error("expected %d snapshot files, got %d (try --help)", want, nf);
	}
	if (check_combination(o, mode))
		return -1;
	if (mode == HT_MODE_REPORT) {
		o->cur_label = files[0];
	} else {
		o->base_label = files[0];
		o->cur_label = files[1];
	}
	return 0;
}

int ht_report_parse_args(int argc, char **argv, enum ht_report_mode mode,
			 const char **files, struct ht_report_opts *o)
{
	struct ht_opt_parser p;
	const char *base = NULL;
	int nf = 0, id;

	ht_opt_init(&p, mode == HT_MODE_DIFF ? HT_TOOL_DIFF : HT_TOOL_REPORT, 1, argc, argv);
	while ((id = ht_opt_next(&p)) != HT_OPT_END) {
		if (id == HT_OPT_ARG) {
			files[nf++] = p.value;
		} else if (id == HT_OPT_HELP) {
			return 1;
		} else if (id == HT_OPT_VERSION) {
			return 2;
		} else if (id == HT_OPT_ERROR) {
			return -1;
		} else if (id == HT_OPT_BASE) {
			/* pprof -base BASE CURRENT */
			if (mode != HT_MODE_DIFF)
				return ht_error("option '%s' compares two snapshots: use "
						"heaptrace-diff BASE CURRENT", p.arg);
			base = p.value;
		} else if (set_option(o, &p, id)) {
			return -1;
		}
	}
	return check_files(o, mode, files, nf, base);
}

void ht_report_usage(FILE *out, enum ht_report_mode mode)
{
	if (mode == HT_MODE_DIFF)
		ht_opt_usage(out, HT_TOOL_DIFF,
			     "usage: heaptrace-diff [options] BASE.heap CURRENT.heap\n"
			     "       heaptrace-diff --series [options] S1.heap S2.heap ... SN.heap\n"
			     "\n"
			     "Shows what changed from BASE to CURRENT (pprof -base), or across a series\n"
			     "of snapshots (oldest first) and which stacks grow steadily.\n"
			     "\n",
			     "pprof's spellings work too: -top, -sample_index=alloc_space, -focus=X,\n"
			     "-base BASE.heap CURRENT.heap, ...\n");
	else
		ht_opt_usage(out, HT_TOOL_REPORT,
			     "usage: heaptrace-report [options] FILE.heap\n"
			     "\n"
			     "Shows where the heap of a traced program is (pprof's top).\n"
			     "\n",
			     "pprof's spellings work too: -top, -sample_index=alloc_space, -focus=X, ...\n");
}

int ht_report_args_status(int rc, enum ht_report_mode mode)
{
	if (rc == 1)
		ht_report_usage(stdout, mode);
	else if (rc == 2)
		printf("%s %s\n", ht_progname, HT_VERSION);
	return rc < 0 ? 2 : 0;
}
