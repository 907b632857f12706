/* Test subject: a dlopen that fails, then MODE, then dlerror(), whose
 * message must be the loader's, traced or not. MODE: none; chroot DIR
 * (where the shim loads libunwind); exec (an exec that fails: the shim
 * looks up the real one); unshare (unshare(0): likewise).
 *   dlerr none|chroot DIR|exec|unshare */
#include <dlfcn.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	void *h = dlopen("libheaptrace-none.so.9", RTLD_NOW);
	const char *e;

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "chroot") && (argc < 3 || chroot(argv[2]) != 0))
		return 1;
	if (!strcmp(argv[1], "exec")) {
		char *av[] = { "none", NULL };

		execv("/nonexistent/heaptrace-none", av);
	}
	if (!strcmp(argv[1], "unshare") && unshare(0) != 0)
		return 1;
	e = dlerror();
	printf("%s: %s\n", h ? "loaded" : "not loaded", e ? e : "no error");
	e = dlerror();
	printf("then: %s\n", e ? e : "no error");
	return 0;
}
