/* Test subject for tests/t_sock.sh: a root process that changes its user
 * after it started (traced from the start, its collector runs as root).
 * Usage: setuid_later UID [dumpable]: setgid and setuid to UID, and with
 * "dumpable" make itself dumpable again (PR_SET_DUMPABLE), as daemons do
 * that want core files. Prints "ready", then keeps 10 blocks per line of
 * input and answers each with "kept N"; exits 0 at its end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

__attribute__((noinline)) static void *later_site(void)
{
	return malloc(1000);
}

int main(int argc, char **argv)
{
	char line[64];
	long n = 0;

	if (argc < 2)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setgid((gid_t)atol(argv[1])) != 0 || setuid((uid_t)atol(argv[1])) != 0) {
		perror("setuid");
		return 1;
	}
	if (argc > 2 && !strcmp(argv[2], "dumpable"))
		prctl(PR_SET_DUMPABLE, 1);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		for (int i = 0; i < 10; i++, n++)
			if (!later_site())
				return 1;
		printf("kept %ld\n", n);
	}
	return 0;
}
