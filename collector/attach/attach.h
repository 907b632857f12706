/* heaptrace-attach's parts: the target process as /proc shows it, symbols
 * of the ELF files it maps, and the ptrace steps that make one of its
 * threads call a function. x86-64 Linux only. */
#ifndef HT_ATTACH_H
#define HT_ATTACH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- elfsym.c: dynamic symbols of an ELF file --------------------------- */

/* A symbol defined in path's dynamic symbol table (the default version
 * when there are several): its value and size, and the file's first
 * loadable segment's address (to place it: value - vaddr + the mapping's
 * start). Returns 0, or -1 if the file cannot be read or does not define
 * name. */
int ht_elf_symbol(const char *path, const char *name, uint64_t *value, uint64_t *size,
		  uint64_t *first_vaddr);

/* ---- proc.c: the target process ----------------------------------------- */

#define HT_MAX_RANGES 64

struct ht_range {
	uintptr_t lo, hi;
};

/* What heaptrace-attach needs to know of the target, from /proc. */
struct ht_target {
	pid_t pid;
	char comm[64];
	char libc[4200];         /* its C library's file (see struct mod in proc.c) */
	uintptr_t libc_base;     /* where it is loaded (its first mapping's start) */
	char shim[4096];         /* libheaptrace.so, as heaptrace-attach loads it */
	uintptr_t shim_base;     /* 0: not loaded */
	char shim_file[4200];    /* the one loaded, the same way */
	/* code where no thread may be stopped to call dlopen: the C library,
	 * the loader, the shim, an allocator of the program's own */
	struct ht_range unsafe[HT_MAX_RANGES];
	int nunsafe;
	struct ht_range loader[4];   /* the dynamic loader's code: never, even in a system call */
	int nloader;
	struct ht_range lockwait;    /* the C library's internal lock wait (futex) */
	char ld[4200];               /* the loader's file */
	uintptr_t ld_base;
	/* the loader's _rtld_global, where its locks are (0: not found) */
	uintptr_t rtld_global;
	size_t rtld_global_size;
};

/* Checks that pid may be attached to (it exists, is a 64-bit x86 process
 * with the C library, not in secure-execution mode, not stopped, not
 * under a debugger, and the permissions allow it) and fills t from its
 * maps; shim is the path of libheaptrace.so. Returns 0, or -1 with one
 * line in err (cap bytes). */
int ht_proc_check(pid_t pid, const char *shim, struct ht_target *t, char *err, size_t cap);

/* Why PTRACE_SEIZE was refused (errno EPERM): which permission, setting
 * or capability is missing. */
void ht_proc_why_eperm(const struct ht_target *t, char *err, size_t cap);

/* Where Yama's ptrace_scope is read. Used in unit tests. */
extern const char *ht_proc_yama;

/* ---- stop.c: every thread of the target, stopped ------------------------- */

#include <sys/user.h>
#include <time.h>

#define HT_SCRATCH 4096 /* what ht_inject_write may use below the red zone */

/* One thread of the target, stopped by ptrace (seized, interrupted). */
struct ht_thread {
	pid_t tid;
	struct user_regs_struct regs; /* as it was stopped */
	int pending;                  /* a signal that came meanwhile, to give it when it goes */
	int waited;                   /* its stop was seen (else it may still be running) */
};

/* The target with all its threads stopped, and the one of them that
 * makes the calls (me): shared by stop.c and inject.c. */
struct ht_stopped {
	pid_t pid;
	struct ht_thread *th;
	int n, cap, me;
	int others_gone;              /* the others were let go before the call ended */
	int restart_plain;            /* a stop came during a call: me's restart block may be
				       * the call's, not its own (see ht_inject_release) */
	uint64_t mask;                /* me's signal mask when stopped */
	unsigned char saved[HT_SCRATCH]; /* me's stack below its red zone, before */
	uintptr_t scratch_lo;         /* lowest byte written so far, 0 if none */
	struct timespec since;        /* the first thread's stop */
	int64_t stopping_ns;          /* how long stopping them all took */
	int64_t others_ns;            /* how long the others were stopped, once let go */
	int tries;                    /* the stops it took (the others let go at once) */
};

/* Stops every thread of t: each is seized and interrupted, and the task
 * list read again until it holds no thread not stopped yet. Keeps them
 * stopped if none is inside the C library, the dynamic loader, the shim
 * or an allocator (a thread blocked in a system call that waits for
 * input, time or children, not in a lock wait, excepted; never in the
 * loader) and none holds the loader's locks; else lets them all go,
 * waits 10 ms and tries again, 100 times at most. Signals that come while
 * a thread is being stopped are delivered unchanged. Returns the stopped
 * process, with me the thread to make the calls (one blocked in such a
 * system call if there is one), or NULL with one line in err. */
struct ht_stopped *ht_inject_stop(const struct ht_target *t, char *err, size_t cap);

/* Lets every thread but me go (a call takes too long: one of them may hold
 * what it waits for). Idempotent. */
void ht_stop_others_go(struct ht_stopped *s);

/* Puts back me's registers, signal mask and stack, and lets every thread
 * go (each with the signal it was to get, if any); frees s. Returns how
 * long the threads other than me were stopped, in nanoseconds. */
int64_t ht_inject_release(struct ht_stopped *s);

/* ---- inject.c: one thread calls a function ------------------------------ */

/* Writes data (n bytes) below me's stack pointer (under its red zone);
 * *at is where it went. 0, or -1. */
int ht_inject_write(struct ht_stopped *s, const void *data, size_t n, uintptr_t *at);

/* Reads n bytes at addr of the target. 0, or -1. */
int ht_inject_read(struct ht_stopped *s, uintptr_t addr, void *out, size_t n);

/* Makes me call fn(a0, a1, a2) with every signal but SIGSEGV blocked,
 * returning to address 0, where the fault stops it again: its return
 * value in *ret. If the call has not returned after hold_ms, the other
 * threads are let go (ht_stop_others_go); after timeout_ms, me is
 * stopped where it is and the call abandoned (*abandoned = 1): its
 * registers are put back at the release, but what the call had done
 * stays done (a lock it took stays taken). Returns 0, or -1 with one line
 * in err. */
int ht_inject_call(struct ht_stopped *s, uintptr_t fn, uint64_t a0, uint64_t a1, uint64_t a2,
		   uint64_t *ret, int hold_ms, int timeout_ms, int *abandoned, char *err,
		   size_t cap);

/* me's thread id. */
pid_t ht_inject_tid(const struct ht_stopped *s);

#endif
