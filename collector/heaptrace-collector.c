/* heaptrace-collector: started by the shim of one traced process, with the
 * shared memory on fd 3, the read end of the process's liveness pipe on
 * fd 4, and the process's id and output path on its command line. It
 * drains the ring into the profile, answers heaptrace-dump on the control
 * socket, and writes the final snapshot when the process ends. */
#include <errno.h>
#include <fcntl.h>
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

#include "aggregate.h"
#include "control.h"
#include "ring.h"
#include "ringread.h"
#include "snapshot.h"
#include "symbolize.h"
#include "util.h"

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
static int exit_seen;        /* the program said it exits normally */
static ino_t shm_ino;        /* the memfd's inode, to find it in /proc/PID/maps */

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

	ht_snapshot_add_metric(s, "heap.live_objects",
			       (double)(s->counts.alloc_calls - s->counts.free_calls));
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
	if (!seq || tries >= 1000)
		return; /* never refreshed, or the writer died mid-way */
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
	add_metrics(s);
	pthread_mutex_lock(&sym_lock);
	rc = !s->exe || !s->cmdline || ht_profile_fill(prof, s, sym) != 0;
	pthread_mutex_unlock(&sym_lock);
	if (rc) {
		ht_snapshot_free(s);
		return NULL;
	}
	return s;
}

/* Writes s to path: replacing a file there only if the user named it. */
static void save_file(const struct ht_snapshot *s, const char *path)
{
	char err[512], name[HT_PATH_MAX + 64];
	void *buf = NULL;
	size_t len;

	if (!fixed.output_default) {
		if (ht_snapshot_write_file(s, path, err, sizeof(err)) != 0)
			ht_error("%s", err);
		return;
	}
	snprintf(name, sizeof(name), "%s", path);
	if (ht_snapshot_encode(s, &buf, &len, err, sizeof(err)) != 0 ||
	    ht_write_file_unique(name, sizeof(name), buf, len, err, sizeof(err)) != 0)
		ht_error("%s", err);
	else if (strcmp(name, path))
		ht_error("'%s' exists; snapshot written to '%s'", path, name);
	free(buf);
}

/* save_file as the traced process is now (see as_process). */
static void save(const struct ht_snapshot *s, const char *path)
{
	if (as_process(path) != 0)
		return;
	save_file(s, path);
	back_to_own();
}

static void write_final(int cut_short)
{
	struct ht_snapshot *s = take(0, HT_SNAP_FINAL | (cut_short ? HT_SNAP_CUT_SHORT : 0));

	if (!s)
		ht_error("out of memory while taking the final snapshot of process %lld",
			 (long long)fixed.pid);
	else
		save(s, fixed.output);
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
	char path[HT_PATH_MAX + 32];
	struct ht_snapshot *s;

	ask_stats();
	drain(1);
	s = take(seq, 0);
	sibling_path(path, sizeof(path), tag);
	if (!s)
		ht_error("out of memory while taking a snapshot of process %lld",
			 (long long)fixed.pid);
	else
		save(s, path);
	ht_snapshot_free(s);
}

/* The peak snapshot is one file, replaced by each higher peak: under a
 * default name, the name it was first given (see save). */
static void write_peak(void)
{
	static char path[HT_PATH_MAX + 64];
	char err[512];
	struct ht_snapshot *s;

	ask_stats();
	drain(1);
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
	back_to_own();
	ht_snapshot_free(s);
}

static void write_numbered(void)
{
	char tag[16];

	snprintf(tag, sizeof(tag), "%u", ++nsnaps);
	write_sibling(tag, nsnaps);
}

/* Snapshots the program did not ask for by hand: on its signal, every
 * HEAPTRACE_INTERVAL seconds, and when in-use memory reaches a new peak
 * (HEAPTRACE_PEAK percent above the last peak written, at most once a
 * second). */
static void timed_snapshots(int64_t now, int64_t *next_interval, uint32_t *signals)
{
	uint32_t req = __atomic_load_n(&shm->snap_requests, __ATOMIC_ACQUIRE);
	double inuse;

	if (req != *signals) {
		*signals = req;
		write_numbered();
	}
	if (interval > 0 && now >= *next_interval) {
		write_numbered();
		while (*next_interval <= now)
			*next_interval += (int64_t)(interval * 1e9);
	}
	inuse = ht_profile_inuse(prof);
	if (peak_margin > 0 && inuse > peak_written * (1 + peak_margin / 100) &&
	    now - peak_time >= 1000000000) {
		write_peak();
		peak_written = inuse;
		peak_time = now;
	}
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
	d = strtod(v, &end);
	if (*end || !(d == 0 || (d >= lo && d <= hi))) {
		ht_error("ignoring %s='%s': not 0 (off) or a number from %.1f to %.0f",
			 name, v, lo, hi);
		return 0;
	}
	return d;
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

static void reply_error(int fd, const char *msg)
{
	char line[600];

	snprintf(line, sizeof(line), "error %s\n", msg);
	ht_write_full(fd, line, strlen(line));
}

static void reply(int fd, const void *body, size_t len, uint32_t seq)
{
	char line[64];

	snprintf(line, sizeof(line), "ok %zu %u\n", len, seq);
	if (ht_write_full(fd, line, strlen(line)) == 0)
		ht_write_full(fd, body, len);
}

/* One request on an accepted connection, answered synchronously. */
static void serve(int fd)
{
	char line[64];
	size_t n = 0;
	struct timeval tv = { 5, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ht_control_peer_ok(fd) != 0) {
		reply_error(fd, "permission denied: another user's process");
		return;
	}
	while (n < sizeof(line) - 1 && ht_read_full(fd, &line[n], 1) == 0 && line[n] != '\n')
		n++;
	line[n] = 0;
	if (strcmp(line, "snapshot") == 0) {
		char err[512];
		struct ht_snapshot *s;
		void *buf;
		size_t len;

		ask_stats();
		drain(1);
		s = take(++nsnaps, 0);
		if (!s) {
			reply_error(fd, "out of memory");
			return;
		}
		if (ht_snapshot_encode(s, &buf, &len, err, sizeof(err)) != 0) {
			reply_error(fd, err);
		} else {
			reply(fd, buf, len, nsnaps);
			free(buf);
		}
		ht_snapshot_free(s);
	} else if (strcmp(line, "info") == 0) {
		char info[HT_PATH_MAX + 128];
		int k = snprintf(info, sizeof(info), "pid %lld\nexe %s\nstart %lld\ninuse %.0f\n",
				 (long long)fixed.pid, fixed.exe, (long long)fixed.start_time_ns,
				 ht_profile_inuse(prof));

		reply(fd, info, (size_t)k < sizeof(info) ? (size_t)k : sizeof(info) - 1, nsnaps);
	} else {
		reply_error(fd, "unknown request");
	}
}

/* ---- main ---------------------------------------------------------------- */

static int opt_fd(const char *arg, const char *name)
{
	size_t n = strlen(name);
	uint64_t v;

	if (strncmp(arg, name, n) != 0 || ht_parse_u64(arg + n, &v) != 0 || v > 1024)
		return -1;
	return (int)v;
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
	detach();
	interval = env_number("HEAPTRACE_INTERVAL", 0.1, 86400 * 365);
	peak_margin = env_number("HEAPTRACE_PEAK", 1, 10000);
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
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

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
