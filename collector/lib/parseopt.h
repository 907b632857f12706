/* Command-line options of the reader tools (heaptrace-report, -diff and
 * -dump), described once in one table that both parses argv and prints
 * each tool's usage, as git's parse-options does. */
#ifndef HT_PARSEOPT_H
#define HT_PARSEOPT_H

#include <stdio.h>

/* The tools, as bits: an option lists those that have it. */
enum ht_tool {
	HT_TOOL_REPORT = 1,
	HT_TOOL_DIFF = 2,
	HT_TOOL_DUMP = 4,
};

/* What ht_opt_next found. The options' ids are positive. */
enum ht_opt_id {
	HT_OPT_END = 0,      /* no more arguments */
	HT_OPT_ARG = -1,     /* an argument that is no option (value: it) */
	HT_OPT_UNKNOWN = -2, /* an option of no entry for the tool: the caller says so */
	HT_OPT_ERROR = -3,   /* a known option misused: a message was printed */
	HT_OPT_HELP = 1,
	HT_OPT_VERSION,
	HT_OPT_OUTPUT,       /* -o FILE */
	HT_OPT_STATS,        /* heaptrace-dump --stats */
	HT_OPT_LIST,         /* heaptrace-dump --list */
	HT_OPT_INDEX,        /* the sample index: --sample-index X, --inuse_space */
	HT_OPT_FORMAT,       /* --format F, and the flags that name one (--tree) */
	HT_OPT_NAMING,       /* --lines, --functions, --files, --addresses */
	HT_OPT_NO_DEMANGLE,
	HT_OPT_VERBOSE,
	HT_OPT_PEAK,
	HT_OPT_SERIES,
	HT_OPT_TOP,          /* --top N, --nodecount N */
	HT_OPT_NODEFRACTION, /* --nodefraction F (graphs) */
	HT_OPT_EDGEFRACTION, /* --edgefraction F (graphs) */
	HT_OPT_UNIT,
	HT_OPT_FOCUS,
	HT_OPT_IGNORE,
	HT_OPT_PEEK,
	HT_OPT_HIDE,         /* --hide REGEX */
	HT_OPT_BASE,         /* pprof's -base BASE */
	HT_OPT_PUSH,         /* heaptrace-report --push URL, and its settings: */
	HT_OPT_PUSH_BASE,
	HT_OPT_PUSH_APP,
	HT_OPT_PUSH_LABELS,
	HT_OPT_PUSH_AUTH,
	HT_OPT_TRIM,         /* heaptrace-dump --trim */
	HT_OPT_METRICS,      /* heaptrace-dump --metrics */
	HT_OPT_SERVE_FD,     /* heaptrace-dump --serve-fd FD: the collector's, unlisted */
	HT_OPT_VIEW,         /* heaptrace-report --lifetimes, --age, --sizes */
	HT_OPT_TEMP_UNDER,   /* --temporary-under DURATION */
	HT_OPT_COLOR,        /* --color age (svg) */
};

/* Entry flags. */
#define HT_OPTF_WORD 1     /* matched whole, "-name" or "--name", never a value */
#define HT_OPTF_ONE_DASH 2 /* with WORD: "-name" only (pprof's "-top") */

/* One spelling of an option. Entries are tried in table order; the usage
 * lists those with help, in that order. */
struct ht_option {
	enum ht_opt_id id;
	const char *name;   /* long name without dashes; NULL ends the table */
	char short_name;    /* -o: its value attached ("-oFILE") or next; 0: none */
	const char *arg;    /* the value's name in the usage; NULL: a flag */
	const char *set;    /* a flag's value, as if given to the option (--tree:
			     * "tree" for the format); NULL: none */
	unsigned tools;     /* the tools that have it (enum ht_tool bits) */
	unsigned flags;     /* HT_OPTF_* */
	const char *help;   /* lines for the usage ('\n' between); NULL: unlisted */
};

/* The reader tools' options. */
extern const struct ht_option ht_reader_options[];

/* A walk over argv[1..argc) for one tool. pprof's spelling: with one_dash,
 * "-name" is "--name" too. "--" ends the options; "-" alone is an
 * argument. */
struct ht_opt_parser {
	enum ht_tool tool;
	int one_dash;
	int argc;
	char **argv;
	int i;              /* the next argument */
	int only_args;      /* after "--" */
	const char *arg;    /* the argument that was parsed, as given */
	const char *name;   /* its option as spelled ("--top", "-top"), for messages */
	const char *value;  /* its value, the entry's set value, or NULL */
	char spelled[64];   /* holds name */
};

/* Starts a walk of argv for tool. */
void ht_opt_init(struct ht_opt_parser *p, enum ht_tool tool, int one_dash, int argc,
		 char **argv);

/* The next argument: an option's id (value set), HT_OPT_ARG, HT_OPT_END,
 * HT_OPT_UNKNOWN (p->arg is it; the caller reports it), or HT_OPT_ERROR
 * after one line on stderr (a flag given a value, a value missing). */
int ht_opt_next(struct ht_opt_parser *p);

/* Writes tool's usage: head, then a line for each of its listed options
 * (spelling, value name, help), then tail. */
void ht_opt_usage(FILE *out, enum ht_tool tool, const char *head, const char *tail);

/* The first long name of the options of tools (enum ht_tool bits) that
 * begins with word[0..n), or NULL: "-func" meant "--functions". */
const char *ht_opt_guess(unsigned tools, const char *word, size_t n);

#endif
