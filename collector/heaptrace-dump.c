/* heaptrace-dump: asks the collector of a traced process for a snapshot
 * now and writes it to a file (see ht_write_file) or standard output;
 * prints the file's path. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/control.h"
#include "lib/fileio.h"
#include "snapshot/snapshot.h"
#include "report/stats.h"
#include "lib/util.h"
#include "lib/version.h"

static const char usage[] =
	"usage: heaptrace-dump [-o FILE] PID\n"
	"       heaptrace-dump --stats PID\n"
	"       heaptrace-dump --list\n"
	"Writes a heap snapshot of the running, traced process PID now.\n"
	"  -o FILE   write to FILE (default: heaptrace.EXE.PID.NNNN.heap here; -: stdout)\n"
	"  --stats   print the process's memory statistics instead of writing a file\n"
	"  --list    list the traced processes you may dump\n"
	"  --version print the version\n";

/* Whether path names the file open on fd. */
static int same_file(const char *path, int fd)
{
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* One row of --list for the collector listening on s; a refused, slow or
 * broken one gets a line on stderr, another user's nothing. */
static int list_one(const struct ht_control_sock *sk, int64_t now)
{
	char err[512], exe[4096] = "?";
	long long pid = 0, start = 0;
	double inuse = 0;
	void *body;
	size_t len;
	char *p, *line, *next;
	char inbuf[32], upbuf[32];
	double up;
	int rc;
	int in_exe = 0;

	pid = sk->pid;
	rc = ht_control_request_at(sk, "info", HT_CONTROL_LIST_TIMEOUT_MS, &body, &len, NULL, err,
				   sizeof(err));
	if (rc < 0 && !strstr(err, "no collector at") && !strstr(err, "no such process"))
		ht_error("skipping: %s", err);
	if (rc != 0)
		return 0; /* gone, or not ours: not listed */
	p = ht_xrealloc(body, len + 1);
	p[len] = 0;
	/* "KEY VALUE" lines; the executable's name may hold newlines: a line
	 * with no key of ours continues it */
	for (line = p; line; line = next) {
		char *nl = strchr(line, '\n');

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		else if (!*line)
			break; /* after the last newline */
		if (!strncmp(line, "exe ", 4)) {
			snprintf(exe, sizeof(exe), "%s", line + 4);
			in_exe = 1;
		} else if (sscanf(line, "start %lld", &start) == 1 ||
			   sscanf(line, "inuse %lf", &inuse) == 1 || !strncmp(line, "pid ", 4)) {
			in_exe = 0;
		} else if (in_exe) {
			size_t n = strlen(exe);

			snprintf(exe + n, sizeof(exe) - n, "\n%s", line);
		}
	}
	free(p);
	up = start ? (double)(now - start) / 1e9 : 0;
	if (up < 120)
		snprintf(upbuf, sizeof(upbuf), "%.0fs", up);
	else if (up < 7200)
		snprintf(upbuf, sizeof(upbuf), "%.0fm", up / 60);
	else
		snprintf(upbuf, sizeof(upbuf), "%.1fh", up / 3600);
	printf("%8lld %8s %10s  ", pid, upbuf, ht_fmt_bytes(inuse, inbuf, sizeof(inbuf)));
	ht_fputs_escaped(stdout, exe);
	putchar('\n');
	return 1;
}

struct listing {
	int64_t now;
	int n;
};

static void list_each(const struct ht_control_sock *s, void *arg)
{
	struct listing *l = arg;

	l->n += list_one(s, l->now);
	fflush(stdout);
}

/* --list: every collector listening in our network namespace that we may
 * ask (every one for root), found in /proc/net/unix, wherever its
 * directory is. */
static int list(void)
{
	struct listing l = { ht_wall_ns(), 0 };
	int n;

	printf("%8s %8s %10s  %s\n", "PID", "UPTIME", "INUSE", "EXE");
	if (ht_control_each(list_each, &l) != 0)
		ht_die(1, "cannot read '/proc/self/net/unix': %s", strerror(errno));
	if (!l.n)
		fprintf(stderr, "%s: no traced processes found\n", ht_progname);
	/* where dumps go by default: the litter of dumps that were killed */
	n = ht_clean_temps(".");
	if (n > 0)
		fprintf(stderr, "%s: removed %d temporary file%s left here by writers that "
			"were killed\n", ht_progname, n, n == 1 ? "" : "s");
	return 0;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *pidarg = NULL, *base;
	char err[1024], path[4096];
	struct ht_snapshot *s;
	uint64_t pid;
	uint32_t seq = 0;
	void *body;
	size_t len;
	int i, stats = 0;

	ht_progname = "heaptrace-dump";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("%s %s\n", ht_progname, HT_VERSION);
			return 0;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
			if (++i >= argc)
				ht_die(2, "option '%s' needs a file name", a);
			out = argv[i];
		} else if (!strncmp(a, "--output=", 9)) {
			out = a + 9;
		} else if (!strcmp(a, "--stats")) {
			stats = 1;
		} else if (!strcmp(a, "--list")) {
			if (argc != 2)
				ht_die(2, "--list takes no other arguments\n%s", usage);
			return list();
		} else if (!strcmp(a, "--")) {
			if (pidarg || i + 2 != argc)
				ht_die(2, "expected one PID after '--'\n%s", usage);
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
	if (out && !strcmp(out, "-") && isatty(1))
		ht_die(2, "not writing a binary snapshot to a terminal (use -o FILE)");
	if (out && stats)
		ht_die(2, "--stats prints to standard output; it takes no -o");

	if (ht_control_request((pid_t)pid, "snapshot", HT_CONTROL_TIMEOUT_MS, &body, &len, &seq,
			       err, sizeof(err)) != 0)
		ht_die(1, "%s", err);
	/* check what we got before it becomes a file */
	if (ht_snapshot_decode(body, len, &s, err, sizeof(err)) != 0)
		ht_die(1, "process %llu sent an unreadable snapshot: %s",
		       (unsigned long long)pid, err);
	if (stats) {
		int rc = ht_stats_write(stdout, NULL, s) || fflush(stdout) != 0;

		ht_snapshot_free(s);
		free(body);
		if (rc)
			ht_die(1, "cannot write the statistics: %s", strerror(errno));
		return 0;
	}
	if (!out) {
		char name[HT_SAFE_NAME_MAX + 1];

		base = strrchr(s->exe, '/');
		base = base ? base + 1 : s->exe;
		snprintf(path, sizeof(path), "heaptrace.%s.%llu.%04u.heap",
			 ht_safe_name(name, sizeof(name), base), (unsigned long long)pid, seq);
		out = path;
	}
	ht_snapshot_free(s);
	if (!strcmp(out, "-")) {
		if (fwrite(body, 1, len, stdout) != len || fflush(stdout) != 0)
			ht_die(1, "cannot write to standard output: %s", strerror(errno));
		free(body);
		return 0;
	}
	if (out != path) {
		if (ht_write_file(out, body, len, err, sizeof(err)) != 0)
			ht_die(1, "%s", err);
	} else if (ht_write_file_unique(path, sizeof(path), body, len, err, sizeof(err)) != 0) {
		ht_die(1, "%s", err); /* a default name never replaces a file */
	}
	free(body);
	/* the path, unless the snapshot itself went to standard output */
	if (!same_file(out, 1))
		printf("%s\n", out);
	return 0;
}
