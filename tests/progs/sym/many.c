/* Test subject for t_symbols.sh and for scripts/bench's snapshot timing:
 * 48^3 = 110592 distinct allocation stacks main -> top_A -> mid_B -> leaf_C
 * -> malloc, each call from a call site of its own (about 4700 distinct
 * return addresses), like a large program.
 * Allocates (and frees) one block per stack, prints "ready PID STACKS",
 * then waits for a line on stdin so it can be dumped: "again" makes it do
 * all that once more (scripts/bench diffs the two rounds), any other line
 * or the end of input makes it exit. Build with
 * -fno-optimize-sibling-calls so every call stays a call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* X48(M) and Y48(M) expand to M(10) .. M(17) M(20) .. M(67); two copies, as
 * the preprocessor does not expand a macro inside its own expansion. */
#define X8(M, b) M(b##0) M(b##1) M(b##2) M(b##3) M(b##4) M(b##5) M(b##6) M(b##7)
#define X48(M) X8(M, 1) X8(M, 2) X8(M, 3) X8(M, 4) X8(M, 5) X8(M, 6)
#define Y8(M, b) M(b##0) M(b##1) M(b##2) M(b##3) M(b##4) M(b##5) M(b##6) M(b##7)
#define Y48(M) Y8(M, 1) Y8(M, 2) Y8(M, 3) Y8(M, 4) Y8(M, 5) Y8(M, 6)
#define N 48

#define NOINLINE __attribute__((noinline, noclone))

static volatile unsigned sink;
static void *volatile last; /* keeps the compiler from eliding malloc+free */

static NOINLINE void done(void)
{
	sink++;
}

#define LEAF(j) static NOINLINE void leaf_##j(void) \
{ \
	last = malloc(j); \
	free(last); \
	done(); \
}
X48(LEAF)

/* case numbers: 10..17 -> 0..7, 20..27 -> 8..15, ... */
#define CASE(j) case (j / 10 - 1) * 8 + j % 10
#define CALL_LEAF(j) CASE(j): leaf_##j(); break;
#define MID(j) static NOINLINE void mid_##j(unsigned c) \
{ \
	switch (c % N) { Y48(CALL_LEAF) } \
	done(); \
}
X48(MID)

#define CALL_MID(j) CASE(j): mid_##j(c); break;
#define TOP(j) static NOINLINE void top_##j(unsigned c) \
{ \
	switch ((c / N) % N) { Y48(CALL_MID) } \
	done(); \
}
X48(TOP)

#define CALL_TOP(j) CASE(j): top_##j(c); break;
static NOINLINE void one(unsigned c)
{
	switch (c / (N * N)) { X48(CALL_TOP) }
	done();
}

int main(void)
{
	char line[64];

	do {
		for (unsigned c = 0; c < N * N * N; c++)
			one(c);
		printf("ready %d %d\n", (int)getpid(), N * N * N);
		fflush(stdout);
	} while (fgets(line, sizeof(line), stdin) && strcmp(line, "again\n") == 0);
	return 0;
}
