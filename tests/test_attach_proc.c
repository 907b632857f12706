/* heaptrace-attach's checks of the target (collector/attach/proc.c): the
 * message for each Yama ptrace_scope when attaching is refused, whatever
 * the machine's own setting (read from a file of the test's). */
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/attach.h"
#include "tap.h"

/* Drops CAP_SYS_PTRACE from the effective set: the messages are for a
 * user without it. 0, or -1. */
static int drop_ptrace_cap(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0)
		return -1;
	d[0].effective &= ~(1u << CAP_SYS_PTRACE);
	return (int)syscall(SYS_capset, &h, d);
}

static void set_scope(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(v, f);
		fclose(f);
	}
}

int main(void)
{
	char path[] = "/tmp/ht-test-yama.XXXXXX", err[512];
	struct ht_target *t = calloc(1, sizeof(*t));
	int fd = mkstemp(path);
	pid_t child = fork();

	if (child == 0) {
		pause();
		_exit(0);
	}
	ok(fd >= 0 && child > 0 && t, "a scope file and a process of our own");
	ok(drop_ptrace_cap() == 0, "CAP_SYS_PTRACE dropped");
	t->pid = child;
	ht_proc_yama = path;

	set_scope(path, "1\n");
	ht_proc_why_eperm(t, err, sizeof(err));
	ok(strstr(err, "kernel.yama.ptrace_scope is 1, which lets only its parent attach; "
		  "run as root (CAP_SYS_PTRACE) or set kernel.yama.ptrace_scope to 0") != NULL,
	   "scope 1: says only the parent may attach, and what to do");
	printf("# %s\n", err);
	set_scope(path, "2\n");
	ht_proc_why_eperm(t, err, sizeof(err));
	ok(strstr(err, "kernel.yama.ptrace_scope is 2, which lets only CAP_SYS_PTRACE attach "
		  "(run as root)") != NULL, "scope 2: says CAP_SYS_PTRACE is needed");
	set_scope(path, "3\n");
	ht_proc_why_eperm(t, err, sizeof(err));
	ok(strstr(err, "kernel.yama.ptrace_scope is 3, which forbids attaching to any process "
		  "until the next boot") != NULL, "scope 3: says nothing can attach until a reboot");
	set_scope(path, "0\n");
	ht_proc_why_eperm(t, err, sizeof(err));
	ok(strstr(err, "not permitted (it may be marked not dumpable") != NULL,
	   "scope 0, same user: says what else refuses");
	ht_proc_yama = "/nonexistent/ptrace_scope";
	ht_proc_why_eperm(t, err, sizeof(err));
	ok(strstr(err, "ptrace_scope") == NULL, "no Yama: no word of it");
	ok(kill(child, 0) == 0, "the process runs on");

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	unlink(path);
	free(t);
	return done_testing();
}
