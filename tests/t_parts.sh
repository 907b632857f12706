#!/usr/bin/env bash
# The shim built for scripts/bench with its sampled path's parts timed
# (preload/parts.h): one line at the process's end, with every sample's
# stack and ALLOC record counted, the threads' counts folded in at their
# exit, and the program's output as untraced; the shim that make builds
# prints nothing of it. No timing is checked: the bench reads the cycles.
. "$(dirname "$0")/lib.sh"

parts=$top/preload/libheaptrace-parts.so
rate=16384

"$progs/stress" -t 2 -n 20000 -l 256 >plain.out 2>plain.err
run st env HEAPTRACE_RATE=$rate HEAPTRACE_OUTPUT="$PWD/st.heap" LD_PRELOAD="$parts" \
	"$progs/stress" -t 2 -n 20000 -l 256
is "$(cat st.rc)" 0 "stress under the parts shim exits 0"
cmp -s plain.out st.out
check $? "its output is the untraced run's"
is "$(grep -c '^heaptrace-parts: ' st.err)" 1 "one line of parts, at the end"

line=$(grep '^heaptrace-parts: ' st.err)
field() { # field NAME INDEX: calls (1), cycles (2) or bytes (3) of part NAME
	printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p" | cut -d/ -f"$2"
}
stacks=$(field stack 1)
is "$(field alloc_event 1)" "$stacks" "every sample's stack has its ALLOC record"
# the threads allocate nearly all the blocks, and the counts are theirs:
# a thread of the same work alone has half the samples (folded at its exit)
run one env HEAPTRACE_RATE=$rate HEAPTRACE_OUTPUT="$PWD/one.heap" LD_PRELOAD="$parts" \
	"$progs/stress" -t 1 -n 20000 -l 256
alone=$(line=$(grep '^heaptrace-parts: ' one.err) field stack 1)
awk -v a="${alone:-0}" -v b="${stacks:-0}" 'BEGIN { exit !(a > 500 && b >= 1.6 * a && b <= 2.4 * a) }'
check $? "the threads' samples counted: $stacks with two threads, ${alone:-none} with one"
ok=0
for k in arena_malloc arena_calloc stack alloc_event free_event arena_free copy; do
	c=$(field $k 1) y=$(field $k 2)
	[ -n "$c" ] && [ -n "$y" ] && [ "$y" -ge "$c" ] || { ok=1; echo "# $k: '$c' calls, '$y' cycles"; }
done
check $ok "each of the 7 parts: its calls and at least a cycle each"
[ "$(field free_event 1)" -gt 0 ] && [ "$(field copy 1)" -gt 0 ] && [ "$(field copy 3)" -gt 0 ]
check $? "frees and realloc's copies counted, the copies' bytes too"

run plain env HEAPTRACE_RATE=$rate HEAPTRACE_OUTPUT="$PWD/plain.heap" LD_PRELOAD="$lib" \
	"$progs/stress" -t 2 -n 20000 -l 256
is "$(cat plain.rc):$(grep -c heaptrace-parts plain.err)" "0:0" "the shim make builds times nothing"

done_testing
