/* The ring writer: reserving and publishing records, waking the
 * collector, and the events themselves (samples, frees, stacks, the
 * module list, exit). A full ring is waited on briefly, then its events
 * are dropped and counted. */
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Wakes the collector if it sleeps between drains; one writer of those
 * that find it asleep makes the system call. */
void ht_emit_kick(void)
{
	if (__atomic_load_n(&ht_core.shm->sleeping, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&ht_core.shm->sleeping, 0, __ATOMIC_ACQ_REL)) {
		__atomic_add_fetch(&ht_core.shm->kick, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &ht_core.shm->kick, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
}

/* Reserves len bytes in the ring, or returns NULL if it stays full. A full
 * ring is waited on briefly (the collector, woken, drains it); after that
 * events are dropped, and counted, until it has room again. At rate 1,
 * where the profile is meant to be exact, and while the collector is still
 * starting (the program does not wait for it at start-up), the wait lasts
 * as long as the collector lives. */
#define YIELDS 64 /* waits on a full ring that only yield the processor */

/* The wait on a full ring (r NULL), or the end of a stall (r the record
 * just reserved): out of line, so that the reservation that finds room,
 * nearly every one, saves no registers. */
static __attribute__((noinline)) struct ht_rec *reserve_wait(uint32_t len, uint64_t *pos,
							      struct ht_rec *r)
{
	int waits = 0;

	while (!r) {
		/* the collector, woken, frees room within microseconds when
		 * it is already draining: yield first, then sleep */
		struct timespec ts = { 0, waits < YIELDS ? 0 : 200000 };

		if (__atomic_load_n(&ht_core.run.stalled, __ATOMIC_RELAXED) ||
		    (waits >= YIELDS + 50 && ht_core.rate > 1 &&
		     __atomic_load_n(&ht_core.shm->collector_ready, __ATOMIC_ACQUIRE)) ||
		    (waits % 50 == 49 && !ht_spawn_alive())) {
			__atomic_store_n(&ht_core.run.stalled, 1, __ATOMIC_RELAXED);
			if (!ht_spawn_alive())
				ht_spawn_lost();
			return NULL;
		}
		waits++;
		ht_emit_kick();
		if (ts.tv_nsec)
			nanosleep(&ts, NULL);
		else
			sched_yield();
		r = ht_ring_reserve(&ht_core.ring, len, pos);
	}
	if (__atomic_load_n(&ht_core.run.stalled, __ATOMIC_RELAXED))
		__atomic_store_n(&ht_core.run.stalled, 0, __ATOMIC_RELAXED);
	return r;
}

struct ht_rec *ht_emit_reserve(uint32_t len, uint64_t *pos)
{
	struct ht_rec *r = ht_ring_reserve(&ht_core.ring, len, pos);

	if (ht_likely(r != NULL) &&
	    ht_likely(!__atomic_load_n(&ht_core.run.stalled, __ATOMIC_RELAXED)))
		return r;
	return reserve_wait(len, pos, r);
}

/* Publishes a record; wakes the collector once the ring is a quarter full,
 * and for the EXIT event, which the program waits on. */
void ht_emit_commit(struct ht_rec *r, uint64_t pos, uint32_t len, int kind, int nframes)
{
	ht_ring_commit(r, pos, len, kind, nframes);
	if (__atomic_load_n(&ht_core.shm->sleeping, __ATOMIC_RELAXED) &&
	    (kind == HT_EV_EXIT ||
	     pos + len - __atomic_load_n(&ht_core.shm->tail, __ATOMIC_RELAXED) > ht_core.ring.size / 4))
		ht_emit_kick();
}

static void note_build_id(struct ht_ev_module *m, const struct dl_phdr_info *info)
{
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*nh);
			const char *desc = name + ((nh->n_namesz + 3) & ~3u);

			if (desc + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= sizeof(m->build_id)) {
				memcpy(m->build_id, desc, nh->n_descsz);
				m->build_id_len = nh->n_descsz;
				return;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

static int send_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	char abs_path[HT_PATH_MAX];
	const char *path = info->dlpi_name;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	struct ht_ev_module *m;
	uint64_t pos;
	uint32_t plen, len;
	int i;

	(void)size;
	(void)arg;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (hi <= lo)
		return 0;
	if (!path || !*path)
		path = ht_core.exe_path;
	if (path[0] != '/' && strchr(path, '/')) {
		/* dlopen("./x.so") names it relative to the working directory,
		 * which the collector does not share: make it absolute */
		const char *rel = path[0] == '.' && path[1] == '/' ? path + 2 : path;
		size_t n, r = strlen(rel);

		if (getcwd(abs_path, sizeof(abs_path)) &&
		    (n = strlen(abs_path)) + 1 + r < sizeof(abs_path)) {
			abs_path[n] = '/';
			memcpy(abs_path + n + 1, rel, r + 1);
			path = abs_path;
		}
	}
	plen = (uint32_t)strnlen(path, HT_PATH_MAX - 1);
	len = ht_rec_len(sizeof(*m) + plen);
	m = (struct ht_ev_module *)ht_emit_reserve(len, &pos);
	if (!m) {
		__atomic_fetch_add(&ht_core.shm->drop_other, 1, __ATOMIC_RELAXED);
		return 0;
	}
	m->start = lo;
	m->end = hi;
	m->bias = info->dlpi_addr;
	m->build_id_len = 0;
	memset(m->build_id, 0, sizeof(m->build_id));
	note_build_id(m, info);
	m->path_len = plen;
	memcpy(m + 1, path, plen);
	ht_emit_commit(&m->h, pos, len, HT_EV_MODULE, 0);
	return 0;
}

static int check_modules(struct dl_phdr_info *info, size_t size, void *arg)
{
	uint64_t *gen = arg;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
		*gen = info->dlpi_adds + info->dlpi_subs;
	return 1; /* the first entry carries the counters */
}

/* Sends the module list when a library was loaded or unloaded since the
 * last time, before the sample that noticed it: the collector binds each
 * frame to the module it knows when it applies the sample. Returns the
 * loader's count of loads and unloads. */
uint64_t ht_emit_modules(void)
{
	uint64_t gen = 0, seen = __atomic_load_n(&ht_core.run.dl_seen, __ATOMIC_RELAXED);
	int spins = 0;

	dl_iterate_phdr(check_modules, &gen);
	if (gen != seen &&
	    __atomic_compare_exchange_n(&ht_core.run.dl_seen, &seen, gen, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED)) {
		dl_iterate_phdr(send_module, NULL);
		__atomic_store_n(&ht_core.run.dl_sent, gen, __ATOMIC_RELEASE);
		return gen;
	}
	/* another thread is sending this list: let it finish (briefly), so
	 * our sample follows the modules it may name */
	while (__atomic_load_n(&ht_core.run.dl_sent, __ATOMIC_ACQUIRE) != gen && spins++ < 10000)
		sched_yield();
	return gen;
}

/* CLOCK_MONOTONIC in nanoseconds (the vDSO's: no system call), for the
 * events of sampled blocks only. */
static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ht_emit_alloc(void *p, size_t n, void *const *frames, int nf, uint32_t id)
{
	int64_t now = mono_ns(); /* before the reservation, which it would hold up */
	struct ht_ev_alloc *ev;
	uint64_t pos;
	uint32_t len;

	if (id) {
		struct ht_ev_alloc_id *ea;

		len = ht_rec_len(sizeof(*ea));
		ea = (struct ht_ev_alloc_id *)ht_emit_reserve(len, &pos);
		if (!ea)
			return -1;
		ea->addr = (uintptr_t)p;
		ea->size = n;
		ea->id = id;
		ea->pad = 0;
		ea->time_ns = now;
		ht_emit_commit(&ea->h, pos, len, HT_EV_ALLOC_ID, 0);
		return 0;
	}
	len = ht_rec_len(sizeof(*ev) + (uint32_t)nf * 8);
	ev = (struct ht_ev_alloc *)ht_emit_reserve(len, &pos);
	if (!ev)
		return -1;
	ev->addr = (uintptr_t)p;
	ev->size = n;
	ev->time_ns = now;
	memcpy(ev + 1, frames, (size_t)nf * 8);
	ht_emit_commit(&ev->h, pos, len, HT_EV_ALLOC, nf);
	return 0;
}

int ht_emit_stack(uint32_t id, void *const *ips, int nf)
{
	uint32_t len = ht_rec_len(sizeof(struct ht_ev_stack) + (uint32_t)nf * 8);
	struct ht_ev_stack *ev;
	uint64_t pos;

	ev = (struct ht_ev_stack *)ht_emit_reserve(len, &pos);
	if (!ev)
		return -1;
	ev->id = id;
	ev->pad = 0;
	memcpy(ev + 1, ips, (size_t)nf * 8);
	ht_emit_commit(&ev->h, pos, len, HT_EV_STACK, nf);
	return 0;
}

void ht_emit_free(void *p, int flags)
{
	int64_t now = mono_ns();
	struct ht_ev_free *ev;
	uint64_t pos;
	uint32_t len = ht_rec_len(sizeof(*ev));

	ev = (struct ht_ev_free *)ht_emit_reserve(len, &pos);
	if (!ev) {
		__atomic_fetch_add(&ht_core.shm->drop_free, 1, __ATOMIC_RELAXED);
		return;
	}
	ev->addr = (uintptr_t)p;
	ev->time_ns = now;
	ht_emit_commit(&ev->h, pos, len, HT_EV_FREE, flags);
}

void ht_emit_exit(void)
{
	uint32_t len = ht_rec_len(sizeof(struct ht_rec));
	struct ht_rec *r;
	uint64_t pos;

	r = ht_emit_reserve(len, &pos);
	if (r)
		ht_emit_commit(r, pos, len, HT_EV_EXIT, 0);
}
