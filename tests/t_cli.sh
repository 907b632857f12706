#!/usr/bin/env bash
# End-to-end test of heaptrace-report and heaptrace-diff: fixed snapshots
# (written by tests/test_report --write-fixtures) against the golden outputs
# in tests/golden/, then bad inputs and options. Prints TAP.
#   HT_UPDATE_GOLDEN=1 tests/t_cli.sh   rewrites the golden files that
#   differ, says which, and fails: an update is never a pass (read the
#   diff with git, then run again without the variable)
. "$(dirname "$0")/lib.sh"
fixw=${HT_FIXTURE_WRITER:-$top/tests/test_report}
golden=$top/tests/golden


if ! "$fixw" --write-fixtures . >fixtures.log 2>&1; then
	fail "write fixtures"
	sed 's/^/# /' fixtures.log
	echo "1..$n"
	exit 1
fi
pass "write fixtures"

# golden NAME TOOL ARGS...: stdout must equal tests/golden/NAME, stderr empty,
# exit 0. File names are relative, so the headers do not depend on $work.
golden() {
	local name=$1
	shift
	"$@" >"out.$name" 2>"err.$name"
	local rc=$?
	if [ -n "$HT_UPDATE_GOLDEN" ] && [ $rc -eq 0 ] && ! cmp -s "out.$name" "$golden/$name"; then
		mkdir -p "$golden" && cp "out.$name" "$golden/$name"
		fail "$name: updated tests/golden/$name (HT_UPDATE_GOLDEN is set)"
		return
	fi
	if [ $rc -ne 0 ]; then
		fail "$name: exit $rc"
		sed 's/^/# /' "err.$name"
	elif ! diff -u "$golden/$name" "out.$name" >"diff.$name"; then
		fail "$name: differs from tests/golden/$name"
		sed 's/^/# /' "diff.$name"
	else
		pass "$name: matches tests/golden/$name"
	fi
}

golden report_top.txt "$report" cur.heap
golden report_top3_alloc_objects.txt "$report" --sample-index alloc_objects --top 3 cur.heap
golden report_functions.txt "$report" --functions --top=0 cur.heap
golden report_collapsed.txt "$report" --format collapsed cur.heap
golden report_collapsed_files.txt "$report" --format=collapsed --files cur.heap
golden report_final.txt "$report" final.heap
golden diff_top.txt "$hdiff" base.heap cur.heap
golden diff_verbose.txt "$hdiff" --verbose base.heap cur.heap
golden diff_objects.txt "$hdiff" --inuse_objects --top 0 base.heap cur.heap
golden diff_collapsed.txt "$hdiff" --format collapsed base.heap cur.heap
golden report_tree.txt "$report" --tree --top 4 cur.heap
golden report_peek.txt "$report" --peek 'walk|^Cache' cur.heap
golden report_focus_ignore.txt "$report" --functions --focus parse_config --ignore strdup cur.heap
golden report_unit_bytes.txt "$report" --unit B --nodecount 3 cur.heap
golden report_heap_v2.txt "$report" --format heap_v2 cur.heap
golden diff_noise.txt "$hdiff" step1.heap step4.heap
golden diff_peek.txt "$hdiff" --hide '' --peek xmalloc --functions base.heap cur.heap
golden series.txt "$hdiff" --series step1.heap step2.heap step3.heap step4.heap
golden series_objects.txt "$hdiff" --series --inuse_objects --functions --top 3 \
	step1.heap step2.heap step3.heap step4.heap

# Binary and SVG outputs: through -o, complete, nothing on stdout.
"$report" --format pprof -o out.pb.gz cur.heap >stdout.txt 2>err.txt
[ $? -eq 0 ] && [ ! -s stdout.txt ] && [ "$(head -c 2 out.pb.gz | od -An -tx1 | tr -d ' ')" = 1f8b ]
check $? "pprof: a gzip file through -o"
"$report" --format pprof cur.heap | cmp -s - out.pb.gz
check $? "pprof: the same bytes on a pipe"
"$hdiff" --format svg -o out.svg base.heap cur.heap 2>err.txt
[ $? -eq 0 ] && head -1 out.svg | grep -q '^<?xml' && tail -1 out.svg | grep -q '^</svg>$'
check $? "svg: a whole document through -o"
grep -q '^heaptrace-diff: warning: base: 3 sampled events were dropped; figures are low$' err.txt
check $? "svg: dropped events warned about on stderr"
"$hdiff" --series --format svg -o series.svg step1.heap step2.heap step3.heap step4.heap
[ $? -eq 0 ] && grep -c '<polyline' series.svg | grep -qx 5
check $? "series svg: a line per stack"

# -o: the same bytes as stdout, nothing else left in the directory.
mkdir odir
"$report" -o odir/out.txt cur.heap 2>err.txt
check $? "-o: exit 0"
cmp -s odir/out.txt "$golden/report_top.txt"
check $? "-o: file equals the golden stdout"
"$report" -o odir/out.txt --functions cur.heap 2>err.txt
cmp -s odir/out.txt "$golden/report_functions.txt"
check $? "-o: an existing file is replaced"
"$hdiff" --format collapsed --output=odir/out2.txt base.heap cur.heap 2>/dev/null
cmp -s odir/out2.txt "$golden/diff_collapsed.txt"
check $? "--output=: diff to a file"
[ "$(ls -A odir | tr '\n' ' ')" = "out.txt out2.txt " ]
check $? "-o: no temporary files left"
"$report" -o - cur.heap >out.dash 2>/dev/null
cmp -s out.dash "$golden/report_top.txt"
check $? "-o -: standard output"

# Warnings reach the user even without a text header.
"$hdiff" --format collapsed base.heap cur.heap 2>err.txt >/dev/null
grep -q '^heaptrace-diff: warning: base: 3 sampled events were dropped; figures are low$' err.txt
check $? "collapsed: dropped events warned about on stderr"

"$report" --help >help.txt 2>&1
[ $? -eq 0 ] && grep -q '^usage: heaptrace-report' help.txt
check $? "--help: usage, exit 0"
"$hdiff" -h >help.txt 2>&1
[ $? -eq 0 ] && grep -q '^usage: heaptrace-diff' help.txt
check $? "-h: usage, exit 0"

# Bad inputs. The truncated file keeps the header of a good one; "junk"
# is a valid header followed by random bytes.
head -c "$(($(wc -c <cur.heap) / 2))" cur.heap >truncated.heap
: >empty.heap
{ head -c 24 cur.heap; cat random.heap; } >junk.heap

# fails STATUS DESCRIPTION TOOL ARGS...: exits STATUS, one line on stderr
# starting with the tool name, nothing on stdout, nothing left in the -o
# directory (not even a temporary file).
fails() {
	local want=$1 what=$2 tool=$3
	shift 3
	rm -rf edir && mkdir edir
	"$tool" -o edir/o.txt "$@" >stdout.txt 2>stderr.txt
	local rc=$? name
	name=$(basename "$tool")
	if [ $rc -ne "$want" ]; then
		fail "$what: exit $rc, want $want"
		sed 's/^/# /' stderr.txt
	elif [ "$(wc -l <stderr.txt)" -ne 1 ] || ! grep -q "^$name: " stderr.txt; then
		fail "$what: want one line on stderr"
		sed 's/^/# /' stderr.txt
	elif [ -s stdout.txt ] || [ -n "$(ls -A edir)" ]; then
		fail "$what: output left behind"
	else
		pass "$what: $(cat stderr.txt)"
	fi
}

fails 1 "nonexistent file" "$report" missing.heap
fails 1 "truncated file" "$report" truncated.heap
fails 1 "random bytes" "$report" random.heap
fails 1 "random bytes after a header" "$report" junk.heap
fails 1 "empty file" "$report" empty.heap
fails 1 "a directory" "$report" .
fails 1 "diff: bad base" "$hdiff" empty.heap cur.heap
fails 1 "diff: bad current" "$hdiff" base.heap truncated.heap
fails 2 "unknown option" "$report" --frobnicate cur.heap
fails 2 "bad --sample-index" "$report" --sample-index=inuse_bytes cur.heap
fails 2 "missing --sample-index value" "$report" cur.heap --sample-index
fails 2 "bad --top" "$report" --top=many cur.heap
fails 2 "unknown format" "$report" --format svgz cur.heap
fails 2 "bad --focus regex" "$report" --focus 'a(' cur.heap
fails 2 "bad --unit" "$report" --unit furlongs cur.heap
fails 2 "--peek with collapsed" "$report" --peek main --format collapsed cur.heap
fails 2 "--series in heaptrace-report" "$report" --series cur.heap base.heap
fails 2 "--series of one file" "$hdiff" --series cur.heap
fails 2 "--series as pprof" "$hdiff" --series --format pprof base.heap cur.heap final.heap
fails 2 "heap_v2 of a diff" "$hdiff" --format heap_v2 base.heap cur.heap
fails 1 "series: one bad file" "$hdiff" --series base.heap cur.heap truncated.heap
fails 2 "no file" "$report"
fails 2 "diff: one file" "$hdiff" cur.heap
fails 2 "diff: bad option" "$hdiff" --sample-index alloc base.heap cur.heap

"$report" -o no/such/dir/out.txt cur.heap >stdout.txt 2>stderr.txt
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <stderr.txt)" -eq 1 ] && grep -q "^heaptrace-report: .*no/such/dir/out.txt" stderr.txt
check $? "unwritable -o: exit 1, one line naming the file"

# /dev/full is on every Linux system: without it this check fails
"$report" cur.heap >/dev/full 2>stderr.txt
rc=$?
[ $rc -eq 1 ] && grep -q "^heaptrace-report: cannot write" stderr.txt
check $? "stdout full: exit 1, reported"

# --format json: valid JSON, the same rows as the text table, every
# figure inside its own interval, the diff's noise flags as the text's '~'
"$report" --format json cur.heap >r.json
check $? "report --format json"
"$report" --top 0 cur.heap >r.txt
python3 - r.json r.txt <<'PY' >json.check
import json, sys
d = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read().split('\n')
names = [l.split('  ')[-1] for l in text[text.index(next(l for l in text if l.lstrip().startswith('flat'))) + 1:] if l.strip()]
bad = []
if d["format"] != "heaptrace-report/1" or d["diff"] or d["type"] != "inuse_space": bad.append("header keys")
if [r["name"] for r in d["rows"]] != names: bad.append("rows differ from the text table")
for r in d["rows"]:
    for k in ("flat", "cum"):
        if not (0 <= r[k + "_lo"] <= r[k] <= r[k + "_hi"]): bad.append("%s %s outside its interval" % (r["name"], k))
t = d["total"]
if not (t["value_lo"] <= t["value"] <= t["value_hi"]) or t["exact"] is not None: bad.append("total")
if d["detection_limit_bytes"] != round(524288 * 2.995732273553991): bad.append("detection limit")
print("; ".join(bad) if bad else "good %d rows" % len(d["rows"]))
PY
is "$(sed 's/ [0-9]* rows$//' json.check)" good "json report: rows as the text's, each inside its interval ($(cat json.check))"
"$hdiff" --format json --sample-index inuse_objects base.heap cur.heap >d.json
check $? "diff --format json"
"$hdiff" --top 0 --sample-index inuse_objects base.heap cur.heap >d.txt 2>/dev/null
python3 - d.json d.txt <<'PY' >json.check
import json, sys
d = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read().split('\n')
start = text.index(next(l for l in text if l.lstrip().startswith('flat'))) + 1
marks = {l.split('  ')[-1]: l.split()[0].endswith('~') for l in text[start:] if l.strip()}
bad = []
if not d["diff"] or [s["role"] for s in d["snapshots"]] != ["base", "current"]: bad.append("diff keys")
for r in d["rows"]:
    if r["noise"] != marks.get(r["name"]): bad.append("%s: noise %s, text %s" % (r["name"], r["noise"], marks.get(r["name"])))
    if not (r["flat_lo"] <= r["flat"] <= r["flat_hi"]): bad.append(r["name"])
if d["total"]["exact"] != 100: bad.append("exact change %s" % d["total"]["exact"])
print("; ".join(bad) if bad else "good")
PY
is "$(cat json.check)" good "json diff: noise flags as the text's marks, exact change of live objects"

done_testing
