/* heaptrace-attach: loads libheaptrace.so into a running process and
 * starts (or stops) its tracing, with ptrace and no debugger: every thread
 * is stopped at a moment when none is inside the allocator or the loader,
 * one of them calls dlopen and then the shim's heaptrace_attach, and all
 * go on as before.
 * Run by `heaptrace -p`; see heaptrace(1), ATTACH. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach/attach.h"
#include "lib/util.h"
#include "lib/version.h"
#include "preload/settings.h"

#define MSG_CAP 256
/* --timeout; the others are let go if a call takes longer than hold_ms */
static int timeout_ms = 10000, hold_ms = 1000;
static int abandoned;

static _Noreturn void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: heaptrace-attach [--stop] [--shim PATH] [--timeout MS] PID [HEAPTRACE_NAME=VALUE...]\n"
		"Loads libheaptrace.so into the running process PID and starts tracing it\n"
		"with the settings given (--stop: stops it). A call into the process that\n"
		"has not returned after MS milliseconds (default 10000) is abandoned.\n"
		"Run by heaptrace -p.\n");
	exit(status);
}

/* libheaptrace.so next to this program (installed), or in the build tree. */
static void find_shim(const char *given, char *out, size_t cap)
{
	char self[PATH_MAX], try[PATH_MAX + 64], *slash;
	ssize_t n;

	if (given) {
		if (!realpath(given, out))
			ht_die(2, "cannot find the shim '%s'", given);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		ht_die(1, "cannot find libheaptrace.so: /proc/self/exe is unreadable");
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(try, sizeof(try), "%s/libheaptrace.so", self);
	if (access(try, R_OK) != 0)
		snprintf(try, sizeof(try), "%s/../preload/libheaptrace.so", self);
	if (strlen(try) >= cap || !realpath(try, out))
		ht_die(1, "cannot find libheaptrace.so next to '%s'", self);
}

/* addr of name in the module whose file is path, loaded at base. 0, or -1. */
static int place(const char *path, uintptr_t base, const char *name, uintptr_t *addr)
{
	uint64_t v, sz, first;

	if (ht_elf_symbol(path, name, &v, &sz, &first) != 0)
		return -1;
	*addr = base + v - first;
	return 0;
}

/* Reads the string at addr (the dlerror message) into out. */
static void read_str(struct ht_stopped *s, uintptr_t addr, char *out, size_t cap)
{
	size_t i;

	out[0] = 0;
	if (!addr || ht_inject_read(s, addr, out, cap - 1) != 0)
		snprintf(out, cap, "no reason given");
	out[cap - 1] = 0;
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = '?';
}

/* The addresses the calls need, found before any thread is stopped (the
 * ELF files are read now, not during the pause). */
struct plan {
	uintptr_t dlopen_at, dlerror_at; /* 0: none */
	uint64_t mode;
	uintptr_t fn;                    /* heaptrace_attach, if the shim is loaded */
	uint64_t fn_value;               /* its value in the shim's file, to place it */
};

/* Fills p for t. 0, or -1 with err. */
static int make_plan(struct ht_target *t, struct plan *p, char *err, size_t cap)
{
	uint64_t sz, first;

	memset(p, 0, sizeof(*p));
	p->mode = RTLD_NOW;
	if (t->shim_base) {
		if (place(t->shim_file, t->shim_base, "heaptrace_attach", &p->fn) != 0)
			return ht_fail(err, cap, "the shim loaded in process %d has no "
				       "heaptrace_attach (another version?)", (int)t->pid);
		return 0;
	}
	if (ht_elf_symbol(t->shim, "heaptrace_attach", &p->fn_value, &sz, &first) != 0)
		return ht_fail(err, cap, "'%s' has no heaptrace_attach: not the shim", t->shim);
	if (place(t->libc, t->libc_base, "dlopen", &p->dlopen_at) != 0) {
		/* before glibc 2.34, the C library's own entry (with __RTLD_DLOPEN) */
		if (place(t->libc, t->libc_base, "__libc_dlopen_mode", &p->dlopen_at) != 0)
			return ht_fail(err, cap, "cannot find dlopen in the C library of process %d",
				       (int)t->pid);
		p->mode |= 0x80000000u;
	}
	if (place(t->libc, t->libc_base, "dlerror", &p->dlerror_at) != 0)
		p->dlerror_at = 0;
	return 0;
}

/* Makes the stopped thread load the shim, and places heaptrace_attach by
 * its handle (a struct link_map, whose first field is the load bias). 0,
 * or -1 with err. */
static int load(struct ht_target *t, struct ht_stopped *s, struct plan *p, uintptr_t path,
		char *err, size_t cap)
{
	uint64_t h = 0, m = 0, bias;
	char why[MSG_CAP];

	if (ht_inject_call(s, p->dlopen_at, path, p->mode, 0, &h, hold_ms, timeout_ms, &abandoned,
			   err, cap) != 0)
		return -1;
	if (!h) {
		if (p->dlerror_at && ht_inject_call(s, p->dlerror_at, 0, 0, 0, &m, hold_ms, timeout_ms,
						    &abandoned, err, cap) == 0)
			read_str(s, (uintptr_t)m, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "no reason given");
		return ht_fail(err, cap, "process %d could not load the shim: %s", (int)t->pid, why);
	}
	if (ht_inject_read(s, (uintptr_t)h, &bias, sizeof(bias)) != 0)
		return ht_fail(err, cap, "cannot read the shim's handle in process %d", (int)t->pid);
	p->fn = (uintptr_t)(bias + p->fn_value);
	return 0;
}

static double ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* How long the dlopen call and heaptrace_attach's took, in ms. */
static double took_load, took_call;

/* The request for heaptrace_attach: "start" and the settings, one a line,
 * or "stop". */
static size_t request(char *out, size_t cap, int stop, char **set, int nset)
{
	size_t n = (size_t)snprintf(out, cap, "%s", stop ? "stop" : "start");
	int i;

	for (i = 0; i < nset; i++) {
		const char *eq = strchr(set[i], '=');
		size_t len = eq ? (size_t)(eq - set[i]) : 0;
		char hint[HT_SETTING_MAX + 24];

		if (strncmp(set[i], "HEAPTRACE_", 10) != 0 || !eq || strchr(set[i], '\n'))
			ht_die(2, "'%s' is no HEAPTRACE_NAME=VALUE setting", set[i]);
		if (!ht_setting_known(set[i], len))
			ht_die(2, "'%.*s' is not a heaptrace setting%s", (int)len, set[i],
			       ht_setting_hint(hint, sizeof(hint), set[i], len));
		n += (size_t)snprintf(out + n, cap > n ? cap - n : 0, "\n%s", set[i]);
		if (n >= cap)
			ht_die(2, "the settings are too long");
	}
	return n + 1;
}

/* The thread's part: load if need be, then heaptrace_attach. Its code
 * (see attach.c in the shim) in *code, its message in msg. 0, or -1. */
static int run(struct ht_target *t, struct ht_stopped *s, struct plan *p, const char *req,
	       size_t reqlen, int *code, char *msg, char *err, size_t cap)
{
	static char data[PATH_MAX + 4096 + MSG_CAP];
	size_t plen = strlen(t->shim) + 1;
	uintptr_t at;
	uint64_t rc = 0;

	memcpy(data, t->shim, plen);
	memcpy(data + plen, req, reqlen);
	memset(data + plen + reqlen, 0, MSG_CAP);
	if (ht_inject_write(s, data, plen + reqlen + MSG_CAP, &at) != 0)
		return ht_fail(err, cap, "cannot write to the stack of thread %d of process %d",
			       (int)ht_inject_tid(s), (int)t->pid);
	took_load = ms_now();
	if (!p->fn && load(t, s, p, at, err, cap) != 0)
		return -1;
	took_load = ms_now() - took_load;
	took_call = ms_now();
	if (ht_inject_call(s, p->fn, at + plen, at + plen + reqlen, MSG_CAP, &rc, hold_ms, timeout_ms,
			   &abandoned, err, cap) != 0)
		return -1;
	took_call = ms_now() - took_call;
	*code = (int)(int32_t)rc;
	read_str(s, at + plen + reqlen, msg, MSG_CAP);
	return 0;
}

int main(int argc, char **argv)
{
	char shim[PATH_MAX], err[1024], msg[MSG_CAP], req[4096];
	const char *shim_arg = NULL;
	static struct ht_target target; /* large: not on the stack */
	struct ht_target *t = &target;
	struct ht_stopped *s;
	struct plan plan;
	int stop = 0, i = 1, code = -1, rc, nthreads, tries;
	double stopping;
	size_t reqlen;
	uint64_t pid;
	int64_t paused;

	ht_progname = "heaptrace-attach";
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--stop"))
			stop = 1;
		else if (!strcmp(argv[i], "--shim") && i + 1 < argc)
			shim_arg = argv[++i];
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (ht_parse_u64(argv[++i], &pid) != 0 || pid < 100 || pid > 3600000)
				ht_die(2, "--timeout takes milliseconds from 100 to 3600000, not '%s'",
				       argv[i]);
			timeout_ms = (int)pid;
			hold_ms = timeout_ms / 2 < hold_ms ? timeout_ms / 2 : hold_ms;
		}
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			usage(0);
		else if (!strcmp(argv[i], "--version")) {
			printf("%s %s\n", ht_progname, HT_VERSION);
			return 0;
		} else
			usage(2);
	}
	if (i >= argc)
		usage(2);
	if (ht_parse_u64(argv[i], &pid) != 0 || pid == 0 || pid > INT_MAX)
		ht_die(2, "'%s' is not a process id", argv[i]);
	find_shim(shim_arg, shim, sizeof(shim));
	reqlen = request(req, sizeof(req), stop, argv + i + 1, argc - i - 1);
	if (ht_proc_check((pid_t)pid, shim, t, err, sizeof(err)) != 0)
		ht_die(1, "%s", err);
	if (stop && !t->shim_base)
		ht_die(1, "process %d is not being traced (no libheaptrace.so in it)", (int)pid);
	if (make_plan(t, &plan, err, sizeof(err)) != 0)
		ht_die(1, "%s", err);
	s = ht_inject_stop(t, err, sizeof(err));
	if (!s)
		ht_die(1, "%s", err);
	rc = run(t, s, &plan, req, reqlen, &code, msg, err, sizeof(err));
	nthreads = s->n;
	tries = s->tries;
	stopping = (double)s->stopping_ns / 1e6;
	paused = ht_inject_release(s);
	if (rc != 0 && abandoned)
		ht_die(1, "%s; the process runs on, but what the call did stays done (the library "
		       "may be half loaded, the loader's lock held)", err);
	if (rc != 0)
		ht_die(1, "%s; the process runs on", err);
	if (code < 0 || code == 3)
		ht_die(1, "process %d (%s): %s", (int)pid, t->comm, msg);
	printf("%s process %d (%s): %s; %d thread%s paused %.1f ms (stopping %.1f, loading %.1f, "
	       "the call %.1f; %d tr%s)\n",
	       code == 0 ? "attached to" : code == 1 ? "not attached to" : "detached from",
	       (int)pid, t->comm, msg, nthreads, nthreads == 1 ? "" : "s", (double)paused / 1e6,
	       stopping, took_load, took_call, tries, tries == 1 ? "y" : "ies");
	return code == 1 ? 3 : 0;
}
