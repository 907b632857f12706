#!/usr/bin/env bash
# Stacks walked by frame pointers (HEAPTRACE_FRAME_POINTERS, on by
# default) are the stacks libunwind walks (HEAPTRACE_FRAME_POINTERS=0),
# frame for frame, address for address: in a program built with frame
# pointers that has frames without one among them (hand-written code whose
# rbp points at a made-up frame, the C library's), on two threads, at
# stack depths up to 91 and under a depth limit; from every allocation
# entry point; and in Debian's own programs, built without frame pointers.
# The snapshot says how many stacks each walk took, and a program built
# with frame pointers has most of its stacks walked by them.
. "$(dirname "$0")/lib.sh"
unset HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_INTERVAL HEAPTRACE_SIGNAL HEAPTRACE_DISABLE \
	HEAPTRACE_PID HEAPTRACE_DEPTH HEAPTRACE_FRAME_POINTERS

# stacks FILE [GRAIN]: every stack, frame by frame at every address (or
# at GRAIN, --lines), each allocation counted
stacks() {
	"$report" --format collapsed "${2:---addresses}" --hide '' --top 0 \
		--sample-index alloc_objects "$1"
}

# both NAME VAR=VALUE... -- CMD...: CMD traced at rate 1 with its code
# where it was the run before (no address randomisation), walked by frame
# pointers (NAME.fp.heap) and by libunwind (NAME.unw.heap); checks that
# the two give the same stacks, at $grain (default: every address; a
# library loaded late may land elsewhere, the shim's own mappings being
# made in another order). setarch, traced too, samples, and its collector
# writes its snapshot when setarch executes CMD, while CMD runs: so each
# image has a file of its own (%e), and CMD's is renamed NAME.fp.heap.
both() {
	local name=$1 envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	for fp in 1 0; do
		f=$name.$([ $fp = 1 ] && echo fp || echo unw)
		env "${envs[@]}" HEAPTRACE_RATE=1 HEAPTRACE_FRAME_POINTERS=$fp HEAPTRACE_OUTPUT="$f.%e.heap" \
			LD_PRELOAD="$lib" setarch "$(uname -m)" -R "$@" >"$f.out" 2>"$f.err" </dev/null
		echo $? >"$f.rc"
		for g in "$f".*.heap; do [ "$g" = "$f.setarch.heap" ] || mv "$g" "$f.heap"; done
		stacks "$f.heap" $grain >"$f.txt" 2>&1
	done
	is "$(cat "$name.fp.rc") $(cat "$name.unw.rc")" "0 0" "$name: both runs succeed"
	if [ -s "$name.fp.txt" ] && cmp -s "$name.fp.txt" "$name.unw.txt"; then
		pass "$name: the stacks walked by frame pointers are libunwind's ($(wc -l <"$name.fp.txt") stacks)"
	else
		fail "$name: the stacks walked by frame pointers are libunwind's"
		diff "$name.unw.txt" "$name.fp.txt" | head -8 | note
	fi
}

# --- a program built with frame pointers, with frames that keep none ------
same fpwalk_out -- "$progs/fpwalk" 200
is "$(cat fpwalk_out.t.out)" "fpwalk: 2400 allocations" "fpwalk: its output, traced"

both fpwalk HEAPTRACE_DEPTH=128 -- "$progs/fpwalk" 1500
is "$(cat fpwalk.fp.out)" "fpwalk: 18000 allocations" "fpwalk: all its allocations made"
fp=$(metric fpwalk.fp.heap heaptrace.stacks_walked_frame_pointers)
unw=$(metric fpwalk.fp.heap heaptrace.stacks_walked_libunwind)
# five leaves in eight, and decoy_caller's, are walked by frame pointers
# all the way; behind decoy_call and in strdup, libunwind walks the stack
check "$([ -n "$fp" ] && [ -n "$unw" ] && [ "$fp" -gt $((2 * unw)) ]; echo $?)" \
	"fpwalk: most stacks are walked by frame pointers ($fp of them, $unw by libunwind)"
fp=$(metric fpwalk.unw.heap heaptrace.stacks_walked_frame_pointers)
unw=$(metric fpwalk.unw.heap heaptrace.stacks_walked_libunwind)
check "$([ "$fp" = 0 ] && [ -n "$unw" ] && [ "$unw" -gt 1000 ]; echo $?)" \
	"fpwalk, HEAPTRACE_FRAME_POINTERS=0: every stack is libunwind's ($fp by frame pointers, $unw by libunwind)"

# the made-up frame is never believed, though it names a return address
# known to keep a frame pointer: the allocations behind decoy_call are
# reached through it, from run; decoy_caller is only where it was called
"$report" --format collapsed --functions --hide '' --top 0 --sample-index alloc_objects \
	fpwalk.fp.heap >fpwalk.fn.txt
is "$(grep 'decoy_caller' fpwalk.fn.txt | grep -Ecv ';(run|leaf);decoy_caller;behind_decoy ')" 0 \
	"fpwalk: no stack has decoy_caller where decoy_call's rbp pointed"
is "$(grep -c "^$root;main;run;decoy_caller;behind_decoy 1500$" fpwalk.fn.txt)" 1 \
	"fpwalk: the main thread's 1500 allocations behind decoy_caller, at their whole stack"
is "$(grep -c "^$root;main;run;decoy_call;behind_decoy 1500$" fpwalk.fn.txt)" 1 \
	"fpwalk: the main thread's 1500 allocations behind decoy_call, at their whole stack"
is "$(grep -c "^$root;main;run;from_libc;__strdup 1500$" fpwalk.fn.txt)" 1 \
	"fpwalk: the main thread's 1500 allocations of strdup, through the C library's frame"
is "$(grep -c "^__clone3;start_thread;run;decoy_call;behind_decoy 1500$" fpwalk.fn.txt)" 1 \
	"fpwalk: the other thread's 1500 behind decoy_call, at their whole stack"
# the deepest: rec_a and 90 levels below it, between run and leaf
deepest=$(awk '{ n = gsub(/;rec_[ab]/, "&"); if (n > m) m = n } END { print m + 0 }' fpwalk.fn.txt)
is "$deepest" 91 "fpwalk: the deepest stacks have their 91 recursive frames"

# under the default depth limit (64), which the deepest stacks cross, and
# lower limits
both fpwalk_d64 -- "$progs/fpwalk" 500
both fpwalk_d8 HEAPTRACE_DEPTH=8 -- "$progs/fpwalk" 500
both fpwalk_d40 HEAPTRACE_DEPTH=40 -- "$progs/fpwalk" 500

# every entry point (malloc, calloc, realloc, reallocarray, posix_memalign,
# aligned_alloc, memalign, valloc, pvalloc), each with the program's call
# where the walk expects it: the same stacks, nearly all by frame pointers
both allocprop -- "$progs/allocprop" 7 20000
is "$(cat allocprop.fp.out)" "allocprop: seed 7: 20000 operations, every check held" \
	"allocprop: every check held, traced"
fp=$(metric allocprop.fp.heap heaptrace.stacks_walked_frame_pointers)
unw=$(metric allocprop.fp.heap heaptrace.stacks_walked_libunwind)
check "$([ -n "$fp" ] && [ -n "$unw" ] && [ "$fp" -gt $((10 * unw)) ]; echo $?)" \
	"allocprop: its stacks are walked by frame pointers from every entry point ($fp of them, $unw by libunwind)"

# --- programs built without frame pointers ----------------------------------
# every frame's verdict is learnt, none is followed: the walks are
# libunwind's, the stacks the same
if command -v sqlite3 >/dev/null; then
	sql="create table t(a, b); with recursive c(x) as (select 1 union all select x + 1 from c where x < 3000) insert into t select x, printf('row %d', x) from c; create index i on t(b); select count(*), sum(length(b)) from t;"
	both sqlite3 -- sqlite3 :memory: "$sql"
	is "$(cat sqlite3.fp.out)" "$(sqlite3 :memory: "$sql")" "sqlite3: its answer, traced"
else
	fail "sqlite3: not installed (scripts/deps.sh installs it)"
fi
# (-I: the scratch directory's files, which change between the runs, are
# not on its path)
grain=--lines both python3 PYTHONMALLOC=malloc PYTHONHASHSEED=0 -- \
	python3 -I -c 'import json; d = {str(i): list(range(i % 50)) for i in range(3000)}; print(len(json.dumps(d)))'
is "$(cat python3.fp.out)" "$(python3 -c 'import json; d = {str(i): list(range(i % 50)) for i in range(3000)}; print(len(json.dumps(d)))')" \
	"python3: its answer, traced"

done_testing
