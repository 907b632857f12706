#!/usr/bin/env bash
# The control socket between heaptrace-dump and the collectors: another
# user's planted directory and socket are refused, a slow or lying peer
# costs a bounded time and no memory, a process that changed its user is
# still found, and socket names never collide. Needs root: it creates two
# throwaway users (an attacker and a victim) and runs in its own mount
# and network namespace (a private /tmp, only its own sockets in
# /proc/net/unix), inside a pids cgroup with a small pids.max.
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
if [ -n "$HT_SOCK_INNER" ]; then
	# the namespace's own /tmp, before lib.sh makes its scratch directory;
	# a tree that lives under /tmp is bound back where it was (through a
	# descriptor opened before the tmpfs hides it)
	exec 8<"$HT_TOP" || exit 3
	mount --make-rprivate / && mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 3
	case $HT_TOP/ in
	/tmp/*) mkdir -p "$HT_TOP" && mount --no-canonicalize --bind /proc/self/fd/8 "$HT_TOP" || exit 3 ;;
	esac
	exec 8<&-
fi
. "$(dirname "$self")/lib.sh"
unset HEAPTRACE_COLLECTOR HEAPTRACE_OUTPUT HEAPTRACE_RATE HEAPTRACE_RING_MB XDG_RUNTIME_DIR \
	HEAPTRACE_FOLLOW_FORK HEAPTRACE_PID HEAPTRACE_DISABLE HEAPTRACE_SIGNAL HEAPTRACE_INTERVAL

if [ -z "$HT_SOCK_INNER" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		fail "the control socket's tests need root (other users, namespaces)"
		done_testing
	fi
	cg=/sys/fs/cgroup/pids/heaptrace-t_sock-$$
	atk=htsa$$ vic=htsv$$
	cleanup() {
		userdel "$atk" 2>/dev/null
		userdel "$vic" 2>/dev/null
		groupdel "$atk" 2>/dev/null
		groupdel "$vic" 2>/dev/null
		echo $$ >/sys/fs/cgroup/pids/cgroup.procs 2>/dev/null
		# collectors that write their last snapshots end by themselves
		for _ in $(seq 100); do
			[ -d "$cg" ] && [ -n "$(cat "$cg/cgroup.procs" 2>/dev/null)" ] || break
			sleep 0.1
		done
		rmdir "$cg" 2>/dev/null
		rm -rf "$work"
	}
	trap cleanup EXIT
	# 300 short children, each traced from its fork and from its exec,
	# have some 330 tasks at once (collectors writing their last
	# snapshots), more on a loaded machine, where collectors linger (512
	# was hit once): a runaway chain would still stop within milliseconds
	mkdir "$cg" && echo 1024 >"$cg/pids.max" && echo $$ >"$cg/cgroup.procs"
	check $? "a pids cgroup with pids.max 1024 holds the test"
	# useradd takes a lock that others may hold for a moment
	for u in "$atk" "$vic"; do
		for _ in 1 2 3 4 5; do
			useradd -M -s /usr/sbin/nologin "$u" 2>useradd.err && break
			sleep 1
		done
	done
	id "$atk" >/dev/null 2>&1 && id "$vic" >/dev/null 2>&1
	check $? "throwaway users $atk and $vic created"
	# the namespace's counts come back on fd 7 (its /tmp is another)
	HT_SOCK_INNER=1 HT_TOP=$top HT_SOCK_N=$n \
		HT_ATK=$(id -u "$atk"):$(id -g "$atk") HT_VIC=$(id -u "$vic"):$(id -g "$vic") \
		timeout 300 unshare --mount --net -- "$self" 7>"$work/count"
	rc=$?
	read -r n failed <"$work/count" 2>/dev/null || failed=$((failed + 1))
	is "$rc" 0 "the test in its namespace ran to its end"
	cleanup
	trap 'rm -rf "$work"' EXIT
	! id "$atk" >/dev/null 2>&1 && ! id "$vic" >/dev/null 2>&1 && [ ! -d "$cg" ]
	check $? "the users and the cgroup are removed"
	done_testing
fi

# ---- in the namespace ------------------------------------------------------
n=${HT_SOCK_N:-0}
trap 'echo "$n $failed" >&7; kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
chmod 755 "$work"
auid=${HT_ATK%:*} agid=${HT_ATK#*:} vuid=${HT_VIC%:*} vgid=${HT_VIC#*:}
as_atk() { setpriv --reuid="$auid" --regid="$agid" --clear-groups "$@"; }
as_vic() { setpriv --reuid="$vuid" --regid="$vgid" --clear-groups "$@"; }
py=/usr/bin/python3
mkdir vic && chown "$vuid:$vgid" vic

# A planted server: listens on DIR/PID.sock and DIR/PID-1.sock (the names
# a collector of PID took before and takes now; PID "self" is its own
# pid) and answers every connection as MODE says: "fake", a real snapshot
# (FILE) in a well-formed reply; "slow", one byte every 3 seconds.
cat >plant.py <<'EOF'
import os, socket, sys, time
mode, body, d, pid = sys.argv[1], b"", sys.argv[3], sys.argv[4]
if sys.argv[2] != "-":
    body = open(sys.argv[2], "rb").read()
if pid == "self":
    pid = str(os.getpid())
socks = []
for name in (pid + ".sock", pid + "-1.sock"):
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(d, name))
    os.chmod(os.path.join(d, name), 0o777)
    s.listen(8)
    socks.append(s)
print("ready", pid, flush=True)
import selectors
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        try:
            if mode == "fake":
                c.settimeout(5)
                c.recv(64)
                c.sendall(b"ok %d 1\n" % len(body) + body)
            else:
                for b in b"ok 16 1\n0123456789abcdef":
                    c.send(bytes([b]))
                    time.sleep(3)
        except OSError:
            pass
        c.close()
EOF
cp "$top/tests/corpus/final.heap" fake.heap
chmod 644 plant.py fake.heap

# elapsed CMD...: runs CMD, its stdout and stderr to $work/elapsed.out and
# elapsed.err, its status to elapsed.rc, its time in whole seconds to
# elapsed.s
elapsed() {
	local t0=$SECONDS
	"$@" >"$work/elapsed.out" 2>"$work/elapsed.err"
	echo $? >"$work/elapsed.rc"
	echo $((SECONDS - t0)) >"$work/elapsed.s"
}

# ended CPID PID: waits up to 10 s for collector CPID (killed) to be gone
# and for no socket of it to listen for PID any more
ended() {
	for _ in $(seq 200); do
		! kill -0 "$1" 2>/dev/null && ! collector_sock "$2" | grep -q -- "-$1[.]sock$" && return 0
		sleep 0.05
	done
	return 1
}

# ---- 8: a directory and a socket planted by another user -------------------
# The attacker makes the victim's socket directory first, open to all,
# and plants a socket in it for the victim's traced process.
as_atk mkdir -m 0777 "/tmp/heaptrace-$vuid"
check $? "attack: the attacker creates /tmp/heaptrace-$vuid, mode 0777"
coproc V { exec setpriv --reuid="$vuid" --regid="$vgid" --clear-groups env LD_PRELOAD="$lib" HEAPTRACE_OUTPUT="$work/vic/final.heap" \
	"$progs/hostile_busy" 2>vic.err; }
vpid=$V_PID vin=${V[0]} vout=${V[1]}
read -r -t 30 line <&"$vin"
is "$line" ready "attack: the victim's traced program runs"
for _ in $(seq 100); do grep -q 'private' vic.err && break; sleep 0.05; done
grep -q "'/tmp/heaptrace-$vuid' is not a private directory" vic.err
check $? "attack: the victim's collector refuses the planted directory and says so"
note vic.err
coproc P { exec setpriv --reuid="$auid" --regid="$agid" --clear-groups "$py" plant.py fake fake.heap "/tmp/heaptrace-$vuid" "$vpid"; }
ppid_=$P_PID
read -r -t 30 line <&"${P[0]}"
is "$line" "ready $vpid" "attack: the attacker's socket listens"
cd vic || exit 2
elapsed as_vic "$dump" "$vpid"
is "$(cat ../elapsed.rc)" 1 "attack: the victim's heaptrace-dump refuses, exit 1"
grep -q "refusing '/tmp/heaptrace-$vuid/$vpid-1.sock': .*not a private directory" ../elapsed.err
check $? "attack: the victim is told why: $(cat ../elapsed.err)"
# (the program's final snapshot goes elsewhere)
is "$(ls)" "" "attack: the victim's heaptrace-dump writes nothing"
cd ..
elapsed "$dump" "$vpid"
is "$(cat elapsed.rc)$(ls heaptrace.*.heap 2>/dev/null)" 1 "attack: root's heaptrace-dump refuses too and writes nothing"
grep -q "refusing" elapsed.err
check $? "attack: root is told why: $(cat elapsed.err)"
kill "$ppid_"
wait "$ppid_" 2>/dev/null

# A socket in the attacker's own private directory that claims to serve
# the victim's process: served by the wrong user.
as_atk mkdir -m 0700 "/tmp/heaptrace-$auid"
coproc P { exec setpriv --reuid="$auid" --regid="$agid" --clear-groups "$py" plant.py fake fake.heap "/tmp/heaptrace-$auid" "$vpid"; }
ppid_=$P_PID
read -r -t 30 line <&"${P[0]}"
elapsed "$dump" "$vpid"
is "$(cat elapsed.rc)$(ls heaptrace.*.heap 2>/dev/null)" 1 "attack: another user's own socket for the victim's pid is refused"
grep -q "belongs to uid $auid" elapsed.err
check $? "attack: the refusal says whose: $(cat elapsed.err)"
kill "$ppid_"
wait "$ppid_" 2>/dev/null
exec {vout}>&-
wait "$vpid"

# ---- 9: a slow peer, a lying peer -------------------------------------------
# The attacker's socket, in its own directory, names the attacker's own
# process and answers one byte every 3 seconds. Root's --list skips it
# at once (it is no collector) and goes on.
coproc P { exec setpriv --reuid="$auid" --regid="$agid" --clear-groups "$py" plant.py slow - "/tmp/heaptrace-$auid" self; }
ppid_=$P_PID
read -r -t 30 _ apid <&"${P[0]}"
coproc B { exec env LD_PRELOAD="$lib" HEAPTRACE_OUTPUT="$work/b.heap" "$progs/hostile_busy"; }
bpid=$B_PID bout=${B[1]}
read -r -t 30 line <&"${B[0]}"
collector_of "$bpid" >/dev/null
check $? "slow peer: a traced program is there too"
elapsed timeout 60 "$dump" --list
[ "$(cat elapsed.s)" -le 5 ]
check $? "slow peer: root's --list ends within 5 s (took $(cat elapsed.s) s)"
grep -q "^ *$bpid .*hostile_busy" elapsed.out
check $? "slow peer: --list goes on and lists the traced program"
[ "$(grep -c "skipping: refusing '/tmp/heaptrace-$auid/$apid-1.sock'" elapsed.err)" -eq 1 ] &&
	[ "$(wc -l <elapsed.err)" -eq 1 ]
check $? "slow peer: one line of warning: $(cat elapsed.err)"
kill "$ppid_"
wait "$ppid_" 2>/dev/null
exec {bout}>&-
wait "$bpid"

# A peer that passes every check (it maps the traced program's shared
# memory, as only the collector can) but is slow, or claims 2 GiB: the
# deadline and the size limit end the exchange. (The real collector,
# killed, is started at once, not at the first sample.)
for mode in slow huge; do
	coproc F { exec env LD_PRELOAD="$lib" HEAPTRACE_LAZY=0 HEAPTRACE_OUTPUT="$work/f.heap" \
		"$progs/fakecoll" "$mode" /tmp/heaptrace-0 2>fakecoll.err; }
	fpid=$F_PID fout=${F[1]}
	read -r -t 30 _ fchild <&"${F[0]}"
	cpid=$(collector_of "$fpid") && kill -9 "$cpid" && ended "$cpid" "$fpid"
	check $? "$mode collector: the real collector is killed; the stand-in ($fchild) serves"
	if [ "$mode" = slow ]; then
		elapsed timeout 60 "$dump" --list
		[ "$(cat elapsed.s)" -le 4 ]
		check $? "slow collector: --list ends within 4 s (took $(cat elapsed.s) s)"
		grep -q "skipping: the collector of process $fpid did not answer within the deadline" elapsed.err
		check $? "slow collector: --list warns: $(cat elapsed.err)"
		elapsed timeout 60 "$dump" "$fpid"
		[ "$(cat elapsed.rc)" -eq 1 ] && [ "$(cat elapsed.s)" -le 12 ]
		check $? "slow collector: heaptrace-dump gives up within 12 s, exit 1 (took $(cat elapsed.s) s)"
	else
		elapsed timeout 60 /usr/bin/time -f %M -o huge.kb "$dump" "$fpid"
		[ "$(cat elapsed.rc)" -eq 1 ] && [ "$(cat elapsed.s)" -le 3 ]
		check $? "huge reply: heaptrace-dump refuses at once, exit 1"
		grep -q "claims a reply of 2147483648 bytes, more than the limit" elapsed.err
		check $? "huge reply: it says why: $(cat elapsed.err)"
		[ "$(tail -1 huge.kb)" -lt 200000 ]
		check $? "huge reply: nothing of that size allocated (peak RSS $(tail -1 huge.kb) KiB)"
	fi
	[ -z "$(ls heaptrace.*.heap 2>/dev/null)" ]
	check $? "$mode collector: no file written"
	exec {fout}>&-
	wait "$fpid"
done

# ---- 8: a process that changes its user after it started -------------------
# Its collector runs as root, in root's directory; root finds it there,
# the new user is told that only root can dump it.
for d in dumpable ""; do
	what="setuid after start${d:+, dumpable}"
	# its collector started at once, as root, before the program drops
	# to the user (lazily, at its first sample, it would be the user's)
	coproc S { exec env LD_PRELOAD="$lib" HEAPTRACE_LAZY=0 HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/s.heap" \
		"$progs/setuid_later" "$vuid" $d 2>setuid.err; }
	spid=$S_PID sout=${S[1]}
	read -r -t 30 line <&"${S[0]}"
	is "$line" ready "$what: the program runs as uid $vuid"
	echo work >&"$sout"
	read -r -t 30 line <&"${S[0]}"
	elapsed timeout 60 "$dump" "$spid"
	is "$(cat elapsed.rc)" 0 "$what: root's heaptrace-dump finds it"
	f=$(cat elapsed.out)
	"$report" --format collapsed --functions --top 0 "$f" >s.txt 2>&1
	grep -q 'later_site' s.txt
	check $? "$what: the snapshot shows its allocations"
	rm -f "$f"
	elapsed timeout 60 "$dump" --list
	grep -q "^ *$spid .*setuid_later" elapsed.out
	check $? "$what: root's --list lists it"
	cd vic || exit 2
	elapsed as_vic timeout 60 "$dump" "$spid"
	cd ..
	is "$(cat elapsed.rc)" 1 "$what: uid $vuid's heaptrace-dump may not dump it"
	note elapsed.err
	exec {sout}>&-
	wait "$spid"
done
grep -q "only root can dump it" elapsed.err
check $? "setuid after start: uid $vuid is told that only root can dump it"

# ---- 10: socket names -------------------------------------------------------
# Many short children, each traced (HEAPTRACE_FOLLOW_FORK) from its fork
# and then from its exec: two collectors of one pid at once, each time.
mkdir ff
elapsed timeout 120 env HEAPTRACE_FOLLOW_FORK=1 HEAPTRACE_OUTPUT="$work/ff/x.heap" \
	LD_PRELOAD="$lib" bash -c 'for i in $(seq 300); do sh -c true; done'
is "$(cat elapsed.rc)" 0 "300 exec'd children: the loop ends"
grep -q "Address already in use" elapsed.err
is "$?" 1 "300 exec'd children: no 'Address already in use'"
grep -q "will not reach process" elapsed.err
is "$?" 1 "300 exec'd children: every collector listens"
head -3 elapsed.err | note
rm -rf ff

# A forked child's collector that starts slowly (here on purpose, as on a
# loaded machine) listens after its exec'd image's collector: the tools
# must still reach the live image's, not the ending one's. Collectors
# start at once here: the forked python3 image samples nothing.
cat >slowcoll.sh <<EOF
#!/bin/sh
[ -n "\$HT_SLOW_COLL" ] && sleep 1
exec "$top/collector/heaptrace-collector" "\$@"
EOF
chmod 755 slowcoll.sh
coproc X { exec env HEAPTRACE_LAZY=0 HEAPTRACE_FOLLOW_FORK=1 HEAPTRACE_COLLECTOR="$work/slowcoll.sh" \
	HEAPTRACE_OUTPUT="$work/x.heap" LD_PRELOAD="$lib" "$py" -c '
import os, sys
os.environ["HT_SLOW_COLL"] = "1"
pid = os.fork()
if pid == 0:
    env = dict(os.environ)
    del env["HT_SLOW_COLL"]
    os.execve(sys.argv[1], [sys.argv[1]], env)
print(pid, flush=True)
os.waitpid(pid, 0)
' "$progs/hostile_busy" 2>x.err; }
xpid=$X_PID xout=${X[1]}
# the parent's line (the child's pid) and the child's ("ready"), in
# either order
read -r -t 30 l1 <&"${X[0]}"
read -r -t 30 l2 <&"${X[0]}"
if [ "$l1" = ready ]; then child=$l2 line=$l1; else child=$l1 line=$l2; fi
is "$line" ready "slow first collector: the exec'd child runs"
sleep 2.5 # the slow one has listened, seen the exec, and ended
elapsed timeout 60 "$dump" -o x1.heap "$child"
is "$(cat elapsed.rc)" 0 "slow first collector: heaptrace-dump reaches the child's live collector"
note elapsed.err
"$report" --top 3 x1.heap 2>&1 | grep -q hostile_busy
check $? "slow first collector: the snapshot is of the exec'd program"
echo "exit 0" >&"$xout"
wait "$xpid"

# A collector killed leaves its socket; the next collector of that pid
# (the program execs) listens, removes it, and is reached. The first one
# is started at once: python3's start-up, which uses its own allocator,
# may not have sampled anything by "ready".
coproc Y { exec env HEAPTRACE_LAZY=0 HEAPTRACE_OUTPUT="$work/y.heap" LD_PRELOAD="$lib" "$py" -c '
import os, sys
print("ready", flush=True)
sys.stdin.readline()
os.execv(sys.argv[1], [sys.argv[1]])
' "$progs/hostile_busy" 2>y.err; }
ypid=$Y_PID yout=${Y[1]}
read -r -t 30 line <&"${Y[0]}"
# the collector listens some time after the program is ready (a sanitized
# one, later): its socket is read once collector_of has seen it listen
c1=$(collector_of "$ypid") && stale=$(collector_sock "$ypid") &&
	kill -9 "$c1" && ended "$c1" "$ypid" && gone=1
[ -n "$gone" ] && [ -S "$stale" ] && [ -z "$(collector_sock "$ypid")" ]
check $? "stale socket: a killed collector leaves '$stale', not listening"
echo go >&"$yout"
read -r -t 30 line <&"${Y[0]}"
is "$line" ready "stale socket: the program execs"
elapsed timeout 60 "$dump" -o y1.heap "$ypid"
is "$(cat elapsed.rc)" 0 "stale socket: heaptrace-dump reaches the new collector"
note elapsed.err
[ ! -e "$stale" ]
check $? "stale socket: the new collector removed the stale one"
echo "exit 0" >&"$yout"
wait "$ypid"

# what is left: no socket of a collector that ended
sleep 0.5
left=$(find /tmp -name '*.sock' -newer plant.py 2>/dev/null | grep -v -e "/heaptrace-$auid/" -e "/heaptrace-$vuid/" | tr '\n' ' ')
is "$left" "" "no collector's socket is left behind"
