/* The reader tools' option table and the walk over argv that it drives;
 * each tool's usage text is printed from the same table, so an option and
 * its help cannot part. */
#include "lib/parseopt.h"
#include "lib/util.h"

#include <string.h>

#define RD (HT_TOOL_REPORT | HT_TOOL_DIFF)
#define ALL (HT_TOOL_REPORT | HT_TOOL_DIFF | HT_TOOL_DUMP)
#define WORD HT_OPTF_WORD
#define DASH1 (HT_OPTF_WORD | HT_OPTF_ONE_DASH)

/* In the order of the usage. A pprof word ("-top") comes before the option
 * it would otherwise be taken for ("-top" is "--top" with one dash). */
const struct ht_option ht_reader_options[] = {
	{ HT_OPT_OUTPUT, "output", 'o', "FILE", NULL, HT_TOOL_DUMP, 0,
	  "write to FILE (default: heaptrace.EXE.PID.NNNN.heap\n"
	  "here; -: stdout)" },
	{ HT_OPT_INDEX, "sample-index", 0, "X", NULL, RD, 0,
	  "inuse_space (default), inuse_objects, alloc_space,\n"
	  "alloc_objects, temp_space, temp_objects (blocks freed\n"
	  "at once); also --inuse_space etc." },
	{ HT_OPT_INDEX, "sample_index", 0, "X", NULL, RD, 0, NULL },
	{ HT_OPT_INDEX, "inuse_space", 0, NULL, "inuse_space", RD, WORD, NULL },
	{ HT_OPT_INDEX, "inuse_objects", 0, NULL, "inuse_objects", RD, WORD, NULL },
	{ HT_OPT_INDEX, "alloc_space", 0, NULL, "alloc_space", RD, WORD, NULL },
	{ HT_OPT_INDEX, "alloc_objects", 0, NULL, "alloc_objects", RD, WORD, NULL },
	{ HT_OPT_INDEX, "temp_space", 0, NULL, "temp_space", RD, WORD, NULL },
	{ HT_OPT_INDEX, "temp_objects", 0, NULL, "temp_objects", RD, WORD, NULL },
	{ HT_OPT_FORMAT, "format", 0, "F", NULL, HT_TOOL_REPORT, 0,
	  "text (default; pprof's top), tree (callers and callees),\n"
	  "collapsed (for flame graph tools), pprof (gzip'd\n"
	  "profile.proto; binary: -o FILE or a pipe), svg\n"
	  "(interactive flame graph), heap_v2 (legacy text, for\n"
	  "jeprof), stats (call counts, RSS, the allocator's figures),\n"
	  "json (the header's facts and the top table), dot\n"
	  "(pprof's call graph), png or graph-svg (that graph drawn\n"
	  "by Graphviz), traces (each stack with its figures)" },
	{ HT_OPT_FORMAT, "format", 0, "F", NULL, HT_TOOL_DIFF, 0,
	  "text (default), tree, collapsed (signed values), pprof\n"
	  "(for go tool pprof; -o FILE or a pipe), svg (differential\n"
	  "flame graph; with --series, a chart), stats (calls, RSS,\n"
	  "allocator figures: base, current, change), json, dot,\n"
	  "png or graph-svg (pprof's call graph, coloured by change),\n"
	  "traces (each stack with its change)" },
	{ HT_OPT_FORMAT, "stats", 0, NULL, "stats", RD, 0, "the stats format" },
	{ HT_OPT_STATS, "stats", 0, NULL, NULL, HT_TOOL_DUMP, 0,
	  "print the process's memory statistics instead of writing\n"
	  "a file" },
	{ HT_OPT_LIST, "list", 0, NULL, NULL, HT_TOOL_DUMP, 0,
	  "list the traced processes you may dump" },
	{ HT_OPT_TRIM, "trim", 0, NULL, NULL, HT_TOOL_DUMP, 0,
	  "have the process give its free memory back to the\n"
	  "system, and print RSS and the allocator's figures\n"
	  "before and after (-o FILE: also the snapshot after)" },
	{ HT_OPT_METRICS, "metrics", 0, NULL, NULL, HT_TOOL_DUMP, 0,
	  "print the process's metrics in Prometheus's text format\n"
	  "instead of writing a file" },
	{ HT_OPT_SERVE_FD, "serve-fd", 0, "FD", NULL, HT_TOOL_DUMP, 0, NULL },
	{ HT_OPT_VERBOSE, "verbose", 0, NULL, NULL, RD, 0,
	  "the whole provenance of each snapshot in the header" },
	{ HT_OPT_PEAK, "peak", 0, NULL, NULL, HT_TOOL_REPORT, 0,
	  "in use at the peak (shown by itself when nothing is in\n"
	  "use at the end)" },
	{ HT_OPT_VIEW, "lifetimes", 0, NULL, "lifetimes", HT_TOOL_REPORT, 0,
	  "per stack: blocks freed, their median and 90th\n"
	  "percentile lifetime, the share freed under 1 ms" },
	{ HT_OPT_VIEW, "age", 0, NULL, "age", HT_TOOL_REPORT, 0,
	  "per stack: bytes in use by age (< 1 s, to 1 min, to 1 h,\n"
	  "older) and their median age" },
	{ HT_OPT_VIEW, "sizes", 0, NULL, "sizes", HT_TOOL_REPORT, 0,
	  "histogram of requested sizes (of the --focus'ed stacks)" },
	{ HT_OPT_TEMP_UNDER, "temporary-under", 0, "DURATION", NULL, RD, 0,
	  "temp_space, temp_objects: blocks freed within DURATION\n"
	  "(1ms, 50us; default: freed before their thread's next\n"
	  "allocation)" },
	{ HT_OPT_COLOR, "color", 0, "C", NULL, HT_TOOL_REPORT, 0,
	  "svg: colour frames by 'age', the median age of their\n"
	  "bytes in use (default: 'name')" },
	{ HT_OPT_SERIES, "series", 0, NULL, NULL, HT_TOOL_DIFF, 0,
	  "a series of two or more snapshots (text or svg)" },
	{ HT_OPT_FORMAT, "top", 0, NULL, "text", RD, DASH1, NULL },
	{ HT_OPT_FORMAT, "text", 0, NULL, "text", RD, DASH1, NULL },
	{ HT_OPT_FORMAT, "proto", 0, NULL, "pprof", RD, DASH1, NULL },
	{ HT_OPT_FORMAT, "dot", 0, NULL, "dot", RD, DASH1, NULL },
	{ HT_OPT_FORMAT, "png", 0, NULL, "png", RD, DASH1, NULL },
	{ HT_OPT_FORMAT, "svg", 0, NULL, "graph-svg", RD, DASH1, NULL },
	{ HT_OPT_TOP, "top", 0, "N", NULL, RD, 0,
	  "rows to show (default 10; 0 = all), or nodes of a\n"
	  "graph (default 80); also --nodecount" },
	{ HT_OPT_TOP, "nodecount", 0, "N", NULL, RD, 0, NULL },
	{ HT_OPT_NODEFRACTION, "nodefraction", 0, "F", NULL, RD, 0,
	  "graph: drop the nodes whose cum is under F of the total\n"
	  "(default 0.005)" },
	{ HT_OPT_EDGEFRACTION, "edgefraction", 0, "F", NULL, RD, 0,
	  "graph: drop the edges under F of the total (default 0.001)" },
	{ HT_OPT_FORMAT, "tree", 0, NULL, "tree", RD, 0, "the tree format" },
	{ HT_OPT_FORMAT, "traces", 0, NULL, "traces", RD, 0, "the traces format" },
	{ HT_OPT_PEEK, "peek", 0, "REGEX", NULL, RD, 0, "tree of the frames matching REGEX only" },
	{ HT_OPT_FOCUS, "focus", 0, "REGEX", NULL, RD, 0, "only stacks with a frame matching REGEX" },
	{ HT_OPT_IGNORE, "ignore", 0, "REGEX", NULL, RD, 0,
	  "leave out stacks with a frame matching REGEX" },
	{ HT_OPT_HIDE, "hide", 0, "REGEX", NULL, RD, 0,
	  "take the frames whose function matches REGEX out of\n"
	  "every stack: their callers get their figures (default:\n"
	  "a built-in list of allocation wrappers; '' hides none)" },
	{ HT_OPT_UNIT, "unit", 0, "U", NULL, RD, 0,
	  "auto (default), or B, kB, MB, GB, TB for every figure" },
	{ HT_OPT_NAMING, "lines", 0, NULL, "lines", HT_TOOL_REPORT, 0,
	  "name frames 'function file:line' (default)" },
	{ HT_OPT_NAMING, "lines", 0, NULL, "lines", HT_TOOL_DIFF, 0,
	  "match frames by 'function file:line' (default)" },
	{ HT_OPT_NAMING, "functions", 0, NULL, "functions", HT_TOOL_REPORT, 0,
	  "name frames by function" },
	{ HT_OPT_NAMING, "functions", 0, NULL, "functions", HT_TOOL_DIFF, 0,
	  "match frames by function" },
	{ HT_OPT_NAMING, "files", 0, NULL, "files", HT_TOOL_REPORT, 0,
	  "name frames by source file" },
	{ HT_OPT_NAMING, "files", 0, NULL, "files", HT_TOOL_DIFF, 0,
	  "match frames by source file" },
	{ HT_OPT_NAMING, "addresses", 0, NULL, "addresses", RD, 0,
	  "'function file:line 0xaddress'" },
	{ HT_OPT_NO_DEMANGLE, "no-demangle", 0, NULL, NULL, RD, 0, "show raw symbol names" },
	{ HT_OPT_OUTPUT, "output", 'o', "FILE", NULL, RD, 0,
	  "write to FILE (atomically) instead of stdout" },
	{ HT_OPT_PUSH, "push", 0, "URL", NULL, HT_TOOL_REPORT, 0,
	  "push the snapshot to the Pyroscope server at URL instead\n"
	  "of writing a report" },
	{ HT_OPT_PUSH_BASE, "push-base", 0, "FILE", NULL, HT_TOOL_REPORT, 0,
	  "with --push: allocations since FILE, an earlier snapshot\n"
	  "of the same process" },
	{ HT_OPT_PUSH_APP, "app", 0, "NAME", NULL, HT_TOOL_REPORT, 0,
	  "with --push: the application's name (default: the\n"
	  "executable's)" },
	{ HT_OPT_PUSH_LABELS, "labels", 0, "K=V,...", NULL, HT_TOOL_REPORT, 0,
	  "with --push: labels of the profile" },
	{ HT_OPT_PUSH_AUTH, "push-auth-file", 0, "FILE", NULL, HT_TOOL_REPORT, 0,
	  "with --push: credentials, 'user:password' or a token" },
	{ HT_OPT_BASE, "base", 0, "BASE", NULL, RD, 0, NULL },
	{ HT_OPT_BASE, "diff_base", 0, "BASE", NULL, RD, 0, NULL },
	{ HT_OPT_VERSION, "version", 0, NULL, NULL, ALL, 0, "print the version" },
	{ HT_OPT_HELP, "help", 'h', NULL, NULL, ALL, 0, "show this help" },
	{ 0, NULL, 0, NULL, NULL, 0, 0, NULL },
};

void ht_opt_init(struct ht_opt_parser *p, enum ht_tool tool, int one_dash, int argc,
		 char **argv)
{
	memset(p, 0, sizeof(*p));
	p->tool = tool;
	p->one_dash = one_dash;
	p->argc = argc;
	p->argv = argv;
	p->i = 1;
}

/* The value of an option that takes one: "=value" after its name (at), or
 * the next argument. */
static int take_value(struct ht_opt_parser *p, const struct ht_option *o, const char *at)
{
	if (*at == '=') {
		p->value = at + 1;
	} else if (p->i < p->argc) {
		p->value = p->argv[p->i++];
	} else {
		ht_error("option '%s' needs a value", p->name);
		return HT_OPT_ERROR;
	}
	return (int)o->id;
}

/* Whether entry o is the long option arg ("--name", "--name=v", or with
 * one dash where allowed); dashes is the number arg starts with. */
static const char *match_long(const struct ht_opt_parser *p, const struct ht_option *o,
			      const char *arg, int dashes)
{
	size_t n = strlen(o->name);
	const char *rest = arg + dashes;

	if (dashes == 1 && !p->one_dash)
		return NULL;
	if ((o->flags & HT_OPTF_ONE_DASH) && dashes != 1)
		return NULL;
	if (strncmp(rest, o->name, n) != 0)
		return NULL;
	if (o->flags & HT_OPTF_WORD)
		return rest[n] == '\0' ? rest + n : NULL;
	return rest[n] == '\0' || rest[n] == '=' ? rest + n : NULL;
}

/* arg as a long option of an entry of the tool: its id, or 0 if none. */
static int parse_long(struct ht_opt_parser *p, const char *arg)
{
	int dashes = arg[1] == '-' ? 2 : 1;

	for (const struct ht_option *o = ht_reader_options; o->name; o++) {
		const char *at;

		if (!(o->tools & p->tool) || !(at = match_long(p, o, arg, dashes)))
			continue;
		snprintf(p->spelled, sizeof(p->spelled), "%.*s", (int)(at - arg), arg);
		p->name = p->spelled;
		p->value = o->set;
		if (o->arg)
			return take_value(p, o, at);
		if (*at == '=') {
			ht_error("option '%s' takes no value", p->name);
			return HT_OPT_ERROR;
		}
		return (int)o->id;
	}
	return 0;
}

/* arg as a short option ("-o FILE", "-oFILE", "-h"): its id, or 0. */
static int parse_short(struct ht_opt_parser *p, const char *arg)
{
	for (const struct ht_option *o = ht_reader_options; o->name; o++) {
		if (!(o->tools & p->tool) || !o->short_name || arg[1] != o->short_name)
			continue;
		snprintf(p->spelled, sizeof(p->spelled), "-%c", o->short_name);
		p->name = p->spelled;
		p->value = o->set;
		if (!o->arg)
			return arg[2] ? 0 : (int)o->id;
		if (arg[2]) {
			p->value = arg + 2;
			return (int)o->id;
		}
		return take_value(p, o, arg + 2);
	}
	return 0;
}

int ht_opt_next(struct ht_opt_parser *p)
{
	const char *arg;
	int id;

	if (p->i >= p->argc)
		return HT_OPT_END;
	arg = p->arg = p->argv[p->i++];
	p->name = p->value = NULL;
	if (p->only_args || arg[0] != '-' || arg[1] == '\0') {
		p->value = arg;
		return HT_OPT_ARG;
	}
	if (strcmp(arg, "--") == 0) {
		p->only_args = 1;
		return ht_opt_next(p);
	}
	if ((id = parse_long(p, arg)) || (arg[1] != '-' && (id = parse_short(p, arg))))
		return id;
	return HT_OPT_UNKNOWN;
}

/* "-o, --output FILE": an entry's spelling in the usage. */
static int spelling(const struct ht_option *o, char *buf, size_t len)
{
	char s[8] = "";

	if (o->short_name)
		snprintf(s, sizeof(s), "-%c, ", o->short_name);
	return snprintf(buf, len, "%s--%s%s%s", s, o->name, o->arg ? " " : "",
			o->arg ? o->arg : "");
}

void ht_opt_usage(FILE *out, enum ht_tool tool, const char *head, const char *tail)
{
	const struct ht_option *o;
	char left[64];
	int w = 0;

	for (o = ht_reader_options; o->name; o++)
		if ((o->tools & tool) && o->help && spelling(o, left, sizeof(left)) > w)
			w = spelling(o, left, sizeof(left));
	fputs(head, out);
	for (o = ht_reader_options; o->name; o++) {
		const char *h = o->help;

		if (!(o->tools & tool) || !h)
			continue;
		spelling(o, left, sizeof(left));
		/* continuation lines line up under the first */
		for (int first = 1; *h; first = 0) {
			size_t n = strcspn(h, "\n");

			fprintf(out, "  %-*s  %.*s\n", w, first ? left : "", (int)n, h);
			h += n + (h[n] == '\n');
		}
	}
	fputs(tail, out);
}

const char *ht_opt_guess(unsigned tools, const char *word, size_t n)
{
	for (const struct ht_option *o = ht_reader_options; o->name; o++)
		if ((o->tools & tools) && !(o->flags & HT_OPTF_WORD) && !strncmp(o->name, word, n))
			return o->name;
	return NULL;
}
