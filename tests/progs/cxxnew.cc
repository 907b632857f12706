// Test subject: every C++ operator new and delete, a known number of times.
//   cxxnew N      N rounds of 22 allocations and 22 deletes: each of the
//                 eight operators new, each of the twelve deletes, and a
//                 new expression in make_widget (its stack's leaf)
//   cxxnew huge   a new too big to succeed: bad_alloc, the new-handler
//                 called once, nothrow new gives NULL
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

struct Widget {
	long a[4];
};

static volatile size_t sink;

__attribute__((noinline)) static Widget *make_widget()
{
	return new Widget();
}

__attribute__((noinline)) static void round_once()
{
	const std::align_val_t al{ 64 };
	void *p;

	p = operator new(24);
	operator delete(p);
	p = operator new(24);
	operator delete(p, 24);
	p = operator new[](40);
	operator delete[](p);
	p = operator new[](40);
	operator delete[](p, 40);
	p = operator new(24, std::nothrow);
	operator delete(p, std::nothrow);
	p = operator new[](24, std::nothrow);
	operator delete[](p, std::nothrow);
	p = operator new(24, al);
	if ((size_t)p % 64)
		abort();
	operator delete(p, al);
	p = operator new(24, al);
	operator delete(p, 24, al);
	p = operator new[](24, al);
	operator delete[](p, al);
	p = operator new[](24, al);
	operator delete[](p, 24, al);
	p = operator new(24, al, std::nothrow);
	operator delete(p, al, std::nothrow);
	p = operator new[](24, al, std::nothrow);
	operator delete[](p, al, std::nothrow);
	// the same through expressions: sized deletes (C++14)
	Widget *w = make_widget();
	sink = sink + (size_t)w->a[0];
	delete w;
	Widget *v = new Widget[3];
	delete[] v;
	struct alignas(128) Big {
		char c[200];
	};
	Big *b = new Big;
	if ((size_t)b % 128)
		abort();
	delete b;
	Big *bs = new Big[2];
	delete[] bs;
	// and mixed: what new gave, free-style deletes take
	p = operator new(100);
	std::memset(p, 1, 100);
	operator delete(p, 100);
	for (int i = 0; i < 5; i++)
		delete new int(i);
}

static int handler_calls;

static void handler()
{
	handler_calls++;
	std::set_new_handler(nullptr); // the next failure throws
}

int main(int argc, char **argv)
{
	if (argc == 2 && !std::strcmp(argv[1], "huge")) {
		volatile size_t huge = (size_t)1 << 62;

		std::set_new_handler(handler);
		try {
			char *c = new char[huge];
			std::printf("new of 2^62 bytes succeeded %p\n", (void *)c);
		} catch (const std::bad_alloc &) {
			std::printf("bad_alloc, new-handler called %d times\n", handler_calls);
		}
		std::printf("nothrow: %s\n", operator new(huge, std::nothrow) ? "a block" : "NULL");
		std::printf("aligned nothrow: %s\n",
			    operator new(huge, std::align_val_t{ 64 }, std::nothrow) ? "a block" : "NULL");
		return 0;
	}
	long n = argc > 1 ? std::atol(argv[1]) : 1000;

	for (long i = 0; i < n; i++)
		round_once();
	return 0;
}
