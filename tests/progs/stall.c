/* A stand-in for the shim whose loading never ends (its constructor
 * sleeps for ten minutes): heaptrace-attach --shim must abandon the call
 * after its timeout and leave the process running (tests/t_attach.sh). */
#include <stddef.h>
#include <unistd.h>

__attribute__((constructor)) static void stall(void)
{
	unsigned left = 600;

	while (left)
		left = sleep(left);
}

int heaptrace_attach(const char *req, char *msg, size_t cap)
{
	(void)req;
	(void)msg;
	(void)cap;
	return -1;
}
