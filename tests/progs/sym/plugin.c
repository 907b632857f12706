/* Test subject for t_symbols.sh: a plugin that host.c dlopens. It keeps the
 * blocks it allocates, so they are still in use after the host dlcloses it.
 * Built with -DSECOND it is another plugin, whose plugin_keep comes after
 * second_pad: loaded where the first one was, its code is at other offsets. */
#include <stdlib.h>
#include <string.h>

static void *kept[1024];
static int nkept;

#ifdef SECOND
int second_pad(const int *v, int n)
{
	int s = 0;

	for (int i = 0; i < n; i++)
		s += v[i] * (i & 3 ? 3 : 5) + (v[i] >> 2) - (s >> 7);
	for (int i = n - 1; i >= 0; i--)
		s ^= v[i] * 2654435761u + (unsigned)s % 97;
	return s;
}
#endif

void *plugin_keep(size_t n)
{
	void *p = malloc(n); /* @plugin-malloc */

	if (p)
		memset(p, 0, n);
	kept[nkept++ % 1024] = p;
	return p;
}
