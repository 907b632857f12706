#!/usr/bin/env bash
# Trust across the shared memory, and descriptors that are not the shim's:
# a program that scribbles over its own shared memory with heaptrace (the
# shim and the collector must survive it, and the final snapshot must say
# what was lost); a root program that drops to another user and then
# writes a path into the shared memory (nothing may be written with more
# privilege than it has now); a daemon whose log takes the number of the
# shim's pipe before it forks (the shim must not close it).
. "$(dirname "$0")/lib.sh"
ulimit -c 0
unset HEAPTRACE_COLLECTOR HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_RING_MB \
	HEAPTRACE_FOLLOW_FORK HEAPTRACE_PID HEAPTRACE_DISABLE HEAPTRACE_SIGNAL

# ---- a scribbled header and ring ----------------------------------------
run scribble traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/s.heap" -- \
	"$progs/shm_scribble" "$work/evil.heap"
is "$(cat scribble.rc)" 0 "scribble: the program survives its scribbled header"
is "$(cat scribble.out)" done "scribble: and runs to its end"
valid "$work/s.heap" "scribble: the final snapshot is written where it was to go"
if [ -e "$work/evil.heap" ]; then
	fail "scribble: the output path written into the header is ignored"
else
	pass "scribble: the output path written into the header is ignored"
fi
# the collector cleans stale temporary files from the output's directory:
# the one it was given, never one the program writes into the header
mkdir -p "$work/other"
deadpid=999999
while kill -0 "$deadpid" 2>/dev/null; do deadpid=$((deadpid - 1)); done
stale=".z.heap.ht-tmp-$deadpid-1-abcdef"
: >"$work/other/$stale"
: >"$work/$stale"
run early traced HEAPTRACE_LAZY=0 HEAPTRACE_OUTPUT="$work/e.heap" -- "$progs/shm_scribble" "$work/other/x.heap" early
is "$(cat early.out)" done "early scribble: the program runs to its end"
valid "$work/e.heap" "early scribble: the final snapshot is written where it was to go"
[ -e "$work/other/$stale" ]
check $? "early scribble: nothing is removed from the directory written into the header"
[ ! -e "$work/$stale" ]
check $? "early scribble: the output's own directory is cleaned of a dead writer's temporary file"
if grep -q 'warning: [0-9]* module or control events were dropped' "$work/s.heap.txt"; then
	pass "scribble: the snapshot reports the damage as dropped events"
else
	fail "scribble: the snapshot reports the damage as dropped events"
	note "$work/s.heap.txt"
fi
if grep -q '^heaptrace: damaged events in the ring of process' scribble.err; then
	pass "scribble: the collector says so once"
else
	fail "scribble: the collector says so once"
	note scribble.err
fi
is "$(value "$work/s.heap" before_scribble inuse_space)" 1000000 "scribble: what was read before is kept"
is "$(value "$work/s.heap" after_scribble inuse_space)" 2000000 "scribble: what came after is read"

# ---- a daemon's log on the number of the shim's pipe ---------------------
for follow in 0 1; do
	rm -f log*
	run daemon traced HEAPTRACE_FOLLOW_FORK=$follow HEAPTRACE_OUTPUT="$work/d.heap" -- \
		"$progs/shm_daemon"
	is "$(cat daemon.rc)" 0 "daemon (follow fork $follow): the program succeeds"
	if grep -q 'logs ok' daemon.err && ! grep -q 'failed' daemon.err; then
		pass "daemon (follow fork $follow): every log write in the forked child succeeds"
	else
		fail "daemon (follow fork $follow): every log write in the forked child succeeds"
		note daemon.err
	fi
	bad=0
	for f in log0 log1 log2 log3 log4 log5 log6 log7; do
		[ "$(cat "$f" 2>/dev/null | tr '\n' ' ')" = "child parent " ] || bad=$((bad + 1))
	done
	is "$bad" 0 "daemon (follow fork $follow): each log holds the child's line, then the parent's"
done

# ---- privileges dropped after start --------------------------------------
# As root only, in a private mount namespace and a pids cgroup that bounds
# whatever it starts.
if [ "$(id -u)" -ne 0 ]; then
	fail "setuid: the privileged cases run as root (run the suite as root)"
	done_testing
fi
nuid=$(id -u nobody) ngid=$(id -g nobody)
cg=/sys/fs/cgroup/pids/heaptrace-t_shm-$$
mkdir "$cg" && echo 64 >"$cg/pids.max" || { fail "setuid: a pids cgroup"; done_testing; }
trap 'for _ in $(seq 100); do [ -s "$cg/cgroup.procs" ] || break; sleep 0.1; done;
	rmdir "$cg"; rm -rf "$work"' EXIT
# boxed CMD...: CMD in its own mount namespace, in the cgroup
boxed() {
	unshare -m -- sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
chmod 755 "$work"
mkdir pub rootonly && chmod 1777 pub && chmod 700 rootonly
echo secret >rootonly/secret
run drop boxed env HEAPTRACE_OUTPUT="$work/pub/out.heap" LD_PRELOAD="$lib" \
	"$progs/shm_setuid" "$nuid" "$ngid" "$work/rootonly/secret"
is "$(cat drop.rc) $(cat drop.out)" "0 dropped" "setuid: the program drops to uid $nuid and ends"
is "$(cat rootonly/secret)" secret "setuid: the root-only file named in the shared memory is untouched"
wait_file pub/out.heap
is "$(stat -c %u:%g pub/out.heap 2>&1)" "$nuid:$ngid" \
	"setuid: the snapshot is written as the user the program became"
"$report" pub/out.heap >/dev/null 2>&1
check $? "setuid: and it is a valid snapshot"

run dropfinal boxed env HEAPTRACE_OUTPUT="$work/rootonly/final.heap" LD_PRELOAD="$lib" \
	"$progs/shm_setuid" "$nuid" "$ngid"
is "$(cat dropfinal.rc)" 0 "setuid: a program whose output is root's drops privileges and ends"
if [ -e rootonly/final.heap ]; then
	fail "setuid: nothing is written where only root may write"
	ls -ln rootonly | note
else
	pass "setuid: nothing is written where only root may write"
fi
if grep -q "^heaptrace: .*'$work/rootonly/final.heap'.*Permission denied" dropfinal.err; then
	pass "setuid: and the collector says why: $(grep '^heaptrace' dropfinal.err)"
else
	fail "setuid: and the collector says why"
	note dropfinal.err
fi
done_testing
