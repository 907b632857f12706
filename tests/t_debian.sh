#!/usr/bin/env bash
# Programs from Debian at rate 1, each process of them traced (compilers
# that run others, threads, pipelines; the C++ ones over jemalloc and
# tcmalloc too): each prints and exits as it does untraced, and in every
# snapshot the exact counts and the profile agree.
# At rate 1 every block the shim allocated while it traced is recorded,
# so the blocks in use in the profile are live by the counts too, and the
# live count exceeds them only by blocks counted before tracing began
# (the constructors of the program's libraries allocate before the
# shim's), never by more than those calls: 0 <= live - in use <= allocs
# - alloc_objects. clang broke the first: the frees of its libraries'
# start-up blocks were counted and their allocations were not.
. "$(dirname "$0")/lib.sh"
ulimit -c 0
unset HEAPTRACE_COLLECTOR HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_RING_MB \
	HEAPTRACE_FOLLOW_FORK HEAPTRACE_PID HEAPTRACE_DISABLE HEAPTRACE_SIGNAL \
	HEAPTRACE_LAZY HEAPTRACE_INTERVAL

cat >t.cc <<'CC'
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>
struct alignas(64) A { double d[8]; };
int main()
{
	std::map<std::string, std::vector<int>> m;
	for (int i = 0; i < 100000; i++)
		m[std::to_string(i % 5000)].push_back(i);
	std::vector<std::unique_ptr<A>> v;
	for (int i = 0; i < 10000; i++)
		v.emplace_back(new A());
	long s = 0;
	std::vector<std::thread> ts;
	for (int t = 0; t < 4; t++)
		ts.emplace_back([&s, t] {
			std::vector<std::string> x;
			for (int i = 0; i < 20000; i++)
				x.push_back(std::string(i % 300, 'a' + t));
			__atomic_fetch_add(&s, (long)x.size(), __ATOMIC_RELAXED);
		});
	for (auto &t : ts)
		t.join();
	std::cout << m.size() << " " << v.size() << " " << s << "\n";
}
CC
mkdir -p proj
for i in 1 2 3 4; do printf 'int f%d(int x) { return x * %d; }\n' "$i" "$i" >"proj/f$i.c"; done
printf 'int main(void) { return 0; }\n' >proj/main.c
printf 'app: f1.o f2.o f3.o f4.o main.o\n\tcc -o $@ $^\n%%.o: %%.c\n\tcc -O1 -c $<\n' >proj/Makefile
seq 200000 | awk '{ printf "%08d %s %d\n", ($1 * 7919) % 100003, substr("abcdefghijklmnop", $1 % 7 + 1, 9), $1 }' >big.txt

# prog NAME COMMAND: lib.sh's same on COMMAND (a shell line), traced at
# rate 1 with a snapshot per process in NAME.heaps/. With under set
# (jemalloc, tcmalloc), over that allocator, preloaded after the shim.
cases=()
under=
prog() {
	local pre=$lib
	[ -z "$under" ] || pre=$lib:/usr/lib/x86_64-linux-gnu/$under
	cases+=("$1")
	mkdir -p "$1.heaps"
	lib=$pre same "$1" HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$PWD/$1.heaps/%p.heap" -- bash -c "$2"
}

prog clang "clang++ -O1 -c t.cc -o clang.o && echo compiled"
prog gxx "g++ -O1 -pthread -o tcc t.cc && ./tcc"
prog make "make -s -B -C proj -j2 && ./proj/app && echo built"
prog perl "perl -e 'my %h; \$h{\$_} = [1 .. 20] for 1 .. 50000; my @k = sort keys %h; print scalar(@k), \" \$k[0] \$k[-1]\n\"'"
prog sort "sort --parallel=2 -S 8M big.txt | md5sum"
prog zstd "zstd -T2 -q -9 -c big.txt | md5sum"
prog tar "tar cf - big.txt t.cc | gzip -1 | tar tzf -"
# the C++ ones, whose libraries' constructors allocate before the shim's
# and the allocator's (a realloc there once lost its bytes over tcmalloc)
for under in libjemalloc.so.2 libtcmalloc_minimal.so.4; do
	[ -e "/usr/lib/x86_64-linux-gnu/$under" ] || fail "missing $under (scripts/deps.sh installs it)"
	prog "clang-${under%%.*}" "clang++ -O1 -c t.cc -o clang.o && echo compiled"
	prog "gxx-${under%%.*}" "g++ -O1 -pthread -o tcc t.cc && ./tcc"
done
under=

for name in "${cases[@]}"; do
	heaps=("$name".heaps/*.heap)
	[ -e "${heaps[0]}" ]
	check $? "$name: snapshots were written (${#heaps[@]})"
	bad=
	for h in "${heaps[@]}"; do
		[ -e "$h" ] || continue
		a=$(stat_line "$h" "alloc calls") f=$(stat_line "$h" "free calls")
		lost=$(stat_line "$h" "events not recorded")
		ao=$(total "$h" alloc_objects) io=$(total "$h" inuse_objects)
		if [ -z "$a" ] || [ -z "$f" ] || [ "$lost" != 0 ] || [ "$ao" -gt "$a" ] ||
			[ $((a - f - io)) -lt 0 ] || [ $((a - f - io)) -gt $((a - ao)) ]; then
			bad="$bad $(basename "$h")"
			echo "# $h: allocs $a, frees $f, live $((a - f)); alloc_objects $ao, inuse_objects $io; events not recorded $lost"
		fi
	done
	is "$bad" "" "$name, rate 1: in each process, 0 <= live - in use <= allocs - alloc_objects, nothing lost"
done

done_testing
