/* Unit tests of the series report (collector/series.c): the least-squares
 * fit behind the leak ranking, the table with one column per snapshot,
 * which stacks are suspects and which changes are noise, and the chart. */
#include "report/report.h"
#include "report/report_int.h"
#include "report/render.h"
#include "snapshot/snapshot.h"
#include "tap.h"
#include "lib/util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* Adds a stack "root;...;leaf" (inuse = alloc) to s, one function and one
 * location per name. */
static void add(struct ht_snapshot *s, const char *collapsed, double space, double objects,
		uint64_t samples)
{
	char buf[512], *save = NULL;
	uint32_t locs[32], n = 0;
	struct ht_stack st = { 0 };

	snprintf(buf, sizeof(buf), "%s", collapsed);
	for (char *name = strtok_r(buf, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
		uint32_t f;

		for (f = 0; f < s->nfunctions; f++)
			if (strcmp(s->functions[f].name, name) == 0)
				break;
		if (f == s->nfunctions) {
			struct ht_function fn = { ht_snapshot_strdup(s, name), ht_snapshot_strdup(s, name),
						  ht_snapshot_strdup(s, "") };
			struct ht_line ln = { f, 0 };
			struct ht_location l = { 0x2000 + 16 * f, HT_NONE, (uint32_t)s->nlines, 1 };

			ht_snapshot_add_function(s, &fn);
			ht_snapshot_add_line(s, &ln);
			ht_snapshot_add_location(s, &l);
		}
		locs[n++] = f;
	}
	for (uint32_t i = 0; i < n / 2; i++) {
		uint32_t t = locs[i];

		locs[i] = locs[n - 1 - i];
		locs[n - 1 - i] = t;
	}
	st.first_frame = ht_snapshot_add_frames(s, locs, n);
	st.nframes = n;
	st.inuse_space = st.alloc_space = space;
	st.inuse_objects = st.alloc_objects = objects;
	st.inuse_samples = st.alloc_samples = samples;
	ht_snapshot_add_stack(s, &st);
}

#define MB (1024.0 * 1024.0)

/* Step k of 1..4: a leak (beyond noise), a constant, a spike, a few big
 * blocks growing within noise, an exact-looking shrink. Rate as given. */
static struct ht_snapshot *step(int k, uint64_t rate)
{
	struct ht_snapshot *s = ht_snapshot_new();
	static const double big[] = { 0.5, 0.5, 1, 1 };

	s->rate = rate;
	s->pid = 5;
	s->seq = (uint32_t)k;
	s->exe = ht_snapshot_strdup(s, "/bin/app");
	s->start_time_ns = 1000000000000000000ll;
	s->time_ns = s->start_time_ns + k * 2000000000ll;
	add(s, "main;serve;leak", 16 * MB * k, 16384.0 * k, 32u * k);
	add(s, "main;cache", 8 * MB, 128, 15);
	add(s, "main;spike", k == 3 ? 6 * MB : 0, k == 3 ? 24 : 0, k == 3 ? 9 : 0);
	add(s, "main;noisy", big[k - 1] * MB, big[k - 1] * 2, 1);
	add(s, "main;shrink", (5 - k) * MB, (5 - k) * 1024.0, (5 - k) * 2u);
	return s;
}

static char *run(struct ht_snapshot **snaps, size_t n, const struct ht_report_opts *o)
{
	static const char *const labels[] = { "s1.heap", "s2.heap", "s3.heap", "s4.heap" };
	char *buf = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (ht_series_write(f, snaps, labels, n, o, err, sizeof(err)))
		printf("# ht_series_write: %s\n", err);
	fclose(f);
	return buf;
}

/* Lines after the one containing what, up to a blank line or the end. */
static int count_lines_after(const char *out, const char *what)
{
	const char *p = strstr(out, what);
	int n = 0;

	if (!p || !(p = strchr(p, '\n')))
		return -1;
	for (p++; *p && *p != '\n'; p = strchr(p, '\n') + 1) {
		n++;
		if (!strchr(p, '\n'))
			break;
	}
	return n;
}

static void test_fit(void)
{
	static const double line[] = { 1, 2, 3, 4 }, flat[] = { 5, 5, 5, 5 };
	static const double spike[] = { 0, 0, 6, 0 }, down[] = { 4, 3, 2, 1 };
	static const double noisy[] = { 1, 3, 2, 4 };
	double slope, r2;

	ht_series_fit(line, 4, &slope, &r2);
	ok(fabs(slope - 1) < 1e-12 && fabs(r2 - 1) < 1e-12, "fit: a straight line, slope 1, R^2 1");
	ht_series_fit(flat, 4, &slope, &r2);
	ok(slope == 0 && r2 == 0, "fit: constant, slope 0 and R^2 0");
	ht_series_fit(spike, 4, &slope, &r2);
	ok(fabs(slope - 0.6) < 1e-12 && fabs(r2 - 1 / 15.0) < 1e-12, "fit: a spike, weak (R^2 %.2f)", r2);
	ht_series_fit(down, 4, &slope, &r2);
	ok(fabs(slope + 1) < 1e-12 && fabs(r2 - 1) < 1e-12, "fit: falling, slope -1");
	ht_series_fit(noisy, 4, &slope, &r2);
	ok(fabs(slope - 0.8) < 1e-12 && fabs(r2 - 0.64) < 1e-12, "fit: noisy rise, R^2 0.64");
	ht_series_fit(line, 1, &slope, &r2);
	ok(slope == 0 && r2 == 0, "fit: one point, nothing");
}

static void test_table(void)
{
	struct ht_snapshot *s[4];
	struct ht_report_opts o;
	char *out;

	for (int k = 0; k < 4; k++)
		s[k] = step(k + 1, 524288);
	ht_report_opts_init(&o);
	out = run(s, 4, &o);
	ok(strstr(out, "Series: 4 snapshots, inuse_space\n"
		  "  #1 s1.heap: pid 5, snapshot 1, taken 2001-09-09 01:46:42 UTC, 2.0s after start\n")
	   != NULL, "table: names the snapshots");
	ok(strstr(out, "\nLargest stacks, by their peak:\n"
		  "      #1      #2      #3      #4  change   stack\n"
		  "  28.5MB  43.5MB  65.0MB  74.0MB +45.5MB   (total of all stacks)\n"
		  "  16.0MB  32.0MB  48.0MB  64.0MB +48.0MB   leak < serve < main\n"
		  "   8.0MB   8.0MB   8.0MB   8.0MB       0   cache < main\n"
		  "       0       0   6.0MB       0       0   spike < main\n"
		  "   4.0MB   3.0MB   2.0MB   1.0MB  -3.0MB~  shrink < main\n"
		  "   0.5MB   0.5MB   1.0MB   1.0MB  +0.5MB~  noisy < main\n") != NULL,
	   "table: one column per snapshot, one unit, changes within noise marked");
	ok(strstr(out, "\nLeak suspects, by steady growth (slope per snapshot x fit R^2):\n"
		  " per step   fit      #1      #2      #3      #4  stack\n"
		  "  +16.0MB  1.00  16.0MB  32.0MB  48.0MB  64.0MB  leak < serve < main\n") != NULL &&
	   count_lines_after(out, "Leak suspects") == 2,
	   "table: the leak is the one suspect; growth within noise is not");
	if (tap_failed)
		printf("# got:\n%s", out);
	free(out);

	o.top = 2;
	o.focus = "leak|noisy";
	o.index = HT_INUSE_OBJECTS;
	out = run(s, 4, &o);
	ok(strstr(out, "Active filters: focus=leak|noisy\n") != NULL, "filters: named");
	ok(strstr(out, "\n  16384  32768  49152  65536 +49152   leak < serve < main\n"
		  "      1      1      2      2     +1~  noisy < main\n\nLeak") != NULL,
	   "objects, focus, top 2: the two stacks, whole counts");
	free(out);
	for (int k = 0; k < 4; k++)
		ht_snapshot_free(s[k]);

	/* exact: every change is signal */
	for (int k = 0; k < 4; k++)
		s[k] = step(k + 1, 1);
	ht_report_opts_init(&o);
	out = run(s, 4, &o);
	ok(!strstr(out, "~") && !strstr(out, "Sampling:"), "exact: no noise marks");
	ok(strstr(out, "MB  noisy < main\n") != NULL && strstr(out, "suspect") != NULL,
	   "exact: the small growth is a suspect too");
	free(out);
	{
		char err[256];
		FILE *f = fopen("/dev/null", "w");

		ok(ht_series_write(f, s, NULL, 1, &o, err, sizeof(err)) == -1 &&
		   strstr(err, "two or more") != NULL, "one snapshot: an error");
		fclose(f);
	}
	for (int k = 0; k < 4; k++)
		ht_snapshot_free(s[k]);
}

static void test_chart(void)
{
	struct ht_snapshot *s[4];
	struct ht_report_opts o;
	char *out;

	for (int k = 0; k < 4; k++)
		s[k] = step(k + 1, 524288);
	ht_report_opts_init(&o);
	o.format = HT_FORMAT_SVG;
	out = run(s, 4, &o);
	ok(strncmp(out, "<?xml ", 6) == 0 && strstr(out, "</svg>\n") != NULL,
	   "chart: an SVG document");
	{
		int lines = 0;

		for (const char *p = out; (p = strstr(p, "<polyline")); p++)
			lines++;
		is_int(lines, 5, "chart: a line per stack with a value");
	}
	ok(strstr(out, "[suspect 1] leak &lt; serve &lt; main</text>") != NULL,
	   "chart: the legend names the suspect first");
	ok(strstr(out, "<title>leak &lt; serve &lt; main\n#1 16.0MB, #2 32.0MB, #3 48.0MB, #4 64.0MB; "
		  "leak suspect: +16.0MB per snapshot, fit 1.00</title>") != NULL,
	   "chart: hovering a line tells its values");
	ok(strstr(out, ">2.0s</text>") && strstr(out, ">8.0s</text>"),
	   "chart: the time of each snapshot");
	free(out);
	for (int k = 0; k < 4; k++)
		ht_snapshot_free(s[k]);
}

/* Values no decoded snapshot holds (the decoder refuses counters beyond
 * 2^63), but which a chart must survive: its gridlines are counted, never
 * walked by adding a step to a double. A regression dies by SIGALRM. */
static void test_chart_extremes(void)
{
	static const double vs[] = { 1.7e308, DBL_MAX, 4.9e-324, 9.2e18 };
	static const char *const labels[] = { "a.heap", "b.heap" };
	struct ht_report_opts o;

	ht_report_opts_init(&o);
	o.format = HT_FORMAT_SVG;
	for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
		struct ht_snapshot *s[2];
		FILE *null = fopen("/dev/null", "w");
		char err[256], *out;
		int grid = 0;

		for (int k = 0; k < 2; k++) {
			s[k] = ht_snapshot_new();
			add(s[k], "main;grow", vs[i] / (2 - k), 1, 1);
		}
		alarm(10);
		ht_series_write(null, s, labels, 2, &o, err, sizeof(err));
		alarm(0);
		fclose(null);
		out = run(s, 2, &o);
		for (const char *p = out; (p = strstr(p, "stroke=\"rgb(220,220,220)\"")); p++)
			grid++;
		ok(grid >= 3 && grid <= 2 + 21, "chart of a value of %g: %d gridlines", vs[i], grid);
		free(out);
		for (int k = 0; k < 2; k++)
			ht_snapshot_free(s[k]);
	}
}

int main(void)
{
	ht_progname = "test_series";
	test_fit();
	test_table();
	test_chart();
	test_chart_extremes();
	return done_testing();
}
