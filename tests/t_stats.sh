#!/usr/bin/env bash
# Statistics in snapshots, snapshots over time (periodic, peak, on a
# signal) and finding traced processes with heaptrace-dump --list.
. "$(dirname "$0")/lib.sh"

# --- statistics -------------------------------------------------------------
echo "grow 3000" | HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=st.heap LD_PRELOAD="$lib" "$progs/grow" >/dev/null
is "$(metric st.heap heap.live_objects)" 3002 "live objects = allocs - frees, exact (3000 + 2 of stdio)"
rss=$(metric st.heap process.rss_bytes)
check "$(awk -v r="$rss" 'BEGIN { exit !(r > 3000000) }'; echo $?)" "RSS is in the snapshot and holds the 3 MB kept ($rss)"
check "$([ -n "$(metric st.heap glibc.in_use_bytes)" ]; echo $?)" "glibc's own figures are in the snapshot"
live=$(metric st.heap heaptrace.arena_live_bytes)
inuse=$(metric st.heap glibc.in_use_bytes)
# at rate 1 every block sits in the shim's arena: glibc holds almost nothing
check "$(awk -v a="$live" 'BEGIN { exit !(a >= 3000000) }'; echo $?)" "rate 1: the kept blocks are in the shim's arena ($live)"
check "$([ -n "$(metric st.heap process.rss_minus_heap_bytes)" ]; echo $?)" "the RSS-minus-heap gap is in the snapshot"
"$report" --stats st.heap >stats.txt 2>&1
check $? "heaptrace-report --stats FILE"
grep -Eq '^  live objects \(exact\) +3002$' stats.txt && grep -q '^  process RSS ' stats.txt &&
	grep -q '^  glibc: in use ' stats.txt && grep -q '^  RSS minus heap in use ' stats.txt
check $? "it shows live objects, RSS, glibc's figures and the gap"
echo "grow 1000" | HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=st2.heap LD_PRELOAD="$lib" "$progs/grow" >/dev/null
"$hdiff" --stats st2.heap st.heap >dstats2.txt 2>&1
check $? "heaptrace-diff --stats BASE CURRENT"
grep -Eq '^  live objects \(exact\) +1002 +3002 +\+2000$' dstats2.txt
check $? "it shows base, current and the change (+2000 live objects)"
je=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
echo "grow 3000" | HEAPTRACE_RATE=524288 HEAPTRACE_OUTPUT=je.heap LD_PRELOAD="$lib $je" "$progs/grow" >/dev/null
al=$(metric je.heap jemalloc.allocated_bytes)
check "$(awk -v a="$al" 'BEGIN { exit !(a > 2000000) }'; echo $?)" "over jemalloc: its allocated bytes are in the snapshot ($al)"

# the allocator's figures are read when a snapshot is taken, at the
# program's next sampled allocation, not all the time: a dump of a program
# that allocates has them fresh
HEAPTRACE_OUTPUT=$work/fresh-final.heap LD_PRELOAD="$lib" "$progs/stress" -t 1 -n 100000000 -l 1024 >/dev/null 2>&1 &
spid=$!
sleep 0.5
"$dump" -o fresh.heap "$spid" >/dev/null 2>dump.err
check $? "heaptrace-dump of a program that allocates all the time"
kill "$spid"; wait "$spid" 2>/dev/null
age=$(metric fresh.heap allocator.stats_age_seconds)
check "$(awk -v a="$age" 'BEGIN { exit !(a != "" && a < 0.2) }'; echo $?)" \
	"its allocator figures were read for the snapshot (${age:-none} s old)"
check "$([ -n "$(metric fresh.heap glibc.free_bytes)" ]; echo $?)" "and glibc's free bytes are among them"

# ... but never from a signal handler, which may have interrupted the
# allocator inside its locks: a program that allocates only in a handler
# has them from before (or none) in a dump, fresh at exit
coproc H { HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$work/idle.heap LD_PRELOAD="$lib" exec "$progs/hostile_signal" idle 2; }
hpid=$H_PID
read -r -t 10 _ <&"${H[0]}"
sleep 0.5
"$dump" -o idle-dump.heap "$hpid" >/dev/null 2>dump.err
check $? "heaptrace-dump of a program that allocates only in a signal handler"
read -r -t 10 out <&"${H[0]}"
wait "$hpid"
is "$out" "signal: idle: handled many" "it runs on, its handler called every millisecond"
age=$(metric idle-dump.heap allocator.stats_age_seconds)
check "$(awk -v a="$age" 'BEGIN { exit !(a == "" || a > 0.3) }'; echo $?)" \
	"the handler's sampled allocations did not read the allocator's figures (${age:-none})"
a=$(value idle-dump.heap handler_site alloc_objects)
check "$(awk -v a="$a" 'BEGIN { exit !(a > 100) }'; echo $?)" "they are recorded all the same ($a)"
age=$(metric idle.heap allocator.stats_age_seconds)
check "$(awk -v a="$age" 'BEGIN { exit !(a != "" && a < 0.2) }'; echo $?)" \
	"the final snapshot's are read at exit (${age:-none} s old)"

# --- snapshots over time ----------------------------------------------------
coproc G { HEAPTRACE_INTERVAL=0.5 HEAPTRACE_PEAK=10 HEAPTRACE_SIGNAL=USR2 HEAPTRACE_RATE=4096 \
	HEAPTRACE_OUTPUT=$work/t.heap LD_PRELOAD="$lib" "$progs/grow"; }
read -r -t 10 _ pid <&"${G[0]}"
echo "grow 3000" >&"${G[1]}"; read -r -t 10 _ _ <&"${G[0]}"
for _ in $(seq 50); do [ -f t.peak.heap ] && [ -f t.0001.heap ] && break; sleep 0.1; done
check "$([ -f t.0001.heap ]; echo $?)" "HEAPTRACE_INTERVAL writes numbered snapshots (t.0001.heap)"
check "$([ -f t.peak.heap ]; echo $?)" "HEAPTRACE_PEAK writes a peak snapshot (t.peak.heap)"
"$dump" --list >list.txt 2>&1
grep -Eq "^ *$pid .*progs/grow\$" list.txt
check $? "heaptrace-dump --list shows the traced process"
"$dump" --stats "$pid" >dstats.txt 2>&1
check $? "heaptrace-dump --stats PID"
grep -q 'process RSS' dstats.txt && grep -q 'live objects (exact) *3002' dstats.txt
check $? "it prints RSS and the exact live objects"
ls t.*.heap | grep -v peak | sort >before.txt
kill -USR2 "$pid"
for _ in $(seq 50); do [ "$(ls t.*.heap | grep -vc peak)" -gt "$(wc -l <before.txt)" ] && break; sleep 0.1; done
check "$([ "$(ls t.*.heap | grep -vc peak)" -gt "$(wc -l <before.txt)" ]; echo $?)" "HEAPTRACE_SIGNAL=USR2: the signal adds a numbered snapshot"
echo "exit 0" >&"${G[1]}"
wait "$G_PID"
is "$?" 0 "the program's status is unchanged"
bad=0
for f in t.*.heap; do "$report" "$f" >/dev/null 2>&1 || bad=$((bad + 1)); done
is "$bad" 0 "every periodic, peak and signal snapshot is valid"
names=$(ls t.*.heap | sed 's/^t\.//; s/\.heap$//' | sort | uniq -d)
is "$names" "" "no two snapshots share a name"

# --- bad values: one message, the default used, the program unharmed --------
echo "grow 10" | HEAPTRACE_INTERVAL=soon HEAPTRACE_RATE=lots HEAPTRACE_SIGNAL=NOPE \
	HEAPTRACE_OUTPUT=bad.heap LD_PRELOAD="$lib" "$progs/grow" >out.txt 2>err.txt
is "$?" 0 "bad HEAPTRACE_* values: the program runs"
is "$(grep -c 'ignoring HEAPTRACE_INTERVAL' err.txt)" 1 "one message for HEAPTRACE_INTERVAL"
is "$(grep -c 'ignoring HEAPTRACE_RATE' err.txt)" 1 "one message for HEAPTRACE_RATE"
is "$(grep -c 'ignoring HEAPTRACE_SIGNAL' err.txt)" 1 "one message for HEAPTRACE_SIGNAL"
"$report" bad.heap | grep -q 'one sample per 512.00kB'
check $? "the default rate is used"
done_testing
