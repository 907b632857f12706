#!/usr/bin/env bash
# The shim never hurts the program and never loses a sample, over glibc,
# jemalloc and tcmalloc: a property test of every allocation entry point
# (tests/progs/allocprop.c), C++ new and delete counted once each, and
# sampled blocks that outgrow the arena's first reservation.
. "$(dirname "$0")/lib.sh"

libdir=/usr/lib/x86_64-linux-gnu
je=$libdir/libjemalloc.so.2
tc=$libdir/libtcmalloc_minimal.so.4
# preload UNDER: LD_PRELOAD for the shim over glibc, jemalloc or tcmalloc
preload() {
	case $1 in
	glibc) echo "$lib" ;;
	jemalloc) echo "$lib:$je" ;;
	tcmalloc) echo "$lib:$tc" ;;
	esac
}
for a in "$je" "$tc"; do
	[ -e "$a" ] || { fail "missing $a (scripts/deps.sh installs it)"; }
done

# --- every entry point, every size and alignment ------------------------------
# A fixed seed, so that a failure repeats, and two random ones, printed, so
# that each run tries new cases: `allocprop SEED OPS` under the same
# LD_PRELOAD and HEAPTRACE_RATE repeats one.
seeds="1 $((RANDOM * 32768 + RANDOM)) $((RANDOM * 32768 + RANDOM))"
echo "# allocprop seeds: $seeds"
for under in glibc jemalloc tcmalloc; do
	pre=$(preload "$under")
	for rate in 1 default; do
		for seed in $seeds; do
			r=$rate
			[ "$rate" = default ] && r=
			out=$(env ${r:+HEAPTRACE_RATE=$r} LD_PRELOAD="$pre" "$progs/allocprop" "$seed" 6000 2>&1)
			check $? "allocprop over $under, rate $rate, seed $seed"
			case $out in *"every check held"*) ;; *) echo "$out" | sed 's/^/#   /' ;; esac
		done
	done
done
# the report's case, as it was written
cat >zero.c <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
	void *v = aligned_alloc(64, 0), *b = malloc(40), *c;

	free(v);
	c = malloc(40);
	printf("%s\n", c == b ? "the neighbour was freed" : "ok");
	return 0;
}
C
cc -o zero zero.c
is "$(HEAPTRACE_RATE=1 LD_PRELOAD="$lib" ./zero)" ok "rate 1: freeing aligned_alloc(64, 0) leaves its neighbour alone"

# --- C++ new and delete, counted once under every allocator -------------------
# jemalloc and tcmalloc define operator new and delete themselves: unwrapped,
# new never reached malloc and nothing was counted. cxxnew N makes 22
# allocations and 22 deletes a round, through each operator.
calls() { # FILE: alloc, free and realloc calls and live objects, from --stats
	"$report" --stats "$1" | awk '/^  (alloc|free|realloc) calls|^  live objects/ { printf "%s ", $NF }'
}
glibc_base=
for under in glibc jemalloc tcmalloc; do
	pre=$(preload "$under")
	HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=base.$under.heap LD_PRELOAD="$pre" "$progs/cxxnew" 0
	HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=cxx.$under.heap LD_PRELOAD="$pre" "$progs/cxxnew" 1000
	check $? "cxxnew runs over $under"
	read -r a0 f0 r0 l0 <<<"$(calls base.$under.heap)"
	read -r a1 f1 r1 l1 <<<"$(calls cxx.$under.heap)"
	is "$((a1 - a0)) $((f1 - f0)) $((l1 - l0))" "22000 22000 0" \
		"over $under, rate 1: 1000 rounds add exactly 22000 allocations, 22000 frees, 0 live"
	# what an allocator's own constructor allocates, before the shim's
	# (tcmalloc keeps 2 blocks), is counted too, and nothing else differs
	[ -n "$glibc_base" ] || glibc_base="$a0 $f0 $r0 $l0"
	read -r ga gf gr gl <<<"$glibc_base"
	da=$((a0 - ga))
	is "$((f0 - gf)) $((r0 - gr)) $((l0 - gl - da))" "0 0 0" \
		"over $under: beyond glibc's calls, only the $da blocks its constructor keeps"
	[ "$da" -ge 0 ] && [ "$da" -le 16 ]
	check $? "over $under: its constructor's blocks are few ($da)"
	is "$(value cxx.$under.heap make_widget alloc_objects)" 1000 \
		"over $under: a new expression's stack ends in its caller, make_widget"
	is "$(value cxx.$under.heap round_once alloc_objects)" 21000 \
		"over $under: the operators called directly are round_once's"
	"$progs/cxxnew" huge >huge.u 2>&1
	LD_PRELOAD="$pre" "$progs/cxxnew" huge >huge.t 2>&1
	is "$(cat huge.t)" "$(cat huge.u)" "over $under: a new too big throws bad_alloc after the new-handler, as untraced"
done

# A library's own operator new (a pool, here) stays the program's: the
# shim passes new and delete on to it, as if it did not define them.
cat >pool.cc <<'CC'
#include <cstddef>
#include <cstdlib>
#include <new>
static char pool[1 << 20] alignas(16);
static std::size_t used;
long pool_news, pool_deletes;
void *operator new(std::size_t n)
{
	pool_news++;
	if (used + n + 16 > sizeof(pool))
		throw std::bad_alloc();
	void *p = pool + used;
	used += (n + 15) / 16 * 16;
	return p;
}
void operator delete(void *p) noexcept
{
	if (!p)
		return;
	if ((char *)p < pool || (char *)p >= pool + sizeof(pool))
		std::abort(); /* not the pool's: someone else's new made it */
	pool_deletes++;
}
void operator delete(void *p, std::size_t) noexcept
{
	operator delete(p);
}
CC
cat >poolmain.cc <<'CC'
#include <cstdio>
extern long pool_news, pool_deletes;
int main()
{
	for (int i = 0; i < 1000; i++)
		delete new int(i);
	std::printf("pool: %ld news, %ld deletes\n", pool_news, pool_deletes);
	return 0;
}
CC
g++ -O0 -shared -fPIC -o libpool.so pool.cc && g++ -O0 -o poolmain poolmain.cc -L. -lpool -Wl,-rpath,"$PWD"
check $? "a program whose library defines operator new builds"
same pool HEAPTRACE_RATE=1 -- ./poolmain

# --- calls made before the shim's own constructor ----------------------------
# The libraries a program links are set up before the preloaded shim (the
# loader runs a library's constructors after those of the libraries it
# does not depend on): their constructors allocate first (clang's libLLVM
# made thousands of blocks so, and freed 2,241 of them at its exit). Those
# calls are counted, as the frees of their blocks are: the live count
# stays allocs - frees of the blocks that are live.
cat >ctorlib.c <<'C'
#include <stdlib.h>
#include <string.h>
static char **kept;
static long n, lost;
/* per block: a malloc grown by realloc, its bytes kept, and a calloc
 * freed at once */
__attribute__((constructor)) static void make(void)
{
	const char *s = getenv("CTOR_BLOCKS");

	n = s ? atol(s) : 0;
	kept = malloc((size_t)(n + 1) * sizeof(char *));
	for (long i = 0; i < n; i++) {
		char *p = malloc(16), *q = calloc(1, 24);

		memset(p, 'a' + (int)(i % 26), 16);
		kept[i] = realloc(p, 64 + (size_t)i);
		for (int j = 0; j < 16; j++)
			lost += kept[i][j] != 'a' + (int)(i % 26);
		__asm__ volatile("" : : "r"(q) : "memory"); /* kept: not optimised away */
		free(q);
	}
}
/* frees the blocks; returns the bytes the reallocs lost */
long ctorlib_release(void)
{
	for (long i = 0; i < n; i++)
		free(kept[i]);
	free(kept);
	return lost;
}
C
cat >ctormain.c <<'C'
#include <stdio.h>
#include <stdlib.h>
long ctorlib_release(void);
int main(void)
{
	static void *mine[50];
	long lost;

	for (int i = 0; i < 50; i++)
		mine[i] = malloc(100);
	lost = ctorlib_release();
	printf("kept %s, %ld bytes lost\n", mine[49] ? "50" : "none", lost);
	return 0;
}
C
cc -O1 -shared -fPIC -o libctorlib.so ctorlib.c && cc -O1 -o ctormain ctormain.c -L. -lctorlib -Wl,-rpath,"$PWD"
check $? "a program whose library allocates in its constructor builds"
for rate in 1 default; do
	r=$rate
	[ "$rate" = default ] && r=
	CTOR_BLOCKS=0 env ${r:+HEAPTRACE_RATE=$r} HEAPTRACE_OUTPUT=ctor0.$rate.heap LD_PRELOAD="$lib" ./ctormain >/dev/null
	CTOR_BLOCKS=400 env ${r:+HEAPTRACE_RATE=$r} HEAPTRACE_OUTPUT=ctor1.$rate.heap LD_PRELOAD="$lib" ./ctormain >ctor1.out
	is "$? $(cat ctor1.out)" "0 kept 50, 0 bytes lost" "ctormain runs at rate $rate, and its constructor's reallocs keep their bytes"
	read -r a0 f0 r0 l0 <<<"$(calls ctor0.$rate.heap)"
	read -r a1 f1 r1 l1 <<<"$(calls ctor1.$rate.heap)"
	is "$((a1 - a0)) $((f1 - f0)) $((r1 - r0)) $((l1 - l0))" "1200 1200 400 0" \
		"rate $rate: 400 blocks a library's constructor made before the shim's and main freed: counted (allocs, frees, reallocs), 0 live more"
	[ "$l1" -ge 50 ]
	check $? "rate $rate: the live count ($l1) holds main's 50 blocks"
done
# over another allocator, whose constructor runs before the shim's too,
# and whose malloc_usable_size knew nothing of its blocks then (tcmalloc's
# said 0: a realloc the shim made as malloc, copy and free lost them)
for under in jemalloc tcmalloc; do
	CTOR_BLOCKS=400 HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=ctor.$under.heap LD_PRELOAD="$(preload "$under")" \
		./ctormain >ctor.$under.out
	is "$? $(cat ctor.$under.out)" "0 kept 50, 0 bytes lost" "over $under: the constructor's reallocs keep their bytes"
	read -r a1 f1 r1 l1 <<<"$(calls ctor.$under.heap)"
	[ "$r1" -ge 400 ] && [ "$l1" -ge 50 ]
	check $? "over $under: the constructor's reallocs are counted ($r1), and main's 50 blocks live ($l1)"
done
live=$(stat_line ctor1.1.heap "live objects (exact)")
inuse=$(total ctor1.1.heap inuse_objects)
d=$((live - inuse))
[ "$inuse" -ge 50 ] && [ "${d#-}" -le 16 ]
check $? "rate 1: the live count ($live) is the in-use objects ($inuse) within 16"

# --- a heap bigger than the arena's regions ----------------------------------
# 600 blocks of 1 MiB live at once, more than one 256 MiB region of the
# arena holds of their size class, and blocks of 100 and 300 MB, bigger
# than any class, grown by realloc to twice that: every one is recorded,
# at rate 1 exactly, and at the default rate nothing is lost either.
for rate in 1 default; do
	r=$rate
	[ "$rate" = default ] && r=
	env ${r:+HEAPTRACE_RATE=$r} HEAPTRACE_OUTPUT=big.$rate.heap LD_PRELOAD="$lib" \
		"$progs/bigheap" 600 1048576 100000000 300000000 >/dev/null
	check $? "bigheap runs at rate $rate"
	is "$(stat_line big.$rate.heap "events not recorded")" 0 \
		"rate $rate: no sampled allocation goes unrecorded"
	"$report" big.$rate.heap >big.$rate.txt 2>&1
	check "$(grep -c 'warning' big.$rate.txt)" "rate $rate: the report has no warning"
done
# 300 blocks of 1 MiB, the calloc'd table of 605 pointers, 200 and 600 MB
is "$(value big.1.heap main inuse_space)" $((300 * 1048576 + 605 * 8 + 200000000 + 600000000)) \
	"rate 1: the bytes in use are exact"
is "$(value big.1.heap main alloc_objects)" $((600 + 1 + 4)) "rate 1: so are the allocations"

# With the address space limited (RLIMIT_AS), the arena reserves a quarter
# of it: too little here, and rate 1 says so, on stderr and in the report.
(
	ulimit -v 4194304
	HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=small.heap LD_PRELOAD="$lib" \
		"$progs/bigheap" 1200 1048576 300000000 >/dev/null 2>small.err
)
grep -q 'sample arena is full.*rate 1 is no longer exact' small.err
check $? "a full arena says once, on stderr, that rate 1 is no longer exact"
is "$(grep -c 'sample arena is full' small.err)" 1 "and says it once"
# the collector runs under the program's limit too: one built with
# AddressSanitizer (make SANITIZE=...) cannot start there, and writes no
# snapshot
if nm "$top/collector/heaptrace-collector" 2>/dev/null | grep -q __asan_init; then
	skip "the collector is built with AddressSanitizer, which cannot start in 4 GiB of address space"
else
	"$report" small.heap 2>&1 | grep -q 'warning: [0-9]* sampled allocations went unrecorded'
	check $? "and the report warns that allocations went unrecorded"
fi

done_testing
