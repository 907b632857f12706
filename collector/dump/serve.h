/* heaptrace-dump's serving mode: the collector of a process started with
 * HEAPTRACE_METRICS hands each accepted HTTP connection to a heaptrace-dump
 * of its own, which answers the one request on it -- pprof's endpoints and
 * Prometheus's /metrics -- from snapshots it asks the collector for, so
 * that neither a slow client nor the rendering holds the collector up. */
#ifndef HT_DUMP_SERVE_H
#define HT_DUMP_SERVE_H

#include <stddef.h>
#include <sys/types.h>

/* The longest ?seconds= of a delta profile. */
#define HT_SERVE_SECONDS_MAX 300

/* Reads one request from the connected socket fd, answers it about
 * process pid and closes fd. Every read and write has a deadline. Returns
 * 0 when a response was sent (an error status included), 1 if the client
 * went away or was too slow. */
int ht_dump_serve(int fd, pid_t pid);

/* HEAPTRACE_METRICS_TOP: how many stacks /metrics shows (default 10,
 * 0 to 1000). A bad value gets one message and the default. */
size_t ht_dump_metrics_top(void);

/* Asks the collector of pid for a snapshot that takes no number of the
 * process's snapshots (those are the user's dumps). Returns it decoded,
 * or NULL with err set. */
struct ht_snapshot *ht_dump_view(pid_t pid, char *err, size_t errlen);

#endif
