/* The tracing core of the shim: start-up (real allocator, shared memory,
 * the collector), per-thread state, the sampled path (unwind, ring write),
 * module events, and the final hand-over at exit. Nothing here allocates
 * through the traced malloc; the shim's own needs are met by mmap. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "internal.h"
#include "sample.h"
#include "untraced.h"

__thread struct ht_tls ht_tls __attribute__((aligned(64)));
/* Until the real allocator is known, every block is the arena's: the one
 * pointer malloc_usable_size may pass on is NULL, whose size is 0. */
static size_t usable_early(void *p)
{
	(void)p;
	return 0;
}

struct ht_hot ht_hot = { .real = { .malloc_usable_size = usable_early } };

enum { ST_NEW, ST_RESOLVING, ST_RESOLVED };
enum { TR_OFF, TR_STARTING, TR_ON };

static int resolve_state;          /* ST_* */
static int tracing;                /* TR_*: may events be written? */
static struct ht_shm *shm;
/* The layout of the shared memory as this process made it. The collector,
 * and whoever may write to the collector's memory, can change the shared
 * header: no index or size is ever read back from it. */
static struct ht_ring ring;        /* the ring's place and size */
static struct ht_slot *slots;      /* the per-thread counters */
static uint32_t slot_count;
static size_t shm_size;            /* the whole mapping */
static uint64_t rate = 524288;
static int depth = 64;
static uintptr_t self_lo, self_hi; /* the shim's own code: frames to skip */
static int alive_fd = -1;          /* write end of the pipe the collector watches */
static dev_t alive_dev;            /* ... and which file that is: the program may */
static ino_t alive_ino;            /* close the number and open one of its own there */
static pid_t collector_pid;
static uint64_t dl_seen = UINT64_MAX; /* dlpi_adds + dlpi_subs when modules were last sent */
static uint64_t dl_sent = UINT64_MAX; /* ... and once they are all in the ring */
static pthread_key_t slot_key;
static int slot_key_ok;
static uint32_t stalled;           /* ring full with no progress: drop without waiting */
static int warned_dead;
static double exit_timeout = 30;
static int follow_fork;            /* HEAPTRACE_FOLLOW_FORK: trace forked children too */
static int fork_pending;           /* a forked child that starts its own collector */
static int hooks_set;              /* thread-exit key and fork handler registered */
static int only_me;                /* HEAPTRACE_PID names us: children never traced */

/* Counts made before the shared memory exists (start-up, before main). */
static struct ht_slot early_slot;
/* Counts of a thread when tracing is off: they go nowhere, but each
 * thread's go to its own line (one line for all cost a program with two
 * threads dearly in cache-line transfers). */
static __thread struct ht_slot null_slot __attribute__((aligned(64)));

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, without stdio (which may allocate or hold locks). */
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	memcpy(buf, "heaptrace: ", 11);
	va_start(ap, fmt);
	n = vsnprintf(buf + 11, sizeof(buf) - 12, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += 11;
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	buf[n++] = '\n';
	if (write(2, buf, n) < 0)
		return;
}

/* ---- the real allocator ---------------------------------------------- */

int ht_resolve(void)
{
	int st = __atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE);
	struct ht_real r;

	if (ht_likely(st == ST_RESOLVED))
		return 0;
	if (st == ST_RESOLVING || ht_tls.self)
		return -1; /* dlsym is allocating: served from the arena */
	if (!__atomic_compare_exchange_n(&resolve_state, &st, ST_RESOLVING, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -1;
	ht_tls.self = 1;
	/* a process the shim stays out of gets no arena either: 21 GiB of
	 * address space less would count against its RLIMIT_AS, which its
	 * caller sets (its loader's few early blocks are then refused and
	 * it does without) */
	if (!ht_untraced())
		ht_arena_init();
	r.malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	r.free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	r.calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	r.realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	r.posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	r.aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	r.memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	r.valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
	r.pvalloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "pvalloc");
	r.malloc_usable_size = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
	ht_signals_resolve();
	ht_tls.self = 0;
	if (!r.malloc || !r.free || !r.calloc || !r.realloc || !r.posix_memalign ||
	    !r.memalign || !r.malloc_usable_size) {
		say("cannot find the underlying malloc; aborting");
		abort(); /* before main: there is no allocator to run on */
	}
	ht_hot.real = r;
	__atomic_store_n(&resolve_state, ST_RESOLVED, __ATOMIC_RELEASE);
	return 0;
}

/* ---- per-thread state --------------------------------------------------- */

static void sc_drop(struct ht_tls *t);

/* Frees that signal handlers deferred (free_rare in shim.c), when this
 * thread is neither in a handler nor inside the allocator. */
static void flush_left(struct ht_tls *t)
{
	if (ht_unlikely(t->deferred != NULL) && !t->busy) {
		t->busy = 1;
		ht_flush_deferred(t);
		t->busy = 0;
	}
}

static void retire_slot(void *arg)
{
	struct ht_slot *s = arg;

	flush_left(&ht_tls);

	sc_drop(&ht_tls);
	if (!shm || s == &early_slot || s == &null_slot)
		return;
	__atomic_fetch_add(&shm->retired[0], s->alloc_calls, __ATOMIC_RELAXED);
	__atomic_fetch_add(&shm->retired[1], s->free_calls, __ATOMIC_RELAXED);
	__atomic_fetch_add(&shm->retired[2], s->realloc_calls, __ATOMIC_RELAXED);
	__atomic_fetch_add(&shm->retired[3], s->alloc_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&s->alloc_calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->free_calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->realloc_calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->alloc_bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->in_use, 0, __ATOMIC_RELEASE);
	/* later destructors may still allocate: start over on the next call */
	ht_tls.slot = NULL;
	ht_tls.attached = 0;
	ht_countdown_set(&ht_tls, 0);
}

static struct ht_slot *claim_slot(void)
{
	uint32_t n = __atomic_load_n(&shm->next_slot, __ATOMIC_ACQUIRE), i;

	if (n > slot_count)
		n = slot_count;

	for (i = 0; i < n; i++) {
		uint32_t zero = 0;

		if (!__atomic_load_n(&slots[i].in_use, __ATOMIC_RELAXED) &&
		    __atomic_compare_exchange_n(&slots[i].in_use, &zero, 1, 0,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return &slots[i];
	}
	i = __atomic_fetch_add(&shm->next_slot, 1, __ATOMIC_ACQ_REL);
	if (i >= slot_count) {
		__atomic_fetch_sub(&shm->next_slot, 1, __ATOMIC_ACQ_REL);
		return NULL;
	}
	slots[i].in_use = 1;
	return &slots[i];
}

void ht_thread_attach(struct ht_tls *t)
{
	int tr = __atomic_load_n(&tracing, __ATOMIC_ACQUIRE);

	if (!t->rng)
		t->rng = ((uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull) ^
			 (uint64_t)syscall(SYS_gettid) << 32 ^ 0x5851f42d4c957f2dull;
	if (tr == TR_ON) {
		struct ht_slot *s = claim_slot();

		if (!s) {
			/* more live threads than slots: count into the last
			 * one shared, still exact enough, rarely hit */
			s = &slots[slot_count - 1];
		}
		t->slot = s;
		t->attached = 1;
		ht_countdown_set(t, ht_sample_gap(&t->rng, rate));
		t->hcount = ht_sample_gap(&t->rng, rate);
		if (slot_key_ok) {
			t->self++;
			pthread_setspecific(slot_key, s);
			t->self--;
		}
	} else if (tr == TR_STARTING) {
		/* before start-up finishes: every call comes back here */
		t->slot = &early_slot;
		t->attached = 0;
		ht_countdown_set(t, 0);
	} else {
		t->slot = &null_slot;
		t->attached = 1;
		ht_countdown_set(t, HT_CD_MAX);
		t->hcount = HT_CD_MAX;
	}
}

/* ---- the ring ----------------------------------------------------------- */

/* Is the collector running? A dead one may linger as a zombie (when the
 * program is its parent), which kill(pid, 0) still finds: look at its
 * state too. Only called when the ring is full or at exit. */
static int collector_alive(void)
{
	char path[48], buf[256];
	const char *close_paren;
	ssize_t n;
	int fd;

	if (collector_pid <= 0 || (kill(collector_pid, 0) != 0 && errno == ESRCH))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)collector_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	close_paren = strrchr(buf, ')');
	return !(close_paren && close_paren[1] == ' ' &&
		 (close_paren[2] == 'Z' || close_paren[2] == 'X'));
}

static void collector_died(void)
{
	if (!__atomic_exchange_n(&warned_dead, 1, __ATOMIC_ACQ_REL))
		say("the collector (pid %d) is gone; tracing is off, the program runs on",
		    (int)collector_pid);
	__atomic_store_n(&tracing, TR_OFF, __ATOMIC_RELEASE);
}

/* Wakes the collector if it sleeps between drains; one writer of those
 * that find it asleep makes the system call. */
static void kick_collector(void)
{
	if (__atomic_load_n(&shm->sleeping, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&shm->sleeping, 0, __ATOMIC_ACQ_REL)) {
		__atomic_add_fetch(&shm->kick, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &shm->kick, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
}

/* Reserves len bytes in the ring, or returns NULL if it stays full. A full
 * ring is waited on briefly (the collector, woken, drains it); after that
 * events are dropped, and counted, until it has room again. At rate 1,
 * where the profile is meant to be exact, and while the collector is still
 * starting (the program does not wait for it at start-up), the wait lasts
 * as long as the collector lives. */
static struct ht_rec *ring_reserve(uint32_t len, uint64_t *pos)
{
	struct ht_rec *r;
	int waits = 0;

	while (!(r = ht_ring_reserve(&ring, len, pos))) {
		struct timespec ts = { 0, 200000 };

		if (__atomic_load_n(&stalled, __ATOMIC_RELAXED) ||
		    (waits >= 50 && rate > 1 && __atomic_load_n(&shm->collector_ready, __ATOMIC_ACQUIRE)) ||
		    (waits % 50 == 49 && !collector_alive())) {
			__atomic_store_n(&stalled, 1, __ATOMIC_RELAXED);
			if (!collector_alive())
				collector_died();
			return NULL;
		}
		waits++;
		kick_collector();
		nanosleep(&ts, NULL);
	}
	if (ht_unlikely(__atomic_load_n(&stalled, __ATOMIC_RELAXED)))
		__atomic_store_n(&stalled, 0, __ATOMIC_RELAXED);
	return r;
}

/* Publishes a record; wakes the collector once the ring is a quarter full,
 * and for the EXIT event, which the program waits on. */
static void ring_commit(struct ht_rec *r, uint64_t pos, uint32_t len, int kind, int nframes)
{
	ht_ring_commit(r, pos, len, kind, nframes);
	if (__atomic_load_n(&shm->sleeping, __ATOMIC_RELAXED) &&
	    (kind == HT_EV_EXIT ||
	     pos + len - __atomic_load_n(&shm->tail, __ATOMIC_RELAXED) > ring.size / 4))
		kick_collector();
}

/* ---- module events ------------------------------------------------------ */

static char exe_path[HT_PATH_MAX];

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
		path = exe_path;
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
	m = (struct ht_ev_module *)ring_reserve(len, &pos);
	if (!m) {
		__atomic_fetch_add(&shm->drop_other, 1, __ATOMIC_RELAXED);
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
	ring_commit(&m->h, pos, len, HT_EV_MODULE, 0);
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
static uint64_t update_modules(void)
{
	uint64_t gen = 0, seen = __atomic_load_n(&dl_seen, __ATOMIC_RELAXED);
	int spins = 0;

	dl_iterate_phdr(check_modules, &gen);
	if (gen != seen &&
	    __atomic_compare_exchange_n(&dl_seen, &seen, gen, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_RELAXED)) {
		dl_iterate_phdr(send_module, NULL);
		__atomic_store_n(&dl_sent, gen, __ATOMIC_RELEASE);
		return gen;
	}
	/* another thread is sending this list: let it finish (briefly), so
	 * our sample follows the modules it may name */
	while (__atomic_load_n(&dl_sent, __ATOMIC_ACQUIRE) != gen && spins++ < 10000)
		sched_yield();
	return gen;
}

/* ---- allocator statistics ---------------------------------------------- */

struct glibc_mallinfo2 {
	size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks;
	size_t uordblks, fordblks, keepcost;
};

static struct glibc_mallinfo2 (*mallinfo2_fn)(void);
static int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

/* Which allocator is underneath: jemalloc if the real malloc lives in the
 * same object as a mallctl, glibc if mallinfo2 exists. */
static void find_allocator(void)
{
	Dl_info a, b;
	void *ctl = dlsym(RTLD_DEFAULT, "mallctl");

	if (ctl && dladdr((void *)ht_hot.real.malloc, &a) && dladdr(ctl, &b) &&
	    a.dli_fbase == b.dli_fbase) {
		mallctl_fn = (int (*)(const char *, void *, size_t *, void *, size_t))ctl;
		shm->allocator = HT_ALLOCATOR_JEMALLOC;
		return;
	}
	/* glibc's figures only if glibc's malloc is the one underneath
	 * (not under tcmalloc, say, where they would describe an idle heap) */
	ctl = dlsym(RTLD_DEFAULT, "mallinfo2");
	if (ctl && dladdr((void *)ht_hot.real.malloc, &a) && dladdr(ctl, &b) &&
	    a.dli_fbase == b.dli_fbase) {
		mallinfo2_fn = (struct glibc_mallinfo2 (*)(void))ctl;
		shm->allocator = HT_ALLOCATOR_GLIBC;
	}
}

/* ---- whose malloc the program calls; the launcher's record ------------- */

static const char *env(const char *name);

/* Does the object of link map lm define a malloc of its own (handle: how
 * dlsym finds it)? A non-PIE executable that takes malloc's address shows
 * its PLT stub there under an undefined symbol, which is no definition. */
static int defines_malloc(void *handle, struct link_map *lm)
{
	struct link_map *at = NULL;
	const ElfW(Sym) *sym = NULL;
	Dl_info di;
	void *p = dlsym(handle, "malloc");

	return p && dladdr1(p, &di, (void **)&at, RTLD_DL_LINKMAP) && at == lm &&
	       dladdr1(p, &di, (void **)&sym, RTLD_DL_SYMENT) && sym && di.dli_saddr == p &&
	       sym->st_shndx != SHN_UNDEF;
}

/* Is the malloc the program calls the shim's? Not when the executable
 * exports a malloc of its own, or an object loaded before the shim (an
 * allocator preloaded before it) defines one: then nothing reaches the
 * shim. If not, says so in one line, once per program, and writes why
 * into note (cap bytes; "" when it is the shim's), which the collector
 * copies into every snapshot. A forked child traced anew inherits the
 * answer. The loader's list is in load order: the executable, then the
 * preloaded objects in order. */
static void check_interposed(char *note, size_t cap)
{
	static char why[HT_NOTE_MAX];
	static int checked;
	struct link_map *me = NULL, *head, *lm;
	const char *name, *pre;
	Dl_info mine;

	char *c;

	if (!checked && dladdr1((void *)check_interposed, &mine, (void **)&me, RTLD_DL_LINKMAP) && me) {
		checked = 1;
		/* what the loader allocates here (dlerror's message, a search
		 * list) is the shim's own, from the arena: neither counted nor
		 * traced, then or when it is freed */
		ht_tls.busy++;
		ht_tls.own++;
		ht_countdown_lower(&ht_tls);
		for (head = me; head->l_prev; head = head->l_prev)
			;
		if (head != me && defines_malloc(RTLD_DEFAULT, head)) {
			name = strrchr(exe_path, '/');
			snprintf(why, sizeof(why), "'%.200s' has a malloc of its own: nothing is "
				 "traced (heaptrace sees the calls to a shared library's malloc, "
				 "not to one built into the program)", name ? name + 1 : exe_path);
		}
		for (lm = head->l_next; !why[0] && lm && lm != me; lm = lm->l_next) {
			/* not the vdso, which has no file */
			void *h = lm->l_name && strchr(lm->l_name, '/') ?
				  dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD) : NULL;

			if (!h)
				continue;
			if (defines_malloc(h, lm)) {
				name = strrchr(lm->l_name, '/');
				name = name ? name + 1 : lm->l_name;
				pre = env("LD_PRELOAD");
				snprintf(why, sizeof(why), "malloc of '%.200s' comes before the shim%s: "
					 "nothing is traced; %s", name,
					 pre && strstr(pre, name) ? " in LD_PRELOAD" : "'s",
					 pre && strstr(pre, name) ? "put libheaptrace.so first" :
					 "preload libheaptrace.so (first in LD_PRELOAD)");
			}
			dlclose(h);
		}
		ht_countdown_raise(&ht_tls);
		ht_tls.own--;
		ht_busy_leave(&ht_tls);
		for (c = why; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?'; /* one line, whatever the names hold */
		if (why[0])
			say("%s", why);
	}
	snprintf(note, cap, "%s", why);
}

/* HEAPTRACE_REPORT_TO names a file the heaptrace launcher made: each
 * traced image of a process adds "S PID COLLECTOR_PID" and a NUL to it
 * when its collector has started, in the order the images run, so that
 * the launcher knows which collector writes the last image's snapshot
 * (each collector adds its own record when it has, see heaptrace(1)).
 * Only an existing regular file is written; failures are silent. */
static void tell_launcher(void)
{
	const char *to = env("HEAPTRACE_REPORT_TO");
	char rec[64];
	struct stat st;
	int fd, n, e = errno;

	if (!to || !*to)
		return;
	fd = open(to, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		errno = e;
		return;
	}
	n = snprintf(rec, sizeof(rec), "S %d %d", (int)getpid(), (int)collector_pid);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && write(fd, rec, (size_t)n + 1) < 0)
		n = 0;
	close(fd);
	errno = e;
}

static uint64_t jemalloc_stat(const char *name)
{
	size_t v = 0, len = sizeof(v);

	return mallctl_fn(name, &v, &len, NULL, 0) == 0 ? v : 0;
}

void ht_flush_deferred(struct ht_tls *t)
{
	void *q;

	while ((q = __atomic_exchange_n(&t->deferred, NULL, __ATOMIC_ACQ_REL)) != NULL)
		while (q) {
			void *next = *(void **)q;

			ht_hot.real.free(q);
			q = next;
		}
}

/* Is this call made by a signal handler (is there a signal frame on the
 * stack)? The program's own calls into the allocator are not marked (that
 * would cost every call), so a handler may have interrupted one, holding
 * the allocator's locks. Handlers set through the shim are counted in
 * ht_tls.busy, but one set by the system call directly is not: this walks
 * the whole stack, so only for rare work; a stack it cannot walk to the
 * end counts as yes. */
static int in_signal_handler(void)
{
	unw_context_t uc;
	unw_cursor_t c;
	int i;

	if (unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
		return 1;
	for (i = 0; i < 4096; i++) {
		int r;

		if (unw_is_signal_frame(&c) > 0)
			return 1;
		r = unw_step(&c);
		if (r == 0)
			return 0;
		if (r < 0)
			return 1;
	}
	return 1;
}

/* Copies the allocator's own figures into the shared memory: when the
 * collector asks for them, before a snapshot (force 0: one thread of those
 * that find the request does it), or at exit (force 1). They cost locks
 * and a walk of every free chunk inside the allocator: on python3's heap,
 * reading them every 100 ms cost 5% of its run time, mostly in the caches
 * the walk empties. On the sampled path only, never from a signal handler
 * (it may have interrupted the allocator); the thread counts as busy
 * meanwhile, since a signal handler that interrupts this must not call
 * into the allocator. */
static void refresh_stats(int force)
{
	struct timespec ts;
	uint64_t v[8] = { 0 };

	if (!shm->allocator)
		return;
	if (!force && (!__atomic_load_n(&shm->stats_wanted, __ATOMIC_RELAXED) ||
		       !__atomic_exchange_n(&shm->stats_wanted, 0, __ATOMIC_ACQ_REL)))
		return;
	if (in_signal_handler()) {
		/* later, from a thread that is not in one */
		if (!force)
			__atomic_store_n(&shm->stats_wanted, 1, __ATOMIC_RELEASE);
		return;
	}
	ht_tls.busy++;
	if (mallctl_fn) {
		uint64_t epoch = 1;
		size_t len = sizeof(epoch);

		mallctl_fn("epoch", &epoch, &len, &epoch, len);
		v[HT_JEMALLOC_ALLOCATED] = jemalloc_stat("stats.allocated");
		v[HT_JEMALLOC_ACTIVE] = jemalloc_stat("stats.active");
		v[HT_JEMALLOC_RESIDENT] = jemalloc_stat("stats.resident");
		v[HT_JEMALLOC_RETAINED] = jemalloc_stat("stats.retained");
		v[HT_JEMALLOC_MAPPED] = jemalloc_stat("stats.mapped");
		v[HT_JEMALLOC_METADATA] = jemalloc_stat("stats.metadata");
	} else {
		struct glibc_mallinfo2 mi = mallinfo2_fn();

		v[HT_GLIBC_ARENA] = mi.arena;
		v[HT_GLIBC_IN_USE] = mi.uordblks + mi.hblkhd;
		v[HT_GLIBC_FREE] = mi.fordblks;
		v[HT_GLIBC_MMAP] = mi.hblkhd;
		v[HT_GLIBC_TOP_PAD] = mi.keepcost;
	}
	ht_busy_leave(&ht_tls);
	v[HT_ARENA_LIVE] = __atomic_load_n(&ht_arena_live, __ATOMIC_RELAXED);
	v[HT_ARENA_COMMITTED] = __atomic_load_n(&ht_arena_committed, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME, &ts);
	__atomic_fetch_add(&shm->stats_seq, 1, __ATOMIC_ACQ_REL);
	memcpy(shm->stats, v, sizeof(v));
	shm->stats_time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	__atomic_fetch_add(&shm->stats_seq, 1, __ATOMIC_ACQ_REL);
}

static void start_forked(void);

/* ---- stack ids ---------------------------------------------------------- */

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
static struct stack_ent *stack_tab;
static size_t stack_tab_size;
static uint32_t stack_mask, stack_used, stack_next;
static uint32_t stack_epoch; /* bumped when the ids start over (a new collector) */
uint32_t ht_unloads;

static void stacks_init(void)
{
	size_t n = rate == 1 ? (size_t)1 << 16 : (size_t)1 << 13;
	void *m;

	if (stack_tab)
		munmap(stack_tab, stack_tab_size);
	stack_tab = NULL;
	stack_used = stack_next = 0;
	__atomic_add_fetch(&stack_epoch, 1, __ATOMIC_RELEASE);
	m = mmap(NULL, n * sizeof(struct stack_ent), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return; /* every stack is sent in full */
	stack_tab = m;
	stack_tab_size = n * sizeof(struct stack_ent);
	stack_mask = (uint32_t)n - 1;
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
	uint32_t id = __atomic_add_fetch(&stack_next, 1, __ATOMIC_RELAXED);
	uint32_t len = ht_rec_len(sizeof(struct ht_ev_stack) + (uint32_t)nf * 8);
	struct ht_ev_stack *ev;
	uint64_t pos;

	if (id > HT_MAX_STACK_ID)
		return 0;
	ev = (struct ht_ev_stack *)ring_reserve(len, &pos);
	if (!ev)
		return 0;
	ev->id = id;
	ev->pad = 0;
	memcpy(ev + 1, ips, (size_t)nf * 8);
	ring_commit(&ev->h, pos, len, HT_EV_STACK, nf);
	__atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
	return id;
}

/* The id of this stack, defining it if new; 0 if it has none (send it in
 * full). */
static uint32_t stack_id(uint64_t h, void *const *ips, int nf)
{
	uint32_t j = (uint32_t)(h >> 24) & stack_mask;
	int k;

	for (k = 0; k < STACK_PROBES; k++, j = (j + 1) & stack_mask) {
		struct stack_ent *e = &stack_tab[j];
		uint64_t eh = __atomic_load_n(&e->hash, __ATOMIC_ACQUIRE);

		if (eh == 0) {
			if (__atomic_load_n(&stack_used, __ATOMIC_RELAXED) >= stack_mask / 2)
				return 0;
			if (__atomic_compare_exchange_n(&e->hash, &eh, h, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				__atomic_fetch_add(&stack_used, 1, __ATOMIC_RELAXED);
				return define_stack(e, ips, nf);
			}
			/* another thread took the entry; eh is its hash */
		}
		if (eh == h)
			return __atomic_load_n(&e->id, __ATOMIC_ACQUIRE);
	}
	return 0;
}

/* ---- the per-thread stack cache ----------------------------------------- */

/* A thread that allocates at one place over and over walks the same stack
 * each time. libunwind finds each frame's rule in its cache, but that is a
 * line per frame, cold when samples are far apart, and at rate 1 the walks
 * were over a quarter of redis-server's time. So each thread keeps its last
 * stacks by where the call came from (the caller's return address and
 * stack pointer), with the address on the stack of every frame's return
 * address. The stack is the same while each of those addresses holds the
 * same return address: frame by frame, the same function, returning to
 * the same place with the same stack pointer, finds its caller's return
 * address where it was before. (A frame that varies its size from call to
 * call with alloca could have left a stale copy there while its callers
 * changed; a program that does that can get an older stack for a sample.)
 * Frames are checked from the innermost out, so every address read is in
 * a frame that is live. */
#define SC_SETS 16
#define SC_WAYS 4

struct sc_ent {
	uintptr_t cfa;   /* the caller's stack pointer after the call; 0: empty */
	uintptr_t ra;    /* the caller's return address */
	uint32_t epoch;  /* stack_epoch it holds for */
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
	return sizeof(struct sc_ent) + (size_t)depth * 2 * sizeof(void *);
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
	return (uintptr_t *)(e + 1) + depth;
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
	t->busy++;
	t->own++;
	ht_countdown_lower(t);
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		if (pthread_attr_getstack(&a, &lo, &size) == 0) {
			h->lo = (uintptr_t)lo;
			h->hi = (uintptr_t)lo + size;
		}
		pthread_attr_destroy(&a);
	}
	ht_countdown_raise(t);
	t->own--;
	ht_busy_leave(t);
	return h->hi ? h : NULL;
}

/* The entry for a call whose caller's stack pointer was cfa: its stack,
 * if it still holds (*hit 1); an entry to fill (*hit 0); or NULL if the
 * stack is not to be cached. */
static struct sc_ent *sc_find(uintptr_t cfa, int *hit)
{
	struct sc_head *h = sc_head();
	uintptr_t ra;
	struct sc_ent *set, *e, *old, *match = NULL;
	uint32_t epoch = __atomic_load_n(&stack_epoch, __ATOMIC_ACQUIRE);
	uint32_t unloads = __atomic_load_n(&ht_unloads, __ATOMIC_ACQUIRE);
	int w;

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
			void **ips = sc_ips(e);
			uintptr_t *where = sc_where(e);
			int i;

			if (e->nf < 0)
				return NULL;
			for (i = 1; i < e->nf; i++)
				if (*(void *const *)where[i] != ips[i])
					break;
			if (i == e->nf) {
				e->used = ++h->clock;
				e->hits++;
				*hit = 1;
				return e;
			}
			/* the frames above changed: another way may hold this
			 * call's other stack (a function called from several
			 * places at one depth), else the oldest way takes it;
			 * not cached when the callers keep changing */
			if (!match)
				match = e;
		}
	}
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
	e->epoch = __atomic_load_n(&stack_epoch, __ATOMIC_ACQUIRE);
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
static void sc_drop(struct ht_tls *t)
{
	if (t->scache)
		ht_arena_free(t->scache);
	t->scache = NULL;
}

/* ---- the sampled path --------------------------------------------------- */

/* Sampled arena block p of n bytes whose event found the ring full: the
 * drop is counted, and p is retagged HT_BLK_PLAIN, so that its free is
 * counted but not sent, which the collector could match with nothing. */
static void drop_alloc(void *p, size_t n)
{
	__atomic_fetch_add(&shm->drop_alloc, 1, __ATOMIC_RELAXED);
	ht_arena_retag(p, n, HT_BLK_PLAIN);
}

/* Records the sampled arena block p of n bytes. cfa: the stack pointer of
 * the program's function that called the allocator, when the shim knows it
 * (0 if not): then the stack may come from the thread's stack cache. */
static void record_alloc(void *p, size_t n, uintptr_t cfa)
{
	void *ips[HT_MAX_DEPTH + 8];
	void *const *frames;
	int got, skip = 0, nf;
	uint32_t len, id = 0;
	uint64_t pos, gen;
	struct ht_ev_alloc *ev;
	struct sc_ent *e;
	int hit = 0;

	/* a remembered stack's frames are live, and no library was unloaded
	 * since it was walked (sc_find), so their modules are as they were:
	 * the loader's list need not be read (dl_iterate_phdr and its lock,
	 * a sixth of the shim's time in redis-server at rate 1 once the
	 * walks were cached) */
	e = cfa ? sc_find(cfa, &hit) : NULL;
	if (hit) {
		frames = sc_ips(e);
		nf = e->nf;
		if (!e->id && stack_tab)
			e->id = stack_id(stack_hash(frames, nf, update_modules()), frames, nf);
		id = e->id;
	} else {
		gen = update_modules();
		got = unw_backtrace(ips, depth + 8);
		while (skip < got && (uintptr_t)ips[skip] >= self_lo && (uintptr_t)ips[skip] < self_hi)
			skip++;
		nf = got - skip;
		if (nf > depth)
			nf = depth;
		if (nf < 0)
			nf = 0;
		frames = ips + skip;
		if (stack_tab)
			id = stack_id(stack_hash(frames, nf, gen), frames, nf);
		if (e)
			sc_keep(e, cfa, frames, nf, id);
	}
	if (id) {
		struct ht_ev_alloc_id *ea;

		len = ht_rec_len(sizeof(*ea));
		ea = (struct ht_ev_alloc_id *)ring_reserve(len, &pos);
		if (!ea) {
			drop_alloc(p, n);
			return;
		}
		ea->addr = (uintptr_t)p;
		ea->size = n;
		ea->id = id;
		ea->pad = 0;
		ring_commit(&ea->h, pos, len, HT_EV_ALLOC_ID, 0);
		return;
	}
	len = ht_rec_len(sizeof(*ev) + (uint32_t)nf * 8);
	ev = (struct ht_ev_alloc *)ring_reserve(len, &pos);
	if (!ev) {
		drop_alloc(p, n);
		return;
	}
	ev->addr = (uintptr_t)p;
	ev->size = n;
	memcpy(ev + 1, frames, (size_t)nf * 8);
	ring_commit(&ev->h, pos, len, HT_EV_ALLOC, nf);
}

static void record_free(void *p)
{
	struct ht_ev_free *ev;
	uint64_t pos;
	uint32_t len = ht_rec_len(sizeof(*ev));

	ev = (struct ht_ev_free *)ring_reserve(len, &pos);
	if (!ev) {
		__atomic_fetch_add(&shm->drop_free, 1, __ATOMIC_RELAXED);
		return;
	}
	ev->addr = (uintptr_t)p;
	ring_commit(&ev->h, pos, len, HT_EV_FREE, 0);
}

/* A call of the shim's into the real allocator, marked busy: a signal
 * handler that interrupts it is served from the arena, as the shim's own. */
static void *real_alloc(struct ht_tls *t, size_t n, size_t align, enum ht_op op)
{
	void *p = NULL;
	int err;

	t->busy++;
	if (op == HT_OP_CALLOC)
		p = ht_hot.real.calloc(1, n);
	else if (op != HT_OP_ALIGNED)
		p = ht_hot.real.malloc(n);
	else if ((err = ht_hot.real.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n))) {
		errno = err;
		p = NULL;
	}
	ht_busy_leave(t);
	return p;
}

/* An unsampled block: from the real allocator, or from the arena in a
 * signal handler, which may have interrupted its thread inside the real
 * allocator (from that too if the arena is full). */
static void *plain_alloc(struct ht_tls *t, size_t n, size_t align, enum ht_op op)
{
	if (t->busy >= HT_IN_HANDLER) {
		void *p = ht_arena_alloc(n, align, HT_BLK_NESTED, op == HT_OP_CALLOC);

		if (p)
			return p;
	}
	return real_alloc(t, n, align, op);
}

/* A sampled block that the arena had no room for, made by the real
 * allocator, unrecorded: counted, and said once, loudly, as the arena
 * grows to any heap that fits in memory and this should not happen (the
 * address space reserved for it is used up). */
static void arena_full(void)
{
	static int said;

	__atomic_fetch_add(&shm->arena_full, 1, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		say("the sample arena is full: sampled allocations go unrecorded from now on, "
		    "figures are low%s", rate <= 1 ? " (rate 1 is no longer exact)" : "");
}

/* A sampled block of n bytes (the caller is in the shim: t->self), room
 * bytes if more, from the arena; from plain_alloc if the arena is full.
 * cfa: the stack pointer of the program's call, for the stack cache. */
static void *sampled_alloc(struct ht_tls *t, size_t n, size_t room, size_t align, enum ht_op op,
			   uintptr_t cfa)
{
	void *p = ht_arena_alloc_room(n, room, align, HT_BLK_SAMPLED, op == HT_OP_CALLOC);

	if (p) {
		record_alloc(p, n, cfa);
		refresh_stats(0);
		return p;
	}
	p = plain_alloc(t, n, align, op);
	if (p)
		arena_full();
	return p;
}

/* The stack pointer of the program's call into the shim, from a function
 * that malloc and calloc jump to (ht_alloc_slow, and ht_alloc_nested, to
 * which ht_alloc_slow jumps in turn): its caller's, unless it was called
 * from inside the shim (realloc's move sets ht_tls.caller_cfa then; a
 * call that was not a jump finds 0 there outside a move, and the stack
 * is walked). */
#define PROGRAM_CFA(t)                                                               \
	((uintptr_t)__builtin_return_address(0) >= self_lo &&                        \
			 (uintptr_t)__builtin_return_address(0) < self_hi ?           \
		 (t)->caller_cfa : (uintptr_t)__builtin_dwarf_cfa())

void *ht_alloc_slow(size_t n, size_t align, enum ht_op op)
{
	struct ht_tls *t = &ht_tls;
	void *p;

	if (t->busy) {
		/* lowered: a signal handler, or the shim's own work */
		t->countdown += (int64_t)n;
		return ht_alloc_nested(n, align, op);
	}
	flush_left(t);

	if (ht_resolve() != 0 || t->self) {
		/* the shim's own work, or dlsym during start-up: never sampled */
		t->countdown += (int64_t)n;
		if (__atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) == ST_RESOLVED) {
			/* counted, as its free will be: it may be a signal
			 * handler's allocation, not ours */
			if (t->slot)
				ht_count_alloc(t, n);
			return real_alloc(t, n, align, op);
		}
		p = ht_arena_alloc(n, align, HT_BLK_INTERNAL, op == HT_OP_CALLOC);
		if (!p)
			errno = ENOMEM;
		return p;
	}
	if (ht_unlikely(fork_pending) && __atomic_exchange_n(&fork_pending, 0, __ATOMIC_ACQ_REL)) {
		t->self++;
		start_forked();
		t->self--;
	}
	if (!t->attached || t->slot == &early_slot) {
		t->countdown += (int64_t)n; /* undo the caller's decrement */
		ht_thread_attach(t);
		t->countdown -= (int64_t)n;
		if (t->countdown > 0 || !t->attached) {
			ht_count_alloc(t, n);
			return real_alloc(t, n, align, op);
		}
	}
	ht_count_alloc(t, n);
	if (__atomic_load_n(&tracing, __ATOMIC_ACQUIRE) != TR_ON) {
		ht_countdown_set(t, HT_CD_MAX);
		return real_alloc(t, n, align, op);
	}
	t->self++;
	ht_countdown_set(t, ht_sample_gap(&t->rng, rate));
	p = sampled_alloc(t, n, t->grow_room, align, op, PROGRAM_CFA(t));
	t->self--;
	return p;
}

/* A signal handler's allocation: counted, and sampled by its own countdown
 * (the thread's is lowered meanwhile); from the arena either way. */
static void *handler_alloc(struct ht_tls *t, size_t n, size_t align, enum ht_op op, uintptr_t cfa)
{
	void *p;

	if (t->slot)
		ht_count_alloc(t, n);
	t->hcount -= (int64_t)n;
	if (t->hcount > 0 || !t->attached || t->slot == &early_slot ||
	    __atomic_load_n(&tracing, __ATOMIC_ACQUIRE) != TR_ON)
		return plain_alloc(t, n, align, op);
	t->self++;
	t->hcount = ht_sample_gap(&t->rng, rate);
	p = sampled_alloc(t, n, 0, align, op, cfa);
	t->self--;
	return p;
}

void *ht_alloc_nested(size_t n, size_t align, enum ht_op op)
{
	struct ht_tls *t = &ht_tls;
	void *p;

	if (ht_handler_only(t)) {
		ht_handler_recheck(t);
		if (t->busy)
			return handler_alloc(t, n, align, op, PROGRAM_CFA(t));
		/* the handler was over: as the fast path */
		if (ht_countdown(t, n))
			return ht_alloc_slow(n, align, op);
		ht_count_alloc(t, n);
		return real_alloc(t, n, align, op);
	}
	p = ht_arena_alloc(n, align, t->own ? HT_BLK_INTERNAL : HT_BLK_NESTED, op == HT_OP_CALLOC);
	if (!p)
		return real_alloc(t, n, align, op);
	if (t->own)
		return p; /* the shim's own: neither counted nor recorded */
	if (ht_likely(t->slot != NULL))
		ht_count_alloc(t, n);
	return p;
}

void ht_free_arena(void *p)
{
	struct ht_tls *t = &ht_tls;

	if (ht_arena_flags(p) & HT_BLK_SAMPLED) {
		/* recorded before the slot can be reused, so a thread that gets
		 * the same address next writes its ALLOC after this FREE */
		if (__atomic_load_n(&tracing, __ATOMIC_ACQUIRE) == TR_ON) {
			t->self++;
			record_free(p);
			t->self--;
		}
		ht_count_free(t);
	}
	ht_arena_free(p);
}

/* Whether a realloc of an arena block may be done here, counted and
 * recorded as a move (ht_realloc_in_place, ht_realloc_move): tracing is on,
 * the thread is set up, and it is neither in the shim nor the allocator. */
static int resize_here(const struct ht_tls *t)
{
	return __atomic_load_n(&tracing, __ATOMIC_ACQUIRE) == TR_ON && t->attached &&
	       t->slot != &early_slot && !t->self && !t->busy;
}

/* Such a realloc's free of the old block p, before its slot can be reused
 * (the caller is in the shim: t->self). */
static void resize_free(struct ht_tls *t, void *p)
{
	if (ht_arena_flags(p) & HT_BLK_SAMPLED)
		record_free(p);
	ht_count_free(t);
}

/* Such a realloc's new block q of n bytes, when its draw sampled it. */
static void resize_sampled(struct ht_tls *t, void *q, size_t n, uintptr_t cfa)
{
	ht_countdown_set(t, ht_sample_gap(&t->rng, rate));
	record_alloc(q, n, cfa);
	refresh_stats(0);
}

void *ht_realloc_in_place(void *p, size_t n, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;

	if (!resize_here(t))
		return NULL;
	t->self++;
	/* the free of the old block, and an allocation of n bytes, sampled
	 * or not */
	resize_free(t, p);
	ht_count_alloc(t, n);
	t->countdown -= (int64_t)n;
	if (t->countdown > 0) {
		ht_arena_retag(p, n, HT_BLK_PLAIN);
	} else {
		ht_arena_retag(p, n, HT_BLK_SAMPLED);
		resize_sampled(t, p, n, cfa);
	}
	t->self--;
	return p;
}

void *ht_realloc_move(void *p, size_t n, uintptr_t cfa)
{
	struct ht_tls *t = &ht_tls;
	size_t usable = ht_arena_usable(p), bytes = n < usable ? n : usable;
	int sampled;
	void *q;

	if (bytes < HT_MOVE_COLD_MIN || !resize_here(t))
		return NULL;
	t->countdown -= (int64_t)n;
	sampled = t->countdown <= 0;
	if (!sampled && bytes < HT_MOVE_MIN) {
		/* copied into the real allocator's pages, which are likely
		 * there, costs less (the draw repeats the same there) */
		t->countdown += (int64_t)n;
		return NULL;
	}
	t->self++;
	q = ht_arena_alloc_room(n, n > usable ? ht_grow_room(n) : n, 0,
				sampled ? HT_BLK_SAMPLED : HT_BLK_PLAIN, 0);
	if (!q) {
		t->countdown += (int64_t)n;
		t->self--;
		return NULL;
	}
	resize_free(t, p);
	ht_arena_move(p, q, n);
	ht_count_alloc(t, n);
	if (sampled)
		resize_sampled(t, q, n, cfa);
	t->self--;
	return q;
}

/* ---- start-up ----------------------------------------------------------- */

/* Is [vaddr, vaddr + n) inside a readable segment that the loader mapped? */
static int loaded(const struct dl_phdr_info *info, ElfW(Addr) vaddr, ElfW(Xword) n)
{
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) && vaddr >= ph->p_vaddr &&
		    n <= ph->p_filesz && vaddr - ph->p_vaddr <= ph->p_filesz - n)
			return 1;
	}
	return 0;
}

/* Does the main program carry heaptrace's note (preload/untraced.h)? The
 * first object dl_iterate_phdr reports is the main program, also when it
 * was started through the loader by name. Only notes in its mapped
 * segments are read: a note that is not loaded is no note of ours. */
static int find_note(struct dl_phdr_info *info, size_t size, void *arg)
{
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p, *end;
		size_t align;

		if (ph->p_type != PT_NOTE || !loaded(info, ph->p_vaddr, ph->p_memsz))
			continue;
		align = ph->p_align == 8 ? 8 : 4;
		p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
			size_t name = (nh->n_namesz + align - 1) & ~(align - 1);
			size_t desc = (nh->n_descsz + align - 1) & ~(align - 1);

			if (name > (size_t)(end - p) || desc > (size_t)(end - p) ||
			    sizeof(*nh) + name + desc > (size_t)(end - p))
				break;
			if (nh->n_type == HT_NOTE_UNTRACED && nh->n_namesz == HT_NOTE_NAMESZ &&
			    !memcmp(p + sizeof(*nh), HT_NOTE_NAME, HT_NOTE_NAMESZ)) {
				*(int *)arg = 1;
				break;
			}
			p += sizeof(*nh) + name + desc;
		}
	}
	return 1; /* the main program only */
}

int ht_untraced(void)
{
	static int known; /* 0 not yet, 1 traced, 2 untraced */
	int k = __atomic_load_n(&known, __ATOMIC_ACQUIRE), tool = 0;

	if (ht_likely(k))
		return k == 2;
	/* AT_SECURE: set-user-ID, set-group-ID, file capabilities, or an
	 * LSM's say; the environment is then the caller's, not the owner's */
	if (!getauxval(AT_SECURE))
		dl_iterate_phdr(find_note, &tool);
	k = getauxval(AT_SECURE) || tool ? 2 : 1;
	__atomic_store_n(&known, k, __ATOMIC_RELEASE);
	return k == 2;
}

static const char *env(const char *name)
{
	return getenv(name); /* no allocation in glibc's getenv */
}

/* Is s a whole number in decimal digits only (no sign, no space, no
 * prefix), at most UINT64_MAX? Then it is in *out. */
static int parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return 0;
	}
	*out = v;
	return 1;
}

/* HEAPTRACE_name as a whole number from lo to hi: 1 and the number in
 * *out; 0 if unset or empty, or (with one message) anything else. */
static int env_u64(const char *name, uint64_t lo, uint64_t hi, uint64_t *out)
{
	const char *s = env(name);
	uint64_t v;

	if (!s || !*s)
		return 0;
	if (!parse_digits(s, &v) || v < lo || v > hi) {
		say("ignoring %s='%s': not a whole number from %llu to %llu",
		    name, s, (unsigned long long)lo, (unsigned long long)hi);
		return 0;
	}
	*out = v;
	return 1;
}

static void *map_anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void read_cmdline(char *out, size_t cap)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = 0, i;

	out[0] = 0;
	if (fd < 0)
		return;
	n = read(fd, out, cap - 1);
	close(fd);
	if (n <= 0) {
		out[0] = 0;
		return;
	}
	if (out[n - 1] == 0)
		n--;
	for (i = 0; i < n; i++)
		if (out[i] == 0)
			out[i] = ' ';
	out[n] = 0;
}

/* Expands %p (pid), %e (executable's base name) and %% in pattern. The
 * name is the program's to choose, so %e is made safe as ht_safe_name in
 * collector/util.c does it: [A-Za-z0-9._+-] kept, any other byte and a
 * leading '.' as '_', at most 64 bytes, "unknown" if empty. */
static int expand(char *out, size_t cap, const char *pattern, const char *exe)
{
	size_t n = 0, i;
	const char *p;
	int k;

	for (p = pattern; *p; p++) {
		if (*p == '%' && p[1] == 'e') {
			const char *e = *exe ? exe : "unknown";

			p++;
			for (i = 0; e[i] && i < 64; i++) {
				char c = e[i];

				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
				      c == '-') || (i == 0 && c == '.'))
					c = '_';
				if (n + 1 >= cap)
					return -1;
				out[n++] = c;
			}
		} else if (*p == '%' && (p[1] == 'p' || p[1] == '%')) {
			p++;
			if (*p == 'p')
				k = snprintf(out + n, cap - n, "%d", (int)getpid());
			else
				k = snprintf(out + n, cap - n, "%%");
			if (k < 0 || (size_t)k >= cap - n)
				return -1;
			n += (size_t)k;
		} else {
			if (n + 1 >= cap)
				return -1;
			out[n++] = *p;
		}
	}
	out[n] = 0;
	return 0;
}

/* The final snapshot's path: HEAPTRACE_OUTPUT (with %p and %e expanded),
 * or heaptrace.EXE.PID.heap, made absolute against the working directory
 * at start. */
static int output_path(char *out, size_t cap)
{
	const char *o = env("HEAPTRACE_OUTPUT");
	const char *base = strrchr(exe_path, '/');
	char name[HT_PATH_MAX];
	char cwd[HT_PATH_MAX];
	int n;

	base = base ? base + 1 : exe_path;
	if (expand(name, sizeof(name), o && *o ? o : "heaptrace.%e.%p.heap", base) != 0)
		return -1;
	shm->output_default = !(o && *o);
	if (shm->forked && o && *o && !strstr(o, "%p")) {
		/* a forked child must not take its parent's file: NAME.PID.heap */
		size_t len = strlen(name), stem = len > 5 && !strcmp(name + len - 5, ".heap") ? len - 5 : len;
		char tmp[HT_PATH_MAX];

		if (snprintf(tmp, sizeof(tmp), "%.*s.%d.heap", (int)stem, name, (int)getpid()) >=
		    (int)sizeof(tmp))
			return -1;
		memcpy(name, tmp, sizeof(tmp));
	}
	if (name[0] == '/')
		n = snprintf(out, cap, "%s", name);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, cap, "%s/%s", cwd, name);
	else
		return -1;
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && me >= lo && me < lo + ph->p_memsz) {
			int j;

			self_lo = UINTPTR_MAX;
			self_hi = 0;
			for (j = 0; j < info->dlpi_phnum; j++) {
				ph = &info->dlpi_phdr[j];
				if (ph->p_type != PT_LOAD)
					continue;
				lo = info->dlpi_addr + ph->p_vaddr;
				if (lo < self_lo)
					self_lo = lo;
				if (lo + ph->p_memsz > self_hi)
					self_hi = lo + ph->p_memsz;
			}
			return 1;
		}
	}
	return 0;
}

/* The collector's path: HEAPTRACE_COLLECTOR, or heaptrace-collector next
 * to this library. */
static int collector_path(char *out, size_t cap)
{
	const char *c = env("HEAPTRACE_COLLECTOR");
	Dl_info di;
	const char *slash;
	int n;

	if (c && *c) {
		n = snprintf(out, cap, "%s", c);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	if (!dladdr((void *)collector_path, &di) || !di.dli_fname)
		return -1;
	slash = strrchr(di.dli_fname, '/');
	if (!slash)
		n = snprintf(out, cap, "heaptrace-collector");
	else
		n = snprintf(out, cap, "%.*s/heaptrace-collector",
			     (int)(slash - di.dli_fname), di.dli_fname);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The environment for the collector: ours without LD_PRELOAD, and with
 * HEAPTRACE_DISABLE=1, so that neither it nor what it runs is traced (a
 * HEAPTRACE_COLLECTOR that is a script, with the shim in
 * /etc/ld.so.preload, would otherwise start itself again and again; the
 * collector itself carries the note ht_untraced looks for). */
static char **collector_env(void)
{
	extern char **environ;
	static char disable[] = "HEAPTRACE_DISABLE=1";
	size_t n = 0, i, j = 0;
	char **e;

	while (environ && environ[n])
		n++;
	e = map_anon((n + 2) * sizeof(char *));
	if (!e)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
		    strncmp(environ[i], "HEAPTRACE_DISABLE=", 18) != 0)
			e[j++] = environ[i];
	e[j++] = disable;
	e[j] = NULL;
	return e;
}

/* What the two processes that start the collector are given. They report
 * back through a pipe, not through the memory they share with the program
 * (CLONE_VM), since a clone that is run as a fork (valgrind does) shares
 * nothing: "P<pid>" from the go-between, "E<errno>" from a failed exec. */
struct spawn {
	const char *path;
	char **argv, **envp;
	int memfd, pipe_rd;
	int report;             /* write end of the report pipe (close-on-exec) */
	char *stack2;           /* top of the second process's stack */
};

static void spawn_report(int fd, char kind, long v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%c%ld;", kind, v);

	if (write(fd, buf, (size_t)n) < 0)
		return;
}

/* Closes every descriptor from 5 on but keep: close_range, else by the
 * list in /proc (read with the system call: opendir allocates). */
static void close_from_5(int keep)
{
	char buf[2048];
	long n, i;
	int d;

	if (syscall(SYS_close_range, 5u, (unsigned)keep - 1, 0u) == 0 &&
	    syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
		return;
	d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return;
	while ((n = syscall(SYS_getdents64, d, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n;) {
			const char *name = buf + i + 19; /* after ino, off, reclen, type */
			unsigned short len;
			long fd = 0;

			memcpy(&len, buf + i + 16, sizeof(len));
			if (len == 0)
				break;
			for (; *name >= '0' && *name <= '9'; name++)
				fd = fd * 10 + (*name - '0');
			if (!*name && fd >= 5 && fd != keep && fd != d && fd <= INT_MAX)
				close((int)fd);
			i += len;
		}
	}
	close(d);
}

/* The collector: the shared memory at 3, the liveness pipe at 4, standard
 * input and output on /dev/null (and standard error, if the program has
 * none), nothing else of the program's (a pipe the program holds must
 * see its end of file when the program ends, not when the collector
 * does), then exec. Every signal is blocked (by the program, before the
 * first clone) until the collector has set its own dispositions. */
static int spawn_exec(void *arg)
{
	struct spawn *sp = arg;
	int m = fcntl(sp->memfd, F_DUPFD_CLOEXEC, 10), p = fcntl(sp->pipe_rd, F_DUPFD_CLOEXEC, 10);
	int rep = fcntl(sp->report, F_DUPFD_CLOEXEC, 10), null = -1, fd;

	if (rep < 0)
		rep = sp->report; /* not moved: then a failure may go unsaid */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		null = fcntl(fd, F_DUPFD_CLOEXEC, 10);
		close(fd);
	}
	if (m >= 0 && p >= 0 && null >= 0 && dup2(m, 3) == 3 && dup2(p, 4) == 4 &&
	    dup2(null, 0) == 0 && dup2(null, 1) == 1 &&
	    (fcntl(2, F_GETFD) >= 0 || dup2(null, 2) == 2)) {
		close_from_5(rep);
		execve(sp->path, sp->argv, sp->envp);
	}
	spawn_report(rep, 'E', errno ? errno : EBADF);
	syscall(SYS_exit, 127);
	return 0;
}

/* The go-between: starts the collector and exits as soon as the collector
 * is exec'd, so that the collector is orphaned (the program's wait() never
 * sees it) while its loading goes on beside the program. */
static int spawn_between(void *arg)
{
	struct spawn *sp = arg;
	pid_t pid = clone(spawn_exec, sp->stack2, CLONE_VM | CLONE_VFORK | SIGCHLD, sp);

	if (pid < 0)
		spawn_report(sp->report, 'E', errno);
	else
		spawn_report(sp->report, 'P', pid);
	syscall(SYS_exit, 0);
	return 0;
}

/* Starts the collector, not as a child of the program. The program waits
 * only for two clones and an execve (well under a millisecond), not for
 * the collector to load its libraries (2-3 ms): posix_spawn cannot make a
 * grandchild, and a collector that forked itself away kept the program
 * waiting for its loading. Both clones share the program's memory, as
 * posix_spawn's does, so nothing is copied however big the program is. */
static int start_collector(int memfd, int pipe_rd)
{
	enum { STACK = 64 << 10 };
	char path[HT_PATH_MAX], buf[64];
	char *argv[6];
	/* the process and the output path go by the command line too: the
	 * program can change the shared header before the collector has read
	 * it (it may drop privileges first), but not the collector's argv */
	char pid_arg[32], out_arg[HT_PATH_MAX + 16];
	struct spawn sp;
	sigset_t all, old;
	char *stacks;
	pid_t pid, collector = 0;
	int e = errno, err = 0, rep[2], status;
	size_t got = 0;
	ssize_t r;

	if (collector_path(path, sizeof(path)) != 0) {
		say("cannot locate heaptrace-collector (set HEAPTRACE_COLLECTOR); tracing is off");
		return -1;
	}
	if (access(path, X_OK) != 0) {
		say("cannot run collector '%s': %s; tracing is off", path, strerror(errno));
		return -1;
	}
	memset(&sp, 0, sizeof(sp));
	sp.envp = collector_env();
	stacks = sp.envp ? map_anon(2 * STACK) : NULL;
	if (!stacks) {
		say("cannot start the collector: out of memory; tracing is off");
		return -1;
	}
	if (pipe2(rep, O_CLOEXEC) != 0) {
		munmap(stacks, 2 * STACK);
		say("cannot create pipe: %s; tracing is off", strerror(errno));
		return -1;
	}
	argv[0] = path;
	argv[1] = "--shm-fd=3";
	argv[2] = "--alive-fd=4";
	snprintf(pid_arg, sizeof(pid_arg), "--pid=%lld", (long long)shm->pid);
	snprintf(out_arg, sizeof(out_arg), "--output=%s", shm->output);
	argv[3] = pid_arg;
	argv[4] = out_arg;
	argv[5] = NULL;
	sp.path = path;
	sp.argv = argv;
	sp.memfd = memfd;
	sp.pipe_rd = pipe_rd;
	sp.report = rep[1];
	sp.stack2 = stacks + 2 * STACK;
	/* no handler of the program may run on the borrowed stacks */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(spawn_between, stacks + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &sp);
	if (pid < 0)
		err = errno;
	else
		/* exited already (CLONE_VFORK); ECHILD if SIGCHLD is ignored
		 * or a handler of the program reaped it first */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	close(rep[1]);
	/* the reports; end of file once the collector is exec'd */
	while (got < sizeof(buf) - 1 &&
	       ((r = read(rep[0], buf + got, sizeof(buf) - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	close(rep[0]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stacks, 2 * STACK);
	buf[got] = 0;
	for (char *c = buf; *c; c = strchr(c, ';') ? strchr(c, ';') + 1 : c + strlen(c)) {
		if (*c == 'P')
			collector = (pid_t)strtol(c + 1, NULL, 10);
		else if (*c == 'E' && !err)
			err = (int)strtol(c + 1, NULL, 10);
	}
	errno = e;
	if (err || collector <= 0) {
		say("cannot start collector '%s': %s; tracing is off", path,
		    strerror(err ? err : EAGAIN));
		return -1;
	}
	collector_pid = collector;
	return 0;
}

static int snap_sig;                /* HEAPTRACE_SIGNAL's signal, 0 if none */
static struct sigaction snap_old;   /* what it did before */

static void on_snapshot_signal(int sig)
{
	int e = errno;

	(void)sig;
	if (shm) {
		__atomic_fetch_add(&shm->snap_requests, 1, __ATOMIC_RELEASE);
		kick_collector(); /* atomics and a futex wake: safe here */
	}
	errno = e;
}

/* HEAPTRACE_SIGNAL=NAME|NUMBER: that signal asks for a snapshot. It
 * replaces the signal's default action, so it is only set when asked. */
static void setup_signal(void)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "HUP", SIGHUP },
		{ "URG", SIGURG }, { "WINCH", SIGWINCH }, { "PROF", SIGPROF },
	};
	const char *v = env("HEAPTRACE_SIGNAL");
	struct sigaction sa;
	char *end;
	long num;
	int sig = 0;
	size_t i;

	if (!v || !*v)
		return;
	if (!strncmp(v, "SIG", 3))
		v += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v, names[i].name))
			sig = names[i].sig;
	if (!sig && v[0] >= '0' && v[0] <= '9') {
		num = strtol(v, &end, 10);
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (num == names[i].sig)
				sig = (int)num;
		if (*end || (!sig && (num < SIGRTMIN || num > SIGRTMAX)))
			sig = 0;
		else if (!sig)
			sig = (int)num;
	}
	if (!sig) {
		say("ignoring HEAPTRACE_SIGNAL='%s': use USR1, USR2, HUP, URG, WINCH, PROF "
		    "or a real-time signal number (%d to %d)", env("HEAPTRACE_SIGNAL"),
		    SIGRTMIN, SIGRTMAX);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_snapshot_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &snap_old) == 0)
		snap_sig = sig;
}

/* Is fd still the descriptor the shim made, with dev and ino (fstat) and
 * close-on-exec? A program that closes every descriptor (daemons do) may
 * get the number back for a file of its own, which the shim must neither
 * close nor use. Async-signal-safe. */
static int still_ours(int fd, dev_t dev, ino_t ino)
{
	struct stat st;
	int fl;

	if (fd < 0)
		return 0;
	fl = fcntl(fd, F_GETFD);
	return fl >= 0 && (fl & FD_CLOEXEC) && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
	       st.st_dev == dev && st.st_ino == ino;
}

static void after_fork_child(void)
{
	int was_on = __atomic_load_n(&tracing, __ATOMIC_ACQUIRE) == TR_ON;

	/* the child has its own heap from here on: it is not traced by this
	 * collector (a program it execs starts its own; with
	 * HEAPTRACE_FOLLOW_FORK its first allocation starts one for it) */
	__atomic_store_n(&tracing, TR_OFF, __ATOMIC_RELEASE);
	if (still_ours(alive_fd, alive_dev, alive_ino))
		close(alive_fd);
	alive_fd = -1; /* ours or not, forgotten */
	if (shm)
		munmap(shm, shm_size);
	shm = NULL;
	ht_tls.slot = &null_slot;
	ht_tls.attached = 1;
	ht_countdown_set(&ht_tls, HT_CD_MAX);
	ht_tls.hcount = HT_CD_MAX;
	if (snap_sig && !(follow_fork && was_on && !only_me)) {
		/* an untraced child gets the signal's old meaning back */
		sigaction(snap_sig, &snap_old, NULL);
		snap_sig = 0;
	}
	if (follow_fork && was_on && !only_me) {
		/* setting up here would call into the loader and start a
		 * process from a fork handler: defer it to the first allocation */
		memset(&early_slot, 0, sizeof(early_slot));
		fork_pending = 1;
		__atomic_store_n(&tracing, TR_STARTING, __ATOMIC_RELEASE);
		ht_tls.slot = NULL;
		ht_tls.attached = 0;
		ht_countdown_set(&ht_tls, 0);
	}
}

static void setup(void);

/* The first allocation of a forked child that is to be traced. */
static void start_forked(void)
{
	stalled = 0;
	warned_dead = 0;
	dl_seen = UINT64_MAX;
	dl_sent = UINT64_MAX;
	collector_pid = 0;
	setup();
	if (__atomic_load_n(&tracing, __ATOMIC_ACQUIRE) != TR_ON)
		__atomic_store_n(&tracing, TR_OFF, __ATOMIC_RELEASE);
}

static void setup(void)
{
	uint64_t ring_size = 2u << 20, nslots = 4096, v, size;
	int v32 = 0;
	int memfd, pfd[2];
	ssize_t n;

	if (ht_untraced())
		return; /* ht_init returns first; here too for every way in */
	if (!ht_hot.arena_span) {
		say("cannot reserve the sample arena; tracing is off");
		return;
	}
	if (getpid() == 1 || (prctl(PR_GET_CHILD_SUBREAPER, &v32) == 0 && v32)) {
		/* the collector would be this program's child: its wait()
		 * would see it, and an init that reaps everything would wait
		 * for it forever */
		say("process %d reaps orphans (pid 1 or a subreaper): the collector would be "
		    "its child; tracing is off (run it under an init or the heaptrace launcher)",
		    (int)getpid());
		return;
	}
	if (env_u64("HEAPTRACE_RATE", 1, (uint64_t)1 << 40, &v))
		rate = v;
	if (env_u64("HEAPTRACE_DEPTH", 1, HT_MAX_DEPTH, &v))
		depth = (int)v;
	if (rate == 1)
		ring_size = 64u << 20;
	if (env_u64("HEAPTRACE_RING_MB", 1, 4096, &v)) {
		ring_size = 1u << 20;
		while (ring_size < (v << 20))
			ring_size <<= 1;
	}
	if (env_u64("HEAPTRACE_EXIT_TIMEOUT", 0, 3600, &v))
		exit_timeout = (double)v;
	if (env_u64("HEAPTRACE_FOLLOW_FORK", 0, 1, &v))
		follow_fork = (int)v;
	stacks_init();

	n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	exe_path[n > 0 ? n : 0] = 0;
	dl_iterate_phdr(find_self, (void *)(uintptr_t)setup);

	size = HT_SHM_HDR_SIZE + nslots * sizeof(struct ht_slot) + ring_size;
	memfd = (int)syscall(SYS_memfd_create, "heaptrace", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)size) != 0) {
		say("cannot create shared memory: %s; tracing is off", strerror(errno));
		if (memfd >= 0)
			close(memfd);
		return;
	}
	shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (shm == MAP_FAILED) {
		say("cannot map shared memory: %s; tracing is off", strerror(errno));
		shm = NULL;
		close(memfd);
		return;
	}
	_Static_assert(sizeof(struct ht_shm) <= HT_SHM_HDR_SIZE, "header fits its pages");
	shm->magic = HT_SHM_MAGIC;
	shm->version = HT_SHM_VERSION;
	shm->max_depth = (uint32_t)depth;
	shm->size = size;
	shm->slots_offset = HT_SHM_HDR_SIZE;
	shm->nslots = nslots;
	shm->ring_offset = HT_SHM_HDR_SIZE + nslots * sizeof(struct ht_slot);
	shm->ring_size = ring_size;
	shm->rate = rate;
	shm->pid = getpid();
	shm->forked = hooks_set; /* set up before: this is a forked child */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		shm->start_time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	snprintf(shm->exe, sizeof(shm->exe), "%s", exe_path);
	read_cmdline(shm->cmdline, sizeof(shm->cmdline));
	check_interposed(shm->untraced, sizeof(shm->untraced));
	if (output_path(shm->output, sizeof(shm->output)) != 0) {
		say("output path too long; tracing is off");
		goto fail;
	}
	ring.h = shm;
	ring.data = (char *)shm + HT_SHM_HDR_SIZE + nslots * sizeof(struct ht_slot);
	ring.size = ring_size;
	slots = (struct ht_slot *)((char *)shm + HT_SHM_HDR_SIZE);
	slot_count = (uint32_t)nslots;
	shm_size = size;
	/* counts made before now */
	shm->retired[0] = early_slot.alloc_calls;
	shm->retired[1] = early_slot.free_calls;
	shm->retired[2] = early_slot.realloc_calls;
	shm->retired[3] = early_slot.alloc_bytes;

	if (pipe2(pfd, O_CLOEXEC) != 0) {
		say("cannot create pipe: %s; tracing is off", strerror(errno));
		goto fail;
	}
	if (start_collector(memfd, pfd[0]) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		goto fail;
	}
	close(pfd[0]);
	close(memfd);
	alive_fd = pfd[1];
	tell_launcher();
	{
		struct stat st;

		if (fstat(alive_fd, &st) == 0) {
			alive_dev = st.st_dev;
			alive_ino = st.st_ino;
		}
	}

	if (!hooks_set) {
		ht_tls.self++;
		slot_key_ok = pthread_key_create(&slot_key, retire_slot) == 0;
		pthread_atfork(NULL, NULL, after_fork_child);
		ht_tls.self--;
		hooks_set = 1;
	}
	find_allocator();
	setup_signal();
	__atomic_store_n(&tracing, TR_ON, __ATOMIC_RELEASE);
	update_modules();
	ht_thread_attach(&ht_tls);
	return;
fail:
	munmap(shm, size);
	shm = NULL;
	close(memfd);
}

/* Start-up. In secure-execution mode, and in heaptrace's own programs,
 * nothing is read, started or said (see ht_untraced): every call goes to
 * the allocator as with HEAPTRACE_DISABLE, and no variable, not even that
 * one, is looked at. */
__attribute__((constructor)) static void ht_init(void)
{
	const char *off, *only;

	if (ht_untraced()) {
		if (ht_resolve() == 0)
			ht_thread_attach(&ht_tls);
		return;
	}
	off = env("HEAPTRACE_DISABLE");
	only = env("HEAPTRACE_PID");
	if (ht_resolve() != 0)
		return;
	if (off && *off && strcmp(off, "0") != 0)
		return;
	if (only && *only) {
		uint64_t want;

		if (!parse_digits(only, &want) || want == 0 || want > INT_MAX)
			say("ignoring HEAPTRACE_PID='%s': not a process id", only);
		else if (want != (uint64_t)getpid())
			return; /* another process is the one traced: not us */
		else
			only_me = 1;
	}
	__atomic_store_n(&tracing, TR_STARTING, __ATOMIC_RELEASE);
	setup();
	if (__atomic_load_n(&tracing, __ATOMIC_ACQUIRE) != TR_ON) {
		__atomic_store_n(&tracing, TR_OFF, __ATOMIC_RELEASE);
		ht_thread_attach(&ht_tls);
	}
}

/* ---- the end ------------------------------------------------------------ */

static long futex_wait(uint32_t *addr, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, FUTEX_WAIT, val, ts, NULL, 0);
}

/* At a normal exit (after the program's atexit handlers): tell the
 * collector, and wait (bounded) until the final snapshot is on disk so
 * that the file is complete when the program's exit status is seen. */
__attribute__((destructor)) static void ht_fini(void)
{
	struct ht_rec *r;
	uint64_t pos;
	double waited = 0;

	if (__atomic_load_n(&tracing, __ATOMIC_ACQUIRE) != TR_ON)
		return;
	ht_tls.self++;
	refresh_stats(1);
	if (exit_timeout == 0) {
		/* not waiting: the collector finishes on its own */
		r = ring_reserve(ht_rec_len(sizeof(*r)), &pos);
		if (r)
			ring_commit(r, pos, ht_rec_len(sizeof(*r)), HT_EV_EXIT, 0);
		__atomic_store_n(&shm->exiting, 1, __ATOMIC_SEQ_CST);
		kick_collector();
		__atomic_store_n(&tracing, TR_OFF, __ATOMIC_RELEASE);
		ht_tls.self--;
		return;
	}
	r = ring_reserve(ht_rec_len(sizeof(*r)), &pos);
	if (r)
		ring_commit(r, pos, ht_rec_len(sizeof(*r)), HT_EV_EXIT, 0);
	__atomic_store_n(&shm->exiting, 1, __ATOMIC_SEQ_CST);
	kick_collector();
	__atomic_store_n(&tracing, TR_OFF, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&shm->done, __ATOMIC_ACQUIRE)) {
		struct timespec ts = { 0, 50 * 1000000 };

		if (waited >= exit_timeout) {
			say("the final snapshot is not written after %.0f s; not waiting longer",
			    exit_timeout);
			break;
		}
		if (!collector_alive()) {
			/* it may have finished, and exited, since done was read */
			if (!__atomic_load_n(&shm->done, __ATOMIC_ACQUIRE))
				collector_died();
			break;
		}
		futex_wait(&shm->done, 0, &ts);
		waited += 0.05;
	}
	ht_tls.self--;
}
