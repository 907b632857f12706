/* Test subject for --hide: allocation wrappers as git, gcc and binutils
 * have them (xmalloc, xstrdup over libc's strdup), called from known
 * callers. All of it is kept to the end, in use in the final snapshot:
 *   read_config   50 xmalloc of 2000 bytes     100000 bytes
 *   intern_names  200 xstrdup of 31 characters  6400 bytes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		abort();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static void *config[50];
static char *names[200];

static void read_config(void)
{
	for (int i = 0; i < 50; i++)
		config[i] = xmalloc(2000);
}

static void intern_names(void)
{
	for (int i = 0; i < 200; i++)
		names[i] = xstrdup("a name of thirty-one characters");
}

int main(void)
{
	read_config();
	intern_names();
	printf("%p %p\n", config[49], (void *)names[199]);
	return 0;
}
