/* The lazy start: a traced process starts its collector at its first
 * sample, not at its start; until then it keeps the shared memory's
 * descriptor for it, and a process that ends before writes its final
 * snapshot itself (final.c), at its exit or before exec, _exit or abort
 * (exec.c). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

static struct {
	/* the shared memory's descriptor, kept for the collector, and what
	 * it is (the program may close it) */
	int memfd;
	dev_t dev;
	ino_t ino;
	int coll;                  /* COLL_*: whether the collector was started */
	pid_t pid;                 /* the process that set it up */
	int sampled;               /* a signal handler sampled before it was */
	int output_default;        /* the final snapshot's path, as the collector */
	char output[HT_PATH_MAX];  /* would have been told it at start-up */
	char written[HT_PATH_MAX]; /* the file written before an exec that failed */
} lz = { .memfd = -1 };

/* lz.coll: not started, being started by one thread, running, never to be
 * (it failed, or the process wrote its own), or not to be started because
 * the program closed its descriptor (the process writes its own snapshot
 * at its end, from the counts). */
enum { COLL_NONE, COLL_STARTING, COLL_UP, COLL_NEVER, COLL_LOST };

void ht_lazy_output(const char *path, int is_default)
{
	snprintf(lz.output, sizeof(lz.output), "%s", path);
	lz.output_default = is_default;
}

const char *ht_lazy_path(void)
{
	return lz.output;
}

/* Is fd still the shared memory's descriptor (a regular file, the memfd
 * with dev and ino, close-on-exec)? As still_ours, for a lazy start. */
static int still_memfd(int fd)
{
	struct stat st;
	int fl;

	if (fd < 0)
		return 0;
	fl = fcntl(fd, F_GETFD);
	return fl >= 0 && (fl & FD_CLOEXEC) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	       st.st_dev == lz.dev && st.st_ino == lz.ino;
}

/* Forgets the descriptor a lazy start kept, closing it if it is ours. */
static void forget(void)
{
	if (still_memfd(lz.memfd))
		close(lz.memfd);
	lz.memfd = -1;
}

/* A lazy start: the collector is started at the first sample (or at the
 * exit, if a signal handler sampled first), on this descriptor; a process
 * that exits before writes its final snapshot itself (final.c). */
int ht_lazy_keep(int memfd)
{
	struct stat st;

	if (fstat(memfd, &st) != 0) {
		ht_say("cannot stat shared memory: %s; tracing is off", strerror(errno));
		return -1;
	}
	lz.memfd = memfd;
	lz.pid = getpid();
	lz.dev = st.st_dev;
	lz.ino = st.st_ino;
	lz.coll = COLL_NONE;
	ht_spawn_prepare();
	ht_final_check_dir(lz.output);
	ht_spawn_record('L', "");
	ht_core.lazy = 1;
	return 0;
}

void ht_lazy_start(void)
{
	int st = COLL_NONE;

	if (ht_tls.busy >= HT_IN_HANDLER) {
		/* not from a handler, which may have interrupted anything:
		 * the next sample, or the exit, starts it */
		lz.sampled = 1;
		return;
	}
	if (lz.pid != (pid_t)syscall(SYS_getpid))
		return; /* a child of vfork, which shares our memory: not its to start */
	if (!__atomic_compare_exchange_n(&lz.coll, &st, COLL_STARTING, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	if (!still_memfd(lz.memfd)) {
		/* the counts go on, and the final snapshot has them */
		ht_say("the program closed the shared memory's descriptor before its first sample: "
		       "its collector cannot start; nothing is sampled, the final snapshot has the "
		       "counts only");
		lz.memfd = -1;
		__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
		__atomic_store_n(&lz.coll, COLL_LOST, __ATOMIC_RELEASE);
		return;
	} else if (ht_startup_spawn(lz.memfd) == 0) {
		lz.memfd = -1; /* the collector has it */
		__atomic_store_n(&ht_core.lazy, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&lz.coll, COLL_UP, __ATOMIC_RELEASE);
		return;
	} else {
		forget();
	}
	__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
	__atomic_store_n(&lz.coll, COLL_NEVER, __ATOMIC_RELEASE);
}

/* The end of a process started lazily: if its collector was never
 * started, and nothing waits in the ring for one (a signal handler's
 * sample), the process writes its final snapshot itself and returns 1
 * (tracing is then off); else 0, once a collector that another thread was
 * starting runs, or this one has started it, to be waited for as usual.
 * cut_short: the process does not exit (it execs). */
int ht_lazy_ends_here(void)
{
	int st = __atomic_load_n(&lz.coll, __ATOMIC_ACQUIRE);

	return __atomic_load_n(&ht_core.lazy, __ATOMIC_ACQUIRE) && ht_core.shm &&
	       lz.pid == (pid_t)syscall(SYS_getpid) &&
	       ((st == COLL_NONE &&
		 __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) == HT_TR_ON) ||
		st == COLL_LOST);
}

int ht_lazy_end(int cut_short)
{
	int st = __atomic_load_n(&lz.coll, __ATOMIC_ACQUIRE);

	if (!ht_core.shm)
		return 0;
	while ((st == COLL_NONE || st == COLL_LOST) &&
	       !__atomic_compare_exchange_n(&lz.coll, &st, COLL_NEVER, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE))
		;
	if (st == COLL_NONE || st == COLL_LOST) {
		if (st == COLL_NONE && lz.sampled && !cut_short) {
			__atomic_store_n(&lz.coll, COLL_NONE, __ATOMIC_RELEASE);
			ht_lazy_start();
			return __atomic_load_n(&lz.coll, __ATOMIC_ACQUIRE) != COLL_UP;
		}
		__atomic_store_n(&ht_core.tracing, HT_TR_OFF, __ATOMIC_RELEASE);
		ht_tls.self++;
		ht_mstats_refresh(1);
		if (ht_final_write(lz.output, lz.output_default, cut_short, lz.written,
				   sizeof(lz.written)) != 0)
			lz.written[0] = 0;
		if (!cut_short)
			forget(); /* else the exec closes it, or it failed */
		ht_tls.self--;
		return 1;
	}
	while (__atomic_load_n(&lz.coll, __ATOMIC_ACQUIRE) == COLL_STARTING) {
		struct timespec ts = { 0, 100000 };

		nanosleep(&ts, NULL);
	}
	return __atomic_load_n(&lz.coll, __ATOMIC_ACQUIRE) != COLL_UP;
}

void ht_lazy_exec_failed(void)
{
	if (lz.written[0]) {
		/* the file is this process's own now: replaced, not kept */
		memcpy(lz.output, lz.written, sizeof(lz.output));
		lz.output_default = 0;
		memcpy(ht_core.shm->output, lz.written, sizeof(ht_core.shm->output));
		ht_core.shm->output_default = 0;
	}
	__atomic_store_n(&lz.coll, COLL_NONE, __ATOMIC_RELEASE);
	__atomic_store_n(&ht_core.tracing, HT_TR_ON, __ATOMIC_RELEASE);
}

void ht_lazy_forget(void)
{
	forget();
	lz.coll = COLL_NONE;
	lz.sampled = 0;
}

/* Before the process shuts itself in (chroot, a mount namespace of its
 * own or another's: a daemon's privilege separation), where the
 * collector's program and libunwind's file may be out of its reach: the
 * collector starts now, as at a first sample, and libunwind is loaded. */
void ht_before_confine(void)
{
	if (ht_startup_untraced() ||
	    __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON)
		return;
	ht_unw_ready();
	if (__atomic_load_n(&ht_core.lazy, __ATOMIC_ACQUIRE))
		ht_lazy_start();
}

HT_EXPORT int chroot(const char *path)
{
	ht_before_confine();
	return (int)syscall(SYS_chroot, path);
}
