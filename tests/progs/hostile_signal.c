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
 * it traced only): the shim serves such a handler from its arena.
 * (The handler's size class is never used elsewhere and is warmed up on
 * every thread before the signal is unblocked there, so glibc serves it
 * from the thread cache without a lock: the untraced program cannot
 * deadlock, and a traced one must not either.) */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile int handled;
static size_t handler_size = 200;
static volatile int stop;

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

int main(int argc, char **argv)
{
	int want;

	if (argc > 2 && !strcmp(argv[1], "idle"))
		return idle(atoi(argv[2]));
	if (argc > 2 && !strcmp(argv[1], "lock")) {
		handler_size = 4000;
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
