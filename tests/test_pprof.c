/* Unit tests of the pprof exports (collector/report/pprof.c): the profile.proto
 * written is gunzipped and decoded here, field by field, against the
 * snapshot it came from; the legacy heap_v2 text; the rounding of
 * estimates to pprof's integers. (tests/t_pprof.sh checks the same files
 * with go tool pprof.) */
#include "report/report.h"
#include "report/report_int.h"
#include "report/render.h"
#include "snapshot/snapshot.h"
#include "build.h"
#include "tap.h"
#include "lib/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <zlib.h>

/* ---- building snapshots ---- */

static void stack(struct ht_snapshot *s, double is, double io, double as, double ao, int n, ...)
{
	struct ht_stack st = { 0 };
	uint32_t locs[16];
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		locs[i] = va_arg(ap, uint32_t);
	va_end(ap);
	st.first_frame = ht_snapshot_add_frames(s, locs, (size_t)n);
	st.nframes = (uint32_t)n;
	st.inuse_space = is;
	st.inuse_objects = io;
	st.alloc_space = as;
	st.alloc_objects = ao;
	st.inuse_samples = st.alloc_samples = 3;
	ht_snapshot_add_stack(s, &st);
}

/* A run of "app": libz loaded after the executable (so the exe is not the
 * first module), an inlined call, an unsymbolized frame, a frame outside
 * any module, an empty stack, fractional estimates. shift moves every
 * address, as ASLR does in another run. */
static struct ht_snapshot *make(uint64_t shift, double scale)
{
	struct ht_snapshot *s = ht_snapshot_new();
	uint32_t libz, exe, f_main, f_work, f_inl, f_def;
	uint32_t l_main, l_work, l_def, l_raw, l_anon;

	s->pid = 77;
	s->exe = ht_snapshot_strdup(s, "/opt/app/bin/app");
	s->cmdline = ht_snapshot_strdup(s, "app -x");
	s->start_time_ns = 1700000000ll * 1000000000;
	s->time_ns = s->start_time_ns + 5000000000ll;
	s->rate = 524288;
	s->seq = 3;
	s->drops.alloc_events = 7;
	libz = module_id(s, "/lib/libz.so.1", 0x7f0000000000 + shift, 0x7f0000020000 + shift,
		      0x7f0000000000 + shift, "\x12\x34\xab");
	exe = module_id(s, "/opt/app/bin/app", 0x555500001000 + shift, 0x555500009000 + shift,
		     0x555500000000 + shift, "\xde\xad\xbe\xef");
	f_main = fn(s, "main", NULL, "/src/main.c");
	f_work = fn(s, "Work::run()", "_ZN4Work3runEv", "/src/work.cc");
	f_inl = fn(s, "helper", NULL, "/src/work.cc");
	f_def = fn(s, "deflate", NULL, "");
	l_main = loc(s, 0x555500001100 + shift, exe, 1, f_main, 10);
	l_work = loc(s, 0x555500001200 + shift, exe, 2, f_inl, 5, f_work, 40);
	l_def = loc(s, 0x7f0000001000 + shift, libz, 1, f_def, 0);
	l_raw = loc(s, 0x7f0000002000 + shift, libz, 0);
	l_anon = loc(s, 0x1234, HT_NONE, 0);
	stack(s, 1000.4 * scale, 2.2, 2000.4, 4.4, 3, l_def, l_work, l_main);
	stack(s, 3000.3 * scale, 3.3, 3000.3, 3.3, 2, l_work, l_main);
	stack(s, 50.3 * scale, 1.3, 50.3, 1.3, 3, l_raw, l_def, l_main);
	stack(s, 7, 1, 7, 1, 2, l_anon, l_main);
	stack(s, 9, 1, 9, 1, 0);
	return s;
}

/* ---- decoding ---- */

struct field {
	int num, wt;
	uint64_t v;          /* varint */
	const unsigned char *p;
	size_t n;            /* length-delimited */
};

struct msg {
	struct field *f;
	size_t n;
};

static int varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		unsigned char c = *(*p)++;

		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return -1;
}

/* Splits a message into fields; returns -1 on malformed input. */
static int decode(const unsigned char *p, size_t len, struct msg *m)
{
	const unsigned char *end = p + len;
	size_t cap = 0;

	m->f = NULL;
	m->n = 0;
	while (p < end) {
		uint64_t key, v;
		struct field f = { 0 };

		if (varint(&p, end, &key))
			return -1;
		f.num = (int)(key >> 3);
		f.wt = (int)(key & 7);
		if (f.wt == 0) {
			if (varint(&p, end, &f.v))
				return -1;
		} else if (f.wt == 2) {
			if (varint(&p, end, &v) || v > (uint64_t)(end - p))
				return -1;
			f.p = p;
			f.n = (size_t)v;
			p += v;
		} else {
			return -1;
		}
		if (m->n == cap) {
			cap = cap ? 2 * cap : 64;
			m->f = realloc(m->f, cap * sizeof(*m->f));
		}
		m->f[m->n++] = f;
	}
	return 0;
}

static uint64_t get(const struct msg *m, int num)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->f[i].num == num)
			return m->f[i].v;
	return 0;
}

/* Packed repeated varints of field num; up to max of them. */
static size_t packed(const struct msg *m, int num, uint64_t *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++) {
		const unsigned char *p = m->f[i].p, *end;

		if (m->f[i].num != num)
			continue;
		if (m->f[i].wt == 0) {
			if (k < max)
				out[k++] = m->f[i].v;
			continue;
		}
		for (end = p + m->f[i].n; p < end && k < max; )
			if (varint(&p, end, &out[k++]))
				return k - 1;
	}
	return k;
}

struct profile {
	unsigned char *raw;   /* the decoded bytes, which top points into */
	struct msg top;
	char **strings;
	size_t nstrings;
};

static int gunzip(const void *in, size_t len, unsigned char **out, size_t *outlen)
{
	z_stream z;
	size_t cap = 1 << 16;
	int rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -1;
	*out = malloc(cap);
	*outlen = 0;
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	do {
		if (*outlen == cap)
			*out = realloc(*out, cap *= 2);
		z.next_out = *out + *outlen;
		z.avail_out = (uInt)(cap - *outlen);
		rc = inflate(&z, Z_NO_FLUSH);
		*outlen = cap - z.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

static int load(struct profile *pr, const struct ht_snapshot *base, const struct ht_snapshot *cur,
		const struct ht_report_opts *o, char **gz, size_t *gzlen)
{
	char *buf = NULL, err[256];
	size_t len = 0, rawlen;
	FILE *f = open_memstream(&buf, &len);
	int rc = ht_pprof_write(f, base, cur, o, err, sizeof(err));

	fclose(f);
	if (rc) {
		printf("# ht_pprof_write: %s\n", err);
		free(buf);
		return -1;
	}
	memset(pr, 0, sizeof(*pr));
	if (gunzip(buf, len, &pr->raw, &rawlen) || decode(pr->raw, rawlen, &pr->top)) {
		free(pr->raw);
		free(pr->top.f);
		free(buf);
		return -1;
	}
	for (size_t i = 0; i < pr->top.n; i++)
		if (pr->top.f[i].num == 6) {
			pr->strings = realloc(pr->strings, (pr->nstrings + 1) * sizeof(char *));
			pr->strings[pr->nstrings++] = strndup((const char *)pr->top.f[i].p,
							      pr->top.f[i].n);
		}
	if (gz) {
		*gz = buf;
		*gzlen = len;
	} else {
		free(buf);
	}
	return 0;
}

static void unload(struct profile *pr)
{
	for (size_t i = 0; i < pr->nstrings; i++)
		free(pr->strings[i]);
	free(pr->strings);
	free(pr->top.f);
	free(pr->raw);
}

static const char *s_at(const struct profile *pr, uint64_t i)
{
	return i < pr->nstrings ? pr->strings[i] : "(bad string index)";
}

/* The sub-messages of field num of the profile, decoded. */
static size_t subs(const struct profile *pr, int num, struct msg *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < pr->top.n && k < max; i++)
		if (pr->top.f[i].num == num && decode(pr->top.f[i].p, pr->top.f[i].n, &out[k]) == 0)
			k++;
	return k;
}

static void free_subs(struct msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].f);
}

/* The value of label key in sample sm: its str (as a string) or num. */
static int label(const struct profile *pr, const struct msg *sm, const char *key,
		 const char **str, int64_t *num)
{
	for (size_t i = 0; i < sm->n; i++) {
		struct msg l;
		int found;

		if (sm->f[i].num != 3 || decode(sm->f[i].p, sm->f[i].n, &l))
			continue;
		found = strcmp(s_at(pr, get(&l, 1)), key) == 0;
		if (found) {
			if (str)
				*str = s_at(pr, get(&l, 2));
			if (num)
				*num = (int64_t)get(&l, 3);
		}
		free(l.f);
		if (found)
			return 1;
	}
	return 0;
}

/* ---- tests ---- */

static void test_profile(void)
{
	struct ht_snapshot *s = make(0, 1);
	struct ht_report_opts o;
	struct profile pr;
	struct msg st[8], maps[8], locs[16], fns[16], smp[16];
	size_t nst, nmaps, nlocs, nfns, nsmp;
	char *gz, *gz2;
	size_t gzlen, gzlen2;
	int64_t sums[4] = { 0 };
	static const char *const types[4][2] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
		{ "inuse_objects", "count" }, { "inuse_space", "bytes" },
	};
	static const enum ht_index order[4] = {
		HT_ALLOC_OBJECTS, HT_ALLOC_SPACE, HT_INUSE_OBJECTS, HT_INUSE_SPACE,
	};

	ht_report_opts_init(&o);
	if (!ok(load(&pr, NULL, s, &o, &gz, &gzlen) == 0, "profile: written, gunzipped, decoded")) {
		ht_snapshot_free(s);
		return;
	}
	ok(gzlen > 18 && (unsigned char)gz[0] == 0x1f && (unsigned char)gz[1] == 0x8b,
	   "profile: gzip magic");
	{
		struct profile pr2;

		load(&pr2, NULL, s, &o, &gz2, &gzlen2);
		ok(gzlen == gzlen2 && memcmp(gz, gz2, gzlen) == 0, "profile: the same bytes every time");
		unload(&pr2);
		free(gz2);
	}
	free(gz);
	ok(pr.nstrings > 0 && strcmp(pr.strings[0], "") == 0, "string table starts with \"\"");

	nst = subs(&pr, 1, st, 8);
	is_int(nst, 4, "four sample types");
	for (size_t i = 0; i < nst && i < 4; i++)
		ok(strcmp(s_at(&pr, get(&st[i], 1)), types[i][0]) == 0 &&
		   strcmp(s_at(&pr, get(&st[i], 2)), types[i][1]) == 0,
		   "sample type %zu: %s/%s", i, types[i][0], types[i][1]);
	free_subs(st, nst);
	is_str(s_at(&pr, get(&pr.top, 14)), "inuse_space", "default sample type inuse_space");
	nst = subs(&pr, 11, st, 1);
	ok(nst == 1 && strcmp(s_at(&pr, get(&st[0], 1)), "space") == 0 &&
	   strcmp(s_at(&pr, get(&st[0], 2)), "bytes") == 0, "period type space/bytes");
	free_subs(st, nst);
	is_int(get(&pr.top, 12), 524288, "period: the sampling rate");
	is_int(get(&pr.top, 9), s->time_ns, "time_nanos: when the snapshot was taken");
	is_int(get(&pr.top, 10), 5000000000ll, "duration_nanos: since the program started");

	nmaps = subs(&pr, 3, maps, 8);
	is_int(nmaps, 2, "two mappings");
	if (nmaps == 2) {
		is_str(s_at(&pr, get(&maps[0], 5)), "/opt/app/bin/app", "mapping[0] is the executable");
		is_int(get(&maps[0], 2), 0x555500001000, "memory_start");
		is_int(get(&maps[0], 3), 0x555500009000, "memory_limit");
		is_int(get(&maps[0], 4), 0x1000, "file_offset: start - bias");
		is_str(s_at(&pr, get(&maps[0], 6)), "deadbeef", "build id in hex");
		ok(get(&maps[0], 7) && get(&maps[0], 8) && get(&maps[0], 9) && get(&maps[0], 10),
		   "the executable: has functions, files, lines, inline frames");
		is_str(s_at(&pr, get(&maps[1], 6)), "1234ab", "libz: build id");
		ok(!get(&maps[1], 7), "libz: an unsymbolized address, so not has_functions "
		   "(pprof may symbolize it)");
	}
	free_subs(maps, nmaps);

	nfns = subs(&pr, 5, fns, 16);
	nlocs = subs(&pr, 4, locs, 16);
	is_int(nfns, 5, "functions: four, and [unknown] for the empty stack");
	is_int(nlocs, 6, "locations: five, and [unknown]");
	if (nfns >= 2) {
		is_str(s_at(&pr, get(&fns[1], 2)), "Work::run()", "function name (demangled)");
		is_str(s_at(&pr, get(&fns[1], 3)), "_ZN4Work3runEv", "system name (mangled)");
		is_str(s_at(&pr, get(&fns[1], 4)), "/src/work.cc", "function file");
	}
	if (nlocs >= 2) {
		struct msg l0, l1;
		size_t k = 0, idx[2];

		for (size_t i = 0; i < locs[1].n; i++)
			if (locs[1].f[i].num == 4 && k < 2)
				idx[k++] = i;
		is_int(k, 2, "an address in an inlined call: a location with two lines");
		if (k == 2 && decode(locs[1].f[idx[0]].p, locs[1].f[idx[0]].n, &l0) == 0 &&
		    decode(locs[1].f[idx[1]].p, locs[1].f[idx[1]].n, &l1) == 0) {
			ok(get(&l0, 1) == 3 && get(&l0, 2) == 5, "line[0]: the inlined callee, helper:5");
			ok(get(&l1, 1) == 2 && get(&l1, 2) == 40, "line[1]: its caller, Work::run:40");
			free(l0.f);
			free(l1.f);
		}
		is_int(get(&locs[1], 3), 0x555500001200, "location address");
		is_int(get(&locs[1], 2), 1, "location mapping: the executable's, id 1");
		is_int(get(&locs[4], 2), 0, "outside any module: no mapping");
	}
	free_subs(fns, nfns);
	free_subs(locs, nlocs);

	nsmp = subs(&pr, 2, smp, 16);
	is_int(nsmp, 5, "one sample per stack");
	for (size_t i = 0; i < nsmp; i++) {
		uint64_t v[8], ids[16];
		size_t nv = packed(&smp[i], 2, v, 8), nids = packed(&smp[i], 1, ids, 16);

		if (nv == 4)
			for (int k = 0; k < 4; k++)
				sums[k] += (int64_t)v[k];
		if (i == 0) {
			int64_t bytes = 0;

			ok(nv == 4, "sample: four values");
			ok(nids == 3 && ids[0] == 3 && ids[1] == 2 && ids[2] == 1,
			   "sample: location ids, leaf first");
			ok(label(&pr, &smp[i], "bytes", NULL, &bytes) && bytes == 455,
			   "sample: label bytes = the average size (2000.4 / 4.4)");
		}
		if (i == 4)
			ok(nids == 1 && ids[0] == 6, "the empty stack: the [unknown] location");
	}
	free_subs(smp, nsmp);
	for (int k = 0; k < 4; k++)
		is_int(sums[k], llround(ht_report_snapshot_total(s, order[k])),
		       "%s: the samples add up to the rounded total", types[k][0]);
	{
		int warned = 0, estimates = 0;

		for (size_t i = 0; i < pr.top.n; i++) {
			const char *c;

			if (pr.top.f[i].num != 13)
				continue;
			c = s_at(&pr, pr.top.f[i].v);
			warned |= strcmp(c, "warning: 7 sampled events were dropped; figures are low") == 0;
			estimates |= strstr(c, "unbiased estimates") != NULL;
		}
		ok(warned, "comments: the dropped events");
		ok(estimates, "comments: values are estimates");
	}
	unload(&pr);
	ht_snapshot_free(s);
}

/* A diff: the samples of cur, then those of base negated and labelled
 * pprof::base=true; base's modules reuse cur's mappings, addresses moved. */
static void test_diff(void)
{
	struct ht_snapshot *base = make(0x10000000, 0.5), *cur = make(0, 1);
	struct ht_report_opts o;
	struct profile pr;
	struct msg smp[16], maps[8], locs[16];
	size_t nsmp, nmaps, nlocs, nbase = 0;
	int64_t sum = 0, sum_base = 0;
	int labelled_negative = 1;

	ht_report_opts_init(&o);
	if (!ok(load(&pr, base, cur, &o, NULL, NULL) == 0, "diff: written and decoded"))
		goto out;
	nsmp = subs(&pr, 2, smp, 16);
	is_int(nsmp, 10, "diff: the samples of both");
	for (size_t i = 0; i < nsmp; i++) {
		uint64_t v[4];
		const char *str = NULL;
		int is_base = label(&pr, &smp[i], "pprof::base", &str, NULL);

		if (packed(&smp[i], 2, v, 4) != 4)
			continue;
		sum += (int64_t)v[3];
		if (is_base) {
			nbase++;
			sum_base += (int64_t)v[3];
			labelled_negative &= strcmp(str, "true") == 0 && (int64_t)v[3] <= 0;
		}
	}
	free_subs(smp, nsmp);
	is_int(nbase, 5, "diff: five samples labelled pprof::base");
	ok(labelled_negative, "diff: base samples are negative, label value 'true'");
	is_int(sum_base, -llround(ht_report_snapshot_total(base, HT_INUSE_SPACE)),
	       "diff: base samples add up to minus its total");
	is_int(sum, llround(ht_report_snapshot_total(cur, HT_INUSE_SPACE)) -
	       llround(ht_report_snapshot_total(base, HT_INUSE_SPACE)), "diff: all add up to the change");
	nmaps = subs(&pr, 3, maps, 8);
	is_int(nmaps, 2, "diff: base modules matched by build id reuse cur's mappings");
	free_subs(maps, nmaps);
	nlocs = subs(&pr, 4, locs, 16);
	ok(nlocs == 12 && get(&locs[6], 3) == 0x555500001100 && get(&locs[6], 2) == 1,
	   "diff: a base location moved into cur's mapping");
	free_subs(locs, nlocs);
	unload(&pr);

	/* focus: only the stacks through deflate */
	o.focus = "deflate";
	if (load(&pr, NULL, cur, &o, NULL, NULL) == 0) {
		nsmp = subs(&pr, 2, smp, 16);
		is_int(nsmp, 2, "focus: only the matching stacks are samples");
		free_subs(smp, nsmp);
		unload(&pr);
	}
	o.focus = "(";
	{
		char err[256];
		FILE *f = fopen("/dev/null", "w");

		ok(ht_pprof_write(f, NULL, cur, &o, err, sizeof(err)) == -1 &&
		   strstr(err, "invalid --focus regex") != NULL, "bad regex: an error");
		fclose(f);
	}
out:
	ht_snapshot_free(base);
	ht_snapshot_free(cur);
}

static void test_round(void)
{
	static const double v[] = { 0.4, 0.4, 0.4, 1.7, -0.2, 2.5, 1000000.49, 0.01 };
	double sum = 0, total = 0;
	int64_t emitted = 0, got = 0;
	int within = 1;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int64_t r = ht_pprof_round(v[i], &sum, &emitted);

		total += v[i];
		got += r;
		within &= fabs((double)r - v[i]) < 1;
		is_int(got, llround(total), "round: running sum %zu is the rounded running total", i);
	}
	ok(within, "round: each integer within 1 of its estimate");
	sum = 0;
	emitted = 0;
	is_int(ht_pprof_round(NAN, &sum, &emitted), 0, "round: NaN counts as 0");
}

static void test_negative_varint(void)
{
	/* a diff's negative values are 10-byte varints: decode one back */
	struct ht_snapshot *base = make(0, 1), *cur = ht_snapshot_new();
	struct ht_report_opts o;
	struct profile pr;
	struct msg smp[8];
	size_t n;

	cur->rate = 524288;
	ht_report_opts_init(&o);
	if (load(&pr, base, cur, &o, NULL, NULL) == 0) {
		uint64_t v[4] = { 0 };

		n = subs(&pr, 2, smp, 8);
		if (n == 5)
			packed(&smp[1], 2, v, 4);
		/* -1000.4 then -3000.3: the running sum rounds to -1000, then -4001 */
		is_int((int64_t)v[3], -3001, "negative int64: a two's complement varint");
		free_subs(smp, n);
		unload(&pr);
	}
	ht_snapshot_free(base);
	ht_snapshot_free(cur);
}

static void test_heap_v2(void)
{
	struct ht_snapshot *s = make(0, 1);
	struct ht_report_opts o;
	char *buf = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ht_report_opts_init(&o);
	is_int(ht_pprof_write_heap_v2(f, s, &o, err, sizeof(err)), 0, "heap_v2: written");
	fclose(f);
	/* sampled: the estimates themselves under rate 1, which the readers
	 * then leave as they are (they would unsample raw samples by each
	 * stack's average size, low where sizes vary) */
	if (!ok(strncmp(buf, "heap profile: 8: 4066 [10: 5066] @ heap_v2/1\n", 45) == 0,
		"heap_v2: header with the estimated totals, rate 1"))
		printf("#   got: %.60s\n", buf);
	if (!ok(strstr(buf, "\n2: 1000 [4: 2000] @ 0x7f0000001000 0x555500001200 0x555500001100\n") != NULL,
		"heap_v2: a stack, its estimates, addresses leaf first"))
		printf("# got:\n%s", buf);
	ok(strstr(buf, "\nMAPPED_LIBRARIES:\n7f0000000000-7f0000020000 r-xp 00000000 "
		  "00:00 0 /lib/libz.so.1\n") != NULL, "heap_v2: the module map");
	free(buf);
	buf = NULL;
	s->rate = 1;
	f = open_memstream(&buf, &len);
	ht_pprof_write_heap_v2(f, s, &o, err, sizeof(err));
	fclose(f);
	ok(strncmp(buf, "heap profile: 8: 4066 [10: 5066] @ heap_v2/1\n", 45) == 0,
	   "heap_v2, rate 1: the exact values");
	free(buf);
	ht_snapshot_free(s);
}

int main(void)
{
	ht_progname = "test_pprof";
	test_profile();
	test_diff();
	test_round();
	test_negative_varint();
	test_heap_v2();
	return done_testing();
}
