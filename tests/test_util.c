/* Unit tests for the names of util.c: what may reach a terminal raw
 * (ht_char_printable, ht_fputs_escaped) and what may be part of a file
 * name (ht_safe_name). */
#include "lib/util.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

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
	return done_testing();
}
