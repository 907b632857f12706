#!/usr/bin/env bash
# Files and names: where the writers put their bytes (-o -, devices, FIFOs,
# symbolic links, directories), the temporary files that killed writers
# leave, and names from the traced program (control characters) on the
# terminal and in file names. The cases that need root (a device node,
# another user's link) run in a private mount namespace over a throwaway
# /dev, inside a pids cgroup.
. "$(dirname "$0")/lib.sh"

# no_ctl FILE DESCRIPTION: FILE holds no control byte but newline and tab
no_ctl() {
	local bad
	bad=$(od -An -v -tx1 "$1" | tr ' ' '\n' | grep -Ec '^(0[0-8]|0[b-f]|1[0-9a-f]|7f)$')
	is "$bad" 0 "$2"
}
# gone FILE: waits up to 10 s for FILE to go
gone() {
	for _ in $(seq 200); do
		[ -e "$1" ] || [ -L "$1" ] || return 0
		sleep 0.05
	done
	return 1
}
# the snapshot image of a heaptrace file starts with these 8 bytes
magic=$(printf '\211HEAPTR\n' | od -An -tx1)
is_heap() { [ "$(head -c 8 "$1" | od -An -tx1)" = "$magic" ] && "$report" "$1" >/dev/null 2>&1; }

traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=final.heap -- "$progs/retain" >/dev/null
valid final.heap "the fixture"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=base.heap -- "$progs/retain" 0 >/dev/null
valid base.heap "the base fixture"
"$report" final.heap >report.txt
"$hdiff" base.heap final.heap >diff.txt
coproc G { HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=grow.heap LD_PRELOAD="$lib" exec "$progs/grow"; }
read -r -t 10 _ gpid <&"${G[0]}"
echo "grow 100" >&"${G[1]}"; read -r -t 10 _ _ <&"${G[0]}"

# --- -o - is standard output, in every tool --------------------------------
"$report" -o - final.heap | cat >o.report.txt
cmp -s o.report.txt report.txt
check $? "heaptrace-report -o -: the report on standard output"
"$hdiff" -o - base.heap final.heap | cat >o.diff.txt
cmp -s o.diff.txt diff.txt
check $? "heaptrace-diff -o -: the diff on standard output"
"$dump" -o - "$gpid" | cat >o.dump.heap
is_heap o.dump.heap
check $? "heaptrace-dump -o -: the snapshot on standard output, and nothing else"
[ ! -e ./- ]
check $? "no file named '-' is written"
"$launcher" -o - "$progs/retain" >/dev/null 2>launch.err
is "$?" 2 "the launcher refuses -o - (the program's standard output is its own)"
[ ! -e ./- ] && grep -q "^heaptrace: -o -: " launch.err
check $? "says so, and writes no file named '-' ($(cat launch.err))"

# --- a FIFO gets the data, and stays a FIFO --------------------------------
# fifo NAME CMD...: CMD writes to the FIFO NAME while cat reads it into
# NAME.out; both within 20 s
fifo() {
	local name=$1 reader
	shift
	rm -f "$name" "$name.out"
	mkfifo "$name"
	timeout 20 cat "$name" >"$name.out" &
	reader=$!
	timeout 20 "$@" >/dev/null 2>"$name.err"
	echo $? >"$name.rc"
	wait "$reader"
	[ -p "$name" ] && echo fifo >"$name.kind" || echo "not a fifo" >"$name.kind"
}
fifo r.fifo "$report" -o r.fifo final.heap
is "$(cat r.fifo.rc) $(cat r.fifo.kind)" "0 fifo" "heaptrace-report -o FIFO: succeeds, the FIFO stays"
cmp -s r.fifo.out report.txt
check $? "heaptrace-report -o FIFO: the reader gets the report"
fifo d.fifo "$hdiff" -o d.fifo base.heap final.heap
is "$(cat d.fifo.rc) $(cat d.fifo.kind)" "0 fifo" "heaptrace-diff -o FIFO: succeeds, the FIFO stays"
cmp -s d.fifo.out diff.txt
check $? "heaptrace-diff -o FIFO: the reader gets the diff"
fifo p.fifo "$dump" -o p.fifo "$gpid"
is "$(cat p.fifo.rc) $(cat p.fifo.kind)" "0 fifo" "heaptrace-dump -o FIFO: succeeds, the FIFO stays"
is_heap p.fifo.out
check $? "heaptrace-dump -o FIFO: the reader gets the snapshot"
fifo c.fifo env HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$work/c.fifo" LD_PRELOAD="$lib" "$progs/retain"
is "$(cat c.fifo.rc) $(cat c.fifo.kind)" "0 fifo" "HEAPTRACE_OUTPUT=FIFO: the program ends, the FIFO stays"
is_heap c.fifo.out
check $? "HEAPTRACE_OUTPUT=FIFO: the reader gets the final snapshot"

# --- symbolic links are followed (as cp does); directories refused --------
echo old >target.txt
ln -s target.txt link.txt
"$report" -o link.txt final.heap
check $? "-o a link to a regular file: succeeds"
[ -L link.txt ] && cmp -s target.txt report.txt
check $? "the link stays, the file it names gets the report"
ln -s nowhere.txt dangling.txt
"$report" -o dangling.txt final.heap 2>dangling.err
is "$?" 1 "-o a dangling link: refused (exit 1)"
[ -L dangling.txt ] && [ ! -e nowhere.txt ]
check $? "the dangling link stays, nothing is created where it points"
grep -q "cannot write 'dangling.txt': " dangling.err
check $? "and says why ($(cat dangling.err))"
mkdir adir
"$report" -o adir final.heap 2>adir.err
is "$?" 1 "-o a directory: refused (exit 1)"
grep -qx "heaptrace-report: cannot write 'adir': Is a directory" adir.err
check $? "with one clear line ($(cat adir.err))"
[ -d adir ] && [ -z "$(ls -A adir)" ]
check $? "the directory is untouched"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' a.sock
"$dump" -o a.sock "$gpid" >/dev/null 2>asock.err
is "$?" 1 "-o a socket: refused (exit 1)"
grep -q "cannot write 'a.sock': " asock.err && [ -S a.sock ]
check $? "says why, and the socket stays ($(cat asock.err))"
cp final.heap private.heap
chmod 600 private.heap
"$hdiff" -o private.heap base.heap final.heap
is "$(stat -c %a private.heap)" 600 "a replaced file keeps its permissions"
exec {G[1]}>&-
wait "$G_PID"

# --- a killed writer's temporary file is removed by the next -----------------
# heaptrace-report is stopped in rename (strace delays it) and killed there
strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 \
	-e inject=rename,renameat,renameat2:delay_enter=30000000 \
	"$report" -o killed.txt final.heap 2>/dev/null &
spid=$!
temp=
for _ in $(seq 200); do
	temp=$(ls -A | grep '^\.killed\.txt\.' | head -1)
	[ -n "$temp" ] && break
	sleep 0.05
done
wpid=$(pgrep -P "$spid")
kill -9 "$wpid"
wait "$spid" 2>/dev/null
[ -n "$temp" ] && [ -f "$temp" ]
check $? "a writer killed before its rename leaves a temporary file ($temp)"
[ ! -e killed.txt ]
check $? "and no partial file under the name"
cp -p "$temp" stale.copy
"$report" -o other.txt final.heap
[ ! -e "$temp" ]
check $? "the next writer into the directory removes it"
cp -p stale.copy "$temp"
"$dump" --list >/dev/null 2>list.err
[ ! -e "$temp" ]
check $? "heaptrace-dump --list removes it"
cp -p stale.copy "$temp"
coproc H { HEAPTRACE_LAZY=0 HEAPTRACE_OUTPUT="$work/h.heap" LD_PRELOAD="$lib" exec "$progs/grow"; }
read -r -t 10 _ _ <&"${H[0]}"
gone "$temp"
check $? "the collector removes it when it starts"
exec {H[1]}>&-
wait "$H_PID"
# the temporary names of writers that may be alive stay
start_of() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
rand=${temp##*-}
if [[ $temp =~ ^\.killed\.txt\.ht-tmp-$wpid-[0-9]+-[A-Za-z0-9]{6}$ ]]; then
	pass "a temporary name says who writes it: .NAME.ht-tmp-PID-START-RANDOM"
else
	fail "a temporary name says who writes it: .NAME.ht-tmp-PID-START-RANDOM"
	echo "#   got '$temp'"
fi
mine=".x.heap.ht-tmp-$$-$(start_of $$)-$rand"
reused=".y.heap.ht-tmp-$$-$(( $(start_of $$) + 1 ))-$rand"
cp stale.copy "$mine"
cp stale.copy "$reused"
cp stale.copy ".z.heap.XXXX-$wpid-1-$rand"
ln -s final.heap ".l.heap.ht-tmp-$wpid-1-$rand"
"$report" -o other.txt final.heap
[ -f "$mine" ]
check $? "a live writer's temporary file stays"
[ ! -e "$reused" ]
check $? "one whose pid now names another process (a later start) goes"
[ -f ".z.heap.XXXX-$wpid-1-$rand" ] && [ -L ".l.heap.ht-tmp-$wpid-1-$rand" ] && [ -f final.heap ]
check $? "other names, and symbolic links, stay"
rm -f "$mine" ".z.heap.XXXX-$wpid-1-$rand" ".l.heap.ht-tmp-$wpid-1-$rand"

# --- names from the traced program are data --------------------------------
evil=$'evil\e[31m\nname'
arg=$'\e]0;pwned\a'
cp "$progs/grow" "./$evil"
coproc E { HEAPTRACE_RATE=1 LD_PRELOAD="$lib" exec "./$evil" "$arg"; }
read -r -t 10 _ epid <&"${E[0]}"
echo "grow 10" >&"${E[1]}"; read -r -t 10 _ _ <&"${E[0]}"
"$dump" "$epid" >e.dump.out 2>&1
is "$(cat e.dump.out)" "heaptrace.evil__31m_name.$epid.0001.heap" "heaptrace-dump: the default name has only safe characters"
"$dump" --stats "$epid" >e.stats 2>&1
no_ctl e.stats "heaptrace-dump --stats: no control byte"
grep -qF 'evil\x1b[31m\x0aname' e.stats
check $? "heaptrace-dump --stats: the name escaped"
"$dump" --list >e.list 2>&1
no_ctl e.list "heaptrace-dump --list: no control byte"
grep -qE "^ *$epid .*/evil\\\\x1b\\[31m\\\\x0aname$" e.list
check $? "heaptrace-dump --list: the name escaped on its row"
exec {E[1]}>&-
wait "$E_PID"
final="heaptrace.evil__31m_name.$epid.heap"
valid "$final" "the final snapshot under a safe default name"
"$report" --verbose "$final" >e.report 2>&1
no_ctl e.report "heaptrace-report: no control byte"
"$report" "$final" >e.compact 2>&1
no_ctl e.compact "heaptrace-report, compact header: no control byte"
grep -qF '(evil\x1b[31m\x0aname, pid ' e.compact
check $? "heaptrace-report, compact header: the executable's name escaped"
grep -qF "Exe: $work/evil\\x1b[31m\\x0aname" e.report
check $? "heaptrace-report: the executable escaped"
grep -qF 'Command: ./evil\x1b[31m\x0aname \x1b]0;pwned\x07' e.report
check $? "heaptrace-report: the command line escaped"
"$report" --format stats "$final" >e.rstats 2>&1
no_ctl e.rstats "heaptrace-report --format stats: no control byte"
"$hdiff" --series "$final" "$final" >e.series 2>&1
no_ctl e.series "heaptrace-diff --series: no control byte"
HEAPTRACE_RATE=1 "$launcher" "./$evil" "$arg" </dev/null >/dev/null 2>e.launch
no_ctl e.launch "the launcher: no control byte"
grep -q "snapshot written to heaptrace\.evil__31m_name\.[0-9]*\.heap" e.launch
check $? "the launcher names the snapshot"
# a library's path is the program's data too: a plugin named with escapes,
# its frames left unnamed (stripped) so that the module's name shows
cat >plug.c <<'EOF'
void *malloc(unsigned long);
static __attribute__((noinline)) void *inner(unsigned long n)
{
	void *p = malloc(n);
	__asm__ volatile("" ::: "memory");
	return p;
}
void *plugin_work(unsigned long n) { return inner(n); }
EOF
plug=$'evil-plug\e[2J\n.so'
cc -shared -fPIC -O1 -s -o "$work/$plug" plug.c
HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=plug.heap LD_PRELOAD="$lib" "$progs/hostile_dlopen" 1 1000 "$work/$plug" >/dev/null
valid plug.heap "a plugin with escapes in its name"
"$report" --format heap_v2 plug.heap >e.v2 2>&1
no_ctl e.v2 "heaptrace-report --format heap_v2: no control byte in the mapped libraries"
grep -qF 'evil-plug\x1b[2J\x0a.so' e.v2
check $? "heaptrace-report --format heap_v2: the library's path escaped"
"$report" --addresses --top 0 plug.heap >e.addr 2>&1
no_ctl e.addr "heaptrace-report: an unnamed frame in that plugin shows no control byte"
grep -qF 'evil-plug?[2J?.so+0x' e.addr
check $? "heaptrace-report: and is named by its module, controls as '?'"
"$report" $'no\e[31msuch.heap' 2>e.err
no_ctl e.err "an error message quoting a file name: no control byte"
grep -qF "cannot open 'no\x1b[31msuch.heap'" e.err
check $? "the name escaped ($(cat e.err))"
"$launcher" $'no\esuch' </dev/null 2>e.nf
no_ctl e.nf "the launcher's 'command not found': no control byte"
HEAPTRACE_RATE=1 "$launcher" -o $'evil-out\e[1m.heap' "$progs/retain" </dev/null >/dev/null 2>e.out
no_ctl e.out "the launcher with a control byte in -o: no control byte"
HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT='%e.%p.heap' LD_PRELOAD="$lib" "./$evil" "$arg" </dev/null >/dev/null
bad=$(ls -A | LC_ALL=C grep -v '^evil' | LC_ALL=C grep -c '[^A-Za-z0-9._+-]')
is "$bad" 0 "no file name here holds anything but [A-Za-z0-9._+-] (%e in HEAPTRACE_OUTPUT too)"
[ "$bad" -eq 0 ] || ls -A | LC_ALL=C grep -v '^evil' | LC_ALL=C grep '[^A-Za-z0-9._+-]' | od -c | head -5 | note
ls evil__31m_name.*.heap >/dev/null 2>&1
check $? "HEAPTRACE_OUTPUT=%e.%p.heap: %e made safe"
dots=$'..\e'
cp "$progs/retain" "./$dots"
HEAPTRACE_RATE=1 LD_PRELOAD="$lib" "./$dots" >/dev/null
ls heaptrace._._.*.heap >/dev/null 2>&1
check $? "a name of dots and a control: no leading dot (heaptrace._._.PID.heap)"
long=$(printf 'a%.0s' $(seq 100))
cp "$progs/retain" "./$long"
HEAPTRACE_RATE=1 LD_PRELOAD="$lib" "./$long" >/dev/null
ls "heaptrace.${long:0:64}".[0-9]*.heap >/dev/null 2>&1
check $? "a long name: its first 64 bytes"

# --- as root, in a private mount namespace over a throwaway /dev ------------
# -o /dev/null and HEAPTRACE_OUTPUT=/dev/null leave it a device; -o
# /dev/stdout writes to the pipe; another user's symbolic link is not
# followed. Nothing here touches the machine's /dev: the namespace's
# /dev is a tmpfs holding a copy of /dev/null's node.
cat >ns.sh <<'EOF'
# prints "STATUS DESCRIPTION" lines
say() { echo "$1 $2"; }
isnull() { [ "$(stat -c '%F %t:%T' /dev/null)" = "character special file 1:3" ]; }
renull() { rm -f /dev/null; mknod -m 666 /dev/null c 1 3; }
fdev=$work/fdev
mkdir "$fdev" && mount -t tmpfs -o mode=755 heaptrace-test "$fdev" || { say 1 "a tmpfs for /dev"; exit 1; }
mknod -m 666 "$fdev/null" c 1 3 && mknod -m 666 "$fdev/zero" c 1 5 &&
	mknod -m 666 "$fdev/urandom" c 1 9 && ln -s /proc/self/fd "$fdev/fd" &&
	ln -s /proc/self/fd/0 "$fdev/stdin" && ln -s /proc/self/fd/1 "$fdev/stdout" &&
	ln -s /proc/self/fd/2 "$fdev/stderr" && mount --bind "$fdev" /dev || { say 1 "a throwaway /dev"; exit 1; }
mountpoint -q /dev && [ "$(stat -c %d /dev)" = "$(stat -c %d "$fdev")" ] && isnull
say $? "the namespace's /dev is the throwaway"
"$report" -o /dev/null final.heap; rc=$?; isnull
say $((rc | $?)) "heaptrace-report -o /dev/null as root: succeeds, /dev/null stays a device"
renull
"$hdiff" -o /dev/null base.heap final.heap; rc=$?; isnull
say $((rc | $?)) "heaptrace-diff -o /dev/null as root: succeeds, /dev/null stays a device"
renull
coproc G { HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=ns.grow.heap LD_PRELOAD="$lib" exec "$progs/grow"; }
read -r -t 10 _ gpid <&"${G[0]}"
"$dump" -o /dev/null "$gpid" >/dev/null; rc=$?; isnull
say $((rc | $?)) "heaptrace-dump -o /dev/null as root: succeeds, /dev/null stays a device"
renull
"$dump" -o /dev/stdout "$gpid" | cat >ns.dump.heap
[ "$(head -c 8 ns.dump.heap | od -An -tx1)" = "$magic" ] && "$report" ns.dump.heap >/dev/null
say $? "heaptrace-dump -o /dev/stdout into a pipe: the snapshot, and nothing else"
[ -L /dev/stdout ]
say $? "and /dev/stdout stays a link"
"$report" -o /dev/stdout final.heap | cat >ns.report.txt
cmp -s ns.report.txt report.txt && [ -L /dev/stdout ]
say $? "heaptrace-report -o /dev/stdout into a pipe: the report, and /dev/stdout stays"
exec {G[1]}>&-
wait "$G_PID"
env HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=/dev/null HEAPTRACE_INTERVAL=0 LD_PRELOAD="$lib" "$progs/retain" >/dev/null
rc=$?
isnull
say $((rc | $?)) "HEAPTRACE_OUTPUT=/dev/null as root: /dev/null stays a device"
renull
echo secret >victim.txt
ln -s victim.txt planted.txt
chown -h nobody planted.txt
"$report" -o planted.txt final.heap 2>planted.err
[ $? -eq 1 ] && [ "$(cat victim.txt)" = secret ] && [ -L planted.txt ]
say $? "root does not follow another user's symbolic link"
grep -q "cannot write 'planted.txt': " planted.err
say $? "and says so ($(cat planted.err))"
chown nobody stale.copy
cp -p stale.copy "$temp"
chown nobody "$temp"
"$report" -o other.txt final.heap
[ -f "$temp" ]
say $? "another user's stale temporary file stays"
rm -f "$temp"
EOF
if [ "$(id -u)" -ne 0 ]; then
	fail "the device and other-user cases need root (make test runs as root)"
else
	cg=/sys/fs/cgroup/pids/heaptrace-t_files-$$
	mkdir "$cg" && echo 64 >"$cg/pids.max"
	check $? "a pids cgroup for the namespace"
	export report hdiff dump lib progs work magic temp
	(echo "$BASHPID" >"$cg/cgroup.procs" && exec unshare -m bash ns.sh) >ns.results 2>ns.err
	while read -r rc desc; do check "$rc" "$desc"; done <ns.results
	is "$(wc -l <ns.results)" 11 "every case in the namespace ran"
	note ns.err
	for _ in $(seq 100); do [ -s "$cg/cgroup.procs" ] || break; sleep 0.1; done
	rmdir "$cg"
	check $? "the cgroup is removed"
	[ -c /dev/null ]
	check $? "the machine's /dev/null is untouched"
fi

done_testing
