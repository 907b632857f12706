/* The stack of a sample: the walk (libunwind), the ids of the stacks
 * already sent (so that a known stack goes as its id), and each thread's
 * cache of its last stacks (so that a call made from where it was made
 * before is not walked again). */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "internal.h"
#include "unwind.h"

/* The stacks already sent, by hash, so that a sample at a known stack sends
 * its id (a 48-byte event) instead of its frames, and the collector finds
 * its stack by index instead of hashing and comparing them. Insert-only
 * open addressing, lock-free. An entry whose id is 0 is being defined, or
 * its STACK event did not fit in the ring: its stack is sent in full. The
 * hash covers the loader's load/unload count, so that a library loaded
 * where another was gets new ids, bound to it. Half full, the table takes
 * no more stacks: later new stacks are sent in full. */
struct stack_ent {
	uint64_t hash; /* 0: free */
	uint32_t id;
	uint32_t pad;
};
#define STACK_PROBES 8
static struct {
	struct stack_ent *tab;
	size_t tab_size;
	uint32_t mask, used, next;
	uint32_t epoch; /* bumped when the ids start over (a new collector) */
} ids;
uint32_t ht_unloads;

void ht_stacks_init(void)
{
	size_t n = ht_core.rate == 1 ? (size_t)1 << 16 : (size_t)1 << 13;
	void *m;

	struct stack_ent *old = ids.tab;

	/* other threads may still read the old table (attached again by
	 * heaptrace -p): it is replaced where it is by zeros, never unmapped */
	ids.tab = NULL;
	ids.used = ids.next = 0;
	__atomic_add_fetch(&ids.epoch, 1, __ATOMIC_RELEASE);
	if (old && ids.tab_size != n * sizeof(struct stack_ent))
		old = NULL; /* a new size: the old one stays as it is */
	m = mmap(old, n * sizeof(struct stack_ent), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | (old ? MAP_FIXED : 0), -1, 0);
	if (m == MAP_FAILED)
		return; /* every stack is sent in full */
	ids.tab = m;
	ids.tab_size = n * sizeof(struct stack_ent);
	ids.mask = (uint32_t)n - 1;
}

static uint64_t stack_hash(void *const *ips, int n, uint64_t gen)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ gen * 0xc2b2ae3d27d4eb4full ^ (uint64_t)n << 48;
	int i;

	for (i = 0; i < n; i++) {
		h = (h ^ (uint64_t)(uintptr_t)ips[i]) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	h ^= h >> 32;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return h | 1; /* never 0, which marks a free entry */
}

/* Writes the STACK event defining e's stack; publishes its id once the
 * event is in the ring, so any ALLOC_ID naming it comes later. */
static uint32_t define_stack(struct stack_ent *e, void *const *ips, int nf)
{
	uint32_t id = __atomic_add_fetch(&ids.next, 1, __ATOMIC_RELAXED);

	if (id > HT_MAX_STACK_ID || ht_emit_stack(id, ips, nf) != 0)
		return 0;
	__atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
	return id;
}

/* The id of this stack, defining it if new; 0 if it has none (send it in
 * full). */
static uint32_t stack_id(uint64_t h, void *const *ips, int nf)
{
	uint32_t j = (uint32_t)(h >> 24) & ids.mask;
	int k;

	for (k = 0; k < STACK_PROBES; k++, j = (j + 1) & ids.mask) {
		struct stack_ent *e = &ids.tab[j];
		uint64_t eh = __atomic_load_n(&e->hash, __ATOMIC_ACQUIRE);

		if (eh == 0) {
			if (__atomic_load_n(&ids.used, __ATOMIC_RELAXED) >= ids.mask / 2)
				return 0;
			if (__atomic_compare_exchange_n(&e->hash, &eh, h, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				__atomic_fetch_add(&ids.used, 1, __ATOMIC_RELAXED);
				return define_stack(e, ips, nf);
			}
			/* another thread took the entry; eh is its hash */
		}
		if (eh == h)
			return __atomic_load_n(&e->id, __ATOMIC_ACQUIRE);
	}
	return 0;
}

/* A thread that allocates at one place over and over walks the same stack
 * each time. libunwind finds each frame's rule in its cache, but that is a
 * line per frame, cold when samples are far apart, and the walks dominate
 * the sampled path at rate 1. So each thread keeps its last
 * stacks by where the call came from (the caller's return address and
 * stack pointer), with the address on the stack of every frame's return
 * address. The stack is the same while each of those addresses holds the
 * same return address: frame by frame, the same function, returning to
 * the same place with the same stack pointer, finds its caller's return
 * address where it was before. (A frame that varies its size from call to
 * call with alloca could have left a stale copy there while its callers
 * changed; a program that does that can get an older stack for a sample.)
 * Frames are checked from the innermost out, four at a time, and every
 * address read lies between the caller's stack pointer and the stack's
 * end, in a frame of the calls under way. */
#define SC_SETS 16
#define SC_WAYS 4

struct sc_ent {
	uintptr_t cfa;   /* the caller's stack pointer after the call; 0: empty */
	uintptr_t ra;    /* the caller's return address */
	uint32_t epoch;  /* ids.epoch it holds for */
	uint32_t unloads; /* and ht_unloads */
	uint32_t id;     /* its stack id; 0: send it in full */
	int nf;          /* frames; -1: this call's stack cannot be cached */
	uint32_t used;   /* when last found (the thread's count of lookups) */
	uint32_t hits;   /* times its stack held, and times it did not: a call */
	uint32_t fails;  /* made from changing callers is not worth caching */
	/* then: void *ips[depth]; uintptr_t where[depth] */
};

/* A thread's cache: its stack's bounds (found once), then the entries. */
struct sc_head {
	uintptr_t lo, hi; /* hi 0: not known, no caching */
	struct sc_ent *last; /* filled last */
	uint32_t clock;
	uint32_t pad;
};

static size_t sc_ent_size(void)
{
	return sizeof(struct sc_ent) + (size_t)ht_core.depth * 2 * sizeof(void *);
}

static inline struct sc_ent *sc_set(struct sc_head *h, uintptr_t ra, uintptr_t cfa)
{
	size_t k = (size_t)((ra ^ cfa * 0x9e3779b97f4a7c15ull) >> 58) % SC_SETS;

	return (struct sc_ent *)((char *)(h + 1) + k * SC_WAYS * sc_ent_size());
}

static inline struct sc_ent *sc_next(struct sc_ent *e)
{
	return (struct sc_ent *)((char *)e + sc_ent_size());
}

static inline void **sc_ips(struct sc_ent *e)
{
	return (void **)(e + 1);
}

static inline uintptr_t *sc_where(struct sc_ent *e)
{
	return (uintptr_t *)(e + 1) + ht_core.depth;
}

/* The thread's cache, made on first use; NULL if there is none. */
static struct sc_head *sc_head(void)
{
	struct ht_tls *t = &ht_tls;
	struct sc_head *h = t->scache;
	pthread_attr_t a;
	void *lo;
	size_t size;

	if (h)
		return h->hi ? h : NULL;
	h = ht_arena_alloc(sizeof(*h) + SC_SETS * SC_WAYS * sc_ent_size(), 0, HT_BLK_INTERNAL, 1);
	if (!h)
		return NULL;
	t->scache = h;
	/* glibc allocates here (and reads /proc/self/maps for the main
	 * thread): those blocks are the shim's, from the arena, uncounted */
	ht_own_enter(t);
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		if (pthread_attr_getstack(&a, &lo, &size) == 0) {
			h->lo = (uintptr_t)lo;
			h->hi = (uintptr_t)lo + size;
		}
		pthread_attr_destroy(&a);
	}
	ht_own_leave(t);
	return h->hi ? h : NULL;
}

/* Whether each frame's return address from the second on is still where
 * the walk found it: four at a time, one branch for the four (one by one,
 * a compare and a branch each, it took eight instructions a frame). Every
 * address read lies between the caller's stack pointer and the stack's
 * end, in the frames of the calls under way, also past one that changed. */
static inline int sc_holds(void *const *ips, const uintptr_t *where, int nf)
{
	int i = 1;

	for (; i + 4 <= nf; i += 4)
		if ((*(const uintptr_t *)where[i] ^ (uintptr_t)ips[i]) |
		    (*(const uintptr_t *)where[i + 1] ^ (uintptr_t)ips[i + 1]) |
		    (*(const uintptr_t *)where[i + 2] ^ (uintptr_t)ips[i + 2]) |
		    (*(const uintptr_t *)where[i + 3] ^ (uintptr_t)ips[i + 3]))
			return 0;
	for (; i < nf; i++)
		if (*(const uintptr_t *)where[i] != (uintptr_t)ips[i])
			return 0;
	return 1;
}

/* The entry for a call whose caller's stack pointer was cfa: its stack,
 * if it still holds (*hit 1); an entry to fill (*hit 0); or NULL if the
 * stack is not to be cached. */
static struct sc_ent *sc_find(uintptr_t cfa, int *hit)
{
	struct sc_head *h = sc_head();
	uintptr_t ra;
	struct sc_ent *set, *e, *old, *match = NULL, *cand[SC_WAYS];
	uint32_t epoch = __atomic_load_n(&ids.epoch, __ATOMIC_ACQUIRE);
	uint32_t unloads = __atomic_load_n(&ht_unloads, __ATOMIC_ACQUIRE);
	int w, nc = 0, j;

	*hit = 0;
	/* on the thread's own stack (not a signal stack or a coroutine's):
	 * every address looked at lies between cfa and its end */
	if (!h || cfa - 8 < h->lo || cfa >= h->hi)
		return NULL;
	ra = *(const uintptr_t *)(cfa - 8);
	set = sc_set(h, ra, cfa);
	old = set;
	for (w = 0, e = set; w < SC_WAYS; w++, e = sc_next(e)) {
		if (e->used < old->used)
			old = e;
		if (e->cfa == cfa && e->ra == ra && e->epoch == epoch && e->unloads == unloads) {
			if (e->nf < 0)
				return NULL;
			/* a call made from several places at one depth keeps a
			 * way for each of its stacks: the one found last is
			 * tried first, as the likeliest (a stack that does not
			 * hold is read up to the four holding the frame that
			 * changed, often the outermost) */
			if (!match)
				match = e;
			for (j = nc++; j > 0 && cand[j - 1]->used < e->used; j--)
				cand[j] = cand[j - 1];
			cand[j] = e;
		}
	}
	for (j = 0; j < nc; j++) {
		if (sc_holds(sc_ips(cand[j]), sc_where(cand[j]), cand[j]->nf)) {
			e = cand[j];
			e->used = ++h->clock;
			e->hits++;
			*hit = 1;
			return e;
		}
	}
	/* the frames above changed in every way: the oldest way takes this
	 * stack; the call is not cached when its callers keep changing (the
	 * first way of it counts the misses) */
	if (match && ++match->fails > 2 * match->hits + 8) {
		match->nf = -1;
		return NULL;
	}
	return old;
}

/* Fills e with the stack ips[0..nf) of a call whose caller's stack
 * pointer was cfa, finding where on the stack each frame's return address
 * is: above the one before, below the stack's end. */
static void sc_keep(struct sc_ent *e, uintptr_t cfa, void *const *ips, int nf, uint32_t id)
{
	struct sc_head *h = ht_tls.scache;
	struct sc_ent *l = h->last && h->last != e && h->last->nf > 0 ? h->last : NULL;
	uintptr_t at, *where = sc_where(e), *lw = l ? sc_where(l) : NULL;
	void **li = l ? sc_ips(l) : NULL;
	int i, k;

	if (e->cfa != cfa || e->ra != *(const uintptr_t *)(cfa - 8))
		e->hits = e->fails = 0; /* another call's */
	e->cfa = cfa;
	e->ra = *(const uintptr_t *)(cfa - 8);
	e->epoch = __atomic_load_n(&ids.epoch, __ATOMIC_ACQUIRE);
	e->unloads = __atomic_load_n(&ht_unloads, __ATOMIC_ACQUIRE);
	e->used = ++h->clock;
	e->id = id;
	e->nf = -1;
	if (nf <= 0 || (uintptr_t)ips[0] != e->ra)
		return; /* the walk did not start at the caller */
	where[0] = cfa - 8;
	for (i = 1, k = 0; i < nf; i++) {
		at = 0;
		if (l) {
			/* once a frame is where it was in the last stack, with
			 * the same return address, its caller's is where it was
			 * too: no need to search (the outer frames, main's with
			 * its big locals, are mostly the same) */
			while (k < l->nf && lw[k] < where[i - 1])
				k++;
			if (k + 1 < l->nf && lw[k] == where[i - 1] && li[k] == ips[i - 1] &&
			    li[k + 1] == ips[i] && *(void *const *)lw[k + 1] == ips[i])
				at = lw[k + 1];
		}
		if (!at) {
			for (at = where[i - 1] + 8; at + 8 <= h->hi; at += 8)
				if (*(void *const *)at == ips[i])
					break;
			if (at + 8 > h->hi)
				return; /* not a return address on this stack */
		}
		where[i] = at;
	}
	memcpy(sc_ips(e), ips, (size_t)nf * sizeof(void *));
	e->nf = nf;
	h->last = e;
}

/* A thread's cache goes with it. */
void ht_stacks_drop(struct ht_tls *t)
{
	if (t->scache)
		ht_arena_free(t->scache);
	t->scache = NULL;
}

/* Frame pointers. Where a function keeps one (gcc -fno-omit-frame-pointer,
 * as Fedora and Ubuntu build their packages), its frame starts with its
 * caller's rbp and return address, and rbp points there: a walk reads two
 * words a frame. Where it does not, rbp holds anything, and a walk through
 * it skips frames or reads garbage, so no frame is trusted unproven: each
 * return address gets a verdict, learnt from a libunwind walk (which reads
 * the compiler's unwind tables) the first time it is met, and the walk
 * follows rbp only from return addresses proven to keep a frame there.
 * The verdict is the function's rule at that instruction, which never
 * changes while its library stays loaded; a verdict is bound to the
 * loader's unload count (ht_unloads), so that another library loaded at
 * the same address is learnt anew. A table shared by the threads, insert
 * only, each entry one word: pc << 16 | unload count << 2 | verdict. */
enum { FV_UNKNOWN, FV_FRAME, FV_NONE, FV_END };
#define FV_PROBES 8
static uint64_t *fv_tab;
static uint32_t fv_mask;
/* an insert found no room: from then on, a return address not known is
 * walked by libunwind, not learnt (a walk that learns costs more) */
static int fv_full;

static inline uint32_t fv_slot(uintptr_t pc)
{
	return (uint32_t)(((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> 40) & fv_mask;
}

static inline unsigned fv_get(const uint64_t *tab, uintptr_t pc, uint32_t unloads)
{
	uint64_t want = (uint64_t)pc << 16 | (uint64_t)(unloads & 0x3fff) << 2;
	uint32_t j = fv_slot(pc);
	int k;

	if ((uint64_t)pc >> 48)
		return FV_UNKNOWN; /* never kept (see fv_put) */
	for (k = 0; k < FV_PROBES; k++, j = (j + 1) & fv_mask) {
		uint64_t e = __atomic_load_n(&tab[j], __ATOMIC_RELAXED);

		if (!e)
			return FV_UNKNOWN;
		if ((e & ~3ull) == want)
			return (unsigned)(e & 3);
	}
	return FV_UNKNOWN;
}

static void fv_put(uint64_t *tab, uintptr_t pc, uint32_t unloads, unsigned v)
{
	uint64_t want = (uint64_t)pc << 16 | (uint64_t)(unloads & 0x3fff) << 2;
	uint32_t j = fv_slot(pc);
	int k;

	if ((uint64_t)pc >> 48)
		return; /* beyond user space: no room for it in the word */
	for (k = 0; k < FV_PROBES; k++, j = (j + 1) & fv_mask) {
		uint64_t e = __atomic_load_n(&tab[j], __ATOMIC_RELAXED);

		if (!e && __atomic_compare_exchange_n(&tab[j], &e, want | v, 0, __ATOMIC_RELAXED,
						      __ATOMIC_RELAXED))
			return;
		if ((e & ~3ull) == want)
			return; /* another thread learnt it: the same verdict */
	}
	/* full here: the pc stays unknown */
	__atomic_store_n(&fv_full, 1, __ATOMIC_RELAXED);
}

/* The table, made on first use, of 2^14 entries (2^16 at rate 1, which
 * meets more of the program's code); NULL if it cannot be made (every
 * walk is libunwind's). Its pages are touched as verdicts are learnt. */
static uint64_t *fv_table(void)
{
	uint64_t *t = __atomic_load_n(&fv_tab, __ATOMIC_ACQUIRE), *none = NULL;
	size_t n = ht_core.rate == 1 ? (size_t)1 << 16 : (size_t)1 << 14;
	void *m;

	if (t)
		return t == MAP_FAILED ? NULL : t;
	m = mmap(NULL, n * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	fv_mask = (uint32_t)n - 1; /* the same in every thread that races here */
	if (!__atomic_compare_exchange_n(&fv_tab, &none, (uint64_t *)m, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		if (m != MAP_FAILED)
			munmap(m, n * sizeof(uint64_t));
		m = none;
	}
	return m == MAP_FAILED ? NULL : m;
}

static inline int in_shim(uintptr_t pc)
{
	return pc >= ht_core.self_lo && pc < ht_core.self_hi;
}

/* A libunwind walk that learns each frame's verdict: the function at a
 * return address keeps a frame pointer there if, stepping to its caller,
 * the caller's stack pointer is just above the two words rbp points to,
 * and those are the caller's rbp and return address. (A function that
 * uses rbp for something else would pass only if rbp held, by chance,
 * the address just below its own return address, where its caller's rbp
 * happened to be stored.) */
static int walk_learn(void **buf, int max, const struct sc_head *h, uint64_t *tab, uint32_t unloads)
{
	unw_context_t uc;
	unw_cursor_t c;
	unw_word_t ip, sp, bp, ip2, sp2, bp2;
	int n = 0, r;

	if (!ht_unw_ready() || ht_unw.getcontext(&uc) != 0 || ht_unw.init_local(&c, &uc) != 0 ||
	    ht_unw.get_reg(&c, UNW_REG_IP, &ip) != 0 || ht_unw.get_reg(&c, UNW_REG_SP, &sp) != 0 ||
	    ht_unw.get_reg(&c, UNW_X86_64_RBP, &bp) != 0)
		return 0;
	while (n < max && ip) {
		unsigned v = FV_NONE;

		buf[n++] = (void *)ip;
		r = ht_unw.step(&c);
		ip2 = sp2 = bp2 = 0;
		if (r > 0 && ht_unw.get_reg(&c, UNW_REG_IP, &ip2) == 0 &&
		    ht_unw.get_reg(&c, UNW_REG_SP, &sp2) == 0 &&
		    ht_unw.get_reg(&c, UNW_X86_64_RBP, &bp2) != 0)
			bp2 = 0; /* not known: the next frame keeps none */
		if (r > 0) {
			/* rbp read only where it is on this thread's stack */
			if (sp >= h->lo && bp >= sp && bp + 16 <= h->hi && !(bp & 7) &&
			    sp2 == bp + 16 && ((const unw_word_t *)bp)[0] == bp2 &&
			    ((const unw_word_t *)bp)[1] == ip2 && ip2)
				v = FV_FRAME;
		} else if (r == 0) {
			v = FV_END; /* the outermost frame: _start, a thread's clone */
		}
		/* the first is no return address; a frame whose rbp is not
		 * known is judged to keep none */
		if (n > 1)
			fv_put(tab, ip, unloads, v);
		if (r <= 0 || !ip2)
			break;
		ip = ip2;
		sp = sp2;
		bp = bp2;
	}
	return n;
}

/* Where walk_fp stopped at a frame it could not step through: the frame's
 * index in buf and where its return address is, so that the rest can come
 * from the thread's stack cache, or libunwind's rest be kept there. */
struct fp_stop {
	int k;          /* -1: none */
	uintptr_t cfa;  /* the return address is at cfa - 8 */
};

/* The frame-pointer walk of a call whose program's caller's stack pointer
 * was cfa, on the thread's own stack h: the frames into buf (at most max),
 * their count; -1 if a frame cannot be walked so (stop says where, when
 * the cache may hold the rest), -2 if a frame's verdict is not known yet. */
static int walk_fp(void **buf, int max, uintptr_t cfa, const struct sc_head *h,
		   const uint64_t *tab, uint32_t unloads, struct fp_stop *stop)
{
	uintptr_t bp = (uintptr_t)__builtin_frame_address(0), ra, nb;
	int n = 0, k;

	stop->k = -1;
	/* the shim's own frames, built with frame pointers, up to the one
	 * whose return address is the program's call: it must be the one
	 * at cfa, or the chain is not what it seems */
	for (k = 0;; k++) {
		if (bp < h->lo || bp + 16 > h->hi || (bp & 7) || k > 32)
			return -1;
		ra = ((const uintptr_t *)bp)[1];
		if (!in_shim(ra))
			break;
		nb = ((const uintptr_t *)bp)[0];
		if (nb <= bp)
			return -1;
		bp = nb;
	}
	if (bp + 16 != cfa)
		return -1;
	for (;;) {
		unsigned v;

		buf[n++] = (void *)ra;
		if (n == max)
			return n;
		v = fv_get(tab, ra, unloads);
		if (v == FV_END)
			return n;
		if (v != FV_FRAME) {
			stop->k = n - 1;
			stop->cfa = bp + 16;
			return v == FV_UNKNOWN && !__atomic_load_n(&fv_full, __ATOMIC_RELAXED) ? -2 : -1;
		}
		/* the frame of the function at ra starts at the rbp its callee
		 * saved: above the callee's return address, on this stack */
		nb = ((const uintptr_t *)bp)[0];
		if (nb < bp + 16 || nb + 16 > h->hi || (nb & 7))
			return -1;
		bp = nb;
		ra = ((const uintptr_t *)bp)[1];
	}
}

/* The rest of a stack from a frame the frame-pointer walk stopped at,
 * from the thread's cache: appended to buf[0..n), whose last frame is that
 * one; the new count, or -1 if the cache does not hold it. */
static int fp_rest(void **buf, int n, int max, const struct fp_stop *stop)
{
	struct sc_ent *e;
	int hit, i;

	e = sc_find(stop->cfa, &hit);
	if (!hit || e->nf < 1)
		return -1;
	for (i = 1; i < e->nf && n < max; i++)
		buf[n++] = sc_ips(e)[i];
	return n;
}

/* After libunwind walked a stack the frame-pointer walk stopped in,
 * frames[0..nf): keeps the rest from the stop on in the thread's cache,
 * if the two walks agree on where the stop is and the rest is whole (the
 * stack's end, or as many frames as any stack is given). */
static void fp_keep_rest(void *const *frames, int nf, int whole, const struct fp_stop *stop)
{
	struct sc_ent *e;
	int hit, rest;

	if (stop->k < 0 || stop->k >= nf ||
	    (uintptr_t)frames[stop->k] != *(const uintptr_t *)(stop->cfa - 8))
		return;
	rest = nf - stop->k;
	if (!whole && rest < ht_core.depth)
		return;
	if (rest > ht_core.depth)
		rest = ht_core.depth;
	e = sc_find(stop->cfa, &hit);
	if (e && !hit)
		sc_keep(e, stop->cfa, frames + stop->k, rest, 0);
}

/* In the thread's own slot, which only it writes. */
enum { WALK_UNWIND, WALK_FP, WALK_CUT };
static void count_walk(int how)
{
	struct ht_slot *s = ht_tls.slot;
	uint64_t *n;

	if (!s)
		return;
	n = how == WALK_FP ? &s->walks_fp : how == WALK_CUT ? &s->walks_cut : &s->walks_unwind;
	__atomic_store_n(n, *n + 1, __ATOMIC_RELAXED);
}

/* Walks this call's stack into buf: the frames above the shim's own, at
 * most depth of them. Returns where they start; *nf their count. cfa: the
 * program's caller's stack pointer, if known (then the walk may follow
 * frame pointers). */
static void *const *walk(void **buf, int *nf, uintptr_t cfa, int *cut)
{
	int cap = ht_core.depth + 8, got = -1, skip = 0, n;
	struct fp_stop stop = { -1, 0 };
	uint64_t *tab = NULL;

	if (cfa && ht_core.frame_pointers) {
		const struct sc_head *h = ht_tls.scache;
		uint32_t unloads = __atomic_load_n(&ht_unloads, __ATOMIC_ACQUIRE);

		tab = h && h->hi ? fv_table() : NULL;
		if (tab) {
			n = walk_fp(buf, ht_core.depth, cfa, h, tab, unloads, &stop);
			/* stopped at the program's caller: its stack is
			 * the one the caller of walk keeps */
			if (stop.k == 0)
				stop.k = -1;
			if (n == -1 && stop.k > 0)
				n = fp_rest(buf, stop.k + 1, ht_core.depth, &stop);
			if (n >= 0) {
				count_walk(WALK_FP);
				*nf = n;
				return buf;
			}
			if (n == -2) {
				ht_own_enter(&ht_tls); /* as below */
				got = walk_learn(buf, cap, h, tab, unloads);
				ht_own_leave(&ht_tls);
				stop.k = -1; /* the next walk finds the rest */
			}
		}
	}
	if (got <= 0 && !ht_unw_ready()) {
		/* not loaded, and not loadable now (unwind.c): the
		 * allocation's caller, if known, is all this stack has */
		count_walk(WALK_CUT);
		*cut = 1;
		*nf = cfa ? 1 : 0;
		buf[0] = cfa ? *(void **)(cfa - 8) : NULL;
		return buf;
	}
	if (got <= 0) {
		/* what it allocates (its thread-local block, the first time
		 * in a thread, if the loader has no room kept for it) is the
		 * shim's own: neither counted nor traced */
		ht_own_enter(&ht_tls);
		got = ht_unw.backtrace(buf, cap);
		ht_own_leave(&ht_tls);
	}
	count_walk(WALK_UNWIND);
	while (skip < got && in_shim((uintptr_t)buf[skip]))
		skip++;
	n = got - skip;
	if (tab && stop.k >= 0)
		fp_keep_rest(buf + skip, n, got < cap, &stop);
	if (n > ht_core.depth)
		n = ht_core.depth;
	*nf = n < 0 ? 0 : n;
	return buf + skip;
}

void *const *ht_stacks_get(uintptr_t cfa, void **buf, int *nf, uint32_t *id)
{
	void *const *frames;
	struct sc_ent *e;
	uint64_t gen;
	int hit = 0, cut = 0;

	/* a remembered stack's frames are live, and no library was unloaded
	 * since it was walked (sc_find), so their modules are as they were:
	 * the loader's list need not be read (dl_iterate_phdr takes a lock) */
	e = cfa ? sc_find(cfa, &hit) : NULL;
	if (hit) {
		*nf = e->nf;
		if (!e->id && ids.tab)
			e->id = stack_id(stack_hash(sc_ips(e), e->nf, ht_emit_modules()), sc_ips(e), e->nf);
		*id = e->id;
		return sc_ips(e);
	}
	gen = ht_emit_modules();
	frames = walk(buf, nf, cfa, &cut);
	*id = ids.tab ? stack_id(stack_hash(frames, *nf, gen), frames, *nf) : 0;
	if (e && !cut)
		sc_keep(e, cfa, frames, *nf, *id); /* a cut one is walked again */
	return frames;
}
