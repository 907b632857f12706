/* Test subject for t_symbols.sh: for each plugin named, in turn: dlopens it,
 * has it allocate N blocks (of 1000 bytes from the first plugin, 2000 from
 * the second, ...), which stay allocated, dlcloses it and checks that it is
 * gone; then exits: the final snapshot names the plugins' frames.
 * Prints one line per plugin: "BASE unloaded" (BASE: its load address).
 * Usage: host N PLUGIN.so... */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	int n;

	if (argc < 3)
		return 2;
	n = atoi(argv[1]);
	for (int k = 2; k < argc; k++) {
		void *(*keep)(size_t);
		struct link_map *lm = NULL;
		void *h = dlopen(argv[k], RTLD_NOW | RTLD_LOCAL);

		if (!h) {
			fprintf(stderr, "host: %s\n", dlerror());
			return 1;
		}
		*(void **)&keep = dlsym(h, "plugin_keep");
		if (!keep || dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0)
			return 1;
		for (int i = 0; i < n; i++)
			keep(1000 * (k - 1)); /* @host-call */
		printf("%#lx ", (unsigned long)lm->l_addr);
		if (dlclose(h) != 0)
			return 1;
		/* RTLD_NOLOAD: NULL if the plugin is really unloaded */
		h = dlopen(argv[k], RTLD_NOW | RTLD_NOLOAD);
		printf("%s\n", h ? "still loaded" : "unloaded");
	}
	return 0;
}
