/* Which loaded object maps an address, and which of two was loaded first:
 * from the loader's list of objects and their segments (dl_iterate_phdr),
 * which answers in a few thousand instructions where dladdr, which looks
 * through every symbol of every object, took most of a traced start-up. */
#include <link.h>
#include <stdint.h>

#include "internal.h"

struct object_of {
	uintptr_t addr, id;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct object_of *o = arg;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && o->addr >= lo && o->addr - lo < ph->p_memsz) {
			o->id = (uintptr_t)info->dlpi_phdr;
			return 1;
		}
	}
	return 0;
}

struct order {
	uintptr_t a, b;
	int first; /* 1: a's object first, 2: b's, 3: the same one */
};

static int find_first(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct order *o = arg;
	struct object_of x = { o->a, 0 }, y = { o->b, 0 };

	find_object(info, size, &x);
	find_object(info, size, &y);
	o->first = (x.id ? 1 : 0) | (y.id ? 2 : 0);
	return o->first != 0;
}

int ht_objects_before(const void *a, const void *b)
{
	struct order o = { (uintptr_t)a, (uintptr_t)b, 0 };

	dl_iterate_phdr(find_first, &o);
	return o.first == 1 ? 1 : o.first == 2 ? 0 : -1;
}

uintptr_t ht_objects_which(const void *addr)
{
	struct object_of o = { (uintptr_t)addr, 0 };

	dl_iterate_phdr(find_object, &o);
	return o.id;
}
