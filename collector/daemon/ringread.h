/* The collector's reader of the ring (the consumer side of preload/ring.h).
 * The ring is written by the traced process, which may be hostile, and by
 * anyone who can write to its memory: the reader keeps its own position and
 * geometry, copies each record once before it checks it, and skips what is
 * damaged, counting it, instead of trusting or stopping. */
#ifndef HT_RINGREAD_H
#define HT_RINGREAD_H

#include <stdint.h>

#include "preload/ring.h"

/* A complete record whose tag matches but whose neighbours are still being
 * written is waited for; a record position that stays incomplete this long
 * while later ones are complete is given up (and counted) so that one lost
 * record (a thread stopped, or killed, between reserve and commit, or a
 * head someone moved) does not stop the ring for good. */
#define HT_RING_STUCK_NS 2000000000ll

struct ht_ring_reader {
	struct ht_ring ring;   /* private geometry */
	uint64_t tail;         /* private position; published to ring.h->tail */
	uint64_t damaged;      /* records and heads no producer writes, skipped */
	uint64_t abandoned;    /* records never completed, given up */
	uint64_t bad_at;       /* position counted already (tail + 1, 0 if none) */
	uint64_t scan;         /* resynchronising: positions before scan were probed */
	int64_t stuck_since;   /* when an incomplete record at tail was first seen, 0 if not */
	union {                /* the record handed out: a private, checked copy */
		struct ht_rec h;
		unsigned char b[HT_REC_MAX];
	} rec __attribute__((aligned(16)));
};

/* Sets rd up to read the ring of data (size bytes, a power of two of at
 * least 4096) behind the shared header h, from position tail. Returns 0, or
 * -1 if the geometry is impossible. */
int ht_ring_reader_init(struct ht_ring_reader *rd, struct ht_shm *h, char *data,
			uint64_t size, uint64_t tail);

/* The next record, checked: its length, its kind and every length inside it
 * (frames, path, build id, stack id) are within bounds, and it is a copy in
 * rd that the traced process cannot change. Returns NULL if no complete
 * record is there now; the position moves past the record on the next call.
 * Damaged records and headers are skipped and counted in rd->damaged,
 * records given up as never to be completed in rd->abandoned. now
 * is the monotonic time in ns (INT64_MAX when the process is gone: nothing
 * more will be completed, so an incomplete record is given up at once), or
 * HT_RING_NOW: the clock is read only for a record found incomplete, not
 * for each record (it cost a tenth of the collector's time at rate 1).
 * Does not publish the position: see ht_ring_reader_publish. */
#define HT_RING_NOW INT64_MIN
const struct ht_rec *ht_ring_reader_next(struct ht_ring_reader *rd, int64_t now);

/* Stores the reader's position in the shared header, where the producers
 * read it to know how much room is left. */
void ht_ring_reader_publish(struct ht_ring_reader *rd);

/* Bytes between the reader and the producers' head; 0 if the head is not
 * where any producer could have put it (the reader resynchronises at its
 * next read). */
uint64_t ht_ring_reader_pending(const struct ht_ring_reader *rd);

/* 0 if the copy r (len bytes, its kind's layout) holds only lengths and
 * ids within bounds, else -1. Used in unit tests; the reader calls it. */
int ht_ring_record_check(const struct ht_rec *r);

#endif
