/* Test subject for tests/t_secure.sh: a program that looks at itself for
 * any trace of a shim at work, and a parent that waits for a pipe's end
 * of file. Usage:
 *   privprobe probe      allocate, set a handler, and print what the
 *                        process holds: descriptors beyond 2, mappings of
 *                        heaptrace's shared memory, the handlers the
 *                        kernel holds (the same untraced and in a process
 *                        the shim must stay out of)
 *   privprobe hold MS    allocate, print "ready", sleep MS milliseconds
 *   privprobe pipewait MS  fork a child that holds a pipe's write end,
 *                        allocates, sleeps MS milliseconds and exits; print
 *                        how long the parent waited for end of file */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *keep[1000];

static void work(void)
{
	for (int i = 0; i < 1000; i++) {
		keep[i] = malloc(100 + i);
		memset(keep[i], 1, 100 + i);
	}
	for (int i = 0; i < 1000; i += 2)
		free(keep[i]);
}

static void on_usr2(int sig)
{
	(void)sig;
}

/* the handler the kernel holds for sig, asked without libc's wrapper
 * (which the shim wraps) */
static void *kernel_handler(int sig)
{
	struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } ka;

	if (syscall(SYS_rt_sigaction, sig, NULL, &ka, 8) != 0)
		return (void *)-1;
	return ka.handler;
}

static int probe(void)
{
	struct sigaction sa;
	DIR *d;
	struct dirent *e;
	FILE *f;
	char line[512];
	int fds = 0, maps = 0;

	work();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	printf("USR2: %s\n", kernel_handler(SIGUSR2) == (void *)on_usr2 ? "the program's handler"
									  : "another handler");
	printf("USR1: %s\n", kernel_handler(SIGUSR1) == SIG_DFL ? "default" : "handled");
	d = opendir("/proc/self/fd");
	while (d && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) > 2 && atoi(e->d_name) != dirfd(d)) {
			printf("fd %s open\n", e->d_name);
			fds++;
		}
	if (d)
		closedir(d);
	printf("descriptors beyond 2: %d\n", fds);
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "heaptrace") && !strstr(line, ".so"))
			maps++;
	if (f)
		fclose(f);
	printf("shared memory of heaptrace: %d mappings\n", maps);
	f = fopen("/proc/self/maps", "r");
	maps = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi - lo >= (4ul << 30))
			maps++;
	}
	if (f)
		fclose(f);
	printf("mappings of 4 GiB or more: %d\n", maps);
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int pipewait(int ms)
{
	int p[2], st;
	char c;
	pid_t pid;
	double t0;

	/* the write end out of the way of the numbers the shim uses */
	if (pipe(p) != 0 || dup2(p[1], 50) != 50)
		return 1;
	close(p[1]);
	p[1] = 50;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(p[0]);
		work(); /* the first allocation starts the child's collector */
		usleep(ms * 1000);
		exit(0);
	}
	close(p[1]);
	t0 = now_ms();
	while (read(p[0], &c, 1) > 0)
		;
	printf("end of file after %.0f ms\n", now_ms() - t0);
	waitpid(pid, &st, 0);
	printf("child exited with %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "probe"))
		return probe();
	if (argc > 2 && !strcmp(argv[1], "hold")) {
		work();
		printf("ready\n");
		usleep(atoi(argv[2]) * 1000);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "pipewait"))
		return pipewait(atoi(argv[2]));
	fprintf(stderr, "usage: privprobe probe | hold MS | pipewait MS\n");
	return 2;
}
