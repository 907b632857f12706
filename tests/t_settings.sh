#!/usr/bin/env bash
# The HEAPTRACE_* names: the list the shim and heaptrace -p know
# (preload/settings.h) is the list the man pages document; a documented
# name is taken without a word; a mistyped one is said once, with the name
# it likely meant, and the program runs on as it would have; heaptrace -p
# refuses a mistyped name before it touches the process.
. "$(dirname "$0")/lib.sh"

for v in $(env | sed -n 's/^\(HEAPTRACE_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done

known=$(grep -o '"HEAPTRACE_[A-Z0-9_]*"' "$top/preload/settings.h" | tr -d '"' | sort -u)
# HEAPTRACE_NAME is heaptrace(1)'s placeholder in HEAPTRACE_NAME=VALUE,
# and the message libheaptrace(7) shows names a mistyped one
documented=$(cat "$top"/man/*.[1-8] | grep -v 'not a heaptrace setting' |
	grep -o 'HEAPTRACE_[A-Z0-9_]*[A-Z0-9]' | grep -vx HEAPTRACE_NAME | sort -u)
is "$(comm -3 <(echo "$known") <(echo "$documented") | tr -d '\t' | tr '\n' ' ')" "" \
	"settings.h names exactly the HEAPTRACE_* variables the man pages document"
[ "$(echo "$known" | wc -l)" -ge 20 ]
check $? "settings.h lists the settings ($(echo "$known" | wc -l))"

# every documented name, set empty (which counts as unset): not a word
set_all=()
for v in $known; do set_all+=("$v="); done
run all env "${set_all[@]}" HEAPTRACE_OUTPUT="$PWD/all.heap" LD_PRELOAD="$lib" "$progs/retain"
is "$(cat all.rc):$(cat all.err)" "0:" "every documented name: taken without a word"

# every documented name less its last letter: said once, the program unharmed
"$progs/retain" >plain.out 2>plain.err
said=0 meant=0 runs=0
for v in $known; do
	typo=${v%?}
	runs=$((runs + 1))
	run typo env "$typo=1" HEAPTRACE_OUTPUT="$PWD/typo.heap" LD_PRELOAD="$lib" "$progs/retain"
	if [ "$(cat typo.rc)" = 0 ] && cmp -s typo.out plain.out &&
		[ "$(grep -c "^heaptrace: ignoring $typo: not a heaptrace setting" typo.err)" = 1 ] &&
		[ "$(wc -l <typo.err)" = 1 ]; then
		said=$((said + 1))
	else
		echo "# $typo: rc $(cat typo.rc): $(head -2 typo.err)"
	fi
	grep -q "(did you mean $v?)\$" typo.err && meant=$((meant + 1))
	rm -f typo.heap
done
is "$said" "$runs" "each name less its last letter: said once, output and status unchanged"
# HEAPTRACE_PUSH less a letter is HEAPTRACE_PUS, which begins HEAPTRACE_PUSH_* too
[ "$meant" -ge $((runs - 3)) ]
check $? "and the name it likely meant is said ($meant of $runs)"

# the mistake this guards against: the snapshot is where HEAPTRACE_OUTPUT says
run out env HEAPTRACE_OUT="$PWD/out.heap" HEAPTRACE_OUTPUT="$PWD/output.heap" LD_PRELOAD="$lib" \
	"$progs/retain"
is "$(cat out.rc):$(cat out.err)" \
	"0:heaptrace: ignoring HEAPTRACE_OUT: not a heaptrace setting (did you mean HEAPTRACE_OUTPUT?)" \
	"HEAPTRACE_OUT: ignored with the name it likely meant"
valid output.heap "HEAPTRACE_OUT beside HEAPTRACE_OUTPUT"
[ ! -e out.heap ]
check $? "nothing written where HEAPTRACE_OUT said"
run far env HEAPTRACE_XYZZY=1 HEAPTRACE_rate=1 HEAPTRACE_OUTPUT="$PWD/far.heap" LD_PRELOAD="$lib" \
	"$progs/retain"
is "$(sort far.err | tr '\n' '|')" \
	"heaptrace: ignoring HEAPTRACE_XYZZY: not a heaptrace setting|heaptrace: ignoring HEAPTRACE_rate: not a heaptrace setting|" \
	"names near no setting: each said once, no guess"
run off env HEAPTRACE_DISABLE=1 HEAPTRACE_OUT=x LD_PRELOAD="$lib" "$progs/retain"
is "$(cat off.rc):$(cat off.err)" "0:" "HEAPTRACE_DISABLE=1: nothing said"

# heaptrace -p: refused before the process is touched
sleep 30 &
sp=$!
run at "$bin/heaptrace-attach" "$sp" HEAPTRACE_RATE=1 HEAPTRACE_OUPUT="$PWD/at.heap"
is "$(cat at.rc):$(cat at.err)" \
	"2:heaptrace-attach: 'HEAPTRACE_OUPUT' is not a heaptrace setting (did you mean HEAPTRACE_OUTPUT?)" \
	"heaptrace-attach: a mistyped name refused, one line, status 2"
is "$(grep -c libheaptrace "/proc/$sp/maps")" 0 "heaptrace-attach: the process was not touched"
kill "$sp" 2>/dev/null
wait "$sp" 2>/dev/null

done_testing
