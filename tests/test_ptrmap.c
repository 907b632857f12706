/* Unit tests for the pointer map (lib/ptrmap.c): keys by address, values
 * replaced, growth that keeps every entry, and the walk that frees. */
#include "lib/ptrmap.h"
#include "tap.h"

#include <stdlib.h>

int main(void)
{
	struct ht_ptrmap m = { 0 };
	static int keys[5000];
	char a[] = "x", b[] = "x";
	size_t seen = 0;
	int all = 1;

	ok(ht_ptrmap_get(&m, a) == NULL, "empty: no value");
	is_int(ht_ptrmap_put(&m, a, "first"), 0, "put");
	is_str(ht_ptrmap_get(&m, a), "first", "get the value put");
	ok(ht_ptrmap_get(&m, b) == NULL, "equal bytes at another address: another key");
	ht_ptrmap_put(&m, a, "second");
	is_str(ht_ptrmap_get(&m, a), "second", "put again: replaced");
	is_int(m.n, 1, "replaced, not added");
	for (int i = 0; i < 5000; i++)
		if (ht_ptrmap_put(&m, &keys[i], &keys[(i + 1) % 5000]) != 0)
			all = 0;
	ok(all && m.n == 5001, "5000 more keys");
	for (int i = 0; i < 5000; i++)
		if (ht_ptrmap_get(&m, &keys[i]) != &keys[(i + 1) % 5000])
			all = 0;
	ok(all, "each found after the table grew");
	ok(m.n * 2 <= m.cap, "at most half full (%zu of %zu)", m.n, m.cap);
	for (size_t i = 0; i < m.cap; i++)
		seen += m.e[i].key != NULL;
	is_int(seen, 5001, "the walk sees every entry once");
	ht_ptrmap_free(&m);
	ok(m.cap == 0 && ht_ptrmap_get(&m, a) == NULL, "freed: empty");
	return done_testing();
}
