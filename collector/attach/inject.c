/* The ptrace steps: stop one thread of the target where it holds no lock
 * of the C library's allocator or loader, make it call a function, put
 * everything back, and let it go. Only that thread is ever kept stopped:
 * the others run on, so none can sit stopped on a lock the call needs. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach/attach.h"
#include "lib/util.h"

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif

#define RED_ZONE 128
#define SCRATCH 4096 /* what ht_inject_write may use below the red zone */

struct ht_stopped {
	pid_t pid, tid;
	struct user_regs_struct regs; /* as it was stopped */
	uint64_t mask;                /* its signal mask then */
	unsigned char saved[SCRATCH]; /* the stack below its red zone, before */
	uintptr_t scratch_lo;         /* lowest byte written so far, 0 if none */
	int pending;                  /* a signal to give it when it goes */
	struct timespec since;
};

pid_t ht_inject_tid(const struct ht_stopped *s)
{
	return s->tid;
}

int ht_inject_read(struct ht_stopped *s, uintptr_t addr, void *out, size_t n)
{
	struct iovec l = { out, n }, r = { (void *)addr, n };

	return process_vm_readv(s->pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

static int write_mem(struct ht_stopped *s, uintptr_t addr, const void *in, size_t n)
{
	struct iovec l = { (void *)in, n }, r = { (void *)addr, n };

	return process_vm_writev(s->pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* Waits for tid's next stop or end: its status, or -1. */
static int wait_tid(pid_t tid)
{
	int st;

	while (waitpid(tid, &st, __WALL) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* Stops tid, seized, at a PTRACE_EVENT_STOP. Signals that come first are
 * delivered at once, unchanged. 0 stopped, -1 gone or refused (errno). */
static int seize_stop(pid_t tid)
{
	int st;

	if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0)
		return -1;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0) {
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return -1;
	}
	for (;;) {
		st = wait_tid(tid);
		if (st == -1 || !WIFSTOPPED(st)) {
			errno = ESRCH;
			return -1; /* it ended */
		}
		if (st >> 16 == PTRACE_EVENT_STOP && WSTOPSIG(st) == SIGTRAP)
			return 0;
		if (st >> 16 == PTRACE_EVENT_STOP) {
			/* job control stops the process: it stays stopped */
			ptrace(PTRACE_DETACH, tid, 0, 0);
			errno = EAGAIN;
			return -1;
		}
		/* a signal-delivery stop: the signal goes on as it came */
		if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)WSTOPSIG(st)) != 0)
			return -1;
	}
}

/* System calls a thread may be blocked in when it is made to call dlopen:
 * they wait for input, time or children, and hold no lock of the C
 * library's allocator or loader (futex too, but not in a lock wait). */
static int idle_syscall(long nr)
{
	static const long ok[] = {
		0 /* read */, 1 /* write */, 7 /* poll */, 17 /* pread64 */, 19 /* readv */,
		20 /* writev */, 23 /* select */, 34 /* pause */, 35 /* nanosleep */,
		43 /* accept */, 44 /* sendto */, 45 /* recvfrom */, 46 /* sendmsg */,
		47 /* recvmsg */, 61 /* wait4 */, 128 /* rt_sigtimedwait */,
		130 /* rt_sigsuspend */, 202 /* futex */, 230 /* clock_nanosleep */,
		232 /* epoll_wait */, 247 /* waitid */, 270 /* pselect6 */, 271 /* ppoll */,
		281 /* epoll_pwait */, 288 /* accept4 */, 299 /* recvmmsg */, 441 /* epoll_pwait2 */,
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (nr == ok[i])
			return 1;
	return 0;
}

static int in(const struct ht_range *r, int n, uintptr_t pc)
{
	int i;

	for (i = 0; i < n; i++)
		if (pc >= r[i].lo && pc < r[i].hi)
			return 1;
	return 0;
}

/* May this stopped thread call dlopen? Outside the C library, the loader,
 * the shim and any allocator; or blocked in an idle system call, not in
 * a lock wait. Else why not, in *why. */
static int safe_here(struct ht_stopped *s, const struct ht_target *t, const char **why)
{
	uintptr_t pc = s->regs.rip;
	unsigned char ins[2];
	long nr = (long)s->regs.orig_rax;

	if (!in(t->unsafe, t->nunsafe, pc))
		return 1;
	if (nr < 0 || ht_inject_read(s, pc - 2, ins, 2) != 0 || ins[0] != 0x0f || ins[1] != 0x05) {
		*why = "running in the C library, the loader or the allocator";
		return 0;
	}
	if (!idle_syscall(nr) || in(t->lockwait, 2, pc)) {
		*why = "in a system call of the allocator's or the loader's";
		return 0;
	}
	return 1;
}

/* Stops tid and keeps it if it is safe: 1 kept (in s), 0 let go, -1 refused. */
static int try_thread(const struct ht_target *t, pid_t tid, struct ht_stopped *s, const char **why)
{
	memset(s, 0, sizeof(*s));
	s->pid = t->pid;
	s->tid = tid;
	if (seize_stop(tid) != 0)
		return errno == EPERM ? -1 : 0;
	clock_gettime(CLOCK_MONOTONIC, &s->since);
	if (ptrace(PTRACE_GETREGS, tid, 0, &s->regs) != 0 ||
	    ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(s->mask), &s->mask) != 0) {
		ptrace(PTRACE_DETACH, tid, 0, 0);
		*why = "its registers cannot be read";
		return 0;
	}
	if (safe_here(s, t, why))
		return 1;
	ptrace(PTRACE_DETACH, tid, 0, 0);
	return 0;
}

/* One pass over the threads: 1 one is kept, 0 none is safe now, -1 refused. */
static int pass(const struct ht_target *t, struct ht_stopped *s, const char **why)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int rc, e2;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	d = opendir(path);
	if (!d)
		return -1;
	/* the main thread first: the one that most often waits */
	rc = try_thread(t, t->pid, s, why);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid > 0 && tid != t->pid)
			rc = try_thread(t, tid, s, why);
	}
	e2 = errno;
	closedir(d);
	errno = e2;
	return rc;
}

struct ht_stopped *ht_inject_stop(const struct ht_target *t, char *err, size_t cap)
{
	struct ht_stopped *s = ht_xcalloc(1, sizeof(*s));
	const char *why = "no thread could be stopped";
	int i, rc = 0;

	for (i = 0; i < 100 && rc == 0; i++) {
		if (i)
			usleep(10000);
		rc = pass(t, s, &why);
	}
	if (rc == 1)
		return s;
	free(s);
	if (rc < 0 && errno == EPERM)
		ht_proc_why_eperm(t, err, cap);
	else if (rc < 0)
		ht_fail(err, cap, "cannot attach to process %d: %s", (int)t->pid, strerror(errno));
	else
		ht_fail(err, cap, "no thread of process %d could be stopped safely in 100 tries "
			"(the last one was %s); the process runs on untouched", (int)t->pid, why);
	return NULL;
}

int ht_inject_write(struct ht_stopped *s, const void *data, size_t n, uintptr_t *at)
{
	uintptr_t top = s->regs.rsp - RED_ZONE, lo = (top - n) & ~(uintptr_t)15;

	if (s->scratch_lo || n > SCRATCH - 64)
		return -1; /* once, and it fits */
	/* what is there is kept, to be put back */
	if (ht_inject_read(s, top - SCRATCH, s->saved, SCRATCH) != 0)
		return -1;
	s->scratch_lo = top - SCRATCH;
	if (write_mem(s, lo, data, n) != 0)
		return -1;
	*at = lo;
	return 0;
}

/* What ended the call: 0 it returned (to 0), -1 with err. */
static int call_wait(struct ht_stopped *s, char *err, size_t cap)
{
	struct user_regs_struct r;

	for (;;) {
		int st = wait_tid(s->tid), sig;

		if (st == -1 || WIFEXITED(st) || WIFSIGNALED(st))
			return ht_fail(err, cap, "process %d ended during the attach", (int)s->pid);
		sig = WSTOPSIG(st);
		if (st >> 16 == PTRACE_EVENT_STOP) {
			/* job control, or our interrupt: the call goes on */
			if (ptrace(PTRACE_CONT, s->tid, 0, 0) != 0)
				return ht_fail(err, cap, "lost thread %d", (int)s->tid);
			continue;
		}
		if (sig == SIGSEGV && ptrace(PTRACE_GETREGS, s->tid, 0, &r) == 0 && r.rip == 0)
			return 0;
		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP)
			return ht_fail(err, cap, "the call faulted (signal %d) in thread %d", sig,
				       (int)s->tid);
		/* not blocked (SIGSTOP's kin): kept for the thread's release */
		s->pending = sig;
		if (ptrace(PTRACE_CONT, s->tid, 0, 0) != 0)
			return ht_fail(err, cap, "lost thread %d", (int)s->tid);
	}
}

int ht_inject_call(struct ht_stopped *s, uintptr_t fn, uint64_t a0, uint64_t a1, uint64_t a2,
		   uint64_t *ret, char *err, size_t cap)
{
	struct user_regs_struct r = s->regs;
	uint64_t zero = 0, mask = ~(uint64_t)0 & ~((uint64_t)1 << (SIGSEGV - 1));
	uintptr_t sp;

	/* below everything written so far, aligned as at a call */
	sp = ((s->regs.rsp - RED_ZONE - SCRATCH - 64) & ~(uintptr_t)15) - 8;
	if (write_mem(s, sp, &zero, sizeof(zero)) != 0)
		return ht_fail(err, cap, "cannot write to the stack of thread %d", (int)s->tid);
	r.rip = fn;
	r.rsp = sp;
	r.rdi = a0;
	r.rsi = a1;
	r.rdx = a2;
	r.rax = 0;
	r.orig_rax = (unsigned long long)-1; /* no system call to restart */
	if (ptrace(PTRACE_SETREGS, s->tid, 0, &r) != 0 ||
	    ptrace(PTRACE_SETSIGMASK, s->tid, (void *)sizeof(mask), &mask) != 0 ||
	    ptrace(PTRACE_CONT, s->tid, 0, 0) != 0)
		return ht_fail(err, cap, "cannot start the call in thread %d: %s", (int)s->tid,
			       strerror(errno));
	if (call_wait(s, err, cap) != 0)
		return -1;
	if (ptrace(PTRACE_GETREGS, s->tid, 0, &r) != 0)
		return ht_fail(err, cap, "cannot read the call's result");
	*ret = r.rax;
	return 0;
}

int64_t ht_inject_release(struct ht_stopped *s)
{
	struct timespec now, since = s->since;

	/* registers as they were: a system call it was blocked in restarts */
	ptrace(PTRACE_SETREGS, s->tid, 0, &s->regs);
	ptrace(PTRACE_SETSIGMASK, s->tid, (void *)sizeof(s->mask), &s->mask);
	if (s->scratch_lo)
		write_mem(s, s->scratch_lo, s->saved, SCRATCH);
	ptrace(PTRACE_DETACH, s->tid, 0, (void *)(long)s->pending);
	clock_gettime(CLOCK_MONOTONIC, &now);
	free(s);
	return (int64_t)(now.tv_sec - since.tv_sec) * 1000000000 + now.tv_nsec - since.tv_nsec;
}
