/* The HEAPTRACE_* variables heaptrace reads, the shim's and the
 * collector's (libheaptrace(7), ENVIRONMENT). One list for both sides: the
 * shim says once that a HEAPTRACE_* variable not in it is ignored
 * (options.c), and heaptrace -p refuses one (heaptrace-attach.c). A name
 * is at most HT_SETTING_MAX bytes. */
#ifndef HT_SETTINGS_H
#define HT_SETTINGS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define HT_SETTING_MAX 32

static const char *const ht_settings[] = {
	/* the shim's */
	"HEAPTRACE_RATE", "HEAPTRACE_DEPTH", "HEAPTRACE_FRAME_POINTERS", "HEAPTRACE_OUTPUT",
	"HEAPTRACE_COLLECTOR", "HEAPTRACE_LAZY", "HEAPTRACE_RING_MB", "HEAPTRACE_EXIT_TIMEOUT",
	"HEAPTRACE_DISABLE", "HEAPTRACE_PID", "HEAPTRACE_FOLLOW_FORK", "HEAPTRACE_TRIM_IDLE",
	"HEAPTRACE_SIGNAL",
	/* the collector's */
	"HEAPTRACE_INTERVAL", "HEAPTRACE_PEAK", "HEAPTRACE_DEBUGINFO_PATH", "HEAPTRACE_DWARF_MB",
	"HEAPTRACE_METRICS", "HEAPTRACE_METRICS_TOP", "HEAPTRACE_PUSH", "HEAPTRACE_PUSH_INTERVAL",
	"HEAPTRACE_PUSH_AUTH_FILE", "HEAPTRACE_PUSH_APP", "HEAPTRACE_LABELS", "HEAPTRACE_REPORT_TO",
	NULL
};

/* Is name, len bytes (the part of "NAME=VALUE" before '='), a setting? */
static inline int ht_setting_known(const char *name, size_t len)
{
	const char *const *s;

	for (s = ht_settings; *s; s++)
		if (strlen(*s) == len && memcmp(*s, name, len) == 0)
			return 1;
	return 0;
}

/* The setting a mistyped name (len bytes) most likely meant, or NULL:
 * the one setting it begins (HEAPTRACE_OUT), else the one setting the
 * fewest edits away (a byte inserted, deleted or changed) if that is at
 * most 2 and no other is as near. No allocation: the shim calls it at
 * start-up. */
static inline const char *ht_setting_near(const char *name, size_t len)
{
	const char *best = NULL;
	size_t best_d = 3, i, j;
	int tie = 0, begun = 0;

	if (len > HT_SETTING_MAX)
		return NULL;
	for (const char *const *s = ht_settings; *s; s++)
		if (len > 10 && strlen(*s) > len && memcmp(*s, name, len) == 0)
			best = begun++ ? NULL : *s;
	if (begun)
		return best;
	for (const char *const *s = ht_settings; *s; s++) {
		size_t m = strlen(*s), row[HT_SETTING_MAX + 1];

		for (j = 0; j <= m; j++)
			row[j] = j;
		for (i = 1; i <= len; i++) {
			size_t diag = row[0];

			row[0] = i;
			for (j = 1; j <= m; j++) {
				size_t up = row[j], d = diag + (name[i - 1] != (*s)[j - 1]);

				if (up + 1 < d)
					d = up + 1;
				if (row[j - 1] + 1 < d)
					d = row[j - 1] + 1;
				row[j] = d;
				diag = up;
			}
		}
		if (row[m] < best_d) {
			best_d = row[m];
			best = *s;
			tie = 0;
		} else if (row[m] == best_d) {
			tie = 1;
		}
	}
	return tie ? NULL : best;
}

/* The end of the line the shim and heaptrace -p say of a mistyped name
 * (len bytes): " (did you mean HEAPTRACE_X?)" in out (cap bytes), or ""
 * if no setting is near. Returns out. */
static inline const char *ht_setting_hint(char *out, size_t cap, const char *name, size_t len)
{
	const char *near = ht_setting_near(name, len);

	if (near)
		snprintf(out, cap, " (did you mean %s?)", near);
	else if (cap)
		out[0] = 0;
	return out;
}

#endif
