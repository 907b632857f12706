#!/usr/bin/env bash
# heaptrace: runs a program with libheaptrace.so preloaded, waits for it,
# prints where its final snapshot is and a top-10 summary (on stderr, so the
# program's own output is untouched), and exits with the program's status
# (125 when the program succeeded but its profile is missing or empty).
usage() {
	cat <<'USAGE'
usage: heaptrace [-o FILE] [--rate N] [--depth N] [--no-children] [-q] [--] PROG [ARGS...]
       heaptrace -p PID [-o FILE] [--rate N] [--depth N] [--duration SEC] [-q]
Runs PROG traced; writes its heap profile at exit. With -p, attaches to the
running process PID instead, traces it until Ctrl-C, --duration or its end,
then writes the profile of what it allocated meanwhile and detaches.
  -o, --output FILE  final snapshot path (%p: pid, %e: executable's name)
                     default: heaptrace.EXE.PID.heap in the current directory
  -r, --rate N       mean bytes between samples (default 524288; 1 = every allocation)
  -d, --depth N      stack frames recorded at most (default 64, at most 256)
  --no-children      trace PROG only, not the programs it runs
  -p, --pid PID      attach to the running process PID (see ATTACH in heaptrace(1))
  --duration SEC     with -p: detach after SEC seconds (default: at Ctrl-C)
  -q, --quiet        print only the snapshot's path, no summary
  --version          print the version
USAGE
}

# shown STRING: STRING safe for a terminal, on one line: a backslash
# doubled, every byte but printable ASCII as \xHH (names and arguments
# are data, and may hold terminal escapes)
shown() {
	local LC_ALL=C s=$1 c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		\\) printf '\\\\' ;;
		[[:print:]]) printf '%s' "$c" ;;
		*) printf '\\x%02x' "'$c" ;;
		esac
	done
}
die() { printf 'heaptrace: %s\n' "$(shown "$*")" >&2; exit 2; }

here=$(dirname "$(readlink -f "$0")")
if [ -f "$here/../lib/heaptrace/libheaptrace.so" ]; then
	lib=$here/../lib/heaptrace/libheaptrace.so report=$here/heaptrace-report
	attach=$here/../lib/heaptrace/heaptrace-attach
elif [ -f "$here/../preload/libheaptrace.so" ]; then
	lib=$here/../preload/libheaptrace.so report=$here/../collector/heaptrace-report
	attach=$here/../collector/heaptrace-attach
else
	die "cannot find libheaptrace.so next to '$0'"
fi
lib=$(readlink -f "$lib")

output= rate= depth= quiet= only= apid= duration=
while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	--version) echo "heaptrace @HT_VERSION@"; exit 0 ;;
	-o|--output) [ $# -ge 2 ] || die "option '$1' needs a file name"; output=$2; shift 2 ;;
	--output=*) output=${1#*=}; shift ;;
	-r|--rate) [ $# -ge 2 ] || die "option '$1' needs a number"; rate=$2; shift 2 ;;
	--rate=*) rate=${1#*=}; shift ;;
	-d|--depth) [ $# -ge 2 ] || die "option '$1' needs a number"; depth=$2; shift 2 ;;
	--depth=*) depth=${1#*=}; shift ;;
	-q|--quiet) quiet=1; shift ;;
	--no-children) only=1; shift ;;
	-p|--pid) [ $# -ge 2 ] || die "option '$1' needs a process id"; apid=$2; shift 2 ;;
	--pid=*) apid=${1#*=}; shift ;;
	--duration) [ $# -ge 2 ] || die "option '$1' needs a number of seconds"; duration=$2; shift 2 ;;
	--duration=*) duration=${1#*=}; shift ;;
	--) shift; break ;;
	-*) die "unknown option '$1' (see heaptrace --help)" ;;
	*) break ;;
	esac
done
if [ -n "$apid" ]; then
	case $apid in ''|*[!0-9]*|0*) die "-p takes a process id, not '$apid'" ;; esac
	[ $# -eq 0 ] || die "-p attaches to a running process: no program to run ('$1')"
	[ -z "$only" ] || die "--no-children is for a program heaptrace runs, not with -p"
	[ -x "$attach" ] || die "cannot find heaptrace-attach next to '$0'"
elif [ -n "$duration" ]; then
	die "--duration is for -p"
fi
if [ -n "$duration" ]; then
	case $duration in ''|*[!0-9]*) die "--duration takes a whole number of seconds, not '$duration'" ;; esac
	[ "${#duration}" -le 7 ] && [ "$duration" -ge 1 ] || die "--duration must be from 1 to 9999999 seconds"
fi
[ $# -gt 0 ] || [ -n "$apid" ] || { usage >&2; exit 2; }
[ "$output" != - ] || die "-o -: the program's standard output is its own; name a file"
[ -z "$output" ] || [ -n "${output##*/}" ] || die "'$output' names a directory, not a file"
if [ -n "$rate" ]; then
	case $rate in ''|*[!0-9]*) die "--rate takes a whole number of bytes, not '$rate'" ;; esac
	[ "${#rate}" -le 13 ] && [ "$rate" -ge 1 ] && [ "$rate" -le 1099511627776 ] ||
		die "--rate must be from 1 to 1099511627776 (1 TiB)"
	export HEAPTRACE_RATE=$rate
fi
if [ -n "$depth" ]; then
	case $depth in ''|*[!0-9]*) die "--depth takes a whole number, not '$depth'" ;; esac
	[ "${#depth}" -le 3 ] && [ "$depth" -ge 1 ] && [ "$depth" -le 256 ] || die "--depth must be from 1 to 256"
	export HEAPTRACE_DEPTH=$depth
fi
if [ -n "$apid" ]; then
	prog=$(readlink "/proc/$apid/exe" 2>/dev/null) || prog=process-$apid
	set -- "$prog"
	# the process's working directory is not ours: names are made absolute
	[ -n "$output" ] || output=heaptrace.%e.%p.heap
	[ "${output#/}" != "$output" ] || output=$(pwd)/$output
else
# a program, not a shell builtin or function: it is exec'd below
prog=$(type -P -- "$1") || { printf "heaptrace: cannot run '%s': command not found\n" "$(shown "$1")" >&2; exit 127; }
[ -n "$output" ] || output=${HEAPTRACE_OUTPUT:-}
fi

# The snapshot's directory must take a new file before the program runs,
# not when it has ended and its profile would be lost. A directory named
# with %p or %e is only known to the collector, which checks it at start.
case $output in
*/*) dir=${output%/*} dir=${dir:-/} ;;
*) dir=. ;;
esac
case $dir in
*%*) ;;
*)
	why=
	if [ ! -e "$dir" ]; then why="No such file or directory"
	elif [ ! -d "$dir" ]; then why="Not a directory"
	elif ! probe=$(mktemp -p "$dir" .heaptrace-probe.XXXXXX 2>/dev/null); then
		why="cannot create a file there"
		[ -w "$dir" ] || why="Permission denied"
	else
		rm -f -- "$probe"
	fi
	[ -z "$why" ] || die "cannot write the snapshot in directory '$dir': $why"
	;;
esac

# running PID: PID is a live process (not a zombie)
running() {
	local st
	read -r _ _ st _ 2>/dev/null <"/proc/$1/stat" || return 1
	[ "$st" != Z ] && [ "$st" != X ]
}
# -p: attaches to $apid (heaptrace-attach loads the shim into it, which
# starts a collector as at a start, with our settings), waits for Ctrl-C,
# the duration or the process's end, then stops tracing: the collector
# writes the final snapshot, and the records below say where, as for a
# program run here.
attach_run() {
	local set=(HEAPTRACE_OUTPUT="$output" HEAPTRACE_REPORT_TO="$records") rc stop= end
	[ -z "$rate" ] || set+=(HEAPTRACE_RATE="$rate")
	[ -z "$depth" ] || set+=(HEAPTRACE_DEPTH="$depth")
	unset HEAPTRACE_RATE HEAPTRACE_DEPTH
	# the shim writes the records as the process's user
	[ "$(id -u)" != 0 ] || chown "$(stat -c %u "/proc/$apid" 2>/dev/null || echo 0)" "$records" 2>/dev/null
	pid=$apid
	"$attach" --shim "$lib" "$apid" "${set[@]}" | sed 's/^/heaptrace: /' >&2
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || exit "$((rc == 3 ? 1 : rc))"
	[ -n "$quiet" ] || printf 'heaptrace: tracing; Ctrl-C%s to stop and write the snapshot\n' \
		"${duration:+ or $duration s}" >&2
	trap 'stop=1' INT TERM HUP QUIT
	end=$((${EPOCHREALTIME/[.,]/} + ${duration:-0} * 1000000)) # microseconds
	while [ -z "$stop" ] && running "$apid"; do
		[ -z "$duration" ] || [ "${EPOCHREALTIME/[.,]/}" -lt "$end" ] || break
		sleep 0.2
	done
	trap - INT TERM HUP QUIT
	if running "$apid"; then
		"$attach" --stop --shim "$lib" "$apid" >/dev/null ||
			printf 'heaptrace: could not stop tracing process %s\n' "$apid" >&2
	fi
	status=0
}

# Each traced image of the program adds records to this file (see
# HEAPTRACE_REPORT_TO in heaptrace(1)); made before LD_PRELOAD is set, so
# that mktemp itself is not traced.
records=$(mktemp "${TMPDIR:-/tmp}/heaptrace.XXXXXX") || die "cannot create a temporary file"
trap 'rm -f -- "$records"' EXIT
if [ -n "$apid" ]; then
	attach_run
else
[ -z "$output" ] || export HEAPTRACE_OUTPUT=$output
export LD_PRELOAD=$lib${LD_PRELOAD:+:$LD_PRELOAD} HEAPTRACE_REPORT_TO=$records

# Run PROG as a child, keeping our stdin (an asynchronous command would
# otherwise get /dev/null) and the default SIGINT and SIGQUIT (it would get
# them ignored), and wait for it through any signals we get: the terminal
# sends them to PROG too, and PROG decides; TERM and HUP sent to us alone
# are passed on.
exec 3<&0
(
	trap - INT QUIT EXIT
	# HEAPTRACE_PID: only the process with this pid traces itself
	[ -z "$only" ] || export HEAPTRACE_PID=$BASHPID
	exec "$@" 0<&3 3<&-
) &
pid=$!
exec 3<&-
unset LD_PRELOAD HEAPTRACE_OUTPUT HEAPTRACE_PID HEAPTRACE_REPORT_TO
trap : INT QUIT
trap 'kill -TERM "$pid" 2>/dev/null' TERM
trap 'kill -HUP "$pid" 2>/dev/null' HUP
while :; do
	wait "$pid" 2>/dev/null
	status=$?
	kill -0 "$pid" 2>/dev/null || break
done
trap - INT QUIT TERM HUP
fi

# The records, NUL-terminated, "KIND PID COLLECTOR_PID [TEXT]": S from the
# shim of each image as it starts (in the order the images ran, so the last
# S of $pid names the final image's collector; L when the image starts
# without one, and writes its own snapshot unless it starts one later,
# with an S), then from each collector,
# in any order with its S: U (why nothing is traced), P (the peak
# snapshot), and F "exit|cut PATH" (the final snapshot) or E (why it could
# not be written). Records of other processes (the program's children) and
# of earlier images are passed over.
collector= file= state= why= note= peak= lazy=
read_records() {
	local rec kind rpid rcpid text
	local -A f=() e=() u=() p=()
	collector= lazy=
	while IFS= read -r -d '' rec; do
		kind=${rec%% *} rec=${rec#* }
		rpid=${rec%% *} rec=${rec#* }
		rcpid=${rec%% *} text=${rec#* }
		[ "$rpid" = "$pid" ] && [ -n "$rcpid" ] || continue
		case $kind in
		S) collector=$rcpid lazy= ;;
		L) collector=$rcpid lazy=1 # the image itself, until it starts one
		   unset "f[$rcpid]" "e[$rcpid]" "u[$rcpid]" "p[$rcpid]" ;;
		F) f[$rcpid]=$text ;;
		E) e[$rcpid]=${text//[[:cntrl:]]/?} ;;
		U) u[$rcpid]=${text//[[:cntrl:]]/?} ;;
		P) p[$rcpid]=$text ;;
		esac
	done <"$records"
	file= state= why= note= peak=
	[ -n "$collector" ] || return 0
	text=${f[$collector]}
	[ -z "$text" ] || state=${text%% *} file=${text#* }
	why=${e[$collector]} note=${u[$collector]} peak=${p[$collector]}
}
# After a normal exit the file is complete already (the program waited for
# it); after a crash, a kill or an exec the collector of the final image
# writes it within moments.
read_records
for _ in $(seq 1 1200); do
	[ -n "$collector" ] && [ -z "$file" ] && [ -z "$why" ] || break
	if ! running "$collector"; then
		read_records # its last words may have come as it went
		break
	fi
	sleep 0.05
	read_records
done

# is_static FILE: FILE is an ELF program with no interpreter (PT_INTERP),
# into which nothing is preloaded
is_static() {
	local b phoff phent phnum types t i
	# shellcheck disable=SC2207
	b=($(od -An -v -tu1 -N64 -- "$1" 2>/dev/null)) || return 1
	[ "${#b[@]}" -eq 64 ] && [ "${b[*]:0:4}" = "127 69 76 70" ] && [ "${b[5]}" = 1 ] || return 1
	if [ "${b[4]}" = 2 ]; then
		phoff=0
		for i in 39 38 37 36 35 34 33 32; do phoff=$((phoff * 256 + b[i])); done
		phent=$((b[54] + 256 * b[55])) phnum=$((b[56] + 256 * b[57]))
	else
		phoff=$((b[28] + 256 * (b[29] + 256 * (b[30] + 256 * b[31]))))
		phent=$((b[42] + 256 * b[43])) phnum=$((b[44] + 256 * b[45]))
	fi
	[ "$phent" -ge 4 ] && [ "$phnum" -ge 1 ] || return 1
	# shellcheck disable=SC2207
	types=($(od -An -v -tu4 -j "$phoff" -N $((phent * phnum)) -- "$1" 2>/dev/null)) || return 1
	for ((i = 0; i < ${#types[@]}; i += phent / 4)); do
		t=${types[i]}
		[ "$t" = 3 ] && return 1
	done
	return 0
}

name=$(shown "${1##*/}")
failed=
# the collector names files absolutely; one in or under the current
# directory is shown as the user would name it
here=$(pwd -P)/
[ "${file#"$here"}" = "$file" ] || [ -z "${file#"$here"}" ] || file=${file#"$here"}
[ "${peak#"$here"}" = "$peak" ] || [ -z "${peak#"$here"}" ] || peak=${peak#"$here"}
if [ -n "$file" ]; then
	printf 'heaptrace: snapshot written to %s\n' "$(shown "$file")" >&2
	[ -z "$note" ] || failed="the profile of $name is empty: $note"
	if [ -z "$quiet" ]; then
		# Nothing much in use at the end (under 1% of what was allocated):
		# the answer is the peak, if it was kept, and the churn.
		inuse=$("$report" --format collapsed --top 0 --sample-index inuse_space "$file" 2>/dev/null |
			awk '{ s += $NF } END { printf "%.0f", s }')
		churn=$("$report" --format collapsed --top 0 --sample-index alloc_space "$file" 2>/dev/null |
			awk '{ s += $NF } END { printf "%.0f", s }')
		if [ -n "$churn" ] && [ "${churn:-0}" -gt 0 ] && [ "$((inuse * 100))" -lt "$churn" ]; then
			"$report" --top 10 "$file" 2>&1 | sed -n '/^Type:/q;p' >&2
			if [ -n "$peak" ] && [ -f "$peak" ]; then
				printf 'heaptrace: little is in use at the end; the peak (%s):\n' "$(shown "$peak")" >&2
				"$report" --top 10 "$peak" 2>&1 | sed -n '/^Type:/,$p' >&2
			fi
			printf 'heaptrace: little is in use at the end; what was allocated most (the churn, alloc_space):\n' >&2
			"$report" --top 10 --sample-index alloc_space "$file" 2>&1 | sed -n '/^Type:/,$p' >&2
		else
			"$report" --top 10 "$file" >&2
		fi
	fi
elif [ -n "$why" ]; then
	failed="no snapshot of $name was written: $why"
elif [ -n "$lazy" ]; then
	failed="no snapshot of $name was written: it ended (killed) before its first sampled allocation, when its collector was not started yet (HEAPTRACE_LAZY=0 starts it at once)"
elif [ -n "$collector" ]; then
	failed="no snapshot of $name was written: its collector (pid $collector) ended without one"
elif [ -u "$prog" ] || [ -g "$prog" ]; then
	failed="$(shown "$prog") is set-user-ID or set-group-ID: it runs in secure-execution mode, where nothing is preloaded; no snapshot was written"
elif is_static "$prog"; then
	failed="$(shown "$prog") is statically linked: nothing can be preloaded into it; no snapshot was written"
else
	failed="no snapshot of $name was written: the shim did not start in it (a statically linked, set-user-ID or capability-raising program, or HEAPTRACE_DISABLE)"
fi
[ -z "$failed" ] || printf 'heaptrace: %s\n' "$failed" >&2

if [ "$status" -gt 128 ] && [ "$state" != exit ]; then
	# PROG died of a signal (its snapshot, if any, says it did not exit):
	# die of the same one, so our caller sees it (without a core of our
	# own to replace PROG's)
	sig=$((status - 128))
	rm -f -- "$records"
	trap - EXIT
	ulimit -c 0 2>/dev/null
	trap - "$sig" 2>/dev/null
	kill -"$sig" $$ 2>/dev/null
fi
# the program's failure comes first; its success with no profile is ours
[ "$status" -ne 0 ] || [ -z "$failed" ] || exit 125
exit "$status"
