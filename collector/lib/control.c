/* The control socket: its private directory, both ends' peer checks, how
 * heaptrace-dump finds and trusts a collector, I/O with a deadline, and
 * both halves of the "info" reply (see control.h). */
#include "lib/control.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

/* ---- I/O with a deadline -------------------------------------------------- */

/* Waits for events on fd until deadline_ns: 0, or -1 with ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = { fd, events, 0 };
		int64_t left = deadline_ns - ht_now_ns();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&p, 1, (int)((left + 999999) / 1000000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int ht_io_read(int fd, void *buf, size_t n, int64_t deadline_ns)
{
	char *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0) {
			errno = 0;
			return -1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (wait_fd(fd, POLLIN, deadline_ns) != 0)
				return -1;
		} else if (errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

int ht_io_write(int fd, const void *buf, size_t n, int64_t deadline_ns)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline_ns) != 0)
				return -1;
		} else if (w == 0 || errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* ---- the directory -------------------------------------------------------- */

/* $XDG_RUNTIME_DIR if it is a directory of uid that no one else may
 * write, with a name that /proc/net/unix shows whole. */
static const char *runtime_dir(uid_t uid)
{
	const char *x = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (!x || x[0] != '/' || strlen(x) > 64)
		return NULL;
	for (const char *c = x; *c; c++)
		if (!isgraph((unsigned char)*c))
			return NULL;
	if (lstat(x, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 0022))
		return NULL;
	return x;
}

int ht_control_dir(uid_t uid, char *out, size_t cap)
{
	const char *x = runtime_dir(uid);
	int n = x ? snprintf(out, cap, "%s/heaptrace", x)
		  : snprintf(out, cap, "/tmp/heaptrace-%u", (unsigned)uid);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Opens dir without following a symlink and checks that it is a private
 * directory: a directory, owned by uid (any uid when uid is -1), mode
 * 0700. Returns the fd, or -1 with err. */
static int open_private_dir(const char *dir, uid_t uid, struct stat *st, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		if (e == ENOTDIR || e == ELOOP)
			ht_fail(err, errlen, "'%s' is not a directory (a symlink?)", dir);
		else
			ht_fail(err, errlen, "cannot open '%s': %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, st) != 0 || !S_ISDIR(st->st_mode)) {
		close(fd);
		return ht_fail(err, errlen, "'%s' is not a directory", dir);
	}
	if ((uid != (uid_t)-1 && st->st_uid != uid) || (st->st_mode & 07777) != 0700) {
		char want[32] = "";

		if (uid != (uid_t)-1)
			snprintf(want, sizeof(want), "uid %u's, ", (unsigned)uid);
		ht_fail(err, errlen, "'%s' is not a private directory (owner uid %u, mode %04o; "
			"it must be %smode 0700)", dir, (unsigned)st->st_uid,
			(unsigned)(st->st_mode & 07777), want);
		close(fd);
		return -1;
	}
	return fd;
}

/* sa = the socket NAME in the directory open as dirfd, by /proc/self/fd:
 * the directory checked, not whatever its path names now. */
static int at_path(int dirfd, const char *name, struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
	return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -1 : 0;
}

/* Parses "PID-CPID.sock": 0 and the two pids, or -1. */
static int parse_name(const char *name, pid_t *pid, pid_t *cpid)
{
	int p, c, end = 0;

	if (sscanf(name, "%9d-%9d.sock%n", &p, &c, &end) != 2 || name[end] || p <= 0 || c <= 0 ||
	    !isdigit((unsigned char)name[0]))
		return -1;
	*pid = p;
	if (cpid)
		*cpid = c;
	return 0;
}

/* Connects a non-blocking socket to sa until deadline_ns (a full backlog
 * makes connect fail with EAGAIN: try again). Returns the fd, or -1. */
static int connect_until(const struct sockaddr_un *sa, int64_t deadline_ns)
{
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), e;
		struct timespec ts = { 0, 10 * 1000000 };

		if (fd < 0)
			return -1;
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return fd;
		e = errno;
		close(fd);
		if (e != EAGAIN || ht_now_ns() >= deadline_ns) {
			errno = e == EAGAIN ? ETIMEDOUT : e;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

/* Removes the sockets in dirfd whose collector is dead: its pid (in the
 * name) is gone and nothing listens (a killed collector leaves its
 * socket behind). */
static void remove_stale(int dirfd)
{
	int d = dup(dirfd);
	DIR *dir = d >= 0 ? fdopendir(d) : NULL;
	struct dirent *e;

	if (!dir) {
		if (d >= 0)
			close(d);
		return;
	}
	while ((e = readdir(dir))) {
		struct sockaddr_un sa;
		struct stat st;
		pid_t pid, cpid;
		int fd;

		if (parse_name(e->d_name, &pid, &cpid) != 0 || kill(cpid, 0) == 0 || errno != ESRCH ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISSOCK(st.st_mode) || at_path(dirfd, e->d_name, &sa) != 0)
			continue;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			break;
		if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0 && errno == ECONNREFUSED)
			unlinkat(dirfd, e->d_name, 0);
		close(fd);
	}
	closedir(dir);
}

int ht_control_listen(pid_t pid, char *path, size_t cap, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	char dir[96], name[32];
	uid_t uid = geteuid();
	int dfd, fd, n, made;

	if (ht_control_dir(uid, dir, sizeof(dir)))
		return ht_fail(err, errlen, "socket directory name too long");
	snprintf(name, sizeof(name), "%d-%d.sock", (int)pid, (int)getpid());
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return ht_fail(err, errlen, "socket path too long");
	made = mkdir(dir, 0700) == 0;
	if (!made && errno != EEXIST)
		return ht_fail(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
	if (made) /* the umask may have taken bits of 0700 */
		chmod(dir, 0700);
	dfd = open_private_dir(dir, uid, &st, err, errlen);
	if (dfd < 0) {
		if (!made && strstr(err, "private"))
			snprintf(err + strlen(err), errlen - strlen(err), "; remove it");
		return -1;
	}
	remove_stale(dfd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		close(dfd);
		return ht_fail(err, errlen, "cannot create socket: %s", strerror(errno));
	}
	/* Bound by its absolute path, which /proc/net/unix shows the tools:
	 * it names the directory checked above, since only we (or root) may
	 * rename or remove our directory (in /tmp, which is sticky, or in
	 * our runtime directory). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(st.st_mode)) {
		ht_fail(err, errlen, "cannot listen on '%s': %s", sa.sun_path, strerror(errno));
		close(fd);
		close(dfd);
		return -1;
	}
	close(dfd);
	snprintf(path, cap, "%s", sa.sun_path);
	return fd;
}

/* ---- who is who ----------------------------------------------------------- */

/* The real, effective, saved and filesystem uids of pid. */
static int process_uids(pid_t pid, uid_t u[4])
{
	char p[64], line[256];
	unsigned long long a, b, c, d;
	FILE *f;
	int found = 0;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %llu %llu %llu %llu", &a, &b, &c, &d) == 4) {
			u[0] = (uid_t)a, u[1] = (uid_t)b, u[2] = (uid_t)c, u[3] = (uid_t)d;
			found = 1;
		}
	fclose(f);
	return found ? 0 : -1;
}

static int has_uid(const uid_t u[4], uid_t uid)
{
	return u[0] == uid || u[1] == uid || u[2] == uid || u[3] == uid;
}

int ht_control_client_ok(int fd, pid_t pid, char *why, size_t whylen)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char p[64];
	struct stat st;
	uid_t u[4];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return ht_fail(why, whylen, "permission denied: no credentials");
	if (cr.uid == 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d", (int)pid);
	if (process_uids(pid, u) != 0 || stat(p, &st) != 0) {
		/* the process is gone: it ran as we do */
		if (cr.uid == geteuid())
			return 0;
		return ht_fail(why, whylen, "permission denied: uid %u may not dump process %d",
			       (unsigned)cr.uid, (int)pid);
	}
	if (u[0] != cr.uid || u[1] != cr.uid || u[2] != cr.uid || u[3] != cr.uid)
		return ht_fail(why, whylen, "permission denied: process %d does not run as uid %u",
			       (int)pid, (unsigned)cr.uid);
	/* /proc/PID belongs to root while the process is not dumpable (it
	 * changed its user, or asked not to be inspected) */
	if (st.st_uid != cr.uid)
		return ht_fail(why, whylen, "permission denied: process %d is not dumpable "
			       "(only root may dump it)", (int)pid);
	return 0;
}

/* The heaptrace shared memory pid maps: "/memfd:heaptrace" mappings, as
 * "DEV INODE" strings into out (up to max). Returns how many, or -1 if
 * the maps cannot be read. */
static int shm_ids(pid_t pid, char out[][48], int max)
{
	char p[64], line[4096];
	FILE *f;
	int n = 0;

	snprintf(p, sizeof(p), "/proc/%d/maps", (int)pid);
	f = fopen(p, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char dev[16];
		unsigned long long ino;

		if (n < max && strstr(line, "/memfd:heaptrace") &&
		    sscanf(line, "%*s %*s %*s %15s %llu", dev, &ino) == 2) {
			int dup = 0;

			snprintf(out[n], 48, "%s %llu", dev, ino);
			for (int i = 0; i < n; i++)
				dup |= !strcmp(out[i], out[n]);
			n += !dup;
		}
	}
	fclose(f);
	return n;
}

/* Is cpid the collector of pid: does it map pid's shared memory? Only
 * pid itself, what pid hands it to, and root can map that memfd. */
static int is_collector_of(pid_t cpid, pid_t pid, char *err, size_t errlen)
{
	char a[8][48], b[8][48];
	int na, nb;

	if (cpid == pid)
		return ht_fail(err, errlen, "is served by process %d itself", (int)pid);
	na = shm_ids(pid, a, 8);
	if (na < 0)
		return ht_fail(err, errlen, "cannot read '/proc/%d/maps' to check its collector: %s",
			       (int)pid, strerror(errno));
	nb = shm_ids(cpid, b, 8);
	if (nb < 0)
		return ht_fail(err, errlen, "cannot read '/proc/%d/maps' to check it: %s",
			       (int)cpid, strerror(errno));
	for (int i = 0; i < na; i++)
		for (int j = 0; j < nb; j++)
			if (!strcmp(a[i], b[j]))
				return 0;
	return ht_fail(err, errlen, "process %d, which serves it, does not map its shared memory",
		       (int)cpid);
}

/* ---- finding collectors --------------------------------------------------- */

/* Is path "…/heaptrace[-UID]/PID-CPID.sock"? Fills s. */
static int collector_path(const char *path, struct ht_control_sock *s)
{
	const char *slash = strrchr(path, '/'), *d;
	size_t dl;

	if (!slash || slash == path || strlen(path) >= sizeof(s->path) ||
	    parse_name(slash + 1, &s->pid, NULL) != 0)
		return -1;
	for (d = slash; d > path && d[-1] != '/'; d--)
		;
	dl = (size_t)(slash - d);
	if (!(dl == 9 && !strncmp(d, "heaptrace", 9)) &&
	    !(dl > 10 && !strncmp(d, "heaptrace-", 10) && strspn(d + 10, "0123456789") == dl - 10))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	return 0;
}

/* Calls fn for each listening collector socket in the /proc net/unix
 * file unix (of pid 0 = ours), those of process only when only > 0. */
static int each_in(const char *unix_file, pid_t only,
		   void (*fn)(const struct ht_control_sock *s, void *arg), void *arg)
{
	FILE *f = fopen(unix_file, "re");
	char line[512], (*seen)[108] = NULL;
	size_t nseen = 0, cap = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long flags;
		char path[256];
		struct ht_control_sock s;
		size_t i;

		/* Num RefCount Protocol Flags Type St Inode Path; a listening
		 * socket has __SO_ACCEPTCON (1 << 16) in Flags */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, path) != 2 ||
		    !(flags & 0x10000) || collector_path(path, &s) != 0 || (only > 0 && s.pid != only))
			continue;
		for (i = 0; i < nseen && strcmp(seen[i], s.path); i++)
			;
		if (i < nseen)
			continue;
		if (nseen == cap) {
			cap = cap ? cap * 2 : 16;
			seen = ht_xrealloc(seen, cap * sizeof(*seen));
		}
		memcpy(seen[nseen++], s.path, sizeof(s.path));
		fn(&s, arg);
	}
	free(seen);
	fclose(f);
	return 0;
}

int ht_control_each(void (*fn)(const struct ht_control_sock *s, void *arg), void *arg)
{
	return each_in("/proc/self/net/unix", 0, fn, arg);
}

/* ---- asking --------------------------------------------------------------- */

/* Reads the reply on fd: its first line, byte by byte (it is short), then
 * at most cap bytes of body, grown as they arrive. */
static int read_reply(int fd, pid_t pid, size_t cap, int64_t deadline, void **body, size_t *len,
		      uint32_t *seq, char *err, size_t errlen)
{
	char line[600];
	size_t n = 0, have = 0, got = 0;
	unsigned long long blen = 0;
	unsigned s = 0;
	int end = 0;
	char *b = NULL;

	while (n < sizeof(line) - 1) {
		if (ht_io_read(fd, &line[n], 1, deadline) != 0)
			goto broken;
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	if (n && line[n - 1] == '\n')
		line[--n] = 0;
	if (strncmp(line, "error ", 6) == 0) {
		for (char *c = line; *c; c++)
			if (!isprint((unsigned char)*c))
				*c = '?';
		return ht_fail(err, errlen, "collector of process %d: %s", (int)pid, line + 6);
	}
	if (sscanf(line, "ok %llu %u%n", &blen, &s, &end) != 2 || line[end])
		return ht_fail(err, errlen, "the collector of process %d sent a bad reply", (int)pid);
	if (blen > cap)
		return ht_fail(err, errlen, "the collector of process %d claims a reply of %llu "
			       "bytes, more than the limit of %zu", (int)pid, blen, cap);
	while (got < blen) {
		size_t want;

		if (got == have) {
			have = have ? have * 2 : 1 << 20;
			if (have > blen)
				have = (size_t)blen;
			b = ht_xrealloc(b, have);
		}
		want = have - got;
		if (ht_io_read(fd, b + got, want, deadline) != 0) {
			free(b);
			goto broken;
		}
		got += want;
	}
	*body = b ? b : ht_xmalloc(1);
	*len = (size_t)blen;
	if (seq)
		*seq = s;
	return 0;
broken:
	if (errno == ETIMEDOUT)
		return ht_fail(err, errlen, "the collector of process %d did not answer within "
			       "the deadline", (int)pid);
	return ht_fail(err, errlen, "the collector of process %d did not answer%s%s", (int)pid,
		       errno ? ": " : "", errno ? strerror(errno) : "");
}

/* Checks, connects, checks the peer, asks. Return as ht_control_request_at. */
static int ask(const struct ht_control_sock *s, const char *cmd, int64_t deadline, size_t cap,
	       void **body, size_t *len, uint32_t *seq, char *err, size_t errlen)
{
	char dir[108], *slash, line[64], why[400];
	const char *name;
	struct sockaddr_un sa;
	struct stat st;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	uid_t u[4], me = geteuid();
	int dfd, fd, rc;

	*body = NULL;
	*len = 0;
	err[0] = 0;
	if (process_uids(s->pid, u) != 0)
		return ht_fail(err, errlen, "no such process %d", (int)s->pid);
	/* another user's process: its collector will not answer us */
	if (me != 0 && !(u[0] == me && u[1] == me && u[2] == me && u[3] == me))
		return 1;
	snprintf(dir, sizeof(dir), "%s", s->path);
	slash = strrchr(dir, '/');
	*slash = 0;
	name = slash + 1;
	dfd = open_private_dir(dir, (uid_t)-1, &st, why, sizeof(why));
	if (dfd < 0) {
		struct stat ds;

		/* the process changed its user after it started: its
		 * collector runs as the old one, root */
		if (me != 0 && errno == EACCES && lstat(dir, &ds) == 0 && ds.st_uid == 0)
			return ht_fail(err, errlen, "process %d is traced by a collector of root "
				       "('%s'), since it changed its user: only root can dump it",
				       (int)s->pid, s->path);
		return ht_fail(err, errlen, "refusing '%s': %s", s->path, why);
	}
	if (st.st_uid != 0 && !has_uid(u, st.st_uid)) {
		close(dfd);
		return ht_fail(err, errlen, "refusing '%s': its directory belongs to uid %u, "
			       "not to process %d's user or root", s->path, (unsigned)st.st_uid,
			       (int)s->pid);
	}
	if (at_path(dfd, name, &sa) != 0) {
		close(dfd);
		return ht_fail(err, errlen, "socket path too long");
	}
	fd = connect_until(&sa, deadline);
	close(dfd);
	if (fd < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			return ht_fail(err, errlen, "no collector at '%s'", s->path);
		return ht_fail(err, errlen, "cannot connect to '%s': %s", s->path, strerror(errno));
	}
	/* who answers, before anything is sent or read */
	rc = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0)
		ht_fail(err, errlen, "refusing '%s': no peer credentials: %s", s->path,
			strerror(errno));
	else if (cr.uid != st.st_uid)
		ht_fail(err, errlen, "refusing '%s': served by uid %u, not by its directory's "
			"owner (uid %u)", s->path, (unsigned)cr.uid, (unsigned)st.st_uid);
	else if (is_collector_of(cr.pid, s->pid, why, sizeof(why)) != 0)
		ht_fail(err, errlen, "refusing '%s': not the collector of process %d: %s", s->path,
			(int)s->pid, why);
	else
		rc = 0;
	if (rc == 0) {
		snprintf(line, sizeof(line), "%s\n", cmd);
		if (ht_io_write(fd, line, strlen(line), deadline) != 0)
			rc = ht_fail(err, errlen, "cannot ask the collector of process %d: %s",
				     (int)s->pid, errno == ETIMEDOUT ? "no answer within the deadline"
								    : strerror(errno));
		else
			rc = read_reply(fd, s->pid, cap, deadline, body, len, seq, err, errlen);
	}
	close(fd);
	return rc;
}

static size_t cap_of(const char *cmd)
{
	return strcmp(cmd, "info") ? HT_CONTROL_MAX_REPLY : HT_CONTROL_MAX_INFO;
}

int ht_control_request_at(const struct ht_control_sock *s, const char *cmd, int timeout_ms,
			  void **body, size_t *len, uint32_t *seq, char *err, size_t errlen)
{
	return ask(s, cmd, ht_now_ns() + (int64_t)timeout_ms * 1000000, cap_of(cmd), body, len,
		   seq, err, errlen);
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

/* Does process pid hold the shim's shared memory ("/memfd:heaptrace")
 * open? The shim keeps it for a collector it has not started yet (at its
 * first sampled allocation); once the collector runs it is closed. */
static int collector_not_started(pid_t pid)
{
	char dir[64], path[384], to[256];
	struct dirent *e;
	DIR *d;
	int found = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, to, sizeof(to) - 1);
		if (n > 0) {
			to[n] = 0;
			found = !strncmp(to, "/memfd:heaptrace", 16);
		}
	}
	closedir(d);
	return found;
}

struct found {
	struct ht_control_sock s[16];
	int n;
};

static void collect(const struct ht_control_sock *s, void *arg)
{
	struct found *f = arg;

	if (f->n < 16)
		f->s[f->n++] = *s;
}

#define CONNECT_WAIT_MS 2000
int ht_control_request(pid_t pid, const char *cmd, int timeout_ms, void **body, size_t *len,
		       uint32_t *seq, char *err, size_t errlen)
{
	int64_t start = ht_now_ns(), deadline = start + (int64_t)timeout_ms * 1000000;
	char unix_file[64], first[1024] = "", refused[16][108];
	int loaded = -1, nrefused = 0;
	uid_t u[4];

	*body = NULL;
	*len = 0;
	if (pid <= 0 || process_uids(pid, u) != 0)
		return ht_fail(err, errlen, "no such process %d", (int)pid);
	snprintf(unix_file, sizeof(unix_file), "/proc/%d/net/unix", (int)pid);
	for (;;) {
		struct found f = { .n = 0 };
		struct timespec ts = { 0, 10 * 1000000 };

		/* pid's network namespace, or ours if that is closed to us */
		if (each_in(unix_file, pid, collect, &f) != 0 &&
		    each_in("/proc/self/net/unix", pid, collect, &f) != 0)
			return ht_fail(err, errlen, "cannot read '%s': %s", unix_file, strerror(errno));
		/* several: an exec'd image's collector next to its
		 * predecessor's, which is ending, or planted ones */
		for (int i = 0; i < f.n; i++) {
			int rc, j;

			for (j = 0; j < nrefused && strcmp(refused[j], f.s[i].path); j++)
				;
			if (j < nrefused)
				continue;
			rc = ask(&f.s[i], cmd, deadline, cap_of(cmd), body, len, seq, err, errlen);
			if (rc == 0)
				return 0;
			if (rc > 0 || strstr(err, "no collector at"))
				continue;
			if (!first[0])
				snprintf(first, sizeof(first), "%s", err);
			if (nrefused < 16)
				memcpy(refused[nrefused++], f.s[i].path, sizeof(f.s[i].path));
		}
		if (loaded < 0)
			loaded = shim_loaded(pid);
		if (loaded && collector_not_started(pid))
			return ht_fail(err, errlen, "process %d has no collector yet: it starts at its "
				       "first sampled allocation (start it now with 'heaptrace -p %d', "
				       "or run the program with HEAPTRACE_LAZY=0)", (int)pid, (int)pid);
		if (!loaded || ht_now_ns() - start >= (int64_t)CONNECT_WAIT_MS * 1000000 ||
		    ht_now_ns() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return ht_fail(err, errlen, "no such process %d", (int)pid);
	if (first[0])
		return ht_fail(err, errlen, "%s", first);
	return ht_fail(err, errlen, "process %d is not traced by heaptrace (no collector listens "
		       "for it)", (int)pid);
}

/* ---- the "info" reply ----------------------------------------------------- */

size_t ht_control_info_format(char *buf, size_t cap, const struct ht_control_info *info)
{
	int k = snprintf(buf, cap, "pid %lld\nexe %s\nstart %lld\ninuse %.0f\n", info->pid,
			 info->exe, info->start_ns, info->inuse);

	if (k < 0)
		return 0;
	return (size_t)k < cap ? (size_t)k : cap - 1;
}

int ht_control_info_parse(const void *body, size_t len, struct ht_control_info *info)
{
	char *p = malloc(len + 1), *line, *next;
	int in_exe = 0;

	memset(info, 0, sizeof(*info));
	snprintf(info->exe, sizeof(info->exe), "?");
	if (!p)
		return -1;
	memcpy(p, body, len);
	p[len] = 0;
	for (line = p; line; line = next) {
		char *nl = strchr(line, '\n');

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		else if (!*line)
			break; /* after the last newline */
		if (!strncmp(line, "exe ", 4)) {
			snprintf(info->exe, sizeof(info->exe), "%s", line + 4);
			in_exe = 1;
		} else if (sscanf(line, "start %lld", &info->start_ns) == 1 ||
			   sscanf(line, "inuse %lf", &info->inuse) == 1 ||
			   (!strncmp(line, "pid ", 4) && (sscanf(line, "pid %lld", &info->pid), 1))) {
			in_exe = 0;
		} else if (in_exe) {
			size_t n = strlen(info->exe);

			snprintf(info->exe + n, sizeof(info->exe) - n, "\n%s", line);
		}
	}
	free(p);
	return 0;
}
