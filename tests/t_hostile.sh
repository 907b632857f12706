#!/usr/bin/env bash
# Hostile conditions: forks, execs, thread storms, plugins unloaded under
# us, signals during allocation, exits from odd places, a dead or frozen
# collector, nowhere to write, and binaries the loader will not preload
# into. Each case runs the program untraced and traced: its output and
# exit status must not change, and the snapshot (when there is one) must
# be valid.
. "$(dirname "$0")/lib.sh"
ulimit -c 0
unset HEAPTRACE_COLLECTOR HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_RING_MB \
	HEAPTRACE_FOLLOW_FORK HEAPTRACE_PID HEAPTRACE_DISABLE HEAPTRACE_SIGNAL
trap 'umount "$work/full" 2>/dev/null; rm -rf "$work"' EXIT

# one_line FILE DESCRIPTION PATTERN: FILE holds exactly one line, from
# heaptrace, matching PATTERN
one_line() {
	if [ "$(wc -l <"$1")" -eq 1 ] && grep -q '^heaptrace' "$1" && grep -q -- "$3" "$1"; then
		pass "$2: $(cat "$1")"
	else
		fail "$2"
		note "$1"
	fi
}

# --- fork, with threads allocating meanwhile ------------------------------
# The children free blocks their parent allocated, allocate on a thread of
# their own and exit() normally. The parent's exact profile must not see
# any of it: do_fork's 20 x 64 blocks, all freed by the parent itself.
same fork HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=fork.heap -- "$progs/hostile_proc" fork 20
is "$(cat fork.t.out)" "fork: 20 children, 0 exited abnormally, statuses sum to 57" \
	"fork: every child exited cleanly"
valid fork.heap "fork"
is "$(value fork.heap do_fork alloc_objects)" 1280 "fork: rate 1: do_fork allocated exactly 1280 objects"
is "$(value fork.heap do_fork inuse_objects)" 0 "fork: rate 1: do_fork keeps nothing"
is "$(value fork.heap main inuse_objects)" 100 "fork: rate 1: main keeps exactly 100 objects"
no_warning fork.heap "fork"
is "$(ls fork*.heap | wc -l)" 1 "fork: children write no snapshot of their own by default"

# the same at the default rate, children followed (a collector each)
same forkf HEAPTRACE_FOLLOW_FORK=1 HEAPTRACE_OUTPUT=forkf.heap -- "$progs/hostile_proc" fork 5
valid forkf.heap "fork followed: the parent's"
for _ in $(seq 200); do [ "$(ls forkf.*.heap 2>/dev/null | wc -l)" -ge 5 ] && break; sleep 0.05; done
is "$(ls forkf.*.heap 2>/dev/null | wc -l)" 5 "fork followed: 5 children wrote forkf.PID.heap"
bad=0
for f in forkf.*.heap; do "$report" "$f" >/dev/null 2>&1 || bad=$((bad + 1)); done
is "$bad" 0 "fork followed: every child's snapshot is valid"

# --- fork+exec, posix_spawn, vfork+exec -----------------------------------
# The exec'd program traces itself: two snapshots, the child's holds its
# 50 blocks of child_site.
for how in exec spawn vfork; do
	same "$how" HEAPTRACE_RATE=1 "HEAPTRACE_OUTPUT=$how.%p.heap" -- "$progs/hostile_proc" "$how"
	is "$(tr '\n' ' ' <"$how.t.out")" "child: kept 50 blocks $how: child exited with 3 " \
		"$how: the child ran and exited with 3"
	for _ in $(seq 200); do [ "$(ls "$how".*.heap 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
	is "$(ls "$how".*.heap 2>/dev/null | wc -l)" 2 "$how: a snapshot for the parent and one for the child"
	kept=
	for f in "$how".*.heap; do
		"$report" --verbose "$f" >"$f.txt" 2>&1 || fail "$how: $f is valid"
		grep -q '^Command: .* child$' "$f.txt" && kept=$(value "$f" child_site inuse_objects)
	done
	is "$kept" 50 "$how: rate 1: the child's snapshot keeps exactly 50 objects in child_site"
done

# --- a storm of short-lived threads ---------------------------------------
same storm HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=storm.heap -- "$progs/hostile_threads" 2000 64
is "$(cat storm.t.out)" "storm: 2000 threads, 0 failed to start, 2000 blocks kept" "storm: every thread ran"
valid storm.heap "storm"
is "$(value storm.heap storm_keep inuse_objects)" 2000 "storm: rate 1: storm_keep keeps exactly 2000 objects"
is "$(value storm.heap storm_churn alloc_objects)" 40000 "storm: rate 1: storm_churn allocated exactly 40000"
is "$(value storm.heap storm_churn inuse_objects)" 0 "storm: rate 1: storm_churn keeps nothing"
no_warning storm.heap "storm"

# --- plugins loaded and unloaded in a loop --------------------------------
cat >plugin.c <<'EOF'
#include <stdlib.h>
#include <string.h>
#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
__attribute__((noinline)) void *CAT(NAME, keep)(size_t n)
{
	void *p = malloc(n);
	if (p)
		memset(p, 3, n);
	return p;
}
__attribute__((noinline)) void CAT(NAME, churn)(void)
{
	for (int i = 0; i < 50; i++) {
		volatile char *p = malloc(40);
		p[0] = 1;
		free((void *)p);
	}
}
void *plugin_work(size_t n)
{
	CAT(NAME, churn)();
	return CAT(NAME, keep)(n);
}
EOF
for name in alpha beta; do
	cc -shared -fPIC -O1 -g -fno-omit-frame-pointer -fno-inline -DNAME=$name \
		-o "$work/$name.so" plugin.c || fail "build plugin $name.so"
done
same dlopen HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=dlopen.heap -- "$progs/hostile_dlopen" 200 1000 "$work/alpha.so"
is "$(cat dlopen.t.out)" "dlopen: 200 rounds, 200 blocks kept, unloaded 200 times" "dlopen: the plugin was unloaded every round"
valid dlopen.heap "dlopen"
"$report" --functions dlopen.heap | grep -q ' alpha_keep$'
check $? "dlopen: the report names the unloaded plugin's alpha_keep"
is "$(value dlopen.heap alpha_keep inuse_objects)" 200 "dlopen: rate 1: alpha_keep keeps exactly 200 objects"
is "$(value dlopen.heap alpha_churn alloc_objects)" 10000 "dlopen: rate 1: alpha_churn allocated exactly 10000"
"$report" --format collapsed --functions dlopen.heap | grep -q ';main;plugin_work;alpha_keep '
check $? "dlopen: the stack reads main;plugin_work;alpha_keep"

# at the default rate, blocks of 256 KiB: each is sampled with p = 0.39
same dlopen_d HEAPTRACE_OUTPUT=dlopen_d.heap -- "$progs/hostile_dlopen" 100 262144 "$work/alpha.so"
valid dlopen_d.heap "dlopen, default rate"
"$report" --functions dlopen_d.heap | grep -q ' alpha_keep$'
check $? "dlopen, default rate: the report names alpha_keep"

# two plugins taking turns, most likely at the same address: each sample
# must keep the name of the plugin that was loaded when it was taken
same dlopen2 HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=dlopen2.heap -- \
	"$progs/hostile_dlopen" 200 1000 "$work/alpha.so" "$work/beta.so"
valid dlopen2.heap "two plugins"
is "$(value dlopen2.heap alpha_keep inuse_objects)" 100 "two plugins: rate 1: alpha_keep keeps exactly 100 objects"
is "$(value dlopen2.heap beta_keep inuse_objects)" 100 "two plugins: rate 1: beta_keep keeps exactly 100 objects"

# --- signals arriving during allocation -----------------------------------
# SIGALRM every 100 us, its handler mallocs and frees, on three threads
# that allocate all the time. At rate 4096 they send the collector about
# 350 MB of events a second: a stall of a few ms (a loaded machine) fills
# the default 2 MiB ring, and the events dropped after 10 ms of waiting
# would be reported (rightly). These runs are about signals, so they get
# the ring a rate of 1 has, 64 MiB. (Beside three CPU-bound processes,
# the default ring dropped events in 4 of 8 runs, 64 MiB in none.)
for rate in 1 4096; do
	same "signal$rate" HEAPTRACE_RATE=$rate HEAPTRACE_RING_MB=64 \
		"HEAPTRACE_OUTPUT=signal$rate.heap" -- "$progs/hostile_signal" 3000
	is "$(cat "signal$rate.t.out")" "signal: handled at least 3000 signals" "signal, rate $rate: 3000 signals handled"
	valid "signal$rate.heap" "signal, rate $rate"
	no_warning "signal$rate.heap" "signal, rate $rate"
done
a=$(value signal1.heap handler_site alloc_objects)
[ "$a" -gt 0 ]
check $? "signal, rate 1: allocations in the handler are recorded ($a)"
is "$(value signal1.heap handler_site inuse_objects)" 0 "signal, rate 1: handler_site keeps nothing"
is "$(value signal1.heap loop_site inuse_objects)" 0 "signal, rate 1: loop_site keeps nothing"

# a handler whose block is too big for glibc's thread cache takes the
# arena lock, which its thread may hold inside malloc: untraced, the
# program deadlocks at once; traced, the handler is served from the arena
# whenever its thread is inside the allocator (traced runs only, bounded)
for rate in 1 4096; do
	run "lock$rate" env HEAPTRACE_RATE=$rate HEAPTRACE_RING_MB=64 "HEAPTRACE_OUTPUT=lock$rate.heap" \
		LD_PRELOAD="$lib" timeout 120 "$progs/hostile_signal" lock 3000
	is "$(cat "lock$rate.rc"):$(cat "lock$rate.out")" "0:signal: handled at least 3000 signals" \
		"signal, rate $rate: a handler that needs the allocator's lock never deadlocks"
	valid "lock$rate.heap" "signal needing the lock, rate $rate"
	no_warning "lock$rate.heap" "signal needing the lock, rate $rate"
done

# handlers run through the shim's trampoline: what the program sets and
# reads back, and what each handler gets, is what it is untraced
same actions HEAPTRACE_OUTPUT=actions.heap -- "$progs/hostile_signal" actions
grep -q "^handled: plain 1, siginfo 1" actions.t.out
check $? "signal actions: both handlers called with their arguments"

# a handler left by a jump (longjmp, siglongjmp, setcontext) is over: the
# blocks kept after it (40000 of 1000 bytes) come from the real allocator,
# not the arena that serves handlers
arena_live() {
	"$report" --stats "$1" | sed -n '/^Metrics:$/,$p' |
		awk '$1 == "heaptrace.arena_live_bytes" { print $2 }'
}
for how in jump ctxjump; do
	same "$how" "HEAPTRACE_OUTPUT=$how.heap" -- "$progs/hostile_signal" "$how" 100
	valid "$how.heap" "handlers left by $how"
	a=$(arena_live "$how.heap")
	[ -n "$a" ] && [ "$a" -lt 4194304 ]
	check $? "handlers left by $how: the blocks kept after them are not in the arena ($a bytes live there)"
	# and the thread's sampling is as before them: at rate 1, exact
	HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$how-1.heap LD_PRELOAD="$lib" "$progs/hostile_signal" "$how" 100 >/dev/null
	is "$(value "$how-1.heap" kept_site inuse_objects)" 40000 "handlers left by $how, rate 1: kept_site keeps exactly 40000 blocks"
done

# --- allocations on other stacks than the thread's ---------------------------
# a handler on an alternate signal stack, and coroutines on stacks from
# malloc: the shim walks each such stack (it remembers only stacks on the
# thread's own), and gets each right
same altstack HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=altstack.heap -- "$progs/hostile_stacks" altstack 2000
valid altstack.heap "alternate signal stack"
no_warning altstack.heap "alternate signal stack"
a=$(value altstack.heap alt_site alloc_objects)
check "$([ "$a" -gt 1 ]; echo $?)" "alternate signal stack, rate 1: the handler's allocations are recorded ($a)"
"$report" --format collapsed --functions --top 0 --sample-index alloc_objects altstack.heap |
	grep 'alt_site ' | grep -v ';on_alarm;alt_site ' | grep -vq ';main;altstack;alt_site 1$'
check $((!$?)) "alternate signal stack: alt_site is reached through the handler (or once from main)"
same coro HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=coro.heap -- "$progs/hostile_stacks" coro 1000
valid coro.heap "coroutines"
"$report" --format collapsed --functions --top 0 --sample-index inuse_objects coro.heap |
	sed -n 's/.*\(body_[ab];coro_[ab];coro_site \)/\1/p' | sort >coro.txt
printf '%s\n' "body_a;coro_a;coro_site 1000" "body_b;coro_b;coro_site 1000" >coro.want
if cmp -s coro.txt coro.want; then
	pass "coroutines, rate 1: 1000 blocks through each"
else
	fail "coroutines, rate 1: 1000 blocks through each"
	note coro.txt
fi

# --- how the program ends, while threads allocate -------------------------
same texit HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=texit.heap -- "$progs/hostile_proc" texit
is "$(cat texit.t.rc)" 5 "exit(5) from a thread: status 5"
valid texit.heap "exit(5) from a thread"
grep -q 'cut short' texit.heap.txt
check $((!$?)) "exit(5) from a thread: the snapshot is final, not cut short"

same _exit HEAPTRACE_OUTPUT=_exit.heap -- "$progs/hostile_proc" _exit
is "$(cat _exit.t.rc)" 9 "_exit(9) with threads allocating: status 9"
valid _exit.heap "_exit(9)"
grep -q 'cut short' _exit.heap.txt
check $? "_exit(9): the snapshot is marked cut short"

same abort HEAPTRACE_OUTPUT=abort.heap -- "$progs/hostile_proc" abort
is "$(cat abort.t.rc)" 134 "abort() with threads allocating: status 134"
valid abort.heap "abort()"
grep -q 'cut short' abort.heap.txt
check $? "abort(): the snapshot is marked cut short"

# --- SIGKILL of the program -----------------------------------------------
# busy CASE VAR=VALUE...: starts hostile_busy as a coprocess B, traced
# with the VARs (LD_PRELOAD unset when untraced=1; as pid 1 of a new pid
# namespace, the way a container runs it, when ns=1), stderr to CASE.err;
# sets bpid (the coprocess) and ppid_ (the program), and reads its "ready"
# line into CASE.out
busy() {
	local name=$1 pre=()
	shift
	rm -f "$name.out"
	[ -z "$ns" ] || pre=(unshare --pid --fork --mount-proc)
	if [ -n "$untraced" ]; then
		coproc B { exec "${pre[@]}" env "$@" "$progs/hostile_busy" 2>"$name.err"; }
	else
		coproc B { exec "${pre[@]}" env "$@" LD_PRELOAD="$lib" "$progs/hostile_busy" 2>"$name.err"; }
	fi
	bpid=$B_PID ppid_=$B_PID bin=${B[0]} bout=${B[1]}
	say_busy "$name"
	[ -z "$ns" ] || ppid_=$(pgrep -P "$bpid")
}
# say_busy CASE [COMMAND]: sends COMMAND, appends the answer to CASE.out
say_busy() {
	local line
	[ -z "$2" ] || tell "$2"
	if read -r -t 30 line <&"$bin" 2>/dev/null; then
		echo "$line" >>"$1.out"
	else
		echo "(no answer)" >>"$1.out"
	fi
}
# tell COMMAND: sends COMMAND, unless the program is gone (a write to
# its pipe would kill us with SIGPIPE; a coprocess's pipe cannot be
# written from a subshell)
tell() {
	kill -0 "$ppid_" 2>/dev/null && echo "$1" >&"$bout"
}
# end_busy CASE [COMMAND]: sends COMMAND (or closes its stdin) and waits
end_busy() {
	[ -z "$2" ] || tell "$2"
	exec {bout}>&- 2>/dev/null
	wait "$bpid" 2>/dev/null
	echo $? >"$1.rc"
}

untraced=1 busy kill.u
say_busy kill.u forever
kill -9 "$bpid"
end_busy kill.u
busy kill.t HEAPTRACE_OUTPUT=kill.heap
say_busy kill.t forever
kill -9 "$bpid"
end_busy kill.t
is "$(cat kill.t.rc)" 137 "SIGKILL of the program: status 137"
is "$(cat kill.t.out)" "$(cat kill.u.out)" "SIGKILL of the program: output unchanged"
valid kill.heap "SIGKILL of the program"
grep -q 'cut short' kill.heap.txt
check $? "SIGKILL of the program: the snapshot is marked cut short"

# --- SIGKILL of the collector ---------------------------------------------
# Killed while the program allocates (200 rounds of 1010 allocations): the
# program runs on with its status; heaptrace says so in one line. At rate
# 1 the 1 MiB ring fills, and the shim must find the collector dead
# rather than wait for it.
untraced=1 busy ckill.u
say_busy ckill.u "work 200"
end_busy ckill.u "exit 4"
for r in 524288 1; do
	c=ckill$r
	busy "$c" HEAPTRACE_RATE=$r HEAPTRACE_RING_MB=1 "HEAPTRACE_OUTPUT=$c.heap"
	cpid=$(collector_of "$bpid")
	check $? "collector killed, rate $r: found the collector ($cpid) by its socket"
	tell "work 200"
	[ -n "$cpid" ] && kill -9 "$cpid"
	gone "$cpid"
	check $? "collector killed, rate $r: it is gone"
	say_busy "$c"
	timeout 10 "$dump" "$bpid" >dump.out 2>dump.err
	is "$?" 1 "collector killed, rate $r: heaptrace-dump fails at once, exit 1"
	end_busy "$c" "exit 4"
	is "$(cat "$c.rc")" 4 "collector killed, rate $r: status 4 unchanged"
	is "$(cat "$c.out")" "$(cat ckill.u.out)" "collector killed, rate $r: output unchanged"
	one_line "$c.err" "collector killed, rate $r: one line on stderr" 'collector'
	[ ! -e "$c.heap" ] && [ -z "$(ls -A | grep "^\.$c")" ]
	check $? "collector killed, rate $r: no snapshot, no temporary file"
done

# A program that is pid 1 of its pid namespace (a container without an
# init) adopts every orphan: the collector, which goes to the background,
# would become its own child, seen by its wait() and reaped (or not) by it.
# The shim does not trace such a process: one message, and it runs on.
ns=1 busy ckillns HEAPTRACE_RATE=1 HEAPTRACE_RING_MB=1 HEAPTRACE_EXIT_TIMEOUT=5 HEAPTRACE_OUTPUT=ckillns.heap
cpid=$(pgrep -P "$ppid_" -f heaptrace-collector)
is "${cpid:-none}" none "program is pid 1: no collector becomes its child"
tell "work 200"
if read -r -t 8 line <&"$bin"; then
	echo "$line" >>ckillns.out
	pass "program is pid 1: the program runs"
else
	fail "program is pid 1: the program runs (no answer in 8 s)"
	kill -9 "$ppid_"
fi
end_busy ckillns "exit 4"
is "$(cat ckillns.rc)" 4 "program is pid 1: status 4 unchanged"
is "$(cat ckillns.out)" "$(cat ckill.u.out)" "program is pid 1: output unchanged"
grep '^heaptrace' ckillns.err >ckillns.ht
one_line ckillns.ht "program is pid 1: one line on stderr" 'tracing is off'
[ ! -e ckillns.heap ]
check $? "program is pid 1: no snapshot"

# A program that is pid 1 of its pid namespace and, as an init or a
# supervisor does, waits for children until there are none: the
# collector must not become one of them (it would wait for the program's
# exit, and the program for it).
# ns_reapall NAME [VAR=VALUE...]: runs "hostile_proc reapall" that way,
# killing it after 8 s; sets hung=1 if it had to
ns_reapall() {
	local name=$1 u
	shift
	(exec unshare --pid --fork --mount-proc env "$@" "$progs/hostile_proc" reapall \
		>"$name.out" 2>"$name.err") &
	u=$!
	hung=0
	for _ in $(seq 160); do
		kill -0 "$u" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$u" 2>/dev/null; then
		hung=1
		kill -9 $(pgrep -P "$u") "$u" 2>/dev/null
	fi
	wait "$u" 2>/dev/null
	echo $? >"$name.rc"
}
ns_reapall reap.u
ns_reapall reap.t HEAPTRACE_OUTPUT=reap.heap LD_PRELOAD="$lib"
is "$(cat reap.u.rc) $(cat reap.u.out)" "0 reapall: reaped 3 children" "pid 1 reaping all children: runs untraced"
check $hung "pid 1 reaping all children: does not hang traced"
is "$(cat reap.t.rc) $(cat reap.t.out)" "0 reapall: reaped 3 children" "pid 1 reaping all children: same status and output traced"

# --- a full ring ------------------------------------------------------------
# Rate 1, a 1 MiB ring, the collector stopped: the program waits for it
# (it lives), so nothing is lost. Each "work" round keeps 10 blocks and
# churns 1000.
untraced=1 busy ring.u
say_busy ring.u "work 200"
end_busy ring.u "exit 0"
busy ring1 HEAPTRACE_RATE=1 HEAPTRACE_RING_MB=1 HEAPTRACE_OUTPUT=ring1.heap
cpid=$(collector_of "$bpid")
kill -STOP "$cpid"
tell "work 200"
# the shim sleeps in 200 us steps while the ring is full (x86-64
# clock_nanosleep is syscall 230)
blocked=1
for _ in $(seq 400); do
	read -r nr _ <"/proc/$bpid/syscall" 2>/dev/null
	[ "$nr" = 230 ] && { blocked=0; break; }
	sleep 0.025
done
check $blocked "full ring, rate 1: the program waits while the collector is stopped"
sleep 1 # the collector stays stopped this long
kill -CONT "$cpid"
say_busy ring1
end_busy ring1 "exit 0"
is "$(cat ring1.rc)" 0 "full ring, rate 1: status 0"
is "$(cat ring1.out)" "$(cat ring.u.out)" "full ring, rate 1: output unchanged"
valid ring1.heap "full ring, rate 1"
is "$(value ring1.heap keep_site inuse_objects)" 2000 "full ring, rate 1: keep_site keeps exactly 2000 objects"
is "$(value ring1.heap churn_site alloc_objects)" 200000 "full ring, rate 1: churn_site allocated exactly 200000"
is "$(value ring1.heap churn_site inuse_objects)" 0 "full ring, rate 1: churn_site keeps nothing"
no_warning ring1.heap "full ring, rate 1"

# Rate 64: the shim does not wait long; what it drops is counted and the
# report warns about it.
busy ring64 HEAPTRACE_RATE=64 HEAPTRACE_RING_MB=1 HEAPTRACE_OUTPUT=ring64.heap
cpid=$(collector_of "$bpid")
kill -STOP "$cpid"
say_busy ring64 "work 200"
kill -CONT "$cpid"
end_busy ring64 "exit 0"
is "$(cat ring64.rc)" 0 "full ring, rate 64: status 0"
is "$(cat ring64.out)" "$(cat ring.u.out)" "full ring, rate 64: output unchanged"
valid ring64.heap "full ring, rate 64"
grep -q 'warning: .*dropped' ring64.heap.txt
check $? "full ring, rate 64: the report warns about dropped events"
grep 'warning' ring64.heap.txt | note
# a block whose allocation was dropped is not recorded at its free either:
# only frees of blocks recorded before the ring filled can be dropped (at
# most a round's churn), not one per dropped allocation
da=$(awk '/sampled events were dropped/ { print $2 }' ring64.heap.txt)
df=$(awk '/frees of sampled blocks were dropped/ { print $2 }' ring64.heap.txt)
[ "${da:-0}" -gt 0 ] && [ $((${df:-0} * 10)) -lt "$da" ]
check $? "full ring, rate 64: frees of blocks never recorded are not sent ($da allocations, ${df:-0} frees dropped)"

# A burst into a 1 MiB ring with the collector running: between drains it
# sleeps 20 ms, long enough for two threads at rate 1024 to fill the ring
# many times over; the writers wake it once the ring is a quarter full, so
# nothing is dropped.
traced HEAPTRACE_RATE=1024 HEAPTRACE_RING_MB=1 HEAPTRACE_OUTPUT=burst.heap -- \
	"$progs/stress" -t 2 -n 300000 -l 1024 >burst.out 2>burst.err
check $? "burst into a 1 MiB ring: status 0"
valid burst.heap "burst into a 1 MiB ring"
no_warning burst.heap "burst into a 1 MiB ring (nothing dropped)"
"$report" --stats burst.heap >burst.stats
is "$(awk '/events not recorded/ { print $NF }' burst.stats)" 0 "burst into a 1 MiB ring: 0 events not recorded"

# --- nowhere to write the snapshot -----------------------------------------
for out in /proc/heaptrace-test.heap "$work/no/such/dir/x.heap"; do
	errlines=1 same unwritable HEAPTRACE_OUTPUT="$out" -- "$progs/retain" 2
	one_line unwritable.t.ht "output $out: one error line" "$out"
	[ ! -e "$out" ] && [ ! -e "$work/no" ]
	check $? "output $out: no file"
done

# a full disk: a 64 KiB tmpfs, filled
mkdir full
if mount -t tmpfs -o size=64k tmpfs "$work/full"; then
	dd if=/dev/zero of=full/filler bs=4k 2>/dev/null
	errlines=1 same fulldisk HEAPTRACE_OUTPUT="$work/full/x.heap" -- "$progs/retain" 2
	one_line fulldisk.t.ht "full disk: one error line" "$work/full/x.heap"
	is "$(ls -A full)" filler "full disk: no partial or temporary file left"
	umount "$work/full"
	check $? "full disk: unmounted"
else
	fail "full disk: cannot mount a tmpfs on $work/full (this test needs root)"
fi

# --- binaries the loader does not preload into -----------------------------
# A static binary has no loader: LD_PRELOAD does nothing.
cc -static -std=c11 -D_GNU_SOURCE -O1 -g -o retain_static "$top/tests/progs/retain.c" -lpthread
check $? "build a static binary"
same static HEAPTRACE_OUTPUT=static.heap -- ./retain_static 2
is "$(cat static.t.out)" "retained 220 blocks" "static: runs normally"
[ ! -e static.heap ] && [ -z "$(ls | grep '^heaptrace\.')" ]
check $? "static: no snapshot"

# A setuid-root binary. Run by root it is not in secure mode (ruid ==
# euid): it is traced. Run by another user it is: the loader ignores a
# LD_PRELOAD path with slashes, so it runs untraced, silently.
chmod 711 "$work"
mkdir suid && chmod 1777 suid
cp "$progs/retain" suid/retain_suid && chown 0:0 suid/retain_suid && chmod 4755 suid/retain_suid
same suid_root HEAPTRACE_OUTPUT="$work/suid/root.heap" -- suid/retain_suid 2
valid suid/root.heap "setuid binary run by root: traced"
run suid_user.u setpriv --reuid=65534 --regid=65534 --clear-groups suid/retain_suid 2
run suid_user.t setpriv --reuid=65534 --regid=65534 --clear-groups \
	env HEAPTRACE_OUTPUT="$work/suid/user.heap" LD_PRELOAD="$lib" suid/retain_suid 2
is "$(cat suid_user.t.rc) $(cat suid_user.t.out)" "0 retained 220 blocks" "setuid binary run by nobody: runs normally"
is "$(cat suid_user.t.err)" "" "setuid binary run by nobody: nothing on stderr"
[ ! -e suid/user.heap ]
check $? "setuid binary run by nobody: not traced (secure mode), no snapshot"
# the control: the same binary without its setuid bit, run by nobody, is traced
cp "$progs/retain" suid/retain_plain && chmod 755 suid/retain_plain
run plain_user setpriv --reuid=65534 --regid=65534 --clear-groups \
	env HEAPTRACE_OUTPUT="$work/suid/plain.heap" LD_PRELOAD="$lib" suid/retain_plain 2
is "$(cat plain_user.rc) $(cat plain_user.out)" "0 retained 220 blocks" "plain binary run by nobody: runs normally"
valid suid/plain.heap "plain binary run by nobody: traced"

n_tmp=$(find "$work" -name '.*.heap.*' | wc -l)
is "$n_tmp" 0 "no temporary snapshot files are left anywhere"

done_testing
