/* heaptrace-dump: asks the collector of a traced process for a snapshot
 * now and writes it to a file (see ht_file_save) or standard output;
 * prints the file's path. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump/serve.h"
#include "lib/control.h"
#include "lib/fileio.h"
#include "lib/parseopt.h"
#include "report/report.h"
#include "report/stats.h"
#include "report/trim.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"
#include "lib/version.h"

static const char usage_head[] =
	"usage: heaptrace-dump [-o FILE] PID\n"
	"       heaptrace-dump --stats PID\n"
	"       heaptrace-dump --trim [--stats] [-o FILE] PID\n"
	"       heaptrace-dump --metrics PID\n"
	"       heaptrace-dump --list\n"
	"Writes a heap snapshot of the running, traced process PID now.\n";

/* Exits 2 after a usage error, printing msg and the usage. */
static _Noreturn void usage_error(const char *msg, const char *what)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m) {
		ht_opt_usage(m, HT_TOOL_DUMP, usage_head, "");
		fclose(m);
	}
	ht_die(2, msg, what, buf ? buf : "");
}

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
	char err[512];
	struct ht_control_info info;
	long long pid = sk->pid;
	void *body;
	size_t len;
	char inbuf[32], upbuf[32];
	double up;
	int rc;

	rc = ht_control_request_at(sk, "info", HT_CONTROL_LIST_TIMEOUT_MS, &body, &len, NULL, err,
				   sizeof(err));
	if (rc < 0 && !strstr(err, "no collector at") && !strstr(err, "no such process"))
		ht_error("skipping: %s", err);
	if (rc != 0)
		return 0; /* gone, or not ours: not listed */
	rc = ht_control_info_parse(body, len, &info);
	free(body);
	if (rc != 0)
		ht_die(2, "out of memory");
	up = info.start_ns ? (double)(now - info.start_ns) / 1e9 : 0;
	if (up < 120)
		snprintf(upbuf, sizeof(upbuf), "%.0fs", up);
	else if (up < 7200)
		snprintf(upbuf, sizeof(upbuf), "%.0fm", up / 60);
	else
		snprintf(upbuf, sizeof(upbuf), "%.1fh", up / 3600);
	printf("%8lld %8s %10s  ", pid, upbuf, ht_fmt_bytes(info.inuse, inbuf, sizeof(inbuf)));
	ht_fputs_escaped(stdout, info.exe);
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
	n = ht_file_clean_temps(".");
	if (n > 0)
		fprintf(stderr, "%s: removed %d temporary file%s left here by writers that "
			"were killed\n", ht_progname, n, n == 1 ? "" : "s");
	return 0;
}

struct dump_args {
	const char *out;  /* -o FILE; NULL: the default name */
	uint64_t pid;
	int stats;
	int trim;
	int metrics;
	int serve_fd;     /* --serve-fd: the connection to answer on, or -1 */
};

/* The command line into *a; --help, --version and --list are done here. */
static void parse_args(int argc, char **argv, struct dump_args *a)
{
	struct ht_opt_parser p;
	const char *pidarg = NULL;
	int id;

	ht_opt_init(&p, HT_TOOL_DUMP, 0, argc, argv);
	while ((id = ht_opt_next(&p)) != HT_OPT_END) {
		switch (id) {
		case HT_OPT_HELP:
			ht_opt_usage(stdout, HT_TOOL_DUMP, usage_head, "");
			exit(0);
		case HT_OPT_VERSION:
			printf("%s %s\n", ht_progname, HT_VERSION);
			exit(0);
		case HT_OPT_OUTPUT:
			a->out = p.value;
			break;
		case HT_OPT_STATS:
			a->stats = 1;
			break;
		case HT_OPT_TRIM:
			a->trim = 1;
			break;
		case HT_OPT_METRICS:
			a->metrics = 1;
			break;
		case HT_OPT_SERVE_FD: {
			uint64_t fd;

			if (ht_parse_u64(p.value, &fd) != 0 || fd > 1024)
				ht_die(2, "'%s' is not a file descriptor", p.value);
			a->serve_fd = (int)fd;
			break;
		}
		case HT_OPT_LIST:
			if (argc != 2)
				usage_error("--list takes no other arguments%s\n%s", "");
			exit(list());
		case HT_OPT_ARG:
			if (pidarg)
				usage_error("unexpected argument '%s'\n%s", p.value);
			pidarg = p.value;
			break;
		case HT_OPT_ERROR:
			exit(2);
		default:
			usage_error("unknown option '%s'\n%s", p.arg);
		}
	}
	if (!pidarg)
		usage_error("missing PID%s\n%s", "");
	if (ht_parse_u64(pidarg, &a->pid) != 0 || a->pid == 0 || a->pid > 0x3fffffff)
		ht_die(2, "'%s' is not a process id", pidarg);
	if (a->out && !*a->out)
		ht_die(2, "empty output file name");
	if (a->out && !strcmp(a->out, "-") && isatty(1))
		ht_die(2, "not writing a binary snapshot to a terminal (use -o FILE)");
	if (a->out && (a->stats || a->metrics))
		ht_die(2, "--%s prints to standard output; it takes no -o",
		       a->stats ? "stats" : "metrics");
	if (a->stats && a->metrics)
		ht_die(2, "--stats and --metrics cannot be used together");
	if (a->trim && (a->metrics || a->serve_fd >= 0))
		ht_die(2, "--trim and --metrics cannot be used together");
	if (a->out && a->trim && !strcmp(a->out, "-"))
		ht_die(2, "--trim prints to standard output; -o - is not possible with it");
}

/* --stats: the statistics of the snapshot s, on stdout. */
static int print_stats(const struct ht_snapshot *s)
{
	if (ht_stats_write(stdout, NULL, s) || fflush(stdout) != 0)
		ht_die(1, "cannot write the statistics: %s", strerror(errno));
	return 0;
}

/* --metrics: the process's metrics for Prometheus, on stdout, from a
 * snapshot that takes no number of the process's. */
static int print_metrics(pid_t pid)
{
	char err[1024];
	struct ht_snapshot *s = ht_dump_view(pid, err, sizeof(err));

	if (!s)
		ht_die(1, "%s", err);
	if (ht_report_write_metrics(stdout, s, ht_dump_metrics_top()) || fflush(stdout) != 0)
		ht_die(1, "cannot write the metrics: %s", strerror(errno));
	ht_snapshot_free(s);
	return 0;
}

/* "heaptrace.EXE.PID.NNNN.heap", the default name, into path. */
static void default_name(char *path, size_t len, const struct ht_snapshot *s, uint64_t pid,
			 uint32_t seq)
{
	char name[HT_SAFE_NAME_MAX + 1];
	const char *base = strrchr(s->exe, '/');

	base = base ? base + 1 : s->exe;
	snprintf(path, len, "heaptrace.%s.%llu.%04u.heap",
		 ht_safe_name(name, sizeof(name), base), (unsigned long long)pid, seq);
}

/* Writes the snapshot body to out ("-": stdout), or to path, a default
 * name that never replaces a file, when out is NULL; prints where. */
static void write_snapshot(const char *out, char *path, size_t pathlen, const void *body,
			   size_t len)
{
	char err[1024];
	const char *to = out ? out : path;

	if (ht_file_save(to, out ? HT_FILE_NAMED : HT_FILE_DEFAULT, out ? NULL : path, pathlen,
			 body, len, err, sizeof(err)) != 0)
		ht_die(1, "%s", err);
	/* the path, unless the snapshot itself went to standard output */
	if (strcmp(to, "-") != 0 && !same_file(to, 1))
		printf("%s\n", to);
}

int main(int argc, char **argv)
{
	struct dump_args a = { NULL, 0, 0, 0, 0, -1 };
	char err[1024], path[4096];
	struct ht_snapshot *s;
	uint32_t seq = 0;
	void *body;
	size_t len;

	ht_progname = "heaptrace-dump";
	parse_args(argc, argv, &a);
	if (a.serve_fd >= 0)
		return ht_dump_serve(a.serve_fd, (pid_t)a.pid);
	if (a.metrics)
		return print_metrics((pid_t)a.pid);
	if (ht_control_request((pid_t)a.pid, a.trim ? "trim" : "snapshot", HT_CONTROL_TIMEOUT_MS,
			       &body, &len, &seq, err, sizeof(err)) != 0)
		ht_die(1, "%s", err);
	/* check what we got before it becomes a file */
	if (ht_snapshot_decode(body, len, &s, err, sizeof(err)) != 0)
		ht_die(1, "process %llu sent an unreadable snapshot: %s",
		       (unsigned long long)a.pid, err);
	if (a.trim && ht_trim_print(stdout, s, a.stats) != 0)
		ht_die(1, "cannot write the trim's figures: %s", strerror(errno));
	if (a.trim && !a.out) {
		ht_snapshot_free(s);
		free(body);
		return 0;
	}
	if (a.stats && !a.trim) {
		print_stats(s);
		ht_snapshot_free(s);
		free(body);
		return 0;
	}
	if (!a.out)
		default_name(path, sizeof(path), s, a.pid, seq);
	ht_snapshot_free(s);
	write_snapshot(a.out, path, sizeof(path), body, len);
	free(body);
	return 0;
}
