/* Small helpers shared by the collector and the command-line tools: error
 * messages in one style, checked allocation, the growable array, number
 * formatting with the one table of units, and names from a traced program
 * made safe for a terminal or a file name. */
#ifndef HT_UTIL_H
#define HT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Name printed before every message; set by each main. */
extern const char *ht_progname;

/* Prints "PROG: MESSAGE\n" to stderr and returns -1. Messages are lowercase
 * and say what went wrong first: ht_error("cannot open '%s': %s", ...).
 * What a terminal would obey (see ht_char_printable) is printed as \xHH,
 * but newlines and tabs, so that a quoted name cannot send escapes. */
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

/* The growable array: returns p (elements of elem bytes, capacity *cap)
 * with room for at least need elements, p itself if it has it, else moved
 * to a capacity doubled from 16 and *cap updated. Returns NULL, with p and
 * *cap intact, on out-of-memory or if the size overflows. ht_xgrow prints
 * "out of memory" and exits instead, like ht_xrealloc. */
void *ht_grow(void *p, size_t *cap, size_t need, size_t elem);
void *ht_xgrow_slow(void *p, size_t *cap, size_t need, size_t elem);
/* inline when there is room: a report names stacks frame by frame, each
 * with a check of its key's room (a diff of 110,000 stacks made 4 million) */
static inline void *ht_xgrow(void *p, size_t *cap, size_t need, size_t elem)
{
	return need <= *cap && p ? p : ht_xgrow_slow(p, cap, need, elem);
}

/* Parses a whole decimal unsigned number; returns 0, or -1 if s is empty,
 * has other characters, or overflows. */
int ht_parse_u64(const char *s, uint64_t *out);

/* The units of every figure shown: 0..HT_NUNITS-1, by powers of 1024 for
 * bytes ("B", "kB", "MB", "GB", "TB") and of 1000 for counts ("", "k",
 * "M", "G", "T"). ht_unit_name is unit k's name, ht_unit_div its size. */
#define HT_NUNITS 5
const char *ht_unit_name(int k, int bytes);
double ht_unit_div(int k, int bytes);

/* Human-readable bytes ("1.50MB", "512B") or counts ("1.20k") into buf,
 * in the largest unit the value reaches. */
const char *ht_fmt_bytes(double v, char *buf, size_t len);
const char *ht_fmt_count(double v, char *buf, size_t len);

/* Names that come from a traced program or a snapshot (its executable,
 * command line, metric names) are data: they may hold any byte. */

/* The UTF-8 character at s (n bytes available): its length, 1 to 4, with
 * its code point in *cp; 0 when the bytes are not a well-formed character
 * (cut short, not the shortest form, a surrogate, past U+10FFFF). */
size_t ht_utf8_char(const char *s, size_t n, uint32_t *cp);

/* The length (1 to 4) of the character at s (n bytes available) if it may
 * be shown raw on a terminal: well-formed UTF-8 that is not a control
 * character (C0, DEL, C1) nor a bidirectional formatting character (which
 * reorders what follows it on screen). 0 if it must be escaped. */
size_t ht_char_printable(const char *s, size_t n);

/* Writes s to out with every byte of a character ht_char_printable
 * refuses as \xHH, and a backslash as two, so that what is shown is
 * unambiguous and on one line. Returns 0, or -1 on a write error. */
int ht_fputs_escaped(FILE *out, const char *s);

/* How many bytes of a name ht_safe_name keeps at most. */
#define HT_SAFE_NAME_MAX 64

/* Copies name into out (cap bytes, always terminated) as a safe part of a
 * file name: every byte but [A-Za-z0-9._+-] becomes '_', a leading '.'
 * becomes '_', at most HT_SAFE_NAME_MAX bytes are kept, and an empty name
 * becomes "unknown". The shim applies the same rule to %e in
 * HEAPTRACE_OUTPUT (preload/trace.c). Returns out. */
char *ht_safe_name(char *out, size_t cap, const char *name);

/* Monotonic and wall clock, nanoseconds. */
int64_t ht_now_ns(void);
int64_t ht_wall_ns(void);

#endif
