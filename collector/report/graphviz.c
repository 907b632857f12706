/* Graphviz for the drawn graph formats (png, graph-svg): its dot program
 * run as a child without a shell, the DOT written to its standard input
 * and the image read from its standard output through two pipes, both at
 * once, so that neither side waits on the other's full pipe. */
#include "report/render.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A pipe whose ends are closed on exec and above the standard streams:
 * the child's dup2 onto 0 and 1 then always makes new descriptors. */
static int make_pipe(int fd[2], char *err, size_t errlen)
{
	if (pipe2(fd, O_CLOEXEC))
		return ht_fail(err, errlen, "cannot make a pipe for Graphviz: %s", strerror(errno));
	for (int k = 0; k < 2; k++) {
		int high;

		if (fd[k] > 2)
			continue;
		if ((high = fcntl(fd[k], F_DUPFD_CLOEXEC, 3)) < 0) {
			int e = errno;

			close(fd[0]);
			close(fd[1]);
			return ht_fail(err, errlen, "cannot make a pipe for Graphviz: %s", strerror(e));
		}
		close(fd[k]);
		fd[k] = high;
	}
	return 0;
}

/* Starts "dot -T<type>" with in as its standard input and out as its
 * standard output; the signals we block or ignore are not its business. */
static int spawn_dot(pid_t *pid, int in, int out, const char *type, char *err, size_t errlen)
{
	char name[] = "dot", arg[32];
	char *argv[] = { name, arg, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int rc;

	snprintf(arg, sizeof(arg), "-T%s", type);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	if (posix_spawn_file_actions_init(&fa))
		return ht_fail(err, errlen, "cannot run Graphviz's 'dot': out of memory");
	if (posix_spawnattr_init(&at)) {
		posix_spawn_file_actions_destroy(&fa);
		return ht_fail(err, errlen, "cannot run Graphviz's 'dot': out of memory");
	}
	rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (!rc)
		rc = posix_spawnattr_setsigmask(&at, &none) || posix_spawnattr_setsigdefault(&at, &dfl) ||
		     posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) ?
		     EINVAL : 0;
	if (!rc)
		rc = posix_spawnp(pid, name, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc == ENOENT)
		return ht_fail(err, errlen, "cannot run Graphviz's 'dot' to draw the graph: not "
			       "found in PATH (install the graphviz package)");
	if (rc)
		return ht_fail(err, errlen, "cannot run Graphviz's 'dot' to draw the graph: %s",
			       strerror(rc));
	return 0;
}

/* Writes in[0..len) to w (then closes it) while reading r to its end
 * into *out (malloc'd, *outlen bytes). A reader that stops early (EPIPE:
 * dot failed) ends the writing; its exit status tells why. */
static int transfer(int w, int r, const char *in, size_t len, char **out, size_t *outlen,
		    char *err, size_t errlen)
{
	size_t off = 0, cap = 0;
	int rc = 0;

	fcntl(w, F_SETFL, fcntl(w, F_GETFL) | O_NONBLOCK);
	if (len == 0) {
		close(w);
		w = -1;
	}
	for (;;) {
		struct pollfd p[2] = { { r, POLLIN, 0 }, { w, POLLOUT, 0 } };
		ssize_t n;

		if (poll(p, w >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = ht_fail(err, errlen, "cannot wait for Graphviz's 'dot': %s", strerror(errno));
			break;
		}
		if (w >= 0 && p[1].revents) {
			n = write(w, in + off, len - off);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || off == len) {
				close(w);
				w = -1;
			}
		}
		if (!p[0].revents)
			continue;
		if (*outlen == cap) {
			cap = cap ? 2 * cap : 65536;
			*out = ht_xrealloc(*out, cap);
		}
		n = read(r, *out + *outlen, cap - *outlen);
		if (n == 0)
			break;
		if (n > 0) {
			*outlen += (size_t)n;
		} else if (errno != EAGAIN && errno != EINTR) {
			rc = ht_fail(err, errlen, "cannot read what Graphviz's 'dot' drew: %s",
				     strerror(errno));
			break;
		}
	}
	if (w >= 0)
		close(w);
	return rc;
}

/* Waits for the child; 0 if it exited with status 0. */
static int reap(pid_t pid, char *err, size_t errlen)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return ht_fail(err, errlen, "cannot wait for Graphviz's 'dot': %s",
				       strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return ht_fail(err, errlen, "Graphviz's 'dot' failed (exit status %d)",
			       WEXITSTATUS(st));
	return ht_fail(err, errlen, "Graphviz's 'dot' was killed by signal %d", WTERMSIG(st));
}

int ht_graphviz_render(const char *dot, size_t len, const char *type, char **img,
		       size_t *imglen, char *err, size_t errlen)
{
	int in[2], out[2], rc;
	sigset_t pipe_set, old, pending;
	struct timespec zero = { 0, 0 };
	pid_t pid;

	*img = NULL;
	*imglen = 0;
	if (make_pipe(in, err, errlen))
		return -1;
	if (make_pipe(out, err, errlen)) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	rc = spawn_dot(&pid, in[0], out[1], type, err, errlen);
	close(in[0]);
	close(out[1]);
	if (rc) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	/* a write to a dot that stopped reading fails with EPIPE instead of
	 * killing us; a SIGPIPE raised meanwhile is taken here */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	rc = transfer(in[1], out[0], dot, len, img, imglen, err, errlen);
	close(out[0]);
	if (!sigismember(&old, SIGPIPE) && !sigpending(&pending) && sigismember(&pending, SIGPIPE))
		sigtimedwait(&pipe_set, NULL, &zero);
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* the first failure is the one to tell */
	if (reap(pid, rc ? NULL : err, rc ? 0 : errlen) || rc) {
		free(*img);
		*img = NULL;
		return -1;
	}
	if (*imglen == 0)
		return ht_fail(err, errlen, "Graphviz's 'dot' drew nothing");
	return 0;
}
