/* Test subject for tests/t_hostile.sh: signals arriving during allocation.
 *   hostile_signal N
 *   hostile_signal idle SECONDS
 * An interval timer fires SIGALRM every 100 us; its handler mallocs and
 * frees a 200-byte block (handler_site). Main and two worker threads
 * allocate and free other sizes meanwhile, until N signals were handled.
 * With idle, only the handler allocates: the main thread waits for the
 * signals (every millisecond) for SECONDS, then prints how many came.
 *   hostile_signal lock N
 * As the first form, but the handler's block is 4000 bytes, more than
 * glibc's thread cache holds: it takes the arena lock, which the thread it
 * interrupted may hold inside malloc. The untraced program deadlocks (run
 * it traced only): the shim serves such a handler from its arena. The
 * handler also grows by realloc a block its thread made outside it (which
 * glibc grows under the arena lock); the threads make such a block anew
 * every 64 of their allocations.
 * (The handler's size class is never used elsewhere and is warmed up on
 * every thread before the signal is unblocked there, so glibc serves it
 * from the thread cache without a lock: the untraced program cannot
 * deadlock, and a traced one must not either.)
 *   hostile_signal actions
 * Sets handlers with sigaction, signal, sysv_signal and sigset, reads them
 * back and raises each signal: prints what it read and what each handler
 * got, which must not change under the shim (it runs handlers through
 * its own).
 *   hostile_signal jump N
 * N times, a handler (set with sigaction, or with signal) leaves with
 * siglongjmp or longjmp; then the program keeps 40000 blocks of 1000
 * bytes, allocated 256 KiB deeper on the stack than the handler ran, and
 * prints their count. Outside the handler again, they come from the real
 * allocator, not from the shim's arena.
 *   hostile_signal ctxjump N
 * The same, but the handler leaves with setcontext, and the blocks are
 * allocated higher on the stack than the handler ran. */
#include <errno.h>
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

static volatile int handled;
static size_t handler_size = 200;
static volatile int stop;
static int handler_realloc;
/* a block of the thread's, made outside the handler, which grows it */
static __thread char *held;

__attribute__((noinline)) void handler_site(void)
{
	volatile char *p = malloc(handler_size);

	if (p)
		p[0] = 1;
	free((void *)p);
}

static void on_alarm(int sig)
{
	int e = errno;

	(void)sig;
	handler_site();
	if (__atomic_load_n(&held, __ATOMIC_RELAXED)) {
		char *q = realloc(held, handler_size + (size_t)(handled % 100));

		if (q)
			__atomic_store_n(&held, q, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&handled, 1, __ATOMIC_RELAXED);
	errno = e;
}

static void warm_and_unblock(void)
{
	sigset_t s;

	handler_site(); /* a volatile write: the compiler cannot drop it */
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

__attribute__((noinline)) void loop_site(unsigned *x, void **live)
{
	for (int i = 0; i < 4096; i++) {
		int k = (int)(*x >> 8) & 511;
		size_t n;

		*x = *x * 1103515245u + 12345u;
		n = *x & 0x10000 ? 16 + (*x >> 20) % 105 : 2000 + (*x >> 20) % 3000;
		free(live[k]);
		live[k] = malloc(n);
		if (live[k])
			((char *)live[k])[0] = 1;
		if (handler_realloc && i % 64 == 0) {
			/* one instruction: the handler grows the block
			 * before it or finds none after it */
			free(__atomic_exchange_n(&held, NULL, __ATOMIC_RELAXED));
			__atomic_store_n(&held, malloc(100), __ATOMIC_RELAXED);
		}
	}
}

static void *worker(void *arg)
{
	void *live[512] = { 0 };
	unsigned x = (unsigned)(size_t)arg;

	warm_and_unblock();
	while (!stop)
		loop_site(&x, live);
	for (int k = 0; k < 512; k++)
		free(live[k]);
	return NULL;
}

/* Only the handler allocates, for the given seconds. */
static int idle(int seconds)
{
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	sigset_t s;
	time_t start = time(NULL);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	handler_site(); /* warm up, as on every thread in the other mode */
	printf("ready\n");
	fflush(stdout);
	setitimer(ITIMER_REAL, &it, NULL);
	sigemptyset(&s);
	while (time(NULL) - start < seconds)
		sigsuspend(&s);
	setitimer(ITIMER_REAL, &off, NULL);
	printf("signal: idle: handled %s\n", handled > 100 ? "many" : "few");
	return 0;
}

static volatile int got[4];

static void h_plain(int sig)
{
	got[0] = sig;
}

static void h_info(int sig, siginfo_t *si, void *uc)
{
	got[1] = sig == si->si_signo && uc ? sig : -1;
}

static const char *name_of(void (*h)(int))
{
	return h == h_plain ? "h_plain" : (void *)h == (void *)h_info ? "h_info" :
	       h == SIG_DFL ? "SIG_DFL" : h == SIG_IGN ? "SIG_IGN" : "other";
}

static void show(const char *what, int sig)
{
	struct sigaction o;

	memset(&o, 0, sizeof(o));
	sigaction(sig, NULL, &o);
	printf("%s: %s siginfo=%d restart=%d resethand=%d nodefer=%d\n", what, name_of(o.sa_handler),
	       !!(o.sa_flags & SA_SIGINFO), !!(o.sa_flags & SA_RESTART),
	       !!(o.sa_flags & SA_RESETHAND), !!(o.sa_flags & SA_NODEFER));
}

static int actions(void)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h_plain;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	show("sigaction plain", SIGUSR1);
	sa.sa_sigaction = h_info;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigaction(SIGUSR2, &sa, &old);
	printf("old of USR2: %s\n", name_of(old.sa_handler));
	show("sigaction siginfo", SIGUSR2);
	raise(SIGUSR1);
	raise(SIGUSR2);
	printf("handled: plain %d, siginfo %d\n", got[0] == SIGUSR1, got[1] == SIGUSR2);
	show("after a reset by the kernel", SIGUSR2);
	sa.sa_handler = h_plain;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigaction(SIGWINCH, &sa, NULL);
	raise(SIGWINCH);
	show("plain, after a reset by the kernel", SIGWINCH);
	sa.sa_handler = h_plain;
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, &old);
	printf("old of USR1: %s restart=%d\n", name_of(old.sa_handler), !!(old.sa_flags & SA_RESTART));
	sigaction(SIGUSR1, &old, NULL);
	show("restored", SIGUSR1);
	printf("signal returns %s\n", name_of(signal(SIGUSR1, SIG_IGN)));
	printf("then %s\n", name_of(signal(SIGUSR1, h_plain)));
	show("signal", SIGUSR1);
	printf("sysv_signal returns %s\n", name_of(sysv_signal(SIGHUP, h_plain)));
	show("sysv_signal", SIGHUP);
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	printf("sigset returns %s\n", name_of(sigset(SIGURG, h_plain)));
	show("sigset", SIGURG);
	got[0] = 0;
	raise(SIGURG);
	printf("handled: sigset %d\n", got[0] == SIGURG);
	printf("signal(SIGKILL) fails: %d\n", signal(SIGKILL, h_plain) == SIG_ERR);
	return 0;
}

static sigjmp_buf back;
static jmp_buf back_plain;

static void h_jump(int sig)
{
	(void)sig;
	handler_site();
	siglongjmp(back, 1);
}

static void h_jump_plain(int sig)
{
	(void)sig;
	longjmp(back_plain, 1);
}

__attribute__((noinline)) void kept_site(void **keep, int n)
{
	for (int i = 0; i < n; i++) {
		keep[i] = malloc(1000);
		if (keep[i])
			memset(keep[i], 1, 1000);
	}
}

static void *keep[40000];

/* kept_site, from 256 KiB deeper on the stack */
__attribute__((noinline)) static void deep(void)
{
	volatile char pad[256 * 1024];

	pad[0] = 1;
	kept_site(keep, 40000);
	pad[1] = pad[0];
}

static int count_kept(const char *how, int jumped)
{
	int kept = 0;

	for (int i = 0; i < 40000; i++)
		kept += keep[i] != NULL;
	printf("%s out of %d handlers, kept %d blocks\n", how, jumped, kept);
	return 0;
}

static int jumps(int n)
{
	struct sigaction sa;
	volatile int done = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h_jump;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGUSR2, h_jump_plain);
	while (done < n) {
		if (sigsetjmp(back, 1) == 0)
			raise(SIGUSR1);
		if (setjmp(back_plain) == 0)
			raise(SIGUSR2);
		done++;
	}
	deep();
	return count_kept("jumped", 2 * done);
}

static ucontext_t back_ctx;

static void h_setcontext(int sig)
{
	(void)sig;
	handler_site();
	setcontext(&back_ctx);
}

/* raise from 256 KiB deeper on the stack than kept_site will run */
__attribute__((noinline)) static void raise_deep(int sig)
{
	volatile char pad[256 * 1024];

	pad[0] = 1;
	raise(sig);
	pad[1] = pad[0];
}

static int ctxjumps(int n)
{
	struct sigaction sa;
	volatile int done = 0, left;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h_setcontext;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGUSR1, &sa, NULL);
	while (done < n) {
		left = 0;
		getcontext(&back_ctx);
		if (!left) {
			left = 1;
			raise_deep(SIGUSR1);
		}
		done++;
	}
	kept_site(keep, 40000);
	return count_kept("left by setcontext", done);
}

int main(int argc, char **argv)
{
	int want;

	if (argc > 1 && !strcmp(argv[1], "actions"))
		return actions();
	if (argc > 2 && !strcmp(argv[1], "jump"))
		return jumps(atoi(argv[2]));
	if (argc > 2 && !strcmp(argv[1], "ctxjump"))
		return ctxjumps(atoi(argv[2]));

	if (argc > 2 && !strcmp(argv[1], "idle"))
		return idle(atoi(argv[2]));
	if (argc > 2 && !strcmp(argv[1], "lock")) {
		handler_size = 4000;
		handler_realloc = 1;
		argv++;
	}
	want = argc > 1 ? atoi(argv[1]) : 3000;
	struct itimerval it = { { 0, 100 }, { 0, 100 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	sigset_t s;
	pthread_t t[2];
	void *live[512] = { 0 };
	unsigned x = 12345;
	time_t start = time(NULL);

	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i * 7919 + 1));
	warm_and_unblock();
	setitimer(ITIMER_REAL, &it, NULL);
	while (__atomic_load_n(&handled, __ATOMIC_RELAXED) < want && time(NULL) - start < 30)
		loop_site(&x, live);
	setitimer(ITIMER_REAL, &off, NULL);
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int k = 0; k < 512; k++)
		free(live[k]);
	if (__atomic_load_n(&handled, __ATOMIC_RELAXED) >= want)
		printf("signal: handled at least %d signals\n", want);
	else
		printf("signal: handled only %d signals in 30 s\n", handled);
	return 0;
}
