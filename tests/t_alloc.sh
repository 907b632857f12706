#!/usr/bin/env bash
# The shim never hurts the program and never loses a sample, over glibc,
# jemalloc and tcmalloc: a property test of every allocation entry point
# (tests/progs/allocprop.c), C++ new and delete counted once each, and
# sampled blocks that outgrow the arena's first reservation.
. "$(dirname "$0")/lib.sh"

libdir=/usr/lib/x86_64-linux-gnu
je=$libdir/libjemalloc.so.2
tc=$libdir/libtcmalloc_minimal.so.4
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
	case $under in
	glibc) pre=$lib ;;
	jemalloc) pre=$lib:$je ;;
	tcmalloc) pre=$lib:$tc ;;
	esac
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

done_testing
