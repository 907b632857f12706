#!/usr/bin/env bash
# The tracer's memory on real programs: at rate 1, where every block is in
# the shim's arena, the program's peak RSS stays within 1.25 times its
# untraced peak (the shim's arena, ring and tables included); at the
# default rate within 16 MiB and 2% of it (the design's budget). The
# collector's own peak, a separate process, is shown, not bounded here.
. "$(dirname "$0")/lib.sh"

peak() { # LABEL ENV... -- CMD...: runs CMD with ENV, echoes its peak RSS (kB)
	local label=$1 out=$work/peak.$1; shift
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" "$progs/peakrss" "$out" "$@" >"$work/out.$label" 2>"$work/err.$label" <"${stdin:-/dev/null}"
	echo "$(cat "$out" 2>/dev/null || echo 0)"
}

budget() { # NAME UNTRACED RATE1 DEFAULT
	local name=$1 u=$2 r1=$3 d=$4
	echo "# $name: peak RSS untraced ${u} kB, rate 1 ${r1} kB, default rate ${d} kB"
	check "$(awk -v u="$u" -v t="$r1" 'BEGIN { exit !(u > 0 && t > 0 && t <= 1.25 * u) }'; echo $?)" \
		"$name at rate 1: peak RSS ${r1} kB <= 1.25 x untraced ${u} kB ($(awk -v u="$u" -v t="$r1" 'BEGIN { printf "%.2fx", t / u }'))"
	check "$(awk -v u="$u" -v t="$d" 'BEGIN { exit !(u > 0 && t > 0 && t <= u * 1.02 + 16384) }'; echo $?)" \
		"$name at the default rate: peak RSS ${d} kB <= untraced + 16 MiB + 2%"
}

# python3 building a dictionary of small objects (PYTHONMALLOC=malloc: each
# object is a malloc, as in a C program's heap of small blocks)
cat >"$work/dict.py" <<'PY'
d = {}
for i in range(200000):
    d[str(i)] = [i, str(i) * 3, (i, i + 1)]
print(len(d))
PY
py=(python3 "$work/dict.py")
u=$(peak py-none PYTHONMALLOC=malloc -- "${py[@]}")
r1=$(peak py-rate1 PYTHONMALLOC=malloc HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/py1.heap" \
	LD_PRELOAD="$lib" -- "${py[@]}")
d=$(peak py-default PYTHONMALLOC=malloc HEAPTRACE_OUTPUT="$work/py.heap" LD_PRELOAD="$lib" -- "${py[@]}")
budget python3 "$u" "$r1" "$d"
cmp -s "$work/out.py-none" "$work/out.py-rate1" && cmp -s "$work/out.py-none" "$work/out.py-default"
check $? "python3: the same output traced and untraced"
wait_file "$work/py1.heap"
"$report" --stats "$work/py1.heap" | grep -q '^  events not recorded  *0$'
check $? "python3 at rate 1: no event lost"

# sqlite3 filling an in-memory table and its index (page cache, b-tree
# nodes) to about the size where the budget was first measured
cat >"$work/fill.sql" <<'SQL'
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);
WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 600000)
INSERT INTO t SELECT x, printf('row-%d-%08x', x, x * 2654435761 % 4294967296), x * 1.5 FROM r;
CREATE INDEX tb ON t(b);
SELECT count(*), sum(length(b)) FROM t;
SQL
stdin=$work/fill.sql
u=$(peak sq-none -- sqlite3 :memory:)
r1=$(peak sq-rate1 HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/sq1.heap" LD_PRELOAD="$lib" -- sqlite3 :memory:)
d=$(peak sq-default HEAPTRACE_OUTPUT="$work/sq.heap" LD_PRELOAD="$lib" -- sqlite3 :memory:)
budget sqlite3 "$u" "$r1" "$d"
cmp -s "$work/out.sq-none" "$work/out.sq-rate1" && grep -q "^600000|" "$work/out.sq-none"
check $? "sqlite3: the same output traced and untraced"

# the small-block heap of the test program at rate 1: 8 bytes of header a
# block, as glibc's, not 16
stdin=
u=$(peak small-none -- "$progs/smallheap" 1000000)
r1=$(peak small-rate1 HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/small.heap" LD_PRELOAD="$lib" -- \
	"$progs/smallheap" 1000000)
echo "# smallheap: peak RSS untraced ${u} kB, rate 1 ${r1} kB"
check "$(awk -v u="$u" -v t="$r1" 'BEGIN { exit !(u > 0 && t > 0 && t <= 1.25 * u) }'; echo $?)" \
	"a million small blocks at rate 1: peak RSS ${r1} kB <= 1.25 x untraced ${u} kB"
cmp -s "$work/out.small-none" "$work/out.small-rate1"
check $? "smallheap: the same output traced and untraced"
done_testing
