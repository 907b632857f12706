#!/usr/bin/env bash
# Runs every unit test (tests/test_*) and end-to-end script (tests/t_*.sh),
# each printing TAP, and sums them up. Exit status 0 only if all passed.
cd "$(dirname "$0")/.." || exit 2
export HT_TOP=$PWD
mkdir -p tests/out
pass=0 fail=0 bad=()
for t in tests/test_* tests/t_*.sh; do
	case $t in *.c|*.o|*.d) continue ;; esac
	[ -x "$t" ] || continue
	log=tests/out/$(basename "$t").log
	timeout 600 "$t" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	plan=$(grep -c '^1\.\.[0-9]' "$log")
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ] || [ "$plan" -ne 1 ] || [ "$p" -eq 0 ]; then
		bad+=("$t")
		printf 'FAIL %s (exit %d, %d ok, %d not ok)\n' "$t" "$rc" "$p" "$f"
		grep -E '^not ok|^#' "$log" | head -20 | sed 's/^/    /'
		[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	else
		printf 'ok   %s (%d)\n' "$t" "$p"
	fi
	pass=$((pass + p)) fail=$((fail + f))
done
echo
echo "$pass passed, $fail failed"
[ ${#bad[@]} -eq 0 ]
