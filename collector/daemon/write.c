/* Writing snapshots to files, as the traced process: the final one when
 * it ends, numbered ones (its signal, HEAPTRACE_INTERVAL), the peak one
 * (HEAPTRACE_PEAK), and the record of each for the heaptrace launcher. */
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/fileio.h"
#include "lib/util.h"

/* HEAPTRACE_REPORT_TO: adds the record "KIND PID COLLECTOR_PID TEXT" and a
 * NUL to the heaptrace launcher's file (an existing regular file only):
 * F, "exit PATH" or "cut PATH", the final snapshot written after a clean
 * exit or not; E, why there is none; P, the peak snapshot's path; U, the
 * shim's note on why nothing is traced. Failures are silent: the launcher
 * says what it lacks. */
void ht_collector_tell_launcher(struct collector *c, char kind, const char *text)
{
	const char *to = getenv("HEAPTRACE_REPORT_TO");
	char rec[HT_PATH_MAX + 700];
	struct stat st;
	int fd, n;

	if (!to || !*to)
		return;
	fd = open(to, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = snprintf(rec, sizeof(rec), "%c %lld %d %s", kind, (long long)c->fixed.pid,
		     (int)getpid(), text);
	if (n >= (int)sizeof(rec))
		n = (int)sizeof(rec) - 1;
	/* one write: an O_APPEND record of a regular file is not split */
	if (n > 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && write(fd, rec, (size_t)n + 1) < 0)
		n = 0;
	close(fd);
}

/* Whether the regular file at path was written since the traced image
 * started (c->fixed.start_time_ns, the wall clock): by the program it
 * executed, whose collector ran while this one drained, or by another
 * process; a file of an earlier run is older. */
static int written_since_start(const struct collector *c, const char *path)
{
	struct stat st;

	return c->fixed.start_time_ns > 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec > c->fixed.start_time_ns;
}

/* Writes s to path: replacing a file there only if the user named it
 * (and, for a final snapshot cut short, keep_newer, only if it is older
 * than the image). Returns 0 with the name used in out (out_cap bytes),
 * or -1 with the reason there; quiet says nothing on failure. */
static int save_file(struct collector *c, const struct ht_snapshot *s, const char *path,
		     char *out, size_t out_cap, int quiet)
{
	char err[512], name[HT_PATH_MAX + 64];
	int rc, named = !c->fixed.output_default && !(c->keep_newer && written_since_start(c, path));

	rc = ht_snapshot_save(s, path, named ? HT_FILE_NAMED : HT_FILE_DEFAULT,
			      name, sizeof(name), err, sizeof(err));
	if (rc == 0 && strcmp(name, path))
		ht_error("'%s' exists; snapshot written to '%s'", path, name);
	if (rc != 0 && !quiet)
		ht_error("%s", err);
	snprintf(out, out_cap, "%s", rc == 0 ? name : err);
	return rc;
}

/* save_file as the traced process is now (see ht_collector_as_process). */
static int save(struct collector *c, const struct ht_snapshot *s, const char *path, char *out,
		size_t out_cap, int quiet)
{
	int rc;

	if (ht_collector_as_process(c, path) != 0) {
		snprintf(out, out_cap, "not written: the collector cannot take the user of process %lld",
			 (long long)c->fixed.pid);
		return -1;
	}
	rc = save_file(c, s, path, out, out_cap, quiet);
	ht_collector_back_to_own(c);
	return rc;
}

/* The final snapshot's path with ".heap" replaced by ".TAG.heap". */
static void sibling_path(struct collector *c, char *out, size_t cap, const char *tag)
{
	ht_file_heap_name(out, cap, c->fixed.output, tag);
}

/* The peak's figures, not the current ones: in use is what was in use
 * when the total was highest, and the snapshot is of that time. */
static void at_peak(struct collector *c, struct ht_snapshot *s)
{
	for (size_t i = 0; i < s->nstacks; i++) {
		struct ht_stack *st = &s->stacks[i];

		st->inuse_objects = st->peak_objects;
		st->inuse_space = st->peak_space;
		st->inuse_samples = st->peak_samples;
	}
	for (size_t i = 0; i < s->nmetrics; i++)
		if (!strcmp(s->metrics[i].name, "heap.inuse_bytes_estimate"))
			s->metrics[i].value = c->peak_seen;
	if (s->peak_time_ns) {
		/* the allocator's figures keep their own time: their age is
		 * counted from the peak now (negative: read after it) */
		for (size_t i = 0; i < s->nmetrics; i++)
			if (!strcmp(s->metrics[i].name, "allocator.stats_age_seconds"))
				s->metrics[i].value -= (double)(s->time_ns - s->peak_time_ns) / 1e9;
		s->time_ns = s->peak_time_ns;
	}
}

/* The peak snapshot is one file, replaced by each higher peak: under a
 * default name, the name it was first given (see save). At exit every
 * event is read and the shim's figures are fresh already. */
static void write_peak(struct collector *c, int at_exit)
{
	char *path = c->peak_path, err[512];
	struct ht_snapshot *s;

	if (!at_exit) {
		ht_collector_ask_stats(c);
		ht_collector_drain(c, 1);
	}
	s = ht_collector_take(c, 0, HT_SNAP_PEAK);
	if (!s) {
		ht_error("out of memory while taking a snapshot of process %lld",
			 (long long)c->fixed.pid);
		return;
	}
	if (ht_collector_as_process(c, path[0] ? path : "the peak snapshot") != 0) {
		ht_snapshot_free(s);
		return;
	}
	at_peak(c, s);
	c->peak_written = c->peak_seen;
	if (!path[0]) {
		sibling_path(c, path, sizeof(c->peak_path), "peak");
		if (ht_snapshot_save(s, path, c->fixed.output_default ? HT_FILE_DEFAULT : HT_FILE_NAMED,
				     path, sizeof(c->peak_path), err, sizeof(err)) != 0) {
			ht_error("%s", err);
			if (c->fixed.output_default)
				path[0] = 0;
		}
	} else if (ht_snapshot_write_file(s, path, err, sizeof(err)) != 0) {
		ht_error("%s", err);
	}
	if (path[0])
		ht_collector_tell_launcher(c, 'P', path);
	ht_collector_back_to_own(c);
	ht_snapshot_free(s);
}

void ht_collector_write_final(struct collector *c, int cut_short)
{
	struct ht_snapshot *s;
	char what[HT_PATH_MAX + 600], rec[HT_PATH_MAX + 640];

	/* a peak higher than the last peak file, reached within the second
	 * the file waits between writes: written now, so that the peak file
	 * holds the highest in-use total the process reached */
	ht_collector_note_peak(c);
	if (c->peak_margin > 0 && c->peak_seen > c->peak_written)
		write_peak(c, 1);
	s = ht_collector_take(c, 0, HT_SNAP_FINAL | (cut_short ? HT_SNAP_CUT_SHORT : 0));
	/* an image that executed another program leaves the name to that
	 * program's snapshot if it was written first (libheaptrace(7): the
	 * new image's replaces the old one's), and takes NAME-1.heap; so
	 * does one killed, to a file written meanwhile */
	c->keep_newer = cut_short;

	if (!s) {
		ht_error("out of memory while taking the final snapshot of process %lld",
			 (long long)c->fixed.pid);
		ht_collector_tell_launcher(c, 'E', "out of memory while taking the final snapshot");
	} else if (save(c, s, c->fixed.output, what, sizeof(what), c->said_unwritable) == 0) {
		snprintf(rec, sizeof(rec), "%s %s", cut_short ? "cut" : "exit", what);
		ht_collector_tell_launcher(c, 'F', rec);
	} else {
		ht_collector_tell_launcher(c, 'E', what);
	}
	__atomic_store_n(&c->shm->done, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &c->shm->done, FUTEX_WAKE, 1, NULL, NULL, 0);
	/* the program goes on; the last push is the collector's own time */
	ht_collector_push_final(c, s);
	ht_snapshot_free(s);
}

/* The next numbered snapshot, next to where the final one goes. */
static void write_numbered(struct collector *c)
{
	char tag[16], path[HT_PATH_MAX + 32], what[HT_PATH_MAX + 600];
	struct ht_snapshot *s;

	/* four digits at least, so that names sort by number ("t.0010.heap"
	 * after "t.0009.heap") up to 9999 */
	snprintf(tag, sizeof(tag), "%04u", ++c->nsnaps);
	ht_collector_ask_stats(c);
	ht_collector_drain(c, 1);
	s = ht_collector_take(c, c->nsnaps, 0);
	sibling_path(c, path, sizeof(path), tag);
	if (!s)
		ht_error("out of memory while taking a snapshot of process %lld",
			 (long long)c->fixed.pid);
	else
		save(c, s, path, what, sizeof(what), 0);
	ht_snapshot_free(s);
}

/* On the program's signal, every HEAPTRACE_INTERVAL seconds, and when
 * in-use memory reaches a new peak (HEAPTRACE_PEAK percent above the last
 * peak written, at most once a second). */
void ht_collector_timed_snapshots(struct collector *c, int64_t now)
{
	uint32_t req = __atomic_load_n(&c->shm->snap_requests, __ATOMIC_ACQUIRE);

	if (req != c->signals) {
		c->signals = req;
		write_numbered(c);
	}
	if (c->interval > 0 && now >= c->next_interval) {
		write_numbered(c);
		while (c->next_interval <= now)
			c->next_interval += (int64_t)(c->interval * 1e9);
	}
	/* the profile keeps the peak as it happens; the file follows it at
	 * most once a second, and at exit (see ht_collector_write_final) */
	ht_collector_note_peak(c);
	if (c->peak_margin > 0 && c->peak_seen > c->peak_written * (1 + c->peak_margin / 100) &&
	    now - c->peak_time >= 1000000000) {
		write_peak(c, 0);
		c->peak_time = now;
	}
}
