#!/usr/bin/env bash
# A short libFuzzer run of the snapshot reader, seeded with tests/corpus/
# (`make fuzz` runs it for long). Any crash, leak or sanitizer report fails.
. "$(dirname "$0")/lib.sh"

fuzzer=$top/tests/fuzz_snapshot
mkdir corpus && cp "$top"/tests/corpus/*.heap corpus/
for f in corpus/*.heap; do
	"$report" "$f" >/dev/null 2>&1
	check $? "seed ${f#corpus/} is a valid snapshot"
done
"$fuzzer" -max_total_time=15 -print_final_stats=1 corpus >fuzz.log 2>&1
check $? "15 s of fuzzing the reader: no crash, leak or sanitizer report"
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
check "$([ "${runs:-0}" -gt 10000 ]; echo $?)" "the fuzzer really ran (${runs:-0} inputs)"
[ "$failed" -eq 0 ] || tail -30 fuzz.log | note
done_testing
