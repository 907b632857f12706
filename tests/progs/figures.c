/* Test subject for tests/t_figures.sh: programs whose true figures are
 * known, to check what the snapshots and the reports say about them.
 *   figures negfree N   allocate N blocks, fork; the child (traced with
 *                       HEAPTRACE_FOLLOW_FORK=1) allocates one block and
 *                       frees the N it inherited, so it holds fewer blocks
 *                       than it allocated
 *   figures peak MB MS  a small phase, then MB MiB held for MS ms, freed,
 *                       then another small phase
 *   figures idle MB     hold MB MiB, print "ready", then wait for a line
 *                       on stdin without allocating, free, exit
 *   figures deep N      keep one block allocated N calls deep (deep_site) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *volatile keep;

static void small_phase(void)
{
	for (int i = 0; i < 2000; i++) {
		char *p = malloc(512);

		p[0] = (char)i;
		free(p);
	}
}

__attribute__((noinline)) static char *peak_site(size_t n)
{
	char *p = malloc(n);

	memset(p, 1, n);
	return p;
}

__attribute__((noinline)) static char *idle_site(size_t n)
{
	char *p = malloc(n);

	memset(p, 1, n);
	return p;
}

__attribute__((noinline)) static int deep(int n)
{
	int r;

	if (n <= 1) {
		keep = malloc(64);
		return keep != NULL;
	}
	r = deep(n - 1);
	__asm__ volatile("" ::: "memory"); /* not a tail call: every level stays a frame */
	return r;
}

static int negfree(int n)
{
	void **v = calloc((size_t)n, sizeof(*v));
	pid_t pid;
	int st;

	for (int i = 0; i < n; i++)
		v[i] = malloc(100);
	pid = fork();
	if (pid == 0) {
		keep = malloc(16); /* the child's first allocation starts its tracing */
		for (int i = 0; i < n; i++)
			free(v[i]);
		exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 1;
	printf("child %d\n", (int)pid);
	return 0;
}

static int peak(long mb, long ms)
{
	enum { CHUNK = 1 << 20 };
	char **v = calloc((size_t)mb, sizeof(*v));
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	small_phase();
	for (long i = 0; i < mb; i++)
		v[i] = peak_site(CHUNK);
	nanosleep(&ts, NULL);
	for (long i = 0; i < mb; i++)
		free(v[i]);
	free(v);
	small_phase();
	ts.tv_sec = 0;
	ts.tv_nsec = 300000000;
	nanosleep(&ts, NULL);
	small_phase();
	return 0;
}

static int idle(long mb)
{
	enum { CHUNK = 1 << 20 };
	char **v = calloc((size_t)mb, sizeof(*v));
	char line[16];

	for (long i = 0; i < mb; i++)
		v[i] = idle_site(CHUNK);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	for (long i = 0; i < mb; i++)
		free(v[i]);
	free(v);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "negfree"))
		return negfree(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "peak"))
		return peak(atol(argv[2]), atol(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "idle"))
		return idle(atol(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "deep"))
		return !deep(atoi(argv[2]));
	fprintf(stderr, "usage: figures negfree N | peak MB MS | idle MB | deep N\n");
	return 2;
}
