/* Dynamic symbols of an ELF file: where a function of the C library or of
 * the shim is, relative to the file's load address. Reads the file, not
 * the process: nothing in the traced process is trusted or needed. */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/attach.h"

/* Is [off, off + n) inside the file's size? */
static int inside(size_t size, uint64_t off, uint64_t n)
{
	return off <= size && n <= size - off;
}

/* The first PT_LOAD's address. 0, or -1. */
static int first_load(const unsigned char *f, size_t size, uint64_t *vaddr)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
	int i;

	if (!inside(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return -1;
	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(f + eh->e_phoff) + i;

		if (ph->p_type == PT_LOAD) {
			*vaddr = ph->p_vaddr & ~(uint64_t)0xfff;
			return 0;
		}
	}
	return -1;
}

/* Looks name up in the file's .dynsym (sh: its section header). */
static int lookup(const unsigned char *f, size_t size, const Elf64_Shdr *sh, const char *name,
		  uint64_t *value, uint64_t *sz)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
	const Elf64_Shdr *shs = (const Elf64_Shdr *)(f + eh->e_shoff), *str, *ver = NULL;
	const Elf64_Sym *sym;
	size_t n, i;
	int found = 0, k;

	if (sh->sh_link >= eh->e_shnum)
		return -1;
	str = &shs[sh->sh_link];
	if (!inside(size, sh->sh_offset, sh->sh_size) || !inside(size, str->sh_offset, str->sh_size))
		return -1;
	for (k = 0; k < eh->e_shnum; k++)
		if (shs[k].sh_type == SHT_GNU_versym && inside(size, shs[k].sh_offset, shs[k].sh_size))
			ver = &shs[k];
	sym = (const Elf64_Sym *)(f + sh->sh_offset);
	n = sh->sh_size / sizeof(*sym);
	for (i = 1; i < n; i++) {
		const char *s = (const char *)f + str->sh_offset + sym[i].st_name;
		size_t room = str->sh_size - sym[i].st_name;

		if (sym[i].st_name >= str->sh_size || sym[i].st_shndx == SHN_UNDEF ||
		    strnlen(s, room) == room || strcmp(s, name) != 0)
			continue;
		/* a hidden (non-default) version is taken only if nothing else is */
		if (ver && ver->sh_size >= (i + 1) * 2 &&
		    (((const uint16_t *)(f + ver->sh_offset))[i] & 0x8000) && found)
			continue;
		*value = sym[i].st_value;
		*sz = sym[i].st_size;
		found = 1;
		if (!ver || ver->sh_size < (i + 1) * 2 ||
		    !(((const uint16_t *)(f + ver->sh_offset))[i] & 0x8000))
			break;
	}
	return found ? 0 : -1;
}

int ht_elf_symbol(const char *path, const char *name, uint64_t *value, uint64_t *size,
		  uint64_t *first_vaddr)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1, i;
	const unsigned char *f;
	const Elf64_Ehdr *eh;
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -1;
	}
	f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		return -1;
	eh = (const Elf64_Ehdr *)f;
	if (memcmp(f, ELFMAG, SELFMAG) == 0 && f[EI_CLASS] == ELFCLASS64 &&
	    eh->e_shentsize == sizeof(Elf64_Shdr) &&
	    inside((size_t)st.st_size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) &&
	    first_load(f, (size_t)st.st_size, first_vaddr) == 0) {
		const Elf64_Shdr *shs = (const Elf64_Shdr *)(f + eh->e_shoff);

		for (i = 0; i < eh->e_shnum && rc != 0; i++)
			if (shs[i].sh_type == SHT_DYNSYM)
				rc = lookup(f, (size_t)st.st_size, &shs[i], name, value, size);
	}
	munmap((void *)f, (size_t)st.st_size);
	return rc;
}
