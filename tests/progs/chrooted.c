/* Test subject: a daemon's privilege separation. Shuts itself in DIR
 * (chroot, then chdir to its root) before it allocates anything much,
 * then keeps 4000 blocks of 4000 bytes, each made two calls deep, and
 * prints "done". With -u, it enters a mount namespace of its own instead
 * (unshare) and hides DIR under an empty tmpfs. Needs root.
 *   chrooted [-u] DIR */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static void *keep[4000];

__attribute__((noinline)) static void *leaf(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, 1, n);
	return p;
}

__attribute__((noinline)) static void *branch(size_t n)
{
	void *p = leaf(n);

	__asm__ volatile("" ::: "memory"); /* not a tail call */
	return p;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "-u")) {
		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", argv[2], "tmpfs", 0, NULL) != 0) {
			perror("chrooted");
			return 1;
		}
	} else if (argc != 2 || chroot(argv[1]) != 0 || chdir("/") != 0) {
		perror("chrooted");
		return 1;
	}
	for (int i = 0; i < 4000; i++)
		if (!(keep[i] = branch(4000)))
			return 1;
	printf("done\n");
	return 0;
}
