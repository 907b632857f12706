/* The traces format (pprof's -traces): every stack in full with its
 * figures, in a plain form for scripts. heaptrace-report(1) documents it
 * and scripts rely on it: change it only by adding fields at the end of
 * a trace line. */
#include "report/report_int.h"
#include "report/render.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The counters of a trace line, in its order. */
static const enum ht_index counters[4] = {
	HT_INUSE_SPACE, HT_INUSE_OBJECTS, HT_ALLOC_SPACE, HT_ALLOC_OBJECTS,
};

struct order {
	const struct ht_report_stacks *a;
	enum ht_index w;
};

static int64_t figure(const struct ht_report_stacks *a, size_t i, enum ht_index w)
{
	return ht_report_llround(ht_report_stacks_value(a, i, w));
}

/* By the shown counter's size, largest first; then as aggregated. */
static int cmp_value(const void *x, const void *y, void *ctx)
{
	const struct order *c = ctx;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	double vi = fabs((double)figure(c->a, i, c->w)), vj = fabs((double)figure(c->a, j, c->w));

	if (vi != vj)
		return vi > vj ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* The text header, each line after "# ". */
static void header(FILE *out, const struct ht_report_stacks *a, const struct ht_snapshot *base,
		   const struct ht_snapshot *cur, const struct ht_report_opts *o, int peak)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	if (!mem)
		return;
	ht_report_write_header(mem, a, base, cur, o);
	if (peak)
		ht_report_write_peak_note(mem, cur, o);
	if (fclose(mem) == 0)
		for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
			nl = memchr(p, '\n', (size_t)(buf + len - p));
			if (!nl)
				nl = buf + len;
			fprintf(out, "# %.*s\n", (int)(nl - p), p);
		}
	free(buf);
}

/* One trace: its line of figures, then its frames, leaf first. */
static void trace(FILE *out, const struct ht_report_stacks *a, size_t i, size_t num,
		  const struct ht_report_opts *o)
{
	const struct ht_err *e = ht_report_stacks_err(a, i, o->index);
	const uint32_t *ids;
	size_t n;

	fprintf(out, "trace %zu value=%" PRId64 " interval=%" PRId64, num,
		figure(a, i, o->index), ht_report_llround(ht_err_half(e)));
	for (int k = 0; k < 4; k++)
		fprintf(out, " %s=%" PRId64, ht_report_index_name(counters[k]),
			figure(a, i, counters[k]));
	fputc('\n', out);
	ids = ht_report_stacks_frames(a, i, &n);
	for (size_t k = 0; k < n; k++)
		fprintf(out, "\t%s\n", ht_report_stacks_name(a, ids[k]));
}

void ht_traces_write(FILE *out, const struct ht_report_stacks *a,
		     const struct ht_snapshot *base, const struct ht_snapshot *cur,
		     const struct ht_report_opts *o, int peak)
{
	size_t n = ht_report_stacks_count(a), m = 0;
	size_t *shown = ht_xmalloc((n + 1) * sizeof(*shown));
	struct order c = { a, o->index };

	header(out, a, base, cur, o, peak);
	for (size_t i = 0; i < n; i++) {
		int any = 0;

		for (int k = 0; k < 4; k++)
			any |= figure(a, i, counters[k]) != 0;
		if (any && !ht_report_stacks_hidden(a, i))
			shown[m++] = i;
	}
	qsort_r(shown, m, sizeof(*shown), cmp_value, &c);
	if (o->top > 0 && (size_t)o->top < m)
		m = (size_t)o->top;
	for (size_t k = 0; k < m; k++)
		trace(out, a, shown[k], k + 1, o);
	free(shown);
}
