/* heaptrace-dump's serving mode (see serve.h): one HTTP request on a
 * connection the collector accepted, routed to pprof's endpoints (Go's
 * net/http/pprof is the model), /metrics, or an error status. */
#include "dump/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/control.h"
#include "lib/http.h"
#include "lib/util.h"
#include "report/report.h"
#include "snapshot/snapshot.h"

/* The client has this long to send its request, and to read the whole
 * response once it is ready. */
#define READ_MS 5000
#define WRITE_MS 10000

#define METRICS_TOP_DEFAULT 10
#define METRICS_TOP_MAX 1000

struct conn {
	int fd;
	pid_t pid;
	struct ht_http_req rq;
	int head; /* HEAD: the headers only */
};

static int respond(struct conn *c, int status, const char *ctype, const char *headers,
		   const void *body, size_t len)
{
	return ht_http_respond(c->fd, status, ctype, headers, body, len, c->head, WRITE_MS) ? 1 : 0;
}

/* An error status with a one-line text body. */
static int respond_error(struct conn *c, int status, const char *msg)
{
	char body[1024];
	int n = snprintf(body, sizeof(body), "%s\n", msg ? msg : ht_http_reason(status));

	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	return respond(c, status, "text/plain; charset=utf-8",
		       status == 405 ? "Allow: GET, HEAD\r\n" : NULL, body, (size_t)n);
}

size_t ht_dump_metrics_top(void)
{
	const char *v = getenv("HEAPTRACE_METRICS_TOP");
	uint64_t n;

	if (!v || !*v)
		return METRICS_TOP_DEFAULT;
	if (ht_parse_u64(v, &n) != 0 || n > METRICS_TOP_MAX) {
		ht_error("ignoring HEAPTRACE_METRICS_TOP='%s': not a whole number from 0 to %d",
			 v, METRICS_TOP_MAX);
		return METRICS_TOP_DEFAULT;
	}
	return (size_t)n;
}

struct ht_snapshot *ht_dump_view(pid_t pid, char *err, size_t errlen)
{
	struct ht_snapshot *s;
	void *body;
	size_t len;
	char why[512];

	if (ht_control_request(pid, "view", HT_CONTROL_TIMEOUT_MS, &body, &len, NULL, err,
			       errlen) != 0)
		return NULL;
	if (ht_snapshot_decode(body, len, &s, why, sizeof(why)) != 0) {
		ht_fail(err, errlen, "process %lld sent an unreadable snapshot: %s", (long long)pid,
			why);
		s = NULL;
	}
	free(body);
	return s;
}

/* ?seconds=N: 0 when absent, -1 when not a whole number of 1 to the most. */
static int seconds_param(const struct ht_http_req *rq)
{
	char v[32];
	uint64_t n;

	if (!ht_http_param(rq, "seconds", v, sizeof(v)))
		return strstr(rq->query, "seconds=") ? -1 : 0;
	if (ht_parse_u64(v, &n) != 0 || n < 1 || n > HT_SERVE_SECONDS_MAX)
		return -1;
	return (int)n;
}

static void sleep_s(int s)
{
	struct timespec ts = { s, 0 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Renders with fn into memory and sends it as ctype; a failure is a 500. */
static int send_rendered(struct conn *c, const char *ctype, const char *headers,
			 int (*fn)(FILE *out, void *arg), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int rc;

	if (!m)
		return respond_error(c, 500, "out of memory");
	rc = fn(m, arg);
	if (fclose(m) != 0)
		rc = -1;
	rc = rc ? respond_error(c, 500, "cannot render the response") :
		  respond(c, 200, ctype, headers, buf, len);
	free(buf);
	return rc;
}

struct profile_job {
	const struct ht_snapshot *base, *cur;
	struct ht_report_opts o;
};

static int render_profile(FILE *out, void *arg)
{
	struct profile_job *j = arg;

	return ht_report_write(out, j->base, j->cur, &j->o);
}

/* /debug/pprof/heap and /allocs: the gzip'd profile.proto of a snapshot
 * now, or of the change over the next ?seconds=N, with index as its
 * default sample type. */
static int serve_profile(struct conn *c, enum ht_index index, const char *name)
{
	struct profile_job j = { NULL, NULL, { 0 } };
	struct ht_snapshot *base = NULL, *cur;
	char err[1024], headers[256];
	int seconds = seconds_param(&c->rq), rc;

	if (seconds < 0)
		return respond_error(c, 400, "bad seconds: want a whole number from 1 to 300");
	if (seconds) {
		base = ht_dump_view(c->pid, err, sizeof(err));
		if (!base)
			return respond_error(c, 503, err);
		sleep_s(seconds);
	}
	cur = ht_dump_view(c->pid, err, sizeof(err));
	if (!cur) {
		ht_snapshot_free(base);
		return respond_error(c, 503, err);
	}
	ht_report_opts_init(&j.o);
	j.o.format = HT_FORMAT_PPROF;
	j.o.index = index;
	j.base = base;
	j.cur = cur;
	snprintf(headers, sizeof(headers), "Content-Disposition: attachment; filename=\"%s%s\"\r\n"
		 "X-Content-Type-Options: nosniff\r\n", name, seconds ? "-delta" : "");
	rc = send_rendered(c, "application/octet-stream", headers, render_profile, &j);
	ht_snapshot_free(base);
	ht_snapshot_free(cur);
	return rc;
}

static int render_metrics(FILE *out, void *arg)
{
	return ht_report_write_metrics(out, arg, ht_dump_metrics_top());
}

static int serve_metrics(struct conn *c)
{
	char err[1024];
	struct ht_snapshot *s = ht_dump_view(c->pid, err, sizeof(err));
	int rc;

	if (!s)
		return respond_error(c, 503, err);
	rc = send_rendered(c, "text/plain; version=0.0.4; charset=utf-8", NULL, render_metrics, s);
	ht_snapshot_free(s);
	return rc;
}

/* /debug/pprof/cmdline: the arguments separated by NULs, as Go's. */
static int serve_cmdline(struct conn *c)
{
	char path[64], buf[65536];
	size_t len = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%lld/cmdline", (long long)c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return respond_error(c, 503, "the process is gone");
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len && buf[len - 1] == 0)
		len--; /* the kernel ends each argument; Go joins them */
	return respond(c, 200, "text/plain; charset=utf-8", "X-Content-Type-Options: nosniff\r\n",
		       buf, len);
}

static const char index_page[] =
	"<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n"
	"/debug/pprof/<br>\n<br>\nTypes of profiles available:\n"
	"<table>\n<thead><td>Profile</td></thead>\n"
	"<tr><td><a href=\"allocs?debug=0\">allocs</a></td></tr>\n"
	"<tr><td><a href=\"cmdline\">cmdline</a></td></tr>\n"
	"<tr><td><a href=\"heap?debug=0\">heap</a></td></tr>\n"
	"</table>\n"
	"<a href=\"/metrics\">metrics</a> (Prometheus)\n<br>\n<p>\nProfile Descriptions:\n<ul>\n"
	"<li><div class=profile-name>allocs: </div> A sampling of all past memory "
	"allocations (alloc_space by default)</li>\n"
	"<li><div class=profile-name>cmdline: </div> The command line invocation of the "
	"current program</li>\n"
	"<li><div class=profile-name>heap: </div> A sampling of memory allocations of live "
	"objects (inuse_space by default). Add ?seconds=N for the change over the next N "
	"seconds.</li>\n"
	"</ul>\n</p>\n</body>\n</html>\n";

static int route(struct conn *c)
{
	const char *p = c->rq.path;

	if (!strcmp(p, "/debug/pprof/heap"))
		return serve_profile(c, HT_INUSE_SPACE, "heap");
	if (!strcmp(p, "/debug/pprof/allocs"))
		return serve_profile(c, HT_ALLOC_SPACE, "allocs");
	if (!strcmp(p, "/metrics"))
		return serve_metrics(c);
	if (!strcmp(p, "/debug/pprof/cmdline"))
		return serve_cmdline(c);
	if (!strcmp(p, "/debug/pprof/") || !strcmp(p, "/debug/pprof"))
		return respond(c, 200, "text/html; charset=utf-8", NULL, index_page,
			       sizeof(index_page) - 1);
	return respond_error(c, 404, "404 page not found");
}

int ht_dump_serve(int fd, pid_t pid)
{
	struct conn c;
	int status, rc;

	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.pid = pid;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	status = ht_http_read(fd, &c.rq, READ_MS);
	c.head = !strcmp(c.rq.method, "HEAD");
	if (status == 408)
		rc = 1; /* nothing to say to a client that said nothing */
	else if (status)
		rc = respond_error(&c, status, NULL);
	else
		rc = route(&c);
	close(fd);
	return rc;
}
