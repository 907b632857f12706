#!/usr/bin/env bash
# The figures of real snapshots and how the tools show them: signed live
# counts, compact headers, series in time order, versions and pprof-style
# flags, documented defaults against the code, the peak, and the age of
# the allocator's figures.
. "$(dirname "$0")/lib.sh"

# --- negative live counts are signed, and explained ---------------------------
# a child traced with HEAPTRACE_FOLLOW_FORK frees 200 blocks its parent
# allocated: it holds fewer blocks than it allocated
out=$(HEAPTRACE_FOLLOW_FORK=1 HEAPTRACE_OUTPUT=$work/neg.heap LD_PRELOAD="$lib" "$progs/figures" negfree 200)
child=${out#child }
for _ in $(seq 100); do [ -s "neg.$child.heap" ] && break; sleep 0.05; done
live=$(metric "neg.$child.heap" heap.live_objects)
check "$(awk -v l="$live" 'BEGIN { exit !(l < 0 && l > -300) }'; echo $?)" \
	"the child's heap.live_objects is negative, not 2^64 minus it (${live:-none})"
"$report" --stats "neg.$child.heap" >neg.stats 2>&1
grep -Eq '^  live objects \(exact\) +-[0-9]+$' neg.stats
check $? "--stats shows the negative live count"
grep -q '^note: -[0-9]* live objects: the process freed blocks allocated before tracing began' neg.stats
check $? "--stats says why it can be negative"
"$report" "neg.$child.heap" >neg.txt 2>&1
grep -q '^note: -[0-9]* live objects: the process freed blocks allocated before tracing began' neg.txt
check $? "the report's header says why it is negative"
"$report" "neg.heap" >negp.txt 2>&1
! grep -q 'live objects: the process freed' negp.txt
check $? "and says nothing of it where the count is not negative"
grep -q 18446744073 neg.stats neg.txt
check "$((! $?))" "no 2^64 anywhere"

# --- compact headers: the answer within the first 12 lines ---------------------
first_row() { # the line number of the table's first row in stdin, or 999
	awk '/^ *flat /{ if (getline > 0) { print NR; found = 1; exit } } END { if (!found) print 999 }'
}
# at 4096 bytes a sample, r2's three rounds differ from r1's one for sure
# (at the default rate both may draw the same samples: an empty diff)
HEAPTRACE_RATE=4096 HEAPTRACE_OUTPUT=$work/r1.heap LD_PRELOAD="$lib" "$progs/retain" 1 >/dev/null
HEAPTRACE_RATE=4096 HEAPTRACE_OUTPUT=$work/r2.heap LD_PRELOAD="$lib" "$progs/retain" 3 >/dev/null
wait_file r1.heap; wait_file r2.heap
row=$("$report" r2.heap | first_row)
check "$([ "$row" -le 12 ]; echo $?)" "report of a real snapshot: the first row is on line $row (at most 12)"
"$hdiff" r1.heap r2.heap >diff12.txt 2>&1
row=$(first_row <diff12.txt)
check "$([ "$row" -le 12 ]; echo $?)" "diff of real snapshots: the first row is on line $row (at most 12)"
[ "$row" -le 12 ] || note diff12.txt
row=$("$report" --tree r2.heap | awk '/^-+\+-+$/ { print NR; exit }')
check "$([ -n "$row" ] && [ "$row" -le 12 ]; echo $?)" "tree of a real snapshot: the first node starts on line ${row:-none}"
"$hdiff" r1.heap r2.heap | grep -Eq '^Base: r1\.heap \(retain, pid [0-9]+\), final snapshot, taken .*, exited$'
check $? "the base's one line: file, executable, pid, kind, time, state"
"$hdiff" --verbose r1.heap r2.heap >verbose.txt
grep -q '^  Command: .*retain 1$' verbose.txt && grep -q '^  Calls: ' verbose.txt &&
	grep -q '^  State: final (the program exited)$' verbose.txt
check $? "--verbose: the whole provenance"
"$report" --stats r2.heap | grep -q '^Command: .*retain 3$'
check $? "--stats: the whole provenance too"

# --- series in time order, padded numbers ----------------------------------------
for i in $(seq 14); do echo "grow 300"; sleep 0.1; done |
	HEAPTRACE_INTERVAL=0.1 HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$work/s.heap LD_PRELOAD="$lib" "$progs/grow" >/dev/null
for _ in $(seq 50); do [ -s s.heap ] && break; sleep 0.1; done
check "$([ -f s.0001.heap ] && [ -f s.0011.heap ] && [ ! -f s.1.heap ]; echo $?)" \
	"interval snapshots are numbered with four digits (s.0001.heap ... s.0011.heap)"
# the shell's order of unpadded names: .1 .10 .11 .2 ...; give them in
# that order, and in reverse, and the series is the same, in time order
mkdir old
for f in s.0*.heap; do k=${f#s.}; k=${k%.heap}; cp "$f" "old/s.$((10#$k)).heap"; done
"$hdiff" --series old/s.*.heap >series-glob.txt 2>&1
"$hdiff" --series $(ls -r old/s.*.heap) >series-rev.txt 2>&1
grep -q '^note: ordered by the time each snapshot was taken, not as given$' series-glob.txt
check $? "series: a note says they were put in time order"
diff <(grep -v '^note' series-glob.txt) <(grep -v '^note' series-rev.txt) >/dev/null
check $? "series: the same table whatever the order of the arguments"
tot=$(awk '/\(total of all stacks\)/ { for (i = 1; i < NF - 4; i++) printf "%s ", $i; exit }' series-glob.txt)
# (one unit for the whole table)
mono=$(awk '/\(total of all stacks\)/ { for (i = 2; i < NF - 4; i++) if ($i + 0 < $(i - 1) + 0) { print "no"; exit } print "yes"; exit }' series-glob.txt)
is "$mono" yes "series: the total grows from column to column, as the heap did ($tot)"
grep -q '^  #1 old/s.1.heap: ' series-glob.txt && grep -q '^  #2 old/s.2.heap: ' series-glob.txt
check $? "series: #1 is s.1.heap and #2 s.2.heap, not s.10.heap"
"$hdiff" --series r1.heap r2.heap >series-procs.txt 2>&1
grep -q '^note: the snapshots come from 2 processes; ordered by process start' series-procs.txt
check $? "series of two processes: one line says so"
"$hdiff" s.0005.heap s.0002.heap >rev.txt 2>&1
grep -q '^warning: the base was taken [0-9.]*s after the current snapshot (same process, pid [0-9]*)' rev.txt
check $? "diff: a base newer than the current, within one process, is warned about"
"$hdiff" s.0002.heap s.0005.heap >fwd.txt 2>&1
! grep -q 'backwards' fwd.txt
check $? "diff: and not when it is older"
"$hdiff" --format collapsed s.0005.heap s.0002.heap 2>&1 >/dev/null | grep -q '^heaptrace-diff: warning: the base was taken'
check $? "diff: the warning goes to stderr for other formats"

# --- --version everywhere; pprof's spellings --------------------------------------
want=$(sed -n 's/^#define HT_VERSION "\(.*\)"$/\1/p' "$top/collector/lib/version.h")
check "$([ -n "$want" ]; echo $?)" "the version is defined in collector/lib/version.h ($want)"
for t in "$report" "$hdiff" "$dump" "$top/collector/heaptrace-collector" "$launcher"; do
	name=$(basename "$t")
	out=$("$t" --version 2>&1)
	rc=$?
	is "$rc:$out" "0:$name $want" "$name --version: one line, the version defined once"
done
"$top/tests/test_report" --write-fixtures . >/dev/null 2>&1
"$report" --sample_index alloc_space --top 3 cur.heap >long.txt 2>&1
"$report" -top -sample_index=alloc_space -nodecount=3 cur.heap >short.txt 2>&1
cmp -s long.txt short.txt
check $? "pprof's -top -sample_index=alloc_space -nodecount=3 are heaptrace's options"
"$report" -inuse_objects -functions -focus parse cur.heap >short.txt 2>&1 &&
	"$report" --inuse_objects --functions --focus parse cur.heap >long.txt 2>&1 && cmp -s long.txt short.txt
check $? "-inuse_objects -functions -focus REGEX too"
"$hdiff" -base base.heap cur.heap >short.txt 2>&1 && "$hdiff" base.heap cur.heap >long.txt 2>&1 &&
	cmp -s long.txt short.txt
check $? "heaptrace-diff -base BASE CURRENT is pprof's -base"
"$report" -proto -output=p.pb.gz cur.heap && "$report" --format pprof -o p2.pb.gz cur.heap && cmp -s p.pb.gz p2.pb.gz
check $? "-proto -output=FILE"
"$report" -pdf cur.heap >out.txt 2>err.txt
is "$?:$(cat err.txt)" "2:heaptrace-report: unknown option '-pdf' (did you mean --format png? heaptrace draws pprof's graph as dot, png or graph-svg)" \
	"-pdf: unknown, with what to use instead"
"$report" -png cur.heap >out.png 2>err.txt && "$report" --format png -o out2.png cur.heap 2>/dev/null &&
	cmp -s out.png out2.png
check $? "pprof's -png is --format png"
"$report" -func cur.heap >out.txt 2>err.txt
is "$?:$(cat err.txt)" "2:heaptrace-report: unknown option '-func' (did you mean --functions?)" \
	"a single-dash word that begins an option: did you mean"
"$report" -base base.heap cur.heap >out.txt 2>err.txt
is "$?:$(cat err.txt)" "2:heaptrace-report: option '-base' compares two snapshots: use heaptrace-diff BASE CURRENT" \
	"-base in heaptrace-report points to heaptrace-diff"

# --- every documented default is the one the programs use ------------------------
# Each default is read from the man page and compared with what the
# program does without the variable or option. Not checked here:
# HEAPTRACE_EXIT_TIMEOUT (30 s: observing it takes 30 s) and
# HEAPTRACE_DWARF_MB (needs an object with 4 MiB of compressed DWARF).
# doc PAGE NAME: the text of NAME's entry (".B NAME" or ".BI NAME ..." up to
# the next .TP/.SH/.SS) in man/PAGE, on one line, formatting macros gone
doc() {
	V=$2 awk '
		on && /^\.(TP|SH|SS)/ { exit }
		on { sub(/^\.[A-Z]+ /, ""); gsub(/\\f[BIRP]|\\/, ""); print; next }
		prev == ".TP" && ($0 == ".B " ENVIRON["V"] || index($0, ".BI " ENVIRON["V"] " ") == 1) { on = 1 }
		{ prev = $0 }' "$top/man/$1" | tr '\n' ' '
}
# the number after the first "default" (or "Default:") in a text
num_after_default() { grep -o '[Dd]efault:\? *[0-9][0-9]*' | head -1 | grep -o '[0-9][0-9]*$'; }
# the number in "N, the default" or "N for none, the default"
num_the_default() { grep -o '[0-9][0-9]*[a-z ]*, the default' | head -1 | grep -o '^[0-9]*'; }
pow2_mib() { # BYTES: the largest power of two MiB not above BYTES, in MiB
	awk -v b="$1" 'BEGIN { m = 1; while (m * 2 * 1048576 <= b) m *= 2; print m }'
}
sampled_rate() { "$report" --format json "$1" 2>/dev/null |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["snapshots"][0]["rate"])' 2>/dev/null; }

# HEAPTRACE_RATE: the rate of a snapshot taken without the variable
d=$(doc libheaptrace.7 HEAPTRACE_RATE | num_after_default)
HEAPTRACE_OUTPUT=$work/dflt.heap LD_PRELOAD="$lib" "$progs/figures" deep 3
is "$(sampled_rate dflt.heap)" "${d:-undocumented}" "HEAPTRACE_RATE: documented default $d is the rate used"
# HEAPTRACE_DEPTH: frames kept of a stack 200 calls deep
d=$(doc libheaptrace.7 HEAPTRACE_DEPTH | num_after_default)
HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$work/deep.heap LD_PRELOAD="$lib" "$progs/figures" deep 200
got=$("$report" --format collapsed --addresses deep.heap | awk '{ n = split($0, a, ";"); if (n > m) m = n } END { print m }')
is "$got" "${d:-undocumented}" "HEAPTRACE_DEPTH: documented default $d is the number of frames kept"
# HEAPTRACE_RING_MB: the size of the shared memory the process maps
d=$(doc libheaptrace.7 HEAPTRACE_RING_MB)
d1=$(printf '%s' "$d" | num_after_default)
d2=$(printf '%s' "$d" | sed -n 's/.*or \([0-9]*\) at rate 1.*/\1/p')
d2=${d2:-$d1} # one default, at every rate, unless one for rate 1 is named
for r in default 1; do
	want=$d1; [ "$r" = 1 ] && want=$d2
	coproc I { if [ "$r" = 1 ]; then export HEAPTRACE_RATE=1; fi
		HEAPTRACE_OUTPUT=$work/ring$r.heap LD_PRELOAD="$lib" exec "$progs/figures" idle 1; }
	ipid=$I_PID
	read -r -t 10 _ <&"${I[0]}"
	range=$(awk '/\/memfd:heaptrace/ { print $1; exit }' "/proc/$ipid/maps")
	bytes=$(( 0x${range#*-} - 0x${range%-*} ))
	echo >&"${I[1]}"
	wait "$ipid"
	is "$(pow2_mib "${bytes:-0}")" "${want:-undocumented}" "HEAPTRACE_RING_MB: documented default at rate $r, $want MiB, is the ring's size"
done
# HEAPTRACE_OUTPUT, HEAPTRACE_INTERVAL, HEAPTRACE_PEAK, HEAPTRACE_FOLLOW_FORK:
# a program that forks, run without them, writes one file, named as documented
pat=$(doc libheaptrace.7 HEAPTRACE_OUTPUT | grep -o 'Default: *[^ ]*\.heap' | sed 's/Default: *//')
di=$(doc libheaptrace.7 HEAPTRACE_INTERVAL | num_the_default)
dp=$(doc libheaptrace.7 HEAPTRACE_PEAK | num_the_default)
df=$(doc libheaptrace.7 HEAPTRACE_FOLLOW_FORK | num_the_default)
is "$di:$dp:$df" "0:0:0" "HEAPTRACE_INTERVAL, _PEAK and _FOLLOW_FORK are documented as off by default"
mkdir dflt && cd dflt || exit 2
out=$(LD_PRELOAD="$lib" "$progs/figures" negfree 10)
files=$(ls)
want=${pat//%e/figures}
want=${want//%p/[0-9]*}
# shellcheck disable=SC2053
[[ $files == $want ]] && [ "$(ls | wc -l)" -eq 1 ]
check $? "HEAPTRACE_OUTPUT default '$pat': one file, '$files', no interval, peak or child snapshot"
cd "$work" || exit 2
# HEAPTRACE_SIGNAL: none by default, so SIGUSR1 keeps its default action
d=$(doc libheaptrace.7 HEAPTRACE_SIGNAL | grep -o 'default none')
coproc U { HEAPTRACE_OUTPUT=$work/usr1.heap LD_PRELOAD="$lib" exec "$progs/figures" idle 1; }
upid=$U_PID
read -r -t 10 _ <&"${U[0]}"
kill -USR1 "$upid"
wait "$upid"
is "$?:$d" "$((128 + $(kill -l USR1))):default none" "HEAPTRACE_SIGNAL: none by default (SIGUSR1 ends the program)"
# the tools: heaptrace-report's --top and --sample-index, the launcher's --rate
d=$(doc heaptrace-report.1 '\-\-top' | num_after_default)
dd=$(doc heaptrace-diff.1 '\-\-top' | num_after_default)
"$hdiff" --addresses base.heap cur.heap >top.txt # 20 rows
is "$(sed -n 's/^Dropped [0-9]* nodes; showing top \([0-9]*\) out of .*/\1/p' top.txt)" "${d:-undocumented}" \
	"heaptrace-report --top: documented default $d rows"
is "$dd" "$d" "heaptrace-diff --top: the same default documented"
"$report" deep.heap >top.txt
d=$(doc heaptrace-report.1 '\-\-sample\-index' | grep -o '[a-z_]* (default' | cut -d' ' -f1)
grep -q "^Type: ${d:-undocumented}; " top.txt
check $? "heaptrace-report --sample-index: documented default ${d:-none} is shown"
d=$(doc heaptrace.1 '\-r' | num_after_default)
(cd dflt && "$launcher" -q -o launched.heap "$progs/figures" deep 3 2>/dev/null)
is "$(sampled_rate dflt/launched.heap)" "${d:-undocumented}" "heaptrace --rate: documented default $d is the rate used"

# --- the peak, however brief ------------------------------------------------------
# 80 MiB held for 0.3 s between two small phases: the peak file, written at
# most once a second, and the final snapshot's peak profile both hold it.
# These check that the peak is kept, not how well sampling estimates it
# (t_stat.sh does that, at 4.75 sd): at a 64 KiB rate every 1 MiB block is
# sampled but for a chance of 1e-7, so the figures are exact. At the default
# rate each block is sampled with probability 0.86, and 40 blocks give an
# estimate with a 6% sd, which a fixed 15% bound once failed.
HEAPTRACE_RATE=65536 HEAPTRACE_PEAK=10 HEAPTRACE_OUTPUT=$work/pk.heap LD_PRELOAD="$lib" "$progs/figures" peak 80 300
wait_file pk.heap
shown() { # FILE ARGS: the total of the text report's table, in bytes
	local f=$1; shift
	"$report" --unit B "$@" "$f" 2>/dev/null | sed -n 's/^Showing nodes accounting for \([0-9]*\)B, .*/\1/p'
}
within "$(shown pk.peak.heap)" 83886080 2 "the peak file holds the 80 MiB peak"
"$report" pk.peak.heap | grep -q '^File: pk.peak.heap (figures, pid [0-9]*), peak snapshot, '
check $? "it is marked as the peak snapshot"
within "$(shown pk.heap)" 83886080 2 "the final snapshot, empty at the end, shows its peak"
"$report" pk.heap >pk.txt
grep -q '^Peak: [0-9.]*MB in use at the peak, [0-9.]*s after start; the table shows the peak (nothing is in use at the end)$' pk.txt
check $? "and says so in one line"
"$report" --format collapsed --top 0 pk.heap | awk '{ s += $NF } END { exit !(s < 1048576) }'
check $? "the collapsed stacks are still those of the end (nothing in use)"
HEAPTRACE_RATE=65536 HEAPTRACE_OUTPUT=$work/pk2.heap LD_PRELOAD="$lib" "$progs/figures" peak 40 100
wait_file pk2.heap
within "$(shown pk2.heap)" 41943040 2 "without HEAPTRACE_PEAK the final snapshot keeps the peak profile too"
within "$(shown pk2.heap --peak --inuse_space)" 41943040 2 "--peak asks for it"
is "$(shown r2.heap --peak --unit B | awk '{ print ($1 > 0) }')" 1 "--peak of a snapshot that still holds memory"
"$report" --peak "$top/tests/corpus/final.heap" >/dev/null 2>err.txt
is "$?:$(cat err.txt)" "1:heaptrace-report: option '--peak': the snapshot has no peak profile (an older heaptrace wrote it)" \
	"--peak of an older snapshot says it has none"

# --- the age of the allocator's figures ---------------------------------------------
# The shim reads them at a sampled allocation after a snapshot asked (its
# collector started at once, so that the idle program can be dumped): a
# first dump asks, "grow" allocates (the figures are read), then the
# program idles and a second dump gets figures 1.5 s old
coproc G { HEAPTRACE_LAZY=0 HEAPTRACE_OUTPUT=$work/age.heap LD_PRELOAD="$lib" exec "$progs/grow"; }
gpid=$G_PID
read -r -t 10 _ _ <&"${G[0]}"
"$dump" -o age1.heap "$gpid" >/dev/null 2>&1
echo "grow 5000" >&"${G[1]}"; read -r -t 10 _ _ <&"${G[0]}"
sleep 1.5
"$dump" -o age2.heap "$gpid" >/dev/null 2>&1
check $? "heaptrace-dump of a program that went idle"
echo "exit 0" >&"${G[1]}"
wait "$gpid"
age=$(metric age2.heap allocator.stats_age_seconds)
check "$(awk -v a="$age" 'BEGIN { exit !(a != "" && a > 1.2) }'; echo $?)" "its allocator figures are old (${age:-none} s)"
"$report" age2.heap >age2.txt
grep -Eq '^Memory: RSS .*; allocator figures [0-9.]+s older than the snapshot: heap in use .* \(glibc\) then \(--stats for more\)$' age2.txt
check $? "the header says how old they are"
! grep -q 'RSS minus heap' age2.txt
check $? "and shows no RSS minus a stale heap figure"
"$report" --stats age2.heap >age2.stats
grep -q "^The allocator's figures (glibc:, jemalloc:, heaptrace arena:) are [0-9.]* s older than" age2.stats &&
	! grep -q '^  RSS minus heap in use' age2.stats
check $? "--stats says so too, and leaves RSS minus heap out"
# the peak file's figures are the latest read, after the peak or (under
# load) before it: more than 0.1 s away, they are labelled with their age
page=$(metric pk.peak.heap allocator.stats_age_seconds)
if awk -v a="$page" 'BEGIN { exit !(a != "" && (a > 0.1 || a < -0.1)) }'; then
	"$report" pk.peak.heap | grep -Eq '^Memory: RSS .*; allocator figures [0-9.]+s (newer|older) than the snapshot: '
	check $? "a peak snapshot's allocator figures, read ${page}s from the peak, are not shown as the peak's"
elif [ -n "$page" ]; then
	"$report" pk.peak.heap | grep -Eq '^Memory: RSS .*, heap in use '
	check $? "a peak snapshot's allocator figures, read at the peak (${page}s), are shown as its own"
else
	! "$report" pk.peak.heap | grep -q '^Memory: .*heap in use'
	check $? "a peak snapshot with no allocator figures shows none"
fi

done_testing
