/* The calls that end an image other than by exit (exec, _exit, abort),
 * wrapped for a process whose collector is not started yet (a lazy
 * start): the image writes its final snapshot first, cut short, as its
 * collector would have when it saw the image go. An exec that fails
 * leaves tracing as it was. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Whether this image has no collector and writes its own snapshot: not
 * in a child of vfork, which shares the traced process's memory (and
 * state) but is not the traced process. */
static int lazy_here(void)
{
	return ht_lazy_ends_here();
}

/* Before the exec: the snapshot if there is no collector. Returns 1 if it
 * was written (then after_exec must be called if the exec returns). */
static int before_exec(void)
{
	return lazy_here() ? ht_lazy_end(1) : 0;
}

static void after_exec(int wrote, int e)
{
	if (wrote)
		ht_lazy_exec_failed();
	errno = e;
}

/* The next definition of name (libc's). */
static void *next(const char *name)
{
	void *f;

	ht_tls.self++;
	f = ht_dl_next(name);
	ht_tls.self--;
	return f;
}

typedef int (*exec3_fn)(const char *, char *const[], char *const[]);
typedef int (*exec2_fn)(const char *, char *const[]);
typedef int (*fexec_fn)(int, char *const[], char *const[]);

#define REAL(type, name) \
	static type real_##name; \
	if (!real_##name) \
		real_##name = (type)next(#name); \
	if (!real_##name) { \
		errno = ENOSYS; \
		return -1; \
	}

HT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	int wrote, rc;

	REAL(exec3_fn, execve);
	wrote = before_exec();
	rc = real_execve(path, argv, envp);
	after_exec(wrote, errno);
	return rc;
}

HT_EXPORT int execv(const char *path, char *const argv[])
{
	int wrote, rc;

	REAL(exec2_fn, execv);
	wrote = before_exec();
	rc = real_execv(path, argv);
	after_exec(wrote, errno);
	return rc;
}

HT_EXPORT int execvp(const char *file, char *const argv[])
{
	int wrote, rc;

	REAL(exec2_fn, execvp);
	wrote = before_exec();
	rc = real_execvp(file, argv);
	after_exec(wrote, errno);
	return rc;
}

HT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	int wrote, rc;

	REAL(exec3_fn, execvpe);
	wrote = before_exec();
	rc = real_execvpe(file, argv, envp);
	after_exec(wrote, errno);
	return rc;
}

HT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	int wrote, rc;

	REAL(fexec_fn, fexecve);
	wrote = before_exec();
	rc = real_fexecve(fd, argv, envp);
	after_exec(wrote, errno);
	return rc;
}

/* The arguments of execl, execlp and execle, up to the NULL, as an array
 * on the stack; execle's environment after it. */
#define LIST_ARGS(first, ap, envp_out) \
	size_t n = 1; \
	va_start(ap, first); \
	while (va_arg(ap, char *)) \
		n++; \
	va_end(ap); \
	char *argv[n + 1]; \
	argv[0] = (char *)(first); \
	va_start(ap, first); \
	for (size_t i = 1; i <= n; i++) \
		argv[i] = va_arg(ap, char *); \
	envp_out = (char *const *)(envp_out ? va_arg(ap, char *const *) : NULL); \
	va_end(ap)

HT_EXPORT int execl(const char *path, const char *arg, ...)
{
	char *const *envp = NULL;
	va_list ap;

	LIST_ARGS(arg, ap, envp);
	(void)envp;
	return execv(path, argv);
}

HT_EXPORT int execlp(const char *file, const char *arg, ...)
{
	char *const *envp = NULL;
	va_list ap;

	LIST_ARGS(arg, ap, envp);
	(void)envp;
	return execvp(file, argv);
}

HT_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *const *envp = (char *const *)1; /* taken after the NULL */
	va_list ap;

	LIST_ARGS(arg, ap, envp);
	return execve(path, argv, envp);
}

/* Before the process ends without exit's handlers: the snapshot, if there
 * is no collector to write it. */
static void before_end(void)
{
	if (lazy_here())
		ht_lazy_end(1);
}

HT_EXPORT void _exit(int status)
{
	before_end();
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

HT_EXPORT void _Exit(int status)
{
	_exit(status);
}

HT_EXPORT void abort(void)
{
	static void (*real_abort)(void);

	before_end();
	if (!real_abort)
		real_abort = (void (*)(void))next("abort");
	if (real_abort)
		real_abort();
	raise(SIGABRT);
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT);
	syscall(SYS_exit_group, 127);
	__builtin_unreachable();
}
