/* The options of a report, and their parsing for heaptrace-report and
 * heaptrace-diff from the reader tools' table (lib/parseopt.h): what every
 * renderer reads to know what to show and how. */
#ifndef HT_REPORT_OPTIONS_H
#define HT_REPORT_OPTIONS_H

#include <stdio.h>

#include "report/stacks.h"

enum ht_format {
	HT_FORMAT_TEXT,      /* header and pprof "top" table */
	HT_FORMAT_TREE,      /* header and pprof "tree": callers and callees of each row */
	HT_FORMAT_COLLAPSED, /* "root;...;leaf VALUE" lines, for flame graphs */
	HT_FORMAT_PPROF,     /* gzip'd profile.proto, for go tool pprof */
	HT_FORMAT_SVG,       /* interactive flame graph; for a series, a chart */
	HT_FORMAT_HEAP_V2,   /* legacy "heap_v2/RATE" text, for jeprof */
	HT_FORMAT_STATS,     /* call counts, RSS, allocator figures (see stats.h) */
	HT_FORMAT_JSON,      /* the header's facts and the top table, for scripts */
	HT_FORMAT_DOT,       /* pprof's call graph in Graphviz's DOT language */
	HT_FORMAT_PNG,       /* that graph drawn by Graphviz's dot program: PNG */
	HT_FORMAT_GRAPH_SVG, /* the same: SVG */
	HT_FORMAT_TRACES,    /* each stack in full with its figures, for scripts */
};

/* Whether f draws pprof's call graph (dot, png, graph-svg). */
static inline int ht_report_format_is_graph(enum ht_format f)
{
	return f == HT_FORMAT_DOT || f == HT_FORMAT_PNG || f == HT_FORMAT_GRAPH_SVG;
}

/* Which tool parses: a report of one snapshot, or a diff of two (or, with
 * --series, a series of two or more). */
enum ht_report_mode {
	HT_MODE_REPORT, /* heaptrace-report FILE */
	HT_MODE_DIFF,   /* heaptrace-diff BASE CURRENT, or --series FILES */
};

/* heaptrace-report's views of the cells (time and size histograms). */
enum ht_view {
	HT_VIEW_NONE,      /* the format's report */
	HT_VIEW_LIFETIMES, /* --lifetimes */
	HT_VIEW_AGE,       /* --age */
	HT_VIEW_SIZES,     /* --sizes */
};

struct ht_report_opts {
	enum ht_index index;     /* the counter shown; HT_INUSE_SPACE by default */
	enum ht_format format;
	struct ht_naming naming;
	long top;                /* text rows, collapsed lines or graph nodes kept;
				  * 0 = all, -1 = the format's default (10 rows,
				  * all lines, 80 nodes) */
	double nodefraction;     /* graphs: nodes whose cum is under this share of
				  * the total are dropped; -1: pprof's 0.005 */
	double edgefraction;     /* graphs: edges under this share; -1: 0.001 */
	int unit;                /* -1: each figure scaled on its own; 0..4: byte
				  * figures in B, kB, MB, GB, TB, counts whole */
	const char *focus;       /* POSIX extended regexes matched against frame */
	const char *ignore;      /* names: keep only the stacks with a frame
				  * matching focus, drop those with one matching
				  * ignore; NULL = no filter */
	const char *peek;        /* tree: only the rows matching; NULL = all */
	const char *hide;        /* --hide: frames whose function matches are
				  * taken out of the stacks; NULL = the
				  * built-in list of allocation wrappers,
				  * "" = none */
	int series;              /* heaptrace-diff --series: the files are a series */
	int verbose;             /* --verbose: the whole provenance in the header */
	int peak;                /* --peak: in use at the peak (text and tree) */
	enum ht_view view;       /* --lifetimes, --age, --sizes (text) */
	double temp_under_ns;    /* --temporary-under: 0, or the temp indexes count
				  * blocks freed within it (see temp_edge) */
	unsigned temp_edge;      /* ... rounded to this time bucket's lower edge */
	int temp_viewed;         /* emit.c: the snapshots' temp counters are already
				  * those of temp_under_ns */
	int color_age;           /* --color age: svg frames by median age */
	int nfiles;              /* ht_report_parse_args: file names found */
	const char *base_label;  /* file names shown in the text header; may be NULL */
	const char *cur_label;
	const char *output;      /* ht_report_emit: file to write; NULL or "-": stdout */
	const char *push;        /* --push URL (push.h): push instead of a report */
	const char *push_base;   /* its base snapshot's file, or NULL */
	const char *push_app;    /* its application name, or NULL: the executable's */
	const char *push_labels; /* "k=v,..." or NULL */
	const char *push_auth;   /* the credentials file, or NULL */
};

/* Sets the defaults: inuse_space, text, lines, top -1, unit -1, fractions
 * -1, no filters, no labels, stdout. */
void ht_report_opts_init(struct ht_report_opts *o);

/* Parses the options of heaptrace-report (mode HT_MODE_REPORT) or
 * heaptrace-diff (HT_MODE_DIFF) (argv[0] is skipped; options and files may
 * be mixed; "--" ends options). One file name must remain for a report, two
 * for a diff, or with --series (a diff's) two or more; they are stored in
 * files[], which has room for argc entries, and counted in o->nfiles. Sets
 * the labels to the file names. Regexes are checked here. pprof's spellings
 * are accepted where heaptrace has the option: one dash ("-focus=x",
 * "-sample_index=alloc_space", "-top", "-proto") and, for a diff, "-base
 * BASE CURRENT". Returns 0, 1 if --help was given, 2 for --version, or -1
 * after printing one line for a usage error (ht_error). */
int ht_report_parse_args(int argc, char **argv, enum ht_report_mode mode,
			 const char **files, struct ht_report_opts *o);

/* What a main does after ht_report_parse_args returned rc (not 0): prints
 * the usage (1) or the version (2) to stdout. Returns the exit status: 0,
 * or 2 after a usage error. */
int ht_report_args_status(int rc, enum ht_report_mode mode);

/* Writes the --help text of the tool of mode to out, from the option table. */
void ht_report_usage(FILE *out, enum ht_report_mode mode);

/* The name of a sample index ("inuse_space"), or NULL if out of range. */
const char *ht_report_index_name(enum ht_index which);

/* The name of a format ("pprof"), or NULL if out of range. */
const char *ht_report_format_name(enum ht_format f);

#endif
