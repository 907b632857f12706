/* The symbolizer: turns the return addresses of a snapshot into functions and
 * source lines (inlined calls as frames of their own, C++ names demangled),
 * reading the module files with elfutils libdwfl, and remembers every answer
 * per module file and file address across snapshots. */
#ifndef HT_SYMBOLIZE_H
#define HT_SYMBOLIZE_H

#include "snapshot/snapshot.h"

struct ht_symbolizer;

/* ht_symbolizer_new_flags flags */
#define HT_SYM_SYMTAB_ONLY 0x1u /* ignore DWARF: symbol table names only, no file:line */

/* New symbolizer with an empty cache; NULL on OOM. A symbolizer is used by one
 * thread at a time. It keeps the module files it has read open until freed (or
 * trimmed, see ht_symbolizer_trim). */
struct ht_symbolizer *ht_symbolizer_new(void);

/* Same, with HT_SYM_* flags (0 is ht_symbolizer_new). */
struct ht_symbolizer *ht_symbolizer_new_flags(unsigned flags);

/* Modules whose DWARF is compressed and would unpack to more than bytes are
 * named from their symbol tables only (no file:line, no inlined frames); the
 * default is no limit. Uncompressed DWARF is read in place, pages as needed,
 * and always used. */
void ht_symbolizer_set_dwarf_max(struct ht_symbolizer *sym, uint64_t bytes);

/* Frees the symbolizer, its cache and the module files it holds. NULL is fine. */
void ht_symbolizer_free(struct ht_symbolizer *sym);

/* Resolves every location of s that has nlines == 0: looks the address up
 * in s->modules[loc->module] (return address: look up at address - 1 so the
 * line is the call site), and appends functions and lines to s, setting
 * loc->first_line/nlines (innermost first: an inlined callee's line, then its
 * caller's, ...). Locations with module == HT_NONE, or in a module that cannot
 * be read, stay at nlines == 0 (reports then print module+0xoffset or the
 * address). Functions are deduplicated within s (same name+system_name+file ->
 * same index). Results are cached per (module path, build id, file offset) so
 * a long-running collector resolves each distinct address once, across
 * snapshots.
 *
 * A module is read from its path, else (file gone, or its build id differs
 * from the module's) from the separate debug file named by the build id, if
 * installed. Separate debug info is found by build id (ROOT/.build-id/xx/
 * yyyy.debug) or by .gnu_debuglink (next to the file, in .debug/ beside it,
 * or ROOT/<the file's directory>/), where the roots are the absolute
 * directories listed in the environment variable HEAPTRACE_DEBUGINFO_PATH
 * (colon-separated, searched first; read at each search), then
 * /usr/lib/debug. A debug file is used only if it has the module's build
 * id (when the module has one; the debuglink CRC is not checked).
 * debuginfod servers are asked only if DEBUGINFOD_URLS is set. Each module
 * file is opened once per symbolizer and kept mapped (no descriptor held);
 * its debug file, if any, stays open.
 *
 * For each frame: system_name is the DWARF linkage name, else DW_AT_name,
 * else the symbol table name; name is system_name without a symbol version
 * and demangled (__cxa_demangle from libstdc++, loaded at run time), else
 * DW_AT_name (glibc's __GI_getenv shows as getenv), else system_name; file is
 * the source path as the debug info records it, "" without debug info (then
 * line is 0). The innermost line comes from the line table, each caller's from
 * the inlined call's DW_AT_call_file/DW_AT_call_line.
 * Returns 0, or -1 only on out-of-memory (s may then hold some of the new
 * functions and lines; locations already set stay valid). */
int ht_symbolize(struct ht_symbolizer *sym, struct ht_snapshot *s);

/* Closes the module files sym holds and frees the debug information read
 * from them (for a large library with compressed separate debug info, such
 * as libc with libc6-dbg installed, some 20 MB), keeping every resolved
 * address: a later ht_symbolize reopens a module only when it meets an
 * address of it not resolved before. NULL is fine. */
void ht_symbolizer_trim(struct ht_symbolizer *sym);

/* Demangles an Itanium C++ ABI name ("_ZN2ht4demo6crunchEi" ->
 * "ht::demo::crunch(int)"). Returns a malloc'd string the caller frees, or NULL
 * if name is not mangled, cannot be demangled, or no demangler is available. */
char *ht_symbolizer_demangle(struct ht_symbolizer *sym, const char *name);

#endif
