/* Frame naming: the name a report gives frame k of a location, at the
 * granularity asked for (pprof's lines, functions, files, addresses), with
 * what a terminal would obey made harmless. */
#include "report/report_int.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

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

const char *ht_report_base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

/* "module+0xOFFSET" (with_address: and " 0xADDRESS"), or "0xADDRESS";
 * *head is the length of the name before the absolute address. */
static void name_unsymbolized(struct sbuf *b, const struct ht_snapshot *s,
			      const struct ht_location *l, int with_address, size_t *head)
{
	const struct ht_module *m = NULL;

	if (l->module != HT_NONE && l->module < s->nmodules && ht_report_str(s->modules[l->module].path)[0])
		m = &s->modules[l->module];
	if (!m) {
		sb_add(b, "0x%" PRIx64, l->address);
		*head = b->n;
		return;
	}
	sb_add(b, "%s+0x%" PRIx64, ht_report_base_name(m->path), l->address - m->bias);
	*head = b->n;
	if (with_address)
		sb_add(b, " 0x%" PRIx64, l->address);
}

size_t ht_report_frame_name(const struct ht_snapshot *s, uint32_t loc, uint32_t k,
			    const struct ht_naming *nm, char **buf, size_t *cap, size_t *head)
{
	const struct ht_location *l = &s->locations[loc];
	struct sbuf b = { buf, cap, 0 };
	enum ht_granularity g = nm->granularity;
	size_t h = 0;

	sb_add(&b, "%s", "");
	if (l->nlines == 0) {
		name_unsymbolized(&b, s, l, g == HT_GRAN_ADDRESSES, &h);
	} else {
		const struct ht_line *ln = &s->lines[l->first_line + k];
		const struct ht_function *f = &s->functions[ln->function];
		const char *fn = ht_report_str(nm->no_demangle ? f->system_name : f->name);
		const char *file = ht_report_str(f->file);

		if (!fn[0])
			fn = ht_report_str(nm->no_demangle ? f->name : f->system_name);
		if (g == HT_GRAN_FILES && file[0]) {
			sb_add(&b, "%s", file);
			h = b.n;
		} else {
			if (fn[0])
				sb_add(&b, "%s", fn);
			else
				name_unsymbolized(&b, s, l, 0, &h);
			h = b.n;
			if ((g == HT_GRAN_LINES || g == HT_GRAN_ADDRESSES) && file[0]) {
				sb_add(&b, " %s", ht_report_base_name(file));
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
	if (head)
		*head = h;
	return b.n;
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

