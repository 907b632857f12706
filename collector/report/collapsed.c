/* Collapsed stacks: "root;...;leaf VALUE" lines, one per distinct
 * string, for flamegraph.pl and the tools that read its input. */
#include "report/report_int.h"
#include "report/render.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

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
		p = (const unsigned char *)a->names.str[ii];
		q = (const unsigned char *)a->names.str[ij];
		if (!((a->name_len[ii] | a->name_len[ij]) & HT_NAME_SEMI)) {
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

void ht_collapsed_write(FILE *out, const struct ht_report_stacks *a,
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
			const char *name = a->names.str[a->ids[st->first + k]];

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

