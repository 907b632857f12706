/* Test subject: calls setlocale again and again, as python3 does at its
 * start; each call allocates under the C library's locale lock, which it
 * holds for writing. Prints "done" (tests/t_unwload.sh: with libunwind
 * hidden and every allocation sampled, the first walk fails to load it
 * there, and the shim must leave that lock as it found it). */
#include <locale.h>
#include <stdio.h>

int main(void)
{
	for (int i = 0; i < 50; i++)
		if (!setlocale(LC_ALL, i % 2 ? "C" : "C.UTF-8"))
			return 1;
	puts("done");
	return 0;
}
