/* The symbolizer (see symbolize.h): one libdwfl session per module file, a
 * cache from (module file, file address) to resolved frames, and the interned
 * strings and functions those frames share. Snapshots get copies; the cache
 * lives as long as the symbolizer, so each distinct address is resolved once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "symbolize/symbolize.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One frame of a resolved address: a function and the line in it. */
struct sym_frame {
	uint32_t func; /* index into sym->funcs */
	uint32_t line; /* 0 if unknown */
};

/* A function; its strings are interned, so equal functions have equal pointers. */
struct sym_func {
	const char *name;
	const char *system_name;
	const char *file;
};

#define SLOT_EMPTY UINT32_MAX

/* The answer for one file address: frames[first .. first+n), innermost first. */
struct addr_slot {
	uint64_t addr;  /* file address: process address - load bias */
	uint32_t first;
	uint32_t n;     /* SLOT_EMPTY: free slot; 0: nothing could be resolved */
};

/* A function with code: a subprogram, or an inlined call (the caller's
 * frame is the parent's). */
struct fn_rec {
	Dwarf_Die die;
	uint32_t parent;         /* enclosing function record, or HT_NONE */
	uint32_t first_range;    /* its ranges: ranges[first_range .. +nranges) */
	uint32_t nranges;
	int inlined;             /* an inlined_subroutine */
	const char *system_name; /* interned; NULL until first used */
	const char *plain;       /* interned DW_AT_name, or NULL */
};

struct fn_range {
	uint64_t lo, hi;      /* [lo, hi), DWARF addresses */
	uint32_t rec;
	uint32_t depth;       /* nesting of rec: 0 for a subprogram */
};

/* The functions of one compilation unit, built when an address first falls
 * in it: a faster dwarf_getscopes for many addresses. */
struct cu_index {
	const void *key;          /* the unit's Dwarf_CU */
	Dwarf_Die cudie;          /* its DIE: the line table's owner */
	struct fn_rec *recs;
	size_t nrecs, caprecs;
	struct fn_range *ranges;  /* by record */
	size_t nranges, capranges;
	struct fn_range *sorted;  /* the same, by lo then depth */
	struct fn_range *own;     /* the CU's own ranges; none: not stated */
	size_t nown, capown;
};

/* An address range of a compile unit, for modules without .debug_aranges. */
struct unit_range {
	uint64_t lo, hi;
	Dwarf_Die cudie;
};

/* A code symbol; name points into the module's ELF data. */
struct sym_entry {
	uint64_t lo, size;
	const char *name;
	unsigned rank;
};

enum mod_state { MOD_UNOPENED, MOD_OPEN, MOD_UNREADABLE };

/* One module file, identified by path and build id, read at most once. */
struct sym_module {
	char *path;
	uint8_t build_id[32];
	uint32_t build_id_len;
	enum mod_state state;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf_Addr dwfl_bias;    /* libdwfl address = file address + dwfl_bias */
	void *map;               /* the file, mapped: libdwfl keeps no descriptor */
	size_t map_size;
	struct addr_slot *slots; /* open addressing, capacity a power of two */
	size_t cap, used;
	Dwarf *dw;               /* its DWARF, NULL if none */
	Dwarf_Addr dwbias;       /* DWARF address = libdwfl address - dwbias */
	int dw_loaded;
	struct cu_index **cus;   /* CU indexes by unit, for one call only */
	size_t cucap, ncus;
	struct unit_range *units; /* sorted by address; loaded if needed */
	size_t nunits;
	int units_loaded;
	struct sym_entry *syms;  /* sorted by address */
	size_t nsyms;
	int symtab_loaded;
};

struct str_slot {
	const char *str;
	uint64_t hash;
};

struct ptr_slot {
	const char *key;
	const char *val;
};

#define FILE_CACHE 256

typedef char *(*cxa_demangle_fn)(const char *name, char *buf, size_t *len, int *status);

struct ht_symbolizer {
	unsigned flags;
	uint64_t dwarf_max; /* largest DWARF unpacked per module (bytes) */

	struct sym_module *mods;
	size_t nmods, capmods;

	struct sym_func *funcs;
	size_t nfuncs, capfuncs;
	uint32_t *fslots; /* function index + 1; 0 is free */
	size_t fcap;

	struct sym_frame *frames;
	size_t nframes, capframes;

	struct str_slot *strs; /* interned strings */
	size_t scap, sused;
	char **chunks;         /* storage of the interned strings */
	size_t nchunks, capchunks;
	char *cur;
	size_t left;

	struct ptr_slot *dem;  /* interned system name -> interned display name */
	size_t dcap, dused;
	struct ptr_slot files[FILE_CACHE]; /* libdw's file name -> interned */

	int demangler_loaded;
	void *libstdcxx;
	cxa_demangle_fn cxa_demangle;
};

#define DEBUG_DIR "/usr/lib/debug" /* elfutils' default, with .build-id inside */
#define DEBUGINFO_PATH_ENV "HEAPTRACE_DEBUGINFO_PATH" /* more debug roots, first */
#define CHUNK_SIZE 65536

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return mix64(h);
}

/* Returns p grown to hold need elements of elem bytes (*cap is its capacity,
 * updated), p itself if it is large enough, or NULL on OOM (p stays valid). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / elem)
		return NULL;
	p = realloc(p, n * elem);
	if (p)
		*cap = n;
	return p;
}

/* ---- interned strings ---- */

static char *arena_alloc(struct ht_symbolizer *sym, size_t len)
{
	char *p;

	if (len > sym->left) {
		size_t size = len > CHUNK_SIZE ? len : CHUNK_SIZE;
		char **chunks = grow(sym->chunks, &sym->capchunks, sym->nchunks + 1,
				     sizeof(*chunks));

		if (!chunks)
			return NULL;
		sym->chunks = chunks;
		p = malloc(size);
		if (!p)
			return NULL;
		sym->chunks[sym->nchunks++] = p;
		sym->cur = p;
		sym->left = size;
	}
	p = sym->cur;
	sym->cur += len;
	sym->left -= len;
	return p;
}

static struct str_slot *str_slot(const struct ht_symbolizer *sym, const char *str, uint64_t h)
{
	size_t mask = sym->scap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct str_slot *e = &sym->strs[i];

		if (!e->str || (e->hash == h && strcmp(e->str, str) == 0))
			return e;
	}
}

/* The interned copy of str, or NULL if it was never interned. */
static const char *str_find(const struct ht_symbolizer *sym, const char *str)
{
	if (!sym->scap)
		return NULL;
	return str_slot(sym, str, hash_str(str))->str;
}

/* The interned copy of str, made if needed; NULL on OOM. */
static const char *intern(struct ht_symbolizer *sym, const char *str)
{
	uint64_t h = hash_str(str);
	struct str_slot *e;
	size_t len;
	char *copy;

	if ((sym->sused + 1) * 4 > sym->scap * 3) {
		size_t ncap = sym->scap ? sym->scap * 2 : 1024;
		struct str_slot *old = sym->strs, *n = calloc(ncap, sizeof(*n));
		size_t ocap = sym->scap;

		if (!n)
			return NULL;
		sym->strs = n;
		sym->scap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].str)
				*str_slot(sym, old[i].str, old[i].hash) = old[i];
		free(old);
	}
	e = str_slot(sym, str, h);
	if (e->str)
		return e->str;
	len = strlen(str) + 1;
	copy = arena_alloc(sym, len);
	if (!copy)
		return NULL;
	memcpy(copy, str, len);
	e->str = copy;
	e->hash = h;
	sym->sused++;
	return copy;
}

/* ---- interned functions ---- */

static uint64_t hash_func(const char *name, const char *system_name, const char *file)
{
	return mix64((uintptr_t)name ^ mix64((uintptr_t)system_name ^ mix64((uintptr_t)file)));
}

static uint32_t *func_slot(const struct ht_symbolizer *sym, const char *name,
			   const char *system_name, const char *file)
{
	size_t mask = sym->fcap - 1;

	for (size_t i = hash_func(name, system_name, file) & mask;; i = (i + 1) & mask) {
		uint32_t *slot = &sym->fslots[i];
		const struct sym_func *f;

		if (!*slot)
			return slot;
		f = &sym->funcs[*slot - 1];
		if (f->name == name && f->system_name == system_name && f->file == file)
			return slot;
	}
}

/* Index of the function with these interned strings, or HT_NONE if none. */
static uint32_t func_find(const struct ht_symbolizer *sym, const char *name,
			  const char *system_name, const char *file)
{
	uint32_t *slot;

	if (!sym->fcap)
		return HT_NONE;
	slot = func_slot(sym, name, system_name, file);
	return *slot ? *slot - 1 : HT_NONE;
}

/* Index of the function with these interned strings, added if needed;
 * HT_NONE on OOM. */
static uint32_t func_intern(struct ht_symbolizer *sym, const char *name,
			    const char *system_name, const char *file)
{
	struct sym_func *funcs;
	uint32_t *slot;

	if ((sym->nfuncs + 1) * 4 > sym->fcap * 3) {
		size_t ncap = sym->fcap ? sym->fcap * 2 : 1024;
		uint32_t *n = calloc(ncap, sizeof(*n));

		if (!n)
			return HT_NONE;
		free(sym->fslots);
		sym->fslots = n;
		sym->fcap = ncap;
		for (size_t i = 0; i < sym->nfuncs; i++) {
			const struct sym_func *f = &sym->funcs[i];

			*func_slot(sym, f->name, f->system_name, f->file) = i + 1;
		}
	}
	slot = func_slot(sym, name, system_name, file);
	if (*slot)
		return *slot - 1;
	if (sym->nfuncs >= HT_NONE - 1)
		return HT_NONE;
	funcs = grow(sym->funcs, &sym->capfuncs, sym->nfuncs + 1, sizeof(*funcs));
	if (!funcs)
		return HT_NONE;
	sym->funcs = funcs;
	sym->funcs[sym->nfuncs] = (struct sym_func){ name, system_name, file };
	*slot = ++sym->nfuncs;
	return *slot - 1;
}

/* ---- demangling ---- */

static void load_demangler(struct ht_symbolizer *sym)
{
	void *fn;

	sym->demangler_loaded = 1;
	/* The C++ runtime is not linked into the C tools: use the process's
	 * copy if there is one, else load it, else names stay mangled. */
	fn = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	if (!fn) {
		sym->libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
		if (sym->libstdcxx)
			fn = dlsym(sym->libstdcxx, "__cxa_demangle");
	}
	sym->cxa_demangle = (cxa_demangle_fn)fn;
}

char *ht_symbolizer_demangle(struct ht_symbolizer *sym, const char *name)
{
	int status = -1;
	char *out;

	if (!name || name[0] != '_' || name[1] != 'Z')
		return NULL;
	if (!sym->demangler_loaded)
		load_demangler(sym);
	if (!sym->cxa_demangle)
		return NULL;
	out = sym->cxa_demangle(name, NULL, NULL, &status);
	if (status != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static struct ptr_slot *dem_slot(const struct ht_symbolizer *sym, const char *key)
{
	size_t mask = sym->dcap - 1;

	for (size_t i = mix64((uintptr_t)key) & mask;; i = (i + 1) & mask)
		if (!sym->dem[i].key || sym->dem[i].key == key)
			return &sym->dem[i];
}

/* The display name for an interned system name: without a symbol version
 * ("xdr_uint32_t@GLIBC_2.2.5"), demangled. Interned; NULL on OOM. */
static const char *display_name(struct ht_symbolizer *sym, const char *system_name)
{
	const char *at = system_name[0] ? strchr(system_name + 1, '@') : NULL;
	struct ptr_slot *e;
	const char *name;
	char *base = NULL, *d;

	if ((system_name[0] != '_' || system_name[1] != 'Z') && !at)
		return system_name;
	if ((sym->dused + 1) * 4 > sym->dcap * 3) {
		size_t ncap = sym->dcap ? sym->dcap * 2 : 256;
		struct ptr_slot *old = sym->dem, *n = calloc(ncap, sizeof(*n));
		size_t ocap = sym->dcap;

		if (!n)
			return NULL;
		sym->dem = n;
		sym->dcap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].key)
				*dem_slot(sym, old[i].key) = old[i];
		free(old);
	}
	e = dem_slot(sym, system_name);
	if (e->key)
		return e->val;
	if (at) {
		base = strndup(system_name, (size_t)(at - system_name));
		if (!base)
			return NULL;
	}
	d = ht_symbolizer_demangle(sym, base ? base : system_name);
	name = d ? intern(sym, d) : base ? intern(sym, base) : system_name;
	free(d);
	free(base);
	if (!name)
		return NULL;
	e->key = system_name;
	e->val = name;
	sym->dused++;
	return name;
}

/* ---- the symbol table, sorted once per module ---- */

/* Binding and type ranks: at one address, the lowest rank names it. */
static unsigned sym_rank(const GElf_Sym *s)
{
	unsigned bind = GELF_ST_BIND(s->st_info), type = GELF_ST_TYPE(s->st_info);

	return (s->st_size == 0) * 8 + (type == STT_NOTYPE) * 4 +
	       (bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2);
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym_entry *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (int)x->rank - (int)y->rank;
}

/* Reads the code symbols of m (.symtab, else .dynsym, possibly from the debug
 * file) into an array sorted by address, one name per address; -1 on OOM.
 * libdwfl's own address lookup scans every symbol, too slow here. */
static int symtab_load(struct sym_module *m)
{
	int n = dwfl_module_getsymtab(m->mod);
	size_t k = 0, cap = 0;

	m->symtab_loaded = 1;
	for (int i = 1; i < n; i++) {
		GElf_Sym s;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(m->mod, i, &s, &addr, &shndx, NULL, NULL);
		unsigned type = GELF_ST_TYPE(s.st_info);
		struct sym_entry *syms;

		if (!name || !*name || shndx == SHN_UNDEF || shndx == SHN_ABS ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE))
			continue;
		syms = grow(m->syms, &cap, k + 1, sizeof(*syms));
		if (!syms)
			return -1;
		m->syms = syms;
		m->syms[k++] = (struct sym_entry){ addr - m->dwfl_bias, s.st_size, name,
						   sym_rank(&s) };
	}
	if (k)
		qsort(m->syms, k, sizeof(*m->syms), sym_cmp);
	m->nsyms = 0;
	for (size_t i = 0; i < k; i++)
		if (!m->nsyms || m->syms[m->nsyms - 1].lo != m->syms[i].lo)
			m->syms[m->nsyms++] = m->syms[i];
	return 0;
}

/* The symbol naming pc: the nearest one before it whose size covers it
 * (a few back, for symbols nested in others), else the nearest sizeless one. */
static const char *symtab_name(struct sym_module *m, uint64_t pc)
{
	size_t lo = 0, hi = m->nsyms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->syms[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t j = lo; j > 0 && j + 16 > lo; j--) {
		const struct sym_entry *e = &m->syms[j - 1];

		if (e->size && pc - e->lo < e->size)
			return e->name;
	}
	return lo && !m->syms[lo - 1].size ? m->syms[lo - 1].name : NULL;
}

/* ---- the functions of a compilation unit, by address ---- */

static int is_function_tag(int tag)
{
	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
	       tag == DW_TAG_entry_point;
}

/* DIEs without code of their own that may hold functions. */
static int may_hold_functions(int tag)
{
	switch (tag) {
	case DW_TAG_lexical_block:
	case DW_TAG_namespace:
	case DW_TAG_module:
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
	case DW_TAG_union_type:
	case DW_TAG_try_block:
	case DW_TAG_catch_block:
	case DW_TAG_with_stmt:
		return 1;
	}
	return 0;
}

/* Adds die as a record if it has code: *rec is its index, or HT_NONE if it
 * has none (an abstract or declared function). Returns 0, or -1 on OOM. */
static int cu_add_rec(struct cu_index *cu, Dwarf_Die *die, uint32_t parent, uint32_t depth,
		      uint32_t *rec)
{
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;
	size_t first = cu->nranges;
	struct fn_rec *recs;

	*rec = HT_NONE;
	while ((off = dwarf_ranges(die, off, &base, &start, &end)) > 0) {
		struct fn_range *ranges;

		if (end <= start)
			continue;
		ranges = grow(cu->ranges, &cu->capranges, cu->nranges + 1, sizeof(*ranges));
		if (!ranges)
			return -1;
		cu->ranges = ranges;
		cu->ranges[cu->nranges++] = (struct fn_range){ start, end, cu->nrecs, depth };
	}
	if (cu->nranges == first)
		return 0;
	if (cu->nrecs >= HT_NONE - 1)
		return -1;
	recs = grow(cu->recs, &cu->caprecs, cu->nrecs + 1, sizeof(*recs));
	if (!recs)
		return -1;
	cu->recs = recs;
	cu->recs[cu->nrecs] = (struct fn_rec){
		.die = *die,
		.parent = parent,
		.first_range = first,
		.nranges = cu->nranges - first,
		.inlined = dwarf_tag(die) == DW_TAG_inlined_subroutine,
	};
	*rec = cu->nrecs++;
	return 0;
}

#define MAX_DIE_NESTING 256
#define MAX_IMPORTS 4

/* Adds the functions among the children of die, recursively: level is the
 * DIE nesting, imports the partial units followed. -1 on OOM. */
static int cu_walk(struct cu_index *cu, Dwarf_Die *die, uint32_t parent, uint32_t depth,
		   int level, int imports)
{
	Dwarf_Die child, imported;
	Dwarf_Attribute attr;
	uint32_t rec;

	if (level > MAX_DIE_NESTING || dwarf_child(die, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);

		if (is_function_tag(tag)) {
			if (cu_add_rec(cu, &child, parent, depth, &rec) < 0)
				return -1;
			if (rec != HT_NONE &&
			    cu_walk(cu, &child, rec, depth + 1, level + 1, imports) < 0)
				return -1;
		} else if (may_hold_functions(tag)) {
			if (cu_walk(cu, &child, parent, depth, level + 1, imports) < 0)
				return -1;
		} else if (tag == DW_TAG_imported_unit && imports < MAX_IMPORTS) {
			/* dwz moves DIEs shared by CUs into partial units */
			if (dwarf_formref_die(dwarf_attr(&child, DW_AT_import, &attr), &imported) &&
			    cu_walk(cu, &imported, parent, depth, level + 1, imports + 1) < 0)
				return -1;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct fn_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

static void cu_free(struct cu_index *cu)
{
	if (!cu)
		return;
	free(cu->recs);
	free(cu->ranges);
	free(cu->sorted);
	free(cu->own);
	free(cu);
}

/* Builds the index of the CU whose DIE is cudie; NULL on OOM. With split
 * DWARF the functions are in the .dwo unit that this skeleton names. */
static struct cu_index *cu_build(Dwarf_Die *cudie)
{
	struct cu_index *cu = calloc(1, sizeof(*cu));
	Dwarf_Addr base, start, end;
	ptrdiff_t off = 0;
	Dwarf_Die split, *fns = cudie;
	uint8_t type;

	if (!cu)
		return NULL;
	cu->key = cudie->cu;
	cu->cudie = *cudie;
	if (dwarf_cu_info(cudie->cu, NULL, &type, NULL, &split, NULL, NULL, NULL) == 0 &&
	    type == DW_UT_skeleton && split.addr)
		fns = &split;
	while ((off = dwarf_ranges(cudie, off, &base, &start, &end)) > 0) {
		struct fn_range *own = grow(cu->own, &cu->capown, cu->nown + 1, sizeof(*own));

		if (!own)
			goto oom;
		cu->own = own;
		cu->own[cu->nown++] = (struct fn_range){ start, end, HT_NONE, 0 };
	}
	if (cu_walk(cu, fns, HT_NONE, 0, 0, 0) < 0)
		goto oom;
	if (cu->nranges) {
		cu->sorted = malloc(cu->nranges * sizeof(*cu->sorted));
		if (!cu->sorted)
			goto oom;
		memcpy(cu->sorted, cu->ranges, cu->nranges * sizeof(*cu->sorted));
		qsort(cu->sorted, cu->nranges, sizeof(*cu->sorted), range_cmp);
	}
	return cu;
oom:
	cu_free(cu);
	return NULL;
}

static int rec_contains(const struct cu_index *cu, uint32_t rec, uint64_t pc)
{
	const struct fn_rec *r = &cu->recs[rec];

	for (uint32_t i = 0; i < r->nranges; i++) {
		const struct fn_range *x = &cu->ranges[r->first_range + i];

		if (pc >= x->lo && pc < x->hi)
			return 1;
	}
	return 0;
}

/* Whether pc is in the CU: libdwfl may hand out the CU before a gap. */
static int cu_contains(const struct cu_index *cu, uint64_t pc)
{
	for (size_t i = 0; i < cu->nown; i++)
		if (pc >= cu->own[i].lo && pc < cu->own[i].hi)
			return 1;
	return cu->nown == 0;
}

/* The innermost function record holding pc, or HT_NONE. Functions nest, so
 * it is the last range starting at or before pc, or one of its parents. */
static uint32_t cu_find(const struct cu_index *cu, uint64_t pc)
{
	size_t lo = 0, hi = cu->nranges;
	uint32_t rec;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cu->sorted[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return HT_NONE;
	if (pc < cu->sorted[lo - 1].hi)
		return cu->sorted[lo - 1].rec;
	for (rec = cu->recs[cu->sorted[lo - 1].rec].parent; rec != HT_NONE;
	     rec = cu->recs[rec].parent)
		if (rec_contains(cu, rec, pc))
			return rec;
	return HT_NONE;
}

static struct cu_index **cu_slot(const struct sym_module *m, const void *key)
{
	size_t mask = m->cucap - 1;

	for (size_t i = mix64((uintptr_t)key) & mask;; i = (i + 1) & mask)
		if (!m->cus[i] || m->cus[i]->key == key)
			return &m->cus[i];
}

/* The index of the CU cudie of m, built on first use; NULL on OOM. */
static struct cu_index *cu_get(struct sym_module *m, Dwarf_Die *cudie)
{
	struct cu_index **slot;

	if ((m->ncus + 1) * 2 > m->cucap) {
		size_t ncap = m->cucap ? m->cucap * 2 : 64;
		struct cu_index **old = m->cus, **n = calloc(ncap, sizeof(*n));
		size_t ocap = m->cucap;

		if (!n)
			return NULL;
		m->cus = n;
		m->cucap = ncap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i])
				*cu_slot(m, old[i]->key) = old[i];
		free(old);
	}
	slot = cu_slot(m, cudie->cu);
	if (!*slot) {
		*slot = cu_build(cudie);
		if (!*slot)
			return NULL;
		m->ncus++;
	}
	return *slot;
}

static int unit_cmp(const void *a, const void *b)
{
	const struct unit_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Reads the address ranges of every compile unit of m, sorted: the index
 * .debug_aranges should give, which clang does not emit. -1 on OOM. */
static int units_load(struct sym_module *m)
{
	Dwarf_CU *unit = NULL;
	Dwarf_Die cudie;
	uint8_t type;
	size_t cap = 0;

	m->units_loaded = 1;
	while (dwarf_get_units(m->dw, unit, &unit, NULL, &type, &cudie, NULL) == 0) {
		Dwarf_Addr base, start, end;
		ptrdiff_t off = 0;

		if (type != DW_UT_compile && type != DW_UT_skeleton)
			continue;
		while ((off = dwarf_ranges(&cudie, off, &base, &start, &end)) > 0) {
			struct unit_range *units;

			if (end <= start)
				continue;
			units = grow(m->units, &cap, m->nunits + 1, sizeof(*units));
			if (!units)
				return -1;
			m->units = units;
			m->units[m->nunits++] = (struct unit_range){ start, end, cudie };
		}
	}
	if (m->nunits)
		qsort(m->units, m->nunits, sizeof(*m->units), unit_cmp);
	return 0;
}

/* The index of the CU of m holding DWARF address pc (a: the same as a libdwfl
 * address) into *out, NULL if none. Returns 0, or -1 on OOM. */
static int find_cu(struct sym_module *m, Dwarf_Addr a, Dwarf_Addr pc, struct cu_index **out)
{
	Dwarf_Addr bias;
	Dwarf_Die *cudie = dwfl_module_addrdie(m->mod, a, &bias);
	size_t lo = 0, hi;

	*out = NULL;
	if (cudie) {
		*out = cu_get(m, cudie);
		if (!*out)
			return -1;
		if (cu_contains(*out, pc))
			return 0;
		*out = NULL;
	}
	/* no .debug_aranges, or libdwfl guessed the CU before a gap */
	if (!m->units_loaded && units_load(m) < 0)
		return -1;
	hi = m->nunits;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->units[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || pc >= m->units[lo - 1].hi)
		return 0;
	*out = cu_get(m, &m->units[lo - 1].cudie);
	return *out ? 0 : -1;
}

/* Frees the CU indexes of m: they are rebuilt if ever needed again, while
 * resolved addresses stay cached. */
static void cu_drop_all(struct sym_module *m)
{
	for (size_t i = 0; i < m->cucap; i++)
		cu_free(m->cus[i]);
	free(m->cus);
	m->cus = NULL;
	m->cucap = m->ncus = 0;
}

/* ---- resolving one address ---- */

/* The interned copy of a file name from libdw, whose strings live as long as
 * the module: a small cache by address spares hashing the same path again. */
static const char *intern_file(struct ht_symbolizer *sym, const char *file)
{
	struct ptr_slot *e;
	const char *f;

	if (!file)
		return intern(sym, "");
	e = &sym->files[mix64((uintptr_t)file) % FILE_CACHE];
	if (e->key == file)
		return e->val;
	f = intern(sym, file);
	if (f) {
		e->key = file;
		e->val = f;
	}
	return f;
}

/* Appends a frame for the function with (interned) symbol name system_name
 * and source name plain (may be NULL) at file:line. The display name is
 * system_name demangled, else plain (a C function renamed with an asm label,
 * like glibc's __GI_getenv, shows as getenv), else system_name. Returns 0,
 * or -1 on OOM. */
static int push_frame(struct ht_symbolizer *sym, const char *system_name, const char *plain,
		      const char *file, int line)
{
	const char *name = display_name(sym, system_name);
	const char *f = intern_file(sym, file);
	struct sym_frame *frames;
	uint32_t func;

	if (name == system_name && plain)
		name = plain;
	if (!name || !f)
		return -1;
	func = func_intern(sym, name, system_name, f);
	if (func == HT_NONE)
		return -1;
	frames = grow(sym->frames, &sym->capframes, sym->nframes + 1, sizeof(*frames));
	if (!frames)
		return -1;
	sym->frames = frames;
	sym->frames[sym->nframes++] = (struct sym_frame){ func, line > 0 ? (uint32_t)line : 0 };
	return 0;
}

/* Sets r's interned names once: the linkage name, else the source name,
 * looking through abstract origins and specifications, else (for a real
 * function) the symbol at pc, else "??"; and the source name or NULL.
 * Returns 0, or -1 on OOM. */
static int rec_names(struct ht_symbolizer *sym, struct sym_module *m, struct fn_rec *r,
		     uint64_t pc)
{
	Dwarf_Attribute attr;
	const char *plain = dwarf_diename(&r->die), *name;

	if (r->system_name)
		return 0;
	if (plain && !*plain)
		plain = NULL;
	name = dwarf_formstring(dwarf_attr_integrate(&r->die, DW_AT_linkage_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(&r->die, DW_AT_MIPS_linkage_name,
							     &attr));
	if (!name || !*name)
		name = plain;
	if (!name && r->parent == HT_NONE) {
		if (!m->symtab_loaded && symtab_load(m) < 0)
			return -1;
		name = symtab_name(m, pc);
	}
	r->system_name = intern(sym, name ? name : "??");
	r->plain = plain ? intern(sym, plain) : NULL;
	return r->system_name && (r->plain || !plain) ? 0 : -1;
}

/* The call site recorded in an inlined_subroutine DIE. */
static void call_site(Dwarf_Die *die, const char **file, int *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word val;
	Dwarf_Files *files;
	Dwarf_Die cu;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &val) == 0 &&
	    dwarf_diecu(die, &cu, NULL, NULL) && dwarf_getsrcfiles(&cu, &files, NULL) == 0)
		*file = dwarf_filesrc(files, val, NULL, NULL);
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &val) == 0 &&
	    val <= INT32_MAX)
		*line = (int)val;
}

/* Pushes the frames of pc from the CU's functions: the innermost function at
 * file:line, then for each inlined call its caller at the call site. Returns
 * the number of frames pushed (0: no function covers pc), -1 on OOM. */
static int push_dwarf_frames(struct ht_symbolizer *sym, struct sym_module *m,
			     struct cu_index *cu, uint64_t pc, Dwarf_Addr dwpc,
			     const char *file, int line)
{
	uint32_t rec = cu_find(cu, dwpc);
	int pushed = 0;

	while (rec != HT_NONE) {
		struct fn_rec *r = &cu->recs[rec];

		if (rec_names(sym, m, r, pc) < 0 ||
		    push_frame(sym, r->system_name, r->plain, file, line) < 0)
			return -1;
		pushed++;
		if (!r->inlined)
			break;
		call_site(&r->die, &file, &line);
		rec = r->parent;
	}
	return pushed;
}

/* Bytes that libdw would unpack to read elf's DWARF: the uncompressed sizes
 * of its compressed debug sections (SHF_COMPRESSED .debug_*, and GNU
 * .zdebug_*, whose data starts with "ZLIB" and the size, big-endian). */
static uint64_t dwarf_unpacked(Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	uint64_t total = 0;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		const char *name;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, shdr.sh_name);
		if (!name)
			continue;
		if ((shdr.sh_flags & SHF_COMPRESSED) && strncmp(name, ".debug_", 7) == 0) {
			GElf_Chdr ch;

			if (gelf_getchdr(scn, &ch))
				total += ch.ch_size;
		} else if (strncmp(name, ".zdebug_", 8) == 0) {
			Elf_Data *d = elf_rawdata(scn, NULL);
			const unsigned char *b = d ? d->d_buf : NULL;

			if (b && d->d_size >= 12 && memcmp(b, "ZLIB", 4) == 0)
				for (int i = 4; i < 12; i++)
					total = total + ((uint64_t)b[i] << (8 * (11 - i)));
		}
	}
	return total;
}

/* Whether m's DWARF may be read: always, unless it is compressed and would
 * unpack to more than sym->dwarf_max bytes (libc's from libc6-dbg is some
 * 10 MB, held while it is used, and 40 ms of inflating); such a module is
 * named from its symbol table. The symbol table is looked up first, which
 * locates a separate debug file without reading its DWARF. */
static int dwarf_affordable(struct ht_symbolizer *sym, struct sym_module *m)
{
	const char *debugfile = NULL;
	uint64_t size = 0;

	if (sym->dwarf_max == UINT64_MAX)
		return 1;
	dwfl_module_getsymtab(m->mod);
	dwfl_module_info(m->mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile);
	if (debugfile) {
		int fd = open(debugfile, O_RDONLY | O_CLOEXEC);
		Elf *e = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;

		if (e) {
			size = dwarf_unpacked(e);
			elf_end(e);
		}
		if (fd >= 0)
			close(fd);
	} else {
		GElf_Addr bias;
		Elf *e = dwfl_module_getelf(m->mod, &bias);

		if (e)
			size = dwarf_unpacked(e);
	}
	return size <= sym->dwarf_max;
}

/* Resolves file address pc (already the call site) of m into new frames at
 * the end of sym->frames. Returns how many (0: nothing known), -1 on OOM. */
static int resolve(struct ht_symbolizer *sym, struct sym_module *m, uint64_t pc)
{
	const char *file = NULL, *name;
	int line = 0, n;

	if (!(sym->flags & HT_SYM_SYMTAB_ONLY) && !m->dw_loaded) {
		if (dwarf_affordable(sym, m))
			m->dw = dwfl_module_getdwarf(m->mod, &m->dwbias);
		m->dw_loaded = 1;
	}
	if (!(sym->flags & HT_SYM_SYMTAB_ONLY) && m->dw) {
		Dwarf_Addr a = pc + m->dwfl_bias, dwpc = a - m->dwbias;
		struct cu_index *cu;
		Dwarf_Line *dl;

		if (find_cu(m, a, dwpc, &cu) < 0)
			return -1;
		if (cu) {
			dl = dwarf_getsrc_die(&cu->cudie, dwpc);
			file = dl ? dwarf_linesrc(dl, NULL, NULL) : NULL;
			if (!file || dwarf_lineno(dl, &line) != 0)
				line = 0;
			n = push_dwarf_frames(sym, m, cu, pc, dwpc, file, line);
			if (n != 0)
				return n;
		}
	}
	if (!m->symtab_loaded && symtab_load(m) < 0)
		return -1;
	name = symtab_name(m, pc);
	if (!name)
		return 0;
	name = intern(sym, name);
	if (!name)
		return -1;
	return push_frame(sym, name, NULL, file, line) < 0 ? -1 : 1;
}

/* ---- modules ---- */

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
static void module_open(struct sym_module *m)
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

/* Index of the cache entry for module x, made if needed; HT_NONE on OOM. */
static uint32_t module_get(struct ht_symbolizer *sym, const struct ht_module *x)
{
	const char *path = x->path ? x->path : "";
	uint32_t idlen = x->build_id_len <= sizeof(x->build_id) ? x->build_id_len : 0;
	struct sym_module *m, *mods;

	for (size_t i = 0; i < sym->nmods; i++) {
		m = &sym->mods[i];
		if (m->build_id_len == idlen && memcmp(m->build_id, x->build_id, idlen) == 0 &&
		    strcmp(m->path, path) == 0)
			return i;
	}
	if (sym->nmods >= HT_NONE - 1)
		return HT_NONE;
	mods = grow(sym->mods, &sym->capmods, sym->nmods + 1, sizeof(*mods));
	if (!mods)
		return HT_NONE;
	sym->mods = mods;
	m = &sym->mods[sym->nmods];
	memset(m, 0, sizeof(*m));
	m->path = strdup(path);
	if (!m->path)
		return HT_NONE;
	memcpy(m->build_id, x->build_id, idlen);
	m->build_id_len = idlen;
	m->state = MOD_UNOPENED;
	return sym->nmods++;
}

static struct addr_slot *addr_slot(const struct sym_module *m, uint64_t addr)
{
	size_t mask = m->cap - 1;

	for (size_t i = mix64(addr) & mask;; i = (i + 1) & mask)
		if (m->slots[i].n == SLOT_EMPTY || m->slots[i].addr == addr)
			return &m->slots[i];
}

/* Makes room in m's address cache for one more entry; -1 on OOM. */
static int addr_reserve(struct sym_module *m)
{
	struct addr_slot *old = m->slots, *n;
	size_t ocap = m->cap, ncap;

	if ((m->used + 1) * 4 <= m->cap * 3)
		return 0;
	ncap = m->cap ? m->cap * 2 : 256;
	n = malloc(ncap * sizeof(*n));
	if (!n)
		return -1;
	for (size_t i = 0; i < ncap; i++)
		n[i].n = SLOT_EMPTY;
	m->slots = n;
	m->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].n != SLOT_EMPTY)
			*addr_slot(m, old[i].addr) = old[i];
	free(old);
	return 0;
}

/* The cached answer for file address addr in module m, resolving it first
 * if needed, into *out. Returns 0, or -1 on OOM. */
static int lookup(struct ht_symbolizer *sym, struct sym_module *m, uint64_t addr,
		  struct addr_slot *out)
{
	struct addr_slot *slot;
	size_t first = sym->nframes;
	int n;

	if (addr_reserve(m) < 0)
		return -1;
	slot = addr_slot(m, addr);
	if (slot->n == SLOT_EMPTY) {
		/* A return address: the call is the instruction before it. */
		n = resolve(sym, m, addr - 1);
		if (n < 0 || sym->nframes >= HT_NONE) {
			sym->nframes = first;
			return -1;
		}
		slot->addr = addr;
		slot->first = first;
		slot->n = n;
		m->used++;
	}
	*out = *slot;
	return 0;
}

/* ---- the API ---- */

struct ht_symbolizer *ht_symbolizer_new_flags(unsigned flags)
{
	struct ht_symbolizer *sym = calloc(1, sizeof(*sym));

	elf_version(EV_CURRENT);
	if (sym) {
		sym->flags = flags;
		sym->dwarf_max = UINT64_MAX;
	}
	return sym;
}

void ht_symbolizer_set_dwarf_max(struct ht_symbolizer *sym, uint64_t bytes)
{
	sym->dwarf_max = bytes;
}

struct ht_symbolizer *ht_symbolizer_new(void)
{
	return ht_symbolizer_new_flags(0);
}

/* Closes m's files and frees what was read from them or points into them;
 * its identity and address cache stay. */
static void module_close(struct sym_module *m)
{
	if (m->dwfl)
		dwfl_end(m->dwfl);
	if (m->map)
		munmap(m->map, m->map_size);
	cu_drop_all(m);
	free(m->units);
	free(m->syms);
	m->dwfl = NULL;
	m->mod = NULL;
	m->dwfl_bias = 0;
	m->map = NULL;
	m->map_size = 0;
	m->dw = NULL;
	m->dwbias = 0;
	m->dw_loaded = 0;
	m->units = NULL;
	m->nunits = 0;
	m->units_loaded = 0;
	m->syms = NULL;
	m->nsyms = 0;
	m->symtab_loaded = 0;
}

void ht_symbolizer_trim(struct ht_symbolizer *sym)
{
	if (!sym)
		return;
	for (size_t i = 0; i < sym->nmods; i++) {
		if (sym->mods[i].state != MOD_OPEN)
			continue;
		module_close(&sym->mods[i]);
		sym->mods[i].state = MOD_UNOPENED;
	}
	/* keyed by libdw's strings, which are gone */
	memset(sym->files, 0, sizeof(sym->files));
}

void ht_symbolizer_free(struct ht_symbolizer *sym)
{
	if (!sym)
		return;
	for (size_t i = 0; i < sym->nmods; i++) {
		module_close(&sym->mods[i]);
		free(sym->mods[i].slots);
		free(sym->mods[i].path);
	}
	free(sym->mods);
	free(sym->funcs);
	free(sym->fslots);
	free(sym->frames);
	free(sym->strs);
	for (size_t i = 0; i < sym->nchunks; i++)
		free(sym->chunks[i]);
	free(sym->chunks);
	free(sym->dem);
	if (sym->libstdcxx)
		dlclose(sym->libstdcxx);
	free(sym);
}

/* Copies the cached answers into s: functions (reusing those s already has)
 * and one run of lines per location. res[i] is location i's answer (n = 0:
 * none). */
static int emit(struct ht_symbolizer *sym, struct ht_snapshot *s,
		const struct addr_slot *res)
{
	uint32_t *fmap = malloc((sym->nfuncs ? sym->nfuncs : 1) * sizeof(*fmap));
	int ret = -1;

	if (!fmap)
		return -1;
	for (size_t i = 0; i < sym->nfuncs; i++)
		fmap[i] = HT_NONE;
	for (size_t i = 0; i < s->nfunctions; i++) {
		const struct ht_function *f = &s->functions[i];
		const char *name, *system_name, *file;
		uint32_t id;

		if (!f->name || !f->system_name || !f->file)
			continue;
		name = str_find(sym, f->name);
		system_name = str_find(sym, f->system_name);
		file = str_find(sym, f->file);
		if (!name || !system_name || !file)
			continue;
		id = func_find(sym, name, system_name, file);
		if (id != HT_NONE && fmap[id] == HT_NONE)
			fmap[id] = i;
	}

	for (size_t i = 0; i < s->nlocations; i++) {
		const struct addr_slot *slot = &res[i];
		uint32_t first = HT_NONE;

		if (!slot->n)
			continue;
		for (uint32_t k = 0; k < slot->n; k++) {
			const struct sym_frame *fr = &sym->frames[slot->first + k];
			struct ht_line ln = { fmap[fr->func], fr->line };
			uint32_t idx;

			if (ln.function == HT_NONE) {
				const struct sym_func *sf = &sym->funcs[fr->func];
				struct ht_function f = {
					ht_snapshot_strdup(s, sf->name),
					ht_snapshot_strdup(s, sf->system_name),
					ht_snapshot_strdup(s, sf->file),
				};

				if (!f.name || !f.system_name || !f.file)
					goto out;
				ln.function = ht_snapshot_add_function(s, &f);
				if (ln.function == HT_NONE)
					goto out;
				fmap[fr->func] = ln.function;
			}
			idx = ht_snapshot_add_line(s, &ln);
			if (idx == HT_NONE)
				goto out;
			if (k == 0)
				first = idx;
		}
		s->locations[i].first_line = first;
		s->locations[i].nlines = slot->n;
	}
	ret = 0;
out:
	free(fmap);
	return ret;
}

int ht_symbolize(struct ht_symbolizer *sym, struct ht_snapshot *s)
{
	struct addr_slot *res = NULL;
	uint32_t *modmap = NULL; /* snapshot module -> cache entry + 1; 0: not yet */
	int found = 0, ret = -1;

	for (size_t i = 0; i < s->nlocations && !found; i++)
		found = s->locations[i].nlines == 0 && s->locations[i].module < s->nmodules;
	if (!found)
		return 0;
	res = calloc(s->nlocations, sizeof(*res));
	modmap = calloc(s->nmodules, sizeof(*modmap));
	if (!res || !modmap)
		goto out;

	found = 0;
	for (size_t i = 0; i < s->nlocations; i++) {
		const struct ht_location *loc = &s->locations[i];
		const struct ht_module *x;
		struct sym_module *m;

		if (loc->nlines != 0 || loc->module >= s->nmodules)
			continue;
		x = &s->modules[loc->module];
		if (!modmap[loc->module]) {
			uint32_t mi = module_get(sym, x);

			if (mi == HT_NONE)
				goto out;
			modmap[loc->module] = mi + 1;
		}
		m = &sym->mods[modmap[loc->module] - 1];
		if (m->state == MOD_UNOPENED)
			module_open(m);
		if (m->state != MOD_OPEN)
			continue;
		if (lookup(sym, m, loc->address - x->bias, &res[i]) < 0)
			goto out;
		found |= res[i].n != 0;
	}
	ret = found ? emit(sym, s, res) : 0;
out:
	for (size_t i = 0; i < sym->nmods; i++)
		cu_drop_all(&sym->mods[i]);
	free(res);
	free(modmap);
	return ret;
}
