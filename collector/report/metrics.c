/* Prometheus metrics: the figures of --stats for one snapshot in the text
 * exposition format 0.0.4, labelled with the process's pid and program,
 * and the in-use bytes of its largest stacks as one gauge labelled by
 * stack (a bounded number of them). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/render.h"
#include "report/report_int.h"
#include "lib/util.h"

/* A label value: backslash, double quote and newline escaped as the
 * format asks; other control characters and bytes that are not UTF-8
 * become '?', so that the value is valid UTF-8. */
static void label_value(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		unsigned c = *p, n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 :
				    (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 4;
		unsigned k;

		if (c == '\\' || c == '"')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c < 0x20 || c == 0x7f)
			putc('?', out);
		else if (n == 0)
			putc((int)c, out);
		else {
			for (k = 1; k <= n && n < 4 && (p[k] & 0xc0) == 0x80; k++)
				;
			if (n == 4 || k <= n || c == 0xc0 || c == 0xc1) {
				putc('?', out);
			} else {
				fwrite(p, 1, n + 1, out);
				p += n;
			}
		}
		p++;
	}
}

struct mw {
	FILE *out;
	const struct ht_snapshot *s;
};

/* The labels every sample carries, without braces. */
static void labels(struct mw *w)
{
	fprintf(w->out, "pid=\"%" PRId64 "\",exe=\"", w->s->pid);
	label_value(w->out, w->s->exe);
	putc('"', w->out);
}

static void head(struct mw *w, const char *name, const char *type, const char *help)
{
	fprintf(w->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct mw *w, const char *name, double v)
{
	fprintf(w->out, "%s{", name);
	labels(w);
	fprintf(w->out, "} %.17g\n", v == 0 ? 0 : v);
}

static void one(struct mw *w, const char *name, const char *type, const char *help, double v)
{
	head(w, name, type, help);
	sample(w, name, v);
}

/* The snapshot's metrics shown as gauges, as --stats shows them. */
static const struct {
	const char *metric, *name, *help;
} gauges[] = {
	{ "process.rss_bytes", "heaptrace_process_rss_bytes", "Resident set size of the process." },
	{ "process.rss_peak_bytes", "heaptrace_process_rss_peak_bytes",
	  "Peak resident set size of the process." },
	{ "glibc.in_use_bytes", "heaptrace_glibc_in_use_bytes",
	  "glibc malloc: bytes in use (mallinfo2 uordblks + hblkhd)." },
	{ "glibc.free_bytes", "heaptrace_glibc_free_bytes", "glibc malloc: free bytes in arenas." },
	{ "glibc.arena_bytes", "heaptrace_glibc_arena_bytes", "glibc malloc: arena bytes (sbrk)." },
	{ "glibc.mmap_bytes", "heaptrace_glibc_mmap_bytes", "glibc malloc: mmapped blocks." },
	{ "glibc.releasable_bytes", "heaptrace_glibc_releasable_bytes",
	  "glibc malloc: bytes releasable by malloc_trim." },
	{ "jemalloc.allocated_bytes", "heaptrace_jemalloc_allocated_bytes", "jemalloc stats.allocated." },
	{ "jemalloc.active_bytes", "heaptrace_jemalloc_active_bytes", "jemalloc stats.active." },
	{ "jemalloc.resident_bytes", "heaptrace_jemalloc_resident_bytes", "jemalloc stats.resident." },
	{ "jemalloc.retained_bytes", "heaptrace_jemalloc_retained_bytes", "jemalloc stats.retained." },
	{ "jemalloc.mapped_bytes", "heaptrace_jemalloc_mapped_bytes", "jemalloc stats.mapped." },
	{ "jemalloc.metadata_bytes", "heaptrace_jemalloc_metadata_bytes", "jemalloc stats.metadata." },
	{ "heaptrace.arena_live_bytes", "heaptrace_arena_live_bytes",
	  "Bytes of sampled blocks live in heaptrace's own arena." },
	{ "heaptrace.arena_committed_bytes", "heaptrace_arena_committed_bytes",
	  "Bytes committed by heaptrace's own arena." },
};

/* The snapshot's metrics shown as counters: the collector's pushes to a
 * backend (HEAPTRACE_PUSH), present while it pushes. */
static const struct {
	const char *metric, *name, *help;
} counters[] = {
	{ "push.sent_total", "heaptrace_push_sent_total", "Profiles pushed to the backend." },
	{ "push.failed_total", "heaptrace_push_failed_total",
	  "Pushes to the backend that failed after their tries." },
	{ "push.skipped_total", "heaptrace_push_skipped_total",
	  "Pushes skipped because the one before was still on its way." },
};

/* The allocator's figures are read at a sampled allocation: a gap between
 * RSS and a stale heap figure means nothing (see stats.c). */
static int allocator_stale(const struct ht_snapshot *s)
{
	double age;

	return ht_snapshot_metric(s, "allocator.stats_age_seconds", &age) && fabs(age) > 1.0;
}

static void figures(struct mw *w)
{
	const struct ht_snapshot *s = w->s;
	const struct ht_counts *c = &s->counts;
	const struct ht_drops *d = &s->drops;
	double v;

	one(w, "heaptrace_live_objects", "gauge", "Objects allocated and not yet freed (exact).",
	    (double)ht_snapshot_live_objects(s));
	one(w, "heaptrace_alloc_calls_total", "counter",
	    "Allocation calls (malloc, calloc, new, ...), exact.", (double)c->alloc_calls);
	one(w, "heaptrace_free_calls_total", "counter", "Free calls, exact.", (double)c->free_calls);
	one(w, "heaptrace_realloc_calls_total", "counter", "Realloc calls, exact.",
	    (double)c->realloc_calls);
	one(w, "heaptrace_requested_bytes_total", "counter",
	    "Bytes requested by allocation calls, exact.", (double)c->alloc_bytes);
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		if (ht_snapshot_metric(s, gauges[i].metric, &v))
			one(w, gauges[i].name, "gauge", gauges[i].help, v);
	if (!allocator_stale(s) && ht_snapshot_metric(s, "process.rss_minus_heap_bytes", &v))
		one(w, "heaptrace_process_rss_minus_heap_bytes", "gauge",
		    "RSS minus the heap in use by the allocator's count.", v);
	one(w, "heaptrace_events_not_recorded_total", "counter",
	    "Allocation events heaptrace could not record (ring full, arena full, unmatched).",
	    (double)(d->alloc_events + d->free_events + d->other_events + d->arena_full +
		     d->unmatched));
	one(w, "heaptrace_sampling_rate_bytes", "gauge",
	    "Mean bytes between samples (1: every allocation recorded).", (double)s->rate);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		if (ht_snapshot_metric(s, counters[i].metric, &v))
			one(w, counters[i].name, "counter", counters[i].help, v);
}

/* The in-use estimate and its 95% interval, as the report's total. */
static void inuse(struct mw *w, const struct ht_report_stacks *a)
{
	struct ht_err e;
	double t = ht_report_snapshot_total(w->s, HT_INUSE_SPACE), lo, hi;

	ht_report_total_err(a, HT_INUSE_SPACE, &e);
	ht_err_bounds(&e, t, &lo, &hi);
	one(w, "heaptrace_heap_inuse_bytes", "gauge",
	    "Heap bytes in use, estimated from the sampled stacks.", t);
	one(w, "heaptrace_heap_inuse_lower_bytes", "gauge",
	    "Lower end of the 95% interval of heaptrace_heap_inuse_bytes.", lo);
	one(w, "heaptrace_heap_inuse_upper_bytes", "gauge",
	    "Upper end of the 95% interval of heaptrace_heap_inuse_bytes.", hi);
}

/* The longest stack label written, in bytes; the frames that do not fit
 * are left out, and the label says so with a hash of the whole stack's
 * names, so that two stacks that differ only there stay two series. */
#define STACK_LABEL_MAX 1000

/* Stack i's label into buf: frame names leaf first, joined by " < "
 * ("called from"). */
static void stack_label(const struct ht_report_stacks *a, size_t i, char *buf, size_t cap)
{
	size_t n, len = 0;
	const uint32_t *ids = ht_report_stacks_frames(a, i, &n);

	buf[0] = 0;
	for (size_t k = 0; k < n; k++) {
		const char *name = ht_report_stacks_name(a, ids[k]);
		size_t need = strlen(name) + (k ? 3 : 0);

		if (len + need + 20 >= cap) {
			uint64_t h = 1469598103934665603ull;

			for (size_t j = 0; j < n; j++)
				for (const char *c = ht_report_stacks_name(a, ids[j]); ; c++) {
					h = (h ^ (unsigned char)*c) * 1099511628211ull;
					if (!*c)
						break;
				}
			snprintf(buf + len, cap - len, " < ... [%08x]", (unsigned)(h ^ h >> 32));
			return;
		}
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? " < " : "", name);
	}
}

struct ranked {
	size_t i;
	double v;
};

static int by_value(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;

	return a->v < b->v ? 1 : a->v > b->v ? -1 : (a->i > b->i) - (a->i < b->i);
}

static void top_stacks(struct mw *w, const struct ht_report_stacks *a, size_t top)
{
	size_t n = ht_report_stacks_count(a), m = 0;
	struct ranked *r = ht_xmalloc((n + 1) * sizeof(*r));
	char label[STACK_LABEL_MAX + 1];

	for (size_t i = 0; i < n; i++) {
		double v = ht_report_stacks_value(a, i, HT_INUSE_SPACE);

		if (v > 0)
			r[m++] = (struct ranked){ i, v };
	}
	qsort(r, m, sizeof(*r), by_value);
	head(w, "heaptrace_stack_inuse_bytes", "gauge",
	     "Heap bytes in use at one of the largest stacks (frames leaf first, by function).");
	for (size_t k = 0; k < m && k < top; k++) {
		stack_label(a, r[k].i, label, sizeof(label));
		fprintf(w->out, "heaptrace_stack_inuse_bytes{");
		labels(w);
		fputs(",stack=\"", w->out);
		label_value(w->out, label);
		fprintf(w->out, "\"} %.17g\n", r[k].v);
	}
	free(r);
}

int ht_metrics_write(FILE *out, const struct ht_snapshot *s, size_t top)
{
	struct ht_report_opts o;
	struct ht_report_stacks *a;
	struct mw w = { out, s };
	char err[256];

	ht_report_opts_init(&o);
	o.naming.granularity = HT_GRAN_FUNCTIONS; /* a label that survives a rebuild */
	a = ht_report_aggregate(NULL, s, &o, err, sizeof(err));
	if (!a)
		return -1;
	inuse(&w, a);
	figures(&w);
	top_stacks(&w, a, top);
	ht_report_stacks_free(a);
	return ferror(out) ? -1 : 0;
}
