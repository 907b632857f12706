/* Pushing profiles to a continuous-profiling backend (HEAPTRACE_PUSH):
 * every HEAPTRACE_PUSH_INTERVAL seconds, and at exit, a snapshot goes to
 * a private directory and heaptrace-report --push sends it, in a child
 * that runs as the traced process's user, one at a time. The collector
 * never waits on the network: a push still running when the next falls
 * due makes that one skipped; failures are counted, and a failed push's
 * allocations go with the next one (its base stays the last sent). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/fileio.h"
#include "lib/util.h"

#define PUSH_DEFAULT_SECONDS 15.0
#define FINAL_WAIT_MS 30000 /* the most the collector lingers at exit for the last push */

void ht_collector_push_setup(struct collector *c)
{
	struct ht_push *p = &c->push;
	const char *url = getenv("HEAPTRACE_PUSH"), *v;
	char tmpl[PATH_MAX];

	p->child = -1;
	if (!url || !*url)
		return;
	signal(SIGCHLD, SIG_DFL); /* the program may ignore it: its pushes are waited for */
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		ht_error("ignoring HEAPTRACE_PUSH='%s': not an http:// or https:// URL", url);
		return;
	}
	p->interval = PUSH_DEFAULT_SECONDS;
	v = getenv("HEAPTRACE_PUSH_INTERVAL");
	if (v && *v) {
		char *end;
		double d = strtod(v, &end);

		if (*end || !(d >= 1 && d <= 86400))
			ht_error("ignoring HEAPTRACE_PUSH_INTERVAL='%s': not a number of seconds "
				 "from 1 to 86400", v);
		else
			p->interval = d;
	}
	if (ht_collector_sibling("heaptrace-report", p->report, sizeof(p->report)) != 0) {
		ht_error("not pushing profiles: heaptrace-report is not next to the collector");
		return;
	}
	v = getenv("TMPDIR");
	snprintf(tmpl, sizeof(tmpl), "%s/heaptrace-push-XXXXXX", v && *v == '/' ? v : "/tmp");
	if (ht_collector_as_process(c, tmpl) != 0)
		return;
	if (!mkdtemp(tmpl)) {
		ht_error("not pushing profiles: cannot make '%s': %s", tmpl, strerror(errno));
		ht_collector_back_to_own(c);
		return;
	}
	ht_collector_back_to_own(c);
	snprintf(p->dir, sizeof(p->dir), "%s", tmpl);
	p->url = url;
	p->next = ht_now_ns() + (int64_t)(p->interval * 1e9);
}

/* The child: the process's ids for good, then argv (heaptrace-report
 * --push ...). Only what is safe after fork in a threaded process. */
static void run_push(struct collector *c, char *const *argv)
{
	const struct ht_creds *pc = &c->proc_creds;
	int fd;

	if (!c->proc_creds_ok || setgroups((size_t)pc->ngroups, pc->groups) != 0 ||
	    setresgid(pc->gid, pc->gid, pc->gid) != 0 || setresuid(pc->uid, pc->uid, pc->uid) != 0) {
		/* without privilege to change ids, ours must be the process's */
		if (!c->proc_creds_ok || getuid() != pc->uid || getgid() != pc->gid)
			_exit(126);
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execv(argv[0], argv);
	_exit(127);
}

/* The command line of a push of cur (and base, if not NULL) into argv. */
static void push_argv(struct collector *c, const char *cur, const char *base, const char **argv)
{
	const char *app = getenv("HEAPTRACE_PUSH_APP"), *labels = getenv("HEAPTRACE_LABELS");
	const char *auth = getenv("HEAPTRACE_PUSH_AUTH_FILE");
	int n = 0;

	argv[n++] = c->push.report;
	argv[n++] = "--push";
	argv[n++] = c->push.url;
	if (base) {
		argv[n++] = "--push-base";
		argv[n++] = base;
	}
	if (app && *app) {
		argv[n++] = "--app";
		argv[n++] = app;
	}
	if (labels && *labels) {
		argv[n++] = "--labels";
		argv[n++] = labels;
	}
	if (auth && *auth) {
		argv[n++] = "--push-auth-file";
		argv[n++] = auth;
	}
	argv[n++] = "--";
	argv[n++] = cur;
	argv[n] = NULL;
}

/* Writes s where the next push takes it from, and starts that push. */
static void start_push(struct collector *c, const struct ht_snapshot *s)
{
	struct ht_push *p = &c->push;
	char cur[PATH_MAX + 16], base[PATH_MAX + 16], err[512];
	const char *argv[16];
	struct stat st;
	pid_t pid;

	snprintf(cur, sizeof(cur), "%s/cur.heap", p->dir);
	snprintf(base, sizeof(base), "%s/base.heap", p->dir);
	if (ht_collector_as_process(c, cur) != 0)
		return;
	if (ht_snapshot_save(s, cur, HT_FILE_NAMED, NULL, 0, err, sizeof(err)) != 0) {
		ht_collector_back_to_own(c);
		p->failed++;
		return;
	}
	ht_collector_back_to_own(c);
	push_argv(c, cur, stat(base, &st) == 0 ? base : NULL, argv);
	pid = fork();
	if (pid == 0)
		run_push(c, (char *const *)argv);
	if (pid < 0) {
		p->failed++;
		return;
	}
	p->child = pid;
}

/* A push that ended: counted; a sent one's snapshot is the next base. */
static void ended(struct collector *c, int status)
{
	struct ht_push *p = &c->push;
	char cur[PATH_MAX + 16], base[PATH_MAX + 16];

	p->child = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		p->sent++;
		snprintf(cur, sizeof(cur), "%s/cur.heap", p->dir);
		snprintf(base, sizeof(base), "%s/base.heap", p->dir);
		if (ht_collector_as_process(c, base) == 0) {
			rename(cur, base);
			ht_collector_back_to_own(c);
		}
	} else {
		p->failed++;
	}
}

static void reap(struct collector *c, int wait)
{
	int status;
	pid_t r;

	if (c->push.child <= 0)
		return;
	r = waitpid(c->push.child, &status, wait ? 0 : WNOHANG);
	if (r == c->push.child)
		ended(c, status);
	else if (r < 0 && errno != EINTR)
		c->push.child = -1;
}

void ht_collector_push_tick(struct collector *c, int64_t now)
{
	struct ht_push *p = &c->push;
	struct ht_snapshot *s;

	if (!p->url)
		return;
	reap(c, 0);
	if (now < p->next)
		return;
	while (p->next <= now)
		p->next += (int64_t)(p->interval * 1e9);
	if (p->child > 0) {
		p->skipped++; /* the last one is still on its way */
		return;
	}
	ht_collector_ask_stats(c);
	ht_collector_drain(c, 1);
	s = ht_collector_take(c, c->nsnaps, 0);
	if (!s) {
		p->failed++;
		return;
	}
	start_push(c, s);
	ht_snapshot_free(s);
}

void ht_collector_push_final(struct collector *c, const struct ht_snapshot *s)
{
	struct ht_push *p = &c->push;
	int64_t end = ht_now_ns() + (int64_t)FINAL_WAIT_MS * 1000000;

	if (!p->url)
		return;
	if (p->child > 0) {
		/* the one on its way first: the final one's base is what it sent */
		while (p->child > 0 && ht_now_ns() < end) {
			reap(c, 0);
			if (p->child > 0)
				usleep(20000);
		}
	}
	if (s && p->child <= 0)
		start_push(c, s);
	while (p->child > 0 && ht_now_ns() < end) {
		reap(c, 0);
		if (p->child > 0)
			usleep(20000);
	}
	if (p->child > 0) {
		kill(p->child, SIGKILL);
		reap(c, 1);
	}
}

void ht_collector_push_cleanup(struct collector *c)
{
	struct ht_push *p = &c->push;
	char path[PATH_MAX + 16];

	if (!p->dir[0])
		return;
	if (ht_collector_as_process(c, p->dir) != 0)
		return;
	snprintf(path, sizeof(path), "%s/cur.heap", p->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/base.heap", p->dir);
	unlink(path);
	ht_file_clean_temps(p->dir);
	rmdir(p->dir);
	ht_collector_back_to_own(c);
}
