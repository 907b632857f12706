/* heaptrace-collector: started by the shim of one traced process, with the
 * shared memory on fd 3, the read end of the process's liveness pipe on
 * fd 4, and the process's id and output path on its command line. It
 * drains the ring into the profile, answers heaptrace-dump on the control
 * socket, and writes the final snapshot when the process ends. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/profile.h"
#include "lib/control.h"
#include "lib/fileio.h"
#include "preload/ring.h"
#include "daemon/ringread.h"
#include "snapshot/snapshot.h"
#include "symbolize/symbolize.h"
#include "lib/util.h"
#include "lib/version.h"

static struct ht_shm *shm;   /* shared with the traced process: atomics only */
static struct ht_shm fixed;  /* its header as the shim wrote it before starting us:
			      * the only copy of the path, the pid, the geometry and
			      * the options that is trusted */
static struct ht_ring_reader rd;
static int damage_told;      /* the damage in the ring was reported */
static int proc_gone;        /* the process ended: its pid may be another's now */
static struct ht_profile *prof;
static struct ht_symbolizer *sym;
static uint32_t nsnaps;      /* numbered snapshots so far: dumps, periodic, signal */
static double rss, rss_peak; /* the process's, last read (bytes) */
static double interval;      /* HEAPTRACE_INTERVAL seconds, 0 = off */
static double peak_margin;   /* HEAPTRACE_PEAK percent, 0 = off */
static double peak_written;  /* inuse total of the last peak snapshot */
static int64_t peak_time;    /* when it was written */
static double peak_seen;     /* the profile's peak, as of the last look */
static int64_t peak_at_ns;   /* wall time when it was seen (within a drain) */
static int exit_seen;        /* the program said it exits normally */
static ino_t shm_ino;        /* the memfd's inode, to find it in /proc/PID/maps */
static char untraced[HT_NOTE_MAX]; /* the shim's note: why nothing reaches it, or "" */
static int said_unwritable;  /* the output directory was found unwritable at start */

/* Naming frames ahead runs on a thread of its own, so that reading debug
 * info (tens of ms for libc's) never stops the ring from draining. The
 * symbolizer is used by one thread at a time: sym_lock. */
static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t warm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t warm_cv = PTHREAD_COND_INITIALIZER;
static struct ht_snapshot *warm_job; /* locations to name, handed over */
static int warm_trim;                /* let debug info go when done */

/* Maps the shared memory and checks that it is what the shim writes. The
 * header is copied first and the copy checked and kept: the traced process
 * can change the shared one at any time. */
static int map_shm(int fd)
{
	struct stat st;
	struct ht_shm *h;
	struct ht_shm *f = &fixed;

	if (fstat(fd, &st) != 0 || (size_t)st.st_size < HT_SHM_HDR_SIZE)
		return ht_error("fd %d is not heaptrace shared memory", fd);
	shm_ino = st.st_ino;
	h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return ht_error("cannot map shared memory: %s", strerror(errno));
	memcpy(f, h, offsetof(struct ht_shm, head));
	if (f->magic != HT_SHM_MAGIC || f->version != HT_SHM_VERSION ||
	    f->size != (uint64_t)st.st_size || f->ring_size < 4096 ||
	    (f->ring_size & (f->ring_size - 1)) || f->ring_size > f->size ||
	    f->ring_offset < HT_SHM_HDR_SIZE || f->ring_offset > f->size - f->ring_size ||
	    f->slots_offset < HT_SHM_HDR_SIZE || f->slots_offset > f->ring_offset ||
	    f->nslots > (f->ring_offset - f->slots_offset) / sizeof(struct ht_slot) ||
	    f->max_depth > HT_MAX_DEPTH ||
	    /* the ring starts at position 0 whatever the header says */
	    ht_ring_reader_init(&rd, h, (char *)h + f->ring_offset, f->ring_size, 0) != 0) {
		munmap(h, (size_t)st.st_size);
		return ht_error("shared memory of an unknown layout (version %u)", f->version);
	}
	f->exe[sizeof(f->exe) - 1] = 0;
	f->cmdline[sizeof(f->cmdline) - 1] = 0;
	f->output[sizeof(f->output) - 1] = 0;
	memcpy(untraced, (const char *)f->untraced, sizeof(untraced));
	untraced[sizeof(untraced) - 1] = 0;
	shm = h;
	return 0;
}

/* ---- draining ------------------------------------------------------------ */

/* Applies one record, a private copy that ht_ring_reader_next checked. */
static void apply(const struct ht_rec *r)
{
	switch (r->kind) {
	case HT_EV_ALLOC: {
		const struct ht_ev_alloc *a = (const void *)r;

		ht_profile_alloc(prof, a->addr, a->size, (const uint64_t *)(a + 1), r->nframes);
		break;
	}
	case HT_EV_STACK: {
		const struct ht_ev_stack *k = (const void *)r;

		ht_profile_stack(prof, k->id, (const uint64_t *)(k + 1), r->nframes);
		break;
	}
	case HT_EV_ALLOC_ID: {
		const struct ht_ev_alloc_id *a = (const void *)r;

		ht_profile_alloc_id(prof, a->addr, a->size, a->id);
		break;
	}
	case HT_EV_FREE:
		ht_profile_release(prof, ((const struct ht_ev_free *)r)->addr);
		break;
	case HT_EV_MODULE: {
		const struct ht_ev_module *m = (const void *)r;

		ht_profile_module(prof, (const char *)(m + 1), m->path_len, m->start, m->end,
				  m->bias, m->build_id, m->build_id_len);
		break;
	}
	case HT_EV_EXIT:
		exit_seen = 1;
		break;
	}
}

/* Applies complete records from the reader's position on. With wait_for
 * set, records reserved before the call but not yet complete are waited
 * for (briefly), so a snapshot includes every event that happened before
 * it was asked for. Damage in the ring is skipped and counted (see
 * ringread.h), and said once; a record left incomplete (a thread killed
 * while it wrote) is counted only. Returns the number of records applied. */
static size_t drain(int wait_for)
{
	uint64_t stop = wait_for ? ht_ring_reader_pending(&rd) : 0, start = rd.tail;
	int64_t deadline = ht_now_ns() + 200000000;
	size_t n = 0;

	for (;;) {
		const struct ht_rec *r = ht_ring_reader_next(&rd, proc_gone ? INT64_MAX : ht_now_ns());

		if (!r) {
			if (rd.tail - start < stop && ht_now_ns() < deadline) {
				sched_yield();
				continue;
			}
			break;
		}
		apply(r);
		n++;
		if ((n & 255) == 0)
			ht_ring_reader_publish(&rd);
		if (exit_seen)
			break;
	}
	ht_ring_reader_publish(&rd);
	if (rd.damaged && !damage_told) {
		damage_told = 1;
		ht_error("damaged events in the ring of process %lld (someone wrote to its "
			 "shared memory); skipped, and counted as dropped", (long long)fixed.pid);
	}
	return n;
}

/* ---- snapshots ----------------------------------------------------------- */

/* The traced process's file-system ids and supplementary groups, as last
 * read from /proc/PID/status: what it may write as. */
struct creds {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups; /* sorted */
};
static struct creds proc_creds;
static int proc_creds_ok;

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

/* Parses the "Groups:" line of /proc/PID/status into c (sorted). */
static int parse_groups(const char *list, struct creds *c)
{
	const char *p = list;
	int n = 0;

	for (;;) {
		char *end;
		unsigned long g;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		g = strtoul(p, &end, 10);
		if (n % 64 == 0)
			c->groups = ht_xrealloc(c->groups, (size_t)(n + 64) * sizeof(gid_t));
		c->groups[n++] = (gid_t)g;
		p = end;
	}
	if (*p != '\n')
		return -1;
	if (n > 1)
		qsort(c->groups, (size_t)n, sizeof(gid_t), cmp_gid);
	c->ngroups = n;
	return 0;
}

/* The process's RSS and peak RSS, and the ids it writes files as, while it
 * lives; the last values read stand for it after it is gone. */
static void read_rss(void)
{
	char path[64], line[4096];
	FILE *f;
	struct creds c = { 0, 0, 0, NULL };
	int have = 0;

	if (proc_gone)
		return;
	snprintf(path, sizeof(path), "/proc/%lld/status", (long long)fixed.pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;
		unsigned long id;

		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			rss = (double)kb * 1024;
		else if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			rss_peak = (double)kb * 1024;
		else if (sscanf(line, "Uid: %*u %*u %*u %lu", &id) == 1)
			c.uid = (uid_t)id, have |= 1;
		else if (sscanf(line, "Gid: %*u %*u %*u %lu", &id) == 1)
			c.gid = (gid_t)id, have |= 2;
		else if (!strncmp(line, "Groups:", 7) && strchr(line, '\n') &&
			 parse_groups(line + 7, &c) == 0)
			have |= 4;
	}
	fclose(f);
	if (have == 7) {
		free(proc_creds.groups);
		proc_creds = c;
		proc_creds_ok = 1;
	} else {
		free(c.groups);
	}
}

/* The calling thread's own file-system ids and groups, to go back to. */
static uid_t own_uid;
static gid_t own_gid;
static int own_ngroups;
static gid_t *own_groups;
static int switched;

static uid_t fsuid_now(void)
{
	return (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
}

static gid_t fsgid_now(void)
{
	return (gid_t)syscall(SYS_setfsgid, (gid_t)-1);
}

/* Reads the calling thread's ids into own_*. Returns 0, or -1 (errno). */
static int read_own(void)
{
	int n = (int)syscall(SYS_getgroups, 0, NULL);

	if (n < 0)
		return -1;
	free(own_groups);
	own_groups = ht_xmalloc(((size_t)n + 1) * sizeof(gid_t));
	own_ngroups = (int)syscall(SYS_getgroups, n, own_groups);
	if (own_ngroups < 0)
		own_ngroups = 0;
	if (own_ngroups > 1)
		qsort(own_groups, (size_t)own_ngroups, sizeof(gid_t), cmp_gid);
	own_uid = fsuid_now();
	own_gid = fsgid_now();
	return 0;
}

/* The process's ids when it started us are ours: it executed us, so that
 * a process that ends before its status is ever read still has them. */
static void creds_at_start(void)
{
	if (read_own() != 0)
		return;
	proc_creds.uid = own_uid;
	proc_creds.gid = own_gid;
	proc_creds.ngroups = own_ngroups;
	proc_creds.groups = ht_xmalloc(((size_t)own_ngroups + 1) * sizeof(gid_t));
	memcpy(proc_creds.groups, own_groups, (size_t)own_ngroups * sizeof(gid_t));
	proc_creds_ok = 1;
	read_rss();
}

static void back_to_own(void)
{
	if (!switched)
		return;
	/* per thread (raw system calls): the other threads never change */
	syscall(SYS_setfsuid, own_uid);
	syscall(SYS_setfsgid, own_gid);
	syscall(SYS_setgroups, (size_t)own_ngroups, own_groups);
	switched = 0;
}

/* Before writing a file: takes on the traced process's present ids (read
 * again now, or the last ones read if it is gone) on this thread, so that
 * nothing is written with more privilege than the process has, which may
 * be less than it had when it started us (it called setuid, say). Returns
 * 0 (then back_to_own after the write), or -1 with a message if the
 * collector cannot write as the process. */
static int as_process(const char *path)
{
	int same;

	read_rss();
	if (!proc_creds_ok)
		return ht_error("not writing '%s': cannot read the ids of process %lld",
				path, (long long)fixed.pid);
	if (read_own() != 0)
		return ht_error("not writing '%s': %s", path, strerror(errno));
	same = own_ngroups == proc_creds.ngroups &&
	       (!own_ngroups ||
		!memcmp(own_groups, proc_creds.groups, (size_t)own_ngroups * sizeof(gid_t)));
	if (own_uid == proc_creds.uid && own_gid == proc_creds.gid && same)
		return 0;
	switched = 1;
	if ((!same && syscall(SYS_setgroups, (size_t)proc_creds.ngroups, proc_creds.groups) != 0) ||
	    (syscall(SYS_setfsgid, proc_creds.gid), fsgid_now() != proc_creds.gid) ||
	    (syscall(SYS_setfsuid, proc_creds.uid), fsuid_now() != proc_creds.uid)) {
		back_to_own();
		return ht_error("not writing '%s': process %lld now runs as uid %u gid %u, "
				"and the collector (uid %u) cannot write as that user",
				path, (long long)fixed.pid, (unsigned)proc_creds.uid,
				(unsigned)proc_creds.gid, (unsigned)own_uid);
	}
	return 0;
}

/* Statistics next to the stacks, the native counterpart of Go's MemStats:
 * the process's memory, the allocator's own figures, and the gap between
 * them. Names are documented in heaptrace(5). */
static void add_metrics(struct ht_snapshot *s)
{
	uint64_t v[8], seq;
	double heap = -1;
	int tries = 0;

	ht_snapshot_add_metric(s, "heap.live_objects", (double)ht_snapshot_live_objects(s));
	ht_snapshot_add_metric(s, "heap.inuse_bytes_estimate", ht_profile_inuse(prof));
	read_rss();
	if (rss > 0) {
		ht_snapshot_add_metric(s, "process.rss_bytes", rss);
		ht_snapshot_add_metric(s, "process.rss_peak_bytes", rss_peak);
	}
	do {
		seq = __atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE);
		memcpy(v, (const void *)shm->stats, sizeof(v));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1 || seq != __atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE)) &&
		 ++tries < 1000);
	if (!seq || tries >= 1000 || untraced[0])
		return; /* never refreshed, or the writer died mid-way; or they
			 * describe a malloc the program does not call */
	switch (shm->allocator) {
	case HT_ALLOCATOR_GLIBC:
		ht_snapshot_add_metric(s, "glibc.arena_bytes", (double)v[HT_GLIBC_ARENA]);
		ht_snapshot_add_metric(s, "glibc.in_use_bytes", (double)v[HT_GLIBC_IN_USE]);
		ht_snapshot_add_metric(s, "glibc.free_bytes", (double)v[HT_GLIBC_FREE]);
		ht_snapshot_add_metric(s, "glibc.mmap_bytes", (double)v[HT_GLIBC_MMAP]);
		ht_snapshot_add_metric(s, "glibc.releasable_bytes", (double)v[HT_GLIBC_TOP_PAD]);
		heap = (double)v[HT_GLIBC_IN_USE];
		break;
	case HT_ALLOCATOR_JEMALLOC:
		ht_snapshot_add_metric(s, "jemalloc.allocated_bytes", (double)v[HT_JEMALLOC_ALLOCATED]);
		ht_snapshot_add_metric(s, "jemalloc.active_bytes", (double)v[HT_JEMALLOC_ACTIVE]);
		ht_snapshot_add_metric(s, "jemalloc.resident_bytes", (double)v[HT_JEMALLOC_RESIDENT]);
		ht_snapshot_add_metric(s, "jemalloc.retained_bytes", (double)v[HT_JEMALLOC_RETAINED]);
		ht_snapshot_add_metric(s, "jemalloc.mapped_bytes", (double)v[HT_JEMALLOC_MAPPED]);
		ht_snapshot_add_metric(s, "jemalloc.metadata_bytes", (double)v[HT_JEMALLOC_METADATA]);
		heap = (double)v[HT_JEMALLOC_ALLOCATED];
		break;
	}
	ht_snapshot_add_metric(s, "heaptrace.arena_live_bytes", (double)v[HT_ARENA_LIVE]);
	ht_snapshot_add_metric(s, "heaptrace.arena_committed_bytes", (double)v[HT_ARENA_COMMITTED]);
	if (heap >= 0)
		heap += (double)v[HT_ARENA_LIVE];
	ht_snapshot_add_metric(s, "allocator.stats_age_seconds",
			       (double)(s->time_ns - shm->stats_time_ns) / 1e9);
	if (heap >= 0 && rss > 0)
		ht_snapshot_add_metric(s, "process.rss_minus_heap_bytes", rss - heap);
}

/* Asks the shim for fresh allocator figures, which it reads at its next
 * sampled allocation, and waits for them up to 50 ms, draining meanwhile; a
 * program that makes none keeps its last figures (their age is in the
 * snapshot). */
static void ask_stats(void)
{
	uint64_t seq = __atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE);
	int64_t deadline = ht_now_ns() + 50000000;

	if (!shm->allocator)
		return;
	__atomic_store_n(&shm->stats_wanted, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE) == seq && ht_now_ns() < deadline) {
		struct timespec ts = { 0, 1000000 };

		drain(0);
		nanosleep(&ts, NULL);
	}
}

/* Notes when the profile's peak rose: its time is known to within the
 * time between two drains. */
static void note_peak(void)
{
	double pk = ht_profile_peak(prof);

	if (pk > peak_seen) {
		peak_seen = pk;
		peak_at_ns = ht_wall_ns();
	}
}

static struct ht_snapshot *take(uint32_t seq, uint32_t flags)
{
	struct ht_snapshot *s = ht_snapshot_new();
	const struct ht_slot *slots = (const void *)((const char *)shm + fixed.slots_offset);
	uint32_t n = __atomic_load_n(&shm->next_slot, __ATOMIC_ACQUIRE), i;
	struct ht_counts *c;
	int rc;

	if (!s)
		return NULL;
	s->flags = flags | (fixed.rate <= 1 ? HT_SNAP_EXACT : 0);
	s->pid = fixed.pid;
	s->exe = ht_snapshot_strdup(s, fixed.exe);
	s->cmdline = ht_snapshot_strdup(s, fixed.cmdline);
	s->start_time_ns = fixed.start_time_ns;
	s->time_ns = ht_wall_ns();
	s->rate = fixed.rate;
	s->max_depth = fixed.max_depth;
	s->seq = seq;
	if (untraced[0]) {
		s->flags |= HT_SNAP_UNTRACED;
		s->note = ht_snapshot_strdup(s, untraced);
	}
	c = &s->counts;
	c->alloc_calls = __atomic_load_n(&shm->retired[0], __ATOMIC_RELAXED);
	c->free_calls = __atomic_load_n(&shm->retired[1], __ATOMIC_RELAXED);
	c->realloc_calls = __atomic_load_n(&shm->retired[2], __ATOMIC_RELAXED);
	c->alloc_bytes = __atomic_load_n(&shm->retired[3], __ATOMIC_RELAXED);
	if (n > fixed.nslots)
		n = (uint32_t)fixed.nslots;
	for (i = 0; i < n; i++) {
		c->alloc_calls += __atomic_load_n(&slots[i].alloc_calls, __ATOMIC_RELAXED);
		c->free_calls += __atomic_load_n(&slots[i].free_calls, __ATOMIC_RELAXED);
		c->realloc_calls += __atomic_load_n(&slots[i].realloc_calls, __ATOMIC_RELAXED);
		c->alloc_bytes += __atomic_load_n(&slots[i].alloc_bytes, __ATOMIC_RELAXED);
	}
	s->drops.alloc_events = __atomic_load_n(&shm->drop_alloc, __ATOMIC_RELAXED);
	s->drops.free_events = __atomic_load_n(&shm->drop_free, __ATOMIC_RELAXED);
	/* records someone else wrote into the ring were lost too */
	s->drops.other_events = __atomic_load_n(&shm->drop_other, __ATOMIC_RELAXED) + rd.damaged +
				rd.abandoned;
	s->drops.arena_full = __atomic_load_n(&shm->arena_full, __ATOMIC_RELAXED);
	s->drops.unmatched = ht_profile_unmatched(prof);
	note_peak();
	/* nothing sampled yet: a peak of nothing, since the start */
	s->peak_time_ns = peak_at_ns ? peak_at_ns : s->start_time_ns ? s->start_time_ns : s->time_ns;
	add_metrics(s);
	pthread_mutex_lock(&sym_lock);
	rc = !s->exe || !s->cmdline || (untraced[0] && !s->note) ||
	     ht_profile_fill(prof, s, sym) != 0;
	pthread_mutex_unlock(&sym_lock);
	if (rc) {
		ht_snapshot_free(s);
		return NULL;
	}
	return s;
}

/* HEAPTRACE_REPORT_TO: adds the record "KIND PID COLLECTOR_PID TEXT" and a
 * NUL to the heaptrace launcher's file (an existing regular file only):
 * F, "exit PATH" or "cut PATH", the final snapshot written after a clean
 * exit or not; E, why there is none; P, the peak snapshot's path; U, the
 * shim's note on why nothing is traced. Failures are silent: the launcher
 * says what it lacks. */
static void tell_launcher(char kind, const char *text)
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
	n = snprintf(rec, sizeof(rec), "%c %lld %d %s", kind, (long long)fixed.pid, (int)getpid(),
		     text);
	if (n >= (int)sizeof(rec))
		n = (int)sizeof(rec) - 1;
	/* one write: an O_APPEND record of a regular file is not split */
	if (n > 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && write(fd, rec, (size_t)n + 1) < 0)
		n = 0;
	close(fd);
}

/* Writes s to path: replacing a file there only if the user named it.
 * Returns 0 with the name used in out (out_cap bytes), or -1 with the
 * reason there; quiet says nothing on failure. */
static int save_file(const struct ht_snapshot *s, const char *path, char *out, size_t out_cap,
		     int quiet)
{
	char err[512], name[HT_PATH_MAX + 64];
	void *buf = NULL;
	size_t len;
	int rc = 0;

	if (!fixed.output_default) {
		rc = ht_snapshot_write_file(s, path, err, sizeof(err));
		snprintf(name, sizeof(name), "%s", path);
	} else {
		snprintf(name, sizeof(name), "%s", path);
		rc = ht_snapshot_encode(s, &buf, &len, err, sizeof(err)) != 0 ||
		     ht_write_file_unique(name, sizeof(name), buf, len, err, sizeof(err)) != 0 ? -1 : 0;
		if (rc == 0 && strcmp(name, path))
			ht_error("'%s' exists; snapshot written to '%s'", path, name);
		free(buf);
	}
	if (rc != 0 && !quiet)
		ht_error("%s", err);
	snprintf(out, out_cap, "%s", rc == 0 ? name : err);
	return rc;
}

/* save_file as the traced process is now (see as_process). */
static int save(const struct ht_snapshot *s, const char *path, char *out, size_t out_cap,
		int quiet)
{
	int rc;

	if (as_process(path) != 0) {
		snprintf(out, out_cap, "not written: the collector cannot take the user of process %lld",
			 (long long)fixed.pid);
		return -1;
	}
	rc = save_file(s, path, out, out_cap, quiet);
	back_to_own();
	return rc;
}

static void write_peak(int at_exit);

static void write_final(int cut_short)
{
	struct ht_snapshot *s;
	char what[HT_PATH_MAX + 600], rec[HT_PATH_MAX + 640];

	/* a peak higher than the last peak file, reached within the second
	 * the file waits between writes: written now, so that the peak file
	 * holds the highest in-use total the process reached */
	note_peak();
	if (peak_margin > 0 && peak_seen > peak_written)
		write_peak(1);
	s = take(0, HT_SNAP_FINAL | (cut_short ? HT_SNAP_CUT_SHORT : 0));

	if (!s) {
		ht_error("out of memory while taking the final snapshot of process %lld",
			 (long long)fixed.pid);
		tell_launcher('E', "out of memory while taking the final snapshot");
	} else if (save(s, fixed.output, what, sizeof(what), said_unwritable) == 0) {
		snprintf(rec, sizeof(rec), "%s %s", cut_short ? "cut" : "exit", what);
		tell_launcher('F', rec);
	} else {
		tell_launcher('E', what);
	}
	ht_snapshot_free(s);
	__atomic_store_n(&shm->done, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &shm->done, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* The final snapshot's path with ".heap" replaced by ".TAG.heap". */
static void sibling_path(char *out, size_t cap, const char *tag)
{
	const char *o = fixed.output;
	size_t n = strlen(o);

	if (n > 5 && !strcmp(o + n - 5, ".heap"))
		n -= 5;
	snprintf(out, cap, "%.*s.%s.heap", (int)n, o, tag);
}

/* A numbered (or "peak") snapshot next to where the final one goes. */
static void write_sibling(const char *tag, uint32_t seq)
{
	char path[HT_PATH_MAX + 32], what[HT_PATH_MAX + 600];
	struct ht_snapshot *s;

	ask_stats();
	drain(1);
	s = take(seq, 0);
	sibling_path(path, sizeof(path), tag);
	if (!s)
		ht_error("out of memory while taking a snapshot of process %lld",
			 (long long)fixed.pid);
	else
		save(s, path, what, sizeof(what), 0);
	ht_snapshot_free(s);
}

/* The peak snapshot is one file, replaced by each higher peak: under a
 * default name, the name it was first given (see save). At exit every
 * event is read and the shim's figures are fresh already. */
static void write_peak(int at_exit)
{
	static char path[HT_PATH_MAX + 64];
	char err[512];
	struct ht_snapshot *s;

	if (!at_exit) {
		ask_stats();
		drain(1);
	}
	s = take(0, HT_SNAP_PEAK);
	if (!s) {
		ht_error("out of memory while taking a snapshot of process %lld",
			 (long long)fixed.pid);
		return;
	}
	if (as_process(path[0] ? path : "the peak snapshot") != 0) {
		ht_snapshot_free(s);
		return;
	}
	/* the peak's figures, not the current ones: in use is what was in
	 * use when the total was highest, and the snapshot is of that time */
	for (size_t i = 0; i < s->nstacks; i++) {
		struct ht_stack *st = &s->stacks[i];

		st->inuse_objects = st->peak_objects;
		st->inuse_space = st->peak_space;
		st->inuse_samples = st->peak_samples;
	}
	for (size_t i = 0; i < s->nmetrics; i++)
		if (!strcmp(s->metrics[i].name, "heap.inuse_bytes_estimate"))
			s->metrics[i].value = peak_seen;
	if (s->peak_time_ns) {
		/* the allocator's figures keep their own time: their age is
		 * counted from the peak now (negative: read after it) */
		for (size_t i = 0; i < s->nmetrics; i++)
			if (!strcmp(s->metrics[i].name, "allocator.stats_age_seconds"))
				s->metrics[i].value -= (double)(s->time_ns - s->peak_time_ns) / 1e9;
		s->time_ns = s->peak_time_ns;
	}
	peak_written = peak_seen;
	if (!path[0]) {
		void *buf = NULL;
		size_t len;

		sibling_path(path, sizeof(path), "peak");
		if (!fixed.output_default) {
			if (ht_snapshot_write_file(s, path, err, sizeof(err)) != 0)
				ht_error("%s", err);
		} else if (ht_snapshot_encode(s, &buf, &len, err, sizeof(err)) != 0 ||
			   ht_write_file_unique(path, sizeof(path), buf, len, err, sizeof(err)) != 0) {
			ht_error("%s", err);
			path[0] = 0;
		}
		free(buf);
	} else if (ht_snapshot_write_file(s, path, err, sizeof(err)) != 0) {
		ht_error("%s", err);
	}
	if (path[0])
		tell_launcher('P', path);
	back_to_own();
	ht_snapshot_free(s);
}

static void write_numbered(void)
{
	char tag[16];

	/* four digits at least, so that names sort by number ("t.0010.heap"
	 * after "t.0009.heap") up to 9999 */
	snprintf(tag, sizeof(tag), "%04u", ++nsnaps);
	write_sibling(tag, nsnaps);
}

/* Snapshots the program did not ask for by hand: on its signal, every
 * HEAPTRACE_INTERVAL seconds, and when in-use memory reaches a new peak
 * (HEAPTRACE_PEAK percent above the last peak written, at most once a
 * second). */
static void timed_snapshots(int64_t now, int64_t *next_interval, uint32_t *signals)
{
	uint32_t req = __atomic_load_n(&shm->snap_requests, __ATOMIC_ACQUIRE);

	if (req != *signals) {
		*signals = req;
		write_numbered();
	}
	if (interval > 0 && now >= *next_interval) {
		write_numbered();
		while (*next_interval <= now)
			*next_interval += (int64_t)(interval * 1e9);
	}
	/* the profile keeps the peak as it happens; the file follows it at
	 * most once a second, and at exit (see write_final) */
	note_peak();
	if (peak_margin > 0 && peak_seen > peak_written * (1 + peak_margin / 100) &&
	    now - peak_time >= 1000000000) {
		write_peak(0);
		peak_time = now;
	}
}

/* Is v a plain decimal number: digits, with a fraction after a point if
 * any ("5", "0.25", ".5", "5.")? No sign, space, exponent, hex, inf, nan. */
static int plain_decimal(const char *v)
{
	size_t digits = 0;

	for (; *v >= '0' && *v <= '9'; v++)
		digits++;
	if (*v == '.')
		for (v++; *v >= '0' && *v <= '9'; v++)
			digits++;
	return digits > 0 && !*v;
}

/* A number from the environment: 0 (off) or within [lo, hi]; a bad value
 * gets one message and means off. */
static double env_number(const char *name, double lo, double hi)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (!v || !*v)
		return 0;
	d = plain_decimal(v) ? strtod(v, &end) : -1;
	if (d < 0 || !(d == 0 || (d >= lo && d <= hi))) {
		ht_error("ignoring %s='%s': not 0 (off) or a number from %.1f to %.0f",
			 name, v, lo, hi);
		return 0;
	}
	return d;
}

/* HEAPTRACE_DEBUGINFO_PATH: says once which of its entries the
 * symbolizer passes over (each_debug_root in symbolize.c): a relative
 * one, which would name a different place for every collector's working
 * directory, and one too long for a path. */
static void check_debuginfo_path(void)
{
	const char *p = getenv("HEAPTRACE_DEBUGINFO_PATH");

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len && (p[0] != '/' || len >= PATH_MAX))
			ht_error("ignoring '%.*s' in HEAPTRACE_DEBUGINFO_PATH: not an absolute "
				 "directory", (int)(len < 200 ? len : 200), p);
		p = end ? end + 1 : NULL;
	}
}

/* HEAPTRACE_DWARF_MB: the most compressed DWARF, unpacked, that the
 * collector reads for one module (a whole number of MiB, 0 for none). */
#define DWARF_MB_DEFAULT 4
#define DWARF_MB_MAX 1048576

static uint64_t dwarf_max_bytes(void)
{
	const char *v = getenv("HEAPTRACE_DWARF_MB");
	uint64_t mb = 0;
	const char *c;

	if (!v || !*v)
		return (uint64_t)DWARF_MB_DEFAULT << 20;
	for (c = v; *c >= '0' && *c <= '9' && mb <= DWARF_MB_MAX; c++)
		mb = mb * 10 + (uint64_t)(*c - '0');
	if (*c || mb > DWARF_MB_MAX) {
		ht_error("ignoring HEAPTRACE_DWARF_MB='%s': not a whole number from 0 to %d",
			 v, DWARF_MB_MAX);
		return (uint64_t)DWARF_MB_DEFAULT << 20;
	}
	return mb << 20;
}

/* Each exchange with a client has a total deadline: a client that sends
 * its request slowly, or reads the reply slowly, cannot hold the
 * collector (which does not drain the ring meanwhile) for longer. */
#define REQUEST_MS 2000

static void reply_error(int fd, const char *msg, int64_t deadline)
{
	char line[600];

	snprintf(line, sizeof(line), "error %s\n", msg);
	ht_io_write(fd, line, strlen(line), deadline);
}

static void reply(int fd, const void *body, size_t len, uint32_t seq, int64_t deadline)
{
	char line[64];

	snprintf(line, sizeof(line), "ok %zu %u\n", len, seq);
	if (ht_io_write(fd, line, strlen(line), deadline) == 0)
		ht_io_write(fd, body, len, deadline);
}

/* One request on an accepted (non-blocking) connection, answered
 * synchronously; only root or the traced process's user is answered. */
static void serve(int fd)
{
	char line[64], why[256];
	size_t n = 0;
	int64_t deadline = ht_now_ns() + (int64_t)REQUEST_MS * 1000000;

	if (ht_control_client_ok(fd, (pid_t)fixed.pid, why, sizeof(why)) != 0) {
		reply_error(fd, why, deadline);
		return;
	}
	while (n < sizeof(line) - 1 && ht_io_read(fd, &line[n], 1, deadline) == 0 && line[n] != '\n')
		n++;
	line[n] = 0;
	/* the reply's own deadline: the time to write it, not to build it */
	if (strcmp(line, "snapshot") == 0) {
		char err[512];
		struct ht_snapshot *s;
		void *buf;
		size_t len;

		ask_stats();
		drain(1);
		s = take(++nsnaps, 0);
		deadline = ht_now_ns() + (int64_t)HT_CONTROL_TIMEOUT_MS * 1000000;
		if (!s) {
			reply_error(fd, "out of memory", deadline);
			return;
		}
		if (ht_snapshot_encode(s, &buf, &len, err, sizeof(err)) != 0) {
			reply_error(fd, err, deadline);
		} else if (len > HT_CONTROL_MAX_REPLY) {
			snprintf(err, sizeof(err), "the snapshot is %zu bytes, more than "
				 "heaptrace-dump takes (%zu)", len, HT_CONTROL_MAX_REPLY);
			reply_error(fd, err, deadline);
			free(buf);
		} else {
			reply(fd, buf, len, nsnaps, deadline);
			free(buf);
		}
		ht_snapshot_free(s);
	} else if (strcmp(line, "info") == 0) {
		struct ht_control_info in = { 0 };
		char info[HT_PATH_MAX + 128];
		size_t len;

		in.pid = (long long)fixed.pid;
		snprintf(in.exe, sizeof(in.exe), "%s", fixed.exe);
		in.start_ns = (long long)fixed.start_time_ns;
		in.inuse = ht_profile_inuse(prof);
		len = ht_control_info_format(info, sizeof(info), &in);
		reply(fd, info, len, nsnaps, deadline);
	} else {
		reply_error(fd, "unknown request", deadline);
	}
}

/* ---- main ---------------------------------------------------------------- */

/* Says at start, in one line, when the final snapshot's directory cannot
 * be written to, rather than when the program has ended and its profile
 * is lost (it is tried then all the same: the directory may have become
 * writable). */
static void check_output_dir(void)
{
	char dir[HT_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", fixed.output);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	if (access(dir, W_OK | X_OK) != 0) {
		ht_error("cannot write the snapshot '%s': directory '%s': %s; "
			 "the profile will be lost", fixed.output, dir, strerror(errno));
		said_unwritable = 1;
	}
}

static int opt_fd(const char *arg, const char *name)
{
	size_t n = strlen(name);
	uint64_t v;

	if (strncmp(arg, name, n) != 0 || ht_parse_u64(arg + n, &v) != 0 || v > 1024)
		return -1;
	return (int)v;
}

/* Closes every descriptor but 0, 1, 2, a and b: whatever else the
 * collector was started with is the program's (a pipe whose reader waits
 * for its end of file when the program ends), however it was started. */
static void close_others(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;
	DIR *d;
	struct dirent *e;

	if (lo > 2 && (lo == 3 || syscall(SYS_close_range, 3u, (unsigned)lo - 1, 0u) == 0) &&
	    (hi <= lo + 1 || syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0u) == 0) &&
	    syscall(SYS_close_range, (unsigned)hi + 1, ~0u, 0u) == 0)
		return;
	d = opendir("/proc/self/fd"); /* a kernel before 5.9 */
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (!*end && e->d_name[0] && fd > 2 && fd != a && fd != b && fd != dirfd(d))
			close((int)fd);
	}
	closedir(d);
}

/* The shim starts the collector orphaned already (see start_collector in
 * preload/trace.c), with every signal blocked: it leaves the program's
 * session and terminal, ignores what a terminal sends, and only then
 * takes signals. */
static void detach(void)
{
	sigset_t none;
	int null;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	if (chdir("/") != 0)
		return;
}

static void *warm_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct ht_snapshot *job;
		int trim;

		pthread_mutex_lock(&warm_mu);
		while (!warm_job && !warm_trim)
			pthread_cond_wait(&warm_cv, &warm_mu);
		job = warm_job;
		trim = warm_trim;
		warm_trim = 0;
		pthread_mutex_unlock(&warm_mu);
		pthread_mutex_lock(&sym_lock);
		if (job)
			ht_symbolize(sym, job);
		if (trim)
			ht_symbolizer_trim(sym);
		pthread_mutex_unlock(&sym_lock);
		ht_snapshot_free(job);
		pthread_mutex_lock(&warm_mu);
		if (warm_job == job)
			__atomic_store_n(&warm_job, NULL, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&warm_mu);
	}
	return NULL;
}

/* Between drains the collector sleeps in poll() up to SLEEP_MS (less when
 * an interval snapshot falls due sooner); a writer that finds the ring a
 * quarter full (or writes the EXIT event, or takes a snapshot signal)
 * wakes the futex on shm->kick, and this thread turns that into a byte on
 * a pipe the poll() watches. Each wake-up takes a processor from the
 * program on a small machine: 20 ms cost a two-thread allocation stress on
 * two cores 1.5-2% of its run time against 100 ms. */
#define SLEEP_MS 100
#define WARM_TRIM_WAKES 100 /* some 10 s without new stacks */
static int wake_pipe[2] = { -1, -1 };

static size_t ring_used(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (size_t)ht_ring_reader_pending(&rd);
}

static void *waker_main(void *arg)
{
	uint32_t seen = (uint32_t)(uintptr_t)arg;

	for (;;) {
		uint32_t k;

		syscall(SYS_futex, &shm->kick, FUTEX_WAIT, seen, NULL, NULL, 0);
		k = __atomic_load_n(&shm->kick, __ATOMIC_ACQUIRE);
		if (k != seen) {
			char c = 0;

			seen = k;
			if (write(wake_pipe[1], &c, 1) < 0 && errno != EAGAIN)
				break;
		}
	}
	return NULL;
}

/* Starts the waker thread; without it the collector drains every SLEEP_MS.
 * The count of kicks is read here, not by the thread: one that came after
 * the thread started but before it read the count would be taken for the
 * starting value, and the program's exit would wait out a whole sleep. */
static void start_waker(void)
{
	uint32_t seen = __atomic_load_n(&shm->kick, __ATOMIC_ACQUIRE);
	pthread_t t;
	pthread_attr_t at;

	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		wake_pipe[0] = wake_pipe[1] = -1;
		return;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 64 << 10);
	if (pthread_create(&t, &at, waker_main, (void *)(uintptr_t)seen) != 0) {
		close(wake_pipe[0]);
		close(wake_pipe[1]);
		wake_pipe[0] = wake_pipe[1] = -1;
	}
	pthread_attr_destroy(&at);
}

/* Gives the naming thread a job (or asks it to trim). */
static void hand_over(struct ht_snapshot *job, int trim)
{
	pthread_mutex_lock(&warm_mu);
	if (job)
		__atomic_store_n(&warm_job, job, __ATOMIC_RELEASE);
	warm_trim |= trim;
	pthread_cond_signal(&warm_cv);
	pthread_mutex_unlock(&warm_mu);
}

/* Does the traced process still map our shared memory? After an exec it
 * does not; a program that merely closed its file descriptors does. */
static int still_mapped(void)
{
	char path[64], line[512];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%lld/maps", (long long)fixed.pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long long ino;

		if (sscanf(line, "%*s %*s %*s %*s %llu", &ino) == 1 && ino == (unsigned long long)shm_ino &&
		    strstr(line, "heaptrace"))
			found = 1;
	}
	fclose(f);
	return found;
}

static int process_alive(void)
{
	return kill((pid_t)fixed.pid, 0) == 0 || errno != ESRCH;
}

/* Removes the temporary files that killed writers left where the
 * snapshots go (see ht_clean_temps). */
static void clean_output_dir(void)
{
	char dir[sizeof(shm->output)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", shm->output);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	slash[slash == dir] = 0; /* "/x.heap": "/" */
	ht_clean_temps(dir);
}

int main(int argc, char **argv)
{
	int shm_fd = -1, alive_fd = -1, pid_fd, lfd, i;
	int64_t pid_arg = 0;
	const char *output_arg = NULL;
	uint64_t v;
	char sock[256], err[512];
	int64_t idle = 0, next_interval = 0, next_rss = 0, warm_idle = 0;
	struct stat st;
	ino_t sock_ino = 0;
	uint32_t signals = 0;

	ht_progname = "heaptrace-collector";
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("%s %s\n", ht_progname, HT_VERSION);
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--shm-fd=", 9) == 0)
			shm_fd = opt_fd(argv[i], "--shm-fd=");
		else if (strncmp(argv[i], "--alive-fd=", 11) == 0)
			alive_fd = opt_fd(argv[i], "--alive-fd=");
		else if (strncmp(argv[i], "--pid=", 6) == 0)
			pid_arg = ht_parse_u64(argv[i] + 6, &v) == 0 && v > 0 && v <= INT32_MAX ?
					  (int64_t)v : 0;
		else if (strncmp(argv[i], "--output=", 9) == 0)
			output_arg = argv[i] + 9;
		else
			ht_die(2, "unknown option '%s' (this program is started by libheaptrace.so)",
			       argv[i]);
	}
	if (shm_fd < 0 || alive_fd < 0 || !pid_arg || !output_arg || output_arg[0] != '/' ||
	    strlen(output_arg) >= sizeof(fixed.output))
		ht_die(2, "usage: heaptrace-collector --shm-fd=N --alive-fd=N --pid=PID "
		       "--output=PATH (started by libheaptrace.so)");
	close_others(shm_fd, alive_fd);
	if (map_shm(shm_fd) != 0)
		return 1;
	/* the process and the path as the shim gave them when it started us,
	 * whatever the shared header says by now */
	fixed.pid = pid_arg;
	snprintf(fixed.output, sizeof(fixed.output), "%s", output_arg);
	creds_at_start();
	close(shm_fd);
	fcntl(alive_fd, F_SETFD, FD_CLOEXEC);
	prof = ht_profile_new(fixed.rate);
	sym = ht_symbolizer_new();
	if (!prof || !sym)
		ht_die(1, "out of memory");
	ht_symbolizer_set_dwarf_max(sym, dwarf_max_bytes());
	if (fixed.forked)
		ht_profile_set_inherited(prof);
	ht_progname = "heaptrace";
	/* listen first: the program runs on while the collector starts, and
	 * heaptrace-dump waits for this socket when the process it is asked
	 * for has the shim loaded */
	lfd = ht_control_listen((pid_t)fixed.pid, sock, sizeof(sock), err, sizeof(err));
	if (lfd < 0)
		ht_error("%s; heaptrace-dump will not reach process %lld", err,
			 (long long)fixed.pid);
	else if (stat(sock, &st) == 0)
		sock_ino = st.st_ino;
	check_output_dir();
	if (untraced[0])
		tell_launcher('U', untraced);
	detach();
	clean_output_dir();
	interval = env_number("HEAPTRACE_INTERVAL", 0.1, 86400 * 365);
	peak_margin = env_number("HEAPTRACE_PEAK", 1, 10000);
	check_debuginfo_path();
	next_interval = ht_now_ns() + (int64_t)(interval * 1e9);
	{
		pthread_t t;
		pthread_attr_t at;

		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, warm_main, NULL) != 0)
			ht_error("cannot start a thread: frames are named at snapshot time only");
		pthread_attr_destroy(&at);
	}
	/* the process's end: its pidfd where the kernel has them, else polling */
	pid_fd = (int)syscall(SYS_pidfd_open, (pid_t)fixed.pid, 0);
	start_waker();
	__atomic_store_n(&shm->collector_ready, 1, __ATOMIC_RELEASE);

	for (;;) {
		struct pollfd pf[4] = { { lfd, POLLIN, 0 }, { alive_fd, POLLIN, 0 },
					{ pid_fd, POLLIN, 0 }, { wake_pipe[0], POLLIN, 0 } };
		size_t got = drain(0);
		int gone = 0, timeout;

		int64_t now;

		/* the shim says it exits but its EXIT event did not fit in the
		 * ring: once everything before it is read, that is the exit */
		if (!exit_seen && !got && __atomic_load_n(&shm->exiting, __ATOMIC_ACQUIRE) &&
		    ht_ring_reader_pending(&rd) == 0)
			exit_seen = 1;
		if (exit_seen) {
			write_final(0);
			break;
		}
		now = ht_now_ns();
		timed_snapshots(now, &next_interval, &signals);
		if (now >= next_rss) {
			read_rss(); /* so a process that is killed still has a figure */
			next_rss = now + 1000000000;
		}
		/* name the new stacks' frames ahead, on the naming thread, so
		 * that the final snapshot, which the program waits for, is
		 * quick */
		idle = got ? 0 : idle + 1;
		if (!__atomic_load_n(&warm_job, __ATOMIC_ACQUIRE)) {
			struct ht_snapshot *job = ht_profile_warm_job(prof, 2000);

			if (job) {
				hand_over(job, 0);
				warm_idle = 0;
			} else if (++warm_idle == WARM_TRIM_WAKES) {
				/* no new stacks for a while: keep the names
				 * found, let go of the debug info read to find
				 * them */
				hand_over(NULL, 1);
			}
		}
		/* sleep between drains, unless the ring already holds a lot;
		 * a writer that finds it a quarter full wakes us early */
		timeout = 0;
		if (ring_used() <= fixed.ring_size / 4) {
			__atomic_store_n(&shm->sleeping, 1, __ATOMIC_SEQ_CST);
			if (ring_used() <= fixed.ring_size / 4 &&
			    !__atomic_load_n(&shm->exiting, __ATOMIC_SEQ_CST)) {
				int64_t due = interval > 0 ? (next_interval - ht_now_ns()) / 1000000 + 1
							   : SLEEP_MS;

				timeout = due < 0 ? 0 : due < SLEEP_MS ? (int)due : SLEEP_MS;
			}
		}
		if (poll(pf, 4, timeout) < 0 && errno != EINTR)
			break;
		__atomic_store_n(&shm->sleeping, 0, __ATOMIC_RELAXED);
		if (pf[3].revents & POLLIN) {
			char buf[64];

			while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
				;
		}
		if (lfd >= 0 && (pf[0].revents & POLLIN)) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (c >= 0) {
				serve(c);
				close(c);
			}
		}
		if (pf[1].revents) {
			/* the pipe closed: the process ended or exec'd -- or it
			 * closed its descriptors, and then we go on */
			close(alive_fd);
			alive_fd = -1;
			if (process_alive() && still_mapped())
				continue;
			gone = 1;
		}
		if (pf[2].revents || (pid_fd < 0 && idle % 10 == 9 && !process_alive()))
			gone = 1;
		if (gone) {
			/* its pid may name another process soon: its ids
			 * are the last ones read, and a record it never
			 * completed is given up */
			proc_gone = 1;
			drain(0);
			/* a clean exit whose EXIT event did not fit in the ring
			 * still left its mark */
			write_final(!exit_seen && !__atomic_load_n(&shm->exiting, __ATOMIC_ACQUIRE));
			break;
		}
	}
	if (lfd >= 0 && stat(sock, &st) == 0 && st.st_ino == sock_ino)
		unlink(sock); /* not one a later image of this pid (exec) bound */
	pthread_mutex_lock(&sym_lock); /* the naming thread is done with it */
	ht_symbolizer_free(sym);
	ht_profile_free(prof);
	return 0;
}
