/* The symbol table of a module, sorted once by address: the names of
 * functions without debug info, and of those whose debug info names none. */
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>

#include "symbolize/symbolize_int.h"

_Static_assert(offsetof(struct sym_entry, lo) == 0, "ht_sym_upper_bound searches by lo");

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

/* A symbol's place in the order: its address above its rank, and where
 * it was. */
struct sym_key {
	uint64_t key;
	size_t at;
};

#define RANK_BITS 4

/* A radix sort, a byte of the key at a time from the lowest, skipping
 * the bytes every key shares: libc's table of 6,840 code symbols took
 * 5.6 M instructions in qsort, a third of a collector's start. Stable, so
 * the order of ties is qsort's (glibc's is a merge sort). qsort where a
 * key does not fit or memory is short. */
void ht_sym_sort(struct sym_entry *e, size_t n)
{
	struct sym_key *k, *tmp;
	struct sym_entry *out;
	uint64_t any = 0, all = ~(uint64_t)0;
	size_t i;

	if (n < 2)
		return;
	k = malloc(n * sizeof(*k));
	tmp = malloc(n * sizeof(*tmp));
	out = malloc(n * sizeof(*out));
	for (i = 0; k && i < n; i++) {
		if (e[i].lo >> (64 - RANK_BITS) || e[i].rank >> RANK_BITS)
			break;
		k[i] = (struct sym_key){ e[i].lo << RANK_BITS | e[i].rank, i };
		any |= k[i].key;
		all &= k[i].key;
	}
	if (!k || !tmp || !out || i < n) {
		free(k);
		free(tmp);
		free(out);
		qsort(e, n, sizeof(*e), sym_cmp);
		return;
	}
	for (int shift = 0; shift < 64; shift += 8) {
		size_t count[256] = { 0 }, sum = 0;
		struct sym_key *swap;

		if (!((any ^ all) >> shift & 0xff))
			continue; /* every key has this byte */
		for (i = 0; i < n; i++)
			count[k[i].key >> shift & 0xff]++;
		for (int b = 0; b < 256; b++) {
			size_t c = count[b];

			count[b] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			tmp[count[k[i].key >> shift & 0xff]++] = k[i];
		swap = k;
		k = tmp;
		tmp = swap;
	}
	for (i = 0; i < n; i++)
		out[i] = e[k[i].at];
	memcpy(e, out, n * sizeof(*e));
	free(k);
	free(tmp);
	free(out);
}

/* Reads the code symbols of m (.symtab, else .dynsym, possibly from the debug
 * file) into an array sorted by address, one name per address; -1 on OOM.
 * libdwfl's own address lookup scans every symbol, too slow here. */
int ht_sym_symtab_load(struct sym_module *m)
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
		syms = ht_grow(m->syms, &cap, k + 1, sizeof(*syms));
		if (!syms)
			return -1;
		m->syms = syms;
		m->syms[k++] = (struct sym_entry){ addr - m->dwfl_bias, s.st_size, name,
						   sym_rank(&s) };
	}
	if (k)
		ht_sym_sort(m->syms, k);
	m->nsyms = 0;
	for (size_t i = 0; i < k; i++)
		if (!m->nsyms || m->syms[m->nsyms - 1].lo != m->syms[i].lo)
			m->syms[m->nsyms++] = m->syms[i];
	return 0;
}

/* The symbol naming pc: the nearest one before it whose size covers it
 * (a few back, for symbols nested in others), else the nearest sizeless one. */
const char *ht_sym_symtab_name(struct sym_module *m, uint64_t pc)
{
	size_t lo = ht_sym_upper_bound(m->syms, m->nsyms, sizeof(*m->syms), pc);

	for (size_t j = lo; j > 0 && j + 16 > lo; j--) {
		const struct sym_entry *e = &m->syms[j - 1];

		if (e->size && pc - e->lo < e->size)
			return e->name;
	}
	return lo && !m->syms[lo - 1].size ? m->syms[lo - 1].name : NULL;
}
