/* --hide (pprof's -hide): the frames whose function matches a regex are
 * taken out of every stack, so what they allocated is their callers'. Owns
 * the built-in list of well-known allocation wrappers, applied when no
 * --hide is given, the matching of a snapshot's frames (each function
 * once), and the "Hidden:" line that says what was taken out. */
#include "report/report_int.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* The built-in list: functions that only pass an allocation on, found in
 * the stacks of real programs. Matched against the function's name as the
 * report shows it (demangled, or raw with --no-demangle), so C++ names are
 * here in both spellings. heaptrace-report(1) lists them. */
static const char *const builtin[] = {
	/* C++: the global operators new (a program's own, or a static
	 * libstdc++'s: the shim's never show) and the standard allocator */
	"^operator new(\\[\\])?(\\(|$)",
	"^_Zn[wa][jm]",
	"^(std::(__new_allocator|allocator|allocator_traits)|__gnu_cxx::new_allocator)<.*>::allocate(\\(|$)",
	"^_ZN(St15__new_allocator|Sa|St16allocator_traits|9__gnu_cxx13new_allocator)I.*E8allocateE",
	/* libc: what calls malloc for its caller */
	"^(__)?(strdup|strndup|wcsdup|reallocarray)$",
	"^__libc_(malloc|calloc|realloc|memalign|reallocarray)$",
	"^__GI___(strdup|strndup|libc_malloc|libc_calloc|libc_realloc)$",
	/* git, gcc and binutils (libiberty), openssh, bash */
	"^x(malloc|calloc|realloc|zalloc|mallocz|memdupz?|strdup|strndup|reallocarray)$",
	"^do_xmalloc$",
	/* glib */
	"^g_(try_)?(malloc0?|realloc)(_n)?$",
	"^g_(strdup|strndup|memdup2?|slice_alloc0?|slice_copy)$",
	/* redis */
	"^z(try)?(malloc|calloc|realloc)(_usable|_num|_no_tcache)?(_internal)?$",
	"^zstrdup$",
	/* python (PYTHONMALLOC=malloc) */
	"^_?Py(Mem|Object)_(Raw)?(Malloc|Calloc|Realloc)$",
	"^_PyMem_Debug(Raw)?(Alloc|Malloc|Calloc|Realloc)$",
	/* sqlite */
	"^sqlite3(_malloc|_malloc64|_realloc|_realloc64|Malloc|MallocZero|Realloc|MemMalloc|MemRealloc)$",
	"^sqlite3Db(MallocRaw|MallocRawNN|MallocZero|Realloc|ReallocOrFree|StrDup|StrNDup)$",
	"^(mallocWithAlarm|dbMallocRawFinish|dbReallocFinish)$",
	/* openssl */
	"^CRYPTO_(malloc|zalloc|realloc|clear_realloc|strdup|strndup|memdup)$",
	NULL,
};

/* The built-in list as one regex: an alternation of its entries. */
static char *builtin_regex(void)
{
	size_t len = 1;
	char *re, *p;

	for (size_t i = 0; builtin[i]; i++)
		len += strlen(builtin[i]) + 3;
	re = p = ht_xmalloc(len);
	for (size_t i = 0; builtin[i]; i++)
		p += sprintf(p, "%s(%s)", i ? "|" : "", builtin[i]);
	return re;
}

/* The built-in list compiled, on first use, and kept: regcomp of it takes
 * about 0.4 ms, and a diff or a series renders more than once. */
static regex_t builtin_rx;
static int builtin_ready;

int ht_hide_init(struct ht_hide *h, const char *re, char *err, size_t errlen)
{
	char *list;
	int rc;

	memset(h, 0, sizeof(*h));
	h->re = re;
	if (re && !re[0])
		return 0;
	if (re) {
		if (ht_report_regcomp(&h->own, "--hide", re, err, errlen))
			return -1;
		h->rx = &h->own;
	} else {
		if (!builtin_ready) {
			list = builtin_regex();
			rc = ht_report_regcomp(&builtin_rx, "--hide", list, err, errlen);
			free(list);
			if (rc)
				return -1;
			builtin_ready = 1;
		}
		h->rx = &builtin_rx;
	}
	h->active = 1;
	return 0;
}

void ht_hide_free(struct ht_hide *h)
{
	if (h->rx == &h->own)
		regfree(&h->own);
	free(h->memo_fn);
	free(h->memo_loc);
	free(h->name);
	ht_strtab_free(&h->hit);
	memset(h, 0, sizeof(*h));
}

/* Memo values: not matched yet, shown, hidden. */
enum { M_UNKNOWN, M_SHOWN, M_HIDDEN };

/* Starts the memo over for a snapshot other than the last one. */
static void memo_for(struct ht_hide *h, const struct ht_snapshot *s)
{
	if (h->memo_s == s && h->memo_functions == s->functions &&
	    h->memo_locations == s->locations)
		return;
	free(h->memo_fn);
	free(h->memo_loc);
	h->memo_fn = ht_xcalloc(s->nfunctions + 1, 1);
	h->memo_loc = ht_xcalloc(s->nlocations + 1, 1);
	h->memo_s = s;
	h->memo_functions = s->functions;
	h->memo_locations = s->locations;
}

/* The function's name of frame k of loc, as --functions names it, in
 * h->name. */
static const char *function_name(struct ht_hide *h, const struct ht_snapshot *s, uint32_t loc,
				 uint32_t k, const struct ht_naming *nm)
{
	struct ht_naming fn = { HT_GRAN_FUNCTIONS, nm->no_demangle };

	ht_report_frame_name(s, loc, k, &fn, &h->name, &h->name_cap, NULL);
	return h->name;
}

int ht_hide_frame(struct ht_hide *h, const struct ht_snapshot *s, uint32_t loc, uint32_t k,
		  const struct ht_naming *nm)
{
	const struct ht_location *l = &s->locations[loc];
	unsigned char *m;

	if (!h->active)
		return 0;
	memo_for(h, s);
	/* a named function is matched once, wherever it is called */
	if (l->nlines) {
		const struct ht_function *f = &s->functions[s->lines[l->first_line + k].function];

		if (ht_report_str(f->name)[0] || ht_report_str(f->system_name)[0])
			m = &h->memo_fn[s->lines[l->first_line + k].function];
		else
			m = &h->memo_loc[loc];
	} else {
		m = &h->memo_loc[loc];
	}
	if (*m == M_UNKNOWN)
		*m = regexec(h->rx, function_name(h, s, loc, k, nm), 0, NULL, 0) == 0 ?
		     M_HIDDEN : M_SHOWN;
	return *m == M_HIDDEN;
}

int ht_hide_location(struct ht_hide *h, const struct ht_snapshot *s, uint32_t loc,
		     const struct ht_naming *nm)
{
	uint32_t nf = ht_report_location_nframes(&s->locations[loc]);

	for (uint32_t k = 0; k < nf; k++)
		if (!ht_hide_frame(h, s, loc, k, nm))
			return 0;
	return h->active;
}

/* The longest name on the Hidden: line. */
#define SHORT_NAME_MAX 64

/* name without what follows its first '(' and without its template
 * arguments: "std::allocator<int>::allocate(unsigned long)" is
 * "std::allocator::allocate"; "operator new[](unsigned long)" keeps its
 * "[]"; what is still longer than SHORT_NAME_MAX is cut to it, ending in
 * "...". The result goes to out (room for strlen(name) + 1). */
static void short_name(const char *name, char *out)
{
	/* an operator named by '<' or '>' has no template arguments to cut */
	int templates = !strstr(name, "operator<") && !strstr(name, "operator>") &&
			!strstr(name, "operator->");
	int depth = 0;
	size_t n = 0;

	for (const char *p = name; *p; p++) {
		if (*p == '(' && depth == 0 && p != name)
			break;
		if (templates && *p == '<')
			depth++;
		else if (templates && *p == '>' && depth > 0)
			depth--;
		else if (depth == 0)
			out[n++] = *p;
	}
	/* a raw C++ name has no arguments to cut: it is cut short */
	if (n > SHORT_NAME_MAX) {
		memcpy(out + SHORT_NAME_MAX - 3, "...", 3);
		n = SHORT_NAME_MAX;
	}
	out[n] = '\0';
}

void ht_hide_note(struct ht_hide *h, const struct ht_snapshot *s, uint32_t loc, uint32_t k,
		  const struct ht_naming *nm)
{
	const char *name = function_name(h, s, loc, k, nm);
	char *sn = ht_xmalloc(strlen(name) + 1);

	short_name(name, sn);
	ht_strtab_xintern(&h->hit, sn, strlen(sn));
	free(sn);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t ht_hide_names(const struct ht_hide *h, const char ***names)
{
	size_t n = h->hit.n;

	*names = ht_xmalloc((n + 1) * sizeof(**names));
	if (n)
		memcpy(*names, h->hit.str, n * sizeof(**names));
	qsort(*names, n, sizeof(**names), cmp_str);
	return n;
}

/* At most this many names on the line; the rest are counted. */
#define HIDDEN_NAMES 8

char *ht_hide_line(const struct ht_hide *h)
{
	const char **names;
	size_t n = ht_hide_names(h, &names), len = 0;
	char *buf = NULL;
	FILE *out;

	if (!n || !(out = open_memstream(&buf, &len))) {
		free(names);
		return NULL;
	}
	fprintf(out, "Hidden: ");
	for (size_t i = 0; i < n && i < HIDDEN_NAMES; i++) {
		fputs(i ? ", " : "", out);
		ht_fputs_escaped(out, names[i]);
	}
	if (n > HIDDEN_NAMES)
		fprintf(out, " and %zu more", n - HIDDEN_NAMES);
	if (!h->re)
		fprintf(out, " (the built-in list; --hide '' shows them)");
	else
		fprintf(out, " (--hide '%s')", h->re);
	free(names);
	if (fclose(out) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void ht_hide_write_line(FILE *out, const char *lead, const struct ht_hide *h)
{
	char *line = ht_hide_line(h);

	if (line)
		fprintf(out, "%s%s\n", lead, line);
	free(line);
}

void ht_hide_filter_note(FILE *out, const struct ht_hide *h, const char *opt, const char *re)
{
	const char **names;
	size_t n, k;
	regex_t rx;

	if (!re || h->re || !h->hit.n || regcomp(&rx, re, REG_EXTENDED | REG_NOSUB))
		return;
	n = ht_hide_names(h, &names);
	for (k = 0; k < n && regexec(&rx, names[k], 0, NULL, 0) != 0; k++)
		;
	if (k < n) {
		fprintf(out, "note: %s '%s' matches ", opt, re);
		ht_fputs_escaped(out, names[k]);
		fprintf(out, ", which the built-in list hid: --hide '' shows it\n");
	}
	regfree(&rx);
	free(names);
}
