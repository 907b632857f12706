#!/usr/bin/env bash
# heaptrace: runs a program with libheaptrace.so preloaded, waits for it,
# prints where its final snapshot is and a top-10 summary (on stderr, so the
# program's own output is untouched), and exits with the program's status.
usage() {
	cat <<'USAGE'
usage: heaptrace [-o FILE] [--rate N] [--depth N] [--no-children] [-q] [--] PROG [ARGS...]
Runs PROG traced; writes its heap profile at exit.
  -o, --output FILE  final snapshot path (%p: pid, %e: executable's name)
                     default: heaptrace.EXE.PID.heap in the current directory
  -r, --rate N       mean bytes between samples (default 524288; 1 = every allocation)
  -d, --depth N      stack frames recorded at most (default 64, at most 256)
  --no-children      trace PROG only, not the programs it runs
  -q, --quiet        print only the snapshot's path, no summary
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
elif [ -f "$here/../preload/libheaptrace.so" ]; then
	lib=$here/../preload/libheaptrace.so report=$here/../collector/heaptrace-report
else
	die "cannot find libheaptrace.so next to $0"
fi
lib=$(readlink -f "$lib")

output= rate= depth= quiet= only=
while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	-o|--output) [ $# -ge 2 ] || die "option '$1' needs a file name"; output=$2; shift 2 ;;
	--output=*) output=${1#*=}; shift ;;
	-r|--rate) [ $# -ge 2 ] || die "option '$1' needs a number"; rate=$2; shift 2 ;;
	--rate=*) rate=${1#*=}; shift ;;
	-d|--depth) [ $# -ge 2 ] || die "option '$1' needs a number"; depth=$2; shift 2 ;;
	--depth=*) depth=${1#*=}; shift ;;
	-q|--quiet) quiet=1; shift ;;
	--no-children) only=1; shift ;;
	--) shift; break ;;
	-*) die "unknown option '$1' (see heaptrace --help)" ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { usage >&2; exit 2; }
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
# a program, not a shell builtin or function: it is exec'd below
prog=$(type -P -- "$1") || { printf "heaptrace: cannot run '%s': command not found\n" "$(shown "$1")" >&2; exit 127; }
# files written since the program started are its snapshots (made before
# LD_PRELOAD is set, so that mktemp itself is not traced)
marker=$(mktemp "${TMPDIR:-/tmp}/heaptrace.XXXXXX") || die "cannot create a temporary file"
[ -n "$output" ] || output=${HEAPTRACE_OUTPUT:-}
[ -z "$output" ] || export HEAPTRACE_OUTPUT=$output
export LD_PRELOAD=$lib${LD_PRELOAD:+:$LD_PRELOAD}

# Run PROG as a child, keeping our stdin (an asynchronous command would
# otherwise get /dev/null) and the default SIGINT and SIGQUIT (it would get
# them ignored), and wait for it through any signals we get: the terminal
# sends them to PROG too, and PROG decides; TERM and HUP sent to us alone
# are passed on.
exec 3<&0
(
	trap - INT QUIT
	# HEAPTRACE_PID: only the process with this pid traces itself
	[ -z "$only" ] || export HEAPTRACE_PID=$BASHPID
	exec "$@" 0<&3 3<&-
) &
pid=$!
exec 3<&-
unset LD_PRELOAD HEAPTRACE_OUTPUT HEAPTRACE_PID
trap : INT QUIT
trap 'kill -TERM "$pid" 2>/dev/null' TERM
trap 'kill -HUP "$pid" 2>/dev/null' HUP
while :; do
	wait "$pid" 2>/dev/null
	status=$?
	kill -0 "$pid" 2>/dev/null || break
done
trap - INT QUIT TERM HUP

# The snapshot's name: %p and %e expanded as the shim does (%e, the name
# of the executable the process ran, is matched by a pattern: a script's
# is its interpreter's), and -N suffixes when a default name was taken.
if [ -n "$output" ]; then
	pattern=${output//%%/$'\001'}
	pattern=${pattern//%p/$pid}
	pattern=${pattern//%e/\*}
	pattern=${pattern//$'\001'/%}
else
	pattern="heaptrace.*.$pid.heap heaptrace.*.$pid-[0-9]*.heap"
fi
# After a normal exit the file is complete already; after a crash or a
# kill the collector writes it within moments, while its socket is there.
# Only a file written since the program started counts: not older than the
# marker (file times tick every few milliseconds, and a short program's
# snapshot is often written within the marker's tick).
sock=/tmp/heaptrace-$(id -u)/$pid.sock
file=
for i in $(seq 1 300); do
	# the socket first: the collector removes it after writing the file,
	# so a file written just before the socket went is still seen
	gone=
	[ "$i" -gt 10 ] && [ ! -S "$sock" ] && gone=1 # no collector (any more)
	# shellcheck disable=SC2086
	for f in $(ls -t -- $pattern 2>/dev/null); do
		[ -f "$f" ] && ! [ "$f" -ot "$marker" ] && { file=$f; break; }
	done
	[ -n "$file" ] && break
	[ -n "$gone" ] && break
	sleep 0.1
done
rm -f "$marker"
clean_exit=
if [ -n "$file" ]; then
	printf 'heaptrace: snapshot written to %s\n' "$(shown "$file")" >&2
	[ -n "$quiet" ] || "$report" --top 10 "$file" >&2
	"$report" --top 1 "$file" 2>/dev/null | grep -q '^State: final (the program exited)' && clean_exit=1
else
	# shellcheck disable=SC2086
	printf 'heaptrace: no snapshot was written (%s)\n' "$(shown "$(echo $pattern | cut -d' ' -f1)")" >&2
fi

if [ "$status" -gt 128 ] && [ -z "$clean_exit" ]; then
	# PROG died of a signal (its snapshot, if any, says it did not exit):
	# die of the same one, so our caller sees it (without a core of our
	# own to replace PROG's)
	sig=$((status - 128))
	ulimit -c 0 2>/dev/null
	trap - "$sig" 2>/dev/null
	kill -"$sig" $$ 2>/dev/null
fi
exit "$status"
