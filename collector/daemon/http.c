/* HEAPTRACE_METRICS: the collector's HTTP listener. Each connection is
 * handed, unread, to a heaptrace-dump of its own (the one next to the
 * collector, in its serving mode), a few at once, so that the loop never
 * waits on a client nor renders a report: it only accepts, spawns and
 * reaps. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "lib/http.h"
#include "lib/util.h"

/* Connections taken from the backlog per wake-up, at most. */
#define ACCEPT_BURST 16

/* heaptrace-dump next to our own executable into c->http_dump. */
static int find_dump(struct collector *c)
{
	if (ht_collector_sibling("heaptrace-dump", c->http_dump, sizeof(c->http_dump)) != 0)
		return ht_error("cannot serve HEAPTRACE_METRICS: no heaptrace-dump next to the "
				"collector ('%s'): %s", c->http_dump, strerror(errno));
	return 0;
}

void ht_collector_http_start(struct collector *c)
{
	const char *spec = getenv("HEAPTRACE_METRICS");
	char err[512];
	int port;

	c->http_fd = -1;
	if (!spec || !*spec || find_dump(c) != 0)
		return;
	c->http_fd = ht_http_listen(spec, err, sizeof(err));
	if (c->http_fd < 0) {
		ht_error("ignoring HEAPTRACE_METRICS: %s", err);
		return;
	}
	port = ht_http_port(c->http_fd);
	/* a port the kernel chose is known only from here */
	if (strcmp(spec, "0") == 0 || (strlen(spec) > 2 && !strcmp(spec + strlen(spec) - 2, ":0")))
		fprintf(stderr, "%s: process %lld: serving http on port %d\n", ht_progname,
			(long long)c->fixed.pid, port);
}

/* How long a connection told 503 is kept open for its client to read the
 * answer: closed with its request unread, it would be reset under it. */
#define BUSY_LINGER_NS 1000000000

/* Reads what the client sent, if anything; 1 when it is done (closed, or
 * an error), else 0. */
static int drained(int fd)
{
	char junk[4096];
	ssize_t n;

	while ((n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void ht_collector_http_reap(struct collector *c)
{
	int64_t now = ht_now_ns();

	for (int i = 0; i < c->http_nbusy;) {
		if (drained(c->http_busy[i]) || now > c->http_busy_until[i]) {
			close(c->http_busy[i]);
			c->http_nbusy--;
			c->http_busy[i] = c->http_busy[c->http_nbusy];
			c->http_busy_until[i] = c->http_busy_until[c->http_nbusy];
		} else {
			i++;
		}
	}
	for (int i = 0; i < c->http_nkids;) {
		pid_t r = waitpid(c->http_kids[i], NULL, WNOHANG);

		if (r == c->http_kids[i] || (r < 0 && errno == ECHILD))
			c->http_kids[i] = c->http_kids[--c->http_nkids];
		else
			i++;
	}
}

/* Answers 503 at once, without waiting for anything, and keeps the
 * connection (takes fd) a moment for the client to read it. */
static void busy(struct collector *c, int fd)
{
	static const char msg[] = "too many requests at once; try again\n";

	drained(fd);
	/* a new connection's send buffer is empty: this does not wait */
	ht_http_respond(fd, 503, "text/plain; charset=utf-8", "Retry-After: 1\r\n", msg,
			sizeof(msg) - 1, 0, 100);
	if (c->http_nbusy < HT_HTTP_KIDS) {
		c->http_busy[c->http_nbusy] = fd;
		c->http_busy_until[c->http_nbusy++] = ht_now_ns() + BUSY_LINGER_NS;
	} else {
		close(fd);
	}
}

/* Starts heaptrace-dump --serve-fd 0 PID on the connection fd. Between
 * fork and exec only async-signal-safe calls: the collector has threads. */
static void spawn(struct collector *c, int fd)
{
	extern char **environ;
	char pid[24];
	char *argv[] = { "heaptrace-dump", "--serve-fd", "0", pid, NULL };
	pid_t kid;

	snprintf(pid, sizeof(pid), "%lld", (long long)c->fixed.pid);
	kid = fork();
	if (kid == 0) {
		if (dup2(fd, 0) == 0 && syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
			execve(c->http_dump, argv, environ);
		_exit(127);
	}
	if (kid < 0)
		busy(c, fd);
	else {
		c->http_kids[c->http_nkids++] = kid;
		close(fd);
	}
}

void ht_collector_http_accept(struct collector *c)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(c->http_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		ht_collector_http_reap(c);
		if (c->http_nkids >= HT_HTTP_KIDS)
			busy(c, fd);
		else
			spawn(c, fd);
	}
}
