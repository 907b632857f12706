/* Unit tests for the string interner (lib/strtab.c): ids in first-use
 * order, one copy of each string, pointers that stay put, borrowing,
 * lookups, and long strings. */
#include "lib/strtab.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_ids(void)
{
	struct ht_strtab t = { 0 };
	char buf[] = "main;x";
	const char *first;
	int same = 1;

	is_int(ht_strtab_find(&t, "a", 1), HT_STRTAB_NONE, "empty: nothing found");
	is_int(ht_strtab_intern(&t, "b", 1), 0, "first string: id 0");
	is_int(ht_strtab_intern(&t, "a", 1), 1, "second string: id 1");
	is_int(ht_strtab_intern(&t, "b", 1), 0, "again: the same id");
	is_int(ht_strtab_intern(&t, "", 0), 2, "the empty string is a string");
	is_int(t.n, 3, "three distinct strings");
	is_int(ht_strtab_intern(&t, buf, 4), 3, "the first len bytes only");
	is_str(t.str[3], "main", "a copy, NUL-terminated");
	buf[0] = 'X';
	is_str(t.str[3], "main", "the copy is the table's own");
	is_int(ht_strtab_find(&t, "main", 4), 3, "found by its bytes");
	is_int(ht_strtab_find(&t, "mai", 3), HT_STRTAB_NONE, "a prefix is another string");
	is_int(t.len[3], 4, "its length kept");
	first = t.str[0];
	for (int i = 0; i < 100000; i++) {
		char s[32];
		int n = snprintf(s, sizeof(s), "name%d", i);

		if (ht_strtab_intern(&t, s, (size_t)n) != (uint32_t)i + 4)
			same = 0;
	}
	ok(same, "100000 new strings: ids in first-use order");
	ok(t.str[0] == first, "pointers stay put as the table grows");
	is_int(ht_strtab_find(&t, "name77777", 9), 77781, "found among many");
	is_str(t.str[77781], "name77777", "by id");
	ht_strtab_free(&t);
	is_int(t.n, 0, "freed: empty");
	is_int(ht_strtab_intern(&t, "again", 5), 0, "usable after free");
	ht_strtab_free(&t);
}

static void test_borrow(void)
{
	struct ht_strtab t = { .borrow = 1 };
	const char *s = "kept";
	char other[] = "kept";

	is_int(ht_strtab_intern(&t, s, 4), 0, "borrow: an id");
	ok(t.str[0] == s, "borrow: the caller's pointer, no copy");
	is_int(ht_strtab_intern(&t, other, 4), 0, "borrow: equal bytes, the same id");
	ok(t.str[0] == s, "borrow: the first pointer stays");
	ht_strtab_free(&t);
	ok(t.borrow == 1 && t.n == 0, "borrow: kept across free");
}

static void test_long(void)
{
	struct ht_strtab t = { 0 };
	size_t big = 200000;
	char *s = malloc(big + 1);
	uint32_t a, b;

	memset(s, 'x', big);
	s[big] = 0;
	a = ht_strtab_intern(&t, "short", 5);
	b = ht_strtab_intern(&t, s, big);
	ok(b == 1 && strlen(t.str[b]) == big, "a string longer than a chunk");
	is_int(ht_strtab_intern(&t, "short2", 6), 2, "after it, short ones still fit");
	ok(t.str[2] == t.str[a] + 6, "in the chunk that was current");
	free(s);
	ht_strtab_free(&t);
}

int main(void)
{
	test_ids();
	test_borrow();
	test_long();
	return done_testing();
}
