#!/usr/bin/env bash
# pprof's call graph of real runs of a traced program (tests/progs/retain):
# --format dot is read by Graphviz (dot -Tcanon), its top node's figures
# and interval are the text report's, its nodes and edges are those that
# go tool pprof -dot draws from heaptrace's pprof export of the same
# snapshot, --format png is a PNG and graph-svg an SVG drawn by Graphviz,
# a diff colours what shrank green, the pruning options work, and a
# missing dot is one line and no file. Prints TAP.
. "$(dirname "$0")/lib.sh"

if ! command -v dot >/dev/null 2>&1; then
	fail "Graphviz's dot is installed (scripts/deps.sh installs graphviz)"
	done_testing
fi
go_pprof_env

# snap NAME RATE ROUNDS: a final snapshot of tests/progs/retain
snap() {
	HEAPTRACE_RATE=$2 HEAPTRACE_OUTPUT=$work/$1.heap LD_PRELOAD=$lib \
		"$progs/retain" "$3" >/dev/null 2>>runs.err
	[ -s "$1.heap" ]
}
if ! snap r1 1 1 || ! snap r3 1 3 || ! snap rs 65536 40; then
	fail "three traced runs of tests/progs/retain leave snapshots"
	note runs.err
	done_testing
fi
pass "three traced runs of tests/progs/retain leave snapshots"

# canon FILE DESCRIPTION: Graphviz reads FILE
canon() {
	dot -Tcanon "$1" >"$1.canon" 2>"$1.err"
	check $? "$2: dot -Tcanon reads it"
	[ -s "$1.err" ] && note "$1.err"
}

# graph FILE: the node and edge statements of a DOT file (pprof's
# nodelets, "N1_0", left out), legend aside
graph() {
	grep -E '^N[0-9]+ (\[|-> N[0-9]+ \[)' "$1"
}

# ---- the sampled run: its top node against the text report ----
"$report" --format dot rs.heap >rs.dot 2>rs.dot.err
check $? "--format dot of a sampled run"
canon rs.dot "sampled run"
"$report" --top 1 rs.heap >rs.txt 2>&1
row=$(awk '/^ *flat / { getline; print; exit }' rs.txt)
read -r f fi fp _ c ci cp name <<<"$row"
case $fi in ±*) ;; *) fail "the text report of a sampled run has intervals"; note rs.txt ;; esac
if [ "$f" = "$c" ]; then
	want="\\n$f $fi ($fp)"
else
	want="\\n$f $fi ($fp)\\nof $c $ci ($cp)"
fi
line=$(grep -F "tooltip=\"$name (" rs.dot | grep -E '^N[0-9]+ \[')
label=$(printf '%s\n' "$line" | sed -n 's/^N[0-9]* \[label="\([^"]*\)".*/\1/p')
case $label in
*"$want") pass "top node '$name': flat, cum, ± and % as the text report's row ($f $fi $fp)" ;;
*) fail "top node '$name': flat, cum, ± and % as the text report's row"
   echo "#   label '$label', want it to end '$want'" ;;
esac
case $line in
N1\ \[*) pass "the largest node is drawn first, at 24 points" ;;
*) fail "the largest node is drawn first, at 24 points"; echo "#   $line" ;;
esac
grep -qF '\l±: 95% interval of the sampling error\l' rs.dot
check $? "the legend says what ± is"
grep -q "subgraph cluster_L { \"File: retain\" \[shape=box fontsize=16 label=\"File: retain\\\\lType: inuse_space\\\\l" rs.dot
check $? "pprof's legend: File:, Type:"

# ---- the exact run against go tool pprof -dot on the export ----
"$report" --format pprof -o r3.pb.gz r3.heap 2>/dev/null
# (pprof counts the block-size boxes it hangs under nodes, which heaptrace
# does not draw, against -nodecount: a count that cuts is compared apart)
for args in "" "-nodefraction=0 -edgefraction=0 -nodecount=0"; do
	go tool pprof -symbolize=none -dot -unit=B $args r3.pb.gz >pp.dot 2>>pprof.err
	# shellcheck disable=SC2086 # pprof's single-dash spellings are heaptrace's too
	"$report" --format dot --functions --unit B $args r3.heap >ht.dot 2>/dev/null
	graph pp.dot >pp.graph
	graph ht.dot >ht.graph
	if [ -s pp.graph ] && diff -u pp.graph ht.graph >graph.diff; then
		pass "as go tool pprof -dot ${args:-(defaults)}: $(grep -c -- ' -> ' ht.graph) edges, $(grep -vc -- ' -> ' ht.graph) nodes, same figures, order, colours, sizes"
	else
		fail "as go tool pprof -dot ${args:-(defaults)}"
		note graph.diff pprof.err
	fi
done
canon ht.dot "exact run"
"$report" --format dot --functions --unit B r3.heap >ht.dot 2>/dev/null
grep -q '\\lDropped 6 nodes (cum <= 16520B)\\l' ht.dot && [ "$(graph ht.dot | grep -vc -- ' -> ')" -eq 7 ]
check $? "--nodefraction 0.005 by default: 7 nodes; the legend says what was dropped"
"$report" --format dot --functions --unit B --nodecount 4 r3.heap >ht4.dot 2>/dev/null
graph ht4.dot | grep -v -- ' -> ' | sed 's/ \[.*tooltip="\([^"]*\) ([0-9]*B)".*/ \1/' | tr '\n' ' ' >ht4.nodes
is "$(cat ht4.nodes)" "N1 site_b N2 _start N3 work N4 site_a " \
	"--nodecount 4: the four nodes of highest entropy score, the ends of the graph first"
grep -q '\\lShowing top 4 nodes out of 7\\l' ht4.dot && grep -q 'tooltip="_start \.\.\. work (3300000B)".*style="dotted"' ht4.dot
check $? "--nodecount 4: the legend says so; _start ... work is a dotted residual edge"

# ---- drawn by Graphviz ----
"$report" --format png -o rs.png rs.heap 2>png.err
check $? "--format png -o FILE"
head -c 8 rs.png | od -An -tx1 | tr -d ' \n' >magic
is "$(cat magic)" "89504e470d0a1a0a" "the file is a PNG"
size=$(stat -c %s rs.png)
[ "$size" -gt 10000 ]
check $? "the PNG is not trivial ($size bytes)"
ls -a | grep -q 'ht-tmp'
check $((!$?)) "no temporary file left behind"
"$report" -png rs.heap >stdout.png 2>/dev/null
cmp -s rs.png stdout.png
check $? "pprof's -png, to standard output: the same image"
"$report" --format graph-svg -o rs.svg rs.heap 2>/dev/null
check $? "--format graph-svg"
fn=${name%% *}
grep -q '^<svg ' rs.svg && grep -q "^<!-- Generated by graphviz" rs.svg &&
	grep -qF ">$fn</text>" rs.svg && tail -1 rs.svg | grep -q '^</svg>$'
check $? "an SVG drawn by Graphviz, with the top function '$fn'"

# a terminal gets no PNG (script(1) gives the command one)
script -qec "'$report' --format png rs.heap" /dev/null >tty.out 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "not writing a PNG image to a terminal (use -o FILE)" tty.out &&
	! grep -q IHDR tty.out
check $? "--format png to a terminal: refused, exit 1 (exit $rc)"

# ---- a diff: what shrank is green ----
"$hdiff" --format dot r3.heap r1.heap >d.dot 2>/dev/null
check $? "heaptrace-diff --format dot"
canon d.dot "diff"
line=$(grep -E '^N[0-9]+ \[' d.dot | grep -F 'tooltip="site_b ')
fill=$(printf '%s\n' "$line" | sed -n 's/.*fillcolor="#\(..\)\(..\)..".*/\1 \2/p')
read -r red green <<<"$fill"
[ -n "$green" ] && [ $((16#$green)) -gt $((16#$red)) ] && printf '%s\n' "$line" | grep -q 'label="site_b[^"]*\\n-'
check $? "site_b, which shrank, is a negative green node (fill #$red$green..)"
grep -qF '\lType: inuse_space, current minus base\l' d.dot
check $? "the diff's legend says so"
"$hdiff" --format png -o d.png r1.heap r3.heap 2>/dev/null && [ "$(head -c 4 d.png | od -An -c | tr -d ' ')" = '211PNG' ]
check $? "heaptrace-diff --format png"

# ---- options ----
"$report" --nodefraction 0.1 rs.heap >o.out 2>o.err
is "$?:$(cat o.err)" "2:heaptrace-report: option '--nodefraction' applies to the graph formats (dot, png, graph-svg), not 'text'" \
	"--nodefraction with the text format: a usage error"
for t in "$report" "$hdiff"; do
	"$t" --help | grep -q '^  --nodefraction F ' && "$t" --help | grep -q '^  --edgefraction F '
	check $? "$(basename "$t") --help lists --nodefraction and --edgefraction"
done

# ---- without Graphviz ----
PATH=/nonexistent "$report" --format png -o none.png rs.heap >none.out 2>none.err
rc=$?
is "$rc:$(cat none.err)" "1:heaptrace-report: cannot run Graphviz's 'dot' to draw the graph: not found in PATH (install the graphviz package)" \
	"no dot in PATH: one line, exit 1"
[ ! -e none.png ] && ! ls -a | grep -q 'ht-tmp'
check $? "no dot in PATH: no file written"

done_testing
