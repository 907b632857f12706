/* Signal handlers run through the shim (ht_trampoline), so that a thread
 * knows it is in one: a handler that allocates may have interrupted the
 * real allocator, holding its lock, so while one runs (ht_tls.busy, the
 * countdown lowered) its allocations come from the arena and its frees
 * wait. The program sees its own handlers and flags; the longjmp family
 * is wrapped to notice handlers left by a jump. In a process the shim
 * stays out of, every call passes on untouched. */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* The program's handler of each signal: the function, with bit 63 set when
 * it takes three arguments (SA_SIGINFO), and bit 62 while the kernel holds
 * SA_SIGINFO only for the trampoline's sake (it keeps the flag when
 * SA_RESETHAND puts SIG_DFL back). One word, so a handler never reads half
 * of a change. */
#define HT_NSIG 65
#define SIGINFO_BIT (1ull << 63)
#define FORCED_BIT (1ull << 62)
#define FN_OF(e) ((uintptr_t)((e) & ~(SIGINFO_BIT | FORCED_BIT)))
static uint64_t user_act[HT_NSIG];

typedef void (*handler1)(int);
typedef void (*handler3)(int, siginfo_t *, void *);
typedef void (*jump_fn)(void *, int) __attribute__((noreturn));

/* not declared by glibc's headers without their conditions */
handler1 bsd_signal(int, handler1);
void __longjmp_chk(struct __jmp_buf_tag env[1], int val) __attribute__((noreturn));

static struct {
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	handler1 (*signal)(int, handler1);
	handler1 (*sysv_signal)(int, handler1);
	handler1 (*sigset)(int, handler1);
	jump_fn longjmp, siglongjmp, longjmp_chk;
} real;

static void *next(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!f) {
		f = ht_dl_next(name);
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	}
	return f;
}

#define NEXT(field, name) ((__typeof__(real.field))next((void **)&real.field, name))

void ht_signals_resolve(void)
{
	NEXT(sigaction, "sigaction");
	NEXT(signal, "signal");
	NEXT(sysv_signal, "sysv_signal");
	NEXT(sigset, "sigset");
	NEXT(longjmp, "longjmp");
	NEXT(siglongjmp, "siglongjmp");
	NEXT(longjmp_chk, "__longjmp_chk");
}

static uint64_t user_of(int sig)
{
	return sig > 0 && sig < HT_NSIG ? __atomic_load_n(&user_act[sig], __ATOMIC_ACQUIRE) : 0;
}

/* Counts out handlers down to d running: each raises the countdown by the
 * bias it lowered it by, and leaves busy. */
static void handlers_left(struct ht_tls *t, uint32_t d)
{
	uint32_t now = t->busy / HT_IN_HANDLER;

	for (; now > d; now--) {
		if (now - 1 < HT_BIAS_LEVELS)
			ht_countdown_raise(t);
		t->busy -= HT_IN_HANDLER;
	}
}

/* Counts out the handlers whose trampoline's frame is not above here: a
 * frame of a handler still running is, on the same stack (a handler that
 * interrupts a handler runs on the stack that one runs on). */
static void pop_stale(struct ht_tls *t, uintptr_t here)
{
	uint32_t d = t->busy / HT_IN_HANDLER;

	while (d > 0 && d <= HT_HANDLER_FRAMES && t->handler_frame[d - 1] <= here)
		d--;
	handlers_left(t, d);
}

static void ht_trampoline(int sig, siginfo_t *si, void *uc)
{
	struct ht_tls *t = &ht_tls;
	uint64_t a = user_of(sig);
	uintptr_t fn = FN_OF(a);
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	uint32_t level;

	if (fn <= (uintptr_t)SIG_IGN)
		return; /* none recorded: cannot happen, the kernel calls this
			 * only for a signal whose handler was set through here */
	if (t->busy >= HT_IN_HANDLER)
		pop_stale(t, here); /* handlers left by a jump not seen */
	level = t->busy / HT_IN_HANDLER;
	if (level < HT_HANDLER_FRAMES)
		t->handler_frame[level] = here;
	/* busy first, then the countdown, each in one instruction: a handler
	 * that comes in between does the same and undoes it before this
	 * goes on; on the way out, the other way round */
	t->busy += HT_IN_HANDLER;
	if (level < HT_BIAS_LEVELS)
		ht_countdown_lower(t);
	if (a & SIGINFO_BIT)
		((handler3)fn)(sig, si, uc);
	else
		((handler1)fn)(sig);
	/* this handler, and any deeper one left without coming back here */
	handlers_left(t, level);
}

static int is_function(handler1 h)
{
	return h != SIG_DFL && h != SIG_IGN && h != SIG_ERR &&
	       (uintptr_t)h != (uintptr_t)ht_trampoline;
}

/* The program's view of an action the kernel holds: its own handler and
 * flags where the kernel has the trampoline; prev is what user_act held
 * before the call that returned it. */
static void as_set(struct sigaction *old, uint64_t prev)
{
	if (old->sa_sigaction != ht_trampoline) {
		if (prev & FORCED_BIT)
			old->sa_flags &= ~SA_SIGINFO;
		return;
	}
	if (!prev)
		return;
	old->sa_sigaction = (handler3)FN_OF(prev);
	if (!(prev & SIGINFO_BIT))
		old->sa_flags &= ~SA_SIGINFO;
}

HT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int (*f)(int, const struct sigaction *, struct sigaction *) = NEXT(sigaction, "sigaction");
	struct sigaction a;
	uint64_t prev = 0;
	int set = 0, r;

	if (ht_startup_untraced())
		return f(sig, act, old); /* the program's handler, not ours */
	if (sig > 0 && sig < HT_NSIG) {
		prev = user_of(sig);
		if (act && !is_function(act->sa_handler) && (prev & FORCED_BIT)) {
			/* SIG_DFL or SIG_IGN, with the program's own flags; the
			 * handler stays, for a signal already on its way */
			__atomic_store_n(&user_act[sig], prev & ~FORCED_BIT, __ATOMIC_RELEASE);
			set = 1;
		} else if (act && is_function(act->sa_handler)) {
			uint64_t e = (uint64_t)(uintptr_t)act->sa_handler;

			e |= act->sa_flags & SA_SIGINFO ? SIGINFO_BIT : FORCED_BIT;
			/* recorded first: a signal that comes as the kernel
			 * changes over finds this one or the one before */
			__atomic_store_n(&user_act[sig], e, __ATOMIC_RELEASE);
			a = *act;
			a.sa_sigaction = ht_trampoline;
			a.sa_flags |= SA_SIGINFO;
			act = &a;
			set = 1;
		}
	}
	r = f(sig, act, old);
	if (r != 0 && set)
		__atomic_store_n(&user_act[sig], prev, __ATOMIC_RELEASE);
	if (r == 0 && old)
		as_set(old, prev);
	return r;
}

/* After one of the signal() family set sig's action its own way (flags,
 * mask, siginterrupt): the handler it set goes through the trampoline,
 * with the rest unchanged. Returns what the call returned, as the
 * program's handler. A signal in between reaches the handler directly. */
static handler1 rewrap(int sig, handler1 old, uint64_t prev)
{
	struct sigaction cur;

	if (old == SIG_ERR || sig <= 0 || sig >= HT_NSIG)
		return old;
	if (real.sigaction && real.sigaction(sig, NULL, &cur) == 0 && is_function(cur.sa_handler))
		sigaction(sig, &cur, NULL);
	if ((uintptr_t)old == (uintptr_t)ht_trampoline && prev)
		old = (handler1)FN_OF(prev);
	return old;
}

#define SIGNAL_WRAPPER(name, field, sym)                                          \
	HT_EXPORT handler1 name(int sig, handler1 h)                              \
	{                                                                         \
		handler1 (*f)(int, handler1) = NEXT(field, sym);                  \
		uint64_t prev = user_of(sig);                                     \
                                                                                  \
		NEXT(sigaction, "sigaction");                                     \
		if (ht_startup_untraced())                                                \
			return f(sig, h);                                         \
		return rewrap(sig, f(sig, h), prev);                              \
	}

SIGNAL_WRAPPER(signal, signal, "signal")
SIGNAL_WRAPPER(bsd_signal, signal, "signal")
SIGNAL_WRAPPER(sysv_signal, sysv_signal, "sysv_signal")
SIGNAL_WRAPPER(__sysv_signal, sysv_signal, "sysv_signal")
SIGNAL_WRAPPER(sigset, sigset, "sigset")

/* The stack pointer a jump buffer goes back to, or 0 if it cannot be
 * read here. glibc keeps it mangled with the thread's pointer guard. */
static uintptr_t jump_sp(const void *env)
{
#if defined(__x86_64__) && defined(__GLIBC__)
	uintptr_t v = ((const uintptr_t *)env)[6], guard; /* JB_RSP */

	__asm__("mov %%fs:0x30, %0" : "=r"(guard));
	return ((v >> 0x11) | (v << (64 - 0x11))) ^ guard;
#else
	(void)env;
	return 0;
#endif
}

/* A longjmp on a thread in a handler: the handlers whose frames the jump
 * leaves are over. A jump to a frame between here and a handler's
 * trampoline stays inside that handler. */
static void jumping(const void *env)
{
	struct ht_tls *t = &ht_tls;
	uintptr_t to = jump_sp(env), here = (uintptr_t)__builtin_frame_address(0);
	uint32_t d = t->busy / HT_IN_HANDLER;

	while (d > 0 && d <= HT_HANDLER_FRAMES &&
	       !(to && to >= here && to < t->handler_frame[d - 1]))
		d--;
	handlers_left(t, d);
}

#define JUMP_WRAPPER(name, field, sym)                                            \
	HT_EXPORT __attribute__((noreturn)) void name(struct __jmp_buf_tag env[1], int val) \
	{                                                                         \
		jump_fn f = NEXT(field, sym);                                     \
                                                                                  \
		if (ht_unlikely(ht_tls.busy >= HT_IN_HANDLER))                    \
			jumping(env);                                             \
		f(env, val);                                                      \
	}

JUMP_WRAPPER(longjmp, longjmp, "longjmp")
JUMP_WRAPPER(_longjmp, longjmp, "longjmp")
JUMP_WRAPPER(siglongjmp, siglongjmp, "siglongjmp")
JUMP_WRAPPER(__longjmp_chk, longjmp_chk, "__longjmp_chk")

void ht_signals_recheck(struct ht_tls *t)
{
	pop_stale(t, (uintptr_t)__builtin_frame_address(0));
}
