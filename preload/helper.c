/* The helper thread: requests of the collector are served on the sampled
 * path, which a program that makes no allocation never reaches; this
 * thread, asleep on a futex word of the shared memory, serves the trim
 * there. It blocks every signal (the program's go to its own threads),
 * holds no lock of the shim's, and is stopped around the calls a process
 * with more than one thread may not make (unshare, setns). */
#include <dlfcn.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/single_threaded.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define HELPER_STACK ((size_t)256 << 10)

static struct {
	pthread_t th;
	int running;   /* the thread exists in this process */
	int stop;      /* asks it to end */
	int stopped;   /* stopped for unshare or setns: start again later */
	int failed;    /* could not be created: not tried again */
} helper;

static void *helper_main(void *arg)
{
	struct ht_shm *shm = arg;

	/* not the program's: its calls, if any, count nowhere and are never
	 * sampled */
	ht_thread_off(&ht_tls);
	ht_tls.self++;
	for (;;) {
		uint32_t kick = __atomic_load_n(&shm->trim_kick, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&helper.stop, __ATOMIC_ACQUIRE))
			break;
		if (__atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) == HT_TR_ON &&
		    ht_mstats_trim_due())
			ht_mstats_trim();
		/* a kick since it was read: no sleep */
		syscall(SYS_futex, &shm->trim_kick, FUTEX_WAIT, kick, NULL, NULL, 0);
	}
	return NULL;
}

void ht_helper_start(void)
{
	pthread_attr_t a;
	sigset_t all, old;
	struct ht_tls *t = &ht_tls;

	if (helper.running || !ht_core.shm)
		return;
	helper.stop = 0;
	helper.stopped = 0;
	/* glibc's thread set-up allocates: the shim's own, from the arena,
	 * not counted */
	ht_own_enter(t);
	if (pthread_attr_init(&a) == 0) {
		pthread_attr_setstacksize(&a, HELPER_STACK);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited */
		if (pthread_create(&helper.th, &a, helper_main, ht_core.shm) == 0) {
			helper.running = 1;
			pthread_setname_np(helper.th, "heaptrace");
		} else {
			helper.failed = 1;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&a);
	}
	ht_own_leave(t);
}

void ht_helper_forget(void)
{
	helper.running = 0;
	helper.stopped = 0;
	helper.failed = 0;
}

void ht_helper_stop(void)
{
	struct ht_shm *shm = ht_core.shm;

	if (!helper.running || !shm)
		return;
	__atomic_store_n(&helper.stop, 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&shm->trim_kick, 1, __ATOMIC_ACQ_REL);
	syscall(SYS_futex, &shm->trim_kick, FUTEX_WAKE, 1, NULL, NULL, 0);
	ht_tls.self++;
	pthread_join(helper.th, NULL);
	ht_tls.self--;
	helper.running = 0;
	helper.stopped = 1;
}

/* A program of one thread gets no helper unless HEAPTRACE_TRIM_IDLE says
 * so: a second thread turns off glibc's single-thread fast paths (its
 * malloc and free take their locks), which cost python3 and sqlite3 1-2%
 * of their time. A program with threads of its own pays that already. */
int ht_helper_wanted(void)
{
	return !helper.running && !helper.failed && !helper.stopped &&
	       (!__libc_single_threaded || ht_core.trim_idle);
}

void ht_helper_resume(void)
{
	if (helper.running || helper.failed ||
	    __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE) != HT_TR_ON)
		return;
	/* one that stepped aside for unshare or setns comes back for a trim;
	 * a program of one thread gets none unless asked (ht_helper_wanted) */
	if (helper.stopped) {
		if (!__atomic_load_n(&ht_core.shm->trim_wanted, __ATOMIC_RELAXED))
			return;
	} else if (__libc_single_threaded && !ht_core.trim_idle) {
		return;
	}
	ht_helper_start();
}

/* The calls that fail (EINVAL) in a process with more than one thread:
 * the helper ends first, and comes back at a sampled allocation. */
HT_EXPORT int unshare(int flags)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))ht_dl_next("unshare");
	if (!real)
		return -1;
	if (!ht_startup_untraced() &&
	    (flags & (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)))
		ht_helper_stop();
	if (flags & CLONE_NEWNS)
		ht_before_confine();
	return real(flags);
}

HT_EXPORT int setns(int fd, int nstype)
{
	static int (*real)(int, int);

	if (!real)
		real = (int (*)(int, int))ht_dl_next("setns");
	if (!real)
		return -1;
	if (!ht_startup_untraced() && (nstype == 0 || (nstype & (CLONE_NEWUSER | CLONE_NEWNS))))
		ht_helper_stop();
	if (nstype == 0 || (nstype & CLONE_NEWNS))
		ht_before_confine();
	return real(fd, nstype);
}
