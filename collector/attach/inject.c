/* The ptrace steps on the one stopped thread that makes the calls: write
 * its arguments below its stack, make it call a function, wait for the
 * call with a bound, and abandon it rather than wait forever. */
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

#ifndef PTRACE_SETSIGMASK
#define PTRACE_SETSIGMASK 0x420b
#endif

#define RED_ZONE 128

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

int ht_inject_write(struct ht_stopped *s, const void *data, size_t n, uintptr_t *at)
{
	uintptr_t top = s->th[s->me].regs.rsp - RED_ZONE, lo = (top - n) & ~(uintptr_t)15;

	if (s->scratch_lo || n > HT_SCRATCH - 64)
		return -1; /* once, and it fits */
	/* what is there is kept, to be put back */
	if (ht_inject_read(s, top - HT_SCRATCH, s->saved, HT_SCRATCH) != 0)
		return -1;
	s->scratch_lo = top - HT_SCRATCH;
	if (write_mem(s, lo, data, n) != 0)
		return -1;
	*at = lo;
	return 0;
}


static int64_t ms_since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - a->tv_sec) * 1000 + (now.tv_nsec - a->tv_nsec) / 1000000;
}

/* Waits for tid's next stop or end, until ms from start have passed
 * (SIGCHLD, blocked by the caller, says when a stop comes): its status,
 * 0 on time out, or -1. */
static int wait_until(pid_t tid, const struct timespec *start, int64_t ms)
{
	sigset_t chld;
	int st;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(tid, &st, __WALL | WNOHANG);
		int64_t left = ms - ms_since(start);
		struct timespec ts;

		if (r == tid)
			return st ? st : -1; /* 0 is no stop */
		if (r < 0 && errno != EINTR)
			return -1;
		if (left <= 0)
			return 0;
		if (left > 100)
			left = 100; /* and look again, should a SIGCHLD not come */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000;
		sigtimedwait(&chld, NULL, &ts);
	}
}

/* Stops me where it is, the call abandoned. 0, or -1 if it will not stop. */
static int abandon(struct ht_stopped *s)
{
	pid_t tid = ht_inject_tid(s);
	struct timespec t0;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	s->restart_plain = 1;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
		return -1;
	while ((st = wait_until(tid, &t0, 2000)) > 0 && WIFSTOPPED(st)) {
		if (st >> 16 == PTRACE_EVENT_STOP)
			return 0;
		s->th[s->me].pending = WSTOPSIG(st); /* kept for the release */
		if (ptrace(PTRACE_CONT, tid, 0, 0) != 0)
			return -1;
	}
	return -1;
}

/* What ended the call: 0 it returned (to 0), -1 with err. */
static int call_wait(struct ht_stopped *s, int hold_ms, int timeout_ms, int *abandoned, char *err,
		     size_t cap)
{
	pid_t tid = ht_inject_tid(s);
	struct user_regs_struct r;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int st = wait_until(tid, &t0, s->others_gone ? timeout_ms : hold_ms), sig;

		if (st == 0 && !s->others_gone) {
			/* one of them may hold what it waits for */
			ht_stop_others_go(s);
			continue;
		}
		if (st == 0) {
			*abandoned = 1;
			if (abandon(s) != 0)
				return ht_fail(err, cap, "the call in thread %d did not return in %d ms "
					       "and the thread cannot be stopped", (int)tid, timeout_ms);
			return ht_fail(err, cap, "the call in thread %d did not return in %d ms: "
				       "abandoned, the thread put back where it was", (int)tid,
				       timeout_ms);
		}
		if (st == -1 || WIFEXITED(st) || WIFSIGNALED(st))
			return ht_fail(err, cap, "process %d ended during the attach", (int)s->pid);
		sig = WSTOPSIG(st);
		if (st >> 16 == PTRACE_EVENT_STOP) {
			/* job control: the call goes on, the stop comes after */
			s->restart_plain = 1;
			if (ptrace(PTRACE_CONT, tid, 0, 0) != 0)
				return ht_fail(err, cap, "lost thread %d", (int)tid);
			continue;
		}
		if (sig == SIGSEGV && ptrace(PTRACE_GETREGS, tid, 0, &r) == 0 && r.rip == 0)
			return 0;
		if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP)
			return ht_fail(err, cap, "the call faulted (signal %d) in thread %d", sig,
				       (int)tid);
		/* not blocked (SIGSTOP's kin): kept for the thread's release */
		s->th[s->me].pending = sig;
		if (ptrace(PTRACE_CONT, tid, 0, 0) != 0)
			return ht_fail(err, cap, "lost thread %d", (int)tid);
	}
}

int ht_inject_call(struct ht_stopped *s, uintptr_t fn, uint64_t a0, uint64_t a1, uint64_t a2,
		   uint64_t *ret, int hold_ms, int timeout_ms, int *abandoned, char *err,
		   size_t cap)
{
	const struct ht_thread *me = &s->th[s->me];
	struct user_regs_struct r = me->regs;
	uint64_t zero = 0, mask = ~(uint64_t)0 & ~((uint64_t)1 << (SIGSEGV - 1));
	sigset_t chld, old;
	uintptr_t sp;
	int rc;

	/* below everything written so far, aligned as at a call */
	sp = ((me->regs.rsp - RED_ZONE - HT_SCRATCH - 64) & ~(uintptr_t)15) - 8;
	if (write_mem(s, sp, &zero, sizeof(zero)) != 0)
		return ht_fail(err, cap, "cannot write to the stack of thread %d", (int)me->tid);
	r.rip = fn;
	r.rsp = sp;
	r.rdi = a0;
	r.rsi = a1;
	r.rdx = a2;
	r.rax = 0;
	r.orig_rax = (unsigned long long)-1; /* no system call to restart */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	if (ptrace(PTRACE_SETREGS, me->tid, 0, &r) != 0 ||
	    ptrace(PTRACE_SETSIGMASK, me->tid, (void *)sizeof(mask), &mask) != 0 ||
	    ptrace(PTRACE_CONT, me->tid, 0, 0) != 0)
		rc = ht_fail(err, cap, "cannot start the call in thread %d: %s", (int)me->tid,
			     strerror(errno));
	else
		rc = call_wait(s, hold_ms, timeout_ms, abandoned, err, cap);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc == 0 && ptrace(PTRACE_GETREGS, me->tid, 0, &r) != 0)
		rc = ht_fail(err, cap, "cannot read the call's result");
	if (rc == 0)
		*ret = r.rax;
	return rc;
}
