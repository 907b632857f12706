/* Taking a snapshot: the profile, the shim's counters and drops, and the
 * process's and allocator's figures made into one struct ht_snapshot with
 * its frames named. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "daemon/collector.h"
#include "lib/util.h"

/* The allocator's own figures, as the shim last published them; their
 * sequence number is odd while the shim writes them. */
static void add_allocator_metrics(struct collector *c, struct ht_snapshot *s)
{
	struct ht_shm *shm = c->shm;
	uint64_t v[8], seq;
	double heap = -1;
	int tries = 0;

	do {
		seq = __atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE);
		memcpy(v, (const void *)shm->stats, sizeof(v));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1 || seq != __atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE)) &&
		 ++tries < 1000);
	if (!seq || tries >= 1000 || c->untraced[0])
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
	if (heap >= 0 && c->rss > 0)
		ht_snapshot_add_metric(s, "process.rss_minus_heap_bytes", c->rss - heap);
}

/* Statistics next to the stacks, the native counterpart of Go's MemStats:
 * the process's memory, the allocator's own figures, and the gap between
 * them. Names are documented in heaptrace(5). */
static void add_metrics(struct collector *c, struct ht_snapshot *s, const uint64_t walks[3])
{
	ht_snapshot_add_metric(s, "heap.live_objects", (double)ht_snapshot_live_objects(s));
	ht_snapshot_add_metric(s, "heap.inuse_bytes_estimate", ht_profile_inuse(c->prof));
	if (c->fixed.attached) {
		/* traced from an attach (heaptrace -p): what came before is not in
		 * the stacks; the shim's figure is checked as it is read */
		ht_snapshot_add_metric(s, "attach.time_seconds", (double)c->fixed.start_time_ns / 1e9);
		if (c->fixed.attach_heap >= 0)
			ht_snapshot_add_metric(s, "attach.heap_bytes", (double)c->fixed.attach_heap);
		if (__atomic_load_n(&c->shm->detached, __ATOMIC_ACQUIRE))
			ht_snapshot_add_metric(s, "attach.detached", 1);
	}
	ht_collector_read_status(c);
	if (c->rss > 0) {
		ht_snapshot_add_metric(s, "process.rss_bytes", c->rss);
		ht_snapshot_add_metric(s, "process.rss_peak_bytes", c->rss_peak);
	}
	add_allocator_metrics(c, s);
	/* the stacks the shim walked, not found in a thread's cache */
	ht_snapshot_add_metric(s, "heaptrace.stacks_walked_frame_pointers", (double)walks[0]);
	ht_snapshot_add_metric(s, "heaptrace.stacks_walked_libunwind", (double)walks[1]);
	ht_snapshot_add_metric(s, "heaptrace.stacks_cut_short", (double)walks[2]);
	if (c->push.url) {
		ht_snapshot_add_metric(s, "push.sent_total", (double)c->push.sent);
		ht_snapshot_add_metric(s, "push.failed_total", (double)c->push.failed);
		ht_snapshot_add_metric(s, "push.skipped_total", (double)c->push.skipped);
	}
	ht_collector_add_trim(c, s);
}

/* The shim reads fresh figures at its next sampled allocation; a program
 * that makes none keeps its last figures (their age is in the snapshot). */
void ht_collector_ask_stats(struct collector *c)
{
	struct ht_shm *shm = c->shm;
	uint64_t seq = __atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE);
	int64_t deadline = ht_now_ns() + 50000000;

	if (!shm->allocator)
		return;
	__atomic_store_n(&shm->stats_wanted, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&shm->stats_seq, __ATOMIC_ACQUIRE) == seq && ht_now_ns() < deadline) {
		struct timespec ts = { 0, 1000000 };

		ht_collector_drain(c, 0);
		nanosleep(&ts, NULL);
	}
}

/* The peak's time is known to within the time between two drains. */
void ht_collector_note_peak(struct collector *c)
{
	double pk = ht_profile_peak(c->prof);

	if (pk > c->peak_seen) {
		c->peak_seen = pk;
		c->peak_at_ns = ht_wall_ns();
	}
}

/* The shim's call counters, k, and its walks of stacks, walks (by frame
 * pointers, by libunwind): the retired threads' totals and each live
 * thread's slot. */
static void add_counts(struct collector *c, struct ht_counts *k, uint64_t walks[3])
{
	const struct ht_shm *shm = c->shm;
	const struct ht_slot *slots = (const void *)((const char *)shm + c->fixed.slots_offset);
	uint32_t n = __atomic_load_n(&shm->next_slot, __ATOMIC_ACQUIRE), i;

	k->alloc_calls = __atomic_load_n(&shm->retired[0], __ATOMIC_RELAXED);
	k->free_calls = __atomic_load_n(&shm->retired[1], __ATOMIC_RELAXED);
	k->realloc_calls = __atomic_load_n(&shm->retired[2], __ATOMIC_RELAXED);
	k->alloc_bytes = __atomic_load_n(&shm->retired[3], __ATOMIC_RELAXED);
	walks[0] = __atomic_load_n(&shm->retired_walks[0], __ATOMIC_RELAXED);
	walks[1] = __atomic_load_n(&shm->retired_walks[1], __ATOMIC_RELAXED);
	walks[2] = __atomic_load_n(&shm->retired_walks[2], __ATOMIC_RELAXED);
	if (n > c->fixed.nslots)
		n = (uint32_t)c->fixed.nslots;
	for (i = 0; i < n; i++) {
		k->alloc_calls += __atomic_load_n(&slots[i].alloc_calls, __ATOMIC_RELAXED);
		k->free_calls += __atomic_load_n(&slots[i].free_calls, __ATOMIC_RELAXED);
		k->realloc_calls += __atomic_load_n(&slots[i].realloc_calls, __ATOMIC_RELAXED);
		k->alloc_bytes += __atomic_load_n(&slots[i].alloc_bytes, __ATOMIC_RELAXED);
		walks[0] += __atomic_load_n(&slots[i].walks_fp, __ATOMIC_RELAXED);
		walks[1] += __atomic_load_n(&slots[i].walks_unwind, __ATOMIC_RELAXED);
		walks[2] += __atomic_load_n(&slots[i].walks_cut, __ATOMIC_RELAXED);
	}
}

struct ht_snapshot *ht_collector_take(struct collector *c, uint32_t seq, uint32_t flags)
{
	struct ht_snapshot *s = ht_snapshot_new();
	const struct ht_shm *shm = c->shm;
	uint64_t walks[3];
	int64_t now = ht_now_ns(); /* the ages' clock, the shim's (CLOCK_MONOTONIC) */
	int rc;

	if (!s)
		return NULL;
	s->flags = flags | (c->fixed.rate <= 1 ? HT_SNAP_EXACT : 0);
	s->pid = c->fixed.pid;
	s->exe = ht_snapshot_strdup(s, c->fixed.exe);
	s->cmdline = ht_snapshot_strdup(s, c->fixed.cmdline);
	s->start_time_ns = c->fixed.start_time_ns;
	s->time_ns = ht_wall_ns();
	s->rate = c->fixed.rate;
	s->max_depth = c->fixed.max_depth;
	s->seq = seq;
	if (c->untraced[0]) {
		s->flags |= HT_SNAP_UNTRACED;
		s->note = ht_snapshot_strdup(s, c->untraced);
	}
	add_counts(c, &s->counts, walks);
	s->drops.alloc_events = __atomic_load_n(&shm->drop_alloc, __ATOMIC_RELAXED);
	s->drops.free_events = __atomic_load_n(&shm->drop_free, __ATOMIC_RELAXED);
	/* records someone else wrote into the ring were lost too */
	s->drops.other_events = __atomic_load_n(&shm->drop_other, __ATOMIC_RELAXED) +
				c->rd.damaged + c->rd.abandoned;
	s->drops.arena_full = __atomic_load_n(&shm->arena_full, __ATOMIC_RELAXED);
	s->drops.unmatched = ht_profile_unmatched(c->prof);
	ht_collector_note_peak(c);
	/* nothing sampled yet: a peak of nothing, since the start */
	s->peak_time_ns = c->peak_at_ns ? c->peak_at_ns :
			  s->start_time_ns ? s->start_time_ns : s->time_ns;
	add_metrics(c, s, walks);
	pthread_mutex_lock(&c->sym_lock);
	rc = !s->exe || !s->cmdline || (c->untraced[0] && !s->note) ||
	     ht_profile_fill(c->prof, s, c->sym) != 0 ||
	     /* a peak snapshot's in-use figures are the peak's: no ages of now's */
	     ht_profile_add_cells(c->prof, s, flags & HT_SNAP_PEAK ? -1 : now) != 0;
	pthread_mutex_unlock(&c->sym_lock);
	if (rc) {
		ht_snapshot_free(s);
		return NULL;
	}
	return s;
}
