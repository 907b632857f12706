/* Stopping the whole target: every thread seized and interrupted, the
 * task list read again until none is missed; kept stopped only where no
 * thread is inside the C library's allocator or the dynamic loader and
 * none holds the loader's locks, so that the call one of them makes can
 * take every lock it needs; let go again, each thread with its signals. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/attach.h"
#include "lib/util.h"

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif

#define TRIES 100

static int64_t ns_since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - a->tv_sec) * 1000000000 + now.tv_nsec - a->tv_nsec;
}

static int have(const struct ht_stopped *s, pid_t tid)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (s->th[i].tid == tid)
			return 1;
	return 0;
}

/* Seizes and interrupts the threads of the task list not in s yet (they
 * are added; their stops are waited for by wait_new). Returns how many
 * were new, or -1 (errno: EPERM refused, ESRCH the process is gone). */
static int seize_new(struct ht_stopped *s)
{
	char path[64];
	struct dirent *e;
	int added = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
	d = opendir(path);
	if (!d) {
		errno = ESRCH;
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid <= 0 || have(s, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0) {
			if (errno == ESRCH)
				continue; /* it ended meanwhile */
			closedir(d);
			return -1;
		}
		if (!s->n)
			clock_gettime(CLOCK_MONOTONIC, &s->since);
		ptrace(PTRACE_INTERRUPT, tid, 0, 0);
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 16;
			s->th = ht_xrealloc(s->th, (size_t)s->cap * sizeof(*s->th));
		}
		memset(&s->th[s->n], 0, sizeof(s->th[0]));
		s->th[s->n++].tid = tid;
		added++;
	}
	closedir(d);
	return added;
}

/* Waits for thread i's interrupt stop. A signal that comes first is
 * delivered at once, as it came. 0 stopped; 1 it ended (dropped from s);
 * -1 the process was stopped by job control (errno EAGAIN) or is lost. */
static int wait_stop(struct ht_stopped *s, int i)
{
	pid_t tid = s->th[i].tid;
	int st;

	for (;;) {
		while (waitpid(tid, &st, __WALL) < 0)
			if (errno != EINTR)
				goto gone;
		if (!WIFSTOPPED(st))
			goto gone;
		s->th[i].waited = 1;
		if (st >> 16 == PTRACE_EVENT_STOP && WSTOPSIG(st) == SIGTRAP)
			return 0;
		if (st >> 16 == PTRACE_EVENT_STOP) {
			errno = EAGAIN; /* a group stop: the process stays stopped */
			return -1;
		}
		/* a signal-delivery stop: the signal goes on as it came */
		s->th[i].waited = 0;
		if (ptrace(PTRACE_CONT, tid, 0, (void *)(long)WSTOPSIG(st)) != 0)
			goto gone;
	}
gone:
	s->th[i] = s->th[--s->n];
	return 1;
}

/* Lets thread i go: detached, with its pending signal. One whose stop was
 * not seen yet is waited for first (it cannot be detached running); a
 * signal it was stopped for goes on with it. */
static void let_go(struct ht_stopped *s, int i)
{
	struct ht_thread *h = &s->th[i];
	int st;

	if (!h->waited) {
		while (waitpid(h->tid, &st, __WALL) < 0)
			if (errno != EINTR)
				return;
		if (!WIFSTOPPED(st))
			return;
		if (st >> 16 == 0)
			h->pending = WSTOPSIG(st);
	}
	ptrace(PTRACE_DETACH, h->tid, 0, (void *)(long)h->pending);
}

static void let_all_go(struct ht_stopped *s)
{
	int i;

	for (i = 0; i < s->n; i++)
		let_go(s, i);
	s->n = 0;
}

/* Stops every thread. 0, or -1 (errno) with none kept stopped. */
static int stop_all(struct ht_stopped *s)
{
	int i = 0, k, rc;

	s->n = 0;
	do {
		k = seize_new(s);
		if (k < 0)
			break;
		for (; i < s->n; i++) {
			rc = wait_stop(s, i);
			if (rc < 0) {
				k = -1;
				break;
			}
			if (rc > 0)
				i--; /* another one in its place */
		}
	} while (k > 0);
	if (k < 0 || !s->n) {
		int e = k < 0 ? errno : ESRCH;

		let_all_go(s);
		errno = e;
		return -1;
	}
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

/* System calls a thread may be blocked in while another calls dlopen:
 * they wait for input, time or children, and hold no lock of the C
 * library's allocator or loader (futex too, but not in a lock wait;
 * restart_syscall resumes a sleep or a wait that a stop interrupted). */
static int idle_syscall(long nr)
{
	static const long ok[] = {
		0 /* read */, 1 /* write */, 7 /* poll */, 17 /* pread64 */, 19 /* readv */,
		20 /* writev */, 23 /* select */, 34 /* pause */, 35 /* nanosleep */,
		43 /* accept */, 44 /* sendto */, 45 /* recvfrom */, 46 /* sendmsg */,
		47 /* recvmsg */, 61 /* wait4 */, 128 /* rt_sigtimedwait */,
		130 /* rt_sigsuspend */, 202 /* futex */, 219 /* restart_syscall */, 230 /* clock_nanosleep */,
		232 /* epoll_wait */, 247 /* waitid */, 270 /* pselect6 */, 271 /* ppoll */,
		281 /* epoll_pwait */, 288 /* accept4 */, 299 /* recvmmsg */, 441 /* epoll_pwait2 */,
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (nr == ok[i])
			return 1;
	return 0;
}

static int read_mem(pid_t pid, uintptr_t addr, void *out, size_t n)
{
	struct iovec l = { out, n }, r = { (void *)addr, n };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -1;
}

/* Is the thread blocked in a system call (stopped right after its
 * syscall instruction)? Its number, or -1. */
static long in_syscall(pid_t pid, const struct user_regs_struct *r)
{
	unsigned char ins[2];

	if ((long)r->orig_rax < 0 || read_mem(pid, r->rip - 2, ins, 2) != 0 || ins[0] != 0x0f ||
	    ins[1] != 0x05)
		return -1;
	return (long)r->orig_rax;
}

/* Is this stopped thread where dlopen on another may run beside it? Else
 * why not, in *why. */
static int safe_here(const struct ht_target *t, pid_t pid, const struct user_regs_struct *r,
		     const char **why)
{
	uintptr_t pc = r->rip;
	long nr;

	if (in(t->loader, t->nloader, pc)) {
		*why = "running in the dynamic loader";
		return 0;
	}
	if (!in(t->unsafe, t->nunsafe, pc))
		return 1;
	nr = in_syscall(pid, r);
	if (nr < 0) {
		*why = "running in the C library, the loader or the allocator";
		return 0;
	}
	if (!idle_syscall(nr) || in(&t->lockwait, 1, pc)) {
		*why = "in a system call of the allocator's or the loader's";
		return 0;
	}
	return 1;
}

/* Does a thread of s hold one of the loader's locks (its pthread mutexes
 * in _rtld_global: lock word, count, then the owner's thread id)? */
static int loader_locked(const struct ht_target *t, const struct ht_stopped *s)
{
	static int32_t w[4096];
	size_t n = t->rtld_global_size / 4, i;

	if (!t->rtld_global || n > sizeof(w) / 4 || read_mem(s->pid, t->rtld_global, w, n * 4) != 0)
		return 0; /* not known: the allocator checks alone */
	for (i = 0; i + 2 < n; i += 2) /* 8-aligned in the struct */
		if (w[i] > 0 && w[i] <= 2 && w[i + 2] > 0 && have(s, w[i + 2]))
			return 1;
	return 0;
}

/* Reads every thread's registers and checks them: 1 all safe (me chosen),
 * 0 not now (*why), -1 a thread cannot be read. */
static int all_safe(const struct ht_target *t, struct ht_stopped *s, const char **why)
{
	int i, idle = -1;

	for (i = 0; i < s->n; i++) {
		struct ht_thread *h = &s->th[i];

		if (ptrace(PTRACE_GETREGS, h->tid, 0, &h->regs) != 0)
			return -1;
		if (!safe_here(t, s->pid, &h->regs, why))
			return 0;
		if (idle < 0 && in_syscall(s->pid, &h->regs) >= 0)
			idle = i; /* blocked anyway: its work waits least */
	}
	if (loader_locked(t, s)) {
		*why = "holding the dynamic loader's lock";
		return 0;
	}
	s->me = idle >= 0 ? idle : 0;
	for (i = 0; idle < 0 && i < s->n; i++)
		if (s->th[i].tid == s->pid)
			s->me = i; /* else the main thread */
	return 1;
}

static struct ht_stopped *give_up(struct ht_stopped *s, const struct ht_target *t, int rc,
				  const char *why, char *err, size_t cap)
{
	if (rc < 0 && errno == EPERM)
		ht_proc_why_eperm(t, err, cap);
	else if (rc < 0 && errno == EAGAIN)
		ht_fail(err, cap, "process %d was stopped (job control) while being attached to; "
			"it stays stopped, untouched", (int)t->pid);
	else if (rc < 0)
		ht_fail(err, cap, "cannot attach to process %d: %s", (int)t->pid,
			errno == ESRCH ? "it ended" : strerror(errno));
	else
		ht_fail(err, cap, "no moment when every thread of process %d was outside the allocator "
			"and the loader in %d tries (a thread was %s); the process runs on untouched",
			(int)t->pid, TRIES, why);
	free(s->th);
	free(s);
	return NULL;
}

/* While the threads are stopped, heaptrace-attach runs at the lowest
 * real-time priority if it may (root, CAP_SYS_NICE): on a busy machine, a
 * thread it has just let go (or another program) would otherwise take its
 * CPU while the others still wait to be let go. It only ever waits or
 * makes system calls, so it cannot take a CPU for long. */
static int boosted;

static void boost(int on)
{
	struct sched_param sp = { .sched_priority = on ? 1 : 0 };

	if (on != boosted && sched_setscheduler(0, on ? SCHED_FIFO : SCHED_OTHER, &sp) == 0)
		boosted = on;
}

struct ht_stopped *ht_inject_stop(const struct ht_target *t, char *err, size_t cap)
{
	struct ht_stopped *s = ht_xcalloc(1, sizeof(*s));
	const char *why = "not to be stopped";
	int rc = 0;

	s->pid = t->pid;
	boost(1);
	while (rc == 0 && s->tries < TRIES) {
		if (s->tries++)
			usleep(10000);
		if (stop_all(s) != 0) {
			rc = -1;
			break;
		}
		s->stopping_ns = ns_since(&s->since);
		rc = all_safe(t, s, &why);
		if (rc == 1 && ptrace(PTRACE_GETSIGMASK, s->th[s->me].tid, (void *)sizeof(s->mask),
				      &s->mask) != 0)
			rc = -1;
		if (rc != 1) {
			int e = errno;

			let_all_go(s);
			errno = e;
		}
	}
	if (rc != 1)
		boost(0);
	return rc == 1 ? s : give_up(s, t, rc, why, err, cap);
}

void ht_stop_others_go(struct ht_stopped *s)
{
	int i;

	if (s->others_gone)
		return;
	for (i = 0; i < s->n; i++)
		if (i != s->me)
			let_go(s, i);
	s->others_ns = ns_since(&s->since);
	s->others_gone = 1;
}

#define ERESTART_RESTARTBLOCK 516

int64_t ht_inject_release(struct ht_stopped *s)
{
	struct ht_thread *me = &s->th[s->me];
	int64_t paused;

	/* A sleep or timed wait the kernel would resume from the thread's
	 * restart block (nanosleep, poll, a futex wait with a timeout) ends
	 * as at a signal, with EINTR, if a call may have left a block of its
	 * own there (a stop interrupted it): resumed, it would wait for the
	 * call's time, not its own. Programs handle EINTR from these. */
	if (s->restart_plain && (long long)me->regs.orig_rax >= 0 &&
	    (long long)me->regs.rax == -ERESTART_RESTARTBLOCK) {
		me->regs.rax = (unsigned long long)-EINTR;
		me->regs.orig_rax = (unsigned long long)-1;
	}
	/* registers as they were: a system call it was blocked in restarts */
	ptrace(PTRACE_SETREGS, me->tid, 0, &me->regs);
	ptrace(PTRACE_SETSIGMASK, me->tid, (void *)sizeof(s->mask), &s->mask);
	if (s->scratch_lo) {
		struct iovec l = { s->saved, HT_SCRATCH }, r = { (void *)s->scratch_lo, HT_SCRATCH };

		process_vm_writev(s->pid, &l, 1, &r, 1, 0);
	}
	if (!s->others_gone) {
		let_all_go(s);
		paused = ns_since(&s->since);
	} else {
		let_go(s, s->me);
		paused = s->others_ns;
	}
	boost(0);
	free(s->th);
	free(s);
	return paused;
}

pid_t ht_inject_tid(const struct ht_stopped *s)
{
	return s->th[s->me].tid;
}
