/* The control socket: its private directory, peer checks, and the client
 * side of the snapshot request used by heaptrace-dump (see control.h). */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MAX_REPLY ((size_t)1 << 31)

int ht_control_dir(uid_t uid, char *out, size_t cap)
{
	int n = snprintf(out, cap, "/tmp/heaptrace-%u", (unsigned)uid);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int socket_path(pid_t pid, uid_t uid, struct sockaddr_un *sa)
{
	char dir[64];
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (ht_control_dir(uid, dir, sizeof(dir)))
		return -1;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%d.sock", dir, (int)pid);
	return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -1 : 0;
}

int ht_control_listen(pid_t pid, char *path, size_t cap, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	char dir[64];
	uid_t uid = geteuid();
	int fd;

	if (ht_control_dir(uid, dir, sizeof(dir)) || socket_path(pid, uid, &sa))
		return ht_fail(err, errlen, "socket path too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return ht_fail(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
	if (lstat(dir, &st) != 0)
		return ht_fail(err, errlen, "cannot stat '%s': %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 0077))
		return ht_fail(err, errlen, "'%s' is not a private directory of uid %u",
			       dir, (unsigned)uid);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ht_fail(err, errlen, "cannot create socket: %s", strerror(errno));
	unlink(sa.sun_path); /* a stale socket of an earlier process with this pid */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
		ht_fail(err, errlen, "cannot listen on '%s': %s", sa.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(path, cap, "%s", sa.sun_path);
	return fd;
}

int ht_control_peer_ok(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return -1;
	return cr.uid == geteuid() || cr.uid == 0 ? 0 : -1;
}

int ht_read_full(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int ht_write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The owner of /proc/PID, to find the socket directory of its user. */
static int process_uid(pid_t pid, uid_t *uid)
{
	char p[64];
	struct stat st;

	snprintf(p, sizeof(p), "/proc/%d", (int)pid);
	if (stat(p, &st) != 0)
		return -1;
	*uid = st.st_uid;
	return 0;
}

/* Has process pid the shim loaded? Its collector may still be starting
 * (the program does not wait for it), or tracing may be off. */
static int shim_loaded(pid_t pid)
{
	char p[64], line[4096];
	FILE *f;
	int found = 0;

	snprintf(p, sizeof(p), "/proc/%d/maps", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "/libheaptrace.so") != NULL;
	fclose(f);
	return found;
}

/* Connects to the collector of pid: for up to CONNECT_WAIT_MS if the
 * process has the shim loaded, since a collector that is still starting
 * has not bound its socket yet. Returns the socket, or -1 and errno. */
#define CONNECT_WAIT_MS 2000
static int connect_collector(pid_t pid, const struct sockaddr_un *sa)
{
	int waited = 0, loaded = -1;

	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), e;
		struct timespec ts = { 0, 10 * 1000000 };

		if (fd < 0)
			return -1;
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return fd;
		e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED) {
			if (loaded < 0)
				loaded = shim_loaded(pid);
			if (loaded && waited < CONNECT_WAIT_MS) {
				nanosleep(&ts, NULL);
				waited += 10;
				continue;
			}
		}
		errno = e;
		return -1;
	}
}

int ht_control_request(pid_t pid, const char *cmd, void **body, size_t *len,
		       uint32_t *seq, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct timeval tv = { 120, 0 };
	char line[512];
	size_t n = 0;
	unsigned long long blen = 0;
	unsigned s = 0;
	uid_t uid;
	void *b;
	int fd;

	*body = NULL;
	*len = 0;
	if (pid <= 0 || process_uid(pid, &uid) != 0)
		return ht_fail(err, errlen, "no such process %d", (int)pid);
	if (socket_path(pid, uid, &sa))
		return ht_fail(err, errlen, "socket path too long");
	fd = connect_collector(pid, &sa);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT || e == ECONNREFUSED)
			return ht_fail(err, errlen, "process %d is not traced by heaptrace "
				       "(no collector at '%s')", (int)pid, sa.sun_path);
		return ht_fail(err, errlen, "cannot connect to '%s': %s", sa.sun_path,
			       strerror(e));
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(line, sizeof(line), "%s\n", cmd);
	if (ht_write_full(fd, line, strlen(line)) != 0)
		goto broken;
	/* the reply's first line, byte by byte: it is short */
	while (n < sizeof(line) - 1) {
		if (ht_read_full(fd, &line[n], 1) != 0)
			goto broken;
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	if (n && line[n - 1] == '\n')
		line[--n] = 0;
	if (strncmp(line, "error ", 6) == 0) {
		close(fd);
		return ht_fail(err, errlen, "collector of process %d: %s", (int)pid, line + 6);
	}
	if (sscanf(line, "ok %llu %u", &blen, &s) != 2 || blen > MAX_REPLY) {
		close(fd);
		return ht_fail(err, errlen, "collector of process %d sent a bad reply", (int)pid);
	}
	b = malloc(blen ? blen : 1);
	if (!b) {
		close(fd);
		return ht_fail(err, errlen, "out of memory");
	}
	if (ht_read_full(fd, b, blen) != 0) {
		free(b);
		goto broken;
	}
	close(fd);
	*body = b;
	*len = blen;
	if (seq)
		*seq = s;
	return 0;
broken:
	close(fd);
	return ht_fail(err, errlen, "the collector of process %d did not answer%s%s", (int)pid,
		       errno ? ": " : "", errno ? strerror(errno) : "");
}
