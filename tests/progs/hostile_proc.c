/* Test subject for tests/t_hostile.sh: process life cycles that a preloaded
 * shim must survive. Its output depends only on its arguments, so a traced
 * run must print exactly what an untraced one prints. Usage:
 *   hostile_proc fork N     4 threads allocate while main forks N children;
 *                           each child frees blocks its parent allocated,
 *                           allocates and frees in a new thread, exit(i % 7)
 *   hostile_proc exec       fork, then exec "hostile_proc child"
 *   hostile_proc spawn      posix_spawn "hostile_proc child"
 *   hostile_proc vfork      vfork, then exec "hostile_proc child"
 *   hostile_proc child      allocate, keep 50 blocks in child_site, exit(3)
 *   hostile_proc texit      threads allocate; one of them calls exit(5)
 *   hostile_proc _exit      threads allocate; main calls _exit(9)
 *   hostile_proc abort      threads allocate; main calls abort()
 *   hostile_proc reapall    fork 3 children, then wait for children until
 *                           there are none left (as an init or a
 *                           supervisor does), and count them */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile int stop;
static void *volatile held[150]; /* blocks kept to the end */
static volatile long progress;
static char *self;

/* Allocates and frees blocks of mixed sizes until stop is set, keeping a
 * few hundred alive at a time. */
__attribute__((noinline)) static void churn_site(void)
{
	void *live[256] = { 0 };
	unsigned x = (unsigned)(size_t)&live;

	for (long i = 0; !stop; i++) {
		int k = (int)(i & 255);

		free(live[k]);
		x = x * 1103515245u + 12345u;
		live[k] = malloc(16 + (x >> 16) % 3000);
		if (live[k])
			memset(live[k], 1, 16);
		if ((i & 1023) == 0)
			__atomic_add_fetch(&progress, 1, __ATOMIC_RELAXED);
	}
	for (int k = 0; k < 256; k++)
		free(live[k]);
}

static void *churner(void *arg)
{
	(void)arg;
	churn_site();
	return NULL;
}

static pthread_t churners[4];

static void start_churners(int n)
{
	for (int i = 0; i < n; i++)
		pthread_create(&churners[i], NULL, churner, NULL);
	/* let them get going */
	while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < 20 * n)
		usleep(1000);
}

static void stop_churners(int n)
{
	stop = 1;
	for (int i = 0; i < n; i++)
		pthread_join(churners[i], NULL);
}

__attribute__((noinline)) static void *child_site(size_t n)
{
	return malloc(n);
}

static void *child_thread(void *arg)
{
	void **v = arg;

	for (int i = 0; i < 1000; i++) {
		void *p = child_site(32 + i);
		free(v[i % 100]);
		v[i % 100] = p;
	}
	return NULL;
}

/* What a forked child does: free its parent's blocks, allocate and free
 * on its own and on a new thread, then exit normally. */
static void forked_child(void **inherited, int n, int code)
{
	void *v[100] = { 0 };
	pthread_t t;

	for (int i = 0; i < n; i++)
		free(inherited[i]);
	for (int i = 0; i < 2000; i++) {
		char *p = child_site(1 + i % 500);
		p[0] = 1;
		p = realloc(p, 600 + i % 500);
		free(p);
	}
	if (pthread_create(&t, NULL, child_thread, v) != 0)
		_exit(100);
	pthread_join(t, NULL);
	for (int i = 0; i < 100; i++)
		free(v[i]);
	exit(code);
}

static int do_fork(int n)
{
	int sum = 0, bad = 0;
	void *mine[64];

	start_churners(4);
	for (int c = 0; c < n; c++) {
		pid_t pid;
		int st;

		for (int i = 0; i < 64; i++)
			mine[i] = calloc(1, 100 + i * 64);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			forked_child(mine, 64, c % 7);
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
			bad++;
		else
			sum += WEXITSTATUS(st);
		for (int i = 0; i < 64; i++)
			free(mine[i]);
	}
	stop_churners(4);
	printf("fork: %d children, %d exited abnormally, statuses sum to %d\n", n, bad, sum);
	return 0;
}

static int report_child(const char *how, pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		printf("%s: no child\n", how);
		return 1;
	}
	if (WIFEXITED(st))
		printf("%s: child exited with %d\n", how, WEXITSTATUS(st));
	else
		printf("%s: child died of signal %d\n", how, WTERMSIG(st));
	return 0;
}

static int do_child(void)
{
	for (int i = 0; i < 5000; i++)
		free(child_site(100));
	for (int i = 0; i < 50; i++)
		held[i] = child_site(1000);
	printf("child: kept %d blocks\n", 50);
	fflush(stdout);
	exit(3);
}

static void *exiting_thread(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&progress, __ATOMIC_RELAXED) < 200)
		free(child_site(64));
	printf("texit: a thread calls exit(5)\n");
	fflush(stdout);
	exit(5);
}

int main(int argc, char **argv)
{
	char *cargv[] = { argv[0], "child", NULL };
	self = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: hostile_proc MODE [N]\n");
		return 2;
	}
	for (int i = 0; i < 100; i++)
		held[50 + i] = malloc(200);
	if (!strcmp(argv[1], "fork"))
		return do_fork(argc > 2 ? atoi(argv[2]) : 20);
	if (!strcmp(argv[1], "child"))
		return do_child();
	if (!strcmp(argv[1], "exec")) {
		pid_t pid = fork();

		if (pid == 0) {
			execv(self, cargv);
			_exit(127);
		}
		return report_child("exec", pid);
	}
	if (!strcmp(argv[1], "vfork")) {
		pid_t pid = vfork();

		if (pid == 0) {
			execv(self, cargv);
			_exit(127);
		}
		return report_child("vfork", pid);
	}
	if (!strcmp(argv[1], "spawn")) {
		pid_t pid;
		int err = posix_spawn(&pid, self, NULL, NULL, cargv, environ);

		if (err) {
			printf("spawn: error %d\n", err);
			return 1;
		}
		return report_child("spawn", pid);
	}
	if (!strcmp(argv[1], "texit")) {
		pthread_t t;

		start_churners(3);
		pthread_create(&t, NULL, exiting_thread, NULL);
		pthread_join(t, NULL); /* never returns: the thread exits the process */
		return 1;
	}
	if (!strcmp(argv[1], "reapall")) {
		int reaped = 0, st;

		for (int i = 0; i < 3; i++) {
			pid_t pid = fork();

			if (pid == 0) {
				for (int k = 0; k < 1000; k++)
					free(child_site(64));
				_exit(0);
			}
		}
		while (wait(&st) > 0)
			reaped++;
		printf("reapall: reaped %d children\n", reaped);
		return 0;
	}
	if (!strcmp(argv[1], "_exit")) {
		start_churners(3);
		printf("_exit: main calls _exit(9)\n");
		_exit(9);
	}
	if (!strcmp(argv[1], "abort")) {
		start_churners(3);
		printf("abort: main calls abort()\n");
		abort();
	}
	fprintf(stderr, "hostile_proc: unknown mode '%s'\n", argv[1]);
	return 2;
}
