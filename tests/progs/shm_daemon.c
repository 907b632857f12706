/* Test subject: a daemon's start. It closes every descriptor but stderr,
 * opens log files (which take the numbers the shim's own descriptors had),
 * forks, and the child writes to each log. Prints "logs ok" when every
 * write succeeded in the child and then in the parent. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NLOGS 8

int main(void)
{
	int fd[NLOGS], i, status;
	char name[32];
	pid_t pid;

	free(malloc(100));
	for (i = 0; i < 1024; i++)
		if (i != 2)
			close(i);
	for (i = 0; i < NLOGS; i++) {
		snprintf(name, sizeof(name), "log%d", i);
		fd[i] = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd[i] < 0) {
			perror(name);
			return 1;
		}
	}
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		for (i = 0; i < NLOGS; i++)
			if (write(fd[i], "child\n", 6) != 6) {
				fprintf(stderr, "write to fd %d failed: %m\n", fd[i]);
				_exit(1);
			}
		free(malloc(200));
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 1;
	for (i = 0; i < NLOGS; i++)
		if (write(fd[i], "parent\n", 7) != 7) {
			fprintf(stderr, "write to fd %d failed: %m\n", fd[i]);
			return 1;
		}
	fprintf(stderr, "logs ok\n");
	return 0;
}
