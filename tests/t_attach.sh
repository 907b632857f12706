#!/usr/bin/env bash
# heaptrace -p: attaching to a running process with ptrace. Eight threads
# that check every byte they allocate are attached to and stopped again and
# again, and end as they would have; a process that grows after the attach
# shows that growth exactly at its stack; python3 is attached to; every
# process that cannot be attached to says why and runs on untouched.
. "$(dirname "$0")/lib.sh"

attach=$bin/heaptrace-attach
py=/usr/bin/python3 # not a pyenv shim from PATH
T() { timeout 60 "$@"; } # no step may hang the suite

# started NAME CMD...: CMD in the background, stdout to NAME.out; its pid
# (the first line it prints) in $spid
started() {
	local name=$1
	shift
	"$@" >"$name.out" 2>"$name.err" &
	for _ in $(seq 100); do [ -s "$name.out" ] && break; sleep 0.05; done
	spid=$(head -1 "$name.out")
}
# wait_line FILE REGEX: waits up to 20 s for a line of FILE matching REGEX
wait_line() {
	for _ in $(seq 400); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
alive() { kill -0 "$1" 2>/dev/null; }

if [ -r /proc/sys/kernel/yama/ptrace_scope ] && [ "$(cat /proc/sys/kernel/yama/ptrace_scope)" = 3 ]; then
	skip "kernel.yama.ptrace_scope is 3: no process may be attached to on this machine"
	done_testing
fi

# --- eight threads, attached to and stopped 50 times in a row ---------------
# each round a short window with a snapshot of its own; the program's own
# checks and exit status are unchanged
started churn "$progs/attachee" churn 8 120
cpid=$!
# real-time signals queue: every one sent while it is attached to and
# stopped must be delivered, once
(k=0; for _ in $(seq 200); do kill -RTMIN "$spid" 2>/dev/null && k=$((k + 1)); sleep 0.02; done; echo "$k" >sent) &
rounds=0 bad=0 empty=0
while [ "$rounds" -lt 50 ] && alive "$spid"; do
	rounds=$((rounds + 1))
	T "$attach" "$spid" HEAPTRACE_OUTPUT="$PWD/w$rounds.heap" >>attach.log 2>&1 || { bad=$((bad + 1)); break; }
	sleep 0.05
	T "$attach" --stop "$spid" >>attach.log 2>&1 || { bad=$((bad + 1)); break; }
	for _ in $(seq 200); do [ -s "w$rounds.heap" ] && break; sleep 0.05; done
	v=$(value "w$rounds.heap" churn_alloc alloc_space)
	case $v in ''|absent|unreadable|0) empty=$((empty + 1)) ;; esac
done
kill -USR2 "$spid" 2>/dev/null # ends its run: it checks and frees what it holds
is "$rounds:$bad" 50:0 "8 busy threads: 50 attaches and stops in a row, each one done"
[ "$bad" -eq 0 ] || note attach.log
is "$(grep -cE '^attached to process .*; (9|1[0-9]) threads paused [0-9.]+ ms' attach.log)" 50 \
	"each attach stopped every thread (the 8, main, the shim's helper) and says how long"
is "$empty" 0 "each window's snapshot holds what that window allocated at churn_alloc"
"$report" w1.heap 2>&1 | grep -q ', detached$' && pass "the snapshot says detached" ||
	fail "the snapshot says detached"
wait "$cpid" 2>/dev/null
is "$?:$(sed -n 2p churn.out)" "0:checked many blocks" \
	"after $rounds attaches: no byte changed, no crash, no deadlock, exit status 0"
is "$(sed -n 3p churn.out)" "signals $(cat sent 2>/dev/null)" \
	"the real-time signals sent meanwhile ($(cat sent 2>/dev/null) of 200): each delivered, once"

# --- a known growth after the attach, through the launcher -------------------
started grow "$progs/attachee" grow 10
timeout 60 "$launcher" -p "$spid" --rate 1 -o grow.heap >launch.out 2>launch.err &
lpid=$!
check "$(wait_line launch.err '^heaptrace: tracing'; echo $?)" "heaptrace -p says it traces"
kill -USR1 "$spid"
wait_line grow.out '^grown' || fail "the program grew"
kill -TERM "$lpid" # as Ctrl-C at a terminal
wait "$lpid"
is "$?" 0 "heaptrace -p exits 0 when stopped"
grep -q '^heaptrace: snapshot written to grow.heap$' launch.err && pass "it says where the snapshot is" ||
	{ fail "it says where the snapshot is"; note launch.err; }
grep -q '^Attached: at .*heap in use then .*not attributed to stacks' launch.err &&
	pass "the summary says what the attach could not see" || fail "the summary says what the attach could not see"
is "$(value grow.heap grow_known inuse_space)" 1000000 "the growth after the attach, exactly, at its stack"
check "$(alive "$spid"; echo $?)" "the process runs on after the detach"
kill -USR1 "$spid" # hooks in place, inert: it grows again, untraced
wait_line grow.out '^grown.*' && [ "$(grep -c grown grow.out)" -eq 2 ] && pass "and allocates on" ||
	fail "and allocates on"

# --- a second heaptrace -p while one traces -------------------------------
T "$attach" "$spid" HEAPTRACE_OUTPUT="$PWD/again.heap" >again.out 2>&1
is "$?" 0 "attached again after the stop"
T "$attach" "$spid" HEAPTRACE_OUTPUT="$PWD/twice.heap" >twice.out 2>&1
rc=$?
is "$rc:$(grep -c 'traced already' twice.out)" "3:1" "a second attach while it traces: says it is traced already"
T "$attach" --stop "$spid" >/dev/null 2>&1
kill -TERM "$spid"
wait "$spid" 2>/dev/null
is "$?" 0 "the program exits as it would have"

# pointers to free and realloc the program keeps in its data, taken before
# the attach: sampled blocks freed through them go to the shim too
started stale "$progs/attachee" stale
T "$attach" "$spid" HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$PWD/stale.heap" >stale_at.out 2>&1
check $? "a program with pointers to free and realloc in its data attached to"
kill -USR1 "$spid"
wait_line stale.out '^freed' && pass "blocks sampled after the attach freed through them" ||
	fail "blocks sampled after the attach freed through them"
T "$attach" --stop "$spid" >/dev/null 2>&1
kill -TERM "$spid"
wait "$spid"
is "$?" 0 "... and it exits 0"

# --duration: it stops by itself
started dur "$progs/attachee" grow 1
T "$launcher" -p "$spid" --duration 1 -o dur.heap >dur.out 2>dur.err
is "$?:$(grep -c '^heaptrace: snapshot written to dur.heap$' dur.err)" "0:1" \
	"--duration 1: stops by itself and writes the snapshot"
check "$(alive "$spid"; echo $?)" "... the process runs on"
kill -TERM "$spid"

# --- C++: operators new and delete redirected too ---------------------------
started cxx "$progs/attachee_cxx" 100
T "$attach" "$spid" HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$PWD/cxx.heap" >cxx_at.out 2>&1
check $? "a C++ program attached to"
kill -USR1 "$spid"
wait_line cxx.out '^made' || fail "it made its widgets"
T "$dump" -o cxx_live.heap "$spid" >/dev/null 2>&1
is "$(value cxx_live.heap make_widget inuse_space):$(value cxx_live.heap make_widget alloc_objects)" \
	"50000:100" "new and delete after the attach, exactly, at make_widget"
T "$attach" --stop "$spid" >/dev/null 2>&1
kill -TERM "$spid"
wait "$spid" 2>/dev/null
is "$?" 0 "it deletes what it kept (some from the attach) and exits 0"

# --- a user's own process, without any privilege ------------------------------
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
chmod 755 "$work" && mkdir nob && chmod 777 nob
started nob "${nobody[@]}" "$progs/attachee" grow 10
"${nobody[@]}" timeout 60 "$launcher" -p "$spid" --rate 1 -o nob/nob.heap >nob.lout 2>nob.lerr &
lpid=$!
check "$(wait_line nob.lerr '^heaptrace: tracing'; echo $?)" "nobody attaches to a process of its own"
kill -USR1 "$spid"
wait_line nob.out '^grown' || fail "it grew"
kill -TERM "$lpid"
wait "$lpid"
is "$?:$(value nob/nob.heap grow_known inuse_space)" 0:1000000 "... and sees its growth exactly"
kill -TERM "$spid"

# --- python3 -----------------------------------------------------------------
cat >grow.py <<'EOF'
import os, sys, time
print(os.getpid(), flush=True)
kept = []
for i in range(150):
    kept.append(bytearray(100000))
    time.sleep(0.02)
print("done", flush=True)
EOF
PYTHONMALLOC=malloc started py "$py" grow.py
T "$launcher" -p "$spid" --rate 1 -o py.heap >pyl.out 2>pyl.err
is "$?" 0 "python3 attached to and detached (at its end)"
wait_line py.out '^done' && pass "python3 ran to its end" || fail "python3 ran to its end"
wait "$spid" 2>/dev/null
is "$?" 0 "python3 exits 0"
v=$("$report" --format collapsed --top 0 --sample-index alloc_space py.heap 2>/dev/null | awk '{ s += $NF } END { print s + 0 }')
check "$([ "${v:-0}" -ge 1000000 ]; echo $?)" "python3's snapshot holds its bytearrays ($v bytes)"

# --- redis-server (jemalloc underneath) under redis-benchmark load -------------
port=$((20000 + RANDOM % 20000))
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >redis.log 2>&1 &
rpid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
timeout 60 redis-benchmark -p "$port" -q -n 300000 -c 10 -P 4 -t set,lpush >bench.txt 2>&1 &
bpid=$!
sleep 0.3
T "$attach" "$rpid" HEAPTRACE_RATE=16384 HEAPTRACE_OUTPUT="$PWD/redis.heap" >redis_at.out 2>&1
check $? "redis-server attached to under load"
sleep 0.5
T "$dump" -o r1.heap "$rpid" >/dev/null 2>&1 && sleep 0.5 && T "$dump" -o r2.heap "$rpid" >/dev/null 2>&1
check $? "two dumps of it"
T "$hdiff" r1.heap r2.heap >rdiff.txt 2>&1
check $? "and their diff"
T "$attach" --stop "$rpid" >/dev/null 2>&1
check $? "stopped"
wait "$bpid"
check "$([ $? -eq 0 ] && [ "$(grep -c 'requests per second' bench.txt)" -eq 2 ]; echo $?)" \
	"every request of redis-benchmark answered"
"$report" --functions --top 0 --sample-index alloc_space redis.heap 2>/dev/null | grep -q zmalloc
check $? "the snapshot names redis's allocator wrapper (zmalloc)"
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
wait "$rpid"
is "$?" 0 "redis-server shuts down cleanly after the detach"

# --- what cannot be attached to says why, and runs on ---------------------------
errs() { # NAME WANT DESCRIPTION: heaptrace -p PID ($spid) fails with WANT in one line
	T "$launcher" -p "$spid" >"$1.out" 2>"$1.err"
	local rc=$?
	if [ "$rc" -ne 0 ] && grep -qE -- "$2" "$1.err" && [ "$(wc -l <"$1.err")" -eq 1 ]; then
		pass "$3"
	else
		fail "$3"
		echo "#   exit $rc, want one line matching: $2"
		note "$1.err"
	fi
}
spid=999999
while alive "$spid"; do spid=$((spid - 1)); done
errs nosuch "no such process $spid" "no such process"

started pre env LD_PRELOAD="$lib" HEAPTRACE_OUTPUT=pre.heap "$progs/attachee" grow 1
errs preloaded "it is traced already \(collector pid [0-9]+\)" "a process preloaded with the shim"
check "$(alive "$spid"; echo $?)" "... runs on"
kill -TERM "$spid"

if cc -static -O1 -o static_attachee "$top/tests/progs/attachee.c" -lpthread 2>/dev/null; then
	started static ./static_attachee grow 1
	errs static "is statically linked" "a static program"
	check "$(alive "$spid"; echo $?)" "... runs on"
	kill -TERM "$spid"
else
	skip "no static C library to build a static program with"
fi

# a 32-bit program: the smallest one, made here (it waits in pause(2))
"$py" - <<'EOF'
import struct
code = bytes.fromhex("b81d000000cd80ebf7")  # mov eax, 29 (pause); int 0x80; jmp back
base, eh, ph = 0x08048000, 52, 32
size = eh + ph + len(code)
head = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9) + struct.pack(
    "<HHIIIIIHHHHHH", 2, 3, 1, base + eh + ph, eh, 0, 0, eh, ph, 1, 0, 0, 0)
open("elf32", "wb").write(head + struct.pack("<8I", 1, 0, base, base, size, size, 5, 4096) + code)
EOF
chmod +x elf32
./elf32 &
spid=$!
sleep 0.2
if alive "$spid"; then
	errs elf32 "process $spid is a 32-bit program: heaptrace attaches to 64-bit x86 programs only" \
		"a 32-bit program"
	check "$(alive "$spid"; echo $?)" "... runs on"
	kill -TERM "$spid"
else
	skip "this kernel runs no 32-bit program"
fi

# a thread always inside the C library is never made to call dlopen
started inlibc "$progs/attachee" libc
# in its loop: before, a loaded machine could stop it in its own code
wait_line inlibc.out '^looping' || fail "the thread is in its loop"
errs inlibc "no moment when every thread of process $spid was outside the allocator and the loader in 100 tries \(a thread was running in the C library" \
	"a process always inside the C library: gives up, saying why"
check "$(alive "$spid"; echo $?)" "... runs on"
kill -TERM "$spid"

# a thread that holds the loader's lock (in a dl_iterate_phdr callback)
started dlhold "$progs/attachee" dlhold
wait_line dlhold.out '^holding' || fail "a thread holds the loader's lock"
errs dlhold "no moment .*in 100 tries \(a thread was holding the dynamic loader's lock\); the process runs on untouched" \
	"a thread holding the loader's lock: gives up, saying why"
check "$(alive "$spid"; echo $?)" "... runs on"
kill -USR1 "$spid"
wait_line dlhold.out '^released' || fail "the lock released"
T "$attach" "$spid" HEAPTRACE_OUTPUT="$PWD/dlhold.heap" >dlhold_at.out 2>&1 &&
	T "$attach" --stop "$spid" >>dlhold_at.out 2>&1
check $? "... and attached to once the lock is free"
kill -TERM "$spid"
wait "$spid"
is "$?" 0 "... and it exits 0"

# a call that never returns (a library whose loading never ends) is
# abandoned after --timeout: the thread is put back and the process runs on
started stall "$progs/attachee" churn 8 6
T "$attach" --timeout 1000 --shim "$progs/libstall.so" "$spid" >stall_at.out 2>stall.err
is "$?:$(grep -c 'did not return in 1000 ms: abandoned, the thread put back where it was; the process runs on' stall.err)" \
	1:1 "a call that never returns: abandoned after --timeout, saying so"
check "$(alive "$spid"; echo $?)" "... runs on"
for _ in $(seq 300); do alive "$spid" || break; sleep 0.1; done # its 6 s, and no more
alive "$spid" && { fail "... ends on time (its sleep was not the call's)"; kill -KILL "$spid"; }
wait "$spid"
is "$?:$(sed -n 2p stall.out)" "0:checked many blocks" "... checks every byte and exits 0 on time"

strace -f -o /dev/null "$progs/attachee" grow 1 >traced.out &
for _ in $(seq 100); do [ -s traced.out ] && break; sleep 0.05; done
spid=$(head -1 traced.out)
errs debugger "is being traced by process [0-9]+ \(strace\)" "a process under a debugger (strace)"
check "$(alive "$spid"; echo $?)" "... runs on"
kill -TERM "$spid"

# a set-user-ID program run by nobody runs in secure-execution mode
mkdir -p sec && cp "$progs/attachee" sec/suid && chmod 4755 sec/suid && chmod 755 sec "$work"
started secure setpriv --reuid=65534 --regid=65534 --clear-groups sec/suid grow 1
errs secure "secure-execution mode" "a set-user-ID process"
check "$(alive "$spid"; echo $?)" "... runs on"
kill -TERM "$spid"

# another user's process, for a user without CAP_SYS_PTRACE
started mine "$progs/attachee" grow 1
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$attach" "$spid" \
	>other.out 2>other.err
is "$?:$(grep -c "it runs as user 0; attaching needs the same user or CAP_SYS_PTRACE" other.err)" "1:1" \
	"another user's process: says which user and capability"
check "$(alive "$spid"; echo $?)" "... runs on"
kill -TERM "$spid"
# nothing left behind to hang the suite
for j in $(jobs -p); do kill "$j" 2>/dev/null; done
wait 2>/dev/null

done_testing
