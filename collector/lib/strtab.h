/* The string interner: each distinct string stored once and named by an
 * id, 0, 1, 2, ... in the order strings were first seen, with a pointer
 * that stays valid as long as the table. Serves the snapshot's pool and
 * encoder, the report's frame names and pprof's string table, and the
 * symbolizer's names. */
#ifndef HT_STRTAB_H
#define HT_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#define HT_STRTAB_NONE UINT32_MAX /* "no id": out of memory, or not found */

struct ht_strtab_chunk;

/* All zero is an empty table that copies what it interns. Read str, len
 * and n; the rest is the table's own. */
struct ht_strtab {
	const char **str;  /* by id: the string, NUL-terminated */
	size_t *len;       /* by id: its length */
	size_t n;          /* ids given: 0 .. n-1 */
	int borrow;        /* set before first use: keep the callers' pointers
			    * (which must outlive the table) instead of copies */
	/* private */
	uint64_t *hash;    /* by id */
	size_t cap;        /* room in str, len and hash */
	uint32_t *slots;   /* open addressing: id + 1, 0 = empty; at most half full */
	size_t mask;       /* slots - 1, or 0 before first use */
	struct ht_strtab_chunk *chunks; /* the copies */
	char *cur;
	size_t left;
};

/* The id of the len bytes at s (which need no NUL unless the table
 * borrows: then s[len] must be 0), added if new: a new id is n - 1 after
 * the call. Returns HT_STRTAB_NONE on out-of-memory (t unchanged) or when
 * UINT32_MAX - 1 strings are held. ht_strtab_xintern prints "out of
 * memory" and exits instead, like ht_xmalloc. */
uint32_t ht_strtab_intern(struct ht_strtab *t, const char *s, size_t len);
uint32_t ht_strtab_xintern(struct ht_strtab *t, const char *s, size_t len);

/* The id of the len bytes at s, or HT_STRTAB_NONE if never interned. */
uint32_t ht_strtab_find(const struct ht_strtab *t, const char *s, size_t len);

/* Frees what t holds (the copies too) and empties it; borrow is kept. */
void ht_strtab_free(struct ht_strtab *t);

#endif
