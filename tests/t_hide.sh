#!/usr/bin/env bash
# --hide and --traces on real runs: a C++ program with its own operator
# new (tests/progs/hidenew) and a C program with git's xmalloc and xstrdup
# (tests/progs/xwrap), traced at rate 1 so that every figure is exact.
# The built-in list moves the flat column to the callers, --hide '' shows
# the wrappers, a custom --hide hides what it matches, every format gets
# it, a stack of hidden frames keeps its leaf, --traces adds up to the
# report's totals. Prints TAP.
. "$(dirname "$0")/lib.sh"

for p in hidenew xwrap; do
	HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$work/$p.heap traced -- "$progs/$p" >/dev/null 2>>run.err
done
if [ ! -s hidenew.heap ] || [ ! -s xwrap.heap ]; then
	fail "the traced programs left their snapshots"
	note run.err
	done_testing
fi
pass "two snapshots, of hidenew and xwrap"

# flat FILE NAME [ARGS]: the flat inuse_space of function NAME (the sum of
# the collapsed stacks whose leaf it is); "absent" if it is no leaf
flat() {
	local f=$1 name=$2
	shift 2
	"$report" --functions --format collapsed "$@" "$f" | awk -v want="$name" '
		{ v = $NF; s = substr($0, 1, length($0) - length(v) - 1)
		  k = split(s, fr, ";"); if (fr[k] == want) { sum += v; seen = 1 } }
		END { if (seen) print sum; else print "absent" }'
}
# hidden_line ARGS: the "Hidden:" line of the text report
hidden_line() { "$report" "$@" | grep '^Hidden:'; }

# ---- C++: operator new ----
is "$(flat hidenew.heap load_table)" 100000 "default list: load_table's new[] is its own flat"
is "$(flat hidenew.heap make_nodes)" 19200 "default list: make_nodes's new is its own flat"
is "$(flat hidenew.heap 'operator new[]')" absent "default list: operator new[] has no flat"
is "$(hidden_line hidenew.heap)" \
	"Hidden: operator new, operator new[] (the built-in list; --hide '' shows them)" \
	"the header names what the built-in list hid"
is "$(flat hidenew.heap 'operator new[](unsigned long)' --hide '')" 100000 \
	"--hide '': operator new[] takes the flat column"
is "$(flat hidenew.heap 'operator new(unsigned long)' --hide '')" 19200 \
	"--hide '': operator new takes the flat column"
is "$(flat hidenew.heap load_table --hide '')" absent "--hide '': load_table has no flat"
is "$("$report" --hide '' hidenew.heap | grep -c '^Hidden:')" 0 "--hide '': no Hidden: line"
is "$(flat hidenew.heap _Znam --no-demangle)" absent "--no-demangle: _Znam is on the list too"
is "$(flat hidenew.heap load_table --no-demangle)" 100000 "--no-demangle: load_table has its flat"
is "$(flat hidenew.heap _Znam --no-demangle --hide '')" 100000 "--no-demangle --hide '': _Znam shown"
is "$(hidden_line --no-demangle hidenew.heap)" \
	"Hidden: _Znam, _Znwm (the built-in list; --hide '' shows them)" "--no-demangle: the header's names are raw"
# a custom regex replaces the list
is "$(flat hidenew.heap main --hide 'load_table|make_nodes')" absent \
	"custom --hide: the list is not applied (operator new stays the leaf)"
is "$(flat hidenew.heap 'operator new[](unsigned long)' --hide 'load_table|make_nodes')" 100000 \
	"custom --hide: the flat column stays with operator new[]"
"$report" --functions --format collapsed --hide 'load_table|make_nodes' hidenew.heap >custom.txt
! grep -q 'load_table\|make_nodes' custom.txt && grep -q ';main;operator new\[\](unsigned long) 100000$' custom.txt
check $? "custom --hide: the matching frames are gone from the stacks"
is "$(hidden_line --hide 'load_table|make_nodes' hidenew.heap)" \
	"Hidden: load_table, make_nodes (--hide 'load_table|make_nodes')" \
	"custom --hide: the header names what it hid"

# ---- C: xmalloc, xstrdup over strdup ----
is "$(flat xwrap.heap read_config)" 100000 "xmalloc hidden: read_config's flat"
is "$(flat xwrap.heap intern_names)" 6400 "xstrdup and strdup hidden: intern_names's flat"
is "$(flat xwrap.heap xmalloc --hide '')" 100000 "--hide '': xmalloc's flat"
is "$(hidden_line xwrap.heap)" \
	"Hidden: __strdup, xmalloc, xstrdup (the built-in list; --hide '' shows them)" \
	"the header names xmalloc, xstrdup and strdup"
# a stack whose frames all match keeps its leaf: '.' matches every frame
"$report" --functions --format collapsed --hide . xwrap.heap >leaves.txt
"$report" --functions --format collapsed --hide '' xwrap.heap |
	awk '{ v = $NF; s = substr($0, 1, length($0) - length(v) - 1); k = split(s, fr, ";")
	       print fr[k], v }' | sort >leaves.want
sort leaves.txt >leaves.got
if ! grep -q ';' leaves.txt && [ -s leaves.got ] && cmp -s leaves.got leaves.want; then
	pass "--hide . hides every frame: each stack keeps only its leaf"
else
	fail "--hide . hides every frame: each stack keeps only its leaf"
	diff leaves.want leaves.got | note /dev/stdin
fi

# a filter on a function the list hid says why it finds nothing
"$report" --peek xmalloc xwrap.heap >peek.txt
grep -q "^note: --peek 'xmalloc' matches xmalloc, which the built-in list hid: --hide '' shows it$" peek.txt
check $? "--peek of a hidden function: a note says --hide '' shows it"
"$report" --hide '' --peek xmalloc xwrap.heap | grep -q '^ *97.66kB .* | xmalloc xwrap.c:13$'
check $? "--hide '' --peek xmalloc: its row"

# ---- every format ----
for fmt in tree collapsed svg json dot traces; do
	"$report" --format $fmt xwrap.heap >f.$fmt 2>/dev/null
	"$report" --format $fmt --hide '' xwrap.heap >g.$fmt 2>/dev/null
	! grep -q 'xmalloc xwrap' f.$fmt && grep -q 'xmalloc xwrap' g.$fmt
	check $? "--format $fmt: xmalloc hidden by default, shown with --hide ''"
done
grep -q 'id="sub".*Hidden: __strdup, xmalloc, xstrdup' f.svg
check $? "svg: the subtitle says what was hidden"
grep -q '"hidden": \["__strdup", "xmalloc", "xstrdup"\]' f.json && grep -q '"hidden": \[\]' g.json
check $? "json: \"hidden\" lists what was hidden"
grep -q '\\lHidden: __strdup, xmalloc, xstrdup' f.dot
check $? "dot: the legend says what was hidden"
"$hdiff" --series hidenew.heap xwrap.heap >series.txt 2>&1
grep -q '^Hidden: __strdup, operator new, operator new\[\], xmalloc, xstrdup (the built-in' series.txt &&
	! grep -q 'xmalloc xwrap' series.txt
check $? "heaptrace-diff --series: hidden, and the header says so"
"$hdiff" --functions --format collapsed hidenew.heap xwrap.heap >d.txt
grep -q ';read_config 100000$' d.txt && grep -q ';load_table -100000$' d.txt &&
	! grep -q 'xmalloc\|operator new' d.txt
check $? "heaptrace-diff: both sides hidden"
"$hdiff" --hide 'xmalloc' hidenew.heap xwrap.heap | grep -q "^Hidden: xmalloc (--hide 'xmalloc')$"
check $? "heaptrace-diff --hide: the header"
"$report" --format heap_v2 xwrap.heap >v2.def
"$report" --format heap_v2 --hide '' xwrap.heap >v2.none
a=$(awk '/^50: 100000 / { print NF }' v2.def) b=$(awk '/^50: 100000 / { print NF }' v2.none)
[ -n "$a" ] && [ "$b" = $((a + 1)) ]
check $? "heap_v2: the address of xmalloc is left out ($a and $b fields)"

# ---- --traces ----
"$report" --traces --hide '' xwrap.heap >traces.txt
is "$(grep -c '^trace ' traces.txt)" 3 "--traces: one trace per stack"
awk '/^trace 1 / { t = 1; next } t && /^\t/ { print substr($0, 2) } /^trace 2 / { exit }' \
	traces.txt | head -3 | tr '\n' '|' >first.txt
is "$(cat first.txt)" "xmalloc xwrap.c:13|read_config xwrap.c:35|main xwrap.c:46|" \
	"--traces: the largest first, its frames leaf first after a tab"
grep -q '^trace 1 value=100000 interval=0 inuse_space=100000 inuse_objects=50 alloc_space=100000 alloc_objects=50$' traces.txt
check $? "--traces: the trace line's fields"
grep -q '^# Type: inuse_space' traces.txt && ! grep -v '^#\|^trace \|^	' traces.txt | grep -q .
check $? "--traces: the header after '# ', then only trace and frame lines"
# the totals of each index are the report's
for idx in inuse_space inuse_objects alloc_space alloc_objects; do
	for f in xwrap hidenew; do
		t=$("$report" -traces -sample_index=$idx $f.heap | awk -v k=$idx '/^trace / {
			for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) s += kv[2]
			if (kv[1] == "value") v += kv[2] } } END { print s "/" v }')
		j=$("$report" --format json --sample-index $idx $f.heap |
		    sed -n 's/.*"total": {"value": \([0-9]*\),.*/\1/p')
		is "$t" "$j/$j" "--traces $f $idx: adds up to the report's total"
	done
done
"$report" --traces --top 1 xwrap.heap | grep -c '^trace ' >top1.txt
is "$(cat top1.txt)" 1 "--traces --top 1: one trace"
"$hdiff" --traces --functions hidenew.heap xwrap.heap | grep -q '^trace 1 value=-100000 .*inuse_space=-100000 '
check $? "heaptrace-diff --traces: signed changes"

# --peak: the traces at the peak, when asked for (tests/progs/churn holds one
# 64 kB block at a time, and nothing at the end)
HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$work/churn.heap traced -- "$progs/churn" >/dev/null 2>>run.err
"$report" --traces churn.heap >nopeak.txt
"$report" --traces --peak churn.heap >peak.txt
! grep -q '^# Peak:' nopeak.txt && ! grep -q 'inuse_space=65536' nopeak.txt &&
	grep -q '^# Peak: 64.00kB in use at the peak, .*; the traces show the peak$' peak.txt &&
	grep -q '^trace 1 value=65536 interval=0 inuse_space=65536 inuse_objects=1 ' peak.txt
check $? "--traces --peak: in use at the peak, and the header says so; not without --peak"

# ---- bad input ----
"$report" --hide 'a(' xwrap.heap >bad.out 2>bad.err
rc=$?
is "$rc:$(wc -l <bad.err):$(wc -c <bad.out)" "2:1:0" "a bad --hide regex: exit 2, one line"
grep -q "^heaptrace-report: invalid --hide regex 'a(': " bad.err
check $? "the line says what is wrong: $(cat bad.err)"
"$hdiff" --hide '[' xwrap.heap xwrap.heap >/dev/null 2>bad.err
is "$?:$(wc -l <bad.err)" "2:1" "heaptrace-diff: a bad --hide regex: exit 2, one line"
"$report" --help | grep -q -- '--hide REGEX' && "$report" --help | grep -q -- '--traces'
check $? "--help lists --hide and --traces"
done_testing
