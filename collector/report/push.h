/* Pushing a snapshot to a continuous-profiling backend: Grafana
 * Pyroscope's ingest API (POST /ingest, format=pprof, a multipart body
 * with the profile and its sample types), over HTTP or HTTPS. */
#ifndef HT_REPORT_PUSH_H
#define HT_REPORT_PUSH_H

#include <stddef.h>

#include "report/options.h"
#include "snapshot/snapshot.h"

/* Checks a label list "k=v,k2=v2" as Pyroscope's names take it (keys
 * [A-Za-z_][A-Za-z0-9_.]*, values without the characters ,{}=" and no
 * control characters). Returns 0, or -1 with err set. */
int ht_push_check_labels(const char *labels, char *err, size_t errlen);

/* The sample type configuration pushed with every profile (JSON): in-use
 * types averaged over time, allocation types summed. Used in unit tests. */
extern const char ht_push_sample_types[];

/* Makes cur's allocation counters the change since base, a snapshot of
 * the same run taken before it (stacks matched by their addresses), so
 * that summing pushed profiles over time adds up allocations once; in-use
 * counters stay cur's. Returns 0, or -1 with err set (not of one run, or
 * out of memory). */
int ht_push_delta(const struct ht_snapshot *base, struct ht_snapshot *cur, char *err,
		  size_t errlen);

/* Pushes cur (its allocations since base when base is not NULL) to the
 * backend at o->push: the pprof profile of cur, named o->push_app (or the
 * executable's base name) with labels o->push_labels, covering the time
 * from base's snapshot (or the process's start) to cur's. Credentials
 * come from the file o->push_auth ("user:password" for basic auth, else
 * a bearer token), never from the command line. Tries up to three times,
 * waiting 0.5 and 1 s between tries, each within a time limit. Returns 0,
 * or -1 with err set (the last try's error). */
int ht_push_snapshot(const struct ht_snapshot *base, struct ht_snapshot *cur,
		     const struct ht_report_opts *o, char *err, size_t errlen);

#endif
