/* Unit tests for util.c and hash.h: what may reach a terminal raw
 * (ht_char_printable, ht_fputs_escaped), what may be part of a file name
 * (ht_safe_name), the growable array, the units, and the hash. */
#include "lib/hash.h"
#include "lib/util.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_grow(void)
{
	size_t cap = 0, cap2;
	int *a = ht_grow(NULL, &cap, 1, sizeof(int)), *b;

	ok(a && cap == 16, "grow: a first array holds 16");
	b = ht_grow(a, &cap, 16, sizeof(int));
	ok(b == a && cap == 16, "grow: room enough, the same array");
	a = ht_grow(b, &cap, 100, sizeof(int));
	ok(a && cap == 128, "grow: doubled until it holds 100 (%zu)", cap);
	a[99] = 7;
	cap2 = cap;
	ok(ht_grow(a, &cap2, SIZE_MAX / 2, sizeof(int)) == NULL && cap2 == cap,
	   "grow: a size that overflows: NULL, capacity unchanged");
	ok(ht_grow(a, &cap2, SIZE_MAX, 1) == NULL && cap2 == cap,
	   "grow: a count that cannot double: NULL");
	is_int(a[99], 7, "grow: the array intact after a refusal");
	a = ht_xgrow(a, &cap, 129, sizeof(int));
	ok(cap == 256 && a[99] == 7, "xgrow: grown, contents kept");
	free(a);
}

static void test_units(void)
{
	char b[32];

	is_str(ht_unit_name(0, 1), "B", "units: bytes");
	is_str(ht_unit_name(2, 1), "MB", "units: MB");
	is_str(ht_unit_name(0, 0), "", "units: a count has no unit");
	is_str(ht_unit_name(HT_NUNITS - 1, 0), "T", "units: the last count unit");
	ok(ht_unit_div(2, 1) == 1048576.0 && ht_unit_div(2, 0) == 1e6, "units: MB = 1024^2, M = 1000^2");
	is_str(ht_fmt_bytes(512, b, sizeof(b)), "512B", "fmt: bytes below 1kB");
	is_str(ht_fmt_bytes(1536 * 1024, b, sizeof(b)), "1.50MB", "fmt: 1.5 MB");
	is_str(ht_fmt_bytes(-2048, b, sizeof(b)), "-2.00kB", "fmt: negative");
	is_str(ht_fmt_bytes(3e18, b, sizeof(b)), "2728484.11TB", "fmt: TB is the last unit");
	is_str(ht_fmt_count(1200, b, sizeof(b)), "1.20k", "fmt: counts by 1000");
	is_str(ht_fmt_count(999, b, sizeof(b)), "999", "fmt: a small count");
}

static void test_hash(void)
{
	uint32_t k[2] = { 1, 2 }, k2[2] = { 2, 1 };

	ok(ht_fnv1a("", 0) == 0xcbf29ce484222325ull, "fnv1a: the offset basis for nothing");
	ok(ht_fnv1a("a", 1) == 0xaf63dc4c8601ec8cull, "fnv1a: the published value of 'a'");
	ok(ht_fnv1a("foobar", 6) == 0x85944171f73967e8ull, "fnv1a: of 'foobar'");
	ok(ht_mix64(0) == 0, "mix64: 0 stays 0 (fmix64)");
	ok(ht_mix64(1) != 1 && ht_mix64(1) != ht_mix64(2), "mix64: small keys spread");
	ok(ht_hash_bytes("abc", 3) == ht_mix64(ht_fnv1a("abc", 3)), "hash: fnv1a, mixed");
	ok(ht_hash_str("abc") == ht_hash_bytes("abc", 3), "hash: a string as its bytes");
	ok(ht_hash_bytes(k, sizeof(k)) != ht_hash_bytes(k2, sizeof(k2)), "hash: order counts");
	ok((ht_hash_str("x1") & 63) != (ht_hash_str("x2") & 63) ||
	   (ht_hash_str("x2") & 63) != (ht_hash_str("x3") & 63), "hash: low bits differ");
}

/* s escaped by ht_fputs_escaped, in a static buffer */
static const char *escaped(const char *s)
{
	static char *buf;
	size_t len;
	FILE *f;

	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	if (!f || ht_fputs_escaped(f, s) != 0 || fclose(f) != 0)
		return "(error)";
	return buf;
}

static const char *safe(const char *s)
{
	static char out[HT_SAFE_NAME_MAX + 1];

	return ht_safe_name(out, sizeof(out), s);
}

int main(void)
{
	char small[4];
	char longname[200];

	is_int(ht_char_printable("a", 1), 1, "ASCII letter: shown");
	is_int(ht_char_printable(" ", 1), 1, "space: shown");
	is_int(ht_char_printable("\x1b", 1), 0, "ESC: escaped");
	is_int(ht_char_printable("\x7f", 1), 0, "DEL: escaped");
	is_int(ht_char_printable("\n", 1), 0, "newline: escaped");
	is_int(ht_char_printable("\xc3\xa9", 2), 2, "U+00E9: shown, 2 bytes");
	is_int(ht_char_printable("\xe2\x82\xac", 3), 3, "U+20AC: shown, 3 bytes");
	is_int(ht_char_printable("\xf0\x9f\x98\x80", 4), 4, "U+1F600: shown, 4 bytes");
	is_int(ht_char_printable("\xc2\x9b", 2), 0, "U+009B (CSI, a C1 control): escaped");
	is_int(ht_char_printable("\x9b", 1), 0, "a lone 0x9b: escaped");
	is_int(ht_char_printable("\xe2\x80\xae", 3), 0, "U+202E (right-to-left override): escaped");
	is_int(ht_char_printable("\xe2\x81\xa6", 3), 0, "U+2066 (left-to-right isolate): escaped");
	is_int(ht_char_printable("\xc0\xaf", 2), 0, "an overlong '/': escaped");
	is_int(ht_char_printable("\xed\xa0\x80", 3), 0, "a surrogate: escaped");
	is_int(ht_char_printable("\xf4\x90\x80\x80", 4), 0, "past U+10FFFF: escaped");
	is_int(ht_char_printable("\xe2\x82", 2), 0, "a truncated character: escaped");
	is_int(ht_char_printable("\xc3\xa9", 1), 0, "a character cut by the length: escaped");

	is_str(escaped("plain/path-1.0"), "plain/path-1.0", "a plain name is unchanged");
	is_str(escaped("a\x1b[31mb\nc"), "a\\x1b[31mb\\x0ac", "controls as \\xHH, on one line");
	is_str(escaped("x\\x1b"), "x\\\\x1b", "a backslash doubled: no name looks escaped");
	is_str(escaped("caf\xc3\xa9"), "caf\xc3\xa9", "UTF-8 shown as is");
	is_str(escaped("\xc2\x9b" "2J"), "\\xc2\\x9b2J", "a C1 control: both bytes escaped");
	is_str(escaped("\xff\xfe"), "\\xff\\xfe", "invalid UTF-8: each byte escaped");
	is_str(escaped(""), "", "empty");

	is_str(safe("grow"), "grow", "a plain name is kept");
	is_str(safe("my-prog_2.1+x"), "my-prog_2.1+x", "[A-Za-z0-9._+-] kept");
	is_str(safe("evil\x1b[31m\nname"), "evil__31m_name", "anything else becomes '_'");
	is_str(safe("a/b c"), "a_b_c", "no slash, no space");
	is_str(safe(".hidden"), "_hidden", "no leading dot");
	is_str(safe(".."), "_.", "'..' is no directory");
	is_str(safe(""), "unknown", "empty: 'unknown'");
	is_str(safe("caf\xc3\xa9"), "caf__", "each byte of UTF-8 becomes '_'");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	is_int(strlen(safe(longname)), HT_SAFE_NAME_MAX, "at most HT_SAFE_NAME_MAX bytes");
	is_str(ht_safe_name(small, sizeof(small), "abcdef"), "abc", "cut to the buffer");
	test_grow();
	test_units();
	test_hash();
	return done_testing();
}
