/* Test subject for tests/t_hostile.sh: loads and unloads plugins in a loop.
 *   hostile_dlopen ROUNDS SIZE LIB [LIB2]
 * Each round dlopens LIB (or, on odd rounds, LIB2 when given), calls its
 * plugin_work(SIZE), which allocates inside the plugin and returns one
 * block of SIZE bytes that the host keeps, and dlcloses it again. The
 * plugin's code is gone when the process exits; its blocks are not. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int rounds, unloaded = 0, kept = 0;
	size_t size;
	void **keep;

	if (argc < 4) {
		fprintf(stderr, "usage: hostile_dlopen ROUNDS SIZE LIB [LIB2]\n");
		return 2;
	}
	rounds = atoi(argv[1]);
	size = (size_t)atol(argv[2]);
	keep = calloc((size_t)rounds, sizeof(void *));
	for (int r = 0; r < rounds; r++) {
		const char *lib = argc > 4 && r % 2 ? argv[4] : argv[3];
		void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		void *(*work)(size_t);

		if (!h) {
			printf("dlopen failed: %s\n", dlerror());
			return 1;
		}
		*(void **)&work = dlsym(h, "plugin_work");
		if (!work) {
			printf("no plugin_work in %s\n", lib);
			return 1;
		}
		keep[r] = work(size);
		kept += keep[r] != NULL;
		dlclose(h);
		h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
		if (h)
			dlclose(h);
		else
			unloaded++;
	}
	printf("dlopen: %d rounds, %d blocks kept, unloaded %d times\n", rounds, kept, unloaded);
	return 0;
}
