/* Unit tests of the SVG flame graphs (collector/report/flame.c): XML escaping,
 * the frames drawn (one per distinct call path, widths adding up), the
 * tooltips, the colours of a differential graph, filters. (tests/t_flame.sh
 * loads the same SVGs in a real browser.) */
#include "report/report.h"
#include "report/report_int.h"
#include "report/svg.h"
#include "snapshot/snapshot.h"
#include "tap.h"
#include "lib/util.h"

#include <math.h>
#include <stdlib.h>

/* Adds a stack given as "root;...;leaf" with inuse = alloc values; every
 * frame is a function of that name in one module, one location per name. */
static void add(struct ht_snapshot *s, const char *collapsed, double space, double objects,
		uint64_t samples)
{
	char buf[512], *save = NULL;
	uint32_t locs[32], n = 0;
	struct ht_stack st = { 0 };

	if (s->nmodules == 0) {
		struct ht_module m = { ht_snapshot_strdup(s, "/bin/app"), 0x1000, 0x100000, 0, { 0 }, 0 };

		ht_snapshot_add_module(s, &m);
	}
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
			struct ht_location l = { 0x2000 + 16 * f, 0, (uint32_t)s->nlines, 1 };

			ht_snapshot_add_function(s, &fn);
			ht_snapshot_add_line(s, &ln);
			ht_snapshot_add_location(s, &l);
		}
		locs[n++] = f; /* location f names function f */
	}
	for (uint32_t i = 0; i < n / 2; i++) { /* leaf first */
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

static struct ht_snapshot *snap(uint64_t rate)
{
	struct ht_snapshot *s = ht_snapshot_new();

	s->rate = rate;
	s->pid = 9;
	s->exe = ht_snapshot_strdup(s, "/bin/app");
	return s;
}

static char *svg(const struct ht_snapshot *base, const struct ht_snapshot *cur,
		 const struct ht_report_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (ht_report_write(f, base, cur, o))
		printf("# ht_report_write failed\n");
	fclose(f);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The frame whose tooltip starts with name: its width and fill. */
static int frame(const char *out, const char *name, double *width, char *fill, size_t len)
{
	char key[256];
	const char *p, *w, *f;

	snprintf(key, sizeof(key), "<g class=\"f\"><title>%s\n", name);
	if (!(p = strstr(out, key)) || !(w = strstr(p, "width=\"")) || !(f = strstr(p, "fill=\"")))
		return 0;
	*width = strtod(w + 7, NULL);
	snprintf(fill, len, "%.*s", (int)strcspn(f + 6, "\""), f + 6);
	return 1;
}

static void test_xml(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	static const char in[] = "a<b>&\"'\x01 caf\xc3\xa9 \xff\xc3( \xc0\xaf \xed\xa0\x80 \xf0\x9f\x94\xa5";

	ht_svg_xml(f, in, sizeof(in) - 1);
	fclose(f);
	is_str(buf, "a&lt;b&gt;&amp;&quot;&#39;? caf\xc3\xa9 ?" "?( ?? ??? \xf0\x9f\x94\xa5",
	       "xml: escapes, keeps good UTF-8, replaces bad bytes, overlong forms, surrogates");
	free(buf);
}

static void test_plain(void)
{
	struct ht_snapshot *s = snap(524288);
	struct ht_report_opts o;
	char *out, fill[64];
	double w_root = 0, w_a = 0, w_b = 0, w_leaf = 0;

	add(s, "main;a;leaf", 3000, 3, 3);
	add(s, "main;b", 1000, 1, 1);
	add(s, "main;a", 0, 0, 0);
	add(s, "main;a;a;a;leaf", 500, 1, 1);
	add(s, "main;a_function_with_a_name_far_too_long_to_fit_its_frame_in_the_graph", 2, 1, 1);
	ht_report_opts_init(&o);
	o.format = HT_FORMAT_SVG;
	out = svg(NULL, s, &o);
	ok(strncmp(out, "<?xml ", 6) == 0 && strstr(out, "</svg>\n") != NULL &&
	   count(out, "<g") == count(out, "</g>"), "plain: an SVG document, groups balanced");
	ok(strstr(out, "<script type=\"text/ecmascript\"><![CDATA[") != NULL &&
	   strstr(out, "data-ht-ready") != NULL, "plain: the script is inline");
	ok(!strstr(out, "http://") || count(out, "http://") == 1,
	   "plain: nothing loaded from elsewhere (only the SVG namespace)");
	/* all, main, a, leaf, b, a, a, leaf, long = 9 */
	is_int(count(out, "<g class=\"f\">"), 9, "plain: one frame per call path");
	ok(frame(out, "all", &w_root, fill, sizeof(fill)) && fabs(w_root - 1180) < 0.05,
	   "plain: the root spans the width");
	ok(frame(out, "a", &w_a, fill, sizeof(fill)) && frame(out, "b", &w_b, fill, sizeof(fill)) &&
	   fabs(w_a - 1180 * 3500 / 4502.0) < 0.1 && fabs(w_b - 1180 * 1000 / 4502.0) < 0.1,
	   "plain: widths in proportion to the values (a %.1f, b %.1f)", w_a, w_b);
	ok(frame(out, "leaf", &w_leaf, fill, sizeof(fill)) && strncmp(fill, "rgb(", 4) == 0,
	   "plain: a fill colour");
	ok(strstr(out, "<title>a\n3.42kB (77.74%) ±") != NULL,
	   "plain: the tooltip has the value, the share and the interval");
	ok(strstr(out, "\">a_fun") == NULL,
	   "plain: a frame too narrow for its name has no label");
	ok(strstr(out, ">main</text>") != NULL, "plain: a wide frame shows its name");
	free(out);

	o.focus = "^b$";
	out = svg(NULL, s, &o);
	is_int(count(out, "<g class=\"f\">"), 3, "focus: only the paths through b");
	ok(strstr(out, "focus=^b$") != NULL, "focus: named in the subtitle");
	free(out);

	o.focus = "nothing matches this";
	out = svg(NULL, s, &o);
	ok(strstr(out, "nothing to show") != NULL, "nothing left: says so");
	free(out);
	ht_snapshot_free(s);
}

static void test_diff(void)
{
	struct ht_snapshot *b = snap(524288), *c = snap(524288);
	struct ht_report_opts o;
	char *out, fill[64];
	double w;

	/* a leak of many small blocks: far beyond noise */
	add(b, "main;leak", 16 << 20, 16384, 32);
	add(c, "main;leak", 64 << 20, 65536, 128);
	/* a few big blocks: a change within noise */
	add(b, "main;noisy", 512 << 10, 1, 1);
	add(c, "main;noisy", 1 << 20, 2, 1);
	/* shrank, and far beyond noise */
	add(b, "main;shrink", 32 << 20, 32768, 64);
	add(c, "main;shrink", 1 << 20, 1024, 2);
	add(b, "main;same", 4 << 20, 4, 4);
	add(c, "main;same", 4 << 20, 4, 4);
	ht_report_opts_init(&o);
	o.format = HT_FORMAT_SVG;
	o.base_label = "b.heap";
	o.cur_label = "c.heap";
	out = svg(b, c, &o);
	ok(strstr(out, "differential flame graph: inuse_space, c.heap minus b.heap") != NULL,
	   "diff: titled");
	ok(frame(out, "leak", &w, fill, sizeof(fill)) && strncmp(fill, "rgb(255,", 8) == 0 &&
	   atoi(fill + 8) < 100, "diff: the leak is a strong red (%s)", fill);
	ok(frame(out, "shrink", &w, fill, sizeof(fill)) && strstr(fill, ",255)") &&
	   atoi(fill + 4) < 100, "diff: the shrinkage is a strong blue (%s)", fill);
	ok(frame(out, "noisy", &w, fill, sizeof(fill)) && strncmp(fill, "rgb(255,", 8) == 0 &&
	   atoi(fill + 8) > 180, "diff: a change within noise is pale (%s)", fill);
	ok(frame(out, "same", &w, fill, sizeof(fill)) && strcmp(fill, "rgb(215,215,215)") == 0,
	   "diff: no change is grey");
	ok(frame(out, "shrink", &w, fill, sizeof(fill)) &&
	   fabs(w - 1180.0 * 32 / (64 + 1 + 32 + 4)) < 0.1,
	   "diff: width is the larger of base and current");
	ok(strstr(out, "<title>noisy\nbase 512.00kB, current 1.00MB, change +512.00kB ±") != NULL &&
	   strstr(out, " (within sampling noise)</title>") != NULL,
	   "diff: the tooltip has both values, the change, and says when it is noise");
	free(out);
	ht_snapshot_free(b);
	ht_snapshot_free(c);
}

int main(void)
{
	ht_progname = "test_flame";
	test_xml();
	test_plain();
	test_diff();
	return done_testing();
}
