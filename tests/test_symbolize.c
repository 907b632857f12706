/* Tests for the symbolizer: this program symbolizes return addresses taken in
 * its own functions (plain, inlined two deep, with a C++ mangled name), an
 * address in libc, and addresses that cannot be resolved. */
#include "snapshot/snapshot.h"
#include "symbolize/symbolize.h"
#include "symbolize/symbolize_int.h"
#include "tap.h"
#include "xorshift.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Functions whose addresses we check must stay real calls at -O2: no
 * inlining, cloning or other interprocedural changes. */
#ifdef __clang__
#define NOIPA __attribute__((noinline, optnone))
#else
#define NOIPA __attribute__((noipa))
#endif

/* A captured return address and the source lines expected for it. */
struct cap {
	void *ra;
	int line;        /* innermost line */
	int mid_line;    /* call site of the inner inlined function */
	int caller_line; /* call site in the real function */
};

void *ht_test_ret_addr(void);
void ht_test_plain(struct cap *c);
void ht_test_inlined(struct cap *c);
void ht_test_mangled(struct cap *c) __asm__("_ZN2ht4test7mangledEPv");

/* Returns the address its caller continues at. */
NOIPA void *ht_test_ret_addr(void)
{
	__asm__ volatile("");
	return __builtin_return_address(0);
}

NOIPA void ht_test_plain(struct cap *c)
{
	c->ra = ht_test_ret_addr(); c->line = __LINE__;
	__asm__ volatile("");
}

static inline __attribute__((always_inline)) void inl_inner(struct cap *c)
{
	c->ra = ht_test_ret_addr(); c->line = __LINE__;
	__asm__ volatile("");
}

static inline __attribute__((always_inline)) void inl_middle(struct cap *c)
{
	__asm__ volatile("");
	inl_inner(c); c->mid_line = __LINE__;
	__asm__ volatile("");
}

NOIPA void ht_test_inlined(struct cap *c)
{
	__asm__ volatile("");
	inl_middle(c); c->caller_line = __LINE__;
	__asm__ volatile("");
}

NOIPA void ht_test_mangled(struct cap *c)
{
	c->ra = ht_test_ret_addr(); c->line = __LINE__;
	__asm__ volatile("");
}

/* ---- the module map of this process, as the shim would record it ---- */

struct find {
	uintptr_t addr;
	struct ht_module *mod;
	char *path;
	size_t pathlen;
	int found;
};

static void read_build_id(struct dl_phdr_info *info, const ElfW(Phdr) *ph, struct ht_module *m)
{
	const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
	const char *end = p + ph->p_memsz;

	while (p + sizeof(ElfW(Nhdr)) <= end) {
		const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
		const char *name = p + sizeof(*nh);
		const char *desc = name + ((nh->n_namesz + 3) & ~3u);

		if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
		    memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= sizeof(m->build_id)) {
			memcpy(m->build_id, desc, nh->n_descsz);
			m->build_id_len = nh->n_descsz;
			return;
		}
		p = desc + ((nh->n_descsz + 3) & ~3u);
	}
}

static int find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (f->addr < lo || f->addr >= hi)
		return 0;
	memset(f->mod, 0, sizeof(*f->mod));
	f->mod->start = lo;
	f->mod->end = hi;
	f->mod->bias = info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_NOTE && !f->mod->build_id_len)
			read_build_id(info, &info->dlpi_phdr[i], f->mod);
	if (info->dlpi_name && info->dlpi_name[0]) {
		snprintf(f->path, f->pathlen, "%s", info->dlpi_name);
	} else {
		ssize_t n = readlink("/proc/self/exe", f->path, f->pathlen - 1);

		f->path[n > 0 ? n : 0] = '\0';
	}
	f->found = 1;
	return 1;
}

/* Fills *m (path in buf) for the loaded object that holds addr; 0 or -1. */
static int module_of(const void *addr, struct ht_module *m, char *buf, size_t len)
{
	struct find f = { (uintptr_t)addr, m, buf, len, 0 };

	dl_iterate_phdr(find_cb, &f);
	m->path = buf;
	return f.found ? 0 : -1;
}

/* ---- helpers ---- */

static uint32_t add_loc(struct ht_snapshot *s, const void *addr, uint32_t module)
{
	struct ht_location loc = { (uintptr_t)addr, module, 0, 0 };

	return ht_snapshot_add_location(s, &loc);
}

static uint32_t add_mod(struct ht_snapshot *s, const struct ht_module *m)
{
	struct ht_module copy = *m;

	copy.path = ht_snapshot_strdup(s, m->path);
	return ht_snapshot_add_module(s, &copy);
}

static const struct ht_function *fn(const struct ht_snapshot *s, uint32_t loc, uint32_t k)
{
	const struct ht_location *l = &s->locations[loc];

	if (k >= l->nlines)
		return NULL;
	return &s->functions[s->lines[l->first_line + k].function];
}

static const char *fn_name(const struct ht_snapshot *s, uint32_t loc, uint32_t k)
{
	const struct ht_function *f = fn(s, loc, k);

	return f ? f->name : "(no line)";
}

static const char *fn_base(const struct ht_snapshot *s, uint32_t loc, uint32_t k)
{
	const struct ht_function *f = fn(s, loc, k);
	const char *slash;

	if (!f)
		return "(no line)";
	slash = strrchr(f->file, '/');
	return slash ? slash + 1 : f->file;
}

static long line_no(const struct ht_snapshot *s, uint32_t loc, uint32_t k)
{
	const struct ht_location *l = &s->locations[loc];

	return k < l->nlines ? (long)s->lines[l->first_line + k].line : -1;
}

/* Writes len bytes of data to path; 0 or -1. */
static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Reads all of path into a malloc'd buffer; NULL on failure. */
static char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *buf = NULL;

	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
		buf = malloc((size_t)st.st_size);
		if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)st.st_size;
	}
	if (fd >= 0)
		close(fd);
	return buf;
}

/* Module files that are not ELF, cut short or corrupted: never a crash,
 * and nothing resolved from a file that is not there. */
static void test_bad_files(const struct ht_module *self, const void *ra)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[4200];
	size_t len = 0;
	char *image = read_file(self->path, &len);
	struct ht_symbolizer *sym = ht_symbolizer_new();
	struct ht_snapshot *s = ht_snapshot_new();
	struct ht_module m = *self;
	uint32_t loc[32];
	int n = 0, fine = 1;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	snprintf(dir, sizeof(dir), "%s/ht-symXXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!image || !mkdtemp(dir)) {
		ok(0, "cannot set up bad module files");
		free(image);
		ht_snapshot_free(s);
		ht_symbolizer_free(sym);
		return;
	}
	m.build_id_len = 0;

	m.path = "/dev/null";
	loc[n++] = add_loc(s, ra, add_mod(s, &m));
	m.path = dir;
	loc[n++] = add_loc(s, ra, add_mod(s, &m));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	if (mkfifo(path, 0600) == 0) {
		m.path = path;
		loc[n++] = add_loc(s, ra, add_mod(s, &m));
	}
	snprintf(path, sizeof(path), "%s/empty", dir);
	write_file(path, "", 0);
	m.path = path;
	loc[n++] = add_loc(s, ra, add_mod(s, &m));
	snprintf(path, sizeof(path), "%s/text", dir);
	write_file(path, "not an ELF file\n", 16);
	m.path = path;
	loc[n++] = add_loc(s, ra, add_mod(s, &m));
	is_int(ht_symbolize(sym, s), 0, "non-ELF module files: ht_symbolize succeeds");
	for (int i = 0; i < n; i++)
		fine &= s->locations[loc[i]].nlines == 0;
	ok(fine, "non-ELF module files: nothing resolved");

	/* cut short at many lengths, then corrupted at many places; with and
	 * without the build id (with it, the file must be parsed to check) */
	n = 0;
	for (int i = 1; i <= 12; i++) {
		size_t cut = i < 4 ? (size_t)(16 << (2 * i)) : len / 13 * (size_t)i;

		snprintf(path, sizeof(path), "%s/cut%d", dir, i);
		if (cut < len && write_file(path, image, cut) == 0) {
			m = *self;
			m.path = ht_snapshot_strdup(s, path);
			m.build_id_len = i % 2 ? self->build_id_len : 0;
			loc[n++] = add_loc(s, ra, add_mod(s, &m));
		}
	}
	for (int i = 1; i <= 12; i++) {
		char *bad = malloc(len);

		if (!bad)
			break;
		memcpy(bad, image, len);
		for (int k = 0; k < 64; k++) {
			xorshift64(&x);
			bad[(len / 13 * (size_t)i + (x & 1023)) % len] = (char)x;
		}
		if (i == 1)
			memset(bad + 32, 0xff, 32); /* section and program header offsets */
		snprintf(path, sizeof(path), "%s/bad%d", dir, i);
		if (write_file(path, bad, len) == 0) {
			m = *self;
			m.path = ht_snapshot_strdup(s, path);
			m.build_id_len = i % 2 ? self->build_id_len : 0;
			loc[n++] = add_loc(s, ra, add_mod(s, &m));
		}
		free(bad);
	}
	ok(n == 24, "made %d cut or corrupted copies of this program", n);
	is_int(ht_symbolize(sym, s), 0, "cut and corrupted module files: ht_symbolize succeeds");
	fine = 1;
	for (size_t i = 0; i < s->nlocations; i++) {
		const struct ht_location *l = &s->locations[i];

		if (l->nlines && (l->first_line + l->nlines > s->nlines ||
				  s->lines[l->first_line].function >= s->nfunctions))
			fine = 0;
	}
	ok(fine, "cut and corrupted module files: every line and function index valid");

	for (int i = 1; i <= 12; i++) {
		snprintf(path, sizeof(path), "%s/cut%d", dir, i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/bad%d", dir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/fifo", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/empty", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/text", dir);
	unlink(path);
	rmdir(dir);
	free(image);
	ht_snapshot_free(s);
	ht_symbolizer_free(sym);
}

/* ht_symbolizer_trim: the module files are closed, answers stay, and a new
 * address reopens its module and resolves as before. */
static void test_trim(const struct ht_module *self, const struct ht_module *libc,
		      const struct cap *plain, const struct cap *inl, const void *libc_addr)
{
	struct ht_symbolizer *sym = ht_symbolizer_new();
	struct ht_snapshot *s = ht_snapshot_new();
	uint32_t me = add_mod(s, self), lc = add_mod(s, libc);
	uint32_t l_plain = add_loc(s, plain->ra, me), l_libc = add_loc(s, libc_addr, lc), l_inl;

	is_int(ht_symbolize(sym, s), 0, "trim: ht_symbolize before");
	ht_snapshot_free(s);
	ht_symbolizer_trim(sym);
	ht_symbolizer_trim(sym);
	ht_symbolizer_trim(NULL);

	s = ht_snapshot_new();
	me = add_mod(s, self);
	lc = add_mod(s, libc);
	l_plain = add_loc(s, plain->ra, me);
	l_inl = add_loc(s, inl->ra, me);
	l_libc = add_loc(s, libc_addr, lc);
	is_int(ht_symbolize(sym, s), 0, "trim: ht_symbolize after");
	is_str(fn_name(s, l_plain, 0), "ht_test_plain", "trim: a cached address keeps its name");
	is_int(line_no(s, l_plain, 0), plain->line, "trim: and its line");
	is_str(fn_base(s, l_plain, 0), "test_symbolize.c", "trim: and its file");
	is_int(s->locations[l_inl].nlines, 3, "trim: a new address, from the reopened module");
	is_str(fn_name(s, l_inl, 0), "inl_inner", "trim: its innermost function");
	is_str(fn_base(s, l_inl, 0), "test_symbolize.c", "trim: its file");
	is_int(line_no(s, l_inl, 2), inl->caller_line, "trim: its outer call site");
	is_str(fn_name(s, l_libc, 0), "getenv", "trim: libc, cached");
	ht_snapshot_free(s);
	ht_symbolizer_free(sym);
}

/* Writes the path of the debug file of build id (bits, len) under root
 * into buf, making its directories. */
static void debug_file_path(char *buf, size_t size, const char *root,
			    const uint8_t *bits, uint32_t len)
{
	size_t n = (size_t)snprintf(buf, size, "%s/.build-id", root);

	mkdir(buf, 0700);
	n += (size_t)snprintf(buf + n, size - n, "/%02x", bits[0]);
	mkdir(buf, 0700);
	n += (size_t)snprintf(buf + n, size - n, "/");
	for (uint32_t i = 1; i < len && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%02x", bits[i]);
	snprintf(buf + n, size - n, ".debug");
}

/* Symbolizes the return address of plain in module m with a new symbolizer;
 * returns the snapshot and sets *loc. */
static struct ht_snapshot *symbolize_one(const struct ht_module *m, const struct cap *plain,
					 uint32_t *loc, const char *what)
{
	struct ht_symbolizer *sym = ht_symbolizer_new();
	struct ht_snapshot *s = ht_snapshot_new();

	*loc = add_loc(s, plain->ra, add_mod(s, m));
	is_int(ht_symbolize(sym, s), 0, "debug roots: ht_symbolize, %s", what);
	ht_symbolizer_free(sym);
	return s;
}

/* HEAPTRACE_DEBUGINFO_PATH: a module whose file is gone resolves from the
 * debug file named by its build id under one of those roots (this program,
 * copied there, has all its debug info); relative entries are ignored, and
 * a debug file stored under the build id but with another one is not used. */
static void test_debug_roots(const struct ht_module *self, const struct cap *plain)
{
	char root[] = "/tmp/heaptrace-test-XXXXXX", good[4096], bad[4096], env[8192];
	struct ht_module gone = *self, other;
	struct ht_snapshot *s;
	size_t len = 0;
	char *image = read_file(self->path, &len);
	uint32_t l;

	if (!image || self->build_id_len < 2 || !mkdtemp(root)) {
		ok(0, "debug roots: cannot set up (copy of this program, build id, temp dir)");
		free(image);
		return;
	}
	gone.path = "/nonexistent/heaptrace-test/test_symbolize";
	other = gone;
	other.build_id[other.build_id_len - 1] ^= 1;
	debug_file_path(good, sizeof(good), root, gone.build_id, gone.build_id_len);
	debug_file_path(bad, sizeof(bad), root, other.build_id, other.build_id_len);
	ok(write_file(good, image, len) == 0 && write_file(bad, image, len) == 0,
	   "debug roots: copies of this program stored by build id");

	unsetenv("HEAPTRACE_DEBUGINFO_PATH");
	s = symbolize_one(&gone, plain, &l, "without the variable");
	is_int(s->locations[l].nlines, 0, "debug roots: without the variable, not resolved");
	ht_snapshot_free(s);

	snprintf(env, sizeof(env), "relative/dir:/nonexistent/heaptrace-test::%s/", root);
	setenv("HEAPTRACE_DEBUGINFO_PATH", env, 1);
	s = symbolize_one(&gone, plain, &l, "with the variable");
	is_str(fn_name(s, l, 0), "ht_test_plain", "debug roots: function from the debug file");
	is_str(fn_base(s, l, 0), "test_symbolize.c", "debug roots: file from the debug file");
	is_int(line_no(s, l, 0), plain->line, "debug roots: line from the debug file");
	ht_snapshot_free(s);

	s = symbolize_one(&other, plain, &l, "build id mismatch");
	is_int(s->locations[l].nlines, 0,
	       "debug roots: a file whose own build id differs is not used");
	ht_snapshot_free(s);
	unsetenv("HEAPTRACE_DEBUGINFO_PATH");

	unlink(good);
	unlink(bad);
	*strrchr(good, '/') = '\0';
	*strrchr(bad, '/') = '\0';
	rmdir(good);
	rmdir(bad);
	*strrchr(good, '/') = '\0';
	rmdir(good);
	rmdir(root);
	free(image);
}

/* The order ht_sym_sort must give: by address, then rank, then where
 * each was (the name points at its first place here). */
static const char places[20000];

static int sym_order(const void *a, const void *b)
{
	const struct sym_entry *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* ht_sym_sort against that order, on tables of every size up to one as
 * big as libc's and more: addresses that repeat (aliases) or not, in a
 * few bytes or all of them, and some too big for its radix keys. */
static void sort_symbols(void)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 17, 256, 1000, 6840, 20000 };
	static const uint64_t spans[] = { 64, 1u << 20, 1ull << 40, ~0ull };
	struct sym_entry *e = malloc(sizeof(places) * sizeof(*e));
	struct sym_entry *want = malloc(sizeof(places) * sizeof(*want));
	uint64_t rng = 0x243f6a8885a308d3ull;
	int cases = 0, wrong = 0;

	if (!e || !want) {
		ok(0, "symbol sort: memory");
		return;
	}
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++)
		for (size_t w = 0; w < sizeof(spans) / sizeof(spans[0]); w++) {
			size_t n = sizes[z];

			for (size_t i = 0; i < n; i++) {
				uint64_t r = xorshift64(&rng);

				e[i] = (struct sym_entry){ spans[w] == ~0ull ? r : 0x1000 + r % spans[w],
							   r >> 7 & 0xff, places + i,
							   (unsigned)(r >> 20) % 15 };
			}
			memcpy(want, e, n * sizeof(*e));
			if (n)
				qsort(want, n, sizeof(*want), sym_order);
			ht_sym_sort(e, n);
			cases++;
			for (size_t i = 0; i < n; i++)
				if (e[i].lo != want[i].lo || e[i].size != want[i].size ||
				    e[i].name != want[i].name || e[i].rank != want[i].rank) {
					wrong++;
					break;
				}
		}
	ok(cases == 36 && wrong == 0,
	   "symbol sort: by address, rank and first place, as qsort (%d tables, %d wrong)", cases,
	   wrong);
	free(e);
	free(want);
}

int main(void)
{
	struct cap plain = { 0 }, inl = { 0 }, mangled = { 0 };
	struct ht_module self, libc;
	char self_path[4096], libc_path[4096];
	void *getenv_addr = dlsym(RTLD_NEXT, "getenv");
	struct ht_symbolizer *sym;
	struct ht_snapshot *s, *s2;
	uint32_t me, lc, l_plain, l_inl, l_mangled, l_none, l_libc, l_gone, l_wrongid;
	size_t nfuncs, nlines;

	sort_symbols();
	ht_test_plain(&plain);
	ht_test_inlined(&inl);
	ht_test_mangled(&mangled);

	if (module_of((void *)ht_test_plain, &self, self_path, sizeof(self_path)) < 0 ||
	    !getenv_addr || module_of(getenv_addr, &libc, libc_path, sizeof(libc_path)) < 0) {
		ok(0, "cannot find this program's or libc's module");
		return done_testing();
	}
	ok(self.build_id_len > 0, "this program has a build id");

	sym = ht_symbolizer_new();
	s = ht_snapshot_new();
	me = add_mod(s, &self);
	lc = add_mod(s, &libc);
	l_plain = add_loc(s, plain.ra, me);
	l_inl = add_loc(s, inl.ra, me);
	l_mangled = add_loc(s, mangled.ra, me);
	l_none = add_loc(s, plain.ra, HT_NONE);
	l_libc = add_loc(s, (const char *)getenv_addr + 4, lc);

	is_int(ht_symbolize(sym, s), 0, "ht_symbolize succeeds");

	is_int(s->locations[l_plain].nlines, 1, "plain call: one frame");
	is_str(fn_name(s, l_plain, 0), "ht_test_plain", "plain call: function name");
	is_str(fn(s, l_plain, 0) ? fn(s, l_plain, 0)->system_name : "", "ht_test_plain",
	       "plain call: system name");
	is_str(fn_base(s, l_plain, 0), "test_symbolize.c", "plain call: file");
	is_int(line_no(s, l_plain, 0), plain.line, "plain call: line of the call");

	is_int(s->locations[l_inl].nlines, 3, "inlined call: three frames");
	is_str(fn_name(s, l_inl, 0), "inl_inner", "inlined call: innermost is the callee");
	is_int(line_no(s, l_inl, 0), inl.line, "inlined call: callee line");
	is_str(fn_base(s, l_inl, 0), "test_symbolize.c", "inlined call: callee file");
	is_str(fn_name(s, l_inl, 1), "inl_middle", "inlined call: then its inlined caller");
	is_int(line_no(s, l_inl, 1), inl.mid_line, "inlined call: middle call site");
	is_str(fn_name(s, l_inl, 2), "ht_test_inlined", "inlined call: then the real function");
	is_int(line_no(s, l_inl, 2), inl.caller_line, "inlined call: outer call site");
	is_str(fn_base(s, l_inl, 2), "test_symbolize.c", "inlined call: caller file");

	is_int(s->locations[l_mangled].nlines, 1, "mangled: one frame");
	is_str(fn(s, l_mangled, 0) ? fn(s, l_mangled, 0)->system_name : "",
	       "_ZN2ht4test7mangledEPv", "mangled: system name is the linkage name");
	/* libstdc++ is a dependency (scripts/deps.sh): its demangler is there */
	is_str(fn_name(s, l_mangled, 0), "ht::test::mangled(void*)", "mangled: demangled name");
	is_int(line_no(s, l_mangled, 0), mangled.line, "mangled: line");

	is_int(s->locations[l_none].nlines, 0, "location outside any module stays unresolved");

	is_str(fn_name(s, l_libc, 0), "getenv", "libc address resolves to getenv");

	/* again: nothing new */
	nfuncs = s->nfunctions;
	nlines = s->nlines;
	is_int(ht_symbolize(sym, s), 0, "second ht_symbolize succeeds");
	is_int(s->nfunctions, nfuncs, "second ht_symbolize adds no functions");
	is_int(s->nlines, nlines, "second ht_symbolize adds no lines");

	/* a new location at a known address reuses the snapshot's functions */
	l_plain = add_loc(s, plain.ra, me);
	is_int(ht_symbolize(sym, s), 0, "ht_symbolize with one new location");
	is_int(s->nfunctions, nfuncs, "the new location reuses the function");
	is_int(s->nlines, nlines + 1, "the new location gets its own line");
	is_int(s->lines[s->locations[l_plain].first_line].function,
	       s->lines[s->locations[0].first_line].function, "same function index");

	/* modules that cannot be read */
	{
		struct ht_module gone = self, wrongid = self;
		uint32_t mg, mw;

		gone.path = "/nonexistent/heaptrace-test/libgone.so";
		gone.build_id_len = 0;
		wrongid.build_id[0] ^= 0xff;
		mg = add_mod(s, &gone);
		mw = add_mod(s, &wrongid);
		l_gone = add_loc(s, plain.ra, mg);
		l_wrongid = add_loc(s, plain.ra, mw);
		is_int(ht_symbolize(sym, s), 0, "ht_symbolize with unreadable modules");
		is_int(s->locations[l_gone].nlines, 0, "missing module file: unresolved");
		is_int(s->locations[l_wrongid].nlines, 0, "build id mismatch: unresolved");
	}
	ht_snapshot_free(s);

	/* Another snapshot, another load address, the same symbolizer: the
	 * names depend on the file address only, and existing functions of
	 * the snapshot with the same name, system name and file are used. */
	s2 = ht_snapshot_new();
	{
		struct ht_module moved = self;
		struct ht_function pre;
		uint32_t pre_idx, l;
		char file[4096];

		/* the file as the first snapshot named it */
		s = ht_snapshot_new();
		me = add_mod(s, &self);
		l = add_loc(s, plain.ra, me);
		ht_symbolize(sym, s);
		snprintf(file, sizeof(file), "%s", fn(s, l, 0) ? fn(s, l, 0)->file : "");
		ht_snapshot_free(s);

		pre.name = ht_snapshot_strdup(s2, "unrelated");
		pre.system_name = pre.name;
		pre.file = ht_snapshot_strdup(s2, "");
		ht_snapshot_add_function(s2, &pre);
		pre.name = ht_snapshot_strdup(s2, "ht_test_plain");
		pre.system_name = pre.name;
		pre.file = ht_snapshot_strdup(s2, file);
		pre_idx = ht_snapshot_add_function(s2, &pre);

		moved.bias += 0x10000000;
		moved.start += 0x10000000;
		moved.end += 0x10000000;
		me = add_mod(s2, &moved);
		l = add_loc(s2, (char *)plain.ra + 0x10000000, me);
		is_int(ht_symbolize(sym, s2), 0, "ht_symbolize on a second snapshot");
		is_str(fn_name(s2, l, 0), "ht_test_plain", "other load address: same function");
		is_int(line_no(s2, l, 0), plain.line, "other load address: same line");
		is_int(s2->lines[s2->locations[l].first_line].function, pre_idx,
		       "an equal function already in the snapshot is reused");
		is_int(s2->nfunctions, 2, "no function added");
	}
	ht_snapshot_free(s2);
	ht_symbolizer_free(sym);

	test_bad_files(&self, plain.ra);

	/* symbol tables only */
	sym = ht_symbolizer_new_flags(HT_SYM_SYMTAB_ONLY);
	s = ht_snapshot_new();
	me = add_mod(s, &self);
	lc = add_mod(s, &libc);
	l_plain = add_loc(s, plain.ra, me);
	l_mangled = add_loc(s, mangled.ra, me);
	l_libc = add_loc(s, (const char *)getenv_addr + 4, lc);
	is_int(ht_symbolize(sym, s), 0, "symbol tables only: ht_symbolize succeeds");
	is_str(fn_name(s, l_plain, 0), "ht_test_plain", "symbol tables only: name");
	is_str(fn(s, l_plain, 0) ? fn(s, l_plain, 0)->file : "?", "", "symbol tables only: no file");
	is_int(line_no(s, l_plain, 0), 0, "symbol tables only: no line");
	is_str(fn(s, l_mangled, 0) ? fn(s, l_mangled, 0)->system_name : "",
	       "_ZN2ht4test7mangledEPv", "symbol tables only: mangled system name");
	is_str(fn_name(s, l_mangled, 0), "ht::test::mangled(void*)",
	       "symbol tables only: demangled name");
	is_str(fn_name(s, l_libc, 0), "getenv", "symbol tables only: libc symbol");
	ht_snapshot_free(s);

	/* the debug file found by build id when the module file is gone
	 * (libc6-dbg, installed by scripts/deps.sh, has libc's) */
	{
		char dbg[128];
		size_t n;
		struct ht_module gone = libc;

		n = (size_t)snprintf(dbg, sizeof(dbg), "/usr/lib/debug/.build-id/%02x/", libc.build_id[0]);
		for (uint32_t i = 1; i < libc.build_id_len && n < sizeof(dbg); i++)
			n += (size_t)snprintf(dbg + n, sizeof(dbg) - n, "%02x", libc.build_id[i]);
		snprintf(dbg + n, sizeof(dbg) - n, ".debug");
		ok(libc.build_id_len > 0, "libc has a build id");
		if (!ok(access(dbg, R_OK) == 0, "libc's debug file is installed (libc6-dbg): %s", dbg)) {
			ok(0, "module gone, debug file installed");
			ok(0, "resolved from the debug file");
		} else {
			ht_symbolizer_free(sym);
			sym = ht_symbolizer_new();
			s = ht_snapshot_new();
			gone.path = "/nonexistent/heaptrace-test/libc.so.6";
			lc = add_mod(s, &gone);
			l_libc = add_loc(s, (const char *)getenv_addr + 4, lc);
			is_int(ht_symbolize(sym, s), 0, "module gone, debug file installed");
			is_str(fn_name(s, l_libc, 0), "getenv", "resolved from the debug file");
			ht_snapshot_free(s);
		}
	}
	ht_symbolizer_free(sym);

	test_debug_roots(&self, &plain);
	test_trim(&self, &libc, &plain, &inl, (const char *)getenv_addr + 4);

	ht_symbolizer_free(NULL);
	return done_testing();
}
