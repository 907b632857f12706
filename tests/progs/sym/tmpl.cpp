// Test subject for t_symbols.sh, built -O2 -g: allocations through `new` in a
// member of a class template (two instances) and through malloc in an
// always-inline function inlined into its caller. The comments "// @name"
// mark the allocating statements and call sites the test looks up. And
// strings, whose bytes libstdc++'s own code allocates (frames named by its
// symbol table alone).
// Usage: tmpl N  (N blocks from each site, all kept)
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

// Sizes read at run time, so the compiler makes no specialised clones.
static volatile std::size_t scale = 1;

template <typename T> class Pool {
public:
	__attribute__((noinline)) void grow(std::size_t n)
	{
		T *block = new T[n]; // @pool-new
		std::memset(static_cast<void *>(block), 0, n * sizeof(T));
		blocks_[count_++ % 64] = block;
	}

private:
	T *blocks_[64] = {};
	std::size_t count_ = 0;
};

namespace util {
inline __attribute__((always_inline)) char *make_buf(std::size_t n)
{
	char *p = static_cast<char *>(std::malloc(n)); // @make-buf-malloc
	if (!p)
		std::abort();
	p[0] = 'x';
	return p;
}
} // namespace util

static char *kept[64];

__attribute__((noinline)) void fill(std::size_t n, int i)
{
	kept[i % 64] = util::make_buf(n); // @fill-call
	kept[i % 64][1] = 'y';
}

int main(int argc, char **argv)
{
	static Pool<int> ints;
	static Pool<double> doubles;
	int n = argc > 1 ? std::atoi(argv[1]) : 10;
	std::string *names = new std::string[64]; // kept: never destroyed

	for (int i = 0; i < n; i++) {
		ints.grow(25 * scale); // @main-ints: 100 bytes
		doubles.grow(24 * scale); // @main-doubles: 192 bytes
		fill(300 * scale, i); // @main-fill: 300 bytes
		names[i % 64].assign(500 * scale, 'z');
	}
	std::printf("done %d\n", n);
	return 0;
}
