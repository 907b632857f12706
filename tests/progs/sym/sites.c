/* Test subject for t_symbols.sh, built in several ways (stripped, with
 * separate debug info, twice with code moved): an exported function and a
 * static one, each keeping N blocks. EXTRA_CODE, if defined, adds a function
 * that allocates nothing ahead of the others, so their addresses move.
 * Usage: sites N [wait]  (wait: then print "ready PID" and wait for a line
 * on stdin before exiting) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef EXTRA_CODE
__attribute__((noinline)) int unrelated(int x)
{
	static volatile int t[256];

	for (int i = 0; i < 256; i++)
		t[i] = x * i + t[(i * 7) % 256];
	return t[x & 255];
}
#endif

static void *kept[4096];
static int nkept;

__attribute__((noinline)) void *exported_alloc(size_t n)
{
	void *p = malloc(n); /* @exported-malloc */

	memset(p, 1, n);
	kept[nkept++ % 4096] = p;
	return p;
}

static __attribute__((noinline)) void *hidden_alloc(size_t n)
{
	void *p = malloc(n); /* @hidden-malloc */

	memset(p, 2, n);
	kept[nkept++ % 4096] = p;
	return p;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;

	for (int i = 0; i < n; i++) {
		exported_alloc(1000); /* @main-exported */
		hidden_alloc(2000); /* @main-hidden */
	}
#ifdef EXTRA_CODE
	if (unrelated(argc) == 12345)
		puts("");
#endif
	printf("kept %d\n", nkept);
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 0;
	}
	return 0;
}
