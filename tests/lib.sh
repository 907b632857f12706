# Shared by the end-to-end test scripts: TAP output, the paths of the built
# tools, a scratch directory (the working directory, removed at exit), and
# the untraced-versus-traced comparison. Source it, then call
# pass/fail/check/is and finally done_testing.
top=${HT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
lib=$top/preload/libheaptrace.so
bin=${HT_BIN:-$top/collector}        # where the tools are (another build: HT_BIN)
report=$bin/heaptrace-report
hdiff=$bin/heaptrace-diff
dump=$bin/heaptrace-dump
launcher=$top/scripts/heaptrace
progs=$top/tests/progs

n=0 failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check STATUS DESCRIPTION: passes when STATUS is 0
check() { if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi; }
# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then pass "$3"; else fail "$3"; echo "#   got '$1', want '$2'"; fi
}
# within GOT WANT PERCENT DESCRIPTION: |GOT-WANT| <= PERCENT% of WANT
within() {
	if awk -v g="$1" -v w="$2" -v p="$3" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= w * p / 100) }'; then
		pass "$4 ($1 vs $2)"
	else
		fail "$4"; echo "#   got $1, want $2 +- $3%"
	fi
}
# skip REASON: a test that cannot run here, counted apart by run.sh
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
note() { sed 's/^/# /' "$@"; }
# go_pprof_env: go tool pprof for a test, or one failure and the end if go
# is missing (scripts/deps.sh installs golang-go). It reads local files
# only: kept off the network and out of $HOME. Call it in $work.
go_pprof_env() {
	if ! command -v go >/dev/null 2>&1; then
		fail "go is installed (scripts/deps.sh installs golang-go)"
		done_testing
	fi
	mkdir -p home pprof gocache
	export HOME=$work/home PPROF_TMPDIR=$work/pprof GOCACHE=$work/gocache
	export GOTOOLCHAIN=local GOPROXY=off GOTELEMETRY=off GOFLAGS= PPROF_BINARY_PATH=$work/none
}
done_testing() { echo "1..$n"; [ "$failed" -eq 0 ]; exit $?; }

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2

# collector_sock PID: the control sockets (paths, one a line) listening now
# for traced process PID, from /proc/net/unix: DIR/PID-CPID.sock, where
# DIR is $XDG_RUNTIME_DIR/heaptrace or /tmp/heaptrace-UID
collector_sock() {
	awk -v p="$1" '$4 == "00010000" && $8 ~ ("/heaptrace(-[0-9]+)?/" p "-[0-9]+[.]sock$") &&
		!seen[$8]++ { print $8 }' /proc/net/unix
}

# collector_of PID: the pid of the collector serving traced process PID
# (the CPID of its socket's name), waiting up to 10 s for it to listen
collector_of() {
	local s c
	for _ in $(seq 200); do
		for s in $(collector_sock "$1"); do
			c=${s##*-}
			c=${c%.sock}
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" = heaptrace-colle ] && { echo "$c"; return 0; }
		done
		sleep 0.05
	done
	return 1
}

# traced VAR=VALUE... -- PROG ARGS: runs PROG under the shim
traced() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" LD_PRELOAD="$lib" "$@"
}

# value FILE FUNCTION INDEX: the collapsed value of stacks whose leaf is
# FUNCTION (summed), at function granularity. Prints "unreadable" when
# the report fails and "absent" when no stack of FILE ever allocated at
# FUNCTION, so that a check for 0 cannot pass on a missing profile.
value() {
	local out all
	out=$("$report" --format collapsed --functions --top 0 --sample-index "$3" "$1" 2>/dev/null) ||
		{ echo unreadable; return; }
	all=$("$report" --format collapsed --functions --top 0 --sample-index alloc_objects "$1" 2>/dev/null) ||
		{ echo unreadable; return; }
	printf '%s\n' "$all" | leaf_sum "$2" >/dev/null || { echo absent; return; }
	printf '%s\n' "$out" | leaf_sum "$2"
}

# total FILE INDEX: the sum over all stacks of FILE's sample index INDEX
total() {
	"$report" --format collapsed --top 0 --sample-index "$2" "$1" |
		awk '{ s += $NF } END { printf "%d\n", s + 0 }'
}

# stat_line FILE LABEL: the value on FILE's --stats line LABEL
stat_line() {
	"$report" --stats "$1" | awk -v l="$2" 'index($0, "  " l " ") == 1 { print $NF }'
}

# metric FILE NAME: the metric NAME of snapshot FILE, from the end of --stats
metric() {
	"$report" --stats "$1" | sed -n '/^Metrics:$/,$p' | awk -v m="$2" '$1 == m { print $2 }'
}

# root: the outer end of every stack of a dynamically linked program's
# main thread on this system (glibc 2.34 and later)
root='_start;__libc_start_main;__libc_start_call_main'

# whole FILE INDEX STACK VALUE DESCRIPTION: FILE, at function granularity
# and by INDEX, has a stack that is exactly STACK, root to leaf, with
# VALUE: a frame lost or added at either end fails
whole() {
	local out
	out=$("$report" --format collapsed --functions --top 0 --sample-index "$2" "$1" 2>&1)
	if printf '%s\n' "$out" | grep -qxF -- "$3 $4"; then
		pass "$5"
	else
		fail "$5"
		echo "#   no line '$3 $4' in:"
		printf '%s\n' "$out" | note
	fi
}

# leaf_sum FUNCTION: sums the collapsed lines on stdin whose leaf is
# FUNCTION; fails when there is none
leaf_sum() {
	awk -v f="$1" '{ v = $NF; $NF = ""; sub(/ $/, ""); n = split($0, fr, ";");
		if (fr[n] == f) { s += v; seen = 1 } } END { printf "%d\n", s + 0; exit !seen }'
}

# run NAME CMD...: CMD with stdin from $stdin (default /dev/null); its
# stdout, stderr and status go to NAME.out, NAME.err, NAME.rc. A death by
# signal is not announced on our stderr.
run() {
	local name=$1
	shift
	(
		"$@" <"${stdin:-/dev/null}" >"$name.out" 2>"$name.err"
		echo $? >"$name.rc"
	) 2>/dev/null
}

# same NAME VAR=VALUE... -- CMD...: runs CMD untraced (NAME.u.*) and
# traced (NAME.t.*), each with the VARs, and checks that the status,
# stdout and stderr are the same. $before, if set, is run before each (to
# remove a database, say). Set errlines=N when the traced run is expected
# to add N lines from heaptrace to stderr: those are then compared apart,
# in NAME.t.ht.
same() {
	local name=$1 envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	[ -z "$before" ] || eval "$before"
	run "$name.u" env "${envs[@]}" "$@"
	[ -z "$before" ] || eval "$before"
	run "$name.t" env "${envs[@]}" LD_PRELOAD="$lib" "$@"
	is "$(cat "$name.t.rc")" "$(cat "$name.u.rc")" "$name: exit status unchanged ($(cat "$name.u.rc"))"
	if cmp -s "$name.u.out" "$name.t.out"; then
		pass "$name: stdout unchanged"
	else
		fail "$name: stdout unchanged"
		diff "$name.u.out" "$name.t.out" | head -5 | note
	fi
	grep '^heaptrace' "$name.t.err" >"$name.t.ht"
	grep -v '^heaptrace' "$name.t.err" >"$name.t.rest"
	if [ "${errlines:-0}" -eq 0 ] && cmp -s "$name.u.err" "$name.t.err"; then
		pass "$name: stderr unchanged"
	elif [ "${errlines:-0}" -gt 0 ] && cmp -s "$name.u.err" "$name.t.rest"; then
		pass "$name: stderr unchanged but for heaptrace's lines"
	else
		fail "$name: stderr unchanged"
		diff "$name.u.err" "$name.t.err" | head -5 | note
	fi
}

# wait_file FILE: waits up to 10 s for FILE to appear
wait_file() {
	for _ in $(seq 200); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# no_warning FILE DESCRIPTION: heaptrace-report reads FILE (into
# FILE.txt) and warns about nothing: nothing dropped, nothing unmatched.
# An unreadable or missing snapshot fails, it does not pass for clean.
no_warning() {
	if ! "$report" "$1" >"$1.txt" 2>&1; then
		fail "$2: the report warns about nothing (no readable snapshot)"
		head -3 "$1.txt" | note
	elif grep -q 'warning' "$1.txt"; then
		fail "$2: the report warns about nothing"
		grep 'warning' "$1.txt" | note
	else
		pass "$2: the report warns about nothing"
	fi
}

# gone PID: waits up to 10 s for process PID to end; an empty or
# malformed PID is an error, never "gone"
gone() {
	case $1 in ''|*[!0-9]*) echo "# gone: bad pid '$1'"; return 2 ;; esac
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

# valid FILE DESCRIPTION: FILE appears (a collector may still be writing
# it) and heaptrace-report reads it (into FILE.txt)
valid() {
	wait_file "$1"
	"$report" "$1" >"$1.txt" 2>&1
	local rc=$?
	check $rc "$2: a valid snapshot"
	[ $rc -eq 0 ] || head -3 "$1.txt" | note
}
