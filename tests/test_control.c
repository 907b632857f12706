/* Unit tests for the "info" reply of the control protocol
 * (collector/lib/control.c): what a collector writes, what heaptrace-dump
 * --list reads back, and replies that are cut, odd or hostile. */
#include "lib/control.h"
#include "tap.h"

#include <string.h>

/* info formatted, then parsed back into *out; the body's length. */
static size_t round_trip(const struct ht_control_info *in, struct ht_control_info *out)
{
	char body[8192];
	size_t len = ht_control_info_format(body, sizeof(body), in);

	if (ht_control_info_parse(body, len, out) != 0)
		memset(out, 0, sizeof(*out));
	return len;
}

static int parse(const char *body, struct ht_control_info *out)
{
	return ht_control_info_parse(body, strlen(body), out);
}

int main(void)
{
	struct ht_control_info in = { 0 }, out;
	char small[24];
	size_t len;

	in.pid = 4242;
	strcpy(in.exe, "/usr/bin/redis-server");
	in.start_ns = 1700000000123456789ll;
	in.inuse = 1048576.4;
	len = ht_control_info_format(small, sizeof(small), &in);
	is_int(len, sizeof(small) - 1, "format: cut to the buffer");
	is_int(strlen(small), sizeof(small) - 1, "format: and terminated");

	len = round_trip(&in, &out);
	is_int(len, strlen("pid 4242\nexe /usr/bin/redis-server\nstart 1700000000123456789\n"
			   "inuse 1048576\n"), "format: the four lines");
	is_int(out.pid, 4242, "parse: pid");
	is_str(out.exe, "/usr/bin/redis-server", "parse: exe");
	is_int(out.start_ns, 1700000000123456789ll, "parse: start");
	ok(out.inuse == 1048576, "parse: inuse, a whole number of bytes");

	strcpy(in.exe, "/tmp/two\nlines\nexe");
	round_trip(&in, &out);
	is_str(out.exe, "/tmp/two\nlines\nexe", "parse: an exe holding newlines");
	is_int(out.start_ns, 1700000000123456789ll, "parse: and the lines after it");

	is_int(parse("", &out), 0, "parse: an empty reply");
	is_str(out.exe, "?", "parse: no exe is '?'");
	ok(out.pid == 0 && out.start_ns == 0 && out.inuse == 0, "parse: no numbers are 0");

	parse("exe /bin/a\nwhat ever\nstart 5\nnew key\n", &out);
	is_str(out.exe, "/bin/a\nwhat ever", "parse: a line with no key continues the exe");
	is_int(out.start_ns, 5, "parse: up to a key of ours");

	parse("noise\ninuse 12\nexe /bin/b", &out);
	is_str(out.exe, "/bin/b", "parse: a last line without a newline");
	ok(out.inuse == 12, "parse: a line before the exe is not part of it");

	is_int(ht_control_info_parse("pid 7\0exe x\n", 12, &out), 0, "parse: a NUL in the body");
	is_int(out.pid, 7, "parse: ends the reply");
	is_str(out.exe, "?", "parse: and nothing after it is read");
	return done_testing();
}
