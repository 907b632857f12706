/* The program's pending dlerror(), kept across the shim's own calls to the
 * dynamic loader after start: libunwind loaded at the first walk that needs
 * it, the real exec, unshare or operator new looked up at their first call.
 * Each dlopen or dlsym frees the error of the last failed one, which the
 * program may not have read yet (dlopen fails, a sampled malloc loads
 * libunwind, and dlerror() says nothing). glibc keeps it in one
 * thread-local pointer, __libc_dlerror_result (GLIBC_PRIVATE); it is put
 * aside around the shim's calls, and what they leave there let go (see
 * ht_dlerr_back). Where it cannot be found, the shim's own error is taken
 * out of sight, as before. */
#include <dlfcn.h>
#include <stdint.h>

#include "internal.h"

/* its place from the thread pointer: in libc's static TLS, the same in
 * every thread; 0 if unknown */
static intptr_t off;

void ht_dlerr_find(void)
{
	void *at = dlvsym(RTLD_DEFAULT, "__libc_dlerror_result", "GLIBC_PRIVATE");

	if (at)
		off = (char *)at - (char *)__builtin_thread_pointer();
	else
		dlerror(); /* the failed lookup's, not the program's */
}

static void **slot(void)
{
	return (void **)((char *)__builtin_thread_pointer() + off);
}

void *ht_dlerr_aside(void)
{
	void *saved;

	if (!off)
		return NULL;
	saved = *slot();
	*slot() = NULL;
	return saved;
}

/* What the shim's calls left in the slot is not read: dlerror() would
 * translate its message, and gettext takes the C library's locale lock
 * for reading, which setlocale holds for writing around allocations that
 * may be sampled (the first walk that needs libunwind, which then fails
 * to load). A glibc rwlock taken for reading by its writer is not taken,
 * its unlock then frees the writer's, and the program's next setlocale
 * waited forever. The record, a few dozen bytes of a failed load or
 * lookup, is the shim's own and is let go unfreed: libunwind's load is
 * tried once, the allocator's figures are looked up at start, and the
 * other names looked up are glibc's, which it has. */
void ht_dlerr_back(void *saved)
{
	if (!off) {
		dlerror();
		return;
	}
	*slot() = saved;
}

void *ht_dl_next(const char *name)
{
	void *saved = ht_dlerr_aside(), *f = dlsym(RTLD_NEXT, name);

	ht_dlerr_back(saved);
	return f;
}
