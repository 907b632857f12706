/* --format json: the numbers of a report or a diff for scripts. The same
 * rows as the text table (sorted by flat, cut by --top, all by default),
 * each with the ends of its 95% interval, and the facts of the header. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_int.h"
#include "report/render.h"

/* A string as JSON: quotes, backslashes and control characters escaped;
 * bytes that are not UTF-8 become U+FFFD. NULL is written as null. */
static void jstr(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", out);
		return;
	}
	putc('"', out);
	while (*p) {
		unsigned c = *p, n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 :
				    (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 4;
		unsigned k;

		if (c == '"' || c == '\\') {
			fprintf(out, "\\%c", c);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
		} else if (n == 0) {
			putc((int)c, out);
		} else {
			for (k = 1; k <= n && n < 4 && (p[k] & 0xc0) == 0x80; k++)
				;
			if (n == 4 || k <= n || (c == 0xc0 || c == 0xc1)) {
				fputs("\\ufffd", out);
			} else {
				fwrite(p, 1, n + 1, out);
				p += n;
			}
		}
		p++;
	}
	putc('"', out);
}

/* A number: integers as such, the rest with enough digits; non-finite
 * numbers (never expected) as null. */
static void jnum(FILE *out, double v)
{
	if (!isfinite(v))
		fputs("null", out);
	else if (v == floor(v) && fabs(v) < 9e15)
		fprintf(out, "%.0f", v == 0 ? 0 : v);
	else
		fprintf(out, "%.6g", v);
}

static const char *state(const struct ht_snapshot *s)
{
	if (s->flags & HT_SNAP_CUT_SHORT)
		return "cut short";
	return s->flags & HT_SNAP_FINAL ? "final" : "running";
}

static void snapshot_obj(FILE *out, const char *role, const char *label,
			 const struct ht_snapshot *s)
{
	const struct ht_counts *c = &s->counts;

	fprintf(out, "    {\"role\": \"%s\", \"file\": ", role);
	jstr(out, label);
	fprintf(out, ", \"pid\": %" PRId64 ", \"exe\": ", s->pid);
	jstr(out, s->exe);
	fprintf(out, ", \"command\": ");
	jstr(out, s->cmdline);
	fprintf(out, ",\n     \"snapshot\": ");
	if (s->flags & HT_SNAP_PEAK)
		fputs("\"peak\"", out);
	else if (!s->seq && (s->flags & HT_SNAP_FINAL))
		fputs("\"final\"", out);
	else
		fprintf(out, "%" PRIu32, s->seq);
	fprintf(out, ", \"time_ns\": %" PRId64 ", \"start_time_ns\": %" PRId64
		", \"state\": \"%s\", \"rate\": %" PRIu64 ", \"exact\": %s,\n",
		s->time_ns, s->start_time_ns, state(s), s->rate, ht_report_exact(s) ? "true" : "false");
	fprintf(out, "     \"calls\": {\"allocs\": %" PRIu64 ", \"frees\": %" PRIu64
		", \"live\": %" PRId64 ", \"reallocs\": %" PRIu64 ", \"bytes_requested\": %" PRIu64 "},\n",
		c->alloc_calls, c->free_calls, (int64_t)(c->alloc_calls - c->free_calls),
		c->realloc_calls, c->alloc_bytes);
	fprintf(out, "     \"dropped\": {\"alloc_events\": %" PRIu64 ", \"free_events\": %" PRIu64
		", \"other_events\": %" PRIu64 ", \"arena_full\": %" PRIu64 ", \"unmatched\": %" PRIu64 "}}",
		s->drops.alloc_events, s->drops.free_events, s->drops.other_events,
		s->drops.arena_full, s->drops.unmatched);
}

/* "KEY": v, "KEY_lo": lo, "KEY_hi": hi for a figure v with error e. */
static void figure(FILE *out, const char *key, double v, const struct ht_err *e)
{
	double lo, hi;

	ht_err_bounds(e, v, &lo, &hi);
	fprintf(out, "\"%s\": ", key);
	jnum(out, ht_report_rounded(v));
	fprintf(out, ", \"%s_lo\": ", key);
	jnum(out, ht_report_rounded(lo));
	fprintf(out, ", \"%s_hi\": ", key);
	jnum(out, ht_report_rounded(hi));
}

/* "hidden": the functions --hide took out of the stacks, sorted. */
static void hidden(FILE *out, const struct ht_report_stacks *a)
{
	const char **names;
	size_t n = ht_hide_names(&a->hide, &names);

	fputs(",\n  \"hidden\": [", out);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : "", out);
		jstr(out, names[i]);
	}
	fputs("]", out);
	free(names);
}

void ht_json_write(FILE *out, const struct ht_report_stacks *a, const struct ht_snapshot *base,
		   const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	int bytes = ht_report_is_bytes(o->index);
	int sampled = !ht_report_exact(cur) || (base && !ht_report_exact(base));
	struct ht_report_row *rows;
	struct ht_err e;
	double total, t, x, xb;
	uint64_t rate = cur->rate;
	size_t n;

	if (base && !ht_report_exact(base) && (ht_report_exact(cur) || base->rate > rate))
		rate = base->rate;
	fprintf(out, "{\n  \"format\": \"heaptrace-report/1\",\n  \"type\": \"%s\", \"unit\": \"%s\", "
		"\"diff\": %s,\n  \"snapshots\": [\n", ht_report_index_name(o->index),
		bytes ? "bytes" : "count", base ? "true" : "false");
	if (base) {
		snapshot_obj(out, "base", o->base_label, base);
		fputs(",\n", out);
	}
	snapshot_obj(out, "current", o->cur_label, cur);
	fputs("\n  ],\n  \"detection_limit_bytes\": ", out);
	jnum(out, sampled ? round(ht_detection_limit(rate)) : 0);
	hidden(out, a);

	ht_report_total_err(a, o->index, &e);
	t = ht_report_snapshot_total(cur, o->index) -
	    (base ? ht_report_snapshot_total(base, o->index) : 0);
	fputs(",\n  \"total\": {", out);
	figure(out, "value", t, &e);
	if (base) {
		fputs(", \"base\": ", out);
		jnum(out, ht_report_rounded(ht_report_snapshot_total(base, o->index)));
		fputs(", \"current\": ", out);
		jnum(out, ht_report_rounded(ht_report_snapshot_total(cur, o->index)));
		fprintf(out, ", \"noise\": %s", ht_err_within(ht_report_rounded(t), &e) ? "true" : "false");
	}
	fputs(", \"exact\": ", out);
	if (ht_report_exact_total(cur, o->index, &x) &&
	    (!base || ht_report_exact_total(base, o->index, &xb)))
		jnum(out, base ? x - xb : x);
	else
		fputs("null", out);
	fputs("},\n  \"rows\": [", out);

	n = ht_report_rows(a, o, &rows, &total);
	for (size_t i = 0; i < n; i++) {
		const struct ht_report_row *r = &rows[i];

		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", out);
		jstr(out, ht_report_stacks_name(a, r->id));
		fputs(", ", out);
		figure(out, "flat", r->flat, &r->flat_err);
		fputs(", ", out);
		figure(out, "cum", r->cum, &r->cum_err);
		if (base)
			fprintf(out, ", \"noise\": %s", r->flat != 0 &&
				ht_err_within(ht_report_rounded(r->flat), &r->flat_err) ? "true" : "false");
		putc('}', out);
	}
	fputs(n ? "\n  ]\n}\n" : "]\n}\n", out);
	free(rows);
}
