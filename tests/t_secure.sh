#!/usr/bin/env bash
# Privileged processes and heaptrace's own: a set-user-ID, set-group-ID or
# file-capability program gets the shim from /etc/ld.so.preload (the one
# way the loader preloads into it) and must run exactly as untraced, with
# every HEAPTRACE_* variable ignored; the collector and the tools, with
# the shim in /etc/ld.so.preload, stay untraced (one collector per traced
# program); a collector holds none of the program's descriptors; values
# of HEAPTRACE_* are read strictly.
#
# /etc/ld.so.preload is never the machine's: each case runs in a mount
# namespace of its own (unshare -m) with an overlay on /etc that holds it.
# Everything runs in a pids cgroup with a small pids.max, since a collector
# that traced itself would start collectors without end. Needs root.
. "$(dirname "$0")/lib.sh"
ulimit -c 0
unset HEAPTRACE_COLLECTOR HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_RING_MB \
	HEAPTRACE_FOLLOW_FORK HEAPTRACE_PID HEAPTRACE_DISABLE HEAPTRACE_SIGNAL \
	HEAPTRACE_INTERVAL HEAPTRACE_PEAK HEAPTRACE_DEPTH HEAPTRACE_EXIT_TIMEOUT \
	HEAPTRACE_DEBUGINFO_PATH HEAPTRACE_DWARF_MB DEBUGINFOD_URLS
# a sanitized build's tools must not refuse the shim ahead of their runtime
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
probe=$progs/privprobe
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

if [ "$(id -u)" -ne 0 ]; then
	fail "privileged cases need root (set-user-ID copies, mount namespaces, a pids cgroup)"
	done_testing
fi

# --- the pids cgroup ---------------------------------------------------------
cg=
if [ -d /sys/fs/cgroup/pids ]; then
	cg=/sys/fs/cgroup/pids/heaptrace-secure.$$ cg_parent=/sys/fs/cgroup/pids
elif grep -qw pids /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	cg=/sys/fs/cgroup/heaptrace-secure.$$ cg_parent=/sys/fs/cgroup
fi
cleanup() {
	if [ -n "$cg" ] && [ -d "$cg" ]; then
		echo $$ >"$cg_parent/cgroup.procs"
		for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		for _ in $(seq 100); do [ -z "$(cat "$cg/cgroup.procs" 2>/dev/null)" ] && break; sleep 0.05; done
		rmdir "$cg"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
if [ -z "$cg" ] || ! mkdir "$cg" || ! echo 64 >"$cg/pids.max" || ! echo $$ >"$cg/cgroup.procs"; then
	fail "cannot set up a pids cgroup"
	done_testing
fi
pass "in a pids cgroup with pids.max 64"

# collectors: how many heaptrace-collector processes run in the cgroup
collectors() {
	local p k=0
	for p in $(cat "$cg/cgroup.procs"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = heaptrace-colle ] && k=$((k + 1))
	done
	echo "$k"
}

# --- throwaway copies that another user can reach ---------------------------
chmod 711 "$work"
mkdir lib sec marks cwd rootonly
chmod 755 lib sec && chmod 1777 marks cwd && chmod 700 rootonly
cp "$lib" lib/libheaptrace.so && cp "$bin/heaptrace-collector" lib/ &&
	chmod 644 lib/libheaptrace.so && chmod 755 lib/heaptrace-collector
slib=$work/lib/libheaptrace.so
for v in suid sgid cap plain; do cp "$probe" "sec/probe_$v" && chown 0:0 "sec/probe_$v"; done
chmod 4755 sec/probe_suid && chmod 2755 sec/probe_sgid && chmod 755 sec/probe_plain sec/probe_cap
setcap cap_net_raw+ep sec/probe_cap && getcap sec/probe_cap | grep -q cap_net_raw
check $? "setcap gives a copy a file capability on this filesystem"
# a collector that leaves a mark wherever it runs, as whoever runs it
printf '#!/bin/sh\n: >"%s/started.$$"\n' "$work/marks" >marks/collector.sh
chmod 755 marks/collector.sh
echo "the root-only file's own content" >rootonly/victim && chmod 600 rootonly/victim
victim_sum=$(sha256sum <rootonly/victim)

# in_ns CMD...: CMD in a private mount namespace whose /etc/ld.so.preload
# lists the shim's copy; everything in it runs with HEAPTRACE_DISABLE=1
# unless told otherwise (env -u), so that only the program under test can
# be traced. Each namespace gets an overlay of its own: one that an earlier
# namespace's processes (a collector finishing) still use is not to be
# shared.
in_ns() {
	local d
	d=$(mktemp -d "$work/etc.XXXXXX") && mkdir "$d/up" "$d/work" || return 97
	timeout 120 unshare -m --propagation private -- bash -c '
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/up,workdir=$1/work" /etc ||
			exit 97
		printf "%s\n" "$2" >/etc/ld.so.preload || exit 97
		shift 2
		export HEAPTRACE_DISABLE=1
		exec "$@"' _ "$d" "$slib" "$@"
}

# the namespace and the overlay work, and the shim is preloaded through them
run ns in_ns env -u HEAPTRACE_DISABLE HEAPTRACE_OUTPUT="$work/cwd/ns.heap" "$probe" probe
is "$(cat ns.rc)" 0 "ld.so.preload: a plain program runs"
[ -s cwd/ns.heap ] && grep -q '^shared memory of heaptrace: 1 mappings' ns.out
check $? "ld.so.preload: a plain program run by root is traced (control: the probe sees the shim)"
[ -e /etc/ld.so.preload ] && grep -qF "$slib" /etc/ld.so.preload
[ $? -ne 0 ]
check $? "the machine's /etc/ld.so.preload is untouched"

# --- 1. secure-execution mode --------------------------------------------------
# Each program, run by nobody with every variable set that could make a
# privileged process run or write something: its output must be what it
# is untraced, no collector may start (no mark), nothing written.
hostile=(HEAPTRACE_OUTPUT="$work/rootonly/victim" HEAPTRACE_SIGNAL=USR1 HEAPTRACE_RATE=1
	HEAPTRACE_INTERVAL=0.1 HEAPTRACE_DEBUGINFO_PATH="$work/marks" DEBUGINFOD_URLS=http://127.0.0.1:9/
	HEAPTRACE_FOLLOW_FORK=1 HEAPTRACE_DISABLE=0)
rm -f cwd/*
for v in suid sgid cap; do
	for coll in mark real; do
		name=sec_${v}_$coll
		envs=("${hostile[@]}")
		[ "$coll" = real ] || envs+=(HEAPTRACE_COLLECTOR="$work/marks/collector.sh")
		(cd cwd && run "../$name.u" "${nobody[@]}" env "${envs[@]}" "../sec/probe_$v" probe)
		(cd cwd && run "../$name.t" in_ns "${nobody[@]}" env -u HEAPTRACE_DISABLE "${envs[@]}" \
			"../sec/probe_$v" probe)
		is "$(cat "$name.t.rc")" "$(cat "$name.u.rc")" "$v, $coll collector: exit status unchanged"
		if cmp -s "$name.u.out" "$name.t.out" && cmp -s "$name.u.err" "$name.t.err"; then
			pass "$v, $coll collector: output unchanged (no handler, no descriptor, no shared memory, no message)"
		else
			fail "$v, $coll collector: output unchanged"
			diff "$name.u.out" "$name.t.out" | head -5 | note
			diff "$name.u.err" "$name.t.err" | head -5 | note
		fi
		is "$(ls marks | grep -c started)" 0 "$v, $coll collector: no collector started"
		is "$(sha256sum <rootonly/victim)" "$victim_sum" "$v, $coll collector: the root-only file is untouched"
		is "$(ls -A cwd)" "" "$v, $coll collector: no file written"
		rm -f cwd/*
	done
done
# the control: the same program without privilege, run by nobody, is
# traced; once its collector has left its mark (the shim does not wait
# for that), a late one of the cases above would have too (started at
# once, as HEAPTRACE_SIGNAL and HEAPTRACE_INTERVAL above start it, not at
# the first sample)
(cd cwd && run ../sec_plain in_ns "${nobody[@]}" env -u HEAPTRACE_DISABLE HEAPTRACE_LAZY=0 \
	HEAPTRACE_COLLECTOR="$work/marks/collector.sh" "../sec/probe_plain" probe)
for _ in $(seq 200); do [ "$(ls marks | grep -c started)" -ge 1 ] && break; sleep 0.05; done
sleep 0.5
is "$(ls marks | grep -c started)" 1 "plain program run by nobody: its collector is started (control), no other"
rm -f marks/started.* cwd/*

# --- 2. the collector and the tools are never traced ----------------------------
mkdir t2 && chmod 777 t2
cat >t2/run.sh <<EOF
cd "$work/t2" || exit 1
# a traced program that lives a while; its collector (started at once, not
# at its first sample) is counted meanwhile
env -u HEAPTRACE_DISABLE HEAPTRACE_LAZY=0 HEAPTRACE_OUTPUT=$work/t2/prog.heap "$probe" hold 3000 >hold.out 2>hold.err &
p=\$!
count() { cat "$cg/cgroup.procs" | while read q; do cat /proc/\$q/comm 2>/dev/null; done | grep -c '^heaptrace-colle\$'; }
for _ in \$(seq 100); do grep -q ready hold.out && [ "\$(count)" -ge 1 ] && break; sleep 0.05; done
sleep 0.5 # time for a collector that traced itself to start another
n1=\$(count)
env -u HEAPTRACE_DISABLE "$dump" -o d1.heap \$p >dump.out 2>dump.err; echo \$? >dump.rc
n2=\$(count)
echo "\$n1 \$n2" >counts
wait \$p; echo \$? >hold.rc
env -u HEAPTRACE_DISABLE "$report" --top 3 prog.heap >report.out 2>report.err; echo \$? >report.rc
env -u HEAPTRACE_DISABLE "$hdiff" d1.heap prog.heap >diff.out 2>diff.err; echo \$? >diff.rc
env -u HEAPTRACE_DISABLE "$work/lib/heaptrace-collector" --bogus >coll.out 2>coll.err; echo \$? >coll.rc
ls >files
EOF
in_ns bash t2/run.sh
is "$(cat t2/hold.rc) $(head -1 t2/hold.out)" "0 ready" "ld.so.preload: the traced program runs"
is "$(cat t2/counts)" "1 1" "ld.so.preload: one collector for the traced program, also while dumped"
is "$(cat t2/dump.rc)" 0 "ld.so.preload: heaptrace-dump works"
is "$(cat t2/report.rc)" 0 "ld.so.preload: heaptrace-report works"
is "$(cat t2/diff.rc)" 0 "ld.so.preload: heaptrace-diff works"
is "$(cat t2/coll.rc) $(cat t2/coll.err)" \
	"2 heaptrace-collector: unknown option '--bogus' (this program is started by libheaptrace.so)" \
	"ld.so.preload: the collector run by hand says only its own message"
# a traced tool would have written its final snapshot here at its exit
is "$(grep '^heaptrace\.' t2/files | tr '\n' ' ')" "" "ld.so.preload: no tool and no collector was traced"
is "$(cat t2/hold.err t2/dump.err t2/report.err t2/diff.err)" "" "ld.so.preload: nothing on stderr"
for _ in $(seq 100); do [ "$(collectors)" -eq 0 ] && break; sleep 0.05; done
is "$(collectors)" 0 "ld.so.preload: no collector left"

# a HEAPTRACE_COLLECTOR that is a script: its shell does not trace itself
# (HEAPTRACE_DISABLE=1 in the collector's environment)
printf '#!/bin/sh\n: >"%s/started.$$"\nexec "%s" "$@"\n' "$work/marks" "$work/lib/heaptrace-collector" \
	>marks/wrap.sh && chmod 755 marks/wrap.sh
run t2s in_ns env -u HEAPTRACE_DISABLE HEAPTRACE_LAZY=0 HEAPTRACE_COLLECTOR="$work/marks/wrap.sh" \
	HEAPTRACE_OUTPUT="$work/t2/wrapped.heap" "$probe" hold 500
sleep 0.5 # a script that traced itself would have started itself again by now
is "$(cat t2s.rc) $(cat t2s.out)" "0 ready" "ld.so.preload, collector script: the program runs"
is "$(ls marks | grep -c started)" 1 "ld.so.preload, collector script: started once"
valid t2/wrapped.heap "ld.so.preload, collector script"
rm -f marks/started.*

# --- 11. the collector holds none of the program's descriptors ------------------
# A parent waits for end of file on a pipe its child (traced, and so with
# a collector of its own) holds: it must come when the child exits. The
# collector here is a script that runs the real one, then lingers. (Each
# collector is started at once, not at the first sample, which these
# programs may never make.)
printf '#!/bin/sh\n"%s" "$@"\nsleep 10\n' "$bin/heaptrace-collector" >linger.sh && chmod 755 linger.sh
run pw env HEAPTRACE_LAZY=0 HEAPTRACE_FOLLOW_FORK=1 HEAPTRACE_COLLECTOR="$work/linger.sh" \
	HEAPTRACE_OUTPUT="$work/pw.heap" LD_PRELOAD="$lib" "$probe" pipewait 300
ms=$(sed -n 's/^end of file after \([0-9]*\) ms$/\1/p' pw.out)
is "$(cat pw.rc) $(sed -n 2p pw.out)" "0 child exited with 0" "follow fork: parent and child ran"
[ -n "$ms" ] && [ "$ms" -lt 6000 ]
check $? "follow fork: end of file when the child exits (${ms:-?} ms for a child that sleeps 300 ms)"
# and the collector itself closes what it was started with, however started
printf '#!/bin/sh\necho $$ >"%s/coll.pid"\nexec "%s" "$@" 7<"%s"\n' "$work" "$bin/heaptrace-collector" \
	"$work/linger.sh" >held.sh && chmod 755 held.sh
env HEAPTRACE_LAZY=0 HEAPTRACE_COLLECTOR="$work/held.sh" HEAPTRACE_OUTPUT="$work/held.heap" \
	LD_PRELOAD="$lib" "$probe" hold 3000 >held.out 2>held.err &
hp=$!
wait_file coll.pid
cp=$(cat coll.pid)
# the collector is under way once it watches the process (its pidfd)
for _ in $(seq 200); do ls -l "/proc/$cp/fd" 2>/dev/null | grep -q pidfd && break; sleep 0.02; done
ls -l "/proc/$cp/fd" >held.fds 2>&1
grep -q ' 4 -> pipe:' held.fds
check $? "collector: keeps the liveness pipe"
grep -q 'linger\.sh' held.fds
[ $? -ne 0 ]
check $? "collector: closes a descriptor it was started with"
wait $hp
is "$(cat held.out)" ready "collector: the program ran"

# --- 17. strict values ----------------------------------------------------------
for bad in " 5" "+5" "5 " "0x10" "1e3" "-1" "99999999999999999999999"; do
	run rate env HEAPTRACE_RATE="$bad" HEAPTRACE_OUTPUT="$work/rate.heap" LD_PRELOAD="$lib" \
		"$progs/retain"
	is "$(cat rate.err)" "heaptrace: ignoring HEAPTRACE_RATE='$bad': not a whole number from 1 to 1099511627776" \
		"HEAPTRACE_RATE='$bad': ignored, said once"
done
run pid env HEAPTRACE_PID=" $$" HEAPTRACE_OUTPUT="$work/pid.heap" LD_PRELOAD="$lib" "$progs/retain"
is "$(cat pid.err)" "heaptrace: ignoring HEAPTRACE_PID=' $$': not a process id" "HEAPTRACE_PID=' N': ignored, said once"
for bad in 1e-400 " 5" +5 1e3 0x10 inf nan 0.01; do
	run iv env HEAPTRACE_INTERVAL="$bad" HEAPTRACE_OUTPUT="$work/iv.heap" LD_PRELOAD="$lib" \
		"$progs/retain"
	is "$(cat iv.err)" "heaptrace: ignoring HEAPTRACE_INTERVAL='$bad': not 0 (off) or a number from 0.1 to 31536000" \
		"HEAPTRACE_INTERVAL='$bad': ignored, said once"
done
run iv env HEAPTRACE_INTERVAL=.5 HEAPTRACE_PEAK=50. HEAPTRACE_OUTPUT="$work/iv.heap" \
	LD_PRELOAD="$lib" "$probe" hold 1200
is "$(cat iv.err)" "" "HEAPTRACE_INTERVAL=.5, HEAPTRACE_PEAK=50.: taken without a word"
# (the collector reads it: started at once, not at the first sample)
run dp env HEAPTRACE_LAZY=0 HEAPTRACE_DEBUGINFO_PATH="rel/debug::/usr/lib/debug/:x" \
	HEAPTRACE_OUTPUT="$work/dp.heap" LD_PRELOAD="$lib" "$progs/retain"
is "$(cat dp.err)" "heaptrace: ignoring 'rel/debug' in HEAPTRACE_DEBUGINFO_PATH: not an absolute directory
heaptrace: ignoring 'x' in HEAPTRACE_DEBUGINFO_PATH: not an absolute directory" \
	"HEAPTRACE_DEBUGINFO_PATH: each relative entry ignored, said once"
valid iv.0001.heap "HEAPTRACE_INTERVAL=.5: a numbered snapshot"

done_testing
