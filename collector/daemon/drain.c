/* The collector's side of the shared memory: mapping it and checking its
 * header once, and draining the ring's records into the profile. */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "daemon/collector.h"
#include "lib/util.h"

/* The header is copied first and the copy checked and kept: the traced
 * process can change the shared one at any time. */
int ht_collector_map_shm(struct collector *c, int fd)
{
	struct stat st;
	struct ht_shm *h;
	struct ht_shm *f = &c->fixed;

	if (fstat(fd, &st) != 0 || (size_t)st.st_size < HT_SHM_HDR_SIZE)
		return ht_error("fd %d is not heaptrace shared memory", fd);
	c->shm_ino = st.st_ino;
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
	    ht_ring_reader_init(&c->rd, h, (char *)h + f->ring_offset, f->ring_size, 0) != 0) {
		munmap(h, (size_t)st.st_size);
		return ht_error("shared memory of an unknown layout (version %u)", f->version);
	}
	f->exe[sizeof(f->exe) - 1] = 0;
	f->cmdline[sizeof(f->cmdline) - 1] = 0;
	f->output[sizeof(f->output) - 1] = 0;
	memcpy(c->untraced, (const char *)f->untraced, sizeof(c->untraced));
	c->untraced[sizeof(c->untraced) - 1] = 0;
	c->shm = h;
	return 0;
}

/* Applies one record, a private copy that ht_ring_reader_next checked. */
static void apply(struct collector *c, const struct ht_rec *r)
{
	struct ht_profile *prof = c->prof;

	switch (r->kind) {
	case HT_EV_ALLOC: {
		const struct ht_ev_alloc *a = (const void *)r;

		ht_profile_alloc(prof, a->addr, a->size, a->time_ns, (const uint64_t *)(a + 1),
				 r->nframes);
		break;
	}
	case HT_EV_STACK: {
		const struct ht_ev_stack *k = (const void *)r;

		ht_profile_stack(prof, k->id, (const uint64_t *)(k + 1), r->nframes);
		break;
	}
	case HT_EV_ALLOC_ID: {
		const struct ht_ev_alloc_id *a = (const void *)r;

		ht_profile_alloc_id(prof, a->addr, a->size, a->time_ns, a->id);
		break;
	}
	case HT_EV_FREE: {
		const struct ht_ev_free *f = (const void *)r;

		ht_profile_release(prof, f->addr, f->time_ns, r->nframes & HT_FREE_TEMP);
		break;
	}
	case HT_EV_MODULE: {
		const struct ht_ev_module *m = (const void *)r;

		ht_profile_module(prof, (const char *)(m + 1), m->path_len, m->start, m->end,
				  m->bias, m->build_id, m->build_id_len);
		break;
	}
	case HT_EV_EXIT:
		c->exit_seen = 1;
		break;
	}
}

/* Applies complete records from the reader's position on. With wait_for
 * set, records reserved before the call but not yet complete are waited
 * for (briefly), so a snapshot includes every event that happened before
 * it was asked for. Damage in the ring is skipped and counted (see
 * ringread.h), and said once; a record left incomplete (a thread killed
 * while it wrote) is counted only. */
/* Frees and allocations of known stacks, held back a few at a time so that
 * their slots of the live table load while the ones before are applied:
 * at rate 1 the collector keeps up with the program only so. */
#define BATCH 16

union small_rec {
	struct ht_rec h;
	struct ht_ev_free free;
	struct ht_ev_alloc_id alloc;
};

_Static_assert(sizeof(union small_rec) >= sizeof(struct ht_ev_alloc_id) &&
	       sizeof(struct ht_ev_alloc_id) == HT_RING_ALIGN * 3 &&
	       sizeof(struct ht_ev_free) == HT_RING_ALIGN * 2, "a held record is copied whole");

struct batch {
	union small_rec r[BATCH];
	int n;
};

/* Applies the records held back, in order; returns how many. */
static size_t flush(struct collector *c, struct batch *b)
{
	int i, n = b->n;

	for (i = 0; i < n; i++)
		apply(c, &b->r[i].h);
	b->n = 0;
	return (size_t)n;
}

/* Holds r back if it is a small event of the live table: 1 if held. */
static int hold(struct collector *c, struct batch *b, const struct ht_rec *r)
{
	uint64_t addr;

	if (r->kind == HT_EV_FREE && r->len == sizeof(struct ht_ev_free))
		addr = ((const struct ht_ev_free *)(const void *)r)->addr;
	else if (r->kind == HT_EV_ALLOC_ID && r->len == sizeof(struct ht_ev_alloc_id))
		addr = ((const struct ht_ev_alloc_id *)(const void *)r)->addr;
	else
		return 0;
	memcpy(&b->r[b->n++], r, r->len);
	ht_profile_prefetch(c->prof, addr);
	return 1;
}

size_t ht_collector_drain(struct collector *c, int wait_for)
{
	struct ht_ring_reader *rd = &c->rd;
	uint64_t stop = wait_for ? ht_ring_reader_pending(rd) : 0, start = rd->tail;
	int64_t deadline = ht_now_ns() + 200000000;
	struct batch b;
	size_t n = 0, published = 0;

	b.n = 0;
	for (;;) {
		const struct ht_rec *r = ht_ring_reader_next(rd, c->proc_gone ? INT64_MAX :
							      HT_RING_NOW);

		if (!r) {
			n += flush(c, &b);
			if (rd->tail - start < stop && ht_now_ns() < deadline) {
				sched_yield();
				continue;
			}
			break;
		}
		if (!hold(c, &b, r)) {
			/* in order: what was held back first */
			n += flush(c, &b);
			apply(c, r);
			n++;
		} else if (b.n == BATCH) {
			n += flush(c, &b);
		}
		if (n - published >= 256) {
			/* the room of the records applied only: a held record
			 * is a copy, but the producers' view follows the work */
			ht_ring_reader_publish(rd);
			published = n;
		}
		if (c->exit_seen)
			break;
	}
	n += flush(c, &b);
	ht_ring_reader_publish(rd);
	if (rd->damaged && !c->damage_told) {
		c->damage_told = 1;
		ht_error("damaged events in the ring of process %lld (someone wrote to its "
			 "shared memory); skipped, and counted as dropped", (long long)c->fixed.pid);
	}
	return n;
}

size_t ht_collector_ring_used(struct collector *c)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (size_t)ht_ring_reader_pending(&c->rd);
}
