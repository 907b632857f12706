/* Internals shared by the symbolizer's files (symbolize.c, names.c,
 * symtab.c, dwarf.c, debugfile.c): the symbolizer's state and each module
 * file's, and the functions one file calls in another. Not an API: the
 * tools use symbolize.h only. Grouped by the file that defines each
 * function. */
#ifndef HT_SYMBOLIZE_INT_H
#define HT_SYMBOLIZE_INT_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/symbolize.h"
#include "lib/hash.h"
#include "lib/ptrmap.h"
#include "lib/strtab.h"
#include "lib/util.h"

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

struct cu_index;   /* dwarf.c */
struct unit_range; /* dwarf.c */

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
	struct ht_ptrmap cus;    /* libdw's unit -> its struct cu_index */
	struct unit_range *units; /* sorted by address; loaded if needed */
	size_t nunits;
	int units_loaded;
	struct sym_entry *syms;  /* sorted by address */
	size_t nsyms;
	int symtab_loaded;
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

	struct ht_strtab strs; /* interned strings */

	struct ht_ptrmap dem;  /* interned system name -> interned display name */
	struct ptr_slot files[FILE_CACHE]; /* libdw's file name -> interned */

	int demangler_loaded;
	void *libstdcxx;
	cxa_demangle_fn cxa_demangle;
};

/* How many of the n elements at base, stride bytes apart and sorted by
 * the uint64_t each starts with (an address range's lo), start at or
 * before pc: 1 + the index of the last one that does, 0 if none. */
static inline size_t ht_sym_upper_bound(const void *base, size_t n, size_t stride, uint64_t pc)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t start;

		memcpy(&start, (const char *)base + mid * stride, sizeof(start));
		if (start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- names.c ---- */

/* The interned copy of str, made if needed; NULL on OOM. */
const char *ht_sym_intern(struct ht_symbolizer *sym, const char *str);

/* The interned copy of str, or NULL if it was never interned. */
const char *ht_sym_str_find(const struct ht_symbolizer *sym, const char *str);

/* Index of the function with these interned strings, or HT_NONE if none. */
uint32_t ht_sym_func_find(const struct ht_symbolizer *sym, const char *name,
			  const char *system_name, const char *file);

/* Appends a frame to sym->frames for the function with (interned) symbol
 * name system_name and source name plain (may be NULL) at file:line (file
 * as libdw keeps it, or NULL). Returns 0, or -1 on OOM. */
int ht_sym_push_frame(struct ht_symbolizer *sym, const char *system_name, const char *plain,
		      const char *file, int line);

/* ---- symtab.c ---- */

/* A code symbol; name points into the module's ELF data. */
struct sym_entry {
	uint64_t lo, size;
	const char *name;
	unsigned rank; /* at one address, the lowest rank names it */
};

/* Sorts the n symbols of e by address, and those at one address by rank,
 * each pair that ties in the order it came (as glibc's qsort, a merge
 * sort, left it). */
void ht_sym_sort(struct sym_entry *e, size_t n);

/* Reads m's code symbols, sorted by address, once. Returns 0, or -1 on OOM. */
int ht_sym_symtab_load(struct sym_module *m);

/* The symbol naming file address pc of m, or NULL. */
const char *ht_sym_symtab_name(struct sym_module *m, uint64_t pc);

/* ---- dwarf.c ---- */

/* Pushes the frames of file address pc (already the call site) of m from
 * its DWARF, if it has some that may be read (see ht_symbolizer_set_dwarf_max):
 * the innermost function at its line, then each inlined call's caller.
 * Returns how many (0: no function covers pc; *file and *line are then the
 * line table's answer, if any), or -1 on OOM. */
int ht_sym_dwarf_resolve(struct ht_symbolizer *sym, struct sym_module *m, uint64_t pc,
			 const char **file, int *line);

/* Frees the CU indexes of m: they are rebuilt if ever needed again, while
 * resolved addresses stay cached. */
void ht_sym_cu_drop_all(struct sym_module *m);

/* ---- debugfile.c ---- */

/* Opens m once (m->state becomes MOD_OPEN or MOD_UNREADABLE): its own
 * file, else the debug file named by its build id under the debug roots
 * (HEAPTRACE_DEBUGINFO_PATH, then /usr/lib/debug). */
void ht_sym_module_open(struct sym_module *m);

#endif
