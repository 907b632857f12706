/* Names: the strings the symbolizer hands out, each interned once (equal
 * strings, equal pointers), the functions made of them, and the display
 * name of a symbol (without its version, demangled by libstdc++'s
 * __cxa_demangle, loaded at run time). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/symbolize_int.h"

/* ---- interned strings ---- */

/* The interned copy of str, or NULL if it was never interned. */
const char *ht_sym_str_find(const struct ht_symbolizer *sym, const char *str)
{
	uint32_t id = ht_strtab_find(&sym->strs, str, strlen(str));

	return id == HT_STRTAB_NONE ? NULL : sym->strs.str[id];
}

/* The interned copy of str, made if needed; NULL on OOM. */
const char *ht_sym_intern(struct ht_symbolizer *sym, const char *str)
{
	uint32_t id = ht_strtab_intern(&sym->strs, str, strlen(str));

	return id == HT_STRTAB_NONE ? NULL : sym->strs.str[id];
}

/* ---- interned functions ---- */

static uint64_t hash_func(const char *name, const char *system_name, const char *file)
{
	return ht_mix64((uintptr_t)name ^
			ht_mix64((uintptr_t)system_name ^ ht_mix64((uintptr_t)file)));
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
uint32_t ht_sym_func_find(const struct ht_symbolizer *sym, const char *name,
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
	funcs = ht_grow(sym->funcs, &sym->capfuncs, sym->nfuncs + 1, sizeof(*funcs));
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

/* The display name for an interned system name: without a symbol version
 * ("xdr_uint32_t@GLIBC_2.2.5"), demangled. Interned; NULL on OOM. */
static const char *display_name(struct ht_symbolizer *sym, const char *system_name)
{
	const char *at = system_name[0] ? strchr(system_name + 1, '@') : NULL;
	const char *name;
	char *base = NULL, *d;

	if ((system_name[0] != '_' || system_name[1] != 'Z') && !at)
		return system_name;
	name = ht_ptrmap_get(&sym->dem, system_name);
	if (name)
		return name;
	if (at) {
		base = strndup(system_name, (size_t)(at - system_name));
		if (!base)
			return NULL;
	}
	d = ht_symbolizer_demangle(sym, base ? base : system_name);
	name = d ? ht_sym_intern(sym, d) : base ? ht_sym_intern(sym, base) : system_name;
	free(d);
	free(base);
	if (!name || ht_ptrmap_put(&sym->dem, system_name, (char *)name) != 0)
		return NULL;
	return name;
}

/* The interned copy of a file name from libdw, whose strings live as long as
 * the module: a small cache by address spares hashing the same path again. */
static const char *intern_file(struct ht_symbolizer *sym, const char *file)
{
	struct ptr_slot *e;
	const char *f;

	if (!file)
		return ht_sym_intern(sym, "");
	e = &sym->files[ht_mix64((uintptr_t)file) % FILE_CACHE];
	if (e->key == file)
		return e->val;
	f = ht_sym_intern(sym, file);
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
int ht_sym_push_frame(struct ht_symbolizer *sym, const char *system_name, const char *plain,
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
	frames = ht_grow(sym->frames, &sym->capframes, sym->nframes + 1, sizeof(*frames));
	if (!frames)
		return -1;
	sym->frames = frames;
	sym->frames[sym->nframes++] = (struct sym_frame){ func, line > 0 ? (uint32_t)line : 0 };
	return 0;
}
