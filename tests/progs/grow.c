/* Test subject for snapshots of a running process: reads commands on
 * stdin and answers each with a line on stdout.
 *   grow N   keep N more blocks of 1000 bytes, allocated in grow_site
 *   churn N  allocate and free N blocks of 100 bytes in churn_site
 *   stacks N keep one block of 100 bytes at each of N distinct stacks:
 *            deep_site under 1 to N frames of deep
 *   exit S   exit(S);  _exit S  _exit(S);  abort  abort();  (EOF: exit 0) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *kept[1 << 20];
static int nkept;

__attribute__((noinline)) void grow_site(int n)
{
	for (int i = 0; i < n && nkept < (1 << 20); i++) {
		kept[nkept] = malloc(1000);
		memset(kept[nkept++], 7, 1000);
	}
}

__attribute__((noinline)) void churn_site(int n)
{
	for (int i = 0; i < n; i++) {
		volatile char *p = malloc(100);
		p[0] = 1;
		free((void *)p);
	}
}

__attribute__((noinline)) void deep_site(void)
{
	if (nkept < (1 << 20)) {
		void *p = malloc(100);

		__asm__ volatile("" : : "r"(p) : "memory"); /* kept: not elided */
		kept[nkept++] = p;
	}
}

__attribute__((noinline)) void deep(int n)
{
	if (n > 0)
		deep(n - 1);
	else
		deep_site();
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

int main(void)
{
	char line[256];
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "grow %d", &n) == 1)
			grow_site(n);
		else if (sscanf(line, "churn %d", &n) == 1)
			churn_site(n);
		else if (sscanf(line, "stacks %d", &n) == 1)
			for (int i = 1; i <= n; i++)
				deep(i);
		else if (sscanf(line, "exit %d", &n) == 1)
			exit(n);
		else if (sscanf(line, "_exit %d", &n) == 1)
			_exit(n);
		else if (!strncmp(line, "abort", 5))
			abort();
		printf("done %d\n", nkept);
	}
	return 0;
}
