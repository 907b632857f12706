/* heaptrace-collector: started by the shim of one traced process, with the
 * shared memory on fd 3 and the read end of the process's liveness pipe on
 * fd 4. It drains the ring into the profile, answers heaptrace-dump on the
 * control socket, and writes the final snapshot when the process ends. */
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
#include "snapshot.h"
#include "symbolize.h"
#include "util.h"

static struct ht_shm *shm;
static const char *ring;
static uint64_t ring_mask;
static struct ht_profile *prof;
static struct ht_symbolizer *sym;
static uint32_t nsnaps;      /* numbered snapshots so far: dumps, periodic, signal */
static double rss, rss_peak; /* the process's, last read (bytes) */
static double interval;      /* HEAPTRACE_INTERVAL seconds, 0 = off */
static double peak_margin;   /* HEAPTRACE_PEAK percent, 0 = off */
static double peak_written;  /* inuse total of the last peak snapshot */
static int64_t peak_time;    /* when it was written */
static int exit_seen;        /* the program said it exits normally */
static int ring_broken;      /* a malformed record: stop reading the ring */
static ino_t shm_ino;        /* the memfd's inode, to find it in /proc/PID/maps */

/* Naming frames ahead runs on a thread of its own, so that reading debug
 * info (tens of ms for libc's) never stops the ring from draining. The
 * symbolizer is used by one thread at a time: sym_lock. */
static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t warm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t warm_cv = PTHREAD_COND_INITIALIZER;
static struct ht_snapshot *warm_job; /* locations to name, handed over */
static int warm_trim;                /* let debug info go when done */

/* Maps the shared memory and checks that it is what the shim writes. */
static int map_shm(int fd)
{
	struct stat st;
	struct ht_shm *h;

	if (fstat(fd, &st) != 0 || (size_t)st.st_size < HT_SHM_HDR_SIZE)
		return ht_error("fd %d is not heaptrace shared memory", fd);
	shm_ino = st.st_ino;
	h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return ht_error("cannot map shared memory: %s", strerror(errno));
	if (h->magic != HT_SHM_MAGIC || h->version != HT_SHM_VERSION ||
	    h->size != (uint64_t)st.st_size || h->ring_size < 4096 ||
	    (h->ring_size & (h->ring_size - 1)) ||
	    h->ring_offset < HT_SHM_HDR_SIZE || h->ring_offset + h->ring_size > h->size ||
	    h->slots_offset < HT_SHM_HDR_SIZE ||
	    h->slots_offset + h->nslots * sizeof(struct ht_slot) > h->ring_offset)
		return ht_error("shared memory of an unknown layout (version %u)", h->version);
	h->exe[sizeof(h->exe) - 1] = 0;
	h->cmdline[sizeof(h->cmdline) - 1] = 0;
	h->output[sizeof(h->output) - 1] = 0;
	shm = h;
	ring = (const char *)h + h->ring_offset;
	ring_mask = h->ring_size - 1;
	return 0;
}

/* ---- draining ------------------------------------------------------------ */

static int apply(const struct ht_rec *r)
{
	switch (r->kind) {
	case HT_EV_PAD:
		return 0;
	case HT_EV_ALLOC: {
		const struct ht_ev_alloc *a = (const void *)r;

		if (r->len < sizeof(*a) + (uint32_t)r->nframes * 8 || r->nframes > HT_MAX_DEPTH)
			return -1;
		ht_profile_alloc(prof, a->addr, a->size, (const uint64_t *)(a + 1), r->nframes);
		return 0;
	}
	case HT_EV_STACK: {
		const struct ht_ev_stack *k = (const void *)r;

		if (r->len < sizeof(*k) + (uint32_t)r->nframes * 8 || r->nframes > HT_MAX_DEPTH ||
		    k->id == 0 || k->id > HT_MAX_STACK_ID)
			return -1;
		ht_profile_stack(prof, k->id, (const uint64_t *)(k + 1), r->nframes);
		return 0;
	}
	case HT_EV_ALLOC_ID: {
		const struct ht_ev_alloc_id *a = (const void *)r;

		if (r->len < sizeof(*a) || a->id == 0 || a->id > HT_MAX_STACK_ID)
			return -1;
		ht_profile_alloc_id(prof, a->addr, a->size, a->id);
		return 0;
	}
	case HT_EV_FREE: {
		const struct ht_ev_free *f = (const void *)r;

		if (r->len < sizeof(*f))
			return -1;
		ht_profile_release(prof, f->addr);
		return 0;
	}
	case HT_EV_MODULE: {
		const struct ht_ev_module *m = (const void *)r;

		if (r->len < sizeof(*m) || m->path_len >= HT_PATH_MAX ||
		    r->len < sizeof(*m) + m->path_len || m->build_id_len > sizeof(m->build_id))
			return -1;
		ht_profile_module(prof, (const char *)(m + 1), m->path_len, m->start, m->end,
				  m->bias, m->build_id, m->build_id_len);
		return 0;
	}
	case HT_EV_EXIT:
		exit_seen = 1;
		return 0;
	case HT_EV_SNAPSHOT:
		return 0;
	}
	return -1;
}

/* Applies complete records from the tail on. With wait_for set, records
 * reserved before the call but not yet complete are waited for (briefly),
 * so a snapshot includes every event that happened before it was asked
 * for. Returns the number of records applied. */
static size_t drain(int wait_for)
{
	uint64_t tail = shm->tail, stop = wait_for ? __atomic_load_n(&shm->head, __ATOMIC_ACQUIRE) : 0;
	int64_t deadline = ht_now_ns() + 200000000;
	size_t n = 0;

	while (!ring_broken) {
		const struct ht_rec *r = ht_ring_peek(shm, ring, tail);
		uint64_t room = ring_mask + 1 - (tail & ring_mask);

		if (!r) {
			if (tail < stop && ht_now_ns() < deadline) {
				sched_yield();
				continue;
			}
			break;
		}
		if (r->len < sizeof(*r) || r->len % HT_RING_ALIGN || r->len > room ||
		    apply(r) != 0) {
			ring_broken = 1;
			ht_error("malformed event in the ring of process %lld; "
				 "no more events are read", (long long)shm->pid);
			break;
		}
		tail += r->len;
		n++;
		if ((n & 255) == 0)
			__atomic_store_n(&shm->tail, tail, __ATOMIC_RELEASE);
		if (exit_seen)
			break;
	}
	__atomic_store_n(&shm->tail, tail, __ATOMIC_RELEASE);
	return n;
}

/* ---- snapshots ----------------------------------------------------------- */

/* The process's RSS and peak RSS, while it lives; the last values read
 * stand for it after it is gone. */
static void read_rss(void)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%lld/status", (long long)shm->pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;

		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			rss = (double)kb * 1024;
		else if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			rss_peak = (double)kb * 1024;
	}
	fclose(f);
}

/* Statistics next to the stacks, the native counterpart of Go's MemStats:
 * the process's memory, the allocator's own figures, and the gap between
 * them. Names are documented in heaptrace(5). */
static void add_metrics(struct ht_snapshot *s)
{
	uint64_t v[8], seq;
	double heap = -1;
	int tries = 0;

	/* negative in a child that frees blocks inherited from its parent */
	ht_snapshot_add_metric(s, "heap.live_objects",
			       (double)(int64_t)(s->counts.alloc_calls - s->counts.free_calls));
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
	const struct ht_slot *slots = (const void *)((const char *)shm + shm->slots_offset);
	uint32_t n = __atomic_load_n(&shm->next_slot, __ATOMIC_ACQUIRE), i;
	struct ht_counts *c;
	int rc;

	if (!s)
		return NULL;
	s->flags = flags | (shm->rate <= 1 ? HT_SNAP_EXACT : 0);
	s->pid = shm->pid;
	s->exe = ht_snapshot_strdup(s, shm->exe);
	s->cmdline = ht_snapshot_strdup(s, shm->cmdline);
	s->start_time_ns = shm->start_time_ns;
	s->time_ns = ht_wall_ns();
	s->rate = shm->rate;
	s->max_depth = shm->max_depth;
	s->seq = seq;
	c = &s->counts;
	c->alloc_calls = __atomic_load_n(&shm->retired[0], __ATOMIC_RELAXED);
	c->free_calls = __atomic_load_n(&shm->retired[1], __ATOMIC_RELAXED);
	c->realloc_calls = __atomic_load_n(&shm->retired[2], __ATOMIC_RELAXED);
	c->alloc_bytes = __atomic_load_n(&shm->retired[3], __ATOMIC_RELAXED);
	if (n > shm->nslots)
		n = (uint32_t)shm->nslots;
	for (i = 0; i < n; i++) {
		c->alloc_calls += __atomic_load_n(&slots[i].alloc_calls, __ATOMIC_RELAXED);
		c->free_calls += __atomic_load_n(&slots[i].free_calls, __ATOMIC_RELAXED);
		c->realloc_calls += __atomic_load_n(&slots[i].realloc_calls, __ATOMIC_RELAXED);
		c->alloc_bytes += __atomic_load_n(&slots[i].alloc_bytes, __ATOMIC_RELAXED);
	}
	s->drops.alloc_events = __atomic_load_n(&shm->drop_alloc, __ATOMIC_RELAXED);
	s->drops.free_events = __atomic_load_n(&shm->drop_free, __ATOMIC_RELAXED);
	s->drops.other_events = __atomic_load_n(&shm->drop_other, __ATOMIC_RELAXED);
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
static void save(const struct ht_snapshot *s, const char *path)
{
	char err[512], name[HT_PATH_MAX + 64];
	void *buf = NULL;
	size_t len;

	if (!shm->output_default) {
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

static void write_final(int cut_short)
{
	struct ht_snapshot *s = take(0, HT_SNAP_FINAL | (cut_short ? HT_SNAP_CUT_SHORT : 0));

	if (!s)
		ht_error("out of memory while taking the final snapshot of process %lld",
			 (long long)shm->pid);
	else
		save(s, shm->output);
	ht_snapshot_free(s);
	__atomic_store_n(&shm->done, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &shm->done, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* The final snapshot's path with ".heap" replaced by ".TAG.heap". */
static void sibling_path(char *out, size_t cap, const char *tag)
{
	const char *o = shm->output;
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
			 (long long)shm->pid);
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
			 (long long)shm->pid);
		return;
	}
	if (!path[0]) {
		void *buf = NULL;
		size_t len;

		sibling_path(path, sizeof(path), "peak");
		if (!shm->output_default) {
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
				 (long long)shm->pid, shm->exe, (long long)shm->start_time_ns,
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
	return (size_t)(__atomic_load_n(&shm->head, __ATOMIC_SEQ_CST) - shm->tail);
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

	snprintf(path, sizeof(path), "/proc/%lld/maps", (long long)shm->pid);
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
	return kill((pid_t)shm->pid, 0) == 0 || errno != ESRCH;
}

int main(int argc, char **argv)
{
	int shm_fd = -1, alive_fd = -1, pid_fd, lfd, i;
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
		else
			ht_die(2, "unknown option '%s' (this program is started by libheaptrace.so)",
			       argv[i]);
	}
	if (shm_fd < 0 || alive_fd < 0)
		ht_die(2, "usage: heaptrace-collector --shm-fd=N --alive-fd=N "
		       "(started by libheaptrace.so)");
	if (map_shm(shm_fd) != 0)
		return 1;
	close(shm_fd);
	fcntl(alive_fd, F_SETFD, FD_CLOEXEC);
	prof = ht_profile_new(shm->rate);
	sym = ht_symbolizer_new();
	if (!prof || !sym)
		ht_die(1, "out of memory");
	ht_symbolizer_set_dwarf_max(sym, dwarf_max_bytes());
	if (shm->forked)
		ht_profile_set_inherited(prof);
	ht_progname = "heaptrace";
	/* listen first: the program runs on while the collector starts, and
	 * heaptrace-dump waits for this socket when the process it is asked
	 * for has the shim loaded */
	lfd = ht_control_listen((pid_t)shm->pid, sock, sizeof(sock), err, sizeof(err));
	if (lfd < 0)
		ht_error("%s; heaptrace-dump will not reach process %lld", err,
			 (long long)shm->pid);
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
	pid_fd = (int)syscall(SYS_pidfd_open, (pid_t)shm->pid, 0);
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
		    shm->tail == __atomic_load_n(&shm->head, __ATOMIC_ACQUIRE))
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
		if (ring_used() <= shm->ring_size / 4) {
			__atomic_store_n(&shm->sleeping, 1, __ATOMIC_SEQ_CST);
			if (ring_used() <= shm->ring_size / 4 &&
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
