/* What a trim did, read back from the "trim.*" metrics of the snapshots
 * that follow it (see trim.h). */
#include "report/trim.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"
#include "report/stats.h"

/* Bits of trim.what, as the shim sets them (preload/ring.h HT_TRIM_*). */
static const struct {
	unsigned bit;
	const char *what;
} done[] = {
	{ 1, "glibc malloc_trim(0)" },
	{ 2, "jemalloc arena.<all>.purge" },
	{ 4, "tcmalloc ReleaseFreeMemory" },
	{ 8, "heaptrace arena's kept pages" },
};

/* A copy of s's header and counts, with its metrics as they were before
 * (before 1) or after (0) the trim: the shim's own reading at the trim
 * stands in for the snapshot's. The trim's record is left out. */
static struct ht_snapshot *as_at_trim(const struct ht_snapshot *s, int before)
{
	const char *pre = before ? "trim.before." : "trim.after.";
	struct ht_snapshot *t = ht_snapshot_new();
	double rss = 0, heap = -1, arena = 0, v;
	size_t i;

	if (!t)
		return NULL;
	t->pid = s->pid;
	t->exe = ht_snapshot_strdup(t, s->exe ? s->exe : "");
	t->time_ns = s->time_ns;
	t->flags = s->flags;
	t->counts = s->counts;
	t->drops = s->drops;
	for (i = 0; i < s->nmetrics; i++) {
		const char *n = s->metrics[i].name;
		char key[160];

		v = s->metrics[i].value;
		if (!strncmp(n, "trim.", 5) || !strcmp(n, "allocator.stats_age_seconds") ||
		    !strcmp(n, "process.rss_minus_heap_bytes"))
			continue;
		snprintf(key, sizeof(key), "%s%s", pre, n);
		ht_snapshot_metric(s, key, &v); /* the trim's own figure, where it has one */
		if (!strcmp(n, "process.rss_bytes"))
			ht_snapshot_metric(s, before ? "trim.rss_before_bytes" : "trim.rss_after_bytes", &v);
		if (!strcmp(n, "process.rss_bytes"))
			rss = v;
		else if (!strcmp(n, "glibc.in_use_bytes") || !strcmp(n, "jemalloc.allocated_bytes"))
			heap = v;
		else if (!strcmp(n, "heaptrace.arena_live_bytes"))
			arena = v;
		if (ht_snapshot_add_metric(t, n, v) == HT_NONE)
			goto fail;
	}
	if (heap >= 0 && rss > 0 &&
	    ht_snapshot_add_metric(t, "process.rss_minus_heap_bytes", rss - heap - arena) == HT_NONE)
		goto fail;
	if (!t->exe)
		goto fail;
	return t;
fail:
	ht_snapshot_free(t);
	return NULL;
}

static void what_line(FILE *out, double what)
{
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(done) / sizeof(done[0]); i++)
		if ((unsigned)what & done[i].bit)
			fprintf(out, "%s%s", n++ ? ", " : "", done[i].what);
	if (!n)
		fprintf(out, "nothing");
}

static int plain(FILE *out, const struct ht_snapshot *b, const struct ht_snapshot *a)
{
	fprintf(out, "  %-28s %14s %14s %14s\n", "", "before", "after", "change");
	ht_stats_memory(out, b, a);
	return ferror(out) ? -1 : 0;
}

int ht_trim_print(FILE *out, const struct ht_snapshot *s, int stats)
{
	struct ht_snapshot *b, *a;
	double took = 0, what = 0, r0 = 0, r1 = 0;
	char x[48], y[48];
	int rc;

	if (!ht_snapshot_metric(s, "trim.count", &what) || !ht_snapshot_metric(s, "trim.duration_seconds", &took)) {
		errno = EINVAL;
		return -1;
	}
	ht_snapshot_metric(s, "trim.what", &what);
	fprintf(out, "Trimmed process %lld (", (long long)s->pid);
	ht_fputs_escaped(out, s->exe ? s->exe : "");
	fprintf(out, ") in %.1f ms: ", took * 1e3);
	what_line(out, what);
	if (ht_snapshot_metric(s, "trim.rss_before_bytes", &r0) && ht_snapshot_metric(s, "trim.rss_after_bytes", &r1))
		fprintf(out, "\nRSS %s -> %s", ht_fmt_bytes(r0, x, sizeof(x)),
			ht_fmt_bytes(r1, y, sizeof(y)));
	fprintf(out, "\n\n");
	b = as_at_trim(s, 1);
	a = as_at_trim(s, 0);
	if (!b || !a) {
		ht_snapshot_free(b);
		ht_snapshot_free(a);
		errno = ENOMEM;
		return -1;
	}
	rc = stats ? ht_stats_write_as(out, b, a, "before", "after") : plain(out, b, a);
	ht_snapshot_free(b);
	ht_snapshot_free(a);
	return rc || fflush(out) != 0 ? -1 : 0;
}

void ht_trim_note(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	double n = 0, nb = 0, at = 0, r0 = 0, r1 = 0;
	char x[48], y[48];

	if (!ht_snapshot_metric(cur, "trim.count", &n) || !ht_snapshot_metric(cur, "trim.last_time_seconds", &at))
		return;
	if (base && ht_snapshot_metric(base, "trim.count", &nb) && nb >= n)
		return; /* no trim in between */
	fprintf(out, "\nTrimmed (heaptrace-dump --trim) %.0f time%s%s; the last %.1f s before this "
		"snapshot", n - nb, n - nb == 1 ? "" : "s", base ? " since the base" : "",
		(double)cur->time_ns / 1e9 - at);
	if (ht_snapshot_metric(cur, "trim.rss_before_bytes", &r0) && ht_snapshot_metric(cur, "trim.rss_after_bytes", &r1))
		fprintf(out, ", RSS %s -> %s", ht_fmt_bytes(r0, x, sizeof(x)),
			ht_fmt_bytes(r1, y, sizeof(y)));
	fprintf(out, ".\nMemory the allocator gave back then is not memory the program "
		"stopped using.\n");
}
