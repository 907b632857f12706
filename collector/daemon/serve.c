/* The collector's end of the control socket (see lib/control.h): one
 * request per connection, "snapshot", "view", "trim" or "info", answered synchronously
 * within a deadline, to root or the traced process's user only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/collector.h"
#include "lib/control.h"
#include "lib/util.h"

/* Each exchange with a client has a total deadline: a client that sends
 * its request slowly, or reads the reply slowly, cannot hold the
 * collector (which does not drain the ring meanwhile) for longer. */
#define REQUEST_MS 2000

static void reply_error(int fd, const char *msg, int64_t deadline)
{
	char line[600];

	snprintf(line, sizeof(line), "error %s\n", msg);
	ht_io_write(fd, line, strlen(line), deadline);
}

static void reply(int fd, const void *body, size_t len, uint32_t seq, int64_t deadline)
{
	char line[64];

	snprintf(line, sizeof(line), "ok %zu %u\n", len, seq);
	if (ht_io_write(fd, line, strlen(line), deadline) == 0)
		ht_io_write(fd, body, len, deadline);
}

/* "snapshot": the next numbered snapshot, as a .heap image; "view": the
 * same, numbered 0, for the HTTP endpoints, which must not use up the
 * numbers of the user's dumps. The reply's own deadline is the time to
 * write it, not to build it. */
static void serve_snapshot(struct collector *c, int fd, int numbered)
{
	char err[512];
	struct ht_snapshot *s;
	void *buf;
	size_t len;
	int64_t deadline;

	ht_collector_ask_stats(c);
	ht_collector_drain(c, 1);
	s = ht_collector_take(c, numbered ? ++c->nsnaps : 0, 0);
	deadline = ht_now_ns() + (int64_t)HT_CONTROL_TIMEOUT_MS * 1000000;
	if (!s) {
		reply_error(fd, "out of memory", deadline);
		return;
	}
	if (ht_snapshot_encode(s, &buf, &len, err, sizeof(err)) != 0) {
		reply_error(fd, err, deadline);
	} else if (len > HT_CONTROL_MAX_REPLY) {
		snprintf(err, sizeof(err), "the snapshot is %zu bytes, more than "
			 "heaptrace-dump takes (%zu)", len, HT_CONTROL_MAX_REPLY);
		reply_error(fd, err, deadline);
		free(buf);
	} else {
		reply(fd, buf, len, s->seq, deadline);
		free(buf);
	}
	ht_snapshot_free(s);
}

/* "trim": the process gives its free memory back; the reply is the
 * snapshot taken right after, which records the trim. */
static void serve_trim(struct collector *c, int fd)
{
	char err[512];

	if (ht_collector_trim(c, err, sizeof(err)) != 0) {
		reply_error(fd, err, ht_now_ns() + (int64_t)HT_CONTROL_TIMEOUT_MS * 1000000);
		return;
	}
	serve_snapshot(c, fd, 1);
}

/* "info": the process, its start and its memory in use, for a row of
 * heaptrace-dump --list. */
static void serve_info(struct collector *c, int fd, int64_t deadline)
{
	struct ht_control_info in = { 0 };
	char body[HT_PATH_MAX + 128];
	size_t len;

	in.pid = (long long)c->fixed.pid;
	snprintf(in.exe, sizeof(in.exe), "%s", c->fixed.exe);
	in.start_ns = (long long)c->fixed.start_time_ns;
	in.inuse = ht_profile_inuse(c->prof);
	len = ht_control_info_format(body, sizeof(body), &in);
	reply(fd, body, len, c->nsnaps, deadline);
}

void ht_collector_serve(struct collector *c, int fd)
{
	char line[64], why[256];
	size_t n = 0;
	int64_t deadline = ht_now_ns() + (int64_t)REQUEST_MS * 1000000;

	if (ht_control_client_ok(fd, (pid_t)c->fixed.pid, why, sizeof(why)) != 0) {
		reply_error(fd, why, deadline);
		return;
	}
	while (n < sizeof(line) - 1 && ht_io_read(fd, &line[n], 1, deadline) == 0 && line[n] != '\n')
		n++;
	line[n] = 0;
	if (strcmp(line, "snapshot") == 0 || strcmp(line, "view") == 0)
		serve_snapshot(c, fd, line[0] == 's');
	else if (strcmp(line, "trim") == 0)
		serve_trim(c, fd);
	else if (strcmp(line, "info") == 0)
		serve_info(c, fd, deadline);
	else
		reply_error(fd, "unknown request", deadline);
}
