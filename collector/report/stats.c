/* heaptrace's MemStats: the figures of a snapshot that are not stacks
 * (see stats.h), laid out as a table people can read at a glance. */
#include "report/stats.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "lib/util.h"
#include "report/trim.h"
#include "report/report_int.h"

enum kind { BYTES, COUNT };

struct row {
	const char *label;
	const char *metric; /* metric name, or NULL for a computed row */
	enum kind kind;
};

/* The rows, in order; metrics a snapshot lacks are left out. */
static const struct row rows[] = {
	{ "in use, sampled stacks", "heap.inuse_bytes_estimate", BYTES },
	{ "process RSS", "process.rss_bytes", BYTES },
	{ "process peak RSS", "process.rss_peak_bytes", BYTES },
	{ "glibc: in use", "glibc.in_use_bytes", BYTES },
	{ "glibc: free in arenas", "glibc.free_bytes", BYTES },
	{ "glibc: arena (sbrk)", "glibc.arena_bytes", BYTES },
	{ "glibc: mmapped blocks", "glibc.mmap_bytes", BYTES },
	{ "glibc: releasable by trim", "glibc.releasable_bytes", BYTES },
	{ "jemalloc: allocated", "jemalloc.allocated_bytes", BYTES },
	{ "jemalloc: active", "jemalloc.active_bytes", BYTES },
	{ "jemalloc: resident", "jemalloc.resident_bytes", BYTES },
	{ "jemalloc: retained", "jemalloc.retained_bytes", BYTES },
	{ "jemalloc: mapped", "jemalloc.mapped_bytes", BYTES },
	{ "jemalloc: metadata", "jemalloc.metadata_bytes", BYTES },
	{ "heaptrace arena: live", "heaptrace.arena_live_bytes", BYTES },
	{ "heaptrace arena: committed", "heaptrace.arena_committed_bytes", BYTES },
	{ "RSS minus heap in use", "process.rss_minus_heap_bytes", BYTES },
	{ "profiles pushed", "push.sent_total", COUNT },
	{ "pushes failed", "push.failed_total", COUNT },
	{ "pushes skipped", "push.skipped_total", COUNT },
	{ "heap in use at the attach", "attach.heap_bytes", BYTES },
};

static const char *fmt(double v, enum kind k, int sign, char *buf, size_t len)
{
	char tmp[48];

	if (k == BYTES)
		ht_fmt_bytes(v, tmp, sizeof(tmp));
	else
		snprintf(tmp, sizeof(tmp), "%.0f", v);
	snprintf(buf, len, "%s%s", sign && v > 0 ? "+" : "", tmp);
	return buf;
}

static void line(FILE *out, const char *label, const struct ht_snapshot *base,
		 int hb, double b, int hc, double c, enum kind k)
{
	char x[64], y[64], z[64];

	if (!base) {
		fprintf(out, "  %-28s %14s\n", label, fmt(c, k, 0, y, sizeof(y)));
		return;
	}
	fprintf(out, "  %-28s %14s %14s %14s\n", label, hb ? fmt(b, k, 0, x, sizeof(x)) : "-",
		hc ? fmt(c, k, 0, y, sizeof(y)) : "-",
		hb && hc ? fmt(c - b, k, 1, z, sizeof(z)) : "-");
}

static void counts(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	const struct ht_counts *b = base ? &base->counts : NULL, *c = &cur->counts;

	line(out, "alloc calls", base, 1, b ? (double)b->alloc_calls : 0, 1,
	     (double)c->alloc_calls, COUNT);
	line(out, "free calls", base, 1, b ? (double)b->free_calls : 0, 1,
	     (double)c->free_calls, COUNT);
	line(out, "realloc calls", base, 1, b ? (double)b->realloc_calls : 0, 1,
	     (double)c->realloc_calls, COUNT);
	line(out, "bytes requested", base, 1, b ? (double)b->alloc_bytes : 0, 1,
	     (double)c->alloc_bytes, BYTES);
	/* from the counts, signed: files written before the metric was
	 * signed hold 2^64 minus the count there */
	line(out, "live objects (exact)", base, 1, base ? (double)ht_snapshot_live_objects(base) : 0,
	     1, (double)ht_snapshot_live_objects(cur), COUNT);
}

static uint64_t dropped(const struct ht_snapshot *s)
{
	const struct ht_drops *d = &s->drops;

	return d->alloc_events + d->free_events + d->other_events + d->arena_full + d->unmatched;
}

void ht_stats_negative_note(FILE *out, const char *indent, const struct ht_snapshot *s)
{
	int64_t live = ht_snapshot_live_objects(s);
	double at;

	if (live < 0)
		fprintf(out, "%snote: %" PRId64 " live objects: the process freed blocks "
			"allocated before tracing began (%s)\n", indent, live,
			ht_snapshot_metric(s, "attach.time_seconds", &at) ? "before the attach, or in an earlier one" :
			"inherited from its parent");
}

/* Allocator figures read further than this from the snapshot's time are
 * not shown as the snapshot's: the shim reads them at a sampled
 * allocation, and an idle program makes none. A peak snapshot's time is
 * the peak's, which the figures were almost never read at. */
#define STALE_SECONDS 1.0
#define STALE_SECONDS_PEAK 0.1

/* Whether s's allocator figures were read too long before (age > 0) or
 * after (age < 0, a peak snapshot) the snapshot's time. */
static int stale(const struct ht_snapshot *s, double *age)
{
	*age = 0;
	return s && ht_snapshot_metric(s, "allocator.stats_age_seconds", age) &&
	       fabs(*age) > (s->flags & HT_SNAP_PEAK ? STALE_SECONDS_PEAK : STALE_SECONDS);
}

void ht_stats_summary(FILE *out, const char *indent, const struct ht_snapshot *s)
{
	char a[48], b[48], c[48];
	double rss, peak, heap, gap, arena = 0, age;
	const char *who = NULL;

	if (!ht_snapshot_metric(s, "process.rss_bytes", &rss) || !ht_snapshot_metric(s, "process.rss_peak_bytes", &peak))
		return;
	if (ht_snapshot_metric(s, "glibc.in_use_bytes", &heap))
		who = "glibc";
	else if (ht_snapshot_metric(s, "jemalloc.allocated_bytes", &heap))
		who = "jemalloc";
	fprintf(out, "%sMemory: RSS %s (peak %s)", indent, ht_fmt_bytes(rss, a, sizeof(a)),
		ht_fmt_bytes(peak, b, sizeof(b)));
	if (who && stale(s, &age)) {
		/* never shown as current, nor subtracted from a current RSS */
		ht_snapshot_metric(s, "heaptrace.arena_live_bytes", &arena);
		fprintf(out, "; allocator figures %.1fs %s than the snapshot: heap in use %s (%s) then",
			fabs(age), age > 0 ? "older" : "newer",
			ht_fmt_bytes(heap + arena, a, sizeof(a)), who);
	} else if (who && ht_snapshot_metric(s, "process.rss_minus_heap_bytes", &gap)) {
		fprintf(out, ", heap in use %s (%s), RSS minus heap %s",
			ht_fmt_bytes(rss - gap, a, sizeof(a)), who, ht_fmt_bytes(gap, c, sizeof(c)));
	}
	fprintf(out, " (--stats for more)\n");
	ht_stats_attach_line(out, indent, s);
}

void ht_stats_attach_line(FILE *out, const char *indent, const struct ht_snapshot *s)
{
	char t[64], a[48];
	double at, heap;

	if (!ht_snapshot_metric(s, "attach.time_seconds", &at))
		return;
	ht_report_fmt_time((int64_t)(at * 1e9), t, sizeof(t));
	fprintf(out, "%sAttached: at %s (heaptrace -p); heap in use then ", indent, t);
	if (ht_snapshot_metric(s, "attach.heap_bytes", &heap))
		fprintf(out, "%s (the allocator's figure)", ht_fmt_bytes(heap, a, sizeof(a)));
	else
		fprintf(out, "unknown");
	fprintf(out, ", not attributed to stacks: only what was allocated since is\n");
}

int ht_stats_write(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	return ht_stats_write_as(out, base, cur, "base", "current");
}

void ht_stats_memory(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double b = 0, c = 0, age;
		int hb = ht_snapshot_metric(base, rows[i].metric, &b), hc = ht_snapshot_metric(cur, rows[i].metric, &c);

		/* a current RSS minus a stale heap figure means nothing */
		if (!strcmp(rows[i].metric, "process.rss_minus_heap_bytes")) {
			hb = hb && !stale(base, &age);
			hc = hc && !stale(cur, &age);
		}

		if (hc || hb)
			line(out, rows[i].label, base, hb, b, hc, c, rows[i].kind);
	}
}

int ht_stats_write_as(FILE *out, const struct ht_snapshot *base, const struct ht_snapshot *cur,
		      const char *bname, const char *cname)
{
	size_t i;

	fprintf(out, "Process %lld: ", (long long)cur->pid);
	ht_fputs_escaped(out, cur->exe ? cur->exe : "");
	putc('\n', out);
	if (base)
		fprintf(out, "  %-28s %14s %14s %14s\n", "", bname, cname, "change");
	counts(out, base, cur);
	ht_stats_memory(out, base, cur);
	line(out, "events not recorded", base, 1, base ? (double)dropped(base) : 0, 1,
	     (double)dropped(cur), COUNT);
	{
		double gap, age;

		if (stale(base, &age))
			fprintf(out, "\nThe base's allocator figures are %.1f s %s than the base "
				"snapshot.\n", fabs(age), age > 0 ? "older" : "newer");
		if (stale(cur, &age))
			fprintf(out, "\nThe allocator's figures (glibc:, jemalloc:, heaptrace arena:) are "
				"%.1f s %s than\nthe snapshot: the shim reads them at its next sampled "
				"allocation when a\nsnapshot is taken, and the program made none in "
				"between. RSS minus heap\nin use is left out.\n", fabs(age),
				age > 0 ? "older" : "newer");
		else if (ht_snapshot_metric(cur, "allocator.stats_age_seconds", &age))
			fprintf(out, "\nThe allocator's figures were read %.1f s before the snapshot "
				"(the shim reads them\nat its next sampled allocation when a "
				"snapshot is taken, and at exit).\n", age);
		if (!stale(cur, &age) && ht_snapshot_metric(cur, "process.rss_minus_heap_bytes", &gap) && gap > 0)
			fprintf(out, "\nRSS minus heap in use is memory the process holds but the "
				"program does not use\n(allocator caches and fragmentation, "
				"stacks, code, other mappings).\n");
	}
	ht_trim_note(out, base, cur);
	if (base && ht_snapshot_live_objects(base) < 0) {
		fprintf(out, "\n");
		ht_stats_negative_note(out, "base: ", base);
	}
	if (ht_snapshot_live_objects(cur) < 0) {
		fprintf(out, "\n");
		ht_stats_negative_note(out, base ? "current: " : "", cur);
	}
	fprintf(out, "\nMetrics:\n");
	for (i = 0; i < cur->nmetrics; i++) {
		double v = cur->metrics[i].value;

		if (!strcmp(cur->metrics[i].name, "heap.live_objects"))
			v = (double)ht_snapshot_live_objects(cur); /* see counts() */
		fputs("  ", out);
		ht_fputs_escaped(out, cur->metrics[i].name);
		fprintf(out, " %.17g\n", v);
	}
	return ferror(out) ? -1 : 0;
}
