/* The shim loaded into a running process (heaptrace -p): how it knows it
 * came late, the settings heaptrace-attach hands it (instead of the
 * environment, which is the program's), and the one entry point the
 * injected call reaches: start tracing, or stop it. */
#include <dlfcn.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* "NAME=VALUE" strings, NUL-separated, an empty one last. */
static char settings[4096];
static int late = -1; /* unknown yet */
static int set;       /* settings were given: the environment is not read */

/* Loaded by the program's dlopen, not at its start: the C library comes
 * before the shim in the loader's list (a preloaded object comes right
 * after the executable, before the libraries it needs). */
int ht_attach_late(void)
{
	if (late >= 0)
		return late;
	/* libc loaded before the shim: the shim came later than the program */
	late = ht_objects_before((void *)getpid, (void *)ht_attach_late) == 1;
	return late;
}

const char *ht_attach_env(const char *name, int *given)
{
	size_t len = strlen(name);
	const char *s;

	*given = set;
	if (!set || strncmp(name, "HEAPTRACE_", 10) != 0)
		return NULL;
	for (s = settings; *s; s += strlen(s) + 1)
		if (!strncmp(s, name, len) && s[len] == '=')
			return s + len + 1;
	return NULL;
}

size_t ht_attach_envv(char **out, size_t cap)
{
	size_t n = 0;
	char *s;

	if (!set)
		return 0;
	for (s = settings; *s && n < cap; s += strlen(s) + 1)
		out[n++] = s;
	return n;
}

/* Keeps the lines of req after the first, each "HEAPTRACE_NAME=VALUE",
 * as the settings. Returns 0, or -1 if one is not that or they do not fit. */
static int keep_settings(const char *req)
{
	const char *nl = strchr(req, '\n');
	size_t n = 0;

	memset(settings, 0, sizeof(settings));
	while (nl) {
		const char *line = nl + 1, *end;
		size_t len;

		nl = strchr(line, '\n');
		end = nl ? nl : line + strlen(line);
		len = (size_t)(end - line);
		if (!len)
			continue;
		if (len < 12 || strncmp(line, "HEAPTRACE_", 10) != 0 || !memchr(line, '=', len) ||
		    n + len + 2 > sizeof(settings))
			return -1;
		memcpy(settings + n, line, len);
		n += len + 1;
	}
	set = 1;
	return 0;
}

static int answer(char *msg, size_t cap, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int answer(char *msg, size_t cap, int code, const char *fmt, ...)
{
	va_list ap;

	if (msg && cap) {
		va_start(ap, fmt);
		vsnprintf(msg, cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* The entry point heaptrace-attach calls in the traced process, on one of
 * its threads (the others run on). req: "start" followed by lines of
 * settings, or "stop". Writes one line for the user into msg (cap bytes).
 * Returns 0 started, 1 already tracing (nothing done), 2 stopped, 3 not
 * tracing (nothing to stop), -1 failed (msg says why). */
HT_EXPORT int heaptrace_attach(const char *req, char *msg, size_t cap)
{
	int tr = __atomic_load_n(&ht_core.tracing, __ATOMIC_ACQUIRE);
	long coll = (long)ht_core.run.collector_pid;

	if (ht_startup_untraced())
		return answer(msg, cap, -1, "it runs in secure-execution mode (set-user-ID, "
			      "set-group-ID or capabilities), or is heaptrace's own: not traced");
	if (tr == HT_TR_ON && __atomic_load_n(&ht_core.lazy, __ATOMIC_ACQUIRE)) {
		/* preloaded, its collector not started yet: now it is */
		ht_lazy_start();
		coll = (long)ht_core.run.collector_pid;
	}
	if (!strcmp(req, "stop")) {
		if (tr != HT_TR_ON)
			return answer(msg, cap, 3, "it is not being traced");
		ht_startup_detach();
		return answer(msg, cap, 2, "tracing stopped; collector %ld writes the final snapshot",
			      coll);
	}
	if (strncmp(req, "start", 5) != 0 || (req[5] && req[5] != '\n'))
		return answer(msg, cap, -1, "unknown request '%.40s'", req);
	if (tr == HT_TR_ON && ht_spawn_alive())
		return answer(msg, cap, 1, "it is traced already (collector pid %ld)", coll);
	if (!ht_attach_late())
		return answer(msg, cap, -1, "it was started with the shim preloaded, and its tracing "
			      "is off (its collector %ld is gone, or never started)", coll);
	if (keep_settings(req) != 0)
		return answer(msg, cap, -1, "bad settings from heaptrace-attach");
	if (ht_startup_attach() != 0)
		return answer(msg, cap, -1, "%s", ht_say_last[0] ? ht_say_last + 11 :
			      "cannot start tracing");
	return answer(msg, cap, 0, "collector pid %ld", (long)ht_core.run.collector_pid);
}
