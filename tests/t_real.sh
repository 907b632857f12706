#!/usr/bin/env bash
# Real programs from Debian under the shim: python3 and sqlite3, each run
# untraced and traced, must print the same, exit the same and leave a
# plausible snapshot; the heaptrace launcher on them and on programs that
# exit with a status or die of a signal; and an installed copy
# (make install) that works without the build tree.
. "$(dirname "$0")/lib.sh"
ulimit -c 0
unset HEAPTRACE_COLLECTOR HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_RING_MB \
	HEAPTRACE_FOLLOW_FORK HEAPTRACE_PID HEAPTRACE_DISABLE HEAPTRACE_SIGNAL
py=/usr/bin/python3 # not a pyenv shim from PATH

# calls FILE WHAT: the exact count WHAT (allocs, frees, live) of the
# report's Calls line
calls() {
	"$report" --verbose "$1" 2>/dev/null | sed -n "s/^Calls:.*[^0-9]\([0-9][0-9]*\) $2,.*/\1/p" | head -1
}

# --- python3 ----------------------------------------------------------------
cat >big.py <<'EOF'
import hashlib, json
d = {}
for i in range(60000):
    d["k%d" % i] = [i, str(i) * 3, {"x": i * 2.5, "y": [i, i + 1], "z": None}]
rows = [[k, v[0]] for k, v in d.items() if v[0] % 3 == 0]
s = json.dumps({"d": d, "rows": rows}, sort_keys=True)
print(len(d), len(rows), len(s), hashlib.sha256(s.encode()).hexdigest())
EOF
cat >exit3.py <<'EOF'
import sys
data = [str(i) * 10 for i in range(10000)]
print("leaving with", len(data))
sys.exit(3)
EOF
cat >raise.py <<'EOF'
data = {i: [i] * 5 for i in range(10000)}
print("about to fail", len(data), flush=True)
def deeper(n):
    if n == 0:
        raise ValueError("boom at the bottom")
    deeper(n - 1)
deeper(5)
EOF

same python PYTHONMALLOC=malloc HEAPTRACE_OUTPUT=python.heap -- "$py" big.py
grep -q '^60000 20000 ' python.t.out
check $? "python: the script ran to the end"
valid python.heap "python"
"$report" --functions --sample-index alloc_space --top 10 python.heap >python.top
grep -E -q ' (_?Py[A-Za-z_]+|_PyObject[A-Za-z_]*|PyMem[A-Za-z_]*)$' python.top
check $? "python: the top alloc_space report names CPython functions"
grep -E ' _?Py' python.top | head -3 | note
a=$(calls python.heap allocs) f=$(calls python.heap frees)
[ "${a:-0}" -gt 100000 ] && [ "${f:-0}" -gt 100000 ]
check $? "python: exact call totals are counted ($a allocs, $f frees)"

# Rate 1: every allocation after the shim started is recorded, so the
# in-use objects of the profile are the live blocks of the Calls line
# (allocs - frees), except for blocks the shim counted while it was still
# starting (before its shared memory and collector exist; counted, never
# sampled) that are still live at exit: a handful at most. The difference
# may go either way by that much, so allow 16.
same python1 PYTHONMALLOC=malloc HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=python1.heap -- "$py" big.py
valid python1.heap "python, rate 1"
a=$(calls python1.heap allocs) f=$(calls python1.heap frees)
live=$((a - f)) inuse=$(total python1.heap inuse_objects)
d=$((live - inuse))
[ "$live" -gt 0 ] && [ "${d#-}" -le 16 ]
check $? "python, rate 1: in-use objects ($inuse) = allocs - frees ($a - $f = $live) within 16"
is "$(total python1.heap alloc_objects)" "$a" "python, rate 1: every allocation counted is recorded (alloc_objects = allocs)"
grep -q 'warning' python1.heap.txt
check $((!$?)) "python, rate 1: nothing dropped"

same pyexit PYTHONMALLOC=malloc HEAPTRACE_OUTPUT=pyexit.heap -- "$py" exit3.py
is "$(cat pyexit.t.rc)" 3 "python sys.exit(3): status 3"
valid pyexit.heap "python sys.exit(3)"

same pyraise PYTHONMALLOC=malloc HEAPTRACE_OUTPUT=pyraise.heap -- "$py" raise.py
is "$(cat pyraise.t.rc)" 1 "python uncaught exception: status 1"
grep -q '^ValueError: boom at the bottom$' pyraise.t.err
check $? "python uncaught exception: the traceback is on stderr"
grep -q heaptrace pyraise.t.err
check $((!$?)) "python uncaught exception: nothing from heaptrace on stderr"
valid pyraise.heap "python uncaught exception"

# --- sqlite3 ------------------------------------------------------------------
cat >q.sql <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t(k, v) SELECT (x * 7919) % 1000, printf('row-%06d-%s', x, hex(x * x)) FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(k), min(v), max(v), count(DISTINCT k) FROM t;
SELECT k, count(*), sum(length(v)) FROM t WHERE k BETWEEN 10 AND 12 GROUP BY k;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE k = 999 ORDER BY id LIMIT 5);
EOF
stdin=q.sql before='rm -f "$work/t.db"' same sqlite HEAPTRACE_OUTPUT=sqlite.heap -- sqlite3 "$work/t.db"
grep -q '^100000|49950000|' sqlite.t.out
check $? "sqlite3: the aggregates are printed"
valid sqlite.heap "sqlite3"
"$report" --format collapsed --functions --sample-index alloc_space sqlite.heap | grep -q 'sqlite3'
check $? "sqlite3: the profile has frames in sqlite3"
a=$(calls sqlite.heap allocs)
[ "${a:-0}" -gt 100000 ]
check $? "sqlite3: exact call totals are counted ($a allocs)"

# --- the launcher ---------------------------------------------------------------
# in a directory of its own each, so its default snapshot name is found
launch() { # NAME ARGS...: runs the launcher in NAME/, stdin from $stdin
	local name=$1
	shift
	rm -rf "$name" && mkdir "$name"
	(cd "$name" && run "../$name" "$launcher" "$@")
}
snapshot_of() { # NAME: the file the launcher said it wrote (relative to NAME/)
	sed -n 's/^heaptrace: snapshot written to //p' "$1.err" | head -1
}

stdin=$work/q.sql launch lsqlite sqlite3 :memory:
stdin=q.sql run sqlite_mem sqlite3 :memory:
is "$(cat lsqlite.rc)" 0 "launcher, sqlite3: status 0"
cmp -s lsqlite.out sqlite_mem.out
check $? "launcher, sqlite3: stdout is the program's alone"
f=$(snapshot_of lsqlite)
[ -n "$f" ] && [ -f "lsqlite/$f" ] && [ "$(ls lsqlite)" = "$f" ]
check $? "launcher, sqlite3: says where the snapshot is ($f), and it is there"
valid "lsqlite/$f" "launcher, sqlite3"
grep -q 'flat%' lsqlite.err
check $? "launcher, sqlite3: a summary on stderr"

launch lexit sh -c 'exit 7'
is "$(cat lexit.rc)" 7 "launcher, sh -c 'exit 7': status 7"
is "$(cat lexit.out)" "" "launcher, sh -c 'exit 7': nothing on stdout"
f=$(snapshot_of lexit)
[ -n "$f" ] && [ -f "lexit/$f" ]
check $? "launcher, sh -c 'exit 7': a snapshot ($f)"

# (the collector started at once: a shell that kills itself before its first
# sample has none yet, and leaves no snapshot, see t_lazy.sh)
for sig in TERM KILL SEGV; do
	HEAPTRACE_LAZY=0 launch "lsig$sig" sh -c "echo before; kill -$sig \$\$; echo after"
	is "$(cat "lsig$sig.rc")" $((128 + $(kill -l "$sig"))) "launcher, program killed by SIG$sig: the launcher dies of it too"
	is "$(cat "lsig$sig.out")" before "launcher, SIG$sig: stdout unchanged"
	f=$(snapshot_of "lsig$sig")
	[ -n "$f" ] && "$report" "lsig$sig/$f" 2>&1 | grep -q 'cut short'
	check $? "launcher, SIG$sig: a snapshot marked cut short"
done

launch lopts -o out.heap --rate 1 "$progs/retain" 2
is "$(cat lopts.rc)" 0 "launcher -o --rate 1: status 0"
is "$(cat lopts.out)" "retained 220 blocks" "launcher -o --rate 1: stdout unchanged"
is "$(snapshot_of lopts)" out.heap "launcher -o: says it wrote out.heap"
is "$(value lopts/out.heap site_a inuse_objects)" 200 "launcher --rate 1: exact (site_a keeps 200 objects)"
launch lopts2 --output=o.%p.heap --rate=1 -q "$progs/retain" 1
f=$(snapshot_of lopts2)
[[ $f == o.[0-9]*.heap ]] && [ -f "lopts2/$f" ] && [ "$(wc -l <lopts2.err)" -eq 1 ]
check $? "launcher --output=o.%p.heap -q: $f, one line on stderr"

# bad options: exit 2, one line; a program that is not there: exit 127
# (as a shell says), one line
for bad in "--bogus $progs/retain" "--rate abc $progs/retain" "--rate 0 $progs/retain" \
	"--depth 999 $progs/retain" "-o" "--rate" "/no/such/program"; do
	want=2
	[ "$bad" != /no/such/program ] || want=127
	# shellcheck disable=SC2086
	launch lbad $bad
	rc=$(cat lbad.rc)
	if [ "$rc" -eq $want ] && [ "$(wc -l <lbad.err)" -eq 1 ] && grep -q '^heaptrace: ' lbad.err &&
		[ ! -s lbad.out ] && [ -z "$(ls -A lbad)" ]; then
		pass "launcher ${bad%% /*}: exit $want, $(cat lbad.err)"
	else
		fail "launcher ${bad%% /*}: exit $want with one line"
		echo "#   exit $rc" && note lbad.err
	fi
done

# --- an installed copy ----------------------------------------------------------
inst=$work/inst
(unset DESTDIR; make -C "$top" install PREFIX="$inst" >install.log 2>&1)
rc=$?
check $rc "make install PREFIX=$inst"
[ $rc -eq 0 ] || tail -3 install.log | note
missing=
for f in bin/heaptrace bin/heaptrace-report bin/heaptrace-dump bin/heaptrace-diff \
	lib/heaptrace/libheaptrace.so lib/heaptrace/heaptrace-collector; do
	[ -x "$inst/$f" ] || missing="$missing $f"
done
is "$missing" "" "make install: the tools, shim and collector are installed"
mkdir away && cd away || exit 2 # outside the build tree

# installed launcher on retain: an exact snapshot the installed report reads
run inst1 "$inst/bin/heaptrace" -o inst1.heap --rate 1 "$progs/retain" 2
is "$(cat inst1.rc)" 0 "installed launcher: status 0"
is "$(cat inst1.out)" "retained 220 blocks" "installed launcher: stdout unchanged"
is "$(head -1 inst1.err)" "heaptrace: snapshot written to inst1.heap" "installed launcher: says where the snapshot is"
"$inst/bin/heaptrace-report" --format collapsed --functions --sample-index inuse_objects \
	inst1.heap >inst1.txt 2>&1
check $? "installed heaptrace-report reads the launcher's snapshot"
grep -q ';site_a 200$' inst1.txt
check $? "installed launcher: exact at rate 1 (site_a keeps 200 objects)"

# the installed shim preloaded by hand
run inst2 env HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=inst2.heap \
	LD_PRELOAD="$inst/lib/heaptrace/libheaptrace.so" "$progs/retain" 2
is "$(cat inst2.rc) $(cat inst2.out)" "0 retained 220 blocks" "installed shim by LD_PRELOAD: status and stdout unchanged"
is "$(cat inst2.err)" "" "installed shim by LD_PRELOAD: nothing on stderr"
"$inst/bin/heaptrace-report" --format collapsed --functions --sample-index inuse_objects \
	inst2.heap >inst2.txt 2>&1
check $? "installed heaptrace-report reads the shim's snapshot"
grep -q ';site_a 200$' inst2.txt
check $? "installed shim by LD_PRELOAD: exact at rate 1 (site_a keeps 200 objects)"

# While a program runs under the installed launcher: the shim mapped into
# it and the collector serving it (found by its control socket) are the
# installed files, not the build tree's.
coproc I { exec "$inst/bin/heaptrace" -o inst3.heap --rate 1 "$progs/hostile_busy" 2>inst3.err; }
ipid=$I_PID iin=${I[0]} iout=${I[1]}
read -r -t 30 line <&"$iin"
is "$line" ready "installed launcher, a running program: started"
prog=$(pgrep -P "$ipid" | head -1)
libs=$(grep -o '/[^ ]*libheaptrace[^ ]*' "/proc/$prog/maps" 2>/dev/null | sort -u | tr '\n' ' ')
is "$libs" "$inst/lib/heaptrace/libheaptrace.so " "installed launcher: the installed shim is the one mapped"
cexe=
c=$(collector_of "$prog") && cexe=$(readlink "/proc/$c/exe")
is "$cexe" "$inst/lib/heaptrace/heaptrace-collector" "installed launcher: the installed collector is the one started"
echo "work 2" >&"$iout"
read -r -t 30 line <&"$iin"
exec {iout}>&-
wait "$ipid"
is "$? $line" "0 work: 20 kept" "installed launcher, a running program: runs and exits 0"
"$inst/bin/heaptrace-report" --format collapsed --functions --sample-index inuse_objects \
	inst3.heap 2>&1 | grep -q ';keep_site 20$'
check $? "installed launcher, a running program: exact at rate 1 (keep_site keeps 20 objects)"
cd "$work" || exit 2

done_testing
