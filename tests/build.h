/* Helpers for unit tests that build snapshots by hand: a function, a
 * module, and a location with its (inlined) lines, each returning its
 * index in the snapshot. */
#ifndef HT_TEST_BUILD_H
#define HT_TEST_BUILD_H

#include <stdarg.h>
#include <string.h>

#include "snapshot/snapshot.h"

/* A function; sys NULL means the same as name. */
static inline uint32_t fn(struct ht_snapshot *s, const char *name, const char *sys,
			  const char *file)
{
	struct ht_function f = {
		ht_snapshot_strdup(s, name),
		ht_snapshot_strdup(s, sys ? sys : name),
		ht_snapshot_strdup(s, file),
	};

	return ht_snapshot_add_function(s, &f);
}

/* A module with a build id given as a string (NULL: none). */
static inline uint32_t module_id(struct ht_snapshot *s, const char *path, uint64_t start,
				 uint64_t end, uint64_t bias, const char *build_id)
{
	struct ht_module m = { ht_snapshot_strdup(s, path), start, end, bias, { 0 }, 0 };

	if (build_id) {
		m.build_id_len = (uint32_t)strlen(build_id);
		memcpy(m.build_id, build_id, m.build_id_len);
	}
	return ht_snapshot_add_module(s, &m);
}

static inline uint32_t module(struct ht_snapshot *s, const char *path, uint64_t start,
			      uint64_t end, uint64_t bias)
{
	return module_id(s, path, start, end, bias, NULL);
}

/* A location with n line entries, innermost first: n pairs (function, line). */
static inline uint32_t loc(struct ht_snapshot *s, uint64_t addr, uint32_t mod, int n, ...)
{
	struct ht_location l = { addr, mod, (uint32_t)s->nlines, (uint32_t)n };
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		struct ht_line ln;

		ln.function = va_arg(ap, uint32_t);
		ln.line = va_arg(ap, uint32_t);
		ht_snapshot_add_line(s, &ln);
	}
	va_end(ap);
	return ht_snapshot_add_location(s, &l);
}

#endif
