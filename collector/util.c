/* Error reporting, checked allocation and number formatting for the
 * collector and the tools (see util.h). */
#include "util.h"

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
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s\n", ht_progname, msg);
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

static const char *scaled(double v, char *buf, size_t len, double base,
			  const char *const *units, int nunits)
{
	double a = fabs(v);
	int i = 0;

	while (a >= base && i < nunits - 1) {
		a /= base;
		v /= base;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f%s", v, units[0]);
	else
		snprintf(buf, len, "%.2f%s", v, units[i]);
	return buf;
}

const char *ht_fmt_bytes(double v, char *buf, size_t len)
{
	static const char *const u[] = { "B", "kB", "MB", "GB", "TB" };

	return scaled(v, buf, len, 1024, u, 5);
}

const char *ht_fmt_count(double v, char *buf, size_t len)
{
	static const char *const u[] = { "", "k", "M", "G", "T" };

	return scaled(v, buf, len, 1000, u, 5);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ht_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t ht_wall_ns(void) { return clock_ns(CLOCK_REALTIME); }
