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
	struct ht_range lockwait[2]; /* the C library's lock waits (futex) */
};

/* Checks that pid may be attached to (it exists, is a 64-bit x86 process
 * with the C library, not in secure-execution mode, not stopped, not
 * under a debugger, and the permissions allow it) and fills t from its
 * maps; shim is the path of libheaptrace.so. Returns 0, or -1 with one
 * line in err (cap bytes). */
int ht_proc_check(pid_t pid, const char *shim, struct ht_target *t, char *err, size_t cap);

/* Rereads where the shim is loaded (after the dlopen). 0, or -1. */
int ht_proc_find_shim(struct ht_target *t);

/* Why PTRACE_SEIZE was refused (errno EPERM): which permission, setting
 * or capability is missing. */
void ht_proc_why_eperm(const struct ht_target *t, char *err, size_t cap);

/* ---- inject.c: one thread calls a function ------------------------------ */

struct ht_stopped; /* one thread of the target, stopped by ptrace */

/* Stops one thread of t that is safe to run dlopen on (not inside the C
 * library, the loader or an allocator, or blocked in a system call that
 * holds no lock of theirs), trying every thread, again after a short sleep,
 * for about a second. Returns it, or NULL with one line in err. The other
 * threads are never kept stopped: each is stopped only while looked at. */
struct ht_stopped *ht_inject_stop(const struct ht_target *t, char *err, size_t cap);

/* Writes data (n bytes) below the thread's stack pointer (under its red
 * zone); *at is where it went. 0, or -1. */
int ht_inject_write(struct ht_stopped *s, const void *data, size_t n, uintptr_t *at);

/* Reads n bytes at addr of the target. 0, or -1. */
int ht_inject_read(struct ht_stopped *s, uintptr_t addr, void *out, size_t n);

/* Makes the stopped thread call fn(a0, a1, a2) with every signal but
 * SIGSEGV blocked, returning to address 0, where the fault stops it
 * again: its return value in *ret. Waits at most timeout_s seconds. The
 * thread's registers are as before after it (not its stack below the red
 * zone). Returns 0, or -1 with one line in err. */
int ht_inject_call(struct ht_stopped *s, uintptr_t fn, uint64_t a0, uint64_t a1, uint64_t a2,
		   uint64_t *ret, char *err, size_t cap);

/* Puts back the thread's registers, signal mask and stack, and lets it go
 * (with the signal it was to get, if any). Returns the time it was
 * stopped, in nanoseconds. */
int64_t ht_inject_release(struct ht_stopped *s);

/* The thread's id. */
pid_t ht_inject_tid(const struct ht_stopped *s);

#endif
