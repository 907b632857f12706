/* Small helpers shared by the collector and the command-line tools: error
 * messages in one style, checked allocation, growable buffers. */
#ifndef HT_UTIL_H
#define HT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Name printed before every message; set by each main. */
extern const char *ht_progname;

/* Prints "PROG: MESSAGE\n" to stderr and returns -1. Messages are lowercase
 * and say what went wrong first: ht_error("cannot open '%s': %s", ...). */
int ht_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like ht_error, then exits with status. Only for mains. */
_Noreturn void ht_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats into err (errlen bytes, always terminated) and returns -1: the
 * library-code counterpart of ht_error, for callers that report later. */
int ht_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* malloc/calloc/realloc/strdup that print "out of memory" and exit(2).
 * Only for the tools and the collector, never for the shim. */
void *ht_xmalloc(size_t n);
void *ht_xcalloc(size_t n, size_t m);
void *ht_xrealloc(void *p, size_t n);
char *ht_xstrdup(const char *s);

/* Parses a whole decimal unsigned number; returns 0, or -1 if s is empty,
 * has other characters, or overflows. */
int ht_parse_u64(const char *s, uint64_t *out);

/* Human-readable bytes ("1.50MB", "512B") or counts ("1.20k") into buf. */
const char *ht_fmt_bytes(double v, char *buf, size_t len);
const char *ht_fmt_count(double v, char *buf, size_t len);

/* Monotonic and wall clock, nanoseconds. */
int64_t ht_now_ns(void);
int64_t ht_wall_ns(void);

#endif
