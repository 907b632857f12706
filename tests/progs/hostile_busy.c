/* Test subject for tests/t_hostile.sh: allocates on command, so the test
 * can stop or kill the collector (or the program) at a known point.
 * Reads commands on stdin and answers each with one line on stdout:
 *   work N    N rounds of: keep_site keeps 10 blocks of 1000 bytes,
 *             churn_site allocates and frees 1000 blocks of 64 bytes
 *   forever   answers "looping", then churns until killed
 *   exit S    exit(S)          (EOF: exit 0)
 * It prints "ready" first. Nothing it prints depends on the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void **kept;
static long nkept, capkept;

__attribute__((noinline)) void keep_site(int n)
{
	for (int i = 0; i < n; i++) {
		if (nkept == capkept) {
			capkept = capkept ? capkept * 2 : 1024;
			kept = realloc(kept, (size_t)capkept * sizeof(void *));
		}
		kept[nkept] = malloc(1000);
		memset(kept[nkept++], 5, 1000);
	}
}

__attribute__((noinline)) void churn_site(int n)
{
	for (int i = 0; i < n; i++) {
		volatile char *p = malloc(64);
		p[0] = 1;
		free((void *)p);
	}
}

int main(void)
{
	char line[256];
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the kept-pointer array: grown ahead so its reallocs do not
	 * disturb the counts of the sites */
	capkept = 1 << 20;
	kept = malloc((size_t)capkept * sizeof(void *));
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "work %d", &n) == 1) {
			for (int r = 0; r < n; r++) {
				keep_site(10);
				churn_site(1000);
			}
			printf("work: %ld kept\n", nkept);
		} else if (!strncmp(line, "forever", 7)) {
			printf("looping\n");
			for (;;)
				churn_site(1000);
		} else if (sscanf(line, "exit %d", &n) == 1) {
			exit(n);
		} else {
			printf("unknown command\n");
		}
	}
	return 0;
}
