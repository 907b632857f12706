/* The header of the text formats: the snapshots a report shows (one line
 * each, or their whole provenance), the warnings a reader must not miss,
 * the total with its sampling error and the detection limit. */
#include "report/report_int.h"
#include "report/stats.h"
#include "lib/util.h"

#include <inttypes.h>
#include <string.h>

/* Traced from an attach (heaptrace -p), and stopped then (detached)? */
static int attached(const struct ht_snapshot *s, int *detached)
{
	double v = 0;

	*detached = ht_snapshot_metric(s, "attach.detached", &v) && v > 0;
	return ht_snapshot_metric(s, "attach.time_seconds", &v);
}

/* ", taken TIME, Ns after start" of s, as far as it knows them. */
static void write_when(FILE *out, const struct ht_snapshot *s)
{
	char t[64];
	int det;

	if (!s->time_ns)
		return;
	ht_report_fmt_time(s->time_ns, t, sizeof(t));
	fprintf(out, ", taken %s", t);
	if (s->start_time_ns && s->time_ns >= s->start_time_ns)
		fprintf(out, ", %.1fs after %s", (double)(s->time_ns - s->start_time_ns) / 1e9,
			attached(s, &det) ? "the attach" : "start");
}

/* Lines a reader must not miss: "<lead>warning: <what>N ...". */
void ht_report_write_warnings(FILE *out, const char *lead, const char *what,
			      const struct ht_snapshot *s)
{
	const struct ht_drops *d = &s->drops;
	/* each count of dropped events, and what it means for the figures */
	const uint64_t n[] = { d->alloc_events, d->free_events, d->arena_full,
			       d->other_events, d->unmatched };
	static const char *const means[] = {
		"sampled events were dropped; figures are low",
		"frees of sampled blocks were dropped; in-use figures are high",
		"sampled allocations went unrecorded (sample arena full); figures are low",
		"module or control events were dropped; some frames may be unnamed",
		"events did not match a live block; figures may be off",
	};

	if (s->flags & HT_SNAP_UNTRACED)
		fprintf(out, "%swarning: %s%s\n", lead, what,
			s->note && *s->note ? s->note : "the program's malloc was not the "
			"shim's: nothing was traced");
	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		if (n[i])
			fprintf(out, "%swarning: %s%" PRIu64 " %s\n", lead, what, n[i], means[i]);
}

/* "LEAD" and a name from outside (a file name, a program's) on one line. */
static void labelled(FILE *out, const char *lead, const char *name)
{
	fputs(lead, out);
	ht_fputs_escaped(out, name);
	putc('\n', out);
}

void ht_report_write_snapshot_info(FILE *out, const char *ind, const struct ht_snapshot *s)
{
	const struct ht_counts *c = &s->counts;
	char b1[64], b2[64];
	int det;

	if (ht_report_str(s->exe)[0]) {
		fputs(ind, out);
		labelled(out, "Exe: ", s->exe);
	}
	if (ht_report_str(s->cmdline)[0]) {
		fputs(ind, out);
		labelled(out, "Command: ", s->cmdline);
	}
	fprintf(out, "%sPID: %" PRId64 "\n", ind, s->pid);

	if (s->flags & HT_SNAP_PEAK)
		fprintf(out, "%sSnapshot: peak", ind);
	else if (!s->seq && !(s->flags & HT_SNAP_FINAL))
		fprintf(out, "%sSnapshot: unnumbered (over HTTP or --metrics)", ind);
	else if (s->seq || !(s->flags & HT_SNAP_FINAL))
		fprintf(out, "%sSnapshot: %" PRIu32, ind, s->seq);
	else
		fprintf(out, "%sSnapshot: final", ind);
	write_when(out, s);
	fprintf(out, "\n");
	if (s->flags & HT_SNAP_CUT_SHORT)
		fprintf(out, "%sState: cut short (the program ended without a clean exit)\n", ind);
	else if (attached(s, &det) && det)
		fprintf(out, "%sState: detached (heaptrace -p stopped; the program runs on)\n", ind);
	else if (s->flags & HT_SNAP_FINAL)
		fprintf(out, "%sState: final (the program exited)\n", ind);
	else
		fprintf(out, "%sState: running\n", ind);

	if (ht_report_exact(s))
		fprintf(out, "%sSampling: every allocation (figures are exact)\n", ind);
	else
		fprintf(out, "%sSampling: one sample per %s allocated on average "
			"(figures are estimates)\n", ind,
			ht_fmt_bytes((double)s->rate, b1, sizeof(b1)));
	fprintf(out, "%sCalls: %" PRIu64 " allocs, %" PRIu64 " frees, %" PRId64
		" live, %" PRIu64 " reallocs, %s requested (exact)\n", ind,
		c->alloc_calls, c->free_calls,
		ht_snapshot_live_objects(s), c->realloc_calls,
		ht_fmt_bytes((double)c->alloc_bytes, b2, sizeof(b2)));
	ht_stats_negative_note(out, ind, s);
	ht_stats_summary(out, ind, s);
	ht_report_write_warnings(out, ind, "", s);
}

void ht_report_write_provenance(FILE *out, const struct ht_snapshot *base,
				const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	if (!base) {
		if (o->cur_label)
			labelled(out, "File: ", o->cur_label);
		ht_report_write_snapshot_info(out, "", cur);
		return;
	}
	labelled(out, "Base: ", o->base_label ? o->base_label : "(base)");
	ht_report_write_snapshot_info(out, "  ", base);
	labelled(out, "Current: ", o->cur_label ? o->cur_label : "(current)");
	ht_report_write_snapshot_info(out, "  ", cur);
}

static void write_filters(FILE *out, const struct ht_report_stacks *a,
			  const struct ht_report_opts *o)
{
	ht_hide_write_line(out, "", &a->hide);
	ht_hide_filter_note(out, &a->hide, "--focus", o->focus);
	ht_hide_filter_note(out, &a->hide, "--ignore", o->ignore);
	ht_hide_filter_note(out, &a->hide, "--peek", o->peek);
	if (!o->focus && !o->ignore)
		return;
	fprintf(out, "Active filters:");
	if (o->focus)
		fprintf(out, " focus=%s", o->focus);
	if (o->ignore)
		fprintf(out, " ignore=%s", o->ignore);
	fprintf(out, "\n");
}

/* What a sampled report can and cannot see: its total with the total's
 * interval, reconciled with the exact count beside it, and the detection
 * limit of its rate (sampling.h). Nothing for exact snapshots. */
static void write_sampling(FILE *out, const struct ht_report_stacks *a,
			   const struct ht_snapshot *base, const struct ht_snapshot *cur,
			   const struct ht_report_opts *o)
{
	char b1[64], b2[64], b3[64], b4[64];
	const char *idx = ht_report_index_name(o->index);
	int inuse = o->index == HT_INUSE_SPACE || o->index == HT_INUSE_OBJECTS;
	struct ht_err e;
	double t, x, xb, lo, hi;
	uint64_t rate;

	ht_report_total_err(a, o->index, &e);
	t = ht_report_snapshot_total(cur, o->index) - (base ? ht_report_snapshot_total(base, o->index) : 0);
	if (base) {
		fprintf(out, "Total: base %s, current %s, change %s",
			ht_report_fmt_figure(ht_report_snapshot_total(base, o->index), o, 0, b1, sizeof(b1)),
			ht_report_fmt_figure(ht_report_snapshot_total(cur, o->index), o, 0, b2, sizeof(b2)),
			ht_report_fmt_figure(t, o, 1, b3, sizeof(b3)));
		if (!ht_report_exact(base) || !ht_report_exact(cur))
			fprintf(out, " %s%s", ht_report_fmt_interval(&e, o->index, o->unit, b4, sizeof(b4)),
				ht_err_within(ht_report_rounded(t), &e) ? " (within sampling noise)" : "");
		fprintf(out, "\n");
		if ((!ht_report_exact(base) || !ht_report_exact(cur)) &&
		    ht_report_exact_total(cur, o->index, &x) && ht_report_exact_total(base, o->index, &xb))
			fprintf(out, "Exact change: %s %s (the call counts)\n",
				ht_report_fmt_figure(x - xb, o, 1, b1, sizeof(b1)), idx);
	} else if (!ht_report_exact(cur)) {
		ht_err_bounds(&e, t, &lo, &hi);
		fprintf(out, "Total: %s %s (95%% interval %s to %s)", ht_report_fmt_figure(t, o, 0, b1, sizeof(b1)),
			ht_report_fmt_interval(&e, o->index, o->unit, b2, sizeof(b2)),
			ht_report_fmt_figure(lo, o, 0, b3, sizeof(b3)), ht_report_fmt_figure(hi, o, 0, b4, sizeof(b4)));
		if (ht_report_exact_total(cur, o->index, &x)) {
			fprintf(out, "; exact %s (the call counts)", ht_report_fmt_figure(x, o, 0, b1, sizeof(b1)));
			if (ht_report_rounded(x) < lo || ht_report_rounded(x) > hi)
				fprintf(out, ", %s of it in no stack shown",
					ht_report_fmt_figure(x - t, o, 1, b2, sizeof(b2)));
		}
		fprintf(out, "\n");
	}
	rate = cur->rate;
	if (base && !ht_report_exact(base) && (ht_report_exact(cur) || base->rate > cur->rate))
		rate = base->rate;
	if (ht_report_exact(cur) && (!base || ht_report_exact(base)))
		return;
	fprintf(out, "Detection limit: a stack %s less than %s has a 5%% chance or more "
		"of no sample, and is then not listed\n", inuse ? "holding" : "that allocated",
		ht_fmt_bytes(ht_detection_limit(rate), b1, sizeof(b1)));
}

/* The compact header's line for one snapshot: "<lead>FILE (EXE, pid N),
 * KIND, taken TIME, Ns after start, STATE", then its warnings and notes,
 * one line each, after ind. */
static void write_snapshot_line(FILE *out, const char *lead, const char *ind,
				const char *label, const struct ht_snapshot *s)
{
	int det;

	/* the label and the executable's name are data: escaped */
	fputs(lead, out);
	ht_fputs_escaped(out, label ? label : "-");
	fputs(" (", out);
	ht_fputs_escaped(out, ht_report_str(s->exe)[0] ? ht_report_base_name(s->exe) : "unknown executable");
	fprintf(out, ", pid %" PRId64 "), ", s->pid);
	if (s->flags & HT_SNAP_PEAK)
		fprintf(out, "peak snapshot");
	else if (!s->seq && !(s->flags & HT_SNAP_FINAL))
		fprintf(out, "unnumbered snapshot");
	else if (s->seq || !(s->flags & HT_SNAP_FINAL))
		fprintf(out, "snapshot %" PRIu32, s->seq);
	else
		fprintf(out, "final snapshot");
	write_when(out, s);
	if (s->flags & HT_SNAP_CUT_SHORT)
		fprintf(out, ", cut short (no clean exit)\n");
	else if (attached(s, &det) && det)
		fprintf(out, ", detached\n");
	else if (s->flags & HT_SNAP_FINAL)
		fprintf(out, ", exited\n");
	else
		fprintf(out, ", running\n");
	ht_report_write_warnings(out, ind, "", s);
	ht_stats_negative_note(out, ind, s);
}

void ht_report_reversed_warning(FILE *out, const char *lead, const struct ht_snapshot *base,
				const struct ht_snapshot *cur)
{
	if (ht_report_same_process(base, cur) && base->time_ns > cur->time_ns)
		fprintf(out, "%swarning: the base was taken %.1fs after the current snapshot "
			"(same process, pid %" PRId64 "): the change runs backwards in time\n",
			lead, (double)(base->time_ns - cur->time_ns) / 1e9, cur->pid);
}

/* "every allocation (exact)" or "one sample per 512.00kB (estimates)". */
static const char *sampling(const struct ht_snapshot *s, char *buf, size_t len)
{
	char b[48];

	if (ht_report_exact(s))
		snprintf(buf, len, "every allocation recorded (exact)");
	else
		snprintf(buf, len, "one sample per %s allocated (estimates)",
			 ht_fmt_bytes((double)s->rate, b, sizeof(b)));
	return buf;
}

/* The table starts within a dozen lines unless --verbose asks for more. */
void ht_report_write_header(FILE *out, const struct ht_report_stacks *a,
			    const struct ht_snapshot *base,
			    const struct ht_snapshot *cur, const struct ht_report_opts *o)
{
	const char *idx = ht_report_index_name(o->index);
	char s1[96], s2[96];

	if (!base && o->verbose) {
		ht_report_write_provenance(out, NULL, cur, o);
		fprintf(out, "Type: %s\n", idx);
		write_filters(out, a, o);
		write_sampling(out, a, NULL, cur, o);
		return;
	}
	if (!base) {
		write_snapshot_line(out, "File: ", "", o->cur_label, cur);
		ht_stats_summary(out, "", cur);
		fprintf(out, "Type: %s; %s\n", idx, sampling(cur, s1, sizeof(s1)));
		ht_report_write_temp_note(out, o);
		write_filters(out, a, o);
		write_sampling(out, a, NULL, cur, o);
		return;
	}
	if (o->verbose) {
		ht_report_write_provenance(out, base, cur, o);
	} else {
		write_snapshot_line(out, "Base: ", "  ", o->base_label, base);
		write_snapshot_line(out, "Current: ", "  ", o->cur_label, cur);
	}
	if (strcmp(ht_report_str(base->exe), ht_report_str(cur->exe)) != 0)
		fprintf(out, "note: base and current come from different executables\n");
	ht_report_reversed_warning(out, "", base, cur);
	if (o->verbose)
		fprintf(out, "Type: %s, current minus base\n", idx);
	else if (!strcmp(sampling(base, s1, sizeof(s1)), sampling(cur, s2, sizeof(s2))))
		fprintf(out, "Type: %s, current minus base; %s\n", idx, s1);
	else
		fprintf(out, "Type: %s, current minus base; base %s, current %s\n", idx, s1, s2);
	ht_report_write_temp_note(out, o);
	write_filters(out, a, o);
	write_sampling(out, a, base, cur, o);
}

void ht_report_write_view_header(FILE *out, const struct ht_report_stacks *a,
				 const struct ht_snapshot *cur,
				 const struct ht_report_opts *o, const char *what)
{
	char s1[96];

	write_snapshot_line(out, "File: ", "", o->cur_label, cur);
	fprintf(out, "Type: %s; %s\n", what, sampling(cur, s1, sizeof(s1)));
	write_filters(out, a, o);
}

void ht_report_write_temp_note(FILE *out, const struct ht_report_opts *o)
{
	char b1[32], b2[32];

	if (o->index != HT_TEMP_SPACE && o->index != HT_TEMP_OBJECTS)
		return;
	if (!(o->temp_under_ns > 0)) {
		fprintf(out, "Temporary: blocks freed before their thread's next allocation\n");
		return;
	}
	fprintf(out, "Temporary: blocks freed within %s (--temporary-under %s, to the "
		"nearest bucket edge)\n",
		ht_cells_fmt_ns((double)ht_time_edge_ns(o->temp_edge), b1, sizeof(b1)),
		ht_cells_fmt_ns(o->temp_under_ns, b2, sizeof(b2)));
}

void ht_report_write_peak_note(FILE *out, const struct ht_snapshot *s, const struct ht_report_opts *o)
{
	char b[64];

	fprintf(out, "Peak: %s in use at the peak",
		ht_fmt_bytes(ht_report_snapshot_total(s, HT_INUSE_SPACE), b, sizeof(b)));
	if (s->start_time_ns && s->peak_time_ns >= s->start_time_ns)
		fprintf(out, ", %.1fs after start",
			(double)(s->peak_time_ns - s->start_time_ns) / 1e9);
	fprintf(out, "; the %s the peak%s\n",
		o->format == HT_FORMAT_TRACES ? "traces show" : "table shows",
		o->peak ? "" : " (nothing is in use at the end)");
}

