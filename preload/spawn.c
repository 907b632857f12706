/* Starting the collector: its path and environment, the two clones that
 * make it no child of the program, and what tells whether it still runs;
 * the heaptrace launcher's record of it. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

static void *map_anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* The file of the loaded object that holds the address arg points at, into
 * its first HT_PATH_MAX bytes; "" if none. dl_iterate_phdr, not dladdr,
 * which looks through every symbol of every object and cost a start-up
 * more than everything else the shim does. */
struct find_file {
	uintptr_t addr;
	char name[HT_PATH_MAX];
};

static int file_of(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_file *f = arg;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && f->addr >= lo && f->addr - lo < ph->p_memsz) {
			snprintf(f->name, sizeof(f->name), "%s", info->dlpi_name ? info->dlpi_name : "");
			return 1;
		}
	}
	return 0;
}

/* The collector's path: HEAPTRACE_COLLECTOR, or heaptrace-collector next
 * to this library. */
static int find_collector(char *out, size_t cap)
{
	const char *c = ht_options_env("HEAPTRACE_COLLECTOR");
	struct find_file f = { .addr = (uintptr_t)file_of };
	const char *slash;
	int n;

	if (c && *c) {
		n = snprintf(out, cap, "%s", c);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	dl_iterate_phdr(file_of, &f);
	if (!f.name[0])
		return -1;
	slash = strrchr(f.name, '/');
	if (!slash)
		n = snprintf(out, cap, "heaptrace-collector");
	else
		n = snprintf(out, cap, "%.*s/heaptrace-collector", (int)(slash - f.name), f.name);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static struct {
	char path[HT_PATH_MAX];
	int state; /* 0 not looked for, 1 found, -1 not found */
} where;

void ht_spawn_prepare(void)
{
	where.state = find_collector(where.path, sizeof(where.path)) == 0 ? 1 : -1;
}

/* The collector's path, as ht_spawn_prepare found it (it is looked for
 * then, not inside the sampled malloc that may start the collector: the
 * loader's lock is taken to find the shim's own file). */
static int collector_path(char *out, size_t cap)
{
	if (!where.state)
		ht_spawn_prepare();
	if (where.state < 0)
		return -1;
	snprintf(out, cap, "%s", where.path);
	return 0;
}

/* The environment for the collector: ours without LD_PRELOAD, and with
 * HEAPTRACE_DISABLE=1, so that neither it nor what it runs is traced (a
 * HEAPTRACE_COLLECTOR that is a script, with the shim in
 * /etc/ld.so.preload, would otherwise start itself again and again; the
 * collector itself carries the note ht_startup_untraced looks for). */
static char **collector_env(void)
{
	extern char **environ;
	static char disable[] = "HEAPTRACE_DISABLE=1";
	size_t n = 0, i, j = 0;
	char **e;

	char *given[64];
	size_t ng = ht_attach_envv(given, 64);

	while (environ && environ[n])
		n++;
	e = map_anon((n + ng + 2) * sizeof(char *));
	if (!e)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
		    strncmp(environ[i], "HEAPTRACE_DISABLE=", 18) != 0 &&
		    (!ng || strncmp(environ[i], "HEAPTRACE_", 10) != 0))
			e[j++] = environ[i];
	for (i = 0; i < ng; i++)
		e[j++] = given[i]; /* heaptrace -p's settings, not the program's */
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

/* Runs the go-between on stack (every signal blocked meanwhile: no
 * handler of the program may run on the borrowed stacks) and reads the
 * reports into buf (cap bytes, NUL-terminated); end of file once the
 * collector is exec'd. Closes both ends of rep. Returns 0, or clone's
 * errno. */
static int spawn_run(struct spawn *sp, char *stack, int rep[2], char *buf, size_t cap)
{
	sigset_t all, old;
	size_t got = 0;
	ssize_t r;
	pid_t pid;
	int err = 0, status;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(spawn_between, stack, CLONE_VM | CLONE_VFORK | SIGCHLD, sp);
	if (pid < 0)
		err = errno;
	else
		/* exited already (CLONE_VFORK); ECHILD if SIGCHLD is ignored
		 * or a handler of the program reaped it first */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	close(rep[1]);
	while (got < cap - 1 &&
	       ((r = read(rep[0], buf + got, cap - 1 - got)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	close(rep[0]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	buf[got] = 0;
	return err;
}

/* Starts the collector, not as a child of the program. The program waits
 * only for two clones and an execve (well under a millisecond), not for
 * the collector to load its libraries: posix_spawn cannot make a
 * grandchild, and a collector that forked itself away kept the program
 * waiting for its loading. Both clones share the program's memory, as
 * posix_spawn's does, so nothing is copied however big the program is. */
int ht_spawn_collector(int memfd, int pipe_rd, const char *output)
{
	enum { STACK = 64 << 10 };
	char path[HT_PATH_MAX], buf[64];
	char *argv[7];
	/* the process and the output path go by the command line too: the
	 * program can change the shared header before the collector has read
	 * it (it may drop privileges first), but not the collector's argv;
	 * and the path is the shim's own copy, not the header's, which the
	 * program may have written into by a lazy start */
	char pid_arg[32], out_arg[HT_PATH_MAX + 16];
	struct spawn sp;
	char *stacks;
	pid_t collector = 0;
	int e = errno, err, rep[2];

	if (collector_path(path, sizeof(path)) != 0) {
		ht_say("cannot locate heaptrace-collector (set HEAPTRACE_COLLECTOR); tracing is off");
		return -1;
	}
	if (access(path, X_OK) != 0) {
		ht_say("cannot run collector '%s': %s; tracing is off", path, strerror(errno));
		return -1;
	}
	memset(&sp, 0, sizeof(sp));
	sp.envp = collector_env();
	stacks = sp.envp ? map_anon(2 * STACK) : NULL;
	if (!stacks) {
		ht_say("cannot start the collector: out of memory; tracing is off");
		return -1;
	}
	if (pipe2(rep, O_CLOEXEC) != 0) {
		munmap(stacks, 2 * STACK);
		ht_say("cannot create pipe: %s; tracing is off", strerror(errno));
		return -1;
	}
	snprintf(pid_arg, sizeof(pid_arg), "--pid=%d", (int)getpid());
	snprintf(out_arg, sizeof(out_arg), "--output=%s", output);
	argv[0] = path;
	argv[1] = "--shm-fd=3";
	argv[2] = "--alive-fd=4";
	argv[3] = pid_arg;
	argv[4] = out_arg;
	argv[5] = ht_final_dir_said() ? "--dir-said" : NULL;
	argv[6] = NULL;
	sp.path = path;
	sp.argv = argv;
	sp.memfd = memfd;
	sp.pipe_rd = pipe_rd;
	sp.report = rep[1];
	sp.stack2 = stacks + 2 * STACK;
	err = spawn_run(&sp, stacks + STACK, rep, buf, sizeof(buf));
	munmap(stacks, 2 * STACK);
	for (char *c = buf; *c; c = strchr(c, ';') ? strchr(c, ';') + 1 : c + strlen(c)) {
		if (*c == 'P')
			collector = (pid_t)strtol(c + 1, NULL, 10);
		else if (*c == 'E' && !err)
			err = (int)strtol(c + 1, NULL, 10);
	}
	errno = e;
	if (err || collector <= 0) {
		ht_say("cannot start collector '%s': %s; tracing is off", path,
		       strerror(err ? err : EAGAIN));
		return -1;
	}
	ht_core.run.collector_pid = collector;
	return 0;
}

/* Is the collector running? A dead one may linger as a zombie (when the
 * program is its parent), which kill(pid, 0) still finds: look at its
 * state too. One not started yet (a lazy start) is started now. Only
 * called when the ring is full or at exit. */
int ht_spawn_alive(void)
{
	char path[48], buf[256];
	const char *close_paren;
	ssize_t n;
	int fd;

	if (ht_core.run.collector_pid <= 0 && __atomic_load_n(&ht_core.lazy, __ATOMIC_ACQUIRE))
		ht_lazy_start(); /* a ring full before the first sample */
	if (ht_core.run.collector_pid <= 0 || (kill(ht_core.run.collector_pid, 0) != 0 && errno == ESRCH))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)ht_core.run.collector_pid);
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

void ht_spawn_lost(void)
{
	if (!__atomic_exchange_n(&ht_core.run.warned_dead, 1, __ATOMIC_ACQ_REL))
		ht_say("the collector (pid %d) is gone; tracing is off, the program runs on",
		    (int)ht_core.run.collector_pid);
	__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
}

/* HEAPTRACE_REPORT_TO names a file the heaptrace launcher made: each
 * traced image of a process adds "S PID COLLECTOR_PID" and a NUL to it
 * when its collector has started, in the order the images run, so that
 * the launcher knows which collector writes the last image's snapshot
 * (each collector adds its own record when it has, see heaptrace(1)).
 * An image that writes its own final snapshot (final.c) names itself as
 * its collector. Only an existing regular file is written; failures are
 * silent. */
void ht_spawn_record(char kind, const char *text)
{
	const char *to = ht_options_env("HEAPTRACE_REPORT_TO");
	char rec[HT_PATH_MAX + 700];
	pid_t writer = ht_core.run.collector_pid > 0 ? ht_core.run.collector_pid : getpid();
	struct stat st;
	int fd, n, e = errno;

	if (!to || !*to)
		return;
	fd = open(to, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		errno = e;
		return;
	}
	n = snprintf(rec, sizeof(rec), "%c %d %d%s%s", kind, (int)getpid(), (int)writer,
		     *text ? " " : "", text);
	if (n >= (int)sizeof(rec))
		n = (int)sizeof(rec) - 1;
	/* one write: an O_APPEND record of a regular file is not split */
	if (n > 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && write(fd, rec, (size_t)n + 1) < 0)
		n = 0;
	close(fd);
	errno = e;
}

void ht_spawn_tell_launcher(void)
{
	ht_spawn_record('S', "");
}
