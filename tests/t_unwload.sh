#!/usr/bin/env bash
# libunwind is loaded when a walk first needs it (preload/unwind.c): a
# program that never samples never maps it; one that samples has it from
# its first sample on, its stacks whole and its counts exact; one that
# cannot load it runs on as untraced, says so once, and its stacks keep
# the allocation's caller, counted as cut short. A daemon that shuts
# itself in (chroot, or a mount namespace of its own) before its first
# sample has its collector started and libunwind loaded first
# (preload/lazy.c).
. "$(dirname "$0")/lib.sh"

py=/usr/bin/python3
script='x = [str(i) * 20 for i in range(200000)]
print(len(x))'

# --- a shell that allocates little: no sample, no libunwind -----------------
run sh0 env HEAPTRACE_OUTPUT="$PWD/sh0.heap" LD_PRELOAD="$lib" sh -c 'grep -c "libunwind\.so" /proc/$$/maps'
is "$(cat sh0.rc):$(cat sh0.out)" "1:0" "a shell that never samples never maps libunwind"
"$report" sh0.heap >/dev/null 2>&1
check $? "and writes its snapshot"

# --- the same at rate 1: loaded at its first sample ---------------------------
run sh1 env HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$PWD/sh1.heap" LD_PRELOAD="$lib" \
	sh -c 'grep -c "libunwind\.so" /proc/$$/maps'
[ "$(cat sh1.rc)" = 0 ] && [ "$(cat sh1.out)" -gt 0 ]
check $? "the same shell sampling every allocation has it mapped ($(cat sh1.out) mappings)"
[ "$(metric sh1.heap heaptrace.stacks_cut_short)" = 0 ] &&
	[ "$(metric sh1.heap heaptrace.stacks_walked_libunwind)" -gt 0 ]
check $? "its stacks are walked by libunwind, none cut short"

# --- python3 (no frame pointers): whole stacks once it is loaded --------------
PYTHONMALLOC=malloc "$py" -c "$script" >py.plain 2>&1
run py env PYTHONMALLOC=malloc HEAPTRACE_OUTPUT="$PWD/py.heap" LD_PRELOAD="$lib" "$py" -c "$script"
is "$(cat py.rc):$(cat py.out):$(cat py.err)" "0:$(cat py.plain):" "python3: as untraced, not a word"
is "$(metric py.heap heaptrace.stacks_cut_short)" 0 "python3: no stack cut short"
# collapsed: every stack, root first, and its value
stacks() { "$report" --format collapsed --functions --sample-index alloc_objects --hide '' --top 0 "$1"; }
stacks py.heap | grep -q '^_start;__libc_start_main;__libc_start_call_main;Py_BytesMain;Py_RunMain;.*;PyEval_EvalCode;'
check $? "python3: its stacks go from _start through the interpreter's loop"

# --- libunwind that cannot be loaded: the program runs on ---------------------
real=$(readlink -f /lib/x86_64-linux-gnu/libunwind.so.8 2>/dev/null)
if [ "$(id -u)" != 0 ] || [ ! -f "$real" ] || ! command -v unshare >/dev/null; then
	fail "hiding libunwind needs root, unshare and Debian's libunwind.so.8"
else
	run hid timeout 120 unshare -m --propagation private -- bash -c '
		mount --bind /dev/null "$1" || exit 97
		shift
		exec "$@"' _ "$real" env PYTHONMALLOC=malloc HEAPTRACE_OUTPUT="$PWD/hid.heap" \
		LD_PRELOAD="$lib" "$py" -c "$script"
	is "$(cat hid.rc):$(cat hid.out)" "0:$(cat py.plain)" "libunwind hidden: python3 runs as untraced"
	is "$(grep -c . hid.err):$(grep -c 'cannot load libunwind' hid.err)" "1:1" \
		"libunwind hidden: one line says so"
	cut=$(metric hid.heap heaptrace.stacks_cut_short)
	[ "${cut:-0}" -gt 0 ] && [ "$(metric hid.heap heaptrace.stacks_walked_libunwind)" = 0 ]
	check $? "libunwind hidden: the stacks it could not walk are counted (${cut:-none})"
	stacks hid.heap >hid.stacks
	is "$(grep -c . hid.stacks):$(grep -c ';' hid.stacks)" "$(grep -c . hid.stacks):0" \
		"libunwind hidden: each stack is the allocation's caller alone"
	[ "$(grep -c . hid.stacks)" -gt 0 ]
	check $? "libunwind hidden: and there are such stacks ($(grep -c . hid.stacks))"
	# the failed load in setlocale, which holds the locale lock: python3
	# hung there now and then (the shim read its own dlerror(), whose
	# translation took that lock for reading, and its unlock freed it)
	run loc timeout 60 unshare -m --propagation private -- bash -c '
		mount --bind /dev/null "$1" || exit 97
		shift
		exec "$@"' _ "$real" env HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT="$PWD/loc.heap" \
		LD_PRELOAD="$lib" "$progs/relocale"
	is "$(cat loc.rc):$(cat loc.out)" "0:done" \
		"libunwind hidden, its load failing inside setlocale: the program's next setlocale runs"
fi

# --- a daemon that shuts itself in before its first sample -------------------
if [ "$(id -u)" != 0 ]; then
	fail "chroot needs root"
else
	mkdir jail
	for lazy in 1 0; do
		run jail$lazy env HEAPTRACE_LAZY=$lazy HEAPTRACE_OUTPUT="$PWD/jail$lazy.heap" \
			LD_PRELOAD="$lib" "$progs/chrooted" "$PWD/jail"
		is "$(cat jail$lazy.rc):$(cat jail$lazy.out):$(cat jail$lazy.err)" "0:done:" \
			"chroot, HEAPTRACE_LAZY=$lazy: runs as untraced, not a word"
		stacks jail$lazy.heap 2>&1 | grep -q '^_start;__libc_start_main;__libc_start_call_main;main;branch;leaf [0-9]'
		check $? "chroot, HEAPTRACE_LAZY=$lazy: its snapshot, whole stacks from before and after"
		is "$(metric jail$lazy.heap heaptrace.stacks_cut_short)" 0 \
			"chroot, HEAPTRACE_LAZY=$lazy: no stack cut short"
	done
	is "$(ls -A jail)" "" "nothing written inside the jail"
	# a mount namespace of its own, where the collector's directory is
	# hidden under an empty tmpfs (the mount stays in the namespace)
	run ns env HEAPTRACE_OUTPUT="$PWD/ns.heap" LD_PRELOAD="$lib" \
		"$progs/chrooted" -u "$(dirname "$(readlink -f "$top/preload/heaptrace-collector")")"
	is "$(cat ns.rc):$(cat ns.out):$(cat ns.err)" "0:done:" \
		"unshare, the collector's directory hidden: runs as untraced, not a word"
	stacks ns.heap 2>&1 | grep -q '^_start;__libc_start_main;__libc_start_call_main;main;branch;leaf [0-9]'
	check $? "unshare, the collector's directory hidden: its snapshot, whole stacks"
	[ -x "$(readlink -f "$top/preload/heaptrace-collector")" ]
	check $? "and the collector is where it was, outside that namespace"
fi

# --- the program's dlerror(), kept ------------------------------------------
# A dlopen that fails, then a call where the shim calls the loader for
# itself (loads libunwind before a chroot, looks up the real exec or
# unshare at its first call): dlerror() still tells the program's error,
# once, as untraced.
for mode in none "chroot /" exec unshare; do
	# shellcheck disable=SC2086 # the mode and its argument
	"$progs/dlerr" $mode >dlerr.want 2>&1
	# shellcheck disable=SC2086
	HEAPTRACE_OUTPUT="$work/dlerr.heap" LD_PRELOAD="$lib" "$progs/dlerr" $mode >dlerr.got 2>&1
	grep -q '^not loaded: libheaptrace-none.so.9: cannot open' dlerr.want &&
		cmp -s dlerr.want dlerr.got
	check $? "dlerror() after '$mode': the program's error, as untraced ($(head -1 dlerr.got))"
done

done_testing
