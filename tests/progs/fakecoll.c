/* Test subject for tests/t_sock.sh: a traced program with a hostile
 * stand-in for its collector. It forks a child by the raw system call, so
 * that no fork handler runs and the child keeps the program's heaptrace
 * shared memory mapped, as its collector does: heaptrace-dump's checks of
 * the peer pass, and what is tested is how it reads. The child listens on
 * DIR/PPID-CPID.sock (the name a collector takes) and answers every
 * request as MODE says:
 *   slow   "ok 16 1\n" and a body, one byte every 3 seconds
 *   huge   "ok 2147483648 1\n", then a few bytes, then nothing
 * Usage: fakecoll MODE DIR. Prints "ready CPID" once the child listens;
 * at the end of its input it kills the child and exits. The child uses
 * no malloc (its heap is a copy the shim still thinks it traces). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void serve(const char *mode, int lfd)
{
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		char req[64];

		if (c < 0)
			continue;
		if (read(c, req, sizeof(req)) < 0)
			req[0] = 0;
		if (!strcmp(mode, "slow")) {
			static const char msg[] = "ok 16 1\n0123456789abcdef";

			for (size_t i = 0; i < sizeof(msg) - 1; i++) {
				if (write(c, &msg[i], 1) != 1)
					break;
				sleep(3);
			}
		} else {
			static const char msg[] = "ok 2147483648 1\nHTSNAP";

			if (write(c, msg, sizeof(msg) - 1) < 0)
				req[0] = 0;
			sleep(60);
		}
		close(c);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char line[64], *p = malloc(100); /* the shim is set up */
	int sync[2], lfd;
	pid_t parent = getpid(), child;

	if (argc != 3 || (strcmp(argv[1], "slow") && strcmp(argv[1], "huge")) || !p ||
	    pipe(sync) != 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	child = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (child < 0)
		return 1;
	if (child == 0) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d-%d.sock", argv[2], (int)parent,
			 (int)syscall(SYS_getpid));
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4) != 0)
			_exit(1);
		if (write(sync[1], "x", 1) != 1)
			_exit(1);
		serve(argv[1], lfd);
		_exit(0);
	}
	close(sync[1]);
	if (read(sync[0], line, 1) != 1) {
		waitpid(child, NULL, 0);
		return 1;
	}
	printf("ready %d\n", (int)child);
	while (fgets(line, sizeof(line), stdin))
		;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	free(p);
	return 0;
}
