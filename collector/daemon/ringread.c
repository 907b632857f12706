/* The collector's reader of the ring: copy, then check, then hand out; skip
 * and count what is damaged (see ringread.h). */
#include <string.h>

#include "daemon/ringread.h"
#include "lib/util.h"

#define ALIGN_UP(x) (((x) + HT_RING_ALIGN - 1) & ~(uint64_t)(HT_RING_ALIGN - 1))

int ht_ring_reader_init(struct ht_ring_reader *rd, struct ht_shm *h, char *data,
			uint64_t size, uint64_t tail)
{
	memset(rd, 0, sizeof(*rd));
	if (size < 4096 || (size & (size - 1)))
		return -1;
	rd->ring.h = h;
	rd->ring.data = data;
	rd->ring.size = size;
	rd->tail = ALIGN_UP(tail);
	return 0;
}

int ht_ring_record_check(const struct ht_rec *r)
{
	uint32_t len = r->len, nf = r->nframes;

	if (len < sizeof(*r) || len > HT_REC_MAX)
		return -1;
	switch (r->kind) {
	case HT_EV_PAD:
	case HT_EV_EXIT:
	case HT_EV_SNAPSHOT:
		return 0;
	case HT_EV_ALLOC:
		return nf <= HT_MAX_DEPTH && len >= sizeof(struct ht_ev_alloc) + nf * 8 ? 0 : -1;
	case HT_EV_STACK: {
		const struct ht_ev_stack *k = (const void *)r;

		return nf <= HT_MAX_DEPTH && len >= sizeof(*k) + nf * 8 && k->id != 0 &&
		       k->id <= HT_MAX_STACK_ID ? 0 : -1;
	}
	case HT_EV_ALLOC_ID: {
		const struct ht_ev_alloc_id *a = (const void *)r;

		return len >= sizeof(*a) && a->id != 0 && a->id <= HT_MAX_STACK_ID ? 0 : -1;
	}
	case HT_EV_FREE:
		return len >= sizeof(struct ht_ev_free) && !(nf & ~HT_FREE_TEMP) ? 0 : -1;
	case HT_EV_MODULE: {
		const struct ht_ev_module *m = (const void *)r;

		if (len < sizeof(*m))
			return -1;
		return m->path_len < HT_PATH_MAX && len >= sizeof(*m) + m->path_len &&
		       m->build_id_len <= sizeof(m->build_id) ? 0 : -1;
	}
	}
	return -1;
}

/* Counts the damage at the reader's position, once however often it is
 * seen there. */
static void count_damage(struct ht_ring_reader *rd)
{
	if (rd->bad_at != rd->tail + 1) {
		rd->damaged++;
		rd->bad_at = rd->tail + 1;
	}
}

static void move_to(struct ht_ring_reader *rd, uint64_t pos)
{
	rd->tail = pos;
	rd->scan = 0;
	rd->stuck_since = 0;
}

/* The producers' head as a position a record could start at, read once. */
static uint64_t head_now(const struct ht_ring_reader *rd)
{
	return ALIGN_UP(__atomic_load_n(&rd->ring.h->head, __ATOMIC_ACQUIRE));
}

/* Gives up the record at the reader's position: moves to the next complete
 * record before limit, counting one damaged, or abandoned if the record was
 * never completed. Returns 0 if there is none yet (the positions probed are
 * remembered for the next try). */
static int resync(struct ht_ring_reader *rd, uint64_t limit, int incomplete)
{
	uint64_t p = rd->scan && rd->scan - rd->tail <= rd->ring.size ? rd->scan
								    : rd->tail + HT_RING_ALIGN;

	for (; p - rd->tail < limit - rd->tail; p += HT_RING_ALIGN) {
		if (ht_ring_peek(&rd->ring, p)) {
			if (incomplete)
				rd->abandoned++;
			else
				count_damage(rd);
			move_to(rd, p);
			return 1;
		}
	}
	rd->scan = p;
	return 0;
}

/* The position of the oldest complete record among the ring's length of
 * positions before head, or head if there is none. */
static uint64_t oldest_before(const struct ht_ring_reader *rd, uint64_t head)
{
	uint64_t p;

	for (p = head - rd->ring.size; p != head; p += HT_RING_ALIGN)
		if (ht_ring_peek(&rd->ring, p))
			return p;
	return head;
}

const struct ht_rec *ht_ring_reader_next(struct ht_ring_reader *rd, int64_t now)
{
	uint64_t size = rd->ring.size, mask = size - 1;
	int guard;

	/* each turn either hands out a record or moves the position; a head
	 * that someone keeps moving cannot keep the reader here */
	for (guard = 0; guard < 4096; guard++) {
		const struct ht_rec *r = ht_ring_peek(&rd->ring, rd->tail);
		uint64_t head;

		if (r) {
			struct ht_rec hdr;

			memcpy(&hdr, r, sizeof(hdr));
			if (hdr.len >= sizeof(hdr) && hdr.len % HT_RING_ALIGN == 0 &&
			    hdr.len <= size - (rd->tail & mask)) {
				if (hdr.kind == HT_EV_PAD) {
					move_to(rd, rd->tail + hdr.len);
					continue;
				}
				if (hdr.len <= HT_REC_MAX) {
					memcpy(rd->rec.b, r, hdr.len);
					rd->rec.h = hdr; /* the fields as they were checked */
					if (ht_ring_record_check(&rd->rec.h) == 0) {
						move_to(rd, rd->tail + hdr.len);
						return &rd->rec.h;
					}
				}
			}
			/* a record no producer writes: skip to the next one */
			count_damage(rd);
			if (!resync(rd, head_now(rd), 0))
				return NULL;
			continue;
		}
		head = head_now(rd);
		if (head == rd->tail) {
			rd->stuck_since = 0;
			return NULL;
		}
		if (head - rd->tail > size) {
			/* no producer put the head there */
			uint64_t raw = __atomic_load_n(&rd->ring.h->head, __ATOMIC_ACQUIRE);

			count_damage(rd);
			if ((int64_t)(head - rd->tail) > 0) {
				/* further ahead than the ring is long: read on
				 * from the oldest record written since */
				move_to(rd, oldest_before(rd, head));
			} else if ((int64_t)(ALIGN_UP(raw) - rd->tail) < 0) {
				/* behind the reader: the records there were
				 * read already, and would be read again; put the
				 * head back where the reader is */
				__atomic_compare_exchange_n(&rd->ring.h->head, &raw, rd->tail, 0,
							    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
			}
			continue;
		}
		/* records ahead, this one incomplete: a writer is on it, or
		 * nobody will ever complete it */
		if (now == HT_RING_NOW)
			now = ht_now_ns();
		if (!rd->stuck_since)
			rd->stuck_since = now > 0 ? now : 1;
		if ((now != INT64_MAX && now - rd->stuck_since < HT_RING_STUCK_NS) ||
		    !resync(rd, head, 1))
			return NULL;
	}
	return NULL;
}

void ht_ring_reader_publish(struct ht_ring_reader *rd)
{
	__atomic_store_n(&rd->ring.h->tail, rd->tail, __ATOMIC_RELEASE);
}

uint64_t ht_ring_reader_pending(const struct ht_ring_reader *rd)
{
	uint64_t d = head_now(rd) - rd->tail;

	return d > rd->ring.size ? 0 : d;
}
