/* Starting the collector: its command line, the descriptors and the
 * session it leaves behind, the environment it reads, and the directory
 * the snapshots go to. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/fileio.h"
#include "lib/util.h"

static int opt_fd(const char *arg, const char *name)
{
	size_t n = strlen(name);
	uint64_t v;

	if (strncmp(arg, name, n) != 0 || ht_parse_u64(arg + n, &v) != 0 || v > 1024)
		return -1;
	return (int)v;
}

void ht_collector_parse_args(int argc, char **argv, struct ht_collector_args *a)
{
	uint64_t v;
	int i;

	*a = (struct ht_collector_args){ -1, -1, 0, NULL, 0 };
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--shm-fd=", 9) == 0)
			a->shm_fd = opt_fd(argv[i], "--shm-fd=");
		else if (strncmp(argv[i], "--alive-fd=", 11) == 0)
			a->alive_fd = opt_fd(argv[i], "--alive-fd=");
		else if (strncmp(argv[i], "--pid=", 6) == 0)
			a->pid = ht_parse_u64(argv[i] + 6, &v) == 0 && v > 0 && v <= INT32_MAX ?
					 (int64_t)v : 0;
		else if (strncmp(argv[i], "--output=", 9) == 0)
			a->output = argv[i] + 9;
		else if (strcmp(argv[i], "--dir-said") == 0)
			a->dir_said = 1;
		else
			ht_die(2, "unknown option '%s' (this program is started by libheaptrace.so)",
			       argv[i]);
	}
	if (a->shm_fd < 0 || a->alive_fd < 0 || !a->pid || !a->output || a->output[0] != '/' ||
	    strlen(a->output) >= sizeof(((struct ht_shm *)0)->output))
		ht_die(2, "usage: heaptrace-collector --shm-fd=N --alive-fd=N --pid=PID "
		       "--output=PATH (started by libheaptrace.so)");
}

/* Whatever else the collector was started with is the program's (a pipe
 * whose reader waits for its end of file when the program ends), however
 * it was started. */
void ht_collector_close_others(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;
	DIR *d;
	struct dirent *e;

	if (lo > 2 && (lo == 3 || syscall(SYS_close_range, 3u, (unsigned)lo - 1, 0u) == 0) &&
	    (hi <= lo + 1 || syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1, 0u) == 0) &&
	    syscall(SYS_close_range, (unsigned)hi + 1, ~0u, 0u) == 0)
		return;
	d = opendir("/proc/self/fd"); /* a kernel before 5.9 */
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (!*end && e->d_name[0] && fd > 2 && fd != a && fd != b && fd != dirfd(d))
			close((int)fd);
	}
	closedir(d);
}

/* The shim starts the collector orphaned already (see start_collector in
 * preload/trace.c), with every signal blocked: it leaves the program's
 * session and terminal, ignores what a terminal sends, and only then
 * takes signals. */
void ht_collector_detach(void)
{
	sigset_t none;
	int null;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	if (chdir("/") != 0)
		return;
}

/* Is v a plain decimal number: digits, with a fraction after a point if
 * any ("5", "0.25", ".5", "5.")? No sign, space, exponent, hex, inf, nan. */
static int plain_decimal(const char *v)
{
	size_t digits = 0;

	for (; *v >= '0' && *v <= '9'; v++)
		digits++;
	if (*v == '.')
		for (v++; *v >= '0' && *v <= '9'; v++)
			digits++;
	return digits > 0 && !*v;
}

/* A number from the environment: 0 (off) or within [lo, hi]; a bad value
 * gets one message and means off. */
static double env_number(const char *name, double lo, double hi)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (!v || !*v)
		return 0;
	d = plain_decimal(v) ? strtod(v, &end) : -1;
	if (d < 0 || !(d == 0 || (d >= lo && d <= hi))) {
		ht_error("ignoring %s='%s': not 0 (off) or a number from %.1f to %.0f",
			 name, v, lo, hi);
		return 0;
	}
	return d;
}

/* HEAPTRACE_DEBUGINFO_PATH: says once which of its entries the
 * symbolizer passes over (each_debug_root in symbolize/debugfile.c): a
 * relative one, which would name a different place for every collector's
 * working directory, and one too long for a path. */
static void check_debuginfo_path(void)
{
	const char *p = getenv("HEAPTRACE_DEBUGINFO_PATH");

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len && (p[0] != '/' || len >= PATH_MAX))
			ht_error("ignoring '%.*s' in HEAPTRACE_DEBUGINFO_PATH: not an absolute "
				 "directory", (int)(len < 200 ? len : 200), p);
		p = end ? end + 1 : NULL;
	}
}

void ht_collector_read_env(struct collector *c)
{
	c->interval = env_number("HEAPTRACE_INTERVAL", 0.1, 86400 * 365);
	c->peak_margin = env_number("HEAPTRACE_PEAK", 1, 10000);
	check_debuginfo_path();
}

/* HEAPTRACE_DWARF_MB: a whole number of MiB, 0 for none. */
#define DWARF_MB_DEFAULT 4
#define DWARF_MB_MAX 1048576

uint64_t ht_collector_dwarf_max_bytes(void)
{
	const char *v = getenv("HEAPTRACE_DWARF_MB");
	uint64_t mb = 0;
	const char *c;

	if (!v || !*v)
		return (uint64_t)DWARF_MB_DEFAULT << 20;
	for (c = v; *c >= '0' && *c <= '9' && mb <= DWARF_MB_MAX; c++)
		mb = mb * 10 + (uint64_t)(*c - '0');
	if (*c || mb > DWARF_MB_MAX) {
		ht_error("ignoring HEAPTRACE_DWARF_MB='%s': not a whole number from 0 to %d",
			 v, DWARF_MB_MAX);
		return (uint64_t)DWARF_MB_DEFAULT << 20;
	}
	return mb << 20;
}

/* The directory of the trusted output name into dir (len bytes): 1, or 0
 * if the name has none (the current directory). "/x.heap" gives "/". */
static int output_dir(const struct collector *c, char *dir, size_t len)
{
	char *slash;

	snprintf(dir, len, "%s", c->fixed.output);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	slash[slash == dir] = 0;
	return 1;
}

/* Said at start, in one line, rather than when the program has ended and
 * its profile is lost (it is tried then all the same: the directory may
 * have become writable). */
void ht_collector_check_output_dir(struct collector *c)
{
	char dir[HT_PATH_MAX];

	if (c->said_unwritable || !output_dir(c, dir, sizeof(dir)))
		return;
	if (access(dir, W_OK | X_OK) != 0) {
		ht_error("cannot write the snapshot '%s': directory '%s': %s; "
			 "the profile will be lost", c->fixed.output, dir, strerror(errno));
		c->said_unwritable = 1;
	}
}

/* See ht_file_clean_temps. The directory is the trusted copy's, given on
 * the command line, never the shared header's, which the traced process
 * can rewrite. */
void ht_collector_clean_output_dir(struct collector *c)
{
	char dir[HT_PATH_MAX];

	if (output_dir(c, dir, sizeof(dir)))
		ht_file_clean_temps(dir);
}

int ht_collector_sibling(const char *name, char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash) {
		errno = ENOENT;
		return -1;
	}
	*slash = 0;
	if ((size_t)snprintf(out, cap, "%s/%s", self, name) >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return access(out, X_OK);
}
