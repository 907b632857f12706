/* The symbolizer (see symbolize.h): a cache from (module file, file
 * address) to resolved frames, which lives as long as the symbolizer so
 * that each distinct address is resolved once, and the public API, which
 * copies cached answers into snapshots. The frames come from dwarf.c and
 * symtab.c, the files from debugfile.c, the names from names.c. */
#include "symbolize/symbolize.h"

#include <dlfcn.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "symbolize/symbolize_int.h"

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
	mods = ht_grow(sym->mods, &sym->capmods, sym->nmods + 1, sizeof(*mods));
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

	for (size_t i = ht_mix64(addr) & mask;; i = (i + 1) & mask)
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

/* Resolves file address pc (already the call site) of m into new frames at
 * the end of sym->frames: from its DWARF, else its symbol table. Returns
 * how many (0: nothing known), -1 on OOM. */
static int resolve(struct ht_symbolizer *sym, struct sym_module *m, uint64_t pc)
{
	const char *file = NULL, *name;
	int line = 0, n = ht_sym_dwarf_resolve(sym, m, pc, &file, &line);

	if (n != 0)
		return n;
	if (!m->symtab_loaded && ht_sym_symtab_load(m) < 0)
		return -1;
	name = ht_sym_symtab_name(m, pc);
	if (!name)
		return 0;
	name = ht_sym_intern(sym, name);
	if (!name)
		return -1;
	return ht_sym_push_frame(sym, name, NULL, file, line) < 0 ? -1 : 1;
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
	ht_sym_cu_drop_all(m);
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
	ht_strtab_free(&sym->strs);
	ht_ptrmap_free(&sym->dem);
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
		name = ht_sym_str_find(sym, f->name);
		system_name = ht_sym_str_find(sym, f->system_name);
		file = ht_sym_str_find(sym, f->file);
		if (!name || !system_name || !file)
			continue;
		id = ht_sym_func_find(sym, name, system_name, file);
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
			ht_sym_module_open(m);
		if (m->state != MOD_OPEN)
			continue;
		if (lookup(sym, m, loc->address - x->bias, &res[i]) < 0)
			goto out;
		found |= res[i].n != 0;
	}
	ret = found ? emit(sym, s, res) : 0;
out:
	for (size_t i = 0; i < sym->nmods; i++)
		ht_sym_cu_drop_all(&sym->mods[i]);
	free(res);
	free(modmap);
	return ret;
}

