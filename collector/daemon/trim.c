/* Trimming a traced process (heaptrace-dump --trim): asking the shim to
 * give its allocator's free memory back, waiting for it within a bound,
 * and the record of the last trim that every later snapshot carries. */
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/util.h"

/* How long a trim is waited for: the shim's helper thread answers at
 * once; without it, the next sampled allocation does. */
#define TRIM_WAIT_MS 3000
/* ... and, once the shim took the request, how long it may take. */
#define TRIM_RUN_MS 5000

/* Waits until the shim's trim count passes n or deadline, draining the
 * ring meanwhile (the shim never waits for room while we wait). Returns
 * 1 if it passed. */
static int wait_count(struct collector *c, uint32_t n, int64_t deadline)
{
	for (;;) {
		struct timespec ts = { 0, 1000000 };

		if (__atomic_load_n(&c->shm->trim_count, __ATOMIC_ACQUIRE) != n)
			return 1;
		if (ht_now_ns() >= deadline)
			return 0;
		ht_collector_drain(c, 0);
		nanosleep(&ts, NULL);
	}
}

int ht_collector_trim(struct collector *c, char *err, size_t errlen)
{
	struct ht_shm *shm = c->shm;
	uint32_t n = __atomic_load_n(&shm->trim_count, __ATOMIC_ACQUIRE);
	long long pid = (long long)c->fixed.pid;

	if (c->proc_gone || c->exit_seen) {
		snprintf(err, errlen, "process %lld is exiting; nothing was trimmed", pid);
		return -1;
	}
	if (c->untraced[0]) {
		snprintf(err, errlen, "process %lld does not call heaptrace's malloc; "
			 "nothing was trimmed", pid);
		return -1;
	}
	__atomic_store_n(&shm->trim_wanted, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&shm->trim_kick, 1, __ATOMIC_ACQ_REL);
	syscall(SYS_futex, &shm->trim_kick, FUTEX_WAKE, 1, NULL, NULL, 0);
	if (wait_count(c, n, ht_now_ns() + (int64_t)TRIM_WAIT_MS * 1000000))
		return 0;
	/* taken back, unless the shim took it meanwhile: then it runs */
	if (__atomic_exchange_n(&shm->trim_wanted, 0, __ATOMIC_ACQ_REL)) {
		snprintf(err, errlen, "process %lld did not answer within %d s (no thread of "
			 "it could trim at a safe point; an idle program of one thread is "
			 "trimmed only when traced with HEAPTRACE_TRIM_IDLE=1); it was left "
			 "as it was", pid, TRIM_WAIT_MS / 1000);
		return -1;
	}
	if (wait_count(c, n, ht_now_ns() + (int64_t)TRIM_RUN_MS * 1000000))
		return 0;
	snprintf(err, errlen, "process %lld began to trim but did not finish within %d s",
		 pid, (TRIM_WAIT_MS + TRIM_RUN_MS) / 1000);
	return -1;
}

/* The names of the allocator's figures (ht_shm.stats), as take.c names
 * them in a snapshot; NULL where there is none. */
static const char *figure_name(uint32_t allocator, int i)
{
	static const char *const glibc[] = { "glibc.arena_bytes", "glibc.in_use_bytes",
		"glibc.free_bytes", "glibc.mmap_bytes", "glibc.releasable_bytes" };
	static const char *const jemalloc[] = { "jemalloc.allocated_bytes",
		"jemalloc.active_bytes", "jemalloc.resident_bytes", "jemalloc.retained_bytes",
		"jemalloc.mapped_bytes", "jemalloc.metadata_bytes" };

	if (i == HT_ARENA_LIVE)
		return "heaptrace.arena_live_bytes";
	if (i == HT_ARENA_COMMITTED)
		return "heaptrace.arena_committed_bytes";
	if (allocator == HT_ALLOCATOR_GLIBC && i < 5)
		return glibc[i];
	if (allocator == HT_ALLOCATOR_JEMALLOC && i < 6)
		return jemalloc[i];
	return NULL;
}

static void add_figures(struct ht_snapshot *s, const char *prefix, uint32_t allocator,
			const uint64_t v[8])
{
	char name[96];
	int i;

	for (i = 0; i < 8; i++) {
		const char *f = figure_name(allocator, i);

		if (f) {
			snprintf(name, sizeof(name), "%s%s", prefix, f);
			ht_snapshot_add_metric(s, name, (double)v[i]);
		}
	}
}

void ht_collector_add_trim(struct collector *c, struct ht_snapshot *s)
{
	const struct ht_shm *shm = c->shm;
	uint64_t seq, before[8], after[8], rss0, rss1;
	int64_t at, took;
	uint32_t count, what;
	int tries = 0;

	do {
		seq = __atomic_load_n(&shm->trim_seq, __ATOMIC_ACQUIRE);
		count = __atomic_load_n(&shm->trim_count, __ATOMIC_ACQUIRE);
		what = shm->trim_what;
		at = shm->trim_time_ns;
		took = shm->trim_took_ns;
		rss0 = shm->trim_rss_before;
		rss1 = shm->trim_rss_after;
		memcpy(before, (const void *)shm->trim_stats_before, sizeof(before));
		memcpy(after, (const void *)shm->trim_stats_after, sizeof(after));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1 || seq != __atomic_load_n(&shm->trim_seq, __ATOMIC_ACQUIRE)) &&
		 ++tries < 1000);
	if (!count || !seq || tries >= 1000)
		return; /* none yet, or the writer died mid-way */
	ht_snapshot_add_metric(s, "trim.count", (double)count);
	ht_snapshot_add_metric(s, "trim.last_time_seconds", (double)at / 1e9);
	ht_snapshot_add_metric(s, "trim.duration_seconds", (double)took / 1e9);
	ht_snapshot_add_metric(s, "trim.what", (double)what);
	if (rss0 && rss1) {
		ht_snapshot_add_metric(s, "trim.rss_before_bytes", (double)rss0);
		ht_snapshot_add_metric(s, "trim.rss_after_bytes", (double)rss1);
	}
	add_figures(s, "trim.before.", shm->allocator, before);
	add_figures(s, "trim.after.", shm->allocator, after);
}
