/* A shim loaded late (heaptrace -p): the calls of every loaded module to
 * the malloc family and to dlopen are redirected to the shim by rewriting
 * their GOT entries (JUMP_SLOT, GLOB_DAT and absolute relocations naming
 * them), read-only (RELRO) pages made writable for the store and restored;
 * modules that dlopen loads later are rewritten as they come. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* The names redirected: the ones the shim exports that allocate or free,
 * and dlopen (to the hook below, not to a function of the shim's). */
static const char *const names[] = {
	"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
	"aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
	"free_sized", "free_aligned_sized",
	HT_CXX_OPERATORS,
	"dlopen",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
#define DLOPEN (NNAMES - 1)

static struct {
	void *to[NNAMES];     /* the shim's function for each name */
	void *from[NNAMES];   /* what the program's modules were bound to */
	void *canon[NNAMES];  /* its address as the program sees it (an executable's
			       * PLT entry, when it is not position-independent) */
	uintptr_t self_base;  /* the shim's load address: its own GOT is done apart */
	uintptr_t from_lo, from_hi; /* the span of from[], to look at a word quickly */
	long page;
	int ready, data_done;
	pthread_mutex_t lock;
} got = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *(*real_dlopen)(const char *, int);

/* modules loaded from now on are redirected too */
static void *hook_dlopen(const char *file, int mode)
{
	void *h = real_dlopen(file, mode);

	if (h && __atomic_load_n(&got.ready, __ATOMIC_ACQUIRE))
		ht_got_patch();
	return h;
}

static int name_index(const char *s)
{
	size_t i;

	if (s[0] != 'm' && s[0] != 'f' && s[0] != 'c' && s[0] != 'r' && s[0] != 'p' &&
	    s[0] != 'a' && s[0] != 'v' && s[0] != '_' && s[0] != 'd')
		return -1;
	for (i = 0; i < NNAMES; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}

/* Stores v at slot, through a writable mapping of its page if it is a
 * RELRO page (read-only after start-up). */
static void store(uintptr_t slot, void *v, uintptr_t relro_lo, uintptr_t relro_hi)
{
	uintptr_t pg = slot & ~(uintptr_t)(got.page - 1);
	int ro = slot >= relro_lo && slot < relro_hi;

	if (ro && mprotect((void *)pg, (size_t)got.page, PROT_READ | PROT_WRITE) != 0)
		return; /* left as it is: those calls go on to the allocator */
	__atomic_store_n((void **)slot, v, __ATOMIC_RELEASE);
	if (ro)
		mprotect((void *)pg, (size_t)got.page, PROT_READ);
}

struct module {
	uintptr_t base, lo, hi;       /* load bias, and the span of its segments */
	uintptr_t relro_lo, relro_hi;
	const ElfW(Sym) *sym;
	const char *str;
	size_t strsz;
	int self;
};

/* One table of relocations (Elf64_Rela): each naming one of ours, whose
 * entry still holds what the program's modules were bound to (or, for a
 * lazily bound call, its stub in this module), is redirected. */
static void patch_table(const struct module *m, const ElfW(Rela) *r, size_t bytes)
{
	size_t i, n = bytes / sizeof(*r);

	for (i = 0; i < n; i++) {
		unsigned type = ELF64_R_TYPE(r[i].r_info);
		size_t si = ELF64_R_SYM(r[i].r_info);
		uintptr_t slot = m->base + r[i].r_offset;
		void *cur;
		int k;

		if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT && type != R_X86_64_64) ||
		    !si || m->sym[si].st_name >= m->strsz || slot < m->lo || slot + 8 > m->hi)
			continue;
		k = name_index(m->str + m->sym[si].st_name);
		if (k < 0 || (m->self && k == (int)DLOPEN) || !got.to[k] || r[i].r_addend)
			continue;
		cur = __atomic_load_n((void **)slot, __ATOMIC_ACQUIRE);
		if (cur == got.to[k])
			continue;
		if ((cur && (cur == got.from[k] || cur == got.canon[k])) ||
		    (type == R_X86_64_JUMP_SLOT && (uintptr_t)cur >= m->lo && (uintptr_t)cur < m->hi))
			store(slot, got.to[k], m->relro_lo, m->relro_hi);
	}
}

/* Redirects the words of [lo, hi) that hold one of the functions the
 * program's modules were bound to (from[]). Only resident pages are
 * read: a page never written holds no pointer (one swapped out is
 * missed). */
static void patch_words(uintptr_t lo, uintptr_t hi)
{
	enum { CHUNK = 256 };
	unsigned char vec[CHUNK];
	uintptr_t pg, at, end;
	size_t j, k;

	lo = (lo + 7) & ~(uintptr_t)7;
	for (pg = lo & ~(uintptr_t)(got.page - 1); pg < hi; pg += CHUNK * (uintptr_t)got.page) {
		size_t len = hi - pg < CHUNK * (uintptr_t)got.page ? hi - pg : CHUNK * (size_t)got.page;

		if (mincore((void *)pg, len, vec) != 0)
			continue;
		for (j = 0; j * (size_t)got.page < len; j++) {
			if (!(vec[j] & 1))
				continue;
			at = pg + j * (uintptr_t)got.page;
			end = at + (uintptr_t)got.page < hi ? at + (uintptr_t)got.page : hi;
			for (at = at < lo ? lo : at; at + 8 <= end; at += 8) {
				uintptr_t w = *(const uintptr_t *)at;

				if (w < got.from_lo || w > got.from_hi)
					continue;
				for (k = 0; k < NNAMES; k++)
					if (got.from[k] && w == (uintptr_t)got.from[k] && got.to[k])
						__atomic_store_n((void **)at, got.to[k], __ATOMIC_RELEASE);
			}
		}
	}
}

/* The module's writable data outside RELRO (its .data and .bss). */
static void patch_data(const struct module *m, const struct dl_phdr_info *info)
{
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		if (lo < m->relro_hi && hi > m->relro_lo) {
			if (lo < m->relro_lo)
				patch_words(lo, m->relro_lo);
			lo = m->relro_hi;
		}
		if (lo < hi)
			patch_words(lo, hi);
	}
}

/* d_ptr values are addresses once the loader has relocated them, but not
 * in every module (the vdso's): an offset is made an address. */
static uintptr_t dyn_addr(const struct module *m, ElfW(Addr) v)
{
	return v < m->base ? m->base + v : v;
}

static int patch_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	const ElfW(Dyn) *dyn = NULL;
	const ElfW(Rela) *rela = NULL, *jmprel = NULL;
	size_t relasz = 0, pltsz = 0;
	struct module m = { .base = info->dlpi_addr, .lo = UINTPTR_MAX };
	int i;

	(void)size;
	(void)arg;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD) {
			m.lo = a < m.lo ? a : m.lo;
			m.hi = a + ph->p_memsz > m.hi ? a + ph->p_memsz : m.hi;
		} else if (ph->p_type == PT_DYNAMIC) {
			dyn = (const ElfW(Dyn) *)a;
		} else if (ph->p_type == PT_GNU_RELRO) {
			m.relro_lo = a & ~(uintptr_t)(got.page - 1);
			m.relro_hi = (a + ph->p_memsz + got.page - 1) & ~(uintptr_t)(got.page - 1);
		}
	}
	if (!dyn || (info->dlpi_name && strstr(info->dlpi_name, "/ld-linux")))
		return 0; /* the loader calls the allocator through pointers of its own */
	m.self = m.base == got.self_base;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		switch (dyn->d_tag) {
		case DT_SYMTAB: m.sym = (const ElfW(Sym) *)dyn_addr(&m, dyn->d_un.d_ptr); break;
		case DT_STRTAB: m.str = (const char *)dyn_addr(&m, dyn->d_un.d_ptr); break;
		case DT_STRSZ: m.strsz = dyn->d_un.d_val; break;
		case DT_RELA: rela = (const ElfW(Rela) *)dyn_addr(&m, dyn->d_un.d_ptr); break;
		case DT_RELASZ: relasz = dyn->d_un.d_val; break;
		case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_addr(&m, dyn->d_un.d_ptr); break;
		case DT_PLTRELSZ: pltsz = dyn->d_un.d_val; break;
		default: break;
		}
	}
	if (!m.sym || !m.str)
		return 0;
	if (rela)
		patch_table(&m, rela, relasz);
	if (jmprel)
		patch_table(&m, jmprel, pltsz);
	if (!got.data_done && !m.self)
		patch_data(&m, info);
	return 0;
}

/* Does lm define name (not merely use it: an executable that is not
 * position-independent has a symbol for each function whose address it
 * takes, whose value is its PLT entry, and dlsym answers with that)? */
static void *defined_in(struct link_map *lm, void *h, const char *name)
{
	struct link_map *at = NULL;
	const ElfW(Sym) *sym = NULL;
	Dl_info di;
	void *p = dlsym(h, name);

	return p && dladdr1(p, &di, (void **)&at, RTLD_DL_LINKMAP) && at == lm &&
	       dladdr1(p, &di, (void **)&sym, RTLD_DL_SYMENT) && sym && di.dli_saddr == p &&
	       sym->st_shndx != SHN_UNDEF ? p : NULL;
}

void *ht_got_real(const char *name)
{
	struct link_map *me = NULL, *lm;
	Dl_info mine;
	void *p = NULL;

	if (!dladdr1((void *)ht_got_real, &mine, (void **)&me, RTLD_DL_LINKMAP) || !me)
		return NULL;
	for (lm = me; lm->l_prev; lm = lm->l_prev)
		;
	/* in the loader's order, which is the global scope's: the first
	 * object that defines it, the shim aside */
	for (; lm && !p; lm = lm->l_next) {
		void *h = lm->l_prev ? NULL : dlopen(NULL, RTLD_LAZY);

		if (lm == me)
			continue;
		if (!h && lm->l_name && strchr(lm->l_name, '/'))
			h = dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		p = defined_in(lm, h, name);
		dlclose(h);
	}
	return p;
}

int ht_got_init(void)
{
	Dl_info di;
	void *self;
	size_t i;

	if (!dladdr((void *)ht_got_init, &di) || !di.dli_fname)
		return -1;
	got.self_base = (uintptr_t)di.dli_fbase;
	got.page = sysconf(_SC_PAGESIZE);
	/* the shim's own functions: looked up in its handle, not by name
	 * from here, which the global scope (the allocator's) would answer */
	self = dlopen(di.dli_fname, RTLD_NOW | RTLD_NOLOAD);
	if (!self)
		return -1;
	for (i = 0; i < DLOPEN; i++) {
		got.to[i] = dlsym(self, names[i]);
		got.from[i] = ht_got_real(names[i]);
		got.canon[i] = dlsym(RTLD_DEFAULT, names[i]);
		if (got.from[i] == got.to[i])
			got.from[i] = NULL;
	}
	dlclose(self);
	real_dlopen = (void *(*)(const char *, int))ht_got_real("dlopen");
	got.from[DLOPEN] = (void *)real_dlopen;
	got.canon[DLOPEN] = dlsym(RTLD_DEFAULT, "dlopen");
	got.to[DLOPEN] = real_dlopen ? (void *)hook_dlopen : NULL;
	got.from_lo = UINTPTR_MAX;
	got.from_hi = 0;
	for (i = 0; i < NNAMES; i++)
		if (got.from[i]) {
			uintptr_t a = (uintptr_t)got.from[i];

			got.from_lo = a < got.from_lo ? a : got.from_lo;
			got.from_hi = a > got.from_hi ? a : got.from_hi;
		}
	return got.to[0] && got.from[0] ? 0 : -1;
}

void ht_got_patch(void)
{
	pthread_mutex_lock(&got.lock);
	__atomic_store_n(&got.ready, 1, __ATOMIC_RELEASE);
	dl_iterate_phdr(patch_module, NULL);
	got.data_done = 1;
	pthread_mutex_unlock(&got.lock);
}
