/* Finding and opening a module's files: the module file itself, or the
 * separate debug file of its build id or .gnu_debuglink under the debug
 * roots (HEAPTRACE_DEBUGINFO_PATH, then /usr/lib/debug), each opened as a
 * libdwfl session of its own over a private mapping. */
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolize/symbolize_int.h"

#define DEBUG_DIR "/usr/lib/debug" /* elfutils' default, with .build-id inside */
#define DEBUGINFO_PATH_ENV "HEAPTRACE_DEBUGINFO_PATH" /* more debug roots, first */

/* Whether the ELF file open on fd has the build id bits (any file does if
 * there are none to match). */
static int has_build_id(int fd, const unsigned char *bits, int len)
{
	Elf *elf;
	const void *id;
	ssize_t n;

	if (len <= 0)
		return 1;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return 0;
	n = dwelf_elf_gnu_build_id(elf, &id);
	n = n == len && memcmp(id, bits, len) == 0;
	elf_end(elf);
	return n;
}

/* Calls fn(dir, arg) for each debug root: the absolute directories of
 * HEAPTRACE_DEBUGINFO_PATH (colon-separated; others are ignored) in order,
 * then DEBUG_DIR if with_default. Stops at, and returns, the first result
 * other than -1; -1 if none. */
static int each_debug_root(int (*fn)(const char *dir, void *arg), void *arg,
			   int with_default)
{
	const char *p = getenv(DEBUGINFO_PATH_ENV);
	char dir[PATH_MAX];
	int r;

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len > 1 && p[len - 1] == '/')
			len--;
		if (len && p[0] == '/' && len < sizeof(dir)) {
			memcpy(dir, p, len);
			dir[len] = '\0';
			if (strcmp(dir, DEBUG_DIR) != 0 && (r = fn(dir, arg)) != -1)
				return r;
		}
		p = end ? end + 1 : NULL;
	}
	return with_default ? fn(DEBUG_DIR, arg) : -1;
}

/* Opens path read-only if it is an ELF file with the build id bits (any
 * file if len is 0); sets *found to a copy of path if found is not NULL.
 * Returns an fd, or -1. */
static int open_matching(const char *path, const unsigned char *bits, int len, char **found)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (!has_build_id(fd, bits, len)) {
		close(fd);
		return -1;
	}
	if (found) {
		*found = strdup(path);
		if (!*found) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Writes ROOT/.build-id/xx/yyyy.debug for the build id into buf; 0, or -1
 * if it does not fit. */
static int build_id_path(char *buf, size_t size, const char *root,
			 const unsigned char *bits, int len)
{
	size_t n;
	int k = snprintf(buf, size, "%s/.build-id/%02x/", root, bits[0]);

	if (k < 0 || (size_t)k >= size)
		return -1;
	n = (size_t)k;
	for (int i = 1; i < len; i++) {
		if (n + 3 > size)
			return -1;
		snprintf(buf + n, size - n, "%02x", bits[i]);
		n += 2;
	}
	if (n + sizeof(".debug") > size)
		return -1;
	memcpy(buf + n, ".debug", sizeof(".debug"));
	return 0;
}

struct debug_query {
	const unsigned char *bits; /* the build id */
	int len;
	const char *dir;           /* the module file's directory (debuglink) */
	const char *link;          /* the .gnu_debuglink name */
	char **found;              /* set to the debug file's path, if not NULL */
};

/* each_debug_root callbacks: the debug file of a build id, or of a
 * .gnu_debuglink, under debug root dir. */
static int try_build_id(const char *dir, void *arg)
{
	const struct debug_query *q = arg;
	char path[PATH_MAX];

	if (q->len < 2 || build_id_path(path, sizeof(path), dir, q->bits, q->len) < 0)
		return -1;
	return open_matching(path, q->bits, q->len, q->found);
}

static int try_debuglink(const char *dir, void *arg)
{
	const struct debug_query *q = arg;
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s%s/%s", dir, q->dir, q->link);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	return open_matching(path, q->bits, q->len, q->found);
}

/* The .gnu_debuglink search of elfutils' default path, with the debug roots
 * of each_debug_root: next to the file, in .debug/ beside it, and under
 * each root. The debug file must have the module's build id, if it has one
 * (the CRC is not checked). Returns an fd, or -1. */
static int find_debuglink(Dwfl_Module *mod, const char *file_name, const char *link,
			  char **debuginfo_file_name)
{
	static const char *const where[] = { "%s/%s", "%s/.debug/%s" };
	const unsigned char *bits = NULL;
	GElf_Addr vaddr;
	int idlen = dwfl_module_build_id(mod, &bits, &vaddr);
	const char *slash = file_name ? strrchr(file_name, '/') : NULL;
	char dir[PATH_MAX], path[PATH_MAX];
	struct debug_query q;

	if (!slash || !link || !*link || strchr(link, '/') ||
	    (size_t)(slash - file_name) >= sizeof(dir))
		return -1;
	if (idlen < 0)
		idlen = 0;
	memcpy(dir, file_name, (size_t)(slash - file_name));
	dir[slash - file_name] = '\0';
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		int n = snprintf(path, sizeof(path), where[i], dir, link);
		int fd;

		if (n < 0 || (size_t)n >= sizeof(path) || strcmp(path, file_name) == 0)
			continue;
		fd = open_matching(path, bits, idlen, debuginfo_file_name);
		if (fd >= 0)
			return fd;
	}
	if (dir[0] != '/')
		return -1;
	q = (struct debug_query){ bits, idlen, dir, link, debuginfo_file_name };
	return each_debug_root(try_debuglink, &q, 1);
}

/* libdwfl's find_debuginfo callback: the debug file named by the build id
 * under the directories of HEAPTRACE_DEBUGINFO_PATH, then elfutils' standard
 * search, except that debuginfod servers are asked only when DEBUGINFOD_URLS
 * names some (else elfutils starts a client, with its sockets, per module
 * without local debug info), then the .gnu_debuglink search. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	const unsigned char *bits = NULL;
	GElf_Addr vaddr;
	struct debug_query q = { NULL, 0, NULL, NULL, debuginfo_file_name };
	int fd;

	/* the user's directories first; elfutils searches DEBUG_DIR below */
	q.len = dwfl_module_build_id(mod, &bits, &vaddr);
	q.bits = bits;
	fd = each_debug_root(try_build_id, &q, 0);
	if (fd >= 0)
		return fd;
	if (urls && *urls)
		fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
						  debuglink_file, debuglink_crc,
						  debuginfo_file_name);
	else
		fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
						  debuglink_file, debuglink_crc,
						  debuginfo_file_name);
	if (fd < 0)
		fd = find_debuglink(mod, file_name, debuglink_file, debuginfo_file_name);
	return fd;
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* Maps file and reports it as the only module of a new libdwfl session, if
 * it has the module's build id. The mapping, not a descriptor, keeps the file
 * (a process may have hundreds of modules). Returns 0, or -1 if it cannot be
 * used. */
static int session_open(struct sym_module *m, const char *file)
{
	const char *slash = strrchr(m->path, '/');
	const char *name = slash ? slash + 1 : m->path;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	size_t size;
	void *map;
	Dwfl *dwfl;
	Dwfl_Module *mod;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return -1;
	}
	size = (size_t)st.st_size;
	/* private and writable: libelf may write to its image */
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	dwfl = dwfl_begin(&dwfl_callbacks);
	if (!dwfl)
		goto fail_map;
	dwfl_report_begin(dwfl);
	mod = dwfl_report_offline_memory(dwfl, *name ? name : "module", file, map, size);
	if (dwfl_report_end(dwfl, NULL, NULL) != 0 || !mod ||
	    !dwfl_module_getelf(mod, &m->dwfl_bias))
		goto fail;
	if (m->build_id_len) {
		const unsigned char *bits;
		GElf_Addr vaddr;
		int len = dwfl_module_build_id(mod, &bits, &vaddr);

		if (len != (int)m->build_id_len || memcmp(bits, m->build_id, len) != 0)
			goto fail;
	}
	m->dwfl = dwfl;
	m->mod = mod;
	m->map = map;
	m->map_size = size;
	return 0;
fail:
	dwfl_end(dwfl);
fail_map:
	munmap(map, size);
	return -1;
}

/* each_debug_root callback: opens the module from the debug file of its
 * build id under dir. */
static int try_session(const char *dir, void *arg)
{
	struct sym_module *m = arg;
	char path[PATH_MAX];

	if (build_id_path(path, sizeof(path), dir, m->build_id, (int)m->build_id_len) < 0)
		return -1;
	return session_open(m, path) == 0 ? 0 : -1;
}

/* Opens m once: its own file, else the debug file named by its build id
 * under the debug roots (HEAPTRACE_DEBUGINFO_PATH, then DEBUG_DIR). */
void ht_sym_module_open(struct sym_module *m)
{
	m->state = MOD_UNREADABLE;
	if (m->path[0] && session_open(m, m->path) == 0) {
		m->state = MOD_OPEN;
		return;
	}
	if (m->build_id_len < 2)
		return;
	if (each_debug_root(try_session, m, 1) == 0)
		m->state = MOD_OPEN;
}

