/* Error reporting, checked allocation, the growable array, number
 * formatting and safe names for the collector and the tools (see util.h). */
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *ht_progname = "heaptrace";

static void vreport(const char *fmt, va_list ap)
{
	char msg[1024], out[4 * sizeof(msg)];
	size_t n, i, o = 0, k;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* a message may quote a name from outside (a file's, a program's):
	 * what a terminal would obey goes as \xHH, lines stay lines */
	n = strlen(msg);
	for (i = 0; i < n; i += k) {
		k = ht_char_printable(msg + i, n - i);
		if (k) {
			memcpy(out + o, msg + i, k);
			o += k;
		} else {
			k = 1;
			if (msg[i] == '\n' || msg[i] == '\t')
				out[o++] = msg[i];
			else
				o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x",
						      (unsigned char)msg[i]);
		}
	}
	out[o] = 0;
	/* one write: the program's own output may share the descriptor */
	fprintf(stderr, "%s: %s\n", ht_progname, out);
}

int ht_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return -1;
}

void ht_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	exit(status);
}

int ht_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void *checked(void *p)
{
	if (!p)
		ht_die(2, "out of memory");
	return p;
}

void *ht_xmalloc(size_t n) { return checked(malloc(n ? n : 1)); }
void *ht_xcalloc(size_t n, size_t m) { return checked(calloc(n ? n : 1, m ? m : 1)); }
void *ht_xrealloc(void *p, size_t n) { return checked(realloc(p, n ? n : 1)); }
char *ht_xstrdup(const char *s) { return checked(strdup(s)); }

void *ht_grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	if (!elem || n > SIZE_MAX / elem)
		return NULL;
	p = realloc(p, n * elem);
	if (p)
		*cap = n;
	return p;
}

void *ht_xgrow_slow(void *p, size_t *cap, size_t need, size_t elem)
{
	return checked(ht_grow(p, cap, need, elem));
}

int ht_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

const char *ht_unit_name(int k, int bytes)
{
	static const char *const byte_units[HT_NUNITS] = { "B", "kB", "MB", "GB", "TB" };
	static const char *const count_units[HT_NUNITS] = { "", "k", "M", "G", "T" };

	return bytes ? byte_units[k] : count_units[k];
}

double ht_unit_div(int k, int bytes)
{
	return pow(bytes ? 1024 : 1000, k);
}

static const char *scaled(double v, char *buf, size_t len, int bytes)
{
	double a = fabs(v), base = bytes ? 1024 : 1000;
	int i = 0;

	/* divided step by step, not by ht_unit_div: the same digits as ever */
	while (a >= base && i < HT_NUNITS - 1) {
		a /= base;
		v /= base;
		i++;
	}
	snprintf(buf, len, i ? "%.2f%s" : "%.0f%s", v, ht_unit_name(i, bytes));
	return buf;
}

const char *ht_fmt_bytes(double v, char *buf, size_t len) { return scaled(v, buf, len, 1); }
const char *ht_fmt_count(double v, char *buf, size_t len) { return scaled(v, buf, len, 0); }

size_t ht_utf8_char(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned c, len, k;
	uint32_t v;

	if (n == 0)
		return 0;
	c = p[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
		len = 2, v = c & 0x1f;
	else if ((c & 0xf0) == 0xe0)
		len = 3, v = c & 0x0f;
	else if ((c & 0xf8) == 0xf0)
		len = 4, v = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[k] & 0x3f);
	}
	/* shortest form only, no surrogates, nothing past U+10FFFF */
	if (v < (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u) || v > 0x10ffff ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

size_t ht_char_printable(const char *s, size_t n)
{
	uint32_t cp;
	size_t len = ht_utf8_char(s, n, &cp);

	if (len == 1)
		return cp >= 0x20 && cp != 0x7f;
	if (!len)
		return 0;
	/* C1 controls: some terminals obey them (U+009B is CSI) */
	if (cp < 0xa0)
		return 0;
	/* bidirectional marks, embeddings, overrides and isolates */
	if (cp == 0x61c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return len;
}

int ht_fputs_escaped(FILE *out, const char *s)
{
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		if (s[i] == '\\') {
			fputs("\\\\", out);
			i++;
		} else if ((k = ht_char_printable(s + i, n - i))) {
			fwrite(s + i, 1, k, out);
			i += k;
		} else {
			fprintf(out, "\\x%02x", (unsigned char)s[i]);
			i++;
		}
	}
	return ferror(out) ? -1 : 0;
}

char *ht_safe_name(char *out, size_t cap, const char *name)
{
	size_t i;

	if (!cap)
		return out;
	if (!*name)
		name = "unknown";
	for (i = 0; name[i] && i < HT_SAFE_NAME_MAX && i + 1 < cap; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-') || (i == 0 && c == '.'))
			c = '_';
		out[i] = c;
	}
	out[i] = 0;
	return out;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ht_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t ht_wall_ns(void) { return clock_ns(CLOCK_REALTIME); }
