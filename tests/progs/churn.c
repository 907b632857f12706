/* Test subject: allocation churn and nothing kept. churn_site allocates
 * and frees 4000 blocks of 64 KiB (250 MiB in all); nothing is in use at
 * the end. Usage: churn [crash]; with crash it then dies of SIGSEGV. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile char sink;

static void churn_site(size_t n)
{
	char *p = malloc(n);

	if (!p)
		exit(1);
	memset(p, 1, 64);
	sink = p[63];
	free(p);
}

int main(int argc, char **argv)
{
	int i;

	for (i = 0; i < 4000; i++)
		churn_site(64 << 10);
	printf("churned\n");
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "crash"))
		raise(SIGSEGV);
	return 0;
}
