#!/usr/bin/env bash
# The collector's lazy start: a traced program starts its collector at its
# first sampled allocation; one that ends before writes its final snapshot
# itself, the same as the collector's but for the stacks it has none of. A
# collector wrapper that leaves a mark counts the collectors started.
. "$(dirname "$0")/lib.sh"
ulimit -c 0
unset HEAPTRACE_COLLECTOR HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_RING_MB HEAPTRACE_LAZY \
	HEAPTRACE_FOLLOW_FORK HEAPTRACE_PID HEAPTRACE_DISABLE HEAPTRACE_SIGNAL HEAPTRACE_INTERVAL \
	HEAPTRACE_PEAK HEAPTRACE_PUSH HEAPTRACE_METRICS HEAPTRACE_TRIM_IDLE HEAPTRACE_REPORT_TO

mkdir marks out
printf '#!/bin/sh\n: >"%s/started.$$"\nexec "%s" "$@"\n' "$work/marks" "$bin/heaptrace-collector" \
	>wrap.sh && chmod 755 wrap.sh
started() { ls marks | grep -c '^started\.'; }
export HEAPTRACE_COLLECTOR=$work/wrap.sh

# Short programs are run at a rate that never samples: at the default one,
# a first sample within their few kB is a few percent likely, and would
# start a collector. Those that are to sample say their rate.
export HEAPTRACE_RATE=1099511627776

# --- short programs: no collector, one exact snapshot each ----------------
for i in 1 2 3 4 5; do
	printf 'grow 10\nchurn 20\nexit 0\n' | HEAPTRACE_OUTPUT="$work/out/s$i.heap" \
		LD_PRELOAD="$lib" "$progs/grow" >/dev/null 2>>short.err
done
is "$(started)" 0 "a loop of short programs starts no collector"
is "$(ls out | wc -l)" 5 "and leaves one final snapshot each"
is "$(cat short.err)" "" "and says nothing"
# the same program with its collector started at once: the same counts
printf 'grow 10\nchurn 20\nexit 0\n' | HEAPTRACE_LAZY=0 HEAPTRACE_OUTPUT="$work/ref.heap" \
	LD_PRELOAD="$lib" "$progs/grow" >/dev/null
is "$(started)" 1 "HEAPTRACE_LAZY=0 starts it at once"
calls() { "$report" --format json "$1" | sed -n 's/.*"calls": \({[^}]*}\).*/\1/p'; }
want=$(calls ref.heap)
[ -n "$want" ]
check $? "the collector's snapshot has the counts ($want)"
same=0
for i in 1 2 3 4 5; do [ "$(calls "out/s$i.heap")" = "$want" ] && same=$((same + 1)); done
is "$same" 5 "each snapshot written without a collector has exactly its counts"
"$report" --stats out/s1.heap >s1.stats 2>&1
check $? "heaptrace-report reads it"
grep -q '^State: final (the program exited)' s1.stats
check $? "it is marked final"
"$report" --stats ref.heap >ref.stats 2>&1
metric_names() { sed -n '/^Metrics:/,$p' "$1" | awk 'NR > 1 { print $1 }' | tr '\n' ' '; }
is "$(metric_names s1.stats)" "$(metric_names ref.stats)" "it has the metrics the collector gives"
"$report" --format json out/s1.heap | grep -q '"pid": [0-9]*, "exe": "[^"]*/grow", "command": "[^"]*grow"'
check $? "it names the process, its executable and command line"
# the command line as the kernel has it: arguments joined by spaces (an
# empty one too), cut at 2047 bytes
long=$(printf '%03000d' 0)
LD_PRELOAD="$lib" HEAPTRACE_OUTPUT="$work/args.heap" sh -c 'exit 0' zero "a b" "" c
command() { "$report" --format json "$1" | sed -n 's/.*"command": "\([^"]*\)".*/\1/p'; }
is "$(command args.heap)" "sh -c exit 0 zero a b  c" "it has the command line, its arguments as they were"
LD_PRELOAD="$lib" HEAPTRACE_OUTPUT="$work/long.heap" sh -c 'exit 0' zero "$long"
want="sh -c exit 0 zero $long"
is "$(command long.heap)" "${want:0:2047}" "a long one cut at 2047 bytes"
"$report" --temp_objects out/s1.heap >s1.temp 2>&1 && "$report" --lifetimes out/s1.heap >s1.life 2>&1
check $? "it has the time sections, empty (--temp_objects, --lifetimes read it as a collector's)"

# --- the default name never replaces a file ---------------------------------
# the same executable before and after an exec: the same default name
mkdir dflt
(cd dflt && LD_PRELOAD="$lib" sh -c 'exec sh -c "exit 0"')
ls dflt | sed 's/[0-9][0-9]*/N/' | sort | tr '\n' ' ' >dflt.names
is "$(cat dflt.names)" "heaptrace.dash.N-1.heap heaptrace.dash.N.heap " \
	"a default name that is taken gets a suffix, as the collector gives it"
# root names the file by its descriptor, and so does its opener on newer
# kernels; a user on an older one names it through /proc
# (a copy of the shim, which the user can reach wherever the tree is)
mkdir -m 1777 dflt.user
chmod o+x "$work" && cp "$lib" dflt.user.so && chmod 755 dflt.user.so
(cd dflt.user && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	env LD_PRELOAD="$work/dflt.user.so" sh -c 'exec sh -c "exit 0"') 2>dflt.user.err
ls dflt.user | sed 's/[0-9][0-9]*/N/' | sort | tr '\n' ' ' >dflt.user.names
is "$(cat dflt.user.names)" "heaptrace.dash.N-1.heap heaptrace.dash.N.heap " \
	"and so it does for a user without privileges"
is "$(grep -c "exists; snapshot written to '.*-1.heap'" dflt.user.err)" 1 "and says so once"
is "$(stat -c %U dflt.user/* | sort -u)" "nobody" "the user's files are the user's"

# --- a program that samples starts its collector; its snapshot has stacks ----
rm -f marks/*
printf 'grow 5000\nexit 0\n' | HEAPTRACE_RATE=524288 HEAPTRACE_OUTPUT="$work/big.heap" \
	LD_PRELOAD="$lib" "$progs/grow" >/dev/null
is "$(started)" 1 "a program that samples starts its collector"
"$report" --format collapsed --functions big.heap | grep -q ';grow_site [0-9]*$'
check $? "and its final snapshot has the stacks"

# --- the end without exit: _exit, abort, exec ---------------------------------
rm -f marks/*
echo '_exit 4' | HEAPTRACE_OUTPUT="$work/ex.heap" LD_PRELOAD="$lib" "$progs/grow" >/dev/null 2>&1
is "$?" 4 "_exit: status unchanged"
"$report" --stats ex.heap 2>&1 | grep -q '^State: cut short'
check $? "_exit: a snapshot marked cut short, with no collector"
echo 'abort' | HEAPTRACE_OUTPUT="$work/ab.heap" LD_PRELOAD="$lib" "$progs/grow" >/dev/null 2>&1
is "$?" 134 "abort: status unchanged"
"$report" --stats ab.heap 2>&1 | grep -q '^State: cut short'
check $? "abort: a snapshot marked cut short, with no collector"
(cd out && rm -f ./* && LD_PRELOAD="$lib" sh -c 'exec /bin/true')
ls out | sort >exec.files
grep -q '^heaptrace\.true\.[0-9]*\.heap$' exec.files && grep -qv '^heaptrace\.true\.' exec.files
check $? "exec: the program exec'd from and the one exec'd each leave a snapshot"
before=$(grep -v '^heaptrace\.true\.' exec.files)
"$report" --stats "out/$before" 2>&1 | grep -q '^State: cut short'
check $? "exec: the first marked cut short"
# (python3: a shell exits at a failed exec)
(cd out && rm -f ./* && LD_PRELOAD="$lib" /usr/bin/python3 -c '
import os
try:
    os.execv("/nonexistent/x", ["x"])
except OSError:
    pass' 2>/dev/null)
is "$(ls out | wc -l)" 1 "a failed exec: one snapshot, replaced at the exit"
"$report" --stats out/* 2>&1 | grep -q '^State: final'
check $? "a failed exec: it is the exit's"
is "$(started)" 0 "none of them started a collector"

# --- exec with a collector running: the new image keeps the name ------------
# (libheaptrace(7): without %e in the name, the new image's snapshot
# replaces the old one's.) The old image's collector writes when it sees
# the image go, while the new one runs; stopped meanwhile, it writes after
# the new image's collector has: the name must stay the new image's, the
# old snapshot going next to it.
mkfifo go
HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/chain.heap" LD_PRELOAD="$lib" \
	bash -c 'echo $$ >bash.pid; read -r _ <go; exec "$0"' "$progs/retain" >chain.out 2>chain.err &
chain=$!
wait_file bash.pid
bp=$(cat bash.pid) old=
for _ in $(seq 200); do
	old=$(pgrep -f -- "--pid=$bp --output=") && break
	sleep 0.05
done
[ -n "$old" ] && kill -STOP "$old"
check $? "exec chain: the shell sampled and started its collector (stopped now)"
echo >go
wait "$chain"
is "$?" 0 "exec chain: the program the shell executed ran"
"$report" --stats chain.heap 2>&1 | grep '^Exe:' >chain.exe
sleep 0.3 # however late the shell's collector sees its image go
kill -CONT "$old" 2>/dev/null
for _ in $(seq 400); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done
"$report" --stats chain.heap 2>&1 | grep '^Exe:' >chain.exe2
is "$(cat chain.exe):$(cat chain.exe2)" "Exe: $progs/retain:Exe: $progs/retain" \
	"exec chain: the name holds the executed program's snapshot, before and after the shell's collector wrote"
"$report" --stats chain-1.heap 2>&1 | grep -E '^(Exe|State):' | tr '\n' ' ' >chain1.txt
grep -q '^Exe: /usr/bin/bash State: cut short' chain1.txt
check $? "exec chain: the shell's snapshot, cut short, is next to it ($(cat chain1.txt))"
grep -q "'$work/chain.heap' exists; snapshot written to '$work/chain-1.heap'" chain.err
check $? "exec chain: and the shell's collector says where"
# a file older than the image is replaced, cut short or not
echo old >killed1.heap
touch -d '1 hour ago' killed1.heap
HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/killed1.heap" LD_PRELOAD="$lib" "$progs/grow" </dev/zero \
	>/dev/null 2>killed1.err &
kpid=$!
for _ in $(seq 200); do pgrep -f -- "--pid=$kpid --output=" >/dev/null && break; sleep 0.05; done
sleep 0.2
kill -9 "$kpid"; wait "$kpid" 2>/dev/null
for _ in $(seq 200); do "$report" --stats killed1.heap >killed1.txt 2>&1 && break; sleep 0.05; done
grep -q '^State: cut short' killed1.txt && [ ! -e killed1-1.heap ]
check $? "killed at rate 1: its cut-short snapshot replaces a file of an earlier run"

# --- killed before its first sample: nothing, and the launcher says why -----
HEAPTRACE_OUTPUT="$work/killed.heap" LD_PRELOAD="$lib" "$progs/grow" </dev/zero >/dev/null 2>&1 &
kpid=$!
sleep 0.3
kill -9 "$kpid"; wait "$kpid" 2>/dev/null
sleep 0.2
[ ! -e killed.heap ]
check $? "SIGKILL before the first sample: no snapshot"
(cd out && "$launcher" sh -c 'kill -TERM $$' >/dev/null 2>../launch.err)
grep -q "^heaptrace: no snapshot of sh was written: it ended (killed) before its first sampled allocation" launch.err
check $? "the launcher says why"

# --- heaptrace-dump and heaptrace-attach of a program with no collector yet --
coproc G { HEAPTRACE_OUTPUT="$work/idle.heap" LD_PRELOAD="$lib" exec "$progs/grow"; }
gpid=$G_PID
read -r -t 10 _ _ <&"${G[0]}"
"$dump" -o d0.heap "$gpid" >/dev/null 2>dump.err
is "$?" 1 "heaptrace-dump of an idle program with no collector fails"
grep -q "^heaptrace-dump: process $gpid has no collector yet: it starts at its first sampled allocation" dump.err
check $? "and says why, in one line ($(head -1 dump.err))"
is "$(wc -l <dump.err)" 1 "one line"
"$bin/heaptrace-attach" --shim "$lib" "$gpid" >attach.out 2>&1
grep -q "it is traced already (collector pid [0-9]*)" attach.out
check $? "heaptrace-attach starts its collector"
"$dump" -o d1.heap "$gpid" >/dev/null 2>&1
check $? "then heaptrace-dump works"
echo "exit 0" >&"${G[1]}"
wait "$gpid"
valid() { "$report" "$1" >/dev/null 2>&1; }
valid idle.heap
check $? "and the collector writes the final snapshot"

# --- a program that writes into its shared header before its collector starts
# (at its first sample): the collector is told the path the shim was
for _ in 1; do
	run early env HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/e.heap" LD_PRELOAD="$lib" \
		"$progs/shm_scribble" "$work/evil.heap" early
	is "$(cat early.out)" done "scribbled before the start: the program runs to its end"
	valid e.heap
	check $? "the snapshot is written where it was to go"
	[ ! -e evil.heap ]
	check $? "not where the header says"
done

# --- the sample arena: reserved at the first block placed there -----------
# A shell lists its own mappings (a builtin read: no other program); the
# arena is the one large range of anonymous address space reserved
# PROT_NONE (at least 64 GiB; pages that are used split it).
reserved() {
	local range perm off dev ino n=0

	while read -r range perm off dev ino _; do
		[ "$perm" = "---p" ] && [ "$ino" = 0 ] || continue
		n=$((n + 0x${range#*-} - 0x${range%-*}))
	done <"$1"
	echo $((n >> 30))
}
lsmaps='while read -r l; do echo "$l"; done </proc/$$/maps'
LD_PRELOAD="$lib" sh -c "$lsmaps" >none.maps 2>none.err
is "$(reserved none.maps)" 0 "a program that samples nothing reserves no arena"
is "$(cat none.err)" "" "and says nothing"
HEAPTRACE_DISABLE=1 LD_PRELOAD="$lib" sh -c "$lsmaps" >off.maps
is "$(reserved off.maps)" 0 "nor does one with HEAPTRACE_DISABLE=1"
HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/one.heap" LD_PRELOAD="$lib" sh -c "$lsmaps" >one.maps
[ "$(reserved one.maps)" -ge 60 ]
check $? "one that samples has it reserved ($(reserved one.maps) GiB)"
# with too little address space for it (RLIMIT_AS), the program runs on,
# and the samples are counted as lost, said once
(
	ulimit -v 300000
	printf 'grow 10\nexit 0\n' | HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/tight.heap" \
		LD_PRELOAD="$lib" "$progs/grow" >tight.out 2>tight.err
	echo $? >tight.rc
)
is "$(cat tight.rc) $(tail -1 tight.out)" "0 done 10" "no room for the arena: the program runs to its end"
is "$(grep -c 'sample arena cannot be reserved: .*(rate 1 is no longer exact)' tight.err)" 1 \
	"and one line says the arena cannot be reserved"
# (by the collector, or by the shim when a collector built with a
# sanitizer cannot start in so little)
"$report" --stats tight.heap 2>&1 | grep -q 'sampled allocations went unrecorded (sample arena full)'
check $? "its snapshot counts the samples lost"
# threads whose first samples race to reserve it (the main thread's few
# blocks are rarely sampled at this rate): each run ends as untraced
"$progs/mtalloc" -t 4 -n 3000 -l 64 >race.want
ok=0
for i in $(seq 12); do
	run "race$i" env HEAPTRACE_RATE=4194304 HEAPTRACE_OUTPUT="$work/race$i.heap" \
		LD_PRELOAD="$lib" "$progs/mtalloc" -t 4 -n 3000 -l 64
	if [ "$(cat "race$i.rc")" = 0 ] && cmp -s race.want "race$i.out" && [ ! -s "race$i.err" ] &&
		valid "race$i.heap"; then
		ok=$((ok + 1))
	else
		echo "# run $i: status $(cat "race$i.rc"), $(cat "race$i.out" "race$i.err" | head -3)"
		ls -l "race$i.heap"
	fi
done
is "$ok" 12 "threads racing to reserve it: the same output, no word, a valid snapshot (12 runs)"

# --- a program that closes its descriptors before its first sample ----------
run closed env HEAPTRACE_RATE=524288 HEAPTRACE_OUTPUT="$work/closed.heap" LD_PRELOAD="$lib" \
	"$progs/closefds"
is "$(cat closed.rc) $(cat closed.out)" "0 done" "closed descriptors: the program runs on"
is "$(grep -c . closed.err)" 1 "closed descriptors: one line says so"
grep -q "closed the shared memory's descriptor before its first sample" closed.err
check $? "closed descriptors: and why ($(head -1 closed.err))"
"$report" --format json closed.heap 2>/dev/null | grep -q '"allocs": 20[0-9],'
check $? "closed descriptors: the final snapshot has the counts"

done_testing
