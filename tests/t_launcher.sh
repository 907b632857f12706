#!/usr/bin/env bash
# The launcher's promises and the shim's interposition check: a profile
# that cannot be traced says so (in one line at start, and in the
# snapshot); the launcher summarises the last image of an exec chain,
# copes with any file or program name, checks the output directory
# before the program runs, exits non-zero when the profile it promised is
# missing or empty, and summarises the churn when nothing is in use.
. "$(dirname "$0")/lib.sh"

je=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2

# in a directory of its own each: NAME/ holds what the launcher wrote
launch() { # NAME ARGS...: runs the launcher in NAME/, stdin from $stdin
	local name=$1
	shift
	rm -rf "$name" && mkdir "$name"
	(cd "$name" && run "../$name" "$launcher" "$@")
}
# one_line FILE WANT DESCRIPTION: FILE is exactly the line WANT
one_line() {
	if [ "$(wc -l <"$1")" -eq 1 ] && [ "$(cat "$1")" = "$2" ]; then
		pass "$3"
	else
		fail "$3"
		echo "#   want the one line: $2"
		note "$1"
	fi
}
# has FILE REGEX DESCRIPTION: a line of FILE matches REGEX (grep -E)
has() {
	if grep -qE -- "$2" "$1"; then pass "$3"; else fail "$3"; echo "#   no line matching: $2"; head -30 "$1" | note; fi
}

# --- item: nothing reaches the shim -------------------------------------------
# jemalloc preloaded before the shim takes every call: one line at start,
# and the snapshot (and so the report) says so
check "$([ -r "$je" ]; echo $?)" "jemalloc is installed ($je)"
run jefirst env LD_PRELOAD="$je:$lib" HEAPTRACE_OUTPUT=jefirst.heap "$progs/retain" 1
is "$(cat jefirst.rc) $(cat jefirst.out)" "0 retained 110 blocks" "jemalloc before the shim: the program runs as ever"
one_line jefirst.err "heaptrace: malloc of 'libjemalloc.so.2' comes before the shim in LD_PRELOAD: nothing is traced; put libheaptrace.so first" \
	"jemalloc before the shim: exactly one line says why nothing is traced"
valid jefirst.heap "jemalloc before the shim"
has jefirst.heap.txt "^warning: malloc of 'libjemalloc.so.2' comes before the shim in LD_PRELOAD: nothing is traced" \
	"jemalloc before the shim: the report says nothing was traced"
! grep -q 'heap in use' jefirst.heap.txt
check $? "jemalloc before the shim: the report shows no allocator figures of a malloc nobody called"
# the right order: quiet, and traced
run jeafter env LD_PRELOAD="$lib:$je" HEAPTRACE_OUTPUT=jeafter.heap HEAPTRACE_RATE=1 "$progs/retain" 1
is "$(cat jeafter.rc) $(wc -c <jeafter.err)" "0 0" "the shim before jemalloc: nothing said"
is "$(value jeafter.heap site_a inuse_objects)" 100 "the shim before jemalloc: traced (site_a keeps 100 objects)"

# a program whose executable exports a malloc of its own (chromium's do)
run own env LD_PRELOAD="$lib" HEAPTRACE_OUTPUT=own.heap "$progs/ownmalloc"
is "$(cat own.rc) $(cat own.out)" "0 own malloc: 1000" "a malloc of its own: the program runs as ever"
one_line own.err "heaptrace: 'ownmalloc' has a malloc of its own: nothing is traced (heaptrace sees the calls to a shared library's malloc, not to one built into the program)" \
	"a malloc of its own: exactly one line says why nothing is traced"
valid own.heap "a malloc of its own"
has own.heap.txt "^warning: 'ownmalloc' has a malloc of its own: nothing is traced" \
	"a malloc of its own: the report says nothing was traced"
# through the launcher: the snapshot, then the verdict, and status 125
launch lown "$progs/ownmalloc"
is "$(cat lown.rc)" 125 "launcher, a malloc of its own: status 125 (the program's was 0)"
has lown.err "^heaptrace: the profile of ownmalloc is empty: 'ownmalloc' has a malloc of its own" \
	"launcher, a malloc of its own: the last line says why the profile is empty"
# a program that takes malloc's address (python3, not PIE) is not one with
# a malloc of its own
run py env LD_PRELOAD="$lib" HEAPTRACE_OUTPUT=py.heap PYTHONMALLOC=malloc /usr/bin/python3 -c 'print(len([str(i) for i in range(1000)]))'
is "$(cat py.rc) $(cat py.out) $(wc -c <py.err)" "0 1000 0" "python3: traced, nothing said"

# --- item: the last image of an exec chain that crashes -------------------------
# sh's snapshot is written at the exec; python's (and churn's) only when
# it has crashed: the summary is of the last image. python3's collector
# starts at once: its own allocator calls malloc for little, and a program
# killed before its first sample leaves no snapshot (the lazy start)
# shellcheck disable=SC2016
HEAPTRACE_LAZY=0 launch lchain sh -c 'exec python3 -c "import os, signal; x = [str(i) for i in range(200000)]; os.kill(os.getpid(), signal.SIGSEGV)"'
is "$(cat lchain.rc)" 139 "launcher, sh exec'ing python3 that dies of SIGSEGV: the launcher dies of it too"
has lchain.err '^File: .* [(]python3[.0-9]*, pid [0-9]*[)], ' "launcher, sh exec'ing python3 that crashes: the summary is python3's"
has lchain.err '^heaptrace: snapshot written to .*heaptrace\.python3[.0-9]*\.[0-9]*\.heap$' \
	"launcher, sh exec'ing python3 that crashes: the snapshot named is python3's"
launch lchain2 sh -c "exec '$progs/churn' crash"
is "$(cat lchain2.rc) $(cat lchain2.out)" "139 churned" "launcher, sh exec'ing churn that crashes: status 139"
has lchain2.err "^File: .* [(]churn, pid [0-9]*[)], " "launcher, sh exec'ing churn that crashes: the summary is churn's"

# --- item: names with spaces and newlines ---------------------------------------
rm -rf lspace && mkdir -p "lspace/sp ace"
(cd lspace && run ../lspace "$launcher" -o "sp ace/x.heap" "$progs/retain" 1)
is "$(cat lspace.rc) $(cat lspace.out)" "0 retained 110 blocks" "launcher -o 'sp ace/x.heap': status 0"
valid "lspace/sp ace/x.heap" "launcher -o 'sp ace/x.heap'"
has lspace.err '^heaptrace: snapshot written to .*sp ace/x\.heap$' "launcher -o 'sp ace/x.heap': says where, on one line"
has lspace.err 'flat%' "launcher -o 'sp ace/x.heap': a summary"
for pn in "re tain" $'re\ntain'; do
	rm -rf lname && mkdir lname && cp "$progs/retain" "lname/$pn"
	(cd lname && run ../lname "$launcher" "./$pn" 1)
	f=$(cd lname && ls -d heaptrace.re*.heap 2>/dev/null)
	is "$(cat lname.rc) $(cat lname.out)" "0 retained 110 blocks" "launcher, a program named $(printf %q "$pn"): status 0"
	[ -n "$f" ] && "$report" "lname/$f" >lname.txt 2>&1
	check $? "launcher, a program named $(printf %q "$pn"): its snapshot ($(printf %q "$f")) is there and readable"
	is "$(grep -c '^heaptrace: snapshot written to ' lname.err) $(grep -c '^heaptrace: no snapshot' lname.err)" "1 0" \
		"launcher, a program named $(printf %q "$pn"): says where, on one line"
	has lname.err 'flat%' "launcher, a program named $(printf %q "$pn"): a summary"
done

# --- item: the output directory, checked before the program runs ----------------
t0=$(date +%s%N)
launch lnodir -o /nonexistent/x.heap sh -c 'echo ran; sleep 3'
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ "$(cat lnodir.rc)" -ne 0 ] && [ ! -s lnodir.out ] && [ "$ms" -lt 1500 ]
check $? "launcher -o /nonexistent/x.heap: fails before the program runs (status $(cat lnodir.rc), ${ms} ms)"
one_line lnodir.err "heaptrace: cannot write the snapshot in directory '/nonexistent': No such file or directory" \
	"launcher -o /nonexistent/x.heap: one clear line"
# the collector says so at start, not at exit, and only once
(env LD_PRELOAD="$lib" HEAPTRACE_OUTPUT=/nonexistent/y.heap sleep 2 2>nodir.err &)
sleep 1
has nodir.err "^heaptrace: cannot write the snapshot '/nonexistent/y.heap': directory '/nonexistent': No such file or directory" \
	"HEAPTRACE_OUTPUT=/nonexistent/y.heap: the collector says so while the program runs"
sleep 2
is "$(wc -l <nodir.err)" 1 "HEAPTRACE_OUTPUT=/nonexistent/y.heap: one line in all"
# a directory only the collector knows (%p): the launcher reports the
# missing profile after the run; the program's own failure comes first
launch lpdir -o "$work/d%p/x.heap" sh -c 'exit 0'
is "$(cat lpdir.rc)" 125 "launcher, a profile that could not be written, program status 0: status 125"
has lpdir.err "^heaptrace: no snapshot of sh was written: cannot " "launcher, a profile that could not be written: says why"
launch lpdir3 -o "$work/d%p/x.heap" sh -c 'exit 3'
is "$(cat lpdir3.rc)" 3 "launcher, a profile that could not be written, program status 3: status 3"
# a static program: nothing can be preloaded
if printf 'int main(void){return 0;}\n' >st.c && cc -static -o st st.c 2>/dev/null; then
	launch lstatic ./../st
	is "$(cat lstatic.rc)" 125 "launcher, a static program: status 125"
	has lstatic.err "statically linked" "launcher, a static program: says so"
else
	fail "cc -static builds a static program"
fi

# --- item: a summary of the churn when nothing is in use at the end -------------
launch lchurn "$progs/churn"
is "$(cat lchurn.rc) $(cat lchurn.out)" "0 churned" "launcher, churn: status 0"
has lchurn.err 'alloc_space' "launcher, churn: the summary is of what was allocated (alloc_space)"
has lchurn.err '^ *[0-9.]+[kMG]?B .* churn_site ' "launcher, churn: churn_site tops the summary"
# with a peak snapshot, it is shown too. At a 4 KiB rate retain's kept
# blocks are sampled but for a chance of e^-244: at the default rate none
# was, 1.4% of the time, and its churn alone made the end look empty
HEAPTRACE_PEAK=10 launch lpeak --rate 4096 "$progs/retain" 1
! grep -q 'the peak' lpeak.err
check $? "launcher, retain (much in use at the end): the usual summary, no peak"

done_testing
