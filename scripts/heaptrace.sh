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

die() { printf 'heaptrace: %s\n' "$*" >&2; exit 2; }

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
[ -z "$output" ] || [ -n "${output##*/}" ] || die "'$output' names a directory, not a file"
if [ -n "$rate" ]; then
	case $rate in ''|*[!0-9]*) die "--rate takes a whole number of bytes, not '$rate'" ;; esac
	[ "$rate" -ge 1 ] 2>/dev/null || die "--rate must be at least 1"
	export HEAPTRACE_RATE=$rate
fi
if [ -n "$depth" ]; then
	case $depth in ''|*[!0-9]*) die "--depth takes a whole number, not '$depth'" ;; esac
	[ "$depth" -ge 1 ] && [ "$depth" -le 256 ] 2>/dev/null || die "--depth must be from 1 to 256"
	export HEAPTRACE_DEPTH=$depth
fi
command -v -- "$1" >/dev/null 2>&1 || die "cannot run '$1': command not found"
[ -z "$output" ] || export HEAPTRACE_OUTPUT=$output
export LD_PRELOAD=$lib${LD_PRELOAD:+:$LD_PRELOAD}

# Run PROG as a child, keeping our stdin (an asynchronous command would
# otherwise get /dev/null), and wait for it through any signals we get:
# the terminal sends them to PROG too, and PROG decides.
exec 3<&0
if [ -n "$only" ]; then
	# HEAPTRACE_PID: only the process with this pid traces itself
	( export HEAPTRACE_PID=$BASHPID; exec "$@" 0<&3 3<&- ) &
else
	"$@" 0<&3 3<&- &
fi
pid=$!
exec 3<&-
unset LD_PRELOAD HEAPTRACE_OUTPUT
trap : INT QUIT TERM HUP
while :; do
	wait "$pid"
	status=$?
	kill -0 "$pid" 2>/dev/null || break
done
trap - INT QUIT TERM HUP

if [ -n "$output" ]; then
	file=${output//%%/$'\001'}
	file=${file//%p/$pid}
	exe=$(readlink -f "$(command -v -- "$1")")
	file=${file//%e/${exe##*/}}
	file=${file//$'\001'/%}
fi
# After a normal exit the file is complete already; after a crash or a
# kill the collector writes it within moments. The default name holds the
# name of the executable the process ran (a script's interpreter, say).
for _ in $(seq 1 300); do
	if [ -z "$output" ]; then
		file=$(ls -t heaptrace.*."$pid".heap 2>/dev/null | head -n 1)
		[ -n "$file" ] || file="heaptrace.${1##*/}.$pid.heap"
	fi
	[ -f "$file" ] && break
	sleep 0.1
done
if [ -f "$file" ]; then
	printf 'heaptrace: snapshot written to %s\n' "$file" >&2
	[ -n "$quiet" ] || "$report" --top 10 "$file" >&2
else
	printf 'heaptrace: no snapshot was written to %s\n' "$file" >&2
fi

if [ "$status" -gt 128 ]; then
	# PROG died of a signal: die of the same one, so our caller sees it
	sig=$((status - 128))
	trap - "$sig" 2>/dev/null
	kill -"$sig" $$ 2>/dev/null
fi
exit "$status"
