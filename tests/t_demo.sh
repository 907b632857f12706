#!/usr/bin/env bash
# The README's first command, `make demo` (scripts/demo.sh): the bundled
# service traced, a base snapshot, load, a current snapshot, and the diff
# that finds its cache that never evicts.
. "$(dirname "$0")/lib.sh"

out=$("$top/scripts/demo.sh" 2>&1)
is "$?" 0 "make demo's script runs to its end"
printf '%s\n' "$out" | grep -q '^served [0-9]* requests$'
check $? "it loads the service"
grew=$(printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | sed -n '/^== what grew/,/^== where the churn/p' |
	awk '/flat%/ { getline; print $NF == "demo.c:33" && $(NF - 1) == "cache_insert" && $1 ~ /^\+/; exit }')
is "$grew" 1 "its diff puts the cache that never evicts first, grown"
for f in base current final; do
	"$report" "$top/tests/out/demo/$f.heap" >/dev/null 2>&1
	check $? "its $f snapshot reads back"
done
done_testing
