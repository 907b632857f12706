/* A subject for heaptrace -p (tests/t_attach.sh), attached to while it
 * runs.
 *   attachee churn THREADS SECONDS: THREADS threads allocate, fill, check
 *     and free blocks (malloc, calloc, realloc, posix_memalign), each block
 *     checked against its pattern before it is freed, for SECONDS; prints
 *     "checked N blocks" and exits 0, or 3 at the first bad byte. Blocks
 *     allocated before an attach are resized and freed after it. Counts
 *     the real-time signals SIGRTMIN it gets, and prints "signals N" last.
 *     SIGUSR2 ends it before SECONDS.
 *   attachee libc: one thread that is (almost) always inside the C library
 *     (memchr over 1 GiB of pages never written, again and again) until
 *     SIGTERM.
 *   attachee grow N: waits for SIGUSR1, then keeps N blocks of 100000
 *     bytes allocated at grow_known and prints "grown"; exits 0 at SIGTERM.
 *   attachee stale: keeps pointers to free and realloc in its data (taken
 *     with dlsym before any attach); at each SIGUSR1 allocates 100 blocks
 *     with malloc, resizes them and frees them through those pointers, and
 *     prints "freed"; exits 0 at SIGTERM.
 *   attachee dlhold: a thread holds the dynamic loader's lock (it sleeps
 *     in a dl_iterate_phdr callback) and prints "holding", until SIGUSR1;
 *     then prints "released"; exits 0 at SIGTERM.
 * Prints its pid first. */
#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 256

struct block {
	unsigned char *p;
	size_t n;
	unsigned char seed;
};

static volatile int stop;
static volatile int bad;
static unsigned long checked[64];
static volatile sig_atomic_t signals;

static void on_rt(int sig)
{
	(void)sig;
	signals++;
}

static void on_usr2(int sig)
{
	(void)sig;
	stop = 1;
}

static void fill(struct block *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		b->p[i] = (unsigned char)(b->seed + i * 7);
}

static int intact(const struct block *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b->p[i] != (unsigned char)(b->seed + i * 7))
			return 0;
	return 1;
}

__attribute__((noinline)) void *churn_alloc(unsigned kind, size_t n)
{
	void *p = NULL;

	switch (kind % 4) {
	case 0: return malloc(n);
	case 1:
		p = calloc(1, n);
		if (p && ((unsigned char *)p)[n - 1] != 0)
			bad = 1;
		return p;
	case 2: return posix_memalign(&p, 64, n) ? NULL : p;
	default: return malloc(n);
	}
}

static void *churn(void *arg)
{
	unsigned long id = (unsigned long)(uintptr_t)arg, r = id * 2654435761u + 1;
	struct block b[SLOTS] = { { 0 } };
	unsigned k;

	while (!stop && !bad) {
		struct block *x;

		r = r * 6364136223846793005ul + 1442695040888963407ul;
		x = &b[(r >> 33) % SLOTS];
		if (x->p) {
			if (!intact(x, x->n) || malloc_usable_size(x->p) < x->n) {
				bad = 1;
				break;
			}
			if ((r >> 20) % 4 == 0) {
				/* resized: the bytes it keeps are kept */
				size_t m = 16 + (r >> 40) % 16384;
				unsigned char *q = realloc(x->p, m);

				if (!q) {
					bad = 1;
					break;
				}
				x->p = q;
				if (!intact(x, x->n < m ? x->n : m)) {
					bad = 1;
					break;
				}
				x->n = m;
				fill(x);
				continue;
			}
			free(x->p);
			x->p = NULL;
			checked[id]++;
			continue;
		}
		x->n = 16 + (r >> 40) % 8192;
		x->seed = (unsigned char)(r >> 13);
		x->p = churn_alloc((unsigned)(r >> 50), x->n);
		if (!x->p) {
			bad = 1;
			break;
		}
		fill(x);
	}
	for (k = 0; k < SLOTS; k++)
		if (b[k].p) {
			if (!intact(&b[k], b[k].n))
				bad = 1;
			free(b[k].p);
		}
	return NULL;
}

static int run_churn(int threads, int seconds)
{
	pthread_t t[64];
	struct timespec tick = { 0, 50 * 1000000 };
	unsigned long total = 0;
	int i;

	struct sigaction sa;

	if (threads < 1 || threads > 64)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_rt;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGRTMIN, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	for (i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i);
	for (i = 0; i < seconds * 20 && !bad && !stop; i++)
		nanosleep(&tick, NULL);
	stop = 1;
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += checked[i];
	}
	if (bad) {
		printf("bad bytes\n");
		return 3;
	}
	printf("checked %s blocks\n", total > 1000 ? "many" : "few");
	printf("signals %d\n", (int)signals);
	return 0;
}

__attribute__((noinline)) void *grow_known(size_t n)
{
	void *p = malloc(n);

	memset(p, 1, n);
	return p;
}

static int run_grow(int n)
{
	sigset_t set;
	void **kept = calloc((size_t)n, sizeof(void *));
	int sig = 0, i;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1) {
		for (i = 0; i < n; i++)
			kept[i] = grow_known(100000);
		printf("grown\n");
		fflush(stdout);
	}
	return 0;
}

/* set at run time, so that no relocation names them */
static void (*volatile stale_free)(void *);
static void *(*volatile stale_realloc)(void *, size_t);

static int run_stale(void)
{
	sigset_t set;
	void *p[100];
	int sig = 0, i;

	stale_free = (void (*)(void *))dlsym(RTLD_DEFAULT, "free");
	stale_realloc = (void *(*)(void *, size_t))dlsym(RTLD_DEFAULT, "realloc");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1) {
		for (i = 0; i < 100; i++) {
			p[i] = malloc(1000 + (size_t)i);
			memset(p[i], 7, 1000);
			p[i] = stale_realloc(p[i], 3000);
			if (!p[i] || ((unsigned char *)p[i])[999] != 7)
				return 3;
		}
		for (i = 0; i < 100; i++)
			stale_free(p[i]);
		printf("freed\n");
		fflush(stdout);
	}
	return 0;
}

static volatile sig_atomic_t released;

static void on_usr1(int sig)
{
	(void)sig;
	released = 1;
}

static int hold_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)info;
	(void)size;
	(void)arg;
	printf("holding\n");
	fflush(stdout);
	while (!released)
		pause();
	return 1;
}

static void *holder(void *arg)
{
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL); /* the signal comes here */
	dl_iterate_phdr(hold_cb, NULL);
	printf("released\n");
	fflush(stdout);
	return arg;
}

static int run_dlhold(void)
{
	struct sigaction sa;
	pthread_t t;
	sigset_t set;
	int sig = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pthread_create(&t, NULL, holder, NULL);
	sigdelset(&set, SIGUSR1);
	sigwait(&set, &sig);
	return 0;
}

int main(int argc, char **argv)
{
	printf("%d\n", (int)getpid());
	fflush(stdout);
	if (argc == 4 && !strcmp(argv[1], "churn"))
		return run_churn(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "grow"))
		return run_grow(atoi(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "stale"))
		return run_stale();
	if (argc == 2 && !strcmp(argv[1], "dlhold"))
		return run_dlhold();
	if (argc == 2 && !strcmp(argv[1], "libc")) {
		/* zeros, all read from one page: a call takes some 9 ms here,
		 * and the few instructions between two calls are 1 in millions
		 * of the thread's time (over 64 MiB a call took 0.5 ms, and one
		 * clean-clone run found the thread outside the library in 50
		 * tries) */
		size_t n = (size_t)1 << 30;
		char *b = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		static volatile uintptr_t sink;

		if (b == MAP_FAILED)
			return 1;
		/* once through (its pages mapped), then said: from there on the
		 * thread is out of the C library only between two calls */
		sink += (uintptr_t)memchr(b, 1, n);
		printf("looping\n");
		fflush(stdout);
		for (;;) /* the whole buffer, every time: no 1 in it */
			sink += (uintptr_t)memchr(b, 1, n);
	}
	fprintf(stderr, "usage: attachee churn THREADS SECONDS | attachee grow N\n");
	return 2;
}
