/* heaptrace-dump: asks the collector of a traced process for a snapshot
 * now and writes it (atomically) to a file; prints the file's path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "snapshot.h"
#include "util.h"

static const char usage[] =
	"usage: heaptrace-dump [-o FILE] PID\n"
	"Writes a heap snapshot of the running, traced process PID now.\n"
	"  -o FILE   write to FILE (default: heaptrace.EXE.PID.N.heap here)\n";

int main(int argc, char **argv)
{
	const char *out = NULL, *pidarg = NULL, *base;
	char err[1024], path[4096];
	struct ht_snapshot *s;
	uint64_t pid;
	uint32_t seq = 0;
	void *body;
	size_t len;
	int i;

	ht_progname = "heaptrace-dump";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (++i >= argc)
				ht_die(2, "option '%s' needs a file name", a);
			out = argv[i];
		} else if (!strncmp(a, "--output=", 9)) {
			out = a + 9;
		} else if (!strcmp(a, "--")) {
			if (i + 1 < argc)
				pidarg = argv[++i];
			break;
		} else if (a[0] == '-' && a[1]) {
			ht_die(2, "unknown option '%s'\n%s", a, usage);
		} else if (!pidarg) {
			pidarg = a;
		} else {
			ht_die(2, "unexpected argument '%s'\n%s", a, usage);
		}
	}
	if (!pidarg)
		ht_die(2, "missing PID\n%s", usage);
	if (ht_parse_u64(pidarg, &pid) != 0 || pid == 0 || pid > 0x3fffffff)
		ht_die(2, "'%s' is not a process id", pidarg);
	if (out && !*out)
		ht_die(2, "empty output file name");

	if (ht_control_request((pid_t)pid, "snapshot", &body, &len, &seq, err, sizeof(err)) != 0)
		ht_die(1, "%s", err);
	/* check what we got before it becomes a file */
	if (ht_snapshot_decode(body, len, &s, err, sizeof(err)) != 0)
		ht_die(1, "process %llu sent an unreadable snapshot: %s",
		       (unsigned long long)pid, err);
	if (!out) {
		base = strrchr(s->exe, '/');
		base = base ? base + 1 : s->exe;
		snprintf(path, sizeof(path), "heaptrace.%s.%llu.%u.heap",
			 *base ? base : "unknown", (unsigned long long)pid, seq);
		out = path;
	}
	ht_snapshot_free(s);
	if (ht_write_file_atomic(out, body, len, err, sizeof(err)) != 0)
		ht_die(1, "%s", err);
	free(body);
	printf("%s\n", out);
	return 0;
}
