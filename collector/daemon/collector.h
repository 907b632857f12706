/* The collector daemon's state, one struct collector that main owns and
 * hands to every step, and the steps themselves, grouped by the file of
 * collector/daemon/ that defines them. Internal to heaptrace-collector:
 * the profile (profile.h) and the ring reader (ringread.h) are the wing's
 * reusable parts. */
#ifndef HT_COLLECTOR_H
#define HT_COLLECTOR_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/profile.h"
#include "daemon/ringread.h"
#include "preload/ring.h"
#include "snapshot/snapshot.h"
#include "symbolize/symbolize.h"

/* A set of file-system ids and supplementary groups (sorted). */
struct ht_creds {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups;
};

/* Pushing profiles (push.c). */
struct ht_push {
	const char *url;             /* HEAPTRACE_PUSH, or NULL: off */
	double interval;             /* seconds between pushes */
	int64_t next;                /* when the next falls due */
	pid_t child;                 /* the push on its way, or -1 */
	char report[PATH_MAX];       /* heaptrace-report */
	char dir[PATH_MAX];          /* the private directory of its snapshots */
	uint64_t sent, failed, skipped;
};
/* heaptrace-dumps answering HTTP connections at once, at most. */
#define HT_HTTP_KIDS 4

struct collector {
	/* the traced process */
	struct ht_shm *shm;          /* shared with it: atomics only */
	struct ht_shm fixed;         /* its header as the shim wrote it before
				      * starting us: the only copy of the path, the
				      * pid, the geometry and the options that is
				      * trusted */
	ino_t shm_ino;               /* the memfd's inode, to find it in /proc/PID/maps */
	char untraced[HT_NOTE_MAX];  /* the shim's note: why nothing reaches it, or "" */
	int alive_fd;                /* the read end of its liveness pipe, or -1 */
	int pid_fd;                  /* its pidfd, or -1 (then its end is polled for) */
	int proc_gone;               /* it ended: its pid may be another's now */
	int keep_newer;              /* the final snapshot yields the name to a newer file */

	/* the ring and the profile */
	struct ht_ring_reader rd;
	int damage_told;             /* the damage in the ring was reported */
	int exit_seen;               /* the program said it exits normally */
	struct ht_profile *prof;

	/* naming frames ahead, on a thread of its own (see warm.c) */
	struct ht_symbolizer *sym;
	pthread_mutex_t sym_lock;    /* the symbolizer is used by one thread at a time */
	pthread_mutex_t warm_mu;
	pthread_cond_t warm_cv;
	struct ht_snapshot *warm_job; /* locations to name, handed over */
	int warm_trim;               /* let debug info go when done */
	int64_t warm_idle;           /* wake-ups without new stacks to name */

	/* snapshots */
	uint32_t nsnaps;             /* numbered snapshots so far: dumps, periodic, signal */
	double interval;             /* HEAPTRACE_INTERVAL seconds, 0 = off */
	int64_t next_interval;       /* when the next periodic snapshot is due */
	uint32_t signals;            /* snapshot requests seen so far */
	double peak_margin;          /* HEAPTRACE_PEAK percent, 0 = off */
	double peak_written;         /* inuse total of the last peak snapshot */
	int64_t peak_time;           /* when it was written */
	double peak_seen;            /* the profile's peak, as of the last look */
	int64_t peak_at_ns;          /* wall time when it was seen (within a drain) */
	char peak_path[HT_PATH_MAX + 64]; /* the peak snapshot's file, once named */
	int said_unwritable;         /* the output directory was found unwritable at start */

	/* the process's figures and ids, as last read (creds.c) */
	double rss, rss_peak;        /* bytes */
	int64_t next_rss;            /* when they are read again */
	struct ht_creds proc_creds;  /* what it may write as */
	int proc_creds_ok;
	struct ht_creds own;         /* the calling thread's own, to go back to */
	int switched;                /* the thread took on the process's ids */

	/* the control socket */
	int lfd;                     /* listening, or -1 */
	char sock[256];
	ino_t sock_ino;

	struct ht_push push;
	/* HEAPTRACE_METRICS (http.c) */
	int http_fd;                 /* listening, or -1 */
	char http_dump[4096];        /* the heaptrace-dump that answers */
	pid_t http_kids[HT_HTTP_KIDS]; /* those answering now */
	int http_nkids;
	int http_busy[HT_HTTP_KIDS]; /* told 503, closed once the client is done */
	int64_t http_busy_until[HT_HTTP_KIDS];
	int http_nbusy;

	/* sleeping between drains (wake.c) */
	int wake_pipe[2];
	int64_t idle;                /* wake-ups in a row that found nothing */
};

/* ---- start.c ---- */

/* The command line the shim starts the collector with. */
struct ht_collector_args {
	int shm_fd;          /* the shared memory */
	int alive_fd;        /* the read end of the process's liveness pipe */
	int64_t pid;         /* the traced process */
	const char *output;  /* the final snapshot's path, absolute */
	int dir_said;        /* --dir-said: the shim said the output's directory
			      * cannot be written (a lazy start): not again */
};

/* Reads the command line into a, or exits with usage (status 2). */
void ht_collector_parse_args(int argc, char **argv, struct ht_collector_args *a);

/* Closes every descriptor but 0, 1, 2, a and b. */
void ht_collector_close_others(int a, int b);

/* Leaves the program's session and terminal and takes signals. */
void ht_collector_detach(void);

/* HEAPTRACE_DWARF_MB in bytes: the most compressed DWARF, unpacked, that
 * the collector reads for one module. A bad value gets one message and
 * the default. */
uint64_t ht_collector_dwarf_max_bytes(void);

/* Reads HEAPTRACE_INTERVAL and HEAPTRACE_PEAK into c, and says which
 * entries of HEAPTRACE_DEBUGINFO_PATH the symbolizer passes over; a bad
 * value gets one message and means off. */
void ht_collector_read_env(struct collector *c);

/* Says at start when the final snapshot's directory cannot be written. */
void ht_collector_check_output_dir(struct collector *c);

/* The program name next to the collector's own executable (the build
 * tree, or where make install links the readers) into out (cap bytes).
 * Returns 0 if it can be run, or -1 with errno set. */
int ht_collector_sibling(const char *name, char *out, size_t cap);

/* Removes the temporary files killed writers left where snapshots go. */
void ht_collector_clean_output_dir(struct collector *c);

/* ---- drain.c ---- */

/* Maps the shared memory on fd and checks it; keeps a checked copy of its
 * header in c->fixed. Returns 0, or -1 with a message. */
int ht_collector_map_shm(struct collector *c, int fd);

/* Applies the complete records in the ring to the profile (with wait_for,
 * also those reserved before the call, waited for briefly). Returns the
 * number of records applied. */
size_t ht_collector_drain(struct collector *c, int wait_for);

/* Bytes written to the ring and not yet read. */
size_t ht_collector_ring_used(struct collector *c);

/* ---- creds.c ---- */

/* Takes the process's ids at start from our own (it executed us). */
void ht_collector_creds_at_start(struct collector *c);

/* Reads the process's RSS, peak RSS and ids, while it lives. */
void ht_collector_read_status(struct collector *c);

/* Takes on the process's present ids on this thread before writing path.
 * Returns 0 (then ht_collector_back_to_own after the write), or -1 with a
 * message. */
int ht_collector_as_process(struct collector *c, const char *path);

/* Goes back to the collector's own ids after ht_collector_as_process. */
void ht_collector_back_to_own(struct collector *c);

/* ---- take.c ---- */

/* Asks the shim for fresh allocator figures and waits for them up to
 * 50 ms, draining meanwhile. */
void ht_collector_ask_stats(struct collector *c);

/* Notes when the profile's peak rose (c->peak_seen, c->peak_at_ns). */
void ht_collector_note_peak(struct collector *c);

/* The snapshot of the profile now, with the header fields, counts, drops
 * and metrics filled in and its frames named: seq and flags as given.
 * NULL on out-of-memory. The caller frees it. */
struct ht_snapshot *ht_collector_take(struct collector *c, uint32_t seq, uint32_t flags);

/* ---- write.c ---- */

/* HEAPTRACE_REPORT_TO: adds one record of kind to the launcher's file. */
void ht_collector_tell_launcher(struct collector *c, char kind, const char *text);

/* Writes the final snapshot (cut_short: the program did not say it
 * exits), tells the launcher, and wakes the shim waiting for it. */
void ht_collector_write_final(struct collector *c, int cut_short);

/* Snapshots the program did not ask for by hand, when due: on its signal,
 * every HEAPTRACE_INTERVAL seconds, at a new peak. */
void ht_collector_timed_snapshots(struct collector *c, int64_t now);

/* ---- serve.c ---- */

/* Answers one request on an accepted (non-blocking) connection. */
void ht_collector_serve(struct collector *c, int fd);

/* ---- trim.c ---- */

/* Asks the shim to trim (heaptrace-dump --trim) and waits for it, a few
 * seconds at most, draining meanwhile. Returns 0 once it is done, or -1
 * with a one-line err: the process did not answer in time (the request
 * is then taken back, and the process left as it was), or cannot trim. */
int ht_collector_trim(struct collector *c, char *err, size_t errlen);

/* Adds the record of the shim's last trim to s ("trim.*" metrics, see
 * heaptrace(5)); nothing if it never trimmed. */
void ht_collector_add_trim(struct collector *c, struct ht_snapshot *s);
/* ---- http.c ---- */

/* HEAPTRACE_METRICS: listens on its address (lib/http.h), and says the
 * port on stderr when the kernel chose it; a bad value or a missing
 * heaptrace-dump gets one message and no listener (c->http_fd -1). */
void ht_collector_http_start(struct collector *c);

/* Takes the waiting connections and hands each to a heaptrace-dump
 * --serve-fd of its own; past HT_HTTP_KIDS at once, answers 503. Never
 * waits for a client. */
void ht_collector_http_accept(struct collector *c);

/* Reaps the heaptrace-dumps that are done, and closes the connections
 * told 503 whose clients are done or that waited long enough. */
void ht_collector_http_reap(struct collector *c);

/* ---- warm.c ---- */

/* Starts the thread that names frames ahead; without it frames are named
 * at snapshot time only. */
void ht_collector_start_naming(struct collector *c);

/* Hands the naming thread the locations of the stacks recorded since the
 * last call, unless it is busy; after many calls without new stacks,
 * asks it to let go of the debug info it read. */
void ht_collector_name_ahead(struct collector *c);

/* ---- wake.c ---- */

/* Starts the thread that turns the shim's futex kicks into bytes on
 * c->wake_pipe; without it the collector drains at every sleep's end. */
void ht_collector_start_waker(struct collector *c);

/* How long to sleep in poll() before the next drain, in ms: 0 when the
 * ring holds a lot or the program exits. Tells the shim we sleep. */
int ht_collector_sleep_ms(struct collector *c);

/* After poll(): tells the shim we are awake, and empties the wake pipe if
 * pipe_ready (it polled readable). */
void ht_collector_woken(struct collector *c, int pipe_ready);

/* ---- push.c ---- */

/* Reads HEAPTRACE_PUSH and HEAPTRACE_PUSH_INTERVAL; makes the private
 * directory the pushed snapshots go through. Off (one message) when the
 * URL is bad or heaptrace-report cannot be found. */
void ht_collector_push_setup(struct collector *c);

/* Counts a push that ended; starts the next one when it falls due. */
void ht_collector_push_tick(struct collector *c, int64_t now);

/* At exit: the final snapshot s pushed, waiting for it (and one on its
 * way) for a bounded time; the program does not wait for it. */
void ht_collector_push_final(struct collector *c, const struct ht_snapshot *s);

/* Removes the private directory. */
void ht_collector_push_cleanup(struct collector *c);

#endif
