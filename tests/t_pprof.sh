#!/usr/bin/env bash
# The pprof export, checked by a real client: go tool pprof (Debian's
# golang-go) must read every profile heaptrace writes, and its figures must
# equal heaptrace's own: the totals of each sample index, the flat and cum
# of every function, the same for `go tool pprof -base` of two exports
# against heaptrace-diff, and for heaptrace-diff's own export. Fixture
# snapshots (tests/test_report --write-fixtures) and real runs of
# tests/progs/retain under the shim, exact (rate 1) and sampled. Prints TAP.
. "$(dirname "$0")/lib.sh"
fixw=${HT_FIXTURE_WRITER:-$top/tests/test_report}
go_pprof_env

pp() { go tool pprof -symbolize=none "$@" 2>>pprof.err; }

# The sum of one sample index over a profile's samples (go tool pprof -raw).
pp_total() {
	pp -raw "$1" | awk -v want="$2" '
		/^Samples:/ { s = 1; next }
		s == 1 { for (i = 1; i <= NF; i++) { t = $i; sub(/\/.*/, "", t); col[t] = i }
			 s = 2; next }
		s == 2 && /^ *-?[0-9]+( +-?[0-9]+)*:/ { sub(/:.*/, ""); split($0, v, " ");
			 sum += v[col[want]]; next }
		s == 2 && /^[A-Z]/ { s = 3 }
		END { printf "%.0f\n", sum }'
}

# heaptrace's "of NB total" (or the signed "accounting for" with -a).
ht_total() {
	local what=total
	[ "$1" = -a ] && what=shown && shift
	"$@" --unit B 2>/dev/null | awk -v what=$what '
		/^Showing nodes accounting for / {
			t = what == "total" ? $(NF - 1) : $5
			gsub(/[B,+]/, "", t); print t + 0 }'
}

# "name flat cum" for every function row of a pprof -top (unit bytes).
pp_funcs() {
	pp -top -nodecount=1000000 -nodefraction=0 -edgefraction=0 -unit=B "$@" |
	awk '/^ *flat  *flat%/ { on = 1; next }
	     on && NF >= 6 { name = $6; for (i = 7; i <= NF; i++) name = name " " $i
			     sub(/ \(inline\)$/, "", name)
			     f = $1; c = $4; gsub(/B/, "", f); gsub(/B/, "", c)
			     if (name !~ /^[[<]/ && name !~ /^0x/ && (f != 0 || c != 0))
				print name "\t" f + 0 "\t" c + 0 }' | LC_ALL=C sort
}

# The same from heaptrace's text top (--functions, every row, unit bytes):
# the values are the tokens before the name that are not percentages or
# intervals; frames without symbols are left out (pprof names them otherwise).
ht_funcs() {
	"$@" --functions --top 0 --unit B 2>/dev/null |
	awk '/^ *flat / { on = 1; next }
	     on { i = index($0, "%  ")
		  while ((j = index(substr($0, i + 1), "%  ")) > 0)
			i += j
		  name = substr($0, i + 3)
		  nt = split(substr($0, 1, i), t, " ")
		  nv = 0
		  for (x = 1; x <= nt; x++)
			if (t[x] !~ /%$/ && t[x] !~ /^±/)
				v[++nv] = t[x]
		  f = v[1]; c = v[2]; gsub(/[B~+]/, "", f); gsub(/[B~+]/, "", c)
		  if (name !~ /^0x/ && name !~ /\+0x[0-9a-f]+$/ && (f != 0 || c != 0))
			print name "\t" f + 0 "\t" c + 0 }' | LC_ALL=C sort
}

# same_funcs WHAT FILE_A FILE_B: the function tables agree.
same_funcs() {
	if [ ! -s "$2" ]; then
		fail "$1: no rows"
	elif diff -u "$2" "$3" >funcs.diff; then
		pass "$1 ($(wc -l <"$2") functions)"
	else
		fail "$1"
		sed 's/^/# /' funcs.diff
	fi
}

if ! "$fixw" --write-fixtures . >fixtures.log 2>&1; then
	fail "write fixtures"
	echo "1..$n"
	exit 1
fi

# ---- fixtures ----
for f in base cur step1 step4; do
	"$report" --format pprof -o $f.pb.gz $f.heap 2>/dev/null
done
pp -raw cur.pb.gz >cur.raw
check $? "go tool pprof reads the export"
grep -q '^PeriodType: space bytes$' cur.raw && grep -q '^Period: 524288$' cur.raw &&
	grep -q '^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes\[dflt\]$' cur.raw
check $? "sample types, inuse_space the default, period type space/bytes, period the rate"
grep -q '^ *[0-9]*: 0x555555555300 M=1 strdup_or_die /src/demo/util.c:7 s=0$' cur.raw &&
	grep -A1 '^ *[0-9]*: 0x555555555300 ' cur.raw | tail -1 | grep -q '^ *parse_config /src/demo/config.c:50 s=0$'
check $? "an inlined call: one location, two lines, with files and line numbers"
grep -q '^1: 0x555555554000/0x555555600000/0x0 /usr/bin/demo  \[FN\]\[FL\]\[LN\]\[IN\]$' cur.raw
check $? "mappings: the executable first, with its range and symbol flags"
pp -comments base.pb.gz | grep -q '^warning: 3 sampled events were dropped; figures are low$'
check $? "comments: the dropped events"

for idx in inuse_space inuse_objects alloc_space alloc_objects; do
	for f in cur base step4; do
		a=$(pp_total $f.pb.gz $idx)
		b=$(ht_total "$report" --sample-index $idx $f.heap)
		[ -n "$a" ] && [ "$a" = "$b" ]
		check $? "$f $idx: pprof total $a, heaptrace $b"
	done
	pp_funcs -sample_index=$idx cur.pb.gz >pp.txt
	ht_funcs "$report" --sample-index $idx cur.heap >ht.txt
	same_funcs "cur $idx: flat and cum per function" ht.txt pp.txt
done

# go tool pprof -base of two exports agrees with heaptrace-diff
for pair in "base cur" "step1 step4"; do
	set -- $pair
	pp_funcs -base $1.pb.gz $2.pb.gz >pp.txt
	ht_funcs "$hdiff" $1.heap $2.heap >ht.txt
	same_funcs "-base $1 $2: flat and cum per function" ht.txt pp.txt
	a=$(pp -top -nodecount=1000000 -unit=B -base $1.pb.gz $2.pb.gz |
	    awk '/^Showing nodes accounting for/ { t = $5; gsub(/[B,]/, "", t); print t + 0 }')
	b=$(ht_total -a "$hdiff" --top 0 $1.heap $2.heap)
	[ -n "$a" ] && [ "$a" = "$b" ]
	check $? "-base $1 $2: the change, pprof $a, heaptrace $b"
	# heaptrace-diff's own export: what pprof -diff_base builds
	"$hdiff" --format pprof -o d.pb.gz $1.heap $2.heap 2>/dev/null
	pp_funcs d.pb.gz >pp2.txt
	same_funcs "heaptrace-diff --format pprof $1 $2: as -base" pp.txt pp2.txt
	a=$(pp_total d.pb.gz inuse_space)
	[ "$a" = "$b" ]
	check $? "heaptrace-diff --format pprof $1 $2: samples add up to the change ($a)"
done
pp -raw d.pb.gz | grep -q 'pprof::base:\[true\]'
check $? "diff export: base samples labelled pprof::base"

# --focus and --ignore apply to the export
"$report" --format pprof --focus walk --ignore 'Cache' -o f.pb.gz cur.heap
a=$(pp_total f.pb.gz inuse_space)
b=$(ht_total -a "$report" --top 0 --focus walk --ignore Cache cur.heap)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" -gt 0 ]
check $? "--focus/--ignore: pprof $a, heaptrace $b"

# ---- real runs of a traced program ----
shim=$top/preload/libheaptrace.so
prog=$top/tests/progs/retain
run() { # run NAME RATE ROUNDS
	HEAPTRACE_RATE=$2 HEAPTRACE_OUTPUT=$work/$1.heap LD_PRELOAD=$shim \
		"$prog" "$3" >/dev/null 2>>run.err
	[ -s "$1.heap" ]
}
if [ ! -e "$shim" ] || [ ! -x "$prog" ]; then
	fail "real runs: build the shim and tests/progs/retain first (make)"
elif ! run r1 1 1 || ! run r3 1 3 || ! run rs 65536 40; then
	fail "real runs: the traced program left no snapshot"
	sed 's/^/# /' run.err
else
	pass "real runs: three snapshots of tests/progs/retain"
	for f in r1 r3 rs; do
		"$report" --format pprof -o $f.pb.gz $f.heap 2>/dev/null
	done
	for idx in inuse_space inuse_objects alloc_space alloc_objects; do
		for f in r3 rs; do
			a=$(pp_total $f.pb.gz $idx)
			b=$(ht_total "$report" --sample-index $idx $f.heap)
			[ -n "$a" ] && [ "$a" = "$b" ]
			check $? "real $f $idx: pprof total $a, heaptrace $b"
		done
		pp_funcs -sample_index=$idx r3.pb.gz >pp.txt
		ht_funcs "$report" --sample-index $idx r3.heap >ht.txt
		same_funcs "real, exact, $idx: flat and cum per function" ht.txt pp.txt
	done
	grep -q site_a pp.txt && grep -q site_b pp.txt
	check $? "real: the allocating functions are named"
	pp_funcs -base r1.pb.gz r3.pb.gz >pp.txt
	ht_funcs "$hdiff" r1.heap r3.heap >ht.txt
	same_funcs "real -base, two runs (other addresses): as heaptrace-diff" ht.txt pp.txt
	"$hdiff" --format pprof -o rd.pb.gz r1.heap r3.heap 2>/dev/null
	pp_funcs rd.pb.gz >pp2.txt
	same_funcs "real heaptrace-diff --format pprof: as -base" pp.txt pp2.txt
	# the legacy text, exact: pprof reads the same totals
	"$report" --format heap_v2 -o r3.hv2 r3.heap
	a=$(pp -top -unit=B r3.hv2 | awk '/ of .* total$/ { t = $(NF - 1); gsub(/B/, "", t); print t }')
	b=$(ht_total "$report" r3.heap)
	[ -n "$a" ] && [ "$a" = "$b" ]
	check $? "heap_v2: go tool pprof reads it, total $a, heaptrace $b"
	# sampled, at stacks of mixed sizes (python3's allocator, real):
	# pprof and jeprof unsample heap_v2 by each stack's average size, which
	# reads low where sizes vary (jeprof: 10% low on alloc_space here), so
	# the export carries the estimates themselves; both readers' totals must
	# be heaptrace's for every index (to 0.1% and the units each rounds)
	PYTHONMALLOC=malloc HEAPTRACE_RATE=65536 HEAPTRACE_OUTPUT=$work/py.heap LD_PRELOAD=$shim \
		/usr/bin/python3 -c 'import json, os; d = [{"k": str(i) * (i % 50)} for i in range(60000)]; print(len(json.dumps(d))); os._exit(0)' \
		>/dev/null 2>>run.err
	wait_file py.heap # after _exit the collector writes it on its own
	"$report" --format heap_v2 -o py.hv2 py.heap
	check $? "heap_v2 of a sampled python3 run"
	for idx in inuse_space inuse_objects alloc_space alloc_objects; do
		b=$(ht_total "$report" --sample-index $idx py.heap)
		a=$(pp -top -unit=B -sample_index=$idx py.hv2 |
			awk '/ of .* total$/ { t = $(NF - 1); gsub(/B/, "", t); print t }')
		j=$(jeprof --text --$idx /usr/bin/python3 py.hv2 2>/dev/null |
			awk '/^Total: / { v = $2; if ($3 == "MB") v *= 1048576; print v; exit }')
		# jeprof prints bytes in MB to one decimal: 0.05 MB more
		[ -n "$a" ] && [ -n "$b" ] && [ -n "$j" ] && awk -v a="$a" -v b="$b" -v j="$j" -v i="$idx" \
			'function off(x) { d = x - b; return d < 0 ? -d : d }
			 BEGIN { exit !(b > 0 && off(a) <= 5 + b / 1000 &&
					off(j) <= 5 + b / 1000 + (i ~ /space$/ ? 52429 : 0)) }'
		check $? "heap_v2, sampled, mixed sizes, $idx: go tool pprof $a, jeprof $j, heaptrace $b"
	done
fi
# --hide: the export leaves out what heaptrace hides, so pprof's figures are
# heaptrace's; and pprof's own -hide on an export of every frame agrees
# with heaptrace's --hide (a C++ program's own operator new, exact)
if HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$work/hn.heap LD_PRELOAD=$shim \
	"$top/tests/progs/hidenew" >/dev/null 2>>run.err && [ -s hn.heap ]; then
	"$report" --format pprof -o hn.pb.gz hn.heap
	"$report" --format pprof --hide '' -o hn_all.pb.gz hn.heap
	ht_funcs "$report" hn.heap >ht.txt
	pp_funcs hn.pb.gz >pp.txt
	grep -q '^load_table	100000	100000$' ht.txt && ! grep -q 'operator new' pp.txt
	check $? "--hide: the built-in list moves operator new's flat to load_table"
	same_funcs "--hide: the export of the built-in list, as heaptrace-report" ht.txt pp.txt
	pp_funcs -hide 'operator new' hn_all.pb.gz >pp2.txt
	same_funcs "pprof -hide 'operator new' on an export with --hide '': as heaptrace-report" \
		ht.txt pp2.txt
	ht_funcs "$report" --hide 'load_table' hn.heap >ht.txt
	pp_funcs -hide 'load_table' hn_all.pb.gz >pp.txt
	same_funcs "pprof -hide load_table: as heaptrace-report --hide load_table" ht.txt pp.txt
	pp -comments hn.pb.gz | grep -q "^Hidden: operator new, operator new\[\] (the built-in list; --hide '' shows them)$"
	check $? "--hide: the comments say what was hidden"
else
	fail "--hide: tests/progs/hidenew left no snapshot"
fi
if [ -s pprof.err ] && grep -v '^Local symbolization failed' pprof.err | grep -q .; then
	echo "# go tool pprof said:"
	sed 's/^/# /' pprof.err | head -20
fi

done_testing
