/* Start-up and the end: the real allocator, whether this process is one
 * to trace, the shared memory and the collector, the snapshot signal, a
 * forked child's tracing anew, and the final hand-over at exit. The state
 * the shim's files share (ht_core) lives here. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "untraced.h"

/* Until the real allocator is known, every block is the arena's: the one
 * pointer malloc_usable_size may pass on is NULL, whose size is 0. */
static size_t usable_early(void *p)
{
	(void)p;
	return 0;
}

struct ht_hot ht_hot = { .real = { .malloc_usable_size = usable_early } };
struct ht_core ht_core = { .depth = 64, .rate = 524288, .run = HT_RUN_INIT };

/* What start-up, fork and exit keep for themselves. */
static struct {
	struct ht_options opt;
	int alive_fd;              /* write end of the pipe the collector watches */
	dev_t alive_dev;           /* ... and which file that is: the program may */
	ino_t alive_ino;           /* close the number and open one of its own there */
	int hooks_set;             /* thread-exit key and fork handler registered */
	int only_me;               /* HEAPTRACE_PID names us: children never traced */
	int snap_sig;              /* HEAPTRACE_SIGNAL's signal, 0 if none */
	struct sigaction snap_old; /* what it did before */
	int64_t attach_heap;       /* the allocator's bytes in use at the attach, -1 unknown */
	int argc;                  /* the arguments the loader gave the constructor, */
	char **argv;               /* while it runs (else NULL) */
} boot = { .opt = HT_OPTIONS_INIT, .alive_fd = -1 };

char ht_say_last[256];

void ht_say(const char *fmt, ...)
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
	memcpy(ht_say_last, buf, (size_t)n < sizeof(ht_say_last) ? (size_t)n : sizeof(ht_say_last) - 1);
	ht_say_last[(size_t)n < sizeof(ht_say_last) ? (size_t)n : sizeof(ht_say_last) - 1] = 0;
	buf[n++] = '\n';
	if (write(2, buf, n) < 0)
		return;
}

/* ---- the real allocator ---------------------------------------------- */

/* The underlying allocator's name: the next definition after the shim;
 * loaded late (heaptrace -p), the shim is no part of the global scope, and
 * it is the one the program's calls are bound to. */
static void *real_sym(const char *name)
{
	return ht_attach_late() ? ht_got_real(name) : dlsym(RTLD_NEXT, name);
}

int ht_startup_resolve(void)
{
	int st = __atomic_load_n(&ht_core.resolve_state, __ATOMIC_ACQUIRE);
	struct ht_real r;
	void *saved;

	if (ht_likely(st == HT_ST_RESOLVED))
		return 0;
	if (st == HT_ST_RESOLVING || ht_tls.self)
		return -1; /* dlsym is allocating: served from the arena */
	if (!__atomic_compare_exchange_n(&ht_core.resolve_state, &st, HT_ST_RESOLVING, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -1;
	ht_tls.self = 1;
	saved = ht_dlerr_aside();
	r.malloc = (void *(*)(size_t))real_sym("malloc");
	r.free = (void (*)(void *))real_sym("free");
	r.calloc = (void *(*)(size_t, size_t))real_sym("calloc");
	r.realloc = (void *(*)(void *, size_t))real_sym("realloc");
	r.posix_memalign = (int (*)(void **, size_t, size_t))real_sym("posix_memalign");
	r.aligned_alloc = (void *(*)(size_t, size_t))real_sym("aligned_alloc");
	r.memalign = (void *(*)(size_t, size_t))real_sym("memalign");
	r.valloc = (void *(*)(size_t))real_sym("valloc");
	r.pvalloc = (void *(*)(size_t))real_sym("pvalloc");
	r.malloc_usable_size = (size_t (*)(void *))real_sym("malloc_usable_size");
	ht_signals_resolve();
	ht_dlerr_back(saved);
	ht_tls.self = 0;
	if (!r.malloc || !r.free || !r.calloc || !r.realloc || !r.posix_memalign ||
	    !r.memalign || !r.malloc_usable_size) {
		if (ht_attach_late()) {
			/* in a running program: say so, and leave it as it was */
			ht_say("cannot find the program's malloc; tracing is off");
			__atomic_store_n(&ht_core.resolve_state, HT_ST_NEW, __ATOMIC_RELEASE);
			return -1;
		}
		ht_say("cannot find the underlying malloc; aborting");
		abort(); /* before main: there is no allocator to run on */
	}
	ht_hot.real = r;
	__atomic_store_n(&ht_core.resolve_state, HT_ST_RESOLVED, __ATOMIC_RELEASE);
	return 0;
}
/* ---- whose malloc the program calls ----------------------------------- */

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

	if (ht_attach_late())
		checked = 1; /* the program's malloc is what the GOT now leads from */
	if (!checked && dladdr1((void *)check_interposed, &mine, (void **)&me, RTLD_DL_LINKMAP) && me) {
		checked = 1;
		/* what the loader allocates here (dlerror's message, a search
		 * list) is the shim's own, from the arena: neither counted nor
		 * traced, then or when it is freed */
		ht_own_enter(&ht_tls);
		for (head = me; head->l_prev; head = head->l_prev)
			;
		if (head != me && defines_malloc(RTLD_DEFAULT, head)) {
			name = strrchr(ht_core.exe_path, '/');
			snprintf(why, sizeof(why), "'%.200s' has a malloc of its own: nothing is "
				 "traced (heaptrace sees the calls to a shared library's malloc, "
				 "not to one built into the program)", name ? name + 1 : ht_core.exe_path);
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
				pre = ht_options_env("LD_PRELOAD");
				snprintf(why, sizeof(why), "malloc of '%.200s' comes before the shim%s: "
					 "nothing is traced; %s", name,
					 pre && strstr(pre, name) ? " in LD_PRELOAD" : "'s",
					 pre && strstr(pre, name) ? "put libheaptrace.so first" :
					 "preload libheaptrace.so (first in LD_PRELOAD)");
			}
			dlclose(h);
		}
		ht_own_leave(&ht_tls);
		for (c = why; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?'; /* one line, whatever the names hold */
		if (why[0])
			ht_say("%s", why);
	}
	snprintf(note, cap, "%s", why);
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

int ht_startup_untraced(void)
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
/* The command line, its arguments joined by spaces, as
 * /proc/self/cmdline has them: at start from the arguments the constructor
 * was given (an open of /proc less on every exec); later (a forked child,
 * an attach), from /proc, as the program may have rewritten them. */
static void read_cmdline(char *out, size_t cap)
{
	int fd;
	ssize_t n = 0, i;

	out[0] = 0;
	if (boot.argv) {
		for (i = 0; i < boot.argc && boot.argv[i] && (size_t)n + 1 < cap; i++) {
			size_t len = strlen(boot.argv[i]);

			if (i > 0)
				out[n++] = ' ';
			if (len > cap - 1 - (size_t)n)
				len = cap - 1 - (size_t)n;
			memcpy(out + n, boot.argv[i], len);
			n += (ssize_t)len;
		}
		out[n] = 0;
		return;
	}
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
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

			ht_core.self_lo = UINTPTR_MAX;
			ht_core.self_hi = 0;
			for (j = 0; j < info->dlpi_phnum; j++) {
				ph = &info->dlpi_phdr[j];
				if (ph->p_type != PT_LOAD)
					continue;
				lo = info->dlpi_addr + ph->p_vaddr;
				if (lo < ht_core.self_lo)
					ht_core.self_lo = lo;
				if (lo + ph->p_memsz > ht_core.self_hi)
					ht_core.self_hi = lo + ph->p_memsz;
			}
			return 1;
		}
	}
	return 0;
}

static void on_snapshot_signal(int sig)
{
	int e = errno;

	(void)sig;
	if (ht_core.shm) {
		__atomic_fetch_add(&ht_core.shm->snap_requests, 1, __ATOMIC_RELEASE);
		ht_emit_kick(); /* atomics and a futex wake: safe here */
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
	const char *v = ht_options_env("HEAPTRACE_SIGNAL");
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
		ht_say("ignoring HEAPTRACE_SIGNAL='%s': use USR1, USR2, HUP, URG, WINCH, PROF "
		    "or a real-time signal number (%d to %d)", ht_options_env("HEAPTRACE_SIGNAL"),
		    SIGRTMIN, SIGRTMAX);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_snapshot_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &boot.snap_old) == 0)
		boot.snap_sig = sig;
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

/* The one reset of a forked child, from the fork handler. The child has
 * its own heap from here on: it is not traced by its parent's collector (a
 * program it execs starts its own). With HEAPTRACE_FOLLOW_FORK (and no
 * HEAPTRACE_PID) its first allocation starts a collector of its own
 * (ht_startup_forked): setting up here would call into the loader and
 * start a process from a fork handler. */
static void after_fork_child(void)
{
	int follow = __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) == HT_TR_ON &&
		     boot.opt.follow_fork && !boot.only_me;

	__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
	if (still_ours(boot.alive_fd, boot.alive_dev, boot.alive_ino))
		close(boot.alive_fd);
	boot.alive_fd = -1; /* ours or not, forgotten */
	ht_lazy_forget();
	ht_core.lazy = 0;
	if (ht_core.shm)
		munmap(ht_core.shm, ht_core.shm_size);
	ht_core.shm = NULL;
	ht_core.run = (struct ht_run)HT_RUN_INIT;
	ht_helper_forget();
	ht_arena_clear_forked();
	ht_unw_forked();
	ht_thread_off(&ht_tls);
	if (boot.snap_sig && !follow) {
		/* an untraced child gets the signal's old meaning back */
		sigaction(boot.snap_sig, &boot.snap_old, NULL);
		boot.snap_sig = 0;
	}
	if (follow) {
		memset(&ht_core.early_slot, 0, sizeof(ht_core.early_slot));
		ht_core.fork_pending = 1;
		__atomic_store_n(&ht_core.tracing, HT_TR_STARTING, __ATOMIC_RELEASE);
		ht_thread_reset(&ht_tls);
	}
}

/* Whether this process can be traced at all; if not, says why (but in a
 * process the shim stays out of). */
static int can_trace(void)
{
	int v32 = 0;

	if (ht_startup_untraced())
		return 0; /* ht_init returns first; here too for every way in */
	if (getpid() == 1 || (prctl(PR_GET_CHILD_SUBREAPER, &v32) == 0 && v32)) {
		/* the collector would be this program's child: its wait()
		 * would see it, and an init that reaps everything would wait
		 * for it forever */
		ht_say("process %d reaps orphans (pid 1 or a subreaper): the collector would be "
		       "its child; tracing is off (run it under an init or the heaptrace launcher)",
		       (int)getpid());
		return 0;
	}
	return 1;
}

/* Makes the shared memory (header, nslots slots, a ring of ring_size
 * bytes) and notes its layout in ht_core; its descriptor in *memfd.
 * Returns 0, or -1 after one message. */
static int map_shm(uint64_t nslots, uint64_t ring_size, int *memfd)
{
	uint64_t size = HT_SHM_HDR_SIZE + nslots * sizeof(struct ht_slot) + ring_size;
	struct ht_core *c = &ht_core;
	int fd = (int)syscall(SYS_memfd_create, "heaptrace", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
		ht_say("cannot create shared memory: %s; tracing is off", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	c->shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c->shm == MAP_FAILED) {
		ht_say("cannot map shared memory: %s; tracing is off", strerror(errno));
		c->shm = NULL;
		close(fd);
		return -1;
	}
	c->ring.h = c->shm;
	c->ring.data = (char *)c->shm + HT_SHM_HDR_SIZE + nslots * sizeof(struct ht_slot);
	c->ring.size = ring_size;
	c->ring.tail_seen = 0;
	c->slots = (struct ht_slot *)((char *)c->shm + HT_SHM_HDR_SIZE);
	c->slot_count = (uint32_t)nslots;
	c->shm_size = size;
	*memfd = fd;
	return 0;
}

/* Fills the shared header, which the collector checks against what it was
 * told. Returns 0, or -1 after one message. */
static int fill_header(uint64_t nslots, uint64_t ring_size)
{
	struct ht_shm *shm = ht_core.shm;
	struct timespec ts;
	int is_default;

	_Static_assert(sizeof(struct ht_shm) <= HT_SHM_HDR_SIZE, "header fits its pages");
	shm->magic = HT_SHM_MAGIC;
	shm->version = HT_SHM_VERSION;
	shm->max_depth = (uint32_t)ht_core.depth;
	shm->size = ht_core.shm_size;
	shm->slots_offset = HT_SHM_HDR_SIZE;
	shm->nslots = nslots;
	shm->ring_offset = HT_SHM_HDR_SIZE + nslots * sizeof(struct ht_slot);
	shm->ring_size = ring_size;
	shm->rate = ht_core.rate;
	shm->pid = getpid();
	shm->forked = boot.hooks_set; /* set up before: this is a forked child */
	shm->attached = ht_attach_late();
	shm->attach_heap = shm->attached ? boot.attach_heap : -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	shm->start_time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	snprintf(shm->exe, sizeof(shm->exe), "%s", ht_core.exe_path);
	read_cmdline(shm->cmdline, sizeof(shm->cmdline));
	check_interposed(shm->untraced, sizeof(shm->untraced));
	if (ht_options_output(shm->output, sizeof(shm->output), shm->forked && !shm->attached,
			      &is_default) != 0) {
		ht_say("output path too long; tracing is off");
		return -1;
	}
	shm->output_default = is_default;
	ht_lazy_output(shm->output, is_default);
	/* counts made before now */
	shm->retired[0] = ht_core.early_slot.alloc_calls;
	shm->retired[1] = ht_core.early_slot.free_calls;
	shm->retired[2] = ht_core.early_slot.realloc_calls;
	shm->retired[3] = ht_core.early_slot.alloc_bytes;
	return 0;
}

int ht_startup_spawn(int memfd)
{
	struct stat st;
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC) != 0) {
		ht_say("cannot create pipe: %s; tracing is off", strerror(errno));
		return -1;
	}
	if (ht_spawn_collector(memfd, pfd[0], ht_lazy_path()) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	close(pfd[0]);
	close(memfd);
	boot.alive_fd = pfd[1];
	ht_spawn_tell_launcher();
	if (fstat(boot.alive_fd, &st) == 0) {
		boot.alive_dev = st.st_dev;
		boot.alive_ino = st.st_ino;
	}
	return 0;
}

/* Sets up tracing: options, shared memory, the collector, the hooks.
 * Leaves ht_core.tracing HT_TR_ON if it all worked. */
static void setup(void)
{
	uint64_t nslots = 4096;
	int memfd;
	ssize_t n;

	if (!can_trace())
		return;
	ht_options_read(&boot.opt);
	ht_core.rate = boot.opt.rate;
	ht_core.depth = boot.opt.depth;
	ht_core.frame_pointers = boot.opt.frame_pointers;
	ht_core.trim_idle = boot.opt.trim_idle;
	ht_stacks_init();

	n = readlink("/proc/self/exe", ht_core.exe_path, sizeof(ht_core.exe_path) - 1);
	ht_core.exe_path[n > 0 ? n : 0] = 0;
	dl_iterate_phdr(find_self, (void *)(uintptr_t)setup);
	if (map_shm(nslots, boot.opt.ring_size, &memfd) != 0)
		return;
	if (fill_header(nslots, boot.opt.ring_size) != 0 ||
	    (boot.opt.lazy ? ht_lazy_keep(memfd) : ht_startup_spawn(memfd)) != 0) {
		munmap(ht_core.shm, ht_core.shm_size);
		ht_core.shm = NULL;
		close(memfd);
		return;
	}
	if (!boot.hooks_set) {
		ht_tls.self++;
		ht_thread_hooks();
		pthread_atfork(NULL, NULL, after_fork_child);
		ht_tls.self--;
		boot.hooks_set = 1;
	}
	ht_mstats_find();
	setup_signal();
	__atomic_store_n(&ht_core.tracing, HT_TR_ON, __ATOMIC_RELEASE);
	/* with a lazy start, the first sample sends the list (before its own
	 * event, as after any dlopen): a program that samples nothing need
	 * not walk its modules for a collector that never reads them */
	if (!ht_core.lazy)
		ht_emit_modules();
	ht_thread_attach(&ht_tls);
}

void ht_startup_forked(void)
{
	setup();
	if (__atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON)
		__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
}

/* Start-up. In secure-execution mode, and in heaptrace's own programs,
 * nothing is read, started or said (see ht_startup_untraced): every call
 * goes to the allocator as with HEAPTRACE_DISABLE, and no variable, not
 * even that one, is looked at. */
__attribute__((constructor)) static void ht_init(int argc, char **argv, char **envp)
{
	(void)envp;
	if (ht_attach_late() || ht_startup_untraced() || ht_startup_resolve() != 0 ||
	    !ht_options_wanted(&boot.only_me)) {
		/* loaded by heaptrace -p (heaptrace_attach starts it, attach.c),
		 * or not to trace: the calls counted so far go nowhere */
		__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
		if (!ht_attach_late() && ht_startup_resolve() == 0)
			ht_thread_attach(&ht_tls);
		return;
	}
	ht_dlerr_find();
	__atomic_store_n(&ht_core.tracing, HT_TR_STARTING, __ATOMIC_RELEASE);
	boot.argc = argc;
	boot.argv = argv;
	setup();
	boot.argv = NULL;
	if (__atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON) {
		__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
		ht_thread_attach(&ht_tls);
	}
}

/* glibc's figure of the bytes in use (mallinfo2: uordblks + hblkhd), -1
 * under another allocator */
static int64_t heap_in_use(void)
{
	struct mi2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks,
		     uordblks, fordblks, keepcost; };
	void *saved = ht_dlerr_aside();
	struct mi2 (*f)(void) = (struct mi2 (*)(void))dlsym(RTLD_DEFAULT, "mallinfo2");
	Dl_info a, b;
	struct mi2 m;

	ht_dlerr_back(saved);
	if (!f || !dladdr((void *)f, &a) || !dladdr((void *)ht_hot.real.malloc, &b) ||
	    a.dli_fbase != b.dli_fbase)
		return -1;
	m = f();
	return (int64_t)(m.uordblks + m.hblkhd);
}

/* Attached before, and stopped: the last collector's shared memory is
 * replaced where it is by zeros (a thread may still write there), and
 * every thread takes a new slot at its next sample (ht_core.gen). The
 * shim's hooks stay: the new header says forked, so that the frees of
 * blocks sampled before are no errors. */
static int start_over(void)
{
	if (ht_spawn_alive()) {
		ht_say("the collector of the last attach (pid %d) is still writing its snapshot; "
		       "try again", (int)ht_core.run.collector_pid);
		return -1;
	}
	mmap(ht_core.shm, ht_core.shm_size, PROT_READ | PROT_WRITE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ht_core.shm = NULL;
	ht_core.run = (struct ht_run)HT_RUN_INIT;
	__atomic_add_fetch(&ht_core.gen, 1, __ATOMIC_ACQ_REL);
	ht_tls.gen = ht_core.gen;
	return 0;
}

int ht_startup_attach(void)
{
	ht_say_last[0] = 0;
	if (ht_core.shm && start_over() != 0)
		return -1;
	if (ht_startup_resolve() != 0)
		return -1;
	ht_dlerr_find();
	if (ht_got_init() != 0) {
		ht_say("cannot find the shim's own functions; tracing is off");
		return -1;
	}
	boot.attach_heap = heap_in_use();
	__atomic_store_n(&ht_core.tracing, HT_TR_STARTING, __ATOMIC_RELEASE);
	ht_thread_reset(&ht_tls);
	setup();
	if (__atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON) {
		__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
		return -1;
	}
	ht_got_patch();
	return 0;
}

void ht_startup_detach(void)
{
	__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
	ht_tls.self++;
	ht_mstats_refresh(1);
	ht_tls.self--;
	__atomic_store_n(&ht_core.shm->detached, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&ht_core.shm->exiting, 1, __ATOMIC_SEQ_CST);
	ht_emit_kick();
	if (still_ours(boot.alive_fd, boot.alive_dev, boot.alive_ino))
		close(boot.alive_fd);
	boot.alive_fd = -1;
}

/* ---- the end ------------------------------------------------------------ */

/* Waits, at most the exit timeout, until the collector has written the
 * final snapshot (or is gone). */
static void wait_done(void)
{
	double waited = 0;

	while (!__atomic_load_n(&ht_core.shm->done, __ATOMIC_ACQUIRE)) {
		struct timespec ts = { 0, 50 * 1000000 };

		if (waited >= boot.opt.exit_timeout) {
			ht_say("the final snapshot is not written after %.0f s; not waiting longer",
			       boot.opt.exit_timeout);
			break;
		}
		if (!ht_spawn_alive()) {
			/* it may have finished, and exited, since done was read */
			if (!__atomic_load_n(&ht_core.shm->done, __ATOMIC_ACQUIRE))
				ht_spawn_lost();
			break;
		}
		syscall(SYS_futex, &ht_core.shm->done, FUTEX_WAIT, 0, &ts, NULL, 0);
		waited += 0.05;
	}
}

/* At a normal exit (after the program's atexit handlers): tell the
 * collector, and wait (bounded; not at all with HEAPTRACE_EXIT_TIMEOUT=0)
 * until the final snapshot is on disk, so that the file is complete when
 * the program's exit status is seen. */
__attribute__((destructor)) static void ht_fini(void)
{
	if (ht_lazy_ends_here() && ht_lazy_end(0))
		return;
	if (__atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON)
		return;
	ht_tls.self++;
	ht_mstats_refresh(1);
	ht_emit_exit();
	__atomic_store_n(&ht_core.shm->exiting, 1, __ATOMIC_SEQ_CST);
	ht_emit_kick();
	__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
	if (boot.opt.exit_timeout != 0)
		wait_done();
	ht_tls.self--;
}
