#!/usr/bin/env bash
# heaptrace-dump --trim: a process gives its free memory back (glibc's
# malloc_trim, jemalloc's purge), with RSS and the allocator's figures
# before and after; on an idle process too (the shim's helper thread); the
# program's output is unchanged, also when trims come every 50 ms while
# threads allocate; another user's process is refused; the snapshots that
# follow record the trim, and --stats says so.
. "$(dirname "$0")/lib.sh"
unset HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_INTERVAL HEAPTRACE_SIGNAL HEAPTRACE_DISABLE \
	HEAPTRACE_PID XDG_RUNTIME_DIR

libdir=$(dirname "$(ldconfig -p | awk '/libjemalloc.so.2 / { print $NF; exit }')")
je=$libdir/libjemalloc.so.2

rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

# start_keep NAME PRELOAD [TRIM_IDLE]: trimprog keep, traced, waiting on a fifo
start_keep() {
	rm -f "$1.in"
	mkfifo "$1.in"
	env ${3:+HEAPTRACE_TRIM_IDLE=$3} LD_PRELOAD="$2" "$progs/trimprog" keep <"$1.in" \
		>"$1.out" 2>"$1.err" &
	kpid=$!
	exec 9>"$1.in"
	for _ in $(seq 300); do grep -q ready "$1.err" 2>/dev/null && break; sleep 0.1; done
}
finish_keep() { echo go >&9; exec 9>&-; wait "$kpid"; krc=$?; }

"$progs/trimprog" keep <<<go >plain.out 2>/dev/null
want=$(cat plain.out)

# --- a program of one thread keeps one thread: no helper unless asked -------
# (a second thread would turn off glibc's single-thread fast paths); idle,
# it then cannot be trimmed, and the message says what would let it
start_keep lone "$lib"
is "$(ls "/proc/$kpid/task" | wc -l)" 1 "a traced program of one thread has no helper thread"
"$dump" --trim "$kpid" >lone.txt 2>&1
is "$?" 1 "... and idle, it is not trimmed: exit 1"
grep -q "an idle program of one thread is trimmed only when traced with HEAPTRACE_TRIM_IDLE=1" lone.txt
check $? "... the message names HEAPTRACE_TRIM_IDLE"
finish_keep
is "$krc$(cat lone.out)" "0$want" "... and it runs on, its output unchanged"

for under in glibc jemalloc; do
	pre=$lib
	[ $under = jemalloc ] && pre=$lib:$je
	start_keep $under "$pre" 1
	"$dump" -o "$under.base.heap" "$kpid" >/dev/null
	r0=$(rss "$kpid")
	"$dump" --trim -o "$under.heap" "$kpid" >"$under.trim.txt" 2>&1
	is "$?" 0 "$under: heaptrace-dump --trim of an idle process succeeds"
	r1=$(rss "$kpid")
	check "$(awk -v a="$r0" -v b="$r1" 'BEGIN { exit !(b <= a / 2) }'; echo $?)" \
		"$under: RSS is at most half after the trim ($r0 -> $r1)"
	grep -q "^Trimmed process $kpid (.*trimprog) in [0-9.]* ms: " "$under.trim.txt"
	check $? "$under: the dump says what it trimmed and how long it took"
	grep -q "^  process RSS  *[0-9.]*MB  *[0-9.]*MB  *-[0-9.]*MB$" "$under.trim.txt"
	check $? "$under: RSS before and after, and the change"
	grep -q "^$under.heap$" "$under.trim.txt"
	check $? "$under: -o FILE writes the snapshot taken after"
	is "$(metric "$under.heap" trim.count)" 1 "$under: the snapshot records the trim"
	b=$(metric "$under.heap" trim.rss_before_bytes) a=$(metric "$under.heap" trim.rss_after_bytes)
	check "$(awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > 0 && a <= b / 2) }'; echo $?)" \
		"$under: ... with RSS before and after ($b -> $a)"
	"$hdiff" --stats "$under.base.heap" "$under.heap" >diff.txt 2>&1
	grep -q "^Trimmed (heaptrace-dump --trim) 1 time since the base" diff.txt
	check $? "$under: heaptrace-diff --stats says a trim came between the two"
	"$report" --stats "$under.heap" | grep -q "^Memory the allocator gave back then is not"
	check $? "$under: heaptrace-report --stats says it too"
	finish_keep
	is "$krc" 0 "$under: the program runs on and exits 0"
	is "$(cat $under.out)" "$want" "$under: its output is unchanged"
done
grep -q "glibc malloc_trim(0)" glibc.trim.txt
check $? "glibc: malloc_trim(0) was called"
grep -q "jemalloc arena.<all>.purge" jemalloc.trim.txt
check $? "jemalloc: every arena was purged"
rb=$(metric jemalloc.heap trim.before.jemalloc.resident_bytes)
ra=$(metric jemalloc.heap trim.after.jemalloc.resident_bytes)
check "$(awk -v a="$ra" -v b="$rb" 'BEGIN { exit !(a != "" && a < b) }'; echo $?)" \
	"jemalloc: its own figures show the purge (resident $rb -> $ra)"
grep -q "^  jemalloc: resident .* -[0-9.]*MB$" jemalloc.trim.txt
check $? "jemalloc: the dump's table shows resident falling"

# --stats: the --stats table with a before and an after column
start_keep st "$lib" 1
"$dump" --trim --stats "$kpid" >st.txt 2>&1
is "$?" 0 "--trim --stats succeeds"
grep -q "^  *before  *after  *change$" st.txt && grep -q "^  alloc calls " st.txt &&
	grep -q "^Metrics:$" st.txt
check $? "--trim --stats prints the --stats table with before and after"
finish_keep

# --- busy threads, a trim every 50 ms -----------------------------------------
"$progs/trimprog" busy 4 12000000 >busy.want 2>/dev/null
LD_PRELOAD=$lib "$progs/trimprog" busy 4 12000000 >busy.out 2>busy.err &
bpid=$!
for _ in $(seq 300); do grep -q ready busy.err 2>/dev/null && break; sleep 0.05; done
ok=0 tried=0
while kill -0 "$bpid" 2>/dev/null; do
	tried=$((tried + 1))
	"$dump" --trim "$bpid" >/dev/null 2>>busy.dump && ok=$((ok + 1))
	sleep 0.05
done
timeout 60 tail --pid="$bpid" -f /dev/null
wait "$bpid"
is "$?" 0 "busy: the program exits 0 under trims every 50 ms"
is "$(cat busy.out)" "$(cat busy.want)" "busy: its output is unchanged"
check "$([ "$ok" -ge 3 ]; echo $?)" "busy: trims were done while it ran ($ok of $tried)"

# --- a process that cannot answer: the request is taken back ---------------
# unshare(CLONE_NEWUSER) needs a process of one thread: the helper steps
# aside, and then only a sampled allocation could trim
LD_PRELOAD=$lib "$progs/trimprog" alone <<<go >alone.out 2>alone.err
is "$?" 0 "a traced program may unshare(CLONE_NEWUSER): the helper thread steps aside"
is "$(cat alone.out)" "$want" "... and its output is unchanged"
mkfifo alone2.in
LD_PRELOAD=$lib "$progs/trimprog" alone <alone2.in >alone2.out 2>alone2.err &
kpid=$!
exec 9>alone2.in
for _ in $(seq 300); do grep -q ready alone2.err 2>/dev/null && break; sleep 0.1; done
"$dump" --trim "$kpid" >alone.txt 2>&1
is "$?" 1 "an idle process without its helper: --trim fails, exit 1"
grep -q "^heaptrace-dump: .*process $kpid did not answer within 3 s .*; it was left as it was$" alone.txt
check $? "... with a clear message: $(cat alone.txt)"
"$dump" -o alone.heap "$kpid" >/dev/null
is "$(metric alone.heap trim.count)" "" "... and it was not trimmed"
finish_keep
is "$krc$(cat alone2.out)" "0$want" "... and runs on, its output unchanged"

# --- another user's process is refused ----------------------------------------
if [ "$(id -u)" -eq 0 ]; then
	cg=/sys/fs/cgroup/pids/heaptrace-t_trim-$$
	[ -d /sys/fs/cgroup/pids ] || cg=/sys/fs/cgroup/heaptrace-t_trim-$$
	mkdir "$cg" && echo 16 >"$cg/pids.max"
	check $? "a pids cgroup with pids.max 16 holds the other user"
	start_keep other "$lib" 1
	chmod 755 "$work"
	( echo $BASHPID >"$cg/cgroup.procs" &&
	  exec setpriv --reuid=65534 --regid=65534 --clear-groups "$dump" --trim "$kpid" ) \
		>other.txt 2>&1
	is "$?" 1 "another user's heaptrace-dump --trim is refused, exit 1"
	grep -q "^heaptrace-dump: " other.txt
	check $? "... with a message: $(head -1 other.txt)"
	"$dump" -o other.heap "$kpid" >/dev/null
	is "$(metric other.heap trim.count)" "" "... and the process was not trimmed"
	finish_keep
	is "$(cat other.out)" "$want" "... and runs on unchanged"
	rmdir "$cg" 2>/dev/null
else
	fail "another user's process: the test needs root"
fi

# --- bad use -------------------------------------------------------------------
"$dump" --trim -o - 1 >/dev/null 2>err.txt
is "$?" 2 "--trim -o - is a usage error"
"$dump" --help | grep -q -- "--trim"
check $? "--help lists --trim"
done_testing
