/* Writes crafted snapshots that a reader must refuse quickly (tests/
 * t_hostile_snap.sh, and the render fuzzer's seed corpus): small files
 * whose stacks share one huge run of frames or lines, whose counters are
 * absurd, whose body inflates to a gigabyte. Usage: mkhostile DIR.
 * Each file is built as heaptrace(5) describes, bypassing the encoder,
 * which refuses to write such snapshots. */
#include "lib/fileio.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"
#include "body.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* Strings "", "x" and name (NULL: none), and a meta section with the times. */
static void b_head(struct body *b, const char *name, int64_t start, int64_t now)
{
	size_t nl = name ? strlen(name) : 0;

	b_section(b, T_STRINGS, 8 + 4 + 4 + 1 + (name ? 4 + nl : 0));
	b_u64(b, name ? 3 : 2);
	b_u32(b, 0);
	b_u32(b, 1);
	b_bytes(b, "x", 1);
	if (name) {
		b_u32(b, (uint32_t)nl);
		b_bytes(b, name, nl);
	}
	b_section(b, T_META, 56);
	b_u32(b, 0);            /* flags */
	b_u32(b, 64);           /* max_depth */
	b_u64(b, 77);           /* pid */
	b_u32(b, 1);            /* exe */
	b_u32(b, 0);            /* cmdline */
	b_u64(b, (uint64_t)start);
	b_u64(b, (uint64_t)now);
	b_u64(b, 524288);       /* rate */
	b_u32(b, 0);            /* seq */
	b_u32(b, 0);
}

/* n unsymbolized locations at distinct addresses, or symbolized ones
 * (lines [0, nlines) each) when nlines > 0. */
static void b_locations(struct body *b, size_t n, uint32_t nlines)
{
	b_section(b, T_LOCATIONS, 8 + 24 * (uint64_t)n);
	b_u64(b, n);
	for (size_t i = 0; i < n; i++) {
		b_u64(b, 0x400000 + 16 * (uint64_t)i);
		b_u32(b, HT_NONE);
		b_u32(b, 0);
		b_u32(b, nlines);
		b_u32(b, 0);
	}
}

/* n frames, frame k naming location k % nloc. */
static void b_frames(struct body *b, size_t n, size_t nloc)
{
	b_section(b, T_FRAMES, 8 + 4 * (uint64_t)n);
	b_u64(b, n);
	for (size_t k = 0; k < n; k++)
		b_u32(b, (uint32_t)(k % nloc));
}

static void b_stack(struct body *b, uint32_t first, uint32_t n, double objects, double space)
{
	b_u32(b, first);
	b_u32(b, n);
	b_f64(b, objects);
	b_f64(b, space);
	b_f64(b, objects);
	b_f64(b, space);
	b_u64(b, 1);
	b_u64(b, 1);
}

static int put(const char *dir, const char *name, const struct body *b)
{
	char path[4096], err[256];
	void *img;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (ht_snapshot_wrap_body(b->p, b->n, &img, &len, err, sizeof(err)))
		return ht_error("%s: %s", name, err);
	rc = ht_file_write(path, img, len, err, sizeof(err));
	if (rc)
		ht_error("%s", err);
	free(img);
	return rc;
}

/* 13: 100,000 stacks that all name the same run of 4,000,000 frames. */
static int shared_frames(const char *dir)
{
	struct body b = { 0 };
	int rc;

	b_head(&b, NULL, 1, 2);
	b_locations(&b, 1, 0);
	b_frames(&b, 4000000, 1);
	b_section(&b, T_STACKS, 8 + 56 * 100000ull);
	b_u64(&b, 100000);
	for (uint32_t i = 0; i < 100000; i++)
		b_stack(&b, 0, 4000000, 1, 16);
	rc = put(dir, "shared-frames.heap", &b);
	free(b.p);
	return rc;
}

/* 13: 200,000 stacks of depth 1, 2, ... 200,000 over one run of frames,
 * each naming a location of its own. */
static int deep_stacks(const char *dir)
{
	struct body b = { 0 };
	int rc;

	b_head(&b, NULL, 1, 2);
	b_locations(&b, 200000, 0);
	b_frames(&b, 200000, 200000);
	b_section(&b, T_STACKS, 8 + 56 * 200000ull);
	b_u64(&b, 200000);
	for (uint32_t i = 0; i < 200000; i++)
		b_stack(&b, 0, i + 1, 1, 16);
	rc = put(dir, "deep-stacks.heap", &b);
	free(b.p);
	return rc;
}

/* 13: stacks that own their frames, all naming one location of 100,000
 * inlined lines. */
static int inline_lines(const char *dir)
{
	struct body b = { 0 };
	int rc;

	b_head(&b, "f", 1, 2);
	b_section(&b, T_FUNCTIONS, 8 + 12);
	b_u64(&b, 1);
	b_u32(&b, 2);
	b_u32(&b, 2);
	b_u32(&b, 0);
	b_section(&b, T_LINES, 8 + 8 * 100000ull);
	b_u64(&b, 100000);
	for (uint32_t i = 0; i < 100000; i++) {
		b_u32(&b, 0);
		b_u32(&b, i);
	}
	b_locations(&b, 1, 100000);
	b_frames(&b, 1000000, 1);
	b_section(&b, T_STACKS, 8 + 56 * 1000ull);
	b_u64(&b, 1000);
	for (uint32_t i = 0; i < 1000; i++)
		b_stack(&b, i * 1000, 1000, 1, 16);
	rc = put(dir, "inline-lines.heap", &b);
	free(b.p);
	return rc;
}

/* 13: a function name of 256 KiB at nine frames of each of 100,000
 * stacks, told apart by a tenth frame of their own. */
static int long_name(const char *dir)
{
	struct body b = { 0 };
	char *name = ht_xmalloc(256 * 1024 + 1);
	int rc;

	memset(name, 'n', 256 * 1024);
	name[256 * 1024] = '\0';
	b_head(&b, name, 1, 2);
	free(name);
	b_section(&b, T_FUNCTIONS, 8 + 12);
	b_u64(&b, 1);
	b_u32(&b, 2);
	b_u32(&b, 2);
	b_u32(&b, 0);
	b_section(&b, T_LINES, 8 + 8);
	b_u64(&b, 1);
	b_u32(&b, 0);
	b_u32(&b, 1);
	/* location 0 has the name, 1 .. 100,000 are addresses */
	b_section(&b, T_LOCATIONS, 8 + 24 * 100001ull);
	b_u64(&b, 100001);
	for (uint32_t i = 0; i <= 100000; i++) {
		b_u64(&b, 0x400000 + 16 * (uint64_t)i);
		b_u32(&b, HT_NONE);
		b_u32(&b, 0);
		b_u32(&b, i == 0);
		b_u32(&b, 0);
	}
	b_section(&b, T_FRAMES, 8 + 4 * 1000000ull);
	b_u64(&b, 1000000);
	for (uint32_t k = 0; k < 1000000; k++)
		b_u32(&b, k % 10 ? 0 : k / 10 + 1);
	b_section(&b, T_STACKS, 8 + 56 * 100000ull);
	b_u64(&b, 100000);
	for (uint32_t i = 0; i < 100000; i++)
		b_stack(&b, i * 10, 10, 1, 16);
	rc = put(dir, "long-name.heap", &b);
	free(b.p);
	return rc;
}

/* 13: 100,000 metrics that all name one string of 64 KiB. */
static int many_metrics(const char *dir)
{
	struct body b = { 0 };
	char *name = ht_xmalloc(64 * 1024 + 1);
	int rc;

	memset(name, 'm', 64 * 1024);
	name[64 * 1024] = '\0';
	b_head(&b, name, 1, 2);
	free(name);
	b_section(&b, T_METRICS, 8 + 16 * 100000ull);
	b_u64(&b, 100000);
	for (uint32_t i = 0; i < 100000; i++) {
		b_u32(&b, 2);
		b_u32(&b, 0);
		b_f64(&b, i);
	}
	rc = put(dir, "many-metrics.heap", &b);
	free(b.p);
	return rc;
}

/* 14: n stacks holding 1.7e308 bytes each (or values at the limits:
 * a tiny object count, whose average size is infinite; sums beyond any
 * integer). */
static int huge_value(const char *dir, const char *name, uint32_t n, double objects,
		      double space)
{
	struct body b = { 0 };
	int rc;

	b_head(&b, NULL, 1, 2);
	b_locations(&b, n, 0);
	b_frames(&b, n, n);
	b_section(&b, T_STACKS, 8 + 56 * (uint64_t)n);
	b_u64(&b, n);
	for (uint32_t i = 0; i < n; i++)
		b_stack(&b, i, 1, objects, space);
	rc = put(dir, name, &b);
	free(b.p);
	return rc;
}

/* A series of 100 snapshots of 6,800 stacks each, every one at addresses
 * of its own: 680,000 distinct stacks times 100 columns. */
static int wide_series(const char *dir)
{
	for (uint32_t f = 0; f < 100; f++) {
		struct body b = { 0 };
		char name[64];
		int rc;

		b_head(&b, NULL, 1, 2 + f);
		b_section(&b, T_LOCATIONS, 8 + 24 * 6800ull);
		b_u64(&b, 6800);
		for (uint32_t i = 0; i < 6800; i++) {
			b_u64(&b, ((uint64_t)f << 32) + 16 * (uint64_t)i);
			b_u32(&b, HT_NONE);
			b_u32(&b, 0);
			b_u32(&b, 0);
			b_u32(&b, 0);
		}
		b_frames(&b, 6800, 6800);
		b_section(&b, T_STACKS, 8 + 56 * 6800ull);
		b_u64(&b, 6800);
		for (uint32_t i = 0; i < 6800; i++)
			b_stack(&b, i, 1, 1, 16);
		snprintf(name, sizeof(name), "series-%03u.heap", f);
		rc = put(dir, name, &b);
		free(b.p);
		if (rc)
			return rc;
	}
	return 0;
}

/* 14: times that overflow when subtracted. */
static int bad_time(const char *dir)
{
	struct body b = { 0 };
	int rc;

	b_head(&b, NULL, INT64_MIN + 1, INT64_MAX);
	rc = put(dir, "bad-time.heap", &b);
	free(b.p);
	return rc;
}

/* 15: a valid head and an unknown section of zeros, a body of just under
 * 1 GiB, compressed as a stream (the body is never in memory). */
static int bomb(const char *dir)
{
	const uint64_t zeros = (1ull << 30) - 4096;
	struct body b = { 0 }, out = { 0 };
	unsigned char hdr[24] = { 0x89, 'H', 'E', 'A', 'P', 'T', 'R', '\n', 1 };
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	unsigned char *zero = ht_xcalloc(1, 1 << 20), *chunk = ht_xmalloc(ZSTD_CStreamOutSize());
	uint64_t total, done = 0;
	char path[4096], err[256];
	int rc;

	b_head(&b, NULL, 1, 2);
	b_section(&b, 999, zeros);
	total = b.n + zeros;
	for (int i = 0; i < 8; i++)
		hdr[16 + i] = (unsigned char)(total >> (8 * i));
	b_bytes(&out, hdr, sizeof(hdr));
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setPledgedSrcSize(cc, total);
	for (int phase = 0; phase < 2; phase++) {
		while (phase == 0 ? done == 0 : done < zeros) {
			ZSTD_inBuffer in;
			size_t n = phase ? (zeros - done < (1 << 20) ? zeros - done : 1 << 20) : b.n;
			int last = phase && done + n == zeros;

			in = (ZSTD_inBuffer){ phase ? zero : b.p, n, 0 };
			for (;;) {
				ZSTD_outBuffer ob = { chunk, ZSTD_CStreamOutSize(), 0 };
				size_t r = ZSTD_compressStream2(cc, &ob, &in,
								last ? ZSTD_e_end : ZSTD_e_continue);

				if (ZSTD_isError(r))
					return ht_error("bomb: %s", ZSTD_getErrorName(r));
				b_bytes(&out, chunk, ob.pos);
				if (last ? r == 0 : in.pos == in.size)
					break;
			}
			done += phase ? n : 1;
		}
		if (phase == 0)
			done = 0;
	}
	snprintf(path, sizeof(path), "%s/bomb.heap", dir);
	rc = ht_file_write(path, out.p, out.n, err, sizeof(err));
	if (rc)
		ht_error("%s", err);
	ZSTD_freeCCtx(cc);
	free(zero);
	free(chunk);
	free(b.p);
	free(out.p);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";

	if (shared_frames(dir) || deep_stacks(dir) || inline_lines(dir) ||
	    long_name(dir) || many_metrics(dir) || huge_value(dir, "huge-value.heap", 1, 1, 1.7e308) ||
	    huge_value(dir, "tiny-count.heap", 3, 1e-300, 9e18) ||
	    huge_value(dir, "max-value.heap", 3, 9e18, 9e18) ||
	    bad_time(dir) || wide_series(dir) || bomb(dir))
		return 1;
	return 0;
}
