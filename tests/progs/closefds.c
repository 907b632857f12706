/* Test subject: a program that closes every descriptor but the standard
 * ones before it allocates (as daemons do), then keeps 200 blocks of
 * 100000 bytes and exits normally. Prints "done". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *keep[200];

int main(void)
{
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	for (int i = 0; i < 200; i++)
		keep[i] = memset(malloc(100000), 1, 100000);
	printf("done\n");
	return 0;
}
