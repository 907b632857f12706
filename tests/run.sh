#!/usr/bin/env bash
# Runs every unit test (tests/test_*) and end-to-end script (tests/t_*.sh),
# each printing TAP, and sums them up: "N passed, N failed, N skipped".
# A test that says "ok N # SKIP reason" is counted as skipped, not passed.
# A test file that cannot be run (no execute bit) fails. Exit status 0
# only if all passed.
cd "$(dirname "$0")/.." || exit 2
export HT_TOP=$PWD
mkdir -p tests/out
pass=0 fail=0 skipped=0 bad=()
for t in tests/test_* tests/t_*.sh; do
	case $t in *.c|*.cc|*.o|*.d) continue ;; esac
	[ -e "$t" ] || continue
	if [ ! -x "$t" ]; then
		bad+=("$t")
		printf 'FAIL %s (not executable)\n' "$t"
		fail=$((fail + 1))
		continue
	fi
	log=tests/out/$(basename "$t").log
	timeout 600 "$t" >"$log" 2>&1
	rc=$?
	s=$(grep -c '^ok [0-9]* # SKIP' "$log")
	p=$(( $(grep -c '^ok ' "$log") - s ))
	f=$(grep -c '^not ok ' "$log")
	plan=$(grep -c '^1\.\.[0-9]' "$log")
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$plan" -ne 1 ] || [ "$p" -eq 0 ]; then
		bad+=("$t")
		printf 'FAIL %s (exit %d, %d ok, %d not ok)\n' "$t" "$rc" "$p" "$f"
		grep -E '^not ok|^#' "$log" | head -20 | sed 's/^/    /'
		[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	elif [ "$s" -ne 0 ]; then
		printf 'ok   %s (%d, %d skipped)\n' "$t" "$p" "$s"
		grep '^ok [0-9]* # SKIP' "$log" | sed 's/^/    /'
	else
		printf 'ok   %s (%d)\n' "$t" "$p"
	fi
	pass=$((pass + p)) fail=$((fail + f)) skipped=$((skipped + s))
done
echo
echo "$pass passed, $fail failed, $skipped skipped"
[ ${#bad[@]} -eq 0 ]
