/* ownmalloc: a program with a malloc of its own, exported from the
 * executable (built with -rdynamic), as chromium's are: every call of the
 * program and of its libraries goes to it, none to a preloaded shim. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static char *pool, *next, *end;

static void *take(size_t n, size_t align)
{
	char *p;

	if (!pool) {
		pool = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (pool == MAP_FAILED)
			return NULL;
		next = pool;
		end = pool + (64 << 20);
	}
	if (align < 16)
		align = 16;
	p = (char *)(((size_t)next + 16 + align - 1) & ~(align - 1));
	if (p + n > end)
		return NULL;
	((size_t *)p)[-1] = n;
	next = p + n;
	return p;
}

void *malloc(size_t n) { return take(n, 16); }
void free(void *p) { (void)p; }
void *calloc(size_t a, size_t b) { return take(a * b, 16); } /* fresh pages are zero */
void *realloc(void *p, size_t n)
{
	void *q = take(n, 16);

	if (p && q)
		memcpy(q, p, ((size_t *)p)[-1] < n ? ((size_t *)p)[-1] : n);
	return q;
}
void *memalign(size_t a, size_t n) { return take(n, a); }
void *aligned_alloc(size_t a, size_t n) { return take(n, a); }
int posix_memalign(void **r, size_t a, size_t n) { *r = take(n, a); return *r ? 0 : 12; }
size_t malloc_usable_size(void *p) { return p ? ((size_t *)p)[-1] : 0; }

int main(void)
{
	size_t i, sum = 0;

	for (i = 0; i < 1000; i++) {
		char *p = malloc(1000);

		memset(p, 1, 1000);
		sum += (size_t)p[999];
		free(p);
	}
	printf("own malloc: %zu\n", sum);
	return 0;
}
