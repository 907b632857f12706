// Test subject for --hide: a program's own global operator new and new[]
// (as a program that replaces them, or links libstdc++ statically, has:
// the shim's operators never show in a stack), called from known callers.
// All of it is kept to the end, so the final snapshot holds it in use:
//   load_table   100 new[] of 1000 bytes   100000 bytes
//   make_nodes   300 new of a 64-byte Node  19200 bytes
#include <cstdio>
#include <cstdlib>
#include <new>

void *operator new(std::size_t n)
{
	void *p = std::malloc(n);

	if (!p)
		throw std::bad_alloc();
	return p;
}

void *operator new[](std::size_t n)
{
	void *p = std::malloc(n);

	if (!p)
		throw std::bad_alloc();
	return p;
}

void operator delete(void *p) noexcept
{
	std::free(p);
}

void operator delete[](void *p) noexcept
{
	std::free(p);
}

void operator delete(void *p, std::size_t) noexcept
{
	std::free(p);
}

void operator delete[](void *p, std::size_t) noexcept
{
	std::free(p);
}

struct Node {
	long v[8];
};

static char *table[100];
static Node *nodes[300];

__attribute__((noinline)) static void load_table()
{
	for (int i = 0; i < 100; i++)
		table[i] = new char[1000];
}

__attribute__((noinline)) static void make_nodes()
{
	for (int i = 0; i < 300; i++)
		nodes[i] = new Node();
}

int main()
{
	load_table();
	make_nodes();
	std::printf("%p %p\n", (void *)table[99], (void *)nodes[299]);
	return 0;
}
