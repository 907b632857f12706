# Shared by the end-to-end test scripts: TAP output, the paths of the built
# tools, and a scratch directory removed at exit. Source it, then call
# pass/fail/check/is and finally done.
top=${HT_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
lib=$top/preload/libheaptrace.so
report=$top/collector/heaptrace-report
hdiff=$top/collector/heaptrace-diff
dump=$top/collector/heaptrace-dump
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
note() { sed 's/^/# /' "$@"; }
done_testing() { echo "1..$n"; [ "$failed" -eq 0 ]; exit $?; }

work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 2

# traced VAR=VALUE... -- PROG ARGS: runs PROG under the shim
traced() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" LD_PRELOAD="$lib" "$@"
}

# value FILE FUNCTION INDEX: the collapsed value of stacks whose leaf is
# FUNCTION (summed), at function granularity
value() {
	"$report" --format collapsed --functions --top 0 --sample-index "$3" "$1" |
		awk -v f="$2" '{ v = $NF; $NF = ""; sub(/ $/, ""); n = split($0, fr, ";");
			if (fr[n] == f) s += v } END { printf "%d\n", s + 0 }'
}
