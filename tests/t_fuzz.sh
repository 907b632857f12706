#!/usr/bin/env bash
# Short libFuzzer runs of the snapshot reader, seeded with tests/corpus/
# (`make fuzz` runs it for long), and of the reader with every renderer,
# seeded also with the crafted files of tests/mkhostile (`make
# fuzz-render`). Any crash, leak, hang or sanitizer report fails.
. "$(dirname "$0")/lib.sh"

# fuzz NAME SECONDS DIR: runs tests/NAME on the seeds in DIR
fuzz() {
	local runs
	"$top/tests/$1" -max_total_time="$2" -timeout=20 -print_final_stats=1 "$3" >"$1.log" 2>&1
	check $? "$2 s of $1: no crash, leak, hang or sanitizer report"
	if grep -q 'runtime error' "$1.log"; then
		fail "$1: no sanitizer report"
		grep -m3 'runtime error' "$1.log" | note
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1.log")
	check "$([ "${runs:-0}" -gt 10000 ]; echo $?)" "$1 really ran (${runs:-0} inputs)"
	[ "$failed" -eq 0 ] || tail -30 "$1.log" | note
}

# bodies DIR: adds to DIR the decompressed body of each small snapshot in
# it, as seeds for the wrapped-body half of each fuzzer
bodies() {
	for f in "$1"/*.heap; do
		[ "$(stat -c %s "$f")" -lt 4096 ] || continue
		tail -c +25 "$f" | zstd -dcq >"${f%.heap}.body" 2>/dev/null
		[ "$(stat -c %s "${f%.heap}.body")" -lt 65536 ] || rm -f "${f%.heap}.body"
	done
}

mkdir corpus && cp "$top"/tests/corpus/*.heap corpus/
for f in corpus/*.heap; do
	"$report" "$f" >/dev/null 2>&1
	check $? "seed ${f#corpus/} is a valid snapshot"
done
bodies corpus
fuzz fuzz_snapshot 10 corpus

# The crafted files small enough to mutate quickly (the large ones are
# tests/t_hostile_snap.sh's): shared frames, absurd values, a 1 GiB bomb.
mkdir hostile render && cp corpus/* render/
"$top/tests/mkhostile" hostile
check $? "the crafted seeds are written"
for f in shared-frames huge-value tiny-count max-value bad-time bomb; do
	cp hostile/$f.heap render/
done
bodies render
fuzz fuzz_render 15 render
done_testing
