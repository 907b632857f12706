/* What the environment asks for: the HEAPTRACE_* settings, whether this
 * process is the one to trace, and the final snapshot's path. A value
 * that is not understood is ignored with one message. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "settings.h"

extern char **environ;

const char *ht_options_env(const char *name)
{
	int given;
	const char *v = ht_attach_env(name, &given);

	if (given && !strncmp(name, "HEAPTRACE_", 10))
		return v; /* heaptrace -p's, not the program's */
	return getenv(name); /* no allocation in glibc's getenv */
}

/* Is s a whole number in decimal digits only (no sign, no space, no
 * prefix), at most UINT64_MAX? Then it is in *out. */
static int parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return 0;
	}
	*out = v;
	return 1;
}

/* HEAPTRACE_name as a whole number from lo to hi: 1 and the number in
 * *out; 0 if unset or empty, or (with one message) anything else. */
static int env_u64(const char *name, uint64_t lo, uint64_t hi, uint64_t *out)
{
	const char *s = ht_options_env(name);
	uint64_t v;

	if (!s || !*s)
		return 0;
	if (!parse_digits(s, &v) || v < lo || v > hi) {
		ht_say("ignoring %s='%s': not a whole number from %llu to %llu",
		    name, s, (unsigned long long)lo, (unsigned long long)hi);
		return 0;
	}
	*out = v;
	return 1;
}

/* Expands %p (pid), %e (executable's base name) and %% in pattern. The
 * name is the program's to choose, so %e is made safe as ht_safe_name in
 * collector/util.c does it: [A-Za-z0-9._+-] kept, any other byte and a
 * leading '.' as '_', at most 64 bytes, "unknown" if empty. */
static int expand(char *out, size_t cap, const char *pattern, const char *exe)
{
	size_t n = 0, i;
	const char *p;
	int k;

	for (p = pattern; *p; p++) {
		if (*p == '%' && p[1] == 'e') {
			const char *e = *exe ? exe : "unknown";

			p++;
			for (i = 0; e[i] && i < 64; i++) {
				char c = e[i];

				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
				      c == '-') || (i == 0 && c == '.'))
					c = '_';
				if (n + 1 >= cap)
					return -1;
				out[n++] = c;
			}
		} else if (*p == '%' && (p[1] == 'p' || p[1] == '%')) {
			p++;
			if (*p == 'p')
				k = snprintf(out + n, cap - n, "%d", (int)getpid());
			else
				k = snprintf(out + n, cap - n, "%%");
			if (k < 0 || (size_t)k >= cap - n)
				return -1;
			n += (size_t)k;
		} else {
			if (n + 1 >= cap)
				return -1;
			out[n++] = *p;
		}
	}
	out[n] = 0;
	return 0;
}

int ht_options_output(char *out, size_t cap, int forked, int *is_default)
{
	const char *o = ht_options_env("HEAPTRACE_OUTPUT");
	const char *base = strrchr(ht_core.exe_path, '/');
	char name[HT_PATH_MAX];
	char cwd[HT_PATH_MAX];
	int n;

	base = base ? base + 1 : ht_core.exe_path;
	if (expand(name, sizeof(name), o && *o ? o : "heaptrace.%e.%p.heap", base) != 0)
		return -1;
	*is_default = !(o && *o);
	if (forked && o && *o && !strstr(o, "%p")) {
		/* a forked child must not take its parent's file: NAME.PID.heap */
		size_t len = strlen(name), stem = len > 5 && !strcmp(name + len - 5, ".heap") ? len - 5 : len;
		char tmp[HT_PATH_MAX];

		if (snprintf(tmp, sizeof(tmp), "%.*s.%d.heap", (int)stem, name, (int)getpid()) >=
		    (int)sizeof(tmp))
			return -1;
		memcpy(name, tmp, sizeof(tmp));
	}
	if (name[0] == '/')
		n = snprintf(out, cap, "%s", name);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, cap, "%s/%s", cwd, name);
	else
		return -1;
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Says once each HEAPTRACE_* variable of the environment that is no
 * setting (a mistyped HEAPTRACE_OUTPUT would otherwise leave the snapshot
 * where the user does not look), with the setting it likely meant. Not
 * when loaded by heaptrace -p, which refuses such names itself. */
static void check_names(void)
{
	char **e;

	if (ht_attach_late() || !environ)
		return;
	for (e = environ; *e; e++) {
		char hint[HT_SETTING_MAX + 24];
		const char *eq;
		size_t len;

		if (strncmp(*e, "HEAPTRACE_", 10) != 0)
			continue;
		eq = strchr(*e, '=');
		len = eq ? (size_t)(eq - *e) : strlen(*e);
		if (ht_setting_known(*e, len))
			continue;
		ht_say("ignoring %.*s: not a heaptrace setting%s", (int)(len > 200 ? 200 : len), *e,
		    ht_setting_hint(hint, sizeof(hint), *e, len));
	}
}

/* Settings that need the collector running from the start. */
static const char *const live_names[] = {
	"HEAPTRACE_INTERVAL", "HEAPTRACE_PEAK", "HEAPTRACE_PUSH", "HEAPTRACE_METRICS",
	"HEAPTRACE_SIGNAL", NULL
};

void ht_options_read(struct ht_options *o)
{
	uint64_t v;

	check_names();
	if (env_u64("HEAPTRACE_RATE", 1, (uint64_t)1 << 40, &v))
		o->rate = v;
	if (env_u64("HEAPTRACE_DEPTH", 1, HT_MAX_DEPTH, &v))
		o->depth = (int)v;
	if (env_u64("HEAPTRACE_FRAME_POINTERS", 0, 1, &v))
		o->frame_pointers = (int)v;
	o->ring_size = 2u << 20;
	if (env_u64("HEAPTRACE_RING_MB", 1, 4096, &v)) {
		o->ring_size = 1u << 20;
		while (o->ring_size < (v << 20))
			o->ring_size <<= 1;
	}
	if (env_u64("HEAPTRACE_EXIT_TIMEOUT", 0, 3600, &v))
		o->exit_timeout = (double)v;
	if (env_u64("HEAPTRACE_FOLLOW_FORK", 0, 1, &v))
		o->follow_fork = (int)v;
	if (env_u64("HEAPTRACE_TRIM_IDLE", 0, 1, &v))
		o->trim_idle = (int)v;
	o->lazy = !o->trim_idle && !ht_attach_late();
	if (env_u64("HEAPTRACE_LAZY", 0, 1, &v) && !v)
		o->lazy = 0;
	/* what the collector does from the start: snapshots in time, on a
	 * signal, at each peak; pushes; the metrics endpoint */
	for (const char *const *n = live_names; *n; n++)
		if (ht_options_env(*n) && *ht_options_env(*n))
			o->lazy = 0;
}

int ht_options_wanted(int *only_me)
{
	const char *off = ht_options_env("HEAPTRACE_DISABLE");
	const char *only = ht_options_env("HEAPTRACE_PID");
	uint64_t want;

	*only_me = 0;
	if (off && *off && strcmp(off, "0") != 0)
		return 0;
	if (only && *only) {
		if (!parse_digits(only, &want) || want == 0 || want > INT_MAX)
			ht_say("ignoring HEAPTRACE_PID='%s': not a process id", only);
		else if (want != (uint64_t)getpid())
			return 0; /* another process is the one traced: not us */
		else
			*only_me = 1;
	}
	return 1;
}
