/* The target process as /proc shows it: whether it may be attached to,
 * with one clear line when not, and where its C library, loader, shim and
 * allocator are mapped. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/attach.h"
#include "lib/util.h"

/* The value of "Key:" in /proc/PID/status into out; 0, or -1. */
static int status_field(pid_t pid, const char *key, char *out, size_t cap)
{
	char path[64], line[512];
	size_t k = strlen(key);
	FILE *f;
	int rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (rc && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':') {
			char *v = line + k + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = 0;
			snprintf(out, cap, "%s", v);
			rc = 0;
		}
	fclose(f);
	return rc;
}

static int have_cap_sys_ptrace(void)
{
	char v[64];

	return status_field(getpid(), "CapEff", v, sizeof(v)) == 0 &&
	       (strtoull(v, NULL, 16) >> 19 & 1); /* CAP_SYS_PTRACE */
}

const char *ht_proc_yama = "/proc/sys/kernel/yama/ptrace_scope";

static int yama_scope(void)
{
	FILE *f = fopen(ht_proc_yama, "re");
	int v = 0;

	if (!f)
		return 0; /* no Yama */
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

void ht_proc_why_eperm(const struct ht_target *t, char *err, size_t cap)
{
	char uid[128];
	unsigned r = 0, e = 0, s = 0;
	int scope = yama_scope(), capable = have_cap_sys_ptrace();

	if (status_field(t->pid, "Uid", uid, sizeof(uid)) == 0)
		sscanf(uid, "%u %u %u", &r, &e, &s);
	if (scope >= 3)
		ht_fail(err, cap, "cannot attach to process %d: kernel.yama.ptrace_scope is 3, "
			"which forbids attaching to any process until the next boot", (int)t->pid);
	else if (!capable && (r != geteuid() || e != geteuid() || s != geteuid()))
		ht_fail(err, cap, "cannot attach to process %d: it runs as user %u; attaching needs "
			"the same user or CAP_SYS_PTRACE (root)", (int)t->pid, e);
	else if (!capable && scope == 2)
		ht_fail(err, cap, "cannot attach to process %d: kernel.yama.ptrace_scope is 2, "
			"which lets only CAP_SYS_PTRACE attach (run as root)", (int)t->pid);
	else if (!capable && scope == 1)
		ht_fail(err, cap, "cannot attach to process %d: kernel.yama.ptrace_scope is 1, "
			"which lets only its parent attach; run as root (CAP_SYS_PTRACE) or set "
			"kernel.yama.ptrace_scope to 0", (int)t->pid);
	else
		ht_fail(err, cap, "cannot attach to process %d: not permitted (it may be marked "
			"not dumpable, or a security module refuses)", (int)t->pid);
}

/* The checks /proc/PID/status allows: a process, not a thread, not a
 * zombie, not stopped, not traced. */
static int check_status(struct ht_target *t, char *err, size_t cap)
{
	char v[256];
	pid_t pid = t->pid;

	if (status_field(pid, "Tgid", v, sizeof(v)) != 0)
		return ht_fail(err, cap, "no such process %d", (int)pid);
	if (atoi(v) != pid)
		return ht_fail(err, cap, "%d is a thread of process %s: attach to %s", (int)pid, v, v);
	if (status_field(pid, "Name", t->comm, sizeof(t->comm)) != 0)
		t->comm[0] = 0;
	if (status_field(pid, "State", v, sizeof(v)) == 0) {
		if (v[0] == 'Z' || v[0] == 'X')
			return ht_fail(err, cap, "process %d has ended (a zombie)", (int)pid);
		if (v[0] == 'T')
			return ht_fail(err, cap, "process %d is stopped (job control): continue it "
				       "first (kill -CONT %d)", (int)pid, (int)pid);
	}
	if (status_field(pid, "TracerPid", v, sizeof(v)) == 0 && atoi(v) != 0) {
		char comm[64] = "";

		status_field(atoi(v), "Name", comm, sizeof(comm));
		return ht_fail(err, cap, "process %d is being traced by process %s (%s), a debugger "
			       "or tracer: detach it first", (int)pid, v, comm);
	}
	return 0;
}

/* A 64-bit x86 program, not in secure-execution mode (AT_SECURE). */
static int check_exe(struct ht_target *t, char *err, size_t cap)
{
	unsigned char h[20];
	uint64_t aux[2];
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)t->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, h, sizeof(h));

		close(fd);
		if (n == (ssize_t)sizeof(h) && !memcmp(h, ELFMAG, SELFMAG) && h[EI_CLASS] != ELFCLASS64)
			return ht_fail(err, cap, "process %d is a 32-bit program: heaptrace attaches "
				       "to 64-bit x86 programs only", (int)t->pid);
		if (n == (ssize_t)sizeof(h) && (h[18] | h[19] << 8) != EM_X86_64)
			return ht_fail(err, cap, "process %d is not an x86-64 program", (int)t->pid);
	}
	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)t->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ht_proc_why_eperm(t, err, cap);
		return -1;
	}
	while (read(fd, aux, sizeof(aux)) == (ssize_t)sizeof(aux) && aux[0] != AT_NULL)
		if (aux[0] == AT_SECURE && aux[1]) {
			close(fd);
			return ht_fail(err, cap, "process %d runs in secure-execution mode (set-user-ID, "
				       "set-group-ID or file capabilities): heaptrace does not load "
				       "into it", (int)t->pid);
		}
	close(fd);
	return 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int is_libc(const char *b)
{
	return !strcmp(b, "libc.so.6") || (!strncmp(b, "libc-", 5) && strstr(b, ".so"));
}

static int is_loader(const char *b)
{
	return !strncmp(b, "ld-linux", 8) || (!strncmp(b, "ld-", 3) && strstr(b, ".so"));
}

/* One module's mappings as the maps file lists them, one after another. */
struct mod {
	char path[4096];
	char file[4200]; /* where to read it: /proc/PID/map_files/LO-HI of its first
			  * mapping (the very file, even replaced on disk since; only
			  * with CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN), else
			  * /proc/PID/root/PATH (the file of that name in its
			  * mount namespace) */
	uintptr_t base;
	int unsafe;      /* its code is the C library's, the loader's, the shim's or
			  * an allocator's */
};

static void add_range(struct ht_target *t, uintptr_t lo, uintptr_t hi)
{
	if (t->nunsafe < HT_MAX_RANGES) {
		t->unsafe[t->nunsafe].lo = lo;
		t->unsafe[t->nunsafe].hi = hi;
		t->nunsafe++;
	}
}

/* A new module begins at the mapping lo-hi of path. */
static void new_mod(struct ht_target *t, struct mod *m, const char *path, uintptr_t lo, uintptr_t hi)
{
	const char *b = base_name(path);
	uint64_t v, sz, first;

	snprintf(m->path, sizeof(m->path), "%s", path);
	snprintf(m->file, sizeof(m->file), "/proc/%d/map_files/%lx-%lx", (int)t->pid,
		 (unsigned long)lo, (unsigned long)hi);
	if (access(m->file, R_OK) != 0)
		snprintf(m->file, sizeof(m->file), "/proc/%d/root%s", (int)t->pid, path);
	m->base = lo;
	m->unsafe = is_libc(b) || is_loader(b) || !strcmp(b, "libheaptrace.so") ||
		    ht_elf_symbol(m->file, "malloc", &v, &sz, &first) == 0;
	if (is_libc(b) && !t->libc_base) {
		snprintf(t->libc, sizeof(t->libc), "%s", m->file);
		t->libc_base = lo;
	}
	if (is_loader(b) && !t->ld_base) {
		snprintf(t->ld, sizeof(t->ld), "%s", m->file);
		t->ld_base = lo;
	}
	if (!strcmp(b, "libheaptrace.so") && !t->shim_base) {
		t->shim_base = lo;
		snprintf(t->shim_file, sizeof(t->shim_file), "%s", m->file);
	}
}

/* Reads the maps: the C library, the shim, the unsafe code. 0, or -1 if
 * they cannot be read. */
static int read_maps(struct ht_target *t, int *has_loader, int *libc_deleted)
{
	char path[64], line[4200];
	struct mod m = { .path = "" };
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	t->nunsafe = t->nloader = 0;
	t->libc_base = t->shim_base = t->ld_base = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;
		char perms[8];
		int at = 0;
		char *p;

		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %n", &lo, &hi, perms, &off, &at) < 4 || !at)
			continue;
		p = line + at;
		p[strcspn(p, "\n")] = 0;
		if (p[0] != '/')
			continue;
		if (is_loader(base_name(p)))
			*has_loader = 1;
		if (strstr(p, " (deleted)") && is_libc(base_name(p)))
			*libc_deleted = 1;
		if (off == 0 || strcmp(p, m.path) != 0)
			new_mod(t, &m, p, lo, hi);
		if (perms[2] == 'x' && m.unsafe)
			add_range(t, lo, hi);
		if (perms[2] == 'x' && is_loader(base_name(p)) && t->nloader < 4) {
			t->loader[t->nloader].lo = lo;
			t->loader[t->nloader++].hi = hi;
		}
	}
	fclose(f);
	return 0;
}

/* The C library's internal lock wait (its allocator's, its stdio's): a
 * thread blocked there may hold another of the allocator's locks. (A
 * wait for a pthread mutex, __lll_lock_wait, is for the program's locks
 * or the loader's, whose owners are checked.) And the loader's
 * _rtld_global, which holds its locks. */
static void find_locks(struct ht_target *t)
{
	uint64_t v, sz, first;

	if (ht_elf_symbol(t->libc, "__lll_lock_wait_private", &v, &sz, &first) == 0) {
		t->lockwait.lo = t->libc_base + v - first;
		t->lockwait.hi = t->lockwait.lo + (sz ? sz : 256);
	}
	if (t->ld_base && ht_elf_symbol(t->ld, "_rtld_global", &v, &sz, &first) == 0 && sz) {
		t->rtld_global = t->ld_base + v - first;
		t->rtld_global_size = sz;
	}
}

int ht_proc_check(pid_t pid, const char *shim, struct ht_target *t, char *err, size_t cap)
{
	int loader = 0, deleted = 0;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	snprintf(t->shim, sizeof(t->shim), "%s", shim);
	if (pid == getpid())
		return ht_fail(err, cap, "heaptrace-attach does not attach to itself");
	if (check_status(t, err, cap) != 0 || check_exe(t, err, cap) != 0)
		return -1;
	if (read_maps(t, &loader, &deleted) != 0) {
		ht_proc_why_eperm(t, err, cap);
		return -1;
	}
	if (!loader)
		return ht_fail(err, cap, "process %d is statically linked (it has no dynamic "
			       "loader): nothing can be loaded into it", (int)pid);
	if (!t->libc_base)
		return ht_fail(err, cap, "process %d does not use the GNU C library", (int)pid);
	if (deleted)
		return ht_fail(err, cap, "process %d runs a C library that was replaced on disk since "
			       "it started: its symbols cannot be trusted", (int)pid);
	find_locks(t);
	return 0;
}
