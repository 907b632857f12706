/* Benchmark baseline: a preloadable shim that only forwards malloc, free,
 * calloc and realloc to the next allocator (dlsym RTLD_NEXT), the least any
 * LD_PRELOAD profiler pays per call. dlsym's own allocations, made before
 * the real functions are known, come from a small static buffer.
 * Built as tests/progs/libfwdshim.so by `make bench`. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
#define unlikely(x) __builtin_expect(!!(x), 0)

static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);

static _Alignas(16) char boot[16384];
static size_t boot_used;
static int resolving;

static int in_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot < sizeof(boot);
}

/* Bump allocation from boot, never freed: only dlsym uses it. Blocks carry
 * their size in the 16 bytes before them, for realloc. */
static void *boot_alloc(size_t n)
{
	size_t need = (n + 31) & ~(size_t)15;
	char *p;

	if (boot_used + need > sizeof(boot))
		return NULL;
	p = boot + boot_used + 16;
	memcpy(p - 16, &n, sizeof(n));
	boot_used += need;
	return p;
}

static void resolve(void)
{
	resolving = 1;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	resolving = 0;
}

EXPORT void *malloc(size_t n)
{
	if (unlikely(!real_malloc)) {
		if (resolving)
			return boot_alloc(n);
		resolve();
	}
	return real_malloc(n);
}

EXPORT void free(void *p)
{
	if (unlikely(in_boot(p)))
		return;
	if (unlikely(!real_free))
		resolve();
	real_free(p);
}

EXPORT void *calloc(size_t n, size_t m)
{
	if (unlikely(!real_calloc)) {
		if (resolving) {
			size_t total;

			/* boot is zeroed static memory, never reused */
			return __builtin_mul_overflow(n, m, &total) ? NULL : boot_alloc(total);
		}
		resolve();
	}
	return real_calloc(n, m);
}

EXPORT void *realloc(void *p, size_t n)
{
	if (unlikely(in_boot(p))) {
		size_t old;
		void *q = malloc(n);

		memcpy(&old, (char *)p - 16, sizeof(old));
		if (q)
			memcpy(q, p, old < n ? old : n);
		return q;
	}
	if (unlikely(!real_realloc)) {
		if (resolving)
			return p ? NULL : boot_alloc(n);
		resolve();
	}
	return real_realloc(p, n);
}
