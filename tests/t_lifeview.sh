#!/usr/bin/env bash
# Time in the heap from the command line: the views of the cells and the
# temporary indexes refuse files written before them with one line, and
# the pprof export carries the temporary blocks as sample types and ages
# and lifetimes as numeric labels that go tool pprof filters on
# (-tagfocus). The export is made from a hand-built snapshot with known
# cells (tests/test_lifeview --write-fixtures). Prints TAP.
. "$(dirname "$0")/lib.sh"
fixw=$top/tests/test_lifeview
corpus=$top/tests/corpus

# files before cells: every view and index that needs them says so
for v in lifetimes age sizes; do
	"$report" --$v $corpus/cur.heap >out.txt 2>err.txt
	is "$?:$(cat err.txt)" "1:heaptrace-report: option '--$v': the snapshot has no lifetimes, ages or sizes (an older heaptrace wrote it)" \
		"--$v of an older snapshot says it has none"
	[ -s out.txt ]; check $((! $?)) "--$v of an older snapshot: no output"
done
"$report" --sample_index=temp_space $corpus/cur.heap >out.txt 2>err.txt
is "$?:$(cat err.txt)" "1:heaptrace-report: sample index 'temp_space': '$corpus/cur.heap' has no temporary blocks (an older heaptrace wrote it)" \
	"temp_space of an older snapshot: refused"
"$hdiff" --temp_objects $corpus/base.heap $corpus/cur.heap >out.txt 2>err.txt
is "$?:$(cat err.txt)" "1:heaptrace-diff: sample index 'temp_objects': '$corpus/base.heap' has no temporary blocks (an older heaptrace wrote it)" \
	"heaptrace-diff --temp_objects of older snapshots: refused"
"$hdiff" --series -sample_index=temp_space $corpus/base.heap $corpus/cur.heap >out.txt 2>err.txt
check $(( $? != 1 )) "heaptrace-diff --series temp_space of older snapshots: refused"
"$report" --temporary-under 1ms --temp_space $corpus/cur.heap >out.txt 2>err.txt
is "$?:$(cat err.txt)" "1:heaptrace-report: option '--temporary-under': the snapshot has no lifetimes, ages or sizes (an older heaptrace wrote it)" \
	"--temporary-under of an older snapshot: refused"
"$report" --format svg --color age $corpus/cur.heap >out.txt 2>err.txt
check $(( $? != 1 )) "--color age of an older snapshot: refused"

# usage errors
"$report" --lifetimes --format json $corpus/cur.heap 2>err.txt
is "$?:$(cat err.txt)" "2:heaptrace-report: option '--lifetimes' shows a text table, not format 'json'" \
	"--lifetimes is a text table"
"$report" --temporary-under 5 --temp_space $corpus/cur.heap 2>err.txt
is "$?:$(cat err.txt)" "2:heaptrace-report: invalid --temporary-under value '5' (expected a duration: 100us, 1ms, 2s, 1min)" \
	"--temporary-under wants a unit"
"$report" --temporary-under 1ms $corpus/cur.heap 2>err.txt
check $(( $? != 2 )) "--temporary-under without a temp index: a usage error"
for o in lifetimes age sizes temporary-under color temp_space temp_objects; do
	"$report" --help | grep -q -- "--$o" || [ $o = temp_space ] || [ $o = temp_objects ]
	check $? "--help lists --$o"
	grep -q -- "$(echo "$o" | sed 's/-/\\\\-/g')" $top/man/heaptrace-report.1
	check $? "heaptrace-report(1) documents $o"
done

# the pprof export, read by go tool pprof
go_pprof_env
pp() { go tool pprof -symbolize=none "$@" 2>>pprof.err; }
# "accounting for N" of a -top in plain units
shown() { pp -top -unit=B "$@" | sed -n 's/^Showing nodes accounting for \([0-9.]*\)B*,.*/\1/p'; }

"$fixw" --write-fixtures "$work"
check $? "the fixture exports are written"
is "$(shown -sample_index=temp_space cells.pb.gz)" 3840 "pprof -sample_index=temp_space: churn's 60 blocks of 64 B"
is "$(shown -sample_index=temp_objects cells.pb.gz)" 60 "pprof -sample_index=temp_objects"
is "$(shown -sample_index=inuse_space cells.pb.gz)" 14352 "the in-use total is kept whole across the age samples"
is "$(shown -sample_index=alloc_objects cells.pb.gz)" 116 "the allocation total across the lifetime samples"
# the leak's 6 blocks of 1000 B are 5000 s old or more; nothing else is over an hour
is "$(shown -sample_index=inuse_space -tagfocus=age=3600s: cells.pb.gz)" 6000 \
	"pprof -tagfocus=age=3600s: selects only the bytes older than an hour"
is "$(shown -sample_index=inuse_space -tagfocus=age=1hr: cells.pb.gz)" 6000 \
	"pprof -tagfocus=age=1hr: the same"
pp -top -sample_index=inuse_space -tagfocus=age=3600s: cells.pb.gz | grep -q ' leak$'
check $? "... and they are the leak's"
# freed within 1 ms: the lifetime labels are the buckets' lower edges
is "$(shown -sample_index=alloc_objects -tagfocus=lifetime=:999us cells.pb.gz)" 80 \
	"pprof -tagfocus=lifetime=:999us: the 80 blocks freed in under 1 ms"
is "$(shown -sample_index=temp_objects under1ms.pb.gz)" 80 \
	"with --temporary-under 1ms, pprof's temp_objects are the 80 blocks freed within 1 ms"
pp -top -sample_index=temp_space nocells.pb.gz >/dev/null
check $(( $? == 0 )) "an export without cells has no temp_space"
done_testing
