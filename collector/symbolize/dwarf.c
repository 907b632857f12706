/* The DWARF walker: for each compilation unit an address meets, an index of
 * its functions and inlined calls by address (a faster dwarf_getscopes for
 * many addresses), and from it the frames of an address, innermost first.
 * Compressed DWARF too large to unpack is not read (dwarf_affordable). */
#include <dwarf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize/symbolize_int.h"

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

/* ht_sym_upper_bound searches both by lo */
_Static_assert(offsetof(struct fn_range, lo) == 0, "lo first");
_Static_assert(offsetof(struct unit_range, lo) == 0, "lo first");

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
		ranges = ht_grow(cu->ranges, &cu->capranges, cu->nranges + 1, sizeof(*ranges));
		if (!ranges)
			return -1;
		cu->ranges = ranges;
		cu->ranges[cu->nranges++] = (struct fn_range){ start, end, cu->nrecs, depth };
	}
	if (cu->nranges == first)
		return 0;
	if (cu->nrecs >= HT_NONE - 1)
		return -1;
	recs = ht_grow(cu->recs, &cu->caprecs, cu->nrecs + 1, sizeof(*recs));
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
	cu->cudie = *cudie;
	if (dwarf_cu_info(cudie->cu, NULL, &type, NULL, &split, NULL, NULL, NULL) == 0 &&
	    type == DW_UT_skeleton && split.addr)
		fns = &split;
	while ((off = dwarf_ranges(cudie, off, &base, &start, &end)) > 0) {
		struct fn_range *own = ht_grow(cu->own, &cu->capown, cu->nown + 1, sizeof(*own));

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
	size_t lo = ht_sym_upper_bound(cu->sorted, cu->nranges, sizeof(*cu->sorted), pc);
	uint32_t rec;

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

/* The index of the CU cudie of m, built on first use; NULL on OOM. */
static struct cu_index *cu_get(struct sym_module *m, Dwarf_Die *cudie)
{
	struct cu_index *cu = ht_ptrmap_get(&m->cus, cudie->cu);

	if (cu)
		return cu;
	cu = cu_build(cudie);
	if (cu && ht_ptrmap_put(&m->cus, cudie->cu, cu) != 0) {
		cu_free(cu);
		cu = NULL;
	}
	return cu;
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
			units = ht_grow(m->units, &cap, m->nunits + 1, sizeof(*units));
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
	size_t lo;

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
	lo = ht_sym_upper_bound(m->units, m->nunits, sizeof(*m->units), pc);
	if (!lo || pc >= m->units[lo - 1].hi)
		return 0;
	*out = cu_get(m, &m->units[lo - 1].cudie);
	return *out ? 0 : -1;
}

/* Frees the CU indexes of m: they are rebuilt if ever needed again, while
 * resolved addresses stay cached. */
void ht_sym_cu_drop_all(struct sym_module *m)
{
	for (size_t i = 0; i < m->cus.cap; i++)
		cu_free(m->cus.e[i].val);
	ht_ptrmap_free(&m->cus);
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
		if (!m->symtab_loaded && ht_sym_symtab_load(m) < 0)
			return -1;
		name = ht_sym_symtab_name(m, pc);
	}
	r->system_name = ht_sym_intern(sym, name ? name : "??");
	r->plain = plain ? ht_sym_intern(sym, plain) : NULL;
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
		    ht_sym_push_frame(sym, r->system_name, r->plain, file, line) < 0)
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
 * unpack to more than sym->dwarf_max bytes (unpacking costs time, and the
 * result is held while it is used); such a module is named from its
 * symbol table. The symbol table is looked up first, which
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

int ht_sym_dwarf_resolve(struct ht_symbolizer *sym, struct sym_module *m, uint64_t pc,
			 const char **file, int *line)
{
	Dwarf_Addr a, dwpc;
	struct cu_index *cu;
	Dwarf_Line *dl;

	if (sym->flags & HT_SYM_SYMTAB_ONLY)
		return 0;
	if (!m->dw_loaded) {
		if (dwarf_affordable(sym, m))
			m->dw = dwfl_module_getdwarf(m->mod, &m->dwbias);
		m->dw_loaded = 1;
	}
	if (!m->dw)
		return 0;
	a = pc + m->dwfl_bias;
	dwpc = a - m->dwbias;
	if (find_cu(m, a, dwpc, &cu) < 0)
		return -1;
	if (!cu)
		return 0;
	dl = dwarf_getsrc_die(&cu->cudie, dwpc);
	*file = dl ? dwarf_linesrc(dl, NULL, NULL) : NULL;
	if (!*file || dwarf_lineno(dl, line) != 0)
		*line = 0;
	return push_dwarf_frames(sym, m, cu, pc, dwpc, *file, *line);
}
