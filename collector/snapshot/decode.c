/* Decoding: a file image from anywhere is hostile input. The header and
 * the zstd frame are checked before the body is inflated, every section is
 * bounded before it is read, and the result is validated and its rendering
 * cost capped by the file's size (heaptrace(5), VALIDATION). */
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_int.h"
#include "snapshot/format.h"
#include "snapshot/decode_int.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

const char *const ht_decode_sec_name[SEC_MAX] = {
	"", "strings", "meta", "counts", "drops", "metrics", "modules",
	"functions", "lines", "locations", "frames", "stacks", "stack error", "note",
	"peak", "temporary", "cells",
};

static int zstd_fail(size_t r, char *err, size_t errlen)
{
	char name[128];
	size_t i;

	if (ZSTD_getErrorCode(r) == ZSTD_error_srcSize_wrong)
		return ht_fail(err, errlen, "truncated snapshot");
	snprintf(name, sizeof(name), "%s", ZSTD_getErrorName(r));
	for (i = 0; name[i]; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] - 'A' + 'a');
	return ht_fail(err, errlen, "corrupt snapshot: compressed body: %s", name);
}

/* The body a file of srclen compressed bytes may have (heaptrace(5),
 * VALIDATION): snapshots compress some 10 to 50 times, zstd up to 32768. */
static int check_body_size(uint64_t bodylen, uint64_t srclen, char *err, size_t errlen)
{
	uint64_t cap = HT_SNAPSHOT_MAX_BODY;

	if (srclen < (HT_SNAPSHOT_MAX_BODY - HT_SNAPSHOT_BODY_FREE) / HT_SNAPSHOT_BODY_RATIO)
		cap = HT_SNAPSHOT_BODY_FREE + HT_SNAPSHOT_BODY_RATIO * srclen;
	if (bodylen > HT_SNAPSHOT_MAX_BODY || bodylen > SIZE_MAX)
		return ht_fail(err, errlen, "snapshot too large: a body of %llu bytes, more than the %llu accepted",
			       (unsigned long long)bodylen, (unsigned long long)HT_SNAPSHOT_MAX_BODY);
	if (bodylen > cap)
		return ht_fail(err, errlen, "snapshot too large: a body of %llu bytes from %llu compressed bytes, "
			       "more than the %llu accepted", (unsigned long long)bodylen,
			       (unsigned long long)srclen, (unsigned long long)cap);
	return 0;
}

/* Checks the zstd frame in src before anything is inflated: one frame
 * that ends exactly at the end of the file, carries a checksum, records
 * its content size, and that size is the header's bodylen and no more
 * than srclen bytes can justify. */
static int check_frame(const unsigned char *src, size_t srclen, uint64_t bodylen,
		       char *err, size_t errlen)
{
	unsigned long long fcs;
	size_t csize;

	if (srclen < 4)
		return ht_fail(err, errlen, "truncated snapshot");
	if (rd32(src) != ZSTD_MAGICNUMBER)
		return ht_fail(err, errlen, "corrupt snapshot: body is not a zstd frame");
	csize = ZSTD_findFrameCompressedSize(src, srclen);
	if (ZSTD_isError(csize))
		return zstd_fail(csize, err, errlen);
	if (csize < srclen)
		return ht_fail(err, errlen, "corrupt snapshot: %zu stray bytes after the compressed body",
			       srclen - csize);
	/* Frame header descriptor, bit 2: content checksum present. */
	if (!(src[4] & 0x04))
		return ht_fail(err, errlen, "corrupt snapshot: compressed body has no checksum");
	fcs = ZSTD_getFrameContentSize(src, srclen);
	if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
		return ht_fail(err, errlen, "corrupt snapshot: compressed body does not record its size");
	if (fcs != bodylen)
		return ht_fail(err, errlen, "corrupt snapshot: header says %llu body bytes, compressed body says %llu",
			       (unsigned long long)bodylen, fcs);
	return check_body_size(bodylen, srclen, err, errlen);
}

/* Decompresses the single zstd frame in src into a malloc'd body of exactly
 * bodylen bytes, in one call: streamed through zstd's window into an
 * output grown by doubling, the bodies of a diff of two 110,000-stack
 * snapshots took 376 M instructions in zstd, 298 M now. A header that
 * claims more than the frame holds costs address space only
 * (check_body_size bounds the claim): the pages of the body are touched
 * as its bytes are written. */
static int inflate_body(const unsigned char *src, size_t srclen, uint64_t bodylen,
			unsigned char **body, char *err, size_t errlen)
{
	ZSTD_DCtx *d = NULL;
	unsigned char *dst = NULL;
	size_t r;
	int rc = -1;

	*body = NULL;
	if (check_frame(src, srclen, bodylen, err, errlen))
		return -1;
	d = ZSTD_createDCtx();
	dst = malloc(bodylen ? (size_t)bodylen : 1);
	if (!d || !dst) {
		ht_fail(err, errlen, "out of memory");
		goto out;
	}
	r = ZSTD_decompressDCtx(d, dst, (size_t)bodylen, src, srclen);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
			ht_fail(err, errlen, "corrupt snapshot: compressed body is larger than its header says");
		else
			zstd_fail(r, err, errlen);
		goto out;
	}
	if (r != bodylen) {
		ht_fail(err, errlen, "corrupt snapshot: body is %zu bytes, header says %llu", r,
			(unsigned long long)bodylen);
		goto out;
	}
	*body = dst;
	dst = NULL;
	rc = 0;
out:
	ZSTD_freeDCtx(d);
	free(dst);
	return rc;
}

/* Resolves string index i, named by element k of kind what. */
static int get_str(struct reader *rd, uint32_t i, const char *what, size_t k,
		   const char **out)
{
	if (i >= rd->nstrs)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s %zu names string %u of %zu",
			       what, k, i, rd->nstrs);
	*out = rd->strs[i];
	return 0;
}

/* A fixed-size section: absent (returns 0, *p NULL) or exactly size bytes. */
static int fixed_section(struct reader *rd, int tag, size_t size,
			 const unsigned char **p)
{
	const struct sect *sc = &rd->sec[tag];

	*p = NULL;
	if (!sc->present)
		return 0;
	if (sc->len != size)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section is %zu bytes, expected %zu",
			       ht_decode_sec_name[tag], sc->len, size);
	*p = sc->p;
	return 0;
}

/* An array section: absent (no elements) or a u64 count followed by exactly
 * count records of recsize bytes. Sets *p to the first record. */
int ht_decode_array_section(struct reader *rd, int tag, size_t recsize, size_t *n,
			 const unsigned char **p)
{
	const struct sect *sc = &rd->sec[tag];
	uint64_t count;

	*n = 0;
	*p = NULL;
	if (!sc->present)
		return 0;
	if (sc->len < 8)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section is %zu bytes, too short for its count",
			       ht_decode_sec_name[tag], sc->len);
	count = rd64(sc->p);
	if (count > (sc->len - 8) / recsize || count * recsize != sc->len - 8)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section holds %zu bytes for %llu entries of %zu",
			       ht_decode_sec_name[tag], sc->len - 8, (unsigned long long)count, recsize);
	if (count > MAX_ELEMS)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %s section has more entries than an index can name",
			       ht_decode_sec_name[tag]);
	*n = (size_t)count;
	*p = sc->p + 8;
	return 0;
}

/* Allocates an array of n elements (none when n is 0); -1 on out-of-memory.
 * n is bounded by the section that holds them, so this cannot be abused. */
int ht_decode_alloc_array(struct reader *rd, void **arr, size_t *cap, size_t n, size_t elsize)
{
	*arr = NULL;
	*cap = 0;
	if (n == 0)
		return 0;
	*arr = malloc(n * elsize);
	if (!*arr)
		return ht_fail(rd->err, rd->errlen, "out of memory");
	*cap = n;
	return 0;
}

static int read_strings(struct reader *rd, struct ht_snapshot *s)
{
	const struct sect *sc = &rd->sec[SEC_STRINGS];
	const unsigned char *p;
	size_t left, i, space;
	uint64_t count;
	char *dst;

	if (sc->len < 8)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: strings section is %zu bytes, too short for its count",
			       sc->len);
	count = rd64(sc->p);
	left = sc->len - 8;
	if (count > left / 4 || count > MAX_ELEMS)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: strings section is too short for %llu strings",
			       (unsigned long long)count);
	rd->nstrs = (size_t)count;
	if (count) {
		rd->strs = malloc(rd->nstrs * sizeof(*rd->strs));
		rd->lens = malloc(rd->nstrs * sizeof(*rd->lens));
		if (!rd->strs || !rd->lens)
			return ht_fail(rd->err, rd->errlen, "out of memory");
	}
	/* Each string loses its 4-byte length and gains a NUL: a section
	 * that is well formed needs exactly this much storage. */
	space = left - 4 * rd->nstrs + rd->nstrs;
	dst = ht_snapshot_pool_chunk(s->pool, space ? space : 1);
	if (!dst)
		return ht_fail(rd->err, rd->errlen, "out of memory");
	p = sc->p + 8;
	for (i = 0; i < rd->nstrs; i++) {
		uint32_t len;

		if (left < 4)
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: string %zu runs past its section", i);
		len = rd32(p);
		p += 4;
		left -= 4;
		/* A string that leaves too little for the lengths of those
		 * after it would also overrun the storage. */
		if (len > left || (size_t)len + 1 > space)
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: string %zu runs past its section", i);
		if (memchr(p, 0, len))
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: string %zu holds a NUL byte", i);
		memcpy(dst, p, len);
		dst[len] = '\0';
		rd->strs[i] = dst;
		rd->lens[i] = len;
		dst += len + 1;
		space -= len + 1;
		p += len;
		left -= len;
	}
	if (left)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: %zu stray bytes after the strings", left);
	return 0;
}

static int read_meta(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;

	if (fixed_section(rd, SEC_META, META_SIZE, &p))
		return -1;
	s->flags = rd32(p);
	s->max_depth = rd32(p + 4);
	s->pid = (int64_t)rd64(p + 8);
	if (get_str(rd, rd32(p + 16), "meta field", 0, &s->exe) ||
	    get_str(rd, rd32(p + 20), "meta field", 1, &s->cmdline))
		return -1;
	s->start_time_ns = (int64_t)rd64(p + 24);
	s->time_ns = (int64_t)rd64(p + 32);
	s->rate = rd64(p + 40);
	s->seq = rd32(p + 48);

	if (fixed_section(rd, SEC_COUNTS, COUNTS_SIZE, &p))
		return -1;
	if (p) {
		s->counts.alloc_calls = rd64(p);
		s->counts.free_calls = rd64(p + 8);
		s->counts.realloc_calls = rd64(p + 16);
		s->counts.alloc_bytes = rd64(p + 24);
	}
	if (fixed_section(rd, SEC_DROPS, DROPS_SIZE, &p))
		return -1;
	if (p) {
		s->drops.alloc_events = rd64(p);
		s->drops.free_events = rd64(p + 8);
		s->drops.other_events = rd64(p + 16);
		s->drops.arena_full = rd64(p + 24);
		s->drops.unmatched = rd64(p + 32);
	}
	return 0;
}

static int read_metrics(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;
	size_t i, n;
	void *a;

	if (ht_decode_array_section(rd, SEC_METRICS, METRIC_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &s->pool->cap_metrics, n, sizeof(*s->metrics)))
		return -1;
	s->metrics = a;
	for (i = 0; i < n; i++, p += METRIC_SIZE) {
		if (get_str(rd, rd32(p), "metric", i, &s->metrics[i].name))
			return -1;
		rd->listed += (uint64_t)rd->lens[rd32(p)] + NAME_EXTRA;
		s->metrics[i].value = rdf64(p + 8);
		s->nmetrics++;
	}
	return 0;
}

static int read_modules(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;
	size_t i, n;
	void *a;

	if (ht_decode_array_section(rd, SEC_MODULES, MODULE_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &s->pool->cap_modules, n, sizeof(*s->modules)))
		return -1;
	s->modules = a;
	if (n && !(rd->mweight = malloc(n * sizeof(uint64_t))))
		return ht_fail(rd->err, rd->errlen, "out of memory");
	for (i = 0; i < n; i++, p += MODULE_SIZE) {
		struct ht_module *m = &s->modules[i];

		if (get_str(rd, rd32(p), "module", i, &m->path))
			return -1;
		rd->mweight[i] = (uint64_t)rd->lens[rd32(p)] + NAME_EXTRA;
		rd->listed += rd->mweight[i];
		m->build_id_len = rd32(p + 4);
		if (m->build_id_len > sizeof(m->build_id))
			return ht_fail(rd->err, rd->errlen, "corrupt snapshot: module %zu has a build id of %u bytes, more than %zu",
				       i, m->build_id_len, sizeof(m->build_id));
		m->start = rd64(p + 8);
		m->end = rd64(p + 16);
		m->bias = rd64(p + 24);
		memset(m->build_id, 0, sizeof(m->build_id));
		memcpy(m->build_id, p + 32, m->build_id_len);
		s->nmodules++;
	}
	return 0;
}

static int read_functions(struct reader *rd, struct ht_snapshot *s)
{
	const unsigned char *p;
	size_t i, n;
	void *a;

	if (ht_decode_array_section(rd, SEC_FUNCTIONS, FUNCTION_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &s->pool->cap_functions, n, sizeof(*s->functions)))
		return -1;
	s->functions = a;
	if (n && !(rd->fweight = malloc(n * sizeof(uint64_t))))
		return ht_fail(rd->err, rd->errlen, "out of memory");
	for (i = 0; i < n; i++, p += FUNCTION_SIZE) {
		struct ht_function *f = &s->functions[i];
		uint32_t name, sys;

		if (get_str(rd, rd32(p), "function", i, &f->name) ||
		    get_str(rd, rd32(p + 4), "function", i, &f->system_name) ||
		    get_str(rd, rd32(p + 8), "function", i, &f->file))
			return -1;
		name = rd->lens[rd32(p)];
		sys = rd->lens[rd32(p + 4)];
		rd->fweight[i] = (uint64_t)(name > sys ? name : sys) + rd->lens[rd32(p + 8)] +
				 NAME_EXTRA;
		rd->listed += rd->fweight[i] + name;
		s->nfunctions++;
	}
	return 0;
}

/* lines, locations and frames: plain records, their indices checked later
 * (ht_snapshot_validate) */
static int read_places(struct reader *rd, struct ht_snapshot *s)
{
	struct ht_snapshot_pool *pool = s->pool;
	const unsigned char *p;
	size_t i, n;
	void *a;

	if (ht_decode_array_section(rd, SEC_LINES, LINE_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &pool->cap_lines, n, sizeof(*s->lines)))
		return -1;
	s->lines = a;
	for (i = 0; i < n; i++, p += LINE_SIZE) {
		s->lines[i].function = rd32(p);
		s->lines[i].line = rd32(p + 4);
	}
	s->nlines = n;

	if (ht_decode_array_section(rd, SEC_LOCATIONS, LOCATION_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &pool->cap_locations, n, sizeof(*s->locations)))
		return -1;
	s->locations = a;
	for (i = 0; i < n; i++, p += LOCATION_SIZE) {
		s->locations[i].address = rd64(p);
		s->locations[i].module = rd32(p + 8);
		s->locations[i].first_line = rd32(p + 12);
		s->locations[i].nlines = rd32(p + 16);
	}
	s->nlocations = n;

	if (ht_decode_array_section(rd, SEC_FRAMES, FRAME_SIZE, &n, &p) ||
	    ht_decode_alloc_array(rd, &a, &pool->cap_frames, n, sizeof(*s->frames)))
		return -1;
	s->frames = a;
	for (i = 0; i < n; i++, p += FRAME_SIZE)
		s->frames[i] = rd32(p);
	s->nframes = n;
	return 0;
}

/* The array sections, each after those it names. */
static int read_arrays(struct reader *rd, struct ht_snapshot *s)
{
	return read_metrics(rd, s) || read_modules(rd, s) || read_functions(rd, s) ||
	       read_places(rd, s) || ht_decode_stacks(rd, s) ? -1 : 0;
}

/* The note section, if any: one line of text for the reader. */
static int read_note(struct reader *rd, struct ht_snapshot *s)
{
	const struct sect *sc = &rd->sec[SEC_NOTE];
	char *tmp;

	if (!sc->present || sc->len == 0)
		return 0;
	if (sc->len > HT_NOTE_LIMIT)
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: a note of %zu bytes, more than %d",
			       sc->len, HT_NOTE_LIMIT);
	if (memchr(sc->p, 0, sc->len))
		return ht_fail(rd->err, rd->errlen, "corrupt snapshot: the note holds a NUL byte");
	tmp = malloc(sc->len + 1);
	if (!tmp)
		return ht_fail(rd->err, rd->errlen, "out of memory");
	memcpy(tmp, sc->p, sc->len);
	tmp[sc->len] = 0;
	s->note = ht_snapshot_strdup(s, tmp);
	free(tmp);
	return s->note ? 0 : ht_fail(rd->err, rd->errlen, "out of memory");
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The bytes that writing out every frame name of every stack of s (valid)
 * takes, counted generously (heaptrace(5), VALIDATION), plus each
 * location's names once (they are made once per location) and the names
 * of each metric, module and function (listed or hashed once each, and
 * many may share one long string); saturates. Linear in the size of s,
 * as the stacks own their frames. */
static int name_bytes(struct reader *rd, const struct ht_snapshot *s, uint64_t *out)
{
	uint64_t *pre = malloc((s->nlines + 1) * sizeof(uint64_t));
	uint64_t *lw = malloc((s->nlocations + 1) * sizeof(uint64_t));
	uint64_t total = rd->listed;
	size_t i;

	if (!pre || !lw) {
		free(pre);
		free(lw);
		return ht_fail(rd->err, rd->errlen, "out of memory");
	}
	/* pre[i]: the name bytes of lines 0 .. i-1, so that a location's
	 * costs one subtraction however many locations share its lines */
	pre[0] = 0;
	for (i = 0; i < s->nlines; i++)
		pre[i + 1] = sat_add(pre[i], rd->fweight[s->lines[i].function]);
	for (i = 0; i < s->nlocations; i++) {
		const struct ht_location *l = &s->locations[i];

		if (l->nlines)
			lw[i] = pre[l->first_line + l->nlines] - pre[l->first_line];
		else
			lw[i] = l->module == HT_NONE ? NAME_EXTRA : rd->mweight[l->module];
		if (pre[l->first_line + l->nlines] == UINT64_MAX)
			lw[i] = UINT64_MAX;
		total = sat_add(total, lw[i]);
	}
	for (i = 0; i < s->nstacks && total < UINT64_MAX; i++) {
		const struct ht_stack *st = &s->stacks[i];

		total = sat_add(total, NAME_EXTRA);
		for (uint32_t k = 0; k < st->nframes; k++)
			total = sat_add(total, lw[s->frames[st->first_frame + k]]);
	}
	free(pre);
	free(lw);
	*out = total;
	return 0;
}

/* Refuses a snapshot whose rendering would cost more than a file of len
 * bytes can justify (heaptrace(5), VALIDATION). */
static int check_work(struct reader *rd, const struct ht_snapshot *s, uint64_t len)
{
	uint64_t cap = HT_SNAPSHOT_MAX_NAMES, have = 0;

	if (len < (HT_SNAPSHOT_MAX_NAMES - HT_SNAPSHOT_NAMES_FREE) / HT_SNAPSHOT_NAMES_RATIO)
		cap = HT_SNAPSHOT_NAMES_FREE + HT_SNAPSHOT_NAMES_RATIO * len;
	if (name_bytes(rd, s, &have))
		return -1;
	if (have > cap)
		return ht_fail(rd->err, rd->errlen, "snapshot too large: its names take %llu%s bytes to write out, "
			       "more than the %llu accepted for a file of %llu bytes",
			       (unsigned long long)have, have == UINT64_MAX ? " or more" : "",
			       (unsigned long long)cap, (unsigned long long)len);
	return 0;
}

/* Splits the body into sections, then reads them in dependency order. */
static int parse_body(const unsigned char *body, size_t len, uint64_t filelen,
		      struct ht_snapshot *s, char *err, size_t errlen)
{
	struct reader rd = { .err = err, .errlen = errlen };
	size_t off = 0;
	int rc = -1;

	while (off < len) {
		uint32_t tag;
		uint64_t plen;

		if (len - off < SECTION_HEAD)
			return ht_fail(err, errlen, "corrupt snapshot: section header at body offset %zu is cut short",
				       off);
		tag = rd32(body + off);
		plen = rd64(body + off + 8);
		if (plen > len - off - SECTION_HEAD)
			return ht_fail(err, errlen, "corrupt snapshot: section %u at body offset %zu runs past the end",
				       tag, off);
		if (tag > 0 && tag < SEC_MAX) {
			/* Unknown tags are skipped: later versions may add sections. */
			if (rd.sec[tag].present)
				return ht_fail(err, errlen, "corrupt snapshot: two %s sections",
					       ht_decode_sec_name[tag]);
			rd.sec[tag].present = 1;
			rd.sec[tag].p = body + off + SECTION_HEAD;
			rd.sec[tag].len = (size_t)plen;
		}
		off += SECTION_HEAD + (size_t)plen;
	}
	if (!rd.sec[SEC_STRINGS].present)
		return ht_fail(err, errlen, "corrupt snapshot: no strings section");
	if (read_strings(&rd, s))
		goto out;
	if (!rd.sec[SEC_META].present) {
		ht_fail(err, errlen, "corrupt snapshot: no meta section");
		goto out;
	}
	if (read_meta(&rd, s) || read_arrays(&rd, s) || read_note(&rd, s) ||
	    ht_snapshot_validate(s, "corrupt snapshot", err, errlen) || check_work(&rd, s, filelen))
		goto out;
	rc = 0;
out:
	free(rd.strs);
	free(rd.lens);
	free(rd.fweight);
	free(rd.mweight);
	return rc;
}

int ht_snapshot_check_header(const unsigned char *b, size_t len, uint64_t *bodylen,
		 char *err, size_t errlen)
{
	uint32_t version;

	if (len == 0)
		return ht_fail(err, errlen, "empty file, not a heaptrace snapshot");
	if (memcmp(b, MAGIC, len < MAGIC_SIZE ? len : MAGIC_SIZE) != 0)
		return ht_fail(err, errlen, "not a heaptrace snapshot");
	if (len < 12)
		return ht_fail(err, errlen, "truncated snapshot");
	version = rd32(b + 8);
	if (version < 1 || version > HT_SNAPSHOT_VERSION)
		return ht_fail(err, errlen, "unsupported snapshot version %u", version);
	if (len < HEADER_SIZE)
		return ht_fail(err, errlen, "truncated snapshot");
	*bodylen = rd64(b + 16);
	if (*bodylen > HT_SNAPSHOT_MAX_BODY)
		return ht_fail(err, errlen, "snapshot too large: a body of %llu bytes, more than the %llu accepted",
			       (unsigned long long)*bodylen, (unsigned long long)HT_SNAPSHOT_MAX_BODY);
	return 0;
}

int ht_snapshot_decode(const void *buf, size_t len, struct ht_snapshot **out,
		       char *err, size_t errlen)
{
	const unsigned char *b = buf;
	struct ht_snapshot *s;
	unsigned char *body;
	uint64_t bodylen;

	*out = NULL;
	if (ht_snapshot_check_header(b, len, &bodylen, err, errlen))
		return -1;
	if (inflate_body(b + HEADER_SIZE, len - HEADER_SIZE, bodylen, &body, err, errlen))
		return -1;
	s = ht_snapshot_new();
	if (!s) {
		free(body);
		return ht_fail(err, errlen, "out of memory");
	}
	s->version = rd32(b + 8); /* 1 or 2: what a file of 1 lacks stays zero */
	if (parse_body(body, (size_t)bodylen, len, s, err, errlen)) {
		free(body);
		ht_snapshot_free(s);
		return -1;
	}
	free(body);
	*out = s;
	return 0;
}
