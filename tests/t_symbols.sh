#!/usr/bin/env bash
# Symbols end to end: programs built in different ways (C++ at -O2 with
# templates and inlined calls, a dlopen'ed plugin unloaded before the final
# snapshot, stripped builds, separate debug info found by .gnu_debuglink and
# by build id), traced at rate 1; their snapshots name every frame by
# function, file and line, or module+offset when there is nothing else, and
# diffs match stacks by those names. The subjects are built here, into the
# scratch directory, from tests/progs/sym/.
. "$(dirname "$0")/lib.sh"
src=$top/tests/progs/sym

# mark FILE NAME: the line of FILE that carries the comment marker @NAME
mark() { grep -n "@$2\([^a-z-]\|$\)" "$src/$1" | cut -d: -f1; }

# build DESCRIPTION COMMAND...: runs a compiler or binutils command, as a test
build() {
	local what=$1
	shift
	"$@" >build.log 2>&1
	local rc=$?
	check $rc "build: $what"
	[ $rc -eq 0 ] || note build.log
}

# collapsed SNAPSHOT [OPTIONS]: every stack, root first, by inuse_space;
# a failing report prints a line no assertion accepts
collapsed() {
	local f=$1
	shift
	"$report" --format collapsed --top 0 "$@" "$f" || echo "REPORT FAILED $?"
}

# diffed OUT OPTIONS... BASE CURRENT: heaptrace-diff into OUT; prints
# "STATUS BYTES" (0 0: it ran and printed nothing)
diffed() {
	local out=$1
	shift
	"$hdiff" "$@" >"$out"
	echo "$? $(wc -c <"$out")"
}

# val FILE STRING: the summed values of the collapsed lines of FILE holding STRING
val() { grep -F -- "$2" "$1" | awk '{ s += $NF } END { printf "%d\n", s }'; }

# has FILE STRING DESCRIPTION: FILE holds STRING
has() {
	if grep -qF -- "$2" "$1"; then pass "$3"; else fail "$3"; echo "#   no '$2' in:"; note "$1"; fi
}
# lacks FILE STRING DESCRIPTION: FILE has stacks (ends with a count), none with STRING
lacks() {
	if ! grep -q ' [0-9-]*$' "$1"; then fail "$3"; echo "#   no stacks in:"; note "$1"
	elif grep -qF -- "$2" "$1"; then fail "$3"; echo "#   '$2' in:"; note "$1"
	else pass "$3"; fi
}

# leaf FILE VALUE [K]: the K-th frame from the leaf (0: the leaf) of the
# collapsed line of FILE whose value is VALUE
leaf() {
	awk -v v="$2" -v k="${3:-0}" '$NF == v { $NF = ""; sub(/ $/, ""); n = split($0, f, ";");
		print f[n - k]; exit }' "$1"
}

# in_func BINARY FUNCTION FRAME: FRAME is "module+0xOFF" and OFF is a return
# address inside FUNCTION of BINARY (unstripped): start < OFF <= start+size
in_func() {
	local off=${3##*+0x} addr size
	read -r addr size < <(nm -S "$1" | awk -v f="$2" '$4 == f { print $1, $2; exit }')
	[ -n "$addr" ] && [[ $3 == *+0x* ]] &&
		(( 0x$off > 0x$addr && 0x$off <= 0x$addr + 0x$size ))
}

# every marker the assertions use is in its source, once
bad=
for fm in tmpl.cpp:pool-new tmpl.cpp:make-buf-malloc tmpl.cpp:fill-call tmpl.cpp:main-ints \
	tmpl.cpp:main-doubles tmpl.cpp:main-fill plugin.c:plugin-malloc host.c:host-call \
	sites.c:exported-malloc sites.c:hidden-malloc sites.c:main-exported sites.c:main-hidden; do
	[ "$(mark "${fm%%:*}" "${fm#*:}" | wc -l)" = 1 ] || bad="$bad $fm"
done
is "$bad" "" "the source markers are found"

# --- C++: templates, an inlined function, demangling -----------------------
build "C++ subject at -O2 -g" c++ -O2 -g -o tmpl "$src/tmpl.cpp"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=tmpl.heap -- ./tmpl 10 >tmpl.out
check $? "the C++ subject runs traced"
collapsed tmpl.heap >tmpl.txt
new=$(mark tmpl.cpp pool-new) mk=$(mark tmpl.cpp make-buf-malloc) fc=$(mark tmpl.cpp fill-call)
mi=$(mark tmpl.cpp main-ints) md=$(mark tmpl.cpp main-doubles) mf=$(mark tmpl.cpp main-fill)
is "$(val tmpl.txt ";main tmpl.cpp:$mi;Pool<int>::grow(unsigned long) tmpl.cpp:$new ")" 1000 \
	"class template member: main tmpl.cpp:$mi -> Pool<int>::grow(unsigned long) tmpl.cpp:$new, 1000 bytes"
is "$(val tmpl.txt ";main tmpl.cpp:$md;Pool<double>::grow(unsigned long) tmpl.cpp:$new ")" 1920 \
	"the other instance is a function of its own: Pool<double>::grow(unsigned long), 1920 bytes"
lacks tmpl.txt "operator new" \
	"a new site's leaf is the function that says new (the shim's operator new is no frame)"
has tmpl.txt "std::allocator<char> >::_M_mutate(unsigned long, unsigned long, char const*, unsigned long) 5010" \
	"libstdc++'s own new sites are its frames, demangled from its symbol table"
is "$(val tmpl.txt ";main tmpl.cpp:$mf;fill(unsigned long, int) tmpl.cpp:$fc;util::make_buf(unsigned long) tmpl.cpp:$mk ")" 3000 \
	"inlined call: util::make_buf(unsigned long) tmpl.cpp:$mk is a frame, then its caller fill at the call site tmpl.cpp:$fc"
collapsed tmpl.heap --no-demangle >tmpl-raw.txt
has tmpl-raw.txt ";main tmpl.cpp:$mi;_ZN4PoolIiE4growEm tmpl.cpp:$new " "--no-demangle: _ZN4PoolIiE4growEm"
has tmpl-raw.txt ";_Z4fillmi tmpl.cpp:$fc;_ZN4util8make_bufEm tmpl.cpp:$mk " "--no-demangle: the inlined frame's linkage name"
collapsed tmpl.heap --functions >tmpl-fn.txt
is "$(val tmpl-fn.txt ";main;fill(unsigned long, int);util::make_buf(unsigned long) ")" 3000 \
	"--functions: main;fill(unsigned long, int);util::make_buf(unsigned long)"
lacks tmpl-fn.txt "tmpl.cpp" "--functions: no file names"
whole tmpl.heap inuse_space "$root;main;fill(unsigned long, int);util::make_buf(unsigned long)" 3000 \
	"C++, inlined: the whole stack, _start to the inlined util::make_buf"
whole tmpl.heap inuse_space "$root;main;Pool<int>::grow(unsigned long)" 1000 \
	"C++: the whole stack, _start to the function that called operator new"
collapsed tmpl.heap --files >tmpl-files.txt
is "$(val tmpl-files.txt "__libc_start_call_main;$src/tmpl.cpp;$src/tmpl.cpp ")" 2920 \
	"--files: both Pool stacks are one, named by the source path"
collapsed tmpl.heap --addresses >tmpl-addr.txt
grep -E "Pool<int>::grow\(unsigned long\) tmpl\.cpp:$new 0x[0-9a-f]+ 1000$" tmpl-addr.txt >/dev/null
check $? "--addresses: the address follows function file:line"
grep -E ";fill\(unsigned long, int\) tmpl\.cpp:$fc (0x[0-9a-f]+);util::make_buf\(unsigned long\) tmpl\.cpp:$mk \1 " \
	tmpl-addr.txt >/dev/null
check $? "--addresses: an inlined frame and its caller share one return address"
"$report" --top 0 tmpl.heap >tmpl-top.txt
grep -qE "^ *2\.93kB .*  util::make_buf\(unsigned long\) tmpl\.cpp:$mk$" tmpl-top.txt
check $? "text report: the inlined function's row, flat 2.93kB, named function file:line"

# --- plugins, dlclose'd before the final snapshot -------------------------
build "plugin" cc -O2 -g -fPIC -shared -o libplugin.so "$src/plugin.c"
build "second plugin" cc -O2 -g -fPIC -shared -DSECOND -o libplugin2.so "$src/plugin.c"
build "plugin host" cc -O2 -g -o host "$src/host.c" -ldl
pm=$(mark plugin.c plugin-malloc) hc=$(mark host.c host-call)
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=plugin.heap -- ./host 20 "$work/libplugin.so" >host.out
is "$(cut -d' ' -f2 host.out)" unloaded "the host dlopens the plugin (absolute path), dlcloses it, and it is unloaded"
collapsed plugin.heap >plugin.txt
is "$(val plugin.txt ";main host.c:$hc;plugin_keep plugin.c:$pm ")" 20000 \
	"after dlclose the final snapshot names main host.c:$hc -> plugin_keep plugin.c:$pm"
whole plugin.heap inuse_space "$root;main;plugin_keep" 20000 \
	"dlclose'd plugin: the whole stack, _start to plugin_keep"
# the usual relative name: the collector must still find the file
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=plugin-rel.heap -- ./host 20 ./libplugin.so >host.out
is "$(cut -d' ' -f2 host.out)" unloaded "the host dlopens ./libplugin.so (relative path) and unloads it"
collapsed plugin-rel.heap >plugin-rel.txt
is "$(val plugin-rel.txt ";main host.c:$hc;plugin_keep plugin.c:$pm ")" 20000 \
	"relative dlopen path: the final snapshot names plugin_keep plugin.c:$pm"
# a second plugin loaded where the first was: each sample keeps its module
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=plugin2.heap -- \
	./host 5 "$work/libplugin.so" "$work/libplugin2.so" >host.out
is "$(cut -d' ' -f2 host.out | tr '\n' ' ')" "unloaded unloaded " "the host loads and unloads two plugins in turn"
[ "$(cut -d' ' -f1 host.out | uniq | wc -l)" = 1 ] ||
	echo "# note: the second plugin was not loaded where the first was; the next test proves less"
collapsed plugin2.heap >plugin2.txt
is "$(val plugin2.txt ";main host.c:$hc;plugin_keep plugin.c:$pm ")" 15000 \
	"two plugins at one address: both name plugin_keep plugin.c:$pm (5x1000 + 5x2000 bytes)"
lacks plugin2.txt "second_pad" "two plugins at one address: the first one's frames are not named from the second"

# --- no debug info: .symtab names; stripped: .dynsym, else module+offset ----
em=$(mark sites.c exported-malloc) hm=$(mark sites.c hidden-malloc)
me=$(mark sites.c main-exported) mh=$(mark sites.c main-hidden)
build "build without -g" cc -O1 -o sites-nog "$src/sites.c"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=nog.heap -- ./sites-nog 5 >/dev/null
collapsed nog.heap >nog.txt
has nog.txt ";main;hidden_alloc 10000" "no debug info: even a static function is named, from .symtab, without file:line"
has nog.txt ";main;exported_alloc 5000" "no debug info: exported_alloc from .symtab"
build "-rdynamic build" cc -O1 -g -rdynamic -o sites-rd.full "$src/sites.c"
build "strip --strip-all" strip --strip-all -o sites-rd sites-rd.full
build "plain build" cc -O1 -g -o sites-st.full "$src/sites.c"
build "strip --strip-all" strip --strip-all -o sites-st sites-st.full
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=rd.heap -- ./sites-rd 5 >/dev/null
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=st.heap -- ./sites-st 5 >/dev/null
collapsed rd.heap >rd.txt
collapsed st.heap >st.txt
has rd.txt ";main;exported_alloc 5000" "stripped, -rdynamic: exported functions named from .dynsym, without file:line"
in_func sites-rd.full hidden_alloc "$(leaf rd.txt 10000)"
check $? "stripped, -rdynamic: a static function is sites-rd+0xOFF inside hidden_alloc ($(leaf rd.txt 10000))"
in_func sites-st.full exported_alloc "$(leaf st.txt 5000)"
check $? "stripped: an exported function is sites-st+0xOFF inside exported_alloc ($(leaf st.txt 5000))"
in_func sites-st.full hidden_alloc "$(leaf st.txt 10000)"
check $? "stripped: a static function is sites-st+0xOFF inside hidden_alloc ($(leaf st.txt 10000))"
in_func sites-st.full main "$(leaf st.txt 10000 1)"
check $? "stripped: its caller is sites-st+0xOFF inside main ($(leaf st.txt 10000 1))"
lacks st.txt "sites.c" "stripped: no file:line for the program's frames"

# --- separate debug info ----------------------------------------------------
# .gnu_debuglink, the debug file next to the binary, then in .debug/
mkdir -p link
build "build with a build id" cc -O1 -g -Wl,--build-id -o link/sites "$src/sites.c"
build "objcopy --only-keep-debug" objcopy --only-keep-debug link/sites link/sites.debug
build "strip --strip-all" strip --strip-all link/sites
build "objcopy --add-gnu-debuglink" sh -c 'cd link && objcopy --add-gnu-debuglink=sites.debug sites'
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=link.heap -- link/sites 5 >/dev/null
collapsed link.heap >link.txt
is "$(val link.txt ";main sites.c:$me;exported_alloc sites.c:$em ")" 5000 \
	".gnu_debuglink, debug file next to the binary: main sites.c:$me -> exported_alloc sites.c:$em"
is "$(val link.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" 10000 \
	".gnu_debuglink: the static function hidden_alloc sites.c:$hm (the binary has no symbol table)"
mkdir -p link/.debug && mv link/sites.debug link/.debug/
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=link2.heap -- link/sites 5 >/dev/null
collapsed link2.heap >link2.txt
is "$(val link2.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" 10000 \
	".gnu_debuglink, debug file in .debug/: hidden_alloc sites.c:$hm"
# the debug file of another build under the linked name is not used
build "another build (other build id)" cc -O1 -g -DEXTRA_CODE -Wl,--build-id -o other "$src/sites.c"
build "its debug file" objcopy --only-keep-debug other link/.debug/sites.debug
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=link3.heap -- link/sites 5 >/dev/null
collapsed link3.heap >link3.txt
lacks link3.txt "sites.c" ".gnu_debuglink to another build's debug file: not used"
[[ $(leaf link3.txt 10000) == sites+0x* ]]
check $? ".gnu_debuglink to another build's debug file: module+offset ($(leaf link3.txt 10000)), no wrong name"

# the build-id directory, under a root given by HEAPTRACE_DEBUGINFO_PATH
mkdir -p bid
build "build with a build id" cc -O1 -g -Wl,--build-id -o bid/sites "$src/sites.c"
id=$(readelf -n bid/sites | awk '/Build ID:/ { print $3 }')
mkdir -p "debugroot/.build-id/${id:0:2}"
build "debug file by build id" objcopy --only-keep-debug bid/sites "debugroot/.build-id/${id:0:2}/${id:2}.debug"
build "strip --strip-all" strip --strip-all bid/sites
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=bid0.heap -- bid/sites 5 >/dev/null
collapsed bid0.heap >bid0.txt
lacks bid0.txt "hidden_alloc" "build id: not found without HEAPTRACE_DEBUGINFO_PATH"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=bid.heap HEAPTRACE_DEBUGINFO_PATH="/nonexistent:$work/debugroot" -- \
	bid/sites 5 >/dev/null
collapsed bid.heap >bid.txt
is "$(val bid.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" 10000 \
	"build id under HEAPTRACE_DEBUGINFO_PATH/.build-id: hidden_alloc sites.c:$hm"
# the binary deleted while it runs: read from its debug file alone
cp bid/sites bid/doomed
coproc D { HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=doomed.heap HEAPTRACE_DEBUGINFO_PATH="$work/debugroot" \
	LD_PRELOAD="$lib" bid/doomed 5 wait; }
read -r -t 10 _ _ <&"${D[0]}"
read -r -t 10 word _ <&"${D[0]}"
is "$word" ready "a stripped program waits"
rm bid/doomed
echo >&"${D[1]}"
wait "$D_PID"
for _ in $(seq 50); do [ -f doomed.heap ] && break; sleep 0.1; done
collapsed doomed.heap >doomed.txt
is "$(val doomed.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" 10000 \
	"its binary deleted before the final snapshot: names from the debug file found by build id"

# compressed separate debug info (as Debian's -dbg and -dbgsym packages
# ship it): read while it unpacks within HEAPTRACE_DWARF_MB, else the debug
# file's symbol table names the frames; uncompressed DWARF is always read
mkdir -p zbid
build "build with a build id" cc -O1 -g -Wl,--build-id -o zbid/sites "$src/sites.c"
id=$(readelf -n zbid/sites | awk '/Build ID:/ { print $3 }')
zdebug=zroot/.build-id/${id:0:2}/${id:2}.debug
mkdir -p "${zdebug%/*}"
build "compressed debug file by build id" \
	objcopy --only-keep-debug --compress-debug-sections=zlib zbid/sites "$zdebug"
build "strip --strip-all" strip --strip-all zbid/sites
readelf -SW "$zdebug" | grep -E ' \.debug_info .* C ' >/dev/null
check $? "the debug file's .debug_info is compressed (SHF_COMPRESSED)"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=z.heap HEAPTRACE_DEBUGINFO_PATH="$work/zroot" -- \
	zbid/sites 5 >/dev/null 2>z.err
collapsed z.heap >z.txt
is "$(val z.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" 10000 \
	"compressed DWARF within the default HEAPTRACE_DWARF_MB: hidden_alloc sites.c:$hm"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=z0.heap HEAPTRACE_DWARF_MB=0 \
	HEAPTRACE_DEBUGINFO_PATH="$work/zroot" -- zbid/sites 5 >/dev/null
collapsed z0.heap >z0.txt
is "$(val z0.txt ";main;hidden_alloc ")" 10000 \
	"HEAPTRACE_DWARF_MB=0: the static hidden_alloc named from the debug file's symbol table"
lacks z0.txt "sites.c" "HEAPTRACE_DWARF_MB=0: compressed DWARF is not read (no file:line)"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=u0.heap HEAPTRACE_DWARF_MB=0 \
	HEAPTRACE_DEBUGINFO_PATH="$work/debugroot" -- bid/sites 5 >/dev/null
collapsed u0.heap >u0.txt
is "$(val u0.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" 10000 \
	"HEAPTRACE_DWARF_MB=0: uncompressed DWARF is still read (hidden_alloc sites.c:$hm)"
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=zbad.heap HEAPTRACE_DWARF_MB=4M \
	HEAPTRACE_DEBUGINFO_PATH="$work/zroot" -- zbid/sites 5 >/dev/null 2>zbad.err
is "$(grep -c "ignoring HEAPTRACE_DWARF_MB='4M': not a whole number" zbad.err)" 1 \
	"HEAPTRACE_DWARF_MB=4M: one message"
collapsed zbad.heap >zbad.txt
is "$(val zbad.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" 10000 \
	"HEAPTRACE_DWARF_MB=4M: the default is used (file:line from the compressed DWARF)"

# --- diffs: two runs, two builds ---------------------------------------------
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=run1.heap -- ./tmpl 10 >/dev/null
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=run2.heap -- ./tmpl 10 >/dev/null
readelf -h tmpl | grep -q 'Type: *DYN'
check $? "the C++ subject is a PIE"
collapsed run1.heap --addresses >run1-addr.txt
collapsed run2.heap --addresses >run2-addr.txt
if [ "$(cat /proc/sys/kernel/randomize_va_space 2>/dev/null)" != 0 ]; then
	cmp -s run1-addr.txt run2-addr.txt
	check $((!$?)) "two runs: ASLR put the code at other addresses"
else
	skip "ASLR is turned off on this machine (kernel.randomize_va_space = 0)"
fi
is "$(diffed d-runs.txt --format collapsed run1.heap run2.heap)" "0 0" \
	"two runs of one binary: the collapsed diff is empty"
is "$(diffed d-runs-fn.txt --format collapsed --functions run1.heap run2.heap)" "0 0" \
	"two runs: empty with --functions too"
"$hdiff" run1.heap run2.heap >d-runs-text.txt
sed -n 's/^Total: base \(.*\), current \(.*\), change \(.*\)$/\1 \2 \3/p' d-runs-text.txt >totals.txt
read -r tb tc tch <totals.txt
[ -n "$tb" ] && [ "$tb" != 0 ] && [ "$tb" = "$tc" ] && [ "$tch" = 0 ]
check $? "two runs: the text diff's totals are equal, change 0 ($(cat totals.txt))"
has d-runs-text.txt "Showing nodes accounting for 0, " "two runs: the text diff has no rows"
"$hdiff" --format collapsed --addresses run1.heap run2.heap >d-runs-addr.txt
check $? "heaptrace-diff --addresses of two runs"
[ -s d-runs-addr.txt ]
check $? "two runs, --addresses: stacks do not match (as documented)"

# two builds of one source: build 2 adds code before the allocating functions
# (addresses move, lines do not), build 3 also adds lines above them
mkdir -p v1 v2 v3
build "build 1" cc -O1 -g -o v1/sites "$src/sites.c"
build "build 2: a function added, lines unchanged" cc -O1 -g -DEXTRA_CODE -o v2/sites "$src/sites.c"
# build 3: the same, with 6 lines added at the top
{ printf '/* six lines added */\nint unrelated(int x);\nint unrelated(int x)\n{\n\treturn x * 3;\n}\n'
  cat "$src/sites.c"; } >v3/sites.c
build "build 3: a function added, lines moved" cc -O1 -g -o v3/sites v3/sites.c
a1=$(nm v1/sites | awk '$3 == "hidden_alloc" { print $1 }')
a2=$(nm v2/sites | awk '$3 == "hidden_alloc" { print $1 }')
[ -n "$a1" ] && [ "$a1" != "$a2" ]
check $? "build 2 moved hidden_alloc ($a1 -> $a2)"
for v in v1 v2 v3; do traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=$v.heap -- $v/sites 5 >/dev/null; done
is "$(diffed d-v2.txt --format collapsed v1.heap v2.heap)" "0 0" \
	"two builds, code moved, lines unchanged: the diff is empty"
is "$(diffed d-v3-fn.txt --format collapsed --functions v1.heap v3.heap)" "0 0" \
	"two builds, lines moved: empty with --functions"
"$hdiff" --format collapsed v1.heap v3.heap >d-v3.txt
check $? "heaptrace-diff of builds 1 and 3"
is "$(val d-v3.txt ";main sites.c:$mh;hidden_alloc sites.c:$hm ")" -10000 \
	"two builds, lines moved, by line: the old stack leaves (sites.c:$hm -10000)"
is "$(val d-v3.txt ";main sites.c:$((mh + 6));hidden_alloc sites.c:$((hm + 6)) ")" 10000 \
	"two builds, lines moved, by line: the new one comes (sites.c:$((hm + 6)) +10000)"
is "$(awk '{ s += $NF } END { print s + 0 }' d-v3.txt)" 0 "two builds, lines moved: the changes sum to 0"

# --- a snapshot outlives its binary ---------------------------------------------
mkdir -p gone && cp tmpl gone/tmpl
traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=gone.heap -- gone/tmpl 10 >/dev/null
rm -r gone
mkdir -p elsewhere && mv gone.heap elsewhere/
collapsed elsewhere/gone.heap >gone.txt
is "$(val gone.txt ";main tmpl.cpp:$mi;Pool<int>::grow(unsigned long) tmpl.cpp:$new ")" 1000 \
	"binary deleted, snapshot moved: the report still names Pool<int>::grow(unsigned long) tmpl.cpp:$new"

# --- 100k stacks -----------------------------------------------------------------
build "110592-stack subject" cc -O1 -g -fno-optimize-sibling-calls -o many "$src/many.c"
coproc M { HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=many-final.heap LD_PRELOAD="$lib" ./many; }
read -r -t 60 word mpid nst <&"${M[0]}"
is "$word" ready "the 110592-stack subject is ready"
"$dump" -o many.heap "$mpid" >/dev/null
check $? "heaptrace-dump of it"
echo >&"${M[1]}"
wait "$M_PID"
collapsed many.heap --sample-index alloc_objects >many.txt
nstacks=$(wc -l <many.txt)
[ "$nstacks" -ge 100000 ]
check $? "the snapshot has >= 100000 stacks ($nstacks)"
is "$(grep -c ';one many.c:[0-9]*;top_[0-9]* many.c:[0-9]*;mid_[0-9]* many.c:[0-9]*;leaf_[0-9]* many.c:[0-9]* 1$' many.txt)" "$nst" \
	"every one of its $nst generated stacks is named function file:line, down to leaf_N"

done_testing
