/* Test subject: a root program that drops to another user after the shim
 * started its collector, then, unprivileged, writes a path of its choosing
 * into the shared memory's output field. Usage:
 *   shm_setuid UID GID [PATH]
 * Prints "dropped" once it runs as UID:GID and exits normally. */
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm_find.h"

static void *keep[100];

__attribute__((noinline)) void kept(void)
{
	for (int i = 0; i < 100; i++)
		keep[i] = memset(malloc(10000), 1, 10000);
}

int main(int argc, char **argv)
{
	uid_t uid;
	gid_t gid;
	struct ht_shm *h = find_shm();

	if (argc < 3)
		return 2;
	uid = (uid_t)strtoul(argv[1], NULL, 10);
	gid = (gid_t)strtoul(argv[2], NULL, 10);
	kept();
	if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		perror("drop privileges");
		return 1;
	}
	printf("dropped\n");
	if (argc > 3 && h && h->magic == HT_SHM_MAGIC) {
		snprintf(h->output, sizeof(h->output), "%s", argv[3]);
		h->output_default = 0;
	}
	kept();
	return 0;
}
