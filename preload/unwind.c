/* libunwind is loaded when a walk first needs it, not at start-up: a
 * short program that never samples (most of what a shell script or a
 * build runs) does not pay for mapping it and liblzma, which it needs
 * (about 90 us of a traced exec here). The thread whose walk needs it
 * loads it, inside the allocation being sampled, but never in a signal
 * handler, nor while the loader is part way through loading something
 * (its list of objects not consistent: the allocation is the loader's
 * own), and no thread waits more than a moment for another's loading,
 * which may wait for the loader's lock that this thread holds. A walk
 * that needs it before it is there keeps the allocation's caller alone
 * (stacks.c), counted, and the next one tries again. */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <sched.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "internal.h"
#include "unwind.h"

struct ht_unw ht_unw;
enum { NOT_TRIED, LOADING, READY, FAILED };
static int state;

/* libunwind's names for the functions its header names unw_*: the
 * macros of <libunwind.h>, expanded, as strings */
#define NAME_OF(f) NAME_OF_(f)
#define NAME_OF_(f) #f

/* (the program's pending dlerror() kept, see dlerr.c) */
static int load(void)
{
	struct ht_unw u;
	void *saved = ht_dlerr_aside(), *h;

	h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!h) {
		ht_dlerr_back(saved);
		return -1;
	}
	*(void **)&u.getcontext = dlsym(h, NAME_OF(unw_tdep_getcontext));
	*(void **)&u.init_local = dlsym(h, NAME_OF(unw_init_local));
	*(void **)&u.step = dlsym(h, NAME_OF(unw_step));
	*(void **)&u.get_reg = dlsym(h, NAME_OF(unw_get_reg));
	*(void **)&u.is_signal_frame = dlsym(h, NAME_OF(unw_is_signal_frame));
	*(void **)&u.backtrace = dlsym(h, NAME_OF(unw_backtrace));
	ht_dlerr_back(saved);
	if (!u.getcontext || !u.init_local || !u.step || !u.get_reg || !u.is_signal_frame ||
	    !u.backtrace)
		return -1;
	ht_unw = u;
	return 0;
}

int ht_unw_loaded(void)
{
	return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == READY;
}

int ht_unw_ready(void)
{
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE), e, i;

	if (ht_likely(s == READY))
		return 1;
	if (s == FAILED || ht_tls.busy >= HT_IN_HANDLER ||
	    __atomic_load_n(&_r_debug.r_state, __ATOMIC_ACQUIRE) != RT_CONSISTENT)
		return 0;
	if (s == NOT_TRIED &&
	    __atomic_compare_exchange_n(&state, &s, LOADING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		/* what the loader and libunwind allocate meanwhile is the
		 * shim's own, from the arena: neither counted nor traced */
		e = errno;
		ht_own_enter(&ht_tls);
		s = load() == 0 ? READY : FAILED;
		ht_own_leave(&ht_tls);
		errno = e;
		__atomic_store_n(&state, s, __ATOMIC_RELEASE);
		if (s == FAILED)
			ht_say("cannot load libunwind: each stack it would walk is the "
			       "allocation's caller alone (heaptrace.stacks_cut_short counts them)");
		return s == READY;
	}
	/* another thread loads it: a moment, not longer */
	for (i = 0; i < 64 && __atomic_load_n(&state, __ATOMIC_ACQUIRE) == LOADING; i++)
		sched_yield();
	return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == READY;
}

void ht_unw_forked(void)
{
	int s = LOADING;

	__atomic_compare_exchange_n(&state, &s, NOT_TRIED, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
